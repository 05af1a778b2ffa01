# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Simulator readings -> ROS messages, and the sim's incoming messages -> plain values.

The ``lnn_sim`` node publishes what a TurtleBot3 Burger on Jazzy publishes:

================  ==============================  ======================================
topic             message                         frames, QoS
================  ==============================  ======================================
``/clock``        rosgraph_msgs/Clock             best effort, depth 1 (rclpy TimeSource)
``/scan``         sensor_msgs/LaserScan           ``base_scan``; sensor data (best effort)
``/odom``         nav_msgs/Odometry               ``odom`` -> ``base_footprint``; reliable 10
``/imu``          sensor_msgs/Imu                 ``imu_link``; reliable 10
``/joint_states`` sensor_msgs/JointState          wheel_left_joint, wheel_right_joint
``~/status``      std_msgs/String (JSON)          reliable 10
================  ==============================  ======================================

It takes ``/cmd_vel`` (TwistStamped or Twist) and ``/goal_pose`` (PoseStamped). A goal in the
``odom``, ``map`` or empty frame is in the odom frame (no localisation runs, so map = odom, as
the controller's ``goal_equivalent_frames: [map]`` assumes); ``world`` is the simulator's
world frame.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Optional, Sequence, Tuple

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.ros.readings import seconds_to_stamp
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from nav_msgs.msg import Odometry
import numpy as np
from rclpy.qos import HistoryPolicy
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String

__all__ = ['stamp', 'clock_msg', 'scan_msg', 'odom_msg', 'imu_msg', 'joints_msg',
           'status_msg', 'twist_to_command', 'goal_from_pose', 'GOAL_FRAMES', 'QOS',
           'TB3_WHEEL_JOINTS']

TB3_WHEEL_JOINTS = ('wheel_left_joint', 'wheel_right_joint')   # turtlebot3_description
# goal_pose frame -> the frame SimBridge.set_goal takes.
GOAL_FRAMES = {'': 'odom', 'odom': 'odom', 'map': 'odom', 'world': 'world'}

_RELIABLE_10 = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE)
# QoS per topic, as the TurtleBot3 stack (turtlebot3_node, hls_lfcd_lds_driver) and rclpy's
# TimeSource (it subscribes /clock best effort, depth 1) use them.
QOS = {
    'clock': QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT),
    'scan': qos_profile_sensor_data,
    'odom': _RELIABLE_10,
    'imu': _RELIABLE_10,
    'joints': _RELIABLE_10,
    'status': _RELIABLE_10,
    'cmd_vel': _RELIABLE_10,
    'goal_pose': _RELIABLE_10,
}


# Seconds -> builtin_interfaces/Time, the conversion the controller's messages use.
stamp = seconds_to_stamp


def clock_msg(seconds: float) -> Clock:
    """Build the ``/clock`` message for simulated time ``seconds``."""
    return Clock(clock=stamp(seconds))


def scan_msg(reading: ScanReading, frame_id: str = 'base_scan',
             scan_time: float = 0.2) -> LaserScan:
    """Convert a ScanReading to a LaserScan (no-return beams +inf, too close -inf; REP 117)."""
    n = len(reading.ranges)
    msg = LaserScan()
    msg.header.stamp = stamp(reading.stamp)
    msg.header.frame_id = frame_id
    msg.angle_min = float(reading.angle_min)
    msg.angle_increment = float(reading.angle_increment)
    msg.angle_max = float(reading.angle_min + (n - 1) * reading.angle_increment)
    msg.scan_time = float(scan_time)
    msg.time_increment = float(scan_time / n) if n else 0.0
    msg.range_min = float(reading.range_min)
    msg.range_max = float(reading.range_max)
    msg.ranges = np.asarray(reading.ranges, dtype=np.float32).tolist()
    return msg


def odom_msg(reading: OdomReading, frame_id: str = 'odom',
             child_frame_id: str = 'base_footprint') -> Odometry:
    """Convert an OdomReading to Odometry (pose in ``frame_id``, twist in the child frame)."""
    msg = Odometry()
    msg.header.stamp = stamp(reading.stamp)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    msg.pose.pose.position.x = float(reading.x)
    msg.pose.pose.position.y = float(reading.y)
    msg.pose.pose.orientation.z = math.sin(0.5 * reading.yaw)
    msg.pose.pose.orientation.w = math.cos(0.5 * reading.yaw)
    msg.twist.twist.linear.x = float(reading.v)
    msg.twist.twist.angular.z = float(reading.w)
    return msg


def imu_msg(reading: ImuReading, frame_id: str = 'imu_link') -> Imu:
    """Convert an ImuReading to Imu (orientation x, y, z, w; gyro rad/s; acceleration m/s^2)."""
    msg = Imu()
    msg.header.stamp = stamp(reading.stamp)
    msg.header.frame_id = frame_id
    o = [float(v) for v in reading.orientation]
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = o
    g = [float(v) for v in reading.angular_velocity]
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = g
    a = [float(v) for v in reading.linear_acceleration]
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = a
    return msg


def joints_msg(reading: JointsReading,
               names: Optional[Sequence[str]] = TB3_WHEEL_JOINTS) -> JointState:
    """Convert a JointsReading to a JointState; ``names`` renames the joints (None: keep)."""
    msg = JointState()
    msg.header.stamp = stamp(reading.stamp)
    msg.name = list(names if names is not None else reading.names)
    msg.position = [float(v) for v in reading.positions]
    msg.velocity = [float(v) for v in reading.velocities]
    return msg


def status_msg(status: Dict[str, Any]) -> String:
    """Convert a status dict to a std_msgs/String of JSON (non-finite floats become null)."""
    return String(data=json.dumps(_json_safe(status), sort_keys=True))


def twist_to_command(msg: Any) -> Tuple[float, float]:
    """Read (v, w) from a Twist or TwistStamped: = (linear.x, angular.z); may be non-finite."""
    twist = msg.twist if isinstance(msg, TwistStamped) else msg
    if not isinstance(twist, Twist):
        raise TypeError(f'expected Twist or TwistStamped, got {type(msg).__name__}')
    return float(twist.linear.x), float(twist.angular.z)


def goal_from_pose(msg: PoseStamped) -> Tuple[Optional[Tuple[float, float, str]], str]:
    """Read a PoseStamped goal: ((x, y, frame), ''), frame 'odom' or 'world'; or (None, why)."""
    frame = GOAL_FRAMES.get(msg.header.frame_id.lstrip('/'))
    if frame is None:
        return None, f'goal frame {msg.header.frame_id!r} not in {sorted(GOAL_FRAMES)}'
    x, y = float(msg.pose.position.x), float(msg.pose.position.y)
    if not (math.isfinite(x) and math.isfinite(y)):
        return None, 'goal position is not finite'
    return (x, y, frame), ''


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
