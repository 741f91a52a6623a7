"""Student models: the streaming MobileNetV3-1D the app ships, and a BiLSTM for comparison.

Families registered here:

- ``"mobilenet1d"``: MobileNetV3's inverted-residual block carried to time: 1x1 expand,
  depthwise temporal convolution, squeeze-and-excitation, hard-swish, 1x1 project, residual.
  Causal with a bounded lookahead (asymmetric padding), so it streams.
- ``"bilstm_student"``: a bidirectional LSTM (4 x 256 at "full"); not streamable, a baseline.

This module also holds the pieces the teachers reuse (config presets, length masks, a BatchNorm
that ignores padded frames, the BiLSTM encoder), so that ``teachers`` depends on ``students``
and never the other way round.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from training.models.base import ModelOutput, ModelSpec, SequenceModel, register
from training.models.layers import (
    MaskedBatchNorm1d,
    frame_mask,
    resolve_config,
    zero_padding,
)

__all__ = [
    "BILSTM_STUDENT_PRESETS",
    "MOBILENET1D_PRESETS",
    "BiLSTM",
    "BiLSTMConfig",
    "CausalSqueezeExcite",
    "InvertedResidual1D",
    "MobileNet1D",
    "MobileNet1DConfig",
    "causal_mean",
    "split_lookahead",
]

# --------------------------------------------------------------------------- MobileNetV3-1D


@dataclass(frozen=True)
class MobileNet1DConfig:
    width: int = 64  # channels of the residual stream between blocks
    expand: int = 2  # inverted-residual expansion ratio (hidden = width * expand)
    kernel_size: int = 5  # depthwise temporal kernel
    dilations: tuple[int, ...] = (1, 1, 1, 2, 2, 2)  # one block per entry: its dilation
    se_every: int = 2  # squeeze-and-excitation in every n-th block (1 all, 0 none)
    se_ratio: float = 0.25  # SE bottleneck = hidden * se_ratio
    se_window: int = 8  # SE context: causal mean over this many past frames (0: since start)
    lookahead: int = 4  # future frames one output may see, summed over all blocks
    head_dim: int = 128  # final 1x1 conv = ModelOutput.hidden width (0: none, H = width)
    dropout: float = 0.1  # before the classifier

    def __post_init__(self) -> None:
        if self.kernel_size < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError("kernel_size and dilations must be >= 1, with at least one block")
        if self.lookahead < 0 or self.se_window < 0 or self.se_every < 0:
            raise ValueError("lookahead, se_window and se_every must be >= 0")


MOBILENET1D_PRESETS: dict[str, MobileNet1DConfig] = {
    "tiny": MobileNet1DConfig(
        width=16,
        expand=2,
        kernel_size=3,
        dilations=(1, 2),
        se_every=1,
        se_window=4,
        lookahead=2,
        head_dim=0,
        dropout=0.0,
    ),
    "small": MobileNet1DConfig(),
    "full": MobileNet1DConfig(
        width=128,
        expand=3,
        kernel_size=5,
        dilations=(1, 1, 2, 2, 4, 1, 2, 4),
        se_every=2,
        se_window=8,
        lookahead=8,
        head_dim=256,
        dropout=0.2,
    ),
}


def split_lookahead(total: int, spans: list[int]) -> list[int]:
    """Spread ``total`` future frames over layers whose kernels span ``spans`` frames.

    Round robin, one frame at a time, so every layer gets a little future rather than one
    layer becoming centred: returns the right padding of each layer (sums to ``total``).
    """
    if total > sum(spans):
        raise ValueError(f"lookahead {total} exceeds what the kernels span ({sum(spans)})")
    right = [0] * len(spans)
    left = total
    while left > 0:
        for i, span in enumerate(spans):
            if left > 0 and right[i] < span:
                right[i] += 1
                left -= 1
    return right


def causal_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, C, T)`` -> ``(B, C, T)``: at frame ``t`` the mean of frames ``t - window + 1 .. t``,
    frames before the start counting as zeros (as the convolutions' padding does);
    ``window`` 0: the mean of all frames ``0 .. t``."""
    if window <= 0:
        frames = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
        return x.cumsum(-1) / frames
    kernel = x.new_full((x.shape[1], 1, window), 1.0 / window)
    # one depthwise convolution: a single cheap node in ONNX Runtime (AveragePool and
    # cumulative-sum differences cost several times more there)
    return F.conv1d(F.pad(x, (window - 1, 0)), kernel, groups=x.shape[1])


