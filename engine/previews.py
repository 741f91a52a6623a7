"""Sign previews: how each gloss of a model is made, as a few real signers' landmarks.

A model's previews travel with it: ``<model stem>.previews.npz`` beside its ONNX file
(:func:`previews_path`), listed in ``models/index.json`` (kind ``previews``) for shipped models
and so checked like the model itself. Per gloss up to :data:`MAX_CLIPS` clips of different
people, so a user sees how the sign varies. Only landmarks are stored, never video, and only the
points a skeleton is drawn from; the people are "signer 1", "signer 2", ... within each gloss
(``"you"`` for a user's own takes), never the names a dataset knows them by.

Format (version 1), ``numpy.savez_compressed``::

    meta     ()          str      JSON {"format": "signstream-previews", "version": 1,
                                        "source": "where the clips come from",
                                        "pose_points": PREVIEW_POSE,
                                        "clips": [{"gloss", "signer", "fps", "aspect"}, ...]}
    points   (F, 53, 2)  float16  x, y of every clip's frames, concatenated; NaN where the point
                                  was not seen (its group absent, or a pose point MediaPipe was
                                  unsure of)
    offsets  (N + 1,)    int64    clip i is frames offsets[i]:offsets[i + 1]

Point order: the pose points ``PREVIEW_POSE`` (MediaPipe Pose numbers), then the left hand's
21, then the right hand's 21, in :mod:`engine.landmarks`' labels and image coordinates
(x to the right, y down, 0..1 of the image). float16 keeps x, y to ~1/2000 of the image, far
below what a preview can show, at half the bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.arrayfile import load_npz
from engine.atomic import atomic_path
from engine.errors import ArrayFileError, PreviewError, SignStreamError
from engine.landmarks import (
    DIMS,
    GROUP_INDEX,
    GROUPS,
    HAND_POINTS,
    LEFT_HAND,
    NUM_POINTS,
    POSE,
    RIGHT_HAND,
    LandmarkSequence,
)
from engine.model_index import read_index, verify_file

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_CLIPS",
    "MAX_FRAMES",
    "PREVIEW_POINTS",
    "PREVIEW_POSE",
    "SUFFIX",
    "PreviewClip",
    "Previews",
    "clip_from_sequence",
    "load_previews",
    "previews_beside",
    "previews_of",
    "previews_path",
    "save_previews",
]

FORMAT_NAME = "signstream-previews"
FORMAT_VERSION = 1
SUFFIX = ".previews.npz"
MAX_CLIPS = 3  # people per gloss: enough to see the variation, few enough to stay small
MAX_FRAMES = 48  # longer clips are resampled to this many frames (their duration kept)
# nose, ears (the head's size), shoulders, elbows, wrists, hips: what an upper-body skeleton
# is drawn from; eyes, mouth, fingers of the pose model and legs are left out
PREVIEW_POSE: tuple[int, ...] = (0, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24)
PREVIEW_POINTS = len(PREVIEW_POSE) + 2 * HAND_POINTS  # 53
MIN_VISIBILITY = 0.3  # pose points MediaPipe is less sure of are stored as not seen
TRIM_MARGIN = 2  # frames kept before the first and after the last frame with a hand
MAX_COORD = 10.0  # |x|, |y| beyond this is no landmark (MediaPipe's stay within about -5..5)
ARRAYS = ("meta", "points", "offsets")
HINT = "the model works without it; rebuild it with `signstream train previews MODEL.onnx`"

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
# where each preview point sits in the engine's (T, 75, 4) layout
_SOURCE_INDEX = np.array(
    [POSE.start + i for i in PREVIEW_POSE]
    + list(range(LEFT_HAND.start, LEFT_HAND.stop))
    + list(range(RIGHT_HAND.start, RIGHT_HAND.stop))
)
_POSE_SLICE = slice(0, len(PREVIEW_POSE))
_LEFT_SLICE = slice(len(PREVIEW_POSE), len(PREVIEW_POSE) + HAND_POINTS)
_RIGHT_SLICE = slice(len(PREVIEW_POSE) + HAND_POINTS, PREVIEW_POINTS)


@dataclass(frozen=True, eq=False)  # eq by identity: comparing arrays has no one truth value
class PreviewClip:
    """One person signing one gloss, as the points of a skeleton."""

    gloss: str
    signer: str  # "signer 1", "signer 2", ... within the gloss; "you" for the user's takes
    points: FloatArray  # (T, PREVIEW_POINTS, 2) float32, x, y of the image; NaN: not seen
    fps: float  # frames per second the clip was recorded at (after any resampling)
    aspect: float | None = None  # width / height of the recorded image; None: unknown

    def __post_init__(self) -> None:
        p = self.points
        if p.ndim != 3 or p.shape[1:] != (PREVIEW_POINTS, 2) or p.shape[0] == 0:
            raise ValueError(f"points must be (T >= 1, {PREVIEW_POINTS}, 2), got {p.shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    def landmarks(self) -> tuple[FloatArray, BoolArray]:
        """The clip in :mod:`engine.landmarks`' layout, for the drawing code of landmarks:
        ``(T, 75, 4) float32`` points (confidence 1 where seen, 0 elsewhere) and ``(T, 4)
        bool`` group presence (a group is present where any of its points was seen)."""
        t = self.num_frames
        seen = ~np.isnan(self.points[..., 0])  # (T, 53)
        out = np.zeros((t, NUM_POINTS, DIMS), np.float32)
        out[:, _SOURCE_INDEX, :2] = np.nan_to_num(self.points)
        out[:, _SOURCE_INDEX, 3] = seen
        present = np.zeros((t, len(GROUPS)), np.bool_)
        for group, part in (("pose", _POSE_SLICE), ("left_hand", _LEFT_SLICE),
                            ("right_hand", _RIGHT_SLICE)):  # fmt: skip
            present[:, GROUP_INDEX[group]] = seen[:, part].any(axis=1)
        return out, present


@dataclass(frozen=True)
class Previews:
    """The previews of one model: clips in gloss order, each gloss's people in turn."""

    clips: tuple[PreviewClip, ...]
    source: str = ""  # where the clips come from, for people (a dataset, never who signs)

    @property
    def glosses(self) -> tuple[str, ...]:
        """The glosses that have a clip, in the order of their first clip."""
        return tuple(dict.fromkeys(c.gloss for c in self.clips))

    def of(self, gloss: str) -> tuple[PreviewClip, ...]:
        """The clips of ``gloss`` (empty when it has none)."""
        return tuple(c for c in self.clips if c.gloss == gloss)


