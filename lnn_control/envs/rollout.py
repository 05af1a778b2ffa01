# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one closed-loop episode loop: evaluation, imitation, inspection and adaptation use it.

::

    traj = run_episode(env, lambda obs, dt, info: policy.step(obs, dt), seed=7,
                       reset=policy.reset)
    traj.ret, traj.steps, traj.success, traj.dt            # (T,) seconds of each step

``act(obs, dt, info)`` returns the action to execute, or ``(action, extras)`` where
``extras`` is a dict of per-step values to keep (an expert's label, the policy's state, an
operator's intervention): each key becomes a (T, ...) array in ``Trajectory.extras``. ``obs``
is what the agent sees at step t and ``dt`` the time since the previous observation (the
env's nominal period at t = 0, then ``info['dt']``), the time a liquid network integrates
over.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

__all__ = ['Trajectory', 'run_episode', 'INFO_TERMS']

# Scalar info entries kept by default (each a (T,) array in ``Trajectory.infos``).
INFO_TERMS = ('dt', 'time', 'dropped', 'distance', 'deviation', 'progress', 'off_lane')


@dataclass
class Trajectory:
    """
    One episode, step by step.

    Attributes:
        obs: (T, ...) observations seen, in the env's dtype (uint8 frames stay uint8).
        actions: (T, A) float32 actions executed.
        dt: (T,) float32 seconds since the previous observation (nominal at t = 0).
        rewards: (T,) float64.
        infos: name -> (T,) array of the scalar info terms after each step (``INFO_TERMS``
            and every ``reward_*`` term the env reports).
        extras: name -> (T, ...) array of what ``act`` returned besides the action.
        seed: the reset seed; terminated, truncated: how it ended.
        success, collision: ``info['is_success']`` / ``info['collision']`` at the end (None
            where the env does not report it).
        final_info: the last step's info.

    """

    obs: np.ndarray
    actions: np.ndarray
    dt: np.ndarray
    rewards: np.ndarray
    infos: Dict[str, np.ndarray] = field(default_factory=dict)
    extras: Dict[str, np.ndarray] = field(default_factory=dict)
    seed: Optional[int] = None
    terminated: bool = False
    truncated: bool = False
    success: Optional[bool] = None
    collision: Optional[bool] = None
    final_info: Dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Return the number of steps."""
        return int(self.dt.size)

    @property
    def ret(self) -> float:
        """Return the episode return."""
        return float(self.rewards.sum())

    @property
    def seconds(self) -> float:
        """Return the simulated duration: the sum of the steps' real dt."""
        return float(self.infos['dt'].sum()) if 'dt' in self.infos else float(self.dt.sum())

    def summary(self) -> Dict[str, Any]:
        """Return the JSON-able per-episode record evaluation reports."""
        dts = self.infos.get('dt', self.dt)
        return {'seed': None if self.seed is None else int(self.seed), 'return': self.ret,
                'steps': self.steps, 'seconds': self.seconds, 'success': self.success,
                'collision': self.collision, 'terminated': self.terminated,
                'truncated': self.truncated, 'min_dt': float(np.min(dts)),
                'max_dt': float(np.max(dts))}


def _nominal_dt(env: Any) -> float:
    from lnn_control.envs.make import nominal_dt
    return nominal_dt(env)


def run_episode(env: Any, act: Callable[[Any, float, Dict[str, Any]], Any],
                seed: Optional[int] = None, reset: Optional[Callable[[], None]] = None,
                options: Optional[Dict[str, Any]] = None, keep_obs: bool = True,
                info_terms: Sequence[str] = INFO_TERMS,
                max_steps: Optional[int] = None) -> Trajectory:
    """
    Run one episode of ``env`` closed loop with ``act``; return its :class:`Trajectory`.

    Args:
        env: a Gymnasium env (``lnn_control.envs.make_env`` gives ``info['dt']``).
        act: ``(obs, dt, info) -> action`` or ``-> (action, extras dict)``.
        seed: the reset seed (None: the env's stream continues).
        reset: called after the env's reset (e.g. ``policy.reset``).
        options: reset options.
        keep_obs: keep the observations (False for long evaluations: ``obs`` is then empty).
        info_terms: scalar info entries to keep besides the ``reward_*`` terms.
        max_steps: stop (truncated) after this many steps (None: the env decides).

    """
    obs, info = env.reset(seed=seed, options=options)
    if reset is not None:
        reset()
    dt = float(info.get('dt', _nominal_dt(env)))
    seen: List[Any] = []
    actions: List[np.ndarray] = []
    dts: List[float] = []
    rewards: List[float] = []
    infos: Dict[str, List[Any]] = {}
    extras: Dict[str, List[Any]] = {}
    terminated = truncated = False
    while True:
        out = act(obs, dt, info)
        action, more = out if isinstance(out, tuple) else (out, None)
        if keep_obs:
            seen.append(obs)
        dts.append(dt)
        if more:
            for key, value in more.items():
                extras.setdefault(key, []).append(value)
        actions.append(np.asarray(action, dtype=np.float32))
        obs, reward, terminated, truncated, info = env.step(action)   # as act gave it
        rewards.append(float(reward))
        for key, value in info.items():
            if key in info_terms or key.startswith('reward_'):
                infos.setdefault(key, []).append(value)
        dt = float(info.get('dt', dt))
        if terminated or truncated:
            break
        if max_steps is not None and len(dts) >= max_steps:
            truncated = True
            break
    return Trajectory(
        obs=np.stack(seen) if seen else np.zeros((0,)),
        actions=np.stack(actions).astype(np.float32), dt=np.asarray(dts, dtype=np.float32),
        rewards=np.asarray(rewards, dtype=np.float64),
        infos={k: np.asarray(v) for k, v in infos.items()},
        extras={k: np.stack([np.asarray(x) for x in v]) for k, v in extras.items()},
        seed=seed, terminated=bool(terminated), truncated=bool(truncated),
        success=bool(info['is_success']) if 'is_success' in info else None,
        collision=bool(info['collision']) if 'collision' in info else None,
        final_info=info)
