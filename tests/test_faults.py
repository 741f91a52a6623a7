"""Recording faults: clips of different glosses holding one hand track (training/data/faults.py)."""

from __future__ import annotations

from pathlib import Path

from engine.dataset import Dataset
from engine.landmarks import GROUP_INDEX, LEFT_HAND
from tests.conftest import make_sequence
from training.data.faults import MIN_TRACK_FRAMES, shared_hand_tracks


def test_a_hand_track_shared_across_glosses_is_found(tmp_path: Path) -> None:
    stale = make_sequence(seed=1, glosses=("help",), signer="stale")
    # another gloss of the same person with the same left hand in the same frames: a capture
    # loop that kept saving an old hand; the body moved, so the clips differ elsewhere
    points = make_sequence(seed=2, glosses=("no",), signer="stale").points.copy()
    points[:, LEFT_HAND.slice] = stale.points[:, LEFT_HAND.slice]
    copied = stale.replace(points=points, glosses=("no",))
    ok = [make_sequence(seed=s, glosses=(g,), signer="fine") for s, g in ((3, "help"), (4, "no"))]
    # one person's two clips of one gloss with one track: a duplicate, not a fault
    twin = make_sequence(seed=5, glosses=("yes",), signer="twin")
    ds = Dataset.create(tmp_path / "d")
    ds.append([stale, copied, make_sequence(seed=6, glosses=("yes",), signer="stale"), *ok,
               twin, twin.replace(source="again")])  # fmt: skip

    assert shared_hand_tracks(ds) == {"stale": (2, 3)}
    assert shared_hand_tracks(ds, signers=["fine", "twin"]) == {}


def test_a_hand_seen_in_too_few_frames_is_no_track(tmp_path: Path) -> None:
    a = make_sequence(seed=1, glosses=("help",), signer="p")
    present = a.present.copy()
    present[MIN_TRACK_FRAMES - 1 :, GROUP_INDEX["left_hand"]] = False
    present[:, GROUP_INDEX["right_hand"]] = False
    a = a.replace(present=present)
    ds = Dataset.create(tmp_path / "d")
    ds.append([a, a.replace(glosses=("no",))])
    assert shared_hand_tracks(ds) == {}


def test_results_name_the_people_with_recording_faults() -> None:
    from training.results import _faults_said

    assert _faults_said({}) == ""
    said = _faults_said({"mahesh8T/x": [67, 70]})
    assert "mahesh8T/x (67 of 70 clips)" in said
