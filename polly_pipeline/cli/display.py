"""CLI layer: the answer text as it streams, with a live status line below it on a terminal.

On a terminal the text is word-wrapped here, so the status line under it can be redrawn
without disturbing it. Piped, the text goes out plainly as it arrives and the summary line
follows; no control characters are ever written there (not even ones the model sent).
``quiet`` keeps only the summary.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from typing import TextIO

from polly_pipeline.pipeline import PipelineReport
from polly_pipeline.text import MarkdownCleaner

__all__ = ["Display", "plain"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """``text`` without control characters (newlines and tabs kept, tabs as spaces)."""
    return _CONTROL.sub("", text.replace("\r\n", "\n")).replace("\t", "    ")


def status_line(report: PipelineReport) -> str:
    """The live progress of one answer."""
    first = report.time_to_first_audio
    return (
        f"tokens {report.tokens_in:4d} | segments sent {report.segments_sent:3d} | "
        f"audio {report.audio_seconds:5.1f} s | first audio "
        f"{'-' if first is None else f'{first:.2f} s'}"
    )


class Display:
    """Writes the answer text and the status line to ``out``.

    Args:
        out: where the text goes (standard output).
        quiet: only summary lines.
        terminal: draw the live status line (default: ``out`` is a terminal).
    """

    def __init__(
        self, out: TextIO | None = None, *, quiet: bool = False, terminal: bool | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.terminal = (not quiet) and (self.out.isatty() if terminal is None else terminal)
        self._cleaner = MarkdownCleaner()
        self._line = ""  # the unfinished text line (terminal)
        self._status = ""
        self._drawn = False
        self._last_draw = 0.0
        self._ended_line = True  # piped: the text ended with a newline

    # -- text -----------------------------------------------------------------------------------

    def begin(self, label: str = "") -> None:
        """A new answer starts (``label`` such as ``assistant> `` precedes it)."""
        self._cleaner = MarkdownCleaner()
        if label and not self.quiet:
            self._text(label)

    def feed(self, raw: str) -> None:
        """Model text as it arrives (markdown): shown cleaned, as it will be spoken."""
        if not self.quiet:
            self._text(self._cleaner.feed(raw))

    def end(self) -> None:
        """The answer is complete: flush the text, remove the status line."""
        if self.quiet:
            return
        self._text(self._cleaner.flush())
        if self.terminal:
            self._erase()
            if self._line:
                self.out.write(self._line + "\n")
            self._line = ""
            self._status = ""
        elif not self._ended_line:
            self.out.write("\n")
            self._ended_line = True
        self.out.flush()

    def _text(self, text: str) -> None:
        text = plain(text)
        if not text:
            return
        if not self.terminal:
            self.out.write(text)
            self.out.flush()
            self._ended_line = text.endswith("\n")
            return
        self._erase()
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
        for part in re.split(r"(\n)", text):
            if part == "\n":
                self.out.write(self._line + "\n")
                self._line = ""
                continue
            self._line += part
            while len(self._line) > width:
                cut = self._line.rfind(" ", 0, width + 1)
                cut = cut if cut > 0 else width
                self.out.write(self._line[:cut].rstrip() + "\n")
                self._line = self._line[cut:].lstrip(" ")
        self._draw()

    # -- status line ----------------------------------------------------------------------------

    def progress(self, report: PipelineReport) -> None:
        """Redraw the status line (at most ten times a second)."""
        if not self.terminal:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1:
            return
        self._status = status_line(report)
        self._erase()
        self._draw()

    def _erase(self) -> None:
        if self._drawn:
            # clear the status line, then the unfinished text line above it
            self.out.write("\r\x1b[K\x1b[A\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        self.out.write(self._line + "\n\x1b[2m" + self._status + "\x1b[0m")
        self.out.flush()
        self._drawn = True
        self._last_draw = time.monotonic()

    def prompt(self, text: str) -> None:
        """Ask for input on a terminal (``you> ``)."""
        if self.terminal:
            self._erase()
            self.out.write(text)
            self.out.flush()

    # -- lines ----------------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A whole line (a summary): always shown, even when quiet."""
        if self.terminal:
            self._erase()
            if self._line:
                self.out.write(self._line + "\n")
                self._line = ""
        elif not self._ended_line:
            self.out.write("\n")
        self.out.write(plain(text) + "\n")
        self._ended_line = True
        self.out.flush()
