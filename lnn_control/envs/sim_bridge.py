# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
SimBridge: PiBotNav physics driven by an external (v, w) command, as a robot base is (no ROS).

The ``lnn_sim`` ROS node is a thin shell around this class: it feeds received ``/cmd_vel``
commands to :meth:`SimBridge.command`, calls :meth:`SimBridge.advance` at the wall-clock pace
it wants, and publishes the events it gets back. Everything here is tested without ROS.

The bridge behaves like the real TurtleBot3 base behind ros2_control's diff_drive_controller:

- A command is held until a newer one arrives, for at most ``cmd_timeout`` seconds (0.5 s, the
  diff_drive_controller default) of simulated time after it was received; then the wheels
  stop, so a dead controller cannot leave the robot driving.
- Non-finite commands (NaN, inf) are ignored (diff_drive_controller does the same) and counted
  in ``non_finite_commands``; the previous command keeps running, within its timeout.
- Commands are clipped to the Burger's limits (0.22 m/s, 2.84 rad/s) like its firmware does;
  rate limiting is the controller's job (our Actuator), not the base's.

Events, in time order, as ``Event(kind, stamp, data)`` with ``stamp`` in seconds of simulated
time, monotonic across :meth:`reset` (the ROS ``/clock`` must never jump back):

=========  ===========  ============================  ===================================
kind       rate (Hz)    data                          ROS topic
=========  ===========  ============================  ===================================
clock      clock_rate   None                          ``/clock``
scan       scan_rate    ``ScanReading`` (360 beams)   ``/scan``
odom       odom_rate    ``OdomReading``               ``/odom``
imu        odom_rate    ``ImuReading``                ``/imu``
joints     odom_rate    ``JointsReading``             ``/joint_states``
status     status_rate  dict (see :meth:`status`)     ``~/status``; also sent at once on
                                                      arrival and on a first collision
=========  ===========  ============================  ===================================

The goal is reached when the robot's centre comes within ``goal_tolerance`` of it; a collision
is any chassis contact. Both are latched until the next :meth:`reset` or :meth:`set_goal` (a
new goal clears ``reached``), and the physics keeps running after either, as a real robot would.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from lnn_control.envs.pibot_nav import PiBotNavEnv
from lnn_control.runtime.actuator import ActuatorConfig

__all__ = ['SimBridge', 'BridgeBase', 'Event', 'BridgeConfig', 'whole_periods',
           'finite_twist', 'command_timed_out']

_EPS = 1e-9


def whole_periods(debt: float, seconds: float, period: float) -> Tuple[int, float]:
    """
    Pace a bridge: how many whole ``period`` steps ``seconds`` more allows, and what is left.

    Args:
        debt: requested seconds not simulated yet (less than one period).
        seconds: newly requested seconds (non-finite or <= 0 adds nothing).
        period: seconds per step.

    Returns:
        (steps to simulate now, the new debt).

    """
    if not (math.isfinite(seconds) and seconds > 0.0):
        return 0, debt
    debt += seconds
    n = int(math.floor(debt / period + _EPS))
    return n, max(0.0, debt - n * period)


def command_timed_out(now: float, received: Optional[float], timeout: float) -> bool:
    """Return True when no command was ``received`` (sim time) in the ``timeout`` s to ``now``."""
    return received is None or now - received > timeout + _EPS


def finite_twist(v: Any, w: Any) -> Optional[Tuple[float, float]]:
    """Return (v, w) as floats if both are finite numbers, else None (the base ignores it)."""
    try:
        v, w = float(v), float(w)
    except (TypeError, ValueError, OverflowError):
        return None
    return (v, w) if math.isfinite(v) and math.isfinite(w) else None


class Event(NamedTuple):
    """A message that came due: kind ('clock', 'scan', ...), stamp (s) and its reading."""

    kind: str
    stamp: float
    data: Any


