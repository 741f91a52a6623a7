"""Streaming quality and cost on REAL held-out-signer replays: JSON, and docs/STREAMING.md.

    .venv/bin/python bench/streaming.py [--model ONNX (default: models/index.json's)] [--lm ...]
        [--sentences 100] [--soak-minutes 30] [--markdown docs/STREAMING.md] [--skip soak,...]

Data: the held-out signer's (``dmohazab``, never seen in training) asl-coffee samples from
``data/asl-coffee`` (``signstream data import npz``, docs/DATA.md), joined with that signer's own
idle samples into coffee-shop sentences (:mod:`training.data.synthesis`, as the end-to-end test
does), each followed by a real idle tail so that the live commit rule, not the end of the stream,
decides when glosses are committed. Everything is replayed frame by frame through the engine's
:class:`~engine.pipeline.Recognizer` (features, ONNX Runtime, stitching, streaming decoder, LM)
on the stream clock: a commit emitted after input frame ``i`` happened ``(i + 1) / fps`` into
the stream, plus the compute time of that frame (reported separately, a few ms).

Sections of the JSON (and of the markdown):

* ``offline_vs_streaming``: WER of the whole sentence decoded at once (the recipe's offline
  figure, on these sentences) vs the glosses the streaming engine commits; commit latency from
  the end of the last sign (ground truth: the synthesised spans) to the commit that holds it,
  median / p90 / max; for each commit rule tried (hop, pause).
* ``idle``: committed glosses per minute on idle input: the held-out signer's idle samples
  joined into one stream, frames with nobody in them, and a person whose hands are out of view.
* ``tutorial_method``: the tutorial apps' recogniser on the same replays: the peer clip
  classifier (``runs/recipe/peer/peer.onnx``, raw coordinates) on the last frames, a probability
  threshold and a majority vote over the last predictions; WER, idle false glosses per minute,
  latency from sign end to output.
* ``default_mirrored`` and ``compare``: the same sentences mirrored (a mirrored webcam, a
  left-handed signer), and other models (``--compare``) with the same LM and engine defaults.
* ``decoder_ms_per_hop``: streaming decoder cost per hop vs beam width and vs how long the open
  segment is (continuous signing with no pause, so the open segment grows to its maximum).
* ``soak``: the whole threaded Pipeline replaying landmarks for N simulated minutes as fast as
  possible; RSS sampled along the way and its slope in MB per simulated minute.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.dataset import Dataset  # noqa: E402
from engine.decoder import DecoderConfig  # noqa: E402
from engine.events import GlossEvent  # noqa: E402
from engine.extractor import FrameLandmarks  # noqa: E402
from engine.features import compute_features  # noqa: E402
from engine.landmarks import LandmarkSequence  # noqa: E402
from engine.model import OnnxModel, read_model_info  # noqa: E402
from engine.model_index import default_model, lm_beside  # noqa: E402
from engine.pipeline import Pipeline, PipelineConfig, Recognizer  # noqa: E402
from engine.sources import replay_sequences  # noqa: E402
from engine.stitching import run_windowed  # noqa: E402
from engine.streaming import StreamingConfig, StreamingDecoder  # noqa: E402
from training.data.grammar import load_grammar  # noqa: E402
from training.data.synthesis import (  # noqa: E402
    SamplePool,
    SynthesisConfig,
    collect_samples,
    synthesize,
)
from training.wer import corpus_wer  # noqa: E402

FloatArray = npt.NDArray[np.float32]

DEFAULT_DATA = REPO / "data" / "asl-coffee"
DEFAULT_PEER = REPO / "runs" / "recipe" / "peer" / "peer.onnx"
GRAMMAR = REPO / "training" / "configs" / "coffee.grammar"
IDLE_GLOSS = "-"
IMAGE_SIZE = (640, 480)  # replayed landmarks are normalised to an image of this size
SEED = 11  # the end-to-end test's seed: the same kind of sentences
# every sentence is followed by this much of the signer's real idle: the live rule commits
TAIL_IDLE_S = (1.5, 2.0)


# ---------------------------------------------------------------------- data
def held_out_pool(data: Path, signers: Sequence[str]) -> tuple[Dataset, SamplePool, list[int]]:
    """The held-out signers' samples; also the dataset indices of their idle samples."""
    ds = Dataset(data)
    idx = [i.index for i in ds.infos if i.signer in signers]
    idle = [i.index for i in ds.infos if i.signer in signers and i.gloss == IDLE_GLOSS]
    return ds, SamplePool(collect_samples(ds, idx)), idle


