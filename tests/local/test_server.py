"""The local HTTP server core: HTTP/2 and HTTP/1.1 over TLS, flow control, faults, shutdown.

Clients here are deliberately independent of the package's transport: the standard library's
``http.client`` for HTTP/1.1 and a bare ``h2`` state machine for HTTP/2 frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.client
import ipaddress
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography import x509
from h2.errors import ErrorCodes

from polly_pipeline.errors import ConfigurationError
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import (
    BodyTooLarge,
    Handler,
    HttpServer,
    Request,
    RequestBody,
    Responder,
    StreamClosed,
)
from tests.local.rawh2 import RawH2, client_context

pytestmark = pytest.mark.timeout(20)


# -- helpers (this directory's conftest belongs to other tests) ---------------------------------


@pytest.fixture(scope="module")
def tls() -> TLSMaterial:
    return TLSMaterial.generate()


@pytest.fixture
async def serve(tls: TLSMaterial) -> AsyncIterator[Callable[..., Awaitable[HttpServer]]]:
    servers: list[HttpServer] = []

    async def start(handler: Handler, **kwargs: Any) -> HttpServer:
        server = HttpServer(handler, tls=tls, **kwargs)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.aclose()


@pytest.fixture
async def raw_clients() -> AsyncIterator[list[RawH2]]:
    clients: list[RawH2] = []
    yield clients
    for client in clients:
        await client.close()


def ended(stream_id: int) -> Callable[[list[h2.events.Event]], bool]:
    return lambda events: any(
        isinstance(e, h2.events.StreamEnded | h2.events.StreamReset) and e.stream_id == stream_id
        for e in events
    )


async def echo(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_headers(200, [("x-path", request.path)])
    async for chunk in body:
        await responder.send_data(chunk)
    await responder.end()


# -- certificates ---------------------------------------------------------------------------------


def test_generated_certificates(tls: TLSMaterial, tmp_path: Path) -> None:
    ca = x509.load_pem_x509_certificate(tls.ca_cert_pem)
    leaf = x509.load_pem_x509_certificate(tls.cert_pem)
    assert ca.subject.rfc4514_string() == "CN=polly-pipeline local CA"
    assert leaf.issuer == ca.subject
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    now = dt.datetime.now(dt.UTC)
    assert now - dt.timedelta(hours=2) < leaf.not_valid_before_utc < now
    assert leaf.not_valid_after_utc - now > dt.timedelta(days=29)
    assert "key_pem" not in repr(tls)
    assert "PRIVATE" not in repr(tls)
    target = tls.write_ca(tmp_path / "deep" / "dir" / "ca.pem")
    assert target.read_bytes() == tls.ca_cert_pem


def test_ssl_context_leaves_no_key_files(tls: TLSMaterial) -> None:
    before = set(Path(tempfile.gettempdir()).glob("polly-local-*"))
    context = tls.server_ssl_context()
    assert set(Path(tempfile.gettempdir()).glob("polly-local-*")) == before
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_custom_hostnames() -> None:
    material = TLSMaterial.generate(hostnames=("polly.test", "10.1.2.3"))
    leaf = x509.load_pem_x509_certificate(material.cert_pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["polly.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]


# -- HTTP/1.1 -----------------------------------------------------------------------------------


def _h1(
    server: HttpServer, tls: TLSMaterial, alpn: list[str] | None
) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=client_context(tls, alpn), timeout=5
    )


@pytest.mark.parametrize("alpn", [["http/1.1"], None])
async def test_http1_reaches_the_same_handler_with_keep_alive(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, alpn: list[str] | None
) -> None:
    seen: list[Request] = []

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        seen.append(request)
        data = await body.read_all(1000)
        await responder.send_headers(200, [("content-type", "text/plain")])
        await responder.send_data(b"got:" + data)

    server = await serve(handler)

    def talk() -> list[tuple[int, str | None, bytes]]:
        conn = _h1(server, tls, alpn)
        out = []
        for path, body in (("/a?x=1", b"first"), ("/b", b"second")):
            conn.request("POST", path, body=body, headers={"X-Thing": "yes"})
            reply = conn.getresponse()
            out.append((reply.status, reply.getheader("transfer-encoding"), reply.read()))
        conn.close()
        return out

    results = await asyncio.to_thread(talk)
    assert results == [(200, "chunked", b"got:first"), (200, "chunked", b"got:second")]
    assert server.connections_total == 1
    first = seen[0]
    assert (first.method, first.path, first.query) == ("POST", "/a", "x=1")
    assert (first.http_version, first.stream_id) == ("1.1", None)
    assert first.header("host") == f"127.0.0.1:{server.port}"
    assert first.header("X-THING") == "yes"
    assert first.client[0] == "127.0.0.1"


async def test_http1_streams_a_chunked_request_body(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial
) -> None:
    chunks: list[bytes] = []

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        async for chunk in body:
            chunks.append(chunk)
        await responder.send_headers(200, [("content-length", "2")])
        await responder.send_data(b"ok")

    server = await serve(handler)

    def talk() -> bytes:
        def parts() -> Iterator[bytes]:
            yield b"one"
            yield b"two"

        conn = _h1(server, tls, ["http/1.1"])
        conn.request("PUT", "/", body=parts(), encode_chunked=True)
        reply = conn.getresponse()
        assert reply.getheader("content-length") == "2"
        data = reply.read()
        conn.close()
        return data

    assert await asyncio.to_thread(talk) == b"ok"
    assert b"".join(chunks) == b"onetwo"


async def test_http1_handler_error_is_a_500(
    serve: Callable[..., Awaitable[HttpServer]],
    tls: TLSMaterial,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: Request, body: RequestBody, responder: Responder) -> None:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        await responder.send_data(b"fine")

    server = await serve(broken)

    def talk() -> list[int]:
        conn = _h1(server, tls, ["http/1.1"])
        statuses = []
        for path in ("/boom", "/ok"):
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            statuses.append(reply.status)
        conn.close()
        return statuses

    with caplog.at_level(logging.WARNING, logger="polly_pipeline.local.server"):
        assert await asyncio.to_thread(talk) == [500, 200]
    assert any("handler failed" in r.getMessage() for r in caplog.records)


# -- HTTP/2 ---------------------------------------------------------------------------------------


async def test_h2_request_and_response(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    server = await serve(echo)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    sid = client.request("/echo", b"hello")
    await client.until(ended(sid))
    [response] = client.of(h2.events.ResponseReceived, sid)
    assert dict(response.headers)[":status"] == "200"
    assert dict(response.headers)["x-path"] == "/echo"
    assert client.body(sid) == b"hello"
    settings = client.conn.remote_settings
    assert settings.max_concurrent_streams == 100


async def test_h2_extra_streams_are_refused_one_by_one(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    server = await serve(echo, max_concurrent_streams=1)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    first = client.request("/first", b"a", end=False)  # stays open
    second = client.request("/second", b"b")  # sent before the client saw the server's limit
    await client.until(ended(second))
    [reset] = client.of(h2.events.StreamReset, second)
    assert reset.error_code == ErrorCodes.REFUSED_STREAM
    client.conn.send_data(first, b"!", end_stream=True)
    client.flush()
    await client.until(ended(first))
    assert client.body(first) == b"a!"
    assert not client.of(h2.events.ConnectionTerminated)  # only the stream was refused


async def test_h2_handler_errors_reset_only_their_stream(
    serve: Callable[..., Awaitable[HttpServer]],
    tls: TLSMaterial,
    raw_clients: list[RawH2],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        if request.path == "/late":
            await responder.send_headers(200)
            await responder.send_data(b"partial")
            raise RuntimeError("failed after headers")
        if request.path == "/early":
            raise RuntimeError("failed before headers")
        await responder.send_data(b"fine")  # returns without end(): the server ends it

    server = await serve(handler)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    with caplog.at_level(logging.WARNING, logger="polly_pipeline.local.server"):
        late, early, ok = client.request("/late"), client.request("/early"), client.request("/ok")
        await client.until(lambda ev: all(ended(s)(ev) for s in (late, early, ok)))
    [reset] = client.of(h2.events.StreamReset, late)
    assert reset.error_code == ErrorCodes.INTERNAL_ERROR
    [early_response] = client.of(h2.events.ResponseReceived, early)
    assert dict(early_response.headers)[":status"] == "500"
    assert client.of(h2.events.StreamEnded, ok)
    assert client.body(ok) == b"fine"
    assert len([r for r in caplog.records if "handler failed" in r.getMessage()]) == 2


async def test_h2_client_reset_reaches_the_handler(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    outcome: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()

    async def handler(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        try:
            async for _ in body:
                pass
        except StreamClosed as exc:
            read_error = str(exc)
        else:
            read_error = "body ended normally"
        try:
            await responder.send_data(b"too late")
        except StreamClosed as exc:
            outcome.set_result((read_error, str(exc)))
            raise
        outcome.set_result((read_error, "send worked"))

    server = await serve(handler)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    sid = client.request("/", b"partial", end=False)
    await client.until(lambda ev: bool(client.of(h2.events.ResponseReceived, sid)))
    client.conn.reset_stream(sid, ErrorCodes.CANCEL)
    client.flush()
    read_error, send_error = await asyncio.wait_for(outcome, 2)
    assert "reset" in read_error
    assert "closed" in send_error


async def test_h2_response_waits_for_the_client_window(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    sent = asyncio.Event()

    async def big(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_data(b"z" * 50_000)
        sent.set()

    server = await serve(big)
    client = await RawH2.connect(server, tls, window=1000)
    raw_clients.append(client)
    await client.until(lambda ev: bool(client.of(h2.events.SettingsAcknowledged)))
    sid = client.request("/")
    await client.until(lambda ev: len(client.body(sid)) >= 1000, ack=False)
    await asyncio.sleep(0.2)
    assert not sent.is_set()  # blocked on the window, not buffered
    assert len(client.body(sid)) == 1000
    client.conn.acknowledge_received_data(1000, sid)  # now make room, and keep making room
    client.flush()
    await client.until(ended(sid))
    assert len(client.body(sid)) == 50_000
    assert sent.is_set()


async def test_h2_request_body_is_credited_only_when_consumed(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    from polly_pipeline.local.http.http2 import STREAM_WINDOW

    release = asyncio.Event()
    total = 0

    async def lazy(request: Request, body: RequestBody, responder: Responder) -> None:
        nonlocal total
        await responder.send_headers(200)
        await release.wait()
        async for chunk in body:
            total += len(chunk)

    server = await serve(lazy)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    sid = client.request("/", end=False)
    await client.until(lambda ev: bool(client.of(h2.events.RemoteSettingsChanged)))
    window = client.conn.local_flow_control_window(sid)
    assert window == STREAM_WINDOW
    for _ in range(window // 16384):
        client.conn.send_data(sid, b"q" * 16384)
    client.flush()
    await asyncio.sleep(0.2)
    await client.until(lambda ev: True)
    assert client.conn.local_flow_control_window(sid) == 0  # nothing credited yet
    release.set()
    await client.until(lambda ev: client.conn.local_flow_control_window(sid) > 0)
    client.conn.end_stream(sid)
    client.flush()
    await client.until(ended(sid))
    assert total == STREAM_WINDOW


async def test_goaway_names_the_last_stream_then_closes(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    async def goaway(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        responder.connection.goaway()

    server = await serve(goaway)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    client.request("/")
    sid = client.request("/")
    await client.until(lambda ev: client.closed, within=3)
    [terminated] = client.of(h2.events.ConnectionTerminated)
    assert terminated.last_stream_id == sid
    assert terminated.error_code == ErrorCodes.NO_ERROR
    await _eventually(lambda: server.active_connections == 0)


async def test_drop_closes_without_goaway(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    async def drop(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        responder.connection.drop()

    server = await serve(drop)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    client.request("/")
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await client.until(lambda ev: client.closed)
    assert not client.of(h2.events.ConnectionTerminated)
    await _eventually(lambda: server.active_connections == 0)


async def test_idle_connections_are_closed(
    serve: Callable[..., Awaitable[HttpServer]], tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    server = await serve(echo, idle_timeout=0.3)
    client = await RawH2.connect(server, tls)
    raw_clients.append(client)
    sid = client.request("/", b"x")
    await client.until(ended(sid))
    await client.until(lambda ev: client.closed, within=2)
    assert client.of(h2.events.ConnectionTerminated)
    await _eventually(lambda: server.active_connections == 0)


# -- lifetime -------------------------------------------------------------------------------------


async def test_aclose_cancels_handlers_and_closes_connections(
    tls: TLSMaterial, raw_clients: list[RawH2]
) -> None:
    cancelled = asyncio.Event()

    async def forever(request: Request, body: RequestBody, responder: Responder) -> None:
        await responder.send_headers(200)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with HttpServer(forever, tls=tls) as server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        client = await RawH2.connect(server, tls)
        raw_clients.append(client)
        sid = client.request("/")
        await client.until(lambda ev: bool(client.of(h2.events.ResponseReceived, sid)))
        idle = await RawH2.connect(server, tls)  # a second, idle connection
        raw_clients.append(idle)
        await _eventually(lambda: server.active_connections == 2)
    assert cancelled.is_set()
    assert server.active_connections == 0
    assert server.connections_total == 2
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with pytest.raises(Exception, match="closed"):
        await server.start()


def test_server_options_are_checked(tls: TLSMaterial) -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent_streams"):
        HttpServer(echo, tls=tls, max_concurrent_streams=0)
    with pytest.raises(ConfigurationError, match="idle_timeout"):
        HttpServer(echo, tls=tls, idle_timeout=0)
    assert HttpServer(echo, tls=tls, host="::1", port=8443).url == "https://[::1]:8443"


async def test_request_body_read_all_limit() -> None:
    credited: list[int] = []
    body = RequestBody(credited.append)
    body.feed_data(b"12345")
    body.feed_data(b"67890")
    body.feed_eof()
    with pytest.raises(BodyTooLarge):
        await body.read_all(8)
    assert sum(credited) == 10


def test_request_header_lookup() -> None:
    request = Request("GET", "/", "", (("a", "1"), ("b", "2"), ("a", "3")), "2", 1, ("x", 1))
    assert request.header("A") == "1"
    assert request.header("c") is None


async def _eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110  # polls counters that have no event to await
            await asyncio.sleep(0.01)
