"""Read and write ``.pose`` files of the pose-format package, and convert them to SignStream's type.

pose-format (github.com/sign-language-processing/pose) is the binary landmark format of the
sign-language-processing community; this module implements it with ``struct`` + NumPy only, so
neither that package nor its dependencies are needed.

File layout (little endian; ``str`` = ``u16`` byte length + UTF-8 bytes)
------------------------------------------------------------------------
Header, the same in every version::

    f32 version | u16 width, height, depth | u16 n_components
    per component: str name | str format (e.g. "XYZC") | u16 n_points, n_limbs, n_colors
                   n_points x str | n_limbs x (u16 from, u16 to) | n_colors x (u16 r, g, b)

``dims`` = the longest component format minus its final ``C`` (confidence); ``points`` = the sum
of the components' points, in component order.

Body, by version:

* ``0.2`` (what :func:`write_pose` writes): ``f32 fps | u32 frames | u16 people``, then
  ``(frames, people, points, dims) f32`` data, then ``(frames, people, points) f32`` confidence.
* ``0.1``: ``u16 fps | u16 frames | u16 people`` then the same two arrays. The ``u16`` frame count
  overflows on long videos, so (like pose-format) the count is taken from the file size.
* ``0.0``: ``u16 fps | u16 frames``, then per frame ``u16 people`` and per person ``i16 id`` and
  each component's ``(points, len(format))`` floats, confidence last. People are padded to the
  largest count of any frame (confidence 0); person ids are not kept.

A point whose confidence is ``0`` is missing (pose-format masks it); its coordinates may hold
anything.

MediaPipe Holistic files (what :func:`pose_to_sequence` understands) have the components
``POSE_LANDMARKS`` (33), ``FACE_LANDMARKS`` (468, or a reduced set named by mesh index),
``LEFT_HAND_LANDMARKS`` / ``RIGHT_HAND_LANDMARKS`` (21) and optionally ``POSE_WORLD_LANDMARKS``,
format ``XYZC``: x, y in pixels of a ``width x height`` image, z MediaPipe's relative depth as the
model returns it (not scaled), confidence = pose visibility, 1 for a detected hand/face point.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.atomic import atomic_write_bytes
from engine.errors import SourceError
from engine.landmarks import (
    DIMS,
    FACE,
    FACE_SUBSET,
    GROUP_INDEX,
    GROUPS,
    LEFT_HAND,
    NUM_POINTS,
    NUM_POINTS_WITH_FACE,
    POSE,
    POSE_POINTS,
    RIGHT_HAND,
    Group,
    LandmarkSequence,
)

__all__ = [
    "HAND_CONNECTIONS",
    "HAND_LANDMARK_NAMES",
    "HOLISTIC_FACE",
    "HOLISTIC_LEFT_HAND",
    "HOLISTIC_POSE",
    "HOLISTIC_POSE_WORLD",
    "HOLISTIC_RIGHT_HAND",
    "POSE_CONNECTIONS",
    "POSE_LANDMARK_NAMES",
    "READ_VERSIONS",
    "WRITE_VERSION",
    "PoseComponent",
    "PoseFile",
    "PoseFileError",
    "pose_from_bytes",
    "pose_to_bytes",
    "pose_to_sequence",
    "read_pose",
    "read_sequence",
    "sequence_to_pose",
    "write_pose",
    "write_sequence",
]

WRITE_VERSION = 0.2
READ_VERSIONS: tuple[float, ...] = (0.0, 0.1, 0.2)

HOLISTIC_POSE = "POSE_LANDMARKS"
HOLISTIC_FACE = "FACE_LANDMARKS"
HOLISTIC_LEFT_HAND = "LEFT_HAND_LANDMARKS"
HOLISTIC_RIGHT_HAND = "RIGHT_HAND_LANDMARKS"
HOLISTIC_POSE_WORLD = "POSE_WORLD_LANDMARKS"  # metric world coordinates: not used by SignStream

# MediaPipe's PoseLandmark / HandLandmark names, in index order: pose-format names points by them.
POSE_LANDMARK_NAMES: tuple[str, ...] = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE",
    "RIGHT_EYE_OUTER", "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER",
    "RIGHT_SHOULDER", "LEFT_ELBOW", "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY",
    "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX", "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP",
    "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_HEEL", "RIGHT_HEEL",
    "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)  # fmt: skip
HAND_LANDMARK_NAMES: tuple[str, ...] = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP",
    "INDEX_FINGER_MCP", "INDEX_FINGER_PIP", "INDEX_FINGER_DIP", "INDEX_FINGER_TIP",
    "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP", "MIDDLE_FINGER_TIP",
    "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
# MediaPipe's skeletons (POSE_CONNECTIONS / HAND_CONNECTIONS): the limbs viewers draw.
POSE_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),  # face
    (11, 12), (11, 23), (12, 24), (23, 24),  # torso
    (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),  # left arm
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),  # right arm
    (23, 25), (25, 27), (27, 29), (27, 31), (29, 31),  # left leg
    (24, 26), (26, 28), (28, 30), (28, 32), (30, 32),  # right leg
)  # fmt: skip
HAND_CONNECTIONS: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 5), (0, 17), (5, 9), (9, 13), (13, 17),  # palm
    (1, 2), (2, 3), (3, 4),  # thumb
    (5, 6), (6, 7), (7, 8),  # index
    (9, 10), (10, 11), (11, 12),  # middle
    (13, 14), (14, 15), (15, 16),  # ring
    (17, 18), (18, 19), (19, 20),  # pinky
)  # fmt: skip

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_F32 = np.dtype("<f4")
# A point of a detected group whose confidence is exactly 0 would read back as missing; it is
# written with the smallest positive float32 instead, so presence survives a round trip.
_TINY_CONFIDENCE = float(np.nextafter(np.float32(0), np.float32(1)))
# Image size assumed by sequence_to_pose when neither the caller nor the sequence knows one
# (pose-format's own default for MediaPipe is 1000 x 1000).
_DEFAULT_WIDTH = 1000

FloatArray = npt.NDArray[np.float32]


class PoseFileError(SourceError):
    """A ``.pose`` file cannot be read, or is not of the kind a conversion needs."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


