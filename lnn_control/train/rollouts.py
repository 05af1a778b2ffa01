# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PPO rollouts on Ray actors: each actor a vector env of its share of the run's envs.

``ppo.rollout_workers: N`` (:class:`lnn_control.train.config.PPOConfig`) splits the run's
``ppo.envs`` envs into N contiguous groups; each group is a :class:`RolloutWorker`, a Ray
actor (one CPU, on any node of the cluster Ray is connected to, or of Ray started in this
process) holding a :class:`lnn_control.train.ppo.Runner` over its envs. Every update the
learner sends the agent's weights and the frozen observation statistics, each actor runs
:func:`lnn_control.train.ppo.collect` on its envs, and the learner joins the pieces along the
env axis. A PPO env's experience depends on nothing but the weights, the frozen statistics, its
own episode seeds and its own noise stream (all keyed by the env's index in the run), so the
joined rollout is the one a single process collects: the run is the same (tested against
the local run; the network's batched matmuls may round differently for another batch size,
hence "allclose"). The learner keeps what spans envs (the observation and return statistics,
the reward scaling), and checkpoints hold the same arrays as a local run's, so either can
resume the other.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Dict, List, Sequence, Tuple

from lnn_control.train.ppo import Agent
from lnn_control.train.ppo_runner import Rollout
from lnn_control.train.ppo_runner import Runner
from lnn_control.train.ppo_runner import RunningMeanStd
import numpy as np

__all__ = ['RolloutWorker', 'RemoteRunner', 'groups']

# Per-env arrays of Runner.state(), stacked over envs (the others are keyed by env index).
_STACKED = ('h_actor', 'h_critic', 'ep_return', 'episode_seed', 'env_episodes')


def groups(envs: int, workers: int) -> List[List[int]]:
    """Split env indices ``0 .. envs - 1`` into ``workers`` contiguous groups."""
    return [list(part) for part in np.array_split(np.arange(envs), workers)]


class RolloutWorker:
    """One actor's envs: a Runner over ``env_ids`` of the run described by ``config``."""

    def __init__(self, config: Dict[str, Any], env_ids: Sequence[int]) -> None:
        import torch

        from lnn_control.envs.make import make_env
        from lnn_control.train.config import config_from_dict
        from lnn_control.train.ppo import make_agent
        cfg = config_from_dict(config)
        torch.set_num_threads(cfg.threads)
        probe = make_env(cfg.env.id, perturb=cfg.env.perturb, **cfg.env.kwargs)
        agent = make_agent(cfg, probe)
        probe.close()
        self.ids = list(env_ids)
        self.runner = Runner(cfg, agent, self.ids)

    def start(self) -> None:
        """Reset the envs (the run's first episodes)."""
        self.runner.start()

    def collect(self, weights: Dict[str, np.ndarray], obs_stats: Dict[str, np.ndarray],
                steps: int) -> Tuple[Dict[str, np.ndarray], List[Tuple[int, int, float, int]],
                                     int, np.ndarray]:
        """
        Collect ``steps`` steps with these weights and observation statistics.

        Returns the rollout's arrays, the episodes that ended as (step, env index, return,
        length) in the order a single runner records them, the episodes begun so far and the
        returns so far of the running episodes.
        """
        from lnn_control.train.checkpoint import state_dict
        runner = self.runner
        runner.agent.load_state_dict(state_dict(weights))
        runner.obs_rms.load(obs_stats, 'obs_')
        runner.finished = []
        roll = runner.collect(steps)
        ends = [(t, self.ids[e]) for t in range(steps) for e in np.flatnonzero(roll.dones[t])]
        finished = [(t, e, r, n) for (t, e), (r, n) in zip(ends, runner.finished)]
        arrays = {f.name: getattr(roll, f.name) for f in dataclasses.fields(Rollout)}
        return arrays, finished, runner.episodes, runner.ep_return.copy()

    def state(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """Return the checkpoint arrays and JSON of this actor's runner."""
        return self.runner.state()

    def restore(self, arrays: Dict[str, np.ndarray], state: Dict[str, Any]) -> None:
        """Restore this actor's runner (its envs replay their episodes)."""
        self.runner.restore(arrays, state)


class RemoteRunner:
    """
    The learner's side: the :class:`~lnn_control.train.ppo.Runner` interface over actors.

    Ray is joined (if it is up, e.g. inside a sweep trial) or started in this process.
    """

    def __init__(self, cfg: Any, agent: Agent) -> None:
        from lnn_control.envs.make import make_env
        from lnn_control.envs.make import nominal_dt
        from lnn_control.train.distributed import ray_session
        self.cfg, self.agent = cfg, agent
        p = cfg.ppo
        self.n = p.envs
        self.groups = groups(p.envs, p.rollout_workers)
        self._session = contextlib.ExitStack()
        ray = self._session.enter_context(ray_session(what='ppo.rollout_workers'))
        self._ray = ray
        actor = ray.remote(num_cpus=1)(RolloutWorker)
        self.workers = [actor.remote(cfg.to_dict(), ids) for ids in self.groups]
        probe = make_env(cfg.env.id, perturb=cfg.env.perturb, **cfg.env.kwargs)
        self.nominal = nominal_dt(probe)
        low = np.asarray(probe.action_space.low, np.float64)
        high = np.asarray(probe.action_space.high, np.float64)
        shape = probe.observation_space.shape
        probe.close()
        self.bounded = bool(np.isfinite(low).all() and np.isfinite(high).all())
        self.act_mean = (high + low) / 2 if self.bounded else np.zeros_like(low)
        self.act_std = (high - low) / 2 if self.bounded else np.ones_like(low)
        self.obs_rms, self.ret_rms = RunningMeanStd(shape), RunningMeanStd(())
        self.returns = np.zeros(self.n)
        self.ep_return = np.zeros(self.n)
        self.episodes = 0
        self.finished: List[Tuple[float, int]] = []

    def start(self) -> None:
        """Reset every env."""
        self._ray.get([w.start.remote() for w in self.workers])

    def collect(self, steps: int) -> Rollout:
        """Collect on every actor with the current weights; join the pieces in env order."""
        from lnn_control.models.policy import model_tensors
        weights = self._ray.put(model_tensors(self.agent))
        stats = self.obs_rms.arrays('obs_')
        parts = self._ray.get([w.collect.remote(weights, stats, steps) for w in self.workers])
        joined = {name: np.concatenate([part[0][name] for part in parts],
                                       axis=0 if name == 'last_values' else 1)
                  for name in parts[0][0]}
        # (step, env) order: the order one runner stepping every env records them in
        ended = sorted(e for part in parts for e in part[1])
        self.finished += [(r, n) for _, _, r, n in ended]
        self.episodes = sum(part[2] for part in parts)
        self.ep_return = np.concatenate([part[3] for part in parts])
        return Rollout(**joined)

    def absorb(self, roll: Rollout) -> None:
        """Fold the rollout into the statistics, as a local runner does."""
        Runner.absorb(self, roll)       # type: ignore[arg-type]  (the same fields)

    def state(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """Return the same checkpoint arrays and JSON as a local Runner over every env."""
        parts = self._ray.get([w.state.remote() for w in self.workers])
        arrays: Dict[str, np.ndarray] = {**self.obs_rms.arrays('obs_'),
                                         **self.ret_rms.arrays('ret_'),
                                         'returns': self.returns}
        for key in _STACKED:
            arrays[key] = np.concatenate([a[key] for a, _ in parts])
        ep_length: List[int] = []
        for ids, (a, s) in zip(self.groups, parts):
            ep_length += list(s['ep_length'])
            for i, e in enumerate(ids):
                arrays[f'noise_{e}'] = a[f'noise_{i}']
                if f'history_{i}' in a:
                    arrays[f'history_{e}'] = a[f'history_{i}']
        return arrays, {'episodes': self.episodes, 'ep_length': ep_length,
                        'finished': self.finished[-100:]}

    def restore(self, arrays: Dict[str, np.ndarray], state: Dict[str, Any]) -> None:
        """Restore what :meth:`state` (or a local Runner's) returned: each actor its envs."""
        self.obs_rms.load(arrays, 'obs_')
        self.ret_rms.load(arrays, 'ret_')
        self.returns = np.array(arrays['returns'])
        self.episodes = state['episodes']
        self.finished = [tuple(f) for f in state['finished']]
        calls = []
        for worker, ids in zip(self.workers, self.groups):
            mine = {**self.obs_rms.arrays('obs_'), **self.ret_rms.arrays('ret_'),
                    'returns': self.returns[ids]}
            for key in _STACKED:
                mine[key] = np.asarray(arrays[key])[ids]
            for i, e in enumerate(ids):
                mine[f'noise_{i}'] = arrays[f'noise_{e}']
                if f'history_{e}' in arrays:
                    mine[f'history_{i}'] = arrays[f'history_{e}']
            calls.append(worker.restore.remote(mine, {
                'episodes': 0, 'ep_length': [state['ep_length'][e] for e in ids],
                'finished': []}))
        self._ray.get(calls)

    def close(self) -> None:
        """Stop the actors (and Ray, if this runner started it)."""
        for worker in self.workers:
            self._ray.kill(worker)
        self.workers = []
        self._session.close()
