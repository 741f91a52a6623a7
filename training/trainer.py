"""CTC training of teachers and students, with optional knowledge distillation.

    train(load_config("training/configs/student.toml"))

Reads top to bottom: data -> model (and its distillation part) -> the loop
(:mod:`training.loop`: per epoch steps, dev WER, checkpoint, early stopping). Every checkpoint
stores the full resolved config, the model spec, the vocabulary and the feature spec, so it can
be evaluated, exported or resumed on its own. Dev WER decodes with the engine's decoder
(greedy, no LM), as the app would without one.

Determinism: each epoch reseeds torch from ``(seed, epoch)`` and renders its sentences from
``(data seed, epoch)``, and checkpoints are taken at epoch ends; a run resumed from its last
checkpoint therefore continues exactly as the uninterrupted run would have.

Multi-GPU (or multi-process CPU): under ``torchrun --nproc_per_node N`` each process trains on
every N-th example of the epoch inside DistributedDataParallel; rank 0 evaluates and saves.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from engine.decoder import GlossDecoder
from engine.vocabulary import BLANK, Vocabulary
from training.batches import Batch, batches, predict
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.config import OptimConfig, TrainConfig
from training.data.sentences import Example, SentenceData
from training.distill import Distillation
from training.loop import Loop, LoopState, Schedule, epoch_seed
from training.models.base import SequenceModel, build_model
from training.wer import WerCounts, corpus_wer

__all__ = ["TrainResult", "ctc_loss", "evaluate_wer", "schedule_of", "train"]


@dataclass
class TrainResult:
    run_dir: Path
    best_wer: float  # dev WER (greedy) of best.pt
    epochs: int  # epochs completed
    history: list[dict[str, Any]]


def schedule_of(optim: OptimConfig, seed: int) -> Schedule:
    return Schedule(
        epochs=optim.epochs, lr=optim.lr, weight_decay=optim.weight_decay,
        warmup_fraction=optim.warmup_fraction, min_lr_fraction=optim.min_lr_fraction,
        grad_clip=optim.grad_clip, patience=optim.patience, seed=seed,
    )  # fmt: skip


def ctc_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """CTC of ``logits`` ``(B, T, C)`` on the batch's labels (blank 0; impossible
    alignments give 0, not inf)."""
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
    return F.ctc_loss(
        log_probs, batch.targets, batch.lengths, batch.target_lengths,
        blank=BLANK, zero_infinity=True,
    )  # fmt: skip


def evaluate_wer(
    model: nn.Module, examples: Sequence[Example], vocab: Vocabulary, device: torch.device
) -> WerCounts:
    """Corpus WER over sentences, greedy decoding by the engine's decoder."""
    decoder = GlossDecoder(vocab)
    hyps = [decoder.decode(lp).glosses for lp in predict(model, examples, device)]
    return corpus_wer((list(e.glosses), list(h)) for e, h in zip(examples, hyps, strict=True))


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _joined() -> bool:
    return dist.is_available() and dist.is_initialized()


def _distributed(device: torch.device) -> torch.device:
    """The device of this process; under torchrun the process group is joined first."""
    if not (dist.is_available() and "RANK" in os.environ and "WORLD_SIZE" in os.environ):
        return device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return device


def _student(config: TrainConfig, vocab: Vocabulary, resumed: Checkpoint | None) -> SequenceModel:
    """The model at its init: new, from ``distill.student_init``, or a resumed run's weights."""
    torch.manual_seed(config.seed)
    m = config.model
    model = build_model(m.family, config.feature_spec.dim, vocab.num_classes, m.preset, m.overrides)
    init = config.distill.student_init
    if resumed is not None:
        model.load_state_dict(resumed.state)
    elif init:
        ck = load_checkpoint(init)
        if ck.spec != model.spec or ck.vocab != vocab:
            raise ValueError(f"--student-init {init}: another architecture/vocabulary")
        model.load_state_dict(ck.state)
    return model


