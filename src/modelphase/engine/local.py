"""The local engine: a panel's series shared among processes."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

from modelphase.frame import Panel

__all__ = ["default_jobs", "run_tasks", "split_panel"]

R = TypeVar("R")
T = TypeVar("T")

#: Below this many series per process, spawning (about a second each) does not pay.
MIN_SERIES_PER_JOB = 50


def default_jobs(n_series: int, n_jobs: int | None = None) -> int:
    """``n_jobs`` if given (at least 1), else the cores, fewer for small panels."""
    if n_jobs is not None:
        return max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1))
    return min(os.cpu_count() or 1, max(1, n_series // MIN_SERIES_PER_JOB))


def split_panel(panel: Panel, n: int) -> list[Panel]:
    """``n`` panels of alternate series (fewer when there are fewer series)."""
    if n <= 1 or panel.n_series < 2:
        return [panel]
    return [panel.subset(panel.ids[i::n]) for i in range(n) if panel.ids[i::n]]


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    n_jobs: int = 1,
    on_done: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``fn(task)`` for every task, on up to ``n_jobs`` processes (in this one when
    ``n_jobs`` is 1 or there is one task); results in the tasks' order. Tasks are
    submitted in their order: put the longest first."""
    results: dict[int, R] = {}
    if n_jobs <= 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            results[i] = fn(task)
            if on_done is not None:
                on_done(i + 1, len(tasks))
        return [results[i] for i in range(len(tasks))]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=context) as pool:
        futures = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            if on_done is not None:
                on_done(len(results), len(tasks))
    return [results[i] for i in range(len(tasks))]
