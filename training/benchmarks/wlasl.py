"""Isolated-sign accuracy on the REAL WLASL-50 clips, with a leakage-free split.

``signstream train wlasl --out runs/wlasl``. The shared ``wlasl50.npz`` holds 30 clips per
gloss: ``name = "<gloss>/<i>"``, the first ``k`` (``i < k``, 4-13 per gloss, 423 in all) are
the real multi-signer clips (``real``), the others are the uploader's augmentations of them.

Which real clip an augmentation comes from is not stored. In the data, augmentation ``i``
is closest to real clip ``i mod k`` for 68% of them (chance: 12%), so the uploader cycled
through the real clips; the rest are too distorted to tell. That is not certain enough to
keep test clips out of training, so by default NO uploader augmentation is used: training sees
only the real clips outside the test fold, with our own landmark augmentations
(:mod:`training.data.augment`). ``uploader_augmentations=True`` adds the augmentations whose
``i mod k`` parent is a training clip AND whose nearest real clip (mean absolute landmark
difference) is a training clip too; it is reported separately as the less certain number.

Split: stratified k-fold over the real clips of each gloss (``folds``, seeded); every real
clip is a test clip exactly once when all folds run, and a gloss with fewer clips than folds
simply has no test clip in some folds. Top-1 and top-5 are pooled over all test clips.

Model: an encoder of :mod:`training.models` (its ``hidden`` output, ``(B, T, H)``), masked mean
pooling over time, a linear layer over the glosses; cross-entropy with label smoothing.
Features: :func:`engine.features.compute_features` on the layout-``170`` landmarks (pose
points 0 and 11-16 of it feed the pose block).
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
import torch.nn.functional as F
from torch import nn

from engine.arrayfile import load_npz
from engine.atomic import atomic_path, atomic_write_text
from engine.data_root import data_root
from engine.features import FeatureSpec, compute_features
from engine.landmarks import LandmarkSequence
from training.data.augment import AugmentConfig, augment
from training.loop import Loop, LoopState, Schedule
from training.models.base import SequenceModel, build_model

__all__ = [
    "WLASL_POSE_POINTS",
    "PooledClassifier",
    "WlaslConfig",
    "WlaslSplit",
    "load_wlasl",
    "stack_clips",
    "train_wlasl",
    "wlasl_folds",
]

LAYOUT = "170"
# The pose points layout 170 stores that the pose block can use: nose, shoulders, elbows,
# wrists (its hips and knees are mostly out of the picture in signing videos).
WLASL_POSE_POINTS: tuple[int, ...] = (0, 11, 12, 13, 14, 15, 16)
NOMINAL_FPS = 30.0  # the clips are 30 frames each; their real rate is unknown
# Other people, other cameras, other speeds; mirror covers left-handed signers.
WLASL_AUGMENT = AugmentConfig(speed=(0.75, 1.35), fps_probability=0.0, partial_body=0.0)
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class WlaslConfig:
    """One WLASL-50 run (all folds)."""

    data: str = field(default_factory=lambda: str(data_root() / "wlasl50" / "wlasl50.npz"))
    out: str = "runs/wlasl"
    family: str = "featurei3d"  # encoder family of training.models
    preset: str = "tiny"
    model_overrides: dict[str, Any] = field(
        default_factory=lambda: {"width": 96, "dilations": [1, 2, 4, 1, 2, 4], "dropout": 0.2}
    )
    folds: int = 4  # stratified folds over the real clips
    run_folds: tuple[int, ...] = ()  # which folds to run (empty: all)
    epochs: int = 50
    copies: int = 1  # augmented renderings of each training clip per epoch
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.02
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    augment: bool = True
    uploader_augmentations: bool = False  # see the module docstring
    seed: int = 0
    num_threads: int = 0

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec(fps=NOMINAL_FPS, pose_points=WLASL_POSE_POINTS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class WlaslClip:
    gloss: str
    index: int  # i of "<gloss>/<i>"
    real: bool
    flat: npt.NDArray[np.float32]  # (30, 170)


def load_wlasl(path: str | Path) -> list[WlaslClip]:
    """The clips of the WLASL-50 file (raises ArrayFileError naming it when it is unreadable)."""
    z = load_npz(path, ("X", "name", "real"))
    x, names, real = z["X"].astype(np.float32), z["name"], z["real"].astype(bool)
    clips = []
    for i, name in enumerate(names.tolist()):
        gloss, _, idx = str(name).rpartition("/")
        clips.append(WlaslClip(gloss, int(idx), bool(real[i]), x[i]))
    return clips


@dataclass(frozen=True)
class WlaslSplit:
    train: tuple[int, ...]  # clip indices: real training clips (+ allowed augmentations)
    test: tuple[int, ...]  # real held-out clips
    augmentations: int  # uploader augmentations among train


def _parent(clips: Sequence[WlaslClip], i: int, reals: dict[str, list[int]]) -> int:
    """The real clip augmentation ``i`` cycles back to (``index mod k``)."""
    c = clips[i]
    k = len(reals[c.gloss])
    return next(j for j in reals[c.gloss] if clips[j].index == c.index % k)


def _nearest_real(clips: Sequence[WlaslClip], i: int, reals: dict[str, list[int]]) -> int:
    c = clips[i]
    d = [float(np.abs(c.flat - clips[j].flat).mean()) for j in reals[c.gloss]]
    return reals[c.gloss][int(np.argmin(d))]


def wlasl_folds(
    clips: Sequence[WlaslClip], folds: int, seed: int, uploader_augmentations: bool = False
) -> list[WlaslSplit]:
    """Stratified k-fold splits of the real clips; see the module docstring."""
    rng = np.random.default_rng([seed, 50])
    reals: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        if c.real:
            reals.setdefault(c.gloss, []).append(i)
    fold_of: dict[int, int] = {}
    offset = 0
    for gloss in sorted(reals):
        order = rng.permutation(reals[gloss])
        for r, i in enumerate(order.tolist()):
            # the offset spreads glosses with few clips over all folds
            fold_of[int(i)] = (r + offset) % folds
        offset += len(order)
    augs = [i for i, c in enumerate(clips) if not c.real]
    links = {i: (_parent(clips, i, reals), _nearest_real(clips, i, reals)) for i in augs}
    out = []
    for f in range(folds):
        test = sorted(i for i, k in fold_of.items() if k == f)
        train = sorted(i for i, k in fold_of.items() if k != f)
        allowed: list[int] = []
        if uploader_augmentations:
            allowed = [i for i, (p, n) in links.items() if fold_of[p] != f and fold_of[n] != f]
        out.append(WlaslSplit(tuple(sorted(train + allowed)), tuple(test), len(allowed)))
    return out


class PooledClassifier(nn.Module):
    """``(B, T, F)`` -> gloss logits ``(B, G)``: encoder hidden states, masked mean, linear."""

    def __init__(self, encoder: SequenceModel, num_glosses: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.hidden_dim, num_glosses)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(masked_mean(self.encoder(x, lengths).hidden, lengths))  # type: ignore[no-any-return]


def masked_mean(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, H)`` -> ``(B, H)``: the mean over each sequence's first ``lengths`` frames."""
    t = torch.arange(hidden.shape[1], device=hidden.device)
    mask = (t[None, :] < lengths[:, None]).to(hidden.dtype)
    return (hidden * mask[:, :, None]).sum(1) / lengths[:, None].clamp(min=1)


