"""Model families: shapes, spec round trip, padding, causality, CTC training, ONNX export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from engine.features import FeatureSpec
from training.benchmarks.peer_model import TutorialLSTMConfig, build_peer
from training.models.base import ModelSpec, SequenceModel, build_model, families, model_from_spec
from training.models.layers import MaskedBatchNorm1d
from training.models.students import MobileNet1D, split_lookahead

FAMILIES = ["bilstm", "bilstm_student", "conformer", "featurei3d", "mobilenet1d"]
IN_DIM = FeatureSpec().dim
NUM_CLASSES = 5


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    # tiny models gain nothing from threads, and on a busy 2-core machine OpenMP threads
    # waiting on each other made single tests 20x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(family: str, **overrides: object) -> SequenceModel:
    torch.manual_seed(0)
    return build_model(family, IN_DIM, NUM_CLASSES, "tiny", dict(overrides))


def test_registry_knows_every_family() -> None:
    assert set(FAMILIES) <= set(families())
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("nope", IN_DIM, NUM_CLASSES)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes(family: str) -> None:
    model = tiny(family).eval()
    x = torch.randn(3, 21, IN_DIM)
    lengths = torch.tensor([21, 15, 4])
    out = model(x, lengths)
    assert out.logits.shape == (3, 21, NUM_CLASSES)
    assert out.hidden.shape == (3, 21, model.hidden_dim)
    assert out.lengths is lengths
    assert torch.isfinite(out.logits).all()
    unpadded = model(x)
    assert unpadded.logits.shape == (3, 21, NUM_CLASSES) and unpadded.lengths is None
    assert model.spec.family == family and model.spec.in_dim == IN_DIM


@pytest.mark.parametrize("family", FAMILIES)
def test_spec_round_trip_rebuilds_the_same_model(family: str) -> None:
    model = tiny(family).eval()
    # a spec goes through JSON in checkpoints and ONNX metadata: tuples come back as lists
    spec = ModelSpec.from_dict(json.loads(json.dumps(model.spec.to_dict())))
    rebuilt = model_from_spec(spec).eval()
    assert rebuilt.spec == model.spec
    theirs = {k: v.shape for k, v in rebuilt.state_dict().items()}
    assert theirs == {k: v.shape for k, v in model.state_dict().items()}
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 17, IN_DIM)
    torch.testing.assert_close(rebuilt(x).logits, model(x).logits, rtol=0, atol=0)


def test_presets_overrides_and_resolved_configs() -> None:
    model = build_model("mobilenet1d", IN_DIM, NUM_CLASSES, "tiny", {"lookahead": 0})
    assert model.spec.config["lookahead"] == 0 and model.lookahead == 0
    with pytest.raises(ValueError, match="unknown MobileNet1DConfig keys"):
        build_model("mobilenet1d", IN_DIM, NUM_CLASSES, "tiny", {"widht": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        build_model("conformer", IN_DIM, NUM_CLASSES, "huge")
    partial = dict(model.spec.config)
    del partial["width"]
    with pytest.raises(ValueError, match="lacks"):
        build_model("mobilenet1d", IN_DIM, NUM_CLASSES, "resolved", partial)


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_does_not_change_valid_outputs(family: str) -> None:
    model = tiny(family).eval()
    valid = 19
    x = torch.randn(1, valid, IN_DIM)
    batch = torch.randn(3, 31, IN_DIM) * 50  # garbage everywhere beyond the lengths...
    batch[0, valid + 3] = float("nan")  # ...even NaN must not leak into valid frames
    batch[0, :valid] = x[0]
    lengths = torch.tensor([valid, 31, 7])
    with torch.no_grad():
        alone = model(x)
        alone_with_length = model(x, torch.tensor([valid]))
        padded = model(batch, lengths)
    torch.testing.assert_close(padded.logits[0, :valid], alone.logits[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(padded.hidden[0, :valid], alone.hidden[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(alone_with_length.logits, alone.logits, rtol=1e-5, atol=1e-5)


def test_masked_batch_norm_statistics_skip_padding() -> None:
    torch.manual_seed(0)
    bn = MaskedBatchNorm1d(4).train()
    x = torch.randn(2, 4, 9)
    mask = torch.ones(2, 1, 9)
    mask[1, :, 5:] = 0
    x[1, :, 5:] = 1e3  # padding that would dominate plain BatchNorm's statistics
    y = bn(x, mask)
    valid = torch.cat([x[0], x[1, :, :5]], dim=1)  # (C, 14) valid frames only
    mean, var = valid.mean(dim=1), valid.var(dim=1, unbiased=False)
    expected = (valid - mean[:, None]) / torch.sqrt(var[:, None] + bn.eps)
    torch.testing.assert_close(torch.cat([y[0], y[1, :, :5]], dim=1), expected)
    torch.testing.assert_close(bn.running_mean, 0.1 * mean)


def _ctc_problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences of 1-3 glosses (classes 1, 2) between blank stretches; each frame's class is
    encoded in its features (a class vector plus noise). Returns x, lengths, targets, target
    lengths."""
    rng = np.random.default_rng(seed)
    codes = rng.normal(0, 1, size=(3, IN_DIM)).astype(np.float32)
    seqs, labels = [], []
    for _ in range(8):
        glosses = rng.integers(1, 3, size=rng.integers(1, 4)).tolist()
        frames = [0] * int(rng.integers(2, 5))
        for g in glosses:
            frames += [g] * int(rng.integers(4, 7)) + [0] * int(rng.integers(2, 5))
        seqs.append(codes[frames] + rng.normal(0, 0.5, size=(len(frames), IN_DIM)))
        labels.append(glosses)
    lengths = torch.tensor([len(s) for s in seqs])
    x = torch.zeros(len(seqs), int(lengths.max()), IN_DIM)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = torch.from_numpy(s.astype(np.float32))
    targets = torch.tensor([g for gl in labels for g in gl])
    return x, lengths, targets, torch.tensor([len(gl) for gl in labels])


