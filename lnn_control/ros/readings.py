# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
ROS messages <-> the runtime's readings and commands (no node, no logic beyond validation).

Each ``*_to_reading`` function returns ``(reading, '')`` or ``(None, reason)``: the node counts
refused messages by reason (on /diagnostics) instead of feeding bad data to the policy.

==========================  ========================  =========================================
message                     reading                   refused when (reason)
==========================  ========================  =========================================
sensor_msgs/LaserScan       ScanReading               no beams (scan_empty), non-finite or zero
                                                      angle_increment (scan_geometry)
nav_msgs/Odometry           OdomReading               frame not the odom frame or one declared
                                                      equivalent, when given (odom_frame; an
                                                      empty frame_id is taken as unknown),
                                                      non-finite pose/twist (odom_non_finite),
                                                      orientation not a unit quaternion
                                                      (odom_quaternion)
geometry_msgs/PoseStamped   Goal (odom frame)         frame not the odom frame or one declared
                                                      equivalent (goal_frame), non-finite
                                                      position (goal_non_finite)
sensor_msgs/Imu             ImuReading                non-finite values (imu_non_finite)
sensor_msgs/JointState      JointsReading             position/velocity lengths differ from the
                                                      names (joints_size), non-finite values
                                                      (joints_non_finite)
sensor_msgs/Image           ImageReading (RGB)        encoding not rgb8/bgr8/mono8
                                                      (image_encoding), not the policy's size
                                                      (image_size), step or data too short
                                                      (image_layout)
==========================  ========================  =========================================

Every conversion also refuses a malformed header stamp, a ``nanosec`` of 1e9 or more
(``scan_stamp``, ``odom_stamp``, ``goal_stamp``, ``imu_stamp``, ``joints_stamp``,
``image_stamp``): read as is it would move the reading's time by up to 4.3 s, and the
controller's dt comes from these stamps.

Non-finite lidar ranges are *not* a reason to refuse a scan: drivers report no-return beams as
NaN or inf (REP 117) and the Observer reads them.

Commands: ``COMMAND_TYPES`` maps the node's ``command_type`` parameter to the message class
and a builder ``(command, stamp, frame_id) -> message``: ``twist_stamped`` (Jazzy TB3,
ros2_control), ``twist`` (Nav2 Jazzy) and ``float64_multi_array`` (ros2_control forward
command controllers, e.g. an effort controller for the pendulum).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Tuple

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostic_msgs.msg import KeyValue
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.runtime.conv import ImageReading
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from nav_msgs.msg import Odometry
import numpy as np
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Float64MultiArray

__all__ = ['stamp_to_seconds', 'seconds_to_stamp', 'scan_to_reading', 'odom_to_reading',
           'goal_to_reading', 'imu_to_reading', 'joints_to_reading', 'COMMAND_TYPES',
           'command_to_twist', 'command_to_twist_stamped', 'command_to_float64_array',
           'diagnostic_array', 'IMAGE_ENCODINGS', 'image_to_reading',
           'image_msg', 'camera_info_msg']


def stamp_to_seconds(stamp: Time) -> float:
    """Convert a ``builtin_interfaces/Time`` to seconds (float)."""
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_stamp(seconds: float) -> Time:
    """Convert seconds to a ``builtin_interfaces/Time``."""
    nanoseconds = int(round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def _valid_stamp(stamp: Time) -> Optional[float]:
    """Return the stamp in seconds, or None when its nanosec is not below 1e9 (malformed)."""
    if not 0 <= stamp.nanosec < 1_000_000_000:
        return None
    return stamp_to_seconds(stamp)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rad) of a quaternion, ROS order (x, y, z, w)."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def scan_to_reading(msg: LaserScan) -> Tuple[Optional[ScanReading], str]:
    """Convert a LaserScan to a ScanReading; NaN/inf beams are kept (they mean no return)."""
    ranges = np.asarray(msg.ranges, dtype=np.float32)  # (N,)
    if ranges.size == 0:
        return None, 'scan_empty'
    if not _finite(msg.angle_min, msg.angle_increment) or msg.angle_increment == 0.0:
        return None, 'scan_geometry'
    stamp = _valid_stamp(msg.header.stamp)
    if stamp is None:
        return None, 'scan_stamp'
    return ScanReading(ranges=ranges, angle_min=float(msg.angle_min),
                       angle_increment=float(msg.angle_increment),
                       range_min=float(msg.range_min), range_max=float(msg.range_max),
                       stamp=stamp), ''


