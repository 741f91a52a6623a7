"""Augmentations: identity when off, deterministic, each one changes what it should."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.features import FeatureSpec, compute_features
from tests.conftest import make_sequence
from training.augment import AugmentConfig, augment


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