@pytest.mark.parametrize("family", FAMILIES)
def test_a_few_ctc_steps_make_the_loss_fall(family: str) -> None:
    model = tiny(family).train()
    x, lengths, targets, target_lengths = _ctc_problem()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = model(x, lengths)
        log_probs = F.log_softmax(out.logits, dim=-1).transpose(0, 1)  # (T, B, C)
        loss = F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.6 * losses[0], losses


def test_split_lookahead() -> None:
    assert split_lookahead(0, [4, 4]) == [0, 0]
    assert split_lookahead(5, [4, 2, 8]) == [2, 2, 1]
    assert split_lookahead(7, [1, 1, 8]) == [1, 1, 5]
    with pytest.raises(ValueError, match="exceeds"):
        split_lookahead(9, [4, 4])


def _output_changes(model: nn.Module, x: torch.Tensor, frames: slice, at: int) -> bool:
    """Whether replacing input ``frames`` changes the output at frame ``at`` at all."""
    changed = x.clone()
    changed[:, frames] = torch.randn_like(changed[:, frames]) * 10
    with torch.no_grad():
        return not torch.equal(model(x).logits[:, at], model(changed).logits[:, at])


def _input_support(model: nn.Module, x: torch.Tensor, at: int) -> tuple[int, int]:
    """First and last input frame (relative to ``at``) the output at ``at`` depends on.

    Gradients, not perturbations: a path through every block's extreme tap multiplies several
    small residual branches, so its effect can hide below float32 noise while still existing.
    """
    x = x.double().requires_grad_(True)
    model.double()(x).logits[0, at].sum().backward()
    assert x.grad is not None
    used = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    return int(used.min()) - at, int(used.max()) - at


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("tiny", {}),
        ("tiny", {"lookahead": 0}),
        ("small", {"lookahead": 7}),
        ("small", {"lookahead": 0, "se_window": 0}),  # cumulative SE mean: unbounded past
    ],
)
def test_mobilenet_sees_exactly_lookahead_future_and_receptive_field_past(
    preset: str, overrides: dict[str, int]
) -> None:
    torch.manual_seed(0)
    model = build_model("mobilenet1d", IN_DIM, NUM_CLASSES, preset, overrides).eval()
    assert isinstance(model, MobileNet1D)
    la, rf = model.lookahead, model.receptive_field
    assert la is not None and la == model.spec.config["lookahead"]
    x = torch.randn(1, 80 + la, IN_DIM)
    t = 70 if rf is None else min(rf + 5, 79)
    assert not _output_changes(model, x, slice(t + la + 1, None), t)  # causal beyond lookahead
    if rf is not None:
        assert not _output_changes(model, x, slice(0, t - rf), t)
    assert _input_support(model, x, t) == (-t if rf is None else -rf, la)


