"""Build the demo recording the app replays without a camera: ``assets/demo/``.

    .venv/bin/python scripts/make_demo.py [--out assets/demo] [--seed 0] [--no-check]

A continuous ASL sentence of the coffee-shop grammar (``training/configs/coffee.grammar``), made
of REAL isolated clips of ONE signer, ``dmohazab`` of the shared data's ``asl-coffee/words.npz``:
the signer held out from the shipped model (models/people-student.md), so the demo shows the
model on a person it never saw. The clips are joined by the project's own sentence synthesis
(:func:`training.data.synthesis.synthesize`), with that signer's real idle clips (gloss ``-``) as
rest before and after the signs. Choices, all fixed:

* the sentence: ``DEMOS`` below, checked to be one the grammar generates;
* which clip of each gloss: drawn by ``synthesize`` from the random stream of ``--seed``
  (default ``SEED``: the first seed from 0 with the body in every frame that the shipped
  people model replays without an error; never tuned clip by clip, and said in the README);
* the clips as recorded: no time stretch, no scale, shift, rotation or mirror (what the
  training augmentation adds is not what a demo should show); rest of 0.5-0.7 s before and
  after, none between signs (a pause there would commit the sentence in pieces);
* 30 fps (the rate the data is read at and the model runs at), written as pose-format 0.2 at
  640 x 480 (the engine's default 4:3 aspect, which the model was trained with).

Writes, in ``--out``: one ``<name>.pose`` per demo, ``demo.json`` (the manifest that
:mod:`engine.demo` reads: file, glosses, signer, seed, the clips used) and ``README.md``. Then,
unless ``--no-check``, replays each file through the engine with the shipped model and LM and
exits 1 if the committed glosses are not the sentence. The output is a pure function of the data
and the seed: running it again writes byte-identical files.

The shared data is found through ``$SIGNSTREAM_DATA`` (default ``../shared/data`` beside the
repository); without it the script exits with a message saying so.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.data_root import data_root  # noqa: E402
from engine.events import GlossEvent  # noqa: E402
from engine.features import DEFAULT_ASPECT  # noqa: E402
from engine.landmarks import LandmarkSequence  # noqa: E402
from engine.model_index import default_model, lm_beside  # noqa: E402
from engine.posefile import write_sequence  # noqa: E402
from training.data.grammar import load_grammar  # noqa: E402
from training.data.synthesis import (  # noqa: E402
    IDLE_GLOSS,
    SamplePool,
    SynthesisConfig,
    collect_samples,
    synthesize,
)
from training.importers.npz_sets import import_npz  # noqa: E402

SIGNER = "dmohazab"  # held out from the shipped model: never seen in training
WORDS = Path("asl-coffee") / "words.npz"  # relative to the shared data root
LICENSE = Path("asl-coffee") / "LICENSE"
SOURCE = "traduttore/traduttore-model, commit c7c2f3e, MP_Data"
GRAMMAR = REPO / "training" / "configs" / "coffee.grammar"
DEFAULT_OUT = REPO / "assets" / "demo"
MANIFEST = "demo.json"  # engine.demo.DEMO_MANIFEST (engine must not import scripts, nor we it:
# the name is repeated here so this script runs without importing the module it feeds)
# the people model (2026-12-07, 40 epochs) replays seeds 0-24 exactly right for 13 of them (0,
# 1, 4, 5, 8, 10, 13, 14, 15, 16, 17, 20, 22); 0, the first, has the body in every frame. A
# demo shows the app working; docs/RESULTS.md says how often the model is right
SEED = 0
WIDTH = 640  # image size the normalised x, y are scaled to in the .pose file
HEIGHT = round(WIDTH / DEFAULT_ASPECT)  # 480: the aspect the model's features assume
MAX_TOTAL_BYTES = 300_000  # the demo ships in the repository and the package: keep it small


@dataclass(frozen=True)
class Demo:
    """One demo recording: its file name (no suffix) and the glosses signed, in order."""

    name: str
    glosses: tuple[str, ...]


@dataclass(frozen=True)
class Recording:
    """A demo as written: its file and what went into it."""

    demo: Demo
    file: str  # file name in the output folder
    frames: int
    fps: float
    bytes: int
    clips: tuple[str, ...]  # dataset sources of the signs' clips, in signing order
    idle_clips: tuple[str, ...]  # dataset sources of the rest's idle clips

    @property
    def text(self) -> str:
        return " ".join(g.upper() for g in self.demo.glosses)

    def manifest_entry(self, seed: int) -> dict[str, object]:
        return {
            "file": self.file,
            "text": self.text,
            "glosses": list(self.demo.glosses),
            "signer": SIGNER,
            "seed": seed,
            "fps": self.fps,
            "frames": self.frames,
            "clips": list(self.clips),
            "idle_clips": list(self.idle_clips),
        }


# One sentence: pose-format stores float32 (1.2 kB a frame at 75 points), so the ~300 kB budget
# holds about 250 frames, one 7-sign sentence with its rest at 30 fps.
DEMOS: tuple[Demo, ...] = (
    Demo("coffee-order", ("hello", "i", "get", "a", "small", "coffee", "please")),
)

CONFIG = SynthesisConfig(
    fps=30.0,
    idle_before=1.0,
    idle_after=1.0,
    idle_between=0.0,
    idle_seconds=(0.5, 0.7),
    stretch=(1.0, 1.0),
    scale=(1.0, 1.0),
    shift=0.0,
    rotation_degrees=0.0,
    mirror_probability=0.0,
)


def load_signer(words: Path, signer: str) -> list[LandmarkSequence]:
    """The signer's isolated clips of ``words.npz``: ``(20, 75, 4) float32`` each, at 30 fps."""
    clips = []
    for item in import_npz(words):
        if not isinstance(item, LandmarkSequence):
            sys.exit(f"cannot read {item.source}: {item}")
        if item.signer == signer:
            clips.append(item)
    if not clips:
        sys.exit(f"{words}: no clips of signer {signer!r}")
    return clips


