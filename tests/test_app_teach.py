"""Teaching from the app: the training subprocess on tiny data, its progress, cancel, result."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from app.recording import RecordingStore
from engine.dataset import Dataset
from engine.model import read_model_info
from engine.previews import load_previews, previews_path, save_previews
from tests.conftest import make_sequence
from training.previews import build_previews


@pytest.fixture
def taught_window(qtbot, tmp_path: Path, tiny_onnx: Path, tiny_data: Path):  # type: ignore[no-untyped-def]
    base = tmp_path / "base" / "tiny.onnx"
    base.parent.mkdir()
    shutil.copy(tiny_onnx, base)
    shutil.copy(tiny_data / "runs" / "onnx" / "best.pt", base.with_suffix(".pt"))
    glosses = read_model_info(base).vocabulary.glosses
    save_previews(build_previews(Dataset(tiny_data / "ds"), glosses, "tiny"), previews_path(base))
    store = RecordingStore(tmp_path / "userdata" / "recordings")
    for seed in range(4):  # a new sign: the left hand rises
        seq = make_sequence(num_frames=16, seed=300 + seed, glosses=("milk",), signer="user:me")
        p = seq.points.copy()
        p[:, 33:54, 1] -= 0.15 * np.linspace(0, 1, 16, dtype=np.float32)[:, None]
        store.add(seq.replace(points=p))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model=base, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.open_record_dialog()
    yield w
    w.record_dialog.teacher.cancel()
    w.bridge.close()


def test_train_on_my_recordings_adds_a_model_with_the_new_gloss(taught_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = taught_window
    dialog = w.record_dialog
    assert dialog.train_button.isEnabled(), dialog.train_button.toolTip()
    fractions: list[float] = []
    dialog.teacher.progress.connect(lambda f, m: fractions.append(f))
    with qtbot.waitSignal(dialog.model_trained, timeout=120_000) as done:
        dialog.train(epochs=1, extra=["--user-sentences", "16", "--threads", "1"])
    new = Path(done.args[0])
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    info = read_model_info(new)
    assert info.vocabulary.glosses == ("coffee", "hello", "tea", "milk")  # old ids kept
    assert new.with_suffix(".pt").is_file()  # it can be taught again
    previews = load_previews(previews_path(new))  # the person's take, the base's for the rest
    assert [c.signer for c in previews.of("milk")] == ["you"]
    assert [c.signer for c in previews.of("hello")] == ["signer 1", "signer 2", "signer 3"]
    assert "your recordings" in previews.source
    assert not [p for p in new.parent.iterdir() if p.name.startswith(".")]
    assert any(a.data() == str(new) for a in w.model_menu.actions())
    w.load_model(new)
    assert w.bridge.model_info is not None and "milk" in w.bridge.model_info.vocabulary
    lines, _ = w.vocabulary_lines()
    assert "milk  (4 samples)" in lines


def test_cancel_leaves_no_files(taught_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = taught_window
    dialog = w.record_dialog
    with qtbot.waitSignal(dialog.teacher.progress, timeout=60_000):
        dialog.train(epochs=50)
    with qtbot.waitSignal(dialog.teacher.finished, timeout=20_000) as done:
        dialog.teacher.cancel()
    assert done.args[0] is False and "cancelled" in done.args[1]
    assert not w.user_models_dir.exists() or not list(w.user_models_dir.iterdir())
    assert "cancelled" in dialog.train_status.text()


def test_teaching_is_disabled_with_the_reason_without_a_checkpoint(
    taught_window, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dialog = taught_window.record_dialog
    (tmp_path / "base" / "tiny.pt").unlink()
    taught_window.open_record_dialog()
    assert not dialog.train_button.isEnabled()
    assert "tiny.pt" in dialog.train_button.toolTip()
