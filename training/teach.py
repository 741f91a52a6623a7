"""Teach a model new signs: fine-tune a student checkpoint on a user's own recordings.

    signstream train teach --recordings DIR --init CHECKPOINT.pt --out OUT.onnx [--epochs N]

``DIR`` is a SignStream dataset of isolated samples (the app's "Record and teach" writes one;
the idle gloss ``-`` are recordings of the person at rest, used for pauses). The run:

1. grows the vocabulary: the checkpoint's glosses keep their class ids, new glosses are added
   after them (sorted), so the output layer's existing rows are kept and only new rows start
   from scratch;
2. renders sentences from the recordings every epoch (random sequences of the person's
   glosses, joined by :mod:`training.data.synthesis` as in the main recipe) and, where the
   checkpoint's training dataset is on this machine, as many sentences of the original data
   (its grammar, its training signers), so the old glosses are not forgotten;
3. fine-tunes with CTC on every take, then exports an ONNX model (the export's parity check
   included) with the sample count of every gloss in its ``training_data`` metadata, and
   writes the new checkpoint beside it (same stem, ``.pt``) so the result can be taught
   again, and its sign previews (``.previews.npz``, :mod:`training.previews`): the person's
   own take of each gloss they recorded, and the base model's previews for the rest.

Progress goes to stdout as lines ``PROGRESS_PREFIX + JSON`` (``stage``, ``fraction`` in 0..1,
``message`` and more), which the app's progress bar reads; everything else printed is for
people. Output is all-or-nothing: the files are staged under hidden names and renamed at the
end with SIGTERM blocked; a SIGTERM (the app's Cancel) before that removes the staged files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from engine.atomic import atomic_path
from engine.dataset import Dataset
from engine.decoder import GlossDecoder
from engine.errors import SignStreamError
from engine.landmarks import LandmarkSequence
from engine.model import read_model_info
from engine.previews import Previews, previews_of, previews_path, save_previews
from engine.vocabulary import BLANK, Vocabulary
from training.batches import Batch, batches, predict
from training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.data.grammar import Grammar, load_grammar
from training.data.sentences import Example, clip_example, features_of, hold_edges
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize
from training.loop import Loop, Schedule, epoch_seed
from training.models.base import ModelSpec, model_from_spec
from training.previews import taught_previews
from training.trainer import ctc_loss

__all__ = [
    "CALIBRATION",
    "PROGRESS_PREFIX",
    "TeachConfig",
    "TeachError",
    "TeachResult",
    "fine_tuned",
    "grow_state",
    "grow_vocabulary",
    "teach",
]

PROGRESS_PREFIX = "signstream-progress "  # a line the app parses: this prefix, then JSON
REPO = Path(__file__).resolve().parents[1]
MIN_USER_SENTENCES = 48  # per epoch, however few samples were recorded
USER_HOLD_S = (0.2, 0.7)  # still frames before and after each sentence of the person's signs
SENTENCES_PER_SAMPLE = 4  # per epoch and recorded sample: each take is seen in a few contexts
SIGTERM_EXIT = 128 + signal.SIGTERM  # the exit status of a process ended by SIGTERM


class TeachError(SignStreamError):
    """The recordings or the checkpoint cannot be used for teaching (with the reason)."""


@dataclass(frozen=True)
class TeachConfig:
    """How a model is fine-tuned on a person's recordings."""

    epochs: int = 6  # passes over freshly rendered sentences
    # user sentences per epoch; 0: SENTENCES_PER_SAMPLE per recorded sample, at least
    # MIN_USER_SENTENCES
    user_sentences: int = 0
    # share of each epoch's sentences from the original training data (0: none); half keeps
    # the old glosses as well as the first training did in our runs
    old_fraction: float = 0.5
    max_glosses: int = 3  # longest random sentence of the person's glosses
    batch_size: int = 16
    lr: float = 1e-3  # lower than from scratch: the features are already learnt
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    window: int | None = None  # export window; None: the ONNX beside the checkpoint's, else auto
    hop: int | None = None  # export hop; None: likewise, else 16
    name: str | None = None  # display name of the new model; None: the output's file stem
    seed: int = 0
    threads: int = 1  # torch CPU threads: the app keeps running beside the training

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 <= self.old_fraction < 1.0:
            raise ValueError(f"old_fraction must be in [0, 1), got {self.old_fraction}")
        if self.max_glosses < 1 or self.batch_size < 1:
            raise ValueError("max_glosses and batch_size must be >= 1")


