"""The models the app offers: shipped ones (``models/``) and the user's own (taught ones).

Each :class:`ModelEntry` is read from the model's own metadata (no session is kept), so the
Model menu can say what a model knows before it is loaded: its vocabulary size, file size and
held-out WER. Files that are not SignStream models are left out, with the reason kept for a
tooltip.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from engine.dataset import Dataset
from engine.errors import SignStreamError
from engine.model import ModelInfo, read_model_info
from engine.model_index import MODELS_DIR, lm_beside

__all__ = [
    "MODELS_DIR",
    "REPO",
    "ModelEntry",
    "checkpoint_for",
    "find_models",
    "lm_beside",
    "sample_counts",
    "user_data_dir",
]

REPO = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "SIGNSTREAM_USER_DIR"  # overrides the user data folder (tests, portable installs)


def user_data_dir() -> Path:
    """Where the user's recordings and taught models live, e.g. ``~/.local/share/SignStream``.

    QStandardPaths' AppDataLocation appends the organisation and the application name, which
    are both "SignStream", so it reads ``.../SignStream/SignStream``; the doubled last folder is
    dropped. Earlier versions used the doubled folder: where it exists and the new folder holds
    nothing else (it is the doubled one's parent), the doubled folder stays in use, untouched,
    so an existing user keeps their recordings and models. Nothing is moved: a move interrupted
    half-way (or two app windows at once) could split a user's data between two folders.
    ``SIGNSTREAM_USER_DIR`` overrides it all.
    """
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    if not location:
        return Path.home() / ".signstream"
    qt_path = Path(location)
    if qt_path.name != qt_path.parent.name:
        return qt_path  # organisation and application names differ: nothing doubled
    path, old = qt_path.parent, qt_path
    if old.is_dir() and all(entry == old for entry in path.iterdir()):
        return old
    return path


def checkpoint_for(model: Path) -> Path | None:
    """The training checkpoint of a model (same stem, ``.pt``), which teaching starts from."""
    pt = model.with_suffix(".pt")
    return pt if pt.is_file() else None


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    info: ModelInfo
    user: bool  # trained by the user (in the user data folder), not shipped

    @property
    def wer(self) -> float | None:
        """Held-out WER (beam + LM where the recipe measured it, else greedy)."""
        heldout = self.info.heldout
        for key in ("wer_beam_lm", "wer_greedy", "wer"):
            value = heldout.get(key)
            if isinstance(value, int | float):
                return float(value)
        return None

    @property
    def label(self) -> str:
        size = self.info.size_bytes / 1e6
        wer = self.wer
        parts = [f"{len(self.info.vocabulary)} glosses", f"{size:.1f} MB"]
        parts.append(f"held-out WER {100 * wer:.1f}%" if wer is not None else "not evaluated")
        return f"{self.info.name} ({', '.join(parts)})"


def find_models(folders: Iterable[tuple[Path, bool]]) -> tuple[list[ModelEntry], list[str]]:
    """SignStream models in ``(folder, user)`` pairs, and why other ``.onnx`` files were not."""
    entries: list[ModelEntry] = []
    skipped: list[str] = []
    for folder, user in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.onnx")):
            if path.name.startswith(".") or path.name.endswith(".int8.onnx"):
                continue  # staged files of a running export; INT8 twins of a listed model
            try:
                entries.append(ModelEntry(path, read_model_info(path), user))
            except SignStreamError as e:
                skipped.append(str(e))
    return entries, skipped


def _dataset_path(text: str) -> Path | None:
    for p in (Path(text), REPO / text):
        if (p / "dataset.json").is_file():
            return p
    return None


def sample_counts(info: ModelInfo) -> tuple[dict[str, int], str]:
    """Training samples per gloss of a model, and where the numbers come from.

    From the model's ``training_data`` metadata when it carries them (taught models do), else
    counted in its training dataset when that is on this machine; ``({}, reason)`` otherwise.
    """
    try:
        data = json.loads(info.extra.get("training_data", "{}"))
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    counts = data.get("sample_counts")
    if isinstance(counts, dict):
        return {str(k): int(v) for k, v in counts.items()}, "from the model's metadata"
    dataset = data.get("dataset")
    root = _dataset_path(dataset) if isinstance(dataset, str) else None
    if root is None:
        return {}, "the model does not say, and its training data is not on this machine"
    try:
        infos = Dataset(root).infos
    except SignStreamError as e:
        return {}, f"its training data cannot be read: {e}"
    known = set(info.vocabulary.glosses)
    counted = Counter(i.gloss for i in infos if len(i.glosses) == 1 and i.gloss in known)
    return dict(counted), f"isolated samples in {root} (all signers)"
