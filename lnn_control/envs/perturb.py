# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Perturbations a real robot meets, as knobs, and the one implementation of each.

A :class:`Perturbation` names one value per knob (``Perturbation.parse('noise=0.05,drop=0.2')``
or the dataclass fields); defaults mean "clean". ``lnn_control.envs.make_env`` applies one to
any env: an env that implements a knob itself says so (``native_knobs``, a class attribute:
PiBotNav implements all but the image knobs, PiBotLane the ones that need its renderer), and
:class:`PerturbedMujocoEnv` (any Gymnasium ``MujocoEnv``) or :class:`ObservationKnobs` (image
and vector observations) applies the rest.

| knob         | default | group       | meaning                                               |
|--------------|---------|-------------|-------------------------------------------------------|
| `noise`      | 0       | observation | std of Gaussian noise on each observation element, in |
|              |         |             | its own units (PiBotNav scales it per element; images |
|              |         |             | get grey levels, 0-255)                                |
| `brightness` | 0       | observation | grey levels added to every pixel (negative darkens)    |
| `occlusion`  | 0       | observation | a black square of this fraction of the image height,   |
|              |         |             | at a new random place every frame                      |
| `drop`       | 0       | timing      | probability that an observation message is lost: the   |
|              |         |             | agent keeps its last observation (and the action it    |
|              |         |             | chose) until the next message, whose step has a larger |
|              |         |             | dt (at most ``MAX_DROPPED_IN_A_ROW`` in a row)         |
| `jitter`     | 0       | timing      | control period = nominal x (1 + U(-j, j)), in whole    |
|              |         |             | physics steps (stochastically rounded: unbiased)       |
| `delay`      | 0       | timing      | seconds from an action to the actuators (physics steps)|
| `mass`       | 1       | dynamics    | factor on every body's mass and inertia                |
| `friction`   | 1       | dynamics    | factor on contact friction (and, in the wrapper, joint |
|              |         |             | damping and frictionloss: the pendulums have no        |
|              |         |             | contacts)                                              |
| `gain`       | 1       | dynamics    | actuator gain: a factor, or one per actuator           |
|              |         |             | (``gain=0.9:1.1``: PiBotNav's left and right wheels)   |
| `lidar`      | 0       | sensor      | the lidar is mounted rotated by this many degrees      |
|              |         |             | (CCW) while the software assumes it is straight        |
| `textures`   | train   | scene       | the floor and road looks: 'train' or 'unseen' (drawn   |
|              |         |             | from palettes and patterns training never sees)        |
| `obs`        | full    | observation | 'positions' drops the velocity half of a MuJoCo        |
|              |         |             | locomotion observation (its trailing ``qvel``): the    |
|              |         |             | policy must infer velocities from the sequence         |
| `gamma`      | 1       | observation | exponent on the image intensity (< 1 brightens)        |
| `blur`       | 0       | observation | Gaussian blur std of the image (px)                    |
| `jpeg`       | 0       | observation | JPEG quality of a compressed camera stream (0: off)    |
| `pitch`      | 0       | sensor      | the camera is pitched this many degrees further down   |
|              |         |             | than the mount the policy was trained for              |
| `randomise`  | 0       | scene       | domain randomisation strength in [0, 1]: floors,       |
|              |         |             | lines, light, camera pose and look drawn per episode   |
|              |         |             | from wide distributions (:mod:`lnn_control.envs.       |
|              |         |             | randomise`); never the 'unseen' set's hues or patterns |

Sensor and scene knobs need an env with that sensor or scene (native only); the wrapper refuses
them rather than ignore them. The image knobs have one implementation,
:func:`lnn_control.envs.images.perturb_frame`.

The timing knobs have one implementation, shared by PiBotNav (which steps to its next odometry
message), PiBotLane (to its next camera frame) and the wrapper (to the end of a control period
of a Gymnasium MuJoCo env): :class:`StepClock` (jittered periods, lost messages) and
:class:`DelayLine` (actions reaching the actuators later).
"""

from __future__ import annotations

from collections import deque
import dataclasses
from dataclasses import dataclass
import difflib
import math
from typing import Any, Callable, Deque, Dict, FrozenSet, Mapping, Optional, Tuple, Union

import gymnasium
from gymnasium.envs.mujoco import MujocoEnv
from lnn_control.envs.images import perturb_frame
import mujoco
import numpy as np

__all__ = ['Knob', 'KNOBS', 'Perturbation', 'PerturbLike', 'check_knob', 'StepClock',
           'DelayLine', 'perturb_observation', 'perturb_frame', 'PerturbedMujocoEnv',
           'ObservationKnobs', 'MAX_DROPPED_IN_A_ROW', 'KNOB_GROUPS']

MAX_DROPPED_IN_A_ROW = 20   # a step never spans more than 21 control periods
KNOB_GROUPS = ('observation', 'timing', 'dynamics', 'sensor', 'scene')
PerturbLike = Union['Perturbation', str, Mapping[str, Any], None]
Value = Union[float, str, Tuple[float, ...]]


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


def _grey(value: float) -> bool:
    return -255.0 <= value <= 255.0


def _gamma(value: float) -> bool:
    return 0.2 <= value <= 5.0


def _quality(value: float) -> bool:
    return value == 0.0 or 1.0 <= value <= 100.0


def _unit(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _pitch(value: float) -> bool:
    return -30.0 <= value <= 30.0


@dataclass(frozen=True)
class Knob:
    """
    One perturbation knob: its valid values and how it is applied.

    Attributes:
        name: the knob's name in ``Perturbation`` and in ``KNOB=VALUE`` text.
        default: the clean value.
        group: one of :data:`KNOB_GROUPS` (how a wrapper applies it).
        valid: predicate on one (float) value; ``rule`` says it in words.
        env_kwarg: the constructor argument of the envs that implement it natively.
        model_fn: for the wrapper, a one-off change of the MuJoCo model (dynamics).
        per_actuator: the knob may be a tuple (one value per actuator).
        choices: for a categorical knob, its values (``valid`` is then unused).

    """

    name: str
    default: Any
    group: str
    valid: Callable[[float], bool]
    rule: str
    env_kwarg: str
    model_fn: Optional[Callable[[mujoco.MjModel, Any], None]] = None
    per_actuator: bool = False
    choices: Tuple[str, ...] = ()


KNOBS: Dict[str, Knob] = {k.name: k for k in (
    Knob('noise', 0.0, 'observation', _nonneg, 'finite and >= 0', 'obs_noise'),
    Knob('drop', 0.0, 'timing', _fraction, 'a probability in [0, 1)', 'drop'),
    Knob('jitter', 0.0, 'timing', _fraction, 'a fraction in [0, 1)', 'dt_jitter'),
    Knob('delay', 0.0, 'timing', _nonneg, 'seconds, finite and >= 0', 'action_delay'),
    Knob('mass', 1.0, 'dynamics', _positive, 'a factor, finite and > 0', 'mass_scale',
         _scale_mass),
    Knob('friction', 1.0, 'dynamics', _nonneg, 'a factor, finite and >= 0', 'friction_scale',
         _scale_friction),
    Knob('gain', 1.0, 'dynamics', _positive, 'a factor (or one per actuator, a:b), finite '
         'and > 0', 'motor_gain', _scale_gain, per_actuator=True),
    Knob('lidar', 0.0, 'sensor', _finite, 'degrees, finite', 'lidar_yaw'),
    Knob('brightness', 0.0, 'observation', _grey, 'grey levels in [-255, 255]',
         'brightness'),
    Knob('occlusion', 0.0, 'observation', _fraction, 'a fraction of the image height in '
         '[0, 1)', 'occlusion'),
    Knob('textures', 'train', 'scene', _finite, "'train' or 'unseen'", 'texture_set',
         choices=('train', 'unseen')),
    Knob('obs', 'full', 'observation', _finite, "'full' or 'positions'", 'obs_mode',
         choices=('full', 'positions')),
    Knob('gamma', 1.0, 'observation', _gamma, 'an exponent in [0.2, 5]', 'gamma'),
    Knob('blur', 0.0, 'observation', _nonneg, 'a Gaussian std in px, finite and >= 0', 'blur'),
    Knob('jpeg', 0.0, 'observation', _quality, 'a JPEG quality in [1, 100] (0: off)', 'jpeg'),
    Knob('pitch', 0.0, 'sensor', _pitch, 'degrees in [-30, 30]', 'camera_pitch'),
    Knob('randomise', 0.0, 'scene', _unit, 'a strength in [0, 1]', 'randomise'),
)}
_ALIASES: Dict[str, str] = {alias: k.name for k in KNOBS.values()
                            for alias in (k.name, k.env_kwarg)}


def _knob(name: str) -> Knob:
    if name not in _ALIASES:
        close = difflib.get_close_matches(name, list(_ALIASES), n=1)
        hint = f"; did you mean '{_ALIASES[close[0]]}'?" if close else ''
        raise ValueError(f'unknown perturbation knob {name!r} (knobs: '
                         f'{", ".join(KNOBS)}){hint}')
    return KNOBS[_ALIASES[name]]


def check_knob(name: str, value: Any) -> Value:
    """
    Return ``value`` checked for knob ``name`` (a float, a tuple per actuator or a choice).

    Raises a ValueError naming the knob and its valid range; envs check their own perturbation
    arguments with it, so a knob is validated in one place.
    """
    knob = _knob(name)
    said = name    # messages name what the caller wrote (a knob or an env argument)
    if knob.choices:
        if value not in knob.choices:
            raise ValueError(f'perturbation {said}={_raw(value)}: must be {knob.rule}')
        return str(value)
    values = value if isinstance(value, (tuple, list, np.ndarray)) else (value,)
    if len(values) != 1 and not knob.per_actuator:
        raise ValueError(f'perturbation {said} takes one value, got {_raw(value)}')
    if len(values) == 0:
        raise ValueError(f'perturbation {said} needs a value')
    try:
        floats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f'perturbation {said}={_raw(value)}: not a number') from None
    if not all(knob.valid(v) for v in floats):
        raise ValueError(f'perturbation {said}={_raw(value)}: must be {knob.rule}')
    return floats[0] if len(floats) == 1 else floats


def _raw(value: Any) -> str:
    if isinstance(value, (tuple, list, np.ndarray)):
        return ':'.join(str(v) for v in value)
    return str(value)


def _format(value: Value) -> str:
    if isinstance(value, tuple):
        return ':'.join(f'{v:g}' for v in value)
    if isinstance(value, str):
        return value
    return f'{value:g}'


def _is_default(knob: Knob, value: Value) -> bool:
    if isinstance(value, tuple):
        return value == (knob.default,) * len(value)
    return value == knob.default


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
    brightness: float = 0.0
    occlusion: float = 0.0
    textures: str = 'train'
    obs: str = 'full'
    gamma: float = 1.0
    blur: float = 0.0
    jpeg: float = 0.0
    pitch: float = 0.0
    randomise: float = 0.0

    def __post_init__(self) -> None:
        for knob in KNOBS.values():
            object.__setattr__(self, knob.name, check_knob(knob.name, getattr(self, knob.name)))

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
            parts = value.strip().split(':')
            values[knob.name] = check_knob(knob.name, parts if len(parts) > 1 else parts[0])
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
            return cls(**{_knob(str(name)).name: v for name, v in value.items()})
        raise TypeError(f'a perturbation is a Perturbation, a string or a mapping, got '
                        f'{type(value).__name__}')

    def changed(self) -> Dict[str, Value]:
        """Return the knobs that differ from clean, in registry order."""
        return {knob.name: getattr(self, knob.name) for knob in KNOBS.values()
                if not _is_default(knob, getattr(self, knob.name))}

    def only(self, groups: Any) -> 'Perturbation':
        """Return a Perturbation with only the knobs of ``groups`` (names) kept."""
        return Perturbation(**{k: v for k, v in self.changed().items()
                               if KNOBS[k].group in groups})

    @property
    def label(self) -> str:
        """Return the text form, e.g. 'drop=0.2,jitter=0.3', or 'clean'."""
        changed = self.changed()
        return ','.join(f'{k}={_format(v)}' for k, v in changed.items()) or 'clean'

    @property
    def is_clean(self) -> bool:
        """Return True when no knob is changed."""
        return not self.changed()

    def env_kwargs(self, knobs: Optional[FrozenSet[str]] = None) -> Dict[str, Any]:
        """Return the changed knobs (of ``knobs`` only, if given) as native env kwargs."""
        return {KNOBS[name].env_kwarg: value for name, value in self.changed().items()
                if knobs is None or name in knobs}

    def to_json(self) -> Dict[str, Any]:
        """Return every knob's value (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    def __str__(self) -> str:
        return self.label


# -- the shared timing ----------------------------------------------------------------------
class StepClock:
    """
    Jittered control periods and lost messages, in physics steps (``jitter`` and ``drop``).

    An env's step runs ``period()`` physics steps, then, while ``lost()`` says the message at
    its end was lost (at most ``MAX_DROPPED_IN_A_ROW`` in a row), another period.

    Args:
        ticks: the nominal period (physics steps).
        jitter: the period is ``ticks x (1 + U(-jitter, jitter))``, rounded stochastically.
        drop: probability that the message at a period's end is lost.

    """

    def __init__(self, ticks: int, jitter: float = 0.0, drop: float = 0.0) -> None:
        self.ticks = int(ticks)
        self.jitter = float(check_knob('jitter', jitter))
        self.drop = float(check_knob('drop', drop))

    def period(self, rng: np.random.Generator) -> int:
        """Return the next period's length in physics steps (>= 1)."""
        if self.jitter <= 0.0:
            return self.ticks
        exact = self.ticks * (1.0 + rng.uniform(-self.jitter, self.jitter))
        return max(1, int(math.floor(exact + rng.random())))   # stochastic rounding: unbiased

    def lost(self, rng: np.random.Generator, dropped: int = 0) -> bool:
        """Decide by a draw if this period's message is dropped; never above the cap in a row."""
        if self.drop <= 0.0 or dropped >= MAX_DROPPED_IN_A_ROW:
            return False
        return bool(rng.random() < self.drop)


class DelayLine:
    """
    Actions that reach the actuators ``ticks`` physics steps after they were sent (``delay``).

    Example::

        line = DelayLine(round(delay / timestep))
        line.push(tick, ctrl)                  # sent now
        due = line.pop_due(tick)               # the newest command due by now, or None
        until = line.next_due()                # where the next one takes effect (or None)

    """

    def __init__(self, ticks: int = 0) -> None:
        self.ticks = int(ticks)
        self._queue: Deque[Tuple[int, Any]] = deque()

    def push(self, tick: int, value: Any) -> None:
        """Send ``value`` at physics step ``tick``; it is due ``ticks`` steps later."""
        self._queue.append((int(tick) + self.ticks, value))

    def pop_due(self, tick: int) -> Any:
        """Return the newest value due at or before ``tick`` (None if none), dropping older."""
        value = None
        while self._queue and self._queue[0][0] <= tick:
            value = self._queue.popleft()[1]
        return value

    def next_due(self) -> Optional[int]:
        """Return the physics step at which the next value takes effect, or None."""
        return self._queue[0][0] if self._queue else None

    def clear(self) -> None:
        """Forget everything in flight (an external command replaces it)."""
        self._queue.clear()


# -- observation knobs ----------------------------------------------------------------------
def perturb_observation(obs: Any, rng: np.random.Generator, p: Perturbation) -> Any:
    """Apply the observation knobs of ``p``: to uint8 images as pixels, else elementwise."""
    if isinstance(obs, dict):
        return {k: perturb_observation(v, rng, p) for k, v in obs.items()}
    obs = np.asarray(obs)
    if obs.dtype == np.uint8:
        if p.noise or p.brightness or p.occlusion or p.gamma != 1.0 or p.blur or p.jpeg:
            return perturb_frame(obs, rng, p.noise, p.brightness, p.occlusion, p.gamma,
                                 p.blur, p.jpeg)
        return obs
    if p.brightness or p.occlusion or p.gamma != 1.0 or p.blur or p.jpeg:
        raise ValueError('perturbations brightness, occlusion, gamma, blur and jpeg need an '
                         'image observation')
    if p.obs != 'full':
        raise ValueError(f'perturbation obs={p.obs} needs a Gymnasium MuJoCo env whose '
                         f'observation ends with its joint velocities')
    if p.noise <= 0.0:
        return obs
    return (obs + rng.normal(0.0, p.noise, obs.shape)).astype(obs.dtype)


class ObservationKnobs(gymnasium.Wrapper):
    """
    Apply the observation knobs (noise, brightness, occlusion) to an env that lacks them.

    Its random draws come from its own generator, seeded by ``reset(seed=...)`` (the base
    env's own streams stay as they are without the perturbation).
    """

    def __init__(self, env: gymnasium.Env, perturb: PerturbLike) -> None:
        super().__init__(env)
        self.perturbation = Perturbation.coerce(perturb).only(('observation',))
        if self.perturbation.obs != 'full':
            raise ValueError(f'perturbation obs={self.perturbation.obs} needs a Gymnasium '
                             f'MuJoCo env whose observation ends with its joint velocities; '
                             f'{type(env.unwrapped).__name__} observes otherwise')
        self._rng = np.random.default_rng()

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[Any, Dict[str, Any]]:
        """Reset the env and (if seeded) the wrapper's generator; perturb the observation."""
        if seed is not None:
            self._rng = np.random.default_rng([int(seed), 0x5EED])
        obs, info = self.env.reset(seed=seed, options=options)
        return perturb_observation(obs, self._rng, self.perturbation), info

    def step(self, action: Any) -> Tuple[Any, float, bool, bool, Dict[str, Any]]:
        """Step the env and perturb the observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return (perturb_observation(obs, self._rng, self.perturbation), reward, terminated,
                truncated, info)


# -- the wrapper for Gymnasium MuJoCo envs --------------------------------------------------
class PerturbedMujocoEnv(gymnasium.Wrapper):
    """
    Apply a :class:`Perturbation` to a Gymnasium ``MujocoEnv`` the way PiBotNav applies it.

    One ``step`` is one control period of ``frame_skip`` physics steps (nominally; the env's
    own ``dt``), run by calling the base env's ``step`` with its ``frame_skip`` set to the
    length of each segment, so the base env computes its observation, reward and termination
    as usual. Jitter and drops come from :class:`StepClock`, delays from :class:`DelayLine`
    (until the first action is due the ctrl stays at zero); ``mass``, ``friction`` and
    ``gain`` change the model once (``Knob.model_fn``); the observation knobs apply to every
    returned observation.

    The reward of a segment is scaled by its length over ``frame_skip`` so a return is time
    integrated (clean: unchanged). The time limit is in simulated seconds (``time_limit``;
    ``make_env`` converts the Gymnasium step limit to ``max_episode_steps x dt``; the step
    that reaches it is cut there), so a perturbation that lengthens steps does not lengthen
    episodes. ``info`` gains ``dt``, ``time`` (s since reset) and ``dropped``. The wrapper's
    random draws come from its own generator, seeded by ``reset(seed=...)``, so the base env's
    initial states are the same with and without perturbations.
    """

    def __init__(self, env: gymnasium.Env, perturb: PerturbLike = None,
                 time_limit: Optional[float] = None) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, MujocoEnv):
            raise TypeError(f'PerturbedMujocoEnv wraps a Gymnasium MujocoEnv, got '
                            f'{type(base).__name__}')
        self.perturbation = p = Perturbation.coerce(perturb)
        self.frame_skip = int(base.frame_skip)
        self.timestep = float(base.model.opt.timestep)
        self.nominal_dt = self.frame_skip * self.timestep
        self.time_limit = None if time_limit is None else float(time_limit)
        self._limit_ticks = (None if time_limit is None
                             else int(round(float(time_limit) / self.timestep)))
        unsupported = [k for k in p.changed() if KNOBS[k].group in ('sensor', 'scene')]
        if unsupported:
            raise ValueError(f'perturbation {", ".join(unsupported)} needs an env with that '
                             f'sensor or scene (lnn_control/PiBotNav-v0 for lidar, '
                             f'lnn_control/PiBotLane-v0 for textures); '
                             f'{type(base).__name__} has none')
        for name, value in p.changed().items():
            if KNOBS[name].model_fn is not None:
                KNOBS[name].model_fn(base.model, value)
        mujoco.mj_setConst(base.model, base.data)
        self._clock = StepClock(self.frame_skip, p.jitter, p.drop)
        self._delay = DelayLine(int(round(p.delay / self.timestep)))
        self._observation_knobs = p.only(('observation',))
        self._keep = None
        if p.obs == 'positions':
            self._keep = _positions(env)
            box = env.observation_space
            self.observation_space = gymnasium.spaces.Box(
                box.low[:self._keep], box.high[:self._keep], dtype=box.dtype)
            self._observation_knobs = dataclasses.replace(self._observation_knobs, obs='full')
        self._rng = np.random.default_rng()
        self._ctrl = np.zeros(base.model.nu)
        self._tick = 0

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Reset the base env and the wrapper's clock, delay line and (if seeded) generator."""
        if seed is not None:
            # A separate stream: the base env's initial-state draws stay unperturbed.
            self._rng = np.random.default_rng([int(seed), 0x5EED])
        obs, info = self.env.reset(seed=seed, options=options)
        self._delay.clear()
        self._ctrl = np.zeros(self.env.unwrapped.model.nu)
        self._tick = 0
        info = dict(info, dt=self.nominal_dt, time=0.0, dropped=0)
        return self._observe(obs), info

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Run one control period (longer if observations are dropped); see the class doc."""
        base = self.env.unwrapped
        self._delay.push(self._tick, np.asarray(action, dtype=np.float64).reshape(-1))
        start = self._tick
        reward = 0.0
        dropped = 0
        terminated = False
        # A base env that truncates itself (a MujocoEnv with its own time limit) ends the
        # episode too.
        cut = False
        info: Dict[str, Any] = {}
        try:
            while True:
                end = self._tick + self._clock.period(self._rng)
                if self._limit_ticks is not None:
                    end = min(end, max(self._limit_ticks, self._tick + 1))
                while self._tick < end and not (terminated or cut):
                    due = self._delay.pop_due(self._tick)
                    if due is not None:
                        self._ctrl = due
                    nxt = self._delay.next_due()
                    stop = end if nxt is None else min(end, nxt)
                    base.frame_skip = stop - self._tick
                    obs, r, terminated, cut, info = base.step(self._ctrl)
                    reward += float(r) * (stop - self._tick) / self.frame_skip
                    self._tick = stop
                if (terminated or cut or self._out_of_time()
                        or not self._clock.lost(self._rng, dropped)):
                    break
                dropped += 1
        finally:
            base.frame_skip = self.frame_skip    # others (experts, renderers) see the nominal
        truncated = bool(not terminated and (cut or self._out_of_time()))
        info = dict(info, dt=(self._tick - start) * self.timestep,
                    time=self._tick * self.timestep, dropped=dropped)
        return self._observe(obs), reward, bool(terminated), truncated, info

    def _out_of_time(self) -> bool:
        return self._limit_ticks is not None and self._tick >= self._limit_ticks

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        if self._keep is not None:
            obs = obs[:self._keep]
        if self._observation_knobs.is_clean:
            return obs
        return perturb_observation(obs, self._rng, self._observation_knobs)


def _positions(env: gymnasium.Env) -> int:
    """
    Return how many leading observation elements are positions (``obs=positions``).

    A Gymnasium MuJoCo locomotion observation is ``[qpos (less the root's x, y), qvel]``; the
    trailing ``nv`` elements must equal ``data.qvel`` after a reset, else the knob is refused
    rather than cut the wrong elements.
    """
    base = env.unwrapped
    obs, _ = env.reset(seed=0)
    obs = np.asarray(obs).reshape(-1)
    nv = int(base.model.nv)
    if obs.size <= nv or not np.allclose(obs[-nv:], base.data.qvel, atol=1e-9):
        raise ValueError(f'perturbation obs=positions: the observation of '
                         f'{type(base).__name__} ({obs.size} values) does not end with its '
                         f'{nv} joint velocities, so there is no velocity half to drop')
    return obs.size - nv
