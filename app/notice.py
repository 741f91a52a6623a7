"""An inline notice above the video: one failure, one message, never a stack of dialogs.

The engine can fail on every frame (a video MediaPipe cannot read, a camera that keeps timing
out); a modal dialog per failure buries the window. :class:`NoticeBar` shows the newest message
in one line with a count of repeats, the whole text behind "Details…", and stays until closed
or replaced. A modal dialog is kept for what the user must answer.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

__all__ = ["NoticeBar"]

# the same message again within this many seconds only counts up (no redraw storm)
REPEAT_WINDOW_S = 30.0
STYLES = {
    "error": "background: #5a1d1d; color: #fdd; border-radius: 3px;",
    "info": "background: #1d3a5a; color: #def; border-radius: 3px;",
}


class NoticeBar(QFrame):
    """One line: icon-less text, ``(×N)`` for repeats, Details… and a close button."""

    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = ""  # the whole text of the message shown ("" while hidden)
        self.count = 0  # how often it came (1 = once)
        self.level = "error"
        self.shown_total = 0  # messages that changed what the bar shows (for tests, status)
        self._last_at = 0.0
        self.details_box: QMessageBox | None = None
        self.label = QLabel()
        self.label.setWordWrap(False)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details…")
        self.details_button.setFlat(True)
        self.details_button.clicked.connect(self.show_details)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setFixedWidth(28)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 2, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button)
        layout.addWidget(close)
        self.hide()

    def show_message(self, message: str, level: str = "error") -> None:
        """Show ``message`` (the first line in the bar, all of it under Details…); the same
        message again soon after only counts up."""
        now = time.monotonic()
        if message == self.message and self.isVisible() and now - self._last_at < REPEAT_WINDOW_S:
            self.count += 1
        else:
            self.message, self.count, self.level = message, 1, level
            self.shown_total += 1
        self._last_at = now
        first = message.strip().splitlines()[0] if message.strip() else message
        self.label.setText(first + (f"  (×{self.count})" if self.count > 1 else ""))
        self.label.setToolTip(message)
        self.details_button.setVisible(message.strip() != first)
        self.setStyleSheet(f"NoticeBar {{ {STYLES.get(level, STYLES['error'])} }}")
        self.show()

    @property
    def first_line(self) -> str:
        return self.label.text()

    @Slot()
    def show_details(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "SignStream", self.message, parent=self)
        box.open()  # open(), not exec(): frames keep coming while it is read
        self.details_box = box

    @Slot()
    def dismiss(self) -> None:
        self.message, self.count = "", 0
        self.hide()
        self.closed.emit()
