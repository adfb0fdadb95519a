"""Protocol layer (sans-IO): event-stream codec, SigV4 and event signing, typed events.

Nothing here imports asyncio, awscrt or sockets: bytes in, events out.

The supported face of this layer, for applications and plugin authors (e.g. a local stand-in
for another AWS streaming service):

- credentials and parameters: :class:`Credentials`, :class:`SynthesisParams`;
- the events of a synthesis stream: :class:`TextEvent`, :class:`CloseStreamEvent`,
  :class:`AudioEvent`, :class:`StreamClosedEvent`, :class:`ServiceErrorEvent`;
- the event-stream codec (``application/vnd.amazon.eventstream``): :class:`Header`,
  :func:`encode_message`, :class:`EventStreamDecoder`;
- SigV4: :func:`verify_request` checks a signed request as an AWS service does;
- voices: :data:`LANGUAGE_NAMES` and :func:`voice_language`.

Everything else under ``polly_pipeline.protocol`` is internal and may change.
"""

from polly_pipeline.protocol.credentials import Credentials
from polly_pipeline.protocol.events import (
    AudioEvent,
    CloseStreamEvent,
    ServiceErrorEvent,
    StreamClosedEvent,
    TextEvent,
)
from polly_pipeline.protocol.eventstream import EventStreamDecoder, Header, encode_message
from polly_pipeline.protocol.params import SynthesisParams
from polly_pipeline.protocol.sigv4 import verify_request
from polly_pipeline.protocol.voices import LANGUAGE_NAMES, voice_language

__all__ = [
    "LANGUAGE_NAMES",
    "AudioEvent",
    "CloseStreamEvent",
    "Credentials",
    "EventStreamDecoder",
    "Header",
    "ServiceErrorEvent",
    "StreamClosedEvent",
    "SynthesisParams",
    "TextEvent",
    "encode_message",
    "verify_request",
    "voice_language",
]
