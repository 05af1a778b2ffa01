# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Where independent jobs run: this process, a local process pool, or Ray tasks on a cluster.

Evaluation and the robustness suite cut their work into independent jobs (episode ranges,
suite cells) and hand them to an executor; the results come back in job order, so the report
is the same whichever executor ran them (tested)::

    with make_executor(workers=4) as pool:          # a spawn process pool
        results = pool.run(fn, jobs)
    with make_executor(ray=True) as pool:           # Ray tasks (in-process Ray, or --address)
        results = pool.run(fn, jobs)

``fn`` must be a module-level function (it is pickled by reference) and a job's results
JSON-like data. The Ray executor lives in :mod:`lnn_control.train.distributed` (Ray is an
optional extra and imported only there).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ['Executor', 'Serial', 'Processes', 'EXECUTORS', 'make_executor']


class Executor:
    """Runs ``fn(job)`` for each job and returns the results in job order (a context manager)."""

    #: how many jobs run at once (callers cut their work into at least this many jobs).
    slots: int = 1

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> List[Any]:
        """Return ``[fn(job) for job in jobs]``, computed wherever this executor runs things."""
        raise NotImplementedError

    def __enter__(self) -> 'Executor':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release workers (a no-op for executors that hold none)."""


class Serial(Executor):
    """Every job in this process, one after the other."""

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> List[Any]:
        """Run the jobs here, in order."""
        return [fn(job) for job in jobs]


class Processes(Executor):
    """
    A pool of ``workers`` spawned processes on this machine.

    spawn, not fork: a clean interpreter per worker (MuJoCo/OpenMP state does not survive a
    fork well).
    """

    def __init__(self, workers: int = 2) -> None:
        self.slots = max(1, int(workers))
        self._pool: Any = None

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> List[Any]:
        """Run the jobs in the pool (started on first use); a single job runs here."""
        if len(jobs) <= 1 or self.slots == 1:
            return [fn(job) for job in jobs]
        if self._pool is None:
            import concurrent.futures
            import multiprocessing
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.slots, mp_context=multiprocessing.get_context('spawn'))
        return list(self._pool.map(fn, jobs))

    def close(self) -> None:
        """Shut the pool down."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


# name -> 'module:Class' (imported when chosen: the Ray one needs the distributed extra).
EXECUTORS: Dict[str, str] = {
    'serial': 'lnn_control.train.executor:Serial',
    'processes': 'lnn_control.train.executor:Processes',
    'ray': 'lnn_control.train.distributed:RayTasks',
}


def make_executor(workers: int = 1, ray: bool = False, address: Optional[str] = None,
                  **kwargs: Any) -> Executor:
    """
    Return the executor a command's options ask for.

    Args:
        workers: local processes (1: this process).
        ray: Ray tasks (Ray starts in this process on this machine, ``workers`` CPUs if > 1,
            unless ``address`` is given).
        address: the Ray cluster to use (implies ``ray``).
        kwargs: passed to the executor's class.

    """
    if ray or address:
        kind = 'ray'
        kwargs.setdefault('address', address)
        kwargs.setdefault('num_cpus', workers if workers > 1 else None)
    else:
        kind = 'processes' if workers > 1 else 'serial'
        if kind == 'processes':
            kwargs.setdefault('workers', workers)
    module, _, name = EXECUTORS[kind].partition(':')
    return getattr(importlib.import_module(module), name)(**kwargs)
