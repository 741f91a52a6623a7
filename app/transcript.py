"""The transcript: committed glosses with their times, the live partial hypothesis after them."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QTextBrowser

from engine.events import GlossEvent

__all__ = ["Transcript", "TranscriptEntry", "to_srt", "to_text"]

NORMAL_POINT_SIZE = 13
LARGE_POINT_SIZE = 32  # readable from across a room


@dataclass(frozen=True)
class TranscriptEntry:
    start: float  # seconds on the source's clock
    end: float
    text: str  # glosses, space separated
    confidence: float


def _clock(seconds: float, srt: bool = False) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}" if srt else f"{h * 60 + m:02d}:{s:02d}"


def to_text(entries: list[TranscriptEntry], sections: list[tuple[int, str]] | None = None) -> str:
    """One line per entry; ``sections`` (entry index, source name) add a ``--- name ---`` line
    where each source starts."""
    heads: dict[int, list[str]] = {}
    for index, name in sections or []:
        heads.setdefault(index, []).append(name)
    lines = []
    for i in range(len(entries) + 1):
        lines += [f"--- {name} ---\n" for name in heads.get(i, [])]
        if i < len(entries):
            lines.append(f"[{_clock(entries[i].start)}] {entries[i].text}\n")
    return "".join(lines)


def to_srt(entries: list[TranscriptEntry]) -> str:
    blocks = [
        f"{i}\n{_clock(e.start, True)} --> {_clock(max(e.end, e.start + 0.5), True)}\n{e.text}\n"
        for i, e in enumerate(entries, 1)
    ]
    return "\n".join(blocks)


class Transcript(QTextBrowser):
    """Committed lines in the normal style, the partial hypothesis lighter and in italics."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[TranscriptEntry] = []
        # (index into entries, source name): where each source's lines start
        self.sections: list[tuple[int, str]] = []
        self.partial = ""
        self.partial_start = 0.0  # seconds: where the partial hypothesis starts
        self._large = False
        self.setPlaceholderText("Recognised glosses appear here.")
        self._apply_font()

    def add(self, event: GlossEvent) -> None:
        if event.is_commit:
            if event.glosses:
                self.entries.append(
                    TranscriptEntry(event.start, event.end, event.text, event.confidence)
                )
            self.partial = ""
        else:
            self.partial, self.partial_start = event.text, event.start
        self._render()

    def add_source(self, name: str) -> None:
        """A new source starts: a separator line with its name (the lines before are kept;
        the old source's unfinished partial is gone with it)."""
        self.sections.append((len(self.entries), name))
        self.partial = ""
        self._render()

    def clear_all(self) -> None:
        self.entries, self.sections, self.partial = [], [], ""
        self._render()

    @property
    def large(self) -> bool:
        return self._large

    def set_large(self, large: bool) -> None:
        self._large = bool(large)
        self._apply_font()
        self._render()  # the HTML carries no sizes: re-rendered, it takes the new font

    def _apply_font(self) -> None:
        font = QFont(self.font())
        font.setPointSize(LARGE_POINT_SIZE if self._large else NORMAL_POINT_SIZE)
        self.setFont(font)

    def _render(self) -> None:
        heads: dict[int, list[str]] = {}
        for index, name in self.sections:
            heads.setdefault(index, []).append(name)
        lines = []
        for i in range(len(self.entries) + 1):
            lines += [
                f'<div style="color:#6a8caf">── {html.escape(name)} ──</div>'
                for name in heads.get(i, [])
            ]
            if i < len(self.entries):
                e = self.entries[i]
                lines.append(
                    f'<div><span style="color:#888">{_clock(e.start)}</span> '
                    f"{html.escape(e.text)}</div>"
                )
        if self.partial:
            lines.append(
                f'<div style="color:#aaa"><span>{_clock(self.partial_start)}</span> '
                f"<i>{html.escape(self.partial)} …</i></div>"
            )
        self.setHtml("".join(lines))
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())
