# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Closed-loop demo: the MuJoCo PiBot (``lnn_sim``) driven by a liquid policy (``lnn_controller``).

``ros2 launch lnn_control sim_demo.launch.py policy:=pibot_nav_cfc namespace:=robot1``

``lnn_sim`` publishes ``/clock`` and the TurtleBot3 topics; ``lnn_controller`` runs on sim time
(``use_sim_time: true``), so the policy's dt is the simulated time between odometry stamps even
when the simulation runs faster or slower than real time (``real_time_factor``). Send a goal
with RViz's "2D Goal Pose" (``/goal_pose``, frame odom or map) and watch ``lnn_sim/status``.

Arguments: ``policy`` (built-in name or file), ``params_file`` (controller parameters),
``sim_params_file``, ``namespace`` (robot topics move under it; ``/clock`` stays global),
``seed``, ``n_obstacles``, ``real_time_factor``, ``security`` (default false here: a
simulation; true runs both nodes under SROS2 Enforce in enclaves ``/lnn_sim`` and
``/lnn_controller``) and ``keystore`` (``lnn-control security create KEYSTORE --use-sim-time``:
the controller then reads ``/clock``).

The inverted pendulum instead of the PiBot (``robot: pendulum`` in its sim params)::

    CONFIG=$(ros2 pkg prefix lnn_control)/share/lnn_control/config
    ros2 launch lnn_control sim_demo.launch.py policy:=pendulum_cfc \
        params_file:=$CONFIG/pendulum_controller.yaml sim_params_file:=$CONFIG/pendulum_sim.yaml
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

# The controller's topic parameters default to absolute TB3 names; remapping them to relative
# names makes the namespace argument apply to them as it does to lnn_sim's.
ROBOT_TOPICS = ['/scan', '/odom', '/imu', '/joint_states', '/goal_pose', '/cmd_vel',
                '/effort_controller/commands']
# SROS2 enclaves (lnn_control.ros.interfaces.ENCLAVES; lnn-control security create).
ENCLAVES = {'lnn_sim': '/lnn_sim', 'lnn_controller': '/lnn_controller'}


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and start lnn_sim and lnn_controller."""
    share = FindPackageShare('lnn_control')
    policy = LaunchConfiguration('policy')
    params_file = LaunchConfiguration('params_file')
    sim_params_file = LaunchConfiguration('sim_params_file')
    namespace = LaunchConfiguration('namespace')
    seed = LaunchConfiguration('seed')
    n_obstacles = LaunchConfiguration('n_obstacles')
    real_time_factor = LaunchConfiguration('real_time_factor')
    secure = IfCondition(LaunchConfiguration('security'))
    return LaunchDescription([
        DeclareLaunchArgument('policy', default_value='pibot_nav_cfc',
                              description='built-in policy name or policy file path'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([share, 'config', 'pibot_controller.yaml']),
            description='lnn_controller parameters (YAML)'),
        DeclareLaunchArgument(
            'sim_params_file',
            default_value=PathJoinSubstitution([share, 'config', 'pibot_sim.yaml']),
            description='lnn_sim parameters (YAML)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='robot namespace (empty: the TB3 global topics)'),
        DeclareLaunchArgument('seed', default_value='0', description='first scene seed'),
        DeclareLaunchArgument('n_obstacles', default_value='8',
                              description='obstacles per scene (0-16)'),
        DeclareLaunchArgument('real_time_factor', default_value='1.0',
                              description='sim s per wall s; 0: as fast as possible'),
        DeclareLaunchArgument('security', default_value='false',
                              description='SROS2 Enforce with the keystore (true/false)'),
        DeclareLaunchArgument(
            'keystore',
            default_value=EnvironmentVariable(
                'ROS_SECURITY_KEYSTORE',
                default_value=PathJoinSubstitution([EnvironmentVariable('HOME'), '.lnn_control',
                                                    'keystore'])),
            description='SROS2 keystore (lnn-control security create KEYSTORE --use-sim-time)'),
        SetEnvironmentVariable('ROS_SECURITY_ENABLE', 'true', condition=secure),
        SetEnvironmentVariable('ROS_SECURITY_STRATEGY', 'Enforce', condition=secure),
        SetEnvironmentVariable('ROS_SECURITY_KEYSTORE', LaunchConfiguration('keystore'),
                               condition=secure),
        Node(
            package='lnn_control', executable='lnn_sim', name='lnn_sim', namespace=namespace,
            output='screen',
            parameters=[sim_params_file, {
                'seed': ParameterValue(seed, value_type=int),
                'n_obstacles': ParameterValue(n_obstacles, value_type=int),
                'real_time_factor': ParameterValue(real_time_factor, value_type=float),
            }],
            ros_arguments=['--enclave', ENCLAVES['lnn_sim']],
        ),
        Node(
            package='lnn_control', executable='lnn_controller', name='lnn_controller',
            namespace=namespace, output='screen',
            parameters=[params_file, {'policy': policy, 'use_sim_time': True}],
            remappings=[(topic, topic[1:]) for topic in ROBOT_TOPICS],
            ros_arguments=['--enclave', ENCLAVES['lnn_controller']],
        ),
    ])
