# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The robustness suite: every policy under each perturbation of a grid, on the same seeds.

:func:`run_suite` evaluates several policies (liquid ones, baselines, the expert) on the same
seeds under each perturbation of a grid (one perturbation at a time: ``ROBUSTNESS_GRID`` for
PiBotNav and vector envs, ``LANE_GRID`` for the camera task) and writes ``robustness.md``
(rows perturbations, columns policies: success rate, or mean return for envs without
success, and the fraction of clean performance kept; then the env's own metrics, e.g. the
lane deviation), ``robustness.json`` and ``robustness.png``. ``lnn-control eval --suite
robustness`` runs it. Knobs: :mod:`lnn_control.envs.perturb`.
"""

from __future__ import annotations

import json
from pathlib import Path
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from lnn_control.envs.experts import expert_class
from lnn_control.envs.experts import NoExpert
from lnn_control.envs.make import make_env
from lnn_control.envs.perturb import Perturbation
from lnn_control.runtime.policy import load_policy
from lnn_control.train.evaluate import check_sizes
from lnn_control.train.evaluate import evaluate
from lnn_control.train.evaluate import jsonable
from lnn_control.train.evaluate import portable
from lnn_control.train.evaluate import unpacked
from lnn_control.train.executor import Executor
from lnn_control.train.executor import make_executor
import numpy as np

__all__ = ['ROBUSTNESS_GRID', 'LANE_GRID', 'GRIDS', 'BUILTIN_PREFIX', 'default_policies',
           'run_suite', 'suite_markdown', 'suite_plot', 'write_suite']

# One perturbation at a time (plus the drop + jitter pair a real robot sees together), at
# magnitudes a TurtleBot-class robot meets: lost and late messages, scheduling jitter, a
# payload, a slippery floor, a weak or mismatched pair of motors.
ROBUSTNESS_GRID: Tuple[str, ...] = (
    'clean', 'noise=0.05', 'noise=0.1', 'drop=0.2', 'drop=0.4', 'jitter=0.3',
    'drop=0.2,jitter=0.3', 'delay=0.1', 'mass=1.5', 'friction=0.5', 'gain=0.7',
    'gain=0.9:1.1')
# The camera's own: a floor never seen, lighting, an occluded lens, a camera mount pitched
# +-5 deg (beyond the +-4 deg training draws), pixel noise, lost frames, frame-time jitter
# (the NCP paper's tests, and issue 19's).
LANE_GRID: Tuple[str, ...] = (
    'clean', 'textures=unseen', 'brightness=60', 'brightness=-60', 'occlusion=0.4', 'pitch=5',
    'pitch=-5', 'noise=20', 'drop=0.3', 'jitter=0.3')
# env id -> its grid (others: ROBUSTNESS_GRID, what a vector env can take of it).
GRIDS: Dict[str, Tuple[str, ...]] = {'lnn_control/PiBotLane-v0': LANE_GRID}

# env id -> name prefix of its built-in policies (``lnn_control/policies/<prefix>_<kind>``).
BUILTIN_PREFIX: Dict[str, str] = {
    'lnn_control/PiBotNav-v0': 'pibot_nav',
    'lnn_control/PiBotLane-v0': 'pibot_lane',
    'InvertedPendulum-v5': 'pendulum',
    'InvertedDoublePendulum-v5': 'inverted_double_pendulum',
}
_KIND_ORDER = ('cfc', 'ltc', 'mlp', 'gru', 'lstm')   # liquid first, then the baselines


def default_policies(env_id: str) -> List[str]:
    """Return the built-in policies for ``env_id`` (liquid first, then baselines) + 'expert'."""
    from lnn_control.runtime.policy import builtin_policies
    prefix = BUILTIN_PREFIX.get(env_id)
    names = [n for n in builtin_policies() if prefix and n.startswith(prefix + '_')]

    def rank(name: str) -> Tuple[int, str]:
        kind = name.rsplit('_', 1)[-1]
        return (_KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER), name)
    names.sort(key=rank)
    try:
        expert_class('', env_id)
        names.append('expert')
    except NoExpert:
        pass
    return names


def _unsupported(env_id: str, perturbation: Perturbation,
                 env_kwargs: Mapping[str, Any]) -> Optional[str]:
    """Return why ``perturbation`` cannot be applied to ``env_id`` (None if it can)."""
    try:
        make_env(env_id, perturb=perturbation, **env_kwargs).close()
    except ValueError as exc:
        return str(exc)
    return None


def _suite_cell(job: Tuple[str, Any, str, str, int, int, Dict[str, Any]]) -> Dict[str, Any]:
    name, policy, label, env_id, episodes, seed, env_kwargs = job
    with unpacked(policy) as loadable:  # a policy file may travel with the job (portable)
        cell = evaluate(loadable, env_id, episodes=episodes, seed=seed, perturb=label,
                        **env_kwargs)
    cell['policy'] = name
    return cell


def run_suite(policies: Optional[List[str]] = None,
              env_id: str = 'lnn_control/PiBotNav-v0', episodes: int = 20, seed: int = 10_000,
              grid: Optional[List[str]] = None, out: Optional[str] = None, workers: int = 2,
              env_kwargs: Optional[Mapping[str, Any]] = None,
              executor: Optional[Executor] = None) -> Dict[str, Any]:
    """
    Evaluate each policy under each perturbation of ``grid`` on the same seeds.

    Args:
        policies: policy files, built-in names or 'expert' (default: ``default_policies``).
        env_id: the env; env_kwargs: extra ``make_env`` kwargs.
        episodes, seed: episodes per cell, seeds seed .. seed + episodes - 1 in every cell
            (paired: each policy meets the same starts, layouts and random streams).
        grid: perturbation texts (default: the env's ``GRIDS`` entry, else
            ``ROBUSTNESS_GRID``); 'clean' is added first if
            missing. Perturbations the env cannot apply (e.g. two gains for a pendulum with
            one motor) are skipped and listed under ``skipped``.
        out: folder for ``robustness.md``, ``robustness.json``, ``robustness.png`` (None: no
            files).
        workers: processes (cells are independent; 1 runs in this process).
        executor: where the cells run instead (:mod:`lnn_control.train.executor`; e.g. Ray
            tasks on a cluster, ``eval --suite robustness --ray``): each cell depends on its
            policy, perturbation and seeds alone, so the report is the same wherever it ran.

    Returns:
        The JSON-able report: ``env_id``, ``episodes``, ``seed``, ``metric``, ``policies``,
        ``names`` (short table headers), ``perturbations``, ``skipped``,
        ``results[policy][perturbation]`` (``evaluate`` results),
        ``kept[policy][perturbation]`` (score / clean score, None if undefined),
        ``wall_seconds``.

    """
    started = time.perf_counter()
    env_kwargs = dict(env_kwargs or {})
    policies = list(policies) if policies else default_policies(env_id)
    if not policies:
        raise ValueError(f'no policies to evaluate on {env_id}: no built-in policies for it '
                         f'and no expert; pass some with policies=[...] / --policies')
    perturbations = [Perturbation.coerce(g)
                     for g in (grid or GRIDS.get(env_id, ROBUSTNESS_GRID))]
    if not any(p.is_clean for p in perturbations):
        perturbations.insert(0, Perturbation())
    labels: List[str] = []
    skipped: Dict[str, str] = {}
    for p in perturbations:
        reason = _unsupported(env_id, p, env_kwargs)
        if reason:
            skipped[p.label] = reason
        elif p.label not in labels:
            labels.append(p.label)
    probe = make_env(env_id, **env_kwargs)
    try:
        for name in policies:    # fail before the long run on a wrong or mismatched policy
            if name != 'expert':
                check_sizes(load_policy(name), probe, name)
    finally:
        probe.close()
    shipped = {name: portable(name) for name in policies}     # each file read once
    jobs = [(name, shipped[name], label, env_id, episodes, seed, env_kwargs)
            for name in policies for label in labels]
    if executor is None:
        with make_executor(workers=min(workers, len(jobs))) as pool:
            cells = pool.run(_suite_cell, jobs)
    else:
        cells = executor.run(_suite_cell, jobs)
    results: Dict[str, Dict[str, Any]] = {name: {} for name in policies}
    for (name, _, label, *_), cell in zip(jobs, cells):
        results[name][label] = cell
    metric = cells[0]['metric']
    kept = {name: {label: _kept(results[name][label]['score'], results[name]['clean']['score'])
                   for label in labels} for name in policies}
    report = {'env_id': env_id, 'episodes': int(episodes), 'seed': int(seed), 'metric': metric,
              'policies': policies, 'names': _short_names(policies),
              'perturbations': labels, 'skipped': skipped,
              'env_kwargs': jsonable(env_kwargs), 'results': results, 'kept': kept,
              'wall_seconds': time.perf_counter() - started}
    if out is not None:
        write_suite(report, out)
    return report


def _short_names(policies: List[str]) -> Dict[str, str]:
    """Table headers: a file's stem ('runs/x/pibot_nav_cfc.safetensors' -> 'pibot_nav_cfc')."""
    short = {name: Path(name).stem if Path(name).suffix in ('.safetensors', '.npz') else name
             for name in policies}
    if len(set(short.values())) < len(short):
        return {name: name for name in policies}
    return short


