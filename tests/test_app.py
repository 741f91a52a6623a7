"""The desktop app, offscreen, on real widgets: videos, models from the menu, the transcript."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.main_window import MainWindow
from app.transcript import TranscriptEntry, to_srt
from engine.dataset import Dataset
from training.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize


def write_video(path: Path, frames: int = 12) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (96, 72))
    for i in range(frames):
        img = np.full((72, 96, 3), 40 + 10 * i, np.uint8)
        cv2.circle(img, (20 + 4 * i, 36), 8, (255, 255, 255), -1)
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def window(qtbot):  # type: ignore[no-untyped-def]
    w = MainWindow(model=None)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.bridge.close()


def test_plays_a_video_without_people(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video = write_video(tmp_path / "empty.mp4")
    with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
        window.open_source(video, realtime=False)
    qtbot.waitUntil(lambda: window.frames_shown == 12, timeout=5_000)
    assert not window.video.pixmap().isNull()
    assert window.error_box is None
    assert "landmarks only" in window.status.text()


def test_unreadable_video_gives_a_message_and_the_app_keeps_running(
    window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(2048))
    window.open_source(bad)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=5_000)
    assert "broken.mp4" in window.error_box.text()
    window.error_box.close()
    with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
        window.open_source(write_video(tmp_path / "ok.mp4", frames=4), realtime=False)
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=5_000)


def test_model_from_menu_transcript_grows_and_bad_model_keeps_the_old(
    window, qtbot, tiny_onnx: Path, tiny_data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window.load_model(tiny_onnx)
    assert window.bridge.model_info is not None and "tiny" in window.status.text()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    window.load_model(broken)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=5_000)
    assert "broken.onnx" in window.error_box.text()
    assert window.bridge.model_info is not None and window.bridge.model_info.name == "tiny"
    window.error_box.close()
    # sentences of the held-out tiny signer, replayed as a landmark recording
    ds = Dataset(tiny_data / "ds")
    pool = SamplePool(collect_samples(ds, [i.index for i in ds.infos if i.signer == "s3"]))
    wanted = [("hello", "tea"), ("coffee", "hello"), ("tea", "coffee", "hello")] * 2
    out = Dataset.create(tmp_path / "sentences")
    out.append(synthesize(pool, wanted, SynthesisConfig(idle_before=1, idle_after=1), seed=5))
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        window.open_source(f"dataset:{tmp_path / 'sentences'}", realtime=False)
    qtbot.waitUntil(lambda: len(window.transcript.entries) > 0, timeout=5_000)
    srt = tmp_path / "t.srt"
    window.write_transcript(srt)
    assert srt.read_text().startswith("1\n00:00:")


def test_srt_format() -> None:
    entries = [TranscriptEntry(1.5, 2.25, "hello tea", 0.9), TranscriptEntry(61.0, 61.1, "no", 0.5)]
    assert to_srt(entries) == (
        "1\n00:00:01,500 --> 00:00:02,250\nhello tea\n\n2\n00:01:01,000 --> 00:01:01,500\nno\n"
    )


@pytest.mark.data
def test_real_signing_video_shows_landmarks(window, qtbot, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    seen = []
    window.bridge.frame.connect(lambda e: seen.append(e.present.copy()))
    with qtbot.waitSignal(window.bridge.finished, timeout=90_000):
        window.open_source(shared_data / "videos" / "FOOTBALL.mp4", realtime=False)
    qtbot.waitUntil(lambda: len(seen) > 50, timeout=5_000)
    present = np.array(seen)
    assert present[:, 0].mean() > 0.95
    assert present[:, 1:3].any(axis=1).mean() > 0.9  # a hand in nearly every frame
