# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Rollouts of the runtime policy and integrated-gradients attribution of its actions.

See :mod:`lnn_control.inspect` for the method; this module has the numbers, no pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
import numpy as np

__all__ = ['Episode', 'rollout', 'integrated_gradients', 'sensor_groups', 'group_attribution',
           'situation_shares', 'policy_env_id']


# -- rollouts ---------------------------------------------------------------------------------
@dataclass
class Episode:
    """
    One closed-loop episode of the runtime policy, every array indexed by step ``t``.

    Attributes:
        seed: the env reset seed.
        obs: (T, I) observations the policy saw.
        dt: (T,) elapsed time passed to each step (s).
        state_before: (T, S) the carried hidden state entering each step.
        state: (T, S) the state after each step (``Policy.state``).
        tau: (T, S) time constants after each step (NaN where none).
        action: (T, A) the policy's action (before the env clips it).
        reward: (T,) rewards.
        success, collision: the final info flags (None when the env has none).

    """

    seed: int
    obs: np.ndarray
    dt: np.ndarray
    state_before: np.ndarray
    state: np.ndarray
    tau: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    success: Optional[bool]
    collision: Optional[bool]

    @property
    def time(self) -> np.ndarray:
        """(T,) time of each step's end (s), the x axis of the plots."""
        return np.cumsum(self.dt)


def policy_env_id(spec: PolicySpec) -> Optional[str]:
    """Return the env a policy was trained on, from its provenance (None if not recorded)."""
    # An adapted policy (runtime.adapt) keeps its original's provenance as base_provenance.
    provenance = spec.provenance.get('base_provenance') or spec.provenance
    config = provenance.get('config') or {}
    env = config.get('env') if isinstance(config, Mapping) else None
    env_id = env.get('id') if isinstance(env, Mapping) else None
    return str(env_id) if env_id else None


def rollout(policy: Policy, env_id: str, episodes: int = 3, seed: int = 0,
            **env_kwargs: Any) -> List[Episode]:
    """
    Run ``policy`` for ``episodes`` episodes (reset seeds ``seed``, ``seed + 1``, ...).

    Args:
        policy: the numpy runtime policy.
        env_id: a Gymnasium id ``make_env`` knows.
        episodes: number of episodes.
        seed: reset seed of the first episode.
        env_kwargs: passed to ``make_env``.

    Returns:
        One :class:`Episode` per episode.

    """
    from lnn_control.envs.make import make_env
    from lnn_control.envs.rollout import run_episode
    env = make_env(env_id, **env_kwargs)
    size = policy.state.size
    image = len(getattr(env.observation_space, 'shape', ()) or ()) == 3

    def act(obs: Any, dt: float, info: Dict[str, Any]) -> Any:
        obs = np.asarray(obs, dtype=np.float32).reshape(-1) if image else np.asarray(
            obs, dtype=np.float32)
        before = np.array(policy.state, dtype=np.float32).reshape(size)
        action = np.asarray(policy.step(obs, dt), dtype=np.float32)
        tau = policy.time_constants()
        return action, {
            'obs': obs, 'before': before,
            'state': np.array(policy.state, dtype=np.float32).reshape(size),
            'tau': (np.full(size, np.nan, np.float32) if tau is None
                    else np.array(tau, dtype=np.float32).reshape(size))}

    out = []
    try:
        for k in range(episodes):
            traj = run_episode(env, act, seed=seed + k, reset=policy.reset, keep_obs=False)
            x = traj.extras
            steps = traj.steps
            out.append(Episode(
                seed=seed + k, obs=x['obs'], dt=traj.dt.astype(np.float64),
                # reshape with explicit sizes: an MLP without frame stacking has no state.
                state_before=x['before'].reshape(steps, size),
                state=x['state'].reshape(steps, size), tau=x['tau'].reshape(steps, size),
                action=traj.actions, reward=traj.rewards, success=traj.success,
                collision=traj.collision))
    finally:
        env.close()
    return out


