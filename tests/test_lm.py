"""Gloss LM building: modified Kneser-Ney by hand, KenLM loading, perplexity, lmplz parity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import kenlm
import numpy as np
import pytest

from tests.conftest import REPO
from training.lm import (
    EOS,
    UNK,
    LMBuildError,
    LMConfig,
    build_lm,
    estimate_kneser_ney,
    find_kenlm_tool,
    main,
    perplexity,
    sentences_from_corpus,
    sentences_from_grammar,
    write_arpa,
)

COFFEE_GRAMMAR = REPO / "training" / "configs" / "coffee.grammar"
TINY = [("a", "b", "c"), ("a", "b", "d"), ("b", "c"), ("a", "c", "d")]
OWN = LMConfig(backend="own", binary=False)
needs_lmplz = pytest.mark.skipif(
    find_kenlm_tool("lmplz") is None, reason="lmplz not built (run scripts/build_kenlm.sh)"
)
needs_build_binary = pytest.mark.skipif(
    find_kenlm_tool("build_binary") is None,
    reason="build_binary not built (run scripts/build_kenlm.sh)",
)


def read_arpa(path: Path) -> dict[str, tuple[float, float]]:
    """n-gram -> (log10 prob, log10 backoff) of every order."""
    table: dict[str, tuple[float, float]] = {}
    in_grams = False
    for line in path.read_text("utf-8").splitlines():
        if line.endswith("-grams:"):
            in_grams = True
        elif line.startswith("\\"):
            in_grams = False
        elif in_grams and line:
            parts = line.split("\t")
            table[parts[1]] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return table


def load(path: Path) -> kenlm.Model:
    config = kenlm.Config()
    config.show_progress = False
    config.arpa_complain = 2  # NONE: no "build a binary file" note
    return kenlm.Model(str(path), config)


def state_after(model: kenlm.Model, context: Sequence[str]) -> kenlm.State:
    state, out = kenlm.State(), kenlm.State()
    if context and context[0] == "<s>":
        model.BeginSentenceWrite(state)
        context = context[1:]
    else:
        model.NullContextWrite(state)
    for w in context:
        model.BaseScore(state, w, out)
        state, out = out, state
    return state


@pytest.fixture(scope="module")
def coffee_sentences() -> list[tuple[str, ...]]:
    return sentences_from_grammar(COFFEE_GRAMMAR, 3000, seed=1)


def test_tiny_corpus_by_hand(tmp_path: Path) -> None:
    model = estimate_kneser_ney(TINY, order=3)
    # adjusted unigram counts (distinct left neighbours): a 1, b 2, c 2, d 2, </s> 2 -> sum 9;
    # unigram count-of-counts t1=1, t2=4, t3=0: no estimate -> fallback D = 0.5, 1, 1.5
    assert model.discounts[0] == (0.5, 1.0, 1.5)
    assert model.fallback_orders == [1, 3]
    gamma0 = (0.5 * 1 + 1.0 * 4) / 9  # = 0.5
    uniform = 1 / 6  # a b c d </s> <unk>
    p_a = (1 - 0.5) / 9 + gamma0 * uniform
    p_b = (2 - 1.0) / 9 + gamma0 * uniform
    # bigram adjusted counts: <s> a 3 (raw), <s> b 1 (raw), a b 1, a c 1, b c 2, b d 1, c d 1,
    # c </s> 1, d </s> 2 -> t1=6, t2=2, t3=1, t4=0; Y = 6/10; D1 = 1 - 2Y 2/6 = 0.6,
    # D2 = 2 - 3Y 1/2 = 1.1, D3+ = 3 - 4Y 0 = 3
    d1, d2, d3 = model.discounts[1]
    assert (d1, d2, d3) == pytest.approx((0.6, 1.1, 3.0))
    # context "a": a b (1), a c (1) -> gamma(a) = 0.6 * 2 / 2
    p_b_given_a = (1 - 0.6) / 2 + 0.6 * p_b
    uni, bi = model.ngrams[0], model.ngrams[1]
    assert uni[("a",)][0] == pytest.approx(math.log10(p_a), abs=1e-9)
    assert uni[(UNK,)][0] == pytest.approx(math.log10(gamma0 * uniform), abs=1e-9)
    assert bi[("a", "b")][0] == pytest.approx(math.log10(p_b_given_a), abs=1e-9)
    assert uni[("a",)][1] == pytest.approx(math.log10(0.6), abs=1e-9)  # backoff = gamma(a)
    assert ("<s>", "a", "b") in model.ngrams[2]
    assert ("<s>", "<s>", "a") not in model.ngrams[2]  # padding is not an n-gram

    arpa = tmp_path / "tiny.arpa"
    write_arpa(model, arpa)
    lm = load(arpa)
    assert lm.order == 3
    # KenLM agrees: log10 p(b | <s> a) from the written file
    scored = list(lm.full_scores("a b", bos=True, eos=False))
    p_b_given_bos_a = (2 - 1.0) / 3 + (1.0 * 1 + 0.5 * 1) / 3 * p_b_given_a
    assert scored[1][0] == pytest.approx(math.log10(p_b_given_bos_a), abs=1e-6)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("order", [2, 3, 4])
def test_every_context_sums_to_one(
    tmp_path: Path, coffee_sentences: list[tuple[str, ...]], order: int
) -> None:
    arpa = tmp_path / "lm.arpa"
    result = build_lm(
        coffee_sentences[:400], arpa, LMConfig(order=order, backend="own", binary=False)
    )
    lm = load(arpa)
    words = [*result.vocabulary, EOS, UNK]
    contexts: list[tuple[str, ...]] = [(), ("<s>",), ("<s>", "can"), ("can", "i"), ("tea",)]
    contexts += [("i", "get", "a"), ("water",), ("a", "small")]
    for ctx in contexts:
        state = state_after(lm, ctx)
        out = kenlm.State()
        total = sum(10 ** lm.BaseScore(state, w, out) for w in words)
        assert total == pytest.approx(1.0, abs=2e-5), ctx


def test_in_domain_beats_shuffled(tmp_path: Path, coffee_sentences: list[tuple[str, ...]]) -> None:
    arpa = tmp_path / "coffee.arpa"
    build_lm(coffee_sentences, arpa, OWN)
    held_out = sentences_from_grammar(COFFEE_GRAMMAR, 300, seed=99)
    rng = np.random.default_rng(0)
    shuffled = [tuple(rng.permutation(s)) for s in held_out if len(s) > 2]
    in_domain = [s for s in held_out if len(s) > 2]
    ppl_in, oov = perplexity(arpa, in_domain)
    ppl_shuffled, _ = perplexity(arpa, shuffled)
    assert oov == 0
    # a grammar this small is very predictable: a few choices per position
    assert 1.5 < ppl_in < 6.0
    assert ppl_shuffled > 2 * ppl_in


def test_fallback_discounts(tmp_path: Path) -> None:
    with pytest.raises(LMBuildError, match="discounts"):
        estimate_kneser_ney(TINY, order=3, fallback_discounts=None)
    result = build_lm(TINY, tmp_path / "t.arpa", OWN)
    assert result.fallback_orders == (1, 3)
    assert result.ngram_counts == (7, 9, 9)  # <unk> <s> </s> a b c d; as lmplz writes


def test_bad_sentences_leave_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "lm.arpa"
    target.write_text("old model")
    with pytest.raises(LMBuildError, match="reserved"):
        build_lm([("hello", "</s>")], target, OWN)
    with pytest.raises(LMBuildError, match="no sentences"):
        build_lm([(), ()], target, OWN)
    assert target.read_text() == "old model"
    with pytest.raises(ValueError, match="order"):
        LMConfig(order=1)  # KenLM cannot load unigram models


def test_lmplz_backend_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNSTREAM_KENLM_BIN", str(tmp_path / "nothing"))
    with pytest.raises(LMBuildError, match=r"build_kenlm\.sh"):
        build_lm(TINY, tmp_path / "x.arpa", LMConfig(backend="lmplz"))
    # auto falls back to the own estimator, without a binary
    result = build_lm(TINY, tmp_path / "x.arpa", LMConfig(backend="auto"))
    assert result.backend == "own"
    assert result.binary_path is None


def test_cli_grammar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.arpa"
    dev = tmp_path / "dev.txt"
    dev.write_text("hello can i get a small tea please\nthank-you\n")
    args = ["--grammar", str(COFFEE_GRAMMAR), "--samples", "300", "--backend", "own"]
    assert main([*args, "--no-binary", "--dev", str(dev), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "perplexity on" in printed
    assert load(out).order == 3
    assert main(["--corpus", str(tmp_path / "missing.txt"), "--out", str(out)]) == 1


@needs_lmplz
@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_own_matches_lmplz(
    tmp_path: Path, coffee_sentences: list[tuple[str, ...]], order: int
) -> None:
    for name, sentences in (("tiny", TINY), ("coffee", coffee_sentences)):
        own = build_lm(
            sentences,
            tmp_path / f"{name}-own.arpa",
            LMConfig(order=order, backend="own", binary=False),
        )
        ref = build_lm(
            sentences,
            tmp_path / f"{name}-lmplz.arpa",
            LMConfig(order=order, backend="lmplz", binary=False),
        )
        assert (own.backend, ref.backend) == ("own", "lmplz")
        assert own.fallback_orders == ref.fallback_orders
        a, b = read_arpa(own.arpa_path), read_arpa(ref.arpa_path)
        assert a.keys() == b.keys()
        worst = max(max(abs(a[k][0] - b[k][0]), abs(a[k][1] - b[k][1])) for k in a)
        assert worst < 1e-5, (name, order, worst)  # float32 rounding in lmplz


@needs_build_binary
def test_binary_model(tmp_path: Path, coffee_sentences: list[tuple[str, ...]]) -> None:
    result = build_lm(coffee_sentences, tmp_path / "c.arpa", LMConfig(backend="own", binary=True))
    assert result.binary_path == tmp_path / "c.klm"
    arpa, binary = load(result.arpa_path), load(result.binary_path)
    for s in coffee_sentences[:20]:
        text = " ".join(s)
        assert binary.score(text) == pytest.approx(arpa.score(text), abs=1e-4)


@pytest.mark.data
def test_phoenix_perplexity(tmp_path: Path, shared_data: Path) -> None:
    gloss = shared_data / "gloss"
    train = sentences_from_corpus(gloss / "phoenix2014-T-train.gloss.txt")
    dev = sentences_from_corpus(gloss / "phoenix2014-T-dev.gloss.txt")
    own = build_lm(train, tmp_path / "own.arpa", LMConfig(order=3, backend="own", binary=False))
    ppl, oov = perplexity(own.arpa_path, dev)
    assert 20 < ppl < 80, ppl  # 3-gram on 7k sentences, 1k glosses: 46.7
    assert oov < 0.01 * sum(len(s) for s in dev)
    if find_kenlm_tool("lmplz") is not None:
        ref = build_lm(
            train, tmp_path / "ref.arpa", LMConfig(order=3, backend="lmplz", binary=False)
        )
        assert perplexity(ref.arpa_path, dev)[0] == pytest.approx(ppl, rel=1e-4)
