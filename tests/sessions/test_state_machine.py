"""Every cell of the contract's transition table, allowed and refused."""

from __future__ import annotations

import itertools

import pytest

from sessions import FileSessionManager, InvalidStateError, SessionState
from sessions.state_machine import ALLOWED_TRANSITIONS, can_transition, is_terminal

S = SessionState
CONTRACT_TABLE = {
    S.COLLECTING: {S.TRANSCRIBING, S.ERROR},
    S.TRANSCRIBING: {S.TRANSCRIBED, S.ERROR},
    S.TRANSCRIBED: {S.PROCESSING, S.ERROR},
    S.PROCESSING: {S.PROCESSED, S.ERROR},
    S.PROCESSED: set(),
    S.ERROR: set(),
}
# The shortest way from COLLECTING to each state, through allowed transitions.
PATH_TO = {
    S.COLLECTING: [],
    S.TRANSCRIBING: [S.TRANSCRIBING],
    S.TRANSCRIBED: [S.TRANSCRIBING, S.TRANSCRIBED],
    S.PROCESSING: [S.TRANSCRIBING, S.TRANSCRIBED, S.PROCESSING],
    S.PROCESSED: [S.TRANSCRIBING, S.TRANSCRIBED, S.PROCESSING, S.PROCESSED],
    S.ERROR: [S.ERROR],
}


def test_table_is_exactly_the_contracts() -> None:
    assert {k: set(v) for k, v in ALLOWED_TRANSITIONS.items()} == CONTRACT_TABLE
    assert {s for s in S if is_terminal(s)} == {S.PROCESSED, S.ERROR}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
async def test_every_cell_through_the_manager(
    manager: FileSessionManager, current: SessionState, new: SessionState
) -> None:
    session = await manager.create_session(chat_id=1)
    for step in PATH_TO[current]:
        await manager.transition_state(session.session_id, step)
    before = manager.get_session_path(session.session_id).joinpath("metadata.json").read_bytes()

    if new in CONTRACT_TABLE[current]:
        assert can_transition(current, new)
        moved = await manager.transition_state(session.session_id, new)
        assert moved.state is new
        stored = await manager.get_session(session.session_id)
        assert stored is not None
        assert stored.state is new
    else:
        assert not can_transition(current, new)
        with pytest.raises(InvalidStateError):
            await manager.transition_state(session.session_id, new)
        after = manager.get_session_path(session.session_id).joinpath("metadata.json")
        assert after.read_bytes() == before  # refused means nothing changed
