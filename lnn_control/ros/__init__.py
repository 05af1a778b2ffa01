# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 nodes and message <-> reading conversions: the only place rclpy is imported."""
