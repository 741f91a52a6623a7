"""docs/RESULTS.md and the model card, rendered from the recipe's numbers (none typed in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.checkpoint import Checkpoint
from training.data.people import AMBIGUOUS
from training.evaluate import beam_wer, heldout_summary
from training.selection import ASL_COFFEE_FLOOR

__all__ = ["model_card", "results_markdown"]

ROLES = {
    "teacher-featurei3d": "teacher",
    "student-baseline": "baseline student",
    "student-distilled": "distilled student (FeatureI3D teacher)",
}
KIND_ROWS = {"teacher": "teacher-featurei3d", "student": "student-baseline",
             "distilled": "student-distilled"}  # fmt: skip
VARIANT = {True: "rejection", False: "plain"}
TAIL = 0.5  # people below this isolated top-1 are named as the tail


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def results_markdown(s: dict[str, Any]) -> str:
    """docs/RESULTS.md from the recipe's summary (``runs/recipe/results.json``)."""
    lines = [
        *_header(s), *_people_crossval(s), *_targets(s), *_tutorial_words(s), *_per_gloss(s),
        *_people_table(s), *_models_table(s),
        "",
        "CPU ms: ONNX Runtime, 1 thread, one 64-frame window (2 s at 30 fps), median of 200 runs "
        "on the machine that ran the recipe. INT8: onnxruntime dynamic quantisation.",
        "",
    ]  # fmt: skip
    if "sign_forms" in s:
        lines += _sign_forms(s["sign_forms"])
    if "boston" in s:
        lines += _boston(s["boston"])
    if "wlasl" in s:
        lines += _wlasl(s["wlasl"])
    if s.get("calibration"):
        lines += _calibration(s["calibration"], s["default_model"], s.get("recording_faults"))
    return "\n".join(lines)


def _points(x: float) -> str:
    return f"{100 * x:+.1f} points"


def _calibration(
    c: dict[str, Any], model: str, faults: dict[str, list[int]] | None = None
) -> list[str]:
    """Fit to me's k-shot curve (training/calibration.py, issue 20); the people of ``faults``
    (training/data/faults.py) marked."""
    from dataclasses import asdict

    from training.teach import CALIBRATION

    s, ks = c["summary"], c["ks"]
    # the settings the curve was made with (the recipe keeps them; else today's)
    t = c.get("settings", {}).get("teach") or asdict(CALIBRATION)
    lines = [
        "## Fit to me: the k-shot curve on people never seen",
        "",
        f"The shipped model ({model}) fitted to k takes a gloss of each of {s['people']} people "
        "it never saw (the report share of its held-out fold, training/calibration.py), as the "
        f"app's Model > Fit to me does ({t['epochs']} epochs, "
        f"{t['user_sentences']} sentences of the person's takes an epoch, "
        f"{t['old_fraction']:.0%} of each epoch the old training data, lr "
        f"{t['lr']:g}, every take trained on"
        "); then each person's other clips (never takes) decided as the app "
        "decides, and beam + LM WER on sentences of them. The same clips are evaluated for "
        "every k.",
        "",
        "| takes per gloss | isolated top-1 mean | worst person | WER beam + LM, mean "
        "| fine-tune s (mean, 2-core CPU) |",
        "|---|---|---|---|---|",
        f"| 0 (before) | {_pct(s['before']['top1_mean'])} | {_pct(s['before']['top1_worst'])} "
        f"| {_pct(s['before']['wer_mean'])} | – |",
    ]
    for k in ks:
        a = s[f"k{k}"]
        lines.append(
            f"| {k} | {_pct(a['top1_mean'])} | {_pct(a['top1_worst'])} | {_pct(a['wer_mean'])} "
            f"| {a['fine_tune_s_mean']:.0f} |"
        )
    lines.append("")
    if "others_top1_change" in s:
        o = s["others_top1_change"]
        k = next(r["others_after"]["k"] for r in c["people"] if "others_after" in r)
        lines += [
            "Nothing forgotten: each other person's top-1 with the model fitted to one person "
            f"(after {k} takes), against their own before: mean {_points(o['mean'])}, worst "
            f"{_points(o['worst'])} ({o['pairs']} pairs) (target: within 1 point).",
            "",
        ]
    if "k3" in s:
        lines += [
            f"Targets after 3 takes: mean {_pct(s['k3']['top1_mean'])} (target >= 98%), worst "
            f"person {_pct(s['k3']['top1_worst'])} (target >= 90%).",
            "",
        ]
    head = " | ".join(f"{k} take{'s' if k > 1 else ''}" for k in ks)
    lines += [
        f"| person | data | glosses | clips evaluated | before | {head} |",
        "|---|---|---|---|---|" + "---|" * len(ks),
    ]
    faulty = faults or {}
    for r in c["people"]:
        after = " | ".join(_pct(r[f"k{k}"]["top1"]) for k in ks)
        mark = " (recording fault)" if r["signer"] in faulty else ""
        lines.append(
            f"| {r['signer']}{mark} | {r['dataset']} | {', '.join(r['glosses'])} "
            f"| {r['evaluated_clips']} | {_pct(r['before']['top1'])} | {after} |"
        )
    return [*lines, ""]


