"""The people dataset: asl-coffee's three signers and the crowd's signer groups, in the default
vocabulary, each person in one cross-validation fold.

``crowd/crowd.npz`` (``../shared/data/README.md``) holds MediaPipe-tutorial recordings of 218
signer groups (a group: one person's repositories, or repositories that copied each other's
recordings). The decisions made here, and repeated in the model card:

* **Vocabulary**: asl-coffee's 15 words, plus every crowd *word* at least :data:`MIN_GROUPS`
  signer groups recorded (a model learns a sign from many hands, not from five). Computed from
  the data, not listed: a later crowd file with more people grows it.
* **One gloss per meaning**: the crowd's glosses are already normalised (lower case, ``-`` for
  spaces, thanks -> thank-you); :data:`SAME_MEANING` merges the rest (goodbye -> bye). A sign
  made in two forms (HELLO as a wave or a salute) is one gloss.
* **Letters are not words**: the crowd's fingerspelled letters stay out of the vocabulary (a
  capability of their own). ``a`` and ``i`` are words in asl-coffee but letters or the pronoun
  in the crowd (folders ``A``/``a``, ``I``/``i``): the crowd's are dropped, asl-coffee's kept.
* **Rest**: the crowd's idle recordings (``idle``, ``none``, ``nothing``, ...) join asl-coffee's
  ``-``: not signing, the blank of CTC.
* **Unknown signs**: crowd words below the threshold and the letters are signs the model must
  not know, except those that mean a vocabulary word or contain one (``my-name-is``,
  ``good-morning``, Spanish ``hola``): the model may rightly say something for them. They are
  split in two by a hash of the gloss (:func:`unknown_half`): one half trains as distractors,
  labelled rest (:func:`build_distract`, ``data/crowd-distract``); the other is never trained
  on, and false accepts are counted on it alone, signs no training saw
  (:func:`build_unknown` holds both halves, ``data/crowd-unknown``).
* **Folds**: every person's clips are in one of :data:`FOLDS` folds (``extra["fold"]``):
  asl-coffee's signers in folds 0, 1 and 2 (so five trainings are also asl-coffee's
  leave-one-signer-out), the crowd's groups dealt round-robin in a fixed hashed order.
"""

from __future__ import annotations

import hashlib
import itertools
import string
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.dataset import Dataset, SampleInfo
from engine.errors import ImportProblem
from engine.landmarks import LandmarkSequence
from training.importers.base import ImportItem, ImportReport, write_import
from training.importers.npz_sets import import_npz

__all__ = [
    "ASL_COFFEE_FOLDS",
    "CROWD_NPZ",
    "DISTRACT",
    "FOLDS",
    "MIN_GROUPS",
    "UNSEEN",
    "PeopleVocabulary",
    "build_distract",
    "build_people",
    "build_unknown",
    "crowd_gloss",
    "ensure_people",
    "fold_signers",
    "people_vocabulary",
    "unknown_half",
]

CROWD_NPZ = Path("crowd") / "crowd.npz"  # under the shared data root
ASL_COFFEE_NPZ = Path("asl-coffee") / "words.npz"
MIN_GROUPS = 8  # signer groups a crowd word needs to join the vocabulary
FOLDS = 5
ASL_COFFEE_FOLDS = {"dmohazab": 0, "TheCamNelson": 1, "Alex": 2}
ASL_COFFEE_WORDS = (
    "a", "can", "coffee", "get", "hello", "i", "large", "medium", "muffin", "no", "please",
    "small", "tea", "thank-you", "water",
)  # fmt: skip
IDLE = "-"  # DataConfig.idle_gloss: not signing
# the crowd's names of one meaning (after the file's own normalisation)
SAME_MEANING = {"goodbye": "bye", "bye-bye": "bye", "hi": "hello", "hey": "hello"}
# the crowd's recordings of not signing
CROWD_IDLE = frozenset({"idle", "none", "nothing", "null", "noaction", "background", "-"})
# glosses written with a dash that are one sign, not a phrase of words
ONE_SIGN = frozenset({"thank-you", "i-love-you"})
# letters or the pronoun in the crowd, words in asl-coffee: the crowd's are not used at all
AMBIGUOUS = frozenset({"a", "i"})
# other sign languages' or spellings' words for a vocabulary word, and words that may be one:
# neither training data nor unknown signs
MEANS_A_WORD = frozenset({
    "hola", "halo", "gracias", "obrigado", "terima-kasih", "terimakasih", "sama-sama",
    "porfavor", "chau", "iloveu", "thankyou-very-much", "nama", "kamu", "aku", "tidak", "me",
    "i'm", "thumbsup", "undefined", "hasta-la-proxima", "wassup", "whatsup", "what's-up", "yo",
})  # fmt: skip


