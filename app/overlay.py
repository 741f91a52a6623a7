"""Draw MediaPipe landmarks over a video frame (QPainter on a QImage)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from engine.landmarks import GROUP_INDEX, LEFT_HAND, POSE, RIGHT_HAND

__all__ = ["blank_canvas", "draw_landmarks", "rgb_to_qimage"]

# MediaPipe Hands connections: thumb, index, middle, ring, little finger, palm.
HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10),
    (10, 11), (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18),
    (18, 19), (19, 20),
)  # fmt: skip
# Upper-body pose connections: shoulders, arms, torso.
POSE_EDGES = ((11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24))
COLOURS = {
    "pose": QColor(80, 200, 255),
    "left_hand": QColor(255, 120, 60),
    "right_hand": QColor(90, 230, 120),
}
MIN_VISIBILITY = 0.3  # pose points MediaPipe is less sure of are not drawn
CANVAS_HEIGHT = 480  # landmark replays are drawn at this height (their aspect kept)
CANVAS_COLOUR = QColor(24, 26, 30)


def blank_canvas(image_size: tuple[int, int]) -> QImage:
    """An empty dark picture with the recording's aspect, for a landmark replay's skeleton
    (a replay has no video: without it the previous video's last frame would stay up)."""
    width, height = image_size
    aspect = width / height if width > 0 and height > 0 else 4 / 3
    image = QImage(
        max(1, round(CANVAS_HEIGHT * aspect)), CANVAS_HEIGHT, QImage.Format.Format_RGB888
    )
    image.fill(CANVAS_COLOUR)
    return image


def rgb_to_qimage(frame: npt.NDArray[np.uint8]) -> QImage:
    """``(H, W, 3) uint8`` RGB -> a QImage that owns its pixels."""
    h, w, _ = frame.shape
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def draw_landmarks(
    image: QImage,
    points: npt.NDArray[np.float32],
    present: npt.NDArray[np.bool_],
    mirror: bool = False,
) -> None:
    """Paint pose and hand skeletons onto ``image`` (in place); ``points`` (P, 4), ``present`` (4,)
    in the layout of :mod:`engine.landmarks`."""
    w, h = image.width(), image.height()

    def xy(p: npt.NDArray[np.float32]) -> QPointF:
        x = (1.0 - float(p[0])) if mirror else float(p[0])
        return QPointF(x * w, float(p[1]) * h)

    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    for group, edges in ((POSE, POSE_EDGES), (LEFT_HAND, HAND_EDGES), (RIGHT_HAND, HAND_EDGES)):
        if not present[GROUP_INDEX[group.name]]:
            continue
        pts = points[group.slice]
        colour = COLOURS[group.name]
        painter.setPen(QPen(colour, 2))
        for a, b in edges:
            if group is POSE and min(pts[a, 3], pts[b, 3]) < MIN_VISIBILITY:
                continue
            painter.drawLine(xy(pts[a]), xy(pts[b]))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        for i in range(len(pts)):
            if group is POSE and (
                i not in (0, 11, 12, 13, 14, 15, 16) or pts[i, 3] < MIN_VISIBILITY
            ):
                continue
            painter.drawEllipse(xy(pts[i]), 3, 3)
    painter.end()
