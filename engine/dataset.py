"""SignStream's on-disk dataset: a folder of append-only shards of landmark sequences.

Format (version 1)::

    <root>/dataset.json        {"format": "signstream-dataset", "version": 1, "shards": [
                                 {"file": "shard-000000.npz", "count": N, "frames": F}, ...]}
    <root>/shard-000000.npz    uncompressed npz, one per append:
        points      (F, P, 4) float32   all frames of the shard's N sequences, concatenated
        present     (F, 4)    bool
        timestamps  (F,)      float64
        offsets     (N + 1,)  int64     sequence i is frames offsets[i]:offsets[i+1]
        meta        ()        str       JSON list of N dicts: fps, glosses, signer, source,
                                        aspect, spans, extra

The layout of ``points``/``present``/``timestamps`` is :mod:`engine.landmarks`'. Uncompressed
npz because it loads at disk speed (the real sets are a few hundred MB at most); one shard per
append so that appending never rewrites what is there. Both the shard and ``dataset.json`` are
written atomically, shard first: a crash leaves at worst an orphan shard that is not listed
(and is overwritten by the next append), never a listed shard that is broken. A writer that
may fail half-way (an import) writes through :func:`staged_dataset`, so that a failure leaves
no dataset, or the dataset as it was, behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.arrayfile import load_npz
from engine.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from engine.errors import ArrayFileError, DatasetError
from engine.landmarks import LandmarkSequence

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Dataset", "SampleInfo", "staged_dataset"]

FORMAT_NAME = "signstream-dataset"
FORMAT_VERSION = 1
INDEX_FILE = "dataset.json"
SHARD_ARRAYS = ("points", "present", "timestamps", "offsets", "meta")
STAGING_MARK = ".staging-"  # names the hidden folder beside a dataset that a staged write fills


@dataclass(frozen=True)
class SampleInfo:
    """What is known about a sample without loading its landmarks."""

    index: int  # position in the dataset
    glosses: tuple[str, ...]
    signer: str
    source: str
    fps: float
    num_frames: int
    extra: dict[str, str]

    @property
    def gloss(self) -> str:
        """The label of an isolated sample (glosses joined by spaces for a sentence)."""
        return " ".join(self.glosses)


def _seq_meta(s: LandmarkSequence) -> dict[str, Any]:
    return {
        "fps": s.fps,
        "glosses": list(s.glosses),
        "signer": s.signer,
        "source": s.source,
        "aspect": s.aspect,
        "spans": None if s.spans is None else [list(x) for x in s.spans],
        "extra": dict(s.extra),
    }


class Dataset(Sequence[LandmarkSequence]):
    """A dataset folder opened for reading and appending.

    ``len(ds)``, ``ds[i]`` (a :class:`LandmarkSequence`), iteration, ``ds.infos`` (metadata
    only, cheap). Shards are loaded on first use and cached.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        index_path = self.root / INDEX_FILE
        # a mistyped path is the usual cause: say so, not that some folder lacks an index
        if not self.root.exists():
            raise DatasetError(f"no such folder: {self.root}")
        if not self.root.is_dir():
            raise DatasetError(f"{self.root} is a file; a SignStream dataset is a folder")
        if not index_path.is_file():
            raise DatasetError(f"{self.root} is not a SignStream dataset (no {INDEX_FILE})")
        try:
            index = json.loads(index_path.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise DatasetError(f"{index_path}: unreadable dataset index ({e})") from e
        if index.get("format") != FORMAT_NAME:
            raise DatasetError(f"{index_path}: not a {FORMAT_NAME} index")
        if index.get("version") != FORMAT_VERSION:
            raise DatasetError(
                f"{index_path}: dataset format version {index.get('version')}, "
                f"this SignStream reads version {FORMAT_VERSION}"
            )
        self._index: dict[str, Any] = index
        self._shards: list[dict[str, Any]] = list(index["shards"])
        self._starts = np.cumsum([0] + [int(s["count"]) for s in self._shards])
        self._infos: list[SampleInfo] | None = None
        self._load_shard = lru_cache(maxsize=8)(self._read_shard)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls, root: str | os.PathLike[str], description: str = "", exist_ok: bool = False
    ) -> Dataset:
        """Create an empty dataset folder (or open it when ``exist_ok`` and it exists)."""
        root = Path(root)
        if (root / INDEX_FILE).exists():
            if not exist_ok:
                raise DatasetError(f"{root} already holds a dataset")
            return cls(root)
        root.mkdir(parents=True, exist_ok=True)
        index = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "description": description,
            "shards": [],
        }
        atomic_write_text(root / INDEX_FILE, json.dumps(index, indent=1))
        return cls(root)

    @classmethod
    def open_or_create(cls, root: str | os.PathLike[str], description: str = "") -> Dataset:
        return cls.create(root, description, exist_ok=True)

    def append(self, sequences: Iterable[LandmarkSequence]) -> int:
        """Write ``sequences`` as one new shard; returns how many were written.

        Sequences with and without face points go to separate shards (a shard has one ``P``).
        """
        seqs = list(sequences)
        written = 0
        for with_face in (False, True):
            part = [s for s in seqs if s.has_face == with_face]
            if part:
                self._append_shard(part)
                written += len(part)
        return written

    def _append_shard(self, seqs: list[LandmarkSequence]) -> None:
        number = len(self._shards)
        name = f"shard-{number:06d}.npz"
        offsets = np.cumsum([0] + [s.num_frames for s in seqs]).astype(np.int64)
        with atomic_path(self.root / name) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                points=np.concatenate([s.points for s in seqs]).astype(np.float32, copy=False),
                present=np.concatenate([s.present for s in seqs]),
                timestamps=np.concatenate([s.timestamps for s in seqs]),
                offsets=offsets,
                meta=np.array(json.dumps([_seq_meta(s) for s in seqs])),
            )
        shards = [*self._shards, {"file": name, "count": len(seqs), "frames": int(offsets[-1])}]
        index = {**self._index, "shards": shards}
        atomic_write_text(self.root / INDEX_FILE, json.dumps(index, indent=1))
        self._index, self._shards = index, shards
        self._starts = np.cumsum([0] + [int(s["count"]) for s in shards])
        self._infos = None

    # ------------------------------------------------------------------ reading
    def _read_shard(self, number: int) -> dict[str, Any]:
        path = self.root / self._shards[number]["file"]
        try:
            data: dict[str, Any] = load_npz(path, SHARD_ARRAYS)
            data["meta"] = json.loads(str(data["meta"]))
        except ArrayFileError as e:
            raise DatasetError(f"{path}: corrupt dataset shard ({e.reason})") from e
        except ValueError as e:  # the meta JSON
            raise DatasetError(f"{path}: corrupt dataset shard ({e})") from e
        if len(data["meta"]) != self._shards[number]["count"]:
            raise DatasetError(f"{path}: holds {len(data['meta'])} sequences, index says otherwise")
        return data

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i: int) -> tuple[int, int]:
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range (dataset has {len(self)})")
        shard = int(np.searchsorted(self._starts, i, side="right") - 1)
        return shard, i - int(self._starts[shard])

    def __getitem__(self, i: int) -> LandmarkSequence:  # type: ignore[override]
        shard, j = self._locate(i)
        d = self._load_shard(shard)
        a, b = int(d["offsets"][j]), int(d["offsets"][j + 1])
        m = d["meta"][j]
        return LandmarkSequence(
            points=d["points"][a:b],
            present=d["present"][a:b],
            timestamps=d["timestamps"][a:b],
            fps=float(m["fps"]),
            glosses=tuple(m["glosses"]),
            signer=m["signer"],
            source=m["source"],
            aspect=m["aspect"],
            spans=None if m["spans"] is None else tuple((int(x), int(y)) for x, y in m["spans"]),
            extra=dict(m["extra"]),
        )

    def __iter__(self) -> Iterator[LandmarkSequence]:
        for i in range(len(self)):
            yield self[i]

    @property
    def infos(self) -> list[SampleInfo]:
        """Metadata of every sample, in order (reads only the shards' ``meta`` members)."""
        if self._infos is None:
            infos: list[SampleInfo] = []
            for number, shard in enumerate(self._shards):
                path = self.root / shard["file"]
                try:
                    # only these two members: the landmarks are not read for metadata
                    arrays = load_npz(path, ("meta", "offsets"))
                    metas = json.loads(str(arrays["meta"]))
                    offsets = arrays["offsets"]
                except ArrayFileError as e:
                    raise DatasetError(f"{path}: corrupt dataset shard ({e.reason})") from e
                except ValueError as e:  # the meta JSON
                    raise DatasetError(f"{path}: corrupt dataset shard ({e})") from e
                base = int(self._starts[number])
                for j, m in enumerate(metas):
                    infos.append(
                        SampleInfo(
                            index=base + j,
                            glosses=tuple(m["glosses"]),
                            signer=m["signer"],
                            source=m["source"],
                            fps=float(m["fps"]),
                            num_frames=int(offsets[j + 1] - offsets[j]),
                            extra=dict(m["extra"]),
                        )
                    )
            self._infos = infos
        return self._infos

    def sources(self) -> set[str]:
        """The ``source`` of every sample (importers use it to skip what is already in)."""
        return {info.source for info in self.infos}

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, {len(self)} sequences)"


