# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The adapted cell: a trained cell plus a residual affine readout, ``y + W [phi; 1]``.

``phi`` is what the readout change reads (``features``): the cell's own normalised action
(``'output'`` and ``'gain'``) or its pre-readout state (``'hidden'``), which every runtime cell
exposes itself (:meth:`lnn_control.runtime.base.Cell.readout_features`), so this module knows
no cell's internals.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.base import PolicyFormatError
import numpy as np

__all__ = ['AdaptedCell', 'feature_size', 'FEATURE_MODES', 'ACTION_MODES', 'BASE_PREFIX',
           'WEIGHT']

BASE_PREFIX = 'base.'        # the trained tensors in an adapted policy file
WEIGHT = 'adapter.weight'    # W (out, d + 1)
FEATURE_MODES = ('hidden', 'output', 'gain')
ACTION_MODES = ('output', 'gain')   # the modes whose features are the cell's own output y


def feature_size(cell: Cell, mode: str = 'hidden') -> int:
    """Size d of the features of ``cell`` in ``mode`` (see the package docstring)."""
    if mode not in FEATURE_MODES:
        raise PolicyFormatError(f'adapted policy: unknown features {mode!r}; valid: '
                                f'{list(FEATURE_MODES)}')
    if mode in ACTION_MODES:
        return int(cell.output_size)
    return int(cell.readout_size())


class AdaptedCell(Cell):
    """
    A trained cell plus a residual affine readout ``y + W [phi; 1]`` (kind ``'adapted'``).

    Built by ``load_policy`` from an adapted policy file (config ``base_kind``,
    ``base_config``, ``feature_size``; tensors ``base.<name>`` and ``adapter.weight``) or
    live by :meth:`wrap`. After each step ``last_features`` (d,) and ``last_output`` (the base
    cell's own normalised output) hold what a correction of that step is learned from.
    Attributes the cell does not have (``time_gate``, ``time_constant``, ...) are read from
    the base cell.

    Args:
        config: ``{'base_kind', 'base_config', 'feature_size', 'features'}`` (features
            'hidden', the default, 'output' or 'gain').
        features: for :meth:`wrap`, 'hidden' (the pre-readout state, the base cell's
            ``readout_features``), 'output' (phi = the cell's own normalised output y:
            ``W`` is then an affine map of the action, out x (out + 1)) or 'gain' (stepped
            as 'output'; the learner keeps ``W`` to a per-axis gain of the command, see
            :class:`AxisGains`).
        tensors: the base tensors prefixed ``base.`` and ``adapter.weight`` (out, d + 1).

    """

    kind = 'adapted'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor an adapted policy of this config holds."""
        base_kind = config.get('base_kind')
        if base_kind not in CELLS or base_kind == 'adapted':
            raise PolicyFormatError(f'adapted policy: unknown base kind {base_kind!r}')
        shapes = {BASE_PREFIX + k: v
                  for k, v in CELLS[base_kind].expected_shapes(config['base_config']).items()}
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        shapes = self.expected_shapes(config)
        base_tensors = {k[len(BASE_PREFIX):]: v for k, v in tensors.items()
                        if k.startswith(BASE_PREFIX)}
        base = CELLS[config['base_kind']](config['base_config'], base_tensors)
        mode = config.get('features', 'hidden')
        d = feature_size(base, mode)
        if int(config.get('feature_size', d)) != d:
            raise PolicyFormatError(f'adapted policy: feature_size {config.get("feature_size")} '
                                    f'but the base cell has {d} features')
        shapes[WEIGHT] = (base.output_size, d + 1)
        check_tensors(self.kind, shapes, tensors)
        self._setup(base, tensors[WEIGHT], mode)

    @classmethod
    def wrap(cls, base: Cell, weight: Optional[np.ndarray] = None,
             features: str = 'hidden') -> 'AdaptedCell':
        """Wrap a live cell; ``weight`` None gives ``W = 0`` (the identity)."""
        cell = cls.__new__(cls)
        d = feature_size(base, features)
        if weight is None:
            weight = np.zeros((base.output_size, d + 1))
        cell._setup(base, weight, features)
        return cell

    def _setup(self, base: Cell, weight: np.ndarray, features: str) -> None:
        if isinstance(base, AdaptedCell):
            raise PolicyFormatError('an adapted cell cannot wrap another adapted cell')
        self.base = base
        self.input_size, self.output_size = base.input_size, base.output_size
        self.state_size = base.state_size
        self.features = features
        self._hidden = features not in ACTION_MODES
        self.feature_size = d = feature_size(base, features)
        self.weight = np.array(weight, dtype=np.float64).reshape(base.output_size, d + 1)
        self.enabled = True
        self._z = np.ones(d + 1)   # [phi, 1] of the last step, float64 for the RLS
        self.last_output = np.zeros(base.output_size)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this object lacks: inspection tools read the base
        # cell's (time_gate, time_constant, units, wiring).
        base = self.__dict__.get('base')
        if base is None or name.startswith('__'):
            raise AttributeError(name)
        return getattr(base, name)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """Step the base cell, then add ``W [phi; 1]`` (when enabled); return (y, new h)."""
        y, h = self.base.step(x, h, dt)
        z = self._z
        z[:-1] = self.base.readout_features(h) if self._hidden else y
        self.last_output = y     # a fresh array every step, never written to
        if not self.enabled:
            return y, h
        return np.add(y, np.dot(self.weight, z), dtype=np.float32), h

    @property
    def last_features(self) -> np.ndarray:
        """Return the features phi (d,) of the last step (a copy)."""
        return self._z[:-1].copy()

    def neuron_labels(self) -> List[str]:
        """Return the base cell's labels (the readout adds no state)."""
        return self.base.neuron_labels()

    # Inspection reads the base cell's time constants (defined on Cell, so __getattr__
    # would not reach them).
    @property
    def time_constant_kind(self) -> str:  # type: ignore[override]
        """Return the base cell's ``time_constant_kind``."""
        return getattr(self.base, 'time_constant_kind', '')

    def time_constants(self) -> Optional[np.ndarray]:
        """Return what the base cell's time-constant method returns."""
        method = getattr(self.base, 'time_constants', None)
        return None if method is None else method()
