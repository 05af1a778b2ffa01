# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one sequence store: demonstrations, recorded data sets and corrections (numpy only).

Episodes are stored flat, steps of all episodes in order, so a recurrent model can be trained
on chunks of consecutive steps with the real ``dt`` of each:

==============  ==========  =======  ========================================================
array           shape       dtype    meaning
==============  ==========  =======  ========================================================
``obs``         (N, ...)    any      observation at each step: float32 vectors (the policy's
                                     Observer output) or uint8 camera frames (H, W, C)
``dt``          (N,)        float32  seconds since the previous step of the same episode
                                     (header stamps); the nominal period at an episode start
``act``         (N, A)      float32  the action after that observation: the label (an expert's,
                                     a recorded command, an operator's correction); a row of
                                     NaN is a step without one (the policy drove)
``lengths``     (E,)        int64    steps per episode; episode e is the ``lengths[e]`` steps
                                     after the first ``lengths[:e].sum()``
``stamp``       (N,)        float64  optional: header stamp of each step (s)
``success``     (E,)        bool     optional: the episode reached its goal
``rounds``      (E,)        int64    optional: the training round that collected it
==============  ==========  =======  ========================================================

The same store is written and read as a ``.npz`` file (:func:`save_dataset`,
:func:`load_dataset`: ``allow_pickle=False``, the ``meta`` JSON holds the Observer config,
names, sources, counts of dropped steps); ``lnn-control dataset from-bag`` writes one, and
``bc.dataset`` of a training config reads it. :class:`Corrections` is the store built from a
per-step ``episode_start`` mask, as ``lnn-control finetune`` reads corrections.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union
import zipfile

import numpy as np

__all__ = ['Sequences', 'Corrections', 'DatasetError', 'save_dataset', 'load_dataset',
           'DATASET_FORMAT', 'DATASET_VERSION', 'nominal_period']

DATASET_FORMAT = 'lnn_control.sequences'
DATASET_VERSION = 1
_OPTIONAL = {'stamp': (np.float64, 'step'), 'success': (np.bool_, 'episode'),
             'rounds': (np.int64, 'episode')}


class DatasetError(ValueError):
    """A data set is missing, unreadable or inconsistent; the message says which."""


class Sequences:
    """
    Episodes as flat arrays (see the module docstring); build, extend, split, sample.

    Args:
        obs, dt, act, lengths: the per-step arrays and episode lengths.
        stamp, success, rounds: the optional columns (None: absent).
        meta: JSON-able description (observer config, names, sources, dropped counts).
        check_finite: refuse non-finite observations and dt (recorded data sets);
            ``act`` may hold NaN rows (steps without a label) either way.

    """

    def __init__(self, obs: Any, dt: Any, act: Any, lengths: Any, *, stamp: Any = None,
                 success: Any = None, rounds: Any = None,
                 meta: Optional[Dict[str, Any]] = None, check_finite: bool = True) -> None:
        obs = np.asarray(obs)
        self.obs = obs if obs.dtype == np.uint8 else obs.astype(np.float32, copy=False)
        self.dt = np.asarray(dt, dtype=np.float32).reshape(-1)
        self.act = np.asarray(act, dtype=np.float32)
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        for name, value in (('stamp', stamp), ('success', success), ('rounds', rounds)):
            setattr(self, name, None if value is None else
                    np.asarray(value, dtype=_OPTIONAL[name][0]).reshape(-1))
        self.meta = dict(meta or {})
        self.check(check_finite)

    @classmethod
    def empty(cls, obs_shape: Sequence[int], act_size: int, obs_dtype: Any = np.float32,
              **meta: Any) -> 'Sequences':
        """Return an empty store for observations of ``obs_shape`` and ``act_size`` actions."""
        return cls(np.zeros((0, *obs_shape), dtype=obs_dtype), np.zeros(0),
                   np.zeros((0, act_size)), np.zeros(0), success=np.zeros(0, bool),
                   rounds=np.zeros(0), meta=meta)

    def check(self, finite: bool = True) -> None:
        """Raise DatasetError unless the arrays agree (and, with ``finite``, are finite)."""
        n = self.dt.shape[0]
        if self.obs.ndim < 2 or self.act.ndim != 2:
            raise DatasetError(f'obs must be (N, ...) and act (N, A); got obs '
                               f'{self.obs.shape}, act {self.act.shape}')
        for name in ('obs', 'act', 'stamp'):
            value = getattr(self, name)
            if value is not None and value.shape[0] != n:
                raise DatasetError(f'{name} has {value.shape[0]} steps, dt {n}')
        for name in ('success', 'rounds'):
            value = getattr(self, name)
            if value is not None and value.shape != self.lengths.shape:
                raise DatasetError(f'{name} {value.shape} and lengths {self.lengths.shape} '
                                   f'must match')
        if (self.lengths < 1).any() or int(self.lengths.sum()) != n:
            raise DatasetError(f'episode lengths must be >= 1 and sum to the {n} steps, got '
                               f'sum {int(self.lengths.sum())}, min '
                               f'{int(self.lengths.min(initial=1))}')
        if finite:
            for name in ('obs', 'dt', 'stamp'):
                value = getattr(self, name)
                if value is not None and value.dtype != np.uint8 and not np.isfinite(
                        value).all():
                    raise DatasetError(f'{name} holds non-finite values')
            if (self.dt <= 0).any():
                raise DatasetError('dt must be positive at every step')

    # -- sizes and views --------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Return the number of steps."""
        return int(self.dt.size)

    @property
    def episodes(self) -> int:
        """Return the number of episodes."""
        return int(self.lengths.size)

    @property
    def starts(self) -> np.ndarray:
        """Return the index of each episode's first step (E,)."""
        return np.cumsum(self.lengths) - self.lengths

    @property
    def episode_start(self) -> np.ndarray:
        """Return (N,) bool: the hidden state starts afresh before this step."""
        mask = np.zeros(self.steps, dtype=bool)
        mask[self.starts] = True
        return mask

    @property
    def action(self) -> np.ndarray:
        """Return ``act`` (the corrections' name for it: NaN rows where none)."""
        return self.act

    def split(self) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
        """Yield ``(obs, dt, act, success)`` of each episode, in order."""
        success = (self.success if self.success is not None
                   else np.ones(self.episodes, dtype=bool))
        for start, length, ok in zip(self.starts.tolist(), self.lengths.tolist(),
                                     success.tolist()):
            end = start + length
            yield self.obs[start:end], self.dt[start:end], self.act[start:end], bool(ok)

    # -- growing ----------------------------------------------------------------------------
    def add(self, obs: Any, dt: Any, act: Any, success: bool = True, round_index: int = 0,
            stamp: Any = None) -> None:
        """Append one episode (obs (T, ...), dt (T,), act (T, A))."""
        obs = np.asarray(obs, dtype=self.obs.dtype)
        self.obs = np.concatenate([self.obs, obs])
        self.dt = np.concatenate([self.dt, np.asarray(dt, dtype=np.float32).reshape(-1)])
        self.act = np.concatenate([self.act, np.asarray(act, dtype=np.float32)])
        self.lengths = np.concatenate([self.lengths, [len(obs)]])
        if self.success is not None:
            self.success = np.concatenate([self.success, [bool(success)]])
        if self.rounds is not None:
            self.rounds = np.concatenate([self.rounds, [int(round_index)]])
        if self.stamp is not None:
            self.stamp = np.concatenate([self.stamp, np.asarray(stamp, dtype=np.float64)])

    def arrays(self) -> Dict[str, np.ndarray]:
        """Return every present array by name (what a checkpoint or a file stores)."""
        out = {'obs': self.obs, 'dt': self.dt, 'act': self.act, 'lengths': self.lengths}
        out.update({k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None})
        return out

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray], meta: Optional[Dict[str, Any]] = None,
                    check_finite: bool = True) -> 'Sequences':
        """Rebuild from :meth:`arrays` output."""
        return cls(arrays['obs'], arrays['dt'], arrays['act'], arrays['lengths'],
                   meta=meta, check_finite=check_finite,
                   **{k: arrays.get(k) for k in _OPTIONAL})

    # -- training chunks --------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, batch: int, seq_len: int, burn_in: int
               ) -> Tuple[np.ndarray, np.ndarray]:
        """
        Draw ``batch`` chunks of ``burn_in + seq_len`` consecutive steps of one episode.

        Every step carries loss equally often: an episode of length L offers L + seq_len - 1
        chunk positions, overlapping its start and end; a chunk that starts at an episode's
        first step begins from the true (zero) initial state, otherwise up to ``burn_in`` steps
        before the first loss step only warm the hidden state (Kapturowski et al., "Recurrent
        experience replay in distributed reinforcement learning", ICLR 2019).

        Returns:
            idx (B, W) step indices and the loss mask (B, W) bool, W = burn_in + seq_len.
            Steps past an episode's end repeat its last step, masked; they come after every
            real step of the chunk, so they change no output. Gather with ``obs[idx]``.

        """
        ends = np.cumsum(self.lengths)                       # (E,)
        starts = ends - self.lengths
        slots = self.lengths + seq_len - 1                   # chunk positions per episode
        slot = rng.integers(0, int(slots.sum()), batch)      # (B,)
        episode = np.searchsorted(np.cumsum(slots), slot, side='right')
        offset = slot - (np.cumsum(slots) - slots)[episode] - (seq_len - 1)   # may be < 0
        first = starts[episode] + offset                     # (B,) first loss step (virtual)
        window = np.maximum(starts[episode], first - burn_in)
        idx = window[:, None] + np.arange(burn_in + seq_len)          # (B, W)
        end = ends[episode][:, None]
        mask = (idx >= first[:, None]) & (idx < first[:, None] + seq_len) & (idx < end)
        return np.minimum(idx, end - 1), mask


