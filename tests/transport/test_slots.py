"""The slot interface between the pool, its connections and their streams (no network)."""

from __future__ import annotations

from polly_pipeline.transport.config import Endpoint
from polly_pipeline.transport.connection import Connection


async def test_a_retired_connection_closes_once_only_abandoned_streams_are_left() -> None:
    changes: list[Connection] = []
    conn = Connection(1, Endpoint("localhost", 443), dedicated=False, on_change=changes.append)
    conn.reserve()
    conn.reserve()
    conn.abandon()  # one stream given up on, one still in use
    assert not conn.only_abandoned_left
    conn.retire()
    assert not conn.closed  # the live stream keeps it open
    conn.release(abandoned=False)  # the live stream completed
    assert conn.only_abandoned_left
    conn.close_if_done()
    assert conn.closed  # never connected, so closing is immediate
    assert changes == [conn]
    conn.release(abandoned=True)
    assert (conn.active, conn.abandoned) == (0, 0)