def make_sentences(
    pool: SamplePool, vocab: Iterable[str], count: int, seed: int = SEED
) -> list[LandmarkSequence]:
    """``count`` grammar sentences rendered from the pool, idle before and a long idle after."""
    vocab = set(vocab)
    grammar = load_grammar(GRAMMAR)
    rng = np.random.default_rng(seed)
    wanted: list[tuple[str, ...]] = []
    while len(wanted) < count:
        s = tuple(grammar.sample(rng))
        if s and set(s) <= vocab and pool.signers_for(s):
            wanted.append(s)
    config = SynthesisConfig(
        idle_before=1.0, idle_after=1.0, idle_between=0.0, idle_seconds=TAIL_IDLE_S
    )
    return list(synthesize(pool, wanted, config, seed=seed))


def concat(seqs: Sequence[LandmarkSequence], fps: float) -> LandmarkSequence:
    """One stream of the sequences back to back, timestamps on one clock."""
    points = np.concatenate([s.points for s in seqs])
    present = np.concatenate([s.present for s in seqs])
    return LandmarkSequence(
        points=points,
        present=present,
        timestamps=np.arange(len(points), dtype=np.float64) / fps,
        fps=fps,
        aspect=seqs[0].aspect,
    )


# ---------------------------------------------------------------------- replay
def replay(rec: Recognizer, seq: LandmarkSequence) -> list[tuple[int, GlossEvent, float]]:
    """Feed ``seq`` frame by frame; returns (input frame index after which the event was
    emitted, event, ms of compute of that frame). Events of the end of the stream get index
    ``num_frames``."""
    out: list[tuple[int, GlossEvent, float]] = []
    stage: dict[str, float] = {}
    width, height = IMAGE_SIZE
    for i in range(seq.num_frames):
        lm = FrameLandmarks(seq.points[i], seq.present[i], float(seq.timestamps[i]), width, height)
        t0 = time.perf_counter()
        events = rec.push(lm, stage)
        ms = 1000 * (time.perf_counter() - t0)
        out += [(i, e, ms) for e in events]
    out += [(seq.num_frames, e, 0.0) for e in rec.finish(stage)]
    return out


def new_stream(rec: Recognizer) -> None:
    """A new, independent sentence: nothing (LM context included) carries over."""
    rec.reset()
    rec.streaming.reset(keep_context=False)


def commits_of(events: Sequence[tuple[int, GlossEvent, float]]) -> list[str]:
    return [g for _, e, _ in events if e.is_commit for g in e.glosses]


def output_latency(
    seq: LandmarkSequence, outputs: Sequence[tuple[int, str]], fps: float
) -> float | None:
    """Seconds from the end of the last sign to the output of its gloss.

    ``outputs``: (input frame index after which it was emitted, gloss). The output of the last
    sign is the first one emitted after that sign started that names it, else the first one
    emitted after it started at all; None when nothing came before the end of the stream.
    """
    assert seq.spans
    start, stop = seq.spans[-1]
    after = [(i, g) for i, g in outputs if start <= i < seq.num_frames]
    if not after:
        return None
    named = [i for i, g in after if g == seq.glosses[-1]]
    i = named[0] if named else after[0][0]
    return (i + 1 - stop) / fps


def commit_outputs(events: Sequence[tuple[int, GlossEvent, float]]) -> list[tuple[int, str]]:
    return [(i, g) for i, e, _ in events if e.is_commit for g in e.glosses]


