"""Distractor signs in training sentences and the clip-decision arithmetic of the
generalisation checks (training/generalise.py), on small generated data."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.features import FeatureSpec
from tests.conftest import _sign, make_sequence, tiny_config
from training.data.conditions import condition_named
from training.data.sentences import SentenceData, attach
from training.generalise import ClipDecision, accuracy, false_accepts, precision


def test_attach_keeps_labels_and_joins_in_time_at_the_same_place() -> None:
    seq = make_sequence(num_frames=20, seed=1, glosses=("tea", "coffee"))
    other = make_sequence(num_frames=15, seed=2, glosses=("moon",))
    other = other.replace(points=other.points + np.float32(0.1))  # elsewhere in the picture
    for before in (True, False):
        out = attach(seq, other, before=before, gap_s=0.2)
        assert out.glosses == ("tea", "coffee") and out.num_frames == 35
        assert np.all(np.diff(out.timestamps) > 0)
        part = out.points[:15] if before else out.points[20:]
        sh = part[:, [11, 12], :2].mean(axis=(0, 1))
        np.testing.assert_allclose(sh, seq.points[:, [11, 12], :2].mean(axis=(0, 1)), atol=1e-5)
        gap = (
            out.timestamps[15] - out.timestamps[14]
            if before
            else out.timestamps[20] - out.timestamps[19]
        )
        assert gap == pytest.approx(0.2)


def test_distractors_leave_out_known_glosses_and_are_deterministic(tiny_data: Path) -> None:
    ds = Dataset.create(tiny_data / "distract")
    ds.append([_sign("moon", s, "x") for s in range(3)] + [_sign("tea", 9, "x")])
    base = tiny_config(tiny_data, "distract").data
    from dataclasses import replace

    cfg = replace(base, distractors=(str(tiny_data / "distract"),), distractor_probability=1.0)
    data = SentenceData(cfg, FeatureSpec())
    assert [s.glosses for s in data.distractors] == [("moon",)] * 3  # "tea" is a known gloss
    a, b = data.train_epoch(0), data.train_epoch(0)
    plain = SentenceData(base, FeatureSpec()).train_epoch(0)
    assert all(np.array_equal(x.features, y.features) for x, y in zip(a, b, strict=True))
    assert [x.labels for x in a] == [x.labels for x in plain]  # distractors add no label
    assert sum(x.features.shape[0] for x in a) > sum(x.features.shape[0] for x in plain)


def test_clip_decision_arithmetic() -> None:
    dec = [ClipDecision("tea", 0.9), ClipDecision("hello", 0.4, known=False), ClipDecision("", 0)]
    want = ["tea", "coffee", ""]
    assert accuracy(dec, want, reject=False) == pytest.approx(2 / 3)
    assert accuracy(dec, want) == pytest.approx(2 / 3)  # "hello" rejected: still wrong
    assert precision(dec, want, reject=False) == pytest.approx(1 / 2)
    assert precision(dec, want) == 1.0
    unknown = [ClipDecision("tea", 0.99, known=k) for k in (True, False, False, True, False)]
    assert false_accepts(unknown, reject=False) == 1.0
    assert false_accepts(unknown) == pytest.approx(2 / 5)
    assert precision([ClipDecision("tea", 0.9, known=False)], ["tea"]) == 1.0  # none given


def test_rest_only_sentences_and_longer_pauses_in_training(tiny_data: Path) -> None:
    """``idle_sentences``: that share of training sentences is a pause with no label; the
    pauses' length follows ``idle_seconds``; dev sentences keep the defaults."""
    from dataclasses import replace

    base = tiny_config(tiny_data, "rest").data
    rest = SentenceData(replace(base, idle_sentences=1.0), FeatureSpec()).train_epoch(0)
    assert rest and all(len(x.labels) == 0 for x in rest)
    plain = SentenceData(base, FeatureSpec())
    assert all(len(x.labels) > 0 for x in plain.train_epoch(0))
    long = SentenceData(replace(base, idle_seconds=(2.0, 2.0), idle_between=1.0), FeatureSpec())
    frames = sum(x.features.shape[0] for x in long.train_epoch(0))
    assert frames > sum(x.features.shape[0] for x in plain.train_epoch(0)) + 24 * 30
    dev = [x.features.shape for x in long.fixed("dev")]
    assert dev == [x.features.shape for x in plain.fixed("dev")]


def test_random_sentences_break_the_grammars_orders(tiny_data: Path) -> None:
    """``random_sentences``: that share of training sentences are glosses in any order and
    number (never one twice in a row), most of them not the grammar's; dev sentences keep the
    grammar."""
    from dataclasses import replace

    from training.data.sentences import RANDOM_SENTENCE_MAX

    base = tiny_config(tiny_data, "random").data
    vocab = SentenceData(base, FeatureSpec()).vocab

    def sentences(data: SentenceData) -> list[tuple[str, ...]]:
        return [tuple(vocab.glosses[k - 1] for k in x.labels) for x in data.train_epoch(0)]

    grammar = {s for s in sentences(SentenceData(base, FeatureSpec()))}
    assert grammar <= {("hello",), ("tea",), ("coffee",), ("hello", "tea"), ("tea", "coffee"),
                       ("coffee", "hello", "tea")}  # fmt: skip
    drawn = SentenceData(replace(base, random_sentences=1.0), FeatureSpec())
    random = sentences(drawn)
    assert all(1 <= len(s) <= RANDOM_SENTENCE_MAX for s in random)
    assert all(a != b for s in random for a, b in itertools.pairwise(s))
    assert sum(s not in grammar for s in random) > len(random) // 2
    assert {s[0] for s in random} == {"hello", "tea", "coffee"}
    assert [x.labels for x in drawn.fixed("dev")] == [
        x.labels for x in SentenceData(base, FeatureSpec()).fixed("dev")
    ]


