# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""PiBotNav-v0: Gymnasium conformance, determinism, sensor timing, physics and perturbations."""

import math
import subprocess
import sys

import gymnasium
from gymnasium.utils.env_checker import check_env
from lnn_control.envs import register
from lnn_control.envs.pibot_nav import NavState
from lnn_control.envs.pibot_nav import PiBotNavEnv
from lnn_control.runtime.observer import Observer
import numpy as np
import pytest

EMPTY = {'obstacles': []}
FULL_AHEAD = np.array([0.22, 0.0], dtype=np.float32)


def run(env, actions, seed, options=None):
    """Reset with ``seed`` and step through ``actions``; return the per-step records."""
    obs, info = env.reset(seed=seed, options=options)
    records = [(obs, 0.0, False, False, info)]
    for action in actions:
        records.append(env.step(action))
        if records[-1][2] or records[-1][3]:
            break
    return records


@pytest.mark.filterwarnings('ignore:.*symmetric and normalized')   # physical units on purpose
def test_check_env_passes():
    check_env(PiBotNavEnv(), skip_render_check=True)   # no display here
    check_env(PiBotNavEnv(n_obstacles=3, obs_noise=0.05, drop=0.2, dt_jitter=0.3,
                          action_delay=0.1), skip_render_check=True)


def test_registered_id_and_light_import():
    register()
    register()   # idempotent
    env = gymnasium.make('lnn_control/PiBotNav-v0', n_obstacles=2)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space.shape == (2,)
    # Importing registers the ids (gymnasium) but loads no simulator until an env is made.
    code = ('import sys, gymnasium, lnn_control.envs\n'
            "assert 'mujoco' not in sys.modules\n"
            "assert 'lnn_control/PiBotNav-v0' in gymnasium.registry\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize('kwargs', [{}, {'obs_noise': 0.05, 'drop': 0.3, 'dt_jitter': 0.3,
                                         'action_delay': 0.07, 'motor_gain': (0.9, 1.1)}])
def test_same_seed_same_episode(kwargs):
    actions = np.random.default_rng(0).uniform([-0.22, -2.84], [0.22, 2.84], (120, 2))
    first = run(PiBotNavEnv(**kwargs), actions, seed=7)
    second = run(PiBotNavEnv(**kwargs), actions, seed=7)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        assert a[4]['dt'] == b[4]['dt'] and a[4]['state'] == b[4]['state']
    other = run(PiBotNavEnv(**kwargs), actions, seed=8)
    assert not np.array_equal(first[0][0], other[0][0])


def test_sensor_rates():
    env = PiBotNavEnv()
    records = run(env, [[0.05, 0.3]] * 40, seed=1, options=EMPTY)
    assert len(records) == 41
    dts = [r[4]['dt'] for r in records[1:]]
    np.testing.assert_allclose(dts, 0.05)                          # odometry at 20 Hz
    new_scan = [k for k, r in enumerate(records[1:], 1) if r[4]['new_scan']]
    assert np.all(np.diff(new_scan) == 4) and len(new_scan) == 10   # lidar at 5 Hz
    # Between scans the scan is held: its sectors only change on new_scan steps.
    for k in range(2, 41):
        changed = not np.array_equal(records[k][0][:12], records[k - 1][0][:12])
        assert not changed or records[k][4]['new_scan']


def test_observation_is_the_observer_of_the_readings():
    env = PiBotNavEnv()
    for obs, *_ in run(env, [[0.2, 0.5]] * 10, seed=3)[-1:]:
        reference = Observer(env.observer.config).observe(env.scan, env.odom, env.goal)
        np.testing.assert_array_equal(obs, reference)
    assert env.odom.stamp == pytest.approx(env.time) and env.scan.stamp <= env.time


