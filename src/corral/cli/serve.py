"""`corral serve`: run the daemon in the foreground."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from corral.config import Settings


class RuntimeChoice(StrEnum):
    AUTO = "auto"
    CRUN = "crun"
    RUNC = "runc"


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the database, keys and disks live.")
    ] = None,
    runtime: Annotated[RuntimeChoice | None, typer.Option(help="OCI runtime to use.")] = None,
    warm_pool: Annotated[
        str | None, typer.Option(help='Warm pools, "image=size,..." (e.g. host=4); "" for none.')
    ] = None,
    stop_on_exit: Annotated[
        bool, typer.Option(help="Stop every workspace on shutdown (default: leave them running).")
    ] = False,
) -> None:
    """Run the corral daemon (flags override $CORRAL_* variables)."""
    # Imported here: the daemon pulls in the server stack, which no other verb needs.
    from corral import daemon

    defaults = Settings()
    settings = dataclasses.replace(
        defaults,
        host=host or defaults.host,
        port=port or defaults.port,
        state_dir=state_dir or defaults.state_dir,
        runtime=runtime.value if runtime else defaults.runtime,
        warm_pool=warm_pool if warm_pool is not None else defaults.warm_pool,
        stop_workspaces_on_exit=stop_on_exit or defaults.stop_workspaces_on_exit,
    )
    daemon.serve(settings)
