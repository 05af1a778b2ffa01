# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Camera policies: a compact CNN encoder feeding any registered model (CfC, LTC, LSTM, MLP).

The hybrid of the Neural Circuit Policies paper (Lechner et al. 2020, "Neural circuit policies
enabling auditable autonomy", Nature Machine Intelligence 2: a convolutional head extracts
features from the camera image, 19 NCP neurons steer): liquid networks are strong on time series
and weak on raw pixels, so a small CNN turns each frame into a feature vector and the head
(``kind`` 'cfc' or 'ltc' with an NCP wiring, or an 'lstm'/'mlp' baseline) controls.

Input: the flat observation x (B, T, H*W*C + extra): the image in HWC order, values 0-255 (the
camera's uint8 pixels as floats, so the policy file's normaliser stays the identity), then
``extra`` vector features (e.g. the encoder speed). Per step:

    z_0 = image / 255 - 0.5                                   (C, H, W)
    z_k = relu(conv_k(z_{k-1}))     k = 1..K, kernel k_k, stride s_k, padding k_k // 2
    f   = tanh(W_f flatten(z_K) + b_f)                        (features,)
    y, h = head([f, extra], h, dt)                            (output_size,)

State: the head's (its flat layout and neuron labels, unchanged). Time: only the head sees dt.

Saturation: a liquid head can push ``W_f flatten(z_K) + b_f`` far outside tanh's working range
(mean |a| of 17-530 measured on CNN+CfC lane policies), where every feature is +-1 on
every frame and its gradient is zero: the encoder is dead and the policy drives blind, the
same open-loop path on every track. ``saturation(margin)`` measures it on the last
``encode`` run with autograd, mean(relu(|a| - margin)^2), zero inside the range, for a
training penalty (``bc.feature_penalty``); it changes nothing the robot runs.

state_dict names (what ``lnn_control.runtime.conv`` reads): ``encoder.<k>.weight``
(C_k, C_{k-1}, k_k, k_k), ``encoder.<k>.bias`` (C_k,), ``project.weight`` (features,
C_K * H_K * W_K), ``project.bias``, and the head's tensors under ``head.``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

from lnn_control.models.base import MODELS
from lnn_control.models.base import PolicyModel
import torch
from torch import nn

__all__ = ['ConvPolicy', 'conv_output_size', 'build_conv_policy']


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Output length of a convolution with padding ``kernel // 2``."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


