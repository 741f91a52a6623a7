"""How a gloss is signed: its preview clips (:mod:`engine.previews`) as an animated skeleton.

:class:`SignPreview` plays the clips of one gloss person after person, in a loop, each cropped
to the signer's upper body so that the hands are large enough to read. The skeleton is drawn by
:func:`app.overlay.draw_landmarks` (the video overlay's colours and joints), plus a head circle:
without one, a sign made at the chin or the forehead cannot be told from one in front of the
chest. Clips are shown as the camera filmed them (not mirrored): as one sees a signer who faces
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.overlay import CANVAS_COLOUR, COLOURS, draw_landmarks
from engine.features import DEFAULT_ASPECT
from engine.landmarks import POSE
from engine.previews import PreviewClip, Previews, previews_of

__all__ = ["NO_PREVIEWS", "SignPreview", "model_previews"]

NO_PREVIEWS = "No preview for this model"
MAX_PLAYBACK_FPS = 15.0  # faster recordings are slowed to this, so a hand shape can be seen
MIN_FRAME_MS = 20  # the timer never runs faster than this
HOLD_MS = 700  # the last frame stays up this long before the next person
MARGIN = 0.12  # space around the skeleton, as a share of its extent
MIN_EXTENT = 0.25  # of the image height: a crop never zooms in further than this
VIEW_LIMIT = (-0.25, 1.25)  # points farther outside the image than this do not widen the crop
CAPTION_HEIGHT = 22  # pixels under the skeleton for "signer 2 of 3"
HEAD_FROM_EARS = 0.75  # head radius / ear-to-ear distance
HEAD_FROM_SHOULDERS = 0.3  # head radius / shoulder width, where the ears were not seen
TEXT_COLOUR = QColor(210, 210, 210)
NOSE, LEFT_EAR, RIGHT_EAR, LEFT_SHOULDER, RIGHT_SHOULDER = (
    POSE.start + i for i in (0, 7, 8, 11, 12)
)


def model_previews(model: Path | None) -> tuple[Previews | None, str]:
    """The previews of ``model`` (an ``.onnx``), or None and what to tell the user instead."""
    if model is None:
        return None, "No model is loaded."
    previews, why = previews_of(model)
    return previews, "" if previews is not None else f"{NO_PREVIEWS}: {why}."


@dataclass(frozen=True)
class _Prepared:
    """A clip ready to draw: points in its crop box's 0..1 coordinates."""

    points: npt.NDArray[np.float32]  # (T, 75, 4), x, y in 0..1 of the crop box
    present: npt.NDArray[np.bool_]  # (T, 4)
    aspect: float  # width / height of the crop box
    interval_ms: int  # per frame


def _prepare(clip: PreviewClip) -> _Prepared:
    """Crop ``clip`` to the box its skeleton moves in (with :data:`MARGIN`), kept in the
    recording's proportions (x is in widths of the image, y in heights)."""
    aspect = clip.aspect or DEFAULT_ASPECT
    points, present = clip.landmarks()
    xy = points[..., :2] * np.array([aspect, 1.0], np.float32)  # (T, 75, 2) in heights
    seen = points[..., 3] > 0
    low, high = VIEW_LIMIT
    inside = xy[seen]
    inside = inside[(inside[:, 1] >= low) & (inside[:, 1] <= high)]
    inside = inside[(inside[:, 0] >= low * aspect) & (inside[:, 0] <= high * aspect)]
    if len(inside) == 0:
        lo, hi = np.array([0.0, 0.0], np.float32), np.array([aspect, 1.0], np.float32)
    else:
        lo, hi = inside.min(axis=0), inside.max(axis=0)
    centre = (lo + hi) / 2
    extent = np.maximum((hi - lo) * (1 + 2 * MARGIN), MIN_EXTENT)
    lo = centre - extent / 2
    out = points.copy()
    out[..., :2] = (xy - lo) / extent
    fps = min(clip.fps, MAX_PLAYBACK_FPS)
    interval = max(MIN_FRAME_MS, round(1000 / fps))
    return _Prepared(out, present, float(extent[0] / extent[1]), interval)


