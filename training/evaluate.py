"""Evaluate a model on held-out signers: continuous WER (greedy, beam + LM with a weight sweep)
and isolated top-1 accuracy. Prints a table and writes JSON.

The model is a training checkpoint (``.pt``, run in PyTorch) or an exported ONNX file (run in
ONNX Runtime exactly as the app runs it). The test data is the run's: sentences synthesised
only from the held-out signers' samples, and those signers' isolated samples. Decoding goes
through the engine's :class:`~engine.decoder.GlossDecoder`, the decoder the app uses.
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
from engine.decoder import DecoderConfig, GlossDecoder
from engine.vocabulary import Vocabulary
from training.config import DataConfig, TrainConfig
from training.sentences import Example, SentenceData
from training.wer import corpus_wer

__all__ = ["EvalReport", "evaluate", "heldout_summary", "load_for_eval"]

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 1.0, 1.5)
LogProbFn = Callable[[Sequence[Example]], list[npt.NDArray[np.float32]]]


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


def load_for_eval(
    model_path: str | Path, data: DataConfig | None = None
) -> tuple[LogProbFn, Vocabulary, TrainConfig]:
    """A log-prob function, the vocabulary and the run config of a checkpoint or ONNX model."""
    path = Path(model_path)
    if path.suffix == ".onnx":
        from engine.model import OnnxModel

        onnx = OnnxModel(path, device="cpu", threads=0)
        config = TrainConfig(features=onnx.info.feature_spec.to_dict(), data=data or DataConfig())

        def run_onnx(examples: Sequence[Example]) -> list[npt.NDArray[np.float32]]:
            return [onnx(e.features) for e in examples]

        return run_onnx, onnx.info.vocabulary, config

    import torch

    from training.trainer import load_checkpoint, predict

    ck = load_checkpoint(path)
    model = ck.model()
    config = ck.config if data is None else replace(ck.config, data=data)

    def run_torch(examples: Sequence[Example]) -> list[npt.NDArray[np.float32]]:
        return predict(model, examples, torch.device("cpu"))

    return run_torch, ck.vocab, config


def _isolated_prediction(result_glosses: Sequence[str], confidences: Sequence[float]) -> str:
    """The one gloss an isolated clip is taken to be ("" = nothing, i.e. idle)."""
    if not result_glosses:
        return ""
    return result_glosses[int(np.argmax(confidences))]


def evaluate(
    model_path: str | Path,
    lm_path: str | Path | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    beta: float = 1.0,
    beam_width: int = 10,
    data: DataConfig | None = None,
    out_json: str | Path | None = None,
    isolated: bool = True,
    mirrored: bool = False,
) -> EvalReport:
    """Held-out WER (greedy; beam + LM for each alpha) and isolated top-1; ``mirrored``: the
    test sentences mirrored (a mirrored webcam, a left-handed signer)."""
    t0 = time.perf_counter()
    log_probs, vocab, config = load_for_eval(model_path, data)
    sentence_data = SentenceData(config.data, config.feature_spec)
    if sentence_data.vocab != vocab:
        raise ValueError(
            f"the model's glosses {vocab.glosses} are not those of its data "
            f"{sentence_data.vocab.glosses}"
        )
    test = sentence_data.fixed("test", mirrored)
    lps = log_probs(test)
    greedy = GlossDecoder(vocab)
    refs = [list(e.glosses) for e in test]
    greedy_wer = corpus_wer(zip(refs, (greedy.decode(lp).glosses for lp in lps), strict=True))
    report = EvalReport(
        model=str(model_path),
        signers=sentence_data.test_signers,
        sentences=len(test),
        greedy=greedy_wer.as_dict(),
    )
    if lm_path is not None:
        beam = GlossDecoder(
            vocab, str(lm_path), DecoderConfig(method="beam", beam_width=beam_width, beta=beta)
        )
        for alpha in alphas:
            beam.update(replace(beam.config, alpha=alpha))
            hyps = (beam.decode(lp).glosses for lp in lps)
            report.beam[str(alpha)] = corpus_wer(zip(refs, hyps, strict=True)).as_dict()
        report.best_alpha = float(min(report.beam, key=lambda a: float(report.beam[a]["wer"])))
        beam.close()
    if isolated:
        iso = sentence_data.isolated("test")
        correct = 0
        for e, lp in zip(iso, log_probs(iso), strict=True):
            r = greedy.decode(lp)
            want = e.glosses[0] if e.glosses else ""
            correct += _isolated_prediction(r.glosses, r.confidences) == want
        report.isolated_accuracy = correct / max(1, len(iso))
        report.isolated_samples = len(iso)
    report.seconds = time.perf_counter() - t0
    if out_json is not None:
        atomic_write_text(out_json, json.dumps(report.to_dict(), indent=1))
    return report


def heldout_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """What a model's metadata keeps of an evaluation (``EvalReport.to_dict()``)."""
    return {
        "signers": metrics["signers"],
        "wer_greedy": metrics["greedy"]["wer"],
        "wer_beam_lm": metrics["best_beam_wer"],
        "lm_alpha": metrics["best_alpha"],
        "isolated_top1": metrics["isolated_accuracy"],
    }
