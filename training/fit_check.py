"""The check of a fit on takes it did not train on (Fit to me's ``TeachConfig.hold_back``).

A person records k takes of each gloss. With three takes, one of them is a better judge of a
fine-tune than the training loss: :func:`hold_back` keeps one take of each gloss recorded at least
twice out of training, and :class:`KeepBest` scores the model on those takes before the fit and
after every epoch, keeping the weights that score best. A fit that decides the person's own
held-back takes worse than the model did leaves the model as it was (on the people it was tuned
on, a person the model already recognised well lost up to 10 points to a fit without it).

The score is the share of takes decided right the way the app decides a clip and the k-shot
curve measures it (greedy, the most confident decoded gloss or nothing:
:func:`training.data.sentences.clip_choice`), then minus their mean CTC loss: with three takes,
many epochs get the same share right, and the loss says which is surest. (Decoding exactly the
sign and nothing else was the first score: it judged the model before the fit far below its
clip decisions, ReetKubba's 33% against 82%, and kept fits that lost 22 points.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from engine.decoder import DecodeResult, GlossDecoder
from engine.vocabulary import Vocabulary
from training.batches import batches, predict
from training.data.sentences import Example, clip_choice
from training.trainer import ctc_loss

__all__ = ["Check", "KeepBest", "accuracy", "decided_right", "hold_back"]

T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """The held-back takes: how the model before the fit and the weights kept decide them
    (share right), and the epoch kept (0: the model before)."""

    takes: int
    before: float
    after: float
    epoch: int

    def to_dict(self) -> dict[str, Any]:
        return {"takes": self.takes, "before": self.before, "after": self.after,
                "epoch": self.epoch}  # fmt: skip

    def describe(self) -> str:
        kept = (
            "the model as it was kept (the fit did not do better on them)"
            if self.epoch == 0
            else f"epoch {self.epoch} kept"
        )
        return (
            f"{self.takes} takes held back: {self.before:.0%} right before, "
            f"{self.after:.0%} after; {kept}"
        )


def hold_back(
    samples: dict[str, list[T]], glosses: Sequence[str], seed: int
) -> tuple[dict[str, list[T]], list[tuple[str, T]]]:
    """``samples`` (gloss -> takes) less one random take of each of ``glosses`` with two or more,
    and those takes as ``(gloss, take)``; a pure function of ``seed``."""
    rng = np.random.default_rng([seed, 17])
    kept = dict(samples)
    held: list[tuple[str, T]] = []
    for g in sorted(glosses):
        items = samples[g]
        if len(items) >= 2:
            i = int(rng.integers(len(items)))
            held.append((g, items[i]))
            kept[g] = items[:i] + items[i + 1 :]
    return kept, held


def _decoded(
    model: nn.Module, examples: Sequence[Example], vocab: Vocabulary
) -> Iterator[tuple[DecodeResult, Example]]:
    """Each example's greedy decoding (the engine's decoder), with the example."""
    decoder = GlossDecoder(vocab)
    lps = predict(model, examples, torch.device("cpu"))
    for lp, e in zip(lps, examples, strict=True):
        yield decoder.decode(lp), e


@torch.no_grad()
def accuracy(model: nn.Module, examples: Sequence[Example], vocab: Vocabulary) -> float:
    """Share of ``examples`` the model decodes exactly (greedy, the engine's decoder)."""
    if not examples:
        return 0.0
    return sum(r.glosses == e.glosses for r, e in _decoded(model, examples, vocab)) / len(examples)


def _right(r: DecodeResult, e: Example) -> bool:
    k = clip_choice(r)
    return k is not None and (r.glosses[k],) == e.glosses


@torch.no_grad()
def decided_right(model: nn.Module, examples: Sequence[Example], vocab: Vocabulary) -> float:
    """Share of one-sign ``examples`` decided as their sign, as the app decides a clip (greedy,
    the most confident decoded gloss, or nothing)."""
    if not examples:
        return 0.0
    return sum(_right(r, e) for r, e in _decoded(model, examples, vocab)) / len(examples)


@torch.no_grad()
def _score(model: nn.Module, examples: Sequence[Example], vocab: Vocabulary) -> tuple[float, float]:
    """``(share decided right, minus the mean CTC loss)``: higher is better."""
    share = decided_right(model, examples, vocab)
    losses = [float(ctc_loss(model(b.x, b.lengths).logits, b)) for b in batches(examples, 64)]
    return share, -float(np.mean(losses))


class KeepBest:
    """The weights of ``model`` that score best on ``examples`` (the held-back takes): the
    model as it is now, unless :meth:`after_epoch` finds better ones."""

    def __init__(self, model: nn.Module, examples: Sequence[Example], vocab: Vocabulary) -> None:
        self.model, self.examples, self.vocab = model, list(examples), vocab
        self.before = _score(model, self.examples, vocab)
        self.best, self.epoch = self.before, 0
        self.state = copy.deepcopy(model.state_dict())

    def after_epoch(self, epoch: int) -> float:
        """Score the model after ``epoch`` (1-based) and keep it if it is the best so far;
        returns its share decided right."""
        score = _score(self.model, self.examples, self.vocab)
        if score > self.best:
            self.best, self.epoch = score, epoch
            self.state = copy.deepcopy(self.model.state_dict())
        return score[0]

    def restore(self) -> Check:
        """Load the best weights into the model; what the check found."""
        self.model.load_state_dict(self.state)
        return Check(len(self.examples), self.before[0], self.best[0], self.epoch)