def clip_from_sequence(
    seq: LandmarkSequence, gloss: str, signer: str, max_frames: int = MAX_FRAMES
) -> PreviewClip:
    """The preview of one isolated sign: its skeleton's points, trimmed to the frames with a
    hand (and :data:`TRIM_MARGIN` either side; a clip without hands is kept whole) and, when
    longer than ``max_frames``, resampled to ``max_frames`` frames over the same duration."""
    if seq.num_frames == 0:
        raise ValueError(f"{seq.source or 'sequence'}: no frames to preview")
    points = seq.points[:, _SOURCE_INDEX, :2].astype(np.float32)  # (T, 53, 2)
    conf = seq.points[:, _SOURCE_INDEX, 3]
    seen = np.zeros(points.shape[:2], np.bool_)
    seen[:, _POSE_SLICE] = seq.is_present("pose")[:, None] & (
        conf[:, _POSE_SLICE] >= MIN_VISIBILITY
    )
    seen[:, _LEFT_SLICE] = seq.is_present("left_hand")[:, None]
    seen[:, _RIGHT_SLICE] = seq.is_present("right_hand")[:, None]
    points[~seen] = np.nan
    hands = np.flatnonzero(seen[:, _LEFT_SLICE.start :].any(axis=1))
    if len(hands):
        a = max(0, int(hands[0]) - TRIM_MARGIN)
        points = points[a : int(hands[-1]) + 1 + TRIM_MARGIN]
    fps = float(seq.fps)
    if len(points) > max_frames:
        # nearest frames, not interpolation: a point seen in one frame and not the next has
        # no in-between; the rate falls so that the clip lasts as long as before
        keep = np.round(np.linspace(0, len(points) - 1, max_frames)).astype(np.intp)
        fps *= max_frames / len(points)
        points = points[keep]
    return PreviewClip(gloss, signer, points, fps, seq.aspect)


# ---------------------------------------------------------------------- files
def previews_path(model: str | os.PathLike[str]) -> Path:
    """Where the previews of ``model`` (an ``.onnx`` path) are written: same stem, beside it."""
    p = Path(model)
    return p.with_name(p.stem + SUFFIX)


def previews_beside(model: str | os.PathLike[str]) -> Path | None:
    """The previews file of a model: the index's where the index lists the model (even when the
    file is missing: loading it then says so), else a same-stem file beside it, else None."""
    p = Path(model)
    try:
        entry = read_index(p.parent).entry_of(p)
    except SignStreamError:
        entry = None  # an unreadable index is reported when the model itself is loaded
    if entry is not None:
        return entry.path(p.parent, "previews")
    candidate = previews_path(p)
    return candidate if candidate.is_file() else None


def previews_of(model: str | os.PathLike[str]) -> tuple[Previews | None, str]:
    """The previews of ``model`` (an ``.onnx``), or None and why not: it has none, or its file
    cannot be used (the model works without it)."""
    p = Path(model)
    path = previews_beside(p)
    if path is None:
        return None, f"{p.name} has no {p.stem}{SUFFIX}"
    try:
        return load_previews(path), ""
    except SignStreamError as e:
        return None, str(e)


