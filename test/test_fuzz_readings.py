# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Property-based fuzzing of every message -> reading conversion, with real ROS message objects.

Each message is built with hypothesis from anything its type can hold: NaN, +-inf, float32
extremes, empty and mismatched arrays, ranges outside [range_min, range_max], stamps from the
far past to the far future, any frame. A conversion never raises: it returns a reading of the
right type or ``None`` with a known reason. Fed on to a :class:`ControllerCore` running the
shipped policy, any stream of such messages gives only finite commands inside the limits, and
every refused message is counted by its reason in the diagnostics.
"""

import math

from geometry_msgs.msg import PoseStamped
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.ros import readings
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import load_policy
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan

REASONS = {'scan_empty', 'scan_geometry', 'odom_frame', 'odom_non_finite', 'odom_quaternion',
           'goal_frame', 'goal_non_finite', 'imu_non_finite', 'joints_size', 'joints_non_finite',
           'scan_stamp', 'odom_stamp', 'goal_stamp', 'imu_stamp', 'joints_stamp'}
F32_MAX = float(np.finfo(np.float32).max)
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, -1e-45]
# float32 message fields refuse values beyond float32 range at assignment (rosidl checks).
F32 = st.one_of(st.floats(width=32), st.sampled_from(SPECIAL + [F32_MAX, -F32_MAX]))
F64 = st.one_of(st.floats(), st.sampled_from(SPECIAL + [1e308, -1e308, 5e-324]))
# Stamps: builtin_interfaces/Time is (int32 sec, uint32 nanosec); nanosec >= 1e9 is malformed
# but representable, so it is fuzzed too.
SEC = st.one_of(st.integers(-2**31, 2**31 - 1), st.sampled_from([0, 1, 100, 2**31 - 1, -2**31]))
NANOSEC = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 999_999_999, 10**9]))
FRAMES = st.one_of(st.sampled_from(['odom', '/odom', 'map', '/map', 'world', '', 'base_link',
                                    'odom ', 'ODOM', 'robot1/odom']), st.text(max_size=12))
RANGES = st.one_of(st.lists(F32, max_size=400),
                   st.lists(st.sampled_from([0.0, 0.05, 0.12, 1.0, 3.5, 3.6, 100.0, -1.0,
                                             math.nan, math.inf, -math.inf]), max_size=720))


def _header(msg, sec, nanosec, frame):
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame
    return msg


@st.composite
def scans(draw):
    msg = LaserScan()
    _header(msg, draw(SEC), draw(NANOSEC), draw(FRAMES))
    msg.angle_min, msg.angle_max = draw(F32), draw(F32)
    msg.angle_increment = draw(st.one_of(F32, st.just(2 * math.pi / 360)))
    msg.time_increment, msg.scan_time = draw(F32), draw(F32)
    msg.range_min, msg.range_max = draw(F32), draw(F32)
    msg.ranges = draw(RANGES)
    msg.intensities = draw(st.lists(F32, max_size=20))
    return msg


@st.composite
def odoms(draw):
    msg = Odometry()
    _header(msg, draw(SEC), draw(NANOSEC), draw(FRAMES))
    msg.child_frame_id = draw(FRAMES)
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    p.x, p.y, p.z = draw(F64), draw(F64), draw(F64)
    if draw(st.booleans()):
        q.x, q.y, q.z, q.w = draw(F64), draw(F64), draw(F64), draw(F64)
    else:   # a heading, as odometry carries it
        yaw = draw(st.floats(-10.0, 10.0))
        q.z, q.w = math.sin(0.5 * yaw), math.cos(0.5 * yaw)
    t = msg.twist.twist
    t.linear.x, t.linear.y, t.angular.z = draw(F64), draw(F64), draw(F64)
    return msg


@st.composite
def goals(draw):
    msg = PoseStamped()
    _header(msg, draw(SEC), draw(NANOSEC), draw(FRAMES))
    p = msg.pose.position
    p.x, p.y, p.z = draw(F64), draw(F64), draw(F64)
    msg.pose.orientation.w = draw(F64)
    return msg


@st.composite
def imus(draw):
    msg = Imu()
    _header(msg, draw(SEC), draw(NANOSEC), draw(FRAMES))
    for vector in (msg.orientation, msg.angular_velocity, msg.linear_acceleration):
        vector.x, vector.y, vector.z = draw(F64), draw(F64), draw(F64)
    msg.orientation.w = draw(F64)
    return msg


@st.composite
def joint_states(draw):
    msg = JointState()
    _header(msg, draw(SEC), draw(NANOSEC), draw(FRAMES))
    size = draw(st.integers(0, 4))
    msg.name = draw(st.lists(st.text(max_size=6), min_size=0, max_size=5) | st.just(
        [f'j{i}' for i in range(size)]))
    msg.position = draw(st.lists(F64, min_size=size, max_size=size) | st.lists(F64, max_size=5))
    msg.velocity = draw(st.lists(F64, min_size=size, max_size=size) | st.lists(F64, max_size=5))
    msg.effort = draw(st.lists(F64, max_size=5))
    return msg


def _check(result, reading_type, msg):
    reading, reason = result
    stamp = msg.header.stamp
    if reading is None:
        assert reason in REASONS
        if reason.endswith('_stamp'):
            assert stamp.nanosec >= 10**9
    else:
        assert reason == '' and isinstance(reading, reading_type)
        # A malformed stamp (nanosec >= 1e9) is never read as a time.
        assert stamp.nanosec < 10**9
        assert reading.stamp == stamp.sec + stamp.nanosec * 1e-9
    return reading, reason


@settings(max_examples=400, deadline=None, derandomize=True)
@given(msg=scans())
def test_scan_conversion_never_raises(msg):
    reading, reason = _check(readings.scan_to_reading(msg), ScanReading, msg)
    if reading is not None:
        assert reading.ranges.size == len(msg.ranges) > 0
        assert math.isfinite(reading.angle_increment) and reading.angle_increment != 0.0
    elif len(msg.ranges) == 0:
        assert reason == 'scan_empty'


@settings(max_examples=400, deadline=None, derandomize=True)
@given(msg=odoms(), check_frame=st.booleans())
def test_odom_conversion_never_raises(msg, check_frame):
    frame = 'odom' if check_frame else None
    reading, reason = _check(readings.odom_to_reading(msg, frame, ['map']), OdomReading, msg)
    if reading is not None:
        assert all(math.isfinite(v) for v in (reading.x, reading.y, reading.yaw, reading.v,
                                              reading.w))
        if check_frame:
            assert msg.header.frame_id.lstrip('/') in ('odom', 'map', '')


@settings(max_examples=300, deadline=None, derandomize=True)
@given(msg=goals())
def test_goal_conversion_never_raises(msg):
    reading, reason = _check(readings.goal_to_reading(msg, 'odom', ['map']), Goal, msg)
    if reading is not None:
        assert msg.header.frame_id.lstrip('/') in ('odom', 'map')
        assert math.isfinite(reading.x) and math.isfinite(reading.y)
    elif msg.header.frame_id.lstrip('/') not in ('odom', 'map'):
        assert reason == 'goal_frame'


@settings(max_examples=300, deadline=None, derandomize=True)
@given(msg=imus())
def test_imu_conversion_never_raises(msg):
    reading, _ = _check(readings.imu_to_reading(msg), ImuReading, msg)
    if reading is not None:
        assert np.isfinite(reading.orientation).all()
        assert reading.orientation.shape == (4,) and reading.linear_acceleration.shape == (3,)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(msg=joint_states())
def test_joints_conversion_never_raises(msg):
    reading, _ = _check(readings.joints_to_reading(msg), JointsReading, msg)
    if reading is not None:
        assert reading.positions.shape == reading.velocities.shape
        assert np.isfinite(reading.positions).all() and np.isfinite(reading.velocities).all()


def test_odometry_orientation_must_be_a_unit_quaternion():
    msg = Odometry()
    for (x, y, z, w), expected in (((0.0, 0.0, 0.0, 1.0), ''), ((0.0, 0.0, 0.6, 0.8), ''),
                                   ((0.0, 0.0, 0.0, 0.0), 'odom_quaternion'),
                                   ((2.0, 9e307, -9e307, 2.0), 'odom_quaternion'),
                                   ((0.0, 0.0, 0.0, 2.0), 'odom_quaternion')):
        o = msg.pose.pose.orientation
        o.x, o.y, o.z, o.w = x, y, z, w
        reading, reason = readings.odom_to_reading(msg)
        assert reason == expected, (x, y, z, w)
    assert readings.odom_to_reading(msg)[0] is None
    o.x, o.y, o.z, o.w = 0.0, 0.0, math.sin(0.5), math.cos(0.5)
    assert readings.odom_to_reading(msg)[0].yaw == pytest.approx(1.0)


def test_frames_are_checked_for_odometry_when_asked():
    msg = Odometry()
    msg.pose.pose.orientation.w = 1.0
    for frame, expected in (('odom', ''), ('/odom', ''), ('', ''), ('map', ''),
                            ('world', 'odom_frame'), ('robot1/odom', 'odom_frame')):
        msg.header.frame_id = frame
        assert readings.odom_to_reading(msg, 'odom', ['map'])[1] == expected, frame
        assert readings.odom_to_reading(msg)[1] == ''     # no frame given: no check


@pytest.fixture(scope='module')
def shipped():
    """Load the shipped PiBot and pendulum policies once (numpy runtime)."""
    return {'pibot': load_policy('pibot_nav_cfc'), 'vector': load_policy('pendulum_cfc')}


def _valid_tick(k):
    """Build a valid scan + odom + goal of tick ``k`` at 20 Hz (so the policy also runs)."""
    stamp = 100.0 + 0.05 * k
    sec, nanosec = int(stamp), int(round((stamp % 1.0) * 1e9)) % 10**9
    scan = _header(LaserScan(), sec, nanosec, 'base_scan')
    scan.angle_increment, scan.range_min, scan.range_max = 2 * math.pi / 360, 0.12, 3.5
    scan.ranges = [1.0] * 360
    odom = _header(Odometry(), sec, nanosec, 'odom')
    odom.pose.pose.orientation.w = 1.0
    goal = _header(PoseStamped(), sec, nanosec, 'odom')
    goal.pose.position.x, goal.pose.position.y = 2.0, 1.0
    return [('scan', scan), ('odom', odom), ('goal', goal)]


MESSAGES = st.one_of(st.tuples(st.just('scan'), scans()), st.tuples(st.just('odom'), odoms()),
                     st.tuples(st.just('goal'), goals()), st.tuples(st.just('imu'), imus()),
                     st.integers(0, 60).map(lambda k: ('valid', k)))
CONVERT = {'scan': readings.scan_to_reading,
           'odom': lambda m: readings.odom_to_reading(m, 'odom', ['map']),
           'goal': lambda m: readings.goal_to_reading(m, 'odom', ['map']),
           'imu': readings.imu_to_reading, 'joints': readings.joints_to_reading}


def _feed_all(core, stream, waits):
    """Convert and feed like the node does; check every command; return refusals by reason."""
    refused = {}
    now = 0.0
    for (name, msg), wait in zip(stream, waits):
        now += wait
        for name, msg in (_valid_tick(msg) if name == 'valid' else [(name, msg)]):
            reading, reason = CONVERT[name](msg)
            if reading is None:
                core.reject(reason)
                refused[reason] = refused.get(reason, 0) + 1
                continue
            command = core.feed(name, reading, now)
            if command is not None:
                assert command.shape == core.zero.shape
                assert np.isfinite(command).all()
                assert (command >= core.low).all() and (command <= core.high).all()
        watchdog = core.watchdog(now)
        assert watchdog is None or not watchdog.any()
        assert np.isfinite(core.policy.state).all()
    return refused


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=st.lists(MESSAGES, min_size=1, max_size=40),
       waits=st.lists(st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.6, 5.0]), min_size=40,
                      max_size=40))
def test_any_message_stream_gives_safe_commands_and_counted_refusals(shipped, stream, waits):
    policy = shipped['pibot']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig(gap_reset=0.5))
    refused = _feed_all(core, stream, waits)
    _, _, values = core.diagnostics(now=1000.0)
    for reason, count in refused.items():
        assert int(values[f'rejected_{reason}']) == count
    assert int(values['rejected_total']) == sum(core.rejected.values())
    assert int(values['rejected_total']) >= sum(refused.values())


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.lists(joint_states(), min_size=1, max_size=30),
       waits=st.lists(st.sampled_from([0.0, 0.002, 0.02, 0.6]), min_size=30, max_size=30))
def test_any_joint_stream_gives_safe_vector_commands(shipped, stream, waits):
    policy = shipped['vector']
    policy.reset()
    core = ControllerCore(policy, ControllerConfig(mode='vector', trigger='joints',
                                                   max_output=2.0))
    refused = _feed_all(core, [('joints', m) for m in stream], waits)
    _, _, values = core.diagnostics(now=1000.0)
    # joints_size is counted both by the conversion and by the core (wrong joint count).
    assert int(values['rejected_total']) >= sum(refused.values())
    for reason, count in refused.items():
        assert int(values[f'rejected_{reason}']) >= count
