"""Dataset statistics on hand-built datasets (known answers) and on the real asl-coffee set."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.landmarks import FACE_SUBSET, LandmarkSequence
from tests.conftest import make_sequence
from training.data.stats import DatasetStats, dataset_stats
from training.importers.base import write_import
from training.importers.npz_sets import import_npz


def with_face(seq: LandmarkSequence) -> LandmarkSequence:
    """The same sequence with face points, the face found in every other frame."""
    t = seq.num_frames
    points = np.zeros((t, 75 + len(FACE_SUBSET), 4), np.float32)
    points[:, :75] = seq.points
    present = seq.present.copy()
    present[:, 3] = np.arange(t) % 2 == 0
    points[present[:, 3], 75:] = 0.5
    return seq.replace(points=points, present=present)


@pytest.fixture
def small(tmp_path: Path) -> Dataset:
    seqs = [
        make_sequence(10, glosses=("hello",), signer="ann", seed=1),
        make_sequence(20, glosses=("hello",), signer="bob", seed=2, drop_left=0.5),
        make_sequence(30, glosses=("tea",), signer="ann", seed=3, fps=15.0),
        make_sequence(40, glosses=("i", "want", "tea", "tea"), signer="", seed=4),
        with_face(make_sequence(12, glosses=("tea",), signer="bob", seed=5)),
    ]
    ds = Dataset.create(tmp_path / "ds")
    ds.append(seqs)
    return ds


def test_counts_and_rates_are_the_known_answers(small: Dataset) -> None:
    st = dataset_stats(small)
    seqs = list(small)
    assert st.num_sequences == 5
    assert st.num_frames == 10 + 20 + 30 + 40 + 12
    assert (st.frames_min, st.frames_max) == (10, 40)
    assert st.frames_mean == pytest.approx(112 / 5)
    assert st.fps_counts == {15.0: 1, 30.0: 4}
    assert st.signer_counts == {"": 1, "ann": 2, "bob": 2}
    assert st.signer_frames == {"": 40, "ann": 40, "bob": 32}
    # a sentence counts once per distinct gloss
    assert st.gloss_counts == {"hello": 2, "i": 1, "tea": 3, "want": 1}
    assert st.gloss_signer_counts["tea"] == {"": 1, "ann": 1, "bob": 1}
    assert st.gloss_signer_counts["hello"] == {"ann": 1, "bob": 1}
    assert (st.with_face, st.sentences) == (1, 1)

    all_present = np.concatenate([s.present for s in seqs])
    for gi, g in enumerate(("pose", "left_hand", "right_hand", "face")):
        assert st.presence[g] == pytest.approx(all_present[:, gi].mean())
    bob = np.concatenate([s.present for s in seqs if s.signer == "bob"])
    assert st.signer_presence["bob"]["left_hand"] == pytest.approx(bob[:, 1].mean())
    assert st.signer_presence["bob"]["face"] == pytest.approx(6 / 32)  # 6 of bob's 32 frames
    assert st.signer_presence["ann"]["left_hand"] == 1.0
    assert st.presence["pose"] == 1.0


def test_render_and_json(small: Dataset) -> None:
    st = dataset_stats(small)
    text = st.render()
    assert "sequences 5, frames 112" in text
    assert "fps: 15 (1), 30 (4)" in text
    assert "(unknown)" in text  # the signer ""
    tea = next(line for line in text.splitlines() if line.startswith("tea "))
    assert tea.split() == ["tea", "3", "1", "1", "1"]  # total, then (unknown), ann, bob
    d = json.loads(st.to_json())
    assert d["num_sequences"] == 5 and d["fps"] == {"15": 1, "30": 4}
    assert d["frames_per_sequence"] == {"min": 10, "mean": pytest.approx(22.4), "max": 40}
    assert d["signer_presence"]["ann"]["left_hand"] == 1.0
    # few signer columns: the rest fold into "other"
    narrow = st.render(max_signer_columns=1)
    tea = next(line for line in narrow.splitlines() if line.startswith("tea "))
    assert tea.split()[-1] == "2"


def test_empty_dataset(tmp_path: Path) -> None:
    st = dataset_stats(Dataset.create(tmp_path / "empty"))
    assert isinstance(st, DatasetStats)
    assert (st.num_sequences, st.num_frames, st.frames_min, st.frames_max) == (0, 0, 0, 0)
    assert st.presence == {"pose": 0.0, "left_hand": 0.0, "right_hand": 0.0, "face": 0.0}
    assert "sequences 0" in st.render()
    assert json.loads(st.to_json())["glosses"] == {}


@pytest.mark.data
def test_asl_coffee_stats(shared_data: Path, tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "asl")
    write_import(ds, import_npz(shared_data / "asl-coffee/words.npz"))
    ds = Dataset(ds.root)  # a fresh reader: nothing cached from the import
    start = time.perf_counter()
    st = dataset_stats(ds)
    seconds = time.perf_counter() - start
    assert seconds < 5.0, f"stats of 4693 sequences took {seconds:.1f} s"
    assert st.num_sequences == 4693 and st.num_frames == 4693 * 20
    assert st.signer_counts == {"Alex": 570, "TheCamNelson": 1933, "dmohazab": 2190}
    assert len(st.gloss_counts) == 33 and st.gloss_counts["-"] == 450
    assert st.fps_counts == {30.0: 4693}
    # the README's measured facts: left hand missing in 60% of frames, right hand in 7%
    assert st.presence["left_hand"] == pytest.approx(0.40, abs=0.01)
    assert st.presence["right_hand"] == pytest.approx(0.93, abs=0.01)
    assert st.presence["face"] == 0.0
    print(st.render())
