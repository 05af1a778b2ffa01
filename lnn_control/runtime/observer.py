# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Sensor readings and the shared Observer: readings -> the policy's observation vector.

The same code turns readings into observations in the Gymnasium env, in the ROS controller and
on rosbag data, so a policy sees the same numbers everywhere (DESIGN.md, "The one idea"). A
reading is a plain dataclass holding what the ROS message carries, nothing more:

=================  ==================================  =====================================
reading            ROS message (TurtleBot3, Jazzy)     fields
=================  ==================================  =====================================
``ScanReading``    ``/scan`` sensor_msgs/LaserScan     ranges (m), angle_min, angle_increment
                                                       (rad), range_min, range_max (m), stamp
``OdomReading``    ``/odom`` nav_msgs/Odometry         x, y (m), yaw (rad) in the odom frame;
                                                       v (m/s), w (rad/s) in the body frame
``Goal``           ``/goal_pose`` PoseStamped          x, y (m) in the odom frame
``ImuReading``     ``/imu`` sensor_msgs/Imu            orientation (x, y, z, w), angular
                                                       velocity (rad/s), acceleration (m/s^2)
``JointsReading``  ``/joint_states`` JointState        names, positions (rad), velocities
=================  ==================================  =====================================

Stamps are seconds (``header.stamp`` as a float). The default observation (17 values):

====  ======================  =======  ====  =====  ==========================================
idx   name                    unit     low   high   meaning
====  ======================  =======  ====  =====  ==========================================
0-11  lidar_0 ... lidar_11    1        0     1      nearest return in each 30 deg sector,
                                                    (r - range_min) / (range_max - range_min);
                                                    sector k is centred on k * 30 deg,
                                                    counter-clockwise from straight ahead
12    v                       m/s      -0.3  0.3    forward speed (odometry twist)
13    w                       rad/s    -3    3      yaw rate (odometry twist)
14    goal_distance           m        0     5      distance to the goal, clipped
15    goal_bearing_sin        1        -1    1      sine of the goal bearing in the robot frame
16    goal_bearing_cos        1        -1    1      cosine of the goal bearing
====  ======================  =======  ====  =====  ==========================================

Lidar beams, following REP 117 and the drivers in the field: NaN and +inf ("no return") and
finite values above the sensor's ``range_max`` read as nothing within range (1.0); -inf
("detected, too close to measure") reads as 0.0. Finite values below the sensor's ``range_min``
are what LDS-01's ``hls_lfcd_lds_driver`` publishes for a failed measurement (0.0), so by default
they too read as no return; ``below_range_min='near'`` reads them as 0.0 instead. A sector with
no beam in it reads 1.0.

The sector minima of a scan are computed once: passing the same ``ScanReading`` object again
with the same stamp (a held scan, as between 5 Hz scans at 20 Hz control) reuses them, so do
not change a reading's ranges in place.

``observe`` never raises on values and never returns NaN: a non-finite speed reads 0 and a
non-finite pose or goal reads as "at the goal, straight ahead" (distance 0, bearing 0), which a
trained policy answers by stopping; ``Observer.ok`` is False after such a call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
import math
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

__all__ = ['ScanReading', 'OdomReading', 'Goal', 'ImuReading', 'JointsReading',
           'ObserverConfig', 'Observer']

_TWO_PI = 2.0 * math.pi
_BELOW_RANGE_MIN = ('no_return', 'near')


@dataclass
class ScanReading:
    """One ``sensor_msgs/LaserScan``: beam i points at ``angle_min + i * angle_increment``."""

    ranges: np.ndarray          # (N,) metres; NaN/+inf no return, -inf too close
    angle_min: float            # rad, counter-clockwise from the sensor's x axis
    angle_increment: float      # rad
    range_min: float            # m
    range_max: float            # m
    stamp: float = 0.0          # s


@dataclass
class OdomReading:
    """One ``nav_msgs/Odometry``: planar pose in the odom frame and body-frame twist."""

    x: float                    # m
    y: float                    # m
    yaw: float                  # rad
    v: float                    # m/s, twist.linear.x
    w: float                    # rad/s, twist.angular.z
    stamp: float = 0.0          # s


@dataclass
class Goal:
    """A goal position in the odom frame (what ``/goal_pose`` carries, once in that frame)."""

    x: float                    # m
    y: float                    # m
    stamp: float = 0.0          # s
    frame: str = ''             # the frame it was given in (odom or one declared equivalent)


