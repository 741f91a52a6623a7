"""The recipe: regenerate every shipped model from the shared data and write docs/RESULTS.md.

    signstream train recipe [--preset cpu|gpu] [--data-root DIR]

Steps (each skipped when its output exists, so an interrupted recipe resumes where it stopped;
training runs resume from their last checkpoint):

1. import asl-coffee's words into ``data/asl-coffee`` (a SignStream dataset);
2. the gloss LM (modified Kneser-Ney, order 3) from the coffee-shop grammar;
3. teachers (FeatureI3D, BiLSTM), the baseline student (MobileNetV3-1D), the student distilled
   from FeatureI3D, the student distilled from both teachers, and the tutorial LSTM peer;
4. evaluation of each on the held-out signer: continuous WER (greedy, beam + LM with an alpha
   sweep) on sentences synthesised only from that signer's samples, isolated top-1;
5. ONNX export (FP32 and INT8), sizes, CPU ms per window, the INT8 accuracy change;
6. generalisation (training/generalise.py): leave-one-signer-out folds of the generalist
   config, and the cross-dataset and out-of-vocabulary checks of every student and fold; the
   fold that holds out the recipe's test signer joins the students as the ``generalist`` row;
7. of those, the model that generalises best (``training.selection.generalisation_error``:
   held-out WER, mirrored WER, out-of-vocabulary false accepts, cross-dataset misses), with
   its rejection of unknown signs or without it (whichever is better), becomes the app's
   default model in ``models/`` with its LM and a model card, not the best in-domain score;
8. the real continuous BOSTON-104 sentences (hand/nose tracks,
   training/benchmarks/boston.py) and the WLASL-50 real clips (training/benchmarks/wlasl.py).

Every number of docs/RESULTS.md comes from this run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_path, atomic_write_text
from engine.data_root import data_root as shared_data
from engine.dataset import Dataset
from engine.model_index import write_entry
from training.checkpoint import Checkpoint
from training.config import TrainConfig, load_config
from training.evaluate import heldout_summary

__all__ = ["RECIPE_PRESETS", "RecipePreset", "run_recipe"]

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "training" / "configs"


# key of a cached evaluation (runs/recipe/eval/*.json) holding its model file's fingerprint
SOURCE_KEY = "source_sha256"


@dataclass(frozen=True)
class RecipePreset:
    model_size: str  # preset of every family
    epochs: int
    train_sentences: int  # per epoch
    threads: int  # torch CPU threads (0: default)
    # the generalist's folds trained again with these seeds: the run-to-run spread
    extra_seeds: tuple[int, ...] = ()


RECIPE_PRESETS = {
    # what a 2-core laptop trains in about an hour and a half
    "cpu": RecipePreset(
        model_size="small", epochs=15, train_sentences=1200, threads=0, extra_seeds=(1,)
    ),
    # a check of the whole recipe in minutes (numbers meaningless)
    "smoke": RecipePreset(model_size="tiny", epochs=1, train_sentences=64, threads=0),
    # the full-size runs, for the GPU machine
    "gpu": RecipePreset(
        model_size="full", epochs=60, train_sentences=4000, threads=0, extra_seeds=(1, 2)
    ),
}

DEFAULT_MODEL_NAME = "asl-coffee-student"
GENERALIST = "generalist"  # the row of the generalist config's fold on the recipe's test signer
TIMING_WINDOW = 64
TIMING_RUNS = 200


def _log(msg: str) -> None:
    print(f"[recipe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _config(base: str, name: str, out_dir: Path, preset: RecipePreset, *extra: str) -> TrainConfig:
    return load_config(
        CONFIGS / f"{base}.toml",
        [
            f'name="{name}"',
            f'out_dir="{out_dir}"',
            f'model.preset="{preset.model_size}"',
            f"optim.epochs={preset.epochs}",
            f"data.train_sentences={preset.train_sentences}",
            f"optim.num_threads={preset.threads}",
            *extra,
        ],
    )


def _train(config: TrainConfig) -> Path:
    from training.trainer import train

    best = config.run_dir / "best.pt"
    done = config.run_dir / "done"
    if not done.exists():
        _log(f"train {config.name} ({config.model.family} {config.model.preset})")
        train(config, resume=True, progress=False)
        done.write_text("ok\n")
    return best


def cpu_ms_per_window(path: Path, dim: int, threads: int = 1, window: int = TIMING_WINDOW) -> float:
    """Median ms of one ``(1, window, dim)`` inference in ONNX Runtime on the CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).normal(size=(1, window, dim)).astype(np.float32)
    for _ in range(20):
        sess.run(None, {name: x})
    times = []
    for _ in range(TIMING_RUNS):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(1000 * (time.perf_counter() - t0))
    return float(np.median(times))


