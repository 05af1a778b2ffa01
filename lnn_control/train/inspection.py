# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Why did the policy act? Wiring diagram, neuron traces and input attribution (issue 6).

    lnn-control inspect pibot_nav_cfc --out inspect_cfc --episodes 3 --seed 0

writes into ``--out``:

========================  ===================================================================
file                      what
========================  ===================================================================
``wiring.png/.svg``       the NCP: sensory inputs, inter, command and motor neurons; synapse
                          colour = learned polarity (excitatory / inhibitory), width = weight
``traces_ep<k>.png``      per episode, on one time axis: observations, neuron activations by
                          layer, time constants (LTC tau in s, CfC time gate), actions
``attribution_ep<k>.png`` per episode and action: integrated-gradients attribution per sensor
                          group over time, with the action and its memory-only part
``attribution.png``       which sensor groups drive which motor neuron / action (share of |IG|)
``episode_<k>.csv``       every trace as columns (time, obs, action, neurons, tau, IG)
``summary.json``          the numbers of the report
``index.html``            the report tying them together, viewable offline
========================  ===================================================================

Rollouts run the numpy runtime :class:`~lnn_control.runtime.policy.Policy` (what the robot
runs) in the policy's env (``make_env``), recording before every step the carried hidden state.

Attribution: integrated gradients (Sundararajan et al., "Axiomatic attribution for deep
networks", ICML 2017) through ONE recurrent step, with the carried hidden state fixed::

    a(t) = F(x_t; h_t) = F(x0; h_t) + sum_i IG_i(t),
    IG_i(t) = (x_ti - x0_i) * mean_k dF/dx_i(x0 + alpha_k (x_t - x0); h_t),  alpha_k midpoints

``F`` is the torch model rebuilt from the same policy file (``load_model``, float64), ``h_t``
the runtime's state before step ``t``, ``x`` the normalised observation, and the baseline
``x0 = 0`` is the normaliser's mean observation (an "average situation" rather than an
all-zero scan, which would read as "touching an obstacle"). Why one step and not a window:
it answers the engineer's question "which of the readings the robot has NOW turned it",
exactly (completeness holds per step, so the attributions add up to the action minus its
memory-only part ``F(x0; h_t)``, which is reported as its own term), and it costs one batched
forward/backward for a whole episode. Attributing over a window would instead spread credit
over past readings through the state; for a liquid net whose state integrates over ~1 s that
mixes "what it sees" with "what it remembers", which the memory term keeps apart here.
Attributions are in action units (the model output times the action std) and describe the
policy's raw action, before the Actuator's speed and acceleration limits.
"""

from __future__ import annotations

from dataclasses import dataclass
import html
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
from lnn_control.wirings import FullyConnected
from lnn_control.wirings import Wiring
import numpy as np

__all__ = ['Episode', 'rollout', 'integrated_gradients', 'sensor_groups', 'group_attribution',
           'wiring_synapses', 'wiring_diagram', 'situation_shares', 'inspect_policy',
           'policy_env_id']

_LAYER_ORDER = ('sensory', 'inter', 'command', 'motor')
_LAYER_COLOURS = {'sensory': '#9ecae1', 'inter': '#c7e9c0', 'command': '#fdd0a2',
                  'motor': '#fcbba1', 'hidden': '#dadaeb'}
_EXCITATORY, _INHIBITORY = '#d62728', '#1f77b4'


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
    from lnn_control.train.evaluate import make_env
    from lnn_control.train.evaluate import nominal_dt
    env = make_env(env_id, **env_kwargs)
    out = []
    try:
        size = policy.state.size
        for k in range(episodes):
            obs, info = env.reset(seed=seed + k)
            policy.reset()
            dt = nominal_dt(env)
            names = ('obs', 'dt', 'before', 'state', 'tau', 'action', 'reward')
            rec: Dict[str, List[Any]] = {n: [] for n in names}
            while True:
                obs = np.asarray(obs, dtype=np.float32)
                rec['before'].append(np.array(policy.state, dtype=np.float32))
                action = np.asarray(policy.step(obs, dt), dtype=np.float32)
                tau = policy.time_constants()
                rec['obs'].append(obs)
                rec['dt'].append(dt)
                rec['state'].append(np.array(policy.state, dtype=np.float32))
                rec['tau'].append(np.full(size, np.nan, np.float32) if tau is None
                                  else np.array(tau, dtype=np.float32))
                rec['action'].append(action)
                obs, reward, terminated, truncated, info = env.step(action)
                rec['reward'].append(float(reward))
                dt = float(info['dt'])
                if terminated or truncated:
                    break
            out.append(Episode(
                seed=seed + k, obs=np.stack(rec['obs']), dt=np.asarray(rec['dt']),
                # reshape with explicit sizes: an MLP without frame stacking has no state.
                state_before=np.stack(rec['before']).reshape(len(rec['dt']), size),
                state=np.stack(rec['state']).reshape(len(rec['dt']), size),
                tau=np.stack(rec['tau']).reshape(len(rec['dt']), size),
                action=np.stack(rec['action']),
                reward=np.asarray(rec['reward']),
                success=bool(info['is_success']) if 'is_success' in info else None,
                collision=bool(info['collision']) if 'collision' in info else None))
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

    PiBotNav observations (the Observer's names) give: lidar front (the sectors within 45 deg
    of straight ahead), left, back, right, goal bearing (sin and cos), goal distance and
    velocity (v, w); any other observation is its own group, named by the spec.
    """
    names = list(spec.obs.names)
    lidar = [i for i, n in enumerate(names) if n.startswith('lidar_')]
    if not lidar:
        return {n: [i] for i, n in enumerate(names)}
    sectors = len(lidar)
    groups: Dict[str, List[int]] = {'lidar front': [], 'lidar left': [], 'lidar back': [],
                                    'lidar right': []}
    for i in lidar:
        k = int(names[i].split('_')[1])
        angle = (k * 360.0 / sectors + 180.0) % 360.0 - 180.0  # CCW from ahead, -180..180
        if abs(angle) <= 45.0:
            groups['lidar front'].append(i)
        elif abs(angle) >= 135.0:
            groups['lidar back'].append(i)
        else:
            groups['lidar left' if angle > 0 else 'lidar right'].append(i)
    named = {'goal bearing': ('goal_bearing_sin', 'goal_bearing_cos'),
             'goal distance': ('goal_distance',), 'velocity': ('v', 'w')}
    for group, members in named.items():
        groups[group] = [names.index(n) for n in members if n in names]
    used = {i for idx in groups.values() for i in idx}
    for i, n in enumerate(names):
        if i not in used:
            groups[n] = [i]
    return {g: idx for g, idx in groups.items() if idx}


