"""Benchmark landmark extraction on the real videos of the shared data; prints JSON.

Per file: frames, fps, size, the fraction of frames with pose / left hand / right hand / face,
and milliseconds per frame of the extractor alone (mean, p50, p95; decoding not counted).

    python bench/extract_landmarks.py [--with-face] [--max-frames N] [FILE ...]

Videos: ``$SIGNSTREAM_DATA/videos`` (default ``../shared/data/videos`` beside the repo).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere, without installing
    sys.path.insert(0, str(REPO))

from engine.data_root import data_root  # noqa: E402
from engine.extractor import ExtractorConfig, HolisticExtractor  # noqa: E402
from engine.landmarks import GROUPS  # noqa: E402
from engine.video import VideoReader  # noqa: E402
from training.importers.videos import VIDEO_SUFFIXES  # noqa: E402

__all__ = ["bench_file", "main"]


def bench_file(path: Path, config: ExtractorConfig, max_frames: int | None) -> dict[str, Any]:
    """Extract one video, timing each ``process`` call."""
    times: list[float] = []
    present: list[npt.NDArray[np.bool_]] = []
    with HolisticExtractor(config) as extractor, VideoReader(path) as reader:
        for frame, t in reader.frames(max_frames):
            start = time.perf_counter()
            landmarks = extractor.process(frame, t)
            times.append(time.perf_counter() - start)
            present.append(landmarks.present)
        info = reader.info
        truncated = reader.problem
    ms = np.asarray(times) * 1000.0
    found = np.mean(present, axis=0) if present else np.zeros(len(GROUPS))
    return {
        "file": path.name,
        "frames": len(times),
        "frames_claimed": info.frame_count,
        "fps": round(info.fps, 3),
        "size": [info.width, info.height],
        **{f"{g.name}_fraction": round(float(v), 3) for g, v in zip(GROUPS, found, strict=True)},
        "ms_per_frame": {
            "mean": round(float(ms.mean()), 1) if len(ms) else None,
            "p50": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p95": round(float(np.percentile(ms, 95)), 1) if len(ms) else None,
        },
        "truncated": truncated,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="videos (default: the shared data's)")
    parser.add_argument("--with-face", action="store_true", help="also store the face subset")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per file at most")
    args = parser.parse_args(argv)
    files: list[Path] = args.files
    if not files:
        folder = data_root() / "videos"
        if not folder.is_dir():
            print(f"no videos at {folder} (set SIGNSTREAM_DATA)", file=sys.stderr)
            return 2
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    config = ExtractorConfig(with_face=args.with_face)
    results = [bench_file(f, config, args.max_frames) for f in files]
    all_ms = [r["ms_per_frame"]["mean"] * r["frames"] for r in results if r["frames"]]
    total_frames = sum(r["frames"] for r in results)
    report = {
        "extractor": "HolisticExtractor (mediapipe.solutions.holistic, model_complexity=1)",
        "config": dataclasses.asdict(config),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mediapipe": importlib.metadata.version("mediapipe"),
            "opencv": cv2.__version__,
        },
        "files": results,
        "overall_ms_per_frame_mean": round(sum(all_ms) / total_frames, 1) if total_frames else None,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
