# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy mirror of ``lnn_control.models.gru.GRU`` (kind 'gru'), batch 1.

GRU (Cho et al. 2014) as torch computes it, gate order r, z, n, per layer l with input u:

    r  = sigmoid(W_ir u + b_ir + W_hr h + b_hr)
    z  = sigmoid(W_iz u + b_iz + W_hz h + b_hz)
    n  = tanh(W_in u + b_in + r * (W_hn h + b_hn))
    h' = n + z * (h - n)                    (= (1 - z) * n + z * h)
    y  = W_out h'_{L-1} + b_out

Fusion at load time: per layer one (D_l + H + 1, 4H) matrix acting on [u, h, 1] whose columns
are [r, z | n from u | n from h] (n's two halves kept apart because r multiplies only the h
half), biases in the last row. The r, z columns are pre-scaled by 1/2 because
sigmoid(a) = 0.5 + 0.5 tanh(a / 2), which needs no exp and cannot overflow.

State (num_layers * H,): layer 0 first; labels ``'gru<l>:<i>'``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.base import PolicyFormatError
import numpy as np

__all__ = ['GRUCell', 'rnn_sizes', 'rnn_shapes']


def rnn_sizes(kind: str, config: Mapping[str, Any]) -> Tuple[int, int, int, int]:
    """(first-layer features, hidden size, layers, outputs) of a gru/lstm config."""
    try:
        feature = int(config['input_size']) + int(bool(config.get('dt_input', False)))
        hidden = int(config.get('hidden_size', 32))
        layers = int(config.get('num_layers', 1))
        out = int(config['output_size'])
    except (KeyError, TypeError, ValueError) as err:
        raise PolicyFormatError(f'{kind} config is incomplete or malformed: {err!r}') from err
    return feature, hidden, layers, out


def rnn_shapes(kind: str, config: Mapping[str, Any], gates: int) -> Dict[str, Tuple[int, ...]]:
    """state_dict shapes of a torch ``nn.GRU`` (3 gates) / ``nn.LSTM`` (4) plus readout."""
    feature, hidden, layers, out = rnn_sizes(kind, config)
    shapes: Dict[str, Tuple[int, ...]] = {}
    for k in range(layers):
        shapes[f'rnn.weight_ih_l{k}'] = (gates * hidden, feature if k == 0 else hidden)
        shapes[f'rnn.weight_hh_l{k}'] = (gates * hidden, hidden)
        shapes[f'rnn.bias_ih_l{k}'] = (gates * hidden,)
        shapes[f'rnn.bias_hh_l{k}'] = (gates * hidden,)
    shapes['readout.weight'] = (out, hidden)
    shapes['readout.bias'] = (out,)
    return shapes


