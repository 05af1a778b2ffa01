# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The message side of ``lnn_controller``: its publishers, subscriptions, timers and services.

:class:`ControllerIO` is the lifecycle node :class:`~lnn_control.ros.controller_node.
LnnController` derives from; it maps the core's inputs to messages and topics
(:data:`INPUT_MESSAGES`), publishes what the core returns, and reports. Which inputs exist is
the input mode's business (:mod:`lnn_control.runtime.inputs`); nothing here decides anything.
"""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.ros import readings
from lnn_control.ros.neuron_state import neuron_state_msg
from lnn_control.ros.node_config import NodeConfig
from lnn_control.ros.parameters import Group
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from nav_msgs.msg import Odometry
from rclpy.clock import Clock
from rclpy.clock import ClockType
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import Node
from rclpy.qos import DurabilityPolicy
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import Image
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_msgs.msg import String
from std_srvs.srv import Trigger

__all__ = ['ControllerIO', 'GROUPS', 'INPUT_MESSAGES']

# The parameters of the controller: these dataclasses' fields (lnn_control.ros.parameters).
GROUPS = (Group(NodeConfig), Group(ControllerConfig), Group(AdaptationConfig, 'adaptation_'))
# input -> (message type, its NodeConfig topic field, QoS). Sensors are best-effort readers
# (sensor QoS matches reliable and best-effort writers); the goal is a command: reliable.
INPUT_MESSAGES: Dict[str, Tuple[type, str, Any]] = {
    'scan': (LaserScan, 'scan_topic', qos_profile_sensor_data),
    'odom': (Odometry, 'odom_topic', qos_profile_sensor_data),
    'goal': (PoseStamped, 'goal_topic', 10),
    'imu': (Imu, 'imu_topic', qos_profile_sensor_data),
    'joints': (JointState, 'joints_topic', qos_profile_sensor_data),
    'image': (Image, 'image_topic', qos_profile_sensor_data),
}
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
Guard = Callable[[str, Callable[..., None]], Callable[..., None]]


def _refuse_invalid_transitions(handler: Any, logger: Any) -> Any:
    """
    Wrap the ``~/change_state`` service callback: an invalid transition answers success=False.

    rclpy (Jazzy 7.1) lets the state machine's RCLError for a transition id that is not valid
    in the current state (e.g. activate while unconfigured) escape the service callback, which
    ends the node's process; a mistyped ``ros2 lifecycle set`` must not stop the controller.
    """
    def change_state(request: Any, response: Any) -> Any:
        try:
            return handler(request, response)
        except rclpy_implementation.RCLError as exc:
            logger.warning(f'refused lifecycle transition {request.transition.id} '
                           f'{request.transition.label!r}: {exc}')
            response.success = False
            return response
    return change_state


class ControllerIO(Node):
    """Publishers, subscriptions, timers and services of the controller node."""

    state: str
    table: Any

    def __init__(self, node_name: str, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        service = getattr(self, '_service_change_state', None)
        if service is not None:
            service.callback = _refuse_invalid_transitions(service.callback, self.get_logger())
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.core: Optional[ControllerCore] = None
        self.settings: Optional[NodeConfig] = None
        self.fault = ''
        self._io_pubs: Dict[str, Any] = {}
        self._io_services: List[Any] = []
        self._io_subs: List[Any] = []
        self._io_timers: List[Any] = []
        self._neuron_names: List[str] = []

    # -- outputs -----------------------------------------------------------------------------
    def create_outputs(self) -> None:
        """Command, report publishers and services (configure)."""
        s = self.settings
        msg_type, self._build_command, _ = readings.COMMAND_TYPES[s.command_type]
        # Reused for every command: constructing a nested message costs more than a step.
        self._cmd_msg = msg_type()
        self._cmd_stamp = getattr(getattr(self._cmd_msg, 'header', None), 'stamp', None)
        # The node's (ROS, maybe sim) clock read without building rclpy Time objects.
        self._clock_handle = self.get_clock().handle
        self._io_pubs = {
            'cmd': self.create_lifecycle_publisher(msg_type, s.cmd_topic, COMMAND_QOS),
            'neuron': self.create_lifecycle_publisher(JointState, '~/neuron_state', 10),
            'diag': self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', 10)}
        if self.core.goals is not None:
            # Not a lifecycle publisher: an operator reads the status while inactive too.
            self._io_pubs['goal'] = self.create_publisher(String, '~/goal_status', LATCHED)
        self._neuron_names = self.core.neuron_report().labels
        self._io_services = [
            self.create_service(Trigger, '~/reset', self._on_reset),
            self.create_service(Trigger, '~/reset_adaptation', self._on_reset_adaptation),
            self.create_service(Trigger, '~/save_adapted', self._on_save_adapted)]
        self.fault = ''
        self.publish_goal_status()

    def destroy_outputs(self) -> None:
        """Drop the publishers, services and the core (cleanup, shutdown, error)."""
        self.teardown()
        for srv in self._io_services:
            self.destroy_service(srv)
        for name, pub in self._io_pubs.items():
            if name == 'goal':
                self.destroy_publisher(pub)
            else:
                self.destroy_lifecycle_publisher(pub)
        self._io_services, self._io_pubs = [], {}
        self.core = None

    def publish_command(self, command: Any, stamp: Any = None, force: bool = False) -> bool:
        """
        Publish a command while active; returns whether it went out.

        Only ``force`` (the zero of a stop) publishes once the core is halted: a halted
        controller's last command is the zero it stopped with.
        """
        pub = self._io_pubs.get('cmd')
        if pub is None or self.state != 'active' or (
                not force and self.core is not None and self.core.halted is not None):
            return False
        if stamp is None and self._cmd_stamp is not None:
            # Now on the node's clock (sim time when use_sim_time is set), written into the
            # reused message: one clock read, no rclpy Time or builtin Time built.
            handle = self._clock_handle
            with handle:
                nanoseconds = handle.get_now().nanoseconds
            stamp = self._cmd_stamp
            stamp.sec, stamp.nanosec = divmod(nanoseconds, 1_000_000_000)
        pub.publish(self._build_command(command, stamp, self.settings.base_frame,
                                        out=self._cmd_msg))
        return True

    def flush_command(self, timeout: float = 1.0) -> None:
        """Wait until reliable subscribers acknowledged the last command (at most timeout)."""
        pub = self._io_pubs.get('cmd')
        if pub is not None:
            pub.wait_for_all_acked(rclpy_duration(timeout))

    def log_events(self) -> None:
        """Log what the core reports (goals received, reached, abandoned) and its status."""
        events = self.core.drain_events()
        logger = self.get_logger()
        for level, text in events:
            # One call site per severity: rclpy refuses to log two severities from one.
            if level == 'warn':
                logger.warning(text)
            else:
                logger.info(text)
        if events:
            self.publish_goal_status()

    def publish_goal_status(self) -> None:
        """Publish ``~/goal_status`` (latched JSON) in goal modes."""
        pub = self._io_pubs.get('goal')
        if pub is not None and self.core is not None:
            pub.publish(String(data=self.goal_status_json()))

    def goal_status_json(self) -> str:
        raise NotImplementedError

    # -- inputs ------------------------------------------------------------------------------
    def subscribe(self, guard: Guard) -> None:
        """Subscribe the input mode's inputs and the corrections (activate)."""
        core, s = self.core, self.settings
        self._io_subs = []
        for name in core.mode.inputs:
            if name == 'odom' and core.config.mode == 'camera' and 'odom' not in core.required:
                continue     # a camera policy that does not take the speed
            msg_type, topic, qos = INPUT_MESSAGES[name]
            self._io_subs.append(self.create_subscription(
                msg_type, getattr(s, topic), guard(name, self._input(name)), qos))
        stamped = s.correction_type == 'twist_stamped'
        self._io_subs.append(self.create_subscription(
            TwistStamped if stamped else Twist, s.correction_topic,
            guard('correction', self._correction(stamped)), 10))

    def teardown(self) -> None:
        """Destroy the subscriptions and timers: nothing can step or publish afterwards."""
        for sub in self._io_subs:
            self.destroy_subscription(sub)
        for timer in self._io_timers:
            self.destroy_timer(timer)
        self._io_subs, self._io_timers = [], []

    def _converter(self, name: str) -> Callable[[Any], Tuple[Any, str]]:
        if name == 'odom':
            return lambda msg: readings.odom_to_reading(
                msg, self.settings.odom_frame, self.settings.goal_equivalent_frames)
        if name == 'goal':
            return lambda msg: readings.goal_to_reading(
                msg, self.settings.odom_frame, self.settings.goal_equivalent_frames)
        if name == 'image':
            # Frames of the policy's size only: a wrong camera set-up is refused (image_size).
            height, width, _ = self.core.image_shape
            return lambda msg: readings.image_to_reading(msg, height, width)
        return {'scan': readings.scan_to_reading, 'imu': readings.imu_to_reading,
                'joints': readings.joints_to_reading}[name]

    def _input(self, name: str) -> Callable[[Any], None]:
        core, convert, monotonic = self.core, self._converter(name), time.monotonic

        def callback(msg: Any) -> None:
            reading, reason = convert(msg)
            if reading is None:
                core.reject(reason)
                if reason == 'goal_frame':
                    self._frame_refused(msg)
                return
            now = monotonic()
            command = core.feed(name, reading, now)
            if core.events:
                self.log_events()
            if command is not None:
                self.publish_command(command, msg.header.stamp
                                     if self.settings.command_stamp == 'input' else None)
                if core.neuron_state_due(now):
                    self._io_pubs['neuron'].publish(neuron_state_msg(
                        core.neuron_report(), msg.header.stamp, self._neuron_names))
        return callback

    def _frame_refused(self, msg: Any) -> None:
        s = self.settings
        self.get_logger().warning(
            f'goal refused: frame {msg.header.frame_id!r} is not odom_frame {s.odom_frame!r} '
            f'nor in goal_equivalent_frames {s.goal_equivalent_frames} (this node runs no '
            f'tf: send goals in {s.odom_frame!r}, or declare the frame equivalent)',
            throttle_duration_sec=5.0)

    def _correction(self, stamped: bool) -> Callable[[Any], None]:
        core, monotonic = self.core, time.monotonic

        def callback(msg: Any) -> None:
            twist = msg.twist if stamped else msg
            core.correct((twist.linear.x, twist.angular.z), monotonic())
        return callback

    # -- timers ------------------------------------------------------------------------------
    def _restart_timers(self) -> None:
        """(Re)create the steady-clock timers with the current periods (while active)."""
        for timer in self._io_timers:
            self.destroy_timer(timer)
        s, steady = self.settings, self._steady
        self._io_timers = [
            self.create_timer(s.watchdog_period, self._on_watchdog, clock=steady),
            self.create_timer(s.diagnostics_period, self._on_diagnostics, clock=steady)]
        if 'goal' in self._io_pubs:
            self._io_timers.append(self.create_timer(
                s.goal_status_period, self.publish_goal_status, clock=steady))

    def _on_watchdog(self) -> None:
        command = self.core.watchdog(time.monotonic()) if self.core is not None else None
        if command is not None:
            self.publish_command(command)

    def _on_diagnostics(self) -> None:
        if self.core is None:
            return
        level, message, values = self.core.diagnostics(time.monotonic())
        if self.fault:
            level = 2
            message = f'stopped after an error in the {self.fault}; deactivate and activate ' \
                      f'to resume'
        self._io_pubs['diag'].publish(readings.diagnostic_array(
            self.get_clock().now().to_msg(), f'{self.get_name()}: liquid controller',
            self.settings.policy, level, message, values))

    # -- services ----------------------------------------------------------------------------
    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        if self.core is None:
            response.success, response.message = False, 'not configured'
        else:
            self.core.reset('request')
            response.success = True
            response.message = f'hidden state reset ({self.core.resets["request"]} so far)'
        return response

    def _on_reset_adaptation(self, request: Trigger.Request, response: Trigger.Response
                             ) -> Trigger.Response:
        done = self.core is not None and self.core.adaptation.reset()
        response.success = bool(done)
        response.message = ('readout back to the trained one' if done
                            else 'adaptation was never enabled: nothing to reset')
        return response

    def _on_save_adapted(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        try:
            path = self.save_adapted('service')
        except (OSError, ValueError) as exc:
            response.success, response.message = False, f'not saved: {exc}'
            return response
        response.success, response.message = True, str(path)
        return response

    def save_adapted(self, trigger: str) -> Path:
        """Save the learned readout as a new policy file in ``adapted_dir``."""
        if self.core is None:
            raise ValueError('the controller is not configured')
        return self.core.adaptation.save(self.settings.adapted_dir, trigger=trigger,
                                         saved_by=self.get_fully_qualified_name())


def rclpy_duration(seconds: float) -> Any:
    """Return an rclpy Duration of ``seconds``."""
    from rclpy.duration import Duration
    return Duration(nanoseconds=int(seconds * 1e9))
