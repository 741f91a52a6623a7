"""Reading videos (engine.video) and importing folders of them (training.importers.videos).

Videos are written by the tests with cv2.VideoWriter (mp4v, MJPG): small synthetic clips, or frames
cut from the shared data's real signing where it is present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from conftest import make_sequence

import training.importers.videos as videos_mod
from engine.dataset import Dataset
from engine.errors import ImportProblem, SourceError
from engine.landmarks import UNKNOWN_SIGNER, LandmarkSequence
from engine.video import VideoReader, extract_video, read_video_info
from training.importers.videos import (
    PARTIAL_DIR,
    _partial_name,
    _save_partial,
    find_videos,
    import_videos,
)

W, H, FPS, N = 64, 48, 15.0, 8  # tiny clips: MediaPipe finds nobody in them, quickly


def synthetic_frames(n: int = N, seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    """BGR frames of a moving bright square on grey."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        f = np.full((H, W, 3), 90, np.uint8)
        x = 4 + 3 * i
        f[10:26, x : x + 16] = rng.integers(150, 255, 3)
        frames.append(f)
    return frames


def write_video(
    path: Path, frames: Sequence[npt.NDArray[np.uint8]], fps: float = FPS, fourcc: str = "mp4v"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {fourcc} video"
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def make_tree(root: Path) -> dict[str, Path]:
    """root/hello/{a,b}.mp4, root/thank you/c.mp4, root/hello/broken.mp4 (random bytes)."""
    files = {
        "a": write_video(root / "hello" / "a.mp4", synthetic_frames(seed=1)),
        "b": write_video(root / "hello" / "b.mp4", synthetic_frames(seed=2)),
        "c": write_video(root / "thank you" / "c.mp4", synthetic_frames(N + 2, seed=3)),
    }
    broken = root / "hello" / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(4000))
    files["broken"] = broken
    return files


def by_source(ds: Dataset) -> dict[str, int]:
    return {info.source: info.num_frames for info in ds.infos}


# ---------------------------------------------------------------------------------- reading


