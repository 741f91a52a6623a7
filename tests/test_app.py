"""The desktop app, offscreen, on real widgets: videos, models from the menu, the transcript."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from app.main_window import MainWindow
from app.transcript import TranscriptEntry, to_srt
from engine.dataset import Dataset
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize


def write_video(path: Path, frames: int = 12) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (96, 72))
    for i in range(frames):
        img = np.full((72, 96, 3), 40 + 10 * i, np.uint8)
        cv2.circle(img, (20 + 4 * i, 36), 8, (255, 255, 255), -1)
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    """A settings file of the test's own: the user's real settings are never touched."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings: QSettings, tmp_path: Path):  # type: ignore[no-untyped-def]
    w = MainWindow(model=None, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.bridge.close()


def test_plays_a_video_without_people(window, qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video = write_video(tmp_path / "empty.mp4")
    with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
        window.open_source(video, realtime=False)
    qtbot.waitUntil(lambda: window.frames_shown == 12, timeout=5_000)
    assert not window.video.pixmap().isNull()
    assert not window.notice.isVisible()
    assert "landmarks only" in window.status.text()


def test_unreadable_video_gives_a_message_and_the_app_keeps_running(
    window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(2048))
    window.open_source(bad)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=5_000)
    assert "broken.mp4" in window.notice.message
    window.notice.dismiss()
    with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
        window.open_source(write_video(tmp_path / "ok.mp4", frames=4), realtime=False)
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=5_000)


def test_model_from_menu_transcript_grows_and_bad_model_keeps_the_old(
    window, qtbot, tiny_onnx: Path, tiny_data: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window.load_model(tiny_onnx)
    assert window.bridge.model_info is not None and "tiny" in window.status.text()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage")
    window.load_model(broken)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=5_000)
    assert "broken.onnx" in window.notice.message
    assert window.bridge.model_info is not None and window.bridge.model_info.name == "tiny"
    window.notice.dismiss()
    # sentences of the held-out tiny signer, replayed as a landmark recording
    ds = Dataset(tiny_data / "ds")
    pool = SamplePool(collect_samples(ds, [i.index for i in ds.infos if i.signer == "s3"]))
    wanted = [("hello", "tea"), ("coffee", "hello"), ("tea", "coffee", "hello")] * 2
    out = Dataset.create(tmp_path / "sentences")
    out.append(synthesize(pool, wanted, SynthesisConfig(idle_before=1, idle_after=1), seed=5))
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        window.open_source(f"dataset:{tmp_path / 'sentences'}", realtime=False)
    qtbot.waitUntil(lambda: len(window.transcript.entries) > 0, timeout=5_000)
    srt = tmp_path / "t.srt"
    window.write_transcript(srt)
    assert srt.read_text().startswith("1\n00:00:")


def test_srt_format() -> None:
    entries = [TranscriptEntry(1.5, 2.25, "hello tea", 0.9), TranscriptEntry(61.0, 61.1, "no", 0.5)]
    assert to_srt(entries) == (
        "1\n00:00:01,500 --> 00:00:02,250\nhello tea\n\n2\n00:01:01,000 --> 00:01:01,500\nno\n"
    )


