# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PiBotLane-v0: the pibot follows a lane painted on the floor, seeing it through a camera.

## Description
The TurtleBot3 Burger class robot of ``PiBotNav-v0`` (``sim/pibot_lane.xml``: same body,
wheels and servos) carries a forward camera (a Raspberry Pi camera v2: 48.8 deg vertical field
of view, 0.15 m up, pitched 35 deg down; it sees the floor from ~0.09 m to ~0.8 m ahead) and
must drive along a closed road painted on a 6 m x 6 m floor without leaving it. Every episode
draws a new track from the env's seeded RNG (issue 8):

- the centreline is a star-shaped closed curve ``r(phi) = R0 (1 + sum_k a_k cos(k phi + p_k))``,
  k = 2..4, with a minimum radius of curvature of 0.35 m;
- the road's half-width varies along the track (0.13-0.24 m; the robot is 0.178 m wide);
- colours and patterns are drawn per seed: road, edge lines (white or yellow), an optional
  dashed centre line, the floor (flat, blotchy or checkered), plus light intensity and
  direction. ``texture_set='unseen'`` draws from palettes and patterns never used in
  ``'train'`` (a light road on a dark floor, coloured lines, stripes) for robustness tests.

The track is painted into the floor texture and uploaded to the renderer, so a new track costs
one texture upload (~0.1 s), not a new model. Direction of travel is drawn per episode.

Rendering is offscreen on the CPU (``mujoco.Renderer``, reused for every frame). Headless
machines need ``MUJOCO_GL=egl`` (Mesa's software EGL) or ``osmesa``; ``lnn_control.envs``
sets ``MUJOCO_GL=egl`` when it is unset and there is no display, which takes effect only if
nothing imported ``mujoco`` before it (set it in the shell otherwise). See ``bench/render.py``
for the cost of each option (BENCHMARKS.md).

## Action Space
``Box([-0.22, -2.84], [0.22, 2.84], (2,), float32)``: forward speed v (m/s) and yaw rate w
(rad/s), through the shared ``Actuator`` (clip, rate limit, NaN -> stop) as in PiBotNav. The
units are physical on purpose, as there; ``gymnasium.wrappers.RescaleAction(env,
min_action=-1, max_action=1)`` gives the [-1, 1] space stable-baselines3 recommends.

## Observation Space
``Box(0, 255, (height, width, 3), uint8)``: the camera frame, row 0 at the top, RGB. With
``speed_obs=True`` a ``Dict`` of that ``'image'`` and ``'speed'``: ``Box(-0.3, 0.3, (1,),
float32)``, the forward speed from the wheel encoders (m/s).

## Rewards
``reward = reward_progress + reward_deviation + reward_off_lane``, each in ``info``:

- ``reward_progress``: ``progress_weight`` x metres advanced along the centreline.
- ``reward_deviation``: ``-deviation_weight`` x |lateral deviation| (m) x dt (s).
- ``reward_off_lane``: ``-off_lane_penalty`` when the robot's centre leaves the road.

A solved episode stays on the road for the whole ``time_limit``; with the default weights it
returns 10 per metre driven (at most 44: 0.22 m/s for 20 s) less the deviation term.
``PiBotLaneExpert`` solves seeds 0-19 with returns 31.7 to 33.4 (mean 32.7, ~3.3 m). Standing
still returns slightly below 0; leaving the road costs 10 and ends the episode.

## Starting State
On the centreline at a uniformly drawn point, offset laterally by up to 30% of the
half-width, heading along the track +- 0.3 rad, at rest.

## Episode End
- Terminated: the robot's centre (base_footprint) is farther from the centreline than the
  road's half-width there (``info['off_lane']``).
- Truncated: ``time_limit`` seconds of simulated time (the primary rule). The id is registered
  with ``max_episode_steps=600`` (20 s at 30 frames per second), so with the default arguments
  the env and ``TimeLimit`` truncate on the same step; lost frames (``drop``) lengthen steps and
  the env's limit comes first. Pass ``gymnasium.make`` the matching ``max_episode_steps`` (or
  -1) when you change ``time_limit`` or ``camera_rate``.

