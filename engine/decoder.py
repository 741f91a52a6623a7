"""CTC decoding of gloss posteriors: greedy, or beam search with a KenLM gloss language model.

Input is the model's log-softmax output, ``(T, C) float32`` with ``C = len(glosses) + 1`` and
class 0 the CTC blank (:mod:`engine.vocabulary`). Output is a :class:`DecodeResult`: glosses,
a confidence and a frame span ``[start, end)`` for each, and a score.

* Greedy (no LM): the best class per frame, repeats merged, blanks dropped.
* Beam (an LM is loaded): pyctcdecode's CTC prefix beam search with shallow fusion of the
  KenLM model. Each gloss is one LM word: the labels are ``[""] + ["▁" + g for g in glosses]``,
  which puts pyctcdecode in its BPE mode where every class starts a new word, and the
  unigram list is the glosses. The LM score of a gloss is added when the next gloss starts
  (or at the end), a one-gloss delay inherent to pyctcdecode.

A beam's score is ``log P_ctc + alpha * ln P_lm + beta * glosses``; alpha, beta and the beam
width change live through :meth:`GlossDecoder.update` (no rebuild: pyctcdecode's
``reset_params``). Each frame tries at most ``beam_size_token`` classes, its most likely
(as torchaudio's decoder does): pyctcdecode's cost grows with the classes it tries, and on
uncertain posteriors this halves the time with the same best beam in most cases.

The LM is checked on load: a missing or corrupt file raises
:class:`~engine.errors.LanguageModelError`, an LM that does not know some of the model's
glosses :class:`~engine.errors.LMVocabularyMismatch`, naming them.

Confidence of a gloss = mean posterior of its class over its frames, in [0, 1]: greedy, the
frames where the best path emits it; beam, the frames within ``SPAN_SLACK`` of pyctcdecode's
word span where the class is the best (:func:`gloss_confidence`). pyctcdecode's word spans of a
real model's output are often a frame or two beside the class's spike, and the mean over the
span alone gave a gloss the model was sure of a confidence near 0: of the right glosses in 100
sentences of a held-out signer (TheCamNelson, a people model that never saw him), 8.8% were under
0.05 that way and 1.4% are this way (the median right gloss: 0.67 -> 0.98).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import kenlm
import numpy as np
import numpy.typing as npt
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.decoder import BeamSearchDecoderCTC
from pyctcdecode.language_model import LanguageModel

from engine.errors import DecoderError, LanguageModelError, LMVocabularyMismatch
from engine.model_index import verify_file
from engine.vocabulary import BLANK, Vocabulary

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BEAM_SIZE_TOKEN",
    "DEFAULT_BEAM_WIDTH",
    "DEFAULT_BETA",
    "DecodeMethod",
    "DecodeResult",
    "DecoderConfig",
    "GlossDecoder",
    "gloss_confidence",
    "gloss_frames",
    "greedy_decode",
]

# T = 60 frames, 16 classes, 2-core CPU: ~1 ms on peaky posteriors, ~7 ms on uncertain ones
# (top-k 4); a width of 50 costs ~4x more on uncertain input
DEFAULT_BEAM_WIDTH = 10
# LM weight and gloss bonus: starting points until `signstream train evaluate` sweeps them
DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 1.0
DEFAULT_BEAM_PRUNE_LOGP = -10.0  # pyctcdecode's default
DEFAULT_TOKEN_MIN_LOGP = -5.0  # pyctcdecode's default
DEFAULT_BEAM_SIZE_TOKEN = 4  # classes tried per frame (top-k): the cost grows with it
MASKED_LOGP = -1.0e4  # log-prob given to classes outside a frame's top k (never tried)
SPAN_SLACK = 2  # frames either side of a beam word span searched for its class's winning frames
CLIPPED_LOGP = math.log(1e-15)  # pyctcdecode's floor for log-probs (MIN_TOKEN_CLIP_P)
DEFAULT_UNK_SCORE_OFFSET = -10.0  # pyctcdecode's default; unused once the LM is validated
WORD_MARKER = "▁"  # pyctcdecode's BPE word-start marker: every gloss label starts a word
LM_SPECIAL_WORDS = ("<s>", "</s>", "<unk>")
# What a user whose LM is missing or broken can do: the decoder cannot know whether the CLI or
# the app asked for it, so it names the CLI's options (the app's LM switch does the same).
NO_LM_HINT = (
    "run with --no-lm for greedy decoding, or give --lm PATH; `signstream train lm` builds one"
)
KENLM_COMPLAIN_NONE = 2  # lm::ngram::Config::NONE: no "build a binary file" note on stderr

DecodeMethod = Literal["auto", "greedy", "beam"]
FloatArray = npt.NDArray[np.floating[Any]]

# pyctcdecode warnings that are expected with gloss-level labels (each message template is
# matched exactly; anything else it logs still gets through):
_HARMLESS_WARNINGS = frozenset(
    {
        # we have no UNK class: glosses outside the vocabulary cannot be emitted at all
        "UNK token %s not found, is this a mistake?",
        # character-coverage heuristic meant for BPE pieces, not for whole-gloss labels
        "Unigrams and labels don't seem to agree.",
        # sign vocabularies are small by nature
        "Only %s unigrams passed as vocabulary. Is this small or artificial data?",
    }
)
_PYCTCDECODE_LOGGERS = ("pyctcdecode.alphabet", "pyctcdecode.language_model", "pyctcdecode.decoder")


class _DropHarmless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _HARMLESS_WARNINGS


@contextmanager
def _quiet_pyctcdecode() -> Iterator[None]:
    flt = _DropHarmless()
    loggers = [logging.getLogger(name) for name in _PYCTCDECODE_LOGGERS]
    for lg in loggers:
        lg.addFilter(flt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(flt)


@dataclass(frozen=True)
class DecoderConfig:
    """How :class:`GlossDecoder` decodes; change live with :meth:`GlossDecoder.update`."""

    # "auto": beam search when an LM is loaded, else greedy; "greedy"/"beam" force one
    # ("beam" without an LM is plain CTC prefix beam search)
    method: DecodeMethod = "auto"
    beam_width: int = DEFAULT_BEAM_WIDTH  # hypotheses kept per frame; cost grows with it
    alpha: float = DEFAULT_ALPHA  # LM weight on the natural-log LM probability
    beta: float = DEFAULT_BETA  # score bonus per gloss, against the LM's taste for short output
    beam_prune_logp: float = DEFAULT_BEAM_PRUNE_LOGP  # drop beams this far below the best (log)
    token_min_logp: float = DEFAULT_TOKEN_MIN_LOGP  # skip classes below this log-prob per frame
    # and try at most this many classes per frame, the most likely (0: all above token_min_logp)
    beam_size_token: int = DEFAULT_BEAM_SIZE_TOKEN
    prune_history: bool = False  # merge beams with the same LM history: faster, less diverse
    unk_score_offset: float = DEFAULT_UNK_SCORE_OFFSET  # log penalty for a gloss unknown to the LM
    # score <s> before the first gloss and </s> after the last (off for mid-sentence chunks)
    score_boundary: bool = True

    def __post_init__(self) -> None:
        if self.method not in ("auto", "greedy", "beam"):
            raise ValueError(f"method must be auto, greedy or beam, got {self.method!r}")
        if self.beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {self.beam_width}")
        if self.beam_size_token < 0:
            raise ValueError(f"beam_size_token must be >= 0, got {self.beam_size_token}")
        for name in ("alpha", "beta", "beam_prune_logp", "token_min_logp", "unk_score_offset"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.alpha < 0:
            raise ValueError(f"alpha (LM weight) must be >= 0, got {self.alpha}")
        if self.beam_prune_logp > 0 or self.token_min_logp > 0:
            raise ValueError("beam_prune_logp and token_min_logp are log-probabilities (<= 0)")
        if self.token_min_logp <= CLIPPED_LOGP:
            # pyctcdecode clips every log-prob to >= CLIPPED_LOGP, the top-k mask included
            raise ValueError(f"token_min_logp must be > {CLIPPED_LOGP:.1f}")


@dataclass(frozen=True)
class DecodeResult:
    """Decoded glosses with a confidence and a frame span each (parallel tuples)."""

    glosses: tuple[str, ...]  # in order
    confidences: tuple[float, ...]  # mean posterior of each gloss's class over its frames
    spans: tuple[tuple[int, int], ...]  # [start, end) frame indices of each gloss
    # greedy: log-prob of the best path; beam: acoustic + alpha * LM + beta * glosses
    score: float
    acoustic_score: float  # greedy: as score; beam: the CTC prefix log-prob alone
    method: Literal["greedy", "beam"]  # the method that produced it
    num_frames: int = 0  # T of the decoded input

    @property
    def lm_score(self) -> float:
        """The LM's share of the score: alpha * ln P_lm + beta * glosses (0 for greedy)."""
        return self.score - self.acoustic_score

    @property
    def text(self) -> str:
        return " ".join(self.glosses)

    def __len__(self) -> int:
        return len(self.glosses)


