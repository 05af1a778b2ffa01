# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Imitation training: config loading, DAgger smoke runs, resume, and the shipped policies."""

import csv
import json
from pathlib import Path

from lnn_control.cli import main
from lnn_control.envs.make import make_env
from lnn_control.models.policy import load_model
from lnn_control.runtime.policy import builtin_policies
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.sequences import Sequences
from lnn_control.train.config import config_from_dict
from lnn_control.train.config import ConfigError
from lnn_control.train.config import load_config
from lnn_control.train.config import TrainConfig
from lnn_control.train.evaluate import evaluate
from lnn_control.train.imitation import train
import numpy as np
import pytest
from safetensors.numpy import load_file
import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / 'config' / 'train').glob('*.yaml'))
SHIPPED = {'pibot_nav_cfc': 'lnn_control/PiBotNav-v0', 'pibot_nav_mlp': 'lnn_control/PiBotNav-v0',
           'pibot_nav_gru': 'lnn_control/PiBotNav-v0', 'pendulum_cfc': 'InvertedPendulum-v5'}

TINY_NAV = {
    'name': 'tiny_nav',
    'env': {'id': 'lnn_control/PiBotNav-v0', 'kwargs': {'timestep': 0.01}},
    'model': {'kind': 'cfc', 'kwargs': {'units': {'kind': 'auto_ncp', 'units': 10,
                                                  'output_size': 2, 'seed': 1}}},
    'bc': {'demo_episodes': 2, 'steps': 12, 'batch_size': 4, 'seq_len': 8, 'burn_in': 4},
    'dagger': {'rounds': 1, 'episodes': 1, 'steps': 6},
    'eval': {'episodes': 1, 'test_episodes': 1},
}
TINY_PENDULUM = {
    'name': 'tiny_pendulum',
    'env': {'id': 'InvertedPendulum-v5'},
    'model': {'kind': 'gru', 'kwargs': {'hidden_size': 8}},
    'bc': {'demo_episodes': 1, 'steps': 10, 'batch_size': 4, 'seq_len': 8, 'burn_in': 2},
    'dagger': {'rounds': 1, 'episodes': 2, 'steps': 5},
    'eval': {'episodes': 1, 'test_episodes': 1},
}


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


# -- config ----------------------------------------------------------------------------------
def test_config_loads_with_defaults_and_round_trips(tmp_path):
    cfg = load_config(write_yaml(tmp_path / 'c.yaml', TINY_NAV))
    assert isinstance(cfg, TrainConfig)
    assert cfg.bc.steps == 12 and cfg.dagger.rounds == 1
    assert cfg.env.kwargs == {'timestep': 0.01}
    assert cfg.bc.lr == TrainConfig().bc.lr      # a left-out key keeps its default
    assert config_from_dict(cfg.to_dict()) == cfg
    json.dumps(cfg.to_dict())                     # JSON-able, for the policy's provenance


def test_config_refuses_an_unknown_key_and_names_it(tmp_path):
    data = {**TINY_NAV, 'bc': {**TINY_NAV['bc'], 'learning_rate': 1e-3}}
    with pytest.raises(ConfigError, match=r"unknown key 'bc.learning_rate'.*section 'bc'"):
        load_config(write_yaml(tmp_path / 'c.yaml', data))
    with pytest.raises(ConfigError, match="unknown key 'dager'.*did you mean dagger"):
        config_from_dict({'dager': {}})


@pytest.mark.parametrize('key, value, expected', [
    (('bc', 'lr'), 'fast', 'bc.lr: expected float, got str'),
    (('dagger', 'rounds'), 2.5, 'dagger.rounds: expected int, got float'),
    (('dagger', 'rounds'), True, 'dagger.rounds: expected int, got bool'),
    (('env', 'kwargs'), [1], 'env.kwargs: expected mapping, got list'),
])
def test_config_refuses_a_wrong_type(tmp_path, key, value, expected):
    data = json.loads(json.dumps(TINY_NAV))
    data[key[0]][key[1]] = value
    with pytest.raises(ConfigError, match=expected):
        load_config(write_yaml(tmp_path / 'c.yaml', data))


def test_config_overrides_values_and_ranges(tmp_path):
    path = write_yaml(tmp_path / 'c.yaml', TINY_NAV)
    cfg = load_config(path, ['bc.lr=1e-3', 'dagger.rounds=3', 'env.kwargs.drop=0.1'])
    assert (cfg.bc.lr, cfg.dagger.rounds, cfg.env.kwargs['drop']) == (1e-3, 3, 0.1)
    assert isinstance(cfg.bc.lr, float)
    with pytest.raises(ConfigError, match='dagger.beta0 must be in'):
        load_config(path, ['dagger.beta0=1.5'])
    with pytest.raises(ConfigError, match='overlap'):
        load_config(path, ['eval.test_seed=1'])   # test seeds among the training seeds
    with pytest.raises(ConfigError, match='key=value'):
        load_config(path, ['bc.lr'])


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.name == path.stem


