"""Shared fixtures: where the real data is, and small generated landmark sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data_root import data_root
from engine.dataset import Dataset
from engine.landmarks import GROUPS, NUM_POINTS, LandmarkSequence

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder; tests that use it skip (with the reason) where it is absent."""
    root = data_root()
    if not (root / "README.md").is_file():
        pytest.skip(f"real data not found at {root} (set SIGNSTREAM_DATA)")
    return root


def frames_in(video: Path) -> int:
    """Frames OpenCV decodes from ``video`` (containers' counts are often a few off: the
    container says 64 for FOOTBALL.mp4, 62 decode)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def make_sequence(
    num_frames: int = 24,
    fps: float = 30.0,
    seed: int = 0,
    glosses: tuple[str, ...] = ("hello",),
    signer: str = "tester",
    drop_left: float = 0.0,
) -> LandmarkSequence:
    """A plausible synthetic signer: a body at the image centre, hands moving smoothly.

    ``drop_left`` is the fraction of frames without the left hand.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames) / fps
    p = np.zeros((num_frames, NUM_POINTS, 4), np.float32)
    base = rng.uniform(0.3, 0.7, size=(NUM_POINTS, 2)).astype(np.float32)
    base[11] = (0.62, 0.55)  # left shoulder (image side)
    base[12] = (0.38, 0.55)  # right shoulder
    p[:, :, :2] = base
    wobble = 0.05 * np.sin(2 * np.pi * 1.5 * t)[:, None]
    p[:, 33:, 0] += wobble
    p[:, 33:, 1] += 0.5 * wobble
    p[:, :, 2] = rng.normal(0, 0.05, size=NUM_POINTS) + 0.5 * wobble  # smooth in time
    p[:, :, 3] = 1.0
    present = np.ones((num_frames, len(GROUPS)), bool)
    present[:, 3] = False  # no face
    if drop_left > 0:
        gone = rng.random(num_frames) < drop_left
        present[gone, 1] = False
        p[gone, 33:54] = 0.0
    return LandmarkSequence(
        points=p,
        present=present,
        timestamps=t.astype(np.float64),
        fps=fps,
        glosses=glosses,
        signer=signer,
        source=f"synthetic:{seed}",
    )


# ---------------------------------------------------------------------- tiny training data
GLOSSES = ("hello", "tea", "coffee")
GRAMMAR = "<S> = hello | tea | coffee | hello tea | tea coffee | coffee hello tea\n"


def _sign(gloss: str, seed: int, signer: str):  # type: ignore[no-untyped-def]
    """A sample whose right hand moves differently per gloss (learnable)."""
    seq = make_sequence(num_frames=16, seed=seed, glosses=(gloss,), signer=signer)
    p = seq.points.copy()
    k = GLOSSES.index(gloss) + 1 if gloss in GLOSSES else 0
    t = np.linspace(0, 1, seq.num_frames, dtype=np.float32)[:, None]
    p[:, 54:75, 0] += 0.1 * np.sin(2 * np.pi * k * t)
    p[:, 54:75, 1] += 0.1 * k * t
    return seq.replace(points=p, source=f"{signer}:{gloss}:{seed}")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    ds = Dataset.create(root / "ds")
    seqs = [
        _sign(g, seed, signer)
        for signer in ("s1", "s2", "s3")
        for g in (*GLOSSES, "-")
        for seed in range(5)
    ]
    ds.append(seqs)
    (root / "tiny.grammar").write_text(GRAMMAR)
    return root


def tiny_config(root: Path, name: str, family: str = "mobilenet1d", *extra: str):  # type: ignore[no-untyped-def]
    """A training run config on the tiny dataset: seconds per run on one core."""
    from training.config import load_config

    return load_config(
        None,
        [
            f'name="{name}"',
            f'out_dir="{root / "runs"}"',
            f'data.dataset="{root / "ds"}"',
            f'data.grammar="{root / "tiny.grammar"}"',
            'data.test_signers=["s3"]',
            "data.exclude_glosses=[]",
            "data.train_sentences=24",
            "data.dev_sentences=6",
            "data.test_sentences=6",
            "data.dev_fraction=0.2",
            f'model.family="{family}"',
            'model.preset="tiny"',
            "optim.epochs=3",
            "optim.batch_size=8",
            "optim.lr=3e-3",
            "optim.patience=100",
            "optim.num_threads=1",
            *extra,
        ],
    )


@pytest.fixture(scope="session")
def tiny_onnx(tiny_data: Path) -> Path:
    """A tiny trained and exported model (window 32, hop 8) of the tiny data's glosses."""
    from training.checkpoint import load_checkpoint
    from training.export import export_onnx
    from training.trainer import train

    run = train(tiny_config(tiny_data, "onnx", "mobilenet1d", "optim.epochs=4"), progress=False)
    out = tiny_data / "tiny.onnx"
    export_onnx(load_checkpoint(run.run_dir / "best.pt"), out, window=32, hop=8)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tiny_data: Path) -> Path:
    """A bigram LM over the tiny data's glosses."""
    from training.data.grammar import parse_grammar
    from training.lm import LMConfig, build_lm

    sentences = parse_grammar(GRAMMAR).sample_many(300, np.random.default_rng(0))
    out = tiny_data / "tiny.arpa"
    build_lm(sentences, out, LMConfig(order=2, backend="own", binary=False))
    return out
