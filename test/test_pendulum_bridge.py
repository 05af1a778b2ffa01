# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""PendulumBridge: InvertedPendulum-v5 physics behind an effort command, without ROS."""

import math

import gymnasium as gym
from lnn_control.envs.experts import make_expert
from lnn_control.envs.pendulum_bridge import FALL_ANGLE
from lnn_control.envs.pendulum_bridge import PendulumBridge
from lnn_control.runtime.policy import load_policy
import numpy as np
import pytest


def _obs(event):
    return np.concatenate([event.data.positions, event.data.velocities])


def test_same_physics_as_the_gymnasium_env():
    # Commanding the env's action right after each joint reading reproduces env.step exactly.
    bridge = PendulumBridge(seed=3)
    env = gym.make('InvertedPendulum-v5')
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        action = rng.uniform(-1.0, 1.0, size=1)
        obs, *_ = env.step(action)
        bridge.command(action)
        joints = [e for e in bridge.advance(0.04) if e.kind == 'joints']
        assert len(joints) == 1
        np.testing.assert_allclose(_obs(joints[0]), obs, atol=1e-12)
    env.close()


def test_rates_stamps_and_reset():
    bridge = PendulumBridge(seed=0, status_rate=2.0)
    events = bridge.advance(1.0)
    kinds = [e.kind for e in events]
    assert kinds.count('clock') == 50 and kinds.count('joints') == 25
    assert kinds.count('status') >= 2
    stamps = [e.stamp for e in events if e.kind == 'clock']
    np.testing.assert_allclose(np.diff(stamps), 0.02, atol=1e-9)
    before = bridge.time
    bridge.reset()
    assert bridge.episode == 1 and bridge.status()['seed'] == 1
    later = bridge.advance(0.1)
    assert later[0].stamp > before                      # /clock never jumps back
    assert bridge.status()['episode_time'] == pytest.approx(0.1)


def test_bad_commands_are_ignored_and_counted_and_efforts_clipped():
    bridge = PendulumBridge(seed=0)
    assert bridge.command([1.0])
    for bad in ([math.nan], [math.inf], [1.0, 2.0], [], 'push', [[1.0, 2.0]]):
        assert not bridge.command(bad)
    assert bridge.non_finite_commands == 6
    assert bridge.active_command.tolist() == [1.0]      # the last good command holds
    assert bridge.command([50.0])
    assert bridge.active_command.tolist() == [3.0]      # ctrlrange


def test_command_times_out_to_zero_effort():
    bridge = PendulumBridge(seed=0, cmd_timeout=0.5)
    bridge.command([2.0])
    bridge.advance(0.4)
    assert bridge.active_command.tolist() == [2.0]
    bridge.advance(0.2)
    assert bridge.timed_out and bridge.active_command.tolist() == [0.0]


def _run(bridge, act, seconds):
    for _ in range(int(round(seconds / 0.04))):
        for event in bridge.advance(0.04):
            if event.kind == 'joints' and act is not None:
                bridge.command(act(_obs(event), event.stamp))


def test_uncontrolled_pole_falls_and_controlled_ones_stay_up():
    free = PendulumBridge(seed=1)
    _run(free, None, 10.0)
    assert free.fallen and free.time_upright < 5.0
    assert abs(free.angle) > FALL_ANGLE

    lqr = PendulumBridge(seed=1)
    expert = make_expert('InvertedPendulum-v5')
    _run(lqr, lambda obs, t: expert.act(obs), 10.0)
    assert not lqr.fallen and lqr.time_upright == pytest.approx(10.0)

    # The shipped liquid policy, stepped with dt from the joint stamps (the node's rule).
    policy = load_policy('pendulum_cfc')
    last = {'t': None}

    def liquid(obs, stamp):
        dt = 0.04 if last['t'] is None else stamp - last['t']
        last['t'] = stamp
        return policy.step(obs.astype(np.float32), dt)

    cfc = PendulumBridge(seed=1)
    _run(cfc, liquid, 10.0)
    assert not cfc.fallen, cfc.status()
