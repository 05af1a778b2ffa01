# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn_controller`` lifecycle node: a liquid policy drives a robot over ROS 2.

    ros2 run lnn_control lnn_controller --ros-args --params-file config/pibot_controller.yaml

A thin shell: messages in (:mod:`lnn_control.ros.readings`), calls to
:class:`lnn_control.runtime.controller.ControllerCore` (all logic), messages out. Parameters
are the fields of ``NodeConfig``, ``ControllerConfig`` and ``AdaptationConfig``
(:mod:`lnn_control.ros.parameters`); a value set on a running node applies at the next step,
is hot-swapped (``policy``) or is refused with the reason and how to apply it.

- configure: load the policy (numpy runtime, never torch) and build the core from the policy
  file's own Observer/Actuator configs (parameters only tighten limits); FAILURE, logged,
  when the file is bad or does not fit.
- activate: subscribe the mode's inputs (sensor QoS) and the correction topic, start the
  watchdog (steady clock), diagnostics and goal-status timers.
- every stop (deactivate, shutdown, an error transition, SIGINT, SIGTERM, an exception in a
  callback) halts the core: the zero command is published and is the last command; nothing
  steps afterwards.

Outputs: the command (reliable), ``/diagnostics``, ``~/neuron_state`` (every neuron by layer,
:mod:`lnn_control.ros.neuron_state`), ``~/goal_status`` (latched JSON, goal modes).
Services: ``~/reset``, ``~/reset_adaptation``, ``~/save_adapted``. Operator commands on
``correction_topic`` override the policy and, with ``adaptation``, teach it.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional

from lnn_control.ros import readings
from lnn_control.ros.controller_io import ControllerIO
from lnn_control.ros.controller_io import GROUPS
from lnn_control.ros.node_config import NodeConfig
from lnn_control.ros.node_config import policy_refusal
from lnn_control.ros.parameters import ParameterTable
from lnn_control.ros.process import init_until_signal
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.policy import builtin_policies
from lnn_control.runtime.policy import load_policy
from rcl_interfaces.msg import SetParametersResult
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import State
from rclpy.lifecycle import TransitionCallbackReturn

__all__ = ['LnnController', 'main', 'EXECUTORS']

_CONFIG_ERRORS = (PolicyFormatError, FileNotFoundError, ValueError, OSError)


def _events_executor() -> Any:
    """Return rclpy's C++ EventsExecutor (rclpy.experimental); ImportError where absent."""
    from rclpy.experimental import EventsExecutor
    return EventsExecutor()


# The ``executor`` parameter -> a factory. rclpy's Python executors rebuild the wait set on
# every spin, ~0.4 ms for this node's ~40 entities (timers, services, QoS event handlers):
# several times the callback, paid per message. The C++ EventsExecutor halves the node's CPU
# per message (BENCHMARKS.md, "Controller node: hot path").
EXECUTORS: Dict[str, Callable[[], Any]] = {'events': _events_executor,
                                           'single_threaded': SingleThreadedExecutor}


def _transition(method: Callable[..., TransitionCallbackReturn]
                ) -> Callable[..., TransitionCallbackReturn]:
    """Log what a transition callback raised (rclpy turns it into ERROR without a word)."""
    @functools.wraps(method)
    def logged(self: 'LnnController', state: State) -> TransitionCallbackReturn:
        try:
            return method(self, state)
        except Exception:  # noqa: B902  (re-raised: rclpy runs on_error)
            self.get_logger().error(f'{method.__name__} raised:\n{traceback.format_exc()}')
            raise
    return logged


