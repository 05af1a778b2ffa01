# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What Ray costs: per sweep trial, per evaluation task, and a sweep on one node vs two.

    python bench/ray_overhead.py [--trials 4] [--tasks 16] [--repeats 3]

Runs itself inside new network and pid namespaces with only loopback up (as the tests do:
outside one, Ray listens on the machine's address), so it needs root and ``unshare``.

1. **Per trial.** The tiny pendulum config of test/ray_probe.py trained ``--trials`` times in
   this process (imports done) against the same runs as a sweep on Ray started in-process
   with 1 CPU (trials one after another): (sweep wall - Ray start) / trials - local run.
2. **Per task.** ``--tasks`` evaluation jobs of one pendulum episode each (the expert, 1000
   steps) through the serial executor and as Ray tasks (1 CPU); and the same number of no-op
   tasks (the bare round trip). Medians over ``--repeats``.
3. **One node vs two.** The sweep of ``--trials`` trials on a cluster of one node with 2 CPUs
   and on two nodes with 1 CPU each (``ray.cluster_utils.Cluster``, separate raylets). Both
   share this machine's 2 cores: this shows the trials spread over the nodes and what that
   costs, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'test'))


def _noop(job):
    return job


def _sweep(config: Path, storage: Path, trials: int, address=None, num_cpus=None):
    from lnn_control.train.sweep import run_sweep, SweepSpec
    lrs = [1e-3 * (1 + i) for i in range(trials)]
    spec = SweepSpec(str(config), grid={'bc.lr': lrs}, seeds=1, storage=str(storage),
                     address=address, num_cpus=num_cpus, verbose=0)
    started = time.perf_counter()
    report = run_sweep(spec)
    return time.perf_counter() - started, report


def per_trial(config: Path, work: Path, trials: int) -> dict:
    from lnn_control.train import method
    from lnn_control.train.config import load_config
    from lnn_control.train.distributed import ray_session
    local = []
    for i in range(trials):
        cfg = load_config(config, [f'bc.lr={1e-3 * (1 + i)}'])
        started = time.perf_counter()
        method(cfg.method)(cfg, out=work / f'local_{i}', progress=False)
        local.append(time.perf_counter() - started)
    started = time.perf_counter()
    with ray_session(num_cpus=1):
        ray_start = time.perf_counter() - started
        wall, report = _sweep(config, work / 'sweep_1cpu', trials)
    ray_per_trial = (wall) / trials
    return {'local_run_s': statistics.median(local), 'ray_start_s': ray_start,
            'sweep_wall_s': wall, 'sweep_per_trial_s': ray_per_trial,
            'trial_reported_s': statistics.median(r['wall_seconds'] for r in report['rows']),
            'overhead_per_trial_s': ray_per_trial - statistics.median(local)}


def per_task(tasks: int, repeats: int) -> dict:
    from lnn_control.train.evaluate import _episode_job
    from lnn_control.train.executor import Serial
    from lnn_control.train.distributed import RayTasks
    jobs = [('expert', 'InvertedPendulum-v5', 100 + i, 1, None, {}) for i in range(tasks)]
    serial, ray_eval, ray_noop = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        Serial().run(_episode_job, jobs)
        serial.append(time.perf_counter() - started)
    with RayTasks(num_cpus=1) as pool:
        pool.run(_noop, list(range(4)))                       # workers started
        pool.run(_episode_job, jobs[:1])                      # imports done in the worker
        for _ in range(repeats):
            started = time.perf_counter()
            pool.run(_episode_job, jobs)
            ray_eval.append(time.perf_counter() - started)
            started = time.perf_counter()
            pool.run(_noop, list(range(tasks)))
            ray_noop.append(time.perf_counter() - started)
    s, r, n = (statistics.median(x) / tasks for x in (serial, ray_eval, ray_noop))
    return {'tasks': tasks, 'serial_per_episode_s': s, 'ray_per_episode_s': r,
            'overhead_per_task_s': r - s, 'noop_task_s': n, 'ratio': r / s}


def nodes(config: Path, work: Path, trials: int) -> dict:
    import ray
    from ray.cluster_utils import Cluster
    out = {}
    for label, layout in (('one node, 2 CPUs', [2]), ('two nodes, 1 CPU each', [1, 1])):
        cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': layout[0]})
        for cpus in layout[1:]:
            cluster.add_node(num_cpus=cpus)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            wall, report = _sweep(config, work / f'sweep_{len(layout)}', trials,
                                  address=cluster.address)
        finally:
            ray.shutdown()
            cluster.shutdown()
        out[label] = {'wall_s': wall, 'nodes_used': len({n for r in report['rows']
                                                         for n in r['nodes']}),
                      'trials': len(report['rows']),
                      'finished': sum(r['status'] == 'finished' for r in report['rows'])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--trials', type=int, default=4)
    parser.add_argument('--tasks', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--json', default='', help='also write the figures here')
    parser.add_argument('--inside', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:
        from ray_probe import in_namespace
        done = in_namespace(__file__, '--inside', *sys.argv[1:], timeout=3600)
        sys.stdout.write(done.stdout)
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
        sys.exit(done.returncode)
    from ray_probe import TINY
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        config = work / 'tiny.yaml'
        config.write_text(TINY)
        figures = {'per_task': per_task(args.tasks, args.repeats),
                   'per_trial': per_trial(config, work, args.trials),
                   'nodes': nodes(config, work, args.trials)}
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + '\n')


if __name__ == '__main__':
    main()
