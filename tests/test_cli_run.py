"""``signstream run`` as a user runs it: it always says what happened, and says nothing else.

Real runs of the real CLI in a subprocess (the libraries' native logging goes straight to file
descriptor 2, so only a real process shows what a user sees).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.quiet import is_noise
from tests.conftest import frames_in

REPO = Path(__file__).resolve().parents[1]
# what MediaPipe, TF Lite, OpenCV/FFmpeg and ONNX Runtime printed on every run before
LIBRARY_NOISE = (
    "W0000",
    "I0000",
    "Feedback manager requires",
    "absl::InitializeLog",
    "TensorFlow Lite",
    "NORM_RECT",
    "onnxruntime:Default",
    "[mov,",
    "[ERROR:",
    "[ WARN:",
)


def signstream(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SIGNSTREAM_VERBOSE"}
    return subprocess.run(
        [sys.executable, "-m", "signstream.cli", *args], capture_output=True, text=True,
        timeout=timeout, cwd=REPO, env=env,
    )  # fmt: skip


def assert_quiet(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if any(n in line for n in LIBRARY_NOISE)]
    assert not noisy, "\n".join(noisy)


@pytest.mark.data
def test_a_video_with_no_known_sign_ends_with_its_summary_and_no_library_noise(
    shared_data: Path,
) -> None:
    """An ASL sign outside the vocabulary: the people model, which rejects no unknown sign
    (docs/RESULTS.md: about half of them get a gloss), may give one; the output says what
    it gave, and nothing else."""
    video = shared_data / "videos" / "FOOTBALL.mp4"
    frames = frames_in(video)
    done = signstream("run", "--source", str(video))  # at its own pace, every frame
    assert done.returncode == 0, done.stderr
    assert_quiet(done.stderr)
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]  # one per committed gloss
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"{video}: ended after 2.0")
    assert f"{frames} of {frames} frames processed, 0 dropped" in summary
    said = "no gloss recognised" if not lines else f"{len(lines)} gloss"
    assert said in summary and "CPUExecutionProvider" in summary

    done = signstream("run", "--source", str(video), "--json", "--fast")
    assert done.returncode == 0 and done.stdout, done.stderr
    assert_quiet(done.stderr)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["type"] == "StartEvent" and events[0]["frame_count"] == 64  # container's
    last = events[-1]
    assert last["type"] == "Summary" and last["reason"] == "end"
    counts = (last["frames_read"], last["frames_processed"], last["frames_dropped"])
    assert counts == (frames, frames, 0)
    assert last["glosses"] == len(lines) and last["source"] == str(video)


@pytest.mark.data
def test_realtime_imitates_a_camera_and_says_what_it_dropped(shared_data: Path) -> None:
    video = shared_data / "videos" / "FOOTBALL.mp4"
    done = signstream("run", "--source", str(video), "--realtime", "--json")
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["frames_processed"] + last["frames_dropped"] == last["frames_read"]
    assert last["frames_read"] > 55


def test_bad_inputs_give_our_message_only(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(4096))
    done = signstream("run", "--source", str(bad))
    assert done.returncode == 1
    assert_quiet(done.stderr)
    assert (
        done.stderr.strip() == f"signstream: error: {bad}: not a video OpenCV can read "
        "(corrupt or unknown type)"
    )


@pytest.mark.skipif(
    Path("/proc/driver/nvidia/version").exists(), reason="a GPU is present: CUDA may work"
)
def test_cuda_asked_for_without_a_gpu_is_one_line_not_a_dump() -> None:
    done = signstream("run", "--source", "webcam:0", "--device", "cuda")
    assert done.returncode == 1
    assert_quiet(done.stderr)
    assert "\x1b[" not in done.stderr  # no red ONNX Runtime dump
    assert "CUDA was asked for" in done.stderr and "--device cpu" in done.stderr


def test_verbose_lets_the_libraries_speak(tmp_path: Path) -> None:
    probe = textwrap.dedent(
        """
        import os, sys
        from engine.quiet import quiet_native_logs
        quiet_native_logs("--verbose" not in sys.argv)
        noise = b"W0000 00:00:1796238370.019745    5692 inference_feedback_manager.cc:114] x\\n"
        os.write(2, noise + b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
        os.write(2, b"ours: a real warning\\n")
        print("python's own stderr line", file=sys.stderr)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0
    assert quiet.stderr.splitlines() == ["ours: a real warning", "python's own stderr line"]
    loud = subprocess.run(
        [sys.executable, "-c", probe, "--verbose"], capture_output=True, text=True, env=env
    )
    assert "inference_feedback_manager" in loud.stderr and "TensorFlow Lite" in loud.stderr


def test_noise_patterns_match_the_real_lines_and_nothing_of_ours() -> None:
    noise = [
        "W0000 00:00:1796238370.019745    5692 inference_feedback_manager.cc:114] Feedback "
        "manager requires a model with a single signature inference.",
        "I0000 00:00:1796245104.148537    7710 gl_context_egl.cc:85] Successfully initialized EGL.",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        "\x1b[1;31m2026-12-02 19:06:12.158579743 [E:onnxruntime:Default, provider_bridge_ort.cc:"
        "2458 operator()] Failed to load library",
        "\x1b[m",
        "[ WARN:0@0.012] global cap.cpp:175 open VIDEOIO(V4L2): can't open camera by index",
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c6a3b2c0] moov atom not found",
    ]
    ours = [
        "signstream: error: clip.mp4: not a video OpenCV can read (corrupt or unknown type)",
        "error: MediaPipe failed on a 64x48 frame: boom",
        "Traceback (most recent call last):",
        "clip.mp4: ended after 1.37 s; 41 of 41 frames processed, 0 dropped; no gloss recognised",
        "E0000 00:00:1796238370.019745    5692 calculator_graph.cc:887] a real failure",
        "",
    ]
    assert all(is_noise(line) for line in noise)
    assert not any(is_noise(line) for line in ours)
