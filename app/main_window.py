"""The main window: video with landmark overlay, transcript, menus, status bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QSplitter,
)

from app.overlay import draw_landmarks, rgb_to_qimage
from app.preview import LandmarkPreview
from engine.extractor import FrameLandmarks

__all__ = ["MainWindow", "run_app"]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.gif);;All files (*)"
FPS_SMOOTHING = 0.9  # exponential smoothing of the displayed frame rate


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("SignStream")
        self.resize(1100, 640)
        self.preview = LandmarkPreview()
        self.preview.frame_ready.connect(self.on_frame)
        self.preview.failed.connect(self.on_failed)
        self.preview.finished.connect(self.on_finished)
        self._fps = 0.0
        self._last_frame_time: float | None = None
        self.error_box: QMessageBox | None = None
        self.frames_shown = 0

        self.video = QLabel("Open a video (File > Open video…) to see its landmarks")
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(320, 240)
        self.video.setStyleSheet("background: #111; color: #ccc;")
        self.transcript = QPlainTextEdit()
        self.transcript.setReadOnly(True)
        self.transcript.setPlaceholderText("Recognised glosses appear here when a model is loaded.")
        split = QSplitter()
        split.addWidget(self.video)
        split.addWidget(self.transcript)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.setCentralWidget(split)
        self._build_menus()
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self._show_status(ms=None)

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_video = QAction("&Open video…", self)
        open_video.setShortcut(QKeySequence.StandardKey.Open)
        open_video.triggered.connect(self.choose_video)
        file_menu.addAction(open_video)
        stop = QAction("&Stop", self)
        stop.triggered.connect(self.preview.stop)
        file_menu.addAction(stop)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        view = self.menuBar().addMenu("&View")
        self.overlay_action = QAction("Landmark &overlay", self, checkable=True, checked=True)
        self.mirror_action = QAction("&Mirror like a mirror", self, checkable=True, checked=True)
        view.addAction(self.overlay_action)
        view.addAction(self.mirror_action)

        models = self.menuBar().addMenu("&Models")
        found = sorted(MODELS_DIR.glob("*.onnx"))
        if not found:
            none = QAction("No models installed (models/*.onnx)", self)
            none.setEnabled(False)
            models.addAction(none)
        for path in found:
            models.addAction(QAction(path.stem, self, enabled=False))

    # ------------------------------------------------------------------ actions
    @Slot()
    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path) -> None:
        self.statusBar().showMessage(f"Playing {Path(path).name}")
        self._last_frame_time = None
        self.preview.start(path)

    # ------------------------------------------------------------------ engine events
    @Slot(object, object, float)
    def on_frame(self, frame: npt.NDArray[np.uint8], landmarks: FrameLandmarks, ms: float) -> None:
        mirror = self.mirror_action.isChecked()
        image = rgb_to_qimage(frame[:, ::-1].copy() if mirror else frame)
        if self.overlay_action.isChecked():
            draw_landmarks(image, landmarks, mirror=mirror)
        pixmap = QPixmap.fromImage(image).scaled(
            self.video.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.video.setPixmap(pixmap)
        self.frames_shown += 1
        now = time.perf_counter()
        if self._last_frame_time is not None and now > self._last_frame_time:
            rate = 1.0 / (now - self._last_frame_time)
            self._fps = (
                rate if self._fps == 0 else FPS_SMOOTHING * self._fps + (1 - FPS_SMOOTHING) * rate
            )
        self._last_frame_time = now
        self._show_status(ms)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
        # open(), not exec(): the message must not block the event loop (frames, other events)
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, "SignStream", message, parent=self)
        self.error_box.open()

    @Slot()
    def on_finished(self) -> None:
        self.statusBar().showMessage("Stopped", 5000)

    def _show_status(self, ms: float | None) -> None:
        landmarks = "–" if ms is None else f"{ms:.0f} ms"
        self.status.setText(f"{self._fps:4.1f} fps | landmarks {landmarks} | no model loaded")

    def closeEvent(self, event: object) -> None:
        self.preview.stop()
        super().closeEvent(event)  # type: ignore[arg-type]


def run_app(argv: list[str] | None = None) -> int:
    """Open the window (and a video given on the command line); returns the exit code."""
    args = sys.argv if argv is None else argv
    app = QApplication.instance() or QApplication(args)
    window = MainWindow()
    window.show()
    files = [a for a in args[1:] if Path(a).is_file()]
    if files:
        window.open_video(files[0])
    return int(app.exec())
