"""E2B compatibility, pure parts: paths, metadata queries, sandbox access tokens."""

from __future__ import annotations

import stat
import urllib.parse
from pathlib import Path

import pytest

from corral.compat.e2b.access import SandboxTokens
from corral.compat.e2b.control import parse_metadata
from corral.compat.e2b.envd.sandbox import resolve_path
from corral.compat.e2b.envd.watch import changes
from corral.errors import InvalidSpec


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        ("", "/root"),
        ("notes.txt", "/root/notes.txt"),
        ("~/a/../b", "/root/b"),
        ("~", "/root"),
        ("/tmp//x/", "/tmp/x"),
    ],
)
def test_paths_resolve_like_envd(path: str, resolved: str) -> None:
    assert resolve_path(path) == resolved


def test_another_users_home_is_refused() -> None:
    with pytest.raises(InvalidSpec):
        resolve_path("~bob/x")


def test_metadata_query_as_the_sdk_encodes_it() -> None:
    wanted = {"user": "a b&c", "k=1": "ü"}
    quoted = {urllib.parse.quote(k): urllib.parse.quote(v) for k, v in wanted.items()}
    assert parse_metadata(urllib.parse.urlencode(quoted)) == wanted
    assert parse_metadata(None) == {}


def test_tokens_are_per_sandbox_and_survive_a_restart(tmp_path: Path) -> None:
    secret = tmp_path / "tokens.key"
    tokens = SandboxTokens(secret)
    token = tokens.issue("abc")
    assert tokens.verify("abc", token)
    assert not tokens.verify("abd", token)
    assert not tokens.verify("abc", token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert SandboxTokens(secret).verify("abc", token)  # same secret after a restart
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert not SandboxTokens(tmp_path / "other.key").verify("abc", token)


def test_watch_changes_between_snapshots() -> None:
    before = {"a": ("file", 1, 0o644, 1.0), "b": ("file", 1, 0o644, 1.0),
              "c": ("file", 1, 0o644, 1.0), "d": ("dir", 0, 0o755, 1.0)}  # fmt: skip
    after = {"a": ("file", 2, 0o644, 2.0), "c": ("file", 1, 0o600, 1.0),
             "d": ("file", 0, 0o644, 1.0), "e": ("dir", 0, 0o755, 3.0)}  # fmt: skip
    before["f"], after["f"] = ("dir", 4096, 0o755, 1.0), ("dir", 8192, 0o755, 2.0)
    assert [(e.name, e.type.name) for e in changes(before, after)] == [
        ("a", "WRITE"), ("b", "REMOVE"), ("c", "CHMOD"), ("d", "REMOVE"), ("d", "CREATE"),
        ("e", "CREATE"),
    ]  # fmt: skip
    assert changes(after, after) == []
