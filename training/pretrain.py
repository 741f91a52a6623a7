"""Pretrain a student's encoder on other people's signs; CTC training then starts from it.

    signstream train pretrain [--config training/configs/generalist.toml] [--out runs/pretrain]
        [--datasets data/wlasl50-real data/bhutanese-distract] [--epochs 40]

asl-coffee has three signers; WLASL-50's real clips have dozens, and the Bhutanese set adds
another. An encoder that has learned to tell 30-odd signs of many people apart may carry that
over to the asl-coffee signs of people it has never seen. The run trains the config's model
(same family, size and feature spec) as a clip classifier (:class:`training.wlasl.
PooledClassifier`: hidden states, masked mean, linear) on every isolated clip of
``--datasets`` and writes its encoder weights to ``OUT/encoder.pt``; ``model.encoder_init`` in
a training config loads every tensor whose name and shape match (all but the CTC output layer).

Held back, so that the generalisation checks (training/generalise.py) stay clean: every clip
those checks test is left out. WLASL-50's CAN and NO (cross-dataset), and of its other glosses
(sorted) the odd-numbered half: :func:`heldback_false_accepts` measures the unknown-sign false
accepts on that half, which neither a pretrained nor a plain model has seen. The Bhutanese
calibration words, the tutorial signer and Mexican SL are not among the default datasets.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.atomic import atomic_path, atomic_write_text
from engine.dataset import Dataset
from engine.features import compute_features
from engine.landmarks import LandmarkSequence
from training.augment import AugmentConfig, augment
from training.config import TrainConfig, load_config
from training.models.base import build_model
from training.trainer import adamw_cosine
from training.wlasl import PooledClassifier, stack_clips

__all__ = [
    "PretrainConfig",
    "heldback_false_accepts",
    "load_encoder_init",
    "other_people_clips",
    "pretrain_encoder",
    "wlasl_heldback_glosses",
]

REPO = Path(__file__).resolve().parents[1]
ENCODER_FILE = "encoder.pt"
WLASL = "data/wlasl50-real"
# WLASL-50 glosses the cross-dataset check tests (training/generalise.py CROSS_DATASET)
WLASL_CROSS = ("can", "no")


@dataclass(frozen=True)
class PretrainConfig:
    config: str = str(REPO / "training" / "configs" / "generalist.toml")  # model + features
    datasets: tuple[str, ...] = (WLASL, "data/bhutanese-distract")
    out: str = "runs/pretrain"
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0


def wlasl_heldback_glosses(glosses: Sequence[str]) -> tuple[str, ...]:
    """The WLASL-50 glosses kept out of pretraining for the false-accept comparison."""
    others = sorted(set(glosses) - set(WLASL_CROSS))
    return tuple(others[1::2])


def other_people_clips(datasets: Sequence[str]) -> tuple[list[LandmarkSequence], list[str]]:
    """Every usable clip of ``datasets`` and its label ``"<dataset>:<gloss>"``; of WLASL-50,
    not the glosses the generalisation checks test (module docstring)."""
    seqs, labels = [], []
    for path in datasets:
        ds = Dataset(path)
        skip: set[str] = set()
        if Path(path).name == Path(WLASL).name:
            skip = set(WLASL_CROSS) | set(wlasl_heldback_glosses([i.gloss for i in ds.infos]))
        for info in ds.infos:
            if len(info.glosses) == 1 and info.gloss not in skip:
                seqs.append(ds[info.index])
                labels.append(f"{Path(path).name}:{info.gloss}")
    return seqs, labels


def pretrain_encoder(
    config: PretrainConfig, train_config: TrainConfig | None = None, log: Any = print
) -> Path:
    """Train the clip classifier; returns ``OUT/encoder.pt`` (a finished run is not repeated).
    ``train_config``: the model and features to pretrain (default: ``config.config``)."""
    out = Path(config.out)
    target = out / ENCODER_FILE
    if target.exists():
        return target
    if train_config is None:
        train_config = load_config(Path(config.config))
    spec = train_config.feature_spec
    seqs, labels = other_people_clips(config.datasets)
    classes = sorted(set(labels))
    y_all = torch.tensor([classes.index(x) for x in labels])
    torch.manual_seed(config.seed)
    m = train_config.model
    encoder = build_model(m.family, spec.dim, 2, m.preset, m.overrides)
    model = PooledClassifier(encoder, len(classes))
    steps = math.ceil(len(seqs) / config.batch_size) * config.epochs
    optimizer, scheduler = adamw_cosine(
        model.parameters(), config.lr, config.weight_decay, steps, 0.05, 0.02
    )
    log(f"pretrain {m.family} {m.preset} on {len(seqs)} clips, {len(classes)} classes")
    history = []
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        feats = [compute_features(augment(s, AugmentConfig(), rng), spec).values for s in seqs]
        order = torch.randperm(len(seqs), generator=torch.Generator().manual_seed(epoch)).tolist()
        model.train()
        total, right, loss_sum = 0, 0, 0.0
        for b in range(0, len(order), config.batch_size):
            idx = order[b : b + config.batch_size]
            x, lengths = stack_clips([feats[j] for j in idx])
            logits = model(x, lengths)
            loss = F.cross_entropy(logits, y_all[idx], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            right += int((logits.argmax(1) == y_all[idx]).sum())
            total += len(idx)
        history.append({"epoch": epoch + 1, "loss": loss_sum / total, "train_acc": right / total,
                        "seconds": time.perf_counter() - t0})  # fmt: skip
        if (epoch + 1) % 10 == 0:
            log(f"epoch {epoch + 1}: loss {loss_sum / total:.3f} train acc {right / total:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / "pretrain.json",
        json.dumps({"clips": len(seqs), "classes": classes, "history": history}, indent=1),
    )
    with atomic_path(target) as tmp:
        torch.save(
            {"family": m.family, "preset": m.preset, "in_dim": spec.dim,
             "state": encoder.state_dict()},
            tmp,
        )  # fmt: skip
    return target


def load_encoder_init(model: torch.nn.Module, path: str | Path, family: str, in_dim: int) -> int:
    """Copy the tensors of ``path`` (from :func:`pretrain_encoder`) whose name and shape match
    into ``model``; returns how many. The CTC output layer (its size is the vocabulary's) is
    the one that does not match."""
    d = torch.load(path, map_location="cpu", weights_only=False)
    if d["family"] != family or d["in_dim"] != in_dim:
        raise ValueError(
            f"{path}: an encoder of {d['family']} on {d['in_dim']} features, the model is "
            f"{family} on {in_dim}"
        )
    own = model.state_dict()
    match = {k: v for k, v in d["state"].items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(match, strict=False)
    return len(match)


def heldback_false_accepts(
    models: Sequence[str | Path], data_dir: Path = REPO / "data"
) -> dict[str, Any]:
    """False accepts (no threshold) of each model on WLASL-50's held-back glosses."""
    from training.generalise import NOTHING, decide_clips

    ds = Dataset(data_dir / Path(WLASL).name)
    held = set(wlasl_heldback_glosses([i.gloss for i in ds.infos]))
    seqs = [ds[i.index] for i in ds.infos if i.gloss in held]
    return {
        "glosses": sorted(held),
        "clips": len(seqs),
        "false_accept": {
            str(m): float(np.mean([d.gloss != NOTHING for d in decide_clips(m, seqs)]))
            for m in models
        },
    }
