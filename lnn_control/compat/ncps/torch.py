# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
``ncps.torch`` 1.0.1 names over :mod:`lnn_control.models` (drop-in: change the import).

Every class here is the lnn_control model (:class:`~lnn_control.models.CfC` or
:class:`~lnn_control.models.LTC`: same parameters, same ``state_dict``, ``save_policy`` and
``get_config`` as lnn_control's) constructed and called as ncps constructs and calls it:

==================  ==========================================================================
``CfC``             ``CfC(input_size, units, proj_size, return_sequences, batch_first,
                    mixed_memory, mode, activation, backbone_units, backbone_layers,
                    backbone_dropout)``; ``forward(input, hx=None, timespans=None)``
``LTC``             ``LTC(input_size, units, return_sequences, batch_first, mixed_memory,
                    input_mapping, output_mapping, ode_unfolds, epsilon,
                    implicit_param_constraints)``; same ``forward``
``CfCCell``         ``CfCCell(input_size, hidden_size, mode, backbone_activation,
                    backbone_units, backbone_layers, backbone_dropout, sparsity_mask)``;
                    ``cell(input, hx, ts) -> (h, h)``
``WiredCfCCell``    ``WiredCfCCell(input_size, wiring, mode)``;
                    ``cell(input, hx, timespans) -> (motor output, h)``
``LTCCell``         ``LTCCell(wiring, in_features, input_mapping, output_mapping, ode_unfolds,
                    epsilon, implicit_param_constraints=False)``;
                    ``cell(inputs, states, elapsed_time=1.0) -> (output, h)``
==================  ==========================================================================

``batch_first=False`` takes time-major input (T, B, F) and timespans (T, B), (T, B, 1) or
(T,) (one elapsed time per step for the whole batch), and returns time-major sequences;
unbatched input (T, F) works for both models. A wiring may be one of
:mod:`lnn_control.compat.ncps.wirings`, of :mod:`lnn_control.wirings`, or an ncps wiring
object (converted with :meth:`~lnn_control.wirings.Wiring.from_ncps`).

``from_ncps(module)`` on each class imports a trained ncps module (weights, ``batch_first``).

Where ncps 1.0.1 is wrong, these are right: per-sample timespans with B > 1 (ncps squeezes
them to (B,) and broadcasts them against the neurons, issues #81-#83); numpy and float64
inputs are cast to the model's dtype; ``sensory_synapse_count`` counts sensory synapses (ncps
counts the others twice). Beyond ncps: ``hx`` may be omitted in the cells, a scalar
``timespans`` is accepted, and with ``mixed_memory`` ``hx`` may also be the flat (B, 2N) form.
Attributes keep lnn_control's meaning: ``state_size`` is 2N with mixed memory and
``output_size`` is ``proj_size`` when set.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Dict, Optional, Tuple, Type, TypeVar, Union

from lnn_control import models as _models
from lnn_control import wirings as _lnn_wirings
from lnn_control.compat.ncps import wirings as _wirings
from lnn_control.models.base import one_step
from lnn_control.models.ncps_import import mask_wiring
import torch
from torch import nn

__all__ = ['CfC', 'CfCCell', 'LTC', 'LTCCell', 'WiredCfCCell']

T = TypeVar('T', bound='_Compat')


def _as_wiring(units: Any, input_size: Optional[int] = None) -> Any:
    """Return an int or a dict as is, a wiring as ours (an ncps one converted)."""
    if isinstance(units, (int, dict, _lnn_wirings.Wiring)):
        return units
    if hasattr(units, 'adjacency_matrix'):  # an ncps wiring object
        if not units.is_built() and input_size is not None:
            units.build(int(input_size))
        return _lnn_wirings.Wiring.from_ncps(units)
    return int(units)


def _built(wiring: Any, input_size: Optional[int], what: str) -> int:
    """Return the input size: given, or the built wiring's (ncps's error otherwise)."""
    if input_size is not None:
        return int(input_size)
    if not wiring.is_built():
        raise ValueError(f'Wiring error! Unknown number of input features. Please pass the '
                         f'parameter {what!r} or call the wiring.build().')
    return int(wiring.input_dim)


class _Compat:
    """What every class here shares: built from lnn_control configs and ncps modules."""

    _lnn: ClassVar[Type[nn.Module]]  # the lnn_control class whose constructor configs fit
    wiring: Any

    @classmethod
    def from_config(cls: Type[T], config: Dict[str, Any]) -> T:
        """Build from an lnn_control config (``get_config``, what ``save_policy`` stores)."""
        model = cls.__new__(cls)
        cls._lnn.__init__(model, **config)  # the constructor the config's keys belong to
        return model

    def _wiring(self) -> Any:
        if self.wiring is None:
            raise AttributeError('a fully connected CfC has no wiring to count synapses of')
        return self.wiring

    @property
    def sensory_size(self) -> int:
        """Return the number of inputs (ncps)."""
        return int(self.input_size)

    @property
    def synapse_count(self) -> int:
        """Return the number of synapses between neurons of the wiring (ncps)."""
        return self._wiring().synapse_count

    @property
    def sensory_synapse_count(self) -> int:
        """Return the number of synapses from the inputs (ncps 1.0.1 counts the others)."""
        return self._wiring().sensory_synapse_count


class _Sequence(_Compat):
    """``batch_first`` and ncps's ``forward`` over an lnn_control sequence model."""

    batch_first = True

    def forward(self, input: Any, hx: Any = None,  # noqa: A002 (ncps's argument name)
                timespans: Any = None) -> Tuple[torch.Tensor, Any]:
        """Run a sequence: (B, T, F) if ``batch_first`` else (T, B, F); or (T, F)."""
        input, timespans = self.cast_inputs(input, timespans)  # noqa: A001
        if self.batch_first or input.dim() != 3:
            return super().forward(input, hx, timespans)
        steps, batch = input.shape[:2]
        if isinstance(timespans, torch.Tensor):
            if timespans.dim() == 1 and timespans.shape[0] == steps:
                timespans = timespans.unsqueeze(0).expand(batch, steps)  # one dt per step
            elif timespans.dim() >= 2:
                timespans = timespans.transpose(0, 1)  # (T, B[, 1]) -> (B, T[, 1])
        y, h = super().forward(input.transpose(0, 1), hx, timespans)
        return (y.transpose(0, 1) if y.dim() == 3 else y), h

    @classmethod
    def from_ncps(cls: Type[T], module: nn.Module) -> T:
        """Import an ncps module's architecture, weights and ``batch_first``."""
        model = super().from_ncps(module)
        model.batch_first = bool(getattr(module, 'batch_first', True))
        return model


class _Cell(_Compat):
    """ncps's single-step call over an lnn_control model (as ``PolicyModel.step``)."""

    def _one_step(self, x: Any, h: Any, dt: Any) -> Tuple[torch.Tensor, Any]:
        x, dt = self.cast_inputs(x, dt)
        # The lnn_control sequence forward (self's own forward is this single step).
        return one_step(functools.partial(self._lnn.forward, self), x, h, dt)

    def forward(self, input: Any, hx: Any = None,  # noqa: A002 (ncps's argument name)
                ts: Any = 1.0) -> Tuple[torch.Tensor, Any]:
        """One step: ``input`` (B, F), ``hx`` (B, N) or None, ``ts`` scalar, (B,) or (B, 1)."""
        return self._one_step(input, hx, ts)

    def step(self, x: Any, h: Any = None, dt: Any = None) -> Tuple[torch.Tensor, Any]:
        """One step, as :meth:`lnn_control.models.PolicyModel.step`."""
        return self._one_step(x, h, dt)


class CfC(_Sequence, _models.CfC):
    """ncps ``CfC``: a closed-form continuous-time RNN (see :class:`lnn_control.models.CfC`)."""

    _lnn = _models.CfC

    def __init__(self, input_size: int, units: Any, proj_size: Optional[int] = None,
                 return_sequences: bool = True, batch_first: bool = True,
                 mixed_memory: bool = False, mode: str = 'default',
                 activation: str = 'lecun_tanh', backbone_units: Optional[int] = None,
                 backbone_layers: Optional[int] = None,
                 backbone_dropout: Optional[float] = None, *,
                 strict_wiring: bool = False) -> None:
        super().__init__(int(input_size), _as_wiring(units, input_size), proj_size=proj_size,
                         return_sequences=return_sequences, mixed_memory=mixed_memory,
                         mode=mode, activation=activation, backbone_units=backbone_units,
                         backbone_layers=backbone_layers, backbone_dropout=backbone_dropout,
                         strict_wiring=strict_wiring)
        self.batch_first = bool(batch_first)


class LTC(_Sequence, _models.LTC):
    """ncps ``LTC``: a liquid time-constant RNN (see :class:`lnn_control.models.LTC`)."""

    _lnn = _models.LTC

    def __init__(self, input_size: int, units: Any, return_sequences: bool = True,
                 batch_first: bool = True, mixed_memory: bool = False,
                 input_mapping: str = 'affine', output_mapping: str = 'affine',
                 ode_unfolds: int = 6, epsilon: float = 1e-8,
                 implicit_param_constraints: bool = True) -> None:
        wiring = _as_wiring(units, input_size)
        if isinstance(wiring, int):  # ncps's int units: a FullyConnected wiring, ncps-named
            wiring = _wirings.FullyConnected(wiring)
        super().__init__(int(input_size), wiring, return_sequences=return_sequences,
                         mixed_memory=mixed_memory, input_mapping=input_mapping,
                         output_mapping=output_mapping, ode_unfolds=ode_unfolds,
                         epsilon=epsilon, implicit_param_constraints=implicit_param_constraints)
        self.batch_first = bool(batch_first)

    @property
    def motor_size(self) -> int:
        """Return the number of motor (output) neurons (ncps)."""
        return self.output_size


class CfCCell(_Cell, _models.CfC):
    """
    ncps ``CfCCell``: one step of a fully connected CfC.

    ``sparsity_mask`` (input_size + hidden_size, hidden_size), as ncps's ``WiredCfCCell``
    builds it (0/1 over the inputs, ones over the recurrent block), becomes a one-layer
    wiring; it needs ``backbone_layers=0`` (with a backbone ncps's masked cell cannot run).
    """

    _lnn = _models.CfC

    def __init__(self, input_size: int, hidden_size: int, mode: str = 'default',
                 backbone_activation: str = 'lecun_tanh', backbone_units: int = 128,
                 backbone_layers: int = 1, backbone_dropout: float = 0.0,
                 sparsity_mask: Any = None) -> None:
        if sparsity_mask is None:
            super().__init__(int(input_size), int(hidden_size), return_sequences=False,
                             mode=mode, activation=backbone_activation,
                             backbone_units=backbone_units, backbone_layers=backbone_layers,
                             backbone_dropout=backbone_dropout)
            return
        if backbone_layers > 0:
            raise ValueError('a CfCCell with a sparsity_mask needs backbone_layers=0')
        wiring = mask_wiring(sparsity_mask, int(input_size))
        if wiring.units != int(hidden_size):
            raise ValueError(f'sparsity_mask has {wiring.units} columns, hidden_size is '
                             f'{hidden_size}')
        super().__init__(int(input_size), wiring, return_sequences=False, mode=mode)

    @property
    def hidden_size(self) -> int:
        """Return the number of neurons (ncps)."""
        return self.units


class WiredCfCCell(_Cell, _models.CfC):
    """ncps ``WiredCfCCell``: one step of a wired CfC (a sub-cell per wiring layer)."""

    _lnn = _models.CfC

    def __init__(self, input_size: Optional[int], wiring: Any, mode: str = 'default') -> None:
        wiring = _as_wiring(wiring, input_size)
        super().__init__(_built(wiring, input_size, 'input_size'), wiring,
                         return_sequences=False, mode=mode)

    def forward(self, input: Any, hx: Any = None,  # noqa: A002 (ncps's argument name)
                timespans: Any = 1.0) -> Tuple[torch.Tensor, Any]:
        """One step: ``(motor output (B, O), state (B, N))``."""
        return self._one_step(input, hx, timespans)

    @property
    def num_layers(self) -> int:
        """Return the number of wiring layers (ncps)."""
        return len(self.layer_sizes)


class LTCCell(_Cell, _models.LTC):
    """ncps ``LTCCell``: one step of an LTC (note ncps's default: explicit constraints)."""

    _lnn = _models.LTC

    def __init__(self, wiring: Any, in_features: Optional[int] = None,
                 input_mapping: str = 'affine', output_mapping: str = 'affine',
                 ode_unfolds: int = 6, epsilon: float = 1e-8,
                 implicit_param_constraints: bool = False) -> None:
        wiring = _as_wiring(wiring, in_features)
        super().__init__(_built(wiring, in_features, 'in_features'), wiring,
                         return_sequences=False, input_mapping=input_mapping,
                         output_mapping=output_mapping, ode_unfolds=ode_unfolds,
                         epsilon=epsilon, implicit_param_constraints=implicit_param_constraints)

    def forward(self, inputs: Any, states: Any = None,
                elapsed_time: Union[float, Any] = 1.0) -> Tuple[torch.Tensor, Any]:
        """One step: ``(output (B, O), state (B, N))``."""
        return self._one_step(inputs, states, elapsed_time)

    @property
    def motor_size(self) -> int:
        """Return the number of motor (output) neurons (ncps)."""
        return self.output_size
