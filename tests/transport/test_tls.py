"""TLS: verification is always on; certificate problems are named, promptly."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest

from polly_pipeline.errors import ConnectError
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import Request, RequestBody, Responder
from polly_pipeline.transport import ConnectionPool, Endpoint, TLSConfig

from .conftest import FAST, StartServer

pytestmark = pytest.mark.timeout(20)


async def hello(request: Request, body: RequestBody, responder: Responder) -> None:
    await responder.send_data(b"hello")


async def fetch(pool: ConnectionPool, where: Endpoint) -> bytes:
    async with await pool.open_stream(where, method="GET", path="/", headers=[]) as stream:
        await stream.response()
        return b"".join([chunk async for chunk in stream])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_server_certificate_verifies_for_ip_and_name(
    serve: StartServer, ca_file: str, host: str
) -> None:
    server = await serve(hello)
    async with ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file)) as pool:
        assert await fetch(pool, Endpoint(host, server.port)) == b"hello"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_endpoint(serve: StartServer, ca_file: str) -> None:
    server = await serve(hello, host="::1")
    assert server.url == f"https://[::1]:{server.port}"
    async with ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file)) as pool:
        assert await fetch(pool, Endpoint.from_url(server.url)) == b"hello"


async def test_without_the_ca_the_certificate_is_not_trusted(serve: StartServer) -> None:
    server = await serve(hello)
    started = time.monotonic()
    async with ConnectionPool(timeouts=FAST, tls=TLSConfig()) as pool:
        with pytest.raises(ConnectError) as caught:
            await fetch(pool, Endpoint("127.0.0.1", server.port))
    message = str(caught.value)
    assert f"127.0.0.1:{server.port}" in message
    assert "could not be verified" in message
    assert "ca_file" in message
    # awscrt alone would report this only after s2n's 10-30 s "blinding" delay
    assert time.monotonic() - started < FAST.connect


async def test_wrong_hostname_is_rejected(serve: StartServer, tmp_path: Path) -> None:
    other = TLSMaterial.generate(hostnames=("example.test",))
    server = await serve(hello, tls=other)
    ca = str(other.write_ca(tmp_path / "other-ca.pem"))
    async with ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca)) as pool:
        with pytest.raises(ConnectError, match=r"could not be verified.*127\.0\.0\.1"):
            await fetch(pool, Endpoint("127.0.0.1", server.port))


async def test_http1_only_server_is_refused(tls: TLSMaterial, ca_file: str) -> None:
    context = tls.server_ssl_context()
    context.set_alpn_protocols(["http/1.1"])
    accepted: list[asyncio.StreamWriter] = []

    async def h1_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read(100)

    server = await asyncio.start_server(h1_only, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ConnectionPool(timeouts=FAST, tls=TLSConfig(ca_file=ca_file)) as pool:
            with pytest.raises(ConnectError, match="does not speak HTTP/2"):
                await fetch(pool, Endpoint("127.0.0.1", port))
    finally:
        server.close()
        for writer in accepted:
            writer.close()
        await server.wait_closed()


def test_certificate_material_is_sound(tls: TLSMaterial) -> None:
    assert "key_pem" not in repr(tls)
    assert b"PRIVATE KEY" not in repr(tls).encode()
    context = ssl.create_default_context(cadata=tls.ca_cert_pem.decode())
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "polly-pipeline local CA"),),)
