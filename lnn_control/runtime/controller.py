# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ROS-free core of the ``lnn_controller`` node: readings in, a safe command out.

``ControllerCore`` holds a :class:`~lnn_control.runtime.policy.Policy`, the input mode that
turns readings into its observation (:mod:`lnn_control.runtime.inputs`: the shared Observer
and Actuator built from the policy file's own configs, DESIGN.md "The one idea"), the override
arbitration (:mod:`lnn_control.runtime.override`), the goal monitor
(:mod:`lnn_control.runtime.goals`) and everything the node decides: when to step, with which
``dt``, when to reset, when to stop the robot.

Time. A step runs on each message of the *trigger* input (odometry for the PiBot) with
``dt`` = the difference of that input's header stamps, because a liquid network integrates
over the real elapsed time. The first step after a reset uses ``nominal_dt``. The hidden state
is reset (and the reset counted by reason) when the stamp gap exceeds ``gap_reset`` seconds,
when stamps go backwards (a rosbag loop, a restarted simulator), on request, when the state
diverges (non-finite), when the policy is swapped and when a new goal starts from rest. A
repeated stamp is rejected as a duplicate (the last command is held); when the trigger stamp
has not moved for ``watchdog_timeout`` of steady time while its messages keep coming (a stuck
clock), the command is zero (counted as ``stamp_frozen``).

Watchdog. Every ``feed`` and ``watchdog`` call takes ``now``, a caller-supplied *steady*
clock in seconds (the node passes a ``STEADY_TIME`` clock, so sim time and wall-clock jumps do
not fool it). When a required input has not arrived for ``watchdog_timeout`` seconds the core
answers with the zero command and keeps doing so until every required input is fresh again;
the hidden state is then reset, as the robot restarts from rest. The TurtleBot3 firmware has
no command timeout, so a stalled controller must stop the robot itself.

Stop. :meth:`halt` is a state, not a call order: after it (SIGINT, SIGTERM, deactivate,
shutdown, an error) the core steps the policy no more, whatever arrives, until
:meth:`resume`; the zero command it returned is the last one.

Settings. Every :class:`ControllerConfig` field declares when it applies
(:mod:`lnn_control.runtime.settings`); :meth:`ControllerCore.apply` takes a changed config
between two steps (limits, timeouts, rates, progress checks), :meth:`swap_policy` a new policy.

Every command the core returns is finite and inside the limits (a final guard replaces
anything else by the zero command and counts it).
"""

from __future__ import annotations

from collections import Counter
from collections import deque
import dataclasses
from dataclasses import dataclass
import math
from time import perf_counter
from typing import Any, Deque, Dict, List, Optional, Tuple

from lnn_control.runtime.adapt.adapter import AdaptationConfig
from lnn_control.runtime.adapt.live import LiveAdaptation
from lnn_control.runtime.conv import ImageReading
from lnn_control.runtime.goals import GoalMonitor
from lnn_control.runtime.inputs import finite_float as _float
from lnn_control.runtime.inputs import InputMode
from lnn_control.runtime.inputs import INPUTS
from lnn_control.runtime.inputs import InputStats
from lnn_control.runtime.inputs import MODES
from lnn_control.runtime.inputs import SpecMismatch
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.override import Override
from lnn_control.runtime.policy import NeuronReport
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.settings import setting
import numpy as np

__all__ = ['ControllerConfig', 'ControllerCore', 'SpecMismatch', 'INPUTS', 'MODES',
           'TRIGGERS']

TRIGGERS = ('odom', 'scan', 'imu', 'joints', 'image')
_SUM = np.add.reduce   # the ufunc itself: np.sum's Python wrapper costs a microsecond
_READING_TYPES = {'scan': ScanReading, 'odom': OdomReading, 'goal': Goal, 'imu': ImuReading,
                  'joints': JointsReading, 'image': ImageReading}


@dataclass
class ControllerConfig:
    """
    What the controller core does (all times in seconds); each field is a node parameter.

    Attributes:
        mode: the input mode (:data:`MODES`: 'pibot', 'vector', 'camera').
        trigger: the input whose messages run a step (and whose stamps give ``dt``).
        watchdog_timeout: a required input older than this (steady clock) -> zero command.
        gap_reset: a trigger stamp gap longer than this resets the hidden state.
        nominal_dt: ``dt`` of the first step after a reset.
        max_v, max_w, max_accel_v, max_accel_w: tighten the policy's Actuator limits
            (0 keeps the policy's value; a value above it is ignored, limits only tighten).
        max_output: tighten the vector-mode action bounds to +-this (0: the action space's).
        neuron_state_rate: Hz of neuron-state reports (``neuron_state_due``), 0 for none.
        correction_timeout: a correction (``correct``) overrides the policy this long.
        goal_tolerance, required_movement_radius, movement_time_allowance,
        required_approach, approach_time_allowance, progress_retry: the goal monitor
            (:mod:`lnn_control.runtime.goals`; goal modes only).
        action_size: the command size the outputs need (2 for Twist), 0 for any.
        adaptation: online readout adaptation from corrections (``runtime.adapt``); None: off.

    """

    mode: str = setting('pibot', 'pibot: scan + odom + goal into the policy Observer; vector: '
                        'joint positions + velocities; camera: Image (+ odom speed) into a '
                        'camera policy', choices=tuple(MODES), apply='configure')
    trigger: str = setting('odom', 'input whose messages step the policy (dt from its stamps)',
                           choices=TRIGGERS, apply='configure')
    watchdog_timeout: float = setting(0.5, 'stale input age that stops the robot (steady '
                                      'clock)', low=0.01, high=60.0, unit='s')
    gap_reset: float = setting(1.0, 'trigger stamp gap that resets the hidden state',
                               low=0.001, high=3600.0, unit='s')
    nominal_dt: float = setting(0.05, 'dt of the first step after a reset', low=0.0001,
                                high=10.0, unit='s')
    max_v: float = setting(0.0, "tighten the policy's forward speed limit, 0 keeps it",
                           low=0.0, high=10.0, unit='m/s')
    max_w: float = setting(0.0, 'tighten the yaw rate limit, 0 keeps it', low=0.0, high=50.0,
                           unit='rad/s')
    max_accel_v: float = setting(0.0, 'tighten |dv/dt|, 0 keeps it', low=0.0, high=100.0,
                                 unit='m/s^2')
    max_accel_w: float = setting(0.0, 'tighten |dw/dt|, 0 keeps it', low=0.0, high=100.0,
                                 unit='rad/s^2')
    max_output: float = setting(0.0, 'vector mode: clip commands to +-this, 0 keeps the action '
                                'space', low=0.0, high=1e6)
    neuron_state_rate: float = setting(10.0, '~/neuron_state rate, 0 for none', low=0.0,
                                       high=1000.0, unit='Hz')
    correction_timeout: float = setting(0.5, 'a correction overrides the policy this long '
                                        '(steady clock)', low=0.01, high=10.0, unit='s')
    goal_tolerance: float = setting(0.10, 'distance to the goal (odometry) at which it is '
                                    'reached and the robot stops', low=0.01, high=10.0,
                                    unit='m')
    required_movement_radius: float = setting(0.5, 'progress check (Nav2 '
                                              'SimpleProgressChecker): the robot must move '
                                              'this far within movement_time_allowance, 0: '
                                              'off', low=0.0, high=100.0, unit='m')
    movement_time_allowance: float = setting(10.0, 'time allowed to move '
                                             'required_movement_radius', low=0.1,
                                             high=3600.0, unit='s')
    required_approach: float = setting(0.25, 'progress check: the distance to the goal must '
                                       'shrink this much below its best within '
                                       'approach_time_allowance, 0: off', low=0.0,
                                       high=100.0, unit='m')
    approach_time_allowance: float = setting(30.0, 'time allowed to get required_approach '
                                             'closer', low=0.1, high=3600.0, unit='s')
    progress_retry: float = setting(0.0, 'after a failed progress check, try the same goal '
                                    'again after this long, 0: wait for a new goal',
                                    low=0.0, high=3600.0, unit='s')
    action_size: int = 0
    adaptation: Optional[AdaptationConfig] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'mode must be one of {sorted(MODES)}, got {self.mode!r}')
        if self.trigger not in TRIGGERS:
            raise ValueError(f'trigger must be one of {", ".join(TRIGGERS)}, got '
                             f'{self.trigger!r}')
        for name in ('watchdog_timeout', 'gap_reset', 'nominal_dt', 'correction_timeout',
                     'goal_tolerance', 'movement_time_allowance', 'approach_time_allowance'):
            value = float(getattr(self, name))
            if not 0.0 < value < math.inf:
                raise ValueError(f'{name} must be positive and finite, got {value}')
            setattr(self, name, value)
        for name in ('max_v', 'max_w', 'max_accel_v', 'max_accel_w', 'max_output',
                     'neuron_state_rate', 'required_movement_radius', 'required_approach',
                     'progress_retry'):
            value = float(getattr(self, name))
            if not 0.0 <= value < math.inf:
                raise ValueError(f'{name} must be >= 0 and finite, got {value}')
            setattr(self, name, value)


class ControllerCore:
    """
    Policy + input mode + override + goal monitor + the node's timing, reset and stop rules.

    Example::

        core = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig())
        core.feed('scan', scan_reading, now=steady())          # None: scan is not the trigger
        core.feed('goal', goal, now=steady())
        cmd = core.feed('odom', odom_reading, now=steady())    # (2,) v, w -> publish it
        cmd = core.watchdog(now=steady())                      # not None: publish this zero
        cmd = core.halt('SIGTERM')                             # the last command: zero

    Raises :class:`SpecMismatch` when the policy does not fit the configuration.
    """

    def __init__(self, policy: Policy, config: Optional[ControllerConfig] = None) -> None:
        self.config = config = config or ControllerConfig()
        self.mode = self._check(policy, config)
        self.policy = self._guarded(policy)
        self.action_size = policy.spec.action.size
        self.readings: Dict[str, Any] = dict.fromkeys(INPUTS)
        self.inputs = {name: InputStats() for name in INPUTS}
        self._limits(self.mode.limits(config))
        self.zero = np.zeros(self.action_size, dtype=np.float64)
        self.rejected: Counter = Counter()
        self.resets: Counter = Counter()
        self.latencies: Deque[float] = deque(maxlen=1000)
        self.steps = 0
        self.swaps = 0
        self.stale = True
        self.halted: Optional[str] = None
        self.last_command = self.zero.copy()
        self.events: List[Tuple[str, str]] = []
        self._last_stamp: Optional[float] = None
        self._stamp_advanced = -math.inf   # steady time the trigger stamp last moved
        self._last_neuron_report = -math.inf
        self.goals = GoalMonitor(config) if self.mode.goals else None
        self.override = Override(self.action_size, config.correction_timeout)
        # Learning from corrections: wraps the policy only once it is first enabled.
        self.adaptation = LiveAdaptation(policy, config.adaptation)

    @staticmethod
    def _check(policy: Policy, config: ControllerConfig) -> InputMode:
        spec = policy.spec
        if config.action_size and spec.action.size != config.action_size:
            raise SpecMismatch(f'the policy gives {spec.action.size} actions but the command '
                               f'type needs {config.action_size}')
        mode = MODES[config.mode](spec)
        if config.trigger not in mode.inputs:
            raise SpecMismatch(f'trigger {config.trigger!r} is not an input of {config.mode} '
                               f'mode (its inputs: {", ".join(mode.inputs)})')
        return mode

    def _limits(self, limits: Tuple[np.ndarray, np.ndarray, Any]) -> None:
        self.low, self.high, actuator = limits
        old = getattr(self, 'actuator', None)
        if actuator is not None and old is not None:
            actuator.reset(*old.last)      # carry the rate limiter's state, clipped
        self.actuator = actuator
        self._bounds = tuple(zip(self.low.tolist(), self.high.tolist()))
        # A step runs on a trigger message just taken at ``now``: freshness needs only the
        # other required inputs (precomputed here, where the mode and limits are set).
        trigger = self.config.trigger
        self._others = tuple(self.inputs[name] for name in self.mode.required
                             if name != trigger)

    @property
    def required(self) -> Tuple[str, ...]:
        """Return the inputs that must be fresh before the core commands anything but zero."""
        return self.mode.required

    @property
    def image_shape(self) -> Optional[Tuple[int, int, int]]:
        """Return the camera policy's (height, width, channels), None in other modes."""
        return getattr(self.mode, 'image_shape', None)

    @property
    def corrector(self) -> LiveAdaptation:
        """Return the online adaptation (its older name: it learns from the corrections)."""
        return self.adaptation

    # -- settings and policy while running ---------------------------------------------------
    def apply(self, config: ControllerConfig) -> None:
        """
        Take a changed config between two steps; ValueError (nothing changed) if invalid.

        Limits, timeouts, rates and progress checks apply at the next step; the mode, the
        trigger and the command size are read at construction and must not change.
        """
        for name in ('mode', 'trigger', 'action_size'):
            if getattr(config, name) != getattr(self.config, name):
                raise ValueError(f'{name} cannot change on a running controller')
        limits = self.mode.limits(config)       # SpecMismatch (a ValueError) if impossible
        self.override.timeout = config.correction_timeout
        self._limits(limits)
        self.config = config
        if self.goals is not None:
            self.goals.config = config
        if config.adaptation is not None and self.adaptation.config is not config.adaptation:
            self.adaptation.configure(**dataclasses.asdict(config.adaptation))

    def check_policy(self, policy: Policy) -> None:
        """Raise :class:`SpecMismatch` if ``policy`` cannot replace the running one."""
        mode = self._check(policy, self.config)
        mode.limits(self.config)
        if self.adaptation.adapter is not None and self.adaptation.enabled:
            LiveAdaptation(policy, dataclasses.replace(self.adaptation.config))

    def swap_policy(self, policy: Policy) -> None:
        """
        Replace the policy between two steps (checked first) and reset the hidden state.

        The learned adaptation belongs to the old policy: a new one starts from its trained
        readout (adapting again when adaptation is on).
        """
        mode = self._check(policy, self.config)
        limits = mode.limits(self.config)
        adaptation = LiveAdaptation(policy, dataclasses.replace(self.adaptation.config))
        self.mode, self.policy, self.adaptation = mode, self._guarded(policy), adaptation
        self._limits(limits)
        self.swaps += 1
        self.reset('policy_swap')

    @staticmethod
    def _guarded(policy: Policy) -> Policy:
        # An observation the policy cannot take (values that overflow its normaliser, e.g. a
        # joint position of 3.4e38 that is still a finite float) is a bad message: counted
        # and dropped with the state untouched, never an exception that stops the robot.
        policy.nonfinite = 'stop'
        return policy

    # -- inputs ------------------------------------------------------------------------------
    def reject(self, reason: str) -> None:
        """Count a message the conversion layer refused, by reason."""
        self.rejected[reason] += 1

    def feed(self, name: str, reading: Any, now: float) -> Optional[np.ndarray]:
        """
        Take one reading of input ``name`` received at steady time ``now`` (seconds).

        Returns the command to publish when ``name`` is the trigger (a step ran, or the zero
        command when inputs are stale, no goal is set or the step was refused), else None.
        After :meth:`halt` it takes nothing and returns None.
        """
        if self.halted is not None:
            return None
        kind = _READING_TYPES.get(name)
        if kind is None or (type(reading) is not kind and not isinstance(reading, kind)):
            self.reject(f'{name}_type')
            return None
        stamp = getattr(reading, 'stamp', math.nan)
        # Fast path: a float stamp is finite iff stamp - stamp is 0 (inf - inf and NaN: NaN).
        if type(stamp) is not float or stamp - stamp != 0.0:
            stamp = _float(stamp)
            if stamp is None:
                self.reject(f'{name}_stamp')
                return None
        if name == 'goal' and self.goals is not None:
            if _float(reading.x) is None or _float(reading.y) is None:
                self.reject('goal_non_finite')
                return None
            self.goals.set_goal(reading)
            self.events += self.goals.drain()
        stats = self.inputs[name]
        stats.last = now
        stats.times.append(now)
        stats.received += 1
        self.readings[name] = reading
        if name != self.config.trigger:
            return None
        return self._step(stamp, now)

    def correct(self, command: Any, now: float) -> bool:
        """Take a correction (action units) at steady ``now``: it drives (and teaches)."""
        if self.halted is not None:
            return False
        if not self.override.feed(command, now):
            self.reject('correction_invalid')
            return False
        return True

    def reset(self, reason: str = 'request') -> None:
        """Zero the hidden state and restart ``dt`` from ``nominal_dt``; counted by reason."""
        self.policy.reset()
        self._last_stamp = None
        self.resets[reason] += 1

    def _fresh(self, now: float) -> bool:
        timeout = self.config.watchdog_timeout
        return all(now - self.inputs[name].last <= timeout for name in self.mode.required)

    def _others_fresh(self, now: float) -> bool:
        """Whether the required inputs are fresh, given the trigger was just received."""
        timeout = self.config.watchdog_timeout
        if not now - now <= timeout:
            return False        # a non-finite now: stale, as _fresh finds the trigger too
        for stats in self._others:
            if not now - stats.last <= timeout:
                return False
        return True

    # -- stepping ----------------------------------------------------------------------------
    def _step(self, stamp: float, now: float) -> np.ndarray:
        if not self._others_fresh(now):
            return self._stop()
        if self.stale:
            # Inputs are back after a stall: the robot stands still, the old state is stale.
            self.stale = False
            self.reset('resume')
            if self.actuator is not None:
                self.actuator.reset()
        last = self._last_stamp
        if last is not None and stamp == last:
            if now - self._stamp_advanced > self.config.watchdog_timeout:
                # A stuck trigger clock (e.g. a driver that never stamps): the policy has seen
                # nothing new for a watchdog timeout, so stop instead of holding a command.
                self.reject('stamp_frozen')
                if self.actuator is not None:
                    self.actuator.reset()
                return self._output(self.zero)
            self.reject('duplicate_stamp')
            return self.last_command.copy()
        if last is not None and stamp < last:
            self.reset('stamp_backwards')
            last = None
        elif last is not None and stamp - last > self.config.gap_reset:
            self.reset('gap')
            last = None
        dt = self.config.nominal_dt if last is None else stamp - last
        self._last_stamp = stamp
        self._stamp_advanced = now
        goals = self.goals
        if goals is not None and not self._pursue(goals, now):
            return self._hold(self.zero, dt)
        obs = self.mode.observe(self.readings, self.reject)
        if obs is None:
            # No goal yet (pibot): stay still, and keep the state fresh for when it comes.
            return self._hold(self.zero, dt)
        policy = self.policy
        with np.errstate(all='ignore'):
            start = perf_counter()
            skipped = policy.skipped
            action = policy.step(obs, dt)
            self.latencies.append(perf_counter() - start)
            if policy.skipped != skipped:
                self.reject('nonfinite_observation')
                return self._output(self.zero)
            # One reduction each instead of isfinite passes (this runs every step): a sum is
            # non-finite iff an element is (or the values are beyond any sane state, ~1e38
            # in float32). The action goes on as the Python floats the Actuator takes.
            total = float(_SUM(policy.state)) + float(_SUM(action))
            values = action.tolist()
        self.steps += 1
        if not math.isfinite(total):
            self.reset('divergence')
            if self.actuator is not None:
                self.actuator.reset()
            return self._output(self.zero)
        action, intervened = self.override.apply(action, now)
        if self.adaptation.adapter is not None:
            self.adaptation.step(intervened, self.override.command,
                                 self.mode.near_collision(self.readings))
        if intervened:
            if goals is not None:
                goals.pause()       # the operator drives: not the policy's progress
            values = action
        return self._hold(values, dt)

    def _pursue(self, goals: GoalMonitor, now: float) -> bool:
        """Update the goal monitor with the odometry; whether the policy should drive."""
        odom = self.readings['odom']
        if odom is not None:
            x, y, t = odom.x, odom.y, odom.stamp
            # readings.py gives floats (checked finite by the monitor); anything else is
            # converted and checked here first.
            if not (type(x) is float and type(y) is float and type(t) is float):
                x, y, t = _float(x), _float(y), _float(t)
            if x is not None and y is not None and t is not None:
                goals.update(x, y, t, now)
        if goals.restart:
            goals.restart = False
            if self.steps:
                self.reset('goal')  # a goal started from rest: a new episode for the policy
        if goals.events:
            self.events += goals.drain()
        return goals.drives

    def _hold(self, action: Any, dt: float) -> np.ndarray:
        if self.actuator is not None:
            # Python floats in and out: cheaper than numpy scalars for two values.
            if type(action) is np.ndarray and action.shape == (2,):
                action = action.tolist()
            return self._output(self.actuator.command(action, dt))
        return self._output(np.clip(np.asarray(action, dtype=np.float64), self.low, self.high))

    def _output(self, command: Any) -> np.ndarray:
        """Apply the final guard: nothing non-finite or out of limits leaves the core."""
        values = command.tolist() if type(command) is np.ndarray else command
        if _within(values, self._bounds):
            command = np.array(values)  # Python floats: float64
        else:
            try:
                with np.errstate(all='ignore'):
                    command = np.asarray(command, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError, OverflowError):
                command = self.zero[:0]
            if command.shape != self.zero.shape or not all(
                    lo <= v <= hi for v, (lo, hi) in zip(command.tolist(), self._bounds)):
                self.rejected['unsafe_command'] += 1
                command = self.zero.copy()
                if self.actuator is not None:
                    self.actuator.reset()
        self.last_command = command
        return command.copy()

    def _stop(self) -> np.ndarray:
        self.stale = True
        if self.goals is not None:
            self.goals.pause()
        if self.actuator is not None:
            self.actuator.reset()
        return self._output(self.zero)

    # -- timers and stops --------------------------------------------------------------------
    def watchdog(self, now: float) -> Optional[np.ndarray]:
        """Call periodically: the zero command while a required input is stale, else None."""
        if self.halted is not None or self._fresh(now):
            return None
        return self._stop()

    def stop(self) -> np.ndarray:
        """Zero command; the next step starts from rest (use :meth:`halt` to stay stopped)."""
        return self._stop()

    def halt(self, reason: str) -> np.ndarray:
        """
        Stop for good (until :meth:`resume`): return the zero command, step no more.

        ``reason`` (e.g. 'SIGTERM', 'deactivate', 'error') is kept in ``halted`` and reported.
        A goal being driven to is abandoned (logged).
        """
        if self.goals is not None and self.halted is None:
            self.goals.abandon(reason)
            self.events += self.goals.drain()
        self.halted = reason
        return self._stop()

    def resume(self) -> None:
        """Leave the halted state (activate): the next step starts from rest."""
        self.halted = None
        self.stale = True

    def drain_events(self) -> List[Tuple[str, str]]:
        """Return and forget the (level, text) events for the operator's log."""
        events, self.events = self.events, []
        return events

    def neuron_state_due(self, now: float) -> bool:
        """Whether a neuron-state report is due at steady time ``now`` (rate limit)."""
        rate = self.config.neuron_state_rate
        if rate <= 0.0 or now - self._last_neuron_report < 1.0 / rate:
            return False
        self._last_neuron_report = now
        return True

    @property
    def neuron_labels(self) -> List[str]:
        """Label of each element of ``policy.state``."""
        return list(self.policy.neuron_labels)

    def neuron_report(self) -> NeuronReport:
        """Return the last step's labelled activations and time constants (``~/neuron_state``)."""
        return self.policy.neuron_report()

    # -- reports -----------------------------------------------------------------------------
    def goal_status(self) -> Optional[Dict[str, Any]]:
        """JSON-able goal status (goal modes), None in other modes."""
        return None if self.goals is None else self.goals.status()

    def diagnostics(self, now: float) -> Tuple[int, str, Dict[str, str]]:
        """(level 0 OK / 1 WARN / 2 ERROR, message, key -> value) for /diagnostics."""
        values: Dict[str, str] = {}
        stale = []
        for name in INPUTS:
            stats = self.inputs[name]
            age = now - stats.last
            values[f'{name}_rate_hz'] = f'{stats.rate():.2f}'
            values[f'{name}_received'] = str(stats.received)
            values[f'{name}_age_s'] = f'{age:.3f}' if math.isfinite(age) else 'never'
            if name in self.mode.required and not age <= self.config.watchdog_timeout:
                stale.append(name)
        for reason, count in sorted(self.rejected.items()):
            values[f'rejected_{reason}'] = str(count)
        values['rejected_total'] = str(sum(self.rejected.values()))
        for reason, count in sorted(self.resets.items()):
            values[f'resets_{reason}'] = str(count)
        values['resets_total'] = str(sum(self.resets.values()))
        if self.latencies:
            p50, p99 = np.percentile(np.asarray(self.latencies), [50, 99]) * 1e3
            values['step_latency_p50_ms'] = f'{p50:.3f}'
            values['step_latency_p99_ms'] = f'{p99:.3f}'
        values['steps'] = str(self.steps)
        values['policy_swaps'] = str(self.swaps)
        values.update(self.override.diagnostics())
        values.update(self.adaptation.diagnostics())
        values['goal_set'] = str(self.readings['goal'] is not None)
        goals = self.goals
        if goals is not None:
            values['goal_state'] = goals.state
            if not math.isnan(goals.distance):
                values['goal_distance_m'] = f'{goals.distance:.3f}'
            for key, count in goals.counts.items():
                values[f'goals_{key}'] = str(count)
        values['last_command'] = ' '.join(f'{v:.4f}' for v in self.last_command)
        if self.halted is not None:
            values['halted'] = self.halted
            level = 2 if self.halted == 'error' else 1
            return level, f'stopped ({self.halted}): commanding nothing', values
        if stale:
            return 1, f'stale inputs {stale}: commanding zero', values
        if goals is not None:
            if goals.state == 'no_progress':
                return 1, f'no progress toward the goal: {goals.reason}', values
            if goals.state == 'reached':
                return 0, 'goal reached: standing still', values
            if goals.state == 'no_goal':
                return 0, 'no goal: standing still', values
        return 0, 'running', values


def _within(values: Any, bounds: Tuple[Tuple[float, float], ...]) -> bool:
    """
    Whether ``values`` is a flat tuple or list of floats inside ``bounds``, one pair each.

    Python comparisons on precomputed bounds beat numpy calls on 1-2 values; NaN fails every
    one. Anything else (other types, shapes) is for the caller's slow path to judge.
    """
    if type(values) not in (tuple, list) or len(values) != len(bounds):
        return False
    for v, (lo, hi) in zip(values, bounds):
        if not (type(v) is float and lo <= v <= hi):
            return False
    return True
