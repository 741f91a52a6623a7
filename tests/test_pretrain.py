"""Encoder pretraining on other datasets' clips, and CTC training that starts from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_config
from training.models.base import build_model
from training.pretrain import (
    PretrainConfig,
    load_encoder_init,
    pretrain_encoder,
    wlasl_heldback_glosses,
)


def test_heldback_glosses_leave_out_the_cross_dataset_ones() -> None:
    glosses = ["can", "no", "a", "b", "c", "d", "e"]
    held = wlasl_heldback_glosses(glosses)
    assert held == ("b", "d") and not {"can", "no"} & set(held)


def test_pretrained_encoder_starts_ctc_training(tiny_data: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_data, "pre", "mobilenet1d")
    pre = PretrainConfig(datasets=(str(tiny_data / "ds"),), out=str(tmp_path / "pre"), epochs=2)
    path = pretrain_encoder(pre, config, log=lambda _msg: None)
    assert path.exists() and pretrain_encoder(pre, config) == path  # done once
    saved = torch.load(path, map_location="cpu", weights_only=False)["state"]
    spec = config.feature_spec
    model = build_model("mobilenet1d", spec.dim, 7, config.model.preset, config.model.overrides)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    n = load_encoder_init(model, path, "mobilenet1d", spec.dim)
    after = model.state_dict()
    loaded = [k for k in after if k in saved and saved[k].shape == after[k].shape]
    assert n == len(loaded) > 0 and n < len(after)  # all but the output layer
    assert all(torch.equal(after[k], saved[k]) for k in loaded)
    assert all(torch.equal(after[k], before[k]) for k in after if k not in loaded)
    with pytest.raises(ValueError, match="encoder of mobilenet1d"):
        load_encoder_init(model, path, "featurei3d", spec.dim)


def test_a_run_that_may_resume_but_has_no_checkpoint_starts_from_the_init(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recipe and the folds always pass resume=True: a fresh run must still load its init."""
    from dataclasses import replace

    from training.trainer import train

    config = tiny_config(tiny_data, "pre-init", "mobilenet1d", "optim.epochs=1")
    pre = PretrainConfig(datasets=(str(tiny_data / "ds"),), out=str(tmp_path / "p"), epochs=1)
    path = pretrain_encoder(pre, config, log=lambda _msg: None)
    config = replace(
        config, out_dir=str(tmp_path / "runs"), model=replace(config.model, encoder_init=str(path))
    )
    train(config, resume=True, progress=False)
    assert "tensors from" in capsys.readouterr().out
