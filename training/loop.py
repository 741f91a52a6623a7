"""The training loop every run of the project uses: build, then per epoch steps, evaluate,
checkpoint.

    loop = Loop(model, Schedule(...), steps_per_epoch, parts=[distillation])
    state = loop.run(batches_of_epoch, loss_of_batch, evaluate=dev_score, save=checkpoint)

What differs between runs is passed in: the batches of an epoch, the loss of a batch (CTC for
sentences, cross-entropy for clips), the dev score (lower is better: a WER) and how a
checkpoint is written. Optional pieces of a run (:class:`Part`: a distillation projection)
bring their own parameters, which the optimiser trains, and their own checkpoint key.

Determinism: each epoch reseeds torch from ``(seed, epoch)`` before its batches are made, and
checkpoints are taken at epoch ends, so a run resumed from its last checkpoint continues exactly
as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

__all__ = ["Loop", "LoopState", "Part", "Schedule", "adamw_cosine", "epoch_seed"]


@dataclass(frozen=True)
class Schedule:
    """Optimiser and stopping: AdamW, linear warm-up, cosine decay to ``lr * min_lr_fraction``
    (``min_lr_fraction=1`` and ``warmup_fraction=0``: a constant rate)."""

    epochs: int
    lr: float
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.02
    grad_clip: float = 1.0  # max global gradient norm
    patience: int = 0  # epochs without a better dev score before stopping (0: never stop early)
    seed: int = 0


def epoch_seed(seed: int, epoch: int) -> int:
    """The torch seed of an epoch: the same whether a run was resumed or not."""
    return seed * 1_000_003 + epoch


@dataclass
class LoopState:
    """How far a run is: what a checkpoint must keep besides the weights."""

    epoch: int = 0  # epochs completed
    best: float = math.inf  # best dev WER so far
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch

    @property
    def epochs_since_best(self) -> int:
        scores = [h["dev_wer"] for h in self.history if h.get("dev_wer") is not None]
        if not scores:
            return 0
        return len(scores) - 1 - min(range(len(scores)), key=scores.__getitem__)


class Part(Protocol):
    """An optional piece of a run that owns parameters and a checkpoint key."""

    key: str  # its entry in a checkpoint

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def _lr_lambda(total: int, warmup: int, floor: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def adamw_cosine(
    params: Iterable[nn.Parameter], schedule: Schedule, total_steps: int
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser of every run (one place, so that all runs of the project train alike)."""
    optimizer = torch.optim.AdamW(params, lr=schedule.lr, weight_decay=schedule.weight_decay)
    warmup = int(schedule.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, warmup, schedule.min_lr_fraction)
    )
    return optimizer, scheduler


# the loss of one batch at an epoch: the loss to minimise and named parts to log
LossFn = Callable[[Any, int], tuple[torch.Tensor, dict[str, float]]]
# after each step: (epoch, step, steps, loss)
StepHook = Callable[[int, int, int, float], None]


class Loop:
    """One run's optimiser state and its epochs (module docstring)."""

    def __init__(
        self,
        model: nn.Module,
        schedule: Schedule,
        steps_per_epoch: int,
        parts: Sequence[Part] = (),
    ) -> None:
        self.model, self.schedule, self.parts = model, schedule, list(parts)
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.params = list(model.parameters()) + [p for part in parts for p in part.parameters()]
        self.optimizer, self.scheduler = adamw_cosine(
            self.params, schedule, self.steps_per_epoch * schedule.epochs
        )

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, scheduler and every part: what a resumable checkpoint keeps."""
        out: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }
        out.update({part.key: part.state_dict() for part in self.parts})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for part in self.parts:
            if part.key in state:
                part.load_state_dict(state[part.key])

    @property
    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def step(self, loss: torch.Tensor) -> None:
        """Backward, clip the global gradient norm, optimiser and scheduler step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.params, self.schedule.grad_clip)
        self.optimizer.step()
        self.scheduler.step()

    def run(
        self,
        epoch_batches: Callable[[int], Iterable[Any]],
        loss: LossFn,
        state: LoopState | None = None,
        evaluate: Callable[[], float] | None = None,
        save: Callable[[LoopState, bool], None] | None = None,
        stop_after: int | None = None,
        on_step: StepHook | None = None,
        log: Callable[[str], None] | None = print,
    ) -> LoopState:
        """Train from ``state`` (a new run: None) to the last epoch or early stop.

        ``evaluate``: the dev WER after each epoch (lower is better; None: no early stop);
        ``save(state, improved)``: write the checkpoint(s); ``stop_after``: at most this many
        epochs in this call (the schedule still spans ``schedule.epochs``)."""
        state = state or LoopState()
        last = self.schedule.epochs
        if stop_after is not None:
            last = min(last, state.epoch + stop_after)
        patience = self.schedule.patience
        while state.epoch < last and not (patience and state.epochs_since_best >= patience):
            epoch = state.epoch
            t0 = time.perf_counter()
            torch.manual_seed(epoch_seed(self.schedule.seed, epoch))  # dropout etc.
            self.model.train()
            sums: dict[str, float] = {}
            n = 0
            for step, batch in enumerate(epoch_batches(epoch)):
                value, parts = loss(batch, epoch)
                self.step(value)
                n += 1
                for k, v in {"loss": float(value.item()), **parts}.items():
                    sums[k] = sums.get(k, 0.0) + v
                if on_step is not None:
                    on_step(epoch, step, self.steps_per_epoch, float(value.item()))
            record: dict[str, Any] = {"epoch": epoch + 1, "lr": self.lr}
            record.update({k: v / max(1, n) for k, v in sums.items()})
            dev = evaluate() if evaluate is not None else None
            record["dev_wer"] = dev
            record["seconds"] = time.perf_counter() - t0
            improved = dev is not None and dev < state.best
            if dev is not None:
                state.best = min(state.best, dev)
            state.history.append(record)
            state.epoch = epoch + 1
            if save is not None:
                save(state, improved)
            if log is not None:
                best = " (best)" if improved else ""
                shown = f" dev WER {100 * dev:.2f}%{best}" if dev is not None else ""
                log(f"epoch {epoch + 1}: loss {record['loss']:.3f}{shown} {record['seconds']:.1f}s")
        return state