@pytest.mark.data
def test_real_signing_video_shows_landmarks(window, qtbot, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    seen = []
    window.bridge.frame.connect(lambda e: seen.append(e.present.copy()))
    with qtbot.waitSignal(window.bridge.finished, timeout=90_000):
        window.open_source(shared_data / "videos" / "FOOTBALL.mp4", realtime=False)
    qtbot.waitUntil(lambda: len(seen) > 50, timeout=5_000)
    present = np.array(seen)
    assert present[:, 0].mean() > 0.95
    assert present[:, 1:3].any(axis=1).mean() > 0.9  # a hand in nearly every frame


# ---------------------------------------------------------------------- menus and settings
def _menu_action(menu, data: str):  # type: ignore[no-untyped-def]
    return next(a for a in menu.actions() if a.data() == data)


def test_model_menu_lists_user_models_with_their_metadata_and_loads_one(
    window, qtbot, tiny_onnx: Path
) -> None:  # type: ignore[no-untyped-def]
    user_model = window.user_models_dir / "mine.onnx"
    user_model.parent.mkdir(parents=True)
    user_model.write_bytes(tiny_onnx.read_bytes())
    (window.user_models_dir / "junk.onnx").write_bytes(b"not a model")
    window.fill_model_menu()
    action = _menu_action(window.model_menu, str(user_model))
    assert "3 glosses" in action.text() and " MB" in action.text()
    assert "not evaluated" in action.text()  # the tiny model carries no held-out WER
    action.trigger()
    assert window.bridge.model_info is not None and window.bridge.model_info.path == str(user_model)
    assert "tiny" in window.status.text() or "mine" in window.status.text()
    assert _menu_action(window.model_menu, str(user_model)).isChecked()
    recent = next(a.menu() for a in window.model_menu.actions() if a.text() == "Recent models")
    assert [a.text() for a in recent.actions()] == [str(user_model)]
    lines, _ = window.vocabulary_lines()
    assert lines[0].startswith("coffee") and "samples" in lines[0]  # counted in its dataset


def test_decoder_menu_applies_live(window, tiny_onnx: Path, tiny_lm: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "lm" / "tiny.onnx"
    model.parent.mkdir()
    model.write_bytes(tiny_onnx.read_bytes())
    (model.with_suffix(".arpa")).write_bytes(tiny_lm.read_bytes())
    window.load_model(model)
    assert window.bridge.has_lm and "beam + LM" in window.status.text()
    window.set_beam_width(5)
    window.set_alpha(1.5)
    config = window.bridge.decoder_config
    assert config is not None and (config.beam_width, config.alpha) == (5, 1.5)
    window.lm_action.trigger()  # off
    assert window.bridge.decoder_config.method == "greedy" and "greedy" in window.status.text()
    # when glosses are committed: live, at the model's frame rate
    assert window.bridge.streaming_config.settle_s > 0  # the default
    window.set_pause(0.8)
    window.settle_action.trigger()  # off
    rules = window.bridge.streaming_config
    assert (rules.pause_s, rules.settle_s, rules.fps) == (0.8, 0.0, window.bridge.model_info.fps)


def test_settings_round_trip(qtbot, settings: QSettings, tmp_path: Path, tiny_onnx: Path) -> None:  # type: ignore[no-untyped-def]
    first = MainWindow(model=tiny_onnx, settings=settings, data_dir=tmp_path / "u")
    qtbot.addWidget(first)
    first.mirror_action.trigger()
    first.overlay_action.trigger()
    first.set_large_text(True)
    first.set_beam_width(20)
    first.set_alpha(0.75)
    first.set_pause(0.5)
    first.settle_action.trigger()  # off
    first.set_resolution((1280, 720))
    first.update_prefs(camera="webcam:/dev/video3")
    first.show()
    first.resize(700, 500)  # within the offscreen screen (800 wide): not clamped
    size = first.size()
    first.close()
    again = QSettings(settings.fileName(), QSettings.Format.IniFormat)
    second = MainWindow(settings=again, data_dir=tmp_path / "u")  # "remembered" model
    qtbot.addWidget(second)
    try:
        p = second.prefs
        assert (p.mirror_camera, p.mirror_file, p.overlay, p.large_text) == (
            False,
            False,
            False,
            True,
        )
        assert (p.beam_width, p.alpha, p.resolution) == (20, 0.75, (1280, 720))
        assert p.camera == "webcam:/dev/video3" and p.recent_models[0] == str(tiny_onnx)
        assert not second.mirror_action.isChecked() and second.transcript.large
        assert second.bridge.model_info is not None
        assert second.bridge.model_info.path == str(tiny_onnx)
        assert second.bridge.decoder_config.beam_width == 20
        assert (p.pause_s, p.settle) == (0.5, False) and not second.settle_action.isChecked()
        assert (
            second.bridge.streaming_config.pause_s,
            second.bridge.streaming_config.settle_s,
        ) == (
            0.5,
            0.0,
        )
        assert p.geometry and second.size() == size
    finally:
        second.bridge.close()


class _UnpluggedCamera:
    """A camera that delivers a few frames, then nothing (pulled out of its socket)."""

    def __init__(self, frames: int) -> None:
        self.left = frames

    def isOpened(self) -> bool:
        return True

    def read(self):  # type: ignore[no-untyped-def]
        self.left -= 1
        if self.left < 0:
            return False, None
        return True, np.full((48, 64, 3), 90, np.uint8)

    def get(self, prop: int) -> float:
        return 30.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        pass


def test_camera_unplugged_mid_session_gives_a_message_and_the_app_keeps_working(
    window, qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from engine.sources import SourceConfig, WebcamSource

    camera = WebcamSource(
        0, SourceConfig(camera_timeout_s=0.3), capture=_UnpluggedCamera(8), spec="webcam:0"
    )
    window.open_source(camera)
    qtbot.waitUntil(lambda: window.notice.isVisible(), timeout=10_000)
    assert "stopped delivering frames" in window.notice.message
    assert window.frames_shown >= 1
    window.notice.dismiss()
    with qtbot.waitSignal(window.bridge.finished, timeout=30_000):
        window.open_source(write_video(tmp_path / "after.mp4", frames=4), realtime=False)


def test_no_camera_is_said_in_the_source_menu(window) -> None:  # type: ignore[no-untyped-def]
    texts = [a.text() for a in window.source_menu.actions()]
    if not window.cameras:
        assert "No camera found" in texts
    else:
        assert all(c.name in texts for c in window.cameras)


def test_transcript_shows_partial_with_its_time_lighter(window) -> None:  # type: ignore[no-untyped-def]
    from engine.events import GlossEvent

    window.transcript.add(GlossEvent("commit", ("hello",), (0.9,), 1.0, 1.5))
    window.transcript.add(GlossEvent("partial", ("tea",), (0.5,), 62.0, 62.5))
    html = window.transcript.toHtml()
    assert "00:01" in html and "01:02" in html and "tea" in html
    window.set_large_text(True)
    assert window.large_action.isChecked() and window.large_button.isChecked()
    assert window.transcript.font().pointSize() == 32


# ---------------------------------------------------------------------- recording
def test_recording_writes_samples_the_dataset_loader_reads_back(
    window, qtbot, tiny_data: Path
) -> None:  # type: ignore[no-untyped-def]
    window.open_record_dialog()
    dialog = window.record_dialog
    dialog.gloss.setEditText("milk")
    dialog.takes.setValue(2)
    dialog.seconds.setValue(0.5)
    dialog.countdown_s.setValue(0)
    window.open_source(f"dataset:{tiny_data / 'ds'}", realtime=True)
    with qtbot.waitSignal(dialog.recorder.done, timeout=20_000):
        dialog.record()
    window.bridge.stop()
    assert dialog.list.count() == 2
    ds = Dataset(window.data_dir / "recordings")  # a fresh reader: what is on disk
    assert [s.glosses for s in ds] == [("milk",), ("milk",)]
    assert all(s.num_frames >= 10 and s.points.shape[1:] == (75, 4) for s in ds)
    assert ds[0].signer.startswith("user")
    # review: delete the first take
    dialog.list.item(0).setSelected(True)
    dialog.delete_selected()
    assert len(Dataset(window.data_dir / "recordings")) == 1 and dialog.list.count() == 1
    assert not dialog.train_button.isEnabled()  # no model, so no checkpoint
    assert "Load a model" in dialog.train_button.toolTip()


# ---------------------------------------------------------------------- sign previews
@pytest.fixture
def shipped_window(qtbot, settings: QSettings, tmp_path: Path):  # type: ignore[no-untyped-def]
    from app.main_window import DEFAULT_MODEL

    assert DEFAULT_MODEL is not None and DEFAULT_MODEL.is_file()
    w = MainWindow(model=DEFAULT_MODEL, settings=settings, data_dir=tmp_path / "userdata")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.bridge.close()


def _drawn_pixels(widget) -> int:  # type: ignore[no-untyped-def]
    """Pixels of a widget's picture that are not the empty canvas (the skeleton's)."""
    from app.overlay import CANVAS_COLOUR

    image = widget.grab().toImage()
    step = 2
    return sum(
        image.pixelColor(x, y) != CANVAS_COLOUR
        for x in range(0, image.width(), step)
        for y in range(0, image.height() - 30, step)  # above the caption
    )


def test_help_vocabulary_plays_each_glosss_signers(shipped_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    w = shipped_window
    w.show_vocabulary()
    dialog = w.vocabulary_dialog
    glosses = w.bridge.model_info.vocabulary.glosses
    assert dialog.listing.count() == len(glosses) >= 15
    preview = dialog.preview
    assert dialog.gloss == glosses[0] and 2 <= len(preview.clips) <= 3
    assert {c.gloss for c in preview.clips} == {glosses[0]} and preview.caption.startswith(
        "signer 1"
    )
    assert "no video" in dialog.source.text() and "people" in dialog.source.text()
    first = preview.frame_index
    qtbot.waitUntil(lambda: preview.frames_shown >= 4, timeout=5_000)
    assert preview.frame_index != first
    assert _drawn_pixels(preview) > 200  # a skeleton, not an empty canvas
    dialog.listing.setCurrentRow(glosses.index("thank-you"))
    assert {c.gloss for c in preview.clips} == {"thank-you"} and preview.frames_shown == 0
    # through every frame of the first signer and on to the next person
    frames = preview.clips[0].num_frames
    qtbot.waitUntil(lambda: preview.clip_index == 1, timeout=10_000)
    assert preview.frames_shown >= frames and preview.caption.startswith("signer 2")


def test_a_model_without_previews_lists_its_glosses_and_says_so(window, tiny_onnx: Path) -> None:  # type: ignore[no-untyped-def]
    window.load_model(tiny_onnx)
    window.show_vocabulary()
    dialog = window.vocabulary_dialog
    assert dialog.listing.count() == 3 and not dialog.preview.clips
    assert "No preview for this model" in dialog.preview.message
    assert _drawn_pixels(dialog.preview) > 0  # the message is drawn


def test_damaged_previews_are_reported_and_the_model_still_runs(
    window, tiny_onnx: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from engine.previews import previews_path

    model = tmp_path / "mine.onnx"
    model.write_bytes(tiny_onnx.read_bytes())
    previews_path(model).write_bytes(b"PK\x03\x04 cut short")
    window.load_model(model)
    assert window.bridge.model_info is not None and window.bridge.model_info.path == str(model)
    window.show_vocabulary()
    dialog = window.vocabulary_dialog
    assert dialog.listing.count() == 3 and not dialog.preview.clips
    assert "mine.previews.npz" in dialog.preview.message
    assert "unreadable sign previews" in dialog.preview.message


def test_the_record_dialog_shows_the_preview_of_the_gloss(shipped_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    shipped_window.open_record_dialog()
    dialog = shipped_window.record_dialog
    preview = dialog.preview
    assert not preview.clips and "Pick a gloss" in preview.message
    dialog.gloss.setCurrentText("hello")
    assert preview.clips and {c.gloss for c in preview.clips} == {"hello"}
    qtbot.waitUntil(lambda: preview.frames_shown >= 3, timeout=5_000)
    assert _drawn_pixels(preview) > 200
    dialog.gloss.setEditText("milk")  # a sign the model does not know yet
    assert not preview.clips and "new sign" in preview.message
    dialog.gloss.setCurrentIndex(dialog.gloss.count() - 1)  # resting
    assert not preview.clips and "Resting" in preview.message