class ConvPolicy(PolicyModel):
    """
    CNN encoder + recurrent (or feed-forward) head; see the module docstring.

    Args:
        image: (height, width, channels) of the camera image.
        head: ``{'kind': ..., 'config': {...}}``: a registered model kind and its constructor
            arguments; its ``input_size`` must be ``features + extra``.
        extra: vector features after the image in the observation.
        channels: output channels of each conv layer.
        kernels: kernel size of each layer (odd).
        strides: stride of each layer.
        features: size of the feature vector the head sees (before ``extra``).

    """

    kind = 'conv'

    def __init__(self, image: Sequence[int], head: Dict[str, Any], extra: int = 0,
                 channels: Sequence[int] = (8, 12, 16, 16),
                 kernels: Sequence[int] = (5, 3, 3, 3),
                 strides: Sequence[int] = (2, 2, 2, 2), features: int = 16) -> None:
        super().__init__()
        if len(image) != 3 or min(int(v) for v in image) < 1:
            raise ValueError(f'image is (height, width, channels), got {image}')
        if not len(channels) == len(kernels) == len(strides) >= 1:
            raise ValueError('channels, kernels and strides need one entry per layer')
        if any(int(k) % 2 == 0 for k in kernels):
            raise ValueError(f'kernels must be odd, got {list(kernels)}')
        self.image = tuple(int(v) for v in image)
        self.extra = int(extra)
        self.channels = [int(c) for c in channels]
        self.kernels = [int(k) for k in kernels]
        self.strides = [int(s) for s in strides]
        self.features = int(features)
        height, width, depth = self.image
        layers = []
        for c, k, s in zip(self.channels, self.kernels, self.strides):
            layers.append(nn.Conv2d(depth, c, k, stride=s, padding=k // 2))
            depth = c
            height, width = conv_output_size(height, k, s), conv_output_size(width, k, s)
        self.encoder = nn.ModuleList(layers)
        self.encoded_shape = (depth, height, width)
        self.project = nn.Linear(depth * height * width, self.features)
        if head.get('kind') not in MODELS or head['kind'] == self.kind:
            raise ValueError(f'head kind must be one of {sorted(set(MODELS) - {self.kind})}, '
                             f'got {head.get("kind")!r}')
        self.head_spec = {'kind': head['kind'], 'config': dict(head['config'])}
        self.head = MODELS[head['kind']].from_config(dict(head['config']))
        if self.head.input_size != self.features + self.extra:
            raise ValueError(f'head takes {self.head.input_size} inputs, the encoder gives '
                             f'{self.features} features + {self.extra} extra')
        self.input_size = self.image[0] * self.image[1] * self.image[2] + self.extra
        self.output_size = self.head.output_size
        self._pre: Optional[torch.Tensor] = None     # the last encode's pre-activations

    @classmethod
    def build(cls, obs_shape: Tuple[int, ...], action_size: int,
              **kwargs: Any) -> 'ConvPolicy':
        """Build a camera policy for (height, width, channels) frames (build_conv_policy)."""
        if len(obs_shape) != 3:
            raise ValueError(f'a conv model takes (height, width, channels) camera frames; '
                             f'the observation is {tuple(obs_shape)}')
        kwargs = dict(kwargs)
        head = kwargs.pop('head', 'cfc')
        return build_conv_policy(tuple(obs_shape), head, output_size=action_size, **kwargs)

    def get_config(self) -> Dict[str, Any]:
        return {'image': list(self.image), 'head': self.head_spec, 'extra': self.extra,
                'channels': self.channels, 'kernels': self.kernels, 'strides': self.strides,
                'features': self.features}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Features of flat observations x (..., input_size) -> (..., features + extra)."""
        lead = x.shape[:-1]
        height, width, depth = self.image
        pixels = height * width * depth
        img = x[..., :pixels].reshape(-1, height, width, depth).permute(0, 3, 1, 2)
        z = img * (1.0 / 255.0) - 0.5                               # (N, C, H, W)
        for conv in self.encoder:
            z = torch.relu(conv(z))
        pre = self.project(z.flatten(1))                              # (N, features)
        self._pre = pre if torch.is_grad_enabled() else None
        f = torch.tanh(pre).reshape(*lead, self.features)
        if self.extra:
            f = torch.cat([f, x[..., pixels:]], dim=-1)
        return f

    def saturation(self, margin: float = 2.0) -> torch.Tensor:
        """Mean of relu(|a| - margin)^2 over the last autograd ``encode``'s pre-tanh features."""
        if self._pre is None:
            raise RuntimeError('saturation() needs an encode (a forward) run with autograd')
        return (self._pre.abs() - margin).clamp(min=0.0).square().mean()

    def forward(self, x: torch.Tensor, h: Any = None,
                timespans: Union[None, float, torch.Tensor] = None) -> Tuple[torch.Tensor, Any]:
        x, timespans = self.cast_inputs(x, timespans)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f'x must be (B, T, {self.input_size}); got {tuple(x.shape)}')
        return self.head(self.encode(x), h, timespans)

    def flat_state(self, h: Any) -> torch.Tensor:
        return self.head.flat_state(h)

    def unflat_state(self, flat: torch.Tensor) -> Any:
        return self.head.unflat_state(flat)

    def initial_state(self, batch: int, like: Optional[torch.Tensor] = None) -> Any:
        return self.head.initial_state(batch, like)


def build_conv_policy(image: Sequence[int], head: str, output_size: int = 2, extra: int = 0,
                      features: int = 16, units: int = 19, hidden: int = 16,
                      seed: int = 22222, **encoder: Any) -> ConvPolicy:
    """
    Build a camera policy with a head of comparable size for each kind.

    Args:
        image: (height, width, channels).
        head: 'cfc' or 'ltc' (an AutoNCP wiring of ``units`` neurons, ``output_size`` motor
            neurons, the NCP paper's 19), 'lstm' (``hidden`` units) or 'mlp' (two layers of
            ``2 * hidden`` on the last 4 frames' features, so it sees some history).
        output_size: action size.
        extra: vector features after the image.
        features: encoder output size.
        units, hidden: head sizes.
        seed: wiring seed.
        **encoder: ``channels``, ``kernels``, ``strides`` for :class:`ConvPolicy`.

    Returns:
        The model.

    """
    from lnn_control.wirings import AutoNCP
    inputs = features + extra
    if head in ('cfc', 'ltc'):
        wiring = AutoNCP(units, output_size, seed=seed).to_dict()
        config: Dict[str, Any] = {'input_size': inputs, 'units': wiring}
    elif head == 'lstm':
        config = {'input_size': inputs, 'output_size': output_size, 'hidden_size': hidden}
    elif head == 'mlp':
        config = {'input_size': inputs, 'output_size': output_size,
                  'hidden_sizes': [hidden * 2, hidden * 2], 'frames': 4}
    else:
        raise ValueError(f"head is 'cfc', 'ltc', 'lstm' or 'mlp', got {head!r}")
    return ConvPolicy(image, {'kind': head, 'config': config}, extra=extra, features=features,
                      **encoder)
