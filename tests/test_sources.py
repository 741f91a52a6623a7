"""Sources (engine.sources): specs, pacing, landmark replays, faults, and the capture thread.

Videos are real files written here with cv2.VideoWriter (mp4v, MJPG) and decoded by OpenCV. No
camera exists on the build machines: the camera path is tested with a missing device, with a
stand-in capture object, and with a video file played through the camera code; the one test
that needs a real camera is marked ``camera`` and skips where /dev/video* is absent.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from conftest import make_sequence

from engine.capture import CaptureThread, Empty
from engine.dataset import Dataset
from engine.errors import SourceError
from engine.features import DEFAULT_ASPECT
from engine.posefile import read_sequence, write_sequence
from engine.sources import (
    SourceConfig,
    SourceFrame,
    WebcamSource,
    open_source,
    replay_sequences,
)

W, H = 64, 48
HAS_CAMERA = bool(list(Path("/dev").glob("video*")))


def write_video(path: Path, n: int, fps: float, fourcc: str = "mp4v", noise: bool = False) -> Path:
    """``n`` frames: a square moving on grey (or random noise, which compresses badly)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (W, H))
    assert writer.isOpened(), f"cannot write {fourcc} video"
    rng = np.random.default_rng(0)
    for i in range(n):
        if noise:
            frame = rng.integers(0, 255, (H, W, 3), np.uint8)
        else:
            frame = np.full((H, W, 3), 90, np.uint8)
            frame[10:26, i % 40 : i % 40 + 16] = 230
        writer.write(frame)
    writer.release()
    return path


def drain(frames: Any) -> tuple[list[SourceFrame], SourceError | None]:
    """Every frame of a source or capture thread, and the error that ended it (if one did)."""
    got: list[SourceFrame] = []
    try:
        for frame in frames:
            got.append(frame)
    except SourceError as e:
        return got, e
    return got, None


class FakeCamera:
    """A ``cv2.VideoCapture`` stand-in: ``frames`` frames of ``size``, then failed reads.

    With ``block`` set, the read after the last frame blocks until the event is set (a driver
    stuck in a read).
    """

    def __init__(
        self,
        frames: int,
        size: tuple[int, int] = (240, 320),
        fps: float = 30.0,
        block: threading.Event | None = None,
    ) -> None:
        self.frames, self.size, self.fps, self.block = frames, size, fps, block
        self.reads = 0
        self.released = False
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return not self.released

    def read(self) -> tuple[bool, npt.NDArray[np.uint8] | None]:
        self.reads += 1
        if self.reads <= self.frames:
            time.sleep(0.002)
            return True, np.full((*self.size, 3), self.reads, np.uint8)
        if self.block is not None:
            self.block.wait()
        return False, None

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else self.props.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True  # a driver says yes and does what it likes

    def release(self) -> None:
        self.released = True


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


# ---------------------------------------------------------------------------------- cameras


@pytest.mark.parametrize(
    ("spec", "match"),
    [("webcam:7", "webcam:7: cannot open camera 7"), ("webcam:/dev/video-none", "no such camera")],
)
def test_missing_camera_is_a_clear_source_error(spec: str, match: str) -> None:
    with pytest.raises(SourceError, match=match) as caught:
        open_source(spec)
    if not HAS_CAMERA:
        assert "/dev/video* absent" in str(caught.value)


def test_camera_reports_what_it_delivers_not_what_was_asked() -> None:
    fake = FakeCamera(frames=3, size=(240, 320), fps=30.0)
    config = SourceConfig(width=1280, height=720, fps=60, fourcc="MJPG")
    with WebcamSource(0, config, capture=fake) as cam:
        assert fake.props[cv2.CAP_PROP_FRAME_WIDTH] == 1280  # asked ...
        info = cam.info
        assert (info.width, info.height, info.fps) == (320, 240, 30.0)  # ... but got this
        assert info.live and info.realtime and not info.landmarks and info.frame_count is None
        assert "320x240 @ 30 fps" in info.description and "asked 1280x720" in info.description
        frames = [cam.read() for _ in range(3)]
    assert all(f is not None and f.image_rgb is not None for f in frames)
    times = [f.timestamp for f in frames if f is not None]
    assert times[0] == 0.0 and all(b > a for a, b in itertools.pairwise(times))
    assert fake.released


def test_camera_that_never_delivers_fails_at_open() -> None:
    fake = FakeCamera(frames=0)
    start = time.monotonic()
    with pytest.raises(SourceError, match="webcam:0: the camera opened but delivered no frame"):
        WebcamSource(0, SourceConfig(camera_start_timeout_s=0.2), capture=fake)
    assert time.monotonic() - start < 1.0 and fake.released


