"""The recipe: regenerate every shipped model from the shared data and write docs/RESULTS.md.

    signstream train recipe [--preset cpu|gpu] [--data-root DIR]

Steps (each skipped when its output exists, so an interrupted recipe resumes where it stopped;
training runs resume from their last checkpoint):

1. the datasets: ``data/people`` (asl-coffee's three signers and the crowd's signer groups, the
   default vocabulary, each person in one of five folds: training/data/people.py), the crowd's
   unknown signs, and the other vocabularies' sets the checks use;
2. the gloss LM (modified Kneser-Ney, order 3) from the people grammar;
3. cross-validation by person (training/crossval.py): per fold of the preset, a FeatureI3D
   teacher, the baseline MobileNetV3-1D student and the student distilled from that teacher
   (the CPU preset: the teacher and the distilled student on fold 0 only, 20 epochs),
   each evaluated person by person on the fold's people, whom none of them saw
   (training/heldout_people.py); and the tutorial LSTM peer on asl-coffee;
4. fold 0's models: evaluation on its held-out people's sentences (greedy, beam + LM with an
   alpha sweep, isolated top-1), ONNX export (FP32 and INT8), sizes, CPU ms per window;
5. the default model: of the students, the kind and rejection setting that does best on the
   people never seen (mean of isolated top-1 and of unknown signs correctly refused, pooled
   over the folds the kinds share), among those that keep the asl-coffee signers where the
   model it replaced had them (training/selection.py); its fold-0 model goes into ``models/``
   with the LM, a checkpoint for
   "Record and teach", a model card and its ``models/index.json`` entry;
6. the real continuous BOSTON-104 sentences (hand/nose tracks,
   training/benchmarks/boston.py) and the WLASL-50 real clips (training/benchmarks/wlasl.py);
7. Fit to me's k-shot curve (training/calibration.py): the default model fitted to k takes a
   gloss of each of a few people it never saw, as the app does, and their other clips decided.

The trainings and evaluations of steps 3, 4 and 6 are jobs (training/jobs.py), run as soon as
what they need is done, ``workers`` at a time (the CPU preset: two one-thread processes); the
CPU timings of steps 4 and 7 run after them, with nothing else running.

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
from engine.model_index import read_index, remove_entry, write_entry
from training.checkpoint import Checkpoint, load_checkpoint
from training.config import DataConfig, TrainConfig, load_config
from training.evaluate import heldout_summary
from training.jobs import Job, run_jobs

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
    folds: tuple[int, ...]  # the people folds trained and evaluated (0 is shipped)
    # the folds of the teacher and the distilled student (the baseline student: every fold)
    distill_folds: tuple[int, ...] | None = None
    # the teacher's and the distilled student's epochs (None: ``epochs``)
    distill_epochs: int | None = None
    # Fit to me's k-shot curve: this many held-out people of the shipped model (report share)
    calibration_people: int = 6
    calibration_ks: tuple[int, ...] = (1, 3, 5)
    # trainings side by side (training/jobs.py), each with ``threads`` CPU threads
    workers: int = 1


RECIPE_PRESETS = {
    # what a 2-core laptop trains in about two hours: the baseline student on three of the five
    # folds (the three asl-coffee signers and three fifths of the crowd held out once each),
    # the teacher and the distilled student on fold 0 (43 people) only. 60 epochs: the student
    # underfits (at 20 it fitted its own training people no better than new ones); 40 took
    # fold 1's people from 66.4% to 71.1%, a wider student at 20 epochs to 63.6%
    # (docs/experiments/people-capacity.md); 60 took the three folds' 129 people from 64.4% to
    # 69.1% and WER from 33.9% to 31.8% (docs/experiments/people-epochs-60.md). The teacher and
    # the distilled student keep 20: at 20 the teacher is far below the student on new people
    # and distillation did not pay, and more would not fit the two hours
    "cpu": RecipePreset(
        model_size="small",
        epochs=60,
        train_sentences=1500,
        threads=1,
        folds=(0, 1, 2),
        distill_folds=(0,),
        distill_epochs=20,
        # two one-thread runs side by side: on 2 cores the whole recipe took 92 minutes that
        # way at 40 epochs, its runs 122 training minutes; at 60 they train 184 minutes, about
        # 110 minutes of the whole (estimated, not timed from nothing). One two-thread run at a
        # time gains next to nothing from its second thread on these small models
        workers=2,
    ),
    # a check of the whole recipe in minutes (numbers meaningless)
    "smoke": RecipePreset(
        model_size="tiny",
        epochs=1,
        train_sentences=64,
        threads=1,
        folds=(0,),
        calibration_people=1,
        calibration_ks=(1,),
        workers=2,  # the CPU preset's jobs side by side
    ),
    # the full-size runs, for the GPU machine: every fold
    "gpu": RecipePreset(
        model_size="full",
        epochs=60,
        train_sentences=4000,
        threads=0,
        folds=(0, 1, 2, 3, 4),
        calibration_people=20,
    ),
}

DEFAULT_MODEL_NAME = "people-student"
# cross-validation kinds -> their rows (fold 0's models) in RESULTS.md
ROW_NAMES = {"teacher": "teacher-featurei3d", "student": "student-baseline",
             "distilled": "student-distilled"}  # fmt: skip
LM_ALPHA = 0.5  # LM weight of the per-person evaluation (fixed in advance, not tuned on people)
TIMING_WINDOW = 64
TIMING_RUNS = 200


def _log(msg: str) -> None:
    print(f"[recipe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


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
    model: Path,
    lm: Path,
    out: Path,
    mirrored: bool = False,
    alphas: tuple[float, ...] = (),
    data: DataConfig | None = None,
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
            model, lm, alphas=alphas or DEFAULT_ALPHAS, data=data, isolated=not mirrored,
            condition=condition,
        )  # fmt: skip
        cached = {**report.to_dict(), SOURCE_KEY: source}
        atomic_write_text(out, json.dumps(cached, indent=1))
    return cached


def fingerprint(path: Path) -> str:
    """SHA-256 of a file: which model a cached result was computed from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def weights_fingerprint(path: Path) -> str:
    """SHA-256 of a checkpoint's glosses, weights and extras (its rejection fit): the same
    model saved again has the same one, though the file's bytes differ (torch.save's are not
    reproducible, and the recipe writes the shipped files on every run)."""
    ck = load_checkpoint(path)
    h = hashlib.sha256("\n".join(ck.vocab.glosses).encode())
    h.update(json.dumps(ck.extra, sort_keys=True, default=str).encode())
    for name in sorted(ck.state):
        h.update(name.encode())
        h.update(ck.state[name].detach().cpu().numpy().tobytes())
    return h.hexdigest()


