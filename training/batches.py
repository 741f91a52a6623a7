"""Examples to padded mini-batches, and a model's log-probabilities over examples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from training.data.sentences import Example

__all__ = ["Batch", "batches", "collate", "predict"]


@dataclass
class Batch:
    x: torch.Tensor  # (B, T, F) float32, zero-padded
    lengths: torch.Tensor  # (B,) int64
    targets: torch.Tensor  # (sum L,) int64 concatenated labels
    target_lengths: torch.Tensor  # (B,) int64

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.x, self.lengths, self.targets, self.target_lengths))
        )


def collate(examples: Sequence[Example]) -> Batch:
    t = max(e.features.shape[0] for e in examples)
    f = examples[0].features.shape[1]
    x = np.zeros((len(examples), t, f), np.float32)
    for i, e in enumerate(examples):
        x[i, : len(e.features)] = e.features
    return Batch(
        x=torch.from_numpy(x),
        lengths=torch.tensor([len(e.features) for e in examples], dtype=torch.int64),
        targets=torch.tensor([c for e in examples for c in e.labels], dtype=torch.int64),
        target_lengths=torch.tensor([len(e.labels) for e in examples], dtype=torch.int64),
    )


def batches(
    examples: Sequence[Example], batch_size: int, generator: torch.Generator | None = None
) -> Iterator[Batch]:
    """Mini-batches; shuffled when a generator is given (else in order)."""
    order = (
        torch.randperm(len(examples), generator=generator).tolist()
        if generator is not None
        else list(range(len(examples)))
    )
    for i in range(0, len(order), batch_size):
        yield collate([examples[j] for j in order[i : i + batch_size]])


@torch.no_grad()
def predict(
    model: nn.Module, examples: Sequence[Example], device: torch.device, batch_size: int = 64
) -> list[npt.NDArray[np.float32]]:
    """Per example, log-probabilities ``(T, C)`` float32."""
    model.eval()
    out: list[npt.NDArray[np.float32]] = []
    for batch in batches(examples, batch_size):
        b = batch.to(device)
        lp = F.log_softmax(model(b.x, b.lengths).logits.float(), dim=-1).cpu().numpy()
        out += [lp[i, :n] for i, n in enumerate(batch.lengths.tolist())]
    return out
