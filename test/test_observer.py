# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The shared Observer: lidar sectors, REP 117 special values, goal geometry, robustness."""

import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import SpaceSpec
import numpy as np
import pytest

INC = 2 * math.pi / 360


def scan(ranges, angle_min=0.0, increment=INC, range_min=0.12, range_max=3.5, stamp=0.0):
    return ScanReading(np.asarray(ranges, dtype=np.float32), angle_min, increment, range_min,
                       range_max, stamp)


def empty(n=360):
    return np.full(n, np.inf, dtype=np.float32)


ODOM = OdomReading(0.0, 0.0, 0.0, 0.0, 0.0)
GOAL = Goal(1.0, 0.0)


def test_default_layout_and_space():
    observer = Observer()
    space = observer.space()
    spec = SpaceSpec(**space)     # what a policy file stores
    assert spec.size == observer.size == 17
    assert space['names'][:2] == ['lidar_0', 'lidar_1']
    assert space['names'][12:] == ['v', 'w', 'goal_distance', 'goal_bearing_sin',
                                   'goal_bearing_cos']
    assert space['units'][12:15] == ['m/s', 'rad/s', 'm']
    obs = observer.observe(scan(empty()), ODOM, GOAL)
    assert obs.dtype == np.float32 and obs.shape == (17,)
    assert np.all(obs >= space['low']) and np.all(obs <= space['high'])


def test_config_round_trip_and_validation():
    config = ObserverConfig(lidar_sectors=8, range_max=6.0, below_range_min='near')
    assert ObserverConfig.from_dict(config.to_dict()) == config
    assert Observer(config.to_dict()).size == 13
    with pytest.raises(ValueError, match='unknown'):
        ObserverConfig.from_dict({'lidar_beams': 5})
    for bad in ({'lidar_sectors': 0}, {'range_min': 4.0}, {'below_range_min': 'zero'},
                {'v_limit': math.inf}):
        with pytest.raises(ValueError):
            ObserverConfig(**bad)


@pytest.mark.parametrize('degrees, sector', [(0, 0), (14, 0), (15, 1), (90, 3), (180, 6),
                                             (344, 11), (345, 0), (359, 0)])
def test_beam_lands_in_its_sector(degrees, sector):
    ranges = empty()
    ranges[degrees] = 1.81   # (1.81 - 0.12) / 3.38 = 0.5
    sectors = Observer().lidar(scan(ranges))
    expected = np.ones(12, dtype=np.float32)
    expected[sector] = 0.5
    np.testing.assert_allclose(sectors, expected, atol=1e-6)


def test_sector_is_the_minimum_of_its_beams():
    ranges = empty()
    ranges[80:100] = np.linspace(3.0, 1.0, 20)
    assert Observer().lidar(scan(ranges))[3] == pytest.approx((1.0 - 0.12) / 3.38)


def test_special_values_follow_rep117_and_lds01():
    ranges = np.full(360, 2.0, dtype=np.float32)
    for k, value in enumerate([np.inf, np.nan, -np.inf, 0.0, 9.0, 0.05]):
        ranges[30 * k:30 * k + 30] = value   # sector k (shifted by 15 deg) mostly
    ranges = np.roll(ranges, -15)   # so that block k is exactly sector k
    default = Observer().lidar(scan(ranges))
    # +inf, NaN, 0.0 (LDS-01 failed measurement), beyond range_max, below range_min: no return
    np.testing.assert_array_equal(default[[0, 1, 3, 4, 5]], 1.0)
    assert default[2] == 0.0                        # -inf: detected, too close
    assert default[6] == pytest.approx((2.0 - 0.12) / 3.38)
    near = Observer(ObserverConfig(below_range_min='near')).lidar(scan(ranges))
    np.testing.assert_array_equal(near[[0, 1, 4]], 1.0)
    np.testing.assert_array_equal(near[[2, 3, 5]], 0.0)


def test_longer_range_sensor_is_clipped_to_the_config():
    ranges = empty()
    ranges[0] = 5.0          # valid for a 10 m lidar, beyond our 3.5 m normalisation
    ranges[90] = 3.0
    sectors = Observer().lidar(scan(ranges, range_max=10.0))
    assert sectors[0] == 1.0 and sectors[3] == pytest.approx((3.0 - 0.12) / 3.38)


