# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fuzzing ControllerCore with the shipped policies: bad values, bad types and bad time.

test_controller_core.py fuzzes float values with a small random policy; this module drives the
shipped CfC and LTC policies (the ones a robot runs) with readings whose fields hold anything
(strings, None, huge integers, arrays of any shape), with stamp sequences that go backwards,
repeat, jump to the far future or the far past, and with forced hidden-state divergence. The
core never raises, never commands anything non-finite or out of limits, gives the policy only
``0 < dt <= gap_reset``, and counts every refusal and reset by reason.
"""

import math

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import load_policy
import numpy as np
import pytest


def fuzz(examples):
    """Hypothesis settings: derandomized (the same examples every run), no deadline."""
    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


FLOATS = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 0.0]))
# What a reading field might hold when built by hand, by a bag reader or by a buggy driver.
ANYTHING = st.one_of(FLOATS, st.integers(-10**400, 10**400), st.text(max_size=4), st.none(),
                     st.booleans(), st.lists(FLOATS, max_size=3),
                     st.builds(np.full, st.sampled_from([(0,), (3,), (2, 2), (360,)]), FLOATS))
STAMPS = st.one_of(FLOATS, st.sampled_from([-2.0**31, 2.0**31, 1e18, -1e18, 0.0]))


@pytest.fixture(scope='module')
def policies():
    return {name: load_policy(name) for name in ('pibot_nav_cfc', 'pibot_nav_ltc',
                                                 'pendulum_cfc')}


def _safe(core, command):
    if command is not None:
        assert command.shape == core.zero.shape
        assert np.isfinite(command).all()
        assert (command >= core.low).all() and (command <= core.high).all()


def _ranges(value):
    try:
        return np.asarray(value, dtype=object)
    except ValueError:
        return value


@st.composite
def events(draw):
    kind = draw(st.sampled_from(['scan', 'odom', 'goal', 'imu', 'watchdog', 'reset']))
    a = [draw(ANYTHING) for _ in range(6)]
    stamp = draw(STAMPS | st.just(None))
    if kind == 'scan':
        reading = ScanReading(_ranges(a[0]), a[1], a[2], a[3], a[4], stamp)
    elif kind == 'odom':
        reading = OdomReading(*a[:5], stamp)
    elif kind == 'goal':
        reading = Goal(a[0], a[1], stamp)
    elif kind == 'imu':
        reading = ImuReading(a[0], a[1], a[2], stamp)
    else:
        reading = None
    return kind, reading, draw(st.sampled_from([0.0, 0.01, 0.05, 0.7]))


@fuzz(150)
@given(name=st.sampled_from(['pibot_nav_cfc', 'pibot_nav_ltc']),
       stream=st.lists(events(), min_size=1, max_size=30))
def test_readings_holding_anything_never_raise(policies, name, stream):
    policy = policies[name]
    policy.reset()
    core = ControllerCore(policy, ControllerConfig())
    now = 0.0
    for kind, reading, wait in stream:
        now += wait
        if kind == 'watchdog':
            command = core.watchdog(now)
        elif kind == 'reset':
            core.reset()
            command = None
        else:
            command = core.feed(kind, reading, now)
        _safe(core, command)
        assert np.isfinite(policy.state).all()
    _, _, values = core.diagnostics(now)
    assert int(values['rejected_total']) == sum(core.rejected.values())


@fuzz(100)
@given(positions=st.lists(ANYTHING, max_size=3), velocities=st.lists(ANYTHING, max_size=3),
       stamps=st.lists(STAMPS, min_size=1, max_size=10))
def test_joint_readings_holding_anything_never_raise(policies, positions, velocities, stamps):
    policy = policies['pendulum_cfc']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig(mode='vector', trigger='joints',
                                                   max_output=2.0))
    for k, stamp in enumerate(stamps):
        reading = JointsReading(['a', 'b'], _ranges(positions), _ranges(velocities), stamp)
        _safe(core, core.feed('joints', reading, now=0.01 * k))
        assert np.isfinite(policy.state).all()


def _scan(stamp):
    return ScanReading(np.full(360, 1.5, np.float32), 0.0, 2 * math.pi / 360, 0.12, 3.5, stamp)


@fuzz(150)
@given(name=st.sampled_from(['pibot_nav_cfc', 'pibot_nav_ltc']),
       steps=st.lists(st.tuples(st.one_of(
           st.floats(-1.0, 1.0),                                    # small, out of order
           st.sampled_from([0.0, -1e-9, 1e-9, 5.0, -5.0, 1e9, -1e9])  # repeat, jumps
       ), st.sampled_from([0.0, 0.01, 0.05, 0.3])), min_size=1, max_size=60))
def test_any_stamp_sequence_gives_bounded_dt_and_safe_commands(policies, name, steps):
    policy = policies[name]
    policy.reset()
    core = ControllerCore(policy, ControllerConfig(gap_reset=1.0, watchdog_timeout=0.5))
    seen = []
    step = policy.step
    policy.step = lambda obs, dt: (seen.append(dt), step(obs, dt))[1]
    try:
        core.feed('goal', Goal(2.0, 1.0), now=0.0)
        stamp, now = 1000.0, 0.0
        for delta, wait in steps:
            stamp, now = stamp + delta, now + wait
            core.feed('scan', _scan(stamp), now)
            _safe(core, core.feed('odom', OdomReading(0.0, 0.0, 0.0, 0.1, 0.0, stamp), now))
            assert np.isfinite(policy.state).all()
    finally:
        del policy.step
    assert all(0.0 < dt <= 1.0 for dt in seen), seen
    backwards = sum(1 for delta, _ in steps if delta < 0)
    assert core.resets['stamp_backwards'] <= backwards


def test_far_future_stamp_costs_two_resets_and_no_motion_glitch(policies):
    policy = policies['pibot_nav_cfc']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig())
    core.feed('goal', Goal(2.0, 1.0), now=0.0)
    for k in range(10):
        core.feed('scan', _scan(100.0 + 0.05 * k), now=0.05 * k)
        core.feed('odom', OdomReading(0, 0, 0, 0, 0, 100.0 + 0.05 * k), now=0.05 * k)
    core.feed('odom', OdomReading(0, 0, 0, 0, 0, 2.0**31), now=0.5)   # a year-2038 stamp
    assert core.resets['gap'] == 1
    command = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 100.55), now=0.55)
    assert core.resets['stamp_backwards'] == 1
    _safe(core, command)
    _, _, values = core.diagnostics(now=0.55)
    assert values['resets_gap'] == '1' and values['resets_stamp_backwards'] == '1'


def test_a_stuck_trigger_clock_stops_the_robot(policies):
    policy = policies['pibot_nav_cfc']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig(watchdog_timeout=0.5))
    core.feed('goal', Goal(2.0, 0.0), now=0.0)
    for k in range(20):
        core.feed('scan', _scan(10.0 + 0.05 * k), now=0.05 * k)
        moving = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 10.0 + 0.05 * k), now=0.05 * k)
    assert np.abs(moving).max() > 0
    # The odometry keeps arriving with one stamp (a driver that stopped stamping): the last
    # command is held while that could be a redelivery, then zero once it lasts a timeout.
    held = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 10.95), now=1.0)
    assert held.tolist() == moving.tolist()
    for k in range(1, 12):
        core.feed('scan', _scan(11.0), now=1.0 + 0.05 * k)
        command = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 10.95), now=1.0 + 0.05 * k)
    assert command.tolist() == [0.0, 0.0]
    assert core.rejected['stamp_frozen'] >= 1
    # Stamps move again: commands resume from rest (acceleration-limited).
    resumed = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 11.0), now=1.7)
    assert abs(resumed[0]) <= 2.5 * 0.05 + 1e-9


@pytest.mark.parametrize('name', ['pibot_nav_cfc', 'pibot_nav_ltc'])
def test_divergence_guard_resets_and_reports(policies, name):
    """Force a non-finite hidden state inside a step: zero command, reset, counted, recovers."""
    policy = policies[name]
    policy.reset()
    core = ControllerCore(policy, ControllerConfig())
    core.feed('goal', Goal(2.0, 1.0), now=0.0)
    core.feed('scan', _scan(1.0), now=0.0)
    core.feed('odom', OdomReading(0, 0, 0, 0, 0, 1.0), now=0.0)
    step = policy.step

    def diverging(obs, dt):
        action = step(obs, dt)
        policy.state = np.full_like(policy.state, np.inf)   # what an unstable ODE would do
        return action

    policy.step = diverging
    try:
        command = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 1.05), now=0.05)
    finally:
        del policy.step
    assert command.tolist() == [0.0, 0.0]
    assert np.isfinite(policy.state).all() and not np.abs(policy.state).any()
    _, _, values = core.diagnostics(now=0.05)
    assert values['resets_divergence'] == '1'
    command = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 1.1), now=0.1)
    _safe(core, command)
    assert np.abs(policy.state).any()       # stepping again after the reset


@pytest.mark.parametrize('action', [[np.inf, -np.inf], [3e38, 3e38], [np.nan, 0.0]])
def test_non_finite_or_overflowing_actions_read_as_divergence(policies, action):
    """An action the guard's sum cannot add up (inf - inf, float32 overflow) never raises."""
    policy = policies['pibot_nav_cfc']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig())
    core.feed('goal', Goal(2.0, 1.0), now=0.0)
    core.feed('scan', _scan(1.0), now=0.0)
    core.feed('odom', OdomReading(0, 0, 0, 0, 0, 1.0), now=0.0)
    step = policy.step

    def broken(obs, dt):
        step(obs, dt)
        return np.array(action, dtype=np.float32)

    policy.step = broken
    try:
        command = core.feed('odom', OdomReading(0, 0, 0, 0, 0, 1.05), now=0.05)
    finally:
        del policy.step
    _safe(core, command)
    assert command.tolist() == [0.0, 0.0]
    _, _, values = core.diagnostics(now=0.05)
    assert values['resets_divergence'] == '1'