def group_attribution(attribution: np.ndarray, groups: Mapping[str, Sequence[int]]
                      ) -> np.ndarray:
    """(T, A, I) -> (T, A, G): IG is additive, so a group's attribution is its members' sum."""
    return np.stack([attribution[..., list(idx)].sum(-1) for idx in groups.values()], -1)


def situation_shares(episodes: Sequence[Episode], grouped: Sequence[np.ndarray],
                     groups: Mapping[str, Sequence[int]], spec: PolicySpec,
                     near: float = 0.15, clear: float = 0.3) -> Dict[str, Any]:
    """
    Share of |attribution| per sensor group in two situations (PiBotNav observations only).

    Args:
        episodes, grouped: the rollouts and their (T, A, G) grouped attributions.
        groups, spec: the sensor groups and the policy spec.
        near: "obstacle straight ahead": the straight-ahead sector (lidar_0) reads below this
            (normalised range: 0.15 is ~0.6 m).
        clear: "path clear": every front sector (within 45 deg of ahead) reads above this
            (~1.1 m; the PiBotNav arena is cluttered: the front sectors rarely read more).

    Returns:
        Per situation: ``steps`` and, per action name, group -> share of the summed
        |attribution| (shares of one action sum to 1). Empty without lidar front sectors.

    """
    names = list(spec.obs.names)
    if 'lidar front' not in groups or 'lidar_0' not in names:
        return {}
    ahead = names.index('lidar_0')
    front = list(groups['lidar front'])
    masks = {'obstacle ahead': [], 'path clear': []}
    for ep in episodes:
        masks['obstacle ahead'].append(ep.obs[:, ahead] < near)
        masks['path clear'].append((ep.obs[:, front] > clear).all(1))
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


