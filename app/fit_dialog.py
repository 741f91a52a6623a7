"""The "Fit to me" dialog: a few takes of every gloss of the current model, then a fine-tune.

Gloss after gloss: its preview (:mod:`app.sign_preview`), a countdown, K takes from the running
source (:class:`~app.recording.TakeRecorder`, as Record and teach records). The takes are the
person's own way of making glosses the model already knows, so the fine-tune keeps the
vocabulary and mixes the original training data in (``signstream train teach --calibrate``, in
the background process of :mod:`app.teaching`). The result is a new model,
"<model> fitted to <name>", in the Model menu beside the original.

Each person's takes are a dataset of their own in the user data folder
(``calibration/<name>``), every take stored the moment it ends: they can be fitted again
(another base model, after a crash) or deleted. A take without hands, or a source that stops,
is said in words and the dialog carries on (a stopped source: after Continue).
"""

from __future__ import annotations

import getpass
import re
import shutil
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.recording import IDLE_GLOSS, RecordingStore, TakeRecorder
from app.sign_preview import SignPreview, model_previews
from app.teaching import TeachProcess
from engine.events import FrameEvent
from engine.previews import Previews

__all__ = ["DEFAULT_TAKES", "FitDialog", "fitted_model_path", "person_name"]

DEFAULT_TAKES = 3  # per gloss: bench/calibration.py measures 1, 3 and 5
RETRIES_PER_GLOSS = 3  # takes that failed (no hands) are asked for again up to this often
CALIBRATE_ARGS = ["--calibrate"]  # training.teach.CALIBRATION: its settings for this


def person_name() -> str:
    """Who is fitted, by default: the login name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return "me"


def _safe(name: str) -> str:
    """``name`` as a file name part: letters, digits, ``-`` and ``_`` only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "me"


def fitted_model_path(models_dir: Path, base: Path, name: str) -> Path:
    """A new file for ``base`` fitted to ``name``: base stem, the name, the time."""
    stem = base.stem.split("+")[0]
    return models_dir / f"{stem}+fit-{_safe(name)}-{time.strftime('%Y%m%d-%H%M%S')}.onnx"


