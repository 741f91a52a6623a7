"""The feature pipeline: landmark sequence -> ``(T, F) float32`` model input.

ONE code path for training and inference: the trainer, the evaluator and the live engine all call
:func:`compute_features` with the :class:`FeatureSpec` the model carries in its metadata, and a
model refuses features built with another spec (:func:`check_spec`).

Steps (in this order):

1. bridge short detection gaps (``max_gap_s``; :func:`engine.resample.fill_gaps`);
2. resample to ``spec.fps`` from the timestamps (:func:`engine.resample.resample`);
3. optionally mirror so the dominant hand is always the right-hand slot (``canonical_hand``);
4. body frame, per frame: origin at the shoulder midpoint, unit = shoulder width, x and y in
   the same unit (x is scaled by the image aspect ratio first); frames without a pose borrow the
   body frame from the nearest frames that have one;
5. feature blocks, in this order:

   ========================  ====================================================================
   block                     what (per frame)
   ========================  ====================================================================
   ``present``               1.0/0.0 for pose, left hand, right hand (+ face)
   ``pose``                  ``pose_points`` (x, y) in the body frame
   ``left``, ``right``       wrist (x, y) in the body frame + 20 points (x, y, z) relative to the
                             wrist, in shoulder widths: the hand shape; zeros when absent
   ``face``                  ``FACE_SUBSET`` (x, y) relative to the nose (only with ``face``)
   ``velocity``              per-second change of the pose block and both wrists, in shoulder
                             widths / ``VELOCITY_UNIT`` s; zero where a hand is absent in either
                             frame
   ========================  ====================================================================

Every step is local in time (a few frames at most), so features of a window cut from a stream
equal the features of the whole stream on that window, away from its edges.

A second kind of input, ``FeatureSpec(inputs="tracks")``, serves data that has only hand and nose
positions (RWTH-BOSTON-104's hand tracks) and any landmark data reduced to them. Steps 1-3 are
the same; then, per frame:

   ========================  ====================================================================
   block                     what (per frame)
   ========================  ====================================================================
   ``present``               1.0/0.0 for the left and the right hand
   ``left``, ``right``       hand position (the mean of the hand's points) minus the nose, in
                             units of the sequence's hand-nose scale (below); zeros when absent
   ``hands``                 right hand minus left hand, same unit; zeros unless both present
   ``velocity``              per-second change of ``left`` and ``right`` / ``TRACK_VELOCITY_UNIT``
   ========================  ====================================================================

The nose is pose point 0 (frames without a pose borrow it from the nearest frames with one);
the scale is the median hand-nose distance over the whole sequence (``track_scale``), a robust
per-sequence size of the signer in the image. Unlike the body frame above it is not local in
time: a window's features differ from the stream's by that one factor.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.errors import FeatureSpecMismatch
from engine.handedness import canonical_handedness
from engine.landmarks import (
    FACE,
    FACE_SUBSET,
    GROUP_INDEX,
    LEFT_HAND,
    POSE,
    RIGHT_HAND,
    LandmarkSequence,
    lacking_points,
)
from engine.resample import fill_gaps, resample

__all__ = [
    "DEFAULT_ASPECT",
    "FEATURE_INPUTS",
    "FEATURE_SPEC_VERSION",
    "FeatureSpec",
    "Features",
    "check_spec",
    "compute_features",
    "track_scale",
]

# Version of the computation below; bump it whenever a change alters any feature value, so
# models trained on the old features refuse the new ones instead of silently degrading.
FEATURE_SPEC_VERSION = 1
# Image aspect (width / height) assumed where a recording does not say (the tutorial datasets
# were recorded with 640x480 webcams).
DEFAULT_ASPECT = 4 / 3
# Shoulder width (in image heights) assumed when a sequence has no pose at all (hands-only data).
FALLBACK_SHOULDER_WIDTH = 0.35
# Shoulder widths below this (in image heights) are detection failures, not a real body.
MIN_SHOULDER_WIDTH = 1e-3
# Velocities are divided by this (shoulder widths per second) to keep them near unit scale.
VELOCITY_UNIT = 10.0
# Pose points used by default: nose, eyes (inner), shoulders, elbows, wrists (MediaPipe Pose ids).
UPPER_BODY: tuple[int, ...] = (0, 2, 5, 11, 12, 13, 14, 15, 16)
L_SHOULDER, R_SHOULDER, _NOSE = 11, 12, 0
# Inner eyes (MediaPipe Pose 2: left, 5: right) relative to the nose, in the body frame
# (shoulder widths; y down): the median over asl-coffee's three signers, made symmetric. Used
# only for sources whose layout has no eyes (see _complete_pose).
_EYE_FROM_NOSE: dict[int, tuple[float, float]] = {2: (0.135, -0.17), 5: (-0.135, -0.17)}
# What a spec computes from: "landmarks" (the body-frame blocks, the default and the only kind
# before this field existed) or "tracks" (hand and nose positions only; module docstring).
LANDMARK_INPUTS, TRACK_INPUTS = "landmarks", "tracks"
FEATURE_INPUTS: tuple[str, ...] = (LANDMARK_INPUTS, TRACK_INPUTS)
# Track velocities are divided by this (hand-nose scales per second): near unit scale on
# RWTH-BOSTON-104, where a moving hand covers one to a few scales a second.
TRACK_VELOCITY_UNIT = 4.0
# A hand-nose scale below this (in image heights) is a degenerate track, not a signer.
MIN_TRACK_SCALE = 1e-3
# Scale assumed for a sequence with no hand at all (image heights): typical webcam framing.
FALLBACK_TRACK_SCALE = 0.3
# Nose assumed where a sequence has no pose at all: top centre of the image (x, y in heights
# after the aspect scaling, x is multiplied by the aspect).
FALLBACK_NOSE_Y = 0.25
_FACE_NOSE = FACE_SUBSET.index(1)

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that determines the features; models carry it (``to_json``) in metadata."""

    version: int = FEATURE_SPEC_VERSION  # computation version (see FEATURE_SPEC_VERSION)
    fps: float = 30.0  # model frame rate; input is resampled to it from timestamps
    max_gap_s: float = 0.25  # detection gaps up to this long are interpolated
    pose_points: tuple[int, ...] = UPPER_BODY  # MediaPipe Pose ids in the pose block
    face: bool = False  # add the FACE_SUBSET block (needs sequences with face points)
    velocity: bool = True  # add the velocity block
    canonical_hand: bool = False  # mirror left-dominant signing so the right slot dominates
    # "landmarks" or "tracks" (FEATURE_INPUTS); "tracks" uses no pose_points and no face.
    # Left out of to_dict() at its default, so specs written before it existed read back equal.
    inputs: str = LANDMARK_INPUTS

    def __post_init__(self) -> None:
        if self.inputs not in FEATURE_INPUTS:
            raise FeatureSpecMismatch(
                f"feature inputs {self.inputs!r} are not computed by this SignStream "
                f"(known: {', '.join(FEATURE_INPUTS)})"
            )
        if self.inputs == TRACK_INPUTS and self.face:
            raise FeatureSpecMismatch("track features have no face block: use face=False")

    @property
    def names(self) -> list[str]:
        """One name per feature column, in order."""
        if self.inputs == TRACK_INPUTS:
            names = ["present.left_hand", "present.right_hand"]
            names += [f"{side}.{c}" for side in ("left", "right", "hands") for c in "xy"]
            if self.velocity:
                names += [f"velocity.{side}.{c}" for side in ("left", "right") for c in "xy"]
            return names
        groups = ["pose", "left_hand", "right_hand"] + (["face"] if self.face else [])
        names = [f"present.{g}" for g in groups]
        names += [f"pose.{i}.{c}" for i in self.pose_points for c in "xy"]
        for side in ("left", "right"):
            names += [f"{side}.wrist.{c}" for c in "xy"]
            names += [f"{side}.{i}.{c}" for i in range(1, 21) for c in "xyz"]
        if self.face:
            names += [f"face.{i}.{c}" for i in FACE_SUBSET for c in "xy"]
        if self.velocity:
            names += [f"velocity.pose.{i}.{c}" for i in self.pose_points for c in "xy"]
            names += [f"velocity.{s}.wrist.{c}" for s in ("left", "right") for c in "xy"]
        return names

    @property
    def dim(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["pose_points"] = list(self.pose_points)
        if self.inputs == LANDMARK_INPUTS:
            del d["inputs"]  # the JSON of a landmark spec stays what it was before tracks
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise FeatureSpecMismatch(f"feature spec has fields this SignStream lacks: {unknown}")
        d = dict(d)
        if "pose_points" in d:
            d["pose_points"] = tuple(int(i) for i in d["pose_points"])
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        try:
            d = json.loads(text)
        except ValueError as e:
            raise FeatureSpecMismatch(f"unreadable feature spec: {e}") from e
        if not isinstance(d, dict):
            raise FeatureSpecMismatch("a feature spec must be a JSON object")
        return cls.from_dict(d)


@dataclass(frozen=True)
class Features:
    """Model input built by :func:`compute_features`."""

    values: FloatArray  # (T, spec.dim) float32
    timestamps: npt.NDArray[np.float64]  # (T,) seconds, regular at spec.fps
    spec: FeatureSpec
    mirrored: bool  # whether canonical_hand mirrored the input

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])


