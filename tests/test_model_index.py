"""models/index.json: the default model and the sha256 of every shipped file, checked on use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the app

from engine.decoder import GlossDecoder
from engine.errors import LanguageModelError, ModelLoadError
from engine.model import OnnxModel, read_model_info
from engine.model_index import (
    INDEX_FILE,
    MODELS_DIR,
    default_model,
    lm_beside,
    read_index,
    remove_entry,
    sha256_of,
    verify_file,
    write_entry,
)
from tests.conftest import REPO

MISMATCH = "does not match models/index.json"


def test_the_shipped_index_matches_the_shipped_files() -> None:
    index = read_index(MODELS_DIR)
    assert index.default is not None
    listed = set()
    for entry in index.entries.values():
        assert {"onnx", "lm", "card", "checkpoint"} <= set(entry.files), entry.name
        for record in entry.files.values():
            path = MODELS_DIR / record.file
            assert path.stat().st_size == record.bytes, path
            assert sha256_of(path) == record.sha256, path
            listed.add(record.file)
    shipped = {p.name for p in MODELS_DIR.iterdir() if p.name != INDEX_FILE}
    assert shipped == listed  # nothing ships unlisted (and so unchecked)
    assert default_model() == MODELS_DIR / index.entries[index.default].files["onnx"].file
    assert lm_beside(default_model()) == MODELS_DIR / index.entries[index.default].files["lm"].file  # type: ignore[arg-type]


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A models folder like the repository's: the default model's files and the index."""
    folder = tmp_path / "models"
    folder.mkdir()
    index = read_index(MODELS_DIR)
    for record in index.entries[index.default].files.values():  # type: ignore[index]
        shutil.copyfile(MODELS_DIR / record.file, folder / record.file)
    shutil.copyfile(MODELS_DIR / INDEX_FILE, folder / INDEX_FILE)
    return folder


def _tamper(path: Path) -> None:
    """One byte changed near the end: same size, another sha256 (a silent disk error)."""
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))


def _files(folder: Path) -> dict[str, Path]:
    index = read_index(folder)
    entry = index.entries[index.default]  # type: ignore[index]
    return {kind: folder / r.file for kind, r in entry.files.items()}


def test_a_matching_copy_loads(shipped_copy: Path) -> None:
    files = _files(shipped_copy)
    info = read_model_info(files["onnx"])
    GlossDecoder(info.vocabulary, files["lm"])
    OnnxModel(files["onnx"])


def test_a_changed_model_or_lm_is_refused_naming_the_file(shipped_copy: Path) -> None:
    files = _files(shipped_copy)
    vocab = read_model_info(files["onnx"]).vocabulary
    _tamper(files["onnx"])
    for load in (read_model_info, OnnxModel):
        with pytest.raises(ModelLoadError, match=MISMATCH) as e:
            load(files["onnx"])
        assert str(files["onnx"]) in str(e.value) and "signstream train recipe" in str(e.value)
    _tamper(files["lm"])
    with pytest.raises(LanguageModelError, match=MISMATCH):
        GlossDecoder(vocab, files["lm"])
    files["lm"].write_bytes(files["lm"].read_bytes()[:-1])  # truncated: the size says so
    with pytest.raises(LanguageModelError, match="bytes, shipped"):
        GlossDecoder(vocab, files["lm"])


def test_a_changed_checkpoint_is_refused(shipped_copy: Path) -> None:
    from training.checkpoint import load_checkpoint

    files = _files(shipped_copy)
    load_checkpoint(files["checkpoint"])
    _tamper(files["checkpoint"])
    with pytest.raises(ModelLoadError, match=MISMATCH):
        load_checkpoint(files["checkpoint"])


def test_unlisted_models_load_unchecked(shipped_copy: Path, tiny_onnx: Path) -> None:
    own = shipped_copy / "my-signs.onnx"  # a model the index does not list, beside listed ones
    shutil.copyfile(tiny_onnx, own)
    verify_file(own)
    assert read_model_info(own).name == "tiny"
    assert lm_beside(own) is None
    own.with_suffix(".arpa").write_text("\\data\\\n")
    assert lm_beside(own) == own.with_suffix(".arpa")  # an unlisted model's LM: same stem


def test_an_unreadable_index_is_an_error_not_a_pass(shipped_copy: Path) -> None:
    (shipped_copy / INDEX_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable models index"):
        read_model_info(_onnx_name(shipped_copy))


def _onnx_name(folder: Path) -> Path:
    return next(folder.glob("*.onnx"))


def test_write_entry_records_replaces_and_keeps_others(tmp_path: Path) -> None:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    write_entry(tmp_path, "a", {"onnx": a})
    write_entry(tmp_path, "b", {"onnx": b}, default=False)
    assert read_index(tmp_path).default == "a"
    a.write_bytes(b"retrained")
    with pytest.raises(ModelLoadError, match=MISMATCH):
        verify_file(a)
    write_entry(tmp_path, "a", {"onnx": a})  # the recipe ships again: the index follows
    verify_file(a)
    verify_file(b)
    data = json.loads((tmp_path / INDEX_FILE).read_text())
    assert sorted(data["models"]) == ["a", "b"] and data["models"]["a"]["onnx"]["bytes"] == 9
    with pytest.raises(ValueError, match="not in"):
        write_entry(tmp_path, "c", {"onnx": REPO / "README.md"})
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no staged file left
    remove_entry(tmp_path, "a")  # a model the recipe no longer makes
    assert not a.exists() and b.exists() and set(read_index(tmp_path).entries) == {"b"}
    assert read_index(tmp_path).default is None and default_model(tmp_path) is None


def test_the_cli_refuses_a_changed_model(shipped_copy: Path) -> None:
    model = _files(shipped_copy)["onnx"]
    _tamper(model)
    env = {k: v for k, v in os.environ.items() if k != "SIGNSTREAM_VERBOSE"}
    done = subprocess.run(
        [sys.executable, "-m", "signstream.cli", "run", "--model", str(model), "--source", "demo"],
        capture_output=True, text=True, timeout=300, cwd=REPO, env=env,
    )  # fmt: skip
    assert done.returncode != 0
    assert MISMATCH in done.stderr and model.name in done.stderr


def test_the_app_lists_a_changed_model_as_skipped_and_refuses_to_load_it(
    qtbot, shipped_copy: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QSettings

    from app.catalog import find_models
    from app.main_window import MainWindow

    model = _files(shipped_copy)["onnx"]
    assert [e.path for e in find_models([(shipped_copy, False)])[0]] == [model]
    _tamper(model)
    entries, skipped = find_models([(shipped_copy, False)])
    assert entries == [] and len(skipped) == 1 and MISMATCH in skipped[0]
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(model=None, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.show()
    try:
        w.load_model(model)
        qtbot.waitUntil(lambda: w.notice.isVisible(), timeout=5_000)
        assert MISMATCH in w.notice.message
        assert w.bridge.model_info is None
    finally:
        w.bridge.close()
