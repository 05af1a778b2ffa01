# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Imitation learning: behaviour cloning on demonstrations, then DAgger, for any task.

Run it with ``lnn-control train config/train/pibot_nav_cfc.yaml`` (``method: imitation``; see
:mod:`lnn_control.train.config` for every setting). The same pipeline trains vector policies
(PiBotNav, the pendulums, any Gymnasium MuJoCo task) and camera policies (PiBotLane: a CNN
encoder and a liquid head); what differs between them is the data path (:class:`DataPath`):
how observations are stored, normalised and augmented. The method, top to bottom:

1. **Demonstrations.** The expert (``expert.kind``: the env's registered one, a registry
   name, ``module:Class`` or ``file.py:Class``) drives ``bc.demo_episodes`` episodes
   (:func:`lnn_control.envs.rollout.run_episode`), with DART noise on the executed action
   (``bc.action_noise``; Laskey et al., "DART: Noise injection for robust imitation
   learning", CoRL 2017), labels clean. Each episode is kept as a sequence of (observation,
   the *real* elapsed time ``dt``, label) in the one sequence store
   (:class:`lnn_control.runtime.sequences.Sequences`). With ``bc.dataset`` recorded
   sequences take their place (a data set file, ``lnn-control dataset from-bag``); with
   ``dagger.rounds: 0`` too, no expert is needed at all.
2. **Normalisers.** Vector observations: ``obs_mean``/``obs_std`` from the demonstrations;
   camera frames stay 0-255 (the model scales them). The action scaling per
   ``bc.action_normaliser``. Both go into the policy file, where the runtime applies them.
3. **Behaviour cloning.** AdamW on random chunks of ``seq_len`` steps, each after up to
   ``burn_in`` steps that only warm the hidden state (R2D2, Kapturowski et al. 2019), cosine
   learning-rate decay per fit. The model gets the real ``dt`` of every step as its timespan;
   camera chunks are augmented (``bc.augment``), identically for every model. The loss is the
   mean squared error of the normalised action.
4. **DAgger** (Ross, Gordon & Bagnell, AISTATS 2011). Each round the *learner* drives through
   the numpy runtime (the code the robot runs), except that at each step the expert's action
   is executed instead with probability ``beta``. Every visited state is labelled by the
   expert, the episodes join the store and the model is refit (warm start).
5. **Evaluation and selection.** :func:`lnn_control.train.evaluate.evaluate` runs the runtime
   policy on validation seeds; the best (or last) round's weights become the policy, tested
   with the expert (if there is one) on held-out seeds, and saved with the resolved config in
   its provenance.

Files in the output folder (``--out``, default ``runs/<name>``): ``<name>.safetensors`` (the
policy), ``log.csv`` (one row per round), ``steps.csv`` (loss every 50 gradient steps),
``learning_curve.png``, ``config.yaml`` (the resolved config), ``summary.json`` and
``checkpoint/`` (:mod:`lnn_control.train.checkpoint`; ``--resume`` continues from it). Nothing is
pickled. Runs are deterministic for a seed on one machine (1 torch thread), and a resumed run
continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from lnn_control.envs.experts import make_expert
from lnn_control.envs.experts import NoExpert
from lnn_control.envs.make import make_env
from lnn_control.envs.rollout import run_episode
from lnn_control.envs.rollout import Trajectory
from lnn_control.models.base import PolicyModel
from lnn_control.models.policy import model_tensors
from lnn_control.models.policy import save_policy
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.runtime.sequences import DatasetError
from lnn_control.runtime.sequences import Sequences
from lnn_control.train import checkpoint as ckpt
from lnn_control.train.config import ConfigError
from lnn_control.train.config import TrainConfig
from lnn_control.train.evaluate import evaluate
from lnn_control.train.logs import write_logs
from lnn_control.train.logs import write_yaml
from lnn_control.train.policy_io import build_model
from lnn_control.train.policy_io import is_image
from lnn_control.train.policy_io import runtime_policy
from lnn_control.train.policy_io import spaces_of
from lnn_control.train.progress import Progress
import numpy as np
import torch
from tqdm.contrib.logging import logging_redirect_tqdm

