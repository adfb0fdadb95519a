"""Run the local service on a fixed port with a CA file, printing each sentence it speaks.

    python tests/local/restart_service.py PORT CA_FILE

Prints ``ready`` once listening, then ``spoken <json text>`` each time a stream has written the
whole audio of a text to the wire. The restart test kills it (SIGKILL) mid-turn and starts it
again on the same port and CA file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque

from polly_pipeline.local.config import LatencyModel, LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.local.stream_record import StreamRecord


class _Spoken(list[str]):
    def append(self, text: str) -> None:
        print("spoken", json.dumps(text), flush=True)
        super().append(text)


class _Records(deque[StreamRecord]):
    def append(self, record: StreamRecord) -> None:
        record.spoken = _Spoken(record.spoken)
        super().append(record)


async def main(port: str, ca_file: str) -> None:
    latency = LatencyModel(first_audio=0.2, real_time_factor=0.5)
    config = LocalServiceConfig(port=int(port), latency=latency, inbound_event_timeout=2.0)
    async with LocalPollyService(config, ca_file=ca_file) as service:
        service.streams = _Records(maxlen=100)
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:3]))
