"""The shared feature pipeline: invariances, masks, resampling, versioning, locality."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import FeatureSpecMismatch
from engine.features import FeatureSpec, check_spec, compute_features
from engine.handedness import dominant_hand
from engine.landmarks import LandmarkSequence
from engine.resample import fill_gaps, resample
from tests.conftest import make_sequence


def transformed(
    seq: LandmarkSequence, scale: float, shift: tuple[float, float]
) -> LandmarkSequence:
    """Scale about the image centre and shift the present points (z scales too)."""
    p = seq.points.copy()
    m = seq.point_mask()
    p[..., 0] = np.where(m, (p[..., 0] - 0.5) * scale + 0.5 + shift[0], 0)
    p[..., 1] = np.where(m, (p[..., 1] - 0.5) * scale + 0.5 + shift[1], 0)
    p[..., 2] = np.where(m, p[..., 2] * scale, 0)
    return seq.replace(points=p)


def test_dimension_matches_names() -> None:
    spec = FeatureSpec()
    f = compute_features(make_sequence(), spec)
    assert f.values.shape == (24, spec.dim) and f.values.dtype == np.float32
    assert len(set(spec.names)) == spec.dim
    assert np.isfinite(f.values).all()


@pytest.mark.parametrize(
    ("scale", "shift"), [(1.0, (0.1, -0.05)), (0.6, (0.0, 0.0)), (1.3, (-0.07, 0.02))]
)
def test_invariant_to_body_translation_and_scale(scale: float, shift: tuple[float, float]) -> None:
    seq = make_sequence(drop_left=0.3, seed=5)
    spec = FeatureSpec()
    a = compute_features(seq, spec).values
    b = compute_features(transformed(seq, scale, shift), spec).values
    np.testing.assert_allclose(a, b, atol=2e-4)


def test_features_change_when_hands_move() -> None:
    seq = make_sequence(seed=5)
    p = seq.points.copy()
    p[:, 54:75, 0] += 0.05  # right hand moves, body stays
    a = compute_features(seq, FeatureSpec()).values
    b = compute_features(seq.replace(points=p), FeatureSpec()).values
    assert np.abs(a - b).max() > 0.05


def test_masks_are_honoured() -> None:
    seq = make_sequence(num_frames=40)
    present = seq.present.copy()
    present[10:30, 1] = False  # left hand gone for 20 frames = 0.67 s: a real absence
    p = seq.points.copy()
    p[10:30, 33:54] = 0
    spec = FeatureSpec()
    f = compute_features(seq.replace(points=p, present=present), spec)
    names = spec.names
    left = [i for i, n in enumerate(names) if n.startswith("left.")]
    vel_left = [i for i, n in enumerate(names) if n.startswith("velocity.left")]
    assert np.all(f.values[10:30, names.index("present.left_hand")] == 0)
    assert np.all(f.values[10:30][:, left] == 0)
    assert np.all(f.values[10:31][:, vel_left] == 0)  # no jump when the hand comes back
    assert np.all(f.values[:10, names.index("present.left_hand")] == 1)


def test_short_gaps_are_interpolated_long_gaps_are_not() -> None:
    seq = make_sequence(num_frames=40)
    present = seq.present.copy()
    p = seq.points.copy()
    present[5:8, 2] = False  # 3 frames (0.13 s): bridged
    present[20:35, 2] = False  # 15 frames (0.53 s): kept absent
    p[5:8, 54:75] = 0
    p[20:35, 54:75] = 0
    filled = fill_gaps(seq.replace(points=p, present=present), max_gap_s=0.25)
    assert filled.present[5:8, 2].all() and not filled.present[20:35, 2].any()
    # the synthetic hand moves smoothly: interpolation lands near the truth
    np.testing.assert_allclose(filled.points[5:8, 54:75, :2], seq.points[5:8, 54:75, :2], atol=0.01)


def test_resampling_uses_timestamps() -> None:
    seq60 = make_sequence(num_frames=60, fps=60.0)
    r = resample(seq60, 30.0)
    assert r.num_frames == 30 and r.fps == 30.0
    np.testing.assert_allclose(np.diff(r.timestamps), 1 / 30, atol=1e-9)
    np.testing.assert_allclose(r.points, seq60.points[::2], atol=1e-6)
    # irregular timestamps (a webcam that dropped frames) resample to the same grid
    keep = np.sort(np.random.default_rng(0).choice(np.arange(1, 59), 40, replace=False))
    keep = np.concatenate([[0], keep, [59]])
    sparse = seq60.replace(
        points=seq60.points[keep], present=seq60.present[keep], timestamps=seq60.timestamps[keep]
    )
    r2 = resample(sparse, 30.0)
    assert r2.num_frames == 30
    np.testing.assert_allclose(r2.points[..., :2], r.points[..., :2], atol=0.01)
    # same rate: unchanged values
    np.testing.assert_array_equal(resample(r, 30.0).points, r.points)


def test_same_features_at_other_frame_rates() -> None:
    """A signer filmed at 15 or 60 fps gives (nearly) the features of 30 fps."""
    spec = FeatureSpec(fps=15.0)
    f60 = compute_features(make_sequence(num_frames=120, fps=60.0), spec).values
    f30 = compute_features(make_sequence(num_frames=60, fps=30.0), spec).values
    assert f60.shape == f30.shape == (30, spec.dim)
    np.testing.assert_allclose(f60, f30, atol=1e-4)


def test_canonical_hand_mirrors_left_dominant_signing() -> None:
    seq = make_sequence(num_frames=40, seed=7)
    p = seq.points.copy()
    p[:, 54:75, :2] = p[0, 54:75, :2]  # right hand still, left hand moving: left-dominant
    left_dominant = seq.replace(points=p)
    assert dominant_hand(left_dominant) == "left"
    assert dominant_hand(left_dominant.mirrored()) == "right"
    spec = FeatureSpec(canonical_hand=True)
    a = compute_features(left_dominant, spec)
    b = compute_features(left_dominant.mirrored(), spec)
    assert a.mirrored and not b.mirrored
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)


def test_spec_is_versioned_and_checked() -> None:
    spec = FeatureSpec(fps=25.0, face=False)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    check_spec(spec, FeatureSpec.from_json(spec.to_json()))
    with pytest.raises(FeatureSpecMismatch, match="fps"):
        check_spec(spec, FeatureSpec(fps=30.0))
    with pytest.raises(FeatureSpecMismatch, match="version"):
        check_spec(spec, FeatureSpec(version=spec.version + 1, fps=25.0))
    with pytest.raises(FeatureSpecMismatch, match="version"):
        compute_features(make_sequence(), FeatureSpec(version=99))
    with pytest.raises(FeatureSpecMismatch):
        FeatureSpec.from_json('{"fps": 30, "warp": 2}')
    with pytest.raises(FeatureSpecMismatch, match="face"):
        compute_features(make_sequence(), FeatureSpec(face=True))


def test_window_features_equal_stream_features() -> None:
    """Locality: features of a window cut from a stream equal the stream's, inside the window."""
    seq = make_sequence(num_frames=90, drop_left=0.2, seed=11)
    spec = FeatureSpec()
    whole = compute_features(seq, spec).values
    a, b = 30, 70
    window = compute_features(seq.slice_frames(a, b), spec).values
    margin = 8  # gap filling and velocity look a few frames around
    np.testing.assert_allclose(window[margin:-margin], whole[a + margin : b - margin], atol=1e-6)


