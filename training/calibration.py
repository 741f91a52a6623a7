"""How well "Fit to me" works: the k-shot curve on people the model never saw.

For each held-out person (someone of the people dataset, :mod:`training.data.people`, whose
clips the model did not train on), the clips of each vocabulary gloss they recorded are put in
a fixed random order: the first ``k`` are that person's calibration takes, the clips after the
first ``max(ks)`` are evaluated (the same clips for every ``k``, so the curve compares like with
like). The model is fine-tuned on the takes exactly as the app's Fit to me does
(:func:`training.teach.fine_tuned` with :data:`training.teach.CALIBRATION`, the original training
data mixed in), and compared with the model before:

* **isolated top-1** on the evaluated clips, decided as the app decides (one gloss of the whole
  vocabulary or nothing; a rest clip is right when it gives nothing);
* **continuous WER** (beam + LM) on sentences synthesised from the evaluated clips
  (:mod:`training.heldout_people`'s way);
* **nothing forgotten**: the other held-out people's top-1 with the model fitted to this one;
* the fine-tune's wall time.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from engine.dataset import Dataset, SampleInfo
from engine.decoder import DecoderConfig, GlossDecoder
from engine.model import read_model_info
from engine.model_index import lm_beside
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.data.grammar import load_grammar
from training.data.people import IDLE
from training.data.registry import DATA_DIR, NOTHING
from training.evaluate import load_for_eval
from training.generalise import decide_clips
from training.heldout_people import _person_wers
from training.teach import CALIBRATION, TeachConfig, fine_tuned

__all__ = [
    "KS",
    "OWN",
    "Curve",
    "HeldOutPerson",
    "Split",
    "choose_people",
    "fit_person",
    "heldout_people",
    "k_shot_curve",
    "person_curve",
    "summarise_curve",
]

KS = (1, 3, 5)  # takes per gloss on the curve
DEFAULT_K = 3  # the app's default: "nothing forgotten" is measured after this many
MAX_EVAL_PER_GLOSS = 20  # evaluated clips per person and gloss (asl-coffee's have hundreds)
WER_SENTENCES = 20  # per person and model
OWN = "asl-coffee"  # the held-out signers the models were first made for: always reported
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HeldOutPerson:
    signer: str
    dataset: str  # "asl-coffee" or "crowd"
    infos: tuple[SampleInfo, ...]  # their isolated clips of the vocabulary (rest included)


@dataclass(frozen=True)
class Split:
    """One person's takes for each k, and the clips evaluated (the same for every k)."""

    takes: dict[int, tuple[SampleInfo, ...]]
    evaluated: tuple[SampleInfo, ...]


def _order(signer: str) -> str:
    return hashlib.sha1(signer.encode()).hexdigest()


def heldout_people(
    dataset: Dataset, ck: Checkpoint, min_glosses: int = 1, ks: Sequence[int] = KS
) -> list[HeldOutPerson]:
    """The people of ``dataset`` that ``ck`` never trained on, in a fixed hashed order.

    Trained on: for a model of the people dataset with a held-out fold (``data.test_fold``),
    everyone outside that fold; else the signers of ``ck``'s own dataset that are not its test
    signers (the people dataset keeps asl-coffee's names; the crowd was in none of our
    asl-coffee trainings). Only people with more than ``max(ks)`` clips of at least
    ``min_glosses`` vocabulary glosses.
    """
    data = ck.config.data
    own = Path(data.dataset).name  # "asl-coffee", or "people"
    wanted = set(ck.vocab.glosses)
    by_signer: dict[str, list[SampleInfo]] = defaultdict(list)
    for info in dataset.infos:
        if len(info.glosses) != 1 or not (info.gloss in wanted or info.gloss == IDLE):
            continue
        source = info.extra.get("dataset", "")
        if data.test_fold >= 0:
            if info.extra.get("fold") != str(data.test_fold):
                continue  # trained on
        elif source == own and info.signer not in data.test_signers:
            continue  # trained on
        by_signer[info.signer].append(info)
    out = []
    for signer, infos in by_signer.items():
        counts: dict[str, int] = defaultdict(int)
        for i in infos:
            counts[i.gloss] += i.gloss != IDLE
        if sum(n > max(ks) for n in counts.values()) >= min_glosses:
            source = infos[0].extra.get("dataset", "")
            out.append(HeldOutPerson(signer, source, tuple(infos)))
    return sorted(out, key=lambda p: _order(p.signer))


