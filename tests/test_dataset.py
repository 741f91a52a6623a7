"""The on-disk dataset: append, reopen, metadata, corruption, crash safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.errors import DatasetError
from engine.landmarks import LandmarkSequence
from tests.conftest import make_sequence


def test_append_and_reopen(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds", description="test")
    a = [
        make_sequence(num_frames=10 + i, seed=i, glosses=("hello",), signer="s1") for i in range(3)
    ]
    b = [
        make_sequence(num_frames=7, seed=9, glosses=("i", "get", "tea"), signer="s2").replace(
            spans=((0, 2), (2, 5), (5, 7)), extra={"seq": "4"}, aspect=16 / 9
        )
    ]
    assert ds.append(a) == 3
    assert ds.append(b) == 1
    again = Dataset(tmp_path / "ds")
    assert len(again) == 4
    for want, got in zip(a + b, again, strict=True):
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_array_equal(got.present, want.present)
        np.testing.assert_array_equal(got.timestamps, want.timestamps)
        assert (got.glosses, got.signer, got.source, got.fps) == (
            want.glosses, want.signer, want.source, want.fps,
        )  # fmt: skip
    assert again[3].spans == ((0, 2), (2, 5), (5, 7)) and again[3].extra == {"seq": "4"}
    assert again[-1].aspect == pytest.approx(16 / 9)
    infos = again.infos
    assert [i.num_frames for i in infos] == [10, 11, 12, 7]
    assert infos[3].gloss == "i get tea" and infos[3].signer == "s2"
    assert again.sources() == {s.source for s in a + b}


def test_face_and_no_face_sequences_share_a_dataset(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds")
    flat = np.random.default_rng(0).uniform(0.1, 0.9, size=(6, 1662)).astype(np.float32)
    with_face = LandmarkSequence.from_flat(flat, "1662", fps=30, source="face")
    ds.append([make_sequence(), with_face])
    reopened = Dataset(tmp_path / "ds")
    assert {s.has_face for s in reopened} == {False, True}


def test_not_a_dataset_and_wrong_version(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a SignStream dataset"):
        Dataset(tmp_path)
    Dataset.create(tmp_path / "ds")
    index = tmp_path / "ds" / "dataset.json"
    d = json.loads(index.read_text())
    d["version"] = 99
    index.write_text(json.dumps(d))
    with pytest.raises(DatasetError, match="version 99"):
        Dataset(tmp_path / "ds")
    with pytest.raises(DatasetError, match="already holds"):
        Dataset.create(tmp_path / "ds")


def test_corrupt_shard_names_the_file(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds")
    ds.append([make_sequence()])
    shard = tmp_path / "ds" / "shard-000000.npz"
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"shard-000000\.npz"):
        Dataset(tmp_path / "ds")[0]


def test_orphan_shard_from_a_crash_is_ignored_and_overwritten(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds")
    ds.append([make_sequence(seed=1)])
    # a crash after writing a shard but before updating the index leaves an unlisted shard
    (tmp_path / "ds" / "shard-000001.npz").write_bytes(b"half-written")
    reopened = Dataset(tmp_path / "ds")
    assert len(reopened) == 1
    reopened.append([make_sequence(seed=2)])
    assert len(Dataset(tmp_path / "ds")) == 2
    assert Dataset(tmp_path / "ds")[1].source == "synthetic:2"
    assert not list((tmp_path / "ds").glob("*.tmp"))
