"""Importer of the ``.npz`` landmark sets of the shared data (``../shared/data/*/*.npz``).

File format (``numpy.savez_compressed``)::

    X       (N, frames, D) float16   one flat vector per frame, D in FLAT_LAYOUTS
                                     (258, 1662, 126, 170, 226); an undetected group is zeros
    gloss   (N,) str                 the label of each sequence
    signer  (N,) str                 optional: who signs
    seq, real, name, ...  (N,)       optional label arrays; kept in ``extra`` as strings

or ragged, clips of different lengths (``crowd/crowd.npz``)::

    X       (total_frames, D) float16  the clips' frames one after another
    offsets (N+1,) int64               clip i is ``X[offsets[i]:offsets[i+1]]``

A clip that cannot be MediaPipe Holistic landmarks (:func:`layout_problem`: pixel coordinates,
as one crowd source holds, or blocks in another order, as three others do) becomes an
ImportProblem; the rest of the file imports.

The layout is chosen from ``D`` unless given. None of these files records its frame rate: the
tutorial recorders capture at webcam speed with MediaPipe in the loop (roughly 10-30 fps,
unknown per file), so ``fps`` (default 30) is an assumption and the timestamps are regular at it.
``source`` is ``"<folder>/<file>#<index>"`` (the folder too, because several sets are called
``words.npz``), so re-importing a file skips the sequences that are already in the dataset.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.arrayfile import load_npz
from engine.errors import ArrayFileError, ImportProblem
from engine.landmarks import (
    FLAT_LAYOUTS,
    GROUP_INDEX,
    LEFT_HAND,
    POSE,
    RIGHT_HAND,
    UNKNOWN_SIGNER,
    LandmarkSequence,
)
from training.importers.base import DEFAULT_FPS, ImportItem

__all__ = ["import_npz", "layout_for_size", "layout_problem", "npz_source"]

# The tutorial recorders' real rate is unknown (10-30 fps with MediaPipe in the loop); 30 is the
# webcam's nominal rate, and training augments with time stretching to cover the rest.

DATA_KEY = "X"
GLOSS_KEY = "gloss"
SIGNER_KEY = "signer"
REAL_KEY = "real"  # WLASL-50: True for the real clips, False for the uploader's augmentations
OFFSETS_KEY = "offsets"  # ragged files: clip boundaries in X
# MediaPipe's coordinates are in image units (0..1, a little outside for points off the picture);
# every tutorial set stays within this, pixel coordinates do not
MAX_ABS_COORD = 5.0
MAX_HAND_EXTENT = 1.0  # a hand's x or y extent, in image units: no hand is wider than the image
NOSE, EYES = 0, (2, 5)  # MediaPipe Pose ids
MAX_EYE_TO_NOSE = 0.25  # image units: a face that big fills the picture; no one signs like that

PathLike = str | os.PathLike[str]


def layout_for_size(size: int) -> str | None:
    """The name of the flat layout whose vectors have ``size`` values, or None."""
    for name, layout in FLAT_LAYOUTS.items():
        if layout.size == size:
            return name
    return None


def npz_source(path: PathLike, index: int) -> str:
    """``"<folder>/<file>#<index>"``: stable across machines, distinct for same-named files."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}#{index}"


