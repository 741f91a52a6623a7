"""The engine: source -> landmarks -> features -> sliding window -> model -> decoder -> events.

Two threads: the capture thread (:mod:`engine.capture`) reads the source into a queue that
drops the oldest frame when the engine falls behind; the worker thread here runs MediaPipe (for
image sources), resamples landmarks onto the model's frame grid, computes features of each
window with the ONE feature path (:func:`engine.features.compute_features`), runs the model
every ``hop`` frames, stitches the overlapping windows into one posterior stream and decodes it
into partial and committed glosses. Results are :mod:`engine.events`, delivered to a callback
(called in the worker thread: a GUI adapter turns them into queued signals) or through
:meth:`Pipeline.events`, a generator.

Live changes: :meth:`Pipeline.swap_model` loads another model between two frames (a model that
fails to load is reported as an :class:`~engine.events.ErrorEvent` and the old one keeps
running); :meth:`Pipeline.update_decoder` changes alpha, beta and beam width at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from engine.capture import DEFAULT_QUEUE_SIZE, CaptureThread
from engine.decoder import DecoderConfig, GlossDecoder
from engine.errors import ExtractorError, SignStreamError, SourceError
from engine.events import (
    EndEvent,
    ErrorEvent,
    Event,
    FrameEvent,
    GlossEvent,
    ModelEvent,
    StartEvent,
    StatsEvent,
)
from engine.extractor import (
    ExtractorConfig,
    FrameLandmarks,
    LandmarkExtractor,
    RgbFrame,
    create_extractor,
)
from engine.features import compute_features
from engine.handedness import HandednessTracker
from engine.landmarks import BoolArray, FloatArray, LandmarkSequence
from engine.model import OnnxModel
from engine.rejection import RejectionStage
from engine.resample import StreamResampler, fill_gaps
from engine.sources import Source, SourceConfig, open_source
from engine.stitching import PosteriorStitcher
from engine.streaming import StreamingConfig, StreamingDecoder

__all__ = ["Pipeline", "PipelineConfig", "Recognizer", "run_source"]

STOP_TIMEOUT_S = 1.0  # stop() returns within this
# start() waits this long for a worker that missed stop()'s second (inside one MediaPipe frame
# or a model swap): two workers must never share the extractor or the recogniser
START_JOIN_S = 10.0
WARMUP_SIZE = (640, 480)  # the frame MediaPipe is warmed up on (its graph is built on the first)
STATS_INTERVAL_S = 1.0  # how often a StatsEvent reports
# the model runs every 4 frames (133 ms at 30 fps), not every metadata hop (16 for the shipped
# model): frames become final a hop sooner and the commit follows the signer's rest sooner
# (bench/streaming.py: median commit latency 0.73 -> ~0.5 s); costs ~8 model runs a second
LIVE_HOP_FRAMES = 4
EVENT_QUEUE_FRAMES = 64  # FrameEvents kept for a slow events() consumer (older ones dropped)
_END = object()  # end of the event stream


@dataclass(frozen=True)
class PipelineConfig:
    """How the engine runs; the model and LM are given by path."""

    model: str | None  # ONNX model (self-describing); None: landmarks only, no recognition
    lm: str | None = None  # KenLM gloss LM (ARPA or binary); None: greedy decoding
    device: str = "auto"  # auto (CUDA when it works, else CPU) | cuda | cpu
    threads: int = 1  # ONNX Runtime intra-op threads: MediaPipe needs the other cores
    decoder: DecoderConfig | None = None  # None: the model's tuned LM weight, else defaults
    streaming: StreamingConfig | None = None  # None: defaults at the model's frame rate
    # model windows every this many frames; None: LIVE_HOP_FRAMES (or the model's hop when
    # shorter). A short hop makes frames final sooner (commit latency) for more model runs
    hop: int | None = None
    extractor: ExtractorConfig = field(default_factory=ExtractorConfig)
    queue_size: int = DEFAULT_QUEUE_SIZE  # capture queue (frames)
    # a camera drops the oldest frame when the engine is behind (latency cannot build up);
    # False: every frame of a camera too
    drop_frames: bool = True
    # files and replays played in real time drop frames like a camera (to imitate one: ``run
    # --realtime``); False, the default: every frame of a file is processed, the playback
    # waits for the engine
    drop_file_frames: bool = False
    frame_events: bool = True  # emit a FrameEvent per frame (landmarks for drawing)
    frame_images: bool = False  # FrameEvents carry the RGB image (for a GUI)


def _hands_after_gap_fill(seq: LandmarkSequence, max_gap_s: float) -> BoolArray:
    filled = fill_gaps(seq, max_gap_s)
    return np.asarray(filled.present[:, 1] | filled.present[:, 2])


# log-probabilities of a certain blank (class 0), for as many classes as a model has
_BLANK_ROW = np.full(4096, -1e4, np.float32)
_BLANK_ROW[0] = 0.0


class Recognizer:
    """A loaded model with its decoder and streaming state (swapped as one piece)."""

    def __init__(
        self,
        model_path: str,
        lm_path: str | None,
        config: PipelineConfig,
        context: tuple[str, ...] = (),
    ) -> None:
        self.model = OnnxModel(model_path, config.device, config.threads)
        self.info = self.model.info
        self.warmup_ms = self.model.warmup()
        decoder = config.decoder
        if decoder is None:  # the LM weight the training recipe found best on held-out signers
            alpha = self.info.heldout.get("lm_alpha")
            decoder = (
                DecoderConfig()
                if not isinstance(alpha, int | float)
                else DecoderConfig(alpha=float(alpha))
            )
        self.decoder = GlossDecoder(self.info.vocabulary, lm_path, decoder)
        streaming = config.streaming or StreamingConfig(fps=self.info.fps)
        if abs(streaming.fps - self.info.fps) > 1e-9:
            streaming = replace(streaming, fps=self.info.fps)
        self.hop = min(self.info.hop, LIVE_HOP_FRAMES) if config.hop is None else config.hop
        if not 0 < self.hop <= self.info.window:
            raise ValueError(f"hop must be in 1..{self.info.window} (the window), got {self.hop}")
        self.stitcher = PosteriorStitcher(self.info.window, self.hop, self.info.lookahead)
        # only a model that rejects unknown signs has embeddings to keep
        self.rejection = (
            None
            if self.info.rejector is None
            else RejectionStage(
                self.info.rejector,
                self.info.vocabulary,
                self.info.window,
                self.hop,
                self.info.lookahead,
            )
        )
        self.streaming = StreamingDecoder(
            self.decoder,
            streaming,
            context=context,
            gloss_filter=None if self.rejection is None else self.rejection.known,
        )
        self.resampler = StreamResampler(self.info.fps)
        self.window: deque[tuple[float, FloatArray, BoolArray]] = deque(maxlen=self.info.window)
        self.frames = 0  # model-rate frames so far
        self.next_start = 0  # stream frame where the next window starts
        self.aspect: float | None = None
        # a model trained with the signing hand canonical gets the mirror decision from a
        # running state, not from each window (see HandednessTracker)
        self.handedness = (
            HandednessTracker(self.info.fps) if self.info.feature_spec.canonical_hand else None
        )

    def close(self) -> None:
        self.decoder.close()

    def reset(self, new_source: bool = False) -> None:
        """Ready for a new stream. The LM context and the signing hand are kept (the same
        person signs on) unless ``new_source``: another video or camera, maybe another person."""
        self.stitcher.reset()
        if self.rejection is not None:
            self.rejection.reset()
        self.streaming.reset(keep_context=not new_source)
        if new_source and self.handedness is not None:
            self.handedness.reset()
        self.resampler.reset()
        self.window.clear()
        self.frames = 0
        self.next_start = 0

    def _window_sequence(self) -> LandmarkSequence:
        t = np.array([f[0] for f in self.window], np.float64)
        return LandmarkSequence(
            points=np.stack([f[1] for f in self.window]),
            present=np.stack([f[2] for f in self.window]),
            timestamps=t,
            fps=self.info.fps,
            aspect=self.aspect,
        )

    def push(self, lm: FrameLandmarks, stage_ms: dict[str, float]) -> list[GlossEvent]:
        """One source frame's landmarks -> gloss events that became known."""
        self.aspect = lm.aspect
        events: list[GlossEvent] = []
        for t, points, present in self.resampler.push(lm.points, lm.present, lm.timestamp):
            self.window.append((t, points, present))
            if self.handedness is not None:
                self.handedness.push(points, present)
            self.frames += 1
            if self.frames == self.next_start + self.info.window:
                events += self._run_window(self.next_start, stage_ms, final=False)
                self.next_start += self.hop
        return events

    def _run_window(self, start: int, stage_ms: dict[str, float], final: bool) -> list[GlossEvent]:
        t0 = time.perf_counter()
        seq = self._window_sequence()
        mirror = None if self.handedness is None else self.handedness.mirrored
        features = compute_features(seq, self.info.feature_spec, mirror).values
        t1 = time.perf_counter()
        log_probs, embeddings = self.model.infer(features)
        # no hands, no signs: a frame where neither hand is seen (after gap filling) is blank,
        # whatever the model makes of an empty picture or a person at rest out of view
        hands = seq.present[:, 1] | seq.present[:, 2]
        if not hands.all():
            hands = _hands_after_gap_fill(seq, self.info.feature_spec.max_gap_s)
            log_probs = np.where(hands[:, None], log_probs, _BLANK_ROW[: log_probs.shape[1]])
        t2 = time.perf_counter()
        if self.rejection is not None:  # before the decoder asks about these frames
            self.rejection.push(embeddings, start, len(log_probs), final)
        first, frames = (
            self.stitcher.flush(log_probs, start) if final else self.stitcher.push(log_probs, start)
        )
        events = self.streaming.push(first, frames)
        if final:
            events += self.streaming.flush()
        if self.rejection is not None:
            self.rejection.forget_before(self.streaming.segment_start)
        t3 = time.perf_counter()
        stage_ms["features"] = 1000 * (t1 - t0)
        stage_ms["model"] = 1000 * (t2 - t1)
        stage_ms["decoder"] = 1000 * (t3 - t2)
        return events

    def finish(self, stage_ms: dict[str, float]) -> list[GlossEvent]:
        """End of stream: the last (end-aligned) window, then commit what is left."""
        if self.frames == 0:
            return []
        if self.frames >= self.info.window:
            return self._run_window(self.frames - self.info.window, stage_ms, final=True)
        # shorter than one window: one window of what there is
        return self._run_window(0, stage_ms, final=True)