``step`` and ``state`` before ``reset`` raise ``gymnasium.error.ResetNeeded``;
``copy.deepcopy`` and ``pickle`` copy the running episode (see PiBotNav-v0).

## Info
``dt`` (s), ``time`` (s), the reward terms, ``deviation`` (signed lateral offset, m, + left),
``half_width`` (m), ``progress`` (metres along the track since reset), ``off_lane``,
``dropped`` (frames lost this step), ``command`` ((v, w) after the Actuator), ``state``:
a :class:`LaneState` (privileged: experts, DAgger and evaluation only), and at an episode's
end ``is_success``: it stayed on the road for the whole ``time_limit``.
:meth:`PiBotLaneEnv.episode_metrics` turns an episode's infos into the lane metrics
(deviation in cm, distance driven, off the road) that evaluation reports.

## Arguments
| Argument           | Default | Meaning                                                     |
|--------------------|---------|-------------------------------------------------------------|
| `width`, `height`  | 64, 48  | camera image size (px)                                      |
| `camera_rate`      | 30      | frames per second = control rate (Hz); 240 / rate integer   |
| `speed_obs`        | False   | add the encoder speed to the observation (Dict space)       |
| `texture_set`      | 'train' | 'train' or 'unseen' palettes and patterns                   |
| `time_limit`       | 20      | seconds of simulated time per episode                       |
| `drop`             | 0       | probability a frame is lost (the step runs to the next one) |
| `dt_jitter`        | 0       | frame period x (1 + U(-j, j)), in whole physics steps       |
| `action_delay`     | 0       | seconds from a command to the wheels (physics steps)        |
| `mass_scale`       | 1       | robot mass and inertia factor                               |
| `friction_scale`   | 1       | factor on every geom's friction                             |
| `motor_gain`       | 1       | wheel speed = gain x commanded speed (one, or per wheel)    |
| `progress_weight`  | 10      | reward per metre along the track                            |
| `deviation_weight` | 1       | penalty per metre of deviation per second                   |
| `off_lane_penalty` | 10      | penalty for leaving the road                                |
| `randomise`        | 0       | domain randomisation strength in [0, 1] (floors, lines,     |
|                    |         | light, camera mount and look, latency; see below)           |
| `camera_pitch`     | 0       | camera pitched this many degrees further down than nominal  |
| `render_mode`      | None    | 'rgb_array': a top view of the floor (``render_size`` px)   |

## Domain randomisation
``randomise=s`` draws each episode's look from wide distributions
(:mod:`lnn_control.envs.randomise`: HSV floor, road and line colours, four pattern families and
their scale, light intensity, colour and direction, camera pitch, roll, height and field of
view within a Pi camera mount's tolerance, exposure, white balance, gamma, blur, sensor
noise, JPEG artefacts and up to 50 ms more command latency); ``randomise=0`` is the clean env,
draw for draw. The 'unseen' texture set stays disjoint from every randomised floor (by floor
hue, line hue and pattern family; that module says how).

## Version History
* v0: initial version (issue 8); ``randomise`` and ``camera_pitch`` added (issue 19), off by
  default: a default episode is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import os
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv
from lnn_control.envs.experts import Expert
from lnn_control.envs.images import perturb_frame
from lnn_control.envs.lane_track import FLOOR_HALF
from lnn_control.envs.lane_track import make_track
from lnn_control.envs.lane_track import paint_track
from lnn_control.envs.lane_track import TEXTURE_SETS
from lnn_control.envs.lane_track import Track
from lnn_control.envs.perturb import check_knob
from lnn_control.envs.perturb import DelayLine
from lnn_control.envs.perturb import StepClock
from lnn_control.envs.pibot_base import check_gl_usable
from lnn_control.envs.pibot_base import PiBotBase
from lnn_control.envs.pibot_base import RobotState
from lnn_control.envs.pibot_base import sim_path
from lnn_control.envs.randomise import draw_look
from lnn_control.envs.randomise import Look
from lnn_control.envs.randomise import random_palette
from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.actuator import ActuatorConfig
from lnn_control.runtime.actuator import WHEEL_RADIUS
from lnn_control.runtime.actuator import wheel_speeds
import mujoco
import numpy as np

