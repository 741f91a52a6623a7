"""Fit to me, measured: the k-shot curve on people the model never saw. Prints JSON.

    .venv/bin/python bench/calibration.py [--model ONNX (default: models/index.json's)]
        [--people N] [--quick] [--split tune|report|all] [--ks 1 3 5] [--epochs N]
        [--old-fraction F] [--no-app-run]

People: the people dataset's (``data/people``) that the model did not train on, in a fixed
hashed order (:func:`training.calibration.heldout_people`); ``--split tune`` takes every other
one of them (choose settings there), ``--split report`` the others and the model's own held-out
signer (report there). For each person (:func:`training.calibration.person_curve`): isolated
top-1 and beam + LM WER on their remaining clips before and after k takes a gloss, the
fine-tune's seconds, and every other chosen person's top-1 with the model fitted to this one
(nothing forgotten). The "app run" times the whole ``signstream train teach --calibrate`` the
app starts (process start, data, training, ONNX export) on the default vocabulary with 3 takes
a gloss of the model's held-out signer: the calibration wall time, recording excluded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.dataset import Dataset  # noqa: E402
from engine.model import read_model_info  # noqa: E402
from engine.model_index import default_model, lm_beside  # noqa: E402
from training.calibration import (  # noqa: E402
    DEFAULT_K,
    KS,
    HeldOutPerson,
    heldout_people,
    person_curve,
    split_person,
)
from training.checkpoint import load_checkpoint  # noqa: E402
from training.data.registry import DATA_DIR  # noqa: E402
from training.teach import CALIBRATION  # noqa: E402

QUICK_PEOPLE = 4


def choose_people(people: list[HeldOutPerson], split: str, own: str, n: int) -> list[HeldOutPerson]:
    """``split``'s share of ``people`` (the model's own held-out signer ``own`` is always a
    report person, first), at most ``n``."""
    mine = [p for p in people if p.dataset == own]
    crowd = [p for p in people if p.dataset != own]
    chosen = {
        "tune": crowd[0::2],
        "report": mine + crowd[1::2],
        "all": mine + crowd,
    }[split]
    return chosen[:n]


def summarise(rows: list[dict[str, Any]], ks: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"people": len(rows)}
    before = np.array([r["before"]["top1"] for r in rows])
    out["before"] = {"top1_mean": float(before.mean()), "top1_worst": float(before.min())}
    for k in ks:
        after = np.array([r[f"k{k}"]["top1"] for r in rows])
        wers = [r[f"k{k}"]["wer"] for r in rows if r[f"k{k}"]["wer"] is not None]
        out[f"k{k}"] = {
            "top1_mean": float(after.mean()),
            "top1_worst": float(after.min()),
            "top1_gain_mean": float((after - before).mean()),
            "wer_mean": float(np.mean(wers)) if wers else None,
            "fine_tune_s_mean": float(np.mean([r[f"k{k}"]["fine_tune_s"] for r in rows])),
        }
    wers_before = [r["before"]["wer"] for r in rows if r["before"]["wer"] is not None]
    out["before"]["wer_mean"] = float(np.mean(wers_before)) if wers_before else None
    own = {r["signer"]: r["before"]["top1"] for r in rows}
    deltas = [
        after - own[signer]
        for r in rows
        if "others_after" in r
        for signer, after in r["others_after"]["top1"].items()
    ]
    if deltas:
        out["others_top1_change"] = {
            "mean": float(np.mean(deltas)),
            "worst": float(np.min(deltas)),
            "pairs": len(deltas),
        }
    return out


def app_run(model: Path, dataset: Dataset, person: HeldOutPerson, work: Path) -> dict[str, Any]:
    """Wall time of the app's fine-tune process on ``person``'s DEFAULT_K takes a gloss."""
    takes = split_person(person).takes[DEFAULT_K]
    recordings = Dataset.create(work / "app-takes", "calibration takes")
    recordings.append([replace(dataset[i.index], signer="user:me") for i in takes])
    out = work / "app" / "fitted.onnx"
    cmd = [sys.executable, "-m", "signstream.cli", "train", "teach", "--calibrate",
           "--recordings", str(work / "app-takes"), "--init", str(model.with_suffix(".pt")),
           "--out", str(out)]  # fmt: skip
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    return {
        "signer": person.signer,
        "glosses": len({i.gloss for i in takes}),
        "takes": len(takes),
        "wall_s": round(seconds, 1),
        "ok": done.returncode == 0 and out.is_file(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--people", type=int, default=1000, help="at most this many people")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_PEOPLE} people, k = 1 and 3")
    ap.add_argument("--split", choices=["tune", "report", "all"], default="report")
    ap.add_argument("--ks", type=int, nargs="+", default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--old-fraction", type=float, default=None)
    ap.add_argument("--no-app-run", action="store_true")
    args = ap.parse_args()
    model = args.model or default_model()
    ks = args.ks or ([1, DEFAULT_K] if args.quick else list(KS))
    n = min(args.people, QUICK_PEOPLE) if args.quick else args.people
    config = CALIBRATION
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    if args.old_fraction is not None:
        config = replace(config, old_fraction=args.old_fraction)
    ck = load_checkpoint(model.with_suffix(".pt"))
    # the model's own held-out signers: asl-coffee's (a people model's, or an asl-coffee one's)
    own = "asl-coffee"
    dataset = Dataset(DATA_DIR / "people")
    people = choose_people(heldout_people(dataset, ck, ks=KS), args.split, own, n)
    info = read_model_info(model)
    alpha = float(info.heldout.get("lm_alpha", 1.0))
    lm = lm_beside(model)
    grammar = REPO / ck.config.data.grammar
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for person in people:
            others = [p for p in people if p is not person]
            rows.append(
                person_curve(
                    model, dataset, person, others, Path(tmp), lm, alpha, grammar, config, ks
                )
            )
            print(person.signer, json.dumps(rows[-1]), file=sys.stderr, flush=True)
        mine = [p for p in people if p.dataset == own]
        run = None if args.no_app_run or not mine else app_run(model, dataset, mine[0], Path(tmp))
    result = {
        "model": model.name,
        "split": args.split,
        "config": {
            "epochs": config.epochs,
            "old_fraction": config.old_fraction,
            "lr": config.lr,
            "threads": config.threads,
        },
        "ks": ks,
        "summary": summarise(rows, ks),
        "app_run": run,
        "people": rows,
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
