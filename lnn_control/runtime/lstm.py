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

from typing import Any, Dict, List, Mapping, Tuple

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.gru import rnn_shapes
from lnn_control.runtime.gru import rnn_sizes
import numpy as np

__all__ = ['LSTMCell']


class LSTMCell(Cell):
    """
    Runtime LSTM built from ``LSTM.get_config()`` and its state_dict arrays.

    Args:
        config: the torch model's ``get_config()`` (input_size, output_size, hidden_size,
            num_layers, dt_input; return_sequences is ignored).
        tensors: ``{name: array}`` of the torch ``state_dict``; shapes are checked first.

    """

    kind = 'lstm'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor an lstm policy of this config holds."""
        return rnn_shapes('lstm', config, gates=4)

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        check_tensors(self.kind, self.expected_shapes(config), tensors)
        feature, hidden, layers, out = rnn_sizes(self.kind, config)
        self.input_size = int(config['input_size'])
        self.output_size = out
        self.hidden_size = hidden
        self.num_layers = layers
        self.dt_input = bool(config.get('dt_input', False))
        self.state_size = 2 * layers * hidden
        H = hidden
        # torch rows i, f, g, o -> our columns i, f, o, g; halve the sigmoid gates' rows
        order = np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H),
                                np.arange(2 * H, 3 * H)])
        scale = np.concatenate([np.full(3 * H, 0.5), np.ones(H)])[:, None]  # (4H, 1)

        # [u, h, 1] input buffer per layer (layer l > 0 gets u from layer l - 1), and the
        # readout's [h_{L-1}, 1]; the trailing 1 multiplies the bias row.
        widths = [feature] + [H] * layers
        bufs = [np.ones(w + H + 1, dtype=np.float32) for w in widths[:-1]]
        ro = np.ones(H + 1, dtype=np.float32)
        self._x0 = bufs[0]
        self._layers = []
        for k, d in enumerate(widths[:-1]):
            w_ih = np.asarray(tensors[f'rnn.weight_ih_l{k}'], np.float64)  # (4H, D)
            w_hh = np.asarray(tensors[f'rnn.weight_hh_l{k}'], np.float64)  # (4H, H)
            b = (np.asarray(tensors[f'rnn.bias_ih_l{k}'], np.float64)
                 + np.asarray(tensors[f'rnn.bias_hh_l{k}'], np.float64))  # (4H,)
            w = np.hstack([w_ih, w_hh, b[:, None]])[order] * scale  # (4H, D + H + 1)
            pre = np.empty(4 * H, dtype=np.float32)
            nxt = bufs[k + 1] if k + 1 < layers else ro
            self._layers.append((
                np.ascontiguousarray(w.T, dtype=np.float32),   # (D + H + 1, 4H)
                bufs[k], bufs[k][d:d + H],                     # [u, h, 1], its h part
                pre, pre[:3 * H],                              # pre, sigmoid gates
                pre[:H], pre[H:2 * H], pre[2 * H:3 * H], pre[3 * H:],  # i, f, o, g
                slice(k * H, (k + 1) * H),                     # h_l in the flat state
                slice((layers + k) * H, (layers + k + 1) * H),  # c_l in the flat state
                nxt[:H]))                                      # next layer's / readout input
        self._ro = ro
        w_out = np.asarray(tensors['readout.weight'], np.float32)
        b_out = np.asarray(tensors['readout.bias'], np.float32)
        self._w_out = np.ascontiguousarray(np.vstack([w_out.T, b_out[None, :]]))  # (H+1, out)

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
        x0 = self._x0
        x0[:self.input_size] = x
        if self.dt_input:
            x0[self.input_size] = dt
        h_new = np.empty(self.state_size, dtype=np.float32)
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
