"""The app through a real session, as a new user meets it: sources one after another, the same
file twice, replays drawn, one message per failure, quitting cleanly (in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from app.main_window import DEFAULT_MODEL, MainWindow, no_display_reason
from app.overlay import CANVAS_COLOUR
from engine.demo import demo_glosses, demo_recordings
from engine.events import EndEvent
from tests.conftest import frames_in

REPO = Path(__file__).resolve().parents[1]
PLAY_TIMEOUT_MS = 120_000  # a 2 s video at its own pace, MediaPipe on a busy 2-core machine


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings: QSettings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The window with the shipped model, as a user starts it."""
    w = MainWindow(model=DEFAULT_MODEL, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.bridge.close()


def play(window, qtbot, source: Path | str, **options) -> EndEvent:  # type: ignore[no-untyped-def]
    """Open ``source`` in the window and wait for it to end; returns its summary."""

    def its_end(event: EndEvent) -> bool:
        return event.source == str(source) and event.reason != "stopped"

    with qtbot.waitSignal(
        window.bridge.ended, timeout=PLAY_TIMEOUT_MS, check_params_cb=its_end
    ) as blocker:
        window.open_source(source, **options)
    end = blocker.args[0]
    assert isinstance(end, EndEvent)
    return end


def corner_colour(window) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    image = window.video.pixmap().toImage()
    c = image.pixelColor(image.width() // 2, 2)
    return (c.red(), c.green(), c.blue())


@pytest.mark.data
def test_three_real_sources_in_a_row_each_play_with_no_error(
    window, qtbot, shared_data: Path
) -> None:  # type: ignore[no-untyped-def]
    videos = shared_data / "videos"
    sources = [
        videos / "FOOTBALL.mp4",
        videos / "test_video.mp4",
        shared_data / "pose" / "FOOTBALL.pose",
    ]
    shown = [window.frames_shown]
    for source in sources:
        end = play(window, qtbot, source)  # at the file's own pace, as the app plays files
        expected = shown[-1] + end.frames_processed
        qtbot.waitUntil(lambda n=expected: window.frames_shown >= n)
        shown.append(window.frames_shown)
        assert end.reason == "end", end.summary()
        assert end.frames_processed == end.frames_read > 20 and end.frames_dropped == 0
        assert not window.notice.isVisible(), window.notice.message
        assert str(source.name) in window.statusBar().currentMessage()  # the summary stays
    assert np.all(np.diff(shown) > 20)
    assert [name for _, name in window.transcript.sections] == [s.name for s in sources]
    # the replay is drawn on its own canvas: not the previous video's last frame
    assert corner_colour(window) == (
        CANVAS_COLOUR.red(),
        CANVAS_COLOUR.green(),
        CANVAS_COLOUR.blue(),
    )


@pytest.mark.data
def test_every_frame_of_a_short_real_video_is_processed_in_file_mode(
    window, qtbot, shared_data: Path
) -> None:  # type: ignore[no-untyped-def]
    video = shared_data / "videos" / "SOUP.mp4"
    end = play(window, qtbot, video)  # real time, MediaPipe slower than the file: it waits
    assert end.frames_processed == frames_in(video) and end.frames_dropped == 0
    assert "0 dropped" in window.statusBar().currentMessage()


@pytest.mark.data
def test_the_same_file_twice_and_a_switch_while_playing(window, qtbot, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    video = shared_data / "videos" / "asl_different.mp4"
    first = play(window, qtbot, video, realtime=False)
    second = play(window, qtbot, video, realtime=False)
    assert first.frames_processed == second.frames_processed == frames_in(video)
    # a new source while one plays: the old one stops, the new one plays whole
    window.open_source(shared_data / "videos" / "asl_house.mp4")
    qtbot.waitUntil(lambda: window.bridge.running and window.frames_shown > 0, timeout=30_000)
    third = play(window, qtbot, video, realtime=False)
    assert third.frames_processed == first.frames_processed
    assert not window.notice.isVisible(), window.notice.message
    names = [name for _, name in window.transcript.sections]
    assert names == ["asl_different.mp4", "asl_different.mp4", "asl_house.mp4", "asl_different.mp4"]


def test_the_demo_plays_a_held_out_signer_and_commits_its_sentence(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    demo = demo_recordings()[0]
    with qtbot.waitSignal(window.bridge.ended, timeout=PLAY_TIMEOUT_MS) as blocker:
        window.play_demo()
    assert blocker.args[0].reason == "end"
    text = " ".join(e.text for e in window.transcript.entries)
    assert text.split() == list(demo_glosses(demo))
    assert window.frames_shown == blocker.args[0].frames_processed > 100
    assert corner_colour(window) == (
        CANVAS_COLOUR.red(),
        CANVAS_COLOUR.green(),
        CANVAS_COLOUR.blue(),
    )


def test_a_failure_on_every_frame_is_one_message_not_a_dialog_each(window, qtbot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(50):
        window.on_error("MediaPipe failed on a 64x48 frame: boom\n\nmore details", False)
    assert window.notice.isVisible() and window.notice.count == 50
    assert window.notice.shown_total == 1 and "(×50)" in window.notice.first_line
    assert "more details" not in window.notice.first_line  # behind Details…
    window.notice.show_details()
    assert window.notice.details_box is not None
    assert "more details" in window.notice.details_box.text()
    window.notice.details_box.close()
    window.notice.dismiss()
    assert not window.notice.isVisible()


def test_mirror_is_on_for_cameras_off_for_files_and_each_is_remembered(
    window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from tests.test_app import write_video

    assert window.mirror_action.isChecked()  # nothing played yet: the camera's setting
    play(window, qtbot, write_video(tmp_path / "clip.mp4"), realtime=False)
    assert not window.mirror_action.isChecked()  # a file is shown as it was filmed
    window.mirror_action.trigger()  # the user mirrors files
    assert window.prefs.mirror_file and window.prefs.mirror_camera
    play(window, qtbot, write_video(tmp_path / "clip2.mp4"), realtime=False)
    assert window.mirror_action.isChecked()


def test_no_display_is_said_before_qt_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    if sys.platform.startswith("linux"):
        assert "no display" in no_display_reason() and "xvfb-run" in no_display_reason()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert no_display_reason() == ""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM")
    done = subprocess.run(
        [sys.executable, "-m", "signstream.cli"], env=env, capture_output=True, text=True,
        timeout=120, cwd=REPO,
    )  # fmt: skip
    if sys.platform.startswith("linux"):
        assert done.returncode == 1 and "no display" in done.stderr
        assert "xcb-cursor0" not in done.stderr and "Aborted" not in done.stderr


# ---------------------------------------------------------------------- quitting
SESSION = textwrap.dedent(
    """
    import sys, tempfile
    from pathlib import Path
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from app.main_window import MainWindow

    sources = sys.argv[1:]
    app = QApplication(sys.argv[:1])
    tmp = tempfile.mkdtemp()
    window = MainWindow(settings=QSettings(tmp + "/s.ini", QSettings.Format.IniFormat),
                        data_dir=Path(tmp) / "user")
    window.show()
    ended = []
    window.bridge.ended.connect(lambda e: ended.append(e))

    def next_source():
        if sources:
            window.open_source(sources.pop(0), realtime=False)
            QTimer.singleShot(400, next_source)  # switch while the last one may still play
        else:
            QTimer.singleShot(300, window.close)  # quit during playback

    QTimer.singleShot(0, next_source)
    code = app.exec()
    print("frames", window.frames_shown, "ended", len(ended), flush=True)
    sys.exit(code)
    """
)


@pytest.mark.data
def test_launch_play_quit_ten_times_exits_zero(shared_data: Path, tmp_path: Path) -> None:
    script = tmp_path / "session.py"
    script.write_text(SESSION)
    videos = shared_data / "videos"
    sources = [
        str(videos / "FOOTBALL.mp4"),
        str(shared_data / "pose" / "FOOTBALL.pose"),
        str(videos / "SOUP.mp4"),
        str(REPO / "assets" / "demo" / "coffee-order.pose"),
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    for cycle in range(10):
        done = subprocess.run(
            [sys.executable, str(script), *sources[: 2 + cycle % 3]], env=env,
            capture_output=True, text=True, timeout=180, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, f"cycle {cycle}: exit {done.returncode}\n{done.stderr[-3000:]}"
        assert "bool_dealloc" not in done.stderr and "Fatal Python error" not in done.stderr
        frames = int(done.stdout.split()[1])
        assert frames > 0, done.stdout


def test_quitting_during_teaching_ends_the_training_process(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The window's close waits for the background training to end (SIGTERM, then kill):
    no orphaned process, no "QProcess: Destroyed while process is still running"."""
    import time

    from app.teaching import TeachProcess

    teacher = TeachProcess()
    # a process that ignores SIGTERM, like a training step that does not return at once
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    teacher.process.start(sys.executable, ["-c", ignore])
    assert teacher.process.waitForStarted(10_000)
    time.sleep(0.5)  # its handler is installed
    t0 = time.monotonic()
    teacher.shutdown(timeout_ms=1500)
    assert not teacher.running and time.monotonic() - t0 < 5.0
