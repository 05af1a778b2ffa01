# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Imitation learning: behaviour cloning on expert demonstrations, then DAgger.

Run it with ``lnn-control train config/train/pibot_nav_cfc.yaml`` (see
:mod:`lnn_control.train.config` for every setting). The method, top to bottom in this file:

1. **Demonstrations.** The env's expert (``lnn_control.envs.experts.make_expert``) drives
   ``bc.demo_episodes`` episodes. Each is kept as a sequence: the observation the policy would
   see, the *real* elapsed time ``dt`` since the previous observation (``info['dt']``; the
   nominal period for the first) and the expert's action. With ``bc.dataset`` the recorded
   sequences of a data set file take their place (robot bags: ``lnn-control dataset from-bag``,
   :mod:`lnn_control.train.dataset`).
2. **Normalisers.** ``obs_mean``/``obs_std`` from the demonstrations; the action scaling per
   ``bc.action_normaliser`` (default: the expert's action range mapped to [-1, 1], so bounded
   outputs such as CfC motor neurons can reach every action). Both go into the policy file,
   where the runtime applies them.
3. **Behaviour cloning.** Adam(W) on random chunks of ``seq_len`` steps, each preceded by up to
   ``burn_in`` steps that only warm the hidden state (Kapturowski et al., "Recurrent
   experience replay in distributed reinforcement learning", ICLR 2019). The model gets the
   real ``dt`` of every step as its timespan; models that do not use time ignore it. The loss
   is the mean squared error of the normalised action.
4. **DAgger** (Ross, Gordon & Bagnell, "A reduction of imitation learning and structured
   prediction to no-regret online learning", AISTATS 2011). Each round the *learner* drives,
   run by the numpy runtime (a ``CELLS`` cell built from ``model_tensors(model)`` inside a
   ``Policy`` with the normalisers: the code the robot runs), except that at each step the
   expert's action is executed instead with probability ``beta``. Every visited state is
   labelled with the expert's action (the expert reads the privileged state from ``info``),
   the episodes join the data set and the model is refit (warm start).
5. **Evaluation and selection.** ``lnn_control.train.evaluate.evaluate`` runs the runtime policy
   on validation seeds after rounds; the best (or last) round's weights become the policy,
   which is then tested with the expert on held-out seeds.

Files in the output folder (``--out``, default ``runs/<name>``):

==========================  ====================================================================
``<name>.safetensors``      the policy (``save_policy``): model, spaces, normalisers, Observer
                            and Actuator configs, provenance (resolved config, data sizes,
                            validation and test results with the expert's, wall time)
``log.csv``                 one row per round: beta, data, loss, rollout and validation scores
``steps.csv``               training loss every 50 gradient steps
``learning_curve.png``      loss and success rate (or return) against gradient steps
``config.yaml``             the resolved config
``checkpoint/``             the last finished round: model, best model, optimiser (safetensors),
                            data set (safetensors), state (JSON); ``--resume`` continues from it
==========================  ====================================================================

Nothing is pickled. Runs are deterministic for a seed on one machine (1 torch thread), and a
resumed run continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import logging
import math
import os
from pathlib import Path
import shutil
import time
from typing import Any, Dict, List, Optional, Tuple

from lnn_control.envs.experts import Expert
from lnn_control.envs.experts import make_expert
import lnn_control.models  # noqa: F401  (registers every model kind in MODELS)
from lnn_control.models.base import MODELS
from lnn_control.models.base import PolicyModel
from lnn_control.models.policy import model_tensors
from lnn_control.models.policy import save_policy
import lnn_control.runtime  # noqa: F401  (registers every runtime cell in CELLS)
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.train.config import ConfigError
from lnn_control.train.config import TrainConfig
from lnn_control.train.evaluate import evaluate
from lnn_control.train.evaluate import make_env
from lnn_control.train.evaluate import nominal_dt
import numpy as np
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

__all__ = ['train', 'Episode', 'Dataset', 'rollout', 'build_model', 'spaces_of']

logger = logging.getLogger(__name__)

LOSS_EVERY = 50             # gradient steps between rows of steps.csv
CHECKPOINT = 'checkpoint'   # folder of round_NNN/ checkpoints and the LATEST pointer
# Settings a resumed run may change; everything else must match the checkpoint's config.
RESUMABLE_CHANGES = ('dagger.rounds', 'dagger.steps', 'eval', 'threads', 'out_dir')


# -- 1. data: episodes as sequences ----------------------------------------------------------
@dataclasses.dataclass
class Episode:
    """
    One episode as the learner sees it, labelled by the expert.

    Attributes:
        obs: (T, O) float32 observations, obs[t] seen after the step that took dt[t].
        dt: (T,) float32 seconds since the previous observation (nominal for t = 0).
        act: (T, A) float32 expert actions at each observation (the labels).
        success: the episode reached its goal (or, without ``is_success``, ran to its end).
        ret: the episode return.

    """

    obs: np.ndarray
    dt: np.ndarray
    act: np.ndarray
    success: bool
    ret: float


def rollout(env: Any, expert: Expert, seed: int, learner: Optional[Policy] = None,
            beta: float = 1.0, rng: Optional[np.random.Generator] = None,
            noise: Optional[np.ndarray] = None) -> Episode:
    """
    Run one episode; label every observation with the expert.

    Without a learner the expert drives (a demonstration). With one, the learner drives and
    the expert's action is executed instead with probability ``beta`` at each step; the
    learner still sees every observation with its real dt, so its state follows the episode.
    ``noise`` (std per action element) is added to the expert's action when it is executed
    (DART); the label stays clean. ``rng`` draws the mixing and the noise.
    """
    if rng is None:
        rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=int(seed))
    dt = float(info.get('dt', nominal_dt(env)))
    if learner is not None:
        learner.reset()
    seen, dts, labels = [], [], []
    total = 0.0
    while True:
        obs = np.asarray(obs, dtype=np.float32)
        label = np.asarray(expert.act(obs, info), dtype=np.float32)
        seen.append(obs)
        dts.append(dt)
        labels.append(label)
        action = label
        if learner is not None:
            own = learner.step(obs, dt)
            if beta < 1.0 and (beta <= 0.0 or rng.random() >= beta):
                action = own
        if action is label and noise is not None:
            action = label + noise * rng.standard_normal(label.shape)
        obs, reward, terminated, truncated, info = env.step(action)
        dt = float(info['dt'])
        total += float(reward)
        if terminated or truncated:
            break
    success = bool(info['is_success']) if 'is_success' in info else not terminated
    return Episode(np.stack(seen), np.asarray(dts, dtype=np.float32), np.stack(labels),
                   success, total)


def recorded_episodes(path: str, obs: SpaceSpec, action: SpaceSpec,
                      observer: Dict[str, Any]) -> List[Episode]:
    """
    Episodes of a recorded data set (``bc.dataset``), checked against the env's spaces.

    A recording has no reward: ``ret`` is 0; ``success`` is the data set's (the episode
    ended within its goal tolerance).
    """
    from lnn_control.train.dataset import DatasetError
    from lnn_control.train.dataset import load_dataset

    try:
        recorded = load_dataset(path)
    except DatasetError as exc:
        raise ConfigError(f'bc.dataset: {exc}') from None
    sizes = (recorded.obs.shape[1], recorded.act.shape[1])
    if sizes != (obs.size, action.size):
        raise ConfigError(f'bc.dataset: {path} has {sizes[0]} observations and {sizes[1]} '
                          f'actions per step, the env {obs.size} and {action.size}')
    if recorded.meta.get('observer') != observer:
        raise ConfigError(f'bc.dataset: {path} was made with Observer '
                          f'{recorded.meta.get("observer")}, the env uses {observer}')
    return [Episode(o, d, a, success, 0.0) for o, d, a, success in recorded.split()]


class Dataset:
    """
    Aggregated episodes, stored flat, sampled as chunks with burn-in.

    ``sample`` draws chunks so that every step carries loss equally often (an episode of
    length L offers L + seq_len - 1 chunk positions, overlapping its start and end), and
    chunks that start at an episode's first step begin from the true (zero) initial state.
    """

    def __init__(self, obs_size: int, act_size: int) -> None:
        self.obs = np.zeros((0, obs_size), dtype=np.float32)    # (N, O)
        self.dt = np.zeros(0, dtype=np.float32)                 # (N,)
        self.act = np.zeros((0, act_size), dtype=np.float32)    # (N, A)
        self.lengths = np.zeros(0, dtype=np.int64)              # (E,)
        self.rounds = np.zeros(0, dtype=np.int64)               # (E,) round of each episode

    def add(self, episodes: List[Episode], round_index: int) -> None:
        """Append episodes collected in round ``round_index``."""
        if not episodes:
            return
        self.obs = np.concatenate([self.obs] + [e.obs for e in episodes])
        self.dt = np.concatenate([self.dt] + [e.dt for e in episodes])
        self.act = np.concatenate([self.act] + [e.act for e in episodes])
        self.lengths = np.concatenate([self.lengths, [len(e.dt) for e in episodes]])
        self.rounds = np.concatenate([self.rounds, np.full(len(episodes), round_index)])

    @property
    def steps(self) -> int:
        """Return the number of labelled steps."""
        return int(self.dt.size)

    @property
    def episodes(self) -> int:
        """Return the number of episodes."""
        return int(self.lengths.size)

    def arrays(self) -> Dict[str, np.ndarray]:
        """Return every array by name (what a checkpoint stores)."""
        return {'obs': self.obs, 'dt': self.dt, 'act': self.act, 'lengths': self.lengths,
                'rounds': self.rounds}

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray]) -> 'Dataset':
        """Rebuild from ``arrays()`` output."""
        data = cls(arrays['obs'].shape[1], arrays['act'].shape[1])
        for name in ('obs', 'dt', 'act', 'lengths', 'rounds'):
            setattr(data, name, np.asarray(arrays[name]))
        return data

    def sample(self, rng: np.random.Generator, batch: int, seq_len: int, burn_in: int
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """
        Draw ``batch`` chunks of ``burn_in + seq_len`` steps.

        Returns:
            obs (B, W, O), dt (B, W), act (B, W, A) and the loss mask (B, W) bool, with
            W = burn_in + seq_len. Steps past an episode's end repeat its last step, masked;
            they come after every real step of the chunk, so they change no output.

        """
        ends = np.cumsum(self.lengths)                       # (E,)
        starts = ends - self.lengths
        slots = self.lengths + seq_len - 1                   # chunk positions per episode
        slot = rng.integers(0, int(slots.sum()), batch)      # (B,)
        episode = np.searchsorted(np.cumsum(slots), slot, side='right')
        offset = slot - (np.cumsum(slots) - slots)[episode] - (seq_len - 1)   # may be < 0
        first = starts[episode] + offset                     # (B,) first loss step (virtual)
        window = np.maximum(starts[episode], first - burn_in)
        idx = window[:, None] + np.arange(burn_in + seq_len)          # (B, W)
        end = ends[episode][:, None]
        mask = (idx >= first[:, None]) & (idx < first[:, None] + seq_len) & (idx < end)
        idx = np.minimum(idx, end - 1)
        return self.obs[idx], self.dt[idx], self.act[idx], mask


# -- 2. normalisers -------------------------------------------------------------------------
def fit_normalisers(data: Dataset, cfg: TrainConfig, action_space: SpaceSpec
                    ) -> Dict[str, List[float]]:
    """Observation mean/std from the data; action mean/std per ``bc.action_normaliser``."""
    obs_mean = data.obs.mean(0)
    obs_std = data.obs.std(0)
    obs_std = np.where(obs_std < cfg.bc.obs_std_min, 1.0, obs_std)
    kind = cfg.bc.action_normaliser
    if kind == 'range':
        low, high = data.act.min(0), data.act.max(0)
        act_mean, act_std = (high + low) / 2, (high - low) / 2
    elif kind == 'moments':
        act_mean, act_std = data.act.mean(0), data.act.std(0)
    elif kind == 'bounds':
        low, high = np.asarray(action_space.low), np.asarray(action_space.high)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ConfigError('bc.action_normaliser: bounds needs a bounded action space')
        act_mean, act_std = (high + low) / 2, (high - low) / 2
    else:
        act_mean, act_std = np.zeros(data.act.shape[1]), np.ones(data.act.shape[1])
    act_std = np.where(act_std < 1e-6, 1.0, act_std)
    return {'obs_mean': obs_mean.tolist(), 'obs_std': obs_std.tolist(),
            'action_mean': act_mean.tolist(), 'action_std': act_std.tolist()}


# -- 3. model, spaces and the runtime policy ---------------------------------------------------
def spaces_of(env: Any) -> Tuple[SpaceSpec, SpaceSpec, Dict[str, Any], Dict[str, Any]]:
    """
    Observation and action spaces, Observer and Actuator configs of ``env``.

    PiBotNav-style envs describe themselves through their Observer/Actuator (names, units,
    bounds); other envs through their Box spaces.
    """
    base = env.unwrapped
    observer = getattr(base, 'observer', None)
    actuator = getattr(base, 'actuator', None)
    if observer is not None and actuator is not None:
        return (SpaceSpec(**observer.space()), SpaceSpec(**actuator.space()),
                observer.config.to_dict(), actuator.config.to_dict())
    spaces = []
    for box in (env.observation_space, env.action_space):
        size = int(np.prod(box.shape))
        spaces.append(SpaceSpec(size, low=np.ravel(box.low).tolist(),
                                high=np.ravel(box.high).tolist()))
    return spaces[0], spaces[1], {}, {}


def build_model(cfg: TrainConfig, obs_size: int, act_size: int) -> PolicyModel:
    """Build ``cfg.model`` for the env's sizes (``output_size`` filled in where it is taken)."""
    if cfg.model.kind not in MODELS:
        raise ConfigError(f'model.kind: unknown model {cfg.model.kind!r}; known: '
                          f'{sorted(MODELS)}')
    cls = MODELS[cfg.model.kind]
    kwargs = dict(cfg.model.kwargs)
    if 'output_size' in inspect.signature(cls).parameters:
        kwargs.setdefault('output_size', act_size)
    try:
        model = cls(obs_size, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'model: cannot build {cfg.model.kind} with {kwargs}: {exc}') from None
    if model.output_size != act_size:
        raise ConfigError(f'model: {cfg.model.kind} gives {model.output_size} outputs, the env '
                          f'takes {act_size} actions (set the wiring output_size or proj_size)')
    return model


def runtime_policy(model: PolicyModel, obs: SpaceSpec, action: SpaceSpec,
                   norm: Dict[str, List[float]]) -> Policy:
    """Build the numpy runtime Policy of ``model``'s weights (what the robot would run)."""
    config = model.get_config()
    cell = CELLS[model.kind](config, model_tensors(model))
    spec = PolicySpec(kind=model.kind, config=config, obs=obs, action=action, **norm)
    return Policy(cell, spec, source=f'training {model.kind}')


# -- 4. behaviour cloning ---------------------------------------------------------------------
def fit(model: PolicyModel, optimizer: torch.optim.Optimizer, data: Dataset,
        norm: Dict[str, List[float]], steps: int, cfg: TrainConfig, rng: np.random.Generator,
        bar: Optional[tqdm], first_step: int) -> List[Tuple[int, float]]:
    """
    Fit ``model`` to ``data`` for ``steps`` gradient steps (cosine learning-rate decay).

    Returns:
        (global gradient step, mean loss) every ``LOSS_EVERY`` steps.

    """
    bc = cfg.bc
    obs_mean = np.asarray(norm['obs_mean'], dtype=np.float32)
    obs_scale = 1.0 / np.asarray(norm['obs_std'], dtype=np.float32)
    act_mean = np.asarray(norm['action_mean'], dtype=np.float32)
    act_scale = 1.0 / np.asarray(norm['action_std'], dtype=np.float32)
    trace: List[Tuple[int, float]] = []
    running: List[float] = []
    model.train()
    for i in range(steps):
        lr = bc.lr_final + 0.5 * (bc.lr - bc.lr_final) * (1 + math.cos(math.pi * i / steps))
        for group in optimizer.param_groups:
            group['lr'] = lr
        obs, dt, act, mask = data.sample(rng, bc.batch_size, bc.seq_len, bc.burn_in)
        x = torch.from_numpy((obs - obs_mean) * obs_scale)           # (B, W, O)
        target = torch.from_numpy((act - act_mean) * act_scale)      # (B, W, A)
        weight = torch.from_numpy(mask.astype(np.float32))           # (B, W)
        y, _ = model(x, timespans=torch.from_numpy(dt))              # (B, W, A)
        loss = (((y - target) ** 2).mean(-1) * weight).sum() / weight.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if bc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), bc.grad_clip)
        optimizer.step()
        running.append(loss.item())
        if len(running) == LOSS_EVERY or i == steps - 1:
            trace.append((first_step + i + 1, float(np.mean(running))))
            running = []
            if bar is not None:
                bar.set_postfix(loss=f'{trace[-1][1]:.4f}', refresh=False)
        if bar is not None:
            bar.update(1)
    model.eval()
    return trace