# "Fit to me" (``--calibrate``): the person's takes of glosses the model already knows. Chosen
# on held-out people by bench/calibration.py (its --split tune) so that the default vocabulary
# with 3 takes a gloss fits in under a minute on a 2-core CPU; half the rate and three old
# sentences to each of the person's: on the tune people the fitted model kept the others as
# before instead of losing 5 points of them and fitted the person better
# (docs/experiments/fit-to-me-settings.md); every take trained on: a take of each gloss held
# back to choose the epoch cost the people the model knew least more than it saved
# (docs/experiments/fit-hold-back.md)
CALIBRATION = TeachConfig(epochs=8, user_sentences=96, old_fraction=0.75, lr=5e-4)


@dataclass(frozen=True)
class TeachResult:
    onnx: Path
    checkpoint: Path
    vocabulary: tuple[str, ...]
    new_glosses: tuple[str, ...]
    user_samples: int
    fit_accuracy: float  # greedy accuracy on the person's own samples (seen in training)
    seconds: float


Report = Callable[[dict[str, Any]], None]


def print_progress(event: dict[str, Any]) -> None:
    """The default reporter: one machine-readable line per event on stdout."""
    print(PROGRESS_PREFIX + json.dumps(event), flush=True)


# ---------------------------------------------------------------------- growing the model
def grow_vocabulary(old: Vocabulary, glosses: Sequence[str]) -> Vocabulary:
    """``old``'s glosses in their order (class ids kept), then the new ones, sorted."""
    new = sorted(set(glosses) - set(old.glosses))
    return Vocabulary(old.glosses + tuple(new))


def grow_state(
    state: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor], old_classes: int
) -> dict[str, torch.Tensor]:
    """``state`` of a model with ``old_classes`` outputs, fitted into a model with more.

    ``fresh`` is the state of a newly built model with the grown output: every tensor whose
    shape differs (the output layer's weight ``(C, H[, 1])`` and bias ``(C,)``) takes its first
    ``old_classes`` rows from ``state`` and the rest from ``fresh``; the new rows' biases start
    at the mean of the old glosses' biases (not the blank's), so a new gloss is neither
    favoured nor buried at the start.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in fresh.items():
        old = state[key]
        if old.shape == value.shape:
            out[key] = old.clone()
            continue
        if old.shape[1:] != value.shape[1:] or old.shape[0] != old_classes:
            raise TeachError(f"cannot grow {key}: {tuple(old.shape)} -> {tuple(value.shape)}")
        grown = value.clone()
        grown[:old_classes] = old
        if grown.ndim == 1 and old_classes > 1:
            grown[old_classes:] = old[BLANK + 1 :].mean()
        out[key] = grown
    return out


# ---------------------------------------------------------------------- data
def _resolve(path: str) -> Path | None:
    """A dataset path from a checkpoint's config: as given, or relative to the repository."""
    for p in (Path(path), REPO / path):
        if (p / "dataset.json").is_file():
            return p
    return None


def _random_sentences(
    pool: SamplePool, count: int, max_glosses: int, rng: np.random.Generator
) -> list[tuple[str, ...]]:
    """``count`` random gloss sequences, each signable by one signer of ``pool``."""
    signers = [s for s in pool.signers if pool.glosses(s)]
    out = []
    for _ in range(count):
        signer = signers[int(rng.integers(len(signers)))]
        glosses = sorted(pool.glosses(signer))
        n = int(rng.integers(1, max_glosses + 1))
        out.append(tuple(glosses[int(i)] for i in rng.integers(len(glosses), size=n)))
    return out


