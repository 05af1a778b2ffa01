# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy mirror of ``lnn_control.models.lstm.LSTM`` (kind 'lstm'), batch 1.

LSTM (Hochreiter & Schmidhuber 1997, forget gate Gers et al. 2000) as torch computes it, gate
order i, f, g, o, per layer l with input u:

    [i, f, g, o] = W_i u + b_i + W_h h + b_h
    i, f, o = sigmoid(.)     g = tanh(.)
    c' = f * c + i * g
    h' = o * tanh(c')
    y  = W_out h'_{L-1} + b_out

Fusion at load time: per layer one (D_l + H + 1, 4H) matrix acting on [u, h, 1], columns
reordered to [i, f, o, g] and biases (b_i + b_h) in the last row. The i, f, o columns are
pre-scaled by 1/2 because sigmoid(a) = 0.5 + 0.5 tanh(a / 2), so one ``tanh`` over all 4H
pre-activations serves every gate.

State (2 * num_layers * H,) = [h_0 .. h_{L-1}, c_0 .. c_{L-1}] (the torch model's
``flat_state``); labels ``'lstm<l>_h:<i>'`` then ``'lstm<l>_c:<i>'``.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Tuple

from lnn_control.runtime.gru import GRUCell
import numpy as np

__all__ = ['LSTMCell']


class LSTMCell(GRUCell):
    """
    Runtime LSTM built from ``LSTM.get_config()`` and its state_dict arrays.

    Arguments, buffers and readout are :class:`~lnn_control.runtime.gru.GRUCell`'s; this class
    fuses and steps the LSTM layers.
    """

    kind = 'lstm'
    _gates = 4
    _state_copies = 2  # flat [h, c]

    def _fuse_layer(self, tensors: Mapping[str, np.ndarray], k: int, d: int, xh: np.ndarray,
                    nxt: np.ndarray) -> Tuple[Any, ...]:
        """Fuse layer ``k``'s weights and return what :meth:`step` unpacks for it."""
        H, layers = self.hidden_size, self.num_layers
        # torch rows i, f, g, o -> our columns i, f, o, g; halve the sigmoid gates' rows
        order = np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H),
                                np.arange(2 * H, 3 * H)])
        scale = np.concatenate([np.full(3 * H, 0.5), np.ones(H)])[:, None]  # (4H, 1)
        w_ih = np.asarray(tensors[f'rnn.weight_ih_l{k}'], np.float64)  # (4H, D)
        w_hh = np.asarray(tensors[f'rnn.weight_hh_l{k}'], np.float64)  # (4H, H)
        b = (np.asarray(tensors[f'rnn.bias_ih_l{k}'], np.float64)
             + np.asarray(tensors[f'rnn.bias_hh_l{k}'], np.float64))  # (4H,)
        w = np.hstack([w_ih, w_hh, b[:, None]])[order] * scale  # (4H, D + H + 1)
        pre = np.empty(4 * H, dtype=np.float32)
        return (np.ascontiguousarray(w.T, dtype=np.float32),   # (D + H + 1, 4H)
                xh, xh[d:d + H],                               # [u, h, 1], its h part
                pre, pre[:3 * H],                              # pre, sigmoid gates
                pre[:H], pre[H:2 * H], pre[2 * H:3 * H], pre[3 * H:],  # i, f, o, g
                slice(k * H, (k + 1) * H),                     # h_l in the flat state
                slice((layers + k) * H, (layers + k + 1) * H),  # c_l in the flat state
                nxt)                                           # next layer's / readout input

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """
        One control step.

        Args:
            x: (input_size,) observation.
            h: (2 * num_layers * H,) state [h_0 .. h_{L-1}, c_0 .. c_{L-1}].
            dt: elapsed time (s); a feature only when ``dt_input``.

        Returns:
            y: (output_size,) float32 action; h: (2 * num_layers * H,) new state.

        """
        h_new = self._start_step(x, dt)
        for w, xh, h_in, pre, sig, i, f, o, g, hs, cs, nxt in self._layers:
            h_in[:] = h[hs]
            np.dot(xh, w, out=pre)  # (4H,)
            np.tanh(pre, out=pre)
            sig *= 0.5
            sig += 0.5
            c = h_new[cs]
            np.multiply(f, h[cs], out=c)
            i *= g
            c += i
            hl = h_new[hs]
            np.tanh(c, out=hl)
            hl *= o
            nxt[:] = hl
        return np.dot(self._ro, self._w_out), h_new

    def neuron_labels(self) -> List[str]:
        """``'lstm<l>_h:<i>'`` for every layer, then ``'lstm<l>_c:<i>'``."""
        return ([f'lstm{k}_h:{i}' for k in range(self.num_layers)
                 for i in range(self.hidden_size)]
                + [f'lstm{k}_c:{i}' for k in range(self.num_layers)
                   for i in range(self.hidden_size)])
