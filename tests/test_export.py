"""Export: ONNX parity and metadata, INT8, loading in the engine, refusing bad models; evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.errors import ModelLoadError
from engine.model import OnnxModel, read_model_info
from tests.conftest import tiny_config
from training.batches import predict
from training.checkpoint import Checkpoint, load_checkpoint
from training.evaluate import evaluate
from training.export import export_onnx, quantize_int8
from training.lm import LMConfig, build_lm
from training.trainer import train


@pytest.fixture(scope="module")
def checkpoint(tiny_data: Path) -> Path:
    return train(tiny_config(tiny_data, "export"), progress=False).run_dir / "best.pt"


@pytest.fixture(scope="module")
def exported(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    result = export_onnx(load_checkpoint(checkpoint), out, window=32, hop=8, heldout={"wer": 0.5})
    assert result.parity_max_abs < 1e-4
    return out


def test_export_metadata_and_engine_loading(checkpoint: Path, exported: Path) -> None:
    ck = load_checkpoint(checkpoint)
    info = read_model_info(exported)
    assert info.vocabulary == ck.vocab
    assert info.feature_spec == ck.config.feature_spec
    assert (info.window, info.hop, info.family) == (32, 8, "mobilenet1d")
    assert info.lookahead == ck.model().lookahead
    assert info.heldout == {"wer": 0.5}
    model = OnnxModel(exported, device="cpu")
    assert model.provider == "CPUExecutionProvider"
    x = np.random.default_rng(0).normal(size=(50, ck.spec.in_dim)).astype(np.float32)
    out = model(x)
    assert out.shape == (50, ck.vocab.num_classes)
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0, atol=1e-4)  # log-probabilities
    with torch.no_grad():
        ref = torch.log_softmax(ck.model().eval()(torch.from_numpy(x)[None]).logits, -1)[0]
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4)
    assert model.warmup() >= 0
    with pytest.raises(ValueError, match="features must be"):
        model(np.zeros((10, 3), np.float32))


def test_device_choice_without_a_gpu(exported: Path) -> None:
    from engine.model import _gpu_present

    if _gpu_present():
        pytest.skip("a GPU is present: this checks the CPU-only fallback")
    # auto: the CPU, and says so; cuda asked for explicitly: refused with the reason
    assert OnnxModel(exported, device="auto").provider == "CPUExecutionProvider"
    with pytest.raises(ModelLoadError, match="CUDA was asked for"):
        OnnxModel(exported, device="cuda")


def test_int8_keeps_metadata_and_stays_close(exported: Path, tmp_path: Path) -> None:
    q = quantize_int8(exported, tmp_path / "tiny.int8.onnx", "dynamic")
    info = read_model_info(q)
    assert info.extra.get("quantization") == "int8-dynamic"
    x = np.random.default_rng(1).normal(size=(40, info.feature_spec.dim)).astype(np.float32)
    a, b = OnnxModel(exported)(x), OnnxModel(q)(x)
    assert np.abs(np.exp(a) - np.exp(b)).max() < 0.2  # posteriors close after quantisation


def test_bad_model_files_are_refused_with_reasons(exported: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(exported.read_bytes()[:500])
    with pytest.raises(ModelLoadError, match=r"corrupt\.onnx"):
        OnnxModel(corrupt)
    with pytest.raises(ModelLoadError, match="no such model"):
        OnnxModel(tmp_path / "missing.onnx")
    proto = onnx.load(str(exported))
    keep = [p for p in proto.metadata_props if p.key != "glosses"]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    no_meta = tmp_path / "nometa.onnx"
    onnx.save(proto, str(no_meta))
    with pytest.raises(ModelLoadError, match="glosses"):
        OnnxModel(no_meta)
    # metadata promising more glosses than the model outputs: a shape mismatch, caught on load
    proto = onnx.load(str(exported))
    for p in proto.metadata_props:
        if p.key == "glosses":
            p.value = json.dumps([*json.loads(p.value), "extra"])
    wrong = tmp_path / "wrong.onnx"
    onnx.save(proto, str(wrong))
    with pytest.raises(ModelLoadError, match="classes"):
        OnnxModel(wrong)


def test_evaluate_checkpoint_and_onnx_agree(
    checkpoint: Path, exported: Path, tmp_path: Path
) -> None:
    ck: Checkpoint = load_checkpoint(checkpoint)
    lm = tmp_path / "lm.arpa"
    sentences = [["hello"], ["tea", "coffee"], ["coffee", "hello", "tea"], ["hello", "tea"]] * 5
    build_lm(sentences, lm, LMConfig(order=2, backend="own", binary=False))
    a = evaluate(checkpoint, lm, alphas=(0.0, 0.5), out_json=tmp_path / "a.json")
    b = evaluate(exported, lm, alphas=(0.0, 0.5), data=ck.config.data)
    assert a.greedy["wer"] == pytest.approx(b.greedy["wer"])
    assert set(a.beam) == {"0.0", "0.5"} and a.isolated_samples > 0
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["greedy"]["wer"] == a.greedy["wer"] and "best_beam_wer" in saved
    assert "held-out signers s3" in a.table()


def test_predict_handles_padding(checkpoint: Path, tiny_data: Path) -> None:
    from training.data.sentences import SentenceData

    ck = load_checkpoint(checkpoint)
    data = SentenceData(ck.config.data, ck.config.feature_spec)
    dev = data.fixed("dev")
    together = predict(ck.model(), dev, torch.device("cpu"), batch_size=8)
    alone = [predict(ck.model(), [e], torch.device("cpu"))[0] for e in dev]
    for x, y in zip(together, alone, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-4)
