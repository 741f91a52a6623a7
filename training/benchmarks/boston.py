"""Continuous CTC recognition of the REAL RWTH-BOSTON-104 sentences (hand/nose tracks).

``signstream train boston --out runs/boston``: train on the database's train sentences, report
WER on its test sentences, greedy and beam search + a KenLM gloss LM, through the engine's
:class:`~engine.decoder.GlossDecoder`. Reads top to bottom:

1. data: :func:`training.importers.boston104.import_boston104`; the train split loses
   ``dev_fraction`` of each signer's sentences to a dev set (best epoch, LM weight and bonus
   are chosen on it, never on the test sentences);
2. features: :func:`engine.features.compute_features` with ``FeatureSpec(inputs="tracks")``
   (hand positions relative to the nose in a per-sequence scale, plus velocities), the one
   feature path the engine uses too;
3. training: CTC on the real sentences, no synthesis; every epoch sees ``copies`` augmented
   renderings of each sentence (time stretch, other capture rates, frame drops, small camera
   changes and track noise; :mod:`training.data.augment`), deterministic from ``(seed, epoch)``;
   AdamW, warm-up + cosine, gradient clipping, the model families of :mod:`training.models`;
4. checkpoints ``last.pt`` (every epoch; ``resume`` continues it with the same results) and
   ``best.pt`` (best dev WER), readable by :func:`training.trainer.load_checkpoint`, so
   ``signstream train export`` turns them into ONNX;
5. LM: order-``lm_order`` KenLM from the training sentences only (dev and test excluded);
6. evaluation: greedy and beam+LM WER on dev (sweep) and test (at the dev-chosen setting);
   ``results.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from engine.atomic import atomic_write_text
from engine.data_root import data_root
from engine.decoder import DecoderConfig, GlossDecoder
from engine.features import TRACK_INPUTS, FeatureSpec
from engine.landmarks import LandmarkSequence
from engine.vocabulary import Vocabulary
from training.batches import Batch, batches, predict
from training.checkpoint import Checkpoint, save_checkpoint
from training.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from training.data.augment import AugmentConfig, augment
from training.data.sentences import Example, features_of
from training.importers.boston104 import import_boston104
from training.lm import LMConfig, build_lm, perplexity
from training.loop import Loop, LoopState, epoch_seed
from training.models.base import SequenceModel, build_model
from training.trainer import ctc_loss, schedule_of
from training.wer import WerCounts, corpus_wer

__all__ = ["BOSTON_AUGMENT", "BostonConfig", "BostonData", "train_boston"]

# Other recordings of the same signers: mostly other speeds, a little camera change and noise.
# No mirror (all three signers sign right-handed) and no hand dropout (the tracks never miss).
BOSTON_AUGMENT = AugmentConfig(
    mirror=0.0, rotation_degrees=6.0, scale=(0.9, 1.1), shear=0.05, perspective=0.02,
    hand_jitter=0.02, speed=(0.75, 1.35), fps=(20.0, 25.0, 30.0), fps_probability=0.3,
    frame_drop=0.05, hand_dropout=0.0, partial_body=0.0,
)  # fmt: skip
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class BostonConfig:
    """One BOSTON-104 run."""

    # the folder of hands_condensed.csv & co.
    data_root: str = field(default_factory=lambda: str(data_root() / "boston104"))
    out: str = "runs/boston"  # run folder: checkpoints, LM, results.json
    family: str = "bilstm_student"  # a family of training.models
    preset: str = "small"  # tiny | small | full
    model_overrides: dict[str, Any] = field(default_factory=dict)  # family config changes
    fps: float = 30.0  # feature frame rate (the recordings' own)
    epochs: int = 60  # best dev WER came at epoch 24 of 60 in the reference CPU run
    copies: int = 2  # augmented renderings of each training sentence per epoch
    batch_size: int = 16
    lr: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.02
    grad_clip: float = 1.0
    dev_fraction: float = 0.1  # of each signer's train sentences, kept for choosing
    augment: bool = True  # BOSTON_AUGMENT on the training renderings
    lm_order: int = 3
    beam_width: int = 16
    alphas: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)  # LM weights tried on dev
    betas: tuple[float, ...] = (0.0, 1.0, 2.0)  # gloss insertion bonuses tried on dev
    seed: int = 0
    num_threads: int = 0  # torch CPU threads (0: torch's default)

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec(fps=self.fps, inputs=TRACK_INPUTS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BostonConfig:
        d = dict(d)
        for k in ("alphas", "betas"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def train_config(self) -> TrainConfig:
        """The same run as a :class:`TrainConfig`, so the checkpoints load and export like any."""
        out = Path(self.out)
        return TrainConfig(
            name=out.name,
            out_dir=str(out.parent),
            data=DataConfig(
                dataset=self.data_root,
                grammar="",
                test_signers=(),
                exclude_glosses=(),
                idle_gloss="",
                dev_fraction=self.dev_fraction,
                seed=self.seed,
            ),
            model=ModelConfig(self.family, self.preset, dict(self.model_overrides)),
            optim=OptimConfig(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                warmup_fraction=self.warmup_fraction,
                min_lr_fraction=self.min_lr_fraction,
                grad_clip=self.grad_clip,
                num_threads=self.num_threads,
            ),
            features=self.feature_spec.to_dict(),
            device="cpu",
            seed=self.seed,
        )


def split_dev(
    seqs: Sequence[LandmarkSequence], fraction: float, seed: int
) -> tuple[list[LandmarkSequence], list[LandmarkSequence]]:
    """Per signer, hold back ``fraction`` of the sentences: (train, dev), deterministic."""
    rng = np.random.default_rng([seed, 104])
    train: list[LandmarkSequence] = []
    dev: list[LandmarkSequence] = []
    for signer in sorted({s.signer for s in seqs}):
        mine = [s for s in seqs if s.signer == signer]
        order = rng.permutation(len(mine))
        n_dev = round(fraction * len(mine)) if fraction > 0 else 0
        dev += [mine[i] for i in order[:n_dev]]
        train += [mine[i] for i in order[n_dev:]]
    key = lambda s: int(s.extra["video"])  # noqa: E731 - video order: stable across runs
    return sorted(train, key=key), sorted(dev, key=key)


class BostonData:
    """Sentences of the three splits, the vocabulary (training glosses) and their features."""

    def __init__(self, config: BostonConfig) -> None:
        self.config = config
        self.spec = config.feature_spec
        items = list(import_boston104(config.data_root))
        problems = [i for i in items if not isinstance(i, LandmarkSequence)]
        if problems:
            raise ValueError(f"BOSTON-104 import problems: {problems[:3]}")
        seqs = [i for i in items if isinstance(i, LandmarkSequence)]
        trainval = [s for s in seqs if s.extra["split"] == "train"]
        self.train, self.dev = split_dev(trainval, config.dev_fraction, config.seed)
        self.test = [s for s in seqs if s.extra["split"] == "test"]
        # the glosses the model trains on (and the LM knows): a gloss seen only in dev or test
        # sentences cannot be recognised and counts as an error there
        self.vocab = Vocabulary.from_glosses(g for s in self.train for g in s.glosses)

    def examples(self, seqs: Sequence[LandmarkSequence]) -> list[Example]:
        """Features and labels; a gloss outside the vocabulary gets no label (test only)."""
        out = []
        for s in seqs:
            known = tuple(g for g in s.glosses if g in self.vocab)
            e = features_of(s.replace(glosses=known, spans=None), self.spec, self.vocab)
            out.append(dataclasses.replace(e, glosses=s.glosses))
        return out

    def train_epoch(self, epoch: int) -> list[Example]:
        """``copies`` renderings of each training sentence, from ``(seed, epoch)``."""
        rng = np.random.default_rng([self.config.seed, epoch, 5])
        seqs = []
        for _ in range(self.config.copies):
            for s in self.train:
                seqs.append(augment(s, BOSTON_AUGMENT, rng) if self.config.augment else s)
        return self.examples(seqs)


# ---------------------------------------------------------------------- evaluation
def _decode_all(
    decoder: GlossDecoder, log_probs: Sequence[npt.NDArray[np.float32]]
) -> list[list[str]]:
    return [list(decoder.decode(lp).glosses) for lp in log_probs]


def _wer(examples: Sequence[Example], hyps: Sequence[Sequence[str]]) -> WerCounts:
    return corpus_wer((list(e.glosses), list(h)) for e, h in zip(examples, hyps, strict=True))


def evaluate_boston(
    model: nn.Module,
    data: BostonData,
    lm_path: Path,
    config: BostonConfig,
) -> dict[str, Any]:
    """Greedy and beam+LM WER: sweep (alpha, beta) on dev, apply the best to test."""
    device = torch.device("cpu")
    dev, test = data.examples(data.dev), data.examples(data.test)
    lp_dev, lp_test = predict(model, dev, device), predict(model, test, device)
    greedy = GlossDecoder(data.vocab)
    report: dict[str, Any] = {
        "greedy": {
            "dev": _wer(dev, _decode_all(greedy, lp_dev)).as_dict(),
            "test": _wer(test, _decode_all(greedy, lp_test)).as_dict(),
        }
    }
    beam = GlossDecoder(data.vocab, str(lm_path), DecoderConfig(method="beam"))
    sweep: dict[str, float] = {}
    best: tuple[float, float, float] | None = None
    for alpha in config.alphas:
        for beta in config.betas:
            beam.update(
                DecoderConfig(method="beam", beam_width=config.beam_width, alpha=alpha, beta=beta)
            )
            w = _wer(dev, _decode_all(beam, lp_dev)).wer
            sweep[f"alpha={alpha},beta={beta}"] = w
            if best is None or w < best[0]:
                best = (w, alpha, beta)
    assert best is not None
    _, alpha, beta = best
    beam.update(DecoderConfig(method="beam", beam_width=config.beam_width, alpha=alpha, beta=beta))
    hyps = _decode_all(beam, lp_test)
    report["beam_lm"] = {
        "alpha": alpha,
        "beta": beta,
        "beam_width": config.beam_width,
        "dev": _wer(dev, _decode_all(beam, lp_dev)).as_dict(),
        "test": _wer(test, hyps).as_dict(),
        "dev_sweep": sweep,
    }
    beam.close()
    report["test_examples"] = [
        {"ref": " ".join(e.glosses), "hyp": " ".join(h)} for e, h in zip(test, hyps, strict=True)
    ]
    return report


# ---------------------------------------------------------------------- training
def _fit(
    config: BostonConfig, data: BostonData, model: SequenceModel, out: Path, resume: bool,
    progress: bool,
) -> list[dict[str, Any]]:  # fmt: skip
    """Train ``model`` on the loop (resuming ``out/last.pt``); the epochs' history."""
    train_config = config.train_config()
    steps_per_epoch = math.ceil(len(data.train) * config.copies / config.batch_size)
    # every epoch runs (no early stop): the best dev WER's checkpoint is the one tested
    schedule = dataclasses.replace(schedule_of(train_config.optim, config.seed), patience=0)
    loop = Loop(model, schedule, steps_per_epoch)
    state = LoopState()
    if resume and (out / "last.pt").exists():
        d = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        if BostonConfig.from_dict(d["boston"]) != config:
            raise ValueError(f"{out / 'last.pt'} was trained with another config; use a new --out")
        model.load_state_dict(d["model"])
        loop.load_state_dict(d)
        state = LoopState(int(d["epoch"]), float(d["best_wer"]), list(d["history"]))

    dev = data.examples(data.dev)
    greedy = GlossDecoder(data.vocab)

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        generator = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
        return batches(data.train_epoch(epoch), config.batch_size, generator)

    def loss(batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        return ctc_loss(model(batch.x, batch.lengths).logits, batch), {}

    def dev_wer() -> float:
        return _wer(dev, _decode_all(greedy, predict(model, dev, torch.device("cpu")))).wer

    def save(state: LoopState, improved: bool) -> None:
        ck = Checkpoint(
            train_config, model.spec, data.vocab, model.state_dict(), state.epoch, state.best,
            state.history, {**loop.state_dict(), "boston": config.to_dict()},
        )  # fmt: skip
        save_checkpoint(out / "last.pt", ck)
        if improved:
            save_checkpoint(out / "best.pt", ck)

    state = loop.run(
        epoch_batches, loss, state, evaluate=dev_wer, save=save, log=print if progress else None
    )
    return state.history


def train_boston(
    config: BostonConfig, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or resume), build the LM, evaluate; returns and writes ``results.json``."""
    t_start = time.perf_counter()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    data = BostonData(config)
    spec = data.spec
    torch.manual_seed(config.seed)
    model = build_model(
        config.family, spec.dim, data.vocab.num_classes, config.preset, config.model_overrides
    )
    history = _fit(config, data, model, out, resume, progress)
    train_seconds = sum(r["seconds"] for r in history)

    best = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(best["model"])
    lm_sentences = [s.glosses for s in data.train]
    lm = build_lm(lm_sentences, out / "lm.arpa", LMConfig(order=config.lm_order))
    lm_path = lm.binary_path or lm.arpa_path
    ppl_test, oov = perplexity(lm_path, [s.glosses for s in data.test])
    report = evaluate_boston(model, data, lm_path, config)
    results = {
        "benchmark": "RWTH-BOSTON-104 (real continuous ASL, hand/nose tracks)",
        "config": config.to_dict(),
        "feature_spec": spec.to_dict(),
        "model": {
            "family": config.family,
            "preset": config.preset,
            "parameters": model.num_parameters(),
        },
        "data": {
            "train_sentences": len(data.train),
            "dev_sentences": len(data.dev),
            "test_sentences": len(data.test),
            "test_glosses": sum(len(s.glosses) for s in data.test),
            "test_oov_glosses": sum(g not in data.vocab for s in data.test for g in s.glosses),
            "vocabulary": len(data.vocab),
            "signers": sorted({s.signer for s in data.test}),
        },
        "lm": {
            "order": lm.order,
            "backend": lm.backend,
            "sentences": lm.sentences,
            "test_perplexity": ppl_test,
            "test_oov": oov,
        },
        "best_epoch": int(best["epoch"]),
        "epochs": len(history),
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - t_start,
        "history": history,
        **report,
    }
    atomic_write_text(out / RESULTS_FILE, json.dumps(results, indent=1))
    return results


def summary(results: dict[str, Any]) -> str:
    """Two lines: greedy and beam+LM test WER."""
    g, b = results["greedy"]["test"], results["beam_lm"]["test"]
    return (
        f"BOSTON-104 test ({results['data']['test_sentences']} sentences, "
        f"{results['data']['test_glosses']} glosses): greedy WER {100 * g['wer']:.1f}%, "
        f"beam+LM WER {100 * b['wer']:.1f}% (alpha {results['beam_lm']['alpha']}, "
        f"beta {results['beam_lm']['beta']}, chosen on dev)"
    )