def test_reader_frames_and_timestamps(tmp_path: Path) -> None:
    blue = np.zeros((H, W, 3), np.uint8)
    blue[..., 0] = 255  # BGR blue
    path = write_video(tmp_path / "v.mp4", [blue] * 6 + synthetic_frames(6))
    info = read_video_info(path)
    assert (info.fps, info.frame_count, info.width, info.height) == (FPS, 12, W, H)
    with VideoReader(path) as reader:
        got = list(reader)
        assert reader.frames_read == 12 and not reader.truncated and reader.problem is None
    frames, times = zip(*got, strict=True)
    assert frames[0].shape == (H, W, 3) and frames[0].dtype == np.uint8
    r, g, b = frames[0][H // 2, W // 2].astype(int)
    assert b > 200 and r < 60 and g < 60  # RGB order, not OpenCV's BGR
    np.testing.assert_allclose(times, np.arange(12) / FPS, atol=1e-6)


@pytest.mark.parametrize("name", ["missing.mp4", "random.mp4"])
def test_unreadable_file_raises_source_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name == "random.mp4":
        path.write_bytes(os.urandom(3000))
    with pytest.raises(SourceError, match=name):
        VideoReader(path)
    with pytest.raises(SourceError, match=name):
        extract_video(path)


def test_truncated_video_ends_iteration_and_is_recorded(tmp_path: Path) -> None:
    # MJPG keeps its frame count in the header, so a cut file opens and then runs dry
    noise = [np.random.default_rng(i).integers(0, 255, (H, W, 3), np.uint8) for i in range(40)]
    full = write_video(tmp_path / "full.avi", noise, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with VideoReader(cut) as reader:
        n = sum(1 for _ in reader)
        assert 0 < n < 30
        assert reader.truncated and reader.problem is not None and "cut.avi" in reader.problem
    with pytest.raises(SourceError, match="decoding stopped"):
        extract_video(cut)
    partial = extract_video(cut, allow_truncated=True)
    assert partial.num_frames == n


# ---------------------------------------------------------------------------------- finding


def test_find_videos_labels_from_folders(tmp_path: Path) -> None:
    files = make_tree(tmp_path)
    write_video(tmp_path / "loose.mp4", synthetic_frames(2))  # no gloss folder
    (tmp_path / "hello" / "notes.txt").write_text("not a video")
    items = list(find_videos(tmp_path))
    found = {i.path.name: i.glosses for i in items if not isinstance(i, Exception)}
    assert {i.signer for i in items if not isinstance(i, Exception)} == {UNKNOWN_SIGNER}
    assert found == {
        "a.mp4": ("hello",),
        "b.mp4": ("hello",),
        "c.mp4": ("thank-you",),  # gloss names carry no spaces
        "broken.mp4": ("hello",),  # unreadable only shows when extracting
    }
    problems = [i for i in items if isinstance(i, Exception)]
    assert len(problems) == 1 and "loose.mp4" in str(problems[0])
    assert all(i.path.is_absolute() for i in items if not isinstance(i, Exception))
    assert files["a"].resolve().as_posix() in {
        i.source for i in items if not isinstance(i, Exception)
    }


def test_labels_csv(tmp_path: Path) -> None:
    write_video(tmp_path / "clips" / "one.mp4", synthetic_frames(4, seed=1))
    write_video(tmp_path / "two.mp4", synthetic_frames(4, seed=2))
    (tmp_path / "labels.csv").write_text(
        "file,gloss,signer\nclips/one.mp4,hello,ann\ntwo.mp4,i want coffee,bob\n"
        "gone.mp4,tea,ann\nunlisted_is_ignored,,\n",
        encoding="utf-8",
    )
    write_video(tmp_path / "tea" / "three.mp4", synthetic_frames(4))  # not listed: not imported
    report = import_videos(tmp_path, tmp_path / "ds", workers=0, progress=False)
    assert report.imported == 2 and len(report.problems) == 2
    assert {p.path.rsplit("/", 1)[-1] for p in report.problems} == {"gone.mp4", "labels.csv:5"}
    ds = Dataset(tmp_path / "ds")
    got = {Path(i.source).name: (i.glosses, i.signer) for i in ds.infos}
    assert got == {"one.mp4": (("hello",), "ann"), "two.mp4": (("i", "want", "coffee"), "bob")}


# ---------------------------------------------------------------------------------- importing


def test_import_in_parallel_reports_unreadable_and_reruns_idempotently(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "videos")
    seen: list[str] = []
    report = import_videos(
        tmp_path / "videos",
        tmp_path / "ds",
        workers=2,
        progress=False,
        on_problem=lambda p: seen.append(p.path),
    )
    assert (report.imported, report.extracted, report.skipped, report.resumed) == (3, 3, 0, 0)
    assert [p.path for p in report.problems] == [str(files["broken"].resolve())] == seen
    assert "broken.mp4" in report.summary()
    ds = Dataset(tmp_path / "ds")
    assert len(ds) == 3
    frames = by_source(ds)
    assert frames == {
        files["a"].resolve().as_posix(): N,
        files["b"].resolve().as_posix(): N,
        files["c"].resolve().as_posix(): N + 2,
    }
    c = next(s for s in ds if s.source.endswith("c.mp4"))
    assert c.glosses == ("thank-you",) and c.fps == FPS and c.aspect == pytest.approx(W / H)
    np.testing.assert_allclose(c.timestamps, np.arange(N + 2) / FPS, atol=1e-6)
    assert not (tmp_path / "ds" / PARTIAL_DIR).exists()  # all merged

    again = import_videos(tmp_path / "videos", tmp_path / "ds", workers=2, progress=False)
    assert (again.imported, again.extracted, again.skipped) == (0, 0, 3)
    assert len(again.problems) == 1  # the broken file is tried (and reported) again
    assert by_source(Dataset(tmp_path / "ds")) == frames


def test_failed_video_import_leaves_no_dataset_and_an_existing_one_as_it_was(
    tmp_path: Path,
) -> None:
    # issue 17: a missing folder of videos raised a bare FileNotFoundError after creating the
    # dataset, and a folder of unreadable videos left an empty dataset behind
    target = tmp_path / "out" / "ds"
    with pytest.raises(ImportProblem, match="nowhere: no such folder of videos"):
        import_videos(tmp_path / "nowhere", target, workers=0, progress=False)
    broken = tmp_path / "videos" / "hello" / "broken.mp4"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(np.random.default_rng(0).bytes(4000))
    report = import_videos(tmp_path / "videos", target, workers=0, progress=False)
    assert report.imported == 0 and [p.path for p in report.problems] == [str(broken)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos"]  # no out/, no out/ds

    Dataset.create(target).append([make_sequence()])
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in target.iterdir()}
    report = import_videos(tmp_path / "videos", target, workers=0, progress=False)
    assert report.imported == 0 and len(report.problems) == 1
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in target.iterdir()} == before


def test_interrupted_import_resumes_without_reextracting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path / "videos")
    real = extract_video
    calls: list[str] = []
    interrupt_at: int | None = 2

    def counting(path: Path, *args: Any, **kwargs: Any) -> LandmarkSequence:
        calls.append(Path(path).name)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C in the middle of this video
        return real(path, *args, **kwargs)

    monkeypatch.setattr(videos_mod, "extract_video", counting)
    with pytest.raises(KeyboardInterrupt):
        import_videos(tmp_path / "videos", tmp_path / "ds", workers=0, progress=False)
    partial = tmp_path / "ds" / PARTIAL_DIR
    assert len(list(partial.glob("*.npz"))) == 1  # the first video survived the interruption
    assert not list(partial.glob("*.tmp"))  # and nothing half-written
    assert len(Dataset(tmp_path / "ds")) == 0

    calls.clear()
    interrupt_at = None
    report = import_videos(
        tmp_path / "videos", tmp_path / "ds", workers=0, progress=False, merge_every=1
    )
    first = sorted(p.name for p in (tmp_path / "videos").rglob("*.mp4"))[0]
    assert first not in calls  # taken from .partial, not extracted again
    assert (report.resumed, report.extracted, report.imported, report.skipped) == (1, 2, 3, 0)
    ds = Dataset(tmp_path / "ds")
    assert len(ds) == 3 and len(ds.sources()) == 3
    index = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert len(index["shards"]) == 3  # merge_every=1: the resumed one, then one per video


