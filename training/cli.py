"""``signstream train ...``: teacher, student, distill, evaluate, export, lm.

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
            name, help=f"train a {name} (CTC{', from teachers' * (name == 'distill')})"
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


def _toml_list(values: list[Any]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"
