# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Gymnasium conventions of the lnn_control envs (issue 14): ids, limits, copies, wrappers, SB3."""

import copy
import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import gymnasium
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import TimeLimit
from lnn_control.envs import ENV_IDS
from lnn_control.envs import MAX_EPISODE_STEPS
from lnn_control.envs import register
import numpy as np
import pytest

NAV = 'lnn_control/PiBotNav-v0'
LANE = 'lnn_control/PiBotLane-v0'
# Kwargs that make every random source of the env matter (drops, jitter, noise, delay).
BUSY = {NAV: {'n_obstacles': 6, 'drop': 0.2, 'dt_jitter': 0.3, 'obs_noise': 0.05,
              'action_delay': 0.07},
        LANE: {'drop': 0.2, 'speed_obs': True}}
UNNORMALISED = 'ignore:.*symmetric and normalized'   # physical units on purpose (README)


def _fresh_python(code, timeout=120):
    """Run ``code`` in a new interpreter (nothing imported yet); return its stdout."""
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _actions(env, n, seed=0):
    low, high = env.action_space.low, env.action_space.high
    return np.random.default_rng(seed).uniform(low, high, (n, *low.shape)).astype(np.float32)


def _flat(obs):
    if isinstance(obs, dict):
        return [np.asarray(obs[k]).copy() for k in sorted(obs)]
    return [np.asarray(obs).copy()]


def _drive(env, actions):
    """Step through ``actions`` (resetting, unseeded, after an episode ends); return records."""
    records = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        records.append((_flat(obs), reward, terminated, truncated, info['dt'], info['time']))
        if terminated or truncated:
            obs, info = env.reset()
            records.append((_flat(obs), 'reset'))
    return records


def _assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for x, y in zip(a[0], b[0]):
            np.testing.assert_array_equal(x, y)   # bit for bit
        assert a[1:] == b[1:]


# -- registration ---------------------------------------------------------------------------
def test_import_registers_every_id_in_a_fresh_interpreter():
    out = _fresh_python("""
        import json, sys
        import gymnasium
        import lnn_control.envs
        assert 'mujoco' not in sys.modules   # registration is entry-point strings only
        gymnasium.register_envs(lnn_control.envs)
        limits = {i: gymnasium.spec(i).max_episode_steps for i in lnn_control.envs.ENV_IDS}
        for env_id in lnn_control.envs.ENV_IDS:
            env = gymnasium.make(env_id)
            env.reset(seed=0)
            env.step(env.action_space.sample())
            env.close()
        print(json.dumps(limits))
    """)
    assert json.loads(out.splitlines()[-1]) == {NAV: 1200, LANE: 600}


def test_import_without_gymnasium_names_the_extra():
    out = _fresh_python("""
        import sys
        sys.modules['gymnasium'] = None   # not installed
        try:
            import lnn_control.envs
        except ImportError as exc:
            print(exc)
    """)
    assert 'lnn_control[sim]' in out


def test_register_stays_idempotent_for_existing_callers():
    specs = {env_id: gymnasium.spec(env_id) for env_id in ENV_IDS}
    register()
    register()
    assert all(gymnasium.spec(env_id) is spec for env_id, spec in specs.items())
    assert set(ENV_IDS) <= set(gymnasium.registry)


# -- episode limits -------------------------------------------------------------------------
@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_step_limit_is_the_time_limit_at_the_nominal_rate(env_id):
    env = gymnasium.make(env_id)
    assert env.spec.max_episode_steps == MAX_EPISODE_STEPS[env_id]
    base = env.unwrapped
    assert round(base.time_limit / base.dt) == MAX_EPISODE_STEPS[env_id]
    # The robot at rest never ends an episode early: both limits fall on the same step.
    env.reset(seed=0)
    for steps in range(1, MAX_EPISODE_STEPS[env_id] + 2):
        _, _, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert steps == MAX_EPISODE_STEPS[env_id]
    assert info['time'] == pytest.approx(base.time_limit)   # the env's own rule fired too
    env.close()


def test_longer_steps_leave_the_time_limit_first():
    env = gymnasium.make(NAV, drop=0.2)
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        _, _, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
        if terminated or truncated:
            break
    assert truncated and info['time'] >= 60.0 - 1e-9 and steps < 1200
    env.close()


@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_make_env_leaves_time_as_the_only_limit(env_id):
    from lnn_control.envs.make import make_env
    env = make_env(env_id)
    while hasattr(env, 'env'):
        assert not isinstance(env, TimeLimit)
        env = env.env
    limited = make_env(env_id, seed=0, max_episode_steps=10)   # a step limit when asked
    for steps in range(1, 12):
        _, _, terminated, truncated, _ = limited.step(np.zeros(2, dtype=np.float32))
        if terminated or truncated:
            break
    assert truncated and steps == 10


