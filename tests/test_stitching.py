"""Stitching overlapping windows: a local model stitched == the model on the whole stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from engine.stitching import Chunk, PosteriorStitcher, run_windowed, window_starts

Array = npt.NDArray[Any]
C = 3  # "classes" of the fake model's output


class LocalModel:
    """A fake model that is exactly local in time: output frame t is a fixed weighted sum of
    input frames ``t - past .. t + future``, with zeros outside the input it is given (as a
    convolution with zero padding at the edges of whatever window it runs on)."""

    def __init__(self, past: int, future: int, seed: int = 0) -> None:
        self.past, self.future = past, future
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(size=(past + future + 1, C)).astype(np.float64)

    def __call__(self, x: Array) -> Array:
        t = len(x)
        padded = np.concatenate([np.zeros(self.past), x[:, 0], np.zeros(self.future)])
        out = np.zeros((t, C))
        for k, w in enumerate(self.weights):  # offset k - past
            out += padded[k : k + t, None] * w
        return out


def stream(n: int, seed: int = 1) -> Array:
    return np.random.default_rng(seed).normal(size=(n, 1))


@pytest.mark.parametrize("n", [1, 7, 30, 31, 97, 200])
@pytest.mark.parametrize(
    ("window", "hop", "past", "lookahead"),
    [
        (20, 5, 11, 4),  # streaming student: window = receptive field + lookahead + hop
        (16, 4, 3, 2),  # more past than needed
        (12, 1, 8, 3),  # hop of one frame
        (10, 10, 0, 0),  # no overlap at all: a per-frame model
        (24, 6, 5, 0),  # causal
        (30, 8, 0, 6),  # look-ahead only
    ],
)
def test_bounded_lookahead_matches_whole_stream(
    n: int, window: int, hop: int, past: int, lookahead: int
) -> None:
    model = LocalModel(past, lookahead)
    x = stream(n)
    stitched = run_windowed(model, x, window, hop, lookahead)
    np.testing.assert_allclose(stitched, model(x), atol=1e-12)


def test_the_property_test_can_fail() -> None:
    # one frame of past more than the window affords: stitched output is no longer exact
    model = LocalModel(12, 4)
    x = stream(60)
    assert not np.allclose(run_windowed(model, x, 20, 5, 4), model(x))


@pytest.mark.parametrize("n", [5, 40, 41, 123])
@pytest.mark.parametrize(("window", "hop", "reach"), [(30, 10, 10), (31, 10, 10), (21, 5, 8)])
def test_bidirectional_keeps_the_centre(n: int, window: int, hop: int, reach: int) -> None:
    # reach <= (window - hop) // 2 on both sides: the centre hop of each window is exact
    model = LocalModel(reach, reach)
    x = stream(n, seed=n)
    np.testing.assert_allclose(run_windowed(model, x, window, hop, None), model(x), atol=1e-12)
    assert PosteriorStitcher(window, hop, None).right_context == (window - hop) // 2


def test_push_emits_each_frame_once_in_order() -> None:
    window, hop, look = 20, 5, 4
    st = PosteriorStitcher(window, hop, look)
    n = 63
    frames = np.arange(n, dtype=np.float32)[:, None].repeat(2, axis=1)  # the frame index
    seen: list[int] = []
    expect_next = 0
    for s in window_starts(n, window, hop):
        chunk = st.push(frames[s : s + window], s)
        assert isinstance(chunk, Chunk) and chunk.start == expect_next
        expect_next = chunk.end
        seen += chunk.log_probs[:, 0].astype(int).tolist()
    last = st.flush()
    assert last.start == expect_next and last.end == n
    seen += last.log_probs[:, 0].astype(int).tolist()
    assert seen == list(range(n))


def test_first_window_gives_leading_frames_and_latency() -> None:
    st = PosteriorStitcher(20, 5, 4)
    lp = np.zeros((20, 3), np.float32)
    first = st.push(lp, 0)
    # frames 0..15 have their 4 future frames in the first window
    assert (first.start, first.end) == (0, 16)
    second = st.push(lp, 5)
    assert (second.start, second.end) == (16, 21)
    assert st.latency_frames == 4 + 5 - 1
    assert st.next_frame == 21


def test_stream_may_start_anywhere_and_short_windows() -> None:
    st = PosteriorStitcher(10, 5, 2)
    a = st.push(np.zeros((6, 4)), 100)  # a short first window starting at frame 100
    assert (a.start, a.end) == (100, 104)
    b = st.push(np.zeros((10, 4)), 105)  # frame 104 is only in the first window
    assert (b.start, b.end) == (104, 113)
    c = st.flush()
    assert (c.start, c.end) == (113, 115)
    assert st.next_frame == 0  # flushed: a new stream


def test_lookahead_longer_than_the_overlap_is_clipped() -> None:
    st = PosteriorStitcher(10, 5, 8)
    assert st.right_context == 5
    assert st.push(np.zeros((10, 2)), 0).end == 5


def test_flush_with_a_final_window() -> None:
    model = LocalModel(2, 2)
    x = stream(27)
    st = PosteriorStitcher(12, 4, 2)
    out = [st.push(model(x[s : s + 12]), s).log_probs for s in (0, 4, 8, 12)]  # ends at 24
    out.append(st.flush(model(x[15:27]), 15).log_probs)
    np.testing.assert_allclose(np.concatenate(out), model(x), atol=1e-12)


def test_flush_without_windows_and_bad_input() -> None:
    st = PosteriorStitcher(10, 5, 2)
    empty = st.flush()
    assert empty.start == 0 and empty.log_probs.shape[0] == 0
    with pytest.raises(ValueError, match="hop"):
        PosteriorStitcher(10, 11, 2)
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        st.push(np.zeros(10), 0)
    st.push(np.zeros((10, 3)), 0)
    with pytest.raises(ValueError, match="classes"):
        st.push(np.zeros((10, 4)), 5)
    with pytest.raises(ValueError, match="uncovered"):
        st.push(np.zeros((10, 3)), 11)
    st.push(np.zeros((10, 3)), 5)
    with pytest.raises(ValueError, match="order"):
        st.push(np.zeros((10, 3)), 0)
    with pytest.raises(ValueError, match="start_frame"):
        st.flush(np.zeros((10, 3)))


def test_window_starts() -> None:
    assert window_starts(0, 10, 5) == []
    assert window_starts(7, 10, 5) == [0]
    assert window_starts(10, 10, 5) == [0]
    assert window_starts(20, 10, 5) == [0, 5, 10]
    assert window_starts(22, 10, 5) == [0, 5, 10, 12]


def test_returned_frames_are_not_views_of_the_window() -> None:
    st = PosteriorStitcher(10, 5, 2)
    lp = np.zeros((10, 2), np.float32)
    chunk = st.push(lp, 0)
    lp[:] = 1.0  # the engine may reuse its output buffer
    assert not chunk.log_probs.any()
