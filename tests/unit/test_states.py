import pytest

from corral.engine.states import TRANSITIONS, Action, State, can, next_state
from corral.errors import Conflict


def test_every_state_but_destroyed_can_be_destroyed() -> None:
    for state in State:
        assert can(state, Action.DESTROY) == (state != State.DESTROYED)


def test_pause_resume_cycle() -> None:
    assert next_state(State.RUNNING, Action.PAUSE) == State.PAUSED
    assert next_state(State.PAUSED, Action.RESUME) == State.RUNNING


@pytest.mark.parametrize(
    ("state", "action", "hint"),
    [
        (State.PAUSED, Action.PAUSE, "resume it first"),
        (State.STOPPED, Action.PAUSE, "start it first"),
        (State.RUNNING, Action.RESUME, "already running"),
        (State.DESTROYED, Action.START, "create a new one"),
    ],
)
def test_invalid_transition_says_why(state: State, action: Action, hint: str) -> None:
    with pytest.raises(Conflict) as err:
        next_state(state, action)
    assert state.value in err.value.message
    assert err.value.hint is not None and hint in err.value.hint


def test_destroyed_is_terminal() -> None:
    assert not [key for key in TRANSITIONS if key[0] == State.DESTROYED]