def test_lidar_ranges_and_no_return_beams():
    env = PiBotNavEnv()
    obs, _ = env.reset(seed=0, options={'start': (0.0, 0.0, 0.0), 'goal': (1.5, 1.5),
                                        'obstacles': []})
    ranges = env.scan.ranges
    assert ranges.shape == (360,) and ranges.dtype == np.float32
    # The lidar sits 0.032 m behind the wheel axis; the walls' inner faces are at +-2 m.
    assert ranges[0] == pytest.approx(2.032, abs=2e-3)
    assert ranges[90] == pytest.approx(2.0, abs=2e-3)
    assert ranges[180] == pytest.approx(1.968, abs=2e-3)
    assert np.all(np.isfinite(ranges))        # the robot's own body is never seen
    # From a corner, beams towards the far corner see nothing within 3.5 m: +inf.
    obs, _ = env.reset(seed=0, options={'start': (-1.6, -1.6, 0.0), 'goal': (1.5, 1.5),
                                        'obstacles': []})
    ranges = env.scan.ranges
    assert np.all(np.isposinf(ranges[15:75]))     # sectors 1 and 2: 15-75 deg
    assert obs[1] == obs[2] == 1.0                # the Observer reads them as "nothing"
    assert np.all(obs[[0, 3, 6, 9]] < 1.0)


def test_rotated_lidar_mount_shifts_the_reported_beams():
    # Mounted 10 deg counter-clockwise, beam i looks where beam i + 10 of a straight mount
    # looks; the scan is reported at the straight angles, so the world appears rotated.
    options = {'start': (0.3, -0.2, 0.4), 'goal': (1.5, 1.5),
               'obstacles': [(3, 1.0, 0.0, 0.0), (9, -0.8, 0.6, 0.3)]}
    straight, rotated = PiBotNavEnv(), PiBotNavEnv(lidar_yaw=10.0)
    straight.reset(seed=0, options=options)
    rotated.reset(seed=0, options=options)
    expected = np.roll(straight.scan.ranges, -10)
    assert rotated.scan.angle_min == straight.scan.angle_min
    np.testing.assert_allclose(rotated.scan.ranges, expected, atol=1e-4)
    assert not np.allclose(rotated.scan.ranges, straight.scan.ranges, atol=1e-2)
    with pytest.raises(ValueError, match='lidar_yaw'):
        PiBotNavEnv(lidar_yaw=math.nan)


def test_obstacles_are_seen_where_they_are():
    env = PiBotNavEnv()
    env.reset(seed=0, options={'start': (0.0, 0.0, 0.0), 'goal': (-1.5, 1.5),
                               'obstacles': [(3, 1.0, 0.0, 0.0)]})   # cylinder r = 0.15
    assert env.scan.ranges[0] == pytest.approx(1.0 + 0.032 - 0.15, abs=2e-3)
    state = env.state()
    assert isinstance(state, NavState) and len(state.obstacles) == 1
    assert state.obstacles[0][:4] == (1.0, 0.0, 0.0, 0)


@pytest.mark.parametrize('options', [
    {'start': (1.6, 0.0, 0.0), 'goal': (-1.5, 0.0), 'obstacles': []},                  # wall
    {'start': (0.0, 0.0, 0.0), 'goal': (-1.5, 0.0), 'obstacles': [(9, 0.5, 0.0, 0.3)]},  # box
])
def test_collision_terminates(options):
    env = PiBotNavEnv()
    records = run(env, [FULL_AHEAD] * 100, seed=0, options=options)
    obs, reward, terminated, truncated, info = records[-1]
    assert terminated and not truncated and info['collision'] and not info['is_success']
    assert info['reward_collision'] == -10.0
    assert not any(r[4]['collision'] for r in records[:-1])
    assert len(records) < 60


def test_goal_terminates_with_success():
    env = PiBotNavEnv()
    records = run(env, [FULL_AHEAD] * 100, seed=0,
                  options={'start': (0.0, 0.0, 0.0), 'goal': (0.8, 0.0), 'obstacles': []})
    obs, reward, terminated, truncated, info = records[-1]
    assert terminated and info['is_success'] and not info['collision']
    assert info['distance'] < 0.15 and info['reward_goal'] == 10.0
    terms = sum(info[k] for k in ('reward_progress', 'reward_goal', 'reward_collision',
                                  'reward_time'))
    assert reward == pytest.approx(terms)
    progress = sum(r[4]['reward_progress'] for r in records[1:])
    assert progress == pytest.approx(10.0 * (records[0][4]['distance'] - info['distance']))


