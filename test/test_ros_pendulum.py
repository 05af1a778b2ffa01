# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The inverted pendulum over real DDS: lnn_sim (robot:=pendulum) and lnn_controller (vector mode).

Both nodes run as separate processes with the shipped params files, on the test's own
ROS_DOMAIN_ID; this process only reads the simulator's ~/status. The shipped liquid policies
(imitation of the LQR expert, and PPO from scratch with no expert) must hold the pole up
through ROS, each in the unchanged node with only its ``policy`` parameter set; once the
controller is killed, the effort times out and the pole falls (what the same simulator shows
with no controller at all). The episode is restarted
(``~/reset``) once the controller is up, as an operator would after starting the nodes.
"""

import json
from pathlib import Path
import subprocess
import sys
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String
from std_srvs.srv import Trigger

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 40.0   # s, process start + discovery on a loaded 2-core machine


def _start(env, tmp_path, name, module, params_file, *extra):
    log = open(tmp_path / f'{name}.log', 'w')
    cmd = [sys.executable, '-m', f'lnn_control.ros.{module}', '--ros-args',
           '--params-file', str(ROOT / 'config' / params_file), *extra]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log


@pytest.mark.slow
@pytest.mark.parametrize('policy', ['pendulum_cfc', 'ppo_pendulum_cfc'])
def test_liquid_policy_balances_the_pendulum_over_dds(ros_env, tmp_path, policy):
    sim, sim_log = _start(ros_env, tmp_path, 'sim', 'sim_node', 'pendulum_sim.yaml',
                          '-p', 'seed:=4')
    ctl, ctl_log = _start(ros_env, tmp_path, 'ctl', 'controller_node',
                          'pendulum_controller.yaml', '-p', f'policy:={policy}')
    node = rclpy.create_node('pendulum_watcher')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    status = []
    node.create_subscription(String, '/lnn_sim/status', lambda m: status.append(
        json.loads(m.data)), 10)

    def spin_until(condition, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            assert sim.poll() is None, (tmp_path / 'sim.log').read_text()
            executor.spin_once(timeout_sec=0.05)
        return condition()

    def text():
        return ((tmp_path / 'sim.log').read_text() + (tmp_path / 'ctl.log').read_text())

    try:
        # Once the controller's efforts arrive, a new episode starts (the pole may have fallen
        # while the controller process was still starting); from then the pole must stay up
        # for 8 s of simulated time.
        assert spin_until(lambda: status and status[-1]['commands_received'] > 0,
                          STARTUP), text()
        client = node.create_client(Trigger, '/lnn_sim/reset')
        assert client.wait_for_service(timeout_sec=STARTUP)
        future = client.call_async(Trigger.Request())
        executor.spin_until_future_complete(future, timeout_sec=STARTUP)
        assert future.done() and future.result().success
        assert spin_until(lambda: status[-1]['episode'] == 1, STARTUP), text()
        start = status[-1]
        assert spin_until(lambda: status[-1]['time'] > start['time'] + 8.0, 30.0), text()
        upright = status[-1]
        assert not upright['fallen'], f'{upright}\n{text()}'
        assert upright['non_finite_commands'] == 0
        assert upright['commands_received'] - start['commands_received'] > 150   # 25 Hz, 8 s
        assert abs(upright['angle']) < 0.2

        # Controller gone: its last effort times out (cmd_timeout 0.5 s) and the pole falls.
        ctl.kill()
        ctl.wait(timeout=10)
        assert spin_until(lambda: status[-1]['fallen'], 20.0), status[-1]
    finally:
        for proc in (ctl, sim):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        sim_log.close()
        ctl_log.close()
        node.destroy_node()
