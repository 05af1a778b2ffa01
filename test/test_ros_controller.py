# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The lnn_controller node over real DDS, in its own process (torch blocked there).

A test node in this process plays the robot: it publishes LaserScan/Odometry/PoseStamped with
stamps and listens to the commands. Each test run gets its own ROS_DOMAIN_ID and keeps
discovery on localhost.
"""

import math
from pathlib import Path
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from lnn_control.models.cfc import CfC
from lnn_control.models.policy import save_policy
from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.observer import Observer
from nav_msgs.msg import Odometry
import pytest
from rcl_interfaces.msg import Parameter
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from ros_harness import call_service
from ros_harness import Process
from ros_harness import ros_args
from ros_harness import sensor_messages
from ros_harness import Spinner
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger
import torch

ROOT = Path(__file__).resolve().parent.parent
# The node process runs with torch made unimportable: the robot never needs it.
LAUNCHER = ("import sys; sys.modules['torch'] = None; "
            'from lnn_control.ros.controller_node import main; main()')
STARTUP = 20.0   # s, bound on process start + discovery on a loaded 2-core machine


def _save(path, obs_size=17, action_size=2, scale=5.0, **extra):
    torch.manual_seed(0)
    model = CfC(obs_size, 8, proj_size=action_size, return_sequences=False)
    if obs_size == 17:
        extra = {'obs': Observer().space(), 'observer': Observer().config.to_dict(),
                 'actuator': Actuator().config.to_dict()}
    return save_policy(model, path, action_std=[scale] * action_size, **extra)


@pytest.fixture(scope='module')
def policies(tmp_path_factory):
    folder = tmp_path_factory.mktemp('policies')
    return {'good': _save(folder / 'good.safetensors'),
            'bad': _save(folder / 'bad.safetensors', obs_size=10),
            'pendulum': _save(folder / 'pendulum.safetensors', obs_size=4, action_size=1,
                              action={'size': 1, 'low': [-3.0], 'high': [3.0]})}


class Controller(Process):
    """A controller process; its log goes to a file."""

    def __init__(self, env, tmp_path, name, **params):
        super().__init__(env, tmp_path / f'{name}.log',
                         [sys.executable, '-c', LAUNCHER] + ros_args(name, **params), ROOT)


class FakeRobot(Spinner):
    """Publishes sensors with stamps and records what comes back."""

    def __init__(self, name, cmd_topic='/cmd_vel', cmd_type=TwistStamped):
        self.node = rclpy.create_node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.scan_pub = self.node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data)
        self.odom_pub = self.node.create_publisher(Odometry, '/odom', 10)
        self.goal_pub = self.node.create_publisher(PoseStamped, '/goal_pose', 10)
        self.commands = []      # (receive time, values)
        self.node.create_subscription(cmd_type, cmd_topic, self._on_cmd, 10)
        self.stamp = 100.0
        self.clients = {}       # (type, service) -> client, see call_service

    def _on_cmd(self, msg):
        if isinstance(msg, TwistStamped):
            values = (msg.twist.linear.x, msg.twist.angular.z)
        elif isinstance(msg, Twist):
            values = (msg.linear.x, msg.angular.z)
        else:
            values = tuple(msg.data)
        self.commands.append((time.monotonic(), values))

    def publish_sensors(self, goal_frame='odom'):
        """One 20 Hz tick: scan + odom stamped, and the goal."""
        self.stamp += 0.05
        scan, odom, goal = sensor_messages(self.stamp, [1.5] * 300 + [math.inf] * 60,
                                           goal_frame=goal_frame)
        self.scan_pub.publish(scan)
        self.odom_pub.publish(odom)
        self.goal_pub.publish(goal)

    def drive(self, seconds, **kwargs):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish_sensors(**kwargs)
            self.spin_for(0.05)

    def call(self, srv_type, name, request, timeout=10.0):
        return call_service(self.clients, self.node, srv_type, name, request,
                            self.spin_until, timeout)

    def close(self):
        self.node.destroy_node()


def _wait_for_commands(robot, controller, timeout=STARTUP, **kwargs):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not robot.commands:
        assert controller.proc.poll() is None, controller.text()
        robot.drive(0.2, **kwargs)
    assert robot.commands, f'no command arrived in {timeout} s:\n{controller.text()}'


@pytest.mark.slow
def test_drive_watchdog_reset_deactivate(ros_env, policies, tmp_path):
    controller = Controller(ros_env, tmp_path, 'lnn_controller', policy=policies['good'],
                            watchdog_timeout=0.5, neuron_state_rate=5.0,
                            diagnostics_period=0.5, goal_equivalent_frames="['map']")
    robot = FakeRobot('fake_robot')
    neurons, diagnostics = [], []
    robot.node.create_subscription(JointState, '/lnn_controller/neuron_state',
                                   neurons.append, 10)
    robot.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    timings = {}
    try:
        start = time.monotonic()
        _wait_for_commands(robot, controller)
        timings['first_command_s'] = time.monotonic() - start
        robot.drive(1.0)
        values = [v for _, v in robot.commands]
        assert all(math.isfinite(x) for v in values for x in v)
        assert all(abs(v) <= 0.22 + 1e-9 and abs(w) <= 2.84 + 1e-9 for v, w in values)
        assert any(abs(v) > 0 or abs(w) > 0 for v, w in values), values[-5:]

        # Sensors stop: the watchdog (steady clock) sends zero within the timeout.
        stopped = time.monotonic()
        robot.commands.clear()
        assert robot.spin_until(lambda: any(v == (0.0, 0.0) for _, v in robot.commands), 3.0)
        first_zero = next(t for t, v in robot.commands if v == (0.0, 0.0))
        timings['stale_to_zero_s'] = first_zero - stopped
        assert first_zero - stopped < 0.5 + 0.3
        robot.spin_for(0.3)
        assert all(v == (0.0, 0.0) for _, v in robot.commands)

        # Sensors return: commands resume.
        robot.commands.clear()
        resumed = time.monotonic()
        robot.drive(1.0)
        moving = [t for t, v in robot.commands if v != (0.0, 0.0)]
        assert moving, 'commands did not resume'
        timings['fresh_to_moving_s'] = moving[0] - resumed

        # A goal in the map frame is accepted (declared equivalent); in 'world' it is refused.
        robot.drive(0.3, goal_frame='map')
        robot.drive(0.3, goal_frame='world')

        reply = robot.call(Trigger, '/lnn_controller/reset', Trigger.Request())
        assert reply.success, reply.message

        # Out-of-range and unknown-choice parameters are refused at set time, with a reason.
        request = SetParameters.Request(parameters=[
            Parameter(name='watchdog_timeout', value=ParameterValue(
                type=ParameterType.PARAMETER_DOUBLE, double_value=-1.0)),
            Parameter(name='command_type', value=ParameterValue(
                type=ParameterType.PARAMETER_STRING, string_value='joystick'))])
        results = robot.call(SetParameters, '/lnn_controller/set_parameters', request).results
        assert [r.successful for r in results] == [False, False]
        assert 'one of' in results[1].reason

        diagnostics.clear()
        assert robot.spin_until(lambda: len(diagnostics) > 0, 3.0)
        keys = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert int(keys['resets_request']) >= 1
        assert int(keys['rejected_goal_frame']) >= 1
        assert float(keys['odom_rate_hz']) > 5
        assert 'step_latency_p99_ms' in keys
        timings['step_latency_p50_ms'] = float(keys['step_latency_p50_ms'])
        timings['step_latency_p99_ms'] = float(keys['step_latency_p99_ms'])
        assert neurons and len(neurons[-1].position) > 0
        assert neurons[-1].name[0].startswith('sensory:')
        assert len(neurons[-1].name) == len(neurons[-1].position)

        # Deactivate: a zero command goes out, then silence even with sensors running.
        robot.commands.clear()
        reply = robot.call(ChangeState, '/lnn_controller/change_state', ChangeState.Request(
            transition=Transition(id=Transition.TRANSITION_DEACTIVATE)))
        assert reply.success
        robot.spin_for(0.3)
        assert robot.commands and robot.commands[-1][1] == (0.0, 0.0)
        count = len(robot.commands)
        robot.drive(0.5)
        assert len(robot.commands) == count
        log = controller.text()
        assert 'torch loaded: False' in log
        print('timings', timings)
    finally:
        robot.close()
        controller.stop()


@pytest.mark.slow
def test_command_types_mismatch_and_sigterm(ros_env, policies, tmp_path):
    twist = Controller(ros_env, tmp_path, 'ctl_twist', policy=policies['good'],
                       command_type='twist', cmd_topic='/cmd_twist')
    array = Controller(ros_env, tmp_path, 'ctl_array', policy=policies['good'],
                       command_type='float64_multi_array', cmd_topic='/cmd_array')
    bad = Controller(ros_env, tmp_path, 'ctl_bad', policy=policies['bad'],
                     cmd_topic='/cmd_bad')
    pendulum = Controller(ros_env, tmp_path, 'ctl_pendulum', policy=policies['pendulum'],
                          mode='vector', trigger='joints', command_type='float64_multi_array',
                          cmd_topic='/cmd_effort', max_output=2.0)
    robot = FakeRobot('fake_robot_types', '/cmd_twist', Twist)
    arrays, refused = [], []
    robot.node.create_subscription(Float64MultiArray, '/cmd_array',
                                   lambda m: arrays.append(tuple(m.data)), 10)
    robot.node.create_subscription(TwistStamped, '/cmd_bad', refused.append, 10)
    efforts = []
    robot.node.create_subscription(Float64MultiArray, '/cmd_effort',
                                   lambda m: efforts.append(tuple(m.data)), 10)
    joints_pub = robot.node.create_publisher(JointState, '/joint_states', 10)

    def publish_joints():
        joints = JointState(name=['slider', 'hinge'], position=[0.1, 0.2],
                            velocity=[0.0, -0.5])
        joints.header.stamp.sec = int(robot.stamp)
        joints.header.stamp.nanosec = int((robot.stamp % 1.0) * 1e9)
        joints_pub.publish(joints)

    robot.node.create_timer(0.05, publish_joints)
    # command_stamp:=input: each command carries the stamp of the odometry it answers.
    stamped = Controller(ros_env, tmp_path, 'ctl_stamped', policy=policies['good'],
                         command_stamp='input', cmd_topic='/cmd_stamped')
    answer_stamps = []
    robot.node.create_subscription(
        TwistStamped, '/cmd_stamped',
        lambda m: answer_stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9), 10)
    try:
        _wait_for_commands(robot, twist)
        assert robot.spin_until(lambda: len(arrays) > 0, STARTUP), array.text()
        assert robot.spin_until(lambda: len(efforts) > 0, STARTUP), pendulum.text()
        robot.drive(1.0)
        assert all(len(v) == 1 and abs(v[0]) <= 2.0 for v in efforts)
        assert any(v[0] != 0.0 for v in efforts)
        assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for _, v in robot.commands)
        assert all(len(v) == 2 and abs(v[0]) <= 0.22 and abs(v[1]) <= 2.84 for v in arrays)
        assert refused == []
        # (Watchdog zeros before the inputs are fresh answer no input: stamped now, wall time.)
        robot.drive(0.5)
        assert robot.spin_until(lambda: len([t for t in answer_stamps if t < 1e6]) > 5,
                                STARTUP), stamped.text()
        answers = [t for t in answer_stamps if t < 1e6]
        sent = [100.0 + 0.05 * k for k in range(1, int(round((robot.stamp - 100.0) / 0.05)) + 1)]
        assert all(min(abs(t - s) for s in sent) < 1e-6 for t in answers), answers
        assert bad.proc.poll() is None
        assert 'refusing to configure' in bad.text()
        assert '10 observations' in bad.text()

        # SIGTERM: the last command out of the process is zero.
        robot.drive(0.3)
        twist.proc.terminate()
        twist.proc.wait(timeout=10)
        robot.spin_for(0.3)
        assert robot.commands[-1][1] == (0.0, 0.0)
        assert twist.proc.returncode == 0, twist.text()
    finally:
        robot.close()
        for controller in (twist, array, bad, pendulum, stamped):
            controller.stop()


def test_bad_parameters_refused_at_start(ros_env, tmp_path):
    for key, value, reason in (('watchdog_timeout', '-1.0', 'out of range'),
                               ('watchdog_timeout', 'abc', "expecting type 'DOUBLE'"),
                               ('command_type', 'joystick', 'must be one of')):
        controller = Controller(ros_env, tmp_path, 'ctl_params', **{key: value})
        try:
            assert controller.proc.wait(timeout=STARTUP) == 1
            assert reason in controller.text()
        finally:
            controller.stop()


@pytest.mark.slow
@pytest.mark.parametrize('executor', ['events', 'single_threaded'])
def test_either_executor_drives_watches_and_stops_at_zero(ros_env, policies, tmp_path,
                                                          executor):
    """Both executors the node offers step, run the watchdog and leave zero on SIGTERM."""
    controller = Controller(ros_env, tmp_path, f'ctl_{executor}', policy=policies['good'],
                            executor=executor)
    robot = FakeRobot(f'robot_{executor}')
    try:
        _wait_for_commands(robot, controller)
        robot.drive(1.0)
        assert any(v != (0.0, 0.0) for _, v in robot.commands)
        robot.commands.clear()          # sensors stop: the steady-clock watchdog answers
        assert robot.spin_until(lambda: any(v == (0.0, 0.0) for _, v in robot.commands), 3.0)
        robot.drive(0.5)
        assert controller.stop() == 0
        robot.spin_for(0.5)
        assert robot.commands[-1][1] == (0.0, 0.0)
        assert 'unavailable' not in controller.text()
    finally:
        robot.close()
        controller.stop()