# -- data ------------------------------------------------------------------------------------
def test_chunks_stay_in_their_episode_and_cover_every_step():
    data = Sequences.empty((1,), 1)
    lengths = [3, 20, 7]
    for e, n in enumerate(lengths):
        data.add(np.full((n, 1), e, np.float32), np.arange(n, dtype=np.float32) + 1,
                 np.zeros((n, 1), np.float32))
    assert (data.episodes, data.steps) == (3, 30)
    rng = np.random.default_rng(0)
    idx, mask = data.sample(rng, 4000, seq_len=5, burn_in=3)
    obs, dt, act = data.obs[idx], data.dt[idx] - 1, data.act[idx]
    assert obs.shape == (4000, 8, 1) and act.shape == (4000, 8, 1) and mask.shape == (4000, 8)
    episode = obs[:, 0, 0].astype(int)
    assert (obs[..., 0] == episode[:, None]).all()                # one episode per chunk
    assert (1 <= mask.sum(1)).all() and (mask.sum(1) <= 5).all()
    # Real steps are consecutive from the window start; only the padding repeats a step.
    real = dt[:, 0:1] + np.arange(8) < np.array(lengths)[episode][:, None]
    assert (dt[real] == (dt[:, 0:1] + np.arange(8))[real]).all()
    assert not (mask & ~real).any()                               # padding carries no loss
    # Loss steps are contiguous, and the burn-in is at most 3 steps before them.
    first = mask.argmax(1)
    assert (first <= 3).all()
    assert all(mask[i, first[i]:first[i] + mask[i].sum()].all() for i in range(4000))
    # Chunks whose loss starts at an episode's first step have no burn-in.
    at_start = dt[np.arange(4000), first] == 0
    assert at_start.any() and (first[at_start] == 0).all()
    # Every step of every episode carries loss about equally often.
    counts = [np.zeros(n) for n in lengths]
    for i in range(4000):
        np.add.at(counts[episode[i]], dt[i][mask[i]].astype(int), 1)
    covered = np.concatenate(counts)
    assert covered.min() > 0.6 * covered.mean()


# -- training runs ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def nav_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('nav')
    config = write_yaml(out / 'tiny_nav.yaml', TINY_NAV)
    assert main(['train', str(config), '--out', str(out / 'run'), '--no-progress']) == 0
    return out / 'run'


