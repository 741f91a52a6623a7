"""Other webcams and signers as fixed changes to test sentences (training/data/conditions.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.features import FeatureSpec, compute_features
from engine.landmarks import LandmarkSequence
from tests.conftest import make_sequence, tiny_config
from training.data.conditions import CONDITIONS, condition_named
from training.data.sentences import SentenceData


def _width(seq: LandmarkSequence) -> float:
    return float(np.abs(seq.points[:, 11, 0] - seq.points[:, 12, 0]).mean())


def test_each_condition_makes_the_change_it_names_the_same_way_every_time() -> None:
    seq = make_sequence(num_frames=60, drop_left=0.1)
    out = {c.name: c.apply(seq, [7, 1]) for c in CONDITIONS}
    for c in CONDITIONS:
        again = c.apply(seq, [7, 1])
        np.testing.assert_array_equal(again.points, out[c.name].points)
        np.testing.assert_array_equal(again.timestamps, out[c.name].timestamps)
        assert out[c.name].glosses == seq.glosses
        assert np.isfinite(compute_features(out[c.name], FeatureSpec()).values).all()
    np.testing.assert_allclose(out["mirrored"].points, seq.mirrored().points, atol=1e-6)
    assert out["fps15"].num_frames == 30 and out["fps10"].num_frames == 20
    assert _width(out["far"]) == pytest.approx(0.5 * _width(seq), rel=1e-3)
    assert not np.allclose(out["angle"].points[:, :33, :2], seq.points[:, :33, :2], atol=1e-3)
    lost = out["hands-lost"]
    assert lost.num_frames < seq.num_frames
    assert lost.present[:, 1:3].mean() < seq.present[:, 1:3].mean()
    span = lambda s: s.timestamps[-1] - s.timestamps[0]  # noqa: E731
    assert span(out["fast"]) == pytest.approx(span(seq) / 1.5)
    assert span(out["slow"]) == pytest.approx(span(seq) * 1.5)


def test_condition_names_are_unique_and_an_unknown_one_is_refused() -> None:
    names = [c.name for c in CONDITIONS]
    assert len(set(names)) == len(names)
    assert condition_named("fps10").name == "fps10"
    with pytest.raises(ValueError, match="known: mirrored"):
        condition_named("underwater")


def test_test_sentences_under_a_condition_are_the_same_sentences(tiny_data: Path) -> None:
    data = SentenceData(tiny_config(tiny_data, "conditions").data, FeatureSpec())
    plain = data.fixed("test")
    slow = data.fixed("test", condition=condition_named("slow"))
    assert [x.labels for x in slow] == [x.labels for x in plain]
    assert sum(len(x.features) for x in slow) > 1.4 * sum(len(x.features) for x in plain)
    assert data.fixed("test", condition=condition_named("slow")) is slow  # cached
    fresh = SentenceData(tiny_config(tiny_data, "conditions").data, FeatureSpec())
    again = fresh.fixed("test", condition=condition_named("slow"))
    assert all(np.array_equal(a.features, b.features) for a, b in zip(slow, again, strict=True))


def test_the_evaluate_command_refuses_an_unknown_condition_with_the_known_ones() -> None:
    from signstream.cli import main

    with pytest.raises(SystemExit, match="unknown condition 'underwater'; known: mirrored"):
        main(["train", "evaluate", "model.onnx", "--condition", "underwater"])
