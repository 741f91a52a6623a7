"""Training jobs side by side: a few processes, each with a thread budget, in dependency order.

A small CPU trains a tiny model faster as two one-thread processes than as one two-thread
process: the models are too small for a second thread to pay, and the other process's data
synthesis and evaluation fill the gaps (on a 2-core machine the recipe's cross-validation took
half the wall time that way). :func:`run_jobs` runs :class:`Job` s in the order given, up to
``workers`` at a time, each job starting once the jobs it needs (``after``) have finished.
With ``workers <= 1`` the jobs run one after another in this process, exactly as a plain loop.

Each worker is a fresh (spawned, not forked: the parent may hold torch's and OpenMP's threads)
Python process that runs its jobs with ``threads`` CPU threads. A job is a top-level function and
picklable arguments; what it returns comes back to the parent. A failed job lets the jobs already
running finish (their runs are checkpointed, so nothing they trained is lost), starts no others,
and is raised as :class:`JobError`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobError", "run_jobs"]

# the variables the numeric libraries read for their thread pools when they start
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class JobError(RuntimeError):
    """A job failed; the message names it, and the job's exception is the cause."""


@dataclass(frozen=True)
class Job:
    """``fn(*args)`` under the name ``key``, started after the jobs named in ``after``."""

    key: str
    fn: Callable[..., Any]  # top level of its module (a worker process imports it by name)
    args: tuple[Any, ...] = ()
    after: tuple[str, ...] = field(default=())


def _check(jobs: Sequence[Job]) -> None:
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"job names are not unique: {keys}")
    seen: set[str] = set()
    for j in jobs:  # each job after the jobs it needs: no cycle, nothing missing
        missing = [a for a in j.after if a not in seen]
        if missing:
            raise ValueError(f"job {j.key} needs {missing}, which do not come before it")
        seen.add(j.key)


def _start_worker(threads: int) -> None:
    """A worker's start: its thread budget, set before torch or NumPy start their pools."""
    if threads > 0:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        import torch  # the worker trains with torch; its pool is set once, here

        torch.set_num_threads(threads)


def run_jobs(
    jobs: Sequence[Job],
    workers: int = 1,
    threads: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run ``jobs`` (each listed after the jobs it needs), up to ``workers`` at a time in
    processes of ``threads`` CPU threads each (0: the libraries' default); returns each job's
    result by its key. ``workers <= 1``: in this process, in order."""
    _check(jobs)
    if workers <= 1:
        return {j.key: j.fn(*j.args) for j in jobs}
    results: dict[str, Any] = {}
    pending = list(jobs)
    running: dict[Future[Any], Job] = {}
    failed: list[tuple[Job, BaseException]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (threads,)) as pool:
        while pending or running:
            # start the first jobs in order whose needs are met, while a worker is free
            for j in list(pending):
                if failed or len(running) >= workers:
                    break
                if all(a in results for a in j.after):
                    pending.remove(j)
                    log(f"start {j.key}")
                    running[pool.submit(j.fn, *j.args)] = j
            if not running:
                break  # a failure stopped the rest
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                j = running.pop(future)
                error = future.exception()
                if error is None:
                    results[j.key] = future.result()
                else:
                    failed.append((j, error))
                    if running:
                        log(f"{j.key} failed; the jobs running finish, no others start")
    if failed:
        j, error = failed[0]
        raise JobError(f"job {j.key} failed: {error}") from error
    return results
