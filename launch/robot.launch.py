# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
On the robot (Raspberry Pi of a TurtleBot3 Burger): ``lnn_controller`` only.

``ros2 launch lnn_control robot.launch.py policy:=pibot_nav_cfc``

The TurtleBot3 bringup (``turtlebot3_bringup robot.launch.py``) provides ``/scan``, ``/odom``
and takes ``/cmd_vel``; this starts the liquid controller next to it on wall-clock time. Its
watchdog stops the robot when inputs go stale (the TB3 firmware keeps the last command).

Arguments: ``policy`` (built-in name or file), ``params_file`` (controller parameters),
``namespace`` (robot topics move under it), ``use_sim_time`` (false on the robot),
``security`` (default true: SROS2 Enforce, the controller in enclave ``/lnn_controller``) and
``keystore`` (default ``$ROS_SECURITY_KEYSTORE``, else ``~/.lnn_control/keystore``; made by
``lnn-control security create``). With security on, only participants holding an identity of
the keystore's CA reach the controller, and only as their permissions allow; the TurtleBot3
bringup must run in the same keystore (enclave ``/tb3_bringup``, see the README, "Security").
``security:=false`` runs unsecured (a bench, no network).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch.substitutions import PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

# See sim_demo.launch.py: relative names let the namespace argument apply to these topics.
ROBOT_TOPICS = ['/scan', '/odom', '/imu', '/joint_states', '/goal_pose', '/cmd_vel']
# SROS2 enclave of the node (lnn_control.ros.interfaces.ENCLAVES; lnn-control security create).
ENCLAVE = '/lnn_controller'


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and start lnn_controller."""
    policy = LaunchConfiguration('policy')
    params_file = LaunchConfiguration('params_file')
    namespace = LaunchConfiguration('namespace')
    use_sim_time = LaunchConfiguration('use_sim_time')
    secure = IfCondition(LaunchConfiguration('security'))
    keystore = LaunchConfiguration('keystore')
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
        DeclareLaunchArgument('security', default_value='true',
                              description='SROS2: authenticate, encrypt and enforce the '
                                          "keystore's permissions (false: no security)"),
        DeclareLaunchArgument(
            'keystore',
            default_value=EnvironmentVariable(
                'ROS_SECURITY_KEYSTORE',
                default_value=PathJoinSubstitution([EnvironmentVariable('HOME'), '.lnn_control',
                                                    'keystore'])),
            description='SROS2 keystore (lnn-control security create KEYSTORE)'),
        SetEnvironmentVariable('ROS_SECURITY_ENABLE', 'true', condition=secure),
        SetEnvironmentVariable('ROS_SECURITY_STRATEGY', 'Enforce', condition=secure),
        SetEnvironmentVariable('ROS_SECURITY_KEYSTORE', keystore, condition=secure),
        Node(
            package='lnn_control', executable='lnn_controller', name='lnn_controller',
            namespace=namespace, output='screen',
            parameters=[params_file, {
                'policy': policy,
                'use_sim_time': ParameterValue(use_sim_time, value_type=bool),
            }],
            remappings=[(topic, topic[1:]) for topic in ROBOT_TOPICS],
            # Used only when ROS_SECURITY_ENABLE is true; a missing enclave stops the node.
            ros_arguments=['--enclave', ENCLAVE],
        ),
    ])