# ---------------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class PoseComponent:
    """One component of a pose header: a named set of points (e.g. ``LEFT_HAND_LANDMARKS``)."""

    name: str
    points: tuple[str, ...]  # point names, in data order
    limbs: tuple[tuple[int, int], ...] = ()  # (from, to) point indices within this component
    colors: tuple[tuple[int, int, int], ...] = ()  # RGB per limb (viewers cycle them)
    format: str = "XYZC"  # one letter per dim, confidence ("C") last

    @property
    def dims(self) -> int:
        """Coordinate dims of this component (the format without its confidence)."""
        return len(self.format) - 1

    def describe(self) -> str:
        return f"{self.name} ({len(self.points)} points, {self.format})"


@dataclass(frozen=True, eq=False)
class PoseFile:
    """The content of a ``.pose`` file, as pose-format lays it out.

    The arrays are not copied; treat them as read-only. Equality compares the arrays' values
    (NaN equal to NaN).
    """

    version: float  # header version of the file read (0.0, 0.1, 0.2); write_pose writes 0.2
    fps: float  # frames per second (0.2 stores float32, 0.0/0.1 an integer)
    width: int  # image width in pixels (what x is measured in)
    height: int  # image height in pixels
    depth: int  # "depth" of the header; 0 where unused
    components: tuple[PoseComponent, ...]
    data: FloatArray  # (frames, people, points, dims) float32
    confidence: FloatArray  # (frames, people, points) float32; 0 = missing point

    def __post_init__(self) -> None:
        if not self.components:
            raise ValueError("a pose file needs at least one component")
        d, c = self.data, self.confidence
        if d.dtype != np.float32 or c.dtype != np.float32:
            raise ValueError(f"data and confidence must be float32, got {d.dtype}, {c.dtype}")
        n_points = sum(len(comp.points) for comp in self.components)
        dims = max(comp.dims for comp in self.components)
        if d.ndim != 4 or d.shape[2:] != (n_points, dims):
            raise ValueError(
                f"data must be (frames, people, {n_points}, {dims}) for these components, "
                f"got {d.shape}"
            )
        if c.shape != d.shape[:3]:
            raise ValueError(f"confidence must be {d.shape[:3]}, got {c.shape}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PoseFile):
            return NotImplemented
        return (
            (self.version, self.width, self.height, self.depth, self.components)
            == (other.version, other.width, other.height, other.depth, other.components)
            and (self.fps == other.fps or (math.isnan(self.fps) and math.isnan(other.fps)))
            and np.array_equal(self.data, other.data, equal_nan=True)
            and np.array_equal(self.confidence, other.confidence, equal_nan=True)
        )

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def num_people(self) -> int:
        return int(self.data.shape[1])

    @property
    def num_points(self) -> int:
        return int(self.data.shape[2])

    @property
    def dims(self) -> int:
        return int(self.data.shape[3])

    def component_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.components)

    def component_slice(self, name: str) -> slice:
        """The points of component ``name`` along the points axis (its first occurrence)."""
        start = 0
        for c in self.components:
            if c.name == name:
                return slice(start, start + len(c.points))
            start += len(c.points)
        raise KeyError(f"no component {name!r} (components: {', '.join(self.component_names())})")

    def component(self, name: str) -> PoseComponent:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(f"no component {name!r} (components: {', '.join(self.component_names())})")

    def describe(self) -> str:
        """One line for messages: the components and the shape."""
        comps = ", ".join(c.describe() for c in self.components)
        return (
            f"{comps}; {self.num_frames} frames, {self.num_people} person(s) at {self.fps:g} fps, "
            f"{self.width}x{self.height}"
        )


