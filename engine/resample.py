"""Time operations on landmark sequences: fill short detection gaps, resample to a fixed rate.

MediaPipe loses a hand for a few frames all the time (motion blur, a hand crossing the face);
a model should not see a sign flicker in and out because of it, so gaps up to ``max_gap_s`` are
bridged by linear interpolation. Longer gaps stay absent: the hand really left the picture.

Webcams deliver 15, 24, 30 or 60 fps and drop frames under load; the model runs at one fixed
rate, so every sequence is resampled from its own timestamps (never from a frame count).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.landmarks import GROUPS, LandmarkSequence, point_mask

__all__ = ["StreamResampler", "fill_gaps", "resample"]

# Timestamps closer than this are the same instant (float noise of container clocks).
TIME_EPS = 1e-6


def fill_gaps(seq: LandmarkSequence, max_gap_s: float) -> LandmarkSequence:
    """Interpolate each group over absent runs lasting at most ``max_gap_s`` seconds.

    A run counts from the last frame before it to the first frame after it; runs at the start
    or end of the sequence (no detection on one side) are left absent.
    """
    if seq.num_frames < 3 or max_gap_s <= 0:
        return seq
    points = seq.points
    present = seq.present
    t = seq.timestamps
    copied = False
    n_points = int(points.shape[1])
    for gi, g in enumerate(GROUPS):
        if g.stop > n_points:
            continue
        m = present[:, gi]
        if m.all() or not m.any():
            continue
        idx = np.flatnonzero(m)
        # gaps between consecutive detections: idx[k] and idx[k+1] with frames missing between
        holes = np.flatnonzero(np.diff(idx) > 1)
        for k in holes:
            a, b = int(idx[k]), int(idx[k + 1])
            if t[b] - t[a] > max_gap_s + TIME_EPS:
                continue
            if not copied:
                points, present, copied = points.copy(), present.copy(), True
            w = ((t[a + 1 : b] - t[a]) / (t[b] - t[a])).astype(np.float32)[:, None, None]
            points[a + 1 : b, g.slice] = (1 - w) * points[a, g.slice] + w * points[b, g.slice]
            present[a + 1 : b, gi] = True
    return seq.replace(points=points, present=present) if copied else seq


def resample(seq: LandmarkSequence, fps: float) -> LandmarkSequence:
    """Resample to ``fps`` from the timestamps: frames at ``t0 + k / fps`` up to the last one.

    Points are linearly interpolated between the two source frames around each new instant;
    a group is present at the new instant only if it is present in both (or, on an exact hit,
    in that frame). A sequence already at ``fps`` comes back unchanged (same values).
    """
    n = seq.num_frames
    if n == 0:
        return seq.replace(fps=fps)
    t = seq.timestamps
    new_t = t[0] + np.arange(int(np.floor((t[-1] - t[0]) * fps + TIME_EPS)) + 1) / fps
    if len(new_t) == n and np.allclose(new_t, t, atol=TIME_EPS, rtol=0.0):
        return seq.replace(fps=fps, timestamps=new_t)
    right = np.clip(np.searchsorted(t, new_t - TIME_EPS, side="left"), 0, n - 1)
    left = np.clip(right - 1, 0, n - 1)
    span = t[right] - t[left]
    w = np.where(span > TIME_EPS, (new_t - t[left]) / np.where(span > 0, span, 1.0), 1.0)
    exact = np.abs(t[right] - new_t) <= TIME_EPS
    w = np.where(exact, 1.0, w).astype(np.float32)
    wp = w[:, None, None]
    points = (1 - wp) * seq.points[left] + wp * seq.points[right]
    present = np.where(exact[:, None], seq.present[right], seq.present[left] & seq.present[right])
    # an absent group contributes zeros to the blend: keep absent points exactly zero
    points[~point_mask(present, int(points.shape[1]))] = 0.0
    return seq.replace(
        points=points.astype(np.float32), present=present, timestamps=new_t, fps=fps, spans=None
    )


class StreamResampler:
    """:func:`resample` for a live stream: raw frames in, frames on the ``fps`` grid out.

    The grid is anchored at the first frame's timestamp, as :func:`resample` anchors it, so
    pushing a sequence frame by frame yields exactly the frames of ``resample(sequence, fps)``.
    """

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self._t0: float | None = None
        self._next = 0  # index of the next grid frame to emit
        self._prev: tuple[float, npt.NDArray[np.float32], npt.NDArray[np.bool_]] | None = None

    def reset(self) -> None:
        self._t0, self._next, self._prev = None, 0, None

    def push(
        self, points: npt.NDArray[np.float32], present: npt.NDArray[np.bool_], t: float
    ) -> list[tuple[float, npt.NDArray[np.float32], npt.NDArray[np.bool_]]]:
        """One raw frame ``points (P, 4)``, ``present (4,)`` at ``t`` seconds -> grid frames
        ``(t_k, points, present)`` that became computable (timestamps must increase)."""
        out = []
        if self._t0 is None:
            self._t0 = t
        elif self._prev is not None and t <= self._prev[0]:
            raise ValueError(f"timestamps must increase: {t} after {self._prev[0]}")
        while True:
            tk = self._t0 + self._next / self.fps
            if tk > t + TIME_EPS:
                break
            if abs(tk - t) <= TIME_EPS or self._prev is None:
                out.append((tk, points.copy(), present.copy()))
            else:
                t_prev, p_prev, m_prev = self._prev
                w = np.float32((tk - t_prev) / (t - t_prev))
                m = m_prev & present
                p = ((1 - w) * p_prev + w * points).astype(np.float32)
                p[~point_mask(m[None], int(p.shape[0]))[0]] = 0.0
                out.append((tk, p, m))
            self._next += 1
        self._prev = (t, points, present)
        return out
