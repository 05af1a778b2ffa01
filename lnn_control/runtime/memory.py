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

At load the rows are reordered to (ig, fg, og, i), the ``+ 1`` is folded into the bias and the
gate rows are halved, so that one ``tanh`` over all 4H pre-activations gives both the input
activation and, through ``sigmoid(a) = (1 + tanh(a / 2)) / 2``, the three gates.
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
        self._w_in = np.ascontiguousarray(w_in[order] * scale)  # (4H, in)
        self._b_in = np.ascontiguousarray(b_in[order] * scale[:, 0])  # (4H,)
        self._w_rec = np.ascontiguousarray(w_rec[order] * scale)  # (4H, H)
        self._z = np.empty(4 * hidden, dtype=np.float32)
        self._zr = np.empty(4 * hidden, dtype=np.float32)

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
        n = self.hidden_size
        z = np.dot(self._w_in, x, out=self._z)  # (4H,)
        z += self._b_in
        z += np.dot(self._w_rec, h, out=self._zr)
        np.tanh(z, out=z)
        gates = z[:3 * n]
        gates *= 0.5
        gates += 0.5  # sigmoid(ig), sigmoid(fg + 1), sigmoid(og)
        c_new = np.multiply(c, z[n:2 * n], out=c_out)  # (H,)
        c_new += z[3 * n:] * z[:n]
        h_new = np.tanh(c_new) * z[2 * n:3 * n]  # (H,)
        return h_new, c_new