def _evaluate(
    model: Path, lm: Path, out: Path, mirrored: bool = False, alphas: tuple[float, ...] = ()
) -> dict[str, Any]:
    from training.data.conditions import condition_named
    from training.evaluate import DEFAULT_ALPHAS, evaluate

    source = fingerprint(model)
    cached = json.loads(out.read_text()) if out.exists() else {}
    # stale: of another file under the row's name (a retrained or swapped checkpoint), or from
    # before models rejected unknown signs
    if cached.get(SOURCE_KEY) != source or "greedy_no_rejection" not in cached:
        _log(f"evaluate {model}" + (" (mirrored)" if mirrored else ""))
        condition = condition_named("mirrored") if mirrored else None
        report = evaluate(
            model, lm, alphas=alphas or DEFAULT_ALPHAS, isolated=not mirrored, condition=condition
        )
        cached = {**report.to_dict(), SOURCE_KEY: source}
        atomic_write_text(out, json.dumps(cached, indent=1))
    return cached


def fingerprint(path: Path) -> str:
    """SHA-256 of a file: which model a cached result was computed from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row(name: str, ck_path: Path, lm: Path, work: Path) -> dict[str, Any]:
    """Rejection fit, held-out evaluation, ONNX FP32 + INT8 export, sizes and CPU timing of
    one model."""
    from engine.model import read_model_info
    from training.checkpoint import load_checkpoint
    from training.export import export_onnx, quantize_int8
    from training.generalise import ensure_rejection

    try:
        ensure_rejection(ck_path)
    except ValueError as e:  # e.g. a smoke run's one-epoch model recognises next to nothing
        _log(f"{name}: no rejection of unknown signs ({e})")
    ck = load_checkpoint(ck_path)
    onnx_path = work / "onnx" / f"{name}.onnx"
    int8_path = work / "onnx" / f"{name}.int8.onnx"
    metrics = _evaluate(ck_path, lm, work / "eval" / f"{name}.json")
    source = onnx_path.with_suffix(".source")  # the checkpoint's fingerprint it was made from
    ck_source = fingerprint(ck_path)
    fresh = onnx_path.exists() and source.exists() and source.read_text().strip() == ck_source
    if not fresh or read_model_info(onnx_path).rejector is None:
        export_onnx(ck, onnx_path, name=name, heldout=heldout_summary(metrics))
        atomic_write_text(source, ck_source + "\n")
        int8_path.unlink(missing_ok=True)
    if not int8_path.exists():
        quantize_int8(onnx_path, int8_path, "dynamic")
    return {
        "train_minutes": sum(h["seconds"] for h in ck.history) / 60,
        "family": ck.spec.family,
        "parameters": ck.model().num_parameters(),
        "epochs": ck.epoch,
        "onnx_mb": onnx_path.stat().st_size / 1e6,
        "int8_mb": int8_path.stat().st_size / 1e6,
        "cpu_ms": cpu_ms_per_window(onnx_path, ck.spec.in_dim),
        "cpu_ms_int8": cpu_ms_per_window(int8_path, ck.spec.in_dim),
        "eval": metrics,
        "eval_int8": _evaluate(int8_path, lm, work / "eval" / f"{name}.int8.json"),
    }


def run_recipe(
    preset_name: str = "cpu",
    data_root: str | None = None,
    work: str | Path = "runs/recipe",
    models_dir: str | Path = REPO / "models",
    results: str | Path = REPO / "docs" / "RESULTS.md",
) -> dict[str, Any]:
    """Run every step (see the module docstring); returns the collected numbers."""
    from training.data.registry import ensure_datasets
    from training.generalise import leave_one_signer_out, sign_forms
    from training.results import model_card, results_markdown

    preset = RECIPE_PRESETS[preset_name]
    work = Path(work)
    root = shared_data(data_root)
    t_start = time.perf_counter()
    data_override = f'data.dataset="{_import_asl_coffee(root)}"'  # 1. data
    base = _config("student", "x", work, preset, data_override)
    lm = _gloss_lm(base, work)  # 2. LM
    ckpts = _train_models(work, preset, data_override)  # 3. models
    peer_row = _peer(base, work)
    ensure_datasets(root)  # 4.-5. the unknown-sign calibration set; evaluate, export, time
    rows = {name: _row(name, ck_path, lm, work) for name, ck_path in ckpts.items()}
    loso = leave_one_signer_out(  # 6. generalisation
        CONFIGS / "generalist.toml", lm, work / "generalise", _preset_overrides(preset), log=_log,
        extra_seeds=preset.extra_seeds,
    )  # fmt: skip
    students = _generalisation_checks(rows, ckpts, loso, base.data.test_signers, lm, work)
    best, best_rejection = _choose(rows, ckpts, students, lm, work)  # 7. the default model
    models = Path(models_dir)
    best_ck = _ship(ckpts[best], best_rejection, rows[best]["eval"], lm, models)
    boston, wlasl = (  # 8. BOSTON-104 and WLASL-50
        _boston(root, work / "boston", preset_name),
        _wlasl(root, work / "wlasl", preset_name),
    )
    summary = {
        "preset": preset_name,
        "preset_settings": preset.__dict__,
        "rows": rows,
        "peer": peer_row,
        "default_model": best,
        "default_model_rejection": best_rejection,
        "generalise": loso,
        "sign_forms": sign_forms(),
        "boston": boston,
        "wlasl": wlasl,
        "minutes": (time.perf_counter() - t_start) / 60,
    }
    atomic_write_text(work / "results.json", json.dumps(summary, indent=1))
    atomic_write_text(results, results_markdown(summary))
    atomic_write_text(models / f"{DEFAULT_MODEL_NAME}.md", model_card(summary, best_ck))
    _index(models)
    _log(f"done: default model {best}; {results}")
    return summary


def _import_asl_coffee(root: Path) -> Path:
    """asl-coffee's words as a SignStream dataset (imported once)."""
    dataset = REPO / "data" / "asl-coffee"
    if not (dataset / "dataset.json").exists() or len(Dataset(dataset)) == 0:
        from training.importers.base import write_import
        from training.importers.npz_sets import import_npz

        _log(f"import {root / 'asl-coffee' / 'words.npz'}")
        write_import(Dataset.open_or_create(dataset), import_npz(root / "asl-coffee" / "words.npz"))
    return dataset


