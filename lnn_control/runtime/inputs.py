# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Input modes of the controller: what a robot type subscribes, needs fresh and observes.

An input mode is a class registered by name in :data:`MODES` (``ControllerConfig.mode``); a
new robot type is one subclass. Each one checks that a policy fits it, gives the command's
limits, and turns the latest readings into the policy's observation:

==========  ==============================  =========================  =======================
mode        inputs (required first)         observation                command
==========  ==============================  =========================  =======================
``pibot``   scan, odom; goal, imu           the policy's Observer      (v, w) through the
                                            (lidar sectors, twist,     Actuator (speed and
                                            goal distance/bearing)     acceleration limits)
``vector``  joints                          joint positions, then      the action clipped to
                                            velocities (MuJoCo's       the action space
                                            qpos, qvel)                (tightened by
                                                                       ``max_output``)
``camera``  image; odom if the policy       the frame (H, W, 3) uint8  (v, w) through the
            takes the speed                 (+ the odometry speed)     Actuator
==========  ==============================  =========================  =======================

The ROS node maps input names to messages and topics (``lnn_control.ros.controller_node``);
nothing here knows ROS.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from dataclasses import field
import math
from typing import Any, Callable, ClassVar, Deque, Dict, Optional, Tuple, Type

from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.actuator import ActuatorConfig
from lnn_control.runtime.conv import camera_observation
from lnn_control.runtime.conv import image_shape
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
from lnn_control.runtime.policy import PolicySpec
import numpy as np

__all__ = ['InputMode', 'PiBotInputs', 'VectorInputs', 'CameraInputs', 'MODES', 'INPUTS',
           'SpecMismatch', 'NEAR_COLLISION', 'InputStats', 'finite_float']

INPUTS = ('scan', 'odom', 'goal', 'imu', 'joints', 'image')
MODES: Dict[str, Type['InputMode']] = {}
# A lidar return closer than this (m) counts as a near-collision for the adaptation monitor.
NEAR_COLLISION = 0.2

Reject = Callable[[str], None]


class SpecMismatch(ValueError):
    """The policy file does not fit the configured inputs/outputs (the node refuses it)."""


@dataclass
class InputStats:
    """Receive times (steady clock, seconds) of one input, for staleness and rates."""

    last: float = -math.inf
    times: Deque[float] = field(default_factory=lambda: deque(maxlen=50))
    received: int = 0       # readings taken (refused ones are counted by reason instead)

    def rate(self) -> float:
        """Messages per second over the last 50 receive times (0 before two)."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


def finite_float(value: Any) -> Optional[float]:
    """Return ``float(value)`` if finite, else None."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


class InputMode:
    """
    Base class of the input modes; subclasses set ``name`` and ``inputs`` and register.

    Args:
        spec: the policy's metadata (checked: raises :class:`SpecMismatch` if it does not fit).

    Attributes:
        inputs: every input the mode reads (the node subscribes to these).
        required: inputs that must be fresh before it commands anything but zero.
        goals: whether the mode drives to goals (goal status, progress checks).

    """

    name: ClassVar[str] = ''
    inputs: ClassVar[Tuple[str, ...]] = ()
    goals: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            MODES[cls.name] = cls

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self.required: Tuple[str, ...] = self.inputs[:1]

    def limits(self, config: Any) -> Tuple[np.ndarray, np.ndarray, Optional[Actuator]]:
        """Return (low, high, actuator or None) of the command under ``config``'s limits."""
        raise NotImplementedError

    def observe(self, readings: Dict[str, Any], reject: Reject) -> Optional[np.ndarray]:
        """Return the observation from the latest readings, or None (reason passed to reject)."""
        raise NotImplementedError

    def near_collision(self, readings: Dict[str, Any]) -> bool:
        """Whether the robot is close to hitting something (for the adaptation monitor)."""
        return False


def _tighten(policy_value: float, param: float) -> float:
    """Param limits only tighten: 0 keeps the policy's value."""
    return policy_value if param <= 0.0 else min(policy_value, param)


