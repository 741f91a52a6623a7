"""What every SignStream sequence model shares: its output, config and registry.

A sequence model maps features ``(B, T, F)`` to CTC logits ``(B, T, C)`` (``C`` = glosses +
blank, class 0 the blank) at the same frame rate, plus one intermediate representation
``(B, T, H)`` that knowledge distillation can match (``hidden``). No temporal subsampling:
signs are short (a few hundred ms) and CTC needs at least one frame per gloss plus blanks.

Families register a builder with :func:`register`; :func:`build_model` makes one from
``(family, in_dim, num_classes, preset, overrides)``, and the same tuple rebuilt from a
checkpoint gives the same architecture (``model.spec`` is what checkpoints and ONNX metadata
store).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ModelOutput", "ModelSpec", "SequenceModel", "build_model", "families", "register"]


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, T, C) unnormalised CTC scores, class 0 = blank
    hidden: torch.Tensor  # (B, T, H) representation used by feature distillation
    lengths: torch.Tensor | None  # (B,) valid frames per item (None: all T)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model's architecture."""

    family: str  # registry name, e.g. "mobilenet1d", "featurei3d", "bilstm", "conformer"
    in_dim: int  # feature dimension F (FeatureSpec.dim)
    num_classes: int  # C = glosses + blank
    config: dict[str, Any]  # the family's resolved config (its dataclass as a dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(d["family"], int(d["in_dim"]), int(d["num_classes"]), dict(d["config"]))


class SequenceModel(nn.Module):
    """Base class: subclasses set ``spec`` and implement ``forward``."""

    spec: ModelSpec
    # frames of future context one output frame depends on (None: the whole sequence, e.g. a
    # bidirectional model). Streaming needs a bounded value.
    lookahead: int | None = None
    # frames of past context one output frame depends on (None: unbounded)
    receptive_field: int | None = None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        """``x`` (B, T, F) float32, ``lengths`` (B,) int64 -> :class:`ModelOutput`."""
        raise NotImplementedError

    @property
    def hidden_dim(self) -> int:
        """``H`` of ``ModelOutput.hidden``."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


Builder = Callable[[int, int, str, dict[str, Any]], SequenceModel]
_REGISTRY: dict[str, Builder] = {}


def register(family: str) -> Callable[[Builder], Builder]:
    def deco(builder: Builder) -> Builder:
        _REGISTRY[family] = builder
        return builder

    return deco


def families() -> list[str]:
    _load_families()
    return sorted(_REGISTRY)


def _load_families() -> None:
    # importing the modules registers their families
    from training.models import students, teachers  # noqa: F401


def build_model(
    family: str,
    in_dim: int,
    num_classes: int,
    preset: str = "small",
    overrides: dict[str, Any] | None = None,
) -> SequenceModel:
    """A new model of ``family`` at ``preset`` size ("tiny", "small", "full"), with overrides."""
    _load_families()
    if family not in _REGISTRY:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[family](in_dim, num_classes, preset, dict(overrides or {}))


def model_from_spec(spec: ModelSpec) -> SequenceModel:
    """Rebuild the architecture a checkpoint or ONNX file describes (config fully resolved)."""
    return build_model(spec.family, spec.in_dim, spec.num_classes, "resolved", spec.config)
