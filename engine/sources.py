"""Where frames come from (cameras, video files and GIFs, landmark recordings); the capture thread.

Every source is a :class:`Source`: ``read()`` returns the next :class:`SourceFrame` or ``None``
at the end, and ``info`` (a :class:`SourceInfo`) says what it is: its nominal fps, image size,
whether it is a live camera and whether its frames carry landmarks instead of an image.
:func:`open_source` makes one from a spec string::

    webcam:0  webcam  webcam:/dev/video2   a camera (OpenCV) by index or device path
    clip.mp4  sign.gif  video:odd.name      a video file or animated GIF (OpenCV's FFmpeg)
    dataset:DIR  dataset:DIR#3  DIR         a SignStream dataset: every sequence in order, or one
    rec.pose  pose:rec.bin                  a pose-format recording (MediaPipe Holistic)

Timestamps are seconds from the stream's first frame (0.0), strictly increasing: the container's
clock for videos, the recording's for landmark replays (a whole dataset plays as one stream, one
frame period between sequences), the arrival time for cameras (OpenCV exposes no reliable
capture clock for them). Files and recordings play at their own pace (``realtime=True``, the
default: a stand-in for a camera) or as fast as they decode (``realtime=False``: batch work,
benchmarks). Landmark replays deliver ``landmarks`` and no image: the pipeline skips MediaPipe.

The capture thread that reads a source live is :mod:`engine.capture`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from engine.dataset import INDEX_FILE, Dataset
from engine.errors import SignStreamError, SourceError
from engine.extractor import FrameLandmarks, RgbFrame
from engine.features import DEFAULT_ASPECT
from engine.landmarks import LandmarkSequence
from engine.posefile import read_sequence
from engine.video import DEFAULT_FPS, MAX_FPS, VideoReader, to_rgb

__all__ = [
    "POSE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "DatasetSource",
    "ReplaySource",
    "Source",
    "SourceConfig",
    "SourceFrame",
    "SourceInfo",
    "SourceKind",
    "VideoCaptureLike",
    "VideoSource",
    "WebcamSource",
    "open_source",
    "replay_sequences",
]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".wmv", ".flv"}
    | {".ogv", ".3gp", ".ts", ".mjpeg", ".mjpg"}
)
POSE_SUFFIXES = frozenset({".pose"})
# between two attempts to read a camera that returned nothing (a camera starting, a USB hiccup)
CAMERA_RETRY_S = 0.02
# nominal pixel height of landmark replays whose recording gives only an aspect ratio
REPLAY_MIN_HEIGHT = 360
_ASPECT_DENOMINATOR = 2000  # exact image sizes for aspects up to this denominator (4/3, 16/9...)

SourceKind = Literal["webcam", "video", "dataset", "pose", "sequences"]


@dataclass(frozen=True)
class SourceConfig:
    """How a source is opened and played; ``open_source(spec, **options)`` sets any field."""

    # play files and recordings at their own pace (a camera stand-in); False: as fast as they
    # decode. Cameras are live either way.
    realtime: bool = True
    # pace multiplier of realtime playback: 2.0 plays twice as fast
    speed: float = 1.0
    # camera: frame size and rate to ask for; None keeps the driver's choice. The camera may
    # deliver something else: SourceInfo reports what it really delivers.
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    # camera: pixel format to ask for, e.g. "MJPG" (USB cameras need it for HD at 30 fps)
    fourcc: str | None = None
    # camera: time to deliver a first frame after opening (cameras take a second to start)
    camera_start_timeout_s: float = 5.0
    # camera: no frame for this long after the last one means the camera is gone (SourceError)
    camera_timeout_s: float = 2.0
    # video: a file that stops decoding before its end ends the stream quietly instead of
    # raising SourceError (keeps what decoded)
    allow_truncated: bool = False
    # dataset: the one sequence to replay; None replays all in order (``dataset:DIR#i`` sets it)
    index: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f"speed must be positive, got {self.speed}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.fps is not None and not 0 < self.fps <= MAX_FPS:
            raise ValueError(f"fps must be in (0, {MAX_FPS}], got {self.fps}")
        if self.fourcc is not None and len(self.fourcc) != 4:
            raise ValueError(f"fourcc must be 4 characters (e.g. 'MJPG'), got {self.fourcc!r}")
        for name in ("camera_start_timeout_s", "camera_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class SourceInfo:
    """What a source is; known once it is open."""

    spec: str  # the source as given (for messages and the GUI)
    kind: SourceKind
    fps: float  # nominal rate: the container's, the camera's, the recording's (first sequence)
    width: int  # image size in pixels: what the camera delivers, the video's, the recording's
    height: int
    frame_count: int | None  # frames expected (containers are often a few off); None: live
    live: bool  # a camera: timestamps are arrival times, it cannot be paced or rewound
    landmarks: bool  # frames carry landmarks and no image (a replay: MediaPipe is skipped)
    realtime: bool  # frames come at the source's own pace (always for a camera)
    description: str  # one line for people, e.g. "camera 0: 640x480 @ 30 fps (asked 1280x720)"

    @property
    def aspect(self) -> float:
        """Width / height."""
        return self.width / self.height if self.height else 1.0


@dataclass(frozen=True)
class SourceFrame:
    """One item of a source: an image to run MediaPipe on, or replayed landmarks."""

    index: int  # 0-based position in the stream (counts every frame read, dropped ones too)
    timestamp: float  # seconds from the stream's first frame, strictly increasing
    width: int  # size of the image (the one the landmarks are normalised to, for replays)
    height: int
    image_rgb: RgbFrame | None  # (H, W, 3) uint8 RGB; None for landmark replays
    landmarks: FrameLandmarks | None  # replayed landmarks, timestamp = ``timestamp``; else None
    captured_at: float  # time.monotonic() when the source delivered it (latency measurements)
    segment: int = 0  # which recording of a multi-recording replay (a whole dataset); else 0

    @property
    def aspect(self) -> float:
        """Width / height of the image."""
        return self.width / self.height if self.height else 1.0


@dataclass(frozen=True)
class _Raw:
    """What a source's ``_next`` produces; :meth:`Source.read` adds index, pacing, arrival."""

    timestamp: float
    width: int
    height: int
    image_rgb: RgbFrame | None = None
    landmarks: FrameLandmarks | None = None
    segment: int = 0


