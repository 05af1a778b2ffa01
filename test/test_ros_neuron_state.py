# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
``~/neuron_state`` over real DDS from a controller process, and recorded to an MCAP bag.

The shipped CfC and LTC policies run in an ``lnn_controller`` process (torch blocked there);
this process plays the robot (scan, odom, goal at 20 Hz), listens to ``~/neuron_state`` and
records it with :class:`lnn_control.ros.recorder.BagRecorder`, then reads the bag back.
"""

from pathlib import Path
import subprocess
import sys
import time

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import TwistStamped
from lnn_control.ros import readings
from lnn_control.ros.demo import stop_process
from lnn_control.ros.recorder import BagRecorder
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
from lnn_control.runtime.policy import load_policy
from nav_msgs.msg import Odometry
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from ros_harness import sensor_messages
from rosbags.rosbag2 import Reader
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ("import sys; sys.modules['torch'] = None; "
            'from lnn_control.ros.controller_node import main; main()')
STARTUP = 20.0   # s, process start + discovery on a loaded 2-core machine
RATE = 4.0       # Hz asked of ~/neuron_state; the inputs come at 20 Hz
TOPIC = '/lnn_controller/neuron_state'


def _messages(stamp):
    # An obstacle straight ahead at 0.6 m, free elsewhere.
    return sensor_messages(stamp, [0.6] * 20 + [3.0] * 320 + [0.6] * 20)


@pytest.mark.slow
@pytest.mark.parametrize('policy, kind', [('pibot_nav_cfc', 'time_gate'),
                                          ('pibot_nav_ltc', 'tau_s')])
def test_neuron_state_labels_rate_and_bag(ros_env, tmp_path, policy, kind):
    log_path = tmp_path / 'controller.log'
    log = open(log_path, 'w')
    proc = subprocess.Popen(
        [sys.executable, '-c', LAUNCHER, '--ros-args', '-p', f'policy:={policy}',
         '-p', f'neuron_state_rate:={RATE}'],
        env=ros_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    node = rclpy.create_node('neuron_state_robot')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    pubs = (node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data),
            node.create_publisher(Odometry, '/odom', 10),
            node.create_publisher(PoseStamped, '/goal_pose', 10))
    received, commands = [], []
    node.create_subscription(JointState, TOPIC, received.append, 10)
    recorder = BagRecorder(node, tmp_path / 'bag', {TOPIC: None, '/cmd_vel': None})
    node.create_subscription(TwistStamped, '/cmd_vel', commands.append, 10)
    sent = set()
    stamp = 100.0

    def tick():
        nonlocal stamp
        stamp += 0.05
        msgs = _messages(stamp)
        sent.add((msgs[1].header.stamp.sec, msgs[1].header.stamp.nanosec))
        for pub, msg in zip(pubs, msgs):
            pub.publish(msg)
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)

    try:
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline and not (received and recorder.ready):
            assert proc.poll() is None, log_path.read_text()
            tick()
        assert received, f'no neuron state in {STARTUP} s:\n{log_path.read_text()}'
        received.clear()
        commands.clear()
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            tick()
        elapsed = time.monotonic() - start
        live = list(received)
        n_commands = len(commands)
    finally:
        recorder.close()
        node.destroy_node()
        stop_process(proc)
        log.close()

    # Rate limited: at most RATE Hz (+1 for the window edge) while commands run at ~20 Hz.
    assert 2 <= len(live) <= RATE * elapsed + 1, (len(live), elapsed)
    assert n_commands > 2 * len(live)

    expected = load_policy(policy).neuron_report().labels
    obs_size = sum(label.startswith('sensory:') for label in expected)
    observer = Observer(ObserverConfig.from_dict(load_policy(policy).spec.observer))
    scan, odom, goal = _messages(101.0)
    obs = observer.observe(readings.scan_to_reading(scan)[0], readings.odom_to_reading(odom)[0],
                           Goal(2.0, 1.0))
    for msg in live:
        assert list(msg.name) == expected
        assert msg.header.frame_id == kind
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) in sent   # a trigger stamp
        position, velocity = np.array(msg.position), np.array(msg.velocity)
        assert position.shape == velocity.shape == (len(expected),)
        # The sensory entries are the observation the policy saw (the robot stands still).
        np.testing.assert_allclose(position[:obs_size], obs, atol=1e-5)
        assert np.isnan(velocity[:obs_size]).all()
        neurons = velocity[obs_size:]
        assert np.isfinite(neurons).all() and np.isfinite(position).all()
        if kind == 'time_gate':
            assert ((neurons >= 0.0) & (neurons <= 1.0)).all()
        else:
            assert (neurons > 0.0).all()
    layers = {label.split(':')[0] for label in expected}
    assert layers == {'sensory', 'inter', 'command', 'motor'}
    # The time constants move with the state: they are not a constant per neuron.
    assert np.ptp(np.array([m.velocity[obs_size:] for m in live]), axis=0).max() > 1e-4

    store = get_typestore(Stores.ROS2_JAZZY)
    with Reader(tmp_path / 'bag') as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        bagged = [store.deserialize_cdr(raw, conn.msgtype)
                  for conn, _, raw in reader.messages() if conn.topic == TOPIC]
    assert types == {TOPIC: 'sensor_msgs/msg/JointState',
                     '/cmd_vel': 'geometry_msgs/msg/TwistStamped'}
    assert len(bagged) >= len(live)
    assert list(bagged[-1].name) == expected
    assert bagged[-1].header.frame_id == kind
    assert bagged[-1].velocity.shape == (len(expected),)
