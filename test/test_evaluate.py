# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Env factory, perturbation knobs, closed-loop evaluation, the eval CLI and the suite."""

import json
import math

from lnn_control.cli import main
from lnn_control.envs.make import make_env
from lnn_control.envs.make import nominal_dt
from lnn_control.envs.perturb import KNOBS
from lnn_control.envs.perturb import Perturbation
from lnn_control.envs.perturb import PerturbedMujocoEnv
from lnn_control.train.evaluate import evaluate
from lnn_control.train.robustness import default_policies
from lnn_control.train.robustness import run_suite
import numpy as np
import pytest

NAV = 'lnn_control/PiBotNav-v0'
IP = 'InvertedPendulum-v5'        # timestep 0.02 s, frame_skip 2: dt 0.04 s


@pytest.fixture(scope='module')
def policy_files(tmp_path_factory):
    from lnn_control.models import CfC
    from lnn_control.models import GRU
    from lnn_control.models import save_policy
    from lnn_control.wirings import AutoNCP
    import torch
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('policies')
    return {
        'nav': str(save_policy(CfC(17, AutoNCP(8, 2, seed=0)), folder / 'nav_cfc.safetensors',
                               action_std=[0.22, 2.84])),
        'ip': str(save_policy(GRU(4, 1, hidden_size=8), folder / 'ip_gru.safetensors')),
    }


def rollout(env, actions, seed=0):
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, False, False, info)]
    for action in actions:
        out.append(env.step(np.array([action])))
    return out


# -- Perturbation -------------------------------------------------------------------------
def test_parse_round_trips_and_accepts_aliases():
    p = Perturbation.parse(' noise=0.05, drop=0.2,jitter=0.3,gain=0.9:1.1 ')
    assert (p.noise, p.drop, p.jitter, p.gain) == (0.05, 0.2, 0.3, (0.9, 1.1))
    assert (p.delay, p.mass, p.friction) == (0.0, 1.0, 1.0)
    assert p.label == 'noise=0.05,drop=0.2,jitter=0.3,gain=0.9:1.1'
    assert Perturbation.parse(p.label) == p
    assert Perturbation.parse('obs_noise=0.05,dt_jitter=0.3,motor_gain=0.7') == Perturbation(
        noise=0.05, jitter=0.3, gain=0.7)
    assert Perturbation.coerce({'drop': 0.2, 'action_delay': 0.1}) == Perturbation(
        drop=0.2, delay=0.1)
    for clean in ('', 'clean', None, Perturbation(), {}):
        assert Perturbation.coerce(clean).is_clean and Perturbation.coerce(clean).label == 'clean'
    assert Perturbation(gain=(1.0, 1.0)).is_clean
    assert Perturbation(mass=1.5).env_kwargs() == {'mass_scale': 1.5}
    assert set(KNOBS) == {'noise', 'drop', 'jitter', 'delay', 'mass', 'friction', 'gain', 'lidar',
                          'brightness', 'occlusion', 'textures', 'obs', 'gamma', 'blur', 'jpeg',
                          'pitch', 'randomise'}
    assert Perturbation.parse('textures=unseen,brightness=-40').env_kwargs(
        frozenset({'textures'})) == {'texture_set': 'unseen'}


@pytest.mark.parametrize('text, message', [
    ('nois=0.1', "unknown perturbation knob 'nois'.*did you mean 'noise'"),
    ('wind=3', "unknown perturbation knob 'wind'"),
    ('drop=1.0', r'drop=1.0: must be a probability in \[0, 1\)'),
    ('jitter=-0.1', 'jitter=-0.1: must be'),
    ('noise=abc', 'noise=abc: not a number'),
    ('noise=nan', 'noise=nan: must be finite'),
    ('mass=0', 'mass=0: must be'),
    ('noise', 'expected KNOB=VALUE'),
    ('noise=', 'expected KNOB=VALUE'),
    ('drop=0.1,drop=0.2', "'drop' is given twice"),
    ('mass=1:2', 'mass takes one value'),
])
def test_parse_refuses_bad_text_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        Perturbation.parse(text)


