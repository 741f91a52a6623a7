"""Fit and calibrate a model's out-of-vocabulary rejection (used by :mod:`engine.rejection`).

    signstream train reject CKPT    # fit on its training signers, calibrate, save into CKPT

1. **Fit** on the training signers' isolated clips of the model's own glosses: the model runs
   over each clip as over an isolated sample (edges held); the mean hidden vector over the
   frames where the clip's own class wins is one sample of that class (clips where it never
   wins give none), plus every gloss of the dev sentences (training signers' held-back
   samples) that the model decodes exactly right, over its frames. Not only clips decided
   right: a sign the model always misses as an isolated clip (GET, taken for COFFEE) but
   recognises in sentences still gets a mean, else every GET it does recognise would be
   rejected. From them: the class
   means and the pooled within-class covariance, shrunk towards a scaled identity
   (``SHRINKAGE``) so that a small class (a sign taught from a few recordings) still gives an
   invertible matrix. The whitening ``W = cholesky(inverse(covariance))`` makes the
   Mahalanobis distance a Euclidean one: the exported model outputs ``hidden @ W`` as its
   ``embedding``, and the class means are stored whitened.
2. **Calibrate** the threshold on clips of signs the model does not know (the caller's
   calibration set, e.g. Bhutanese SL words that neither training nor any test uses): the
   largest distance at which at most ``max_false_accept`` of those clips still give a gloss.

Measured on the shipped model's fold (held-out signer dmohazab): separating the held-out
signer's correctly recognised clips from WLASL-50 / Mexican SL / tutorial unknown-sign clips,
the Mahalanobis distance has an AUROC of 0.93, the gloss's mean posterior 0.64.

The fit lives in the checkpoint (``extra["rejection"]``); :func:`training.export.export_onnx`
bakes it into the ONNX graph and metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.nn import functional as F

from engine.dataset import Dataset
from engine.decoder import GlossDecoder
from engine.landmarks import LandmarkSequence
from engine.rejection import Rejector, gloss_frames
from training.batches import batches
from training.checkpoint import Checkpoint
from training.data.sentences import Example, SentenceData, clip_choice, clip_example

__all__ = [
    "SHRINKAGE",
    "ClipOutput",
    "RejectionFit",
    "calibrate_threshold",
    "clip_outputs",
    "fit_rejection",
    "training_clips",
    "whiten_classes",
]

SHRINKAGE = 0.1  # weight of the scaled identity in the covariance (measured: 1e-3..0.1 alike)

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClipOutput:
    """An isolated clip decided the way the app decides: the most confident greedy gloss."""

    gloss: str  # "" when the clip decodes to nothing
    confidence: float  # its mean posterior (0 for nothing)
    hidden: FloatArray | None  # (H,) mean hidden vector over the gloss's frames


@dataclass(frozen=True)
class RejectionFit:
    """What a checkpoint stores: ``embedding = hidden @ whitening``, class means whitened."""

    whitening: FloatArray  # (H, H)
    means: FloatArray  # (K, H) whitened class means
    threshold: float  # squared whitened distance (see engine.rejection)
    info: dict[str, Any]  # how it was fitted and calibrated (clip counts, rates)

    def rejector(self) -> Rejector:
        return Rejector(self.means, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {
            "whitening": self.whitening.tolist(),
            "means": self.means.tolist(),
            "threshold": self.threshold,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RejectionFit:
        return cls(
            np.asarray(d["whitening"], np.float32),
            np.asarray(d["means"], np.float32),
            float(d["threshold"]),
            dict(d.get("info", {})),
        )


@torch.no_grad()
def clip_outputs(
    ck: Checkpoint, seqs: Sequence[LandmarkSequence], labels: Sequence[str] | None = None
) -> list[ClipOutput]:
    """Decide each clip (edges held for ``ISOLATED_HOLD_S``) and keep its gloss's hidden mean.

    With ``labels``, the hidden mean is over the frames where the label's class wins (None
    where it never does), whatever the decision.
    """
    model = ck.model().eval()
    spec, vocab = ck.config.feature_spec, ck.vocab
    examples = [clip_example(s.replace(glosses=()), spec, vocab) for s in seqs]
    greedy = GlossDecoder(vocab)
    out: list[ClipOutput] = []
    for batch in batches(examples, 64):
        o = model(batch.x, batch.lengths)
        lps = F.log_softmax(o.logits.float(), dim=-1).numpy()
        hidden = o.hidden.float().numpy()
        for lp, h, n in zip(lps, hidden, batch.lengths.tolist(), strict=True):
            lp, h = lp[:n], h[:n]
            r = greedy.decode(lp)
            gloss, confidence, mean = "", 0.0, None
            k = clip_choice(r)
            if k is not None:
                gloss, confidence = r.glosses[k], float(r.confidences[k])
                (cls,) = vocab.encode([gloss])
                mean = h[gloss_frames(lp, cls, r.spans[k])].mean(axis=0)
            if labels is not None:
                (cls,) = vocab.encode([labels[len(out)]])
                wins = lp.argmax(axis=1) == cls
                mean = h[wins].mean(axis=0) if wins.any() else None
            out.append(ClipOutput(gloss, confidence, mean))
    return out


@torch.no_grad()
def sentence_samples(ck: Checkpoint, examples: Sequence[Example]) -> list[tuple[FloatArray, str]]:
    """``(hidden mean, gloss)`` of every gloss of the sentences the model decodes exactly."""
    model = ck.model().eval()
    greedy = GlossDecoder(ck.vocab)
    out: list[tuple[FloatArray, str]] = []
    chunks = [examples[i : i + 64] for i in range(0, len(examples), 64)]
    for batch, chunk in zip(batches(examples, 64), chunks, strict=True):
        o = model(batch.x, batch.lengths)
        lps = F.log_softmax(o.logits.float(), dim=-1).numpy()
        hidden = o.hidden.float().numpy()
        for lp, h, n, e in zip(lps, hidden, batch.lengths.tolist(), chunk, strict=True):
            r = greedy.decode(lp[:n])
            if r.glosses != tuple(e.glosses):
                continue
            for gloss, span in zip(r.glosses, r.spans, strict=True):
                (cls,) = ck.vocab.encode([gloss])
                out.append((h[:n][gloss_frames(lp[:n], cls, span)].mean(axis=0), gloss))
    return out


def training_clips(ck: Checkpoint) -> tuple[list[LandmarkSequence], list[str]]:
    """The isolated clips of the checkpoint's training signers whose gloss it knows."""
    data = ck.config.data
    ds = Dataset(data.dataset)
    seqs, labels = [], []
    for info in ds.infos:
        if (
            len(info.glosses) == 1
            and info.signer not in data.test_signers
            and info.gloss != data.idle_gloss
            and info.gloss in ck.vocab
        ):
            seqs.append(ds[info.index])
            labels.append(info.gloss)
    return seqs, labels