class Source(ABC):
    """A stream of :class:`SourceFrame`; see the module docstring.

    Single-consumer: ``read``, iteration and ``close`` belong to one thread (a
    :class:`CaptureThread` owns its source); :meth:`interrupt` may come from any thread.
    """

    def __init__(self, info: SourceInfo, config: SourceConfig) -> None:
        self.info = info
        self.config = config
        self._interrupted = threading.Event()
        self._pace_origin: float | None = None  # monotonic time of timestamp 0.0 (realtime)
        self._count = 0
        self._ended = False
        self._error: SourceError | None = None
        self._closed = False

    @property
    def spec(self) -> str:
        return self.info.spec

    @property
    def closed(self) -> bool:
        """Whether the camera or file has been released."""
        return self._closed

    def read(self) -> SourceFrame | None:
        """The next frame, after waiting for its time in realtime playback; ``None`` at the end.

        Raises :class:`SourceError` when the source fails (again on every later call). After
        :meth:`interrupt` it returns ``None`` at once.
        """
        if self._closed:
            raise SourceError(f"{self.spec}: the source is closed")
        if self._error is not None:
            raise self._error
        if self._ended or self._interrupted.is_set():
            return None
        try:
            raw = self._next()
        except SourceError as e:
            self._error = e
            raise
        except (SignStreamError, OSError, ValueError, cv2.error) as e:
            self._error = SourceError(f"{self.spec}: {e}")
            raise self._error from e
        if raw is None:
            self._ended = True
            return None
        if self.info.realtime and not self.info.live:
            at = raw.timestamp / self.config.speed
            if self._pace_origin is None:
                self._pace_origin = time.monotonic() - at
            delay = self._pace_origin + at - time.monotonic()
            # a wait on the event, not a sleep: interrupt() cuts it short (stop within 1 s)
            if delay > 0 and self._interrupted.wait(delay):
                return None
        frame = SourceFrame(
            index=self._count,
            timestamp=raw.timestamp,
            width=raw.width,
            height=raw.height,
            image_rgb=raw.image_rgb,
            landmarks=raw.landmarks,
            captured_at=time.monotonic(),
            segment=raw.segment,
        )
        self._count += 1
        return frame

    @abstractmethod
    def _next(self) -> _Raw | None:
        """The next raw frame (no pacing), None at the end; raises SourceError on failure."""

    def interrupt(self) -> None:
        """Make a waiting or later :meth:`read` return ``None`` soon (thread-safe)."""
        self._interrupted.set()

    def close(self) -> None:
        """Release the camera or file (idempotent)."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:  # noqa: B027 - sources without a handle need nothing
        """Release what the subclass holds."""

    def __iter__(self) -> Iterator[SourceFrame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.description!r})"


# ---------------------------------------------------------------------------------- cameras
class VideoCaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` a camera source uses (tests pass stand-ins)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Any]: ...
    def get(self, prop: int, /) -> float: ...
    def set(self, prop: int, value: float, /) -> bool: ...
    def release(self) -> None: ...


def _camera_hint() -> str:
    """What is there to open, for a message."""
    if sys.platform.startswith("linux"):
        devices = sorted(str(p) for p in Path("/dev").glob("video*"))
        if not devices:
            return "this machine has no camera device (/dev/video* absent)"
        return f"camera devices here: {', '.join(devices)}"
    return "is it connected, and not in use by another program?"


def _open_camera(device: int | str, spec: str) -> VideoCaptureLike:
    # V4L2 directly on Linux: CAP_ANY also probes other backends (obsensor) and fills stderr
    backends = [cv2.CAP_V4L2, cv2.CAP_ANY] if sys.platform.startswith("linux") else [cv2.CAP_ANY]
    if isinstance(device, str) and not Path(device).exists():
        raise SourceError(
            f"{spec}: no such camera device ({device} does not exist; {_camera_hint()})"
        )
    for backend in backends:
        if isinstance(device, int):  # two calls: OpenCV's stubs overload int and str apart
            cap = cv2.VideoCapture(device, backend)
        else:
            cap = cv2.VideoCapture(device, backend)
        if cap.isOpened():
            return cap
        cap.release()
    raise SourceError(f"{spec}: cannot open camera {device} ({_camera_hint()})")


def _sane_fps(value: float) -> float | None:
    return value if math.isfinite(value) and 0 < value <= MAX_FPS else None


class WebcamSource(Source):
    """A camera through ``cv2.VideoCapture``, by index (``0``) or device path (``/dev/video2``).

    Opening asks for ``config.width/height/fps/fourcc``, then waits for a first frame (up to
    ``camera_start_timeout_s``): ``info`` reports the size the camera really delivers and the
    rate its driver reports. A camera that delivers nothing for ``camera_timeout_s`` (unplugged,
    taken by another program) raises :class:`SourceError`. ``capture`` replaces the
    ``cv2.VideoCapture`` (a stand-in for tests: any object with its methods); it is released
    with the source.
    """

    def __init__(
        self,
        device: int | str,
        config: SourceConfig | None = None,
        *,
        capture: VideoCaptureLike | None = None,
        spec: str | None = None,
    ) -> None:
        config = config if config is not None else SourceConfig()
        spec = spec if spec is not None else f"webcam:{device}"
        cap = capture if capture is not None else _open_camera(device, spec)
        self._cap: VideoCaptureLike | None = cap
        self._spec = spec
        self._timeout = config.camera_start_timeout_s
        self._started = False  # a first frame has arrived
        # temporary info for messages of the first read; replaced below
        super().__init__(
            SourceInfo(spec, "webcam", DEFAULT_FPS, 0, 0, None, True, False, True, spec), config
        )
        try:
            self._request(cap, config)
            self._last_ok = time.monotonic()
            first = self._grab()
        except BaseException:
            self.close()
            raise
        if first is None:  # interrupted while starting
            self.close()
            raise SourceError(f"{spec}: interrupted while the camera was starting")
        image, arrival = first
        self._started = True
        self._pending: tuple[RgbFrame, float] | None = (image, 0.0)
        self._origin = arrival  # arrival time of timestamp 0.0
        self._last_t = 0.0
        self._timeout = config.camera_timeout_s
        height, width = int(image.shape[0]), int(image.shape[1])
        fps = _sane_fps(float(cap.get(cv2.CAP_PROP_FPS))) or config.fps or DEFAULT_FPS
        self.info = SourceInfo(
            spec=spec,
            kind="webcam",
            fps=fps,
            width=width,
            height=height,
            frame_count=None,
            live=True,
            landmarks=False,
            realtime=True,
            description=f"camera {device}: {width}x{height} @ {fps:g} fps{self._asked(config)}",
        )

    @staticmethod
    def _request(cap: VideoCaptureLike, config: SourceConfig) -> None:
        # the pixel format first: V4L2 picks the sizes and rates it offers per format
        if config.fourcc is not None:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*config.fourcc))
        if config.width is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
        if config.height is not None:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        if config.fps is not None:
            cap.set(cv2.CAP_PROP_FPS, config.fps)
        # one driver buffer: deeper buffers hand out frames that are already old (latency)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _asked(self, config: SourceConfig) -> str:
        asked = []
        if config.width is not None or config.height is not None:
            asked.append(f"{config.width or '?'}x{config.height or '?'}")
        if config.fps is not None:
            asked.append(f"{config.fps:g} fps")
        if config.fourcc is not None:
            asked.append(config.fourcc)
        return f" (asked {' @ '.join(asked)})" if asked else ""

    def _grab(self) -> tuple[RgbFrame, float] | None:
        """The next camera image and its arrival time; None when interrupted.

        Failed reads are retried until ``self._timeout`` has passed since the last good frame.
        """
        cap = self._cap
        if cap is None:
            raise SourceError(f"{self._spec}: the camera is closed")
        problem = "read() returned no frame"
        while not self._interrupted.is_set():
            try:
                ok, bgr = cap.read()
            except cv2.error as e:
                ok, bgr, problem = False, None, f"read() failed: {e}"
            now = time.monotonic()
            if ok and bgr is not None and np.asarray(bgr).size > 0:
                self._last_ok = now
                return to_rgb(bgr), now
            silent = now - self._last_ok
            if silent >= self._timeout:
                if not self._started:
                    raise SourceError(
                        f"{self._spec}: the camera opened but delivered no frame within "
                        f"{silent:.1f} s ({problem}); is another program using it?"
                    )
                raise SourceError(
                    f"{self._spec}: the camera stopped delivering frames (none for {silent:.1f} s:"
                    f" unplugged, or taken by another program?; {problem})"
                )
            self._interrupted.wait(CAMERA_RETRY_S)
        return None

    def _next(self) -> _Raw | None:
        if self._pending is not None:
            image, t = self._pending
            self._pending = None
        else:
            got = self._grab()
            if got is None:
                return None
            image, arrival = got
            # arrival times can tie on a coarse clock; the stream's timestamps must increase
            t = max(arrival - self._origin, self._last_t + 1e-6)
        self._last_t = t
        return _Raw(t, int(image.shape[1]), int(image.shape[0]), image_rgb=image)

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


# ---------------------------------------------------------------------------------- videos
class VideoSource(Source):
    """A video file or animated GIF (:class:`~engine.video.VideoReader`: container timestamps).

    A file that stops decoding before its end raises :class:`SourceError` (naming the file)
    after the frames that decoded, unless ``config.allow_truncated``.
    """

    def __init__(
        self, path: str | os.PathLike[str], config: SourceConfig | None = None, spec: str = ""
    ) -> None:
        config = config if config is not None else SourceConfig()
        self._reader = VideoReader(path)  # SourceError naming the file when unreadable
        self._frames = self._reader.frames()
        vi = self._reader.info
        super().__init__(
            SourceInfo(
                spec=spec or str(path),
                kind="video",
                fps=vi.fps,
                width=vi.width,
                height=vi.height,
                frame_count=vi.frame_count or None,
                live=False,
                landmarks=False,
                realtime=config.realtime,
                description=f"video {Path(path).name}: {vi.width}x{vi.height} @ {vi.fps:g} fps, "
                f"{vi.frame_count} frames",
            ),
            config,
        )

    def _next(self) -> _Raw | None:
        try:
            image, t = next(self._frames)
        except StopIteration:
            reader = self._reader
            if reader.truncated and not self.config.allow_truncated:
                problem = reader.problem or f"{reader.path}: decoding stopped early"
                raise SourceError(problem) from None
            if reader.frames_read == 0:
                raise SourceError(f"{reader.path}: no frame could be decoded") from None
            return None
        return _Raw(t, int(image.shape[1]), int(image.shape[0]), image_rgb=image)

    def _release(self) -> None:
        self._reader.close()


# ---------------------------------------------------------------------------------- replays
def _replay_size(seq: LandmarkSequence) -> tuple[int, int]:
    """Image size of a recording: a pose file's own, else one with exactly its aspect ratio."""
    w, h = seq.extra.get("image_width"), seq.extra.get("image_height")
    if w is not None and h is not None and int(w) > 0 and int(h) > 0:
        return int(w), int(h)
    # the landmarks are normalised, only width / height matters: keep it exact (features use
    # it), in a size a drawing can use (4/3 -> 480x360)
    ratio = Fraction(seq.aspect or DEFAULT_ASPECT).limit_denominator(_ASPECT_DENOMINATOR)
    scale = max(1, math.ceil(REPLAY_MIN_HEIGHT / ratio.denominator))
    return ratio.numerator * scale, ratio.denominator * scale