class CausalSqueezeExcite(nn.Module):
    """Squeeze-and-excitation whose squeeze is causal: channel gates at frame ``t`` come from
    the mean over the last ``window`` frames up to ``t`` (0: the cumulative mean since the
    start), never from a mean over the whole sequence, which would leak the future.

    Padding needs no mask here: padded frames come after every valid one, so a causal mean
    never reaches them from a valid frame.
    """

    def __init__(self, channels: int, hidden: int, window: int) -> None:
        super().__init__()
        self.window = window
        self.reduce = nn.Conv1d(channels, hidden, 1)
        self.expand = nn.Conv1d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, T) -> (B, C, T)."""
        # reduce is linear, so mean(reduce(x)) == reduce(mean(x)) up to the bias at the
        # stream start: averaging after it pools the 4x narrower bottleneck
        squeezed = causal_mean(self.reduce(x), self.window)
        return x * F.hardsigmoid(self.expand(F.relu(squeezed)))


class InvertedResidual1D(nn.Module):
    """1x1 expand -> depthwise temporal conv -> SE -> 1x1 project, plus the input.

    The depthwise conv is padded ``(span - right, right)``: an output sees ``right`` future
    frames and ``span - right`` past ones (``span = (kernel - 1) * dilation``).
    """

    def __init__(
        self,
        channels: int,
        hidden: int,
        kernel: int,
        dilation: int,
        right: int,
        se_hidden: int,
        se_window: int,
    ) -> None:
        super().__init__()
        span = (kernel - 1) * dilation
        self.pad = (span - right, right)
        self.expand = nn.Conv1d(channels, hidden, 1, bias=False)
        self.bn1 = MaskedBatchNorm1d(hidden)
        self.depthwise = nn.Conv1d(
            hidden, hidden, kernel, dilation=dilation, groups=hidden, bias=False
        )
        self.bn2 = MaskedBatchNorm1d(hidden)
        self.se = CausalSqueezeExcite(hidden, se_hidden, se_window) if se_hidden > 0 else None
        self.project = nn.Conv1d(hidden, channels, 1, bias=False)
        self.bn3 = MaskedBatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, C, T) -> (B, C, T); ``mask`` (B, 1, T) or None."""
        h = F.hardswish(self.bn1(self.expand(x), mask))
        if mask is not None:
            h = h * mask  # padded frames enter the temporal conv as zeros
        h = F.hardswish(self.bn2(self.depthwise(F.pad(h, self.pad)), mask))
        if self.se is not None:
            h = self.se(h)
        out: torch.Tensor = x + self.bn3(self.project(h), mask)  # linear bottleneck: no act.
        return out