def _row_files(
    name: str, ck_path: Path, lm: Path, work: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rejection fit, held-out evaluation, ONNX FP32 + INT8 export and the INT8 evaluation of
    one model, each cached (a job: the untimed part of :func:`_row`); the two evaluations."""
    from engine.model import read_model_info
    from training.export import export_onnx, quantize_int8
    from training.generalise import ensure_rejection

    try:
        ensure_rejection(ck_path)
    except ValueError as e:  # e.g. a smoke run's one-epoch model recognises next to nothing
        _log(f"{name}: no rejection of unknown signs ({e})")
    ck = load_checkpoint(ck_path)
    onnx_path, int8_path = _onnx_paths(name, work)
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
    # an ONNX file carries no data config: the checkpoint's (its people, its held-out fold)
    return metrics, _evaluate(
        int8_path, lm, work / "eval" / f"{name}.int8.json", data=ck.config.data
    )


def _onnx_paths(name: str, work: Path) -> tuple[Path, Path]:
    """A row's ONNX files, FP32 and INT8."""
    return work / "onnx" / f"{name}.onnx", work / "onnx" / f"{name}.int8.onnx"


def _row(name: str, ck_path: Path, lm: Path, work: Path) -> dict[str, Any]:
    """One model's row: its files (:func:`_row_files`, cached), sizes and CPU timing (timed with
    nothing else running)."""
    metrics, metrics_int8 = _row_files(name, ck_path, lm, work)
    ck = load_checkpoint(ck_path)
    onnx_path, int8_path = _onnx_paths(name, work)
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
        "eval_int8": metrics_int8,
    }


