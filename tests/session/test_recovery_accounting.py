"""What a turn reports after it recovered from a failed stream: the resent characters.

The service's own records (the texts each stream received) are the reference; the session
reaches the service's handler through the in-memory transport.
"""

from __future__ import annotations

import asyncio

from polly_pipeline.local.config import Fault
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.session.events import RetryPolicy, StreamRetry
from polly_pipeline.session.session import SpeechSession
from tests.conftest import TEST_TIMEOUTS
from tests.session.recording import service_with_faults

TEXTS = [f"Sentence number {i} is long enough to take a while to say. " for i in range(4)]


async def test_characters_resent_are_those_the_new_stream_received_again() -> None:
    svc = service_with_faults(Fault("reset", "mid_stream", after_audio_events=1))
    async with (
        memory_client(svc, timeouts=TEST_TIMEOUTS) as client,
        SpeechSession(
            client, voice_id="Joanna", retry=RetryPolicy(base_delay=0.01), seed=1
        ) as session,
    ):
        turn = await session.begin_turn()
        for text in TEXTS:
            await turn.send(text, flush=True)
        await turn.finish()
        chunks = [chunk async for chunk in turn.audio()]
        await asyncio.sleep(0)
    assert chunks
    retries = [e for e in session.history if isinstance(e, StreamRetry)]
    assert len(retries) == 1
    failed = svc.streams[0]
    assert failed.fault is not None
    received = [t for t in failed.texts if t]
    resent = "".join(TEXTS[retries[0].resume_segment : len(received)])
    assert resent, "the failed stream's audio covered everything it received"
    assert turn.metrics.characters_resent == len(resent)
    assert turn.metrics.characters_sent == len("".join(TEXTS))
