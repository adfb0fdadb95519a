"""polly-pipeline-browser: play a pipeline's speech in a web browser while it is generated.

::

    async with BrowserSink() as browser:        # prints the page's address
        await browser.wait_for_client(timeout=60)
        report = await Pipeline(session).run(tokens, browser)

Registered as the ``browser`` sink (entry point group ``polly_pipeline.sinks``).
"""

from __future__ import annotations

from polly_pipeline_browser.protocol import ClientInfo, PlaybackEvent, PlaybackKind
from polly_pipeline_browser.sink import BrowserSink, NoBrowserError, SentFrame

__all__ = [
    "BrowserSink",
    "ClientInfo",
    "NoBrowserError",
    "PlaybackEvent",
    "PlaybackKind",
    "SentFrame",
]