def test_nav_run_writes_a_loadable_policy_with_config_and_normaliser(nav_run):
    path = nav_run / 'tiny_nav.safetensors'
    policy = load_policy(str(path))
    spec = policy.spec
    env = make_env('lnn_control/PiBotNav-v0')
    assert spec.obs.size == env.observation_space.shape[0] == 17
    assert spec.action.size == env.action_space.shape[0] == 2
    assert spec.obs.names[0] == 'lidar_0' and spec.action.units == ['m/s', 'rad/s']
    assert spec.observer == env.unwrapped.observer.config.to_dict()
    assert spec.actuator == env.unwrapped.actuator.config.to_dict()
    expected = load_config(nav_run.parent / 'tiny_nav.yaml').to_dict()
    expected['out_dir'] = str(nav_run)
    assert spec.provenance['config'] == expected
    assert spec.provenance['data']['demo_episodes'] == 2
    assert spec.provenance['data']['episodes'] == 3
    assert set(spec.provenance['test']) == {'policy', 'expert'}
    # The normaliser is fitted: not the identity, and the runtime applies it like training.
    assert spec.obs_mean != [0.0] * 17 and spec.obs_std != [1.0] * 17
    assert spec.action_std != [1.0, 1.0]
    model = load_model(str(path))
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 1, (6, 17)).astype(np.float32)
    dts = rng.uniform(0.03, 0.1, 6)
    x = (obs - np.array(spec.obs_mean)) / np.array(spec.obs_std)
    with torch.no_grad():
        y, _ = model(torch.tensor(x[None], dtype=torch.float32),
                     timespans=torch.tensor(dts[None], dtype=torch.float32))
    want = y[0].numpy() * np.array(spec.action_std) + np.array(spec.action_mean)
    got = np.stack([policy.step(o, d) for o, d in zip(obs, dts)])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_nav_run_writes_logs_and_a_learning_curve(nav_run):
    with open(nav_run / 'log.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r['round']) for r in rows] == [0, 1]
    assert float(rows[0]['beta']) == 1.0 and float(rows[1]['beta']) == 0.5
    assert int(rows[1]['grad_steps']) == 12 + 6
    assert int(rows[1]['episodes']) == 3
    assert all(r['val_success'] != '' for r in rows)
    png = (nav_run / 'learning_curve.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    assert (nav_run / 'steps.csv').read_text().startswith('grad_step,loss')
    assert load_config(nav_run / 'config.yaml').name == 'tiny_nav'


def test_resume_continues_where_the_run_stopped(tmp_path, nav_run):
    # nav_run stopped after round 1; resuming with 2 rounds runs round 2 only and ends where
    # an uninterrupted 2-round run ends.
    resumed = tmp_path / 'resumed'
    import shutil
    shutil.copytree(nav_run, resumed)
    config = nav_run.parent / 'tiny_nav.yaml'
    full = tmp_path / 'full'
    cfg2 = load_config(config, ['dagger.rounds=2'])
    train(cfg2, out=full, progress=False)
    train(cfg2, out=resumed, resume=True, progress=False)
    with open(resumed / 'log.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r['round']) for r in rows] == [0, 1, 2]
    with open(full / 'log.csv') as handle:
        full_rows = list(csv.DictReader(handle))
    for a, b in zip(rows, full_rows):
        assert {k: v for k, v in a.items() if k != 'wall_seconds'} == \
               {k: v for k, v in b.items() if k != 'wall_seconds'}
    a = load_file(str(resumed / 'checkpoint' / 'round_002' / 'model.safetensors'))
    b = load_file(str(full / 'checkpoint' / 'round_002' / 'model.safetensors'))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    data = load_file(str(resumed / 'checkpoint' / 'round_002' / 'data.safetensors'))
    assert list(data['rounds']) == [0, 0, 1, 2]


def test_resume_refuses_changed_settings_and_fresh_runs_refuse_a_used_folder(nav_run):
    config = nav_run.parent / 'tiny_nav.yaml'
    with pytest.raises(ConfigError, match='bc.lr'):
        train(load_config(config, ['bc.lr=0.01']), out=nav_run, resume=True, progress=False)
    with pytest.raises(ConfigError, match='--resume'):
        train(load_config(config), out=nav_run, progress=False)
    assert main(['train', str(config), '--out', str(nav_run), '--no-progress']) == 2


def test_pendulum_run_writes_a_loadable_policy(tmp_path):
    cfg = config_from_dict(TINY_PENDULUM)
    path = train(cfg, out=tmp_path, progress=False)
    policy = load_policy(str(path))
    assert policy.spec.kind == 'gru'
    assert (policy.spec.obs.size, policy.spec.action.size) == (4, 1)
    assert policy.spec.action.low == [-3.0] and policy.spec.action.high == [3.0]
    assert policy.spec.provenance['config']['env']['id'] == 'InvertedPendulum-v5'
    assert len(policy.spec.obs_std) == 4 and policy.spec.obs_std != [1.0] * 4
    assert (tmp_path / 'log.csv').is_file() and (tmp_path / 'learning_curve.png').is_file()
    assert policy.step(np.zeros(4, np.float32), 0.04).shape == (1,)


# -- shipped policies ------------------------------------------------------------------------
def test_the_expected_policies_are_shipped():
    assert set(SHIPPED) <= set(builtin_policies())


@pytest.mark.parametrize('name', sorted(n for n in builtin_policies()
                                        if n.startswith(('pibot_nav_', 'pendulum_'))))
def test_shipped_policy_loads_by_name_and_fits_its_env(name):
    policy = load_policy(name)
    spec = policy.spec
    env_id = spec.provenance['config']['env']['id']
    env = make_env(env_id)
    assert spec.obs.size == int(np.prod(env.observation_space.shape))
    assert spec.action.size == int(np.prod(env.action_space.shape))
    np.testing.assert_allclose(spec.action.low, env.action_space.low)
    np.testing.assert_allclose(spec.action.high, env.action_space.high)
    assert spec.kind == spec.provenance['config']['model']['kind'] == name.split('_')[-1]
    assert spec.provenance['method'] == 'dagger' and 'test' in spec.provenance
    obs, _ = env.reset(seed=0)
    action = policy.step(np.asarray(obs, np.float32), 0.05)
    assert action.shape == (spec.action.size,) and np.isfinite(action).all()
    env.close()


@pytest.mark.parametrize('name', sorted(n for n in builtin_policies()
                                        if (ROOT / 'config' / 'train' / f'{n}.yaml').is_file()))
def test_shipped_policy_was_made_by_its_config(name):
    # `lnn-control train config/train/<name>.yaml` regenerates it: the resolved config stored
    # in the file is the YAML's (up to the output folder).
    # (Read back through config_from_dict: fields added since the file was made take their
    # defaults, which is what an old config means.)
    made = config_from_dict(load_policy(name).spec.provenance['config']).to_dict()
    want = load_config(ROOT / 'config' / 'train' / f'{name}.yaml').to_dict()
    made.pop('out_dir')
    want.pop('out_dir')
    assert made == want


@pytest.mark.slow
def test_shipped_nav_cfc_drives_to_the_goal_on_held_out_seeds():
    result = evaluate('pibot_nav_cfc', 'lnn_control/PiBotNav-v0', episodes=20, seed=10_000)
    assert result['success_rate'] >= 0.85


@pytest.mark.slow
def test_shipped_pendulum_cfc_balances_on_held_out_seeds():
    result = evaluate('pendulum_cfc', 'InvertedPendulum-v5', episodes=5, seed=10_000)
    assert result['mean_return'] == pytest.approx(1000.0)