def whiten_classes(
    samples: FloatArray, classes: npt.NDArray[np.intp]
) -> tuple[FloatArray, FloatArray]:
    """``W`` ``(H, H)`` with ``|(x - y) @ W|^2`` the Mahalanobis distance under the pooled
    within-class covariance of ``samples`` ``(N, H)`` (shrunk towards a scaled identity), and
    the class means ``(K, H)`` times ``W`` (classes ``0 .. K-1``)."""
    x = samples.astype(np.float64)
    labels = np.unique(classes)
    means = np.stack([x[classes == c].mean(axis=0) for c in labels])
    centred = x - means[np.searchsorted(labels, classes)]
    cov = centred.T @ centred / max(1, len(x) - len(labels))
    scale = np.trace(cov) / len(cov)
    cov = (1 - SHRINKAGE) * cov + SHRINKAGE * scale * np.eye(len(cov))
    w = np.linalg.cholesky(np.linalg.inv(cov))
    return w.astype(np.float32), (means @ w).astype(np.float32)


def calibrate_threshold(distances: Sequence[float], clips: int, max_false_accept: float) -> float:
    """The largest distance threshold at which at most ``max_false_accept`` of ``clips``
    unknown-sign clips give a gloss. ``distances``: those of the clips that decode one."""
    d = np.sort(np.asarray(distances, np.float64))
    allowed = int(np.floor(max_false_accept * clips + 1e-9))  # clips that may be accepted
    if allowed >= len(d):
        return float(d[-1] * 2) if len(d) else float(np.finfo(np.float32).max)
    if allowed == 0:
        return float(d[0] / 2)
    return float((d[allowed - 1] + d[allowed]) / 2)  # between the last accepted and the next


def fit_rejection(
    ck: Checkpoint, calibration: Sequence[LandmarkSequence], max_false_accept: float
) -> RejectionFit:
    """Fit on the training signers' clips, calibrate on ``calibration`` (unknown signs)."""
    seqs, labels = training_clips(ck)
    if not seqs:
        raise ValueError(f"{ck.config.data.dataset}: no training clips to fit the rejection on")
    outs = clip_outputs(ck, seqs, labels)
    seen = [(o.hidden, g) for o, g in zip(outs, labels, strict=True) if o.hidden is not None]
    dev = SentenceData(ck.config.data, ck.config.feature_spec).fixed("dev")
    in_sentences = sentence_samples(ck, dev)
    seen += in_sentences
    glosses = sorted({g for _, g in seen})  # every class with a clip where it wins
    if len(glosses) < 2:
        raise ValueError("fewer than two glosses are recognised on their training clips")
    index = {g: i for i, g in enumerate(glosses)}
    keep = [(h, index[g]) for h, g in seen if g in index]
    samples = np.stack([h for h, _ in keep])
    w, means = whiten_classes(samples, np.array([c for _, c in keep]))
    rejector = Rejector(means, 0.0)
    cal = [o for o in clip_outputs(ck, calibration) if o.hidden is not None]
    distances = [rejector.distance((o.hidden @ w)[None]) for o in cal]  # type: ignore[operator]
    threshold = calibrate_threshold(distances, len(calibration), max_false_accept)
    info = {
        "samples": len(samples),
        "training_clips": len(seqs),
        "dev_sentences": len(dev),
        "samples_from_sentences": len(in_sentences),
        "classes": glosses,
        "shrinkage": SHRINKAGE,
        "calibration_clips": len(calibration),
        "calibration_false_accept_no_rejection": len(cal) / max(1, len(calibration)),
        "calibration_false_accept": sum(d <= threshold for d in distances)
        / max(1, len(calibration)),
        "max_false_accept": max_false_accept,
    }
    return RejectionFit(w, means, threshold, info)
