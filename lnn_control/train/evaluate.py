# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The shared env factory, closed-loop evaluation and the robustness suite.

Every training method builds its envs with :func:`make_env` and scores policies with
:func:`evaluate`, so training, periodic evaluation and the robustness suite see the same
environments, the same perturbations and the same timing::

    env = make_env('lnn_control/PiBotNav-v0', seed=0, perturb='drop=0.2,jitter=0.3')
    obs, info = env.reset(seed=0)
    dt = nominal_dt(env)                        # the first step after reset
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.step(obs, dt))
        dt = info['dt']                         # seconds this step really took
        ...

    result = evaluate(load_policy('pibot_nav_cfc'), 'lnn_control/PiBotNav-v0', episodes=50,
                      seed=1000, perturb='noise=0.05')
    result['success_rate'], result['mean_return']

## Perturbations
A :class:`Perturbation` names one value per knob (``Perturbation.parse('noise=0.05,drop=0.2')``,
or the dataclass fields). Defaults mean "clean".

| knob       | default | meaning                                                          |
|------------|---------|------------------------------------------------------------------|
| `noise`    | 0       | std of Gaussian noise added to each observation element (in its  |
|            |         | own units; PiBotNav scales it per element, see its docstring)    |
| `drop`     | 0       | probability that an observation message is lost: the agent keeps |
|            |         | its last observation (and the action it chose from it) until the |
|            |         | next message arrives, whose step then has a larger dt            |
| `jitter`   | 0       | control period = nominal x (1 + U(-j, j)), in whole physics steps |
| `delay`    | 0       | seconds from an action to the actuators (rounded to physics steps)|
| `mass`     | 1       | factor on every body's mass and inertia                          |
| `friction` | 1       | factor on contact friction (and, in the wrapper, joint damping    |
|            |         | and frictionloss: the pendulums have no contacts)                |
| `gain`     | 1       | actuator gain: a factor, or one per actuator (``gain=0.9:1.1``:    |
|            |         | PiBotNav's left and right wheels)                                 |
| `lidar`    | 0       | the lidar is mounted rotated by this many degrees (counter-      |
|            |         | clockwise) while the software assumes it is straight; PiBotNav   |
|            |         | only (the wrapper refuses it: its envs have no lidar)            |

``lnn_control/PiBotNav-v0`` implements all of them itself (the knobs map to its ``obs_noise``,
``drop``, ``dt_jitter``, ``action_delay``, ``mass_scale``, ``friction_scale``,
``motor_gain`` and ``lidar_yaw`` arguments). Any other Gymnasium ``MujocoEnv``
(``InvertedPendulum-v5``, ``InvertedDoublePendulum-v5``) is wrapped by
:class:`PerturbedMujocoEnv`, which applies them the same way (all but ``lidar``): the elapsed
time is made real by varying the env's ``frame_skip`` step by step, so ``info['dt']`` is
always the simulated time the step took.

## Robustness suite
:func:`run_suite` evaluates several policies (liquid ones, baselines, the expert) on the same
seeds under each perturbation of a grid (``ROBUSTNESS_GRID``: one perturbation at a time) and
writes ``robustness.md`` (rows perturbations, columns policies: success rate, or mean return
for envs without success, and the fraction of clean performance kept), ``robustness.json``
and ``robustness.png``. ``lnn-control eval --suite robustness`` runs it.

## Timing
Every env made here reports the elapsed time of each step in ``info['dt']`` (s);
:func:`nominal_dt` gives the dt to pass with the first observation after ``reset``. A policy
sees ``obs_k`` with the dt of the step that produced it.
"""

from __future__ import annotations

from collections import deque
import dataclasses
from dataclasses import dataclass
import difflib
import json
import math
from pathlib import Path
import time
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Tuple, Union

# mujoco picks its GL backend once, when first imported (gymnasium.envs.mujoco imports it):
# lnn_control.envs, imported first, sets MUJOCO_GL=egl on a machine without a display so that
# the camera env (PiBotLane-v0) renders offscreen; glfw, the default, needs a display.
import lnn_control.envs  # noqa: F401  isort: skip
import gymnasium  # noqa: I100  (after lnn_control.envs, see above)
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.wrappers import TimeLimit
import mujoco
import numpy as np

__all__ = ['Knob', 'KNOBS', 'Perturbation', 'PerturbedMujocoEnv', 'NATIVE_ENVS', 'make_env',
           'nominal_dt', 'evaluate', 'MAX_DROPPED_IN_A_ROW', 'ROBUSTNESS_GRID',
           'BUILTIN_PREFIX', 'default_policies', 'run_suite', 'suite_markdown', 'suite_plot',
           'write_suite']

MAX_DROPPED_IN_A_ROW = 20   # as PiBotNav: a step never spans more than 21 control periods

PerturbLike = Union['Perturbation', str, Mapping[str, Any], None]


# -- knobs ----------------------------------------------------------------------------------
def _scale_mass(model: mujoco.MjModel, value: float) -> None:
    model.body_mass[1:] *= value        # body 0 is the world
    model.body_inertia[1:] *= value


def _scale_friction(model: mujoco.MjModel, value: float) -> None:
    model.geom_friction[:] *= value
    model.dof_damping[:] *= value
    model.dof_frictionloss[:] *= value


def _scale_gain(model: mujoco.MjModel, value: Union[float, Tuple[float, ...]]) -> None:
    gains = np.asarray(value, dtype=np.float64).reshape(-1)
    if gains.size not in (1, model.nu):
        raise ValueError(f'perturbation gain has {gains.size} values but the model has '
                         f'{model.nu} actuator(s); give one value or one per actuator')
    model.actuator_gear[:, 0] *= gains    # motors: force = gear x ctrl


def _nonneg(value: float) -> bool:
    return math.isfinite(value) and value >= 0.0


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0.0


def _fraction(value: float) -> bool:
    return 0.0 <= value < 1.0


def _finite(value: float) -> bool:
    return math.isfinite(value)


@dataclass(frozen=True)
class Knob:
    """
    One perturbation knob: its valid range and how each kind of env applies it.

    Attributes:
        name: the knob's name in ``Perturbation`` and in ``KNOB=VALUE`` text.
        default: the clean value.
        valid: predicate on one (float) value; ``rule`` says it in words.
        env_kwarg: the constructor argument of the envs that implement it natively.
        model_fn: for the wrapper, a one-off change of the MuJoCo model (dynamics shifts);
            None for the knobs the wrapper applies step by step.
        per_actuator: the knob may be a tuple (one value per actuator).
        aliases: other accepted spellings (the env kwarg names).

    """

    name: str
    default: float
    valid: Callable[[float], bool]
    rule: str
    env_kwarg: str
    model_fn: Optional[Callable[[mujoco.MjModel, Any], None]] = None
    per_actuator: bool = False
    aliases: Tuple[str, ...] = ()


KNOBS: Dict[str, Knob] = {k.name: k for k in (
    Knob('noise', 0.0, _nonneg, 'finite and >= 0', 'obs_noise'),
    Knob('drop', 0.0, _fraction, 'a probability in [0, 1)', 'drop'),
    Knob('jitter', 0.0, _fraction, 'a fraction in [0, 1)', 'dt_jitter'),
    Knob('delay', 0.0, _nonneg, 'seconds, finite and >= 0', 'action_delay'),
    Knob('mass', 1.0, _positive, 'a factor, finite and > 0', 'mass_scale', _scale_mass),
    Knob('friction', 1.0, _nonneg, 'a factor, finite and >= 0', 'friction_scale',
         _scale_friction),
    Knob('gain', 1.0, _positive, 'a factor (or one per actuator, a:b), finite and > 0',
         'motor_gain', _scale_gain, per_actuator=True),
    Knob('lidar', 0.0, _finite, 'degrees, finite', 'lidar_yaw'),
)}
# Knobs only envs with the sensor implement (not the wrapper).
_NATIVE_ONLY = frozenset({'lidar'})
_ALIASES: Dict[str, str] = {alias: k.name for k in KNOBS.values()
                            for alias in (k.name, k.env_kwarg, *k.aliases)}

# Envs whose constructors take every knob's ``env_kwarg`` and implement it themselves.
NATIVE_ENVS = frozenset({'lnn_control/PiBotNav-v0'})


def _knob(name: str) -> Knob:
    if name not in _ALIASES:
        close = difflib.get_close_matches(name, list(_ALIASES), n=1)
        hint = f"; did you mean '{_ALIASES[close[0]]}'?" if close else ''
        raise ValueError(f'unknown perturbation knob {name!r} (knobs: '
                         f'{", ".join(KNOBS)}){hint}')
    return KNOBS[_ALIASES[name]]


def _check_value(knob: Knob, value: Any) -> Union[float, Tuple[float, ...]]:
    values = value if isinstance(value, (tuple, list, np.ndarray)) else (value,)
    if len(values) != 1 and not knob.per_actuator:
        raise ValueError(f'perturbation {knob.name} takes one value, got {_raw(value)}')
    if len(values) == 0:
        raise ValueError(f'perturbation {knob.name} needs a value')
    try:
        floats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f'perturbation {knob.name}={_raw(value)}: not a number') from None
    if not all(knob.valid(v) for v in floats):
        raise ValueError(f'perturbation {knob.name}={_raw(value)}: must be {knob.rule}')
    return floats[0] if len(floats) == 1 else floats


def _raw(value: Any) -> str:
    if isinstance(value, (tuple, list, np.ndarray)):
        return ':'.join(str(v) for v in value)
    return str(value)


def _format(value: Union[float, Tuple[float, ...]]) -> str:
    if isinstance(value, tuple):
        return ':'.join(f'{v:g}' for v in value)
    return f'{value:g}'


@dataclass(frozen=True)
class Perturbation:
    """
    Named perturbation knobs (defaults: clean); see the module docstring for their meaning.

    ``Perturbation.parse('noise=0.05,drop=0.2,jitter=0.3')``; ``gain=0.9:1.1`` gives one gain
    per actuator. ``label`` writes it back in that form ('clean' when nothing is changed).
    Values are checked on construction: a ``ValueError`` names the knob and the valid range.
    """

    noise: float = 0.0
    drop: float = 0.0
    jitter: float = 0.0
    delay: float = 0.0
    mass: float = 1.0
    friction: float = 1.0
    gain: Union[float, Tuple[float, ...]] = 1.0
    lidar: float = 0.0

    def __post_init__(self) -> None:
        for knob in KNOBS.values():
            object.__setattr__(self, knob.name, _check_value(knob, getattr(self, knob.name)))

    @classmethod
    def parse(cls, text: str) -> 'Perturbation':
        """Parse ``'knob=value,knob=value'`` ('' or 'clean' for none; a:b for per actuator)."""
        text = text.strip()
        if text in ('', 'clean', 'none'):
            return cls()
        values: Dict[str, Any] = {}
        for item in text.split(','):
            item = item.strip()
            if not item:
                continue
            name, sep, value = item.partition('=')
            name = name.strip()
            if not sep or not value.strip():
                raise ValueError(f'perturbation {item!r}: expected KNOB=VALUE (knobs: '
                                 f'{", ".join(KNOBS)}), e.g. noise=0.05,drop=0.2')
            knob = _knob(name)
            if knob.name in values:
                raise ValueError(f'perturbation knob {knob.name!r} is given twice in {text!r}')
            parts = value.split(':')
            values[knob.name] = _check_value(knob, parts if len(parts) > 1 else parts[0])
        return cls(**values)

    @classmethod
    def coerce(cls, value: PerturbLike) -> 'Perturbation':
        """Accept a Perturbation, its text, a {knob: value} mapping (env kwarg names too)."""
        if isinstance(value, Perturbation):
            return value
        if value is None:
            return cls()
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Mapping):
            values: Dict[str, Any] = {}
            for name, v in value.items():
                knob = _knob(str(name))
                values[knob.name] = v
            return cls(**values)
        raise TypeError(f'a perturbation is a Perturbation, a string or a mapping, got '
                        f'{type(value).__name__}')

    def changed(self) -> Dict[str, Union[float, Tuple[float, ...]]]:
        """Return the knobs that differ from clean, in registry order."""
        out = {}
        for knob in KNOBS.values():
            value = getattr(self, knob.name)
            if value != knob.default and value != (knob.default,) * _len(value):
                out[knob.name] = value
        return out

    @property
    def label(self) -> str:
        """Return the text form, e.g. 'drop=0.2,jitter=0.3', or 'clean'."""
        changed = self.changed()
        return ','.join(f'{k}={_format(v)}' for k, v in changed.items()) or 'clean'

    @property
    def is_clean(self) -> bool:
        """Return True when no knob is changed."""
        return not self.changed()

    def env_kwargs(self) -> Dict[str, Any]:
        """Return the changed knobs as constructor kwargs of a native env (e.g. PiBotNav)."""
        return {KNOBS[name].env_kwarg: value for name, value in self.changed().items()}

    def to_json(self) -> Dict[str, Any]:
        """Return every knob's value (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    def __str__(self) -> str:
        return self.label


def _len(value: Any) -> int:
    return len(value) if isinstance(value, tuple) else 1


# -- the wrapper ----------------------------------------------------------------------------
class PerturbedMujocoEnv(gymnasium.Wrapper):
    """
    Apply a :class:`Perturbation` to a Gymnasium ``MujocoEnv`` the way PiBotNav applies it.

    One ``step`` is one control period of ``frame_skip`` physics steps (nominally; the env's
    own ``dt``), run by calling the base env's ``step`` with its ``frame_skip`` set to the
    length of each segment, so the base env computes its observation, reward and termination
    as usual:

    - ``jitter``: the period is ``frame_skip x (1 + U(-j, j))`` physics steps, rounded
      stochastically (unbiased, so a 2-step pendulum period still jitters);
    - ``drop``: with that probability the observation at the end of a period is lost and the
      step runs on to the end of the next period, holding the action (at most 20 in a row);
    - ``delay``: each action reaches the actuators ``delay`` seconds later (a queue of
      (due physics step, ctrl); until the first one is due the ctrl stays at zero);
    - ``noise``: Gaussian noise of std ``noise`` on every returned observation element;
    - ``mass``, ``friction``, ``gain``: the model is changed once (``Knob.model_fn``).

    The reward of a segment is scaled by its length over ``frame_skip`` so a return is time
    integrated (clean: unchanged). The time limit is in simulated seconds (``time_limit``;
    :func:`make_env` converts the Gymnasium step limit to ``max_episode_steps x dt``; the step
    that reaches it is cut there), so a perturbation that lengthens steps does not lengthen
    episodes. ``info`` gains ``dt``,
    ``time`` (s since reset) and ``dropped``. The wrapper's random draws come from its own
    generator, seeded by ``reset(seed=...)``, so the base env's initial states are the same
    with and without perturbations.
    """

    def __init__(self, env: gymnasium.Env, perturb: PerturbLike = None,
                 time_limit: Optional[float] = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, MujocoEnv):
            raise TypeError(f'PerturbedMujocoEnv wraps a Gymnasium MujocoEnv, got '
                            f'{type(base).__name__}')
        self.perturbation = Perturbation.coerce(perturb)
        p = self.perturbation
        self.frame_skip = int(base.frame_skip)
        self.timestep = float(base.model.opt.timestep)
        self.nominal_dt = self.frame_skip * self.timestep
        self.time_limit = None if time_limit is None else float(time_limit)
        self._limit_ticks = (None if time_limit is None
                             else int(round(float(time_limit) / self.timestep)))
        self._delay_ticks = int(round(p.delay / self.timestep))
        unsupported = sorted(_NATIVE_ONLY & set(p.changed()))
        if unsupported:
            raise ValueError(f'perturbation {", ".join(unsupported)} needs an env with that '
                             f'sensor ({", ".join(sorted(NATIVE_ENVS))}); '
                             f'{type(base).__name__} has none')
        for name, value in p.changed().items():
            if KNOBS[name].model_fn is not None:
                KNOBS[name].model_fn(base.model, value)
        mujoco.mj_setConst(base.model, base.data)
        self._rng = np.random.default_rng()
        self._queue: Deque[Tuple[int, np.ndarray]] = deque()
        self._ctrl = np.zeros(base.model.nu)
        self._tick = 0

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Reset the base env and the wrapper's clock, queue and (if seeded) generator."""
        if seed is not None:
            # A separate stream: the base env's initial-state draws stay unperturbed.
            self._rng = np.random.default_rng([int(seed), 0x5EED])
        obs, info = self.env.reset(seed=seed, options=options)
        self._queue.clear()
        self._ctrl = np.zeros(self.env.unwrapped.model.nu)
        self._tick = 0
        info = dict(info, dt=self.nominal_dt, time=0.0, dropped=0)
        return self._observe(obs), info

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Run one control period (longer if observations are dropped); see the class doc."""
        base = self.env.unwrapped
        p = self.perturbation
        self._queue.append((self._tick + self._delay_ticks,
                            np.asarray(action, dtype=np.float64).reshape(-1)))
        start = self._tick
        reward = 0.0
        dropped = 0
        terminated = False
        # An env that truncates itself on simulated time (PiBotLane-v0, made here without a
        # step limit) ends the episode too, or a camera episode would never end.
        cut = False
        info: Dict[str, Any] = {}
        try:
            while True:
                end = self._tick + self._period()
                if self._limit_ticks is not None:
                    end = min(end, max(self._limit_ticks, self._tick + 1))
                while self._tick < end and not (terminated or cut):
                    while self._queue and self._queue[0][0] <= self._tick:
                        self._ctrl = self._queue.popleft()[1]
                    stop = min(end, self._queue[0][0]) if self._queue else end
                    base.frame_skip = stop - self._tick
                    obs, r, terminated, cut, info = base.step(self._ctrl)
                    reward += float(r) * (stop - self._tick) / self.frame_skip
                    self._tick = stop
                if (terminated or cut or self._out_of_time()
                        or dropped >= MAX_DROPPED_IN_A_ROW):
                    break
                if p.drop > 0.0 and self._rng.random() < p.drop:
                    dropped += 1
                    continue
                break
        finally:
            base.frame_skip = self.frame_skip    # others (experts, renderers) see the nominal
        truncated = bool(not terminated and (cut or self._out_of_time()))
        info = dict(info, dt=(self._tick - start) * self.timestep,
                    time=self._tick * self.timestep, dropped=dropped)
        return self._observe(obs), reward, bool(terminated), truncated, info

    def _period(self) -> int:
        if self.perturbation.jitter <= 0.0:
            return self.frame_skip
        j = self.perturbation.jitter
        exact = self.frame_skip * (1.0 + self._rng.uniform(-j, j))
        return max(1, int(math.floor(exact + self._rng.random())))   # stochastic rounding

    def _out_of_time(self) -> bool:
        return self._limit_ticks is not None and self._tick >= self._limit_ticks

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        noise = self.perturbation.noise
        if noise <= 0.0:
            return obs
        obs = np.asarray(obs)
        return (obs + self._rng.normal(0.0, noise, obs.shape)).astype(obs.dtype)


# -- factory --------------------------------------------------------------------------------
def make_env(env_id: str, seed: Optional[int] = None, perturb: PerturbLike = None,
             **env_kwargs: Any) -> gymnasium.Env:
    """
    Make ``env_id`` with ``perturb`` applied; every env made here reports ``info['dt']``.

    Args:
        env_id: a Gymnasium id (``lnn_control/PiBotNav-v0`` or a MuJoCo env such as
            ``InvertedPendulum-v5``); lnn_control's own ids truncate on their
            ``time_limit`` only (unless ``max_episode_steps`` is given).
        seed: if given, the env is reset once with it and its spaces are seeded, so a later
            ``reset()`` without a seed continues a reproducible stream.
        perturb: a :class:`Perturbation`, its text (``'noise=0.05,drop=0.2'``) or a mapping.
        env_kwargs: passed to ``gymnasium.make`` (``n_obstacles=12``, ``max_episode_steps``).
            For envs that take the knobs natively, a knob may not be given both ways.

    Returns:
        The env: for ``NATIVE_ENVS`` the env itself, otherwise wrapped by
        :class:`PerturbedMujocoEnv` (always, clean too, so timing is reported the same way).

    """
    from lnn_control.envs import ENV_IDS
    if env_id in ENV_IDS:
        # They truncate themselves on simulated time (time_limit); a registered step limit
        # would end jittered episodes a few steps early, or cut a longer time_limit short.
        env_kwargs.setdefault('max_episode_steps', -1)
    p = Perturbation.coerce(perturb)
    if env_id in NATIVE_ENVS:
        native = p.env_kwargs()
        both = sorted(set(native) & set(env_kwargs))
        if both:
            raise ValueError(f'{both} given both as env kwargs and in the perturbation '
                             f'{p.label!r}; give each once')
        env = gymnasium.make(env_id, **env_kwargs, **native)
    else:
        env = gymnasium.make(env_id, **env_kwargs)
        if not isinstance(env.unwrapped, MujocoEnv):
            env.close()
            raise ValueError(f'{env_id} is not a MuJoCo env; perturbations and timing are '
                             f'supported for {sorted(NATIVE_ENVS)} and Gymnasium MujocoEnvs')
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


# -- evaluation -----------------------------------------------------------------------------
def _policy_name(policy: Any) -> str:
    if isinstance(policy, str):
        return policy
    source = getattr(policy, 'source', '')
    return str(source) if source else type(policy).__name__


def _load(policy: Any) -> Any:
    if isinstance(policy, str) and policy != 'expert':
        from lnn_control.runtime.policy import load_policy
        return load_policy(policy)
    return policy


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _check_sizes(policy: Any, env: gymnasium.Env, name: str) -> None:
    spec = getattr(policy, 'spec', None)
    if spec is None or not hasattr(spec, 'obs'):
        return
    obs_size = int(np.prod(env.observation_space.shape))
    act_size = int(np.prod(env.action_space.shape))
    if spec.obs.size != obs_size or spec.action.size != act_size:
        raise ValueError(f'policy {name} maps {spec.obs.size} observations to '
                         f'{spec.action.size} actions, but {env.spec.id if env.spec else env} '
                         f'has {obs_size} and {act_size}')


def evaluate(policy: Any, env_id: str, episodes: int = 10, seed: int = 0,
             perturb: PerturbLike = None, **env_kwargs: Any) -> Dict[str, Any]:
    """
    Run ``policy`` closed loop for ``episodes`` episodes (seeds seed, seed + 1, ...).

    Args:
        policy: a runtime ``Policy`` or any object with ``reset()`` and ``step(obs, dt)``;
            a policy file path or built-in name (loaded with ``load_policy``); or
            ``'expert'``, the env's expert (``make_expert``), which reads the privileged
            state from ``info`` and is built for the nominal (unperturbed) model.
        env_id, perturb, env_kwargs: as for :func:`make_env`.
        episodes: number of episodes.
        seed: seed of the first episode's ``reset``.

    Returns:
        A JSON-able dict: ``env_id``, ``policy``, ``perturbation`` (label), ``knobs``,
        ``env_kwargs``, ``episodes``, ``seed``, ``mean_return``, ``std_return``,
        ``median_return``, ``success_rate`` and ``collision_rate`` (None when the env does
        not report ``is_success``/``collision``), ``mean_steps``, ``mean_seconds``,
        ``metric`` ('success_rate' if the env reports success, else 'mean_return') and
        ``score`` (its value), ``per_episode`` (``seed``, ``return``, ``steps``, ``seconds``,
        ``success``, ``collision``, ``terminated``, ``truncated``, ``min_dt``, ``max_dt``)
        and ``wall_seconds``. Everything but ``wall_seconds`` is deterministic for a seed.

    """
    if episodes < 1:
        raise ValueError(f'episodes must be >= 1, got {episodes}')
    name = _policy_name(policy)
    p = Perturbation.coerce(perturb)
    env = make_env(env_id, perturb=p, **env_kwargs)
    started = time.perf_counter()
    try:
        if isinstance(policy, str) and policy == 'expert':
            from lnn_control.envs.experts import make_expert
            clean = make_env(env_id, **env_kwargs)
            expert = make_expert(clean)
            clean.close()

            def reset() -> None:
                return None

            def act(obs: np.ndarray, dt: float, info: Dict[str, Any]) -> np.ndarray:
                return expert.act(obs, info)
        else:
            agent = _load(policy)
            _check_sizes(agent, env, name)
            reset = agent.reset

            def act(obs: np.ndarray, dt: float, info: Dict[str, Any]) -> np.ndarray:
                return agent.step(np.asarray(obs, dtype=np.float32), dt)

        records = [_episode(env, reset, act, seed + k) for k in range(episodes)]
    finally:
        env.close()
    returns = np.array([r['return'] for r in records])
    has_success = all(r['success'] is not None for r in records)
    has_collision = all(r['collision'] is not None for r in records)
    success = float(np.mean([r['success'] for r in records])) if has_success else None
    result = {
        'env_id': env_id,
        'policy': name,
        'perturbation': p.label,
        'knobs': p.to_json(),
        'env_kwargs': _jsonable(env_kwargs),
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
        'per_episode': records,
        'wall_seconds': time.perf_counter() - started,
    }
    return result


def _episode(env: gymnasium.Env, reset: Callable[[], None],
             act: Callable[[np.ndarray, float, Dict[str, Any]], np.ndarray],
             seed: int) -> Dict[str, Any]:
    obs, info = env.reset(seed=seed)
    reset()
    dt = nominal_dt(env)
    total, steps, seconds = 0.0, 0, 0.0
    dts: List[float] = []
    while True:
        obs, reward, terminated, truncated, info = env.step(act(obs, dt, info))
        dt = float(info['dt'])
        total += float(reward)
        steps += 1
        seconds += dt
        dts.append(dt)
        if terminated or truncated:
            break
    return {
        'seed': int(seed),
        'return': total,
        'steps': steps,
        'seconds': seconds,
        'success': bool(info['is_success']) if 'is_success' in info else None,
        'collision': bool(info['collision']) if 'collision' in info else None,
        'terminated': bool(terminated),
        'truncated': bool(truncated),
        'min_dt': min(dts),
        'max_dt': max(dts),
    }


# -- robustness suite -----------------------------------------------------------------------
# One perturbation at a time (plus the drop + jitter pair a real robot sees together), at
# magnitudes a TurtleBot-class robot meets: lost and late messages, scheduling jitter, a
# payload, a slippery floor, a weak or mismatched pair of motors.
ROBUSTNESS_GRID: Tuple[str, ...] = (
    'clean', 'noise=0.05', 'noise=0.1', 'drop=0.2', 'drop=0.4', 'jitter=0.3',
    'drop=0.2,jitter=0.3', 'delay=0.1', 'mass=1.5', 'friction=0.5', 'gain=0.7',
    'gain=0.9:1.1')

# env id -> name prefix of its built-in policies (``lnn_control/policies/<prefix>_<kind>``).
BUILTIN_PREFIX: Dict[str, str] = {
    'lnn_control/PiBotNav-v0': 'pibot_nav',
    'InvertedPendulum-v5': 'inverted_pendulum',
    'InvertedDoublePendulum-v5': 'inverted_double_pendulum',
}
_KIND_ORDER = ('cfc', 'ltc', 'mlp', 'gru', 'lstm')   # liquid first, then the baselines


def default_policies(env_id: str) -> List[str]:
    """Return the built-in policies for ``env_id`` (liquid first, then baselines) + 'expert'."""
    from lnn_control.envs.experts import EXPERTS
    from lnn_control.runtime.policy import builtin_policies
    prefix = BUILTIN_PREFIX.get(env_id)
    names = [n for n in builtin_policies() if prefix and n.startswith(prefix + '_')]
    rank = {f'{prefix}_{kind}': i for i, kind in enumerate(_KIND_ORDER)}
    names.sort(key=lambda n: (rank.get(n, len(rank)), n))
    if env_id in EXPERTS:
        names.append('expert')
    return names


def _unsupported(env_id: str, perturbation: Perturbation,
                 env_kwargs: Mapping[str, Any]) -> Optional[str]:
    """Return why ``perturbation`` cannot be applied to ``env_id`` (None if it can)."""
    if env_id in NATIVE_ENVS:
        return None
    try:
        make_env(env_id, perturb=perturbation, **env_kwargs).close()
    except ValueError as exc:
        return str(exc)
    return None


def _suite_cell(job: Tuple[str, str, str, int, int, Dict[str, Any]]) -> Dict[str, Any]:
    policy, label, env_id, episodes, seed, env_kwargs = job
    return evaluate(policy, env_id, episodes=episodes, seed=seed, perturb=label, **env_kwargs)


def run_suite(policies: Optional[List[str]] = None,
              env_id: str = 'lnn_control/PiBotNav-v0', episodes: int = 20, seed: int = 10_000,
              grid: Optional[List[str]] = None, out: Optional[str] = None, workers: int = 2,
              env_kwargs: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """
    Evaluate each policy under each perturbation of ``grid`` on the same seeds.

    Args:
        policies: policy files, built-in names or 'expert' (default: ``default_policies``).
        env_id: the env; env_kwargs: extra ``make_env`` kwargs.
        episodes, seed: episodes per cell, seeds seed .. seed + episodes - 1 in every cell
            (paired: each policy meets the same starts, layouts and random streams).
        grid: perturbation texts (default ``ROBUSTNESS_GRID``); 'clean' is added first if
            missing. Perturbations the env cannot apply (e.g. two gains for a pendulum with
            one motor) are skipped and listed under ``skipped``.
        out: folder for ``robustness.md``, ``robustness.json``, ``robustness.png`` (None: no
            files).
        workers: processes (cells are independent; 1 runs in this process).

    Returns:
        The JSON-able report: ``env_id``, ``episodes``, ``seed``, ``metric``, ``policies``,
        ``names`` (short table headers), ``perturbations``, ``skipped``,
        ``results[policy][perturbation]`` (``evaluate`` results),
        ``kept[policy][perturbation]`` (score / clean score, None if undefined),
        ``wall_seconds``.

    """
    started = time.perf_counter()
    env_kwargs = dict(env_kwargs or {})
    policies = list(policies) if policies else default_policies(env_id)
    if not policies:
        raise ValueError(f'no policies to evaluate on {env_id}: no built-in policies for it '
                         f'and no expert; pass some with policies=[...] / --policies')
    perturbations = [Perturbation.coerce(g) for g in (grid or ROBUSTNESS_GRID)]
    if not any(p.is_clean for p in perturbations):
        perturbations.insert(0, Perturbation())
    labels: List[str] = []
    skipped: Dict[str, str] = {}
    for p in perturbations:
        reason = _unsupported(env_id, p, env_kwargs)
        if reason:
            skipped[p.label] = reason
        elif p.label not in labels:
            labels.append(p.label)
    probe = make_env(env_id, **env_kwargs)
    try:
        for name in policies:    # fail before the long run on a wrong or mismatched policy
            if name != 'expert':
                _check_sizes(_load(name), probe, name)
    finally:
        probe.close()
    jobs = [(name, label, env_id, episodes, seed, env_kwargs)
            for name in policies for label in labels]
    if workers > 1 and len(jobs) > 1:
        import concurrent.futures
        import multiprocessing

        # spawn: a clean interpreter per worker (MuJoCo/OpenMP state does not survive fork well).
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)),
                mp_context=multiprocessing.get_context('spawn')) as pool:
            cells = list(pool.map(_suite_cell, jobs))
    else:
        cells = [_suite_cell(job) for job in jobs]
    results: Dict[str, Dict[str, Any]] = {name: {} for name in policies}
    for (name, label, *_), cell in zip(jobs, cells):
        results[name][label] = cell
    metric = cells[0]['metric']
    kept = {name: {label: _kept(results[name][label]['score'], results[name]['clean']['score'])
                   for label in labels} for name in policies}
    report = {'env_id': env_id, 'episodes': int(episodes), 'seed': int(seed), 'metric': metric,
              'policies': policies, 'names': _short_names(policies),
              'perturbations': labels, 'skipped': skipped,
              'env_kwargs': _jsonable(env_kwargs), 'results': results, 'kept': kept,
              'wall_seconds': time.perf_counter() - started}
    if out is not None:
        write_suite(report, out)
    return report


def _short_names(policies: List[str]) -> Dict[str, str]:
    """Table headers: a file's stem ('runs/x/pibot_nav_cfc.safetensors' -> 'pibot_nav_cfc')."""
    short = {name: Path(name).stem if Path(name).suffix in ('.safetensors', '.npz') else name
             for name in policies}
    if len(set(short.values())) < len(short):
        return {name: name for name in policies}
    return short


def _kept(score: float, clean: float) -> Optional[float]:
    if clean is None or score is None or not clean > 0.0:
        return None
    return float(score / clean)


def suite_markdown(report: Mapping[str, Any]) -> str:
    """Return the markdown table: rows perturbations, columns policies, score (kept %)."""
    metric = report['metric']
    policies = report['policies']
    headers = [report.get('names', {}).get(name, name) for name in policies]
    fmt = '{:.2f}' if metric == 'success_rate' else '{:.1f}'
    last = report['seed'] + report['episodes'] - 1
    lines = [
        f'# Robustness on {report["env_id"]}',
        '',
        f'{metric.replace("_", " ")} over {report["episodes"]} episodes (seeds '
        f'{report["seed"]}-{last}, the same in every cell), and in brackets the fraction of '
        f'the policy\'s clean {metric.replace("_", " ")} it keeps. Perturbation knobs: see '
        f'`lnn_control.train.evaluate`.',
        '',
        '| perturbation | ' + ' | '.join(headers) + ' |',
        '|---|' + '---|' * len(policies),
    ]
    for label in report['perturbations']:
        cells = []
        for name in policies:
            score = report['results'][name][label]['score']
            kept = report['kept'][name][label]
            text = fmt.format(score)
            if label != 'clean':
                text += f' ({kept:.0%})' if kept is not None else ' (n/a)'
            cells.append(text)
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    if 'success_rate' == metric:
        lines += ['', 'collision rate:', '',
                  '| perturbation | ' + ' | '.join(headers) + ' |',
                  '|---|' + '---|' * len(policies)]
        for label in report['perturbations']:
            rates = [report['results'][name][label]['collision_rate'] for name in policies]
            lines.append(f'| {label} | ' + ' | '.join(f'{r:.2f}' for r in rates) + ' |')
    if 'expert' in policies:
        lines += ['', "The expert is the env's teacher (`lnn_control.envs.experts`); a "
                  'privileged one (PiBotNav) reads the true state, so observation noise does '
                  'not reach it.']
    if report.get('skipped'):
        lines += ['', 'Skipped (not applicable to this env):', '']
        lines += [f'- `{label}`: {why}' for label, why in report['skipped'].items()]
    return '\n'.join(lines) + '\n'


def suite_plot(report: Mapping[str, Any], path: str) -> None:
    """Write the grouped bar chart: score and fraction kept per perturbation and policy."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    labels = report['perturbations']
    policies = report['policies']
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(policies))
    fig, axes = plt.subplots(2, 1, figsize=(max(8.0, 0.9 * len(labels) + 3), 7), sharex=True)
    for i, name in enumerate(policies):
        scores = [report['results'][name][label]['score'] for label in labels]
        kept = [report['kept'][name][label] for label in labels]
        kept = [np.nan if k is None else k for k in kept]
        offset = (i - (len(policies) - 1) / 2) * width
        axes[0].bar(x + offset, scores, width, label=report.get('names', {}).get(name, name))
        axes[1].bar(x + offset, kept, width, label=name)
    axes[0].set_ylabel(report['metric'].replace('_', ' '))
    axes[0].set_title(f'{report["env_id"]}: {report["episodes"]} episodes per cell', loc='right')
    axes[0].legend(fontsize=8, ncol=min(len(policies), 5), loc='lower left',
                   bbox_to_anchor=(0.0, 1.08), frameon=False)
    axes[1].axhline(1.0, color='k', linewidth=0.8)
    axes[1].set_ylabel('fraction of clean kept')
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(labels, rotation=35, ha='right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_suite(report: Mapping[str, Any], out: str) -> Dict[str, str]:
    """Write ``robustness.md``, ``robustness.json`` and ``robustness.png`` into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {'md': folder / 'robustness.md', 'json': folder / 'robustness.json',
             'png': folder / 'robustness.png'}
    paths['md'].write_text(suite_markdown(report))
    paths['json'].write_text(json.dumps(_jsonable(report), indent=1) + '\n')
    suite_plot(report, str(paths['png']))
    return {k: str(v) for k, v in paths.items()}
