"""Evaluate a model on held-out signers: continuous WER (greedy, beam + LM with a weight sweep)
and isolated top-1 accuracy. Prints a table and writes JSON.

The model is a training checkpoint (``.pt``, run in PyTorch) or an exported ONNX file (run in
ONNX Runtime exactly as the app runs it). The test data is the run's: sentences synthesised
only from the held-out signers' samples, and those signers' isolated samples. Decoding goes
through the engine's :class:`~engine.decoder.GlossDecoder`, the decoder the app uses, and a
model that rejects unknown signs (:mod:`engine.rejection`) drops the glosses its rejector
drops, as the app does (``reject=False``: keep them, to measure what rejection costs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.atomic import atomic_write_text
from engine.decoder import DecoderConfig, DecodeResult, GlossDecoder
from engine.rejection import Rejector
from engine.vocabulary import Vocabulary
from training.config import DataConfig, TrainConfig
from training.data.conditions import Condition
from training.data.sentences import Example, SentenceData, clip_choice
from training.wer import corpus_wer

__all__ = [
    "EvalReport",
    "LoadedModel",
    "beam_wer",
    "evaluate",
    "heldout_summary",
    "known_only",
    "load_for_eval",
]

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 1.0, 1.5)
FloatArray = npt.NDArray[np.float32]
# per example: log-probs (T, C) and, for a model with a rejector, embeddings (T, H)
Output = tuple[FloatArray, FloatArray | None]
OutputFn = Callable[[Sequence[Example]], list[Output]]


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint or ONNX model ready to evaluate."""

    outputs: OutputFn
    vocab: Vocabulary
    config: TrainConfig
    rejector: Rejector | None  # None: the model accepts every gloss

    def log_probs(self, examples: Sequence[Example]) -> list[FloatArray]:
        return [lp for lp, _ in self.outputs(examples)]


def known_only(
    result: DecodeResult,
    log_probs: FloatArray,
    embeddings: FloatArray | None,
    rejector: Rejector | None,
    vocabulary: Vocabulary,
) -> DecodeResult:
    """``result`` (decoded from ``log_probs``) without the glosses ``rejector`` drops, as the
    engine drops them."""
    if rejector is None or embeddings is None or not result.glosses:
        return result
    return rejector.drop_unknown(result, log_probs, embeddings, vocabulary)


@dataclass
class EvalReport:
    model: str
    signers: tuple[str, ...]
    sentences: int
    greedy: dict[str, float | int]  # WerCounts.as_dict() of greedy decoding
    beam: dict[str, dict[str, float | int]] = field(default_factory=dict)  # alpha -> counts
    best_alpha: float | None = None
    isolated_accuracy: float | None = None  # top-1 over isolated samples (idle included)
    isolated_samples: int = 0
    seconds: float = 0.0
    rejection: bool = False  # the model's rejector dropped glosses it took for unknown signs
    condition: str = ""  # the test sentences changed as training.data.conditions names ("": none)
    # with a rejector: beam + LM WER per alpha had it kept every gloss
    beam_no_rejection: dict[str, dict[str, float | int]] = field(default_factory=dict)
    isolated_accuracy_no_rejection: float | None = None
    greedy_no_rejection: dict[str, float | int] = field(default_factory=dict)

    @property
    def best_beam_wer(self) -> float | None:
        if self.best_alpha is None:
            return None
        return float(self.beam[str(self.best_alpha)]["wer"])

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["best_beam_wer"] = self.best_beam_wer
        return d

    def table(self) -> str:
        rows = [f"model {self.model}  |  held-out signers {', '.join(self.signers)}"]
        rows.append(f"{'decoding':<24}{'WER':>8}{'sub':>7}{'del':>7}{'ins':>7}")

        def row(name: str, c: dict[str, float | int]) -> str:
            return (
                f"{name:<24}{100 * float(c['wer']):>7.2f}%{c['substitutions']:>7}"
                f"{c['deletions']:>7}{c['insertions']:>7}"
            )

        rows.append(row("greedy", self.greedy))
        for alpha, c in self.beam.items():
            mark = " *" if self.best_alpha is not None and alpha == str(self.best_alpha) else ""
            rows.append(row(f"beam + LM alpha={alpha}{mark}", c))
        if self.isolated_accuracy is not None:
            rows.append(
                f"isolated top-1: {100 * self.isolated_accuracy:.2f}% of {self.isolated_samples}"
            )
        return "\n".join(rows)


