"""Run many-series work: locally in a process pool (this module), later on Dask.

Work is a list of tasks (e.g. models on panels of alternate series, so that long and
short series spread evenly) shared among processes. Processes are started with ``spawn`` (safe
with threads and BLAS), so a script that calls this must guard its entry point with
``if __name__ == "__main__":``.
"""

from modelphase.engine.local import default_jobs, run_tasks, split_panel

__all__ = ["default_jobs", "run_tasks", "split_panel"]