def odom_to_reading(msg: Odometry, odom_frame: Optional[str] = None,
                    equivalent_frames: Sequence[str] = ()) -> Tuple[Optional[OdomReading], str]:
    """
    Odometry -> OdomReading: planar pose in the odom frame, body-frame twist.

    With ``odom_frame`` given, a pose in another frame (not declared equivalent) is refused:
    the goal is taken in that frame, and comparing poses of two frames would be misreading.
    """
    header = msg.header
    if odom_frame is not None:
        frame = header.frame_id
        # The common case first: the odom frame itself, spelled the same (no list built).
        if frame and frame != odom_frame:
            frame = frame.lstrip('/')
            if frame and frame not in [f.lstrip('/') for f in (odom_frame, *equivalent_frames)]:
                return None, 'odom_frame'
    pose, twist = msg.pose.pose, msg.twist.twist
    p, q = pose.position, pose.orientation
    x, y, qx, qy, qz, qw = p.x, p.y, q.x, q.y, q.z, q.w
    v, w = twist.linear.x, twist.angular.z
    # v - v is 0.0 for a finite float and NaN for inf or NaN: one comparison for all eight
    # (and no overflow, unlike a sum of the values).
    if (x - x) + (y - y) + (qx - qx) + (qy - qy) + (qz - qz) + (qw - qw) + (v - v) \
            + (w - w) != 0.0:
        return None, 'odom_non_finite'
    # The yaw formula holds for unit quaternions only (a zero or huge one, even finite, gives
    # a wrong or NaN heading). Products of huge floats give inf, which fails the test too.
    if not abs(qx * qx + qy * qy + qz * qz + qw * qw - 1.0) <= 0.2:
        return None, 'odom_quaternion'
    stamp = header.stamp
    nanosec = stamp.nanosec
    if not 0 <= nanosec < 1_000_000_000:
        return None, 'odom_stamp'
    return OdomReading(x=x, y=y, yaw=math.atan2(2.0 * (qw * qz + qx * qy),
                                                1.0 - 2.0 * (qy * qy + qz * qz)),
                       v=v, w=w, stamp=stamp.sec + nanosec * 1e-9), ''


def goal_to_reading(msg: PoseStamped, odom_frame: str = 'odom',
                    equivalent_frames: Sequence[str] = ()) -> Tuple[Optional[Goal], str]:
    """
    Convert a PoseStamped to a Goal in the odom frame.

    Goals are taken in ``odom_frame`` or a frame declared equivalent (e.g. 'map' when map and
    odom coincide, as on a robot without localisation); any other frame is refused rather
    than misread, since this package runs no tf.
    """
    frame = msg.header.frame_id.lstrip('/')
    accepted = [odom_frame.lstrip('/')] + [f.lstrip('/') for f in equivalent_frames]
    if frame not in accepted:
        return None, 'goal_frame'
    p = msg.pose.position
    if not _finite(p.x, p.y):
        return None, 'goal_non_finite'
    stamp = _valid_stamp(msg.header.stamp)
    if stamp is None:
        return None, 'goal_stamp'
    return Goal(x=p.x, y=p.y, stamp=stamp, frame=frame), ''


def imu_to_reading(msg: Imu) -> Tuple[Optional[ImuReading], str]:
    """Imu -> ImuReading."""
    o, a, g = msg.orientation, msg.angular_velocity, msg.linear_acceleration
    values = np.array([o.x, o.y, o.z, o.w, a.x, a.y, a.z, g.x, g.y, g.z], dtype=np.float64)
    if not np.isfinite(values).all():
        return None, 'imu_non_finite'
    stamp = _valid_stamp(msg.header.stamp)
    if stamp is None:
        return None, 'imu_stamp'
    return ImuReading(orientation=values[:4], angular_velocity=values[4:7],
                      linear_acceleration=values[7:], stamp=stamp), ''


def joints_to_reading(msg: JointState) -> Tuple[Optional[JointsReading], str]:
    """Convert a JointState to a JointsReading; velocities must be present, one per joint."""
    positions = np.asarray(msg.position, dtype=np.float64)    # (J,)
    velocities = np.asarray(msg.velocity, dtype=np.float64)   # (J,)
    names = list(msg.name)
    if positions.size != velocities.size or (names and len(names) != positions.size):
        return None, 'joints_size'
    if not (np.isfinite(positions).all() and np.isfinite(velocities).all()):
        return None, 'joints_non_finite'
    stamp = _valid_stamp(msg.header.stamp)
    if stamp is None:
        return None, 'joints_stamp'
    return JointsReading(names=names, positions=positions, velocities=velocities,
                         stamp=stamp), ''