class ReplaySource(Source):
    """Landmark recordings replayed as one stream, without MediaPipe.

    ``sequences`` is any ``Sequence[LandmarkSequence]``; items are fetched when their turn comes
    (a :class:`~engine.dataset.Dataset` loads its shards lazily). Each frame carries
    ``landmarks`` (``points (P, 4) float32``, ``present (4,) bool``, views of the recording) and
    ``segment`` = the position of its recording. Recording ``k + 1`` starts one frame period
    (of recording ``k``) after the last frame of ``k``.
    """

    def __init__(
        self,
        sequences: Sequence[LandmarkSequence],
        config: SourceConfig | None = None,
        *,
        spec: str = "sequences",
        kind: SourceKind = "sequences",
        frame_count: int | None = None,
        describe: str = "",
    ) -> None:
        config = config if config is not None else SourceConfig()
        if len(sequences) == 0:
            raise SourceError(f"{spec}: nothing to replay (no sequence)")
        self._sequences = sequences
        first = self._load(0, spec)
        self._current: LandmarkSequence | None = first
        self._k = 0  # position of the current recording
        self._i = 0  # next frame in it
        self._shift = -float(first.timestamps[0]) if first.num_frames else 0.0
        self._next_start = 0.0  # where the next recording starts on the stream's clock
        self._size = _replay_size(first)
        width, height = self._size
        if frame_count is None and isinstance(sequences, list | tuple):
            frame_count = sum(s.num_frames for s in sequences)
        count = "" if frame_count is None else f", {frame_count} frames"
        super().__init__(
            SourceInfo(
                spec=spec,
                kind=kind,
                fps=first.fps,
                width=width,
                height=height,
                frame_count=frame_count,
                live=False,
                landmarks=True,
                realtime=config.realtime,
                description=f"{describe or spec}: landmarks @ {first.fps:g} fps{count}",
            ),
            config,
        )

    def _load(self, k: int, spec: str) -> LandmarkSequence:
        try:
            return self._sequences[k]
        except SourceError:
            raise
        except (SignStreamError, OSError, ValueError, IndexError) as e:
            raise SourceError(f"{spec}: cannot load recording {k} ({e})") from e

    def _next(self) -> _Raw | None:
        while True:
            seq = self._current
            if seq is None:
                if self._k + 1 >= len(self._sequences):
                    return None
                self._k += 1
                seq = self._current = self._load(self._k, self.spec)
                self._i = 0
                if seq.num_frames:
                    self._shift = self._next_start - float(seq.timestamps[0])
                self._size = _replay_size(seq)
            if self._i < seq.num_frames:
                i = self._i
                self._i += 1
                t = float(seq.timestamps[i]) + self._shift
                width, height = self._size
                marks = FrameLandmarks(seq.points[i], seq.present[i], t, width, height)
                if self._i == seq.num_frames:
                    self._next_start = t + 1.0 / seq.fps
                return _Raw(t, width, height, landmarks=marks, segment=self._k)
            self._current = None

    def _release(self) -> None:
        self._current = None


