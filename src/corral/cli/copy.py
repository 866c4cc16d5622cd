"""`corral cp`: copy files and directory trees between this machine and a workspace."""

from __future__ import annotations

import posixpath
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.session import client
from corral.client import FileEntry, Files
from corral.errors import NotFound

STDIO = "-"


@dataclass(frozen=True)
class Remote:
    ref: str
    path: str


def parse_location(arg: str) -> Remote | str:
    """`REF:/abs/path` is in a workspace; anything else (`./a:b` too) is a local path or `-`."""
    ref, sep, path = arg.partition(":")
    if sep and ref and "/" not in ref and path.startswith("/"):
        return Remote(ref, path)
    return arg


def cp(
    ctx: typer.Context,
    src: Annotated[
        str, typer.Argument(metavar="SRC", help="REF:/path, a local path, or - for stdin.")
    ],
    dst: Annotated[
        str, typer.Argument(metavar="DST", help="REF:/path, a local path, or - for stdout.")
    ],
) -> None:
    """Copy files or directories into or out of a workspace."""
    source, target = parse_location(src), parse_location(dst)
    if isinstance(source, Remote) and isinstance(target, str):
        download(client(ctx).workspaces.get(source.ref).files, source.path, target)
    elif isinstance(source, str) and isinstance(target, Remote):
        upload(client(ctx).workspaces.get(target.ref).files, source, target.path)
    else:
        raise typer.BadParameter("exactly one of SRC and DST must be REF:/absolute/path")


def download(files: Files, path: str, dest: str) -> None:
    entry = files.stat(path)
    if dest == STDIO:
        if entry.is_dir:
            raise typer.BadParameter(f"{path} is a directory; it cannot go to stdout")
        sys.stdout.buffer.write(files.read(path))
        return
    local = Path(dest)
    if local.is_dir():
        local = local / posixpath.basename(path.rstrip("/"))
    _download(files, path, entry, local)


def _download(files: Files, path: str, entry: FileEntry, local: Path) -> None:
    if not entry.is_dir:
        local.write_bytes(files.read(path))
        local.chmod(entry.mode & 0o777)
        return
    local.mkdir(exist_ok=True)
    for child in files.list(path):
        child_path = posixpath.join(path, child.name)
        if child.type in ("file", "dir"):
            _download(files, child_path, child, local / child.name)
        else:
            output.print_warning(f"skipped {child_path}: a {child.type}")


def upload(files: Files, src: str, dest: str) -> None:
    if src == STDIO:
        files.write(dest, sys.stdin.buffer.read())
        return
    local = Path(src)
    local.stat()  # a missing source fails here, with the OS's own message
    if dest.endswith("/") or _is_remote_dir(files, dest):
        dest = posixpath.join(dest, local.resolve().name)
    _upload(files, local, dest)


def _upload(files: Files, local: Path, dest: str) -> None:
    if not local.is_dir():
        files.write(dest, local.read_bytes(), mode=local.stat().st_mode & 0o777)
        return
    files.mkdir(dest)
    for child in sorted(local.iterdir()):
        _upload(files, child, posixpath.join(dest, child.name))


def _is_remote_dir(files: Files, path: str) -> bool:
    try:
        return files.stat(path).is_dir
    except NotFound:
        return False