# ---------------------------------------------------------------------------------- reading
class _Reader:
    """Bounds-checked little-endian reads: running out of bytes is a PoseFileError, naming what
    was being read, instead of a bare ``struct.error``."""

    _u16 = struct.Struct("<H")
    _i16 = struct.Struct("<h")
    _u32 = struct.Struct("<I")
    _f32 = struct.Struct("<f")

    def __init__(self, buffer: bytes, source: str) -> None:
        self.buf = buffer
        self.pos = 0
        self.source = source

    @property
    def left(self) -> int:
        return len(self.buf) - self.pos

    def fail(self, reason: str) -> PoseFileError:
        return PoseFileError(self.source, reason)

    def _need(self, n: int, what: str) -> None:
        if n > self.left:
            raise self.fail(
                f"truncated or corrupt .pose file: {what} needs {n} bytes at byte {self.pos}, "
                f"but the file ends at byte {len(self.buf)}"
            )

    def _unpack(self, st: struct.Struct, what: str) -> tuple[float, ...]:
        self._need(st.size, what)
        values: tuple[float, ...] = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return values

    def u16(self, what: str) -> int:
        return int(self._unpack(self._u16, what)[0])

    def i16(self, what: str) -> int:
        return int(self._unpack(self._i16, what)[0])

    def u32(self, what: str) -> int:
        return int(self._unpack(self._u32, what)[0])

    def f32(self, what: str) -> float:
        return float(self._unpack(self._f32, what)[0])

    def string(self, what: str) -> str:
        n = self.u16(f"length of {what}")
        self._need(n, what)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.fail(f"corrupt .pose file: {what} is not UTF-8 ({e.reason})") from None

    def u16_array(self, count: int, what: str) -> npt.NDArray[np.uint16]:
        self._need(2 * count, what)
        a = np.frombuffer(self.buf, np.dtype("<u2"), count, self.pos).astype(np.uint16)
        self.pos += 2 * count
        return a

    def floats(self, count: int, what: str) -> FloatArray:
        self._need(4 * count, what)
        # astype copies: the result owns native-order memory, not a view of the file bytes
        a = np.frombuffer(self.buf, _F32, count, self.pos).astype(np.float32)
        self.pos += 4 * count
        return a


