"""Cross-validation by person on the people dataset: one training per fold, each evaluated on
the people it never saw (:mod:`training.heldout_people`).

Per fold ``k`` (``data.test_fold = k``): a teacher, the baseline student and the student
distilled from that teacher (none of them saw fold ``k``'s people), the rejection of unknown
signs fitted to each student, and each evaluated person by person. A CPU budget may train the
teacher and the distilled student on fewer folds than the baseline (``distill_folds``) and for
fewer epochs (``distill_overrides``): kinds are then compared on the folds they share.
Resumable: a fold's finished runs and evaluations are kept and not redone. The runs are jobs
(:mod:`training.jobs`): on a small CPU two of them train side by side in one-thread processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from training.config import TrainConfig, load_config
from training.data.people import FOLDS
from training.jobs import Job, run_jobs

__all__ = [
    "KINDS",
    "VARIANT_NAMES",
    "cross_validate",
    "fold_config",
    "fold_jobs",
    "summarise_folds",
]

CONFIG = Path(__file__).resolve().parent / "configs" / "people.toml"
# what each kind of model changes in people.toml (teacher: the FeatureI3D family at its own rate;
# distilled: the student with a teacher, started from the baseline student, as the recipe does)
KINDS: dict[str, tuple[str, ...]] = {
    "teacher": ('model.family="featurei3d"', "optim.lr=1e-3"),
    "student": (),
    "distilled": (
        "distill.alpha=0.7", "distill.beta=0.3", "distill.temperatures=[4.0, 3.5, 3.0]",
    ),
}  # fmt: skip


DISTILL_KINDS = ("teacher", "distilled")  # the kinds ``distill_folds`` and its overrides limit
VARIANT_NAMES = (("rejection", True), ("plain", False))  # with / without rejecting unknown signs


def fold_config(
    kind: str, fold: int, out: Path, overrides: Sequence[str] = (), *extra: str
) -> TrainConfig:
    """The run config of one kind of model for one fold (``fold < 0``: every person trains)."""
    return load_config(
        CONFIG,
        [
            f'name="{kind}-fold{fold}"',
            f'out_dir="{out}"',
            f"data.test_fold={fold}",
            *KINDS[kind],
            *overrides,
            *extra,
        ],
    )


def _train(config: TrainConfig, log: Callable[[str], None]) -> Path:
    from training.trainer import train

    done = config.run_dir / "done"
    if not done.exists():
        log(f"train {config.name} ({config.model.family} {config.model.preset})")
        train(config, resume=True, progress=False)
        atomic_write_text(done, "ok\n")
    return config.run_dir / "best.pt"


def _evaluated(
    ckpt: Path, fold: int, lm: Path, alpha: float, grammar: str, log: Callable[[str], None]
) -> dict[str, Any]:
    from training.generalise import ensure_rejection
    from training.heldout_people import evaluate_fold

    out = ckpt.parent / "heldout-people.json"
    if not out.exists():
        try:
            ensure_rejection(ckpt)
        except ValueError as e:  # e.g. a smoke run's one-epoch model recognises next to nothing
            log(f"{ckpt.parent.name}: no rejection of unknown signs ({e})")
        log(f"evaluate {ckpt.parent.name} on fold {fold}'s people")
        atomic_write_text(out, json.dumps(evaluate_fold(ckpt, fold, lm, alpha, grammar), indent=1))
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _fold_run(
    config: TrainConfig, fold: int, lm: Path, alpha: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """Train one kind of model for one fold and evaluate it on the fold's people (a job)."""
    return _evaluated(_train(config, log), fold, lm, alpha, config.data.grammar, log)


