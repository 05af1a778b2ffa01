# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The scenes of PiBotNav-v0: start, goal and obstacles drawn in the walled 4 m x 4 m arena.

Rejection sampling keeps free space connected: obstacles keep 0.4 m from each other, from the
walls and from the start (edge to edge, more than the robot's 0.27 m width), 0.3 m from the
goal; the start is 0.35 m and the goal 0.3 m from the walls, the goal at least
``min_goal_distance`` from the start. What ``options`` gives replaces the random draw.
"""

from __future__ import annotations

import math
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ['sample_layout', 'ARENA_HALF', 'ROBOT_RADIUS', 'OBSTACLE_SLOTS']

ARENA_HALF = 2.0          # m, inner faces of the walls at +-2 m
ROBOT_RADIUS = 0.135      # m, footprint corner (-0.101, +-0.089) from base_footprint
OBSTACLE_SLOTS = 16
_START_MARGIN = 0.35      # m, start position to walls
_GOAL_MARGIN = 0.3        # m, goal to walls
_GAP = 0.4                # m, obstacle to obstacle, to walls and to the start (edge to edge)
_GOAL_GAP = 0.3           # m, obstacle edge to the goal

Obstacle = Tuple[int, float, float, float]   # (slot, x, y, yaw), world frame


def sample_layout(rng: np.random.Generator, options: Mapping[str, Any], n_obstacles: int,
                  min_goal_distance: float, radii: Sequence[float]
                  ) -> Tuple[Tuple[float, ...], Tuple[float, ...], List[Obstacle]]:
    """
    Draw start (x, y, yaw), goal (x, y) and obstacles (rejection sampling).

    Args:
        rng: the env's generator.
        options: reset options that fix ``'start'``, ``'goal'`` or ``'obstacles'``.
        n_obstacles: obstacles to place.
        min_goal_distance: least start-goal distance (m).
        radii: bounding radius of each obstacle slot (m).

    """
    h = ARENA_HALF
    for _ in range(1000):
        if 'start' in options:
            start = tuple(float(v) for v in options['start'])
        else:
            sx, sy = rng.uniform(-h + _START_MARGIN, h - _START_MARGIN, 2)
            start = (float(sx), float(sy), float(rng.uniform(-math.pi, math.pi)))
        if 'goal' in options:
            goal = tuple(float(v) for v in options['goal'])
        else:
            goal = tuple(float(v) for v in rng.uniform(-h + _GOAL_MARGIN, h - _GOAL_MARGIN, 2))
            if math.dist(goal, start[:2]) < min_goal_distance:
                continue
        if 'obstacles' in options:
            return start, goal, [tuple(o) for o in options['obstacles']]
        obstacles = _place_obstacles(rng, start, goal, n_obstacles, radii)
        if obstacles is not None:
            return start, goal, obstacles
    raise RuntimeError(f'could not place {n_obstacles} obstacles; use fewer')


def _place_obstacles(rng: np.random.Generator, start: Sequence[float], goal: Sequence[float],
                     n_obstacles: int, radii: Sequence[float]) -> Optional[List[Obstacle]]:
    placed: List[Obstacle] = []
    sizes: List[float] = []
    for slot in rng.permutation(len(radii))[:n_obstacles]:
        radius = radii[slot]
        limit = ARENA_HALF - _GAP - radius
        for _ in range(100):
            ox, oy = rng.uniform(-limit, limit, 2)
            if math.hypot(ox - start[0], oy - start[1]) < radius + ROBOT_RADIUS + _GAP:
                continue
            if math.hypot(ox - goal[0], oy - goal[1]) < radius + _GOAL_GAP:
                continue
            if any(math.hypot(ox - px, oy - py) < radius + pr + _GAP
                   for (_, px, py, _), pr in zip(placed, sizes)):
                continue
            placed.append((int(slot), float(ox), float(oy),
                           float(rng.uniform(-math.pi, math.pi))))
            sizes.append(radius)
            break
        else:
            return None
    return placed