class FitDialog(QDialog):
    model_fitted = Signal(str)  # path of the new ONNX model
    switch_back = Signal(str)  # path of the model it was fitted from

    def __init__(self, data_dir: Path, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fit to me")
        self.calibration_dir = data_dir / "calibration"
        self.models_dir = models_dir
        self.teacher = TeachProcess(self)
        self.recorder: TakeRecorder | None = None
        self.store: RecordingStore | None = None
        self.base_model: Path | None = None
        self.checkpoint: Path | None = None
        self.glosses: tuple[str, ...] = ()
        self.previews: Previews | None = None
        self.previews_why = "No model is loaded."
        self.source_running = False
        self.position = 0  # the gloss being recorded, in self.glosses
        self.saved_now = 0  # takes of it kept so far
        self.retries = 0
        self.problems: list[str] = []  # takes not kept, for the summary
        self.fitted_from: Path | None = None  # the model the last fit started from
        self._reason_shown: str | None = None  # why fitting was disabled, as last shown

        self.name = QLineEdit(person_name())
        self.name.textChanged.connect(self.refresh)
        self.takes = QSpinBox(minimum=1, maximum=10, value=DEFAULT_TAKES)
        self.seconds = QDoubleSpinBox(minimum=0.5, maximum=10.0, value=2.0, singleStep=0.5)
        self.countdown_s = QSpinBox(minimum=0, maximum=10, value=3)
        form = QFormLayout()
        form.addRow("Your name", self.name)
        form.addRow("Takes per sign", self.takes)
        form.addRow("Seconds per take", self.seconds)
        form.addRow("Countdown (s)", self.countdown_s)
        self.preview = SignPreview()
        self.preview.setMinimumSize(240, 240)
        self.step = QLabel()
        self.big = QLabel("")
        self.big.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.big.setStyleSheet("font-size: 28pt; font-weight: bold;")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.stored = QLabel()
        self.stored.setWordWrap(True)

        self.start_button = QPushButton("Start recording")
        self.start_button.clicked.connect(self.start)
        self.skip_button = QPushButton("Skip this sign")
        self.skip_button.clicked.connect(self.skip)
        self.fit_button = QPushButton("Fit the model to my takes")
        self.fit_button.clicked.connect(self.fit)
        self.cancel_button = QPushButton("Cancel fitting")
        self.cancel_button.clicked.connect(self.teacher.cancel)
        self.delete_button = QPushButton("Delete my takes")
        self.delete_button.clicked.connect(self.delete_takes)
        self.back_button = QPushButton("Switch back to the original model")
        self.back_button.clicked.connect(self._switch_back)
        self.back_button.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)

        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(self.step)
        left.addStretch(1)
        top.addLayout(left, 1)
        top.addWidget(self.preview)
        record_row = QHBoxLayout()
        record_row.addWidget(self.start_button)
        record_row.addWidget(self.skip_button)
        fit_row = QHBoxLayout()
        for button in (self.fit_button, self.cancel_button, self.delete_button):
            fit_row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.big)
        layout.addLayout(record_row)
        layout.addWidget(self.message)
        layout.addWidget(self.stored)
        layout.addLayout(fit_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.back_button)
        self.teacher.progress.connect(self._on_progress)
        self.teacher.finished.connect(self._on_fitted)
        self.refresh()

    # ------------------------------------------------------------------ state
    @property
    def person(self) -> str:
        return self.name.text().strip() or person_name()

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.state != "idle"

    def takes_dir(self) -> Path:
        return self.calibration_dir / _safe(self.person)

    def set_model(
        self, model: Path | None, checkpoint: Path | None, glosses: tuple[str, ...]
    ) -> None:
        """The model to fit (the one running now) and its vocabulary."""
        if self.recording:
            return  # a session in progress keeps its model; it is offered again after
        if model != self.base_model or self.previews is None:
            self.previews, self.previews_why = model_previews(model)
        self.base_model, self.checkpoint = model, checkpoint
        self.glosses = tuple(g for g in glosses if g != IDLE_GLOSS)
        self.refresh()

    def disabled_reason(self) -> str | None:
        if self.base_model is None:
            return "Load a model first: Fit to me adapts the current model to you."
        if self.checkpoint is None:
            return (
                f"Fitting needs the training checkpoint of {self.base_model.name} "
                f"({self.base_model.with_suffix('.pt').name} beside it), and there is none."
            )
        return None

    def stored_counts(self) -> dict[str, int]:
        """Takes per gloss already stored for this person (of this model's glosses)."""
        if not (self.takes_dir() / "dataset.json").is_file():
            return {}
        counts = RecordingStore(self.takes_dir()).counts()
        return {g: n for g, n in counts.items() if g in self.glosses}

    @Slot()
    def refresh(self) -> None:
        reason = self.disabled_reason()
        busy = self.teacher.running or self.recording
        counts = self.stored_counts() if reason is None else {}
        self.start_button.setEnabled(reason is None and not self.teacher.running)
        self.skip_button.setEnabled(self.recording)
        self.fit_button.setEnabled(reason is None and bool(counts) and not busy)
        self.delete_button.setEnabled(bool(counts) and not busy)
        self.cancel_button.setEnabled(self.teacher.running)
        if reason is not None:
            self.message.setText(reason)
        elif self.message.text() == self._reason_shown:
            self.message.setText("")  # a model with a checkpoint came: the reason is past
        self._reason_shown = reason
        total = sum(counts.values())
        self.stored.setText(
            f"Your takes: {total} of {len(counts)} of the {len(self.glosses)} signs, kept in "
            f"{self.takes_dir()} (used again the next time; Delete removes them)."
            if counts
            else f"No takes of {self.person} yet."
        )

    # ------------------------------------------------------------------ recording
    @Slot()
    def start(self) -> None:
        """Start (or continue, after the source stopped) recording gloss after gloss."""
        if self.disabled_reason() is not None or self.teacher.running or self.recording:
            return
        if not self.source_running:
            QMessageBox.information(
                self, "Fit to me", "Start a camera (Source menu) or a video first: "
                "the takes are cut from what the app sees."
            )  # fmt: skip
            return
        resume = self.recorder is not None and self.position < len(self.glosses)
        if not resume:
            self.store = RecordingStore(self.takes_dir())
            self.recorder = TakeRecorder(self.store, signer=f"user:{self.person}")
            self.recorder.countdown.connect(self._on_countdown)
            self.recorder.started.connect(self._on_started)
            self.recorder.saved.connect(self._on_saved)
            self.recorder.failed.connect(self._on_failed)
            self.recorder.done.connect(self._on_gloss_done)
            self.position, self.problems = 0, []
        self.name.setEnabled(False)
        self._record_gloss(self.takes.value() - self.saved_now if resume else None)

    def _record_gloss(self, takes: int | None = None) -> None:
        assert self.recorder is not None
        if takes is None:
            self.saved_now, self.retries = 0, 0
            takes = self.takes.value()
        gloss = self.glosses[self.position]
        self.step.setText(f"Sign {self.position + 1} of {len(self.glosses)}: {gloss}")
        if self.previews is not None:
            self.preview.set_clips(self.previews.of(gloss), f"No preview of “{gloss}”.")
        else:
            self.preview.show_message(self.previews_why)
        self.start_button.setText("Recording…")
        self.recorder.start(gloss, takes, self.seconds.value(), self.countdown_s.value())
        self.refresh()

    @Slot(object)
    def on_frame(self, event: FrameEvent) -> None:
        if self.recorder is not None:
            self.recorder.on_frame(event)

    @Slot()
    def on_source_ended(self) -> None:
        """The source stopped (a camera unplugged, a video at its end): keep what the take
        has if it is enough, then wait for Continue."""
        self.source_running = False
        if not self.recording:
            return
        assert self.recorder is not None
        self.recorder.on_source_ended()  # may end the gloss's last take, and move on
        if self.position >= len(self.glosses):
            return
        gloss = self.glosses[self.position]
        self.big.setText("")
        self.message.setText(
            f"The source stopped while recording {gloss}. Your takes so far are kept. Choose "
            "a camera (Source menu) and press Continue to go on from this sign."
        )
        self.start_button.setText("Continue")
        self.refresh()

    @Slot()
    def skip(self) -> None:
        """Go on to the next gloss (one the person does not sign, or not now)."""
        if self.recorder is None or not self.recording:
            return
        self.recorder.cancel()
        self.message.setText(f"Skipped {self.glosses[self.position]}.")
        self._next_gloss()

    @Slot(int)
    def _on_countdown(self, left: int) -> None:
        gloss = self.glosses[self.position]
        self.big.setText(f"{gloss} in {left}…" if left > 0 else "")

    @Slot(int)
    def _on_started(self, take: int) -> None:
        self.big.setText(f"Sign {self.glosses[self.position]} now! ({self.saved_now + 1})")

    @Slot(int, str)
    def _on_saved(self, index: int, gloss: str) -> None:
        self.saved_now += 1
        self.refresh()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        gloss = self.glosses[self.position] if self.position < len(self.glosses) else ""
        self.problems.append(f"{gloss}: {message}")
        self.message.setText(f"{gloss}: {message}. Carrying on.")

    @Slot()
    def _on_gloss_done(self) -> None:
        missing = self.takes.value() - self.saved_now
        if missing > 0 and self.retries < RETRIES_PER_GLOSS and self.source_running:
            self.retries += 1  # a take without hands: ask for it again
            self._record_gloss(missing)
            return
        self._next_gloss()

    def _next_gloss(self) -> None:
        self.position += 1
        if self.position < len(self.glosses):
            self._record_gloss()
            return
        self.big.setText("")
        self.start_button.setText("Start recording")
        self.name.setEnabled(True)
        self.recorder = None
        self.preview.show_message("All signs recorded.")
        note = f" {len(self.problems)} takes were not kept." if self.problems else ""
        self.message.setText("All signs recorded." + note)
        self.refresh()
        self.fit()

    # ------------------------------------------------------------------ fitting
    @Slot()
    def fit(self, epochs: int | None = None, extra: list[str] | None = None) -> None:
        """Fine-tune the current model on this person's stored takes (background process)."""
        if self.disabled_reason() is not None or self.teacher.running or self.recording:
            return
        if not self.stored_counts():
            self.message.setText("Record some takes first.")
            return
        assert self.base_model is not None and self.checkpoint is not None
        out = fitted_model_path(self.models_dir, self.base_model, self.person)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        name = f"{self.base_model.stem.split('+')[0]} fitted to {self.person}"
        self.teacher.start(
            self.takes_dir(), self.checkpoint, out, epochs, name, CALIBRATE_ARGS + (extra or [])
        )
        self.progress.setValue(0)
        self.message.setText("Fitting the model to your takes (about a minute)…")
        self.refresh()

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.message.setText(message)

    @Slot(bool, str)
    def _on_fitted(self, ok: bool, message: str) -> None:
        self.refresh()
        if not ok:
            self.progress.setValue(0)
            self.message.setText(message)
            return
        self.progress.setValue(1000)
        base = self.base_model.name if self.base_model is not None else "the original"
        self.message.setText(
            f"Done: {Path(message).name} is in use (Model menu, Your models). "
            f"Switch back to {base} there or with the button below."
        )
        self.fitted_from = self.base_model
        self.back_button.setVisible(self.fitted_from is not None)
        self.model_fitted.emit(message)

    @Slot()
    def _switch_back(self) -> None:
        if self.fitted_from is not None:
            self.switch_back.emit(str(self.fitted_from))
            self.back_button.setVisible(False)

    @Slot()
    def delete_takes(self) -> None:
        """Remove this person's stored takes (the models fitted from them stay)."""
        if self.recording or self.teacher.running:
            return
        shutil.rmtree(self.takes_dir(), ignore_errors=True)
        self.message.setText(f"Deleted the takes of {self.person}.")
        self.refresh()

    def closeEvent(self, event: object) -> None:
        if self.recorder is not None:
            self.recorder.cancel()
            self.recorder = None
        self.name.setEnabled(True)
        self.start_button.setText("Start recording")
        super().closeEvent(event)  # type: ignore[arg-type]