# -- wiring -------------------------------------------------------------------------------------
def _wiring_of(spec: PolicySpec) -> Optional[Wiring]:
    units = spec.config.get('units')
    if spec.kind not in ('cfc', 'ltc') or units is None:
        return None
    if isinstance(units, Mapping):
        return Wiring.from_dict(dict(units)).build(spec.obs.size)
    if spec.kind == 'ltc':  # an LTC of int units is fully connected (as the runtime builds it)
        return FullyConnected(int(units)).build(spec.obs.size)
    return None  # a CfC of int units: dense heads over a backbone, no neuron-level wiring


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def wiring_synapses(spec: PolicySpec, tensors: Mapping[str, np.ndarray]
                    ) -> Optional[Dict[str, Any]]:
    """
    Each synapse of a wired CfC/LTC with its learned strength and sign.

    LTC: strength = the maximum conductance (softplus of ``w``), sign = that of the reversal
    potential ``erev`` (above rest it excites, below it inhibits). CfC: the wiring only masks
    the heads (|adjacency|, its declared polarity is not used by the model), so strength = the
    RMS of the four head weights of the synapse and sign = that of ``ff1 + ff2`` (does the
    source raise the target's candidate states).

    Returns:
        None without a wiring, else ``wiring``, ``sensory`` and ``recurrent``: lists of
        (src, dest, strength, sign, declared polarity).

    """
    wiring = _wiring_of(spec)
    if wiring is None:
        return None
    t = {k: np.asarray(v, np.float64) for k, v in tensors.items()}
    sensory, recurrent = [], []
    s_src, s_dst = np.nonzero(wiring.sensory_adjacency)
    r_src, r_dst = np.nonzero(wiring.adjacency)
    if spec.kind == 'ltc':
        positive = (_softplus if spec.config.get('implicit_param_constraints', True)
                    else (lambda p: p))
        sw, w = positive(t['sensory_w']), positive(t['w'])
        for i, d in zip(s_src, s_dst):
            sensory.append((int(i), int(d), float(sw[i, d]),
                            int(np.sign(t['sensory_erev'][i, d]) or 1),
                            int(wiring.sensory_adjacency[i, d])))
        for s, d in zip(r_src, r_dst):
            recurrent.append((int(s), int(d), float(w[s, d]), int(np.sign(t['erev'][s, d]) or 1),
                              int(wiring.adjacency[s, d])))
    else:
        layers = wiring.layers
        where = {n: (li, pos) for li, layer in enumerate(layers) for pos, n in enumerate(layer)}
        in_sizes = [spec.obs.size] + [len(layer) for layer in layers[:-1]]

        def weight(li: int, row: int, col: int) -> Tuple[float, int]:
            heads = [t[f'layers.{li}.{h}.weight'][row, col]
                     for h in ('ff1', 'ff2', 'time_a', 'time_b')
                     if f'layers.{li}.{h}.weight' in t]
            value = t[f'layers.{li}.ff1.weight'][row, col] + t.get(
                f'layers.{li}.ff2.weight', np.zeros_like(t[f'layers.{li}.ff1.weight']))[row, col]
            return float(np.sqrt(np.mean(np.square(heads)))), int(np.sign(value) or 1)

        for i, d in zip(s_src, s_dst):
            li, row = where[int(d)]
            if li == 0:
                sensory.append((int(i), int(d), *weight(0, row, int(i)),
                                int(wiring.sensory_adjacency[i, d])))
        for s, d in zip(r_src, r_dst):
            (ls, ps), (ld, row) = where[int(s)], where[int(d)]
            if ls == ld:
                col = in_sizes[ld] + ps
            elif ls == ld - 1:
                col = ps
            else:
                continue
            recurrent.append((int(s), int(d), *weight(ld, row, col),
                              int(wiring.adjacency[s, d])))
    return {'wiring': wiring, 'sensory': sensory, 'recurrent': recurrent}


def _neuron_columns(wiring: Wiring) -> List[Tuple[str, List[int]]]:
    """Columns of the diagram: the neuron types present, in processing order."""
    types = wiring.neuron_types()
    cols = []
    for kind in ('inter', 'command', 'motor'):
        ids = [i for i in range(wiring.units) if types[i] == kind]
        if ids:
            cols.append((kind, ids))
    return cols


