"""Which hand signs: decide the dominant hand and mirror left-handed signing to the right.

Signing is mirror-symmetric between left- and right-handed signers, and a mirrored webcam turns
one into the other. Mirroring every sequence whose dominant hand is in the left slot makes
both look alike to the model.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from engine.landmarks import GROUP_INDEX, LEFT_HAND, RIGHT_HAND, LandmarkSequence

__all__ = ["canonical_handedness", "dominant_hand"]

# The left slot must beat the right by this factor to count as dominant: ambiguous sequences
# (both hands still, or both moving alike) keep their orientation instead of flip-flopping.
DOMINANCE_MARGIN = 1.25
# Weight of mere presence (per second a hand is seen) against motion (image heights travelled).
PRESENCE_WEIGHT = 0.05

Hand = Literal["left", "right", "none"]


def _activity(seq: LandmarkSequence, slot: str) -> float:
    """How much a hand slot signs: wrist path length plus a little for being visible."""
    g = LEFT_HAND if slot == "left_hand" else RIGHT_HAND
    m = seq.present[:, GROUP_INDEX[slot]]
    if not m.any():
        return 0.0
    wrist = seq.points[:, g.start, :2]
    both = m[1:] & m[:-1]
    path = float(np.linalg.norm(np.diff(wrist, axis=0), axis=1)[both].sum()) if len(m) > 1 else 0.0
    return path + PRESENCE_WEIGHT * float(m.sum()) / seq.fps


def dominant_hand(seq: LandmarkSequence) -> Hand:
    """``"left"`` or ``"right"`` slot of the hand that signs most, ``"none"`` if unclear."""
    left, right = _activity(seq, "left_hand"), _activity(seq, "right_hand")
    if left > DOMINANCE_MARGIN * right:
        return "left"
    if right > DOMINANCE_MARGIN * left:
        return "right"
    return "none"


def canonical_handedness(seq: LandmarkSequence) -> tuple[LandmarkSequence, bool]:
    """Mirror ``seq`` if its dominant hand is in the left slot; returns (sequence, mirrored)."""
    if dominant_hand(seq) == "left":
        return seq.mirrored(), True
    return seq, False