class Corrections(Sequences):
    """
    A recorded drive with corrections, as ``lnn-control finetune`` replays it.

    Steps with non-finite values are kept (the replay skips and counts them); ``dt`` and
    ``action`` stay float64.

    Args:
        obs: (T, obs_size) observations, in the policy's observation units.
        dt: (T,) seconds each step took (> 0).
        action: (T, action_size) the corrected command in action-space units; a row of NaN
            means no correction at that step (the policy drove).
        episode_start: (T,) bool: reset the hidden state before this step.

    """

    def __init__(self, obs: Any, dt: Any, action: Any, episode_start: Any) -> None:
        obs = np.asarray(obs, dtype=np.float32)
        dt = np.asarray(dt, dtype=np.float64).reshape(-1)
        action = np.asarray(action, dtype=np.float64)
        start = np.asarray(episode_start, dtype=bool).reshape(-1)
        t = dt.size
        if obs.ndim != 2 or obs.shape[0] != t or action.ndim != 2 or (
                action.shape[0] != t or start.size != t):
            raise ValueError(f'corrections: obs (T, n), dt (T,), action (T, m) and '
                             f'episode_start (T,) must agree; got {obs.shape}, {dt.shape}, '
                             f'{action.shape}, {start.shape}')
        start = start.copy()
        if t:
            start[0] = True
        bounds = np.flatnonzero(start).tolist() + [t]
        super().__init__(obs, dt, action, np.diff(bounds) if t else np.zeros(0),
                         check_finite=False)
        # A replay steps the policy with these exact values (the online update's float64).
        self.dt, self.act = dt, action
        self._start = start

    @property
    def episode_start(self) -> np.ndarray:
        """Return (T,) bool as given (the first step always starts an episode)."""
        return self._start


