"""How a model does on people it never saw, person by person (the people dataset's folds).

A model trained with ``data.test_fold = k`` on ``data/people`` (:mod:`training.data.people`)
never saw the people of fold ``k``. For each of them:

* **isolated top-1**: each of their clips decided the way the app decides, as one gloss of the
  whole vocabulary or nothing (greedy CTC, the most confident gloss, the model's rejection of
  unknown signs); a rest clip is right when it gives nothing;
* **continuous WER with the LM**: sentences synthesised from that person's own clips (the
  grammar's that they can sign, and random orders of their words), beam search with the LM;
* **unknown signs**: their clips of signs the vocabulary lacks (``data/crowd-unknown``) in the
  half no training uses as distractors (:func:`training.data.people.unknown_half`), of which
  any gloss given is a false accept: signs the model never saw, from anyone.

Across people: the mean, the 10th percentile and the worst person; and per gloss, the recall
and what it is taken for.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.dataset import Dataset, SampleInfo
from engine.decoder import DecoderConfig, GlossDecoder
from training.data.grammar import Grammar, Sentence, load_grammar
from training.data.people import IDLE, UNSEEN, unknown_half
from training.data.registry import DATA_DIR, NOTHING
from training.data.sentences import features_of, random_sentence
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize
from training.evaluate import LoadedModel, known_only, load_for_eval
from training.generalise import decide_clips
from training.wer import corpus_wer

__all__ = ["PersonResult", "evaluate_fold", "summarise_people"]

SENTENCES_PER_PERSON = 20
GRAMMAR_SHARE = 0.5  # of a person's sentences drawn from the grammar (the rest: random orders)
MAX_DRAWS = 200  # grammar draws per wanted sentence before a person's sentence is random
PERSON_TARGET = 0.9  # issue 19: each person's HELLO and THANK-YOU right at least this often
TUTORIAL_WORDS = ("hello", "thank-you")  # the two words most of the crowd recorded
VARIANTS = (True, False)  # with the model's rejection of unknown signs, without it
_NAMES = {True: "rejection", False: "plain"}


@dataclass(frozen=True)
class PersonResult:
    """One held-out person's numbers."""

    signer: str
    dataset: str  # "asl-coffee" or "crowd"
    fold: int
    glosses: tuple[str, ...]  # the vocabulary glosses they recorded
    clips: int  # isolated clips (rest included)
    top1: float  # isolated: decision among all glosses or nothing
    sentences: int
    wer: float | None  # beam + LM on sentences of their own clips (None: none could be made)
    unknown_clips: int
    unknown_accepted: int  # of those, clips given a gloss
    recall: dict[str, float]  # per gloss they recorded (rest included as "-"): clips right


def _person_infos(dataset: Dataset, fold: int) -> dict[str, list[SampleInfo]]:
    people: dict[str, list[SampleInfo]] = defaultdict(list)
    for info in dataset.infos:
        if info.extra.get("fold") == str(fold) and len(info.glosses) == 1:
            people[info.signer].append(info)
    return dict(sorted(people.items()))


def _sentences(
    grammar: Grammar, glosses: frozenset[str], count: int, rng: np.random.Generator
) -> list[Sentence]:
    """``count`` sentences one person can sign: the grammar's where it has them, else random
    orders of their glosses (no gloss twice in a row)."""
    out: list[Sentence] = []
    wanted = round(count * GRAMMAR_SHARE)
    for _ in range(wanted * MAX_DRAWS):
        if len(out) == wanted:
            break
        s = grammar.sample(rng)
        if s and set(s) <= glosses:
            out.append(s)
    words = sorted(glosses)
    while len(out) < count and words:
        out.append(random_sentence(words, rng))
    return out