@dataclass
class _Summary:
    """What one stream did, gathered by the worker for its :class:`EndEvent`."""

    source: str
    started: float | None = None  # time.monotonic() of the capture's start
    last_timestamp: float | None = None  # of the last frame taken from the queue
    processed: int = 0
    failed: int = 0

    def end(
        self,
        reason: str,
        message: str,
        capture: CaptureThread,
        provider: str,
        fps: float,
        glosses: int,
    ) -> EndEvent:
        stats = capture.stats()
        period = 1.0 / fps if fps > 0 else 0.0
        duration = 0.0 if self.last_timestamp is None else self.last_timestamp + period
        return EndEvent(
            reason=reason,
            source=self.source,
            duration_s=duration,
            frames_read=stats.frames_read,
            frames_processed=self.processed,
            frames_dropped=stats.dropped,
            frames_failed=self.failed,
            glosses=glosses,
            provider=provider,
            wall_s=0.0 if self.started is None else time.monotonic() - self.started,
            message=message,
        )


class Pipeline:
    """Runs the engine on one source at a time in a background thread.

    ``Pipeline(config, on_event)`` loads the model and LM at once (raising
    :class:`~engine.errors.ModelLoadError` & co. with a message that says why); ``start(source)``
    begins; events go to ``on_event`` (worker thread) or to :meth:`events`.
    """

    def __init__(
        self, config: PipelineConfig, on_event: Callable[[Event], None] | None = None
    ) -> None:
        self.config = config
        self.on_event = on_event
        self.recognizer: Recognizer | None = (
            None if config.model is None else Recognizer(config.model, config.lm, config)
        )
        self._events: queue.Queue[object] = queue.Queue()
        self._frames_queued = 0
        self._committed = 0  # glosses committed in the current stream (for its summary)
        self._stop = threading.Event()
        self._swap: tuple[str, str | None] | None = None
        self._swap_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._capture: CaptureThread | None = None
        self._extractor: LandmarkExtractor | None = None
        self._extractor_used = False  # it has seen frames: reset before the next stream

    # ------------------------------------------------------------------ control
    @property
    def provider(self) -> str:
        """The execution provider the model really runs on ("" without a model)."""
        return "" if self.recognizer is None else str(self.recognizer.model.provider)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, source: str | Source, source_config: SourceConfig | None = None) -> None:
        """Open ``source`` (a spec like ``webcam:0``, a file, ``dataset:DIR``) and run it.

        Any source playing is stopped first: sources are a sequence, each a stream of its own
        (the engine's state is reset; the model and MediaPipe stay loaded). Raises
        :class:`~engine.errors.SourceError` when it cannot be opened (the old one stays
        stopped)."""
        self.stop()
        if self._thread is not None:  # a worker that did not stop within the second
            self._thread.join(START_JOIN_S)
            if self._thread.is_alive():
                raise SourceError("the previous source is still stopping; try again")
        self._thread = None
        src = source if isinstance(source, Source) else open_source(source, source_config)
        if self.recognizer is not None:
            self.recognizer.reset(new_source=True)
        self._stop.clear()
        self._events = queue.Queue()
        self._frames_queued = 0
        self._committed = 0
        # a camera cannot wait: drop its oldest frame. A file can: every frame is processed
        # (its playback waits for the engine) unless asked to imitate a camera
        if src.info.live:
            drop = self.config.drop_frames
        else:
            drop = self.config.drop_file_frames and src.info.realtime
        # started by the worker once MediaPipe is warm: a file's clock must not run meanwhile
        self._capture = CaptureThread(src, self.config.queue_size, drop_oldest=drop)
        self._thread = threading.Thread(target=self._run, name="signstream-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop within a second; the camera or file is released."""
        self._stop.set()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        if self._capture is not None:
            self._capture.stop(timeout=max(0.1, 0.5 * STOP_TIMEOUT_S))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if not self._thread.is_alive():
                self._thread = None  # else start() and close() wait for it

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the source to end; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def swap_model(self, model_path: str, lm_path: str | None = None) -> None:
        """Load another model (and LM) between two frames; on failure the old one stays."""
        with self._swap_lock:
            self._swap = (model_path, lm_path)
        if not self.running:
            self._do_swap()

    def update_decoder(self, config: DecoderConfig) -> None:
        """Change alpha, beta, beam width live (thread-safe); kept across model swaps."""
        self.config = replace(self.config, decoder=config)
        if self.recognizer is not None:
            self.recognizer.decoder.update(config)

    def update_streaming(self, config: StreamingConfig) -> None:
        """Change when glosses are committed (pause, settling, ...) live; kept across model
        swaps. ``config.fps`` is replaced by the model's frame rate. Raises ValueError (and
        changes nothing) for rules that do not fit that rate."""
        rec = self.recognizer
        if rec is not None:
            fitted = replace(config, fps=rec.info.fps)  # validates before anything changes
            # one attribute assignment: the worker thread reads it at its next push
            rec.streaming.config = fitted
        self.config = replace(self.config, streaming=config)

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events until the stream ends (only when no ``on_event`` callback was given)."""
        while True:
            try:
                item = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if item is _END:
                return
            if isinstance(item, FrameEvent):
                self._frames_queued -= 1
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self.stop()
        if self._thread is not None:  # never free what a worker still uses
            self._thread.join(START_JOIN_S)
            self._thread = None
        if self.recognizer is not None:
            self.recognizer.close()
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None

    # ------------------------------------------------------------------ worker
    def _emit(self, event: Event) -> None:
        if isinstance(event, GlossEvent) and event.is_commit:
            self._committed += len(event.glosses)
        if self.on_event is not None:
            self.on_event(event)
            return
        if isinstance(event, FrameEvent):
            if self._frames_queued >= EVENT_QUEUE_FRAMES:
                return  # nobody is drawing them fast enough: landmarks of old frames are stale
            self._frames_queued += 1
        self._events.put(event)

    def _do_swap(self) -> None:
        with self._swap_lock:
            request, self._swap = self._swap, None
        if request is None:
            return
        old = self.recognizer
        context = () if old is None else old.streaming.context
        try:
            new = Recognizer(request[0], request[1], self.config, context=context)
        except SignStreamError as e:
            self._emit(ErrorEvent(f"model not changed: {e}", fatal=False, error=type(e).__name__))
            return
        if old is not None:
            for event in old.finish({}):  # commit what the old model was in the middle of
                self._emit(event)
            old.close()
            # the same person signs on: which hand signs carries over like the LM context
            if old.handedness is not None and new.handedness is not None:
                if old.handedness.fps == new.handedness.fps:
                    new.handedness = old.handedness
                else:
                    new.handedness.mirrored = old.handedness.mirrored
        self.recognizer = new
        self.config = replace(self.config, model=request[0], lm=request[1])
        self._emit(ModelEvent(request[0], new.info.name, str(new.model.provider)))

    def _landmarks(self, frame_image: RgbFrame, timestamp: float) -> FrameLandmarks:
        if self._extractor is None:
            self._extractor = create_extractor(self.config.extractor)
        self._extractor_used = True
        return self._extractor.process(frame_image, timestamp)

    def _ready_extractor(self) -> float:
        """MediaPipe ready for a new image stream: built and warmed on a blank frame the first
        time (its graph and TF Lite delegates are made on the first frame: 0.5-1 s), reset
        after an earlier stream (its tracker wants increasing timestamps). Returns ms spent."""
        t0 = time.perf_counter()
        if self._extractor is None:
            self._extractor = create_extractor(self.config.extractor)
            width, height = WARMUP_SIZE
            self._extractor.process(np.zeros((height, width, 3), np.uint8), 0.0)
            self._extractor_used = True
        if self._extractor_used:
            self._extractor.reset()
            self._extractor_used = False
        return 1000 * (time.perf_counter() - t0)

    def _run(self) -> None:
        capture = self._capture
        assert capture is not None
        info = capture.source.info
        stage_ms: dict[str, float] = {}
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        summary = _Summary(info.spec)
        processed = 0
        failed_kinds: set[str] = set()
        reason, message = "end", ""
        try:
            warmup_ms = 0.0 if info.landmarks else self._ready_extractor()
            self._emit(
                StartEvent(
                    source=info.spec,
                    description=info.description,
                    kind=info.kind,
                    live=info.live,
                    landmarks=info.landmarks,
                    fps=info.fps,
                    frame_count=info.frame_count,
                    drops_frames=capture.drop_oldest,
                    provider=self.provider,
                    warmup_ms=warmup_ms,
                )
            )
            capture.start()
            summary.started = time.monotonic()
            last_stats = time.monotonic()
            while not self._stop.is_set():
                if self._swap is not None:
                    self._do_swap()
                try:
                    frame = capture.get(timeout=0.1)
                except queue.Empty:
                    continue
                if frame is None:
                    break
                t0 = time.perf_counter()
                summary.last_timestamp = frame.timestamp
                if frame.landmarks is not None:
                    lm = frame.landmarks
                else:
                    assert frame.image_rgb is not None
                    try:
                        lm = self._landmarks(frame.image_rgb, frame.timestamp)
                    except ExtractorError as e:
                        # one message per kind of failure, not one per frame: the count
                        # goes into the summary
                        summary.failed += 1
                        kind = str(e).split("(")[0]
                        if kind not in failed_kinds:
                            failed_kinds.add(kind)
                            self._emit(ErrorEvent(str(e), fatal=False, error=type(e).__name__))
                        continue
                stage_ms.clear()
                stage_ms["landmarks"] = 1000 * (time.perf_counter() - t0)
                if self.config.frame_events:
                    self._emit(
                        FrameEvent(
                            timestamp=frame.timestamp,
                            points=lm.points,
                            present=lm.present,
                            frame_index=frame.index,
                            image_size=(frame.width, frame.height),
                            image=frame.image_rgb if self.config.frame_images else None,
                        )
                    )
                if self.recognizer is not None:
                    for event in self.recognizer.push(lm, stage_ms):
                        self._emit(event)
                processed += 1
                summary.processed += 1
                for k, v in stage_ms.items():
                    sums[k] = sums.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                now = time.monotonic()
                if now - last_stats >= STATS_INTERVAL_S:
                    self._emit(self._stats(capture, processed / (now - last_stats), sums, counts))
                    processed, sums, counts, last_stats = 0, {}, {}, now
            if not self._stop.is_set():  # the source ended: decode the rest
                self._finish(stage_ms)
            else:
                reason = "stopped"
        except SourceError as e:
            reason, message = "error", str(e)
            self._finish(stage_ms)
            self._emit(ErrorEvent(str(e), fatal=True, error=type(e).__name__))
        except Exception as e:  # never die silently: the user gets the reason
            reason, message = "error", f"engine stopped: {type(e).__name__}: {e}"
            self._emit(ErrorEvent(message, fatal=True, error=type(e).__name__))
        finally:
            capture.stop()
            self._emit(
                summary.end(reason, message, capture, self.provider, info.fps, self._committed)
            )
            self._events.put(_END)

    def _finish(self, stage_ms: dict[str, float]) -> None:
        if self.recognizer is not None:
            for event in self.recognizer.finish(stage_ms):
                self._emit(event)
            self.recognizer.reset()

    def _stats(
        self,
        capture: CaptureThread,
        processed_fps: float,
        sums: dict[str, float],
        counts: dict[str, int],
    ) -> StatsEvent:
        cs = capture.stats()
        return StatsEvent(
            input_fps=cs.input_fps,
            processed_fps=processed_fps,
            stage_ms={k: sums[k] / counts[k] for k in sums},
            dropped_frames=cs.dropped,
            provider=self.provider,
        )


def run_source(config: PipelineConfig, source: str | Source, fast: bool = False) -> Iterator[Event]:
    """Convenience for scripts: run ``source`` to its end and yield every event, the last an
    :class:`~engine.events.EndEvent` with the summary. ``fast``: files as fast as they decode
    (else at their own pace); a camera keeps every frame too."""
    if fast:  # as fast as it decodes, and every frame: nothing may be dropped
        config = replace(config, drop_frames=False, drop_file_frames=False)
    pipeline = Pipeline(config)
    try:
        pipeline.start(source, SourceConfig(realtime=not fast))
        yield from pipeline.events()
    finally:
        pipeline.close()