def load_for_eval(model_path: str | Path, data: DataConfig | None = None) -> LoadedModel:
    """A checkpoint or ONNX model with its vocabulary, run config and rejector."""
    path = Path(model_path)
    if path.suffix == ".onnx":
        from engine.model import OnnxModel

        onnx = OnnxModel(path, device="cpu", threads=0)
        config = TrainConfig(features=onnx.info.feature_spec.to_dict(), data=data or DataConfig())

        def run_onnx(examples: Sequence[Example]) -> list[tuple[FloatArray, FloatArray | None]]:
            return [onnx.infer(e.features) for e in examples]

        return LoadedModel(run_onnx, onnx.info.vocabulary, config, onnx.info.rejector)

    import torch
    from torch.nn import functional as F

    from training.batches import batches
    from training.checkpoint import load_checkpoint
    from training.rejection import RejectionFit

    ck = load_checkpoint(path)
    model = ck.model().eval()
    config = ck.config if data is None else replace(ck.config, data=data)
    fit = RejectionFit.from_dict(ck.extra["rejection"]) if "rejection" in ck.extra else None

    @torch.no_grad()
    def run_torch(examples: Sequence[Example]) -> list[tuple[FloatArray, FloatArray | None]]:
        out: list[tuple[FloatArray, FloatArray | None]] = []
        for batch in batches(examples, 64):
            o = model(batch.x, batch.lengths)
            lp = F.log_softmax(o.logits.float(), dim=-1).numpy()
            emb = None if fit is None else o.hidden.float().numpy() @ fit.whitening
            for i, n in enumerate(batch.lengths.tolist()):
                out.append((lp[i, :n], None if emb is None else emb[i, :n]))
        return out

    return LoadedModel(run_torch, ck.vocab, config, None if fit is None else fit.rejector())


def _isolated_prediction(result: DecodeResult) -> str:
    """The one gloss an isolated clip is taken to be ("" = nothing, i.e. idle)."""
    k = clip_choice(result)
    return "" if k is None else result.glosses[k]


def evaluate(
    model_path: str | Path,
    lm_path: str | Path | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    beta: float = 1.0,
    beam_width: int = 10,
    data: DataConfig | None = None,
    out_json: str | Path | None = None,
    isolated: bool = True,
    reject: bool = True,
    condition: Condition | None = None,
) -> EvalReport:
    """Held-out WER (greedy; beam + LM for each alpha) and isolated top-1; ``condition``: the
    test sentences as another webcam or signer shows them (:mod:`training.data.conditions`, e.g.
    ``mirrored``: a mirrored webcam, a left-handed signer); ``reject``: drop the glosses the
    model's rejector drops (if it has one)."""
    t0 = time.perf_counter()
    loaded = load_for_eval(model_path, data)
    vocab, config = loaded.vocab, loaded.config
    rejector = loaded.rejector if reject else None
    sentence_data = SentenceData(config.data, config.feature_spec)
    if sentence_data.vocab != vocab:
        raise ValueError(
            f"the model's glosses {vocab.glosses} are not those of its data "
            f"{sentence_data.vocab.glosses}"
        )
    test = sentence_data.fixed("test", condition)
    outs = loaded.outputs(test)
    greedy = GlossDecoder(vocab)
    refs = [list(e.glosses) for e in test]
    greedy_results = [greedy.decode(lp) for lp, _ in outs]
    greedy_hyps = (
        known_only(r, lp, emb, rejector, vocab).glosses
        for r, (lp, emb) in zip(greedy_results, outs, strict=True)
    )
    report = EvalReport(
        model=str(model_path),
        signers=sentence_data.test_signers,
        sentences=len(test),
        greedy=corpus_wer(zip(refs, greedy_hyps, strict=True)).as_dict(),
        rejection=rejector is not None,
        condition=condition.name if condition else "",
    )
    if rejector is not None:
        kept_all = (r.glosses for r in greedy_results)
        report.greedy_no_rejection = corpus_wer(zip(refs, kept_all, strict=True)).as_dict()
    if lm_path is not None:
        _beam_sweep(report, outs, refs, vocab, lm_path, alphas, beta, beam_width, rejector)
    if isolated:
        _isolated(report, sentence_data.isolated("test"), loaded, greedy, rejector)
    report.seconds = time.perf_counter() - t0
    if out_json is not None:
        atomic_write_text(out_json, json.dumps(report.to_dict(), indent=1))
    return report


