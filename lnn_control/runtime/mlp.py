# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy mirror of ``lnn_control.models.mlp.MLP`` (kind 'mlp'): frame-stacking MLP, batch 1.

Per step, with u_t = x_t (plus dt_t as the last feature when ``dt_input``), F = ``frames`` and
D = ``input_size + dt_input``:

    s_t = [h, u_t]                    (F * D,)  h = previous F - 1 feature vectors, oldest first
    a_k = act(W_k a_{k-1} + b_k)      a_0 = s_t
    y_t = W_out a_K + b_out
    h'  = s_t[D:]                     ((F - 1) * D,)

At load time each layer's weight is transposed and its bias appended as a last row, (in + 1,
out); every activation buffer keeps a constant 1 at its end, so a layer is one ``np.dot`` into a
preallocated buffer plus the in-place activation.

State labels: ``'frame<k>:<i>'`` is feature i of the input k steps back (k = F - 1 for the first
D elements, down to 1 for the last D); feature i == input_size is dt.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Tuple

from lnn_control.runtime.base import Cell, check_tensors, PolicyFormatError
import numpy as np

__all__ = ['MLPCell', 'ACTIVATIONS']

_GELU_K = float(np.sqrt(2.0 / np.pi))


def _tanh(v: np.ndarray) -> None:
    np.tanh(v, out=v)


def _relu(v: np.ndarray) -> None:
    np.maximum(v, 0.0, out=v)


def _silu(v: np.ndarray) -> None:
    # sigmoid(v) = 0.5 + 0.5 tanh(v / 2): no overflow warning for large negative v
    t = np.tanh(v * 0.5)
    t *= 0.5
    t += 0.5
    v *= t


def _gelu(v: np.ndarray) -> None:
    # tanh approximation, as torch's GELU(approximate='tanh') used by models.mlp
    t = v * v
    t *= 0.044715 * _GELU_K
    t += _GELU_K
    t *= v
    np.tanh(t, out=t)
    t += 1.0
    t *= 0.5
    v *= t


def _elu(v: np.ndarray) -> None:
    # max(v, expm1(min(v, 0))) is v for v > 0 and expm1(v) otherwise (expm1(v) >= v)
    np.maximum(v, np.expm1(np.minimum(v, 0.0)), out=v)


# In-place activations on a float32 vector, same keys as models.mlp.ACTIVATIONS.
ACTIVATIONS: Dict[str, Callable[[np.ndarray], None]] = {
    'tanh': _tanh,
    'relu': _relu,
    'silu': _silu,
    'gelu': _gelu,
    'elu': _elu,
}


def _affine(weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Torch (out, in) weight and (out,) bias -> (in + 1, out) float32, bias as the last row."""
    return np.ascontiguousarray(np.vstack([np.asarray(weight, np.float32).T,
                                           np.asarray(bias, np.float32)[None, :]]))


class MLPCell(Cell):
    """
    Runtime frame-stacking MLP built from ``MLP.get_config()`` and its state_dict arrays.

    Args:
        config: the torch model's ``get_config()`` (input_size, output_size, hidden_sizes,
            activation, frames, dt_input; return_sequences is ignored).
        tensors: ``{name: array}`` of the torch ``state_dict``; shapes are checked first.

    """

    kind = 'mlp'

    @staticmethod
    def _sizes(config: Mapping[str, Any]) -> Tuple[int, int, int, List[int]]:
        try:
            feature = int(config['input_size']) + int(bool(config.get('dt_input', False)))
            frames = int(config.get('frames', 1))
            out = int(config['output_size'])
            hidden = [int(n) for n in config.get('hidden_sizes', (64, 64))]
        except (KeyError, TypeError, ValueError) as err:
            raise PolicyFormatError(f'mlp config is incomplete or malformed: {err!r}') from err
        return feature, frames, out, hidden

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor an mlp policy of this config holds."""
        feature, frames, out, hidden = MLPCell._sizes(config)
        widths = [frames * feature] + hidden
        shapes: Dict[str, Tuple[int, ...]] = {}
        for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            shapes[f'hidden.{k}.weight'] = (b, a)
            shapes[f'hidden.{k}.bias'] = (b,)
        shapes['readout.weight'] = (out, widths[-1])
        shapes['readout.bias'] = (out,)
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        check_tensors(self.kind, self.expected_shapes(config), tensors)
        activation = config.get('activation', 'tanh')
        if activation not in ACTIVATIONS:
            raise PolicyFormatError(f'mlp activation {activation!r} is unknown; this runtime '
                                    f'knows {sorted(ACTIVATIONS)}')
        feature, frames, out, hidden = self._sizes(config)
        self.input_size = int(config['input_size'])
        self.output_size = out
        self.frames = frames
        self.feature_size = feature  # D
        self.dt_input = bool(config.get('dt_input', False))
        self.state_size = (frames - 1) * feature
        self._act = ACTIVATIONS[activation]
        # s_t plus the constant 1 that multiplies the bias row
        self._stack = np.ones(frames * feature + 1, dtype=np.float32)  # (F*D + 1,)
        self._x_end = self.state_size + self.input_size
        self._layers = []  # (weight (in+1, out), output view (out,)) per hidden layer
        for k, width in enumerate(hidden):
            buf = np.ones(width + 1, dtype=np.float32)  # last element stays 1
            self._layers.append((_affine(tensors[f'hidden.{k}.weight'],
                                         tensors[f'hidden.{k}.bias']), buf[:width], buf))
        self._w_out = _affine(tensors['readout.weight'], tensors['readout.bias'])

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """
        One control step.

        Args:
            x: (input_size,) observation.
            h: ((frames - 1) * D,) previous frames, oldest first.
            dt: elapsed time (s); a feature only when ``dt_input``.

        Returns:
            y: (output_size,) float32 action; h: ((frames - 1) * D,) new frame buffer.

        """
        s = self._stack
        s[:self.state_size] = h
        s[self.state_size:self._x_end] = x
        if self.dt_input:
            s[self._x_end] = dt
        a = s
        for w, view, buf in self._layers:
            np.dot(a, w, out=view)
            self._act(view)
            a = buf
        y = np.dot(a, self._w_out)  # (out,)
        return y, s[self.feature_size:-1].copy()

    def readout_size(self) -> int:
        """Return the size of the last hidden layer (the stacked input without one)."""
        return int(self._layers[-1][1].size if self._layers else self._stack.size - 1)

    def readout_features(self, h: np.ndarray) -> np.ndarray:
        """Return the last hidden layer's activations of the last step."""
        # The last hidden layer's buffer holds this step's activations (and a trailing 1).
        if self._layers:
            return self._layers[-1][1]
        return self._stack[:-1]

    def neuron_labels(self) -> List[str]:
        """``'frame<k>:<i>'`` per state element (k steps back, feature i)."""
        return [f'frame{self.frames - 1 - j}:{i}'
                for j in range(self.frames - 1) for i in range(self.feature_size)]
