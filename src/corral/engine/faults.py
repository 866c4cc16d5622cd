"""Fault injection for crash-safety tests.

With `CORRAL_FAULT=<point>` in its environment the daemon kills itself (SIGKILL, like a
power cut or `kill -9`) when it reaches that point, so a test can crash it between any two
steps of an operation and check that the reconciler converges afterwards. Unset, a point
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "create.recorded", "create.storage", "create.network", "create.runtime",
    "destroy.recorded", "destroy.runtime", "destroy.network",
    "pause.runtime", "resume.runtime", "stop.runtime",
)  # fmt: skip


def point(name: str) -> None:
    if os.environ.get("CORRAL_FAULT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
