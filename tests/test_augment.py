"""Augmentations: identity when off, deterministic, each one changes what it should."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.features import DEFAULT_ASPECT, FeatureSpec, compute_features
from engine.landmarks import LandmarkSequence
from tests.conftest import make_sequence
from training.data.augment import AugmentConfig, augment


def test_none_is_identity_and_default_is_deterministic() -> None:
    seq = make_sequence(num_frames=40, drop_left=0.2)
    same = augment(seq, AugmentConfig.none(), np.random.default_rng(0))
    np.testing.assert_allclose(same.points, seq.points, atol=1e-6)
    np.testing.assert_array_equal(same.present, seq.present)
    a = augment(seq, AugmentConfig(), np.random.default_rng(5))
    b = augment(seq, AugmentConfig(), np.random.default_rng(5))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.glosses == seq.glosses and a.signer == seq.signer
    assert np.isfinite(compute_features(a, FeatureSpec()).values).all()
    assert np.all(a.points[~a.point_mask()] == 0)  # absent points stay zero


def test_each_augmentation_does_its_job() -> None:
    seq = make_sequence(num_frames=60)
    off = AugmentConfig.none()
    mirrored = augment(seq, dataclasses.replace(off, mirror=1.0), np.random.default_rng(0))
    np.testing.assert_array_equal(mirrored.present[:, 1], seq.present[:, 2])
    fast = augment(seq, dataclasses.replace(off, speed=(2.0, 2.0001)), np.random.default_rng(0))
    assert fast.duration < 0.6 * seq.duration
    slow_camera = augment(
        seq, dataclasses.replace(off, fps=(15.0,), fps_probability=1.0), np.random.default_rng(0)
    )
    assert slow_camera.num_frames == 30 and slow_camera.fps == 15.0
    dropout = augment(seq, dataclasses.replace(off, hand_dropout=1.0), np.random.default_rng(1))
    assert dropout.present[:, 1:3].sum() < seq.present[:, 1:3].sum()
    bigger = augment(seq, dataclasses.replace(off, scale=(1.3, 1.3)), np.random.default_rng(0))
    width = lambda s: np.abs(s.points[:, 11, 0] - s.points[:, 12, 0]).mean()  # noqa: E731
    assert width(bigger) > 1.25 * width(seq)
    # features are body-normalised: scale alone barely changes them
    f0 = compute_features(seq, FeatureSpec()).values
    f1 = compute_features(bigger, FeatureSpec()).values
    np.testing.assert_allclose(f0, f1, atol=1e-3)


def _hand_span(seq_points: np.ndarray, start: int) -> float:
    """Mean distance of a hand's points from its wrist (x, y; x in the default aspect's units,
    as the augmentation turns hands in the picture)."""
    hand = seq_points[:, start : start + 21, :2] * np.array([DEFAULT_ASPECT, 1.0])
    return float(np.linalg.norm(hand - hand[:, :1], axis=-1).mean())


def _wrist_from_shoulder(seq: LandmarkSequence) -> np.ndarray:
    """``(T,)`` distance of the right wrist (pose) from the right shoulder, image units."""
    return np.linalg.norm(seq.points[:, 16, :2] - seq.points[:, 12, :2], axis=-1)


def test_a_runs_hand_dropout_comes_from_its_data_config() -> None:
    from training.config import DataConfig
    from training.data.sentences import augmentation_for

    assert augmentation_for(DataConfig()) is None  # augment off
    assert augmentation_for(DataConfig(augment=True)) == AugmentConfig()  # the defaults
    longer = augmentation_for(
        DataConfig(augment=True, hand_dropout=0.6, hand_dropout_frames=(4, 15))
    )
    assert longer is not None
    assert (longer.hand_dropout, longer.hand_dropout_frames) == (0.6, (4, 15))
    seq = make_sequence(num_frames=60)
    cfg = dataclasses.replace(AugmentConfig.none(), hand_dropout=1.0, hand_dropout_frames=(15, 15))
    lost = augment(seq, cfg, np.random.default_rng(0))
    assert (seq.present[:, 2].sum() - lost.present[:, 2].sum()) == 15  # one burst of 15
