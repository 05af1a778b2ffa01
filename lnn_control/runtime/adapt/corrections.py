# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recorded corrections and offline finetuning (``lnn-control finetune``).

A drive with its operator's corrections (:class:`~lnn_control.runtime.sequences.Corrections`,
the sequence store with NaN rows where the policy drove), as arrays or a CSV file, replayed
through the policy with the same online update the controller applies (:func:`finetune`).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Optional, Union

from lnn_control.runtime.adapt.adapter import AdaptationConfig
from lnn_control.runtime.adapt.adapter import OnlineAdapter
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.sequences import Corrections
import numpy as np

__all__ = ['Corrections', 'read_corrections', 'write_corrections', 'finetune']


def write_corrections(path: Union[str, os.PathLike], data: Corrections) -> Path:
    """Save as ``.npz`` (arrays obs, dt, action, episode_start) or ``.csv`` (see read)."""
    path = Path(path)
    if path.suffix == '.npz':
        np.savez(path, obs=data.obs, dt=data.dt, action=data.action,
                 episode_start=data.episode_start)
        return path
    with open(path, 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(['dt', 'episode_start']
                        + [f'obs{i}' for i in range(data.obs.shape[1])]
                        + [f'action{i}' for i in range(data.action.shape[1])])
        for k in range(data.dt.size):
            writer.writerow([repr(float(data.dt[k])), int(data.episode_start[k])]
                            + [repr(float(v)) for v in data.obs[k]]
                            + ['' if math.isnan(v) else repr(float(v))
                               for v in data.action[k]])
    return path


def read_corrections(path: Union[str, os.PathLike]) -> Corrections:
    """
    Read a corrections file.

    ``.npz`` (read with ``allow_pickle=False``): arrays ``obs`` (T, n), ``dt`` (T,),
    ``action`` (T, m; NaN rows: no correction) and optionally ``episode_start`` (T,; default
    only the first step). ``.csv``: a header row, then one row per control step with columns
    ``dt``, ``episode_start`` (0/1), ``obs0..obs{n-1}``, ``action0..action{m-1}`` (empty
    action cells: no correction).
    """
    path = Path(path)
    if path.suffix == '.npz':
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ('obs', 'dt', 'action') if k not in data.files]
            if missing:
                raise ValueError(f'{path}: corrections npz lacks arrays {missing}')
            start = (data['episode_start'] if 'episode_start' in data.files
                     else np.arange(data['dt'].size) == 0)
            return Corrections(data['obs'], data['dt'], data['action'], start)
    if path.suffix != '.csv':
        raise ValueError(f'{path}: corrections must be .npz or .csv')
    with open(path, newline='') as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ValueError(f'{path}: no data rows')
    header = rows[0]
    obs_cols = [i for i, name in enumerate(header) if name.startswith('obs')]
    act_cols = [i for i, name in enumerate(header) if name.startswith('action')]
    if header[:2] != ['dt', 'episode_start'] or not obs_cols or not act_cols:
        raise ValueError(f'{path}: header must be dt, episode_start, obs0.., action0..')

    def num(text: str) -> float:
        return float(text) if text.strip() else math.nan

    body = rows[1:]
    return Corrections(obs=[[num(r[i]) for i in obs_cols] for r in body],
                       dt=[num(r[0]) for r in body],
                       action=[[num(r[i]) for i in act_cols] for r in body],
                       episode_start=[bool(int(r[1] or 0)) for r in body])


def finetune(policy: Policy, data: Corrections,
             config: Optional[AdaptationConfig] = None) -> OnlineAdapter:
    """
    Replay a recorded drive and apply the online update to its corrections, offline.

    The policy is stepped on every recorded observation with its recorded ``dt`` (so its
    features are what they were online) and learns from every corrected step, exactly as
    the controller does; the rollback monitor sees the correction steps as interventions.
    Returns the adapter (``adapter.save(path)`` writes the finetuned policy).
    """
    config = config or AdaptationConfig()
    config.enabled = True
    adapter = OnlineAdapter(policy, config)
    if data.obs.shape[1] != policy.spec.obs.size:
        raise ValueError(f'corrections hold {data.obs.shape[1]} observations per step, the '
                         f'policy takes {policy.spec.obs.size}')
    if data.action.shape[1] != policy.spec.action.size:
        raise ValueError(f'corrections hold {data.action.shape[1]} actions per step, the '
                         f'policy gives {policy.spec.action.size}')
    policy.reset()
    for k in range(data.dt.size):
        if data.episode_start[k]:
            policy.reset()
        dt = data.dt[k]
        if not (math.isfinite(dt) and dt > 0.0) or not np.isfinite(data.obs[k]).all():
            adapter.rejected += 1
            continue
        policy.step(data.obs[k], dt)
        corrected = bool(np.isfinite(data.action[k]).all())
        if corrected:
            adapter.correct(data.action[k])
        adapter.observe(corrected)
    return adapter
