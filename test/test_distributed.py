# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ray: sweeps, evaluation tasks and a real two-node cluster, inside a loopback-only namespace.

Every Ray session runs in ``test/ray_probe.py`` under ``unshare --net --pid`` with only
loopback up (outside a namespace Ray listens on the machine's address, which tests never use);
one run of it serves every test here. Without root or ``unshare`` those tests skip. The tests
of the executor and of the CLI without Ray need no Ray session.
"""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from ray_probe import in_namespace  # noqa: E402


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or shutil.which('unshare') is None or shutil.which('ip') is None:
        return False
    done = subprocess.run(['unshare', '--net', 'sh', '-c', 'ip link set lo up'],
                          capture_output=True)
    return done.returncode == 0


def _strip(result):
    """Return an evaluation result without what may differ between runs (time, file path)."""
    return {k: v for k, v in result.items() if k not in ('wall_seconds', 'policy')}


@pytest.fixture(scope='module')
def probe(tmp_path_factory):
    pytest.importorskip('ray')
    if not _namespaces_work():
        pytest.skip('needs root and unshare for a loopback-only network namespace')
    out = tmp_path_factory.mktemp('ray_probe')
    done = in_namespace(str(HERE / 'ray_probe.py'), str(out))
    assert done.returncode == 0, done.stderr[-6000:]
    return json.loads((out / 'probe.json').read_text())


@pytest.mark.slow
def test_the_namespace_has_only_loopback_and_ray_binds_it(probe):
    assert probe['interfaces'] == ['127.0.0.1/8', '::1/128']
    assert set(probe['listening']) <= {'127.0.0.1', '[::ffff:127.0.0.1]', '*', '[::]',
                                       '0.0.0.0'}


@pytest.mark.slow
def test_an_embedded_sweep_writes_a_table_a_plot_and_the_best_policy(probe):
    assert probe['local_rc'] == 0
    assert {'sweep.md', 'sweep.json', 'sweep.png', 'tiny_best.safetensors'} <= set(
        probe['local_files'])
    rows = probe['local']['rows']
    assert sorted(r['overrides']['bc.lr'] for r in rows) == [1e-3, 3e-3]
    for row in rows:
        assert row['status'] == 'finished' and row['seed'] == 0
        # A report per round (BC + 2 DAgger rounds): what ASHA compares.
        assert len(row['history']) == 3 and row['test_score'] is not None
        assert row['node_id'] and row['wall_seconds'] > 0
    best = probe['local']['best']
    assert best['test_score'] == max(r['test_score'] for r in rows)


@pytest.mark.slow
def test_a_two_node_sweep_uses_both_nodes_and_equals_the_local_sweep(probe):
    nodes = probe['nodes']
    rows = {json.dumps(r['overrides']): r for r in probe['cluster']['rows']}
    local = {json.dumps(r['overrides']): r for r in probe['local']['rows']}
    assert rows.keys() == local.keys()
    used = {n for r in rows.values() for n in r['nodes']}
    assert nodes['worker'] in used and nodes['head'] in used
    for key, row in rows.items():
        assert row['status'] == 'finished'
        for field in ('score', 'test_score', 'history'):
            assert row[field] == local[key][field], (key, field)


@pytest.mark.slow
def test_a_worker_node_killed_mid_sweep_loses_no_trial(probe):
    killed = probe['killed']['killed']
    victim = next(r for r in probe['cluster']['rows'] if r['trial'] in killed['trial'])
    # It ran on the killed node, then resumed from its checkpoint on another one.
    assert victim['nodes'][0] == killed['node_id'] and len(victim['nodes']) >= 2
    assert victim['resumed'] and victim['status'] == 'finished'


@pytest.mark.slow
def test_evaluation_on_the_cluster_equals_the_local_one(probe):
    assert _strip(probe['eval_cluster']) == _strip(probe['eval_local'])
    assert probe['eval_local']['episodes'] == 4


@pytest.mark.slow
def test_the_robustness_suite_on_the_cluster_equals_the_local_one(probe):
    local, remote = probe['suite_local'], probe['suite_cluster']
    assert remote['perturbations'] == local['perturbations'] == ['clean', 'noise=0.1']
    for name in local['policies']:
        for label in local['perturbations']:
            assert (_strip(remote['results'][name][label])
                    == _strip(local['results'][name][label])), (name, label)


@pytest.mark.slow
def test_ppo_with_rollout_actors_on_the_cluster_is_the_local_run(probe):
    ppo = probe['ppo']
    assert ppo['keys_equal'] and len(ppo['logs']['0']) == 2
    # The same experience, so the same losses and returns (as logged); the weights agree to
    # float32 rounding (the network's matmuls run on another batch size in each actor).
    assert ppo['logs']['0'] == ppo['logs']['2']
    assert ppo['max_weight_difference'] < 1e-5


@pytest.mark.slow
def test_no_ray_process_outlives_the_cluster(probe):
    assert probe['ray_pids'] and probe['alive'] == []
    assert probe['left'] == [], probe['left']


# -- no Ray session needed --------------------------------------------------------------------
def test_the_executors_give_the_local_evaluation():
    from lnn_control.train.evaluate import evaluate, split
    from lnn_control.train.executor import make_executor, Serial

    assert split(10, 5, 2) == [(10, 3), (13, 2)] and split(0, 2, 8) == [(0, 1), (1, 1)]
    kwargs = {'episodes': 3, 'seed': 7, 'perturb': 'noise=0.05,drop=0.2'}
    here = evaluate('expert', 'InvertedPendulum-v5', **kwargs)

    class Pieces(Serial):
        slots = 3        # three jobs, one episode each, run here

    with Pieces() as pool:
        cut = evaluate('expert', 'InvertedPendulum-v5', executor=pool, **kwargs)
    assert _strip(cut) == _strip(here)
    assert type(make_executor(workers=1)).__name__ == 'Serial'
    assert type(make_executor(workers=3)).__name__ == 'Processes'


def test_an_executor_refuses_a_policy_object():
    from lnn_control.runtime.policy import load_policy
    from lnn_control.train.evaluate import evaluate
    from lnn_control.train.executor import Serial
    with pytest.raises(ValueError, match='by name or file'):
        evaluate(load_policy('pendulum_cfc'), 'InvertedPendulum-v5', episodes=1,
                 executor=Serial())


def test_the_grid_parser_reads_yaml_values():
    from lnn_control.train.config import ConfigError
    from lnn_control.train.sweep import parse_grid
    assert parse_grid(['bc.lr=1e-3,3e-3', 'model.kind=cfc,ltc', 'bc.action_noise=[0.5],[1]']) \
        == {'bc.lr': [1e-3, 3e-3], 'model.kind': ['cfc', 'ltc'],
            'bc.action_noise': [[0.5], [1]]}
    for bad in (['bc.lr'], ['bc.lr='], ['x=1', 'x=2']):
        with pytest.raises(ConfigError):
            parse_grid(bad)


def test_without_ray_sweep_and_eval_say_how_to_install_it(tmp_path):
    code = ('import sys\n'
            "sys.modules['ray'] = None\n"
            'from lnn_control.cli import main\n'
            f"sys.exit(main(['sweep', {str(ROOT / 'config/train/pendulum_cfc.yaml')!r}, "
            f"'--grid', 'bc.lr=1e-3,3e-3', '--storage', {str(tmp_path)!r}]) * 10 + "
            "main(['eval', 'pendulum_cfc', '--ray', '--episodes', '1']))\n")
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 22, done.stderr
    assert done.stderr.count("pip install 'lnn_control[distributed]'") == 2, done.stderr


def test_the_search_and_scheduler_registries_build_tune_objects():
    pytest.importorskip('ray')
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from lnn_control.train.sweep import SCHEDULERS, SEARCHES, SweepSpec
    spec = SweepSpec('x.yaml', grid={'bc.lr': [1e-3, 3e-3]}, seeds=2, trials=5)
    optuna = SEARCHES['optuna'](spec)
    assert isinstance(optuna['search_alg'], OptunaSearch) and optuna['num_samples'] == 5
    grid = SEARCHES['grid'](spec)
    assert grid['search_alg'] is None and set(grid['param_space']) == {'bc.lr', 'seed'}
    assert isinstance(SCHEDULERS['asha'](spec), ASHAScheduler)
    assert SCHEDULERS['fifo'](spec) is None


def test_rollout_workers_are_at_most_the_envs():
    from lnn_control.train.config import config_from_dict, ConfigError
    from lnn_control.train.rollouts import groups
    assert groups(5, 2) == [[0, 1, 2], [3, 4]]
    with pytest.raises(ConfigError, match='ppo.rollout_workers'):
        config_from_dict({'method': 'ppo', 'ppo': {'envs': 2, 'rollout_workers': 3}})


def test_a_sweep_refuses_a_wrong_grid_key_before_starting_ray(tmp_path):
    from lnn_control.train.config import ConfigError
    from lnn_control.train.sweep import run_sweep, SweepSpec
    spec = SweepSpec(str(ROOT / 'config/train/pendulum_cfc.yaml'), grid={'bc.lrr': [1e-3]},
                     storage=str(tmp_path))
    with pytest.raises(ConfigError, match='bc.lrr'):
        run_sweep(spec)
