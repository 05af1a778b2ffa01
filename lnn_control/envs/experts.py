# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Experts (teachers) for behaviour cloning and DAgger, and how a training config names one.

Every expert answers ``act(obs, state) -> action`` at any state, including the ones a learner
drives into, so a DAgger loop can label the learner's own visits::

    expert = make_expert(env)                    # by the env's id
    obs, info = env.reset(seed=0)
    while True:
        label = expert.act(obs, info)            # the expert's action here (the label)
        obs, reward, terminated, truncated, info = env.step(learner(obs))
        ...

``state`` is where a privileged expert reads the true state. It accepts, interchangeably:

- the ``info`` dict of ``reset``/``step`` (PiBotNav puts a ``NavState`` in ``info['state']``;
  this works through vector envs, whose infos carry it per sub-env),
- the env itself (``env.unwrapped.state()`` for PiBotNav, ``data.qpos``/``qvel`` for MuJoCo
  envs), or ``expert.state_of(env)``,
- the state object itself (a ``NavState``), or None where the observation suffices.

``make_expert(env, kind)`` builds one: ``kind`` '' takes the expert registered for the env's id
(``EXPERTS``), a registry name (``EXPERT_NAMES``: ``pibot_nav_planner``, ``pibot_lane_pursuit``,
``inverted_pendulum_lqr``, ``inverted_double_pendulum_lqr``), ``module:Class`` or
``path/to/file.py:Class`` (a file relative to ``base_dir``: a training config names an expert
written next to it). Any class with ``act(obs, state)`` will do; ``Expert`` subclasses also
build themselves for the env (``for_env``: the LQR experts linearise its model, the PiBotNav
planner takes its command limits). When there is none, :class:`NoExpert` says so.

Experts:

