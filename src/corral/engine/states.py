"""The workspace state machine: every allowed transition lives in this one table.

An action asked of a workspace in a state where the table has no entry is a `Conflict`
whose message says what state the workspace is in and what would make the action possible.
"""

from __future__ import annotations

from enum import StrEnum

from corral.errors import Conflict


class State(StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    FAILED = "failed"


class Action(StrEnum):
    START = "start"
    STOP = "stop"
    PAUSE = "pause"
    RESUME = "resume"
    DESTROY = "destroy"
    # Driven by the engine itself, never by a caller.
    CREATED = "created"
    CRASH = "crash"
    RESTART = "restart"
    DESTROYED = "destroyed"
    FAIL = "fail"


TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.CREATING, Action.CREATED): State.RUNNING,
    (State.CREATING, Action.FAIL): State.FAILED,
    (State.CREATING, Action.DESTROY): State.DESTROYING,
    (State.RUNNING, Action.STOP): State.STOPPED,
    (State.RUNNING, Action.PAUSE): State.PAUSED,
    (State.RUNNING, Action.DESTROY): State.DESTROYING,
    (State.RUNNING, Action.CRASH): State.STOPPED,
    (State.RUNNING, Action.RESTART): State.RUNNING,
    (State.RUNNING, Action.FAIL): State.FAILED,
    (State.PAUSED, Action.RESUME): State.RUNNING,
    (State.PAUSED, Action.STOP): State.STOPPED,
    (State.PAUSED, Action.DESTROY): State.DESTROYING,
    (State.PAUSED, Action.CRASH): State.STOPPED,
    (State.STOPPED, Action.START): State.RUNNING,
    (State.STOPPED, Action.RESTART): State.RUNNING,
    (State.STOPPED, Action.DESTROY): State.DESTROYING,
    (State.STOPPED, Action.FAIL): State.FAILED,
    (State.FAILED, Action.START): State.RUNNING,
    (State.FAILED, Action.DESTROY): State.DESTROYING,
    (State.DESTROYING, Action.DESTROY): State.DESTROYING,
    (State.DESTROYING, Action.DESTROYED): State.DESTROYED,
}

# What a caller can do to get out of a state, used to make a refusal say how to proceed.
_HINTS: dict[State, str] = {
    State.CREATING: "wait until it is running",
    State.RUNNING: "it is already running",
    State.PAUSED: "resume it first",
    State.STOPPED: "start it first",
    State.DESTROYING: "it is being destroyed",
    State.DESTROYED: "it has been destroyed; create a new one",
    State.FAILED: "start it again or destroy it",
}


def state_hint(state: State) -> str:
    return _HINTS[state]


def next_state(state: State, action: Action) -> State:
    """The state `action` leads to from `state`, or a Conflict saying why it cannot."""
    try:
        return TRANSITIONS[(state, action)]
    except KeyError:
        raise Conflict(
            f"cannot {action.value} a workspace that is {state.value}", hint=_HINTS[state]
        ) from None


def can(state: State, action: Action) -> bool:
    return (state, action) in TRANSITIONS
