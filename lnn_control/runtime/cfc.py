# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy runtime of the CfC (:class:`lnn_control.models.cfc.CfC`), one step at a time, batch 1.

Same equations as the torch model (see its module docstring; Hasani et al., "Closed-form
continuous-time neural networks", Nature Machine Intelligence 2022), for every option: wired
(with or without ``strict_wiring``) or fully connected with any backbone, modes default, pure
and no_gate, every activation, mixed memory and projection. Per step, with elapsed time ``dt``::

    f1 = tanh(W1 u + b1), f2 = tanh(W2 u + b2), g = sigmoid((Wa u + ba) dt + Wb u + bb)
    default: h' = f1 (1 - g) + g f2      no_gate: h' = f1 + g f2
    pure:    h' = A - A exp(-dt (|w_tau| + |f|)) f,   f = W1 u + b1

with ``u = [input, h]`` per wiring layer (or a backbone of it).

How the step is kept lean (this runs at 20-100 Hz on a Raspberry Pi): at load the masks are
applied, the four heads of a layer are fused into one matrix with the bias as a last column,
the activation scales (LeCun tanh's 0.666 and 1.7159) are folded into the weights, and the
gate rows are halved so that ``sigmoid(a) = (1 + tanh(a / 2)) / 2`` lets one ``tanh`` serve
``f1``, ``f2`` and the gate. Each layer then reads ``v = [input, own state, 1]`` from one
preallocated buffer into which the previous layer writes its output directly; ``f1 (1 - g) +
g f2`` is ``mean + tanh(gate / 2) * half_difference`` with ``[mean, half_difference]`` one
2x2 product. A wired default-mode step is about 7 numpy calls per layer and two index
gathers that return fresh ``y`` and state arrays.

Transparency: after each step the ``time_gate`` property (a new (units,) array in the neuron
order of the flat state, i.e. of ``neuron_labels()``) gives each neuron's time gate ``g`` of
that step, the weight of ``f2`` against ``f1`` (near 0: the neuron follows ``f1``, near 1:
``f2``); in pure mode it gives the decay factor ``exp(-dt (|w_tau| + |f|))`` instead. It is
computed from the step's buffers only when read, so the step pays nothing for it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.memory import MemoryStep
from lnn_control.wirings import Wiring
import numpy as np

__all__ = ['CfCCell', 'ACTIVATIONS']


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7, float32 precision)."""
    ax = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * ax)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                                                       + t * (-1.453152027 + t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-ax * ax), x)


def _tanh(a: np.ndarray) -> None:
    np.tanh(a, out=a)


def _relu(a: np.ndarray) -> None:
    np.maximum(a, 0.0, out=a)


def _silu(a: np.ndarray) -> None:
    a *= 0.5 + 0.5 * np.tanh(0.5 * a)


def _gelu(a: np.ndarray) -> None:
    a *= 0.5 + 0.5 * _erf(a * (1.0 / math.sqrt(2.0)))


# name -> (a, b, f) with activation(x) = b * f(a * x), f in place; a and b are folded into
# the weights at load (as the torch model does per forward).
ACTIVATIONS: Dict[str, Tuple[float, float, Callable[[np.ndarray], None]]] = {
    'lecun_tanh': (0.666, 1.7159, _tanh),
    'tanh': (1.0, 1.0, _tanh),
    'relu': (1.0, 1.0, _relu),
    'silu': (1.0, 1.0, _silu),
    'gelu': (1.0, 1.0, _gelu),
}
MODES = ('default', 'pure', 'no_gate')


class _Arch(NamedTuple):
    """The architecture a config describes (defaults resolved as the torch model does)."""

    input_size: int
    units: int
    sizes: List[int]        # neurons of each layer, in state order
    in_features: List[int]  # inputs of each layer
    wiring: Optional[Wiring]
    mode: str
    activation: str
    backbone_units: int
    backbone_layers: int
    mixed_memory: bool
    proj_size: Optional[int]
    strict_wiring: bool


def _arch(config: Mapping[str, Any]) -> _Arch:
    try:
        input_size = int(config['input_size'])
        units = config['units']
        mode = config.get('mode', 'default')
        activation = config.get('activation', 'lecun_tanh')
        if mode not in MODES:
            raise PolicyFormatError(f'cfc: unknown mode {mode!r}; valid: {list(MODES)}')
        if activation not in ACTIVATIONS:
            raise PolicyFormatError(f'cfc: unknown activation {activation!r}')
        proj = config.get('proj_size')
        if isinstance(units, Mapping):
            wiring = Wiring.from_dict(dict(units)).build(input_size)
            sizes = wiring.layer_sizes
            bb_units, bb_layers = 0, 0
        else:
            wiring = None
            sizes = [int(units)]
            bb_units = config.get('backbone_units')
            bb_layers = config.get('backbone_layers')
            bb_units = 128 if bb_units is None else int(bb_units)
            bb_layers = 1 if bb_layers is None else int(bb_layers)
        return _Arch(input_size, sum(sizes), sizes, [input_size] + sizes[:-1], wiring, mode,
                     activation, bb_units, bb_layers, bool(config.get('mixed_memory', False)),
                     None if proj is None else int(proj),
                     bool(config.get('strict_wiring', False)))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PolicyFormatError):
            raise
        raise PolicyFormatError(f'cfc: bad config ({type(exc).__name__}: {exc})') from None


def _masks(arch: _Arch) -> List[Optional[np.ndarray]]:
    """Per layer the (K, I + H) head mask, as the torch model's ``_masks`` (None: no mask)."""
    wiring = arch.wiring
    if wiring is None:
        return [None]
    masks: List[Optional[np.ndarray]] = []
    prev = None
    for layer in wiring.layers:
        src = wiring.sensory_adjacency if prev is None else wiring.adjacency[prev]
        inp = np.abs(src[:, layer]).T  # (H, I)
        if arch.strict_wiring:
            rec = np.abs(wiring.adjacency[np.ix_(layer, layer)]).T
        else:
            rec = np.ones((len(layer), len(layer)))
        head = np.concatenate([inp, rec], axis=1).astype(np.float32)
        if arch.mode == 'pure':
            masks.append(head)
        else:
            time = head if arch.strict_wiring else np.ones_like(head)
            masks.append(np.concatenate([head, head, time, time], axis=0))
        prev = layer
    return masks


class CfCCell(Cell):
    """
    Numpy CfC cell; see the module docstring.

    Args:
        config: the torch model's ``get_config()`` (wiring as a dict).
        tensors: its ``state_dict`` as float32 arrays (checked against the config first).

    Attributes:
        input_size, output_size, state_size: sizes of x, y and the flat state (2N with
            mixed memory: ``[h, c]``).
        units: CfC neurons N.
        time_gate: (N,) the last step's time gates (decay factors in pure mode), a property.

    """

    kind = 'cfc'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor a CfC policy of this config holds."""
        arch = _arch(config)
        shapes: Dict[str, Tuple[int, ...]] = {}
        for i, (n_in, n) in enumerate(zip(arch.in_features, arch.sizes)):
            width = n_in + n
            for j in range(arch.backbone_layers):
                shapes[f'layers.{i}.backbone.{j}.weight'] = (arch.backbone_units, width)
                shapes[f'layers.{i}.backbone.{j}.bias'] = (arch.backbone_units,)
                width = arch.backbone_units
            heads = ['ff1'] if arch.mode == 'pure' else ['ff1', 'ff2', 'time_a', 'time_b']
            for head in heads:
                shapes[f'layers.{i}.{head}.weight'] = (n, width)
                shapes[f'layers.{i}.{head}.bias'] = (n,)
            if arch.mode == 'pure':
                shapes[f'layers.{i}.w_tau'] = (n,)
                shapes[f'layers.{i}.A'] = (n,)
        if arch.mixed_memory:
            shapes.update(MemoryStep.expected_shapes(arch.input_size, arch.units, 'memory.'))
        if arch.proj_size is not None:
            shapes['fc.weight'] = (arch.proj_size, arch.sizes[-1])
            shapes['fc.bias'] = (arch.proj_size,)
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        check_tensors(self.kind, self.expected_shapes(config), tensors)
        arch = self._arch = _arch(config)
        t = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
        a_in, a_out, self._act = ACTIVATIONS[arch.activation]
        pure = self._pure = arch.mode == 'pure'
        n_x, n = arch.input_size, arch.units
        sizes = arch.sizes
        self.input_size = n_x
        self.units = n
        self.state_size = 2 * n if arch.mixed_memory else n
        self.output_size = sizes[-1] if arch.proj_size is None else arch.proj_size
        f32 = np.float32

        # One buffer holds every layer's input vector v_l = [input, own state, 1] (the 1
        # multiplies the bias column), then the motor output, then the memory cell state:
        # each layer writes its output straight into the next layer's input slot, and the
        # step's new flat state is one gather from this buffer.
        offsets = np.cumsum([0] + [i + h + 1 for i, h in zip(arch.in_features, sizes)])
        motor_at = int(offsets[-1])
        self._buf = np.zeros(motor_at + sizes[-1] + (n if arch.mixed_memory else 0), f32)
        buf = self._buf
        buf[offsets[1:] - 1] = 1.0
        self._x = buf[:n_x]
        self._idx_h = np.concatenate([np.arange(o + i, o + i + h) for o, i, h
                                      in zip(offsets[:-1], arch.in_features, sizes)])
        out_at = list(offsets[1:-1]) + [motor_at]  # where layer l writes its output
        idx_out = np.concatenate([np.arange(o, o + h) for o, h in zip(out_at, sizes)])
        self._motor = buf[motor_at:motor_at + sizes[-1]]  # a view: copied per step
        self._c = buf[motor_at + sizes[-1]:]  # memory cell state slot (empty without)
        self._idx_state = np.concatenate([idx_out, np.arange(motor_at + sizes[-1], buf.size)])

        self._dt = np.zeros((), f32)  # 0-d arrays: cheaper ufunc operands than floats
        self._neg_dt = np.zeros((), f32)
        # [[1/2, 1/2], [-1/2, 1/2]] @ [f1; f2] = [mean, half difference]: then
        # f1 (1 - g) + f2 g = mean + tanh(gate / 2) * half difference (one product, one add).
        # no_gate, f1 + g f2, uses [[1, 1/2], [0, 1/2]].
        mix = ([[1.0, 0.5], [0.0, 0.5]] if arch.mode == 'no_gate'
               else [[0.5, 0.5], [-0.5, 0.5]])
        self._mix = np.array(mix, f32)
        self._layers: List[Tuple[Any, ...]] = []
        self._gate_views: List[np.ndarray] = []
        names = ['ff1'] if pure else ['ff1', 'ff2', 'time_a', 'time_b']
        for i, mask in enumerate(_masks(arch)):
            p = f'layers.{i}.'
            n_i = sizes[i]
            w = np.concatenate([t[p + m + '.weight'] for m in names], 0)  # (K, width)
            b = np.concatenate([t[p + m + '.bias'] for m in names], 0)  # (K,)
            if mask is not None:
                w = w * mask
            if pure:
                # Rows for -A f as well, so one product gives f and -A f.
                neg_a = -t[p + 'A'][:, None]
                w = np.concatenate([w, neg_a * w], 0)  # (2H, width)
                b = np.concatenate([b, neg_a[:, 0] * b], 0)
            else:
                # Halve the gate rows: sigmoid(a) = (1 + tanh(a / 2)) / 2.
                w[2 * n_i:] *= 0.5
                b[2 * n_i:] *= 0.5
            z = np.empty(w.shape[0], f32)
            chain = []  # backbone: (W_aug, v_aug in, out view) products, activation after each
            if arch.backbone_layers:
                # activation(x) = a_out f(a_in x): a_in into each backbone matrix, a_out into
                # the next one (exact in real arithmetic, as the torch model).
                mats = [np.concatenate([t[p + 'backbone.0.weight'] * a_in,
                                        t[p + 'backbone.0.bias'][:, None] * a_in], 1)]
                for j in range(1, arch.backbone_layers):
                    mats.append(np.concatenate(
                        [t[p + f'backbone.{j}.weight'] * (a_in * a_out),
                         t[p + f'backbone.{j}.bias'][:, None] * a_in], 1))
                head = np.ascontiguousarray(np.concatenate([w * a_out, b[:, None]], 1))
                acts = [np.ones(arch.backbone_units + 1, f32) for _ in mats]
                src = buf[offsets[i]:offsets[i + 1]]
                for mat, act in zip(mats, acts):
                    chain.append((np.ascontiguousarray(mat), src, act[:-1]))
                    src = act
                first, first_out = chain.pop(0)[0], acts[0][:-1]
            else:
                first = np.concatenate([w, b[:, None]], 1)  # (K, I + H + 1)
                first_out = z
                head = None
            act_last = acts[-1] if head is not None else None
            out = buf[out_at[i]:out_at[i] + n_i]
            layer: Tuple[Any, ...]
            if pure:
                decay = np.empty(n_i, f32)
                self._gate_views.append(decay)
                layer = (np.ascontiguousarray(first), buf[offsets[i]:offsets[i + 1]],
                         first_out, chain, head, act_last, z, out, decay,
                         np.abs(t[p + 'w_tau']), t[p + 'A'].copy(), z[:n_i], z[n_i:])
            else:
                md = np.empty((2, n_i), f32)
                self._gate_views.append(z[2 * n_i:3 * n_i])
                layer = (np.ascontiguousarray(first), buf[offsets[i]:offsets[i + 1]],
                         first_out, chain, head, act_last, z, out,
                         z[2 * n_i:3 * n_i], z[3 * n_i:], z[:3 * n_i],
                         z[:2 * n_i].reshape(2, n_i), md, md[0], md[1])
            self._layers.append(layer)
        self._memory = MemoryStep(t, 'memory.') if arch.mixed_memory else None
        self._fc = None
        if arch.proj_size is not None:
            self._fc = (np.ascontiguousarray(t['fc.weight']), t['fc.bias'].copy())

    @property
    def time_gate(self) -> np.ndarray:
        """(units,) last step's time gate per neuron in state order (pure: decay factor)."""
        values = np.concatenate(self._gate_views)
        return values if self._pure else 0.5 * values + 0.5  # stored as tanh(gate / 2)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """Advance by ``dt`` seconds on input ``x`` (input_size,); return (y, new flat h)."""
        buf = self._buf
        self._x[:] = x  # a slice: cheaper than an index array
        if self._memory is not None:
            # The memory cell runs first on the raw input and the CfC state (ncps); its new
            # cell state lands in the buffer's memory slot.
            n = self.units
            h = h.astype(np.float32, copy=False)
            h, _ = self._memory.step(self._x, h[:n], h[n:], c_out=self._c)
        buf[self._idx_h] = h
        act = self._act
        if self._pure:
            self._neg_dt[()] = -dt
            for (first, v, first_out, chain, head, act_last, z, out, decay, abs_w_tau, a,
                 f, neg_af) in self._layers:
                np.dot(first, v, out=first_out)
                if head is not None:
                    act(first_out)
                    for mat, src, dst in chain:
                        act(np.dot(mat, src, out=dst))
                    np.dot(head, act_last, out=z)
                np.abs(f, out=decay)
                decay += abs_w_tau
                decay *= self._neg_dt
                np.exp(decay, out=decay)  # exp(-dt (|w_tau| + |f|))
                np.multiply(decay, neg_af, out=out)
                out += a  # A - A exp(-dt (|w_tau| + |f|)) f
        else:
            self._dt[()] = dt
            mix = self._mix
            for (first, v, first_out, chain, head, act_last, z, out, t_a, t_b, fg, f12, md,
                 mean, half_diff) in self._layers:
                np.dot(first, v, out=first_out)  # (K,): f1, f2, t_a / 2, t_b / 2
                if head is not None:
                    act(first_out)
                    for mat, src, dst in chain:
                        act(np.dot(mat, src, out=dst))
                    np.dot(head, act_last, out=z)
                np.multiply(t_a, self._dt, out=t_a)
                t_a += t_b
                np.tanh(fg, out=fg)  # tanh(f1), tanh(f2), tanh(gate / 2)
                np.dot(mix, f12, out=md)
                np.multiply(t_a, half_diff, out=out)
                out += mean
        y = self._motor.copy()
        if self._fc is not None:
            y = np.dot(self._fc[0], y)
            y += self._fc[1]
        return y, buf[self._idx_state]

    def readout_size(self) -> int:
        """Return N: every neuron state (an NCP's motor neurons are its output)."""
        return int(self.units)

    def readout_features(self, h: np.ndarray) -> np.ndarray:
        """Return the N neuron states of ``h`` (the memory half of a mixed state excluded)."""
        return h[:self.units]

    def neuron_labels(self) -> List[str]:
        """
        Return a label per flat-state element.

        Wired: ``'<type>:<wiring id>'`` ('inter:12', 'command:7', 'motor:0') in state order;
        fully connected: ``'hidden:<i>'``; then ``'memory:<i>'`` for the memory cell state.
        """
        wiring = self._arch.wiring
        if wiring is None:
            labels = [f'hidden:{i}' for i in range(self.units)]
        else:
            labels = [f'{wiring.neuron_type(i)}:{i}' for layer in wiring.layers for i in layer]
        if self._memory is not None:
            labels += [f'memory:{i}' for i in range(self.units)]
        return labels

    @property
    def time_constant_kind(self) -> str:  # type: ignore[override]
        """'time_gate' (0..1) in the gated modes, 'decay' (0..1) in pure mode."""
        return 'decay' if self._pure else 'time_gate'

    def time_constants(self) -> Optional[np.ndarray]:
        """
        Return the time gates (``time_gate``) in ``neuron_labels()`` order, NaN for memory.

        The CfC has no ODE time constant; its closed form blends ``f1`` (the short-horizon
        response) into ``f2`` (the long-horizon one) through the gate
        ``g = sigmoid(t_a dt + t_b)``, which plays that role (Hasani et al. 2022).
        """
        gate = self.time_gate.astype(np.float32)
        if self.state_size == gate.size:
            return gate
        return np.concatenate([gate, np.full(self.state_size - gate.size, np.nan, np.float32)])
