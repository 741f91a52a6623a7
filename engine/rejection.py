"""Out-of-vocabulary rejection: is a decoded gloss really one of the signs the model knows?

A CTC model gives every movement to its nearest gloss, and its posteriors say nothing about how
near: on the frames where a class wins, its posterior is near 1.0 for known and unknown signs
alike (the mean posterior of a gloss separates held-out known signs from other vocabularies'
signs with an AUROC of 0.64). Its internal representation does better: the distance of a
gloss's frames to the signs seen in training separates them with an AUROC of 0.93 (isolated
clips of held-out signer dmohazab against WLASL-50, Mexican SL and tutorial clips; measured
once). In a new signer's continuous signing the known glosses lie farther out (neighbouring
signs are in every frame's context), and a threshold that lets 5% of unknown signs through
drops half of them: the recipe ships a rejector only where the model generalises better with
it (docs/experiments/rejection-threshold.md), and today's default has none.

The distance is the Mahalanobis distance, computed as a Euclidean one: the exported model has a
second output, ``embedding`` ``(T, H)``, its last hidden layer already multiplied by a
whitening matrix (the inverse Cholesky factor of the training signs' within-class covariance).
A decoded gloss's embedding is the mean over its frames (:func:`gloss_frames`); its
:meth:`Rejector.distance` is the squared distance to the nearest class mean of the training
signs (whitened too, in the model's metadata); glosses farther than ``threshold`` are
rejected. The threshold is calibrated in training on signs of another vocabulary that no test
uses (training/rejection.py).

In the live engine, :class:`RejectionStage` runs beside the streaming decoder (only for a model
that has a rejector): it stitches the embeddings of the model's overlapping windows the way the
log-probs are stitched and is the decoder's gloss filter
(:class:`~engine.streaming.GlossFilter`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.decoder import DecodeResult, gloss_frames
from engine.errors import DecoderError
from engine.stitching import PosteriorStitcher
from engine.vocabulary import Vocabulary

__all__ = ["METADATA_KEY", "RejectionStage", "Rejector", "gloss_frames"]

METADATA_KEY = "rejection"  # ONNX metadata: Rejector JSON

FloatArray = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Rejector:
    """Class means of the training signs in the whitened embedding space, and the distance
    beyond which a gloss is rejected."""

    means: npt.NDArray[np.float32]  # (K, H): one row per class seen in training
    threshold: float  # squared whitened distance; a gloss farther than this is rejected

    def __post_init__(self) -> None:
        if self.means.ndim != 2 or len(self.means) == 0:
            raise ValueError(f"means must be (K, H) with K >= 1, got {self.means.shape}")
        if not np.isfinite(self.means).all() or not np.isfinite(self.threshold):
            raise ValueError("rejection means and threshold must be finite")

    @property
    def dim(self) -> int:
        """``H``, the embedding width the model must output."""
        return int(self.means.shape[1])

    def distance(self, embeddings: FloatArray) -> float:
        """Squared distance of the mean of ``embeddings`` ``(n, H)`` (a gloss's frames) to the
        nearest class mean."""
        centre = np.asarray(embeddings, np.float64).mean(axis=0)
        return float(((self.means - centre) ** 2).sum(axis=1).min())

    def accepts(self, embeddings: FloatArray) -> bool:
        return self.distance(embeddings) <= self.threshold

    def known(
        self,
        result: DecodeResult,
        log_probs: FloatArray,
        embeddings: FloatArray,
        vocabulary: Vocabulary,
    ) -> tuple[bool, ...]:
        """For each gloss of ``result`` (decoded from ``log_probs`` ``(T, C)``), whether its
        frames' ``embeddings`` ``(T, H)`` are near a sign the model was trained on."""
        classes = vocabulary.encode(result.glosses)
        return tuple(
            self.accepts(embeddings[gloss_frames(log_probs, cls, span)])
            for cls, span in zip(classes, result.spans, strict=True)
        )

    def to_json(self) -> str:
        return json.dumps(
            {"threshold": self.threshold, "means": np.round(self.means, 5).tolist()},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Rejector:
        """Raises ``ValueError`` on anything but a well-formed rejector."""
        try:
            d = json.loads(text)
            means = np.asarray(d["means"], np.float32)
            threshold = float(d["threshold"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"unreadable rejection data ({e})") from e
        return cls(means, threshold)

    def drop_unknown(
        self,
        result: DecodeResult,
        log_probs: FloatArray,
        embeddings: FloatArray,
        vocabulary: Vocabulary,
    ) -> DecodeResult:
        """``result`` without the glosses :meth:`known` rejects."""
        keep = [i for i, k in enumerate(self.known(result, log_probs, embeddings, vocabulary)) if k]
        return replace(
            result,
            glosses=tuple(result.glosses[i] for i in keep),
            confidences=tuple(result.confidences[i] for i in keep),
            spans=tuple(result.spans[i] for i in keep),
        )


class RejectionStage:
    """A :class:`Rejector` beside the streaming decoder: keeps the model's embeddings of the
    stream's frames and tells the decoder which of its decoded glosses are known.

    ``window``/``hop``/``lookahead``: those of the log-prob stitcher. Its own
    :class:`~engine.stitching.PosteriorStitcher` of the same geometry keeps each frame's
    embedding from the same window as the log-probs the decoder gets for it.

    Per model window: :meth:`push` its embeddings before the decoder gets the window's frames;
    :meth:`known` is the decoder's ``gloss_filter``; after the decoder's push,
    :meth:`forget_before` its ``segment_start``, so the frames kept stay those of the open
    segment. Not thread-safe: one engine thread owns it.
    """

    def __init__(
        self,
        rejector: Rejector,
        vocabulary: Vocabulary,
        window: int,
        hop: int,
        lookahead: int | None,
    ) -> None:
        self.rejector = rejector
        self.vocabulary = vocabulary
        self._stitcher = PosteriorStitcher(window, hop, lookahead)
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new source, a swapped model)."""
        self._stitcher.reset()
        self._emb: FloatArray = np.zeros((0, self.rejector.dim), np.float32)  # (n, H)
        self._start = 0  # stream index of the first frame in _emb
        # the stitcher was flushed (or never pushed): the next frames start a new stream
        self._new_stream = True

    @property
    def frames(self) -> tuple[int, int]:
        """Stream frames ``[start, end)`` whose embeddings are kept."""
        return self._start, self._start + len(self._emb)

    def push(
        self,
        embeddings: FloatArray | None,
        start_frame: int,
        num_frames: int,
        final: bool = False,
    ) -> None:
        """Take the model's embeddings ``(T, H)`` of the window that starts at stream frame
        ``start_frame``; ``num_frames``: the window's log-prob frames ``T``. ``final``: the
        stream's last window (the log-prob stitcher is flushed with it): the next push may
        start a new stream anywhere."""
        if embeddings is None:
            raise DecoderError("this model rejects unknown signs: push its embeddings too")
        emb = np.asarray(embeddings, np.float32)
        if emb.shape != (num_frames, self.rejector.dim):
            raise DecoderError(
                f"expected embeddings of shape ({num_frames}, {self.rejector.dim}), got {emb.shape}"
            )
        start, frames = (
            self._stitcher.flush(emb, start_frame)
            if final
            else self._stitcher.push(emb, start_frame)
        )
        # only the frames the decoder gets: a window's other frames are never read
        if not np.isfinite(frames).all():
            raise DecoderError("embeddings contain NaN or inf (a broken model output)")
        if self._new_stream:
            self._emb, self._start = frames, start
            self._new_stream = False
        else:  # the stitcher continues exactly where its previous chunk ended
            self._emb = np.concatenate([self._emb, frames])
        if final:
            self._new_stream = True

    def embeddings(self, start_frame: int, count: int) -> FloatArray:
        """``(count, H)``: the kept embeddings of stream frames ``start_frame ..
        start_frame + count - 1``."""
        lo = start_frame - self._start
        if lo < 0 or count < 0 or lo + count > len(self._emb):
            start, end = self.frames
            raise DecoderError(
                f"no embeddings of frames {start_frame}..{start_frame + count - 1} "
                f"(kept: {start}..{end - 1}); push every window here before the decoder"
            )
        return self._emb[lo : lo + count]

    def known(
        self, result: DecodeResult, log_probs: FloatArray, start_frame: int, /
    ) -> tuple[bool, ...]:
        """The decoder's gloss filter: for each gloss of ``result``, decoded from
        ``log_probs`` ``(n, C)`` of stream frames ``start_frame ..``, whether it is near a
        sign the model was trained on (:meth:`Rejector.known`)."""
        emb = self.embeddings(start_frame, len(log_probs))
        return self.rejector.known(result, log_probs, emb, self.vocabulary)

    def forget_before(self, frame: int) -> None:
        """Drop the embeddings of stream frames before ``frame`` (the decoder committed
        them)."""
        drop = min(max(0, frame - self._start), len(self._emb))
        self._emb = self._emb[drop:]
        self._start += drop