def _gloss_lm(base: TrainConfig, work: Path) -> Path:
    """The gloss LM (modified Kneser-Ney, order 3) of the run's grammar (built once)."""
    from training.lm import LMConfig, build_lm, sentences_from_grammar

    lm = work / "lm" / "asl-coffee.arpa"
    if not lm.exists():
        _log("build the gloss LM")
        build_lm(sentences_from_grammar(base.data.grammar, 20_000, seed=0), lm, LMConfig(order=3))
    return lm


def _train_models(work: Path, preset: RecipePreset, data_override: str) -> dict[str, Path]:
    """Teachers, the baseline student and the distilled students: name -> best checkpoint."""
    runs = {
        "teacher-featurei3d": _config("teacher", "teacher-featurei3d", work, preset, data_override),
        "teacher-bilstm": _config(
            "teacher", "teacher-bilstm", work, preset, data_override, 'model.family="bilstm"'
        ),
        "student-baseline": _config("student", "student-baseline", work, preset, data_override),
    }
    ckpts = {name: _train(cfg) for name, cfg in runs.items()}
    t1, t2, baseline = (
        ckpts["teacher-featurei3d"],
        ckpts["teacher-bilstm"],
        ckpts["student-baseline"],
    )
    distill_runs = {
        "student-distilled": _config(
            "distill", "student-distilled", work, preset, data_override,
            f'distill.teachers=["{t1}"]', f'distill.student_init="{baseline}"',
        ),
        "student-distilled-multi": _config(
            "distill", "student-distilled-multi", work, preset, data_override,
            f'distill.teachers=["{t1}", "{t2}"]', f'distill.student_init="{baseline}"',
        ),
    }  # fmt: skip
    for name, cfg in distill_runs.items():
        ckpts[name] = _train(cfg)
    return ckpts


