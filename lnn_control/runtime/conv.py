# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Numpy mirror of ``lnn_control.models.conv``: CNN encoder + any runtime cell as the head.

Same equations, tensors and state as the torch module (see its docstring). Convolutions are
im2col products: ``sliding_window_view`` gives every k x k patch of the padded input without a
copy, one reshape gathers them into a (H_out * W_out, C * k * k) matrix, and one matmul with
the (C_out, C * k * k) weight computes the layer; float32 throughout. Batch 1, one frame per
step, so the robot runs a camera policy with numpy only.

The camera side of the observer is here too: :class:`ImageReading` (what a
``sensor_msgs/Image`` becomes, see ``lnn_control.ros.readings.image_to_reading``) and
:func:`camera_observation`, which lays a frame out as a camera policy's flat observation.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.base import PolicyFormatError
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ['ConvCell', 'conv2d', 'ImageReading', 'camera_observation', 'image_shape']


class ImageReading(NamedTuple):
    """A camera frame: ``pixels`` (height, width, 3) uint8 RGB, row 0 at the top; stamp (s)."""

    pixels: np.ndarray
    stamp: float


def image_shape(config: Mapping[str, Any]) -> Optional[Tuple[int, int, int]]:
    """(height, width, channels) a policy config takes as its image, None if not a camera one."""
    image = config.get('image') if isinstance(config, Mapping) else None
    if image is None or len(image) != 3:
        return None
    return int(image[0]), int(image[1]), int(image[2])


def camera_observation(reading: ImageReading, shape: Tuple[int, int, int],
                       extra: Sequence[float] = ()) -> np.ndarray:
    """
    Lay out a frame (and extra vector features) as a camera policy's flat observation.

    Args:
        reading: the frame (already checked for encoding and size by the converter).
        shape: the policy's (height, width, channels); 1 channel takes the mean of RGB.
        extra: values after the image (e.g. the odometry speed).

    Returns:
        (height * width * channels + len(extra),) float32, pixels 0-255 in HWC order.

    Raises:
        ValueError: the frame does not have the policy's size.

    """
    pixels = np.asarray(reading.pixels)
    height, width, channels = shape
    if pixels.shape != (height, width, 3):
        raise ValueError(f'image is {pixels.shape[:2]}, the policy takes {(height, width)}')
    if channels == 1:
        pixels = pixels.mean(axis=2, keepdims=True)
    out = np.empty(height * width * channels + len(extra), dtype=np.float32)
    out[:height * width * channels] = pixels.reshape(-1)
    out[height * width * channels:] = extra
    return out


def _out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """
    2-D convolution (cross-correlation, as torch) with zero padding ``kernel // 2``.

    Args:
        x: (C, H, W) input.
        weight: (C_out, C, k, k).
        bias: (C_out,).
        stride: step in both directions.

    Returns:
        (C_out, H_out, W_out).

    """
    c_out, c_in, k, _ = weight.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p))) if p else x
    windows = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # C,Ho,Wo,k,k
    ho, wo = windows.shape[1], windows.shape[2]
    cols = windows.transpose(1, 2, 0, 3, 4).reshape(ho * wo, c_in * k * k)
    out = cols @ weight.reshape(c_out, -1).T                                      # (Ho*Wo, Co)
    out += bias
    return out.T.reshape(c_out, ho, wo)


class ConvCell(Cell):
    """The camera policy cell; ``config`` is ``ConvPolicy.get_config()``."""

    kind = 'conv'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor: the encoder's and the head's (``head.``)."""
        shapes = ConvCell._encoder_shapes(config)
        head = config.get('head') or {}
        if head.get('kind') in CELLS and head['kind'] != ConvCell.kind:
            shapes.update({'head.' + k: v for k, v in
                           CELLS[head['kind']].expected_shapes(head['config']).items()})
        return shapes

    @staticmethod
    def _encoder_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        height, width, depth = (int(v) for v in config['image'])
        shapes: Dict[str, Tuple[int, ...]] = {}
        for i, (c, k, s) in enumerate(zip(config['channels'], config['kernels'],
                                          config['strides'])):
            shapes[f'encoder.{i}.weight'] = (int(c), depth, int(k), int(k))
            shapes[f'encoder.{i}.bias'] = (int(c),)
            depth = int(c)
            height, width = _out(height, int(k), int(s)), _out(width, int(k), int(s))
        features = int(config['features'])
        shapes['project.weight'] = (features, depth * height * width)
        shapes['project.bias'] = (features,)
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        head = config['head']
        if head.get('kind') not in CELLS or head['kind'] == self.kind:
            raise PolicyFormatError(f'conv policy head kind {head.get("kind")!r} is unknown')
        own = self._encoder_shapes(config)
        check_tensors(self.kind, own, {k: v for k, v in tensors.items()
                                       if not k.startswith('head.')})
        self.image = tuple(int(v) for v in config['image'])
        self.extra = int(config.get('extra', 0))
        self.features = int(config['features'])
        self.layers = [(np.asarray(tensors[f'encoder.{i}.weight'], dtype=np.float32),
                        np.asarray(tensors[f'encoder.{i}.bias'], dtype=np.float32), int(s))
                       for i, s in enumerate(config['strides'])]
        self.project_w = np.asarray(tensors['project.weight'], dtype=np.float32)
        self.project_b = np.asarray(tensors['project.bias'], dtype=np.float32)
        self.head = CELLS[head['kind']](head['config'], {k[5:]: v for k, v in tensors.items()
                                                         if k.startswith('head.')})
        if self.head.input_size != self.features + self.extra:
            raise PolicyFormatError(f'conv head takes {self.head.input_size} inputs, the '
                                    f'encoder gives {self.features} + {self.extra} extra')
        self.pixels = self.image[0] * self.image[1] * self.image[2]
        self.input_size = self.pixels + self.extra
        self.output_size = self.head.output_size
        self.state_size = self.head.state_size

    def initial_state(self) -> np.ndarray:
        return self.head.initial_state()

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Features [f, extra] of one flat observation (input_size,)."""
        height, width, depth = self.image
        img = np.asarray(x[:self.pixels], dtype=np.float32).reshape(height, width, depth)
        z = img.transpose(2, 0, 1) * np.float32(1.0 / 255.0) - np.float32(0.5)   # (C, H, W)
        for weight, bias, stride in self.layers:
            z = conv2d(z, weight, bias, stride)
            np.maximum(z, 0.0, out=z)
        f = np.tanh(self.project_w @ z.reshape(-1) + self.project_b)
        if self.extra:
            f = np.concatenate([f, np.asarray(x[self.pixels:], dtype=np.float32)])
        return f.astype(np.float32, copy=False)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        return self.head.step(self.encode(x), h, dt)

    def neuron_labels(self) -> List[str]:
        return self.head.neuron_labels()
