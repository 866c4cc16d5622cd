import pytest
from pydantic import ValidationError

from corral.api.schemas import ExecRequest, WorkspaceCreate


def test_defaults() -> None:
    body = WorkspaceCreate(name="agent-1")
    assert body.image == "host" and body.restart == "never" and body.env == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Upper"},
        {"name": "has space"},
        {"name": "x" * 64},
        {"name": ""},
        {"name": "ok", "memory_mib": -1},
        {"name": "ok", "cpu": 0},
        {"name": "ok", "ttl_seconds": 0},
        {"name": "ok", "ttl_seconds": 10**12},
        {"name": "ok", "env": {"1BAD": "x"}},
        {"name": "ok", "command": []},
        {"name": "ok", "restart": "sometimes"},
        {"name": "ok", "unknown_field": 1},
    ],
)
def test_rejects(bad: dict) -> None:
    with pytest.raises(ValidationError):
        WorkspaceCreate(**bad)


def test_exec_cwd_must_be_absolute() -> None:
    with pytest.raises(ValidationError):
        ExecRequest(command="ls", cwd="relative")
    assert ExecRequest(command=["ls"], cwd="/tmp").cwd == "/tmp"
