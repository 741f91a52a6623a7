"""Which hand signs: decide the dominant hand and mirror left-handed signing to the right.

Signing is mirror-symmetric between left- and right-handed signers, and a mirrored webcam turns
one into the other. Mirroring every sequence whose dominant hand is in the left slot makes
both look alike to the model.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from engine.landmarks import (
    GROUP_INDEX,
    LEFT_HAND,
    RIGHT_HAND,
    BoolArray,
    FloatArray,
    LandmarkSequence,
)

__all__ = ["HandednessTracker", "canonical_handedness", "dominant_hand", "frame_activity"]

# The left slot must beat the right by this factor to count as dominant: ambiguous sequences
# (both hands still, or both moving alike) keep their orientation instead of flip-flopping.
DOMINANCE_MARGIN = 1.25
# Weight of mere presence (per second a hand is seen) against motion (image heights travelled).
PRESENCE_WEIGHT = 0.05

# Live, the decision is a running state (HandednessTracker): activity decays with this time
# constant. A signer's hand does not change from one sign to the next; ~15 s of history is a few
# sentences, enough that a rest or a two-handed sign cannot flip it, short enough that a new
# person (or a camera switched to mirrored) is followed within a sentence or two.
HISTORY_S = 15.0
# The winning hand must also have travelled this far (image heights, decayed) before the
# tracker flips: presence alone (a hand resting in view) is no evidence of signing.
MIN_MOTION = 0.3

Hand = Literal["left", "right", "none"]


def frame_activity(
    points: FloatArray, present: BoolArray, fps: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-frame activity of the (left, right) hand slots: motion ``(T, 2)`` (the wrist's step
    from the previous frame, image heights; 0 unless the hand is seen in both) and presence
    ``(T, 2)`` (``PRESENCE_WEIGHT / fps`` where the hand is seen). ``points (T, P, >=2)``,
    ``present (T, 4)``. One definition for whole sequences and the live tracker."""
    motion = np.zeros((len(points), 2))
    seen = np.zeros((len(points), 2))
    for k, g in enumerate((LEFT_HAND, RIGHT_HAND)):
        m = present[:, GROUP_INDEX[g.name]]
        seen[:, k] = m * (PRESENCE_WEIGHT / fps)
        if len(points) > 1:
            step = np.linalg.norm(np.diff(points[:, g.start, :2], axis=0), axis=1)
            motion[1:, k] = np.where(m[1:] & m[:-1], step, 0.0)
    return motion, seen


def _decide(left: float, right: float) -> Hand:
    if left > DOMINANCE_MARGIN * right:
        return "left"
    if right > DOMINANCE_MARGIN * left:
        return "right"
    return "none"


def dominant_hand(seq: LandmarkSequence) -> Hand:
    """``"left"`` or ``"right"`` slot of the hand that signs most, ``"none"`` if unclear."""
    motion, seen = frame_activity(seq.points, seq.present, seq.fps)
    left, right = (motion + seen).sum(axis=0)
    return _decide(float(left), float(right))


def canonical_handedness(seq: LandmarkSequence) -> tuple[LandmarkSequence, bool]:
    """Mirror ``seq`` if its dominant hand is in the left slot; returns (sequence, mirrored)."""
    if dominant_hand(seq) == "left":
        return seq.mirrored(), True
    return seq, False


class HandednessTracker:
    """The live form of :func:`canonical_handedness`: whether to mirror, held across windows.

    Deciding per sliding window flips the mirror whenever a window holds a rest or a
    two-handed sign, and consecutive windows then disagree. The tracker keeps the same activity
    as :func:`dominant_hand`, decayed over ``history_s``, and changes its mind only when the
    other hand beats the current one by ``DOMINANCE_MARGIN`` and has really moved
    (``MIN_MOTION``). It starts unmirrored: a right-handed signer on an unmirrored camera is
    the common case, and it is what the model sees before any evidence.
    """

    def __init__(self, fps: float, history_s: float = HISTORY_S) -> None:
        if fps <= 0 or history_s <= 0:
            raise ValueError(f"fps and history_s must be > 0, got {fps}, {history_s}")
        self.fps = fps
        self._decay = math.exp(-1.0 / (fps * history_s))
        self.reset()

    def reset(self) -> None:
        self.mirrored = False
        self._motion = np.zeros(2)
        self._seen = np.zeros(2)
        self._prev: tuple[FloatArray, BoolArray] | None = None

    def push(self, points: FloatArray, present: BoolArray) -> bool:
        """One frame at ``fps``: ``points (P, >=2)``, ``present (4,)``; returns ``mirrored``."""
        if self._prev is None:
            pts, pres = points[None], present[None]
        else:
            pts, pres = np.stack([self._prev[0], points]), np.stack([self._prev[1], present])
        self._prev = (points, present)
        motion, seen = frame_activity(pts, pres, self.fps)
        self._motion = self._motion * self._decay + motion[-1]
        self._seen = self._seen * self._decay + seen[-1]
        left, right = self._motion + self._seen
        hand = _decide(float(left), float(right))
        if hand == "left" and not self.mirrored and self._motion[0] >= MIN_MOTION:
            self.mirrored = True
        elif hand == "right" and self.mirrored and self._motion[1] >= MIN_MOTION:
            self.mirrored = False
        return self.mirrored
