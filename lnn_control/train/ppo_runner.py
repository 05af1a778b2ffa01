# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PPO's experience: running statistics, the rollout buffer and the :class:`Runner` of the envs.

Part of :mod:`lnn_control.train.ppo` (which re-exports every name here), kept apart so the
method file reads as the algorithm: the vector env, its seeds and noise streams, the
normalisers updated once per rollout and frozen during the next, the agent's carried state
and the exact restore of every env from a checkpoint. :mod:`lnn_control.train.rollouts` runs
the same :class:`Runner` on Ray actors.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, List, Optional, Sequence, Tuple, TYPE_CHECKING

import gymnasium
from lnn_control.envs.make import make_env
from lnn_control.envs.make import nominal_dt
from lnn_control.train.config import TrainConfig
import numpy as np
import torch

if TYPE_CHECKING:   # the agent is ppo's; only its type is named here
    from lnn_control.train.ppo import Agent

__all__ = ['RunningMeanStd', 'Rollout', 'episode_seed', 'Runner', 'collect', 'EPISODE_SEEDS']

EPISODE_SEEDS = 1_000_000     # training episodes reset with seeds from here on (eval: below)


# -- running statistics ------------------------------------------------------------------
class RunningMeanStd:
    """Running mean and variance of batches (Chan et al.'s parallel update)."""

    def __init__(self, shape: Tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        """Fold in a batch ``x`` (N, *shape)."""
        x = np.asarray(x, np.float64)
        mean, var, n = x.mean(0), x.var(0), x.shape[0]
        delta, total = mean - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + var * n
                    + delta ** 2 * self.count * n / total) / total
        self.count = total

    def std(self, eps: float = 1e-8) -> np.ndarray:
        """Return the standard deviation (sqrt(var + eps))."""
        return np.sqrt(self.var + eps)

    def arrays(self, prefix: str) -> Dict[str, np.ndarray]:
        """Return the state for a checkpoint, as named arrays."""
        return {f'{prefix}mean': self.mean, f'{prefix}var': self.var,
                f'{prefix}count': np.array([self.count])}

    def load(self, arrays: Dict[str, np.ndarray], prefix: str) -> None:
        """Restore :meth:`arrays`."""
        self.mean = np.array(arrays[f'{prefix}mean'], np.float64)
        self.var = np.array(arrays[f'{prefix}var'], np.float64)
        self.count = float(arrays[f'{prefix}count'][0])


# -- rollouts ----------------------------------------------------------------------------
@dataclasses.dataclass
class Rollout:
    """
    One update's experience, arrays (T, E, ...): T steps of E envs.

    ``obs`` normalised as the agent saw it (``raw_obs`` as the env gave it), ``dt`` the
    timespan it got, ``actions`` the sampled normalised actions (before clipping), ``logp``
    their log-probabilities, ``rewards`` the env's (scaled by :meth:`Runner.absorb`),
    ``bootstrap`` the critic's value of the last observation of an episode cut by a time
    limit (0 elsewhere), ``dones`` an episode ended after the step, ``values`` the critic's,
    ``h_actor``/``h_critic`` the flat states *entering* each step, ``starts`` the step begins
    an episode.
    """

    obs: np.ndarray
    raw_obs: np.ndarray
    dt: np.ndarray
    actions: np.ndarray
    logp: np.ndarray
    rewards: np.ndarray
    bootstrap: np.ndarray
    dones: np.ndarray
    values: np.ndarray
    h_actor: np.ndarray
    h_critic: np.ndarray
    starts: np.ndarray
    last_values: np.ndarray


def episode_seed(seed: int, env: int, episode: int) -> int:
    """
    Return the reset seed of env ``env``'s ``episode``-th training episode of run ``seed``.

    Drawn from ``SeedSequence([seed, env, episode])`` and at least ``EPISODE_SEEDS``, so no
    training episode is an evaluation one (those use seeds below it).
    """
    draw = int(np.random.SeedSequence([seed, env, episode]).generate_state(1)[0])
    return EPISODE_SEEDS + draw % (2 ** 31 - EPISODE_SEEDS)


