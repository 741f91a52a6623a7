"""Word (gloss) error rate: Levenshtein alignment of gloss lists, corpus-level aggregation.

WER = (substitutions + deletions + insertions) / reference glosses, summed over the corpus
before dividing (the convention of sclite and of the sign language recognition literature;
averaging per-sentence rates would overweight short sentences).

The alignment is the usual unit-cost edit distance. Where several alignments have the fewest
errors, the counts can differ (reference ``A B``, hypothesis ``B A``: 2 substitutions, or a
deletion + an insertion); the traceback prefers a substitution, then a deletion, then an
insertion, which gives 2 substitutions there (sclite's default weights choose the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["AlignmentOp", "WerCounts", "align", "corpus_wer", "wer"]

# one alignment step: (op, reference gloss or None, hypothesis gloss or None)
Op = Literal["ok", "sub", "del", "ins"]
AlignmentOp = tuple[Op, str | None, str | None]


@dataclass(frozen=True)
class WerCounts:
    """Error counts of one sentence or a whole corpus."""

    substitutions: int  # reference gloss replaced by another
    deletions: int  # reference gloss missing from the hypothesis
    insertions: int  # hypothesis gloss with no reference counterpart
    hits: int  # reference glosses recognised correctly
    reference_length: int  # glosses in the reference(s): hits + substitutions + deletions
    hypothesis_length: int  # glosses in the hypothesis(es): hits + substitutions + insertions
    sentences: int = 1  # sentences aggregated
    sentence_errors: int = 0  # sentences with at least one error

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors / reference glosses; 0 for an empty reference with an empty hypothesis,
        ``inf`` for an empty reference with insertions."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_length

    def __add__(self, other: WerCounts) -> WerCounts:
        return WerCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.hits + other.hits,
            self.reference_length + other.reference_length,
            self.hypothesis_length + other.hypothesis_length,
            self.sentences + other.sentences,
            self.sentence_errors + other.sentence_errors,
        )

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready counts and rates (rates as fractions, not percent)."""
        n = max(self.reference_length, 1)
        return {
            "wer": self.wer,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "hits": self.hits,
            "reference_length": self.reference_length,
            "hypothesis_length": self.hypothesis_length,
            "sentences": self.sentences,
            "sentence_errors": self.sentence_errors,
            "sub_rate": self.substitutions / n,
            "del_rate": self.deletions / n,
            "ins_rate": self.insertions / n,
        }

    def __str__(self) -> str:
        return (
            f"WER {100 * self.wer:.2f}% ({self.errors}/{self.reference_length}: "
            f"sub {self.substitutions}, del {self.deletions}, ins {self.insertions}; "
            f"{self.sentences} sentences)"
        )


EMPTY = WerCounts(0, 0, 0, 0, 0, 0, sentences=0, sentence_errors=0)


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> list[AlignmentOp]:
    """A minimum-edit alignment of two gloss lists, in order.

    Each step is ``("ok"|"sub", ref, hyp)``, ``("del", ref, None)`` or ``("ins", None, hyp)``.
    """
    n, m = len(reference), len(hypothesis)
    # cost[i][j]: edit distance between reference[:i] and hypothesis[:j]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        r = reference[i - 1]
        row, prev = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + (0 if r == hypothesis[j - 1] else 1)
            row[j] = min(diag, prev[j] + 1, row[j - 1] + 1)

    ops: list[AlignmentOp] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = reference[i - 1] == hypothesis[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
                ops.append(("ok" if same else "sub", reference[i - 1], hypothesis[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("del", reference[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hypothesis[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def wer(reference: Sequence[str], hypothesis: Sequence[str]) -> WerCounts:
    """Counts of one sentence: ``wer(["A", "B"], ["A", "C", "D"])`` -> 1 sub, 1 ins."""
    ops = align(reference, hypothesis)
    subs = sum(op == "sub" for op, _, _ in ops)
    dels = sum(op == "del" for op, _, _ in ops)
    ins = sum(op == "ins" for op, _, _ in ops)
    hits = sum(op == "ok" for op, _, _ in ops)
    return WerCounts(
        substitutions=subs,
        deletions=dels,
        insertions=ins,
        hits=hits,
        reference_length=len(reference),
        hypothesis_length=len(hypothesis),
        sentences=1,
        sentence_errors=int(subs + dels + ins > 0),
    )


def corpus_wer(pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> WerCounts:
    """Sum of :func:`wer` over ``(reference, hypothesis)`` pairs: total errors / total
    reference glosses."""
    total = EMPTY
    for reference, hypothesis in pairs:
        total = total + wer(reference, hypothesis)
    return total
