# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy runtime of the liquid time-constant (LTC) network: one step at a time, batch 1.

Mirrors :class:`lnn_control.models.ltc.LTC` (same config, same ``state_dict`` tensors, same
outputs to float32 rounding); the equations, paper and arguments are documented there. Each
step of elapsed time ``dt`` runs ``L = ode_unfolds`` fused semi-implicit Euler unfolds::

    v_i <- (cm_i/D v_i + gleak_i vleak_i + sum_j a_ji erev_ji + sum_k sa_ki serev_ki)
           / (cm_i/D + gleak_i + sum_j a_ji + sum_k sa_ki + epsilon),     D = dt / (L time_unit)

with synaptic conductances ``a_ji = w_ji sigmoid(sigma_ji (v_j - mu_ji))`` (``sa`` likewise
for the mapped inputs).

Liquid time constant (``LTCCell.time_constant``)
-------------------------------------------------
Rewriting the ODE as ``cm_i dv_i/dt = -(gleak_i + sum_j a_ji + sum_k sa_ki) v_i + ...`` shows
each neuron relaxing with the state- and input-dependent time constant::

    tau_i = time_unit cm_i / (gleak_i + sum_j a_ji + sum_k sa_ki)    (seconds)

``time_constant`` is this vector (N,) for the last step, evaluated with the conductances of
its last solver unfold (those that produced the returned state). Small ``tau_i``: the neuron
follows its inputs quickly; large: it integrates and remembers. It is what the paper calls the
liquid time constant and what the inspection tools plot. ``None`` before the first step.

How the step is made cheap (~30 numpy calls for an AutoNCP(19, 6) with 6 unfolds)
---------------------------------------------------------------------------------
At load: softplus is applied once; only existing synapses are kept (S of N*N); the logistic
is written ``sigmoid(z) = (1 + tanh(z/2)) / 2`` with the halves folded into the weights; the
input mapping is folded into the sensory weights. One buffer ``u = [t (S) | v (N) | 1]``
holds the tanh activations, the state and a constant 1, so that an unfold is four calls::

    t  = tanh([v, 1] @ G)                  G (N+1, S):  sigma/2 at the source rows, -mu sigma/2
    nd = u @ M                             M (S+N+1, 2N): [numerator | denominator]; the v rows
                                           hold cm/D on the diagonal, the last row the step's
                                           constants (leak, sensory sums, cm/D, epsilon)
    v  = nd[:N] / nd[N:]

The sensory sums enter the last row of ``M`` once per step; ``cm/D`` is refreshed only when
``dt`` changes. Buffers are preallocated; ``step`` returns fresh ``y`` and ``h`` arrays.

Two forms, chosen by size at load (``form``)
--------------------------------------------
The fused matrices are O(S N): at ``AutoNCP(256, 6)`` (7,900 synapses) ``G`` and ``M`` hold
25 MB and an unfold reads all of it, where the synapses alone are O(S). Above
:data:`SPARSE_MIN_WORK` multiply-adds per unfold the cell runs the *sparse* form instead,
synapse lists sorted by destination::

    z  = tanh(v[src] * sigma/2 - mu sigma/2)           gather, (S,)
    nd = reduceat([w erev/2; w/2] * z, starts)         segment sums per destination, (2, N)
    v  = (nd[0] + c[0] + cm/D v) / (nd[1] + c[1])      c: the step constants, (2, N)

ten numpy calls an unfold instead of four, but O(S) work and memory: the dense form wins while
call overhead dominates (small networks), the sparse one beyond. A neuron without an incoming
synapse gets one of weight zero (``reduceat`` needs non-empty segments). The sensory synapses
take the same form as the recurrent ones. Both forms compute the same sums in another order
(float32 rounding apart).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from lnn_control.runtime.base import Cell, check_tensors, PolicyFormatError
from lnn_control.runtime.memory import MemoryStep
from lnn_control.wirings import FullyConnected, Wiring
import numpy as np

__all__ = ['LTCCell', 'FORMS', 'SPARSE_MIN_WORK']

_MAPPINGS = ('affine', 'linear', 'none')
FORMS = ('dense', 'sparse')
# Multiply-adds of one dense unfold, (N+1) S + (S+N+1) 2N, above which the sparse form is
# faster (measured on one x86-64 core, bench/inference_latency.py: AutoNCP(64, 6) has ~100k
# and runs about as fast either way; AutoNCP(128, 6) ~790k, 3-4x faster sparse).
SPARSE_MIN_WORK = 120_000