def save_dataset(data: Sequences, path: Union[str, os.PathLike]) -> Path:
    """Write ``data`` to ``path`` (``.npz``; written to a temporary name, then renamed)."""
    data.check()
    path = Path(path)
    if path.suffix != '.npz':
        raise DatasetError(f'{path}: a data set file ends in .npz')
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {'format': DATASET_FORMAT, 'version': DATASET_VERSION, **data.meta}
    tmp = path.with_name(f'.{path.stem}.tmp-{os.getpid()}.npz')
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta, sort_keys=True, allow_nan=False)),
                        **data.arrays())
    os.replace(tmp, path)
    return path


def load_dataset(path: Union[str, os.PathLike]) -> Sequences:
    """Read a data set written by :func:`save_dataset` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f'{path}: no such data set file')
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f'{path}: not a readable .npz data set ({exc})') from None
    missing = sorted({'obs', 'dt', 'act', 'lengths', 'meta'} - set(arrays))
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
        return Sequences.from_arrays(arrays, meta)
    except DatasetError as exc:
        raise DatasetError(f'{path}: {exc}') from None


def nominal_period(dt: np.ndarray, default: float = math.nan) -> float:
    """Median of the positive ``dt`` values (``default`` when there are none)."""
    positive = np.asarray(dt, dtype=np.float64)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    return float(np.median(positive)) if positive.size else default
