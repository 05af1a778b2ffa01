# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
LSTM baseline: ``torch.nn.LSTM`` (Hochreiter & Schmidhuber 1997) followed by a linear readout.

Long short-term memory (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", Neural
Computation 9(8); the forget gate is Gers et al. 2000), in the form torch implements, for layer
l with input u (the observation for l = 0, with dt appended when ``dt_input``; the new hidden
state of layer l - 1 above that), hidden state h and cell state c (H,):

    i  = sigmoid(W_ii u + b_ii + W_hi h + b_hi)          input gate
    f  = sigmoid(W_if u + b_if + W_hf h + b_hf)          forget gate
    g  = tanh(W_ig u + b_ig + W_hg h + b_hg)             candidate
    o  = sigmoid(W_io u + b_io + W_ho h + b_ho)          output gate
    c' = f * c + i * g
    h' = o * tanh(c')
    y  = W_out h'_{L-1} + b_out                          (output_size,)

It is a discrete-time cell: dt only reaches it as an input feature (``dt_input=True``).

State: ``forward`` returns the tuple (h, c), each (B, num_layers * H), layer 0 first. The flat
form (``flat_state``, what the runtime and policy files use) is (B, 2 * num_layers * H) =
``[h_0, ..., h_{L-1}, c_0, ..., c_{L-1}]``: all hidden states, then all cell states; element
``l * H + i`` is label ``'lstm<l>_h:<i>'`` and ``(L + l) * H + i`` is ``'lstm<l>_c:<i>'``.

state_dict names (what ``lnn_control.runtime.lstm`` reads), torch gate order i, f, g, o:
``rnn.weight_ih_l<l>`` (4H, D_l), ``rnn.weight_hh_l<l>`` (4H, H), ``rnn.bias_ih_l<l>`` (4H,),
``rnn.bias_hh_l<l>`` (4H,), ``readout.weight`` (output_size, H), ``readout.bias``; D_0 =
input_size + dt_input, D_l = H for l > 0.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

from lnn_control.models.gru import GRU
from lnn_control.models.mlp import input_features
import torch
from torch import nn

__all__ = ['LSTM']

State = Tuple[torch.Tensor, torch.Tensor]


class LSTM(GRU):
    """
    LSTM baseline (see the module docstring for equations and state layout).

    Args:
        input_size: observation size (dt is not counted, even with ``dt_input``).
        output_size: action size.
        hidden_size: units per layer, H.
        num_layers: stacked LSTM layers.
        dt_input: append the elapsed time dt of each step as an extra input feature.
        return_sequences: ``forward`` returns y for every step (B, T, out), else the last (B, out).

    """

    kind = 'lstm'
    _rnn_class = nn.LSTM
    _state_copies = 2  # flat [h, c]

    def initial_state(self, batch: int, like: Optional[torch.Tensor] = None) -> State:
        """Zeros (h, c), each (B, num_layers * H)."""
        kw = {} if like is None else {'dtype': like.dtype, 'device': like.device}
        n = self.num_layers * self.hidden_size
        return torch.zeros(batch, n, **kw), torch.zeros(batch, n, **kw)

    def flat_state(self, h: State) -> torch.Tensor:
        """(h, c) -> (B, 2 * num_layers * H) = [h, c]."""
        return torch.cat([h[0], h[1]], dim=-1)

    def unflat_state(self, flat: torch.Tensor) -> State:
        """(B, 2 * num_layers * H) -> (h, c)."""
        n = self.num_layers * self.hidden_size
        return flat[..., :n], flat[..., n:]

    def forward(self, x: torch.Tensor, h: Union[None, State, torch.Tensor] = None,
                timespans: Union[None, float, torch.Tensor] = None
                ) -> Tuple[torch.Tensor, State]:
        """
        Run the policy over a sequence.

        Args:
            x: (B, T, input_size) observations, batch first (numpy arrays and other
                dtypes or devices, timespans too, are cast to the model's).
            h: (h, c) from a previous call, each (B, num_layers * H); or its flat form
                (B, 2 * num_layers * H); or None (zeros).
            timespans: elapsed time per step: None (1.0), scalar, (B, T) or (B, T, 1); only
                used as a feature when ``dt_input``.

        Returns:
            y: (B, T, output_size), or (B, output_size) when not ``return_sequences``.
            h: (h, c) after the last step, each (B, num_layers * H).

        """
        x, timespans = self.cast_inputs(x, timespans)  # numpy, float64: the model's dtype
        u = input_features(x, timespans, self.dt_input)  # (B, T, D)
        batch = u.shape[0]
        n = self.num_layers * self.hidden_size
        if h is None:
            h = self.initial_state(batch, like=u)
        elif isinstance(h, torch.Tensor):
            if tuple(h.shape) != (batch, 2 * n):
                raise ValueError(f'flat h must be (B, {2 * n}) = ({batch}, {2 * n}); got shape '
                                 f'{tuple(h.shape)}')
            h = self.unflat_state(h)
        hx, cx = h
        if tuple(hx.shape) != (batch, n) or tuple(cx.shape) != (batch, n):
            raise ValueError(f'h and c must each be (B, {n}) = ({batch}, {n}); got shapes '
                             f'{tuple(hx.shape)} and {tuple(cx.shape)}')

        def layer_major(s: torch.Tensor) -> torch.Tensor:
            # torch keeps (L, B, H); our state is batch-major (B, L*H)
            return s.reshape(batch, self.num_layers, self.hidden_size).transpose(0, 1).contiguous()

        out, (hn, cn) = self.rnn(u, (layer_major(hx), layer_major(cx)))  # (B, T, H), (L, B, H)
        y = self.readout(out)  # (B, T, out)
        h_new = (hn.transpose(0, 1).reshape(batch, n), cn.transpose(0, 1).reshape(batch, n))
        if not self.return_sequences:
            y = y[:, -1]
        return y, h_new
