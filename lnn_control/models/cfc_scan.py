# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The fused recurrence of :class:`lnn_control.models.CfC`: per-forward layer plans and the scan.

Internal to ``models/cfc.py`` (kept apart so each file reads in one sitting): ``Plan`` holds a
layer's fused, transposed weights for one forward; ``Scan`` runs the whole recurrence of a CfC
without mixed memory in preallocated buffers with a hand-written backward (exact
back-propagation through time, tested against autograd and ``gradcheck`` in
``test/test_cfc.py``); ``ACTIVATIONS`` the backbone activations with their scale factors.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from torch.autograd.function import once_differentiable
import torch.nn.functional as F

__all__ = ['ACTIVATIONS', 'Plan', 'Scan']

# name -> (f, a, b) with activation(x) = b * f(a * x); a and b are folded into the weights.
ACTIVATIONS: Dict[str, Tuple[Callable[[torch.Tensor], torch.Tensor], float, float]] = {
    'lecun_tanh': (torch.tanh, 0.666, 1.7159),  # ncps LeCun: 1.7159 * tanh(0.666 x)
    'tanh': (torch.tanh, 1.0, 1.0),
    'relu': (torch.relu, 1.0, 1.0),
    'silu': (F.silu, 1.0, 1.0),
    'gelu': (F.gelu, 1.0, 1.0),
}


class Plan(NamedTuple):
    """Per-forward fused weights of one layer (transposed for ``addmm``)."""

    w_in: torch.Tensor    # (I, K) input columns of the first matrix (backbone or heads)
    w_rec: torch.Tensor   # (H, K) state columns of the first matrix
    b: torch.Tensor       # (K,)
    hidden: List[Tuple[torch.Tensor, torch.Tensor]]  # further backbone layers (W^T, b)
    heads: Optional[Tuple[torch.Tensor, torch.Tensor]]  # (W^T, b) after a backbone
    abs_w_tau: Optional[torch.Tensor]  # pure mode: |w_tau| (H,)
    a: Optional[torch.Tensor]          # pure mode: A (H,)


