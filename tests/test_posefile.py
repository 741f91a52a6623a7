"""engine.posefile: the pose-format ``.pose`` reader/writer and its LandmarkSequence conversion."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.errors import SourceError
from engine.landmarks import FACE, FACE_SUBSET, GROUP_INDEX, NUM_POINTS_WITH_FACE, LandmarkSequence
from engine.posefile import (
    HAND_CONNECTIONS,
    HAND_LANDMARK_NAMES,
    POSE_CONNECTIONS,
    POSE_LANDMARK_NAMES,
    PoseComponent,
    PoseFile,
    PoseFileError,
    pose_from_bytes,
    pose_to_bytes,
    pose_to_sequence,
    read_pose,
    read_sequence,
    sequence_to_pose,
    write_pose,
    write_sequence,
)
from tests.conftest import make_sequence


def _small_posefile(frames: int = 5, people: int = 2, seed: int = 0) -> PoseFile:
    """Two components of different formats (dims = 3), random values, some missing points."""
    rng = np.random.default_rng(seed)
    comps = (
        PoseComponent("BODY", ("A", "B", "C"), ((0, 1), (1, 2)), ((255, 0, 0),), "XYZC"),
        PoseComponent("HAND", ("W", "T"), ((0, 1),), ((1, 2, 3), (400, 500, 600)), "XYC"),
    )
    data = rng.normal(100, 30, size=(frames, people, 5, 3)).astype(np.float32)
    conf = rng.uniform(0, 1, size=(frames, people, 5)).astype(np.float32)
    conf[rng.random(conf.shape) < 0.3] = 0.0
    return PoseFile(
        version=0.2, fps=29.97, width=640, height=360, depth=0,
        components=comps, data=data, confidence=conf,
    )  # fmt: skip


def _str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<H", len(raw)) + raw


def _header(version: float, comps: list[tuple[str, str, list[str]]]) -> bytes:
    """A header built by hand from the spec (independent of the module's encoder)."""
    out = struct.pack("<fHHHH", version, 200, 100, 0, len(comps))
    for name, fmt, points in comps:
        out += _str(name) + _str(fmt) + struct.pack("<HHH", len(points), 1, 1)
        out += b"".join(_str(p) for p in points)
        out += struct.pack("<HH", 0, 1) + struct.pack("<HHH", 9, 8, 7)
    return out


# ---------------------------------------------------------------------------------- generic level
def test_generic_round_trip(tmp_path: Path) -> None:
    pf = _small_posefile()
    path = tmp_path / "sub" / "x.pose"
    write_pose(path, pf)
    back = read_pose(path)
    assert back == pf
    assert back.fps == 29.97  # float32 in the file, read back as the shortest decimal
    assert back.num_people == 2 and back.dims == 3
    assert back.component("HAND").colors == ((1, 2, 3), (400, 500, 600))
    assert back.data[:, :, pf.component_slice("HAND")].shape == (5, 2, 2, 3)
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["x.pose"]  # no temp left


def test_written_bytes_follow_the_v02_spec() -> None:
    pf = _small_posefile(frames=3, people=1)
    raw = pose_to_bytes(pf)
    (version,) = struct.unpack_from("<f", raw, 0)
    assert round(version, 3) == 0.2
    body = len(raw) - (3 * 1 * 5 * 3 + 3 * 1 * 5) * 4 - struct.calcsize("<fIH")
    fps, frames, people = struct.unpack_from("<fIH", raw, body)
    assert (round(fps, 2), frames, people) == (29.97, 3, 1)
    assert raw.endswith(pf.confidence.astype("<f4").tobytes())


def test_older_versions_are_rewritten_as_v02(tmp_path: Path) -> None:
    pf = dataclasses.replace(_small_posefile(), version=0.1, fps=24.0)
    write_pose(tmp_path / "x.pose", pf)
    assert read_pose(tmp_path / "x.pose") == dataclasses.replace(pf, version=0.2)


def test_reads_hand_built_v01_and_v02() -> None:
    comps = [("P", "XYZC", ["a", "b"])]
    data = np.arange(3 * 1 * 2 * 3, dtype="<f4")
    conf = np.array([1, 0, 1, 1, 0.5, 0], dtype="<f4")
    tail = data.tobytes() + conf.tobytes()
    v2 = _header(0.2, comps) + struct.pack("<fIH", 12.5, 3, 1) + tail
    # 0.1: integer fps; the frame count comes from the data size (0 = overflowed u16)
    v1 = _header(0.1, comps) + struct.pack("<HHH", 25, 0, 1) + tail
    for raw, version, fps in ((v2, 0.2, 12.5), (v1, 0.1, 25.0)):
        pf = pose_from_bytes(raw)
        assert (pf.version, pf.fps, pf.width, pf.height) == (version, fps, 200, 100)
        assert pf.components[0] == PoseComponent("P", ("a", "b"), ((0, 1),), ((9, 8, 7),), "XYZC")
        np.testing.assert_array_equal(pf.data.reshape(-1), data)
        np.testing.assert_array_equal(pf.confidence.reshape(-1), conf)
        assert pf.data.shape == (3, 1, 2, 3)


def test_reads_hand_built_v00_with_varying_people() -> None:
    comps = [("P", "XYC", ["a", "b"]), ("Q", "XYZC", ["c"])]
    body = struct.pack("<HH", 10, 2)
    # frame 0: two people; frame 1: one
    p = [np.arange(6, dtype="<f4") + 10 * i for i in range(3)]
    q = [np.arange(4, dtype="<f4") + 100 * i for i in range(3)]
    body += struct.pack("<Hh", 2, 7) + p[0].tobytes() + q[0].tobytes()
    body += struct.pack("<h", 8) + p[1].tobytes() + q[1].tobytes()
    body += struct.pack("<Hh", 1, 7) + p[2].tobytes() + q[2].tobytes()
    pf = pose_from_bytes(_header(0.0, comps) + body)
    assert (pf.version, pf.fps, pf.data.shape) == (0.0, 10.0, (2, 2, 3, 3))
    np.testing.assert_array_equal(pf.data[0, 1, 0], [10, 11, 0])  # XYC: x, y, then z = 0
    np.testing.assert_array_equal(pf.data[0, 1, 2], [100, 101, 102])
    np.testing.assert_array_equal(pf.confidence[0, 1], [12, 15, 103])
    np.testing.assert_array_equal(pf.confidence[1, 1], [0, 0, 0])  # padding: nobody there


def test_truncated_file_gives_a_clear_error_at_every_cut(tmp_path: Path) -> None:
    raw = pose_to_bytes(_small_posefile(frames=2, people=1))
    path = tmp_path / "cut.pose"
    for cut in range(len(raw)):
        path.write_bytes(raw[:cut])
        with pytest.raises(SourceError) as info:
            read_pose(path)
        assert str(path) in str(info.value)
    path.write_bytes(raw[: len(raw) - 10])
    with pytest.raises(PoseFileError, match=r"cut\.pose: truncated .*need 160 bytes of data"):
        read_pose(path)


def test_truncated_v01_is_detected_by_the_frame_count() -> None:
    comps = [("P", "XYZC", ["a"])]
    frame = np.zeros(4, "<f4").tobytes()  # 3 dims + 1 confidence per frame
    raw = _header(0.1, comps) + struct.pack("<HHH", 24, 3, 1) + frame * 2  # says 3, holds 2
    with pytest.raises(PoseFileError, match="header says 3 frames, the data holds 2"):
        pose_from_bytes(raw, "v01.pose")
    with pytest.raises(PoseFileError, match="not a whole number of frames"):
        pose_from_bytes(raw[:-3], "v01.pose")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "truncated .*version"),
        (struct.pack("<f", 3.5) + b"\0" * 20, "unsupported pose-format version"),
        (b"GIF89a" + b"\0" * 40, "not a .pose file"),
        (pose_to_bytes(_small_posefile(frames=1, people=1)) + b"xyz", "3 unexpected bytes"),
        (
            struct.pack("<fHHHHH", 0.2, 1, 1, 0, 1, 2) + b"\xff\xfe",
            "name of component 1 is not UTF-8",
        ),
    ],
)
def test_corrupt_files_raise_source_error(raw: bytes, message: str) -> None:
    with pytest.raises(PoseFileError, match=message) as info:
        pose_from_bytes(raw, "bad.pose")
    assert str(info.value).startswith("bad.pose: ")


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.pose: cannot read"):
        read_pose(tmp_path / "nope.pose")


