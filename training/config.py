"""Run configuration: frozen dataclasses, loaded from TOML files with ``--key=value`` overrides.

A run config is written once in ``training/configs/*.toml``; the resolved config (file +
overrides) is saved into every checkpoint and every exported model, so any result can be traced
to exactly what produced it.

Overrides use dotted paths: ``--optim.lr=3e-4 --model.family=bilstm --data.test_signers=["a"]``;
values are TOML literals (a bare word is taken as a string).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from engine.features import FeatureSpec

__all__ = [
    "DataConfig",
    "DistillConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "drop_retired",
    "load_config",
]

# asl-coffee's fingerspelled letters: not words of the coffee-shop vocabulary
ASL_COFFEE_LETTERS = tuple("bcdefghjklmnopqrstuvwxyz")


@dataclass(frozen=True)
class DataConfig:
    """Where the isolated signs come from and how sentences are made of them."""

    dataset: str = "data/asl-coffee"  # SignStream dataset of isolated signs (data import npz)
    grammar: str = "training/configs/coffee.grammar"  # sentences to synthesise
    test_signers: tuple[str, ...] = ("dmohazab",)  # held out: never seen in training
    # >= 0: hold out instead the people of this fold (a dataset whose samples carry
    # extra["fold"], e.g. data/people: training.data.people)
    test_fold: int = -1
    exclude_glosses: tuple[str, ...] = ASL_COFFEE_LETTERS  # not part of the vocabulary
    idle_gloss: str = "-"  # "not signing" samples: pauses in sentences, blank for CTC
    train_sentences: int = 2000  # sentences synthesised per epoch (new ones every epoch)
    dev_sentences: int = 300  # fixed dev sentences (from held-back samples of train signers)
    test_sentences: int = 500  # fixed test sentences (from the test signers only)
    dev_fraction: float = 0.1  # of each train signer's samples, held back for dev
    mirror_probability: float = 0.0  # chance a training sentence is mirrored
    augment: bool = False  # other people and cameras: training.data.augment.AugmentConfig()
    # with ``augment``: chance per hand and sentence that MediaPipe loses it for a burst of
    # frames (lengths drawn from the range); training.data.augment.AugmentConfig's defaults
    hand_dropout: float = 0.3
    hand_dropout_frames: tuple[int, int] = (2, 8)
    # datasets of OTHER vocabularies: their signs are attached before or after training
    # sentences, labelled nothing, so that the model learns to reject signs it does not know
    # (glosses whose name is in the vocabulary are left out of them)
    distractors: tuple[str, ...] = ()
    distractor_probability: float = 0.0  # chance a training sentence gets one attached
    # pauses in TRAINING sentences (dev/test keep the synthesis defaults, so that scores stay
    # comparable): a held-out signer's rest looks like nobody's in training, and every frame of
    # it the model sees as blank teaches it that ordinary movement is not a sign
    idle_between: float = 0.15  # chance of a pause between two signs
    idle_seconds: tuple[float, float] = (0.2, 0.8)  # (min, max) length of one pause
    idle_sentences: float = 0.0  # share of training sentences that are only a pause (no label)
    # share of training sentences whose glosses are drawn at random, in any order and number
    # (1 to RANDOM_SENTENCE_MAX): the grammar's orders stop being learned as part of a sign
    # (with "can i get" always together, a lone I decoded as I GET and a lone CAN as nothing);
    # word order is the language model's job
    random_sentences: float = 0.0
    # how a random sentence is drawn: "signer" (any training signer alike, then their glosses)
    # or "gloss" (a gloss of the vocabulary alike, a signer who signed it, and more of their
    # glosses around it): with two hundred people who mostly signed HELLO beside two who signed
    # the coffee words, drawing people alike leaves the rarer glosses almost unseen
    random_draw: str = "signer"
    seed: int = 0  # sentences, splits and rendering derive from it


@dataclass(frozen=True)
class ModelConfig:
    family: str = "mobilenet1d"  # a family of training.models (students, teachers)
    preset: str = "small"  # tiny | small | full
    overrides: dict[str, Any] = field(default_factory=dict)  # family config fields to change


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_size: int = 32
    lr: float = 2e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05  # of all steps, linear warm-up before the cosine decay
    min_lr_fraction: float = 0.02  # the cosine decays to lr * this
    grad_clip: float = 1.0  # max global gradient norm
    patience: int = 8  # epochs without a better dev WER before stopping
    amp: bool = True  # mixed precision (bf16) on CUDA; ignored on the CPU
    num_threads: int = 0  # torch CPU threads (0: torch's default)


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation (``signstream train distill``); empty teachers = no distillation."""

    teachers: tuple[str, ...] = ()  # teacher checkpoints (several: multi-teacher)
    teacher_weights: tuple[float, ...] = ()  # weight per teacher (default: equal)
    alpha: float = 0.7  # weight of the soft loss (frame KL at temperature T, times T^2)
    beta: float = 0.3  # weight of the hard loss (CTC on the labels)
    gamma: float = 0.0  # weight of the feature loss (MSE through a learned projection)
    # temperature per stage: the epochs are split evenly between the values (4 -> 3.5 -> 3)
    temperatures: tuple[float, ...] = (3.0,)
    student_init: str = ""  # checkpoint to start the student from (e.g. the baseline student)


