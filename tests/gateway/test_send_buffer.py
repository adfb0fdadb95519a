"""The per-connection send buffer: bounded for turn frames, never blocking replies."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.gateway.send_buffer import BufferOverflow, SendBuffer


async def test_a_full_buffer_makes_the_producer_wait_until_the_reader_takes_a_frame() -> None:
    buffer = SendBuffer(limit=2)
    await buffer.put(b"1", turn=0)
    await buffer.put(b"2", turn=0)
    blocked = asyncio.create_task(buffer.put(b"3", turn=0))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # backpressure: the third frame waits
    assert len(buffer) == 2
    assert await buffer.get() == b"1"
    await asyncio.wait_for(blocked, 1)
    assert [await buffer.get(), await buffer.get()] == [b"2", b"3"]


async def test_replies_pass_a_full_buffer_in_order_and_are_bounded() -> None:
    buffer = SendBuffer(limit=1, reply_limit=2)
    await buffer.put(b"audio", turn=0)
    buffer.reply("error 1")
    buffer.reply("error 2")
    with pytest.raises(BufferOverflow):
        buffer.reply("error 3")
    assert [await buffer.get() for _ in range(3)] == [b"audio", "error 1", "error 2"]


async def test_dropping_a_turn_removes_only_its_frames_and_frees_room() -> None:
    buffer = SendBuffer(limit=2)
    await buffer.put(b"old", turn=0)
    buffer.reply("ack")
    await buffer.put(b"old 2", turn=0)
    assert buffer.drop_turn(0) == 2
    await asyncio.wait_for(buffer.put(b"new", turn=1), 1)
    assert [await buffer.get(), await buffer.get()] == ["ack", b"new"]


async def test_a_turns_own_events_pass_a_full_buffer_in_order_and_go_with_the_turn() -> None:
    buffer = SendBuffer(limit=1)
    await buffer.put(b"audio", turn=0)
    buffer.add("segment 1", turn=0)  # never waits, even over the limit
    buffer.add("segment 2", turn=0)
    blocked = asyncio.create_task(buffer.put(b"more audio", turn=0))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # the events count: audio waits until the client catches up
    assert buffer.drop_turn(0) == 3
    await asyncio.wait_for(blocked, 1)
    buffer.add("segment of turn 1", turn=1)
    assert [await buffer.get(), await buffer.get()] == [b"more audio", "segment of turn 1"]