def _missing_parents(folder: Path) -> list[Path]:
    """The ancestors of ``folder`` that do not exist, nearest last."""
    missing = []
    for parent in folder.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing[::-1]


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # shards are never rewritten in place: sharing the inode is safe
    except OSError:  # a filesystem without hard links (FAT, some network shares)
        shutil.copy2(src, dst)


@contextlib.contextmanager
def staged_dataset(root: str | os.PathLike[str], description: str = "") -> Iterator[Dataset]:
    """A dataset to append to that becomes ``root`` only when the block ends without an error.

    For writers that may fail half-way (an import of a corrupt or unsupported input): the block
    writes into a hidden staging folder beside ``root`` (``.<name>.staging-*``, on the same
    filesystem so that renames are atomic). When the block ends normally and appended something:

    * ``root`` did not exist: the staging folder is renamed to ``root``;
    * ``root`` is a dataset (the staging folder began as a copy, its shards hard-linked) or a
      folder without one: the new shards are moved in, then the new index replaces the old in
      one rename, so a reader sees the old dataset or the new one, never a mix.

    Otherwise (an exception, Ctrl-C, or nothing appended) the staging folder is deleted, with
    any parent folders this call created, and ``root`` is exactly as it was. A process killed
    inside the block leaves only its staging folder, which nothing reads: delete it.

    Raises:
        DatasetError: ``root`` is a file or a dataset that cannot be read, or another program
            changed its index during the block (nothing is written then).
    """
    root = Path(root)
    index_path = root / INDEX_FILE
    existing = index_path.is_file()
    before: bytes | None = None  # the index as it was, to copy and to detect another writer
    if existing:
        Dataset(root)  # a broken index or a newer version: refused before any work
        before = index_path.read_bytes()
    elif root.exists() and not root.is_dir():
        raise DatasetError(f"{root} is a file; a SignStream dataset is a folder")
    created = _missing_parents(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}{STAGING_MARK}", dir=root.parent))
    committed = False
    try:
        # mkdtemp makes 0700; the dataset a user gets has the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
        if before is not None:
            for shard in Dataset(root)._shards:
                _link_or_copy(root / shard["file"], stage / shard["file"])
            atomic_write_bytes(stage / INDEX_FILE, before)
            dataset = Dataset(stage)
        else:
            dataset = Dataset.create(stage, description)
        start = len(dataset._shards)
        yield dataset
        if len(dataset._shards) == start:
            return  # nothing appended: nothing to create or change
        if not root.exists():
            os.rename(stage, root)
            committed = True
            return
        root_before = index_path.read_bytes() if index_path.is_file() else None
        if root_before != before:
            raise DatasetError(
                f"{root}: changed by another program during this write; nothing was written"
            )
        for shard in dataset._shards[start:]:  # unlisted in root until the index moves
            os.replace(stage / shard["file"], root / shard["file"])
        os.replace(stage / INDEX_FILE, index_path)
        committed = True
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        if not committed:
            for parent in reversed(created):
                with contextlib.suppress(OSError):  # only empty ones: never someone's files
                    parent.rmdir()
