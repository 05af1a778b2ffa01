# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Operator corrections over real DDS: they override lnn_controller and change what it does next.

The controller runs in its own process (torch blocked) with ``adaptation:=true``; a test node
plays the robot (constant sensors, so the policy settles on one command) and the operator
(Twist on ``/cmd_vel_teleop``).
"""

import math
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from lnn_control.runtime.adapt import OnlineAdapter
from lnn_control.runtime.policy import load_policy
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import SetParameters
from std_srvs.srv import Trigger
from test_ros_controller import _wait_for_commands
from test_ros_controller import Controller
from test_ros_controller import FakeRobot

CORRECTION = (0.05, -1.0)


def _settled(robot, seconds, **publish):
    """Drive for ``seconds`` (optionally publishing a correction per tick); last command."""
    robot.commands.clear()
    ticks = int(seconds / 0.05)
    for _ in range(ticks):
        if publish.get('correction'):
            robot.teleop.publish(publish['correction'])
        robot.publish_sensors()
        robot.spin_for(0.05)
    assert robot.commands, 'no commands'
    return np.array(robot.commands[-1][1])


@pytest.mark.slow
def test_corrections_override_and_change_later_behaviour(ros_env, tmp_path):
    controller = Controller(ros_env, tmp_path, 'lnn_adapt', policy='pibot_nav_cfc',
                            adaptation='true', correction_timeout=0.3,
                            adaptation_trust_radius=50.0, adaptation_window=0,
                            adaptation_features='hidden',
                            diagnostics_period=0.3, adapted_dir=str(tmp_path / 'adapted'))
    robot = FakeRobot('fake_robot_adapt')
    robot.teleop = robot.node.create_publisher(Twist, '/cmd_vel_teleop', 10)
    diagnostics = []
    robot.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    correction = Twist()
    correction.linear.x, correction.angular.z = CORRECTION
    target = np.array(CORRECTION)
    try:
        _wait_for_commands(robot, controller)
        plain = _settled(robot, 1.5)
        assert np.abs(plain - target).max() > 0.3, plain

        # While corrections arrive they drive (through the Actuator's limits).
        overridden = _settled(robot, 2.5, correction=correction)
        np.testing.assert_allclose(overridden, target, atol=1e-6)

        # After the timeout the policy drives again, but it has learned the correction.
        learned = _settled(robot, 1.5)
        assert np.abs(learned - target).max() < 0.3 * np.abs(plain - target).max(), (
            plain, learned)

        diagnostics.clear()
        assert robot.spin_until(lambda: diagnostics, 3.0)
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert int(values['adaptation_corrections']) > 20
        assert float(values['adaptation_drift']) > 0.0
        assert values['adaptation_rollbacks'] == '0'

        reply = robot.call(Trigger, '/lnn_adapt/save_adapted', Trigger.Request())
        assert reply.success, reply.message
        saved = Path(reply.message)
        assert saved.parent == tmp_path / 'adapted' and saved.is_file()
        adapted = load_policy(saved)
        assert adapted.spec.kind == 'adapted'
        assert adapted.spec.provenance['corrections'] > 20

        # Switched off by parameter: the trained readout drives again.
        request = SetParameters.Request(parameters=[Parameter(
            name='adaptation', value=ParameterValue(type=ParameterType.PARAMETER_BOOL,
                                                    bool_value=False))])
        result = robot.call(SetParameters, '/lnn_adapt/set_parameters', request).results[0]
        assert result.successful, result.reason
        off = _settled(robot, 2.0)   # the Actuator ramps w at 3.2 rad/s^2
        gap = np.abs(plain - target).max()
        assert np.abs(off - plain).max() < 0.3 * gap, (plain, off)

        # Back on, then reset: the trained readout again (the learned one is forgotten).
        request.parameters[0].value.bool_value = True
        assert robot.call(SetParameters, '/lnn_adapt/set_parameters',
                          request).results[0].successful
        on = _settled(robot, 2.0)
        assert np.abs(on - target).max() < 0.3 * gap, (plain, on)
        reply = robot.call(Trigger, '/lnn_adapt/reset_adaptation', Trigger.Request())
        assert reply.success, reply.message
        reset = _settled(robot, 2.0)
        assert np.abs(reset - plain).max() < 0.3 * gap, (plain, reset)
        assert all(math.isfinite(x) for _, v in robot.commands for x in v)
    finally:
        robot.close()
        controller.stop()


@pytest.mark.slow
def test_default_gain_adaptation_learns_to_push_harder(ros_env, tmp_path):
    # The default (features gain): an operator who keeps driving 1.5x as fast and turning 1.5x
    # as hard as the policy teaches it to do that itself, and a correction the other way on an
    # axis (the operator's own plan) teaches nothing on that axis.
    controller = Controller(ros_env, tmp_path, 'lnn_gain', policy='pibot_nav_cfc',
                            adaptation='true', correction_timeout=0.3,
                            adaptation_prior_precision=0.01, adaptation_window=0,
                            diagnostics_period=0.3, adapted_dir=str(tmp_path / 'adapted'))
    robot = FakeRobot('fake_robot_gain')
    robot.teleop = robot.node.create_publisher(Twist, '/cmd_vel_teleop', 10)
    diagnostics = []
    robot.node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
    try:
        _wait_for_commands(robot, controller)
        plain = _settled(robot, 2.0)
        assert np.abs(plain) @ [1 / 0.22, 1 / 2.84] > 0.1, plain   # it does something
        limits = np.array([0.22, 2.84])
        wanted = np.clip(1.5 * plain, -limits, limits)
        correction = Twist()
        correction.linear.x, correction.angular.z = wanted
        overridden = _settled(robot, 2.5, correction=correction)
        np.testing.assert_allclose(overridden, wanted, atol=1e-6)
        learned = _settled(robot, 2.0)
        moving = np.abs(plain) > 0.05 * limits
        ratio = learned[moving] / plain[moving]
        assert np.all(np.abs(ratio - np.abs(wanted / plain)[moving]) < 0.1), (plain, learned)

        diagnostics.clear()
        assert robot.spin_until(lambda: diagnostics, 3.0)
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert values['adaptation_features'] == 'gain'
        gains = np.array([float(g) for g in values['adaptation_gains'].split()])
        np.testing.assert_allclose(gains[moving], (wanted / plain)[moving], atol=0.1)
        np.testing.assert_allclose(gains[~moving], 1.0, atol=1e-6)   # nothing to learn from

        # The other way round on every moving axis: a plan, not a gain; the gains stay.
        reverse = Twist()
        reverse.linear.x, reverse.angular.z = np.where(moving, -wanted, wanted)
        skipped_before = int(values['adaptation_skipped'])
        _settled(robot, 1.0, correction=reverse)
        diagnostics.clear()
        assert robot.spin_until(lambda: diagnostics, 3.0)
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert int(values['adaptation_skipped']) > skipped_before
        np.testing.assert_allclose([float(g) for g in values['adaptation_gains'].split()],
                                   gains, atol=1e-3)
        assert all(math.isfinite(x) for _, v in robot.commands for x in v)
        assert not (tmp_path / 'adapted').exists()
    finally:
        robot.close()
        controller.stop()
    # Stopped (SIGTERM) without a save: what it learned is saved on the way out, not lost.
    saved = list((tmp_path / 'adapted').glob('pibot_nav_cfc_adapted_*.safetensors'))
    assert len(saved) == 1, controller.text()[-2000:]
    kept = load_policy(saved[0])
    assert kept.spec.provenance['trigger'] == 'exit'
    adapter = OnlineAdapter(kept)
    np.testing.assert_allclose(adapter.gain, gains, atol=1e-3)