# -- reset, copies, pickles -----------------------------------------------------------------
@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_step_before_reset_is_a_clear_error(env_id):
    env = gymnasium.make(env_id).unwrapped
    with pytest.raises(ResetNeeded, match=r'reset\(\)'):
        env.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(ResetNeeded, match=r'reset\(\)'):
        env.state()
    with pytest.raises(ResetNeeded):   # a copy of an env never reset has no episode either
        copy.deepcopy(env).step(np.zeros(2, dtype=np.float32))
    env.reset(seed=0)
    env.step(np.zeros(2, dtype=np.float32))
    env.close()


@pytest.mark.parametrize('how', ['deepcopy', 'pickle'])
@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_a_copy_continues_the_episode_then_steps_on_its_own(env_id, how):
    env = gymnasium.make(env_id, **BUSY[env_id])
    env.reset(seed=11)
    _drive(env, _actions(env, 5, seed=1))
    twin = copy.deepcopy(env) if how == 'deepcopy' else pickle.loads(pickle.dumps(env))
    actions = _actions(env, 25, seed=2)
    # The copy first: had it shared anything with the original (MjData, RNG, queues), the
    # original would then start from where the copy ended and differ.
    from_copy = _drive(twin, actions)
    from_original = _drive(env, actions)
    _assert_same(from_copy, from_original)
    # Driving the copy on leaves the original where it was.
    qpos, time = env.unwrapped.data.qpos.copy(), env.unwrapped.time
    _drive(twin, -actions)
    np.testing.assert_array_equal(env.unwrapped.data.qpos, qpos)
    assert env.unwrapped.time == time
    twin.close()
    env.close()


def test_a_pickle_steps_on_in_another_process(tmp_path):
    expected = []
    for k, env_id in enumerate(ENV_IDS):
        env = gymnasium.make(env_id)
        env.reset(seed=8)
        env.step(np.zeros(2, dtype=np.float32))
        (tmp_path / f'{k}.pkl').write_bytes(pickle.dumps(env))
        expected.append(env.step(np.array([0.1, 0.5], dtype=np.float32))[0])
        env.close()
    _fresh_python(f"""
        import pickle
        import numpy as np
        for k in range({len(expected)}):
            with open({str(tmp_path)!r} + f'/{{k}}.pkl', 'rb') as handle:
                env = pickle.load(handle)   # imports lnn_control and mujoco by itself
            obs = env.step(np.array([0.1, 0.5], dtype=np.float32))[0]
            np.save({str(tmp_path)!r} + f'/{{k}}.npy', obs)
    """)
    for k, obs in enumerate(expected):
        np.testing.assert_array_equal(np.load(tmp_path / f'{k}.npy'), obs)


def test_a_copy_renders_with_its_own_context():
    env = gymnasium.make(NAV, n_obstacles=4, render_mode='rgb_array', width=64, height=64)
    env.reset(seed=3)
    frame = env.render()
    twin = copy.deepcopy(env)
    np.testing.assert_array_equal(twin.render(), frame)
    for _ in range(10):
        twin.step(np.array([0.2, 1.0], dtype=np.float32))
    assert not np.array_equal(twin.render(), frame)
    np.testing.assert_array_equal(env.render(), frame)   # the original did not move
    twin.close()
    env.close()


def test_perturbed_lane_env_copies_with_its_perturbation():
    from lnn_control.envs.make import make_env
    env = make_env(LANE, seed=5, perturb='drop=0.2,jitter=0.3,delay=0.05,noise=2,mass=1.2')
    _drive(env, _actions(env, 4, seed=1))
    twin = copy.deepcopy(env)
    assert twin.unwrapped.model.body_mass.sum() == env.unwrapped.model.body_mass.sum()
    actions = _actions(env, 15, seed=2)
    _assert_same(_drive(twin, actions), _drive(env, actions))


# -- checks, determinism, make from spec ----------------------------------------------------
@pytest.mark.filterwarnings(UNNORMALISED)
@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_gymnasium_check_env(env_id):
    check_env(gymnasium.make(env_id, **BUSY[env_id]).unwrapped, skip_render_check=True)


@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_same_seed_same_200_steps(env_id):
    runs = []
    for seed in (4, 4, 5):
        env = gymnasium.make(env_id, **BUSY[env_id])
        obs, _ = env.reset(seed=seed)
        runs.append([(_flat(obs), 'reset')] + _drive(env, _actions(env, 200, seed=9)))
        env.close()
    _assert_same(runs[0], runs[1])
    assert not np.array_equal(runs[0][0][0][0], runs[2][0][0][0])


