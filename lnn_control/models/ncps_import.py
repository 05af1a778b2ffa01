# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Import ncps 1.0.1 torch modules: their architecture as our config, their weights as ours.

``CfC.from_ncps`` and ``LTC.from_ncps`` call these. They take a whole ncps model
(``ncps.torch.CfC``, ``ncps.torch.LTC``) or one of its cells (``CfCCell``, ``WiredCfCCell``,
``LTCCell``: a single step, imported with ``return_sequences=False``). ncps is not imported
here: modules are read by attribute names, so this runs without ncps installed.

The model is built with ``cls.from_config(config)``, so a subclass with another constructor
(the ncps compatibility classes) gets an instance of itself. The wiring becomes ours through
:meth:`~lnn_control.wirings.Wiring.from_ncps`; the ncps sparsity masks must equal the masks
our wiring implies (they do unless edited by hand).
"""

from __future__ import annotations

from typing import Any, Dict, List, Type, TypeVar

from lnn_control.wirings import Custom
from lnn_control.wirings import Wiring
import numpy as np
import torch
from torch import nn

__all__ = ['cfc_from_ncps', 'ltc_from_ncps', 'mask_wiring']

M = TypeVar('M', bound=nn.Module)

_NCPS_ACTIVATIONS = {'LeCun': 'lecun_tanh', 'Tanh': 'tanh', 'ReLU': 'relu', 'SiLU': 'silu',
                     'GELU': 'gelu'}


def mask_wiring(mask: Any, input_size: int) -> Custom:
    """
    Return the one-layer wiring whose CfC head masks equal an ncps ``CfCCell`` sparsity mask.

    ``mask`` is (input_size + H, H), [source, dest] as ncps takes it (the input block, then
    the recurrent block, which ncps leaves all ones and so must it be here). Only 0/1
    magnitudes are wirings; the sign is ignored, as ncps ``np.abs`` does.
    """
    mask = np.abs(np.asarray(mask, dtype=np.float64))
    hidden = mask.shape[1] if mask.ndim == 2 else -1
    if mask.shape != (input_size + hidden, hidden):
        raise ValueError(f'sparsity_mask must be (input_size + hidden, hidden) = '
                         f'({input_size} + H, H); got {mask.shape}')
    if not np.isin(mask, (0.0, 1.0)).all() or not (mask[input_size:] == 1.0).all():
        raise ValueError('sparsity_mask must hold 0/1 (or +-1) entries over the inputs and '
                         'all ones over the recurrent block (the form ncps WiredCfCCell builds)')
    return Custom(np.ones((hidden, hidden), dtype=np.int8), mask[:input_size].astype(np.int8),
                  output_dim=hidden)


def _subcell_params(sub: nn.Module) -> Dict[str, torch.Tensor]:
    """Head parameters of an ncps ``CfCCell`` under our names (w_tau and A flattened)."""
    names = ['ff1']
    out: Dict[str, torch.Tensor] = {}
    if sub.mode == 'pure':
        out.update({'w_tau': sub.w_tau.reshape(-1), 'A': sub.A.reshape(-1)})
    else:
        names += ['ff2', 'time_a', 'time_b']
    for name in names:
        lin = getattr(sub, name)
        out[f'{name}.weight'] = lin.weight
        out[f'{name}.bias'] = lin.bias
    return out


def _sequence_args(module: nn.Module, cell: nn.Module) -> Dict[str, Any]:
    """Return the sequence-level arguments of an ncps model (a lone cell: one step)."""
    if cell is module:
        return {'return_sequences': False, 'mixed_memory': False}
    return {'return_sequences': bool(module.return_sequences),
            'mixed_memory': bool(module.use_mixed)}


def _load(model: M, params: Dict[str, torch.Tensor], module: nn.Module) -> M:
    """Copy ``params`` (and an ncps memory cell's) into every parameter of ``model``."""
    if getattr(model, 'mixed_memory', False):
        # ncps LSTMCell and MemoryCell share parameter names (input_map, recurrent_map).
        params.update({'memory.' + k: v for k, v in module.lstm.named_parameters()})
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name].detach().reshape(p.shape))
    return model


