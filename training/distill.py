"""Knowledge-distillation losses: soft (frame KL at temperature T), hard (CTC), feature (MSE).

loss = alpha * soft + beta * hard + gamma * feature, where

* soft = T^2 * mean over valid frames of KL(p_teacher^T || p_student^T): the teacher's
  posteriors softened at temperature T are the target; the T^2 factor keeps the gradient scale of
  the soft term independent of T (Hinton et al. 2015);
* hard = CTC of the student on the gloss labels;
* feature = MSE between a student layer, through a learned linear projection, and the teacher's.

Several teachers: their softened posteriors are averaged per frame (optionally weighted).
Alignment: CTC teachers put their gloss spikes on different frames; averaging is sound only for
teachers trained on the same data with the same labels and frame rate (as here: same
synthesised sentences, no subsampling), whose spikes land within a frame or two of each other;
the blank mass dominates every other frame, so averaging mostly sharpens agreement on where the
blanks are and spreads a slightly wider, softer spike where a gloss is. We do not shift teachers
against each other. A causal student sees a sign later than a bidirectional teacher: the
student's lookahead should cover the teacher's spike position (see the students' ``lookahead``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.vocabulary import Vocabulary
from training.checkpoint import load_checkpoint
from training.config import DistillConfig
from training.models.base import ModelOutput, SequenceModel

__all__ = [
    "Distillation",
    "feature_loss",
    "soft_loss",
    "teacher_posteriors",
    "temperature_at",
]


def teacher_posteriors(
    logits: Sequence[torch.Tensor], temperature: float, weights: Sequence[float] = ()
) -> torch.Tensor:
    """Weighted mean of ``softmax(logits_k / T)``: ``(B, T, C)`` probabilities."""
    if not logits:
        raise ValueError("no teacher logits")
    w = torch.tensor(list(weights) if weights else [1.0] * len(logits), dtype=torch.float32)
    if len(w) != len(logits) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"need one non-negative weight per teacher, got {list(weights)}")
    w = w / w.sum()
    mixed = torch.zeros_like(logits[0], dtype=torch.float32)
    for wk, lk in zip(w, logits, strict=True):
        mixed = mixed + wk * F.softmax(lk.float() / temperature, dim=-1)
    return mixed


def _frame_mask(lengths: torch.Tensor | None, b: int, t: int, device: torch.device) -> torch.Tensor:
    if lengths is None:
        return torch.ones(b, t, dtype=torch.bool, device=device)
    return torch.arange(t, device=device)[None, :] < lengths.to(device)[:, None]


def soft_loss(
    student_logits: torch.Tensor,
    teacher_probs: torch.Tensor,
    temperature: float,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """``T^2 * KL(teacher || student)`` per frame, averaged over valid frames.

    ``student_logits`` (B, T, C) raw; ``teacher_probs`` (B, T, C) already softened at T
    (:func:`teacher_posteriors`); ``lengths`` (B,) valid frames.
    """
    b, t, _ = student_logits.shape
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)
    p = teacher_probs.float()
    kl = (p * (torch.log(p.clamp_min(1e-12)) - log_q)).sum(-1)  # (B, T)
    mask = _frame_mask(lengths, b, t, student_logits.device)
    loss: torch.Tensor = (temperature**2) * kl[mask].mean()
    return loss


def feature_loss(
    student_hidden: torch.Tensor,
    teacher_hidden: torch.Tensor,
    projection: torch.nn.Module,
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE between ``projection(student_hidden)`` (B, T, Ht) and ``teacher_hidden`` (B, T, Ht)."""
    b, t, _ = student_hidden.shape
    diff = (projection(student_hidden.float()) - teacher_hidden.float()) ** 2
    mask = _frame_mask(lengths, b, t, student_hidden.device)
    loss: torch.Tensor = diff.mean(-1)[mask].mean()
    return loss


def temperature_at(epoch: int, epochs: int, schedule: Sequence[float]) -> float:
    """Temperature of ``epoch`` (0-based): the epochs split evenly across ``schedule``."""
    if not schedule:
        raise ValueError("empty temperature schedule")
    stage = min(len(schedule) - 1, epoch * len(schedule) // max(1, epochs))
    return float(schedule[stage])


class Distillation(nn.Module):
    """The distillation part of a run (a :class:`training.loop.Part`): frozen teachers of the
    same vocabulary and features as the student, and, with ``gamma > 0``, the learned
    projection of the feature loss (its parameters train with the student's; checkpoint key
    ``projection``)."""

    key = "projection"

    def __init__(
        self,
        config: DistillConfig,
        vocab: Vocabulary,
        features: dict[str, Any],
        student_hidden: int,
        epochs: int,
    ) -> None:
        super().__init__()
        self.config, self.epochs = config, epochs
        teachers = []
        for p in config.teachers:
            ck = load_checkpoint(p)
            if ck.vocab != vocab:
                raise ValueError(f"teacher {p} has another vocabulary than the student")
            if ck.config.features != features:
                raise ValueError(f"teacher {p} was trained on other features than the student")
            m = ck.model().eval()
            m.requires_grad_(False)
            teachers.append(m)
        self.teachers = nn.ModuleList(teachers)
        first: SequenceModel = teachers[0]
        self.projection = (
            nn.Linear(student_hidden, first.hidden_dim) if config.gamma > 0 else nn.Identity()
        )

    def train(self, mode: bool = True) -> Distillation:  # the teachers stay in eval mode
        super().train(mode)
        self.teachers.eval()
        return self

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return self.projection.state_dict()  # the teachers are files of their own

    def load_state_dict(self, state: Any, strict: bool = True, assign: bool = False) -> Any:
        return self.projection.load_state_dict(state, strict, assign)

    def parameters(self, recurse: bool = True) -> Any:
        return self.projection.parameters(recurse)

    def loss(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        student: ModelOutput,
        hard: torch.Tensor,
        epoch: int,
        amp: bool = False,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``alpha * soft + beta * hard (+ gamma * feature)`` for a batch (module docstring)."""
        c = self.config
        temperature = temperature_at(epoch, self.epochs, c.temperatures)
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            outs = [m(x, lengths) for m in self.teachers]
        probs = teacher_posteriors([o.logits for o in outs], temperature, c.teacher_weights)
        soft = soft_loss(student.logits, probs, temperature, lengths)
        loss = c.alpha * soft + c.beta * hard
        parts = {"hard": float(hard.item()), "soft": float(soft.item()), "temperature": temperature}
        if c.gamma > 0:
            feat = feature_loss(student.hidden, outs[0].hidden, self.projection, lengths)
            loss = loss + c.gamma * feat
            parts["feature"] = float(feat.item())
        return loss, parts
