"""Sentences of glosses for synthesis: a small weighted grammar format, and gloss corpora.

Grammar format (``*.grammar``, UTF-8)
-------------------------------------
::

    # a comment: from '#' to the end of the line
    <S>      = [3] hello <order> | <order> | no thank-you
    <order>  = can i get <item> <polite>
             | i get <item> <polite>     # a line starting with '|' continues the rule above
    <item>   = a <size> coffee | [0.5] muffin
    <size>   = small | medium | large
    <polite> = please | <NULL>

* A rule is ``<name> = alternative | alternative ...``; names are letters, digits, ``_`` and
  ``-``, starting with a letter or ``_``. Each name is defined once. Lines starting with ``|``
  add alternatives to the rule above (``<name> =`` may stand alone before them).
* An alternative is a sequence of symbols separated by spaces: ``<name>`` refers to a rule,
  anything else is a gloss (a terminal) and is copied to the sentence as written (case kept).
  A gloss cannot contain spaces or any of ``< > [ ] | = #``.
* ``[w]`` in front of an alternative gives it the weight ``w`` (a positive number, default 1):
  it is drawn with probability ``w / sum of the rule's weights``.
* ``<NULL>`` is the empty sequence (as in JSGF): ``<polite> = please | <NULL>`` makes "please"
  optional. An alternative cannot be empty otherwise.
* The start symbol is ``<S>`` unless another is named when parsing.
* ``include other.grammar as <name>`` (a file's line of its own, the path relative to the file)
  makes the other grammar's sentences the rule ``<name>``; its other rules are renamed
  ``<name-rule>`` so that they cannot clash with this file's. Files only
  (:func:`load_grammar`), not text given to :func:`parse_grammar`.
* Recursion is allowed as long as every rule can finish (``<list> = <item> | <item> <list>``);
  a rule that can never finish (``<a> = x <a>``) is an error, and so is a sampled sentence
  longer than ``max_glosses`` (weights that make recursion run away).

Mistakes are :class:`GrammarError` naming ``file:line``.

Gloss corpora are text files with one sentence per line, glosses separated by spaces (as
``shared/data/gloss/*.gloss.txt``); :func:`read_gloss_corpus` keeps the sentences whose glosses
are all in a vocabulary.
"""

from __future__ import annotations

import bisect
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from engine.errors import SignStreamError

__all__ = [
    "DEFAULT_START",
    "NULL",
    "GlossCorpus",
    "Grammar",
    "GrammarError",
    "Ref",
    "Rule",
    "Sentence",
    "load_grammar",
    "parse_grammar",
    "read_gloss_corpus",
]

Sentence = tuple[str, ...]
DEFAULT_START = "S"
NULL = "NULL"  # the built-in empty rule, <NULL>
# Longest sentence sampling may build before it gives up on a grammar whose recursion runs away.
MAX_GLOSSES = 500
# Most distinct sentences :meth:`Grammar.enumerate` lists before refusing (memory bound).
MAX_ENUMERATED = 1_000_000

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_RULE_RE = re.compile(rf"^<({_NAME})>\s*=(.*)$")
_REF_RE = re.compile(rf"^<({_NAME})>$")
_GLOSS_RE = re.compile(r"^[^\s<>\[\]|=#]+$")
_WEIGHT_RE = re.compile(r"^\[([^\]]*)\](.*)$")
_INCLUDE_RE = re.compile(rf"^include\s+(\S+)\s+as\s+<({_NAME})>$")
MAX_INCLUDE_DEPTH = 8  # a grammar including itself, directly or not

CaseMapping = Literal["keep", "lower", "upper"]


class GrammarError(SignStreamError):
    """A grammar file has a mistake (message starts with ``file:line``), or cannot be sampled."""


@dataclass(frozen=True)
class Ref:
    """A reference to a rule inside an alternative: ``<name>``."""

    name: str


Symbol = str | Ref  # a gloss, or a rule reference


@dataclass(frozen=True)
class Alternative:
    symbols: tuple[Symbol, ...]  # () only for <NULL>
    weight: float  # relative probability among the rule's alternatives
    line: int  # 1-based line it was written on


@dataclass(frozen=True)
class Rule:
    name: str
    alternatives: tuple[Alternative, ...]
    line: int  # 1-based line of the definition