def test_prefilled_partial_is_used_and_duplicates_are_dropped(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "videos")
    ds = Dataset.create(tmp_path / "ds")
    src_a, src_b = (files[k].resolve().as_posix() for k in ("a", "b"))
    # a: finished by a killed run (in .partial only); b: appended to the dataset, but the run
    # died before deleting its partial file
    done_a = make_sequence(num_frames=5, seed=1).replace(source=src_a, glosses=("hello",))
    done_b = make_sequence(num_frames=6, seed=2).replace(source=src_b, glosses=("hello",))
    ds.append([done_b])
    for seq in (done_a, done_b):
        _save_partial(ds.root / PARTIAL_DIR / _partial_name(seq.source), seq)

    report = import_videos(tmp_path / "videos", ds, workers=0, progress=False)
    assert (report.resumed, report.extracted, report.imported, report.skipped) == (1, 1, 2, 1)
    frames = by_source(Dataset(tmp_path / "ds"))
    assert frames[src_a] == 5  # the partial's sequence, not a re-extraction (N frames)
    assert frames[src_b] == 6
    assert len(frames) == 3 == len(Dataset(tmp_path / "ds"))


# ---------------------------------------------------------------------------------- real data


@pytest.mark.data
def test_import_real_signing(shared_data: Path, tmp_path: Path) -> None:
    """Clips cut from real videos keep their signer detected through write + import."""
    root = tmp_path / "videos"
    for name, gloss in (("FOOTBALL.mp4", "football"), ("SOUP.mp4", "soup")):
        src = shared_data / "videos" / name
        if not src.is_file():
            pytest.skip(f"{src} missing")
        with VideoReader(src) as reader:
            fps = reader.info.fps
            rgb = [f for f, _ in reader.frames(12)]
        bgr = [np.asarray(cv2.cvtColor(f, cv2.COLOR_RGB2BGR), np.uint8) for f in rgb]
        write_video(root / gloss / f"{gloss}-clip.mp4", bgr, fps=fps)
    report = import_videos(root, tmp_path / "ds", workers=0, progress=False)
    assert report.imported == 2 and not report.problems
    for seq in Dataset(tmp_path / "ds"):
        assert seq.num_frames == 12
        assert seq.fps == pytest.approx(29.97, abs=0.01)
        assert seq.is_present("pose").all()
        assert seq.is_present("left_hand").mean() > 0.5
        assert seq.glosses[0] in seq.source
