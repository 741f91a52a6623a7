"""Build an n-gram gloss language model (ARPA, and KenLM binary) for the decoder.

Each gloss is one LM word. Sentences come from a gloss corpus (one sentence per line, glosses
separated by spaces) or are sampled from a sentence grammar (:mod:`training.data.grammar`).

Two backends give the same smoothing:

* ``lmplz``: KenLM's own estimator, used when ``.kenlm/bin/lmplz`` exists
  (``scripts/build_kenlm.sh`` builds it); ``build_binary`` then writes a binary ``.klm``
  that loads faster.
* ``own``: interpolated modified Kneser-Ney written here, following KenLM's ``lmplz``
  (Chen & Goodman 1998, eq. 26; Heafield et al. 2013) so that both write the same ARPA up to
  float rounding:

  - sentences are ``<s> w1 .. wk </s>``; the highest order keeps raw counts, and so does every
    lower-order n-gram that starts with ``<s>`` (nothing can precede it); other lower-order
    n-grams get *adjusted* counts: the number of distinct words seen to their left;
  - discounts D1, D2, D3+ per order from the count-of-counts t1..t4 of the adjusted counts,
    ``Y = t1 / (t1 + 2 t2)``, ``Dk = k - (k + 1) Y t(k+1) / tk``; where that is undefined or
    out of ``[0, k]`` (tiny or repetitive corpora, e.g. sampled from a grammar) the fallback
    discounts are used, as ``lmplz --discount_fallback`` does (default 0.5, 1, 1.5);
  - ``p(w | c) = (a(cw) - D(a(cw))) / sum_x a(cx) + gamma(c) p(w | c')`` with
    ``gamma(c) = (D1 N1(c.) + D2 N2(c.) + D3+ N3+(c.)) / sum_x a(cx)``; unigrams interpolate
    with the uniform distribution over the vocabulary (``</s>`` and ``<unk>`` included,
    ``<s>`` excluded); ``gamma(c)`` is the context's ARPA backoff weight.

The ARPA is written atomically (:mod:`engine.atomic`); a reader never sees half a model.

CLI: ``python -m training.lm --corpus FILE --out lm.arpa`` or
``--grammar FILE --samples 20000``; ``signstream train lm`` takes the same arguments.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from engine.atomic import atomic_path
from engine.errors import SignStreamError
from training.data.grammar import CaseMapping, load_grammar, read_gloss_corpus

__all__ = [
    "BOS",
    "DEFAULT_FALLBACK_DISCOUNTS",
    "DEFAULT_ORDER",
    "EOS",
    "KENLM_BIN",
    "UNK",
    "Backend",
    "KneserNeyModel",
    "LMBuildError",
    "LMBuildResult",
    "LMConfig",
    "add_lm_arguments",
    "build_lm",
    "estimate_kneser_ney",
    "find_kenlm_tool",
    "main",
    "perplexity",
    "run_lm_command",
    "sentences_from_corpus",
    "sentences_from_grammar",
    "write_arpa",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SPECIAL_WORDS = frozenset({BOS, EOS, UNK})
DEFAULT_ORDER = 3  # gloss corpora are small: trigrams are where most of the gain is
MIN_ORDER = 2  # KenLM refuses unigram models ("assumes at least a bigram model")
MAX_ORDER = 6  # KENLM_MAX_ORDER that scripts/build_kenlm.sh compiles in (and kenlm's module)
DEFAULT_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # D1, D2, D3+: lmplz --discount_fallback defaults
DEFAULT_LMPLZ_MEMORY = "200M"  # lmplz -S: its default (80% of RAM) costs seconds in page faults
# Where scripts/build_kenlm.sh installs lmplz/build_binary; $SIGNSTREAM_KENLM_BIN overrides.
KENLM_BIN = Path(__file__).resolve().parents[1] / ".kenlm" / "bin"
KENLM_COMPLAIN_NONE = 2  # lm::ngram::Config::NONE: no "build a binary file" note on stderr
ARPA_FLOAT = ".8g"  # digits of the ARPA numbers (lmplz writes float32: ~8 significant digits)

Backend = Literal["auto", "lmplz", "own"]
Sentence = tuple[str, ...]
NGram = tuple[str, ...]


class LMBuildError(SignStreamError):
    """A language model cannot be built: bad input sentences, failed discounts, lmplz errors."""


@dataclass(frozen=True)
class LMConfig:
    """How to build a gloss LM."""

    order: int = DEFAULT_ORDER  # n-gram order (2..6; KenLM cannot load unigram models)
    backend: Backend = "auto"  # auto: lmplz when .kenlm/bin/lmplz exists, else own
    # D1, D2, D3+ for orders whose discounts cannot be estimated (None: fail instead)
    fallback_discounts: tuple[float, float, float] | None = DEFAULT_FALLBACK_DISCOUNTS
    binary: bool = True  # also write a KenLM binary (.klm beside the ARPA) when build_binary exists
    lmplz_memory: str = DEFAULT_LMPLZ_MEMORY  # lmplz -S (sorting memory)

    def __post_init__(self) -> None:
        if not MIN_ORDER <= self.order <= MAX_ORDER:
            raise ValueError(f"order must be {MIN_ORDER}..{MAX_ORDER}, got {self.order}")
        if self.backend not in ("auto", "lmplz", "own"):
            raise ValueError(f"backend must be auto, lmplz or own, got {self.backend!r}")
        if self.fallback_discounts is not None:
            for k, d in enumerate(self.fallback_discounts, start=1):
                if not 0.0 <= d <= k:
                    raise ValueError(f"fallback discount D{k} must be in [0, {k}], got {d}")


@dataclass(frozen=True)
class LMBuildResult:
    """What :func:`build_lm` wrote and how."""

    arpa_path: Path  # the ARPA model
    binary_path: Path | None  # the KenLM binary, when build_binary was available and asked for
    backend: Literal["lmplz", "own"]  # the estimator actually used
    order: int  # n-gram order
    sentences: int  # training sentences
    tokens: int  # training glosses (without <s>, </s>)
    vocabulary: tuple[str, ...]  # distinct glosses, sorted
    ngram_counts: tuple[int, ...]  # n-grams per order as written in the ARPA header
    fallback_orders: tuple[int, ...]  # 1-based orders whose discounts fell back


@dataclass
class KneserNeyModel:
    """An estimated model: per order ``{ngram: (log10 prob, log10 backoff)}``."""

    order: int
    vocabulary: list[str]  # <unk>, <s>, </s>, then glosses in order of first appearance
    ngrams: list[dict[NGram, tuple[float, float]]]  # index n-1 holds the n-grams
    discounts: list[tuple[float, float, float]]  # D1, D2, D3+ per order
    fallback_orders: list[int] = field(default_factory=list)  # 1-based


# ---------------------------------------------------------------------- sentences
def _check_sentences(sentences: Iterable[Sequence[str]]) -> list[Sentence]:
    out: list[Sentence] = []
    for i, s in enumerate(sentences):
        sent = tuple(s)
        if not sent:
            continue
        bad = [g for g in sent if g in SPECIAL_WORDS or not g or any(c.isspace() for c in g)]
        if bad:
            raise LMBuildError(
                f"sentence {i + 1} has glosses an LM cannot hold: {bad} "
                f"({', '.join(sorted(SPECIAL_WORDS))} are reserved; no spaces inside glosses)"
            )
        out.append(sent)
    if not out:
        raise LMBuildError("no sentences to build a language model from")
    return out


def sentences_from_corpus(
    path: str | os.PathLike[str],
    vocabulary: Iterable[str] | None = None,
    case: CaseMapping = "keep",
) -> list[Sentence]:
    """Sentences of a gloss corpus (one per line), filtered to ``vocabulary`` when given."""
    return list(read_gloss_corpus(path, vocabulary, case).sentences)


def sentences_from_grammar(path: str | os.PathLike[str], n: int, seed: int = 0) -> list[Sentence]:
    """``n`` sentences sampled from a ``.grammar`` file (deterministic for a seed)."""
    if n < 1:
        raise ValueError(f"need at least one sample, got {n}")
    return load_grammar(path).sample_many(n, np.random.default_rng(seed))


# ---------------------------------------------------------------------- own estimator
def _adjusted_counts(sentences: Sequence[Sentence], order: int) -> list[dict[NGram, int]]:
    """Per order the n-grams and their counts as modified Kneser-Ney uses them (see module doc).

    Index ``n - 1`` holds order n. ``<s>`` alone is left out (it is never predicted).
    """
    top: Counter[NGram] = Counter()
    bos: list[Counter[NGram]] = [Counter() for _ in range(order)]  # <s>-initial, shorter than top
    for sent in sentences:
        toks = (BOS, *sent, EOS)
        for i in range(len(toks) - order + 1):
            top[toks[i : i + order]] += 1
        for n in range(2, min(order - 1, len(toks)) + 1):
            bos[n - 1][toks[:n]] += 1
    counts: list[dict[NGram, int]] = [{} for _ in range(order)]
    counts[order - 1] = dict(top)
    counts[order - 1].pop((BOS,), None)  # order 1 only: <s> is context, never a word
    for n in range(order - 1, 0, -1):
        # continuation counts: each distinct (n+1)-gram adds one left context to its suffix
        cont: Counter[NGram] = Counter(g[1:] for g in counts[n])
        cont.update(bos[n - 1])  # <s>-initial n-grams keep raw counts (keys never collide)
        counts[n - 1] = dict(cont)
    return counts


def _lmplz_stat_substitutes(
    sentences: Sequence[Sentence], order: int, vocabulary: Sequence[str]
) -> dict[int, tuple[NGram, int]]:
    """Per lower order n, the n-gram whose count lmplz puts in its count-of-counts raw.

    lmplz 0.3.0 (``AdjustCounts::Run``, the final flush) adds the n-grams still pending at the
    end of its suffix-sorted stream to the count-of-counts with their *raw* frequency instead
    of their adjusted count: one n-gram per lower order, the n-suffixes of the last padded
    top-order n-gram (word ids: <unk>, <s>, </s>, then order of first appearance). That moves
    a count-of-count by one, so discounts differ slightly on small corpora. We mimic it so
    both backends write the same model (results reproduce whether or not lmplz was built);
    the effect on perplexity is negligible either way. Returns ``{n: (n-gram, raw count)}``.
    """
    if order < 2:
        return {}
    index = {w: i for i, w in enumerate(vocabulary)}
    pad = (BOS,) * (order - 1)  # lmplz pads each sentence with order - 1 <s>
    last: NGram = ()
    last_key: list[int] = []
    for sent in sentences:
        toks = (*pad, *sent, EOS)
        for i in range(len(toks) - order + 1):
            key = [index[w] for w in reversed(toks[i : i + order])]
            if key > last_key:
                last, last_key = toks[i : i + order], key
    # suffixes with <s> inside are padding, not n-grams of the model
    suffixes = {n: last[order - n :] for n in range(1, order) if BOS not in last[order - n + 1 :]}
    raw: Counter[NGram] = Counter()
    for sent in sentences:
        toks = (BOS, *sent, EOS)
        for suf in suffixes.values():
            n = len(suf)
            raw.update(toks[i : i + n] for i in range(len(toks) - n + 1) if toks[i : i + n] == suf)
    return {n: (suf, raw[suf]) for n, suf in suffixes.items()}


def _discounts(
    counts: dict[NGram, int],
    n: int,
    fallback: tuple[float, float, float] | None,
    substitute: tuple[NGram, int] | None = None,
) -> tuple[tuple[float, float, float], bool]:
    """D1, D2, D3+ of order ``n`` from count-of-counts; (discounts, whether fallback was used).

    ``substitute`` = (n-gram, count): that n-gram enters the count-of-counts with this count
    instead of its own (lmplz parity, see :func:`_lmplz_stat_substitutes`).
    """
    t = Counter(min(c, 5) for c in counts.values())
    if substitute is not None and substitute[0] in counts:
        t[min(counts[substitute[0]], 5)] -= 1
        t[min(substitute[1], 5)] += 1
    problem = ""
    if any(t[k] == 0 for k in (1, 2, 3)):
        missing = next(k for k in (1, 2, 3) if t[k] == 0)
        problem = f"no {n}-grams with adjusted count {missing}"
    else:
        y = t[1] / (t[1] + 2 * t[2])
        d = tuple(k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3))
        bad = [k for k in (1, 2, 3) if not 0.0 <= d[k - 1] <= k]
        if not bad:
            return (d[0], d[1], d[2]), False
        problem = f"{n}-gram discount D{bad[0]} = {d[bad[0] - 1]:.3f} is out of [0, {bad[0]}]"
    if fallback is None:
        raise LMBuildError(
            f"cannot estimate Kneser-Ney discounts: {problem}; the corpus is tiny or repetitive "
            "(allow fallback discounts, or use more varied sentences)"
        )
    return fallback, True


def estimate_kneser_ney(
    sentences: Iterable[Sequence[str]],
    order: int = DEFAULT_ORDER,
    fallback_discounts: tuple[float, float, float] | None = DEFAULT_FALLBACK_DISCOUNTS,
) -> KneserNeyModel:
    """Interpolated modified Kneser-Ney, as lmplz estimates it (see the module docstring)."""
    sents = _check_sentences(sentences)
    counts = _adjusted_counts(sents, order)

    vocab = [UNK, BOS, EOS]
    seen = set(vocab)
    for sent in sents:
        for word in sent:
            if word not in seen:
                seen.add(word)
                vocab.append(word)

    substitutes = _lmplz_stat_substitutes(sents, order, vocab)
    discounts: list[tuple[float, float, float]] = []
    fallback_orders: list[int] = []
    for n in range(1, order + 1):
        d, fell_back = _discounts(counts[n - 1], n, fallback_discounts, substitutes.get(n))
        discounts.append(d)
        if fell_back:
            fallback_orders.append(n)

    # per order: context -> (denominator, gamma)
    contexts: list[dict[NGram, tuple[int, float]]] = []
    for n in range(1, order + 1):
        d1, d2, d3 = discounts[n - 1]
        denom: dict[NGram, int] = defaultdict(int)
        mass: dict[NGram, float] = defaultdict(float)
        for g, c in counts[n - 1].items():
            denom[g[:-1]] += c
            mass[g[:-1]] += d1 if c == 1 else d2 if c == 2 else d3
        contexts.append({ctx: (denom[ctx], mass[ctx] / denom[ctx]) for ctx in denom})

    uniform = 1.0 / (len(vocab) - 1)  # every word but <s>
    probs: list[dict[NGram, float]] = []
    for n in range(1, order + 1):
        dn = discounts[n - 1]
        ctx_stats = contexts[n - 1]
        lower = probs[n - 2] if n > 1 else None
        p: dict[NGram, float] = {}
        for g, c in counts[n - 1].items():
            denom_c, gamma = ctx_stats[g[:-1]]
            disc = dn[min(c, 3) - 1]
            below = uniform if lower is None else lower[g[1:]]
            p[g] = (c - disc) / denom_c + gamma * below
        if n == 1:
            p[(UNK,)] = ctx_stats[()][1] * uniform
        probs.append(p)

    ngrams: list[dict[NGram, tuple[float, float]]] = []
    for n in range(1, order + 1):
        next_ctx = contexts[n] if n < order else {}
        table: dict[NGram, tuple[float, float]] = {}
        if n == 1:
            # <s> is never predicted: probability 1 (log 0) as lmplz writes it; its backoff counts
            table[(BOS,)] = (0.0, _log10(next_ctx[(BOS,)][1]) if (BOS,) in next_ctx else 0.0)
        for g, pr in probs[n - 1].items():
            backoff = _log10(next_ctx[g][1]) if g in next_ctx else 0.0
            table[g] = (min(0.0, _log10(pr)), backoff)
        ngrams.append(table)
    return KneserNeyModel(order, vocab, ngrams, discounts, fallback_orders)


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else -99.0


def write_arpa(model: KneserNeyModel, path: str | os.PathLike[str]) -> None:
    """Write ``model`` as an ARPA file, atomically."""
    index = {w: i for i, w in enumerate(model.vocabulary)}
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(t)}" for n, t in enumerate(model.ngrams, start=1)]
    for n, table in enumerate(model.ngrams, start=1):
        lines += ["", f"\\{n}-grams:"]
        for g in sorted(table, key=lambda g: [index[w] for w in g]):
            prob, backoff = table[g]
            entry = f"{prob:{ARPA_FLOAT}}\t{' '.join(g)}"
            if n < model.order:
                entry += f"\t{backoff:{ARPA_FLOAT}}"
            lines.append(entry)
    lines += ["", "\\end\\", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines[1:]), encoding="utf-8")


# ---------------------------------------------------------------------- KenLM tools
def find_kenlm_tool(name: str) -> Path | None:
    """``.kenlm/bin/NAME`` (or ``$SIGNSTREAM_KENLM_BIN/NAME``) when it is an executable file."""
    folder = Path(os.environ.get("SIGNSTREAM_KENLM_BIN", KENLM_BIN))
    tool = folder / name
    return tool if tool.is_file() and os.access(tool, os.X_OK) else None


_FALLBACK_RE = re.compile(r"Substituting fallback discounts for order (\d+)")


def _run_lmplz(
    lmplz: Path, sentences: Sequence[Sentence], config: LMConfig, out: Path
) -> tuple[int, ...]:
    """Run lmplz on ``sentences``, ARPA into ``out``; returns the 1-based fallback orders."""
    cmd = [str(lmplz), "-o", str(config.order), "-S", config.lmplz_memory]
    text = "".join(" ".join(s) + "\n" for s in sentences).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="lmplz-") as tmpdir:
        cmd += ["-T", tmpdir]
        if config.fallback_discounts is not None:
            # multitoken option: keep it last
            cmd += ["--discount_fallback", *(f"{d:g}" for d in config.fallback_discounts)]
        with open(out, "wb") as f:
            proc = subprocess.run(cmd, input=text, stdout=f, stderr=subprocess.PIPE, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-6:])
        raise LMBuildError(f"lmplz failed (exit {proc.returncode}): {tail}")
    # lmplz numbers orders from 0 in this message
    return tuple(sorted(int(m) + 1 for m in _FALLBACK_RE.findall(err)))


def _run_build_binary(build_binary: Path, arpa: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        proc = subprocess.run(
            [str(build_binary), str(arpa), str(tmp)], capture_output=True, check=False
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-6:])
            raise LMBuildError(f"build_binary failed (exit {proc.returncode}): {tail}")


def _arpa_counts(path: Path) -> tuple[int, ...]:
    counts: list[int] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("ngram ") and "=" in line:
                counts.append(int(line.split("=", 1)[1]))
            elif line.startswith("\\1-grams:"):
                break
    return tuple(counts)


# ---------------------------------------------------------------------- build
def build_lm(
    sentences: Iterable[Sequence[str]],
    arpa_path: str | os.PathLike[str],
    config: LMConfig | None = None,
) -> LMBuildResult:
    """Estimate an n-gram LM from gloss sentences and write it to ``arpa_path`` (atomically).

    With ``config.binary`` and KenLM's ``build_binary`` present, ``arpa_path`` with the suffix
    ``.klm`` gets the binary model too (the decoder loads either).
    """
    cfg = config or LMConfig()
    sents = _check_sentences(sentences)
    arpa = Path(arpa_path)
    lmplz = find_kenlm_tool("lmplz")
    if cfg.backend == "lmplz" and lmplz is None:
        raise LMBuildError(
            f"lmplz not found in {KENLM_BIN}; build it with scripts/build_kenlm.sh "
            "or use --backend own"
        )
    use_lmplz = lmplz is not None and cfg.backend in ("auto", "lmplz")

    if use_lmplz:
        assert lmplz is not None
        with atomic_path(arpa) as tmp:
            fallback_orders = _run_lmplz(lmplz, sents, cfg, tmp)
        backend: Literal["lmplz", "own"] = "lmplz"
    else:
        model = estimate_kneser_ney(sents, cfg.order, cfg.fallback_discounts)
        write_arpa(model, arpa)
        fallback_orders = tuple(model.fallback_orders)
        backend = "own"

    binary_path: Path | None = None
    build_binary = find_kenlm_tool("build_binary") if cfg.binary else None
    if build_binary is not None:
        binary_path = arpa.with_suffix(".klm")
        _run_build_binary(build_binary, arpa, binary_path)

    return LMBuildResult(
        arpa_path=arpa,
        binary_path=binary_path,
        backend=backend,
        order=cfg.order,
        sentences=len(sents),
        tokens=sum(len(s) for s in sents),
        vocabulary=tuple(sorted({g for s in sents for g in s})),
        ngram_counts=_arpa_counts(arpa),
        fallback_orders=fallback_orders,
    )


def perplexity(model: Any, sentences: Iterable[Sequence[str]]) -> tuple[float, int]:
    """Corpus perplexity of ``sentences`` under a ``kenlm.Model`` (or a path to one).

    Counts ``</s>`` as a predicted word, as KenLM's ``query`` does. Returns (perplexity,
    number of out-of-vocabulary glosses, which are scored as ``<unk>``).
    """
    if not hasattr(model, "score"):
        import kenlm

        config = kenlm.Config()
        config.show_progress = False  # no progress bar on stderr while reading an ARPA
        config.arpa_complain = KENLM_COMPLAIN_NONE
        model = kenlm.Model(str(model), config)
    log10_sum = 0.0
    words = oov = 0
    for sent in sentences:
        if not sent:
            continue
        log10_sum += model.score(" ".join(sent), bos=True, eos=True)
        words += len(sent) + 1
        oov += sum(g not in model for g in sent)
    if words == 0:
        raise ValueError("no sentences to measure perplexity on")
    return 10.0 ** (-log10_sum / words), oov


# ---------------------------------------------------------------------- CLI
def add_lm_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``signstream train lm`` (and ``python -m training.lm``)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", type=Path, help="gloss corpus: one sentence per line")
    src.add_argument("--grammar", type=Path, help="sentence grammar (.grammar) to sample from")
    p.add_argument("--samples", type=int, default=20_000, help="sentences to sample (--grammar)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (--grammar)")
    p.add_argument(
        "--vocabulary",
        type=Path,
        help="keep only corpus sentences whose glosses are all in this file (one per line)",
    )
    p.add_argument("--case", choices=["keep", "lower", "upper"], default="keep")
    p.add_argument("--order", type=int, default=DEFAULT_ORDER, help="n-gram order")
    p.add_argument("--backend", choices=["auto", "lmplz", "own"], default="auto")
    p.add_argument("--no-binary", action="store_true", help="do not write a .klm binary")
    p.add_argument(
        "--no-discount-fallback",
        action="store_true",
        help="fail instead of using fallback discounts where estimation is impossible",
    )
    p.add_argument("--dev", type=Path, help="gloss corpus to report perplexity on")
    p.add_argument("--out", type=Path, required=True, help="output ARPA path")


def run_lm_command(args: argparse.Namespace) -> int:
    """Build the LM the parsed arguments describe; print a summary."""
    config = LMConfig(
        order=args.order,
        backend=args.backend,
        binary=not args.no_binary,
        fallback_discounts=None if args.no_discount_fallback else DEFAULT_FALLBACK_DISCOUNTS,
    )
    vocab = None
    if args.vocabulary is not None:
        vocab = [w for w in args.vocabulary.read_text("utf-8").split() if w]
    if args.corpus is not None:
        corpus = read_gloss_corpus(args.corpus, vocab, args.case)
        print(f"{args.corpus}: {corpus.summary()}")
        sentences: list[Sentence] = list(corpus.sentences)
    else:
        sentences = sentences_from_grammar(args.grammar, args.samples, args.seed)
        print(f"{args.grammar}: sampled {len(sentences)} sentences (seed {args.seed})")
    result = build_lm(sentences, args.out, config)
    counts = ", ".join(f"{n}-grams {c}" for n, c in enumerate(result.ngram_counts, start=1))
    print(
        f"{result.arpa_path}: {result.backend}, order {result.order}, "
        f"{len(result.vocabulary)} glosses, {counts}"
    )
    if result.fallback_orders:
        print(f"fallback discounts used for orders {list(result.fallback_orders)}")
    if result.binary_path is not None:
        print(f"binary: {result.binary_path}")
    if args.dev is not None:
        ppl, oov = perplexity(
            result.binary_path or result.arpa_path, sentences_from_corpus(args.dev)
        )
        print(f"perplexity on {args.dev}: {ppl:.2f} ({oov} OOV glosses scored as <unk>)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.lm", description=__doc__.split("\n")[0]
    )
    add_lm_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_lm_command(args)
    except (SignStreamError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
