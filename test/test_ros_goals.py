# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The operator sees what the robot does with its goal: ``~/goal_status``, /diagnostics, the log.

``lnn_sim`` and ``lnn_controller`` over real DDS. A reachable goal is received, driven to and
reached (the controller stops; the sim agrees it is there); a goal behind the arena's wall
fails the progress check (the controller stops and says "no progress toward the goal" at
level 1) and a new goal starts it again; a goal in an unknown frame is refused and logged.
"""

import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from lnn_control.ros import sim_messages as sm
import pytest
from rclpy.qos import DurabilityPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from ros_harness import Process
from ros_harness import ros_args
from ros_harness import TestNode
from std_msgs.msg import String
from test_ros_faults import CONTROLLER
from test_ros_faults import ROOT
from test_ros_faults import STARTUP

SIM, CTL = 'goalsim', 'goalctl'
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Operator(TestNode):
    """Sends goals; records commands, the goal status, diagnostics and the sim's status."""

    def __init__(self):
        super().__init__('goal_operator', ('cmd', 'goal', 'diag', 'sim'))
        n = self.node
        n.create_subscription(TwistStamped, '/cmd_vel', self._recorder('cmd'), 100)
        n.create_subscription(String, f'/{CTL}/goal_status', self._recorder('goal'), LATCHED)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._recorder('diag'), 10)
        n.create_subscription(String, f'/{SIM}/status', self._recorder('sim'), sm.QOS['status'])

    def sim(self):
        return self.status('sim')

    def goal_status(self):
        return self.status('goal')

    def send(self, x, y, frame='odom'):
        self.send_goal(x, y, frame)

    def until(self, condition, timeout, resend=None):
        """Spin (re-sending a goal every 0.5 s: /goal_pose is volatile) until ``condition``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            if resend is not None:
                self.send(*resend)
            self.spin_for(0.5)
        return condition()

    def diagnostics(self):
        msgs = [m for _, m in self.records['diag'] if m.status[0].name.startswith(CTL)]
        return msgs[-1].status[0] if msgs else None


@pytest.fixture(scope='module')
def rig(ros_env, tmp_path_factory):
    folder = tmp_path_factory.mktemp('goals')
    sim = Process(ros_env, folder / 'sim.log', [sys.executable, '-m', 'lnn_control.ros.sim_node']
                  + ros_args(SIM, seed=7, n_obstacles=0, real_time_factor=1.0), ROOT)
    controller = Process(ros_env, folder / 'controller.log', [sys.executable, '-c', CONTROLLER]
                         + ros_args(CTL, policy='pibot_nav_cfc', use_sim_time=True,
                                    diagnostics_period=0.25, movement_time_allowance=4.0,
                                    approach_time_allowance=8.0), ROOT)
    operator = Operator()
    try:
        assert operator.spin_until(lambda: operator.sim() and operator.goal_status(),
                                   STARTUP), sim.text() + controller.text()
        yield controller, operator
    finally:
        operator.close()
        controller.stop()
        sim.stop()


@pytest.mark.slow
def test_reached_no_progress_and_refused_frames(rig):
    controller, operator = rig
    assert operator.goal_status()['state'] == 'no_goal'   # latched: heard on joining
    goal = operator.sim()['goal_odom']
    assert operator.until(lambda: operator.goal_status().get('state') == 'driving', 10.0,
                          resend=goal)
    assert operator.until(lambda: operator.goal_status().get('state') == 'reached', 60.0,
                          resend=goal), (operator.goal_status(), controller.text())
    status = operator.goal_status()
    assert status['distance'] <= 0.10 and status['time_on_goal'] > 1.0
    assert status['goal']['frame'] == 'odom'
    # The controller stopped there: zero commands from now on, and the sim agrees.
    reached = time.monotonic()
    operator.until(lambda: False, 1.5, resend=goal)       # the same goal, re-sent: no restart
    late = [m for t, m in operator.records['cmd'] if t > reached + 0.5]
    assert late and all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in late)
    assert operator.sim()['reached'], operator.sim()
    assert operator.diagnostics().message == 'goal reached: standing still'
    log = controller.text()
    assert 'goal received: (' in log and 'goal reached: ' in log

    # A goal behind the wall (5 m away in a 4 m arena): the progress check gives up.
    operator.send(5.0, 0.0, 'map')          # an unknown frame first: refused, said why
    assert operator.until(lambda: "goal refused: frame 'map'" in controller.text(), 5.0)
    assert operator.goal_status()['state'] == 'reached'
    assert operator.until(lambda: operator.goal_status().get('state') == 'no_progress', 60.0,
                          resend=(5.0, 0.0)), (operator.goal_status(), controller.text())
    failed = time.monotonic()
    operator.spin_for(1.0)
    diag = operator.diagnostics()
    assert diag.level == b'\x01' and diag.message.startswith('no progress toward the goal')
    values = {kv.key: kv.value for kv in diag.values}
    assert values['goal_state'] == 'no_progress' and values['goals_no_progress'] == '1'
    late = [m for t, m in operator.records['cmd'] if t > failed + 0.3]
    assert late and all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in late)
    assert 'goal abandoned, no progress toward it' in controller.text()
    # A new goal: it drives again.
    assert operator.until(lambda: operator.goal_status().get('state') == 'driving', 10.0,
                          resend=goal)
    assert operator.goal_status()['counts']['received'] == 3
    assert 'Traceback' not in controller.text()
