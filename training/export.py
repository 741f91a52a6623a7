"""Export a checkpoint to a self-describing ONNX model, check parity, optionally quantise.

* ``torch.onnx.export(dynamo=True)`` with a dynamic batch and time axis (input ``features``
  ``(B, T, F)`` float32, output ``log_probs`` ``(B, T, C)``); the example has batch 2, since a
  batch-1 example lets the exporter bake a Reshape (FACTS.md);
* a checkpoint with a rejection fit (:mod:`training.rejection`) gets a second output,
  ``embedding`` ``(B, T, H)`` = its hidden layer times the whitening, and the class means and
  threshold in its metadata (:mod:`engine.rejection`);
* metadata (:data:`engine.model.METADATA_KEYS` and more): glosses, feature spec, fps, window,
  hop, lookahead, family, model spec, training data, held-out results, opset;
* parity: onnxruntime and PyTorch must agree on random inputs of two lengths, else the export
  fails (nothing is written over an existing model);
* INT8: onnxruntime's dynamic quantisation (weights int8, activations quantised on the fly) or
  static QDQ quantisation calibrated on real feature windows.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from engine.atomic import atomic_path
from engine.model import EMBEDDING_NAME, FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME
from engine.rejection import METADATA_KEY as REJECTION_KEY
from engine.rejection import Rejector
from training.checkpoint import Checkpoint

__all__ = ["ExportResult", "export_onnx", "quantize_int8"]

OPSET = 18
MIN_WINDOW = 64  # frames (2 s at 30 fps): windows of bidirectional models, and the least of all
PARITY_ATOL = 1e-4  # max |log-prob| difference between torch and onnxruntime
PARITY_LENGTHS = (37, 96)  # two time lengths: the time axis must really be dynamic


class _LogProbs(nn.Module):
    """The exported graph: features -> log-softmax of the CTC logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model(features).logits, dim=-1)


class _LogProbsAndEmbedding(nn.Module):
    """The exported graph of a model that rejects unknown signs: features -> log-probs and
    the whitened hidden layer (``engine.rejection``)."""

    def __init__(self, model: nn.Module, whitening: npt.NDArray[np.float32]) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("whitening", torch.from_numpy(np.asarray(whitening, np.float32)))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(features)
        return F.log_softmax(out.logits, dim=-1), out.hidden @ self.whitening


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bytes: int
    parity_max_abs: float  # largest |torch - onnxruntime| on the parity inputs
    opset: int


