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

and, off unless asked for (``AugmentConfig.with_people()``; ``data.augment_people``), ways other
PEOPLE differ, which the body frame of the features does not normalise away:

* ``hand_size``: bigger or smaller hands (hand shape points scaled about the wrist; the
  features keep the hand in shoulder widths, so a hand's size is visible to the model);
* ``hand_rotation_degrees``: another wrist posture (each hand turned about its wrist);
* ``reach``: a larger or smaller signing space (elbows, wrists and hands moved away from or
  towards their own shoulder);
* ``hand_offset``: the same sign made a little higher, lower or to the side (each hand moved
  by a fixed offset, in shoulder widths).

Each is drawn once per sequence: one person signs the whole of it.

All are applied in landmark space, before :func:`engine.features.compute_features`, so the
features see exactly what a different recording would have produced. Deterministic for a
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.features import DEFAULT_ASPECT
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
    # other people (module docstring); the defaults leave them off
    hand_size: tuple[float, float] = (1.0, 1.0)  # hand size range, log-uniform
    hand_rotation_degrees: float = 0.0  # max |in-plane turn of a hand about its wrist|
    reach: tuple[float, float] = (1.0, 1.0)  # arm-to-shoulder distance scale range
    hand_offset: float = 0.0  # max distance a hand is moved, shoulder widths

    @property
    def imitates_people(self) -> bool:
        """Whether any of the other-people augmentations is on."""
        scaled = self.hand_size != (1.0, 1.0) or self.reach != (1.0, 1.0)
        return scaled or self.hand_rotation_degrees > 0 or self.hand_offset > 0

    @classmethod
    def with_people(cls) -> AugmentConfig:
        """The camera augmentations plus the ones that imitate other people."""
        return cls(hand_size=(0.85, 1.18), hand_rotation_degrees=15.0, reach=(0.85, 1.18),
                   hand_offset=0.12)  # fmt: skip

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


# Each hand with its arm's pose points (MediaPipe Pose ids): shoulder, elbow, then the wrist
# and the pose's own finger points, which move with the hand.
_ARMS = (
    (LEFT_HAND, 0, 13, (15, 17, 19, 21)),  # 0: the first of the two shoulders (11)
    (RIGHT_HAND, 1, 14, (16, 18, 20, 22)),
)


def _person(seq: LandmarkSequence, cfg: AugmentConfig, rng: np.random.Generator) -> FloatArray:
    """``seq.points`` ``(T, P, 4)`` with the hands and arms of another person (module
    docstring).

    Works in image units with x stretched by the aspect ratio, so turns and offsets are
    true to the picture; frames without a pose keep their arm points and move the hands only
    by what needs no shoulder (size, turn, offset)."""
    p = seq.points.copy()
    aspect = seq.aspect or DEFAULT_ASPECT
    unit = np.array([aspect, 1.0], np.float32)  # image units -> square units
    has_pose = seq.present[:, GROUP_INDEX["pose"]]
    lack = lacking_points(seq.points)
    shoulders = p[:, [POSE.start + 11, POSE.start + 12], :2] * unit  # (T, 2, 2)
    widths = np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1)[has_pose]
    width = float(np.median(widths)) if widths.size and np.median(widths) > 0 else 0.25
    size = _log_uniform(rng, cfg.hand_size)
    reach = _log_uniform(rng, cfg.reach)
    for hand, side, elbow, wrist_points in _ARMS:
        turn = np.deg2rad(rng.uniform(-cfg.hand_rotation_degrees, cfg.hand_rotation_degrees))
        r = rng.uniform(0.0, cfg.hand_offset) * width
        phi = rng.uniform(0.0, 2 * np.pi)
        offset = np.array([r * np.cos(phi), r * np.sin(phi)], np.float32)
        c, s = np.cos(turn), np.sin(turn)
        rot = np.array([[c, -s], [s, c]], np.float32)
        ok = seq.present[:, GROUP_INDEX[hand.name]]
        xy = p[:, hand.start : hand.stop, :2] * unit  # (T, 21, 2)
        wrist = xy[:, :1]
        shape = ((xy - wrist) * size) @ rot.T  # the hand about its wrist
        # the arm: wrist (and elbow) pulled from their shoulder by the reach
        sh = shoulders[:, side][:, None]  # (T, 1, 2)
        arm = np.where(has_pose[:, None, None], (reach - 1.0) * (wrist - sh), 0.0)
        moved = wrist + arm + offset + shape
        p[ok, hand.start : hand.stop, :2] = (moved / unit)[ok]
        p[ok, hand.start : hand.stop, 2] *= size
        pose_wrist = p[:, POSE.start + wrist_points[0], :2] * unit
        pose_arm = (reach - 1.0) * (pose_wrist - sh[:, 0]) + offset
        for i in wrist_points:
            q = p[:, POSE.start + i, :2] * unit
            if i != wrist_points[0]:  # the pose's finger points turn and scale with the hand
                q = pose_wrist + ((q - pose_wrist) * size) @ rot.T
            m = has_pose & ~lack[:, POSE.start + i]  # a point the layout lacks stays zero
            p[m, POSE.start + i, :2] = ((q + pose_arm) / unit)[m]
        e = p[:, POSE.start + elbow, :2] * unit
        e_moved = e + (reach - 1.0) * (e - sh[:, 0]) + 0.5 * offset
        m = has_pose & ~lack[:, POSE.start + elbow]
        p[m, POSE.start + elbow, :2] = (e_moved / unit)[m]
    return p


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)


def augment(
    seq: LandmarkSequence, cfg: AugmentConfig, rng: np.random.Generator
) -> LandmarkSequence:
    """One random variation of ``seq`` (labels and signer kept; spans dropped if time changes)."""
    if rng.random() < cfg.mirror:
        seq = seq.mirrored()
    if cfg.imitates_people:  # other people first, in the picture the camera then sees
        seq = seq.replace(points=_person(seq, cfg, rng))
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
