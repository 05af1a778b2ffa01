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

:class:`MixedMemoryState` holds the state handling CfC and LTC share: ``h`` (B, N), or with
``mixed_memory`` the pair ``(h, c)`` whose flat form is ``[h, c]`` (B, 2N).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import nn

__all__ = ['MemoryCell', 'MixedMemoryState', 'State']

State = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


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


class MixedMemoryState:
    """
    State methods of a model with an optional memory cell (mixin for CfC and LTC).

    The model sets ``units`` (N) and ``mixed_memory`` and implements :meth:`_state_like`. The
    state is ``h`` (B, N), or with ``mixed_memory`` the tuple ``(h, c)``; the flat form
    (``flat_state``, the runtime layout) is ``h``, or ``[h, c]`` (B, 2N).
    """

    units: int
    mixed_memory: bool

    def _state_like(self) -> torch.Tensor:
        """Return the parameter whose dtype and device a fresh state takes by default."""
        raise NotImplementedError

    def initial_state(self, batch: int, like: Optional[torch.Tensor] = None) -> State:
        """Return zeros: (B, N), or the tuple (h, c) with mixed memory."""
        like = self._state_like() if like is None else like
        h = torch.zeros(batch, self.units, dtype=like.dtype, device=like.device)
        return (h, torch.zeros_like(h)) if self.mixed_memory else h

    def flat_state(self, h: State) -> torch.Tensor:
        """Return the (B, state_size) form: the neuron states, then the memory cell state."""
        return torch.cat(h, dim=-1) if self.mixed_memory else h

    def unflat_state(self, flat: torch.Tensor) -> State:
        """Inverse of :meth:`flat_state`."""
        if self.mixed_memory:
            return flat[..., :self.units], flat[..., self.units:]
        return flat

    @staticmethod
    def _forward_unbatched(forward: Callable[..., Tuple[torch.Tensor, Any]], x: torch.Tensor,
                           h: Optional[Any], timespans: Union[None, float, torch.Tensor]
                           ) -> Tuple[torch.Tensor, Any]:
        """
        Run an unbatched sequence (T, in) as a batch of one, as ncps: (T, O) or (O,) out.

        ``forward`` is the batch-first forward of the model class itself, not ``self``: a
        subclass may read 3-D input otherwise (the ncps compat classes, time-major).
        """
        if isinstance(timespans, torch.Tensor) and timespans.dim() > 0:
            timespans = timespans.unsqueeze(0)  # (T,) or (T, 1) -> (1, T[, 1])
        if h is not None:
            h = tuple(p.unsqueeze(0) for p in h) if isinstance(h, tuple) else h.unsqueeze(0)
        y, h = forward(x.unsqueeze(0), h, timespans)
        return y[0], (tuple(p[0] for p in h) if isinstance(h, tuple) else h[0])

    def _start_state(self, h: Optional[Any], batch: int,
                     like: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Return ``(h, c)`` to start ``forward`` from (c None without mixed memory), checked."""
        if h is None:
            state = self.initial_state(batch, like)
        elif self.mixed_memory and isinstance(h, torch.Tensor):
            if h.shape[-1] != 2 * self.units:
                raise ValueError(f'with mixed_memory, h is a tuple (h, c) or (B, 2N) = '
                                 f'({batch}, {2 * self.units}); got {tuple(h.shape)}')
            state = self.unflat_state(h)
        else:
            state = h
        hx, cx = state if self.mixed_memory else (state, None)
        for part in (hx, cx):
            if part is not None and tuple(part.shape) != (batch, self.units):
                raise ValueError(f'state parts must be (B, units) = ({batch}, {self.units}), '
                                 f'got {tuple(part.shape)}')
        return hx, cx
