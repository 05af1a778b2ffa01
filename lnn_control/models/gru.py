# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
GRU baseline: ``torch.nn.GRU`` (Cho et al. 2014) followed by a linear readout.

Gated recurrent unit (Cho et al. 2014, "Learning Phrase Representations using RNN
Encoder-Decoder for Statistical Machine Translation"), in the form torch implements, for layer
l with input u (the observation for l = 0, with dt appended when ``dt_input``; the new hidden
state of layer l - 1 above that) and hidden state h (H,):

    r  = sigmoid(W_ir u + b_ir + W_hr h + b_hr)          reset gate
    z  = sigmoid(W_iz u + b_iz + W_hz h + b_hz)          update gate
    n  = tanh(W_in u + b_in + r * (W_hn h + b_hn))       candidate
    h' = (1 - z) * n + z * h
    y  = W_out h'_{L-1} + b_out                          (output_size,)

It is a discrete-time cell: dt only reaches it as an input feature (``dt_input=True``), which is
the fair way to let a baseline see irregular sampling next to CfC/LTC.

State (flat, (B, num_layers * H)): the hidden states of the layers, layer 0 first; element
``l * H + i`` is unit i of layer l (runtime label ``'gru<l>:<i>'``).

state_dict names (what ``lnn_control.runtime.gru`` reads), torch gate order r, z, n:
``rnn.weight_ih_l<l>`` (3H, D_l), ``rnn.weight_hh_l<l>`` (3H, H), ``rnn.bias_ih_l<l>`` (3H,),
``rnn.bias_hh_l<l>`` (3H,), ``readout.weight`` (output_size, H), ``readout.bias``; D_0 =
input_size + dt_input, D_l = H for l > 0.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

from lnn_control.models.base import PolicyModel
from lnn_control.models.mlp import input_features
import torch
from torch import nn

__all__ = ['GRU']


class GRU(PolicyModel):
    """
    GRU baseline (see the module docstring for equations and state layout).

    Args:
        input_size: observation size (dt is not counted, even with ``dt_input``).
        output_size: action size.
        hidden_size: units per layer, H.
        num_layers: stacked GRU layers.
        dt_input: append the elapsed time dt of each step as an extra input feature.
        return_sequences: ``forward`` returns y for every step (B, T, out), else the last (B, out).

    """

    kind = 'gru'
    _rnn_class = nn.GRU   # the torch recurrent module
    _state_copies = 1     # vectors of num_layers * H in the flat state (LSTM: h and c)

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 32,
                 num_layers: int = 1, dt_input: bool = False,
                 return_sequences: bool = True) -> None:
        super().__init__()
        if min(int(input_size), int(output_size), int(hidden_size), int(num_layers)) < 1:
            raise ValueError('input_size, output_size, hidden_size and num_layers must be >= 1')
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.dt_input = bool(dt_input)
        self.return_sequences = bool(return_sequences)
        self.state_size = self._state_copies * self.num_layers * self.hidden_size
        self.rnn = self._rnn_class(self.input_size + int(self.dt_input), self.hidden_size,
                                   num_layers=self.num_layers, batch_first=True)
        self.readout = nn.Linear(self.hidden_size, self.output_size)

    def get_config(self) -> Dict[str, Any]:
        """JSON-able constructor arguments."""
        return {'input_size': self.input_size, 'output_size': self.output_size,
                'hidden_size': self.hidden_size, 'num_layers': self.num_layers,
                'dt_input': self.dt_input, 'return_sequences': self.return_sequences}

    def forward(self, x: torch.Tensor, h: Optional[torch.Tensor] = None,
                timespans: Union[None, float, torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Run the policy over a sequence.

        Args:
            x: (B, T, input_size) observations, batch first (numpy arrays and other
                dtypes or devices, timespans too, are cast to the model's).
            h: (B, num_layers * H) flat state from a previous call, or None (zeros).
            timespans: elapsed time per step: None (1.0), scalar, (B, T) or (B, T, 1); only
                used as a feature when ``dt_input``.

        Returns:
            y: (B, T, output_size), or (B, output_size) when not ``return_sequences``.
            h: (B, num_layers * H) state after the last step.

        """
        x, timespans = self.cast_inputs(x, timespans)  # numpy, float64: the model's dtype
        u = input_features(x, timespans, self.dt_input)  # (B, T, D)
        batch = u.shape[0]
        h = self._flat_start_state(h, batch, u)  # (B, L*H)
        # torch keeps layer-major (L, B, H); our flat state is batch-major (B, L*H)
        h0 = h.reshape(batch, self.num_layers, self.hidden_size).transpose(0, 1).contiguous()
        out, hn = self.rnn(u, h0)  # (B, T, H), (L, B, H)
        y = self.readout(out)  # (B, T, out)
        h_new = hn.transpose(0, 1).reshape(batch, self.state_size)  # (B, L*H)
        if not self.return_sequences:
            y = y[:, -1]
        return y, h_new
