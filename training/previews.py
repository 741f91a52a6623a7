"""A model's sign previews (:mod:`engine.previews`), chosen from real recordings.

    signstream train previews MODEL.onnx [--data DATASET] [--source TEXT]

For each gloss of the model, up to :data:`~engine.previews.MAX_CLIPS` people of the dataset,
each with one clip; the choice is a pure function of the dataset (the same data gives the same
file, byte for byte):

* people in order of how many clips of the gloss they recorded (most first; ties by name), and
  a person only where they have a clip with the hands and the body seen in most frames (some
  recorders' hands are missing throughout: a preview of no hands teaches nothing);
* of that person's clips, those of typical length (within :attr:`PreviewChoice.length_tolerance`
  of the gloss's median), and of those the most typical movement: the medoid of the wrists'
  paths relative to the shoulders, so the preview is the person's usual sign, not a slip.

The people are stored as "signer 1", "signer 2", ... (engine/previews.py), never by the names
the dataset knows them by. A model taught from the user's takes (:func:`taught_previews`) shows
the user's own take first ("you"), then the base model's people for the remaining places, and
the base model's previews alone for the glosses the user did not record.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.dataset import Dataset
from engine.landmarks import POSE, LandmarkSequence
from engine.model_index import add_file, read_index
from engine.previews import (
    MAX_CLIPS,
    MAX_FRAMES,
    Previews,
    clip_from_sequence,
    load_previews,
    previews_path,
    save_previews,
)

__all__ = [
    "USER_SIGNER",
    "PreviewChoice",
    "build_previews",
    "run_previews_command",
    "taught_previews",
    "write_previews",
]

USER_SIGNER = "you"  # how the user's own take is labelled in a taught model's previews
PATH_FRAMES = 16  # frames of the wrist paths compared to find the typical clip
WRISTS = (POSE.start + 15, POSE.start + 16)
SHOULDERS = (POSE.start + 11, POSE.start + 12)
MIN_SHOULDER_WIDTH = 1e-3  # of the image: narrower is no body seen


@dataclass(frozen=True)
class PreviewChoice:
    """How the clips of a model's previews are chosen."""

    max_clips: int = MAX_CLIPS  # people per gloss
    min_hands: float = 0.5  # share of a clip's frames with a hand seen, at least
    min_pose: float = 0.5  # share of a clip's frames with the body seen, at least
    length_tolerance: float = 0.25  # typical length: within this share of the gloss's median
    max_frames: int = MAX_FRAMES  # longer clips are resampled to this many frames

    def __post_init__(self) -> None:
        if self.max_clips < 1 or self.max_frames < 2:
            raise ValueError("max_clips must be >= 1 and max_frames >= 2")


def _wrist_path(seq: LandmarkSequence) -> npt.NDArray[np.float64]:
    """``(PATH_FRAMES * 4,)`` both wrists' x, y at evenly spaced frames, relative to the
    shoulders' midpoint in shoulder widths (where the signer stands and how near the camera
    do not matter); NaN where the body was not seen."""
    pick = np.round(np.linspace(0, seq.num_frames - 1, PATH_FRAMES)).astype(np.intp)
    p = seq.points[pick].astype(np.float64)
    shoulders = p[:, list(SHOULDERS), :2]  # (F, 2, 2)
    centre = shoulders.mean(axis=1, keepdims=True)
    width = np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1)[:, None, None]
    wrists = (p[:, list(WRISTS), :2] - centre) / np.maximum(width, MIN_SHOULDER_WIDTH)
    body = seq.is_present("pose")[pick] & (width[:, 0, 0] > MIN_SHOULDER_WIDTH)
    wrists[~body] = np.nan
    return np.asarray(wrists, np.float64).reshape(-1)


def _medoid(seqs: Sequence[LandmarkSequence]) -> LandmarkSequence:
    """The clip whose wrist path is nearest the others' (the first where paths are unknown)."""
    if len(seqs) <= 2:
        return seqs[0]
    paths = np.stack([_wrist_path(s) for s in seqs])  # (n, PATH_FRAMES * 4)
    diff = np.abs(paths[:, None, :] - paths[None, :, :])  # (n, n, PATH_FRAMES * 4)
    known = ~np.isnan(diff)
    # mean over the frames both clips show the body; pairs with none count as far apart
    dist = np.where(
        known.any(axis=-1), np.nansum(diff, axis=-1) / np.maximum(known.sum(-1), 1), np.inf
    )
    return seqs[int(np.argmin(dist.sum(axis=1)))]


def _typical(
    seqs: Sequence[LandmarkSequence], median_frames: float, choice: PreviewChoice
) -> LandmarkSequence | None:
    """The clip of one person to show, or None when none has the hands and body in view."""
    hands = [float((s.is_present("left_hand") | s.is_present("right_hand")).mean()) for s in seqs]
    pose = [float(s.is_present("pose").mean()) for s in seqs]
    good = [
        s for s, h, b in zip(seqs, hands, pose, strict=True)
        if h >= choice.min_hands and b >= choice.min_pose
    ]  # fmt: skip
    if not good:
        return None
    tolerance = choice.length_tolerance * median_frames
    typical = [s for s in good if abs(s.num_frames - median_frames) <= tolerance]
    return _medoid(typical or good)


