# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ray for lnn_control: joining a cluster or starting Ray in-process, and Ray tasks.

Ray is an optional extra (``pip install 'lnn_control[distributed]'``) and is imported here and
in :mod:`lnn_control.train.sweep` only, when a command asks for it. :func:`ray_session` is the
one way in: with an address (``ray start --head`` prints it; ``auto`` finds a cluster started
on this machine) it connects to that cluster; without one Ray starts inside this process on
this machine (the embedded default: no dashboard, usage statistics off, Ray's token
authentication on) and stops when the session ends. Ray has no loopback-only mode: even the
in-process Ray listens on this machine's network address (its own processes talk through it),
so the tests run every Ray session inside a network namespace with only loopback. A session
opened while Ray is already up reuses it and leaves it running. Every node must have
lnn_control installed (the same environment as the driver); policy files given by path are
shipped with the job, so nodes need no shared folder for them.

:class:`RayTasks` is the Ray executor of :mod:`lnn_control.train.executor`: ``eval --ray`` /
``--address`` and the robustness suite run their jobs as Ray tasks, one CPU each.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterator, List, Optional, Sequence

from lnn_control.train.executor import Executor

__all__ = ['INSTALL', 'RayMissing', 'import_ray', 'ray_session', 'RayTasks', 'node_of']

INSTALL = "pip install 'lnn_control[distributed]'"


class RayMissing(ImportError):
    """Ray (the distributed extra) is not installed; the message says how to install it."""


def import_ray(what: str = 'this command') -> Any:
    """Return the ``ray`` module, or raise :class:`RayMissing` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise RayMissing(f'{what} runs on Ray, which is not installed: {INSTALL}') from None
    return ray


@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None,
                what: str = 'this command') -> Iterator[Any]:
    """
    Yield the ``ray`` module connected to ``address``, or to Ray started in this process.

    Args:
        address: a cluster (``HOST:PORT`` of its head, ``ray://HOST:10001`` for Ray Client,
            or ``auto``); None: start Ray here.
        num_cpus: CPUs of the in-process Ray (None: all of this machine's).
        what: the command's name, for the message when Ray is missing.

    """
    ray = import_ray(what)
    if ray.is_initialized():
        yield ray
        return
    # No usage reports leave the machine; the embedded Ray serves this process alone.
    os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def node_of() -> dict:
    """Return where this code runs: ``{'node_id', 'node_ip'}`` (Ray's ids; '' outside Ray)."""
    try:
        import ray
        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
            ip = next((n.get('NodeManagerAddress', '') for n in ray.nodes()
                       if n.get('NodeID') == node), '')
            return {'node_id': node, 'node_ip': ip}
    except ImportError:
        pass
    return {'node_id': '', 'node_ip': ''}


def _call(fn: Callable[[Any], Any], job: Any) -> Any:
    return fn(job)


class RayTasks(Executor):
    """
    Jobs as Ray tasks (one CPU each) on the cluster at ``address``, or on Ray started here.

    Ray is joined or started on first use and left (stopped, if it was started here) on
    :meth:`close`; ``slots`` is the cluster's CPU count, so callers cut their work into at
    least as many jobs.
    """

    def __init__(self, address: Optional[str] = None, num_cpus: Optional[int] = None) -> None:
        self.address, self.num_cpus = address, num_cpus
        self._session: Optional[contextlib.ExitStack] = None
        self._ray: Any = None
        self.slots = 1

    def _start(self) -> Any:
        if self._ray is None:
            self._session = contextlib.ExitStack()
            self._ray = self._session.enter_context(
                ray_session(self.address, self.num_cpus, 'Ray evaluation'))
            self.slots = max(1, int(self._ray.cluster_resources().get('CPU', 1)))
        return self._ray

    def __enter__(self) -> 'RayTasks':
        self._start()
        return self

    def run(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> List[Any]:
        """Submit every job as a task; return their results in job order."""
        ray = self._start()
        remote = ray.remote(num_cpus=1, max_retries=2)(_call)
        return ray.get([remote.remote(fn, job) for job in jobs])

    def close(self) -> None:
        """Leave Ray (stopping it if this executor started it)."""
        if self._session is not None:
            self._session.close()
        self._session, self._ray = None, None