def test_mirrored_test_sentences_are_the_same_sentences_mirrored(tiny_data: Path) -> None:
    data = SentenceData(tiny_config(tiny_data, "mirror").data, FeatureSpec())
    plain, mirrored = data.fixed("test"), data.fixed("test", condition_named("mirrored"))
    assert [x.labels for x in plain] == [x.labels for x in mirrored]
    assert all(x.features.shape == y.features.shape for x, y in zip(plain, mirrored, strict=True))
    assert not all(
        np.array_equal(x.features, y.features) for x, y in zip(plain, mirrored, strict=True)
    )
    canonical = SentenceData(
        tiny_config(tiny_data, "mirror").data, FeatureSpec(canonical_hand=True)
    )
    a, b = canonical.fixed("test"), canonical.fixed("test", condition_named("mirrored"))
    # with the signing hand made canonical, a mirrored camera changes (almost) nothing
    assert (
        np.mean([np.allclose(x.features, y.features, atol=1e-5) for x, y in zip(a, b, strict=True)])
        >= 0.8
    )


def test_beam_wer_and_heldout_summary_with_and_without_rejection() -> None:
    from training.evaluate import beam_wer, heldout_summary

    def wer(x: float) -> dict[str, float]:
        return {"wer": x}

    heldout = {
        "signers": ["s3"], "greedy": wer(0.3), "isolated_accuracy": 0.5,
        "isolated_accuracy_no_rejection": 0.7, "rejection": True,
        "beam": {"0.5": wer(0.4), "1.0": wer(0.2)},
        "beam_no_rejection": {"0.5": wer(0.1), "1.0": wer(0.15)},
    }  # fmt: skip
    assert beam_wer(heldout, True) == (0.2, 1.0) and beam_wer(heldout, False) == (0.1, 0.5)
    summary = heldout_summary(heldout, rejection=False)
    assert (summary["wer_beam_lm"], summary["lm_alpha"], summary["isolated_top1"]) == (
        0.1,
        0.5,
        0.7,
    )
    assert summary["rejection"] is False and heldout_summary(heldout)["rejection"] is True


def test_sign_form_reads_hands_and_height_from_the_landmarks() -> None:
    from dataclasses import replace

    from training.generalise import sign_form

    seq = make_sequence(num_frames=10, seed=1)
    seq = replace(seq, aspect=1.0, points=seq.points.copy(), present=seq.present.copy())
    seq.points[:, 33, 1] = 0.85  # left wrist below the shoulders (y 0.55; width 0.24)
    seq.points[:, 54, 1] = 0.55
    seq.points[4, 54, 1] = 0.55 - 0.24 * 1.5  # the right wrist once 1.5 widths above them
    seq.present[5:, 1] = False  # the left hand half of the frames
    nobody = replace(seq, present=seq.present.copy())
    nobody.present[:, 1:3] = False
    form = sign_form([seq, nobody])
    assert form["clips"] == 2 and form["no_hand"] == 1
    assert form["both_hands"] == pytest.approx(0.25)  # (5 / 10 + 0) / 2
    assert form["wrist_height"] == pytest.approx(1.5, abs=1e-4)  # the one clip with hands


def test_nested_alpha_is_chosen_on_the_other_folds() -> None:
    from training.generalise import nested_alpha_wer

    def ev(*wers: float) -> dict[str, Any]:
        return {"beam": {a: {"wer": w} for a, w in zip(("0.5", "1.0", "1.5"), wers, strict=True)}}

    folds = {"a": ev(0.10, 0.20, 0.30), "b": ev(0.30, 0.05, 0.20), "c": ev(0.05, 0.10, 0.01)}
    nested = nested_alpha_wer(folds)
    # a: b and c's mean is lowest at 1.0 (0.075); b: a and c's at 0.5 (0.075); c: a and b's
    # at 1.0 (0.125): never the fold's own best (a 0.5, b 1.0, c 1.5)
    assert nested == {
        "a": {"alpha": 1.0, "wer": 0.20},
        "b": {"alpha": 0.5, "wer": 0.30},
        "c": {"alpha": 1.0, "wer": 0.10},
    }
    assert nested_alpha_wer({"a": folds["a"]}) == {}


def test_seed_spread_averages_each_fold_over_seeds_then_over_folds() -> None:
    from training.generalise import fold_summary, seed_spread

    def fold(top1: float, wer: float) -> dict[str, Any]:
        beam = {"1.0": {"wer": wer}, "1.5": {"wer": wer + 0.1}}
        return {"eval": {"isolated_accuracy": top1, "beam": beam}}

    seed0 = {"a": fold(0.9, 0.05), "b": fold(0.8, 0.10)}
    seed1 = {"a": fold(0.7, 0.15), "b": fold(0.8, 0.30)}
    spread = seed_spread({"0": seed0, "1": seed1})
    assert spread["seeds"] == [0, 1]
    assert spread["folds"]["a"] == {"isolated_top1": [0.9, 0.7], "wer_beam_lm": [0.05, 0.15]}
    assert spread["isolated_top1_mean"] == pytest.approx(0.8)  # a 0.8, b 0.8
    assert spread["isolated_top1_worst"] == pytest.approx(0.8)
    assert spread["wer_beam_lm_mean"] == pytest.approx(0.15)  # a 0.10, b 0.20
    assert spread["wer_beam_lm_worst"] == pytest.approx(0.20)
    one = fold_summary(seed0)
    assert one["isolated_top1_mean"] == pytest.approx(0.85)
    assert one["wer_beam_lm_worst"] == pytest.approx(0.10)
