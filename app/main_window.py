"""The main window: live video with landmark overlay, the transcript, menus, status bar.

Everything the engine does reaches the window through :class:`~app.bridge.EngineBridge`
signals (queued to the GUI thread); the window only draws the newest frame it gets. Settings
(:mod:`app.settings`) are saved as soon as they change, so a crash does not lose them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import QByteArray, QSettings, Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.cameras import RESOLUTIONS, Camera, list_cameras
from app.catalog import (
    MODELS_DIR,
    ModelEntry,
    checkpoint_for,
    find_models,
    lm_beside,
    sample_counts,
    user_data_dir,
)
from app.fit_dialog import FitDialog
from app.notice import NoticeBar
from app.overlay import blank_canvas, draw_landmarks, rgb_to_qimage
from app.record_dialog import RecordDialog
from app.recording import RecordingStore
from app.settings import (
    default_qsettings,
    load_settings,
    remember_model,
    save_settings,
)
from app.sign_preview import model_previews
from app.transcript import Transcript, to_srt, to_text
from app.vocabulary_dialog import VocabularyDialog
from engine import __version__
from engine.atomic import atomic_write_text
from engine.decoder import DecoderConfig
from engine.demo import demo_glosses, demo_recordings
from engine.errors import SignStreamError
from engine.events import EndEvent, FrameEvent, GlossEvent, StartEvent, StatsEvent
from engine.model import ModelInfo
from engine.model_index import default_model
from engine.streaming import DEFAULT_SETTLE_S, StreamingConfig

__all__ = ["DEFAULT_MODEL", "MainWindow", "lm_beside", "no_display_reason", "run_app"]


def _shipped_default() -> Path | None:
    """models/index.json's default model; None (the window opens without a model, and the Model
    menu says why each shipped file was left out) when the index cannot be read."""
    try:
        return default_model(MODELS_DIR)
    except SignStreamError:
        return None


DEFAULT_MODEL = _shipped_default()
SOURCE_FILTER = "Videos and recordings (*.mp4 *.avi *.mov *.mkv *.webm *.gif *.pose);;All files (*)"
ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # LM weights offered besides the model's own
BEAM_WIDTHS = (1, 5, 10, 20, 50)
PAUSES_S = (0.2, 0.3, 0.5, 0.8, 1.2)  # rests that commit, offered (the engine's default 0.3)


class MainWindow(QMainWindow):
    """``model``: the model to start with; ``"remembered"`` the one of the last run (else the
    shipped default); None none. ``settings``: where settings live (tests pass a temporary
    file). ``data_dir``: the user data folder (recordings, taught models)."""

    def __init__(
        self,
        model: Path | Literal["remembered"] | None = "remembered",
        settings: QSettings | None = None,
        data_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("SignStream")
        self.resize(1100, 640)
        self.store = settings if settings is not None else default_qsettings()
        self.prefs = load_settings(self.store)
        self.data_dir = data_dir if data_dir is not None else user_data_dir()
        self.user_models_dir = self.data_dir / "models"
        self.bridge = EngineBridge()
        self.bridge.frame.connect(self.on_frame)
        self.bridge.gloss.connect(self.on_gloss)
        self.bridge.stats.connect(self.on_stats)
        self.bridge.error.connect(self.on_error)
        self.bridge.started.connect(self.on_started)
        self.bridge.ended.connect(self.on_ended)
        self.bridge.finished.connect(self.on_finished)
        self.bridge.model_changed.connect(self.on_model_changed)
        self.bridge.set_streaming(self.streaming_config())  # before any model is loaded
        self.notice = NoticeBar()
        self.frames_shown = 0
        self.source_started: StartEvent | None = None  # the source playing (or last played)
        self.last_end: EndEvent | None = None  # the summary of the last source that ended
        self.model_entries: list[ModelEntry] = []
        self.cameras: list[Camera] = []
        self.record_dialog: RecordDialog | None = None
        self.fit_dialog: FitDialog | None = None
        self._last_stats: StatsEvent | None = None

        self.video = QLabel(
            "File > Open video…, or Source > a camera to start\n\n"
            "No camera? Help > Play a demo: a real signer's sentence"
        )
        self.video.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(320, 240)
        self.video.setStyleSheet("background: #111; color: #ccc;")
        self.transcript = Transcript()
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.notice)
        self.fit_offer = self._fit_offer_bar()
        column.addWidget(self.fit_offer)
        column.addWidget(self.video, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self._transcript_panel())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        self.setCentralWidget(split)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)
        self._build_menus()
        self.transcript.set_large(self.prefs.large_text)
        if self.prefs.geometry:
            self.restoreGeometry(QByteArray(self.prefs.geometry))
        if model == "remembered":
            remembered = Path(self.prefs.model) if self.prefs.model else None
            model = remembered if remembered is not None and remembered.is_file() else None
            model = model or (DEFAULT_MODEL if DEFAULT_MODEL and DEFAULT_MODEL.is_file() else None)
        if model is not None and Path(model).is_file():
            self.load_model(Path(model))
        self._show_status()

    # ------------------------------------------------------------------ settings
    def update_prefs(self, **changes: Any) -> None:
        self.prefs = dataclasses.replace(self.prefs, **changes)
        save_settings(self.store, self.prefs)

    # ------------------------------------------------------------------ layout, menus
    def _transcript_panel(self) -> QWidget:
        panel = QWidget()
        buttons = QHBoxLayout()
        for text, slot in (
            ("Clear", self.transcript.clear_all),
            ("Copy", self.copy_transcript),
            ("Save…", self.save_transcript),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        self.large_button = QPushButton("Large text")
        self.large_button.setCheckable(True)
        self.large_button.setChecked(self.prefs.large_text)
        self.large_button.toggled.connect(self.set_large_text)
        buttons.addWidget(self.large_button)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.transcript)
        return panel

    def _action(
        self, menu: QMenu, text: str, slot: Any, shortcut: Any = None, checkable: bool = False,
        checked: bool = False,
    ) -> QAction:  # fmt: skip
        action = QAction(text, self, checkable=checkable, checked=checked)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _disabled(self, menu: QMenu, text: str, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setEnabled(False)
        action.setToolTip(tip)
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

        self.source_menu = bar.addMenu("&Source")
        self.resolution_menu = QMenu("&Resolution", self)
        group = QActionGroup(self)
        for size in RESOLUTIONS:
            label = "Camera's default" if size is None else f"{size[0]} × {size[1]}"
            action = self._action(
                self.resolution_menu, label, lambda _=False, s=size: self.set_resolution(s),
                checkable=True, checked=size == self.prefs.resolution,
            )  # fmt: skip
            group.addAction(action)
        self.fill_source_menu()

        self.model_menu = bar.addMenu("&Model")
        self.fill_model_menu()

        self.decoder_menu = bar.addMenu("&Decoder")
        self._build_decoder_menu()

        view = bar.addMenu("&View")
        self.overlay_action = self._action(
            view, "Landmark &overlay", lambda on: self.update_prefs(overlay=on),
            checkable=True, checked=self.prefs.overlay,
        )  # fmt: skip
        self.mirror_action = self._action(
            view, "&Mirror like a mirror", self.set_mirror, checkable=True,
            checked=self.prefs.mirror_camera,
        )  # fmt: skip
        self.mirror_action.setToolTip(
            "Remembered apart for cameras (on: like a mirror) and for files (off: as filmed)"
        )
        self.large_action = self._action(
            view, "&Large text", self.set_large_text, checkable=True,
            checked=self.prefs.large_text,
        )  # fmt: skip

        help_menu = bar.addMenu("&Help")
        self.demo_action = self._action(help_menu, "Play a &demo", self.play_demo)
        self.demo_action.setEnabled(bool(demo_recordings()))
        self._action(help_menu, "&Vocabulary of this model…", self.show_vocabulary)
        self._action(help_menu, "&About SignStream", self.show_about)

    # ------------------------------------------------------------------ source menu
    def fill_source_menu(self) -> None:
        menu = self.source_menu
        menu.clear()
        self.cameras = list_cameras()
        for camera in self.cameras:
            self._action(
                menu, camera.name, lambda _=False, c=camera: self.open_camera(c.spec),
                checkable=False,
            )  # fmt: skip
        if not self.cameras:
            self._disabled(
                menu, "No camera found", "Plug a camera in, then Source > Rescan cameras"
            )
        menu.addSeparator()
        menu.addMenu(self.resolution_menu)
        self._action(menu, "Re&scan cameras", self.fill_source_menu)

    def set_resolution(self, size: tuple[int, int] | None) -> None:
        self.update_prefs(resolution=size)
        if self.prefs.camera and self.bridge.running and self._playing_camera:
            self.open_camera(self.prefs.camera)  # reopen at the new size

    _playing_camera = False

    def open_camera(self, spec: str) -> None:
        self.update_prefs(camera=spec)
        self.open_source(spec, resolution=self.prefs.resolution)

    # ------------------------------------------------------------------ model menu
    def fill_model_menu(self) -> None:
        menu = self.model_menu
        menu.clear()
        group = QActionGroup(self)
        self.model_entries, skipped = find_models(
            [(MODELS_DIR, False), (self.user_models_dir, True)]
        )
        current = self.bridge.model_info.path if self.bridge.model_info is not None else None
        for section, user in (("Shipped models", False), ("Your models", True)):
            entries = [e for e in self.model_entries if e.user == user]
            if not entries:
                continue
            menu.addSection(section)
            for entry in entries:
                action = self._action(
                    menu, entry.label, lambda _=False, p=entry.path: self.load_model(p),
                    checkable=True, checked=str(entry.path) == current,
                )  # fmt: skip
                action.setData(str(entry.path))
                action.setToolTip(str(entry.path))
                group.addAction(action)
        if not self.model_entries:
            self._disabled(menu, "No models installed (models/*.onnx)", "\n".join(skipped))
        menu.addSeparator()
        self._action(menu, "Open ONNX model…", self.choose_model)
        recent = menu.addMenu("Recent models")
        for path in self.prefs.recent_models:
            self._action(recent, path, lambda _=False, p=path: self.load_model(Path(p)))
        recent.setEnabled(bool(self.prefs.recent_models))
        menu.addSeparator()
        self._action(menu, "Record and teach…", self.open_record_dialog)
        self._action(menu, "Fit to me…", self.open_fit_dialog)

    @Slot()
    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(MODELS_DIR), "ONNX (*.onnx)")
        if path:
            self.load_model(Path(path))

    def load_model(self, path: Path) -> None:
        """Use ``path`` from now on; one that fails keeps the current model (with a message)."""
        lm = lm_beside(path) if self.prefs.lm_enabled else None
        try:
            self.bridge.load_model(path, lm)
        except SignStreamError as e:
            self.on_error(f"{e}\n\nThe previous model stays in use.", False)
            return
        self.notice.dismiss()  # an earlier failure to load is no longer news

    # ------------------------------------------------------------------ decoder menu
    def _build_decoder_menu(self) -> None:
        menu = self.decoder_menu
        self.lm_action = self._action(
            menu, "Use the &language model", self.set_lm_enabled, checkable=True,
            checked=self.prefs.lm_enabled,
        )  # fmt: skip
        alpha_menu = menu.addMenu("LM &weight (alpha)")
        self.alpha_group = QActionGroup(self)
        self.alpha_model_action = self._action(
            alpha_menu, "The model's tuned weight", lambda: self.set_alpha(None), checkable=True,
            checked=self.prefs.alpha is None,
        )  # fmt: skip
        self.alpha_group.addAction(self.alpha_model_action)
        for a in ALPHAS:
            action = self._action(
                alpha_menu, f"{a:g}", lambda _=False, v=a: self.set_alpha(v), checkable=True,
                checked=self.prefs.alpha == a,
            )  # fmt: skip
            self.alpha_group.addAction(action)
        beam_menu = menu.addMenu("&Beam width")
        group = QActionGroup(self)
        for w in BEAM_WIDTHS:
            action = self._action(
                beam_menu, str(w), lambda _=False, v=w: self.set_beam_width(v), checkable=True,
                checked=self.prefs.beam_width == w,
            )  # fmt: skip
            group.addAction(action)
        menu.addSeparator()
        pause_menu = menu.addMenu("Commit glosses after a &pause of")
        group = QActionGroup(self)
        for pause in PAUSES_S:
            action = self._action(
                pause_menu, f"{pause:g} s", lambda _=False, v=pause: self.set_pause(v),
                checkable=True, checked=self.prefs.pause_s == pause,
            )  # fmt: skip
            group.addAction(action)
        self.settle_action = self._action(
            menu, "Commit a gloss as soon as it is &certain", self.set_settle, checkable=True,
            checked=self.prefs.settle,
        )  # fmt: skip
        self.settle_action.setToolTip(
            "Without it, glosses are committed only at a pause: later, but the language model "
            "sees more of the sentence"
        )

    def streaming_config(self) -> StreamingConfig:
        """When glosses are committed, as chosen in the menu (the engine sets the frame rate)."""
        return StreamingConfig(
            pause_s=self.prefs.pause_s, settle_s=DEFAULT_SETTLE_S if self.prefs.settle else 0.0
        )

    def set_pause(self, pause_s: float) -> None:
        self.update_prefs(pause_s=pause_s)
        self.bridge.set_streaming(self.streaming_config())

    def set_settle(self, on: bool) -> None:
        self.update_prefs(settle=bool(on))
        self.bridge.set_streaming(self.streaming_config())

    def decoder_config(self, info: ModelInfo | None) -> DecoderConfig:
        """The decoder settings chosen in the menu, for ``info``'s model."""
        alpha = self.prefs.alpha
        if alpha is None:
            tuned = info.heldout.get("lm_alpha") if info is not None else None
            alpha = float(tuned) if isinstance(tuned, int | float) else DecoderConfig().alpha
        # "auto" is beam search where an LM is loaded, greedy where none is
        return DecoderConfig(
            method="auto" if self.prefs.lm_enabled else "greedy",
            alpha=alpha,
            beam_width=self.prefs.beam_width,
        )

    def apply_decoder(self) -> None:
        """Hand the menu's decoder settings to the engine (live: no reload)."""
        if self.bridge.model_info is not None:
            self.bridge.set_decoder(self.decoder_config(self.bridge.model_info))
        self._show_status()

    def set_lm_enabled(self, on: bool) -> None:
        self.update_prefs(lm_enabled=bool(on))
        info = self.bridge.model_info
        if on and info is not None and not self.bridge.has_lm and lm_beside(Path(info.path)):
            self.load_model(Path(info.path))  # the LM was not loaded: load it now
        self.apply_decoder()

    def set_alpha(self, alpha: float | None) -> None:
        self.update_prefs(alpha=alpha)
        self.apply_decoder()

    def set_beam_width(self, width: int) -> None:
        self.update_prefs(beam_width=width)
        self.apply_decoder()

    # ------------------------------------------------------------------ view, help
    @property
    def _playing_file(self) -> bool:
        """A file or recording plays (or played last): its own mirror setting applies."""
        return self.source_started is not None and not self.source_started.live

    @Slot(bool)
    def set_mirror(self, on: bool) -> None:
        """Mirror the view; cameras and files each remember their own choice."""
        if self._playing_file:
            self.update_prefs(mirror_file=bool(on))
        else:
            self.update_prefs(mirror_camera=bool(on))

    def _show_mirror_of_source(self) -> None:
        on = self.prefs.mirror_file if self._playing_file else self.prefs.mirror_camera
        if self.mirror_action.isChecked() != on:
            self.mirror_action.blockSignals(True)  # showing the setting, not changing it
            self.mirror_action.setChecked(on)
            self.mirror_action.blockSignals(False)

    @Slot()
    def play_demo(self) -> None:
        """Replay the shipped demo: a real signer the model never saw, as landmarks."""
        recordings = demo_recordings()
        if not recordings:
            self.on_error("No demo recording is installed (assets/demo/*.pose).", False)
            return
        self.open_source(recordings[0])
        sentence = " ".join(demo_glosses(recordings[0])).upper()
        if sentence and self.bridge.running:
            self.statusBar().showMessage(f"Demo: a held-out signer signs “{sentence}”", 15000)

    @Slot(bool)
    def set_large_text(self, on: bool) -> None:
        self.transcript.set_large(on)
        for widget in (self.large_action, self.large_button):
            if widget.isChecked() != on:
                widget.setChecked(on)
        if self.prefs.large_text != on:
            self.update_prefs(large_text=bool(on))

    def vocabulary_lines(self) -> tuple[list[str], str]:
        """One line per gloss of the current model (with sample counts where known)."""
        info = self.bridge.model_info
        if info is None:
            return [], "No model is loaded."
        counts, where = sample_counts(info)
        lines = [
            f"{g}  ({counts[g]} samples)" if g in counts else g for g in info.vocabulary.glosses
        ]
        note = f"{info.name}: {len(info.vocabulary)} glosses. Sample counts: " + (
            where if counts else f"not available ({where})."
        )
        note += (
            " Signs it does not know are rejected (a gloss far from every sign it was trained"
            " on is not shown)."
            if info.rejector is not None
            else " It has no rejection of signs it does not know."
        )
        return lines, note

    @Slot()
    def show_vocabulary(self) -> None:
        """The glosses of the model in use, each with its preview (how it is signed)."""
        lines, note = self.vocabulary_lines()
        info = self.bridge.model_info
        previews, why = model_previews(Path(info.path) if info is not None else None)
        glosses = info.vocabulary.glosses if info is not None else ()
        dialog = VocabularyDialog(glosses, lines, note, previews, why, self)
        dialog.open()
        self.vocabulary_dialog = dialog

    @Slot()
    def show_about(self) -> None:
        QMessageBox.about(
            self, "About SignStream",
            f"SignStream {__version__}\n\nReal-time sign language recognition: MediaPipe "
            "landmarks, a small CTC model in ONNX Runtime, beam search with a gloss language "
            f"model.\n\nYour recordings and models: {self.data_dir}",
        )  # fmt: skip

    # ------------------------------------------------------------------ record and teach
    @Slot()
    def open_record_dialog(self) -> None:
        if self.record_dialog is None:
            info = self.bridge.model_info
            vocab = info.vocabulary.glosses if info is not None else ()
            self.record_dialog = RecordDialog(
                RecordingStore(self.data_dir / "recordings"), self.user_models_dir, vocab, self
            )
            self.bridge.frame.connect(self.record_dialog.recorder.on_frame)
            self.bridge.finished.connect(self.record_dialog.recorder.on_source_ended)
            self.record_dialog.model_trained.connect(self.on_model_trained)
        self._update_record_dialog()
        self.record_dialog.show()
        self.record_dialog.raise_()

    def _update_record_dialog(self) -> None:
        if self.record_dialog is None:
            return
        info = self.bridge.model_info
        path = Path(info.path) if info is not None else None
        self.record_dialog.set_model(path, checkpoint_for(path) if path else None)
        self.record_dialog.source_running = self.bridge.running

    @Slot(str)
    def on_model_trained(self, path: str) -> None:
        self.fill_model_menu()
        self.statusBar().showMessage(f"New model {Path(path).name}: choose it in the Model menu")

    # ------------------------------------------------------------------ fit to me
    def _fit_offer_bar(self) -> QWidget:
        """The first-run offer: shown until it is answered (either button), then never."""
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(6, 2, 6, 2)
        text = QLabel("New here? Fit the model to your signing: 3 takes of each sign.")
        text.setWordWrap(True)  # the bar must not widen the window's minimum size
        row.addWidget(text, 1)
        yes, no = QPushButton("Fit to me…"), QPushButton("Not now")
        yes.clicked.connect(self._answer_fit_offer)
        yes.clicked.connect(self.open_fit_dialog)
        no.clicked.connect(self._answer_fit_offer)
        row.addWidget(yes)
        row.addWidget(no)
        bar.setVisible(not self.prefs.fit_offered)
        return bar

    def _answer_fit_offer(self) -> None:
        self.fit_offer.hide()
        self.update_prefs(fit_offered=True)

    @Slot()
    def open_fit_dialog(self) -> None:
        if self.fit_dialog is None:
            self.fit_dialog = FitDialog(self.data_dir, self.user_models_dir, self)
            self.bridge.frame.connect(self.fit_dialog.on_frame)
            self.bridge.finished.connect(self._fit_source_ended)
            self.fit_dialog.model_fitted.connect(self.on_model_fitted)
            self.fit_dialog.switch_back.connect(lambda p: self.load_model(Path(p)))
        self._update_fit_dialog()
        self.fit_dialog.show()
        self.fit_dialog.raise_()

    @Slot()
    def _fit_source_ended(self) -> None:
        # only when nothing plays now: a source replaced by another (Source menu) ends too
        if self.fit_dialog is not None and not self.bridge.running:
            self.fit_dialog.on_source_ended()

    def _update_fit_dialog(self) -> None:
        if self.fit_dialog is None:
            return
        info = self.bridge.model_info
        path = Path(info.path) if info is not None else None
        glosses = info.vocabulary.glosses if info is not None else ()
        self.fit_dialog.set_model(path, checkpoint_for(path) if path else None, glosses)
        self.fit_dialog.source_running = self.bridge.running

    @Slot(str)
    def on_model_fitted(self, path: str) -> None:
        """Use the fitted model at once; the original stays in the Model menu."""
        self.load_model(Path(path))
        self.fill_model_menu()
        self.statusBar().showMessage(f"Now using {Path(path).name}; the original is in Model")

    # ------------------------------------------------------------------ sources
    @Slot()
    def choose_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or recording", "", SOURCE_FILTER)
        if path:
            self.open_source(path)

    def open_source(
        self,
        source: Any,
        realtime: bool = True,
        resolution: tuple[int, int] | None = None,
    ) -> None:
        """Play ``source`` (a spec, path or opened Source); failures become a message.

        Whatever plays is stopped first; the transcript is kept, and a line with the new
        source's name starts its part."""
        self._playing_camera = isinstance(source, str) and source.startswith("webcam")
        try:
            self.bridge.start(source if not isinstance(source, Path) else str(source),
                              realtime=realtime, resolution=resolution)  # fmt: skip
        except SignStreamError as e:
            self.on_error(str(e), True)
            return
        self.notice.dismiss()  # what failed before was about another source
        for dialog in (self.record_dialog, self.fit_dialog):
            if dialog is not None:
                dialog.source_running = True
        self.statusBar().showMessage(f"Opening {_source_name(source)}…")

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
        try:
            atomic_write_text(path, text)
        except OSError as e:
            self.on_error(f"Cannot save the transcript to {path}: {e}", False)
            return
        self.statusBar().showMessage(f"Saved {len(entries)} lines to {path}", 5000)

    @Slot()
    def copy_transcript(self) -> None:
        QApplication.clipboard().setText(to_text(self.transcript.entries))

    # ------------------------------------------------------------------ engine events
    @Slot(object)
    def on_frame(self, event: FrameEvent) -> None:
        mirror = self.mirror_action.isChecked()
        if event.image is not None:
            image = rgb_to_qimage(event.image[:, ::-1].copy() if mirror else event.image)
            overlay = self.overlay_action.isChecked()
        else:  # a landmark replay: the skeleton is the picture, on a canvas of its own
            image = blank_canvas(event.image_size)
            overlay = True
        if overlay:
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
        """One failure, one message: inline above the video (Details… has all of it), never a
        dialog per failure; the same message again only counts up."""
        if fatal and self._playing_camera:
            message += "\n\nPlug the camera back in and choose it in the Source menu."
        self.notice.show_message(message)
        self.statusBar().showMessage(message.splitlines()[0], 10000)

    @Slot(object)
    def on_started(self, event: StartEvent) -> None:
        self.source_started = event
        self._playing_camera = event.live
        self._show_mirror_of_source()
        self.transcript.add_source(_source_name(event.source))
        for dialog in (self.record_dialog, self.fit_dialog):
            if dialog is not None:
                dialog.source_running = True
        self.statusBar().showMessage(f"Playing {event.description}")

    @Slot(object)
    def on_ended(self, event: EndEvent) -> None:
        """The summary of the source that ended stays in the status bar until the next."""
        self.last_end = event
        self.statusBar().showMessage(event.summary())

    @Slot()
    def on_finished(self) -> None:
        for dialog in (self.record_dialog, self.fit_dialog):
            if dialog is not None:
                dialog.source_running = self.bridge.running

    @Slot(object)
    def on_model_changed(self, info: ModelInfo | None) -> None:
        if info is not None:
            self.update_prefs(**dataclasses.asdict(remember_model(self.prefs, info.path)))
            self.fill_model_menu()
            self.lm_action.setEnabled(lm_beside(Path(info.path)) is not None)
            self.lm_action.setToolTip(
                "" if self.lm_action.isEnabled() else "This model has no LM (.arpa) beside it"
            )
            self.bridge.set_decoder(self.decoder_config(info))
        self._update_record_dialog()
        self._update_fit_dialog()
        self._show_status()

    def _show_status(self) -> None:
        info = self.bridge.model_info
        if info is None:
            model = "no model (landmarks only)"
        else:
            decoding = "beam + LM" if self.bridge.has_lm and self.prefs.lm_enabled else "greedy"
            model = f"{info.name} ({self.bridge.provider}, {decoding})"
        s = self._last_stats
        if s is None:
            self.status.setText(model)
            return
        latency = s.stage_ms.get("model", 0.0) + s.stage_ms.get("decoder", 0.0)
        self.status.setText(
            f"in {s.input_fps:4.1f} fps | processed {s.processed_fps:4.1f} fps | landmarks "
            f"{s.stage_ms.get('landmarks', 0.0):.0f} ms | model+decoder {latency:.1f} ms | {model}"
        )

    def closeEvent(self, event: Any) -> None:
        self.update_prefs(geometry=bytes(self.saveGeometry().data()))
        if self.record_dialog is not None:
            self.record_dialog.teacher.shutdown()  # its staged files removed, nothing half
        if self.fit_dialog is not None:
            self.fit_dialog.teacher.shutdown()
        self.bridge.close()  # the engine thread has ended when this returns
        super().closeEvent(event)


