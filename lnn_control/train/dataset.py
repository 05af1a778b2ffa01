# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recorded training data sets: labelled sequences in one ``.npz`` file (numpy only).

``lnn-control dataset from-bag`` writes one from rosbag2 recordings
(:mod:`lnn_control.ros.bags`); ``lnn-control train`` reads it when the config names it
(``bc.dataset: PATH``): the behaviour-cloning fit then uses the recorded sequences instead of
the expert's simulated demonstrations. The file is an ``.npz`` read with
``allow_pickle=False``; steps of all episodes are stored flat, in order:

==============  ==========  =======  ========================================================
array           shape       dtype    meaning
==============  ==========  =======  ========================================================
``obs``         (N, O)      float32  observation at each step (the policy's Observer output)
``dt``          (N,)        float32  seconds since the previous step of the same episode
                                     (header stamps); the nominal period at an episode start
``act``         (N, A)      float32  the recorded command after that observation (the label)
``stamp``       (N,)        float64  header stamp of each step (s)
``lengths``     (E,)        int64    steps per episode; episode e is the ``lengths[e]`` steps
                                     after the first ``lengths[:e].sum()``
``success``     (E,)        bool     the episode ended within ``goal_tolerance`` of its goal
``meta``        ()          str      JSON: format, version, observer config, obs/action
                                     names, sources, counts of dropped steps by reason
==============  ==========  =======  ========================================================

Episode boundaries are where the hidden state must start afresh: a new goal, a gap in the
recording, stamps going backwards, a new bag file. The ``obs`` layout is the Observer's
(``lnn_control.runtime.observer``); the ``meta`` keeps the Observer config, and training
refuses a data set whose config differs from the policy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Union
import zipfile

import numpy as np

__all__ = ['DATASET_FORMAT', 'DATASET_VERSION', 'DatasetError', 'SequenceDataset',
           'save_dataset', 'load_dataset']

DATASET_FORMAT = 'lnn_control.sequences'
DATASET_VERSION = 1
_ARRAYS = {'obs': np.float32, 'dt': np.float32, 'act': np.float32, 'stamp': np.float64,
           'lengths': np.int64, 'success': np.bool_}


class DatasetError(ValueError):
    """A data set file is missing, unreadable or inconsistent; the message says which."""


@dataclass
class SequenceDataset:
    """
    Labelled sequences (see the module docstring for every array).

    Attributes:
        obs, dt, act, stamp: per-step arrays, all episodes concatenated.
        lengths, success: per-episode arrays.
        meta: JSON-able description (observer config, names, sources, dropped counts).

    """

    obs: np.ndarray
    dt: np.ndarray
    act: np.ndarray
    stamp: np.ndarray
    lengths: np.ndarray
    success: np.ndarray
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, dtype in _ARRAYS.items():
            setattr(self, name, np.asarray(getattr(self, name), dtype=dtype))
        self.check()

    def check(self) -> None:
        """Raise DatasetError unless shapes agree and every value is finite and sensible."""
        n = self.dt.shape[0] if self.dt.ndim == 1 else -1
        if self.obs.ndim != 2 or self.act.ndim != 2 or n < 0:
            raise DatasetError(f'obs and act must be 2-d, dt 1-d; got obs {self.obs.shape}, '
                               f'dt {self.dt.shape}, act {self.act.shape}')
        for name in ('obs', 'act', 'stamp'):
            if getattr(self, name).shape[0] != n:
                raise DatasetError(f'{name} has {getattr(self, name).shape[0]} steps, dt {n}')
        if self.lengths.ndim != 1 or self.success.shape != self.lengths.shape:
            raise DatasetError(f'lengths {self.lengths.shape} and success '
                               f'{self.success.shape} must be matching 1-d arrays')
        if (self.lengths < 1).any() or int(self.lengths.sum()) != n:
            raise DatasetError(f'episode lengths must be >= 1 and sum to the {n} steps, got '
                               f'sum {int(self.lengths.sum())}, min '
                               f'{int(self.lengths.min(initial=1))}')
        for name in ('obs', 'dt', 'act', 'stamp'):
            if not np.isfinite(getattr(self, name)).all():
                raise DatasetError(f'{name} holds non-finite values')
        if (self.dt <= 0).any():
            raise DatasetError('dt must be positive at every step')

    @property
    def steps(self) -> int:
        """Return the number of labelled steps."""
        return int(self.dt.size)

    @property
    def episodes(self) -> int:
        """Return the number of episodes."""
        return int(self.lengths.size)

    def split(self) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """Yield ``(obs, dt, act, success)`` of each episode, in order."""
        start = 0
        for length, success in zip(self.lengths.tolist(), self.success.tolist()):
            end = start + length
            yield self.obs[start:end], self.dt[start:end], self.act[start:end], bool(success)
            start = end


def save_dataset(data: SequenceDataset, path: Union[str, os.PathLike]) -> Path:
    """Write ``data`` to ``path`` (``.npz``; written to a temporary name, then renamed)."""
    data.check()
    path = Path(path)
    if path.suffix != '.npz':
        raise DatasetError(f'{path}: a data set file ends in .npz')
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {'format': DATASET_FORMAT, 'version': DATASET_VERSION, **data.meta}
    tmp = path.with_name(f'.{path.stem}.tmp-{os.getpid()}.npz')
    arrays = {name: getattr(data, name) for name in _ARRAYS}
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True, allow_nan=False)),
                        **arrays)
    os.replace(tmp, path)
    return path


def load_dataset(path: Union[str, os.PathLike]) -> SequenceDataset:
    """Read a data set written by :func:`save_dataset` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f'{path}: no such data set file')
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f'{path}: not a readable .npz data set ({exc})') from None
    missing = sorted((set(_ARRAYS) | {'meta'}) - set(arrays))
    if missing:
        raise DatasetError(f'{path}: missing arrays {missing}')
    try:
        meta = json.loads(str(arrays.pop('meta')))
    except json.JSONDecodeError as exc:
        raise DatasetError(f'{path}: metadata is not JSON ({exc})') from None
    if not isinstance(meta, dict) or meta.get('format') != DATASET_FORMAT:
        raise DatasetError(f'{path}: not an {DATASET_FORMAT} file')
    version = meta.get('version')
    if not isinstance(version, int) or version > DATASET_VERSION:
        raise DatasetError(f'{path}: format version {version!r}; this lnn_control reads up '
                           f'to {DATASET_VERSION}')
    try:
        return SequenceDataset(meta=meta, **{name: arrays[name] for name in _ARRAYS})
    except DatasetError as exc:
        raise DatasetError(f'{path}: {exc}') from None


def nominal_period(dt: np.ndarray, default: float = math.nan) -> float:
    """Median of the positive ``dt`` values (``default`` when there are none)."""
    positive = np.asarray(dt, dtype=np.float64)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    return float(np.median(positive)) if positive.size else default
