"""Streaming decoding on hand-built peaky log-prob streams: chunked == whole, pauses, long
segments, settled glosses, idle input, times, LM context across commits."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from engine.decoder import DecoderConfig, GlossDecoder
from engine.errors import DecoderError
from engine.events import GlossEvent
from engine.stitching import run_windowed
from engine.streaming import StreamingConfig, StreamingDecoder
from engine.vocabulary import Vocabulary
from training.lm import LMConfig, build_lm

Array = npt.NDArray[Any]
VOCAB = Vocabulary(("a", "b", "c", "x"))  # classes: 0 blank, 1 a, 2 b, 3 c, 4 x
BLANK, A, B, C, X = range(5)
NUM_CLASSES = VOCAB.num_classes
PEAK = 0.96
FPS = 10.0  # one frame = 0.1 s keeps the arithmetic readable
# pause 4 frames, max segment 80 frames, lead 2 frames; pauses and long segments commit
CONFIG = StreamingConfig(fps=FPS, pause_s=0.4, max_segment_s=8.0, lead_s=0.2, settle_s=0.0)
# and a gloss whose class wins 3 frames in a row at >= 0.9
SETTLE = dataclasses.replace(CONFIG, settle_s=0.3, settle_prob=0.9)
# "x c" is the common sentence; after "a" always comes "b"
CORPUS = [("x", "c")] * 20 + [("a", "b", "c")] * 10 + [("c",)] * 2


Spec = int | dict[int, float]


def frames(*spec: Spec) -> Array:
    """Log-probs ``(T, 5) float32``: an int is a peaky frame of that class, a dict
    ``{class: p}`` an ambiguous frame (the rest shared by the other classes)."""
    rows = []
    for item in spec:
        probs = {item: PEAK} if isinstance(item, int) else dict(item)
        rest = (1.0 - sum(probs.values())) / (NUM_CLASSES - len(probs))
        rows.append([probs.get(k, rest) for k in range(NUM_CLASSES)])
    return np.log(np.asarray(rows, np.float64)).astype(np.float32)


def idle(n: int) -> list[Spec]:
    return [BLANK] * n


def sign(cls: int, n: int = 2) -> list[Spec]:
    return [cls] * n


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lm") / "tiny.arpa"
    build_lm(CORPUS, path, LMConfig(order=2, backend="own", binary=False))
    return path


@pytest.fixture(scope="module")
def greedy() -> GlossDecoder:
    return GlossDecoder(VOCAB)


@pytest.fixture(scope="module")
def beam(lm_path: Path) -> GlossDecoder:
    return GlossDecoder(VOCAB, lm_path, DecoderConfig(method="beam"))


def run(
    decoder: GlossDecoder,
    lp: Array,
    chunks: Sequence[int] | None = None,
    config: StreamingConfig = CONFIG,
    start: int = 0,
) -> list[GlossEvent]:
    """Push ``lp`` in chunks of the given sizes (None: at once), then flush; all events."""
    sd = StreamingDecoder(decoder, config)
    sizes = list(chunks) if chunks is not None else [len(lp)]
    events: list[GlossEvent] = []
    pos = 0
    for size in sizes:
        chunk = lp[pos : pos + size]
        events += sd.push(start + pos, chunk)
        pos += len(chunk)
    assert pos == len(lp)
    return events + sd.flush()


def commits(events: Sequence[GlossEvent]) -> list[tuple[str, ...]]:
    return [e.glosses for e in events if e.kind == "commit"]


def flat(events: Sequence[GlossEvent]) -> tuple[str, ...]:
    return tuple(g for c in commits(events) for g in c)


def random_chunks(n: int, rng: np.random.Generator, most: int) -> list[int]:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(0, most + 1)))  # empty pushes too
    return sizes


def sentence_stream() -> Array:
    """Three phrases split by pauses (6-9 idle frames), glosses inside a phrase by 0-2 blanks,
    with some uncertain frames."""
    spec: list[Spec] = idle(5)
    spec += sign(A, 3) + idle(1) + sign(B) + [{B: 0.5, BLANK: 0.4}] + idle(2) + sign(C, 1)
    spec += idle(7)
    spec += [*sign(X, 2), {X: 0.3, C: 0.6}, *sign(C, 2), *idle(1), *sign(X, 1)]
    spec += idle(9)
    spec += sign(A, 2) + sign(B, 2) + idle(2) + sign(C) + [{BLANK: 0.55, A: 0.4}] + idle(6)
    spec += sign(X)
    return frames(*spec)


SENTENCE = ("a", "b", "c", "x", "c", "x", "a", "b", "c", "x")


# ---------------------------------------------------------------------- invariant
@pytest.mark.parametrize("decoder_name", ["greedy", "beam"])
def test_chunked_equals_whole(decoder_name: str, request: pytest.FixtureRequest) -> None:
    decoder: GlossDecoder = request.getfixturevalue(decoder_name)
    lp = sentence_stream()
    whole = run(decoder, lp)
    # the pauses split it into its three phrases; the end of the stream commits the last
    assert commits(whole) == [("a", "b", "c"), ("x", "c", "x"), ("a", "b", "c"), ("x",)]
    assert flat(whole) == SENTENCE == decoder.decode(lp).glosses
    rng = np.random.default_rng(0)
    for sizes in (
        [1] * len(lp),
        [4] * 20,
        [7] * 12,
        *(random_chunks(len(lp), rng, 9) for _ in range(6)),
    ):
        chunked = run(decoder, lp, sizes, start=1000)
        assert commits(chunked) == commits(whole), sizes
        # same glosses at the same (shifted) frames
        ref = [(e.frames[0] + 1000, e.frames[1] + 1000) for e in whole if e.kind == "commit"]
        assert [e.frames for e in chunked if e.kind == "commit"] == ref


@pytest.mark.parametrize("decoder_name", ["greedy", "beam"])
def test_chunked_equals_whole_through_the_stitcher(
    decoder_name: str, request: pytest.FixtureRequest
) -> None:
    """Windows of a (trivially local) model, stitched, decoded chunk by chunk."""
    decoder: GlossDecoder = request.getfixturevalue(decoder_name)
    lp = sentence_stream()
    stitched = run_windowed(lambda w: w, lp, window=12, hop=4, lookahead=2)
    np.testing.assert_array_equal(stitched, lp)
    assert commits(run(decoder, stitched, [4] * 20)) == commits(run(decoder, lp))


def test_lm_context_carries_across_commits(beam: GlossDecoder) -> None:
    # after "a" the LM expects "b"; a sentence starts with "x": an ambiguous b/x sign decodes
    # as "b" only if the committed "a" reaches the LM
    ambiguous: list[Spec] = [{B: 0.45, X: 0.45}]
    lp = frames(*(idle(3) + sign(A) + idle(6) + ambiguous + idle(6)))
    for sizes in (None, [2] * 10, [5] * 4):
        assert commits(run(beam, lp, sizes)) == [("a",), ("b",)]
    alone = frames(*(idle(3) + ambiguous + idle(6)))
    assert commits(run(beam, alone)) == [("x",)]
    # the context survives flush, not reset
    sd = StreamingDecoder(beam, CONFIG)
    sd.push(0, lp[:11])
    assert sd.context == ("a",)
    sd.flush()
    assert sd.context == ("a",)
    sd.reset()
    assert not sd.context
    assert StreamingDecoder(beam, CONFIG, context=["a"]).context == ("a",)


def test_a_weak_sign_before_the_next_is_decoded_with_it(beam: GlossDecoder) -> None:
    # "b" too weak to count as signing (its blank above idle_blank_prob on every frame) between
    # the committed "a" and a clear "c": the idle frames kept before "c" (lead_s) carry it into
    # the decode of "c", where the LM ("a b c") finds it; cut off, it is lost
    weak: list[Spec] = [{BLANK: 0.55, B: 0.4}] * 3
    lp = frames(*(idle(3) + sign(A) + idle(5) + weak + idle(2) + sign(C) + idle(6)))
    short = dataclasses.replace(CONFIG, lead_s=0.2)
    long = dataclasses.replace(CONFIG, lead_s=1.0)
    assert commits(run(beam, lp, config=short)) == [("a",), ("c",)]
    for sizes in (None, [2] * 12, [5] * 5):
        assert commits(run(beam, lp, sizes, config=long)) == [("a",), ("b", "c")]
    # kept idle frames add nothing where nothing was signed
    assert commits(run(beam, frames(*(idle(3) + sign(A) + idle(20))), config=long)) == [("a",)]


def random_stream(rng: np.random.Generator, n_glosses: int) -> Array:
    """Noisy signing: glosses of 1-5 frames with uncertain peaks, gaps of 0-8 idle frames
    (pauses, short gaps, glosses touching), some glosses held long."""
    rows: list[Array] = []

    def frame(cls: int, p: float) -> None:
        row = np.empty(NUM_CLASSES)
        others = [k for k in range(NUM_CLASSES) if k != cls]
        row[others] = rng.dirichlet(np.ones(NUM_CLASSES - 1)) * (1 - p)
        row[cls] = p
        rows.append(row)

    for _ in range(n_glosses):
        for _ in range(int(rng.choice([0, 1, 2, 3, 5, 8]))):
            frame(BLANK, rng.uniform(0.6, 0.99))
        cls = int(rng.integers(1, NUM_CLASSES))
        length = int(rng.integers(1, 6)) if rng.random() > 0.05 else 40
        for _ in range(length):
            frame(cls, rng.uniform(0.45, 0.98))
    for _ in range(3):
        frame(BLANK, 0.9)
    out: Array = np.log(np.asarray(rows)).astype(np.float32)
    return out


@pytest.mark.parametrize("settle", [False, True], ids=["pauses", "settled"])
@pytest.mark.parametrize("decoder_name", ["greedy", "beam"])
def test_chunked_equals_whole_on_random_streams(
    decoder_name: str, settle: bool, request: pytest.FixtureRequest
) -> None:
    decoder: GlossDecoder = request.getfixturevalue(decoder_name)
    # pauses and forced commits mix (and settled glosses)
    config = dataclasses.replace(SETTLE if settle else CONFIG, max_segment_s=3.0)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        lp = random_stream(rng, 40)
        whole = run(decoder, lp, config=config)
        if decoder_name == "greedy":
            # cuts fall on blank frames or class changes, and a settled gloss's continuation is
            # dropped: exactly the whole-stream decoding
            assert flat(whole) == decoder.decode(lp).glosses
        if settle:
            assert len(commits(whole)) > len(commits(run(decoder, lp, config=CONFIG)))
        for _ in range(2):
            chunked = run(decoder, lp, random_chunks(len(lp), rng, 12), config)
            assert commits(chunked) == commits(whole)


# ---------------------------------------------------------------------- pauses, latency
def test_commit_within_pause_plus_one_hop(greedy: GlossDecoder) -> None:
    pause, hop = CONFIG.pause_frames, 3
    lp = frames(*(idle(10) + sign(A, 3) + idle(30)))  # last frame of "a": 12
    sd = StreamingDecoder(greedy, CONFIG, start_time=100.0)
    committed_at = None
    for pos in range(0, len(lp), hop):
        for e in sd.push(pos, lp[pos : pos + hop]):
            if e.kind == "commit":
                assert committed_at is None  # once
                committed_at = pos + len(lp[pos : pos + hop])  # frames seen at the commit
                assert e.glosses == ("a",) and e.confidences == pytest.approx((PEAK,))
                # stream frames 10..12 at 10 fps from 100 s
                assert (e.start, e.end) == pytest.approx((101.0, 101.3))
                assert len(e.spans) == 1 and e.spans[0] == pytest.approx((101.0, 101.3))
                assert e.frames == (10 - CONFIG.lead_frames, 13 + pause)
                assert e.text == "a" and e.confidence == pytest.approx(PEAK)
    assert committed_at is not None
    assert committed_at - 13 <= pause + hop
    assert CONFIG.pause_frames / FPS == pytest.approx(CONFIG.pause_s)


def test_partials_follow_the_open_segment(greedy: GlossDecoder) -> None:
    lp = frames(*(idle(3) + sign(A) + idle(2) + sign(B) + idle(8)))
    sd = StreamingDecoder(greedy, CONFIG)
    seen = []
    for pos in range(0, len(lp), 2):
        seen += [(pos, e.kind, e.glosses) for e in sd.push(pos, lp[pos : pos + 2])]
    assert seen == [
        (2, "partial", ("a",)),  # frame 3
        (4, "partial", ("a",)),  # frame 4: "a" grew (its span changed)
        (6, "partial", ("a", "b")),  # frame 7
        (8, "partial", ("a", "b")),  # frame 8
        (12, "commit", ("a", "b")),  # the pause after frame 8 is complete at frame 12
        (12, "partial", ()),  # the open segment is empty again
    ]
    # with emit_unchanged_partials every push reports the hypothesis
    sd = StreamingDecoder(greedy, dataclasses.replace(CONFIG, emit_unchanged_partials=True))
    kinds = [[e.kind for e in sd.push(p, lp[p : p + 2])] for p in range(0, len(lp), 2)]
    assert all(k[-1] == "partial" for k in kinds)


def test_partial_times(greedy: GlossDecoder) -> None:
    sd = StreamingDecoder(greedy, CONFIG, start_time=5.0)
    (e,) = sd.push(40, frames(*(idle(2) + sign(C, 3) + idle(1))))
    assert e.kind == "partial" and e.glosses == ("c",)
    assert (e.start, e.end) == pytest.approx((5.0 + 4.2, 5.0 + 4.5))
    assert e.frames == (40, 46)


# ---------------------------------------------------------------------- idle input
@pytest.mark.parametrize("decoder_name", ["greedy", "beam"])
def test_no_commit_on_idle_input(decoder_name: str, request: pytest.FixtureRequest) -> None:
    decoder: GlossDecoder = request.getfixturevalue(decoder_name)
    rng = np.random.default_rng(3)
    n = int(120 * FPS)  # two minutes of a person not signing: blank wins, noisy
    p_blank = rng.uniform(0.55, 0.99, size=n)
    rest = rng.dirichlet(np.ones(NUM_CLASSES - 1), size=n) * (1 - p_blank)[:, None]
    lp = np.log(np.concatenate([p_blank[:, None], rest], axis=1)).astype(np.float32)
    sd = StreamingDecoder(decoder, CONFIG)
    events = []
    for pos in range(0, n, 4):
        events += sd.push(pos, lp[pos : pos + 4])
        assert sd.open_frames <= CONFIG.lead_frames  # idle frames are not kept
    assert events + sd.flush() == []


# ---------------------------------------------------------------------- long segments
@pytest.mark.parametrize("decoder_name", ["greedy", "beam"])
def test_max_segment_forces_commits(decoder_name: str, request: pytest.FixtureRequest) -> None:
    decoder: GlossDecoder = request.getfixturevalue(decoder_name)
    config = dataclasses.replace(CONFIG, max_segment_s=2.0)  # 20 frames
    cycle = [A, B, C, X]
    spec: list[Spec] = idle(4)
    for i in range(60):  # 60 glosses, 3-4 frames each, never a pause
        spec += sign(cycle[i % 4], 2 + i % 2) + idle(1 + i % 2)
    lp = frames(*spec)
    expected = decoder.decode(lp).glosses
    assert len(expected) == 60
    whole = run(decoder, lp, config=config)
    assert len(commits(whole)) > 5  # forced long before the end of the stream
    assert flat(whole) == expected  # nothing lost, nothing twice
    for e in whole:
        if e.kind == "commit":
            assert e.frames[1] - e.frames[0] <= config.max_segment_frames
    rng = np.random.default_rng(1)
    for sizes in ([1] * len(lp), random_chunks(len(lp), rng, 15)):
        assert commits(run(decoder, lp, sizes, config)) == commits(whole)


def test_a_gloss_held_longer_than_a_segment_is_committed_once(greedy: GlossDecoder) -> None:
    config = dataclasses.replace(CONFIG, max_segment_s=2.0)
    lp = frames(*(idle(3) + sign(A, 45) + sign(B, 2) + idle(2) + sign(C) + idle(10)))
    for sizes in (None, [3] * 30):
        assert commits(run(greedy, lp, sizes, config)) == [("a",), ("b", "c")]


def test_memory_stays_bounded(greedy: GlossDecoder) -> None:
    config = dataclasses.replace(CONFIG, max_segment_s=2.0)
    lp = frames(*([A, BLANK] * 200))
    sd = StreamingDecoder(greedy, config)
    for pos in range(0, len(lp), 5):
        sd.push(pos, lp[pos : pos + 5])
        assert sd.open_frames < config.max_segment_frames + 5


# ---------------------------------------------------------------------- confidence, errors
def test_min_confidence_drops_weak_glosses(greedy: GlossDecoder) -> None:
    weak: list[Spec] = [{B: 0.5, BLANK: 0.3}] * 2
    lp = frames(*(sign(A) + idle(1) + weak + idle(1) + sign(C) + idle(6)))
    assert commits(run(greedy, lp)) == [("a", "b", "c")]
    strict = dataclasses.replace(CONFIG, min_confidence=0.8)
    events = run(greedy, lp, [2] * 7, strict)
    assert commits(events) == [("a", "c")]
    assert all("b" not in e.glosses for e in events)


# ---------------------------------------------------------------------- settled glosses
def test_a_settled_gloss_is_committed_before_the_pause(greedy: GlossDecoder) -> None:
    lp = frames(*(idle(5) + sign(A, 8) + idle(2) + sign(B, 2) + idle(10)))
    sd = StreamingDecoder(greedy, SETTLE)
    done = []
    for pos in range(len(lp)):
        done += [(pos, e.glosses) for e in sd.push(pos, lp[pos : pos + 1]) if e.is_commit]
    done += [(len(lp), e.glosses) for e in sd.flush() if e.is_commit]
    # "a" (frames 5-12) settles at its third frame, 7; its rest is not committed again; "b"
    # (frames 15-16) is too short to settle and waits for the pause: 4 idle frames, 17-20
    assert done == [(7, ("a",)), (20, ("b",))]
    assert commits(run(greedy, lp, config=SETTLE)) == [("a",), ("b",)]


def test_weak_or_flickering_runs_do_not_settle(greedy: GlossDecoder) -> None:
    weak: list[Spec] = [{A: 0.8}] * 6
    flicker = sign(A, 2) + sign(B, 1) + sign(A, 2)
    lp = frames(*(idle(3) + weak + idle(6) + flicker + idle(6)))
    assert (
        commits(run(greedy, lp, config=SETTLE))
        == commits(run(greedy, lp))
        == [
            ("a",),
            ("a", "b", "a"),
        ]
    )


def test_bad_pushes_and_config(greedy: GlossDecoder) -> None:
    sd = StreamingDecoder(greedy, CONFIG)
    with pytest.raises(DecoderError, match="shape"):
        sd.push(0, np.zeros((3, 7), np.float32))
    bad = frames(BLANK, A)
    bad[1, 2] = np.nan
    with pytest.raises(DecoderError, match="NaN"):
        sd.push(0, bad)
    sd.push(0, frames(BLANK, A))
    with pytest.raises(ValueError, match="contiguously"):
        sd.push(5, frames(BLANK))
    assert sd.push(2, np.zeros((0, NUM_CLASSES), np.float32)) == []
    sd.flush()
    sd.push(50, frames(BLANK))  # after a flush the stream may restart anywhere
    with pytest.raises(ValueError, match="pause_s"):
        StreamingConfig(fps=10, pause_s=1.0, max_segment_s=0.5)
    with pytest.raises(ValueError, match="idle_blank_prob"):
        StreamingConfig(idle_blank_prob=0.0)
    with pytest.raises(ValueError, match="min_confidence"):
        StreamingConfig(min_confidence=2.0)
    with pytest.raises(ValueError, match="settle_prob"):
        StreamingConfig(settle_prob=0.5)
    with pytest.raises(ValueError, match="settle_s"):
        StreamingConfig(settle_s=-1.0)
