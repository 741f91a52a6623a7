"""Which model ships: the selection metric of the recipe, one number of how a model does on
people it never saw (:func:`selection_score`, higher is better), and the choice it makes."""

from __future__ import annotations

from typing import Any

__all__ = ["CANDIDATES", "choose", "selection_score"]

CANDIDATES = ("student", "distilled")  # the kinds that may ship: small and fast


def selection_score(summary: dict[str, Any]) -> float:
    """The mean of isolated top-1 (a decision among all glosses or nothing, mean over the
    people never seen) and of the unknown signs refused (1 - false accepts): a model that
    answers every unknown sign loses to one slightly worse on known ones.

    ``summary``: :func:`training.heldout_people.summarise_people`'s result.
    """
    refused = 1.0 - (summary["unknown_false_accept"] or 0.0)
    return float((summary["top1_mean"] + refused) / 2)


def choose(crossval: dict[str, Any]) -> tuple[str, bool]:
    """The kind of student (:data:`CANDIDATES`) and the rejection setting (True: with the
    model's rejection of unknown signs) with the best :func:`selection_score` over the
    cross-validation's held-out people (:func:`training.crossval.cross_validate`'s result)."""
    options = [(k, r) for k in CANDIDATES if k in crossval["kinds"] for r in (True, False)]
    if not options:
        raise ValueError(f"no candidate among {sorted(crossval['kinds'])}")
    return max(
        options,
        key=lambda o: selection_score(crossval["kinds"][o[0]]["rejection" if o[1] else "plain"]),
    )
