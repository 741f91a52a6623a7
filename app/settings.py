"""What the app remembers between runs (QSettings): camera, model, decoder, view, geometry.

:class:`AppSettings` is the one place the keys and defaults live; :func:`load_settings` and
:func:`save_settings` convert to and from QSettings, whose INI and registry back-ends give
every value back as a string, so each value is parsed and a broken one falls back to its
default rather than breaking the app's start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from engine.decoder import DEFAULT_BEAM_WIDTH
from engine.streaming import DEFAULT_PAUSE_S

__all__ = ["MAX_RECENT", "AppSettings", "load_settings", "remember_model", "save_settings"]

MAX_RECENT = 6  # models in the "Recent models" menu
MIN_PAUSE_S, MAX_PAUSE_S = 0.1, 3.0  # a pause outside these was not set by the app
ORGANISATION = "SignStream"
APPLICATION = "SignStream"


@dataclass(frozen=True)
class AppSettings:
    camera: str = ""  # source spec of the last camera used ("webcam:0"); "" none yet
    resolution: tuple[int, int] | None = None  # camera size to ask for; None: driver's choice
    model: str = ""  # ONNX file last loaded; "" the shipped default
    recent_models: tuple[str, ...] = ()  # newest first, at most MAX_RECENT
    lm_enabled: bool = True  # beam search with the model's LM (when it has one)
    alpha: float | None = None  # LM weight; None: the model's tuned value
    beam_width: int = DEFAULT_BEAM_WIDTH
    pause_s: float = DEFAULT_PAUSE_S  # rest that commits the glosses before it
    settle: bool = True  # commit a gloss as soon as it has settled (engine.streaming)
    # show the video like a mirror: what people expect of a selfie view, but a recorded video
    # (or a replay) is shown as it was filmed, or its text reads backwards
    mirror_camera: bool = True
    mirror_file: bool = False
    overlay: bool = True  # draw the landmarks over the video
    large_text: bool = False  # transcript readable from across a room
    geometry: bytes = b""  # QMainWindow.saveGeometry()
    fit_offered: bool = False  # the first-run offer of Fit to me was answered (shown no more)


def default_qsettings() -> QSettings:
    """The user's settings store (registry, plist or ~/.config/SignStream/SignStream.conf)."""
    return QSettings(ORGANISATION, APPLICATION)


def _bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return default


def _parse(field: str, value: Any, default: Any) -> Any:
    if field in ("camera", "model"):
        return str(value)
    if field == "recent_models":
        items = [value] if isinstance(value, str) else list(value or [])
        return tuple(str(v) for v in items if v)[:MAX_RECENT]
    if field == "resolution":
        text = str(value)
        if "x" not in text:
            return None
        w, h = text.split("x", 1)
        return (int(w), int(h))
    if field in (
        "lm_enabled",
        "mirror_camera",
        "mirror_file",
        "overlay",
        "large_text",
        "settle",
        "fit_offered",
    ):
        return _bool(value, default)
    if field == "alpha":
        return None if value in (None, "", "model") else float(value)
    if field == "beam_width":
        return max(1, int(value))
    if field == "pause_s":
        pause = float(value)
        if not MIN_PAUSE_S <= pause <= MAX_PAUSE_S:
            raise ValueError(f"pause {pause} s")
        return pause
    if field == "geometry":
        return bytes(value.data()) if isinstance(value, QByteArray) else bytes(value or b"")
    raise KeyError(field)


def load_settings(store: QSettings) -> AppSettings:
    """What ``store`` holds; missing or unreadable values keep their defaults."""
    defaults = AppSettings()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(AppSettings):
        if not store.contains(f.name):
            continue
        default = getattr(defaults, f.name)
        try:
            values[f.name] = _parse(f.name, store.value(f.name), default)
        except (TypeError, ValueError):
            continue  # a hand-edited or older file: that one value falls back to its default
    return dataclasses.replace(defaults, **values)


def save_settings(store: QSettings, settings: AppSettings) -> None:
    for f in dataclasses.fields(AppSettings):
        value = getattr(settings, f.name)
        if f.name == "resolution":
            value = "" if value is None else f"{value[0]}x{value[1]}"
        elif f.name == "alpha":
            value = "model" if value is None else float(value)
        elif f.name == "recent_models":
            value = list(value)
        elif f.name == "geometry":
            value = QByteArray(value)
        store.setValue(f.name, value)
    store.sync()


def remember_model(settings: AppSettings, path: str) -> AppSettings:
    """``path`` becomes the current model and the newest of the recent ones."""
    recent = (path, *(p for p in settings.recent_models if p != path))[:MAX_RECENT]
    return dataclasses.replace(settings, model=path, recent_models=recent)