def test_sequence_without_pose_uses_the_image_frame() -> None:
    seq = make_sequence()
    present = seq.present.copy()
    present[:, 0] = False
    p = seq.points.copy()
    p[:, :33] = 0
    f = compute_features(seq.replace(points=p, present=present), FeatureSpec())
    assert np.isfinite(f.values).all()


def test_stream_resampler_equals_batch_resampling() -> None:
    from engine.resample import StreamResampler

    seq60 = make_sequence(num_frames=61, fps=60.0, drop_left=0.3, seed=4)
    keep = np.sort(np.random.default_rng(2).choice(np.arange(1, 60), 35, replace=False))
    keep = np.concatenate([[0], keep, [60]])
    jittery = seq60.replace(
        points=seq60.points[keep], present=seq60.present[keep], timestamps=seq60.timestamps[keep]
    )
    whole = resample(jittery, 30.0)
    stream = StreamResampler(30.0)
    frames = [f for i in range(jittery.num_frames) for f in stream.push(
        jittery.points[i], jittery.present[i], float(jittery.timestamps[i]))]  # fmt: skip
    assert len(frames) == whole.num_frames
    np.testing.assert_allclose([f[0] for f in frames], whole.timestamps, atol=1e-9)
    np.testing.assert_allclose(np.stack([f[1] for f in frames]), whole.points, atol=1e-6)
    np.testing.assert_array_equal(np.stack([f[2] for f in frames]), whole.present)


def test_pose_points_a_layout_lacks_are_filled_not_read_as_image_origin() -> None:
    """WLASL-50's layout has no eyes: they must not be read as the image's (0, 0)."""
    seq = make_sequence(seed=3)
    spec = FeatureSpec()
    full = compute_features(seq, spec).values
    lacking = seq.replace(points=seq.points.copy())
    lacking.points[:, [2, 5]] = 0.0  # what layout 170 reads for the eyes
    values = compute_features(lacking, spec).values
    names = spec.names
    nose = [names.index(f"pose.0.{c}") for c in "xy"]
    for eye in (2, 5):
        cols = [names.index(f"pose.{eye}.{c}") for c in "xy"]
        # near the nose (a fraction of a shoulder width), not far outside the body
        assert np.all(np.abs(values[:, cols] - values[:, nose]) < 0.3)
    lacked = ("pose.2.", "pose.5.", "velocity.pose.2.", "velocity.pose.5.")
    other = [i for i, n in enumerate(names) if not n.startswith(lacked)]
    np.testing.assert_array_equal(values[:, other], full[:, other])
    assert not np.array_equal(values, full)
    # mirroring keeps a lacking point lacking (not x = 1)
    np.testing.assert_array_equal(lacking.mirrored().points[:, [2, 5]], 0.0)