# -- 5. checkpoints (safetensors + JSON, never a pickle) ----------------------------------------
def _optimizer_arrays(optimizer: torch.optim.Optimizer
                      ) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    state = optimizer.state_dict()
    arrays = {f'{index}.{name}': value.detach().cpu().numpy().copy()
              for index, slots in state['state'].items() for name, value in slots.items()}
    return arrays, {'param_groups': state['param_groups']}


def _load_optimizer(optimizer: torch.optim.Optimizer, arrays: Dict[str, np.ndarray],
                    meta: Dict[str, Any]) -> None:
    state: Dict[int, Dict[str, torch.Tensor]] = {}
    for key, value in arrays.items():
        index, name = key.split('.', 1)
        state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(value))
    optimizer.load_state_dict({'state': state, 'param_groups': meta['param_groups']})


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def save_checkpoint(folder: Path, round_index: int, model: PolicyModel,
                    best: Dict[str, np.ndarray], optimizer: torch.optim.Optimizer,
                    data: Dataset, state: Dict[str, Any]) -> Path:
    """
    Write ``folder/round_NNN/`` then point ``folder/LATEST`` at it (atomic rename).

    A crash while writing leaves the previous round's checkpoint as the latest one.
    """
    target = folder / f'round_{round_index:03d}'
    tmp = folder / f'.round_{round_index:03d}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_arrays(model_tensors(model), str(tmp / 'model.safetensors'))
    save_arrays(best, str(tmp / 'best.safetensors'))
    opt_arrays, opt_meta = _optimizer_arrays(optimizer)
    save_arrays(opt_arrays, str(tmp / 'optimizer.safetensors'))
    save_arrays(data.arrays(), str(tmp / 'data.safetensors'))
    _write_json(tmp / 'state.json', {**state, 'optimizer': opt_meta})
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    _write_json(folder / 'LATEST', {'round': round_index, 'path': target.name})
    for old in folder.glob('round_*'):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: Path) -> Tuple[Path, Dict[str, Any]]:
    """Return the latest round folder and its state."""
    pointer = folder / 'LATEST'
    if not pointer.is_file():
        raise FileNotFoundError(f'no checkpoint to resume in {folder}')
    target = folder / json.loads(pointer.read_text())['path']
    return target, json.loads((target / 'state.json').read_text())


