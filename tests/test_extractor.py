"""Landmark extraction with the real MediaPipe Holistic graph (engine.extractor, engine.video)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ExtractorError
from engine.extractor import (
    ExtractorConfig,
    FrameLandmarks,
    HolisticExtractor,
    LandmarkExtractor,
    stack_frames,
)
from engine.landmarks import GROUPS, NUM_POINTS, NUM_POINTS_WITH_FACE
from engine.video import VideoReader, extract_video

FRAMES = 40  # enough to see tracking work, ~2 s of MediaPipe


@pytest.fixture(scope="module")
def football(shared_data: Path) -> Path:
    path = shared_data / "videos" / "FOOTBALL.mp4"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.mark.data
def test_extract_real_video(football: Path) -> None:
    seq = extract_video(football, max_frames=FRAMES, glosses=("football",))
    assert seq.num_frames == FRAMES
    assert seq.points.shape == (FRAMES, NUM_POINTS, 4) and seq.points.dtype == np.float32
    assert seq.source == str(football) and seq.glosses == ("football",)
    assert seq.fps == pytest.approx(29.97, abs=0.01)
    assert seq.aspect == pytest.approx(640 / 360)
    np.testing.assert_allclose(np.diff(seq.timestamps), 1 / 29.97, rtol=1e-3)
    assert seq.timestamps[0] == 0.0
    assert seq.is_present("pose").all()
    assert seq.is_present("left_hand").mean() >= 0.9  # measured 98-100% on this video
    assert seq.is_present("right_hand").mean() >= 0.9
    assert not seq.is_present("face").any()  # not asked for
    mask = seq.point_mask()
    pts = seq.points[mask]
    assert np.all((pts[:, 3] >= 0) & (pts[:, 3] <= 1))
    # visible points lie in the image (legs below the frame edge are guessed, with low visibility)
    visible = pts[pts[:, 3] > 0.5]
    assert len(visible) > 0.5 * len(pts)
    assert np.all((visible[:, :2] > -0.05) & (visible[:, :2] < 1.05))
    hands = seq.points[:, NUM_POINTS - 42 :][seq.point_mask()[:, NUM_POINTS - 42 :]]
    assert np.all(hands[:, 3] == 1.0)
    assert np.all(seq.points[~mask] == 0)
    # the signer's wrists are below the nose
    assert np.all(seq.points[:, 15, 1] > seq.points[:, 0, 1])


@pytest.mark.data
def test_face_subset(football: Path) -> None:
    seq = extract_video(football, ExtractorConfig(with_face=True), max_frames=5)
    assert seq.points.shape == (5, NUM_POINTS_WITH_FACE, 4)
    assert seq.is_present("face").all()
    face = seq.group("face")
    nose_tip, nose_pose = face[:, 6, :2], seq.points[:, 0, :2]  # FACE_SUBSET[6] = 1, the nose tip
    assert np.all(np.abs(nose_tip - nose_pose) < 0.05)


@pytest.mark.data
def test_reused_extractor_restarts_per_video(football: Path) -> None:
    with HolisticExtractor() as ex:
        a = extract_video(football, max_frames=3, extractor=ex)
        b = extract_video(football, max_frames=3, extractor=ex)  # timestamps restart at 0
    assert a.num_frames == b.num_frames == 3
    np.testing.assert_allclose(a.points[0], b.points[0], atol=1e-4)


def test_extractor_contract() -> None:
    blank = np.zeros((48, 64, 3), np.uint8)
    with HolisticExtractor() as ex:
        assert isinstance(ex, LandmarkExtractor)
        got = ex.process(blank, 0.0)
        assert isinstance(got, FrameLandmarks)
        assert got.points.shape == (NUM_POINTS, 4) and got.points.dtype == np.float32
        assert got.present.shape == (len(GROUPS),) and not got.present.any()
        assert not got.points.any()
        assert (got.width, got.height) == (64, 48)
        with pytest.raises(ExtractorError, match="increase"):
            ex.process(blank, 0.0)
        with pytest.raises(ExtractorError, match="uint8"):
            ex.process(np.zeros((48, 64), np.uint8), 1.0)
        with pytest.raises(ExtractorError, match="uint8"):
            ex.process(np.zeros((48, 64, 3), np.float32), 1.0)
        ex.reset()
        ex.process(blank, 0.0)  # a new stream may start at 0 again
    with pytest.raises(ExtractorError, match="closed"):
        ex.process(blank, 5.0)
    ex.close()  # idempotent


def test_stack_frames() -> None:
    frames = [
        FrameLandmarks(np.full((NUM_POINTS, 4), i, np.float32), np.ones(4, bool), 0.5 * i, 320, 240)
        for i in range(3)
    ]
    seq = stack_frames(frames, fps=2.0, glosses=("x",), source="s")
    assert seq.points.shape == (3, NUM_POINTS, 4)
    np.testing.assert_array_equal(seq.timestamps, [0.0, 0.5, 1.0])
    assert seq.aspect == pytest.approx(4 / 3) and seq.glosses == ("x",)
    empty = stack_frames([], fps=30.0, with_face=True)
    assert empty.num_frames == 0 and empty.has_face and empty.aspect is None


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ExtractorConfig(min_detection_confidence=1.5)
    assert ExtractorConfig(with_face=True).num_points == NUM_POINTS_WITH_FACE


@pytest.mark.data
def test_gif_decodes(shared_data: Path) -> None:
    path = shared_data / "videos" / "isl_hello.gif"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    with VideoReader(path) as reader:
        frames = list(reader)
        assert reader.info.fps == pytest.approx(10.0)
        assert not reader.truncated
    assert len(frames) == 23
    assert frames[0][0].shape == (180, 320, 3) and frames[0][0].dtype == np.uint8
    np.testing.assert_allclose([t for _, t in frames], np.arange(23) * 0.1, atol=1e-6)
