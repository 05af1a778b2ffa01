# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Camera lane following (PiBotLane-v0): behaviour cloning + DAgger of a CNN + head policy.

``train/dagger.py`` works on vector observations (it fits a per-element normaliser and keeps
observations as float arrays); camera frames are 9,216 uint8 pixels each, so this file keeps
them as uint8 and lets the model scale them (``ConvPolicy``: image / 255 - 0.5). The method,
top to bottom:

1. **Demonstrations.** ``bc_episodes`` episodes driven by the pure-pursuit expert
   (``PiBotLaneExpert``) with DART noise on the executed action (Laskey et al. 2017), clean
   labels. Each episode is a sequence of (frame, real dt, expert action).
2. **Fit.** Adam on random chunks of ``seq_len`` frames after ``burn_in`` frames that only warm
   the state; the loss is the MSE of the action scaled to [-1, 1] by the actuator limits. The
   head gets the real dt. Augmentation per chunk: brightness x U(0.8, 1.2), pixel noise
   N(0, 4): the same for every model.
3. **DAgger** (Ross et al. 2011): ``rounds`` rounds; the learner drives through the numpy
   runtime (a ``Policy``, what the robot runs) except that the expert's action is executed
   with probability ``beta`` (``beta0 * beta_decay ** round``); every frame is labelled by the
   expert; the model is refit (warm start).
4. **Evaluation.** :func:`evaluate_lane` drives held-out tracks; the policy is saved with the
   config, data sizes and results in its provenance.

    python -m lnn_control.train.lane config/train/pibot_lane_cnn_cfc.yaml [--out DIR]
    python -m lnn_control.train.lane --eval POLICY [POLICY ...] [--robustness] [--json OUT]

:func:`perturb_frame` holds the NCP-paper-style image perturbations used by the robustness
evaluation (noise, brightness, occlusion; frame drops and unseen textures are env options).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
import json
import os
from pathlib import Path
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from lnn_control.envs.pibot_lane import PiBotLaneEnv
from lnn_control.envs.pibot_lane import PiBotLaneExpert
from lnn_control.models.conv import build_conv_policy
from lnn_control.models.policy import model_tensors
from lnn_control.models.policy import save_policy
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import SpaceSpec
import numpy as np
import torch

__all__ = ['LaneConfig', 'collect', 'fit', 'train', 'evaluate_lane', 'perturb_frame',
           'PERTURBATIONS', 'robustness']

MAX_V, MAX_W = 0.22, 2.84


@dataclass
class LaneConfig:
    """Every setting of a lane training run (YAML keys of ``config/train/pibot_lane_*``)."""

    name: str = 'pibot_lane_cnn_cfc'
    head: str = 'cfc'                 # 'cfc', 'ltc', 'lstm', 'mlp' (build_conv_policy)
    width: int = 64
    height: int = 48
    features: int = 16
    units: int = 19                   # NCP neurons (cfc/ltc)
    hidden: int = 16                  # lstm units / half the mlp width
    episode_time: float = 10.0        # s per training episode
    bc_episodes: int = 40
    dart_noise: Tuple[float, float] = (0.03, 0.6)   # m/s, rad/s on the executed action
    bc_steps: int = 1500
    rounds: int = 4
    round_episodes: int = 16
    round_steps: int = 500
    beta0: float = 0.5
    beta_decay: float = 0.5
    seq_len: int = 32
    burn_in: int = 8
    batch_size: int = 16
    lr: float = 3e-3
    lr_final: float = 3e-4
    grad_clip: float = 1.0
    eval_episodes: int = 10
    eval_seed: int = 20_000
    eval_time: float = 20.0           # s per evaluation episode
    seed: int = 0
    wiring_seed: int = 22222

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> 'LaneConfig':
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f'unknown lane config keys {unknown}; known: {sorted(known)}')
        values = dict(data)
        if 'dart_noise' in values:
            values['dart_noise'] = tuple(float(v) for v in values['dart_noise'])
        return cls(**values)


