"""The capture thread: a source read in its own thread into a queue that drops the oldest frame.

:class:`CaptureThread` reads a source in its own thread into a bounded queue that drops the
OLDEST frame when full: a consumer that falls behind sees the newest frames, and latency never
builds up; the drops are counted. The end of the stream, and a failure (a camera unplugged, a
video that stops decoding halfway) as a :class:`~engine.errors.SourceError`, reach the consumer
after the frames read before them. ``stop()`` returns within a second and the thread releases
the camera or file.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Empty
from types import TracebackType

from engine.errors import SourceError
from engine.sources import Source, SourceFrame

__all__ = ["DEFAULT_QUEUE_SIZE", "STOP_TIMEOUT_S", "CaptureStats", "CaptureThread", "Empty"]

# a small queue: at 30 fps three frames are 100 ms, enough slack for a hiccup of the consumer,
# too little for latency to matter; the consumer always gets frames at most this old
DEFAULT_QUEUE_SIZE = 3
# stop() returns within this, whatever the reading thread is doing: under the promised second,
# with room for the join and the caller's bookkeeping
STOP_TIMEOUT_S = 0.9
FPS_WINDOW = 30  # arrivals over which CaptureThread measures the input rate


# ---------------------------------------------------------------------------------- thread
@dataclass(frozen=True)
class CaptureStats:
    """How a :class:`CaptureThread` is doing."""

    frames_read: int  # frames the source delivered
    dropped: int  # frames thrown away because the queue was full (the oldest ones)
    queued: int  # frames waiting for the consumer now
    input_fps: float  # rate of the last FPS_WINDOW arrivals; 0.0 before two frames


class CaptureThread:
    """Reads a :class:`Source` in its own thread into a bounded queue.

    When the queue is full the OLDEST frame is dropped (``drop_oldest=True``, for live use:
    latency cannot build up) or the reader waits for room (``drop_oldest=False``: every frame
    is processed, for fast replays and evaluation). The thread owns the source and closes it
    when reading ends (end of stream, failure or :meth:`stop`).

    Use as ``with CaptureThread(source) as frames: for frame in frames: ...`` or with
    :meth:`start`, :meth:`get` and :meth:`stop`.
    """

    def __init__(
        self,
        source: Source,
        maxsize: int = DEFAULT_QUEUE_SIZE,
        *,
        drop_oldest: bool = True,
        name: str = "signstream-capture",
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.source = source
        self.maxsize = maxsize
        self.drop_oldest = drop_oldest
        self._queue: deque[SourceFrame] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._done = False  # the reading thread has finished (end, error or stop)
        self._error: SourceError | None = None
        self._read = 0
        self._dropped = 0
        self._arrivals: deque[float] = deque(maxlen=FPS_WINDOW)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    # ------------------------------------------------------------------ reading thread
    def _run(self) -> None:
        error: SourceError | None = None
        try:
            while not self._stopping:
                frame = self.source.read()
                if frame is None:
                    break
                self._put(frame)
        except SourceError as e:
            error = e
        except Exception as e:  # a bug or an OpenCV surprise must reach the consumer too
            error = SourceError(f"{self.source.spec}: capture failed ({type(e).__name__}: {e})")
            error.__cause__ = e
        finally:
            # release first: once the consumer sees the end, the camera is free
            try:
                self.source.close()
            except Exception as e:
                if error is None:
                    error = SourceError(f"{self.source.spec}: cannot release the source ({e})")
                    error.__cause__ = e
            with self._cond:
                self._error = error
                self._done = True
                self._cond.notify_all()

    def _put(self, frame: SourceFrame) -> None:
        with self._cond:
            self._read += 1
            self._arrivals.append(frame.captured_at)
            if self.drop_oldest:
                if len(self._queue) >= self.maxsize:
                    self._queue.popleft()
                    self._dropped += 1
            else:
                while len(self._queue) >= self.maxsize and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            self._queue.append(frame)
            self._cond.notify_all()

    # ------------------------------------------------------------------ consumer side
    def start(self) -> CaptureThread:
        """Start reading (once); returns self."""
        self._thread.start()
        return self

    def get(self, timeout: float | None = None) -> SourceFrame | None:
        """The oldest queued frame; ``None`` once the stream has ended (or :meth:`stop`).

        Frames read before a failure come first; then every call raises the
        :class:`SourceError`. Raises :class:`Empty` (``queue.Empty``) when ``timeout`` seconds
        pass with neither.
        """
        if not self._thread.is_alive() and not self._done and not self._stopping:
            raise RuntimeError("CaptureThread.get() before start()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._queue and not self._done and not self._stopping:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Empty
                self._cond.wait(left)
            if self._stopping:
                return None
            if self._queue:
                frame = self._queue.popleft()
                self._cond.notify_all()  # room for a reader waiting (drop_oldest=False)
                return frame
            if self._error is not None:
                raise self._error
            return None

    def __iter__(self) -> Iterator[SourceFrame]:
        """Frames until the end; raises the source's :class:`SourceError` if it fails."""
        while (frame := self.get()) is not None:
            yield frame

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop reading, drop what is queued, wake a consumer waiting in :meth:`get`.

        Returns within ``timeout`` seconds: True once the thread has ended and released the
        source; False if it is still inside a blocking camera read (it releases the camera when
        that returns; OpenCV captures must not be released from another thread meanwhile).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        self.source.interrupt()
        if not self._thread.is_alive():
            if self._thread.ident is None:  # never started: the source is ours to close
                self.source.close()
            return True
        if self._thread is not threading.current_thread():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ state
    @property
    def dropped(self) -> int:
        """Frames dropped so far because the consumer was behind."""
        return self._dropped

    @property
    def frames_read(self) -> int:
        """Frames the source delivered so far."""
        return self._read

    @property
    def finished(self) -> bool:
        """The reading thread has ended (end of stream, failure or stop)."""
        return self._done

    @property
    def error(self) -> SourceError | None:
        """The failure that ended the stream, if one did."""
        return self._error

    def stats(self) -> CaptureStats:
        with self._cond:
            arrivals = list(self._arrivals)
            queued = len(self._queue)
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
        fps = (len(arrivals) - 1) / span if span > 0 else 0.0
        return CaptureStats(self._read, self._dropped, queued, fps)

    def __enter__(self) -> CaptureThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