def layout_problem(points: npt.NDArray[np.float32], present: npt.NDArray[np.bool_]) -> str | None:
    """Why a clip ``points (T, P, 4)`` cannot be MediaPipe Holistic landmarks, or None.

    Three ways a recorder's file breaks: pixel coordinates (values far outside the image); the
    blocks written in another order (a "hand" wider than the whole image, a "pose" whose eyes
    are a quarter of the image away from its nose); checked on the majority of the frames where
    the group is present, so a few odd frames of a real recording pass.
    """
    reach = float(np.abs(points[..., :2]).max(initial=0.0))
    if reach > MAX_ABS_COORD:
        return (
            f"coordinates up to {reach:.0f}, not normalised to the image (MediaPipe's are "
            f"within +-{MAX_ABS_COORD:g})"
        )
    for group in (LEFT_HAND, RIGHT_HAND):
        seen = present[:, GROUP_INDEX[group.name]]
        xy = points[seen, group.slice, :2]
        if (
            len(xy)
            and np.mean((xy.max(axis=1) - xy.min(axis=1)).max(axis=1) > MAX_HAND_EXTENT) > 0.5
        ):
            return f"the {group.name} spans more than the image: not MediaPipe's hand layout"
    seen = present[:, GROUP_INDEX["pose"]]
    if seen.any():
        pose = points[seen, POSE.slice, :2]
        eyes = np.linalg.norm(pose[:, list(EYES)] - pose[:, [NOSE]], axis=2).max(axis=1)
        has_eyes = bool(np.abs(pose[:, list(EYES)]).max() > 0)  # WLASL-50's 11 points have none
        if has_eyes and float(np.median(eyes)) > MAX_EYE_TO_NOSE:
            return "the pose's eyes are far from its nose: not MediaPipe's pose layout"
    return None


def _clip_bounds(
    arrays: dict[str, npt.NDArray[np.generic]],
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.int64]] | str:
    """``(frames (total, D), bounds (N+1,))`` of a fixed-length or a ragged file, or what is
    wrong with it."""
    x = arrays[DATA_KEY]
    if x.ndim == 3:
        n, frames, size = (int(d) for d in x.shape)
        return x.reshape(n * frames, size), np.arange(n + 1, dtype=np.int64) * frames
    if x.ndim != 2 or OFFSETS_KEY not in arrays:
        return (
            f"{DATA_KEY} must be (N, frames, D), or (frames, D) with {OFFSETS_KEY}; got {x.shape}"
        )
    given = arrays[OFFSETS_KEY]
    if given.ndim != 1 or len(given) < 2 or not np.issubdtype(given.dtype, np.integer):
        return f"{OFFSETS_KEY} must be (N+1,) integers, got {given.shape} {given.dtype}"
    bounds: npt.NDArray[np.int64] = given.astype(np.int64)
    if bounds[0] != 0 or bounds[-1] != len(x) or (np.diff(bounds) <= 0).any():
        return f"{OFFSETS_KEY} must rise from 0 to {len(x)} (the frames of {DATA_KEY})"
    return x, bounds


