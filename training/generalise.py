"""Does a model work for people and cameras it has never seen? Measured three ways.

    signstream train generalise [--config generalist] [--out runs/generalise]   # folds + checks
    signstream train generalise --model M.onnx                                  # checks only

1. **Leave-one-signer-out** on asl-coffee: one run per signer, trained on the other two, each
   evaluated on the signer it never saw (isolated top-1, continuous WER with the LM).
2. **Cross-dataset**: clips of people recorded by other projects, other webcams and frame rates,
   where the sign is one the model knows (the tutorial signer's hello and thanks, WLASL-50's
   real CAN and NO clips of many people), scored as a 16-way decision: any of the 15 glosses
   or nothing, the way the app decides.
3. **Out-of-vocabulary rejection**: signs of other vocabularies (WLASL-50's other words,
   Mexican SL, the tutorial's I-LOVE-YOU) must produce nothing. WLASL-50's words are split in
   two: the test uses one half, ``wlasl50-distract`` (the other half) is there for training
   distractors (measured, not used by the generalist config:
   docs/experiments/training-distractors.md). A gloss's
   posterior cannot tell (it is near 1.0 for known and unknown signs alike); the model's rejector
   (:mod:`engine.rejection`, fitted by :mod:`training.rejection`, :func:`ensure_rejection`)
   drops glosses whose frames are far from every sign it was trained on. Its threshold is
   calibrated on a set of its own, Bhutanese SL words that neither training (whose
   distractors are other Bhutanese words) nor the test sets use: at most ``MAX_FALSE_ACCEPT``
   of those clips may give a gloss. Every rate is reported without and with the rejection,
   and the rejector travels in the exported model (graph output and metadata).

A clip is decided like an isolated sample in :mod:`training.evaluate`: its edges are held for
``ISOLATED_HOLD_S``, the model runs over it, greedy CTC decoding gives glosses with
confidences, and the most confident gloss is the answer (none: "nothing").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import atomic_write_text
from engine.dataset import Dataset
from engine.decoder import GlossDecoder
from engine.features import DEFAULT_ASPECT, L_SHOULDER, R_SHOULDER
from engine.landmarks import GROUP_INDEX, LEFT_HAND, RIGHT_HAND, LandmarkSequence
from training.config import TrainConfig, load_config
from training.data.registry import (
    ASL_COFFEE_SIGNERS,
    CROSS_DATASET,
    DATA_DIR,
    DATASETS,
    NOTHING,
    OOV_CALIBRATION,
    OOV_TEST,
)
from training.data.sentences import SentenceData, clip_choice, clip_example
from training.evaluate import LoadedModel, beam_grid, beam_wer, evaluate, load_for_eval

__all__ = [
    "GeneraliseReport",
    "check_model",
    "condition_wers",
    "ensure_rejection",
    "fold_summary",
    "leave_one_signer_out",
    "seed_spread",
]

MAX_FALSE_ACCEPT = 0.05  # target: at most 5% of unknown-sign clips give a gloss


def sign_form(seqs: Sequence[LandmarkSequence]) -> dict[str, float]:
    """How clips of one sign are made, read from the landmarks (whether another signer's
    clips show the same sign as the training signers'): ``clips``, ``no_hand`` (clips with no
    hand in any frame), ``both_hands`` (share of frames with both hands) and ``wrist_height``
    (median over clips of the highest wrist, in shoulder widths above the shoulders)."""
    left, right = GROUP_INDEX["left_hand"], GROUP_INDEX["right_hand"]
    heights = []
    for s in seqs:
        shoulders = s.points[:, [L_SHOULDER, R_SHOULDER], :2]  # (T, 2, 2)
        aspect = float(s.aspect or DEFAULT_ASPECT)  # as the features read it
        width = np.abs(shoulders[:, 0, 0] - shoulders[:, 1, 0]) * aspect  # (T,)
        ok = s.present[:, GROUP_INDEX["pose"]] & (width > 0)
        above = [
            (shoulders[m, :, 1].mean(1) - s.points[m, wrist, 1]) / width[m]
            for group, wrist in ((left, LEFT_HAND.start), (right, RIGHT_HAND.start))
            if (m := ok & s.present[:, group]).any()
        ]
        if above:
            heights.append(float(max(a.max() for a in above)))
    return {
        "clips": len(seqs),
        "no_hand": sum(not s.present[:, [left, right]].any() for s in seqs),
        "both_hands": float(np.mean([(s.present[:, left] & s.present[:, right]).mean()
                                     for s in seqs])) if seqs else 0.0,
        "wrist_height": float(np.median(heights)) if heights else float("nan"),
    }  # fmt: skip


def sign_forms(data_dir: Path = DATA_DIR) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`sign_form` of each cross-dataset sign: ``{gloss: {source: form}}``, sources
    the cross-dataset clip set and each asl-coffee signer."""
    coffee = Dataset(data_dir / DATASETS["asl-coffee"].folder)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for cs in CROSS_DATASET:
        seqs, want = cs.clips(data_dir)
        for gloss in sorted(set(want)):
            forms = out.setdefault(gloss, {})
            forms[cs.name] = sign_form([s for s, w in zip(seqs, want, strict=True) if w == gloss])
            for signer in ASL_COFFEE_SIGNERS:
                own = [coffee[i.index] for i in coffee.infos
                       if i.signer == signer and i.glosses == (gloss,)]  # fmt: skip
                if own:
                    forms[f"asl-coffee {signer}"] = sign_form(own)
    return out


