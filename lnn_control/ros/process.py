# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Process start-up shared by the package's ROS executables: rclpy with our own signal handling.

rclpy's default SIGINT handler shuts the context down from the signal, while an executor may be
inside its wait set or taking a message: that surfaces as an ``RCLError`` or an invalid handle
instead of a clean exit, and a node gets no chance to publish its last message (the controller's
zero command) or close a file (the recorder's bag). Every executable therefore initialises rclpy
without it and turns SIGINT and SIGTERM (``systemctl stop``) into a flag its spin loop checks.
"""

import signal
from typing import List
from typing import Optional

import rclpy
from rclpy.signals import SignalHandlerOptions


def init_until_signal(args: Optional[List[str]] = None) -> List[str]:
    """
    Initialise rclpy with ``args``; return the stop flag SIGINT and SIGTERM set.

    The flag is a list, empty until a signal arrives, then holding the signal's name
    ('SIGINT', 'SIGTERM'): loop ``while not stop and rclpy.ok()``.

    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop: List[str] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _: stop.append(signal.Signals(number).name))
    return stop