def crowd_gloss(gloss: str) -> str:
    """The gloss a crowd label stands for: merged synonyms, idle as :data:`IDLE`."""
    if gloss in CROWD_IDLE:
        return IDLE
    return SAME_MEANING.get(gloss, gloss)


def _is_phrase_of(gloss: str, words: Iterable[str]) -> bool:
    """Whether ``gloss`` is several signs, one of them in ``words`` (``my-name-is``)."""
    known = set(words)
    return "-" in gloss and gloss not in ONE_SIGN and any(t in known for t in gloss.split("-"))


# the halves of the unknown signs (:func:`unknown_half`)
DISTRACT = "distract"  # trained on as distractors (rest)
UNSEEN = "unseen"  # never trained on: where false accepts are counted


def unknown_half(gloss: str) -> str:
    """:data:`DISTRACT` or :data:`UNSEEN`: an unknown sign's half, by the parity of its gloss's
    sha1 (stable across machines and runs, unrelated to the sign). On the crowd file of
    2026-12: 121 glosses (4704 clips) to distract, 100 (4019 clips) unseen."""
    return DISTRACT if int(hashlib.sha1(gloss.encode()).hexdigest(), 16) % 2 == 0 else UNSEEN


def _is_letter(gloss: str) -> bool:
    return len(gloss) == 1 and gloss in string.ascii_lowercase


@dataclass(frozen=True)
class PeopleVocabulary:
    """The default vocabulary and why: signer groups per crowd gloss (after merging)."""

    glosses: tuple[str, ...]  # sorted
    crowd_groups: dict[str, int]  # gloss -> signer groups that recorded it

    def role(self, gloss: str) -> str:
        """``"word"`` (train on it), ``"idle"``, ``"unknown"`` (test set) or ``"unused"``."""
        if gloss == IDLE:
            return "idle"
        if gloss in AMBIGUOUS or gloss in MEANS_A_WORD:
            return "unused"
        if gloss in self.glosses:
            return "word"
        if _is_phrase_of(gloss, self.glosses):
            return "unused"  # a phrase with a vocabulary word in it (my-name-is, good-morning)
        return "unknown"


def people_vocabulary(glosses: Iterable[str], signers: Iterable[str]) -> PeopleVocabulary:
    """From the crowd's (gloss, signer group) labels: asl-coffee's words plus each crowd word
    at least :data:`MIN_GROUPS` groups recorded."""
    groups: dict[str, set[str]] = defaultdict(set)
    for gloss, signer in zip(glosses, signers, strict=True):
        groups[crowd_gloss(gloss)].add(signer)
    counts = {g: len(s) for g, s in sorted(groups.items())}
    candidates = {
        g
        for g, n in counts.items()
        if n >= MIN_GROUPS and g != IDLE and not _is_letter(g) and g not in AMBIGUOUS | MEANS_A_WORD
    } | set(ASL_COFFEE_WORDS)
    words = {g for g in candidates if not _is_phrase_of(g, candidates - {g})}
    return PeopleVocabulary(tuple(sorted(words)), counts)


def assign_folds(signers: Iterable[str]) -> dict[str, int]:
    """Each person's fold: asl-coffee's fixed, the others dealt round-robin in the order of
    their names' sha1 (stable across machines and Python runs, unrelated to who they are)."""
    crowd = sorted(
        set(signers) - set(ASL_COFFEE_FOLDS), key=lambda s: hashlib.sha1(s.encode()).hexdigest()
    )
    return dict(ASL_COFFEE_FOLDS) | {
        s: (k + len(ASL_COFFEE_FOLDS)) % FOLDS for k, s in enumerate(crowd)
    }


def _crowd_labels(root: Path) -> tuple[list[str], list[str]]:
    from engine.arrayfile import load_npz

    arrays = load_npz(root / CROWD_NPZ, keys=("gloss", "signer"))
    return [str(g) for g in arrays["gloss"]], [str(s) for s in arrays["signer"]]


