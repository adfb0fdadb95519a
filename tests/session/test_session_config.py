"""A session refuses timings that cannot work, naming the parameter and what to use instead.

With ``seconds_per_character=0`` a turn whose stream failed judged every segment heard and
resumed past all of them: the turn "completed" silently without its text. A NaN pacing held
the text forever, a NaN keep-alive interval flooded the stream with keep-alives, and an
interval at or past Polly's 5 s inbound timeout (or a stream age past its 10 minutes) let the
service end the streams.
"""

from __future__ import annotations

import math

import pytest

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.in_memory import memory_client
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session import RetryPolicy, SpeechSession
from polly_pipeline.session.ledger import POLLY_IDLE_TIMEOUT, POLLY_MAX_STREAM_SECONDS

NOT_SECONDS = [0, -1.0, math.nan, math.inf, -math.inf]


@pytest.fixture(scope="module")
def service() -> LocalPollyService:
    return LocalPollyService()


@pytest.mark.parametrize("value", NOT_SECONDS)
@pytest.mark.parametrize(
    "name", ["keepalive_interval", "max_stream_age", "seconds_per_character", "pacing"]
)
async def test_a_timing_that_is_no_positive_finite_number_is_refused_by_name(
    service: LocalPollyService, name: str, value: float
) -> None:
    async with memory_client(service) as client:
        with pytest.raises(ConfigurationError, match=rf"^{name}\b.*> 0"):
            SpeechSession(client, voice_id="Joanna", **{name: value})


@pytest.mark.parametrize(
    ("name", "value", "limit"),
    [
        ("keepalive_interval", POLLY_IDLE_TIMEOUT, "less than 5"),
        ("keepalive_interval", 30.0, "less than 5"),
        ("max_stream_age", POLLY_MAX_STREAM_SECONDS + 1, "at most 600"),
    ],
)
async def test_a_timing_past_the_services_limits_is_refused_with_the_limit(
    service: LocalPollyService, name: str, value: float, limit: str
) -> None:
    async with memory_client(service) as client:
        with pytest.raises(ConfigurationError, match=rf"^{name}=.*{limit}"):
            SpeechSession(client, voice_id="Joanna", **{name: value})


async def test_timings_within_the_limits_are_taken(service: LocalPollyService) -> None:
    async with memory_client(service) as client:
        session = SpeechSession(
            client,
            voice_id="Joanna",
            keepalive_interval=POLLY_IDLE_TIMEOUT - 0.5,
            max_stream_age=POLLY_MAX_STREAM_SECONDS,
            seconds_per_character=0.01,
            pacing=None,
        )
        assert session.keepalive_interval == POLLY_IDLE_TIMEOUT - 0.5


@pytest.mark.parametrize("name", ["base_delay", "max_delay", "max_throttle_wait"])
def test_a_retry_delay_that_is_nan_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"RetryPolicy.{name}"):
        RetryPolicy(**{name: math.nan})
