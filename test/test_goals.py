# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The goal monitor: received, replaced, reached, no progress, retry; and the core's use of it."""

import math

from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.goals import GoalMonitor
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import load_policy
import numpy as np
import pytest


def _monitor(**kwargs):
    return GoalMonitor(ControllerConfig(**kwargs))


def _drive(monitor, path, t0=0.0, dt=0.05):
    """Feed (x, y) positions at dt intervals, stamp and steady time alike."""
    t = t0
    for x, y in path:
        monitor.update(x, y, t, t)
        t += dt
    return t


def test_received_reached_and_the_same_goal_resent():
    m = _monitor(goal_tolerance=0.1)
    assert m.state == 'no_goal'
    assert m.set_goal(Goal(1.0, 0.0, frame='odom'))
    assert m.state == 'driving' and m.restart
    _drive(m, [(0.1 * k, 0.0) for k in range(10)])
    assert m.state == 'reached' and math.isclose(m.distance, 0.1, abs_tol=1e-9)
    events = m.drain()
    assert events[0] == ('info', 'goal received: (1.00, 0.00) in odom')
    assert events[1][1].startswith('goal reached: 0.100 m from (1.00, 0.00)')
    # RViz or a script sending the same goal again does not restart it.
    assert not m.set_goal(Goal(1.0 + 1e-4, 0.0))
    assert m.state == 'reached' and not m.drain()
    status = m.status()
    assert status['state'] == 'reached' and status['goal']['frame'] == 'odom'
    assert status['time_on_goal'] == pytest.approx(0.45)
    assert status['counts']['reached'] == 1


def test_a_goal_elsewhere_replaces_or_restarts():
    m = _monitor()
    m.set_goal(Goal(1.0, 0.0))
    m.restart = False
    m.set_goal(Goal(0.0, 2.0))
    assert m.state == 'driving' and not m.restart     # replaced while driving
    assert 'goal replaced: (1.00, 0.00) -> (0.00, 2.00)' in m.drain()[-1][1]
    assert m.counts == {'received': 1, 'replaced': 1, 'reached': 0, 'no_progress': 0,
                        'retried': 0}


def test_turning_on_the_spot_fails_the_movement_check():
    m = _monitor(required_movement_radius=0.5, movement_time_allowance=10.0,
                 required_approach=0.0)
    m.set_goal(Goal(3.0, 0.0))
    t = _drive(m, [(0.1 * math.cos(k / 5), 0.1 * math.sin(k / 5)) for k in range(200)])
    assert t > 10.0 and m.state == 'driving'    # 10 s: within the allowance
    _drive(m, [(0.1, 0.0)] * 5, t0=t)
    assert m.state == 'no_progress'
    level, text = m.drain()[-1]
    assert level == 'warn' and 'moved less than 0.5 m in 10 s' in text
    assert 'goal abandoned' in text and 'waiting for a new goal' in text


def test_circling_widely_fails_the_approach_check():
    # A 1 m circle around a point 2 m from the goal: it moves, it never gets closer.
    m = _monitor(required_movement_radius=0.5, movement_time_allowance=10.0,
                 required_approach=0.25, approach_time_allowance=30.0)
    m.set_goal(Goal(3.0, 0.0))
    circle = [(math.cos(k / 20), math.sin(k / 20)) for k in range(800)]   # 40 s
    _drive(m, circle)
    assert m.state == 'no_progress'
    assert 'came no closer than' in m.reason
    # Driving straight at the goal at 0.2 m/s passes both checks.
    m = _monitor()
    m.set_goal(Goal(3.0, 0.0))
    _drive(m, [(0.01 * k, 0.0) for k in range(300)])
    assert m.state == 'reached'


def test_stamp_jumps_and_fast_clocks_do_not_fail_a_goal():
    m = _monitor(movement_time_allowance=10.0, required_approach=0.0)
    m.set_goal(Goal(3.0, 0.0))
    m.update(0.0, 0.0, 100.0, 0.0)
    m.update(0.0, 0.0, 160.0, 0.1)       # a clock sync jumps the stamps 60 s
    assert m.state == 'driving'
    m.update(0.0, 0.0, 160.1, 10.2)      # both clocks past the allowance
    assert m.state == 'no_progress'