def test_mobilenet_window_of_receptive_field_gives_the_streams_outputs() -> None:
    """What streaming relies on: a window of ``rf + hop + lookahead`` frames yields, for its
    frames ``rf .. rf + hop - 1``, exactly the outputs of running the whole stream."""
    torch.manual_seed(0)
    model = build_model("mobilenet1d", IN_DIM, NUM_CLASSES, "small").eval()
    assert isinstance(model, MobileNet1D) and model.receptive_field is not None
    rf, la, hop = model.receptive_field, model.lookahead, 10
    stream = torch.randn(1, 150, IN_DIM)
    with torch.no_grad():
        whole = model(stream).logits
        for start in (0, 37, 150 - (rf + hop + la)):
            window = model(stream[:, start : start + rf + hop + la]).logits
            torch.testing.assert_close(
                window[:, rf : rf + hop], whole[:, start + rf : start + rf + hop]
            )


def test_bidirectional_models_declare_unbounded_lookahead() -> None:
    for family in ("bilstm", "bilstm_student", "conformer", "featurei3d"):
        assert tiny(family).lookahead is None


@pytest.mark.parametrize(
    "family, preset, low, high",
    [
        ("featurei3d", "small", 200_000, 1_000_000),
        ("featurei3d", "full", 15_000_000, 25_000_000),
        ("bilstm", "full", 14_000_000, 18_000_000),
        ("conformer", "full", 10_000_000, 30_000_000),
        ("mobilenet1d", "small", 100_000, 300_000),
        ("mobilenet1d", "full", 300_000, 3_000_000),
        ("bilstm_student", "full", 4_000_000, 7_000_000),
    ],
)
def test_parameter_counts(family: str, preset: str, low: int, high: int) -> None:
    with torch.device("meta"):  # shapes only: no memory for the full-size weights
        model = build_model(family, IN_DIM, 101, preset)
    assert low <= model.num_parameters() <= high


class _LogProbs(nn.Module):
    """What the app runs: features ``(B, T, F)`` -> log-probabilities ``(B, T, C)``."""

    def __init__(self, model: SequenceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.model(x).logits, dim=-1)


# "bilstm" is the same class as "bilstm_student" (other sizes): one LSTM export covers both
# and saves ~10 s; the others are distinct architectures
EXPORTED = ["bilstm_student", "conformer", "featurei3d", "mobilenet1d"]


def test_exported_families_cover_every_architecture() -> None:
    assert {type(tiny(f)) for f in FAMILIES} == {type(tiny(f)) for f in EXPORTED}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch's exporter internals
@pytest.mark.filterwarnings("ignore:The tensor attributes:UserWarning")  # LSTM _flat_weights
@pytest.mark.parametrize("family", EXPORTED)
def test_onnx_export_with_dynamic_time_matches_torch(family: str, tmp_path: Path) -> None:
    wrapper = _LogProbs(tiny(family).eval()).eval()
    path = tmp_path / f"{family}.onnx"
    # torch 2.13 patches aten.lstm with a while_loop decomposition for dynamic shapes without
    # clearing the op's dispatch cache: after an earlier LSTM run in this process the export
    # would bake T. Clearing the cache first lets every export see the patch.
    torch.ops.aten.lstm.input._dispatch_cache.clear()
    dim = torch.export.Dim
    torch.onnx.export(
        wrapper,
        (torch.randn(2, 24, IN_DIM),),  # batch >= 2: batch 1 bakes a Reshape
        str(path),
        dynamo=True,
        input_names=["x"],
        output_names=["log_probs"],
        dynamic_shapes={"x": {0: dim("batch"), 1: dim("time")}},
        verbose=False,
    )
    time_dim = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[1]
    assert time_dim.dim_param, "the time axis was baked into the graph"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # LSTM graphs declare a static output T (see report)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for batch, frames in ((1, 13), (2, 50)):
        x = torch.randn(batch, frames, IN_DIM)
        with torch.no_grad():
            expected = wrapper(x).numpy()
        (got,) = session.run(None, {"x": x.numpy()})
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_peer_tutorial_lstm_classifies_clips_and_learns() -> None:
    torch.manual_seed(0)
    model = build_peer(IN_DIM, 4)
    assert model.cfg == TutorialLSTMConfig()
    assert [lstm.hidden_size for lstm in model.lstms] == [64, 128, 64]
    assert model(torch.randn(2, 30, IN_DIM)).shape == (2, 4)
    rebuilt = build_peer(**json.loads(json.dumps(model.config)))
    assert rebuilt.cfg == model.cfg
    rebuilt.load_state_dict(model.state_dict())
    labels = torch.arange(8) % 4
    x = torch.randn(8, 30, IN_DIM) * 0.5 + torch.randn(4, 1, IN_DIM)[labels]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * losses[0], losses
