"""What the engine tells its consumers (CLI, GUI, benches): small immutable event objects.

The pipeline yields a stream of :data:`Event`: a :class:`FrameEvent` per processed camera
frame (landmarks to draw), :class:`GlossEvent` when the gloss hypothesis changes (``partial``)
or glosses become final (``commit``), :class:`StatsEvent` now and then, and
:class:`ErrorEvent` when something goes wrong. Events are frozen so that one object can be
handed to another thread (a GUI) without copying or locking.

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
class EndEvent:
    """The source ended (or was stopped, or failed): no more events of this stream."""

    reason: str  # "end" | "stopped" | "error"


Event = FrameEvent | GlossEvent | StatsEvent | ErrorEvent | ModelEvent | EndEvent
