"""A caller that only writes: when the service ends the stream, sending fails instead of hanging."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import PollyPipelineError, WriteTimeout
from polly_pipeline.local.service import LocalPollyService
from tests.conftest import TEST_TIMEOUTS


async def test_sending_into_a_stream_the_service_ended_fails_within_the_write_deadline(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    # The local service ends a stream that got no input for 1 s (Polly: 5 s). The caller never
    # reads the output, so nothing tells it; its events pile up behind a closed exchange.
    async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_text("Hello there. ")
        record = local_polly.streams[-1]
        async with asyncio.timeout(10):  # the service has ended it (its thread: poll the record)
            while record.outcome == "open":  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert record.outcome == "ServiceQuotaExceededException"  # the idle limit
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        try:
            async with asyncio.timeout(TEST_TIMEOUTS.write + 10):
                for _ in range(200):
                    await stream.send_text("More words, never read. ")
                    sent += 1
        except PollyPipelineError as exc:
            failed_after = loop.time() - started
            error: PollyPipelineError | None = exc
        else:
            error = None
        assert error is not None, f"{sent} events accepted by a stream the service had ended"
        # no later than the write deadline, and the error says what happened
        assert failed_after <= TEST_TIMEOUTS.write + 1.0
        assert isinstance(error, WriteTimeout)
        assert "read its output" in str(error)
        # the stream stays failed: the next send raises at once
        with pytest.raises(WriteTimeout) as again:
            await asyncio.wait_for(stream.send_text("Again."), 1.0)
        assert again.value is error
