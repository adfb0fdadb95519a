"""Entry-point layer: the doctor's stream checks: first audio, an idle stream kept alive, and
how many streams one connection carries."""

from __future__ import annotations

import asyncio
import time

from polly_pipeline.audio import duration_seconds, resolve_sample_rate
from polly_pipeline.doctor.check import STEP_TIMEOUT, Check, Target, ms
from polly_pipeline.doctor.fixes import stream_fix
from polly_pipeline.errors import PollyPipelineError

__all__ = ["check_concurrency", "check_keepalive", "check_stream"]

_SENTENCE = "Hello from polly-pipeline doctor."
#: The stream check asks for pcm at the format's default rate (16 kHz).
_RATE = resolve_sample_rate("pcm")


def _failed(name: str, what: str, exc: BaseException, target: Target) -> Check:
    """The failed check ``name``: ``what`` happened, the error, and its fix."""
    return Check(name, "fail", f"{what}: {exc}", fix=stream_fix(exc, target.region))


async def check_stream(target: Target) -> Check:
    """A stream opens and a short sentence comes back as audio: time to first audio."""
    client = target.client()
    try:
        started = time.perf_counter()
        first = None
        audio = bytearray()
        async with asyncio.timeout(STEP_TIMEOUT):
            async for chunk in client.start_speech_synthesis_stream(
                text=_SENTENCE, voice_id=target.voice, output_format="pcm", sample_rate=_RATE
            ):
                if first is None and chunk:
                    first = time.perf_counter() - started
                audio += chunk
    except (PollyPipelineError, TimeoutError) as exc:
        return _failed("stream", "StartSpeechSynthesisStream failed", exc, target)
    finally:
        await client.aclose()
    if first is None or not audio:
        return Check(
            "stream",
            "fail",
            "the stream closed without audio",
            fix="report this: the service accepted the text but sent no audio",
        )
    return Check(
        "stream",
        "pass",
        f"a short sentence came back as {duration_seconds(bytes(audio), _RATE):.1f} s of audio",
        figure=f"first audio {ms(first)}",
    )


async def check_keepalive(target: Target, idle: float) -> Check:
    """A warm stream survives ``idle`` seconds without text, kept alive by the session.

    A service that refuses an empty TextEvent makes the session switch to a space for its later
    streams (the refused spare is reopened once): the idle wait is then judged a second time,
    with the space.
    """
    from polly_pipeline.session import SpeechSession, StreamOpened  # noqa: PLC0415

    opened: list[StreamOpened] = []

    def on_event(event: object) -> None:
        if isinstance(event, StreamOpened):
            opened.append(event)

    client = target.client()
    try:
        async with asyncio.timeout(2 * idle + 2 * STEP_TIMEOUT):
            async with SpeechSession(client, voice_id=target.voice, on_event=on_event) as session:
                warm = len(opened)
                await asyncio.sleep(idle)
                if session.keepalive_text:  # switched to a space: judge the idle wait again
                    warm = len(opened)
                    await asyncio.sleep(idle)
                reopened = len(opened) - warm
                turn = await session.begin_turn()
                await turn.send(_SENTENCE, flush=True)
                await turn.finish()
                async for _ in turn.audio():
                    pass
                metrics = await turn.wait()
    except (PollyPipelineError, TimeoutError) as exc:
        return _failed("keepalive", f"a turn after {idle:g} s idle failed", exc, target)
    finally:
        await client.aclose()
    if reopened or metrics.retries:
        return Check(
            "keepalive",
            "fail",
            f"the idle stream was lost ({reopened} reopened, {metrics.retries} retries)",
            fix="report this with -v output: the service closed a stream the session kept alive",
        )
    return Check(
        "keepalive",
        "pass",
        f"a stream idle for {idle:g} s stayed open and spoke the next turn",
        figure=f"keep-alive every {session.keepalive_interval:.0f} s"
        + (" (a space: the service refused empty text)" if session.keepalive_text else ""),
    )


async def check_concurrency(target: Target, streams: int = 4) -> Check:
    """How many streams one connection carries: ``streams`` at once, connections counted."""
    client = target.client()

    async def one() -> None:
        async for _ in client.start_speech_synthesis_stream(
            text="One.", voice_id=target.voice, output_format="pcm"
        ):
            pass

    try:
        async with asyncio.timeout(STEP_TIMEOUT):
            await asyncio.gather(*(one() for _ in range(streams)))
        connections = client.pool.stats().connections_created
    except (PollyPipelineError, TimeoutError) as exc:
        return Check(
            "concurrency",
            "fail",
            f"{streams} streams at once failed: {exc}",
            fix="a quota may limit concurrent streams: ask for more, or open fewer at once",
        )
    finally:
        await client.aclose()
    per = max(1, streams // max(1, connections))
    how = "one stream per connection" if per == 1 else f"up to {per} streams per connection"
    return Check(
        "concurrency",
        "pass",
        f"{streams} streams at once on {connections} connection(s): {how}",
        figure=f"{streams} streams",
    )
