"""Recording samples of one's own signs: takes cut from the running source, kept safely.

A take is the landmarks (never the images) of the frames the engine processed while the
person signed, as one :class:`~engine.landmarks.LandmarkSequence` labelled with its gloss.
:class:`RecordingStore` keeps takes in a SignStream dataset in the user data folder: each take
is appended as its own shard the moment it ends (atomic writes, :mod:`engine.dataset`), so a
crash loses at most the take being recorded. Deleting takes rewrites the dataset beside the
old one and swaps the folders; an interrupted swap is repaired the next time the store opens.
"""

from __future__ import annotations

import getpass
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.dataset import Dataset, SampleInfo
from engine.errors import SignStreamError
from engine.events import FrameEvent
from engine.landmarks import LandmarkSequence

__all__ = ["IDLE_GLOSS", "RecordingStore", "TakeRecorder", "build_take"]

IDLE_GLOSS = "-"  # the training data's "not signing" gloss: recordings of rest, for pauses
TRIM_MARGIN_FRAMES = 3  # frames kept before the first and after the last frame with a hand
MIN_TAKE_FRAMES = 4  # fewer landmark frames than this is no sample


def signer_name() -> str:
    """Who records (the login name): the training splits keep one person's samples together."""
    try:
        return "user:" + getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        return "user"


def build_take(frames: list[FrameEvent], gloss: str, signer: str) -> LandmarkSequence:
    """Frames of one take -> a labelled sequence, trimmed to where a hand is seen.

    Resting takes (the idle gloss) are kept whole: hands out of view is what rest looks like.
    Raises ValueError when nothing usable was seen (too few frames, no hand at all).
    """
    if len(frames) < MIN_TAKE_FRAMES:
        raise ValueError(f"only {len(frames)} frames arrived during the take")
    points = np.stack([f.points for f in frames]).astype(np.float32)  # (T, P, 4)
    present = np.stack([f.present for f in frames]).astype(bool)  # (T, 4)
    t = np.array([f.timestamp for f in frames], np.float64)
    if gloss != IDLE_GLOSS:
        hands = np.flatnonzero(present[:, 1] | present[:, 2])
        if len(hands) == 0:
            raise ValueError("no hand was seen during the take: sign in view of the camera")
        a = max(0, int(hands[0]) - TRIM_MARGIN_FRAMES)
        b = min(len(t), int(hands[-1]) + 1 + TRIM_MARGIN_FRAMES)
        points, present, t = points[a:b], present[a:b], t[a:b]
        if len(t) < MIN_TAKE_FRAMES:
            raise ValueError("the hands were in view for too short a time")
    dt = np.diff(t)
    fps = float(1.0 / np.median(dt)) if len(dt) and np.median(dt) > 0 else 30.0
    w, h = frames[0].image_size
    return LandmarkSequence(
        points=points,
        present=present,
        timestamps=t - t[0],
        fps=fps,
        glosses=(gloss,),
        signer=signer,
        source=f"recorded:{time.strftime('%Y%m%dT%H%M%S')}:{frames[0].frame_index}",
        aspect=(w / h) if w and h else None,
    )


