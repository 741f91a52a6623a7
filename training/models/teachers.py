"""Teacher models: large, non-causal encoders that see the whole sequence.

Families registered here:

- ``"featurei3d"``: the inflated-3D idea carried to landmark features: stacked residual
  temporal-convolution blocks whose dilations grow (1, 2, 4, 8, ...) so the receptive field
  grows geometrically, ~19M parameters at "full".
- ``"bilstm"``: a deep bidirectional LSTM (5 x 384 per direction at "full").
- ``"conformer"``: a Conformer encoder with rotary (relative) positions, which work at any
  length and export to ONNX with a dynamic time axis.

All keep the frame rate (no subsampling) and ignore padded frames: convolutions read them as
zeros, BatchNorm statistics skip them, attention masks them as keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from training.models.base import ModelOutput, ModelSpec, SequenceModel, register
from training.models.layers import MaskedBatchNorm1d, frame_mask, resolve_config, zero_padding
from training.models.students import BiLSTM, BiLSTMConfig

__all__ = [
    "BILSTM_PRESETS",
    "CONFORMER_PRESETS",
    "FEATUREI3D_PRESETS",
    "Conformer",
    "ConformerBlock",
    "ConformerConfig",
    "FeatureI3D",
    "FeatureI3DConfig",
    "RotarySelfAttention",
    "TemporalBlock",
]


# --------------------------------------------------------------------------- FeatureI3D


@dataclass(frozen=True)
class FeatureI3DConfig:
    width: int = 128  # channels of the residual stream (H)
    kernel_size: int = 3  # temporal kernel of each block's dilated conv (odd: centred)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)  # one residual block per entry
    dropout: float = 0.1  # inside each block and before the classifier

    def __post_init__(self) -> None:
        if self.kernel_size % 2 == 0 or not self.dilations or min(self.dilations) < 1:
            raise ValueError("kernel_size must be odd and dilations >= 1, with at least one")


FEATUREI3D_PRESETS: dict[str, FeatureI3DConfig] = {
    "tiny": FeatureI3DConfig(width=16, kernel_size=3, dilations=(1, 2), dropout=0.0),
    "small": FeatureI3DConfig(),
    "full": FeatureI3DConfig(width=768, dropout=0.2),
}


class TemporalBlock(nn.Module):
    """Pre-activation residual block: BN-GELU-conv(k, dilation) -> BN-GELU-dropout-conv(1)."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = MaskedBatchNorm1d(width)
        self.conv = nn.Conv1d(
            width, width, kernel, dilation=dilation, padding=(kernel - 1) // 2 * dilation
        )
        self.bn2 = MaskedBatchNorm1d(width)
        self.dropout = nn.Dropout(dropout)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, W, T) -> (B, W, T); ``mask`` (B, 1, T) or None."""
        h = F.gelu(self.bn1(x, mask))
        if mask is not None:
            h = h * mask  # padded frames enter the temporal conv as zeros
        h = F.gelu(self.bn2(self.conv(h), mask))
        out: torch.Tensor = x + self.mix(self.dropout(h))
        return out


class FeatureI3D(SequenceModel):
    """Dilated residual temporal ConvNet teacher: ``(B, T, F)`` -> logits ``(B, T, C)``.

    Receptive field ``1 + (kernel - 1) * sum(dilations)`` frames, centred (61 = 2 s at the
    defaults); ``hidden`` is the normalised output of the last block ``(B, T, width)``.
    """

    def __init__(self, in_dim: int, num_classes: int, cfg: FeatureI3DConfig) -> None:
        super().__init__()
        self.spec = ModelSpec("featurei3d", in_dim, num_classes, dataclasses.asdict(cfg))
        self.cfg = cfg
        self.stem = nn.Conv1d(in_dim, cfg.width, 1)
        self.blocks = nn.ModuleList(
            TemporalBlock(cfg.width, cfg.kernel_size, d, cfg.dropout) for d in cfg.dilations
        )
        self.out_bn = MaskedBatchNorm1d(cfg.width)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Conv1d(cfg.width, num_classes, 1)
        self.lookahead = None
        self.receptive_field = 1 + (cfg.kernel_size - 1) * sum(cfg.dilations)

    @property
    def hidden_dim(self) -> int:
        return self.cfg.width

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        """``x`` (B, T, F) float32, ``lengths`` (B,) int64 or None -> ModelOutput."""
        mask = frame_mask(x, lengths)
        h = self.stem(zero_padding(x, mask).transpose(1, 2))  # (B, W, T)
        for block in self.blocks:
            h = block(h, mask)
        h = F.gelu(self.out_bn(h, mask))
        logits = self.classifier(self.dropout(h))
        return ModelOutput(logits.transpose(1, 2), h.transpose(1, 2), lengths)


@register("featurei3d")
def build_featurei3d(
    in_dim: int, num_classes: int, preset: str, overrides: dict[str, Any]
) -> SequenceModel:
    return FeatureI3D(in_dim, num_classes, resolve_config(FEATUREI3D_PRESETS, preset, overrides))


# --------------------------------------------------------------------------- BiLSTM teacher

BILSTM_PRESETS: dict[str, BiLSTMConfig] = {
    "tiny": BiLSTMConfig(hidden=16, layers=2, dropout=0.0),
    "small": BiLSTMConfig(hidden=128, layers=3, dropout=0.2),
    "full": BiLSTMConfig(hidden=384, layers=5, dropout=0.3),
}


@register("bilstm")
def build_bilstm(
    in_dim: int, num_classes: int, preset: str, overrides: dict[str, Any]
) -> SequenceModel:
    return BiLSTM("bilstm", in_dim, num_classes, resolve_config(BILSTM_PRESETS, preset, overrides))


# --------------------------------------------------------------------------- Conformer


@dataclass(frozen=True)
class ConformerConfig:
    d_model: int = 96  # model width (H)
    layers: int = 4  # Conformer blocks
    heads: int = 4  # attention heads (d_model / heads must be even, for rotary positions)
    ffn_mult: int = 4  # feed-forward hidden = d_model * ffn_mult
    conv_kernel: int = 15  # depthwise kernel of the conv module (odd: centred; 15 = 0.5 s)
    dropout: float = 0.1  # residual, attention and feed-forward dropout
    rope_base: float = 10000.0  # rotary frequency base (longest wavelength ~ base frames)

    def __post_init__(self) -> None:
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError("d_model / heads must be an even integer")
        if self.conv_kernel % 2 == 0:
            raise ValueError("conv_kernel must be odd")


CONFORMER_PRESETS: dict[str, ConformerConfig] = {
    "tiny": ConformerConfig(d_model=32, layers=2, heads=2, ffn_mult=2, conv_kernel=5, dropout=0.0),
    "small": ConformerConfig(),
    "full": ConformerConfig(d_model=256, layers=12, heads=4, conv_kernel=15, dropout=0.1),
}


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class RotarySelfAttention(nn.Module):
    """Multi-head self-attention with rotary position embeddings (RoPE).

    RoPE rotates queries and keys by angles proportional to their frame index, so scores depend
    only on the offset between frames: relative positions, computed for whatever ``T`` arrives
    (nothing is sized by a maximum length, and the ONNX time axis stays dynamic).
    """

    inv_freq: torch.Tensor  # (head_dim / 2,) rotation frequency of each pair of channels

    def __init__(self, d_model: int, heads: int, dropout: float, base: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        inv_freq = base ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
        # not persistent: derived from the config, so checkpoints need not carry it
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, T, D), ``key_mask`` (B, T) bool (True = valid) or None -> (B, T, D)."""
        batch, frames, d_model = x.shape
        qkv = self.qkv(x).view(batch, frames, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, head_dim)
        positions = torch.arange(frames, device=x.device, dtype=x.dtype)
        angles = positions[:, None] * self.inv_freq[None, :].to(x.dtype)  # (T, head_dim / 2)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        out: torch.Tensor = self.out(y.transpose(1, 2).reshape(batch, frames, d_model))
        return out