def _shortest_float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (29.97, not 29.969999313...)."""
    return float(str(np.float32(value)))


def _read_component(r: _Reader, index: int) -> PoseComponent:
    where = f"component {index + 1}"
    name = r.string(f"name of {where}")
    where = f"component {index + 1} ({name})"
    fmt = r.string(f"format of {where}")
    if not fmt:
        raise r.fail(f"corrupt .pose file: {where} has an empty point format")
    n_points = r.u16(f"point count of {where}")
    n_limbs = r.u16(f"limb count of {where}")
    n_colors = r.u16(f"color count of {where}")
    points = tuple(r.string(f"point {i} name of {where}") for i in range(n_points))
    limbs = r.u16_array(2 * n_limbs, f"limbs of {where}").reshape(n_limbs, 2)
    colors = r.u16_array(3 * n_colors, f"colors of {where}").reshape(n_colors, 3)
    return PoseComponent(
        name=name,
        points=points,
        limbs=tuple((int(a), int(b)) for a, b in limbs),
        colors=tuple((int(red), int(g), int(b)) for red, g, b in colors),
        format=fmt,
    )


def _read_body_v0(
    r: _Reader, components: Sequence[PoseComponent], dims: int
) -> tuple[float, FloatArray, FloatArray]:
    """Version 0.0: per frame, per person, per component blocks of (points, len(format))."""
    fps = float(r.u16("fps"))
    n_frames = r.u16("frame count")
    n_points = sum(len(c.points) for c in components)
    frames: list[list[tuple[FloatArray, FloatArray]]] = []
    for f in range(n_frames):
        people = []
        for p in range(r.u16(f"people count of frame {f}")):
            r.i16(f"person id of frame {f}")  # ids are not kept: people are indexed by position
            data = np.zeros((n_points, dims), np.float32)
            conf = np.zeros(n_points, np.float32)
            start = 0
            for c in components:
                n, width = len(c.points), len(c.format)
                block = r.floats(n * width, f"{c.name} of person {p}, frame {f}")
                block = block.reshape(n, width)
                data[start : start + n, : width - 1] = block[:, :-1]
                conf[start : start + n] = block[:, -1]
                start += n
            people.append((data, conf))
        frames.append(people)
    max_people = max((len(people) for people in frames), default=0)
    data_all = np.zeros((n_frames, max_people, n_points, dims), np.float32)
    conf_all = np.zeros((n_frames, max_people, n_points), np.float32)
    for f, people in enumerate(frames):
        for p, (data, conf) in enumerate(people):
            data_all[f, p] = data
            conf_all[f, p] = conf
    return fps, data_all, conf_all


def _read_body_v1_v2(
    r: _Reader, version: float, n_points: int, dims: int
) -> tuple[float, FloatArray, FloatArray]:
    if version == 0.1:
        fps = float(r.u16("fps"))
        stored_frames = r.u16("frame count")
        n_people = r.u16("people count")
    else:
        fps = _shortest_float32(r.f32("fps"))
        stored_frames = r.u32("frame count")
        n_people = r.u16("people count")
    frame_bytes = n_people * n_points * (dims + 1) * 4
    if version == 0.1 and frame_bytes > 0:
        # The u16 count overflows (pose-format then writes 0): the data size is the truth.
        n_frames, extra = divmod(r.left, frame_bytes)
        if extra:
            raise r.fail(
                f"truncated or corrupt .pose file: {r.left} data bytes are not a whole number of "
                f"frames of {frame_bytes} bytes ({n_people} person(s) x {n_points} points x "
                f"{dims + 1} floats)"
            )
        if stored_frames not in (n_frames % (_U16_MAX + 1), 0):
            raise r.fail(
                f"truncated or corrupt .pose file: the header says {stored_frames} frames, "
                f"the data holds {n_frames}"
            )
    else:
        n_frames = stored_frames
        need = n_frames * frame_bytes
        if need > r.left:
            raise r.fail(
                f"truncated .pose file: {n_frames} frames of {n_people} person(s) x {n_points} "
                f"points need {need} bytes of data, the file has {r.left}"
            )
    total = n_frames * n_people * n_points
    data = r.floats(total * dims, "point data").reshape(n_frames, n_people, n_points, dims)
    conf = r.floats(total, "confidence").reshape(n_frames, n_people, n_points)
    return fps, data, conf


def pose_from_bytes(buffer: bytes, source: str = "<bytes>") -> PoseFile:
    """Parse the bytes of a ``.pose`` file (versions 0.0, 0.1, 0.2).

    Raises :class:`PoseFileError` (a :class:`~engine.errors.SourceError`) naming ``source`` and
    what is wrong when the bytes are truncated, corrupt or of another version.
    """
    r = _Reader(bytes(buffer), source)
    raw_version = r.f32("version")
    # Exactly one of the float32 version numbers: rounding (as pose-format does) would take the
    # first bytes of many other files for version 0.0 (b"GIF8" reads as 4.7e-05).
    known = [v for v in READ_VERSIONS if raw_version == float(np.float32(v))]
    if not known:
        raise r.fail(
            f"not a .pose file, or an unsupported pose-format version ({raw_version!r}; "
            f"SignStream reads {', '.join(str(v) for v in READ_VERSIONS)})"
        )
    version = known[0]
    width = r.u16("width")
    height = r.u16("height")
    depth = r.u16("depth")
    n_components = r.u16("component count")
    if n_components == 0:
        raise r.fail("corrupt .pose file: the header lists no components")
    components = tuple(_read_component(r, i) for i in range(n_components))
    n_points = sum(len(c.points) for c in components)
    dims = max(c.dims for c in components)
    if version == 0.0:
        fps, data, conf = _read_body_v0(r, components, dims)
    else:
        fps, data, conf = _read_body_v1_v2(r, version, n_points, dims)
    if r.left:
        raise r.fail(
            f"corrupt .pose file: {r.left} unexpected bytes after the data of "
            f"{data.shape[0]} frames (header of another file, or a wrong point count?)"
        )
    return PoseFile(
        version=version,
        fps=fps,
        width=width,
        height=height,
        depth=depth,
        components=components,
        data=data,
        confidence=conf,
    )


def read_pose(path: str | os.PathLike[str]) -> PoseFile:
    """Read a ``.pose`` file (versions 0.0, 0.1, 0.2); see :func:`pose_from_bytes`."""
    try:
        buffer = Path(path).read_bytes()
    except OSError as e:
        raise PoseFileError(str(path), f"cannot read the file ({e.strerror or e})") from e
    return pose_from_bytes(buffer, str(path))


# ---------------------------------------------------------------------------------- writing
def _check_u16(value: int, what: str) -> None:
    if not 0 <= value <= _U16_MAX:
        raise ValueError(f"{what} must fit an unsigned 16-bit field (0..65535), got {value}")


def _encode_str(s: str, what: str) -> bytes:
    raw = s.encode("utf-8")
    _check_u16(len(raw), f"byte length of {what}")
    return struct.pack("<H", len(raw)) + raw


def _encode_header(pf: PoseFile) -> bytes:
    for value, what in ((pf.width, "width"), (pf.height, "height"), (pf.depth, "depth")):
        _check_u16(value, what)
    _check_u16(len(pf.components), "the number of components")
    parts = [struct.pack("<f", WRITE_VERSION)]
    parts.append(struct.pack("<HHHH", pf.width, pf.height, pf.depth, len(pf.components)))
    for c in pf.components:
        if not c.format:
            raise ValueError(f"component {c.name} has an empty point format")
        parts.append(_encode_str(c.name, "a component name"))
        parts.append(_encode_str(c.format, f"the format of {c.name}"))
        for count, what in ((c.points, "points"), (c.limbs, "limbs"), (c.colors, "colors")):
            _check_u16(len(count), f"the number of {what} of {c.name}")
        parts.append(struct.pack("<HHH", len(c.points), len(c.limbs), len(c.colors)))
        parts.extend(_encode_str(p, f"a point name of {c.name}") for p in c.points)
        for values, what in ((c.limbs, "limb indices"), (c.colors, "colors")):
            for v in (v for row in values for v in row):
                _check_u16(v, f"{what} of {c.name}")
        parts.append(np.asarray(c.limbs, dtype="<u2").reshape(-1).tobytes())
        parts.append(np.asarray(c.colors, dtype="<u2").reshape(-1).tobytes())
    return b"".join(parts)


def _encode_body_start(pf: PoseFile) -> bytes:
    if not math.isfinite(pf.fps) or abs(pf.fps) > float(np.finfo(np.float32).max):
        raise ValueError(f"fps must be a finite float32, got {pf.fps}")
    if pf.num_frames > _U32_MAX:
        raise ValueError(f"at most {_U32_MAX} frames fit a .pose file, got {pf.num_frames}")
    _check_u16(pf.num_people, "the number of people")
    return struct.pack("<fIH", pf.fps, pf.num_frames, pf.num_people)


def pose_to_bytes(pf: PoseFile) -> bytes:
    """The bytes of ``pf`` as a version 0.2 ``.pose`` file (whatever ``pf.version`` says).

    Raises ``ValueError`` where a value does not fit its field (sizes, counts, indices > 65535).
    """
    return b"".join(
        (
            _encode_header(pf),
            _encode_body_start(pf),
            np.ascontiguousarray(pf.data, dtype=_F32).tobytes(),
            np.ascontiguousarray(pf.confidence, dtype=_F32).tobytes(),
        )
    )


def write_pose(path: str | os.PathLike[str], pf: PoseFile) -> None:
    """Write ``pf`` as a version 0.2 ``.pose`` file, atomically (pose-format >= 0.2 reads it).

    A value that does not fit its field raises ``ValueError`` before anything is written.
    """
    atomic_write_bytes(path, pose_to_bytes(pf))


# ---------------------------------------------------------------------------------- conversion
def _coordinate_columns(c: PoseComponent, source: str) -> tuple[int, int, int | None]:
    """Columns of x, y and (if any) z in the data, from the component's format letters."""
    letters = c.format[:-1].upper()
    if "X" not in letters or "Y" not in letters:
        raise PoseFileError(source, f"{c.name} has format {c.format!r}; x and y are needed")
    return letters.index("X"), letters.index("Y"), letters.index("Z") if "Z" in letters else None


