"""Rejection of unknown signs: the engine's rejector (hand-built numbers), the streaming
decoder with it, and the whole path on small generated data: fit and calibrate on a trained
checkpoint, export, the same decisions in PyTorch and ONNX Runtime."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from engine.decoder import GlossDecoder
from engine.errors import DecoderError, ModelLoadError
from engine.model import EMBEDDING_NAME, OnnxModel, read_model_info
from engine.rejection import RejectionStage, Rejector, gloss_frames
from engine.stitching import PosteriorStitcher, window_starts
from engine.streaming import StreamingConfig, StreamingDecoder
from engine.vocabulary import Vocabulary
from tests.conftest import _sign, tiny_config
from training.data.sentences import features_of
from training.evaluate import load_for_eval
from training.export import export_onnx
from training.generalise import decide_clips, false_accepts
from training.rejection import SHRINKAGE, RejectionFit, calibrate_threshold, whiten_classes

VOCAB = Vocabulary(("tea", "coffee"))
NEAR, FAR = np.zeros(2, np.float32), np.array([10.0, 0.0], np.float32)
REJECTOR = Rejector(np.array([[0.0, 0.0], [0.0, 1.0]], np.float32), threshold=4.0)


def _frames(classes: list[int], peak: float = 0.95) -> np.ndarray:
    """``(T, 3)`` log-probs whose best class per frame is ``classes``."""
    lp = np.full((len(classes), 3), (1 - peak) / 2, np.float32)
    lp[np.arange(len(classes)), classes] = peak
    return np.log(lp)


def test_gloss_frames_are_the_winning_frames_of_the_span() -> None:
    lp = _frames([0, 1, 1, 0, 2, 0])
    assert gloss_frames(lp, 1, (0, 4)).tolist() == [1, 2]
    assert gloss_frames(lp, 1, (3, 6)).tolist() == [3, 4, 5]  # never wins there: the span
    assert gloss_frames(lp, 2, (5, 9)).tolist() == [5]  # clipped to the frames there are


def test_rejector_distance_json_and_known() -> None:
    assert REJECTOR.distance(np.stack([NEAR, NEAR])) == 0.0
    assert REJECTOR.distance(np.array([[0.0, 3.0], [0.0, 1.0]])) == pytest.approx(1.0)  # mean
    assert REJECTOR.accepts(NEAR[None]) and not REJECTOR.accepts(FAR[None])
    again = Rejector.from_json(REJECTOR.to_json())
    np.testing.assert_array_equal(again.means, REJECTOR.means)
    assert again.threshold == REJECTOR.threshold and again.dim == 2
    for bad in ("{", '{"means": [], "threshold": 1}', '{"means": [[1]], "threshold": "x"}'):
        with pytest.raises(ValueError):
            Rejector.from_json(bad)
    lp = _frames([0, 1, 1, 0, 2, 2, 0])
    emb = np.stack([NEAR, NEAR, NEAR, FAR, FAR, FAR, NEAR])
    result = GlossDecoder(VOCAB).decode(lp)
    assert result.glosses == ("tea", "coffee")
    assert REJECTOR.known(result, lp, emb, VOCAB) == (True, False)


def _replay(
    lp: np.ndarray, emb: np.ndarray, window: int, hop: int, lookahead: int | None
) -> tuple[list, StreamingDecoder, RejectionStage]:
    """The stream ``lp``/``emb`` through model windows as the Recognizer runs them (an
    identity model): the rejection stage beside the stitcher and the streaming decoder."""
    config = StreamingConfig(fps=10, pause_s=0.3, max_segment_s=5.0)
    stage = RejectionStage(REJECTOR, VOCAB, window, hop, lookahead)
    stitcher = PosteriorStitcher(window, hop, lookahead)
    sd = StreamingDecoder(GlossDecoder(VOCAB), config, gloss_filter=stage.known)
    events: list = []
    starts = window_starts(len(lp), window, hop)
    for i, s in enumerate(starts):
        final = i == len(starts) - 1
        stage.push(emb[s : s + window], s, len(lp[s : s + window]), final)
        w = lp[s : s + window]
        first, frames = stitcher.flush(w, s) if final else stitcher.push(w, s)
        events += sd.push(first, frames)
        if final:
            events += sd.flush()
        stage.forget_before(sd.segment_start)
    return events, sd, stage


def test_rejection_stage_drops_unknown_glosses_beside_the_decoder() -> None:
    classes = [0, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    emb = np.stack([FAR if 7 <= i <= 8 else NEAR for i in range(len(classes))])
    lp = _frames(classes)
    config = StreamingConfig(fps=10, pause_s=0.3, max_segment_s=5.0)
    plain = StreamingDecoder(GlossDecoder(VOCAB), config)
    committed = [
        g for e in plain.push(0, lp) + plain.flush() if e.kind == "commit" for g in e.glosses
    ]
    assert committed == ["tea", "coffee", "tea"]
    for window, hop, lookahead in ((18, 18, None), (6, 1, 2), (8, 3, None), (5, 5, 0)):
        events, sd, stage = _replay(lp, emb, window, hop, lookahead)
        glosses = [g for e in events if e.kind == "commit" for g in e.glosses]
        assert glosses == ["tea", "tea"]  # "coffee" was signed far from every known sign
        assert all("coffee" not in e.glosses for e in events)  # not even as a partial
        assert sd.context == ("tea", "tea")
        start, end = stage.frames
        assert end - start <= len(lp)  # committed frames were forgotten
    stage = RejectionStage(REJECTOR, VOCAB, 6, 2, 1)
    with pytest.raises(DecoderError, match="embeddings too"):
        stage.push(None, 0, 6)
    with pytest.raises(DecoderError, match="shape"):
        stage.push(emb[:6, :1], 0, 6)
    with pytest.raises(DecoderError, match="NaN"):
        stage.push(np.full_like(emb[:6], np.nan), 0, 6)
    with pytest.raises(DecoderError, match="no embeddings of frames"):
        stage.embeddings(0, 3)  # nothing pushed


def test_rejection_stage_keeps_each_frames_embedding_from_its_log_probs_window() -> None:
    """A model whose outputs depend on where the window starts: each frame's kept embedding
    carries the same window's offset as the log-probs the stitcher gave the decoder."""
    rng = np.random.default_rng(0)
    lp, emb = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    window, hop, lookahead = 16, 4, 2
    stage = RejectionStage(REJECTOR, VOCAB, window, hop, lookahead)
    stitcher = PosteriorStitcher(window, hop, lookahead)
    got = []
    starts = window_starts(len(lp), window, hop)
    for i, s in enumerate(starts):
        final = i == len(starts) - 1
        stage.push(emb[s : s + window] + s, s, len(lp[s : s + window]), final)
        w = lp[s : s + window] + s
        got.append(stitcher.flush(w, s) if final else stitcher.push(w, s))
    stitched = np.concatenate([c.log_probs for c in got])
    assert stage.frames == (0, 40)
    kept = stage.embeddings(0, 40)
    np.testing.assert_allclose(stitched[:, 0] - lp[:, 0], kept[:, 0] - emb[:, 0], atol=1e-5)
    stage.forget_before(30)
    assert stage.frames == (30, 40)
    np.testing.assert_array_equal(stage.embeddings(30, 10), kept[30:])