def test_retry_after_a_failed_check_and_pause():
    m = _monitor(movement_time_allowance=1.0, required_approach=0.0, progress_retry=2.0)
    m.set_goal(Goal(3.0, 0.0))
    t = _drive(m, [(0.0, 0.0)] * 30)
    assert m.state == 'no_progress'
    m.restart = False
    t = _drive(m, [(0.0, 0.0)] * 50, t0=t)
    assert m.counts['retried'] == 1 and m.restart
    assert 'retrying the goal after 2 s' in m.drain()[-1][1]
    # An operator driving (pause) restarts the progress clocks.
    m = _monitor(movement_time_allowance=1.0, required_approach=0.0)
    m.set_goal(Goal(3.0, 0.0))
    for k in range(100):
        m.update(0.0, 0.0, 0.05 * k, 0.05 * k)
        if k % 10 == 0:
            m.pause()
    assert m.state == 'driving'


def test_abandon_on_stop():
    m = _monitor()
    m.set_goal(Goal(3.0, 0.0))
    m.update(0.0, 0.0, 0.0, 0.0)
    m.abandon('deactivate')
    assert m.state == 'no_goal' and m.goal is None
    assert m.drain()[-1] == ('warn', 'goal abandoned (deactivate): (3.00, 0.00), 3.00 m away')


def _scan(stamp):
    return ScanReading(np.full(360, 2.0), 0.0, 2 * math.pi / 360, 0.12, 3.5, stamp)


def test_core_stops_at_the_goal_and_when_stuck():
    core = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig(
        movement_time_allowance=1.0, approach_time_allowance=2.0))
    core.feed('goal', Goal(2.0, 0.0, frame='odom'), 0.0)
    commands = []
    for k in range(60):          # the robot never moves: the movement check fails at 1 s
        now = 0.05 * k
        core.feed('scan', _scan(now), now)
        commands.append(core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=now), now))
    assert any(abs(c[0]) > 0.0 for c in commands[:20])
    assert all(c.tolist() == [0.0, 0.0] for c in commands[-20:])
    level, message, values = core.diagnostics(3.0)
    assert level == 1 and message.startswith('no progress toward the goal')
    assert values['goal_state'] == 'no_progress' and values['goals_no_progress'] == '1'
    texts = [text for _, text in core.drain_events()]
    assert texts[0].startswith('goal received') and 'goal abandoned' in texts[-1]
    # A new goal, within tolerance of where the robot is: reached at once, zero commands.
    steps = core.steps
    core.feed('goal', Goal(0.05, 0.0), 3.0)
    cmd = core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=3.05), 3.05)
    assert cmd.tolist() == [0.0, 0.0] and core.steps == steps
    assert core.goal_status()['state'] == 'reached'
    assert core.diagnostics(3.05)[1] == 'goal reached: standing still'


def test_core_refuses_non_finite_goals_and_halts_for_good():
    core = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig())
    assert core.feed('goal', Goal(math.nan, 0.0), 0.0) is None
    assert core.rejected['goal_non_finite'] == 1 and core.goal_status()['goal'] is None
    core.feed('goal', Goal(2.0, 0.0), 0.0)
    core.feed('scan', _scan(0.0), 0.0)
    core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=0.0), 0.0)
    assert core.halt('SIGTERM').tolist() == [0.0, 0.0]
    steps = core.steps
    for k in range(1, 10):
        assert core.feed('scan', _scan(0.05 * k), 0.05 * k) is None
        assert core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=0.05 * k), 0.05 * k) is None
        assert core.watchdog(0.05 * k + 5.0) is None
        assert not core.correct([0.1, 0.0], 0.05 * k)
    assert core.steps == steps
    assert core.diagnostics(1.0)[1] == 'stopped (SIGTERM): commanding nothing'
    assert 'goal abandoned (SIGTERM)' in core.drain_events()[-1][1]
    core.resume()
    core.feed('goal', Goal(2.0, 0.0), 1.0)
    core.feed('scan', _scan(1.0), 1.0)
    assert core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=1.0), 1.0) is not None
