"""Sources read from the demo LLM through the real ``openai`` client over verified TLS."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import openai
import pytest

from polly_pipeline.local.config import DemoLLMConfig, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService

FIRST_TOKEN_DELAY = 0.3
TOKENS_PER_SECOND = 1000.0


@pytest.fixture
def local_polly_config() -> LocalServiceConfig:
    """A demo LLM fast enough for tests, slow enough to see the pacing."""
    return LocalServiceConfig(
        demo_llm=DemoLLMConfig(
            first_token_delay=FIRST_TOKEN_DELAY, tokens_per_second=TOKENS_PER_SECOND
        )
    )


def demo_client(service: LocalPollyService, **kwargs: object) -> openai.AsyncOpenAI:
    """The openai client pointed at the local demo LLM, trusting the service's CA."""
    tls = ssl.create_default_context(cafile=str(service.ca_file))
    options: dict[str, object] = {
        "base_url": service.endpoint_url + "/v1",
        "api_key": "local",
        "max_retries": 0,
        **kwargs,
    }
    return openai.AsyncOpenAI(
        http_client=openai.DefaultAsyncHttpxClient(verify=tls),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def llm(local_polly: LocalPollyService) -> AsyncIterator[openai.AsyncOpenAI]:
    """A client for the demo LLM, closed after the test."""
    async with demo_client(local_polly) as client:
        yield client
