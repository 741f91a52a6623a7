"""A dataset of synthesised sentences (``signstream data synth``): sentences drawn from a
grammar or a list, rendered from one dataset's isolated samples (:mod:`training.data.synthesis`)
and appended to another dataset in shards."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.dataset import Dataset
from engine.landmarks import LandmarkSequence
from training.data.grammar import Grammar, Sentence
from training.data.synthesis import (
    DEFAULT_CONFIG,
    SENTENCE_STREAM,
    SamplePool,
    SynthesisConfig,
    SynthesisError,
    collect_samples,
    synthesize,
)

__all__ = ["SynthesisReport", "synthesize_dataset"]

SHARD_SEQUENCES = 500  # sentences per appended shard (~85 MB of asl-coffee sentences)
# Sentences drawn per sentence wanted before giving up on a grammar the samples cannot render.
MAX_DRAWS_PER_SENTENCE = 50


@dataclass
class SynthesisReport:
    """What :func:`synthesize_dataset` did."""

    written: int = 0  # sentences appended
    frames: int = 0  # frames appended
    distinct: int = 0  # distinct sentences among those written
    per_signer: dict[str, int] = field(default_factory=dict)  # sentences per signer
    redrawn: int = 0  # drawn sentences no selected signer could sign (replaced by others)
    missing_glosses: tuple[str, ...] = ()  # sentence glosses without any sample of the signers
    signers_without_idle: tuple[str, ...] = ()  # their sentences have no pauses
    seconds: float = 0.0  # wall time

    def summary(self) -> str:
        who = ", ".join(f"{s or '<unknown>'} {n}" for s, n in self.per_signer.items())
        lines = [
            f"wrote {self.written} sentences ({self.distinct} distinct, {self.frames} frames) "
            f"in {self.seconds:.1f} s; by signer: {who or '-'}"
        ]
        if self.redrawn:
            lines.append(f"  redrew {self.redrawn} sentences no selected signer could sign")
        if self.missing_glosses:
            lines.append(f"  no samples of: {', '.join(self.missing_glosses)}")
        if self.signers_without_idle:
            who = ", ".join(self.signers_without_idle)
            lines.append(f"  no idle samples (sentences without pauses) for: {who}")
        return "\n".join(lines)


def synthesize_dataset(
    source: Dataset,
    out: Dataset,
    sentences: Grammar | Sequence[Sentence],
    count: int,
    seed: int | None = None,
    signers: Iterable[str] | None = None,
    config: SynthesisConfig = DEFAULT_CONFIG,
    shard_sequences: int = SHARD_SEQUENCES,
    progress: Callable[[int, int], None] | None = None,
) -> SynthesisReport:
    """Synthesise ``count`` sentences from ``source``'s isolated samples into ``out``.

    Only samples of ``signers`` (default: every signer) are used, so a held-out signer never
    leaks into training sentences. Sentences come from a grammar (sampled) or a list (drawn
    uniformly), both with the random stream ``(seed, 1)``; a drawn sentence that no selected
    signer can sign on their own is replaced by another draw (counted in the report).
    ``progress(done, count)`` is called after each shard. Raises :class:`SynthesisError`
    for an unknown signer, no renderable sentence, or sources ``out`` already holds.
    """
    t0 = time.perf_counter()
    s = config.seed if seed is None else seed
    chosen, vocabulary = _check_request(source, sentences, count, s, signers, config)
    wanted = vocabulary | {config.idle_gloss}
    indices = [
        info.index
        for info in source.infos
        if info.signer in chosen and len(info.glosses) == 1 and info.glosses[0] in wanted
    ]
    pool = SamplePool(collect_samples(source, indices, wanted), config.idle_gloss)
    report = SynthesisReport(
        missing_glosses=tuple(sorted(vocabulary - pool.glosses())),
        signers_without_idle=tuple(x for x in pool.signers if not pool.has_idle(x)),
    )

    drawn = _draw(sentences, count, s, pool, chosen, report)
    planned = {f"synth:{s}:{i}" for i in range(count)}
    clash = planned & out.sources()
    if clash:
        raise SynthesisError(
            f"{out.root} already holds {len(clash)} sentences synthesised with seed {s}; "
            "choose another seed or output dataset"
        )

    _write(out, synthesize(pool, drawn, config, s), source, count, shard_sequences, report,
           progress)  # fmt: skip
    report.distinct = len(set(drawn))
    report.seconds = time.perf_counter() - t0
    return report


def _check_request(
    source: Dataset, sentences: Grammar | Sequence[Sentence], count: int, seed: int,
    signers: Iterable[str] | None, config: SynthesisConfig,
) -> tuple[set[str], set[str]]:  # fmt: skip
    """``(signers chosen, the sentences' glosses)``, or a :class:`SynthesisError` saying
    what is wrong with the request."""
    if count < 0 or seed < 0:
        raise ValueError("count and seed must be >= 0")
    infos = source.infos
    known = sorted({info.signer for info in infos})
    if isinstance(signers, str):  # "alex" would otherwise be the signers a, l, e, x
        raise SynthesisError(f"signers must be a list of names, got the string {signers!r}")
    chosen = set(known) if signers is None else set(signers)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise SynthesisError(
            f"{source.root}: no samples of signer(s) {', '.join(unknown)}; "
            f"the signers are: {', '.join(s or '<unknown>' for s in known)}"
        )
    if isinstance(sentences, Grammar):
        vocabulary = set(sentences.terminals())
    else:
        vocabulary = {g for sent in sentences for g in sent}
        if not sentences:
            raise SynthesisError("no sentences to draw from")
    if config.idle_gloss in vocabulary:
        raise SynthesisError(f"the idle gloss {config.idle_gloss!r} cannot be in sentences")

    return chosen, vocabulary


def _draw(
    sentences: Grammar | Sequence[Sentence], count: int, seed: int, pool: SamplePool,
    chosen: set[str], report: SynthesisReport,
) -> list[Sentence]:  # fmt: skip
    """The sentences to render, drawn first: the renderable ones, in draw order."""
    rng = np.random.default_rng([seed, SENTENCE_STREAM])
    drawn: list[Sentence] = []
    max_draws = MAX_DRAWS_PER_SENTENCE * count + 1000
    draws = 0
    while len(drawn) < count:
        if draws >= max_draws:
            missing = ", ".join(report.missing_glosses)
            raise SynthesisError(
                f"only {len(drawn)} of {draws} drawn sentences can be signed by one of "
                f"{', '.join(sorted(chosen)) or 'nobody'}"
                + (f"; no samples of: {missing}" if missing else "")
            )
        draws += 1
        if isinstance(sentences, Grammar):
            sent = sentences.sample(rng)
        else:
            sent = tuple(sentences[int(rng.integers(len(sentences)))])
        if pool.signers_for(sent):
            drawn.append(sent)
        else:
            report.redrawn += 1

    return drawn


def _write(
    out: Dataset, rendered: Iterable[LandmarkSequence], source: Dataset, count: int,
    shard_sequences: int, report: SynthesisReport, progress: Callable[[int, int], None] | None,
) -> None:  # fmt: skip
    """Append the rendered sentences to ``out`` in shards of ``shard_sequences``."""
    per_signer: Counter[str] = Counter()
    batch: list[LandmarkSequence] = []
    for seq in rendered:
        seq = seq.replace(extra={**seq.extra, "source_dataset": str(source.root)})
        batch.append(seq)
        per_signer[seq.signer] += 1
        report.frames += seq.num_frames
        if len(batch) >= shard_sequences:
            report.written += out.append(batch)
            batch = []
            if progress is not None:
                progress(report.written, count)
    if batch:
        report.written += out.append(batch)
        if progress is not None:
            progress(report.written, count)
    report.per_signer = dict(sorted(per_signer.items()))