class TeachData:
    """The person's samples and, where available, the original training samples."""

    def __init__(self, recordings: Path, ck: Checkpoint, config: TeachConfig) -> None:
        self.config = config
        self.spec = ck.config.feature_spec
        self.idle = ck.config.data.idle_gloss
        try:
            user = Dataset(recordings)
        except SignStreamError as e:
            raise TeachError(f"recordings: {e}") from e
        isolated = [i.index for i in user.infos if len(i.glosses) == 1]
        self.user_samples = collect_samples(user, isolated)
        glosses = set(self.user_samples) - {self.idle}
        if not glosses:
            raise TeachError(
                f"{recordings}: no recorded signs to learn from (record a few samples first)"
            )
        self.vocab = grow_vocabulary(ck.vocab, sorted(glosses))
        self.new_glosses = tuple(g for g in self.vocab.glosses if g not in ck.vocab)
        self.user_pool = SamplePool(self.user_samples, self.idle)
        self.counts: Counter[str] = Counter(
            {g: len(v) for g, v in self.user_samples.items() if g != self.idle}
        )
        self.old_pool: SamplePool | None = None
        self.grammar: Grammar | None = None
        old_root = _resolve(ck.config.data.dataset)
        if old_root is not None and config.old_fraction > 0:
            self._load_old(Dataset(old_root), ck)
        self.synthesis = SynthesisConfig(fps=self.spec.fps, idle_gloss=self.idle)

    def _load_old(self, old: Dataset, ck: Checkpoint) -> None:
        data = ck.config.data
        held_out = set(data.test_signers)
        wanted = set(ck.vocab.glosses) | {self.idle}
        indices = [
            i.index
            for i in old.infos
            if len(i.glosses) == 1 and i.signer not in held_out and i.gloss in wanted
        ]
        samples = collect_samples(old, indices)
        if not set(samples) - {self.idle}:
            return
        self.old_pool = SamplePool(samples, self.idle)
        for g, v in samples.items():
            if g != self.idle:
                self.counts[g] += len(v)
        grammar_path = _resolve_file(data.grammar)
        if grammar_path is not None:
            self.grammar = load_grammar(grammar_path)

    @property
    def num_user_samples(self) -> int:
        return sum(len(v) for g, v in self.user_samples.items() if g != self.idle)

    def _old_sentences(self, count: int, rng: np.random.Generator) -> list[tuple[str, ...]]:
        pool = self.old_pool
        assert pool is not None
        out: list[tuple[str, ...]] = []
        if self.grammar is not None:
            for _ in range(count * 20):
                if len(out) == count:
                    break
                s = tuple(self.grammar.sample(rng))
                if s and all(g in self.vocab for g in s) and pool.signers_for(s):
                    out.append(s)
        if len(out) < count:  # no grammar, or one these samples cannot sign
            out += _random_sentences(pool, count - len(out), self.config.max_glosses, rng)
        return out

    def epoch(self, epoch: int) -> list[Example]:
        """This epoch's sentences (new every epoch, a pure function of seed and epoch)."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, epoch])
        n_user = cfg.user_sentences or max(
            MIN_USER_SENTENCES, SENTENCES_PER_SAMPLE * self.num_user_samples
        )
        # held still before and after, as a person is before and after signing: recordings
        # often hold no resting takes, and without still edges the model would only learn to
        # emit a gloss between other glosses, not after a sign alone (as the app sees it)
        seqs: list[LandmarkSequence] = [
            hold_edges(s, float(rng.uniform(*USER_HOLD_S)))
            for s in synthesize(
                self.user_pool,
                _random_sentences(self.user_pool, n_user, cfg.max_glosses, rng),
                self.synthesis,
                seed=cfg.seed * 1009 + epoch,
            )
        ]
        if self.old_pool is not None:
            n_old = round(n_user * cfg.old_fraction / (1.0 - cfg.old_fraction))
            seqs += synthesize(
                self.old_pool,
                self._old_sentences(n_old, rng),
                self.synthesis,
                seed=cfg.seed * 1009 + epoch + 500_000,
            )
        return [features_of(s, self.spec, self.vocab) for s in seqs]

    def user_isolated(self) -> list[Example]:
        """Each training sample of the person alone, for the fit check at the end: its edges
        held as :meth:`training.data.sentences.SentenceData.isolated` does (a model with
        lookahead needs frames after a sign to emit it)."""
        return [
            clip_example(seq, self.spec, self.vocab)
            for g, items in sorted(self.user_samples.items())
            if g != self.idle
            for _, seq in items
        ]


def _resolve_file(path: str) -> Path | None:
    for p in (Path(path), REPO / path):
        if p.is_file():
            return p
    return None


# ---------------------------------------------------------------------- the run
def _export_shape(init: Path, config: TeachConfig) -> tuple[int | None, int, str | None]:
    """Window, hop and display name of the ONNX model beside the checkpoint, if there is one."""
    window, hop, name = config.window, config.hop, None
    beside = init.with_suffix(".onnx")
    if beside.is_file():
        try:
            info = read_model_info(beside)
        except SignStreamError:
            info = None
        if info is not None:
            window = window if window is not None else info.window
            hop = hop if hop is not None else info.hop
            name = info.name
    return window, hop if hop is not None else 16, name


@contextlib.contextmanager
def _sigterm_blocked() -> Iterator[None]:
    """No SIGTERM between the two final renames: both files appear, or neither."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no SIGTERM delivery to defer
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _add_training_counts(path: Path, counts: Counter[str], extra: dict[str, Any]) -> None:
    """Put the sample count of every gloss into the model's ``training_data`` metadata."""
    proto = onnx.load(str(path))
    props = {p.key: p for p in proto.metadata_props}
    entry = props.get("training_data")
    data = json.loads(entry.value) if entry is not None else {}
    data.update(extra)
    data["sample_counts"] = dict(sorted(counts.items()))
    if entry is None:
        entry = proto.metadata_props.add()
        entry.key = "training_data"
    entry.value = json.dumps(data)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))