def _shipped(s: dict[str, Any]) -> dict[str, Any]:
    """The cross-validation summary of the shipped kind and rejection setting."""
    kind, rejection = s["default_kind"], bool(s["default_model_rejection"])
    summary: dict[str, Any] = s["crossval"]["kinds"][kind][VARIANT[rejection]]
    return summary


def _more_epochs(p: dict[str, Any]) -> int:
    """The teacher's and the distilled student's epochs (the latter on top of the baseline's)."""
    return int(p.get("distill_epochs") or p["epochs"])


def _distill_epochs(p: dict[str, Any]) -> str:
    """The teacher's and the distilled student's epochs where the preset gives them fewer."""
    n = _more_epochs(p)
    return "" if n == p["epochs"] else f" (the teacher and the distilled student {n})"


def _header(s: dict[str, Any]) -> list[str]:
    p, cv, v = s["preset_settings"], s["crossval"], s["vocabulary"]
    crowd_words = [  # the crowd's a / i (letters or the pronoun) are not used
        g for g in v["glosses"] if v["crowd_groups"].get(g, 0) >= 8 and g not in AMBIGUOUS
    ]
    groups = ", ".join(f"{g} {v['crowd_groups'][g]}" for g in crowd_words)
    return [
        "# Results",
        "",
        "Generated by `signstream train recipe` (training/recipe.py); do not edit by hand.",
        f"Preset `{s['preset']}`: models at `{p['model_size']}` size, {p['epochs']} epochs max"
        f"{_distill_epochs(p)} (early stopping on dev WER), {p['train_sentences']} new "
        "synthesised sentences per "
        f"epoch; folds {', '.join(map(str, cv['folds']))} of 5{_kind_folds(cv)}; {_took(s)}, "
        "on this machine's CPU (no GPU was available to this run).",
        "",
        "Data (training/data/people.py): asl-coffee's three signers and the crowd's signer groups "
        "(`../shared/data/crowd`, one public repository per person, groups where one copied "
        "another), each person in one of five folds; a model trained with fold k held out never "
        f"saw fold k's people. Vocabulary: {len(v['glosses'])} glosses, asl-coffee's 15 and "
        "every crowd word at least 8 signer groups recorded "
        f"({groups} groups); "
        "the crowd's fingerspelled letters are not words of it (and its `a`/`i`, letters or the "
        "pronoun there, are not used).",
        "",
        "Per held-out person: isolated top-1 is each clip decided the way the app decides, one "
        "gloss of the whole vocabulary or nothing (a rest clip is right when it gives nothing); "
        "WER is beam search with the LM on 20 sentences synthesised from that person's own clips "
        "(grammar sentences they can sign, and random orders of their words); unknown signs are "
        "their clips of crowd signs below the threshold in the half no model trains on (the "
        "other half, by a hash of the gloss, is training distractors: "
        "training.data.people.unknown_half), of which any gloss given is a false accept: signs "
        "nobody in the training data made. 'rejection': with the model's rejection of unknown "
        "signs (engine/rejection.py).",
        "",
    ]


