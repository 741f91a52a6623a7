"""Co-training: CTC training whose encoder also classifies other people's isolated clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.dataset import Dataset
from tests.conftest import tiny_config
from training.config import CotrainConfig
from training.cotrain import Cotrainer
from training.models.base import build_model
from training.trainer import load_checkpoint, train


def test_the_head_learns_the_clips_through_the_encoder(tiny_data: Path) -> None:
    config = tiny_config(tiny_data, "co", "mobilenet1d")
    spec = config.feature_spec
    ds = Dataset(tiny_data / "ds")
    clips = [ds[i.index] for i in ds.infos if len(i.glosses) == 1][:24]
    labels = [c.glosses[0] for c in clips]
    model = build_model("mobilenet1d", spec.dim, 5, config.model.preset, config.model.overrides)
    co = Cotrainer(
        CotrainConfig(datasets=("x",), batch_size=8, label_smoothing=0.0),
        clips,
        labels,
        model.hidden_dim,
    )
    assert co.classes == sorted(set(labels))
    with pytest.raises(RuntimeError, match="start_epoch"):
        co.loss(model, torch.device("cpu"))
    co.start_epoch(0, spec, None)
    opt = torch.optim.Adam(list(model.parameters()) + list(co.head.parameters()), lr=3e-3)
    losses = []
    for _ in range(80):  # more steps than clips: the batches go round again
        loss = co.loss(model, torch.device("cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10]), losses[-10:]
    with pytest.raises(ValueError, match="clips with labels"):
        Cotrainer(CotrainConfig(), [], [], model.hidden_dim)


def test_a_cotrained_run_saves_its_head_and_resumes(tiny_data: Path, tmp_path: Path) -> None:
    config = tiny_config(
        tiny_data,
        "co-run",
        "mobilenet1d",
        "optim.epochs=2",
        f'cotrain.datasets=["{tiny_data / "ds"}"]',
        "cotrain.batch_size=4",
    )
    from dataclasses import replace

    config = replace(config, out_dir=str(tmp_path / "runs"))
    train(config, progress=False, stop_after=1)
    first = load_checkpoint(config.run_dir / "last.pt")
    assert "cotrain_head" in first.extra and first.history[0]["cotrain"] > 0
    train(config, resume=True, progress=False)
    ck = load_checkpoint(config.run_dir / "last.pt")
    assert ck.epoch == 2 and ck.history[0] == first.history[0]
    # a plain run has no head and no co-training loss
    plain = replace(
        tiny_config(tiny_data, "plain", "mobilenet1d", "optim.epochs=1"),
        out_dir=str(tmp_path / "r2"),
    )
    train(plain, progress=False)
    ck = load_checkpoint(plain.run_dir / "last.pt")
    assert "cotrain_head" not in ck.extra and ck.history[0]["cotrain"] == 0
