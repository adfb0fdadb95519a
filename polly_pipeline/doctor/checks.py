"""Entry-point layer: the doctor's checks, one function per step of a first contact with Polly.

Each check returns a :class:`Check`: what was found (a figure where there is one) and, when it
fails, the fix in one sentence. Checks run in order and a failed one stops those that need it
(no signed request without credentials), so the first failure is the one to fix.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import PollyPipelineError, ServiceException
from polly_pipeline.protocol.credentials import Credentials

__all__ = [
    "STREAM_REGIONS",
    "Check",
    "Target",
    "check_clock",
    "check_concurrency",
    "check_connection",
    "check_keepalive",
    "check_stream",
    "check_voice",
]

#: Regions known to offer StartSpeechSynthesisStream.
STREAM_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-1",
    "eu-west-2",
    "ca-central-1",
)
#: How far a signature's date may be from the service's clock before it is refused.
MAX_SKEW = 300.0
#: Deadline of each network step of a check.
STEP_TIMEOUT = 15.0

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        name: the check (``credentials``, ``region``, ``tls``, ...).
        status: ``pass``, ``fail``, or ``skip`` (an earlier failure makes it pointless).
        summary: what was found, in a few words.
        figure: the measured value, if the check measures one (``"42 ms"``).
        fix: on failure, what to change.
    """

    name: str
    status: Status
    summary: str
    figure: str | None = None
    fix: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The check as JSON-ready members."""
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "figure": self.figure,
            "fix": self.fix,
        }


@dataclass
class Target:
    """Where the checks go and with what: filled in by the first checks."""

    region: str
    endpoint_url: str
    voice: str
    credentials: Credentials
    ca_file: str | None = None
    profile: str | None = None
    make_client: Callable[[], PollyStreamingClient] | None = None
    #: figures later checks reuse (clock skew, round-trip time)
    facts: dict[str, float] = field(default_factory=dict)

    def client(self) -> PollyStreamingClient:
        """A new streaming client for the target (closed by the caller)."""
        if self.make_client is not None:
            return self.make_client()
        return PollyStreamingClient(
            region=self.region,
            endpoint_url=self.endpoint_url,
            credentials=self.credentials,
            ca_file=self.ca_file,
        )


def ms(seconds: float) -> str:
    """``0.0423`` -> ``"42 ms"``."""
    return f"{seconds * 1000:.0f} ms"


# -- the connection: TLS, round trip, the service's clock -------------------------------------


def _probe(url: str, ca_file: str | None) -> tuple[float, float, str | None]:
    """Connect with verified TLS and send one unsigned request: (connect s, round trip s, Date)."""
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, timeout=STEP_TIMEOUT, context=context
    )
    try:
        started = time.perf_counter()
        conn.connect()
        connected = time.perf_counter()
        conn.request("GET", "/v1/voices", headers={"user-agent": "polly-pipeline-doctor"})
        response = conn.getresponse()
        response.read()
        answered = time.perf_counter()
        return connected - started, answered - connected, response.getheader("date")
    finally:
        conn.close()


async def check_connection(target: Target) -> Check:
    """TLS to the endpoint verifies, and how long a round trip takes."""
    try:
        connect, rtt, date = await asyncio.to_thread(_probe, target.endpoint_url, target.ca_file)
    except ssl.SSLCertVerificationError as exc:
        return Check(
            "tls",
            "fail",
            f"the certificate of {target.endpoint_url} does not verify ({exc.verify_message})",
            fix="trust the endpoint's CA with --ca-file (or AWS_CA_BUNDLE); TLS is never "
            "turned off",
        )
    except (OSError, http.client.HTTPException) as exc:
        return Check(
            "tls",
            "fail",
            f"cannot reach {target.endpoint_url}: {exc}",
            fix="check the region / --endpoint-url, and that this machine can reach it "
            "(proxy, firewall)",
        )
    target.facts["rtt"] = rtt
    if date:
        target.facts["server_time"] = parsedate_to_datetime(date).timestamp()
        target.facts["local_time"] = datetime.now(UTC).timestamp() - rtt / 2
    return Check(
        "tls",
        "pass",
        f"TLS verified to {urlsplit(target.endpoint_url).hostname}; connect {ms(connect)}",
        figure=f"round trip {ms(rtt)}",
    )


def check_clock(target: Target) -> Check:
    """This machine's clock against the service's ``Date`` header."""
    if "server_time" not in target.facts:
        return Check("clock", "skip", "the service sent no Date header to compare with")
    skew = target.facts["local_time"] - target.facts["server_time"]
    target.facts["skew"] = skew
    figure = f"{skew:+.0f} s"
    if abs(skew) >= MAX_SKEW:
        return Check(
            "clock",
            "fail",
            f"this machine's clock is {abs(skew):.0f} s {'ahead' if skew > 0 else 'behind'}",
            figure=figure,
            fix="set the clock (e.g. `timedatectl set-ntp true`): signatures more than 5 "
            "minutes off are refused",
        )
    return Check("clock", "pass", "within a few seconds of the service's", figure=figure)


# -- the voice -------------------------------------------------------------------------------


def _describe_voices(target: Target) -> list[dict[str, Any]]:
    import botocore.config  # noqa: PLC0415  (slow to import)
    import botocore.session  # noqa: PLC0415

    creds = target.credentials
    polly = botocore.session.get_session().create_client(
        "polly",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token,
        verify=target.ca_file or True,
        config=botocore.config.Config(
            connect_timeout=STEP_TIMEOUT, read_timeout=STEP_TIMEOUT, retries={"max_attempts": 1}
        ),
    )
    voices: list[dict[str, Any]] = polly.describe_voices()["Voices"]
    return voices


def auth_fix(code: str, message: str) -> str:
    """What to change for an authentication error the service answered."""
    if code == "UnrecognizedClientException" or "security token" in message.lower():
        return (
            "the service does not know this access key id: check AWS_ACCESS_KEY_ID or the "
            "profile's aws_access_key_id (and the session token for temporary credentials)"
        )
    if "expired" in message.lower() or "not yet current" in message.lower():
        return "set this machine's clock (e.g. `timedatectl set-ntp true`)"
    return (
        "the secret access key does not match the key id: check AWS_SECRET_ACCESS_KEY or "
        "the profile's aws_secret_access_key"
    )


async def check_voice(target: Target) -> Check:
    """The voice exists and speaks with the generative engine (a signed DescribeVoices)."""
    import botocore.exceptions  # noqa: PLC0415

    try:
        voices = await asyncio.to_thread(_describe_voices, target)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", ""))
        return Check(
            "signature",
            "fail",
            f"DescribeVoices refused: {code}: {message}",
            fix=auth_fix(code, message),
        )
    except botocore.exceptions.BotoCoreError as exc:
        return Check("signature", "fail", f"DescribeVoices failed: {exc}", fix=str(exc))
    by_id = {v["Id"]: v for v in voices}
    voice = by_id.get(target.voice)
    generative = [v for v in voices if "generative" in v.get("SupportedEngines", ())]
    if voice is None:
        some = ", ".join(sorted(v["Id"] for v in generative)[:8])
        return Check(
            "voice",
            "fail",
            f"no voice {target.voice!r} in {target.region}",
            fix=f"choose a voice with --voice; generative voices here include {some}",
        )
    if "generative" not in voice.get("SupportedEngines", ()):
        same = sorted(v["Id"] for v in generative if v["LanguageCode"] == voice["LanguageCode"])
        others = ", ".join(same) if same else "none in this language"
        return Check(
            "voice",
            "fail",
            f"{target.voice} ({voice['LanguageCode']}) has no generative engine, which the "
            "bidirectional stream needs",
            fix=f"use a generative {voice['LanguageCode']} voice: {others}",
        )
    return Check(
        "voice",
        "pass",
        f"{target.voice} ({voice['LanguageCode']}) speaks with the generative engine; "
        f"signature accepted",
        figure=f"{len(generative)} generative voices",
    )


# -- the stream ------------------------------------------------------------------------------

_SENTENCE = "Hello from polly-pipeline doctor."


def stream_fix(exc: BaseException, region: str) -> str:
    """What to change when the stream could not be opened."""
    text = str(exc)
    if isinstance(exc, ServiceException) and (
        exc.status == 404 or "UnknownOperation" in text or "UnknownOperation" in exc.error_code
    ):
        elsewhere = ", ".join(r for r in STREAM_REGIONS if r != region)
        return (
            f"{region} does not offer bidirectional streaming (StartSpeechSynthesisStream); "
            f"these do: {elsewhere}; pass --region"
        )
    if isinstance(exc, ServiceException) and exc.status in (401, 403):
        return auth_fix(exc.error_code, text)
    return "see the error above; run with -v for the request details"


async def check_stream(target: Target) -> Check:
    """A stream opens and a short sentence comes back as audio: time to first audio."""
    client = target.client()
    try:
        started = time.perf_counter()
        first = None
        size = 0
        async with asyncio.timeout(STEP_TIMEOUT):
            async for chunk in client.start_speech_synthesis_stream(
                text=_SENTENCE, voice_id=target.voice, output_format="pcm"
            ):
                if first is None and chunk:
                    first = time.perf_counter() - started
                size += len(chunk)
    except (PollyPipelineError, TimeoutError) as exc:
        return Check(
            "stream",
            "fail",
            f"StartSpeechSynthesisStream failed: {exc}",
            fix=stream_fix(exc, target.region),
        )
    finally:
        await client.aclose()
    if first is None or not size:
        return Check(
            "stream",
            "fail",
            "the stream closed without audio",
            fix="report this: the service accepted the text but sent no audio",
        )
    return Check(
        "stream",
        "pass",
        f"a short sentence came back as {size / 32000:.1f} s of audio",
        figure=f"first audio {ms(first)}",
    )


async def check_keepalive(target: Target, idle: float) -> Check:
    """A warm stream survives ``idle`` seconds without text, kept alive by the session."""
    from polly_pipeline.session import SpeechSession, StreamOpened  # noqa: PLC0415

    opened: list[StreamOpened] = []

    def on_event(event: object) -> None:
        if isinstance(event, StreamOpened):
            opened.append(event)

    client = target.client()
    try:
        async with asyncio.timeout(idle + 2 * STEP_TIMEOUT):
            async with SpeechSession(client, voice_id=target.voice, on_event=on_event) as session:
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
        return Check(
            "keepalive",
            "fail",
            f"a turn after {idle:.0f} s idle failed: {exc}",
            fix=stream_fix(exc, target.region),
        )
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
        f"a stream idle for {idle:.0f} s stayed open and spoke the next turn",
        figure=f"keep-alive every {session.keepalive_interval:.0f} s",
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


def first_failure(checks: Sequence[Check]) -> Check | None:
    """The first failed check, if any."""
    return next((c for c in checks if c.status == "fail"), None)