__all__ = ['PiBotLaneEnv', 'PiBotLaneExpert', 'LaneState', 'Track', 'make_track',
           'paint_track', 'FLOOR_HALF', 'TEXTURE_SETS']

_SPEED_LIMIT = 0.3             # m/s, bound of the speed observation


# -- state and expert -----------------------------------------------------------------------
@dataclass(frozen=True)
class LaneState(RobotState):
    """
    The true (privileged) state of a PiBotLane episode, world frame.

    Attributes:
        x, y, yaw: robot pose (base_footprint), m and rad.
        v, w: forward speed (m/s) and yaw rate (rad/s).
        index: nearest centreline point.
        deviation: signed lateral offset from the centreline (m, + left).
        half_width: road half-width there (m).
        progress: metres along the track since reset.
        track: the lane.
        time: simulated seconds since reset.

    """

    index: int
    deviation: float
    half_width: float
    progress: float
    track: Track
    time: float


def _gl_hint() -> str:
    """Say why mujoco's GL backend cannot render here, and how to choose another."""
    try:
        from mujoco import gl_context
        loaded = str(gl_context.GLContext.__module__).rpartition('.')[2]
    except (ImportError, AttributeError):
        loaded = 'unknown'
    wanted = os.environ.get('MUJOCO_GL', '')
    if wanted and wanted.lower() != loaded:
        # MUJOCO_GL was set after mujoco had been imported: it had no effect.
        return (f'mujoco was imported before MUJOCO_GL was set to {wanted!r} and uses its '
                f'{loaded!r} backend; set MUJOCO_GL={wanted} in the environment before '
                f'Python starts, or import lnn_control.envs before anything imports mujoco')
    return (f"mujoco's {loaded!r} GL backend failed; on a machine without a display set "
            f'MUJOCO_GL=egl (or osmesa) in the environment before mujoco is imported')


class PiBotLaneExpert(Expert):
    """
    Pure pursuit on the true centreline (Coulter 1992), slowing down in curves.

    Steers towards the centreline point ``lookahead`` metres ahead of the nearest one:
    curvature ``k = 2 y_t / (x_t^2 + y_t^2)`` with the target (x_t, y_t) in the robot frame,
    ``v = speed / (1 + slow * |k|)``, ``w = v k``, both clipped to the actuator limits.

    Args:
        lookahead: pursuit distance along the track (m).
        speed: straight-line speed (m/s).
        slow: speed reduction per unit curvature (m).
        max_v, max_w: command limits.

    """

    env_ids = ('lnn_control/PiBotLane-v0',)
    name = 'pibot_lane_pursuit'

    def __init__(self, lookahead: float = 0.3, speed: float = 0.18, slow: float = 0.15,
                 max_v: float = ActuatorConfig.max_v,
                 max_w: float = ActuatorConfig.max_w) -> None:
        self.lookahead = float(lookahead)
        self.speed = float(speed)
        self.slow = float(slow)
        self.max_v = float(max_v)
        self.max_w = float(max_w)

    @classmethod
    def for_env(cls, env: Any, **kwargs: Any) -> 'PiBotLaneExpert':
        """Build it with the env's own command limits (unless given)."""
        return cls(**cls.command_limits(env, kwargs))

    def state_of(self, env: Any) -> LaneState:
        return env.unwrapped.state()

    def act(self, obs: Any, state: Any = None) -> np.ndarray:
        state = self._lane_state(state)
        track = state.track
        target_s = track.arc[state.index] + self.lookahead
        j = int(np.searchsorted(track.arc, target_s % track.length)) % len(track.arc)
        dx, dy = track.points[j, 0] - state.x, track.points[j, 1] - state.y
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        xt, yt = c * dx + s * dy, -s * dx + c * dy
        k = 2.0 * yt / max(xt * xt + yt * yt, 1e-6)
        v = min(self.max_v, self.speed / (1.0 + self.slow * abs(k)))
        w = float(np.clip(v * k, -self.max_w, self.max_w))
        return np.array([v, w], dtype=np.float32)

    def _lane_state(self, state: Any) -> LaneState:
        """Accept the LaneState, the info dict holding it under 'state', or the env."""
        if isinstance(state, LaneState):
            return state
        if isinstance(state, Mapping) and isinstance(state.get('state'), LaneState):
            return state['state']
        if hasattr(state, 'unwrapped'):
            return self.state_of(state)
        raise ValueError('PiBotLaneExpert needs the privileged LaneState: pass it, the info '
                         f"dict holding it under 'state', or the env; got {type(state)}")


