# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The node declarations of lnn_control.ros.interfaces against the running nodes' ROS graph.

The SROS2 permissions are generated from the declarations; this test is what keeps them from
drifting from the code: ``lnn_controller`` (configured and active, so every topic and service
exists) and ``lnn_sim`` run as processes and their publishers, subscribers and services, with
types, must be exactly the declared ones.
"""

from pathlib import Path
import sys
import time

from lnn_control.ros import interfaces as ifc
import pytest
import rclpy
from ros_harness import Process
from ros_harness import ros_args

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 60.0


def _graph(node, name, namespace='/'):
    graph = {}
    for kind, query in (('publish', node.get_publisher_names_and_types_by_node),
                        ('subscribe', node.get_subscriber_names_and_types_by_node),
                        ('serve', node.get_service_names_and_types_by_node),
                        ('call', node.get_client_names_and_types_by_node)):
        graph[kind] = {topic: sorted(types) for topic, types in query(name, namespace)}
    return graph


def _declared(interfaces):
    return {kind: {n: [t] for n, t in interfaces.names(kind).items()}
            for kind in interfaces.KINDS}


def _settled(node, name, expected, timeout):
    """Spin until the graph of ``name`` equals ``expected`` (or time is up); return it."""
    end = time.monotonic() + timeout
    graph = None
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.2)
        try:
            graph = _graph(node, name)
        except Exception:   # NodeNameNonExistentError until discovery has seen the node
            continue
        if graph == expected:
            break
    return graph


CASES = {
    'pibot': ({'use_sim_time': True}, {}, 'pibot_nav_cfc'),
    'pendulum': ({'mode': 'vector', 'trigger': 'joints', 'command_type': 'float64_multi_array',
                  'cmd_topic': '/effort_controller/commands', 'max_output': 3.0},
                 {'robot': 'pendulum'}, 'pendulum_cfc'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_running_nodes_have_exactly_the_declared_interfaces(ros_env, tmp_path, case):
    controller_params, sim_params, policy = CASES[case]
    expected = {'lnn_controller': _declared(ifc.controller_interfaces(controller_params)),
                'lnn_sim': _declared(ifc.sim_interfaces(sim_params))}
    params = dict(controller_params, policy=policy)
    controller = Process(ros_env, tmp_path / 'controller.log', [
        sys.executable, '-m', 'lnn_control.ros.controller_node',
        *ros_args('lnn_controller', **params)], cwd=ROOT)
    sim = Process(ros_env, tmp_path / 'sim.log', [
        sys.executable, '-m', 'lnn_control.ros.sim_node',
        *ros_args('lnn_sim', real_time_factor=1.0, **sim_params)], cwd=ROOT)
    node = rclpy.create_node('interfaces_probe')
    try:
        for name, declared in expected.items():
            graph = _settled(node, name, declared, STARTUP)
            assert graph == declared, (
                f'{name}: the running node differs from lnn_control/ros/interfaces.py '
                f'(update the declaration, then the keystore):\n'
                f'running {graph}\ndeclared {declared}\n{controller.text()}{sim.text()}')
    finally:
        node.destroy_node()
        controller.stop()
        sim.stop()
