"""Training data for CTC: synthesised sentences of real signs, as features and gloss labels.

The splits are by signer (the test signers' samples never reach training); each train signer's
samples are further split into train and dev samples so early stopping has data the model did
not fit. Training sentences are rendered anew every epoch (new sentences, new samples, new
stretches), deterministically from ``(seed, epoch)``, so a resumed run sees the same data as an
uninterrupted one.

Features come from :func:`engine.features.compute_features` with the run's feature spec: the
one preprocessing path the live engine uses too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from engine.dataset import Dataset, SampleInfo
from engine.decoder import DecodeResult
from engine.features import FeatureSpec, compute_features
from engine.landmarks import GROUP_INDEX, NUM_POINTS, LandmarkSequence, lacking_points
from engine.resample import resample
from engine.vocabulary import Vocabulary
from training.config import DataConfig
from training.data.augment import AugmentConfig, augment
from training.data.conditions import Condition
from training.data.grammar import Grammar, Sentence, load_grammar
from training.data.people import fold_signers
from training.data.splits import split_by_signer
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize

__all__ = [
    "Example",
    "SentenceData",
    "attach",
    "clip_choice",
    "clip_example",
    "features_of",
    "hold_edges",
]

# Draws of the grammar per wanted sentence before concluding the pool cannot sign it.
MAX_DRAWS = 50
# An isolated clip is evaluated with its first and last frames held this long before and after
# it: the clips are cut tightly (20 frames), and a streaming model with lookahead needs frames
# after a sign to emit it, as it has in live use.
ISOLATED_HOLD_S = 0.4
# Pause between a sentence and a distractor sign attached to it (seconds, min and max).
DISTRACTOR_GAP_S = (0.1, 0.5)
# Most glosses in a random training sentence (DataConfig.random_sentences).
RANDOM_SENTENCE_MAX = 4
RANDOM_DRAWS = ("signer", "gloss")  # DataConfig.random_draw


@dataclass(frozen=True)
class Example:
    features: npt.NDArray[np.float32]  # (T, F)
    labels: tuple[int, ...]  # class ids of the glosses (no blank)
    glosses: tuple[str, ...]
    signer: str


def features_of(seq: LandmarkSequence, spec: FeatureSpec, vocab: Vocabulary) -> Example:
    """One landmark sequence -> model input and labels."""
    return Example(
        features=compute_features(seq, spec).values,
        labels=tuple(vocab.encode(seq.glosses)),
        glosses=seq.glosses,
        signer=seq.signer,
    )


def hold_edges(seq: LandmarkSequence, seconds: float) -> LandmarkSequence:
    """``seq`` with its first and last frames repeated for ``seconds`` before and after."""
    n = max(1, round(seconds * seq.fps))
    idx = np.concatenate(
        [np.zeros(n, int), np.arange(seq.num_frames), np.full(n, seq.num_frames - 1)]
    )
    step = 1.0 / seq.fps
    t = seq.timestamps[0] + step * (np.arange(len(idx)) - n)
    return seq.replace(points=seq.points[idx], present=seq.present[idx], timestamps=t, spans=None)


def clip_example(seq: LandmarkSequence, spec: FeatureSpec, vocab: Vocabulary) -> Example:
    """An isolated clip as a model is run on it: its edges held :data:`ISOLATED_HOLD_S`, the
    clip's own glosses kept (label it before, e.g. ``seq.replace(glosses=())``)."""
    return features_of(hold_edges(seq, ISOLATED_HOLD_S), spec, vocab)


def clip_choice(result: DecodeResult) -> int | None:
    """Which gloss of an isolated clip's decoding the clip is taken to be: the most confident
    one (a clip holds one sign; CTC may add a weak neighbour); None: nothing, i.e. idle."""
    return int(np.argmax(result.confidences)) if result.glosses else None