def _missing_names(c: PoseComponent, names: Sequence[str]) -> list[str]:
    have = set(c.points)
    return [n for n in names if n not in have]


def _fill_group(
    points: FloatArray,
    present: npt.NDArray[np.bool_],
    pf: PoseFile,
    person: int,
    comp_name: str,
    names: Sequence[str],
    group: Group,
    source: str,
) -> None:
    """Copy the points ``names`` of component ``comp_name`` into ``group`` of ``points``.

    x, y are divided by the image size; z is kept as stored; a point with confidence <= 0 (or
    non-finite values) is missing and left all zero. Names the component lacks stay zero too.
    """
    c = pf.component(comp_name)
    xcol, ycol, zcol = _coordinate_columns(c, source)
    sl = pf.component_slice(comp_name)
    index = {name: sl.start + i for i, name in enumerate(c.points)}
    targets = [group.start + i for i, n in enumerate(names) if n in index]
    sources = [index[n] for n in names if n in index]
    data = pf.data[:, person, sources].astype(np.float64)  # (T, n, dims); divide in float64
    conf = pf.confidence[:, person, sources]  # (T, n)
    xyz = np.zeros((*conf.shape, 3), np.float64)
    xyz[..., 0] = data[..., xcol] / float(pf.width)
    xyz[..., 1] = data[..., ycol] / float(pf.height)
    if zcol is not None:
        xyz[..., 2] = data[..., zcol]
    ok = (conf > 0) & np.all(np.isfinite(xyz), axis=-1) & np.isfinite(conf)
    block = np.zeros((*conf.shape, DIMS), np.float32)
    block[..., :3] = np.where(ok[..., None], xyz, 0.0)
    block[..., 3] = np.where(ok, conf, 0.0)
    points[:, targets] = block
    present[:, GROUP_INDEX[group.name]] = np.any(ok, axis=1)


