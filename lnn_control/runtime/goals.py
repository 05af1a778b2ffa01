# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What the controller is doing with its goal: received, driving, reached, no progress.

:class:`GoalMonitor` follows the goal of a goal-driven mode (the PiBot) the way Nav2's
controller server does, so an operator can read it on ``~/goal_status`` and ``/diagnostics``
instead of watching a robot circle:

==================  ==========================================================================
state               meaning
==================  ==========================================================================
``no_goal``         nothing to do: the robot stands still
``driving``         the policy drives towards the goal
``reached``         within ``goal_tolerance`` of the goal (odometry): the robot stops and waits
                    for a new goal
``no_progress``     a progress check failed: the robot stops and waits for a new goal (or tries
                    the same one again after ``progress_retry`` seconds, when that is set)
==================  ==========================================================================

Two progress checks run while driving (each off when its distance is 0):

- movement, Nav2's ``SimpleProgressChecker``: the robot must move ``required_movement_radius``
  (0.5 m) away from where it was within ``movement_time_allowance`` (10 s), else the check
  fails. It catches a robot stuck against something or turning on the spot.
- approach: the distance to the goal must shrink by ``required_approach`` (0.25 m) below its
  best so far within ``approach_time_allowance`` (30 s). It catches what the movement check
  cannot: a robot circling or wandering widely without getting closer (an unreachable goal,
  or one given in the wrong frame).

A check fails only when its allowance has passed both in the odometry's stamp time (the robot's
clock, sim time in simulation) and in steady time: a stamp jump (a clock sync, a burst of
queued messages) or a simulator running faster or slower than real time never fails a goal on
its own. The checks pause while no step runs (stale inputs, an operator override): their clocks
restart when the policy drives again.

A goal published again at the same position (within ``SAME_GOAL``; RViz and scripts often
re-send) is the same goal: it does not restart a reached or failed one. A goal elsewhere is new.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

__all__ = ['GoalMonitor', 'GOAL_STATES', 'SAME_GOAL']

GOAL_STATES = ('no_goal', 'driving', 'reached', 'no_progress')
SAME_GOAL = 0.01      # m: a goal within this of the current one is the same goal


class Target(NamedTuple):
    """The goal being pursued: position in the odom frame and the frame it was given in."""

    x: float
    y: float
    frame: str


@dataclass
class _Mark:
    """A position, its distance to the goal and when it was recorded (a progress baseline)."""

    x: float
    y: float
    t: float            # s, stamp time
    now: float          # s, steady time
    distance: float

    def elapsed(self, t: float, now: float) -> float:
        """Time since the mark: the smaller of stamp time and steady time."""
        return min(t - self.t, now - self.now)


