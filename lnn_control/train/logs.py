# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The logs of an imitation run.

``log.csv`` (a row per round), ``steps.csv`` (the training loss every 50 gradient steps),
``learning_curve.png`` and the resolved ``config.yaml``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, List

__all__ = ['write_logs', 'write_yaml', 'LOG_FIELDS']

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
    if val or roll:     # after the first round there is nothing to label yet
        bottom.legend(fontsize=8)
    fig.suptitle(out.name)
    fig.tight_layout()
    fig.savefig(out / 'learning_curve.png', dpi=100)
    plt.close(fig)


def write_yaml(path: Path, data: Dict[str, Any]) -> None:
    """Write ``data`` as YAML (the resolved config of a run)."""
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
