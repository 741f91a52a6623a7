"""Importers: npz sets, MP_Data folders, asl-signs parquet; real files where the data is there."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from engine.dataset import Dataset
from engine.errors import ImportProblem
from engine.landmarks import (
    FACE,
    FACE_SUBSET,
    FLAT_LAYOUTS,
    GROUP_INDEX,
    LEFT_HAND,
    NUM_POINTS_WITH_FACE,
    POSE,
    RIGHT_HAND,
    LandmarkSequence,
)
from training.importers.base import ImportItem, write_import
from training.importers.isl_parquet import import_isl_parquet, read_isl_parquet
from training.importers.mp_data import import_mp_data
from training.importers.npz_sets import import_npz, layout_for_size

# ----------------------------------------------------------------------------- helpers


def split(items: list[ImportItem]) -> tuple[list[LandmarkSequence], list[ImportProblem]]:
    seqs = [i for i in items if isinstance(i, LandmarkSequence)]
    problems = [i for i in items if isinstance(i, ImportProblem)]
    return seqs, problems


def flat_frames(
    rng: np.random.Generator, n: int, frames: int, layout: str, dtype: Any = np.float16
) -> NDArray[Any]:
    """``(n, frames, D)`` in a flat layout, with whole groups zeroed now and then (undetected)."""
    fl = FLAT_LAYOUTS[layout]
    x = rng.uniform(0.05, 0.95, size=(n, frames, fl.size)).astype(dtype)
    col = 0
    blocks = list(fl.blocks)
    if layout == "1662":  # pose, full face mesh, hands: zero the mesh points outside the subset
        blocks = [
            ("pose", tuple(range(33)), 4),
            ("face", tuple(range(468)), 3),
            ("left_hand", tuple(range(21)), 3),
            ("right_hand", tuple(range(21)), 3),
        ]
    for gname, idx, d in blocks:
        width = len(idx) * d
        if gname == "pose":  # a face: the eyes beside the nose
            for point in (2, 5):
                if point in idx and 0 in idx:
                    x[:, :, col + idx.index(point) * d : col + idx.index(point) * d + 2] = x[
                        :, :, col : col + 2
                    ]
        gone = rng.random((n, frames)) < 0.3
        x[:, :, col : col + width][gone] = 0
        if gname == "face":
            mesh = x[:, :, col : col + width].reshape(n, frames, 468, 3)
            outside = np.setdiff1d(np.arange(468), FACE_SUBSET)
            mesh[:, :, outside] = 0
            x[:, :, col : col + width] = mesh.reshape(n, frames, width)
        col += width
    return x


def write_npz(path: Path, x: NDArray[Any], **labels: Any) -> Path:
    np.savez_compressed(path, X=x, **{k: np.asarray(v) for k, v in labels.items()})
    return path


# ----------------------------------------------------------------------------- npz sets


def test_layout_for_size() -> None:
    assert {layout_for_size(fl.size) for fl in FLAT_LAYOUTS.values()} == set(FLAT_LAYOUTS)
    assert layout_for_size(123) is None


@pytest.mark.parametrize("layout", sorted(FLAT_LAYOUTS))
def test_npz_round_trip_every_layout(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(1)
    x = flat_frames(rng, 4, 6, layout)
    path = write_npz(
        tmp_path / "set.npz",
        x,
        gloss=["hello", "tea", "hello", "-"],
        signer=["ann", "bob", "ann", "bob"],
        seq=[0, 1, 2, 3],
    )
    seqs, problems = split(list(import_npz(path)))
    assert problems == []
    assert len(seqs) == 4
    for i, s in enumerate(seqs):
        # values survive exactly: float16 -> float32 is exact and absent groups are zeros
        np.testing.assert_array_equal(s.to_flat(layout), x[i].astype(np.float32))
        assert s.source == f"{tmp_path.name}/set.npz#{i}"
        assert s.extra == {"seq": str(i), "layout": layout}
        assert s.fps == 30.0
        np.testing.assert_allclose(s.timestamps, np.arange(6) / 30.0)
    assert [s.glosses for s in seqs] == [("hello",), ("tea",), ("hello",), ("-",)]
    assert [s.signer for s in seqs] == ["ann", "bob", "ann", "bob"]
    assert seqs[0].has_face == (layout == "1662")


def test_npz_presence_follows_zero_groups(tmp_path: Path) -> None:
    x = np.full((1, 3, 258), 0.5, np.float16)
    x[0, 1, 132:195] = 0  # left hand not detected in frame 1
    x[0, 2, :132] = 0  # no pose in frame 2
    seq = next(iter(import_npz(write_npz(tmp_path / "a.npz", x, gloss=["no"]))))
    assert isinstance(seq, LandmarkSequence)
    np.testing.assert_array_equal(seq.is_present("left_hand"), [True, False, True])
    np.testing.assert_array_equal(seq.is_present("pose"), [True, True, False])
    assert not seq.is_present("face").any()


def test_npz_signer_fps_labels_and_filters(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    x = flat_frames(rng, 5, 4, "170")
    path = write_npz(
        tmp_path / "wlasl.npz",
        x,
        gloss=["a", "b", "a", "c", "b"],
        real=[True, False, True, True, False],
        name=["a/0", "b/1", "a/2", "c/3", "b/4"],
        note=np.array("a scalar, not a label"),
    )
    seqs, _ = split(list(import_npz(path, fps=25, signer="someone")))
    assert [s.signer for s in seqs] == ["someone"] * 5
    assert {s.fps for s in seqs} == {25.0}
    assert seqs[1].extra == {"real": "False", "name": "b/1", "layout": "170"}
    assert [s.source for s in split(list(import_npz(path, real_only=True)))[0]] == [
        f"{tmp_path.name}/wlasl.npz#{i}" for i in (0, 2, 3)
    ]
    kept, _ = split(list(import_npz(path, exclude_glosses={"b"})))
    assert [s.glosses[0] for s in kept] == ["a", "a", "c"]
    kept, _ = split(list(import_npz(path, include_glosses=["c", "b"], exclude_glosses=["b"])))
    assert [s.glosses[0] for s in kept] == ["c"]
    # without a signer array the default is "unknown"
    assert {s.signer for s in split(list(import_npz(path)))[0]} == {"unknown"}


def test_npz_explicit_layout_and_its_mismatch(tmp_path: Path) -> None:
    x = flat_frames(np.random.default_rng(3), 2, 3, "258")
    path = write_npz(tmp_path / "w.npz", x, gloss=["x", "y"])
    seqs, problems = split(list(import_npz(path, layout="258")))
    assert len(seqs) == 2 and problems == []
    seqs, problems = split(list(import_npz(path, layout="126")))
    assert seqs == [] and len(problems) == 1
    assert problems[0].path == str(path) and "126" in problems[0].reason
    with pytest.raises(ValueError, match="unknown layout"):
        list(import_npz(path, layout="999"))
    with pytest.raises(ValueError, match="fps"):
        list(import_npz(path, fps=0))


def test_npz_bad_contents_are_problems(tmp_path: Path) -> None:
    x = flat_frames(np.random.default_rng(4), 2, 3, "258")
    no_gloss = tmp_path / "no_gloss.npz"
    np.savez_compressed(no_gloss, X=x)
    odd_size = write_npz(tmp_path / "odd.npz", np.zeros((2, 3, 100), np.float16), gloss=["a", "b"])
    flat = write_npz(tmp_path / "flat.npz", np.zeros((3, 258), np.float16), gloss=["a", "b", "c"])
    no_real = write_npz(tmp_path / "no_real.npz", x, gloss=["a", "b"])
    _, problems = split(list(import_npz([no_gloss, odd_size, flat])))
    assert [p.path for p in problems] == [str(no_gloss), str(odd_size), str(flat)]
    assert "gloss" in problems[0].reason and "100" in problems[1].reason
    _, problems = split(list(import_npz(no_real, real_only=True)))
    assert len(problems) == 1 and "real" in problems[0].reason


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.98])
def test_npz_truncated_file_is_one_problem_and_the_rest_imports(
    tmp_path: Path, keep: float
) -> None:
    rng = np.random.default_rng(5)
    good = write_npz(tmp_path / "good.npz", flat_frames(rng, 3, 4, "258"), gloss=["a", "b", "c"])
    bad = write_npz(tmp_path / "bad.npz", flat_frames(rng, 50, 20, "258"), gloss=["a"] * 50)
    data = bad.read_bytes()
    bad.write_bytes(data[: int(len(data) * keep)])
    items = list(import_npz([bad, good, tmp_path / "missing.npz"]))
    seqs, problems = split(items)
    assert len(seqs) == 3
    assert [p.path for p in problems] == [str(bad), str(tmp_path / "missing.npz")]
    assert "unreadable npz" in problems[0].reason


def test_npz_corrupt_bytes_are_a_problem(tmp_path: Path) -> None:
    path = write_npz(
        tmp_path / "c.npz", flat_frames(np.random.default_rng(6), 40, 20, "258"), gloss=["a"] * 40
    )
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # inside the compressed X: bad CRC or bad deflate
    path.write_bytes(bytes(data))
    seqs, problems = split(list(import_npz(path)))
    assert seqs == [] and len(problems) == 1 and problems[0].path == str(path)


def test_npz_reimport_skips_what_is_in(tmp_path: Path) -> None:
    x = flat_frames(np.random.default_rng(7), 5, 4, "258")
    path = write_npz(tmp_path / "set.npz", x, gloss=["a", "b", "a", "b", "c"])
    ds = Dataset.create(tmp_path / "ds")
    first = write_import(ds, import_npz(path, include_glosses={"a", "b"}))
    assert (first.imported, first.skipped) == (4, 0)
    again = write_import(ds, import_npz(path))
    assert (again.imported, again.skipped) == (1, 4)
    assert len(ds) == 5
    by_source = {s.source: s for s in ds}
    np.testing.assert_array_equal(
        by_source[f"{tmp_path.name}/set.npz#4"].to_flat("258"), x[4].astype(np.float32)
    )


# ----------------------------------------------------------------------------- MP_Data


def write_mp_sequence(folder: Path, frames: NDArray[Any]) -> None:
    folder.mkdir(parents=True)
    for i, v in enumerate(frames):
        np.save(folder / f"{i}.npy", v)


def test_mp_data_tree_with_bad_sequences(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    root = tmp_path / "MP_Data"
    hello = flat_frames(rng, 2, 5, "1662", dtype=np.float64)  # the tutorial saves float64
    thanks = flat_frames(rng, 1, 4, "258", dtype=np.float64)
    hands = flat_frames(rng, 1, 3, "126", dtype=np.float64)
    write_mp_sequence(root / "hello" / "0", hello[0])
    write_mp_sequence(root / "hello" / "1", hello[1])
    write_mp_sequence(root / "thanks" / "0", thanks[0])
    write_mp_sequence(root / "letters" / "10", hands[0])
    (root / "hello" / "1" / "notes.txt").write_text("not a frame")  # ignored
    # bad: a missing frame number
    write_mp_sequence(root / "thanks" / "1", thanks[0])
    (root / "thanks" / "1" / "2.npy").unlink()
    # bad: an unreadable .npy
    write_mp_sequence(root / "thanks" / "2", thanks[0])
    (root / "thanks" / "2" / "1.npy").write_bytes(b"\x93NUMPY garbage")
    # bad: a vector of the wrong length in the middle
    write_mp_sequence(root / "thanks" / "3", thanks[0])
    np.save(root / "thanks" / "3" / "2.npy", np.zeros(100))
    # bad: a frame that is not a flat vector
    write_mp_sequence(root / "thanks" / "4", thanks[0])
    np.save(root / "thanks" / "4" / "0.npy", np.zeros((2, 258)))
    # bad: an empty sequence folder
    (root / "thanks" / "5").mkdir()

    seqs, problems = split(list(import_mp_data(root, fps=15, signer="kim")))
    assert [s.source for s in seqs] == [
        "MP_Data/hello/0",
        "MP_Data/hello/1",
        "MP_Data/letters/10",
        "MP_Data/thanks/0",
    ]
    assert {(s.signer, s.fps) for s in seqs} == {("kim", 15.0)}
    np.testing.assert_array_equal(seqs[0].to_flat("1662"), hello[0].astype(np.float32))
    np.testing.assert_array_equal(seqs[1].to_flat("1662"), hello[1].astype(np.float32))
    np.testing.assert_array_equal(seqs[2].to_flat("126"), hands[0].astype(np.float32))
    np.testing.assert_array_equal(seqs[3].to_flat("258"), thanks[0].astype(np.float32))
    assert seqs[0].has_face and not seqs[3].has_face
    assert seqs[2].extra == {"seq": "10", "layout": "126"}
    assert not seqs[2].is_present("pose").any()  # hands-only layout: no pose at all
    np.testing.assert_allclose(seqs[3].timestamps, np.arange(4) / 15.0)

    where = {p.path: p.reason for p in problems}
    assert where == {
        str(root / "thanks" / "1"): where[str(root / "thanks" / "1")],
        str(root / "thanks" / "2" / "1.npy"): where[str(root / "thanks" / "2" / "1.npy")],
        str(root / "thanks" / "3" / "2.npy"): where[str(root / "thanks" / "3" / "2.npy")],
        str(root / "thanks" / "4" / "0.npy"): where[str(root / "thanks" / "4" / "0.npy")],
        str(root / "thanks" / "5"): where[str(root / "thanks" / "5")],
    }
    assert "2 missing" in where[str(root / "thanks" / "1")]
    assert "100 values" in where[str(root / "thanks" / "3" / "2.npy")]


def test_mp_data_layout_filters_and_missing_root(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    root = tmp_path / "MP"
    write_mp_sequence(root / "a" / "0", flat_frames(rng, 1, 3, "258", np.float64)[0])
    write_mp_sequence(root / "b" / "0", flat_frames(rng, 1, 3, "258", np.float64)[0])
    (root / ".ipynb_checkpoints" / "0").mkdir(parents=True)
    seqs, _ = split(list(import_mp_data(root, exclude_glosses={"a"})))
    assert [s.glosses for s in seqs] == [("b",)]
    seqs, _ = split(list(import_mp_data(root, include_glosses={"a"})))
    assert [s.glosses for s in seqs] == [("a",)]
    _, problems = split(list(import_mp_data(root, layout="1662")))
    assert len(problems) == 2 and all("expected 1662" in p.reason for p in problems)
    _, problems = split(list(import_mp_data(tmp_path / "nowhere")))
    assert len(problems) == 1 and problems[0].path == str(tmp_path / "nowhere")


# ----------------------------------------------------------------------------- asl-signs parquet

ISL_TYPES = (("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21))


@pytest.fixture
def pq() -> ModuleType:
    module: ModuleType = pytest.importorskip("pyarrow.parquet")
    return module


def isl_rows(
    rng: np.random.Generator, frames: list[int], left_found: list[bool], right_found: list[bool]
) -> dict[str, list[Any]]:
    """Rows in the competition's order: per frame face 468, left 21, pose 33, right 21."""
    cols: dict[str, list[Any]] = {
        k: [] for k in ("frame", "row_id", "type", "landmark_index", "x", "y", "z")
    }
    for t, f in enumerate(frames):
        for tname, n in ISL_TYPES:
            found = {"left_hand": left_found[t], "right_hand": right_found[t]}.get(tname, True)
            xyz = rng.uniform(0.1, 0.9, size=(n, 3)) if found else np.full((n, 3), np.nan)
            for i in range(n):
                cols["frame"].append(f)
                cols["row_id"].append(f"{f}-{tname}-{i}")
                cols["type"].append(tname)
                cols["landmark_index"].append(i)
                cols["x"].append(float(xyz[i, 0]))
                cols["y"].append(float(xyz[i, 1]))
                cols["z"].append(float(xyz[i, 2]))
    return cols


