# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""SimBridge without ROS: message timing, command timeout, non-finite commands, goals, reset."""

import math

from lnn_control.envs.sim_bridge import BridgeConfig
from lnn_control.envs.sim_bridge import SimBridge
import numpy as np
import pytest


@pytest.fixture
def bridge():
    return SimBridge(n_obstacles=0, seed=3)


def _stamps(events, kind):
    return np.array([e.stamp for e in events if e.kind == kind])


def test_message_timing(bridge):
    events = bridge.advance(2.0)
    assert bridge.time == pytest.approx(2.0)
    clock = _stamps(events, 'clock')
    assert len(clock) == 200
    np.testing.assert_allclose(np.diff(clock), 0.01, atol=1e-9)
    for kind in ('odom', 'imu', 'joints'):
        stamps = _stamps(events, kind)
        assert len(stamps) == 40, kind
        np.testing.assert_allclose(np.diff(stamps), 0.05, atol=1e-9)
    scans = _stamps(events, 'scan')
    assert len(scans) == 10
    np.testing.assert_allclose(np.diff(scans), 0.2, atol=1e-9)
    assert len(_stamps(events, 'status')) == 4
    # Events come in time order and every stamp is within the advanced interval.
    all_stamps = np.array([e.stamp for e in events])
    assert np.all(np.diff(all_stamps) >= -0.2) and all_stamps.max() <= 2.0 + 1e-9
    scan = next(e.data for e in events if e.kind == 'scan')
    assert scan.ranges.shape == (360,)
    # Empty arena 4 m wide: every beam sees a wall within 3.5 m or nothing (+inf).
    assert np.all((scan.ranges > 0.12) | np.isposinf(scan.ranges))


def test_fractional_advance_carries_the_remainder(bridge):
    n = sum(len([e for e in bridge.advance(0.004) if e.kind == 'clock']) for _ in range(25))
    assert n == 10   # 25 x 4 ms = 0.1 s = 10 clock periods
    assert bridge.time == pytest.approx(0.1)


def test_command_moves_the_robot_and_times_out(bridge):
    bridge.advance(0.5, command=(0.2, 0.0))
    odom = bridge.env.odom
    assert odom.x > 0.05 and abs(odom.y) < 0.01
    assert bridge.active_command == (0.2, 0.0)
    # No command for cmd_timeout: the base stops on its own.
    bridge.advance(0.5)
    assert bridge.timed_out and bridge.active_command == (0.0, 0.0)
    bridge.advance(0.5)
    x = bridge.env.odom.x
    events = bridge.advance(0.5)
    assert abs(bridge.env.odom.x - x) < 1e-3
    assert abs(bridge.env.odom.v) < 1e-3
    assert events[-1].kind != 'status' or events[-1].data['cmd_timed_out']


def test_timeout_is_measured_from_the_last_command(bridge):
    cfg = bridge.config
    for _ in range(10):   # 1 s of commands every 0.1 s: never times out
        bridge.advance(0.1, command=(0.1, 0.0))
        assert not bridge.timed_out
    # The last command was received 0.1 s ago.
    bridge.advance(cfg.cmd_timeout - 0.1 - 0.02)
    assert bridge.active_command == (0.1, 0.0)
    bridge.advance(0.04)
    assert bridge.active_command == (0.0, 0.0)


def test_non_finite_commands_are_ignored_and_counted(bridge):
    assert bridge.command(0.1, 0.5)
    for bad in [(math.nan, 0.0), (0.0, math.inf), (-math.inf, math.nan)]:
        assert not bridge.command(*bad)
    assert bridge.non_finite_commands == 3
    assert bridge.commands_received == 4
    assert bridge.active_command == (0.1, 0.5)
    bridge.advance(0.3)
    assert all(math.isfinite(v) for v in bridge.env.data.ctrl)
    assert bridge.status()['non_finite_commands'] == 3


def test_commands_are_clipped_to_the_burger_limits(bridge):
    bridge.command(5.0, -9.0)
    assert bridge.active_command == (0.22, -2.84)


def test_goal_setting_and_reaching(bridge):
    # A goal 0.3 m straight ahead in the odom frame: drive to it.
    assert bridge.set_goal(0.3, 0.0, frame='odom')
    goal = bridge.env.goal
    assert (goal.x, goal.y) == pytest.approx((0.3, 0.0))
    s = bridge.env.state()
    ox, oy, oyaw = s.odom_origin
    assert s.goal_x == pytest.approx(ox + 0.3 * math.cos(oyaw))
    assert s.goal_y == pytest.approx(oy + 0.3 * math.sin(oyaw))
    assert bridge.status()['distance'] == pytest.approx(0.3, abs=0.01)
    for _ in range(30):
        events = bridge.advance(0.1, command=(0.15, 0.0))
        if bridge.reached:
            break
    assert bridge.reached and not bridge.collision
    # Arrival is reported at once, at the odometry tick that saw it.
    status = [e for e in events if e.kind == 'status' and e.data['reached']]
    assert status and any(e.kind == 'odom' and e.stamp == status[0].stamp for e in events)
    assert bridge.time_to_goal == pytest.approx(status[0].stamp, abs=1e-9)
    assert 0.5 < bridge.time_to_goal < 3.0
    # A new goal clears "reached"; a non-finite one is refused.
    assert not bridge.set_goal(math.nan, 0.0)
    bridge.set_goal(1.0, 1.0, frame='world')
    assert not bridge.reached and bridge.status()['goal'] == pytest.approx([1.0, 1.0])


def test_collision_is_latched():
    b = SimBridge(n_obstacles=0, seed=0)
    b.reset(options={'start': (1.5, 0.0, 0.0), 'goal': (-1.5, 0.0)})
    for _ in range(40):   # 0.5 m to the wall at x = 2 at 0.22 m/s
        b.advance(0.1, command=(0.22, 0.0))
    assert b.collision and b.status()['collision']
    b.reset()
    assert not b.collision


def test_reset_seeds_scenes_and_keeps_time_monotonic():
    a = SimBridge(n_obstacles=6, seed=11)
    b = SimBridge(n_obstacles=6, seed=11)
    assert a.env.state() == b.env.state()
    a.advance(1.0, command=(0.2, 0.3))
    t = a.time
    first = a.env.state().obstacles
    a.reset()
    assert a.episode == 1 and a.status()['seed'] == 12
    assert a.env.state().obstacles != first
    assert a.time == pytest.approx(t)          # /clock never jumps back
    assert a.timed_out and a.active_command == (0.0, 0.0)
    events = a.advance(0.1)
    assert events[0].stamp > t
    assert a.env.odom.x == pytest.approx(0.0, abs=1e-3)   # odometry restarts at the origin
    b.reset(seed=12)
    assert b.env.state().obstacles == a.env.state().obstacles


def test_bad_timing_config_is_refused():
    with pytest.raises(ValueError):
        SimBridge(n_obstacles=0, config=BridgeConfig(clock_rate=30.0))
    with pytest.raises(ValueError):
        SimBridge(n_obstacles=0, config=BridgeConfig(cmd_timeout=0.0))
