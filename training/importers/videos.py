"""Import a folder of labelled sign videos into a dataset, extracting in parallel, resumably.

Labels, either

* by folder: ``<root>/<gloss>/<any/depth/>clip.mp4`` -> gloss = the video's parent folder name
  (spaces become ``-``: gloss names must not contain spaces), signer ``UNKNOWN_SIGNER``; or
* by ``<root>/labels.csv`` with a header and columns ``file,gloss[,signer]``: ``file`` relative
  to ``root``; ``gloss`` one gloss, or several separated by spaces for a sentence video. When the
  file exists it is the whole list: videos it does not name are not imported.

Video types: those in ``VIDEO_SUFFIXES`` (animated GIFs included).

Resumable: every worker saves its finished video at once, atomically, as
``<dataset>/.partial/<hash of source>.npz``; these are merged into the dataset's shards every
``merge_every`` videos and at the end, then deleted. A run that is interrupted (Ctrl-C, kill,
power cut) loses at most the videos being extracted at that moment: the next run merges what is
in ``.partial`` first and extracts only videos whose ``source`` (the video's absolute path) the
dataset does not hold. A video that cannot be read becomes an :class:`ImportProblem` in the
report and is tried again by the next run. Run one import into a dataset at a time; a resumed
run keeps what the earlier one extracted even if its ``ExtractorConfig`` was another.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from engine.arrayfile import load_npz
from engine.atomic import atomic_path
from engine.dataset import INDEX_FILE, Dataset
from engine.errors import ArrayFileError, ImportProblem, SignStreamError
from engine.extractor import ExtractorConfig
from engine.landmarks import UNKNOWN_SIGNER, LandmarkSequence
from engine.video import extract_video
from training.importers.base import ImportItem, ImportReport, write_import

__all__ = [
    "LABELS_FILE",
    "MERGE_EVERY",
    "PARTIAL_DIR",
    "VIDEO_SUFFIXES",
    "LabelledVideo",
    "VideoImportReport",
    "default_workers",
    "find_videos",
    "import_videos",
    "iter_videos",
]

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".gif"}
)
LABELS_FILE = "labels.csv"
PARTIAL_DIR = ".partial"  # inside the dataset folder: finished videos not yet in a shard
# videos per merge of .partial into a shard: bounds the memory of a merge and the number of
# small files, while a crash costs nothing either way (the partial files survive it)
MERGE_EVERY = 500
MAX_DEFAULT_WORKERS = 4  # MediaPipe is CPU-bound; more processes mostly compete for memory
# spawn, not fork: a forked child of a process that already ran MediaPipe or OpenCV threads
# can inherit a held lock; spawn is also what Windows and macOS do, so all platforms agree.
# Like there, a script calling import_videos(workers > 0) needs `if __name__ == "__main__":`.
START_METHOD = "spawn"


@dataclass(frozen=True)
class LabelledVideo:
    """A video file and what it shows."""

    path: Path  # the file (absolute)
    glosses: tuple[str, ...]  # one gloss for an isolated sign, several for a sentence
    signer: str  # UNKNOWN_SIGNER where the labels do not say

    @property
    def source(self) -> str:
        """The sample's identity in the dataset: resumed imports skip sources it holds."""
        return self.path.as_posix()


@dataclass
class VideoImportReport(ImportReport):
    """:class:`ImportReport` plus where this run's sequences came from."""

    extracted: int = 0  # videos whose landmarks this run extracted
    resumed: int = 0  # finished by an interrupted earlier run, merged from .partial by this one

    def summary(self) -> str:
        head, *rest = super().summary().split("\n")
        return "\n".join([f"{head} (extracted {self.extracted}, resumed {self.resumed})", *rest])