- ``PiBotNavExpert`` (``lnn_control/PiBotNav-v0``): privileged. Per episode it computes a
  cost-to-go field over the arena (Dijkstra on a 5 cm grid from the goal, with cell costs that
  grow near obstacles and walls and are prohibitive where the robot's footprint would touch),
  then steers to a look-ahead point on the steepest descent of that field (pure pursuit:
  turn in place when the heading error is large, slow down near the goal). The field is
  defined everywhere, so it has no local minima and labels any learner state.
- ``InvertedPendulumLQR`` (``InvertedPendulum-v5``), ``InvertedDoublePendulumLQR``
  (``InvertedDoublePendulum-v5``): discrete-time LQR on the env's own MuJoCo model, linearised
  about upright by centred finite differences of the env step (``mujoco.mjd_transitionFD``
  where the integrator allows, else of ``mj_step`` rollouts: MuJoCo 4 refuses RK4, which both
  pendulums use), gains from ``scipy.linalg.solve_discrete_are``. They need only the
  observation.
"""

from __future__ import annotations

from collections import OrderedDict
import importlib
import importlib.util
import math
from pathlib import Path
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple, Type

from lnn_control.envs.pibot_nav import NavState
from lnn_control.envs.pibot_nav import PiBotNavEnv
from lnn_control.envs.pibot_nav import ROBOT_RADIUS
from lnn_control.runtime.actuator import ActuatorConfig
import mujoco
import numpy as np
from scipy import linalg
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ['Expert', 'EXPERTS', 'EXPERT_NAMES', 'make_expert', 'expert_class', 'NoExpert',
           'PiBotNavExpert', 'LQRExpert', 'InvertedPendulumLQR', 'InvertedDoublePendulumLQR']

EXPERTS: Dict[str, Type['Expert']] = {}        # env id -> the expert registered for it
EXPERT_NAMES: Dict[str, Type['Expert']] = {}   # registry name -> expert


class NoExpert(KeyError):
    """No expert is registered for the env, or the named one cannot be found."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class Expert:
    """
    Base class: ``act(obs, state) -> action``.

    Subclasses set ``env_ids`` (the envs they are the default expert of) and ``name`` (their
    registry name) to register.
    """

    env_ids: ClassVar[Tuple[str, ...]] = ()
    name: ClassVar[str] = ''

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for env_id in cls.env_ids:
            EXPERTS[env_id] = cls
        if cls.name:
            EXPERT_NAMES[cls.name] = cls

    @classmethod
    def for_env(cls, env: Any, **kwargs: Any) -> 'Expert':
        """Build the expert for ``env`` (an env or an id string); default: ``cls(**kwargs)``."""
        return cls(**kwargs)

    @staticmethod
    def command_limits(env: Any, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        """Return ``kwargs`` with the env's own command limits (its Actuator's) unless given."""
        actuator = None if isinstance(env, str) else getattr(env.unwrapped, 'actuator', None)
        if actuator is None:
            return kwargs
        return {'max_v': actuator.config.max_v, 'max_w': actuator.config.max_w, **kwargs}

    def state_of(self, env: Any) -> Any:
        """Return the privileged state this expert reads from ``env`` (None if it needs none)."""
        return None

    def act(self, obs: np.ndarray, state: Any = None) -> np.ndarray:
        """Return the expert's action (float32, in the env's action space) at this state."""
        raise NotImplementedError

    def __call__(self, obs: np.ndarray, state: Any = None) -> np.ndarray:
        return self.act(obs, state)


def _env_id(env: Any) -> Optional[str]:
    if isinstance(env, str):
        return env
    spec = getattr(env, 'spec', None) or getattr(env.unwrapped, 'spec', None)
    env_id = getattr(spec, 'id', None)
    if env_id is None and isinstance(env.unwrapped, PiBotNavEnv):   # built directly
        env_id = PiBotNavExpert.env_ids[0]
    return env_id


def expert_class(kind: str = '', env: Any = None, base_dir: Optional[str] = None) -> type:
    """
    Return the expert class ``kind`` names (see the module docstring) for ``env``.

    Raises:
        NoExpert: nothing registered for the env (``kind`` ''), an unknown name, or a
            ``module:Class`` / ``file.py:Class`` that cannot be imported.

    """
    if not kind:
        env_id = _env_id(env)
        if env_id not in EXPERTS and env_id is not None:
            try:        # the env's own module registers its expert (PiBotLane's)
                from lnn_control.envs.make import env_class
                env_class(env_id)
            except (ValueError, ImportError):
                pass
        if env_id not in EXPERTS:
            raise NoExpert(f'no expert for {env_id!r}; experts exist for {sorted(EXPERTS)}')
        return EXPERTS[env_id]
    if kind in EXPERT_NAMES:
        return EXPERT_NAMES[kind]
    if ':' not in kind:
        raise NoExpert(f'unknown expert {kind!r}: give a registry name '
                       f'({", ".join(sorted(EXPERT_NAMES))}), module:Class or file.py:Class')
    where, _, name = kind.rpartition(':')
    try:
        if where.endswith('.py'):
            path = Path(where).expanduser()
            if not path.is_absolute() and base_dir is not None and (
                    Path(base_dir) / path).is_file():
                path = Path(base_dir) / path
            spec = importlib.util.spec_from_file_location(f'lnn_control_expert_{path.stem}',
                                                          path)
            if spec is None or not path.is_file():
                raise ImportError(f'no file {path}')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
        cls = getattr(module, name)
    except (ImportError, AttributeError, SyntaxError, OSError) as exc:
        raise NoExpert(f'expert {kind!r} cannot be loaded: {exc}') from None
    if not callable(getattr(cls, 'act', None)):
        raise NoExpert(f'expert {kind!r} has no act(obs, state) method')
    return cls


def make_expert(env: Any, kind: str = '', base_dir: Optional[str] = None,
                **kwargs: Any) -> Any:
    """Build the expert ``kind`` names (default: the one registered for ``env``'s id)."""
    cls = expert_class(kind, env, base_dir)
    if hasattr(cls, 'for_env'):
        return cls.for_env(env, **kwargs)
    return cls(**kwargs)


# -- PiBotNav -------------------------------------------------------------------------------
class PiBotNavExpert(Expert):
    """
    Privileged planner + pure pursuit for PiBotNav (100/100 default episodes, seeds 0-99).

    Args:
        resolution: planning grid cell (m).
        hard_clearance: centre-to-surface distance below which a cell is (almost) forbidden;
            the robot's footprint reaches 0.135 m from its centre, so it can turn there.
        soft_clearance: cells closer than this to a surface cost more, up to ``soft_cost``.
        lookahead: distance along the path to the pursuit point (m).
        max_v, max_w: command limits (the Actuator's).
        turn_gain: yaw rate per rad of heading error (1/s).
        turn_in_place: heading error (rad) above which the robot stops and turns.
        slow_radius: within this distance of the goal the speed ramps down (m).
        cache_size: plans kept (one per episode; several for vector envs).

    """

    env_ids = ('lnn_control/PiBotNav-v0',)
    name = 'pibot_nav_planner'

    def __init__(self, resolution: float = 0.05, hard_clearance: float = ROBOT_RADIUS + 0.025,
                 soft_clearance: float = 0.45, soft_cost: float = 20.0,
                 lookahead: float = 0.3, max_v: float = ActuatorConfig.max_v,
                 max_w: float = ActuatorConfig.max_w,
                 turn_gain: float = 3.0, turn_in_place: float = 1.0, slow_radius: float = 0.35,
                 min_v: float = 0.05, cache_size: int = 64) -> None:
        self.resolution = float(resolution)
        self.hard_clearance = float(hard_clearance)
        self.soft_clearance = float(soft_clearance)
        self.soft_cost = float(soft_cost)
        self.lookahead = float(lookahead)
        self.max_v, self.max_w = float(max_v), float(max_w)
        self.turn_gain = float(turn_gain)
        self.turn_in_place = float(turn_in_place)
        self.slow_radius = float(slow_radius)
        self.min_v = float(min_v)
        self.cache_size = int(cache_size)
        self._plans: 'OrderedDict[Any, _Plan]' = OrderedDict()

    @classmethod
    def for_env(cls, env: Any, **kwargs: Any) -> 'PiBotNavExpert':
        """Build it with the env's own command limits (unless given)."""
        return cls(**cls.command_limits(env, kwargs))

    def state_of(self, env: Any) -> NavState:
        """Return the env's true state (``env.unwrapped.state()``)."""
        return env.unwrapped.state()

    def act(self, obs: np.ndarray, state: Any = None) -> np.ndarray:
        """Return (v, w) for the robot at ``state`` (a NavState, an info dict or the env)."""
        s = self._nav_state(state)
        plan = self.plan(s)
        gx, gy = s.goal_x, s.goal_y
        to_goal = math.hypot(gx - s.x, gy - s.y)
        if to_goal <= self.lookahead:
            tx, ty = gx, gy
        else:
            tx, ty = plan.pursuit_point(s.x, s.y, self.lookahead)
        error = _wrap(math.atan2(ty - s.y, tx - s.x) - s.yaw)
        w = float(np.clip(self.turn_gain * error, -self.max_w, self.max_w))
        if abs(error) > self.turn_in_place:
            v = 0.0
        else:
            v = self.max_v * math.cos(error) ** 2
            v *= max(self.min_v / self.max_v, min(1.0, to_goal / self.slow_radius))
        return np.array([v, w], dtype=np.float32)

    def plan(self, state: NavState) -> '_Plan':
        """Return the cost-to-go field of ``state``'s episode (computed once, then cached)."""
        key = (state.goal_x, state.goal_y, state.obstacles, state.arena_half)
        plan = self._plans.get(key)
        if plan is None:
            plan = _Plan(state, self)
            self._plans[key] = plan
            while len(self._plans) > self.cache_size:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return plan

    def _nav_state(self, state: Any) -> NavState:
        if isinstance(state, NavState):
            return state
        if isinstance(state, Mapping) and isinstance(state.get('state'), NavState):
            return state['state']
        if hasattr(state, 'unwrapped'):
            return self.state_of(state)
        raise TypeError('PiBotNavExpert needs the true state: pass the NavState, the info '
                        f"dict holding it under 'state', or the env; got {type(state)}")


def clearance_map(state: NavState, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Distance (m) from each point (xs, ys) to the nearest wall or obstacle surface."""
    h = state.arena_half
    clear = np.minimum(h - np.abs(xs), h - np.abs(ys))
    for ox, oy, oyaw, shape, a, b in state.obstacles:
        dx, dy = xs - ox, ys - oy
        if shape == 0:
            sdf = np.hypot(dx, dy) - a
        else:
            c, s = math.cos(oyaw), math.sin(oyaw)
            qx = np.abs(c * dx + s * dy) - a      # box frame
            qy = np.abs(-s * dx + c * dy) - b
            outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
            sdf = outside + np.minimum(np.maximum(qx, qy), 0.0)
        clear = np.minimum(clear, sdf)
    return clear


class _Plan:
    """Cost-to-go to the goal on a grid over the arena (Dijkstra, 8-connected)."""

    _MOVES = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]

    def __init__(self, state: NavState, expert: PiBotNavExpert) -> None:
        h, res = state.arena_half, expert.resolution
        n = int(round(2 * h / res))
        self.h, self.res, self.n = h, res, n
        centres = -h + res * (np.arange(n) + 0.5)
        xs, ys = np.meshgrid(centres, centres, indexing='ij')   # (n, n), [i, j] = (x_i, y_j)
        clear = clearance_map(state, xs, ys)
        span = expert.soft_clearance - expert.hard_clearance
        closeness = np.clip((expert.soft_clearance - clear) / span, 0.0, 1.0)
        cost = 1.0 + expert.soft_cost * closeness ** 2
        cost[clear < expert.hard_clearance] = 1e3   # finite: a start in it still has a way out
        index = np.arange(n * n).reshape(n, n)
        rows, cols, weights = [], [], []
        for di, dj in self._MOVES:
            src = index[max(0, -di):n - max(0, di), max(0, -dj):n - max(0, dj)]
            dst = index[max(0, di):n - max(0, -di), max(0, dj):n - max(0, -dj)]
            length = res * math.hypot(di, dj)
            rows.append(src.ravel())
            cols.append(dst.ravel())
            weights.append(length * 0.5 * (cost.ravel()[src.ravel()] + cost.ravel()[dst.ravel()]))
        graph = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows),
                                                             np.concatenate(cols))),
                                  shape=(n * n, n * n))
        goal = self.cell(state.goal_x, state.goal_y)
        self.cost_to_go = csgraph.dijkstra(graph, indices=goal[0] * n + goal[1]).reshape(n, n)
        self.goal = goal

    def cell(self, x: float, y: float) -> Tuple[int, int]:
        """Grid indices of the cell holding (x, y), clamped to the grid."""
        i = int(math.floor((x + self.h) / self.res))
        j = int(math.floor((y + self.h) / self.res))
        return min(max(i, 0), self.n - 1), min(max(j, 0), self.n - 1)

    def centre(self, i: int, j: int) -> Tuple[float, float]:
        return -self.h + self.res * (i + 0.5), -self.h + self.res * (j + 0.5)

    def pursuit_point(self, x: float, y: float, lookahead: float) -> Tuple[float, float]:
        """Follow steepest descent from (x, y) until ``lookahead`` away; return that point."""
        i, j = self.cell(x, y)
        ctg = self.cost_to_go
        n = self.n
        for _ in range(4 * int(lookahead / self.res) + 4):
            if (i, j) == self.goal:
                break
            best, best_ij = ctg[i, j], None
            for di, dj in self._MOVES:
                a, b = i + di, j + dj
                if 0 <= a < n and 0 <= b < n and ctg[a, b] < best:
                    best, best_ij = ctg[a, b], (a, b)
            if best_ij is None:
                break
            i, j = best_ij
            cx, cy = self.centre(i, j)
            if math.hypot(cx - x, cy - y) >= lookahead:
                break
        return self.centre(i, j)


# -- LQR ------------------------------------------------------------------------------------
class LQRExpert(Expert):
    """
    Discrete LQR about the upright equilibrium of a MuJoCo cart-pole style env.

    Args:
        env: the env (its model and ``frame_skip`` are used); None makes one with
            ``gymnasium.make(env_ids[0])``.
        q: diagonal of the state cost, state = (qpos - qpos0, qvel).
        r: diagonal of the control cost (ctrl units).

    """

    q_default: ClassVar[Sequence[float]] = ()
    r_default: ClassVar[Sequence[float]] = (1.0,)

    def __init__(self, env: Any = None, q: Optional[Sequence[float]] = None,
                 r: Optional[Sequence[float]] = None) -> None:
        if env is None:
            import gymnasium

            env = gymnasium.make(self.env_ids[0])
        base = env.unwrapped
        model = base.model
        self.nq, self.nv = model.nq, model.nv
        self.qpos0 = model.qpos0.copy()
        a, b = linearise(model, base.frame_skip)
        q_diag = np.asarray(q if q is not None else self.q_default, dtype=np.float64)
        r_diag = np.asarray(r if r is not None else self.r_default, dtype=np.float64)
        qm, rm = np.diag(q_diag), np.diag(r_diag)
        p = linalg.solve_discrete_are(a, b, qm, rm)
        self.gain = np.linalg.solve(rm + b.T @ p @ b, b.T @ p @ a)   # (nu, 2 nv)
        self.low = model.actuator_ctrlrange[:, 0].astype(np.float32)
        self.high = model.actuator_ctrlrange[:, 1].astype(np.float32)
        self.closed_loop_radius = float(np.max(np.abs(np.linalg.eigvals(a - b @ self.gain))))

    @classmethod
    def for_env(cls, env: Any, **kwargs: Any) -> 'LQRExpert':
        """Linearise the env's own model (an id string: a fresh env of that id)."""
        return cls(None if isinstance(env, str) else env, **kwargs)

    def state_of(self, env: Any) -> np.ndarray:
        """Return the env's exact (qpos, qvel), concatenated."""
        data = env.unwrapped.data
        return np.concatenate([data.qpos, data.qvel])

    def state_from_obs(self, obs: np.ndarray) -> np.ndarray:
        """Recover (qpos, qvel) from an observation."""
        raise NotImplementedError

    def act(self, obs: np.ndarray, state: Any = None) -> np.ndarray:
        """Return ``clip(-K x)``; x from ``state`` if it holds the env, else from ``obs``."""
        if hasattr(state, 'unwrapped'):
            full = self.state_of(state)
        elif isinstance(state, np.ndarray) and state.shape == (self.nq + self.nv,):
            full = state
        else:
            full = self.state_from_obs(np.asarray(obs, dtype=np.float64))
        x = np.concatenate([full[:self.nq] - self.qpos0, full[self.nq:]])   # hinges/slides
        u = -self.gain @ x
        return np.clip(u, self.low, self.high).astype(np.float32)


def linearise(model: 'mujoco.MjModel', frame_skip: int = 1,
              eps: float = 1e-6) -> Tuple[np.ndarray, np.ndarray]:
    """
    Linearise: (A, B) of x' = A x + B u over ``frame_skip`` steps about qpos0, qvel 0, ctrl 0.

    x = (dq, qvel) with dq in the tangent space of qpos. ``mujoco.mjd_transitionFD`` gives one
    physics step, composed as A_n = A^n, B_n = sum_k A^k B (the control is held over the env
    step). MuJoCo 4 refuses ``mjd_transitionFD`` for the RK4 integrator, which both Gymnasium
    pendulums use; for those the same centred differences are taken of ``frame_skip`` steps of
    ``mj_step`` directly.
    """
    if model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:
        return _rollout_fd(model, frame_skip, eps)
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    mujoco.mj_forward(model, data)
    nx = 2 * model.nv + model.na
    a1 = np.zeros((nx, nx))
    b1 = np.zeros((nx, model.nu))
    mujoco.mjd_transitionFD(model, data, eps, True, a1, b1, None, None)
    a, b = np.eye(nx), np.zeros_like(b1)
    for _ in range(frame_skip):
        a, b = a1 @ a, a1 @ b + b1
    return a, b


def _rollout_fd(model: 'mujoco.MjModel', frame_skip: int,
                eps: float) -> Tuple[np.ndarray, np.ndarray]:
    """Centred finite differences of ``frame_skip`` mj_steps about qpos0, qvel 0, ctrl 0."""
    data = mujoco.MjData(model)
    nv, nu = model.nv, model.nu

    def transition(dx: np.ndarray, u: np.ndarray) -> np.ndarray:
        mujoco.mj_resetData(model, data)
        qpos = model.qpos0.copy()
        mujoco.mj_integratePos(model, qpos, dx[:nv], 1.0)
        data.qpos[:] = qpos
        data.qvel[:] = dx[nv:]
        data.ctrl[:] = u
        mujoco.mj_step(model, data, nstep=frame_skip)
        out = np.zeros(nv)
        mujoco.mj_differentiatePos(model, out, 1.0, model.qpos0, data.qpos)
        return np.concatenate([out, data.qvel])

    nx = 2 * nv
    a, b = np.zeros((nx, nx)), np.zeros((nx, nu))
    zero_x, zero_u = np.zeros(nx), np.zeros(nu)
    for i in range(nx):
        step = np.zeros(nx)
        step[i] = eps
        a[:, i] = (transition(step, zero_u) - transition(-step, zero_u)) / (2 * eps)
    for i in range(nu):
        step = np.zeros(nu)
        step[i] = eps
        b[:, i] = (transition(zero_x, step) - transition(zero_x, -step)) / (2 * eps)
    return a, b


class InvertedPendulumLQR(LQRExpert):
    """LQR for ``InvertedPendulum-v5``: obs is (cart x, pole angle, their velocities)."""

    env_ids = ('InvertedPendulum-v5',)
    name = 'inverted_pendulum_lqr'
    q_default = (1.0, 10.0, 0.1, 0.1)
    r_default = (0.1,)

    def state_from_obs(self, obs: np.ndarray) -> np.ndarray:
        return obs[:4]


class InvertedDoublePendulumLQR(LQRExpert):
    """LQR for ``InvertedDoublePendulum-v5``: angles from their sin/cos in the obs."""

    env_ids = ('InvertedDoublePendulum-v5',)
    name = 'inverted_double_pendulum_lqr'
    q_default = (1.0, 10.0, 10.0, 0.1, 0.1, 0.1)
    r_default = (0.1,)

    def state_from_obs(self, obs: np.ndarray) -> np.ndarray:
        # obs: x, sin th1, sin th2, cos th1, cos th2, xdot, th1dot, th2dot (clipped), qfrc
        angles = np.arctan2(obs[1:3], obs[3:5])
        return np.concatenate([obs[:1], angles, obs[5:8]])


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi
