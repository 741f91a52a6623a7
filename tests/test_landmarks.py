"""The landmark type: layouts, flat conversions, mirroring."""

from __future__ import annotations

import numpy as np
import pytest

from engine.landmarks import (
    FACE_SUBSET,
    NUM_POINTS,
    NUM_POINTS_WITH_FACE,
    LandmarkSequence,
)
from tests.conftest import make_sequence


def test_258_round_trip_and_absent_groups() -> None:
    seq = make_sequence(drop_left=0.4, seed=3)
    flat = seq.to_flat("258")
    assert flat.shape == (seq.num_frames, 258)
    absent = ~seq.is_present("left_hand")
    assert absent.any() and np.all(flat[absent, 132:195] == 0)
    back = LandmarkSequence.from_flat(flat, "258", fps=seq.fps)
    np.testing.assert_array_equal(back.present, seq.present)
    np.testing.assert_allclose(back.points, seq.points, atol=0)


@pytest.mark.parametrize("layout", ["126", "170", "226"])
def test_partial_layouts_round_trip(layout: str) -> None:
    seq = make_sequence(seed=1)
    flat = seq.to_flat(layout)
    assert flat.shape[1] == int(layout)
    again = LandmarkSequence.from_flat(flat, layout, fps=30).to_flat(layout)
    np.testing.assert_array_equal(again, flat)


def test_1662_keeps_the_face_subset() -> None:
    rng = np.random.default_rng(0)
    flat = rng.uniform(0.1, 0.9, size=(5, 1662)).astype(np.float32)
    seq = LandmarkSequence.from_flat(flat, "1662", fps=30)
    assert seq.has_face and seq.points.shape[1] == NUM_POINTS_WITH_FACE
    face = flat[:, 132 : 132 + 468 * 3].reshape(5, 468, 3)
    np.testing.assert_array_equal(seq.group("face")[:, :, :3], face[:, list(FACE_SUBSET)])
    back = seq.to_flat("1662")
    np.testing.assert_array_equal(back[:, :132], flat[:, :132])
    np.testing.assert_array_equal(back[:, -126:], flat[:, -126:])


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="layout 258"):
        LandmarkSequence.from_flat(np.zeros((4, 250)), "258", fps=30)
    with pytest.raises(ValueError, match="points must be"):
        LandmarkSequence(
            points=np.zeros((3, 10, 4), np.float32),
            present=np.zeros((3, 4), bool),
            timestamps=np.arange(3.0),
            fps=30,
        )
    with pytest.raises(ValueError, match="increasing"):
        seq = make_sequence(num_frames=3)
        seq.replace(timestamps=np.array([0.0, 0.1, 0.1]))


def test_mirroring_twice_is_identity_and_swaps_hands() -> None:
    seq = make_sequence(drop_left=0.5, seed=2)
    m = seq.mirrored()
    np.testing.assert_array_equal(m.present[:, 1], seq.present[:, 2])
    np.testing.assert_array_equal(m.present[:, 2], seq.present[:, 1])
    # the right shoulder of the mirror image is the left one of the original, x flipped
    np.testing.assert_allclose(m.points[:, 12, 0], 1 - seq.points[:, 11, 0], atol=1e-6)
    mm = m.mirrored()
    np.testing.assert_allclose(mm.points, seq.points, atol=1e-6)
    np.testing.assert_array_equal(mm.present, seq.present)
    # absent points stay exactly zero
    assert np.all(m.points[~m.point_mask()] == 0)


def test_mirroring_with_face() -> None:
    flat = np.random.default_rng(1).uniform(0.1, 0.9, size=(4, 1662)).astype(np.float32)
    seq = LandmarkSequence.from_flat(flat, "1662", fps=30)
    np.testing.assert_allclose(seq.mirrored().mirrored().points, seq.points, atol=1e-6)
    assert seq.points.shape[1] == NUM_POINTS_WITH_FACE > NUM_POINTS