# -- the env factory and the wrapper ------------------------------------------------------
def test_nav_knobs_map_to_the_envs_own_arguments():
    env = make_env(NAV, perturb='noise=0.05,drop=0.2,jitter=0.3,delay=0.1,mass=1.5,'
                                'friction=0.5,gain=0.9:1.1', n_obstacles=3)
    base = env.unwrapped
    assert (base.obs_noise, base.drop, base.dt_jitter, base.action_delay) == (
        0.05, 0.2, 0.3, 0.1)
    assert (base.mass_scale, base.friction_scale, base.n_obstacles) == (1.5, 0.5, 3)
    np.testing.assert_allclose(base.motor_gain, [0.9, 1.1])
    assert nominal_dt(env) == pytest.approx(0.05)
    assert make_env(NAV, perturb='lidar=10').unwrapped.lidar_yaw == 10.0
    # The wrapped envs have no lidar: refused, not silently ignored.
    with pytest.raises(ValueError, match='perturbation lidar needs an env with that sensor'):
        make_env(IP, perturb='lidar=5')
    with pytest.raises(ValueError, match='both'):
        make_env(NAV, perturb='drop=0.2', drop=0.1)


def test_wrapper_is_always_there_and_reports_time():
    env = make_env(IP)
    assert isinstance(env, PerturbedMujocoEnv)
    assert nominal_dt(env) == pytest.approx(0.04)
    assert nominal_dt(make_env('InvertedDoublePendulum-v5')) == pytest.approx(0.05)
    clean = rollout(env, [0.5] * 5)
    import gymnasium
    reference = gymnasium.make(IP)
    obs, _ = reference.reset(seed=0)
    np.testing.assert_array_equal(clean[0][0], obs)
    for step in clean[1:]:   # clean: exactly the Gymnasium env, plus info['dt']
        obs, reward, *_ = reference.step(np.array([0.5]))
        np.testing.assert_array_equal(step[0], obs)
        assert step[1] == reward and step[4]['dt'] == pytest.approx(0.04)


def test_drop_lengthens_the_step_and_holds_the_action():
    dropping = make_env(IP, perturb='drop=0.5')
    clean = make_env(IP)
    dropping.reset(seed=3)
    clean.reset(seed=3)   # the wrapper's draws have their own stream: same initial state
    lengths = []
    for k in range(12):
        action = np.array([0.3 * math.sin(k)])
        obs, _, terminated, _, info = dropping.step(action)
        periods = 1 + info['dropped']
        assert info['dt'] == pytest.approx(0.04 * periods)
        for _ in range(periods):   # the same action held over every period of the gap
            ref, *_ = clean.step(action)
        np.testing.assert_array_equal(obs, ref)
        lengths.append(periods)
        if terminated:
            break
    assert max(lengths) > 1 and min(lengths) == 1


def test_jitter_varies_dt_and_the_simulation_advances_by_exactly_dt():
    env = make_env(IP, perturb='jitter=0.5')
    data = env.unwrapped.data
    env.reset(seed=1)
    dts = []
    for _ in range(40):
        t0 = data.time
        _, _, terminated, _, info = env.step(np.zeros(1))
        assert data.time - t0 == pytest.approx(info['dt'], abs=1e-9)
        assert info['time'] == pytest.approx(data.time, abs=1e-9)
        dts.append(info['dt'])
        if terminated:
            break
    ticks = np.array(dts) / 0.02
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-9)   # whole physics steps
    assert len(set(np.round(ticks))) >= 2
    assert env.unwrapped.frame_skip == 2   # restored for experts and renderers


def test_delay_shifts_the_actions():
    actions = [0.4, -0.2, 0.3, 0.1, -0.5, 0.2]
    delayed = rollout(make_env(IP, perturb='delay=0.08'), actions)   # 4 physics = 2 periods
    shifted = rollout(make_env(IP), [0.0, 0.0] + actions[:-2])
    for a, b in zip(delayed, shifted):
        np.testing.assert_array_equal(a[0], b[0])


def test_noise_changes_observations_not_the_dynamics():
    noisy = make_env(IP, perturb='noise=0.1')
    clean = make_env(IP)
    rollout(noisy, [0.2] * 30)
    rollout(clean, [0.2] * 30)
    np.testing.assert_array_equal(noisy.unwrapped.data.qpos, clean.unwrapped.data.qpos)
    obs, *_ = noisy.step(np.zeros(1))
    ref, *_ = clean.step(np.zeros(1))
    assert 0.0 < np.abs(obs - ref).max() < 1.0 and obs.dtype == ref.dtype


