# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Fixtures shared by the test modules."""

import os

import pytest

# Offscreen rendering without a display (PiBotLane-v0's camera, issue 8): mujoco picks its GL
# backend when first imported, which test collection does before any fixture runs.
if not os.environ.get('DISPLAY'):
    os.environ.setdefault('MUJOCO_GL', 'egl')


@pytest.fixture(scope='module')
def ros_env():
    """Give the module a unique ROS domain, localhost discovery and rclpy in this process."""
    import domain_coordinator
    import rclpy

    saved = dict(os.environ)
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        rclpy.init()
        try:
            yield dict(os.environ)
        finally:
            rclpy.shutdown()
            os.environ.clear()
            os.environ.update(saved)