def fine_tuned(
    recordings: Path, ck: Checkpoint, config: TeachConfig, report: Report, name: str
) -> tuple[Checkpoint, TeachData, float]:
    """``ck`` fine-tuned on ``recordings``, nothing written: the new checkpoint (named
    ``name``), the data it learnt from and its greedy accuracy on the person's samples."""
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    data = TeachData(recordings, ck, config)
    old_classes = ck.vocab.num_classes
    spec = ModelSpec(ck.spec.family, ck.spec.in_dim, data.vocab.num_classes, ck.spec.config)
    torch.manual_seed(config.seed)
    model = model_from_spec(spec)
    model.load_state_dict(grow_state(ck.state, model.state_dict(), old_classes))
    report(
        {
            "stage": "data",
            "fraction": 0.0,
            "message": f"{data.num_user_samples} recorded samples, new glosses: "
            + (", ".join(data.new_glosses) or "none")
            + ("" if data.old_pool is not None else " (original training data not found)"),
            "new_glosses": list(data.new_glosses),
        }
    )
    history = _fine_tune(model, data, config, report)
    fit = _fit_accuracy(model, data.user_isolated(), data.vocab)
    new_config: TrainConfig = replace(ck.config, name=name)
    new_ck = Checkpoint(
        new_config, spec, data.vocab, model.state_dict(), ck.epoch + config.epochs,
        ck.best_wer, ck.history + history,
    )  # fmt: skip
    return new_ck, data, fit


def teach(
    recordings: str | os.PathLike[str],
    init: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: TeachConfig = TeachConfig(),  # frozen: a shared default is safe
    report: Report = print_progress,
) -> TeachResult:
    """Fine-tune ``init`` on ``recordings`` and write ``out`` (ONNX) and its ``.pt`` beside it."""
    t0 = time.perf_counter()
    recordings, init, out = Path(recordings), Path(init), Path(out)
    report({"stage": "data", "fraction": 0.0, "message": "reading recordings"})
    try:
        ck = load_checkpoint(init)
    except (ValueError, FileNotFoundError) as e:
        raise TeachError(f"--init: {e}") from e
    new_ck, data, fit = fine_tuned(recordings, ck, config, report, name=out.stem)
    report({"stage": "export", "fraction": 0.92, "message": f"fit on your samples {fit:.0%}"})

    window, hop, base_name = _export_shape(init, config)
    name = config.name or out.stem
    metadata = {
        "taught_from": str(init),
        "base_model": base_name or ck.config.name,
        "user_recordings": str(recordings),
        "new_glosses": list(data.new_glosses),
        "fit_accuracy": fit,
    }
    takes = {g: [seq for _, seq in items] for g, items in data.user_samples.items()}
    base, _ = previews_of(init.with_suffix(".onnx"))  # none: only the person's takes
    previews = taught_previews(takes, base, data.vocab.glosses)
    pt = _write_model(new_ck, out, window, hop, name, data.counts, metadata, previews)
    seconds = time.perf_counter() - t0
    result = TeachResult(
        out, pt, data.vocab.glosses, data.new_glosses, data.num_user_samples, fit, seconds
    )
    report(
        {
            "stage": "done",
            "fraction": 1.0,
            "onnx": str(out),
            "checkpoint": str(pt),
            "new_glosses": list(data.new_glosses),
            "fit_accuracy": fit,
            "seconds": round(seconds, 1),
        }
    )
    return result