def _beam_sweep(
    report: EvalReport, outs: Sequence[Output], refs: Sequence[list[str]], vocab: Vocabulary,
    lm_path: str | Path, alphas: Sequence[float], beta: float, beam_width: int,
    rejector: Rejector | None,
) -> None:  # fmt: skip
    """Beam + LM WER for each alpha into ``report`` (and without rejection, with a rejector)."""
    beam = GlossDecoder(
        vocab, str(lm_path), DecoderConfig(method="beam", beam_width=beam_width, beta=beta)
    )
    for alpha in alphas:
        beam.update(replace(beam.config, alpha=alpha))
        results = [beam.decode(lp) for lp, _ in outs]
        hyps = (
            known_only(r, lp, emb, rejector, vocab).glosses
            for r, (lp, emb) in zip(results, outs, strict=True)
        )
        report.beam[str(alpha)] = corpus_wer(zip(refs, hyps, strict=True)).as_dict()
        if rejector is not None:  # what rejection costs on known signs
            kept_all = (r.glosses for r in results)
            wer = corpus_wer(zip(refs, kept_all, strict=True)).as_dict()
            report.beam_no_rejection[str(alpha)] = wer
    report.best_alpha = float(min(report.beam, key=lambda a: float(report.beam[a]["wer"])))
    beam.close()


def _isolated(
    report: EvalReport, iso: Sequence[Example], loaded: LoadedModel, greedy: GlossDecoder,
    rejector: Rejector | None,
) -> None:  # fmt: skip
    """Isolated top-1 over the held-out signers' clips into ``report``."""
    correct, correct_plain = 0, 0
    for e, (lp, emb) in zip(iso, loaded.outputs(iso), strict=True):
        plain = greedy.decode(lp)
        r = known_only(plain, lp, emb, rejector, greedy.vocabulary)
        want = e.glosses[0] if e.glosses else ""
        correct += _isolated_prediction(r) == want
        correct_plain += _isolated_prediction(plain) == want
    report.isolated_accuracy = correct / max(1, len(iso))
    if rejector is not None:
        report.isolated_accuracy_no_rejection = correct_plain / max(1, len(iso))
    report.isolated_samples = len(iso)


def beam_grid(evaluation: dict[str, Any], rejection: bool = True) -> dict[str, dict[str, Any]]:
    """The beam + LM WER counts per alpha (a string key) of an :meth:`EvalReport.to_dict`,
    with the model's rejection of unknown signs or without it (a model without a rejector:
    the same)."""
    without: dict[str, dict[str, Any]] = (
        {} if rejection else evaluation.get("beam_no_rejection") or {}
    )
    return without or evaluation["beam"]


def beam_wer(evaluation: dict[str, Any], rejection: bool = True) -> tuple[float, float]:
    """``(WER, alpha)``: the best beam + LM WER of an :meth:`EvalReport.to_dict` over its
    alphas (:func:`beam_grid`)."""
    beam = beam_grid(evaluation, rejection)
    alpha = min(beam, key=lambda a: float(beam[a]["wer"]))
    return float(beam[alpha]["wer"]), float(alpha)


def heldout_summary(metrics: dict[str, Any], rejection: bool = True) -> dict[str, Any]:
    """What a model's metadata keeps of an evaluation (``EvalReport.to_dict()``), with its
    rejection of unknown signs or without (the model as exported)."""
    wer, alpha = beam_wer(metrics, rejection)
    iso, greedy = metrics["isolated_accuracy"], metrics["greedy"]
    if not rejection and metrics.get("isolated_accuracy_no_rejection") is not None:
        iso = metrics["isolated_accuracy_no_rejection"]
    if not rejection and metrics.get("greedy_no_rejection"):
        greedy = metrics["greedy_no_rejection"]
    return {
        "signers": metrics["signers"],
        "wer_greedy": greedy["wer"],
        "wer_beam_lm": wer,
        "lm_alpha": alpha,
        "isolated_top1": iso,
        "rejection": rejection and bool(metrics.get("rejection")),
    }
