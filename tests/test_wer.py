"""Gloss error rate: hand-computed alignments, corpus aggregation, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.wer import WerCounts, align, corpus_wer, wer


def counts(c: WerCounts) -> tuple[int, int, int, int]:
    return c.substitutions, c.deletions, c.insertions, c.hits


@pytest.mark.parametrize(
    ("ref", "hyp", "expected", "rate"),
    [
        ("A B C", "A B C", (0, 0, 0, 3), 0.0),
        ("A B C", "A C", (0, 1, 0, 2), 1 / 3),  # B deleted
        ("A C", "A B C", (0, 0, 1, 2), 1 / 2),  # B inserted
        ("A B C", "A X C", (1, 0, 0, 2), 1 / 3),  # B -> X
        ("A B", "A C D", (1, 0, 1, 1), 1.0),  # one sub + one ins, whichever way aligned
        ("A B C D", "B C D E", (0, 1, 1, 3), 0.5),  # shift: del A + ins E, not 4 subs
        ("A B", "C", (1, 1, 0, 0), 1.0),  # a substitution is preferred to a second deletion
        ("A B C", "", (0, 3, 0, 0), 1.0),
        ("A A B", "A B B", (1, 0, 0, 2), 1 / 3),  # middle A -> B
        ("A B", "B A", (2, 0, 0, 0), 1.0),  # tie with del + ins: substitutions preferred
        ("HELLO I GET TEA", "HELLO HELLO GET COFFEE TEA", (1, 0, 1, 3), 0.5),
    ],
)
def test_hand_computed(
    ref: str, hyp: str, expected: tuple[int, int, int, int], rate: float
) -> None:
    c = wer(ref.split(), hyp.split())
    assert counts(c) == expected
    assert c.wer == pytest.approx(rate)
    assert c.reference_length == len(ref.split())
    assert c.hypothesis_length == len(hyp.split())
    assert c.sentence_errors == int(rate > 0)


def test_empty_reference() -> None:
    assert wer([], []).wer == 0.0
    c = wer([], ["A", "B"])
    assert counts(c) == (0, 0, 2, 0)
    assert math.isinf(c.wer)


def test_alignment_ops() -> None:
    assert align(["A", "B", "C"], ["A", "X", "C", "D"]) == [
        ("ok", "A", "A"),
        ("sub", "B", "X"),
        ("ok", "C", "C"),
        ("ins", None, "D"),
    ]
    assert align(["A", "B"], ["C"]) == [("del", "A", None), ("sub", "B", "C")]
    assert align([], ["A"]) == [("ins", None, "A")]


def test_corpus_is_total_errors_over_total_reference() -> None:
    pairs = [(["A", "B"], ["A"]), (["A", "B", "C", "D"], ["A", "B", "C", "D"])]
    c = corpus_wer(pairs)
    # 1 error / 6 reference glosses, not the mean of the sentence rates (0.5 + 0) / 2
    assert c.wer == pytest.approx(1 / 6)
    assert (c.sentences, c.sentence_errors, c.deletions) == (2, 1, 1)
    assert corpus_wer([]).wer == 0.0
    assert corpus_wer([]).sentences == 0
    d = c.as_dict()
    assert d["wer"] == pytest.approx(1 / 6)
    assert d["del_rate"] == pytest.approx(1 / 6)
    assert "WER 16.67%" in str(c)


def _levenshtein(a: list[str], b: list[str]) -> int:
    """Textbook two-row edit distance, written independently of training.wer."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_random_pairs_match_edit_distance_and_add_up() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        ref = [str(g) for g in rng.integers(0, 4, rng.integers(0, 9))]
        hyp = [str(g) for g in rng.integers(0, 4, rng.integers(0, 9))]
        c = wer(ref, hyp)
        assert c.errors == _levenshtein(ref, hyp)
        assert c.hits + c.substitutions + c.deletions == len(ref)
        assert c.hits + c.substitutions + c.insertions == len(hyp)
        ops = align(ref, hyp)
        assert [r for _, r, _ in ops if r is not None] == ref
        assert [h for _, _, h in ops if h is not None] == hyp