def _wiring(config: Mapping[str, Any]) -> Wiring:
    units = config['units']
    wiring = Wiring.from_dict(units) if isinstance(units, dict) else FullyConnected(int(units))
    return wiring.build(int(config['input_size']))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x.astype(np.float64))


def _segments(synapses: Tuple[np.ndarray, ...], n: int) -> Tuple[np.ndarray, ...]:
    """
    Sort synapses by destination for ``reduceat``; a destination without any gets a null one.

    Args:
        synapses: (src, dest, sig, bias, w erev / 2, w / 2), one entry per synapse.
        n: the number of destination neurons.

    Returns:
        (src, sig, bias, weights (2, S'), starts (N,), and the z (S'), products (2, S') and
        sums (2, N) buffers), float32 values, S' = S + the null synapses.

    """
    src, dest, sig, bias, we, wd = synapses
    empty = np.setdiff1d(np.arange(n), dest)
    zero = np.zeros(len(empty))
    src = np.concatenate([src, np.zeros(len(empty), dtype=src.dtype)])
    dest = np.concatenate([dest, empty])
    order = np.argsort(dest, kind='stable')
    sig, bias, we, wd = (np.concatenate([a, zero])[order] for a in (sig, bias, we, wd))
    src, dest = src[order], dest[order]
    starts = np.searchsorted(dest, np.arange(n))
    f32 = np.float32
    size = len(src)
    return (src.astype(np.intp), sig.astype(f32), bias.astype(f32),
            np.stack([we, wd]).astype(f32), starts.astype(np.intp), np.zeros(size, f32),
            np.zeros((2, size), f32), np.zeros((2, n), f32))


