"""The "Record and teach" dialog: record samples of a gloss, review them, train on them.

Beside the settings, the preview of the gloss chosen (:mod:`app.sign_preview`): how real
signers of the model's training data make it, so a take can be compared with them.

Recording needs a running source (a camera, or a video standing in for one); the takes are
cut from the frames the engine already processes, so nothing else opens the camera. Training
starts from the current model's checkpoint (same stem, ``.pt``); the menu item that opens this
dialog is always there, and the Train button says why it is disabled when there is none.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.recording import IDLE_GLOSS, RecordingStore, TakeRecorder
from app.sign_preview import SignPreview, model_previews
from app.teaching import TeachProcess, taught_model_path
from engine.previews import Previews

__all__ = ["RecordDialog"]

RESTING_LABEL = f"{IDLE_GLOSS}  (resting, not signing: used for pauses)"


class RecordDialog(QDialog):
    model_trained = Signal(str)  # path of the new ONNX model

    def __init__(
        self,
        store: RecordingStore,
        models_dir: Path,
        vocabulary: tuple[str, ...],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record and teach")
        self.store = store
        self.models_dir = models_dir
        self.recorder = TakeRecorder(store)
        self.teacher = TeachProcess(self)
        self.base_model: Path | None = None
        self.checkpoint: Path | None = None
        self.source_running = False
        self.previews: Previews | None = None  # of the base model
        self.previews_why = "No model is loaded."  # why there are none
        self.preview = SignPreview()
        self.preview.setMinimumSize(240, 240)  # the hand shapes must be readable beside the form

        self.gloss = QComboBox()
        self.gloss.setEditable(True)
        self.gloss.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.gloss.addItems(sorted(vocabulary))
        self.gloss.addItem(RESTING_LABEL)
        self.gloss.setEditText("")
        edit = self.gloss.lineEdit()
        if edit is not None:
            edit.setPlaceholderText("pick a gloss or type a new one")
        self.takes = QSpinBox(minimum=1, maximum=50, value=5)
        self.seconds = QDoubleSpinBox(minimum=0.5, maximum=10.0, value=2.0, singleStep=0.5)
        self.countdown_s = QSpinBox(minimum=0, maximum=10, value=3)
        form = QFormLayout()
        form.addRow("Gloss", self.gloss)
        form.addRow("Samples", self.takes)
        form.addRow("Seconds per sample", self.seconds)
        form.addRow("Countdown (s)", self.countdown_s)

        self.record_button = QPushButton("Record")
        self.record_button.clicked.connect(self.record)
        self.big = QLabel("")
        self.big.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.big.setStyleSheet("font-size: 28pt; font-weight: bold;")
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.delete_button = QPushButton("Delete selected takes")
        self.delete_button.clicked.connect(self.delete_selected)
        self.summary = QLabel()

        self.train_button = QPushButton("Train on my recordings")
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.teacher.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.train_status = QLabel()
        self.train_status.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.preview)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.record_button)
        layout.addWidget(self.big)
        layout.addWidget(QLabel("Your takes (select bad ones and delete them):"))
        layout.addWidget(self.list)
        layout.addWidget(self.delete_button)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.train_status)

        self.recorder.countdown.connect(self._on_countdown)
        self.recorder.started.connect(self._on_started)
        self.recorder.saved.connect(self._on_saved)
        self.recorder.failed.connect(self._on_failed)
        self.recorder.done.connect(self._on_done)
        self.teacher.progress.connect(self._on_progress)
        self.teacher.finished.connect(self._on_trained)
        self.gloss.currentTextChanged.connect(self.show_preview)
        self.refresh()
        self.show_preview()

    # ------------------------------------------------------------------ state
    def set_model(self, model: Path | None, checkpoint: Path | None) -> None:
        """The model teaching starts from (the one running now)."""
        if model != self.base_model or self.previews is None:
            self.previews, self.previews_why = model_previews(model)
        self.base_model, self.checkpoint = model, checkpoint
        self.refresh()
        self.show_preview()

    @Slot()
    def show_preview(self) -> None:
        """Play the preview of the gloss chosen, or say why there is none."""
        gloss = self.chosen_gloss()
        if not gloss:
            self.preview.show_message("Pick a gloss to see how it is signed.")
        elif gloss == IDLE_GLOSS:
            self.preview.show_message("Resting: hands down, not signing.")
        elif self.previews is None:
            self.preview.show_message(self.previews_why)
        elif self.preview.clips and self.preview.clips[0].gloss == gloss:
            return  # already playing it (the text was only edited back)
        else:
            self.preview.set_clips(
                self.previews.of(gloss),
                f"No preview of “{gloss}”: a new sign for this model. Record a few takes.",
            )

    def refresh(self) -> None:
        self.list.clear()
        for info in self.store.takes:
            seconds = info.num_frames / info.fps if info.fps else 0.0
            item = QListWidgetItem(f"#{info.index + 1}  {info.gloss}  ({seconds:.1f} s)")
            item.setData(Qt.ItemDataRole.UserRole, info.index)
            self.list.addItem(item)
        counts = self.store.counts()
        signs = {g: n for g, n in counts.items() if g != IDLE_GLOSS}
        self.summary.setText(
            f"{sum(signs.values())} samples of {len(signs)} glosses, "
            f"{counts.get(IDLE_GLOSS, 0)} resting; stored in {self.store.root}"
        )
        reason = self.train_disabled_reason()
        busy = self.teacher.running
        self.train_button.setEnabled(reason is None and not busy)
        self.train_button.setToolTip(reason or "Fine-tune the current model on these samples")
        if reason and not busy:
            self.train_status.setText(reason)

    def train_disabled_reason(self) -> str | None:
        if self.base_model is None:
            return "Load a model first: teaching fine-tunes the current model."
        if self.checkpoint is None:
            return (
                f"Teaching needs the training checkpoint of {self.base_model.name} "
                f"({self.base_model.with_suffix('.pt').name} beside it), and there is none."
            )
        if not any(g != IDLE_GLOSS for g in self.store.counts()):
            return "Record some samples first."
        return None

    # ------------------------------------------------------------------ recording
    def chosen_gloss(self) -> str:
        text = self.gloss.currentText().strip()
        return IDLE_GLOSS if text == RESTING_LABEL else text

    @Slot()
    def record(self) -> None:
        if self.recorder.state != "idle":
            self.recorder.cancel()
            self._on_done()
            return
        if not self.source_running:
            QMessageBox.information(
                self, "Record", "Start a camera (Source menu) or a video first: "
                "the samples are taken from what the app sees."
            )  # fmt: skip
            return
        try:
            self.recorder.start(
                self.chosen_gloss(), self.takes.value(), self.seconds.value(),
                self.countdown_s.value(),
            )  # fmt: skip
        except ValueError as e:
            QMessageBox.warning(self, "Record", str(e))
            return
        self.record_button.setText("Stop recording")

    @Slot(int)
    def _on_countdown(self, left: int) -> None:
        self.big.setText(f"{self.recorder.gloss} in {left}…" if left > 0 else "")

    @Slot(int)
    def _on_started(self, take: int) -> None:
        self.big.setText(f"Sign {self.recorder.gloss} now! ({take})")

    @Slot(int, str)
    def _on_saved(self, index: int, gloss: str) -> None:
        self.refresh()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.big.setText("")
        self.train_status.setText(message)

    @Slot()
    def _on_done(self) -> None:
        self.big.setText("")
        self.record_button.setText("Record")
        self.refresh()

    @Slot()
    def delete_selected(self) -> None:
        chosen = {int(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()}
        if chosen and self.recorder.state == "idle":
            self.store.delete(chosen)
            self.refresh()

    # ------------------------------------------------------------------ training
    @Slot()
    def train(self, epochs: int | None = None, extra: list[str] | None = None) -> None:
        if self.train_disabled_reason() is not None or self.teacher.running:
            return
        assert self.base_model is not None and self.checkpoint is not None
        out = taught_model_path(self.models_dir, self.base_model)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.teacher.start(self.store.root, self.checkpoint, out, epochs, None, extra)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.train_status.setText("starting the training process…")

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.train_status.setText(message)

    @Slot(bool, str)
    def _on_trained(self, ok: bool, message: str) -> None:
        self.cancel_button.setEnabled(False)
        self.refresh()
        if ok:
            self.progress.setValue(1000)
            self.train_status.setText(f"New model: {Path(message).name} (in the Model menu)")
            self.model_trained.emit(message)
        else:
            self.progress.setValue(0)
            self.train_status.setText(message)

    def closeEvent(self, event: object) -> None:
        self.recorder.cancel()
        super().closeEvent(event)  # type: ignore[arg-type]