def _check_log_probs(log_probs: FloatArray, num_classes: int) -> FloatArray:
    lp = np.asarray(log_probs)
    if lp.ndim != 2 or lp.shape[1] != num_classes:
        raise DecoderError(
            f"expected log-probabilities of shape (T, {num_classes}) (glosses + blank), "
            f"got {lp.shape}; is the model's vocabulary the decoder's?"
        )
    if not np.issubdtype(lp.dtype, np.floating):
        raise DecoderError(f"log-probabilities must be floating point, got {lp.dtype}")
    if np.isnan(lp).any() or (lp == np.inf).any():
        raise DecoderError("log-probabilities contain NaN or +inf (a broken model output)")
    return lp


def greedy_decode(log_probs: FloatArray, vocabulary: Vocabulary) -> DecodeResult:
    """Best class per frame, repeats merged, blanks dropped.

    ``log_probs``: ``(T, C) float`` log-softmax output, class 0 the blank.
    """
    lp = _check_log_probs(log_probs, vocabulary.num_classes)
    num_frames = lp.shape[0]
    if num_frames == 0:
        return DecodeResult((), (), (), 0.0, 0.0, "greedy", 0)
    best = lp.argmax(axis=1)  # (T,)
    path_score = float(lp[np.arange(num_frames), best].sum())
    boundaries = np.flatnonzero(best[1:] != best[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [num_frames]))
    glosses: list[str] = []
    confidences: list[float] = []
    spans: list[tuple[int, int]] = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        cls = int(best[s])
        if cls == BLANK:
            continue
        glosses.append(vocabulary.glosses[cls - 1])
        confidences.append(float(np.exp(lp[s:e, cls]).mean()))
        spans.append((s, e))
    return DecodeResult(
        tuple(glosses),
        tuple(confidences),
        tuple(spans),
        path_score,
        path_score,
        "greedy",
        num_frames,
    )


