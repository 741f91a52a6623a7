"""The demo recordings the app replays when there is no camera ("Help > Play a demo").

``assets/demo/`` beside the packages holds real landmark recordings (``.pose``, pose-format,
MediaPipe Holistic layout) that any ``.pose`` source replays, and ``demo.json``, the manifest
that lists them, main one first, with the glosses signed in each. Both are written by
``scripts/make_demo.py`` (see ``assets/demo/README.md`` for what they are and where they come
from). Qt-free and torch-free: the app and the CLI both use it.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["DEMO_DIR", "DEMO_MANIFEST", "demo_glosses", "demo_recordings"]

DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "demo"
DEMO_MANIFEST = "demo.json"  # {"recordings": [{"file": "x.pose", "glosses": [...], ...}, ...]}


def _manifest_entries(folder: Path) -> list[dict[str, object]]:
    """The manifest's recordings, or [] where there is no manifest (no demo shipped)."""
    path = folder / DEMO_MANIFEST
    if not path.is_file():
        return []
    data = json.loads(path.read_text("utf-8"))
    entries = data.get("recordings", []) if isinstance(data, dict) else []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("file"), str)]


def demo_recordings(folder: Path = DEMO_DIR) -> list[Path]:
    """The demo ``.pose`` files that exist, the main demo first (manifest order).

    Files the manifest does not list follow, sorted by name; ``[]`` where none is shipped.
    """
    listed = [folder / str(e["file"]) for e in _manifest_entries(folder)]
    found = [p for p in listed if p.is_file()]
    others = sorted(p for p in folder.glob("*.pose") if p not in found) if folder.is_dir() else []
    return found + others


def demo_glosses(recording: Path, folder: Path = DEMO_DIR) -> tuple[str, ...]:
    """The glosses signed in a demo recording (dataset spelling, e.g. ``thank-you``).

    ``()`` for a file the manifest does not list.
    """
    for entry in _manifest_entries(folder):
        if entry["file"] == recording.name:
            glosses = entry.get("glosses", [])
            return tuple(str(g) for g in glosses) if isinstance(glosses, list) else ()
    return ()
