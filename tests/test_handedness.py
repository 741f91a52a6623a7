"""Canonical handedness: the per-sequence decision and the live engine's running state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.extractor import FrameLandmarks
from engine.features import FeatureSpec, compute_features
from engine.handedness import HandednessTracker, dominant_hand
from engine.landmarks import FloatArray, LandmarkSequence
from engine.pipeline import PipelineConfig, Recognizer
from tests.conftest import make_sequence, tiny_config

RIGHT, LEFT = slice(54, 75), slice(33, 54)


def right_handed(num_frames: int = 300, seed: int = 0) -> LandmarkSequence:
    """The right-hand slot signs (moves), the left-hand slot rests in view."""
    seq = make_sequence(num_frames=num_frames, seed=seed)
    p = seq.points.copy()
    p[:, LEFT] = p[:1, LEFT]
    return seq.replace(points=p)


def still(seq: LandmarkSequence) -> LandmarkSequence:
    """Both hands in view and motionless (a person at rest)."""
    p = seq.points.copy()
    p[:, 33:75] = p[:1, 33:75]
    return seq.replace(points=p)


def track(tracker: HandednessTracker, seq: LandmarkSequence) -> list[bool]:
    return [tracker.push(seq.points[i], seq.present[i]) for i in range(seq.num_frames)]


def test_tracker_follows_the_signing_hand_and_holds_it() -> None:
    signer = right_handed()
    assert dominant_hand(signer) == "right" and dominant_hand(signer.mirrored()) == "left"
    tracker = HandednessTracker(fps=30.0)
    assert not any(track(tracker, signer))  # right-handed: never mirrored
    tracker.reset()
    states = track(tracker, signer.mirrored())
    assert states[-1] and not states[0]
    flip = states.index(True)
    assert flip < 60 and all(states[flip:])  # within two seconds, then held
    # a rest and a stretch where both hands move alike do not flip it back
    assert all(track(tracker, still(signer.mirrored())))
    assert all(track(tracker, make_sequence(num_frames=300, seed=4)))
    # the other hand signing for a while does
    assert not track(tracker, right_handed(num_frames=900, seed=5))[-1]


def test_a_person_at_rest_never_flips_it() -> None:
    tracker = HandednessTracker(fps=30.0)
    rest = still(make_sequence(num_frames=900, seed=2))
    rest.present[:, 2] = False  # only the left hand in view, motionless
    assert not any(track(tracker, rest))


def test_forced_mirror_is_the_mirrored_sequence() -> None:
    seq = right_handed(num_frames=40)
    spec = FeatureSpec(canonical_hand=True)
    forced = compute_features(seq, spec, mirror=True)
    assert forced.mirrored
    np.testing.assert_array_equal(
        forced.values, compute_features(seq.mirrored(), spec, mirror=False).values
    )
    # None: decided from the sequence (right-handed: not mirrored)
    np.testing.assert_array_equal(
        compute_features(seq, spec).values, compute_features(seq, spec, mirror=False).values
    )
    with pytest.raises(ValueError, match="canonical_hand"):
        compute_features(seq, FeatureSpec(), mirror=True)


@pytest.fixture(scope="module")
def canonical_onnx(tiny_data: Path) -> Path:
    from training.checkpoint import load_checkpoint
    from training.export import export_onnx
    from training.trainer import train

    config = tiny_config(
        tiny_data, "canonical", "mobilenet1d", "optim.epochs=1", "features.canonical_hand=true"
    )
    run = train(config, progress=False)
    out = tiny_data / "canonical.onnx"
    export_onnx(load_checkpoint(run.run_dir / "best.pt"), out, window=32, hop=8)
    return out


def model_inputs(onnx: Path, seq: LandmarkSequence) -> list[FloatArray]:
    """The feature windows the live engine gives the model for ``seq``."""
    rec = Recognizer(str(onnx), None, PipelineConfig(model=str(onnx)))
    assert rec.handedness is not None
    seen: list[FloatArray] = []
    model = rec.model

    class Recording:
        def infer(self, features: FloatArray) -> tuple[FloatArray, None]:
            seen.append(features.copy())
            return model(features), None

    rec.model = Recording()  # type: ignore[assignment]
    stage: dict[str, float] = {}
    for i in range(seq.num_frames):
        rec.push(
            FrameLandmarks(seq.points[i], seq.present[i], float(seq.timestamps[i]), 640, 480), stage
        )
    rec.close()
    return seen


def test_live_windows_of_a_mirrored_signer_match_once_the_hand_is_known(
    canonical_onnx: Path,
) -> None:
    """A left-handed signer (or a mirrored webcam) gives the model the same windows as the
    right-handed original once the tracker has seen the signing hand, and every window after
    that, rests included (per-window decisions flip in them)."""
    signer = right_handed(num_frames=240)
    rest = still(signer).slice_frames(0, 120)
    seq = LandmarkSequence(
        points=np.concatenate([signer.points, rest.points]),
        present=np.concatenate([signer.present, rest.present]),
        timestamps=np.arange(360) / 30.0,
        fps=30.0,
    )
    a, b = model_inputs(canonical_onnx, seq), model_inputs(canonical_onnx, seq.mirrored())
    assert len(a) == len(b) > 20
    same = [np.allclose(x, y, atol=1e-5) for x, y in zip(a, b, strict=True)]
    first = same.index(True)
    assert first < 12 and all(same[first:])


def test_the_signing_hand_survives_a_model_swap(canonical_onnx: Path) -> None:
    """Swapping models mid-session keeps what the engine learned about the signer's hand."""
    from engine.pipeline import Pipeline
    from engine.sources import replay_sequences

    pipeline = Pipeline(PipelineConfig(model=str(canonical_onnx)))
    pipeline.start(replay_sequences([right_handed(num_frames=240).mirrored()], realtime=False))
    list(pipeline.events(timeout=60))
    assert pipeline.recognizer is not None and pipeline.recognizer.handedness is not None
    assert pipeline.recognizer.handedness.mirrored
    pipeline.swap_model(str(canonical_onnx))  # not running: swapped at once
    assert pipeline.recognizer.handedness.mirrored
    pipeline.close()