def default_workers() -> int:
    """``min(CPU count, MAX_DEFAULT_WORKERS)``."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


# ---------------------------------------------------------------------------------- finding


def _gloss_from_folder(name: str) -> str:
    return re.sub(r"\s+", "-", name.strip())


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def find_videos(root: str | os.PathLike[str]) -> Iterator[LabelledVideo | ImportProblem]:
    """The labelled videos under ``root`` (see the module docstring), in a stable order.

    Yields an :class:`ImportProblem` for a video without a label or a ``labels.csv`` row naming
    no readable file; raises ``ImportProblem`` for a ``labels.csv`` without its columns and
    ``FileNotFoundError`` for a missing ``root``.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of videos")
    labels = root / LABELS_FILE
    if labels.is_file():
        yield from _videos_from_csv(root, labels)
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not _is_video(path):
            continue  # hidden folders: a dataset's .partial may live under root
        if path.parent == root:
            yield ImportProblem(
                str(path),
                f"no label: put it in a folder named after its gloss or list it in {LABELS_FILE}",
            )
            continue
        yield LabelledVideo(path, (_gloss_from_folder(path.parent.name),), UNKNOWN_SIGNER)


def _videos_from_csv(root: Path, labels: Path) -> Iterator[LabelledVideo | ImportProblem]:
    with open(labels, encoding="utf-8-sig", newline="") as f:  # -sig: a BOM from spreadsheets
        rows = list(csv.DictReader(f))
        columns = {c.strip().lower() for c in (rows[0].keys() if rows else [])}
    if rows and not {"file", "gloss"} <= columns:
        raise ImportProblem(
            str(labels), f"needs a header with columns file,gloss[,signer], got {columns}"
        )
    seen: set[Path] = set()
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        cells = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        where = f"{labels}:{line}"
        path = Path(os.path.abspath(root / cells["file"]))  # abspath: symlinks stay as named
        glosses = tuple(cells["gloss"].split())
        if not cells["file"] or not glosses:
            yield ImportProblem(where, "empty file or gloss")
        elif not _is_video(path):
            yield ImportProblem(str(path), f"listed in {where} but no such video file")
        elif path in seen:
            yield ImportProblem(str(path), f"listed twice ({where})")
        else:
            seen.add(path)
            yield LabelledVideo(path, glosses, cells.get("signer") or UNKNOWN_SIGNER)


# ---------------------------------------------------------------------------------- .partial


def _partial_name(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:20] + ".npz"


def _save_partial(path: Path, seq: LandmarkSequence) -> None:
    meta = {
        "fps": seq.fps,
        "glosses": list(seq.glosses),
        "signer": seq.signer,
        "source": seq.source,
        "aspect": seq.aspect,
        "extra": dict(seq.extra),
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            points=seq.points,
            present=seq.present,
            timestamps=seq.timestamps,
            meta=np.array(json.dumps(meta)),
        )


def _load_partial(path: Path) -> LandmarkSequence:
    """Raises ``ImportProblem`` for an unreadable file (atomic writes should make that rare)."""
    try:
        z = load_npz(path, ("points", "present", "timestamps", "meta"))
        meta: dict[str, Any] = json.loads(str(z["meta"]))
        return LandmarkSequence(
            points=z["points"],
            present=z["present"],
            timestamps=z["timestamps"],
            fps=float(meta["fps"]),
            glosses=tuple(meta["glosses"]),
            signer=str(meta["signer"]),
            source=str(meta["source"]),
            aspect=meta["aspect"],
            extra=dict(meta["extra"]),
        )
    except ArrayFileError as e:
        raise ImportProblem(
            str(path),
            f"unreadable partial result ({e.reason}); removed, its video will be extracted again",
        ) from e
    except (ValueError, KeyError) as e:  # the meta JSON, or a sequence that does not validate
        raise ImportProblem(
            str(path),
            f"unreadable partial result ({e}); removed, its video will be extracted again",
        ) from e


def _merge(dataset: Dataset, files: list[Path], report: VideoImportReport) -> set[str]:
    """Append the sequences of ``files`` to ``dataset`` (one shard), then delete the files.

    Returns the sources it appended (not those the dataset already held).

    Deleting only after the append is what makes a crash in between harmless: the next run
    merges the files again and ``write_import`` skips the sources the dataset now holds.
    """
    seqs: list[LandmarkSequence] = []
    for f in files:
        try:
            seqs.append(_load_partial(f))
        except ImportProblem as problem:
            report.problems.append(problem)
    held = dataset.sources()
    merged = write_import(dataset, seqs, shard_sequences=max(len(seqs), 1))
    report.imported += merged.imported
    report.skipped += merged.skipped
    for f in files:
        f.unlink(missing_ok=True)
    return {seq.source for seq in seqs} - held