# ---------------------------------------------------------------------- clip decisions
@dataclass(frozen=True)
class ClipDecision:
    gloss: str  # the most confident decoded gloss, NOTHING if none
    confidence: float  # its mean posterior (0 for nothing)
    known: bool = True  # the model's rejector keeps it (always, without a rejector)

    def given(self, reject: bool = True) -> str:
        """The answer: the gloss, or NOTHING where ``reject`` and the rejector drops it."""
        return self.gloss if self.known or not reject else NOTHING


def decide_clips(
    model: str | Path | LoadedModel, seqs: Sequence[LandmarkSequence]
) -> list[ClipDecision]:
    """Greedy CTC decision per clip (see the module docstring); ``model`` a path or loaded."""
    loaded = model if isinstance(model, LoadedModel) else load_for_eval(model)
    spec, vocab = loaded.config.feature_spec, loaded.vocab
    examples = [clip_example(s.replace(glosses=()), spec, vocab) for s in seqs]
    greedy = GlossDecoder(vocab)
    out = []
    for lp, emb in loaded.outputs(examples):
        r = greedy.decode(lp)
        k = clip_choice(r)
        if k is None:
            out.append(ClipDecision(NOTHING, 0.0))
            continue
        known = True
        if loaded.rejector is not None and emb is not None:
            known = loaded.rejector.known(r, lp, emb, vocab)[k]
        out.append(ClipDecision(r.glosses[k], float(r.confidences[k]), known))
    return out


def accuracy(decisions: Sequence[ClipDecision], want: Sequence[str], reject: bool = True) -> float:
    return float(np.mean([d.given(reject) == w for d, w in zip(decisions, want, strict=True)]))


def false_accepts(decisions: Sequence[ClipDecision], reject: bool = True) -> float:
    """Fraction of (unknown-sign) clips that give any gloss."""
    return float(np.mean([d.given(reject) != NOTHING for d in decisions]))


def precision(decisions: Sequence[ClipDecision], want: Sequence[str], reject: bool = True) -> float:
    """Of the clips that give a gloss, the fraction that give the right one."""
    given = [(d.given(reject), w) for d, w in zip(decisions, want, strict=True)]
    accepted = [(g, w) for g, w in given if g != NOTHING]
    return float(np.mean([g == w for g, w in accepted])) if accepted else 1.0


