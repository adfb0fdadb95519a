"""Benchmark: how long a trickling server can hold a caller.

A server answers 200 and then sends a valid AudioEvent one byte per second (a deadline on
silence between bytes never fires). For several read deadlines, measures how long
``PollyStreamingClient`` takes to raise ``NetworkTimeout`` after a flush; the target is the read
deadline plus at most one second. Writes ``benchmarks/results/trickle.md`` and prints it.

    python benchmarks/trickle.py [--byte-every 1.0] [--reads 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import NetworkTimeout
from polly_pipeline.local.certs import TLSMaterial
from polly_pipeline.local.http import HttpServer, Request, RequestBody, Responder
from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import AudioEvent, encode_output_event
from polly_pipeline.transport import Timeouts

RESULTS = Path(__file__).with_name("results") / "trickle.md"


def trickler(byte_every: float):  # type: ignore[no-untyped-def]
    async def handle(request: Request, body: RequestBody, responder: Responder) -> None:
        async def drain() -> None:
            async for _ in body:
                pass

        reader = asyncio.create_task(drain())
        try:
            await responder.send_headers(
                200, [("content-type", "application/vnd.amazon.eventstream")]
            )
            frame = encode_output_event(AudioEvent(b"\x00" * 10_000))
            for i in range(len(frame)):
                await responder.send_data(frame[i : i + 1])
                await asyncio.sleep(byte_every)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    return handle


async def measure(byte_every: float, reads: list[float]) -> list[tuple[float, float, str]]:
    tls = await asyncio.to_thread(TLSMaterial.generate)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = tls.write_ca(Path(tmp) / "ca.pem")
        async with HttpServer(trickler(byte_every), tls=tls) as server:
            for read in reads:
                timeouts = Timeouts(connect=5, response_headers=5, read=read, write=5, close=1)
                async with PollyStreamingClient(
                    region="us-east-1",
                    endpoint_url=server.url,
                    credentials=Credentials("AKIDBENCH", "bench-secret"),
                    ca_file=str(ca),
                    timeouts=timeouts,
                ) as client:
                    stream = await client.open_stream(voice_id="Joanna", output_format="pcm")
                    try:
                        await stream.send_text("Hello.", flush=True)
                        started = time.monotonic()
                        try:
                            await asyncio.wait_for(anext(stream.__aiter__()), read + 60)
                            outcome = "an event arrived (unexpected)"
                        except NetworkTimeout as exc:
                            outcome = f"NetworkTimeout(phase={exc.phase!r})"
                        except TimeoutError:
                            outcome = "still waiting after read + 60 s (hang)"
                        rows.append((read, time.monotonic() - started, outcome))
                    finally:
                        await stream.aclose()
    return rows


def report(byte_every: float, rows: list[tuple[float, float, str]]) -> str:
    lines = [
        "# Trickling server: time until the caller gets an error",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}. "
        f"The server sends a valid AudioEvent one byte every {byte_every:g} s after a flush. "
        "Target: at most the read deadline + 1 s.",
        "",
        "| read deadline (s) | time to error (s) | over the deadline (s) | outcome |",
        "|---|---|---|---|",
    ]
    for read, took, outcome in rows:
        lines.append(f"| {read:g} | {took:.2f} | {took - read:+.2f} | {outcome} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--byte-every", type=float, default=1.0)
    parser.add_argument("--reads", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    args = parser.parse_args()
    rows = asyncio.run(measure(args.byte_every, args.reads))
    text = report(args.byte_every, rows)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