class Grammar:
    """A parsed grammar: sample sentences, list its glosses, enumerate a finite language.

    Build with :func:`parse_grammar` or :func:`load_grammar`.
    """

    def __init__(self, rules: Mapping[str, Rule], start: str, source: str) -> None:
        self.rules = dict(rules)
        self.start = start
        self.source = source
        # sampling tables: per rule the cumulative weights and the alternatives' symbols
        self._cum: dict[str, list[float]] = {}
        self._alts: dict[str, list[tuple[Symbol, ...]]] = {}
        for name, rule in self.rules.items():
            total = 0.0
            cum = []
            for alt in rule.alternatives:
                total += alt.weight
                cum.append(total)
            self._cum[name] = cum
            self._alts[name] = [alt.symbols for alt in rule.alternatives]

    def __repr__(self) -> str:
        return f"Grammar({self.source!r}, {len(self.rules)} rules, start <{self.start}>)"

    # ------------------------------------------------------------------ sampling
    def sample(
        self, rng: np.random.Generator, start: str | None = None, max_glosses: int = MAX_GLOSSES
    ) -> Sentence:
        """One sentence drawn from the rule ``start`` (default the grammar's start symbol).

        Deterministic given the state of ``rng`` (one ``rng.random()`` per rule expanded).
        """
        name = self.start if start is None else start
        if name not in self.rules:
            raise GrammarError(f"{self.source}: no rule <{name}>")
        out: list[str] = []
        stack: list[Symbol] = [Ref(name)]
        while stack:
            sym = stack.pop()
            if isinstance(sym, str):
                out.append(sym)
                if len(out) > max_glosses:
                    raise GrammarError(
                        f"{self.source}: a sentence grew past {max_glosses} glosses; the "
                        "grammar's recursion runs away (lower the weights of the recursive "
                        "alternatives)"
                    )
                continue
            cum = self._cum[sym.name]
            k = bisect.bisect_right(cum, float(rng.random()) * cum[-1])
            stack.extend(reversed(self._alts[sym.name][min(k, len(cum) - 1)]))
        return tuple(out)

    def sample_many(self, n: int, rng: np.random.Generator) -> list[Sentence]:
        """``n`` sentences (repeats possible, as often as the weights make them)."""
        return [self.sample(rng) for _ in range(n)]

    # ------------------------------------------------------------------ inspection
    def reachable(self, start: str | None = None) -> list[str]:
        """Names of the rules reachable from ``start``, in discovery order."""
        seen: list[str] = []
        todo = [self.start if start is None else start]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.append(name)
            for alt in self.rules[name].alternatives:
                todo.extend(s.name for s in reversed(alt.symbols) if isinstance(s, Ref))
        return seen

    def terminals(self) -> frozenset[str]:
        """Every gloss a sentence from the start symbol can contain."""
        return frozenset(
            s
            for name in self.reachable()
            for alt in self.rules[name].alternatives
            for s in alt.symbols
            if isinstance(s, str)
        )

    def is_recursive(self) -> bool:
        """Whether the language from the start symbol is infinite (a reachable cycle)."""
        reach = set(self.reachable())
        state: dict[str, int] = {}  # 1 = on the DFS path, 2 = done

        def visit(name: str) -> bool:
            state[name] = 1
            for alt in self.rules[name].alternatives:
                for s in alt.symbols:
                    if isinstance(s, Ref) and s.name in reach:
                        st = state.get(s.name, 0)
                        if st == 1 or (st == 0 and visit(s.name)):
                            return True
            state[name] = 2
            return False

        return visit(self.start)

    def enumerate(self, limit: int = MAX_ENUMERATED) -> frozenset[Sentence]:
        """Every distinct sentence of a non-recursive grammar (raises if there are > ``limit``)."""
        if self.is_recursive():
            raise GrammarError(f"{self.source}: the grammar is recursive; its language is infinite")
        memo: dict[str, frozenset[Sentence]] = {}

        def expand(name: str) -> frozenset[Sentence]:
            if name in memo:
                return memo[name]
            out: set[Sentence] = set()
            for alt in self.rules[name].alternatives:
                partial: set[Sentence] = {()}
                for s in alt.symbols:
                    tails = {(s,)} if isinstance(s, str) else expand(s.name)
                    partial = {p + t for p in partial for t in tails}
                    if len(partial) > limit:
                        raise GrammarError(f"{self.source}: more than {limit} sentences")
                out |= partial
                if len(out) > limit:
                    raise GrammarError(f"{self.source}: more than {limit} sentences")
            memo[name] = frozenset(out)
            return memo[name]

        return expand(self.start)