__all__ = ['train', 'DataPath', 'demonstration', 'dagger_episode', 'recorded_sequences',
           'fit', 'AUGMENTATIONS']

logger = logging.getLogger(__name__)

LOSS_EVERY = 50             # gradient steps between rows of steps.csv
# Settings a resumed run may change; everything else must match the checkpoint's config.
RESUMABLE_CHANGES = ('dagger.rounds', 'dagger.steps', 'eval', 'threads', 'out_dir')
# A DART noise std above this fraction of an action's range is a config mistake (the shipped
# PiBotNav configs use up to 35%: 2 rad/s on +-2.84).
SANE_NOISE = 0.5


# -- 1. data: episodes through the one episode loop, into the one sequence store ---------------
def _seen(obs: Any) -> np.ndarray:
    """Return the observation as the policy sees it: float32 vectors, frames as they are."""
    obs = np.asarray(obs)
    return obs if obs.dtype == np.uint8 else obs.astype(np.float32, copy=False)


def demonstration(env: Any, expert: Any, seed: int, rng: np.random.Generator,
                  noise: Optional[np.ndarray] = None) -> Trajectory:
    """Let the expert drive one episode (``noise``: DART on the executed action); clean labels."""
    def act(obs: Any, dt: float, info: Dict[str, Any]) -> Tuple[np.ndarray, Dict[str, Any]]:
        label = np.asarray(expert.act(_seen(obs), info), dtype=np.float32)
        action = label if noise is None else label + noise * rng.standard_normal(label.shape)
        return action, {'label': label}
    return run_episode(env, act, seed=int(seed))


def dagger_episode(env: Any, expert: Any, learner: Policy, beta: float, seed: int,
                   rng: np.random.Generator, noise: Optional[np.ndarray] = None
                   ) -> Trajectory:
    """
    Let the learner drive one episode; the expert's action runs instead with probability beta.

    The learner sees every observation with its real dt (its state follows the episode); the
    expert labels every step; ``noise`` is added when the expert's action runs (DART).
    """
    def act(obs: Any, dt: float, info: Dict[str, Any]) -> Tuple[np.ndarray, Dict[str, Any]]:
        obs = _seen(obs)
        label = np.asarray(expert.act(obs, info), dtype=np.float32)
        own = learner.step(obs.reshape(-1).astype(np.float32, copy=False), dt)
        action = label
        if beta < 1.0 and (beta <= 0.0 or rng.random() >= beta):
            action = own
        if action is label and noise is not None:
            action = label + noise * rng.standard_normal(label.shape)
        return action, {'label': label}
    return run_episode(env, act, seed=int(seed), reset=learner.reset)


def _success(traj: Trajectory) -> bool:
    """Return an episode's success: its goal reached, or (without is_success) its end reached."""
    return traj.success if traj.success is not None else not traj.terminated


def recorded_sequences(path: str, obs: SpaceSpec, action: SpaceSpec,
                       observer: Dict[str, Any]) -> Sequences:
    """
    Demonstrations recorded on a robot (``bc.dataset``), checked against the env's spaces.

    ``path`` is a data set file (``lnn-control dataset from-bag`` makes one of rosbag2
    recordings, with the env's Observer).
    """
    from lnn_control.runtime.sequences import load_dataset
    source = Path(path)
    if source.is_dir() or source.suffix in ('.mcap', '.db3'):
        # Bags are read on the ROS side (lnn_control.ros.bags), which training does not import.
        raise ConfigError(f'bc.dataset: {path} is a rosbag2 recording; make a data set of it '
                          f'first: lnn-control dataset from-bag {path} --config CONFIG '
                          f'--out demos.npz, then --set bc.dataset=demos.npz')
    try:
        recorded = load_dataset(path)
    except DatasetError as exc:
        raise ConfigError(f'bc.dataset: {exc}') from None
    sizes = (int(np.prod(recorded.obs.shape[1:])), recorded.act.shape[1])
    if sizes != (obs.size, action.size):
        raise ConfigError(f'bc.dataset: {path} has {sizes[0]} observations and {sizes[1]} '
                          f'actions per step, the env {obs.size} and {action.size}')
    if observer and recorded.meta.get('observer') != observer:
        raise ConfigError(f'bc.dataset: {path} was made with Observer '
                          f'{recorded.meta.get("observer")}, the env uses {observer}')
    recorded.rounds = np.zeros(recorded.episodes, dtype=np.int64)
    if recorded.success is None:
        recorded.success = np.ones(recorded.episodes, dtype=bool)
    return recorded