class Scan(torch.autograd.Function):
    """
    The whole recurrence of a CfC without memory, with a hand-written backward.

    Forward runs without autograd, writing every step into preallocated (T, B, .) buffers;
    the Jacobian factors of the heads (and the activation derivatives of a backbone) are
    then computed for all steps at once, so backward is, per step and layer, one product
    ``dz = dh * J`` and one matrix product back through the weights (two more per backbone
    layer); weight gradients are one matrix product over all steps (back-propagation through
    time, exact: tested against autograd and ``gradcheck``). No gradient flows to the
    timespans.

    Inputs: ``spec = (mode, layer_sizes, scalar_t, activation, backbone_depth)``, ``first``
    (T, B, K0) the input part (bias included) of layer 0's first matrix (the heads, or the
    first backbone layer), ``h0`` (B, N), ``ts`` (T, B, 1) or None (then ``scalar_t`` is the
    elapsed time of every step), then per layer ``w_in`` (I, K) and ``b`` (K,) (None for
    layer 0), ``w_rec`` (H, K), ``|w_tau|`` (H,) and ``A`` (H,) (None unless pure), then for
    a backbone (one layer only) ``(W^T, b)`` of every further backbone layer and of the
    heads. Output: the states of every step (T, B, N).
    """

    @staticmethod
    def forward(ctx: Any, spec: Tuple[str, List[int], float, str, int], first: torch.Tensor,
                h0: torch.Tensor, ts: Optional[torch.Tensor],
                *params: Optional[torch.Tensor]) -> torch.Tensor:
        mode, sizes, scalar, activation, depth = spec
        pure, no_gate = mode == 'pure', mode == 'no_gate'
        steps, batch, _ = first.shape
        n_layers = len(sizes)
        layer_params = [params[5 * i:5 * i + 5] for i in range(n_layers)]
        chain = [params[j:j + 2] for j in range(5 * n_layers, len(params), 2)]  # backbone
        act = ACTIVATIONS[activation][0]
        new = first.new_empty
        states = [new(steps + 1, batch, n) for n in sizes]  # (T + 1, B, H) each
        for s, h in zip(states, h0.split(sizes, 1)):
            s[0] = h
        zs = [new(steps, batch, (1 if pure else 4) * n) for n in sizes]  # (T, B, K) heads
        pres = [new(steps, batch, first.shape[-1])] + [new(steps, batch, w.shape[1])
                                                       for w, _ in chain[:-1]]
        acts: List[List[torch.Tensor]] = [[] for _ in pres] if depth else []
        # Per-step views, made once (indexing inside the loop costs as much as an op).
        s_steps = [s.unbind(0) for s in states]
        z_steps = [z.unbind(0) for z in zs]
        pre_steps = [p.unbind(0) for p in pres]
        first_steps = first.unbind(0)
        t_steps = None if ts is None else (-ts if pure else ts).unbind(0)  # T x (B, 1)
        if pure:
            es = [new(steps, batch, n) for n in sizes]  # exp(-t (|w_tau| + |z|))
            e_steps = [e.unbind(0) for e in es]
            tmp = [new(batch, n) for n in sizes]
        else:
            fs = [new(steps, batch, 2 * n) for n in sizes]  # tanh(f1), tanh(f2)
            gs = [new(steps, batch, n) for n in sizes]  # time gate
            f_steps = [f.unbind(0) for f in fs]
            g_steps = [g.unbind(0) for g in gs]
            za_steps = [z[..., 2 * n:3 * n].unbind(0) for z, n in zip(zs, sizes)]
            zb_steps = [z[..., 3 * n:].unbind(0) for z, n in zip(zs, sizes)]
            zf_steps = [z[..., :2 * n].unbind(0) for z, n in zip(zs, sizes)]
        for t in range(steps):
            tt = scalar if t_steps is None else t_steps[t]
            inp = None
            for i in range(n_layers):
                w_in, b, w_rec, abs_w_tau, a = layer_params[i]
                z = z_steps[i][t]  # (B, K)
                if depth:  # backbone: first matrix, activation, more layers, heads
                    pre = torch.addmm(first_steps[t], s_steps[0][t], w_rec,
                                      out=pre_steps[0][t])
                    for j, (w, bias) in enumerate(chain):
                        x = act(pre)
                        acts[j].append(x)
                        if j + 1 < len(chain):
                            pre = torch.addmm(bias, x, w, out=pre_steps[j + 1][t])
                        else:
                            torch.addmm(bias, x, w, out=z)
                elif i == 0:
                    torch.addmm(first_steps[t], s_steps[0][t], w_rec, out=z)
                else:
                    torch.addmm(b, inp, w_in, out=z)
                    z.addmm_(s_steps[i][t], w_rec)
                out = s_steps[i][t + 1]  # (B, H)
                n = sizes[i]
                if pure:
                    e = torch.abs(z, out=e_steps[i][t])
                    e.add_(abs_w_tau)
                    e.mul_(tt if t_steps is not None else -tt)
                    e.exp_()
                    torch.addcmul(a, a, torch.mul(e, z, out=tmp[i]), value=-1.0, out=out)
                else:
                    f = torch.tanh(zf_steps[i][t], out=f_steps[i][t])  # (B, 2H)
                    g = g_steps[i][t]
                    if t_steps is None:
                        torch.add(zb_steps[i][t], za_steps[i][t], alpha=tt, out=g)
                    else:
                        torch.addcmul(zb_steps[i][t], za_steps[i][t], tt, out=g)
                    g.sigmoid_()
                    if no_gate:
                        torch.addcmul(f[:, :n], g, f[:, n:], out=out)
                    else:
                        torch.lerp(f[:, :n], f[:, n:], g, out=out)
                inp = out
        result = torch.cat([s[1:] for s in states], dim=2)  # (T, B, N)
        if not any(ctx.needs_input_grad):
            return result
        t_all = scalar if ts is None else ts  # (T, B, 1)
        jac = []
        for i, n in enumerate(sizes):
            if pure:
                a = layer_params[i][4]
                # h' = A - A e z, e = exp(-t (|w_tau| + |z|)): dh'/dz = -A e (1 - t |z|).
                jac.append((-a * es[i] * (1.0 - t_all * zs[i].abs())).unsqueeze(2))
                continue
            f1, f2, g = fs[i][..., :n], fs[i][..., n:], gs[i]
            j = new(steps, batch, 4, n)  # dh'/d(z_f1, z_f2, z_a, z_b)
            # Written as x - x y (addcmul) to save passes over these (T, B, H) arrays.
            one_minus_g = torch.sub(1.0, g)
            gd = torch.mul(g, one_minus_g)  # sigmoid' of the gate
            if no_gate:
                torch.addcmul(torch.ones_like(f1), f1, f1, value=-1.0, out=j[:, :, 0])
                gd.mul_(f2)
            else:
                torch.addcmul(one_minus_g, one_minus_g, f1 * f1, value=-1.0, out=j[:, :, 0])
                gd.mul_(f2 - f1)
            torch.addcmul(g, g, f2 * f2, value=-1.0, out=j[:, :, 1])
            torch.mul(gd, t_all, out=j[:, :, 2])
            j[:, :, 3] = gd
            jac.append(j)
        ctx.spec = spec
        ctx.jac = jac
        ctx.states = states
        ctx.layer_params = layer_params
        ctx.chain = chain
        if depth:
            ctx.acts = [torch.stack(x) for x in acts]  # (T, B, U) activations
            with torch.enable_grad():  # elementwise derivatives of the activation
                ctx.dacts = [torch.autograd.grad(act(p).sum(), p)[0] for p in
                             (q.detach().requires_grad_() for q in pres)]
        if pure:
            ctx.pure_terms = [(es[i], zs[i]) for i in range(n_layers)]
            ctx.t_all = t_all
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        mode, sizes, _, _, depth = ctx.spec
        pure = mode == 'pure'
        states, jac, layer_params, chain = ctx.states, ctx.jac, ctx.layer_params, ctx.chain
        steps, batch, _ = grad.shape
        n_layers = len(sizes)
        k = 1 if pure else 4
        g_steps = [g.unbind(0) for g in grad.split(sizes, dim=2)]
        dzs = [grad.new_empty(steps, batch, k * n) for n in sizes]  # (T, B, K)
        dz_steps = [dz.view(steps, batch, k, n).unbind(0) for dz, n in zip(dzs, sizes)]
        dz_flat = [dz.unbind(0) for dz in dzs]
        j_steps = [j.unbind(0) for j in jac]
        dhs = [grad.new_empty(steps, batch, n) for n in sizes] if pure else None
        back = []  # (K, I + H) or (K, H): the matrices dz goes back through
        for i in range(n_layers):
            w_in, _, w_rec, _, _ = layer_params[i]
            back.append((w_rec if i == 0 else torch.cat([w_in, w_rec], 0)).t().contiguous())
        if depth:
            dpres = [torch.empty_like(d) for d in ctx.dacts]  # (T, B, U) per backbone layer
            dpre_steps = [d.unbind(0) for d in dpres]
            dact_steps = [d.unbind(0) for d in ctx.dacts]
            chain_back = [w.t().contiguous() for w, _ in chain]
        carry = [grad.new_zeros(batch, n) for n in sizes]  # dL/dh_i(t - 1) from step t
        n_in = [0] + sizes[:-1]
        for t in range(steps - 1, -1, -1):
            d_next = None
            for i in range(n_layers - 1, -1, -1):
                if pure:
                    dh = torch.add(g_steps[i][t], carry[i], out=dhs[i][t])
                else:
                    dh = g_steps[i][t] + carry[i]
                if d_next is not None:
                    dh += d_next
                torch.mul(j_steps[i][t], dh.unsqueeze(1), out=dz_steps[i][t])  # (B, k, H)
                if depth:
                    d = dz_flat[0][t]
                    for j in range(len(chain) - 1, -1, -1):
                        d = torch.mul(torch.mm(d, chain_back[j]), dact_steps[j][t],
                                      out=dpre_steps[j][t])
                    carry[0] = torch.mm(d, back[0])
                    continue
                full = torch.mm(dz_flat[i][t], back[i])
                if i == 0:
                    carry[0] = full
                else:
                    d_next, carry[i] = full[:, :n_in[i]], full[:, n_in[i]:]
        needs = ctx.needs_input_grad
        d_first = dpres[0] if depth else dzs[0]
        grads: List[Optional[torch.Tensor]] = [None, d_first if needs[1] else None,
                                               torch.cat(carry, 1) if needs[2] else None, None]
        for i, n in enumerate(sizes):
            need = needs[4 + 5 * i:9 + 5 * i]
            dz = d_first if i == 0 else dzs[i]
            dz = dz.reshape(-1, dz.shape[-1])  # (T B, K)
            g_in = g_b = g_rec = g_wt = g_a = None
            if i > 0 and need[0]:
                g_in = states[i - 1][1:].reshape(-1, sizes[i - 1]).t().mm(dz)  # (I, K)
            if i > 0 and need[1]:
                g_b = dz.sum(0)
            if need[2]:
                g_rec = states[i][:-1].reshape(-1, n).t().mm(dz)  # (H, K)
            if pure:
                e, z = ctx.pure_terms[i]
                a = layer_params[i][4]
                if need[3]:
                    g_wt = (dhs[i] * a * z * e * ctx.t_all).sum((0, 1))
                if need[4]:
                    g_a = (dhs[i] * (1.0 - e * z)).sum((0, 1))
            grads += [g_in, g_b, g_rec, g_wt, g_a]
        for j in range(len(chain)):
            d = (dpres[j + 1] if j + 1 < len(chain) else dzs[0]).reshape(-1, chain[j][0].shape[1])
            x = ctx.acts[j].reshape(-1, chain[j][0].shape[0])  # (T B, U)
            grads.append(x.t().mm(d) if needs[len(grads)] else None)
            grads.append(d.sum(0) if needs[len(grads)] else None)
        return tuple(grads)
