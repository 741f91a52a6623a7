"""Landmark extraction: RGB frames in, :mod:`engine.landmarks` layout out.

Everything MediaPipe-specific lives in this module, behind :class:`LandmarkExtractor`, so that a
later move from the legacy ``mediapipe.solutions`` Holistic graph to the Tasks API (which needs
``.task`` model files this version cannot download offline) changes this file only.

Per frame an extractor returns a :class:`FrameLandmarks`: ``points (P, 4) float32`` and
``present (4,) bool`` in the layout of :mod:`engine.landmarks` (``P`` = 75, or 95 with the
``FACE_SUBSET`` of the face mesh). :func:`stack_frames` turns a run of them into a
:class:`~engine.landmarks.LandmarkSequence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from engine.errors import ExtractorError
from engine.landmarks import (
    DIMS,
    FACE,
    FACE_SUBSET,
    GROUP_INDEX,
    GROUPS,
    LEFT_HAND,
    NUM_POINTS,
    NUM_POINTS_WITH_FACE,
    POSE,
    RIGHT_HAND,
    BoolArray,
    FloatArray,
    LandmarkSequence,
)

__all__ = [
    "MODEL_COMPLEXITY",
    "ExtractorConfig",
    "FrameLandmarks",
    "HolisticExtractor",
    "LandmarkExtractor",
    "RgbFrame",
    "create_extractor",
    "stack_frames",
]

RgbFrame = npt.NDArray[np.uint8]  # (H, W, 3) uint8, RGB channel order

# mediapipe 0.10.21 bundles only the complexity-1 pose landmark model; 0 and 2 try to download
# pose_landmark_lite/heavy.tflite into site-packages at run time and fail offline (URLError).
MODEL_COMPLEXITY = 1

_POSE_IDX, _LEFT_IDX, _RIGHT_IDX, _FACE_IDX = (
    GROUP_INDEX["pose"],
    GROUP_INDEX["left_hand"],
    GROUP_INDEX["right_hand"],
    GROUP_INDEX["face"],
)


@dataclass(frozen=True)
class ExtractorConfig:
    """How landmarks are extracted; the defaults are MediaPipe's and what the shared data used."""

    # score the person detector needs to start tracking; lower finds more, with more false hits
    min_detection_confidence: float = 0.5
    # below this tracking score the next frame re-runs detection instead of tracking
    min_tracking_confidence: float = 0.5
    # keep FACE_SUBSET of the face mesh (P = 95) for non-manual signals; else P = 75
    with_face: bool = False
    # attention-refined face mesh (irises, finer lips): slower, and the subset does not need it
    refine_face: bool = False
    # MediaPipe's temporal filter on pose landmarks: less jitter, a frame or so of lag
    smooth_landmarks: bool = True

    def __post_init__(self) -> None:
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    @property
    def num_points(self) -> int:
        """``P`` of the points this configuration produces."""
        return NUM_POINTS_WITH_FACE if self.with_face else NUM_POINTS


@dataclass(frozen=True)
class FrameLandmarks:
    """Landmarks of one frame, in :mod:`engine.landmarks` layout."""

    points: FloatArray  # (P, 4) float32: x, y (0..1 of the image), z, confidence; absent = 0
    present: BoolArray  # (4,) bool, GROUPS order: pose, left hand, right hand, face
    timestamp: float  # seconds, as given to process()
    width: int  # size of the image the x, y are normalised to
    height: int

    @property
    def aspect(self) -> float:
        """Width / height of the image."""
        return self.width / self.height


@runtime_checkable
class LandmarkExtractor(Protocol):
    """Turns a stream of RGB frames into landmarks.

    Frames of one stream must come with strictly increasing timestamps (video-mode trackers,
    and the Tasks API, rely on it); :meth:`reset` starts a new stream.
    """

    config: ExtractorConfig

    def process(self, frame_rgb: RgbFrame, timestamp: float) -> FrameLandmarks:
        """Landmarks of ``frame_rgb`` ``(H, W, 3) uint8`` RGB taken at ``timestamp`` seconds."""
        ...

    def reset(self) -> None:
        """Forget the tracking state: the next frame starts a new stream (a new video)."""
        ...

    def close(self) -> None:
        """Release the model; the extractor cannot be used afterwards."""
        ...

    def __enter__(self) -> LandmarkExtractor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _landmark_array(landmarks: Any, indices: Sequence[int] | None, visibility: bool) -> FloatArray:
    """``(n, 4) float32`` from a MediaPipe ``NormalizedLandmarkList`` (all points or ``indices``).

    Hands and face carry no meaningful visibility (MediaPipe leaves it 0): they get 1.0.
    """
    lms = landmarks.landmark
    chosen = lms if indices is None else [lms[i] for i in indices]
    if visibility:
        rows = [(lm.x, lm.y, lm.z, lm.visibility) for lm in chosen]
    else:
        rows = [(lm.x, lm.y, lm.z, 1.0) for lm in chosen]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), DIMS)


