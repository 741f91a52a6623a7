"""Splits of a dataset by signer: no person's samples on two sides of a split.

A model evaluated on a signer it was trained on looks far better than it will on a new user, so
every split here is by signer: each signer's samples go wholly to train, dev or test. The
functions work on metadata only (``Dataset.infos``), never on landmarks, and return dataset
sample indices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from engine.errors import SignStreamError

__all__ = [
    "SignerInfo",
    "Split",
    "SplitError",
    "leave_one_signer_out",
    "list_signers",
    "split_by_signer",
]

IndexArray = npt.NDArray[np.int64]
# What to do with samples whose signer is not recorded ("")
UnknownSigner = Literal["error", "train", "drop"]


class SplitError(SignStreamError, ValueError):
    """A split was asked for that cannot be made (unknown signer, signer on two sides, ...)."""


class SignerInfo(Protocol):
    """What a split needs of a sample: ``engine.dataset.SampleInfo`` has it."""

    @property
    def index(self) -> int: ...

    @property
    def signer(self) -> str: ...


@dataclass(frozen=True)
class Split:
    """Dataset sample indices of each side, and who signs them."""

    train: IndexArray  # (n_train,) int64 sample indices, ascending
    dev: IndexArray  # (n_dev,) int64
    test: IndexArray  # (n_test,) int64
    train_signers: tuple[str, ...]  # sorted
    dev_signers: tuple[str, ...]  # sorted
    test_signers: tuple[str, ...]  # sorted

    def validate(self, infos: Sequence[SignerInfo]) -> None:
        """Raise :class:`SplitError` if any signer has samples on two sides (a leak)."""
        signer_of = {info.index: info.signer for info in infos}
        sides: dict[str, set[str]] = {}
        for side, indices in (("train", self.train), ("dev", self.dev), ("test", self.test)):
            for i in indices.tolist():
                sides.setdefault(signer_of[i], set()).add(side)
        leaks = {s: sorted(v) for s, v in sides.items() if len(v) > 1}
        if leaks:
            detail = ", ".join(f"{s or '<unknown>'} in {'+'.join(v)}" for s, v in leaks.items())
            raise SplitError(f"signers on two sides of the split: {detail}")
        overlap = set(self.train.tolist()) & (set(self.dev.tolist()) | set(self.test.tolist()))
        if overlap or set(self.dev.tolist()) & set(self.test.tolist()):
            raise SplitError("a sample is on two sides of the split")

    def summary(self) -> str:
        def side(name: str, idx: IndexArray, who: tuple[str, ...]) -> str:
            return f"{name} {len(idx)} ({', '.join(who) or '-'})"

        return "; ".join(
            [
                side("train", self.train, self.train_signers),
                side("dev", self.dev, self.dev_signers),
                side("test", self.test, self.test_signers),
            ]
        )


def list_signers(infos: Iterable[SignerInfo]) -> dict[str, int]:
    """Signer -> number of samples, sorted by signer ("" is the unknown signer)."""
    counts = Counter(info.signer for info in infos)
    return dict(sorted(counts.items()))


def split_by_signer(
    infos: Sequence[SignerInfo],
    test_signers: Iterable[str],
    dev_signers: Iterable[str] = (),
    unknown_signer: UnknownSigner = "error",
) -> Split:
    """Test and dev get the named signers' samples, train everybody else's.

    ``unknown_signer``: samples without a signer cannot be proven not to be a held-out
    person, so by default they are an error; ``"train"`` puts them in train, ``"drop"`` leaves
    them out. Raises :class:`SplitError` for a signer asked for twice or not in ``infos``,
    and when no signer is left for training.
    """
    test = _unique(test_signers, "test")
    dev = _unique(dev_signers, "dev")
    both = sorted(set(test) & set(dev))
    if both:
        raise SplitError(f"signers asked for both dev and test: {', '.join(both)}")
    known = list_signers(infos)
    missing = sorted(s for s in (*test, *dev) if s not in known or s == "")
    if missing:
        raise SplitError(
            f"no samples of signer(s) {', '.join(repr(s) for s in missing)}; "
            f"the signers are: {', '.join(s for s in known if s) or 'none'}"
        )
    if "" in known and unknown_signer == "error":
        raise SplitError(
            f"{known['']} samples have no signer, so a split by signer cannot place them "
            "(put them in train or drop them explicitly)"
        )
    held_out = set(test) | set(dev)
    train_signers = tuple(
        s for s in known if s not in held_out and (s != "" or unknown_signer == "train")
    )
    if not train_signers:
        raise SplitError("every signer is held out: nobody is left for training")

    sides: dict[str, list[int]] = {"train": [], "dev": [], "test": []}
    side_of = {s: "test" for s in test} | {s: "dev" for s in dev}
    for info in infos:
        if info.signer == "" and unknown_signer == "drop":
            continue
        sides[side_of.get(info.signer, "train")].append(info.index)
    split = Split(
        train=np.array(sorted(sides["train"]), np.int64),
        dev=np.array(sorted(sides["dev"]), np.int64),
        test=np.array(sorted(sides["test"]), np.int64),
        train_signers=train_signers,
        dev_signers=tuple(sorted(dev)),
        test_signers=tuple(sorted(test)),
    )
    split.validate(infos)  # the invariant this module exists for; cheap enough to always check
    return split


def leave_one_signer_out(
    infos: Sequence[SignerInfo], with_dev: bool = False, unknown_signer: UnknownSigner = "error"
) -> Iterator[Split]:
    """One fold per signer, in signer order: that signer is the test set.

    With ``with_dev`` the next signer (cyclically) is the dev set of the fold, which needs at
    least three signers (someone must be left to train on). ``unknown_signer`` as in
    :func:`split_by_signer`; the unknown signer never gets a fold of its own.
    """
    signers = [s for s in list_signers(infos) if s]
    if len(signers) < (3 if with_dev else 2):
        raise SplitError(
            f"leave-one-signer-out needs {3 if with_dev else 2} signers or more, "
            f"the data has {len(signers)}"
        )
    for k, signer in enumerate(signers):
        dev = (signers[(k + 1) % len(signers)],) if with_dev else ()
        yield split_by_signer(infos, (signer,), dev, unknown_signer)


def _unique(signers: Iterable[str], side: str) -> tuple[str, ...]:
    if isinstance(signers, str):  # "alex" would otherwise be the signers a, l, e, x
        raise SplitError(f"{side} signers must be a list of names, got the string {signers!r}")
    out = tuple(signers)
    dup = sorted(s for s, n in Counter(out).items() if n > 1)
    if dup:
        raise SplitError(f"{side} signer(s) named twice: {', '.join(dup)}")
    return out
