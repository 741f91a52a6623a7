"""The recipe's caches: a cached evaluation is reused only for the very model file it was made
from (a retrained or swapped checkpoint under the same row name is evaluated again)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import training.evaluate
from training import recipe


class _Report:
    def __init__(self, model: Path) -> None:
        self.model = model

    def to_dict(self) -> dict[str, Any]:
        return {"model": str(self.model), "greedy_no_rejection": {"wer": 0.1}}


def test_a_cached_evaluation_is_of_the_same_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def fake_evaluate(model: Path, lm: Path, **kwargs: Any) -> _Report:
        calls.append(model)
        return _Report(model)

    monkeypatch.setattr(training.evaluate, "evaluate", fake_evaluate)
    model, out, lm = tmp_path / "row.pt", tmp_path / "eval" / "row.json", tmp_path / "lm.arpa"
    model.write_bytes(b"weights of the first run")
    first = recipe._evaluate(model, lm, out)
    assert first[recipe.SOURCE_KEY] == recipe.fingerprint(model)
    assert json.loads(out.read_text()) == first
    assert recipe._evaluate(model, lm, out) == first and len(calls) == 1  # reused
    model.write_bytes(b"weights of a retrained run")  # same row name, another model
    assert recipe._evaluate(model, lm, out)[recipe.SOURCE_KEY] == recipe.fingerprint(model)
    assert len(calls) == 2
    # a cache without a fingerprint (older recipes) is not trusted
    out.write_text(json.dumps({"greedy_no_rejection": {}}))
    recipe._evaluate(model, lm, out)
    assert len(calls) == 3


def test_the_k_shot_curve_is_redone_for_another_model_or_other_settings(
    tiny_data: Path, tiny_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyed by the shipped checkpoint's weights (the same model written again by the next
    recipe run, other bytes, is reused) and the settings."""
    from dataclasses import replace

    import training.calibration
    from training.checkpoint import load_checkpoint, save_checkpoint

    calls: list[tuple[Path, int]] = []

    def fake_curve(model: Path, split: str, n: int, ks: Any) -> training.calibration.Curve:
        calls.append((model, n))
        return training.calibration.Curve((), (), {"people": n})

    monkeypatch.setattr(training.calibration, "k_shot_curve", fake_curve)
    model = tmp_path / "people-student.onnx"
    ck = load_checkpoint(tiny_data / "runs" / "onnx" / "best.pt")
    save_checkpoint(model.with_suffix(".pt"), ck)
    preset = recipe.RECIPE_PRESETS["smoke"]
    first = recipe._calibration(model, preset, tmp_path)
    save_checkpoint(model.with_suffix(".pt"), ck)  # shipped again: the same weights
    assert recipe._calibration(model, preset, tmp_path) == first and len(calls) == 1  # reused
    recipe._calibration(model, replace(preset, calibration_people=2), tmp_path)
    assert calls[-1] == (model, 2)  # other settings: a new curve
    name = next(iter(ck.state))
    retrained = {**ck.state, name: ck.state[name] + 1.0}
    save_checkpoint(model.with_suffix(".pt"), replace(ck, state=retrained))
    recipe._calibration(model, replace(preset, calibration_people=2), tmp_path)
    assert len(calls) == 3
