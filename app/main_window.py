"""The main window: live video with landmark overlay, the transcript, menus, status bar.

Everything the engine does reaches the window through :class:`~app.bridge.EngineBridge`
signals (queued to the GUI thread); the window only draws the newest frame it gets.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
)

from app.bridge import EngineBridge
from app.overlay import draw_landmarks, rgb_to_qimage
from app.transcript import Transcript, to_srt, to_text
from engine.atomic import atomic_write_text
from engine.errors import SignStreamError
from engine.events import FrameEvent, GlossEvent, StatsEvent
from engine.model import ModelInfo, read_model_info

__all__ = ["MainWindow", "run_app"]

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / "asl-coffee-student.onnx"
SOURCE_FILTER = "Videos and recordings (*.mp4 *.avi *.mov *.mkv *.webm *.gif *.pose);;All files (*)"


def lm_beside(model: Path) -> Path | None:
    """The LM shipped next to a model (same name, .klm or .arpa), if any."""
    for suffix in (".klm", ".arpa"):
        if model.with_suffix(suffix).is_file():
            return model.with_suffix(suffix)
    return None


class MainWindow(QMainWindow):
    def __init__(self, model: Path | None = DEFAULT_MODEL) -> None:
        super().__init__()
        self.setWindowTitle("SignStream")
        self.resize(1100, 640)
        self.bridge = EngineBridge()
        self.bridge.frame.connect(self.on_frame)
        self.bridge.gloss.connect(self.on_gloss)
        self.bridge.stats.connect(self.on_stats)
        self.bridge.error.connect(self.on_error)
        self.bridge.finished.connect(self.on_finished)
        self.bridge.model_changed.connect(self.on_model_changed)
        self.error_box: QMessageBox | None = None
        self.frames_shown = 0
        self._last_stats: StatsEvent | None = None

        self.video = QLabel("File > Open video… or Source > Camera to start")
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(320, 240)
        self.video.setStyleSheet("background: #111; color: #ccc;")
        self.transcript = Transcript()
        split = QSplitter()
        split.addWidget(self.video)
        split.addWidget(self.transcript)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.setCentralWidget(split)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self._build_menus()
        if model is not None and Path(model).is_file():
            self.load_model(Path(model))
        self._show_status()

    # ------------------------------------------------------------------ menus
    def _action(self, menu, text: str, slot, shortcut=None, checkable=False, checked=False):  # type: ignore[no-untyped-def]
        action = QAction(text, self, checkable=checkable, checked=checked)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._action(
            f, "&Open video or recording…", self.choose_source, QKeySequence.StandardKey.Open
        )
        self._action(f, "&Save transcript…", self.save_transcript, QKeySequence.StandardKey.Save)
        self._action(f, "&Clear transcript", self.transcript.clear_all)
        self._action(f, "Copy transcript", self.copy_transcript)
        self._action(f, "S&top", self.bridge.stop)
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        src = bar.addMenu("&Source")
        self._action(src, "Camera &0", lambda: self.open_source("webcam:0"))
        self._action(src, "Camera &1", lambda: self.open_source("webcam:1"))

        self.model_menu = bar.addMenu("&Model")
        self._fill_model_menu()

        view = bar.addMenu("&View")
        self.overlay_action = self._action(
            view, "Landmark &overlay", lambda: None, checkable=True, checked=True
        )
        self.mirror_action = self._action(
            view, "&Mirror like a mirror", lambda: None, checkable=True, checked=True
        )
        self._action(view, "&Large text", self.transcript.set_large, checkable=True)

    def _fill_model_menu(self) -> None:
        menu = self.model_menu
        menu.clear()
        group = QActionGroup(self)
        for path in sorted(MODELS_DIR.glob("*.onnx")):
            try:
                info = read_model_info(path)
            except SignStreamError:
                continue  # not a SignStream model: not offered
            wer = info.heldout.get("wer_beam_lm")
            label = f"{info.name}: {len(info.vocabulary)} glosses" + (
                f", held-out WER {100 * wer:.1f}%" if isinstance(wer, float) else ""
            )
            action = self._action(
                menu, label, lambda _=False, p=path: self.load_model(p), checkable=True
            )
            action.setData(str(path))
            group.addAction(action)
        if not group.actions():
            none = QAction("No models installed (models/*.onnx)", self)
            none.setEnabled(False)
            menu.addAction(none)
        menu.addSeparator()
        self._action(menu, "Open ONNX model…", self.choose_model)

    # ------------------------------------------------------------------ actions
    @Slot()
    def choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or recording", "", SOURCE_FILTER)
        if path:
            self.open_source(path)

    def open_source(self, source: str | Path, realtime: bool = True) -> None:
        try:
            self.bridge.start(str(source), realtime=realtime)
        except SignStreamError as e:
            self.on_error(str(e), True)
            return
        self.statusBar().showMessage(f"Playing {source}")

    @Slot()
    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(MODELS_DIR), "ONNX (*.onnx)")
        if path:
            self.load_model(Path(path))

    def load_model(self, path: Path) -> None:
        try:
            self.bridge.load_model(path, lm_beside(path))
        except SignStreamError as e:
            self.on_error(f"{e}\n\nThe previous model stays in use.", False)

    @Slot()
    def save_transcript(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save transcript", "transcript.srt", "Subtitles (*.srt);;Text (*.txt)"
        )
        if path:
            self.write_transcript(Path(path))

    def write_transcript(self, path: Path) -> None:
        entries = self.transcript.entries
        text = to_srt(entries) if path.suffix.lower() == ".srt" else to_text(entries)
        atomic_write_text(path, text)
        self.statusBar().showMessage(f"Saved {len(entries)} lines to {path}", 5000)

    @Slot()
    def copy_transcript(self) -> None:
        QApplication.clipboard().setText(to_text(self.transcript.entries))

    # ------------------------------------------------------------------ engine events
    @Slot(object)
    def on_frame(self, event: FrameEvent) -> None:
        if event.image is None:
            return
        mirror = self.mirror_action.isChecked()
        image = rgb_to_qimage(event.image[:, ::-1].copy() if mirror else event.image)
        if self.overlay_action.isChecked():
            draw_landmarks(image, event.points, event.present, mirror=mirror)
        pixmap = QPixmap.fromImage(image).scaled(
            self.video.size(),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.video.setPixmap(pixmap)
        self.frames_shown += 1

    @Slot(object)
    def on_gloss(self, event: GlossEvent) -> None:
        self.transcript.add(event)

    @Slot(object)
    def on_stats(self, event: StatsEvent) -> None:
        self._last_stats = event
        self._show_status()

    @Slot(str, bool)
    def on_error(self, message: str, fatal: bool) -> None:
        self.statusBar().showMessage(message)
        # open(), not exec(): the message must not block the event loop (frames keep coming)
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, "SignStream", message, parent=self)
        self.error_box.open()

    @Slot()
    def on_finished(self) -> None:
        self.statusBar().showMessage("Stopped", 5000)

    @Slot(object)
    def on_model_changed(self, info: ModelInfo | None) -> None:
        for action in self.model_menu.actions():
            if action.isCheckable():
                action.setChecked(info is not None and action.data() == info.path)
        self._show_status()

    def _show_status(self) -> None:
        info = self.bridge.model_info
        model = (
            "no model (landmarks only)" if info is None else f"{info.name} ({self.bridge.provider})"
        )
        s = self._last_stats
        if s is None:
            self.status.setText(model)
            return
        latency = s.stage_ms.get("model", 0.0) + s.stage_ms.get("decoder", 0.0)
        self.status.setText(
            f"in {s.input_fps:4.1f} fps | processed {s.processed_fps:4.1f} fps | landmarks "
            f"{s.stage_ms.get('landmarks', 0.0):.0f} ms | model+decoder {latency:.1f} ms | {model}"
        )

    def closeEvent(self, event: object) -> None:
        self.bridge.close()
        super().closeEvent(event)  # type: ignore[arg-type]


def run_app(argv: list[str] | None = None) -> int:
    """Open the window (and a video given on the command line); returns the exit code."""
    args = sys.argv if argv is None else argv
    app = QApplication.instance() or QApplication(args)
    window = MainWindow()
    window.show()
    files = [a for a in args[1:] if Path(a).exists()]
    if files:
        window.open_source(files[0])
    return int(app.exec())