def cfc_from_ncps(cls: Type[M], module: nn.Module) -> M:
    """Build ``cls`` (a CfC) from an ncps ``CfC``, ``WiredCfCCell`` or ``CfCCell``."""
    cell = getattr(module, 'rnn_cell', module)
    config: Dict[str, Any] = _sequence_args(module, cell)
    if cell is not module:
        config['proj_size'] = module.proj_size
    subcells: List[nn.Module] = []
    if type(cell).__name__ == 'WiredCfCCell':
        wiring: Wiring = Wiring.from_ncps(cell._wiring)
        subcells = list(cell._layers)
    elif getattr(cell, 'sparsity_mask', None) is not None:
        # A CfCCell masked by hand (ncps builds these inside WiredCfCCell): one wired layer.
        if cell.backbone_layers > 0:
            raise ValueError('an ncps CfCCell with both a sparsity_mask and a backbone has no '
                             'working forward (the mask does not fit the heads)')
        wiring = mask_wiring(cell.sparsity_mask.detach().cpu().numpy().T, int(cell.input_size))
        subcells = [cell]
    if subcells:
        config.update(input_size=int(wiring.input_dim), units=wiring, mode=subcells[0].mode)
        model = cls.from_config(config)
        params: Dict[str, torch.Tensor] = {}
        for i, sub in enumerate(subcells):
            ours = getattr(model, f'_mask{i}')[:sub.hidden_size]
            if not torch.equal(sub.sparsity_mask.detach().cpu(), ours.cpu()):
                raise ValueError(f'ncps layer {i} sparsity mask differs from its wiring')
            params.update({f'layers.{i}.{k}': v for k, v in _subcell_params(sub).items()})
    else:
        bb = list(cell.backbone) if cell.backbone_layers > 0 else []
        linears = [m for m in bb if isinstance(m, nn.Linear)]
        dropouts = [m.p for m in bb if isinstance(m, nn.Dropout)]
        config.update(
            input_size=int(cell.input_size), units=int(cell.hidden_size), mode=cell.mode,
            activation=_NCPS_ACTIVATIONS[type(bb[1]).__name__] if bb else 'lecun_tanh',
            backbone_units=linears[0].out_features if linears else 128,
            backbone_layers=int(cell.backbone_layers),
            backbone_dropout=dropouts[0] if dropouts else 0.0)
        model = cls.from_config(config)
        params = {f'layers.0.{k}': v for k, v in _subcell_params(cell).items()}
        for j, lin in enumerate(linears):
            params[f'layers.0.backbone.{j}.weight'] = lin.weight
            params[f'layers.0.backbone.{j}.bias'] = lin.bias
    if getattr(model, 'fc', None) is not None:
        params.update({'fc.' + k: v for k, v in module.fc.named_parameters()})
    return _load(model, params, module)


def ltc_from_ncps(cls: Type[M], module: nn.Module) -> M:
    """Build ``cls`` (an LTC) from an ncps ``LTC`` or ``LTCCell``."""
    cell = getattr(module, 'rnn_cell', module)
    wiring = Wiring.from_ncps(cell._wiring)
    model = cls.from_config({
        'input_size': int(wiring.input_dim), 'units': wiring, **_sequence_args(module, cell),
        'input_mapping': cell._input_mapping, 'output_mapping': cell._output_mapping,
        'ode_unfolds': int(cell._ode_unfolds), 'epsilon': float(cell._epsilon),
        'implicit_param_constraints': bool(cell._implicit_param_constraints)})
    params = dict(cell.named_parameters())
    for name, expected in (('sparsity_mask', wiring.adjacency),
                           ('sensory_sparsity_mask', wiring.sensory_adjacency)):
        if not np.array_equal(params[name].detach().cpu().numpy(), np.abs(expected)):
            raise ValueError(f'ncps {name} differs from its wiring adjacency')
    return _load(model, params, module)