def test_dynamics_knobs_change_the_model_and_the_motion():
    clean = make_env(IP).unwrapped.model
    for text, check in [
        ('mass=1.5', lambda m: np.testing.assert_allclose(m.body_mass[1:],
                                                          1.5 * clean.body_mass[1:])),
        ('friction=0.5', lambda m: (
            np.testing.assert_allclose(m.geom_friction, 0.5 * clean.geom_friction),
            np.testing.assert_allclose(m.dof_damping, 0.5 * clean.dof_damping))),
        ('gain=0.7', lambda m: np.testing.assert_allclose(m.actuator_gear[:, 0],
                                                          0.7 * clean.actuator_gear[:, 0])),
    ]:
        env = make_env(IP, perturb=text)
        check(env.unwrapped.model)
        moved = rollout(env, [0.5] * 5)[-1][0]
        reference = rollout(make_env(IP), [0.5] * 5)[-1][0]
        assert not np.allclose(moved, reference), text
    with pytest.raises(ValueError, match='1 actuator'):
        make_env(IP, perturb='gain=0.9:1.1')


def test_time_limit_is_in_seconds_and_rewards_are_time_weighted():
    from lnn_control.envs.experts import make_expert
    expert = make_expert(IP)
    env = make_env(IP, perturb='drop=0.4,jitter=0.3', max_episode_steps=50)
    obs, info = env.reset(seed=0)
    total, steps = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        total += reward
        steps += 1
        if terminated or truncated:
            break
    # The 50 x 0.04 s limit, the last step cut to it exactly; reward 1 per nominal period.
    assert truncated and not terminated and steps < 50
    assert info['time'] == pytest.approx(2.0) and total == pytest.approx(50.0)


# -- evaluate -------------------------------------------------------------------------------
class Recorder:
    """A policy that drives straight and records what it was given."""

    def __init__(self):
        self.dts, self.resets = [], 0

    def reset(self):
        self.resets += 1

    def step(self, obs, dt):
        assert obs.shape == (17,) and obs.dtype == np.float32
        self.dts.append(dt)
        return np.array([0.1, 0.0], dtype=np.float32)


def test_an_env_that_truncates_itself_ends_its_episodes():
    # PiBotLane-v0 ends an episode on its own time_limit; make_env sets no step limit.
    env = make_env('lnn_control/PiBotLane-v0', time_limit=0.5)
    env.reset(seed=0)
    for steps in range(1, 40):
        _, _, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        if terminated or truncated:
            break
    env.close()
    assert truncated and not terminated and steps == 15
    assert info['time'] == pytest.approx(0.5)


def test_evaluate_passes_nominal_then_real_dt():
    recorder = Recorder()
    result = evaluate(recorder, NAV, episodes=2, seed=5, perturb='drop=0.3,jitter=0.3',
                      time_limit=3.0)
    assert recorder.resets == 2
    assert recorder.dts[0] == pytest.approx(0.05)
    assert len(set(np.round(recorder.dts, 4))) > 2
    assert sum(r['steps'] for r in result['per_episode']) == len(recorder.dts)
    assert result['policy'] == 'Recorder' and result['perturbation'] == 'drop=0.3,jitter=0.3'


def test_evaluate_is_deterministic_and_json_ready(policy_files):
    kwargs = {'episodes': 2, 'seed': 7, 'perturb': 'noise=0.05,drop=0.2,jitter=0.3',
              'time_limit': 4.0}
    first = evaluate(policy_files['nav'], NAV, **kwargs)
    second = evaluate(policy_files['nav'], NAV, **kwargs)
    first.pop('wall_seconds')
    second.pop('wall_seconds')
    assert first == second
    assert json.loads(json.dumps(first)) == first
    for key in ('env_id', 'policy', 'perturbation', 'knobs', 'episodes', 'seed', 'mean_return',
                'std_return', 'median_return', 'success_rate', 'collision_rate',
                'mean_steps', 'mean_seconds', 'metric', 'score', 'per_episode'):
        assert key in first, key
    assert [e['seed'] for e in first['per_episode']] == [7, 8]
    assert first['metric'] == 'success_rate' and first['knobs']['drop'] == 0.2
    returns = [e['return'] for e in first['per_episode']]
    assert first['mean_return'] == pytest.approx(np.mean(returns))
    other = evaluate(policy_files['nav'], NAV, **dict(kwargs, seed=8))
    assert other['per_episode'][0]['return'] == first['per_episode'][1]['return']  # seed 8
    with pytest.raises(ValueError, match='4 observations'):
        evaluate(policy_files['ip'], NAV, episodes=1)


