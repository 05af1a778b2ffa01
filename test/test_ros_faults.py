# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fault injection over real DDS: kill -9 one of lnn_sim / lnn_controller while the robot drives.

The controller dying must leave the robot stopped by the sim's command timeout (``cmd_timeout``,
0.5 s of sim time, as diff_drive_controller does); the sim dying must make the controller's
watchdog (steady clock, ``watchdog_timeout`` 0.5 s) publish the zero command. Each test run gets
its own ROS_DOMAIN_ID and keeps discovery on localhost; child processes are always killed.
"""

import contextlib
import json
from pathlib import Path
import subprocess
import sys
import time

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import TwistStamped
from lnn_control.ros import sim_messages as sm
from lnn_control.ros.demo import stop_process
from nav_msgs.msg import Odometry
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_harness import Spinner
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 30.0      # s, bound on process start + discovery on a loaded 2-core machine
TIMEOUT = 0.5       # s, the sim's cmd_timeout and the controller's watchdog_timeout defaults
# Margin on top of the 0.5 s: one odometry/clock period (10 ms), the watchdog period (50 ms),
# DDS delivery and scheduling jitter on a shared 2-core machine.
MARGIN = 0.25
REST = 0.02     # m/s, forward speed that counts as stopped
SIM, CTL = 'faultsim', 'faultctl'
CONTROLLER = ("import sys; sys.modules['torch'] = None; "
              'from lnn_control.ros.controller_node import main; main()')


def _stamp(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


class Watcher(Spinner):
    """Records /clock, /odom, /cmd_vel and the sim's status with their arrival times."""

    def __init__(self):
        self.node = rclpy.create_node('fault_watcher')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.records = {'clock': [], 'odom': [], 'cmd': [], 'status': []}
        n = self.node
        n.create_subscription(Clock, '/clock', self._recorder('clock'), sm.QOS['clock'])
        n.create_subscription(Odometry, '/odom', self._recorder('odom'), sm.QOS['odom'])
        n.create_subscription(TwistStamped, '/cmd_vel', self._recorder('cmd'), 10)
        n.create_subscription(String, f'/{SIM}/status', self._recorder('status'),
                              sm.QOS['status'])
        self.goal_pub = n.create_publisher(PoseStamped, '/goal_pose', 10)

    def status(self):
        return json.loads(self.records['status'][-1][1].data) if self.records['status'] else {}

    def moving(self):
        if not self.records['odom']:
            return False
        twist = self.records['odom'][-1][1].twist.twist
        return abs(twist.linear.x) + abs(twist.angular.z) > 0.05

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


@contextlib.contextmanager
def _driving(ros_env, tmp_path):
    """Start lnn_sim + lnn_controller (torch blocked) and wait until the robot drives."""
    logs = {name: open(tmp_path / f'{name}.log', 'w') for name in ('sim', 'controller')}
    # No obstacles and a far goal: the robot is still on its way when a process is killed.
    sim = subprocess.Popen(
        [sys.executable, '-m', 'lnn_control.ros.sim_node', '--ros-args', '-r',
         f'__node:={SIM}', '-p', 'seed:=7', '-p', 'n_obstacles:=0', '-p',
         'real_time_factor:=1.0'], env=ros_env, cwd=ROOT, stdout=logs['sim'],
        stderr=subprocess.STDOUT)
    controller = subprocess.Popen(
        [sys.executable, '-c', CONTROLLER, '--ros-args', '-r', f'__node:={CTL}',
         '-p', 'policy:=pibot_nav_cfc', '-p', 'use_sim_time:=true'],
        env=ros_env, cwd=ROOT, stdout=logs['controller'], stderr=subprocess.STDOUT)
    watcher = Watcher()

    def text():
        for log in logs.values():
            log.flush()
        return ''.join((tmp_path / f'{name}.log').read_text() for name in logs)

    try:
        assert watcher.spin_until(lambda: watcher.status() and watcher.records['odom'],
                                  STARTUP), text()
        x, y = watcher.status()['goal_odom']
        goal = PoseStamped()
        goal.header.frame_id = 'odom'
        goal.pose.position.x, goal.pose.position.y = float(x), float(y)
        start = time.monotonic()
        # /goal_pose is volatile: repeat it until the controller drives.
        while not watcher.moving():
            assert time.monotonic() - start < STARTUP, 'the controller never drove:\n' + text()
            watcher.goal_pub.publish(goal)
            watcher.spin_for(0.3)
        watcher.spin_for(0.3)
        assert watcher.moving() and not watcher.status().get('reached'), watcher.status()
        yield sim, controller, watcher
    finally:
        watcher.close()
        stop_process(controller)
        stop_process(sim)
        for log in logs.values():
            log.close()