# -- 2. the data path: storage, normalisers, augmentation ---------------------------------------
def _augment_brightness(x: np.ndarray, level: float, rng: np.random.Generator) -> None:
    x *= rng.uniform(1.0 - level, 1.0 + level, (x.shape[0],) + (1,) * (x.ndim - 1)).astype(
        np.float32)


def _augment_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> None:
    x += rng.normal(0.0, level, x.shape).astype(np.float32)


def _augment_colour(x: np.ndarray, level: float, rng: np.random.Generator) -> None:
    # Colour jitter per chunk: a gain per channel U(1 - c, 1 + c) (white balance, exposure)
    # and a grey offset U(-150 c, 150 c) (Laskin et al., "Reinforcement learning with
    # augmented data", NeurIPS 2020: colour jitter and crops are the ones that transfer).
    b, c = x.shape[0], x.shape[-1]
    gain = rng.uniform(1.0 - level, 1.0 + level, (b, 1, 1, 1, c)).astype(np.float32)
    offset = rng.uniform(-150.0 * level, 150.0 * level, (b, 1, 1, 1, 1)).astype(np.float32)
    x *= gain
    x += offset


def _augment_shift(x: np.ndarray, level: float, rng: np.random.Generator) -> None:
    # A random crop: the chunk's frames shifted up or down by up to `level` px (the same for
    # the whole chunk, as a camera pitched slightly off), edges replicated. Vertical only: a
    # sideways shift is what a heading error looks like, so with its label unchanged it would
    # teach the lane follower to ignore exactly what it must steer by.
    pad = int(round(level))
    if pad < 1:
        return
    height = x.shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (0, 0), (0, 0)), mode='edge')
    for i, dy in enumerate(rng.integers(0, 2 * pad + 1, x.shape[0])):
        x[i] = padded[i, :, dy:dy + height]


def _augment_cutout(x: np.ndarray, level: float, rng: np.random.Generator) -> None:
    # Cutout (DeVries & Taylor 2017): in every frame a square of up to `level` x the height,
    # at a random place, filled with a random grey.
    height, width = x.shape[2], x.shape[3]
    frames = x.reshape(-1, height, width, x.shape[-1])
    sides = np.maximum(1, (rng.uniform(0.0, level, len(frames)) * height).astype(int))
    rows = rng.integers(0, height, len(frames)) - sides // 2
    cols = rng.integers(0, width, len(frames)) - sides // 2
    greys = rng.uniform(0.0, 255.0, len(frames)).astype(np.float32)
    for f, side, r, c, grey in zip(frames, sides, rows, cols, greys):
        f[max(r, 0):max(r + side, 0), max(c, 0):max(c + side, 0)] = grey


# name -> in-place augmentation of float frames (B, W, H, W', C) in 0-255, drawn per chunk
# (cutout per frame), applied in the order the config lists them.
AUGMENTATIONS = {'brightness': _augment_brightness, 'noise': _augment_noise,
                 'colour': _augment_colour, 'shift': _augment_shift,
                 'cutout': _augment_cutout}