def test_unwritable_values_fail_before_touching_the_target(tmp_path: Path) -> None:
    target = tmp_path / "x.pose"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="width"):
        write_pose(target, dataclasses.replace(_small_posefile(), width=70_000))
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pose"]


def test_posefile_checks_shapes() -> None:
    pf = _small_posefile()
    with pytest.raises(ValueError, match="data must be"):
        dataclasses.replace(pf, data=pf.data[:, :, :4])
    with pytest.raises(ValueError, match="float32"):
        dataclasses.replace(pf, confidence=pf.confidence.astype(np.float64))


# ---------------------------------------------------------------------------------- sequences
def _assert_same_sequence(a: LandmarkSequence, b: LandmarkSequence) -> None:
    assert a.points.shape == b.points.shape
    np.testing.assert_array_equal(a.present, b.present)
    np.testing.assert_allclose(b.points, a.points, rtol=1e-6, atol=1e-7)
    assert b.fps == a.fps
    np.testing.assert_allclose(b.timestamps, a.timestamps, rtol=0, atol=1e-12)


def test_sequence_round_trip(tmp_path: Path) -> None:
    seq = make_sequence(num_frames=40, drop_left=0.4, seed=3)
    seq = seq.replace(aspect=640 / 360)
    assert not seq.is_present("left_hand").all()
    write_sequence(tmp_path / "s.pose", seq, width=640, height=360)
    back = read_sequence(tmp_path / "s.pose")
    _assert_same_sequence(seq, back)
    assert back.aspect == seq.aspect
    assert back.source == str(tmp_path / "s.pose")
    assert (back.extra["image_width"], back.extra["image_height"]) == ("640", "360")
    pf = read_pose(tmp_path / "s.pose")
    assert pf.component_names() == (
        "POSE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS",
    )  # fmt: skip
    # pixels in the file, as pose-format's MediaPipe files have them
    np.testing.assert_allclose(pf.data[:, 0, 11, 0], seq.points[:, 11, 0] * 640, rtol=1e-6)