def _person_wers(
    loaded: LoadedModel,
    dataset: Dataset,
    infos: Sequence[SampleInfo],
    grammar: Grammar,
    beam: GlossDecoder,
    count: int,
    seed: int,
) -> tuple[int, dict[bool, float | None]]:
    """Sentences made of one person's clips, and their WER with and without rejection."""
    vocab, spec = loaded.vocab, loaded.config.feature_spec
    keep = set(vocab.glosses) | {IDLE}
    pool = SamplePool(collect_samples(dataset, [i.index for i in infos if i.gloss in keep]), IDLE)
    sentences = _sentences(grammar, pool.glosses(), count, np.random.default_rng(seed))
    if not sentences:
        return 0, dict.fromkeys(VARIANTS)
    config = SynthesisConfig(fps=spec.fps, idle_gloss=IDLE)
    examples = [features_of(s, spec, vocab) for s in synthesize(pool, sentences, config, seed)]
    pairs: dict[bool, list[tuple[list[str], list[str]]]] = {v: [] for v in VARIANTS}
    for e, (lp, emb) in zip(examples, loaded.outputs(examples), strict=True):
        r = beam.decode(lp)
        for reject in VARIANTS:
            kept = known_only(r, lp, emb, loaded.rejector if reject else None, vocab)
            pairs[reject].append((list(e.glosses), list(kept.glosses)))
    return len(sentences), {v: corpus_wer(pairs[v]).wer for v in VARIANTS}


def _seed(signer: str) -> int:
    return int(hashlib.sha1(signer.encode()).hexdigest()[:8], 16)


def evaluate_fold(
    model: str | Path,
    fold: int,
    lm: str | Path | None,
    alpha: float,
    grammar: str | Path,
    data_dir: Path = DATA_DIR,
    sentences_per_person: int = SENTENCES_PER_PERSON,
) -> dict[str, Any]:
    """Every held-out person of ``fold``, with the model's rejection of unknown signs
    (``"rejection"``) and without it (``"plain"``; the same where the model has none): the
    :class:`PersonResult` rows and the clip decisions behind the per-gloss table
    (``confusions``: wanted gloss -> given gloss -> clips)."""
    loaded = load_for_eval(model)
    vocab = loaded.vocab
    people_ds = Dataset(data_dir / "people")
    unknown_ds = Dataset(data_dir / "crowd-unknown")
    # the half trained on as distractors would flatter the model (it saw those signs)
    unknown_people = {
        s: unseen
        for s, infos in _person_infos(unknown_ds, fold).items()
        if (unseen := [i for i in infos if unknown_half(i.gloss) == UNSEEN])
    }
    gram = load_grammar(grammar)
    beam = GlossDecoder(
        vocab, None if lm is None else str(lm), DecoderConfig(method="beam", alpha=alpha)
    )
    rows: dict[bool, list[PersonResult]] = {v: [] for v in VARIANTS}
    confusions: dict[bool, dict[str, Counter[str]]] = {v: defaultdict(Counter) for v in VARIANTS}
    for signer, infos in _person_infos(people_ds, fold).items():
        clips = [i for i in infos if i.gloss in vocab or i.gloss == IDLE]
        want = [NOTHING if i.gloss == IDLE else i.gloss for i in clips]
        decisions = decide_clips(loaded, [people_ds[i.index] for i in clips])
        unknown = unknown_people.get(signer, [])
        strange = decide_clips(loaded, [unknown_ds[i.index] for i in unknown]) if unknown else []
        n_sent, wers = _person_wers(
            loaded, people_ds, clips, gram, beam, sentences_per_person, _seed(signer)
        )
        for reject in VARIANTS:
            given = [d.given(reject) for d in decisions]
            for w, g in zip(want, given, strict=True):
                confusions[reject][w or IDLE][g or IDLE] += 1
            rows[reject].append(
                PersonResult(
                    signer=signer,
                    dataset=clips[0].extra.get("dataset", "") if clips else "",
                    fold=fold,
                    glosses=tuple(sorted({w for w in want if w})),
                    clips=len(clips),
                    top1=float(np.mean([g == w for g, w in zip(given, want, strict=True)])),
                    sentences=n_sent,
                    wer=wers[reject],
                    unknown_clips=len(unknown),
                    unknown_accepted=sum(d.given(reject) != NOTHING for d in strange),
                    recall=_recall(want, given),
                )
            )
    beam.close()
    return {
        "fold": fold,
        "model": str(model),
        "alpha": alpha,
        "rejector": loaded.rejector is not None,
        **{
            _NAMES[v]: {
                "people": [asdict(r) for r in rows[v]],
                "confusions": {w: dict(c) for w, c in sorted(confusions[v].items())},
            }
            for v in VARIANTS
        },
    }