def _metadata(
    ck: Checkpoint, window: int, hop: int, name: str, heldout: dict[str, Any] | None
) -> dict[str, str]:
    model = ck.model()
    spec = ck.config.feature_spec
    data = ck.config.data
    return {
        "signstream.format": FORMAT_VERSION,
        "glosses": json.dumps(list(ck.vocab.glosses)),
        "feature_spec": spec.to_json(),
        "fps": str(spec.fps),
        "window": str(window),
        "hop": str(hop),
        "lookahead": "" if model.lookahead is None else str(model.lookahead),
        "model_family": ck.spec.family,
        "name": name,
        "model_spec": json.dumps(ck.spec.to_dict()),
        "training_data": json.dumps(
            {
                "dataset": data.dataset,
                "grammar": data.grammar,
                "held_out_signers": list(data.test_signers),
                "epochs": ck.epoch,
                "dev_wer": ck.best_wer,
            }
        ),
        "heldout": json.dumps(heldout or {}),
        **({REJECTION_KEY: _rejector(ck).to_json()} if "rejection" in ck.extra else {}),
        "opset": str(OPSET),
        "parameters": str(model.num_parameters()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _rejector(ck: Checkpoint) -> Rejector:
    from training.rejection import RejectionFit

    return RejectionFit.from_dict(ck.extra["rejection"]).rejector()


def _set_metadata(proto: onnx.ModelProto, meta: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v


def _parity(module: nn.Module, path: Path, dim: int) -> float:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    rng = np.random.default_rng(0)
    for t in PARITY_LENGTHS:
        x = rng.normal(0, 1, size=(2, t, dim)).astype(np.float32)
        with torch.no_grad():
            ref = module(torch.from_numpy(x))
        refs = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
        got = sess.run([o.name for o in sess.get_outputs()], {INPUT_NAME: x})
        for i, (r, g) in enumerate(zip(refs, got, strict=True)):
            # embeddings (output 1) are relative to their largest value: whitening makes them
            # tens where log-probs' winning values are near 0
            scale = 1.0 if i == 0 else max(1.0, float(np.abs(r).max()))
            worst = max(worst, float(np.abs(r - g).max()) / scale)
    return worst


def export_onnx(
    ck: Checkpoint,
    out: str | os.PathLike[str],
    window: int | None = None,
    hop: int = 16,
    name: str | None = None,
    heldout: dict[str, Any] | None = None,
) -> ExportResult:
    """Write ``ck``'s model as ONNX at ``out`` (atomically, after the parity check).

    ``window`` defaults to the smallest that gives a streaming model every frame's full context
    (receptive field + lookahead + hop; at least ``MIN_WINDOW``): a shorter window would cut the
    past context of the frames the engine keeps, and stitched outputs would differ from
    running the model on the whole stream.
    """
    out = Path(out)
    model = ck.model().eval()
    if window is None:
        context = (model.receptive_field or 0) + (model.lookahead or 0) + hop
        window = max(MIN_WINDOW, context) if model.lookahead is not None else MIN_WINDOW
    fit = ck.extra.get("rejection")
    module: nn.Module = (
        _LogProbs(model) if fit is None else _LogProbsAndEmbedding(model, fit["whitening"])
    ).eval()
    dim = ck.spec.in_dim
    example = torch.zeros(2, window, dim)
    batch, time_ = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=2, max=100_000)
    # torch 2.13 patches aten.lstm for dynamic shapes without clearing the op's dispatch cache:
    # after an LSTM ran in this process, the export would bake the example's T into the graph
    torch.ops.aten.lstm.input._dispatch_cache.clear()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module,
            (example,),
            str(raw),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME] if fit is None else [OUTPUT_NAME, EMBEDDING_NAME],
            dynamo=True,
            opset_version=OPSET,
            dynamic_shapes={"features": {0: batch, 1: time_}},
            external_data=False,
        )
        proto = onnx.load(str(raw))
        # LSTM graphs declare the example's T on the output although they compute any T:
        # name the axes so onnxruntime does not warn on every window of another length
        for output in proto.graph.output:
            out_dims = output.type.tensor_type.shape.dim
            out_dims[0].dim_param, out_dims[1].dim_param = "batch", "time"
        _set_metadata(proto, _metadata(ck, window, hop, name or out.stem, heldout))
        checked = Path(tmp) / "final.onnx"
        onnx.save(proto, str(checked))
        worst = _parity(module, checked, dim)
        if worst > PARITY_ATOL:
            raise RuntimeError(
                f"ONNX export differs from PyTorch by {worst:.2e} (> {PARITY_ATOL}); not written"
            )
        with atomic_path(out) as target:
            target.write_bytes(checked.read_bytes())
    return ExportResult(out, out.stat().st_size, worst, OPSET)


def quantize_int8(
    fp32: str | os.PathLike[str],
    out: str | os.PathLike[str],
    mode: str = "dynamic",
    calibration: Sequence[npt.NDArray[np.float32]] = (),
) -> Path:
    """INT8 copy of an exported model (metadata kept, ``quantization`` added).

    ``dynamic``: weights int8, activations quantised at run time (no data needed).
    ``static``: QDQ with activation ranges calibrated on ``calibration`` feature windows
    ``(T, F)``; usually faster for convolutions.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32, out = Path(fp32), Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        q = Path(tmp) / "q.onnx"
        if mode == "dynamic":
            quantize_dynamic(str(pre), str(q), weight_type=QuantType.QInt8)
        elif mode == "static":
            if not calibration:
                raise ValueError("static quantisation needs calibration feature windows")

            class Reader(CalibrationDataReader):  # type: ignore[misc]
                def __init__(self) -> None:
                    self._it = iter([{INPUT_NAME: w[None].astype(np.float32)} for w in calibration])

                def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
                    return next(self._it, None)

            quantize_static(
                str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
            )  # fmt: skip
        else:
            raise ValueError(f"unknown quantisation mode {mode!r} (dynamic or static)")
        proto = onnx.load(str(q))
        meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
        meta["quantization"] = f"int8-{mode}"
        _set_metadata(proto, meta)
        with atomic_path(out) as target:
            onnx.save(proto, str(target))
    return out