class Runner:
    """
    The vector env, its normalisers and the agent's carried state between updates.

    Episodes are reset with explicit seeds (:func:`episode_seed`, per env and episode), actions
    are drawn from one noise stream per env, and each env's actions since its episode began
    are kept, so a checkpoint can
    restore every env exactly by replaying its episode (:meth:`restore`).
    """

    def __init__(self, cfg: TrainConfig, agent: Agent,
                 env_ids: Optional[Sequence[int]] = None) -> None:
        self.cfg, self.agent = cfg, agent
        p = cfg.ppo
        # The run's env indices this runner steps (all by default; a rollout worker's share
        # otherwise): seeds and noise streams follow the index, not the position here.
        self.ids = list(range(p.envs) if env_ids is None else env_ids)
        maker = functools.partial(make_env, cfg.env.id, perturb=cfg.env.perturb,
                                  **cfg.env.kwargs)
        vector = (gymnasium.vector.SyncVectorEnv if p.vector == 'sync'
                  else functools.partial(gymnasium.vector.AsyncVectorEnv, context='forkserver'))
        self.venv = vector([maker] * len(self.ids),
                           autoreset_mode=gymnasium.vector.AutoresetMode.DISABLED)
        self.n = len(self.ids)
        probe = maker()
        self.nominal = nominal_dt(probe)
        act_low = np.asarray(probe.action_space.low, np.float64)
        act_high = np.asarray(probe.action_space.high, np.float64)
        probe.close()
        self.bounded = bool(np.isfinite(act_low).all() and np.isfinite(act_high).all())
        self.act_mean = (act_high + act_low) / 2 if self.bounded else np.zeros_like(act_low)
        self.act_std = (act_high - act_low) / 2 if self.bounded else np.ones_like(act_low)
        shape = self.venv.single_observation_space.shape
        self.obs_rms, self.ret_rms = RunningMeanStd(shape), RunningMeanStd(())
        self.returns = np.zeros(self.n)
        self.episodes = 0
        self.env_episodes = np.zeros(self.n, dtype=np.int64)     # episodes begun, per env
        self.episode_seed = np.zeros(self.n, dtype=np.int64)
        self.history: List[List[np.ndarray]] = [[] for _ in range(self.n)]
        self.ep_return = np.zeros(self.n)
        self.ep_length = np.zeros(self.n, dtype=np.int64)
        self.finished: List[Tuple[float, int]] = []       # (return, length) of ended episodes
        self.obs = np.zeros((self.n, *shape))
        self.dt = np.full(self.n, self.nominal)
        self.h_actor, self.h_critic = agent.initial_states(self.n)
        # One noise stream per env: an env's actions do not depend on how the envs are
        # batched or split between processes.
        self.noise = [torch.Generator().manual_seed(int(np.random.SeedSequence(
            [cfg.seed, e, 0x5A3F]).generate_state(1)[0])) for e in self.ids]

    def sample(self, mean: torch.Tensor) -> torch.Tensor:
        """Draw each env's action around ``mean`` (E, A) from its own noise stream."""
        noise = torch.stack([torch.randn(mean.shape[-1], generator=g) for g in self.noise])
        return mean + self.agent.log_std.detach().exp() * noise

    def _seeds(self, mask: np.ndarray) -> List[Optional[int]]:
        seeds: List[Optional[int]] = [None] * self.n
        for e in np.flatnonzero(mask):
            seeds[e] = episode_seed(self.cfg.seed, self.ids[e], int(self.env_episodes[e]))
            self.env_episodes[e] += 1
            self.episode_seed[e] = seeds[e]
            self.history[e] = []
            self.episodes += 1
        return seeds

    def collect(self, steps: int) -> 'Rollout':
        """Run ``steps`` steps of every env (:func:`collect`)."""
        return collect(self, steps)

    def close(self) -> None:
        """Close the envs."""
        self.venv.close()

    def start(self) -> None:
        """Reset every env (the run's first episodes)."""
        everyone = np.ones(self.n, dtype=bool)
        self.obs, info = self.venv.reset(seed=self._seeds(everyone))
        self.dt = self._dt(info, everyone)

    def _dt(self, info: Dict[str, Any], mask: np.ndarray) -> np.ndarray:
        dt = np.array(self.dt, dtype=np.float64)
        if 'dt' in info:
            have = info.get('_dt', np.ones(self.n, dtype=bool)) & mask
            dt[have] = np.asarray(info['dt'], dtype=np.float64)[have]
        dt[mask & ~np.isfinite(dt)] = self.nominal
        return dt

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        """Return observations as the agent sees them."""
        if not self.cfg.ppo.norm_obs:
            return np.asarray(obs, np.float32)
        return ((obs - self.obs_rms.mean) / self.obs_rms.std()).astype(np.float32)

    def env_action(self, u: np.ndarray) -> np.ndarray:
        """Map normalised actions to the env's units (clipped to the bounds)."""
        if self.bounded:
            u = np.clip(u, -1.0, 1.0)
        return u * self.act_std + self.act_mean

    def step(self, u: np.ndarray) -> Tuple[np.ndarray, ...]:
        """
        Step every env with normalised actions ``u``.

        Returns (rewards, terminated, truncated, the step's observations and dt): where an
        episode ended they are its last, and the env has been reset for the next.
        """
        action = self.env_action(u)
        for e in range(self.n):
            self.history[e].append(action[e].copy())
        obs, reward, terminated, truncated, info = self.venv.step(action)
        final = np.array(obs, copy=True)
        done = terminated | truncated
        self.dt = self._dt(info, np.ones(self.n, dtype=bool))
        final_dt = self.dt.copy()
        self.ep_return += reward
        self.ep_length += 1
        for e in np.flatnonzero(done):
            self.finished.append((float(self.ep_return[e]), int(self.ep_length[e])))
        self.ep_return[done], self.ep_length[done] = 0.0, 0
        if done.any():
            obs, reset_info = self.venv.reset(seed=self._seeds(done),
                                              options={'reset_mask': done})
            self.dt = np.where(done, self._dt(reset_info, done), self.dt)
        self.obs = obs
        return np.asarray(reward, np.float64), terminated, truncated, final, final_dt

    def absorb(self, roll: 'Rollout') -> None:
        """
        Fold a rollout into the normalisers and scale its rewards, in place.

        The observation statistics take the rollout's raw observations (they normalise the
        next rollout: frozen during one, so how envs are batched never matters); rewards are
        divided by the running std of the discounted return (VecNormalize's rule), then the
        time-limit bootstrap is added in those units.
        """
        p = self.cfg.ppo
        if p.norm_obs:
            self.obs_rms.update(roll.raw_obs.reshape(-1, *self.obs_rms.mean.shape))
        if p.norm_reward:
            returns = np.zeros_like(roll.rewards)
            for t in range(roll.rewards.shape[0]):
                self.returns = self.returns * p.gamma + roll.rewards[t]
                returns[t] = self.returns
                self.returns[roll.dones[t]] = 0.0
            self.ret_rms.update(returns.reshape(-1))
            roll.rewards = roll.rewards / self.ret_rms.std()
        roll.rewards = roll.rewards + p.gamma * roll.bootstrap

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """Return arrays and JSON that restore this runner exactly (see :meth:`restore`)."""
        arrays = {**self.obs_rms.arrays('obs_'), **self.ret_rms.arrays('ret_'),
                  'returns': self.returns, 'h_actor': self.h_actor.numpy(),
                  'h_critic': self.h_critic.numpy(), 'ep_return': self.ep_return,
                  'episode_seed': self.episode_seed, 'env_episodes': self.env_episodes,
                  **{f'noise_{e}': g.get_state().numpy() for e, g in enumerate(self.noise)}}
        for e, actions in enumerate(self.history):
            if actions:
                arrays[f'history_{e}'] = np.stack(actions)
        return arrays, {'episodes': self.episodes, 'ep_length': self.ep_length.tolist(),
                        'finished': self.finished[-100:]}

    def restore(self, arrays: Dict[str, np.ndarray], state: Dict[str, Any]) -> None:
        """Rebuild every env's episode (reset with its seed, replay its actions) and stats."""
        self.obs_rms.load(arrays, 'obs_')
        self.ret_rms.load(arrays, 'ret_')
        self.returns = np.array(arrays['returns'])
        self.h_actor = torch.from_numpy(np.array(arrays['h_actor']))
        self.h_critic = torch.from_numpy(np.array(arrays['h_critic']))
        self.ep_return = np.array(arrays['ep_return'])
        self.ep_length = np.asarray(state['ep_length'], dtype=np.int64)
        self.episode_seed = np.array(arrays['episode_seed'], dtype=np.int64)
        self.env_episodes = np.array(arrays['env_episodes'], dtype=np.int64)
        for e, g in enumerate(self.noise):
            g.set_state(torch.from_numpy(np.array(arrays[f'noise_{e}'])))
        self.episodes, self.finished = state['episodes'], [tuple(f) for f in state['finished']]
        history = [list(arrays.get(f'history_{e}', ())) for e in range(self.n)]
        self._replay(history)

    def _replay(self, history: List[List[np.ndarray]]) -> None:
        """
        Bring every env to where its episode was: reset with its seed, step its actions.

        The replays run in lockstep and end together: an env with a shorter history starts
        later and idles before (zero actions, reset whenever it ends), so one vector env, sync
        or async, restores them all.
        """
        length = np.array([len(h) for h in history])
        last = int(length.max())
        begin = last - length
        zero = np.zeros_like(self.act_mean)
        ended = np.zeros(self.n, dtype=bool)
        for t in range(last + 1):
            starting = begin == t
            if t == 0 or starting.any() or ended.any():
                mask = np.ones(self.n, dtype=bool) if t == 0 else starting | ended
                seeds = [int(self.episode_seed[e]) if starting[e] else None
                         for e in range(self.n)]
                obs, info = self.venv.reset(seed=seeds, options={'reset_mask': mask})
                self.obs = np.where(mask.reshape(-1, *([1] * (obs.ndim - 1))), obs, self.obs)
                self.dt = self._dt(info, mask)
            if t == last:
                break
            action = np.stack([history[e][t - begin[e]] if t >= begin[e] else zero
                               for e in range(self.n)])
            obs, _, terminated, truncated, info = self.venv.step(action)
            self.obs, self.dt = obs, self._dt(info, np.ones(self.n, dtype=bool))
            ended = (terminated | truncated) & (t < begin - 1)
            if ((terminated | truncated) & (t >= begin)).any():
                raise RuntimeError('a replayed episode ended early: the env is not '
                                   'deterministic given its seed and actions')
        self.history = history