def _source_name(source: Any) -> str:
    """A source as people name it: a file's name, a camera's spec."""
    text = str(getattr(source, "spec", source))
    scheme, sep, rest = text.partition(":")
    if sep and scheme in ("webcam",):
        return text
    if sep and scheme in ("video", "pose", "dataset"):
        text = rest
    return Path(text.split("#")[0]).name + (f"#{text.split('#')[1]}" if "#" in text else "")


def no_display_reason() -> str:
    """Why no window can be opened here ("" where one can): said before Qt is asked, whose
    own words on a machine without a display blame a missing library (xcb-cursor0)."""
    if not sys.platform.startswith("linux"):
        return ""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return ""  # offscreen, vnc, eglfs, ...: Qt needs no X server
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    return (
        "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). Run it "
        "on a desktop, or in a virtual one: xvfb-run -a signstream. Without a window, "
        "`signstream run --source VIDEO` recognises a video and `signstream demo --text` "
        "plays the demo in the terminal"
    )


def run_app(argv: list[str] | None = None) -> int:
    """Open the window (and play a file given on the command line, or ``--demo``); returns
    the exit code."""
    args = sys.argv if argv is None else argv
    app = QApplication.instance() or QApplication(args)
    app.setOrganizationName("SignStream")
    app.setApplicationName("SignStream")
    window = MainWindow()
    window.show()
    if "--demo" in args[1:]:
        window.play_demo()
    else:
        files = [a for a in args[1:] if Path(a).exists()]
        if files:
            window.open_source(files[0])
    return int(app.exec())
