"""Stitch the posteriors of overlapping model windows into one continuous per-frame stream.

The engine runs the model on windows of ``window`` feature frames, one every ``hop`` frames.
Windows overlap, so most frames are judged by several windows; the stitcher keeps, for each
stream frame, the output of exactly ONE window, so downstream (the streaming decoder) sees
every frame once and no sign is emitted twice.

Which window judges a frame
---------------------------
An output frame is only as good as the context it saw. Near a window's right edge it misses
its future; near the left edge, its past. The stitcher keeps ``right_context`` future frames:

* bounded lookahead (streaming students, ``lookahead = L``): ``right_context = L``; each
  window contributes its newest frames that still have all ``L`` future frames inside it, i.e.
  relative frames ``[W - L - hop, W - L)``. With ``W >= receptive_field + L + hop`` they equal
  what the model gives on the whole stream (students' docstring), and they are final as early
  as the model allows: a frame waits for its ``L`` future frames plus at most one hop.
* unbounded (bidirectional teachers, ``lookahead = None``): the window's centre,
  ``right_context = (W - hop) // 2``: relative frames ``[W - hop - R, W - R)``, i.e. as much
  past as future (the past gets the odd frame).
* ``lookahead > W - hop`` cannot be honoured with this hop (no window has a new frame with
  that much future); it is clipped to ``W - hop``: each window gives its oldest ``hop``
  frames, which are then not exact for such a model.

Generally, frame ``f`` comes from the earliest window that holds ``f`` and ``right_context``
frames after it; the first window also gives its leading frames (nothing earlier has them)
and :meth:`PosteriorStitcher.flush` gives the last window's trailing frames at the end of the
stream. Windows may be shorter than ``window`` (the start of a stream, a short clip) and may
start off the hop grid (a final window aligned to the end of the stream): the rule above
covers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "Chunk",
    "PosteriorStitcher",
    "run_windowed",
    "window_starts",
]

FloatArray = npt.NDArray[np.floating[Any]]


class Chunk(NamedTuple):
    """Consecutive final frames of the stitched stream.

    Unpacks as ``start, log_probs``, the argument order of
    :meth:`engine.streaming.StreamingDecoder.push`.
    """

    start: int  # stream index of the first frame
    log_probs: FloatArray  # (n, C): frames start .. start + n - 1 (n may be 0)

    @property
    def end(self) -> int:
        """Stream index after the last frame."""
        return self.start + len(self.log_probs)


def _right_context(window: int, hop: int, lookahead: int | None) -> int:
    if lookahead is None:
        return (window - hop) // 2
    return min(lookahead, window - hop)


class PosteriorStitcher:
    """Turns per-window log-probs ``(W, C)`` into one stream of per-frame log-probs ``(n, C)``.

    ``window``/``hop``: the model's window length and hop in frames (its metadata);
    ``lookahead``: future frames one output frame depends on, ``None`` for a bidirectional
    model (see the module docstring for which frames each window keeps).

    Push windows in the order of their start frame; their start frames must leave no frame
    uncovered (``start <= end of the previous window``). Not thread-safe: one engine thread
    owns it.
    """

    def __init__(self, window: int, hop: int, lookahead: int | None) -> None:
        if not 0 < hop <= window:
            raise ValueError(f"need 0 < hop <= window, got window {window}, hop {hop}")
        if lookahead is not None and lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 or None, got {lookahead}")
        self.window = window
        self.hop = hop
        self.lookahead = lookahead
        # future frames every kept frame has inside its window
        self.right_context = _right_context(window, hop, lookahead)
        self._next = 0  # first stream frame not yet emitted
        self._started = False
        self._num_classes = 0
        self._last: tuple[int, FloatArray] | None = None  # (start, log-probs) of the newest

    @property
    def latency_frames(self) -> int:
        """Most frames between a frame entering a window and leaving the stitcher final, with
        windows pushed every ``hop`` frames: its ``right_context`` plus up to a hop."""
        return self.right_context + self.hop - 1

    @property
    def next_frame(self) -> int:
        """Stream index of the next frame to be emitted."""
        return self._next

    def reset(self) -> None:
        """Forget the stream (a new source, a swapped model)."""
        self._next = 0
        self._started = False
        self._num_classes = 0
        self._last = None

    def _check(self, log_probs: FloatArray, start_frame: int) -> FloatArray:
        lp = np.asarray(log_probs)
        if lp.ndim != 2:
            raise ValueError(f"window log-probs must be (T, C), got shape {lp.shape}")
        if start_frame < 0:
            raise ValueError(f"start_frame must be >= 0, got {start_frame}")
        if self._started and lp.shape[1] != self._num_classes:
            raise ValueError(
                f"window has {lp.shape[1]} classes, the stream so far {self._num_classes}"
            )
        if self._last is not None:
            last_start, last_lp = self._last
            if start_frame < last_start:
                raise ValueError(
                    f"windows must come in order: start {start_frame} after {last_start}"
                )
            if start_frame > last_start + len(last_lp):
                raise ValueError(
                    f"window at {start_frame} leaves frames {last_start + len(last_lp)}.."
                    f"{start_frame - 1} uncovered (hop larger than the window?)"
                )
        return lp

    def push(self, log_probs: FloatArray, start_frame: int) -> Chunk:
        """Take the model's output for the window that starts at stream frame ``start_frame``.

        ``log_probs``: ``(T, C)`` for frames ``start_frame .. start_frame + T - 1``.
        Returns the frames that are now final (possibly none), continuing the stream exactly
        where the previous chunk ended.
        """
        lp = self._check(log_probs, start_frame)
        if not self._started:
            # the first window gives its leading frames: nothing before it judges them
            self._started = True
            self._num_classes = lp.shape[1]
            self._next = start_frame
        parts: list[FloatArray] = []
        first = self._next
        if self._next < start_frame and self._last is not None:
            # this window does not hold them and the previous one had too little future for
            # them: take the previous one's (a hop longer than window - right_context)
            last_start, last_lp = self._last
            parts.append(last_lp[self._next - last_start : start_frame - last_start])
            self._next = start_frame
        limit = start_frame + len(lp) - self.right_context  # frames before it have the future
        if limit > self._next:
            parts.append(lp[self._next - start_frame : limit - start_frame])
            self._next = limit
        self._last = (start_frame, lp)
        return Chunk(first, self._join(parts, lp.dtype))

    def flush(self, log_probs: FloatArray | None = None, start_frame: int | None = None) -> Chunk:
        """End of the stream: the remaining frames of the last window.

        Optionally first takes a final window (``log_probs`` ``(T, C)`` starting at
        ``start_frame``), e.g. the last ``window`` frames of the stream when the hop grid does
        not end exactly there. The stitcher is reset afterwards.
        """
        parts: list[FloatArray] = []
        first = self._next
        if log_probs is not None:
            if start_frame is None:
                raise ValueError("flush with a final window needs its start_frame")
            chunk = self.push(log_probs, start_frame)
            first = chunk.start
            parts.append(chunk.log_probs)
        dtype: Any = np.float32
        if self._last is not None:
            last_start, last_lp = self._last
            dtype = last_lp.dtype
            parts.append(last_lp[self._next - last_start :])
        out = Chunk(first, self._join(parts, dtype))
        self.reset()
        return out

    def _join(self, parts: list[FloatArray], dtype: Any) -> FloatArray:
        parts = [p for p in parts if len(p)]
        if not parts:
            return np.zeros((0, self._num_classes), dtype)
        if len(parts) == 1:
            return parts[0].copy()  # never hand out a view of a window the caller may reuse
        return np.concatenate(parts, axis=0)


def window_starts(num_frames: int, window: int, hop: int) -> list[int]:
    """Start frames of the windows covering a whole stream of ``num_frames`` frames.

    Every ``hop`` frames while a full window fits, plus a last window aligned to the end of
    the stream when the grid does not end there; one (short) window at 0 for a stream shorter
    than ``window``.
    """
    if not 0 < hop <= window:
        raise ValueError(f"need 0 < hop <= window, got window {window}, hop {hop}")
    if num_frames <= window:
        return [0] if num_frames > 0 else []
    starts = list(range(0, num_frames - window + 1, hop))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def run_windowed(
    model: Callable[[FloatArray], FloatArray],
    features: FloatArray,
    window: int,
    hop: int,
    lookahead: int | None,
) -> FloatArray:
    """Run ``model`` (``(T, F)`` -> ``(T, C)``) over a whole ``(N, F)`` feature stream the way
    the live engine does (windows, stitching) and return the stitched ``(N, C)`` log-probs.

    For replays as fast as possible, benches and tests.
    """
    stitcher = PosteriorStitcher(window, hop, lookahead)
    starts = window_starts(len(features), window, hop)
    if not starts:
        raise ValueError("no frames to run the model on")
    parts = [stitcher.push(model(features[s : s + window]), s).log_probs for s in starts]
    parts.append(stitcher.flush().log_probs)
    return np.concatenate(parts, axis=0)