def build_previews(
    dataset: Dataset, glosses: Sequence[str], source: str, choice: PreviewChoice = PreviewChoice()
) -> Previews:
    """Previews of ``glosses`` from the isolated clips of ``dataset`` (a gloss it lacks has
    none); see the module docstring for the choice."""
    by_gloss: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    lengths: dict[str, list[int]] = defaultdict(list)
    wanted = set(glosses)
    for info in dataset.infos:
        if len(info.glosses) == 1 and info.gloss in wanted and info.num_frames > 0:
            by_gloss[info.gloss][info.signer].append(info.index)
            lengths[info.gloss].append(info.num_frames)
    clips = []
    for gloss in glosses:
        people = sorted(by_gloss[gloss].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        median = float(np.median(lengths[gloss])) if lengths[gloss] else 0.0
        chosen: list[LandmarkSequence] = []
        for _, indices in people:
            best = _typical([dataset[i] for i in indices], median, choice)
            if best is not None:
                chosen.append(best)
            if len(chosen) == choice.max_clips:
                break
        clips += [
            clip_from_sequence(s, gloss, f"signer {k + 1}", choice.max_frames)
            for k, s in enumerate(chosen)
        ]
    return Previews(tuple(clips), source)


def write_previews(
    glosses: Sequence[str],
    dataset: str | Path,
    out: str | Path,
    source: str | None = None,
    choice: PreviewChoice = PreviewChoice(),
) -> Path:
    """Build the previews of ``glosses`` from ``dataset`` and write them to ``out``
    (atomically); ``source`` says where the clips come from (default: the dataset's folder)."""
    root = Path(dataset)
    text = source or f"real recordings of the {root.name} dataset, signers anonymised"
    return save_previews(build_previews(Dataset(root), glosses, text, choice), out)


def taught_previews(
    user_samples: Mapping[str, Sequence[LandmarkSequence]],
    base: Previews | None,
    glosses: Sequence[str],
    choice: PreviewChoice = PreviewChoice(),
) -> Previews:
    """The previews of a model taught from the user's takes (``gloss -> takes``): per gloss of
    ``glosses``, the user's most typical take first, then ``base``'s clips up to
    ``choice.max_clips``."""
    clips = []
    for gloss in glosses:
        takes = list(user_samples.get(gloss, ()))
        if takes:
            median = float(np.median([s.num_frames for s in takes]))
            # the user's own takes are shown even where the camera lost a hand: they are theirs
            best = _typical(takes, median, choice) or _medoid(takes)
            clips.append(clip_from_sequence(best, gloss, USER_SIGNER, choice.max_frames))
        room = choice.max_clips - bool(takes)
        clips += list(base.of(gloss)[:room]) if base is not None else []
    where = "your recordings" + (f"; {base.source}" if base is not None and base.source else "")
    return Previews(tuple(clips), where)


# ---------------------------------------------------------------------- command line
def _model_dataset(model: Path) -> tuple[tuple[str, ...], str | None]:
    """The glosses of ``model`` and the dataset its metadata says it was trained on."""
    import json

    from engine.model import read_model_info

    info = read_model_info(model)
    try:
        data = json.loads(info.extra.get("training_data", "{}"))
    except ValueError:
        data = {}
    dataset = data.get("dataset") if isinstance(data, dict) else None
    return info.vocabulary.glosses, dataset if isinstance(dataset, str) else None


def run_previews_command(args: Any, overrides: list[str]) -> int:
    """``signstream train previews`` (parsed in :mod:`training.cli`)."""
    if overrides:
        raise SystemExit(f"signstream train previews: unknown options {' '.join(overrides)}")
    model = Path(args.model)
    glosses, trained_on = _model_dataset(model)
    dataset = args.data or trained_on
    if dataset is None:
        raise SystemExit(
            f"signstream train previews: {model} does not say what it was trained on; give --data"
        )
    out = Path(args.out or previews_path(model))
    path = write_previews(glosses, dataset, out, args.source, PreviewChoice(max_clips=args.clips))
    beside = path.parent.resolve() == model.parent.resolve()
    entry = read_index(model.parent).entry_of(model) if beside else None
    if entry is not None:  # a listed model: its previews are checked like its other files
        add_file(model.parent, entry.name, "previews", path)
    previews = load_previews(path)
    missing = [g for g in glosses if not previews.of(g)]
    print(
        f"{path}: {path.stat().st_size / 1e3:.0f} KB, {len(previews.clips)} clips of "
        f"{len(previews.glosses)} glosses"
        + (f"; none for {', '.join(missing)}" if missing else "")
        + (f"; listed in {model.parent / 'index.json'}" if entry is not None else ""),
        file=sys.stderr,
    )
    return 0
