# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The torch-free runtime: numpy cells mirroring ``lnn_control.models``, and ``load_policy``.

This is what a robot imports. Each cell module registers itself in :data:`CELLS` on import.
"""

from lnn_control.runtime import adapt, cfc, conv, gru, lstm, ltc, mlp  # noqa: F401  (cells)
from lnn_control.runtime.base import Cell, CELLS, PolicyFormatError
from lnn_control.runtime.policy import load_policy, Policy, PolicySpec, SpaceSpec

__all__ = ['Cell', 'CELLS', 'PolicyFormatError', 'load_policy', 'Policy', 'PolicySpec',
           'SpaceSpec']