class SignPreview(QWidget):
    """Plays the clips given to :meth:`set_clips` in a loop; shows a message without any."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.clips: tuple[PreviewClip, ...] = ()
        self.message = ""
        self.clip_index = 0
        self.frame_index = 0
        self.frames_shown = 0  # frames advanced to since the last set_clips (tests count it)
        self._prepared: list[_Prepared] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._advance)

    def sizeHint(self) -> QSize:
        return QSize(260, 260)

    @property
    def caption(self) -> str:
        """Who signs now: ``"signer 2 (2 of 3)"``; ``""`` without clips."""
        if not self.clips:
            return ""
        return f"{self.clips[self.clip_index].signer} ({self.clip_index + 1} of {len(self.clips)})"

    def set_clips(self, clips: Sequence[PreviewClip], message: str = "") -> None:
        """Play ``clips`` from the first frame; ``message`` is shown when there are none."""
        self.clips = tuple(clips)
        self.message = "" if self.clips else message
        self._prepared = [_prepare(c) for c in self.clips]
        self.clip_index = self.frame_index = self.frames_shown = 0
        self._timer.stop()
        if self.clips:
            self._timer.start(self._prepared[0].interval_ms)
        self.update()

    def show_message(self, message: str) -> None:
        self.set_clips((), message)

    @Slot()
    def _advance(self) -> None:
        clip = self._prepared[self.clip_index]
        if self.frame_index + 1 < len(clip.points):
            self.frame_index += 1
        else:  # the last frame has been held: the next person
            self.clip_index = (self.clip_index + 1) % len(self.clips)
            self.frame_index = 0
        self.frames_shown += 1
        now = self._prepared[self.clip_index]
        last = self.frame_index + 1 == len(now.points)
        self._timer.start(HOLD_MS if last else now.interval_ms)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), CANVAS_COLOUR)
        painter.setPen(TEXT_COLOUR)
        if not self.clips:
            text = QRectF(self.rect()).adjusted(8, 8, -8, -8)
            painter.drawText(text, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.message)  # fmt: skip
            painter.end()
            return
        clip = self._prepared[self.clip_index]
        area = QRectF(self.rect()).adjusted(4, 4, -4, -4 - CAPTION_HEIGHT)
        width = min(area.width(), area.height() * clip.aspect)
        height = width / clip.aspect
        image = QImage(max(1, round(width)), max(1, round(height)), QImage.Format.Format_RGB888)
        image.fill(CANVAS_COLOUR)
        points, present = clip.points[self.frame_index], clip.present[self.frame_index]
        _draw_head(image, points)
        draw_landmarks(image, points, present)
        left = area.left() + (area.width() - image.width()) / 2
        top = area.top() + (area.height() - image.height()) / 2
        painter.drawImage(QPointF(left, top), image)
        caption = QRectF(0, self.height() - CAPTION_HEIGHT, self.width(), CAPTION_HEIGHT)
        painter.drawText(caption, Qt.AlignmentFlag.AlignCenter, self.caption)
        painter.end()

    def showEvent(self, event: object) -> None:
        if self.clips and not self._timer.isActive():
            self._timer.start(self._prepared[self.clip_index].interval_ms)
        super().showEvent(event)  # type: ignore[arg-type]

    def hideEvent(self, event: object) -> None:
        self._timer.stop()  # a hidden preview costs nothing
        super().hideEvent(event)  # type: ignore[arg-type]


def _draw_head(image: QImage, points: npt.NDArray[np.float32]) -> None:
    """A circle for the head: around the ears where both were seen, else the nose."""
    w, h = image.width(), image.height()

    def at(i: int) -> npt.NDArray[np.float32] | None:
        return points[i, :2] * np.array([w, h], np.float32) if points[i, 3] > 0 else None

    ears = at(LEFT_EAR), at(RIGHT_EAR)
    shoulders = at(LEFT_SHOULDER), at(RIGHT_SHOULDER)
    nose = at(NOSE)
    if ears[0] is not None and ears[1] is not None:
        centre = (ears[0] + ears[1]) / 2
        radius = HEAD_FROM_EARS * float(np.linalg.norm(ears[0] - ears[1]))
    elif nose is not None and shoulders[0] is not None and shoulders[1] is not None:
        centre = nose
        radius = HEAD_FROM_SHOULDERS * float(np.linalg.norm(shoulders[0] - shoulders[1]))
    else:
        return
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(COLOURS["pose"], 2))
    painter.drawEllipse(QPointF(float(centre[0]), float(centre[1])), radius, radius)
    painter.end()