def _sequence(clip: WlaslClip) -> LandmarkSequence:
    return LandmarkSequence.from_flat(
        clip.flat,
        LAYOUT,
        NOMINAL_FPS,
        glosses=(clip.gloss,),
        source=f"wlasl50/{clip.gloss}/{clip.index}",
    )


def stack_clips(features: Sequence[npt.NDArray[np.float32]]) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(len(f) for f in features)
    x = np.zeros((len(features), t, features[0].shape[1]), np.float32)
    for i, f in enumerate(features):
        x[i, : len(f)] = f
    return torch.from_numpy(x), torch.tensor([len(f) for f in features], dtype=torch.int64)


@torch.no_grad()
def _logits(model: nn.Module, features: Sequence[npt.NDArray[np.float32]]) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(features), 64):
        x, lengths = stack_clips(features[i : i + 64])
        out.append(model(x, lengths))
    return torch.cat(out)


def _fit_fold(
    config: WlaslConfig, clips: Sequence[WlaslClip], split: WlaslSplit, glosses: list[str],
    fold: int, seqs: dict[int, LandmarkSequence], model: PooledClassifier, progress: bool,
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """Train one fold's classifier on the loop (resuming its ``last.pt``): the history and
    the epoch it resumed from."""
    out = Path(config.out) / f"fold{fold}"
    spec = config.feature_spec
    label = {g: i for i, g in enumerate(glosses)}
    encoder = model.encoder
    steps = math.ceil(len(split.train) * config.copies / config.batch_size)
    schedule = Schedule(
        epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
        warmup_fraction=config.warmup_fraction, min_lr_fraction=config.min_lr_fraction,
        grad_clip=config.grad_clip, seed=config.seed * 31 + fold,
    )  # fmt: skip
    loop = Loop(model, schedule, steps)
    state = LoopState()
    last = out / "last.pt"
    if last.exists():
        d = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(d["model"])
        loop.load_state_dict(d)
        state = LoopState(int(d["epoch"]), history=list(d["history"]))
    start = state.epoch

    def epoch_batches(epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng([config.seed, fold, epoch])
        items = [i for _ in range(config.copies) for i in split.train]
        feats = [
            compute_features(
                augment(seqs[i], WLASL_AUGMENT, rng) if config.augment else seqs[i], spec
            ).values
            for i in items
        ]
        ys = torch.tensor([label[clips[i].gloss] for i in items])
        order = torch.randperm(len(items), generator=torch.Generator().manual_seed(epoch)).tolist()
        for b in range(0, len(order), config.batch_size):
            idx = order[b : b + config.batch_size]
            x, lengths = stack_clips([feats[j] for j in idx])
            yield x, lengths, ys[idx]

    def loss(
        batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], epoch: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        x, lengths, y = batch
        return F.cross_entropy(model(x, lengths), y, label_smoothing=config.label_smoothing), {}

    def save(state: LoopState, improved: bool) -> None:
        with atomic_path(last) as tmp:
            torch.save(
                {
                    "config": config.to_dict(),
                    "feature_spec": spec.to_dict(),
                    "glosses": glosses,
                    "model_spec": encoder.spec.to_dict(),
                    "model": model.state_dict(),
                    **loop.state_dict(),
                    "epoch": state.epoch,
                    "history": state.history,
                },
                tmp,
            )

    def log(line: str) -> None:
        if progress and state.epoch % 10 == 0:
            print(f"fold {fold} {line}", flush=True)

    state = loop.run(epoch_batches, loss, state, save=save, log=log)
    return state.history, start


def _train_fold(
    config: WlaslConfig,
    clips: Sequence[WlaslClip],
    split: WlaslSplit,
    glosses: list[str],
    fold: int,
    progress: bool,
) -> dict[str, Any]:
    out = Path(config.out) / f"fold{fold}"
    out.mkdir(parents=True, exist_ok=True)
    done = out / RESULTS_FILE
    if done.exists():  # a resumed run keeps finished folds
        return json.loads(done.read_text())  # type: ignore[no-any-return]
    spec = config.feature_spec
    label = {g: i for i, g in enumerate(glosses)}
    seqs = {i: _sequence(clips[i]) for i in (*split.train, *split.test)}
    test_x = [compute_features(seqs[i], spec).values for i in split.test]
    test_y = torch.tensor([label[clips[i].gloss] for i in split.test])
    torch.manual_seed(config.seed * 31 + fold)
    encoder = build_model(config.family, spec.dim, 2, config.preset, config.model_overrides)
    model = PooledClassifier(encoder, len(glosses))
    t_fold = time.perf_counter()
    history, start = _fit_fold(config, clips, split, glosses, fold, seqs, model, progress)
    logits = _logits(model, test_x)
    top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices
    correct1 = (top5[:, 0] == test_y).tolist()
    correct5 = (top5 == test_y[:, None]).any(1).tolist()
    result = {
        "fold": fold,
        "train_clips": len(split.train),
        "train_uploader_augmentations": split.augmentations,
        "test_clips": len(split.test),
        "top1": float(np.mean(correct1)),
        "top5": float(np.mean(correct5)),
        "correct1": int(sum(correct1)),
        "correct5": int(sum(correct5)),
        "train_seconds": time.perf_counter() - t_fold + sum(h["seconds"] for h in history[:start]),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": history[-1]["loss"] if history else None,
    }
    atomic_write_text(done, json.dumps(result, indent=1))
    return result


def train_wlasl(config: WlaslConfig, progress: bool = True) -> dict[str, Any]:
    """Train and test every fold (resuming finished and interrupted ones); ``results.json``."""
    t0 = time.perf_counter()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    clips = load_wlasl(config.data)
    glosses = sorted({c.gloss for c in clips})
    splits = wlasl_folds(clips, config.folds, config.seed, config.uploader_augmentations)
    run = config.run_folds or tuple(range(config.folds))
    folds = [_train_fold(config, clips, splits[f], glosses, f, progress) for f in run]
    tested = sum(f["test_clips"] for f in folds)
    results = {
        "benchmark": "WLASL-50 real clips (isolated, 50 glosses)",
        "config": config.to_dict(),
        "feature_spec": config.feature_spec.to_dict(),
        "real_clips": sum(c.real for c in clips),
        "glosses": len(glosses),
        "folds": folds,
        "test_clips": tested,
        "top1": sum(f["correct1"] for f in folds) / max(1, tested),
        "top5": sum(f["correct5"] for f in folds) / max(1, tested),
        "train_seconds": sum(f["train_seconds"] for f in folds),
        "total_seconds": time.perf_counter() - t0,
    }
    atomic_write_text(Path(config.out) / RESULTS_FILE, json.dumps(results, indent=1))
    return results


def summary(results: dict[str, Any]) -> str:
    return (
        f"WLASL-50 real clips: top-1 {100 * results['top1']:.1f}%, top-5 "
        f"{100 * results['top5']:.1f}% over {results['test_clips']} held-out real clips "
        f"({len(results['folds'])} of {results['config']['folds']} folds)"
    )