def augmentation_for(data: DataConfig) -> AugmentConfig | None:
    """The augmentations a run's training data gets (None: none)."""
    if not data.augment:
        return None
    return replace(
        AugmentConfig(),
        hand_dropout=data.hand_dropout,
        hand_dropout_frames=data.hand_dropout_frames,
    )


def attach(
    seq: LandmarkSequence, other: LandmarkSequence, before: bool, gap_s: float
) -> LandmarkSequence:
    """``other`` joined before or after ``seq``, ``gap_s`` apart; ``seq``'s labels kept.

    ``other`` is moved so its mean shoulder centre is ``seq``'s (one person, one place in the
    picture) and resampled to ``seq``'s rate. Face points are dropped unless both have them.
    """
    other = resample(other, seq.fps)
    points = other.points.copy()
    a, b = seq.shoulder_centre(), other.shoulder_centre()
    if a is not None and b is not None:
        mask = other.point_mask() & ~lacking_points(other.points)  # lacking points stay zero
        points[..., :2] = np.where(mask[..., None], points[..., :2] + (a - b), 0.0)
    n_points = min(seq.points.shape[1], points.shape[1])
    parts = [points[:, :n_points], seq.points[:, :n_points]]
    flags = [other.present, seq.present]
    if not before:
        parts.reverse()
        flags.reverse()
    present = np.concatenate(flags)
    if n_points == NUM_POINTS:
        present[:, GROUP_INDEX["face"]] = False
    t_seq, t_other = seq.timestamps, other.timestamps - other.timestamps[0]
    if before:
        t_other = t_other + t_seq[0] - gap_s - t_other[-1]
        times = np.concatenate([t_other, t_seq])
    else:
        times = np.concatenate([t_seq, t_other + t_seq[-1] + gap_s])
    return seq.replace(
        points=np.ascontiguousarray(np.concatenate(parts), np.float32),
        present=present,
        timestamps=times,
        spans=None,
    )


def random_sentence(glosses: Sequence[str], rng: np.random.Generator) -> Sentence:
    """1 to :data:`RANDOM_SENTENCE_MAX` of ``glosses`` drawn at random, no gloss twice in a row
    (CTC could not tell a repeat from a held sign without a pause)."""
    drawn: list[str] = []
    for _ in range(int(rng.integers(1, RANDOM_SENTENCE_MAX + 1))):
        choices = [g for g in glosses if not drawn or g != drawn[-1]]
        if not choices:
            break
        drawn.append(choices[int(rng.integers(len(choices)))])
    return tuple(drawn)


def _with(sentence: Sentence, gloss: str, rng: np.random.Generator) -> Sentence:
    """``sentence`` with ``gloss`` in it, in the place of one of its glosses (or alone): no
    gloss twice in a row (CTC cannot tell a repeat from a held sign without a pause)."""
    if gloss in sentence:
        return sentence
    if not sentence:
        return (gloss,)
    words = list(sentence)
    words[int(rng.integers(len(words)))] = gloss
    return tuple(words) if all(a != b for a, b in itertools.pairwise(words)) else (gloss,)


