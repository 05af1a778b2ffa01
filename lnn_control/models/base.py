# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""What every torch model of the package shares: config round trip, registry, timespans."""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Type, Union

import torch
from torch import nn

__all__ = ['PolicyModel', 'MODELS', 'timespans_to_bt1']

MODELS: Dict[str, Type['PolicyModel']] = {}


def timespans_to_bt1(timespans: Union[None, float, torch.Tensor], batch: int, steps: int,
                     like: torch.Tensor) -> torch.Tensor:
    """
    Return elapsed times as a (B, T, 1) tensor from None (1.0), a scalar, (B, T) or (B, T, 1).

    ncps squeezes per-step timespans to (B,) and broadcasts them against (B, units), which is
    wrong for B > 1 (ncps issues #81-#83); a (B, T, 1) tensor broadcasts per sample.
    """
    if timespans is None:
        return torch.ones(batch, steps, 1, dtype=like.dtype, device=like.device)
    ts = torch.as_tensor(timespans, dtype=like.dtype, device=like.device)
    if ts.dim() == 0:
        return ts.expand(batch, steps, 1)
    if ts.dim() == 2 and ts.shape == (batch, steps):
        return ts.unsqueeze(-1)
    if ts.dim() == 3 and ts.shape == (batch, steps, 1):
        return ts
    raise ValueError(f'timespans must be a scalar, (B, T) or (B, T, 1) = ({batch}, {steps}'
                     f'[, 1]); got shape {tuple(ts.shape)}')


class PolicyModel(nn.Module):
    """
    Base of CfC, LTC and the baselines.

    Subclasses set ``kind`` (the registry and runtime name) and store their constructor
    arguments so that ``type(m).from_config(m.get_config())`` rebuilds the same architecture.
    ``forward(x, h=None, timespans=None) -> (y, h)`` with batch-first x (B, T, in).
    ``state_dict()`` names are what the numpy runtime cell of the same kind reads.
    """

    kind: ClassVar[str] = ''
    input_size: int
    output_size: int
    state_size: int  # width of the flat state; the default initial_state below reads it

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            MODELS[cls.kind] = cls

    def get_config(self) -> Dict[str, Any]:
        """JSON-able constructor arguments (a wiring as ``Wiring.to_dict()``)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> 'PolicyModel':
        return cls(**config)

    def flat_state(self, h: Any) -> torch.Tensor:
        """Return the (B, state_size) flat form of a ``forward`` state (the runtime layout)."""
        return h

    def unflat_state(self, flat: torch.Tensor) -> Any:
        """Inverse of ``flat_state``."""
        return flat

    def initial_state(self, batch: int, like: Optional[torch.Tensor] = None) -> Any:
        """Return zeros (B, state_size), with the dtype and device of ``like`` when given."""
        kw = {} if like is None else {'dtype': like.dtype, 'device': like.device}
        return torch.zeros(batch, self.state_size, **kw)

    def _flat_start_state(self, h: Optional[torch.Tensor], batch: int,
                          like: torch.Tensor) -> torch.Tensor:
        """Return the flat state ``forward`` starts from: ``h`` or zeros, (B, state_size)."""
        if h is None:
            h = self.initial_state(batch, like=like)
        if tuple(h.shape) != (batch, self.state_size):
            raise ValueError(f'h must be (B, {self.state_size}) = ({batch}, {self.state_size});'
                             f' got shape {tuple(h.shape)}')
        return h