class _CtcRun:
    """What one CTC run gives the loop: its batches, loss, dev WER and checkpoints."""

    def __init__(
        self, config: TrainConfig, data: SentenceData, model: SequenceModel,
        distill: Distillation | None, device: torch.device, progress: bool,
    ) -> None:  # fmt: skip
        self.config, self.data, self.model, self.distill = config, data, model, distill
        self.device = device
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if _joined() else (0, 1)
        self.progress = progress and self.rank == 0
        o = config.optim
        self.steps_per_epoch = math.ceil(config.data.train_sentences / self.world / o.batch_size)
        self.forward: nn.Module = model
        if self.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.amp = o.amp and device.type == "cuda"
        self.dev = data.fixed("dev") if self.rank == 0 else []
        self.writer = _summary_writer(config.run_dir) if self.rank == 0 else None
        self.loop: Loop | None = None  # set by train(): its state goes into the checkpoints

    def batches(self, epoch: int) -> Iterable[Batch]:
        examples = self.data.train_epoch(epoch)[self.rank :: self.world]
        generator = torch.Generator().manual_seed(epoch_seed(self.config.seed, epoch))
        it = batches(examples, self.config.optim.batch_size, generator)
        return _progress(it, self.steps_per_epoch, f"epoch {epoch + 1}", self.progress)

    def loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        b = batch.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.forward(b.x, b.lengths)
        hard = ctc_loss(out.logits, b)
        if self.distill is None:
            return hard, {"hard": float(hard.item())}
        return self.distill.loss(b.x, b.lengths, out, hard, epoch, self.amp)

    def dev_wer(self) -> float:
        """Rank 0 evaluates; every process stops early on its number."""
        wer = (
            evaluate_wer(self.model, self.dev, self.data.vocab, self.device).wer
            if self.rank == 0
            else 0.0
        )
        if self.world > 1:
            shared = torch.tensor([wer], dtype=torch.float64, device=self.device)
            dist.broadcast(shared, 0)
            wer = float(shared.item())
        return wer

    def save(self, state: LoopState, improved: bool) -> None:
        if self.rank != 0 or self.loop is None:
            return
        ck = Checkpoint(
            self.config, self.model.spec, self.data.vocab, self.model.state_dict(), state.epoch,
            state.best, state.history, self.loop.state_dict(),
        )  # fmt: skip
        run_dir = self.config.run_dir
        save_checkpoint(run_dir / "last.pt", ck)
        if improved:
            save_checkpoint(run_dir / "best.pt", ck)
        _log_scalars(self.writer, state.history[-1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.world > 1:
            dist.barrier()


def train(
    config: TrainConfig,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train (or resume) the run ``config`` describes; returns where it is and how it went.

    ``stop_after``: run at most this many epochs in this call (the schedule still spans
    ``optim.epochs``), e.g. to split a long run into sessions; ``resume`` continues it.
    """
    device = _distributed(_device(config.device))
    if config.optim.num_threads > 0:
        torch.set_num_threads(config.optim.num_threads)
    data = SentenceData(config.data, config.feature_spec)
    last = config.run_dir / "last.pt"
    resumed = load_checkpoint(last) if resume and last.exists() else None
    model = _student(config, data.vocab, resumed).to(device)
    d, o = config.distill, config.optim
    distill = (
        Distillation(d, data.vocab, config.features, model.hidden_dim, o.epochs).to(device)
        if d.teachers
        else None
    )
    run = _CtcRun(config, data, model, distill, device, progress)
    loop = run.loop = Loop(
        model, schedule_of(o, config.seed), run.steps_per_epoch, [distill] if distill else []
    )
    state = LoopState()
    if resumed is not None:
        loop.load_state_dict(resumed.extra)
        state = LoopState(resumed.epoch, resumed.best_wer, resumed.history)
    state = loop.run(
        run.batches, run.loss, state, evaluate=run.dev_wer, save=run.save, stop_after=stop_after,
        log=print if run.rank == 0 else None,
    )  # fmt: skip
    run.close()
    return TrainResult(config.run_dir, state.best, len(state.history), state.history)


def _summary_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: training goes on without its logs
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _log_scalars(writer: Any, record: dict[str, Any]) -> None:
    if writer is None:
        return
    for k, v in record.items():
        if k != "epoch" and isinstance(v, int | float):
            writer.add_scalar(k, v, record["epoch"])
    writer.flush()


def _progress(it: Iterator[Batch], total: int, desc: str, enabled: bool) -> Iterable[Batch]:
    if not enabled:
        return it
    from tqdm import tqdm

    bar: Iterable[Batch] = tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)
    return bar
