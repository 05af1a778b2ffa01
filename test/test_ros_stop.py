# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A stop is a state: after SIGINT, SIGTERM or deactivate the last command out is zero.

``lnn_sim`` (free arena) and ``lnn_controller`` run as separate processes over real DDS; this
process records every command the controller publishes while the robot drives, sends the
signal (or the deactivate transition) and keeps recording until the process is gone. The
TurtleBot3 firmware executes its last command for as long as its driver lives, so the last
message on /cmd_vel must be zero and nothing but zeros may follow the first zero.
"""

import json
import signal
import sys
import time

from geometry_msgs.msg import TwistStamped
from lifecycle_msgs.msg import Transition
from lnn_control.ros import sim_messages as sm
import pytest
from ros_harness import change_state
from ros_harness import Process
from ros_harness import ros_args
from ros_harness import TestNode
from std_msgs.msg import String
from std_srvs.srv import Trigger
from test_ros_faults import CONTROLLER
from test_ros_faults import ROOT
from test_ros_faults import STARTUP

SIM = 'stopsim'
TRIES = 5


class Recorder(TestNode):
    """Records /cmd_vel and the sim's status; publishes the sim's goal on /goal_pose."""

    def __init__(self):
        super().__init__('stop_recorder', ('cmd', 'status'))
        self.node.create_subscription(TwistStamped, '/cmd_vel', self._recorder('cmd'), 100)
        self.node.create_subscription(String, f'/{SIM}/status', self._recorder('status'),
                                      sm.QOS['status'])

    def commands(self):
        return [(m.twist.linear.x, m.twist.angular.z) for _, m in self.records['cmd']]

    def send_goal(self):
        super().send_goal(*self.status()['goal_odom'])


@pytest.fixture(scope='module')
def rig(ros_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp('stop')
    sim = Process(ros_env, folder / 'sim.log',
                  [sys.executable, '-m', 'lnn_control.ros.sim_node']
                  + ros_args(SIM, seed=7, n_obstacles=0, real_time_factor=1.0), ROOT)
    recorder = Recorder()
    try:
        assert recorder.spin_until(lambda: recorder.status(), STARTUP), sim.text()
        yield ros_env, folder, sim, recorder
    finally:
        recorder.close()
        sim.stop()


def _drive(rig, name):
    """Start a controller on a new scene and return it once its commands move the robot."""
    env, folder, sim, recorder = rig
    reply = recorder.call(Trigger, f'/{SIM}/reset', Trigger.Request())
    assert reply.success, reply.message
    episode = json.loads(reply.message)['episode']
    assert recorder.spin_until(lambda: recorder.status().get('episode') == episode, 5.0)
    controller = Process(env, folder / f'{name}.log', [sys.executable, '-c', CONTROLLER]
                         + ros_args(name, policy='pibot_nav_cfc', use_sim_time=True), ROOT)
    recorder.records['cmd'].clear()
    end = time.monotonic() + STARTUP
    try:
        while sum(abs(v) > 0.05 for v, _ in recorder.commands()) < 10:
            assert time.monotonic() < end, 'the controller never drove:\n' + controller.text()
            assert controller.proc.poll() is None, controller.text()
            recorder.send_goal()     # /goal_pose is volatile: repeat until the controller drives
            recorder.spin_for(0.2)
        assert not recorder.status().get('reached'), recorder.status()
    except BaseException:
        controller.stop()
        raise
    return controller


def _check_stop(commands, log, what):
    zeros = [i for i, c in enumerate(commands) if c == (0.0, 0.0)]
    assert zeros, f'{what}: no zero command after {len(commands)} commands\n{log}'
    after = commands[zeros[0]:]
    assert all(c == (0.0, 0.0) for c in after), (
        f'{what}: a non-zero command followed the first zero: {after[:5]}\n{log}')
    assert commands[-1] == (0.0, 0.0)


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_a_signal_leaves_zero_as_the_last_command(rig, signum):
    recorder = rig[3]
    for attempt in range(TRIES):
        name = f'stopctl_{signum.name.lower()}_{attempt}'
        controller = _drive(rig, name)
        count = len(recorder.records['cmd'])
        controller.proc.send_signal(signum)
        deadline = time.monotonic() + 10.0
        while controller.proc.poll() is None and time.monotonic() < deadline:
            recorder.spin_for(0.05)
        recorder.spin_for(0.5)   # anything still in flight
        status = controller.stop()
        assert status == 0, controller.text()
        commands = recorder.commands()[count:]
        _check_stop(commands, controller.text(), f'{signum.name} try {attempt}')
        log = controller.text()
        assert 'zero command sent' in log, log


@pytest.mark.slow
def test_deactivate_leaves_zero_as_the_last_command(rig):
    recorder = rig[3]
    for attempt in range(TRIES):
        name = f'stopctl_deactivate_{attempt}'
        controller = _drive(rig, name)
        try:
            count = len(recorder.records['cmd'])
            reply = change_state(recorder.clients, recorder.node, name,
                                 Transition.TRANSITION_DEACTIVATE, 'inactive',
                                 recorder.spin_until)
            assert reply.success, controller.text()
            # The sim keeps publishing odometry and the goal keeps coming: still silent.
            for _ in range(5):
                recorder.send_goal()
                recorder.spin_for(0.2)
            commands = recorder.commands()[count:]
            _check_stop(commands, controller.text(), f'deactivate try {attempt}')
        finally:
            controller.stop()