def _recall(want: Sequence[str], given: Sequence[str]) -> dict[str, float]:
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for w, g in zip(want, given, strict=True):
        total[w or IDLE] += 1
        right[w or IDLE] += w == g
    return {k: right[k] / n for k, n in sorted(total.items())}


def word_per_person(people: Sequence[PersonResult], gloss: str) -> dict[str, Any]:
    """One gloss across the people who recorded it: per-person recall's mean, 10th
    percentile, worst, and the share of people at or above :data:`PERSON_TARGET`."""
    recalls = np.array([p.recall[gloss] for p in people if gloss in p.recall])
    if not len(recalls):
        return {"people": 0}
    return {
        "people": len(recalls),
        "mean": float(recalls.mean()),
        "p10": float(np.percentile(recalls, 10)),
        "worst": float(recalls.min()),
        "at_target": float((recalls >= PERSON_TARGET).mean()),
    }


def summarise_people(folds: Sequence[dict[str, Any]], reject: bool = True) -> dict[str, Any]:
    """Pooled over folds (:func:`evaluate_fold`'s results), with the models' rejection of
    unknown signs or without it: per-person mean / 10th percentile / worst, per-gloss recall
    and confusions, unknown-sign false accepts and known-sign recall, WER mean."""
    variants = [f[_NAMES[reject]] for f in folds]
    people = [
        PersonResult(**{**p, "glosses": tuple(p["glosses"])}) for f in variants for p in f["people"]
    ]
    if not people:
        raise ValueError("no held-out people")
    top1 = np.array([p.top1 for p in people])
    worst = min(people, key=lambda p: p.top1)
    wers = [p.wer for p in people if p.wer is not None]
    confusions: dict[str, Counter[str]] = defaultdict(Counter)
    for f in variants:
        for w, given in f["confusions"].items():
            confusions[w].update(given)
    per_gloss = {
        w: {
            "clips": sum(c.values()),
            "recall": c[w] / max(1, sum(c.values())),
            "taken_for": dict(c.most_common(4)),
        }
        for w, c in sorted(confusions.items())
    }
    known_clips = sum(sum(c.values()) for w, c in confusions.items() if w != IDLE)
    known_right = sum(c[w] for w, c in confusions.items() if w != IDLE)
    unknown_clips = sum(p.unknown_clips for p in people)
    by_dataset = {
        d: float(np.mean([p.top1 for p in people if p.dataset == d]))
        for d in sorted({p.dataset for p in people})
    }
    return {
        "people": len(people),
        "top1_mean": float(top1.mean()),
        "top1_p10": float(np.percentile(top1, 10)),
        "worst": {"signer": worst.signer, "top1": worst.top1, "glosses": list(worst.glosses)},
        "top1_by_dataset": by_dataset,
        "wer_mean": float(np.mean(wers)) if wers else None,
        "known_recall": known_right / known_clips if known_clips else None,
        "unknown_clips": unknown_clips,
        "unknown_false_accept": (
            sum(p.unknown_accepted for p in people) / unknown_clips if unknown_clips else None
        ),
        "per_gloss": per_gloss,
        "tutorial_words": {g: word_per_person(people, g) for g in TUTORIAL_WORDS},
    }
