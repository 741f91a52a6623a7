"""What every importer shares: items it yields, the report, and writing into a dataset.

An importer is a generator of ``LandmarkSequence | ImportProblem``: a file that cannot be read
becomes an :class:`ImportProblem` naming the file, and the import goes on with the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.dataset import Dataset
from engine.errors import ImportProblem
from engine.landmarks import LandmarkSequence

__all__ = ["DEFAULT_FPS", "ImportItem", "ImportReport", "write_import"]

ImportItem = LandmarkSequence | ImportProblem
# Frame rate assumed for tutorial-recorded data that does not state one: nominal webcam speed
# (the real rate of those recorders, with MediaPipe in the loop, was about 10-30 fps).
DEFAULT_FPS = 30.0
SHARD_SEQUENCES = 2000  # sequences per shard: big enough to load fast, small enough to lose little


@dataclass
class ImportReport:
    """How an import went: counts and every file that could not be read."""

    imported: int = 0
    skipped: int = 0  # already in the dataset (same source), e.g. on a resumed import
    problems: list[ImportProblem] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"imported {self.imported}, skipped {self.skipped}, problems {len(self.problems)}"]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def write_import(
    dataset: Dataset,
    items: Iterable[ImportItem],
    shard_sequences: int = SHARD_SEQUENCES,
    on_problem: Callable[[ImportProblem], None] | None = None,
) -> ImportReport:
    """Append the sequences of ``items`` to ``dataset`` in shards; collect the problems.

    Sequences whose ``source`` the dataset already holds are skipped, so re-running an import
    that was interrupted appends only what is missing.
    """
    report = ImportReport()
    known = dataset.sources()
    batch: list[LandmarkSequence] = []
    for item in items:
        if isinstance(item, ImportProblem):
            report.problems.append(item)
            if on_problem is not None:
                on_problem(item)
            continue
        if item.source and item.source in known:
            report.skipped += 1
            continue
        batch.append(item)
        known.add(item.source)
        if len(batch) >= shard_sequences:
            report.imported += dataset.append(batch)
            batch = []
    if batch:
        report.imported += dataset.append(batch)
    return report
