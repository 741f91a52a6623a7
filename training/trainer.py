"""CTC training of teachers and students, with optional knowledge distillation.

Reads top to bottom: data -> model -> optimiser -> epochs (train, evaluate on dev, checkpoint,
early stopping). Every checkpoint stores the full resolved config, the model spec, the
vocabulary and the feature spec, so it can be evaluated, exported or resumed on its own.

Determinism: each epoch reseeds torch from ``(seed, epoch)`` and renders its sentences from
``(data seed, epoch)``, and checkpoints are taken at epoch ends; a run resumed from its last
checkpoint therefore continues exactly as the uninterrupted run would have.

Multi-GPU (or multi-process CPU): under ``torchrun --nproc_per_node N`` each process trains on
every N-th example of the epoch inside DistributedDataParallel; rank 0 evaluates and saves.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from engine.atomic import atomic_path
from engine.vocabulary import BLANK, Vocabulary
from training.config import TrainConfig
from training.distill import feature_loss, soft_loss, teacher_posteriors, temperature_at
from training.ema import WeightAverage
from training.models.base import ModelSpec, SequenceModel, build_model, model_from_spec
from training.sentences import Example, SentenceData, augmentation_for
from training.wer import WerCounts, corpus_wer

__all__ = ["Checkpoint", "TrainResult", "greedy_decode", "load_checkpoint", "train"]

CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------------- batches
@dataclass
class Batch:
    x: torch.Tensor  # (B, T, F) float32, zero-padded
    lengths: torch.Tensor  # (B,) int64
    targets: torch.Tensor  # (sum L,) int64 concatenated labels
    target_lengths: torch.Tensor  # (B,) int64

    def to(self, device: torch.device) -> Batch:
        return Batch(
            *(t.to(device) for t in (self.x, self.lengths, self.targets, self.target_lengths))
        )


def collate(examples: Sequence[Example]) -> Batch:
    t = max(e.features.shape[0] for e in examples)
    f = examples[0].features.shape[1]
    x = np.zeros((len(examples), t, f), np.float32)
    for i, e in enumerate(examples):
        x[i, : len(e.features)] = e.features
    return Batch(
        x=torch.from_numpy(x),
        lengths=torch.tensor([len(e.features) for e in examples], dtype=torch.int64),
        targets=torch.tensor([c for e in examples for c in e.labels], dtype=torch.int64),
        target_lengths=torch.tensor([len(e.labels) for e in examples], dtype=torch.int64),
    )


def batches(
    examples: Sequence[Example], batch_size: int, generator: torch.Generator | None = None
) -> Iterator[Batch]:
    """Mini-batches; shuffled when a generator is given (else in order)."""
    order = (
        torch.randperm(len(examples), generator=generator).tolist()
        if generator is not None
        else list(range(len(examples)))
    )
    for i in range(0, len(order), batch_size):
        yield collate([examples[j] for j in order[i : i + batch_size]])


# ---------------------------------------------------------------------- decoding, evaluation
def greedy_decode(log_probs: npt.NDArray[np.float32], length: int | None = None) -> list[int]:
    """Best path: argmax per frame, repeats merged, blanks removed. ``(T, C)`` -> class ids."""
    best = np.asarray(log_probs)[:length].argmax(-1)
    keep = (best != BLANK) & np.concatenate([[True], best[1:] != best[:-1]])
    return [int(c) for c in best[keep]]


@torch.no_grad()
def predict(
    model: nn.Module, examples: Sequence[Example], device: torch.device, batch_size: int = 64
) -> list[npt.NDArray[np.float32]]:
    """Per example, log-probabilities ``(T, C)`` float32."""
    model.eval()
    out: list[npt.NDArray[np.float32]] = []
    for batch in batches(examples, batch_size):
        b = batch.to(device)
        lp = F.log_softmax(model(b.x, b.lengths).logits.float(), dim=-1).cpu().numpy()
        out += [lp[i, :n] for i, n in enumerate(batch.lengths.tolist())]
    return out


def evaluate_wer(
    model: nn.Module, examples: Sequence[Example], vocab: Vocabulary, device: torch.device
) -> WerCounts:
    """Greedy-decoding WER over sentences."""
    hyps = [vocab.decode(greedy_decode(lp)) for lp in predict(model, examples, device)]
    return corpus_wer((list(e.glosses), h) for e, h in zip(examples, hyps, strict=True))


# ---------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    config: TrainConfig
    spec: ModelSpec
    vocab: Vocabulary
    state: dict[str, Any]  # model state_dict (the weight average's, when the run keeps one)
    epoch: int  # epochs completed
    best_wer: float
    history: list[dict[str, Any]] = field(default_factory=list)
    # optimiser, scheduler, projection, cotrain_head (training.cotrain); "rejection": a
    # training.rejection.RejectionFit dict; with optim.ema_decay, "train_state" (the weights
    # the optimiser trains, to resume from) and "ema_updates"
    extra: dict[str, Any] = field(default_factory=dict)

    def model(self) -> SequenceModel:
        model = model_from_spec(self.spec)
        model.load_state_dict(self.state)
        return model


def save_checkpoint(path: Path, ck: Checkpoint) -> None:
    payload = {
        "version": CHECKPOINT_VERSION,
        "config": ck.config.to_dict(),
        "model_spec": ck.spec.to_dict(),
        "vocab": list(ck.vocab.glosses),
        "feature_spec": ck.config.feature_spec.to_dict(),
        "model": ck.state,
        "epoch": ck.epoch,
        "best_wer": ck.best_wer,
        "history": ck.history,
        **ck.extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """A checkpoint written by :func:`train` (``ValueError`` if it is something else)."""
    from training.config import config_from_dict

    try:
        d = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(d, dict) or d.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a SignStream checkpoint (version {CHECKPOINT_VERSION})")
    extra = {
        k: d[k]
        for k in (
            "optimizer",
            "scheduler",
            "projection",
            "cotrain_head",
            "step",
            "rejection",
            "train_state",
            "ema_updates",
        )
        if k in d
    }
    return Checkpoint(
        config=config_from_dict(TrainConfig, d["config"]),
        spec=ModelSpec.from_dict(d["model_spec"]),
        vocab=Vocabulary(tuple(d["vocab"])),
        state=d["model"],
        epoch=int(d["epoch"]),
        best_wer=float(d["best_wer"]),
        history=list(d["history"]),
        extra=extra,
    )


# ---------------------------------------------------------------------- training
@dataclass
class TrainResult:
    run_dir: Path
    best_wer: float  # dev WER (greedy) of best.pt
    epochs: int  # epochs completed
    history: list[dict[str, Any]]


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _lr_lambda(total: int, warmup: int, floor: float) -> Any:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


def adamw_cosine(
    params: Any,
    lr: float,
    weight_decay: float,
    total_steps: int,
    warmup_fraction: float,
    min_lr_fraction: float,
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with linear warm-up then cosine decay to ``lr * min_lr_fraction``: every run's
    optimiser (one place, so that all runs of the project train alike)."""
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = int(warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(total_steps, warmup, min_lr_fraction)
    )
    return optimizer, scheduler