def wiring_diagram(spec: PolicySpec, tensors: Mapping[str, np.ndarray], stem: Path,
                   title: str = '') -> Optional[Dict[str, Any]]:
    """
    Draw the wiring (``stem``.png and ``stem``.svg); None (nothing drawn) without a wiring.

    Returns:
        ``synapses``, ``excitatory``, ``declared_agree`` (learned sign == declared polarity)
        and ``files``.

    """
    syn = wiring_synapses(spec, tensors)
    if syn is None:
        return None
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D
    import matplotlib.pyplot as plt
    wiring = syn['wiring']
    columns = [('sensory', list(range(spec.obs.size)))] + _neuron_columns(wiring)
    pos: Dict[Tuple[str, int], Tuple[float, float]] = {}
    tallest = max(len(ids) for _, ids in columns)
    for c, (kind, ids) in enumerate(columns):
        for r, n in enumerate(ids):
            y = (tallest - 1) / 2.0 - (r - (len(ids) - 1) / 2.0)
            pos[('s' if kind == 'sensory' else 'n', n)] = (c * 3.0, y)
    edges = ([(('s', i), ('n', d), w, sg, dec) for i, d, w, sg, dec in syn['sensory']]
             + [(('n', s), ('n', d), w, sg, dec) for s, d, w, sg, dec in syn['recurrent']])
    w_max = max((e[2] for e in edges), default=1.0) or 1.0
    fig, ax = plt.subplots(figsize=(2.4 * len(columns) + 1.5, max(4.0, 0.32 * tallest + 1.5)))
    dense = len(edges) > 400  # a fully connected wiring: thinner, fainter lines
    # Every synapse is one polyline of a single LineCollection (one draw call, not one
    # patch per synapse): straight between columns, an arc within a column, a loop on itself.
    lines, colours, widths = [], [], []
    u = np.linspace(0.0, 1.0, 12)[:, None]
    for src, dst, w, sign, _ in sorted(edges, key=lambda e: e[2]):
        p0, p1 = np.array(pos[src]), np.array(pos[dst])
        if src == dst:
            angle = np.linspace(0.0, 2 * np.pi, 16)
            lines.append(p0 + np.array([0.25, 0.0]) + 0.2 * np.stack(
                [np.cos(angle), np.sin(angle)], 1))
        elif abs(p1[0] - p0[0]) < 1e-9:
            bulge = p0 / 2 + p1 / 2 + np.array([0.25 * abs(p1[1] - p0[1]) + 0.3, 0.0])
            lines.append((1 - u) ** 2 * p0 + 2 * u * (1 - u) * bulge + u ** 2 * p1)
        else:
            lines.append(np.stack([p0, p1]))
        alpha = 0.25 if dense else 0.35 + 0.6 * w / w_max
        colours.append(to_rgba(_EXCITATORY if sign > 0 else _INHIBITORY, alpha))
        widths.append(0.2 + (1.5 if dense else 3.5) * w / w_max)
    ax.add_collection(LineCollection(lines, colors=colours, linewidths=widths, zorder=1))
    for c, (kind, ids) in enumerate(columns):
        xs = [pos[('s' if kind == 'sensory' else 'n', n)] for n in ids]
        ax.scatter([p[0] for p in xs], [p[1] for p in xs], s=170, zorder=3,
                   color=_LAYER_COLOURS.get(kind, '#dddddd'), edgecolor='black', lw=0.6)
        for n, (x, y) in zip(ids, xs):
            if kind == 'sensory':
                ax.text(x - 0.25, y, spec.obs.names[n], ha='right', va='center', fontsize=7)
            else:
                ax.text(x, y, str(n), ha='center', va='center', fontsize=6, zorder=4)
        ax.text(c * 3.0, (tallest - 1) / 2.0 + (tallest + 1) / 2.0 + 0.3,
                f'{kind} ({len(ids)})', ha='center', fontsize=9, weight='bold')
    motor = dict(_neuron_columns(wiring)).get('motor', [])
    for j, n in enumerate(motor[:spec.action.size]):
        x, y = pos[('n', n)]
        ax.text(x + 0.3, y, f'-> {spec.action.names[j]}', ha='left', va='center', fontsize=8)
    ax.legend(handles=[Line2D([], [], color=_EXCITATORY, lw=2, label='excitatory'),
                       Line2D([], [], color=_INHIBITORY, lw=2, label='inhibitory')],
              loc='lower center', bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8,
              frameon=False)
    ax.set_xlim(-2.2, 3.0 * (len(columns) - 1) + 1.4)
    ax.set_ylim(-1.2, tallest + 1.0)
    ax.axis('off')
    kind_text = {'ltc': 'width = max conductance, colour = sign of reversal potential',
                 'cfc': 'width = RMS head weight, colour = sign of ff1 + ff2 weight'}
    ax.set_title(f'{title}\n{kind_text.get(spec.kind, "")}', fontsize=9)
    fig.tight_layout()
    files = [str(stem.with_suffix('.png')), str(stem.with_suffix('.svg'))]
    _save_png(fig, Path(files[0]), dpi=80)
    fig.savefig(files[1])
    plt.close(fig)
    return {'synapses': len(edges), 'excitatory': sum(e[3] > 0 for e in edges),
            'declared_agree': sum(e[3] == e[4] for e in edges), 'files': files,
            'kind': wiring.kind, 'layers': {k: len(ids) for k, ids in columns}}


