# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The contract every numpy runtime cell meets, and the registry ``load_policy`` uses.

A runtime cell is built from the JSON config and the tensors a policy file holds (the torch
model's ``state_dict`` names, float32) and advances one step at a time, batch 1:

    cell = CELLS[kind](config, tensors)
    h = cell.initial_state()                 # (state_size,) float32
    y, h = cell.step(x, h, dt)               # x (input_size,), y (output_size,)

The state is always one flat float32 vector (a mixed-memory cell concatenates [h, c]) so the
controller can log, reset and guard it without knowing the cell.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple, Type

import numpy as np

__all__ = ['Cell', 'CELLS', 'PolicyFormatError', 'check_tensors']

CELLS: Dict[str, Type['Cell']] = {}


class PolicyFormatError(ValueError):
    """A policy file or its contents cannot be used; the message says what is wrong."""


def check_tensors(kind: str, expected: Mapping[str, Tuple[int, ...]],
                  tensors: Mapping[str, np.ndarray]) -> None:
    """Refuse missing, unexpected or mis-shaped tensors with a message naming each one."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    problems = []
    if missing:
        problems.append(f'missing tensors {missing}')
    if extra:
        problems.append(f'unexpected tensors {extra}')
    for name in sorted(set(expected) & set(tensors)):
        shape = tuple(np.shape(tensors[name]))
        if shape != tuple(expected[name]):
            problems.append(f'tensor {name!r} has shape {shape}, the config implies '
                            f'{tuple(expected[name])}')
    if problems:
        raise PolicyFormatError(f'{kind} policy does not match its metadata: '
                                + '; '.join(problems))


class Cell:
    """Base class of runtime cells. Subclasses set ``kind`` and implement the methods."""

    kind: ClassVar[str] = ''
    input_size: int
    output_size: int
    state_size: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            CELLS[cls.kind] = cls

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor a policy file of this config must hold."""
        raise NotImplementedError

    def initial_state(self) -> np.ndarray:
        return np.zeros(self.state_size, dtype=np.float32)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """Advance by elapsed time ``dt`` (seconds, > 0) on input ``x``; return (y, new h)."""
        raise NotImplementedError

    def neuron_labels(self) -> List[str]:
        """Label each element of the flat state, e.g. 'motor:0', 'command:7', 'memory:3'."""
        raise NotImplementedError

    # -- readout features (online adaptation, ``lnn_control.runtime.adapt``) ----------------
    def readout_size(self) -> int:
        """Size of :meth:`readout_features`, the vector the trained readout reads."""
        raise PolicyFormatError(f'no readout features for model kind {self.kind!r}: the '
                                f"'hidden' adaptation needs a cell that exposes them "
                                f'(cfc, ltc, gru, lstm, mlp); use features gain or output')

    def readout_features(self, h: np.ndarray) -> np.ndarray:
        """Return the pre-readout features (readout_size,) after a step that gave state ``h``."""
        raise PolicyFormatError(f'no readout features for model kind {self.kind!r}')

    # What ``time_constants`` returns: 'tau_s' (LTC, seconds), 'time_gate' (CfC, 0..1),
    # 'decay' (CfC pure mode, 0..1), '' (the cell has no time constants: MLP, GRU, LSTM).
    time_constant_kind: ClassVar[str] = ''

    def time_constants(self) -> Optional[np.ndarray]:
        """
        Per-neuron effective time constant of the last step, in ``neuron_labels()`` order.

        Returns:
            (state_size,) float32, NaN where an element has none (a memory cell state), or
            None when the cell has no time constants (the default; an LTC before its first
            step).

        """
        return None