class RecordingStore:
    """The user's recorded samples: a SignStream dataset, takes added and deleted one by one."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._repair()
        self.dataset = Dataset.open_or_create(self.root, "recordings made in the SignStream app")

    @property
    def _old(self) -> Path:
        return self.root.with_name(self.root.name + ".old")

    @property
    def _new(self) -> Path:
        return self.root.with_name(self.root.name + ".new")

    def _repair(self) -> None:
        """Finish or undo a delete that a crash interrupted."""
        if not self.root.exists() and self._old.exists():
            if self._new.exists():  # the rewrite was complete: finish the swap
                self._new.rename(self.root)
            else:
                self._old.rename(self.root)
        shutil.rmtree(self._old, ignore_errors=True)
        shutil.rmtree(self._new, ignore_errors=True)

    def add(self, take: LandmarkSequence) -> int:
        """Store a take (durably, before returning); its index in :attr:`takes`."""
        self.dataset.append([take])
        return len(self.dataset) - 1

    @property
    def takes(self) -> list[SampleInfo]:
        return self.dataset.infos

    def counts(self) -> Counter[str]:
        """Samples per gloss (the idle gloss included)."""
        return Counter(i.gloss for i in self.takes)

    def __len__(self) -> int:
        return len(self.dataset)

    def delete(self, indices: set[int]) -> None:
        """Remove the takes at ``indices`` (rewrites the dataset, then swaps the folders)."""
        keep = [self.dataset[i] for i in range(len(self.dataset)) if i not in indices]
        shutil.rmtree(self._new, ignore_errors=True)
        new = Dataset.create(self._new, "recordings made in the SignStream app")
        for seq in keep:  # one shard per take, as when recorded
            new.append([seq])
        self.root.rename(self._old)
        self._new.rename(self.root)
        shutil.rmtree(self._old, ignore_errors=True)
        self.dataset = Dataset(self.root)


class TakeRecorder(QObject):
    """Records takes from the engine's frames: countdown, then ``seconds`` of the source's clock.

    Connect :meth:`on_frame` to the bridge's ``frame`` signal. ``state`` says what happens
    now (``idle``, ``countdown``, ``recording``); signals report each step.
    """

    countdown = Signal(int)  # seconds left before the take starts
    started = Signal(int)  # take number (1-based) of this session
    saved = Signal(int, str)  # index in the store, gloss
    failed = Signal(str)  # why a take was not kept
    done = Signal()  # all takes of the session recorded

    def __init__(self, store: RecordingStore, signer: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.signer = signer or signer_name()
        self.state = "idle"
        self.gloss = ""
        self.seconds = 2.0
        self._countdown_s = 3
        self._remaining_takes = 0
        self._take = 0
        self._countdown_left = 0
        self._frames: list[FrameEvent] = []
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._tick)

    def start(self, gloss: str, takes: int, seconds: float, countdown_s: int = 3) -> None:
        """Record ``takes`` samples of ``gloss``, each after a countdown of ``countdown_s``."""
        gloss = gloss.strip()
        if not gloss or any(c.isspace() for c in gloss):
            raise ValueError("a gloss is one word without spaces (e.g. MILK or thank-you)")
        self.gloss, self.seconds = gloss, seconds
        self._remaining_takes, self._take = takes, 0
        self._countdown_s = countdown_s
        self._next_take()

    def cancel(self) -> None:
        self._timer.stop()
        self._frames = []
        self._remaining_takes = 0
        self.state = "idle"

    def _next_take(self) -> None:
        if self._remaining_takes <= 0:
            self.state = "idle"
            self.done.emit()
            return
        self._remaining_takes -= 1
        self._take += 1
        self.state = "countdown"
        self._countdown_left = self._countdown_s
        self.countdown.emit(self._countdown_left)
        if self._countdown_left <= 0:
            self._begin()
        else:
            self._timer.start()

    @Slot()
    def _tick(self) -> None:
        self._countdown_left -= 1
        self.countdown.emit(self._countdown_left)
        if self._countdown_left <= 0:
            self._timer.stop()
            self._begin()

    def _begin(self) -> None:
        self._frames = []
        self.state = "recording"
        self.started.emit(self._take)

    @Slot(object)
    def on_frame(self, event: FrameEvent) -> None:
        if self.state != "recording":
            return
        if self._frames and event.timestamp <= self._frames[-1].timestamp:
            # the clock went back: another source began (a camera chosen again, a new file);
            # frames of two sources are no take: start it again from this one
            self._frames = []
        self._frames.append(event)
        # the source's clock, not the wall clock: a file played faster than real time still
        # gives takes of the same length as a camera would
        if event.timestamp - self._frames[0].timestamp >= self.seconds:
            self._finish()

    @Slot()
    def on_source_ended(self) -> None:
        """The source stopped: keep what the take has, if it is enough."""
        if self.state == "recording":
            self._finish()
            self.cancel()
        elif self.state == "countdown":
            self.cancel()
            self.failed.emit("the source stopped before the take began")

    def _finish(self) -> None:
        frames, self._frames = self._frames, []
        self.state = "idle"
        try:
            take = build_take(frames, self.gloss, self.signer)
            index = self.store.add(take)
        except (ValueError, SignStreamError, OSError) as e:
            self.failed.emit(f"take {self._take} not kept: {e}")
        else:
            self.saved.emit(index, self.gloss)
        self._next_take()