@pytest.mark.parametrize("stand_in", ["fake", "video"])
def test_camera_that_disappears_surfaces_a_source_error(stand_in: str, tmp_path: Path) -> None:
    capture: Any
    if stand_in == "fake":
        capture, expected = FakeCamera(frames=5), 5
    else:  # a real OpenCV capture through the same code: reads fail once the file ends
        video = write_video(tmp_path / "cam.mp4", 8, fps=30.0)
        capture, expected = cv2.VideoCapture(str(video)), 8
    source = WebcamSource(0, SourceConfig(camera_timeout_s=0.3), capture=capture)
    start = time.monotonic()
    with CaptureThread(source, drop_oldest=False) as frames:
        got, error = drain(frames)
        assert frames.finished and frames.error is error
    assert len(got) == expected and [f.index for f in got] == list(range(expected))
    assert error is not None and "webcam:0: the camera stopped delivering frames" in str(error)
    assert time.monotonic() - start < 3.0
    assert source.closed
    if stand_in == "fake":
        assert capture.released


@pytest.mark.camera
@pytest.mark.skipif(not HAS_CAMERA, reason="no camera device (/dev/video* absent)")
def test_real_camera_delivers_timed_frames() -> None:
    with open_source("webcam:0", width=640, height=480) as cam:
        frames = [cam.read() for _ in range(5)]
        info = cam.info
    assert all(f is not None and f.image_rgb is not None for f in frames)
    assert all(f is not None and (f.width, f.height) == (info.width, info.height) for f in frames)
    times = [f.timestamp for f in frames if f is not None]
    assert all(b > a for a, b in itertools.pairwise(times))


# ---------------------------------------------------------------------------------- videos


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_video_plays_at_its_real_pace(tmp_path: Path, speed: float) -> None:
    fps, n = 20.0, 12
    video = write_video(tmp_path / "clip.mp4", n, fps)
    with open_source(video, speed=speed) as source:
        assert source.info.kind == "video" and source.info.realtime
        assert (source.info.width, source.info.height, source.info.fps) == (W, H, fps)
        start = time.monotonic()
        frames, error = drain(source)
        elapsed = time.monotonic() - start
    assert error is None and len(frames) == n
    times = np.array([f.timestamp for f in frames])
    np.testing.assert_allclose(times, np.arange(n) / fps, atol=1e-6)  # the container's clock
    duration = times[-1] / speed
    assert duration - 0.02 <= elapsed < duration + 2.0  # generous: a busy 2-core machine
    arrivals = np.array([f.captured_at for f in frames]) - frames[0].captured_at
    assert np.all(arrivals >= times / speed - 0.02)  # no frame early
    image = frames[0].image_rgb
    assert image is not None and image.shape == (H, W, 3) and image.dtype == np.uint8


def test_video_fast_mode_does_not_wait(tmp_path: Path) -> None:
    fps, n = 20.0, 60  # three seconds of video
    video = write_video(tmp_path / "clip.mp4", n, fps)
    start = time.monotonic()
    with open_source(video, realtime=False) as source:
        frames, error = drain(source)
    assert error is None and len(frames) == n
    assert time.monotonic() - start < 2.5  # real pace would take 3 s
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(n) / fps, atol=1e-6)


def test_gif_plays_with_its_frame_delays(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    pictures = [image_module.new("RGB", (W, H), (40 * i, 90, 200)) for i in range(4)]
    gif = tmp_path / "sign.gif"
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    with open_source(gif, realtime=False) as source:
        assert source.info.kind == "video"
        frames, error = drain(source)
    assert error is None and len(frames) == 4
    np.testing.assert_allclose([f.timestamp for f in frames], [0.0, 0.1, 0.2, 0.3], atol=0.011)


def test_truncated_video_surfaces_an_error_after_what_decoded(tmp_path: Path) -> None:
    # MJPG keeps its frame count in the header, so a cut file opens and then runs dry
    full = write_video(tmp_path / "full.avi", 40, 30.0, fourcc="MJPG", noise=True)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with CaptureThread(open_source(cut, realtime=False), drop_oldest=False) as frames:
        got, error = drain(frames)
        with pytest.raises(SourceError, match=r"cut\.avi"):
            frames.get(timeout=1.0)  # and again: the failure does not turn into an end
    assert 0 < len(got) < 35
    assert error is not None and "cut.avi" in str(error) and "decoding stopped" in str(error)
    with open_source(cut, realtime=False, allow_truncated=True) as source:
        kept, error = drain(source)
    assert error is None and len(kept) == len(got)


def test_unreadable_files_raise_source_errors_naming_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "junk.mp4").write_bytes(rng.bytes(3000))
    (tmp_path / "junk.dat").write_bytes(rng.bytes(3000))
    (tmp_path / "folder").mkdir()
    cases = {
        "junk.mp4": "junk.mp4: not a video",
        "junk.dat": "junk.dat: neither a video OpenCV can read nor a .pose",
        "missing.mp4": "missing.mp4: no such",
        "folder": "not a SignStream dataset",
    }
    for name, match in cases.items():
        with pytest.raises(SourceError, match=match):
            open_source(tmp_path / name)
    with pytest.raises(SourceError, match="no path after 'video:'"):
        open_source("video:")


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match="unknown source option"):
        open_source("x.mp4", sped=2.0)
    with pytest.raises(ValueError, match="speed must be positive"):
        open_source("x.mp4", speed=0.0)