@dataclass
class Episode:
    """One driven episode: frames (T, H, W, 3) uint8, dts (T,), expert labels (T, 2)."""

    frames: np.ndarray
    dts: np.ndarray
    labels: np.ndarray
    info: Dict[str, float] = field(default_factory=dict)


def make_lane_env(cfg: LaneConfig, time_limit: Optional[float] = None,
                  **kwargs: Any) -> PiBotLaneEnv:
    """Build the env at the config's image size."""
    return PiBotLaneEnv(width=cfg.width, height=cfg.height,
                        time_limit=time_limit or cfg.episode_time, **kwargs)


def collect(env: PiBotLaneEnv, expert: PiBotLaneExpert, seed: int,
            learner: Optional[Policy] = None, beta: float = 1.0,
            noise: Tuple[float, float] = (0.0, 0.0)) -> Episode:
    """
    Drive one episode, labelling every frame with the expert's action.

    Args:
        env: the lane env.
        expert: the labeller.
        seed: episode seed (track, start, mixing and noise).
        learner: the runtime policy that drives (None: the expert drives).
        beta: probability that the expert's action is executed instead of the learner's.
        noise: DART noise standard deviations on the executed (v, w).

    Returns:
        The episode.

    """
    rng = np.random.default_rng(seed + 7)
    obs, info = env.reset(seed=seed)
    dt = info['dt']
    frames, dts, labels = [], [], []
    if learner is not None:
        learner.reset()
    done = False
    while not done:
        label = expert.act(obs, info['state'])
        frames.append(obs)
        dts.append(dt)
        labels.append(label)
        action = label
        if learner is not None:
            mine = learner.step(obs.reshape(-1).astype(np.float32), dt)
            if rng.random() >= beta:
                action = mine
        action = action + rng.normal(0.0, 1.0, 2) * np.asarray(noise)
        obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
        dt = info['dt']
        done = terminated or truncated
    return Episode(np.stack(frames), np.asarray(dts, dtype=np.float32),
                   np.stack(labels).astype(np.float32),
                   {'progress': info['progress'], 'off_lane': float(info['off_lane'])})


def runtime_policy(model: torch.nn.Module) -> Policy:
    """Return the numpy runtime policy of the current weights (what DAgger rollouts run)."""
    spec = PolicySpec(kind=model.kind, config=model.get_config(),
                      obs=SpaceSpec(model.input_size), action=SpaceSpec(2),
                      action_std=[MAX_V, MAX_W])
    return Policy(CELLS[model.kind](spec.config, model_tensors(model)), spec)


def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: List[Episode],
        cfg: LaneConfig, steps: int, rng: np.random.Generator,
        lr: Callable[[int], float]) -> float:
    """Run ``steps`` gradient steps on random chunks; return the mean loss of the last 50."""
    scale = torch.tensor([1.0 / MAX_V, 1.0 / MAX_W])
    span = cfg.seq_len + cfg.burn_in
    lengths = np.array([len(e.labels) for e in data])
    usable = [i for i, n in enumerate(lengths) if n >= 2]
    weights = lengths[usable] / lengths[usable].sum()
    losses = []
    model.train()
    for step in range(steps):
        for group in optimizer.param_groups:
            group['lr'] = lr(step)
        frames, dts, labels, masks = [], [], [], []
        for i in rng.choice(usable, size=cfg.batch_size, p=weights):
            ep = data[i]
            n = len(ep.labels)
            start = int(rng.integers(-cfg.burn_in, max(1, n - cfg.seq_len)))
            lo, hi = max(0, start), min(n, start + span)
            pad = span - (hi - lo)
            f = ep.frames[lo:hi].astype(np.float32)
            f = f * np.float32(rng.uniform(0.8, 1.2))
            f += rng.normal(0.0, 4.0, f.shape).astype(np.float32)
            np.clip(f, 0.0, 255.0, out=f)
            mask = np.zeros(span, dtype=np.float32)
            first_label = max(start + cfg.burn_in, 0) - lo
            mask[first_label:hi - lo] = 1.0
            frames.append(np.concatenate([f.reshape(hi - lo, -1),
                                          np.zeros((pad, f[0].size), np.float32)]))
            dts.append(np.concatenate([ep.dts[lo:hi], np.full(pad, ep.dts[0], np.float32)]))
            labels.append(np.concatenate([ep.labels[lo:hi], np.zeros((pad, 2), np.float32)]))
            masks.append(mask)
        x = torch.from_numpy(np.stack(frames))                         # (B, S, pixels)
        ts = torch.from_numpy(np.stack(dts))                           # (B, S)
        target = torch.from_numpy(np.stack(labels)) * scale            # (B, S, 2)
        mask = torch.from_numpy(np.stack(masks)).unsqueeze(-1)         # (B, S, 1)
        y, _ = model(x, timespans=ts)
        loss = (((y - target) ** 2) * mask).sum() / (2.0 * mask.sum().clamp(min=1.0))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    return float(np.mean(losses[-50:]))


