"""The corral SDK inside workspaces that have API access.

A workspace created with `api_access=true` gets `CORRAL_URL` and its own `CORRAL_TOKEN`;
with this, `python3 -c "import corral; corral.Client()"` also works inside it with no
arguments and no install: the daemon's own corral package and its pure-Python and
CPython-3.11 dependencies are bound read-only at /opt/corral and put on PYTHONPATH.
(On the `host` image the workspace's python3 is the host's, so the ABI matches.)
"""

from __future__ import annotations

from pathlib import Path

import httpx

import corral
from corral.drivers.runtime.base import Mount

SDK_DIR = "/opt/corral/sdk"
DEPS_DIR = "/opt/corral/deps"


def _dirs() -> tuple[str, str]:
    sdk = str(Path(corral.__file__).resolve().parent.parent)
    deps = str(Path(httpx.__file__).resolve().parent.parent)
    return sdk, deps


def sdk_mounts() -> tuple[Mount, ...]:
    sdk, deps = _dirs()
    if sdk == deps:
        return (Mount(sdk, SDK_DIR),)
    return (Mount(sdk, SDK_DIR), Mount(deps, DEPS_DIR))


def sdk_env() -> dict[str, str]:
    sdk, deps = _dirs()
    return {"PYTHONPATH": SDK_DIR if sdk == deps else f"{SDK_DIR}:{DEPS_DIR}"}
