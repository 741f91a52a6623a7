"""Exponential moving average of a model's weights, the weights a run evaluates and exports.

With two training signers per fold, which minimum a run ends in (and which epoch early stopping
picks) moves a held-out signer's numbers by several points from seed to seed. The average of
the weights over the last few hundred steps sits nearer the middle of the region the optimiser
wanders in; unlike an ensemble of separately trained models (whose CTC spikes fall on different
frames, docs/TRAINING.md), it is one model with one alignment.

BatchNorm's running statistics are averaged like the weights (they belong to the weights they
were collected with); integer buffers (batch counters) are copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """``average = d * average + (1 - d) * weights`` after every optimiser step.

    ``d`` ramps up as ``(1 + n) / (10 + n)`` towards ``decay`` over the first updates, so the
    average does not remember the random initialisation for hundreds of steps.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for name, avg in self.model.state_dict().items():
            new = current[name].detach()
            if avg.dtype.is_floating_point:
                avg.lerp_(new.to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(new)

    def load(self, state: dict[str, Any], updates: int) -> None:
        """Continue from a checkpoint's average (``updates``: steps it had averaged)."""
        self.model.load_state_dict(state)
        self.updates = updates