# -- environment ----------------------------------------------------------------------------
class PiBotLaneEnv(PiBotBase):
    """Camera lane following for a TurtleBot3 Burger class robot; see the module doc."""

    # Perturbation knobs this env implements (lnn_control.envs.perturb): frame timing (lost
    # frames, jitter), command latency, the robot's dynamics, the unseen looks, the camera's
    # pitch and domain randomisation; make_env wraps it for the image knobs (noise,
    # brightness, occlusion, gamma, blur, jpeg).
    native_knobs = frozenset({'drop', 'jitter', 'delay', 'mass', 'friction', 'gain',
                              'textures', 'pitch', 'randomise'})

    metadata = {'render_modes': ['rgb_array'], 'render_fps': 30}

    def __init__(
        self,
        width: int = 64,
        height: int = 48,
        camera_rate: float = 30.0,
        speed_obs: bool = False,
        texture_set: str = 'train',
        time_limit: float = 20.0,
        drop: float = 0.0,
        dt_jitter: float = 0.0,
        action_delay: float = 0.0,
        mass_scale: float = 1.0,
        friction_scale: float = 1.0,
        motor_gain: Union[float, Tuple[float, float]] = 1.0,
        progress_weight: float = 10.0,
        deviation_weight: float = 1.0,
        off_lane_penalty: float = 10.0,
        randomise: float = 0.0,
        camera_pitch: float = 0.0,
        actuator: Union[ActuatorConfig, Mapping[str, Any], None] = None,
        xml_file: Optional[str] = None,
        render_mode: Optional[str] = None,
        render_size: int = 256,
        **kwargs: Any,
    ) -> None:
        for name, value in (('texture_set', texture_set), ('drop', drop),
                            ('dt_jitter', dt_jitter), ('action_delay', action_delay),
                            ('mass_scale', mass_scale), ('friction_scale', friction_scale),
                            ('motor_gain', motor_gain), ('randomise', randomise),
                            ('camera_pitch', camera_pitch)):
            check_knob(name, value)
        self.randomise, self.camera_pitch = float(randomise), float(camera_pitch)
        self.dt_jitter, self.action_delay = float(dt_jitter), float(action_delay)
        self.mass_scale, self.friction_scale = float(mass_scale), float(friction_scale)
        self.motor_gain = np.broadcast_to(np.asarray(motor_gain, dtype=np.float64), (2,)).copy()
        if int(width) < 8 or int(height) < 8:
            raise ValueError(f'image must be at least 8 x 8 px, got {width} x {height}')
        self.image_size = (int(height), int(width))
        self.speed_obs = bool(speed_obs)
        self.texture_set = texture_set
        self.time_limit = float(time_limit)
        self.drop = float(drop)
        self.weights = {'progress': float(progress_weight),
                        'deviation': float(deviation_weight),
                        'off_lane': float(off_lane_penalty)}
        self.actuator = Actuator(actuator)
        path = xml_file or sim_path('pibot_lane.xml')
        timestep = mujoco.MjModel.from_xml_path(path).opt.timestep
        ticks = int(round(1.0 / (camera_rate * timestep)))
        if ticks < 1 or abs(ticks * timestep * camera_rate - 1.0) > 1e-6:
            raise ValueError(f'camera_rate {camera_rate} Hz is not a whole number of '
                             f'{timestep:.6f} s physics steps')
        self._frame_ticks = ticks
        self._clock = StepClock(ticks, self.dt_jitter, self.drop)
        self.metadata = dict(self.metadata, render_fps=int(round(camera_rate)))
        image = spaces.Box(0, 255, (*self.image_size, 3), dtype=np.uint8)
        if self.speed_obs:
            observation_space = spaces.Dict({
                'image': image,
                'speed': spaces.Box(-_SPEED_LIMIT, _SPEED_LIMIT, (1,), dtype=np.float32)})
        else:
            observation_space = image
        MujocoEnv.__init__(self, path, ticks, observation_space=observation_space,
                           render_mode=None, width=int(render_size),
                           height=int(render_size), **kwargs)
        self.render_mode = render_mode
        self._render_size = int(render_size)
        self._find_robot()
        self._scale_dynamics(self.mass_scale, self.friction_scale)
        self._delay_ticks = int(round(self.action_delay / self.model.opt.timestep))
        self._delay = DelayLine(self._delay_ticks)
        m = self.model
        self._tex = m.texture('track').id
        self._tex_size = int(m.tex_width[self._tex])
        self._sun = m.light('sun').id
        self._camera = m.camera('front').id
        self._camera_nominal = (m.cam_pos[self._camera].copy(), m.cam_quat[self._camera].copy(),
                                float(m.cam_fovy[self._camera]))
        self._look: Optional[Look] = None
        self._renderers: Dict[str, mujoco.Renderer] = {}
        self._uploaded: Dict[str, bool] = {}
        self._track: Optional[Track] = None
        self._index = 0
        self._progress = self._progress_prev = 0.0
        self._tick = 0
        self._dt_prev = self._frame_ticks * timestep

    # -- rendering ---------------------------------------------------------------------------
    def _renderer(self, name: str, height: int, width: int) -> mujoco.Renderer:
        renderer = self._renderers.get(name)
        if renderer is None:
            check_gl_usable()
            try:
                renderer = mujoco.Renderer(self.model, height, width)
            except Exception as exc:   # mujoco raises FatalError or ImportError by backend
                raise RuntimeError(f'cannot render the camera offscreen ({exc}); '
                                   f'{_gl_hint()}') from exc
            self._renderers[name] = renderer
            self._uploaded[name] = False
        if not self._uploaded[name]:
            # A renderer keeps its own copy of the textures on the GL side.
            renderer._gl_context.make_current()
            mujoco.mjr_uploadTexture(self.model, renderer._mjr_context, self._tex)
            self._uploaded[name] = True
        return renderer

    def camera_image(self) -> np.ndarray:
        """Render the front camera now: (height, width, 3) uint8."""
        renderer = self._renderer('camera', *self.image_size)
        renderer.update_scene(self.data, camera=self._camera)
        image = renderer.render()
        look = self._look
        if look is not None and look.touches_frame:
            image = perturb_frame(image, self.np_random, **look.frame_kwargs())
        return image

    @property
    def look(self) -> Optional[Look]:
        """Return this episode's drawn light, camera mount and camera look."""
        return self._look

    def _mount_camera(self, look: Look) -> None:
        """Set the camera pose: nominal, then ``camera_pitch`` and the look's mount errors."""
        pos, quat, fovy = self._camera_nominal
        m, cam = self.model, self._camera
        m.cam_pos[cam] = pos + np.array([0.0, 0.0, look.height])
        m.cam_fovy[cam] = fovy + look.fovy
        # Camera frame: x image right, y image up, looking along -z. Pitch rotates about x
        # (more down: positive), roll about the viewing axis.
        turn = np.zeros(4)
        mujoco.mju_axisAngle2Quat(turn, np.array([1.0, 0.0, 0.0]),
                                  -math.radians(self.camera_pitch + look.pitch))
        roll = np.zeros(4)
        mujoco.mju_axisAngle2Quat(roll, np.array([0.0, 0.0, 1.0]), math.radians(look.roll))
        both, out = np.zeros(4), np.zeros(4)
        mujoco.mju_mulQuat(both, turn, roll)
        mujoco.mju_mulQuat(out, quat, both)
        m.cam_quat[cam] = out

    def render(self) -> Optional[np.ndarray]:
        """Return a top view of the floor and robot ('rgb_array'), or None."""
        if self.render_mode != 'rgb_array':
            return None
        renderer = self._renderer('top', self._render_size, self._render_size)
        renderer.update_scene(self.data, camera='top')
        return renderer.render()

    def __getstate__(self) -> Dict[str, Any]:
        """Return the env state for copies (see PiBotBase), without this env's GL renderers."""
        state = super().__getstate__()
        state['_renderers'], state['_uploaded'] = {}, {}   # a copy opens its own on first use
        return state

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()
        super().close()

    # -- readings ----------------------------------------------------------------------------
    @property
    def track(self) -> Optional[Track]:
        """Return the current episode's lane (privileged)."""
        return self._track

    def speed(self) -> float:
        """Forward speed from the wheel encoders (m/s), what odometry reports."""
        s = self.data.sensordata
        return float(WHEEL_RADIUS * 0.5 * (s[self._vel_adr[0]] + s[self._vel_adr[1]]))

    def state(self) -> LaneState:
        """Return the true, privileged LaneState (experts, DAgger, evaluation; not policies)."""
        self._require_reset('state()')
        x, y, yaw, v, w = self._true_motion()
        track = self._track
        return LaneState(x, y, yaw, v, w, self._index,
                         track.deviation(x, y, self._index),
                         float(track.half_width[self._index]), self._progress, track, self.time)

    def _observe(self) -> Union[np.ndarray, Dict[str, np.ndarray]]:
        image = self.camera_image()
        if not self.speed_obs:
            return image
        speed = np.clip(self.speed(), -_SPEED_LIMIT, _SPEED_LIMIT)
        return {'image': image, 'speed': np.array([speed], dtype=np.float32)}

    # -- episode -----------------------------------------------------------------------------
    def reset_model(self) -> Union[np.ndarray, Dict[str, np.ndarray]]:
        rng = self.np_random
        m = self.model
        self._track = track = make_track(rng, reverse=bool(rng.random() < 0.5))
        palette = None
        if (self.randomise > 0.0 and self.texture_set == 'train'
                and rng.random() < self.randomise):
            palette = random_palette(rng)
        texture = paint_track(track, rng, self._tex_size, self.texture_set, palette)
        adr = m.tex_adr[self._tex]
        m.tex_data[adr:adr + texture.size] = texture.reshape(-1)
        self._uploaded = dict.fromkeys(self._uploaded, False)
        # Light: intensity and direction vary per track (the NCP paper's lighting changes);
        # with randomise also its colour, the camera mount and look.
        self._look = look = draw_look(rng, self.randomise)
        m.light_diffuse[self._sun] = look.light
        m.light_ambient[self._sun] = look.ambient
        m.light_dir[self._sun] = (math.sin(look.tilt) * math.cos(look.azimuth),
                                  math.sin(look.tilt) * math.sin(look.azimuth),
                                  -math.cos(look.tilt))
        m.vis.headlight.diffuse[:] = look.headlight
        self._mount_camera(look)
        self._delay.ticks = self._delay_ticks + int(round(look.delay / m.opt.timestep))

        i = int(rng.integers(0, len(track.points)))
        (px, py), (tx, ty) = track.points[i], track.tangents[i]
        offset = rng.uniform(-0.3, 0.3) * track.half_width[i]
        x, y = px - ty * offset, py + tx * offset
        yaw = math.atan2(ty, tx) + rng.uniform(-0.3, 0.3)
        self._place_robot(x, y, yaw)
        self.data.ctrl[:] = 0.0
        self._delay.clear()
        self.actuator.reset()
        self._tick = 0
        self._progress = self._progress_prev = 0.0
        self._index = track.nearest(x, y)
        self._dt_prev = self._frame_ticks * self.model.opt.timestep
        return self._observe()

    def _get_reset_info(self) -> Dict[str, Any]:
        state = self.state()
        return {'dt': self._dt_prev, 'time': 0.0, 'deviation': state.deviation,
                'half_width': state.half_width, 'progress': 0.0, 'off_lane': False,
                'dropped': 0, 'command': (0.0, 0.0), 'state': state}

    def step(self, action: np.ndarray) -> Tuple[Any, float, bool, bool, Dict[str, Any]]:
        """Send ``action`` = (v, w) and run until the next camera frame is received."""
        self._require_reset()
        v, w = self.actuator.command(action, self._dt_prev)
        self._delay.push(self._tick, np.asarray(wheel_speeds(v, w)) * self.motor_gain)
        track = self._track
        start = self._tick
        dropped = 0
        off_lane = False
        while True:
            self._run(self._tick + self._clock.period(self.np_random))
            x, y, _ = self._true_pose()
            previous = self._index
            self._index = track.nearest(x, y, hint=previous)
            ds = track.arc[self._index] - track.arc[previous]
            self._progress += float((ds + 0.5 * track.length) % track.length
                                    - 0.5 * track.length)
            deviation = track.deviation(x, y, self._index)
            off_lane = abs(deviation) > track.half_width[self._index]
            if off_lane or not self._clock.lost(self.np_random, dropped):
                break
            dropped += 1
        dt = (self._tick - start) * self.model.opt.timestep
        progress_step = self._progress - self._progress_prev
        self._progress_prev = self._progress
        self._dt_prev = dt
        obs = self._observe()
        terms = {
            'reward_progress': self.weights['progress'] * progress_step,
            'reward_deviation': -self.weights['deviation'] * abs(deviation) * dt,
            'reward_off_lane': -self.weights['off_lane'] if off_lane else 0.0,
        }
        terminated = bool(off_lane)
        truncated = bool(not terminated and self.time >= self.time_limit - 1e-9)
        state = self.state()
        info = {'dt': dt, 'time': self.time, **terms, 'deviation': deviation,
                'half_width': float(track.half_width[self._index]),
                'progress': self._progress, 'off_lane': bool(off_lane), 'dropped': dropped,
                'command': (v, w), 'state': state}
        if terminated or truncated:
            info['is_success'] = not off_lane      # solved: on the road for the whole time
        return obs, float(sum(terms.values())), terminated, truncated, info

    def _run(self, target: int) -> None:
        """Run physics to tick ``target``, applying commands as they come due (delay)."""
        while True:
            due = self._delay.pop_due(self._tick)
            if due is not None:
                self.data.ctrl[:] = due
            if self._tick >= target:
                return
            nxt = self._delay.next_due()
            stop = target if nxt is None else min(target, nxt)
            mujoco.mj_step(self.model, self.data, nstep=stop - self._tick)
            self._tick = stop

    @staticmethod
    def episode_metrics(infos: Dict[str, np.ndarray]) -> Dict[str, float]:
        """
        Lane metrics of one episode from its per-step infos (``lnn_control.envs.rollout``).

        Returns ``deviation_cm`` (mean |lateral offset|), ``distance_m`` (metres along the
        track) and ``off_lane`` (1 if it left the road).
        """
        return {'deviation_cm': 100.0 * float(np.mean(np.abs(infos['deviation']))),
                'distance_m': float(infos['progress'][-1]),
                'off_lane': float(infos['off_lane'][-1])}
