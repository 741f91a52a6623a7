"""The k-shot curve's core (bench/calibration.py) on the tiny data: it runs, takes stay apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from engine.dataset import Dataset
from training.calibration import HeldOutPerson, person_curve, split_person
from training.teach import CALIBRATION


def test_person_curve_on_a_tiny_person(tiny_data: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    ds = Dataset(tiny_data / "ds")
    people = [
        HeldOutPerson(s, "tiny", tuple(i for i in ds.infos if i.signer == s)) for s in ("s2", "s3")
    ]
    split = split_person(people[1], ks=(1, 2))
    assert len(split.takes[2]) == 2 * len(split.takes[1])
    taken = {i.index for i in split.takes[2]}
    assert not taken & {i.index for i in split.evaluated}  # takes are never evaluated
    config = replace(CALIBRATION, epochs=1, user_sentences=8, batch_size=8)
    row = person_curve(
        tiny_data / "runs" / "onnx" / "best.pt", ds, people[1], people[:1], tmp_path, None, 0.0,
        tiny_data / "tiny.grammar", config, ks=(1, 2),
    )  # fmt: skip
    assert 0.0 <= row["before"]["top1"] <= 1.0 and row["evaluated_clips"] == len(split.evaluated)
    for k in (1, 2):
        assert 0.0 <= row[f"k{k}"]["top1"] <= 1.0 and row[f"k{k}"]["fine_tune_s"] > 0
    assert set(row["others_after"]["top1"]) == {"s2"}
