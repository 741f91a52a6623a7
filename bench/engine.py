"""Engine speed: the model alone, the decoder per hop, and the whole pipeline. Prints JSON.

    .venv/bin/python bench/engine.py [--model ONNX (default: models/index.json's)] [--lm ...]
        [--replay DATASET] [--video FILE] [--seconds 20]

* model: ONNX Runtime on the CPU (1 and 2 threads), FP32 and the INT8 copy beside it when
  present, ms per window (median of 200);
* decoder: ms per hop decoding a growing open segment (as the streaming decoder does), for
  beam widths 1/10/25/50 with the LM and greedy, on the model's real posteriors of a replay;
* pipeline: a landmark replay and a real video through the whole engine, in real time: ms per
  stage, processed fps, dropped frames, and how long after a sign's end its gloss is committed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.dataset import Dataset  # noqa: E402
from engine.decoder import DecoderConfig, GlossDecoder  # noqa: E402
from engine.events import GlossEvent, StatsEvent  # noqa: E402
from engine.features import compute_features  # noqa: E402
from engine.model import OnnxModel  # noqa: E402
from engine.model_index import default_model, lm_beside  # noqa: E402
from engine.pipeline import Pipeline, PipelineConfig  # noqa: E402
from engine.sources import SourceConfig, replay_sequences  # noqa: E402


def model_speed(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in (path, path.with_suffix(".int8.onnx")):
        if not variant.exists():
            continue
        for threads in (1, 2):
            m = OnnxModel(variant, device="cpu", threads=threads)
            shape = (m.info.window, m.info.feature_spec.dim)
            x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
            for _ in range(20):
                m(x)
            times = []
            for _ in range(200):
                t0 = time.perf_counter()
                m(x)
                times.append(1000 * (time.perf_counter() - t0))
            out[f"{variant.name} threads={threads}"] = round(float(np.median(times)), 3)
    return out


def decoder_speed(model: OnnxModel, lm: str | None, seqs: list[Any]) -> dict[str, Any]:
    """ms per hop: every hop decodes the open segment so far (up to 4 s), as in streaming."""
    info = model.info
    posts = [model(compute_features(s, info.feature_spec).values) for s in seqs]
    out: dict[str, Any] = {}
    configs: list[tuple[str, str | None, DecoderConfig]] = [
        ("greedy", None, DecoderConfig(method="greedy"))
    ]
    if lm:
        configs += [
            (f"beam{w}+lm", lm, DecoderConfig(method="beam", beam_width=w)) for w in (1, 10, 25, 50)
        ]
    for name, lm_path, cfg in configs:
        decoder = GlossDecoder(info.vocabulary, lm_path, cfg)
        times = []
        for lp in posts:
            for end in range(info.hop, min(len(lp), int(4 * info.fps)) + 1, info.hop):
                t0 = time.perf_counter()
                decoder.decode(lp[:end])
                times.append(1000 * (time.perf_counter() - t0))
        out[name] = {"median_ms": round(float(np.median(times)), 2),
                     "p95_ms": round(float(np.percentile(times, 95)), 2)}  # fmt: skip
        decoder.close()
    return out


def pipeline_run(config: PipelineConfig, source: Any, seconds: float) -> dict[str, Any]:
    events: list[Any] = []
    arrivals: list[tuple[float, Any]] = []
    t_start = time.monotonic()

    def on_event(e: Any) -> None:
        if isinstance(e, GlossEvent | StatsEvent):
            arrivals.append((time.monotonic() - t_start, e))

    p = Pipeline(config, on_event)
    p.start(source, SourceConfig(realtime=True))
    p.wait(seconds)
    p.close()
    stats = [e for _, e in arrivals if isinstance(e, StatsEvent)]
    commits = [
        (t, e) for t, e in arrivals if isinstance(e, GlossEvent) and e.is_commit and e.glosses
    ]
    # a commit reaches the user this long after the end of its last gloss (stream clock ~ wall)
    delays = [t - e.end for t, e in commits]
    stage = {k: round(float(np.mean([s.stage_ms.get(k, 0) for s in stats])), 2)
             for k in ("landmarks", "features", "model", "decoder")} if stats else {}  # fmt: skip
    events.extend(arrivals)
    return {
        "processed_fps": round(float(np.mean([s.processed_fps for s in stats])), 1) if stats else 0,
        "input_fps": round(float(np.mean([s.input_fps for s in stats])), 1) if stats else 0,
        "dropped_frames": stats[-1].dropped_frames if stats else 0,
        "stage_ms": stage,
        "provider": p.provider,
        "commits": len(commits),
        "commit_delay_after_sign_end_s": {
            "median": round(float(np.median(delays)), 3) if delays else None,
            "max": round(float(np.max(delays)), 3) if delays else None,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model())
    ap.add_argument("--lm", default=None, help="default: the model's .arpa")
    ap.add_argument("--replay", type=Path, default=None, help="dataset of sentences to replay")
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    beside = lm_beside(args.model)
    lm = args.lm or (str(beside) if beside is not None else None)
    result: dict[str, Any] = {"model": str(args.model), "cpu_count": os.cpu_count()}
    result["model_ms_per_window"] = model_speed(args.model)
    if args.replay is not None:
        ds = Dataset(args.replay)
        seqs = [ds[i] for i in range(min(len(ds), 20))]
        result["decoder_ms_per_hop"] = decoder_speed(OnnxModel(args.model), lm, seqs)
        config = PipelineConfig(model=str(args.model), lm=lm, frame_events=False)
        result["pipeline_replay"] = pipeline_run(config, replay_sequences(seqs), args.seconds)
    if args.video is not None:
        config = PipelineConfig(model=str(args.model), lm=lm, frame_events=False)
        result["pipeline_video"] = pipeline_run(config, str(args.video), args.seconds)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
