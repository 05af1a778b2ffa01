# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Liquid time-constant (LTC) network: the torch model, trained and imported from ncps.

Paper: R. Hasani, M. Lechner, A. Amini, D. Rus, R. Grosu, "Liquid time-constant networks",
AAAI 2021. Reference implementation: ``ncps.torch.LTC`` (ncps 1.0.1, ``ltc_cell.py``), whose
semantics this model reproduces exactly (``LTC.from_ncps`` imports its weights).

The ODE
-------
Each neuron ``i`` has a membrane potential ``v_i`` (the state) obeying the paper's LTC ODE
``dx/dt = -[1/tau + f(x, I)] x + f(x, I) A`` in its conductance form (ncps)::

    cm_i dv_i/dt = gleak_i (vleak_i - v_i)
                   + sum_j  w_ji  s(sigma_ji  (v_j - mu_ji))  (erev_ji  - v_i)    synapses
                   + sum_k  sw_ki s(ssigma_ki (u_k - smu_ki)) (serev_ki - v_i)    sensory

with ``s`` the logistic sigmoid, ``j`` over the neurons with a synapse ``j -> i`` in the wiring
and ``k`` over the inputs with a sensory synapse ``k -> i`` (the paper's form with
``tau = cm/gleak``, ``f = conductances / cm`` and ``A`` the reversal potentials ``erev``; the
leak adds the constant ``gleak vleak / cm``). The conductances depend on the state, so the
effective time constant ``cm_i / (gleak_i + sum of conductances)`` is "liquid" (the runtime
exposes it as ``LTCCell.time_constant``).

The discrete update actually computed
-------------------------------------
The paper's fused solver (semi-implicit Euler: the leak and synaptic terms implicit in ``v_i``,
explicit in the presynaptic ``v_j``), unfolded ``L = ode_unfolds`` times over one step of
elapsed time ``dt``, with ``D = dt / (L time_unit)``; each unfold computes::

    a_ji  = w_ji  s(sigma_ji  (v_j - mu_ji))          # (B, synapses), with the current v
    sa_ki = sw_ki s(ssigma_ki (u_k - smu_ki))         # (B, sensory synapses), once per step
    v_i  <- (cm_i/D v_i + gleak_i vleak_i + sum_j a_ji erev_ji + sum_k sa_ki serev_ki)
            / (cm_i/D + gleak_i + sum_j a_ji + sum_k sa_ki + epsilon)

``time_unit`` (seconds; 1 by default, not in ncps) is the cell's unit of time: ``dt`` enters the
solver as ``dt / time_unit``. ncps steps with an elapsed time of 1 unless told otherwise; a
robot passes real seconds, and at the initial ``cm`` (0.4-0.6) an LTC then takes ~15-60 steps of
0.05 s to follow an input step, too slow a controller for a 20 Hz gait (a CfC takes 1-4, its
time gate is learned). ``time_unit = 0.05`` gives such a robot ncps's dynamics per step while
the cell still sees every step's real length, so irregular sampling stays meaningful.

``u = x * input_w + input_b`` is the mapped input (``input_mapping``); the output is the first
``output_dim`` (motor) neurons mapped by ``y = v[:output_dim] * output_w + output_b``
(``output_mapping``). With ``implicit_param_constraints`` the positive parameters ``w, sw, cm,
gleak`` are used through ``softplus``; without it they are used as they are and
``apply_weight_constraints()`` clips them to >= 0 after each optimiser step (ncps convention).
Absent synapses (wiring adjacency 0) do not exist: their entries of the (N, N) parameter
matrices are kept (ncps layout, so weights import unchanged) but have no effect on the output
and get exactly zero gradient.

With ``mixed_memory`` an LSTM memory cell (ncps ``LSTMCell`` semantics, Lechner & Hasani,
"Learning long-term dependencies in irregularly-sampled time series", 2020) runs first at every
step on the raw input and its output state is the LTC's starting state for that step.

Shapes (batch-first only; B batch, T steps, N = wiring units, O = wiring output_dim)::

    x          (B, T, input_size), or (T, input_size) unbatched (then y, h lose B too)
    timespans  None (1.0), a scalar, (B, T) or (B, T, 1): elapsed seconds of each step
               (unbatched: (T,) or (T, 1)); numpy arrays and tensors of another dtype or
               device (x too) are cast to the model's dtype and device
    h          None (zeros), (B, N), or with mixed_memory a tuple ((B, N), (B, N)) or (B, 2N)
    y          (B, T, O) if return_sequences else (B, O)
    h out      (B, N), or with mixed_memory the tuple (h, c); ``flat_state`` gives (B, 2N)

