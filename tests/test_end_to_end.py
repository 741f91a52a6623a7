"""The shipped model through the whole engine on REAL held-out-signer landmarks.

Sentences are made of the held-out signer's own asl-coffee samples joined with that signer's
idle samples (never seen in training), replayed as a landmark recording through sources,
features, ONNX Runtime, stitching, the streaming decoder and the LM; the WER must be close to
the held-out WER the model carries from docs/RESULTS.md's recipe.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.events import ErrorEvent, FrameEvent, GlossEvent
from engine.landmarks import LandmarkSequence
from engine.model import read_model_info
from engine.model_index import default_model, lm_beside
from engine.pipeline import Pipeline, PipelineConfig, run_source
from engine.sources import replay_sequences
from tests.conftest import REPO
from training.data.grammar import load_grammar
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize
from training.importers.base import write_import
from training.importers.npz_sets import import_npz
from training.wer import corpus_wer

MODEL = default_model() or REPO / "models" / "index.json names no default"
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


@pytest.mark.parametrize("mirrored", [False, True], ids=["as-recorded", "mirrored"])
def test_shipped_model_on_real_held_out_signer(held_out: Dataset, mirrored: bool) -> None:
    """Mirrored: the same sentences as a mirrored webcam or a left-handed signer shows them;
    the shipped model makes the signing hand canonical, live (engine.handedness)."""
    info = read_model_info(MODEL)
    if mirrored:
        assert info.feature_spec.canonical_hand, "the shipped model must not care which hand signs"
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
    if mirrored:
        sentences = [s.mirrored() for s in sentences]
    lm = lm_beside(MODEL)
    pipeline = Pipeline(PipelineConfig(model=str(MODEL), lm=str(lm) if lm else None))
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


# committed glosses per minute of the held-out signer's real idle samples that the shipped model
# may produce: asl-coffee's idle class holds raised hands and other movements a model can take
# for signs. The asl-coffee generalist gave ~2.5/min on this minute; the people model of 15
# epochs under 6, the one of 20 epochs (2026-12-04, +3.4 points of top-1 on people never seen)
# 10.0, the one of 40 epochs (2026-12-07, +7.7 points) 8.3. A regression bound, not the goal
# (the issue's: <= 1 a minute, bench/streaming.py).
IDLE_SIGNER_MAX_PER_MIN = 10.0


def test_idle_input_commits_nothing_or_little(held_out: Dataset) -> None:
    """Nobody in the picture, a person with the hands out of view: nothing at all. The
    held-out signer's real idle samples (a minute, joined smoothly): under the bound. Short
    inputs keep the default test run fast; bench/streaming.py measures the rate at length."""
    info = read_model_info(MODEL)
    idx = [i.index for i in held_out.infos if i.gloss == "-"]
    pool = SamplePool(collect_samples(held_out, idx))
    idle = next(iter(synthesize(pool, [()], SynthesisConfig(idle_seconds=(60.0, 60.0)), seed=5)))
    short = slice(0, round(10 * idle.fps))  # nothing to see: 10 s tell as much as a minute
    hidden = replace(
        idle,
        present=idle.present[short].copy(),
        points=idle.points[short].copy(),
        timestamps=idle.timestamps[short],
    )
    hidden.present[:, 1:3] = False
    hidden.points[:, 33:75] = 0.0
    empty = LandmarkSequence.empty_like(hidden.num_frames, fps=info.fps)
    lm = MODEL.with_suffix(".arpa")
    config = PipelineConfig(model=str(MODEL), lm=str(lm) if lm.exists() else None)
    rates = {}
    for name, seq in (("empty", empty), ("hidden", hidden), ("signer", idle)):
        events = run_source(config, replay_sequences([seq]), fast=True)
        commits = [e for e in events if isinstance(e, GlossEvent) and e.is_commit]
        glosses = [g for e in commits for g in e.glosses]
        rates[name] = len(glosses) / (seq.num_frames / info.fps / 60)
    print(f"idle false glosses per minute: {rates}")
    assert rates["empty"] == 0 and rates["hidden"] == 0
    assert rates["signer"] <= IDLE_SIGNER_MAX_PER_MIN


def test_real_video_through_mediapipe_and_the_shipped_model(shared_data: Path) -> None:
    """A real video file (a person signing FOOTBALL, not in the vocabulary) through MediaPipe,
    the shipped model and LM: every frame processed, no error, only known glosses."""
    lm = MODEL.with_suffix(".arpa")
    config = PipelineConfig(model=str(MODEL), lm=str(lm) if lm.exists() else None)
    events = list(run_source(config, str(shared_data / "videos" / "FOOTBALL.mp4"), fast=True))
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert len(frames) >= 60  # the container says 64; OpenCV decodes 62 of them
    assert np.mean([f.present[1] or f.present[2] for f in frames]) > 0.9  # hands found
    assert not [e for e in events if isinstance(e, ErrorEvent)]
    commits = [e for e in events if isinstance(e, GlossEvent) and e.is_commit]
    vocab = set(read_model_info(MODEL).vocabulary.glosses)
    assert all(set(c.glosses) <= vocab for c in commits)