class GoalMonitor:
    """
    Goal state and progress checks; reads its thresholds from ``config`` at every update.

    Args:
        config: an object with ``goal_tolerance``, ``required_movement_radius``,
            ``movement_time_allowance``, ``required_approach``, ``approach_time_allowance`` and
            ``progress_retry`` (``ControllerConfig``); changed values apply at the next update.

    Attributes:
        state: one of :data:`GOAL_STATES`.
        goal: the goal being pursued (:class:`Target`) or None.
        events: (level, text) lines for the operator's log, drained by the caller.
        counts: goals received, replaced, reached, failed (no progress), retried.
        restart: set when a goal is pursued from rest (a new one after a stop, a retry): the
            controller resets the policy's state then; it clears the flag.

    """

    def __init__(self, config: Any) -> None:
        self.config = config
        self.state = 'no_goal'
        self.goal: Any = None
        self.events: List[Tuple[str, str]] = []
        self.counts = {'received': 0, 'replaced': 0, 'reached': 0, 'no_progress': 0,
                       'retried': 0}
        self.distance = math.nan        # m, odometry to the goal, at the last update
        self.started = math.nan         # s, stamp time of the first update on this goal
        self.ended = math.nan           # s, stamp time of reaching or failing
        self.reason = ''
        self.restart = False
        self._now = math.nan            # s, stamp time of the last update
        self._steady = self._ended_steady = math.nan   # s, steady time: the last update, the end
        self._moved: Optional[_Mark] = None
        self._closest: Optional[_Mark] = None

    @property
    def drives(self) -> bool:
        """Whether the policy should drive (the goal is being pursued)."""
        return self.state == 'driving'

    def set_goal(self, goal: Any) -> bool:
        """Take a goal reading; True if it is a new goal (False: the current one re-sent)."""
        target = Target(float(goal.x), float(goal.y), str(getattr(goal, 'frame', '') or ''))
        old = self.goal
        if old is not None and math.hypot(target.x - old.x, target.y - old.y) < SAME_GOAL:
            return False
        frame = target.frame or 'the odom frame'
        if old is None or self.state in ('reached', 'no_progress'):
            self.counts['received'] += 1
            self.events.append(('info', f'goal received: ({target.x:.2f}, {target.y:.2f}) in '
                                        f'{frame}'))
        else:
            self.counts['replaced'] += 1
            self.events.append(('info', f'goal replaced: ({old.x:.2f}, {old.y:.2f}) -> '
                                        f'({target.x:.2f}, {target.y:.2f}) in {frame}'))
        self.restart = self.state != 'driving'
        self.goal = target
        self._start('driving')
        return True

    def _start(self, state: str) -> None:
        self.state = state
        self.started = self.ended = math.nan
        self.reason = ''
        self._moved = self._closest = None

    def pause(self) -> None:
        """No step ran (stale inputs, an override): the progress clocks restart afterwards."""
        self._moved = self._closest = None

    def update(self, x: float, y: float, t: float, now: float) -> None:
        """Take the odometry pose (x, y) at stamp time ``t``, steady time ``now``."""
        goal = self.goal
        if goal is None or not (math.isfinite(x) and math.isfinite(y) and math.isfinite(t)):
            return
        c = self.config
        self._now = t
        self.distance = distance = math.hypot(goal.x - x, goal.y - y)
        self._steady = now
        if self.state == 'no_progress':
            if 0.0 < c.progress_retry <= min(t - self.ended, now - self._ended_steady):
                self.counts['retried'] += 1
                self.events.append(('info', f'retrying the goal after {c.progress_retry:g} s '
                                            f'({distance:.2f} m away)'))
                self._start('driving')
                self.restart = True
            else:
                return
        if self.state != 'driving':
            return
        if math.isnan(self.started):
            self.started = t
        if distance <= c.goal_tolerance:
            self._end('reached', 'info', f'goal reached: {distance:.3f} m from '
                                         f'({goal.x:.2f}, {goal.y:.2f}) after '
                                         f'{t - self.started:.1f} s')
            return
        moved, closest = self._moved, self._closest
        if moved is None or t < moved.t or (
                math.hypot(x - moved.x, y - moved.y) >= c.required_movement_radius):
            self._moved = moved = _Mark(x, y, t, now, distance)
        if closest is None or t < closest.t or distance <= closest.distance - c.required_approach:
            self._closest = closest = _Mark(x, y, t, now, distance)
        if c.required_movement_radius > 0.0 and moved.elapsed(t, now) > \
                c.movement_time_allowance:
            self._fail(f'moved less than {c.required_movement_radius:g} m in '
                       f'{c.movement_time_allowance:g} s')
        elif c.required_approach > 0.0 and closest.elapsed(t, now) > \
                c.approach_time_allowance:
            self._fail(f'came no closer than {closest.distance:.2f} m (by '
                       f'{c.required_approach:g} m) in {c.approach_time_allowance:g} s')

    def _fail(self, why: str) -> None:
        retry = (f'; retrying in {self.config.progress_retry:g} s'
                 if self.config.progress_retry > 0.0 else '; waiting for a new goal')
        self._end('no_progress', 'warn', f'goal abandoned, no progress toward it '
                                         f'({self.distance:.2f} m away): {why}; '
                                         f'stopped{retry}', why)

    def _end(self, state: str, level: str, text: str, reason: str = '') -> None:
        self.state = state
        self.ended = self._now
        self._ended_steady = self._steady
        self.reason = reason
        self.counts[state] += 1
        self.events.append((level, text))

    def abandon(self, why: str) -> None:
        """Drop the goal (the controller stops: deactivated, halted); logged if there was one."""
        if self.goal is not None and self.state == 'driving':
            self.events.append(('warn', f'goal abandoned ({why}): ({self.goal.x:.2f}, '
                                        f'{self.goal.y:.2f}), {self.distance:.2f} m away'))
        self.goal = None
        self._start('no_goal')
        self.distance = math.nan

    def drain(self) -> List[Tuple[str, str]]:
        """Return and forget the events since the last call."""
        events, self.events = self.events, []
        return events

    def status(self) -> Dict[str, Any]:
        """Describe the goal for ``~/goal_status`` (JSON-able)."""
        goal = self.goal
        on_goal = (self._now if math.isnan(self.ended) else self.ended) - self.started
        return {
            'state': self.state,
            'goal': None if goal is None else {
                'x': round(goal.x, 4), 'y': round(goal.y, 4), 'frame': goal.frame},
            'distance': None if math.isnan(self.distance) else round(self.distance, 4),
            'time_on_goal': None if math.isnan(on_goal) else round(on_goal, 3),
            'goal_tolerance': self.config.goal_tolerance,
            'reason': self.reason,
            'counts': dict(self.counts),
        }
