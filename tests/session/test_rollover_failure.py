"""A rollover whose new stream cannot be opened must not make the listener hear text again.

At a rollover the turn ends the old stream's input and asks for a new stream. When the new
one is refused after the old stream had delivered all its audio (its StreamClosedEvent came),
every segment the old stream carried was heard in full: the retry goes on after them.
"""

from __future__ import annotations

import asyncio

from polly_pipeline.client import PollyStreamingClient
from polly_pipeline.errors import ConnectError
from polly_pipeline.local.config import LocalServiceConfig
from polly_pipeline.local.service import LocalPollyService
from polly_pipeline.session.events import SessionEvent, StreamRetry
from polly_pipeline.session.link import StreamLink
from polly_pipeline.session.retry import RetryPolicy
from polly_pipeline.session.tasks import SessionTasks
from polly_pipeline.session.turn import Turn
from polly_pipeline.testing import virtual_clock
from tests.session.contexts import FORMAT, turn_context
from tests.session.recording import recording_client

FIRST = "The first sentence goes out on the first stream. "
SECOND = "The second one needs a new stream. "


class RolloverRefused:
    """Real streams, except that the rollover's is refused once the old stream has closed."""

    def __init__(self, client: PollyStreamingClient, tasks: SessionTasks) -> None:
        self.client = client
        self.tasks = tasks
        self.links: list[StreamLink] = []
        self.throttled_wait = 0.0
        self.refused = 0

    async def take(self, purpose: str) -> StreamLink:
        if purpose == "rollover":
            old = self.links[-1]
            await asyncio.sleep(2.0)  # opening takes long: the old stream ends meanwhile
            assert old.stream.finished, "the old stream's StreamClosedEvent did not come"
            self.refused += 1
            raise ConnectError("connection refused")
        stream = await self.client.open_stream(voice_id="Joanna", output_format="pcm")
        link = StreamLink(stream, len(self.links) + 1, FORMAT, tasks=self.tasks)
        self.links.append(link)
        return link

    def retire(self, link: StreamLink) -> None:
        self.tasks.spawn(link.close(), name=f"retire-{link.number}")


@virtual_clock
async def test_a_refused_rollover_after_the_old_stream_closed_resends_nothing_heard() -> None:
    client, recording = recording_client(LocalPollyService(LocalServiceConfig()))
    tasks = SessionTasks()
    events: list[SessionEvent] = []
    streams = RolloverRefused(client, tasks)
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, jitter=False)
    context = turn_context(streams, events, tasks=tasks, retry=retry, max_stream_age=1.0)
    async with client:
        try:
            turn = Turn(context, 0)
            await turn.send(FIRST, flush=True)
            await asyncio.sleep(2.0)  # the stream is past max_stream_age: the next text rolls over
            await turn.send(SECOND, flush=True)
            await turn.finish()
            audio = [chunk async for chunk in turn.audio()]
        finally:
            await tasks.aclose()
    assert streams.refused == 1, "the turn did not roll over"
    retries = [e for e in events if isinstance(e, StreamRetry)]
    assert len(retries) == 1
    assert turn.error is None
    assert audio
    spoken = [e.text for e in recording.text_events() if e.text.strip()]
    assert spoken == [FIRST, SECOND], "text heard in full was sent (and spoken) again"
