"""The gloss vocabulary of a CTC model: class 0 is the CTC blank, classes 1..V the glosses.

Idle (not signing) has no class of its own: CTC's blank covers it, so a model trained on
sentences with pauses emits blanks while the signer rests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["BLANK", "Vocabulary"]

BLANK = 0  # index of the CTC blank


@dataclass(frozen=True)
class Vocabulary:
    """Glosses in class order (class ``i + 1`` is ``glosses[i]``)."""

    glosses: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.glosses:
            raise ValueError("a vocabulary needs at least one gloss")
        bad = [g for g in self.glosses if not g or any(c.isspace() for c in g)]
        if bad:
            # the LM and pyctcdecode treat each gloss as one word: no spaces inside
            raise ValueError(f"gloss names must be non-empty and without spaces: {bad}")
        if len(set(self.glosses)) != len(self.glosses):
            raise ValueError("glosses must be unique")

    @classmethod
    def from_glosses(cls, glosses: Iterable[str]) -> Vocabulary:
        """Sorted, de-duplicated vocabulary (a stable class order across runs)."""
        return cls(tuple(sorted(set(glosses))))

    @property
    def num_classes(self) -> int:
        """Glosses + blank: the size of the model's output."""
        return len(self.glosses) + 1

    def __len__(self) -> int:
        return len(self.glosses)

    def __contains__(self, gloss: object) -> bool:
        return gloss in self._index

    @property
    def _index(self) -> dict[str, int]:
        return {g: i + 1 for i, g in enumerate(self.glosses)}

    def encode(self, glosses: Sequence[str]) -> list[int]:
        """Glosses -> class ids (KeyError names an unknown gloss)."""
        index = self._index
        try:
            return [index[g] for g in glosses]
        except KeyError as e:
            raise KeyError(f"gloss {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Class ids (no blanks) -> glosses."""
        return [self.glosses[i - 1] for i in ids]
