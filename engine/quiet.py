"""Quiet native libraries: MediaPipe (absl), TF Lite, OpenCV/FFmpeg and ONNX Runtime logging.

Each library logs from C++ straight to file descriptor 2, most of them before any Python
setting can reach them: MediaPipe 0.10.21's absl logging has no environment switch ("All log
messages before absl::InitializeLog() is called are written to STDERR"), TF Lite prints
"INFO: Created TensorFlow Lite XNNPACK delegate" on its own. So :func:`quiet_native_logs`
does two things, and must run before those libraries load:

- the switches that exist are set: OpenCV's and FFmpeg's log levels (environment, read when
  cv2 loads), glog/TF levels, ONNX Runtime's default logger (:func:`ort_log_severity`);
- what still comes, descriptor 2 is filtered: a pipe replaces it, and a thread copies every
  line to the real stderr except the known library chatter (:data:`NOISE`). Our own
  messages, Python tracebacks and warnings pass unchanged.

``signstream --verbose`` (or ``SIGNSTREAM_VERBOSE=1``) leaves everything as the libraries
make it. The engine itself never calls this: a program that uses the engine as a library
keeps its stderr as it is unless it asks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

__all__ = [
    "NOISE",
    "QUIET_ENV",
    "is_noise",
    "is_quiet",
    "ort_log_severity",
    "quiet_native_logs",
    "restore_stderr",
]

# read by the libraries when they load; setdefault: a value the user set wins
QUIET_ENV = {
    "OPENCV_LOG_LEVEL": "ERROR",  # OpenCV's "[ WARN:0@0.1] ..." lines
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET: "[mov,mp4,... @ 0x...] moov atom not found"
    "GLOG_minloglevel": "2",  # glog-based builds: errors only
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow's own C++ logging
}
# lines of library chatter (matched at the start of a line, ANSI colours stripped)
NOISE = tuple(
    re.compile(p)
    for p in (
        r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]",  # absl/glog INFO and WARNING lines
        r"WARNING: All log messages before absl::InitializeLog\(\)",
        r"INFO: Created TensorFlow Lite",  # TF Lite's minimal logger
        r"INFO: Initialized TensorFlow Lite",
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[VIWE]:onnxruntime:",  # ORT's default logger
        r"\[ ?(WARN|INFO|ERROR):\d+@\d",  # OpenCV's logger
        r"\[[\w,]+ @ 0x[0-9a-f]+\]",  # FFmpeg through OpenCV
    )
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
ORT_QUIET_SEVERITY = 4  # fatal only: a failed CUDA provider is reported by engine.model instead
ORT_VERBOSE_SEVERITY = 2  # ONNX Runtime's own default (warnings)

_state: dict[str, object] = {"quiet": False}
_lock = threading.Lock()


def is_noise(line: str) -> bool:
    """Whether ``line`` is one of the libraries' log lines that quiet mode hides."""
    text = _ANSI.sub("", line).strip()
    if not text:
        return line.strip() != "" or "\x1b" in line  # a bare colour reset left by ORT
    return any(p.match(text) for p in NOISE)


def is_quiet() -> bool:
    """Whether :func:`quiet_native_logs` is in force."""
    return bool(_state["quiet"])


def ort_log_severity() -> int:
    """The ONNX Runtime log severity to use now (engine.model sets it on its sessions)."""
    return ORT_QUIET_SEVERITY if is_quiet() else ORT_VERBOSE_SEVERITY


def _pump(read_fd: int, out_fd: int) -> None:
    """Copy lines from the pipe to the real stderr, without the noise, until the pipe ends."""
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = [ln for ln in lines if not is_noise(ln.decode("utf-8", "replace"))]
        if kept:
            _write_all(out_fd, b"\n".join(kept) + b"\n")
        # a prompt or a progress line without its newline yet: pass it on at once
        if pending and b"\r" in pending:
            _write_all(out_fd, pending)
            pending = b""
    if pending and not is_noise(pending.decode("utf-8", "replace")):
        _write_all(out_fd, pending)
    os.close(read_fd)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except OSError:
            return  # the real stderr is gone (closed terminal): nothing to keep
        data = data[n:]


def quiet_native_logs(quiet: bool = True) -> None:
    """Hide the native libraries' log lines from now on (``quiet=False``: change nothing).

    Call before cv2, mediapipe and onnxruntime are imported; idempotent. Descriptor 2 is
    restored, and every line written before that delivered, at exit (:func:`restore_stderr`).
    """
    if not quiet:
        return
    with _lock:
        if _state["quiet"]:
            return
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            read_fd, write_fd = os.pipe()
        except (OSError, ValueError):
            return  # no usable descriptor 2 (a detached process): nothing to filter
        os.dup2(write_fd, 2)
        os.close(write_fd)
        pump = threading.Thread(
            target=_pump, args=(read_fd, saved), name="signstream-stderr", daemon=True
        )
        pump.start()
        _state.update(quiet=True, saved=saved, pump=pump)
    atexit.register(restore_stderr)


def restore_stderr() -> None:
    """Put the real stderr back on descriptor 2 and deliver what is still in the pipe."""
    with _lock:
        saved, pump = _state.get("saved"), _state.get("pump")
        if not isinstance(saved, int) or not isinstance(pump, threading.Thread):
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer goes: the pump reads to its end
        pump.join(timeout=2.0)
        os.close(saved)
        _state.update(quiet=False, saved=None, pump=None)