def replay_sequences(
    sequences: Sequence[LandmarkSequence],
    config: SourceConfig | None = None,
    spec: str = "sequences",
    **options: Any,
) -> ReplaySource:
    """Replay in-memory landmark sequences as one stream (tests, benchmarks, evaluation)."""
    return ReplaySource(sequences, _configure(config, options), spec=spec)


class DatasetSource(ReplaySource):
    """A SignStream dataset folder: one sequence (``config.index``) or all of them in order."""

    def __init__(
        self, root: str | os.PathLike[str], config: SourceConfig | None = None, spec: str = ""
    ) -> None:
        config = config if config is not None else SourceConfig()
        spec = spec or f"dataset:{root}"
        try:
            dataset = Dataset(root)
            infos = dataset.infos
        except SignStreamError as e:
            raise SourceError(f"{spec}: {e}") from e
        self.dataset = dataset
        if config.index is None:
            chosen: Sequence[LandmarkSequence] = dataset
            count = sum(info.num_frames for info in infos)
            what = f"dataset {Path(root).name} ({len(dataset)} sequences)"
        else:
            i = config.index + len(dataset) if config.index < 0 else config.index
            if not 0 <= i < len(dataset):
                raise SourceError(
                    f"{spec}: no sequence {config.index} (the dataset holds {len(dataset)})"
                )
            chosen = [dataset[i]]
            count = infos[i].num_frames
            what = f"dataset {Path(root).name} #{i} ({infos[i].gloss or 'no label'})"
        super().__init__(
            chosen, config, spec=spec, kind="dataset", frame_count=count, describe=what
        )


