"""Sign previews: the file format, the shipped file, its index check, the choice of clips."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine.dataset import Dataset
from engine.errors import PreviewError
from engine.landmarks import POSE
from engine.model import read_model_info
from engine.model_index import INDEX_FILE, MODELS_DIR, add_file, default_model, read_index
from engine.previews import (
    MAX_FRAMES,
    PREVIEW_POINTS,
    PREVIEW_POSE,
    PreviewClip,
    Previews,
    clip_from_sequence,
    load_previews,
    previews_beside,
    previews_path,
    save_previews,
)
from tests.conftest import REPO, make_sequence
from training.data.registry import ASL_COFFEE_SIGNERS
from training.previews import PreviewChoice, build_previews, taught_previews

MAX_SHIPPED_BYTES = 300_000  # "a few hundred KB at most for the default vocabulary"
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = (PREVIEW_POSE.index(i) for i in (0, 11, 12))


def _clip(gloss: str = "hello", signer: str = "signer 1", frames: int = 24, seed: int = 0):  # type: ignore[no-untyped-def]
    seq = make_sequence(num_frames=frames, seed=seed, glosses=(gloss,), signer="Somebody Real")
    return clip_from_sequence(seq.replace(aspect=16 / 9), gloss, signer)


# ---------------------------------------------------------------------- the format
def test_round_trip_keeps_every_clip(tmp_path: Path) -> None:
    long = make_sequence(num_frames=100, seed=3, drop_left=0.3)
    clips = (
        _clip("hello"),
        _clip("hello", "signer 2", seed=1),
        clip_from_sequence(long, "tea", "you"),
    )
    path = save_previews(Previews(clips, "a test"), tmp_path / "m.previews.npz")
    back = load_previews(path)
    assert back.source == "a test" and back.glosses == ("hello", "tea")
    assert [c.signer for c in back.of("hello")] == ["signer 1", "signer 2"]
    for a, b in zip(clips, back.clips, strict=True):
        assert (a.gloss, a.signer, a.aspect) == (b.gloss, b.signer, b.aspect)
        assert b.fps == pytest.approx(a.fps) and b.points.shape == a.points.shape
        assert np.array_equal(np.isnan(a.points), np.isnan(b.points))  # not seen stays not seen
        np.testing.assert_allclose(b.points, a.points, atol=1e-3, equal_nan=True)
    # a long clip is resampled to MAX_FRAMES over the same duration; its lost left hand is NaN
    tea = back.of("tea")[0]
    assert tea.num_frames == MAX_FRAMES and tea.fps == pytest.approx(30.0 * MAX_FRAMES / 100)
    left = slice(len(PREVIEW_POSE), len(PREVIEW_POSE) + 21)
    assert np.isnan(tea.points[:, left]).all(axis=(1, 2)).any()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged leftovers


def test_clips_are_trimmed_to_the_hands_and_only_skeleton_points_are_kept() -> None:
    seq = make_sequence(num_frames=30, seed=4)
    present = seq.present.copy()
    present[:10, 1:3] = False  # the hands come into view at frame 10
    clip = clip_from_sequence(seq.replace(present=present), "hello", "signer 1")
    assert clip.num_frames == 30 - 10 + 2 and clip.points.shape[1:] == (PREVIEW_POINTS, 2)
    points, groups = clip.landmarks()  # back in the engine's layout, for the overlay's drawing
    assert points.shape == (clip.num_frames, 75, 4) and groups[:, 0].all()
    assert not groups[:2, 1:3].any() and groups[2:, 1:3].all()
    np.testing.assert_allclose(points[5, POSE.start + 11, :2], seq.points[13, 11, :2])
    assert points[0, POSE.start + 1, 3] == 0.0  # an eye is no skeleton point: never drawn


FRAMES = 24  # of _clip()


def _meta(**changes: object) -> str:
    clip = {"gloss": "hello", "signer": "signer 1", "fps": 30.0, "aspect": None}
    meta = {"format": "signstream-previews", "version": 1, "source": "",
            "pose_points": list(PREVIEW_POSE), "clips": [clip]}  # fmt: skip
    return json.dumps(meta | changes)


def _write(path: Path, **arrays: object) -> Path:
    """A previews file of one clip as save_previews writes it, with ``arrays`` replaced."""
    clip = _clip()
    assert clip.num_frames == FRAMES
    base: dict[str, object] = {
        "meta": _meta(), "points": clip.points.astype(np.float16),
        "offsets": np.array([0, FRAMES], np.int64),
    }  # fmt: skip
    with open(path, "wb") as f:
        np.savez_compressed(f, **{k: np.asarray(v) for k, v in (base | arrays).items()})
    return path


@pytest.mark.parametrize(
    ("arrays", "said"),
    [
        ({}, None),  # the well-formed file these are made from loads
        ({"points": np.zeros((FRAMES, 10, 2), np.float16)}, "expected float16"),
        ({"points": np.zeros((FRAMES, PREVIEW_POINTS, 2), np.float32)}, "expected float16"),
        ({"offsets": np.array([0, 5], np.int64)}, "do not split"),
        ({"offsets": np.array([0, 12, FRAMES], np.int64)}, "for 1 clips"),
        ({"offsets": np.array([0, FRAMES], np.float64)}, "offsets are float64"),
        ({"points": np.full((FRAMES, PREVIEW_POINTS, 2), 640, np.float16)}, "not landmarks"),
        (
            {
                "points": np.full((MAX_FRAMES + 1, PREVIEW_POINTS, 2), 0.5, np.float16),
                "offsets": np.array([0, MAX_FRAMES + 1]),
            },
            "at most",
        ),
        ({"meta": "{not json"}, "not JSON"),
        ({"meta": _meta(format="something-else")}, "not a signstream-previews file"),
        ({"meta": _meta(version=2)}, "format version 2"),
        ({"meta": _meta(clips=[{"gloss": "hello"}])}, "lacks gloss/signer/fps/aspect"),
    ],
)
def test_a_wrong_file_is_refused_naming_it(tmp_path: Path, arrays: dict, said: str | None) -> None:  # type: ignore[type-arg]
    path = _write(tmp_path / "m.previews.npz", **arrays)
    if said is None:
        assert load_previews(path).glosses == ("hello",)
        return
    with pytest.raises(PreviewError, match=re.escape(said)) as e:
        load_previews(path)
    assert str(path) in str(e.value) and "signstream train previews" in str(e.value)


def test_a_corrupt_or_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = save_previews(Previews((_clip(),)), tmp_path / "m.previews.npz")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # cut short
    with pytest.raises(PreviewError, match="unreadable sign previews") as e:
        load_previews(path)
    assert str(path) in str(e.value)
    path.write_bytes(b"\x89PNG not previews at all")
    with pytest.raises(PreviewError, match="not a NumPy array file"):
        load_previews(path)
    with pytest.raises(PreviewError, match="no such file"):
        load_previews(tmp_path / "gone.previews.npz")
    with zipfile.ZipFile(path, "w") as z:  # an npz without the arrays
        z.writestr("other.npy", b"")
    with pytest.raises(PreviewError, match="no meta / points / offsets array"):
        load_previews(path)


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_previews(Previews((_clip(),)), tmp_path / "m.previews.npz")
    before = path.read_bytes()

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_previews(Previews((_clip("tea"),)), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_previews_beside_a_model(tmp_path: Path) -> None:
    model = tmp_path / "mine+mine-1.onnx"
    assert previews_path(model) == tmp_path / "mine+mine-1.previews.npz"
    assert previews_beside(model) is None  # unlisted, and none there
    save_previews(Previews((_clip(),)), previews_path(model))
    assert previews_beside(model) == previews_path(model)


# ---------------------------------------------------------------------- the shipped file
def _shipped() -> tuple[Path, Previews]:
    model = default_model()
    assert model is not None
    path = previews_beside(model)
    assert path is not None, f"{model.name} ships without sign previews"
    return path, load_previews(path)


def test_the_shipped_model_has_small_anonymous_previews_of_every_gloss() -> None:
    path, previews = _shipped()
    assert path.stat().st_size <= MAX_SHIPPED_BYTES
    glosses = read_model_info(default_model()).vocabulary.glosses  # type: ignore[arg-type]
    assert previews.glosses == glosses
    for gloss in glosses:
        signers = [c.signer for c in previews.of(gloss)]
        assert 2 <= len(signers) <= 3 and len(set(signers)) == len(signers), gloss
        assert all(re.fullmatch(r"signer [1-3]", s) for s in signers), signers
    with zipfile.ZipFile(path) as z:  # nobody's name anywhere in the file
        text = b"".join(z.read(n) for n in z.namelist()).decode("latin-1")
    names = set(ASL_COFFEE_SIGNERS)
    people = REPO / "data" / "people"
    if (people / "dataset.json").is_file():  # the crowd's names too, where imported
        names |= {i.signer for i in Dataset(people).infos}
    assert not [n for n in names if n in text]
    assert "people" in previews.source


def test_the_shipped_skeletons_stand_upright_in_the_picture() -> None:
    _, previews = _shipped()
    for clip in previews.clips:
        nose_y = np.nanmedian(clip.points[:, NOSE, 1])
        shoulders = clip.points[:, [LEFT_SHOULDER, RIGHT_SHOULDER]]
        assert nose_y < np.nanmedian(shoulders[..., 1]), clip.gloss  # y grows downwards
        # the person's left shoulder is on the image's right (a camera facing them)
        assert np.nanmedian(shoulders[:, 0, 0]) > np.nanmedian(shoulders[:, 1, 0]), clip.gloss
        assert 0.0 < np.nanmedian(shoulders) < 1.0
        assert (~np.isnan(clip.points[:, len(PREVIEW_POSE) :, 0])).any(), "no hand at all"


@pytest.mark.data
def test_the_shipped_previews_are_what_the_builder_makes_of_the_people_data() -> None:
    root = REPO / "data" / "people"
    if not (root / "dataset.json").is_file():
        pytest.skip(f"{root} is not imported (signstream train data import, see docs/TRAINING.md)")
    _, shipped = _shipped()
    again = build_previews(Dataset(root), shipped.glosses, shipped.source)
    assert [(c.gloss, c.signer, c.num_frames) for c in again.clips] == [
        (c.gloss, c.signer, c.num_frames) for c in shipped.clips
    ]
    for a, b in zip(again.clips, shipped.clips, strict=True):
        np.testing.assert_array_equal(a.points.astype(np.float16), b.points.astype(np.float16))


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    index = read_index(MODELS_DIR)
    for record in index.entries[index.default].files.values():  # type: ignore[index]
        shutil.copyfile(MODELS_DIR / record.file, folder / record.file)
    shutil.copyfile(MODELS_DIR / INDEX_FILE, folder / INDEX_FILE)
    return folder


def test_a_changed_shipped_previews_file_is_refused(shipped_copy: Path) -> None:
    index = read_index(shipped_copy)
    entry = index.entries[index.default]  # type: ignore[index]
    model = entry.path(shipped_copy, "onnx")
    path = previews_beside(model)  # type: ignore[arg-type]
    assert path == entry.path(shipped_copy, "previews")
    load_previews(path)  # the copy matches
    data = bytearray(path.read_bytes())  # type: ignore[union-attr]
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))  # type: ignore[union-attr]
    with pytest.raises(PreviewError, match=r"does not match models/index\.json") as e:
        load_previews(path)  # type: ignore[arg-type]
    assert str(path) in str(e.value)
    path.unlink()  # type: ignore[union-attr]
    assert previews_beside(model) == path  # listed: its absence is reported, not skipped
    with pytest.raises(PreviewError, match="no such file"):
        load_previews(path)  # type: ignore[arg-type]


def test_add_file_records_one_file_and_keeps_the_others(shipped_copy: Path) -> None:
    index = read_index(shipped_copy)
    name = index.default
    assert name is not None
    before = index.entries[name].files
    new = shipped_copy / "other.previews.npz"
    save_previews(Previews((_clip(),)), new)
    entry = add_file(shipped_copy, name, "previews", new)
    after = read_index(shipped_copy)
    assert after.default == name and after.entries[name] == entry
    assert entry.files["previews"].file == "other.previews.npz"
    assert {k: v for k, v in entry.files.items() if k != "previews"} == {
        k: v for k, v in before.items() if k != "previews"
    }
    with pytest.raises(ValueError, match="kind must be one of"):
        add_file(shipped_copy, name, "video", new)
    with pytest.raises(ValueError, match="lists no model"):
        add_file(shipped_copy, "nobody", "previews", new)


# ---------------------------------------------------------------------- choosing clips
def _person(signer: str, shift: float, n: int, gloss: str = "hello", hands: bool = True):  # type: ignore[no-untyped-def]
    """``n`` clips of one person standing ``shift`` to the right; one clip waves wildly."""
    out = []
    for k in range(n):
        seq = make_sequence(num_frames=20, seed=k, glosses=(gloss,), signer=signer)
        p = seq.points.copy()
        p[:, :, 0] += shift
        if k == 1:  # the odd one out: the wrists swing far from the others' path
            p[:, [15, 16], 1] += 0.4 * np.sin(np.linspace(0, 6, 20, dtype=np.float32))[:, None]
        present = seq.present.copy()
        present[:, 1:3] = hands
        out.append(seq.replace(points=p, present=present, source=f"{signer}:{k}"))
    return out


def test_the_choice_is_distinct_people_with_hands_each_at_their_usual(tmp_path: Path) -> None:
    ds = Dataset.create(tmp_path / "ds")
    people = [("Bo", 0.01, 4), ("Cy", 0.02, 3), ("Di", 0.03, 1)]
    ds.append(_person("Ann Handless", 0.0, 6, hands=False) + _person("Ed", 0.04, 5, "tea"))
    ds.append([seq for name, shift, n in people for seq in _person(name, shift, n)])
    previews = build_previews(ds, ("hello", "tea", "milk"), "test", PreviewChoice(max_clips=2))
    hello = previews.of("hello")
    # most clips first, but not the person whose hands were never seen
    shifts = [float(np.nanmedian(c.points[:, LEFT_SHOULDER, 0])) - 0.62 for c in hello]
    np.testing.assert_allclose(shifts, [0.01, 0.02], atol=2e-3)
    assert [c.signer for c in hello] == ["signer 1", "signer 2"]
    assert [c.signer for c in previews.of("tea")] == ["signer 1"] and not previews.of("milk")
    odd = clip_from_sequence(_person("Bo", 0.01, 4)[1], "hello", "signer 1")
    assert not np.allclose(np.nan_to_num(hello[0].points), np.nan_to_num(odd.points))
    again = build_previews(ds, ("hello", "tea", "milk"), "test", PreviewChoice(max_clips=2))
    for x, y in zip(previews.clips, again.clips, strict=True):  # the same data, the same choice
        assert (x.gloss, x.signer) == (y.gloss, y.signer)
        np.testing.assert_array_equal(x.points, y.points)


def test_taught_previews_put_the_users_take_first_then_the_base_models() -> None:
    base = Previews((_clip("hello", "signer 1"), _clip("hello", "signer 2", seed=1),
                     _clip("hello", "signer 3", seed=2), _clip("tea")), "asl-coffee")  # fmt: skip
    takes = {g: [make_sequence(num_frames=16, seed=s, glosses=(g,), signer="user:me")
                 for s in range(3)] for g in ("hello", "milk")}  # fmt: skip
    taught = taught_previews(takes, base, ("coffee", "hello", "tea", "milk"))
    assert [c.signer for c in taught.of("hello")] == ["you", "signer 1", "signer 2"]
    assert [c.signer for c in taught.of("milk")] == ["you"]
    assert taught.of("tea")[0] is base.of("tea")[0] and not taught.of("coffee")
    assert "your recordings" in taught.source and "asl-coffee" in taught.source
    alone = taught_previews(takes, None, ("hello", "tea", "milk"))
    assert alone.glosses == ("hello", "milk")


def test_a_clip_needs_frames_and_points_of_the_right_shape() -> None:
    with pytest.raises(ValueError, match="points must be"):
        PreviewClip("hello", "signer 1", np.zeros((0, PREVIEW_POINTS, 2), np.float32), 30.0)
    with pytest.raises(ValueError, match="fps"):
        PreviewClip("hello", "signer 1", np.zeros((3, PREVIEW_POINTS, 2), np.float32), 0.0)