def train(cfg: LaneConfig, out: Path, log: Callable[[str], None] = print) -> Path:
    """Train a camera policy per ``cfg``; write ``out/<name>.safetensors`` and a log."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    started = time.time()
    out.mkdir(parents=True, exist_ok=True)
    env = make_lane_env(cfg)
    expert = PiBotLaneExpert()
    model = build_conv_policy((cfg.height, cfg.width, 3), cfg.head, features=cfg.features,
                              units=cfg.units, hidden=cfg.hidden, seed=cfg.wiring_seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    total = cfg.bc_steps + cfg.rounds * cfg.round_steps
    done_steps = [0]

    def lr(step: int) -> float:
        frac = (done_steps[0] + step) / max(1, total)
        return cfg.lr * (cfg.lr_final / cfg.lr) ** frac

    data = [collect(env, expert, cfg.seed * 100_000 + i, noise=cfg.dart_noise)
            for i in range(cfg.bc_episodes)]
    log(f'{cfg.name}: {sum(len(e.labels) for e in data)} demo frames '
        f'({time.time() - started:.0f} s), {sum(p.numel() for p in model.parameters())} params')
    loss = fit(model, optimizer, data, cfg, cfg.bc_steps, rng, lr)
    done_steps[0] += cfg.bc_steps
    rows = [{'round': 0, 'beta': 1.0, 'frames': sum(len(e.labels) for e in data),
             'loss': loss, 'wall_s': time.time() - started}]
    log(f'bc: loss {loss:.4f} ({time.time() - started:.0f} s)')
    for r in range(cfg.rounds):
        beta = cfg.beta0 * cfg.beta_decay ** r
        learner = runtime_policy(model)
        new = [collect(env, expert, cfg.seed * 100_000 + 10_000 * (r + 1) + i, learner, beta)
               for i in range(cfg.round_episodes)]
        data.extend(new)
        driven = float(np.mean([e.info['progress'] for e in new]))
        loss = fit(model, optimizer, data, cfg, cfg.round_steps, rng, lr)
        done_steps[0] += cfg.round_steps
        rows.append({'round': r + 1, 'beta': beta, 'frames': sum(len(e.labels) for e in data),
                     'rollout_progress': driven, 'loss': loss,
                     'wall_s': time.time() - started})
        log(f'round {r + 1}: beta {beta:.3f} rollout progress {driven:.2f} m, loss '
            f'{loss:.4f}, {rows[-1]["frames"]} frames ({time.time() - started:.0f} s)')
    env.close()
    path = out / f'{cfg.name}.safetensors'
    save_policy(model, path, action={'size': 2, 'names': ['v', 'w'], 'units': ['m/s', 'rad/s'],
                                     'low': [-MAX_V, -MAX_W], 'high': [MAX_V, MAX_W]},
                action_std=[MAX_V, MAX_W],
                obs={'size': model.input_size,
                     'names': [f'px{i}' for i in range(model.input_size)],
                     'low': [0.0] * model.input_size, 'high': [255.0] * model.input_size},
                provenance={'env': 'lnn_control/PiBotLane-v0', 'method': 'bc+dagger',
                            'config': asdict(cfg), 'log': rows,
                            'image': [cfg.height, cfg.width, 3], 'encoding': 'rgb8',
                            'train_wall_s': round(time.time() - started, 1)})
    (out / 'log.json').write_text(json.dumps(rows, indent=1))
    result = evaluate_lane(load_policy(path), cfg.eval_episodes, cfg.eval_seed,
                           time_limit=cfg.eval_time, width=cfg.width, height=cfg.height)
    log(f'eval ({cfg.eval_episodes} held-out tracks, {cfg.eval_time:g} s): {result}')
    (out / 'eval.json').write_text(json.dumps(result, indent=1))
    return path


# -- evaluation -----------------------------------------------------------------------------
def perturb_frame(frame: np.ndarray, rng: np.random.Generator, kind: str,
                  level: float) -> np.ndarray:
    """
    Perturb one camera frame (uint8 HxWx3) as in the NCP paper's robustness tests.

    Args:
        frame: the image.
        rng: randomness (seeded per episode).
        kind: 'noise' (Gaussian, std ``level`` grey levels), 'brightness' (add ``level``
            grey levels, negative darkens) or 'occlusion' (a black square of side ``level`` x
            the image height at a random place, new every frame).
        level: the amount.

    Returns:
        The perturbed frame (uint8).

    """
    img = frame.astype(np.float32)
    if kind == 'noise':
        img += rng.normal(0.0, level, img.shape)
    elif kind == 'brightness':
        img += level
    elif kind == 'occlusion':
        h, w = img.shape[:2]
        side = max(1, int(round(level * h)))
        r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img[r:r + side, c:c + side] = 0.0
    else:
        raise ValueError(f'unknown perturbation {kind!r}')
    return np.clip(img, 0.0, 255.0).astype(np.uint8)


# name -> (env kwargs, frame perturbation or None)
PERTURBATIONS: Dict[str, Tuple[Dict[str, Any], Optional[Tuple[str, float]]]] = {
    'clean': ({}, None),
    'noise 20': ({}, ('noise', 20.0)),
    'brightness +60': ({}, ('brightness', 60.0)),
    'brightness -40': ({}, ('brightness', -40.0)),
    'occlusion 0.4': ({}, ('occlusion', 0.4)),
    'frame drop 0.3': ({'drop': 0.3}, None),
    'unseen textures': ({'texture_set': 'unseen'}, None),
}


def evaluate_lane(policy: Any, episodes: int = 10, seed: int = 20_000,
                  perturbation: str = 'clean', time_limit: float = 20.0,
                  width: int = 64, height: int = 48) -> Dict[str, float]:
    """
    Drive ``episodes`` held-out tracks; return lane deviation and crash-free distance.

    Args:
        policy: a runtime ``Policy`` or 'expert'.
        episodes: tracks (seeds ``seed``, ``seed + 1``, ...).
        seed: first seed.
        perturbation: a key of :data:`PERTURBATIONS`.
        time_limit: seconds per episode.
        width, height: camera size.

    Returns:
        ``deviation`` (mean |lateral offset|, cm), ``distance`` (mean metres driven along
        the track before leaving it or the time limit), ``off_lane`` (fraction of episodes
        that left the road), ``episodes``.

    """
    env_kwargs, frame_perturbation = PERTURBATIONS[perturbation]
    env = PiBotLaneEnv(width=width, height=height, time_limit=time_limit, **env_kwargs)
    expert = PiBotLaneExpert()
    devs, dists, offs = [], [], []
    for k in range(episodes):
        rng = np.random.default_rng(seed + k + 99)
        obs, info = env.reset(seed=seed + k)
        dt = info['dt']
        if policy != 'expert':
            policy.reset()
        episode_devs = []
        done = False
        while not done:
            if frame_perturbation is not None:
                obs = perturb_frame(obs, rng, *frame_perturbation)
            if policy == 'expert':
                action = expert.act(obs, info['state'])
            else:
                action = policy.step(obs.reshape(-1).astype(np.float32), dt)
            obs, _, terminated, truncated, info = env.step(action)
            dt = info['dt']
            episode_devs.append(abs(info['deviation']))
            done = terminated or truncated
        devs.append(float(np.mean(episode_devs)))
        dists.append(float(info['progress']))
        offs.append(float(info['off_lane']))
    env.close()
    return {'deviation_cm': round(100.0 * float(np.mean(devs)), 2),
            'distance_m': round(float(np.mean(dists)), 2),
            'off_lane': round(float(np.mean(offs)), 3), 'episodes': episodes}


def robustness(policies: Mapping[str, Any], episodes: int = 10, seed: int = 30_000,
               time_limit: float = 20.0, log: Callable[[str], None] = print
               ) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Evaluate every policy under every :data:`PERTURBATIONS` entry (same seeds for all)."""
    table: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, policy in policies.items():
        table[name] = {}
        for perturbation in PERTURBATIONS:
            table[name][perturbation] = evaluate_lane(policy, episodes, seed, perturbation,
                                                      time_limit)
            log(f'{name:>10} {perturbation:>16}: {table[name][perturbation]}')
    return table


