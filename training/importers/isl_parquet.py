"""Importer of Google's "Isolated Sign Language Recognition" landmarks (Kaggle ``asl-signs``).

Format (one parquet file per sequence, one row per landmark and frame)::

    frame           int16    frame number in the source video; need not start at 0, may skip
    row_id          str      "<frame>-<type>-<landmark_index>" (not needed here)
    type            str      "face" | "left_hand" | "pose" | "right_hand"
    landmark_index  int16    0..467 face, 0..20 hands, 0..32 pose
    x, y, z         float64  MediaPipe Holistic's normalised coordinates; NaN where the group
                             was not detected in that frame

543 rows per frame in the order face 468, left_hand 21, pose 33, right_hand 21. The dataset root
holds ``train.csv`` with columns ``path`` (relative to the root), ``participant_id``,
``sequence_id``, ``sign``.

Mapping to :class:`LandmarkSequence`: rows are placed by ``(type, landmark_index)``, not by
position, so a file in another row order or with rows missing still reads correctly. Of the
face only ``FACE_SUBSET`` is kept, so every sequence stores face points (``P = 95``). The file
has no pose visibility: confidence is 1 for every point that is there, 0 for a NaN point. A
group is present in a frame when any of its points is not NaN. "Left"/"right" are MediaPipe
Holistic's labels, as in the rest of SignStream.

Frame rate: the competition's data page states none; the clips were recorded with phone
cameras, whose video is nominally 30 fps, and 30 fps is what solutions of the competition
assumed. Treat it as an assumption (``fps`` argument). Timestamps are ``(frame - first) / fps``,
so gaps in the frame numbers are kept as gaps in time.

pyarrow (the ``train`` extra) is imported when a file is read, not on import of this module.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from engine.errors import ImportProblem
from engine.landmarks import (
    DIMS,
    FACE,
    FACE_SUBSET,
    GROUP_INDEX,
    HAND_POINTS,
    LEFT_HAND,
    NUM_POINTS_WITH_FACE,
    POSE,
    POSE_POINTS,
    RIGHT_HAND,
    UNKNOWN_SIGNER,
    LandmarkSequence,
)
from training.importers.base import ImportItem

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "INDEX_COLUMNS",
    "ISL_FPS",
    "LANDMARK_COLUMNS",
    "LANDMARK_TYPES",
    "import_isl_parquet",
    "read_isl_parquet",
]

ISL_FPS = 30.0  # assumed: phone video, nominally 30 fps; the dataset does not state it
INDEX_FILE = "train.csv"
INDEX_COLUMNS = ("path", "participant_id", "sequence_id", "sign")
LANDMARK_COLUMNS = ("frame", "type", "landmark_index", "x", "y", "z")  # row_id is not needed
FULL_FACE_POINTS = 468

# type -> (our group, number of landmarks in the file)
LANDMARK_TYPES: dict[str, tuple[str, int]] = {
    "face": ("face", FULL_FACE_POINTS),
    "left_hand": ("left_hand", HAND_POINTS),
    "pose": ("pose", POSE_POINTS),
    "right_hand": ("right_hand", HAND_POINTS),
}
_TYPE_NAMES = tuple(LANDMARK_TYPES)


def _target_tables() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per type (``_TYPE_NAMES`` order) and landmark index: our point index (-1: dropped) and
    our group index. Shapes ``(4, 468)``; indices past a type's size are -1."""
    target = np.full((len(_TYPE_NAMES), FULL_FACE_POINTS), -1, np.int64)
    for ti, tname in enumerate(_TYPE_NAMES):
        if tname == "face":
            for pos, mesh_index in enumerate(FACE_SUBSET):
                target[ti, mesh_index] = FACE.start + pos
        else:
            g = {"pose": POSE, "left_hand": LEFT_HAND, "right_hand": RIGHT_HAND}[tname]
            target[ti, : g.size] = np.arange(g.start, g.stop)
    group = np.array([GROUP_INDEX[LANDMARK_TYPES[t][0]] for t in _TYPE_NAMES], np.int64)
    return target, group


