"""Which model ships: the selection metric of the recipe, one number of how a model does on
people, cameras and signs it never saw (:func:`generalisation_error`, lower is better)."""

from __future__ import annotations

from typing import Any

from training.evaluate import beam_wer

__all__ = ["generalisation_error", "pooled_unknown_and_missed"]


def pooled_unknown_and_missed(
    checks: dict[str, Any], rejection: bool = True
) -> tuple[float, float]:
    """Over all clips of a :class:`GeneraliseReport` dict: the share of unknown-sign clips that
    give a gloss and the share of cross-dataset clips not recognised, with the model's
    rejection of unknown signs or without it."""

    def pooled(sets: dict[str, dict[str, float]], key: str) -> float:
        n = sum(v["clips"] for v in sets.values())
        return sum(v[key] * v["clips"] for v in sets.values()) / max(1, n)

    suffix = "" if rejection else "_no_rejection"
    oov = pooled(checks["oov"], "false_accept" + suffix)
    return oov, 1.0 - pooled(checks["cross_dataset"], "accuracy" + suffix)


def generalisation_error(
    heldout_eval: dict[str, Any],
    mirrored_eval: dict[str, Any],
    checks: dict[str, Any],
    rejection: bool = True,
) -> float:
    """How a model does on people, cameras and signs it never saw, one number (lower is
    better): the mean of its held-out signer's beam + LM WER, the same on the mirrored
    sentences (a mirrored webcam, a left-handed signer) at the same LM weight, its false
    accepts on every unknown-sign clip and its misses on the cross-dataset clips; all with
    its rejection of unknown signs (as the engine applies it) or all without.

    ``heldout_eval``, ``mirrored_eval``: :func:`training.evaluate.evaluate` outputs (plain and
    under the ``mirrored`` condition, the latter at least at the former's best alphas);
    ``checks``: the :class:`GeneraliseReport` dict. The four are rates of equal standing: a
    model that is best on the held-out asl-coffee signer but answers every unknown sign, or
    fails a mirrored camera, loses to one that is slightly worse there.
    """
    wer, alpha = beam_wer(heldout_eval, rejection)
    mirrored = mirrored_eval["beam"] if rejection else mirrored_eval.get("beam_no_rejection")
    wer_mirrored = float((mirrored or mirrored_eval["beam"])[str(alpha)]["wer"])
    oov, missed = pooled_unknown_and_missed(checks, rejection)
    return (wer + wer_mirrored + oov + missed) / 4