def collect(runner: Runner, steps: int) -> Rollout:
    """
    Run ``steps`` steps of every env with the agent sampling; return the rollout.

    A function of the agent's weights, the frozen normalisers and each env's episode and noise
    stream only: envs collected in other processes give the same experience.
    """
    agent, n = runner.agent, runner.n
    raw_shape = tuple(np.asarray(runner.obs).shape[1:])
    obs_size = int(np.prod(raw_shape))
    buf = {'obs': np.zeros((steps, n, obs_size), np.float32),
           'raw_obs': np.zeros((steps, n, *raw_shape)),
           'dt': np.zeros((steps, n), np.float32),
           'actions': np.zeros((steps, n, agent.actor.output_size), np.float32),
           'logp': np.zeros((steps, n), np.float32), 'rewards': np.zeros((steps, n)),
           'bootstrap': np.zeros((steps, n)),
           'dones': np.zeros((steps, n), bool), 'values': np.zeros((steps, n), np.float32),
           'h_actor': np.zeros((steps, n, agent.actor.state_size), np.float32),
           'h_critic': np.zeros((steps, n, agent.critic.state_size), np.float32),
           'starts': np.zeros((steps, n), bool)}
    fresh = np.array([len(h) == 0 for h in runner.history])
    zero_a, zero_c = agent.initial_states(n)
    # A critic without state is run once over the whole rollout after it (a third of the
    # per-step network time), a recurrent one step by step with the actor.
    stateless = agent.critic.state_size == 0
    finals: List[Tuple[int, int, np.ndarray]] = []        # (t, env, last obs) of cut episodes
    for t in range(steps):
        buf['raw_obs'][t] = runner.obs
        x = runner.normalise(np.asarray(runner.obs).reshape(n, -1))
        buf['obs'][t], buf['dt'][t], buf['starts'][t] = x, runner.dt, fresh
        buf['h_actor'][t], buf['h_critic'][t] = runner.h_actor.numpy(), runner.h_critic.numpy()
        xt, dt = torch.from_numpy(x)[:, None], torch.from_numpy(buf['dt'][t])[:, None]
        with torch.no_grad():
            if stateless:
                mean, ha = agent.act(xt, runner.h_actor, dt)
                hc = runner.h_critic
            else:
                mean, value, ha, hc = agent(xt, runner.h_actor, runner.h_critic, dt)
                buf['values'][t] = value[:, 0].numpy()
            u = runner.sample(mean[:, 0])
            buf['logp'][t] = agent.log_prob(mean[:, 0], u).numpy()
        buf['actions'][t] = u.numpy()
        reward, terminated, truncated, final, final_dt = runner.step(
            u.numpy().astype(np.float64))
        done = terminated | truncated
        cut = truncated & ~terminated
        if cut.any():
            # A time limit is no terminal state: bootstrap with the value of the last obs.
            xf = runner.normalise(final.reshape(n, -1))
            if stateless:
                finals += [(t, e, xf[e]) for e in np.flatnonzero(cut)]
            else:
                with torch.no_grad():
                    _, vf, _, _ = agent(torch.from_numpy(xf)[:, None], ha, hc,
                                        torch.from_numpy(final_dt)[:, None].float())
                buf['bootstrap'][t] = np.where(cut, vf[:, 0].numpy(), 0.0)
        buf['rewards'][t], buf['dones'][t] = reward, done
        keep = torch.from_numpy(~done)[:, None]
        runner.h_actor = torch.where(keep, ha, zero_a)
        runner.h_critic = torch.where(keep, hc, zero_c)
        fresh = done
    x = torch.from_numpy(runner.normalise(np.asarray(runner.obs).reshape(n, -1)))[:, None]
    with torch.no_grad():
        if stateless:
            every = np.concatenate([buf['obs'].reshape(steps * n, -1), x[:, 0].numpy()]
                                   + [f[None] for _, _, f in finals])
            v = agent.values(torch.from_numpy(every)[:, None])[:, 0].numpy()
            buf['values'] = v[:steps * n].reshape(steps, n)
            last = v[steps * n:steps * n + n]
            for (t, e, _), value in zip(finals, v[steps * n + n:]):
                buf['bootstrap'][t, e] = value
        else:
            _, lv, _, _ = agent(x, runner.h_actor, runner.h_critic,
                                torch.from_numpy(runner.dt)[:, None].float())
            last = lv[:, 0].numpy()
    return Rollout(**buf, last_values=last)
