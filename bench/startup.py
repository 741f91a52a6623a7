"""Start-up time: from launch to the first processed frame, with the default model (CPU here).

    .venv/bin/python bench/startup.py [--video FILE] [--model ONNX (default: models/index.json's)]

Measured the way a user meets it, in one fresh process: Python imports, the app window (Qt
offscreen), the model and its LM loaded, the source opened, MediaPipe built, and the first
frame through landmarks and onto the screen. The provider is reported: the app picks CUDA
only where an NVIDIA driver exists, so on a CPU-only machine this is the CPU path. A video file
stands in for the camera (these machines have none); a camera adds its own start-up on top.
Prints JSON with the time of each step (seconds since the process started) and whether the
target is met.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before any import: the imports are part of the start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_S = 3.0
from engine.data_root import data_root  # noqa: E402
from engine.model_index import default_model  # noqa: E402

DEFAULT_VIDEO = data_root() / "videos" / "FOOTBALL.mp4"


def since_start() -> float:
    return round(time.perf_counter() - T0, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="stands in for a camera")
    ap.add_argument("--model", type=Path, default=default_model())
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    steps: dict[str, Any] = {}

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    steps["imports_s"] = since_start()
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:  # no user settings: a first start
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        window = MainWindow(model=args.model, settings=settings, data_dir=Path(tmp) / "user")
        window.show()
        steps["window_and_model_s"] = since_start()
        info = window.bridge.model_info
        first: dict[str, float] = {}

        def on_frame(_: object) -> None:
            if "first_frame_s" not in first:
                first["first_frame_s"] = since_start()
                # the frame is drawn in the slot queued before this one: on screen now
                QTimer.singleShot(0, app.quit)

        window.bridge.frame.connect(on_frame)
        window.open_source(args.video)
        steps["source_opened_s"] = since_start()
        QTimer.singleShot(int(1000 * args.timeout), app.quit)
        app.exec()
        window.close()
    total = first.get("first_frame_s")
    result = {
        "model": str(args.model),
        "provider": window.bridge.provider if info is not None else "",
        "source": str(args.video),
        **steps,
        "first_frame_s": total,
        "target_s": TARGET_S,
        "meets_target": total is not None and total < TARGET_S,
        "frames_shown": window.frames_shown,
    }
    print(json.dumps(result, indent=1))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
