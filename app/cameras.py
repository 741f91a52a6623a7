"""The cameras this machine has, by name, and the frame sizes the app offers to ask for.

Qt Multimedia knows the names people recognise ("Integrated Webcam", "Logitech C920"); the
engine opens cameras through OpenCV, by index or (Linux) device path. Where Qt Multimedia
cannot be loaded (it needs PulseAudio's library on Linux), OpenCV is probed index by index
and the cameras are named by their index.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RESOLUTIONS", "Camera", "list_cameras"]

# what to ask the camera for; None: whatever its driver picks. It may deliver another size:
# the status bar and the source's description show what it really does.
RESOLUTIONS: tuple[tuple[int, int] | None, ...] = (None, (640, 480), (1280, 720), (1920, 1080))
MAX_PROBED = 4  # OpenCV indexes tried when Qt cannot list the cameras


@dataclass(frozen=True)
class Camera:
    name: str  # for people
    spec: str  # for the engine: webcam:N or webcam:/dev/videoN


def _from_qt() -> list[Camera] | None:
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError:  # Qt Multimedia or its system libraries are missing
        return None
    cameras = []
    for i, device in enumerate(QMediaDevices.videoInputs()):
        ident = bytes(device.id().data()).decode("utf-8", "replace")
        # on Linux the id is the V4L2 device path, which OpenCV opens directly; elsewhere the
        # order of Qt's list is the order of OpenCV's indexes (both ask the same OS API)
        spec = f"webcam:{ident}" if ident.startswith("/dev/video") else f"webcam:{i}"
        cameras.append(Camera(device.description() or f"Camera {i}", spec))
    return cameras


def _from_opencv() -> list[Camera]:
    if sys.platform.startswith("linux") and not any(Path("/dev").glob("video*")):
        return []  # nothing to probe: skip OpenCV's noisy failures
    import cv2

    cameras = []
    for i in range(MAX_PROBED):
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened():
                cameras.append(Camera(f"Camera {i}", f"webcam:{i}"))
        finally:
            cap.release()
    return cameras


def list_cameras() -> list[Camera]:
    """Every camera found now (empty on a machine without one)."""
    found = _from_qt()
    return found if found is not None else _from_opencv()
