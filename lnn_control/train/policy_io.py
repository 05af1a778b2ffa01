# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What every training method shares about policies: an env's spaces, the model, the runtime.

- :func:`spaces_of`: the observation and action spaces a policy file stores for an env, with
  its Observer and Actuator configs (PiBot envs describe themselves through them; camera
  observations are image spaces; other envs through their Box spaces).
- :func:`build_model`: the model a config names, built for the env (``PolicyModel.build``).
- :func:`runtime_policy`: the numpy ``Policy`` of a model's current weights, what rollouts
  and validation run (the code the robot runs), never the torch model itself.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import lnn_control.models  # noqa: F401  (registers every model kind in MODELS)
from lnn_control.models.base import MODELS
from lnn_control.models.base import PolicyModel
from lnn_control.models.policy import model_tensors
import lnn_control.runtime  # noqa: F401  (registers every runtime cell in CELLS)
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.train.config import ConfigError
import numpy as np

__all__ = ['spaces_of', 'build_model', 'runtime_policy', 'is_image']


def is_image(space: Any) -> bool:
    """Whether a Gymnasium space is a camera frame (uint8, height x width x channels)."""
    shape = getattr(space, 'shape', None) or ()
    return len(shape) == 3 and getattr(space, 'dtype', None) == np.uint8


def spaces_of(env: Any) -> Tuple[SpaceSpec, SpaceSpec, Dict[str, Any], Dict[str, Any]]:
    """Observation and action spaces, Observer and Actuator configs of ``env``."""
    base = env.unwrapped
    observer = getattr(base, 'observer', None)
    actuator = getattr(base, 'actuator', None)
    actuator_config = actuator.config.to_dict() if actuator is not None else {}
    if observer is not None and actuator is not None:
        return (SpaceSpec(**observer.space()), SpaceSpec(**actuator.space()),
                observer.config.to_dict(), actuator_config)
    box = env.observation_space
    if is_image(box):
        obs = SpaceSpec(int(np.prod(box.shape)), shape=list(box.shape), dtype='uint8',
                        low=0.0, high=255.0)
    else:
        obs = SpaceSpec(int(np.prod(box.shape)), low=np.ravel(box.low).tolist(),
                        high=np.ravel(box.high).tolist())
    action = (SpaceSpec(**actuator.space()) if actuator is not None else
              SpaceSpec(int(np.prod(env.action_space.shape)),
                        low=np.ravel(env.action_space.low).tolist(),
                        high=np.ravel(env.action_space.high).tolist()))
    return obs, action, {}, actuator_config


def build_model(kind: str, kwargs: Dict[str, Any], obs_shape: Tuple[int, ...],
                action_size: int) -> PolicyModel:
    """Build model ``kind`` with ``kwargs`` for the env's observation shape and action size."""
    if kind not in MODELS:
        raise ConfigError(f'model.kind: unknown model {kind!r}; known: {sorted(MODELS)}')
    try:
        model = MODELS[kind].build(tuple(obs_shape), action_size, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'model: cannot build {kind} with {kwargs} for observations of '
                          f'shape {tuple(obs_shape)}: {exc}') from None
    if model.output_size != action_size:
        raise ConfigError(f'model: {kind} gives {model.output_size} outputs, the env takes '
                          f'{action_size} actions (set the wiring output_size or proj_size)')
    if model.input_size != math.prod(obs_shape):
        raise ConfigError(f'model: {kind} takes {model.input_size} inputs, the env gives '
                          f'{math.prod(obs_shape)}')
    return model


def runtime_policy(model: PolicyModel, obs: SpaceSpec, action: SpaceSpec,
                   norm: Dict[str, List[float]]) -> Policy:
    """Build the numpy runtime Policy of ``model``'s weights (what the robot would run)."""
    config = model.get_config()
    cell = CELLS[model.kind](config, model_tensors(model))
    spec = PolicySpec(kind=model.kind, config=config, obs=obs, action=action, **norm)
    return Policy(cell, spec, source=f'training {model.kind}')
