"""The fixtures as a plugin author meets them: a separate test project, no conftest needed."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

PROJECT_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
timeout = 60
"""

END_TO_END = '''
from polly_pipeline import SpeechSession
from polly_pipeline.errors import LLMError
from polly_pipeline.pipeline import Pipeline
from polly_pipeline.sinks import MemorySink
import pytest


class CountingSink(MemorySink):
    """A plugin author's sink."""


async def test_pipeline_with_the_fake_model(local_polly, fake_llm):
    fake_llm.script("A plugin test. It speaks two sentences.", tokens_per_second=500)
    sink = CountingSink()
    async with local_polly.client() as client:
        async with SpeechSession(client, voice_id="Joanna", output_format="pcm") as session:
            report = await Pipeline(session).run(fake_llm.source("Hi there"), sink)
    assert report.characters_in == len("A plugin test. It speaks two sentences.")
    assert sink.duration_seconds() > 1.0
    assert [r.last_user_text for r in fake_llm.requests] == ["Hi there"]


async def test_the_real_openai_client(fake_llm):
    fake_llm.script(["to", "ken", "s."])
    async with fake_llm.client() as llm:
        stream = await llm.chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "q"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "tokens."
    assert fake_llm.requests[0].model == "my-model"


async def test_a_scripted_failure(fake_llm):
    fake_llm.script(["a ", "b ", "c "], fail_after_tokens=1)
    with pytest.raises(LLMError):
        async for _ in fake_llm.source("q"):
            pass
'''


def test_fixtures_work_in_a_separate_project(pytester: pytest.Pytester) -> None:
    pytester.makeini(PROJECT_INI)
    pytester.makepyfile(test_my_plugin=END_TO_END)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=3)


def test_a_project_can_override_the_service_config(pytester: pytest.Pytester) -> None:
    pytester.makeini(PROJECT_INI)
    pytester.makeconftest(
        """
import pytest
from polly_pipeline.local.config import LocalServiceConfig


@pytest.fixture
def local_polly_config():
    return LocalServiceConfig(inbound_event_timeout=0.5)
"""
    )
    pytester.makepyfile(
        test_config="""
async def test_config_reaches_the_service(local_polly, fake_llm):
    assert local_polly.config.inbound_event_timeout == 0.5
    async for _ in fake_llm.source("q"):
        pass
    assert len(fake_llm.requests) == 1
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)


def test_a_client_left_open_is_reported_by_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini(PROJECT_INI)
    pytester.makepyfile(
        test_leak="""
async def test_forgets_to_close(fake_llm):
    llm = fake_llm.client()
    assert llm.base_url.host == "127.0.0.1"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*1 openai client(s) from fake_llm.client() were not closed*"])


def test_the_fixtures_are_listed_with_their_docs(pytester: pytest.Pytester) -> None:
    pytester.makeini(PROJECT_INI)
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider", timeout=60)
    result.stdout.fnmatch_lines(
        [
            "*local_polly_config*",
            "*local_polly*",
            "*fake_llm*",
            "*scripted streaming model*",
        ],
        consecutive=False,
    )


ISOLATION = """
import os

import botocore.session


def test_no_aws_settings_reach_the_test(no_ambient_aws):
    assert not [k for k in os.environ if k.startswith("AWS_") and k not in (
        "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED")]
    assert botocore.session.Session().get_credentials() is None
"""


def test_no_ambient_aws_hides_the_developers_credentials(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "developer-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "https://example.invalid")
    pytester.makeini(PROJECT_INI)
    pytester.makepyfile(ISOLATION)
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=1)