def test_other_scan_geometries():
    # 720 beams from -pi (a different driver): beam i at -pi + i * 0.5 deg.
    ranges = np.full(720, np.inf, dtype=np.float32)
    ranges[360] = 1.0        # straight ahead
    ranges[540] = 1.0        # +90 deg
    sectors = Observer().lidar(scan(ranges, angle_min=-math.pi, increment=INC / 2))
    assert sectors[0] < 1.0 and sectors[3] < 1.0
    assert np.sum(sectors < 1.0) == 2
    # A sector with no beam at all (4 beams, 12 sectors) reads "nothing seen".
    four = Observer().lidar(scan([1.0, 1.0, 1.0, 1.0], increment=math.pi / 2))
    assert np.sum(four < 1.0) == 4 and np.sum(four == 1.0) == 8
    assert Observer().lidar(scan([])).tolist() == [1.0] * 12
    # Angles that overflow (a corrupt increment) put beams in no sector instead of failing.
    huge = Observer().lidar(scan([1.0] * 5, increment=1e308))
    assert huge[0] < 1.0 and np.all(huge[1:] <= 1.0)


def test_held_scan_is_reused_but_a_new_one_is_not():
    observer = Observer()
    ranges = empty()
    ranges[0] = 1.0
    first = scan(ranges, stamp=1.0)
    a = observer.lidar(first)
    a[:] = -5.0                        # the caller's copy, not the cache
    assert observer.lidar(first)[0] < 1.0
    ranges2 = empty()
    ranges2[90] = 1.0
    b = observer.lidar(scan(ranges2, stamp=1.2))
    assert b[0] == 1.0 and b[3] < 1.0


@pytest.mark.parametrize('odom, goal, expected', [
    (OdomReading(1.0, 1.0, math.pi / 2, 0, 0), Goal(1.0, 3.0), (2.0, 0.0, 1.0)),   # ahead
    (OdomReading(1.0, 1.0, math.pi / 2, 0, 0), Goal(3.0, 1.0), (2.0, -1.0, 0.0)),  # right
    (OdomReading(0.0, 0.0, 0.0, 0, 0), Goal(-1.0, 0.0), (1.0, 0.0, -1.0)),         # behind
    (OdomReading(0.0, 0.0, 0.0, 0, 0), Goal(0.0, 0.0), (0.0, 0.0, 1.0)),           # there
    (OdomReading(0.0, 0.0, 0.0, 0, 0), Goal(0.0, 80.0), (5.0, 1.0, 0.0)),          # clipped
])
def test_goal_geometry(odom, goal, expected):
    obs = Observer().observe(scan(empty()), odom, goal)
    np.testing.assert_allclose(obs[14:], expected, atol=1e-6)


def test_speeds_are_clipped_and_non_finite_inputs_are_safe():
    observer = Observer()
    obs = observer.observe(scan(empty()), OdomReading(0, 0, 0, 5.0, -9.0), GOAL)
    assert obs[12] == pytest.approx(0.3) and obs[13] == pytest.approx(-3.0)
    assert observer.ok
    obs = observer.observe(scan(empty()), OdomReading(math.nan, 0, 0, math.inf, 0.1), GOAL)
    assert np.all(np.isfinite(obs)) and not observer.ok
    assert obs[12] == 0.0 and obs[13] == pytest.approx(0.1)
    np.testing.assert_array_equal(obs[14:], [0.0, 0.0, 1.0])   # "at the goal": stop


def test_batch_matches_single():
    rng = np.random.default_rng(0)
    observer = Observer()
    scans = [scan(rng.uniform(0.0, 5.0, 360), stamp=t) for t in range(5)]
    odoms = [OdomReading(*rng.normal(size=5)) for _ in range(5)]
    goals = [Goal(*rng.normal(size=2)) for _ in range(5)]
    batch = observer.observe_batch(scans, odoms, goals)
    for t in range(5):
        np.testing.assert_array_equal(batch[t], Observer().observe(scans[t], odoms[t], goals[t]))
    with pytest.raises(ValueError, match='align'):
        observer.observe_batch(scans, odoms[:2], goals)


anything = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300, deadline=None)
@given(ranges=st.lists(anything, max_size=400), angle_min=anything,
       increment=anything | st.sampled_from([1e308, -1e308, 1e-320, 0.0, INC]),
       range_min=anything, range_max=anything, pose=st.lists(anything, min_size=5, max_size=5),
       goal=st.lists(anything, min_size=2, max_size=2))
def test_any_floats_give_a_finite_observation_inside_the_space(ranges, angle_min, increment,
                                                               range_min, range_max, pose,
                                                               goal):
    observer = Observer()
    reading = ScanReading(np.array(ranges, dtype=np.float64), angle_min, increment, range_min,
                          range_max)
    obs = observer.observe(reading, OdomReading(*pose), Goal(*goal))
    space = observer.space()
    assert obs.dtype == np.float32 and obs.shape == (17,)
    assert np.all(np.isfinite(obs))
    assert np.all(obs >= np.array(space['low'], dtype=np.float32))
    assert np.all(obs <= np.array(space['high'], dtype=np.float32))