class DataPath:
    """
    How a task's observations are stored, normalised and batched (the task hook).

    Vector observations are stored as float32 and normalised per element; camera frames
    (uint8, H x W x C) are stored as uint8 (a tenth of the memory), stay 0-255 (the conv model
    scales them), and every chunk is augmented by ``bc.augment`` before it reaches the model.
    """

    def __init__(self, obs_space: Any, cfg: TrainConfig) -> None:
        self.image = is_image(obs_space)
        self.shape = tuple(obs_space.shape)
        self.augment = dict(cfg.bc.augment)
        if self.augment and not self.image:
            raise ConfigError('bc.augment: augmentations are for camera observations; the '
                              f'env observes {self.shape} {obs_space.dtype}')

    def store(self, act_size: int) -> Sequences:
        """Return an empty sequence store for this task's observations."""
        return Sequences.empty(self.shape, act_size, np.uint8 if self.image else np.float32)

    def normalisers(self, data: Sequences, cfg: TrainConfig, action: SpaceSpec
                    ) -> Dict[str, List[float]]:
        """Observation mean/std (identity for frames); action scaling per the config."""
        size = int(np.prod(self.shape))
        if self.image:
            obs_mean, obs_std = np.zeros(size), np.ones(size)
        else:
            obs_mean = data.obs.mean(0)
            obs_std = data.obs.std(0)
            obs_std = np.where(obs_std < cfg.bc.obs_std_min, 1.0, obs_std)
        labelled = data.act[np.isfinite(data.act).all(axis=1)]
        kind = cfg.bc.action_normaliser
        if kind == 'range':
            low, high = labelled.min(0), labelled.max(0)
            act_mean, act_std = (high + low) / 2, (high - low) / 2
        elif kind == 'moments':
            act_mean, act_std = labelled.mean(0), labelled.std(0)
        elif kind == 'bounds':
            low, high = np.asarray(action.low), np.asarray(action.high)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise ConfigError('bc.action_normaliser: bounds needs a bounded action space')
            act_mean, act_std = (high + low) / 2, (high - low) / 2
        else:
            act_mean, act_std = np.zeros(action.size), np.ones(action.size)
        act_std = np.where(act_std < 1e-6, 1.0, act_std)
        return {'obs_mean': obs_mean.tolist(), 'obs_std': obs_std.tolist(),
                'action_mean': act_mean.tolist(), 'action_std': act_std.tolist()}

    def batch(self, data: Sequences, idx: np.ndarray, norm: Dict[str, List[float]],
              rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """Return the model input (B, W, input_size) float32 and the normalised labels."""
        b, w = idx.shape
        if self.image:
            x = data.obs[idx].astype(np.float32)                      # (B, W, H, W', C)
            for name, level in self.augment.items():
                if level > 0:
                    AUGMENTATIONS[name](x, float(level), rng)
            np.clip(x, 0.0, 255.0, out=x)
            x = x.reshape(b, w, -1)
        else:
            mean = np.asarray(norm['obs_mean'], dtype=np.float32)
            scale = 1.0 / np.asarray(norm['obs_std'], dtype=np.float32)
            x = (data.obs[idx] - mean) * scale                        # (B, W, O)
        act_mean = np.asarray(norm['action_mean'], dtype=np.float32)
        act_scale = 1.0 / np.asarray(norm['action_std'], dtype=np.float32)
        return x, (data.act[idx] - act_mean) * act_scale               # (B, W, A)


# -- 3. behaviour cloning -------------------------------------------------------------------
def fit(model: PolicyModel, optimizer: torch.optim.Optimizer, data: Sequences, path: DataPath,
        norm: Dict[str, List[float]], steps: int, cfg: TrainConfig, rng: np.random.Generator,
        progress: Progress, first_step: int) -> List[Tuple[int, float]]:
    """
    Fit ``model`` to ``data`` for ``steps`` gradient steps (cosine learning-rate decay).

    Returns:
        (global gradient step, mean loss) every ``LOSS_EVERY`` steps.

    """
    bc = cfg.bc
    trace: List[Tuple[int, float]] = []
    running: List[float] = []
    model.train()
    for i in range(steps):
        lr = bc.lr_final + 0.5 * (bc.lr - bc.lr_final) * (1 + math.cos(math.pi * i / steps))
        for group in optimizer.param_groups:
            group['lr'] = lr
        idx, mask = data.sample(rng, bc.batch_size, bc.seq_len, bc.burn_in)   # (B, W)
        x, target = path.batch(data, idx, norm, rng)
        weight = torch.from_numpy(mask.astype(np.float32))                     # (B, W)
        y, _ = model(torch.from_numpy(x), timespans=torch.from_numpy(data.dt[idx]))
        loss = (((y - torch.from_numpy(target)) ** 2).mean(-1) * weight).sum() / weight.sum()
        total = loss
        if bc.feature_penalty > 0:      # keeps a camera encoder out of tanh's dead zone
            total = loss + bc.feature_penalty * model.saturation()
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if bc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), bc.grad_clip)
        optimizer.step()
        running.append(loss.item())
        if len(running) == LOSS_EVERY or i == steps - 1:
            trace.append((first_step + i + 1, float(np.mean(running))))
            running = []
        progress.done('grad_step', loss=f'{trace[-1][1]:.4f}' if trace else '')
    model.eval()
    return trace


