# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one env factory: any Gymnasium id, a perturbation, and the real ``dt`` of every step.

Every training method, evaluation and the robustness suite build their envs here, so they see
the same environments, the same perturbations and the same timing::

    env = make_env('lnn_control/PiBotNav-v0', seed=0, perturb='drop=0.2,jitter=0.3')
    obs, info = env.reset(seed=0)
    dt = nominal_dt(env)                        # the first step after reset
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.step(obs, dt))
        dt = info['dt']                         # seconds this step really took
        ...

An env class that implements perturbation knobs itself lists them in ``native_knobs`` (a
class attribute; they arrive as its constructor arguments ``Knob.env_kwarg``); the rest are
applied by the wrappers of :mod:`lnn_control.envs.perturb`. Envs without ``native_knobs``
(Gymnasium's MuJoCo envs) are always wrapped by ``PerturbedMujocoEnv``, clean too, so every env
made here reports ``info['dt']``.
"""

from __future__ import annotations

import importlib
from typing import Any, FrozenSet, Optional

import gymnasium
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.wrappers import TimeLimit
from lnn_control.envs.perturb import KNOBS
from lnn_control.envs.perturb import ObservationKnobs
from lnn_control.envs.perturb import Perturbation
from lnn_control.envs.perturb import PerturbedMujocoEnv
from lnn_control.envs.perturb import PerturbLike

__all__ = ['make_env', 'nominal_dt', 'env_class', 'native_knobs']


def env_class(env_id: str) -> Any:
    """Return the class behind a registered Gymnasium id (None if it is not a class)."""
    import lnn_control.envs  # noqa: F401  (registers our ids)
    try:
        entry = gymnasium.spec(env_id).entry_point
    except gymnasium.error.Error as exc:
        raise ValueError(f'unknown env id {env_id!r}: {exc}') from None
    if isinstance(entry, str):
        module, _, name = entry.partition(':')
        entry = getattr(importlib.import_module(module), name)
    return entry if isinstance(entry, type) else None


def native_knobs(env_id: str) -> Optional[FrozenSet[str]]:
    """Return the knobs ``env_id`` implements itself, or None (the wrapper applies all)."""
    knobs = getattr(env_class(env_id), 'native_knobs', None)
    return None if knobs is None else frozenset(knobs)


def make_env(env_id: str, seed: Optional[int] = None, perturb: PerturbLike = None,
             **env_kwargs: Any) -> gymnasium.Env:
    """
    Make ``env_id`` with ``perturb`` applied; every env made here reports ``info['dt']``.

    Args:
        env_id: a Gymnasium id (``lnn_control/PiBotNav-v0``, ``lnn_control/PiBotLane-v0`` or a
            MuJoCo env such as ``InvertedPendulum-v5``); lnn_control's own ids truncate on
            their ``time_limit`` only (unless ``max_episode_steps`` is given).
        seed: if given, the env is reset once with it and its spaces are seeded, so a later
            ``reset()`` without a seed continues a reproducible stream.
        perturb: a :class:`~lnn_control.envs.perturb.Perturbation`, its text
            (``'noise=0.05,drop=0.2'``) or a mapping.
        env_kwargs: passed to ``gymnasium.make`` (``n_obstacles=12``, ``max_episode_steps``).
            A natively implemented knob may not be given both ways.

    Returns:
        The env, wrapped as the perturbation needs.

    Raises:
        ValueError: an unknown id, a knob the env cannot apply, a knob given twice.

    """
    p = Perturbation.coerce(perturb)
    knobs = native_knobs(env_id)
    if knobs is not None:
        # Our envs truncate themselves on simulated time (time_limit); a registered step
        # limit would end jittered episodes a few steps early, or cut a longer one short.
        env_kwargs.setdefault('max_episode_steps', -1)
        native = p.env_kwargs(knobs)
        both = sorted(set(native) & set(env_kwargs))
        if both:
            raise ValueError(f'{both} given both as env kwargs and in the perturbation '
                             f'{p.label!r}; give each once')
        rest = {k: v for k, v in p.changed().items() if k not in knobs}
        missing = [k for k in rest if KNOBS[k].group != 'observation']
        if missing:
            raise ValueError(f'perturbation {", ".join(missing)} is not implemented by '
                             f'{env_id} (it implements {", ".join(sorted(knobs))}, and '
                             f'wrappers add the observation knobs)')
        wrapped = Perturbation(**rest)
        env = gymnasium.make(env_id, **env_kwargs, **native)
        if not wrapped.is_clean:
            env = ObservationKnobs(env, wrapped)
    else:
        env = gymnasium.make(env_id, **env_kwargs)
        if not isinstance(env.unwrapped, MujocoEnv):
            env.close()
            raise ValueError(f'{env_id} is not a MuJoCo env; perturbations and timing are '
                             f'supported for MuJoCo envs (Gymnasium MujocoEnv) and '
                             f"lnn_control's own")
        time_limit = None
        if isinstance(env, TimeLimit):
            # Replace the step limit by the same limit in simulated seconds.
            time_limit = env._max_episode_steps * env.unwrapped.dt
            env = env.env
        try:
            env = PerturbedMujocoEnv(env, p, time_limit=time_limit)
        except ValueError:
            env.close()
            raise
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env


def nominal_dt(env: gymnasium.Env) -> float:
    """Return the nominal control period (s): the dt to use for the first step after reset."""
    try:
        return float(env.get_wrapper_attr('nominal_dt'))
    except AttributeError:
        return float(env.unwrapped.dt)   # MujocoEnv: timestep x frame_skip (PiBotNav: odom)