@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_make_from_spec_rebuilds_the_same_env(env_id):
    env = gymnasium.make(env_id, **BUSY[env_id])
    again = gymnasium.make(env.spec)
    assert again.spec.kwargs == env.spec.kwargs
    assert again.spec.max_episode_steps == MAX_EPISODE_STEPS[env_id]
    for a, b in zip(_flat(env.reset(seed=2)[0]), _flat(again.reset(seed=2)[0])):
        np.testing.assert_array_equal(a, b)
    env.close()
    again.close()


# -- vector envs and wrappers ---------------------------------------------------------------
@pytest.mark.parametrize('env_id, mode', [(NAV, 'sync'), (NAV, 'async'), (LANE, 'sync')])
def test_make_vec(env_id, mode):
    envs = gymnasium.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    envs.reset(seed=[1, 2])
    for _ in range(5):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert envs.observation_space.contains(obs) and reward.shape == (2,)
    assert info['dt'].shape == (2,) and (info['dt'] > 0).all()
    envs.close()


def test_make_vec_async_camera_env_in_a_fresh_process():
    # A fresh process, as a user's training script starts: here the pytest process has
    # rendered already, and forked workers could not (see the next test).
    out = _fresh_python("""
        import gymnasium
        import lnn_control.envs
        envs = gymnasium.make_vec('lnn_control/PiBotLane-v0', num_envs=2,
                                  vectorization_mode='async')
        envs.reset(seed=[1, 2])
        obs, *_ = envs.step(envs.action_space.sample())
        envs.close()
        print(obs.shape)
    """)
    assert out.splitlines()[-1] == '(2, 48, 64, 3)'


@pytest.mark.slow
def test_forked_workers_after_a_render_fail_clearly_and_forkserver_works(tmp_path):
    code = """
        import gymnasium
        import lnn_control.envs

        def run(**vector_kwargs):
            envs = gymnasium.make_vec('lnn_control/PiBotLane-v0', num_envs=2,
                                      vectorization_mode='async', vector_kwargs=vector_kwargs)
            try:
                envs.reset(seed=[1, 2])
                return 'ok'
            except RuntimeError as exc:
                return str(exc)
            finally:
                envs.close(terminate=True)

        if __name__ == '__main__':
            env = gymnasium.make('lnn_control/PiBotLane-v0')
            env.reset(seed=0)   # renders a camera frame: this process now holds EGL
            print(run())
            print(run(context='forkserver'))
    """
    path = tmp_path / 'fork_after_render.py'   # forkserver re-imports the main module
    path.write_text(textwrap.dedent(code))
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    forked, forkserver = result.stdout.splitlines()[-2:]
    assert 'does not survive fork' in forked and "'forkserver'" in forked
    assert forkserver == 'ok'


def _nav_wrappers(env):
    w = gymnasium.wrappers
    env = w.RecordEpisodeStatistics(env)
    env = w.RescaleAction(env, min_action=-1, max_action=1)
    env = w.ClipAction(env)
    env = w.NormalizeObservation(env)
    env = w.NormalizeReward(env)
    return w.FrameStackObservation(env, 4)


def _lane_wrappers(env):
    w = gymnasium.wrappers
    env = w.RecordEpisodeStatistics(env)
    env = w.RescaleAction(env, min_action=-1, max_action=1)
    env = w.GrayscaleObservation(env, keep_dim=True)
    return w.FrameStackObservation(env, 3)


@pytest.mark.parametrize('env_id, wrap', [(NAV, _nav_wrappers), (LANE, _lane_wrappers)])
def test_usual_wrappers(env_id, wrap):
    env = wrap(gymnasium.make(env_id, time_limit=1.0, max_episode_steps=-1))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    steps = 0
    while True:
        steps += 1
        obs, _, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
        assert env.observation_space.contains(obs)
        if terminated or truncated:
            break
    assert info['episode']['l'] == steps and info['episode']['t'] >= 0.0


# -- stable-baselines3 ----------------------------------------------------------------------
@pytest.mark.parametrize('env_id', [NAV, LANE])
def test_sb3_check_env_warns_only_about_the_physical_units(env_id):
    sb3_checker = pytest.importorskip('stable_baselines3.common.env_checker')
    with pytest.warns(UserWarning, match='symmetric and normalized') as caught:
        sb3_checker.check_env(gymnasium.make(env_id))
    assert all('symmetric and normalized' in str(w.message) for w in caught)
    rescaled = gymnasium.wrappers.RescaleAction(gymnasium.make(env_id), min_action=-1,
                                                max_action=1)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        sb3_checker.check_env(rescaled)


@pytest.mark.parametrize('env_id, policy', [(NAV, 'MlpPolicy'), (LANE, 'CnnPolicy')])
def test_short_ppo_run(env_id, policy):
    sb3 = pytest.importorskip('stable_baselines3')
    env = gymnasium.wrappers.RescaleAction(gymnasium.make(env_id), min_action=-1, max_action=1)
    model = sb3.PPO(policy, env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device='cpu')
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action.astype(np.float32))
    env.close()