# ---------------------------------------------------------------------------------- extraction


def _reason(error: BaseException, path: Path) -> str:
    """The message of ``error`` without a leading ``<path>: `` (ImportProblem adds it)."""
    text = str(error) or type(error).__name__
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _extract_one(video: LabelledVideo, config: ExtractorConfig, partial: Path) -> str | None:
    """Extract ``video`` into the file ``partial``; the reason it could not, or None.

    Runs in a worker process. Errors writing ``partial`` (disk full) propagate: they stop the
    import instead of turning every later video into a problem.
    """
    try:
        seq = extract_video(
            video.path, config, glosses=video.glosses, signer=video.signer, source=video.source
        )
    except SignStreamError as e:
        return _reason(e, video.path)
    except Exception as e:  # MediaPipe or FFmpeg oddities on this one file: reported, not fatal
        return f"{type(e).__name__}: {_reason(e, video.path)}"
    _save_partial(partial, seq)
    return None


ORPHAN_CHECK_S = 1.0  # how often a worker looks whether the importing process still lives


def _exit_when_orphaned(parent: int) -> None:
    while True:
        time.sleep(ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os._exit(1)  # its partial file is half-written at most, as a temp file: harmless


def _init_worker(parent: int) -> None:
    """Worker start: die with the importing process.

    Otherwise a killed importer (kill -9, a closed terminal) leaves orphans: they finish the
    videos already queued to them, then block on the task queue for ever (seen here).
    """
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


_WORKER_DIED = (
    "an extraction process died (crash or out of memory) while this or a parallel video was "
    "extracted; re-run the import to retry"
)


def _run_serial(
    todo: list[LabelledVideo], config: ExtractorConfig, partial_dir: Path
) -> Generator[tuple[LabelledVideo, str | None], None, None]:
    for video in todo:
        yield video, _extract_one(video, config, partial_dir / _partial_name(video.source))


def _run_parallel(
    todo: list[LabelledVideo], config: ExtractorConfig, partial_dir: Path, workers: int
) -> Generator[tuple[LabelledVideo, str | None], None, None]:
    context = multiprocessing.get_context(START_METHOD)
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        futures: dict[Future[str | None], LabelledVideo] = {
            pool.submit(_extract_one, v, config, partial_dir / _partial_name(v.source)): v
            for v in todo
        }
        for future in as_completed(futures):
            video = futures[future]
            try:
                yield video, future.result()
            except BrokenProcessPool:
                yield video, _WORKER_DIED
    finally:
        # on Ctrl-C or an error: drop what has not started; running videos finish (or die
        # with the same Ctrl-C) and whatever finished is safe in .partial
        pool.shutdown(wait=True, cancel_futures=True)


def import_videos(
    root: str | os.PathLike[str],
    dataset: Dataset | str | os.PathLike[str],
    config: ExtractorConfig | None = None,
    *,
    workers: int | None = None,
    merge_every: int = MERGE_EVERY,
    progress: bool = True,
    on_problem: Callable[[ImportProblem], None] | None = None,
) -> VideoImportReport:
    """Extract the landmarks of the labelled videos under ``root`` into ``dataset``.

    ``dataset``: an open :class:`Dataset` or a folder (created when missing; removed again,
    with the parent folders made for it, when the run ends with nothing imported and nothing
    left in ``.partial`` to resume). ``workers``: extraction processes (default
    :func:`default_workers`; ``0`` extracts in this process, for debugging). ``progress``: a
    tqdm bar on stderr. ``on_problem`` is called with every unreadable video as it is met.
    Safe to re-run after an interruption (module docstring).

    Raises:
        ImportProblem: ``root`` is not a folder (before anything is created).
    """
    config = config if config is not None else ExtractorConfig()
    workers = default_workers() if workers is None else workers
    if workers < 0 or merge_every < 1:
        raise ValueError(f"need workers >= 0 and merge_every >= 1, got {workers}, {merge_every}")
    if not Path(root).is_dir():
        raise ImportProblem(
            str(root), f"no such folder of videos (expected ROOT/<gloss>/*.mp4 or {LABELS_FILE})"
        )
    # a dataset this run creates is removed again if it ends up holding nothing
    target = None if isinstance(dataset, Dataset) else Path(dataset)
    creates = target is not None and not (target / INDEX_FILE).exists()
    made = _missing_folders(target) if target is not None else []
    ds = dataset if isinstance(dataset, Dataset) else Dataset.open_or_create(dataset)
    try:
        return _import_into(ds, root, config, workers, merge_every, progress, on_problem)
    finally:
        partial_dir = ds.root / PARTIAL_DIR
        with contextlib.suppress(OSError):  # rmdir only when empty: a leftover is still to merge
            partial_dir.rmdir()
        if creates and len(ds) == 0 and not partial_dir.exists():
            (ds.root / INDEX_FILE).unlink(missing_ok=True)
            for folder in reversed(made):  # innermost first, and only empty ones
                with contextlib.suppress(OSError):
                    folder.rmdir()


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist, outermost first."""
    missing: list[Path] = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        missing.append(p)
    return missing[::-1]


def _import_into(
    ds: Dataset,
    root: str | os.PathLike[str],
    config: ExtractorConfig,
    workers: int,
    merge_every: int,
    progress: bool,
    on_problem: Callable[[ImportProblem], None] | None,
) -> VideoImportReport:
    report = VideoImportReport()

    def problem(p: ImportProblem) -> None:
        report.problems.append(p)
        if on_problem is not None:
            on_problem(p)

    partial_dir = ds.root / PARTIAL_DIR
    partial_dir.mkdir(exist_ok=True)
    for stale in partial_dir.glob(".*.tmp"):  # half-written by a killed worker (engine.atomic)
        stale.unlink(missing_ok=True)
    # first what an interrupted run finished: merged before anything else is extracted
    leftovers = sorted(partial_dir.glob("*.npz"))
    if leftovers:
        # (a leftover whose source the dataset holds was appended just before a crash: dropped)
        earlier = VideoImportReport()
        resumed = _merge(ds, leftovers, earlier)
        report.imported = report.resumed = earlier.imported
        for p in earlier.problems:
            problem(p)
    else:
        resumed = set()

    known = ds.sources()
    todo: list[LabelledVideo] = []
    for item in find_videos(root):
        if isinstance(item, ImportProblem):
            problem(item)
        elif item.source in known:
            if item.source not in resumed:  # resumed ones count as imported
                report.skipped += 1
        else:
            todo.append(item)

    finished: list[Path] = []
    results = (
        _run_serial(todo, config, partial_dir)
        if workers == 0 or len(todo) <= 1
        else _run_parallel(todo, config, partial_dir, min(workers, len(todo)))
    )
    bar = tqdm(total=len(todo), unit="video", desc="extracting", disable=not progress)
    # closing(): on Ctrl-C the pool must shut down now, not when the traceback is collected
    with bar, contextlib.closing(results):
        for video, failure in results:
            bar.update(1)
            if failure is not None:
                problem(ImportProblem(str(video.path), failure))
                bar.set_postfix(problems=len(report.problems))
                continue
            report.extracted += 1
            finished.append(partial_dir / _partial_name(video.source))
            if len(finished) >= merge_every:
                _merge(ds, finished, report)
                finished = []
    if finished:
        _merge(ds, finished, report)
    return report


def iter_videos(
    root: str | os.PathLike[str], config: ExtractorConfig | None = None
) -> Iterator[ImportItem]:
    """The plain importer protocol (one process, not resumable): for ``write_import``."""
    for item in find_videos(root):
        if isinstance(item, ImportProblem):
            yield item
            continue
        try:
            yield extract_video(
                item.path, config, glosses=item.glosses, signer=item.signer, source=item.source
            )
        except SignStreamError as e:
            yield ImportProblem(str(item.path), _reason(e, item.path))