Speed: the ncps computation is regrouped, not changed. The sensory term depends only on the
inputs and is computed for all T steps at once; softplus, the sparsity masks and sigma*mu are
folded once per forward instead of once per unfold. Sparse wirings (mean fan-in <= 20, e.g.
NCP wirings) compute only the synapses that exist, gathered and scattered with one-hot matrices
so that an unfold is two small matrix products, and run the recurrence in a hand-written
autograd Function (:class:`_FusedSolve`) whose backward replays the loop and gets every
parameter gradient from one matrix product over the whole sequence. The one-hot products are
O(B N S) an unfold: from about 64 units the loop gathers and scatter-adds by index instead,
neuron-major (:class:`_IndexSolve`, O(B S)). Dense wirings use (N, N)
broadcasting through plain autograd. On one CPU thread, training an LTC(17, AutoNCP(19, 6)) is
~5x faster than ncps.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Tuple, Union

from lnn_control.models.base import PolicyModel
from lnn_control.models.base import timespans_to_bt1
from lnn_control.models.memory import MemoryCell
from lnn_control.models.memory import MixedMemoryState
from lnn_control.models.memory import State
from lnn_control.models.ncps_import import ltc_from_ncps
from lnn_control.wirings import FullyConnected
from lnn_control.wirings import Wiring
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['LTC']

MAPPINGS = ('affine', 'linear', 'none')
# ncps LTCCell._init_ranges: uniform init ranges of the parameters.
INIT_RANGES = {
    'gleak': (0.001, 1.0), 'vleak': (-0.2, 0.2), 'cm': (0.4, 0.6),
    'w': (0.001, 1.0), 'sigma': (3.0, 8.0), 'mu': (0.3, 0.8),
    'sensory_w': (0.001, 1.0), 'sensory_sigma': (3.0, 8.0), 'sensory_mu': (0.3, 0.8),
}


