# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Torch models: liquid cells (CfC, LTC), baselines (MLP, GRU, LSTM) and policy saving.

Every model is a :class:`PolicyModel` with ``forward(x, h=None, timespans=None) -> (y, h)``,
batch-first, registered by ``kind`` in :data:`MODELS`; ``save_policy`` writes the file the
numpy runtime loads.
"""

from lnn_control.models.base import MODELS, PolicyModel
from lnn_control.models.cfc import CfC
from lnn_control.models.conv import ConvPolicy  # noqa: F401  (registers 'conv')
from lnn_control.models.gru import GRU
from lnn_control.models.lstm import LSTM
from lnn_control.models.ltc import LTC
from lnn_control.models.mlp import MLP
from lnn_control.models.policy import load_model, save_policy

__all__ = ['MODELS', 'PolicyModel', 'CfC', 'LTC', 'MLP', 'GRU', 'LSTM', 'save_policy',
           'load_model']
