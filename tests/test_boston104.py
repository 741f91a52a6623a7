"""BOSTON-104: importer (generated files and the real ones), track features, a short training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.errors import FeatureSpecMismatch, ImportProblem
from engine.features import FeatureSpec, compute_features
from engine.landmarks import LEFT_HAND, RIGHT_HAND, LandmarkSequence
from training.importers.boston104 import FRAME_HEIGHT, FRAME_WIDTH, import_boston104

# gloss -> how the right hand moves (learnable): a sentence is two or three of them
MOTIONS = {"JOHN": (1.0, 0.0), "MARY": (0.0, 1.0), "LOVE": (-1.0, -1.0)}
SENTENCES = [
    ("JOHN", "LOVE", "MARY"), ("MARY", "LOVE", "JOHN"), ("JOHN", "MARY"), ("MARY", "JOHN"),
    ("LOVE", "JOHN"), ("LOVE", "MARY"), ("JOHN", "LOVE"), ("MARY", "LOVE"),
]  # fmt: skip
SIGNERS = ("woman-1", "man-1")


def write_boston(root: Path, videos: int = 16, test_every: int = 4, seed: int = 0) -> Path:
    """A small set in the real files' format: video v signs SENTENCES[v % 8]."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    tracks = ["video,frame,left-x,left-y,right-x,right-y,nose-x,nose-y"]
    words = {"train": ["video,speaker,word,startframe,endframe"], "test": []}
    words["test"] = list(words["train"])
    lines, speakers = [], ["video,speaker"]
    for v in range(1, videos + 1):
        sent, who = SENTENCES[v % len(SENTENCES)], SIGNERS[v % 2]
        nose = np.array([160.0, 60.0]) + rng.normal(0, 2, 2)
        frames: list[tuple[float, float, float, float]] = [(130, 180, 190, 180)] * 5
        spans = []
        for g in sent:
            start = len(frames)
            n = int(rng.integers(10, 16))
            dx, dy = MOTIONS[g]
            for i in range(n):
                k = np.sin(np.pi * i / (n - 1))
                frames.append((130, 180, 190 + 40 * dx * k, 180 - 60 * k + 20 * dy * k))
            spans.append((start, len(frames) - 1))
        frames += [(130, 180, 190, 180)] * 5
        for f, (lx, ly, rx, ry) in enumerate(frames):
            jitter = rng.normal(0, 1, 4)
            tracks.append(
                f"{v},{f},{lx + jitter[0]:.0f},{ly + jitter[1]:.0f},{rx + jitter[2]:.0f},"
                f"{ry + jitter[3]:.0f},{nose[0]:.0f},{nose[1]:.0f}"
            )
        split = "test" if v % test_every == 0 else "train"
        words[split] += [f"{v},{who},{g},{a},{b}" for g, (a, b) in zip(sent, spans, strict=True)]
        lines.append(" ".join(sent))
        speakers.append(f"{v},{who}")
    (root / "hands_condensed.csv").write_text("\n".join(tracks) + "\n")
    (root / "train_words.csv").write_text("\n".join(words["train"]) + "\n")
    (root / "test_words.csv").write_text("\n".join(words["test"]) + "\n")
    (root / "sentences.gloss.txt").write_text("\n".join(lines) + "\n")
    (root / "speaker.csv").write_text("\n".join(speakers) + "\n")
    return root


def test_import_generated(tmp_path: Path) -> None:
    root = write_boston(tmp_path / "b")
    items = list(import_boston104(root))
    seqs = [i for i in items if isinstance(i, LandmarkSequence)]
    assert len(seqs) == len(items) == 16
    assert {s.extra["split"] for s in seqs} == {"train", "test"}
    assert len(list(import_boston104(root, split="test"))) == 4
    s = seqs[0]
    assert s.glosses == SENTENCES[1] and s.signer == SIGNERS[1] and s.source == "boston104/1"
    assert s.spans is not None and len(s.spans) == len(s.glosses)
    assert s.aspect == pytest.approx(FRAME_WIDTH / FRAME_HEIGHT)
    first = (root / "hands_condensed.csv").read_text().splitlines()[1].split(",")
    rx, ry = float(first[4]) / FRAME_WIDTH, float(first[5]) / FRAME_HEIGHT
    np.testing.assert_allclose(s.points[0, RIGHT_HAND.slice, :2].mean(0), (rx, ry), atol=1e-6)
    assert s.present[:, :3].all() and not s.present[:, 3].any()