class MobileNet1D(SequenceModel):
    """MobileNetV3-1D student: ``(B, T, F)`` -> logits ``(B, T, C)``, streamable.

    ``lookahead`` = future frames an output depends on (exact), ``receptive_field`` = past
    frames (exact; None when the SE uses the cumulative mean, i.e. the whole past). A sliding
    window of at least ``receptive_field + lookahead + hop`` frames gives, for its newest
    ``hop`` frames before the lookahead, the same outputs as running the whole stream.
    """

    def __init__(self, in_dim: int, num_classes: int, cfg: MobileNet1DConfig) -> None:
        super().__init__()
        self.spec = ModelSpec("mobilenet1d", in_dim, num_classes, dataclasses.asdict(cfg))
        self.cfg = cfg
        hidden = cfg.width * cfg.expand
        se_hidden = max(1, round(hidden * cfg.se_ratio))
        spans = [(cfg.kernel_size - 1) * d for d in cfg.dilations]
        rights = split_lookahead(cfg.lookahead, spans)
        has_se = [cfg.se_every > 0 and (i + 1) % cfg.se_every == 0 for i in range(len(spans))]
        self.stem = nn.Conv1d(in_dim, cfg.width, 1, bias=False)
        self.stem_bn = MaskedBatchNorm1d(cfg.width)
        self.blocks = nn.ModuleList(
            InvertedResidual1D(
                cfg.width, hidden, cfg.kernel_size, d, r, se_hidden if se else 0, cfg.se_window
            )
            for d, r, se in zip(cfg.dilations, rights, has_se, strict=True)
        )
        self._hidden_dim = cfg.head_dim or cfg.width
        self.head = nn.Conv1d(cfg.width, cfg.head_dim, 1, bias=False) if cfg.head_dim else None
        self.head_bn = MaskedBatchNorm1d(cfg.head_dim) if cfg.head_dim else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Conv1d(self._hidden_dim, num_classes, 1)
        self.lookahead = cfg.lookahead
        past = sum(s - r for s, r in zip(spans, rights, strict=True))
        # each SE block also sees its depthwise outputs of the last se_window - 1 frames
        self.receptive_field: int | None = past + sum(has_se) * max(cfg.se_window - 1, 0)
        if cfg.se_window == 0 and any(has_se):
            self.receptive_field = None  # the cumulative mean reaches back to the start

    @property
    def hidden_dim(self) -> int:
        return self._hidden_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        """``x`` (B, T, F) float32, ``lengths`` (B,) int64 or None -> ModelOutput."""
        mask = frame_mask(x, lengths)
        x = zero_padding(x, mask)
        h = F.hardswish(self.stem_bn(self.stem(x.transpose(1, 2)), mask))  # (B, width, T)
        for block in self.blocks:
            h = block(h, mask)
        if self.head is not None and self.head_bn is not None:
            h = F.hardswish(self.head_bn(self.head(h), mask))
        logits = self.classifier(self.dropout(h))
        return ModelOutput(logits.transpose(1, 2), h.transpose(1, 2), lengths)


@register("mobilenet1d")
def build_mobilenet1d(
    in_dim: int, num_classes: int, preset: str, overrides: dict[str, Any]
) -> SequenceModel:
    return MobileNet1D(in_dim, num_classes, resolve_config(MOBILENET1D_PRESETS, preset, overrides))


# --------------------------------------------------------------------------- BiLSTM


@dataclass(frozen=True)
class BiLSTMConfig:
    hidden: int = 128  # LSTM units per direction (H = 2 * hidden)
    layers: int = 2  # stacked bidirectional layers
    dropout: float = 0.2  # between LSTM layers and before the classifier


BILSTM_STUDENT_PRESETS: dict[str, BiLSTMConfig] = {
    "tiny": BiLSTMConfig(hidden=16, layers=2, dropout=0.0),
    "small": BiLSTMConfig(hidden=128, layers=2, dropout=0.2),
    "full": BiLSTMConfig(hidden=256, layers=4, dropout=0.3),
}


class BiLSTM(SequenceModel):
    """Stacked bidirectional LSTM: ``(B, T, F)`` -> logits ``(B, T, C)``, hidden ``(B, T, 2h)``.

    With ``lengths`` the batch runs packed, so padding never reaches the backward direction of
    a valid frame. Without (ONNX export, one unpadded stream) it runs unpacked: the exported
    graph assumes every item of a batch is valid throughout.
    """

    def __init__(self, family: str, in_dim: int, num_classes: int, cfg: BiLSTMConfig) -> None:
        super().__init__()
        self.spec = ModelSpec(family, in_dim, num_classes, dataclasses.asdict(cfg))
        self.cfg = cfg
        self.lstm = nn.LSTM(
            in_dim,
            cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(2 * cfg.hidden, num_classes)
        self.lookahead = None

    @property
    def hidden_dim(self) -> int:
        return 2 * self.cfg.hidden

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        """``x`` (B, T, F) float32, ``lengths`` (B,) int64 or None -> ModelOutput."""
        if lengths is None:
            h, _ = self.lstm(x)
        else:
            packed = pack_padded_sequence(
                x, lengths.to("cpu", torch.int64), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return ModelOutput(self.classifier(self.dropout(h)), h, lengths)


@register("bilstm_student")
def build_bilstm_student(
    in_dim: int, num_classes: int, preset: str, overrides: dict[str, Any]
) -> SequenceModel:
    cfg = resolve_config(BILSTM_STUDENT_PRESETS, preset, overrides)
    return BiLSTM("bilstm_student", in_dim, num_classes, cfg)