def _save_png(fig: Any, path: Path, dpi: int) -> None:
    """Save as a 256-colour palette PNG: a third of the size, the same picture for plots."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as image:
        image.convert('RGB').quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True)


# -- figures ------------------------------------------------------------------------------------
def _layer_order(labels: Sequence[str]) -> List[int]:
    rank = {k: r for r, k in enumerate(_LAYER_ORDER)}
    return sorted(range(len(labels)), key=lambda i: (rank.get(labels[i].split(':')[0], 9), i))


def _plot_traces(ep: Episode, spec: PolicySpec, labels: Sequence[str], kind: str,
                 path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    t = ep.time
    order = _layer_order(labels)
    rows = 4 if ep.state.shape[1] else 2
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.2 * rows + 0.8), sharex=True,
                             gridspec_kw={'height_ratios': [3, 3, 3, 1.6][-rows:]
                                          if rows == 4 else [3, 1.6]})
    extent = [0.0, float(t[-1]), 0, 0]
    x = (ep.obs - np.asarray(spec.obs_mean)) / np.asarray(spec.obs_std)

    def heat(ax: Any, data: np.ndarray, names: Sequence[str], title: str, cmap: str,
             **kw: Any) -> None:
        extent[2:] = [len(names) - 0.5, -0.5]
        im = ax.imshow(data.T, aspect='auto', interpolation='nearest', cmap=cmap,
                       extent=extent, **kw)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=5 if len(names) > 20 else 6)
        ax.set_title(title, fontsize=8, loc='left')
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)

    lim = float(np.nanmax(np.abs(x))) or 1.0
    heat(axes[0], x, spec.obs.names, 'observations (normalised: 0 = training mean)', 'RdBu_r',
         vmin=-lim, vmax=lim)
    if rows == 4:
        names = [labels[i] for i in order]
        state = ep.state[:, order]
        lim = float(np.nanmax(np.abs(state))) or 1.0
        heat(axes[1], state, names, 'neuron activations, by layer', 'RdBu_r', vmin=-lim,
             vmax=lim)
        tau = ep.tau[:, order]
        if kind == 'tau_s':
            # tau spans decades across neurons: show each neuron's changes around its own
            # median (in the label), or the liquid part would vanish in the colour scale.
            median = np.nanmedian(tau, 0)
            rel = np.log10(np.clip(tau, 1e-6, None) / np.clip(median, 1e-6, None))
            lim = float(np.nanpercentile(np.abs(rel), 99)) or 0.1
            heat(axes[2], rel, [f'{n} ({m:.2g} s)' for n, m in zip(names, median)],
                 "liquid time constant tau: log10(tau / the neuron's median, in the label); "
                 '< 0 faster, > 0 slower', 'PuOr_r', vmin=-lim, vmax=lim)
        elif kind:
            heat(axes[2], tau, names, f'{kind.replace("_", " ")} (0: follows f1, the fast '
                 'response; 1: f2)', 'viridis', vmin=0.0, vmax=1.0)
        else:
            axes[2].text(0.5, 0.5, 'this model has no time constants', ha='center',
                         transform=axes[2].transAxes)
    ax = axes[-1]
    for j, name in enumerate(spec.action.names):
        ax.plot(t, ep.action[:, j], lw=1, label=f'{name} [{spec.action.units[j]}]')
    ax.legend(fontsize=7, loc='upper right', ncol=spec.action.size)
    ax.set_title('actions', fontsize=8, loc='left')
    ax.set_xlabel('time (s)')
    outcome = '' if ep.success is None else (' success' if ep.success else
                                             (' collision' if ep.collision else ' timeout'))
    fig.suptitle(f'episode seed {ep.seed}: {len(t)} steps, {t[-1]:.1f} s{outcome}', fontsize=9)
    fig.tight_layout()
    _save_png(fig, path, dpi=72)
    plt.close(fig)


def _plot_attribution(ep: Episode, ig: Mapping[str, np.ndarray], grouped: np.ndarray,
                      groups: Sequence[str], spec: PolicySpec, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    t = ep.time
    n_out = spec.action.size
    fig, axes = plt.subplots(2 * n_out, 1, figsize=(9, 2.6 * n_out + 1.0), sharex=True,
                             gridspec_kw={'height_ratios': [2.2, 1.2] * n_out})
    for j, name in enumerate(spec.action.names):
        ax = axes[2 * j]
        # The first steps after a reset (zero state) dwarf the rest: scale to the 99th
        # percentile so the episode stays readable (the extremes saturate).
        lim = float(np.percentile(np.abs(grouped[:, j]), 99)) or 1.0
        im = ax.imshow(grouped[:, j].T, aspect='auto', interpolation='nearest', cmap='PuOr_r',
                       vmin=-lim, vmax=lim, extent=[0.0, float(t[-1]), len(groups) - 0.5,
                                                    -0.5])
        ax.set_yticks(range(len(groups)))
        ax.set_yticklabels(groups, fontsize=6)
        ax.set_title(f'{name}: integrated-gradients attribution per sensor group '
                     f'[{spec.action.units[j]}] (orange raises {name}, purple lowers it)',
                     fontsize=8, loc='left')
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
        ax = axes[2 * j + 1]
        ax.plot(t, ig['output'][:, j], color='black', lw=1, label=f'{name} (policy)')
        ax.plot(t, ig['baseline'][:, j], color='grey', lw=1, ls='--',
                label='memory only (baseline input)')
        ax.legend(fontsize=6, loc='upper right', ncol=2)
    axes[-1].set_xlabel('time (s)')
    fig.tight_layout()
    _save_png(fig, path, dpi=72)
    plt.close(fig)


def _plot_summary(share: np.ndarray, groups: Sequence[str], spec: PolicySpec,
                  motor_labels: Sequence[str], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(groups) * 0.55 + 1.0, 0.6 * len(share) + 1.4))
    im = ax.imshow(share, cmap='Greens', vmin=0.0, vmax=max(0.01, float(share.max())))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=35, ha='right', fontsize=7)
    ax.set_yticks(range(len(share)))
    ax.set_yticklabels(motor_labels, fontsize=7)
    for j in range(share.shape[0]):
        for g in range(share.shape[1]):
            ax.text(g, j, f'{100 * share[j, g]:.0f}%', ha='center', va='center', fontsize=6)
    ax.set_title('share of |attribution|: which inputs drive which motor neuron', fontsize=8)
    fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    fig.tight_layout()
    _save_png(fig, path, dpi=80)
    plt.close(fig)


def _write_csv(path: Path, ep: Episode, spec: PolicySpec, labels: Sequence[str],
               ig: Mapping[str, np.ndarray]) -> None:
    cols = ['time_s', 'dt_s'] + [f'obs:{n}' for n in spec.obs.names]
    cols += [f'action:{n}' for n in spec.action.names]
    cols += [f'state:{n}' for n in labels] + [f'tau:{n}' for n in labels]
    cols += [f'ig:{a}<-{o}' for a in spec.action.names for o in spec.obs.names]
    cols += [f'memory_only:{a}' for a in spec.action.names]
    data = np.concatenate([ep.time[:, None], ep.dt[:, None], ep.obs, ep.action, ep.state,
                           ep.tau, ig['attribution'].reshape(len(ep.dt), -1),
                           ig['baseline']], 1)
    np.savetxt(path, data, delimiter=',', header=','.join(cols), comments='', fmt='%.6g')


# -- the report ---------------------------------------------------------------------------------
def inspect_policy(policy: str, out: os.PathLike, episodes: int = 3, seed: int = 0,
                   env_id: Optional[str] = None, ig_steps: int = 32, window: int = 1,
                   **env_kwargs: Any) -> Dict[str, Any]:
    """
    Write the inspection report of ``policy`` into ``out`` (see the module docstring).

    Args:
        policy: policy file path or built-in name.
        out: output folder (created).
        episodes, seed: rollouts (reset seeds seed .. seed + episodes - 1).
        env_id: the env to run; default the one in the policy's provenance.
        ig_steps: integrated-gradients path steps.
        window: observations attributed per action (1: the current one, the carried state
            fixed; see :func:`integrated_gradients`). A window needs more ``ig_steps`` for
            the same completeness error (the path runs through W recurrent steps).
        env_kwargs: passed to ``make_env``.

    Returns:
        The summary (also written as ``summary.json``); ``index`` is the report's path.

    Raises:
        ValueError: no env id given or recorded in the policy.

    """
    from lnn_control.models.policy import load_model
    tensors, spec, path = read_policy_file(policy)
    env_id = env_id or policy_env_id(spec)
    if not env_id:
        raise ValueError(f'{path.name}: no env recorded in the policy provenance; pass --env')
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(path)     # first: a policy without a torch model is refused at once
    runtime = load_policy(path)
    labels = list(runtime.neuron_labels)
    kind = runtime.time_constant_kind
    eps = rollout(runtime, env_id, episodes=episodes, seed=seed, **env_kwargs)
    groups = sensor_groups(spec)
    summary: Dict[str, Any] = {
        'policy': path.stem, 'path': str(path), 'kind': spec.kind, 'env_id': env_id,
        'episodes': episodes, 'seed': seed, 'ig_steps': ig_steps, 'ig_window': window,
        'time_constant_kind': kind, 'neurons': len(labels),
        'layers': _count_layers(labels),
        'groups': {g: [spec.obs.names[i] for i in idx] for g, idx in groups.items()},
        'per_episode': [], 'files': {}}
    wiring = wiring_diagram(spec, tensors, out / 'wiring', title=f'{path.stem}: '
                            f'{spec.kind.upper()} wiring')
    summary['wiring'] = (None if wiring is None
                         else {k: v for k, v in wiring.items() if k != 'files'})
    grouped_all, igs = [], []
    max_err, max_runtime_err = 0.0, 0.0
    for k, ep in enumerate(eps):
        ig = integrated_gradients(model, spec, ep.obs, ep.state_before, ep.dt, steps=ig_steps,
                                  window=window)
        igs.append(ig)
        err = np.abs(ig['attribution'].sum(-1) - (ig['output'] - ig['baseline']))
        max_err = max(max_err, float(err.max()))
        max_runtime_err = max(max_runtime_err, float(np.abs(ig['output'] - ep.action).max()))
        grouped = group_attribution(ig['attribution'], groups)
        grouped_all.append(grouped)
        _plot_traces(ep, spec, labels, kind, out / f'traces_ep{k}.png')
        _plot_attribution(ep, ig, grouped, list(groups), spec, out / f'attribution_ep{k}.png')
        _write_csv(out / f'episode_{k}.csv', ep, spec, labels, ig)
        summary['per_episode'].append({
            'seed': ep.seed, 'steps': int(len(ep.dt)), 'seconds': float(ep.time[-1]),
            'return': float(ep.reward.sum()), 'success': ep.success,
            'collision': ep.collision})
    stacked = np.abs(np.concatenate(grouped_all, 0)).mean(0)  # (A, G)
    share = stacked / np.maximum(stacked.sum(1, keepdims=True), 1e-12)
    # Wired cells: the first motor neurons in state order are the outputs (a CfC without
    # projection or an LTC maps motor neuron j to action j).
    motor_ids = [lab for lab in labels if lab.startswith('motor:')][:spec.action.size]
    motor_labels = [f'{a} ({m})' if m else a for a, m in
                    zip(spec.action.names, motor_ids + [''] * spec.action.size)]
    _plot_summary(share, list(groups), spec, motor_labels, out / 'attribution.png')
    memory = np.concatenate([np.abs(ig['baseline']) for ig in igs]).mean(0)
    current = np.concatenate([np.abs(ig['output'] - ig['baseline']) for ig in igs]).mean(0)
    summary.update({
        'ig_completeness_max_error': max_err,
        'torch_vs_runtime_max_error': max_runtime_err,
        'share': {a: {g: float(share[j, i]) for i, g in enumerate(groups)}
                  for j, a in enumerate(spec.action.names)},
        'motor_neurons': dict(zip(spec.action.names, motor_ids)),
        'mean_abs_memory_term': dict(zip(spec.action.names, memory.tolist())),
        'mean_abs_input_term': dict(zip(spec.action.names, current.tolist())),
        'situations': situation_shares(eps, grouped_all, groups, spec)})
    summary['files'] = sorted(p.name for p in out.iterdir()
                              if p.suffix in ('.png', '.svg', '.csv'))
    summary['index'] = str(out / 'index.html')
    (out / 'summary.json').write_text(json.dumps(summary, indent=2, sort_keys=True))
    (out / 'index.html').write_text(_html(summary, spec, eps))
    return summary


def _count_layers(labels: Sequence[str]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for label in labels:
        layer = label.split(':')[0]
        counts[layer] = counts.get(layer, 0) + 1
    return counts


def _top(shares: Mapping[str, float], n: int = 2) -> str:
    best = sorted(shares.items(), key=lambda kv: -kv[1])[:n]
    return ' and '.join(f'{g} ({100 * v:.0f}%)' for g, v in best)


def _html(summary: Mapping[str, Any], spec: PolicySpec, eps: Sequence[Episode]) -> str:
    e = html.escape
    name = summary['policy']
    outcomes = [ep.success for ep in eps]
    lines = [f'<p><b>{e(name)}</b>: a {e(spec.kind.upper())} policy with '
             f'{summary["neurons"]} state values '
             f'({e(", ".join(f"{v} {k}" for k, v in summary["layers"].items()))}), '
             f'run for {len(eps)} episode(s) of <code>{e(summary["env_id"])}</code> from seed '
             f'{summary["seed"]}'
             + (f': {sum(bool(o) for o in outcomes)} reached the goal.' if None not in outcomes
                else '.') + '</p>']
    for j, (action, shares) in enumerate(summary['share'].items()):
        motor = summary['motor_neurons'].get(action)
        unit = e(spec.action.units[j])
        lines.append(f'<p><b>{e(action)}</b>'
                     + (f' (motor neuron <code>{e(motor)}</code>)' if motor else '')
                     + f' answers mostly to {e(_top(shares))} among the current readings. '
                     f'On average its memory-only part (the action the same state gives at '
                     f'the average reading) is {summary["mean_abs_memory_term"][action]:.3f} '
                     f"{unit} in size, the readings' part "
                     f'{summary["mean_abs_input_term"][action]:.3f} {unit}.</p>')
    situations = {'obstacle ahead': 'obstacle straight ahead (the front sector under ~0.6 m)',
                  'path clear': 'path clear (every front sector beyond ~1.1 m)'}
    for situation, entry in summary['situations'].items():
        text = e(situations.get(situation, situation))
        if entry['steps']:
            parts = '; '.join(f'{e(a)}: {e(_top(entry[a]))}' for a in spec.action.names)
            lines.append(f'<p>With the <b>{text}</b> ({entry["steps"]} steps): '
                         f'{parts}.</p>')
        else:
            lines.append(f'<p>No step with the {text} in these episodes.</p>')
    kind = summary['time_constant_kind']
    tau_text = {'tau_s': 'the liquid time constant tau = cm / (gleak + synaptic conductances) '
                'of every neuron, in seconds (log scale): it shrinks when synapses open, so '
                'the neuron reacts faster',
                'time_gate': 'the CfC time gate sigmoid(t_a dt + t_b) of every neuron: how far '
                'the neuron has moved from its fast response f1 to its slow one f2',
                'decay': 'the CfC (pure mode) decay factor exp(-dt (|w_tau| + |f|))'}.get(
                    kind, 'none: this model has no time constants')
    wiring = summary.get('wiring')
    if wiring is None:
        wiring_html = ('<p>No wiring: this model is not a wired liquid network (MLP, GRU, LSTM '
                       'or a CfC with dense heads), so there is no neuron-level diagram.</p>')
    else:
        wiring_html = (
            f'<p>{wiring["synapses"]} synapses ({wiring["excitatory"]} excitatory) of a '
            f'<code>{e(str(wiring["kind"]))}</code> wiring. The learned sign agrees with the '
            f'wiring\'s declared polarity for {wiring["declared_agree"]} of them'
            + (' (the CfC does not use the declared polarity: the wiring only masks its '
               'weights).' if spec.kind == 'cfc' else '.') + '</p>'
            '<p><a href="wiring.svg"><img src="wiring.png" alt="wiring diagram"></a></p>')
    episodes_html = ''.join(
        f'<h3>Episode seed {ep.seed}</h3>'
        f'<p><img src="traces_ep{k}.png" alt="traces, episode {k}"></p>'
        f'<p><img src="attribution_ep{k}.png" alt="attribution, episode {k}"></p>'
        f'<p>Data: <a href="episode_{k}.csv">episode_{k}.csv</a></p>'
        for k, ep in enumerate(eps))
    groups = ''.join(f'<li>{e(g)}: {e(", ".join(m))}</li>'
                     for g, m in summary['groups'].items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Why did it do that? {e(name)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}}
img{{max-width:100%}} code{{background:#f3f3f3}}</style></head>
<body>
<h1>Why did it do that? <code>{e(name)}</code></h1>
<h2>Summary</h2>
{''.join(lines)}
<h2>Which inputs drive which motor neurons</h2>
<p><img src="attribution.png" alt="attribution summary"></p>
<p>Sensor groups: </p><ul>{groups}</ul>
<h2>Wiring</h2>
{wiring_html}
<h2>Episodes</h2>
<p>Time constants shown: {e(tau_text)}.</p>
{episodes_html}
<h2>Method</h2>
<p>Attribution is integrated gradients through one recurrent step with the carried hidden
state fixed: for each step the action is split exactly into the action at the average reading
(the normaliser mean) with the same state, the <i>memory-only</i> part, plus one term per
reading; a group's attribution is the sum of its members'. {summary["ig_steps"]} path steps;
largest completeness error {summary["ig_completeness_max_error"]:.2e}; the torch model rebuilt
from the policy file reproduces the numpy runtime's actions to
{summary["torch_vs_runtime_max_error"]:.2e}. Attributions explain the policy's raw action,
before the actuator's speed and acceleration limits.</p>
<p>All numbers: <a href="summary.json">summary.json</a>.</p>
</body></html>
"""
