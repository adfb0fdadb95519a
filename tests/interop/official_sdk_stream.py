"""Stream through a Polly endpoint with the official ``aws-sdk-polly`` client (Python >= 3.12).

An independent implementation of the protocol (Smithy-generated, awscrt transport): if it
streams through the local service with only the endpoint, credentials and CA trust changed, the
service speaks the real wire protocol. Run with a Python that has ``aws-sdk-polly`` installed:

    python tests/interop/official_sdk_stream.py ENDPOINT ACCESS_KEY SECRET_KEY OUT_FILE

It sends two TextEvents (the first with Force flush) and a CloseStreamEvent, writes the audio to
OUT_FILE, and prints one JSON line: audio bytes, events seen, billed characters.
"""

import asyncio
import json
import sys
from pathlib import Path

from aws_sdk_polly.client import AsyncPollyClient
from aws_sdk_polly.config import AsyncPollyConfig
from aws_sdk_polly.models import (
    CloseStreamEvent,
    FlushStreamConfiguration,
    StartSpeechSynthesisStreamActionStreamCloseStreamEvent,
    StartSpeechSynthesisStreamActionStreamTextEvent,
    StartSpeechSynthesisStreamEventStreamAudioEvent,
    StartSpeechSynthesisStreamEventStreamStreamClosedEvent,
    StartSpeechSynthesisStreamInput,
    TextEvent,
)
from smithy_aws_core.identity import StaticCredentialsResolver
from smithy_http.aio.crt import AWSCRTHTTPClient


async def main(endpoint: str, access_key: str, secret_key: str, out_file: str) -> None:
    client = AsyncPollyClient(
        config=await AsyncPollyConfig.resolve(
            endpoint_uri=endpoint,
            region="us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_credentials_identity_resolver=StaticCredentialsResolver(),
            transport=AWSCRTHTTPClient(),
        )
    )
    stream = await client.start_speech_synthesis_stream(
        StartSpeechSynthesisStreamInput(engine="generative", voice_id="Joanna", output_format="mp3")
    )
    texts = ["Hello from the official SDK. ", "This audio came through the local service."]
    await stream.input_stream.send(
        StartSpeechSynthesisStreamActionStreamTextEvent(
            TextEvent(
                text=texts[0], flush_stream_configuration=FlushStreamConfiguration(force=True)
            )
        )
    )
    await stream.input_stream.send(
        StartSpeechSynthesisStreamActionStreamTextEvent(TextEvent(text=texts[1]))
    )
    await stream.input_stream.send(
        StartSpeechSynthesisStreamActionStreamCloseStreamEvent(CloseStreamEvent())
    )
    await stream.input_stream.close()
    _, output = await stream.await_output()
    audio = bytearray()
    kinds: list[str] = []
    billed = None
    async for event in output:
        kinds.append(type(event).__name__)
        if isinstance(event, StartSpeechSynthesisStreamEventStreamAudioEvent):
            audio += event.value.audio_chunk or b""
        elif isinstance(event, StartSpeechSynthesisStreamEventStreamStreamClosedEvent):
            billed = event.value.request_characters
            break
    await asyncio.to_thread(Path(out_file).write_bytes, bytes(audio))
    print(
        json.dumps(
            {
                "audio_bytes": len(audio),
                "events": len(kinds),
                "last": kinds[-1] if kinds else None,
                "billed": billed,
                "sent_chars": sum(map(len, texts)),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