# ---------------------------------------------------------------------------------- replays


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, list[Any]]:
    seqs = [
        make_sequence(10, seed=1, glosses=("hello",)),
        make_sequence(12, fps=15.0, seed=2, glosses=("tea",)),
        make_sequence(8, seed=3, glosses=("coffee",)),
    ]
    seqs[1] = seqs[1].replace(aspect=16 / 9)
    root = tmp_path / "ds"
    Dataset.create(root).append(seqs)
    return root, seqs


def test_dataset_replays_one_sequence_without_images(dataset: tuple[Path, list[Any]]) -> None:
    root, seqs = dataset
    with open_source(f"dataset:{root}#1", realtime=False) as source:
        info = source.info
        frames, error = drain(source)
    assert error is None and len(frames) == 12
    assert info.kind == "dataset" and info.landmarks and info.frame_count == 12
    assert info.fps == 15.0 and (info.width, info.height) == (640, 360)  # its 16:9
    assert all(f.image_rgb is None and f.landmarks is not None for f in frames)
    points = np.stack([f.landmarks.points for f in frames if f.landmarks is not None])
    np.testing.assert_array_equal(points, seqs[1].points)
    marks = frames[3].landmarks
    assert marks is not None and marks.timestamp == frames[3].timestamp
    np.testing.assert_array_equal(marks.present, seqs[1].present[3])
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(12) / 15.0)


def test_dataset_replays_all_sequences_as_one_stream(dataset: tuple[Path, list[Any]]) -> None:
    root, _ = dataset
    for spec in (f"dataset:{root}", str(root)):
        with open_source(spec, realtime=False) as source:
            assert source.info.frame_count == 30
            frames, error = drain(source)
        assert error is None and len(frames) == 30
        assert [f.index for f in frames] == list(range(30))
        assert [f.segment for f in frames] == [0] * 10 + [1] * 12 + [2] * 8
        times = np.array([f.timestamp for f in frames])
        assert times[0] == 0.0 and np.all(np.diff(times) > 0)
        # one frame period of the previous recording between recordings
        assert times[10] - times[9] == pytest.approx(1 / 30)
        assert times[22] - times[21] == pytest.approx(1 / 15)
        # a recording without an aspect gets the features' default, exactly
        assert frames[0].aspect == DEFAULT_ASPECT and frames[10].aspect == 16 / 9
    with pytest.raises(SourceError, match="no sequence 5 \\(the dataset holds 3\\)"):
        open_source(f"dataset:{root}#5")
    with pytest.raises(SourceError, match=f"dataset:{root / 'nothing'}: no such folder: "):
        open_source(f"dataset:{root / 'nothing'}")
    (root / "empty").mkdir()
    with pytest.raises(SourceError, match="is not a SignStream dataset"):
        open_source(f"dataset:{root / 'empty'}")


def test_pose_file_replays_with_its_image_size(tmp_path: Path) -> None:
    path = tmp_path / "rec.pose"
    write_sequence(path, make_sequence(20, seed=4), width=640, height=480)
    expected = read_sequence(path)
    other = tmp_path / "rec.bin"  # no telling extension: found by trying
    shutil.copy(path, other)
    for name in (path, other, f"pose:{other}"):
        with open_source(name, realtime=False) as source:
            info = source.info
            frames, error = drain(source)
        assert error is None and info.kind == "pose" and info.landmarks
        assert (info.width, info.height, info.fps) == (640, 480, 30.0)
        assert len(frames) == 20 and all(f.landmarks is not None for f in frames)
        points = np.stack([f.landmarks.points for f in frames if f.landmarks is not None])
        np.testing.assert_array_equal(points, expected.points)
        np.testing.assert_allclose([f.timestamp for f in frames], expected.timestamps)