# -- 4. the training run --------------------------------------------------------------------
def last_score(rows: List[Dict[str, Any]], metric: str) -> float:
    """Return the latest validation score in a run's rows (success rate or mean return)."""
    key = 'val_success' if metric == 'success_rate' else 'val_return'
    scores = [r[key] for r in rows if r.get(key) not in (None, '')]
    return float(scores[-1]) if scores else math.nan


def _expert(env: Any, cfg: TrainConfig, base_dir: Optional[str]) -> Any:
    """Return the config's expert; None when the run needs none; an error when it needs one."""
    needs = cfg.dagger.rounds > 0 or not cfg.bc.dataset
    try:
        return make_expert(env, cfg.expert.kind, base_dir=base_dir, **cfg.expert.kwargs)
    except NoExpert as exc:
        if not needs:
            return None
        task = 'label the DAgger rounds' if cfg.bc.dataset else 'demonstrate'
        raise ConfigError(
            f'{exc}. Training needs an expert to {task}; either name one in the config '
            f'(expert: {{kind: module:Class or file.py:Class}}, a class with '
            f'act(obs, state)), or train from recorded demonstrations alone '
            f'(bc.dataset: a data set or a folder of bags, and dagger.rounds: 0)') from None


def _noise(cfg: TrainConfig, action: SpaceSpec) -> Optional[np.ndarray]:
    if not cfg.bc.action_noise:
        return None
    if len(cfg.bc.action_noise) != action.size:
        raise ConfigError(f'bc.action_noise has {len(cfg.bc.action_noise)} entries, the env '
                          f'takes {action.size} actions')
    noise = np.asarray(cfg.bc.action_noise, dtype=np.float32)
    span = np.asarray(action.high) - np.asarray(action.low)
    loud = [i for i in range(action.size) if np.isfinite(span[i]) and
            noise[i] > SANE_NOISE * span[i]]
    if loud:
        logger.warning('bc.action_noise %s is more than %d%% of the action range %s on '
                       'action(s) %s: the demonstrations will be mostly noise',
                       cfg.bc.action_noise, 100 * SANE_NOISE, span.tolist(),
                       [action.names[i] for i in loud])
    return noise


