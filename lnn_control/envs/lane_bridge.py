# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PiBotLane-v0 run as a robot with a camera: (v, w) commands in, timed camera frames out.

What ``lnn_sim`` with ``robot:=lane`` publishes (issue 8): one frame per camera period (30 Hz
by default) as an ``'image'`` event (a :class:`~lnn_control.runtime.conv.ImageReading`, RGB)
followed by a ``'camera_info'`` event of the same stamp, the ``'clock'`` at the same rate and
``'status'`` at ``status_rate``. Commands time out after ``cmd_timeout`` seconds like
diff_drive_controller's. The robot keeps driving after it leaves
the road (a real robot would too); ``status()`` reports when it did.

    bridge = LaneBridge(seed=1)
    bridge.command(0.15, 0.0)
    for event in bridge.advance(0.1):      # 3 frames
        publish(event.kind, event.stamp, event.data)
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from lnn_control.envs.pibot_lane import PiBotLaneEnv
from lnn_control.envs.sim_bridge import BridgeBase
from lnn_control.envs.sim_bridge import Event
from lnn_control.envs.sim_bridge import finite_twist
from lnn_control.envs.sim_bridge import whole_periods
from lnn_control.runtime.conv import ImageReading
import numpy as np

__all__ = ['LaneBridge', 'CAMERA_FOVY']

CAMERA_FOVY = 48.8    # deg, sim/pibot_lane.xml's "front" camera (Raspberry Pi camera v2)


class LaneBridge(BridgeBase):
    """
    A PiBotLaneEnv driven by external commands, one camera frame per clock period.

    Args:
        seed: seed of the first track; :meth:`reset` without a seed uses seed + episode.
        cmd_timeout: seconds after which a command stops applying.
        status_rate: ``'status'`` events per second.
        **env_kwargs: passed to PiBotLaneEnv (``width``, ``height``, ``camera_rate``,
            ``texture_set``); its time limit is lifted.

    """

    def __init__(self, seed: Optional[int] = 0, cmd_timeout: float = 0.5,
                 status_rate: float = 2.0, **env_kwargs: Any) -> None:
        super().__init__(seed)
        self.env = PiBotLaneEnv(time_limit=math.inf, **env_kwargs)
        self.cmd_timeout = float(cmd_timeout)
        self.clock_period = self.env.dt
        self._status_every = max(1, int(round(1.0 / (status_rate * self.clock_period))))
        self.frames = 0
        self._offset = 0.0
        self.reset(seed)

    @property
    def time(self) -> float:
        """Return the simulated seconds since the bridge was made (monotonic across resets)."""
        return self._offset + self.env.time

    def status(self) -> Dict[str, Any]:
        """JSON-able summary: progress along the track, deviation, off-lane, commands."""
        s = self.env.state()
        return {'time': round(self.time, 6), 'episode': self.episode,
                'seed': self._episode_seed, 'episode_time': round(self.env.time, 6),
                'pose': [s.x, s.y, s.yaw], 'progress': s.progress, 'deviation': s.deviation,
                'half_width': s.half_width, 'off_lane': self.off_lane,
                'off_lane_progress': self.off_lane_progress,
                'command': [0.0, 0.0] if self.timed_out else list(self._command),
                'cmd_timed_out': self.timed_out, 'frames': self.frames,
                'commands_received': self.commands_received,
                'non_finite_commands': self.non_finite_commands}

    def reset(self, seed: Optional[int] = None) -> None:
        """Draw a new track (seed None: the bridge seed + episode number); stop the robot."""
        self._offset += self.env.time if self.episode >= 0 else 0.0
        self.last_frame = self.env.reset(seed=self._next_seed(seed))[0]
        self._drop_command((0.0, 0.0))
        self.off_lane = False
        self.off_lane_progress: Optional[float] = None

    def command(self, v: float, w: float) -> bool:
        """Receive a (v, w) command now; non-finite ones are ignored and counted (False)."""
        return self._receive(finite_twist(v, w))

    def advance(self, seconds: float) -> List[Event]:
        """Simulate ``seconds`` more (whole camera periods; the remainder carries over)."""
        n, self._debt = whole_periods(self._debt, seconds, self.clock_period)
        events: List[Event] = []
        for _ in range(n):
            command = (0.0, 0.0) if self.timed_out else self._command
            frame, _, _, _, info = self.env.step(np.array(command, dtype=np.float32))
            self.last_frame = frame
            self.frames += 1
            self._count += 1
            now = self.time
            events.append(Event('clock', now, None))
            events.append(Event('image', now, ImageReading(frame, now)))
            events.append(Event('camera_info', now, None))   # same stamp, after the image
            news = False
            if info['off_lane'] and not self.off_lane:
                self.off_lane = news = True
                self.off_lane_progress = float(info['progress'])
            if news or self._count % self._status_every == 0:
                events.append(Event('status', now, self.status()))
        return events
