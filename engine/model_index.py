"""The shipped models' index, ``models/index.json``: which model is the default, and each model's
files (ONNX, LM, card, checkpoint, sign previews) with the size and sha256 they were shipped with.

The CLI, the app and the training recipe all ask this module for the default model and for the
LM beside a model, so the name is written once (in the index). A file listed in its folder's
index is checked before it is used: a partial download, a disk error or a hand edit would
otherwise show up as odd recognitions, not as an error. Files the index does not list (a model
the user taught, one exported by hand) load unchecked.

Format (version 1)::

    {"version": 1, "default": "people-student",
     "models": {"people-student": {
         "onnx": {"file": "people-student.onnx", "bytes": 714044, "sha256": "..."},
         "lm": {...}, "card": {...}, "checkpoint": {...}, "previews": {...}}}}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.errors import ModelLoadError, SignStreamError

__all__ = [
    "INDEX_FILE",
    "KINDS",
    "MODELS_DIR",
    "FileRecord",
    "IndexEntry",
    "ModelIndex",
    "add_file",
    "default_model",
    "lm_beside",
    "read_index",
    "remove_entry",
    "sha256_of",
    "verify_file",
    "write_entry",
]

INDEX_FILE = "index.json"
FORMAT_VERSION = 1
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
# the files a shipped model may have; "previews": landmarks of each gloss (engine.previews)
KINDS = ("onnx", "lm", "card", "checkpoint", "previews")
LM_SUFFIXES = (".klm", ".arpa")  # an unlisted model's LM: same stem, binary KenLM first
REGENERATE_HINT = "reinstall SignStream, or regenerate it with `signstream train recipe`"


@dataclass(frozen=True)
class FileRecord:
    """One shipped file: its name in the models folder, size and sha256 (hex)."""

    file: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256}


@dataclass(frozen=True)
class IndexEntry:
    """A shipped model: ``files`` maps a kind of :data:`KINDS` to its record."""

    name: str
    files: dict[str, FileRecord]

    def path(self, folder: Path, kind: str) -> Path | None:
        record = self.files.get(kind)
        return None if record is None else folder / record.file


@dataclass(frozen=True)
class ModelIndex:
    """The index of one models folder (empty where the folder has no ``index.json``)."""

    folder: Path
    default: str | None
    entries: dict[str, IndexEntry]

    def record_of(self, path: Path) -> FileRecord | None:
        """The record of a file of this folder, or None when the index does not list it."""
        if path.resolve().parent != self.folder.resolve():
            return None
        for entry in self.entries.values():
            for record in entry.files.values():
                if record.file == path.name:
                    return record
        return None

    def entry_of(self, path: Path) -> IndexEntry | None:
        """The model one of whose files ``path`` is."""
        record = self.record_of(path)
        if record is None:
            return None
        return next(e for e in self.entries.values() if record in e.files.values())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(value: Any, where: str) -> FileRecord:
    if not isinstance(value, dict):
        raise ModelLoadError(f"{where}: a file entry must be an object")
    try:
        return FileRecord(str(value["file"]), int(value["bytes"]), str(value["sha256"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(f"{where}: file entry lacks file/bytes/sha256 ({e})") from e


def read_index(folder: Path = MODELS_DIR) -> ModelIndex:
    """The index of ``folder``; an unreadable index is a :class:`ModelLoadError` (never ignored:
    ignoring it would load every shipped file unchecked)."""
    path = folder / INDEX_FILE
    if not path.is_file():
        return ModelIndex(folder, None, {})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path}: unreadable models index ({e}); {REGENERATE_HINT}") from e
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ModelLoadError(f"{path}: not a version-{FORMAT_VERSION} models index")
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ModelLoadError(f"{path}: 'models' must be an object")
    entries = {}
    for name, files in models.items():
        if not isinstance(files, dict) or "onnx" not in files:
            raise ModelLoadError(f"{path}: model {name!r} lists no onnx file")
        records = {k: _record(v, f"{path}: {name}.{k}") for k, v in files.items() if k in KINDS}
        entries[str(name)] = IndexEntry(str(name), records)
    default = data.get("default")
    if default is not None and default not in entries:
        raise ModelLoadError(f"{path}: the default model {default!r} is not listed")
    return ModelIndex(folder, default, entries)


def default_model(folder: Path = MODELS_DIR) -> Path | None:
    """The ONNX file of the index's default model, or None when the index names none."""
    index = read_index(folder)
    if index.default is None:
        return None
    return index.entries[index.default].path(folder, "onnx")