@dataclass
class BridgeConfig:
    """
    Timing and base behaviour of a SimBridge.

    Attributes:
        cmd_timeout: seconds after which a command stops applying (diff_drive_controller 0.5).
        clock_rate: /clock rate (Hz); a whole multiple of odom_rate and a whole number of
            physics steps (200 Hz physics: 100, 200, 40, 20 work).
        odom_rate: /odom, /imu, /joint_states rate (Hz); the TB3 driver's 20 Hz.
        scan_rate: /scan rate (Hz); the LDS-01's 5 Hz.
        status_rate: ~/status rate (Hz).
        max_v: forward speed limit of the base (m/s).
        max_w: yaw rate limit of the base (rad/s).

    """

    cmd_timeout: float = 0.5
    clock_rate: float = 100.0
    odom_rate: float = 20.0
    scan_rate: float = 5.0
    status_rate: float = 2.0
    max_v: float = ActuatorConfig.max_v
    max_w: float = ActuatorConfig.max_w


class BridgeBase:
    """
    What every bridge shares: episodes and their seeds, command intake, the command timeout.

    A bridge (:class:`SimBridge`, ``LaneBridge``, ``PendulumBridge``) calls ``__init__`` with
    its seed, has ``time`` (simulated seconds, monotonic) and ``cmd_timeout`` (s); its
    ``reset`` takes the episode's seed from :meth:`_next_seed` and drops the held command with
    :meth:`_drop_command`; its ``command`` hands the checked command (None if refused) to
    :meth:`_receive`.

    Args:
        seed: seed of the first episode; a reset without a seed uses seed + episode.

    """

    def __init__(self, seed: Optional[int]) -> None:
        self.seed = seed
        self.episode = -1
        self.non_finite_commands = 0
        self.commands_received = 0

    @property
    def timed_out(self) -> bool:
        """Return True when no valid command arrived in the last ``cmd_timeout`` seconds."""
        return command_timed_out(self.time, self._command_time, self.cmd_timeout)

    def _next_seed(self, seed: Optional[int]) -> Optional[int]:
        """Count a new episode; return its seed (None: the bridge seed + episode number)."""
        self.episode += 1
        if seed is None and self.seed is not None:
            seed = int(self.seed) + self.episode
        self._episode_seed = seed
        return seed

    def _drop_command(self, idle: Any) -> None:
        """Apply ``idle`` until a command arrives; restart the tick count and the pacing."""
        self._command = idle
        self._command_time: Optional[float] = None
        self._count = 0             # clock ticks since reset
        self._debt = 0.0            # requested seconds not simulated yet (< one clock period)

    def _receive(self, command: Any) -> bool:
        """Count a command; hold it from now, or count it refused if it is None (False)."""
        self.commands_received += 1
        if command is None:
            self.non_finite_commands += 1
            return False
        self._command = command
        self._command_time = self.time
        return True


