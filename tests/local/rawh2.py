"""A bare HTTP/2 client over TLS for looking at the frames the local server sends.

Outbound header validation is off, so a test can send exactly what a real client sends,
malformed or unusual header blocks included.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
from h2.settings import SettingCodes

from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import HttpServer


def client_context(tls: TLSMaterial, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=tls.ca_cert_pem.decode())
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


class RawH2:
    """A bare HTTP/2 client over TLS for looking at frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8", validate_outbound_headers=False
        )
        self.conn = h2.connection.H2Connection(config)
        self.events: list[h2.events.Event] = []
        self.closed = False

    @classmethod
    async def connect(
        cls, server: HttpServer, tls: TLSMaterial, *, window: int | None = None
    ) -> RawH2:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=client_context(tls, ["h2"])
        )
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        client = cls(reader, writer)
        if window is not None:
            client.conn.local_settings = h2.settings.Settings(
                client=True, initial_values={SettingCodes.INITIAL_WINDOW_SIZE: window}
            )
        client.conn.initiate_connection()
        client.flush()
        return client

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    def request(self, path: str = "/", body: bytes | None = None, *, end: bool = True) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "example.test"),
            (":path", path),
        ]
        self.conn.send_headers(stream_id, headers, end_stream=end and body is None)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=end)
        self.flush()
        return stream_id

    async def until(
        self, done: Callable[[list[h2.events.Event]], bool], *, ack: bool = True, within: float = 3
    ) -> list[h2.events.Event]:
        """Read frames until ``done(events)``; acknowledges received data unless told not to."""
        async with asyncio.timeout(within):
            while not done(self.events):
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    if done(self.events):
                        break
                    raise ConnectionError("the server closed the connection")
                for event in self.conn.receive_data(data):
                    self.events.append(event)
                    if ack and isinstance(event, h2.events.DataReceived) and event.stream_id:
                        self.conn.acknowledge_received_data(
                            event.flow_controlled_length, event.stream_id
                        )
                self.flush()
        return self.events

    def body(self, stream_id: int) -> bytes:
        return b"".join(
            e.data
            for e in self.events
            if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        )

    def of(self, kind: type[Any], stream_id: int | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if isinstance(e, kind)
            and (stream_id is None or getattr(e, "stream_id", 0) == stream_id)
        ]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
