# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
On the robot (Raspberry Pi of a TurtleBot3 Burger): ``lnn_controller`` only.

``ros2 launch lnn_control robot.launch.py policy:=pibot_nav_cfc``

The TurtleBot3 bringup (``turtlebot3_bringup robot.launch.py``) provides ``/scan``, ``/odom``
and takes ``/cmd_vel``; this starts the liquid controller next to it on wall-clock time. Its
watchdog stops the robot when inputs go stale (the TB3 firmware keeps the last command).

Arguments: ``policy`` (built-in name or file), ``params_file`` (controller parameters),
``namespace`` (robot topics move under it), ``use_sim_time`` (false on the robot).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

# See sim_demo.launch.py: relative names let the namespace argument apply to these topics.
ROBOT_TOPICS = ['/scan', '/odom', '/imu', '/joint_states', '/goal_pose', '/cmd_vel']


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and start lnn_controller."""
    policy = LaunchConfiguration('policy')
    params_file = LaunchConfiguration('params_file')
    namespace = LaunchConfiguration('namespace')
    use_sim_time = LaunchConfiguration('use_sim_time')
    return LaunchDescription([
        DeclareLaunchArgument('policy', default_value='pibot_nav_cfc',
                              description='built-in policy name or policy file path'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('lnn_control'), 'config',
                                                'pibot_controller.yaml']),
            description='lnn_controller parameters (YAML)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace (empty: the TB3 global topics)'),
        DeclareLaunchArgument('use_sim_time', default_value='false',
                              description='true when a simulator publishes /clock'),
        Node(
            package='lnn_control', executable='lnn_controller', name='lnn_controller',
            namespace=namespace, output='screen',
            parameters=[params_file, {
                'policy': policy,
                'use_sim_time': ParameterValue(use_sim_time, value_type=bool),
            }],
            remappings=[(topic, topic[1:]) for topic in ROBOT_TOPICS],
        ),
    ])
