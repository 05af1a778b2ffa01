# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy mirror of :class:`lnn_control.models.memory.MemoryCell` (the mixed-memory LSTM).

Used by the runtime cells of mixed-memory models. Same equations as the torch cell (ncps
1.0.1 ``LSTMCell``)::

    z = W_in x + b_in + W_rec h
    i, ig, fg, og = split(z, 4)
    c' = c * sigmoid(fg + 1) + tanh(i) * sigmoid(ig)
    h' = tanh(c') * sigmoid(og)

At load the rows are reordered to (ig, fg, og, i), the ``+ 1`` is folded into the bias, the
bias becomes a column of one fused matrix applied to ``[x, h, 1]``, and the gate rows are
halved, so that one ``tanh`` over all 4H pre-activations gives both the input activation and,
through ``sigmoid(a) = (1 + tanh(a / 2)) / 2``, the three gates.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np

__all__ = ['MemoryStep']


class MemoryStep:
    """
    One LSTM step on float32 vectors, weights read from a policy's tensors.

    Args:
        tensors: name -> array, holding ``{prefix}input_map.weight`` (4H, input_size),
            ``{prefix}input_map.bias`` (4H,) and ``{prefix}recurrent_map.weight`` (4H, H).
        prefix: the owner's attribute name plus a dot, e.g. ``'memory.'``.

    The caller checks shapes (see :meth:`expected_shapes`) before building it.

    """

    def __init__(self, tensors: Mapping[str, np.ndarray], prefix: str = 'memory.') -> None:
        w_in = np.asarray(tensors[prefix + 'input_map.weight'], dtype=np.float32)
        b_in = np.asarray(tensors[prefix + 'input_map.bias'], dtype=np.float32).copy()
        w_rec = np.asarray(tensors[prefix + 'recurrent_map.weight'], dtype=np.float32)
        hidden = w_rec.shape[1]
        self.input_size = int(w_in.shape[1])
        self.hidden_size = int(hidden)
        b_in[2 * hidden:3 * hidden] += 1.0  # ncps forget-gate bias
        # (i, ig, fg, og) -> (ig, fg, og, i); gates halved for the tanh form of sigmoid.
        order = np.r_[hidden:4 * hidden, 0:hidden]
        scale = np.ones((4 * hidden, 1), dtype=np.float32)
        scale[:3 * hidden] = 0.5
        # One product with v = [x, h, 1] gives every pre-activation, bias included.
        self._w = np.ascontiguousarray(np.concatenate(
            [w_in[order], w_rec[order], b_in[order][:, None]], 1) * scale)  # (4H, in + H + 1)
        self._v = np.ones(self.input_size + hidden + 1, dtype=np.float32)
        self._idx_x = np.arange(self.input_size)
        self._idx_h = np.arange(self.input_size, self.input_size + hidden)
        self._z = np.empty(4 * hidden, dtype=np.float32)
        self._half = np.full((), 0.5, dtype=np.float32)  # 0-d: a cheaper operand than 0.5
        self._gates = self._z[:3 * hidden]
        self._ig = self._z[:hidden]
        self._fg = self._z[hidden:2 * hidden]
        self._og = self._z[2 * hidden:3 * hidden]
        self._i = self._z[3 * hidden:]
        self._tmp = np.empty(hidden, dtype=np.float32)

    @staticmethod
    def expected_shapes(input_size: int, hidden_size: int,
                        prefix: str = 'memory.') -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of the memory cell's tensors."""
        return {prefix + 'input_map.weight': (4 * hidden_size, input_size),
                prefix + 'input_map.bias': (4 * hidden_size,),
                prefix + 'recurrent_map.weight': (4 * hidden_size, hidden_size)}

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray,
             c_out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """
        Return ``(h', c')`` for input ``x`` (in,), state ``h``, ``c`` (H,).

        ``c'`` is written into ``c_out`` when given (e.g. the tail of the caller's new flat
        state); ``h'`` is a fresh array.
        """
        v, z, half = self._v, self._z, self._half
        v[self._idx_x] = x
        v[self._idx_h] = h
        np.dot(self._w, v, out=z)  # (4H,)
        np.tanh(z, out=z)
        gates = self._gates
        np.multiply(gates, half, out=gates)
        np.add(gates, half, out=gates)  # sigmoid(ig), sigmoid(fg + 1), sigmoid(og)
        c_new = np.multiply(c, self._fg, out=c_out)  # (H,)
        c_new += np.multiply(self._i, self._ig, out=self._tmp)
        h_new = np.tanh(c_new)
        h_new *= self._og  # (H,)
        return h_new, c_new
