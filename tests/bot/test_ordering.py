"""ChatOrdering: per-chat turns for updates that are handled concurrently."""

from __future__ import annotations

import asyncio

from bot.updates.ordering import ChatOrdering, Ticket

SETTLE = 0.02


async def waiting(ordering: ChatOrdering, ticket: Ticket) -> asyncio.Task[None]:
    """Start waiting for ``ticket``'s turn and let the loop run a little."""
    task = asyncio.create_task(ordering.wait_turn(ticket))
    await asyncio.sleep(SETTLE)
    return task


async def test_first_ticket_goes_at_once() -> None:
    ordering = ChatOrdering()
    ticket = ordering.issue(1, 10, exclusive=False)
    await asyncio.wait_for(ordering.wait_turn(ticket), 0.5)
    command = ChatOrdering().issue(1, 10, exclusive=True)
    await asyncio.wait_for(ChatOrdering().wait_turn(command), 0.5)


async def test_shared_tickets_proceed_once_earlier_ones_admit() -> None:
    ordering = ChatOrdering()
    first = ordering.issue(1, 10, exclusive=False)
    second = ordering.issue(1, 11, exclusive=False)
    third = ordering.issue(1, 12, exclusive=False)
    await ordering.wait_turn(first)
    waiting_second = await waiting(ordering, second)
    waiting_third = await waiting(ordering, third)
    assert not waiting_second.done()
    assert not waiting_third.done()

    first.admit()  # first took its number; it is still downloading (not finished)
    await asyncio.wait_for(waiting_second, 0.5)
    await asyncio.sleep(SETTLE)
    assert not waiting_third.done()  # second has not admitted yet

    second.admit()
    await asyncio.wait_for(waiting_third, 0.5)
    # All three run in parallel now: none of them has finished.
    assert not first.finished.is_set()
    assert not second.finished.is_set()


async def test_finish_also_admits() -> None:
    ordering = ChatOrdering()
    first = ordering.issue(1, 10, exclusive=False)
    second = ordering.issue(1, 11, exclusive=False)
    task = await waiting(ordering, second)
    assert not task.done()
    ordering.finish(first)  # e.g. a refused note that never admitted
    await asyncio.wait_for(task, 0.5)


async def test_exclusive_waits_for_earlier_ones_to_finish() -> None:
    ordering = ChatOrdering()
    note = ordering.issue(1, 10, exclusive=False)
    done = ordering.issue(1, 11, exclusive=True)
    task = await waiting(ordering, done)
    note.admit()
    await asyncio.sleep(SETTLE)
    assert not task.done()  # admitted is not enough: /done must see the note stored
    ordering.finish(note)
    await asyncio.wait_for(task, 0.5)


async def test_later_tickets_wait_for_an_exclusive_one() -> None:
    ordering = ChatOrdering()
    start = ordering.issue(1, 10, exclusive=True)
    note = ordering.issue(1, 11, exclusive=False)
    command = ordering.issue(1, 12, exclusive=True)
    await ordering.wait_turn(start)
    note_task = await waiting(ordering, note)
    command_task = await waiting(ordering, command)

    start.admit()  # no effect on an exclusive ticket
    await asyncio.sleep(SETTLE)
    assert not start.admitted.is_set()
    assert not note_task.done()
    assert not command_task.done()

    ordering.finish(start)
    await asyncio.wait_for(note_task, 0.5)
    note.admit()
    await asyncio.sleep(SETTLE)
    assert not command_task.done()  # the command needs the note finished
    ordering.finish(note)
    await asyncio.wait_for(command_task, 0.5)


async def test_different_chats_do_not_block_each_other() -> None:
    ordering = ChatOrdering()
    busy = ordering.issue(1, 10, exclusive=True)
    held = ordering.issue(1, 11, exclusive=False)
    other_note = ordering.issue(2, 12, exclusive=False)
    other_command = ordering.issue(2, 13, exclusive=True)
    await ordering.wait_turn(busy)
    held_task = await waiting(ordering, held)
    await asyncio.wait_for(ordering.wait_turn(other_note), 0.5)
    ordering.finish(other_note)
    await asyncio.wait_for(ordering.wait_turn(other_command), 0.5)
    assert not held_task.done()
    ordering.finish(busy)
    await asyncio.wait_for(held_task, 0.5)


async def test_finish_is_idempotent_and_empties_the_queue() -> None:
    ordering = ChatOrdering()
    first = ordering.issue(1, 10, exclusive=True)
    second = ordering.issue(1, 11, exclusive=True)
    ordering.finish(first)
    ordering.finish(first)
    await asyncio.wait_for(ordering.wait_turn(second), 0.5)
    ordering.finish(second)
    ordering.finish(second)
    assert first.finished.is_set()
    assert first.admitted.is_set()
    assert ordering._queues == {}
    # A later ticket of the same chat is not held back by anything.
    third = ordering.issue(1, 12, exclusive=True)
    await asyncio.wait_for(ordering.wait_turn(third), 0.5)


async def test_ticket_without_chat_never_waits() -> None:
    ordering = ChatOrdering()
    ordering.issue(None, 9, exclusive=True)  # unfinished, and no chat either
    blocker = ordering.issue(1, 10, exclusive=True)
    for exclusive in (False, True):
        ticket = ordering.issue(None, 11, exclusive=exclusive)
        await asyncio.wait_for(ordering.wait_turn(ticket), 0.5)
        ordering.finish(ticket)
        assert ticket.finished.is_set()
    assert not blocker.finished.is_set()
    assert list(ordering._queues) == [1]
