# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Closed-loop evaluation of any policy on any env, with a perturbation, on given seeds.

::

    result = evaluate(load_policy('pibot_nav_cfc'), 'lnn_control/PiBotNav-v0', episodes=50,
                      seed=1000, perturb='noise=0.05')
    result['success_rate'], result['mean_return']

The env comes from :func:`lnn_control.envs.make_env` (perturbations: :mod:`lnn_control.envs.
perturb`), the episodes from the one episode loop (:func:`lnn_control.envs.rollout.
run_episode`), so evaluation sees exactly what training and the robustness suite
(:mod:`lnn_control.train.robustness`) see. A policy sees ``obs_k`` with the dt of the step that
produced it, the nominal period first. Envs that define ``episode_metrics(infos)`` (PiBotLane:
lane deviation, distance, off the road) add their means under ``metrics``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
import tempfile
import time
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Tuple)

from lnn_control.envs.make import env_class
from lnn_control.envs.make import make_env
from lnn_control.envs.perturb import Perturbation
from lnn_control.envs.perturb import PerturbLike
from lnn_control.envs.rollout import run_episode
from lnn_control.envs.rollout import Trajectory
from lnn_control.train.executor import Executor
import numpy as np

__all__ = ['evaluate', 'run_episodes', 'split', 'portable', 'unpacked', 'agent_of', 'jsonable',
           'check_sizes']

# What every episode record holds (Trajectory.summary); an env's metrics come on top.
_EPISODE_KEYS = frozenset({'seed', 'return', 'steps', 'seconds', 'success', 'collision',
                           'terminated', 'truncated', 'min_dt', 'max_dt'})


def _policy_name(policy: Any) -> str:
    if isinstance(policy, str):
        return policy
    source = getattr(policy, 'source', '')
    return str(source) if source else type(policy).__name__


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy scalars and arrays (and anything else) made JSON-able."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def check_sizes(policy: Any, env: Any, name: str) -> None:
    """Refuse a policy whose observation or action size is not the env's, naming both."""
    spec = getattr(policy, 'spec', None)
    if spec is None or not hasattr(spec, 'obs'):
        return
    obs_size = int(np.prod(env.observation_space.shape))
    act_size = int(np.prod(env.action_space.shape))
    if spec.obs.size != obs_size or spec.action.size != act_size:
        raise ValueError(f'policy {name} maps {spec.obs.size} observations to '
                         f'{spec.action.size} actions, but {env.spec.id if env.spec else env} '
                         f'has {obs_size} and {act_size}')


def agent_of(policy: Any, env_id: str, env_kwargs: Mapping[str, Any]
             ) -> Callable[[Any], Callable[[Any, float, Dict[str, Any]], Any]]:
    """
    Return ``(env) -> act``: how ``policy`` answers each step on ``env_id``, and its reset.

    ``policy`` is a runtime ``Policy`` or anything with ``reset()`` and ``step(obs, dt)``; a
    policy file or built-in name; ``'expert'`` (the env's registered expert, built for the
    nominal, unperturbed model); or an expert object (``act(obs, state)``, reading ``info``).
    """
    if isinstance(policy, str) and policy == 'expert':
        from lnn_control.envs.experts import make_expert
        clean = make_env(env_id, **env_kwargs)
        policy = make_expert(clean)
        clean.close()
    elif isinstance(policy, str):
        from lnn_control.runtime.policy import load_policy
        policy = load_policy(policy)
    if not hasattr(policy, 'step') and hasattr(policy, 'act'):
        expert = policy
        return lambda env: (lambda obs, dt, info: expert.act(obs, info)), None
    image = None

    def act(obs: Any, dt: float, info: Dict[str, Any]) -> Any:
        obs = np.asarray(obs)
        if obs.dtype != np.uint8:
            obs = obs.astype(np.float32, copy=False)
        return policy.step(obs.reshape(-1) if image else obs, dt)

    def bind(env: Any) -> Any:
        nonlocal image
        image = len(getattr(env.observation_space, 'shape', ()) or ()) == 3
        check_sizes(policy, env, _policy_name(policy))
        return act
    return bind, policy.reset


def run_episodes(policy: Any, env_id: str, seeds: Sequence[int], perturb: PerturbLike = None,
                 env_kwargs: Optional[Mapping[str, Any]] = None,
                 on_episode: Optional[Callable[[Trajectory], None]] = None
                 ) -> List[Dict[str, Any]]:
    """Run one episode per seed in one env; return the per-episode records (see evaluate)."""
    env_kwargs = dict(env_kwargs or {})
    bind, reset = agent_of(policy, env_id, env_kwargs)
    metrics_of = getattr(env_class(env_id), 'episode_metrics', None)
    env = make_env(env_id, perturb=Perturbation.coerce(perturb), **env_kwargs)
    records: List[Dict[str, Any]] = []
    try:
        act = bind(env)
        for s in seeds:
            traj = run_episode(env, act, seed=int(s), reset=reset, keep_obs=False)
            record = traj.summary()
            if metrics_of is not None:
                record.update(metrics_of(traj.infos))
            records.append(record)
            if on_episode is not None:
                on_episode(traj)
    finally:
        env.close()
    return records


