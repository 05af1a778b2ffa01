# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The lnn_sim node over real DDS, in its own process; and its message builders.

A test node in this process plays the controller: it listens to /clock, /scan, /odom and
~/status, publishes /cmd_vel and /goal_pose and calls ~/reset. Each test run gets its own
ROS_DOMAIN_ID and keeps discovery on localhost; child processes are always killed.
"""

import json
import math
from pathlib import Path
import subprocess
import sys
import time

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.envs.sim_bridge import SimBridge
from lnn_control.ros import sim_messages as sm
from lnn_control.ros.demo import stop_process
from nav_msgs.msg import Odometry
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_harness import Process
from ros_harness import ros_args
from ros_harness import Spinner
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String
from std_srvs.srv import Trigger

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 30.0   # s, bound on process start + discovery on a loaded 2-core machine


# -- message builders (no DDS) ------------------------------------------------------------------
def test_builders_carry_the_readings():
    bridge = SimBridge(n_obstacles=3, seed=2)
    events = bridge.advance(0.5, command=(0.1, 0.2))
    latest = {e.kind: e for e in events}
    scan = sm.scan_msg(latest['scan'].data)
    assert scan.header.frame_id == 'base_scan' and len(scan.ranges) == 360
    assert scan.angle_max == pytest.approx(2 * math.pi * 359 / 360)
    assert scan.range_min == pytest.approx(0.12) and scan.range_max == pytest.approx(3.5)
    ranges = np.array(scan.ranges)
    assert np.array_equal(np.isposinf(ranges), np.isposinf(latest['scan'].data.ranges))
    assert sm.stamp(latest['scan'].stamp) == scan.header.stamp
    odom_reading = latest['odom'].data
    odom = sm.odom_msg(odom_reading)
    assert (odom.header.frame_id, odom.child_frame_id) == ('odom', 'base_footprint')
    q = odom.pose.pose.orientation
    assert 2 * math.atan2(q.z, q.w) == pytest.approx(odom_reading.yaw)
    assert odom.twist.twist.linear.x == pytest.approx(odom_reading.v)
    assert odom.header.stamp.sec == 0 and odom.header.stamp.nanosec == 500_000_000
    imu = sm.imu_msg(latest['imu'].data)
    assert imu.header.frame_id == 'imu_link'
    assert imu.linear_acceleration.z == pytest.approx(9.81, abs=0.3)
    joints = sm.joints_msg(latest['joints'].data)
    assert joints.name == ['wheel_left_joint', 'wheel_right_joint']
    assert len(joints.position) == len(joints.velocity) == 2
    assert sm.clock_msg(1.25).clock.nanosec == 250_000_000
    status = json.loads(sm.status_msg(dict(bridge.status(), extra=math.nan)).data)
    assert status['extra'] is None and status['commands_received'] == 1


def test_incoming_messages():
    stamped = TwistStamped()
    stamped.twist.linear.x, stamped.twist.angular.z = 0.1, -0.5
    assert sm.twist_to_command(stamped) == (0.1, -0.5)
    assert sm.twist_to_command(stamped.twist) == (0.1, -0.5)
    with pytest.raises(TypeError):
        sm.twist_to_command(PoseStamped())
    goal = PoseStamped()
    goal.pose.position.x, goal.pose.position.y = 1.0, 2.0
    for frame, expected in [('odom', 'odom'), ('', 'odom'), ('map', 'odom'),
                            ('world', 'world')]:
        goal.header.frame_id = frame
        assert sm.goal_from_pose(goal) == ((1.0, 2.0, expected), '')
    goal.header.frame_id = 'base_link'
    assert sm.goal_from_pose(goal)[0] is None
    goal.header.frame_id = 'odom'
    goal.pose.position.x = math.nan
    assert sm.goal_from_pose(goal)[0] is None


# -- over DDS -----------------------------------------------------------------------------------
def node_process(env, log_path, module, name, **params):
    """Start ``python -m module`` as node ``name`` with ``params``."""
    return Process(env, log_path, [sys.executable, '-m', module] + ros_args(name, **params),
                   ROOT)


class SimClient(Spinner):
    """The controller's side: records /clock, /scan, /odom and the sim's status."""

    def __init__(self, sim_name, stamped=True):
        self.node = rclpy.create_node('sim_client')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.records = {'clock': [], 'scan': [], 'odom': [], 'imu': [], 'joints': [],
                        'status': []}
        n = self.node
        n.create_subscription(Clock, '/clock', self._recorder('clock'), sm.QOS['clock'])
        n.create_subscription(LaserScan, '/scan', self._recorder('scan'), sm.QOS['scan'])
        n.create_subscription(Odometry, '/odom', self._recorder('odom'), sm.QOS['odom'])
        n.create_subscription(Imu, '/imu', self._recorder('imu'), sm.QOS['imu'])
        n.create_subscription(JointState, '/joint_states', self._recorder('joints'),
                              sm.QOS['joints'])
        n.create_subscription(String, f'/{sim_name}/status', self._recorder('status'),
                              sm.QOS['status'])
        self.stamped = stamped
        self.cmd_pub = n.create_publisher(TwistStamped if stamped else Twist, '/cmd_vel', 10)
        self.goal_pub = n.create_publisher(PoseStamped, '/goal_pose', 10)
        self.sim_name = sim_name

    def command(self, v, w):
        twist = Twist()
        twist.linear.x, twist.angular.z = float(v), float(w)
        if self.stamped:
            msg = TwistStamped(twist=twist)
            msg.header.frame_id = 'base_link'
            self.cmd_pub.publish(msg)
        else:
            self.cmd_pub.publish(twist)

    def drive(self, seconds, v, w, period=0.1):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.command(v, w)
            self.spin_for(period)

    def status(self):
        return json.loads(self.records['status'][-1][1].data) if self.records['status'] else {}

    def odom(self):
        return self.records['odom'][-1][1] if self.records['odom'] else None

    def call_reset(self, timeout=10.0):
        client = self.node.create_client(Trigger, f'/{self.sim_name}/reset')
        assert client.wait_for_service(timeout_sec=timeout), 'no reset service'
        future = client.call_async(Trigger.Request())
        assert self.spin_until(future.done, timeout), 'reset call timed out'
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def _rate(records, since):
    t = [r[0] for r in records if r[0] >= since]
    return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 else 0.0


def _stamp(msg):
    s = msg.header.stamp
    return s.sec + s.nanosec * 1e-9


@pytest.mark.slow
def test_sim_rates_commands_timeout_and_reset(ros_env, tmp_path):
    sim = node_process(ros_env, tmp_path / 'sim.log', 'lnn_control.ros.sim_node', 'sim',
                       seed=5, n_obstacles=0, real_time_factor=1.0)
    client = SimClient('sim')
    try:
        assert client.spin_until(lambda: client.records['odom'] and client.records['scan'],
                                 STARTUP), sim.text()
        # Rates, wall clock, measured over 3 s (loose bounds: a loaded shared machine).
        start = time.monotonic()
        client.spin_for(3.0)
        rates = {k: _rate(client.records[k], start)
                 for k in ('clock', 'scan', 'odom', 'imu', 'joints')}
        print('measured rates (Hz, wall clock):', rates)
        assert 60.0 < rates['clock'] < 130.0
        assert 3.5 < rates['scan'] < 6.5
        for kind in ('odom', 'imu', 'joints'):
            assert 14.0 < rates[kind] < 26.0, kind
        assert client.records['joints'][-1][1].name == ['wheel_left_joint', 'wheel_right_joint']
        # Stamps are sim time, exactly periodic.
        odom_stamps = np.array([_stamp(m) for _, m in client.records['odom'][-20:]])
        np.testing.assert_allclose(np.diff(odom_stamps), 0.05, atol=1e-6)
        scan_stamps = np.array([_stamp(m) for _, m in client.records['scan'][-5:]])
        np.testing.assert_allclose(np.diff(scan_stamps), 0.2, atol=1e-6)
        scan = client.records['scan'][-1][1]
        assert len(scan.ranges) == 360 and scan.header.frame_id == 'base_scan'
        # Sim time runs at about the real-time factor.
        clock = [(t, m.clock.sec + m.clock.nanosec * 1e-9) for t, m in client.records['clock']
                 if t >= start]
        factor = (clock[-1][1] - clock[0][1]) / (clock[-1][0] - clock[0][0])
        print('sim time / wall time:', factor)
        assert 0.7 < factor < 1.3

        # A command moves the robot forward.
        x0 = client.odom().pose.pose.position.x
        client.drive(1.5, 0.15, 0.0)
        moved = client.odom().pose.pose.position.x - x0
        print('moved under command (m):', moved)
        assert moved > 0.1
        # Commands stop: the robot stops within cmd_timeout (sim time) by itself.
        last_cmd_clock = client.records['clock'][-1][1].clock
        t_last = last_cmd_clock.sec + last_cmd_clock.nanosec * 1e-9
        assert client.spin_until(lambda: abs(client.odom().twist.twist.linear.x) < 0.01
                                 and _stamp(client.odom()) > t_last, 3.0)
        stopped = _stamp(client.odom())
        print('stopped after the last command (s, sim time):', stopped - t_last)
        assert stopped - t_last < 0.5 + 0.25   # timeout + wheel deceleration + delivery
        x_stop = client.odom().pose.pose.position.x
        client.spin_for(1.0)
        assert abs(client.odom().pose.pose.position.x - x_stop) < 0.005
        assert client.spin_until(lambda: client.status().get('cmd_timed_out'), 3.0)

        # NaN is ignored and counted; the robot does not move.
        client.command(math.nan, 0.0)
        assert client.spin_until(lambda: client.status().get('non_finite_commands') == 1, 3.0)
        assert abs(client.odom().twist.twist.linear.x) < 0.01

        # A goal 0.5 m ahead in odom moves the sim's goal.
        goal = PoseStamped()
        goal.header.frame_id = 'odom'
        goal.pose.position.x = x_stop + 0.5
        goal.pose.position.y = client.odom().pose.pose.position.y
        client.goal_pub.publish(goal)
        assert client.spin_until(
            lambda: abs(client.status().get('goal_odom', [0])[0] - (x_stop + 0.5)) < 1e-6, 3.0)
        assert client.status()['distance'] == pytest.approx(0.5, abs=0.05)   # odometry vs truth

        # ~/reset: new scene, odometry back at the origin, sim time still increasing.
        before = client.records['clock'][-1][1].clock.sec
        response = client.call_reset()
        assert response.success and json.loads(response.message)['episode'] == 1
        assert client.spin_until(lambda: client.status().get('episode') == 1
                                 and abs(client.odom().pose.pose.position.x) < 1e-3, 3.0)
        assert client.status()['seed'] == 6
        assert client.records['clock'][-1][1].clock.sec >= before
        assert sim.proc.poll() is None, sim.text()
    finally:
        client.close()
        sim.stop()


def test_impossible_parameters_exit_with_a_reason(ros_env, tmp_path):
    sim = node_process(ros_env, tmp_path / 'sim.log', 'lnn_control.ros.sim_node', 'badsim',
                       clock_rate=30.0)
    try:
        sim.proc.wait(timeout=STARTUP)
        assert sim.proc.returncode == 2 and 'clock_rate' in sim.text()
    finally:
        sim.stop()


@pytest.mark.slow
def test_plain_twist_as_fast_as_possible(ros_env, tmp_path):
    sim = node_process(ros_env, tmp_path / 'sim.log', 'lnn_control.ros.sim_node', 'fastsim',
                       seed=1, n_obstacles=2, real_time_factor=0.0, cmd_vel_stamped=False)
    client = SimClient('fastsim', stamped=False)
    try:
        assert client.spin_until(lambda: len(client.records['odom']) > 5, STARTUP), sim.text()
        start = time.monotonic()
        client.spin_for(2.0)
        clock = [(t, m.clock.sec + m.clock.nanosec * 1e-9) for t, m in client.records['clock']
                 if t >= start]
        factor = (clock[-1][1] - clock[0][1]) / (clock[-1][0] - clock[0][0])
        print('as fast as possible: sim time / wall time =', factor)
        assert factor > 1.5
        assert client.spin_until(lambda: client.status().get('commands_received') is not None,
                                 5.0)
        client.command(0.1, 0.0)
        assert client.spin_until(lambda: client.status().get('commands_received') == 1, 5.0)
        assert sim.stop() == 0, sim.text()   # SIGTERM: a clean exit
    finally:
        client.close()
        sim.stop()


# -- closed loop: lnn_sim + lnn_controller, two processes on sim time --------------------------
CONTROLLER = ("import sys; sys.modules['torch'] = None; "
              'from lnn_control.ros.controller_node import main; main()')


def _goal_seeker(path):
    """Save a hand-set MLP policy that turns to the goal bearing and drives to it."""
    torch = pytest.importorskip('torch')
    from lnn_control.models.mlp import MLP
    from lnn_control.models.policy import save_policy
    from lnn_control.runtime.actuator import Actuator
    from lnn_control.runtime.observer import Observer

    model = MLP(17, 2, hidden_sizes=(2,), activation='tanh')
    with torch.no_grad():
        for layer in (model.hidden[0], model.readout):
            layer.weight.zero_()
            layer.bias.zero_()
        model.hidden[0].weight[0, 16] = 1.5   # cos(goal bearing) -> forward speed
        model.hidden[0].weight[1, 15] = 2.0   # sin(goal bearing) -> yaw rate
        model.readout.weight[0, 0] = 0.25
        model.readout.weight[1, 1] = 3.0
    return save_policy(model, path, obs=Observer().space(),
                       observer=Observer().config.to_dict(),
                       actuator=Actuator().config.to_dict())


def _closed_loop(ros_env, tmp_path, policy, seed, n_obstacles, goal=None, timeout=30.0):
    """Run lnn_sim + lnn_controller (torch blocked) on sim time; return the final status."""
    sim = node_process(ros_env, tmp_path / 'sim.log', 'lnn_control.ros.sim_node', 'loopsim',
                       seed=seed, n_obstacles=n_obstacles, real_time_factor=2.0)
    args = [sys.executable, '-c', CONTROLLER, '--ros-args', '-r', '__node:=loopctl',
            '-p', f'policy:={policy}', '-p', 'use_sim_time:=true']
    log_path = tmp_path / 'controller.log'
    log = open(log_path, 'w')
    controller = subprocess.Popen(args, env=ros_env, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT)
    client = SimClient('loopsim')
    try:
        assert client.spin_until(lambda: client.status() and client.odom(), STARTUP), sim.text()
        # The goal in the odom frame for both nodes (default: the scene's own goal), repeated
        # until the controller drives: /goal_pose is volatile and the controller may start later.
        x, y = goal if goal is not None else client.status()['goal_odom']
        msg = PoseStamped()
        msg.header.frame_id = 'odom'
        msg.pose.position.x, msg.pose.position.y = float(x), float(y)
        start = time.monotonic()
        while time.monotonic() - start < STARTUP:
            msg.header.stamp = client.records['clock'][-1][1].clock
            client.goal_pub.publish(msg)
            client.spin_for(0.5)
            odom = client.odom().twist.twist
            if client.status().get('commands_received', 0) > 0 and \
                    abs(odom.linear.x) + abs(odom.angular.z) > 0.02:
                break
        else:
            log.flush()
            pytest.fail('the controller never drove:\n' + sim.text() + log_path.read_text())
        client.spin_until(lambda: client.status().get('reached')
                          or client.status().get('collision'), timeout)
        status = client.status()
        log.flush()
        assert controller.poll() is None, log_path.read_text()
        assert sim.proc.poll() is None, sim.text()
        assert status['goal_odom'] == pytest.approx([x, y])
        return status
    finally:
        client.close()
        stop_process(controller)
        log.close()
        sim.stop()


@pytest.mark.slow
def test_closed_loop_controller_reaches_the_goal_on_sim_time(ros_env, tmp_path):
    policy = _goal_seeker(tmp_path / 'seek.safetensors')
    status = _closed_loop(ros_env, tmp_path, policy, seed=4, n_obstacles=0, goal=(0.8, 0.0))
    print('closed loop (goal seeker): reached after', status['time_to_goal'],
          's of episode sim time;', status['commands_received'], 'commands received')
    assert status['reached'] and not status['collision']
    assert status['non_finite_commands'] == 0


@pytest.mark.slow
def test_closed_loop_trained_policy_among_obstacles(ros_env, tmp_path):
    status = _closed_loop(ros_env, tmp_path, 'pibot_nav_cfc', seed=7, n_obstacles=4,
                          timeout=40.0)
    print('closed loop (pibot_nav_cfc):', {k: status[k] for k in (
        'reached', 'collision', 'time_to_goal', 'distance', 'commands_received')})
    assert status['reached'] and not status['collision'], status
