# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The report's pictures: the wiring diagram, per-episode traces and attribution plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from lnn_control.inspect.attribution import Episode
from lnn_control.runtime.policy import PolicySpec
from lnn_control.wirings import Wiring
import numpy as np

__all__ = ['wiring_synapses', 'wiring_diagram', 'plot_traces', 'plot_attribution',
           'plot_summary']

_LAYER_ORDER = ('sensory', 'inter', 'command', 'motor')
_LAYER_COLOURS = {'sensory': '#9ecae1', 'inter': '#c7e9c0', 'command': '#fdd0a2',
                  'motor': '#fcbba1', 'hidden': '#dadaeb'}
_EXCITATORY, _INHIBITORY = '#d62728', '#1f77b4'


# -- wiring -------------------------------------------------------------------------------------
def wiring_synapses(spec: PolicySpec, tensors: Mapping[str, np.ndarray]
                    ) -> Optional[Dict[str, Any]]:
    """
    Return each synapse of a wired CfC/LTC with its learned strength and sign.

    They are the model's own ``synapse_weights`` (:mod:`lnn_control.models.synapses`).

    Returns:
        None without a wiring, else ``wiring``, ``sensory`` and ``recurrent``: lists of
        (src, dest, strength, sign, declared polarity).

    """
    from lnn_control.models.base import MODELS
    from lnn_control.train.checkpoint import state_dict
    import lnn_control.models  # noqa: F401  (registers every kind)
    if spec.kind not in MODELS:
        return None
    model = MODELS[spec.kind].from_config(dict(spec.config))
    model.load_state_dict(state_dict(tensors))
    return model.synapse_weights()


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


def plot_traces(ep: Episode, spec: PolicySpec, labels: Sequence[str], kind: str,
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


def plot_attribution(ep: Episode, ig: Mapping[str, np.ndarray], grouped: np.ndarray,
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


def plot_summary(share: np.ndarray, groups: Sequence[str], spec: PolicySpec,
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