def test_replay_plays_at_the_recordings_pace() -> None:
    seq = make_sequence(10, fps=30.0)
    start = time.monotonic()
    with replay_sequences([seq]) as source:
        frames, _ = drain(source)
    assert len(frames) == 10
    assert 9 / 30 - 0.02 <= time.monotonic() - start < 9 / 30 + 2.0


# ---------------------------------------------------------------------------------- thread


def test_full_queue_drops_the_oldest_frames() -> None:
    source = replay_sequences([make_sequence(20)], realtime=False)
    with CaptureThread(source, maxsize=3) as frames:
        wait_until(lambda: frames.finished)  # a consumer that did not keep up at all
        stats = frames.stats()
        assert (stats.frames_read, stats.dropped, stats.queued) == (20, 17, 3)
        assert stats.input_fps > 0
        got, error = drain(frames)
        assert frames.get(timeout=0.1) is None  # the end stays the end
    assert error is None and [f.index for f in got] == [17, 18, 19]  # the newest
    assert source.closed


def test_slow_consumer_sees_the_newest_frames() -> None:
    source = replay_sequences([make_sequence(30, fps=50.0)])  # 0.6 s at its pace
    got: list[SourceFrame] = []
    with CaptureThread(source, maxsize=2) as frames:
        while (frame := frames.get(timeout=5.0)) is not None:
            got.append(frame)
            time.sleep(0.1)  # five frame periods per frame
        dropped = frames.dropped
    indices = [f.index for f in got]
    assert indices == sorted(indices) and indices[-1] == 29
    assert dropped > 0 and len(got) + dropped == 30
    assert len(got) < 20


def test_blocking_mode_keeps_every_frame() -> None:
    source = replay_sequences([make_sequence(15)], realtime=False)
    with CaptureThread(source, maxsize=2, drop_oldest=False) as frames:
        got = []
        for frame in frames:
            got.append(frame)
            time.sleep(0.005)
        assert frames.dropped == 0
    assert [f.index for f in got] == list(range(15))


def test_get_times_out_with_empty_and_needs_start() -> None:
    source = replay_sequences([make_sequence(3, fps=0.5)])  # a frame every two seconds
    frames = CaptureThread(source)
    with pytest.raises(RuntimeError, match="before start"):
        frames.get(timeout=0.01)
    with frames:
        assert frames.get(timeout=2.0) is not None
        with pytest.raises(Empty):
            frames.get(timeout=0.05)


def test_stop_wakes_a_blocked_consumer_within_a_second() -> None:
    source = replay_sequences([make_sequence(5, fps=0.5)])  # the reader waits two seconds
    frames = CaptureThread(source).start()
    assert frames.get(timeout=2.0) is not None
    result: list[SourceFrame | None] = []
    consumer = threading.Thread(target=lambda: result.append(frames.get(timeout=10.0)))
    consumer.start()
    time.sleep(0.1)  # the consumer waits in get(), the reader in its pacing
    start = time.monotonic()
    assert frames.stop() is True
    assert time.monotonic() - start < 1.0
    consumer.join(1.0)
    assert not consumer.is_alive() and result == [None]
    assert source.closed and frames.get(timeout=0.1) is None


def test_stop_returns_while_the_reader_waits_for_room() -> None:
    source = replay_sequences([make_sequence(50)], realtime=False)
    frames = CaptureThread(source, maxsize=2, drop_oldest=False).start()
    wait_until(lambda: frames.stats().queued == 2)  # full, nobody consuming: the reader waits
    start = time.monotonic()
    assert frames.stop() is True
    assert time.monotonic() - start < 1.0 and source.closed


def test_stop_returns_within_a_second_while_a_camera_read_hangs() -> None:
    unblock = threading.Event()
    fake = FakeCamera(frames=2, block=unblock)
    source = WebcamSource(0, SourceConfig(camera_timeout_s=30.0), capture=fake)
    frames = CaptureThread(source, drop_oldest=False).start()
    assert frames.get(timeout=2.0) is not None and frames.get(timeout=2.0) is not None
    wait_until(lambda: fake.reads == 3)  # stuck inside read()
    start = time.monotonic()
    assert frames.stop() is False  # returns, says the camera is not released yet
    assert time.monotonic() - start < 1.0
    assert not fake.released  # never released under a read in progress
    unblock.set()
    wait_until(lambda: fake.released, timeout=2.0)  # released as soon as read() returns
    assert frames.finished and frames.error is None


def test_stop_before_start_releases_the_source(tmp_path: Path) -> None:
    source = open_source(write_video(tmp_path / "clip.mp4", 3, 20.0))
    assert CaptureThread(source).stop() is True and source.closed
