"""Co-training: the CTC model's encoder also learns to tell other people's signs apart.

asl-coffee has three signers, so a leave-one-signer-out fold trains on two. WLASL-50's real
clips are dozens of people, and the Bhutanese set adds another. Pretraining on them and then
training CTC (training/pretrain.py) did not help: 15 epochs of CTC on two signers overwrite
what the encoder had learned. Co-training keeps both losses on for the whole run: every CTC
step of a training run also takes a batch of these isolated clips, classifies each (the
encoder's hidden states, masked mean over time, one linear layer: the head below, which is
not exported) and adds ``weight`` times its cross-entropy to the CTC loss. The encoder is
pushed towards what sets signs apart across many hands, bodies and cameras.

The clips are the pretraining ones (:func:`training.pretrain.other_people_clips`): what the
generalisation checks test is held back, so those checks stay clean. They get the run's own
augmentations, new every epoch.

Measured on two leave-one-signer-out folds (docs/TRAINING.md): WLASL-50's CAN/NO of unseen people
50-56% -> 75%, but unknown signs falsely accepted 2-3x as often; not in the shipped config.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from engine.features import FeatureSpec, compute_features
from engine.landmarks import LandmarkSequence
from training.augment import AugmentConfig, augment
from training.config import CotrainConfig

__all__ = ["Cotrainer"]


class Cotrainer(nn.Module):
    """The clip-classification head and its data; :meth:`loss` gives one step's loss.

    ``clips``/``labels``: the clips and their labels (any strings); ``hidden_dim``: the size
    of the model's ``hidden`` output ``(B, T, H)``.
    """

    def __init__(
        self,
        config: CotrainConfig,
        clips: Sequence[LandmarkSequence],
        labels: Sequence[str],
        hidden_dim: int,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if len(clips) != len(labels) or not clips:
            raise ValueError(f"co-training needs clips with labels, got {len(clips)} clips")
        self.config = config
        self.clips = list(clips)
        self.classes = sorted(set(labels))
        self.targets = torch.tensor([self.classes.index(x) for x in labels])
        self.head = nn.Linear(hidden_dim, len(self.classes))
        self.seed = seed
        self._features: list[npt.NDArray[np.float32]] = []
        self._order: list[int] = []
        self._rng = np.random.default_rng([seed, 7])

    def start_epoch(
        self, epoch: int, spec: FeatureSpec, augmentation: AugmentConfig | None
    ) -> None:
        """New augmented features of every clip and a new order for ``epoch``."""
        rng = self._rng = np.random.default_rng([self.seed, 7, epoch])  # same on resume
        if augmentation is not None:
            seqs = [augment(s, augmentation, rng) for s in self.clips]
            self._features = [compute_features(s, spec).values for s in seqs]
        elif not self._features:  # unaugmented features are the same every epoch
            self._features = [compute_features(s, spec).values for s in self.clips]
        self._order = rng.permutation(len(self.clips)).tolist()

    def _next_batch(self) -> list[int]:
        n = min(self.config.batch_size, len(self.clips))
        if len(self._order) < n:  # the epoch's clips are used up: go round again
            self._order += self._rng.permutation(len(self.clips)).tolist()
        idx, self._order = self._order[:n], self._order[n:]
        return idx

    def loss(self, model: nn.Module, device: torch.device) -> torch.Tensor:
        """Cross-entropy of the head on the next batch of clips, through ``model``."""
        from training.wlasl import masked_mean, stack_clips

        if not self._features:
            raise RuntimeError("start_epoch() first")
        idx = self._next_batch()
        x, lengths = stack_clips([self._features[i] for i in idx])
        x, lengths = x.to(device), lengths.to(device)
        logits = self.head(masked_mean(model(x, lengths).hidden.float(), lengths))
        target = self.targets[idx].to(device)
        return F.cross_entropy(logits, target, label_smoothing=self.config.label_smoothing)