def lm_beside(model: Path) -> Path | None:
    """The LM of a model: the index's where it lists the model, else a same-stem ``.klm`` or
    ``.arpa`` beside it (taught and hand-exported models), else None."""
    try:
        entry = read_index(model.parent).entry_of(model)
    except SignStreamError:
        entry = None  # an unreadable index is reported when the model itself is verified
    if entry is not None:
        lm = entry.path(model.parent, "lm")
        return lm if lm is not None and lm.is_file() else None
    for suffix in LM_SUFFIXES:
        if model.with_suffix(suffix).is_file():
            return model.with_suffix(suffix)
    return None


def verify_file(
    path: str | os.PathLike[str], error: type[SignStreamError] = ModelLoadError
) -> None:
    """Check a file against its folder's index; unlisted files pass. Raises ``error`` naming the
    file when its size or sha256 differs from what was shipped."""
    p = Path(path)
    try:
        record = read_index(p.parent).record_of(p)
    except ModelLoadError as e:
        raise error(str(e)) from e
    if record is None or not p.is_file():
        return  # unlisted; a missing file is its loader's to report
    size = p.stat().st_size
    if size != record.bytes:
        raise error(
            f"{p}: does not match models/index.json ({size} bytes, shipped {record.bytes}): "
            f"the file is damaged or was replaced; {REGENERATE_HINT}"
        )
    digest = sha256_of(p)
    if digest != record.sha256:
        raise error(
            f"{p}: does not match models/index.json (sha256 {digest[:12]}..., shipped "
            f"{record.sha256[:12]}...): the file is damaged or was replaced; {REGENERATE_HINT}"
        )


def write_entry(
    folder: Path, name: str, files: dict[str, Path], default: bool = True
) -> IndexEntry:
    """Record (or replace) model ``name`` with ``files`` (kind -> a file in ``folder``) and
    write the index atomically; other models' entries are kept."""
    unknown = set(files) - set(KINDS)
    if unknown or "onnx" not in files:
        raise ValueError(f"files must include onnx and only {KINDS}: got {sorted(files)}")
    records = {}
    for kind, path in files.items():
        if path.parent.resolve() != folder.resolve():
            raise ValueError(f"{path} is not in {folder}")
        records[kind] = FileRecord(path.name, path.stat().st_size, sha256_of(path))
    old = read_index(folder)
    entries = dict(old.entries) | {name: IndexEntry(name, records)}
    _write(folder, name if default else old.default, entries)
    return entries[name]


def add_file(folder: Path, name: str, kind: str, path: Path) -> IndexEntry:
    """Record one more file (or a new version of one) of the listed model ``name``; its other
    records stay as they were shipped (re-hashing them would bless a damaged file)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if path.parent.resolve() != folder.resolve():
        raise ValueError(f"{path} is not in {folder}")
    old = read_index(folder)
    if name not in old.entries:
        raise ValueError(f"{folder / INDEX_FILE} lists no model {name!r}")
    record = FileRecord(path.name, path.stat().st_size, sha256_of(path))
    entry = IndexEntry(name, old.entries[name].files | {kind: record})
    _write(folder, old.default, dict(old.entries) | {name: entry})
    return entry


def _write(folder: Path, default: str | None, entries: dict[str, IndexEntry]) -> None:
    data = {
        "version": FORMAT_VERSION,
        "default": default,
        "models": {
            n: {k: r.to_dict() for k, r in e.files.items()} for n, e in sorted(entries.items())
        },
    }
    atomic_write_text(folder / INDEX_FILE, json.dumps(data, indent=1) + "\n")


def remove_entry(folder: Path, name: str) -> None:
    """Take model ``name`` out of the index (written atomically first), then delete its files:
    an interruption leaves unlisted files, never a listed file that is gone."""
    old = read_index(folder)
    if name not in old.entries:
        return
    entries = {n: e for n, e in old.entries.items() if n != name}
    _write(folder, old.default if old.default != name else None, entries)
    for record in old.entries[name].files.values():
        (folder / record.file).unlink(missing_ok=True)
