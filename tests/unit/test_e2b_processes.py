"""How an exec's end reads in envd's terms. The process table itself (launcher line, pid,
stdin, fan-out, kill) runs against the real daemon in tests/integration/test_e2b.py."""

from __future__ import annotations

import pytest

from corral.compat.e2b.envd.processes import Ended, ended
from corral.drivers.runtime.base import ExecExit


@pytest.mark.parametrize(
    ("result", "signalled", "expected"),
    [
        (ExecExit(0, False, 1), None, Ended(0, True, "exit status 0", None)),
        (ExecExit(137, False, 1), None, Ended(137, True, "exit status 137", "exit status 137")),
        (ExecExit(137, False, 1), 9, Ended(-1, False, "signal: killed", "signal: killed")),
        (ExecExit(143, False, 1), 15, Ended(-1, False, "signal: terminated", "signal: terminated")),
        (ExecExit(137, True, 1), None, Ended(-1, False, "signal: killed", "signal: killed")),
    ],
)
def test_end_events_read_like_envd(
    result: ExecExit, signalled: int | None, expected: Ended
) -> None:
    assert ended(result, signalled) == expected
