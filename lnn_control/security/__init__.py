# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
SROS2 security for the package's nodes: keystores, least-privilege permissions, checks.

``keystore`` makes an SROS2-layout keystore with ``cryptography`` (the ``security`` extra);
``permissions`` turns the node declarations of :mod:`lnn_control.ros.interfaces` into
DDS-Security governance and permissions documents and checks them; ``schema`` checks those
documents' structure; ``cli`` is ``lnn-control security``. No rclpy here.
"""
