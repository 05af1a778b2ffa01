# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Reinforcement learning: recurrent PPO with the real dt, for any Gymnasium task, no expert.

Run it with ``lnn-control train config/train/ppo_halfcheetah_cfc.yaml`` (``method: ppo``, the
``ppo:`` section of :class:`lnn_control.train.config.PPOConfig`). Proximal policy optimisation
(Schulman et al., "Proximal policy optimization algorithms", 2017) for policies with memory,
top to bottom:

1. **The agent.** The actor is any registered model (CfC or LTC with an NCP or fully
   connected wiring, GRU, LSTM, MLP) whose outputs are the mean of a Gaussian over the
   normalised action (the action space mapped to [-1, 1]); its log-std is one learned number
   per action, independent of the state. Not squashed: the deployed policy is the mean, and
   the action the env executes is clipped to the bounds, in training exactly as the robot's
   Actuator clips the mean, so what is optimised is what runs (a tanh squash would need a
   log-det correction and would make the deterministic policy ``tanh(mean)``, another function
   than the one trained to be sampled around). The critic is a separate network (``critic``:
   an MLP on the observation by default, or a recurrent one with its own state), not a value
   head: the robot runs the actor alone, so the critic's size costs nothing there, a tiny
   liquid actor keeps all of its neurons (and its sparse wiring) for the policy, and the
   value's gradients never shape the actor's dynamics. bench/rl.py measures an MLP critic
   against a recurrent one on the partially observed task.
2. **Rollouts** (:mod:`lnn_control.train.ppo_runner`). ``envs`` envs (``gymnasium.vector``,
   sync or async) step ``rollout_steps`` times per update. Every step's elapsed time
   (``info['dt']``, the nominal period after a reset) goes to the actor and a recurrent critic
   as the timespan, so a policy trained with dt jitter handles irregular sampling. Observations
   are normalised by a running mean/std, rewards scaled by a running std of the discounted
   return; both statistics are updated once per rollout, from all of it, and frozen during the
   next, so an env's experience depends on nothing but the agent's weights, its own episode
   seeds and its own noise stream (envs can be batched or split between processes at will). The
   buffer stores each step's hidden states, so any chunk can be replayed from where the rollout
   was.