class HolisticExtractor:
    """:class:`LandmarkExtractor` on the legacy ``mediapipe.solutions.holistic`` graph.

    Runs in video mode (tracking between frames) with the bundled complexity-1 models, offline.
    Not thread-safe: use one per thread or process. About 35 ms a 640x480 frame on one core.
    """

    def __init__(self, config: ExtractorConfig | None = None) -> None:
        self.config = config if config is not None else ExtractorConfig()
        try:
            from mediapipe.python.solutions import holistic
        except ImportError as e:  # also a mediapipe 1.x, which ships no solutions
            raise ExtractorError(
                f"MediaPipe's Holistic solution is not available ({e}); SignStream needs "
                "mediapipe==0.10.21 (see docs/INSTALL.md)"
            ) from e
        self._holistic_module: Any = holistic
        self._graph: Any = None
        self._last_timestamp = -math.inf
        self._open()

    def _open(self) -> None:
        c = self.config
        try:
            self._graph = self._holistic_module.Holistic(
                static_image_mode=False,
                model_complexity=MODEL_COMPLEXITY,
                smooth_landmarks=c.smooth_landmarks,
                enable_segmentation=False,
                refine_face_landmarks=c.refine_face,
                min_detection_confidence=c.min_detection_confidence,
                min_tracking_confidence=c.min_tracking_confidence,
            )
        except Exception as e:  # MediaPipe raises RuntimeError, ValueError, URLError, ...
            raise ExtractorError(f"cannot create the MediaPipe Holistic graph: {e}") from e

    def process(self, frame_rgb: RgbFrame, timestamp: float) -> FrameLandmarks:
        """Landmarks of ``frame_rgb`` ``(H, W, 3) uint8`` RGB taken at ``timestamp`` seconds."""
        if self._graph is None:
            raise ExtractorError("the landmark extractor is closed")
        frame = np.asarray(frame_rgb)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ExtractorError(
                f"frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}"
            )
        if not timestamp > self._last_timestamp:
            raise ExtractorError(
                f"timestamps must increase within a stream ({timestamp} after "
                f"{self._last_timestamp}); call reset() to start a new one"
            )
        height, width = int(frame.shape[0]), int(frame.shape[1])
        try:
            # the legacy graph times frames itself; the timestamp only orders them (see above)
            results = self._graph.process(np.ascontiguousarray(frame))
        except Exception as e:
            raise ExtractorError(f"MediaPipe failed on a {width}x{height} frame: {e}") from e
        self._last_timestamp = timestamp
        return self._convert(results, timestamp, width, height)

    def _convert(self, results: Any, timestamp: float, width: int, height: int) -> FrameLandmarks:
        points = np.zeros((self.config.num_points, DIMS), np.float32)
        present = np.zeros(len(GROUPS), np.bool_)
        if results.pose_landmarks is not None:
            points[POSE.slice] = _landmark_array(results.pose_landmarks, None, visibility=True)
            present[_POSE_IDX] = True
        # Holistic's left/right are image sides as in the shared data's "258" layout
        if results.left_hand_landmarks is not None:
            points[LEFT_HAND.slice] = _landmark_array(results.left_hand_landmarks, None, False)
            present[_LEFT_IDX] = True
        if results.right_hand_landmarks is not None:
            points[RIGHT_HAND.slice] = _landmark_array(results.right_hand_landmarks, None, False)
            present[_RIGHT_IDX] = True
        if self.config.with_face and results.face_landmarks is not None:
            points[FACE.slice] = _landmark_array(results.face_landmarks, FACE_SUBSET, False)
            present[_FACE_IDX] = True
        return FrameLandmarks(points, present, float(timestamp), width, height)

    def reset(self) -> None:
        """Forget the tracking state: the next frame starts a new stream (a new video)."""
        if self._graph is None:
            raise ExtractorError("the landmark extractor is closed")
        try:
            self._graph.reset()
        except Exception as e:
            raise ExtractorError(f"cannot reset the MediaPipe Holistic graph: {e}") from e
        self._last_timestamp = -math.inf

    def close(self) -> None:
        """Release the graph (idempotent)."""
        graph, self._graph = self._graph, None
        if graph is not None:
            try:
                graph.close()
            except Exception as e:
                raise ExtractorError(f"cannot close the MediaPipe Holistic graph: {e}") from e

    def __enter__(self) -> HolisticExtractor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def create_extractor(config: ExtractorConfig | None = None) -> LandmarkExtractor:
    """The extractor SignStream uses (today :class:`HolisticExtractor`)."""
    return HolisticExtractor(config)


def stack_frames(
    frames: Sequence[FrameLandmarks],
    fps: float,
    with_face: bool | None = None,
    **meta: Any,
) -> LandmarkSequence:
    """Stack per-frame landmarks into a :class:`LandmarkSequence`.

    ``points (T, P, 4)`` and ``present (T, 4)`` from the frames, ``timestamps`` from their
    timestamps (the source's clock), ``aspect`` = width / height of the first frame. ``fps`` is the
    source's nominal rate. ``with_face`` decides ``P`` for an empty ``frames`` (default: 75);
    ``meta`` goes to the sequence (``glosses``, ``signer``, ``source``, ``extra``, ...).
    """
    if not frames:
        n_points = NUM_POINTS_WITH_FACE if with_face else NUM_POINTS
        return LandmarkSequence(
            points=np.zeros((0, n_points, DIMS), np.float32),
            present=np.zeros((0, len(GROUPS)), np.bool_),
            timestamps=np.zeros(0, np.float64),
            fps=fps,
            **meta,
        )
    meta.setdefault("aspect", frames[0].aspect)
    return LandmarkSequence(
        points=np.stack([f.points for f in frames]).astype(np.float32, copy=False),
        present=np.stack([f.present for f in frames]),
        timestamps=np.asarray([f.timestamp for f in frames], np.float64),
        fps=fps,
        **meta,
    )