class _FeedForward(nn.Sequential):
    def __init__(self, d_model: int, mult: int, dropout: float) -> None:
        super().__init__(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, d_model * mult),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(d_model * mult, d_model),
            nn.Dropout(dropout),
        )


class ConformerBlock(nn.Module):
    """Half FFN -> self-attention -> conv module -> half FFN -> LayerNorm (Gulati et al. 2020)."""

    def __init__(self, cfg: ConformerConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.ffn1 = _FeedForward(d, cfg.ffn_mult, cfg.dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = RotarySelfAttention(d, cfg.heads, cfg.dropout, cfg.rope_base)
        self.conv_norm = nn.LayerNorm(d)
        self.pointwise_in = nn.Linear(d, 2 * d)  # followed by GLU
        self.depthwise = nn.Conv1d(
            d, d, cfg.conv_kernel, padding=cfg.conv_kernel // 2, groups=d, bias=False
        )
        self.conv_bn = MaskedBatchNorm1d(d)
        self.pointwise_out = nn.Linear(d, d)
        self.ffn2 = _FeedForward(d, cfg.ffn_mult, cfg.dropout)
        self.out_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, T, D) -> (B, T, D); ``mask`` (B, T) bool (True = valid) or None."""
        x = x + 0.5 * self.ffn1(x)
        x = x + self.dropout(self.attn(self.attn_norm(x), mask))
        h = F.glu(self.pointwise_in(self.conv_norm(x)), dim=-1)
        if mask is not None:
            h = h * mask[:, :, None].to(h.dtype)  # padded frames enter the conv as zeros
        h = h.transpose(1, 2)  # (B, D, T)
        fmask = None if mask is None else mask[:, None, :].to(h.dtype)
        h = F.silu(self.conv_bn(self.depthwise(h), fmask)).transpose(1, 2)
        x = x + self.dropout(self.pointwise_out(h))
        x = x + 0.5 * self.ffn2(x)
        out: torch.Tensor = self.out_norm(x)
        return out


class Conformer(SequenceModel):
    """Conformer encoder teacher: ``(B, T, F)`` -> logits ``(B, T, C)``, hidden ``(B, T, D)``."""

    def __init__(self, in_dim: int, num_classes: int, cfg: ConformerConfig) -> None:
        super().__init__()
        self.spec = ModelSpec("conformer", in_dim, num_classes, dataclasses.asdict(cfg))
        self.cfg = cfg
        self.input_proj = nn.Sequential(
            nn.Linear(in_dim, cfg.d_model), nn.LayerNorm(cfg.d_model), nn.Dropout(cfg.dropout)
        )
        self.blocks = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.d_model, num_classes)
        self.lookahead = None

    @property
    def hidden_dim(self) -> int:
        return self.cfg.d_model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        """``x`` (B, T, F) float32, ``lengths`` (B,) int64 or None -> ModelOutput."""
        fmask = frame_mask(x, lengths)
        mask = None if fmask is None else fmask[:, 0, :] > 0  # (B, T) bool
        h = self.input_proj(zero_padding(x, fmask))
        for block in self.blocks:
            h = block(h, mask)
        return ModelOutput(self.classifier(self.dropout(h)), h, lengths)


@register("conformer")
def build_conformer(
    in_dim: int, num_classes: int, preset: str, overrides: dict[str, Any]
) -> SequenceModel:
    return Conformer(in_dim, num_classes, resolve_config(CONFORMER_PRESETS, preset, overrides))