def test_sequence_round_trip_with_face_zero_confidence_and_odd_fps() -> None:
    base = make_sequence(num_frames=12, fps=29.97, seed=5)
    rng = np.random.default_rng(1)
    points = np.zeros((12, NUM_POINTS_WITH_FACE, 4), np.float32)
    points[:, : base.points.shape[1]] = base.points
    points[:, FACE.slice, :3] = rng.uniform(0.3, 0.6, size=(12, FACE.size, 3))
    points[:, FACE.slice, 3] = 1.0
    points[:, 0, 3] = 0.0  # a detected pose whose nose has visibility 0
    present = base.present.copy()
    present[:, GROUP_INDEX["face"]] = True
    present[4, GROUP_INDEX["face"]] = False
    points[4, FACE.slice] = 0.0
    present[7, GROUP_INDEX["right_hand"]] = False
    points[7, 54:75] = 0.0
    seq = base.replace(points=points, present=present, aspect=None)
    pf = sequence_to_pose(seq)
    assert (pf.width, pf.height) == (1000, 1000)  # no size known: 1000 wide, square
    assert pf.component("FACE_LANDMARKS").points == tuple(str(i) for i in FACE_SUBSET)
    back = pose_to_sequence(pose_from_bytes(pose_to_bytes(pf)))
    assert back.has_face
    _assert_same_sequence(seq, back)
    assert back.fps == 29.97
    # and the face can be dropped on reading
    assert not pose_to_sequence(pf, with_face=False).has_face