def save_previews(previews: Previews, path: str | os.PathLike[str]) -> Path:
    """Write ``previews`` to ``path`` atomically (a reader sees the old file or the new)."""
    clips = previews.clips
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "source": previews.source,
        "pose_points": list(PREVIEW_POSE),
        "clips": [
            {"gloss": c.gloss, "signer": c.signer, "fps": c.fps, "aspect": c.aspect} for c in clips
        ],
    }
    points = (
        np.concatenate([c.points for c in clips])
        if clips
        else np.zeros((0, PREVIEW_POINTS, 2), np.float32)
    )
    offsets = np.cumsum([0] + [c.num_frames for c in clips]).astype(np.int64)
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "wb") as f:  # a file object: no ".npz" added
        np.savez_compressed(
            f, meta=np.array(json.dumps(meta)), points=points.astype(np.float16), offsets=offsets
        )
    return target


def load_previews(path: str | os.PathLike[str]) -> Previews:
    """The previews in ``path``.

    Raises:
        PreviewError: naming the file, when it is missing, unreadable, of another format or
            version, holds arrays of the wrong shape or type, or differs from what
            ``models/index.json`` says was shipped.
    """
    p = Path(path)
    verify_file(p, PreviewError)
    try:
        arrays = load_npz(p, ARRAYS)
    except ArrayFileError as e:
        raise PreviewError(f"{p}: unreadable sign previews ({e.reason}); {HINT}") from e
    clips_meta, source = _read_meta(p, arrays["meta"])
    points, offsets = _checked_arrays(p, arrays["points"], arrays["offsets"], len(clips_meta))
    clips = []
    for i, m in enumerate(clips_meta):
        frames = points[offsets[i] : offsets[i + 1]].astype(np.float32)
        try:
            clips.append(PreviewClip(m["gloss"], m["signer"], frames, m["fps"], m["aspect"]))
        except ValueError as e:
            raise _bad(p, f"clip {i}: {e}") from e
    return Previews(tuple(clips), source)


def _bad(path: Path, why: str) -> PreviewError:
    return PreviewError(f"{path}: not a valid sign previews file ({why}); {HINT}")


def _read_meta(path: Path, raw: npt.NDArray[Any]) -> tuple[list[dict[str, Any]], str]:
    """The clips' metadata (gloss, signer, fps, aspect checked) and the source line."""
    try:
        meta = json.loads(str(raw))
    except ValueError as e:
        raise _bad(path, f"its meta is not JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _bad(path, f"not a {FORMAT_NAME} file")
    if meta.get("version") != FORMAT_VERSION:
        raise PreviewError(
            f"{path}: sign previews format version {meta.get('version')}, this SignStream "
            f"reads version {FORMAT_VERSION}; {HINT}"
        )
    if meta.get("pose_points") != list(PREVIEW_POSE):
        raise _bad(path, f"pose points {meta.get('pose_points')}, expected {list(PREVIEW_POSE)}")
    clips = meta.get("clips")
    if not isinstance(clips, list):
        raise _bad(path, "its meta lists no clips")
    checked = []
    for i, c in enumerate(clips):
        try:
            gloss, signer, fps = str(c["gloss"]), str(c["signer"]), float(c["fps"])
            aspect = None if c["aspect"] is None else float(c["aspect"])
        except (KeyError, TypeError, ValueError) as e:
            raise _bad(path, f"clip {i} lacks gloss/signer/fps/aspect ({e})") from e
        if not gloss or not np.isfinite(fps) or (aspect is not None and not aspect > 0):
            raise _bad(path, f"clip {i}: gloss {gloss!r}, fps {fps}, aspect {aspect}")
        checked.append({"gloss": gloss, "signer": signer, "fps": fps, "aspect": aspect})
    return checked, str(meta.get("source", ""))


def _checked_arrays(
    path: Path, points: npt.NDArray[Any], offsets: npt.NDArray[Any], clips: int
) -> tuple[npt.NDArray[np.float16], npt.NDArray[np.int64]]:
    """``points`` (F, 53, 2) float16 and ``offsets`` (clips + 1,) int64, or PreviewError."""
    if points.dtype != np.float16 or points.ndim != 3 or points.shape[1:] != (PREVIEW_POINTS, 2):
        raise _bad(
            path,
            f"points are {points.dtype} {points.shape}, expected float16 (F, {PREVIEW_POINTS}, 2)",
        )
    if offsets.dtype.kind not in "iu" or offsets.shape != (clips + 1,):
        raise _bad(path, f"offsets are {offsets.dtype} {offsets.shape} for {clips} clips")
    lengths = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != len(points) or (lengths < 1).any():
        raise _bad(path, f"offsets do not split its {len(points)} frames into {clips} clips")
    if (lengths > MAX_FRAMES).any():
        raise _bad(path, f"a clip of {int(lengths.max())} frames (at most {MAX_FRAMES})")
    values = points[~np.isnan(points)]
    if values.size and not (np.isfinite(values).all() and np.abs(values).max() <= MAX_COORD):
        raise _bad(path, f"points beyond +-{MAX_COORD} of the image: not landmarks")
    return points, offsets.astype(np.int64)
