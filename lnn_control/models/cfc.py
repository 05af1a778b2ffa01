# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Closed-form continuous-time (CfC) network: the torch model, trained and imported from ncps.

Paper: R. Hasani, M. Lechner, A. Amini, L. Liebenwein, A. Ray, M. Tschaikowski, G. Teschl,
D. Rus, "Closed-form continuous-time neural networks", Nature Machine Intelligence 4, 992-1003
(2022). Reference implementation: ``ncps.torch.CfC`` (ncps 1.0.1, ``cfc_cell.py`` and
``wired_cfc_cell.py``), whose semantics this model reproduces; ``CfC.from_ncps`` imports its
weights and gives the same outputs.

The update
----------
A CfC replaces the ODE solver of a liquid time-constant network by an approximation of its
closed-form solution. Each step, with elapsed time ``t`` (the timespan, seconds), input ``x``
and previous state ``h``, a sub-cell computes from ``u = [x, h]`` (or from a backbone MLP of
it) four affine "heads" and mixes them with a time gate::

    f1 = tanh(W1 u + b1)    f2 = tanh(W2 u + b2)    g = sigmoid((Wa u + ba) t + (Wb u + bb))

    mode='default':   h' = f1 * (1 - g) + g * f2       the gated CfC of the paper
    mode='no_gate':   h' = f1 + g * f2                 the gate without the 1 - g
    mode='pure':      h' = A - A * exp(-t (|w_tau| + |f|)) * f,   f = W1 u + b1 (no tanh):
                      the paper's direct closed-form solution, with learned A and w_tau

The time gate ``g`` (``sigmoid(t_a * t + t_b)`` in ncps) decides, per neuron and per step,
how far the state moves from ``f1`` towards ``f2``: the elapsed time enters through it, which
is what makes a CfC handle irregular sampling.
The output of a step is ``h'``, which is also the next state.

Two architectures
-----------------
``units`` an int: one fully connected sub-cell of ``units`` neurons (ncps ``CfCCell``). A
backbone MLP of ``backbone_layers`` Linear layers of ``backbone_units`` (with ``activation``;
dropout ``backbone_dropout`` after every activation but the first, as ncps) maps ``[x, h]``
to the features the heads read; ``backbone_layers=0`` makes the heads read ``[x, h]``.
Defaults: 128 units, 1 layer, dropout 0.

``units`` a :class:`~lnn_control.wirings.Wiring` (or its ``to_dict()``): a wired CfC (ncps
``WiredCfCCell``): one sub-cell per wiring layer (inter, command, motor for an NCP), layer
``l`` reading ``[output of layer l-1 this step (the input x for l = 0), own state]``. The
heads ``W1``, ``W2`` are masked by the wiring: from the previous layer only the synapses of
the (sensory) adjacency exist, while within a layer every neuron reads every neuron of its own
layer (all-ones recurrent mask); the time heads ``Wa``, ``Wb`` are not masked; there is no
backbone and ``activation`` is unused. The output is the last (motor) layer; the state is the
concatenation of the layers' states in layer order (so for an NCP: inter, command, motor).
These are exactly ncps's semantics.

