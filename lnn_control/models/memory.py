# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The LSTM memory cell of mixed-memory liquid networks (``mixed_memory=True``).

Lechner & Hasani, "Learning long-term dependencies in irregularly-sampled time series"
(NeurIPS 2020) pair a continuous-time cell with an LSTM so that gradients can flow over long
horizons through the LSTM's cell state ``c`` while the continuous-time cell handles the
irregular sampling. Each step the LSTM runs first, on the raw input and the recurrent output
``h``; its new output ``h`` is then the hidden state the continuous-time cell starts from::

    z = W_in x + b_in + W_rec h                  # W_in (4H, in), W_rec (4H, H)
    i, ig, fg, og = split(z, 4)                  # in this order
    c' = c * sigmoid(fg + 1) + tanh(i) * sigmoid(ig)
    h' = tanh(c') * sigmoid(og)

The ``+ 1`` forget-gate bias, the gate order and the initialisation (xavier-uniform input map,
orthogonal recurrent map, biases uniform in [-0.1, 0.1], no recurrent bias) are those of ncps
1.0.1 ``ncps.torch.LSTMCell``, so its weights load unchanged. The numpy mirror is
:class:`lnn_control.runtime.memory.MemoryStep`.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

__all__ = ['MemoryCell']


class MemoryCell(nn.Module):
    """
    ncps-compatible LSTM cell: ``(x, (h, c)) -> (h', c')``.

    Args:
        input_size: features of ``x``.
        hidden_size: size ``H`` of ``h`` and ``c``.

    Parameters (``state_dict`` names relative to the owner's attribute, e.g. ``memory.``):
        ``input_map.weight`` (4H, input_size), ``input_map.bias`` (4H,),
        ``recurrent_map.weight`` (4H, H) (no bias).

    Shapes: ``x`` (B, input_size), ``h`` and ``c`` (B, H).

    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.input_map = nn.Linear(self.input_size, 4 * self.hidden_size, bias=True)
        self.recurrent_map = nn.Linear(self.hidden_size, 4 * self.hidden_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as ncps: xavier input map, orthogonal recurrent map, small biases."""
        nn.init.xavier_uniform_(self.input_map.weight)
        nn.init.uniform_(self.input_map.bias, -0.1, 0.1)
        nn.init.orthogonal_(self.recurrent_map.weight)

    def input_part(self, x: torch.Tensor) -> torch.Tensor:
        """``W_in x + b_in`` for any leading shape (precomputed for whole sequences)."""
        return self.input_map(x)  # (..., 4H)

    def step(self, z_in: torch.Tensor, h: torch.Tensor,
             c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step given the precomputed input part ``z_in`` (B, 4H)."""
        z = torch.addmm(z_in, h, self.recurrent_map.weight.t())  # (B, 4H)
        i, ig, fg, og = z.chunk(4, 1)
        c = c * torch.sigmoid(fg + 1.0) + torch.tanh(i) * torch.sigmoid(ig)  # (B, H)
        h = torch.tanh(c) * torch.sigmoid(og)  # (B, H)
        return h, c

    def forward(self, x: torch.Tensor,
                state: Tuple[torch.Tensor, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Advance one step: ``x`` (B, input_size), ``state = (h, c)`` each (B, H)."""
        h, c = state
        return self.step(self.input_part(x), h, c)
