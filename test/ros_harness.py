# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Pieces the ROS test modules share: node processes, spinning, sensor messages, services."""

import math
import subprocess
import time

from geometry_msgs.msg import PoseStamped
from lnn_control.ros.demo import stop_process
from lnn_control.ros.readings import seconds_to_stamp
from nav_msgs.msg import Odometry
from sensor_msgs.msg import LaserScan


def ros_args(name, **params):
    """Return ``--ros-args`` renaming the node to ``name`` and setting ``params`` (-p)."""
    args = ['--ros-args', '-r', f'__node:={name}']
    for key, value in params.items():
        args += ['-p', f'{key}:={str(value).lower() if isinstance(value, bool) else value}']
    return args


class Process:
    """A node in its own process (``args`` from the interpreter on); output in a log file."""

    def __init__(self, env, log_path, args, cwd=None):
        self.log_path = log_path
        self.log = open(log_path, 'w')
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self):
        """SIGTERM (a node sends its last zero command), SIGKILL after 10 s; the exit status."""
        stop_process(self.proc)
        self.log.close()
        return self.proc.returncode


class Spinner:
    """Spinning helpers for a test-side node: needs ``executor`` and, to record, ``records``."""

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, condition, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.01)
        return condition()

    def _recorder(self, kind):
        """Return a callback appending (arrival time, message) to ``records[kind]``."""
        def record(msg):
            self.records[kind].append((time.monotonic(), msg))
        return record


def sensor_messages(stamp, ranges, goal=(2.0, 1.0), goal_frame='odom'):
    """Return a LaserScan (360 beams, TB3 limits), an Odometry at rest and a goal, one stamp."""
    scan = LaserScan()
    scan.header.stamp = seconds_to_stamp(stamp)
    scan.header.frame_id = 'base_scan'
    scan.angle_increment = 2 * math.pi / 360
    scan.range_min, scan.range_max = 0.12, 3.5
    scan.ranges = list(ranges)
    odom = Odometry()
    odom.header.stamp = scan.header.stamp
    odom.header.frame_id = 'odom'
    odom.pose.pose.orientation.w = 1.0
    msg = PoseStamped()
    msg.header.stamp = scan.header.stamp
    msg.header.frame_id = goal_frame
    msg.pose.position.x, msg.pose.position.y = goal
    return scan, odom, msg


# Services whose request can be sent twice with the same effect as once.
IDEMPOTENT = ('get_parameters', 'set_parameters', 'set_parameters_atomically',
              'list_parameters', 'describe_parameters', 'get_parameter_types', 'get_state')


def call_service(clients, node, srv_type, name, request, wait, timeout=10.0, resend=3.0):
    """
    Call a service and return its response; idempotent requests are sent again until answered.

    A client whose response reader the server has not matched yet loses the response (the
    server drops it after a short wait: ros2/rmw_fastrtps#390, #467), and on a loaded machine
    discovery can lag a few seconds behind ``wait_for_service``. Requests that are safe to
    repeat (parameters, lifecycle state) are therefore sent again every ``resend`` seconds
    until ``timeout``; any other request is sent once and waited for. ``clients`` caches one
    client per service so that later calls reuse a matched client. ``wait(condition,
    seconds)`` spins the caller's executor until the condition holds or time runs out.

    """
    client = clients.get((srv_type, name))
    if client is None:
        client = clients[(srv_type, name)] = node.create_client(srv_type, name)
    end = time.monotonic() + timeout
    assert client.wait_for_service(timeout_sec=timeout), f'no service {name}'
    repeat = name.rsplit('/', 1)[-1] in IDEMPOTENT
    sent = 0
    while True:
        future = client.call_async(request)
        sent += 1
        left = end - time.monotonic()
        if wait(future.done, min(resend, left) if repeat else left):
            return future.result()
        client.remove_pending_request(future)
        if not repeat or time.monotonic() >= end:
            raise AssertionError(f'{name} did not answer ({sent} request(s) in {timeout} s)')


def change_state(clients, node, name, transition, goal, wait, timeout=15.0, resend=3.0):
    """
    Request lifecycle ``transition`` of node ``name`` until it is in state ``goal``.

    ``~/change_state`` is not idempotent, so it is not simply sent again like the parameter
    services: when no answer comes within ``resend`` seconds (a request or response lost to
    a reader the other side has not matched yet), ``~/get_state`` tells whether the first
    request took effect before another is sent. Returns the ChangeState response, or a
    stand-in with ``success = True`` when the state was reached without an answer.
    """
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    end = time.monotonic() + timeout
    while True:
        try:
            return call_service(clients, node, ChangeState, f'/{name}/change_state',
                                ChangeState.Request(transition=Transition(id=transition)),
                                wait, timeout=resend)
        except AssertionError:
            if time.monotonic() >= end:
                raise
        state = call_service(clients, node, GetState, f'/{name}/get_state',
                             GetState.Request(), wait, timeout=max(resend, end - time.monotonic()))
        if state.current_state.label == goal:
            return ChangeState.Response(success=True)


class TestNode(Spinner):
    """
    A test-side node with its executor, records, cached service clients and a goal publisher.

    ``records`` holds ``kinds`` (each a list of (arrival time, message), filled by
    ``_recorder(kind)`` subscriptions the subclass creates); ``status`` reads the newest JSON
    ``records['status']`` message (a node's ``~/status``), ``send_goal`` publishes a goal.
    """

    __test__ = False   # not a test class, whatever pytest makes of the name

    def __init__(self, name, kinds=('status',)):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.node = rclpy.create_node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.records = {kind: [] for kind in kinds}
        self.goal_pub = self.node.create_publisher(PoseStamped, '/goal_pose', 10)
        self.clients = {}   # (type, service) -> client, see call_service

    def status(self, kind='status'):
        """Return the newest JSON message of ``records[kind]`` as a dict ({} before one)."""
        import json
        return json.loads(self.records[kind][-1][1].data) if self.records[kind] else {}

    def send_goal(self, x, y, frame='odom'):
        """Publish a goal at (x, y) in ``frame``."""
        goal = PoseStamped()
        goal.header.frame_id = frame
        goal.pose.position.x, goal.pose.position.y = float(x), float(y)
        self.goal_pub.publish(goal)

    def call(self, srv_type, name, request, timeout=10.0):
        """Call a service (see :func:`call_service`)."""
        return call_service(self.clients, self.node, srv_type, name, request,
                            self.spin_until, timeout)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