def split_person(person: HeldOutPerson, ks: Sequence[int] = KS, seed: int = 0) -> Split:
    """Takes: the first k clips of each gloss (recorded more than max(ks) times) in a random
    order of the person's own; evaluated: at most MAX_EVAL_PER_GLOSS of the clips after the
    first max(ks), rest clips included."""
    rng = np.random.default_rng([seed, int(_order(person.signer)[:8], 16)])
    by_gloss: dict[str, list[SampleInfo]] = defaultdict(list)
    for info in person.infos:
        by_gloss[info.gloss].append(info)
    top = max(ks)
    takes: dict[int, list[SampleInfo]] = {k: [] for k in ks}
    evaluated: list[SampleInfo] = []
    for gloss, infos in sorted(by_gloss.items()):
        order = [infos[int(i)] for i in rng.permutation(len(infos))]
        if gloss != IDLE and len(order) > top:
            for k in ks:
                takes[k] += order[:k]
            order = order[top:]
        evaluated += order[:MAX_EVAL_PER_GLOSS]
    return Split({k: tuple(v) for k, v in takes.items()}, tuple(evaluated))


def top1(model: Any, dataset: Dataset, infos: Sequence[SampleInfo]) -> float:
    """Isolated top-1 of ``model`` (a path or loaded) on ``infos``, as the app decides."""
    decisions = decide_clips(model, [dataset[i.index] for i in infos])
    want = [NOTHING if i.gloss == IDLE else i.gloss for i in infos]
    return float(np.mean([d.given() == w for d, w in zip(decisions, want, strict=True)]))


def fit_person(
    init: Path, dataset: Dataset, takes: Sequence[SampleInfo], out: Path, config: TeachConfig
) -> tuple[Path, float]:
    """``init`` fine-tuned on ``takes`` (written as the app's recordings are): the new
    checkpoint ``out`` and the fine-tune's wall time in seconds (data and training; without
    the ONNX export, which the app's run adds)."""
    with tempfile.TemporaryDirectory() as tmp:
        recordings = Dataset.create(Path(tmp) / "takes", "calibration takes")
        recordings.append([replace(dataset[i.index], signer="user:me") for i in takes])
        t0 = time.perf_counter()
        new_ck, _, _ = fine_tuned(
            Path(tmp) / "takes", load_checkpoint(init), config, lambda event: None, out.stem
        )
        seconds = time.perf_counter() - t0
    save_checkpoint(out, new_ck)
    return out, seconds


def _wer(model: Path, dataset: Dataset, infos: Sequence[SampleInfo], lm: Path | None,
         alpha: float, grammar: Path, seed: int) -> float | None:  # fmt: skip
    loaded = load_for_eval(model)
    beam = GlossDecoder(
        loaded.vocab, None if lm is None else str(lm), DecoderConfig(method="beam", alpha=alpha)
    )
    try:
        _, wers = _person_wers(
            loaded, dataset, infos, load_grammar(grammar), beam, WER_SENTENCES, seed
        )
    finally:
        beam.close()
    return wers[True]


def person_curve(
    init: Path, dataset: Dataset, person: HeldOutPerson, others: Sequence[HeldOutPerson],
    work: Path, lm: Path | None, alpha: float, grammar: Path,
    config: TeachConfig = CALIBRATION, ks: Sequence[int] = KS,
) -> dict[str, Any]:  # fmt: skip
    """One person's curve: top-1 and WER before and after k takes a gloss, fine-tune seconds,
    and (after DEFAULT_K, or the largest k below it) the other people's top-1 with the model
    fitted to this person."""
    init = init.with_suffix(".pt")  # before and after both from checkpoints: like with like
    split = split_person(person, ks)
    seed = int(_order(person.signer)[:8], 16)
    row: dict[str, Any] = {
        "signer": person.signer, "dataset": person.dataset,
        "glosses": sorted({i.gloss for i in split.takes[max(ks)]}),
        "evaluated_clips": len(split.evaluated),
        "before": {"top1": top1(init, dataset, split.evaluated),
                   "wer": _wer(init, dataset, split.evaluated, lm, alpha, grammar, seed)},
    }  # fmt: skip
    forgetting_k = max([k for k in ks if k <= DEFAULT_K] or [min(ks)])
    for k in ks:
        fitted, seconds = fit_person(
            init, dataset, split.takes[k], work / f"{seed}-k{k}.pt", config
        )
        row[f"k{k}"] = {
            "top1": top1(fitted, dataset, split.evaluated),
            "wer": _wer(fitted, dataset, split.evaluated, lm, alpha, grammar, seed),
            "takes": len(split.takes[k]),
            "fine_tune_s": round(seconds, 1),
        }
        if k == forgetting_k and others:
            # each other person's own evaluated clips: their "before" is their own row's
            row["others_after"] = {
                "k": k,
                "top1": {
                    o.signer: top1(fitted, dataset, split_person(o, ks).evaluated) for o in others
                },
            }
    return row