def ensure_rejection(ckpt: str | Path, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """Fit and calibrate the checkpoint's rejection of unknown signs unless it has one (saved
    into the checkpoint atomically); returns the fit's info."""
    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.rejection import fit_rejection

    ck = load_checkpoint(ckpt)
    if "rejection" not in ck.extra:
        seqs, _ = OOV_CALIBRATION.clips(data_dir)
        fit = fit_rejection(ck, seqs, MAX_FALSE_ACCEPT)
        ck = replace(ck, extra={**ck.extra, "rejection": fit.to_dict()})
        save_checkpoint(Path(ckpt), ck)
    info: dict[str, Any] = ck.extra["rejection"]["info"]
    return info


# ---------------------------------------------------------------------- one model
@dataclass
class GeneraliseReport:
    """Rates without and with the model's rejection of unknown signs (``rejection`` False:
    the model has none, and both are the same)."""

    model: str
    held_out_signers: tuple[str, ...]
    rejection: bool
    calibration_false_accept: float  # on the calibration set, with rejection
    held_out: dict[str, float] = field(default_factory=dict)  # accuracy/precision
    cross_dataset: dict[str, dict[str, float]] = field(default_factory=dict)
    oov: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def oov_false_accept(self) -> float:
        """False accepts over all OOV test clips, with rejection."""
        n = sum(v["clips"] for v in self.oov.values())
        return sum(v["false_accept"] * v["clips"] for v in self.oov.values()) / max(1, n)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["oov_false_accept"] = self.oov_false_accept
        return d


def check_model(model: str | Path, data_dir: Path = DATA_DIR) -> GeneraliseReport:
    """Cross-dataset and out-of-vocabulary checks of one model (checkpoint or ONNX), and its
    held-out signers' isolated clips, without and with its rejection of unknown signs."""
    loaded = load_for_eval(model)  # once: every clip set below runs the same model
    seqs, _ = OOV_CALIBRATION.clips(data_dir)
    report = GeneraliseReport(
        model=str(model),
        held_out_signers=(),
        rejection=loaded.rejector is not None,
        calibration_false_accept=false_accepts(decide_clips(loaded, seqs)),
    )
    if Path(model).suffix == ".pt":
        vocab, config = loaded.vocab, loaded.config
        sd = SentenceData(config.data, config.feature_spec)
        report.held_out_signers = sd.test_signers
        iso = [sd.dataset[i] for i in sd.isolated_test]
        want = [NOTHING if s.glosses[0] == config.data.idle_gloss else s.glosses[0] for s in iso]
        keep = [i for i, w in enumerate(want) if w == NOTHING or w in vocab]
        iso, want = [iso[i] for i in keep], [want[i] for i in keep]
        dec = decide_clips(loaded, iso)
        report.held_out = {
            "clips": len(iso),
            "accuracy_no_rejection": accuracy(dec, want, reject=False),
            "accuracy": accuracy(dec, want),
            "precision_no_rejection": precision(dec, want, reject=False),
            "precision": precision(dec, want),
        }
    for cs in CROSS_DATASET:
        seqs, want = cs.clips(data_dir)
        dec = decide_clips(loaded, seqs)
        report.cross_dataset[cs.name] = {
            "clips": len(seqs),
            "accuracy_no_rejection": accuracy(dec, want, reject=False),
            "accuracy": accuracy(dec, want),
        }
    for cs in OOV_TEST:
        seqs, want = cs.clips(data_dir)
        keep = [i for i, w in enumerate(want) if w == NOTHING]  # drop the known words
        dec = decide_clips(loaded, [seqs[i] for i in keep])
        report.oov[cs.name] = {
            "clips": len(keep),
            "false_accept_no_rejection": false_accepts(dec, reject=False),
            "false_accept": false_accepts(dec),
        }
    return report


# ---------------------------------------------------------------------- folds
def _fold_config(base: TrainConfig, signer: str, out_dir: Path) -> TrainConfig:
    data = replace(base.data, test_signers=(signer,))
    return replace(base, name=f"fold-{signer}", out_dir=str(out_dir), data=data)


def nested_alpha_wer(evaluations: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each fold's beam + LM WER (without rejection) at the LM weight chosen on the OTHER
    folds' held-out signers (the alpha with their lowest mean WER): no signer's own sentences
    choose the weight its WER is reported at. ``evaluations``: held-out signer ->
    :meth:`EvalReport.to_dict`. Returns signer -> ``{"alpha", "wer"}`` (empty with one fold)."""
    if len(evaluations) < 2:
        return {}
    grids = {k: beam_grid(e, rejection=False) for k, e in evaluations.items()}
    out = {}
    for signer, grid in grids.items():
        others = [g for k, g in grids.items() if k != signer]
        alphas = set(grid).intersection(*others)
        alpha = min(alphas, key=lambda a: (np.mean([float(g[a]["wer"]) for g in others]), a))
        out[signer] = {"alpha": float(alpha), "wer": float(grid[alpha]["wer"])}
    return out


def condition_wers(model: str | Path, lm: str | Path, alpha: float) -> dict[str, dict[str, float]]:
    """The model's WER on its held-out test sentences as recorded (``"plain"``) and under each
    of :data:`training.data.conditions.CONDITIONS`: ``{name: {"greedy", "beam"}}``, beam + LM at
    ``alpha``, without rejection (as the default model is shipped)."""
    from training.data.conditions import CONDITIONS

    out = {}
    for c in (None, *CONDITIONS):
        r = evaluate(model, lm, alphas=(alpha,), isolated=False, reject=False, condition=c)
        out[c.name if c else "plain"] = {
            "greedy": float(r.greedy["wer"]),
            "beam": float(r.beam[str(alpha)]["wer"]),
        }
    return out


def _run_folds(
    base: TrainConfig,
    lm: str | Path,
    out_dir: Path,
    signers: Sequence[str],
    log: Any,
    conditions: bool = True,
) -> dict[str, Any]:
    """Train (resuming unfinished runs) and evaluate one fold per held-out signer, each cached
    in its run folder: ``{signer: {"eval", "checks", "seconds"[, "conditions"]}}``."""
    from training.trainer import train

    folds: dict[str, Any] = {}
    for signer in signers:
        config = _fold_config(base, signer, out_dir)
        done = config.run_dir / "done"
        if not done.exists():
            log(f"train {config.name} (seed {config.seed})")
            train(config, resume=True, progress=False)
            done.write_text("ok\n")
        best = config.run_dir / "best.pt"
        ensure_rejection(best)
        cached = config.run_dir / "generalise.json"
        fold = json.loads(cached.read_text()) if cached.exists() else {}
        # an evaluation from before models rejected unknown signs is redone
        if "greedy_no_rejection" not in fold.get("eval", {}):
            log(f"evaluate {best}")
            t0 = time.perf_counter()
            ev = evaluate(best, lm).to_dict()
            checks = check_model(best).to_dict()
            fold = {"eval": ev, "checks": checks, "seconds": time.perf_counter() - t0}
            atomic_write_text(cached, json.dumps(fold, indent=1))
        if conditions and "conditions" not in fold:
            log(f"evaluate {best} under other cameras and signers")
            fold["conditions"] = condition_wers(best, lm, beam_wer(fold["eval"], False)[1])
            atomic_write_text(cached, json.dumps(fold, indent=1))
        folds[signer] = fold
    return folds


def fold_summary(folds: dict[str, Any]) -> dict[str, Any]:
    """Mean and worst fold of isolated top-1 and best-alpha beam + LM WER, with and without
    rejection (``_no_rejection`` keys), and the nested-alpha WER (:func:`nested_alpha_wer`)."""
    summary: dict[str, Any] = {}
    for rejection, suffix in ((True, ""), (False, "_no_rejection")):
        top1 = [
            f["eval"].get("isolated_accuracy" + suffix) or f["eval"]["isolated_accuracy"]
            for f in folds.values()
        ]
        wer = [beam_wer(f["eval"], rejection)[0] for f in folds.values()]
        summary |= {
            "isolated_top1_mean" + suffix: float(np.mean(top1)),
            "isolated_top1_worst" + suffix: float(np.min(top1)),
            "wer_beam_lm_mean" + suffix: float(np.mean(wer)),
            "wer_beam_lm_worst" + suffix: float(np.max(wer)),
        }
    nested = nested_alpha_wer({k: f["eval"] for k, f in folds.items()})
    if nested:
        wers = [v["wer"] for v in nested.values()]
        summary |= {
            "wer_beam_lm_nested": nested,
            "wer_beam_lm_nested_mean": float(np.mean(wers)),
            "wer_beam_lm_nested_worst": float(np.max(wers)),
        }
    return summary


def seed_spread(seeds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per held-out signer and over all runs, without rejection (as the default model is
    shipped): ``seeds`` maps a training seed to its folds (:func:`_run_folds`). Returns
    ``{"seeds": [...], "folds": {signer: {"isolated_top1": [per seed], "wer_beam_lm": [...]}},
    "isolated_top1_mean", "isolated_top1_worst", "wer_beam_lm_mean", "wer_beam_lm_worst"}``,
    the means over seeds of each fold's numbers, mean and worst over folds."""
    signers = list(next(iter(seeds.values())))
    per: dict[str, dict[str, list[float]]] = {}
    for signer in signers:
        evals = [folds[signer]["eval"] for folds in seeds.values() if signer in folds]
        per[signer] = {
            "isolated_top1": [
                e.get("isolated_accuracy_no_rejection") or e["isolated_accuracy"] for e in evals
            ],
            "wer_beam_lm": [beam_wer(e, rejection=False)[0] for e in evals],
        }
    top1 = [float(np.mean(v["isolated_top1"])) for v in per.values()]
    wer = [float(np.mean(v["wer_beam_lm"])) for v in per.values()]
    return {
        "seeds": [int(k) for k in seeds],
        "folds": per,
        "isolated_top1_mean": float(np.mean(top1)),
        "isolated_top1_worst": float(np.min(top1)),
        "wer_beam_lm_mean": float(np.mean(wer)),
        "wer_beam_lm_worst": float(np.max(wer)),
    }


def leave_one_signer_out(
    config_path: str | Path,
    lm: str | Path,
    out_dir: str | Path = "runs/generalise",
    overrides: Sequence[str] = (),
    signers: Sequence[str] = ASL_COFFEE_SIGNERS,
    log: Any = print,
    extra_seeds: Sequence[int] = (),
) -> dict[str, Any]:
    """Train one run per held-out signer (resuming unfinished ones), evaluate each; summary.

    ``extra_seeds``: the same folds trained again with each of these training seeds (model
    initialisation, batch order and dropout; the same sentences) in ``out_dir/seed-N``, for
    the run-to-run spread (:func:`seed_spread`); everything else uses the config's own seed."""
    out_dir = Path(out_dir)
    base = load_config(Path(config_path), list(overrides))
    folds = _run_folds(base, lm, out_dir, signers, log)
    summary: dict[str, Any] = {
        "config": str(config_path),
        "overrides": list(overrides),
        "folds": folds,
        **fold_summary(folds),
    }
    if extra_seeds:
        runs = {str(base.seed): folds}
        for seed in extra_seeds:
            other = replace(base, seed=seed)
            runs[str(seed)] = _run_folds(
                other, lm, out_dir / f"seed-{seed}", signers, log, conditions=False
            )
        summary["seed_spread"] = seed_spread(runs)
    atomic_write_text(out_dir / "loso.json", json.dumps(summary, indent=1))
    return summary