def _as_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def import_npz(
    paths: PathLike | Iterable[PathLike],
    *,
    layout: str | None = None,
    fps: float = DEFAULT_FPS,
    signer: str = UNKNOWN_SIGNER,
    include_glosses: Collection[str] | None = None,
    exclude_glosses: Collection[str] = (),
    real_only: bool = False,
) -> Iterator[ImportItem]:
    """Yield the sequences of one or more npz sets, or an :class:`ImportProblem` per bad file.

    Args:
        paths: one ``.npz`` file or several; a file that cannot be read (missing, truncated,
            corrupt, no ``X``/``gloss``, unknown vector size) yields one ImportProblem naming
            it and the import goes on with the next file.
        layout: a name of ``FLAT_LAYOUTS``; None chooses it from the vector size ``D``.
        fps: nominal rate of the recordings (not stored in the files; see the module docstring).
        signer: the signer of files without a ``signer`` array.
        include_glosses: keep only these glosses (None: all).
        exclude_glosses: drop these glosses, e.g. asl-coffee's fingerspelled letters. Beware
            that ``a`` and ``i`` are words of that vocabulary, not only letters.
        real_only: keep only sequences whose ``real`` label is true (WLASL-50: the 423 real
            clips, not the augmentations); a file without ``real`` is then an ImportProblem.

    Yields:
        :class:`LandmarkSequence` ``(frames, 75 or 95, 4)`` with ``glosses=(gloss,)``, the
        signer, ``source="<folder>/<file>#<index>"`` and ``extra`` holding the other label
        arrays as strings plus ``layout`` (the flat layout it was read from).
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if layout is not None and layout not in FLAT_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(FLAT_LAYOUTS)}")
    for path in _as_paths(paths):
        try:
            arrays = load_npz(path)
        except ArrayFileError as e:
            yield ImportProblem(str(path), f"unreadable npz: {e.reason}")
            continue
        yield from _sequences_of(
            path, arrays, layout, fps, signer, include_glosses, exclude_glosses, real_only
        )


def _size_problem(layout: str | None, size: int) -> str:
    if layout is None:
        return f"vectors of {size} values match no layout; pass layout="
    return f"layout {layout} has {FLAT_LAYOUTS[layout].size} values, the file has {size}"


def _sequences_of(
    path: Path,
    arrays: dict[str, npt.NDArray[np.generic]],
    layout: str | None,
    fps: float,
    signer: str,
    include_glosses: Collection[str] | None,
    exclude_glosses: Collection[str],
    real_only: bool,
) -> Iterator[ImportItem]:
    """The sequences of one decoded file (or one ImportProblem saying what is wrong with it)."""
    where = str(path)
    if DATA_KEY not in arrays or GLOSS_KEY not in arrays:
        missing = [k for k in (DATA_KEY, GLOSS_KEY) if k not in arrays]
        yield ImportProblem(where, f"no {' / '.join(missing)} array (has {sorted(arrays)})")
        return
    clips = _clip_bounds(arrays)
    if isinstance(clips, str):
        yield ImportProblem(where, clips)
        return
    flat, bounds = clips
    n, size = len(bounds) - 1, int(flat.shape[1])
    name = layout if layout is not None else layout_for_size(size)
    if name is None or FLAT_LAYOUTS[name].size != size:
        yield ImportProblem(where, _size_problem(name, size))
        return
    # Label arrays: one entry per sequence; anything else (e.g. a scalar note) is not a label.
    labels = {k: a for k, a in arrays.items() if k != DATA_KEY and a.shape == (n,)}
    if GLOSS_KEY not in labels:
        yield ImportProblem(where, f"{GLOSS_KEY} must be ({n},), got {arrays[GLOSS_KEY].shape}")
        return
    if real_only and REAL_KEY not in labels:
        yield ImportProblem(where, f"real_only asks for a `{REAL_KEY}` array, the file has none")
        return

    glosses = [str(g) for g in labels[GLOSS_KEY]]
    wanted = set(glosses) if include_glosses is None else set(include_glosses)
    wanted -= set(exclude_glosses)
    keep = np.array([g in wanted for g in glosses], dtype=bool).reshape(n)
    if real_only:
        keep &= labels[REAL_KEY].astype(bool)
    if not keep.any():
        return
    signers = [str(s) for s in labels[SIGNER_KEY]] if SIGNER_KEY in labels else None
    extra_keys = [k for k in labels if k not in (GLOSS_KEY, SIGNER_KEY)]
    extras = {k: [str(v) for v in labels[k].tolist()] for k in extra_keys}

    # One unpack of all kept frames at once: the per-sequence Python work is then only slicing
    # (the whole asl-coffee set, 4693 sequences, imports in about 1.5 s).
    kept = np.flatnonzero(keep)
    lengths = bounds[kept + 1] - bounds[kept]
    rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in kept.tolist()])
    points, present = FLAT_LAYOUTS[name].unpack(flat[rows])
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for j, i in enumerate(kept.tolist()):
        extra = {k: v[i] for k, v in extras.items()}
        extra["layout"] = name
        clip_points = points[starts[j] : starts[j + 1]]
        clip_present = present[starts[j] : starts[j + 1]]
        wrong = layout_problem(clip_points, clip_present)
        if wrong is not None:
            yield ImportProblem(f"{path}#{i}", f"{wrong}: left out")
            continue
        try:
            yield LandmarkSequence(
                points=clip_points,
                present=clip_present,
                timestamps=np.arange(int(lengths[j]), dtype=np.float64) / fps,
                fps=fps,
                glosses=(glosses[i],),
                signer=signers[i] if signers is not None else signer,
                source=npz_source(path, i),
                extra=extra,
            )
        except ValueError as e:  # cannot happen with well-formed arrays; say which one if it does
            yield ImportProblem(f"{path}#{i}", str(e))
