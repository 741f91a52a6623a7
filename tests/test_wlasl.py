"""WLASL-50: leakage-free folds, layout 170 through the feature path, a short training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import ArrayFileError
from engine.features import compute_features
from engine.landmarks import FLAT_LAYOUTS, LandmarkSequence
from training.benchmarks.wlasl import WlaslConfig, load_wlasl, train_wlasl, wlasl_folds

GLOSSES = ("book", "drink", "go")


def write_wlasl(path: Path, seed: int = 0) -> Path:
    """The real file's format: 30 clips per gloss, the first k real, the rest noisy copies of
    real clip ``i mod k``; each gloss moves the right hand its own way (learnable)."""
    rng = np.random.default_rng(seed)
    xs, glosses, names, real = [], [], [], []
    t = np.linspace(0, 1, 30)[:, None]
    for gi, gloss in enumerate(GLOSSES):
        k = 5 + gi
        base = []
        for _ in range(k):
            x = np.zeros((30, 170), np.float32)
            x[:, :44] = rng.uniform(0.3, 0.7, 44)  # 11 pose points x4
            x[:, 4:8] = (0.62, 0.55, 0.0, 1.0)  # shoulders
            x[:, 8:12] = (0.38, 0.55, 0.0, 1.0)
            hand = rng.uniform(0.4, 0.6, 63)
            x[:, 107:170] = hand + 0.1 * np.sin(2 * np.pi * (gi + 1) * t) * (1 + 0.2 * rng.random())
            base.append(x)
        for i in range(30):
            src = base[i % k]
            clip = src if i < k else src + rng.normal(0, 0.01, src.shape).astype(np.float32)
            xs.append(clip)
            glosses.append(gloss)
            names.append(f"{gloss}/{i}")
            real.append(i < k)
    np.savez_compressed(
        path, X=np.array(xs, np.float16), gloss=np.array(glosses), name=np.array(names),
        real=np.array(real),
    )  # fmt: skip
    return path


def test_folds_are_leakage_free(tmp_path: Path) -> None:
    clips = load_wlasl(write_wlasl(tmp_path / "w.npz"))
    reals = [i for i, c in enumerate(clips) if c.real]
    for uploader in (False, True):
        folds = wlasl_folds(clips, 3, seed=0, uploader_augmentations=uploader)
        tested = sorted(i for f in folds for i in f.test)
        assert tested == reals  # every real clip tested exactly once
        for f in folds:
            assert not set(f.train) & set(f.test)
            assert all(clips[i].real for i in f.test)
            augs = [i for i in f.train if not clips[i].real]
            assert len(augs) == f.augmentations and (len(augs) > 0) == uploader
            test_ids = {(clips[i].gloss, clips[i].index) for i in f.test}
            k = {g: sum(c.real and c.gloss == g for c in clips) for g in GLOSSES}
            # no augmentation of a test clip in training
            assert all(
                (clips[i].gloss, clips[i].index % k[clips[i].gloss]) not in test_ids for i in augs
            )


def test_layout_170_through_the_feature_path(tmp_path: Path) -> None:
    clip = load_wlasl(write_wlasl(tmp_path / "w.npz"))[0]
    seq = LandmarkSequence.from_flat(clip.flat, "170", 30.0)
    assert FLAT_LAYOUTS["170"].size == 170
    assert seq.present[:, [0, 2]].all() and not seq.present[:, 1].any()  # no left hand
    spec = WlaslConfig().feature_spec
    f = compute_features(seq, spec).values
    assert f.shape == (30, spec.dim) and np.isfinite(f).all()


def test_few_training_steps_loss_falls(tmp_path: Path) -> None:
    config = WlaslConfig(
        data=str(write_wlasl(tmp_path / "w.npz")), out=str(tmp_path / "run"), preset="tiny",
        model_overrides={}, folds=3, run_folds=(0,), epochs=8, copies=2, batch_size=8,
        lr=5e-3, num_threads=1,
    )  # fmt: skip
    results = train_wlasl(config, progress=False)
    fold = results["folds"][0]
    assert fold["test_clips"] == results["test_clips"] > 0
    assert 0.0 <= results["top1"] <= results["top5"] <= 1.0
    import torch

    history = torch.load(tmp_path / "run" / "fold0" / "last.pt", weights_only=False)["history"]
    assert history[-1]["loss"] < history[0]["loss"]


@pytest.mark.data
def test_real_file_split(shared_data: Path) -> None:
    clips = load_wlasl(shared_data / "wlasl50" / "wlasl50.npz")
    assert len(clips) == 1500 and sum(c.real for c in clips) == 423
    folds = wlasl_folds(clips, 4, seed=0)
    assert sum(len(f.test) for f in folds) == 423
    assert all(f.augmentations == 0 for f in folds)


def test_unreadable_wlasl_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "wlasl50.npz"
    path.write_bytes(b"\x01" + np.random.default_rng(0).bytes(2047))
    with pytest.raises(
        ArrayFileError, match=f"^{path}: not a NumPy array file \\(corrupt or another format\\)$"
    ):
        load_wlasl(path)
    np.savez(path, X=np.zeros((1, 30, 170)))
    with pytest.raises(ArrayFileError, match=r"no name / real array \(holds \['X'\]\)"):
        load_wlasl(path)