def _kind_folds(cv: dict[str, Any]) -> str:
    """Which kinds trained on fewer folds than the others (a CPU budget), said in the header."""
    few: dict[str, list[str]] = {}
    for k, f in cv.get("kind_folds", {}).items():
        if f and f != cv["folds"]:
            few.setdefault(", ".join(map(str, f)), []).append(KIND_ROWS[k])
    said = [f"{' and '.join(kinds)} on fold {folds} only" for folds, kinds in few.items()]
    return f" ({'; '.join(said)})" if said else ""


def _took(s: dict[str, Any]) -> str:
    """How long the recipe took, and its training runs (an interrupted recipe, or runs started
    beforehand, are resumed and reused: the run that writes this file may be short)."""
    took = f"this start of the recipe took {s['minutes']:.0f} minutes"
    if s.get("train_minutes") is not None:
        took += (
            f" and its cross-validation runs trained {s['train_minutes']:.0f} minutes in all "
            "(runs finished before a start are reused, not redone)"
        )
    workers = s.get("preset_settings", {}).get("workers", 1)
    if workers > 1:
        threads = s["preset_settings"]["threads"]
        took += f", {workers} at a time, {threads} CPU thread{'s' * (threads != 1)} each"
    return took


def _people_crossval(s: dict[str, Any]) -> list[str]:
    lines = [
        "## People never seen: cross-validation by person",
        "",
        "| model | folds | rejection | people | isolated top-1 mean | 10th percentile "
        "| worst person | asl-coffee signers | crowd | WER beam + LM, mean | known-sign recall "
        "| unknown-sign false accepts |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cv = s["crossval"]
    rows = [(k, cv.get("kind_folds", {}).get(k, cv["folds"]), v) for k, v in cv["kinds"].items()]
    shared = cv.get("shared_folds", cv["folds"])
    # a kind of every fold again on the folds all kinds share: the fair comparison
    rows += [(k, shared, v) for k, v in cv.get("shared", {}).items()
             if cv.get("kind_folds", {}).get(k, shared) != shared]  # fmt: skip
    for kind, folds, variants in rows:
        for name, c in variants.items():
            by = c["top1_by_dataset"]
            lines.append(
                f"| {KIND_ROWS[kind]} | {', '.join(map(str, folds))} "
                f"| {'yes' if name == 'rejection' else 'no'} | {c['people']} "
                f"| {_pct(c['top1_mean'])} | {_pct(c['top1_p10'])} "
                f"| {_pct(c['worst']['top1'])} ({c['worst']['signer']}) "
                f"| {_pct(by.get('asl-coffee'))} | {_pct(by.get('crowd'))} "
                f"| {_pct(c['wer_mean'])} | {_pct(c['known_recall'])} "
                f"| {_pct(c['unknown_false_accept'])} of {c['unknown_clips']} |"
            )
    return [*lines, ""]


def _gap(base: float, teacher: float, distilled: float, lower_is_better: bool = False) -> str:
    """Share of the baseline-teacher gap the distilled student recovers; a teacher no better
    than the baseline leaves no gap to recover, and the distilled student's change is said."""
    sign = -1.0 if lower_is_better else 1.0
    gap = sign * (teacher - base)
    if gap <= 1e-9:
        return (
            "the teacher is not better than the baseline, so there is no gap to recover "
            f"(distilled minus baseline: {_points(distilled - base)})"
        )
    return f"recovers {_pct(sign * (distilled - base) / gap)} of the baseline-teacher gap"


def _targets(s: dict[str, Any]) -> list[str]:
    c = _shipped(s)
    kinds = s["crossval"]["kinds"]
    hello, thanks = c["tutorial_words"]["hello"], c["tutorial_words"]["thank-you"]
    with_or_not = "with" if s["default_model_rejection"] else "without"
    lines = [
        "## Targets (people never seen)",
        "",
        f"Shipped: **{s['default_model']}**, {with_or_not} its rejection of unknown signs: of "
        "the students, the kind and setting with the best mean of isolated top-1 and of unknown "
        "signs refused (training.selection.selection_score), pooled over the folds they share, "
        f"among those that keep the asl-coffee signers at {_pct(ASL_COFFEE_FLOOR)} or above "
        "(the model it replaces); where none does, the one that keeps them best "
        "(training.selection.choose). A student distilled from a teacher no better than the "
        "baseline student on the same people is no candidate "
        "(training.selection.distillation_premise). Its fold-0 model is the one in `models/`.",
        "",
        f"- isolated top-1 mean {_pct(c['top1_mean'])} (target >= 95%), 10th-percentile person "
        f"{_pct(c['top1_p10'])} (target >= 85%);",
        f"- unknown-sign false accepts {_pct(c['unknown_false_accept'])} (target <= 5%) at "
        f"known-sign recall {_pct(c['known_recall'])} (target >= 90%);",
        f"- continuous WER with the LM, mean over people {_pct(c['wer_mean'])} (target <= 10%);",
        f"- HELLO: {_pct(hello.get('at_target'))} of {hello['people']} people at >= 90% "
        f"(per-person mean {_pct(hello.get('mean'))}); THANK-YOU: {_pct(thanks.get('at_target'))}"
        f" of {thanks['people']} (mean {_pct(thanks.get('mean'))}) (target: every person);",
        f"- the three asl-coffee signers: isolated top-1 mean "
        f"{_pct(c['top1_by_dataset'].get('asl-coffee'))} among {len(s['vocabulary']['glosses'])} "
        "glosses (before: 89.7% among 15).",
    ]
    shared = s["crossval"].get("shared") or kinds  # the folds every kind has
    if {"teacher", "student", "distilled"} <= set(shared):
        b, t, d = (shared[k]["plain"] for k in ("student", "teacher", "distilled"))
        folds = ", ".join(map(str, s["crossval"].get("shared_folds", s["crossval"]["folds"])))
        lines.append(
            f"- distillation, without rejection, on fold(s) {folds} ({b['people']} people): "
            f"isolated top-1 {_pct(d['top1_mean'])} vs "
            f"baseline {_pct(b['top1_mean'])} and teacher {_pct(t['top1_mean'])}: "
            f"{_gap(b['top1_mean'], t['top1_mean'], d['top1_mean'])}; WER "
            f"{_pct(d['wer_mean'])} vs {_pct(b['wer_mean'])} and {_pct(t['wer_mean'])}: "
            f"{_gap(b['wer_mean'], t['wer_mean'], d['wer_mean'], lower_is_better=True)}. The "
            "distilled student starts from the baseline's weights (distill.student_init) and "
            f"trains {_more_epochs(s['preset_settings'])} epochs more, so a gain over the "
            "baseline is not the teacher's alone; it ships only where the teacher is better "
            "than the baseline (training.selection.distillation_premise)."
        )
    return [*lines, ""]


def _tutorial_words(s: dict[str, Any]) -> list[str]:
    c = _shipped(s)
    lines = [
        "### The tutorial words, person by person (shipped model)",
        "",
        "| gloss | people | per-person recall mean | 10th percentile | worst | people >= 90% |",
        "|---|---|---|---|---|---|",
    ]
    for gloss, w in c["tutorial_words"].items():
        if w["people"]:
            lines.append(
                f"| {gloss} | {w['people']} | {_pct(w['mean'])} | {_pct(w['p10'])} "
                f"| {_pct(w['worst'])} | {_pct(w['at_target'])} |"
            )
    return [*lines, ""]


def _per_gloss(s: dict[str, Any]) -> list[str]:
    lines = [
        "### Per gloss (shipped model, all held-out people)",
        "",
        "`-` is rest: the right answer is nothing.",
        "",
        "| gloss | clips | recall | taken for (clips) |",
        "|---|---|---|---|",
    ]
    for gloss, g in _shipped(s)["per_gloss"].items():
        taken = ", ".join(f"{k} {n}" for k, n in g["taken_for"].items() if k != gloss)
        lines.append(f"| {gloss} | {g['clips']} | {_pct(g['recall'])} | {taken or '–'} |")
    return [*lines, ""]


def _people_table(s: dict[str, Any]) -> list[str]:
    kind, rejection = s["default_kind"], bool(s["default_model_rejection"])
    people = [p for f in s["crossval"]["per_fold"][kind] for p in f[VARIANT[rejection]]["people"]]
    people.sort(key=lambda p: (p["top1"], p["signer"]))
    tail = [p for p in people if p["top1"] < TAIL]
    lines = [
        "### Per person (shipped model), worst first",
        "",
        f"{len(tail)} of {len(people)} people are below {_pct(TAIL)} isolated top-1: "
        + (", ".join(f"{p['signer']} ({', '.join(p['glosses'])})" for p in tail) or "none")
        + ". Some recorders signed another sign language under English names, static hand "
        "shapes, or letters under a word's name; they are real users and are in every number."
        + _faults_said(s.get("recording_faults")),
        "",
        "| person | data | fold | glosses | clips | isolated top-1 | WER beam + LM | unknown "
        "signs given a gloss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in people:
        unknown = f"{p['unknown_accepted']} of {p['unknown_clips']}" if p["unknown_clips"] else "–"
        lines.append(
            f"| {p['signer']} | {p['dataset']} | {p['fold']} | {', '.join(p['glosses'])} "
            f"| {p['clips']} | {_pct(p['top1'])} | {_pct(p['wer'])} | {unknown} |"
        )
    return [*lines, ""]


def _faults_said(faults: dict[str, list[int]] | None) -> str:
    """The people whose clips of different glosses share a hand track (training/data/faults.py),
    said beside the per-person numbers they pull down."""
    if not faults:
        return ""
    who = ", ".join(f"{p} ({n} of {total} clips)" for p, (n, total) in sorted(faults.items()))
    return (
        f" Recording faults: {who} hold a hand track that one of their clips of another gloss "
        "holds too, byte for byte (a capture loop that saved a stale hand); nothing in the "
        "landmarks tells those clips apart, for any model or Fit to me "
        "(training/data/faults.py)."
    )


def _models_table(s: dict[str, Any]) -> list[str]:
    rows = s["rows"]
    any_eval = next(iter(rows.values()))["eval"]
    lines = [
        "## Fold 0's models",
        "",
        f"Held out: fold 0's {len(any_eval['signers'])} people. "
        f"{any_eval['sentences']} continuous sentences synthesised from their clips (one person "
        f"per sentence) and their {any_eval['isolated_samples']} isolated clips (rest included). "
        "WER = (substitutions + deletions + insertions) / reference glosses; without rejection, "
        "and with it.",
        "",
        "| model | role | parameters | ONNX FP32 / INT8 | CPU ms per window (FP32 / INT8) "
        "| isolated top-1 | WER greedy | WER beam + LM (alpha) | same, with rejection "
        "| WER beam + LM, INT8 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        e, q = r["eval"], r["eval_int8"]
        p = _plain(e)
        lines.append(
            f"| {name} ({r['family']}) | {ROLES.get(name, '')} | {r['parameters']:,} "
            f"| {r['onnx_mb']:.2f} / {r['int8_mb']:.2f} MB | {r['cpu_ms']:.2f} / "
            f"{r['cpu_ms_int8']:.2f} | {_pct(p['isolated'])} | {_pct(p['greedy'])} "
            f"| {_pct(p['beam'])} ({p['alpha']}) | {_pct(e['best_beam_wer'])} "
            f"| {_pct(_plain(q)['beam'])} |"
        )
    peer = s["peer"]
    lines.append(
        f"| tutorial LSTM 64-128-64 (peer, asl-coffee's dmohazab held out) | clip classifier, "
        f"raw coordinates | {peer['parameters']:,} | {peer['onnx_mb']:.2f} MB "
        f"| {peer['cpu_ms']:.2f} (30-frame clip) | {_pct(peer['isolated'])} | – | – | – | – |"
    )
    return lines


def _plain(e: dict[str, Any]) -> dict[str, Any]:
    """An evaluation as it would be without the model's rejection of unknown signs."""
    wer, alpha = beam_wer(e, rejection=False)
    return {
        "greedy": (e.get("greedy_no_rejection") or e["greedy"])["wer"],
        "beam": wer,
        "alpha": alpha,
        "isolated": e.get("isolated_accuracy_no_rejection") or e.get("isolated_accuracy"),
    }


def _sign_forms(forms: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = [
        "### Is it the same sign? (training.generalise.sign_form)",
        "",
        "Read from the landmarks of each cross-dataset sign's clips and of the asl-coffee "
        "signers' clips of it: clips with no hand in any frame, the share of frames with both "
        "hands, and the highest wrist above the shoulders (shoulder widths, median over clips). "
        "A sign made with another form (another hand shape or place, two hands for one) is a "
        "different sign to a model that learned asl-coffee's.",
        "",
        "| gloss | clips of | clips | no hand seen | both hands (frames) | highest wrist |",
        "|---|---|---|---|---|---|",
    ]
    for gloss, by_source in forms.items():
        for source, f in by_source.items():
            lines.append(
                f"| {gloss} | {source} | {f['clips']} | {f['no_hand']} | "
                f"{_pct(f['both_hands'])} | {f['wrist_height']:.2f} |"
            )
    return [*lines, ""]


def _boston(b: dict[str, Any]) -> list[str]:
    g, lm, d = b["greedy"]["test"], b["beam_lm"], b["data"]
    return [
        "## Real continuous ASL: RWTH-BOSTON-104",
        "",
        f"training/benchmarks/boston.py: {b['model']['family']} "
        f"({b['model']['parameters']:,} parameters) on "
        f"the hand/nose tracks (feature spec `inputs=tracks`), CTC on the {d['train_sentences']} "
        f"training sentences of the database's own split ({d['dev_sentences']} more for choosing "
        f"the epoch and the LM weights), LM from the training sentences only. Test: "
        f"{d['test_sentences']} real sentences of {len(d['signers'])} signers, "
        f"{d['test_glosses']} glosses ({d['test_oov_glosses']} not in the training vocabulary).",
        "",
        "| decoding | test WER | sub | del | ins |",
        "|---|---|---|---|---|",
        f"| greedy | {_pct(g['wer'])} | {g['substitutions']} | {g['deletions']} "
        f"| {g['insertions']} |",
        f"| beam + LM (alpha {lm['alpha']}, beta {lm['beta']}) | {_pct(lm['test']['wer'])} "
        f"| {lm['test']['substitutions']} | {lm['test']['deletions']} "
        f"| {lm['test']['insertions']} |",
        "",
        f"Training took {b['train_seconds'] / 60:.0f} minutes on one CPU thread. The model "
        "overfits the 145 sentences (hypotheses collapse to frequent ones); published systems "
        "with richer features reach ~20-40%.",
        "",
    ]


def _wlasl(w: dict[str, Any]) -> list[str]:
    return [
        "## WLASL-50 real clips",
        "",
        f"training/benchmarks/wlasl.py: {w['glosses']}-way isolated classifier on the "
        f"{w['real_clips']} real "
        f"multi-signer clips, {len(w['folds'])}-fold stratified cross-validation (every real clip "
        "tested once; none of the uploader's augmentations in training). "
        f"Top-1 **{_pct(w['top1'])}**, top-5 {_pct(w['top5'])} over {w['test_clips']} clips; "
        f"training took {w['train_seconds'] / 60:.0f} minutes on one CPU thread.",
        "",
    ]


def model_card(s: dict[str, Any], ck: Checkpoint) -> str:
    name = s["default_model"]
    rejection = bool(s.get("default_model_rejection", True))
    distractors = [Path(d).name for d in ck.config.data.distractors]
    crowd_half = (
        "; the crowd's are half of its signs below the vocabulary threshold, and false accepts "
        "are counted on the other half"
        if "crowd-distract" in distractors
        else ""
    )
    r = s["rows"][name]
    h = heldout_summary(r["eval"], rejection)
    c = _shipped(s)
    return "\n".join(
        [
            "# people-student",
            "",
            f"The default model of SignStream: {ROLES.get(name, name)}, family `{r['family']}`, "
            f"{r['parameters']:,} parameters, {s.get('shipped_onnx_mb', r['onnx_mb']):.2f} MB, "
            f"{r['cpu_ms']:.2f} ms per "
            "64-frame window on one CPU core.",
            "",
            f"- Vocabulary ({len(ck.vocab)} glosses): {', '.join(ck.vocab.glosses)}. Rest (not "
            "signing) is the CTC blank. asl-coffee's 15 words and every word of the crowd that "
            "at least 8 signer groups recorded; fingerspelled letters are not in it (the "
            "crowd's `a` and `i` are letters or the pronoun and are not used; asl-coffee's are "
            "words).",
            "- Data: asl-coffee's three signers and the crowd's "
            "signer groups (MediaPipe Holistic landmarks of public tutorial recordings), all but "
            "fold 0's people; continuous sentences synthesised from the grammar "
            f"`{ck.config.data.grammar}` and random orders of one person's words.",
            f"- People never seen ({c['people']}, cross-validation by person over folds "
            f"{', '.join(map(str, s['crossval']['folds']))}): isolated top-1 mean "
            f"{_pct(c['top1_mean'])}, 10th-percentile person {_pct(c['top1_p10'])}; continuous "
            f"WER with the LM {_pct(c['wer_mean'])} (mean over people); unknown signs given a "
            f"gloss {_pct(c['unknown_false_accept'])}. Fold 0's held-out sentences: WER "
            f"{_pct(h['wer_greedy'])} greedy, {_pct(h['wer_beam_lm'])} with the LM "
            f"`people-student.arpa` (alpha {h['lm_alpha']}).",
            (
                "- Which hand signs: made canonical (left-handed signers and mirrored webcams "
                "look like right-handed ones; the live engine keeps a running decision)."
                if ck.config.feature_spec.canonical_hand
                else "- Which hand signs: as recorded."
            ),
            f"- Unknown signs: {'rejected' if rejection else 'not rejected'} by distance to the "
            "known signs (engine/rejection.py); "
            + (
                "a gloss far from every sign seen in training is dropped."
                if rejection
                else "training attaches signs it must not know to sentences, labelled rest "
                f"({', '.join(f'`{d}`' for d in distractors) or 'none'}{crowd_half})."
            ),
            "- Sign previews (`people-student.previews.npz`, Help > Vocabulary and the "
            "recording dialogs): per gloss, a clip of each of two or three people of the people "
            "dataset (`signstream train previews`); landmarks only (upper-body pose and hands, "
            "x, y), no video; the signers are anonymised and their names are not stored.",
            "- Limits: tutorial recordings are 1-2 s clips of one word; long natural signing, "
            "other sign languages and signs made in forms nobody in the data used are harder "
            "(see docs/RESULTS.md, per person and per gloss).",
            "",
        ]
    )