@dataclass(frozen=True)
class TrainConfig:
    name: str = "run"  # run folder name under out_dir
    out_dir: str = "runs"  # where checkpoints and logs go
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    features: dict[str, Any] = field(default_factory=lambda: FeatureSpec().to_dict())
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0  # model init and batch order

    @property
    def feature_spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.features)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Coerce a TOML value to the annotated type (tuples from lists, floats from ints)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a table")
        return config_from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        (inner, *_) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ValueError(f"{where} must be a list")
        return tuple(_convert(inner, v, where) for v in value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ValueError(f"{where} must be {tp.__name__}, got {value!r}")
    return value


def config_from_dict(cls: type[Any], d: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a nested dict, refusing unknown keys (typos)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{where}: unknown settings {sorted(unknown)}; known: {sorted(names)}")
    return cls(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in d.items()})


# Settings removed once measured as not helping (docs/experiments/): a checkpoint saved with one
# of them at its "off" value still loads; one trained with it on is refused, since the code that
# gave it meaning is gone.
RETIRED_SETTINGS: dict[tuple[str, str], Any] = {
    ("data", "augment_people"): False,  # docs/experiments/people-augmentation.md
    ("model", "encoder_init"): "",  # docs/experiments/pretraining.md
    ("optim", "ema_decay"): 0.0,  # docs/experiments/weight-average.md
}
RETIRED_TABLES = {"cotrain": "datasets"}  # docs/experiments/cotraining.md: off when empty


def drop_retired(d: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """``d`` (a saved run config) without the retired settings (``ValueError`` if one is on)."""
    out = _deep_copy(d)
    for (table, key), off in RETIRED_SETTINGS.items():
        node = out.get(table)
        if isinstance(node, dict) and key in node and node.pop(key) != off:
            raise ValueError(f"{where}: trained with {table}.{key}, a removed setting")
    for table, key in RETIRED_TABLES.items():
        if table in out and out.pop(table).get(key):
            raise ValueError(f"{where}: trained with {table}.{key}, a removed setting")
    return out


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["optim.lr=1e-3", ...]`` applied to a nested dict (copied)."""
    out = _deep_copy(d)
    for item in overrides:
        key, sep, text = item.removeprefix("--").partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p} is not a table")
        node[last] = _parse_value(text)
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:  # type: ignore[assignment]
    """TrainConfig from a TOML file (or the defaults) plus overrides."""
    d: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    return config_from_dict(TrainConfig, apply_overrides(d, list(overrides)))  # type: ignore[no-any-return]
