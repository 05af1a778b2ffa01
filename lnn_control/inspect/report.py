# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""``inspect_policy``: rollouts, attributions and figures into a folder with an HTML page."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from lnn_control.inspect.attribution import Episode
from lnn_control.inspect.attribution import group_attribution
from lnn_control.inspect.attribution import integrated_gradients
from lnn_control.inspect.attribution import policy_env_id
from lnn_control.inspect.attribution import rollout
from lnn_control.inspect.attribution import sensor_groups
from lnn_control.inspect.attribution import situation_shares
from lnn_control.inspect.figures import plot_attribution
from lnn_control.inspect.figures import plot_summary
from lnn_control.inspect.figures import plot_traces
from lnn_control.inspect.figures import wiring_diagram
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
import numpy as np

__all__ = ['inspect_policy']


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
        plot_traces(ep, spec, labels, kind, out / f'traces_ep{k}.png')
        plot_attribution(ep, ig, grouped, list(groups), spec, out / f'attribution_ep{k}.png')
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
    plot_summary(share, list(groups), spec, motor_labels, out / 'attribution.png')
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
