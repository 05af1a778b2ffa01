# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Feed-forward baseline: an MLP on a stack of the last ``frames`` inputs (frame stacking).

A feed-forward policy has no memory of its own; the usual way to give it history (Mnih et al.
2015, "Human-level control through deep reinforcement learning", stacked the last 4 frames) is
to feed it the last ``frames`` input vectors side by side. The frames buffer is the state, so the
MLP is driven exactly like the recurrent models: ``forward(x, h, timespans) -> (y, h)``.

Per step t, with feature vector u_t (the observation, plus the elapsed time dt_t as one more
feature when ``dt_input``, see :func:`input_features`):

    s_t = [u_{t-F+1}, ..., u_{t-1}, u_t]                (F * D,)  oldest first
    a_0 = s_t
    a_k = act(W_k a_{k-1} + b_k)                        k = 1..len(hidden_sizes)
    y_t = W_out a_K + b_out                             (output_size,)  no output activation

where F = ``frames``, D = ``input_size + dt_input``, u_j = 0 for j < 0 (zeros at start).

State (flat, (B, (F - 1) * D)): the previous F - 1 feature vectors, oldest first,
``[u_{t-F+1}, ..., u_{t-1}]``; element ``j * D + i`` is feature i of the frame ``F - 1 - j``
steps back (runtime label ``'frame<F-1-j>:<i>'``; feature i == input_size is dt). With
``frames=1`` the state is empty, (B, 0).

state_dict names (what ``lnn_control.runtime.mlp`` reads): ``hidden.<k>.weight`` (H_k, H_{k-1}),
``hidden.<k>.bias`` (H_k,), ``readout.weight`` (output_size, H_K), ``readout.bias``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from lnn_control.models.base import PolicyModel
from lnn_control.models.base import timespans_to_bt1
import torch
from torch import nn

__all__ = ['MLP', 'ACTIVATIONS', 'input_features']

# 'gelu' is the tanh approximation (Hendrycks & Gimpel 2016, "Gaussian Error Linear Units") so
# the numpy runtime mirrors it exactly without an erf (numpy has none, the Pi has no scipy).
ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    'tanh': nn.Tanh,
    'relu': nn.ReLU,
    'silu': nn.SiLU,
    'gelu': lambda: nn.GELU(approximate='tanh'),
    'elu': nn.ELU,
}


def input_features(x: torch.Tensor, timespans: Union[None, float, torch.Tensor],
                   dt_input: bool) -> torch.Tensor:
    """
    Return the per-step features the baselines see: x, plus dt as a last column if asked.

    Args:
        x: (B, T, input_size) batch-first observations.
        timespans: elapsed time per step; None (1.0), a scalar, (B, T) or (B, T, 1). Its shape
            is checked even when ``dt_input`` is False, so a wrong call fails the same way for
            every model kind.
        dt_input: append dt as feature ``input_size``.

    Returns:
        (B, T, input_size + dt_input) tensor.

    """
    if x.dim() != 3:
        raise ValueError(f'x must be batch-first (B, T, input_size); got shape {tuple(x.shape)}')
    batch, steps = x.shape[0], x.shape[1]
    ts = timespans_to_bt1(timespans, batch, steps, x)  # (B, T, 1)
    if not dt_input:
        return x
    return torch.cat([x, ts.expand(batch, steps, 1)], dim=-1)  # (B, T, D)


class MLP(PolicyModel):
    """
    Frame-stacking MLP baseline (see the module docstring for equations and state layout).

    Args:
        input_size: observation size (dt is not counted, even with ``dt_input``).
        output_size: action size.
        hidden_sizes: width of each hidden layer, input side first; may be empty (linear policy).
        activation: hidden activation, a key of ``ACTIVATIONS`` (tanh, relu, silu, gelu, elu).
        frames: how many most recent feature vectors the network sees (>= 1).
        dt_input: append the elapsed time dt of each step as an extra feature, so the baseline
            can see irregular sampling like the continuous-time cells do.
        return_sequences: ``forward`` returns y for every step (B, T, out), else the last (B, out).

    """

    kind = 'mlp'

    def __init__(self, input_size: int, output_size: int,
                 hidden_sizes: Sequence[int] = (64, 64), activation: str = 'tanh',
                 frames: int = 1, dt_input: bool = False, return_sequences: bool = True) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f'unknown activation {activation!r}; choose one of '
                             f'{sorted(ACTIVATIONS)}')
        if int(frames) < 1:
            raise ValueError(f'frames must be >= 1, got {frames}')
        if int(input_size) < 1 or int(output_size) < 1 or any(int(n) < 1 for n in hidden_sizes):
            raise ValueError('input_size, output_size and hidden_sizes must be positive')
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.hidden_sizes = [int(n) for n in hidden_sizes]
        self.activation = activation
        self.frames = int(frames)
        self.dt_input = bool(dt_input)
        self.return_sequences = bool(return_sequences)
        self.feature_size = self.input_size + int(self.dt_input)  # D
        self.state_size = (self.frames - 1) * self.feature_size

        widths = [self.frames * self.feature_size] + self.hidden_sizes
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.act = ACTIVATIONS[activation]()
        self.readout = nn.Linear(widths[-1], self.output_size)

    def get_config(self) -> Dict[str, Any]:
        """JSON-able constructor arguments."""
        return {'input_size': self.input_size, 'output_size': self.output_size,
                'hidden_sizes': list(self.hidden_sizes), 'activation': self.activation,
                'frames': self.frames, 'dt_input': self.dt_input,
                'return_sequences': self.return_sequences}

    def forward(self, x: torch.Tensor, h: Optional[torch.Tensor] = None,
                timespans: Union[None, float, torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Run the policy over a sequence.

        Args:
            x: (B, T, input_size) observations, batch first (numpy arrays and other
                dtypes or devices, timespans too, are cast to the model's).
            h: (B, (frames - 1) * D) frame buffer from a previous call, or None (zeros).
            timespans: elapsed time per step: None (1.0), scalar, (B, T) or (B, T, 1); only
                used as a feature when ``dt_input``.

        Returns:
            y: (B, T, output_size), or (B, output_size) when not ``return_sequences``.
            h: (B, (frames - 1) * D) frame buffer after the last step.

        """
        x, timespans = self.cast_inputs(x, timespans)  # numpy, float64: the model's dtype
        u = input_features(x, timespans, self.dt_input)  # (B, T, D)
        batch, steps, d = u.shape
        h = self._flat_start_state(h, batch, u)  # (B, (F-1)*D), zeros when None
        if self.frames == 1:
            # no history: skip the zero-size reshapes, which crash the ONNX exporter
            a, h_new = u, h  # (B, T, D), (B, 0)
        else:
            seq = torch.cat([h.reshape(batch, self.frames - 1, d), u], dim=1)  # (B, F-1+T, D)
            # unfold gives every window of F consecutive frames: (B, T, D, F) -> (B, T, F*D)
            a = seq.unfold(1, self.frames, 1).transpose(2, 3).reshape(batch, steps, -1)
            h_new = seq[:, steps:].reshape(batch, self.state_size)  # (B, (F-1)*D)
        for layer in self.hidden:
            a = self.act(layer(a))  # (B, T, H_k)
        y = self.readout(a)  # (B, T, out)
        if not self.return_sequences:
            y = y[:, -1]
        return y, h_new
