"""Training: tiny CTC runs on generated data, resume == uninterrupted, KD losses, DDP, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import GLOSSES, REPO, tiny_config
from training.checkpoint import load_checkpoint
from training.config import load_config
from training.distill import feature_loss, soft_loss, teacher_posteriors, temperature_at
from training.trainer import train


@pytest.mark.parametrize("family", ["mobilenet1d", "featurei3d", "bilstm", "conformer"])
def test_each_family_trains_and_its_loss_falls(tiny_data: Path, family: str) -> None:
    cfg = tiny_config(tiny_data, f"fam-{family}", family, "optim.epochs=4")
    result = train(cfg, progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    ck = load_checkpoint(result.run_dir / "best.pt")
    assert ck.vocab.glosses == tuple(sorted(GLOSSES))
    assert ck.config.model.family == family and ck.spec.family == family
    assert (result.run_dir / "last.pt").exists()


def test_resume_equals_uninterrupted(tiny_data: Path) -> None:
    whole = train(tiny_config(tiny_data, "whole", "mobilenet1d"), progress=False)
    cfg = tiny_config(tiny_data, "split", "mobilenet1d")
    first = train(cfg, progress=False, stop_after=1)
    assert first.epochs == 1
    resumed = train(cfg, resume=True, progress=False)
    assert resumed.epochs == 3
    a = load_checkpoint(whole.run_dir / "last.pt")
    b = load_checkpoint(resumed.run_dir / "last.pt")
    for k in a.state:
        torch.testing.assert_close(a.state[k], b.state[k], rtol=0, atol=0)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert [h["dev_wer"] for h in a.history] == [h["dev_wer"] for h in b.history]
    assert {"optimizer", "scheduler"} <= set(b.extra)


def test_a_checkpoint_of_a_removed_setting_is_refused_unless_it_was_off(tiny_data: Path) -> None:
    from dataclasses import replace

    from training.checkpoint import save_checkpoint

    ck = load_checkpoint(train(tiny_config(tiny_data, "old"), progress=False).run_dir / "best.pt")
    saved = ck.config.to_dict()

    class OldConfig:  # what a checkpoint of an older version holds
        def __init__(self, d: dict[str, object]) -> None:
            self.d, self.feature_spec = d, ck.config.feature_spec

        def to_dict(self) -> dict[str, object]:
            return self.d

    off = {**saved, "optim": {**saved["optim"], "ema_decay": 0.0}, "cotrain": {"datasets": []}}
    on = {**saved, "model": {**saved["model"], "encoder_init": "runs/pretrain/encoder.pt"}}
    for name, d in (("off", off), ("on", on)):
        save_checkpoint(tiny_data / f"{name}.pt", replace(ck, config=OldConfig(d)))  # type: ignore[arg-type]
    assert load_checkpoint(tiny_data / "off.pt").config == ck.config
    with pytest.raises(ValueError, match=r"model\.encoder_init, a removed setting"):
        load_checkpoint(tiny_data / "on.pt")


def test_distillation_single_and_multi_teacher(tiny_data: Path) -> None:
    t1 = train(tiny_config(tiny_data, "t1", "featurei3d"), progress=False)
    t2 = train(tiny_config(tiny_data, "t2", "bilstm"), progress=False)
    student = train(tiny_config(tiny_data, "base"), progress=False)
    cfg = tiny_config(
        tiny_data,
        "kd",
        "mobilenet1d",
        f'distill.teachers=["{t1.run_dir / "best.pt"}", "{t2.run_dir / "best.pt"}"]',
        "distill.teacher_weights=[2.0, 1.0]",
        "distill.gamma=0.5",
        "distill.temperatures=[4.0, 3.5, 3.0]",
        f'distill.student_init="{student.run_dir / "best.pt"}"',
    )
    result = train(cfg, progress=False)
    temps = [h["temperature"] for h in result.history]
    assert temps == [4.0, 3.5, 3.0]
    assert all(h["soft"] > 0 and h["feature"] > 0 for h in result.history)


def test_soft_loss_matches_hand_computation() -> None:
    t = 2.0
    student = torch.tensor([[[1.0, 0.0, -1.0]]])
    teacher = torch.tensor([[[0.0, 2.0, 0.0]]])
    p = torch.softmax(teacher / t, -1)[0, 0]
    q = torch.softmax(student / t, -1)[0, 0]
    expected = t * t * float((p * (p.log() - q.log())).sum())  # KL(teacher || student)
    got = soft_loss(student, teacher_posteriors([teacher], t), t)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    assert float(soft_loss(teacher, teacher_posteriors([teacher], t), t)) == pytest.approx(
        0, abs=1e-6
    )
    # padding is ignored; two teachers average their softened posteriors with the weights
    lengths = torch.tensor([1])
    padded = torch.cat([student, torch.zeros(1, 1, 3)], 1)
    tp = torch.cat([teacher, torch.zeros(1, 1, 3)], 1)
    assert float(soft_loss(padded, teacher_posteriors([tp], t), t, lengths)) == pytest.approx(
        expected
    )
    mix = teacher_posteriors([teacher, student], t, [3.0, 1.0])
    want = 0.75 * torch.softmax(teacher / t, -1) + 0.25 * torch.softmax(student / t, -1)
    torch.testing.assert_close(mix, want)


def test_feature_loss_and_temperature_schedule() -> None:
    proj = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        proj.weight.copy_(torch.eye(2))
    s = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
    te = torch.tensor([[[0.0, 0.0], [5.0, 5.0]]])
    assert feature_loss(s, te, proj, torch.tensor([1])).item() == pytest.approx(2.5)
    assert [temperature_at(e, 9, (4.0, 3.5, 3.0)) for e in range(9)] == [4.0] * 3 + [3.5] * 3 + [
        3.0
    ] * 3


def test_cli_overrides_and_bad_settings(tiny_data: Path) -> None:
    cfg = tiny_config(tiny_data, "x", "mobilenet1d", "optim.lr=0.01")
    assert cfg.optim.lr == 0.01 and cfg.data.test_signers == ("s3",)
    with pytest.raises(ValueError, match="unknown settings"):
        load_config(None, ["optim.learning_rate=1"])
    with pytest.raises(ValueError, match="must be int"):
        load_config(None, ["optim.epochs=many"])


def test_ddp_with_two_cpu_processes(tiny_data: Path) -> None:
    """torchrun --nproc_per_node 2 (gloo): the run completes and rank 0 writes checkpoints."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "-m", "signstream.cli", "train", "teacher", "--quiet", "--config",
        str(REPO / "training" / "configs" / "teacher.toml"),
        "--name=ddp", f"--out_dir={tiny_data / 'runs'}", f"--data.dataset={tiny_data / 'ds'}",
        f"--data.grammar={tiny_data / 'tiny.grammar'}", '--data.test_signers=["s3"]',
        "--data.exclude_glosses=[]", "--data.train_sentences=16", "--data.dev_sentences=4",
        "--model.preset=tiny", "--optim.epochs=2", "--optim.batch_size=4", "--optim.num_threads=1",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert load_checkpoint(tiny_data / "runs" / "ddp" / "last.pt").epoch == 2
