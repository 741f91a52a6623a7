"""Fit to me, measured: the k-shot curve on people the model never saw. Prints JSON.

    .venv/bin/python bench/calibration.py [--model ONNX (default: models/index.json's)]
        [--people N] [--quick] [--split tune|report|all] [--ks 1 3 5] [--epochs N]
        [--old-fraction F] [--lr LR] [--no-app-run]

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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.dataset import Dataset  # noqa: E402
from engine.model_index import default_model  # noqa: E402
from training.calibration import (  # noqa: E402
    DEFAULT_K,
    KS,
    OWN,
    HeldOutPerson,
    k_shot_curve,
    split_person,
)
from training.data.registry import DATA_DIR  # noqa: E402
from training.teach import CALIBRATION  # noqa: E402

QUICK_PEOPLE = 4


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
    ap.add_argument("--lr", type=float, default=None)
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
    if args.lr is not None:
        config = replace(config, lr=args.lr)
    curve = k_shot_curve(model, args.split, n, ks, config, log=sys.stderr)
    run = None
    if not args.no_app_run and (mine := [p for p in curve.people if p.dataset == OWN]):
        with tempfile.TemporaryDirectory() as tmp:
            run = app_run(model, Dataset(DATA_DIR / "people"), mine[0], Path(tmp))
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
        "summary": curve.summary,
        "app_run": run,
        "people": curve.rows,
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