def _kept(score: float, clean: float) -> Optional[float]:
    if clean is None or score is None or not clean > 0.0:
        return None
    return float(score / clean)


def suite_markdown(report: Mapping[str, Any]) -> str:
    """Return the markdown table: rows perturbations, columns policies, score (kept %)."""
    metric = report['metric']
    policies = report['policies']
    headers = [report.get('names', {}).get(name, name) for name in policies]
    fmt = '{:.2f}' if metric == 'success_rate' else '{:.1f}'
    last = report['seed'] + report['episodes'] - 1
    lines = [
        f'# Robustness on {report["env_id"]}',
        '',
        f'{metric.replace("_", " ")} over {report["episodes"]} episodes (seeds '
        f'{report["seed"]}-{last}, the same in every cell), and in brackets the fraction of '
        f'the policy\'s clean {metric.replace("_", " ")} it keeps. Perturbation knobs: see '
        f'`lnn_control.envs.perturb`.',
        '',
        '| perturbation | ' + ' | '.join(headers) + ' |',
        '|---|' + '---|' * len(policies),
    ]
    for label in report['perturbations']:
        cells = []
        for name in policies:
            score = report['results'][name][label]['score']
            kept = report['kept'][name][label]
            text = fmt.format(score)
            if label != 'clean':
                text += f' ({kept:.0%})' if kept is not None else ' (n/a)'
            cells.append(text)
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    collides = any(report['results'][name][label].get('collision_rate') is not None
                   for name in policies for label in report['perturbations'])
    if 'success_rate' == metric and collides:   # envs without collisions (the lane) skip it
        lines += ['', 'collision rate:', '',
                  '| perturbation | ' + ' | '.join(headers) + ' |',
                  '|---|' + '---|' * len(policies)]
        for label in report['perturbations']:
            rates = [report['results'][name][label]['collision_rate'] for name in policies]
            lines.append(f'| {label} | ' + ' | '.join(
                '-' if r is None else f'{r:.2f}' for r in rates) + ' |')
    first = report['results'][policies[0]][report['perturbations'][0]]
    for key in sorted(first.get('metrics', {})):
        lines += ['', f'{key.replace("_", " ")} (mean per episode):', '',
                  '| perturbation | ' + ' | '.join(headers) + ' |',
                  '|---|' + '---|' * len(policies)]
        for label in report['perturbations']:
            values = [report['results'][name][label]['metrics'][key] for name in policies]
            lines.append(f'| {label} | ' + ' | '.join(f'{v:.2f}' for v in values) + ' |')
    if 'expert' in policies:
        lines += ['', "The expert is the env's teacher (`lnn_control.envs.experts`); a "
                  'privileged one (PiBotNav) reads the true state, so observation noise does '
                  'not reach it.']
    if report.get('skipped'):
        lines += ['', 'Skipped (not applicable to this env):', '']
        lines += [f'- `{label}`: {why}' for label, why in report['skipped'].items()]
    return '\n'.join(lines) + '\n'


