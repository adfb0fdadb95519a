"""The client's sockets send small frames at once (TCP_NODELAY), unlike awscrt's default."""

from __future__ import annotations

import os
import socket

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.transport.nodelay import disable_nagle, tcp_sockets


def client_sockets(port: int) -> list[int]:
    """TCP_NODELAY of every socket in this process connected to ``port``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with sock:
            try:
                if sock.type == socket.SOCK_STREAM and sock.getpeername()[1] == port:
                    found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            except (OSError, IndexError):
                continue
    return found


async def test_pool_connections_have_nagle_off(
    polly: PollyStreamingClient, local_polly: LocalPollyService
) -> None:
    port = int(local_polly.endpoint_url.rsplit(":", 1)[1])
    async with polly.open_stream(voice_id="Joanna", output_format="pcm") as stream:
        await stream.send_text("Hi.", flush=True)
        options = client_sockets(port)
        await stream.end_input()
        async for _ in stream:
            pass
    assert options
    assert all(options), options


def test_only_new_sockets_to_the_port_are_changed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        old = socket.create_connection(("127.0.0.1", port))
        before = tcp_sockets()
        new = socket.create_connection(("127.0.0.1", port))
        with socket.create_server(("127.0.0.1", 0)) as elsewhere:
            other = socket.create_connection(elsewhere.getsockname())
            for s in (old, new, other):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            assert disable_nagle(port, before) == 1
            nodelay = [
                s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in (old, new, other)
            ]
            assert nodelay == [0, 1, 0]
            assert disable_nagle(port, before) == 0  # already done
            for s in (old, new, other):
                s.close()
