"""Fit to me from the app: a replayed person through the real dialog, the fine-tune, the result.

The "person" is a held-out signer of the tiny data who signs every gloss in a form of their own
(the right hand further out and lower): each time the dialog's recorder starts a take, the test
plays that person's next clip of the prompted gloss through the real engine as a dataset source
(``dataset:DIR#i``), as a person signs when prompted. Then the dialog's fine-tune runs (a few
steps), the window switches to the fitted model and back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer

from app.main_window import MainWindow
from engine.dataset import Dataset
from engine.events import FrameEvent
from engine.landmarks import NUM_POINTS, LandmarkSequence
from engine.model import read_model_info
from engine.previews import previews_path, save_previews
from tests.conftest import GLOSSES, _sign
from training.generalise import decide_clips
from training.previews import build_previews

TAKES = 2
HELD_OUT = 6  # clips per gloss the fitted model is judged on
HOLD_FRAMES = 30  # still frames after each clip: a take (0.5 s) ends before its source does


def _their_way(gloss: str, seed: int) -> LandmarkSequence:
    """The person's form of ``gloss``: another hand position than the training signers'."""
    seq = _sign(gloss, seed, "person")
    p = seq.points.copy()
    p[:, 54:75, 0] += 0.12
    p[:, 54:75, 1] += 0.08
    return seq.replace(points=p)


def _held(seq: LandmarkSequence, hold: int = HOLD_FRAMES) -> LandmarkSequence:
    """``seq`` with its last frame held still ``hold`` frames (a signer ends a sign, then
    waits)."""
    idx = np.r_[np.arange(seq.num_frames), np.full(hold, seq.num_frames - 1)]
    t = np.arange(len(idx)) / seq.fps
    return seq.replace(points=seq.points[idx], present=seq.present[idx], timestamps=t)


@pytest.fixture
def fit_window(qtbot, tmp_path: Path, tiny_onnx: Path, tiny_data: Path):  # type: ignore[no-untyped-def]
    base = tmp_path / "base" / "tiny.onnx"
    base.parent.mkdir()
    shutil.copy(tiny_onnx, base)
    shutil.copy(tiny_data / "runs" / "onnx" / "best.pt", base.with_suffix(".pt"))
    glosses = read_model_info(base).vocabulary.glosses
    save_previews(build_previews(Dataset(tiny_data / "ds"), glosses, "tiny"), previews_path(base))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model=base, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    yield w
    if w.fit_dialog is not None:
        w.fit_dialog.teacher.cancel()
    w.bridge.close()


def test_fit_to_me_with_a_replayed_person_makes_a_fitted_model_and_switches_back(
    fit_window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    w = fit_window
    base = Path(w.bridge.model_info.path)
    takes = Dataset.create(tmp_path / "person-takes")
    takes.append([_held(_their_way(g, 700 + k)) for g in GLOSSES for k in range(TAKES)])
    held_out = [_held(_their_way(g, 800 + k)) for g in GLOSSES for k in range(HELD_OUT)]
    assert w.fit_offer.isVisible() or not w.isVisible()  # first run: the offer is there
    w.open_fit_dialog()
    dialog = w.fit_dialog
    dialog.name.setText("Kim")
    dialog.takes.setValue(TAKES)
    dialog.seconds.setValue(0.5)
    dialog.countdown_s.setValue(0)
    played: list[int] = []

    def sign_when_prompted(take: int) -> None:  # the person signs the gloss they are shown
        gloss = dialog.glosses[dialog.position]
        i = GLOSSES.index(gloss) * TAKES + dialog.saved_now
        played.append(i)
        w.open_source(f"dataset:{tmp_path / 'person-takes'}#{i}", realtime=True)

    w.open_source(f"dataset:{tmp_path / 'person-takes'}#0", realtime=False)  # the "camera"
    qtbot.waitUntil(lambda: w.bridge.running, timeout=10_000)
    dialog.start()
    dialog.recorder.started.connect(sign_when_prompted)
    sign_when_prompted(1)  # the first take began inside start()
    # recording goes through every gloss, then the fit starts by itself
    qtbot.waitUntil(lambda: dialog.teacher.running, timeout=60_000)
    assert dialog.stored_counts() == dict.fromkeys(GLOSSES, TAKES), dialog.message.text()
    dialog.teacher.cancel()  # the default settings are for a real model: fit quicker here
    qtbot.waitUntil(lambda: not dialog.teacher.running, timeout=20_000)
    assert not [p for p in w.user_models_dir.glob("*")], "a cancel leaves no half model"
    with qtbot.waitSignal(dialog.model_fitted, timeout=60_000) as done:
        dialog.fit(epochs=10, extra=["--user-sentences", "48", "--lr", "3e-3"])
    fitted = Path(done.args[0])
    info = read_model_info(fitted)
    assert info.name == "tiny fitted to Kim" and set(info.vocabulary.glosses) == set(GLOSSES)
    assert w.bridge.model_info is not None and w.bridge.model_info.path == str(fitted)
    labels = [a.text() for a in w.model_menu.actions()]
    assert any(t.startswith("tiny fitted to Kim") for t in labels)
    assert str(base) in w.prefs.recent_models  # the original stays (not shipped here: Recent)
    assert "Done: " in dialog.message.text() and "Switch back to" in dialog.message.text()
    # NOT asserted here: that the person's other clips improve. The session's tiny model is
    # too weak to learn from a few steps (it fits not even its own takes); the improvement on
    # real held-out people is measured by bench/calibration.py. Asserted: they can be decided.
    assert len(decide_clips(fitted, held_out)) == len(held_out)
    dialog.back_button.click()  # switch back to the original
    qtbot.waitUntil(lambda: w.bridge.model_info.path == str(base), timeout=10_000)
    assert (w.data_dir / "calibration" / "Kim" / "dataset.json").is_file()  # kept for reuse


def test_a_take_without_hands_is_said_and_the_dialog_carries_on(fit_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = fit_window
    w.open_fit_dialog()
    dialog = w.fit_dialog
    dialog.countdown_s.setValue(0)
    dialog.seconds.setValue(0.5)
    dialog.source_running = True
    dialog.start()
    gloss = dialog.glosses[0]

    frames = [
        FrameEvent(
            frame_index=i,
            timestamp=i / 30,
            image=None,
            image_size=(640, 480),
            points=np.zeros((NUM_POINTS, 4), np.float32),
            present=np.array([True, False, False, False]),
        )
        for i in range(40)
    ]
    for f in frames:
        dialog.on_frame(f)
    assert "no hand was seen" in dialog.message.text() and "Carrying on" in dialog.message.text()
    assert dialog.recording and dialog.glosses[dialog.position] == gloss  # asked again
    dialog.skip()
    assert dialog.glosses[dialog.position] != gloss
    dialog.on_source_ended()  # the camera is lost mid-take
    assert "source stopped" in dialog.message.text() and dialog.start_button.text() == "Continue"
    assert not dialog.recording


@pytest.mark.slow
@pytest.mark.data
def test_fit_to_me_in_the_dialog_improves_a_real_person_the_model_never_saw(
    qtbot, tmp_path: Path, shared_data: Path
) -> None:  # type: ignore[no-untyped-def]
    """The shipped model, Fit to me driven through the real dialog by a real person it never
    saw: the first crowd person of the calibration bench's report share (not a person any
    setting was chosen on) signs their 3 takes of each gloss they recorded when the dialog
    prompts it (their landmark clips replayed through the engine as a dataset source; the
    glosses they never recorded are skipped, as a person skips signs they do not use). The
    dialog's own fine-tune (``--calibrate``, the settings the app ships) runs, the window
    loads the fitted model, and the person's other clips are decided better with it."""
    from engine.model_index import default_model
    from training.calibration import heldout_people, split_person, top1
    from training.checkpoint import load_checkpoint
    from training.data.people import ensure_people
    from training.data.registry import DATA_DIR

    ensure_people(shared_data)
    people_ds = Dataset(DATA_DIR / "people")
    shipped = default_model()
    base = tmp_path / "base" / shipped.name
    base.parent.mkdir()
    for f in shipped.parent.glob(f"{shipped.stem}.*"):  # the ONNX, checkpoint, LM, previews
        shutil.copy(f, base.parent / f.name)
    people = heldout_people(people_ds, load_checkpoint(base.with_suffix(".pt")), ks=(3,))
    person = [p for p in people if p.dataset == "crowd"][1::2][0]  # the bench's report share
    split = split_person(person, ks=(3,))
    by_gloss: dict[str, list[int]] = {}
    takes = Dataset.create(tmp_path / "person-takes")
    for info in split.takes[3]:
        by_gloss.setdefault(info.gloss, []).append(len(takes))
        # held 5 s: the source plays on while the dialog skips the signs that are not theirs
        takes.append([_held(people_ds[info.index], hold=150)])
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model=base, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.open_fit_dialog()
    dialog = w.fit_dialog
    dialog.name.setText("Pat")
    dialog.takes.setValue(3)
    dialog.seconds.setValue(1.2)  # a crowd clip is 30 frames at 30 fps, then held still
    dialog.countdown_s.setValue(0)
    skipped: list[str] = []

    def sign_when_prompted(take: int) -> None:
        gloss = dialog.glosses[dialog.position]
        if gloss not in by_gloss:  # not one of their signs: skip it once the take is set up
            skipped.append(gloss)
            QTimer.singleShot(0, dialog.skip)
            return
        i = by_gloss[gloss][dialog.saved_now]
        w.open_source(f"dataset:{tmp_path / 'person-takes'}#{i}", realtime=True)

    try:
        # the "camera", in real time: a skip comes long before a take's worth of its frames
        w.open_source(f"dataset:{tmp_path / 'person-takes'}#0", realtime=True)
        qtbot.waitUntil(lambda: w.bridge.running, timeout=10_000)
        dialog.start()
        dialog.recorder.started.connect(sign_when_prompted)
        sign_when_prompted(1)  # the first take began inside start()
        # recording goes through every gloss, then the fit starts by itself
        qtbot.waitUntil(lambda: dialog.teacher.running or not dialog.recording, timeout=60_000)
        assert dialog.teacher.running, (dialog.message.text(), dialog.stored_counts())
        assert dialog.stored_counts() == {g: 3 for g in by_gloss}, dialog.message.text()
        with qtbot.waitSignal(dialog.model_fitted, timeout=600_000) as done:
            pass
        assert sorted(skipped + list(by_gloss)) == sorted(dialog.glosses)
        fitted = Path(done.args[0])
        assert w.bridge.model_info is not None and w.bridge.model_info.path == str(fitted)
        before = top1(base.with_suffix(".onnx"), people_ds, split.evaluated)
        after = top1(fitted, people_ds, split.evaluated)
        print(f"{person.signer}: {before:.1%} -> {after:.1%} of {len(split.evaluated)} clips")
        assert after >= before + 0.1, (person.signer, before, after)
    finally:
        if w.fit_dialog is not None:
            w.fit_dialog.teacher.cancel()
        w.bridge.close()