@dataclass
class ImuReading:
    """One ``sensor_msgs/Imu`` (quaternion in ROS order x, y, z, w)."""

    orientation: np.ndarray            # (4,) x, y, z, w
    angular_velocity: np.ndarray       # (3,) rad/s, body frame
    linear_acceleration: np.ndarray    # (3,) m/s^2, body frame, gravity included
    stamp: float = 0.0                 # s


@dataclass
class JointsReading:
    """One ``sensor_msgs/JointState`` (the wheel encoders)."""

    names: List[str]
    positions: np.ndarray       # (J,) rad
    velocities: np.ndarray      # (J,) rad/s
    stamp: float = 0.0          # s


@dataclass
class ObserverConfig:
    """
    What the Observer computes; stored in every policy file (``to_dict``/``from_dict``).

    Attributes:
        lidar_sectors: number of equal angular sectors the scan is min-pooled into.
        range_min, range_max: the normalisation range in metres (LDS-01: 0.12-3.5 m).
        below_range_min: how finite readings below the sensor's range_min count:
            'no_return' (LDS-01 driver: 0.0 means a failed measurement) or 'near'.
        v_limit, w_limit: observed speeds are clipped to +-these (m/s, rad/s).
        goal_distance_max: the goal distance is clipped to this (m).

    """

    lidar_sectors: int = 12
    range_min: float = 0.12
    range_max: float = 3.5
    below_range_min: str = 'no_return'
    v_limit: float = 0.3
    w_limit: float = 3.0
    goal_distance_max: float = 5.0

    def __post_init__(self) -> None:
        self.lidar_sectors = int(self.lidar_sectors)
        for name in ('range_min', 'range_max', 'v_limit', 'w_limit', 'goal_distance_max'):
            setattr(self, name, float(getattr(self, name)))
        if self.lidar_sectors < 1:
            raise ValueError(f'lidar_sectors must be >= 1, got {self.lidar_sectors}')
        if not 0.0 <= self.range_min < self.range_max < math.inf:
            raise ValueError('need 0 <= range_min < range_max < inf, got '
                             f'{self.range_min}, {self.range_max}')
        for name in ('v_limit', 'w_limit', 'goal_distance_max'):
            value = getattr(self, name)
            if not 0.0 < value < math.inf:
                raise ValueError(f'{name} must be positive and finite, got {value}')
        if self.below_range_min not in _BELOW_RANGE_MIN:
            raise ValueError(f'below_range_min must be one of {_BELOW_RANGE_MIN}, '
                             f'got {self.below_range_min!r}')

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> 'ObserverConfig':
        """Build from ``to_dict`` output; unknown keys are refused (a newer file format)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown ObserverConfig keys {unknown}; known: {sorted(known)}')
        return cls(**dict(data))


class Observer:
    """
    Readings -> observation vector (float32), identical in sim, ROS and offline.

    Example::

        observer = Observer(ObserverConfig())
        obs = observer.observe(scan, odom, goal)          # (17,) float32
        spec = SpaceSpec(**observer.space())              # for save_policy(obs=...)

    """

    def __init__(self, config: ObserverConfig | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = ObserverConfig()
        elif not isinstance(config, ObserverConfig):
            config = ObserverConfig.from_dict(config)
        self.config = config
        self.size = config.lidar_sectors + 5
        self.ok = True
        self._span = config.range_max - config.range_min
        self._layout_key: Tuple[int, float, float] | None = None
        self._gather = np.zeros((config.lidar_sectors, 1), dtype=np.intp)  # (S, K)
        self._buffer = np.ones(1, dtype=np.float32)                        # (N + 1,)
        self._last_scan: ScanReading | None = None
        self._last_stamp = math.nan
        self._last_sectors = np.ones(config.lidar_sectors, dtype=np.float32)

    # -- space -------------------------------------------------------------------------------
    @property
    def names(self) -> List[str]:
        """Name of each observation element."""
        sectors = [f'lidar_{k}' for k in range(self.config.lidar_sectors)]
        return sectors + ['v', 'w', 'goal_distance', 'goal_bearing_sin', 'goal_bearing_cos']

    def space(self) -> Dict[str, Any]:
        """Describe the observation: size, names, units, low, high (for ``SpaceSpec(**...)``)."""
        c = self.config
        n = c.lidar_sectors
        return {
            'size': self.size,
            'names': self.names,
            'units': ['1'] * n + ['m/s', 'rad/s', 'm', '1', '1'],
            'low': [0.0] * n + [-c.v_limit, -c.w_limit, 0.0, -1.0, -1.0],
            'high': [1.0] * n + [c.v_limit, c.w_limit, c.goal_distance_max, 1.0, 1.0],
        }

    def sensor_groups(self) -> Dict[str, List[int]]:
        """
        Group the observation elements by sensor (for attribution reports).

        The lidar sectors by where they look: front (within 45 deg of straight ahead), left,
        back, right; the goal bearing (sin, cos), the goal distance and the velocity (v, w).
        """
        n = self.config.lidar_sectors
        groups: Dict[str, List[int]] = {'lidar front': [], 'lidar left': [], 'lidar back': [],
                                        'lidar right': []}
        for k in range(n):
            angle = (k * 360.0 / n + 180.0) % 360.0 - 180.0   # CCW from ahead, -180..180
            if abs(angle) <= 45.0:
                groups['lidar front'].append(k)
            elif abs(angle) >= 135.0:
                groups['lidar back'].append(k)
            else:
                groups['lidar left' if angle > 0 else 'lidar right'].append(k)
        groups.update({'goal bearing': [n + 3, n + 4], 'goal distance': [n + 2],
                       'velocity': [n, n + 1]})
        return {g: idx for g, idx in groups.items() if idx}

    def situations(self, obs: np.ndarray, near: float = 0.15, clear: float = 0.3
                   ) -> Dict[str, np.ndarray]:
        """
        Mark two driving situations in observations (T, size) (for attribution reports).

        ``'obstacle ahead'``: the straight-ahead sector reads below ``near`` (normalised
        range: 0.15 is ~0.6 m); ``'path clear'``: every front sector reads above ``clear``
        (~1.1 m). Returns situation -> (T,) bool.
        """
        obs = np.asarray(obs)
        front = self.sensor_groups()['lidar front']
        return {'obstacle ahead': obs[:, 0] < near,
                'path clear': (obs[:, front] > clear).all(1)}

    # -- lidar -------------------------------------------------------------------------------
    def _layout(self, n: int, angle_min: float, angle_increment: float) -> None:
        """Precompute, once per scan geometry, which beams fall in which sector."""
        key = (n, angle_min, angle_increment)
        if key == self._layout_key:
            return
        sectors = self.config.lidar_sectors
        width = _TWO_PI / sectors
        with np.errstate(all='ignore'):
            angles = angle_min + angle_increment * np.arange(n, dtype=np.float64)  # (N,)
            position = np.floor(np.mod(angles + 0.5 * width, _TWO_PI) / width)
        # A beam whose angle overflows belongs to no sector; mod can round up to exactly 2 pi.
        index = np.minimum(np.where(np.isfinite(position), position, -1), sectors - 1)
        index = index.astype(np.intp)
        counts = np.bincount(index[index >= 0], minlength=sectors)
        # Pad each sector's beam list with the sentinel index n (a 1.0, "nothing seen").
        gather = np.full((sectors, max(int(counts.max(initial=0)), 1)), n, dtype=np.intp)
        for k in range(sectors):
            beams = np.flatnonzero(index == k)
            gather[k, :beams.size] = beams
        self._gather = gather                           # (S, K)
        self._buffer = np.ones(n + 1, dtype=np.float32)  # (N + 1,), last is the sentinel
        self._layout_key = key

    def lidar(self, scan: ScanReading) -> np.ndarray:
        """Normalised sector minima of one scan, (lidar_sectors,) float32 in [0, 1]."""
        return self._sectors(scan).copy()

    def _sectors(self, scan: ScanReading) -> np.ndarray:
        """Return the sector minima: the cached array itself (callers must not change it)."""
        if scan is self._last_scan and scan.stamp == self._last_stamp:
            return self._last_sectors
        c = self.config
        with np.errstate(over='ignore', invalid='ignore'):
            # float64 beyond float32 reads +-inf; NaN compares False everywhere below.
            ranges = np.asarray(scan.ranges, dtype=np.float32).reshape(-1)  # (N,)
            angle_min = _finite(scan.angle_min, 0.0)
            increment = _finite(scan.angle_increment, _TWO_PI / max(ranges.size, 1))
            self._layout(ranges.size, angle_min, increment)
            sensor_min = _finite(scan.range_min, c.range_min)
            far = min(_finite(scan.range_max, c.range_max), c.range_max)
            no_return = ~(ranges <= far)                 # NaN, +inf, beyond range
            below = ranges < sensor_min                  # includes -inf
            norm = self._buffer[:-1]
            np.subtract(ranges, c.range_min, out=norm)
            np.multiply(norm, 1.0 / self._span, out=norm)
            # clip(norm, 0, 1) as the two ufuncs (np.clip's Python wrapper costs more); NaNs
            # are set below.
            np.maximum(norm, 0.0, out=norm)
            np.minimum(norm, 1.0, out=norm)
        if c.below_range_min == 'near':
            norm[no_return] = 1.0
            norm[below] = 0.0
        else:
            too_close = ranges == -np.inf
            norm[no_return | (below & ~too_close)] = 1.0
            norm[too_close] = 0.0
        sectors = self._buffer[self._gather].min(axis=1)   # (S,)
        # A held scan (the same message again, as between 5 Hz scans) is not recomputed.
        self._last_scan, self._last_stamp, self._last_sectors = scan, scan.stamp, sectors
        return sectors

    # -- all ---------------------------------------------------------------------------------
    def observe(self, scan: ScanReading, odom: OdomReading, goal: Goal) -> np.ndarray:
        """Return the observation, (size,) float32; the module docstring gives its layout."""
        c = self.config
        ok = True
        v, w = odom.v, odom.w
        x, y, yaw, gx, gy = odom.x, odom.y, odom.yaw, goal.x, goal.y
        # Fast path (what readings.py and the envs give): Python floats, all finite, which
        # v - v == 0.0 tells for each (inf - inf and NaN give NaN); anything else is
        # converted and checked value by value below.
        fast = (type(v) is float and type(w) is float and type(x) is float
                and type(y) is float and type(yaw) is float and type(gx) is float
                and type(gy) is float)
        if not (fast and (v - v) + (w - w) == 0.0):
            v, w = _finite(v, None), _finite(w, None)
            if v is None or w is None:
                ok = False
                v, w = v or 0.0, w or 0.0
        dist, bearing_sin, bearing_cos = 0.0, 0.0, 1.0
        if fast and (x - x) + (y - y) + (yaw - yaw) + (gx - gx) + (gy - gy) == 0.0:
            pose = (x, y, yaw, gx, gy)
        elif all(_finite(value, None) is not None for value in (x, y, yaw, gx, gy)):
            pose = (float(x), float(y), float(yaw), float(gx), float(gy))
        else:
            pose = None
        if pose is not None:
            x, y, yaw, gx, gy = pose
            dx, dy = gx - x, gy - y
            cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
            # Goal offset rotated into the robot frame (REP 103: x forward, y left).
            forward, left = cos_yaw * dx + sin_yaw * dy, -sin_yaw * dx + cos_yaw * dy
            dist = math.hypot(forward, left)
            if math.isfinite(dist) and dist > 0.0:
                bearing_sin, bearing_cos = left / dist, forward / dist
            elif not math.isfinite(dist):
                ok, dist = False, 0.0
        else:
            ok = False
        obs = np.empty(self.size, dtype=np.float32)
        n = c.lidar_sectors
        obs[:n] = self._sectors(scan)
        obs[n:] = (min(max(v, -c.v_limit), c.v_limit), min(max(w, -c.w_limit), c.w_limit),
                   min(dist, c.goal_distance_max), bearing_sin, bearing_cos)
        self.ok = ok
        return obs

    def observe_batch(self, scans: Sequence[ScanReading], odoms: Sequence[OdomReading],
                      goals: Sequence[Goal]) -> np.ndarray:
        """``observe`` over aligned sequences (e.g. a rosbag), (T, size) float32."""
        if not len(scans) == len(odoms) == len(goals):
            raise ValueError(f'got {len(scans)} scans, {len(odoms)} odometry readings and '
                             f'{len(goals)} goals; they must align')
        out = np.empty((len(scans), self.size), dtype=np.float32)  # (T, size)
        for t, (scan, odom, goal) in enumerate(zip(scans, odoms, goals)):
            out[t] = self.observe(scan, odom, goal)
        return out


def _finite(value: Any, default: Any) -> Any:
    """``float(value)`` if it is a finite number, else ``default``."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return value if math.isfinite(value) else default
