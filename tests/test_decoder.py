"""The gloss decoder: greedy and LM beam search on hand-built log-probabilities, a real ARPA."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from pyctcdecode.decoder import BeamSearchDecoderCTC

from engine.decoder import (
    SPAN_SLACK,
    DecoderConfig,
    DecodeResult,
    GlossDecoder,
    gloss_confidence,
    greedy_decode,
)
from engine.errors import DecoderError, LanguageModelError, LMVocabularyMismatch
from engine.vocabulary import Vocabulary
from training.lm import LMConfig, build_lm, find_kenlm_tool

VOCAB = Vocabulary(("a", "b", "c", "x"))  # classes: 0 blank, 1 a, 2 b, 3 c, 4 x
BLANK, A, B, C, X = range(5)
# "a b" is always followed by "c"; "x" starts sentences and follows "c"
CORPUS = [("a", "b", "c")] * 30 + [("x", "a", "b", "c")] * 5 + [("c", "x")] * 5 + [("x",)] * 3
PEAK = 0.98  # posterior of the intended class in a "peaky" frame


def frames(*spec: int | dict[int, float]) -> np.ndarray:
    """Log-probs ``(T, 5) float32``: an int is a peaky frame of that class, a dict
    ``{class: p}`` an ambiguous frame (the rest shared by the other classes)."""
    rows = []
    for item in spec:
        probs = {item: PEAK} if isinstance(item, int) else dict(item)
        rest = (1.0 - sum(probs.values())) / (VOCAB.num_classes - len(probs))
        rows.append([probs.get(k, rest) for k in range(VOCAB.num_classes)])
    return np.log(np.asarray(rows, np.float64)).astype(np.float32)


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "tiny.arpa"
    build_lm(CORPUS, path, LMConfig(order=3, backend="own", binary=False))
    return path


def beam(lm: Path | None, **config: object) -> GlossDecoder:
    return GlossDecoder(VOCAB, lm, DecoderConfig(method="beam", **config))  # type: ignore[arg-type]


# ---------------------------------------------------------------------- greedy
def test_greedy_spans_and_confidences() -> None:
    lp = frames(BLANK, A, A, BLANK, B, {C: 0.6, BLANK: 0.3}, C, BLANK, BLANK)
    r = greedy_decode(lp, VOCAB)
    assert r.glosses == ("a", "b", "c")
    assert r.spans == ((1, 3), (4, 5), (5, 7))  # [start, end): b and c touch without a blank
    assert r.confidences == pytest.approx((PEAK, PEAK, (0.6 + PEAK) / 2), abs=1e-6)
    best = lp.max(axis=1).sum()
    assert r.score == pytest.approx(best, rel=1e-6)
    assert r.acoustic_score == r.score and r.lm_score == 0.0
    assert r.method == "greedy" and r.num_frames == 9 and r.text == "a b c" and len(r) == 3


def test_greedy_repeats_need_a_blank() -> None:
    assert greedy_decode(frames(A, A, A), VOCAB).glosses == ("a",)
    assert greedy_decode(frames(A, BLANK, A), VOCAB).glosses == ("a", "a")
    assert greedy_decode(frames(BLANK, BLANK), VOCAB).glosses == ()


def test_empty_and_bad_input(lm_path: Path) -> None:
    for dec in (GlossDecoder(VOCAB), GlossDecoder(VOCAB, lm_path)):
        assert dec.decode(np.zeros((0, 5), np.float32)).glosses == ()
        with pytest.raises(DecoderError, match=r"shape \(T, 5\)"):
            dec.decode(np.zeros((10, 7), np.float32))
        with pytest.raises(DecoderError, match="shape"):
            dec.decode(np.zeros(5, np.float32))
        bad = frames(A, B)
        bad[1, 2] = np.nan
        with pytest.raises(DecoderError, match="NaN"):
            dec.decode(bad)


# ---------------------------------------------------------------------- beam search
def test_method_follows_the_lm(lm_path: Path) -> None:
    lp = frames(A, BLANK, B)
    assert GlossDecoder(VOCAB).decode(lp).method == "greedy"
    with_lm = GlossDecoder(VOCAB, lm_path)
    assert with_lm.has_lm and with_lm.lm_order == 3
    assert with_lm.decode(lp).method == "beam"
    with_lm.update(DecoderConfig(method="greedy"))
    assert with_lm.decode(lp).method == "greedy"


@pytest.mark.parametrize("use_lm", [False, True])
@pytest.mark.parametrize("beam_width", [1, 10, 50])
def test_greedy_equals_beam_on_peaky_input(lm_path: Path, use_lm: bool, beam_width: int) -> None:
    rng = np.random.default_rng(beam_width)
    dec = beam(lm_path if use_lm else None, beam_width=beam_width)
    for _ in range(20):
        # random peaky sequences, repeats and adjacent glosses included
        path = rng.choice([BLANK, BLANK, A, B, C, X], size=int(rng.integers(1, 40)))
        lp = frames(*path.tolist())
        g, b = dec.decode_greedy(lp), dec.decode(lp)
        assert b.method == "beam"
        assert b.glosses == g.glosses
        assert b.spans == g.spans
        assert b.confidences == pytest.approx(g.confidences)
        if not use_lm:
            # the prefix probability sums the paths of the best one: at least the best path
            assert b.acoustic_score >= g.score - 1e-3


def test_lm_prefers_what_it_saw(lm_path: Path) -> None:
    # acoustics lean to "x" (0.55 vs 0.40); the LM has only ever seen "a b c"
    lp = frames(A, BLANK, B, BLANK, {X: 0.55, C: 0.40}, {X: 0.55, C: 0.40}, BLANK)
    assert greedy_decode(lp, VOCAB).glosses == ("a", "b", "x")
    dec = GlossDecoder(VOCAB, lm_path, DecoderConfig(alpha=0.8, beta=0.0))
    r = dec.decode(lp)
    assert r.glosses == ("a", "b", "c")
    assert r.lm_score < 0 and r.score == pytest.approx(r.acoustic_score + r.lm_score)
    assert r.confidences[2] == pytest.approx(0.40, abs=1e-6)
    # without LM weight the acoustics win again: alpha changes live
    dec.update(DecoderConfig(alpha=0.0, beta=0.0))
    assert dec.decode(lp).glosses == ("a", "b", "x")
    dec.update(DecoderConfig(alpha=0.8, beta=0.0))
    assert dec.decode(lp).glosses == ("a", "b", "c")


def test_beta_changes_insertions_live(lm_path: Path) -> None:
    # a weak "c" (0.3) between "a b" and the end: kept only when each gloss earns a bonus
    lp = frames(A, BLANK, B, BLANK, {C: 0.3, BLANK: 0.66}, BLANK)
    dec = GlossDecoder(VOCAB, lm_path, DecoderConfig(alpha=0.0, beta=0.0))
    assert dec.decode(lp).glosses == ("a", "b")
    dec.update(DecoderConfig(alpha=0.0, beta=3.0))
    r = dec.decode(lp)
    assert r.glosses == ("a", "b", "c")
    assert r.lm_score == pytest.approx(3 * 3.0, abs=1e-4)  # beta per gloss, no LM weight
    dec.update(DecoderConfig(alpha=0.0, beta=0.0))
    assert dec.decode(lp).glosses == ("a", "b")


def test_context_carries_across_chunks(lm_path: Path) -> None:
    # a lone ambiguous gloss: at a sentence start the LM prefers "x"; after "a b", "c"
    lp = frames(BLANK, {X: 0.45, C: 0.50}, BLANK)
    dec = GlossDecoder(VOCAB, lm_path, DecoderConfig(alpha=1.0, beta=0.0))
    assert dec.decode(lp).glosses == ("x",)
    assert dec.decode(lp, context=["a", "b"]).glosses == ("c",)
    assert dec.decode(lp, context=["x", "a", "b"]).glosses == ("c",)  # last order-1 count
    assert dec.decode_greedy(lp).glosses == ("c",)


def test_top_k_per_frame_keeps_scores(lm_path: Path) -> None:
    lp = frames(A, BLANK, {B: 0.7, C: 0.2}, BLANK, X, X, BLANK)
    full, top2 = beam(lm_path, beam_size_token=0), beam(lm_path, beam_size_token=2)
    rf, r2 = full.decode(lp), top2.decode(lp)
    assert r2.glosses == rf.glosses == ("a", "b", "x")
    # the frames' renormalisation is undone: scores refer to the input log-probs
    assert r2.acoustic_score == pytest.approx(rf.acoustic_score, abs=1e-3)
    assert r2.score == pytest.approx(rf.score, abs=1e-3)


def test_update_changes_beam_width_without_rebuild(lm_path: Path) -> None:
    dec = GlossDecoder(VOCAB, lm_path)
    inner = dec._beam
    dec.update(DecoderConfig(beam_width=1, alpha=0.3, beta=0.5, score_boundary=False))
    assert dec._beam is inner  # nothing rebuilt
    assert dec.config.beam_width == 1
    assert dec.decode(frames(A, BLANK, B)).glosses == ("a", "b")
    with pytest.raises(ValueError, match="beam_width"):
        DecoderConfig(beam_width=0)
    with pytest.raises(ValueError, match="alpha"):
        DecoderConfig(alpha=-1.0)
    with pytest.raises(ValueError, match="token_min_logp"):
        DecoderConfig(token_min_logp=-40.0)


def test_update_while_decoding(lm_path: Path) -> None:
    dec = GlossDecoder(VOCAB, lm_path)
    lp = frames(*([A, BLANK, B, BLANK, C, BLANK] * 10))
    results: list[DecodeResult] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.extend(dec.decode(lp) for _ in range(20))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    for i in range(50):
        dec.update(DecoderConfig(alpha=0.1 * (i % 5), beam_width=5 + i % 3))
    t.join()
    assert not errors
    assert all(r.glosses == ("a", "b", "c") * 10 for r in results)


def test_close_releases_the_lm(lm_path: Path) -> None:
    dec = GlossDecoder(VOCAB, lm_path)
    key = dec._beam._model_key
    assert key in BeamSearchDecoderCTC.model_container
    dec.close()
    dec.close()
    assert key not in BeamSearchDecoderCTC.model_container


# ---------------------------------------------------------------------- LM problems
def test_vocabulary_lm_mismatch(lm_path: Path) -> None:
    with pytest.raises(LMVocabularyMismatch) as info:
        GlossDecoder(Vocabulary(("a", "b", "c", "x", "tea", "zebra")), lm_path)
    assert info.value.missing == ("tea", "zebra")
    assert "tea, zebra" in str(info.value) and "2 of the model's 6 glosses" in str(info.value)
    assert isinstance(info.value, LanguageModelError)
    with pytest.raises(LMVocabularyMismatch, match="another case"):
        GlossDecoder(Vocabulary(("A", "B", "C", "X")), lm_path)


def test_missing_or_corrupt_lm(tmp_path: Path, lm_path: Path) -> None:
    with pytest.raises(LanguageModelError, match="not found"):
        GlossDecoder(VOCAB, tmp_path / "nope.arpa")
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("this is not a language model\n")
    empty = tmp_path / "empty.klm"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.arpa"
    truncated.write_text(lm_path.read_text()[:300])
    for path in (garbage, empty, truncated):
        with pytest.raises(LanguageModelError, match="cannot load"):
            GlossDecoder(VOCAB, path)
    with pytest.raises(LanguageModelError, match="not found"):
        GlossDecoder(VOCAB, tmp_path)  # a folder


def test_missing_or_broken_lm_says_how_to_run_without_it(tmp_path: Path) -> None:
    # issue 17: the message did not name --no-lm
    hint = "run with --no-lm for greedy decoding, or give --lm PATH"
    missing = tmp_path / "nope.arpa"
    with pytest.raises(LanguageModelError) as info:
        GlossDecoder(VOCAB, missing)
    assert str(info.value).startswith(f"language model not found: {missing} (")
    assert hint in str(info.value)
    garbage = tmp_path / "garbage.arpa"
    garbage.write_bytes(b"\x01" + np.random.default_rng(0).bytes(499))
    with pytest.raises(LanguageModelError) as info:
        GlossDecoder(VOCAB, garbage)
    assert str(info.value).startswith(f"cannot load the language model {garbage}: ")
    assert hint in str(info.value)


def test_harmless_warnings_are_silenced(lm_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from engine.decoder import _quiet_pyctcdecode

    with caplog.at_level(logging.INFO, logger="pyctcdecode"):
        GlossDecoder(VOCAB, lm_path)
        GlossDecoder(VOCAB)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # other warnings still get through
    with caplog.at_level(logging.WARNING, logger="pyctcdecode"), _quiet_pyctcdecode():
        logging.getLogger("pyctcdecode.language_model").warning("something real")
    assert "something real" in caplog.text


@pytest.mark.skipif(find_kenlm_tool("build_binary") is None, reason="build_binary not built")
def test_binary_lm_decodes_like_arpa(tmp_path: Path) -> None:
    result = build_lm(CORPUS, tmp_path / "tiny.arpa", LMConfig(order=3, backend="own"))
    assert result.binary_path is not None
    lp = frames(A, BLANK, B, BLANK, {X: 0.55, C: 0.40}, {X: 0.55, C: 0.40}, BLANK)
    cfg = DecoderConfig(alpha=0.8, beta=0.0)
    from_arpa = GlossDecoder(VOCAB, result.arpa_path, cfg).decode(lp)
    from_binary = GlossDecoder(VOCAB, result.binary_path, cfg).decode(lp)
    assert from_binary.glosses == from_arpa.glosses == ("a", "b", "c")
    assert from_binary.score == pytest.approx(from_arpa.score, abs=1e-3)


def test_beam_confidence_is_its_class_where_it_wins_beside_the_span() -> None:
    # pyctcdecode's word span of a real model's spike can start a frame after it: the spike
    # (0.9 at frame 2) is what the model said, not the blank frames of the span (3, 4)
    lp = frames(BLANK, BLANK, {A: 0.9}, BLANK, BLANK, BLANK)
    assert gloss_confidence(lp, A, (3, 4)) == pytest.approx(0.9, abs=1e-6)
    # where the class wins nowhere near (the LM chose it), the span's own mean
    lp = frames(BLANK, {X: 0.55, C: 0.40}, BLANK, BLANK)
    assert gloss_confidence(lp, C, (1, 2)) == pytest.approx(0.40, abs=1e-6)
    # a spike farther away than SPAN_SLACK is another gloss's
    far = frames({A: 0.9}, *[BLANK] * (SPAN_SLACK + 2))
    assert gloss_confidence(far, A, (SPAN_SLACK + 1, SPAN_SLACK + 2)) < 0.05