def run_recipe(
    preset_name: str = "cpu",
    data_root: str | None = None,
    work: str | Path = "runs/recipe",
    models_dir: str | Path = REPO / "models",
    results: str | Path = REPO / "docs" / "RESULTS.md",
) -> dict[str, Any]:
    """Run every step (see the module docstring); returns the collected numbers."""
    from training.crossval import fold_jobs, summarise_folds
    from training.data.people import ensure_people
    from training.data.registry import ensure_datasets
    from training.generalise import sign_forms
    from training.results import model_card, results_markdown
    from training.selection import choose

    preset = RECIPE_PRESETS[preset_name]
    work = Path(work)
    root = shared_data(data_root)
    t_start = time.perf_counter()
    ensure_datasets(root)  # 1. data
    vocab = ensure_people(root)
    people = load_config(CONFIGS / "people.toml", _preset_overrides(preset))
    lm = _gloss_lm(people, work)  # 2. LM
    # 3. models, person by person, and the trainings of steps 3 and 6 that need none of them:
    # jobs, ``preset.workers`` at a time
    t_cv = time.perf_counter()
    cv_jobs = fold_jobs(
        work / "people", lm, LM_ALPHA, preset.folds, overrides=_preset_overrides(preset),
        log=_log, distill_folds=preset.distill_folds, distill_overrides=_distill_overrides(preset),
    )  # fmt: skip
    fold0 = {j.key.split("-fold")[0]: work / "people" / j.key / "best.pt"
             for j in cv_jobs if j.key.endswith("-fold0")}  # fmt: skip
    peer_base = load_config(CONFIGS / "student.toml")
    side_jobs = [  # 4.'s untimed part (evaluations, exports) and 6., as soon as they can
        *(
            Job(f"row-{k}", _row_files, (ROW_NAMES[k], ck, lm, work), (f"{k}-fold0",))
            for k, ck in fold0.items()
        ),
        Job("boston", _boston, (root, work / "boston", preset_name)),
        Job("wlasl", _wlasl, (root, work / "wlasl", preset_name)),
        Job("peer", _train_peer, (peer_base.data, work / "peer")),
    ]
    done = run_jobs([*cv_jobs, *side_jobs], preset.workers, preset.threads, _log)
    cv = summarise_folds(
        work / "people", preset.folds, cv_jobs, done, (time.perf_counter() - t_cv) / 60
    )
    # timed rows after the jobs, with nothing else running
    peer_row = _peer(peer_base, work)
    rows = {ROW_NAMES[k]: _row(ROW_NAMES[k], ck, lm, work) for k, ck in fold0.items()}  # 4.
    best, best_rejection = choose(cv)  # 5. the default model
    models = Path(models_dir)
    best_ck = _ship(fold0[best], best_rejection, rows[ROW_NAMES[best]]["eval"], lm, models)
    boston, wlasl = done["boston"], done["wlasl"]  # 6. BOSTON-104 and WLASL-50
    calibration = _calibration(models / f"{DEFAULT_MODEL_NAME}.onnx", preset, work)  # 7.
    summary = {
        "preset": preset_name,
        "preset_settings": preset.__dict__,
        "vocabulary": {"glosses": list(vocab.glosses), "crowd_groups": vocab.crowd_groups},
        "crossval": cv,
        "rows": rows,
        "peer": peer_row,
        "default_model": ROW_NAMES[best],
        "default_kind": best,
        "default_model_rejection": best_rejection,
        # the file itself: the row's export also carries the rejection and an embedding output
        "shipped_onnx_mb": (models / f"{DEFAULT_MODEL_NAME}.onnx").stat().st_size / 1e6,
        "sign_forms": sign_forms(),
        "boston": boston,
        "wlasl": wlasl,
        "calibration": calibration,
        "recording_faults": _recording_faults(),
        "minutes": (time.perf_counter() - t_start) / 60,
        "train_minutes": _train_minutes(work / "people"),
    }
    atomic_write_text(work / "results.json", json.dumps(summary, indent=1))
    atomic_write_text(results, results_markdown(summary))
    atomic_write_text(models / f"{DEFAULT_MODEL_NAME}.md", model_card(summary, best_ck))
    _index(models)
    _log(f"done: default model {ROW_NAMES[best]}; {results}")
    return summary


def _recording_faults() -> dict[str, tuple[int, int]]:
    """The people dataset's recording faults (training/data/faults.py), named in RESULTS."""
    from engine.dataset import Dataset
    from training.data.faults import shared_hand_tracks
    from training.data.registry import DATA_DIR

    return shared_hand_tracks(Dataset(DATA_DIR / "people"))


def _train_minutes(runs: Path) -> float:
    """Minutes the cross-validation's runs trained (every epoch of each run's last checkpoint)."""
    total = 0.0
    for last in sorted(runs.glob("*-fold*/last.pt")):
        total += sum(h["seconds"] for h in load_checkpoint(last).history)
    return total / 60


