"""``signstream train ...``: teacher, student, distill, evaluate, export, lm, teach, previews.

Thin: each subcommand parses its options, resolves the run config (TOML + ``--key=value``
overrides) and calls a typed function. torch is imported only when a subcommand runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_train_parser"]

CONFIGS = Path(__file__).resolve().parent / "configs"


def add_train_parser(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="train, distill, evaluate and export models (needs the [train] extra)",
        description="Settings of a run: --config FILE plus overrides like --optim.lr=1e-3.",
    )
    tsub = train.add_subparsers(dest="train_command", metavar="TRAIN_COMMAND", required=True)
    for name, default in (("teacher", "teacher"), ("student", "student"), ("distill", "distill")):
        p = tsub.add_parser(
            name,
            help={
                "teacher": "train a teacher (CTC)",
                "student": "train a baseline student (CTC)",
                "distill": "distil a student from one or more teachers",
            }[name],
        )
        p.add_argument("--config", type=Path, default=CONFIGS / f"{default}.toml")
        p.add_argument("--resume", action="store_true", help="continue from the run's last.pt")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if name == "distill":
            p.add_argument(
                "--teacher", action="append", default=[], help="teacher checkpoint (repeatable)"
            )
            p.add_argument("--teacher-weight", action="append", type=float, default=[])
            p.add_argument("--student-init", default=None, help="start from this checkpoint")
        p.set_defaults(func=_train, kind=name)
    _add_benchmarks(tsub)
    _add_eval_export_lm(tsub)
    _add_previews(tsub)


def _train(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.config import load_config
    from training.trainer import train

    extra = list(overrides)
    if args.kind == "distill":
        if not args.teacher:
            raise SystemExit("signstream train distill: give at least one --teacher CHECKPOINT")
        extra.append("distill.teachers=" + _toml_list(args.teacher))
        if args.teacher_weight:
            extra.append("distill.teacher_weights=" + _toml_list(args.teacher_weight))
        if args.student_init:
            extra.append(f'distill.student_init="{args.student_init}"')
    config = load_config(args.config, extra)
    result = train(config, resume=args.resume, progress=not args.quiet)
    print(
        f"{result.run_dir}: best dev WER {100 * result.best_wer:.2f}% after {result.epochs} epochs"
    )
    return 0


def _add_benchmarks(tsub: Any) -> None:
    """Real-data benchmarks with their own data: BOSTON-104 sentences, WLASL-50 clips."""
    for name, what in (
        ("boston", "continuous CTC on the real RWTH-BOSTON-104 sentences (hand/nose tracks)"),
        ("wlasl", "isolated accuracy on the real WLASL-50 clips (k-fold, leakage-free)"),
    ):
        p = tsub.add_parser(name, help=what)
        p.add_argument("--out", type=Path, default=Path(f"runs/{name}"), help="run folder")
        p.add_argument(
            "--data-root", default=None, help="the shared data (default $SIGNSTREAM_DATA)"
        )
        p.add_argument("--epochs", type=int, default=None)
        p.add_argument("--family", default=None, help="model family (training.models)")
        p.add_argument("--preset", default=None, help="tiny | small | full")
        p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
        p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
        if name == "boston":
            p.add_argument("--resume", action="store_true", help="continue from the run's last.pt")
        else:
            p.add_argument("--folds", type=int, default=None, help="stratified folds (default 4)")
            p.add_argument(
                "--uploader-augmentations", action="store_true",
                help="also train on the uploader's augmentations of training clips",
            )  # fmt: skip
        p.set_defaults(func=_benchmark, benchmark=name)


def _benchmark(args: argparse.Namespace, overrides: list[str]) -> int:
    """``--key=value`` overrides set fields of BostonConfig / WlaslConfig (TOML literals)."""
    import dataclasses

    from engine.data_root import data_root
    from training.config import apply_overrides

    root = data_root(args.data_root)
    given = {"out": str(args.out), "num_threads": args.threads}
    given |= {k: v for k in ("epochs", "family", "preset") if (v := getattr(args, k)) is not None}
    if args.benchmark == "boston":
        from training.benchmarks.boston import BostonConfig, summary, train_boston

        base = BostonConfig(data_root=str(root / "boston104"), **given)
        config = BostonConfig.from_dict(base.to_dict() | apply_overrides({}, overrides))
        print(summary(train_boston(config, resume=args.resume, progress=not args.quiet)))
    else:
        from training.benchmarks.wlasl import WlaslConfig, train_wlasl
        from training.benchmarks.wlasl import summary as wlasl_summary

        if args.folds is not None:
            given["folds"] = args.folds
        wconfig = WlaslConfig(
            data=str(root / "wlasl50" / "wlasl50.npz"),
            uploader_augmentations=args.uploader_augmentations, **given,
        )  # fmt: skip
        wconfig = dataclasses.replace(wconfig, **apply_overrides({}, overrides))
        print(wlasl_summary(train_wlasl(wconfig, progress=not args.quiet)))
    print(f"results: {args.out / 'results.json'}")
    return 0


def _toml_list(values: list[Any]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def _add_eval_export_lm(tsub: Any) -> None:
    p = tsub.add_parser(
        "evaluate", help="WER (greedy, beam + LM) and isolated accuracy on held-out signers"
    )
    p.add_argument("model", type=Path, help="checkpoint (.pt) or exported model (.onnx)")
    p.add_argument("--lm", type=Path, default=None, help="KenLM gloss LM (.arpa or .klm)")
    p.add_argument("--alphas", type=float, nargs="+", default=None, help="LM weights to sweep")
    p.add_argument("--beta", type=float, default=1.0, help="gloss insertion bonus")
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--compare-greedy", action="store_true", help="(greedy is always reported)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--no-isolated", action="store_true", help="skip isolated accuracy")
    p.add_argument(
        "--condition",
        default=None,
        help="the test sentences as another webcam or signer shows them: a name from "
        "training/data/conditions.py (an unknown name lists them)",
    )
    p.set_defaults(func=_evaluate)

    p = tsub.add_parser("export", help="checkpoint -> self-describing ONNX (+ INT8)")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the .onnx to write")
    p.add_argument(
        "--window", type=int, default=None, help="frames per window (default: the model's context)"
    )
    p.add_argument("--hop", type=int, default=16, help="frames between windows")
    p.add_argument("--name", default=None, help="display name (default: file name)")
    p.add_argument("--heldout", type=Path, default=None, help="evaluate JSON to embed")
    p.add_argument("--int8", choices=("dynamic", "static"), default=None, help="also write INT8")
    p.set_defaults(func=_export)

    p = tsub.add_parser("recipe", help="regenerate every shipped model and docs/RESULTS.md")
    p.add_argument("--preset", choices=("cpu", "gpu", "smoke"), default="cpu")
    p.add_argument("--data-root", default=None, help="the shared data (default $SIGNSTREAM_DATA)")
    p.add_argument("--work", type=Path, default=Path("runs/recipe"), help="runs, ONNX, evaluations")
    p.set_defaults(func=_recipe)

    from training.lm import add_lm_arguments

    p = tsub.add_parser("lm", help="KenLM n-gram gloss LM from a corpus or a grammar")
    add_lm_arguments(p)
    p.set_defaults(func=_lm)

    _add_teach(tsub)

    p = tsub.add_parser(
        "generalise",
        help="leave-one-signer-out folds, cross-dataset and out-of-vocabulary checks",
    )
    p.add_argument("--config", type=Path, default=CONFIGS / "generalist.toml")
    p.add_argument("--model", type=Path, default=None, help="only check this model (.pt/.onnx)")
    p.add_argument("--lm", type=Path, default=None, help="gloss LM (default: the default model's)")
    p.add_argument("--out", type=Path, default=Path("runs/generalise"))
    p.add_argument("--signers", nargs="+", default=None, help="folds (default: all three)")
    p.add_argument(
        "--extra-seeds",
        type=int,
        nargs="+",
        default=(),
        help="train the folds again with these seeds, for the run-to-run spread",
    )
    p.add_argument("--data-root", default=None, help="the shared data (default $SIGNSTREAM_DATA)")
    p.set_defaults(func=_generalise)

    _add_crossval(tsub)

    p = tsub.add_parser(
        "reject", help="fit a checkpoint's rejection of unknown signs (kept in the checkpoint)"
    )
    p.add_argument("checkpoint", type=Path, help="a training checkpoint (.pt), updated in place")
    p.add_argument("--data-root", default=None, help="the shared data (default $SIGNSTREAM_DATA)")
    p.set_defaults(func=_reject)


def _reject(args: argparse.Namespace, overrides: list[str]) -> int:
    import json

    from engine.data_root import data_root
    from training.data.registry import ensure_datasets
    from training.generalise import ensure_rejection

    root = data_root(args.data_root)
    ensure_datasets(root)  # the calibration set of unknown signs
    print(json.dumps(ensure_rejection(args.checkpoint), indent=1))
    return 0


def _crossval(args: argparse.Namespace, overrides: list[str]) -> int:
    import json

    from training.config import load_config
    from training.crossval import CONFIG, cross_validate
    from training.data.people import ensure_people
    from training.data.registry import ensure_datasets
    from training.lm import LMConfig, build_lm, sentences_from_grammar

    ensure_datasets(args.data_root and Path(args.data_root))  # the rejection's calibration set
    ensure_people(args.data_root and Path(args.data_root))
    lm = args.lm or args.out / "lm" / "people.arpa"
    if not Path(lm).exists():
        grammar = load_config(CONFIG, overrides).data.grammar
        build_lm(sentences_from_grammar(grammar, 20_000, seed=0), lm, LMConfig(order=3))
    summary = cross_validate(
        args.out, Path(lm), args.alpha, args.folds, args.kinds, overrides, workers=args.workers
    )
    short = {k: {v: {m: x for m, x in c.items() if m != "per_gloss"} for v, c in kind.items()}
             for k, kind in summary["kinds"].items()}  # fmt: skip
    print(json.dumps(short, indent=1))
    return 0


def _generalise(args: argparse.Namespace, overrides: list[str]) -> int:
    import json

    from engine.data_root import data_root
    from engine.model_index import default_model, lm_beside
    from training.data.registry import ASL_COFFEE_SIGNERS, ensure_datasets
    from training.generalise import check_model, leave_one_signer_out

    root = data_root(args.data_root)
    ensure_datasets(root)
    if args.model is not None:
        print(json.dumps(check_model(args.model).to_dict(), indent=1))
        return 0
    lm = args.lm
    if lm is None and (model := default_model()) is not None:
        lm = lm_beside(model)
    if lm is None:
        raise SystemExit(
            "signstream train generalise: no LM (give --lm; models/index.json has none)"
        )
    summary = leave_one_signer_out(
        args.config,
        lm,
        args.out,
        overrides,
        args.signers or ASL_COFFEE_SIGNERS,
        extra_seeds=args.extra_seeds,
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "folds"}, indent=1))
    return 0


def _add_crossval(tsub: Any) -> None:
    p = tsub.add_parser(
        "crossval",
        help="cross-validation by person on the people dataset (asl-coffee + the crowd)",
        description="Per fold: train the kinds on everyone else, evaluate person by person on "
        "the fold's people. Overrides like --optim.epochs=10 change every run.",
    )
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument(
        "--kinds", nargs="+", default=["teacher", "student", "distilled"],
        choices=["teacher", "student", "distilled"],
    )  # fmt: skip
    p.add_argument(
        "--lm", type=Path, default=None, help="gloss LM (default: built from the grammar)"
    )
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight of the evaluation")
    p.add_argument("--out", type=Path, default=Path("runs/crossval"))
    p.add_argument("--data-root", default=None, help="the shared data (default $SIGNSTREAM_DATA)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="runs trained side by side, one CPU thread each when more than one (default 1)",
    )  # fmt: skip
    p.set_defaults(func=_crossval)


def _add_teach(tsub: Any) -> None:
    p = tsub.add_parser(
        "teach", help="fine-tune a student on your own recordings (new glosses welcome)"
    )
    p.add_argument("--recordings", type=Path, required=True, help="dataset of your samples")
    p.add_argument("--init", type=Path, required=True, help="student checkpoint (.pt) to start")
    p.add_argument("--out", type=Path, required=True, help="the .onnx to write (and .pt beside)")
    p.add_argument("--epochs", type=int, default=None, help="default 6")
    p.add_argument("--user-sentences", type=int, default=None, help="per epoch (default: auto)")
    p.add_argument("--old-fraction", type=float, default=None, help="original data share (0.5)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--window", type=int, default=None, help="default: the base model's")
    p.add_argument("--hop", type=int, default=None, help="default: the base model's")
    p.add_argument("--name", default=None, help="display name (default: the file name)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--calibrate", action="store_true",
        help="Fit to me: the settings for takes of glosses the model knows (fast)",
    )  # fmt: skip
    p.set_defaults(func=_teach)


def _add_previews(tsub: Any) -> None:
    p = tsub.add_parser(
        "previews",
        help="a model's sign previews: a few real signers' landmarks of each gloss, beside it",
        description="Writes MODEL's stem + .previews.npz beside it (and lists it in the "
        "folder's index.json where that lists the model): per gloss up to --clips people of "
        "the dataset, signers anonymised, landmarks only.",
    )
    p.add_argument("model", type=Path, help="the .onnx model whose glosses get previews")
    p.add_argument(
        "--data", type=Path, default=None,
        help="dataset to take the clips from (default: the one the model was trained on)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="default: beside the model")
    p.add_argument("--clips", type=int, default=3, help="people per gloss (default 3)")
    p.add_argument(
        "--source", default=None, help="where the clips come from, as the app will say it"
    )
    p.set_defaults(func=_previews)


def _previews(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.previews import run_previews_command

    return run_previews_command(args, overrides)


def _teach(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.teach import run_teach_command

    return run_teach_command(args, overrides)


def _evaluate(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.config import DataConfig, apply_overrides, config_from_dict
    from training.data.conditions import condition_named
    from training.evaluate import DEFAULT_ALPHAS, evaluate

    try:
        condition = condition_named(args.condition) if args.condition else None
    except ValueError as e:
        raise SystemExit(f"signstream train evaluate: {e}") from None
    data = None
    if overrides:  # --data.xxx=... overrides the data the model's run used
        d = apply_overrides({}, overrides).get("data", {})
        data = config_from_dict(DataConfig, d, "data")
    report = evaluate(
        args.model, args.lm, alphas=args.alphas or DEFAULT_ALPHAS, beta=args.beta,
        beam_width=args.beam_width, data=data, out_json=args.json, isolated=not args.no_isolated,
        condition=condition,
    )  # fmt: skip
    print(report.table())
    return 0


def _export(args: argparse.Namespace, overrides: list[str]) -> int:
    import json

    from training.checkpoint import load_checkpoint
    from training.export import export_onnx, quantize_int8

    ck = load_checkpoint(args.checkpoint)
    heldout = json.loads(args.heldout.read_text()) if args.heldout else None
    if heldout is not None and "best_beam_wer" in heldout:  # an evaluate report: summarise it
        from training.evaluate import heldout_summary

        heldout = heldout_summary(heldout)
    result = export_onnx(ck, args.out, args.window, args.hop, args.name, heldout)
    print(
        f"{result.path}: {result.bytes / 1e6:.2f} MB, opset {result.opset}, "
        f"parity max |diff| {result.parity_max_abs:.1e}"
    )
    if args.int8:
        calibration = []
        if args.int8 == "static":
            from training.data.sentences import SentenceData

            data = SentenceData(ck.config.data, ck.config.feature_spec)
            calibration = [e.features for e in data.fixed("dev")[:64]]
        q = quantize_int8(args.out, args.out.with_suffix(".int8.onnx"), args.int8, calibration)
        print(f"{q}: {q.stat().st_size / 1e6:.2f} MB (int8-{args.int8})")
    return 0


def _lm(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.lm import run_lm_command

    return run_lm_command(args)


def _recipe(args: argparse.Namespace, overrides: list[str]) -> int:
    from training.recipe import run_recipe

    if args.preset == "smoke":  # never overwrite the shipped model with a smoke run
        run_recipe(args.preset, args.data_root, args.work, args.work / "models",
                   args.work / "RESULTS.md")  # fmt: skip
    else:
        run_recipe(args.preset, args.data_root, args.work)
    return 0
