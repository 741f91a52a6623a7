"""The datasets the project trains and checks on: where each comes from in the shared data,
who signs in it, and how its glosses are split between uses.

The shared data's location is :func:`engine.data_root.data_root`; datasets imported from it
live under ``data/`` in the repository (:data:`DATA_DIR`, ``signstream data import``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.data_root import data_root as shared_data
from engine.dataset import Dataset
from engine.landmarks import LandmarkSequence

__all__ = [
    "ASL_COFFEE_SIGNERS",
    "CROSS_DATASET",
    "DATASETS",
    "DATA_DIR",
    "NOTHING",
    "OOV_CALIBRATION",
    "OOV_TEST",
    "ClipSet",
    "DataSet",
    "ensure_datasets",
]

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "data"  # imported SignStream datasets
ASL_COFFEE_SIGNERS = ("dmohazab", "TheCamNelson", "Alex")
NOTHING = ""  # the answer "no gloss": a sign the model must not know

# Bhutanese SL words split in two by gloss: distractors for training, a calibration set for
# the rejection threshold. "no" and "small" are left out of both: they are asl-coffee glosses.
BHUTANESE_DISTRACT = ("come", "flower", "moon", "road", "sleep", "sun", "yes", "predicting.....")
BHUTANESE_CALIB = ("eat", "good", "more", "same", "star", "thin")
# WLASL-50's real clips (many signers) split in two by gloss, CAN and NO (cross-dataset checks)
# left out: sorted, the even-numbered half may serve as training distractors, the odd-numbered
# half are unknown-sign test clips
WLASL_DISTRACT = (
    "accident", "apple", "before", "black", "book", "change", "color", "cool", "dog", "family",
    "fish", "graduate", "help", "like", "mother", "orange", "play", "shirt", "table",
    "thanksgiving", "walk", "white", "woman", "year",
)  # fmt: skip
WLASL_TEST = (
    "all", "bed", "bird", "blue", "bowling", "clothes", "computer", "corn", "drink", "finish",
    "go", "hat", "hot", "many", "now", "pizza", "school", "study", "tall", "thin", "what", "who",
    "wrong", "yes",
)  # fmt: skip


@dataclass(frozen=True)
class DataSet:
    """A dataset the checks import from the shared data (``folder`` under ``data/``)."""

    folder: str
    npz: str  # path under the shared data root
    signer: str = ""  # for files that do not say who signs
    glosses: tuple[str, ...] = ()  # only these (empty: all)
    real_only: bool = False


DATASETS = {
    "asl-coffee": DataSet("asl-coffee", "asl-coffee/words.npz"),
    "bhutanese-distract": DataSet(
        "bhutanese-distract", "bhutanese-words/words.npz", "bhutanese", BHUTANESE_DISTRACT
    ),
    "bhutanese-calib": DataSet(
        "bhutanese-calib", "bhutanese-words/words.npz", "bhutanese", BHUTANESE_CALIB
    ),
    "tutorial-3signs": DataSet("tutorial-3signs", "tutorial-3signs/kamalesh.npz"),
    "msl5": DataSet("msl5", "msl5/msl5.npz", "msl5"),
    "wlasl50-real": DataSet("wlasl50-real", "wlasl50/wlasl50.npz", real_only=True),
    "wlasl50-distract": DataSet(
        "wlasl50-distract", "wlasl50/wlasl50.npz", glosses=WLASL_DISTRACT, real_only=True
    ),
}


@dataclass(frozen=True)
class ClipSet:
    """Clips of one dataset with the answer expected for each of their glosses.

    ``answers`` maps the dataset's gloss to the model's (``NOTHING`` for a sign the model does
    not know); glosses not in it are skipped, unless ``others`` gives the answer for all others.
    """

    name: str
    dataset: str  # key of DATASETS
    answers: dict[str, str] = field(default_factory=dict)
    others: str | None = None  # the answer for glosses not in ``answers`` (None: skip them)

    def clips(self, data_dir: Path) -> tuple[list[LandmarkSequence], list[str]]:
        ds = Dataset(data_dir / DATASETS[self.dataset].folder)
        seqs, want = [], []
        for info in ds.infos:
            answer = self.answers.get(info.gloss, self.others)
            if answer is not None and len(info.glosses) == 1:
                seqs.append(ds[info.index])
                want.append(answer)
        return seqs, want


_TUTORIAL = {"hello": "hello", "thanks": "thank-you"}
CROSS_DATASET = (
    ClipSet("tutorial signer: hello, thanks", "tutorial-3signs", _TUTORIAL),
    ClipSet("WLASL-50 real clips: can, no", "wlasl50-real", {"can": "can", "no": "no"}),
)  # fmt: skip
OOV_CALIBRATION = ClipSet("Bhutanese SL (calibration)", "bhutanese-calib", others=NOTHING)
OOV_TEST = (
    # "known" marks the glosses the model knows: they are cross-dataset clips, not unknown ones
    ClipSet(
        "WLASL-50 real clips, held-back words", "wlasl50-real", dict.fromkeys(WLASL_TEST, NOTHING)
    ),
    ClipSet("Mexican SL (msl5)", "msl5", others=NOTHING),
    ClipSet("tutorial signer: I-love-you", "tutorial-3signs", {"iloveyou": NOTHING}),
)


def ensure_datasets(data_root: Path | None = None, data_dir: Path = DATA_DIR) -> None:
    """Import every dataset of ``DATASETS`` that ``data_dir`` lacks (idempotent); ``data_root``
    defaults to :func:`engine.data_root.data_root`."""
    from training.importers.base import write_import
    from training.importers.npz_sets import import_npz

    for d in DATASETS.values():
        target = data_dir / d.folder
        if (target / "dataset.json").exists() and len(Dataset(target)) > 0:
            continue
        src = shared_data(data_root) / d.npz
        if not src.exists():
            raise FileNotFoundError(f"{src} is missing: set SIGNSTREAM_DATA to the shared data")
        items = import_npz(
            src,
            signer=d.signer or "unknown",
            include_glosses=d.glosses or None,
            real_only=d.real_only,
        )
        write_import(Dataset.open_or_create(target), items)
