"""The adapter between the engine and Qt: landmark preview of a video, as Qt signals.

A plain Python thread decodes frames and runs the landmark extractor; every result is emitted
as a signal of a QObject that lives in the GUI thread, so Qt queues it and the GUI thread never
waits on the engine (and never deadlocks on a direct lambda connection, see FACTS.md).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.errors import SignStreamError
from engine.extractor import ExtractorConfig, FrameLandmarks, create_extractor
from engine.video import VideoReader

__all__ = ["LandmarkPreview"]

STOP_TIMEOUT_S = 1.0  # stop() returns within this even if a frame is still being processed


class LandmarkPreview(QObject):
    """Plays a video file at its real pace with MediaPipe landmarks, in a background thread."""

    # frame (H, W, 3) uint8 RGB, its landmarks, ms the extractor took
    frame_ready = Signal(object, object, float)
    failed = Signal(str)  # a message a person can act on
    finished = Signal()

    def __init__(self, config: ExtractorConfig | None = None) -> None:
        super().__init__()
        self._config = config or ExtractorConfig()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, path: str | Path, realtime: bool = True) -> None:
        self.stop()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(Path(path), realtime), name="landmark-preview", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None

    def _run(self, path: Path, realtime: bool) -> None:
        try:
            with VideoReader(path) as reader, create_extractor(self._config) as extractor:
                start = time.perf_counter()
                for frame, t in reader.frames():
                    if self._stop.is_set():
                        return
                    t0 = time.perf_counter()
                    landmarks: FrameLandmarks = extractor.process(frame, t)
                    ms = 1000.0 * (time.perf_counter() - t0)
                    if realtime:  # play at the video's own pace, not as fast as MediaPipe can
                        delay = t - (time.perf_counter() - start)
                        if delay > 0 and self._stop.wait(delay):
                            return
                    self.frame_ready.emit(np.ascontiguousarray(frame), landmarks, ms)
                if reader.truncated:
                    self.failed.emit(reader.problem or f"{path}: decoding stopped early")
        except SignStreamError as e:
            self.failed.emit(str(e))
        except Exception as e:  # never let a worker die silently: tell the user
            self.failed.emit(f"{path}: unexpected error: {type(e).__name__}: {e}")
        finally:
            self.finished.emit()
