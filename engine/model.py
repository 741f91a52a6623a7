"""Self-describing ONNX models in ONNX Runtime: metadata, validation, providers, inference.

Every model SignStream ships or trains carries in its ONNX metadata (``metadata_props``) what
the engine needs to use it correctly (``METADATA_KEYS``): the glosses, the feature spec it was
trained on, its frame rate, window and hop, and where it came from. :func:`read_model_info`
reads them without building a session; :class:`OnnxModel` refuses a file that lacks them or
whose input does not fit them, with a message that says why.

Execution providers: CUDA first when this onnxruntime has it and a GPU answers, else the CPU.
``get_available_providers()`` lists CUDA with onnxruntime-gpu even on machines without a GPU,
so the provider really used is read back from the session (``OnnxModel.provider``).

A model may also reject signs it does not know (:mod:`engine.rejection`): then it has a second
output, ``embedding``, and its metadata holds the class means and threshold (``rejection``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from engine.errors import ModelLoadError
from engine.features import FeatureSpec
from engine.model_index import verify_file
from engine.quiet import ort_log_severity
from engine.rejection import METADATA_KEY as REJECTION_KEY
from engine.rejection import Rejector
from engine.vocabulary import Vocabulary

__all__ = [
    "EMBEDDING_NAME",
    "FORMAT_VERSION",
    "METADATA_KEYS",
    "ModelInfo",
    "OnnxModel",
    "read_model_info",
]

FORMAT_VERSION = "1"  # of the metadata below
METADATA_KEYS = (
    "signstream.format",  # FORMAT_VERSION
    "glosses",  # JSON list; class i + 1 is glosses[i], class 0 the CTC blank
    "feature_spec",  # FeatureSpec JSON the model was trained on
    "fps",  # model frame rate (= feature_spec fps)
    "window",  # frames per inference window
    "hop",  # frames between consecutive windows
    "lookahead",  # future frames one output frame depends on ("" for unbounded)
    "model_family",  # e.g. mobilenet1d
)
OPTIONAL_KEYS = ("name", "model_spec", "training_data", "heldout", "quantization", "created")
INPUT_NAME = "features"  # (B, T, F) float32
OUTPUT_NAME = "log_probs"  # (B, T, C) float32
EMBEDDING_NAME = "embedding"  # (B, T, H) float32, optional: whitened hidden (engine.rejection)
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# onnxruntime-gpu logs a warning when it cannot create the CUDA provider on a machine without
# a GPU (expected: we fall back to the CPU and report the provider used); errors still show
ort.set_default_logger_severity(3)


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself."""

    path: str
    vocabulary: Vocabulary
    feature_spec: FeatureSpec
    fps: float
    window: int  # frames per window
    hop: int  # frames between windows
    lookahead: int | None  # future frames per output frame; None: unbounded (bidirectional)
    family: str
    name: str  # display name (file stem where the model states none)
    extra: dict[str, str] = field(default_factory=dict)  # the optional keys present
    rejector: Rejector | None = None  # rejects unknown signs (None: every gloss is accepted)

    @property
    def heldout(self) -> dict[str, Any]:
        """Held-out results the training recipe stored (e.g. WER), or ``{}``."""
        try:
            value = json.loads(self.extra.get("heldout", "{}"))
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def size_bytes(self) -> int:
        return os.path.getsize(self.path)


def _parse_info(path: Path, meta: dict[str, str]) -> ModelInfo:
    missing = [k for k in METADATA_KEYS if k not in meta]
    if missing:
        raise ModelLoadError(
            f"{path}: not a SignStream model (its ONNX metadata lacks {', '.join(missing)}); "
            "export models with `signstream train export`"
        )
    if meta["signstream.format"] != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path}: model metadata format {meta['signstream.format']}, this SignStream reads "
            f"format {FORMAT_VERSION}"
        )
    try:
        vocab = Vocabulary(tuple(json.loads(meta["glosses"])))
        spec = FeatureSpec.from_json(meta["feature_spec"])
        fps = float(meta["fps"])
        window, hop = int(meta["window"]), int(meta["hop"])
        lookahead = int(meta["lookahead"]) if meta["lookahead"] not in ("", "none") else None
        rejector = Rejector.from_json(meta[REJECTION_KEY]) if REJECTION_KEY in meta else None
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{path}: unreadable model metadata ({e})") from e
    if abs(fps - spec.fps) > 1e-6:
        raise ModelLoadError(f"{path}: metadata fps {fps} differs from its feature spec's")
    if not 0 < hop <= window:
        raise ModelLoadError(f"{path}: window {window} / hop {hop} make no sense")
    return ModelInfo(
        path=str(path),
        vocabulary=vocab,
        feature_spec=spec,
        fps=fps,
        window=window,
        hop=hop,
        lookahead=lookahead,
        family=meta["model_family"],
        name=meta.get("name") or path.stem,
        extra={k: meta[k] for k in OPTIONAL_KEYS if k in meta},
        rejector=rejector,
    )


def _session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    # all graph optimisations (constant folding, conv+bn fusion, ...): models are small and
    # loaded once, so the extra load time is paid once and every window runs faster
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # one window at a time: parallelism inside ops only; inter-op threads would just contend
    # with MediaPipe and the decoder for the laptop's few cores
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # errors only (fatal only when quiet): a failed CUDA provider is reported by OnnxModel
    opts.log_severity_level = max(3, ort_log_severity())
    return opts


