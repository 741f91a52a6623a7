"""The one landmark-sequence type of SignStream, and its layout (documented here, once).

Layout of :class:`LandmarkSequence`
-----------------------------------
``points``: ``(T, P, 4) float32``; frames x points x dims.

* points, in this order (``GROUPS``):

  =============  ==========  ==================================================================
  group          points       what
  =============  ==========  ==================================================================
  ``pose``       0..32       MediaPipe Pose, 33 points (0 nose, 11/12 shoulders, 15/16 wrists)
  ``left_hand``  33..53      MediaPipe Hands, 21 points (0 wrist, 4 thumb tip, 8 index tip ...)
  ``right_hand`` 54..74      idem
  ``face``       75..75+F-1  optional: ``FACE_SUBSET`` of MediaPipe Face Mesh (F = 20) points
  =============  ==========  ==================================================================

  ``P`` is ``75`` without a face, ``95`` with it. "Left" and "right" are MediaPipe's labels, as
  in the ``258`` layout of the shared data: the person's left and right as a non-mirrored camera
  sees them (the left shoulder, point 11, and the left hand are on the image's right side).

* dims: ``x, y`` normalised to the image width and height (0..1, x to the right, y down),
  ``z`` MediaPipe's relative depth (in x's scale), ``c`` confidence: pose visibility, ``1.0`` for
  a detected hand or face point, ``0.0`` where the group was not detected.

``present``: ``(T, 4) bool``; per frame and group (``GROUPS`` order) whether it was detected.
Points of an absent group are zero; the mask, not the zeros, is what code must test.

``timestamps``: ``(T,) float64`` seconds from the start of the recording, strictly increasing.
The real time base: ``fps`` is only the nominal rate of the source.

Flat layouts (``FLAT_LAYOUTS``) convert the "one vector per frame" arrays that MediaPipe
tutorials and the shared data use (``258``, ``1662``, ``126``, ``170``, ``226``) to and from this
type; in them an undetected group is all zeros.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIMS",
    "FACE_SUBSET",
    "FLAT_LAYOUTS",
    "GROUPS",
    "HAND_POINTS",
    "NUM_POINTS",
    "NUM_POINTS_WITH_FACE",
    "POSE_POINTS",
    "UNKNOWN_SIGNER",
    "FlatLayout",
    "Group",
    "LandmarkSequence",
    "lacking_points",
    "point_mask",
]

POSE_POINTS = 33
HAND_POINTS = 21
UNKNOWN_SIGNER = "unknown"  # the signer of data that does not say who signs
DIMS = 4  # x, y, z, confidence

# A small, stable subset of the 468 Face Mesh points that carries the non-manual signals signing
# uses (mouth shape, eyebrows, eyes, head pose) at a fraction of the cost of the full mesh:
# lips (corners, top, bottom, inner), nose tip, eyebrows (inner/outer), eye corners, chin,
# forehead, cheeks.
FACE_SUBSET: tuple[int, ...] = (
    61,
    291,
    0,
    17,
    13,
    14,  # lips: corners, outer top/bottom, inner top/bottom
    1,  # nose tip
    70,
    105,
    300,
    334,  # eyebrows
    33,
    133,
    362,
    263,  # eye corners
    152,
    10,  # chin, forehead
    234,
    454,  # cheeks (face width)
    168,  # between the eyes
)
FACE_POINTS = len(FACE_SUBSET)


@dataclass(frozen=True)
class Group:
    """A named block of consecutive points."""

    name: str
    start: int
    stop: int

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)

    @property
    def size(self) -> int:
        return self.stop - self.start


POSE = Group("pose", 0, POSE_POINTS)
LEFT_HAND = Group("left_hand", POSE_POINTS, POSE_POINTS + HAND_POINTS)
RIGHT_HAND = Group("right_hand", POSE_POINTS + HAND_POINTS, POSE_POINTS + 2 * HAND_POINTS)
FACE = Group("face", RIGHT_HAND.stop, RIGHT_HAND.stop + FACE_POINTS)
GROUPS: tuple[Group, ...] = (POSE, LEFT_HAND, RIGHT_HAND, FACE)
GROUP_INDEX = {g.name: i for i, g in enumerate(GROUPS)}
NUM_POINTS = RIGHT_HAND.stop  # 75
NUM_POINTS_WITH_FACE = FACE.stop  # 95

# MediaPipe Pose point pairs that swap under a left/right mirror (eyes, ears, mouth, limbs).
POSE_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
    (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
)  # fmt: skip

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
TimeArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LandmarkSequence:
    """Landmarks of one recording (see the module docstring for the layout).

    The arrays are not copied; treat them as read-only. Use :meth:`replace` to derive a new one.
    """

    points: FloatArray  # (T, P, 4) float32, P in {75, 95}
    present: BoolArray  # (T, 4) bool, GROUPS order
    timestamps: TimeArray  # (T,) float64 seconds, strictly increasing
    fps: float  # nominal frame rate of the source
    glosses: tuple[str, ...] = ()  # labels: one gloss for an isolated sign, several for a sentence
    signer: str = UNKNOWN_SIGNER  # who signs (splits by signer rely on it)
    source: str = ""  # where it came from (file, dataset + index), for messages
    # width / height of the image the x, y were normalised to; None where unknown (datasets
    # recorded without it): features then assume DEFAULT_ASPECT of engine.features.
    aspect: float | None = None
    # (n_glosses, 2) frame spans [start, stop) of each gloss, where known (synthesised sentences)
    spans: tuple[tuple[int, int], ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)  # free-form metadata (e.g. split, seq id)

    def __post_init__(self) -> None:
        p, m, t = self.points, self.present, self.timestamps
        if (
            p.ndim != 3
            or p.shape[1] not in (NUM_POINTS, NUM_POINTS_WITH_FACE)
            or p.shape[2] != DIMS
        ):
            raise ValueError(
                f"points must be (T, {NUM_POINTS} or {NUM_POINTS_WITH_FACE}, {DIMS}), got {p.shape}"
            )
        if p.dtype != np.float32:
            raise ValueError(f"points must be float32, got {p.dtype}")
        if m.shape != (p.shape[0], len(GROUPS)) or m.dtype != np.bool_:
            raise ValueError(f"present must be bool (T={p.shape[0]}, {len(GROUPS)}), got {m.shape}")
        if t.shape != (p.shape[0],):
            raise ValueError(f"timestamps must be ({p.shape[0]},), got {t.shape}")
        if len(t) > 1 and not np.all(np.diff(t) > 0):
            what = self.source or "sequence"
            raise ValueError(f"timestamps must be strictly increasing ({what})")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.spans is not None and len(self.spans) != len(self.glosses):
            raise ValueError("spans must have one (start, stop) per gloss")

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty_like(cls, num_frames: int, fps: float, with_face: bool = False) -> LandmarkSequence:
        """All groups absent, regular timestamps at ``fps``."""
        n_points = NUM_POINTS_WITH_FACE if with_face else NUM_POINTS
        return cls(
            points=np.zeros((num_frames, n_points, DIMS), np.float32),
            present=np.zeros((num_frames, len(GROUPS)), np.bool_),
            timestamps=np.arange(num_frames, dtype=np.float64) / fps,
            fps=fps,
        )

    @classmethod
    def from_flat(
        cls,
        array: npt.ArrayLike,
        layout: str | FlatLayout,
        fps: float,
        timestamps: npt.ArrayLike | None = None,
        **meta: object,
    ) -> LandmarkSequence:
        """Build from a ``(T, D)`` per-frame vector array in one of ``FLAT_LAYOUTS``.

        A group whose values are all zero (or NaN) in a frame is marked absent.
        """
        fl = FLAT_LAYOUTS[layout] if isinstance(layout, str) else layout
        points, present = fl.unpack(np.asarray(array))
        t = (
            np.arange(len(points), dtype=np.float64) / fps
            if timestamps is None
            else np.asarray(timestamps, np.float64)
        )
        return cls(points=points, present=present, timestamps=t, fps=fps, **meta)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ views
    @property
    def num_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def has_face(self) -> bool:
        return int(self.points.shape[1]) == NUM_POINTS_WITH_FACE

    @property
    def duration(self) -> float:
        """Seconds covered, counting the last frame as one nominal frame long."""
        if self.num_frames == 0:
            return 0.0
        return float(self.timestamps[-1] - self.timestamps[0]) + 1.0 / self.fps

    def group(self, name: str) -> FloatArray:
        """``(T, n, 4)`` points of one group (a view)."""
        g = GROUPS[GROUP_INDEX[name]]
        if g is FACE and not self.has_face:
            raise KeyError("this sequence stores no face points")
        return self.points[:, g.slice]

    def is_present(self, name: str) -> BoolArray:
        """``(T,)`` presence mask of one group."""
        return self.present[:, GROUP_INDEX[name]]

    def point_mask(self) -> BoolArray:
        """``(T, P) bool``: the presence of each point's group, per frame."""
        return point_mask(self.present, int(self.points.shape[1]))

    def shoulder_centre(self) -> FloatArray | None:
        """``(2,)`` mean x, y of the shoulders' midpoint over frames with a pose (None: none):
        where the signer stands in the picture."""
        ok = self.present[:, GROUP_INDEX["pose"]]
        if not ok.any():
            return None
        sh = self.points[ok][:, [POSE.start + 11, POSE.start + 12], :2]  # (n, 2, 2) shoulders
        return np.asarray(sh.mean(axis=(0, 1)), np.float32)

    def replace(self, **changes: object) -> LandmarkSequence:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def slice_frames(self, start: int, stop: int) -> LandmarkSequence:
        """Frames ``[start, stop)``; spans are dropped (they no longer line up)."""
        return self.replace(
            points=self.points[start:stop],
            present=self.present[start:stop],
            timestamps=self.timestamps[start:stop],
            spans=None,
        )

    def to_flat(self, layout: str = "258") -> FloatArray:
        """``(T, D) float32`` in a flat layout; absent groups become zeros."""
        return FLAT_LAYOUTS[layout].pack(self.points, self.present)

    def mirrored(self) -> LandmarkSequence:
        """Left/right mirror image: ``x -> 1 - x``, hands swapped, left/right pose points swapped.

        This is what a mirrored webcam shows, and what turns a left-handed signer into a
        right-handed one. Mirroring twice gives back the same sequence.
        """
        p = self.points.copy()
        real = self.point_mask() & ~lacking_points(p)  # a point a layout lacks stays a zero
        p[..., 0] = np.where(real, 1.0 - p[..., 0], 0.0)
        pose = p[:, POSE.slice]
        a = [i for i, _ in POSE_MIRROR_PAIRS]
        b = [j for _, j in POSE_MIRROR_PAIRS]
        pose[:, a + b] = pose[:, b + a]
        left = p[:, LEFT_HAND.slice].copy()
        p[:, LEFT_HAND.slice] = p[:, RIGHT_HAND.slice]
        p[:, RIGHT_HAND.slice] = left
        if self.has_face:
            p[:, FACE.slice] = p[:, FACE.slice][:, _FACE_MIRROR]
        m = self.present.copy()
        li, ri = GROUP_INDEX["left_hand"], GROUP_INDEX["right_hand"]
        m[:, [li, ri]] = m[:, [ri, li]]
        return self.replace(points=p, present=m)


