"""Sentence synthesis from isolated signs, signer splits, the grammar format, gloss corpora."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.landmarks import GROUPS, NUM_POINTS_WITH_FACE, LandmarkSequence
from tests.conftest import REPO, make_sequence
from training.data.grammar import GrammarError, load_grammar, parse_grammar, read_gloss_corpus
from training.data.splits import SplitError, leave_one_signer_out, list_signers, split_by_signer
from training.data.synth_dataset import synthesize_dataset
from training.data.synthesis import (
    IndexedSample,
    SamplePool,
    SynthesisConfig,
    SynthesisError,
    collect_samples,
    synthesize,
)

GLOSSES = ("hello", "i", "get", "tea", "please")
SIGNERS = ("ann", "bob", "cid")
COFFEE_WORDS = frozenset(
    ("can", "coffee", "get", "hello", "i", "a", "large", "medium", "muffin", "no", "please",
     "small", "tea", "thank-you", "water")
)  # fmt: skip
# no augmentation, no pauses, no time stretch: every gloss's frames are its source clip's
PLAIN = SynthesisConfig(
    idle_before=0.0,
    idle_after=0.0,
    idle_between=0.0,
    stretch=(1.0, 1.0),
    transition_seconds=(0.1, 0.1),
    align_clips=False,
    scale=(1.0, 1.0),
    shift=0.0,
    rotation_degrees=0.0,
)


def _samples(
    signers: Sequence[str] = SIGNERS, per_gloss: int = 3, drop_left: float = 0.3
) -> list[LandmarkSequence]:
    """Isolated samples of every gloss (and idle) by every signer, 14..25 frames long."""
    out = []
    k = 0
    for signer in signers:
        for gloss in (*GLOSSES, "-"):
            for _ in range(per_gloss):
                out.append(
                    make_sequence(
                        num_frames=14 + k % 12, seed=k, glosses=(gloss,), signer=signer,
                        drop_left=drop_left,
                    )
                )  # fmt: skip
                k += 1
    return out


def _by_gloss(samples: Sequence[LandmarkSequence]) -> dict[str, list[IndexedSample]]:
    return collect_samples(samples, range(len(samples)))


def _sentences(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(seed)
    return [
        tuple(GLOSSES[int(j)] for j in rng.integers(len(GLOSSES), size=int(rng.integers(1, 6))))
        for _ in range(n)
    ]


def _used(seq: LandmarkSequence) -> list[int]:
    ids = seq.extra["samples"].split(",") + seq.extra["idle_samples"].split(",")
    return [int(x) for x in ids if x]


# ---------------------------------------------------------------------- labels and frames
def test_spans_labels_and_frames_agree() -> None:
    samples = _samples()
    sentences = _sentences(40)
    out = list(synthesize(_by_gloss(samples), sentences, SynthesisConfig(), seed=7))
    assert len(out) == len(sentences)
    for i, (seq, sentence) in enumerate(zip(out, sentences, strict=True)):
        assert seq.glosses == sentence and seq.source == f"synth:7:{i}"
        assert seq.spans is not None and len(seq.spans) == len(sentence)
        np.testing.assert_allclose(np.diff(seq.timestamps), 1 / 30)
        prev_stop = 0
        used = [int(x) for x in seq.extra["samples"].split(",")]
        stretch = [float(x) for x in seq.extra["stretch"].split(",")]
        for (start, stop), gloss, idx, s in zip(seq.spans, sentence, used, stretch, strict=True):
            assert prev_stop <= start < stop <= seq.num_frames  # ordered, inside, not empty
            src = samples[idx]
            assert src.glosses == (gloss,) and src.signer == seq.signer  # one signer signs all
            assert 0.8 <= s <= 1.25
            assert stop - start == max(1, round(src.num_frames * s))  # the stretched clip
            prev_stop = stop
        assert all(samples[j].signer == seq.signer for j in _used(seq))
        assert all(samples[j].glosses == ("-",) for j in _used(seq)[len(sentence) :])
        # absent groups are zero, present ones finite
        mask = seq.point_mask()
        assert np.all(seq.points[~mask] == 0) and np.isfinite(seq.points).all()


def test_plain_config_copies_clips_and_blends_the_joins() -> None:
    samples = _samples(drop_left=0.0)
    seq = next(synthesize(_by_gloss(samples), [("hello", "get", "tea")], PLAIN, seed=1))
    assert seq.spans is not None
    used = [int(x) for x in seq.extra["samples"].split(",")]
    for (start, stop), idx in zip(seq.spans, used, strict=True):
        src = samples[idx]
        np.testing.assert_allclose(seq.points[start:stop], src.points, atol=1e-6)
        np.testing.assert_array_equal(seq.present[start:stop], src.present)
    # 3 transition frames (0.1 s at 30 fps) between clips, moving from one end to the other
    for (_, stop), (start, _) in zip(seq.spans[:-1], seq.spans[1:], strict=True):
        assert start - stop == 3
        a, b = seq.points[stop - 1, :75, :2], seq.points[start, :75, :2]
        for k in range(stop, start):
            frame = seq.points[k, :75, :2]
            assert np.all(frame >= np.minimum(a, b) - 1e-6)
            assert np.all(frame <= np.maximum(a, b) + 1e-6)
        w = (seq.points[stop + 1, 33:75, :2] - a[33:]) / np.where(
            b[33:] != a[33:], b[33:] - a[33:], 1
        )
        assert np.allclose(w[b[33:] != a[33:]], 0.5, atol=1e-4)  # smoothstep midpoint


def test_join_with_a_hand_on_one_side_only() -> None:
    with_hand = make_sequence(num_frames=10, seed=1, glosses=("hello",), signer="s")
    no_hand = make_sequence(num_frames=10, seed=2, glosses=("get",), signer="s")
    present = no_hand.present.copy()
    present[:, 1] = False
    points = no_hand.points.copy()
    points[:, 33:54] = 0
    no_hand = no_hand.replace(points=points, present=present)
    cfg = SynthesisConfig(**{**PLAIN.__dict__, "transition_seconds": (0.2, 0.2)})  # 6 frames
    pool = {"hello": [(0, with_hand)], "get": [(1, no_hand)]}
    seq = next(synthesize(pool, [("hello", "get")], cfg))
    assert seq.spans == ((0, 10), (16, 26))
    join = seq.present[10:16, 1]
    assert join.tolist() == [True, True, True, False, False, False]  # shown for the near half
    np.testing.assert_allclose(
        seq.points[10:13, 33:54], np.repeat(with_hand.points[9:10, 33:54], 3, 0)
    )
    assert np.all(seq.points[13:16, 33:54] == 0)
    assert seq.present[10:16, 0].all()  # the pose, on both sides, moves across


def test_time_stretch_takes_presence_from_the_nearest_frame() -> None:
    src = make_sequence(num_frames=10, seed=3, glosses=("tea",), signer="s")
    present = src.present.copy()
    present[5:, 1] = False  # left hand leaves after frame 4
    points = src.points.copy()
    points[5:, 33:54] = 0
    src = src.replace(points=points, present=present)
    cfg = SynthesisConfig(**{**PLAIN.__dict__, "stretch": (2.0, 2.0)})
    seq = next(synthesize({"tea": [(0, src)]}, [("tea",)], cfg))
    assert seq.num_frames == 20
    pos = np.arange(20) * 9 / 19  # output frame k samples source position pos[k]
    np.testing.assert_array_equal(seq.present[:, 1], np.rint(pos) < 5)
    hand = seq.points[seq.present[:, 1], 33:54, 0]
    # never blended with the zeros of the absent hand: stays within the source's range
    assert hand.min() >= src.points[:5, 33:54, 0].min() - 1e-6
    np.testing.assert_allclose(seq.points[0], src.points[0], atol=1e-6)
    np.testing.assert_allclose(seq.points[-1], src.points[-1], atol=1e-6)


def test_face_kept_only_when_every_clip_has_it() -> None:
    a = make_sequence(num_frames=8, seed=1, glosses=("hello",), signer="s")
    face_points = np.zeros((8, NUM_POINTS_WITH_FACE, 4), np.float32)
    face_points[:, :75] = a.points
    face_points[:, 75:] = 0.5
    present = a.present.copy()
    present[:, 3] = True
    b = a.replace(points=face_points, present=present, glosses=("tea",))
    pool = {"hello": [(0, a)], "tea": [(1, b)]}
    mixed = next(synthesize(pool, [("hello", "tea")], PLAIN))
    assert not mixed.has_face and not mixed.present[:, 3].any()
    only_face = next(synthesize(pool, [("tea", "tea")], PLAIN))
    assert only_face.has_face and only_face.present[:, 3].all()


def test_augmentation_moves_points_not_presence() -> None:
    samples = _samples(signers=("ann",))
    pool = _by_gloss(samples)
    plain = next(synthesize(pool, [("hello", "tea")], PLAIN, seed=4))
    cfg = SynthesisConfig(**{**PLAIN.__dict__, "scale": (1.2, 1.2), "shift": 0.0})
    big = next(synthesize(pool, [("hello", "tea")], cfg, seed=4))
    np.testing.assert_array_equal(plain.present, big.present)
    m = plain.point_mask()
    np.testing.assert_allclose(
        big.points[m][:, :2] - 0.5, 1.2 * (plain.points[m][:, :2] - 0.5), atol=1e-5
    )


def test_pauses_come_from_idle_samples_of_the_same_signer() -> None:
    samples = _samples()
    cfg = SynthesisConfig(idle_before=1.0, idle_after=1.0, idle_between=1.0)
    for seq in synthesize(_by_gloss(samples), _sentences(10), cfg, seed=2):
        assert seq.spans is not None and seq.spans[0][0] > 0 and seq.spans[-1][1] < seq.num_frames
        assert seq.extra["idle_samples"]
        assert {samples[j].signer for j in _used(seq)} == {seq.signer}
        assert "-" not in seq.glosses


# ---------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs() -> None:
    samples = _samples()
    sentences = _sentences(12)

    def run(seed: int, reverse_pool: bool = False) -> list[LandmarkSequence]:
        pool = _by_gloss(samples)
        if reverse_pool:  # the pool's order must not depend on how the mapping was built
            pool = {g: list(reversed(v)) for g, v in reversed(list(pool.items()))}
        return list(synthesize(pool, sentences, SynthesisConfig(mirror_probability=0.3), seed))

    def key(seqs: list[LandmarkSequence]) -> list[tuple[object, ...]]:
        return [
            (s.points.tobytes(), s.present.tobytes(), s.timestamps.tobytes(), s.spans, s.extra,
             s.signer, s.source)
            for s in seqs
        ]  # fmt: skip

    assert key(run(5)) == key(run(5)) == key(run(5, reverse_pool=True))
    other = run(6)
    assert all(a.points.tobytes() != b.points.tobytes() for a, b in zip(run(5), other, strict=True))


def test_config_seed_is_the_default() -> None:
    samples = _samples(signers=("ann",))
    a = next(synthesize(_by_gloss(samples), [("tea",)], SynthesisConfig(seed=3)))
    b = next(synthesize(_by_gloss(samples), [("tea",)], SynthesisConfig(), seed=3))
    assert a.source == "synth:3:0" and a.points.tobytes() == b.points.tobytes()


# ---------------------------------------------------------------------- errors
def test_unsignable_sentences_are_errors() -> None:
    samples = [
        make_sequence(seed=1, glosses=("hello",), signer="ann"),
        make_sequence(seed=2, glosses=("tea",), signer="bob"),
    ]
    pool = _by_gloss(samples)
    with pytest.raises(SynthesisError, match="no signer"):
        list(synthesize(pool, [("hello", "tea")]))  # two people, never mixed
    with pytest.raises(SynthesisError, match="no samples at all of: water"):
        list(synthesize(pool, [("water",)]))
    with pytest.raises(SynthesisError, match="idle gloss"):
        list(synthesize(pool, [("hello", "-")]))
    assert SamplePool(pool).signers_for(("hello",)) == ("ann",)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="stretch"):
        SynthesisConfig(stretch=(1.2, 0.8))
    with pytest.raises(ValueError, match="probability"):
        SynthesisConfig(idle_between=1.5)


# ---------------------------------------------------------------------- splits
def _dataset(tmp_path: Path, samples: list[LandmarkSequence]) -> Dataset:
    ds = Dataset.create(tmp_path / "src")
    ds.append(samples)
    return ds


def test_split_by_signer_and_its_errors(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, _samples())
    infos = ds.infos
    assert list_signers(infos) == {"ann": 18, "bob": 18, "cid": 18}
    split = split_by_signer(infos, ["cid"], ["bob"])
    assert split.train_signers == ("ann",) and split.test_signers == ("cid",)
    assert {infos[i].signer for i in split.train} == {"ann"}
    assert {infos[i].signer for i in split.dev} == {"bob"}
    assert {infos[i].signer for i in split.test} == {"cid"}
    assert len(split.train) + len(split.dev) + len(split.test) == len(infos)
    with pytest.raises(SplitError, match="both dev and test: bob"):
        split_by_signer(infos, ["bob"], ["bob"])
    with pytest.raises(SplitError, match=r"'zoe'.*ann, bob, cid"):
        split_by_signer(infos, ["zoe"])
    with pytest.raises(SplitError, match="nobody is left"):
        split_by_signer(infos, ["ann", "bob"], ["cid"])
    with pytest.raises(SplitError, match="string"):
        split_by_signer(infos, "ann")


def test_split_validate_catches_a_leak(tmp_path: Path) -> None:
    infos = _dataset(tmp_path, _samples()).infos
    split = split_by_signer(infos, ["cid"])
    leaky = split.__class__(
        train=np.append(split.train, split.test[:1]), dev=split.dev, test=split.test,
        train_signers=split.train_signers, dev_signers=(), test_signers=split.test_signers,
    )  # fmt: skip
    with pytest.raises(SplitError, match="cid in test\\+train"):
        leaky.validate(infos)


def test_unknown_signers_must_be_placed_explicitly(tmp_path: Path) -> None:
    samples = [*_samples(signers=("ann", "bob"), per_gloss=1)]
    samples += [make_sequence(seed=99, glosses=("tea",), signer="")]
    infos = _dataset(tmp_path, samples).infos
    with pytest.raises(SplitError, match="1 samples have no signer"):
        split_by_signer(infos, ["bob"])
    dropped = split_by_signer(infos, ["bob"], unknown_signer="drop")
    kept = split_by_signer(infos, ["bob"], unknown_signer="train")
    assert len(kept.train) == len(dropped.train) + 1


def test_leave_one_signer_out(tmp_path: Path) -> None:
    infos = _dataset(tmp_path, _samples()).infos
    folds = list(leave_one_signer_out(infos))
    assert [f.test_signers for f in folds] == [("ann",), ("bob",), ("cid",)]
    with_dev = list(leave_one_signer_out(infos, with_dev=True))
    assert (with_dev[0].test_signers, with_dev[0].dev_signers) == (("ann",), ("bob",))
    assert all(len(f.train_signers) == 1 for f in with_dev)


def test_no_held_out_signer_leaks_into_training_sentences(tmp_path: Path) -> None:
    ds = _dataset(tmp_path, _samples())
    infos = ds.infos
    split = split_by_signer(infos, ["cid"], ["bob"])
    train_pool = collect_samples(ds, split.train)
    train = set(split.train.tolist())
    for seq in synthesize(train_pool, _sentences(30), SynthesisConfig(idle_between=0.5), 3):
        assert seq.signer in split.train_signers
        assert set(_used(seq)) <= train

    # and through the dataset-to-dataset path the CLI uses
    grammar = parse_grammar("<S> = hello <x> | i get tea please\n<x> = tea | get tea")
    out = Dataset.create(tmp_path / "out")
    report = synthesize_dataset(ds, out, grammar, 40, seed=9, signers=split.train_signers)
    assert report.written == len(out) == 40 and report.per_signer == {"ann": 40}
    for seq in out:
        assert seq.signer == "ann" and seq.source.startswith("synth:9:")
        assert all(infos[j].signer == "ann" for j in _used(seq))
        assert set(seq.glosses) <= grammar.terminals()
        assert seq.spans is not None and seq.spans[-1][1] <= seq.num_frames
    with pytest.raises(SynthesisError, match="already holds"):
        synthesize_dataset(ds, out, grammar, 5, seed=9, signers=["ann"])
    with pytest.raises(SynthesisError, match="no samples of signer"):
        synthesize_dataset(ds, out, grammar, 5, seed=10, signers=["zoe"])


def test_synthesize_dataset_redraws_what_the_signers_cannot_sign(tmp_path: Path) -> None:
    samples = _samples(signers=("ann",), per_gloss=1)
    samples.append(make_sequence(seed=50, glosses=("water",), signer="bob"))
    ds = _dataset(tmp_path, samples)
    grammar = parse_grammar("<S> = hello tea | [3] water please")
    out = Dataset.create(tmp_path / "out")
    report = synthesize_dataset(ds, out, grammar, 20, seed=1, signers=["ann"])
    assert report.written == 20 and report.redrawn > 0
    assert report.missing_glosses == ("water",)
    assert all(s.glosses == ("hello", "tea") for s in out)
    assert "redrew" in report.summary()
    with pytest.raises(SynthesisError, match="can be signed"):
        synthesize_dataset(ds, out, parse_grammar("<S> = water"), 3, seed=2, signers=["ann"])


# ---------------------------------------------------------------------- grammar
def test_grammar_parses_samples_and_enumerates() -> None:
    g = parse_grammar(
        """
        # comment
        <S> = [3] hello <order> | no thank-you   # trailing comment
        <order> =
            | can i get <item> <polite>
            | i get <item> <polite>
        <item> = a <size> coffee | muffin
        <size> = small | large
        <polite> = please | <NULL>
        """,
        source="test.grammar",
    )
    assert g.terminals() == {
        "hello", "no", "thank-you", "can", "i", "get", "a", "small", "large", "coffee",
        "muffin", "please",
    }  # fmt: skip
    language = g.enumerate()
    assert ("no", "thank-you") in language
    assert ("hello", "can", "i", "get", "a", "large", "coffee") in language
    assert len(language) == 1 + 2 * 3 * 2
    a = g.sample_many(200, np.random.default_rng(0))
    assert a == g.sample_many(200, np.random.default_rng(0))
    assert set(a) <= language
    share = sum(s[0] == "hello" for s in a) / len(a)
    assert 0.65 < share < 0.85  # weight 3 against 1


def test_recursive_grammar() -> None:
    g = parse_grammar("<S> = <list>\n<list> = tea | [0.5] tea <list>")
    assert g.is_recursive()
    lengths = [len(s) for s in g.sample_many(300, np.random.default_rng(1))]
    assert min(lengths) == 1 and max(lengths) > 2
    with pytest.raises(GrammarError, match="infinite"):
        g.enumerate()
    runaway = parse_grammar("<S> = tea | [50] <S> <S>")
    with pytest.raises(GrammarError, match="runs away"):
        runaway.sample(np.random.default_rng(0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<S> = a\nhello there", r"g\.grammar:2: expected '<name> = alternatives'"),
        ("<S> = a <B>", r"g\.grammar:1: <B> is used but not defined"),
        ("<S> = a\n<S> = b", r"g\.grammar:2: <S> is defined twice \(first on line 1\)"),
        ("<S> = a |  | b", r"g\.grammar:1: empty alternative"),
        ("<S> = [x] a", r"g\.grammar:1: weight \[x\] must be a positive number"),
        ("<S> = [0] a", r"g\.grammar:1: weight \[0\]"),
        ("<S> = a\n<T> = b <T>", r"g\.grammar:2: <T> can never finish"),
        ("<S> = a <B>\n<B> = <S> b", r"g\.grammar:1: <S>, <B> can never finish"),
        ("<S> = a<b", r"g\.grammar:1: 'a<b' is neither a gloss"),
        ("| a", r"g\.grammar:1: '\|' continues a rule"),
        ("<T> = a", r"g\.grammar: no start rule <S>"),
        ("<S> =\n", r"g\.grammar:1: <S> has no alternatives"),
        ("<NULL> = a", r"g\.grammar:1: <NULL> is built in"),
    ],
)
def test_grammar_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(GrammarError, match=message):
        parse_grammar(text, source="g.grammar")


def test_load_grammar_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.grammar"
    path.write_text("<S> = a\n\n<S> = b\n", encoding="utf-8")
    with pytest.raises(GrammarError, match=r"bad\.grammar:3:"):
        load_grammar(path)
    with pytest.raises(GrammarError, match="cannot read"):
        load_grammar(tmp_path / "missing.grammar")


def test_coffee_grammar() -> None:
    g = load_grammar(REPO / "training" / "configs" / "coffee.grammar")
    assert g.terminals() == COFFEE_WORDS
    language = g.enumerate()
    assert len(language) >= 500
    for sentence in (
        "hello i get a large coffee please",
        "can i get a small tea",
        "no thank-you",
        "water please",
        "muffin please",
    ):
        assert tuple(sentence.split()) in language, sentence
    drawn = g.sample_many(2000, np.random.default_rng(0))
    assert len(set(drawn)) >= 300


# ---------------------------------------------------------------------- corpora
def test_gloss_corpus_filtered_to_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "c.gloss.txt"
    path.write_text("HELLO I GET TEA\n\nI GET COFFEE\nTHANK-YOU\nHELLO WORLD WORLD\n", "utf-8")
    vocab = {"hello", "i", "get", "tea", "thank-you"}
    c = read_gloss_corpus(path, vocab, case="lower")
    assert c.sentences == (("hello", "i", "get", "tea"), ("thank-you",))
    assert (c.read, c.dropped) == (4, 2)
    assert c.oov == {"world": 2, "coffee": 1}
    assert "kept 2 of 4" in c.summary()
    assert read_gloss_corpus(path, vocab).sentences == ()  # case kept: nothing matches
    assert len(read_gloss_corpus(path).sentences) == 4


# ---------------------------------------------------------------------- real data
@pytest.mark.data
def test_asl_coffee_sentences_from_one_signer(shared_data: Path) -> None:
    z = np.load(shared_data / "asl-coffee" / "words.npz")
    x, glosses, signers = z["X"], z["gloss"], z["signer"]
    keep = [
        i for i in range(len(x))
        if signers[i] == "TheCamNelson" and (glosses[i] in COFFEE_WORDS or glosses[i] == "-")
    ]  # fmt: skip
    samples: dict[str, list[IndexedSample]] = {}
    for i in keep:
        g, s = str(glosses[i]), str(signers[i])
        seq = LandmarkSequence.from_flat(x[i], "258", fps=30, glosses=(g,), signer=s)
        samples.setdefault(g, []).append((i, seq))
    assert set(samples) == COFFEE_WORDS | {"-"}
    grammar = load_grammar(REPO / "training" / "configs" / "coffee.grammar")
    sentences = grammar.sample_many(20, np.random.default_rng(0))
    for seq, sentence in zip(synthesize(samples, sentences, seed=0), sentences, strict=True):
        assert seq.glosses == sentence and seq.signer == "TheCamNelson"
        assert seq.spans is not None
        stops = [0, *(b for _, b in seq.spans)]
        starts = [a for a, _ in seq.spans]
        assert all(p <= a for p, a in zip(stops, starts, strict=False))
        used = [int(v) for v in seq.extra["samples"].split(",")]
        for (a, b), g, i in zip(seq.spans, sentence, used, strict=True):
            assert glosses[i] == g and signers[i] == "TheCamNelson"
            assert 16 <= b - a <= 25  # 20 frames stretched by 0.8..1.25
        assert seq.present[:, 0].mean() > 0.9  # the body is seen throughout
        hands = seq.points[:, 33:75][seq.point_mask()[:, 33:75]][:, :2]  # pose y goes past 1
        assert np.isfinite(seq.points).all() and hands.min() > -0.5 and hands.max() < 1.5
        assert seq.present.shape == (seq.num_frames, len(GROUPS))