def _fine_tune(
    model: nn.Module, data: TeachData, config: TeachConfig, report: Report
) -> list[dict[str, Any]]:
    """Train ``model`` on the loop for ``config.epochs``, reporting every step; the history."""
    # a constant rate: a short fine-tune from trained weights needs no warm-up or decay
    schedule = Schedule(
        epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
        warmup_fraction=0.0, min_lr_fraction=1.0, grad_clip=config.grad_clip, seed=config.seed,
    )  # fmt: skip
    first = data.epoch(0)  # its size gives the schedule's length
    steps_in: dict[int, int] = {}  # steps of each epoch (the progress bar's fraction)

    def epoch_batches(epoch: int) -> Iterator[Batch]:
        examples = first if epoch == 0 else data.epoch(epoch)
        steps_in[epoch] = math.ceil(len(examples) / config.batch_size)
        generator = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
        return batches(examples, config.batch_size, generator)

    def loss(batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        return ctc_loss(model(batch.x, batch.lengths).logits, batch), {}

    def on_step(epoch: int, step: int, steps: int, value: float) -> None:
        steps = steps_in[epoch]
        done = (epoch + (step + 1) / steps) / config.epochs
        report(
            {
                "stage": "train", "epoch": epoch + 1, "epochs": config.epochs,
                "step": step + 1, "steps": steps, "loss": round(value, 4),
                # training is most of the time; data and export share the last 10%
                "fraction": round(0.9 * done, 4),
            }
        )  # fmt: skip

    loop = Loop(model, schedule, math.ceil(len(first) / config.batch_size))
    state = loop.run(epoch_batches, loss, on_step=on_step, log=None)
    return [{k: h[k] for k in ("epoch", "loss") if k in h} for h in state.history]


@torch.no_grad()
def _fit_accuracy(model: nn.Module, examples: Sequence[Example], vocab: Vocabulary) -> float:
    """Share of ``examples`` the model decodes exactly (greedy, the engine's decoder)."""
    if not examples:
        return 0.0
    decoder = GlossDecoder(vocab)
    lps = predict(model, examples, torch.device("cpu"))
    return sum(
        decoder.decode(lp).glosses == e.glosses for lp, e in zip(lps, examples, strict=True)
    ) / len(examples)


def _write_model(
    ck: Checkpoint, out: Path, window: int | None, hop: int, name: str,
    counts: Counter[str], metadata: dict[str, Any], previews: Previews,
) -> Path:  # fmt: skip
    """``out`` (ONNX), its ``.pt`` and its previews beside it, all or none: staged, then
    renamed with SIGTERM held off (a cancelled teach never leaves half a model); the ONNX
    comes last, so the app never lists a model whose other files are not there yet."""
    from training.export import export_onnx  # onnxscript is slow to import: only when needed

    pt = out.with_suffix(".pt")
    staged_onnx = out.with_name(f".{out.stem}.teach-{os.getpid()}.onnx")
    staged_pt = out.with_name(f".{out.stem}.teach-{os.getpid()}.pt")
    staged_previews = out.with_name(f".{out.stem}.teach-{os.getpid()}.previews.npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        export_onnx(ck, staged_onnx, window, hop, name)
        _add_training_counts(staged_onnx, counts, metadata)
        save_checkpoint(staged_pt, ck)
        save_previews(previews, staged_previews)
        with _sigterm_blocked():
            os.replace(staged_previews, previews_path(out))
            os.replace(staged_pt, pt)
            os.replace(staged_onnx, out)
    finally:
        for staged in (staged_onnx, staged_pt, staged_previews):
            staged.unlink(missing_ok=True)
    return pt


# ---------------------------------------------------------------------- command line
def _terminate(signum: int, frame: object) -> None:
    # raised in the main thread: `finally` blocks run and remove the staged files
    raise SystemExit(SIGTERM_EXIT)


def run_teach_command(args: Any, overrides: list[str]) -> int:
    """``signstream train teach`` (parsed in :mod:`training.cli`)."""
    if overrides:
        raise SystemExit(f"signstream train teach: unknown options {' '.join(overrides)}")
    signal.signal(signal.SIGTERM, _terminate)
    given = {
        "epochs": args.epochs, "user_sentences": args.user_sentences,
        "old_fraction": args.old_fraction, "lr": args.lr, "window": args.window, "hop": args.hop,
        "name": args.name, "seed": args.seed, "threads": args.threads,
    }  # fmt: skip
    # options not given keep TeachConfig's defaults (the parser does not import torch for them)
    base = CALIBRATION if args.calibrate else TeachConfig()
    config = replace(base, **{k: v for k, v in given.items() if v is not None})
    result = teach(args.recordings, args.init, args.out, config)
    print(
        f"{result.onnx}: {len(result.vocabulary)} glosses ({len(result.new_glosses)} new), "
        f"fit on your {result.user_samples} samples {result.fit_accuracy:.0%}, "
        f"{result.seconds:.0f} s",
        file=sys.stderr,
    )
    return 0
