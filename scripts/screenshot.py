"""Screenshot of the running app playing a real video or a landmark replay: what a user sees.

    .venv/bin/python scripts/screenshot.py [VIDEO|RECORDING.pose] OUT.png [--frames N]
    .venv/bin/python scripts/screenshot.py --demo OUT.png      # the shipped demo replay
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py OUT.png

A replay (``.pose``, the demo) has no video: its skeleton is drawn on a blank canvas.

With a display (Xvfb, or a desktop) the real window is shown and grabbed through the X server
(QT_QPA_PLATFORM=xcb); without one it renders offscreen. VIDEO defaults to a real signing video
of the shared data. The app starts with its defaults (the shipped model, mirror and overlay
on): a temporary settings file keeps the user's own settings out of the picture and untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# a display present (xvfb-run sets DISPLAY): show a real X11 window; else offscreen
os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from engine.data_root import data_root  # noqa: E402

DEFAULT_VIDEO = data_root() / "videos" / "FOOTBALL.mp4"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="[VIDEO] OUT.png")
    parser.add_argument("--frames", type=int, default=45, help="frames to play before the shot")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up")
    parser.add_argument("--demo", action="store_true", help="play the shipped demo replay")
    args = parser.parse_args()
    if len(args.paths) > 2:
        parser.error("give at most VIDEO and OUT.png")
    video, out = args.paths if len(args.paths) == 2 else [DEFAULT_VIDEO, args.paths[0]]
    if args.demo:
        from engine.demo import demo_recordings

        found = demo_recordings()
        if not found:
            parser.error("no demo recording is installed (assets/demo)")
        video = found[0]
    if not video.is_file():
        parser.error(f"{video}: no such video (give one, or set SIGNSTREAM_DATA)")
    app = QApplication(sys.argv[:1])
    tmp = tempfile.TemporaryDirectory()
    settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, data_dir=Path(tmp.name) / "user")
    window.resize(1100, 640)
    window.show()
    result = {"code": 1}

    def shoot() -> None:
        if window.frames_shown >= args.frames or not window.bridge.running:
            ok = window.grab().save(str(out))
            result["code"] = 0 if ok and window.frames_shown > 0 else 1
            print(
                f"{out}: {'written' if ok else 'NOT written'} on {app.platformName()} after "
                f"{window.frames_shown} frames; status: {window.status.text()}; transcript: "
                f"{' | '.join(e.text for e in window.transcript.entries) or '(empty)'}"
            )
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(shoot)
    timer.start(50)
    QTimer.singleShot(int(1000 * args.timeout), app.quit)
    window.open_source(video)
    app.exec()
    tmp.cleanup()
    return result["code"]


if __name__ == "__main__":
    sys.exit(main())