class _FusedSolve(torch.autograd.Function):
    """
    The unfolded fused-solver recurrence over a whole sequence, with a hand-written backward.

    Inputs (S synapses, all folded by the caller)::

        v0   (B, N)      starting state
        b    (B, T, 2N)  [numerator | denominator] constants of each step:
                         [gleak*vleak + sensory sum(sa*serev) | cm/D + gleak + sum(sa) + eps]
        c    (B, T, N)   cm/D, the coefficient of v in the numerator
        gs   (N, S)      one-hot source gather scaled by sigma: z = v @ gs + nms
        nms  (S,)        -mu * sigma
        m    (S, 2N)     one-hot destination scatter scaled by [w * erev | w]

    Output: (B, T, N), the state after each step. Autograd through the plain loop spends most
    of its time recording ~4000 tiny ops; here the forward writes into preallocated buffers
    (5 ops an unfold), the backward replays the loop with 6 ops an unfold, and every
    parameter gradient comes from one product over all (T, unfold, B) rows.
    """

    @staticmethod
    def forward(ctx: Any, v0: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                gs: torch.Tensor, nms: torch.Tensor, m: torch.Tensor,
                unfolds: int) -> torch.Tensor:
        batch, steps, n = c.shape
        rows = steps * unfolds
        states = v0.new_empty(rows + 1, batch, n)  # v before every unfold, then the last v
        acts = v0.new_empty(rows, batch, gs.shape[1])  # sigmoid activations (B, S) each
        nd = v0.new_empty(rows, batch, 2 * n)  # [numerator w/o c*v | denominator]
        states[0] = v0
        # Views made in bulk (one C++ call each) instead of slicing in the loop.
        st, ac, ndv = states.unbind(0), acts.unbind(0), nd.unbind(0)
        num, den = nd[..., :n].unbind(0), nd[..., n:].unbind(0)
        i = 0
        for b_t, c_t in zip(b.unbind(1), c.unbind(1)):
            for _ in range(unfolds):
                a = torch.addmm(nms, st[i], gs, out=ac[i]).sigmoid_()  # (B, S)
                torch.addmm(b_t, a, m, out=ndv[i])  # (B, 2N)
                torch.addcmul(num[i], c_t, st[i], out=st[i + 1]).div_(den[i])  # (B, N)
                i += 1
        ctx.unfolds = unfolds
        ctx.save_for_backward(states, acts, nd, c, gs, m)
        return states[unfolds::unfolds].transpose(0, 1)  # (B, T, N)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        states, acts, nd, c, gs, m = ctx.saved_tensors
        unfolds = ctx.unfolds
        batch, steps, n = c.shape
        rows, s = steps * unfolds, gs.shape[1]
        # v' = (num + c v) / den, so dv'/dnum = 1/den and dv'/dden = -v'/den; gnd holds
        # [dL/dnum | -dL/dden] and the sign is restored by m_sign / sign below.
        sign = torch.ones(2 * n, dtype=c.dtype, device=c.device)
        sign[n:] = -1.0
        m_sign = (m * sign).t()  # (2N, S)
        gs_t = gs.t()
        dsig = acts - acts * acts  # sigmoid' = a (1 - a), (rows, B, S)
        gnd = nd.new_empty(rows, batch, 2 * n)
        gz = acts.new_empty(rows, batch, s)
        st, ds, gndv, gzv = states.unbind(0), dsig.unbind(0), gnd.unbind(0), gz.unbind(0)
        den = nd[..., n:].unbind(0)
        gn, gd = gnd[..., :n].unbind(0), gnd[..., n:].unbind(0)
        g = torch.zeros_like(states[0])  # dL/dv, (B, N)
        i = rows
        for grad_t, c_t in zip(reversed(grad.unbind(1)), reversed(c.unbind(1))):
            g = g + grad_t
            for _ in range(unfolds):
                i -= 1
                torch.div(g, den[i], out=gn[i])
                torch.mul(gn[i], st[i + 1], out=gd[i])
                z = torch.mm(gndv[i], m_sign, out=gzv[i]).mul_(ds[i])  # (B, S)
                g = torch.addcmul(torch.mm(z, gs_t), gn[i], c_t)
        a_rows, z_rows = acts.view(rows * batch, s), gz.view(rows * batch, s)
        g_m = a_rows.t().mm(gnd.view(rows * batch, 2 * n)).mul_(sign)  # (S, 2N)
        g_gs = states[:-1].reshape(rows * batch, n).t().mm(z_rows)  # (N, S)
        g_nms = z_rows.sum(0)
        g_b = gnd.view(steps, unfolds, batch, 2 * n).sum(1).mul_(sign).transpose(0, 1)
        g_c = (gnd[..., :n] * states[:-1]).view(steps, unfolds, batch, n).sum(1)
        return g, g_b, g_c.transpose(0, 1), g_gs, g_nms, g_m, None


