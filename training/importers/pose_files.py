"""Import pose-format ``.pose`` files (MediaPipe Holistic) into a SignStream dataset."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator

from engine.errors import ImportProblem, SourceError
from engine.posefile import read_sequence
from training.importers.base import ImportItem

__all__ = ["import_pose_files"]


def import_pose_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    gloss: str | None = None,
    signer: str = "unknown",
    include_glosses: Collection[str] | None = None,
    exclude_glosses: Collection[str] = (),
    partial_pose: bool = False,
) -> Iterator[ImportItem]:
    """One sequence per file (first person), labelled ``gloss`` when given.

    A file that cannot be read, or that is not MediaPipe Holistic (e.g. OpenPose), becomes an
    :class:`ImportProblem`; ``partial_pose`` accepts files that keep only some pose points.
    """
    glosses = (gloss,) if gloss else ()
    if glosses and (
        (include_glosses is not None and gloss not in include_glosses) or gloss in exclude_glosses
    ):
        return
    for path in paths:
        try:
            seq = read_sequence(path, partial_pose=partial_pose)
        except SourceError as e:
            yield ImportProblem(str(path), str(e).removeprefix(f"{path}: "))
            continue
        yield seq.replace(glosses=glosses, signer=signer)