class GRUCell(Cell):
    """
    Runtime GRU built from ``GRU.get_config()`` and its state_dict arrays.

    :class:`lnn_control.runtime.lstm.LSTMCell` derives from it (as the torch ``LSTM`` from
    ``GRU``): the two share the config, the [u, h, 1] buffers and the readout, and differ in
    how a layer's weights are fused (:meth:`_fuse_layer`) and stepped.

    Args:
        config: the torch model's ``get_config()`` (input_size, output_size, hidden_size,
            num_layers, dt_input; return_sequences is ignored).
        tensors: ``{name: array}`` of the torch ``state_dict``; shapes are checked first.

    """

    kind = 'gru'
    _gates = 3            # gate blocks of the torch weights (LSTM: 4)
    _state_copies = 1     # vectors of num_layers * H in the flat state (LSTM: h and c)

    @classmethod
    def expected_shapes(cls, config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor a policy of this kind and config holds."""
        return rnn_shapes(cls.kind, config, gates=cls._gates)

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        check_tensors(self.kind, self.expected_shapes(config), tensors)
        feature, hidden, layers, out = rnn_sizes(self.kind, config)
        self.input_size = int(config['input_size'])
        self.output_size = out
        self.hidden_size = hidden
        self.num_layers = layers
        self.dt_input = bool(config.get('dt_input', False))
        self.state_size = self._state_copies * layers * hidden
        H = hidden

        # [u, h, 1] input buffer per layer (layer l > 0 gets u from layer l - 1), and the
        # readout's [h_{L-1}, 1]; the trailing 1 multiplies the bias row.
        widths = [feature] + [H] * layers
        bufs = [np.ones(w + H + 1, dtype=np.float32) for w in widths[:-1]]
        ro = np.ones(H + 1, dtype=np.float32)
        self._x0 = bufs[0]
        self._layers = []
        for k, d in enumerate(widths[:-1]):
            nxt = bufs[k + 1] if k + 1 < layers else ro
            self._layers.append(self._fuse_layer(tensors, k, d, bufs[k], nxt[:H]))
        self._ro = ro
        w_out = np.asarray(tensors['readout.weight'], np.float32)
        b_out = np.asarray(tensors['readout.bias'], np.float32)
        self._w_out = np.ascontiguousarray(np.vstack([w_out.T, b_out[None, :]]))  # (H+1, out)

    def _fuse_layer(self, tensors: Mapping[str, np.ndarray], k: int, d: int, xh: np.ndarray,
                    nxt: np.ndarray) -> Tuple[Any, ...]:
        """
        Fuse layer ``k``'s weights and return what :meth:`step` unpacks for it.

        Args:
            tensors: the state_dict arrays.
            k: layer index.
            d: width of the layer's input u (D_k).
            xh: the layer's [u, h, 1] buffer, (d + H + 1,).
            nxt: where the layer's new h goes, (H,): the next layer's u or the readout input.

        """
        H = self.hidden_size
        w_ih = np.asarray(tensors[f'rnn.weight_ih_l{k}'], np.float64)  # (3H, D)
        w_hh = np.asarray(tensors[f'rnn.weight_hh_l{k}'], np.float64)  # (3H, H)
        b_ih = np.asarray(tensors[f'rnn.bias_ih_l{k}'], np.float64)
        b_hh = np.asarray(tensors[f'rnn.bias_hh_l{k}'], np.float64)
        w = np.zeros((d + H + 1, 4 * H))
        w[:d, :2 * H] = 0.5 * w_ih[:2 * H].T
        w[d:d + H, :2 * H] = 0.5 * w_hh[:2 * H].T
        w[d + H, :2 * H] = 0.5 * (b_ih[:2 * H] + b_hh[:2 * H])
        w[:d, 2 * H:3 * H] = w_ih[2 * H:].T
        w[d + H, 2 * H:3 * H] = b_ih[2 * H:]
        w[d:d + H, 3 * H:] = w_hh[2 * H:].T
        w[d + H, 3 * H:] = b_hh[2 * H:]
        pre = np.empty(4 * H, dtype=np.float32)
        return (np.ascontiguousarray(w, dtype=np.float32),
                xh, xh[d:d + H],                               # [u, h, 1], its h part
                pre, pre[:2 * H], pre[:H], pre[H:2 * H],       # pre, rz, r, z
                pre[2 * H:3 * H], pre[3 * H:],                 # n, W_hn h + b_hn
                slice(k * H, (k + 1) * H), nxt)                # own state slice, next input

    def _start_step(self, x: np.ndarray, dt: float) -> np.ndarray:
        """Write ``x`` (and dt when ``dt_input``) into layer 0's u; return a new state buffer."""
        x0 = self._x0
        x0[:self.input_size] = x
        if self.dt_input:
            x0[self.input_size] = dt
        return np.empty(self.state_size, dtype=np.float32)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """
        One control step.

        Args:
            x: (input_size,) observation.
            h: (num_layers * H,) state, layer 0 first.
            dt: elapsed time (s); a feature only when ``dt_input``.

        Returns:
            y: (output_size,) float32 action; h: (num_layers * H,) new state.

        """
        h_new = self._start_step(x, dt)
        for w, xh, h_in, pre, rz, r, z, n, hn, sl, nxt in self._layers:
            h_in[:] = h[sl]
            np.dot(xh, w, out=pre)  # (4H,)
            np.tanh(rz, out=rz)
            rz *= 0.5
            rz += 0.5
            hn *= r
            n += hn
            np.tanh(n, out=n)
            hl = h_new[sl]
            np.subtract(h_in, n, out=hl)
            hl *= z
            hl += n
            nxt[:] = hl
        return np.dot(self._ro, self._w_out), h_new

    def readout_size(self) -> int:
        """Return the hidden size: the last layer's state is what ``readout.weight`` reads."""
        return int(self.hidden_size)

    def readout_features(self, h: np.ndarray) -> np.ndarray:
        """Return the last layer's hidden state (h of an LSTM) within the flat state."""
        hidden = self.hidden_size
        return h[(self.num_layers - 1) * hidden:self.num_layers * hidden]

    def neuron_labels(self) -> List[str]:
        """``'gru<l>:<i>'`` per state element."""
        return [f'gru{k}:{i}' for k in range(self.num_layers) for i in range(self.hidden_size)]
