"""``signstream``: no arguments opens the app; subcommands do the rest.

The CLI only parses and dispatches to typed functions; each subcommand imports what it needs
when it runs, so ``signstream data ...`` never pays for Qt or torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine import __version__
from engine.errors import SignStreamError
from engine.model_index import default_model, lm_beside
from engine.quiet import quiet_native_logs

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signstream",
        description="Real-time sign language recognition. Without a command: open the app.",
    )
    parser.add_argument("--version", action="version", version=f"signstream {__version__}")
    # read by main() before anything loads (native libraries log as they load); here for --help
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "--verbose", action="store_true",
        help="show MediaPipe, TF Lite, OpenCV/FFmpeg and ONNX Runtime logging (hidden by default)",
    )  # fmt: skip
    parser.add_argument("--verbose", action="store_true", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    app = sub.add_parser("app", help="open the desktop app (the default)", parents=[verbose])
    app.add_argument("video", nargs="?", help="a video file or recording to play at start")
    app.set_defaults(func=_cmd_app)

    demo = sub.add_parser(
        "demo", parents=[verbose],
        help="replay a real signer's sentence (landmarks) in the app; in the terminal without a "
        "display",
    )  # fmt: skip
    demo.add_argument("--text", action="store_true", help="in the terminal, even with a display")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser(
        "run", help="recognise signing from a camera, video or recording", parents=[verbose]
    )
    run.add_argument(
        "--source", default="webcam:0", help="webcam:N, a video/GIF, a .pose, dataset:DIR"
    )
    run.add_argument("--model", default=None, help="ONNX model (default: models/index.json's)")
    run.add_argument("--lm", default=None, help="KenLM gloss LM (default: the model's .arpa)")
    run.add_argument("--no-lm", action="store_true", help="greedy decoding, no LM")
    run.add_argument("--json", action="store_true", help="one JSON object per event")
    pace = run.add_mutually_exclusive_group()
    pace.add_argument(
        "--fast", action="store_true", help="files: as fast as they decode (default: own pace)"
    )
    pace.add_argument(
        "--realtime", action="store_true",
        help="files: imitate a live camera, drop frames the engine is too slow for (default: "
        "every frame of a file is processed)",
    )  # fmt: skip
    run.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    run.add_argument("--alpha", type=float, default=None, help="LM weight")
    run.add_argument("--beta", type=float, default=None, help="gloss insertion bonus")
    run.add_argument("--beam-width", type=int, default=None)
    run.add_argument(
        "--pause", type=float, default=None, help="seconds of rest that commit (default 0.3)"
    )
    run.add_argument(
        "--settle", type=float, default=None,
        help="seconds one gloss must win in a row to commit before the pause (0: never; 0.3)",
    )  # fmt: skip
    run.add_argument("--stats", action="store_true", help="also print throughput every second")
    run.set_defaults(func=_cmd_run)

    ext = sub.add_parser(
        "extract", help="MediaPipe landmarks of videos, written as .pose files", parents=[verbose]
    )
    ext.add_argument("videos", nargs="+", type=Path, help="video files or animated GIFs")
    ext.add_argument("--out", type=Path, required=True, help="output folder for the .pose files")
    ext.add_argument("--face", action="store_true", help="also keep the face subset")
    ext.set_defaults(func=_cmd_extract)

    from training.cli import add_train_parser  # torch only when a command runs
    from training.data_cli import add_data_parser  # no torch, no Qt

    add_data_parser(sub)
    add_train_parser(sub)
    return parser


def _cmd_app(args: argparse.Namespace) -> int:
    from app.main_window import no_display_reason, run_app

    reason = no_display_reason()
    if reason:
        print(f"signstream: {reason}", file=sys.stderr)
        return 1
    return run_app([sys.argv[0]] + ([args.video] if args.video else []))


def _cmd_demo(args: argparse.Namespace) -> int:
    from engine.demo import demo_glosses, demo_recordings

    recordings = demo_recordings()
    if not recordings:
        raise SignStreamError("no demo recording is installed (assets/demo/*.pose)")
    from app.main_window import no_display_reason

    reason = no_display_reason()
    if args.text or reason:
        if reason and not args.text:
            print(f"signstream: {reason}; the demo plays here instead", file=sys.stderr)
        sentence = " ".join(demo_glosses(recordings[0]))
        print(f"Demo: {recordings[0].name}, a held-out signer signs: {sentence}", file=sys.stderr)
        run_args = build_parser().parse_args(["run", "--source", str(recordings[0])])
        return _cmd_run(run_args)
    from app.main_window import run_app

    return run_app([sys.argv[0], "--demo"])


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from engine.decoder import DecoderConfig
    from engine.events import EndEvent, ErrorEvent, GlossEvent, StartEvent, StatsEvent
    from engine.pipeline import PipelineConfig, run_source
    from engine.streaming import StreamingConfig

    model = Path(args.model) if args.model else default_model()
    if model is None:
        raise SignStreamError(
            "no model given and models/index.json names no default: give --model, or "
            "regenerate the shipped one with `signstream train recipe`"
        )
    if args.lm and not Path(args.lm).is_file():
        raise SignStreamError(f"{args.lm}: no such LM file (--no-lm decodes without one)")
    lm = None if args.no_lm else (args.lm or _beside(model))
    changes = {"alpha": args.alpha, "beta": args.beta, "beam_width": args.beam_width}
    given = {k: v for k, v in changes.items() if v is not None}
    # nothing given: the model's own tuned LM weight (engine.pipeline); else these settings
    decoder = dataclasses.replace(DecoderConfig(), **given) if given else None
    rules = {"pause_s": args.pause, "settle_s": args.settle}
    try:  # the Recognizer sets the model's frame rate
        streaming = StreamingConfig(**{k: v for k, v in rules.items() if v is not None})
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = PipelineConfig(
        model=str(model), lm=lm, device=args.device, decoder=decoder, streaming=streaming,
        frame_events=False, drop_file_frames=args.realtime,
    )  # fmt: skip
    tty = sys.stdout.isatty() and not args.json
    failed = False
    partial_shown = False
    for event in run_source(config, args.source, fast=args.fast):
        if isinstance(event, ErrorEvent):
            failed = failed or event.fatal
            if partial_shown:  # the error on a line of its own, not after the partial
                print(file=sys.stderr)
                partial_shown = False
            print(f"error: {event.message}", file=sys.stderr)
        if args.json and isinstance(event, GlossEvent | ErrorEvent | StatsEvent | StartEvent):
            if isinstance(event, StatsEvent) and not args.stats:
                continue
            print(json.dumps(_event_dict(event), default=str), flush=True)
        elif isinstance(event, GlossEvent) and event.is_commit and event.glosses:
            print(f"\r[{event.start:7.2f}-{event.end:7.2f}] {event.text}" + " " * 20, flush=True)
            partial_shown = False
        elif isinstance(event, GlossEvent) and tty:
            print(f"\r  ... {event.text}" + " " * 20, end="", flush=True)
            partial_shown = bool(event.text)
        elif isinstance(event, StatsEvent) and args.stats:
            stages = ", ".join(f"{k} {v:.1f} ms" for k, v in event.stage_ms.items())
            print(f"  [{event.processed_fps:.1f} fps, {event.provider}; {stages}]", file=sys.stderr)
        if isinstance(event, EndEvent):
            if partial_shown:
                print("\r" + " " * 60 + "\r", end="", flush=True)
            if args.json:  # the summary is the last event
                print(json.dumps(_event_dict(event), default=str), flush=True)
            else:
                print(event.summary(), file=sys.stderr)
            failed = failed or event.reason == "error"
    return 1 if failed else 0


def _event_dict(event: object) -> dict[str, object]:
    import dataclasses

    assert dataclasses.is_dataclass(event) and not isinstance(event, type)
    kind = type(event).__name__
    return {"type": "Summary" if kind == "EndEvent" else kind, **dataclasses.asdict(event)}


def _beside(model: Path) -> str | None:
    lm = lm_beside(model)
    return None if lm is None else str(lm)


def _cmd_extract(args: argparse.Namespace) -> int:
    from engine.extractor import ExtractorConfig, create_extractor
    from engine.posefile import sequence_to_pose, write_pose
    from engine.video import extract_video

    failures = 0
    with create_extractor(ExtractorConfig(with_face=args.face)) as extractor:
        for video in args.videos:
            try:
                seq = extract_video(video, extractor=extractor)
            except SignStreamError as e:
                print(f"error: {e}", file=sys.stderr)
                failures += 1
                continue
            out = args.out / (Path(video).stem + ".pose")
            write_pose(out, sequence_to_pose(seq))
            hands = seq.present[:, 1:3].any(axis=1).mean()
            print(f"{video}: {seq.num_frames} frames, hands in {hands:.0%} -> {out}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # before anything loads cv2, mediapipe or onnxruntime: they log as they load
    verbose = "--verbose" in argv or os.environ.get("SIGNSTREAM_VERBOSE", "") not in ("", "0")
    quiet_native_logs(not verbose)
    if not argv or argv == ["--verbose"]:
        return _cmd_app(argparse.Namespace(video=None))
    parser = build_parser()
    # `train` commands take free --section.key=value overrides of their run config
    args, unknown = parser.parse_known_args(argv)
    if unknown and getattr(args, "command", None) != "train":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        if args.command == "train":
            return int(args.func(args, unknown))
        return int(args.func(args))
    except SignStreamError as e:  # a message a person can act on, not a traceback
        print(f"signstream: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` & co.: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("signstream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