def _pose_source(path: str | os.PathLike[str], config: SourceConfig, spec: str) -> ReplaySource:
    # a recording with fewer pose points (an upper-body export) still replays: the missing
    # points count as undetected, like any frame where MediaPipe lost them
    seq = read_sequence(path, partial_pose=True)  # PoseFileError (a SourceError) naming it
    return ReplaySource(
        [seq], config, spec=spec or str(path), kind="pose", describe=f"pose {Path(path).name}"
    )


# ---------------------------------------------------------------------------------- specs
_SCHEMES = ("webcam", "video", "pose", "dataset")


def _configure(config: SourceConfig | None, options: dict[str, Any]) -> SourceConfig:
    config = config if config is not None else SourceConfig()
    known = {f.name for f in dataclasses.fields(SourceConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown source option(s) {unknown}; known: {sorted(known)}")
    return dataclasses.replace(config, **options) if options else config


def _split_index(target: str, spec: str) -> tuple[str, int | None]:
    """``DIR#3`` -> (``DIR``, 3); a ``#`` not followed by an integer belongs to the path."""
    path, sep, tail = target.rpartition("#")
    if not sep:
        return target, None
    try:
        return path, int(tail)
    except ValueError:
        if Path(target).exists():
            return target, None
        raise SourceError(f"{spec}: '#{tail}' is not a sequence number") from None


def open_source(
    spec: str | os.PathLike[str], config: SourceConfig | None = None, **options: Any
) -> Source:
    """Open the source that ``spec`` names (see the module docstring for the forms).

    ``options`` are :class:`SourceConfig` fields (``realtime=False``, ``width=1280``, ...) and
    override ``config``. A path without a scheme is a dataset folder (it holds dataset.json), a
    ``.pose`` file, a video by its extension, or else whatever of video and ``.pose`` reads.

    Raises :class:`SourceError` (naming the source) when it cannot be opened; ``TypeError`` for
    an unknown option.
    """
    config = _configure(config, options)
    text = os.fspath(spec)
    scheme, sep, target = text.partition(":")
    scheme = scheme.lower()
    if text.lower() == "webcam" or (sep and scheme == "webcam"):
        target = target.strip() or "0"
        try:
            return WebcamSource(int(target), config, spec=text)
        except ValueError:
            return WebcamSource(target, config, spec=text)
    if text.startswith("/dev/video"):
        return WebcamSource(text, config, spec=text)
    if sep and scheme in _SCHEMES:
        if not target:
            raise SourceError(f"{text}: no path after '{scheme}:'")
        if scheme == "video":
            return VideoSource(target, config, spec=text)
        if scheme == "pose":
            return _pose_source(target, config, text)
        path, index = _split_index(target, text)
        if index is not None:
            config = dataclasses.replace(config, index=index)
        return DatasetSource(path, config, spec=text)
    return _open_path(Path(text), config, text)


def _open_path(path: Path, config: SourceConfig, spec: str) -> Source:
    if path.is_dir():
        if (path / INDEX_FILE).is_file():
            return DatasetSource(path, config, spec=spec)
        raise SourceError(f"{path}: a folder, but not a SignStream dataset (no {INDEX_FILE})")
    if not path.exists():
        raise SourceError(f"{path}: no such file (a camera is 'webcam:0')")
    suffix = path.suffix.lower()
    if suffix in POSE_SUFFIXES:
        return _pose_source(path, config, spec)
    if suffix in VIDEO_SUFFIXES:
        return VideoSource(path, config, spec=spec)
    try:
        return VideoSource(path, config, spec=spec)
    except SourceError as video_error:
        try:
            return _pose_source(path, config, spec)
        except SourceError as pose_error:
            raise SourceError(
                f"{path}: neither a video OpenCV can read nor a .pose recording "
                f"({video_error}; {pose_error})"
            ) from pose_error