def split_samples(
    infos: Sequence[SampleInfo], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Per (signer, gloss), hold back ``fraction`` of the samples: (train, dev) indices."""
    rng = np.random.default_rng([seed, 7])
    groups: dict[tuple[str, str], list[int]] = {}
    for info in infos:
        groups.setdefault((info.signer, info.gloss), []).append(info.index)
    train: list[int] = []
    dev: list[int] = []
    for key in sorted(groups):
        idx = np.array(groups[key])
        rng.shuffle(idx)
        n_dev = max(1, round(fraction * len(idx))) if len(idx) > 2 and fraction > 0 else 0
        dev += idx[:n_dev].tolist()
        train += idx[n_dev:].tolist()
    return sorted(train), sorted(dev)


def _distractors(dataset: Dataset, held_out: set[str], fold: int) -> Iterator[LandmarkSequence]:
    """A distractor set's clips but those of held-out people (by name, or by the fold a
    people dataset gave them): a training must not see the people it is measured on."""
    for info in dataset.infos:
        if info.signer in held_out or (fold >= 0 and info.extra.get("fold") == str(fold)):
            continue
        yield dataset[info.index]


class SentenceData:
    """The data of one run: vocabulary, sample pools, and sentence features per split."""

    def __init__(self, config: DataConfig, spec: FeatureSpec) -> None:
        self.config = config
        self.spec = spec
        self.dataset = Dataset(config.dataset)
        excluded = set(config.exclude_glosses)
        isolated = [
            i for i in self.dataset.infos if len(i.glosses) == 1 and i.gloss not in excluded
        ]
        held_out = config.test_signers
        if config.test_fold >= 0:
            held_out = fold_signers(isolated, config.test_fold)
            if not held_out:
                raise ValueError(f"{config.dataset}: no sample is in fold {config.test_fold}")
        split = split_by_signer(isolated, test_signers=list(held_out))
        by_index = {i.index: i for i in isolated}
        train_infos = [by_index[int(i)] for i in split.train]
        train_idx, dev_idx = split_samples(train_infos, config.dev_fraction, config.seed)
        test_idx = [int(i) for i in split.test]
        self.train_signers = tuple(sorted({by_index[i].signer for i in train_idx}))
        self.test_signers = tuple(sorted({by_index[i].signer for i in test_idx}))
        glosses = {by_index[i].gloss for i in train_idx} - {config.idle_gloss}
        self.vocab = Vocabulary.from_glosses(glosses)
        self.grammar: Grammar = load_grammar(config.grammar)
        self.synthesis = SynthesisConfig(
            fps=spec.fps,
            idle_gloss=config.idle_gloss,
            mirror_probability=config.mirror_probability,
            idle_between=config.idle_between,
            idle_seconds=config.idle_seconds,
        )
        fixed = SynthesisConfig(fps=spec.fps, idle_gloss=config.idle_gloss)
        self.pools = {
            "train": SamplePool(collect_samples(self.dataset, train_idx), config.idle_gloss),
            "dev": SamplePool(collect_samples(self.dataset, dev_idx), config.idle_gloss),
            "test": SamplePool(collect_samples(self.dataset, test_idx), config.idle_gloss),
        }
        self.isolated_test = test_idx
        self.distractors = [
            seq
            for path in config.distractors
            for seq in _distractors(Dataset(path), set(held_out), config.test_fold)
            if len(seq.glosses) == 1 and seq.glosses[0] not in self.vocab
        ]
        self._fixed_config = fixed
        self._cache: dict[str, list[Example]] = {}

    def _sentences(
        self, pool: SamplePool, count: int, rng: np.random.Generator
    ) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for _ in range(count * MAX_DRAWS):
            if len(out) == count:
                break
            sentence = tuple(self.grammar.sample(rng))
            if sentence and all(g in self.vocab for g in sentence) and pool.signers_for(sentence):
                out.append(sentence)
        if len(out) < count:
            raise ValueError(
                f"the grammar gave only {len(out)} of {count} sentences these signers can sign"
            )
        return out

    def _render(
        self,
        split: str,
        count: int,
        seed: int,
        config: SynthesisConfig,
        condition: Condition | None = None,
    ) -> list[Example]:
        pool = self.pools[split]
        sentences = self._sentences(pool, count, np.random.default_rng([seed, 1]))
        seqs = synthesize(pool, sentences, config, seed=seed)
        if condition is not None:
            seqs = (condition.apply(s, [seed, 6, i]) for i, s in enumerate(seqs))
        return [features_of(s, self.spec, self.vocab) for s in seqs]

    def train_epoch(self, epoch: int) -> list[Example]:
        """New training sentences for ``epoch`` (a pure function of seed and epoch)."""
        seed = self.config.seed * 100_003 + epoch
        pool = self.pools["train"]
        sentences = self._sentences(
            pool, self.config.train_sentences, np.random.default_rng([seed, 1])
        )
        if self.config.random_sentences > 0:
            sentences = self._randomised(sentences, pool, np.random.default_rng([seed, 5]))
        if self.config.idle_sentences > 0 and pool.signers_for(()):
            rest = np.random.default_rng([seed, 4]).random(len(sentences))
            sentences = [
                () if r < self.config.idle_sentences else s
                for r, s in zip(rest, sentences, strict=True)
            ]
        seqs = synthesize(pool, sentences, self.synthesis, seed=seed)
        if self.distractors and self.config.distractor_probability > 0:
            seqs = (
                self._with_distractor(s, np.random.default_rng([seed, 3, i]))
                for i, s in enumerate(seqs)
            )
        cfg = augmentation_for(self.config)
        if cfg is not None:
            seqs = (
                augment(s, cfg, np.random.default_rng([seed, 2, i])) for i, s in enumerate(seqs)
            )
        return [features_of(s, self.spec, self.vocab) for s in seqs]

    def _randomised(
        self, sentences: list[Sentence], pool: SamplePool, rng: np.random.Generator
    ) -> list[Sentence]:
        """``sentences`` with a share ``random_sentences`` of them replaced by a
        :func:`random_sentence` of the glosses one signer of ``pool`` signed (drawn as
        ``random_draw`` says)."""
        if self.config.random_draw not in RANDOM_DRAWS:
            raise ValueError(f"data.random_draw must be one of {RANDOM_DRAWS}")
        known = set(self.vocab.glosses)
        signers = [s for s in pool.signers if pool.glosses(s) & known]
        anchors = sorted(pool.glosses() & known)
        out = []
        for sentence in sentences:
            if not signers or rng.random() >= self.config.random_sentences:
                out.append(sentence)
                continue
            if self.config.random_draw == "signer":
                signer = signers[int(rng.integers(len(signers)))]
                out.append(random_sentence(sorted(pool.glosses(signer) & known), rng))
                continue
            anchor = anchors[int(rng.integers(len(anchors)))]
            who = [s for s in signers if anchor in pool.glosses(s)]
            signer = who[int(rng.integers(len(who)))]
            out.append(
                _with(random_sentence(sorted(pool.glosses(signer) & known), rng), anchor, rng)
            )
        return out

    def _with_distractor(self, seq: LandmarkSequence, rng: np.random.Generator) -> LandmarkSequence:
        """``seq``, or ``seq`` with a sign of another vocabulary before or after it."""
        if rng.random() >= self.config.distractor_probability:
            return seq
        other = self.distractors[int(rng.integers(len(self.distractors)))]
        return attach(
            seq, other, before=bool(rng.random() < 0.5), gap_s=rng.uniform(*DISTRACTOR_GAP_S)
        )

    def fixed(self, split: str, condition: Condition | None = None) -> list[Example]:
        """The dev or test sentences (the same every time); ``condition``: the same sentences
        as another webcam or signer shows them (:mod:`training.data.conditions`; e.g. ``mirrored``:
        a mirrored webcam or a left-handed signer)."""
        key = split if condition is None else f"{split}-{condition.name}"
        if key not in self._cache:
            count = self.config.dev_sentences if split == "dev" else self.config.test_sentences
            seed = self.config.seed * 100_003 + (900_001 if split == "dev" else 900_002)
            self._cache[key] = self._render(split, count, seed, self._fixed_config, condition)
        return self._cache[key]

    def isolated(self, split: str = "test") -> list[Example]:
        """Isolated samples of the split's signers (idle included, labelled with no gloss)."""
        idx = self.isolated_test if split == "test" else []
        out = []
        for i in idx:
            seq = self.dataset[i]
            gloss = seq.glosses[0]
            labelled = seq.replace(glosses=() if gloss == self.config.idle_gloss else seq.glosses)
            if all(g in self.vocab for g in labelled.glosses):
                out.append(clip_example(labelled, self.spec, self.vocab))
        return out