def write_isl_parquet(pq: ModuleType, path: Path, cols: dict[str, list[Any]]) -> Path:
    import pyarrow as pa

    types = {
        "frame": pa.int16(),
        "row_id": pa.string(),
        "type": pa.string(),
        "landmark_index": pa.int16(),
        "x": pa.float64(),
        "y": pa.float64(),
        "z": pa.float64(),
    }
    table = pa.table({k: pa.array(v, type=types[k]) for k, v in cols.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def expected_points(cols: dict[str, list[Any]]) -> dict[tuple[int, str, int], tuple[float, ...]]:
    return {
        (f, t, i): (x, y, z)
        for f, t, i, x, y, z in zip(
            cols["frame"],
            cols["type"],
            cols["landmark_index"],
            cols["x"],
            cols["y"],
            cols["z"],
            strict=True,
        )
    }


def test_isl_parquet_single_file(tmp_path: Path, pq: ModuleType) -> None:
    rng = np.random.default_rng(10)
    frames = [20, 21, 23]  # starts at 20, frame 22 missing
    cols = isl_rows(rng, frames, left_found=[False] * 3, right_found=[True, False, True])
    path = write_isl_parquet(pq, tmp_path / "26734" / "1000035562.parquet", cols)
    seq = read_isl_parquet(path, glosses=("blow",), signer="26734")
    assert seq.points.shape == (3, NUM_POINTS_WITH_FACE, 4) and seq.has_face
    np.testing.assert_allclose(seq.timestamps, np.array([0, 1, 3]) / 30.0)
    assert seq.extra == {"first_frame": "20"}
    np.testing.assert_array_equal(seq.is_present("left_hand"), [False, False, False])
    np.testing.assert_array_equal(seq.is_present("right_hand"), [True, False, True])
    assert seq.is_present("pose").all() and seq.is_present("face").all()
    assert not seq.group("left_hand").any()  # absent: zeros, not NaN
    assert not np.isnan(seq.points).any()
    # pose has no visibility in this format: confidence 1
    np.testing.assert_array_equal(seq.group("pose")[..., 3], 1.0)
    want = expected_points(cols)
    for t, f in enumerate(frames):
        for i in range(33):
            np.testing.assert_allclose(
                seq.points[t, POSE.start + i, :3], want[(f, "pose", i)], rtol=1e-6
            )
        for pos, mesh in enumerate(FACE_SUBSET):
            np.testing.assert_allclose(
                seq.points[t, FACE.start + pos, :3], want[(f, "face", mesh)], rtol=1e-6
            )
        if t != 1:
            np.testing.assert_allclose(
                seq.points[t, RIGHT_HAND.start + 7, :3], want[(f, "right_hand", 7)], rtol=1e-6
            )
    # via the importer: a given gloss and signer, source "<folder>/<file>"
    seqs, problems = split(list(import_isl_parquet(path, gloss="blow", signer="26734", fps=15)))
    assert problems == [] and len(seqs) == 1
    assert seqs[0].source == "26734/1000035562.parquet" and seqs[0].glosses == ("blow",)
    np.testing.assert_allclose(seqs[0].timestamps, np.array([0, 1, 3]) / 15.0)
    # a single file without a gloss is a problem, not a guess
    _, problems = split(list(import_isl_parquet(path)))
    assert len(problems) == 1 and "gloss" in problems[0].reason


def test_isl_parquet_row_order_does_not_matter(tmp_path: Path, pq: ModuleType) -> None:
    rng = np.random.default_rng(11)
    cols = isl_rows(rng, [0, 1], left_found=[True, False], right_found=[True, True])
    order = rng.permutation(len(cols["frame"]))
    shuffled = {k: [v[i] for i in order] for k, v in cols.items()}
    a = read_isl_parquet(write_isl_parquet(pq, tmp_path / "a.parquet", cols))
    b = read_isl_parquet(write_isl_parquet(pq, tmp_path / "b.parquet", shuffled))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.present, b.present)
    assert a.present[1, GROUP_INDEX["left_hand"]] == False  # noqa: E712
    assert a.points[0, LEFT_HAND.start, 3] == 1.0


def test_isl_parquet_root_with_train_csv_and_broken_files(tmp_path: Path, pq: ModuleType) -> None:
    import pyarrow as pa

    rng = np.random.default_rng(12)
    root = tmp_path / "asl-signs"
    good = [
        ("train_landmark_files/16069/100015657.parquet", "16069", "100015657", "cloud"),
        ("train_landmark_files/28656/1000106739.parquet", "28656", "1000106739", "wait"),
    ]
    for rel, *_ in good:
        write_isl_parquet(pq, root / rel, isl_rows(rng, [5, 6], [True, True], [False, True]))
    # broken: x and z columns missing
    cols = isl_rows(rng, [0], [True], [True])
    (root / "train_landmark_files/1").mkdir()
    pq.write_table(
        pa.table({k: v for k, v in cols.items() if k not in ("x", "z")}),
        root / "train_landmark_files/1/no_xz.parquet",
    )
    # broken: not a parquet file at all
    (root / "train_landmark_files/1/garbage.parquet").write_bytes(b"PAR1 but not really")
    rows = [
        good[0],
        ("train_landmark_files/1/no_xz.parquet", "1", "11", "cloud"),
        ("train_landmark_files/1/garbage.parquet", "1", "12", "cloud"),
        ("train_landmark_files/1/missing.parquet", "1", "13", "cloud"),
        good[1],
    ]
    with (root / "train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "participant_id", "sequence_id", "sign"])
        w.writerows(rows)

    seqs, problems = split(list(import_isl_parquet(root)))
    assert [(s.glosses, s.signer, s.source) for s in seqs] == [
        (("cloud",), "16069", f"asl-signs/{good[0][0]}"),
        (("wait",), "28656", f"asl-signs/{good[1][0]}"),
    ]
    assert seqs[0].extra == {"first_frame": "5", "sequence_id": "100015657"}
    assert [Path(p.path).name for p in problems] == [
        "no_xz.parquet",
        "garbage.parquet",
        "missing.parquet",
    ]
    assert "missing columns x, z" in problems[0].reason
    # filters and limit
    assert len(list(import_isl_parquet(root, exclude_glosses={"cloud"}))) == 1
    assert len(list(import_isl_parquet(root, limit=1))) == 1
    seqs, problems = split(list(import_isl_parquet(root, limit=3)))
    assert len(seqs) == 1 and [Path(p.path).name for p in problems] == [
        "no_xz.parquet",
        "garbage.parquet",
    ]
    assert len(list(import_isl_parquet(root, limit=0))) == 0
    known = {f"asl-signs/{good[0][0]}", f"asl-signs/{good[1][0]}"}
    assert len(list(import_isl_parquet(root, skip_sources=known))) == 3  # only the problems
    # into a dataset: the face-subset sequences get their own shard, a re-import skips
    ds = Dataset.create(tmp_path / "ds")
    report = write_import(ds, import_isl_parquet(root))
    assert (report.imported, len(report.problems)) == (2, 3)
    assert write_import(ds, import_isl_parquet(root)).skipped == 2
    assert ds[0].has_face


def test_isl_parquet_bad_index_and_contents(tmp_path: Path, pq: ModuleType) -> None:
    root = tmp_path / "root"
    root.mkdir()
    _, problems = split(list(import_isl_parquet(root)))
    assert len(problems) == 1 and problems[0].path == str(root / "train.csv")
    (root / "train.csv").write_text("path,sign\nx.parquet,a\n")
    _, problems = split(list(import_isl_parquet(root)))
    assert "participant_id, sequence_id" in problems[0].reason
    rng = np.random.default_rng(13)
    cols = isl_rows(rng, [0], [True], [True])
    cols["type"][0] = "hand"
    bad_type = write_isl_parquet(pq, tmp_path / "t.parquet", cols)
    cols = isl_rows(rng, [0], [True], [True])
    cols["landmark_index"][470] = 40  # a left-hand row with index 40
    bad_index = write_isl_parquet(pq, tmp_path / "i.parquet", cols)
    cols = isl_rows(rng, [0], [True], [True])
    cols["landmark_index"][470] = 3  # a second left_hand 3 in frame 0
    duplicate = write_isl_parquet(pq, tmp_path / "d.parquet", cols)
    _, problems = split(list(import_isl_parquet([bad_type, bad_index, duplicate], gloss="x")))
    assert [p.path for p in problems] == [str(bad_type), str(bad_index), str(duplicate)]
    assert "hand" in problems[0].reason
    assert "out of range" in problems[1].reason
    assert "duplicate" in problems[2].reason


# ----------------------------------------------------------------------------- real data

ASL_COFFEE = "asl-coffee/words.npz"


@pytest.mark.data
def test_import_all_of_asl_coffee_words(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / ASL_COFFEE
    ds = Dataset.create(tmp_path / "ds")
    report = write_import(ds, import_npz(path))
    assert report.problems == [] and report.imported == 4693
    assert len(ds) == 4693
    infos = ds.infos
    assert {i.signer for i in infos} == {"dmohazab", "TheCamNelson", "Alex"}
    assert len({i.gloss for i in infos}) == 33
    with np.load(path) as z:
        x, gloss, signer, seq_ids = z["X"], z["gloss"], z["signer"], z["seq"]
    for i in (0, 1, 777, 2190, 4692):  # round trip against the float16 source, through disk
        s = ds[i]
        assert s.source == f"asl-coffee/words.npz#{i}"
        np.testing.assert_array_equal(s.to_flat("258"), x[i].astype(np.float32))
        assert (s.glosses, s.signer, s.extra["seq"]) == (
            (str(gloss[i]),),
            str(signer[i]),
            str(seq_ids[i]),
        )
    # the whole set, vectorised: every stored frame equals its source frame
    flat = np.concatenate([s.to_flat("258") for s in ds])
    np.testing.assert_array_equal(flat, x.reshape(-1, 258).astype(np.float32))
    # a second import finds everything in
    again = write_import(ds, import_npz(path))
    assert (again.imported, again.skipped) == (0, 4693)


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "layout", "count", "refused"),
    [
        ("asl-coffee/letters.npz", "126", 3150, ()),
        ("wlasl50/wlasl50.npz", "170", 1500, ()),
        ("bhutanese-words/words.npz", "258", 1600, ()),
        ("tutorial-3signs/kamalesh.npz", "258", 90, ()),
        ("msl5/msl5.npz", "226", 86, ()),
    ],
)
def test_every_shared_npz_set_imports(
    shared_data: Path, name: str, layout: str, count: int, refused: tuple[int, ...]
) -> None:
    seqs, problems = split(list(import_npz(shared_data / name)))
    assert len(seqs) == count
    assert [p.path for p in problems] == [f"{shared_data / name}#{i}" for i in refused]
    assert {s.extra["layout"] for s in seqs} == {layout}


@pytest.mark.data
def test_wlasl_real_only_and_letter_filter(shared_data: Path) -> None:
    real, problems = split(list(import_npz(shared_data / "wlasl50/wlasl50.npz", real_only=True)))
    assert problems == [] and len(real) == 423
    assert all(s.extra["real"] == "True" for s in real)
    # asl-coffee's fingerspelled letters; "a" and "i" are also words of the vocabulary: kept
    letters = set("bcefghjklstuvwxyz")
    words = list(import_npz(shared_data / ASL_COFFEE, exclude_glosses=letters))
    assert len(words) == 4693 - 45 * len(letters)


# ----------------------------------------------------------------------------- issue 17
def random_bytes(path: Path, size: int = 2048) -> Path:
    """What a user found in a file named ``.npy``: no NumPy or zip header (first byte 1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x01" + np.random.default_rng(17).bytes(size - 1))
    return path


NOT_NUMPY = "not a NumPy array file (corrupt or another format)"


def test_random_bytes_named_npy_are_not_a_numpy_file_not_pickled_data(tmp_path: Path) -> None:
    x = random_bytes(tmp_path / "x.npy")
    (problem,) = list(import_npz([x]))
    assert isinstance(problem, ImportProblem) and problem.path == str(x)
    assert problem.reason == f"unreadable npz: {NOT_NUMPY}"
    root = tmp_path / "MP_Data"
    write_mp_sequence(root / "hello" / "0", flat_frames(np.random.default_rng(0), 1, 3, "258")[0])
    random_bytes(root / "hello" / "0" / "1.npy")
    (problem,) = list(import_mp_data(root))
    assert isinstance(problem, ImportProblem)
    assert str(problem) == f"{root / 'hello' / '0' / '1.npy'}: {NOT_NUMPY}"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from signstream.cli import main

    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_failed_cli_import_leaves_no_dataset_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = random_bytes(tmp_path / "in" / "x.npy")
    random_bytes(tmp_path / "in" / "MP_Data" / "hello" / "0" / "0.npy")
    ds = tmp_path / "out" / "ds"
    for kind in ("npz", "mp-data", "pose", "parquet"):
        source = str(x if kind != "mp-data" else tmp_path / "in" / "MP_Data")
        rc, text = _cli(capsys, "data", "import", kind, source, "--dataset", str(ds))
        assert rc == 1, text
        assert "no dataset was created" in text
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], kind  # nothing, no parents
    rc, text = _cli(capsys, "data", "stats", str(ds))
    assert rc == 1 and f"no such folder: {ds}" in text


def test_failed_cli_import_leaves_an_existing_dataset_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    good = write_npz(tmp_path / "good.npz", flat_frames(rng, 2, 4, "258"), gloss=["a", "b"])
    ds = tmp_path / "ds"
    assert _cli(capsys, "data", "import", "npz", str(good), "--dataset", str(ds))[0] == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in ds.iterdir()}
    bad = random_bytes(tmp_path / "x.npy")
    rc, text = _cli(capsys, "data", "import", "npz", str(bad), "--dataset", str(ds))
    assert rc == 1 and f"{bad}: unreadable npz: {NOT_NUMPY}" in text
    assert "the dataset now holds 2" in text
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in ds.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "good.npz", "x.npy"]


def test_import_that_raises_half_way_leaves_no_partial_dataset(tmp_path: Path) -> None:
    from training.data_cli import _report
    from training.importers.base import SHARD_SEQUENCES

    flat = flat_frames(np.random.default_rng(0), 1, 2, "258")[0].astype(np.float32)

    def items() -> Any:
        # one full shard is written before the input fails
        for i in range(SHARD_SEQUENCES + 1):
            yield LandmarkSequence.from_flat(flat, "258", 30.0, glosses=("a",), source=f"s{i}")
        raise OSError("the disk holding the input went away")

    with pytest.raises(OSError, match="went away"):
        _report(tmp_path / "ds", items())
    assert list(tmp_path.iterdir()) == []
