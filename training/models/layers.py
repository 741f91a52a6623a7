"""Building blocks shared by the model families: preset resolution, masks, masked BatchNorm."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, cast

import torch
from torch import nn

__all__ = [
    "PRESET_NAMES",
    "RESOLVED",
    "MaskedBatchNorm1d",
    "frame_mask",
    "lengths_to_mask",
    "resolve_config",
    "zero_padding",
]

PRESET_NAMES = ("tiny", "small", "full")  # sizes every family offers
RESOLVED = "resolved"  # preset name meaning "the overrides are the complete config"

_Config = TypeVar("_Config")


def resolve_config(
    presets: Mapping[str, _Config], preset: str, overrides: Mapping[str, Any]
) -> _Config:
    """``presets[preset]`` with ``overrides`` applied; for ``"resolved"`` the overrides must
    name every field (a checkpoint's config must not silently pick up changed defaults).

    Lists become tuples: a config that went through JSON comes back with lists.
    """
    example = cast(Any, presets["small"])
    fields = {f.name for f in dataclasses.fields(example)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown {type(example).__name__} keys {unknown}; known: {sorted(fields)}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    if preset == RESOLVED:
        missing = sorted(fields - set(values))
        if missing:
            raise ValueError(f"a resolved {type(example).__name__} lacks {missing}")
        return cast(_Config, type(example)(**values))
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; known: {[*presets, RESOLVED]}")
    return cast(_Config, dataclasses.replace(cast(Any, presets[preset]), **values))


def lengths_to_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``(B,)`` valid lengths -> ``(B, T)`` bool, True on valid frames."""
    frames = torch.arange(num_frames, device=lengths.device)
    return frames[None, :] < lengths[:, None]


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over ``(B, C, T)`` whose training statistics count only valid frames.

    Plain BatchNorm would average the padding into the statistics, so a batch padded longer
    would normalise its valid frames differently. At inference (running statistics) it is the
    ordinary per-channel affine map, which exports as one ``BatchNormalization`` that ONNX
    Runtime folds into the preceding convolution. Do not convert it to ``SyncBatchNorm``.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B, C, T); ``mask`` (B, 1, T) float, 1 on valid frames, or None."""
        if not self.training or mask is None:
            return super().forward(x)
        # statistics in float32: under fp16 autocast a sum over B * T frames can overflow
        xf, mask = x.float(), mask.float()
        count = mask.sum().clamp_min(2.0)
        mean = (xf * mask).sum(dim=(0, 2)) / count
        var = (((xf - mean[None, :, None]) * mask) ** 2).sum(dim=(0, 2)) / count
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            momentum = 0.1 if self.momentum is None else self.momentum
            with torch.no_grad():
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                unbiased = var * count / (count - 1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
                self.num_batches_tracked.add_(1)
        y = (xf - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y.to(x.dtype)


def frame_mask(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """``(B, 1, T)`` float mask for channels-first activations of ``x`` (B, T, F), or None."""
    if lengths is None:
        return None
    return lengths_to_mask(lengths, x.shape[1])[:, None, :].to(x.dtype)


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Input ``(B, T, F)`` with padded frames set to 0 (``where``: garbage may be NaN)."""
    if mask is None:
        return x
    return torch.where(mask.transpose(1, 2) > 0, x, torch.zeros_like(x))
