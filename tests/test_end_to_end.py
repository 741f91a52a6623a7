"""The shipped model through the whole engine on REAL held-out-signer landmarks.

Sentences are made of the held-out signer's own asl-coffee samples joined with that signer's
idle samples (never seen in training), replayed as a landmark recording through sources,
features, ONNX Runtime, stitching, the streaming decoder and the LM; the WER must be close to
the held-out WER the model carries from docs/RESULTS.md's recipe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.events import GlossEvent
from engine.model import read_model_info
from engine.pipeline import Pipeline, PipelineConfig
from engine.sources import replay_sequences
from tests.conftest import REPO
from training.grammar import load_grammar
from training.importers.base import write_import
from training.importers.npz_sets import import_npz
from training.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize
from training.wer import corpus_wer

MODEL = REPO / "models" / "asl-coffee-student.onnx"
SENTENCES = 25
# streaming commits at pauses and sees each sign through windows; allow this much WER above
# the offline held-out figure (absolute)
STREAMING_MARGIN = 0.10

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def held_out(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} not built (signstream train recipe)")
    info = read_model_info(MODEL)
    signers = info.heldout.get("signers") or ["dmohazab"]
    ds = Dataset.create(tmp_path_factory.mktemp("e2e") / "words")
    items = (
        s for s in import_npz(shared_data / "asl-coffee" / "words.npz")
        if not hasattr(s, "signer") or s.signer in signers  # type: ignore[union-attr]
    )  # fmt: skip
    write_import(ds, items)
    return ds


def test_shipped_model_on_real_held_out_signer(held_out: Dataset) -> None:
    info = read_model_info(MODEL)
    vocab = set(info.vocabulary.glosses)
    idx = [i.index for i in held_out.infos if i.gloss in vocab or i.gloss == "-"]
    pool = SamplePool(collect_samples(held_out, idx))
    grammar = load_grammar(REPO / "training" / "configs" / "coffee.grammar")
    rng = np.random.default_rng(11)
    wanted: list[tuple[str, ...]] = []
    while len(wanted) < SENTENCES:
        s = tuple(grammar.sample(rng))
        if s and set(s) <= vocab and pool.signers_for(s):
            wanted.append(s)
    config = SynthesisConfig(idle_before=1.0, idle_after=1.0, idle_between=0.0)
    sentences = list(synthesize(pool, wanted, config, seed=11))
    lm = MODEL.with_suffix(".arpa")
    pipeline = Pipeline(PipelineConfig(model=str(MODEL), lm=str(lm) if lm.exists() else None))
    hyps = []
    for seq in sentences:  # one stream per sentence: its committed glosses are the hypothesis
        pipeline.start(replay_sequences([seq], realtime=False))
        commits = [e for e in pipeline.events() if isinstance(e, GlossEvent) and e.is_commit]
        hyps.append([g for c in commits for g in c.glosses])
    pipeline.close()
    wer = corpus_wer(zip([list(s.glosses) for s in sentences], hyps, strict=True)).wer
    reported = info.heldout["wer_beam_lm"]
    print(f"streaming WER {wer:.3f} on {len(sentences)} sentences; offline {reported:.3f}")
    assert wer <= reported + STREAMING_MARGIN, f"streaming WER {wer:.3f} vs offline {reported:.3f}"
