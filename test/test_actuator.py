# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The shared Actuator: limits, rate limits, the NaN guard, and kinematics."""

import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.actuator import ActuatorConfig
from lnn_control.runtime.actuator import body_twist
from lnn_control.runtime.actuator import wheel_speeds
from lnn_control.runtime.policy import SpaceSpec
import numpy as np
import pytest


def test_defaults_are_the_turtlebot3_burgers():
    c = ActuatorConfig()
    assert (c.max_v, c.max_w, c.max_accel_v, c.max_accel_w) == (0.22, 2.84, 2.5, 3.2)
    space = Actuator().space()
    assert SpaceSpec(**space).size == 2
    assert space['low'] == [-0.22, -2.84] and space['high'] == [0.22, 2.84]
    assert space['units'] == ['m/s', 'rad/s']


def test_config_round_trip_and_validation():
    c = ActuatorConfig(max_v=0.5, max_accel_w=math.inf)
    data = c.to_dict()
    assert data['max_accel_w'] == 'inf'        # JSON has no inf
    assert ActuatorConfig.from_dict(data) == c
    with pytest.raises(ValueError, match='unknown'):
        ActuatorConfig.from_dict({'max_speed': 1.0})
    for bad in ({'max_v': 0.0}, {'max_w': math.inf}, {'max_accel_v': math.nan},
                {'max_accel_w': -1.0}):
        with pytest.raises(ValueError):
            ActuatorConfig(**bad)


def test_clips_to_the_limits():
    actuator = Actuator()
    assert actuator.command([5.0, -50.0], dt=10.0) == (0.22, -2.84)
    assert actuator.command(np.array([[-1.0, 1.0]], dtype=np.float32), 10.0) == (-0.22, 1.0)


def test_rate_limits_by_dt():
    actuator = Actuator()
    v, w = actuator.command([0.22, 2.84], dt=0.05)
    assert v == pytest.approx(2.5 * 0.05) and w == pytest.approx(3.2 * 0.05)
    v, w = actuator.command([0.22, 2.84], dt=0.04)
    assert v == pytest.approx(0.22) and w == pytest.approx(3.2 * 0.09)
    v, w = actuator.command([-0.22, 0.0], dt=0.1)      # deceleration is limited too
    assert v == pytest.approx(0.22 - 0.25) and w == 0.0


@pytest.mark.parametrize('dt', [0.0, -0.05, math.nan, math.inf * 0, None, 'soon'])
def test_no_time_no_change(dt):
    actuator = Actuator()
    actuator.reset(0.1, 1.0)
    assert actuator.command([0.2, -1.0], dt) == (0.1, 1.0)


def test_huge_dt_reaches_the_target():
    actuator = Actuator()
    assert actuator.command([0.1, 0.5], math.inf) == (0.1, 0.5)


@pytest.mark.parametrize('action', [[math.nan, 0.1], [0.1, math.inf], [-math.inf, 0.0],
                                    [10 ** 400, 0.0]])
def test_non_finite_action_stops_at_once(action):
    actuator = Actuator()
    actuator.reset(0.2, 2.0)
    assert actuator.command(action, 0.05) == (0.0, 0.0)
    assert actuator.last == (0.0, 0.0)          # and the limiter restarts from rest
    assert actuator.command([0.22, 0.0], 0.05)[0] == pytest.approx(0.125)


def test_reset_clips_and_guards():
    actuator = Actuator()
    actuator.reset(5.0, -5.0)
    assert actuator.last == (0.22, -2.84)
    actuator.reset(math.nan, 1.0)
    assert actuator.last == (0.0, 0.0)


@pytest.mark.parametrize('action', [[1.0], [1.0, 2.0, 3.0], None, 'ab', [[1.0, 2.0], [3, 4]]])
def test_an_action_is_two_numbers(action):
    with pytest.raises(ValueError):
        Actuator().command(action, 0.05)


def test_kinematics_round_trip():
    left, right = wheel_speeds(0.22, 0.0)
    assert left == right == pytest.approx(0.22 / 0.033)
    left, right = wheel_speeds(0.0, 2.84)
    assert right == -left == pytest.approx(2.84 * 0.08 / 0.033)
    assert body_twist(*wheel_speeds(0.1, -1.3)) == pytest.approx((0.1, -1.3))


anything = st.floats(allow_nan=True, allow_infinity=True)
steps = st.lists(st.tuples(anything, anything, anything), min_size=1, max_size=30)


@settings(max_examples=500, deadline=None)
@given(steps=steps, config=st.tuples(st.floats(1e-3, 10), st.floats(1e-3, 10),
                                     st.floats(1e-3, 1e6) | st.just(math.inf),
                                     st.floats(1e-3, 1e6) | st.just(math.inf)))
def test_any_floats_give_a_finite_command_within_limits(steps, config):
    c = ActuatorConfig(*config)
    actuator = Actuator(c)
    previous = (0.0, 0.0)
    for v_in, w_in, dt in steps:
        v, w = actuator.command([v_in, w_in], dt)
        assert isinstance(v, float) and isinstance(w, float)
        assert math.isfinite(v) and math.isfinite(w)
        assert abs(v) <= c.max_v and abs(w) <= c.max_w
        if not (math.isfinite(v_in) and math.isfinite(w_in)):
            assert (v, w) == (0.0, 0.0)
        elif not dt > 0.0:
            assert (v, w) == previous
        else:
            slack = 1e-9 * max(1.0, c.max_v, c.max_w)
            assert abs(v - previous[0]) <= c.max_accel_v * dt + slack
            assert abs(w - previous[1]) <= c.max_accel_w * dt + slack
        previous = (v, w)