def test_calibrate_threshold() -> None:
    d = [1.0, 2.0, 3.0, 4.0]  # 4 of 10 clips give a gloss
    assert calibrate_threshold(d, 10, 0.2) == 2.5  # 2 may pass: between the 2nd and 3rd
    assert calibrate_threshold(d, 10, 0.0) == 0.5  # none may pass
    assert calibrate_threshold(d, 10, 0.5) == 8.0  # all may pass
    assert calibrate_threshold([], 10, 0.05) > 1e30


def test_whitening_gives_the_mahalanobis_distance() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + np.diag([4.0, 1.0, 0.1, 0.01])  # very different spread per direction
    classes = np.repeat([0, 1, 2], 4000)
    centres = rng.normal(0, 3, size=(3, 4))
    samples = centres[classes] + rng.multivariate_normal(np.zeros(4), cov, len(classes))
    w, means = whiten_classes(samples.astype(np.float32), classes)
    shrunk = (1 - SHRINKAGE) * cov + SHRINKAGE * np.trace(cov) / 4 * np.eye(4)
    x = rng.normal(size=4)
    d = x - centres[1]
    want = d @ np.linalg.inv(shrunk) @ d
    assert ((x @ w - means[1]) ** 2).sum() == pytest.approx(want, rel=0.05)
    # the same step is far along a direction the signs never vary in, near along a wide one
    wide, narrow = np.linalg.eigh(cov)[1][:, -1], np.linalg.eigh(cov)[1][:, 0]
    step = lambda v: float(((v @ w) ** 2).sum())  # noqa: E731
    assert step(narrow) > 3 * step(wide)  # (shrinkage bounds the ratio)