def choose_people(people: list[HeldOutPerson], split: str, n: int) -> list[HeldOutPerson]:
    """``split``'s share of ``people``: ``tune`` every other crowd person (settings are chosen
    there), ``report`` the model's held-out asl-coffee signers (first) and the other crowd
    people (numbers are reported there), ``all`` everyone; at most ``n``."""
    mine = [p for p in people if p.dataset == OWN]
    crowd = [p for p in people if p.dataset != OWN]
    chosen = {
        "tune": crowd[0::2],
        "report": mine + crowd[1::2],
        "all": mine + crowd,
    }[split]
    return chosen[:n]


def summarise_curve(rows: Sequence[dict[str, Any]], ks: Sequence[int]) -> dict[str, Any]:
    """Mean and worst top-1 before and after each k, WER means, fine-tune seconds, and the
    change of the other people's top-1 after one person's calibration."""
    out: dict[str, Any] = {"people": len(rows)}
    before = np.array([r["before"]["top1"] for r in rows])
    out["before"] = {"top1_mean": float(before.mean()), "top1_worst": float(before.min())}
    for k in ks:
        after = np.array([r[f"k{k}"]["top1"] for r in rows])
        wers = [r[f"k{k}"]["wer"] for r in rows if r[f"k{k}"]["wer"] is not None]
        out[f"k{k}"] = {
            "top1_mean": float(after.mean()),
            "top1_worst": float(after.min()),
            "top1_gain_mean": float((after - before).mean()),
            "wer_mean": float(np.mean(wers)) if wers else None,
            "fine_tune_s_mean": float(np.mean([r[f"k{k}"]["fine_tune_s"] for r in rows])),
        }
    wers_before = [r["before"]["wer"] for r in rows if r["before"]["wer"] is not None]
    out["before"]["wer_mean"] = float(np.mean(wers_before)) if wers_before else None
    own = {r["signer"]: r["before"]["top1"] for r in rows}
    deltas = [
        after - own[signer]
        for r in rows
        if "others_after" in r
        for signer, after in r["others_after"]["top1"].items()
    ]
    if deltas:
        out["others_top1_change"] = {
            "mean": float(np.mean(deltas)),
            "worst": float(np.min(deltas)),
            "pairs": len(deltas),
        }
    return out


@dataclass(frozen=True)
class Curve:
    people: tuple[HeldOutPerson, ...]
    rows: tuple[dict[str, Any], ...]  # person_curve's, in the people's order
    summary: dict[str, Any]  # summarise_curve's


def k_shot_curve(
    model: Path, split: str = "report", n: int = 1000, ks: Sequence[int] = KS,
    config: TeachConfig = CALIBRATION, log: TextIO | None = None,
) -> Curve:  # fmt: skip
    """The k-shot curve of ``model`` (its checkpoint beside it) on ``split``'s share of the
    people it never saw (:func:`choose_people`), each fitted as the app's Fit to me does."""
    ck = load_checkpoint(model.with_suffix(".pt"))
    dataset = Dataset(DATA_DIR / "people")
    people = choose_people(heldout_people(dataset, ck, ks=KS), split, n)
    info = read_model_info(model.with_suffix(".onnx"))
    alpha = float(info.heldout.get("lm_alpha", 1.0))
    lm = lm_beside(model.with_suffix(".onnx"))
    grammar = REPO / ck.config.data.grammar
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for person in people:
            others = [p for p in people if p is not person]
            rows.append(
                person_curve(
                    model, dataset, person, others, Path(tmp), lm, alpha, grammar, config, ks
                )
            )
            if log is not None:
                print(person.signer, json.dumps(rows[-1]), file=log, flush=True)
    return Curve(tuple(people), tuple(rows), summarise_curve(rows, ks))