class LTCCell(Cell):
    """
    One LTC step in float32 numpy, built from an LTC policy's config and tensors.

    Args:
        config: ``LTC.get_config()`` (input_size, units as a wiring dict or int,
            return_sequences, mixed_memory, input_mapping, output_mapping, ode_unfolds,
            epsilon, implicit_param_constraints, time_unit: seconds per unit of the ODE's
            time, 1 when absent).
        tensors: the model's ``state_dict`` as arrays (checked against ``expected_shapes``).

    State: ``(N,)`` neuron potentials with state index == neuron id, then with mixed memory
    the ``(N,)`` LSTM cell state: ``state_size`` N or 2N. Output: the motor neurons mapped,
    ``(output_dim,)``.

    """

    kind = 'ltc'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor an LTC policy of this config holds."""
        wiring = _wiring(config)
        n, i, o = wiring.units, wiring.input_dim, wiring.output_dim
        shapes: Dict[str, Tuple[int, ...]] = {
            'gleak': (n,), 'vleak': (n,), 'cm': (n,),
            'sigma': (n, n), 'mu': (n, n), 'w': (n, n), 'erev': (n, n),
            'sensory_sigma': (i, n), 'sensory_mu': (i, n), 'sensory_w': (i, n),
            'sensory_erev': (i, n)}
        for name, size in (('input', i), ('output', o)):
            mapping = config.get(f'{name}_mapping', 'affine')
            if mapping not in _MAPPINGS:
                raise PolicyFormatError(f'ltc {name}_mapping must be one of {_MAPPINGS}, '
                                        f'got {mapping!r}')
            if mapping in ('affine', 'linear'):
                shapes[f'{name}_w'] = (size,)
            if mapping == 'affine':
                shapes[f'{name}_b'] = (size,)
        if config.get('mixed_memory', False):
            shapes.update(MemoryStep.expected_shapes(i, n))
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray],
                 form: Optional[str] = None) -> None:
        check_tensors(self.kind, self.expected_shapes(config), tensors)
        wiring = _wiring(config)
        self.wiring = wiring
        n, i, o = wiring.units, wiring.input_dim, wiring.output_dim
        self.units, self.input_size, self.output_size = n, i, o
        self.mixed_memory = bool(config.get('mixed_memory', False))
        self.state_size = 2 * n if self.mixed_memory else n
        self.ode_unfolds = int(config.get('ode_unfolds', 6))
        self.time_unit = float(config.get('time_unit', 1.0))
        if not (np.isfinite(self.time_unit) and self.time_unit > 0.0):
            raise PolicyFormatError(f'ltc time_unit must be a finite number of seconds > 0, '
                                    f'got {self.time_unit}')
        epsilon = float(config.get('epsilon', 1e-8))
        t = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
        positive = (_softplus if config.get('implicit_param_constraints', True)
                    else (lambda p: p))
        gleak, cm = positive(t['gleak']), positive(t['cm'])
        w, sw = positive(t['w']), positive(t['sensory_w'])
        in_w = t.get('input_w', np.ones(i))
        in_b = t.get('input_b', np.zeros(i))
        self._out_w = t.get('output_w', np.ones(o)).astype(np.float32)
        self._out_b = t.get('output_b', np.zeros(o)).astype(np.float32)
        src, dest = np.nonzero(wiring.adjacency)
        s = len(src)
        if form is None:
            form = 'sparse' if (n + 1) * s + (s + n + 1) * 2 * n > SPARSE_MIN_WORK else 'dense'
        if form not in FORMS:
            raise ValueError(f'form must be one of {FORMS}, got {form!r}')
        self.form = form
        # Per synapse (row-major [src, dest] order): z/2 = sig v_src + bias, and the halves of
        # its [numerator | denominator] contributions (sigmoid = (1 + tanh)/2).
        sig = 0.5 * t['sigma'][src, dest]
        syn = (src, dest, sig, -t['mu'][src, dest] * sig,
               0.5 * w[src, dest] * t['erev'][src, dest], 0.5 * w[src, dest])
        # Sensory synapses, with the input mapping folded in: z/2 = ssig x + sbias.
        ssrc, sdest = np.nonzero(wiring.sensory_adjacency)
        ssig = 0.5 * t['sensory_sigma'][ssrc, sdest]
        sens = (ssrc, sdest, ssig * in_w[ssrc], ssig * (in_b[ssrc] - t['sensory_mu'][ssrc, sdest]),
                0.5 * sw[ssrc, sdest] * t['sensory_erev'][ssrc, sdest], 0.5 * sw[ssrc, sdest])
        # The constants: leak terms, epsilon and the "+1/2" halves of both sigmoid sums.
        const = np.stack([gleak * t['vleak'] + np.bincount(dest, syn[4], n)
                          + np.bincount(sdest, sens[4], n),
                          gleak + epsilon + np.bincount(dest, syn[5], n)
                          + np.bincount(sdest, sens[5], n)])  # (2, N)
        f32 = np.float32
        self._cm = cm.astype(f32)
        self._epsilon = f32(epsilon)
        self._s, self._ss = s, len(ssrc)
        self._memory = MemoryStep(tensors) if self.mixed_memory else None
        self._out_mapped = config.get('output_mapping', 'affine') != 'none'
        self._x = np.zeros(i + 1, dtype=f32)  # [x (I) | 1]
        self._x[-1] = 1.0
        self._x_in = self._x[:i]
        if form == 'dense':
            self._build_dense(syn, sens, const)
        else:
            self._build_sparse(syn, sens, const)
        self._dt: Optional[float] = None
        self._stepped = False

    def _build_dense(self, syn: Tuple[np.ndarray, ...], sens: Tuple[np.ndarray, ...],
                     const: np.ndarray) -> None:
        """Build the fused matrices G, M (recurrent) and sg, sm (sensory); see the module."""
        n, i, o = self.units, self.input_size, self.output_size
        src, dest, sig, bias, we, wd = syn
        s = len(src)
        g = np.zeros((n + 1, s))
        g[src, np.arange(s)] = sig
        g[n] = bias
        m = np.zeros((s + n + 1, 2 * n))
        m[np.arange(s), dest] = we
        m[np.arange(s), n + dest] = wd
        ssrc, sdest, ssig, sbias, swe, swd = sens
        ss = len(ssrc)
        sg = np.zeros((i + 1, ss))
        sg[ssrc, np.arange(ss)] = ssig
        sg[i] = sbias
        sm = np.zeros((ss + 1, 2 * n))
        sm[np.arange(ss), sdest] = swe
        sm[np.arange(ss), n + sdest] = swd
        sm[ss] = const.reshape(-1)
        f32 = np.float32
        self._g, self._m = g.astype(f32), m.astype(f32)
        self._sg, self._sm = sg.astype(f32), sm.astype(f32)
        # Buffers and the views the step uses (slicing once here, not per call).
        self._u = np.zeros(s + n + 1, dtype=f32)  # [tanh (S) | v (N) | 1]
        self._u[-1] = 1.0
        self._st = np.zeros(ss + 1, dtype=f32)  # [sensory tanh (SS) | 1]
        self._st[-1] = 1.0
        self._nd = np.zeros(2 * n, dtype=f32)
        self._t, self._v1, self._v = self._u[:s], self._u[s:], self._u[s:s + n]
        self._v_out = self._u[s:s + o]
        self._num, self._den = self._nd[:n], self._nd[n:]
        self._st_t = self._st[:ss]
        self._last_row = self._m[-1]  # the step constants, written by the sensory product
        # cm/D enters the denominator constants (sm's constant row) and, as a diagonal,
        # M's v rows; both are refreshed only when dt changes.
        self._const_den = self._sm[-1, n:].copy()
        self._sm_den = self._sm[-1, n:]
        flat = self._m.reshape(-1)
        self._diag = flat[s * 2 * n:(s + n) * 2 * n:2 * n + 1]  # strided view of M
        self.step = self._step_dense  # type: ignore[method-assign]

    def _build_sparse(self, syn: Tuple[np.ndarray, ...], sens: Tuple[np.ndarray, ...],
                      const: np.ndarray) -> None:
        """Build synapse lists sorted by destination (gathers, segment sums); see the module."""
        n, o = self.units, self.output_size
        f32 = np.float32
        self._syn = _segments(syn, n)
        self._sens = _segments(sens, n)
        self._const = const.astype(f32)  # (2, N) without cm/D
        self._c = self._const.copy()  # (2, N), the step constants incl. sensory sums, cm/D
        self._cm_d = np.zeros(n, dtype=f32)  # cm / D
        self._v = np.zeros(n, dtype=f32)
        self._v_out = self._v[:o]
        self._tmp = np.zeros(n, dtype=f32)
        self.step = self._step_sparse  # type: ignore[method-assign]

    def _set_dt(self, dt: float) -> None:
        if not dt > 0.0:
            raise ValueError(f'dt must be > 0 seconds, got {dt}')
        per_d = np.float32(self.ode_unfolds * self.time_unit / dt)    # 1 / D
        if self.form == 'dense':
            np.multiply(self._cm, per_d, out=self._diag)  # cm / D
            np.add(self._const_den, self._diag, out=self._sm_den)
        else:
            np.multiply(self._cm, per_d, out=self._cm_d)
        self._dt = dt

    def _start(self, x: np.ndarray, h: np.ndarray, dt: float) -> Optional[np.ndarray]:
        """Take ``x`` and ``h`` into the buffers; return the new flat state's array if mixed."""
        if dt != self._dt:
            self._set_dt(float(dt))
        self._x_in[:] = x
        if self._memory is None:
            self._v[:] = h
            return None
        n = self.units
        h = np.asarray(h, dtype=np.float32)
        h_new = np.empty(2 * n, dtype=np.float32)
        self._v[:] = self._memory.step(self._x_in, h[:n], h[n:], c_out=h_new[n:])[0]
        return h_new

    def _finish(self, h_new: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        self._stepped = True
        if h_new is not None:
            h_new[:self.units] = self._v
        else:
            h_new = self._v.copy()
        if self._out_mapped:
            y = np.multiply(self._v_out, self._out_w)
            y += self._out_b
        else:
            y = self._v_out.copy()
        return y, h_new

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """Advance by ``dt`` seconds on input ``x`` (input_size,); return (y, new h)."""
        # Construction binds the form's step as an instance attribute (no dispatch per call).
        if self.form == 'dense':
            return self._step_dense(x, h, dt)
        return self._step_sparse(x, h, dt)

    def _step_dense(self, x: np.ndarray, h: np.ndarray, dt: float
                    ) -> Tuple[np.ndarray, np.ndarray]:
        h_new = self._start(x, h, dt)
        dot, tanh, divide = np.dot, np.tanh, np.divide
        # Sensory sums: once per step, into the constant row of M.
        st_t = self._st_t
        dot(self._x, self._sg, out=st_t)
        tanh(st_t, out=st_t)
        dot(self._st, self._sm, out=self._last_row)
        t, v1, u, m, nd, g = self._t, self._v1, self._u, self._m, self._nd, self._g
        num, den, v = self._num, self._den, self._v
        for _ in range(self.ode_unfolds):
            dot(v1, g, out=t)  # z/2 of every synapse, (S,)
            tanh(t, out=t)
            dot(u, m, out=nd)  # [numerator | denominator], (2N,)
            divide(num, den, out=v)
        return self._finish(h_new)

    def _step_sparse(self, x: np.ndarray, h: np.ndarray, dt: float
                     ) -> Tuple[np.ndarray, np.ndarray]:
        h_new = self._start(x, h, dt)
        take, multiply, add, tanh, reduceat = (np.take, np.multiply, np.add, np.tanh,
                                               np.add.reduceat)
        # Sensory sums once per step: c = constants + sensory sums, cm/D in the denominator.
        src, sig, bias, weights, starts, z, p, nd = self._sens
        # mode='clip' skips the per-element bounds check (the indices are valid by
        # construction): about twice as fast a gather as the default 'raise'.
        take(self._x_in, src, out=z, mode='clip')
        multiply(z, sig, out=z)
        add(z, bias, out=z)
        tanh(z, out=z)
        multiply(z, weights, out=p)  # (2, SS)
        reduceat(p, starts, axis=1, out=nd)  # (2, N)
        c = self._c
        add(nd, self._const, out=c)
        c[1] += self._cm_d
        src, sig, bias, weights, starts, z, p, nd = self._syn
        v, num, den, cm_d, tmp = self._v, nd[0], nd[1], self._cm_d, self._tmp
        for _ in range(self.ode_unfolds):
            take(v, src, out=z, mode='clip')  # presynaptic potentials, (S,)
            multiply(z, sig, out=z)
            add(z, bias, out=z)
            tanh(z, out=z)
            multiply(z, weights, out=p)  # (2, S)
            reduceat(p, starts, axis=1, out=nd)  # [numerator | denominator] sums, (2, N)
            add(nd, c, out=nd)
            multiply(cm_d, v, out=tmp)
            add(num, tmp, out=num)
            np.divide(num, den, out=v)
        return self._finish(h_new)

    @property
    def time_constant(self) -> Optional[np.ndarray]:
        """Each neuron's liquid time constant tau_i (N,) in seconds at the last step."""
        if not self._stepped:
            return None
        n = self.units
        if self.form == 'sparse':
            # The same sums from the last unfold's activations, without cm/D and epsilon.
            parts = []
            for _, _, _, weights, starts, z, _, _ in (self._syn, self._sens):
                parts.append(np.add.reduceat(z * weights[1], starts))
            conductance = parts[0] + parts[1] + (self._const[1] - self._epsilon)
            return self._cm * np.float32(self.time_unit) / conductance
        # gleak + the synaptic and sensory conductances of the last unfold: the denominator
        # without cm/D (kept apart, not subtracted, for precision at small dt) and epsilon.
        conductance = (np.dot(self._t, self._m[:self._s, n:])
                       + np.dot(self._st_t, self._sm[:self._ss, n:])
                       + (self._const_den - self._epsilon))
        return self._cm * np.float32(self.time_unit) / conductance

    def readout_size(self) -> int:
        """Return N: every neuron potential (the readout is affine on the motor ones)."""
        return int(self.units)

    def readout_features(self, h: np.ndarray) -> np.ndarray:
        """Return the N neuron potentials of ``h`` (the memory half excluded)."""
        return h[:self.units]

    def neuron_labels(self) -> List[str]:
        """'<type>:<id>' per neuron (motor, command, inter), then 'memory:<i>' if mixed."""
        labels = [f'{self.wiring.neuron_type(k)}:{k}' for k in range(self.units)]
        if self.mixed_memory:
            labels += [f'memory:{k}' for k in range(self.units)]
        return labels

    time_constant_kind = 'tau_s'

    def time_constants(self) -> Optional[np.ndarray]:
        """``time_constant`` (seconds) in ``neuron_labels()`` order, NaN for memory entries."""
        tau = self.time_constant
        if tau is None:
            return None
        tau = tau.astype(np.float32)
        if self.state_size == tau.size:
            return tau
        return np.concatenate([tau, np.full(self.state_size - tau.size, np.nan, np.float32)])
