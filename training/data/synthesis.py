"""Continuous signing for CTC training, made by joining real isolated signs into sentences.

The real data holds isolated signs (asl-coffee: 20 frames each, one gloss, three signers); a
recogniser of continuous signing must learn where one sign ends and the next begins. A sentence
of glosses (from :mod:`training.data.grammar`) is rendered here as one :class:`LandmarkSequence`:

* one signer per sentence: every clip, idle pauses included, comes from the same person;
* each clip is a real sample, time-stretched (linear resampling) by a random factor;
* consecutive clips are joined by a few transition frames that move every point from where
  the previous clip ends to where the next begins (smoothstep easing), never butted together;
* optional idle pauses (real samples of the idle gloss ``-``) before, between and after signs;
* each clip is moved so its shoulders sit where the first clip's do (isolated recordings were
  made at different places in the picture; a person signing a sentence does not jump);
* one random similarity transform (scale, shift, in-plane rotation) per sentence, applied to
  every point alike, and optionally a mirror.

The result carries ``glosses`` (idle excluded), ``spans`` (frames ``[start, stop)`` of each
gloss's clip; transitions and pauses lie between spans), timestamps at ``config.fps``, and in
``extra`` the dataset indices of the samples used. Output is a pure function of the inputs and
the seed: the same seed gives byte-identical sequences.

Presence masks: an absent group is zero and masked, so resampling and blending never average a
detected hand with an absent one. A resampled frame takes the presence of its nearest source
frame; it interpolates a group only where both neighbours hold it, else copies the nearest.
A transition interpolates a group present on both sides; a group present on one side only is
held there and shown for the half of the transition nearest that side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.dataset import SampleInfo
from engine.errors import SignStreamError
from engine.features import DEFAULT_ASPECT
from engine.landmarks import GROUPS, NUM_POINTS, LandmarkSequence
from training.data.grammar import Sentence

__all__ = [
    "IDLE_GLOSS",
    "IndexedSample",
    "SamplePool",
    "SynthesisConfig",
    "SynthesisError",
    "collect_samples",
    "isolated_glosses",
    "synthesize",
]

IDLE_GLOSS = "-"  # the "no sign" class of the tutorial datasets (asl-coffee, bhutanese-words)
IndexedSample = tuple[int, LandmarkSequence]  # (dataset index, isolated sample)

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

_FACE_GROUP = 3
# group (GROUPS order) of each value of a (P * 4) frame row: turns (T, 4) group masks and
# weights into per-value ones
_COL_GROUP = np.repeat(
    np.concatenate([np.full(g.size, i, np.intp) for i, g in enumerate(GROUPS)]), 4
)
# seed-sequence tags keeping the random streams of rendering and sentence drawing apart
_RENDER_STREAM = 0
SENTENCE_STREAM = 1


class SynthesisError(SignStreamError):
    """Sentences cannot be synthesised from the samples given (missing gloss, signer, ...)."""


@dataclass(frozen=True)
class SynthesisConfig:
    """How sentences are rendered (see the module docstring). Seconds are at ``fps``."""

    fps: float = 30.0  # frame rate of the output; clips are resampled to it from their own fps
    idle_gloss: str = IDLE_GLOSS  # gloss of the idle samples used for pauses (never labelled)
    idle_before: float = 0.7  # probability of a pause before the first sign
    idle_after: float = 0.7  # probability of a pause after the last sign
    idle_between: float = 0.15  # probability of a pause between two consecutive signs
    idle_seconds: tuple[float, float] = (0.2, 0.8)  # (min, max) length of one pause
    # (min, max) time-stretch factor per clip, > 1 slower; drawn log-uniformly so that
    # slowing down and speeding up by the same ratio are equally likely
    stretch: tuple[float, float] = (0.8, 1.25)
    transition_seconds: tuple[float, float] = (0.07, 0.2)  # (min, max) length of a join
    align_clips: bool = True  # move each clip's mean shoulder centre onto the first clip's
    scale: tuple[float, float] = (0.9, 1.1)  # (min, max) sentence scale about the image centre
    shift: float = 0.05  # max |shift| of x and of y per sentence, image fractions
    rotation_degrees: float = 5.0  # max |in-plane rotation| per sentence (about image centre)
    mirror_probability: float = 0.0  # chance a sentence is mirrored (left-handed signer)
    seed: int = 0  # default seed where a call gives none

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        for name in ("idle_before", "idle_after", "idle_between", "mirror_probability"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability (0..1), got {p}")
        for name, low in (("idle_seconds", 0.0), ("stretch", 1e-3), ("transition_seconds", 0.0)):
            a, b = getattr(self, name)
            if not low <= a <= b:
                raise ValueError(f"{name} must be (min, max), {low} <= min <= max; got {(a, b)}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {self.scale}")
        if self.shift < 0 or self.rotation_degrees < 0:
            raise ValueError("shift and rotation_degrees are magnitudes (>= 0)")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")


DEFAULT_CONFIG = SynthesisConfig()


# ---------------------------------------------------------------------- sample pool
@dataclass(frozen=True)
class _Clip:
    index: int  # dataset index of the sample
    flat: FloatArray  # (T, P * 4) float32: the sample's points, one row per frame (a view)
    present: BoolArray  # (T, 4) bool
    num_points: int  # P
    fps: float
    aspect: float | None
    anchor: FloatArray | None  # (2,) mean shoulder centre x, y over frames with a pose

    @property
    def num_frames(self) -> int:
        return int(self.flat.shape[0])


def _make_clip(index: int, seq: LandmarkSequence) -> _Clip:
    if seq.num_frames == 0:
        raise SynthesisError(f"sample {index} ({seq.source or 'no source'}) has no frames")
    anchor = seq.shoulder_centre()
    n_points = int(seq.points.shape[1])
    flat = np.ascontiguousarray(seq.points).reshape(seq.num_frames, n_points * 4)
    return _Clip(index, flat, seq.present, n_points, seq.fps, seq.aspect, anchor)


class SamplePool:
    """Isolated samples by signer and gloss; the idle gloss's samples are the pauses.

    Samples without a signer (``""``) form one pseudo-signer: sentences may then mix people.
    """

    def __init__(
        self, samples_by_gloss: Mapping[str, Sequence[IndexedSample]], idle_gloss: str = IDLE_GLOSS
    ) -> None:
        self.idle_gloss = idle_gloss
        by_signer: dict[str, dict[str, list[_Clip]]] = {}
        for gloss in sorted(samples_by_gloss):  # sorted: the pool's order must not depend on
            for index, seq in samples_by_gloss[gloss]:  # how the caller built the mapping
                by_signer.setdefault(seq.signer, {}).setdefault(gloss, []).append(
                    _make_clip(index, seq)
                )
        for glosses in by_signer.values():
            for clips in glosses.values():
                clips.sort(key=lambda c: c.index)
        self._clips = {s: by_signer[s] for s in sorted(by_signer)}
        self._glosses = {s: frozenset(g) - {idle_gloss} for s, g in self._clips.items()}

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(self._clips)

    def glosses(self, signer: str | None = None) -> frozenset[str]:
        """Glosses (idle excluded) one signer has samples of, or any signer has."""
        if signer is not None:
            return self._glosses[signer]
        return frozenset().union(*self._glosses.values())

    def has_idle(self, signer: str) -> bool:
        return self.idle_gloss in self._clips[signer]

    def signers_for(self, sentence: Sentence) -> tuple[str, ...]:
        """Signers with samples of every gloss of ``sentence`` (an empty one needs idle)."""
        if not sentence:
            return tuple(s for s in self._clips if self.has_idle(s))
        need = set(sentence)
        return tuple(s for s, g in self._glosses.items() if need <= g)

    def clips(self, signer: str, gloss: str) -> list[_Clip]:
        return self._clips[signer].get(gloss, [])


def collect_samples(
    dataset: Sequence[LandmarkSequence],
    indices: Iterable[int],
    glosses: Iterable[str] | None = None,
) -> dict[str, list[IndexedSample]]:
    """Gloss -> ``[(index, sample)]`` for the isolated (one-gloss) samples among ``indices``.

    ``glosses`` (idle gloss included, if pauses are wanted) limits which are loaded.
    Multi-gloss samples are skipped: they are sentences, not clips to join.
    """
    keep = None if glosses is None else frozenset(glosses)
    out: dict[str, list[IndexedSample]] = {}
    for i in indices:
        seq = dataset[int(i)]
        if len(seq.glosses) != 1 or (keep is not None and seq.glosses[0] not in keep):
            continue
        out.setdefault(seq.glosses[0], []).append((int(i), seq))
    return out


def isolated_glosses(
    infos: Iterable[SampleInfo], signers: Iterable[str] | None = None, idle_gloss: str = IDLE_GLOSS
) -> frozenset[str]:
    """Glosses with isolated samples (of ``signers``, default all), idle excluded.

    The vocabulary to filter a gloss corpus with before synthesising from it.
    """
    who = None if signers is None else frozenset(signers)
    return frozenset(
        info.glosses[0]
        for info in infos
        if len(info.glosses) == 1
        and info.glosses[0] != idle_gloss
        and (who is None or info.signer in who)
    )


# ---------------------------------------------------------------------- rendering
def _frames(seconds: float, fps: float) -> int:
    return round(seconds * fps)


@dataclass(frozen=True)
class _Segment:
    """The frames one clip contributes to a sentence, as where to read them from.

    Output frame ``k`` is ``(1 - w[k]) * frame i0[k] + w[k] * frame i1[k]`` of the clip (per
    group, see :meth:`_Renderer.render` for presence).
    """

    clip: _Clip
    i0: IntArray  # (n,) source frame at or before each output frame
    i1: IntArray  # (n,) the source frame after i0 (i0 itself for a one-frame clip)
    w: FloatArray  # (n,) float32 0..1: where between them the output frame falls
    gloss_pos: int  # position of the gloss in the sentence, -1 for a pause

    def __len__(self) -> int:
        return len(self.i0)

    def crop(self, start: int, stop: int) -> _Segment:
        return _Segment(
            self.clip, self.i0[start:stop], self.i1[start:stop], self.w[start:stop], self.gloss_pos
        )


def _stretch(clip: _Clip, n: int, gloss_pos: int) -> _Segment:
    """``n`` output frames evenly over the clip, its first and last frames kept."""
    t = clip.num_frames
    if t == 1:
        zero = np.zeros(n, np.intp)
        return _Segment(clip, zero, zero, np.zeros(n, np.float32), gloss_pos)
    pos = np.arange(n) * ((t - 1) / (n - 1)) if n > 1 else np.array([(t - 1) / 2])
    i0 = np.minimum(pos.astype(np.intp), t - 2)
    w = np.minimum(pos - i0, 1.0).astype(np.float32)
    return _Segment(clip, i0, i0 + 1, w, gloss_pos)


class _Renderer:
    """Renders sentences for one pool and config; one call per sentence with its own rng."""

    def __init__(self, pool: SamplePool, config: SynthesisConfig) -> None:
        self.pool = pool
        self.cfg = config
        self._log_stretch = (math.log(config.stretch[0]), math.log(config.stretch[1]))
        self._idle_frames = (
            max(1, _frames(config.idle_seconds[0], config.fps)),
            max(1, _frames(config.idle_seconds[1], config.fps)),
        )
        self._transition = (
            _frames(config.transition_seconds[0], config.fps),
            _frames(config.transition_seconds[1], config.fps),
        )
        self._ease: dict[int, FloatArray] = {}  # join length -> smoothstep weights

    # ------------------------------------------------------------------ planning
    def _clip_segment(
        self, clip: _Clip, rng: np.random.Generator, gloss_pos: int
    ) -> tuple[_Segment, float]:
        s = math.exp(rng.uniform(*self._log_stretch))
        n = max(1, round(clip.num_frames * s * self.cfg.fps / clip.fps))
        return _stretch(clip, n, gloss_pos), s

    def _pause(self, signer: str, rng: np.random.Generator, used: list[int]) -> list[_Segment]:
        """Idle frames for one pause: crops of idle samples, chained when one is too short."""
        idle = self.pool.clips(signer, self.cfg.idle_gloss)
        want = int(rng.integers(self._idle_frames[0], self._idle_frames[1] + 1))
        out: list[_Segment] = []
        while want > 0:
            clip = idle[int(rng.integers(len(idle)))]
            used.append(clip.index)
            seg, _ = self._clip_segment(clip, rng, -1)
            take = min(want, len(seg))
            start = int(rng.integers(0, len(seg) - take + 1))
            out.append(seg.crop(start, start + take))
            want -= take
        return out

    def render(self, sentence: Sentence, rng: np.random.Generator, source: str) -> LandmarkSequence:
        cfg = self.cfg
        if cfg.idle_gloss in sentence:
            raise SynthesisError(
                f"the idle gloss {cfg.idle_gloss!r} cannot be part of a sentence: {sentence}"
            )
        candidates = self.pool.signers_for(sentence)
        if not candidates:
            missing = sorted(set(sentence) - self.pool.glosses())
            raise SynthesisError(
                f"no signer has samples of every gloss of {' '.join(sentence) or '<empty>'!r}"
                + (f" (no samples at all of: {', '.join(missing)})" if missing else "")
            )
        signer = candidates[int(rng.integers(len(candidates)))]
        has_idle = self.pool.has_idle(signer)

        segments: list[_Segment] = []
        used: list[int] = []
        idle_used: list[int] = []
        stretches: list[float] = []
        # one draw per decision whether or not the signer has idle samples, so that the
        # random stream does not depend on what the pool holds; an empty sentence is a pause
        if (rng.random() < cfg.idle_before or not sentence) and has_idle:
            segments += self._pause(signer, rng, idle_used)
        for k, gloss in enumerate(sentence):
            if rng.random() < cfg.idle_between and k > 0 and has_idle:
                segments += self._pause(signer, rng, idle_used)
            clips = self.pool.clips(signer, gloss)
            clip = clips[int(rng.integers(len(clips)))]
            seg, s = self._clip_segment(clip, rng, k)
            segments.append(seg)
            used.append(clip.index)
            stretches.append(s)
        if rng.random() < cfg.idle_after and has_idle and sentence:
            segments += self._pause(signer, rng, idle_used)
        joins = [
            int(rng.integers(self._transition[0], self._transition[1] + 1))
            for _ in range(len(segments) - 1)
        ]

        points, present, spans, aspect = self._assemble(segments, joins, len(sentence))
        self._transform(points, present, rng, aspect)
        n_points = points.shape[1] // 4
        seq = LandmarkSequence(
            points=points.reshape(len(points), n_points, 4),
            present=present,
            timestamps=np.arange(len(points), dtype=np.float64) / cfg.fps,
            fps=cfg.fps,
            glosses=tuple(sentence),
            signer=signer,
            source=source,
            aspect=aspect,
            spans=spans,
            extra={
                "samples": ",".join(map(str, used)),
                "idle_samples": ",".join(map(str, idle_used)),
                "stretch": ",".join(repr(s) for s in stretches),
            },
        )
        if rng.random() < cfg.mirror_probability:
            seq = seq.mirrored()
        return seq

    # ------------------------------------------------------------------ drawing
    def _assemble(
        self, segments: list[_Segment], joins: list[int], n_glosses: int
    ) -> tuple[FloatArray, BoolArray, tuple[tuple[int, int], ...], float | None]:
        """Points ``(T, P * 4)`` (absent groups not yet zeroed), present ``(T, 4)``, spans.

        All frames are computed in one blend ``lo + (hi - lo) * w`` over the whole sentence,
        not clip by clip: a sentence is a dozen small pieces, and numpy's per-call cost
        would otherwise dominate.
        """
        # a sentence keeps the face only if every clip has it (face points come last)
        n_points = min(seg.clip.num_points for seg in segments)
        cols = _COL_GROUP[: n_points * 4]
        total = sum(len(seg) for seg in segments) + sum(joins)
        lo = np.zeros((total, n_points * 4), np.float32)
        hi = np.zeros_like(lo)
        wg = np.zeros((total, len(GROUPS)), np.float32)
        present = np.zeros((total, len(GROUPS)), np.bool_)
        delta = np.zeros((total, 2), np.float32)
        ref = next((s.clip.anchor for s in segments if s.clip.anchor is not None), None)
        align = self.cfg.align_clips and ref is not None

        bounds: list[tuple[int, int]] = []
        spans = [(0, 0)] * n_glosses
        at = 0
        for k, seg in enumerate(segments):
            n, clip = len(seg), seg.clip
            rows = slice(at, at + n)
            if clip.num_points == n_points:
                np.take(clip.flat, seg.i0, axis=0, out=lo[rows])
                np.take(clip.flat, seg.i1, axis=0, out=hi[rows])
            else:
                lo[rows] = clip.flat[seg.i0, : n_points * 4]
                hi[rows] = clip.flat[seg.i1, : n_points * 4]
            p0, p1 = clip.present[seg.i0], clip.present[seg.i1]
            nearer_i1 = (seg.w >= 0.5)[:, None]
            present[rows] = np.where(nearer_i1, p1, p0)
            # a group is interpolated where both source frames hold it, else the nearest
            # frame is copied: never a blend of a detected hand with the zeros of an absent one
            wg[rows] = np.where(p0 & p1, seg.w[:, None], nearer_i1)
            if align and ref is not None and clip.anchor is not None:
                delta[rows] = ref - clip.anchor
            bounds.append((at, at + n))
            if seg.gloss_pos >= 0:
                spans[seg.gloss_pos] = (at, at + n)
            at += n + (joins[k] if k < len(joins) else 0)

        points = lo
        diff = np.subtract(hi, lo, out=hi)
        for gi, g in enumerate(GROUPS[: 4 if n_points > NUM_POINTS else 3]):
            diff[:, g.start * 4 : g.stop * 4] *= wg[:, gi : gi + 1]
        points += diff
        if align:
            points[:, 0::4] += delta[:, :1]
            points[:, 1::4] += delta[:, 1:]
        if any(joins):
            self._join(points, present, bounds, joins, cols)
        if n_points == NUM_POINTS:
            present[:, _FACE_GROUP] = False
        aspects = {seg.clip.aspect for seg in segments}
        aspect = aspects.pop() if len(aspects) == 1 else None
        return points, present, tuple(spans), aspect

    def _join(
        self,
        points: FloatArray,
        present: BoolArray,
        bounds: list[tuple[int, int]],
        joins: list[int],
        cols: IntArray,
    ) -> None:
        """Fill every join's frames, between the last frame of a clip and the first of the next.

        A group present on both sides moves across (smoothstep: no jump in velocity at either
        end); one present on one side only is held there and shown for the half of the join
        nearest that side (it appears or disappears midway).
        """
        rows: list[int] = []
        prev: list[int] = []
        nxt: list[int] = []
        ease: list[FloatArray] = []
        for (_, stop), frames in zip(bounds, joins, strict=False):
            if frames:
                rows += range(stop, stop + frames)
                prev += [stop - 1] * frames
                nxt += [stop + frames] * frames
                ease.append(self._smoothstep(frames))
        r, pa, pb = np.array(rows), np.array(prev), np.array(nxt)
        w = np.concatenate(ease)[:, None]
        ma, mb = present[pa], present[pb]
        both = ma & mb
        present[r] = both | (ma & (w < 0.5)) | (mb & (w >= 0.5))
        wg = np.where(both, w, mb.astype(np.float32))
        a = points[pa]
        points[r] = a + (points[pb] - a) * wg[:, cols]

    def _smoothstep(self, frames: int) -> FloatArray:
        w = self._ease.get(frames)
        if w is None:
            x = np.arange(1, frames + 1, dtype=np.float32) / np.float32(frames + 1)
            w = self._ease[frames] = x * x * (np.float32(3.0) - np.float32(2.0) * x)
        return w

    def _transform(
        self, points: FloatArray, present: BoolArray, rng: np.random.Generator, aspect: float | None
    ) -> None:
        """In place on ``(T, P * 4)``: one similarity transform of x, y (z scaled alike),
        then absent groups zeroed."""
        cfg = self.cfg
        s = float(rng.uniform(*cfg.scale))
        theta = math.radians(float(rng.uniform(-cfg.rotation_degrees, cfg.rotation_degrees)))
        dx, dy = (float(v) for v in rng.uniform(-cfg.shift, cfg.shift, size=2))
        asp = float(aspect or DEFAULT_ASPECT)
        # rotation in square pixels (x is in image widths, y in heights) about the image
        # centre, folded into x' = a x + b y + e, y' = c x + d y + f
        co, si = s * math.cos(theta), s * math.sin(theta)
        a, b, e = co, -si / asp, 0.5 + dx - 0.5 * co + 0.5 * si / asp
        c, d, f = si * asp, co, 0.5 + dy - 0.5 * si * asp - 0.5 * co
        x = points[:, 0::4].copy()
        y = points[:, 1::4]
        points[:, 0::4] *= a
        points[:, 0::4] += b * y + e
        y *= d
        y += c * x + f
        points[:, 2::4] *= s
        for gi, g in enumerate(GROUPS):
            gone = np.flatnonzero(~present[:, gi])
            if len(gone) and g.start * 4 < points.shape[1]:
                points[gone, g.start * 4 : g.stop * 4] = 0.0


def synthesize(
    samples_by_gloss: Mapping[str, Sequence[IndexedSample]] | SamplePool,
    sentences: Iterable[Sentence],
    config: SynthesisConfig = DEFAULT_CONFIG,
    seed: int | None = None,
) -> Iterator[LandmarkSequence]:
    """Render each sentence (a tuple of glosses) as one continuous sequence, lazily.

    ``samples_by_gloss``: gloss -> ``[(dataset index, isolated sample)]`` (see
    :func:`collect_samples`), the idle gloss's samples used for pauses. Sentence ``i`` is
    rendered from its own random stream ``(seed, i)``, signed by one signer drawn among those
    with samples of all its glosses; its ``source`` is ``synth:<seed>:<i>``. Output:
    ``points (T, P, 4) float32`` with ``P`` 95 only if every clip used has a face.
    Raises :class:`SynthesisError` for a sentence no single signer can sign.
    """
    pool = (
        samples_by_gloss
        if isinstance(samples_by_gloss, SamplePool)
        else SamplePool(samples_by_gloss, config.idle_gloss)
    )
    if pool.idle_gloss != config.idle_gloss:
        raise SynthesisError(
            f"the pool's idle gloss {pool.idle_gloss!r} is not the config's {config.idle_gloss!r}"
        )
    s = config.seed if seed is None else seed
    if s < 0:
        raise ValueError(f"seed must be >= 0, got {s}")
    renderer = _Renderer(pool, config)
    for i, sentence in enumerate(sentences):
        rng = np.random.default_rng([s, _RENDER_STREAM, i])
        yield renderer.render(tuple(sentence), rng, f"synth:{s}:{i}")