def lacking_points(points: FloatArray) -> BoolArray:
    """``(..., P, 4) -> (..., P) bool``: points exactly zero in all four channels, i.e. points
    the source's layout does not have (WLASL-50's 11 pose points have no eyes); MediaPipe
    itself never gives an exact zero."""
    return np.asarray(np.all(points == 0.0, axis=-1))


def point_mask(present: BoolArray, num_points: int) -> BoolArray:
    """``(T, 4)`` group presence -> ``(T, num_points)`` point presence."""
    mask = np.zeros((present.shape[0], num_points), np.bool_)
    for gi, g in enumerate(GROUPS):
        if g.stop <= num_points:
            mask[:, g.slice] = present[:, gi, None]
    return mask


# Face subset positions that swap under mirroring (pairs of FACE_SUBSET entries).
_FACE_PAIRS = ((61, 291), (70, 300), (105, 334), (33, 263), (133, 362), (234, 454))
_FACE_MIRROR: list[int] = list(range(FACE_POINTS))
for _a, _b in _FACE_PAIRS:
    _ia, _ib = FACE_SUBSET.index(_a), FACE_SUBSET.index(_b)
    _FACE_MIRROR[_ia], _FACE_MIRROR[_ib] = _ib, _ia


@dataclass(frozen=True)
class FlatLayout:
    """A per-frame flat vector layout: blocks of (group, point indices, dims per point).

    ``blocks`` lists, in vector order, which points of our layout each block holds and with how
    many dims (3 = x, y, z; 4 = x, y, z, visibility).
    """

    name: str
    blocks: tuple[tuple[str, tuple[int, ...], int], ...]

    @property
    def size(self) -> int:
        return sum(len(idx) * d for _, idx, d in self.blocks)

    @property
    def has_face(self) -> bool:
        return any(g == "face" for g, _, _ in self.blocks)

    def unpack(self, array: npt.NDArray[np.generic]) -> tuple[FloatArray, BoolArray]:
        """``(T, D)`` -> points ``(T, P, 4)``, present ``(T, 4)``."""
        a = np.asarray(array, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != self.size:
            raise ValueError(f"layout {self.name} needs (T, {self.size}) arrays, got {a.shape}")
        t = a.shape[0]
        n_points = NUM_POINTS_WITH_FACE if self.has_face else NUM_POINTS
        points = np.zeros((t, n_points, DIMS), np.float32)
        present = np.zeros((t, len(GROUPS)), np.bool_)
        col = 0
        for gname, idx, d in self.blocks:
            block = a[:, col : col + len(idx) * d].reshape(t, len(idx), d)
            col += len(idx) * d
            block = np.nan_to_num(block, nan=0.0)
            got = np.any(block != 0, axis=(1, 2))
            g = GROUPS[GROUP_INDEX[gname]]
            target = np.asarray(idx) + g.start
            points[:, target, : min(d, 3)] = block[:, :, :3]
            # confidence: visibility where the layout has it, else 1 for a detected group
            points[:, target, 3] = block[:, :, 3] if d == 4 else 1.0
            points[~got, g.start : g.stop] = 0.0
            present[:, GROUP_INDEX[gname]] |= got
        return points, present

    def pack(self, points: FloatArray, present: BoolArray) -> FloatArray:
        """points ``(T, P, 4)``, present ``(T, 4)`` -> ``(T, D)``; absent groups as zeros."""
        t = points.shape[0]
        out = np.zeros((t, self.size), np.float32)
        col = 0
        for gname, idx, d in self.blocks:
            g = GROUPS[GROUP_INDEX[gname]]
            if g is FACE and points.shape[1] < NUM_POINTS_WITH_FACE:
                col += len(idx) * d
                continue
            block = points[:, np.asarray(idx) + g.start, :d].copy()
            block[~present[:, GROUP_INDEX[gname]]] = 0.0
            out[:, col : col + len(idx) * d] = block.reshape(t, -1)
            col += len(idx) * d
        return out


def _layout(name: str, *blocks: tuple[str, Sequence[int], int]) -> FlatLayout:
    return FlatLayout(name, tuple((g, tuple(i), d) for g, i, d in blocks))


_POSE_ALL = range(POSE_POINTS)
_HAND = range(HAND_POINTS)
FLAT_LAYOUTS: dict[str, FlatLayout] = {
    # pose 33x4 + left hand 21x3 + right hand 21x3 (shared data, most tutorials without face)
    "258": _layout(
        "258", ("pose", _POSE_ALL, 4), ("left_hand", _HAND, 3), ("right_hand", _HAND, 3)
    ),
    # hands only (the shared data's fingerspelled letters)
    "126": _layout("126", ("left_hand", _HAND, 3), ("right_hand", _HAND, 3)),
    # WLASL-50 of the shared data: 11 pose points (nose, shoulders, elbows, wrists, hips, knees)
    "170": _layout(
        "170",
        ("pose", (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26), 4),
        ("left_hand", _HAND, 3),
        ("right_hand", _HAND, 3),
    ),
    # MSL-5 of the shared data: upper-body pose points 0..24 x4 + two hands
    "226": _layout(
        "226", ("pose", range(25), 4), ("left_hand", _HAND, 3), ("right_hand", _HAND, 3)
    ),
}


class _FaceMeshLayout(FlatLayout):
    """``1662``: pose 33x4 + full face mesh 468x3 + hands; keeps only ``FACE_SUBSET``."""

    FULL_FACE = 468

    @property
    def size(self) -> int:
        return POSE_POINTS * 4 + self.FULL_FACE * 3 + 2 * HAND_POINTS * 3

    def _to_258_and_face(self, a: npt.NDArray[np.float32]) -> tuple[FloatArray, FloatArray]:
        pose = a[:, : POSE_POINTS * 4]
        face = a[:, POSE_POINTS * 4 : POSE_POINTS * 4 + self.FULL_FACE * 3]
        hands = a[:, POSE_POINTS * 4 + self.FULL_FACE * 3 :]
        face_sub = face.reshape(len(a), self.FULL_FACE, 3)[:, list(FACE_SUBSET)]
        return np.concatenate([pose, hands], axis=1), face_sub.astype(np.float32)

    def unpack(self, array: npt.NDArray[np.generic]) -> tuple[FloatArray, BoolArray]:
        a = np.nan_to_num(np.asarray(array, dtype=np.float32), nan=0.0)
        if a.ndim != 2 or a.shape[1] != self.size:
            raise ValueError(f"layout {self.name} needs (T, {self.size}) arrays, got {a.shape}")
        flat258, face = self._to_258_and_face(a)
        p, m = FLAT_LAYOUTS["258"].unpack(flat258)
        points = np.zeros((len(a), NUM_POINTS_WITH_FACE, DIMS), np.float32)
        points[:, :NUM_POINTS] = p
        got = np.any(face != 0, axis=(1, 2))
        points[:, FACE.slice, :3] = face
        points[:, FACE.slice, 3] = got[:, None].astype(np.float32)
        m[:, GROUP_INDEX["face"]] = got
        return points, m

    def pack(self, points: FloatArray, present: BoolArray) -> FloatArray:
        t = points.shape[0]
        flat258 = FLAT_LAYOUTS["258"].pack(points[:, :NUM_POINTS], present)
        face = np.zeros((t, self.FULL_FACE, 3), np.float32)
        if points.shape[1] == NUM_POINTS_WITH_FACE:
            sub = points[:, FACE.slice, :3].copy()
            sub[~present[:, GROUP_INDEX["face"]]] = 0.0
            face[:, list(FACE_SUBSET)] = sub
        return np.concatenate(
            [flat258[:, : POSE_POINTS * 4], face.reshape(t, -1), flat258[:, POSE_POINTS * 4 :]], 1
        )


FLAT_LAYOUTS["1662"] = _FaceMeshLayout("1662", (("face", FACE_SUBSET, 3),))