def _labelled(
    items: Iterable[ImportItem], dataset: str, gloss_of: dict[str, str], folds: dict[str, int]
) -> Iterator[ImportItem]:
    """The sequences whose gloss ``gloss_of`` maps, relabelled, with their fold and dataset."""
    for item in items:
        if isinstance(item, ImportProblem):
            yield item
            continue
        original = item.glosses[0]
        if original not in gloss_of:
            continue
        extra = dict(item.extra) | {
            "fold": str(folds[item.signer]),
            "dataset": dataset,
            "label": original,
        }
        yield item.replace(glosses=(gloss_of[original],), extra=extra)


def build_people(root: Path, target: Path) -> tuple[PeopleVocabulary, ImportReport]:
    """Import asl-coffee's vocabulary words and rest, and the crowd's, into ``target`` (once).

    Resumable: an interrupted import appends only the clips it lacks.
    """
    return _build(root, target, ("word", "idle"), with_asl_coffee=True)


def build_unknown(root: Path, target: Path) -> tuple[PeopleVocabulary, ImportReport]:
    """The crowd's signs the default vocabulary does not have (letters, words below the
    threshold), each clip with its person's fold: false accepts on people never seen."""
    return _build(root, target, ("unknown",), with_asl_coffee=False)


def build_distract(root: Path, target: Path) -> tuple[PeopleVocabulary, ImportReport]:
    """The :data:`DISTRACT` half of the unknown signs: training distractors (``data.distractors``
    in ``training/configs/people.toml``), each clip with its person's fold so that a training
    leaves its held-out people's out."""
    return _build(root, target, ("unknown",), with_asl_coffee=False, half=DISTRACT)


def _build(
    root: Path,
    target: Path,
    roles: tuple[str, ...],
    with_asl_coffee: bool,
    half: str | None = None,
) -> tuple[PeopleVocabulary, ImportReport]:
    """The clips of the crowd whose gloss has one of ``roles`` (and, with ``half``, is in that
    half of :func:`unknown_half`; and asl-coffee's words and rest), relabelled, into
    ``target``, unless a complete import is there."""
    crowd_glosses, crowd_signers = _crowd_labels(root)
    vocab = people_vocabulary(crowd_glosses, crowd_signers)
    folds = assign_folds(crowd_signers)
    if not _incomplete(target):
        return vocab, ImportReport()
    ds = Dataset.open_or_create(target)
    crowd = {
        g: crowd_gloss(g)
        for g in set(crowd_glosses)
        if vocab.role(crowd_gloss(g)) in roles
        and (half is None or unknown_half(crowd_gloss(g)) == half)
    }
    items = _labelled(import_npz(root / CROWD_NPZ, include_glosses=crowd), "crowd", crowd, folds)
    if with_asl_coffee:
        coffee = {g: g for g in (*ASL_COFFEE_WORDS, IDLE)}
        from_coffee = _labelled(import_npz(root / ASL_COFFEE_NPZ), "asl-coffee", coffee, folds)
        items = itertools.chain(from_coffee, items)
    report = write_import(ds, items)
    _mark_complete(target)
    return vocab, report


COMPLETE = "complete"  # a marker file: the import ran to its end


def _incomplete(target: Path) -> bool:
    return not (target / COMPLETE).exists()


def _mark_complete(target: Path) -> None:
    from engine.atomic import atomic_write_text

    atomic_write_text(target / COMPLETE, "imported to the end\n")


def fold_signers(infos: Iterable[SampleInfo], fold: int) -> tuple[str, ...]:
    """The people of ``fold`` among a dataset's sample infos (``extra["fold"]``)."""
    return tuple(sorted({i.signer for i in infos if i.extra.get("fold") == str(fold)}))


def unknown_sequences(dataset: Dataset, signers: Iterable[str]) -> list[LandmarkSequence]:
    """The unknown-sign clips of ``signers`` (people held out of a training)."""
    wanted = set(signers)
    return [dataset[i.index] for i in dataset.infos if i.signer in wanted]


def ensure_people(root: Path | None = None, data_dir: Path | None = None) -> PeopleVocabulary:
    """``data/people``, ``data/crowd-unknown`` and ``data/crowd-distract`` imported from the
    shared data (once)."""
    from engine.data_root import data_root
    from training.data.registry import DATA_DIR

    shared, folder = data_root(root), data_dir or DATA_DIR
    for need in (CROWD_NPZ, ASL_COFFEE_NPZ):
        if not (shared / need).is_file():
            raise FileNotFoundError(
                f"{shared / need} is missing: set SIGNSTREAM_DATA to the shared data"
            )
    vocab, _ = build_people(shared, folder / "people")
    build_unknown(shared, folder / "crowd-unknown")
    build_distract(shared, folder / "crowd-distract")
    return vocab