def _peer(base: TrainConfig, work: Path) -> dict[str, Any]:
    """The tutorial LSTM peer's row (trained once)."""
    from training.benchmarks.peer import train_peer

    peer_json = work / "peer" / "peer.json"
    if not peer_json.exists():
        _log("train the tutorial LSTM peer")
        train_peer(base.data, work / "peer")
    peer = json.loads(peer_json.read_text())
    return {
        "parameters": peer["parameters"],
        "onnx_mb": Path(peer["onnx"]).stat().st_size / 1e6,
        "cpu_ms": cpu_ms_per_window(Path(peer["onnx"]), 258, window=30),
        "isolated": peer["test_accuracy"],
        "clips": peer["test_clips"],
    }


def _generalisation_checks(
    rows: dict[str, Any], ckpts: dict[str, Path], loso: dict[str, Any],
    held_out: tuple[str, ...], lm: Path, work: Path,
) -> list[str]:  # fmt: skip
    """Cross-dataset and unknown-sign checks of every student into ``rows``; the candidates
    for the default model: the students, and the generalist fold that holds out the recipe's
    test signer (it competes with them on the same held-out people)."""
    from training.generalise import check_model

    students = [n for n in rows if n.startswith("student")]
    for name in students:
        checks = work / "generalise" / f"{name}.checks.json"
        if not checks.exists() or "rejection" not in json.loads(checks.read_text()):
            _log(f"generalisation checks of {name}")
            atomic_write_text(checks, json.dumps(check_model(ckpts[name]).to_dict(), indent=1))
        rows[name]["checks"] = json.loads(checks.read_text())
    if len(held_out) == 1 and held_out[0] in loso["folds"]:
        fold = work / "generalise" / f"fold-{held_out[0]}" / "best.pt"
        ckpts[GENERALIST] = fold
        rows[GENERALIST] = _row(GENERALIST, fold, lm, work)
        rows[GENERALIST]["checks"] = loso["folds"][held_out[0]]["checks"]
        students.append(GENERALIST)
    return students


def _choose(
    rows: dict[str, Any], ckpts: dict[str, Path], students: list[str], lm: Path, work: Path
) -> tuple[str, bool]:
    """The default model: the candidate that generalises best (training.selection), with its
    rejection of unknown signs or without it, whichever generalises better."""
    from training.evaluate import beam_wer
    from training.selection import generalisation_error

    for name in students:
        ev = rows[name]["eval"]
        alphas = sorted({beam_wer(ev, True)[1], beam_wer(ev, False)[1]})
        rows[name]["eval_mirrored"] = _evaluate(
            ckpts[name], lm, work / "eval" / f"{name}.mirrored.json", mirrored=True,
            alphas=tuple(alphas),
        )  # fmt: skip
        rows[name]["generalisation_error"] = {
            str(rejection): generalisation_error(
                ev, rows[name]["eval_mirrored"], rows[name]["checks"], rejection
            )
            for rejection in (True, False)
        }
    return min(
        ((n, r) for n in students for r in (True, False)),
        key=lambda c: rows[c[0]]["generalisation_error"][str(c[1])],
    )