class LnnController(ControllerIO):
    """Lifecycle node running a liquid policy; see the module docstring."""

    def __init__(self, node_name: str = 'lnn_controller', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.table = ParameterTable(self, GROUPS)
        self.state = 'starting'
        self._prepared: Dict[str, Any] = {}
        self.add_on_set_parameters_callback(self._on_set)
        self.table.declare()
        self.add_post_set_parameters_callback(self._after_set)
        self.state = 'unconfigured'

    # -- parameters: applied at the next step, swapped, or refused with a reason -------------
    def _on_set(self, params: List[Any]) -> SetParametersResult:
        changes = self.table.changed(params)
        for param in params:
            reason = self.table.refusal(param, self.state)
            if reason is None and param.name == 'policy' and self.state != 'starting':
                reason = self._prepare_policy(param.value, changes)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        if self.state == 'starting':
            return SetParametersResult(successful=True)   # combinations: checked at configure
        try:
            self._prepared['config'] = self._controller_config(changes)
            if self.core is not None:
                self.core.mode.limits(self._prepared['config'])
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _prepare_policy(self, value: str, changes: Dict[str, Any]) -> Optional[str]:
        node = self.table.build(NodeConfig, changes)
        reason = policy_refusal(value, [*node.policy_dirs, node.adapted_dir],
                                builtin_policies())
        if reason is not None or self.core is None:
            return reason          # unconfigured: configure loads it (and says why if bad)
        try:
            policy = load_policy(value)
            self.core.check_policy(policy)
        except _CONFIG_ERRORS as exc:
            return f'policy {value!r} refused, the old one keeps driving: {exc}'
        self._prepared['policy'] = policy
        return None

    def _controller_config(self, changes: Optional[Dict[str, Any]] = None) -> ControllerConfig:
        size = readings.COMMAND_TYPES[self.table.build(NodeConfig, changes).command_type][2]
        return self.table.build(ControllerConfig, changes, action_size=size,
                                adaptation=self.table.build(AdaptationConfig, changes))

    def _after_set(self, params: List[Any]) -> None:
        prepared, self._prepared = self._prepared, {}
        if self.state == 'starting':
            return
        self.settings = self.table.build(NodeConfig)
        core = self.core
        if core is None:
            return
        names = {p.name for p in params}
        policy = prepared.get('policy')
        if policy is not None:
            old = core.policy.source
            core.swap_policy(policy)
            self._neuron_names = core.neuron_report().labels
            self.get_logger().info(f'policy swapped between two steps: {old} -> '
                                   f'{policy.source} (swap {core.swaps}, hidden state reset)')
        core.apply(prepared['config'])
        if names & {'watchdog_period', 'diagnostics_period', 'goal_status_period'}:
            self._restart_timers()

    # -- lifecycle ---------------------------------------------------------------------------
    @_transition
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the policy and build the core; FAILURE (logged) if it does not fit."""
        self.settings = node = self.table.build(NodeConfig)
        try:
            config = self._controller_config()
            self.core = ControllerCore(load_policy(node.policy), config)
        except _CONFIG_ERRORS as exc:
            self.get_logger().error(f'refusing to configure with policy {node.policy!r}: {exc}')
            self.core = None
            return TransitionCallbackReturn.FAILURE
        self.create_outputs()
        self.get_logger().info(
            f'configured: {self.core.policy!r}, mode {config.mode}, trigger {config.trigger}, '
            f'{node.command_type} on {node.cmd_topic}, limits {self.core.high.tolist()}, '
            f'torch loaded: {"torch" in sys.modules and sys.modules["torch"] is not None}')
        self.state = 'inactive'
        return TransitionCallbackReturn.SUCCESS

    @_transition
    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Subscribe the inputs and start the timers; the first step starts from rest."""
        self.fault = ''
        self.core.resume()
        self.core.reset('activate')
        self.subscribe(self._guard)
        self._restart_timers()
        self.state = 'active'
        return super().on_activate(state)

    @_transition
    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Publish the zero command (the publisher is still active), then go quiet."""
        self.halt('deactivate')
        self.autosave('deactivate')
        self.state = 'inactive'
        return super().on_deactivate(state)

    @_transition
    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        """Drop the policy, publishers and services."""
        self.autosave('cleanup')
        self.destroy_outputs()
        self.state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Stop, log and release all when a transition callback raised (rclpy swallows it)."""
        self.get_logger().error(f'a lifecycle transition from {state.label!r} raised; stopping '
                                'and releasing the policy (unconfigured)')
        self.halt('error')
        self.autosave('error')
        self.destroy_outputs()
        self.state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    @_transition
    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        """Zero command if active, then release everything."""
        self.halt('shutdown')
        self.autosave('shutdown')
        self.destroy_outputs()
        self.state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    # -- stops -------------------------------------------------------------------------------
    def halt(self, reason: str) -> bool:
        """
        Stop for good: no more steps, subscriptions and timers gone, zero published last.

        Returns whether a zero command was sent (the node was active).
        """
        sent = False
        core = self.core
        if core is not None:
            zero = core.halt(reason)
            self.log_events()
            sent = self.publish_command(zero, force=True)
        self.teardown()
        return sent

    def _guard(self, name: str, callback: Callable[..., None]) -> Callable[..., None]:
        """Wrap a callback: an exception halts the controller (zero sent) and is reported."""
        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:  # noqa: B902  (any fault must stop the robot)
                self.get_logger().error(f'{name} callback raised, stopping the robot: '
                                        f'{exc!r}\n{traceback.format_exc()}')
                self.fault = f'{name}: {exc!r}'
                if self.core is not None:
                    self.publish_command(self.core.halt('error'), force=True)
        return guarded

    def autosave(self, trigger: str) -> Any:
        """Save corrections learned since the last save (``adaptation_autosave``), if any."""
        if self.core is None or not self.core.adaptation.unsaved or not self.table.value(
                'adaptation_autosave'):
            return None
        try:
            path = self.save_adapted(trigger)
        except (OSError, ValueError) as exc:
            self.get_logger().error(f'adapted readout not saved on {trigger}: {exc}')
            return None
        self.get_logger().info(f'adapted readout saved on {trigger}: {path}')
        return path

    def goal_status_json(self) -> str:
        """Return the ``~/goal_status`` payload (JSON)."""
        status = self.core.goal_status() or {}
        status['halted'] = self.core.halted
        return json.dumps(status, sort_keys=True)


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
    kind = node.get_parameter('executor').value
    try:
        executor = EXECUTORS[kind]()
    except ImportError as exc:
        node.get_logger().warning(f'executor {kind!r} unavailable ({exc}): single_threaded')
        executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.get_parameter('autostart').value:
            node.trigger_configure()
            if node.core is not None:
                node.trigger_activate()
        while not stop and rclpy.ok():
            executor.spin_once(timeout_sec=0.05)
        why = stop[0] if stop else 'shutdown'
        sent = node.halt(why)        # a state: every callback after this does nothing
        node.flush_command()
        topic = node.settings.cmd_topic if node.settings is not None else '?'
        node.get_logger().info(f'stopped ({why}): ' + (
            f'zero command sent on {topic}, the last command' if sent else
            'the controller was not active; its last command was zero'))
        node.autosave('exit')
    finally:
        executor.remove_node(node)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