# ---------------------------------------------------------------------- parsing
def load_grammar(path: str | os.PathLike[str], start: str = DEFAULT_START) -> Grammar:
    """Read and parse a ``.grammar`` file (see the module docstring)."""
    return _load(Path(path), start, depth=0)


def _load(p: Path, start: str, depth: int) -> Grammar:
    if depth > MAX_INCLUDE_DEPTH:
        raise GrammarError(f"{p}: includes nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)")
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise GrammarError(f"{p}: cannot read the grammar ({e})") from e
    lines = text.splitlines()
    included: dict[str, Rule] = {}
    for lineno, raw in enumerate(lines, start=1):
        m = _INCLUDE_RE.match(raw.split("#", 1)[0].strip())
        if m is None:
            continue
        lines[lineno - 1] = ""  # keeps the other lines' numbers for messages
        other = _load(p.parent / m.group(1), DEFAULT_START, depth + 1)
        for rule in _renamed(other, m.group(2)):
            if rule.name in included:
                raise GrammarError(f"{p}:{lineno}: <{rule.name}> is included twice")
            included[rule.name] = rule
    return parse_grammar("\n".join(lines), source=str(p), start=start, included=included)


def _renamed(grammar: Grammar, alias: str) -> list[Rule]:
    """``grammar``'s rules with its start rule called ``alias`` and the others ``alias-name``."""

    def new(name: str) -> str:
        return alias if name == grammar.start else name if name == NULL else f"{alias}-{name}"

    def ref(s: Symbol) -> Symbol:
        return s if isinstance(s, str) else Ref(new(s.name))

    return [
        Rule(
            new(rule.name),
            tuple(
                Alternative(tuple(map(ref, a.symbols)), a.weight, a.line) for a in rule.alternatives
            ),
            rule.line,
        )
        for name, rule in grammar.rules.items()
        if name != NULL
    ]