_TARGET, _TYPE_GROUP = _target_tables()


def _pyarrow() -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.parquet, pyarrow.compute)``, imported on first use."""
    import pyarrow
    import pyarrow.compute
    import pyarrow.parquet

    return pyarrow, pyarrow.parquet, pyarrow.compute


def _column_numpy(table: pa.Table, name: str, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    # to_numpy on a chunked column concatenates; float nulls become NaN, as MediaPipe's NaNs
    return np.asarray(table.column(name).to_numpy(), dtype=dtype)


def read_isl_parquet(
    path: str | os.PathLike[str], fps: float = ISL_FPS, **meta: Any
) -> LandmarkSequence:
    """One sequence file -> :class:`LandmarkSequence` ``(T, 95, 4)`` (with ``FACE_SUBSET``).

    ``meta`` goes to the sequence (glosses, signer, source, extra); ``extra`` gains
    ``first_frame``, the file's first frame number.

    Raises:
        ImportProblem: naming the file: unreadable, missing columns (named), unknown types,
            landmark indices out of range, duplicate rows, no rows.
    """
    arrow, parquet, compute = _pyarrow()
    where = str(path)
    try:
        schema = parquet.read_schema(path)
    except (OSError, arrow.ArrowException) as e:
        raise ImportProblem(where, f"unreadable parquet ({type(e).__name__}: {e})") from e
    missing = [c for c in LANDMARK_COLUMNS if c not in schema.names]
    if missing:
        raise ImportProblem(where, f"missing columns {', '.join(missing)}")
    try:
        table = parquet.read_table(path, columns=list(LANDMARK_COLUMNS))
        # the type column as 0..3 (None for an unknown type), without a Python loop over rows
        types = table.column("type").cast(arrow.string())
        type_codes = compute.index_in(types, arrow.array(_TYPE_NAMES))
    except (OSError, arrow.ArrowException) as e:
        raise ImportProblem(where, f"unreadable parquet ({type(e).__name__}: {e})") from e
    if table.num_rows == 0:
        raise ImportProblem(where, "no rows")
    if type_codes.null_count:
        unknown = sorted(set(compute.filter(types, compute.is_null(type_codes)).to_pylist()))
        raise ImportProblem(where, f"unknown landmark types {unknown}; known: {_TYPE_NAMES}")
    null_keys = [c for c in ("frame", "landmark_index") if table.column(c).null_count]
    if null_keys:
        raise ImportProblem(where, f"empty values in column {', '.join(null_keys)}")
    ti = np.asarray(type_codes.to_numpy(), np.int64)
    li = _column_numpy(table, "landmark_index", np.int64)
    frame = _column_numpy(table, "frame", np.int64)
    xyz = np.stack([_column_numpy(table, c, np.float64) for c in ("x", "y", "z")], axis=1)

    sizes = np.array([LANDMARK_TYPES[t][1] for t in _TYPE_NAMES], np.int64)
    bad = (li < 0) | (li >= sizes[ti])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ImportProblem(
            where,
            f"landmark_index {li[k]} out of range for {_TYPE_NAMES[ti[k]]} ({bad.sum()} rows)",
        )
    frames, t_index = np.unique(frame, return_inverse=True)  # sorted frame numbers, row -> t
    target = _TARGET[ti, li]
    kept = target >= 0  # face points outside FACE_SUBSET are dropped here
    t_index, target, xyz, groups = t_index[kept], target[kept], xyz[kept], _TYPE_GROUP[ti[kept]]
    keys = t_index * NUM_POINTS_WITH_FACE + target
    if keys.size and np.bincount(keys).max() > 1:  # bincount: linear, unlike a sort
        raise ImportProblem(where, "duplicate rows for the same frame and landmark")

    # a point is there when x and y are numbers; z alone is MediaPipe's weakest estimate
    found = ~(np.isnan(xyz[:, 0]) | np.isnan(xyz[:, 1]))
    points = np.zeros((len(frames), NUM_POINTS_WITH_FACE, DIMS), np.float32)
    points[t_index, target, :3] = np.where(found[:, None], np.nan_to_num(xyz, nan=0.0), 0.0)
    points[t_index, target, 3] = found  # no visibility in this format: 1 for a found point
    present = np.zeros((len(frames), len(GROUP_INDEX)), np.bool_)
    present[t_index[found], groups[found]] = True
    timestamps = (frames - frames[0]).astype(np.float64) / fps
    extra = {"first_frame": str(int(frames[0])), **meta.pop("extra", {})}
    return LandmarkSequence(
        points=points, present=present, timestamps=timestamps, fps=fps, extra=extra, **meta
    )


def _file_source(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def import_isl_parquet(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    gloss: str | None = None,
    signer: str = UNKNOWN_SIGNER,
    fps: float = ISL_FPS,
    include_glosses: Collection[str] | None = None,
    exclude_glosses: Collection[str] = (),
    limit: int | None = None,
    skip_sources: Collection[str] = (),
) -> Iterator[ImportItem]:
    """Yield the sequences of an ``asl-signs`` root and/or single parquet files.

    Args:
        paths: a dataset root (a folder with ``train.csv``: gloss = ``sign``, signer =
            ``participant_id``) or a ``.parquet`` file (gloss = ``gloss``, signer = ``signer``),
            or several of them.
        gloss: the gloss of single parquet files (required for them).
        signer: the signer of single parquet files.
        fps: frame rate the frame numbers are counted at (assumed 30; see the module docstring).
        include_glosses / exclude_glosses: keep only / drop these signs.
        limit: read at most this many sequence files in all, after the gloss filters (a quick
            look at a big set); each yields a sequence or a problem.
        skip_sources: sources not to read at all, e.g. ``Dataset.sources()`` of the target when
            resuming (``write_import`` would skip them anyway, but only after reading them).

    Yields:
        :class:`LandmarkSequence` per file, ``source`` ``"<root name>/<path>"`` for a root,
        ``"<folder>/<file>"`` for a single file; ``extra`` holds ``sequence_id`` and
        ``first_frame``. Unreadable files, missing columns (named) or a root without a usable
        ``train.csv`` yield an :class:`ImportProblem` each, and the import goes on.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)

    def wanted(g: str) -> bool:
        return (include_glosses is None or g in include_glosses) and g not in exclude_glosses

    def files() -> Iterator[tuple[Path, dict[str, Any]] | ImportProblem]:
        """``(file, sequence metadata)`` to read, in order, or a problem with an input."""
        for item in map(Path, items):
            if item.is_dir():
                yield from _root_files(item, wanted)
            elif gloss is None:
                yield ImportProblem(str(item), "a single parquet file needs a gloss (gloss=...)")
            elif wanted(gloss):
                yield item, {"glosses": (gloss,), "signer": signer, "source": _file_source(item)}

    read = 0
    for entry in files():
        if isinstance(entry, ImportProblem):
            yield entry
            continue
        path, meta = entry
        if meta["source"] in skip_sources:
            continue
        if limit is not None and read >= limit:
            return
        read += 1
        try:
            seq = read_isl_parquet(path, fps, **meta)
        except ImportProblem as problem:
            yield problem
            continue
        yield seq


def _root_files(
    root: Path, wanted: Callable[[str], bool]
) -> Iterator[tuple[Path, dict[str, Any]] | ImportProblem]:
    """The files listed in ``root/train.csv`` with their metadata, or one problem with it."""
    index = root / INDEX_FILE
    try:
        with index.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in INDEX_COLUMNS if c not in (reader.fieldnames or ())]
            rows = [] if missing else list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        yield ImportProblem(str(index), f"unreadable index ({type(e).__name__}: {e})")
        return
    if missing:
        yield ImportProblem(str(index), f"missing columns {', '.join(missing)}")
        return
    for row in rows:
        if wanted(row["sign"]):
            yield (
                root / row["path"],
                {
                    "glosses": (row["sign"],),
                    "signer": row["participant_id"],
                    "source": f"{root.name}/{row['path']}",
                    "extra": {"sequence_id": row["sequence_id"]},
                },
            )