def _unknown_sign(seed: int):  # type: ignore[no-untyped-def]
    """A movement none of the tiny glosses makes: hands circling fast."""
    seq = _sign("-", seed, "other")
    p = seq.points.copy()
    t = np.linspace(0, 1, seq.num_frames, dtype=np.float32)[:, None]
    p[:, 54:75, 0] += 0.15 * np.cos(2 * np.pi * 9 * t)
    p[:, 54:75, 1] -= 0.15 * np.sin(2 * np.pi * 9 * t)
    return seq.replace(points=p, glosses=("whirl",))


@pytest.fixture(scope="module")
def fitted(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny checkpoint with a rejection (a tiny model learns too little to fit one: its
    whitening and means are drawn, the threshold puts the clips on both sides) and its ONNX."""
    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.trainer import train

    run = train(tiny_config(tiny_data, "reject"), progress=False)
    ck = load_checkpoint(run.run_dir / "best.pt")
    h = ck.model().hidden_dim
    rng = np.random.default_rng(1)
    w = (rng.normal(size=(h, h)) / np.sqrt(h)).astype(np.float32)
    fit = RejectionFit(w, rng.normal(size=(3, h)).astype(np.float32), 0.0, {})
    out = tmp_path_factory.mktemp("reject")
    ck = dataclasses.replace(ck, extra={**ck.extra, "rejection": fit.to_dict()})
    save_checkpoint(out / "model.pt", ck)
    loaded = load_for_eval(out / "model.pt")
    assert loaded.rejector is not None
    clips = [_unknown_sign(s) for s in range(20)] + [_sign(g, 7, "s3") for g in ("tea", "water")]
    examples = [features_of(c.replace(glosses=()), ck.config.feature_spec, ck.vocab) for c in clips]
    greedy, distances = GlossDecoder(ck.vocab), []
    for lp, emb in loaded.outputs(examples):
        r = greedy.decode(lp)
        assert emb is not None
        for g, span in zip(r.glosses, r.spans, strict=True):
            distances.append(
                loaded.rejector.distance(emb[gloss_frames(lp, ck.vocab.encode([g])[0], span)])
            )
    assert len(distances) >= 4, "the tiny model decodes too few glosses to test on"
    fit = dataclasses.replace(fit, threshold=float(np.median(distances)))
    ck = dataclasses.replace(ck, extra={**ck.extra, "rejection": fit.to_dict()})
    save_checkpoint(out / "model.pt", ck)
    export_onnx(ck, out / "model.onnx", window=32, hop=8)
    return out / "model.pt", out / "model.onnx"


def test_fitted_rejection_travels_into_onnx_and_decides_alike(fitted: tuple[Path, Path]) -> None:
    pt, onnx_path = fitted
    from training.checkpoint import load_checkpoint

    ck = load_checkpoint(pt)
    fit = RejectionFit.from_dict(ck.extra["rejection"])
    info = read_model_info(onnx_path)
    assert info.rejector is not None and info.rejector.threshold == pytest.approx(fit.threshold)
    np.testing.assert_allclose(info.rejector.means, fit.means, atol=1e-4)
    model = OnnxModel(onnx_path, device="cpu")
    x = np.random.default_rng(0).normal(size=(40, ck.spec.in_dim)).astype(np.float32)
    lp, emb = model.infer(x)
    with torch.no_grad():
        out = ck.model().eval()(torch.from_numpy(x)[None])
    assert emb is not None and emb.shape == (40, fit.whitening.shape[0])
    np.testing.assert_allclose(emb, out.hidden[0].numpy() @ fit.whitening, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(lp, model(x), atol=1e-6)
    # the same clips decided by the checkpoint (PyTorch) and the ONNX model (engine): the same
    clips = [_unknown_sign(s) for s in range(20)] + [_sign(g, 7, "s3") for g in ("tea", "water")]
    by_pt, by_onnx = decide_clips(load_for_eval(pt), clips), decide_clips(onnx_path, clips)
    assert [(d.gloss, d.known) for d in by_pt] == [(d.gloss, d.known) for d in by_onnx]
    assert {d.known for d in by_pt if d.gloss} == {True, False}  # the threshold decides
    assert false_accepts(by_pt, reject=True) <= false_accepts(by_pt, reject=False)


def test_a_model_whose_metadata_rejects_needs_the_embedding_output(
    fitted: tuple[Path, Path], tmp_path: Path
) -> None:
    proto = onnx.load(str(fitted[1]))
    assert [o.name for o in proto.graph.output] == ["log_probs", EMBEDDING_NAME]
    del proto.graph.output[1]
    bad = tmp_path / "no-embedding.onnx"
    onnx.save(proto, str(bad))
    with pytest.raises(ModelLoadError, match="rejects unknown signs"):
        OnnxModel(bad, device="cpu")
    proto = onnx.load(str(fitted[1]))
    for p in proto.metadata_props:
        if p.key == "rejection":
            p.value = '{"means": "nonsense"}'
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, str(broken))
    with pytest.raises(ModelLoadError, match="unreadable model metadata"):
        read_model_info(broken)


def _with_threshold(path: Path, threshold: float, out: Path) -> Path:
    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == "rejection":
            rejector = Rejector.from_json(p.value)
            p.value = dataclasses.replace(rejector, threshold=threshold).to_json()
    onnx.save(proto, str(out))
    return out


def test_engine_drops_what_the_rejector_rejects(
    fitted: tuple[Path, Path], tiny_data: Path, tmp_path: Path
) -> None:
    """Through the whole engine (windows, stitched embeddings, streaming): a rejector that
    accepts everything commits what the same model without one commits; one that accepts
    nothing commits nothing."""
    from engine.events import ErrorEvent, GlossEvent
    from engine.pipeline import PipelineConfig, run_source
    from engine.sources import replay_sequences
    from training.checkpoint import load_checkpoint

    ck = load_checkpoint(fitted[0])
    plain = tmp_path / "plain.onnx"
    export_onnx(dataclasses.replace(ck, extra={}), plain, window=32, hop=8)
    clips = [_sign(g, s, "s3") for s in range(3) for g in ("tea", "coffee", "hello")]

    def commits(model: Path) -> list[str]:
        events = list(run_source(PipelineConfig(model=str(model)), replay_sequences(clips), True))
        assert not [e for e in events if isinstance(e, ErrorEvent)]
        return [g for e in events if isinstance(e, GlossEvent) and e.is_commit for g in e.glosses]

    everything = commits(_with_threshold(fitted[1], 1e30, tmp_path / "all.onnx"))
    assert everything, "the tiny model commits something"
    assert everything == commits(plain)
    assert commits(_with_threshold(fitted[1], -1.0, tmp_path / "none.onnx")) == []
