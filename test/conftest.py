# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Fixtures shared by the test modules."""

import os

import pytest


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