def pose_to_sequence(
    pf: PoseFile,
    person: int = 0,
    source: str = "",
    *,
    with_face: bool | None = None,
    partial_pose: bool = False,
) -> LandmarkSequence:
    """Convert a MediaPipe Holistic pose file to a :class:`LandmarkSequence` (``(T, 75|95, 4)``).

    * points are matched by name: ``POSE_LANDMARKS`` -> ``pose``, ``LEFT_HAND_LANDMARKS`` /
      ``RIGHT_HAND_LANDMARKS`` -> the hands (same left/right labels), ``FACE_LANDMARKS`` points
      named ``str(i)`` for ``i`` in ``FACE_SUBSET`` -> ``face``; ``POSE_WORLD_LANDMARKS`` and the
      other face points are dropped.
    * x, y are pixels in the file and become ``x / width``, ``y / height``; ``aspect`` is
      ``width / height``. z is kept as stored: pose-format's Holistic writer stores MediaPipe's
      z unscaled, which is the layout's "relative depth in x's scale".
    * confidence 0 marks a missing point (left all zero); a group is present in a frame where
      any of its points has confidence > 0. ``c`` is the stored confidence (pose visibility).
    * timestamps are ``frame / fps`` (the format keeps no real time base).

    ``with_face``: None keeps the face where the file has all ``FACE_SUBSET`` points (the reduced
    128-point contour sets lack some), True requires it, False drops it. ``partial_pose``: files
    with fewer than the 33 pose points (pose-format's reduced holistic files keep 8) are refused
    unless True, since missing body points would then be zero, not estimated; with True they are
    left zero with confidence 0 and listed in ``extra["missing_pose_points"]``.

    Raises :class:`PoseFileError` for a file of another pose estimator (e.g. OpenPose), naming
    ``source`` and the components found.
    """
    name = source or "pose file"
    needed = (HOLISTIC_POSE, HOLISTIC_LEFT_HAND, HOLISTIC_RIGHT_HAND)
    found = pf.component_names()
    lacking = [n for n in needed if n not in found]
    if lacking:
        listing = "; ".join(c.describe() for c in pf.components)
        raise PoseFileError(
            name,
            f"not a MediaPipe Holistic pose file: it lacks {', '.join(lacking)} "
            f"(components found: {listing})",
        )
    if not 0 <= person < pf.num_people:
        raise PoseFileError(name, f"person {person} requested, the file holds {pf.num_people}")
    if pf.width <= 0 or pf.height <= 0:
        raise PoseFileError(
            name, f"the header gives no image size ({pf.width}x{pf.height}) to normalise x, y by"
        )
    if not (math.isfinite(pf.fps) and pf.fps > 0):
        raise PoseFileError(name, f"the header gives no usable frame rate (fps {pf.fps})")
    for hand in (HOLISTIC_LEFT_HAND, HOLISTIC_RIGHT_HAND):
        missing = _missing_names(pf.component(hand), HAND_LANDMARK_NAMES)
        if missing:
            raise PoseFileError(
                name, f"{hand} lacks MediaPipe hand points {', '.join(missing)}: not MediaPipe's"
            )
    missing_pose = _missing_names(pf.component(HOLISTIC_POSE), POSE_LANDMARK_NAMES)
    if len(missing_pose) == POSE_POINTS:
        raise PoseFileError(
            name, f"{HOLISTIC_POSE} has none of MediaPipe's pose points: not MediaPipe's"
        )
    if missing_pose and not partial_pose:
        raise PoseFileError(
            name,
            f"{HOLISTIC_POSE} has {POSE_POINTS - len(missing_pose)} of MediaPipe's "
            f"{POSE_POINTS} pose points (missing {', '.join(missing_pose)}); pass "
            "partial_pose=True to read them as undetected (zero, confidence 0)",
        )
    face_names = tuple(str(i) for i in FACE_SUBSET)
    face_missing = (
        _missing_names(pf.component(HOLISTIC_FACE), face_names)
        if HOLISTIC_FACE in found
        else list(face_names)
    )
    keep_face = not face_missing if with_face is None else with_face
    if keep_face and face_missing:
        if HOLISTIC_FACE not in found:
            raise PoseFileError(name, "with_face=True, but the file has no FACE_LANDMARKS")
        raise PoseFileError(
            name,
            f"with_face=True, but FACE_LANDMARKS lacks the FACE_SUBSET points "
            f"{', '.join(face_missing)}",
        )

    n_frames = pf.num_frames
    n_points = NUM_POINTS_WITH_FACE if keep_face else NUM_POINTS
    points = np.zeros((n_frames, n_points, DIMS), np.float32)
    present = np.zeros((n_frames, len(GROUPS)), np.bool_)
    groups = [
        (HOLISTIC_POSE, POSE_LANDMARK_NAMES, POSE),
        (HOLISTIC_LEFT_HAND, HAND_LANDMARK_NAMES, LEFT_HAND),
        (HOLISTIC_RIGHT_HAND, HAND_LANDMARK_NAMES, RIGHT_HAND),
    ]
    if keep_face:
        groups.append((HOLISTIC_FACE, face_names, FACE))
    for comp_name, names, group in groups:
        _fill_group(points, present, pf, person, comp_name, names, group, name)

    extra = {
        "pose_format_version": str(pf.version),
        "image_width": str(pf.width),
        "image_height": str(pf.height),
    }
    if missing_pose:
        extra["missing_pose_points"] = ",".join(missing_pose)
    return LandmarkSequence(
        points=points,
        present=present,
        timestamps=np.arange(n_frames, dtype=np.float64) / pf.fps,
        fps=pf.fps,
        source=source,
        aspect=pf.width / pf.height,
        extra=extra,
    )


