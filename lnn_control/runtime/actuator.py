# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The shared Actuator: a policy's action (v, w) -> the limited velocity command sent to a robot.

The same object limits commands in the Gymnasium env and in the ROS controller, so the robot,
the simulator and training all see the same commands (DESIGN.md, "The one idea"):

1. A non-finite action (NaN or +-inf in either element) gives the zero command at once and
   resets the limiter: a controller fault stops the robot rather than sending NaN to it
   (ros2_control's diff_drive_controller ignores non-finite commands, which would leave the
   previous one running on the TurtleBot3, whose firmware has no command timeout).
2. v and w are clipped to +-max_v, +-max_w.
3. Each is rate-limited: it moves from the previous command by at most ``max_accel * dt``,
   where ``dt`` is the time since that command (seconds). A non-finite or non-positive ``dt``
   allows no change.

Defaults are the TurtleBot3 Burger's: 0.22 m/s and 2.84 rad/s (ROBOTIS e-Manual, Burger
specifications), 2.5 m/s^2 and 3.2 rad/s^2 (``acc_lim_x``/``decel_lim_x`` and ``acc_lim_theta``
of DWB in turtlebot3_navigation2/param/burger.yaml; the Jazzy file raises ``acc_lim_x`` to 3.0
and keeps ``decel_lim_x`` at -2.5, so 2.5 holds both ways).

The command is always finite and inside the limits, whatever floats come in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
import math
from typing import Any, Dict, Mapping, Tuple

import numpy as np

__all__ = ['ActuatorConfig', 'Actuator', 'wheel_speeds', 'body_twist',
           'WHEEL_RADIUS', 'WHEEL_SEPARATION']

# TurtleBot3 Burger (turtlebot3_description/urdf/turtlebot3_burger.urdf): wheel joints at
# y = +-0.080 m, tyre radius 0.033 m.
WHEEL_RADIUS = 0.033       # m
WHEEL_SEPARATION = 0.160   # m


@dataclass
class ActuatorConfig:
    """
    Command limits; stored in every policy file (``to_dict``/``from_dict``).

    Attributes:
        max_v: forward speed limit (m/s).
        max_w: yaw rate limit (rad/s).
        max_accel_v: |dv/dt| limit (m/s^2), inf for none.
        max_accel_w: |dw/dt| limit (rad/s^2), inf for none.

    """

    max_v: float = 0.22
    max_w: float = 2.84
    max_accel_v: float = 2.5
    max_accel_w: float = 3.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = float(getattr(self, f.name))
            setattr(self, f.name, value)
            if not value > 0.0 or math.isnan(value):
                raise ValueError(f'{f.name} must be positive, got {value}')
        for name in ('max_v', 'max_w'):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f'{name} must be finite, got {getattr(self, name)}')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able dict of the fields (an infinite limit is stored as the string 'inf')."""
        return {k: (v if math.isfinite(v) else repr(v)) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ActuatorConfig':
        """Build from ``to_dict`` output; unknown keys are refused (a newer file format)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown ActuatorConfig keys {unknown}; known: {sorted(known)}')
        return cls(**{k: float(v) for k, v in data.items()})


class Actuator:
    """
    Action -> limited (v, w) command, with state (the previous command) for rate limiting.

    Example::

        actuator = Actuator()
        v, w = actuator.command(policy_action, dt)     # dt: seconds since the last command
        actuator.reset()                               # on (re)activation: start from rest

    """

    def __init__(self, config: ActuatorConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = ActuatorConfig()
        elif not isinstance(config, ActuatorConfig):
            config = ActuatorConfig.from_dict(config)
        self.config = config
        self.v = 0.0
        self.w = 0.0

    def reset(self, v: float = 0.0, w: float = 0.0) -> None:
        """Forget the previous command (default: at rest); values are clipped to the limits."""
        c = self.config
        v, w = float(v), float(w)
        finite = math.isfinite(v) and math.isfinite(w)
        self.v = min(max(v, -c.max_v), c.max_v) if finite else 0.0
        self.w = min(max(w, -c.max_w), c.max_w) if finite else 0.0

    @property
    def last(self) -> Tuple[float, float]:
        """Return the last command sent, (v, w)."""
        return self.v, self.w

    def space(self) -> Dict[str, Any]:
        """Describe the action: size, names, units, low, high (``SpaceSpec(**...)`` takes it)."""
        c = self.config
        return {'size': 2, 'names': ['v', 'w'], 'units': ['m/s', 'rad/s'],
                'low': [-c.max_v, -c.max_w], 'high': [c.max_v, c.max_w]}

    def command(self, action: Any, dt: float) -> Tuple[float, float]:
        """
        Limit ``action`` = (v, w) given ``dt`` seconds since the last command.

        Returns the (v, w) command as python floats, finite and within the limits. Raises
        ValueError only when ``action`` does not hold exactly two numbers.
        """
        v, w = _pair(action)
        # v - v is 0.0 for a finite float, NaN for inf or NaN.
        if (v - v) + (w - w) != 0.0:
            self.v = self.w = 0.0
            return 0.0, 0.0
        c = self.config
        max_v, max_w = c.max_v, c.max_w
        v = min(max(v, -max_v), max_v)
        w = min(max(w, -max_w), max_w)
        if type(dt) is not float:
            try:
                dt = float(dt)
            except (TypeError, ValueError, OverflowError):
                dt = 0.0
        if not dt > 0.0 or math.isnan(dt):
            return self.v, self.w
        dv = c.max_accel_v * dt   # may be inf (huge dt or no limit): then no rate limit
        dw = c.max_accel_w * dt
        last_v, last_w = self.v, self.w
        self.v = v = min(max(v, last_v - dv), last_v + dv)
        self.w = w = min(max(w, last_w - dw), last_w + dw)
        return v, w


def _pair(action: Any) -> Tuple[float, float]:
    """(v, w) as python floats from a pair, a (2,) or (1, 2) array; inf for a huge integer."""
    try:
        v, w = action                        # fast path: list, tuple, (2,) array
        return float(v), float(w)
    except OverflowError:                    # an integer beyond float range: as good as inf
        return math.inf, math.inf
    except (TypeError, ValueError):
        pass
    try:
        with np.errstate(over='ignore', invalid='ignore'):
            flat = np.asarray(action, dtype=np.float64).reshape(-1)
    except OverflowError:
        return math.inf, math.inf
    except TypeError as error:
        raise ValueError(f'an action is (v, w), got {action!r}') from error
    if flat.size != 2:
        raise ValueError(f'an action is (v, w), got {flat.size} values')
    return float(flat[0]), float(flat[1])


def wheel_speeds(v: float, w: float, wheel_radius: float = WHEEL_RADIUS,
                 wheel_separation: float = WHEEL_SEPARATION) -> Tuple[float, float]:
    """Differential-drive inverse kinematics: (v, w) -> (left, right) wheel speeds in rad/s."""
    half = 0.5 * wheel_separation * w
    return (v - half) / wheel_radius, (v + half) / wheel_radius


def body_twist(left: float, right: float, wheel_radius: float = WHEEL_RADIUS,
               wheel_separation: float = WHEEL_SEPARATION) -> Tuple[float, float]:
    """Differential-drive forward kinematics: wheel speeds (rad/s) -> (v, w)."""
    return (0.5 * wheel_radius * (left + right),
            wheel_radius * (right - left) / wheel_separation)
