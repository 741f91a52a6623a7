"""Augmentations that model other people and other cameras, applied to landmark sequences.

A model trained on three people filmed by three webcams must work for everyone else; each
augmentation imitates one way other recordings differ:

* ``mirror``: a mirrored webcam, or a left-handed signer (x -> 1 - x, hands swapped);
* ``rotation``, ``scale``, ``shear``, ``perspective``: camera roll, distance, lens and angle,
  applied to the whole body about the shoulders' midpoint;
* ``hand_jitter``: MediaPipe's noise on the hands, per hand and frame;
* ``speed``: people sign faster or slower (0.5x-2x);
* ``fps``: webcams deliver 15, 24 or 30 fps (the sequence is re-sampled at that rate, as a
  slower camera would have captured it; features resample it back from the timestamps);
* ``frame_drop``: frames lost under load (timestamps keep the gaps);
* ``hand_dropout``: MediaPipe losing a hand for a few frames;
* ``partial_body``: the lower body out of the picture (hips and legs undetected).

All are applied in landmark space, before :func:`engine.features.compute_features`, so the
features see exactly what a different recording would have produced. Deterministic for a
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.landmarks import (
    GROUP_INDEX,
    LEFT_HAND,
    POSE,
    RIGHT_HAND,
    FloatArray,
    LandmarkSequence,
    lacking_points,
)
from engine.resample import resample

__all__ = ["AugmentConfig", "augment"]

_LOWER_BODY = tuple(range(23, 33))  # hips, knees, ankles, feet (MediaPipe Pose ids)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges; ``AugmentConfig.none()`` switches everything off."""

    mirror: float = 0.5  # probability of a left/right mirror
    rotation_degrees: float = 12.0  # max |in-plane rotation|
    scale: tuple[float, float] = (0.75, 1.3)  # body size range (distance to the camera)
    shear: float = 0.1  # max |shear| (x += shear * y)
    perspective: float = 0.05  # max |x-dependent y scale| (camera yaw)
    hand_jitter: float = 0.004  # std of per-frame hand noise, image units
    speed: tuple[float, float] = (0.6, 1.7)  # signing speed range, log-uniform
    fps: tuple[float, ...] = (15.0, 24.0, 30.0)  # capture rates drawn from
    fps_probability: float = 0.5  # probability of re-capturing at one of ``fps``
    frame_drop: float = 0.05  # probability each frame is lost
    hand_dropout: float = 0.3  # probability of one dropout burst per hand
    hand_dropout_frames: tuple[int, int] = (2, 8)  # burst length range
    partial_body: float = 0.2  # probability the lower body is out of the picture

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(
            mirror=0, rotation_degrees=0, scale=(1, 1), shear=0, perspective=0, hand_jitter=0,
            speed=(1, 1), fps_probability=0, frame_drop=0, hand_dropout=0, partial_body=0,
        )  # fmt: skip


def _geometry(seq: LandmarkSequence, cfg: AugmentConfig, rng: np.random.Generator) -> FloatArray:
    """The whole body moved like another camera would show it: ``(T, P, 4)``."""
    p = seq.points.copy()
    # points the source's layout lacks (all zero) stay zero: the features fill them in
    mask = seq.point_mask() & ~lacking_points(seq.points)
    centre = seq.shoulder_centre()
    sh = np.array([0.5, 0.5], np.float32) if centre is None else centre
    angle = np.deg2rad(rng.uniform(-cfg.rotation_degrees, cfg.rotation_degrees))
    s = np.exp(rng.uniform(np.log(cfg.scale[0]), np.log(cfg.scale[1])))
    shear = rng.uniform(-cfg.shear, cfg.shear)
    persp = rng.uniform(-cfg.perspective, cfg.perspective)
    c, si = np.cos(angle), np.sin(angle)
    x, y = p[..., 0] - sh[0], p[..., 1] - sh[1]
    x, y = x + shear * y, y * (1 + persp * x / 0.25)
    x, y = s * (c * x - si * y), s * (si * x + c * y)
    p[..., 0] = np.where(mask, x + sh[0], 0)
    p[..., 1] = np.where(mask, y + sh[1], 0)
    p[..., 2] = np.where(mask, p[..., 2] * s, 0)
    return p


def augment(
    seq: LandmarkSequence, cfg: AugmentConfig, rng: np.random.Generator
) -> LandmarkSequence:
    """One random variation of ``seq`` (labels and signer kept; spans dropped if time changes)."""
    if rng.random() < cfg.mirror:
        seq = seq.mirrored()
    points = _geometry(seq, cfg, rng)
    present = seq.present.copy()
    if cfg.hand_jitter > 0:
        for g in (LEFT_HAND, RIGHT_HAND):
            ok = present[:, GROUP_INDEX[g.name]]
            noise = rng.normal(0, cfg.hand_jitter, size=(seq.num_frames, g.size, 2))
            points[ok, g.start : g.stop, :2] += noise[ok].astype(np.float32)
    for g in (LEFT_HAND, RIGHT_HAND):
        if seq.num_frames > 4 and rng.random() < cfg.hand_dropout:
            n = int(rng.integers(cfg.hand_dropout_frames[0], cfg.hand_dropout_frames[1] + 1))
            start = int(rng.integers(0, max(1, seq.num_frames - n)))
            present[start : start + n, GROUP_INDEX[g.name]] = False
            points[start : start + n, g.start : g.stop] = 0
    if rng.random() < cfg.partial_body:
        lower = [POSE.start + i for i in _LOWER_BODY]
        points[:, lower, 3] = 0.0  # visibility 0: MediaPipe's "out of the picture"
    out = seq.replace(points=points.astype(np.float32), present=present)
    lo, hi = cfg.speed
    # a fixed speed (lo == hi) draws nothing: training's random streams stay as they were
    speed = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)
    timing_changed = speed != 1.0
    if timing_changed:
        t = out.timestamps
        out = out.replace(timestamps=t[0] + (t - t[0]) / speed, spans=None)
    if cfg.fps and rng.random() < cfg.fps_probability:
        out = resample(out, float(rng.choice(cfg.fps)))
        timing_changed = True
    if cfg.frame_drop > 0 and out.num_frames > 4:
        keep = rng.random(out.num_frames) >= cfg.frame_drop
        keep[0] = keep[-1] = True  # keep the sequence's extent
        if not keep.all():
            out = out.replace(
                points=out.points[keep], present=out.present[keep],
                timestamps=out.timestamps[keep], spans=None,
            )  # fmt: skip
    return out