def fold_jobs(
    out: Path,
    lm: Path,
    alpha: float,
    folds: Sequence[int] = tuple(range(FOLDS)),
    kinds: Sequence[str] = ("teacher", "student", "distilled"),
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
    distill_folds: Sequence[int] | None = None,
    distill_overrides: Sequence[str] = (),
) -> list[Job]:
    """The cross-validation's runs as jobs (:mod:`training.jobs`), fold by fold, each named
    ``"{kind}-fold{k}"``: train ``kinds`` on each fold (the teacher and the distilled student only
    on ``distill_folds`` when given, with ``distill_overrides`` after ``overrides``) and evaluate
    it on the fold's people; a distilled student after its fold's teacher and student."""
    jobs: list[Job] = []
    for fold in folds:
        ckpts: dict[str, Path] = {}
        for kind in kinds:
            if kind in DISTILL_KINDS and distill_folds is not None and fold not in distill_folds:
                continue
            extra: tuple[str, ...] = ()
            after: tuple[str, ...] = ()
            if kind == "distilled":
                if "teacher" not in ckpts or "student" not in ckpts:
                    raise ValueError("distilled needs the teacher and the student of its fold")
                extra = (
                    f'distill.teachers=["{ckpts["teacher"]}"]',
                    f'distill.student_init="{ckpts["student"]}"',
                )
                after = (f"teacher-fold{fold}", f"student-fold{fold}")
            own = distill_overrides if kind in DISTILL_KINDS else ()
            config = fold_config(kind, fold, out, [*overrides, *own], *extra)
            ckpts[kind] = config.run_dir / "best.pt"
            jobs.append(Job(f"{kind}-fold{fold}", _fold_run, (config, fold, lm, alpha, log), after))
    return jobs


def summarise_folds(
    out: Path, folds: Sequence[int], jobs: Sequence[Job], done: dict[str, Any], minutes: float
) -> dict[str, Any]:
    """The cross-validation's summary from its jobs' evaluations (``done``, by job name): per
    kind the pooled summaries with and without rejection
    (:func:`training.heldout_people.summarise_people`) over its folds (``kinds``), the same
    over the folds every kind has (``shared``: what kinds are compared on), and each fold's
    evaluation (``per_fold``, in the order of ``kind_folds``); written to ``crossval.json``."""
    from training.heldout_people import summarise_people

    kinds = list(dict.fromkeys(j.key.split("-fold")[0] for j in jobs))
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    kind_folds: dict[str, list[int]] = {k: [] for k in kinds}
    for j in jobs:
        kind, fold = j.key.split("-fold")
        results[kind].append(done[j.key])
        kind_folds[kind].append(int(fold))
    shared = [f for f in folds if all(f in kind_folds[k] for k in kinds)]

    def pooled(kind: str, only: Sequence[int] | None = None) -> dict[str, Any]:
        evals = [e for f, e in zip(kind_folds[kind], results[kind], strict=True)
                 if only is None or f in only]  # fmt: skip
        return {name: summarise_people(evals, reject) for name, reject in VARIANT_NAMES}

    summary = {
        "folds": list(folds),
        "kind_folds": kind_folds,
        "shared_folds": shared,
        "kinds": {k: pooled(k) for k in kinds if results[k]},
        "shared": {k: pooled(k, shared) for k in kinds} if shared else {},
        "per_fold": results,
        "minutes": minutes,
    }
    atomic_write_text(out / "crossval.json", json.dumps(summary, indent=1))
    return summary


def cross_validate(
    out: Path,
    lm: Path,
    alpha: float,
    folds: Sequence[int] = tuple(range(FOLDS)),
    kinds: Sequence[str] = ("teacher", "student", "distilled"),
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
    distill_folds: Sequence[int] | None = None,
    distill_overrides: Sequence[str] = (),
    workers: int = 1,
) -> dict[str, Any]:
    """Train and evaluate ``kinds`` on each fold (:func:`fold_jobs`), ``workers`` runs at a time
    (one CPU thread each when more than one); returns :func:`summarise_folds`."""
    t0 = time.perf_counter()
    jobs = fold_jobs(out, lm, alpha, folds, kinds, overrides, log, distill_folds, distill_overrides)
    done = run_jobs(jobs, workers, threads=1 if workers > 1 else 0, log=log)
    return summarise_folds(out, folds, jobs, done, (time.perf_counter() - t0) / 60)