@pytest.mark.slow
def test_controller_killed_the_sim_stops_the_robot(ros_env, tmp_path):
    with _driving(ros_env, tmp_path) as (sim, controller, watcher):
        last_cmd = len(watcher.records['cmd'])
        controller.kill()   # SIGKILL: no shutdown hook publishes a zero command
        controller.wait()
        # Sim time of the kill: the newest /clock seen (the sim runs at real_time_factor 1).
        watcher.spin_for(0.05)
        killed_at = _stamp(watcher.records['clock'][-1][1].clock)

        def after():
            return [(_stamp(m.header.stamp), m.twist.twist) for _, m in watcher.records['odom']
                    if _stamp(m.header.stamp) > killed_at]

        # Stopped: forward speed below REST and staying there. The wheel servos brake within
        # ~0.1 s, but the body rocks on its caster for ~0.5 s after, which the wheel odometry
        # reports as an angular rate of up to ~1.4 rad/s with no net motion, so the angular
        # rate is not the criterion (measured with SimBridge: v 0.21 -> 0.00 m/s in 0.08 s).
        def stopped():
            odom = after()
            return (len(odom) > 20 and all(abs(t.linear.x) < REST for _, t in odom[-20:])
                    and watcher.status().get('cmd_timed_out'))

        assert watcher.spin_until(stopped, 5.0), watcher.status()
        assert sim.poll() is None
        odom = after()
        moving = [i for i, (_, t) in enumerate(odom) if abs(t.linear.x) >= REST]
        first_rest = odom[moving[-1] + 1 if moving else 0][0]
        print(f'controller killed at sim t={killed_at:.3f} s; forward speed below {REST} m/s '
              f'for good after {first_rest - killed_at:.3f} s of sim time')
        assert first_rest - killed_at <= TIMEOUT + MARGIN
        status = watcher.status()
        assert status['cmd_timed_out'] and status['command'] == [0.0, 0.0], status
        assert not status['collision']
        # No command came from the dead controller after the kill was seen.
        assert len(watcher.records['cmd']) - last_cmd <= 2


@pytest.mark.slow
def test_sim_killed_the_watchdog_publishes_zero(ros_env, tmp_path):
    with _driving(ros_env, tmp_path) as (sim, controller, watcher):
        assert any(abs(m.twist.linear.x) > 0.01 for _, m in watcher.records['cmd'][-10:])
        sim.kill()
        sim.wait()
        killed_at = time.monotonic()

        def zero(record):
            return (record[0] > killed_at and record[1].twist.linear.x == 0.0
                    and record[1].twist.angular.z == 0.0)

        assert watcher.spin_until(lambda: any(map(zero, watcher.records['cmd'])), 5.0)
        first_zero = next(r[0] for r in watcher.records['cmd'] if zero(r))
        print(f'sim killed; first zero /cmd_vel after {first_zero - killed_at:.3f} s (steady)')
        assert first_zero - killed_at <= TIMEOUT + MARGIN
        assert controller.poll() is None
        # The watchdog keeps stopping the robot while the inputs stay stale.
        watcher.spin_for(0.5)
        late = [m for t, m in watcher.records['cmd'] if t > first_zero]
        assert late and all(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in late)
