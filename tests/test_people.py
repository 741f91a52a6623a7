"""The crowd and the people dataset: ragged npz import, the default vocabulary, folds by person,
grammar includes, and the per-person evaluation."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.errors import ImportProblem
from tests.conftest import REPO, _sign, tiny_config
from tests.test_importers import flat_frames, split
from training.data.grammar import GrammarError, load_grammar
from training.data.people import (
    ASL_COFFEE_FOLDS,
    DISTRACT,
    FOLDS,
    MIN_GROUPS,
    UNSEEN,
    assign_folds,
    build_distract,
    build_people,
    build_unknown,
    crowd_gloss,
    people_vocabulary,
    unknown_half,
)
from training.importers.npz_sets import import_npz


def ragged_npz(path: Path, lengths: list[int], **labels: object) -> np.ndarray:
    rng = np.random.default_rng(len(lengths))
    x = np.concatenate([flat_frames(rng, 1, n, "258")[0] for n in lengths])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    np.savez_compressed(path, X=x, offsets=offsets, **{k: np.asarray(v) for k, v in labels.items()})
    return x


# ---------------------------------------------------------------------- ragged import
def test_ragged_npz_clips_keep_their_lengths_and_values(tmp_path: Path) -> None:
    lengths = [12, 30, 17]
    x = ragged_npz(
        tmp_path / "r.npz", lengths, gloss=["hello", "no", "hello"], signer=["a", "b", "a"]
    )
    seqs, problems = split(list(import_npz(tmp_path / "r.npz")))
    assert problems == [] and [s.num_frames for s in seqs] == lengths
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(
            s.to_flat("258"), x[starts[i] : starts[i + 1]].astype(np.float32)
        )
        np.testing.assert_allclose(s.timestamps, np.arange(lengths[i]) / 30.0)
    only = split(list(import_npz(tmp_path / "r.npz", include_glosses={"no"})))[0]
    assert [s.num_frames for s in only] == [30]


def test_pixel_coordinates_are_a_problem_per_clip(tmp_path: Path) -> None:
    lengths = [10, 10, 10]
    rng = np.random.default_rng(0)
    x = np.concatenate([flat_frames(rng, 1, n, "258")[0] for n in lengths])
    x[10:20, 132:135] = 700.0  # clip 1: a hand in pixels
    np.savez_compressed(
        tmp_path / "p.npz", X=x, offsets=np.array([0, 10, 20, 30]), gloss=np.array(["a", "b", "c"])
    )
    seqs, problems = split(list(import_npz(tmp_path / "p.npz")))
    assert [s.glosses for s in seqs] == [("a",), ("c",)]
    assert (
        len(problems) == 1
        and "p.npz#1" in str(problems[0])
        and "not normalised" in str(problems[0])
    )


@pytest.mark.parametrize("offsets", [[0, 10, 25], [1, 10, 20], [0, 15, 10, 20], [[0, 20]]], ids=str)
def test_bad_offsets_are_one_problem(tmp_path: Path, offsets: list[int]) -> None:
    x = flat_frames(np.random.default_rng(0), 1, 20, "258")[0]
    n = max(1, np.asarray(offsets).size - 1)
    np.savez_compressed(
        tmp_path / "o.npz", X=x, offsets=np.array(offsets), gloss=np.array(["g"] * n)
    )
    items = list(import_npz(tmp_path / "o.npz"))
    assert len(items) == 1 and isinstance(items[0], ImportProblem) and "offsets" in str(items[0])


# ---------------------------------------------------------------------- vocabulary and folds
def _labels(counts: dict[str, int]) -> tuple[list[str], list[str]]:
    glosses, signers = [], []
    for gloss, groups in counts.items():
        for k in range(groups):
            glosses += [gloss, gloss]  # two clips each: groups count people, not clips
            signers += [f"person{k}", f"person{k}"]
    return glosses, signers


def test_vocabulary_is_asl_coffee_plus_words_enough_people_recorded() -> None:
    counts = {
        "hello": 30, "yes": MIN_GROUPS, "sorry": MIN_GROUPS - 1, "b": 12, "a": 12, "i": 12,
        "bye": 4, "goodbye": 3, "bye-bye": 1, "idle": 9, "my-name-is": 9, "hola": 9, "name": 9,
    }  # fmt: skip
    vocab = people_vocabulary(*_labels(counts))
    assert "yes" in vocab.glosses and "sorry" not in vocab.glosses  # the threshold
    assert "b" not in vocab.glosses  # letters are not words
    assert {"a", "i", "coffee", "water"} <= set(vocab.glosses)  # asl-coffee's words stay
    assert vocab.crowd_groups["bye"] == 4  # goodbye, bye-bye merged (same people counted once)
    assert "bye" not in vocab.glosses and "-" not in vocab.glosses
    roles = {g: vocab.role(crowd_gloss(g)) for g in counts}
    assert roles == {
        "hello": "word", "yes": "word", "sorry": "unknown", "b": "unknown", "a": "unused",
        "i": "unused", "bye": "unknown", "goodbye": "unknown", "bye-bye": "unknown",
        "idle": "idle", "my-name-is": "unused", "hola": "unused", "name": "word",
    }  # fmt: skip


def test_folds_fixed_for_asl_coffee_balanced_and_order_free() -> None:
    crowd = [f"user{k}/repo" for k in range(23)]
    folds = assign_folds([*crowd, *ASL_COFFEE_FOLDS])
    assert {s: folds[s] for s in ASL_COFFEE_FOLDS} == ASL_COFFEE_FOLDS
    sizes = np.bincount(list(folds.values()), minlength=FOLDS)
    assert sizes.max() - sizes.min() <= 1
    assert assign_folds(reversed([*crowd, *ASL_COFFEE_FOLDS])) == folds


# ---------------------------------------------------------------------- building the datasets
@pytest.fixture
def fake_shared(tmp_path: Path) -> Path:
    """A shared-data root with a small asl-coffee and a crowd of ten people."""
    root = tmp_path / "shared-data"
    (root / "asl-coffee").mkdir(parents=True)
    (root / "crowd").mkdir()
    rng = np.random.default_rng(3)
    coffee = ["hello", "tea", "-", "b"]
    np.savez_compressed(
        root / "asl-coffee" / "words.npz",
        X=flat_frames(rng, len(coffee), 8, "258"), gloss=np.array(coffee),
        signer=np.array(["dmohazab", "Alex", "Alex", "Alex"]),
    )  # fmt: skip
    glosses, signers = [], []
    # hello and thank-you by ten people, zebra and yak (unknown) by three
    for k in range(10):
        for g in ("hello", "thank-you", "-" if k % 2 else "idle", "zebra", "yak", "a"):
            if g not in ("zebra", "yak") or k < 3:
                glosses.append(g)
                signers.append(f"p{k}")
    ragged_npz(
        root / "crowd" / "crowd.npz", [8 + (i % 5) for i in range(len(glosses))],
        gloss=glosses, signer=signers, folder=glosses,
    )  # fmt: skip
    return root


def test_people_and_unknown_datasets(fake_shared: Path, tmp_path: Path) -> None:
    vocab, report = build_people(fake_shared, tmp_path / "people")
    assert "thank-you" in vocab.glosses and "zebra" not in vocab.glosses
    ds = Dataset(tmp_path / "people")
    infos = ds.infos
    assert {i.gloss for i in infos} <= set(vocab.glosses) | {"-"}
    assert "b" not in {i.gloss for i in infos}  # asl-coffee's letters are not the vocabulary's
    assert not [i for i in infos if i.extra["dataset"] == "crowd" and i.gloss == "a"]
    assert {i.extra["fold"] for i in infos if i.signer == "dmohazab"} == {"0"}
    per_person = {}
    for i in infos:
        per_person.setdefault(i.signer, set()).add(i.extra["fold"])
    assert all(len(f) == 1 for f in per_person.values())  # nobody on two sides
    assert report.imported == len(ds)
    again = build_people(fake_shared, tmp_path / "people")[1]
    assert again.imported == 0 and len(Dataset(tmp_path / "people")) == len(ds)
    build_unknown(fake_shared, tmp_path / "unknown")
    unknown = Dataset(tmp_path / "unknown").infos
    assert {i.gloss for i in unknown} == {"zebra", "yak"} and len(unknown) == 6
    # one half of the unknown signs trains as distractors, the other is never trained on
    assert (unknown_half("yak"), unknown_half("zebra")) == (DISTRACT, UNSEEN)
    build_distract(fake_shared, tmp_path / "distract")
    distract = Dataset(tmp_path / "distract").infos
    assert {i.gloss for i in distract} == {"yak"} and len(distract) == 3
    assert {i.extra["fold"] for i in distract} == {i.extra["fold"] for i in unknown}
    # as distractors, a fold's unknown signs stay out of the training that holds it out
    from training.data.sentences import _distractors

    held = next(i for i in distract)
    fold = int(held.extra["fold"])
    kept = list(_distractors(Dataset(tmp_path / "distract"), set(), fold))
    assert len(kept) == sum(i.extra["fold"] != str(fold) for i in distract) < len(distract)
    assert len(list(_distractors(Dataset(tmp_path / "distract"), {held.signer}, -1))) < 3


# ---------------------------------------------------------------------- grammar includes
def test_grammar_include_renames_the_included_rules(tmp_path: Path) -> None:
    (tmp_path / "shop.grammar").write_text("<S> = tea <please>\n<please> = please | <NULL>\n")
    (tmp_path / "main.grammar").write_text(
        "include shop.grammar as <shop>\n<S> = hello <shop> | <please>\n<please> = thanks\n"
    )
    g = load_grammar(tmp_path / "main.grammar")
    assert {"shop", "shop-please", "please"} <= set(g.rules)
    assert g.enumerate() == {("hello", "tea"), ("hello", "tea", "please"), ("thanks",)}
    (tmp_path / "loop.grammar").write_text("include loop.grammar as <again>\n<S> = x\n")
    with pytest.raises(GrammarError, match="deeper"):
        load_grammar(tmp_path / "loop.grammar")
    (tmp_path / "clash.grammar").write_text("include shop.grammar as <shop>\n<S> = x\n<shop> = y\n")
    with pytest.raises(GrammarError, match="included grammar"):
        load_grammar(tmp_path / "clash.grammar")


@pytest.mark.data
def test_people_grammar_covers_the_default_vocabulary(shared_data: Path) -> None:
    from training.data.people import _crowd_labels

    vocab = people_vocabulary(*_crowd_labels(shared_data))
    grammar = load_grammar(REPO / "training" / "configs" / "people.grammar")
    assert set(grammar.terminals()) == set(vocab.glosses)


@pytest.mark.data
def test_the_real_crowd_gives_the_documented_vocabulary(shared_data: Path) -> None:
    from training.data.people import _crowd_labels

    glosses, signers = _crowd_labels(shared_data)
    vocab = people_vocabulary(glosses, signers)
    assert len(vocab.glosses) == 25
    assert {
        "i-love-you",
        "yes",
        "help",
        "sorry",
        "you",
        "bye",
        "good",
        "welcome",
        "name",
        "my",
    } <= set(vocab.glosses)
    folds = assign_folds(signers)
    assert len(folds) == len(set(signers)) + len(ASL_COFFEE_FOLDS)


# ---------------------------------------------------------------------- held-out people
def test_fold_split_and_per_person_evaluation(tmp_path: Path, tiny_data: Path) -> None:
    from training.heldout_people import evaluate_fold, summarise_people
    from training.trainer import train

    folds = {"s1": 0, "s2": 1, "s3": 2}
    source = Dataset(tiny_data / "ds")
    people = Dataset.create(tmp_path / "data" / "people")
    people.append(
        s.replace(extra={"fold": str(folds[s.signer]), "dataset": "tiny"}) for s in source
    )
    unknown = Dataset.create(tmp_path / "data" / "crowd-unknown")
    strange = [_sign("-", 50 + k, "s3") for k in range(5)]
    # yak is of the half trained on as distractors: not counted as a sign never seen
    unknown.append(
        s.replace(glosses=("zebra" if k < 3 else "yak",), extra={"fold": "2"})
        for k, s in enumerate(strange)
    )
    run = train(
        tiny_config(
            tiny_data, "folds", "mobilenet1d", f'data.dataset="{tmp_path / "data" / "people"}"',
            "data.test_fold=2", "data.test_signers=[]",
        ),
        progress=False,
    )  # fmt: skip
    from training.checkpoint import load_checkpoint

    assert load_checkpoint(run.run_dir / "best.pt").config.data.test_fold == 2
    result = evaluate_fold(
        run.run_dir / "best.pt", 2, None, 0.0, tiny_data / "tiny.grammar",
        data_dir=tmp_path / "data", sentences_per_person=6,
    )  # fmt: skip
    assert result["plain"] == result["rejection"]  # a model without a rejector: the same
    (person,) = result["rejection"]["people"]
    assert person["signer"] == "s3" and person["clips"] == 20 and person["sentences"] == 6
    assert person["unknown_clips"] == 3 and 0.0 <= person["top1"] <= 1.0
    assert sum(sum(c.values()) for c in result["rejection"]["confusions"].values()) == 20
    summary = summarise_people([result])
    assert summary["people"] == 1 and summary["top1_mean"] == person["top1"]
    assert summary["unknown_false_accept"] == person["unknown_accepted"] / 3
    assert set(person["recall"]) == {"hello", "tea", "coffee", "-"}
    right = sum(person["recall"][g] * 5 for g in person["recall"])  # 5 clips of each
    assert right == pytest.approx(person["top1"] * 20)
    assert summary["tutorial_words"]["hello"]["people"] == 1
    assert summary["tutorial_words"]["thank-you"] == {"people": 0}
    with pytest.raises(ValueError, match="fold 4"):
        train(
            tiny_config(
                tiny_data, "nofold", "mobilenet1d",
                f'data.dataset="{tmp_path / "data" / "people"}"', "data.test_fold=4",
            ),
            progress=False,
        )  # fmt: skip


def test_the_choice_weighs_known_signs_and_refused_unknown_ones_alike() -> None:
    from training.selection import choose, selection_score

    def summary(top1: float, false_accept: float) -> dict[str, float]:
        return {"top1_mean": top1, "unknown_false_accept": false_accept}

    cv = {
        "kinds": {
            "teacher": {
                "rejection": summary(1.0, 0.0),
                "plain": summary(1.0, 0.0),
            },  # not a candidate
            "student": {"rejection": summary(0.80, 0.10), "plain": summary(0.90, 0.60)},
            "distilled": {"rejection": summary(0.85, 0.20), "plain": summary(0.95, 0.50)},
        }
    }
    assert selection_score(summary(0.8, 0.1)) == pytest.approx(0.85)
    assert choose(cv) == ("student", True)  # 0.85 beats 0.825, 0.65 and 0.725


def test_the_choice_compares_kinds_on_shared_folds_and_keeps_the_coffee_signers() -> None:
    from training.selection import ASL_COFFEE_FLOOR, choose

    def summary(top1: float, false_accept: float, coffee: float = 0.95) -> dict[str, Any]:
        return {"top1_mean": top1, "unknown_false_accept": false_accept,
                "top1_by_dataset": {"asl-coffee": coffee, "crowd": top1}}  # fmt: skip

    student = {"rejection": summary(0.80, 0.10), "plain": summary(0.90, 0.60)}
    distilled = {"rejection": summary(0.70, 0.10), "plain": summary(0.80, 0.60)}
    cv: dict[str, Any] = {"kinds": {"student": student, "distilled": distilled}}
    assert choose(cv) == ("student", True)
    # on the one fold both have, the distilled student is better: that comparison decides
    cv["shared"] = {"student": distilled, "distilled": student}
    assert choose(cv) == ("distilled", True)
    # rejection loses the asl-coffee signers: the plain model ships
    low = ASL_COFFEE_FLOOR - 0.1
    cv = {"kinds": {"student": {"rejection": summary(0.80, 0.10, low),
                                "plain": summary(0.90, 0.60)}}}  # fmt: skip
    assert choose(cv) == ("student", False)
    # nobody keeps them: the option that keeps them best, whatever its score
    cv["kinds"]["student"]["plain"] = summary(0.90, 0.60, low + 0.05)
    assert choose(cv) == ("student", False)
    cv["kinds"]["student"]["rejection"] = summary(0.80, 0.10, low + 0.06)
    assert choose(cv) == ("student", True)


def test_a_student_distilled_from_a_worse_teacher_does_not_ship() -> None:
    """The distilled student keeps the asl-coffee signers a little better and would ship, but
    its teacher is below the baseline student: distillation's premise fails, the student ships;
    with a better teacher the distilled student ships."""
    from training.selection import ASL_COFFEE_FLOOR, choose, distillation_premise

    low = ASL_COFFEE_FLOOR - 0.02

    def kind(top1: float, coffee: float = low) -> dict[str, Any]:
        one = {"top1_mean": top1, "unknown_false_accept": 0.7,
               "top1_by_dataset": {"asl-coffee": coffee}}  # fmt: skip
        return {"plain": one, "rejection": {**one, "top1_by_dataset": {"asl-coffee": 0.3}}}

    pooled = {"teacher": kind(0.05), "student": kind(0.72), "distilled": kind(0.69, low + 0.01)}
    assert not distillation_premise(pooled)
    assert choose({"kinds": pooled}) == ("student", False)
    pooled["teacher"] = kind(0.80)
    assert distillation_premise(pooled)
    assert choose({"kinds": pooled}) == ("distilled", False)
    assert distillation_premise({"student": kind(0.7), "distilled": kind(0.6)})  # no teacher


def test_random_sentences_drawn_by_gloss_reach_every_gloss(tiny_data: Path) -> None:
    from collections import Counter

    from training.data.sentences import SentenceData

    def drawn(how: str) -> list[tuple[str, ...]]:
        config = tiny_config(
            tiny_data, "draw", "mobilenet1d", "data.random_sentences=1.0",
            f'data.random_draw="{how}"', "data.train_sentences=300",
        )  # fmt: skip
        data = SentenceData(config.data, config.feature_spec)
        pool = data.pools["train"]
        grammar = data._sentences(pool, 300, np.random.default_rng(0))
        return data._randomised(grammar, pool, np.random.default_rng(1))

    by_gloss = drawn("gloss")
    assert all(s and all(a != b for a, b in itertools.pairwise(s)) for s in by_gloss)
    counts = Counter(g for s in by_gloss for g in s)
    assert set(counts) == {"hello", "tea", "coffee"} and min(counts.values()) > 100
    with pytest.raises(ValueError, match="random_draw"):
        drawn("person")


def test_crossval_trains_teacher_and_distilled_on_their_folds_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU budget: the baseline on folds 0-2, the teacher and the distilled student on fold
    0 only and for fewer epochs; the distilled run gets its fold's teacher and student, and
    kinds are compared on fold 0 (``shared``)."""
    from training import crossval

    trained: list[tuple[str, int, tuple[str, ...]]] = []
    epochs: dict[str, int] = {}

    def fake_train(config: Any, log: Any) -> Path:
        kind, fold = config.name.split("-fold")
        trained.append((kind, int(fold), tuple(config.distill.teachers)))
        epochs[config.name] = config.optim.epochs
        return tmp_path / config.name / "best.pt"

    def fake_evaluated(ckpt: Path, fold: int, *args: Any) -> dict[str, Any]:
        top1 = {"teacher": 0.3, "student": 0.5 + 0.1 * fold, "distilled": 0.6}[
            ckpt.parent.name.split("-fold")[0]
        ]
        person = {
            "signer": f"p{fold}", "dataset": "crowd", "fold": fold, "glosses": ["hello"],
            "clips": 10, "top1": top1, "sentences": 0, "wer": None, "unknown_clips": 0,
            "unknown_accepted": 0, "recall": {"hello": top1},
        }  # fmt: skip
        variant = {"people": [person], "confusions": {"hello": {"hello": 1}}}
        return {"fold": fold, "plain": variant, "rejection": variant}

    monkeypatch.setattr(crossval, "_train", fake_train)
    monkeypatch.setattr(crossval, "_evaluated", fake_evaluated)
    cv = crossval.cross_validate(
        tmp_path, tmp_path / "lm.arpa", 0.5, (0, 1, 2), overrides=["optim.epochs=40"],
        distill_folds=(0,), distill_overrides=["optim.epochs=20"],
    )  # fmt: skip
    assert [(k, f) for k, f, _ in trained] == [
        ("teacher", 0),
        ("student", 0),
        ("distilled", 0),
        ("student", 1),
        ("student", 2),
    ]
    assert trained[2][2] == (str(tmp_path / "teacher-fold0" / "best.pt"),)
    jobs = crossval.fold_jobs(tmp_path, tmp_path / "lm.arpa", 0.5, (0, 1), distill_folds=(0,))
    assert {j.key: j.after for j in jobs} == {
        "teacher-fold0": (), "student-fold0": (),
        "distilled-fold0": ("teacher-fold0", "student-fold0"), "student-fold1": (),
    }  # fmt: skip
    assert epochs == {"teacher-fold0": 20, "student-fold0": 40, "distilled-fold0": 20,
                      "student-fold1": 40, "student-fold2": 40}  # fmt: skip
    assert cv["kind_folds"] == {"teacher": [0], "student": [0, 1, 2], "distilled": [0]}
    assert cv["shared_folds"] == [0]
    assert cv["kinds"]["student"]["plain"]["top1_mean"] == pytest.approx(0.6)  # 0.5, 0.6, 0.7
    assert cv["shared"]["student"]["plain"]["top1_mean"] == pytest.approx(0.5)  # fold 0's
    assert (tmp_path / "crossval.json").exists()