def read_license(license_path: Path) -> tuple[str, str]:
    """(the copyright line, the whole text indented as a Markdown code block) of the licence."""
    if not license_path.is_file():
        sys.exit(f"{license_path}: the licence of the data is missing")
    lines = license_path.read_text("utf-8").splitlines()
    holder = next((line.strip() for line in lines if line.startswith("Copyright")), None)
    if holder is None:
        sys.exit(f"{license_path}: no copyright line")
    return holder, "\n".join(f"    {line}".rstrip() for line in lines)


def recognise(path: Path) -> list[str]:
    """The glosses the shipped model and LM commit replaying ``path`` (fast, every frame)."""
    from engine.pipeline import PipelineConfig, run_source  # the check only: onnxruntime

    model = default_model()
    if model is None:
        raise SystemExit("models/index.json names no default model: run `signstream train recipe`")
    lm = lm_beside(model)
    config = PipelineConfig(
        model=str(model), lm=None if lm is None else str(lm), frame_events=False
    )
    events = run_source(config, str(path), fast=True)
    return [g for e in events if isinstance(e, GlossEvent) and e.is_commit for g in e.glosses]


def readme(recordings: list[Recording], license_text: str, seed: int) -> str:
    """The folder's README: what the files are, the sentences, the source and how to rebuild."""
    rows = "\n".join(
        f"| `{r.file}` | {r.text} | `{' '.join(r.demo.glosses)}` "
        f"| {r.frames} frames, {r.frames / r.fps:.1f} s at {r.fps:g} fps | {r.bytes:,} bytes |"
        for r in recordings
    )
    return f"""# Demo recordings

What the app replays on first launch without a camera ("Help > Play a demo",
`signstream demo`), and what anyone can replay:
`signstream run --source assets/demo/{recordings[0].file}`. `engine.demo.demo_recordings()`
lists the files (main demo first), `engine.demo.demo_glosses(path)` gives a file's sentence.

Each `.pose` file (pose-format 0.2, MediaPipe Holistic components: pose 33, left hand 21, right
hand 21, no face; x, y in pixels of 640 x 480) is one continuous ASL sentence of the coffee-shop
grammar (`training/configs/coffee.grammar`), made of real isolated clips of ONE person joined by
SignStream's sentence synthesis (`training.data.synthesis`): smooth transitions between clips, the
same person's real idle clips (rest) before and after the signs, the clips at their recorded
speed and place (no stretch, scale, shift, rotation or mirror). `{MANIFEST}` lists each file with
its glosses and the dataset clips used (`asl-coffee/words.npz#<index>`, in signing order).

| file | sentence | glosses | length | size |
|---|---|---|---|---|
{rows}

The clips are those of seed {seed}: the first seed from 0 with the body in every frame whose
replay the shipped model gets exactly right (of seeds 0-24, 13 replay exactly right: 0, 1, 4,
5, 8, 10, 13, 14, 15, 16, 17, 20 and 22; 1, 4, 5, 8 and 13 have frames without the body).
Which clip of each gloss is used matters; a demo shows the app at work, and how often the
model is right for people it never saw is in `docs/RESULTS.md`.

## Source and licence

Landmarks of signer `{SIGNER}` from
{SOURCE} (github.com/traduttore/traduttore-model),
via SignStream's shared data `asl-coffee/words.npz`. `{SIGNER}` is the signer held out from
the shipped model `models/people-student.onnx` (see `models/people-student.md`): the
demo shows the model on a person it never saw in training. MIT licence
(`{LICENSE.as_posix()}` of the shared data):

{license_text}

## Regenerate

    .venv/bin/python scripts/make_demo.py

(the shared data through `$SIGNSTREAM_DATA`, default `../shared/data` beside the repository).
Seed {seed}; the same data and seed give byte-identical files. The script then replays each file
through the engine with the shipped model and LM (`signstream run --fast`) and fails unless the
committed glosses are exactly the sentence.
`tests/test_demo_asset.py` checks the files and the recognition.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help="chooses the clips")
    parser.add_argument("--no-check", action="store_true", help="skip the recognition check")
    args = parser.parse_args()

    root = data_root()
    words = root / WORDS
    if not words.is_file():
        sys.exit(
            f"the shared data is not found: no {words}. Set SIGNSTREAM_DATA to the shared data "
            "folder (default ../shared/data beside the repository)."
        )
    clips = load_signer(words, SIGNER)
    pool = SamplePool(collect_samples(clips, range(len(clips))), IDLE_GLOSS)
    grammar = load_grammar(GRAMMAR).enumerate()
    for demo in DEMOS:
        if demo.glosses not in grammar:
            sys.exit(f"{' '.join(demo.glosses)!r} is not a sentence of {GRAMMAR.name}")

    args.out.mkdir(parents=True, exist_ok=True)
    sentences = [demo.glosses for demo in DEMOS]
    recordings: list[Recording] = []
    for demo, seq in zip(DEMOS, synthesize(pool, sentences, CONFIG, args.seed), strict=True):
        path = args.out / f"{demo.name}.pose"
        write_sequence(path, seq, width=WIDTH, height=HEIGHT)

        # extra holds indices into `clips`; their sources name the words.npz index
        def sources(key: str, seq: LandmarkSequence = seq) -> tuple[str, ...]:
            return tuple(clips[int(i)].source for i in seq.extra[key].split(",") if i)

        size = path.stat().st_size
        recordings.append(
            Recording(
                demo,
                path.name,
                seq.num_frames,
                seq.fps,
                size,
                sources("samples"),
                sources("idle_samples"),
            )
        )
        print(f"wrote {path} ({seq.num_frames} frames, {size:,} bytes)")

    holder, license_text = read_license(root / LICENSE)
    manifest = {
        "recordings": [r.manifest_entry(args.seed) for r in recordings],
        "source": f"{SOURCE}, signer {SIGNER}",
        "licence": f"MIT, {holder}",
    }
    (args.out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    (args.out / "README.md").write_text(readme(recordings, license_text, args.seed), "utf-8")
    total = sum(r.bytes for r in recordings)
    if total > MAX_TOTAL_BYTES:
        print(f"warning: {total:,} bytes of .pose, over {MAX_TOTAL_BYTES:,}", file=sys.stderr)

    if args.no_check:
        return 0
    failed = False
    for r in recordings:
        got = recognise(args.out / r.file)
        ok = got == list(r.demo.glosses)
        failed |= not ok
        print(f"{r.file}: committed {' '.join(got) or '(nothing)'}: {'ok' if ok else 'WRONG'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