def ctc_step(
    model: nn.Module,
    batch: Any,
    ctc: nn.CTCLoss,
    optimizer: torch.optim.Optimizer,
    grad_clip: float,
) -> float:
    """One plain CTC step on ``batch`` (from :func:`batches`): forward, loss, backward with
    the global gradient norm clipped, optimiser step. Returns the loss."""
    log_probs = F.log_softmax(model(batch.x, batch.lengths).logits.float(), dim=-1)
    loss = ctc(log_probs.transpose(0, 1), batch.targets, batch.lengths, batch.target_lengths)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.item())


class _Teachers(nn.Module):
    """Frozen teachers of a distillation run (same vocabulary and features as the student)."""

    def __init__(self, paths: Sequence[str], vocab: Vocabulary, features: dict[str, Any]) -> None:
        super().__init__()
        models = []
        for p in paths:
            ck = load_checkpoint(p)
            if ck.vocab != vocab:
                raise ValueError(f"teacher {p} has another vocabulary than the student")
            if ck.config.features != features:
                raise ValueError(f"teacher {p} was trained on other features than the student")
            m = ck.model().eval()
            for param in m.parameters():
                param.requires_grad_(False)
            models.append(m)
        self.models = nn.ModuleList(models)

    def train(self, mode: bool = True) -> _Teachers:  # teachers stay in eval mode
        return super().train(False)


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
    distributed = dist.is_available() and "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank, world = 0, 1
    device = _device(config.device)
    if distributed:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if config.optim.num_threads > 0:
        torch.set_num_threads(config.optim.num_threads)
    run_dir = config.run_dir
    spec = config.feature_spec
    data = SentenceData(config.data, spec)
    vocab = data.vocab

    torch.manual_seed(config.seed)
    model = build_model(
        config.model.family,
        spec.dim,
        vocab.num_classes,
        config.model.preset,
        config.model.overrides,
    ).to(device)
    dcfg = config.distill
    teachers = (
        _Teachers(dcfg.teachers, vocab, config.features).to(device) if dcfg.teachers else None
    )
    projection: nn.Module | None = None
    if teachers is not None and dcfg.gamma > 0:
        first: SequenceModel = teachers.models[0]  # type: ignore[assignment]
        projection = nn.Linear(model.hidden_dim, first.hidden_dim).to(device)
    # a run resumed from its checkpoint has its weights; one that only may resume (the recipe
    # always passes resume=True) starts from the init like a new run
    resuming = resume and (run_dir / "last.pt").exists()
    if config.model.encoder_init and not resuming:
        from training.pretrain import load_encoder_init

        n = load_encoder_init(model, config.model.encoder_init, config.model.family, spec.dim)
        print(f"{n} tensors from {config.model.encoder_init}", flush=True)
    if dcfg.student_init and not resuming:
        init = load_checkpoint(dcfg.student_init)
        if init.spec != model.spec or init.vocab != vocab:
            raise ValueError(f"--student-init {dcfg.student_init}: another architecture/vocabulary")
        model.load_state_dict(init.state)

    cotrainer = None
    if config.cotrain.datasets:
        from training.cotrain import Cotrainer
        from training.pretrain import other_people_clips

        if distributed:  # its forward passes bypass DistributedDataParallel's gradient sync
            raise ValueError("co-training (cotrain.datasets) runs on one process only")
        clips, labels = other_people_clips(config.cotrain.datasets)
        cotrainer = Cotrainer(config.cotrain, clips, labels, model.hidden_dim, config.seed)
        cotrainer.to(device)
    params = list(model.parameters()) + (list(projection.parameters()) if projection else [])
    params += list(cotrainer.head.parameters()) if cotrainer else []
    steps_per_epoch = math.ceil(config.data.train_sentences / world / config.optim.batch_size)
    total = steps_per_epoch * config.optim.epochs
    o = config.optim
    optimizer, scheduler = adamw_cosine(
        params, o.lr, o.weight_decay, total, o.warmup_fraction, o.min_lr_fraction
    )
    start_epoch, best_wer, bad_epochs, history = 0, math.inf, 0, []
    if resuming:
        ck = load_checkpoint(run_dir / "last.pt")
        model.load_state_dict(ck.extra.get("train_state", ck.state))
        optimizer.load_state_dict(ck.extra["optimizer"])
        scheduler.load_state_dict(ck.extra["scheduler"])
        if projection is not None and "projection" in ck.extra:
            projection.load_state_dict(ck.extra["projection"])
        if cotrainer is not None and "cotrain_head" in ck.extra:
            cotrainer.head.load_state_dict(ck.extra["cotrain_head"])
        start_epoch, best_wer, history = ck.epoch, ck.best_wer, ck.history
        bad_epochs = sum(1 for _ in _since_best(history))
    # the weights evaluated, checkpointed and exported: the average when the run keeps one
    average = WeightAverage(model, o.ema_decay) if o.ema_decay > 0 else None
    if average is not None and resuming and "ema_updates" in ck.extra:
        average.load(ck.state, int(ck.extra["ema_updates"]))
    evaluated: nn.Module = average.model if average is not None else model
    train_model: nn.Module = model
    if distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    writer = _summary_writer(run_dir) if rank == 0 else None
    use_amp = config.optim.amp and device.type == "cuda"
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    dev = data.fixed("dev") if rank == 0 else []

    last_epoch = config.optim.epochs
    if stop_after is not None:
        last_epoch = min(last_epoch, start_epoch + stop_after)
    for epoch in range(start_epoch, last_epoch):
        if bad_epochs >= config.optim.patience:
            break
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        torch.manual_seed(config.seed * 1_000_003 + epoch)  # dropout etc.: same on resume
        examples = data.train_epoch(epoch)[rank::world]
        temperature = temperature_at(epoch, config.optim.epochs, dcfg.temperatures)
        train_model.train()
        sums = {"loss": 0.0, "hard": 0.0, "soft": 0.0, "feature": 0.0, "cotrain": 0.0}
        if cotrainer is not None:
            cotrainer.start_epoch(epoch, spec, augmentation_for(config.data))
        n_batches = 0
        it = batches(examples, config.optim.batch_size, generator)
        bar = _progress(it, steps_per_epoch, f"epoch {epoch + 1}", progress and rank == 0)
        for batch in bar:
            b = batch.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = train_model(b.x, b.lengths)
            log_probs = F.log_softmax(out.logits.float(), dim=-1)
            hard = ctc(log_probs.transpose(0, 1), b.targets, b.lengths, b.target_lengths)
            loss = hard
            parts = {"hard": hard.item()}
            if teachers is not None:
                with (
                    torch.no_grad(),
                    torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp),
                ):
                    t_out = [m(b.x, b.lengths) for m in teachers.models]
                probs = teacher_posteriors(
                    [o.logits for o in t_out], temperature, dcfg.teacher_weights
                )
                soft = soft_loss(out.logits, probs, temperature, b.lengths)
                loss = dcfg.alpha * soft + dcfg.beta * hard
                parts["soft"] = soft.item()
                if projection is not None:
                    feat = feature_loss(out.hidden, t_out[0].hidden, projection, b.lengths)
                    loss = loss + dcfg.gamma * feat
                    parts["feature"] = feat.item()
            if cotrainer is not None:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                    clip_loss = cotrainer.loss(model, device)
                loss = loss + config.cotrain.weight * clip_loss
                parts["cotrain"] = clip_loss.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            if average is not None:
                average.update(model)
            sums["loss"] += loss.item()
            for k, v in parts.items():
                sums[k] += v
            n_batches += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.3f}")
        if rank == 0:
            dev_wer = evaluate_wer(evaluated, dev, vocab, device)
            record = {
                "epoch": epoch + 1,
                "lr": scheduler.get_last_lr()[0],
                "temperature": temperature,
                "dev_wer": dev_wer.wer,
                "seconds": time.perf_counter() - t0,
                **{k: v / max(1, n_batches) for k, v in sums.items()},
            }
            history.append(record)
            improved = dev_wer.wer < best_wer
            best_wer = min(best_wer, dev_wer.wer)
            bad_epochs = 0 if improved else bad_epochs + 1
            extra: dict[str, Any] = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            }
            if projection is not None:
                extra["projection"] = projection.state_dict()
            if cotrainer is not None:
                extra["cotrain_head"] = cotrainer.head.state_dict()
            if average is not None:
                extra["train_state"] = model.state_dict()
                extra["ema_updates"] = average.updates
            ck = Checkpoint(
                config,
                model.spec,
                vocab,
                evaluated.state_dict(),
                epoch + 1,
                best_wer,
                history,
                extra,
            )
            save_checkpoint(run_dir / "last.pt", ck)
            if improved:
                save_checkpoint(run_dir / "best.pt", ck)
            if writer is not None:
                for k, v in record.items():
                    if k != "epoch":
                        writer.add_scalar(k, v, epoch + 1)
                writer.flush()
            if rank == 0:
                print(
                    f"epoch {epoch + 1}: loss {record['loss']:.3f} dev WER {100 * dev_wer.wer:.2f}%"
                    f"{' (best)' if improved else ''} {record['seconds']:.1f}s",
                    flush=True,
                )
        if distributed:
            flag = torch.tensor([bad_epochs], dtype=torch.int64)
            dist.broadcast(flag, 0)
            bad_epochs = int(flag.item())
    if writer is not None:
        writer.close()
    if distributed:
        dist.barrier()
    return TrainResult(run_dir, best_wer, len(history), history)


def _since_best(history: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The records after the best dev WER (how many epochs did not improve)."""
    if not history:
        return iter(())
    best = min(range(len(history)), key=lambda i: history[i]["dev_wer"])
    return iter(history[best + 1 :])


def _summary_writer(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: training goes on without its logs
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def _progress(it: Iterator[Batch], total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)