def test_time_limit_truncates():
    records = run(PiBotNavEnv(time_limit=1.0), [[0.0, 0.0]] * 50, seed=0)
    assert len(records) == 21 and records[-1][3] and not records[-1][2]


def test_actuator_limits_in_the_env():
    env = PiBotNavEnv()
    records = run(env, [[10.0, -10.0]] * 30, seed=0, options=EMPTY)
    commands = [r[4]['command'] for r in records[1:]]
    assert commands[0] == pytest.approx((0.125, -0.16))           # 2.5 m/s^2, 3.2 rad/s^2
    assert all(abs(v) <= 0.22 and abs(w) <= 2.84 for v, w in commands)
    assert commands[-1] == pytest.approx((0.22, -2.84))
    speeds = [abs(r[4]['state'].v) for r in records[1:]]
    assert max(speeds) < 0.23                                       # the robot obeys
    obs, reward, terminated, truncated, info = env.step([math.nan, 0.0])
    assert info['command'] == (0.0, 0.0) and np.all(np.isfinite(obs))


def test_odometry_tracks_the_true_pose():
    env = PiBotNavEnv()
    records = run(env, [[0.15, 0.6]] * 60, seed=2, options=EMPTY)
    state = records[-1][4]['state']
    ox, oy, oyaw = state.odom_origin
    c, s = math.cos(oyaw), math.sin(oyaw)
    true = (c * (state.x - ox) + s * (state.y - oy), -s * (state.x - ox) + c * (state.y - oy))
    assert math.dist(true, (env.odom.x, env.odom.y)) < 0.01
    assert env.odom.v == pytest.approx(0.15, abs=0.01)
    assert env.odom.w == pytest.approx(0.6, abs=0.03)


def test_drop_makes_steps_longer():
    records = run(PiBotNavEnv(drop=0.4), [[0.05, 0.2]] * 80, seed=0, options=EMPTY)
    infos = [r[4] for r in records[1:]]
    for info in infos:
        assert info['dt'] == pytest.approx(0.05 * (1 + info['dropped']))
    assert any(info['dropped'] for info in infos)
    assert sum(info['new_scan'] for info in infos) < sum(i['dt'] for i in infos) / 0.2 - 1


def test_dt_jitter_varies_dt_in_whole_physics_steps():
    env = PiBotNavEnv(dt_jitter=0.3)
    dts = np.array([r[4]['dt'] for r in run(env, [[0.0, 0.0]] * 60, seed=0)[1:]])
    ticks = dts / env.model.opt.timestep
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-9)
    assert len(set(np.round(ticks))) > 3
    assert dts.min() >= 0.035 - 1e-9 and dts.max() <= 0.065 + 1e-9
    assert env.time == pytest.approx(dts.sum())


def test_action_delay():
    def speeds(delay):
        records = run(PiBotNavEnv(action_delay=delay), [FULL_AHEAD] * 6, seed=0, options=EMPTY)
        return [r[4]['state'].v for r in records[1:]]

    prompt, late = speeds(0.0), speeds(0.1)
    assert prompt[0] > 0.05
    assert abs(late[0]) < 0.01 and abs(late[1]) < 0.01 and late[3] > 0.05


def test_physical_perturbations():
    base = PiBotNavEnv()
    heavy = PiBotNavEnv(mass_scale=2.0, friction_scale=0.5)
    chassis = base.model.body('base_footprint').id
    assert heavy.model.body_mass[chassis] == pytest.approx(2 * base.model.body_mass[chassis])
    np.testing.assert_allclose(heavy.model.geom_friction, 0.5 * base.model.geom_friction)
    # Unequal motors: "straight ahead" curves towards the weaker (left) wheel.
    records = run(PiBotNavEnv(motor_gain=(0.8, 1.2)), [[0.15, 0.0]] * 20, seed=0,
                  options=EMPTY)
    assert records[-1][0][13] > 0.2          # the observed yaw rate
    with pytest.raises(ValueError):
        PiBotNavEnv(drop=1.0)
    with pytest.raises(ValueError):
        PiBotNavEnv(n_obstacles=17)
