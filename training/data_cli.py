"""``signstream data ...``: import landmark data, synthesise sentences, show statistics.

Every subcommand is a thin shell over a typed function of ``training.importers``,
``training.data.synthesis`` or ``training.data.stats``; they import nothing heavy until they run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.dataset import INDEX_FILE, Dataset, staged_dataset
from engine.errors import ImportProblem

__all__ = ["add_data_parser"]


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_data_parser(sub: Any) -> None:
    data = sub.add_parser("data", help="import, synthesise and inspect landmark datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    imp = dsub.add_parser("import", help="import landmark data into a SignStream dataset")
    isub = imp.add_subparsers(dest="kind", metavar="KIND", required=True)

    def common(p: argparse.ArgumentParser, fps_default: float | None = 30.0) -> None:
        p.add_argument("--dataset", type=Path, required=True, help="dataset folder (created)")
        p.add_argument("--signer", default="unknown", help="signer of data that does not say")
        if fps_default is not None:
            p.add_argument("--fps", type=float, default=fps_default, help="frame rate of the data")
        p.add_argument("--glosses", type=_csv, default=None, help="only these glosses (a,b,c)")
        p.add_argument("--exclude", type=_csv, default=[], help="skip these glosses (a,b,c)")

    p = isub.add_parser("npz", help="the .npz sets of the shared data (X + label arrays)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--layout", default=None, help="flat layout (258, 126, 170, 226, 1662)")
    p.add_argument("--real-only", action="store_true", help="WLASL-50: only the real clips")
    common(p)
    p.set_defaults(func=_import_npz)

    p = isub.add_parser("boston104", help="RWTH-BOSTON-104 hand/nose tracks (real sentences)")
    p.add_argument("root", type=Path, help="the folder of hands_condensed.csv")
    p.add_argument("--split", choices=("train", "test"), default=None, help="default: both")
    p.add_argument("--dataset", type=Path, required=True, help="dataset folder (created)")
    p.set_defaults(func=_import_boston104)

    p = isub.add_parser("mp-data", help="MP_Data folders: ROOT/<gloss>/<seq>/<frame>.npy")
    p.add_argument("root", type=Path)
    p.add_argument("--layout", default=None, help="flat layout of the frames (default: by size)")
    common(p)
    p.set_defaults(func=_import_mp_data)

    p = isub.add_parser("parquet", help="Google Isolated Sign Language Recognition parquet")
    p.add_argument("paths", nargs="+", type=Path, help="a root with train.csv, or parquet files")
    p.add_argument("--gloss", default=None, help="gloss of single parquet files")
    p.add_argument("--limit", type=int, default=None, help="import at most this many")
    common(p)
    p.set_defaults(func=_import_parquet)

    p = isub.add_parser("pose", help="pose-format .pose files (MediaPipe holistic)")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--gloss", default=None, help="gloss of these files (default: none)")
    p.add_argument(
        "--partial-pose", action="store_true", help="accept files with only some pose points"
    )
    common(p, fps_default=None)
    p.set_defaults(func=_import_pose)

    p = isub.add_parser("videos", help="a folder of labelled videos (ROOT/<gloss>/*.mp4)")
    p.add_argument("root", type=Path)
    p.add_argument("--workers", type=int, default=None, help="parallel processes")
    p.add_argument("--face", action="store_true", help="also keep the face subset")
    p.add_argument("--dataset", type=Path, required=True, help="dataset folder (created)")
    p.set_defaults(func=_import_videos)

    p = dsub.add_parser("stats", help="what a dataset holds")
    p.add_argument("dataset", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_stats)

    p = dsub.add_parser("synth", help="continuous sentences from isolated signs (CTC training)")
    p.add_argument("--dataset", type=Path, required=True, help="isolated signs")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--grammar", type=Path, help="sentence grammar (training/configs/*.grammar)")
    src.add_argument("--corpus", type=Path, help="gloss corpus, one sentence per line")
    p.add_argument("--signers", type=_csv, required=True, help="use only these signers' samples")
    p.add_argument("--count", type=int, default=1000, help="sentences to make")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="output dataset folder")
    p.set_defaults(func=_synth)

    p = dsub.add_parser("export-pose", help="write a dataset's sequences as .pose files")
    p.add_argument("dataset", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--limit", type=int, default=None)
    p.set_defaults(func=_export_pose)


def _report(dataset_path: Path, items: Iterable[Any]) -> int:
    from training.importers.base import write_import

    def show(problem: ImportProblem) -> None:
        print(f"problem: {problem}", file=sys.stderr)

    existed = (dataset_path / INDEX_FILE).is_file()
    # staged: an import that fails, half-way or entirely, leaves no dataset (or no change)
    with staged_dataset(dataset_path) as dataset:
        report = write_import(dataset, items, on_problem=show)
    if existed or report.imported:
        now = f"the dataset now holds {len(Dataset(dataset_path))}"
    else:
        now = "nothing to keep, so no dataset was created"
    print(
        f"{dataset_path}: imported {report.imported}, already there {report.skipped}, "
        f"problems {len(report.problems)}; {now}"
    )
    return 1 if report.problems and not report.imported else 0


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    return {"include_glosses": args.glosses, "exclude_glosses": args.exclude}


def _import_npz(args: argparse.Namespace) -> int:
    from training.importers.npz_sets import import_npz

    items = import_npz(
        args.files, layout=args.layout, fps=args.fps, signer=args.signer,
        real_only=args.real_only, **_filters(args),
    )  # fmt: skip
    return _report(args.dataset, items)


def _import_boston104(args: argparse.Namespace) -> int:
    from training.importers.boston104 import import_boston104

    return _report(args.dataset, import_boston104(args.root, split=args.split))


def _import_mp_data(args: argparse.Namespace) -> int:
    from training.importers.mp_data import import_mp_data

    items = import_mp_data(
        args.root, fps=args.fps, signer=args.signer, layout=args.layout, **_filters(args)
    )
    return _report(args.dataset, items)


def _import_parquet(args: argparse.Namespace) -> int:
    from training.importers.isl_parquet import import_isl_parquet

    # files already in the dataset are not even read: a resumed import of the full set is fast
    known = Dataset(args.dataset).sources() if (args.dataset / INDEX_FILE).is_file() else set()
    items = import_isl_parquet(
        args.paths, gloss=args.gloss, signer=args.signer, fps=args.fps, limit=args.limit,
        skip_sources=known, **_filters(args),
    )  # fmt: skip
    return _report(args.dataset, items)


def _import_pose(args: argparse.Namespace) -> int:
    from training.importers.pose_files import import_pose_files

    items = import_pose_files(
        args.files, gloss=args.gloss, signer=args.signer, partial_pose=args.partial_pose,
        **_filters(args),
    )  # fmt: skip
    return _report(args.dataset, items)


def _import_videos(args: argparse.Namespace) -> int:
    from engine.extractor import ExtractorConfig
    from training.importers.videos import import_videos

    report = import_videos(
        args.root, args.dataset, config=ExtractorConfig(with_face=args.face), workers=args.workers
    )
    print(report.summary())
    if not (args.dataset / INDEX_FILE).is_file():
        print(f"{args.dataset}: nothing to keep, so no dataset was created")
    return 1 if report.problems and not report.imported else 0


def _stats(args: argparse.Namespace) -> int:
    from training.data.stats import dataset_stats

    stats = dataset_stats(Dataset(args.dataset))
    print(stats.to_json() if args.json else stats.render())
    return 0


def _synth(args: argparse.Namespace) -> int:
    from training.data.grammar import load_grammar, read_gloss_corpus
    from training.data.synth_dataset import synthesize_dataset
    from training.data.synthesis import isolated_glosses

    source = Dataset(args.dataset)
    sentences: Any
    if args.grammar is not None:
        sentences = load_grammar(args.grammar)
    else:
        vocabulary = isolated_glosses(source.infos, args.signers)
        sentences = read_gloss_corpus(args.corpus, vocabulary, case="lower").sentences
    out = Dataset.open_or_create(args.out)
    report = synthesize_dataset(
        source, out, sentences, count=args.count, seed=args.seed, signers=args.signers
    )
    print(report.summary())
    return 0


def _export_pose(args: argparse.Namespace) -> int:
    from engine.posefile import sequence_to_pose, write_pose

    dataset = Dataset(args.dataset)
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    for i in range(count):
        seq = dataset[i]
        name = f"{i:06d}_{'-'.join(seq.glosses) or 'unlabelled'}.pose".replace("/", "_")
        write_pose(args.out / name, sequence_to_pose(seq))
    print(f"wrote {count} .pose files to {args.out}")
    return 0