def _config_differences(old: Dict[str, Any], new: Dict[str, Any], prefix: str = '') -> List[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        dotted = f'{prefix}{key}'
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and dotted not in ('env.kwargs',):
            keys += _config_differences(a, b, dotted + '.')
        elif a != b:
            keys.append(dotted)
    return keys


def _state_dict(model: PolicyModel, arrays: Dict[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}


# -- 6. logs and the learning curve -----------------------------------------------------------
LOG_FIELDS = ('round', 'beta', 'episodes', 'steps', 'grad_steps', 'loss', 'rollout_success',
              'rollout_return', 'val_success', 'val_return', 'wall_seconds')


def write_logs(out: Path, rows: List[Dict[str, Any]], trace: List[List[float]],
               metric: str) -> None:
    """Write ``log.csv``, ``steps.csv`` and ``learning_curve.png``."""
    with open(out / 'log.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, '') for k in LOG_FIELDS})
    with open(out / 'steps.csv', 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(['grad_step', 'loss'])
        writer.writerows(trace)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    if trace:
        steps, losses = zip(*trace)
        top.semilogy(steps, losses, color='tab:blue')
    for row in rows:
        top.axvline(row['grad_steps'], color='0.85', linewidth=0.8)
    top.set_ylabel('training loss (MSE, normalised)')
    key = 'val_success' if metric == 'success_rate' else 'val_return'
    rollout_key = 'rollout_success' if metric == 'success_rate' else 'rollout_return'
    val = [(r['grad_steps'], r[key]) for r in rows if r.get(key) not in (None, '')]
    if val:
        bottom.plot(*zip(*val), 'o-', label='validation (learner alone)')
    roll = [(r['grad_steps'], r[rollout_key]) for r in rows[1:]]
    if roll:
        bottom.plot(*zip(*roll), 's--', alpha=0.6,
                    label='DAgger rollouts (with expert mixing, before refit)')
    bottom.set_xlabel('gradient steps')
    bottom.set_ylabel('success rate' if metric == 'success_rate' else 'mean return')
    bottom.legend(fontsize=8)
    fig.suptitle(out.name)
    fig.tight_layout()
    fig.savefig(out / 'learning_curve.png', dpi=100)
    plt.close(fig)


# -- 7. the training run ----------------------------------------------------------------------
def train(cfg: TrainConfig, out: Optional[os.PathLike] = None, resume: bool = False,
          progress: Optional[bool] = None) -> Path:
    """
    Train ``cfg`` (demonstrations, BC, DAgger) and write the policy file; return its path.

    Args:
        cfg: the run's configuration.
        out: output folder (default ``cfg.resolved_out_dir()``).
        resume: continue from the folder's checkpoint (refused if the settings that shaped
            the finished rounds changed; see ``RESUMABLE_CHANGES``).
        progress: show a tqdm progress bar (None: only on a terminal).

    """
    out = Path(out) if out is not None else cfg.resolved_out_dir()
    cfg = dataclasses.replace(cfg, out_dir=str(out))
    ckpt_dir = out / CHECKPOINT
    if not resume and (ckpt_dir / 'LATEST').exists():
        raise ConfigError(f'{out} holds a checkpoint of an earlier run: pass --resume to '
                          f'continue it, or choose another --out')
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)

    env = make_env(cfg.env.id, **cfg.env.kwargs)
    expert = make_expert(env, **cfg.expert.kwargs)
    obs_space, act_space, observer, actuator = spaces_of(env)
    noise = None
    if cfg.bc.action_noise:
        if len(cfg.bc.action_noise) != act_space.size:
            raise ConfigError(f'bc.action_noise has {len(cfg.bc.action_noise)} entries, the '
                              f'env takes {act_space.size} actions')
        noise = np.asarray(cfg.bc.action_noise, dtype=np.float32)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, obs_space.size, act_space.size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.bc.lr,
                                  weight_decay=cfg.bc.weight_decay)
    batch_rng = np.random.default_rng([cfg.seed, 1])
    rows: List[Dict[str, Any]] = []
    trace: List[List[float]] = []
    best: Dict[str, Any] = {'round': None, 'score': None}
    best_tensors = model_tensors(model)
    elapsed = 0.0
    done = -1      # last finished round
    grad_steps = 0

    if resume:
        target, state = load_checkpoint(ckpt_dir)
        changed = [k for k in _config_differences(state['config'], cfg.to_dict())
                   if not k.startswith(RESUMABLE_CHANGES)]
        if changed:
            raise ConfigError(f'cannot resume {out}: {changed} differ from the checkpoint '
                              f'(only {list(RESUMABLE_CHANGES)} may change)')
        model.load_state_dict(_state_dict(model, load_arrays(str(target / 'model.safetensors'))))
        best_tensors = load_arrays(str(target / 'best.safetensors'))
        _load_optimizer(optimizer, load_arrays(str(target / 'optimizer.safetensors')),
                        state['optimizer'])
        data = Dataset.from_arrays(load_arrays(str(target / 'data.safetensors')))
        batch_rng.bit_generator.state = state['batch_rng']
        norm, rows, trace, best = state['norm'], state['rows'], state['trace'], state['best']
        elapsed, done, grad_steps = state['elapsed'], state['round'], state['grad_steps']
        logger.info('resuming %s after round %d (%d episodes, %d steps)', out, done,
                    data.episodes, data.steps)
    _write_yaml(out / 'config.yaml', cfg.to_dict())
    started = time.perf_counter() - elapsed
    total = grad_steps + (cfg.bc.steps if done < 0 else 0) + cfg.dagger.steps * (
        cfg.dagger.rounds - max(done, 0))
    bar = tqdm(total=total, initial=grad_steps, unit='step', dynamic_ncols=True,
               disable=(not progress) if progress is not None else None)
    metric = 'success_rate'

    with logging_redirect_tqdm():
        for round_index in range(done + 1, cfg.dagger.rounds + 1):
            beta = cfg.beta(round_index)
            seeds = cfg.round_seeds(round_index)
            if round_index == 0 and cfg.bc.dataset:
                bar.set_description('recorded data')
                episodes = recorded_episodes(cfg.bc.dataset, obs_space, act_space, observer)
            elif round_index == 0:
                bar.set_description('demonstrations')
                episodes = [rollout(env, expert, s, noise=noise,
                                    rng=np.random.default_rng([cfg.seed, 3, s]))
                            for s in seeds]
            if round_index == 0:
                data = Dataset(obs_space.size, act_space.size)
                data.add(episodes, 0)
                norm = fit_normalisers(data, cfg, act_space)
                steps = cfg.bc.steps
            else:
                bar.set_description(f'round {round_index} rollouts')
                learner = runtime_policy(model, obs_space, act_space, norm)
                mix_rng = np.random.default_rng([cfg.seed, 2, round_index])
                episodes = [rollout(env, expert, s, learner, beta, mix_rng, noise)
                            for s in seeds]
                data.add(episodes, round_index)
                steps = cfg.dagger.steps
            bar.set_description('behaviour cloning' if round_index == 0
                                else f'round {round_index} refit')
            new = fit(model, optimizer, data, norm, steps, cfg, batch_rng, bar, grad_steps)
            grad_steps += steps
            trace += [list(t) for t in new]
            row = {'round': round_index, 'beta': beta, 'episodes': data.episodes,
                   'steps': data.steps, 'grad_steps': grad_steps,
                   'loss': new[-1][1] if new else '',
                   'rollout_success': float(np.mean([e.success for e in episodes])),
                   'rollout_return': float(np.mean([e.ret for e in episodes]))}
            last = round_index == cfg.dagger.rounds
            if cfg.eval.episodes > 0 and (round_index % cfg.eval.every == 0 or last):
                bar.set_description(f'round {round_index} validation')
                result = evaluate(runtime_policy(model, obs_space, act_space, norm),
                                  cfg.env.id, episodes=cfg.eval.episodes, seed=cfg.eval.seed,
                                  **cfg.env.kwargs)
                metric = result['metric']
                row['val_success'] = result['success_rate']
                row['val_return'] = result['mean_return']
                # Ties go to the later round: a success rate over a few validation episodes
                # ties often, and a later round has seen more of the learner's own mistakes
                # (with 30 episodes, preferring the higher return picked an LTC's round-1
                # model, 0.51 on the held-out test, over its round-8 one, 0.88).
                if best['score'] is None or result['score'] >= best['score']:
                    best = {'round': round_index, 'score': result['score']}
                    best_tensors = model_tensors(model)
            row['wall_seconds'] = time.perf_counter() - started
            rows.append(row)
            val = row.get('val_success' if metric == 'success_rate' else 'val_return')
            logger.info('round %d: beta %.3f, %d episodes / %d steps, loss %.4f, rollouts %.2f '
                        'success, validation %s', round_index, beta, data.episodes, data.steps,
                        row['loss'] or math.nan, row['rollout_success'],
                        '-' if val is None else f'{metric} {val:.3f}')
            state = {'round': round_index, 'config': cfg.to_dict(), 'norm': norm, 'rows': rows,
                     'trace': trace, 'best': best, 'elapsed': time.perf_counter() - started,
                     'grad_steps': grad_steps,
                     'batch_rng': batch_rng.bit_generator.state}
            save_checkpoint(ckpt_dir, round_index, model, best_tensors, optimizer, data, state)
            write_logs(out, rows, trace, metric)
        bar.close()

    # -- 8. the policy: selection, held-out test, file ----------------------------------------
    if cfg.eval.select == 'best' and best['round'] is not None:
        model.load_state_dict(_state_dict(model, best_tensors))
        selected = best['round']
    else:
        selected = cfg.dagger.rounds
    train_seconds = time.perf_counter() - started
    test: Dict[str, Any] = {}
    if cfg.eval.test_episodes > 0:
        kwargs = (cfg.env.kwargs if cfg.eval.test_env_kwargs is None
                  else cfg.eval.test_env_kwargs)
        for who, agent in (('policy', runtime_policy(model, obs_space, act_space, norm)),
                           ('expert', 'expert')):
            result = evaluate(agent, cfg.env.id, episodes=cfg.eval.test_episodes,
                              seed=cfg.eval.test_seed, **kwargs)
            test[who] = {k: result[k] for k in ('metric', 'score', 'success_rate',
                                                'collision_rate', 'mean_return', 'std_return',
                                                'mean_seconds', 'episodes', 'seed',
                                                'env_kwargs')}
            test[who]['failed_seeds'] = [r['seed'] for r in result['per_episode']
                                         if r['success'] is False]
        if cfg.expert.kwargs:
            test['expert']['note'] = ('the registered expert with its default settings; '
                                      'training used expert.kwargs')
        logger.info('held-out test (seeds %d-%d): policy %s %.3f, expert %.3f',
                    cfg.eval.test_seed, cfg.eval.test_seed + cfg.eval.test_episodes - 1,
                    test['policy']['metric'], test['policy']['score'], test['expert']['score'])
    test_seconds = time.perf_counter() - started - train_seconds
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    provenance = {
        'method': 'dagger',
        'config': cfg.to_dict(),
        'data': {'episodes': data.episodes, 'steps': data.steps,
                 'demo_episodes': int((data.rounds == 0).sum()),
                 'demo_steps': int(data.lengths[data.rounds == 0].sum()),
                 'demo_expert_success': float(rows[0]['rollout_success'])},
        'selected_round': selected,
        'validation': [{k: r.get(k) for k in ('round', 'val_success', 'val_return')}
                       for r in rows if 'val_return' in r],
        'test': test,
        'parameters': parameters,
        'train_seconds': round(train_seconds, 1),
        'test_seconds': round(test_seconds, 1),
    }
    path = save_policy(model, out / f'{cfg.name}.safetensors', obs=obs_space, action=act_space,
                       observer=observer, actuator=actuator, provenance=provenance, **norm)
    _write_json(out / 'summary.json', {'policy': str(path), **provenance})
    env.close()
    return path


def _write_yaml(path: Path, data: Dict[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
