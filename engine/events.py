"""What the engine tells its consumers (CLI, GUI, benches): small immutable event objects.

The pipeline yields a stream of :data:`Event`: a :class:`StartEvent` when a source begins
(after MediaPipe and the model are warm), a :class:`FrameEvent` per processed camera
frame (landmarks to draw), :class:`GlossEvent` when the gloss hypothesis changes (``partial``)
or glosses become final (``commit``), :class:`StatsEvent` now and then, and
:class:`ErrorEvent` when something goes wrong, and last an :class:`EndEvent` that
says what happened (frames processed and dropped, glosses committed). Events are frozen so
that one object can be handed to another thread (a GUI) without copying or locking.

Times are seconds on the stream's clock (the source's timestamps), not wall-clock time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "STAGES",
    "EndEvent",
    "ErrorEvent",
    "Event",
    "FrameEvent",
    "GlossEvent",
    "GlossEventKind",
    "ModelEvent",
    "StartEvent",
    "StatsEvent",
]

GlossEventKind = Literal["partial", "commit"]
# the stages StatsEvent.stage_ms times, in pipeline order
STAGES = ("landmarks", "features", "model", "decoder")


@dataclass(frozen=True)
class GlossEvent:
    """Glosses recognised in one stretch of the stream.

    ``partial``: the current hypothesis for the open (not yet committed) segment; it replaces
    the previous partial, may change with every hop, and may be empty (nothing pending).
    ``commit``: final glosses, never revised; the following partial no longer contains them.
    """

    kind: GlossEventKind
    glosses: tuple[str, ...]  # in order
    confidences: tuple[float, ...]  # one per gloss, in [0, 1] (mean posterior over its frames)
    start: float  # seconds: start of the first gloss (of the decoded frames when no gloss)
    end: float  # seconds: end of the last gloss, exclusive (of the decoded frames when none)
    spans: tuple[tuple[float, float], ...] = ()  # (start, end) seconds of each gloss
    frames: tuple[int, int] = (0, 0)  # [first, last + 1) stream frames that were decoded

    @property
    def text(self) -> str:
        return " ".join(self.glosses)

    @property
    def confidence(self) -> float:
        """Mean confidence of the glosses (0.0 when there are none)."""
        return float(np.mean(self.confidences)) if self.confidences else 0.0

    @property
    def is_commit(self) -> bool:
        return self.kind == "commit"

    def __len__(self) -> int:
        return len(self.glosses)


@dataclass(frozen=True, eq=False)
class FrameEvent:
    """One processed input frame: its landmarks, for drawing over the image.

    Layout of ``points``/``present`` as in :mod:`engine.landmarks` (one frame of it).
    """

    timestamp: float  # seconds on the source's clock
    points: npt.NDArray[np.float32]  # (P, 4) float32: x, y (0..1 of the image), z, confidence
    present: npt.NDArray[np.bool_]  # (4,) bool: pose, left hand, right hand, face detected
    frame_index: int  # index of the frame in the source (dropped frames leave gaps)
    image_size: tuple[int, int]  # (width, height) pixels of the source image; (0, 0): none
    image: npt.NDArray[np.uint8] | None = None  # (H, W, 3) uint8 RGB, when the source has one


@dataclass(frozen=True)
class StatsEvent:
    """Throughput and latency of the pipeline over the last reporting interval."""

    input_fps: float  # frames per second the source delivered
    processed_fps: float  # frames per second that made it through landmarks + features
    stage_ms: Mapping[str, float] = field(default_factory=dict)  # mean ms per STAGES entry
    dropped_frames: int = 0  # frames dropped so far because processing fell behind
    provider: str = ""  # ONNX Runtime execution provider really used, e.g. CPUExecutionProvider
    extra: Mapping[str, Any] = field(default_factory=dict)  # anything else worth showing


@dataclass(frozen=True)
class ErrorEvent:
    """Something failed. ``fatal``: the pipeline has stopped; otherwise it keeps running."""

    message: str  # for a person: what failed and what to do about it
    fatal: bool = False
    error: str = ""  # the exception type name, when an exception caused it


@dataclass(frozen=True)
class ModelEvent:
    """The engine now runs another model (after a live swap)."""

    path: str  # the ONNX file
    name: str  # its display name
    provider: str  # the execution provider it really runs on


@dataclass(frozen=True)
class StartEvent:
    """A source starts: its first frame comes next (MediaPipe and the model are warm)."""

    source: str  # the spec as given (a path, webcam:0, dataset:DIR#3)
    description: str  # one line for people, e.g. "video FOOTBALL.mp4: 640x480 @ 30 fps, 64 frames"
    kind: str  # webcam | video | dataset | pose | sequences
    live: bool  # a camera (frames are dropped when the engine falls behind)
    landmarks: bool  # a landmark replay: no image, the skeleton is all there is to draw
    fps: float  # the source's nominal rate
    frame_count: int | None  # frames expected; None for a camera
    drops_frames: bool  # the oldest frame is dropped when the engine is behind
    provider: str = ""  # ONNX Runtime execution provider ("" without a model)
    warmup_ms: float = 0.0  # time spent readying MediaPipe before the first frame


@dataclass(frozen=True)
class EndEvent:
    """The source ended (or was stopped, or failed): no more events of this stream.

    A summary of the stream: every frame read is either processed or dropped, except those
    still queued when a stop came (``frames_read >= frames_processed + frames_dropped``).
    """

    reason: str  # "end" | "stopped" | "error"
    source: str = ""  # the spec as given
    duration_s: float = 0.0  # stream time covered: last frame's timestamp + one frame period
    frames_read: int = 0  # frames the source delivered
    frames_processed: int = 0  # frames that went through landmarks (and the model)
    frames_dropped: int = 0  # frames thrown away because the engine was behind (cameras)
    frames_failed: int = 0  # frames whose landmark extraction failed (reported once)
    glosses: int = 0  # glosses committed
    provider: str = ""  # ONNX Runtime execution provider ("" without a model)
    wall_s: float = 0.0  # seconds from the first frame to the end
    message: str = ""  # the failure, for reason "error"

    def summary(self) -> str:
        """One line for people: what the stream did (the CLI's last line, the app's status)."""
        how = {"end": "ended", "stopped": "stopped", "error": "failed"}.get(
            self.reason, self.reason
        )
        dropped = f"{self.frames_dropped} dropped"
        if self.frames_dropped:
            dropped += " (the engine was slower than the source)"
        failed = f", {self.frames_failed} without landmarks" if self.frames_failed else ""
        if self.glosses == 0:
            glosses = "no gloss recognised"
        else:
            glosses = f"{self.glosses} gloss{'es' if self.glosses != 1 else ''} committed"
        provider = f" ({self.provider})" if self.provider else " (no model: landmarks only)"
        return (
            f"{self.source}: {how} after {self.duration_s:.2f} s; {self.frames_processed} of "
            f"{self.frames_read} frames processed, {dropped}{failed}; {glosses}{provider}"
        )


Event = StartEvent | FrameEvent | GlossEvent | StatsEvent | ErrorEvent | ModelEvent | EndEvent
