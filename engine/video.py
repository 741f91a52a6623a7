"""Frames of video files and animated GIFs, decoded by OpenCV, and their landmarks.

:class:`VideoReader` yields ``(frame_rgb (H, W, 3) uint8, timestamp seconds)``; timestamps come
from the container (``CAP_PROP_POS_MSEC``) where they are sane, else from its frame rate, and
start at 0.0. The FFmpeg backend of opencv-python(-headless) 4.11 decodes mp4/avi/mov/mkv/webm and
animated GIFs (with their frame delays); ``cv2.imreadanimation`` is no alternative there, that
build has no GIF codec.

A file that is missing or that OpenCV cannot open raises :class:`~engine.errors.SourceError`.
A video that stops decoding halfway (a truncated download) does NOT raise while iterating: the
iteration ends, and the reader records it in :attr:`VideoReader.truncated` and
:attr:`VideoReader.problem`. :func:`extract_video` turns that into a ``SourceError`` unless told
to keep the part that decoded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from engine.errors import SourceError
from engine.extractor import (
    ExtractorConfig,
    FrameLandmarks,
    LandmarkExtractor,
    RgbFrame,
    create_extractor,
    stack_frames,
)
from engine.landmarks import LandmarkSequence

__all__ = [
    "DEFAULT_FPS",
    "VideoInfo",
    "VideoReader",
    "extract_video",
    "read_video_info",
    "to_rgb",
]

DEFAULT_FPS = 30.0  # assumed where a container states no usable frame rate
MAX_FPS = 1000.0  # a container claiming more is broken
# a container timestamp further than this after the previous frame is not believed (garbage
# POS_MSEC); the frame is then placed one nominal frame after the previous one
MAX_FRAME_GAP_S = 5.0


def _truncation_tolerance(frame_count: int) -> int:
    """Frames a container's count may be off by without the file being truncated.

    FFmpeg estimates the count from duration x fps: FOOTBALL.mp4 claims 64 and decodes 62.
    """
    return max(3, math.ceil(0.05 * frame_count))


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (before decoding it)."""

    path: str  # the file, as given
    fps: float  # nominal frame rate (DEFAULT_FPS where the container states none)
    frame_count: int  # frames the container claims; 0 where unknown; often a few off
    width: int  # frame size in pixels, as decoded
    height: int

    @property
    def aspect(self) -> float:
        """Width / height."""
        return self.width / self.height if self.height else 1.0


class VideoReader:
    """Decodes a video file or animated GIF with ``cv2.VideoCapture``.

    Iterate it (once) for ``(frame_rgb (H, W, 3) uint8, timestamp float seconds)``. After the
    iteration :attr:`frames_read`, :attr:`truncated` and :attr:`problem` say how it went.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        # FFmpeg explicitly: CAP_ANY would also try the image-sequence backend on odd names
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.path}: not a video OpenCV can read (corrupt or unknown type)")
        self._cap: cv2.VideoCapture | None = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not (math.isfinite(fps) and 0.0 < fps <= MAX_FPS):
            fps = DEFAULT_FPS
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.info = VideoInfo(
            path=str(path),
            fps=fps,
            frame_count=int(count) if math.isfinite(count) and count > 0 else 0,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        self.frames_read = 0  # frames yielded so far
        self.truncated = False  # decoding stopped well before the container's frame count
        self.problem: str | None = None  # why decoding stopped early, for messages
        self._started = False

    def frames(self, max_frames: int | None = None) -> Iterator[tuple[RgbFrame, float]]:
        """``(frame_rgb (H, W, 3) uint8, timestamp s)`` up to the end or ``max_frames``.

        Timestamps start at 0.0 and strictly increase.
        """
        if self._started:
            raise SourceError(f"{self.path}: a VideoReader can be iterated only once")
        self._started = True
        cap = self._cap
        if cap is None:
            raise SourceError(f"{self.path}: the video is closed")
        step = 1.0 / self.info.fps
        origin: float | None = None  # container time of the first frame, seconds
        last = -math.inf
        while max_frames is None or self.frames_read < max_frames:
            try:
                ok, bgr = cap.read()
            except cv2.error as e:
                self._stopped(f"decoding failed: {e}")
                return
            if not ok or bgr is None:
                self._check_complete()
                return
            container_s = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
            if origin is None:
                origin = container_s if math.isfinite(container_s) and container_s >= 0 else 0.0
            t = container_s - origin
            if not (math.isfinite(t) and last < t <= last + MAX_FRAME_GAP_S):
                t = 0.0 if self.frames_read == 0 else last + step
            last = t
            self.frames_read += 1
            yield to_rgb(bgr), t

    def __iter__(self) -> Iterator[tuple[RgbFrame, float]]:
        return self.frames()

    def _check_complete(self) -> None:
        expected = self.info.frame_count
        if expected and self.frames_read < expected - _truncation_tolerance(expected):
            self._stopped(f"decoding stopped after {self.frames_read} of {expected} frames")

    def _stopped(self, reason: str) -> None:
        self.truncated = True
        self.problem = f"{self.path}: {reason} (truncated or corrupt file?)"

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def to_rgb(bgr: Any) -> RgbFrame:
    """OpenCV's 8-bit BGR (grey or BGRA from odd codecs) as ``(H, W, 3) uint8`` RGB."""
    image = np.asarray(bgr, np.uint8)
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), np.uint8)
    if image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), np.uint8)
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), np.uint8)


def read_video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """The container's fps, frame count and size, without decoding (``SourceError`` if none)."""
    with VideoReader(path) as reader:
        return reader.info


def extract_video(
    path: str | os.PathLike[str],
    config: ExtractorConfig | None = None,
    *,
    max_frames: int | None = None,
    allow_truncated: bool = False,
    extractor: LandmarkExtractor | None = None,
    **meta: Any,
) -> LandmarkSequence:
    """Landmarks of every frame of a video file or animated GIF.

    Returns a :class:`LandmarkSequence` with the container's timestamps and fps,
    ``aspect`` = width / height, ``source`` = ``str(path)`` unless ``meta`` says otherwise (``meta``
    also takes ``glosses``, ``signer``, ``extra``). ``max_frames`` stops early (tests, previews).
    ``extractor`` reuses one (it is reset first; ``config`` is then ignored), else one is made and
    closed here.

    Raises :class:`SourceError` for a file that cannot be opened, that decodes no frame, or that
    stops decoding halfway (unless ``allow_truncated``: then the decoded part is returned);
    :class:`~engine.errors.ExtractorError` when MediaPipe fails.
    """
    meta.setdefault("source", str(path))
    with VideoReader(path) as reader:  # first: a bad file fails before a graph is built
        own = extractor is None
        ex = create_extractor(config) if extractor is None else extractor
        try:
            if not own:
                ex.reset()
            frames: list[FrameLandmarks] = [
                ex.process(frame, t) for frame, t in reader.frames(max_frames)
            ]
        finally:
            if own:
                ex.close()
        if reader.truncated and not allow_truncated:
            raise SourceError(reader.problem or f"{path}: decoding stopped early")
        if not frames:
            raise SourceError(f"{path}: no frame could be decoded")
        return stack_frames(frames, reader.info.fps, **meta)
