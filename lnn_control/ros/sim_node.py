# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn_sim`` node: the PiBot MuJoCo simulation as a TurtleBot3 Burger on ROS 2.

``ros2 run lnn_control lnn_sim --ros-args -p seed:=3 -p real_time_factor:=1.0``

It publishes ``/clock`` (the simulated time; run the other nodes with ``use_sim_time:=true``),
``/scan``, ``/odom``, ``/imu``, ``/joint_states`` at the robot's rates and QoS
(``lnn_control.ros.sim_messages``), and ``~/status`` (JSON: goal, distance, reached,
collision, command counters). It drives the robot from ``/cmd_vel`` like the real base (a
command older than ``cmd_timeout`` stops it, non-finite commands are ignored and counted),
moves the goal on ``/goal_pose``, and starts a new scene on ``~/reset`` (std_srvs/Trigger;
scene seeds are ``seed``, ``seed + 1``, ...). The logic lives in
``lnn_control.envs.sim_bridge.SimBridge``; this file only paces it and converts messages.

Topic names other than ``/clock`` are relative, so a namespace (``-r __ns:=/robot1``) moves
them; without one they are the TurtleBot3's ``/scan``, ``/odom``, ``/cmd_vel``, ...

The node's own timers run on the steady clock: it is the time source, so it must not use
sim time itself.

