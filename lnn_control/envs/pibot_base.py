# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What the pibot envs (``PiBotNav-v0``, ``PiBotLane-v0``) share: the robot, the clock, copying.

:class:`PiBotBase` holds the robot's free root joint, its (v, w) action space and the episode
clock, refuses ``step`` before ``reset`` (``gymnasium.error.ResetNeeded``) and makes
``copy.deepcopy`` and ``pickle`` copy the whole episode: MuJoCo's ``MjModel`` and ``MjData``
(which mujoco copies and pickles natively), the env's own state and its RNG. The model is
copied, not rebuilt from the constructor's arguments, since episodes and wrappers change it
(obstacle groups, the painted track, lighting, ``PerturbedMujocoEnv``'s mass and friction). A
copy continues exactly where the original was (same observations for the same actions, bit for
bit) and then steps independently of it, which planning and model-predictive users rely on.
GL contexts are not copied; a copy opens its own on its first render.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import math
import os
from pathlib import Path
import sys
from typing import Any, Dict, Optional, Tuple

from gymnasium import error
from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv
import mujoco
import numpy as np

__all__ = ['PiBotBase', 'RobotState', 'check_gl_usable', 'sim_path']

_GL_FORKED = False   # this process was forked after its parent opened an EGL display


def _after_fork_in_child() -> None:
    global _GL_FORKED
    egl = sys.modules.get('mujoco.egl')
    _GL_FORKED = _GL_FORKED or getattr(egl, 'EGL_DISPLAY', None) is not None


os.register_at_fork(after_in_child=_after_fork_in_child)


def check_gl_usable() -> None:
    """
    Raise RuntimeError, instead of hanging, if rendering here cannot work.

    An EGL display does not survive ``fork``: a child forked after its parent rendered a
    MuJoCo frame hangs in its first ``mujoco.Renderer`` (Mesa, measured with
    ``gymnasium.make_vec(..., vectorization_mode='async')``, whose workers fork by default).
    """
    if _GL_FORKED:
        raise RuntimeError(
            'this process was forked after its parent rendered with EGL, and an EGL display '
            'does not survive fork (rendering here would hang); start the workers with '
            "'forkserver' or 'spawn', e.g. gymnasium.make_vec(id, n, vectorization_mode="
            "'async', vector_kwargs={'context': 'forkserver'}), or render in the parent only "
            'after starting them')


def sim_path(name: str = 'pibot.xml') -> str:
    """Path of a file in the package's ``sim/`` folder (source tree or installed share)."""
    candidates = [Path(__file__).resolve().parents[2] / 'sim' / name,
                  Path(sys.prefix) / 'share' / 'lnn_control' / 'sim' / name]
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share' / 'lnn_control' / 'sim' / name)
    for path in candidates:
        if path.is_file():
            return str(path)
    raise FileNotFoundError(f'{name} not found in ' + ', '.join(str(p) for p in candidates))


@dataclass(frozen=True)
class RobotState:
    """
    The pibot's true pose and twist, world frame: the first fields of NavState and LaneState.

    Attributes:
        x, y, yaw: robot pose (base_footprint), m and rad.
        v, w: robot forward speed (m/s) and yaw rate (rad/s).

    """

    x: float
    y: float
    yaw: float
    v: float
    w: float


class PiBotBase(MujocoEnv):
    """
    What the pibot envs share: the robot's free root joint, its (v, w) action space, the clock.

    A subclass sets ``actuator`` (an Actuator) before ``MujocoEnv.__init__``, which builds the
    action space from its limits; calls :meth:`_find_robot` once the model is loaded; counts
    physics steps since reset in ``_tick``; and calls :meth:`_require_reset` first in ``step``.
    Copies (``copy.deepcopy``, ``pickle``) carry the whole episode; see the module doc.
    """

    def _find_robot(self) -> Dict[str, int]:
        """Find the root joint and the wheel speed sensors; return sensor addresses by name."""
        m = self.model
        self._root_qpos = m.jnt_qposadr[m.joint('root').id]
        self._root_qvel = m.jnt_dofadr[m.joint('root').id]
        adr = {m.sensor(i).name: m.sensor_adr[i] for i in range(m.nsensor)}
        self._vel_adr = np.array([adr['wheel_left_vel'], adr['wheel_right_vel']])
        return adr

    def _scale_dynamics(self, mass_scale: float, friction_scale: float) -> None:
        """Scale the robot's mass and inertia and every geom's friction (the dynamics knobs)."""
        m = self.model
        robot = [m.body(name).id for name in ('base_footprint', 'wheel_left', 'wheel_right')]
        m.body_mass[robot] *= mass_scale
        m.body_inertia[robot] *= mass_scale
        m.geom_friction[:] *= friction_scale
        mujoco.mj_setConst(m, self.data)

    def _set_action_space(self) -> spaces.Box:
        c = self.actuator.config
        self.action_space = spaces.Box(np.array([-c.max_v, -c.max_w], dtype=np.float32),
                                       np.array([c.max_v, c.max_w], dtype=np.float32),
                                       dtype=np.float32)
        return self.action_space

    @property
    def time(self) -> float:
        """Return the simulated seconds since reset."""
        return self._tick * self.model.opt.timestep

    def _place_robot(self, x: float, y: float, yaw: float) -> None:
        """Put the robot at rest at (x, y) heading ``yaw``, the rest as loaded (mj_forward)."""
        qpos = self.init_qpos.copy()
        qpos[self._root_qpos:self._root_qpos + 7] = (x, y, 0.0, math.cos(yaw / 2), 0.0, 0.0,
                                                     math.sin(yaw / 2))
        self.set_state(qpos, np.zeros_like(self.init_qvel))

    def _true_pose(self) -> Tuple[float, float, float]:
        q = self.data.qpos[self._root_qpos:self._root_qpos + 7]
        yaw = math.atan2(2.0 * (q[3] * q[6] + q[4] * q[5]), 1.0 - 2.0 * (q[5] ** 2 + q[6] ** 2))
        return float(q[0]), float(q[1]), yaw

    def _true_motion(self) -> Tuple[float, float, float, float, float]:
        """Return the true (x, y, yaw, v, w): the fields of a RobotState."""
        x, y, yaw = self._true_pose()
        qvel = self.data.qvel[self._root_qvel:self._root_qvel + 6]
        v = float(qvel[0] * math.cos(yaw) + qvel[1] * math.sin(yaw))
        return x, y, yaw, v, float(qvel[5])

    # -- episode bookkeeping -----------------------------------------------------------------
    _reset_done = False   # set by reset(): before it there is no episode to step

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[Any, Dict[str, Any]]:
        """Start an episode (``MujocoEnv.reset``); ``step`` is allowed from then on."""
        # Set first: reset_model and _get_reset_info read the new episode (state()). A reset
        # that raises leaves no half-built episode to step.
        self._reset_done = True
        try:
            return super().reset(seed=seed, options=options)
        except BaseException:
            self._reset_done = False
            raise

    def _require_reset(self, call: str = 'step()') -> None:
        """Raise ``ResetNeeded`` unless an episode was started by ``reset()``."""
        if not self._reset_done:
            raise error.ResetNeeded(f'{type(self).__name__}.{call} called before reset(): '
                                    f'call env.reset() first')

    def render(self) -> Any:
        """Render as ``render_mode`` asks (``MujocoEnv.render``); see :func:`check_gl_usable`."""
        if self.render_mode is not None:
            check_gl_usable()
        return super().render()

    # -- copying (issue 14) ------------------------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        """Return the whole env state for ``copy.deepcopy`` and ``pickle``, minus GL contexts."""
        state = self.__dict__.copy()
        renderer = state.get('mujoco_renderer')
        if renderer is not None:
            # Gymnasium's MujocoRenderer opens its viewers lazily: a copy without them renders
            # the copied model and data (shared through the copy's memo) with fresh contexts.
            renderer = copy.copy(renderer)
            renderer._viewers, renderer.viewer = {}, None
            state['mujoco_renderer'] = renderer
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Restore what :meth:`__getstate__` returned (no rebuild, no reset)."""
        self.__dict__.update(state)
