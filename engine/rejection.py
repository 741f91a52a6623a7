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
it (docs/TRAINING.md), and today's default has none.

The distance is the Mahalanobis distance, computed as a Euclidean one: the exported model has a
second output, ``embedding`` ``(T, H)``, its last hidden layer already multiplied by a
whitening matrix (the inverse Cholesky factor of the training signs' within-class covariance).
A decoded gloss's embedding is the mean over its frames (:func:`gloss_frames`); its
:meth:`Rejector.distance` is the squared distance to the nearest class mean of the training
signs (whitened too, in the model's metadata); glosses farther than ``threshold`` are
rejected. The threshold is calibrated in training on signs of another vocabulary that no test
uses (training/rejection.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.decoder import DecodeResult
from engine.vocabulary import Vocabulary

__all__ = ["METADATA_KEY", "Rejector", "gloss_frames"]

METADATA_KEY = "rejection"  # ONNX metadata: Rejector JSON

FloatArray = npt.NDArray[np.floating[Any]]


def gloss_frames(log_probs: FloatArray, cls: int, span: tuple[int, int]) -> npt.NDArray[np.intp]:
    """Frames of a decoded gloss of class ``cls`` over ``span`` ``[start, end)`` of
    ``log_probs`` ``(T, C)``: those where ``cls`` is the best class, else the whole span.

    Decoders' spans can be a few frames off (pyctcdecode's word frames), and blank frames in a
    span carry no sign: the winning frames are the sign's own.
    """
    start = max(0, min(span[0], len(log_probs) - 1))
    end = max(start + 1, min(span[1], len(log_probs)))
    frames = np.arange(start, end)
    winning = frames[log_probs[start:end].argmax(axis=1) == cls]
    return winning if len(winning) else frames


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