def test_pendulum_results_have_no_success_rate():
    result = evaluate('expert', IP, episodes=2, seed=0, max_episode_steps=100)
    assert result['success_rate'] is None and result['collision_rate'] is None
    assert result['metric'] == 'mean_return' and result['score'] == pytest.approx(100.0)


def test_expert_succeeds_on_three_nav_seeds():
    result = evaluate('expert', NAV, episodes=3, seed=0)
    assert result['success_rate'] == 1.0 and result['collision_rate'] == 0.0


# -- CLI and suite --------------------------------------------------------------------------
def test_cli_eval_writes_json(tmp_path, policy_files, capsys):
    out = tmp_path / 'sub' / 'result.json'
    code = main(['eval', policy_files['ip'], '--env', IP, '--episodes', '2', '--seed', '3',
                 '--perturb', 'noise=0.05,drop=0.2,jitter=0.3', '--json', str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data['episodes'] == 2 and data['seed'] == 3 and data['env_id'] == IP
    assert data['perturbation'] == 'noise=0.05,drop=0.2,jitter=0.3'
    assert len(data['per_episode']) == 2
    assert 'return' in capsys.readouterr().out
    assert main(['eval', 'expert', '--env', IP, '--perturb', 'drop=2']) == 2
    assert 'must be a probability' in capsys.readouterr().err
    assert main(['eval', '--env', IP]) == 2


def test_default_policies_put_liquid_first(monkeypatch):
    import lnn_control.runtime.policy as runtime_policy
    monkeypatch.setattr(runtime_policy, 'builtin_policies', lambda: [
        'inverted_pendulum_cfc', 'pibot_nav_gru', 'pibot_nav_ltc', 'pibot_nav_mlp',
        'pibot_nav_cfc', 'pibot_nav_tiny'])
    assert default_policies(NAV) == ['pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_mlp',
                                     'pibot_nav_gru', 'pibot_nav_tiny', 'expert']


def test_suite_on_a_tiny_grid_writes_its_files(tmp_path, policy_files):
    report = run_suite([policy_files['ip'], 'expert'], IP, episodes=2, seed=0,
                       grid=['noise=0.05', 'gain=0.9:1.1'], out=str(tmp_path), workers=1,
                       env_kwargs={'max_episode_steps': 40})
    assert report['perturbations'] == ['clean', 'noise=0.05']
    assert list(report['skipped']) == ['gain=0.9:1.1']
    assert report['results']['expert']['clean']['score'] == pytest.approx(40.0)
    assert report['kept']['expert']['clean'] == pytest.approx(1.0)
    data = json.loads((tmp_path / 'robustness.json').read_text())
    assert data['policies'] == [policy_files['ip'], 'expert'] and data['metric'] == 'mean_return'
    table = (tmp_path / 'robustness.md').read_text()
    assert '| perturbation | ip_gru | expert |' in table
    assert '| noise=0.05 |' in table and 'gain=0.9:1.1' in table
    assert (tmp_path / 'robustness.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow
def test_cli_suite_in_two_processes(tmp_path, policy_files, capsys):
    code = main(['eval', '--suite', 'robustness', '--policies', policy_files['nav'], 'expert',
                 '--episodes', '2', '--grid', 'clean', 'drop=0.4', 'gain=0.9:1.1',
                 '--out', str(tmp_path), '--workers', '2'])
    assert code == 0
    data = json.loads((tmp_path / 'robustness.json').read_text())
    assert data['perturbations'] == ['clean', 'drop=0.4', 'gain=0.9:1.1']
    assert data['results']['expert']['gain=0.9:1.1']['success_rate'] == 1.0
    assert '| drop=0.4 |' in capsys.readouterr().out


def test_lane_suite_has_no_collision_table_and_takes_the_camera_knobs(tmp_path):
    """The lane env reports no collisions (None): the table leaves that part out (issue 19)."""
    report = run_suite(['expert'], 'lnn_control/PiBotLane-v0', episodes=1, seed=0,
                       grid=['pitch=5', 'textures=unseen'], out=str(tmp_path), workers=1,
                       env_kwargs={'time_limit': 0.5})
    assert report['perturbations'] == ['clean', 'pitch=5', 'textures=unseen']
    table = (tmp_path / 'robustness.md').read_text()
    assert '| pitch=5 |' in table and 'collision rate' not in table
    assert 'deviation cm' in table