def command_to_twist(command: np.ndarray, stamp: Time = None, frame_id: str = '',
                     out: Optional[Twist] = None) -> Twist:
    """
    (v, w) -> Twist (linear.x, angular.z).

    Every builder fills ``out`` when given (a message the node reuses: constructing a nested
    message costs more than the policy step) and returns it; other fields stay zero.
    """
    msg = Twist() if out is None else out
    values = command.tolist() if type(command) is np.ndarray else command
    msg.linear.x, msg.angular.z = float(values[0]), float(values[1])
    return msg


def command_to_twist_stamped(command: np.ndarray, stamp: Time = None,
                             frame_id: str = 'base_link',
                             out: Optional[TwistStamped] = None) -> TwistStamped:
    """(v, w) -> TwistStamped in the body frame."""
    msg = TwistStamped() if out is None else out
    header = msg.header
    if stamp is not None and stamp is not header.stamp:
        header.stamp = stamp
    if header.frame_id != frame_id:
        header.frame_id = frame_id
    command_to_twist(command, out=msg.twist)
    return msg


def command_to_float64_array(command: np.ndarray, stamp: Time = None, frame_id: str = '',
                             out: Optional[Float64MultiArray] = None) -> Float64MultiArray:
    """Command vector -> Float64MultiArray (what forward command controllers take)."""
    msg = Float64MultiArray() if out is None else out
    msg.data = [float(v) for v in np.asarray(command).reshape(-1)]
    return msg


# command_type parameter -> (message class, builder, number of command values it carries).
COMMAND_TYPES: Dict[str, Tuple[type, Callable, int]] = {
    'twist_stamped': (TwistStamped, command_to_twist_stamped, 2),
    'twist': (Twist, command_to_twist, 2),
    'float64_multi_array': (Float64MultiArray, command_to_float64_array, 0),
}


def diagnostic_array(stamp: Time, name: str, hardware_id: str, level: int, message: str,
                     values: Dict[str, str]) -> DiagnosticArray:
    """One DiagnosticStatus (level 0 OK, 1 WARN, 2 ERROR) in a DiagnosticArray."""
    status = DiagnosticStatus(level=bytes([level]), name=name, message=message,
                              hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = [status]
    return msg


# -- camera images (issue 8) ----------------------------------------------------------------
# encoding -> channels; every other encoding (rgba8, 16-bit, Bayer, YUV...) is refused rather
# than guessed at. mono8 is replicated to RGB (a colour policy then sees a grey world).
IMAGE_ENCODINGS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}


def image_to_reading(msg: Image, height: Optional[int] = None, width: Optional[int] = None
                     ) -> Tuple[Optional[ImageReading], str]:
    """
    Convert a ``sensor_msgs/Image`` to an RGB :class:`ImageReading`.

    Args:
        msg: the image (row ``step`` bytes may include padding, which is dropped).
        height, width: the size the policy takes; None accepts any.

    Returns:
        ``(reading, '')`` or ``(None, reason)``: image_encoding, image_size, image_layout
        or image_stamp.

    """
    channels = IMAGE_ENCODINGS.get(msg.encoding)
    if channels is None:
        return None, 'image_encoding'
    h, w = int(msg.height), int(msg.width)
    if h < 1 or w < 1 or (height is not None and h != height) or (
            width is not None and w != width):
        return None, 'image_size'
    step = int(msg.step)
    data = np.frombuffer(msg.data, dtype=np.uint8)   # rclpy holds uint8[] as array('B')
    if step < w * channels or data.size < step * h:
        return None, 'image_layout'
    stamp = _valid_stamp(msg.header.stamp)
    if stamp is None:
        return None, 'image_stamp'
    pixels = data[:step * h].reshape(h, step)[:, :w * channels].reshape(h, w, channels)
    if msg.encoding == 'bgr8':
        pixels = pixels[:, :, ::-1]
    elif channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return ImageReading(np.ascontiguousarray(pixels), stamp), ''


def image_msg(pixels: np.ndarray, stamp: Time, frame_id: str = 'camera_optical_frame'
              ) -> Image:
    """Build an rgb8 ``sensor_msgs/Image`` of (height, width, 3) uint8 pixels."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = int(pixels.shape[1] * 3)
    msg.data = pixels.tobytes()
    return msg


def camera_info_msg(height: int, width: int, fovy_deg: float, stamp: Time,
                    frame_id: str = 'camera_optical_frame') -> CameraInfo:
    """Build the ``sensor_msgs/CameraInfo`` of an ideal pinhole camera (no distortion)."""
    fy = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    cx, cy = 0.5 * width, 0.5 * height
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(height), int(width)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [fy, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fy, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg
