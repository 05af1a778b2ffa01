# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The Ray checks of test_distributed.py, run inside a network namespace with only loopback.

``python test/ray_probe.py OUT_DIR`` (run by :func:`in_namespace`, never directly on a host
network: outside a namespace Ray listens on the machine's address) does, in order:

1. an embedded sweep (``lnn-control sweep``, Ray started in-process) of a tiny pendulum config;
2. a real two-node cluster (``ray.cluster_utils.Cluster``: a head and a worker node, each its
   own raylet process, one CPU each), the same sweep on it, the worker node killed once its
   trial has checkpointed, a fresh worker node added in its place;
3. ``lnn-control eval --address`` of the best policy, ``eval --suite robustness
   --address`` and a PPO run with ``ppo.rollout_workers: 2`` on the cluster against the same
   runs in this process;
4. shutdown, then the list of processes left in the namespace (none but this one).

Everything measured goes to ``OUT_DIR/probe.json``; the tests assert on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

TINY = """\
name: tiny
env: {id: InvertedPendulum-v5}
model: {kind: cfc, kwargs: {units: {kind: auto_ncp, units: 8, output_size: 1,
                                    sparsity_level: 0.5, seed: 1}}}
bc: {demo_episodes: 2, steps: 30, batch_size: 16, seq_len: 32, burn_in: 4,
     action_normaliser: bounds}
dagger: {rounds: 2, episodes: 1, steps: 20}
eval: {episodes: 2, seed: 5000, test_episodes: 2, test_seed: 10000}
"""
PPO = """\
name: tinyppo
method: ppo
env: {id: InvertedPendulum-v5}
model: {kind: cfc, kwargs: {units: {kind: auto_ncp, units: 8, output_size: 1,
                                    sparsity_level: 0.5, seed: 1}}}
ppo: {total_steps: 192, envs: 3, rollout_steps: 32, chunk_len: 8, epochs: 2, minibatches: 2,
      checkpoint_every: 1}
eval: {test_episodes: 2, test_seed: 10000}
"""
GRID = ['--grid', 'bc.lr=1e-3,3e-3']
SUITE = ['--grid', 'clean', 'noise=0.1', '--episodes', '2', '--env', 'InvertedPendulum-v5']


def in_namespace(script: str, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess:
    """
    Run ``python script args`` in new network and pid namespaces with only loopback up.

    The pid namespace ends with the script: the kernel stops whatever it left running.
    """
    inner = ' '.join([sys.executable, script, *args])
    return subprocess.run(
        ['unshare', '--net', '--pid', '--fork', '--mount-proc', 'sh', '-c',
         f'ip link set lo up && {inner}'],
        capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, RAY_USAGE_STATS_ENABLED='0', OMP_NUM_THREADS='1'))


def _cli(*argv: str) -> int:
    from lnn_control.cli import main
    return main(list(argv))


def _interfaces() -> list:
    out = subprocess.run(['ip', '-o', 'addr'], capture_output=True, text=True).stdout
    return sorted({line.split()[3] for line in out.splitlines()})


def _listening() -> list:
    out = subprocess.run(['ss', '-ltnH'], capture_output=True, text=True).stdout
    return sorted({line.split()[3].rsplit(':', 1)[0] for line in out.splitlines()})


def _ray_pids(cluster) -> list:
    pids = []
    for node in [cluster.head_node, *cluster.worker_nodes]:
        for infos in node.all_processes.values():
            pids += [info.process.pid for info in infos]
    return pids


def _kill_worker_when_trial_checkpointed(cluster, worker, experiment: Path, done: dict) -> None:
    """
    Remove ``worker`` once a trial on it has reported (checkpointed) its first round; add one.

    The first report, not a later one: the tiny trial has only a few rounds, and a trial that
    reports its last one before the node is gone finishes there, with nothing left to resume.
    """
    deadline = time.time() + 240
    while time.time() < deadline and 'killed' not in done:
        for result in experiment.glob('trial_*/result.json'):
            lines = [json.loads(x) for x in result.read_text().splitlines() if x.strip()]
            if any(r.get('node_id') == worker.node_id and r['training_iteration'] >= 1
                   for r in lines):
                done['killed'] = {'trial': result.parent.name, 'node_id': worker.node_id,
                                  'at_iteration': max(r['training_iteration'] for r in lines)}
                cluster.remove_node(worker, allow_graceful=False)
                done['replacement'] = cluster.add_node(num_cpus=1)
                return
        time.sleep(0.2)


def _running(pid: int) -> bool:
    import psutil
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _ppo(out: Path) -> dict:
    """Train the tiny PPO config without Ray and with two rollout actors on the cluster."""
    import csv

    import numpy as np
    from safetensors.numpy import load_file

    from lnn_control.train import method
    from lnn_control.train.config import load_config
    (out / 'ppo.yaml').write_text(PPO)
    logs, files = {}, {}
    for workers in (0, 2):
        cfg = load_config(out / 'ppo.yaml', [f'ppo.rollout_workers={workers}'])
        path = method('ppo')(cfg, out=out / f'ppo_{workers}', progress=False)
        files[workers] = load_file(str(path))
        with open(out / f'ppo_{workers}' / 'log.csv') as handle:
            logs[workers] = [{k: row[k] for k in ('episode_return', 'episodes', 'policy_loss',
                                                  'value_loss', 'approx_kl')}
                             for row in csv.DictReader(handle)]
    a, b = files[0], files[2]
    return {'keys_equal': sorted(a) == sorted(b), 'logs': logs,
            'max_weight_difference': max(float(np.abs(a[k] - b[k]).max()) for k in a)}


def _own_helper(process, me: int) -> bool:
    """Whether ``process`` is this interpreter's multiprocessing resource tracker (not Ray)."""
    return process.ppid() == me and 'multiprocessing.resource_tracker' in ' '.join(
        process.cmdline())


def main(out: Path) -> None:
    import psutil
    out.mkdir(parents=True, exist_ok=True)
    config = out / 'tiny.yaml'
    config.write_text(TINY)
    probe = {'interfaces': _interfaces()}
    t0 = time.perf_counter()

    # 1. the embedded sweep (Ray in this process), through the CLI.
    local = out / 'local'
    # One CPU: the trials run one after the other in one reused actor (imports paid once).
    probe['local_rc'] = _cli('sweep', str(config), *GRID, '--seeds', '1',
                             '--storage', str(local), '--num-cpus', '1', '--quiet')
    probe['local'] = json.loads((local / 'tiny_sweep' / 'sweep.json').read_text())
    probe['local_files'] = sorted(p.name for p in (local / 'tiny_sweep').iterdir())
    probe['t_local_sweep'] = time.perf_counter() - t0
    policy = probe['local']['best']['policy']

    # 2. a two-node cluster: the same sweep, a worker node killed mid-sweep.
    import ray
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 1})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    pids = set(_ray_pids(cluster))
    probe['listening'] = _listening()
    ray.init(address=cluster.address, log_to_driver=False)
    probe['nodes'] = {'head': cluster.head_node.node_id, 'worker': worker.node_id}
    from lnn_control.train.sweep import parse_grid, run_sweep, SweepSpec
    remote = out / 'cluster'
    spec = SweepSpec(str(config), grid=parse_grid(GRID[1:]), seeds=1, storage=str(remote),
                     address=cluster.address, verbose=0, max_failures=3)
    killed: dict = {}
    killer = threading.Thread(target=_kill_worker_when_trial_checkpointed,
                              args=(cluster, worker, remote / 'tiny_sweep', killed))
    killer.start()
    try:
        probe['cluster'] = run_sweep(spec)
    finally:
        killed.setdefault('none', True)
        killer.join()
    replacement = killed.pop('replacement', None)
    probe['killed'] = killed
    probe['t_cluster_sweep'] = time.perf_counter() - t0
    if replacement is None:
        replacement = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    pids |= set(_ray_pids(cluster))
    probe['nodes']['replacement'] = replacement.node_id

    # 3. eval, the robustness suite and PPO on the cluster against local runs (the commands
    # reuse this process's connection to the cluster, and so its worker processes).
    for name, extra in (('eval_local', []), ('eval_cluster', ['--address', cluster.address])):
        _cli('eval', policy, '--episodes', '4', '--seed', '20', '--perturb', 'noise=0.05',
             '--json', str(out / f'{name}.json'), *extra)
        probe[name] = json.loads((out / f'{name}.json').read_text())
    for name, extra in (('suite_local', ['--workers', '1']),
                        ('suite_cluster', ['--address', cluster.address])):
        _cli('eval', '--suite', 'robustness', '--policies', policy, 'expert', *SUITE,
             '--out', str(out / name))
        probe[name] = json.loads((out / name / 'robustness.json').read_text())
    probe['t_suite'] = time.perf_counter() - t0
    probe['ppo'] = _ppo(out)
    probe['t_ppo'] = time.perf_counter() - t0
    ray.shutdown()

    # 4. everything stopped, by handle.
    cluster.shutdown()
    probe['ray_pids'] = sorted(pids)
    me = os.getpid()
    # A worker process of the killed node notices its raylet is gone and exits: give it time.
    deadline = time.time() + 20
    while True:
        probe['alive'] = [p for p in pids if _running(p)]
        probe['left'] = [(p.pid, ' '.join(p.cmdline())[:120]) for p in psutil.process_iter()
                         if p.pid not in (me, 1) and _running(p.pid) and not _own_helper(p, me)]
        if not (probe['alive'] or probe['left']) or time.time() > deadline:
            break
        time.sleep(0.5)
    probe['t_total'] = time.perf_counter() - t0
    (out / 'probe.json').write_text(json.dumps(probe, indent=1, default=str))


if __name__ == '__main__':
    main(Path(sys.argv[1]))