def parse_grammar(
    text: str,
    source: str = "<grammar>",
    start: str = DEFAULT_START,
    included: Mapping[str, Rule] | None = None,
) -> Grammar:
    """Parse grammar text; ``source`` names it in error messages (``source:line: ...``).
    ``included``: rules of included grammars (:func:`load_grammar`), already renamed."""
    # (name, definition line, [(alternative text, line)]) in file order
    defs: list[tuple[str, int, list[tuple[str, int]]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("|"):
            if not defs:
                raise GrammarError(f"{source}:{lineno}: '|' continues a rule, but none came before")
            defs[-1][2].extend((a, lineno) for a in line[1:].split("|"))
            continue
        m = _RULE_RE.match(line)
        if m is None:
            raise GrammarError(
                f"{source}:{lineno}: expected '<name> = alternatives' or a '|' continuation, "
                f"got {line!r}"
            )
        name = m.group(1)
        if name == NULL:
            raise GrammarError(f"{source}:{lineno}: <{NULL}> is built in and cannot be defined")
        for prev, prev_line, _ in defs:
            if prev == name:
                raise GrammarError(
                    f"{source}:{lineno}: <{name}> is defined twice (first on line {prev_line}); "
                    "put all its alternatives in one rule"
                )
        body = m.group(2).strip()
        # "<name> =" alone is fine when '|' lines follow with the alternatives
        defs.append((name, lineno, [(a, lineno) for a in body.split("|")] if body else []))

    rules: dict[str, Rule] = {}
    for name, def_line, alts in defs:
        if not alts:
            raise GrammarError(f"{source}:{def_line}: <{name}> has no alternatives")
        parsed = tuple(_parse_alternative(a, source, ln) for a, ln in alts)
        rules[name] = Rule(name, parsed, def_line)
    for name, rule in (included or {}).items():
        if name in rules:
            raise GrammarError(
                f"{source}:{rules[name].line}: <{name}> is also a rule of an included grammar"
            )
        rules[name] = rule
    rules[NULL] = Rule(NULL, (Alternative((), 1.0, 0),), 0)

    for rule in rules.values():
        for alt in rule.alternatives:
            for s in alt.symbols:
                if isinstance(s, Ref) and s.name not in rules:
                    raise GrammarError(f"{source}:{alt.line}: <{s.name}> is used but not defined")
    if start not in rules:
        raise GrammarError(f"{source}: no start rule <{start}>")
    _check_terminates(rules, source)
    return Grammar(rules, start, source)


def _parse_alternative(text: str, source: str, line: int) -> Alternative:
    body = text.strip()
    weight = 1.0
    m = _WEIGHT_RE.match(body)
    if m is not None:
        try:
            weight = float(m.group(1))
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and weight > 0):
            raise GrammarError(f"{source}:{line}: weight [{m.group(1)}] must be a positive number")
        body = m.group(2).strip()
    if not body:
        raise GrammarError(f"{source}:{line}: empty alternative (write <{NULL}> for nothing)")
    symbols: list[Symbol] = []
    for token in body.split():
        ref = _REF_RE.match(token)
        if ref is not None:
            if ref.group(1) != NULL:  # <NULL> adds nothing to the sequence
                symbols.append(Ref(ref.group(1)))
        elif _GLOSS_RE.match(token):
            symbols.append(token)
        else:
            raise GrammarError(
                f"{source}:{line}: {token!r} is neither a gloss nor a <rule> reference "
                "(glosses cannot contain < > [ ] | = #; weights go first: [2] a b)"
            )
    return Alternative(tuple(symbols), weight, line)


def _check_terminates(rules: Mapping[str, Rule], source: str) -> None:
    """Every rule must have a way to finish: some alternative made of finishing symbols."""
    done: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, rule in rules.items():
            if name in done:
                continue
            if any(
                all(isinstance(s, str) or s.name in done for s in alt.symbols)
                for alt in rule.alternatives
            ):
                done.add(name)
                changed = True
    stuck = [r for n, r in rules.items() if n not in done]
    if stuck:
        first = min(stuck, key=lambda r: r.line)
        names = ", ".join(f"<{r.name}>" for r in sorted(stuck, key=lambda r: r.line))
        raise GrammarError(
            f"{source}:{first.line}: {names} can never finish: every alternative recurses "
            "(add an alternative without the recursion)"
        )


# ---------------------------------------------------------------------- corpora
@dataclass(frozen=True)
class GlossCorpus:
    """The sentences of a gloss corpus that fit a vocabulary, and what was dropped."""

    sentences: tuple[Sentence, ...]  # kept sentences, in file order (repeats kept)
    read: int  # non-empty lines read
    dropped: int  # sentences left out for an out-of-vocabulary gloss
    oov: dict[str, int]  # out-of-vocabulary gloss -> occurrences, most frequent first

    def summary(self) -> str:
        top = ", ".join(f"{g} ({n})" for g, n in list(self.oov.items())[:10])
        return f"kept {len(self.sentences)} of {self.read} sentences, dropped {self.dropped}" + (
            f"; most frequent unknown glosses: {top}" if top else ""
        )


def read_gloss_corpus(
    path: str | os.PathLike[str],
    vocabulary: Iterable[str] | None = None,
    case: CaseMapping = "keep",
) -> GlossCorpus:
    """Sentences of a one-sentence-per-line gloss file, filtered to ``vocabulary``.

    ``case`` maps the corpus' glosses before the vocabulary check ("lower" turns
    ``THANK-YOU`` into ``thank-you``); the vocabulary is used as given. A sentence with any
    gloss outside the vocabulary is dropped whole (cutting a gloss out would make a sentence
    nobody signs). ``vocabulary=None`` keeps every sentence.
    """
    p = Path(path)
    try:
        lines = p.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise GrammarError(f"{p}: cannot read the gloss corpus ({e})") from e
    vocab = None if vocabulary is None else frozenset(vocabulary)
    kept: list[Sentence] = []
    oov: Counter[str] = Counter()
    read = dropped = 0
    for line in lines:
        glosses = line.split()
        if not glosses:
            continue
        read += 1
        if case == "lower":
            glosses = [g.lower() for g in glosses]
        elif case == "upper":
            glosses = [g.upper() for g in glosses]
        unknown = [] if vocab is None else [g for g in glosses if g not in vocab]
        if unknown:
            dropped += 1
            oov.update(unknown)
            continue
        kept.append(tuple(glosses))
    return GlossCorpus(tuple(kept), read, dropped, dict(oov.most_common()))
