"""Importer of RWTH-BOSTON-104 hand/nose tracks (``../shared/data/boston104``): real continuous ASL.

Files (the layout of udacity/AIND-Recognizer's ``data/``)::

    hands_condensed.csv   video,frame,left-x,left-y,right-x,right-y,nose-x,nose-y
                          one row per frame of each video (frames 0..n-1), pixel coordinates
    speaker.csv           video,speaker             (woman-1, woman-2, man-1)
    train_words.csv       video,speaker,word,startframe,endframe   (frames inclusive)
    test_words.csv        idem, for the test videos
    sentences.gloss.txt   optional: line v is the gloss sentence of video v (1-based)

The train/test split is the database's: a video is a test sentence when its words are in
``test_words.csv``. A video's gloss sentence is its words in frame order (it equals line v of
``sentences.gloss.txt``; :func:`import_boston104` reports a mismatch as a problem).

Each video becomes one :class:`LandmarkSequence` in the tracks convention of
:mod:`engine.features` (``FeatureSpec(inputs="tracks")``): pose point 0 holds the nose, every
point of a hand holds that hand's track (so the hand's mean point is the track), x and y are
divided by the frame size, and ``aspect`` is its width / height. The frame size cancels out of
track features (they are relative to the nose and divided by a per-sequence scale); it only
puts the pixels into the image-normalised convention of the landmark type. The tracks never
miss a frame, so every group but the face is present throughout; the other pose points are
zero with confidence 0. ``spans`` holds each word's ``[start, end + 1)`` frames.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ImportProblem
from engine.landmarks import (
    DIMS,
    GROUP_INDEX,
    GROUPS,
    LEFT_HAND,
    NUM_POINTS,
    POSE,
    RIGHT_HAND,
    FloatArray,
    LandmarkSequence,
)
from training.importers.base import ImportItem

__all__ = [
    "BOSTON_FPS",
    "FRAME_HEIGHT",
    "FRAME_WIDTH",
    "BostonSentence",
    "boston_sentences",
    "import_boston104",
]

BOSTON_FPS = 30.0  # the database's recording rate
# RWTH-BOSTON-104's frame size in pixels (the tracks' coordinate system). Any value with the
# right aspect gives the same track features; points may fall slightly outside 0..1.
FRAME_WIDTH, FRAME_HEIGHT = 312, 242
TRACKS_FILE = "hands_condensed.csv"
SPEAKERS_FILE = "speaker.csv"
WORD_FILES = {"train": "train_words.csv", "test": "test_words.csv"}
SENTENCES_FILE = "sentences.gloss.txt"
_TRACK_COLUMNS = ("left-x", "left-y", "right-x", "right-y", "nose-x", "nose-y")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class BostonSentence:
    """The words of one video, from a ``*_words.csv`` file."""

    video: int
    speaker: str
    split: str  # "train" | "test"
    words: tuple[str, ...]  # in frame order
    spans: tuple[tuple[int, int], ...]  # [start, end + 1) frames of each word


def boston_sentences(root: PathLike) -> dict[int, BostonSentence]:
    """Every annotated video of the set: ``{video: BostonSentence}``, train and test."""
    out: dict[int, BostonSentence] = {}
    for split, name in WORD_FILES.items():
        rows: dict[int, list[tuple[int, int, str, str]]] = defaultdict(list)
        with open(Path(root) / name, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows[int(r["video"])].append(
                    (int(r["startframe"]), int(r["endframe"]), r["word"], r["speaker"])
                )
        for video, words in rows.items():
            if video in out:
                raise ValueError(f"video {video} is in both {WORD_FILES['train']} and {name}")
            words.sort()
            out[video] = BostonSentence(
                video=video,
                speaker=words[0][3],
                split=split,
                words=tuple(w for _, _, w, _ in words),
                spans=tuple((s, e + 1) for s, e, _, _ in words),
            )
    return out


def _read_tracks(path: Path) -> dict[int, FloatArray]:
    """``{video: (T, 6) float32}`` in file column order (left, right, nose; x, y), by frame."""
    per_video: dict[int, list[tuple[int, list[float]]]] = defaultdict(list)
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            per_video[int(r["video"])].append(
                (int(r["frame"]), [float(r[c]) for c in _TRACK_COLUMNS])
            )
    out: dict[int, FloatArray] = {}
    for video, frames in per_video.items():
        frames.sort()
        idx = [i for i, _ in frames]
        if idx != list(range(len(idx))):
            raise ValueError(f"video {video}: frames are not 0..{len(idx) - 1} without gaps")
        out[video] = np.array([v for _, v in frames], np.float32)
    return out


def tracks_to_sequence(
    tracks: FloatArray, fps: float = BOSTON_FPS, **meta: object
) -> LandmarkSequence:
    """``(T, 6)`` pixel tracks (left x, y, right x, y, nose x, y) -> a tracks-convention
    :class:`LandmarkSequence` ``(T, 75, 4)`` (module docstring)."""
    t = len(tracks)
    size = np.array([FRAME_WIDTH, FRAME_HEIGHT], np.float32)
    points = np.zeros((t, NUM_POINTS, DIMS), np.float32)
    for group, cols in ((LEFT_HAND, slice(0, 2)), (RIGHT_HAND, slice(2, 4))):
        points[:, group.slice, :2] = (tracks[:, cols] / size)[:, None, :]
        points[:, group.slice, 3] = 1.0
    points[:, POSE.start, :2] = tracks[:, 4:6] / size
    points[:, POSE.start, 3] = 1.0
    present = np.zeros((t, len(GROUPS)), np.bool_)
    for name in ("pose", "left_hand", "right_hand"):
        present[:, GROUP_INDEX[name]] = True
    return LandmarkSequence(
        points=points,
        present=present,
        timestamps=np.arange(t, dtype=np.float64) / fps,
        fps=fps,
        aspect=FRAME_WIDTH / FRAME_HEIGHT,
        **meta,  # type: ignore[arg-type]
    )


def import_boston104(root: PathLike, split: str | None = None) -> Iterator[ImportItem]:
    """Yield the annotated videos of ``root`` as sentences (``split``: "train", "test" or both).

    Each :class:`LandmarkSequence` has ``glosses`` = the words, ``signer`` = the speaker,
    ``spans`` = the word frames, ``source = "boston104/<video>"`` and ``extra = {"split": ...,
    "video": ...}``. A video whose words do not fit its frames, or disagree with
    ``sentences.gloss.txt``, is an :class:`ImportProblem`; a missing or unreadable file is one
    problem naming it, and nothing else is read.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be train, test or None, got {split!r}")
    root = Path(root)
    try:
        sentences = boston_sentences(root)
        tracks = _read_tracks(root / TRACKS_FILE)
    except (OSError, ValueError, KeyError) as e:
        yield ImportProblem(
            str(root), f"not a readable BOSTON-104 folder ({type(e).__name__}: {e})"
        )
        return
    lines: list[str] | None = None
    if (root / SENTENCES_FILE).is_file():
        lines = (root / SENTENCES_FILE).read_text("utf-8").splitlines()
    for video in sorted(sentences):
        s = sentences[video]
        if split is not None and s.split != split:
            continue
        where = f"{root / TRACKS_FILE}#video {video}"
        if video not in tracks:
            yield ImportProblem(where, "annotated video has no tracks")
            continue
        n = len(tracks[video])
        if any(not 0 <= a < b <= n for a, b in s.spans):
            yield ImportProblem(where, f"word frames {s.spans} do not fit its {n} frames")
            continue
        if lines is not None and (video > len(lines) or lines[video - 1].split() != list(s.words)):
            yield ImportProblem(
                where, f"words {s.words} differ from line {video} of {SENTENCES_FILE}"
            )
            continue
        yield tracks_to_sequence(
            tracks[video],
            glosses=s.words,
            signer=s.speaker,
            source=f"boston104/{video}",
            spans=s.spans,
            extra={"split": s.split, "video": str(video)},
        )
