"""Text layer: what the markdown cleaner does with code, emoji, links, tables and markup.

:class:`CleanOptions` is the configuration of :class:`~polly_pipeline.text.MarkdownCleaner`
(also importable from :mod:`polly_pipeline.text.clean`), checked when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from polly_pipeline.errors import ConfigurationError

__all__ = ["CleanOptions", "CodeBlockPolicy"]

CodeBlockPolicy = Literal["skip", "announce", "read"]


@dataclass(frozen=True)
class CleanOptions:
    """How markdown becomes speakable text.

    Attributes:
        code_blocks: fenced code blocks are dropped (``skip``), replaced by
            ``code_announcement`` (``announce``) or spoken line by line (``read``).
        code_announcement: what ``announce`` says instead of a code block.
        drop_emoji: remove emoji (a dropped emoji separates words like a space).
        speak_link_text: speak a link's text; when False links vanish entirely.
        ssml_escape: escape ``&``, ``<`` and ``>`` for embedding in an SSML document.
        table_cell_separator: written between the non-empty cells of a table row.
    """

    code_blocks: CodeBlockPolicy = "announce"
    code_announcement: str = "Here is a code sample."
    drop_emoji: bool = True
    speak_link_text: bool = True
    ssml_escape: bool = False
    table_cell_separator: str = ", "

    def __post_init__(self) -> None:
        if self.code_blocks not in get_args(CodeBlockPolicy):
            choices = ", ".join(get_args(CodeBlockPolicy))
            raise ConfigurationError(
                f"code_blocks must be one of {choices}, not {self.code_blocks!r}"
            )
        for name in ("code_announcement", "table_cell_separator"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(f"{name} must be a string")