def gloss_frames(
    log_probs: FloatArray, cls: int, span: tuple[int, int], slack: int = 0
) -> npt.NDArray[np.intp]:
    """Frames of a decoded gloss of class ``cls`` over ``span`` ``[start, end)`` of
    ``log_probs`` ``(T, C)``: those within ``slack`` frames of the span where ``cls`` is the
    best class, else the whole span.

    Decoders' spans can be a few frames off (pyctcdecode's word frames), and blank frames in a
    span carry no sign: the winning frames are the sign's own.
    """
    start = max(0, min(span[0], len(log_probs) - 1))
    end = max(start + 1, min(span[1], len(log_probs)))
    lo, hi = max(0, start - slack), min(len(log_probs), end + slack)
    near = np.arange(lo, hi)
    winning = near[log_probs[lo:hi].argmax(axis=1) == cls]
    return winning if len(winning) else np.arange(start, end)


def gloss_confidence(lp: FloatArray, cls: int, span: tuple[int, int]) -> float:
    """Mean posterior of class ``cls`` of ``lp`` ``(T, C)`` over the frames within
    ``SPAN_SLACK`` of ``span`` ``[start, end)`` where it is the best class; where it wins none
    of them (a gloss the LM chose over the acoustics), over the span itself."""
    return float(np.exp(lp[gloss_frames(lp, cls, span, SPAN_SLACK), cls]).mean())


def _logsumexp_rows(x: FloatArray) -> FloatArray:
    m = x.max(axis=1)
    return m + np.log(np.exp(x - m[:, None]).sum(axis=1))  # type: ignore[no-any-return]


