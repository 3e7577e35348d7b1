"""The queue serves chats in turn: one chat's many notes never hold up another's."""

from __future__ import annotations

from notes.queue import FairQueue, Job


async def test_chats_take_turns_whatever_order_they_asked_in() -> None:
    queue = FairQueue()
    for n in range(4):
        await queue.put(Job(1, f"a{n}", "summary"))
    await queue.put(Job(2, "b0", "summary"))
    await queue.put(Job(3, "c0", "todo"))
    await queue.put(Job(2, "b1", "summary"))
    order = [(await queue.get()).session_id for _ in range(7)]
    assert order == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]
    assert len(queue) == 0


async def test_a_chat_whose_note_is_being_written_waits_behind_the_others() -> None:
    queue = FairQueue()
    await queue.put(Job(1, "a0", "summary"))
    assert (await queue.get()).session_id == "a0"  # being written
    await queue.put(Job(1, "a1", "todo"))
    await queue.put(Job(2, "b0", "summary"))
    assert [(await queue.get()).session_id for _ in range(2)] == ["b0", "a1"]
