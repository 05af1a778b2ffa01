# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A DDS participant the security tests start in its own process (secure or not, by its env).

``python test/security_probe.py ACTION [--seconds S] [--goal X Y] [--node NAME]`` prints one
JSON line with what it saw and did:

- ``drive``: send the goal on /goal_pose until the sim reports commands, wait for the sim's
  ``reached``; report the sim status.
- ``observe``: read the controller's ``max_v`` and ``policy``, the sim status and the
  controller's /diagnostics values for ``seconds``.
- ``attack``: wait up to ``match-wait`` s for subscribers; for ``seconds``, publish goals
  and corrections (spin in place, fast) and try to set ``max_v`` to 0.01 and ``policy`` to
  a file outside the policy folders; report what matched, what answered and any error (a
  refused writer is an error, not a crash).
- ``set``: set the controller's ``max_v`` (``--value``); report the answer.
"""

import argparse
import json
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from rcl_interfaces.msg import Parameter
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import GetParameters
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from std_msgs.msg import String

CONTROLLER, SIM = '/lnn_controller', '/lnn_sim'


class Probe:
    """One node, its recordings and the helpers the actions use."""

    def __init__(self, name):
        self.node = rclpy.create_node(name)
        self.status, self.diag, self.errors = {}, {}, []
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(String, f'{SIM}/status', self._on_status, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)

    def _on_status(self, msg):
        self.status = json.loads(msg.data)

    def _on_diag(self, msg):
        for status in msg.status:
            self.diag = {kv.key: kv.value for kv in status.values}

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def spin_until(self, condition, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not condition():
            rclpy.spin_once(self.node, timeout_sec=0.02)
        return condition()

    def call(self, srv_type, name, request, timeout):
        """Call a service: the response, or None (no server found, or no answer)."""
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            return None
        future = client.call_async(request)
        self.spin_until(future.done, timeout)
        return future.result() if future.done() else None

    def get_params(self, names, timeout=10.0):
        response = self.call(GetParameters, f'{CONTROLLER}/get_parameters',
                             GetParameters.Request(names=names), timeout)
        if response is None:
            return None
        return {n: _value(v) for n, v in zip(names, response.values)}

    def set_param(self, name, value, timeout):
        request = SetParameters.Request(parameters=[Parameter(name=name, value=_param(value))])
        response = self.call(SetParameters, f'{CONTROLLER}/set_parameters', request, timeout)
        if response is None:
            return None
        result = response.results[0]
        return {'successful': result.successful, 'reason': result.reason}

    def publisher(self, msg_type, topic):
        try:
            return self.node.create_publisher(msg_type, topic, 10)
        except Exception as exc:   # a writer its permissions refuse: record, do not crash
            self.errors.append(f'{topic}: {type(exc).__name__}: {str(exc)[:200]}')
            return None


def _param(value):
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


def _value(value):
    return {ParameterType.PARAMETER_DOUBLE: value.double_value,
            ParameterType.PARAMETER_STRING: value.string_value}.get(value.type)


def _goal(x, y):
    msg = PoseStamped()
    msg.header.frame_id = 'odom'
    msg.pose.position.x, msg.pose.position.y = float(x), float(y)
    return msg


def drive(probe, args):
    pub = probe.publisher(PoseStamped, '/goal_pose')
    end = time.monotonic() + args.seconds
    goal = list(args.goal) if args.goal else None
    if goal is None:    # the scene's own goal, as the sim reports it
        probe.spin_until(lambda: 'goal_odom' in probe.status, args.seconds)
        goal = probe.status.get('goal_odom')
    started = False
    while goal and time.monotonic() < end and not probe.status.get('reached'):
        if not started:
            pub.publish(_goal(*goal))
            started = probe.status.get('commands_received', 0) > 0 and \
                probe.status.get('goal_odom') == goal
        probe.spin_for(0.3)
    return {'status': probe.status, 'diag': probe.diag}


def observe(probe, args):
    params = probe.get_params(['max_v', 'policy'])
    probe.spin_until(lambda: probe.status and probe.diag, args.seconds)
    return {'params': params, 'status': probe.status, 'diag': probe.diag}


def attack(probe, args):
    goal_pub = probe.publisher(PoseStamped, '/goal_pose') if args.goals else None
    fix_pub = probe.publisher(Twist, '/cmd_vel_teleop')
    spin = Twist()
    spin.angular.z = 2.0
    # Discovery (and, secure, the handshake) first: up to --match-wait s for a subscriber.
    pubs = [p for p in (goal_pub, fix_pub) if p is not None]
    probe.spin_until(lambda: pubs and all(p.get_subscription_count() for p in pubs),
                     args.match_wait)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        if goal_pub is not None:
            goal_pub.publish(_goal(*args.goal))
        if fix_pub is not None:
            fix_pub.publish(spin)
        probe.spin_for(0.05)
    matched = {name: pub.get_subscription_count() for name, pub in (
        ('goal_pose', goal_pub), ('cmd_vel_teleop', fix_pub)) if pub is not None}
    sets = {}
    if args.params:
        sets = {'max_v': probe.set_param('max_v', 0.01, 5.0),
                'policy': probe.set_param('policy', '/etc/passwd', 5.0)}
    return {'matched': matched, 'sets': sets, 'errors': probe.errors}


def set_value(probe, args):
    return {'set': probe.set_param('max_v', float(args.value), 10.0),
            'params': probe.get_params(['max_v'])}


ACTIONS = {'drive': drive, 'observe': observe, 'attack': attack, 'set': set_value}


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('action', choices=sorted(ACTIONS))
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--goal', type=float, nargs=2, default=None,
                        help="x y in odom (default: the scene's own goal)")
    parser.add_argument('--node', default='lnn_operator')
    parser.add_argument('--value', default='0.1')
    parser.add_argument('--match-wait', type=float, default=10.0)
    parser.add_argument('--no-goals', dest='goals', action='store_false')
    parser.add_argument('--no-params', dest='params', action='store_false')
    args, ros = parser.parse_known_args(argv)
    rclpy.init(args=ros)
    probe = Probe(args.node)
    try:
        result = ACTIONS[args.action](probe, args)
    finally:
        probe.node.destroy_node()
        rclpy.try_shutdown()
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
