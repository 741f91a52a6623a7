"""Training on the user's recordings in a separate process, with progress and cancel.

The app never imports the training code (torch would cost seconds and hundreds of MB in the
GUI process, and a crash there must not take the window down): :class:`TeachProcess` runs
``python -m signstream.cli train teach ...`` in a QProcess and reads the progress lines it
prints (``training.teach.PROGRESS_PREFIX`` + JSON). Cancel sends SIGTERM, on which the
training removes its staged files; a process that does not end soon after is killed (the
files it writes are staged under hidden names and renamed only when complete).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal, Slot

from app.catalog import REPO

__all__ = ["PROGRESS_PREFIX", "TeachProcess", "taught_model_path"]

PROGRESS_PREFIX = "signstream-progress "  # = training.teach.PROGRESS_PREFIX (not imported)
KILL_AFTER_MS = 5000  # after Cancel, how long SIGTERM gets before the process is killed
TAIL_LINES = 20  # lines of the process's other output kept for an error message


def taught_model_path(models_dir: Path, base: Path) -> Path:
    """A new file name for a model taught from ``base``: base stem, then the time."""
    return models_dir / f"{base.stem.split('+')[0]}+mine-{time.strftime('%Y%m%d-%H%M%S')}.onnx"


class TeachProcess(QObject):
    """One run of ``signstream train teach``."""

    progress = Signal(float, str)  # fraction 0..1, what happens now
    finished = Signal(bool, str)  # ok, the new model's path (ok) or why it failed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(REPO))  # relative dataset paths in checkpoints
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self.out: Path | None = None
        self.cancelled = False
        self.fraction = 0.0
        self._buffer = b""
        self._tail: list[str] = []
        self._reported = False
        self._killer = QTimer(self)
        self._killer.setSingleShot(True)
        self._killer.timeout.connect(self.process.kill)

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def start(
        self,
        recordings: Path,
        checkpoint: Path,
        out: Path,
        epochs: int | None = None,
        name: str | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.out, self.cancelled, self.fraction = out, False, 0.0
        self._buffer, self._tail, self._reported = b"", [], False
        args = ["-m", "signstream.cli", "train", "teach", "--recordings", str(recordings),
                "--init", str(checkpoint), "--out", str(out)]  # fmt: skip
        if epochs is not None:
            args += ["--epochs", str(epochs)]
        if name:
            args += ["--name", name]
        self.process.start(sys.executable, args + list(extra or []))

    def cancel(self) -> None:
        if not self.running:
            return
        self.cancelled = True
        self.process.terminate()  # SIGTERM: the training cleans up its staged files
        self._killer.start(KILL_AFTER_MS)

    def shutdown(self, timeout_ms: int = KILL_AFTER_MS) -> None:
        """Cancel and wait for the process to end (the app is quitting): it gets SIGTERM and
        ``timeout_ms`` to remove its staged files, then it is killed. A QProcess destroyed
        while its process runs leaves it orphaned and Qt complains on the way out."""
        if not self.running:
            return
        self.cancel()
        if not self.process.waitForFinished(timeout_ms):
            self.process.kill()
            self.process.waitForFinished(1000)

    @Slot()
    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line.startswith(PROGRESS_PREFIX):
                self._keep(line)
                continue
            try:
                event = json.loads(line[len(PROGRESS_PREFIX) :])
            except ValueError:
                continue
            self.fraction = float(event.get("fraction", self.fraction))
            self.progress.emit(self.fraction, self._describe(event))

    @staticmethod
    def _describe(event: dict[str, object]) -> str:
        stage = event.get("stage")
        if stage == "train":
            epoch = f"{event.get('epoch')}/{event.get('epochs')}"
            return f"training: epoch {epoch}, loss {event.get('loss')}"
        if stage == "done":
            return "done"
        return str(event.get("message") or stage)

    @Slot()
    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            self._keep(line)

    def _keep(self, line: str) -> None:
        if line.strip():
            self._tail = [*self._tail, line][-TAIL_LINES:]

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._killer.stop()
        self._read_stdout()
        if self._reported:
            return
        self._reported = True
        if self.cancelled:
            self.finished.emit(False, "Training cancelled; nothing was written.")
        elif code == 0 and status == QProcess.ExitStatus.NormalExit and self.out is not None:
            self.finished.emit(True, str(self.out))
        else:
            why = "\n".join(line for line in self._tail if "error" in line.lower()) or "\n".join(
                self._tail[-5:]
            )
            self.finished.emit(False, f"Training failed (exit status {code}).\n\n{why}")

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and not self._reported:
            self._reported = True
            self.finished.emit(False, f"Cannot start the training process ({sys.executable}).")