class _TwistInputs(InputMode):
    """A (v, w) command through the Actuator with the policy's limits, tightened by config."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        if spec.action.size != 2:
            raise SpecMismatch(f'{self.name} mode commands (v, w) but the policy gives '
                               f'{spec.action.size} actions')
        try:
            self.base = ActuatorConfig.from_dict(spec.actuator or {})
        except (TypeError, ValueError) as exc:
            raise SpecMismatch(f'the policy file holds an invalid actuator config: '
                               f'{exc}') from None

    def limits(self, config: Any) -> Tuple[np.ndarray, np.ndarray, Optional[Actuator]]:
        b = self.base
        actuator = Actuator(ActuatorConfig(
            max_v=_tighten(b.max_v, config.max_v), max_w=_tighten(b.max_w, config.max_w),
            max_accel_v=_tighten(b.max_accel_v, config.max_accel_v),
            max_accel_w=_tighten(b.max_accel_w, config.max_accel_w)))
        c = actuator.config
        return np.array([-c.max_v, -c.max_w]), np.array([c.max_v, c.max_w]), actuator


class PiBotInputs(_TwistInputs):
    """Lidar + odometry + goal through the policy's own Observer (PiBotNav policies)."""

    name = 'pibot'
    inputs = ('scan', 'odom', 'goal', 'imu')
    goals = True

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        try:
            self.observer = Observer(ObserverConfig.from_dict(spec.observer or {}))
        except (TypeError, ValueError) as exc:
            raise SpecMismatch(f'the policy file holds an invalid observer config: '
                               f'{exc}') from None
        if spec.obs.size != self.observer.size:
            raise SpecMismatch(
                f'the policy takes {spec.obs.size} observations but its observer config '
                f'({self.observer.config.lidar_sectors} lidar sectors) makes '
                f'{self.observer.size}; it was not trained for scan + odom + goal inputs')
        generic = [f'x{i}' for i in range(spec.obs.size)]
        if spec.obs.names != generic and spec.obs.names != self.observer.names:
            raise SpecMismatch(f'the policy observation names {spec.obs.names} are not '
                               f"the Observer's {self.observer.names}")
        self.required = ('scan', 'odom')

    def observe(self, readings: Dict[str, Any], reject: Reject) -> Optional[np.ndarray]:
        if readings['goal'] is None:
            return None
        # A reading built outside readings.py may hold anything: values that are not numbers
        # are refused (counted), never raised into the node's callback.
        try:
            return self.observer.observe(readings['scan'], readings['odom'], readings['goal'])
        except (TypeError, ValueError, OverflowError):
            reject('readings_invalid')
            return None

    def near_collision(self, readings: Dict[str, Any]) -> bool:
        ranges = getattr(readings['scan'], 'ranges', None)
        if ranges is None:
            return False
        r = np.asarray(ranges, dtype=np.float64)
        r = r[np.isfinite(r) & (r >= getattr(readings['scan'], 'range_min', 0.0))]
        return bool(r.size and r.min() < NEAR_COLLISION)


class VectorInputs(InputMode):
    """Joint positions then velocities as the observation (e.g. MuJoCo's InvertedPendulum)."""

    name = 'vector'
    inputs = ('joints',)

    def limits(self, config: Any) -> Tuple[np.ndarray, np.ndarray, Optional[Actuator]]:
        low = np.asarray(self.spec.action.low, dtype=np.float64)
        high = np.asarray(self.spec.action.high, dtype=np.float64)
        if config.max_output > 0.0:
            low = np.maximum(low, -config.max_output)
            high = np.minimum(high, config.max_output)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise SpecMismatch('the policy action space is unbounded; set max_output so '
                               'the command has limits')
        if (low > 0.0).any() or (high < 0.0).any():
            raise SpecMismatch('the action bounds exclude zero, so there is no safe stop')
        return low, high, None

    def observe(self, readings: Dict[str, Any], reject: Reject) -> Optional[np.ndarray]:
        joints = readings['joints']
        try:
            with np.errstate(over='ignore', invalid='ignore'):
                # A float64 beyond float32 range casts to inf: refused below, like NaN.
                obs = np.concatenate([
                    np.asarray(joints.positions, dtype=np.float32).reshape(-1),
                    np.asarray(joints.velocities, dtype=np.float32).reshape(-1)])
        except (TypeError, ValueError, OverflowError):
            reject('joints_invalid')
            return None
        if obs.size != self.spec.obs.size:
            reject('joints_size')
            return None
        if not np.isfinite(obs).all():
            reject('joints_non_finite')
            return None
        return obs


class CameraInputs(_TwistInputs):
    """Camera frames (+ the odometry speed when the policy takes it) into a CNN policy."""

    name = 'camera'
    inputs = ('image', 'odom')

    def __init__(self, spec: PolicySpec) -> None:
        shape = image_shape(spec.config)
        if shape is None:
            raise SpecMismatch(f'camera mode needs a camera policy (kind conv), got kind '
                               f'{spec.kind!r}')
        extra = int(spec.config.get('extra', 0))
        if extra not in (0, 1):
            raise SpecMismatch(f'camera mode feeds the image and at most the odometry speed; '
                               f'the policy takes {extra} extra inputs')
        super().__init__(spec)
        self.image_shape = shape
        self.required = ('image', 'odom') if extra else ('image',)

    def observe(self, readings: Dict[str, Any], reject: Reject) -> Optional[np.ndarray]:
        extra: Tuple[float, ...] = ()
        if 'odom' in self.required:
            odom = readings['odom']
            extra = (float(odom.v),) if odom is not None else (math.nan,)
        try:
            obs = camera_observation(readings['image'], self.image_shape, extra)
        except (TypeError, ValueError, AttributeError):
            reject('image_size')
            return None
        if not np.isfinite(obs).all():
            reject('readings_invalid')
            return None
        return obs
