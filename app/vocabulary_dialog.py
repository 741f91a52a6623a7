"""Help > Vocabulary: the glosses of the model in use, and how each is signed.

The list is the model's own vocabulary (with sample counts where known); choosing a gloss plays
its preview (:class:`~app.sign_preview.SignPreview`): two or three real people of the training
data, one after the other, as skeletons. A model without previews, or whose previews file is
damaged, still lists its glosses; the preview area says why there is nothing to play.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QListWidget, QVBoxLayout, QWidget

from app.sign_preview import SignPreview
from engine.previews import Previews

__all__ = ["VocabularyDialog"]


class VocabularyDialog(QDialog):
    """``lines``: one per gloss of ``glosses`` (same order); ``previews`` None: ``why`` says
    why there are none."""

    def __init__(
        self,
        glosses: Sequence[str],
        lines: Sequence[str],
        note: str,
        previews: Previews | None,
        why: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Vocabulary")
        self.glosses = tuple(glosses)
        self.previews = previews
        self.why = why
        label = QLabel(note)
        label.setWordWrap(True)
        self.listing = QListWidget()
        self.listing.addItems(list(lines))
        self.preview = SignPreview()
        self.source = QLabel(self._source_text())
        self.source.setWordWrap(True)
        right = QVBoxLayout()
        right.addWidget(self.preview, 1)
        right.addWidget(self.source)
        row = QHBoxLayout()
        row.addWidget(self.listing, 2)
        row.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addLayout(row, 1)
        self.listing.currentRowChanged.connect(self.show_row)
        self.resize(640, 480)
        if self.glosses:
            self.listing.setCurrentRow(0)
        else:
            self.preview.show_message(why or "No model is loaded.")

    def _source_text(self) -> str:
        if self.previews is None:
            return ""
        where = self.previews.source or "the model's training data"
        return f"Landmarks of real people signing ({where}); no video of anyone is stored."

    @Slot(int)
    def show_row(self, row: int) -> None:
        """Play the preview of the gloss in ``row`` of the list."""
        if not 0 <= row < len(self.glosses):
            return
        gloss = self.glosses[row]
        if self.previews is None:
            self.preview.show_message(self.why)
            return
        self.preview.set_clips(self.previews.of(gloss), f"No preview of “{gloss}” in this model.")

    @property
    def gloss(self) -> str | None:
        """The gloss chosen in the list."""
        row = self.listing.currentRow()
        return self.glosses[row] if 0 <= row < len(self.glosses) else None