def wer(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> float:
    return round(corpus_wer(zip(refs, hyps, strict=True)).wer, 4)


def pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def per_minute(count: int, frames: int, fps: float) -> float:
    return round(count / (frames / fps / 60.0), 2)


# ---------------------------------------------------------------------- offline
def _embeddings(rec: Recognizer, x: FloatArray) -> FloatArray:
    emb = rec.model.infer(x)[1]
    assert emb is not None, "a model with a rejector has embeddings"
    return emb


def offline_glosses(
    rec: Recognizer, seqs: Sequence[LandmarkSequence], stitched: bool
) -> list[list[str]]:
    """Each sentence decoded whole by the same decoder: the model on the whole sequence at
    once (``stitched=False``, the recipe's evaluation) or through the live windows."""
    info = rec.info
    out = []
    for seq in seqs:
        feats = compute_features(seq, info.feature_spec).values
        if stitched:  # embeddings (if any) stitched like their frames, as the Recognizer does
            lp = run_windowed(
                lambda x: rec.model.infer(x)[0], feats, info.window, rec.hop, info.lookahead
            )
            emb = None
            if info.rejector is not None:
                emb = run_windowed(
                    lambda x: _embeddings(rec, x), feats, info.window, rec.hop, info.lookahead
                )
        else:
            lp, emb = rec.model.infer(feats)
        result = rec.decoder.decode(lp)
        if info.rejector is not None and emb is not None:
            result = info.rejector.drop_unknown(result, lp, emb, info.vocabulary)
        out.append(list(result.glosses))
    return out


# ---------------------------------------------------------------------- idle input
def idle_streams(
    pool: SamplePool, signer: str, minutes: float, fps: float
) -> dict[str, LandmarkSequence]:
    """Idle input: the signer's real idle samples chained (with the synthesis' smooth joins),
    frames with nobody in them, and the same idle with the hands out of view."""
    seconds = 60.0 * minutes
    config = SynthesisConfig(idle_seconds=(seconds, seconds))
    idle = next(iter(synthesize(pool, [()], config, seed=5)))
    assert idle.signer == signer
    no_hands = replace(idle, present=idle.present.copy(), points=idle.points.copy())
    no_hands.present[:, 1:3] = False
    no_hands.points[:, 33:75] = 0.0
    empty = LandmarkSequence.empty_like(idle.num_frames, fps=fps)
    return {"signer_idle_samples": idle, "nobody_in_frame": empty, "hands_out_of_view": no_hands}


# ---------------------------------------------------------------------- SignStream streaming
def streaming_run(
    model: Path,
    lm: str | None,
    seqs: Sequence[LandmarkSequence],
    idle: dict[str, LandmarkSequence],
    config: PipelineConfig,
    offline: bool = False,
) -> dict[str, Any]:
    """One commit rule on every sentence (each an independent stream) and on idle input."""
    rec = Recognizer(str(model), lm, config)
    fps = rec.info.fps
    hyps, latencies = [], []
    at_end, never = 0, 0  # last signs committed only by the end of the stream / not at all
    frames = 0
    t0 = time.perf_counter()
    for seq in seqs:
        new_stream(rec)
        events = replay(rec, seq)
        frames += seq.num_frames
        hyps.append(commits_of(events))
        lat = output_latency(seq, commit_outputs(events), fps)
        if lat is not None:
            latencies.append(lat)
        elif seq.glosses[-1] in [g for i, g in commit_outputs(events) if i == seq.num_frames]:
            at_end += 1  # the live rules missed the pause after it
        else:
            never += 1  # the model missed the sign (a deletion, or another gloss)
    seconds = time.perf_counter() - t0
    refs = [list(s.glosses) for s in seqs]
    idle_rates = {}
    for name, seq in idle.items():
        new_stream(rec)
        idle_rates[name] = per_minute(len(commits_of(replay(rec, seq))), seq.num_frames, fps)
    out: dict[str, Any] = {
        "hop": rec.hop,
        "pause_s": rec.streaming.config.pause_s,
        "settle_s": rec.streaming.config.settle_s,
        "min_confidence": rec.streaming.config.min_confidence,
        "wer_streaming": wer(refs, hyps),
        "commit_latency_s": {
            "median": pct(latencies, 50),
            "p90": pct(latencies, 90),
            "max": pct(latencies, 100),
            "last_sign_committed_at_stream_end": at_end,
            "last_sign_never_output": never,
        },
        "idle_false_glosses_per_min": idle_rates,
        "replay_fps": round(frames / seconds, 1),
    }
    if offline:
        out["wer_offline"] = wer(refs, offline_glosses(rec, seqs, stitched=False))
        out["wer_offline_stitched"] = wer(refs, offline_glosses(rec, seqs, stitched=True))
    rec.close()
    return out


# ---------------------------------------------------------------------- tutorial method
TUTORIAL_CLIP = 30  # frames the tutorial apps feed their LSTM (the last second at 30 fps)
TUTORIAL_THRESHOLD = 0.7  # probability the best class needs
TUTORIAL_VOTES = 10  # the majority of the last predictions must agree with the current one


class TutorialRecognizer:
    """The tutorial apps' live loop: every frame, the clip classifier on the last
    ``TUTORIAL_CLIP`` frames of raw coordinates; a gloss is output when its probability is above
    the threshold and it is the majority of the last ``TUTORIAL_VOTES`` predictions, and it is
    not the gloss output last (a rest, the idle class, allows the same gloss again)."""

    def __init__(self, onnx_path: Path, classes: Sequence[str]) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.classes = list(classes)

    def probabilities(self, seq: LandmarkSequence) -> FloatArray:
        """``(T, K)`` softmax of the clip ending at each frame (the first ones padded)."""
        flat = seq.to_flat("258").astype(np.float32)  # (T, 258)
        pad = np.repeat(flat[:1], TUTORIAL_CLIP - 1, axis=0)
        full = np.concatenate([pad, flat])
        idx = np.arange(seq.num_frames)[:, None] + np.arange(TUTORIAL_CLIP)[None, :]
        clips = full[idx]  # (T, CLIP, 258)
        logits = np.concatenate(
            [self.session.run(None, {"clip": clips[k : k + 256]})[0] for k in
             range(0, len(clips), 256)]
        )  # fmt: skip
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return probs

    def outputs(self, seq: LandmarkSequence) -> list[tuple[int, str]]:
        probs = self.probabilities(seq)
        best = probs.argmax(axis=1)
        out: list[tuple[int, str]] = []
        last: str | None = None
        for t in range(TUTORIAL_CLIP - 1, seq.num_frames):  # from the first full clip
            votes = np.bincount(best[max(0, t - TUTORIAL_VOTES + 1) : t + 1])
            if votes.argmax() != best[t] or probs[t, best[t]] <= TUTORIAL_THRESHOLD:
                continue
            gloss = self.classes[best[t]]
            if gloss == IDLE_GLOSS:
                last = None
            elif gloss != last:
                out.append((t, gloss))
                last = gloss
        return out


def tutorial_run(
    peer: Path, seqs: Sequence[LandmarkSequence], idle: dict[str, LandmarkSequence], fps: float
) -> dict[str, Any]:
    classes = json.loads((peer.parent / "peer.json").read_text())["classes"]
    tut = TutorialRecognizer(peer, classes)
    hyps, latencies, missed = [], [], 0
    for seq in seqs:
        outs = tut.outputs(seq)
        hyps.append([g for _, g in outs])
        lat = output_latency(seq, outs, fps)
        if lat is None:
            missed += 1
        else:
            latencies.append(lat)
    refs = [list(s.glosses) for s in seqs]
    return {
        "method": f"peer clip classifier ({peer.name}) on the last {TUTORIAL_CLIP} frames every "
        f"frame, p > {TUTORIAL_THRESHOLD}, majority of the last {TUTORIAL_VOTES}",
        "wer": wer(refs, hyps),
        "output_latency_s": {
            "median": pct(latencies, 50),
            "p90": pct(latencies, 90),
            "max": pct(latencies, 100),
            "last_sign_not_output": missed,
        },
        "idle_false_glosses_per_min": {
            name: per_minute(len(tut.outputs(seq)), seq.num_frames, fps)
            for name, seq in idle.items()
        },
    }


# ---------------------------------------------------------------------- decoder cost
SEGMENT_BUCKETS = (0, 30, 60, 120, 240, 10_000)  # open-segment lengths (frames) reported


def decoder_cost(
    model: Path, lm: str | None, pool: SamplePool, vocab: Sequence[str], hop: int,
    max_segment_s: Sequence[float], widths: Sequence[int] = (1, 5, 10, 25, 50),
) -> dict[str, Any]:  # fmt: skip
    """ms per hop of the streaming decoder on continuous signing (no pause, and settled glosses
    off: the worst case, a model whose glosses never settle, whose open segment grows to
    ``max_segment_s``), by beam width and by open-segment length."""
    info = read_model_info(model)
    onnx = OnnxModel(model, device="cpu", threads=1)
    rng = np.random.default_rng(3)
    grammar = load_grammar(GRAMMAR)
    wanted: list[tuple[str, ...]] = []
    while len(wanted) < 12:
        s = tuple(grammar.sample(rng))
        if s and set(s) <= set(vocab) and pool.signers_for(s):
            wanted.append(s)
    config = SynthesisConfig(idle_before=0.0, idle_after=0.0, idle_between=0.0)
    seq = concat(list(synthesize(pool, wanted, config, seed=3)), info.fps)
    lp = onnx(compute_features(seq, info.feature_spec).values)
    out: dict[str, Any] = {"stream_s": round(len(lp) / info.fps, 1), "hop": hop}
    from engine.decoder import GlossDecoder

    for seg_s in max_segment_s:
        rows: dict[str, Any] = {}
        for width in widths:
            decoder = GlossDecoder(info.vocabulary, lm, DecoderConfig(beam_width=width))
            rules = StreamingConfig(fps=info.fps, max_segment_s=seg_s, settle_s=0.0)
            sd = StreamingDecoder(decoder, rules)
            times: list[tuple[int, float]] = []
            for pos in range(0, len(lp), hop):
                n = sd.open_frames
                t0 = time.perf_counter()
                sd.push(pos, lp[pos : pos + hop])
                times.append((n, 1000 * (time.perf_counter() - t0)))
            decoder.close()
            ms = [t for _, t in times]
            by_len = {}
            for lo, hi in itertools.pairwise(SEGMENT_BUCKETS):
                sel = [t for n, t in times if lo <= n < hi]
                if sel:
                    by_len[f"{lo}-{hi}"] = round(float(np.median(sel)), 2)
            rows[f"beam{width}"] = {
                "median_ms": pct(ms, 50), "p95_ms": pct(ms, 95), "max_ms": pct(ms, 100),
                "median_ms_by_open_frames": by_len,
            }  # fmt: skip
        out[f"max_segment_s={seg_s}"] = rows
    return out


# ---------------------------------------------------------------------- memory soak
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(
    model: Path, lm: str | None, seqs: Sequence[LandmarkSequence], minutes: float, fps: float,
    config: PipelineConfig,
) -> dict[str, Any]:  # fmt: skip
    """The threaded Pipeline on a landmark replay of ``minutes`` simulated minutes, as fast as
    it goes; RSS once per simulated minute; slope by least squares over the second half."""
    frames_wanted = int(minutes * 60 * fps)
    stream: list[LandmarkSequence] = []
    total = 0
    while total < frames_wanted:
        for s in seqs:
            stream.append(s)
            total += s.num_frames
            if total >= frames_wanted:
                break
    samples: list[tuple[float, float]] = []
    counter = {"frames": 0, "commits": 0}
    per_minute_frames = int(60 * fps)

    def on_event(e: Any) -> None:
        if isinstance(e, GlossEvent):
            counter["commits"] += e.is_commit
        elif type(e).__name__ == "FrameEvent":
            counter["frames"] += 1
            if counter["frames"] % per_minute_frames == 0:
                samples.append((counter["frames"] / per_minute_frames, rss_mb()))

    gc.collect()
    start_rss = rss_mb()
    p = Pipeline(replace(config, drop_frames=False, frame_events=True), on_event)
    t0 = time.perf_counter()
    p.start(replay_sequences(stream, realtime=False))
    p.wait()
    seconds = time.perf_counter() - t0
    p.close()
    half = samples[len(samples) // 2 :]
    slope = float(np.polyfit([m for m, _ in half], [r for _, r in half], 1)[0]) if len(
        half) > 2 else float("nan")  # fmt: skip
    return {
        "simulated_minutes": round(counter["frames"] / per_minute_frames, 1),
        "wall_s": round(seconds, 1),
        "rss_mb_start": round(start_rss, 1),
        "rss_mb_after_1_min": round(samples[0][1], 1) if samples else None,
        "rss_mb_end": round(samples[-1][1], 1) if samples else None,
        "rss_slope_mb_per_min_second_half": round(slope, 4),
        "commits": counter["commits"],
    }


# ---------------------------------------------------------------------- report
def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Streaming engine: measured",
        "",
        "Generated by `bench/streaming.py` (do not edit by hand). Model "
        f"`{Path(r['model']).name}`, LM `{Path(r['lm']).name if r['lm'] else 'none'}`; "
        f"{r['sentences']} sentences of the held-out signer {', '.join(r['signers'])} "
        "(real asl-coffee samples joined with that signer's real idle samples, "
        f"{TAIL_IDLE_S[0]}-{TAIL_IDLE_S[1]} s of idle before and after), each replayed as its "
        "own stream through the engine's Recognizer on the stream clock. Latency: from the end "
        "of the last sign (ground truth) to the output of its gloss, in stream time (compute "
        "per frame is a few ms on top; MediaPipe adds ~35 ms per frame on video).",
        "",
        "## Commit rules (SignStream CTC streaming)",
        "",
        "Last sign: of the sentences, those whose last sign was committed only when the stream "
        "ended (the live rules missed the pause after it) / never output (the model missed it).",
        "",
        "| hop | pause s | settle s | min conf | WER streaming | latency median / p90 / max s | "
        "last sign: at stream end / never | idle glosses/min: signer idle / nobody / hands out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in r["rules"]:
        lat = x["commit_latency_s"]
        idle = x["idle_false_glosses_per_min"]
        lines.append(
            f"| {x['hop']} | {x['pause_s']} | {x['settle_s']} | {x['min_confidence']} | "
            f"{x['wer_streaming']:.1%} | {lat['median']} / {lat['p90']} / {lat['max']} | "
            f"{lat['last_sign_committed_at_stream_end']} / {lat['last_sign_never_output']} | "
            f"{idle['signer_idle_samples']} / "
            f"{idle['nobody_in_frame']} / {idle['hands_out_of_view']} |"
        )
    off = r["offline"]
    lines += [
        "",
        f"Offline on the same sentences (each decoded whole, same decoder and LM): WER "
        f"{off['wer_offline']:.1%} (model on the whole sequence), "
        f"{off['wer_offline_stitched']:.1%} (through the live windows and stitcher).",
        "",
    ]
    if "default_mirrored" in r:
        lines += [
            "## Models side by side, plain and mirrored",
            "",
            "Mirrored: the same sentences as a mirrored webcam, or a left-handed signer, shows "
            f"them. Engine defaults for every model (hop {r['default']['hop']}, pause "
            f"{r['default']['pause_s']} s, settle {r['default']['settle_s']} s), the same LM.",
            "",
            "| model | WER streaming | WER streaming, mirrored | WER offline | latency median / "
            "p90 s | idle glosses/min: signer idle / nobody / hands out |",
            "|---|---|---|---|---|---|",
        ]
        d = r["default"]
        named = [(f"{Path(r['model']).name} (this bench's model)", d, r["default_mirrored"])]
        named += [(name, c["plain"], c["mirrored"]) for name, c in r.get("compare", {}).items()]
        for name, plain, mirror in named:
            lat = plain["commit_latency_s"]
            idle = plain["idle_false_glosses_per_min"]
            off = plain.get("wer_offline", r.get("offline", {}).get("wer_offline"))
            lines.append(
                f"| {name} | {plain['wer_streaming']:.1%} | {mirror['wer_streaming']:.1%} | "
                f"{'–' if off is None else f'{off:.1%}'} | {lat['median']} / {lat['p90']} | "
                f"{idle['signer_idle_samples']} / {idle['nobody_in_frame']} / "
                f"{idle['hands_out_of_view']} |"
            )
        lines.append("")
    if "tutorial" in r:
        t = r["tutorial"]
        lat = t["output_latency_s"]
        idle = t["idle_false_glosses_per_min"]
        d = r["default"]
        dl = d["commit_latency_s"]
        di = d["idle_false_glosses_per_min"]
        lines += [
            "## SignStream vs the tutorial apps' method (same replays)",
            "",
            "| method | WER | latency median / p90 s | idle glosses/min: signer idle / nobody / "
            "hands out |",
            "|---|---|---|---|",
            f"| SignStream CTC streaming (defaults: hop {d['hop']}, pause {d['pause_s']} s, "
            f"settle {d['settle_s']} s) | "
            f"{d['wer_streaming']:.1%} | {dl['median']} / {dl['p90']} | "
            f"{di['signer_idle_samples']} / {di['nobody_in_frame']} / {di['hands_out_of_view']} |",
            f"| tutorial: {t['method']} | {t['wer']:.1%} | {lat['median']} / {lat['p90']} | "
            f"{idle['signer_idle_samples']} / {idle['nobody_in_frame']} / "
            f"{idle['hands_out_of_view']} |",
            "",
        ]
    if "decoder" in r:
        dec = r["decoder"]
        lines += [
            "## Decoder ms per hop (continuous signing, no pause)",
            "",
            f"Streaming decoder push per hop of {dec['hop']} frames on {dec['stream_s']} s of "
            "signing without a pause, settled glosses off (the worst case: a model whose glosses "
            "never settle); median by open-segment length shows whether the cost grows with it "
            "(it is bounded by `max_segment_s`).",
            "",
        ]
        for key, rows in dec.items():
            if not key.startswith("max_segment"):
                continue
            lines += [f"{key}:", "", "| beam | median ms | p95 ms | max ms | median ms by open "
                      "frames |", "|---|---|---|---|---|"]  # fmt: skip
            for name, row in rows.items():
                by = ", ".join(f"{k}: {v}" for k, v in row["median_ms_by_open_frames"].items())
                lines.append(
                    f"| {name} | {row['median_ms']} | {row['p95_ms']} | {row['max_ms']} | {by} |"
                )
            lines.append("")
    if "soak" in r:
        s = r["soak"]
        lines += [
            "## Memory soak",
            "",
            f"The threaded Pipeline replaying landmarks for {s['simulated_minutes']} simulated "
            f"minutes in {s['wall_s']} s: RSS {s['rss_mb_after_1_min']} MB after one minute, "
            f"{s['rss_mb_end']} MB at the end; slope over the second half "
            f"{s['rss_slope_mb_per_min_second_half']} MB per simulated minute "
            f"({s['commits']} commits).",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model())
    ap.add_argument("--lm", default=None, help="default: the model's .arpa")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--peer", type=Path, default=DEFAULT_PEER)
    ap.add_argument("--sentences", type=int, default=100)
    ap.add_argument("--idle-minutes", type=float, default=3.0)
    ap.add_argument("--soak-minutes", type=float, default=30.0)
    ap.add_argument("--markdown", type=Path, default=None, help="e.g. docs/STREAMING.md")
    ap.add_argument(
        "--compare", type=Path, nargs="*", default=[],
        help="other ONNX models run with the same LM and defaults, plain and mirrored",
    )  # fmt: skip
    ap.add_argument("--skip", default="", help="comma list of: rules, tutorial, decoder, soak")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    beside = lm_beside(args.model)
    lm = args.lm or (str(beside) if beside is not None else None)
    info = read_model_info(args.model)
    signers = list(info.heldout.get("signers") or ["dmohazab"])
    _ds, pool, _idle = held_out_pool(args.data, signers)
    # a people model holds out crowd people too: the bench's data has the asl-coffee ones
    signers = sorted({i.signer for i in _ds.infos if i.signer in signers})
    if not signers:
        raise SystemExit(f"{args.data} holds none of the model's held-out signers")
    seqs = make_sentences(pool, info.vocabulary.glosses, args.sentences)
    idle = idle_streams(pool, signers[0], args.idle_minutes, info.fps)
    result: dict[str, Any] = {
        "model": str(args.model), "lm": lm, "signers": signers, "sentences": len(seqs),
        "idle_minutes": args.idle_minutes, "cpu_count": os.cpu_count(),
    }  # fmt: skip
    default = PipelineConfig(model=str(args.model), lm=lm)
    log = sys.stderr
    result["default"] = streaming_run(args.model, lm, seqs, idle, default)
    print("default", json.dumps(result["default"]), file=log)
    # a left-handed signer, or a mirrored webcam: the same sentences mirrored
    mirrored = [s.mirrored() for s in seqs]
    result["default_mirrored"] = streaming_run(args.model, lm, mirrored, {}, default)
    print("default mirrored", json.dumps(result["default_mirrored"]), file=log)
    compare: dict[str, Any] = {}
    for other in args.compare:
        cfg = PipelineConfig(model=str(other), lm=lm)
        compare[other.name] = {
            "plain": streaming_run(other, lm, seqs, idle, cfg, offline=True),
            "mirrored": streaming_run(other, lm, mirrored, {}, cfg),
        }
        print("compare", other.name, json.dumps(compare[other.name]), file=log)
    result["compare"] = compare
    rules: list[dict[str, Any]] = []
    if "rules" not in skip:
        for hop, pause, settle, conf in RULES:
            streaming = StreamingConfig(
                fps=info.fps, pause_s=pause, settle_s=settle, min_confidence=conf
            )
            cfg = replace(default, hop=hop, streaming=streaming)
            rules.append(streaming_run(args.model, lm, seqs, idle, cfg, offline=not rules))
            print("rule", json.dumps(rules[-1]), file=log)
        result["offline"] = {k: rules[0].pop(k) for k in ("wer_offline", "wer_offline_stitched")}
    result["rules"] = rules
    if "tutorial" not in skip and args.peer.exists():
        result["tutorial"] = tutorial_run(args.peer, seqs, idle, info.fps)
        print("tutorial", json.dumps(result["tutorial"]), file=log)
    if "decoder" not in skip and lm:
        rec = Recognizer(str(args.model), lm, default)
        result["decoder"] = decoder_cost(
            args.model, lm, pool, info.vocabulary.glosses, rec.hop, (4.0, 8.0)
        )
        rec.close()
        print("decoder", json.dumps(result["decoder"]), file=log)
    if "soak" not in skip:
        result["soak"] = soak(args.model, lm, seqs, args.soak_minutes, info.fps, default)
    print(json.dumps(result, indent=1))
    if args.markdown is not None and "rules" not in skip:
        args.markdown.write_text(markdown(result) + "\n")
    return 0


# commit rules compared: (hop frames, pause_s, settle_s, min_confidence); the first is also
# decoded offline. hop 16 / pause 0.4 is the engine before this bench (the model's hop), hop 4 /
# pause 0.3 without settling the engine before settled glosses, settle 0.3 s its default now
RULES = [
    (16, 0.4, 0.0, 0.0),
    (4, 0.3, 0.0, 0.0),
    (4, 0.25, 0.0, 0.0),
    (4, 0.3, 0.2, 0.0),
    (4, 0.3, 0.3, 0.0),
    (4, 0.3, 0.5, 0.0),
    (4, 0.3, 0.3, 0.5),
]


if __name__ == "__main__":
    sys.exit(main())
