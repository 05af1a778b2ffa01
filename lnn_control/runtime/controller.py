# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ROS-free core of the ``lnn_controller`` node: readings in, a safe command out.

``ControllerCore`` holds a :class:`~lnn_control.runtime.policy.Policy`, the shared
:class:`~lnn_control.runtime.observer.Observer` and
:class:`~lnn_control.runtime.actuator.Actuator` built from the policy file's own configs
(DESIGN.md, "The one idea"), and everything the node decides: when to step, with which
``dt``, when to reset, when to stop the robot.

Two modes (``ControllerConfig.mode``):

==========  ============================================  ====================================
mode        inputs                                        command
==========  ============================================  ====================================
``pibot``   scan, odom, goal (optional imu); the          (v, w) through the Actuator (speed
            Observer builds the observation               and acceleration limits, NaN guard)
``vector``  joints: observation = positions + velocities  the action clipped to the action
            (e.g. MuJoCo's InvertedPendulum: qpos, qvel)  space (tightened by ``max_output``)
==========  ============================================  ====================================

Time. A step runs on each message of the *trigger* input (odometry for the PiBot) with
``dt`` = the difference of that input's header stamps, because a liquid network integrates
over the real elapsed time. The first step after a reset uses ``nominal_dt``. The hidden state
is reset (and the reset counted by reason) when the stamp gap exceeds ``gap_reset`` seconds,
when stamps go backwards (a rosbag loop, a restarted simulator), on request, and when the
state diverges (non-finite). A repeated stamp is rejected as a duplicate (the last command is
held); when the trigger stamp has not moved for ``watchdog_timeout`` of steady time while its
messages keep coming (a stuck clock), the command is zero (counted as ``stamp_frozen``).

Watchdog. Every ``feed`` and ``watchdog`` call takes ``now``, a caller-supplied *steady*
clock in seconds (the node passes a ``STEADY_TIME`` clock, so sim time and wall-clock jumps do
not fool it). When a required input has not arrived for ``watchdog_timeout`` seconds the core
answers with the zero command and keeps doing so until every required input is fresh again;
the hidden state is then reset, as the robot restarts from rest. The TurtleBot3 firmware has
no command timeout, so a stalled controller must stop the robot itself.

Every command the core returns is finite and inside the limits (a final guard replaces
anything else by the zero command and counts it).
"""

from __future__ import annotations

from collections import Counter
from collections import deque
from dataclasses import dataclass
from dataclasses import field
import math
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.actuator import ActuatorConfig
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.adapt import Corrector
from lnn_control.runtime.conv import camera_observation
from lnn_control.runtime.conv import image_shape
from lnn_control.runtime.conv import ImageReading
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import NeuronReport
from lnn_control.runtime.policy import Policy
import numpy as np

__all__ = ['ControllerConfig', 'ControllerCore', 'SpecMismatch', 'INPUTS', 'MODES']

INPUTS = ('scan', 'odom', 'goal', 'imu', 'joints', 'image')
# Inputs each mode needs to be fresh before it commands anything but zero. The goal is not
# watched: it is a command, held until replaced (no goal means "stay still").
MODES: Dict[str, Tuple[str, ...]] = {'pibot': ('scan', 'odom'), 'vector': ('joints',),
                                     'camera': ('image',)}   # issue 8; + odom if extra
_READING_TYPES = {'scan': ScanReading, 'odom': OdomReading, 'goal': Goal, 'imu': ImuReading,
                  'joints': JointsReading, 'image': ImageReading}


class SpecMismatch(ValueError):
    """The policy file does not fit the configured inputs/outputs (the node refuses it)."""


@dataclass
class ControllerConfig:
    """
    What the node's parameters say (all times in seconds).

    Attributes:
        mode: 'pibot' (scan + odom + goal -> Observer) or 'vector' (joint positions and
            velocities are the observation).
        trigger: the input whose messages run a step (and whose stamps give ``dt``).
        watchdog_timeout: a required input older than this (steady clock) -> zero command.
        gap_reset: a trigger stamp gap longer than this resets the hidden state.
        nominal_dt: ``dt`` of the first step after a reset.
        max_v, max_w, max_accel_v, max_accel_w: tighten the policy's Actuator limits
            (0 keeps the policy's value; a value above it is ignored, limits only tighten).
        max_output: tighten the vector-mode action bounds to +-this (0: the action space's).
        action_size: the command size the outputs need (2 for Twist), 0 for any.
        neuron_state_rate: Hz of neuron-state reports (``neuron_state_due``), 0 for none.
        correction_timeout: a correction (``correct``) overrides the policy this long (issue 7).
        adaptation: online readout adaptation from corrections (``runtime.adapt``); None: off.

    """

    mode: str = 'pibot'
    trigger: str = 'odom'
    watchdog_timeout: float = 0.5
    gap_reset: float = 1.0
    nominal_dt: float = 0.05
    max_v: float = 0.0
    max_w: float = 0.0
    max_accel_v: float = 0.0
    max_accel_w: float = 0.0
    max_output: float = 0.0
    action_size: int = 0
    neuron_state_rate: float = 10.0
    correction_timeout: float = 0.5
    adaptation: Optional[AdaptationConfig] = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f'mode must be one of {sorted(MODES)}, got {self.mode!r}')
        if self.trigger not in INPUTS or self.trigger == 'goal':
            raise ValueError(f'trigger must be one of scan, odom, imu, joints, got '
                             f'{self.trigger!r}')
        for name in ('watchdog_timeout', 'gap_reset', 'nominal_dt'):
            value = float(getattr(self, name))
            if not 0.0 < value < math.inf:
                raise ValueError(f'{name} must be positive and finite, got {value}')
            setattr(self, name, value)
        for name in ('max_v', 'max_w', 'max_accel_v', 'max_accel_w', 'max_output',
                     'neuron_state_rate'):
            value = float(getattr(self, name))
            if not 0.0 <= value < math.inf:
                raise ValueError(f'{name} must be >= 0 and finite, got {value}')
            setattr(self, name, value)


@dataclass
class _InputStats:
    """Receive times (steady clock) of one input, for staleness and rates."""

    last: float = -math.inf
    times: Deque[float] = field(default_factory=lambda: deque(maxlen=50))
    received: int = 0       # readings taken (refused ones are counted by reason instead)

    def rate(self) -> float:
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def _tighten(policy_value: float, param: float) -> float:
    """Param limits only tighten: 0 keeps the policy's value."""
    return policy_value if param <= 0.0 else min(policy_value, param)


class ControllerCore:
    """
    Policy + Observer + Actuator + the node's timing, reset and watchdog rules, without ROS.

    Example::

        core = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig())
        core.feed('scan', scan_reading, now=steady())          # None: scan is not the trigger
        core.feed('goal', goal, now=steady())
        cmd = core.feed('odom', odom_reading, now=steady())    # (2,) v, w -> publish it
        cmd = core.watchdog(now=steady())                      # not None: publish this zero

    Raises :class:`SpecMismatch` when the policy does not fit the configuration.
    """

    def __init__(self, policy: Policy, config: Optional[ControllerConfig] = None) -> None:
        self.policy = policy
        self.config = config = config or ControllerConfig()
        spec = policy.spec
        self.action_size = spec.action.size
        if config.action_size and spec.action.size != config.action_size:
            raise SpecMismatch(f'the policy gives {spec.action.size} actions but the command '
                               f'type needs {config.action_size}')
        self.observer: Optional[Observer] = None
        self.actuator: Optional[Actuator] = None
        if config.mode == 'pibot':
            try:
                self.observer = Observer(ObserverConfig.from_dict(spec.observer or {}))
                base = ActuatorConfig.from_dict(spec.actuator or {})
            except (TypeError, ValueError) as exc:
                raise SpecMismatch(f'the policy file holds an invalid observer/actuator '
                                   f'config: {exc}') from None
            if spec.obs.size != self.observer.size:
                raise SpecMismatch(
                    f'the policy takes {spec.obs.size} observations but its observer config '
                    f'({self.observer.config.lidar_sectors} lidar sectors) makes '
                    f'{self.observer.size}; it was not trained for scan + odom + goal inputs')
            generic = [f'x{i}' for i in range(spec.obs.size)]
            if spec.obs.names != generic and spec.obs.names != self.observer.names:
                raise SpecMismatch(f'the policy observation names {spec.obs.names} are not '
                                   f"the Observer's {self.observer.names}")
            if spec.action.size != 2:
                raise SpecMismatch(f'pibot mode commands (v, w) but the policy gives '
                                   f'{spec.action.size} actions')
            self.actuator = Actuator(ActuatorConfig(
                max_v=_tighten(base.max_v, config.max_v),
                max_w=_tighten(base.max_w, config.max_w),
                max_accel_v=_tighten(base.max_accel_v, config.max_accel_v),
                max_accel_w=_tighten(base.max_accel_w, config.max_accel_w)))
            c = self.actuator.config
            self.low = np.array([-c.max_v, -c.max_w])
            self.high = np.array([c.max_v, c.max_w])
        elif config.mode == 'camera':
            self.actuator, self.image_shape = _camera_setup(spec, config)
            c = self.actuator.config
            self.low = np.array([-c.max_v, -c.max_w])
            self.high = np.array([c.max_v, c.max_w])
        else:
            low = np.asarray(spec.action.low, dtype=np.float64)
            high = np.asarray(spec.action.high, dtype=np.float64)
            if config.max_output > 0.0:
                low = np.maximum(low, -config.max_output)
                high = np.minimum(high, config.max_output)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise SpecMismatch('the policy action space is unbounded; set max_output so '
                                   'the command has limits')
            if (low > 0.0).any() or (high < 0.0).any():
                raise SpecMismatch('the action bounds exclude zero, so there is no safe stop')
            self.low, self.high = low, high
        self._low_list, self._high_list = self.low.tolist(), self.high.tolist()
        self.required = MODES[config.mode]
        if config.mode == 'camera' and spec.config.get('extra'):
            self.required = ('image', 'odom')   # the extra input is the odometry speed
        self.zero = np.zeros(self.action_size, dtype=np.float64)
        self.readings: Dict[str, Any] = dict.fromkeys(INPUTS)
        self.inputs = {name: _InputStats() for name in INPUTS}
        self.rejected: Counter = Counter()
        self.resets: Counter = Counter()
        self.latencies: Deque[float] = deque(maxlen=1000)
        self.steps = 0
        self.stale = True
        self.last_command = self.zero.copy()
        self._last_stamp: Optional[float] = None
        self._stamp_advanced = -math.inf   # steady time the trigger stamp last moved
        self._last_neuron_report = -math.inf
        # Issue 7: operator corrections override the policy and teach its readout.
        self.corrector = Corrector(policy, config.correction_timeout, config.adaptation)

    # -- inputs ------------------------------------------------------------------------------
    def reject(self, reason: str) -> None:
        """Count a message the conversion layer refused, by reason."""
        self.rejected[reason] += 1

    def feed(self, name: str, reading: Any, now: float) -> Optional[np.ndarray]:
        """
        Take one reading of input ``name`` received at steady time ``now`` (seconds).

        Returns the command to publish when ``name`` is the trigger (a step ran, or the zero
        command when inputs are stale, no goal is set or the step was refused), else None.
        """
        if name not in _READING_TYPES or not isinstance(reading, _READING_TYPES[name]):
            self.reject(f'{name}_type')
            return None
        stamp = _float(getattr(reading, 'stamp', math.nan))
        if stamp is None:
            self.reject(f'{name}_stamp')
            return None
        stats = self.inputs[name]
        stats.last = now
        stats.times.append(now)
        stats.received += 1
        self.readings[name] = reading
        if name != self.config.trigger:
            return None
        return self._step(stamp, now)

    def correct(self, command: Any, now: float) -> bool:
        """Take a correction (action units) at steady ``now``: it drives and teaches (issue 7)."""
        if not self.corrector.feed(command, now):
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
        return all(now - self.inputs[name].last <= timeout for name in self.required)

    # -- stepping ----------------------------------------------------------------------------
    def _observation(self) -> Optional[np.ndarray]:
        r = self.readings
        if self.config.mode == 'camera':
            return _camera_observation(self)
        # A reading built outside readings.py may hold anything: values that are not numbers
        # are refused (counted), never raised into the node's callback.
        if self.config.mode == 'pibot':
            if r['goal'] is None:
                return None
            try:
                return self.observer.observe(r['scan'], r['odom'], r['goal'])
            except (TypeError, ValueError, OverflowError):
                self.reject('readings_invalid')
                return None
        joints = r['joints']
        try:
            with np.errstate(over='ignore', invalid='ignore'):
                # A float64 beyond float32 range casts to inf: refused below, like NaN.
                obs = np.concatenate([
                    np.asarray(joints.positions, dtype=np.float32).reshape(-1),
                    np.asarray(joints.velocities, dtype=np.float32).reshape(-1)])
        except (TypeError, ValueError, OverflowError):
            self.reject('joints_invalid')
            return None
        if obs.size != self.policy.spec.obs.size:
            self.reject('joints_size')
            return None
        if not np.isfinite(obs).all():
            self.reject('joints_non_finite')
            return None
        return obs

    def _step(self, stamp: float, now: float) -> np.ndarray:
        if not self._fresh(now):
            return self._stop(now)
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
        obs = self._observation()
        if obs is None:
            # No goal yet (pibot): stay still, and keep the state fresh for when it comes.
            return self._hold(self.zero, dt)
        start = time.perf_counter()
        with np.errstate(all='ignore'):
            action = self.policy.step(obs, dt)
        self.latencies.append(time.perf_counter() - start)
        self.steps += 1
        # One reduction instead of two isfinite passes (this runs every step): a sum is
        # non-finite iff an element is (or the values are beyond any sane state, ~1e38).
        if not math.isfinite(float(self.policy.state.sum()) + float(np.sum(action))):
            self.reset('divergence')
            if self.actuator is not None:
                self.actuator.reset()
            return self._output(self.zero)
        action = self.corrector.after_step(action, now, self.readings['scan'])
        return self._hold(action, dt)

    def _hold(self, action: np.ndarray, dt: float) -> np.ndarray:
        if self.actuator is not None:
            return self._output(np.asarray(self.actuator.command(action, dt)))
        return self._output(np.clip(np.asarray(action, dtype=np.float64), self.low, self.high))

    def _output(self, command: np.ndarray) -> np.ndarray:
        """Apply the final guard: nothing non-finite or out of limits leaves the core."""
        command = np.asarray(command, dtype=np.float64).reshape(-1)
        # Python-level comparisons beat numpy calls on 1-2 values; NaN fails every one.
        if command.shape != self.zero.shape or not all(
                lo <= v <= hi for v, lo, hi in zip(command.tolist(), self._low_list,
                                                   self._high_list)):
            self.rejected['unsafe_command'] += 1
            command = self.zero.copy()
            if self.actuator is not None:
                self.actuator.reset()
        self.last_command = command
        return command.copy()

    def _stop(self, now: float) -> np.ndarray:
        self.stale = True
        if self.actuator is not None:
            self.actuator.reset()
        return self._output(self.zero)

    # -- timers ------------------------------------------------------------------------------
    def watchdog(self, now: float) -> Optional[np.ndarray]:
        """Call periodically: the zero command while a required input is stale, else None."""
        if self._fresh(now):
            return None
        return self._stop(now)

    def stop(self) -> np.ndarray:
        """Zero command for deactivate/shutdown; the next step starts from rest."""
        self.stale = True
        if self.actuator is not None:
            self.actuator.reset()
        return self._output(self.zero)

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
            if name in self.required and not age <= self.config.watchdog_timeout:
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
        values.update(self.corrector.diagnostics())
        values['goal_set'] = str(self.readings['goal'] is not None)
        values['last_command'] = ' '.join(f'{v:.4f}' for v in self.last_command)
        if stale:
            return 1, f'stale inputs {stale}: commanding zero', values
        if self.config.mode == 'pibot' and self.readings['goal'] is None:
            return 0, 'no goal: standing still', values
        return 0, 'running', values


# -- camera mode (issue 8) ------------------------------------------------------------------
def _camera_setup(spec: Any, config: ControllerConfig) -> Tuple[Actuator, Tuple[int, int, int]]:
    """Check a camera policy against camera mode; return its Actuator and image shape."""
    shape = image_shape(spec.config)
    if shape is None:
        raise SpecMismatch(f'camera mode needs a camera policy (kind conv), got kind '
                           f'{spec.kind!r}')
    extra = int(spec.config.get('extra', 0))
    if extra not in (0, 1):
        raise SpecMismatch(f'camera mode feeds the image and at most the odometry speed; the '
                           f'policy takes {extra} extra inputs')
    if spec.action.size != 2:
        raise SpecMismatch(f'camera mode commands (v, w) but the policy gives '
                           f'{spec.action.size} actions')
    try:
        base = ActuatorConfig.from_dict(spec.actuator or {})
    except (TypeError, ValueError) as exc:
        raise SpecMismatch(f'the policy file holds an invalid actuator config: {exc}') from None
    actuator = Actuator(ActuatorConfig(
        max_v=_tighten(base.max_v, config.max_v), max_w=_tighten(base.max_w, config.max_w),
        max_accel_v=_tighten(base.max_accel_v, config.max_accel_v),
        max_accel_w=_tighten(base.max_accel_w, config.max_accel_w)))
    return actuator, shape


def _camera_observation(core: ControllerCore) -> Optional[np.ndarray]:
    """Return the latest frame (+ odometry speed) as the observation; None (counted) if bad."""
    reading = core.readings['image']
    extra = ()
    if 'odom' in core.required:
        odom = core.readings['odom']
        extra = (float(odom.v),) if odom is not None else (math.nan,)
    try:
        obs = camera_observation(reading, core.image_shape, extra)
    except (TypeError, ValueError, AttributeError):
        core.reject('image_size')
        return None
    if not np.isfinite(obs).all():
        core.reject('readings_invalid')
        return None
    return obs


def _float(value: Any) -> Optional[float]:
    """Return ``float(value)`` if finite, else None."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None
