"""SigV4 request signing and the event-signature chain: vectors, botocore cross-checks, failures."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import struct
from collections.abc import Callable, Iterator, Sequence
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.eventstream import EventStreamBuffer

from polly_pipeline.errors import SignatureError
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.eventstream import (
    EventStreamDecoder,
    Header,
    HeaderType,
    Message,
    decode_message,
    encode_message,
)
from polly_pipeline.protocol.sigv4 import (
    STREAMING_PAYLOAD,
    Authorization,
    EventSigner,
    EventVerifier,
    VerifiedRequest,
    derive_signing_key,
    parse_authorization,
    sign_request,
    verify_request,
)

UTC = datetime.UTC
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN//////////wEaDEXAMPLE"
CREDS = Credentials(ACCESS_KEY, SECRET_KEY)
TEMP_CREDS = Credentials(ACCESS_KEY, SECRET_KEY, TOKEN)
NOW = datetime.datetime(2026, 3, 19, 12, 34, 56, 789000, tzinfo=UTC)
HOST = "polly.us-east-1.amazonaws.com"
PATH = "/v1/synthesisStream"
POLLY_HEADERS = [
    ("content-type", "application/vnd.amazon.eventstream"),
    ("x-amzn-Engine", "generative"),
    ("x-amzn-VoiceId", "Joanna"),
    ("x-amzn-OutputFormat", "pcm"),
    ("x-amzn-SampleRate", "16000"),
]


def no_secrets(text: str) -> None:
    assert SECRET_KEY not in text
    assert TOKEN not in text


def lookup(key: str) -> Credentials | None:
    return {
        ACCESS_KEY: CREDS,
        "AKIDTEMPORARY": Credentials("AKIDTEMPORARY", SECRET_KEY, TOKEN),
    }.get(key)


# --- the signing key and published SigV4 vectors ------------------------------------------


def test_signing_key_matches_the_aws_documentation() -> None:
    key = derive_signing_key(SECRET_KEY, "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize(
    ("query", "signature"),
    [
        ("", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            "Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ],
    ids=["get-vanilla", "get-vanilla-query-order-key-case"],
)
def test_aws_sigv4_suite_vectors_verify(query: str, signature: str) -> None:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    headers = [
        ("Host", "example.amazonaws.com"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("Authorization", authorization),
    ]
    verified = verify_request(
        method="GET",
        path="/",
        query=query,
        headers=headers,
        lookup=lookup,
        now=datetime.datetime(2015, 8, 30, 12, 36, tzinfo=UTC),
        service="service",
    )
    assert verified.signature == signature
    assert verified.region == "us-east-1"
    assert verified.request_time == datetime.datetime(2015, 8, 30, 12, 36, tzinfo=UTC)


# --- sign_request agrees with botocore's SigV4Auth ------------------------------------------


def botocore_authorization(
    *,
    host: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    credentials: Credentials,
    region: str,
    now: datetime.datetime,
) -> tuple[str, dict[str, str]]:
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(
        method="POST",
        url=url,
        headers={**dict(headers), "X-Amz-Content-SHA256": STREAMING_PAYLOAD},
        data=b"",
    )
    frozen = now.astimezone(UTC).replace(tzinfo=None)  # botocore's clock is naive UTC
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=frozen):
        botocore.auth.SigV4Auth(
            BotocoreCredentials(
                credentials.access_key, credentials.secret_key, credentials.session_token
            ),
            "polly",
            region,
        ).add_auth(request)
    return request.headers["Authorization"], {k.lower(): v for k, v in request.headers.items()}


CROSS_CHECKS = [
    pytest.param(HOST, "", POLLY_HEADERS, CREDS, id="polly-headers"),
    pytest.param(HOST, "", POLLY_HEADERS, TEMP_CREDS, id="session-token"),
    pytest.param(
        "localhost:8443",
        "",
        [
            ("Content-Type", "application/vnd.amazon.eventstream"),
            ("X-Amzn-VoiceId", "  Matthew  "),
            ("x-amzn-LexiconNames", "lexA,lexB"),
            ("x-amzn-LanguageCode", "en-US"),
            ("x-custom", "several   inner \t spaces"),
            ("User-Agent", "polly-pipeline/0.1 (not signed)"),
        ],
        TEMP_CREDS,
        id="port-whitespace-unsigned-user-agent",
    ),
    pytest.param(HOST, "b=2&a=1&a=0&c=x%20y", POLLY_HEADERS[:2], CREDS, id="query"),
]


@pytest.mark.parametrize(("host", "query", "headers", "credentials"), CROSS_CHECKS)
def test_request_signature_matches_botocore(
    host: str, query: str, headers: list[tuple[str, str]], credentials: Credentials
) -> None:
    signed = sign_request(
        method="POST",
        host=host,
        path=PATH,
        query=query,
        headers=headers,
        credentials=credentials,
        region="us-east-1",
        now=NOW,
    )
    expected, theirs = botocore_authorization(
        host=host,
        path=PATH,
        query=query,
        headers=headers,
        credentials=credentials,
        region="us-east-1",
        now=NOW,
    )
    ours = dict(signed.headers)
    assert ours["authorization"] == expected
    assert signed.signature == expected.rsplit("Signature=", 1)[1]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20260319T123456Z"
    assert ours["x-amz-content-sha256"] == STREAMING_PAYLOAD
    assert ours.get("x-amz-security-token") == credentials.session_token
    assert [name for name, _ in signed.headers[: len(headers)]] == [n for n, _ in headers]


def test_signed_request_adds_the_sigv4_headers_only() -> None:
    signed = sign_request(
        method="POST",
        host=HOST,
        path=PATH,
        headers=POLLY_HEADERS,
        credentials=TEMP_CREDS,
        region="us-west-2",
        now=NOW,
    )
    names = [name for name, _ in signed.headers]
    assert names == [
        *(n for n, _ in POLLY_HEADERS),
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
        "authorization",
    ]
    auth = parse_authorization(dict(signed.headers)["authorization"])
    assert auth == Authorization(
        access_key=ACCESS_KEY,
        date="20260319",
        region="us-west-2",
        service="polly",
        signed_headers=(
            "content-type",
            "host",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
            "x-amzn-engine",
            "x-amzn-outputformat",
            "x-amzn-samplerate",
            "x-amzn-voiceid",
        ),
        signature=signed.signature,
    )
    no_secrets(repr(signed))


@pytest.mark.parametrize("name", ["Host", "authorization", "X-Amz-Date", ":authority"])
def test_sign_request_refuses_headers_it_owns(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        sign_request(
            method="POST",
            host=HOST,
            path=PATH,
            headers=[(name, "x")],
            credentials=CREDS,
            region="us-east-1",
            now=NOW,
        )


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        sign_request(
            method="POST",
            host=HOST,
            path=PATH,
            headers=[],
            credentials=CREDS,
            region="us-east-1",
            now=NOW.replace(tzinfo=None),
        )


# --- verify_request ---------------------------------------------------------------------


def signed_headers(
    credentials: Credentials = CREDS, now: datetime.datetime = NOW, **changes: str
) -> list[tuple[str, str]]:
    """Headers as an HTTP/2 server sees them: lowercase, with :authority mapped to host."""
    signed = sign_request(
        method="POST",
        host=HOST,
        path=PATH,
        headers=POLLY_HEADERS,
        credentials=credentials,
        region="us-east-1",
        now=now,
    )
    headers = [("host", HOST), *((n.lower(), v) for n, v in signed.headers)]
    return [(n, changes.pop(n.replace("-", "_"), v)) for n, v in headers]


def verify(
    headers: list[tuple[str, str]],
    *,
    now: datetime.datetime = NOW,
    lookup: Callable[[str], Credentials | None] = lookup,
    path: str = PATH,
) -> VerifiedRequest:
    return verify_request(
        method="POST", path=path, query="", headers=headers, lookup=lookup, now=now
    )


def test_verify_accepts_what_sign_request_produced() -> None:
    verified = verify(signed_headers(), now=NOW + datetime.timedelta(minutes=4))
    assert verified.credentials == CREDS
    assert verified.region == "us-east-1"
    assert verified.request_time == NOW.replace(microsecond=0)
    temp = Credentials("AKIDTEMPORARY", SECRET_KEY, TOKEN)
    assert verify(signed_headers(temp)).credentials == temp


def without(headers: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in headers if n != name]


def replace_auth(headers: list[tuple[str, str]], old: str, new: str) -> list[tuple[str, str]]:
    return [(n, v.replace(old, new) if n == "authorization" else v) for n, v in headers]


FAILURES = [
    pytest.param(
        lambda: verify(without(signed_headers(), "authorization")),
        "Missing Authentication Token",
        id="missing-authorization",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA1 ")),
        "unsupported algorithm",
        id="wrong-algorithm",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "Signature=", "Sig=")),
        "requires 'Signature' parameter",
        id="no-signature",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "/aws4_request", "/aws5")),
        "Credential must have the form",
        id="bad-scope",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), ACCESS_KEY, "AKIDUNKNOWN1234")),
        r"security token included in the request is invalid \(unknown access key AKID\*+\)",
        id="unknown-key",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "/polly/", "/transcribe/")),
        "Credential should be scoped to correct service: 'polly'",
        id="wrong-service",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "/20260319/", "/20260318/")),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date",
        id="scope-date",
    ),
    pytest.param(
        lambda: verify(without(signed_headers(), "x-amz-date")),
        "requires existence of a 'X-Amz-Date' header",
        id="missing-date",
    ),
    pytest.param(
        lambda: verify(signed_headers(x_amz_date="2026-03-19")),
        "is not YYYYMMDDTHHMMSSZ",
        id="malformed-date",
    ),
    pytest.param(
        lambda: verify(signed_headers(), now=NOW + datetime.timedelta(minutes=6)),
        r"Signature expired: 20260319T123456Z is now earlier than 20260319T123556Z "
        r"\(20260319T124056Z - 5 min\.\)",
        id="expired",
    ),
    pytest.param(
        lambda: verify(signed_headers(), now=NOW - datetime.timedelta(minutes=6)),
        r"Signature not yet current: 20260319T123456Z is still later than 20260319T123356Z "
        r"\(20260319T122856Z \+ 5 min\.\)",
        id="future",
    ),
    pytest.param(
        lambda: verify(signed_headers(x_amzn_voiceid="Matthew")),
        "The request signature we calculated does not match the signature you provided",
        id="tampered-header",
    ),
    pytest.param(
        lambda: verify(signed_headers(), path="/v1/other"),
        "does not match the signature you provided",
        id="tampered-path",
    ),
    pytest.param(
        lambda: verify(signed_headers(), lookup=lambda _: Credentials(ACCESS_KEY, "wrong-secret")),
        "does not match the signature you provided",
        id="wrong-secret",
    ),
    pytest.param(
        lambda: verify(
            signed_headers(TEMP_CREDS),
            lookup=lambda _: Credentials(ACCESS_KEY, SECRET_KEY, "another-token"),
        ),
        "The security token included in the request is invalid",
        id="token-mismatch",
    ),
    pytest.param(
        lambda: verify(signed_headers(TEMP_CREDS), lookup=lambda _: CREDS),
        "The security token included in the request is invalid",
        id="unexpected-token",
    ),
    pytest.param(
        lambda: verify(
            without(signed_headers(TEMP_CREDS), "x-amz-security-token"), lookup=lambda _: TEMP_CREDS
        ),
        "The security token included in the request is invalid",
        id="missing-token",
    ),
    pytest.param(
        lambda: verify(replace_auth(signed_headers(), "content-type;host;", "content-type;")),
        "'Host' or ':authority' must be a 'SignedHeader'",
        id="host-not-signed",
    ),
    pytest.param(
        lambda: verify(without(signed_headers(), "x-amzn-engine")),
        "signed header 'x-amzn-engine' is missing from the request",
        id="signed-header-missing",
    ),
]


@pytest.mark.parametrize(("call", "match"), FAILURES)
def test_verify_request_failures(call: Callable[[], object], match: str) -> None:
    with pytest.raises(SignatureError, match=match) as info:
        call()
    no_secrets(str(info.value))
    no_secrets(repr(info.value))


def test_parse_authorization_rejects_junk() -> None:
    for junk in ["", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential", "Bearer abc"]:
        with pytest.raises(SignatureError):
            parse_authorization(junk)
    with pytest.raises(SignatureError, match="64 lowercase hex"):
        parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20260319/us-east-1/polly/aws4_request, "
            "SignedHeaders=host, Signature=ABC"
        )


# --- the event chain: fixed vectors from an independent implementation ---------------------

#: sha256(b"polly-pipeline seed"), standing in for a request signature
SEED = "7ddc06c1dc40c868aa06c6f7ca439bb9b85ba77314d5656bc3bc28feab754405"
CHAIN = [
    # (clock, payload, signature) — the last crosses midnight, so its scope date changes
    (
        datetime.datetime(2026, 3, 19, 12, 34, 56, 789000, tzinfo=UTC),
        b"first event",
        "7da9f60ab8b1befb636d65efe9ec048afedf7133f6318f34f5bd4a912af345e5",
    ),
    (
        datetime.datetime(2026, 3, 19, 12, 34, 57, 5000, tzinfo=UTC),
        b"\x00\x01second",
        "0980bb1aeabc902b6cabaa590e6d25de3d472b115343239fd784e89d89527c9e",
    ),
    (
        datetime.datetime(2026, 3, 19, 23, 59, 59, 999000, tzinfo=UTC),
        b"third",
        "41a3739845a949b2ef574d8a7a73385c6d25f8bf30999872c2a2f4a4c3f1cb50",
    ),
    (
        datetime.datetime(2026, 3, 20, 0, 0, 0, tzinfo=UTC),
        b"",
        "f081071a12ec6c5d168a1e3f6e41f3f9efc1b33cb598ce341e9551b7a7c82253",
    ),
]


def reference_event_signature(prior: str, when: datetime.datetime, payload: bytes) -> str:
    """The chunk signature computed from the published recipe (Transcribe SDK style)."""
    date_header = b"\x05:date\x08" + struct.pack("!q", int(when.timestamp() * 1000))
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            stamp,
            f"{stamp[:8]}/us-east-1/polly/aws4_request",
            prior,
            hashlib.sha256(date_header).hexdigest(),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    key = hmac.new(f"AWS4{SECRET_KEY}".encode(), stamp[:8].encode(), hashlib.sha256).digest()
    for part in ("us-east-1", "polly", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def ticking(times: Sequence[datetime.datetime]) -> Callable[[], datetime.datetime]:
    it: Iterator[datetime.datetime] = iter(times)
    return lambda: next(it)


def test_the_hard_coded_vectors_follow_the_reference_recipe() -> None:
    prior = SEED
    for when, payload, signature in CHAIN:
        assert reference_event_signature(prior, when, payload) == signature
        prior = signature


def test_event_signer_reproduces_the_vectors() -> None:
    signer = EventSigner(
        credentials=CREDS,
        region="us-east-1",
        seed_signature=SEED,
        clock=ticking([when for when, _, _ in CHAIN]),
    )
    assert signer.prior_signature == SEED
    for when, payload, signature in CHAIN:
        outer = decode_message(signer.sign(payload) if payload else signer.sign_end())
        millis = (when - datetime.datetime(1970, 1, 1, tzinfo=UTC)) // datetime.timedelta(
            milliseconds=1
        )
        assert outer == Message(
            (
                Header.timestamp(":date", when),
                Header.bytes(":chunk-signature", bytes.fromhex(signature)),
            ),
            payload,
        )
        assert outer.headers[0].type is HeaderType.TIMESTAMP
        assert encode_message(outer.headers[:1])[12:27] == b"\x05:date\x08" + struct.pack(
            "!q", millis
        )
        assert signer.prior_signature == signature


def test_outer_frames_parse_with_botocore() -> None:
    signer = EventSigner(
        credentials=CREDS, region="us-east-1", seed_signature=SEED, clock=lambda: CHAIN[0][0]
    )
    buffer = EventStreamBuffer()
    buffer.add_data(signer.sign(b"first event"))
    [message] = list(buffer)
    assert message.headers == {
        ":date": 1773923696789,
        ":chunk-signature": bytes.fromhex(CHAIN[0][2]),
    }
    assert message.payload == b"first event"


def test_signer_refuses_bad_seed_and_naive_clock() -> None:
    with pytest.raises(ValueError, match="seed_signature"):
        EventSigner(credentials=CREDS, region="us-east-1", seed_signature="ABC")
    signer = EventSigner(
        credentials=CREDS, region="us-east-1", seed_signature=SEED, clock=datetime.datetime.now
    )
    with pytest.raises(ValueError, match="naive datetime"):
        signer.sign(b"x")
    no_secrets(repr(signer))
    no_secrets(repr(EventSigner(credentials=TEMP_CREDS, region="us-east-1", seed_signature=SEED)))


def test_default_clock_is_utc_now() -> None:
    signer = EventSigner(credentials=CREDS, region="us-east-1", seed_signature=SEED)
    before = datetime.datetime.now(UTC)
    date = decode_message(signer.sign(b"x")).get(":date")
    assert isinstance(date, datetime.datetime)
    assert before - datetime.timedelta(seconds=1) <= date <= datetime.datetime.now(UTC)


# --- EventVerifier ----------------------------------------------------------------------


def signed_stream(payloads: Sequence[bytes], start: datetime.datetime = NOW) -> list[Message]:
    times = [start + datetime.timedelta(seconds=i) for i in range(len(payloads) + 1)]
    signer = EventSigner(
        credentials=CREDS, region="us-east-1", seed_signature=SEED, clock=ticking(times)
    )
    wire = b"".join(signer.sign(p) for p in payloads) + signer.sign_end()
    return EventStreamDecoder().feed(wire)


def verifier(
    now: datetime.datetime = NOW, credentials: Credentials = CREDS, region: str = "us-east-1"
) -> EventVerifier:
    return EventVerifier(
        credentials=credentials, region=region, seed_signature=SEED, clock=lambda: now
    )


def test_verifier_unwraps_a_signed_stream() -> None:
    frames = signed_stream([b"one", b"two"])
    check = verifier()
    assert [check.verify(f) for f in frames] == [b"one", b"two", b""]
    assert check.ended
    with pytest.raises(SignatureError, match="after the end-of-stream frame"):
        check.verify(frames[0])
    no_secrets(repr(check))


def test_verifier_accepts_the_hard_coded_vectors() -> None:
    now = [CHAIN[0][0]]
    check = EventVerifier(
        credentials=CREDS, region="us-east-1", seed_signature=SEED, clock=lambda: now[0]
    )
    for when, payload, signature in CHAIN:
        now[0] = when
        outer = Message(
            (
                Header.timestamp(":date", when),
                Header.bytes(":chunk-signature", bytes.fromhex(signature)),
            ),
            payload,
        )
        assert check.verify(outer) == payload
    assert check.ended


def retyped(message: Message, name: str, header: Header | None) -> Message:
    kept = tuple(h for h in message.headers if h.name != name)
    return Message(kept + ((header,) if header else ()), message.payload)


def test_verifier_rejects_bad_frames() -> None:
    first, second, end = signed_stream([b"one", b"two"])
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: verifier().verify(Message(first.headers, b"onE")), "does not match"),
        (lambda: verifier(credentials=Credentials(ACCESS_KEY, "x")).verify(first), "not match"),
        (lambda: verifier(region="us-west-2").verify(first), "does not match"),
        (lambda: verifier().verify(second), "out of chain order"),  # skipped a frame
        (lambda: verifier().verify(end), "does not match"),  # truncated stream
        (lambda: verifier(now=NOW + datetime.timedelta(minutes=6)).verify(first), "expired"),
        (lambda: verifier(now=NOW - datetime.timedelta(minutes=6)).verify(first), "not yet"),
        (lambda: verifier().verify(retyped(first, ":date", None)), "missing its ':date'"),
        (
            lambda: verifier().verify(retyped(first, ":date", Header.string(":date", "now"))),
            "':date' has type STRING, expected TIMESTAMP",
        ),
        (
            lambda: verifier().verify(retyped(first, ":chunk-signature", None)),
            "missing its ':chunk-signature'",
        ),
        (
            lambda: verifier().verify(
                retyped(first, ":chunk-signature", Header.bytes(":chunk-signature", b"short"))
            ),
            "must be 32 bytes, got 5",
        ),
        (
            lambda: verifier().verify(
                Message((*first.headers, Header.timestamp(":date", NOW)), first.payload)
            ),
            "carries 2 ':date' headers",
        ),
    ]
    for call, match in cases:
        with pytest.raises(SignatureError, match=match) as info:
            call()
        no_secrets(str(info.value))


def test_verifier_rejects_replay() -> None:
    first, second, _ = signed_stream([b"one", b"two"])
    check = verifier()
    check.verify(first)
    with pytest.raises(SignatureError, match="does not match"):
        check.verify(first)
    assert check.verify(second) == b"two"  # a failed frame does not advance the chain
