"""Streaming CTC decoding: partial hypotheses every hop, glosses committed at pauses.

:class:`StreamingDecoder` consumes the stitched per-frame log-probs (:mod:`engine.stitching`)
as they become final and keeps the frames of the current *open segment*: everything since
the last commit. After every push it decodes the open segment with the
:class:`~engine.decoder.GlossDecoder` (greedy, or beam search + LM) and reports the
hypothesis as a ``partial`` :class:`~engine.events.GlossEvent`. Glosses become final
(``commit``) in two cases:

* **pause**: the signer rests. A frame is *idle* when its blank posterior is at least
  ``idle_blank_prob``; once ``pause_s`` of idle frames follow an active frame, the segment up
  to the end of that pause is decoded and all of its glosses are committed.
* **long segment**: the open segment reaches ``max_segment_s`` without a pause. Everything
  before its last gloss is committed; the last gloss may be unfinished (the signer is in the
  middle of it), so the segment is cut where its frames start and it stays open (details in
  :meth:`StreamingDecoder._force_commit`). A gloss that fills the whole segment is committed,
  so the segment stays bounded, and once only: the frames that continue it (its class still
  the best) are dropped.

* **settled gloss** (``settle_s > 0``): one class has been the best, at a posterior of at
  least ``settle_prob``, for ``settle_s`` in a row. The segment up to that frame is decoded and
  committed, the signer still in the sign: a model's posteriors of a sign can run on for a
  few tenths of a second after the sign ends (its lookahead, the hands going back to rest),
  and waiting for the pause after them put the commit up to a second after the sign. The frames
  that continue the gloss (its class still the best) are dropped, as for a long segment, so
  it is committed once. A model whose posteriors are single-frame spikes never settles and
  commits at pauses only.

Commit decisions depend only on the frames, never on how they were chunked: cut points are
computed from frame positions (a pause ends exactly ``pause_frames`` after its last active
frame, a long segment exactly ``max_segment_frames`` after its start), and leading idle frames
are trimmed relative to the first active frame. Feeding the stream in any chunk sizes
therefore commits the same glosses as feeding it at once (tested).

Filtered glosses: a :class:`GlossFilter` (optional) is asked, for every decode of the open
segment, which of its glosses to keep; a gloss it drops is dropped like one below
``min_confidence``: neither shown, committed nor LM context. A model that rejects unknown signs
has one beside the decoder (:class:`~engine.rejection.RejectionStage`, which keeps the model's
embeddings of the stream); the decoder itself sees log-probs only.

The LM context carries across commits: every decode gets the glosses committed so far as
``context`` (the LM conditions on their last ``order - 1``). Partials and commits decode with
the decoder's own configuration (``score_boundary`` included): :class:`GlossDecoder` has no
per-call override, and switching its configuration back and forth would race with live
``update`` calls from the GUI.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from engine.decoder import DecodeResult, GlossDecoder
from engine.errors import DecoderError
from engine.events import GlossEvent, GlossEventKind
from engine.vocabulary import BLANK

__all__ = [
    "DEFAULT_MAX_SEGMENT_S",
    "DEFAULT_PAUSE_S",
    "MAX_CONTEXT",
    "GlossFilter",
    "StreamingConfig",
    "StreamingDecoder",
]

FloatArray = npt.NDArray[np.floating[Any]]

DEFAULT_FPS = 30.0  # FeatureSpec's default model frame rate
# idle time that ends a segment: short enough for the 500 ms commit-latency target (the idle
# run starts at the last CTC spike, often before the sign ends); 0.3 s and 0.4 s gave the same
# streaming WER on held-out replays (bench/streaming.py)
DEFAULT_PAUSE_S = 0.3
DEFAULT_MAX_SEGMENT_S = 8.0  # bounds decoder cost per hop (it decodes the open segment)
# CTC blanks are peaky: idle frames sit near 1.0. A weak sign whose blank stays above this on
# every frame is never decoded (the whole-sentence decode can still find it with the LM), but
# raising it lets rest in: bench/streaming.py, shipped model, 0.5 / 0.7 / 0.9 / 0.97: WER
# 11.8 / 12.7 / 13.8 / 18.1%, idle false glosses 3.62 / 3.90 / 5.85 / 10.0 a minute
DEFAULT_IDLE_BLANK_PROB = 0.5
# idle frames kept before a segment's first active frame. They matter when a weak sign (its
# blank above idle_blank_prob on every frame) sits between two others: kept, the next decode
# sees it and the LM can still find it (a new signer's WATER between SMALL and PLEASE).
# bench/streaming.py, streaming WER at 0.2 / 0.8 / 1.2 s: the shipped model 11.8 / 10.9 /
# 10.3%, its seed-1 twin 13.2 / 13.2 / 13.0%, and on TheCamNelson's folds 15.9 / 15.6 / 15.6%
# and 33.3 / 32.1 / 29.9%; idle false glosses and commit latency unchanged in all four
DEFAULT_LEAD_S = 1.2
# see StreamingConfig.settle_s; bench/streaming.py on a real held-out signer: commit latency
# p90 0.97 -> 0.23 s and WER 17.2 -> 14.7% (the previous model), 0.49 -> 0.33 s and WER
# 11.6 -> 11.8% (the random-order model, whose posteriors end sooner after a sign)
DEFAULT_SETTLE_S = 0.3
DEFAULT_SETTLE_PROB = 0.9
MAX_CONTEXT = 16  # committed glosses kept as LM context (KenLM orders stop at 6)


@dataclass(frozen=True)
class StreamingConfig:
    """When :class:`StreamingDecoder` commits glosses; change with ``dataclasses.replace``."""

    fps: float = DEFAULT_FPS  # model frame rate: stream frame k is at start_time + k / fps
    pause_s: float = DEFAULT_PAUSE_S  # idle run after an active frame that commits a segment
    max_segment_s: float = DEFAULT_MAX_SEGMENT_S  # open segment length that forces a commit
    # glosses below this confidence are dropped: neither shown, committed nor LM context
    min_confidence: float = 0.0
    # a frame is idle (the signer rests) when its blank posterior is at least this
    idle_blank_prob: float = DEFAULT_IDLE_BLANK_PROB
    # idle frames kept before the first active frame of a segment (context for the decoder,
    # e.g. a weak start of a sign); older idle frames are dropped
    lead_s: float = DEFAULT_LEAD_S
    # a gloss whose class is the best, at >= settle_prob, for settle_s in a row is committed
    # then, while the sign goes on (0: only pauses and long segments commit)
    settle_s: float = DEFAULT_SETTLE_S
    settle_prob: float = DEFAULT_SETTLE_PROB
    # a partial after every push even when the hypothesis did not change (else only changes)
    emit_unchanged_partials: bool = False

    def __post_init__(self) -> None:
        for name in ("fps", "pause_s", "max_segment_s", "lead_s", "min_confidence", "settle_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.fps <= 0 or self.pause_s <= 0:
            raise ValueError(f"fps and pause_s must be > 0, got {self.fps}, {self.pause_s}")
        if self.min_confidence > 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not 0.5 < self.settle_prob <= 1:  # above 0.5: one class per frame at most
            raise ValueError(f"settle_prob must be in (0.5, 1], got {self.settle_prob}")
        if not 0 < self.idle_blank_prob <= 1:
            raise ValueError(f"idle_blank_prob must be in (0, 1], got {self.idle_blank_prob}")
        if self.max_segment_frames <= max(self.pause_frames, self.lead_frames):
            raise ValueError(
                f"max_segment_s ({self.max_segment_s}) must be longer than pause_s "
                f"({self.pause_s}) and lead_s ({self.lead_s})"
            )

    @property
    def pause_frames(self) -> int:
        """Idle frames after an active frame that commit (at least 1)."""
        return max(1, round(self.pause_s * self.fps))

    @property
    def max_segment_frames(self) -> int:
        return max(2, round(self.max_segment_s * self.fps))

    @property
    def lead_frames(self) -> int:
        return round(self.lead_s * self.fps)

    @property
    def settle_frames(self) -> int:
        """Frames of one class in a row that commit it (0: never)."""
        return max(1, round(self.settle_s * self.fps)) if self.settle_s > 0 else 0


class GlossFilter(Protocol):
    """Which glosses of a decode of the open segment to keep (besides ``min_confidence``),
    e.g. :meth:`engine.rejection.RejectionStage.known`."""

    def __call__(
        self, result: DecodeResult, log_probs: FloatArray, start_frame: int, /
    ) -> Sequence[bool]:
        """For each gloss of ``result``, decoded from ``log_probs`` ``(n, C)`` (the open
        segment's first ``n`` frames, at stream frames ``start_frame ..
        start_frame + n - 1``), whether to keep it."""
        ...


_EMPTY_SPANS: tuple[tuple[int, int], ...] = ()


class StreamingDecoder:
    """Incremental gloss decoding of a stitched log-prob stream (see the module docstring).

    ``decoder``: decodes segments (its configuration may change live through
    ``decoder.update``). ``start_time``: seconds of stream frame 0 on the source's clock.
    ``context``: glosses committed before (e.g. by the decoder of a model swapped out).
    ``gloss_filter``: drops the glosses it does not keep (e.g. signs the model does not know).
    Not thread-safe: one engine thread owns it.
    """

    def __init__(
        self,
        decoder: GlossDecoder,
        config: StreamingConfig | None = None,
        start_time: float = 0.0,
        context: Iterable[str] = (),
        gloss_filter: GlossFilter | None = None,
    ) -> None:
        self.decoder = decoder
        self.gloss_filter = gloss_filter
        self._config = config or StreamingConfig()
        self.start_time = start_time
        self._num_classes = decoder.vocabulary.num_classes
        self._context: deque[str] = deque(context, maxlen=MAX_CONTEXT)
        self._clear_segment()

    def _clear_segment(self) -> None:
        self._seg: FloatArray = np.zeros((0, self._num_classes), np.float32)  # (n, C)
        self._idle: npt.NDArray[np.bool_] = np.zeros(0, bool)  # (n,)
        self._seg_start = 0  # stream index of the open segment's first frame
        self._expected: int | None = None  # stream index the next push must start at
        # class of a gloss committed while still running: its continuation is dropped
        self._continuing: int | None = None
        # the last partial reported: glosses and stream-frame spans
        self._partial: tuple[tuple[str, ...], tuple[tuple[int, int], ...]] = ((), _EMPTY_SPANS)

    # ------------------------------------------------------------------ state
    @property
    def config(self) -> StreamingConfig:
        return self._config

    @config.setter
    def config(self, config: StreamingConfig) -> None:
        """Takes effect from the next push (frames already committed stay committed)."""
        self._config = config

    @property
    def context(self) -> tuple[str, ...]:
        """The last committed glosses (up to :data:`MAX_CONTEXT`), oldest first."""
        return tuple(self._context)

    @property
    def segment_start(self) -> int:
        """Stream index of the open segment's first frame."""
        return self._seg_start

    @property
    def open_frames(self) -> int:
        """Frames in the open segment."""
        return len(self._seg)

    def reset(self, keep_context: bool = False, start_time: float | None = None) -> None:
        """Drop the open segment (uncommitted glosses are lost) for a new stream."""
        self._clear_segment()
        if not keep_context:
            self._context.clear()
        if start_time is not None:
            self.start_time = start_time

    # ------------------------------------------------------------------ streaming
    def push(self, start_frame: int, frames: FloatArray) -> list[GlossEvent]:
        """Append final frames ``start_frame .. start_frame + n - 1`` of the stitched stream.

        ``frames``: ``(n, C) float`` log-probs (n may be 0). Pushes must be contiguous (each
        starts where the previous ended; the first one anywhere). Returns the events, in stream
        order: commits (possibly several), then the partial of the open segment (when it
        changed, or always with ``emit_unchanged_partials``).
        """
        lp = np.asarray(frames)
        if lp.ndim != 2 or lp.shape[1] != self._num_classes:
            raise DecoderError(
                f"expected log-probabilities of shape (n, {self._num_classes}), got {lp.shape}; "
                "is the model's vocabulary the decoder's?"
            )
        if np.isnan(lp).any() or (lp == np.inf).any():
            # refused before it enters the segment, which every later decode would choke on
            raise DecoderError("log-probabilities contain NaN or +inf (a broken model output)")
        if self._expected is None:
            self._seg_start = start_frame
        elif start_frame != self._expected:
            raise ValueError(
                f"frames must be pushed contiguously: expected frame {self._expected}, "
                f"got {start_frame}"
            )
        self._expected = start_frame + len(lp)
        if len(lp):
            threshold = math.log(self._config.idle_blank_prob)
            self._seg = np.concatenate([self._seg, lp.astype(np.float32, copy=False)])
            self._idle = np.concatenate([self._idle, lp[:, BLANK] >= threshold])
        events = self._commit_ready()
        partial = self._partial_event(force=self._config.emit_unchanged_partials)
        if partial is not None:
            events.append(partial)
        return events

    def flush(self) -> list[GlossEvent]:
        """End of the stream: commit every gloss of the open segment.

        Returns the commit (if any gloss) and an empty partial (if a partial was showing).
        The LM context is kept; the next push may start at any frame.
        """
        events: list[GlossEvent] = []
        if (~self._idle).any():
            result = self._decode(len(self._seg))
            commit = self._commit(result, None)
            if commit is not None:
                events.append(commit)
        seg_end = self._seg_start + len(self._seg)
        had_partial = bool(self._partial[0])
        self._clear_segment()
        self._seg_start = seg_end
        if had_partial or self._config.emit_unchanged_partials:
            events.append(self._event("partial", (), (), (), (seg_end, seg_end)))
        return events

    # ------------------------------------------------------------------ internals
    def _commit_ready(self) -> list[GlossEvent]:
        """Commit every pause and every overlong stretch in the open segment, in order."""
        events: list[GlossEvent] = []
        max_frames = self._config.max_segment_frames
        while True:
            self._trim_leading_idle()
            cut = self._pause_cut()
            settled, cls = self._settle_cut()
            if settled is not None and settled <= max_frames and (cut is None or settled < cut):
                commit = self._commit(self._decode(settled), None)
                self._drop(settled)
                self._continuing = cls
            elif cut is not None and cut <= max_frames:
                commit = self._commit(self._decode(cut), None)
                self._drop(cut)
            elif len(self._seg) >= max_frames:
                commit, cut = self._force_commit(max_frames)
                self._drop(cut)
            else:
                return events
            if commit is not None:
                events.append(commit)

    def _trim_leading_idle(self) -> None:
        """Drop the continuation of a gloss committed while running; keep at most
        ``lead_frames`` idle frames before the first active frame."""
        if self._continuing is not None and len(self._seg):
            other = np.flatnonzero(self._seg.argmax(axis=1) != self._continuing)
            if len(other):
                self._continuing = None
            self._drop(int(other[0]) if len(other) else len(self._seg))
        lead = self._config.lead_frames
        active = np.flatnonzero(~self._idle)
        first = int(active[0]) if len(active) else len(self._seg)
        if first > lead:
            self._drop(first - lead)

    def _pause_cut(self) -> int | None:
        """Segment index where the first pause after an active frame is complete, or None."""
        pause = self._config.pause_frames
        active = np.flatnonzero(~self._idle)
        if not len(active):
            return None
        gaps = np.diff(active) - 1  # idle frames between consecutive active frames
        long_gaps = np.flatnonzero(gaps >= pause)
        last = int(active[long_gaps[0]]) if len(long_gaps) else int(active[-1])
        if last + 1 + pause <= len(self._seg):
            return last + 1 + pause
        return None

    def _settle_cut(self) -> tuple[int | None, int | None]:
        """(Segment index after the frame where one class first completes ``settle_frames``
        in a row at ``settle_prob`` or more, that class), or (None, None)."""
        need = self._config.settle_frames
        if need == 0 or len(self._seg) < need:
            return None, None
        best = self._seg.argmax(axis=1)  # (n,)
        strong = self._seg.max(axis=1) >= math.log(self._config.settle_prob)
        key = np.where(strong & (best != BLANK), best, -1)  # (n,) class of a strong frame
        starts = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1])
        ends = np.append(starts[1:], len(key))
        for start, end in zip(starts, ends, strict=True):
            if key[start] >= 0 and end - start >= need:
                return int(start) + need, int(key[start])
        return None, None

    def _force_commit(self, max_frames: int) -> tuple[GlossEvent | None, int]:
        """Commit the first ``max_frames`` frames but the last, possibly unfinished, gloss;
        returns the commit and where to cut the segment.

        The cut comes from the frames, not from the decoder's spans (pyctcdecode's word frames
        can be off by a few frames): the best class per frame is taken as the path, and the cut
        goes where the last run of non-blank frames starts (after a blank frame), else where
        the last run of one class starts (two glosses touching). Everything before the cut is
        decoded and committed; the last gloss's frames stay in the open segment whole.
        """
        best = self._seg[:max_frames].argmax(axis=1)  # (M,)
        signing = np.flatnonzero(best != BLANK)
        if not len(signing):
            # active frames but no class wins anywhere: nothing to commit; keep the lead
            return None, max_frames - self._config.lead_frames
        last = int(signing[-1])
        breaks = np.flatnonzero(best[:last] == BLANK)  # blank frames before the last one
        cut = int(breaks[-1]) + 1 if len(breaks) else 0
        if cut == 0:
            changes = np.flatnonzero(best[1 : last + 1] != best[:last])
            cut = int(changes[-1]) + 1 if len(changes) else 0
        if cut > 0:
            return self._commit(self._decode(cut), None), cut
        # one class from the segment's start: commit it, or the segment would never end
        cut = last + 1
        if cut >= max_frames:  # still running at the cut: do not emit its rest again
            self._continuing = int(best[last])
        return self._commit(self._decode(cut), None), cut

    def _decode(self, end: int) -> DecodeResult:
        return self.decoder.decode(self._seg[:end], context=tuple(self._context))

    def _keep(self, result: DecodeResult, count: int | None) -> list[int]:
        """Indices of the first ``count`` (None: all) glosses that pass ``min_confidence``
        and the gloss filter."""
        n = len(result.glosses) if count is None else count
        floor = self._config.min_confidence
        known = (
            (True,) * len(result.glosses)
            if self.gloss_filter is None
            else self.gloss_filter(result, self._seg[: result.num_frames], self._seg_start)
        )
        return [i for i in range(n) if result.confidences[i] >= floor and known[i]]

    def _commit(self, result: DecodeResult, count: int | None) -> GlossEvent | None:
        """Commit the first ``count`` glosses of ``result`` (decoded from the open segment)."""
        keep = self._keep(result, count)
        if not keep:
            return None
        glosses = tuple(result.glosses[i] for i in keep)
        self._context.extend(glosses)
        return self._event(
            "commit",
            glosses,
            tuple(result.confidences[i] for i in keep),
            tuple(self._stream_span(result.spans[i]) for i in keep),
            (self._seg_start, self._seg_start + result.num_frames),
        )

    def _partial_event(self, force: bool) -> GlossEvent | None:
        seg_end = self._seg_start + len(self._seg)
        if (~self._idle).any():
            result = self._decode(len(self._seg))
            keep = self._keep(result, None)
            glosses = tuple(result.glosses[i] for i in keep)
            confidences = tuple(result.confidences[i] for i in keep)
            spans = tuple(self._stream_span(result.spans[i]) for i in keep)
        else:
            glosses, confidences, spans = (), (), _EMPTY_SPANS
        if not force and (glosses, spans) == self._partial:
            return None
        self._partial = (glosses, spans)
        return self._event("partial", glosses, confidences, spans, (self._seg_start, seg_end))

    def _stream_span(self, span: tuple[int, int]) -> tuple[int, int]:
        return (self._seg_start + span[0], self._seg_start + span[1])

    def _drop(self, count: int) -> None:
        """Remove the first ``count`` frames of the open segment."""
        self._seg = self._seg[count:]
        self._idle = self._idle[count:]
        self._seg_start += count

    def _seconds(self, frame: int) -> float:
        return self.start_time + frame / self._config.fps

    def _event(
        self,
        kind: GlossEventKind,
        glosses: tuple[str, ...],
        confidences: tuple[float, ...],
        spans: Sequence[tuple[int, int]],
        frames: tuple[int, int],
    ) -> GlossEvent:
        """An event with stream-frame spans turned into seconds."""
        times = tuple((self._seconds(s), self._seconds(e)) for s, e in spans)
        if times:
            start, end = times[0][0], times[-1][1]
        else:
            start, end = self._seconds(frames[0]), self._seconds(frames[1])
        return GlossEvent(kind, glosses, confidences, start, end, times, frames)