class _IndexSolve(torch.autograd.Function):
    """
    :class:`_FusedSolve` with index gathers and scatter-adds in place of the one-hot products.

    The one-hot products cost O(B N S) an unfold; ``index_select`` and ``index_add`` cost
    O(B S), in more (cheaper) calls, which pays from about 64 units on
    (``_INDEX_MIN_WORK``). The loop works neuron-major, (N, B) and (S, B), so that every
    gather and scatter moves whole contiguous rows of B values. Inputs (S synapses)::

        v0, b, c   as in _FusedSolve
        sig (S,)   sigma of each synapse: z = v[src] * sig + nms
        nms (S,)   -mu * sigma
        w2  (2S,)  [w * erev | w] per synapse, added into [numerator | denominator]
        src (S,), dest2 (2S,) = [dest, dest + N]   long indices, no gradient

    Parameter gradients are reduced in chunks of unfolds (the gathers of a whole sequence
    would be (T L, 2S, B)).
    """

    @staticmethod
    def forward(ctx: Any, v0: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                sig: torch.Tensor, nms: torch.Tensor, w2: torch.Tensor, src: torch.Tensor,
                dest2: torch.Tensor, unfolds: int) -> torch.Tensor:
        batch, steps, n = c.shape
        s = sig.shape[0]
        rows = steps * unfolds
        b_n = b.permute(1, 2, 0).contiguous()  # (T, 2N, B)
        c_n = c.permute(1, 2, 0).contiguous()  # (T, N, B)
        states = v0.new_empty(rows + 1, n, batch)  # v before every unfold, then the last v
        acts = v0.new_empty(rows, s, batch)  # sigmoid activations
        nd = v0.new_empty(rows, 2 * n, batch)  # [numerator w/o c*v | denominator]
        prod = v0.new_empty(2, s, batch)
        sig_c, nms_c, w2_c = sig[:, None], nms[:, None], w2.view(2, s, 1)
        states[0] = v0.t()
        st, ac, ndv = states.unbind(0), acts.unbind(0), nd.unbind(0)
        num, den = nd[:, :n].unbind(0), nd[:, n:].unbind(0)
        flat = prod.view(2 * s, batch)
        i = 0
        for b_t, c_t in zip(b_n.unbind(0), c_n.unbind(0)):
            for _ in range(unfolds):
                a = torch.index_select(st[i], 0, src, out=ac[i])  # (S, B) presynaptic v
                torch.addcmul(nms_c, a, sig_c, out=a).sigmoid_()
                torch.mul(a, w2_c, out=prod)  # (2, S, B)
                torch.index_add(b_t, 0, dest2, flat, out=ndv[i])  # (2N, B)
                torch.addcmul(num[i], c_t, st[i], out=st[i + 1]).div_(den[i])
                i += 1
        ctx.unfolds = unfolds
        ctx.save_for_backward(states, acts, nd, c_n, sig, w2, src, dest2)
        return states[unfolds::unfolds].permute(2, 0, 1)  # (B, T, N)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        states, acts, nd, c_n, sig, w2, src, dest2 = ctx.saved_tensors
        unfolds = ctx.unfolds
        steps, n, batch = c_n.shape
        rows, s = steps * unfolds, sig.shape[0]
        grad_n = grad.permute(1, 2, 0)  # (T, N, B)
        # gnd holds [dL/dnum | -dL/dden] as in _FusedSolve; the sign is restored below.
        w2_sign = w2.view(2, s, 1).clone()
        w2_sign[1] *= -1.0
        sig_c = sig[:, None]
        dsig = acts - acts * acts  # sigmoid' = a (1 - a), (rows, S, B)
        gnd = nd.new_empty(rows, 2 * n, batch)
        gz = acts.new_empty(rows, s, batch)
        gathered = nd.new_empty(2, s, batch)
        st, ds, gndv, gzv = states.unbind(0), dsig.unbind(0), gnd.unbind(0), gz.unbind(0)
        den = nd[:, n:].unbind(0)
        gn, gd = gnd[:, :n].unbind(0), gnd[:, n:].unbind(0)
        flat = gathered.view(2 * s, batch)
        g = torch.zeros_like(states[0])  # dL/dv, (N, B)
        i = rows
        for grad_t, c_t in zip(reversed(grad_n.unbind(0)), reversed(c_n.unbind(0))):
            g = g + grad_t
            for _ in range(unfolds):
                i -= 1
                torch.div(g, den[i], out=gn[i])
                torch.mul(gn[i], st[i + 1], out=gd[i])
                torch.index_select(gndv[i], 0, dest2, out=flat)  # (2S, B)
                z = torch.sum(gathered.mul_(w2_sign), 0, out=gzv[i]).mul_(ds[i])  # (S, B)
                g = torch.index_add(gn[i] * c_t, 0, src, z * sig_c)  # (N, B)
        g_w2 = w2.new_zeros(2, s)
        g_sig = sig.new_zeros(s)
        chunk = max(1, (1 << 22) // max(1, batch * 2 * s))  # ~16 MB of gathers at a time
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            g_c = gnd[start:stop].index_select(1, dest2).view(stop - start, 2, s, batch)
            g_w2 += (g_c * acts[start:stop].unsqueeze(1)).sum((0, 3))
            g_sig += (states[start:stop].index_select(1, src) * gz[start:stop]).sum((0, 2))
        g_w2[1] *= -1.0
        g_nms = gz.sum((0, 2))
        g_b = gnd.view(steps, unfolds, 2 * n, batch).sum(1)  # (T, 2N, B)
        g_b[:, n:] *= -1.0
        g_c = (gnd[:, :n] * states[:-1]).view(steps, unfolds, n, batch).sum(1)
        return (g.t(), g_b.permute(2, 0, 1), g_c.permute(2, 0, 1), g_sig, g_nms,
                g_w2.view(-1), None, None, None)


# Sparse (one-hot gather/scatter products, ~N*S per row) unless the mean fan-in S/N is so
# high that the dense form (~N*N per row, but several elementwise ops) is cheaper. Measured
# training on 1 thread: sparse wins for FullyConnected(20) and AutoNCP(128, 8) (fan-in 15),
# dense for FullyConnected(24).
_SPARSE_MAX_FANIN = 20


def _use_sparse(units: int, synapses: int) -> bool:
    return synapses <= _SPARSE_MAX_FANIN * units


# Multiply-adds of the one-hot products per batch row and unfold, 3 N S (forward gather and
# scatter), above which index gathers and scatter-adds are faster (forward + backward, batch
# 32 x 64 steps, one thread: AutoNCP(48, 6) at 40k 0.12 s one-hot vs 0.15 s index,
# AutoNCP(64, 6) at 91k 0.24 vs 0.21 s, AutoNCP(96, 6) at 321k 0.83 vs 0.54 s).
_INDEX_MIN_WORK = 60_000


def _use_index(units: int, synapses: int) -> bool:
    return 3 * units * synapses > _INDEX_MIN_WORK


def _one_hot(index: np.ndarray, size: int, rows: bool) -> torch.Tensor:
    """(size, len(index)) if rows (entry [index[s], s] = 1) else (len(index), size)."""
    mat = torch.zeros(size, len(index))
    mat[torch.as_tensor(index, dtype=torch.long), torch.arange(len(index))] = 1.0
    return mat if rows else mat.t().contiguous()


class LTC(MixedMemoryState, PolicyModel):
    """
    A liquid time-constant network (LTC), optionally sparse (NCP wiring) and with memory.

    Args:
        input_size: number of input features.
        units: an int (a ``FullyConnected(units)`` wiring, as ncps), a
            :class:`lnn_control.wirings.Wiring` or its ``to_dict()``. Built for
            ``input_size`` inputs if it is not built yet.
        return_sequences: output every step (B, T, O) or only the last (B, O).
        mixed_memory: run an LSTM memory cell before the LTC at every step (ncps).
        input_mapping: 'affine' (u = x*input_w + input_b), 'linear' (u = x*input_w) or 'none'.
        output_mapping: 'affine', 'linear' or 'none', on the motor neurons.
        ode_unfolds: solver iterations per step (L above; ncps default 6).
        time_unit: seconds per unit of the ODE's time (> 0; 1 as ncps): the elapsed time
            of a step enters as ``dt / time_unit`` (see the module).
        epsilon: added to the denominator, avoids division by zero.
        implicit_param_constraints: softplus on w, sensory_w, cm, gleak (True, ncps LTC
            default) or identity plus ``apply_weight_constraints()`` clipping (False).

    Parameters (the ``state_dict`` names the runtime reads; I inputs, N units, O outputs):
    ``gleak, vleak, cm`` (N,); ``w, sigma, mu, erev`` (N, N) indexed [src, dest];
    ``sensory_w, sensory_sigma, sensory_mu, sensory_erev`` (I, N); ``input_w, input_b`` (I,)
    and ``output_w, output_b`` (O,) as the mappings require; ``memory.*`` with mixed memory.
    ``erev``/``sensory_erev`` start at the wiring polarity (+1 excitatory, -1 inhibitory).

    Attributes: ``wiring`` (built), ``units`` N, ``output_size`` O, ``input_size``, and
    ``state_size`` (N, or 2N with mixed memory: the width of ``flat_state``).

    """

    kind = 'ltc'

    def __init__(self, input_size: int, units: Union[int, Wiring, Dict[str, Any]],
                 return_sequences: bool = True, mixed_memory: bool = False,
                 input_mapping: str = 'affine', output_mapping: str = 'affine',
                 ode_unfolds: int = 6, epsilon: float = 1e-8,
                 implicit_param_constraints: bool = True, time_unit: float = 1.0) -> None:
        super().__init__()
        if not (np.isfinite(float(time_unit)) and float(time_unit) > 0.0):
            raise ValueError(f'time_unit must be a finite number of seconds > 0, '
                             f'got {time_unit}')
        for name, mapping in (('input_mapping', input_mapping),
                              ('output_mapping', output_mapping)):
            if mapping not in MAPPINGS:
                raise ValueError(f'{name} must be one of {MAPPINGS}, got {mapping!r}')
        if int(ode_unfolds) < 1:
            raise ValueError(f'ode_unfolds must be >= 1, got {ode_unfolds}')
        if isinstance(units, dict):
            wiring = Wiring.from_dict(units)
        elif isinstance(units, Wiring):
            wiring = units
        else:
            wiring = FullyConnected(int(units))
        wiring.build(int(input_size))
        self.wiring = wiring
        self.input_size = int(input_size)
        self.units = wiring.units
        self.output_size = wiring.output_dim
        self.return_sequences = bool(return_sequences)
        self.mixed_memory = bool(mixed_memory)
        self.input_mapping = input_mapping
        self.output_mapping = output_mapping
        self.ode_unfolds = int(ode_unfolds)
        self.time_unit = float(time_unit)
        self.epsilon = float(epsilon)
        self.implicit_param_constraints = bool(implicit_param_constraints)
        self.state_size = self.units * (2 if self.mixed_memory else 1)

        n, i, o = self.units, self.input_size, self.output_size
        # Same creation order and ranges as ncps LTCCell, so one torch seed gives one init.
        self.gleak = nn.Parameter(self._uniform((n,), 'gleak'))
        self.vleak = nn.Parameter(self._uniform((n,), 'vleak'))
        self.cm = nn.Parameter(self._uniform((n,), 'cm'))
        self.sigma = nn.Parameter(self._uniform((n, n), 'sigma'))
        self.mu = nn.Parameter(self._uniform((n, n), 'mu'))
        self.w = nn.Parameter(self._uniform((n, n), 'w'))
        self.erev = nn.Parameter(torch.tensor(wiring.adjacency, dtype=torch.float32))
        self.sensory_sigma = nn.Parameter(self._uniform((i, n), 'sensory_sigma'))
        self.sensory_mu = nn.Parameter(self._uniform((i, n), 'sensory_mu'))
        self.sensory_w = nn.Parameter(self._uniform((i, n), 'sensory_w'))
        self.sensory_erev = nn.Parameter(
            torch.tensor(wiring.sensory_adjacency, dtype=torch.float32))
        if input_mapping in ('affine', 'linear'):
            self.input_w = nn.Parameter(torch.ones(i))
        if input_mapping == 'affine':
            self.input_b = nn.Parameter(torch.zeros(i))
        if output_mapping in ('affine', 'linear'):
            self.output_w = nn.Parameter(torch.ones(o))
        if output_mapping == 'affine':
            self.output_b = nn.Parameter(torch.zeros(o))
        if self.mixed_memory:
            self.memory = MemoryCell(i, n)

        # The wiring's synapses as non-persistent buffers: the policy file holds parameters
        # only, the config rebuilds the wiring. Sparse wirings are computed over their
        # synapse lists (row-major [src, dest] order) with one-hot gather/scatter matrices;
        # dense ones over full (N, N) matrices with the mask folded into w (cheaper there).
        adjacency, sensory = wiring.adjacency != 0, wiring.sensory_adjacency != 0
        self._sparse = _use_sparse(n, int(adjacency.sum()))
        self._sensory_sparse = _use_sparse(n, int(sensory.sum()))
        for prefix, mat, sparse in (('', adjacency, self._sparse),
                                    ('sensory_', sensory, self._sensory_sparse)):
            if sparse:
                src, dest = np.nonzero(mat)
                self.register_buffer(f'_{prefix}src', torch.as_tensor(src, dtype=torch.long),
                                     persistent=False)
                self.register_buffer(f'_{prefix}dest',
                                     torch.as_tensor(dest, dtype=torch.long), persistent=False)
                self.register_buffer(f'_{prefix}gather', _one_hot(src, mat.shape[0], rows=True),
                                     persistent=False)
                self.register_buffer(f'_{prefix}scatter', _one_hot(dest, n, rows=False),
                                     persistent=False)
            else:
                self.register_buffer(f'_{prefix}mask', torch.as_tensor(mat, dtype=torch.float32),
                                     persistent=False)
        # Large sparse wirings: index gathers and scatter-adds instead of one-hot products.
        self._index = self._sparse and _use_index(n, int(adjacency.sum()))
        if self._index:
            self.register_buffer('_dest2', torch.cat([self._dest, self._dest + n]),
                                 persistent=False)

    @staticmethod
    def _uniform(shape: Tuple[int, ...], name: str) -> torch.Tensor:
        low, high = INIT_RANGES[name]
        return torch.rand(*shape) * (high - low) + low

    # ------------------------------------------------------------------ config and state
    def get_config(self) -> Dict[str, Any]:
        """Return the JSON-able constructor arguments (the wiring as ``to_dict()``)."""
        return {'input_size': self.input_size, 'units': self.wiring.to_dict(),
                'return_sequences': self.return_sequences, 'mixed_memory': self.mixed_memory,
                'input_mapping': self.input_mapping, 'output_mapping': self.output_mapping,
                'ode_unfolds': self.ode_unfolds, 'epsilon': self.epsilon,
                'implicit_param_constraints': self.implicit_param_constraints,
                'time_unit': self.time_unit}

    def _state_like(self) -> torch.Tensor:
        return self.gleak

    def _positive(self, p: torch.Tensor) -> torch.Tensor:
        return F.softplus(p) if self.implicit_param_constraints else p

    def apply_weight_constraints(self) -> None:
        """Clip w, sensory_w, cm, gleak to >= 0 (only without implicit constraints, as ncps)."""
        if not self.implicit_param_constraints:
            with torch.no_grad():
                for p in (self.w, self.sensory_w, self.cm, self.gleak):
                    p.clamp_(min=0.0)

    # ------------------------------------------------------------------ forward
    def _fold(self) -> Tuple[torch.Tensor, ...]:
        """Fold the parameters once per forward into what the solver loop multiplies by."""
        w = self._positive(self.w)
        if self._sparse:
            src, dest = self._src, self._dest
            sigma, w = self.sigma[src, dest], w[src, dest]  # (S,)
            if self._index:
                nms = -(self.mu[src, dest] * sigma)
                return sigma, nms, torch.cat([w * self.erev[src, dest], w])  # (S,), (S,), (2S,)
            gs = self._gather * sigma  # (N, S)
            nms = -(self.mu[src, dest] * sigma)
            m = torch.cat([self._scatter * (w * self.erev[src, dest]).unsqueeze(1),
                           self._scatter * w.unsqueeze(1)], dim=1)  # (S, 2N)
            return gs, nms, m
        w = w * self._mask  # absent synapses weigh 0: no effect, no gradient
        return self.sigma, -(self.mu * self.sigma), torch.stack([w * self.erev, w])

    def _sensory(self, u: torch.Tensor) -> torch.Tensor:
        """Sensory [numerator | denominator] sums of all steps at once, (B, T, 2N)."""
        sw = self._positive(self.sensory_w)
        if self._sensory_sparse:
            src, dest = self._sensory_src, self._sensory_dest
            sigma, sw = self.sensory_sigma[src, dest], sw[src, dest]  # (SS,)
            act = torch.sigmoid(torch.matmul(u, self._sensory_gather * sigma)
                                - self.sensory_mu[src, dest] * sigma)  # (B, T, SS)
            m = torch.cat([self._sensory_scatter * (sw * self.sensory_erev[src, dest])[:, None],
                           self._sensory_scatter * sw[:, None]], dim=1)  # (SS, 2N)
            return torch.matmul(act, m)
        sw = sw * self._sensory_mask
        act = torch.sigmoid(self.sensory_sigma * (u.unsqueeze(-1) - self.sensory_mu))
        both = torch.stack([sw * self.sensory_erev, sw])  # (2, I, N)
        return (act.unsqueeze(2) * both).sum(3).flatten(2)  # (B, T, I, N) -> (B, T, 2N)

    def _solve(self, v: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
               folded: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Run the unfolded solver over ``b`` (B, T, 2N), ``c`` (B, T, N); states (B, T, N)."""
        if self._sparse:
            exporting = (torch.jit.is_tracing() or torch.jit.is_scripting()
                         or torch.compiler.is_compiling())
            if not exporting:
                if self._index:
                    return _IndexSolve.apply(v, b, c, *folded, self._src, self._dest2,
                                             self.ode_unfolds)
                return _FusedSolve.apply(v, b, c, *folded, self.ode_unfolds)
            # Exporters (ONNX, torch.export) do not see through the Function's preallocated
            # out= buffers: give them the same recurrence in plain ops.
            if self._index:
                sigma, nms, w2 = folded
                s = sigma.shape[0]
                folded = (self._gather * sigma, nms,
                          torch.cat([self._scatter * w2[:s, None], self._scatter * w2[s:, None]],
                                    dim=1))
            gs, nms, m = folded
            n = c.shape[-1]
            outs = []
            for b_t, c_t in zip(b.unbind(1), c.unbind(1)):
                for _ in range(self.ode_unfolds):
                    nd = torch.addmm(b_t, torch.sigmoid(torch.addmm(nms, v, gs)), m)  # (B, 2N)
                    v = (nd[:, :n] + c_t * v) / nd[:, n:]  # (B, N)
                outs.append(v)
            return torch.stack(outs, dim=1)  # (B, T, N)
        sigma, nms, both = folded  # (N, N), (N, N), (2, N, N)
        batch, steps, n = c.shape
        outs = []
        for b_t, c_t in zip(b.view(batch, steps, 2, n).unbind(1), c.unbind(1)):
            for _ in range(self.ode_unfolds):
                act = torch.sigmoid(torch.addcmul(nms, v.unsqueeze(2), sigma))  # (B, N, N)
                num, den = ((act.unsqueeze(1) * both).sum(2) + b_t).unbind(1)  # (B, N) each
                v = torch.addcmul(num, c_t, v) / den
            outs.append(v)
        return torch.stack(outs, 1)

    def forward(self, x: torch.Tensor, h: Optional[Any] = None,
                timespans: Union[None, float, torch.Tensor] = None
                ) -> Tuple[torch.Tensor, State]:
        """Run the sequence ``x`` (B, T, input_size); return (y, final state). See the module."""
        x, timespans = self.cast_inputs(x, timespans)
        if x.dim() == 2:  # unbatched (T, in), as ncps
            return self._forward_unbatched(functools.partial(LTC.forward, self), x, h,
                                           timespans)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f'x must be (B, T, {self.input_size}), got {tuple(x.shape)}')
        batch, steps, _ = x.shape
        hx, cx = self._start_state(h, batch, x)
        ts = timespans_to_bt1(timespans, batch, steps, x)  # (B, T, 1)

        u = x
        if self.input_mapping in ('affine', 'linear'):
            u = u * self.input_w
        if self.input_mapping == 'affine':
            u = u + self.input_b
        gleak = self._positive(self.gleak)
        cm_t = self._positive(self.cm) / (ts / (self.ode_unfolds * self.time_unit))  # cm / D
        # The step constants: [gleak*vleak | cm/D + gleak + eps] plus the sensory sums.
        b = self._sensory(u) + torch.cat([gleak * self.vleak + torch.zeros_like(cm_t),
                                          cm_t + (gleak + self.epsilon)], dim=-1)  # (B, T, 2N)
        folded = self._fold()

        if not self.mixed_memory:
            states = self._solve(hx, b, cm_t, folded)
            hx = states[:, -1]
        else:
            outs = []
            z_in = self.memory.input_part(x)  # (B, T, 4N)
            for t in range(steps):
                # The memory cell reads the raw input and hands its output to the LTC (ncps).
                hx, cx = self.memory.step(z_in[:, t], hx, cx)
                hx = self._solve(hx, b[:, t:t + 1], cm_t[:, t:t + 1], folded)[:, 0]
                outs.append(hx)
            states = torch.stack(outs, 1)  # (B, T, N)

        y = states[..., :self.output_size] if self.return_sequences else hx[:, :self.output_size]
        if self.output_mapping in ('affine', 'linear'):
            y = y * self.output_w
        if self.output_mapping == 'affine':
            y = y + self.output_b
        return y, ((hx, cx) if self.mixed_memory else hx)

    # ------------------------------------------------------------------ ncps import
    @classmethod
    def from_ncps(cls, module: nn.Module) -> 'LTC':
        """
        Build an LTC with the architecture and weights of an ``ncps.torch.LTC`` (or a cell).

        An ``LTCCell`` is imported with ``return_sequences=False``. The wiring becomes ours
        through :meth:`Wiring.from_ncps` (seeded when it can be, else ``Custom`` matrices).
        The ncps module's sparsity masks must equal its wiring's adjacency (they always do
        unless edited). The result is batch-first whatever the module's ``batch_first``.
        ncps is not imported here: the module is read by attribute names
        (:mod:`lnn_control.models.ncps_import`).
        """
        return ltc_from_ncps(cls, module)