def portable(policy: Any) -> Any:
    """
    Return ``policy`` as a job can carry it to another machine.

    Names ('expert', built-in policies) travel as they are; a policy file travels as
    ``(file name, bytes)``, so a node needs no shared folder. Objects cannot travel.
    """
    if not isinstance(policy, str):
        raise ValueError('an executor runs policies given by name or file, not '
                         f'{type(policy).__name__} objects')
    path = Path(policy)
    if policy != 'expert' and path.is_file():
        return (path.name, path.read_bytes())
    return policy


@contextlib.contextmanager
def unpacked(policy: Any) -> Iterator[str]:
    """Give what :func:`portable` made back as a name or a path (a temporary file) to load."""
    if not isinstance(policy, tuple):
        yield policy
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / policy[0]
        path.write_bytes(policy[1])
        yield str(path)


def _episode_job(job: Tuple[Any, str, int, int, Any, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Run a contiguous range of episodes (an executor's job); a shipped file is unpacked."""
    policy, env_id, first, count, perturb, env_kwargs = job
    with unpacked(policy) as name:
        return run_episodes(name, env_id, range(first, first + count), perturb, env_kwargs)


def split(first: int, count: int, parts: int) -> List[Tuple[int, int]]:
    """Cut seeds ``first .. first + count - 1`` into at most ``parts`` (first, count) ranges."""
    parts = max(1, min(parts, count))
    sizes = [count // parts + (i < count % parts) for i in range(parts)]
    starts = [first + sum(sizes[:i]) for i in range(parts)]
    return list(zip(starts, sizes))


def evaluate(policy: Any, env_id: str, episodes: int = 10, seed: int = 0,
             perturb: PerturbLike = None,
             on_episode: Optional[Callable[[Trajectory], None]] = None,
             executor: Optional[Executor] = None,
             **env_kwargs: Any) -> Dict[str, Any]:
    """
    Run ``policy`` closed loop for ``episodes`` episodes (seeds seed, seed + 1, ...).

    Args:
        policy: see :func:`agent_of`.
        env_id, perturb, env_kwargs: as for :func:`lnn_control.envs.make_env`.
        episodes: number of episodes.
        seed: seed of the first episode's ``reset``.
        on_episode: called with each finished episode's trajectory (progress bars; not with
            an executor).
        executor: run the episodes as jobs of this executor (:mod:`lnn_control.train.
            executor`: a process pool, Ray tasks), cut into contiguous seed ranges, one env
            per job; ``policy`` is then a name or file. Each episode depends on its seed
            alone (the env and the perturbation reseed at every reset), so the result is the
            same as in this process. None: here, one env.

    Returns:
        A JSON-able dict: ``env_id``, ``policy``, ``perturbation`` (label), ``knobs``,
        ``env_kwargs``, ``episodes``, ``seed``, ``mean_return``, ``std_return``,
        ``median_return``, ``success_rate`` and ``collision_rate`` (None when the env does
        not report ``is_success``/``collision``), ``mean_steps``, ``mean_seconds``,
        ``metric`` ('success_rate' if the env reports success, else 'mean_return') and
        ``score`` (its value), ``metrics`` (the means of the env's ``episode_metrics``),
        ``per_episode`` (``seed``, ``return``, ``steps``, ``seconds``, ``success``,
        ``collision``, ``terminated``, ``truncated``, ``min_dt``, ``max_dt`` and the env's
        metrics) and ``wall_seconds``. Everything but ``wall_seconds`` is deterministic for a
        seed.

    """
    if episodes < 1:
        raise ValueError(f'episodes must be >= 1, got {episodes}')
    name = _policy_name(policy)
    p = Perturbation.coerce(perturb)
    started = time.perf_counter()
    if executor is None:
        records = run_episodes(policy, env_id, range(seed, seed + episodes), p, env_kwargs,
                               on_episode)
    else:
        shipped = portable(policy)
        jobs = [(shipped, env_id, first, count, p, dict(env_kwargs))
                for first, count in split(seed, episodes, executor.slots)]
        records = [r for part in executor.run(_episode_job, jobs) for r in part]
    returns = np.array([r['return'] for r in records])
    has_success = all(r['success'] is not None for r in records)
    has_collision = all(r['collision'] is not None for r in records)
    success = float(np.mean([r['success'] for r in records])) if has_success else None
    extra = sorted(set(records[0]) - _EPISODE_KEYS)
    return {
        'env_id': env_id,
        'policy': name,
        'perturbation': p.label,
        'knobs': p.to_json(),
        'env_kwargs': jsonable(env_kwargs),
        'episodes': int(episodes),
        'seed': int(seed),
        'mean_return': float(returns.mean()),
        'std_return': float(returns.std()),
        'median_return': float(np.median(returns)),
        'success_rate': success,
        'collision_rate': (float(np.mean([r['collision'] for r in records]))
                           if has_collision else None),
        'mean_steps': float(np.mean([r['steps'] for r in records])),
        'mean_seconds': float(np.mean([r['seconds'] for r in records])),
        'metric': 'success_rate' if has_success else 'mean_return',
        'score': success if has_success else float(returns.mean()),
        'metrics': {key: float(np.mean([r[key] for r in records])) for key in extra},
        'per_episode': records,
        'wall_seconds': time.perf_counter() - started,
    }
