"""The desktop app, offscreen: it opens, plays a real video file with landmarks, reports errors."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.main_window import MainWindow


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
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.preview.stop()


def test_plays_a_video_without_people(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video = write_video(tmp_path / "empty.mp4")
    with qtbot.waitSignal(window.preview.finished, timeout=30_000):
        window.open_video(video)
    qtbot.waitUntil(lambda: window.frames_shown >= 10, timeout=5_000)
    assert not window.video.pixmap().isNull()
    assert "fps" in window.status.text()
    assert window.error_box is None


def test_unreadable_video_gives_a_message_and_the_app_keeps_running(
    window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(2048))
    with qtbot.waitSignal(window.preview.finished, timeout=10_000):
        window.open_video(bad)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=5_000)
    assert "broken.mp4" in window.error_box.text()
    # still alive: a good video plays afterwards
    window.error_box.close()
    with qtbot.waitSignal(window.preview.finished, timeout=30_000):
        window.open_video(write_video(tmp_path / "ok.mp4", frames=4))
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=5_000)


@pytest.mark.data
def test_real_signing_video_shows_landmarks(window, qtbot, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    seen = []
    window.preview.frame_ready.connect(lambda f, lm, ms: seen.append(lm.present.copy()))
    with qtbot.waitSignal(window.preview.finished, timeout=60_000):
        window.preview.start(shared_data / "videos" / "FOOTBALL.mp4", realtime=False)
    present = np.array(seen)
    assert len(present) > 50 and present[:, 0].mean() > 0.95
    assert present[:, 1:3].any(axis=1).mean() > 0.9  # a hand in nearly every frame
