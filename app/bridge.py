"""The one adapter between the engine and Qt: engine events in, queued Qt signals out.

The engine calls :meth:`EngineBridge._on_event` in its worker thread; the bridge, a QObject
living in the GUI thread, re-emits each event as a signal, which Qt queues to the GUI thread.
The GUI thread never waits on the engine (FACTS.md: no direct lambda connections to worker
signals, no blocking waits).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.decoder import DecoderConfig
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
from engine.model import ModelInfo
from engine.pipeline import Pipeline, PipelineConfig
from engine.sources import Source, SourceConfig
from engine.streaming import StreamingConfig

__all__ = ["EngineBridge"]


class EngineBridge(QObject):
    frame = Signal(object)  # FrameEvent (with the image)
    gloss = Signal(object)  # GlossEvent
    stats = Signal(object)  # StatsEvent
    error = Signal(str, bool)  # message, fatal
    started = Signal(object)  # StartEvent: a source begins (MediaPipe and the model are warm)
    ended = Signal(object)  # EndEvent: the source ended, was stopped or failed (its summary)
    finished = Signal()  # the source ended or was stopped (after ``ended``)
    model_changed = Signal(object)  # ModelInfo, or None for landmarks only

    def __init__(self) -> None:
        super().__init__()
        self._pipeline = Pipeline(PipelineConfig(model=None, frame_images=True), self._on_event)
        self.model_info: ModelInfo | None = None

    @property
    def running(self) -> bool:
        return self._pipeline.running

    @property
    def provider(self) -> str:
        return self._pipeline.provider

    def load_model(self, model: str | Path, lm: str | Path | None) -> None:
        """Use ``model`` from now on. Raises (with a message) if it cannot be loaded while
        nothing runs; while a source runs the swap happens in the engine, and a failure comes
        back as an ``error`` signal with the old model still in use."""
        if self._pipeline.running:
            self._pipeline.swap_model(str(model), None if lm is None else str(lm))
            return
        config = replace(
            self._pipeline.config, model=str(model), lm=None if lm is None else str(lm)
        )
        new = Pipeline(config, self._on_event)  # raises ModelLoadError & co.
        self._pipeline.close()
        self._pipeline = new
        self._announce_model()

    def _announce_model(self) -> None:
        rec = self._pipeline.recognizer
        self.model_info = None if rec is None else rec.info
        self.model_changed.emit(self.model_info)

    def set_decoder(self, config: DecoderConfig) -> None:
        self._pipeline.update_decoder(config)

    def set_streaming(self, config: StreamingConfig) -> None:
        self._pipeline.update_streaming(config)

    @property
    def streaming_config(self) -> StreamingConfig | None:
        rec = self._pipeline.recognizer
        return None if rec is None else rec.streaming.config

    @property
    def decoder_config(self) -> DecoderConfig | None:
        rec = self._pipeline.recognizer
        return None if rec is None else rec.decoder.config

    @property
    def has_lm(self) -> bool:
        """Whether the current model runs with a language model loaded."""
        rec = self._pipeline.recognizer
        return rec is not None and rec.decoder.has_lm

    def start(
        self,
        source: str | Source,
        realtime: bool = True,
        resolution: tuple[int, int] | None = None,
    ) -> None:
        """Start ``source`` (a spec, or an opened Source); one that cannot be opened raises
        SourceError. ``resolution``: the camera frame size to ask for."""
        width, height = resolution if resolution is not None else (None, None)
        self._pipeline.start(source, SourceConfig(realtime=realtime, width=width, height=height))

    def stop(self) -> None:
        self._pipeline.stop()

    def close(self) -> None:
        self._pipeline.close()

    # ------------------------------------------------------------------ engine thread
    def _on_event(self, event: Event) -> None:
        if isinstance(event, FrameEvent):
            self.frame.emit(event)
        elif isinstance(event, GlossEvent):
            self.gloss.emit(event)
        elif isinstance(event, StatsEvent):
            self.stats.emit(event)
        elif isinstance(event, ErrorEvent):
            self.error.emit(event.message, event.fatal)
        elif isinstance(event, ModelEvent):
            rec = self._pipeline.recognizer
            self.model_info = None if rec is None else rec.info
            self.model_changed.emit(self.model_info)
        elif isinstance(event, StartEvent):
            self.started.emit(event)
        elif isinstance(event, EndEvent):
            self.ended.emit(event)
            self.finished.emit()
