"""The engine end to end: replays and videos through model and decoder; faults; live changes."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.dataset import Dataset
from engine.errors import LanguageModelError, LMVocabularyMismatch, ModelLoadError, SourceError
from engine.events import ErrorEvent, FrameEvent, GlossEvent
from engine.landmarks import LandmarkSequence
from engine.pipeline import Pipeline, PipelineConfig, run_source
from engine.sources import SourceConfig, replay_sequences
from training.data.synthesis import SamplePool, SynthesisConfig, collect_samples, synthesize
from training.lm import LMConfig, build_lm


@pytest.fixture(scope="module")
def sentences(tiny_data: Path) -> list[LandmarkSequence]:
    ds = Dataset(tiny_data / "ds")
    held_out = [i.index for i in ds.infos if i.signer == "s3"]
    pool = SamplePool(collect_samples(ds, held_out))
    wanted = [("hello", "tea"), ("coffee",), ("tea", "coffee", "hello")]
    return list(synthesize(pool, wanted, SynthesisConfig(idle_before=1, idle_after=1), seed=3))


def test_replay_gives_frames_partials_and_ordered_commits(
    tiny_onnx: Path, tiny_lm: Path, sentences: list[LandmarkSequence]
) -> None:
    config = PipelineConfig(model=str(tiny_onnx), lm=str(tiny_lm), drop_frames=False)
    pipeline = Pipeline(config)
    assert pipeline.provider == "CPUExecutionProvider"
    pipeline.start(replay_sequences(sentences, realtime=False))
    events = list(pipeline.events(timeout=60))
    pipeline.close()
    frames = [e for e in events if isinstance(e, FrameEvent)]
    glosses = [e for e in events if isinstance(e, GlossEvent)]
    assert len(frames) == sum(s.num_frames for s in sentences)
    assert not [e for e in events if isinstance(e, ErrorEvent)]
    commits = [e for e in glosses if e.is_commit]
    assert commits, "a model that learned something commits glosses"
    ends = [c.end for c in commits]
    assert ends == sorted(ends)
    assert all(c.start <= c.end for c in commits)
    known = {"hello", "tea", "coffee"}
    assert all(set(c.glosses) <= known for c in commits)


def test_no_person_no_glosses(tiny_onnx: Path) -> None:
    empty = LandmarkSequence.empty_like(150, fps=30.0)  # 5 s of frames with nobody in them
    events = list(
        run_source(PipelineConfig(model=str(tiny_onnx)), replay_sequences([empty]), fast=True)
    )
    assert not [e for e in events if isinstance(e, GlossEvent) and e.glosses]
    assert len([e for e in events if isinstance(e, FrameEvent)]) == 150


def test_bad_models_and_lms_are_refused(tiny_onnx: Path, tiny_data: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(tiny_onnx.read_bytes()[:300])
    with pytest.raises(ModelLoadError, match=r"corrupt\.onnx"):
        Pipeline(PipelineConfig(model=str(corrupt)))
    other = tmp_path / "other.arpa"
    build_lm(
        [["water", "please"], ["no", "water"]],
        other,
        LMConfig(order=2, backend="own", binary=False),
    )
    with pytest.raises(LMVocabularyMismatch):
        Pipeline(PipelineConfig(model=str(tiny_onnx), lm=str(other)))


def test_swap_to_a_broken_model_keeps_the_old_one(
    tiny_onnx: Path, sentences: list[LandmarkSequence], tmp_path: Path
) -> None:
    corrupt = tmp_path / "broken.onnx"
    corrupt.write_bytes(b"not a model")
    pipeline = Pipeline(PipelineConfig(model=str(tiny_onnx)))
    pipeline.start(replay_sequences(sentences, realtime=True, speed=4.0))
    time.sleep(0.3)
    pipeline.swap_model(str(corrupt))
    time.sleep(0.3)
    pipeline.swap_model(str(tiny_onnx))  # a good one is taken
    events = list(pipeline.events(timeout=30))
    pipeline.close()
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and not errors[0].fatal and "broken.onnx" in errors[0].message
    assert any(isinstance(e, FrameEvent) for e in events[-20:])  # it kept running to the end


def test_stop_returns_within_a_second(tiny_onnx: Path, sentences: list[LandmarkSequence]) -> None:
    pipeline = Pipeline(PipelineConfig(model=str(tiny_onnx)))
    pipeline.start(replay_sequences(sentences * 5, realtime=True))
    time.sleep(0.5)
    t0 = time.monotonic()
    pipeline.stop()
    assert time.monotonic() - t0 < 1.0
    assert not pipeline.running
    pipeline.close()


def test_video_that_stops_decoding_ends_with_an_error(tiny_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (64, 48))
    for i in range(40):
        writer.write(np.full((48, 64, 3), 5 * i, np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    pipeline = Pipeline(PipelineConfig(model=str(tiny_onnx), frame_events=False))
    pipeline.start(str(path), SourceConfig(realtime=False))
    events = list(pipeline.events(timeout=60))
    pipeline.close()
    fatal = [e for e in events if isinstance(e, ErrorEvent) and e.fatal]
    assert len(fatal) == 1 and "cut.avi" in fatal[0].message
    with pytest.raises(SourceError, match=r"missing\.mp4"):
        Pipeline(PipelineConfig(model=str(tiny_onnx))).start(str(tmp_path / "missing.mp4"))


@pytest.mark.data
def test_real_video_through_mediapipe(tiny_onnx: Path, shared_data: Path) -> None:
    config = PipelineConfig(model=str(tiny_onnx), drop_frames=False)
    events = list(run_source(config, str(shared_data / "videos" / "SOUP.mp4"), fast=True))
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert len(frames) >= 40
    assert np.mean([f.present[0] for f in frames]) > 0.95  # a person in every frame
    assert np.mean([f.present[1] or f.present[2] for f in frames]) > 0.8  # hands
    assert not [e for e in events if isinstance(e, ErrorEvent)]


def test_wrong_shaped_model_is_refused_saying_why(tiny_onnx: Path, tmp_path: Path) -> None:
    """A SignStream-labelled ONNX whose input does not take its own features (a model exported
    for another feature spec, say) is refused at load, naming the file and the shape."""
    import onnx
    from onnx import TensorProto, helper

    from engine.model import INPUT_NAME, OUTPUT_NAME

    real = onnx.load(str(tiny_onnx))
    graph = helper.make_graph(
        [helper.make_node("Identity", [INPUT_NAME], [OUTPUT_NAME])],
        "wrong",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", "time", 7])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", "time", 7])],
    )
    wrong = helper.make_model(graph, opset_imports=real.opset_import)
    wrong.ir_version = real.ir_version
    helper.set_model_props(wrong, {p.key: p.value for p in real.metadata_props})
    path = tmp_path / "wrong-shape.onnx"
    onnx.save(wrong, str(path))
    with pytest.raises(ModelLoadError, match=r"wrong-shape\.onnx: input shape"):
        Pipeline(PipelineConfig(model=str(path)))


def test_missing_lm_is_refused_saying_why(tiny_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(LanguageModelError, match=r"language model not found: .*nowhere\.arpa"):
        Pipeline(PipelineConfig(model=str(tiny_onnx), lm=str(tmp_path / "nowhere.arpa")))


def test_camera_that_disappears_ends_the_stream_with_an_error(tiny_onnx: Path) -> None:
    """The camera stops delivering mid-stream: one fatal error event naming it, the glosses so
    far are committed, the engine thread ends and the camera is released."""
    from engine.sources import WebcamSource
    from tests.test_sources import FakeCamera

    fake = FakeCamera(frames=20, size=(48, 64))
    source = WebcamSource(0, SourceConfig(camera_timeout_s=0.3), capture=fake)
    pipeline = Pipeline(PipelineConfig(model=str(tiny_onnx)))
    pipeline.start(source)
    events = list(pipeline.events(timeout=10))
    assert pipeline.wait(2.0)
    pipeline.close()
    fatal = [e for e in events if isinstance(e, ErrorEvent) and e.fatal]
    assert len(fatal) == 1 and "webcam:0: the camera stopped delivering frames" in fatal[0].message
    # a live camera drops its oldest frames while the engine is busy: the newest one got through
    frames = [e for e in events if isinstance(e, FrameEvent)]
    assert frames and frames[-1].frame_index == 19
    assert fake.released


def test_hop_override(tiny_onnx: Path, sentences: list[LandmarkSequence]) -> None:
    """A shorter hop than the model's gives the same stitched stream (the windows' kept frames
    have the model's full context either way), so the same commits, just sooner."""
    out = {}
    for hop in (8, 2):
        config = PipelineConfig(model=str(tiny_onnx), hop=hop, frame_events=False)
        events = run_source(config, replay_sequences(sentences), fast=True)
        out[hop] = [e.glosses for e in events if isinstance(e, GlossEvent) and e.is_commit]
    assert out[8] == out[2]
    with pytest.raises(ValueError, match="hop must be"):
        Pipeline(PipelineConfig(model=str(tiny_onnx), hop=0))


