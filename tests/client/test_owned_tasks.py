"""The one-shot ``start_speech_synthesis_stream`` sends beside the audio in a task of its own: it
ends with the call, also when the caller stops reading early, and a refusal comes out as its
own exception."""

from __future__ import annotations

import asyncio

import pytest

from polly_pipeline.errors import ValidationException
from polly_pipeline.local import LocalPollyService
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.testing import virtual_clock
from tests.conftest import TEST_TIMEOUTS

LONG = "A sentence for the sender to send. " * 40


@virtual_clock
async def test_stopping_early_leaves_no_sender_behind() -> None:
    before = asyncio.all_tasks()
    async with memory_client(LocalPollyService(), timeouts=TEST_TIMEOUTS) as client:
        audio = client.start_speech_synthesis_stream(
            text=LONG, voice_id="Joanna", output_format="pcm"
        )
        assert await anext(audio)
        await audio.aclose()
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set()


@virtual_clock
async def test_a_refused_text_raises_the_service_error_itself() -> None:
    async with memory_client(LocalPollyService(), timeouts=TEST_TIMEOUTS) as client:
        with pytest.raises(ValidationException):
            async for _ in client.start_speech_synthesis_stream(
                text="<speak><unclosed></speak>", voice_id="Joanna", text_type="ssml"
            ):
                pass
