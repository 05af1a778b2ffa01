# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
ONNX export of one policy step, for runtimes other than ours (onnxruntime on arm64, C++).

Vector and camera policies alike: a camera policy's ``obs`` is the flat frame (HWC order,
0-255 floats, as :func:`lnn_control.runtime.conv.camera_observation` lays it out) and the
graph holds its CNN encoder (Conv, Relu, Gemm, Tanh) before the head.

The exported graph is the whole stateful step the numpy ``Policy`` performs:

=========  ===============  ==================================================
name       shape            meaning
=========  ===============  ==================================================
obs        (1, obs_size)    raw observation (normalised inside the graph)
state      (1, state_size)  flat neuron state (zeros at start)
dt         (1, 1)           elapsed time since the previous step, seconds
action     (1, action_size) de-normalised action
state_out  (1, state_size)  the state to feed to the next step
=========  ===============  ==================================================

A model that ignores an input (``dt`` for a baseline without ``dt_input``, ``state`` for a
one-frame MLP) gets a graph without it: ask ``session.get_inputs()`` what to feed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union
import warnings

from lnn_control.models.base import PolicyModel
from lnn_control.models.policy import load_model
from lnn_control.runtime.policy import PolicySpec
import torch
from torch import nn

__all__ = ['PolicyStep', 'export_onnx', 'ONNX_OPSET']

ONNX_OPSET = 18


class PolicyStep(nn.Module):
    """A policy's single step as a pure function ``(obs, state, dt) -> (action, state_out)``."""

    def __init__(self, model: PolicyModel, spec: Optional[PolicySpec] = None) -> None:
        super().__init__()
        self.model = model
        size_in, size_out = model.input_size, model.output_size

        def vec(values, size, default):
            data = values if spec is not None else [default] * size
            return torch.tensor(data, dtype=torch.float32).reshape(1, size)

        self.register_buffer('obs_mean', vec(spec and spec.obs_mean, size_in, 0.0))
        self.register_buffer('obs_std', vec(spec and spec.obs_std, size_in, 1.0))
        self.register_buffer('action_mean', vec(spec and spec.action_mean, size_out, 0.0))
        self.register_buffer('action_std', vec(spec and spec.action_std, size_out, 1.0))

    def forward(self, obs: torch.Tensor, state: torch.Tensor,
                dt: torch.Tensor) -> 'tuple[torch.Tensor, torch.Tensor]':
        x = ((obs - self.obs_mean) / self.obs_std).unsqueeze(1)  # (1, 1, in)
        y, h = self.model(x, self.model.unflat_state(state), timespans=dt)
        y = y.reshape(1, -1)  # (1, out): return_sequences or not
        return y * self.action_std + self.action_mean, self.model.flat_state(h)


def state_size(model: PolicyModel) -> int:
    """Length of the model's flat state."""
    with torch.no_grad():
        return int(model.flat_state(model.initial_state(1)).shape[-1])


def export_onnx(policy: Union[str, os.PathLike, PolicyModel], out: Union[str, os.PathLike],
                opset: int = ONNX_OPSET) -> Path:
    """
    Export a policy file (or a model) to an ONNX graph of one step; returns the path.

    Inputs ``obs``, ``state``, ``dt``; outputs ``action``, ``state_out`` (see module docs).
    """
    model = policy if isinstance(policy, PolicyModel) else load_model(policy)
    step = PolicyStep(model.eval(), getattr(model, 'spec', None)).eval()
    example = (torch.zeros(1, model.input_size), torch.zeros(1, state_size(model)),
               torch.full((1, 1), 0.05))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # Shape checks in forward() are constants for a batch-1 step: the tracer's warnings
        # about them are expected.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(step, example, str(out), input_names=['obs', 'state', 'dt'],
                          output_names=['action', 'state_out'], opset_version=opset,
                          dynamo=False)
    return out


def compare_onnx(policy: Union[str, os.PathLike], onnx_path: Union[str, os.PathLike],
                 steps: int = 200, seed: int = 0) -> float:
    """
    Run the ONNX graph (onnxruntime) and the numpy runtime side by side; max abs difference.

    Random observations (scaled by the normaliser; a camera policy's are random frames of
    0-255 pixels, what its camera gives) and random dt in [0.01, 0.2] s; the state is carried
    through both for ``steps`` steps.
    """
    from lnn_control.runtime.policy import load_policy
    import numpy as np
    import onnxruntime as ort
    reference = load_policy(policy)
    session = ort.InferenceSession(str(onnx_path), providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(seed)
    spec = reference.spec
    mean = np.asarray(spec.obs_mean, dtype=np.float32)
    std = np.asarray(spec.obs_std, dtype=np.float32)
    state = reference.cell.initial_state()[None, :]
    # The exporter drops inputs a model ignores (dt for baselines without dt_input, the
    # state of a one-frame MLP): feed what the graph declares.
    wanted = {arg.name for arg in session.get_inputs()}
    worst = 0.0
    image = spec.obs.dtype == 'uint8'
    for _ in range(steps):
        if image:
            obs = rng.integers(0, 256, spec.obs.size).astype(np.float32)
        else:
            obs = (mean + std * rng.standard_normal(spec.obs.size)).astype(np.float32)
        dt = float(rng.uniform(0.01, 0.2))
        feeds = {'obs': obs[None, :], 'state': state,
                 'dt': np.full((1, 1), dt, dtype=np.float32)}
        action, state_out = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
        state = state_out.reshape(state.shape)
        expected = reference.step(obs, dt)
        worst = max(worst, float(np.max(np.abs(action[0] - expected))),
                    float(np.max(np.abs(state[0] - reference.state), initial=0.0)))
    return worst
