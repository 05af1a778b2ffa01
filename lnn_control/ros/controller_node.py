# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn_controller`` lifecycle node: a liquid policy drives a robot over ROS 2.

    ros2 run lnn_control lnn_controller --ros-args --params-file config/pibot_controller.yaml

A thin shell over :class:`lnn_control.runtime.controller.ControllerCore` (all logic) and
:mod:`lnn_control.ros.readings` (message conversions). Lifecycle:

- configure: read the parameters, load the policy (numpy runtime, never torch), build the
  Observer/Actuator from the policy file's own configs (parameters only tighten limits).
  Returns FAILURE, logging why, when the file is bad or does not fit the configured inputs
  and outputs.
- activate: subscribe the inputs (``/scan`` best-effort sensor QoS, ``/odom``, ``/goal_pose``,
  ``/imu``; ``/joint_states`` in vector mode), step the policy on each trigger message with
  ``dt`` from header stamps, publish the command (reliable) on ``/cmd_vel``.
- deactivate / shutdown / SIGINT / SIGTERM: publish the zero command first.

A watchdog timer on a STEADY clock publishes the zero command while inputs are stale.
``~/reset`` (std_srvs/Trigger) resets the hidden state; ``/diagnostics`` (~1 Hz) and
``~/neuron_state`` report (sensor_msgs/JointState: every neuron's activation and time constant
by layer-labelled name, at most ``neuron_state_rate`` Hz; see
:mod:`lnn_control.ros.neuron_state`). Operator commands on ``/cmd_vel_teleop`` override the
policy while they arrive and, with ``adaptation`` on, teach its readout (issue 7,
:mod:`lnn_control.runtime.adapt`; ``~/reset_adaptation``, ``~/save_adapted``; what was
learned and not saved is saved to ``adapted_dir`` on deactivate, cleanup, shutdown and exit
unless ``adaptation_autosave`` is off). Parameters are read at configure; ranges and choices
are checked when a parameter is set.
"""

from __future__ import annotations

from pathlib import Path
import sys
import time
from typing import Any, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.ros import readings
from lnn_control.ros.neuron_state import neuron_state_msg
from lnn_control.ros.process import init_until_signal
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.controller import MODES
from lnn_control.runtime.controller import SpecMismatch
from lnn_control.runtime.policy import load_policy
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import FloatingPointRange
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.clock import Clock
from rclpy.clock import ClockType
from rclpy.exceptions import InvalidTopicNameException
from rclpy.exceptions import ParameterException
from rclpy.exceptions import ParameterUninitializedException
from rclpy.executors import SingleThreadedExecutor
from rclpy.expand_topic_name import expand_topic_name
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.lifecycle import Node
from rclpy.lifecycle import State
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rclpy.validate_full_topic_name import validate_full_topic_name
from sensor_msgs.msg import Image
from sensor_msgs.msg import Imu
from sensor_msgs.msg import JointState
from sensor_msgs.msg import LaserScan
from std_srvs.srv import Trigger

__all__ = ['LnnController', 'main', 'PARAMETERS']

_BIG = 1e6
# name -> (default, description, range (low, high) for numbers or choices for strings).
PARAMETERS = {
    'autostart': (True, 'configure and activate on start (off under a lifecycle manager)',
                  None),
    'policy': ('pibot_nav_cfc', 'policy file path or built-in policy name', None),
    'mode': ('pibot', 'pibot: scan+odom+goal observer; vector: joint positions+velocities; '
             'camera: Image (+ odom speed) into a camera policy', tuple(MODES)),
    'trigger': ('odom', 'input whose messages step the policy (dt from its stamps)',
                ('odom', 'scan', 'imu', 'joints', 'image')),
    'command_type': ('twist_stamped', 'command message type', tuple(readings.COMMAND_TYPES)),
    'scan_topic': ('/scan', 'LaserScan input', None),
    'odom_topic': ('/odom', 'Odometry input', None),
    'goal_topic': ('/goal_pose', 'PoseStamped goal input', None),
    'imu_topic': ('/imu', 'Imu input', None),
    'joints_topic': ('/joint_states', 'JointState input (vector mode)', None),
    'image_topic': ('/camera/image_raw', 'Image input (camera mode: rgb8, bgr8, mono8)', None),
    'cmd_topic': ('/cmd_vel', 'command output', None),
    'odom_frame': ('odom', 'frame goals and odometry must be given in', None),
    # Declared by type (an empty list default would be typed as a byte array).
    'goal_equivalent_frames': (Parameter.Type.STRING_ARRAY,
                               'frames taken as the odom frame (e.g. map)', None),
    'base_frame': ('base_link', 'frame_id of TwistStamped commands', None),
    'command_stamp': ('now', 'TwistStamped stamp: now (node clock) or input (the stamp of the '
                      'trigger message the command was computed from, for latency tracing)',
                      ('now', 'input')),
    'watchdog_timeout': (0.5, 'stale input age that stops the robot (s, steady clock)',
                         (0.01, 60.0)),
    'watchdog_period': (0.05, 'watchdog check period (s, steady clock)', (0.005, 1.0)),
    'gap_reset': (1.0, 'trigger stamp gap that resets the hidden state (s)', (0.001, 3600.0)),
    'nominal_dt': (0.05, 'dt of the first step after a reset (s)', (0.0001, 10.0)),
    'max_v': (0.0, "tighten the policy's forward speed limit (m/s), 0 keeps it", (0.0, 10.0)),
    'max_w': (0.0, 'tighten the yaw rate limit (rad/s), 0 keeps it', (0.0, 50.0)),
    'max_accel_v': (0.0, 'tighten |dv/dt| (m/s^2), 0 keeps it', (0.0, 100.0)),
    'max_accel_w': (0.0, 'tighten |dw/dt| (rad/s^2), 0 keeps it', (0.0, 100.0)),
    'max_output': (0.0, 'vector mode: clip commands to +-this, 0 keeps the action space',
                   (0.0, _BIG)),
    'neuron_state_rate': (10.0, '~/neuron_state rate (Hz), 0 for none', (0.0, 1000.0)),
    'diagnostics_period': (1.0, '/diagnostics period (s)', (0.05, 60.0)),
    # Issue 7: operator corrections and online readout adaptation (lnn_control.runtime.adapt).
    'correction_topic': ('/cmd_vel_teleop', 'operator commands that override the policy',
                         None),
    'correction_type': ('twist', 'correction message type', ('twist', 'twist_stamped')),
    'correction_timeout': (0.5, 'a correction overrides the policy this long (s, steady)',
                           (0.01, 10.0)),
    'adaptation': (False, 'learn the readout from corrections (and apply it)', None),
    'adaptation_trust_radius': (1.0, 'bound on the readout change (||gains - 1|| for '
                                'features gain, ||W||_F otherwise)', (1e-6, 1e3)),
    'adaptation_forgetting': (0.999, 'RLS forgetting factor per correction', (0.5, 1.0)),
    'adaptation_prior_precision': (1.0, 'ridge pull towards the trained readout',
                                   (1e-6, 1e6)),
    'adaptation_window': (400, 'control steps per rollback-monitor window, 0: no monitor',
                          None),
    'adaptation_features': ('gain', 'what adapts: one gain per action axis (gain), an '
                            'affine map of the action (output) or a readout of the '
                            'pre-readout state (hidden)', ('gain', 'output', 'hidden')),
    'adapted_dir': ('~/.lnn_control/adapted', 'where ~/save_adapted writes new policy files',
                    None),
    'adaptation_autosave': (True, 'on deactivate, cleanup and shutdown, save what was learned '
                            'since the last save to adapted_dir', None),
}


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


def _descriptor(name: str, default: Any, text: str, limits: Any) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(name=name, description=text)
    if isinstance(default, float) and limits is not None:
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(limits[0]), to_value=float(limits[1]), step=0.0)]
    elif isinstance(default, str) and limits is not None:
        descriptor.additional_constraints = f'one of {list(limits)}'
    if default == Parameter.Type.STRING_ARRAY:
        descriptor.type = ParameterType.PARAMETER_STRING_ARRAY
    return descriptor


class LnnController(Node):
    """Lifecycle node running a liquid policy; see the module docstring."""

    def __init__(self, node_name: str = 'lnn_controller', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        service = getattr(self, '_service_change_state', None)
        if service is not None:
            service.callback = _refuse_invalid_transitions(service.callback, self.get_logger())
        self.add_on_set_parameters_callback(self._check_parameters)
        for name, (default, text, limits) in PARAMETERS.items():
            self.declare_parameter(name, default, _descriptor(name, default, text, limits))
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.core: Optional[ControllerCore] = None
        self._cmd_pub = self._neuron_pub = self._diag_pub = None
        self._reset_srv = None
        self._adapt_srvs: List[Any] = []
        self.add_post_set_parameters_callback(self._on_adaptation_parameters)
        self._subs: List[Any] = []
        self._timers: List[Any] = []
        self._active = False

    # -- parameters --------------------------------------------------------------------------
    def _check_parameters(self, params: List[Any]) -> SetParametersResult:
        """Refuse string parameters outside their choices (ranges rclpy checks itself)."""
        for param in params:
            spec = PARAMETERS.get(param.name)
            if spec and isinstance(spec[0], str) and spec[2] is not None:
                if param.value not in spec[2]:
                    return SetParametersResult(
                        successful=False,
                        reason=f'{param.name} must be one of {list(spec[2])}, got '
                               f'{param.value!r}')
            if param.name.endswith('_topic') and isinstance(param.value, str):
                # Refused here, with the reason: at configure an invalid name would raise
                # inside the transition, which rclpy turns into ERROR without a word.
                try:
                    validate_full_topic_name(expand_topic_name(
                        param.value, self.get_name(), self.get_namespace()))
                except (ValueError, InvalidTopicNameException) as exc:
                    return SetParametersResult(
                        successful=False, reason=f'{param.name}: {exc}'.splitlines()[0])
        return SetParametersResult(successful=True)

    def _p(self, name: str) -> Any:
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:
            return []

    def _now(self) -> float:
        # The steady clock the timers use (rcutils: CLOCK_MONOTONIC), read without building an
        # rclpy Time: this runs on every message.
        return time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the policy and build the core; FAILURE (logged) if it does not fit."""
        command_type = self._p('command_type')
        msg_type, self._build_command, size = readings.COMMAND_TYPES[command_type]
        # Read once here, not per message: parameter lookups cost more than the policy step.
        self._cmd_msg = msg_type()
        self._base_frame = self._p('base_frame')
        self._stamp_input = self._p('command_stamp') == 'input'
        try:
            config = ControllerConfig(
                mode=self._p('mode'), trigger=self._p('trigger'),
                watchdog_timeout=self._p('watchdog_timeout'), gap_reset=self._p('gap_reset'),
                nominal_dt=self._p('nominal_dt'), max_v=self._p('max_v'),
                max_w=self._p('max_w'), max_accel_v=self._p('max_accel_v'),
                max_accel_w=self._p('max_accel_w'), max_output=self._p('max_output'),
                action_size=size, neuron_state_rate=self._p('neuron_state_rate'),
                **self._correction_config())
            policy = load_policy(self._p('policy'))
            self.core = ControllerCore(policy, config)
        except (PolicyFormatError, SpecMismatch, FileNotFoundError, ValueError) as exc:
            self.get_logger().error(f'refusing to configure with policy '
                                    f'{self._p("policy")!r}: {exc}')
            self.core = None
            return TransitionCallbackReturn.FAILURE
        self._cmd_pub = self.create_lifecycle_publisher(
            msg_type, self._p('cmd_topic'),
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self._neuron_pub = self.create_lifecycle_publisher(
            JointState, '~/neuron_state', 10)
        self._neuron_names = self.core.neuron_report().labels
        self._diag_pub = self.create_lifecycle_publisher(DiagnosticArray, '/diagnostics', 10)
        self._reset_srv = self.create_service(Trigger, '~/reset', self._on_reset)
        self._adapt_srvs = [
            self.create_service(Trigger, '~/reset_adaptation', self._on_reset_adaptation),
            self.create_service(Trigger, '~/save_adapted', self._on_save_adapted)]
        self.get_logger().info(
            f'configured: {policy!r}, mode {config.mode}, trigger {config.trigger}, '
            f'{command_type} on {self._p("cmd_topic")}, limits {self.core.high.tolist()}, '
            f'torch loaded: {"torch" in sys.modules and sys.modules["torch"] is not None}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Subscribe the inputs and start the watchdog and report timers."""
        core = self.core
        core.reset('activate')
        core.stop()
        subscribe = self.create_subscription
        if core.config.mode == 'pibot':
            self._subs = [
                subscribe(LaserScan, self._p('scan_topic'), self._input(
                    'scan', readings.scan_to_reading), qos_profile_sensor_data),
                subscribe(Odometry, self._p('odom_topic'), self._input(
                    'odom', self._odom_converter()), qos_profile_sensor_data),
                subscribe(PoseStamped, self._p('goal_topic'), self._input(
                    'goal', self._goal_to_reading), 10),
                subscribe(Imu, self._p('imu_topic'), self._input(
                    'imu', readings.imu_to_reading), qos_profile_sensor_data),
            ]
        elif core.config.mode == 'camera':
            self._subs = self._camera_subscriptions()
        else:
            self._subs = [subscribe(JointState, self._p('joints_topic'), self._input(
                'joints', readings.joints_to_reading), qos_profile_sensor_data)]
        self._timers = [
            self.create_timer(self._p('watchdog_period'), self._on_watchdog, clock=self._steady),
            self.create_timer(self._p('diagnostics_period'), self._on_diagnostics,
                              clock=self._steady)]
        self._subs.append(self._correction_subscription())
        self._active = True
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Publish the zero command (while the publisher is still active), then go quiet."""
        self.publish_stop()
        self.autosave('deactivate')
        self._active = False
        self._teardown_io()
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Drop the policy, publishers and service."""
        self.autosave('cleanup')
        self._destroy_outputs()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Stop, log and release all when a transition callback raised (rclpy swallows it)."""
        self.get_logger().error(f'a lifecycle transition from {state.label!r} raised; stopping '
                                'and releasing the policy (unconfigured)')
        self.publish_stop()
        self._active = False
        self._teardown_io()
        self.autosave('error')
        self._destroy_outputs()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Zero command if active, then release everything."""
        self.publish_stop()
        self._active = False
        self._teardown_io()
        self.autosave('shutdown')
        self._destroy_outputs()
        return TransitionCallbackReturn.SUCCESS

    def _teardown_io(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._subs, self._timers = [], []

    def _destroy_outputs(self) -> None:
        for srv in self._adapt_srvs:
            self.destroy_service(srv)
        self._adapt_srvs = []
        for pub in (self._cmd_pub, self._neuron_pub, self._diag_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        if self._reset_srv is not None:
            self.destroy_service(self._reset_srv)
        self._cmd_pub = self._neuron_pub = self._diag_pub = self._reset_srv = None
        self.core = None

    # -- I/O ---------------------------------------------------------------------------------
    def _camera_subscriptions(self) -> List[Any]:
        # Issue 8: frames of the policy's size only (no resizing: a wrong camera set-up is
        # refused and counted as image_size), plus odometry when the policy takes the speed.
        height, width, _ = self.core.image_shape
        subs = [self.create_subscription(
            Image, self._p('image_topic'),
            self._input('image', lambda msg: readings.image_to_reading(msg, height, width)),
            qos_profile_sensor_data)]
        if 'odom' in self.core.required:
            subs.append(self.create_subscription(
                Odometry, self._p('odom_topic'), self._input('odom', self._odom_converter()),
                qos_profile_sensor_data))
        return subs

    def _odom_converter(self) -> Any:
        # Frames read once per activation, not per message (odometry may come at 1 kHz).
        frame, equivalent = self._p('odom_frame'), tuple(self._p('goal_equivalent_frames'))
        return lambda msg: readings.odom_to_reading(msg, frame, equivalent)

    def _goal_to_reading(self, msg: PoseStamped) -> Any:
        return readings.goal_to_reading(msg, self._p('odom_frame'),
                                        self._p('goal_equivalent_frames'))

    def _input(self, name: str, convert: Any) -> Any:
        def callback(msg: Any) -> None:
            core = self.core
            if core is None or not self._active:
                return
            reading, reason = convert(msg)
            if reading is None:
                core.reject(reason)
                return
            now = self._now()
            command = core.feed(name, reading, now)
            if command is not None:
                self._publish(command, msg.header.stamp if self._stamp_input else None)
                if core.neuron_state_due(now):
                    self._neuron_pub.publish(neuron_state_msg(
                        core.neuron_report(), msg.header.stamp, self._neuron_names))
        return callback

    def _publish(self, command: Any, stamp: Any = None) -> None:
        if stamp is None:
            stamp = self.get_clock().now().to_msg()   # sim time when use_sim_time is set
        self._cmd_pub.publish(self._build_command(command, stamp, self._base_frame,
                                                  out=self._cmd_msg))

    def publish_stop(self) -> None:
        """Publish the zero command now (if configured and active)."""
        if self.core is not None and self._active and self._cmd_pub is not None:
            self._publish(self.core.stop())

    def _on_watchdog(self) -> None:
        command = self.core.watchdog(self._now()) if self.core is not None else None
        if command is not None:
            self._publish(command)

    def _on_diagnostics(self) -> None:
        if self.core is None:
            return
        level, message, values = self.core.diagnostics(self._now())
        self._diag_pub.publish(readings.diagnostic_array(
            self.get_clock().now().to_msg(), f'{self.get_name()}: liquid controller',
            self._p('policy'), level, message, values))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        if self.core is None:
            response.success, response.message = False, 'not configured'
        else:
            self.core.reset('request')
            response.success = True
            response.message = f'hidden state reset ({self.core.resets["request"]} so far)'
        return response

    # -- corrections and online adaptation (issue 7) ---------------------------------------
    def _correction_config(self) -> Dict[str, Any]:
        return {'correction_timeout': self._p('correction_timeout'),
                'adaptation': AdaptationConfig(
                    enabled=self._p('adaptation'),
                    trust_radius=self._p('adaptation_trust_radius'),
                    forgetting=self._p('adaptation_forgetting'),
                    prior_precision=self._p('adaptation_prior_precision'),
                    window=self._p('adaptation_window'),
                    features=self._p('adaptation_features'))}

    def _correction_subscription(self) -> Any:
        stamped = self._p('correction_type') == 'twist_stamped'

        def callback(msg: Any) -> None:
            if self.core is None or not self._active:
                return
            twist = msg.twist if stamped else msg
            self.core.correct((twist.linear.x, twist.angular.z), self._now())
        return self.create_subscription(TwistStamped if stamped else Twist,
                                        self._p('correction_topic'), callback, 10)

    def _on_adaptation_parameters(self, params: List[Any]) -> None:
        core = self.core
        if core is None:
            return
        for param in params:
            if param.name == 'adaptation':
                core.corrector.set_enabled(param.value)
            elif core.corrector.adapter is not None and param.name in (
                    'adaptation_trust_radius', 'adaptation_forgetting'):
                key = param.name[len('adaptation_'):]
                core.corrector.adapter.configure(**{key: param.value})

    def _on_reset_adaptation(self, request: Trigger.Request, response: Trigger.Response
                             ) -> Trigger.Response:
        done = self.core is not None and self.core.corrector.reset()
        response.success = bool(done)
        response.message = ('readout back to the trained one' if done
                            else 'adaptation was never enabled: nothing to reset')
        return response

    def _on_save_adapted(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        try:
            path = self._save_adapted('service')
        except (OSError, ValueError) as exc:
            response.success, response.message = False, f'not saved: {exc}'
            return response
        response.success, response.message = True, str(path)
        return response

    def _save_adapted(self, trigger: str) -> Path:
        if self.core is None:
            raise ValueError('the controller is not configured')
        return self.core.corrector.save(self._p('adapted_dir'), trigger=trigger,
                                        saved_by=self.get_fully_qualified_name())

    def autosave(self, trigger: str) -> Optional[Path]:
        """Save corrections learned since the last save (``adaptation_autosave``), if any."""
        if self.core is None or not self.core.corrector.unsaved or not self._p(
                'adaptation_autosave'):
            return None
        try:
            path = self._save_adapted(trigger)
        except (OSError, ValueError) as exc:
            self.get_logger().error(f'adapted readout not saved on {trigger}: {exc}')
            return None
        self.get_logger().info(f'adapted readout saved on {trigger}: {path}')
        return path


def main(args: Optional[List[str]] = None) -> None:
    """Run the node; with ``autostart`` it configures and activates itself."""
    # Own signal handling: the zero command must go out before the context shuts down.
    stop = init_until_signal(args)
    try:
        node = LnnController()
    except ParameterException as exc:
        # A params file or -p value out of range or of the wrong type: say which, exit 1.
        rclpy.logging.get_logger('lnn_controller').fatal(f'bad parameter: {exc}')
        rclpy.shutdown()
        sys.exit(1)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.get_parameter('autostart').value:
            node.trigger_configure()
            if node.core is not None:
                node.trigger_activate()
        while not stop and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
        node.publish_stop()
        node.autosave('exit')
        # Let the reliable zero command reach its subscribers before leaving.
        for _ in range(4):
            executor.spin_once(timeout_sec=0.05)
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