class SimBridge(BridgeBase):
    """
    A PiBotNavEnv run as a robot: commands in, timed sensor readings out.

    Example::

        bridge = SimBridge(n_obstacles=4, seed=1)
        bridge.command(0.1, 0.0)                 # at bridge.time
        for event in bridge.advance(0.2):        # 0.2 s of simulated time
            publish(event.kind, event.stamp, event.data)

    Args:
        n_obstacles: obstacles per scene (0-16).
        seed: seed of the first scene; :meth:`reset` without a seed uses seed + episode.
        config: a BridgeConfig (timing, timeout, limits).
        **env_kwargs: passed to PiBotNavEnv (``goal_tolerance``, ``motor_gain``, ...);
            ``odom_rate`` and ``scan_rate`` come from the config.

    """

    def __init__(self, n_obstacles: int = 8, seed: Optional[int] = 0,
                 config: Optional[BridgeConfig] = None, **env_kwargs: Any) -> None:
        self.config = config or BridgeConfig()
        c = self.config
        if not (math.isfinite(c.cmd_timeout) and c.cmd_timeout > 0.0):
            raise ValueError(f'cmd_timeout must be positive, got {c.cmd_timeout}')
        super().__init__(seed)
        self.env = PiBotNavEnv(n_obstacles=n_obstacles, odom_rate=c.odom_rate,
                               scan_rate=c.scan_rate, **env_kwargs)
        timestep = self.env.model.opt.timestep
        self._clock_ticks = _whole(timestep * c.clock_rate,
                                   'physics steps per /clock period (clock_rate)', inverse=True)
        self._odom_every = _whole(c.clock_rate / c.odom_rate, 'clock_rate / odom_rate')
        self._status_every = _whole(c.clock_rate / c.status_rate, 'clock_rate / status_rate')
        self.clock_period = self._clock_ticks * timestep     # s
        self._offset = 0.0
        self.reset(seed)

    # -- state -------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Return the simulated seconds since the bridge was made (monotonic across resets)."""
        return self._offset + self.env.time

    @property
    def active_command(self) -> Tuple[float, float]:
        """Return the (v, w) applied now: the last command, or zero once it timed out."""
        if self.timed_out:
            return 0.0, 0.0
        return self._command

    @property
    def cmd_timeout(self) -> float:
        """Return the seconds after which a command stops applying (``config.cmd_timeout``)."""
        return self.config.cmd_timeout

    def status(self) -> Dict[str, Any]:
        """Return a JSON-able summary: goal, distance, reached, collision, command counters."""
        s = self.env.state()
        goal = self.env.goal
        return {
            'time': round(self.time, 6), 'episode': self.episode, 'seed': self._episode_seed,
            'episode_time': round(self.env.time, 6),
            'pose': [s.x, s.y, s.yaw], 'goal': [s.goal_x, s.goal_y],
            'goal_odom': [goal.x, goal.y], 'distance': self.env.distance(),
            'goal_tolerance': self.env.goal_tolerance, 'reached': self.reached,
            'time_to_goal': self.time_to_goal, 'collision': self.collision,
            'command': list(self.active_command), 'cmd_timed_out': self.timed_out,
            'commands_received': self.commands_received,
            'non_finite_commands': self.non_finite_commands,
        }

    # -- inputs ------------------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> None:
        """Start a new scene (seed None: the bridge seed + episode number); stop the robot."""
        self._offset += self.env.time if self.episode >= 0 else 0.0
        self.env.reset(seed=self._next_seed(seed), options=options)
        self._drop_command((0.0, 0.0))
        self._applied = (0.0, 0.0)
        self.env.drive(0.0, 0.0)
        self.reached = False
        self.collision = False
        self.time_to_goal: Optional[float] = None

    def command(self, v: float, w: float) -> bool:
        """Receive a (v, w) command now; non-finite ones are ignored and counted (False)."""
        twist = finite_twist(v, w)
        if twist is not None:
            v, w = twist
            c = self.config
            twist = (min(max(v, -c.max_v), c.max_v), min(max(w, -c.max_w), c.max_w))
        return self._receive(twist)

    def set_goal(self, x: float, y: float, frame: str = 'odom') -> bool:
        """Move the goal (and its marker) to (x, y) in 'odom' or 'world'; False if non-finite."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return False
        self.env.set_goal(x, y, frame=frame)
        self.reached = False
        self.time_to_goal = None
        return True

    # -- simulation --------------------------------------------------------------------------
    def advance(self, seconds: float,
                command: Optional[Tuple[float, float]] = None) -> List[Event]:
        """
        Simulate ``seconds`` more (whole clock periods; the remainder carries over).

        ``command``, if given, is received first (as :meth:`command`). Returns the events that
        came due, in time order.
        """
        if command is not None:
            self.command(*command)
        n, self._debt = whole_periods(self._debt, seconds, self.clock_period)
        events: List[Event] = []
        env = self.env
        for _ in range(n):
            active = self.active_command
            if active != self._applied:
                env.drive(*active)
                self._applied = active
            new_scan, hit = env.run(self._clock_ticks)
            self._count += 1
            now = self.time
            events.append(Event('clock', now, None))
            if new_scan:
                scan = env.scan
                events.append(Event('scan', self._offset + scan.stamp, scan))
            news = False   # a first collision or arrival is reported at once, not at 2 Hz
            if hit and not self.collision:
                self.collision = news = True
            if self._count % self._odom_every == 0:
                odom = env.update_odometry(self._clock_ticks * self._odom_every)
                events.append(Event('odom', now, odom))
                events.append(Event('imu', now, env.imu()))
                events.append(Event('joints', now, env.joints()))
                if not self.reached and env.distance() < env.goal_tolerance:
                    self.reached = news = True
                    self.time_to_goal = env.time
            if news or self._count % self._status_every == 0:
                events.append(Event('status', now, self.status()))
        return events


def _whole(value: float, name: str, inverse: bool = False) -> int:
    """Return round(value) (or round(1 / value)) if it is a whole positive number."""
    target = 1.0 / value if inverse else value
    n = int(round(target))
    if n < 1 or abs(n - target) > 1e-6:
        raise ValueError(f'{name} must be a whole positive number, got {target}')
    return n