``strict_wiring=True`` (not in ncps; see ncps issue #53 and pull request #55) makes the wiring
the whole truth: the time heads are masked as well, and the within-layer block uses the
wiring's own synapses (for an NCP: no inter->inter or motor->motor connections, and only the
wiring's recurrent command->command synapses) instead of all-ones. Masked weights exist in the
state dict (they are multiplied by 0) and get zero gradient.

``mixed_memory=True``: an LSTM memory cell (:class:`~lnn_control.models.memory.MemoryCell`,
Lechner & Hasani 2020) runs first at every step on the raw input and the whole CfC state; its
output replaces the CfC state for that step (ncps). The state becomes the pair ``(h, c)``.

``proj_size``: a Linear readout ``fc`` (ncps's name) from the output neurons to ``proj_size``.

Shapes (batch-first only; B batch, T steps, N neurons, O outputs)::

    x          (B, T, input_size), or (T, input_size) unbatched
    timespans  None (1.0), a scalar, (B, T) or (B, T, 1): elapsed time of each step
               (unbatched: (T,) or (T, 1)); unlike ncps, correct per sample for B > 1.
               numpy arrays and tensors of another dtype or device (x too) are cast to the
               model's dtype and device
    h          None (zeros), (B, N), or with mixed_memory a tuple ((B, N), (B, N)) or (B, 2N)
    y          (B, T, O) if return_sequences else (B, O); O = proj_size or the output neurons
    h out      (B, N), or with mixed_memory the tuple (h, c); ``flat_state`` gives (B, 2N)

Parameters (``state_dict`` names, what the runtime reads; ``l`` is the layer, 0 for the fully
connected CfC): ``layers.l.ff1.weight``/``bias``, and ``ff2``, ``time_a``, ``time_b`` likewise
except in pure mode, which has ``layers.l.w_tau`` (H,) and ``layers.l.A`` (H,) instead;
``layers.0.backbone.i.weight``/``bias``; ``memory.*``; ``fc.weight``/``bias``. The wiring masks
are non-persistent buffers rebuilt from the config.

Speed: the ncps step is restructured, not changed. Once per forward, the masks are applied, the
four heads are fused into one matrix per layer and activation scales are folded into the
weights (without autograd these fused weights are cached until a parameter changes); the
input part of the first layer is one matrix product for all T steps. With autograd on, no
mixed memory and no backbone dropout in training, the recurrence runs in
:class:`~lnn_control.models.cfc_scan.Scan`, an autograd Function with a hand-written
backward (back-propagation through time with per-step Jacobian factors computed for all steps
at once, and weight gradients as one matrix product over all steps); otherwise (and always
under ``torch.no_grad``, where it is as fast) it is a plain loop of one or two ``addmm`` and a
few element-wise operations per layer and step.
``fused_scan = False`` forces the loop (same values; the tests compare both). The scan passes
no gradient to the timespans.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from lnn_control.models.base import PolicyModel
from lnn_control.models.base import timespans_to_bt1
from lnn_control.models.cfc_scan import ACTIVATIONS
from lnn_control.models.cfc_scan import Plan
from lnn_control.models.cfc_scan import Scan
from lnn_control.models.memory import MemoryCell
from lnn_control.models.memory import MixedMemoryState
from lnn_control.models.memory import State
from lnn_control.models.ncps_import import cfc_from_ncps
from lnn_control.wirings import Wiring
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['CfC', 'ACTIVATIONS', 'MODES']

MODES = ('default', 'pure', 'no_gate')


class _Layer(nn.Module):
    """One CfC sub-cell (ncps ``CfCCell``): optional backbone, then the heads."""

    def __init__(self, in_features: int, hidden: int, mode: str, backbone_units: int,
                 backbone_layers: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden = hidden
        self.backbone = nn.ModuleList()
        width = in_features + hidden
        for _ in range(backbone_layers):
            self.backbone.append(nn.Linear(width, backbone_units))
            width = backbone_units
        self.ff1 = nn.Linear(width, hidden)
        if mode == 'pure':
            # ncps keeps these as (1, H) and xavier-initialises them like the weights.
            bound = math.sqrt(6.0 / (1 + hidden))
            self.w_tau = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
            self.A = nn.Parameter(torch.empty(hidden).uniform_(-bound, bound))
        else:
            self.ff2 = nn.Linear(width, hidden)
            self.time_a = nn.Linear(width, hidden)
            self.time_b = nn.Linear(width, hidden)
        for p in self.parameters():
            if p.dim() == 2:  # as ncps CfCCell.init_weights; biases keep Linear's init
                nn.init.xavier_uniform_(p)


class CfC(MixedMemoryState, PolicyModel):
    """
    Closed-form continuous-time network (ncps ``CfC`` semantics); see the module docstring.

    Args:
        input_size: number of input features.
        units: neurons of a fully connected CfC (int), or a wiring (a
            :class:`~lnn_control.wirings.Wiring`, built in place for ``input_size`` if it is
            not yet, as ncps does; or its ``to_dict()``) for a wired CfC.
        proj_size: if set, a Linear readout ``fc`` to ``proj_size`` outputs.
        return_sequences: return every step's output (B, T, O), else only the last (B, O).
        mixed_memory: run an LSTM memory cell before the CfC at every step.
        mode: 'default' (gated), 'pure' (direct solution) or 'no_gate'.
        activation: backbone activation: 'lecun_tanh', 'tanh', 'relu', 'silu' or 'gelu'
            (fully connected only).
        backbone_units: backbone width (fully connected only; default 128).
        backbone_layers: backbone depth, 0 for none (fully connected only; default 1).
        backbone_dropout: dropout after the activation of every backbone layer but the
            first, as ncps (fully connected only; default 0).
        strict_wiring: wired only: also mask the time heads and use the wiring's own
            within-layer synapses instead of all-ones (not ncps; see the module docstring).

    Attributes:
        input_size, output_size: model input and output features.
        units: number of CfC neurons N; ``state_size`` the flat state size (2N with memory).
        wiring: the wiring (None for a fully connected CfC).
        layer_sizes: neurons per sub-cell, in state order; ``neuron_order`` the wiring neuron
            id of each state element (``range(N)`` when fully connected).
        motor_size: output neurons (the last layer), before ``fc``.
        fused_scan: use the fused recurrence when it applies (default True).

    """

    kind = 'cfc'

    def __init__(self, input_size: int, units: Union[int, Wiring, Dict[str, Any]],
                 proj_size: Optional[int] = None, return_sequences: bool = True,
                 mixed_memory: bool = False, mode: str = 'default',
                 activation: str = 'lecun_tanh', backbone_units: Optional[int] = None,
                 backbone_layers: Optional[int] = None,
                 backbone_dropout: Optional[float] = None,
                 strict_wiring: bool = False) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'unknown mode {mode!r}; valid: {list(MODES)}')
        if activation not in ACTIVATIONS:
            raise ValueError(f'unknown activation {activation!r}; valid: {sorted(ACTIVATIONS)}')
        self.input_size = int(input_size)
        self.return_sequences = bool(return_sequences)
        self.mixed_memory = bool(mixed_memory)
        self.mode = mode
        self.activation = activation
        self.strict_wiring = bool(strict_wiring)
        self.proj_size = None if proj_size is None else int(proj_size)

        if isinstance(units, dict):
            units = Wiring.from_dict(units)
        if isinstance(units, Wiring):
            for name, value in (('backbone_units', backbone_units),
                                ('backbone_layers', backbone_layers),
                                ('backbone_dropout', backbone_dropout)):
                if value is not None:
                    raise ValueError(f'{name} is for a fully connected CfC, not a wired one')
            units.build(self.input_size)  # in place, as ncps (a subclass's build may return None)
            self.wiring: Optional[Wiring] = units
            self.units = self.wiring.units
            self.layer_sizes = self.wiring.layer_sizes
            self.neuron_order = [i for layer in self.wiring.layers for i in layer]
            n_out = self.wiring.output_dim
            self.backbone_units = self.backbone_layers = self.backbone_dropout = None
            bb_units, bb_layers = 0, 0
        else:
            if self.strict_wiring:
                raise ValueError('strict_wiring needs a wiring, not units as an int')
            if int(units) < 1:
                raise ValueError(f'units must be >= 1, got {units}')
            self.wiring = None
            self.units = int(units)
            self.layer_sizes = [self.units]
            self.neuron_order = list(range(self.units))
            n_out = self.units
            self.backbone_units = 128 if backbone_units is None else int(backbone_units)
            self.backbone_layers = 1 if backbone_layers is None else int(backbone_layers)
            self.backbone_dropout = (0.0 if backbone_dropout is None
                                     else float(backbone_dropout))
            if self.backbone_layers < 0 or (self.backbone_layers and self.backbone_units < 1):
                raise ValueError('backbone_layers must be >= 0 and backbone_units >= 1')
            bb_units, bb_layers = self.backbone_units, self.backbone_layers
        self.state_size = self.units * (2 if self.mixed_memory else 1)
        self.motor_size = n_out
        self.output_size = n_out if self.proj_size is None else self.proj_size

        self.layers = nn.ModuleList()
        in_features = self.input_size
        for size in self.layer_sizes:
            self.layers.append(_Layer(in_features, size, mode, bb_units, bb_layers))
            in_features = size
        if self.wiring is not None:
            for i, mask in enumerate(self._masks()):
                self.register_buffer(f'_mask{i}', mask, persistent=False)
        if self.mixed_memory:
            self.memory = MemoryCell(self.input_size, self.units)
        self.fc = None if self.proj_size is None else nn.Linear(n_out, self.proj_size)
        # Without backbone and memory the recurrence runs in Scan (same values, faster);
        # False forces the general autograd loop (tests compare the two).
        self.fused_scan = True
        self._plan_cache: Optional[Tuple[Any, List[Plan]]] = None

    # ------------------------------------------------------------------ wiring masks
    def _masks(self) -> List[torch.Tensor]:
        """Per layer the fused (4H or H, I + H) mask of the heads (1 = the weight exists)."""
        wiring = self.wiring
        masks = []
        prev: Optional[List[int]] = None
        for layer in wiring.layers:
            src = wiring.sensory_adjacency if prev is None else wiring.adjacency[prev]
            inp = np.abs(src[:, layer]).T  # (H, I): [dest, src]
            if self.strict_wiring:
                rec = np.abs(wiring.adjacency[np.ix_(layer, layer)]).T  # (H, H)
            else:
                rec = np.ones((len(layer), len(layer)))
            head = np.concatenate([inp, rec], axis=1).astype(np.float32)  # (H, I + H)
            if self.mode == 'pure':
                fused = head
            else:
                time = head if self.strict_wiring else np.ones_like(head)
                fused = np.concatenate([head, head, time, time], axis=0)  # (4H, I + H)
            masks.append(torch.from_numpy(fused))
            prev = layer
        return masks

    # ------------------------------------------------------------------ config and state
    def get_config(self) -> Dict[str, Any]:
        """Return the JSON-able constructor arguments (the wiring as ``to_dict()``)."""
        return {'input_size': self.input_size,
                'units': self.units if self.wiring is None else self.wiring.to_dict(),
                'proj_size': self.proj_size, 'return_sequences': self.return_sequences,
                'mixed_memory': self.mixed_memory, 'mode': self.mode,
                'activation': self.activation, 'backbone_units': self.backbone_units,
                'backbone_layers': self.backbone_layers,
                'backbone_dropout': self.backbone_dropout,
                'strict_wiring': self.strict_wiring}

    def _state_like(self) -> torch.Tensor:
        # layers[0].ff1.weight through the module dicts: every forward asks (input casting),
        # and nn.Module attribute access costs microseconds.
        return self._modules['layers']._modules['0']._modules['ff1']._parameters['weight']

    # ------------------------------------------------------------------ forward
    def _plans(self) -> List[Plan]:
        """Fuse heads, apply masks and fold activation scales, once per forward."""
        _, a_in, a_out = ACTIVATIONS[self.activation]
        pure = self.mode == 'pure'
        plans = []
        for i, layer in enumerate(self.layers):
            if pure:
                w, b = layer.ff1.weight, layer.ff1.bias  # (H, K), (H,)
            else:
                heads = (layer.ff1, layer.ff2, layer.time_a, layer.time_b)
                w = torch.cat([m.weight for m in heads], 0)  # (4H, K)
                b = torch.cat([m.bias for m in heads], 0)  # (4H,)
            if self.wiring is not None:
                w = w * getattr(self, f'_mask{i}')
            hidden: List[Tuple[torch.Tensor, torch.Tensor]] = []
            head_plan = None
            first_w, first_b = w, b
            if len(layer.backbone):
                # activation(x) = a_out * f(a_in * x): scale the pre-activation by a_in and
                # move a_out into the next matrix (exact in real arithmetic).
                lins = list(layer.backbone)
                first_w, first_b = lins[0].weight * a_in, lins[0].bias * a_in
                for lin in lins[1:]:
                    hidden.append(((lin.weight * (a_in * a_out)).t(), lin.bias * a_in))
                head_plan = ((w * a_out).t(), b)
            wt = first_w.t()  # (I + H, K)
            n_in = layer.in_features
            plans.append(Plan(wt[:n_in], wt[n_in:], first_b, hidden, head_plan,
                              layer.w_tau.abs() if pure else None,
                              layer.A if pure else None))
        return plans

    def _cached_plans(self) -> List[Plan]:
        """Return :meth:`_plans`, reused while no parameter changed (inference only)."""
        # A tensor's storage and version counter change with every in-place update
        # (optimiser steps, load_state_dict) and every move or cast of the module.
        # (nn.Module.parameters() is too slow to call every step: walk the dicts directly.)
        key = []
        stack: List[nn.Module] = [self]
        while stack:
            module = stack.pop()
            stack.extend(module._modules.values())
            for t in itertools.chain(module._parameters.values(), module._buffers.values()):
                if t is not None:
                    key += (t.data_ptr(), t._version)
        if self._plan_cache is None or self._plan_cache[0] != key:
            self._plan_cache = (key, self._plans())
        return self._plan_cache[1]

    def _cell(self, pre: torch.Tensor, plan: Plan, ts: Union[float, torch.Tensor],
              act: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Finish one sub-cell step from the first matrix's pre-activation (B, K)."""
        if plan.heads is not None:
            a = act(pre)  # (B, U)
            for w, b in plan.hidden:
                a = act(torch.addmm(b, a, w))
                if self.backbone_dropout:
                    a = F.dropout(a, self.backbone_dropout, self.training)
            z = torch.addmm(plan.heads[1], a, plan.heads[0])  # (B, 4H) or (B, H)
        else:
            z = pre
        if plan.a is not None:  # pure
            if isinstance(ts, float):
                e = torch.exp((plan.abs_w_tau + z.abs()) * -ts)
            else:
                e = torch.exp((plan.abs_w_tau + z.abs()) * ts)  # ts is -t here
            return torch.addcmul(plan.a, plan.a, e * z, value=-1.0)  # (B, H)
        f1, f2, t_a, t_b = z.chunk(4, 1)
        if isinstance(ts, float):
            gate = torch.sigmoid(t_b + t_a if ts == 1.0 else torch.add(t_b, t_a, alpha=ts))
        else:
            gate = torch.sigmoid(torch.addcmul(t_b, t_a, ts))  # (B, H)
        if self.mode == 'no_gate':
            return torch.addcmul(torch.tanh(f1), gate, torch.tanh(f2))
        return torch.lerp(torch.tanh(f1), torch.tanh(f2), gate)  # f1 (1 - g) + g f2

    def forward(self, x: torch.Tensor, h: Optional[State] = None,
                timespans: Union[None, float, torch.Tensor] = None
                ) -> Tuple[torch.Tensor, State]:
        """Run the sequence ``x`` (B, T, input_size); return (y, final state). See the module."""
        x, timespans = self.cast_inputs(x, timespans)
        if x.dim() == 2:  # unbatched (T, in), as ncps
            return self._forward_unbatched(functools.partial(CfC.forward, self), x, h,
                                           timespans)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f'x must be (B, T, {self.input_size}), got {tuple(x.shape)}')
        batch, steps, _ = x.shape
        hx, cx = self._start_state(h, batch, x)

        ts: Optional[torch.Tensor] = None
        ts_scalar = 1.0
        if timespans is not None:
            if not torch.is_tensor(timespans) or timespans.dim() == 0:
                ts_scalar = float(timespans)
            else:
                ts = timespans_to_bt1(timespans, batch, steps, x)  # (B, T, 1)

        grad = torch.is_grad_enabled()
        plans = self._plans() if grad else self._cached_plans()
        p0 = plans[0]
        dropout = self.training and bool(self.backbone_dropout) and self.backbone_layers > 1
        # Tracers and exporters (ONNX, torch.export) see through plain ops only, not the
        # buffers Scan writes in place: they get the loop. Without autograd the loop is as
        # fast (the scan's gain is its backward) and cheaper to set up for short sequences.
        exporting = (torch.jit.is_tracing() or torch.jit.is_scripting()
                     or torch.compiler.is_compiling())
        if (self.fused_scan and grad and not self.mixed_memory and not dropout
                and not exporting):
            # Layer 0's input part for all steps in one product, time-major for the scan.
            first = torch.addmm(p0.b, x.transpose(0, 1).reshape(-1, self.input_size), p0.w_in)
            params: List[Optional[torch.Tensor]] = []
            for i, p in enumerate(plans):
                params += [p.w_in if i else None, p.b if i else None, p.w_rec, p.abs_w_tau, p.a]
            if p0.heads is not None:
                for w, b in p0.hidden + [p0.heads]:
                    params += [w, b]
            spec = (self.mode, self.layer_sizes, ts_scalar, self.activation,
                    self.backbone_layers or 0)
            states = Scan.apply(spec, first.view(steps, batch, -1), hx,
                                None if ts is None else ts.transpose(0, 1),
                                *params).transpose(0, 1)  # (B, T, N)
            hx = states[:, -1]
            motor = slice(self.units - self.motor_size, self.units)
            y = states[..., motor] if self.return_sequences else hx[:, motor]
        else:
            y, hx, cx = self._loop(x, hx, cx, ts, ts_scalar, plans)
        if self.fc is not None:
            y = self.fc(y)
        return y, ((hx, cx) if self.mixed_memory else hx)

    def _loop(self, x: torch.Tensor, hx: torch.Tensor, cx: Optional[torch.Tensor],
              ts: Optional[torch.Tensor], ts_scalar: float, plans: List[Plan]
              ) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """Run the general step loop under autograd (backbone, memory); return (y, h, c)."""
        batch, steps, _ = x.shape
        ts_steps = None
        if ts is not None:
            ts_steps = (-ts if self.mode == 'pure' else ts).unbind(1)  # T x (B, 1)
        act = ACTIVATIONS[self.activation][0]
        p0 = plans[0]
        first = torch.addmm(p0.b, x.reshape(-1, self.input_size), p0.w_in)
        first_steps = first.view(batch, steps, -1).unbind(1)  # T x (B, K)
        mem_steps = self.memory.input_part(x).unbind(1) if self.mixed_memory else None
        sizes = self.layer_sizes
        n_layers = len(plans)
        hs = list(hx.split(sizes, 1)) if n_layers > 1 else [hx]
        outs = []
        for t in range(steps):
            ts_t = ts_scalar if ts_steps is None else ts_steps[t]
            if mem_steps is not None:
                # The memory cell reads the raw input and the whole CfC state (ncps).
                full = torch.cat(hs, 1) if n_layers > 1 else hs[0]
                full, cx = self.memory.step(mem_steps[t], full, cx)
                hs = list(full.split(sizes, 1)) if n_layers > 1 else [full]
            out = self._cell(torch.addmm(first_steps[t], hs[0], p0.w_rec), p0, ts_t, act)
            hs[0] = out
            for i in range(1, n_layers):
                p = plans[i]
                pre = torch.addmm(torch.addmm(p.b, out, p.w_in), hs[i], p.w_rec)
                out = self._cell(pre, p, ts_t, act)
                hs[i] = out
            if self.return_sequences:
                outs.append(out)
        hx = torch.cat(hs, 1) if n_layers > 1 else hs[0]
        y = torch.stack(outs, 1) if self.return_sequences else out  # (B, T, O) or (B, O)
        return y, hx, cx

    # ------------------------------------------------------------------ ncps import
    @classmethod
    def from_ncps(cls, module: nn.Module) -> 'CfC':
        """
        Build a CfC with the architecture and weights of an ``ncps.torch.CfC`` (or a cell).

        Wired and fully connected modules, every mode, mixed memory, projection and backbone
        are supported; so are the cells ``CfCCell`` (a hand-masked one becomes a one-layer
        ``Custom`` wiring) and ``WiredCfCCell``, imported with ``return_sequences=False``.
        The wiring becomes ours through :meth:`Wiring.from_ncps`; the ncps sparsity masks must
        equal the masks our wiring implies. ncps is not imported here: the module is read by
        attribute names (:mod:`lnn_control.models.ncps_import`). The result is batch-first
        whatever the module's ``batch_first``.
        """
        return cfc_from_ncps(cls, module)
