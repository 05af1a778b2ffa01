# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn_controller`` node's own settings (topics, message types, frames, files), ROS-free.

The controller's parameters are the fields of three dataclasses: :class:`NodeConfig` (this
module: what only the ROS node needs), :class:`~lnn_control.runtime.controller.ControllerConfig`
(the core) and :class:`~lnn_control.runtime.adapt.AdaptationConfig` (online adaptation, as
``adaptation_<field>``); :mod:`lnn_control.ros.parameters` declares them on the node. The
topic defaults here (:data:`TOPICS`) are the TurtleBot3 Jazzy names, used by the node, the
bag tools and the command line alike.

This module imports no ROS package, so tools without rclpy (the keystore generator, bag
readers, the CLI) read the same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import List, Optional, Sequence

from lnn_control.runtime.settings import setting

__all__ = ['NodeConfig', 'TOPICS', 'COMMAND_TYPE_NAMES', 'policy_refusal',
           'DEFAULT_POLICY_DIR']

# Topic of each role, TurtleBot3 Burger on Jazzy (DESIGN.md, "Topics of the Pi robot").
TOPICS = {'scan': '/scan', 'odom': '/odom', 'goal': '/goal_pose', 'imu': '/imu',
          'joints': '/joint_states', 'image': '/camera/image_raw', 'cmd': '/cmd_vel',
          'correction': '/cmd_vel_teleop'}
COMMAND_TYPE_NAMES = ('twist_stamped', 'twist', 'float64_multi_array')
DEFAULT_POLICY_DIR = '~/.lnn_control/policies'


def _topic(role: str, doc: str) -> str:
    return setting(TOPICS[role], doc, apply='configure')


@dataclass
class NodeConfig:
    """
    Settings of the ROS node around the controller core (each one a parameter).

    Attributes:
        autostart: configure and activate at start (off under a lifecycle manager).
        policy: a built-in policy name or a policy file; set on a running node it is loaded,
            checked and swapped in between two steps.
        policy_dirs: directories a policy set at run time may come from (built-in names are
            always allowed; the policy given at start-up, by the params file or ``-p``, is
            trusted as the robot's own configuration).
        command_type, *_topic, correction_type: the node's interfaces (read at configure).
        odom_frame, goal_equivalent_frames: frames goals and odometry must be given in.
        base_frame, command_stamp: the TwistStamped command's frame and stamp.
        watchdog_period, diagnostics_period: timer periods.
        goal_status_period: how often ``~/goal_status`` is published besides its changes.
        adapted_dir, adaptation_autosave: where learned readouts are saved, and whether on
            every stop.
        executor: the rclpy executor that spins the node (``controller_node.EXECUTORS``).

    """

    autostart: bool = setting(True, 'configure and activate on start (off under a lifecycle '
                              'manager)', apply='start')
    policy: str = setting('pibot_nav_cfc', 'policy file path or built-in policy name; a new '
                          'value is loaded, checked and hot-swapped', apply='swap')
    policy_dirs: List[str] = setting(
        doc='directories a policy set at run time may come from (built-in names always '
            'may); the start-up policy is trusted', apply='start',
        default_factory=lambda: [DEFAULT_POLICY_DIR])
    command_type: str = setting('twist_stamped', 'command message type',
                                choices=COMMAND_TYPE_NAMES, apply='configure')
    scan_topic: str = _topic('scan', 'LaserScan input')
    odom_topic: str = _topic('odom', 'Odometry input')
    goal_topic: str = _topic('goal', 'PoseStamped goal input')
    imu_topic: str = _topic('imu', 'Imu input')
    joints_topic: str = _topic('joints', 'JointState input (vector mode)')
    image_topic: str = _topic('image', 'Image input (camera mode: rgb8, bgr8, mono8)')
    cmd_topic: str = _topic('cmd', 'command output')
    correction_topic: str = _topic('correction', 'operator commands that override the policy')
    correction_type: str = setting('twist', 'correction message type',
                                   choices=('twist', 'twist_stamped'), apply='configure')
    odom_frame: str = setting('odom', 'frame goals and odometry must be given in')
    goal_equivalent_frames: List[str] = setting(
        doc='frames taken as the odom frame (e.g. map)', default_factory=list)
    base_frame: str = setting('base_link', 'frame_id of TwistStamped commands')
    command_stamp: str = setting('now', 'TwistStamped stamp: now (node clock) or input (the '
                                 'stamp of the trigger message the command was computed '
                                 'from, for latency tracing)', choices=('now', 'input'))
    watchdog_period: float = setting(0.05, 'watchdog check period (steady clock)',
                                     low=0.005, high=1.0, unit='s')
    diagnostics_period: float = setting(1.0, '/diagnostics period', low=0.05, high=60.0,
                                        unit='s')
    goal_status_period: float = setting(1.0, '~/goal_status period besides its changes',
                                        low=0.05, high=60.0, unit='s')
    adapted_dir: str = setting('~/.lnn_control/adapted', 'where ~/save_adapted and the '
                               'autosave write new policy files', apply='start')
    adaptation_autosave: bool = setting(True, 'on deactivate, cleanup, shutdown and exit, save '
                                        'what was learned since the last save to adapted_dir')
    executor: str = setting('events', "rclpy executor: events (rclpy's C++ EventsExecutor, "
                            'about half the CPU per message) or single_threaded',
                            choices=('events', 'single_threaded'), apply='start')


def policy_refusal(value: str, dirs: Sequence[str], builtins: Sequence[str]) -> Optional[str]:
    """
    Return why ``value`` may not be loaded as a policy at run time, or None if it may.

    A built-in name always may; a file only if its real path (symlinks resolved) lies under
    one of ``dirs`` (``~`` expanded). The check runs before the file is opened, so a remote
    participant cannot make the controller read an arbitrary file on the robot.
    """
    if value in builtins:
        return None
    path = Path(os.path.expanduser(value))
    if os.sep not in value and path.suffix not in ('.safetensors', '.npz'):
        return (f'policy {value!r} is neither a built-in policy ({", ".join(builtins)}) nor a '
                f'policy file')
    real = path.resolve()
    allowed = [Path(os.path.expanduser(d)).resolve() for d in dirs if d]
    for folder in allowed:
        if real == folder or folder in real.parents:
            return None
    where = ', '.join(str(d) for d in allowed) or 'none configured'
    return (f'policy file {str(real)!r} is outside the policy directories ({where}); copy it '
            f'there or add its directory to policy_dirs in the params file (read at start-up)')
