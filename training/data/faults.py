"""Recording faults in the people data: clips whose hand landmarks say nothing about the sign.

Some crowd recorders' capture loops saved a stale hand: clips of different glosses hold the same
hand track, byte for byte (mahesh8T/Sign-Language-Detection's ten-frame clips of six words share
one left hand). Nothing in the landmarks tells those clips apart, so no landmark model, and no
Fit to me, can decide them better than by chance. They are not dropped (the data is what it is,
and a user is never told a number without them): RESULTS names the people and the share of their
clips, so that a reader knows which low numbers are the recording's and not the model's.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from engine.dataset import Dataset, SampleInfo
from engine.landmarks import GROUP_INDEX, LEFT_HAND, RIGHT_HAND

__all__ = ["MIN_TRACK_FRAMES", "shared_hand_tracks"]

# A hand seen in fewer frames than this is no track to compare (a few stray detections of a
# still hand may well repeat by chance).
MIN_TRACK_FRAMES = 3


def _tracks(dataset: Dataset, info: SampleInfo) -> list[str]:
    """Digests of the clip's hand tracks: each hand's (x, y, z) in the frames it is present."""
    seq = dataset[info.index]
    digests = []
    for group in (LEFT_HAND, RIGHT_HAND):
        seen = seq.present[:, GROUP_INDEX[group.name]]
        if int(seen.sum()) >= MIN_TRACK_FRAMES:
            track = seq.points[seen, group.slice, :3]
            digests.append(hashlib.sha1(track.tobytes()).hexdigest())
    return digests


def shared_hand_tracks(
    dataset: Dataset, signers: Iterable[str] | None = None
) -> dict[str, tuple[int, int]]:
    """Per signer with such clips: (clips with a hand track that one of the signer's clips of
    another gloss also has, the signer's clips); only ``signers`` when given. Single-gloss
    samples only (isolated clips); rest clips count as a gloss of their own."""
    wanted = None if signers is None else set(signers)
    by_signer: dict[str, list[SampleInfo]] = defaultdict(list)
    for info in dataset.infos:
        if len(info.glosses) == 1 and (wanted is None or info.signer in wanted):
            by_signer[info.signer].append(info)
    found: dict[str, tuple[int, int]] = {}
    for signer, infos in sorted(by_signer.items()):
        tracks = {info.index: _tracks(dataset, info) for info in infos}
        glosses_of: dict[str, set[str]] = defaultdict(set)
        for info in infos:
            for digest in tracks[info.index]:
                glosses_of[digest].add(info.gloss)
        shared = sum(any(len(glosses_of[d]) > 1 for d in tracks[info.index]) for info in infos)
        if shared:
            found[signer] = (shared, len(infos))
    return found