def train(cfg: TrainConfig, out: Optional[os.PathLike] = None, resume: bool = False,
          progress: Optional[bool] = None, base_dir: Optional[str] = None,
          report: Optional[Callable[[Dict[str, Any], Optional[Path]], None]] = None) -> Path:
    """
    Train ``cfg`` (demonstrations, BC, DAgger) and write the policy file; return its path.

    Args:
        cfg: the run's configuration.
        out: output folder (default ``cfg.resolved_out_dir()``).
        resume: continue from the folder's checkpoint (refused if the settings that shaped
            the finished rounds changed; see ``RESUMABLE_CHANGES``).
        progress: show a progress bar (None: only on a terminal).
        base_dir: where ``expert.kind: file.py:Class`` files are found (the config's folder).
        report: called after every round with ``{'round', 'score', 'metric'}`` (the last
            validation score so far) and the checkpoint folder just written (a sweep's trials
            report to Ray Tune through it: :mod:`lnn_control.train.sweep`).

    """
    cfg, out, ckpt_dir = ckpt.run_folder(cfg, out, resume)
    torch.set_num_threads(cfg.threads)

    env = make_env(cfg.env.id, perturb=cfg.env.perturb, **cfg.env.kwargs)
    expert = _expert(env, cfg, base_dir)
    obs_space, act_space, observer, actuator = spaces_of(env)
    path = DataPath(env.observation_space, cfg)
    noise = _noise(cfg, act_space)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model.kind, dict(cfg.model.kwargs), path.shape, act_space.size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.bc.lr,
                                  weight_decay=cfg.bc.weight_decay)
    batch_rng = np.random.default_rng([cfg.seed, 1])
    rows: List[Dict[str, Any]] = []
    trace: List[List[float]] = []
    best: Dict[str, Any] = {'round': None, 'score': None}
    best_tensors = model_tensors(model)
    elapsed, done, grad_steps = 0.0, -1, 0     # done: the last finished round
    data = path.store(act_space.size)
    norm: Dict[str, List[float]] = {}
    if resume:
        groups, state = ckpt.load_checkpoint(ckpt_dir)
        changed = [k for k in ckpt.config_differences(state['config'], cfg.to_dict())
                   if not k.startswith(RESUMABLE_CHANGES)]
        if changed:
            raise ConfigError(f'cannot resume {out}: {changed} differ from the checkpoint '
                              f'(only {list(RESUMABLE_CHANGES)} may change)')
        model.load_state_dict(ckpt.state_dict(groups['model']))
        best_tensors = groups['best']
        ckpt.load_optimizer(optimizer, groups['optimizer'], state['optimizer'])
        data = Sequences.from_arrays(groups['data'], check_finite=False)
        batch_rng.bit_generator.state = state['batch_rng']
        norm, rows, trace, best = state['norm'], state['rows'], state['trace'], state['best']
        elapsed, done, grad_steps = state['elapsed'], state['round'], state['grad_steps']
        logger.info('resuming %s after round %d (%d episodes, %d steps)', out, done,
                    data.episodes, data.steps)
    write_yaml(out / 'config.yaml', cfg.to_dict())
    started = time.perf_counter() - elapsed
    rounds = range(max(done + 1, 0), cfg.dagger.rounds + 1)
    validated = [r for r in rounds if cfg.eval.episodes > 0 and (
        r % cfg.eval.every == 0 or r == cfg.dagger.rounds)]
    bar = Progress({
        'episode': sum(len(cfg.round_seeds(r)) for r in rounds if r > 0 or not cfg.bc.dataset)
        + cfg.eval.episodes * len(validated) + 2 * cfg.eval.test_episodes,
        'grad_step': sum(cfg.bc.steps if r == 0 else cfg.dagger.steps for r in rounds)},
        enabled=progress)
    metric = 'success_rate'

    with logging_redirect_tqdm():
        for round_index in rounds:
            beta = cfg.beta(round_index)
            if round_index == 0:
                if cfg.bc.dataset:
                    bar.phase('recorded data')
                    data = recorded_sequences(cfg.bc.dataset, obs_space, act_space, observer)
                    episodes: List[Trajectory] = []
                else:
                    bar.phase('demonstrations')
                    episodes = []
                    for s in cfg.round_seeds(0):
                        episodes.append(demonstration(
                            env, expert, s, np.random.default_rng([cfg.seed, 3, s]), noise))
                        bar.done('episode')
                for e in episodes:
                    data.add(e.obs, e.dt, e.extras['label'], _success(e), 0)
                norm = path.normalisers(data, cfg, act_space)
                steps = cfg.bc.steps
            else:
                bar.phase(f'round {round_index} rollouts')
                learner = runtime_policy(model, obs_space, act_space, norm)
                mix_rng = np.random.default_rng([cfg.seed, 2, round_index])
                episodes = []
                for s in cfg.round_seeds(round_index):
                    episodes.append(dagger_episode(env, expert, learner, beta, s, mix_rng,
                                                   noise))
                    bar.done('episode')
                for e in episodes:
                    data.add(e.obs, e.dt, e.extras['label'], _success(e), round_index)
                steps = cfg.dagger.steps
            bar.phase('behaviour cloning' if round_index == 0 else f'round {round_index} refit')
            new = fit(model, optimizer, data, path, norm, steps, cfg, batch_rng, bar,
                      grad_steps)
            grad_steps += steps
            trace += [list(t) for t in new]
            successes = data.success[data.rounds == round_index]
            row = {'round': round_index, 'beta': beta, 'episodes': data.episodes,
                   'steps': data.steps, 'grad_steps': grad_steps,
                   'loss': new[-1][1] if new else '',
                   'rollout_success': float(np.mean(successes)) if successes.size else '',
                   'rollout_return': (float(np.mean([e.ret for e in episodes]))
                                      if episodes else '')}
            if round_index in validated:
                bar.phase(f'round {round_index} validation')
                result = evaluate(runtime_policy(model, obs_space, act_space, norm),
                                  cfg.env.id, episodes=cfg.eval.episodes, seed=cfg.eval.seed,
                                  perturb=cfg.env.perturb,
                                  on_episode=lambda _: bar.done('episode'), **cfg.env.kwargs)
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
            logger.info('round %d: beta %.3f, %d episodes / %d steps, loss %.4f, rollouts %s '
                        'success, validation %s', round_index, beta, data.episodes, data.steps,
                        row['loss'] or math.nan, row['rollout_success'],
                        '-' if val is None else f'{metric} {val:.3f}')
            opt_arrays, opt_meta = ckpt.optimizer_arrays(optimizer)
            ckpt.save_checkpoint(
                ckpt_dir, round_index,
                {'model': model_tensors(model), 'best': best_tensors, 'optimizer': opt_arrays,
                 'data': data.arrays()},
                {'round': round_index, 'config': cfg.to_dict(), 'norm': norm, 'rows': rows,
                 'trace': trace, 'best': best, 'elapsed': time.perf_counter() - started,
                 'grad_steps': grad_steps, 'batch_rng': batch_rng.bit_generator.state,
                 'optimizer': opt_meta})
            write_logs(out, rows, trace, metric)
            if report is not None:
                report({'round': round_index, 'score': float(last_score(rows, metric)),
                        'metric': metric}, ckpt_dir)

        # -- 5. the policy: selection, held-out test, file --------------------------------
        if cfg.eval.select == 'best' and best['round'] is not None:
            model.load_state_dict(ckpt.state_dict(best_tensors))
            selected = best['round']
        else:
            selected = cfg.dagger.rounds
        train_seconds = time.perf_counter() - started
        test: Dict[str, Any] = {}
        if cfg.eval.test_episodes > 0:
            bar.phase('held-out test')
            kwargs = (cfg.env.kwargs if cfg.eval.test_env_kwargs is None
                      else cfg.eval.test_env_kwargs)
            agents = [('policy', runtime_policy(model, obs_space, act_space, norm))]
            if expert is not None:
                agents.append(('expert', expert))
            for who, agent in agents:
                result = evaluate(agent, cfg.env.id, episodes=cfg.eval.test_episodes,
                                  seed=cfg.eval.test_seed, perturb=cfg.env.perturb,
                                  on_episode=lambda _: bar.done('episode'), **kwargs)
                test[who] = {k: result[k] for k in (
                    'metric', 'score', 'success_rate', 'collision_rate', 'mean_return',
                    'std_return', 'mean_seconds', 'episodes', 'seed', 'env_kwargs', 'metrics')}
                test[who]['failed_seeds'] = [r['seed'] for r in result['per_episode']
                                             if r['success'] is False]
            if cfg.expert.kwargs and 'expert' in test:
                test['expert']['note'] = 'the expert with the training expert.kwargs'
            logger.info('held-out test (seeds %d-%d): policy %s %.3f%s', cfg.eval.test_seed,
                        cfg.eval.test_seed + cfg.eval.test_episodes - 1,
                        test['policy']['metric'], test['policy']['score'],
                        f', expert {test["expert"]["score"]:.3f}' if 'expert' in test else '')
        bar.close()
    test_seconds = time.perf_counter() - started - train_seconds
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    demo = data.rounds == 0
    provenance = {
        'method': 'imitation (behaviour cloning + DAgger)',
        'env': cfg.env.id,
        'config': cfg.to_dict(),
        'data': {'episodes': data.episodes, 'steps': data.steps,
                 'demo_episodes': int(demo.sum()), 'demo_steps': int(data.lengths[demo].sum()),
                 'demo_expert_success': rows[0]['rollout_success'] if rows else ''},
        'selected_round': selected,
        'validation': [{k: r.get(k) for k in ('round', 'val_success', 'val_return')}
                       for r in rows if 'val_return' in r],
        'test': test,
        'parameters': parameters,
        'train_seconds': round(train_seconds, 1),
        'test_seconds': round(test_seconds, 1),
    }
    policy = save_policy(model, out / f'{cfg.name}.safetensors', obs=obs_space,
                         action=act_space, observer=observer, actuator=actuator,
                         provenance=provenance, **norm)
    ckpt.write_json(out / 'summary.json', {'policy': str(policy), **provenance})
    env.close()
    return policy
