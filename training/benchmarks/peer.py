"""Train and evaluate the peer baseline: the tutorial apps' clip classifier, on the same data.

What the tutorials do, reproduced faithfully so the comparison is fair to them: raw MediaPipe
coordinates (the flat ``258`` vector, zeros for an undetected hand), clips of 30 frames, one
softmax over the glosses plus the idle class, cross-entropy, Adam. The clips are the same
isolated samples our CTC models are built from: the train signers' samples for training (minus
the dev share), the held-out signers' samples for the test.

Its input is not our feature pipeline on purpose: that is the point of the comparison (the
tutorial model on raw coordinates is what users have today). For the same reason it keeps the
tutorials' own Keras-style loop (constant-rate Adam, no clipping, best dev epoch kept in memory)
rather than :mod:`training.loop`, which every model of ours trains with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from engine.atomic import atomic_path, atomic_write_text
from engine.dataset import Dataset
from engine.landmarks import LandmarkSequence
from training.benchmarks.peer_model import TutorialLSTM, TutorialLSTMConfig, build_peer
from training.config import DataConfig
from training.data.sentences import split_samples
from training.data.splits import split_by_signer

__all__ = ["PeerResult", "clip_input", "train_peer"]

CLIP_FRAMES = 30
RAW_LAYOUT = "258"


def clip_input(seq: LandmarkSequence, frames: int = CLIP_FRAMES) -> npt.NDArray[np.float32]:
    """A clip as the tutorials feed it: flat raw ``258`` vectors, stretched to ``frames``."""
    flat = seq.to_flat(RAW_LAYOUT)
    src = np.linspace(0, len(flat) - 1, frames)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, len(flat) - 1)
    w = (src - lo)[:, None].astype(np.float32)
    clip: npt.NDArray[np.float32] = ((1 - w) * flat[lo] + w * flat[hi]).astype(np.float32)
    return clip


@dataclass
class PeerResult:
    classes: tuple[str, ...]
    parameters: int
    test_accuracy: float  # top-1 on the held-out signers' clips (idle included)
    test_clips: int
    dev_accuracy: float
    epochs: int
    checkpoint: Path
    onnx: Path | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["checkpoint"] = str(self.checkpoint)
        d["onnx"] = None if self.onnx is None else str(self.onnx)
        return d


def _arrays(
    ds: Dataset, indices: Sequence[int], classes: dict[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for i in indices:
        seq = ds[i]
        xs.append(clip_input(seq))
        ys.append(classes[seq.glosses[0]])
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def _accuracy(model: TutorialLSTM, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 256]).argmax(-1) for i in range(0, len(x), 256)])
    return float((pred == y).float().mean())


def train_peer(
    data: DataConfig,
    out_dir: str | Path,
    epochs: int = 80,
    batch_size: int = 32,
    lr: float = 1e-3,
    patience: int = 15,
    seed: int = 0,
) -> PeerResult:
    """Train the tutorial LSTM; keep the best dev epoch; evaluate on the held-out signers."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    ds = Dataset(data.dataset)
    excluded = set(data.exclude_glosses)
    isolated = [i for i in ds.infos if len(i.glosses) == 1 and i.gloss not in excluded]
    split = split_by_signer(isolated, test_signers=list(data.test_signers))
    by_index = {i.index: i for i in isolated}
    train_idx, dev_idx = split_samples(
        [by_index[int(i)] for i in split.train], data.dev_fraction, data.seed
    )
    names = sorted({by_index[i].gloss for i in train_idx})
    classes = {g: k for k, g in enumerate(names)}
    test_idx = [int(i) for i in split.test if by_index[int(i)].gloss in classes]
    x_train, y_train = _arrays(ds, train_idx, classes)
    x_dev, y_dev = _arrays(ds, dev_idx, classes)
    x_test, y_test = _arrays(ds, test_idx, classes)

    torch.manual_seed(seed)
    model = build_peer(x_train.shape[2], len(names), TutorialLSTMConfig(clip_frames=CLIP_FRAMES))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    best, best_state, bad, epochs_run = -1.0, model.state_dict(), 0, 0
    for epochs_run in range(1, epochs + 1):  # noqa: B007 (reported after the loop)
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for i in range(0, len(order), batch_size):
            j = order[i : i + batch_size]
            loss = F.cross_entropy(model(x_train[j]), y_train[j])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        dev_acc = _accuracy(model, x_dev, y_dev)
        if dev_acc > best:
            best, bad = dev_acc, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    model.load_state_dict(best_state)
    test_acc = _accuracy(model, x_test, y_test)
    checkpoint = out / "peer.pt"
    with atomic_path(checkpoint) as tmp:
        torch.save({"config": model.config, "classes": names, "model": best_state}, tmp)
    onnx_path = out / "peer.onnx"
    _export_peer(model, onnx_path)
    result = PeerResult(
        classes=tuple(names),
        parameters=model.num_parameters(),
        test_accuracy=test_acc,
        test_clips=len(test_idx),
        dev_accuracy=best,
        epochs=epochs_run,
        checkpoint=checkpoint,
        onnx=onnx_path,
        seconds=time.perf_counter() - t0,
    )
    atomic_write_text(out / "peer.json", json.dumps(result.to_dict(), indent=1))
    return result


def _export_peer(model: TutorialLSTM, path: Path) -> None:
    """ONNX of the clip classifier (fixed 30-frame clip, dynamic batch), for latency tables."""
    model.eval()
    torch.ops.aten.lstm.input._dispatch_cache.clear()  # see training/export.py
    with atomic_path(path) as tmp:
        torch.onnx.export(
            model,
            (torch.zeros(2, CLIP_FRAMES, model.in_dim),),
            str(tmp),
            input_names=["clip"],
            output_names=["logits"],
            dynamo=True,
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
            external_data=False,
        )