def test_size_defaults_from_the_sequence() -> None:
    seq = make_sequence(num_frames=3).replace(aspect=4 / 3)
    pf = sequence_to_pose(seq)
    assert (pf.width, pf.height) == (1000, 750)
    assert sequence_to_pose(seq, height=480).width == 640
    seq = seq.replace(extra={"image_width": "320", "image_height": "240"})
    assert (sequence_to_pose(seq).width, sequence_to_pose(seq).height) == (320, 240)


def test_non_holistic_file_is_refused_with_its_components() -> None:
    pf = _small_posefile()
    with pytest.raises(PoseFileError, match=r"x.pose: not a MediaPipe Holistic .*BODY \(3 points"):
        pose_to_sequence(pf, source="x.pose")
    with pytest.raises(SourceError, match="person 2 requested"):
        pose_to_sequence(sequence_to_pose(make_sequence(num_frames=2)), person=2)


def test_reduced_pose_needs_partial_pose() -> None:
    full = sequence_to_pose(make_sequence(num_frames=4))
    keep = [0, *range(11, 17)]  # nose, shoulders, elbows, wrists
    body = full.components[0]
    reduced_body = dataclasses.replace(body, points=tuple(body.points[i] for i in keep), limbs=())
    cols = keep + list(range(33, full.num_points))
    pf = dataclasses.replace(
        full,
        components=(reduced_body, *full.components[1:]),
        data=full.data[:, :, cols],
        confidence=full.confidence[:, :, cols],
    )
    with pytest.raises(PoseFileError, match=r"has 7 of MediaPipe's 33 pose points.*partial_pose"):
        pose_to_sequence(pf)
    seq = pose_to_sequence(pf, partial_pose=True)
    assert seq.is_present("pose").all()
    assert np.all(seq.points[:, 1:11] == 0) and np.all(seq.points[:, 17:33] == 0)
    assert seq.extra["missing_pose_points"].startswith("LEFT_EYE_INNER,")
    np.testing.assert_allclose(seq.points[:, 15], make_sequence(num_frames=4).points[:, 15],
                               rtol=1e-6)  # fmt: skip


# ---------------------------------------------------------------------------------- real files
# What the shared files hold (measured): version, components, frames, fps, width x height.
_HOLISTIC = (
    "POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS",
    "POSE_WORLD_LANDMARKS",
)  # fmt: skip
_OPENPOSE = (
    "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
)  # fmt: skip
_REAL_FILES = {
    "FOOTBALL.pose": (0.2, _HOLISTIC, 62, 29.97, 640, 360),
    "example.pose": (0.2, _HOLISTIC, 97, 25.0, 320, 240),
    "seg_example.pose": (0.2, _HOLISTIC, 130, 30.0, 320, 240),
    "mediapipe.pose": (0.1, _HOLISTIC[:4], 170, 24.0, 1250, 1250),
    "mediapipe_long.pose": (0.1, _HOLISTIC[:4], 278, 24.0, 1250, 1250),
    "sgg_essen.pose": (0.1, _HOLISTIC[:4], 73, 24.0, 640, 480),
    "openpose.pose": (0.0, _OPENPOSE, 93, 24.0, 1000, 1000),
}


@pytest.mark.data
def test_reads_every_real_file(shared_data: Path) -> None:
    paths = sorted((shared_data / "pose").glob("*.pose"))
    assert paths, f"no .pose files in {shared_data / 'pose'}"
    for path in paths:
        pf = read_pose(path)
        assert pf.num_frames > 0 and pf.num_people == 1, path
        assert np.isfinite(pf.data).all() and (pf.confidence >= 0).all(), path
        if path.name in _REAL_FILES:
            version, comps, frames, fps, width, height = _REAL_FILES[path.name]
            got = (pf.version, pf.component_names(), pf.num_frames, pf.fps, pf.width, pf.height)
            assert got == (version, comps, frames, fps, width, height), path
        # what we write, we read back unchanged (as version 0.2)
        assert pose_from_bytes(pose_to_bytes(pf)) == dataclasses.replace(pf, version=0.2), path