def test_import_reports_problems(tmp_path: Path) -> None:
    root = write_boston(tmp_path / "b")
    lines = (root / "sentences.gloss.txt").read_text().splitlines()
    lines[2] = "SOMETHING ELSE"
    (root / "sentences.gloss.txt").write_text("\n".join(lines) + "\n")
    items = list(import_boston104(root))
    problems = [i for i in items if isinstance(i, ImportProblem)]
    assert len(problems) == 1 and "video 3" in str(problems[0])
    missing = list(import_boston104(tmp_path / "nowhere"))
    assert len(missing) == 1 and isinstance(missing[0], ImportProblem)


def test_track_spec_round_trip_and_v1_unchanged() -> None:
    tracks = FeatureSpec(inputs="tracks")
    assert FeatureSpec.from_json(tracks.to_json()) == tracks
    assert tracks != FeatureSpec() and tracks.dim == len(tracks.names) == 12
    # a landmark spec writes exactly the JSON it wrote before the field existed
    v1 = FeatureSpec()
    assert "inputs" not in v1.to_dict() and "inputs" not in json.loads(v1.to_json())
    assert FeatureSpec.from_json(v1.to_json()) == v1
    with pytest.raises(FeatureSpecMismatch):
        FeatureSpec(inputs="pixels")
    with pytest.raises(FeatureSpecMismatch):
        FeatureSpec(inputs="tracks", face=True)


def test_track_features_invariant_to_camera_distance_and_position(tmp_path: Path) -> None:
    seq = next(i for i in import_boston104(write_boston(tmp_path / "b")))
    assert isinstance(seq, LandmarkSequence)
    spec = FeatureSpec(inputs="tracks")
    a = compute_features(seq, spec).values
    assert a.shape == (seq.num_frames, spec.dim) and np.isfinite(a).all()
    p = seq.points.copy()
    m = seq.point_mask()
    for c, shift in ((0, 0.07), (1, -0.04)):
        p[..., c] = np.where(m, (p[..., c] - 0.5) * 0.7 + 0.5 + shift, 0)
    b = compute_features(seq.replace(points=p), spec).values
    np.testing.assert_allclose(a, b, atol=1e-4)
    moved = seq.points.copy()
    moved[10:20, LEFT_HAND.slice, 0] += 0.1
    moved_f = compute_features(seq.replace(points=moved), spec).values
    assert np.abs(moved_f - a).max() > 0.1


def test_few_training_steps_loss_falls(tmp_path: Path) -> None:
    from training.benchmarks.boston import BostonConfig, train_boston
    from training.checkpoint import load_checkpoint

    root = write_boston(tmp_path / "b", videos=24)
    config = BostonConfig(
        data_root=str(root), out=str(tmp_path / "run"), preset="tiny", epochs=6, copies=2,
        batch_size=8, lr=5e-3, dev_fraction=0.15, lm_order=2, alphas=(0.5,), betas=(1.0,),
        num_threads=1,
    )  # fmt: skip
    results = train_boston(config, progress=False)
    losses = [h["loss"] for h in results["history"]]
    assert losses[-1] < losses[0]
    assert results["data"]["test_sentences"] == 6
    assert results["greedy"]["test"]["wer"] >= 0.0 and "beam_lm" in results
    assert json.loads((tmp_path / "run" / "results.json").read_text())["epochs"] == 6
    ck = load_checkpoint(tmp_path / "run" / "best.pt")  # exportable like any run
    assert ck.config.feature_spec == config.feature_spec

    # resuming a finished run trains nothing more and gives the same model
    again = train_boston(config, resume=True, progress=False)
    assert again["history"] == results["history"]


@pytest.mark.data
def test_real_files(shared_data: Path) -> None:
    seqs = [i for i in import_boston104(shared_data / "boston104")]
    assert all(isinstance(s, LandmarkSequence) for s in seqs)
    train = [s for s in seqs if isinstance(s, LandmarkSequence) and s.extra["split"] == "train"]
    test = [s for s in seqs if isinstance(s, LandmarkSequence) and s.extra["split"] == "test"]
    assert (len(train), len(test)) == (161, 40)
    assert {s.signer for s in test} == {"woman-1", "woman-2", "man-1"}
    spec = FeatureSpec(inputs="tracks")
    f = compute_features(test[0], spec).values
    assert np.isfinite(f).all() and f.shape[1] == spec.dim