def _gloss_lm(base: TrainConfig, work: Path) -> Path:
    """The gloss LM (modified Kneser-Ney, order 3) of the run's grammar (built once)."""
    from training.lm import LMConfig, build_lm, sentences_from_grammar

    lm = work / "lm" / "people.arpa"
    if not lm.exists():
        _log("build the gloss LM")
        build_lm(sentences_from_grammar(base.data.grammar, 20_000, seed=0), lm, LMConfig(order=3))
    return lm


def _train_peer(data: DataConfig, out: Path) -> None:
    """Train the tutorial LSTM peer into ``out`` (once)."""
    from training.benchmarks.peer import train_peer

    if not (out / "peer.json").exists():
        _log("train the tutorial LSTM peer")
        train_peer(data, out)


def _peer(base: TrainConfig, work: Path) -> dict[str, Any]:
    """The tutorial LSTM peer's row (trained once)."""
    _train_peer(base.data, work / "peer")
    peer = json.loads((work / "peer" / "peer.json").read_text())
    return {
        "parameters": peer["parameters"],
        "onnx_mb": Path(peer["onnx"]).stat().st_size / 1e6,
        "cpu_ms": cpu_ms_per_window(Path(peer["onnx"]), 258, window=30),
        "isolated": peer["test_accuracy"],
        "clips": peer["test_clips"],
    }


def _ship(
    ck_path: Path, rejection: bool, heldout_eval: dict[str, Any], lm: Path, models: Path
) -> Checkpoint:
    """Write the default model into ``models/``: ONNX, LM, and the checkpoint "Record and
    teach" fine-tunes (weights and rejection: no optimiser state); returns what was shipped."""
    from training.checkpoint import save_checkpoint
    from training.data.registry import DATA_DIR
    from training.export import export_onnx
    from training.previews import write_previews

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
    # sign previews (issue 20): each gloss as a few people of the people dataset sign it
    previews = models / f"{DEFAULT_MODEL_NAME}.previews.npz"
    write_previews(best_ck.vocab.glosses, DATA_DIR / "people", previews)
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
            ("previews", ".previews.npz"),  # sign previews (issue 20)
        )
    }
    write_entry(models, DEFAULT_MODEL_NAME, {k: p for k, p in files.items() if p.is_file()})
    for stale in set(read_index(models).entries) - {DEFAULT_MODEL_NAME}:
        _log(f"remove {stale} from {models}: the recipe no longer makes it")
        remove_entry(models, stale)


def _preset_overrides(preset: RecipePreset) -> list[str]:
    return [
        f'model.preset="{preset.model_size}"',
        f"optim.epochs={preset.epochs}",
        f"data.train_sentences={preset.train_sentences}",
        f"optim.num_threads={preset.threads}",
    ]


def _distill_overrides(preset: RecipePreset) -> list[str]:
    """What the teacher and the distilled student change on top of :func:`_preset_overrides`."""
    return [] if preset.distill_epochs is None else [f"optim.epochs={preset.distill_epochs}"]


def _calibration(model: Path, preset: RecipePreset, work: Path) -> dict[str, Any]:
    """Fit to me's k-shot curve of the shipped model (training/calibration.py), kept with the
    model file's fingerprint and the settings, and not redone for the same of both."""
    from dataclasses import asdict

    from training.calibration import k_shot_curve
    from training.teach import CALIBRATION

    out = work / "calibration.json"
    source = weights_fingerprint(model.with_suffix(".pt"))
    # what the curve depends on besides the model: a changed Fit to me setting is a new curve
    settings = {"people": preset.calibration_people, "ks": list(preset.calibration_ks),
                "teach": asdict(CALIBRATION)}  # fmt: skip
    cached = json.loads(out.read_text()) if out.exists() else {}
    if cached.get(SOURCE_KEY) != source or cached.get("settings") != settings:
        _log(f"Fit to me: the k-shot curve on {preset.calibration_people} people never seen")
        curve = k_shot_curve(model, "report", preset.calibration_people, preset.calibration_ks)
        cached = {"ks": list(preset.calibration_ks), "summary": curve.summary,
                  "people": list(curve.rows), "settings": settings, SOURCE_KEY: source}  # fmt: skip
        atomic_write_text(out, json.dumps(cached, indent=1))
    return cached


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