def _ship(
    ck_path: Path, rejection: bool, heldout_eval: dict[str, Any], lm: Path, models: Path
) -> Checkpoint:
    """Write the default model into ``models/``: ONNX, LM, and the checkpoint "Record and
    teach" fine-tunes (weights and rejection: no optimiser state); returns what was shipped."""
    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.export import export_onnx

    models.mkdir(parents=True, exist_ok=True)
    target = models / f"{DEFAULT_MODEL_NAME}.onnx"
    best_ck = load_checkpoint(ck_path)
    if not rejection:  # shipped without: the model keeps every gloss
        kept = {k: v for k, v in best_ck.extra.items() if k != "rejection"}
        best_ck = replace(best_ck, extra=kept)
    export_onnx(
        best_ck, target, name=DEFAULT_MODEL_NAME, heldout=heldout_summary(heldout_eval, rejection)
    )
    with atomic_path(models / f"{DEFAULT_MODEL_NAME}.arpa") as staged:
        shutil.copyfile(lm, staged)
    fit = {"rejection": best_ck.extra["rejection"]} if "rejection" in best_ck.extra else {}
    save_checkpoint(models / f"{DEFAULT_MODEL_NAME}.pt", replace(best_ck, extra=fit))
    _index(models)  # the card is rewritten (and indexed again) once every number is in
    return best_ck


def _index(models: Path) -> None:
    """Record the shipped files' sizes and sha256 in models/index.json as the default model."""
    files = {
        kind: models / f"{DEFAULT_MODEL_NAME}{suffix}"
        for kind, suffix in (
            ("onnx", ".onnx"),
            ("lm", ".arpa"),
            ("checkpoint", ".pt"),
            ("card", ".md"),
        )
    }
    write_entry(models, DEFAULT_MODEL_NAME, {k: p for k, p in files.items() if p.is_file()})


def _preset_overrides(preset: RecipePreset) -> list[str]:
    return [
        f'model.preset="{preset.model_size}"',
        f"optim.epochs={preset.epochs}",
        f"data.train_sentences={preset.train_sentences}",
        f"optim.num_threads={preset.threads}",
    ]


def _boston(root: Path, out: Path, preset_name: str) -> dict[str, Any]:
    from training.benchmarks.boston import RESULTS_FILE, BostonConfig, train_boston

    done = out / RESULTS_FILE
    if not done.exists():
        _log("train and evaluate on BOSTON-104")
        small = dict(preset="tiny", epochs=2, copies=1, alphas=(0.5,), betas=(1.0,))
        cfg = BostonConfig(data_root=str(root / "boston104"), out=str(out), num_threads=1)
        if preset_name == "smoke":
            cfg = replace(cfg, **small)  # type: ignore[arg-type]
        train_boston(cfg, resume=True, progress=False)
    result: dict[str, Any] = json.loads(done.read_text())
    return result


def _wlasl(root: Path, out: Path, preset_name: str) -> dict[str, Any]:
    from training.benchmarks.wlasl import RESULTS_FILE, WlaslConfig, train_wlasl

    done = out / RESULTS_FILE
    if not done.exists():
        _log("train and test the WLASL-50 folds")
        cfg = WlaslConfig(data=str(root / "wlasl50" / "wlasl50.npz"), out=str(out), num_threads=1)
        if preset_name == "smoke":
            cfg = replace(cfg, epochs=2, copies=1)
        train_wlasl(cfg, progress=False)
    result: dict[str, Any] = json.loads(done.read_text())
    return result
