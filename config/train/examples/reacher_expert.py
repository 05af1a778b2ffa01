# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A PD expert for Gymnasium's Reacher-v5, written next to the config that names it.

This is what a user writes for a new task: a class with ``act(obs, state)``. The training
config names it by file and class (``expert: {kind: reacher_expert.py:ReacherPD}``, a path
relative to the config's folder), and ``lnn-control train`` imitates it.

The arm has two links (0.1 m and 0.11 m to the fingertip). The expert reads everything it
needs from the observation (cos and sin of both joint angles, the target position, the joint
velocities), solves the inverse kinematics for the target (the elbow branch nearer the arm's
current pose) and drives both joints there with a PD law, clipped to the torque range.
"""

import math

import numpy as np

LINKS = (0.1, 0.11)     # m, shoulder to elbow and elbow to fingertip (reacher.xml)


class ReacherPD:
    """PD control to the inverse-kinematics joint angles of the target."""

    def __init__(self, kp: float = 0.25, kd: float = 0.05) -> None:
        self.kp, self.kd = float(kp), float(kd)

    def act(self, obs: np.ndarray, state: object = None) -> np.ndarray:
        """Return the two joint torques (in [-1, 1]) for observation ``obs``."""
        obs = np.asarray(obs, dtype=np.float64)
        q = np.arctan2(obs[2:4], obs[0:2])
        x, y = obs[4], obs[5]
        l1, l2 = LINKS
        c = np.clip((x * x + y * y - l1 * l1 - l2 * l2) / (2 * l1 * l2), -1.0, 1.0)
        best = None
        for elbow in (math.acos(c), -math.acos(c)):
            shoulder = math.atan2(y, x) - math.atan2(l2 * math.sin(elbow),
                                                     l1 + l2 * math.cos(elbow))
            target = np.array([shoulder, elbow])
            error = (target - q + math.pi) % (2 * math.pi) - math.pi
            if best is None or np.abs(error).sum() < np.abs(best).sum():
                best = error
        return np.clip(self.kp * best - self.kd * obs[6:8], -1.0, 1.0).astype(np.float32)
