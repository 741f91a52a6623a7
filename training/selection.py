"""Which model ships: the selection metric of the recipe, one number of how a model does on
people it never saw (:func:`selection_score`, higher is better), and the choice it makes."""

from __future__ import annotations

from typing import Any

__all__ = ["ASL_COFFEE_FLOOR", "CANDIDATES", "choose", "distillation_premise", "selection_score"]

CANDIDATES = ("student", "distilled")  # the kinds that may ship: small and fast
# the asl-coffee signers' isolated top-1 mean (leave-one-signer-out) of the model the people
# model replaces (docs/RESULTS.md of 2026-11): issue 19 keeps them at least there
ASL_COFFEE_FLOOR = 0.897


def selection_score(summary: dict[str, Any]) -> float:
    """The mean of isolated top-1 (a decision among all glosses or nothing, mean over the
    people never seen) and of the unknown signs refused (1 - false accepts): a model that
    answers every unknown sign loses to one slightly worse on known ones.

    ``summary``: :func:`training.heldout_people.summarise_people`'s result.
    """
    refused = 1.0 - (summary["unknown_false_accept"] or 0.0)
    return float((summary["top1_mean"] + refused) / 2)


def distillation_premise(pooled: dict[str, Any]) -> bool:
    """Whether the teacher decides the people never seen better than the baseline student
    (isolated top-1 mean, without rejection; ``pooled``: kind -> variant -> summary, over the
    same folds). Distillation's premise is a better teacher: from a worse one the student
    learns the teacher's errors (the FeatureI3D teacher of the CPU recipe: 4.6% against the
    student's 67-72% on fold 0's people, and the student distilled from it lost 3 points of
    top-1 and 8 of WER, docs/RESULTS.md of 2026-12-07). True where there is no teacher or
    student to compare."""
    if "teacher" not in pooled or "student" not in pooled:
        return True
    teacher, student = pooled["teacher"]["plain"], pooled["student"]["plain"]
    return bool(teacher["top1_mean"] > student["top1_mean"])


def choose(crossval: dict[str, Any]) -> tuple[str, bool]:
    """The kind of student (:data:`CANDIDATES`) and the rejection setting (True: with the
    model's rejection of unknown signs) with the best :func:`selection_score` over the
    cross-validation's held-out people (:func:`training.crossval.cross_validate`'s result),
    compared on the folds every kind has (``shared``) where they differ. Only options that
    keep the asl-coffee signers of those folds at :data:`ASL_COFFEE_FLOOR` or above compete
    (the default model must not get worse for the signers it served before); where none
    does, the one that keeps them best ships. A distilled student is no candidate where its
    teacher is no better than the baseline student (:func:`distillation_premise`)."""
    pooled = crossval.get("shared") or crossval["kinds"]
    kinds = [k for k in CANDIDATES if k in pooled]
    if "distilled" in kinds and not distillation_premise(pooled):
        kinds.remove("distilled")
    options = [(k, r) for k in kinds for r in (True, False)]
    if not options:
        raise ValueError(f"no candidate among {sorted(crossval['kinds'])}")

    def summary(option: tuple[str, bool]) -> dict[str, Any]:
        return pooled[option[0]]["rejection" if option[1] else "plain"]  # type: ignore[no-any-return]

    def coffee(option: tuple[str, bool]) -> float:
        by = summary(option).get("top1_by_dataset", {})
        return float(by.get("asl-coffee", ASL_COFFEE_FLOOR))  # folds without them: no guard

    kept = [o for o in options if coffee(o) >= ASL_COFFEE_FLOOR]
    if not kept:  # none keeps them: the one that loses them least
        return max(options, key=coffee)
    return max(kept, key=lambda o: selection_score(summary(o)))
