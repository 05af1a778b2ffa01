# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""What every torch model of the package shares: config round trip, registry, timespans."""

from __future__ import annotations

import numbers
from typing import Any, Callable, ClassVar, Dict, Optional, Tuple, Type, Union

import torch
from torch import nn

__all__ = ['PolicyModel', 'MODELS', 'timespans_to_bt1', 'cast_inputs', 'one_step',
           'first_parameter']

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


def cast_inputs(x: Any, timespans: Any, like: torch.Tensor) -> Tuple[torch.Tensor, Any]:
    """
    Return ``x`` and ``timespans`` as tensors of the dtype and device of ``like``.

    numpy arrays, nested lists and tensors of another dtype or device (float64 data, a CPU
    batch for a GPU model) are cast, as ncps users expect; ``None`` and Python or numpy
    scalars of ``timespans`` become ``None`` and ``float``. Tensors that already match are
    returned as they are (no copy, autograd kept).
    """
    dtype, device = like.dtype, like.device

    def cast(value: Any) -> torch.Tensor:
        if isinstance(value, torch.Tensor) and value.dtype == dtype and value.device == device:
            return value
        return torch.as_tensor(value).to(dtype=dtype, device=device)

    if timespans is not None and type(timespans) is not float:
        timespans = float(timespans) if isinstance(timespans, numbers.Real) else cast(timespans)
    return cast(x), timespans


def first_parameter(module: nn.Module) -> torch.Tensor:
    """
    Return the first parameter of ``module`` (depth first), the model's dtype and device.

    Read from the module dicts directly: ``next(module.parameters())`` and attribute chains
    through ``nn.Module.__getattr__`` cost microseconds, and every forward asks.
    """
    stack = [module]
    while stack:
        current = stack.pop()
        for p in current._parameters.values():
            if p is not None:
                return p
        stack.extend(reversed(list(current._modules.values())))
    raise ValueError(f'{type(module).__name__} has no parameters')


def one_step(run: Callable[..., Tuple[torch.Tensor, Any]], x: torch.Tensor, h: Any,
             dt: Any) -> Tuple[torch.Tensor, Any]:
    """
    Run ``run(x, h, timespans)``, a batch-first sequence forward, for the single step ``x``.

    ``x`` (B, F); ``dt`` None, a scalar, (B,) or (B, 1). Returns ``y`` (B, O) and the state.
    """
    if x.dim() != 2:
        raise ValueError(f'a step takes x as (B, input_size); got shape {tuple(x.shape)}')
    if isinstance(dt, torch.Tensor) and dt.dim() == 1:
        dt = dt.unsqueeze(1)  # (B,) -> (B, T=1)
    y, h = run(x.unsqueeze(1), h, dt)
    return (y[:, 0] if y.dim() == 3 else y), h


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
        # A class registers the kind it declares: subclasses that inherit a kind (the ncps
        # compatibility classes) leave MODELS[kind] to the class that policy files rebuild.
        if cls.__dict__.get('kind'):
            MODELS[cls.kind] = cls

    def get_config(self) -> Dict[str, Any]:
        """JSON-able constructor arguments (a wiring as ``Wiring.to_dict()``)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> 'PolicyModel':
        return cls(**config)

    @classmethod
    def build(cls, obs_shape: Tuple[int, ...], action_size: int,
              **kwargs: Any) -> 'PolicyModel':
        """
        Build a model for an env: observations of ``obs_shape``, ``action_size`` actions.

        The training methods' model factory: ``kwargs`` are a config's ``model.kwargs``; the
        input size is the observation's size, and ``output_size`` (for models that take one)
        the action size. Camera models override it (the image shape matters to them).
        """
        import inspect
        import math
        if 'output_size' in inspect.signature(cls).parameters:
            kwargs.setdefault('output_size', action_size)
        return cls(int(math.prod(obs_shape)), **kwargs)

    def synapse_weights(self) -> Optional[Dict[str, Any]]:
        """
        Return every synapse's learned strength and sign, or None without a wiring.

        ``{'wiring': Wiring, 'sensory': [...], 'recurrent': [...]}``, each synapse
        (src, dest, strength, sign, declared polarity); see :mod:`lnn_control.models.synapses`.
        """
        from lnn_control.models.synapses import SYNAPSES
        of = SYNAPSES.get(self.kind)
        return None if of is None else of(self)

    def _state_like(self) -> torch.Tensor:
        """Return the parameter whose dtype and device inputs and fresh states take."""
        return first_parameter(self)

    def cast_inputs(self, x: Any, timespans: Any = None) -> Tuple[torch.Tensor, Any]:
        """Cast ``x`` and ``timespans`` to the model's dtype and device (:func:`cast_inputs`)."""
        return cast_inputs(x, timespans, self._state_like())

    def step(self, x: Any, h: Any = None, dt: Any = None) -> Tuple[torch.Tensor, Any]:
        """
        Advance one step: ``x`` (B, input_size), ``dt`` None (1.0), a scalar, (B,) or (B, 1).

        The stateful single-step form of ``forward`` (what a controller loop or an ncps cell
        call does): returns ``y`` (B, output_size) and the new state, which the next call
        takes as ``h``.
        """
        x, dt = self.cast_inputs(x, dt)
        return one_step(self, x, h, dt)

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
