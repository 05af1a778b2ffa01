# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Liquid neural network controllers (CfC, LTC, NCP wirings) for ROS 2 robots.

Layers: ``wirings`` (numpy), ``runtime`` (numpy, what the robot runs), ``models`` (torch),
``envs`` (MuJoCo), ``train`` (torch), ``ros`` (rclpy). See DESIGN.md.
"""

__version__ = '0.1.0'
