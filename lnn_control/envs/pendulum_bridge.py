# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PendulumBridge: Gymnasium's ``InvertedPendulum-v5`` physics driven by an external effort command.

The ``lnn_sim`` node runs it with ``robot:=pendulum`` the way it runs the PiBot's
:class:`~lnn_control.envs.sim_bridge.SimBridge`: it feeds each received effort command
(``Float64MultiArray`` on ``effort_controller/commands``, what a ros2_control forward command
controller takes) to :meth:`PendulumBridge.command`, calls :meth:`PendulumBridge.advance` at
its wall-clock pace and publishes the events it gets back. Tested without ROS.

It behaves like a cart driven by an effort controller:

- The effort (N on the slider) is held until a newer command arrives, for at most
  ``cmd_timeout`` seconds of simulated time, then it is zero (a dead controller lets the pole
  fall rather than pushing the cart into its end stop).
- Non-finite commands and commands of the wrong length are ignored and counted; efforts are
  clipped to the actuator's ``ctrlrange`` (+-3 N).
- The physics runs on after the pole falls (``|angle| > 0.2 rad``, Gymnasium's termination),
  like a real pendulum; ``fallen`` is latched until :meth:`reset`.

Events ``Event(kind, stamp, data)``, stamps in simulated seconds, monotonic across resets:

=======  ============  ===================================================  ================
kind     rate (Hz)     data                                                 ROS topic
=======  ============  ===================================================  ================
clock    50            None (one physics step, 0.02 s)                      ``/clock``
joints   25            ``JointsReading`` slider, hinge: the env's           ``/joint_states``
                       observation (qpos, qvel) every control period 0.04 s
status   status_rate   dict (see :meth:`status`), and at once on a fall     ``~/status``
=======  ============  ===================================================  ================
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

from lnn_control.envs.sim_bridge import BridgeBase
from lnn_control.envs.sim_bridge import Event
from lnn_control.envs.sim_bridge import whole_periods
from lnn_control.runtime.observer import JointsReading
import numpy as np

__all__ = ['PendulumBridge', 'FALL_ANGLE']

FALL_ANGLE = 0.2    # rad: InvertedPendulum-v5 terminates beyond this pole angle


class PendulumBridge(BridgeBase):
    """
    An ``InvertedPendulum-v5`` run as a robot: effort in, timed joint readings out.

    Args:
        seed: seed of the first episode's initial-state noise; :meth:`reset` without a seed
            uses seed + episode.
        cmd_timeout: simulated seconds an effort command stays applied.
        status_rate: ~/status rate (Hz); a divisor of the 50 Hz clock.

    """

    def __init__(self, seed: Optional[int] = 0, cmd_timeout: float = 0.5,
                 status_rate: float = 2.0) -> None:
        import gymnasium
        if not (math.isfinite(cmd_timeout) and cmd_timeout > 0.0):
            raise ValueError(f'cmd_timeout must be positive, got {cmd_timeout}')
        super().__init__(seed)
        self.env = gymnasium.make('InvertedPendulum-v5').unwrapped
        self.cmd_timeout = float(cmd_timeout)
        self.clock_period = float(self.env.model.opt.timestep)       # s, one physics step
        self._joints_every = int(self.env.frame_skip)                  # the env's control period
        every = 1.0 / (status_rate * self.clock_period)
        if status_rate <= 0.0 or abs(every - round(every)) > 1e-6:
            raise ValueError(f'status_rate must divide {1.0 / self.clock_period:g} Hz, got '
                             f'{status_rate}')
        self._status_every = int(round(every))
        low, high = self.env.model.actuator_ctrlrange.T
        self.low, self.high = low.astype(float), high.astype(float)    # (A,)
        self.names = [self.env.model.joint(i).name for i in range(self.env.model.njnt)]
        self._time = 0.0
        self.reset(seed)

    # -- state -------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """Return the simulated seconds since the bridge was made (monotonic across resets)."""
        return self._time

    @property
    def active_command(self) -> np.ndarray:
        """Return the effort applied now: the last command, or zero once it timed out."""
        return np.zeros_like(self.low) if self.timed_out else self._command.copy()

    @property
    def angle(self) -> float:
        """Return the pole's tilt from upright (rad)."""
        return float(self.env.data.qpos[1])

    def status(self) -> Dict[str, Any]:
        """Return a JSON-able summary: pose, fall, upright time, command counters."""
        qpos, qvel = self.env.data.qpos, self.env.data.qvel
        return {
            'time': round(self._time, 6), 'episode': self.episode, 'seed': self._episode_seed,
            'episode_time': round(self._time - self._episode_start, 6),
            'cart': float(qpos[0]), 'angle': float(qpos[1]),
            'cart_velocity': float(qvel[0]), 'angular_velocity': float(qvel[1]),
            'fallen': self.fallen, 'time_upright': self.time_upright,
            'command': self.active_command.tolist(), 'cmd_timed_out': self.timed_out,
            'commands_received': self.commands_received,
            'non_finite_commands': self.non_finite_commands,
        }

    # -- inputs ------------------------------------------------------------------------------
    def reset(self, seed: Optional[int] = None) -> None:
        """Start a new episode (seed None: the bridge seed + episode number); zero effort."""
        self.env.reset(seed=self._next_seed(seed))
        self._drop_command(np.zeros_like(self.low))
        self._episode_start = self._time
        self.fallen = False
        self.time_upright = 0.0

    def command(self, effort: Sequence[float]) -> bool:
        """Receive an effort vector now; non-finite or wrong-length ones are ignored (False)."""
        try:
            with np.errstate(over='ignore', invalid='ignore'):
                values = np.asarray(effort, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            values = np.full(1, math.nan)
        if values.shape != self.low.shape or not np.isfinite(values).all():
            return self._receive(None)
        return self._receive(np.clip(values, self.low, self.high))

    # -- simulation --------------------------------------------------------------------------
    def advance(self, seconds: float) -> List[Event]:
        """Simulate ``seconds`` more (whole physics steps; the remainder carries over)."""
        n, self._debt = whole_periods(self._debt, seconds, self.clock_period)
        events: List[Event] = []
        env = self.env
        for _ in range(n):
            env.do_simulation(self.active_command, 1)
            self._count += 1
            self._time = self._episode_start + self._count * self.clock_period
            now = self._time
            events.append(Event('clock', now, None))
            news = False
            if not self.fallen:
                if abs(self.angle) > FALL_ANGLE or not np.isfinite(env.data.qpos).all():
                    self.fallen = news = True
                else:
                    self.time_upright = round(now - self._episode_start, 9)
            if self._count % self._joints_every == 0:
                events.append(Event('joints', now, JointsReading(
                    names=list(self.names), positions=env.data.qpos.astype(np.float64),
                    velocities=env.data.qvel.astype(np.float64), stamp=now)))
            if news or self._count % self._status_every == 0:
                events.append(Event('status', now, self.status()))
        return events