3. **Advantages.** GAE(lambda) (Schulman et al., "High-dimensional continuous control using
   generalized advantage estimation", 2016); a truncated episode is bootstrapped with the
   value of its last observation.
4. **Updates.** The rollout is cut into chunks of ``chunk_len`` consecutive steps of one env,
   a chunk ending early where an episode ends (the next starts from the zero state, as the
   rollout did); each chunk is replayed with truncated BPTT from its stored start state
   (after ``burn_in`` steps that refresh it with the current weights, if set), so the replay
   reproduces the rollout's outputs (tested). ``epochs`` passes of ``minibatches`` minibatches
   of whole chunks: the clipped surrogate, a value loss (optionally clipped), an entropy bonus,
   advantages normalised per minibatch, the actor's and the critic's gradient norms clipped
   each, the learning rate annealed linearly.
5. **The policy.** Evaluated on held-out seeds (``eval.test_seed``) through the numpy runtime
   and saved as an ordinary policy file: the actor, the frozen normaliser, the action scaling,
   provenance. It runs in ``lnn-control eval``, ``inspect``, ``export --onnx`` and in
   ``lnn_controller`` like any other.

Files in the output folder: ``<name>.safetensors``, ``log.csv`` (one row per update),
``learning_curve.png``, TensorBoard scalars in ``tensorboard/`` (``tensorboard --logdir``),
``config.yaml``, ``summary.json`` and ``checkpoint/`` every ``checkpoint_every`` updates:
``--resume`` continues the exact same run (the envs are restored by replaying each one's
episode from its seed and the actions taken), so an interrupted run ends where an
uninterrupted one does.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import gymnasium
from lnn_control.envs.make import make_env
from lnn_control.models.base import PolicyModel
from lnn_control.models.policy import model_tensors
from lnn_control.models.policy import save_policy
from lnn_control.train import checkpoint as ckpt
from lnn_control.train.config import ConfigError
from lnn_control.train.config import TrainConfig
from lnn_control.train.evaluate import evaluate
from lnn_control.train.logs import write_yaml
from lnn_control.train.policy_io import build_model
from lnn_control.train.policy_io import runtime_policy
from lnn_control.train.policy_io import spaces_of
from lnn_control.train.ppo_runner import collect
from lnn_control.train.ppo_runner import episode_seed
from lnn_control.train.ppo_runner import EPISODE_SEEDS
from lnn_control.train.ppo_runner import Rollout
from lnn_control.train.ppo_runner import Runner
from lnn_control.train.ppo_runner import RunningMeanStd
from lnn_control.train.progress import Progress
import numpy as np
import torch
from torch import nn
from tqdm.contrib.logging import logging_redirect_tqdm

__all__ = ['train', 'make_agent', 'Agent', 'Runner', 'RunningMeanStd', 'Rollout', 'collect',
           'episode_seed', 'EPISODE_SEEDS',
           'gae', 'chunks', 'batch', 'replay', 'policy_loss', 'value_loss', 'update']

logger = logging.getLogger(__name__)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Settings a resumed run may change (the experience does not depend on them).
RESUMABLE_CHANGES = ('ppo.total_steps', 'ppo.rollout_workers', 'eval', 'threads', 'out_dir')
LOG_FIELDS = ('update', 'env_steps', 'wall_seconds', 'steps_per_second', 'collect_seconds',
              'update_seconds', 'episode_return',
              'episode_length', 'episodes', 'policy_loss', 'value_loss', 'entropy',
              'approx_kl', 'clip_fraction', 'explained_variance', 'actor_grad_norm',
              'critic_grad_norm', 'lr', 'log_std')


# -- 1. running statistics and 3. rollouts: lnn_control/train/ppo_runner.py
# (RunningMeanStd, Rollout, episode_seed, Runner, collect; re-exported here)


# -- 2. the agent ---------------------------------------------------------------------------
class Agent(nn.Module):
    """
    A Gaussian actor (any model; state-independent log-std) and a separate critic.

    States are kept flat, (B, state_size) per network (the runtime layout), so a rollout can
    store them and a chunk can start from them.
    """

    def __init__(self, actor: PolicyModel, critic: PolicyModel, log_std_init: float) -> None:
        super().__init__()
        self.actor, self.critic = actor, critic
        self.log_std = nn.Parameter(torch.full((actor.output_size,), float(log_std_init)))

    def initial_states(self, batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return zero flat states of the actor and the critic for ``batch`` envs."""
        return (self.actor.flat_state(self.actor.initial_state(batch)),
                self.critic.flat_state(self.critic.initial_state(batch)))

    def forward(self, x: torch.Tensor, h_actor: torch.Tensor, h_critic: torch.Tensor,
                dt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                           torch.Tensor]:
        """Run (B, L, O) observations with (B, L) timespans from flat states: (mean, value, h')."""
        mean, ha = self.actor(x, self.actor.unflat_state(h_actor), dt)        # (B, L, A)
        value, hc = self.critic(x, self.critic.unflat_state(h_critic), dt)     # (B, L, 1)
        return mean, value[..., 0], self.actor.flat_state(ha), self.critic.flat_state(hc)

    def act(self, x: torch.Tensor, h_actor: torch.Tensor,
            dt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the actor alone: (mean, h'), as :meth:`forward`."""
        mean, ha = self.actor(x, self.actor.unflat_state(h_actor), dt)
        return mean, self.actor.flat_state(ha)

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """Return a stateless critic's values of (B, L, O) observations, (B, L)."""
        value, _ = self.critic(x, self.critic.unflat_state(
            self.critic.flat_state(self.critic.initial_state(x.shape[0]))), None)
        return value[..., 0]

    def groups(self) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
        """Return the actor's parameters (with the log-std) and the critic's."""
        return [*self.actor.parameters(), self.log_std], list(self.critic.parameters())

    def entropy(self) -> torch.Tensor:
        """Return the entropy of the action distribution (state-independent, as its std)."""
        return (0.5 + HALF_LOG_2PI + self.log_std).sum()

    def log_prob(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Return the log-density of actions ``u`` around ``mean``, summed over actions."""
        z = (u - mean) * torch.exp(-self.log_std)
        return -(0.5 * z * z + self.log_std + HALF_LOG_2PI).sum(-1)


# -- 4. advantages --------------------------------------------------------------------------
def gae(rewards: np.ndarray, values: np.ndarray, dones: np.ndarray, last_values: np.ndarray,
        gamma: float, lam: float) -> Tuple[np.ndarray, np.ndarray]:
    """
    Generalised advantage estimates and returns, (T, E) each.

    ``dones[t]``: the episode ended after step t (no value flows back across it).
    """
    steps = rewards.shape[0]
    advantages = np.zeros_like(values, dtype=np.float64)
    running = np.zeros_like(last_values, dtype=np.float64)
    for t in reversed(range(steps)):
        following = last_values if t == steps - 1 else values[t + 1]
        alive = 1.0 - dones[t]
        delta = rewards[t] + gamma * following * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages, advantages + values


# -- 5. chunks ------------------------------------------------------------------------------
Chunk = Tuple[int, int, int, int]     # (env, first step, length, burn-in steps before it)


def chunks(starts: np.ndarray, chunk_len: int, burn_in: int = 0) -> List[Chunk]:
    """
    Cut a rollout (T, E) into training chunks: (env, first step, length, burn-in) each.

    A chunk has ``chunk_len`` steps at most and a new one begins wherever an episode starts
    (its state is the zero state there, as in the rollout). ``burn_in`` steps before a chunk,
    never across its episode's start nor before the rollout's first step, are replayed to
    refresh the stored state with the current network, without loss (R2D2's burn-in).
    """
    steps, n = starts.shape
    out = []
    for e in range(n):
        first, episode = 0, 0
        for t in range(1, steps + 1):
            if t == steps or t - first == chunk_len or starts[t, e]:
                out.append((e, first, t - first, min(burn_in, first - episode)))
                first = t
                if t < steps and starts[t, e]:
                    episode = t
    return out


def batch(roll: Rollout, items: Sequence[Chunk], adv: np.ndarray,
          ret: np.ndarray) -> Dict[str, torch.Tensor]:
    """
    Gather chunks from the rollout as (B, L, ...) tensors, one row per chunk.

    A row holds the chunk's burn-in and its steps, replayed from the state stored where the
    row begins, padded at the end; ``mask`` marks the chunk's own steps (the loss's).
    """
    length = max(pre + n for _, _, n, pre in items)
    rows = len(items)
    idx_t = np.zeros((rows, length), np.int64)
    env = np.zeros((rows, length), np.int64)
    mask = np.zeros((rows, length), bool)
    begin = np.zeros(rows, np.int64)
    for i, (e, first, n, pre) in enumerate(items):
        begin[i] = first - pre
        idx_t[i] = begin[i] + np.minimum(np.arange(length), pre + n - 1)
        env[i], mask[i, pre:pre + n] = e, True
    first_e = np.array([e for e, _, _, _ in items])

    def take(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array[idx_t, env]))

    return {'obs': take(roll.obs), 'dt': take(roll.dt), 'actions': take(roll.actions),
            'logp': take(roll.logp), 'values': take(roll.values),
            'adv': torch.from_numpy(adv[idx_t, env].astype(np.float32)),
            'ret': torch.from_numpy(ret[idx_t, env].astype(np.float32)),
            'mask': torch.from_numpy(mask),
            'h_actor': torch.from_numpy(roll.h_actor[begin, first_e]),
            'h_critic': torch.from_numpy(roll.h_critic[begin, first_e])}


def replay(agent: Agent, mb: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Replay a minibatch of chunks (:func:`batch`); return (log-probabilities, values)."""
    mean, values, _, _ = agent(mb['obs'], mb['h_actor'], mb['h_critic'], mb['dt'])
    return agent.log_prob(mean, mb['actions']), values


# -- 6. losses ------------------------------------------------------------------------------
def policy_loss(logp: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor,
                clip: float) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the clipped surrogate loss, the fraction of clipped ratios and approximate KL."""
    log_ratio = logp - logp_old
    ratio = log_ratio.exp()
    surrogate = torch.max(-advantages * ratio,
                          -advantages * ratio.clamp(1.0 - clip, 1.0 + clip))
    with torch.no_grad():
        clipped = ((ratio - 1.0).abs() > clip).float().mean()
        approx_kl = ((ratio - 1.0) - log_ratio).mean()     # Schulman's k3 estimator
    return surrogate.mean(), clipped, approx_kl


def value_loss(values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor,
               clip: float) -> torch.Tensor:
    """Return half the mean squared error of the values, clipped around the old ones if set."""
    loss = (values - returns) ** 2
    if clip > 0.0:
        clipped = values_old + (values - values_old).clamp(-clip, clip)
        loss = torch.max(loss, (clipped - returns) ** 2)
    return 0.5 * loss.mean()


def update(agent: Agent, optimizer: torch.optim.Optimizer, roll: Rollout, cfg: TrainConfig,
           rng: np.random.Generator) -> Dict[str, float]:
    """Run the PPO epochs on one rollout; return the last epoch's mean statistics."""
    p = cfg.ppo
    adv, ret = gae(roll.rewards, roll.values, roll.dones, roll.last_values, p.gamma,
                   p.gae_lambda)
    items = chunks(roll.starts, p.chunk_len, p.burn_in)
    per = max(1, math.ceil(len(items) / p.minibatches))
    keys = ('policy_loss', 'value_loss', 'entropy', 'approx_kl', 'clip_fraction',
            'actor_grad_norm', 'critic_grad_norm')
    stats: Dict[str, List[float]] = {k: [] for k in keys}
    for _ in range(p.epochs):
        order = rng.permutation(len(items))
        for at in range(0, len(items), per):
            mb = batch(roll, [items[i] for i in order[at:at + per]], adv, ret)
            logp, values = replay(agent, mb)
            m = mb['mask']
            a = mb['adv'][m]
            if p.norm_adv and a.numel() > 1:
                a = (a - a.mean()) / (a.std() + 1e-8)
            pg, clipped, kl = policy_loss(logp[m], mb['logp'][m], a, p.clip)
            vl = value_loss(values[m], mb['values'][m], mb['ret'][m], p.clip_value)
            entropy = agent.entropy()
            loss = pg + p.vf_coef * vl - p.ent_coef * entropy
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Each network's gradient is clipped on its own: the critic's, larger, would
            # otherwise take the actor's share of a global norm (measured: bench/rl.py).
            norms = [nn.utils.clip_grad_norm_(params, p.max_grad_norm or math.inf)
                     for params in agent.groups()]
            optimizer.step()
            for key, value in zip(keys, (pg, vl, entropy, kl, clipped, *norms)):
                stats[key].append(float(value.detach()))
    out = {k: float(np.mean(v[-max(1, len(v) // p.epochs):])) for k, v in stats.items()}
    y, v = ret.reshape(-1), roll.values.reshape(-1)
    out['explained_variance'] = float(1.0 - np.var(y - v) / np.var(y)) if np.var(y) > 0 else 0.0
    return out


# -- 7. logs --------------------------------------------------------------------------------
def _write_curve(out: Path, rows: List[Dict[str, Any]], name: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    have = [r for r in rows if r.get('episode_return') not in (None, '')]
    fig, ax = plt.subplots(figsize=(7, 4))
    if have:
        ax.plot([r['env_steps'] for r in have], [r['episode_return'] for r in have])
    ax.set_xlabel('environment steps')
    ax.set_ylabel('episode return (last 20 episodes)')
    ax.set_title(name)
    fig.tight_layout()
    fig.savefig(out / 'learning_curve.png', dpi=100)
    plt.close(fig)


def _write_log(out: Path, rows: List[Dict[str, Any]]) -> None:
    with open(out / 'log.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, '') for k in LOG_FIELDS})


# -- 8. the training run --------------------------------------------------------------------
def _check(cfg: TrainConfig, env: Any) -> None:
    box = env.action_space
    if not isinstance(box, gymnasium.spaces.Box) or len(box.shape) != 1:
        raise ConfigError(f'ppo trains Gaussian policies over a vector action space; '
                          f'{cfg.env.id} has {box}')
    if len(env.observation_space.shape or ()) != 1:
        raise ConfigError(f'ppo takes vector observations; {cfg.env.id} observes '
                          f'{env.observation_space} (camera tasks train by imitation)')


def make_agent(cfg: TrainConfig, env: Any) -> Agent:
    """Build the agent of ``cfg`` (actor ``cfg.model``, critic ``cfg.ppo.critic``) for ``env``."""
    _check(cfg, env)
    shape = env.observation_space.shape
    actor = build_model(cfg.model.kind, dict(cfg.model.kwargs), shape,
                        int(np.prod(env.action_space.shape)))
    critic = build_model(cfg.ppo.critic['kind'], dict(cfg.ppo.critic.get('kwargs', {})),
                         shape, 1)
    return Agent(actor, critic, cfg.ppo.log_std_init)


def train(cfg: TrainConfig, out: Optional[os.PathLike] = None, resume: bool = False,
          progress: Optional[bool] = None, base_dir: Optional[str] = None,
          report: Optional[Callable[[Dict[str, Any], Optional[Path]], None]] = None) -> Path:
    """
    Train ``cfg`` with PPO (``cfg.ppo``) and write the policy file; return its path.

    Args:
        cfg: the run's configuration.
        out: output folder (default ``cfg.resolved_out_dir()``).
        resume: continue from the folder's checkpoint (refused if the config changed, but for
            ``ppo.total_steps``, ``ppo.rollout_workers``, ``eval`` and ``threads``).
        progress: show a progress bar (None: only on a terminal).
        base_dir: unused (imitation's expert files); the same signature as every method.
        report: called after every update with ``{'update', 'score', 'metric'}`` (score: the
            mean return of the last 20 training episodes; before the first ends, the return so
            far of those running) and the checkpoint folder if one was written (else None).

    """
    cfg, out, ckpt_dir = ckpt.run_folder(cfg, out, resume)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    p = cfg.ppo
    probe = make_env(cfg.env.id, perturb=cfg.env.perturb, **cfg.env.kwargs)
    _check(cfg, probe)
    obs_space, act_space, observer, actuator = spaces_of(probe)
    agent = make_agent(cfg, probe)
    probe.close()
    actor, critic = agent.actor, agent.critic
    optimizer = torch.optim.Adam(agent.parameters(), lr=p.lr, eps=1e-5)
    if p.rollout_workers > 0:       # envs stepped by Ray actors (lnn_control.train.rollouts)
        from lnn_control.train.rollouts import RemoteRunner
        runner: Any = RemoteRunner(cfg, agent)
    else:
        runner = Runner(cfg, agent)
    batch_rng = np.random.default_rng([cfg.seed, 11])
    per_update = p.envs * p.rollout_steps
    updates = math.ceil(p.total_steps / per_update)
    rows: List[Dict[str, Any]] = []
    done, elapsed = 0, 0.0
    if resume:
        groups, state = ckpt.load_checkpoint(ckpt_dir)
        changed = [k for k in ckpt.config_differences(state['config'], cfg.to_dict())
                   if not k.startswith(RESUMABLE_CHANGES)]
        if changed:
            raise ConfigError(f'cannot resume {out}: {changed} differ from the checkpoint')
        agent.load_state_dict(ckpt.state_dict(groups['agent']))
        ckpt.load_optimizer(optimizer, groups['optimizer'], state['optimizer'])
        runner.restore(groups['runner'], state['runner'])
        torch.set_rng_state(torch.from_numpy(groups['rng']['torch']))
        batch_rng.bit_generator.state = state['batch_rng']
        rows, done, elapsed = state['rows'], state['update'], state['elapsed']
        logger.info('resuming %s after update %d', out, done)
    else:
        runner.start()
    write_yaml(out / 'config.yaml', cfg.to_dict())
    from torch.utils.tensorboard import SummaryWriter
    board = SummaryWriter(str(out / 'tensorboard'))
    bar = Progress({'env_step': updates * per_update, 'episode': 2 * cfg.eval.test_episodes},
                   enabled=progress, done={'env_step': done * per_update})
    started = time.perf_counter() - elapsed
    with logging_redirect_tqdm():
        for index in range(done + 1, updates + 1):
            if p.anneal_lr:
                for group in optimizer.param_groups:
                    group['lr'] = p.lr * (1.0 - (index - 1) / updates)
            bar.phase(f'update {index}/{updates}')
            tick = time.perf_counter()
            roll = runner.collect(p.rollout_steps)
            runner.absorb(roll)
            collected = time.perf_counter()
            stats = update(agent, optimizer, roll, cfg, batch_rng)
            recent = runner.finished[-20:]
            row = {'update': index, 'env_steps': index * per_update,
                   'wall_seconds': round(time.perf_counter() - started, 2),
                   'steps_per_second': round(per_update / (time.perf_counter() - tick), 1),
                   'collect_seconds': round(collected - tick, 3),
                   'update_seconds': round(time.perf_counter() - collected, 3),
                   'episode_return': (round(float(np.mean([r for r, _ in recent])), 3)
                                      if recent else ''),
                   'episode_length': (round(float(np.mean([n for _, n in recent])), 1)
                                      if recent else ''),
                   'episodes': runner.episodes, 'lr': optimizer.param_groups[0]['lr'],
                   'log_std': float(agent.log_std.detach().mean()),
                   **{k: round(v, 6) for k, v in stats.items()}}
            rows.append(row)
            for key, value in row.items():
                if key not in ('update', 'env_steps') and value != '':
                    board.add_scalar(f'ppo/{key}', float(value), row['env_steps'])
            bar.done('env_step', per_update, sps=f'{row["steps_per_second"]:.0f}',
                     ret=str(row['episode_return']))
            if index % p.checkpoint_every == 0 or index == updates:
                opt_arrays, opt_meta = ckpt.optimizer_arrays(optimizer)
                runner_arrays, runner_state = runner.state()
                ckpt.save_checkpoint(
                    ckpt_dir, index,
                    {'agent': model_tensors(agent), 'optimizer': opt_arrays,
                     'runner': runner_arrays, 'rng': {'torch': torch.get_rng_state().numpy()}},
                    {'update': index, 'config': cfg.to_dict(), 'rows': rows,
                     'elapsed': time.perf_counter() - started, 'optimizer': opt_meta,
                     'runner': runner_state, 'batch_rng': batch_rng.bit_generator.state})
                _write_log(out, rows)
                _write_curve(out, rows, cfg.name)
            if report is not None:
                score = (row['episode_return'] if row['episode_return'] != ''
                         else float(np.mean(runner.ep_return)))
                saved = index % p.checkpoint_every == 0 or index == updates
                report({'update': index, 'score': float(score), 'metric': 'mean_return'},
                       ckpt_dir if saved else None)
        runner.close()
        board.close()
        train_seconds = time.perf_counter() - started
        norm = {'obs_mean': runner.obs_rms.mean.reshape(-1).tolist() if p.norm_obs else [],
                'obs_std': runner.obs_rms.std().reshape(-1).tolist() if p.norm_obs else [],
                'action_mean': runner.act_mean.tolist(), 'action_std': runner.act_std.tolist()}
        test: Dict[str, Any] = {}
        if cfg.eval.test_episodes > 0:
            bar.phase('held-out test')
            kwargs = (cfg.env.kwargs if cfg.eval.test_env_kwargs is None
                      else cfg.eval.test_env_kwargs)
            result = evaluate(runtime_policy(actor, obs_space, act_space, norm), cfg.env.id,
                              episodes=cfg.eval.test_episodes, seed=cfg.eval.test_seed,
                              perturb=cfg.env.perturb,
                              on_episode=lambda _: bar.done('episode'), **kwargs)
            test['policy'] = {k: result[k] for k in (
                'metric', 'score', 'success_rate', 'collision_rate', 'mean_return',
                'std_return', 'mean_seconds', 'episodes', 'seed', 'env_kwargs', 'metrics')}
            logger.info('held-out test (seeds %d-%d): %s %.3f', cfg.eval.test_seed,
                        cfg.eval.test_seed + cfg.eval.test_episodes - 1, result['metric'],
                        result['score'])
        bar.close()
    provenance = {
        'method': 'ppo (recurrent, real dt)', 'env': cfg.env.id, 'config': cfg.to_dict(),
        'env_steps': updates * per_update, 'updates': updates, 'test': test,
        'parameters': sum(q.numel() for q in actor.parameters() if q.requires_grad),
        'critic_parameters': sum(q.numel() for q in critic.parameters()),
        'train_seconds': round(train_seconds, 1),
        'final_log_std': agent.log_std.detach().tolist(),
    }
    policy = save_policy(actor, out / f'{cfg.name}.safetensors', obs=obs_space,
                         action=act_space, observer=observer, actuator=actuator,
                         provenance=provenance, **norm)
    ckpt.write_json(out / 'summary.json', {'policy': str(policy), **provenance})
    return policy
