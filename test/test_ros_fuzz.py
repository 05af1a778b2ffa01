# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A fuzzing client against running lnn_controller processes over real DDS.

Two controllers run in their own processes (torch blocked): the shipped PiBot CfC policy
(scan + odom + goal -> /cmd_vel TwistStamped) and the shipped pendulum CfC in vector mode
(/joint_states -> Float64MultiArray effort, clipped to +-2). This process publishes, as fast
as DDS takes them, a seeded stream of adversarial LaserScan, Odometry, PoseStamped, Imu and
JointState messages (NaN, +-inf, float extremes, empty and mismatched arrays, zero or NaN
beam spacing, beams outside [range_min, range_max], foreign frames, stamps that repeat, go
backwards, jump to the far future or past, malformed nanoseconds) mixed with valid 20 Hz
ticks. Every command that arrives is checked: finite and inside the limits. Afterwards both
processes are alive, answer valid input with moving commands, answer ``~/reset``, report the
refusals by reason on /diagnostics, and exit cleanly on SIGTERM.

``LNN_FUZZ_MESSAGES`` sets the number of messages (default 20000; RELIABILITY.md records a
100000 run).
"""

import math
import os
from pathlib import Path
import subprocess
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import TwistStamped
from lnn_control.ros.demo import stop_process
from nav_msgs.msg import Odometry
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from ros_harness import call_service
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ("import sys; sys.modules['torch'] = None; "
            'from lnn_control.ros.controller_node import main; main()')
STARTUP = 30.0
MESSAGES = int(os.environ.get('LNN_FUZZ_MESSAGES', '20000'))
# Messages per second: as fast as the two nodes take them on this 2-core machine (a faster
# flood is mostly dropped by DDS at the best-effort subscriptions and tests less).
RATE = float(os.environ.get('LNN_FUZZ_RATE', '1500'))
SEED = 5
BAD = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 3.4e38, -3.4e38]
BAD64 = BAD + [1e308, -1e308, 5e-324]
MAX_V, MAX_W, MAX_EFFORT = 0.22, 2.84, 2.0


def _start(env, tmp_path, name, **params):
    log = open(tmp_path / f'{name}.log', 'w')
    args = [sys.executable, '-c', LAUNCHER, '--ros-args', '-r', f'__node:={name}']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def _floats(rng, size, bad, scale=10.0):
    """``size`` floats: a mix of ordinary values and the bad ones."""
    values = rng.normal(0.0, scale, size)
    mask = rng.random(size) < 0.3
    values[mask] = rng.choice(bad, int(mask.sum()))
    return [float(v) for v in values]


def _scan(rng, valid):
    msg = LaserScan()
    msg.header.frame_id = 'base_scan'
    msg.angle_increment, msg.range_min, msg.range_max = 2 * math.pi / 360, 0.12, 3.5
    msg.ranges = [float(v) for v in rng.uniform(0.2, 3.0, 360)]
    if valid:
        return msg
    kind = rng.integers(7)
    if kind == 0:
        msg.ranges = []
    elif kind == 1:
        msg.angle_increment = float(rng.choice([0.0, math.nan, math.inf, -math.inf, 1e-45]))
    elif kind == 2:        # beams outside [range_min, range_max], and the limits swapped
        msg.ranges = [float(v) for v in rng.uniform(-10.0, 100.0, 360)]
        msg.range_min, msg.range_max = float(rng.choice([3.5, -1.0, math.nan])), 0.12
    elif kind == 3:
        msg.ranges = _floats(rng, int(rng.integers(1, 2000)), BAD, scale=3.0)
        msg.angle_min = float(rng.choice(BAD))
    elif kind == 4:
        msg.ranges = [float(rng.choice(BAD))] * 360
    elif kind == 5:
        msg.range_min, msg.range_max = float(rng.choice(BAD)), float(rng.choice(BAD))
    else:
        msg.ranges = [1.0]
    return msg


def _odom(rng, valid):
    msg = Odometry()
    msg.header.frame_id = 'odom'
    msg.pose.pose.orientation.w = 1.0
    msg.twist.twist.linear.x = float(rng.uniform(-0.2, 0.2))
    if valid:
        return msg
    kind = rng.integers(4)
    p, q, t = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
    if kind == 0:
        p.x, p.y, t.linear.x, t.angular.z = _floats(rng, 4, BAD64, scale=1e3)
    elif kind == 1:
        q.x, q.y, q.z, q.w = _floats(rng, 4, BAD64)
    elif kind == 2:
        msg.header.frame_id = str(rng.choice(['map', 'world', '', '/odom', 'base_link']))
    else:
        t.linear.x, t.angular.z = float(rng.choice([1e6, -1e6, 1e308])), 1e6
    return msg


def _goal(rng, valid):
    msg = PoseStamped()
    msg.header.frame_id = 'odom'
    msg.pose.position.x, msg.pose.position.y = 2.0, 1.0
    if valid:
        return msg
    if rng.random() < 0.5:
        msg.header.frame_id = str(rng.choice(['world', '', 'map', 'base_link', 'odom ']))
    else:
        msg.pose.position.x, msg.pose.position.y = _floats(rng, 2, BAD64, scale=1e6)
    return msg


def _imu(rng, valid):
    msg = Imu()
    msg.orientation.w = 1.0
    if not valid:
        o, a, g = msg.orientation, msg.angular_velocity, msg.linear_acceleration
        (o.x, o.y, o.z, o.w, a.x, a.y, a.z, g.x, g.y, g.z) = _floats(rng, 10, BAD64)
    return msg


def _joints(rng, valid):
    msg = JointState(name=['slider', 'hinge'], position=[0.0, 0.1], velocity=[0.0, 0.0])
    if valid:
        return msg
    kind = rng.integers(3)
    if kind == 0:
        msg.position, msg.velocity = _floats(rng, 2, BAD64), _floats(rng, 2, BAD64)
    elif kind == 1:
        msg.position = _floats(rng, int(rng.integers(0, 5)), BAD64)
        msg.velocity = _floats(rng, int(rng.integers(0, 5)), BAD64)
    else:
        msg.name = ['a', 'b', 'c']
    return msg


def _stamp(msg, t):
    msg.header.stamp.sec = int(math.floor(t))
    msg.header.stamp.nanosec = int((t - math.floor(t)) * 1e9) % 1_000_000_000


class Receiver:
    """Records every command and diagnostics in a background executor thread."""

    def __init__(self):
        self.node = rclpy.create_node('fuzz_receiver')
        self.twists, self.efforts, self.diagnostics = [], [], []
        deep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(TwistStamped, '/cmd_vel', lambda m: self.twists.append(
            (m.twist.linear.x, m.twist.angular.z)), deep)
        self.node.create_subscription(Float64MultiArray, '/cmd_effort',
                                      lambda m: self.efforts.append(tuple(m.data)), deep)
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      self.diagnostics.append, 100)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.clients = {}
        self._stop = False
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        while not self._stop:
            self.executor.spin_once(timeout_sec=0.01)

    def wait(self, condition, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            time.sleep(0.02)
        return condition()

    def values(self, node):
        for msg in reversed(self.diagnostics):
            status = msg.status[0]
            if status.name.startswith(f'{node}:'):
                return {kv.key: kv.value for kv in status.values}
        return {}

    def call(self, srv_type, name, request, timeout=10.0):
        return call_service(self.clients, self.node, srv_type, name, request, self.wait,
                            timeout)

    def close(self):
        self._stop = True
        self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


def _took(values, inputs):
    """Messages a node took: readings by input + refusals (after the run, approximately)."""
    return (sum(int(values.get(f'{name}_received', 0)) for name in inputs)
            + int(values.get('rejected_total', 0)))


def _unsafe(receiver):
    bad = [c for c in receiver.twists if not (
        len(c) == 2 and all(math.isfinite(x) for x in c)
        and abs(c[0]) <= MAX_V and abs(c[1]) <= MAX_W)]
    bad += [c for c in receiver.efforts if not (
        len(c) == 1 and math.isfinite(c[0]) and abs(c[0]) <= MAX_EFFORT)]
    return bad


@pytest.mark.slow
def test_adversarial_messages_over_dds(ros_env, tmp_path):
    pibot, pibot_log = _start(ros_env, tmp_path, 'fuzz_pibot', policy='pibot_nav_cfc',
                              diagnostics_period=0.2, goal_equivalent_frames="['map']")
    vector, vector_log = _start(ros_env, tmp_path, 'fuzz_vector', policy='pendulum_cfc',
                                mode='vector', trigger='joints',
                                command_type='float64_multi_array', cmd_topic='/cmd_effort',
                                max_output=MAX_EFFORT, diagnostics_period=0.2)
    receiver = Receiver()
    node = rclpy.create_node('fuzzer')
    pubs = {'scan': node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data),
            'odom': node.create_publisher(Odometry, '/odom', qos_profile_sensor_data),
            'goal': node.create_publisher(PoseStamped, '/goal_pose', 10),
            'imu': node.create_publisher(Imu, '/imu', qos_profile_sensor_data),
            'joints': node.create_publisher(JointState, '/joint_states',
                                            qos_profile_sensor_data)}
    makers = {'scan': _scan, 'odom': _odom, 'goal': _goal, 'imu': _imu, 'joints': _joints}
    rng = np.random.default_rng(SEED)
    # A pool of messages built once (building a 360-beam scan costs more than publishing it);
    # each publish picks one and gives it a fresh stamp.
    pool = {k: [make(rng, False) for _ in range(150)] for k, make in makers.items()}
    valid = {k: make(rng, True) for k, make in makers.items()}
    kinds = list(makers)

    def tick(t):
        for kind in kinds:
            _stamp(valid[kind], t)
            pubs[kind].publish(valid[kind])

    def logs():
        for log in (pibot_log, vector_log):
            log.flush()
        return '\n'.join((tmp_path / f'{n}.log').read_text()
                         for n in ('fuzz_pibot', 'fuzz_vector'))

    t = 1000.0
    try:
        # Both controllers are up and commanding on valid input before the fuzzing starts.
        end = time.monotonic() + STARTUP
        while not (receiver.twists and receiver.efforts):
            assert time.monotonic() < end, logs()
            t += 0.05
            tick(t)
            time.sleep(0.05)
        start = time.monotonic()
        sent = 0
        per_kind = dict.fromkeys(kinds, 0)
        choices = rng.integers(0, 6, MESSAGES)      # 5: a valid 20 Hz tick of every input
        picks = rng.integers(0, 150, MESSAGES)
        clock = rng.random(MESSAGES)
        while sent < MESSAGES:
            k = sent
            t += 0.001
            # Stamps: mostly a moving clock, else repeated, backwards, far future or past,
            # or with nanoseconds >= 1e9 (malformed but representable).
            if clock[k] < 0.05:
                stamp = t - float(rng.uniform(0.0, 100.0))
            elif clock[k] < 0.07:
                stamp = float(rng.choice([2.0**31 - 1.0, 0.0, -2.0**31, 1e-9]))
            elif clock[k] < 0.1:
                stamp = math.floor(t)
            else:
                stamp = t
            while time.monotonic() < start + sent / RATE:
                time.sleep(0.0005)
            if choices[k] == 5:
                tick(t)
                sent += len(kinds)
                for kind in kinds:
                    per_kind[kind] += 1
                continue
            kind = kinds[choices[k]]
            msg = pool[kind][picks[k]]
            _stamp(msg, stamp)
            if clock[k] > 0.98:
                msg.header.stamp.nanosec = int(rng.integers(10**9, 2**32))
            pubs[kind].publish(msg)
            per_kind[kind] += 1
            sent += 1
        seconds = time.monotonic() - start
        fuzz_twists, fuzz_efforts = len(receiver.twists), len(receiver.efforts)
        assert pibot.poll() is None and vector.poll() is None, logs()
        assert _unsafe(receiver) == []

        # Still responsive: valid input gives moving commands again, ~/reset answers.
        moving = len(receiver.twists)
        end = time.monotonic() + 10.0
        while time.monotonic() < end and not any(
                v != (0.0, 0.0) for v in receiver.twists[moving:]):
            t += 0.05
            tick(t)
            time.sleep(0.05)
        assert any(v != (0.0, 0.0) for v in receiver.twists[moving:]), logs()
        assert any(v != (0.0,) for v in receiver.efforts[fuzz_efforts:]), logs()
        for name in ('fuzz_pibot', 'fuzz_vector'):
            assert receiver.call(Trigger, f'/{name}/reset', Trigger.Request()).success
        receiver.diagnostics.clear()
        assert receiver.wait(lambda: receiver.values('fuzz_pibot')
                             and receiver.values('fuzz_vector'), 5.0)
        pibot_values, vector_values = receiver.values('fuzz_pibot'), receiver.values(
            'fuzz_vector')
        for reason in ('scan_empty', 'scan_geometry', 'odom_non_finite', 'odom_frame',
                       'odom_quaternion', 'goal_frame', 'goal_non_finite', 'imu_non_finite'):
            assert int(pibot_values.get(f'rejected_{reason}', 0)) > 0, (reason, pibot_values)
        for reason in ('joints_size', 'joints_non_finite'):
            assert int(vector_values.get(f'rejected_{reason}', 0)) > 0, (reason, vector_values)
        assert int(pibot_values['resets_stamp_backwards']) > 0
        assert _unsafe(receiver) == []
        assert 'Traceback' not in logs()
        for proc in (pibot, vector):
            proc.terminate()
            assert proc.wait(timeout=10) == 0, logs()
        # What the nodes took (readings + refusals; the rest DDS dropped when they were busy).
        took = {'pibot': _took(pibot_values, ('scan', 'odom', 'goal', 'imu')),
                'vector': _took(vector_values, ('joints',))}
        offered = {'pibot': sum(per_kind[k] for k in ('scan', 'odom', 'goal', 'imu')),
                   'vector': per_kind['joints']}
        print(f'fuzz: {sent} messages in {seconds:.1f} s ({sent / seconds:.0f}/s); pibot took '
              f"{took['pibot']}/{offered['pibot']}, vector took {took['vector']}/"
              f"{offered['vector']}; commands during fuzzing: {fuzz_twists} twist, "
              f'{fuzz_efforts} effort; total checked '
              f'{len(receiver.twists) + len(receiver.efforts)}, unsafe 0; pibot rejected '
              f"{pibot_values['rejected_total']}, resets {pibot_values['resets_total']}; "
              f"vector rejected {vector_values['rejected_total']}")
    finally:
        receiver.close()
        node.destroy_node()
        for proc in (pibot, vector):
            stop_process(proc)
        pibot_log.close()
        vector_log.close()