@pytest.mark.data
def test_official_v02_files_re_encode_to_the_same_bytes(shared_data: Path) -> None:
    for name in ("FOOTBALL.pose", "example.pose", "seg_example.pose"):
        path = shared_data / "pose" / name
        assert pose_to_bytes(read_pose(path)) == path.read_bytes(), name


@pytest.mark.data
def test_mediapipe_names_and_skeletons_match_real_files(shared_data: Path) -> None:
    pf = read_pose(shared_data / "pose" / "FOOTBALL.pose")
    body, hand = pf.component("POSE_LANDMARKS"), pf.component("LEFT_HAND_LANDMARKS")
    assert body.points == POSE_LANDMARK_NAMES and hand.points == HAND_LANDMARK_NAMES
    assert set(body.limbs) == set(POSE_CONNECTIONS)
    assert set(hand.limbs) == set(HAND_CONNECTIONS)


@pytest.mark.data
def test_real_holistic_files_convert(shared_data: Path) -> None:
    for name in ("FOOTBALL.pose", "example.pose", "seg_example.pose"):
        seq = read_sequence(shared_data / "pose" / name)
        assert seq.has_face and seq.is_present("pose").all(), name
        assert seq.fps == _REAL_FILES[name][3]
        # normalised, not pixels (MediaPipe extrapolates off-screen legs beyond 0..1)
        hands = seq.points[:, 33:75, :2][seq.point_mask()[:, 33:75]]
        assert hands.min() > -0.2 and hands.max() < 1.2, name
        assert np.abs(seq.points[..., :2]).max() < 5, name
        z = seq.points[..., 2][seq.point_mask()]
        assert np.abs(z).max() < 5, name  # MediaPipe's relative z, unscaled
        # the file's LEFT hand is the one at the pose's LEFT_WRIST (labels carried over as is)
        left = seq.is_present("left_hand")
        if left.any():
            wrist = seq.group("left_hand")[left, 0, :2]
            near = np.linalg.norm(wrist - seq.points[left, 15, :2], axis=1).mean()
            far = np.linalg.norm(wrist - seq.points[left, 16, :2], axis=1).mean()
            assert near < far, name
    seq = read_sequence(shared_data / "pose" / "FOOTBALL.pose")
    assert seq.aspect == 640 / 360 and seq.is_present("right_hand").mean() > 0.9


@pytest.mark.data
def test_reduced_real_files_need_partial_pose(shared_data: Path) -> None:
    for name in ("mediapipe.pose", "mediapipe_long.pose", "sgg_essen.pose"):
        path = shared_data / "pose" / name
        with pytest.raises(PoseFileError, match="8 of MediaPipe's 33 pose points"):
            read_sequence(path)
        seq = read_sequence(path, partial_pose=True)
        # their 128-point face lacks FACE_SUBSET points 1 and 168: no face unless asked for
        assert not seq.has_face, name
        with pytest.raises(PoseFileError, match="lacks the FACE_SUBSET points 1, 168"):
            read_sequence(path, partial_pose=True, with_face=True)
        assert seq.is_present("pose").all(), name
        np.testing.assert_array_equal(seq.points[:, 0], 0.0)  # NOSE is not in the file


@pytest.mark.data
def test_openpose_file_is_refused_clearly(shared_data: Path) -> None:
    path = shared_data / "pose" / "openpose.pose"
    with pytest.raises(SourceError) as info:
        read_sequence(path)
    message = str(info.value)
    assert str(path) in message and "not a MediaPipe Holistic pose file" in message
    assert "pose_keypoints_2d (25 points, XYC)" in message
