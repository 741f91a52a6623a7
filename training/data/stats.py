"""Statistics of a SignStream dataset: what is in it, who signs, how well MediaPipe saw them.

``dataset_stats(Dataset)`` reads the metadata (``Dataset.infos``) and the ``present`` masks of
every sequence once; the full asl-coffee set (4693 sequences) takes well under a second.
``DatasetStats.render()`` is the text a person reads, ``to_json()`` what scripts compare.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.dataset import Dataset
from engine.landmarks import GROUPS

__all__ = ["DatasetStats", "dataset_stats"]

GROUP_NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)  # pose, left_hand, right_hand, face
# Short column titles of the presence table, GROUPS order.
_GROUP_TITLES = ("pose", "left", "right", "face")
MAX_SIGNER_COLUMNS = 8  # wider gloss x signer tables fold the rarest signers into "other"


@dataclass(frozen=True)
class DatasetStats:
    """Counts and rates of one dataset (all plain Python values: JSON-ready)."""

    num_sequences: int
    num_frames: int
    # sequences per gloss; a sentence counts once for each distinct gloss it holds
    gloss_counts: dict[str, int]
    gloss_signer_counts: dict[str, dict[str, int]]  # gloss -> signer -> sequences
    signer_counts: dict[str, int]  # sequences per signer ("" = unknown)
    signer_frames: dict[str, int]  # frames per signer
    frames_min: int  # frames per sequence; 0 for an empty dataset
    frames_mean: float
    frames_max: int
    fps_counts: dict[float, int]  # nominal fps -> sequences
    with_face: int  # sequences that store face points
    sentences: int  # sequences labelled with more than one gloss
    # fraction of frames in which each group (GROUPS order names) was detected; the face counts
    # as absent in sequences that store no face points
    presence: dict[str, float]
    signer_presence: dict[str, dict[str, float]]  # signer -> group -> fraction of its frames

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fps keys as strings, e.g. ``"30"``)."""
        return {
            "num_sequences": self.num_sequences,
            "num_frames": self.num_frames,
            "frames_per_sequence": {
                "min": self.frames_min,
                "mean": self.frames_mean,
                "max": self.frames_max,
            },
            "fps": {f"{fps:g}": n for fps, n in self.fps_counts.items()},
            "with_face": self.with_face,
            "sentences": self.sentences,
            "signers": self.signer_counts,
            "signer_frames": self.signer_frames,
            "glosses": self.gloss_counts,
            "gloss_signer": self.gloss_signer_counts,
            "presence": self.presence,
            "signer_presence": self.signer_presence,
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def render(self, max_signer_columns: int = MAX_SIGNER_COLUMNS) -> str:
        """Plain-text report: totals, presence per signer, a gloss x signer table."""
        lines = [
            f"sequences {self.num_sequences}, frames {self.num_frames}, "
            f"frames per sequence min {self.frames_min} / mean {self.frames_mean:.1f} "
            f"/ max {self.frames_max}",
            "fps: "
            + (", ".join(f"{fps:g} ({n})" for fps, n in sorted(self.fps_counts.items())) or "-"),
            f"with face points: {self.with_face}, sentences: {self.sentences}",
            f"signers {len(self.signer_counts)}: "
            + ", ".join(f"{_name(s)} {n}" for s, n in self.signer_counts.items()),
            "",
        ]
        lines += self._presence_table()
        lines.append("")
        lines += self._gloss_table(max_signer_columns)
        return "\n".join(lines)

    def _presence_table(self) -> list[str]:
        rows = [("all", self.presence, self.num_frames)]
        rows += [
            (_name(s), rates, self.signer_frames[s]) for s, rates in self.signer_presence.items()
        ]
        width = max([len("presence (fraction of frames)")] + [len(r[0]) + 2 for r in rows])
        head = "presence (fraction of frames)".ljust(width)
        out = [head + "".join(f"{t:>7}" for t in _GROUP_TITLES) + f"{'frames':>9}"]
        for name, rates, frames in rows:
            cells = "".join(f"{rates[g]:>7.2f}" for g in GROUP_NAMES)
            out.append(f"  {name}".ljust(width) + cells + f"{frames:>9}")
        return out

    def _gloss_table(self, max_signer_columns: int) -> list[str]:
        signers = sorted(self.signer_counts, key=lambda s: -self.signer_counts[s])
        shown = sorted(signers[:max_signer_columns])
        folded = len(signers) > len(shown)
        titles = [_name(s) for s in shown] + (["other"] if folded else [])
        gw = max([len("gloss")] + [len(g) for g in self.gloss_counts])
        widths = [max(len(t), 5) for t in titles]
        out = [
            f"glosses {len(self.gloss_counts)}",
            "gloss".ljust(gw)
            + f"{'total':>7}"
            + "".join(f"  {t:>{w}}" for t, w in zip(titles, widths, strict=True)),
        ]
        for gloss in sorted(self.gloss_counts):
            per = self.gloss_signer_counts.get(gloss, {})
            cells = [per.get(s, 0) for s in shown]
            if folded:
                cells.append(sum(n for s, n in per.items() if s not in shown))
            out.append(
                gloss.ljust(gw)
                + f"{self.gloss_counts[gloss]:>7}"
                + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
            )
        return out


def _name(signer: str) -> str:
    return signer if signer else "(unknown)"


def dataset_stats(dataset: Dataset) -> DatasetStats:
    """Count what ``dataset`` holds (see :class:`DatasetStats`).

    Reads every sequence once, in order, so each shard is loaded once.
    """
    infos = dataset.infos
    gloss_counts: Counter[str] = Counter()
    gloss_signer: dict[str, Counter[str]] = defaultdict(Counter)
    signer_counts: Counter[str] = Counter()
    signer_frames: Counter[str] = Counter()
    fps_counts: Counter[float] = Counter()
    # frames with each group present, per signer: (4,) int64
    signer_present: dict[str, npt.NDArray[np.int64]] = {}
    lengths = np.zeros(len(infos), np.int64)
    with_face = sentences = 0

    for info in infos:
        seq = dataset[info.index]
        signer = info.signer
        lengths[info.index] = info.num_frames
        signer_counts[signer] += 1
        signer_frames[signer] += info.num_frames
        fps_counts[info.fps] += 1
        distinct = dict.fromkeys(info.glosses)  # ordered, each gloss once per sequence
        for g in distinct:
            gloss_counts[g] += 1
            gloss_signer[g][signer] += 1
        sentences += len(info.glosses) > 1
        with_face += seq.has_face
        counts = seq.present.sum(axis=0, dtype=np.int64)  # (4,) frames with each group
        if signer in signer_present:
            signer_present[signer] += counts
        else:
            signer_present[signer] = counts

    total = sum(signer_present.values(), np.zeros(len(GROUPS), np.int64))
    num_frames = int(lengths.sum())

    def rates(present: npt.NDArray[np.int64], frames: int) -> dict[str, float]:
        return {g: float(present[i]) / frames if frames else 0.0 for i, g in enumerate(GROUP_NAMES)}

    signers = sorted(signer_counts)
    return DatasetStats(
        num_sequences=len(infos),
        num_frames=num_frames,
        gloss_counts=dict(sorted(gloss_counts.items())),
        gloss_signer_counts={g: dict(sorted(c.items())) for g, c in sorted(gloss_signer.items())},
        signer_counts={s: signer_counts[s] for s in signers},
        signer_frames={s: signer_frames[s] for s in signers},
        frames_min=int(lengths.min()) if len(lengths) else 0,
        frames_mean=float(lengths.mean()) if len(lengths) else 0.0,
        frames_max=int(lengths.max()) if len(lengths) else 0,
        fps_counts=dict(sorted(fps_counts.items())),
        with_face=with_face,
        sentences=sentences,
        presence=rates(total, num_frames),
        signer_presence={s: rates(signer_present[s], signer_frames[s]) for s in signers},
    )