# -- attribution --------------------------------------------------------------------------------
def integrated_gradients(model: Any, spec: PolicySpec, obs: np.ndarray,
                         state_before: np.ndarray, dt: np.ndarray, steps: int = 32,
                         window: int = 1, chunk: int = 8192) -> Dict[str, np.ndarray]:
    """
    Integrated gradients of every action w.r.t. the observations, per step.

    Args:
        model: the torch model of the policy (``load_model``); evaluated in float64 on a copy.
        spec: the policy spec (normaliser and action scale).
        obs: (T, I) observations; state_before: (T, S) carried states (runtime flat layout);
            dt: (T,) elapsed times.
        steps: Riemann midpoint steps along the straight path from the baseline.
        window: 1 (default): the current observation, the carried state ``h_t`` fixed.
            W > 1: the last W observations together (fewer at an episode start), the state
            entering the window fixed; each input's attribution is summed over the window.
        chunk: the most (time step x path point x window step) rows per forward/backward.

    Returns:
        ``attribution`` (T, A, I) in action units; ``output`` (T, A) the action the model
        gives (normalised outputs times ``action_std`` plus ``action_mean``); ``baseline``
        (T, A) the action when the window's observations are at the baseline (the
        normaliser mean) with the same entering state: the memory-only part. Completeness:
        ``attribution.sum(-1) ~= output - baseline``.

    """
    import torch
    if window < 1 or steps < 1:
        raise ValueError(f'window and steps must be >= 1, got {window}, {steps}')
    model = _float64_copy(model)
    mean = np.asarray(spec.obs_mean, np.float64)
    std = np.asarray(spec.obs_std, np.float64)
    a_std = torch.as_tensor(np.asarray(spec.action_std, np.float64))
    a_mean = torch.as_tensor(np.asarray(spec.action_mean, np.float64))
    x = torch.as_tensor((np.asarray(obs, np.float64) - mean) / std)  # (T, I)
    h = torch.as_tensor(np.asarray(state_before, np.float64))  # (T, S)
    ts = torch.as_tensor(np.asarray(dt, np.float64))  # (T,)
    n_t, n_in = x.shape
    n_out = spec.action.size
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps  # (K,)
    attribution = torch.zeros(n_t, n_out, n_in, dtype=torch.float64)
    out = torch.zeros(n_t, n_out, dtype=torch.float64)
    base = torch.zeros(n_t, n_out, dtype=torch.float64)
    lengths = np.minimum(window, np.arange(n_t) + 1)
    for length in np.unique(lengths):
        idx = np.nonzero(lengths == length)[0]
        per = max(1, chunk // (steps * int(length)))
        lags = np.arange(int(length))
        for at in range(0, len(idx), per):
            rows = idx[at:at + per]
            starts = rows - length + 1
            seq = torch.as_tensor(starts[:, None] + lags)  # (M, L)
            xw, hw, tw = x[seq], h[torch.as_tensor(starts)], ts[seq]  # (M, L, I) (M, S) (M, L)
            m = len(rows)
            path = (alphas[None, :, None, None] * xw[:, None]).reshape(m * steps, length, n_in)
            path.requires_grad_(True)
            y = _step(model, path, hw.repeat_interleave(steps, 0),
                      tw.repeat_interleave(steps, 0), n_out)  # (M K, A)
            for j in range(n_out):
                (g,) = torch.autograd.grad(y[:, j].sum(), path, retain_graph=j + 1 < n_out)
                g = g.reshape(m, steps, length, n_in).mean(1)  # (M, L, I)
                attribution[rows, j] = (g * xw).sum(1) * a_std[j]
            with torch.no_grad():
                out[rows] = _step(model, xw, hw, tw, n_out) * a_std + a_mean
                base[rows] = _step(model, torch.zeros_like(xw), hw, tw, n_out) * a_std + a_mean
    return {'attribution': attribution.numpy(), 'output': out.numpy(),
            'baseline': base.numpy()}


def _float64_copy(model: Any) -> Any:
    import copy
    clone = copy.deepcopy(model)
    clone.eval()
    return clone.double()


def _step(model: Any, x: Any, h: Any, ts: Any, n_out: int) -> Any:
    """Run (B, L, I) from flat states (B, S), times (B, L); return the last outputs (B, A)."""
    state = model.unflat_state(h) if h.shape[-1] else None
    y, _ = model(x, state, ts)
    return y.reshape(x.shape[0], -1)[:, -n_out:]


def sensor_groups(spec: PolicySpec) -> Dict[str, List[int]]:
    """
    Group observation indices by sensor, for attribution summaries.

    A policy with an Observer (PiBotNav) takes its groups (``Observer.sensor_groups``: lidar
    front, left, back, right, goal bearing, goal distance, velocity); a camera policy groups
    its pixels by the left, centre and right third of the image (and any extra inputs on
    their own); any other observation is its own group, named by the spec.
    """
    names = list(spec.obs.names)
    if spec.observer:
        from lnn_control.runtime.observer import Observer
        observer = Observer(spec.observer)
        if observer.names == names:
            return observer.sensor_groups()
    shape = list(getattr(spec.obs, 'shape', []) or [])
    image = spec.config.get('image') if isinstance(spec.config, Mapping) else None
    if len(shape) == 3 or image:
        height, width, channels = shape if len(shape) == 3 else image
        columns = np.arange(height * width * channels) // channels % width
        groups = {f'image {part}': np.nonzero(columns * 3 // width == k)[0].tolist()
                  for k, part in enumerate(('left', 'centre', 'right'))}
        groups.update({names[i]: [i] for i in range(height * width * channels, len(names))})
        return groups
    return {n: [i] for i, n in enumerate(names)}


def group_attribution(attribution: np.ndarray, groups: Mapping[str, Sequence[int]]
                      ) -> np.ndarray:
    """(T, A, I) -> (T, A, G): IG is additive, so a group's attribution is its members' sum."""
    return np.stack([attribution[..., list(idx)].sum(-1) for idx in groups.values()], -1)


def situation_shares(episodes: Sequence[Episode], grouped: Sequence[np.ndarray],
                     groups: Mapping[str, Sequence[int]], spec: PolicySpec,
                     near: float = 0.15, clear: float = 0.3) -> Dict[str, Any]:
    """
    Share of |attribution| per sensor group in the Observer's situations (PiBot policies).

    Args:
        episodes, grouped: the rollouts and their (T, A, G) grouped attributions.
        groups, spec: the sensor groups and the policy spec.
        near: "obstacle straight ahead": the straight-ahead sector (lidar_0) reads below this
            (normalised range: 0.15 is ~0.6 m).
        clear: "path clear": every front sector (within 45 deg of ahead) reads above this
            (~1.1 m; the PiBotNav arena is cluttered: the front sectors rarely read more).

    Returns:
        Per situation: ``steps`` and, per action name, group -> share of the summed
        |attribution| (shares of one action sum to 1). Empty without an Observer.

    """
    if not spec.observer:
        return {}
    from lnn_control.runtime.observer import Observer
    observer = Observer(spec.observer)
    if observer.names != list(spec.obs.names):
        return {}
    masks: Dict[str, List[np.ndarray]] = {}
    for ep in episodes:
        for situation, mask in observer.situations(ep.obs, near, clear).items():
            masks.setdefault(situation, []).append(mask)
    out: Dict[str, Any] = {}
    stacked = np.concatenate(grouped, 0)  # (T, A, G)
    for situation, parts in masks.items():
        mask = np.concatenate(parts)
        entry: Dict[str, Any] = {'steps': int(mask.sum())}
        if mask.any():
            mag = np.abs(stacked[mask]).sum(0)  # (A, G)
            for j, action in enumerate(spec.action.names):
                total = mag[j].sum()
                entry[action] = {g: float(mag[j, k] / total) if total > 0 else 0.0
                                 for k, g in enumerate(groups)}
        out[situation] = entry
    return out