def test_run_command_takes_the_commit_rules(
    tiny_onnx: Path,
    sentences: list[LandmarkSequence],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``signstream run`` headless on a .pose recording; bad commit rules are refused."""
    import json

    from engine.posefile import sequence_to_pose, write_pose
    from signstream import cli

    pose = tmp_path / "sentence.pose"
    write_pose(pose, sequence_to_pose(sentences[2]))
    base = ["run", "--source", str(pose), "--model", str(tiny_onnx), "--no-lm", "--fast"]
    assert cli.main([*base, "--json", "--pause", "0.5", "--settle", "0"]) == 0
    events = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    commits = [e for e in events if e["type"] == "GlossEvent" and e["kind"] == "commit"]
    assert commits and all(set(e["glosses"]) <= {"hello", "tea", "coffee"} for e in commits)
    assert cli.main([*base, "--settle", "-1"]) == 2
    assert "settle_s must be a finite number >= 0" in capsys.readouterr().err


def test_commit_rules_change_live_and_bad_ones_are_refused(tiny_onnx: Path) -> None:
    from engine.streaming import StreamingConfig

    pipeline = Pipeline(PipelineConfig(model=str(tiny_onnx)))
    rec = pipeline.recognizer
    assert rec is not None
    pipeline.update_streaming(StreamingConfig(fps=99.0, pause_s=0.6, settle_s=0.0))
    assert rec.streaming.config.pause_s == 0.6 and rec.streaming.config.fps == rec.info.fps
    # fits 100 fps (pause 5 frames, segment 6), not the model's 30 fps (2 and 2)
    fits_100 = StreamingConfig(fps=100.0, pause_s=0.05, max_segment_s=0.06, lead_s=0.0)
    assert rec.info.fps == 30.0
    with pytest.raises(ValueError, match="max_segment_s"):
        pipeline.update_streaming(fits_100)
    assert rec.streaming.config.pause_s == 0.6  # unchanged
    pipeline.close()