Parameters (all read once at start):
====================  =======  ==========================================================
name                  default  meaning
====================  =======  ==========================================================
seed                  0        seed of the first scene (-1: random)
n_obstacles           8        obstacles per scene (0-16)
real_time_factor      1.0      simulated s per wall s; 0 (or >= 1000): as fast as possible
cmd_vel_stamped       true     /cmd_vel is TwistStamped (Jazzy TB3); false: Twist (Nav2)
cmd_timeout           0.5      s of sim time after which a command stops applying
goal_tolerance        0.15     success radius (m)
clock_rate            100.0    /clock rate (Hz)
status_rate           2.0      ~/status rate (Hz)
odom_frame            odom     Odometry header frame
base_frame            base_footprint  Odometry child frame
scan_frame            base_scan       LaserScan frame
imu_frame             imu_link        Imu frame
robot                 pibot    pibot, or pendulum: Gymnasium's InvertedPendulum-v5
                               (``lnn_control.envs.pendulum_bridge``) publishing
                               ``/joint_states`` (slider, hinge) at 25 Hz and taking a
                               Float64MultiArray effort on ``effort_controller/commands``
                               (a ros2_control forward command controller's topic);
                               or lane: PiBotLane-v0 (issue 8,
                               ``lnn_control.envs.lane_bridge``) publishing
                               ``/camera/image_raw`` (rgb8 64 x 48) and
                               ``/camera/camera_info`` at 30 Hz, taking ``/cmd_vel``
====================  =======  ==========================================================
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.envs.lane_bridge import CAMERA_FOVY
from lnn_control.envs.lane_bridge import LaneBridge
from lnn_control.envs.pendulum_bridge import PendulumBridge
from lnn_control.envs.sim_bridge import BridgeConfig
from lnn_control.envs.sim_bridge import SimBridge
from lnn_control.ros import readings
from lnn_control.ros import sim_messages as sm
from lnn_control.ros.process import init_until_signal
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
import rclpy
from rclpy.clock import Clock
from rclpy.clock import ClockType
from rclpy.executors import ExternalShutdownException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Float64MultiArray
from std_msgs.msg import String
from std_srvs.srv import Trigger

__all__ = ['SimNode', 'main']

_PARAMETERS = {
    'seed': 0, 'n_obstacles': 8, 'real_time_factor': 1.0, 'cmd_vel_stamped': True,
    'cmd_timeout': 0.5, 'goal_tolerance': 0.15, 'clock_rate': 100.0, 'status_rate': 2.0,
    'odom_frame': 'odom', 'base_frame': 'base_footprint', 'scan_frame': 'base_scan',
    'imu_frame': 'imu_link', 'robot': 'pibot',
}
_FAST = 1000.0          # a real_time_factor this large means "as fast as possible"
_MAX_CATCH_UP = 0.25    # s of sim time per callback at most; beyond that the sim falls behind


class SimNode(Node):
    """The simulation node; see the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__('lnn_sim', **kwargs)
        # Numbers accept ints and floats alike (`real_time_factor:=0` from a command line).
        p = {name: self.declare_parameter(
            name, value, ParameterDescriptor(dynamic_typing=isinstance(value, float))).value
            for name, value in _PARAMETERS.items()}
        self.p = p
        if p['robot'] not in _ROBOTS:
            raise ValueError(f"robot must be one of {sorted(_ROBOTS)}, got {p['robot']!r}")
        self._pubs = {
            'clock': self.create_publisher(ClockMsg, '/clock', sm.QOS['clock']),
            'status': self.create_publisher(String, '~/status', sm.QOS['status']),
        }
        self._builders = {
            'clock': lambda e: sm.clock_msg(e.stamp),
            'status': lambda e: sm.status_msg(e.data),
        }
        seed = None if int(p['seed']) < 0 else int(p['seed'])
        describe = _ROBOTS[p['robot']](self, p, seed)
        self.create_service(Trigger, '~/reset', self._on_reset)
        self._rtf = float(p['real_time_factor'])
        fast = not 0.0 < self._rtf < _FAST
        period = 1e-4 if fast else max(1e-3, self.bridge.clock_period / self._rtf)
        self._sync()
        self.create_timer(period, self._on_tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f'lnn_sim: {p["robot"]}, seed {self.bridge.status()["seed"]}, '
            f'real_time_factor {"max" if fast else self._rtf}, {describe}')

    # -- robots: each builds its bridge, its sensor publishers and its command input ---------
    def _setup_pibot(self, p: Dict[str, Any], seed: Optional[int]) -> str:
        config = BridgeConfig(cmd_timeout=float(p['cmd_timeout']),
                              clock_rate=float(p['clock_rate']),
                              status_rate=float(p['status_rate']))
        self.bridge = SimBridge(n_obstacles=int(p['n_obstacles']), seed=seed, config=config,
                                goal_tolerance=float(p['goal_tolerance']))
        qos = sm.QOS
        self._pubs.update({
            'scan': self.create_publisher(LaserScan, 'scan', qos['scan']),
            'odom': self.create_publisher(Odometry, 'odom', qos['odom']),
            'imu': self.create_publisher(Imu, 'imu', qos['imu']),
            'joints': self.create_publisher(JointState, 'joint_states', qos['joints']),
        })
        self._builders.update({
            'scan': lambda e: sm.scan_msg(e.data, p['scan_frame'], 1.0 / config.scan_rate),
            'odom': lambda e: sm.odom_msg(e.data, p['odom_frame'], p['base_frame']),
            'imu': lambda e: sm.imu_msg(e.data, p['imu_frame']),
            'joints': lambda e: sm.joints_msg(e.data),
        })
        cmd_type = TwistStamped if p['cmd_vel_stamped'] else Twist
        self.create_subscription(cmd_type, 'cmd_vel', self._on_cmd_vel, qos['cmd_vel'])
        self.create_subscription(PoseStamped, 'goal_pose', self._on_goal, qos['goal_pose'])
        self._fast_step = 1.0 / config.odom_rate
        return f'/cmd_vel {cmd_type.__name__}, cmd_timeout {config.cmd_timeout} s'

    def _setup_pendulum(self, p: Dict[str, Any], seed: Optional[int]) -> str:
        self.bridge = PendulumBridge(seed=seed, cmd_timeout=float(p['cmd_timeout']),
                                     status_rate=float(p['status_rate']))
        self._pubs['joints'] = self.create_publisher(JointState, 'joint_states',
                                                     sm.QOS['joints'])
        self._builders['joints'] = lambda e: sm.joints_msg(e.data, names=None)
        self.create_subscription(Float64MultiArray, 'effort_controller/commands',
                                 self._on_effort, sm.QOS['cmd_vel'])
        self._fast_step = self.bridge.clock_period * 2
        return (f'effort_controller/commands Float64MultiArray, cmd_timeout '
                f'{self.bridge.cmd_timeout} s')

    def _setup_lane(self, p: Dict[str, Any], seed: Optional[int]) -> str:
        # Issue 8: the camera robot. Frames go out best effort like other sensor data; the
        # controller's sensor-QoS subscription matches reliable publishers too.
        self.bridge = LaneBridge(seed=seed, cmd_timeout=float(p['cmd_timeout']),
                                 status_rate=float(p['status_rate']))
        qos = sm.QOS
        self._pubs.update({
            'image': self.create_publisher(Image, 'camera/image_raw', qos['scan']),
            'camera_info': self.create_publisher(CameraInfo, 'camera/camera_info',
                                                 qos['scan']),
        })
        height, width = self.bridge.env.image_size
        frame = 'camera_optical_frame'
        self._builders.update({
            'image': lambda e: readings.image_msg(e.data.pixels, sm.stamp(e.stamp), frame),
            'camera_info': lambda e: readings.camera_info_msg(height, width, CAMERA_FOVY,
                                                              sm.stamp(e.stamp), frame),
        })
        cmd_type = TwistStamped if p['cmd_vel_stamped'] else Twist
        self.create_subscription(cmd_type, 'cmd_vel', self._on_cmd_vel, qos['cmd_vel'])
        self._fast_step = self.bridge.clock_period
        return (f'/camera/image_raw {width}x{height} rgb8 at '
                f'{1.0 / self.bridge.clock_period:g} Hz, /cmd_vel {cmd_type.__name__}')

    def _sync(self) -> None:
        self._wall0 = time.monotonic()
        self._sim0 = self.bridge.time

    def _on_tick(self) -> None:
        if not 0.0 < self._rtf < _FAST:   # one odometry period per callback: the executor
            seconds = self._fast_step        # still serves /cmd_vel between control steps
        else:
            target = self._sim0 + (time.monotonic() - self._wall0) * self._rtf
            seconds = target - self.bridge.time
            if seconds > _MAX_CATCH_UP:   # too slow for this factor: fall behind, not burst
                self._publish(self.bridge.advance(_MAX_CATCH_UP))
                self._sync()
                return
        self._publish(self.bridge.advance(seconds))

    def _publish(self, events) -> None:
        for event in events:
            self._pubs[event.kind].publish(self._builders[event.kind](event))

    def _on_cmd_vel(self, msg) -> None:
        if not self.bridge.command(*sm.twist_to_command(msg)):
            self.get_logger().warn('ignored a non-finite /cmd_vel '
                                   f'({self.bridge.non_finite_commands} so far)',
                                   throttle_duration_sec=5.0)

    def _on_effort(self, msg: Float64MultiArray) -> None:
        if not self.bridge.command(list(msg.data)):
            self.get_logger().warn('ignored an effort command that is non-finite or not one '
                                   f'value per actuator ({self.bridge.non_finite_commands} '
                                   'so far)', throttle_duration_sec=5.0)

    def _on_goal(self, msg: PoseStamped) -> None:
        goal, reason = sm.goal_from_pose(msg)
        if goal is None:
            self.get_logger().warn(f'ignored /goal_pose: {reason}')
            return
        self.bridge.set_goal(*goal)
        self._pubs['status'].publish(sm.status_msg(self.bridge.status()))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        self.bridge.reset()
        self._sync()
        status = self.bridge.status()
        self._pubs['status'].publish(sm.status_msg(status))
        response.success = True
        response.message = json.dumps({k: status[k] for k in ('episode', 'seed', 'goal')
                                       if k in status})
        return response


def main(args: Optional[List[str]] = None) -> None:
    """Run ``lnn_sim`` until SIGINT/SIGTERM (accepts ``--ros-args``); exits cleanly."""
    stop = init_until_signal(args)
    try:
        node = SimNode()
    except ValueError as error:   # an impossible parameter combination: say which, exit 2
        rclpy.logging.get_logger('lnn_sim').fatal(str(error))
        rclpy.try_shutdown()
        sys.exit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


# robot parameter -> setup method (bridge, sensor publishers, command input).
_ROBOTS: Dict[str, Callable[[SimNode, Dict[str, Any], Optional[int]], str]] = {
    'pibot': SimNode._setup_pibot, 'pendulum': SimNode._setup_pendulum,
    'lane': SimNode._setup_lane}


if __name__ == '__main__':
    main()
