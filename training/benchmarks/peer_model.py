"""The peer baseline: the clip classifier most MediaPipe sign-language tutorial apps ship.

Three stacked LSTMs (64, 128, 64 units; the first two return sequences, the last only its
final state), Dense 64 ReLU, Dense 32 ReLU, Dense softmax over the classes: one prediction
per 30-frame clip, no blank, no CTC. It is not a :class:`SequenceModel`; it exists so the
results table can put the common approach side by side with ours on the same data.

The tutorials write it in Keras with ``activation="relu"`` inside the LSTMs; PyTorch's LSTM
has the standard tanh cell (and cuDNN/ONNX kernels for it), which trains more stably. The
softmax is left to the loss (``cross_entropy``) and to inference.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TutorialLSTM", "TutorialLSTMConfig", "build_peer"]


@dataclass(frozen=True)
class TutorialLSTMConfig:
    lstm_units: tuple[int, ...] = (64, 128, 64)  # stacked LSTM widths; the last returns a state
    dense_units: tuple[int, ...] = (64, 32)  # ReLU layers between the LSTMs and the softmax
    clip_frames: int = 30  # frames per clip the tutorials feed (1 s at 30 fps)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TutorialLSTMConfig:
        """Inverse of ``dataclasses.asdict`` after a JSON round trip (lists -> tuples)."""
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**values)


class TutorialLSTM(nn.Module):
    """``x`` (B, clip_frames, F) float32 -> class logits ``(B, K)``."""

    def __init__(self, in_dim: int, num_classes: int, cfg: TutorialLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.in_dim = in_dim
        self.num_classes = num_classes
        widths = (in_dim, *cfg.lstm_units)
        self.lstms = nn.ModuleList(
            nn.LSTM(a, b, batch_first=True) for a, b in itertools.pairwise(widths)
        )
        dims = (cfg.lstm_units[-1], *cfg.dense_units)
        self.dense = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.classifier = nn.Linear(dims[-1], num_classes)

    @property
    def config(self) -> dict[str, Any]:
        """What rebuilds it, JSON-ready: ``build_peer(**model.config)``."""
        return {
            "in_dim": self.in_dim,
            "num_classes": self.num_classes,
            "cfg": dataclasses.asdict(self.cfg),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, F) -> logits (B, K) from the last LSTM's final state."""
        h = x
        for lstm in self.lstms:
            h, _ = lstm(h)
        h = h[:, -1]  # the last layer's final hidden state (Keras return_sequences=False)
        for layer in self.dense:
            h = F.relu(layer(h))
        logits: torch.Tensor = self.classifier(h)
        return logits

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_peer(
    in_dim: int,
    num_classes: int,
    cfg: TutorialLSTMConfig | dict[str, Any] | None = None,
) -> TutorialLSTM:
    """The tutorial model for ``in_dim`` features and ``num_classes`` clip classes (``cfg``
    a config, its dict form as stored in a checkpoint, or None for the tutorial's sizes)."""
    if isinstance(cfg, dict):
        cfg = TutorialLSTMConfig.from_dict(cfg)
    return TutorialLSTM(in_dim, num_classes, cfg or TutorialLSTMConfig())