def _gpu_present() -> bool:
    """Whether an NVIDIA driver is visible. onnxruntime-gpu lists CUDA as available on every
    machine and logs a loud error each time it then fails to load it without a GPU: asking for
    it only where a driver exists keeps CPU-only laptops quiet (``device="cuda"`` still tries)."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists() or any(
            Path("/dev").glob("nvidia[0-9]*")
        )
    return True  # Windows: no cheap check; a failed CUDA start falls back to the CPU


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """The metadata of a model file (builds a CPU session, cheap for our model sizes)."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"{p}: no such model file")
    verify_file(p)  # a shipped model that differs from models/index.json is refused
    try:
        sess = ort.InferenceSession(str(p), _session_options(1), providers=[CPU])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ModelLoadError(f"{p}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    return _parse_info(p, dict(sess.get_modelmeta().custom_metadata_map))


class OnnxModel:
    """A SignStream model in an ONNX Runtime session.

    ``device``: ``"auto"`` (CUDA when it works, else CPU), ``"cuda"`` or ``"cpu"``.
    ``threads``: intra-op CPU threads (0: onnxruntime's default, all cores).
    """

    def __init__(
        self, path: str | os.PathLike[str], device: str = "auto", threads: int = 1
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"{self.path}: no such model file")
        verify_file(self.path)
        providers = [CPU]
        wants_cuda = device == "cuda" or (device == "auto" and _gpu_present())
        if wants_cuda and CUDA in ort.get_available_providers():
            providers = [CUDA, CPU]
        elif device == "cuda":
            raise ModelLoadError("CUDA was asked for, but this onnxruntime has no CUDA provider")
        # the provider bridge logs through the default logger, not the session's
        ort.set_default_logger_severity(ort_log_severity())
        t0 = time.perf_counter()
        try:
            self.session = ort.InferenceSession(
                str(self.path), _session_options(threads), providers=providers
            )
        except Exception as e:
            raise ModelLoadError(
                f"{self.path}: not a readable ONNX model ({type(e).__name__}: {e})"
            ) from e
        self.load_seconds = time.perf_counter() - t0
        self.info = _parse_info(self.path, dict(self.session.get_modelmeta().custom_metadata_map))
        self._check_io()
        # what the session really runs on (CUDA may have failed to initialise)
        self.provider = self.session.get_providers()[0]
        if device == "cuda" and self.provider != CUDA:
            why = (
                "its libraries (CUDA 12/13, cuDNN 9) did not load; signstream --verbose shows "
                "ONNX Runtime's reason"
                if _gpu_present()
                else "this machine shows no NVIDIA GPU or driver"
            )
            raise ModelLoadError(
                f"{self.path}: CUDA was asked for but could not be initialised ({why}); "
                "--device cpu or auto runs on the CPU"
            )

    def _check_io(self) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or outputs[0].name != OUTPUT_NAME:
            raise ModelLoadError(
                f"{self.path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, found "
                f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}"
            )
        shape = inputs[0].shape
        dim = self.info.feature_spec.dim
        if len(shape) != 3 or (isinstance(shape[2], int) and shape[2] != dim):
            raise ModelLoadError(
                f"{self.path}: input shape {shape} does not take (batch, time, {dim}) features "
                "of its own feature spec"
            )
        out_shape = outputs[0].shape
        c = self.info.vocabulary.num_classes
        if len(out_shape) != 3 or (isinstance(out_shape[2], int) and out_shape[2] != c):
            raise ModelLoadError(
                f"{self.path}: output shape {out_shape} does not have {c} classes "
                f"({len(self.info.vocabulary)} glosses + blank)"
            )
        rejector = self.info.rejector
        if rejector is not None:
            emb = [o.shape for o in outputs if o.name == EMBEDDING_NAME]
            if not emb or len(emb[0]) != 3 or emb[0][2] != rejector.dim:
                raise ModelLoadError(
                    f"{self.path}: its metadata rejects unknown signs with {rejector.dim}-wide "
                    f"embeddings, but its outputs are {[(o.name, o.shape) for o in outputs]}"
                )

    def __call__(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``(T, F)`` or ``(B, T, F)`` features -> log-probabilities of the same leading shape."""
        x = np.asarray(features, np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[2] != self.info.feature_spec.dim:
            raise ValueError(
                f"features must be (T, {self.info.feature_spec.dim}), got {features.shape}"
            )
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        result = np.asarray(out, np.float32)
        return result[0] if single else result

    def infer(
        self, features: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """``(T, F)`` features -> log-probabilities ``(T, C)`` and, for a model that rejects
        unknown signs, its embeddings ``(T, H)`` (else None)."""
        if self.info.rejector is None:
            return self(features), None
        x = np.asarray(features, np.float32)
        if x.ndim != 2 or x.shape[1] != self.info.feature_spec.dim:
            raise ValueError(
                f"features must be (T, {self.info.feature_spec.dim}), got {features.shape}"
            )
        lp, emb = self.session.run([OUTPUT_NAME, EMBEDDING_NAME], {INPUT_NAME: x[None]})
        return np.asarray(lp[0], np.float32), np.asarray(emb[0], np.float32)

    def warmup(self, runs: int = 3) -> float:
        """Run a few windows so first-call costs (allocations, CUDA kernels) are paid now;
        returns ms of the last run."""
        x = np.zeros((self.info.window, self.info.feature_spec.dim), np.float32)
        ms = 0.0
        for _ in range(runs):
            t0 = time.perf_counter()
            self(x)
            ms = 1000 * (time.perf_counter() - t0)
        return ms