def check_spec(expected: FeatureSpec, got: FeatureSpec, what: str = "the model") -> None:
    """Raise :class:`FeatureSpecMismatch` unless ``got`` equals what ``what`` expects."""
    if expected.version != got.version:
        raise FeatureSpecMismatch(
            f"{what} expects feature spec version {expected.version}, features are version "
            f"{got.version}: re-export the model or use a matching SignStream"
        )
    if expected != got:
        diff = {
            k: (v, getattr(got, k))
            for k, v in dataclasses.asdict(expected).items()
            if getattr(got, k) != v
        }
        raise FeatureSpecMismatch(f"{what} expects other features: {diff} (expected, got)")


def _fill_missing(values: FloatArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    """Interpolate rows of ``values (T, k)`` where ``valid`` is False from the valid rows."""
    if valid.all():
        return values
    idx = np.flatnonzero(valid)
    frames = np.arange(len(values))
    out = np.empty_like(values)
    for c in range(values.shape[1]):
        out[:, c] = np.interp(frames, idx, values[idx, c])
    return out


def _body_frame(seq: LandmarkSequence, aspect: float) -> tuple[FloatArray, npt.NDArray[np.float32]]:
    """Per-frame origin ``(T, 2)`` and unit ``(T,)`` (shoulder midpoint and width)."""
    pose = seq.points[:, POSE.slice, :2] * np.array([aspect, 1.0], np.float32)
    ls, rs = pose[:, L_SHOULDER], pose[:, R_SHOULDER]
    width = np.linalg.norm(ls - rs, axis=1).astype(np.float32)
    valid = seq.present[:, GROUP_INDEX["pose"]] & (width > MIN_SHOULDER_WIDTH)
    if not valid.any():
        t = seq.num_frames
        origin = np.tile(np.array([0.5 * aspect, 0.5], np.float32), (t, 1))
        return origin, np.full(t, FALLBACK_SHOULDER_WIDTH, np.float32)
    origin = ((ls + rs) / 2).astype(np.float32)
    both = _fill_missing(np.concatenate([origin, width[:, None]], axis=1), valid)
    return both[:, :2], np.asarray(both[:, 2], np.float32)


def _complete_pose(body: FloatArray, raw: FloatArray, ids: tuple[int, ...]) -> FloatArray:
    """Pose points ``body (T, n, 2)`` (body frame) with the points the source lacks filled in.

    ``raw (T, n, 4)`` are the same points as read (:func:`engine.landmarks.lacking_points`
    tells the missing ones). Read as image (0, 0), such a point would sit far outside the body
    and dominate the features. An eye is put at its typical place relative to the nose; any
    other missing point at the origin.
    """
    missing = lacking_points(raw)  # (T, n)
    if not missing.any():
        return body
    out = body.copy()
    out[missing] = 0.0
    if _NOSE in ids:
        nose = ids.index(_NOSE)
        for point, offset in _EYE_FROM_NOSE.items():
            if point in ids:
                k = ids.index(point)
                fill = missing[:, k] & ~missing[:, nose]
                out[fill, k] = body[fill, nose] + np.asarray(offset, np.float32)
    return out


def compute_features(
    seq: LandmarkSequence, spec: FeatureSpec, mirror: bool | None = None
) -> Features:
    """Landmarks -> features; see the module docstring. Returns ``(T', spec.dim)`` float32,
    ``T'`` the number of frames at ``spec.fps``.

    ``mirror`` (only with ``spec.canonical_hand``): None decides from ``seq`` itself (a
    sentence, a clip); True or False is a decision made elsewhere, e.g. the live engine's
    :class:`~engine.handedness.HandednessTracker`, which sees more than one window.
    """
    if mirror is not None and not spec.canonical_hand:
        raise ValueError("mirror is a canonical_hand decision; this feature spec has none")
    if spec.face and not seq.has_face:
        raise FeatureSpecMismatch(
            f"the feature spec needs face points, {seq.source or 'the sequence'} has none"
        )
    if spec.version != FEATURE_SPEC_VERSION:
        raise FeatureSpecMismatch(
            f"feature spec version {spec.version} is not computed by this SignStream "
            f"(it computes version {FEATURE_SPEC_VERSION})"
        )
    seq = resample(fill_gaps(seq, spec.max_gap_s), spec.fps)
    mirrored = False
    if spec.canonical_hand and mirror is None:
        seq, mirrored = canonical_handedness(seq)
    elif mirror:
        seq, mirrored = seq.mirrored(), True
    if spec.inputs == TRACK_INPUTS:
        values = _track_features(seq, spec)
        return Features(values=values, timestamps=seq.timestamps, spec=spec, mirrored=mirrored)
    t = seq.num_frames
    aspect = float(seq.aspect or DEFAULT_ASPECT)
    origin, unit = _body_frame(seq, aspect)
    scale_xy = np.array([aspect, 1.0], np.float32)
    inv = (1.0 / unit)[:, None, None]

    def to_body(xy: FloatArray) -> FloatArray:  # (T, n, 2) image -> body frame
        return np.asarray((xy * scale_xy - origin[:, None, :]) * inv, np.float32)

    blocks: list[FloatArray] = []
    groups = ["pose", "left_hand", "right_hand"] + (["face"] if spec.face else [])
    present = np.stack([seq.present[:, GROUP_INDEX[g]] for g in groups], axis=1)
    blocks.append(present.astype(np.float32))

    pose_ok = seq.present[:, GROUP_INDEX["pose"]][:, None, None]
    raw_pose = seq.points[:, POSE.slice][:, list(spec.pose_points)]
    pose = _complete_pose(to_body(raw_pose[..., :2]), raw_pose, spec.pose_points) * pose_ok
    blocks.append(pose.reshape(t, -1))

    wrists = []
    for group in (LEFT_HAND, RIGHT_HAND):
        ok = seq.present[:, GROUP_INDEX[group.name]][:, None, None]
        hand = seq.points[:, group.slice, :3]
        wrist = to_body(hand[:, :1, :2]) * ok  # (T, 1, 2)
        shape = (hand[:, 1:] - hand[:, :1]) * np.array([aspect, 1.0, aspect], np.float32)
        shape = shape * inv * ok  # (T, 20, 3)
        wrists.append(wrist)
        blocks += [wrist.reshape(t, -1), shape.reshape(t, -1)]

    if spec.face:
        ok = seq.present[:, GROUP_INDEX["face"]][:, None, None]
        face = seq.points[:, FACE.slice, :2]
        rel = (face - face[:, _FACE_NOSE : _FACE_NOSE + 1]) * scale_xy * inv * ok
        blocks.append(rel.reshape(t, -1))

    if spec.velocity:
        pos = np.concatenate([pose, *wrists], axis=1)  # (T, n, 2)
        ok = np.concatenate(
            [
                np.repeat(pose_ok[:, :, 0], pose.shape[1], axis=1),
                seq.present[:, [GROUP_INDEX["left_hand"]]],
                seq.present[:, [GROUP_INDEX["right_hand"]]],
            ],
            axis=1,
        )
        vel = np.zeros_like(pos)
        if t > 1:
            both = (ok[1:] & ok[:-1])[:, :, None]
            vel[1:] = (pos[1:] - pos[:-1]) * both * (spec.fps / VELOCITY_UNIT)
        blocks.append(vel.reshape(t, -1))

    values = np.concatenate(blocks, axis=1).astype(np.float32)
    return Features(values=values, timestamps=seq.timestamps, spec=spec, mirrored=mirrored)


# ---------------------------------------------------------------------- hand/nose tracks
def _tracks(seq: LandmarkSequence) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Nose ``(T, 2)`` and hand positions ``(T, 2, 2)`` (left, right) in image heights (x times
    the aspect), and the hands' presence ``(T, 2)``; absent hands are zeros."""
    aspect = float(seq.aspect or DEFAULT_ASPECT)
    scale_xy = np.array([aspect, 1.0], np.float32)
    t = seq.num_frames
    pose_ok = seq.present[:, GROUP_INDEX["pose"]]
    nose = (seq.points[:, POSE.start + _NOSE, :2] * scale_xy).astype(np.float32)
    if pose_ok.any():
        nose = _fill_missing(nose, pose_ok)
    else:
        nose = np.tile(np.array([0.5 * aspect, FALLBACK_NOSE_Y], np.float32), (t, 1))
    ok = np.stack([seq.present[:, GROUP_INDEX[g.name]] for g in (LEFT_HAND, RIGHT_HAND)], axis=1)
    hands = np.stack(
        [seq.points[:, g.slice, :2].mean(axis=1) for g in (LEFT_HAND, RIGHT_HAND)], axis=1
    )
    hands = (hands * scale_xy * ok[:, :, None]).astype(np.float32)
    return nose, hands, ok


def track_scale(seq: LandmarkSequence) -> float:
    """The unit of track features: median distance between a present hand and the nose over
    the whole sequence, in image heights (``FALLBACK_TRACK_SCALE`` without hands)."""
    nose, hands, ok = _tracks(seq)
    dist = np.linalg.norm(hands - nose[:, None, :], axis=2)[ok]
    if dist.size == 0:
        return FALLBACK_TRACK_SCALE
    return max(float(np.median(dist)), MIN_TRACK_SCALE)


def _track_features(seq: LandmarkSequence, spec: FeatureSpec) -> FloatArray:
    """The ``inputs="tracks"`` blocks (module docstring) of a resampled sequence: ``(T, dim)``."""
    nose, hands, ok = _tracks(seq)
    inv = 1.0 / track_scale(seq)
    rel = (hands - nose[:, None, :]) * inv * ok[:, :, None]  # (T, 2, 2)
    both = (ok[:, 0] & ok[:, 1])[:, None]
    between = (rel[:, 1] - rel[:, 0]) * both  # (T, 2)
    blocks = [ok.astype(np.float32), rel.reshape(len(rel), -1), between]
    if spec.velocity:
        vel = np.zeros_like(rel)
        if len(rel) > 1:
            moving = (ok[1:] & ok[:-1])[:, :, None]
            vel[1:] = (rel[1:] - rel[:-1]) * moving * (spec.fps / TRACK_VELOCITY_UNIT)
        blocks.append(vel.reshape(len(vel), -1))
    return np.asarray(np.concatenate(blocks, axis=1), np.float32)