def _image_size(seq: LandmarkSequence, width: int | None, height: int | None) -> tuple[int, int]:
    """The caller's size, else the one a pose file recorded in ``extra``, else from ``aspect``."""
    if width is None and height is None:
        w, h = seq.extra.get("image_width"), seq.extra.get("image_height")
        if w is not None and h is not None:
            return int(w), int(h)
    aspect = seq.aspect or 1.0
    if width is None and height is None:
        width = _DEFAULT_WIDTH
    if width is None:
        assert height is not None
        width = max(1, round(height * aspect))
    if height is None:
        height = max(1, round(width / aspect))
    return width, height


def _hand_colors() -> tuple[tuple[int, int, int], ...]:
    """One color per HAND_CONNECTIONS limb: grey palm, one hue per finger."""
    finger = ((220, 30, 30), (30, 30, 220), (30, 180, 30), (30, 180, 180), (255, 140, 0))
    colors = []
    for a, b in HAND_CONNECTIONS:
        tip = max(a, b)
        palm = (a == 0 and b in (5, 17)) or (a, b) in ((5, 9), (9, 13), (13, 17))
        colors.append((160, 160, 160) if palm else finger[(tip - 1) // 4])
    return tuple(colors)


def _holistic_components(with_face: bool) -> tuple[PoseComponent, ...]:
    """Components in the order of pose-format's Holistic files (pose, face, left, right)."""
    pose = PoseComponent(HOLISTIC_POSE, POSE_LANDMARK_NAMES, POSE_CONNECTIONS, ((255, 0, 0),))
    face = PoseComponent(HOLISTIC_FACE, tuple(str(i) for i in FACE_SUBSET), (), ((128, 0, 0),))
    hands = [
        PoseComponent(n, HAND_LANDMARK_NAMES, HAND_CONNECTIONS, _hand_colors())
        for n in (HOLISTIC_LEFT_HAND, HOLISTIC_RIGHT_HAND)
    ]
    return (pose, face, *hands) if with_face else (pose, *hands)


def sequence_to_pose(
    seq: LandmarkSequence,
    *,
    width: int | None = None,
    height: int | None = None,
    depth: int = 0,
) -> PoseFile:
    """A MediaPipe-Holistic-style :class:`PoseFile` (one person, ``XYZC``) of ``seq``.

    Components ``POSE_LANDMARKS`` (33), ``FACE_LANDMARKS`` (only where ``seq.has_face``: just the
    20 ``FACE_SUBSET`` points, named by mesh index, no limbs), ``LEFT_HAND_LANDMARKS``,
    ``RIGHT_HAND_LANDMARKS`` (21); no ``POSE_WORLD_LANDMARKS``. x, y are scaled to pixels of a
    ``width x height`` image; z is written as is. Absent groups get confidence 0; a point of a
    present group with confidence 0 gets the smallest positive float32, so that the presence
    mask survives (0 means missing in the format).

    The size defaults to the one a pose file recorded (``extra["image_width"/"image_height"]``),
    else 1000 wide with ``seq.aspect`` (square where unknown). The format stores only ``fps``:
    irregular timestamps (and a start other than 0) are not kept; they read back as
    ``frame / fps``. :func:`pose_to_sequence` gives back the points, presence and fps (within
    float32 rounding).
    """
    width, height = _image_size(seq, width, height)
    for value, what in ((width, "width"), (height, "height")):
        if not 1 <= value <= _U16_MAX:
            raise ValueError(f"{what} must be 1..65535 pixels, got {value}")
    n_frames = seq.num_frames
    n_points = int(seq.points.shape[1])
    points = seq.points.astype(np.float64)  # scale in float64: one rounding to float32 only
    xyz = points[..., :3] * np.array([width, height, 1.0])
    conf = points[..., 3].copy()
    mask = seq.point_mask()  # (T, P): the presence of each point's group
    conf = np.where(mask, np.where(conf > 0, conf, _TINY_CONFIDENCE), 0.0)
    xyz = np.where(mask[..., None], xyz, 0.0)
    # our point order is pose, left, right[, face]; the file's is pose[, face], left, right
    order = list(range(POSE.start, POSE.stop))
    if n_points == NUM_POINTS_WITH_FACE:
        order += list(range(FACE.start, FACE.stop))
    order += list(range(LEFT_HAND.start, LEFT_HAND.stop))
    order += list(range(RIGHT_HAND.start, RIGHT_HAND.stop))
    data = xyz[:, order].astype(np.float32).reshape(n_frames, 1, len(order), 3)
    confidence = conf[:, order].astype(np.float32).reshape(n_frames, 1, len(order))
    return PoseFile(
        version=WRITE_VERSION,
        fps=_shortest_float32(seq.fps),
        width=width,
        height=height,
        depth=depth,
        components=_holistic_components(n_points == NUM_POINTS_WITH_FACE),
        data=data,
        confidence=confidence,
    )


def read_sequence(
    path: str | os.PathLike[str],
    person: int = 0,
    *,
    with_face: bool | None = None,
    partial_pose: bool = False,
) -> LandmarkSequence:
    """:func:`read_pose` + :func:`pose_to_sequence`, with the path as the sequence's source."""
    return pose_to_sequence(
        read_pose(path), person, str(path), with_face=with_face, partial_pose=partial_pose
    )


def write_sequence(
    path: str | os.PathLike[str],
    seq: LandmarkSequence,
    *,
    width: int | None = None,
    height: int | None = None,
) -> None:
    """:func:`sequence_to_pose` + :func:`write_pose`."""
    write_pose(path, sequence_to_pose(seq, width=width, height=height))
