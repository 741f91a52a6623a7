"""Checkpoints: the weights with everything needed to evaluate, export or resume them.

Every checkpoint stores the full resolved run config, the model spec, the vocabulary and the
feature spec; a resumable one also the training loop's state (optimiser, scheduler, parts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.atomic import atomic_path
from engine.model_index import verify_file
from engine.vocabulary import Vocabulary
from training.config import TrainConfig, config_from_dict, drop_retired
from training.models.base import ModelSpec, SequenceModel, model_from_spec

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_VERSION = 1
# what a checkpoint may hold besides the weights: the loop's state (training.loop), the
# distillation projection (training.distill) and the rejection of unknown signs
# (training.rejection.RejectionFit as a dict)
EXTRA_KEYS = ("optimizer", "scheduler", "projection", "rejection")


@dataclass
class Checkpoint:
    config: TrainConfig
    spec: ModelSpec
    vocab: Vocabulary
    state: dict[str, Any]  # model state_dict
    epoch: int  # epochs completed
    best_wer: float
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # of EXTRA_KEYS

    def model(self) -> SequenceModel:
        model = model_from_spec(self.spec)
        model.load_state_dict(self.state)
        return model


def save_checkpoint(path: Path, ck: Checkpoint) -> None:
    payload = {
        "version": CHECKPOINT_VERSION,
        "config": ck.config.to_dict(),
        "model_spec": ck.spec.to_dict(),
        "vocab": list(ck.vocab.glosses),
        "feature_spec": ck.config.feature_spec.to_dict(),
        "model": ck.state,
        "epoch": ck.epoch,
        "best_wer": ck.best_wer,
        "history": ck.history,
        **ck.extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """A checkpoint written by :func:`save_checkpoint` (``ValueError`` if it is something else;
    :class:`~engine.errors.ModelLoadError` if it is a shipped one that differs from the index)."""
    verify_file(path)
    try:
        d = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(d, dict) or d.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a SignStream checkpoint (version {CHECKPOINT_VERSION})")
    return Checkpoint(
        config=config_from_dict(TrainConfig, drop_retired(d["config"], str(path))),
        spec=ModelSpec.from_dict(d["model_spec"]),
        vocab=Vocabulary(tuple(d["vocab"])),
        state=d["model"],
        epoch=int(d["epoch"]),
        best_wer=float(d["best_wer"]),
        history=list(d["history"]),
        extra={k: d[k] for k in EXTRA_KEYS if k in d},
    )
