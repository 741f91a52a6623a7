"""engine.arrayfile: every way a user's .npy/.npz can be wrong gives a message about the file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.arrayfile import load_npy, load_npz
from engine.errors import ArrayFileError, SignStreamError


def test_random_bytes_are_not_a_numpy_file_not_pickled_data(tmp_path: Path) -> None:
    # issue 17: numpy takes anything without a NumPy or zip header for a pickle
    rng = np.random.default_rng(0)
    for name in ("x.npy", "x.npz"):
        path = tmp_path / name
        path.write_bytes(b"\x01" + rng.bytes(2047))  # not by chance a NumPy or zip magic
        for load in (load_npy, load_npz):
            with pytest.raises(ArrayFileError) as info:
                load(path)  # type: ignore[operator]
            text = str(info.value)
            assert text == f"{path}: not a NumPy array file (corrupt or another format)"
            assert "pickle" not in text and info.value.path == str(path)
            assert isinstance(info.value, SignStreamError)


def test_each_failure_says_what_is_wrong(tmp_path: Path) -> None:
    good_npy, good_npz = tmp_path / "ok.npy", tmp_path / "ok.npz"
    np.save(good_npy, np.arange(10.0))
    np.savez(good_npz, a=np.arange(5), b=np.ones(3))
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "cut.npy").write_bytes(good_npy.read_bytes()[:100])
    (tmp_path / "cut.npz").write_bytes(good_npz.read_bytes()[:150])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", a=np.array([{"a": 1}], dtype=object))
    (tmp_path / "folder.npy").mkdir()
    cases = [
        (load_npy, "missing.npy", "no such file"),
        (load_npy, "folder.npy", "a folder, not a NumPy array file"),
        (load_npy, "empty.npy", "empty file (0 bytes)"),
        (load_npy, "cut.npy", "corrupt or truncated NumPy file"),
        (load_npz, "cut.npz", "corrupt or truncated NumPy file"),
        (load_npy, "ok.npz", "an .npz archive of arrays, expected one .npy array"),
        (load_npz, "ok.npy", "a single .npy array, expected an .npz archive"),
        (load_npy, "objects.npy", "holds Python objects"),
        (load_npz, "objects.npz", "holds Python objects"),
    ]
    for load, name, reason in cases:
        with pytest.raises(ArrayFileError, match="^" + re.escape(f"{tmp_path / name}: {reason}")):
            load(tmp_path / name)  # type: ignore[operator]


def test_good_files_load_and_keys_are_checked(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(load_npy(tmp_path / "v.npy"), np.arange(4))
    np.savez_compressed(tmp_path / "z.npz", a=np.arange(5), b=np.array("text"))
    arrays = load_npz(tmp_path / "z.npz")
    assert sorted(arrays) == ["a", "b"] and str(arrays["b"]) == "text"
    assert list(load_npz(tmp_path / "z.npz", ("b",))) == ["b"]
    with pytest.raises(ArrayFileError, match=r"z\.npz: no X / gloss array \(holds \['a', 'b'\]\)"):
        load_npz(tmp_path / "z.npz", ("X", "gloss"))