def _top_k_per_frame(lp: FloatArray, k: int) -> FloatArray:
    """``lp`` with the classes outside each frame's ``k`` best set to :data:`MASKED_LOGP`."""
    num_classes = lp.shape[1]
    if k <= 0 or k >= num_classes:
        return lp
    kth = np.partition(lp, num_classes - k, axis=1)[:, num_classes - k, None]  # (T, 1)
    return np.where(lp >= kth, lp, np.asarray(MASKED_LOGP, dtype=lp.dtype))


class GlossDecoder:
    """Greedy or LM beam-search CTC decoder for one model's vocabulary.

    ``lm_path``: a KenLM model (ARPA or binary), or None for greedy decoding. Thread-safe:
    :meth:`update` may be called from another thread while :meth:`decode` runs (it waits for
    the decode in progress).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        lm_path: str | os.PathLike[str] | None = None,
        config: DecoderConfig | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self._config = config or DecoderConfig()
        self._lock = threading.Lock()
        self._class_of = {g: i + 1 for i, g in enumerate(vocabulary.glosses)}
        bad = [g for g in vocabulary.glosses if WORD_MARKER in g]
        if bad:
            raise DecoderError(f"gloss names cannot contain {WORD_MARKER!r}: {bad}")

        self.lm_path: Path | None = None if lm_path is None else Path(lm_path)
        self._kenlm: Any = None
        self._lm: LanguageModel | None = None
        if self.lm_path is not None:
            self._kenlm = _load_kenlm(self.lm_path, vocabulary)
            cfg = self._config
            with _quiet_pyctcdecode():
                self._lm = LanguageModel(
                    self._kenlm,
                    unigrams=list(vocabulary.glosses),
                    alpha=float(cfg.alpha),
                    beta=float(cfg.beta),
                    unk_score_offset=float(cfg.unk_score_offset),
                    score_boundary=bool(cfg.score_boundary),
                )
        labels = [""] + [WORD_MARKER + g for g in vocabulary.glosses]
        with _quiet_pyctcdecode():
            alphabet = Alphabet.build_alphabet(labels)
        self._beam = BeamSearchDecoderCTC(alphabet, self._lm)
        # pyctcdecode keeps the LM in a class-level dict: free it with this decoder
        self._finalizer = weakref.finalize(self, self._beam.cleanup)

    # ------------------------------------------------------------------ properties
    @property
    def config(self) -> DecoderConfig:
        return self._config

    @property
    def has_lm(self) -> bool:
        return self._lm is not None

    @property
    def lm_order(self) -> int:
        """n-gram order of the LM (0 without one)."""
        return 0 if self._kenlm is None else int(self._kenlm.order)

    def __repr__(self) -> str:
        lm = f", lm={str(self.lm_path)!r}" if self.lm_path else ""
        return f"GlossDecoder({len(self.vocabulary)} glosses{lm}, {self._config})"

    # ------------------------------------------------------------------ control
    def update(self, config: DecoderConfig) -> None:
        """Switch to ``config`` live. Nothing is rebuilt: LM weights go through pyctcdecode's
        ``reset_params``; beam width and pruning are per-call arguments."""
        with self._lock:
            old = self._config
            if self._lm is not None:
                # None = unchanged; pyctcdecode insists on exact float/bool types
                self._beam.reset_params(
                    alpha=float(config.alpha) if config.alpha != old.alpha else None,
                    beta=float(config.beta) if config.beta != old.beta else None,
                    unk_score_offset=(
                        float(config.unk_score_offset)
                        if config.unk_score_offset != old.unk_score_offset
                        else None
                    ),
                    lm_score_boundary=(
                        bool(config.score_boundary)
                        if config.score_boundary != old.score_boundary
                        else None
                    ),
                )
            self._config = config

    def close(self) -> None:
        """Release the LM now (also happens when the decoder is garbage-collected)."""
        self._finalizer()

    # ------------------------------------------------------------------ decoding
    def decode(self, log_probs: FloatArray, context: Sequence[str] = ()) -> DecodeResult:
        """Decode ``(T, C)`` log-probabilities with the configured method.

        ``context``: glosses already committed before this chunk; the LM conditions on their
        last ``order - 1`` (its state carries across commits). Ignored by greedy decoding.
        """
        method = self._config.method
        if method == "greedy" or (method == "auto" and self._lm is None):
            return greedy_decode(log_probs, self.vocabulary)
        return self.decode_beam(log_probs, context)

    def decode_greedy(self, log_probs: FloatArray) -> DecodeResult:
        """Greedy decoding whatever the configuration (for comparisons)."""
        return greedy_decode(log_probs, self.vocabulary)

    def decode_beam(self, log_probs: FloatArray, context: Sequence[str] = ()) -> DecodeResult:
        """Beam search (with the LM when one is loaded) whatever ``config.method`` says."""
        lp = _check_log_probs(log_probs, self.vocabulary.num_classes)
        num_frames = lp.shape[0]
        if num_frames == 0:
            return DecodeResult((), (), (), 0.0, 0.0, "beam", 0)
        with self._lock:
            cfg = self._config
            search = _top_k_per_frame(lp, cfg.beam_size_token)
            # pyctcdecode renormalises each frame (log-softmax): that adds the same constant to
            # every beam, so the ranking is unchanged; add it back to report log P(input)
            shift = float(_logsumexp_rows(search).sum())
            beams = self._beam.decode_beams(
                search,
                beam_width=cfg.beam_width,
                beam_prune_logp=cfg.beam_prune_logp,
                token_min_logp=cfg.token_min_logp,
                prune_history=cfg.prune_history,
                lm_start_state=self._context_state(context, cfg),
            )
        _text, _state, word_frames, acoustic, combined = beams[0]
        acoustic += shift
        combined += shift
        glosses: list[str] = []
        confidences: list[float] = []
        spans: list[tuple[int, int]] = []
        for gloss, (start, end) in word_frames:
            cls = self._class_of[gloss]
            glosses.append(gloss)
            confidences.append(gloss_confidence(lp, cls, (int(start), int(end))))
            spans.append((int(start), int(end)))
        return DecodeResult(
            tuple(glosses),
            tuple(confidences),
            tuple(spans),
            float(combined),
            float(acoustic),
            "beam",
            num_frames,
        )

    def _context_state(self, context: Sequence[str], cfg: DecoderConfig) -> Any:
        """KenLM state after ``context`` (None: pyctcdecode starts a sentence itself)."""
        if self._kenlm is None or not context:
            return None
        state, scratch = kenlm.State(), kenlm.State()
        if cfg.score_boundary:
            self._kenlm.BeginSentenceWrite(state)
        else:
            self._kenlm.NullContextWrite(state)
        # an n-gram model only sees the last order - 1 words
        for gloss in list(context)[-max(1, self.lm_order - 1) :]:
            self._kenlm.BaseScore(state, gloss, scratch)
            state, scratch = scratch, state
        return state


def _load_kenlm(path: Path, vocabulary: Vocabulary) -> Any:
    """Open a KenLM model and check that it knows every gloss."""
    if not path.is_file():
        raise LanguageModelError(f"language model not found: {path} ({NO_LM_HINT})")
    verify_file(path, LanguageModelError)  # a shipped LM that differs from models/index.json
    config = kenlm.Config()
    config.show_progress = False  # KenLM draws a progress bar on stderr while reading an ARPA
    config.arpa_complain = KENLM_COMPLAIN_NONE
    try:
        model = kenlm.Model(str(path), config)
    except (OSError, RuntimeError, ValueError) as e:
        raise LanguageModelError(
            f"cannot load the language model {path}: not a valid KenLM ARPA or binary file "
            f"({str(e).splitlines()[0][:300]}); {NO_LM_HINT}"
        ) from e
    reserved = [g for g in vocabulary.glosses if g in LM_SPECIAL_WORDS]
    if reserved:
        raise LanguageModelError(
            f"glosses {reserved} collide with the LM's reserved words {list(LM_SPECIAL_WORDS)}"
        )
    missing = tuple(g for g in vocabulary.glosses if g not in model)
    if missing:
        hint = ""
        folded = [g for g in missing if g.lower() in model or g.upper() in model]
        if folded:
            hint = f" (the LM has {folded[0]!r} in another case: build it with --case)"
        raise LMVocabularyMismatch(str(path), missing, len(vocabulary), hint)
    return model
