"""Screenshot of the running app playing a real video: what a user sees.

    .venv/bin/python scripts/screenshot.py VIDEO OUT.png [--frames N]

Runs offscreen (no display needed); under Xvfb it works the same with QT_QPA_PLATFORM=xcb.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=30, help="frames to play before the shot")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    window = MainWindow()
    window.resize(1100, 640)
    window.show()

    def shoot() -> None:
        if window.frames_shown >= args.frames or not window.bridge.running:
            window.grab().save(str(args.out))
            print(f"{args.out}: after {window.frames_shown} frames; status: {window.status.text()}")
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(shoot)
    timer.start(50)
    window.open_source(args.video)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
