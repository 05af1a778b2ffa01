# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Parameters set on a running controller are applied, hot-swapped or refused, never ignored.

``lnn_sim`` (free arena) and ``lnn_controller`` run as separate processes over real DDS; this
process drives the robot towards the scene's goal and sets parameters through the node's
SetParameters service, as ``ros2 param set`` does:

- limits apply at the next step (``max_v`` 0.05 while driving at ~0.2 m/s: every command
  computed afterwards obeys, and the robot slows down), and so do timeouts and rates;
- ``policy`` hot-swaps: the new file is loaded and checked first, swapped between two steps
  (the neuron-state labels become the new model's), counted in /diagnostics; a damaged file,
  a file outside ``policy_dirs`` or a policy that does not fit is refused with the reason while
  the old one keeps driving;
- what cannot change while configured (topics, mode, command type) or after start-up
  (``policy_dirs``, ``adapted_dir``) is refused with the reason saying how to apply it, and
  after deactivate, cleanup and configure a new topic is in use.
"""

import json
import math
import shutil
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from lnn_control.ros import sim_messages as sm
from lnn_control.runtime.policy import load_policy
from nav_msgs.msg import Odometry
import pytest
from rcl_interfaces.msg import Parameter
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import DescribeParameters
from rcl_interfaces.srv import GetParameters
from rcl_interfaces.srv import SetParameters
from ros_harness import change_state
from ros_harness import Process
from ros_harness import ros_args
from ros_harness import TestNode
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from test_ros_faults import CONTROLLER
from test_ros_faults import ROOT
from test_ros_faults import STARTUP
from test_ros_reliability import bad_policy_files

SIM, CTL = 'livesim', 'livectl'
D = ParameterType.PARAMETER_DOUBLE


def _stamp(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


class Operator(TestNode):
    """Records commands, odometry, neuron states and diagnostics; sets parameters."""

    def __init__(self):
        super().__init__('live_operator', ('cmd', 'odom', 'neurons', 'diag', 'status',
                                           'new_cmd'))
        n = self.node
        n.create_subscription(TwistStamped, '/cmd_vel', self._recorder('cmd'), 100)
        n.create_subscription(TwistStamped, '/cmd_new', self._recorder('new_cmd'), 100)
        n.create_subscription(Odometry, '/odom', self._recorder('odom'), sm.QOS['odom'])
        n.create_subscription(JointState, f'/{CTL}/neuron_state', self._recorder('neurons'),
                              10)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._recorder('diag'), 10)
        n.create_subscription(String, f'/{SIM}/status', self._recorder('status'),
                              sm.QOS['status'])

    def send_goal(self):
        super().send_goal(*self.status()['goal_odom'])

    def drive(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send_goal()
            self.spin_for(0.25)

    def set_parameter(self, name, kind, value):
        field = {ParameterType.PARAMETER_DOUBLE: 'double_value',
                 ParameterType.PARAMETER_STRING: 'string_value',
                 ParameterType.PARAMETER_BOOL: 'bool_value',
                 ParameterType.PARAMETER_STRING_ARRAY: 'string_array_value'}[kind]
        request = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=kind, **{field: value}))])
        return self.call(SetParameters, f'/{CTL}/set_parameters', request).results[0]

    def get(self, name):
        reply = self.call(GetParameters, f'/{CTL}/get_parameters',
                          GetParameters.Request(names=[name]))
        value = reply.values[0]
        return {ParameterType.PARAMETER_DOUBLE: value.double_value,
                ParameterType.PARAMETER_STRING: value.string_value}.get(value.type)

    def diagnostics(self, since):
        """Return the controller's newest diagnostics received after steady time ``since``."""
        assert self.spin_until(lambda: any(t > since and m.status[0].name.startswith(CTL)
                                           for t, m in self.records['diag']), 5.0)
        msg = [m for t, m in self.records['diag'] if t > since and
               m.status[0].name.startswith(CTL)][-1]
        return msg.status[0], {kv.key: kv.value for kv in msg.status[0].values}


@pytest.fixture(scope='module')
def rig(ros_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp('live')
    allowed = folder / 'policies'
    allowed.mkdir()
    sim = Process(ros_env, folder / 'sim.log', [sys.executable, '-m', 'lnn_control.ros.sim_node']
                  + ros_args(SIM, seed=3, n_obstacles=0, real_time_factor=1.0), ROOT)
    controller = Process(ros_env, folder / 'controller.log', [sys.executable, '-c', CONTROLLER]
                         + ros_args(CTL, policy='pibot_nav_cfc', use_sim_time=True,
                                    policy_dirs=f"['{allowed}']", diagnostics_period=0.25,
                                    command_stamp='input', required_movement_radius=0.0,
                                    required_approach=0.0), ROOT)
    operator = Operator()
    try:
        assert operator.spin_until(lambda: operator.status(), STARTUP), sim.text()
        yield folder, allowed, sim, controller, operator
    finally:
        operator.close()
        controller.stop()
        sim.stop()


def _new_scene(rig):
    """Start a new scene; drive until the robot moves on its way to the goal."""
    _, _, sim, controller, operator = rig
    reply = operator.call(Trigger, f'/{SIM}/reset', Trigger.Request())
    assert reply.success, reply.message
    episode = json.loads(reply.message)['episode']
    assert operator.spin_until(lambda: operator.status().get('episode') == episode, 5.0)
    end = time.monotonic() + STARTUP
    while not (operator.records['odom'] and
               operator.records['odom'][-1][1].twist.twist.linear.x > 0.12):
        assert time.monotonic() < end, controller.text()
        operator.drive(0.3)


def _answering(operator, after_stamp):
    """Return the commands answering odometry stamped after ``after_stamp``."""
    return [(m.twist.linear.x, m.twist.angular.z) for _, m in operator.records['cmd']
            if _stamp(m.header.stamp) > after_stamp]


@pytest.mark.slow
def test_limits_apply_at_the_next_step(rig):
    _, _, _, controller, operator = rig
    _new_scene(rig)
    before = [m.twist.linear.x for _, m in operator.records['cmd'][-10:]]
    assert max(before) > 0.12, before
    result = operator.set_parameter('max_v', ParameterType.PARAMETER_DOUBLE, 0.05)
    assert result.successful, result.reason
    # The newest odometry the operator had seen when the answer came, plus one step of slack
    # for an odometry message the controller took before the request.
    seen = _stamp(operator.records['odom'][-1][1].header.stamp) + 0.05 + 1e-6
    operator.drive(1.5)
    after = _answering(operator, seen)
    assert len(after) > 10
    assert all(abs(v) <= 0.05 + 1e-9 for v, _ in after), after[:5]
    assert max(m.twist.twist.linear.x for _, m in operator.records['odom'][-5:]) < 0.07
    assert operator.get('max_v') == 0.05
    # Back to the policy's own limit: it speeds up again.
    assert operator.set_parameter('max_v', ParameterType.PARAMETER_DOUBLE, 0.0).successful
    seen = _stamp(operator.records['odom'][-1][1].header.stamp) + 0.05 + 1e-6
    operator.drive(1.5)
    assert max(v for v, _ in _answering(operator, seen)) > 0.1
    # A rate: neuron states stop at 0 Hz and come back at 2 Hz.
    assert operator.set_parameter('neuron_state_rate', D, 0.0).successful
    operator.spin_for(0.3)
    count = len(operator.records['neurons'])
    operator.drive(1.0)
    assert len(operator.records['neurons']) == count
    assert operator.set_parameter('neuron_state_rate', D, 2.0).successful
    operator.drive(2.0)
    assert 2 <= len(operator.records['neurons']) - count <= 6
    # Adaptation on, its trust radius, the correction timeout: reported as applied.
    for name, kind, value in (('adaptation', ParameterType.PARAMETER_BOOL, True),
                              ('adaptation_trust_radius', ParameterType.PARAMETER_DOUBLE, 0.3),
                              ('correction_timeout', ParameterType.PARAMETER_DOUBLE, 0.2)):
        assert operator.set_parameter(name, kind, value).successful, name
    _, values = operator.diagnostics(time.monotonic())
    assert values['adaptation_enabled'] == 'True'
    assert values['adaptation_trust_radius'] == '0.3'
    assert operator.set_parameter('adaptation', ParameterType.PARAMETER_BOOL, False).successful
    _, values = operator.diagnostics(time.monotonic())
    assert values['adaptation_enabled'] == 'False'
    assert 'Traceback' not in controller.text()


def _labels(operator, since):
    assert operator.spin_until(lambda: any(t > since for t, _ in operator.records['neurons']),
                               3.0)
    return [m for t, m in operator.records['neurons'] if t > since][-1].name


def _gaps(operator, since):
    times = [t for t, _ in operator.records['cmd'] if t > since]
    return max(b - a for a, b in zip(times, times[1:]))


@pytest.mark.slow
def test_policy_hot_swap_and_refusals_keep_the_old_policy_driving(rig):
    folder, allowed, _, controller, operator = rig
    _new_scene(rig)
    assert any(name.startswith('motor:') for name in _labels(operator, time.monotonic()))
    started = time.monotonic()
    result = operator.set_parameter('policy', ParameterType.PARAMETER_STRING, 'pibot_nav_gru')
    assert result.successful, result.reason
    swapped = time.monotonic()
    labels = _labels(operator, swapped + 0.2)
    assert any(name.startswith('gru0:') for name in labels), labels
    operator.drive(1.0)
    assert _gaps(operator, started) < 0.5       # swapped between two steps: no pause
    status, values = operator.diagnostics(time.monotonic())
    assert values['policy_swaps'] == '1' and int(values['resets_policy_swap']) == 1
    assert status.hardware_id == 'pibot_nav_gru'
    assert 'policy swapped between two steps' in controller.text()

    # A file from the policy directory swaps too (a retrained policy on the robot).
    mlp = allowed / 'retrained.safetensors'
    shutil.copy(load_policy('pibot_nav_mlp').source, mlp)
    assert operator.set_parameter('policy', ParameterType.PARAMETER_STRING, str(mlp)).successful
    labels = _labels(operator, time.monotonic() + 0.2)   # an MLP has no neuron state
    assert labels and all(name.startswith('sensory:') for name in labels), labels

    # Refused, with the reason; the running policy and its value stay.
    bad = bad_policy_files(allowed)
    outside = folder / 'elsewhere.safetensors'
    shutil.copy(load_policy('pibot_nav_cfc').source, outside)
    pendulum = allowed / 'pendulum.safetensors'
    shutil.copy(load_policy('pendulum_cfc').source, pendulum)
    cases = [(str(bad['truncated'][0]), 'truncated|corrupt'),
             (str(bad['flipped'][0]), 'checksum'),
             (str(outside), 'outside the policy directories'),
             (str(allowed / '..' / 'elsewhere.safetensors'), 'outside the policy directories'),
             (str(pendulum), 'observations|actions'),
             ('pibot_lane_cnn_cfc', 'observations|camera'),
             ('no_such_policy', 'neither a built-in policy')]
    import re
    for value, reason in cases:
        before = time.monotonic()
        result = operator.set_parameter('policy', ParameterType.PARAMETER_STRING, value)
        assert not result.successful, value
        assert re.search(reason, result.reason), (value, result.reason)
        operator.drive(0.5)
        assert _gaps(operator, before) < 0.5, value      # the old policy keeps commanding
    assert operator.get('policy') == str(mlp)
    _, values = operator.diagnostics(time.monotonic())
    assert values['policy_swaps'] == '2'
    assert controller.proc.poll() is None and 'Traceback' not in controller.text()


@pytest.mark.slow
def test_what_cannot_change_is_refused_with_how_to_apply_it(rig):
    _, _, _, controller, operator = rig
    S = ParameterType.PARAMETER_STRING
    for name, value, how in (('cmd_topic', '/cmd_new', 'deactivate, cleanup'),
                             ('mode', 'vector', 'deactivate, cleanup'),
                             ('command_type', 'twist', 'deactivate, cleanup'),
                             ('scan_topic', '/scan2', 'deactivate, cleanup'),
                             ('adapted_dir', '/tmp', 'restart')):
        result = operator.set_parameter(name, S, value)
        assert not result.successful and how in result.reason, (name, result.reason)
    result = operator.set_parameter('policy_dirs', ParameterType.PARAMETER_STRING_ARRAY, ['/'])
    assert not result.successful and 'start-up' in result.reason
    described = operator.call(DescribeParameters, f'/{CTL}/describe_parameters',
                              DescribeParameters.Request(names=['cmd_topic', 'max_v',
                                                                'policy'])).descriptors
    assert 'read at configure' in described[0].additional_constraints
    assert 'next control step' in described[1].additional_constraints
    assert described[1].floating_point_range[0].to_value == 10.0
    assert 'swapped in between two steps' in described[2].additional_constraints

    # As the reason says: deactivate, cleanup, set, configure, activate: the new topic is used.
    for transition, state in ((Transition.TRANSITION_DEACTIVATE, 'inactive'),
                              (Transition.TRANSITION_CLEANUP, 'unconfigured')):
        assert change_state(operator.clients, operator.node, CTL, transition, state,
                            operator.spin_until).success
    assert operator.set_parameter('cmd_topic', S, '/cmd_new').successful
    for transition, state in ((Transition.TRANSITION_CONFIGURE, 'inactive'),
                              (Transition.TRANSITION_ACTIVATE, 'active')):
        assert change_state(operator.clients, operator.node, CTL, transition, state,
                            operator.spin_until).success
    count = len(operator.records['cmd'])
    operator.drive(2.0)
    assert operator.records['new_cmd'], controller.text()
    assert len(operator.records['cmd']) == count
    assert all(math.isfinite(m.twist.linear.x) for _, m in operator.records['new_cmd'])
