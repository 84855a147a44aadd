"""Worker processes of a rule: a map over tasks in processes that end with their parent."""

from __future__ import annotations

import os
import sys

from ._log import Progress


def die_with_parent(parent_pid: int) -> None:
    """Initializer of a worker process: end when its parent ends, however the parent was killed.

    A pool's workers otherwise wait for work forever once their parent is SIGKILLed
    (a job killed by pid, not by process group). Linux: PR_SET_PDEATHSIG; elsewhere
    only the check that the parent is still there.

    Parameters
    ----------
    parent_pid
        The parent's process id.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def _limit_threads_in_worker(parent_pid: int, threads: int) -> None:
    die_with_parent(parent_pid)
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def process_map(
    fn, tasks: list, n_jobs: int, *, costs: list[float] | None = None, progress: Progress | None = None
) -> list:
    """``[fn(t) for t in tasks]``, in *n_jobs* worker processes (each with one BLAS/OpenMP thread) when n_jobs > 1.

    Tasks start in decreasing *costs* (the longest first, so the processes finish together);
    results come back in the order of *tasks*. Each finished task adds its cost to *progress*.
    Workers end with their parent (:func:`die_with_parent`).

    Parameters
    ----------
    fn
        A picklable function of one task.
    tasks
        The tasks.
    n_jobs
        Worker processes (1: in this process).
    costs
        The relative cost of each task (default: 1 each).
    progress
        Told the cost of each finished task.

    Returns
    -------
    list
        ``fn(task)`` for each task, in the order of *tasks*.
    """
    costs = [1.0] * len(tasks) if costs is None else [float(c) for c in costs]
    out: list = [None] * len(tasks)
    if n_jobs <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            out[i] = fn(t)
            if progress is not None:
                progress.add(costs[i])
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    order = sorted(range(len(tasks)), key=lambda i: -costs[i])
    with ProcessPoolExecutor(
        max_workers=min(n_jobs, len(tasks)), initializer=_limit_threads_in_worker, initargs=(os.getpid(), 1)
    ) as pool:
        futures = {pool.submit(fn, tasks[i]): i for i in order}
        for fut in as_completed(futures):
            i = futures[fut]
            out[i] = fut.result()
            if progress is not None:
                progress.add(costs[i])
    return out