def suite_plot(report: Mapping[str, Any], path: str) -> None:
    """Write the grouped bar chart: score and fraction kept per perturbation and policy."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = report['perturbations']
    policies = report['policies']
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(policies))
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 0.9 * len(labels) + 3), 7), sharex=True)
    for i, name in enumerate(policies):
        scores = [report['results'][name][label]['score'] for label in labels]
        kept = [report['kept'][name][label] for label in labels]
        kept = [np.nan if k is None else k for k in kept]
        offset = (i - (len(policies) - 1) / 2) * width
        axes[0].bar(x + offset, scores, width, label=report.get('names', {}).get(name, name))
        axes[1].bar(x + offset, kept, width, label=name)
    axes[0].set_ylabel(report['metric'].replace('_', ' '))
    axes[0].set_title(f'{report["env_id"]}: {report["episodes"]} episodes per cell', loc='right')
    axes[0].legend(fontsize=8, ncol=min(len(policies), 5), loc='lower left',
                   bbox_to_anchor=(0.0, 1.08), frameon=False)
    axes[1].axhline(1.0, color='k', linewidth=0.8)
    axes[1].set_ylabel('fraction of clean kept')
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(labels, rotation=35, ha='right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_suite(report: Mapping[str, Any], out: str) -> Dict[str, str]:
    """Write ``robustness.md``, ``robustness.json`` and ``robustness.png`` into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {'md': folder / 'robustness.md', 'json': folder / 'robustness.json',
             'png': folder / 'robustness.png'}
    paths['json'].write_text(json.dumps(jsonable(report), indent=1) + '\n')   # first: the data
    paths['md'].write_text(suite_markdown(report))
    suite_plot(report, str(paths['png']))
    return {k: str(v) for k, v in paths.items()}