def markdown(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Format the robustness table: distance (m) / deviation (cm) / off-lane per cell."""
    names = list(table)
    rows = ['| perturbation | ' + ' | '.join(names) + ' |',
            '|---|' + '---|' * len(names)]
    for perturbation in next(iter(table.values())):
        cells = [f'{table[n][perturbation]["distance_m"]:.2f} m / '
                 f'{table[n][perturbation]["deviation_cm"]:.1f} cm / '
                 f'{100 * table[n][perturbation]["off_lane"]:.0f}%' for n in names]
        rows.append(f'| {perturbation} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: train from a YAML config, or evaluate policies (see the module doc)."""
    parser = argparse.ArgumentParser(prog='python -m lnn_control.train.lane',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?', help='YAML config (config/train/pibot_lane_*)')
    parser.add_argument('--out', default=None, help='output folder (default runs/<name>)')
    parser.add_argument('--eval', nargs='+', metavar='POLICY', default=None,
                        help="policies to evaluate ('expert' for the expert)")
    parser.add_argument('--robustness', action='store_true', help='all perturbations')
    parser.add_argument('--episodes', type=int, default=10)
    parser.add_argument('--seed', type=int, default=30_000)
    parser.add_argument('--time', type=float, default=20.0, help='seconds per episode')
    parser.add_argument('--json', default=None, help='write the results here')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.eval:
        policies = {Path(p).stem.replace('pibot_lane_', ''): p if p == 'expert'
                    else load_policy(p) for p in args.eval}
        if args.robustness:
            result: Any = robustness(policies, args.episodes, args.seed, args.time,
                                     log=lambda msg: print(msg, flush=True))
            print(markdown(result))
        else:
            result = {n: evaluate_lane(p, args.episodes, args.seed, time_limit=args.time)
                      for n, p in policies.items()}
            print(json.dumps(result, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        return 0
    if not args.config:
        parser.error('give a config to train, or --eval POLICY')
    from lnn_control.train.config import _yaml_load
    cfg = LaneConfig.from_mapping(_yaml_load(Path(args.config).read_text()) or {})
    out = Path(args.out or os.path.join('runs', cfg.name))
    path = train(cfg, out, log=lambda msg: print(msg, flush=True))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
