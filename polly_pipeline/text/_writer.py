"""Text layer: the speakable-text writer behind the markdown cleaner.

Whitespace, sentence ends and table-cell separators inside a block are decided lazily: they
are written only when more speech follows, so runs of spaces collapse and a sentence end can
still add its period right after the last word. The end of a block (a heading, a list item, a
table row, a paragraph) is settled the moment it is seen: its period and a newline are written
at once, so the sentence can be spoken before the next line arrives.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SpeechWriter"]

_CLOSERS: Final = "\"'”’)]}»」』）】"
#: A unit that already ends with one of these gets no extra period.
_ENDS: Final = frozenset(".!?…:;,。！？、，：；")
#: A unit that ends with one of these ends a sentence.
_FINAL: Final = frozenset(".!?…。！？")
#: Punctuation that attaches to the previous word even across a pending space (a dropped
#: emoji or link must not leave "Great job !" behind). French spacing is normalised the same
#: way on purpose: the (narrow no-break) space French typography puts before ``? ! : ;``
#: carries no speech, so "Tu viens ce soir ? Oui" becomes "Tu viens ce soir? Oui": one billed
#: character less per mark, and the segmenter sees one word ending a sentence, as in every
#: other language (it also cuts after a lone "?" when fed French text directly).
_ATTACHED: Final = frozenset(".,!?;:…。！？、，")
_SSML: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

# Pending separators, weakest first; a stronger one replaces a weaker one.
_NONE, _SPACE, _CELL, _STOP = 0, 1, 2, 3
_EMIT: Final = 4


class SpeechWriter:
    """Collects speakable text for one turn; see the module docstring."""

    def __init__(self, *, ssml_escape: bool, cell_separator: str) -> None:
        self._escape = ssml_escape
        self._cell = cell_separator.translate(_SSML) if ssml_escape else cell_separator
        self._parts: list[str] = []
        self._started = False
        self._pending = _NONE
        self._tail = ""
        self._diverted: list[list[tuple[int, str]]] = []
        self._broken = False  # a newline was written after the last visible text
        #: How many pieces of visible text were written (diverted pieces not counted).
        self.emitted = 0

    def reset(self) -> None:
        """Forget everything (a new turn)."""
        self._parts.clear()
        self._started = False
        self._pending = _NONE
        self._tail = ""
        self._diverted.clear()
        self._broken = False
        self.emitted = 0

    def emit(self, text: str) -> None:
        """Write visible text (no whitespace inside), after any pending separator."""
        if self._diverted:
            self._diverted[-1].append((_EMIT, text))
            return
        if self._broken:
            self._broken = False
        elif self._started and self._pending:
            if self._pending == _STOP:
                if self._needs_period():
                    self._parts.append(self._period())
                self._parts.append(" ")
            elif self._pending == _CELL:
                self._parts.append(" " if self._last() in _ENDS else self._cell)
            elif text[0] not in _ATTACHED:
                self._parts.append(" ")
        self._pending = _NONE
        self._parts.append(text.translate(_SSML) if self._escape else text)
        self._started = True
        self._tail = (self._tail + text)[-4:]
        self.emitted += 1

    def emit_text(self, text: str) -> None:
        """Write text that may contain whitespace (collapsed to single spaces)."""
        words = text.split()
        if text[:1].isspace():
            self.space()
        for n, word in enumerate(words):
            if n:
                self.space()
            self.emit(word)
        if words and text[-1:].isspace():
            self.space()

    def space(self) -> None:
        """Separate what follows from what came before by one space."""
        self._mark(_SPACE)

    def cell(self) -> None:
        """Separate table cells (the configured separator, if another cell follows)."""
        self._mark(_CELL)

    def stop(self) -> None:
        """End the current sentence (adds a period if it lacks one and speech follows)."""
        self._mark(_STOP)

    def end_block(self, *, period: bool = True) -> None:
        """End a block now: write its period (if it lacks one) and a newline at once.

        With ``period=False`` only a line that already ends a sentence is settled (its newline
        written); otherwise nothing changes.
        """
        if self._diverted:
            if period:
                self._diverted[-1].append((_STOP, ""))
            return
        if not self._started or self._broken:
            return
        if not period and self._tail.rstrip(_CLOSERS)[-1:] not in _FINAL:
            return
        if self._needs_period():
            self._parts.append(self._period())
            self._tail = (self._tail + ".")[-4:]
        self._parts.append("\n")
        self._pending = _NONE
        self._broken = True

    def divert(self) -> None:
        """Hold what is written from now on until :meth:`undivert` decides its fate."""
        self._diverted.append([])

    def undivert(self, *, keep: bool) -> None:
        """Release the innermost held writes (``keep``) or discard them."""
        ops = self._diverted.pop()
        if keep:
            for op, text in ops:
                if op == _EMIT:
                    self.emit(text)
                else:
                    self._mark(op)

    def take(self) -> str:
        """The text written since the last call."""
        out = "".join(self._parts)
        self._parts.clear()
        return out

    def finish(self) -> str:
        """End of turn: resolve a pending sentence end, drop trailing whitespace."""
        while self._diverted:
            self.undivert(keep=True)
        if self._started and self._pending == _STOP and self._needs_period():
            self._parts.append(self._period())
        self._pending = _NONE
        return self.take()

    def _mark(self, level: int) -> None:
        if self._broken:
            return  # the newline already separates what follows
        if self._diverted:
            self._diverted[-1].append((level, ""))
        elif level > self._pending:
            self._pending = level

    def _period(self) -> str:
        """The period that ends the current sentence ("。" after CJK text)."""
        return "。" if _wide(self._last()) else "."

    def _last(self) -> str:
        return self._tail[-1:]

    def _needs_period(self) -> bool:
        core = self._tail.rstrip(_CLOSERS)
        return not core or core[-1] not in _ENDS


def _wide(ch: str) -> bool:
    """Whether ``ch`` is a CJK character (its sentence takes "。", not ".")."""
    return "\u3040" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"
