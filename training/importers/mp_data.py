"""Importer of the MediaPipe-tutorial ``MP_Data`` folder convention.

Layout on disk (the "action detection" tutorial and its many forks)::

    <root>/<gloss>/<seq>/<frame>.npy     frame = 0 .. n-1; each file one flat vector (D,)

with ``D`` = 1662 (pose 33x4 + face 468x3 + left hand 21x3 + right hand 21x3, the tutorial's
``extract_keypoints``), 258 (the same without the face) or 126 (hands only); any size of
``FLAT_LAYOUTS`` is accepted. An undetected group is all zeros. Of the 1662 layout's face mesh
only ``FACE_SUBSET`` is kept (see :mod:`engine.landmarks`).

A sequence folder with a missing frame number, an unreadable ``.npy``, a file that is not
``<number>.npy`` or a vector of the wrong length is one :class:`ImportProblem` naming the folder
or file; the other sequences import. Nothing on disk records the frame rate or the signer: they
are arguments (the recorders run at webcam speed with MediaPipe in the loop, roughly 10-30 fps).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.arrayfile import load_npy
from engine.errors import ArrayFileError, ImportProblem
from engine.landmarks import FLAT_LAYOUTS, UNKNOWN_SIGNER, LandmarkSequence
from training.importers.base import DEFAULT_FPS, ImportItem

__all__ = ["import_mp_data", "read_mp_sequence"]

FRAME_SUFFIX = ".npy"


def _natural_key(name: str) -> tuple[int, int | str]:
    """Numeric folder names in numeric order (2 before 10), others after, alphabetically."""
    return (0, int(name)) if name.isdigit() else (1, name)


def _subdirs(folder: Path) -> list[Path]:
    # hidden folders are tool droppings (.ipynb_checkpoints, .git), not glosses or sequences
    dirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(dirs, key=lambda p: _natural_key(p.name))


def read_mp_sequence(folder: Path, layout: str | None = None) -> npt.NDArray[np.float32]:
    """The frames of one sequence folder as ``(n, D) float32``.

    Raises:
        ImportProblem: naming the folder (no frames, missing numbers) or the file (unreadable,
            not a flat vector, wrong length).
    """
    frames: dict[int, Path] = {}
    for f in folder.iterdir():
        if f.suffix != FRAME_SUFFIX:
            continue  # notes, thumbnails: not frames
        if not f.stem.isdigit():
            raise ImportProblem(str(f), "not a frame file (expected <number>.npy)")
        frames[int(f.stem)] = f
    if not frames:
        raise ImportProblem(str(folder), "no <number>.npy frames")
    n = max(frames) + 1
    missing = sorted(set(range(n)) - set(frames))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ImportProblem(str(folder), f"frames 0..{n - 1} with {shown} missing")
    expected = FLAT_LAYOUTS[layout].size if layout is not None else None
    vectors: list[npt.NDArray[np.float32]] = []
    for i in range(n):
        path = frames[i]
        try:
            v = load_npy(path)
        except ArrayFileError as e:
            raise ImportProblem(e.path, e.reason) from e
        if v.ndim != 1:
            raise ImportProblem(str(path), f"expected a flat vector, got {v.shape}")
        if expected is None:
            expected = int(v.shape[0])  # the first frame decides; the others must agree
            if not any(fl.size == expected for fl in FLAT_LAYOUTS.values()):
                sizes = sorted(fl.size for fl in FLAT_LAYOUTS.values())
                raise ImportProblem(str(path), f"{expected} values match no layout {sizes}")
        if v.shape[0] != expected:
            raise ImportProblem(str(path), f"{v.shape[0]} values, expected {expected}")
        vectors.append(v.astype(np.float32, copy=False))
    return np.stack(vectors)


def import_mp_data(
    root: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    signer: str = UNKNOWN_SIGNER,
    layout: str | None = None,
    include_glosses: Collection[str] | None = None,
    exclude_glosses: Collection[str] = (),
) -> Iterator[ImportItem]:
    """Yield the sequences of an ``MP_Data`` tree, or an ImportProblem per bad sequence.

    Args:
        root: the folder holding one folder per gloss.
        fps: nominal frame rate (not recorded on disk).
        signer: who signs in the whole tree (not recorded on disk).
        layout: a name of ``FLAT_LAYOUTS``; None chooses it per sequence from the vector size.
        include_glosses / exclude_glosses: keep only / drop these gloss folders.

    Yields:
        :class:`LandmarkSequence` ``(n, 75 or 95, 4)`` per sequence folder, regular timestamps
        at ``fps``, ``source="<root name>/<gloss>/<seq>"``, ``extra={"seq", "layout"}``.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if layout is not None and layout not in FLAT_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(FLAT_LAYOUTS)}")
    root = Path(root)
    if not root.is_dir():
        yield ImportProblem(str(root), "not a folder (expected <root>/<gloss>/<seq>/<frame>.npy)")
        return
    for gloss_dir in _subdirs(root):
        gloss = gloss_dir.name
        if (include_glosses is not None and gloss not in include_glosses) or (
            gloss in exclude_glosses
        ):
            continue
        for seq_dir in _subdirs(gloss_dir):
            try:
                flat = read_mp_sequence(seq_dir, layout)
            except ImportProblem as problem:
                yield problem
                continue
            name = layout if layout is not None else _layout_name(flat.shape[1])
            yield LandmarkSequence.from_flat(
                flat,
                name,
                fps,
                glosses=(gloss,),
                signer=signer,
                source=f"{root.name}/{gloss}/{seq_dir.name}",
                extra={"seq": seq_dir.name, "layout": name},
            )


def _layout_name(size: int) -> str:
    # read_mp_sequence has checked that some layout has this size
    return next(name for name, fl in FLAT_LAYOUTS.items() if fl.size == size)
