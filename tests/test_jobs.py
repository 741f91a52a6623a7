"""training.jobs: jobs side by side in worker processes, in dependency order."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from training.jobs import Job, JobError, run_jobs

WAIT_S = 60.0  # far longer than a spawned worker needs to start


def _stamp(folder: Path, name: str) -> str:
    (folder / f"{name}.start").write_text(str(time.time()))
    return name


def _meet(folder: Path, name: str, other: str) -> str:
    """Started, then waits for ``other`` to start: returns only when both run at once."""
    (folder / f"{name}.start").write_text(str(time.time()))
    deadline = time.monotonic() + WAIT_S
    while not (folder / f"{other}.start").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} did not start while {name} ran")
        time.sleep(0.05)
    (folder / f"{name}.end").write_text(str(time.time()))
    return name


def _threads() -> tuple[str | None, int]:
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def _fail(message: str) -> None:
    raise ValueError(message)


def test_one_worker_runs_the_jobs_in_order_in_this_process(tmp_path: Path) -> None:
    jobs = [Job(n, _stamp, (tmp_path, n)) for n in ("b", "a", "c")]
    assert run_jobs(jobs, workers=1) == {"b": "b", "a": "a", "c": "c"}
    starts = {n: float((tmp_path / f"{n}.start").read_text()) for n in "abc"}
    assert starts["b"] <= starts["a"] <= starts["c"]


def test_two_workers_run_two_jobs_at_once_and_a_job_after_the_ones_it_needs(
    tmp_path: Path,
) -> None:
    jobs = [
        Job("a", _meet, (tmp_path, "a", "b")),
        Job("b", _meet, (tmp_path, "b", "a")),  # a and b only return if they overlap
        Job("c", _stamp, (tmp_path, "c"), after=("a", "b")),
    ]
    assert run_jobs(jobs, workers=2, log=lambda _: None) == {"a": "a", "b": "b", "c": "c"}
    c_start = float((tmp_path / "c.start").read_text())
    assert c_start >= max(float((tmp_path / f"{n}.end").read_text()) for n in "ab")


def test_a_worker_has_its_thread_budget() -> None:
    done = run_jobs([Job("t", _threads), Job("u", _threads)], 2, threads=1, log=lambda _: None)
    assert done["t"] == ("1", 1)


def test_a_failed_job_is_named_and_the_jobs_after_it_do_not_run(tmp_path: Path) -> None:
    jobs = [
        Job("bad", _fail, ("no data",)),
        Job("after-bad", _stamp, (tmp_path, "after-bad"), after=("bad",)),
    ]
    with pytest.raises(JobError, match="job bad failed: no data"):
        run_jobs(jobs, workers=2, log=lambda _: None)
    assert not (tmp_path / "after-bad.start").exists()


def test_jobs_must_come_after_the_jobs_they_need_and_have_their_own_names() -> None:
    with pytest.raises(ValueError, match="needs"):
        run_jobs([Job("a", _stamp, after=("b",)), Job("b", _stamp)])
    with pytest.raises(ValueError, match="not unique"):
        run_jobs([Job("a", _stamp), Job("a", _stamp)])
