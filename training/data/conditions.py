"""Other webcams and other signers, as fixed changes to the held-out test sentences.

SignStream is judged on people filmed on webcams it has never seen: mirrored or not, at other
frame rates and distances, from another angle, with MediaPipe losing a hand now and then, by
people who sign faster or slower. A :class:`Condition` is one such change, applied the same way
every time (seeded per sentence) to the held-out signer's test sentences, so a model's WER under
it can be compared with its WER on the sentences as recorded
(:func:`training.evaluate.evaluate`, ``condition=``; the table in docs/RESULTS.md).

Each condition is an :class:`~training.data.augment.AugmentConfig` with everything off but the
change it names, so test and training share one implementation of each change. Some lie inside the
training augmentations' ranges (15 fps, mirroring), some beyond them (10 fps, half size, 1.5x
speed): the table shows how far the model carries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.landmarks import LandmarkSequence
from training.data.augment import AugmentConfig, augment

__all__ = ["CONDITIONS", "Condition", "condition_named"]

_OFF = AugmentConfig.none()


@dataclass(frozen=True)
class Condition:
    """A named, deterministic change to a test sequence (see the module docstring)."""

    name: str  # short key, used in JSON and on the command line
    description: str  # what a user's camera or signing would be like
    change: AugmentConfig

    def apply(self, seq: LandmarkSequence, seed: int | list[int]) -> LandmarkSequence:
        """``seq`` as this condition shows it; the same ``seed`` gives the same result."""
        return augment(seq, self.change, np.random.default_rng(seed))


CONDITIONS = (
    Condition("mirrored", "mirrored webcam, or a left-handed signer", replace(_OFF, mirror=1.0)),
    Condition("fps15", "webcam at 15 fps", replace(_OFF, fps=(15.0,), fps_probability=1.0)),
    Condition(
        "fps10",
        "10 fps (a slow laptop running MediaPipe)",
        replace(_OFF, fps=(10.0,), fps_probability=1.0),
    ),
    Condition(
        "far",
        "signer twice as far away (half size, hand landmarks noisier)",
        replace(_OFF, scale=(0.5, 0.5), hand_jitter=0.006),
    ),
    Condition(
        "angle",
        "camera tilted up to 15 degrees and off to the side",
        replace(_OFF, rotation_degrees=15.0, shear=0.1, perspective=0.1),
    ),
    Condition(
        "hands-lost",
        "MediaPipe loses each hand for 4-12 frames, 10% of frames dropped",
        replace(_OFF, hand_dropout=1.0, hand_dropout_frames=(4, 12), frame_drop=0.1),
    ),
    Condition("fast", "signing 1.5x faster", replace(_OFF, speed=(1.5, 1.5))),
    Condition("slow", "signing 1.5x slower", replace(_OFF, speed=(1 / 1.5, 1 / 1.5))),
)


def condition_named(name: str) -> Condition:
    """The condition called ``name``; a ValueError lists the known ones."""
    for c in CONDITIONS:
        if c.name == name:
            return c
    raise ValueError(f"unknown condition {name!r}; known: {', '.join(c.name for c in CONDITIONS)}")
