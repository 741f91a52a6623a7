"""The on-disk dataset: append, reopen, metadata, corruption, crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset, staged_dataset
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


def test_a_missing_folder_is_said_so_not_that_it_lacks_an_index(tmp_path: Path) -> None:
    # issue 17: a mistyped path said "... is not a SignStream dataset (no dataset.json)"
    with pytest.raises(DatasetError, match=f"^no such folder: {tmp_path / 'nowhere'}$"):
        Dataset(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="is a file; a SignStream dataset is a folder"):
        Dataset(tmp_path / "file")
    with pytest.raises(DatasetError, match=r"is not a SignStream dataset \(no dataset\.json\)"):
        Dataset(tmp_path)  # a folder that exists but holds no dataset: as before


def test_a_shard_of_random_bytes_is_not_a_numpy_file(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds")
    ds.append([make_sequence()])
    shard = tmp_path / "ds" / "shard-000000.npz"
    shard.write_bytes(b"\x01" + np.random.default_rng(0).bytes(2047))
    message = f"{shard}: corrupt dataset shard (not a NumPy array file (corrupt or another format))"
    for read in (lambda d: d.infos, lambda d: d[0]):
        with pytest.raises(DatasetError) as info:
            read(Dataset(tmp_path / "ds"))
        assert str(info.value) == message


def _snapshot(folder: Path) -> dict[str, tuple[bytes, float]]:
    """Every file under ``folder``: its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), os.stat(p).st_mtime)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_staged_write_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "ds"
    with pytest.raises(RuntimeError), staged_dataset(target) as ds:
        ds.append([make_sequence(seed=1)])
        raise RuntimeError("the input turned out corrupt half-way")
    assert list(tmp_path.iterdir()) == []  # no dataset, no staging folder, no parents
    with staged_dataset(target) as ds:
        pass  # nothing appended: nothing created
    assert list(tmp_path.iterdir()) == []


def test_staged_write_to_an_existing_dataset_is_all_or_nothing(tmp_path: Path) -> None:
    target = tmp_path / "ds"
    Dataset.create(target).append([make_sequence(seed=1)])
    (target / "notes.txt").write_text("the user's own file")
    before = _snapshot(target)
    with pytest.raises(KeyboardInterrupt), staged_dataset(target) as ds:
        assert len(ds) == 1 and ds.sources() == {"synthetic:1"}  # sees what is there
        ds.append([make_sequence(seed=2)])
        raise KeyboardInterrupt
    assert _snapshot(target) == before  # exactly as it was: bytes and times
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    with staged_dataset(target) as ds:
        ds.append([make_sequence(seed=2)])
        assert len(Dataset(target)) == 1  # nothing shows before the block ends
    after = Dataset(target)
    assert [s.source for s in after] == ["synthetic:1", "synthetic:2"]
    assert (target / "notes.txt").read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_staged_write_into_a_new_folder_appears_whole(tmp_path: Path) -> None:
    with staged_dataset(tmp_path / "ds", description="made here") as ds:
        ds.append([make_sequence(seed=1)])
        assert not (tmp_path / "ds").exists()
    assert [s.source for s in Dataset(tmp_path / "ds")] == ["synthetic:1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    (tmp_path / "plain").mkdir()  # the mode of any folder the user makes, not mkdtemp's 0700
    assert (tmp_path / "ds").stat().st_mode == (tmp_path / "plain").stat().st_mode


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
