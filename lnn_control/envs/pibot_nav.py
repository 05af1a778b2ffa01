# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
PiBotNav-v0: a TurtleBot3 Burger class robot drives to a goal among obstacles (MuJoCo).

## Description
A differential-drive robot (``sim/pibot.xml``: TurtleBot3 Burger dimensions, 1 kg, wheel
velocity servos, IMU, wheel encoders, a 360-beam LDS-01 style lidar) starts at a random pose in
a walled 4 m x 4 m arena with ``n_obstacles`` cylinders and boxes placed at random, and must
reach a goal position without touching anything. Free space is always connected: obstacles
keep 0.4 m from each other and from the walls, more than the robot's 0.27 m width.

The observation is built exactly as the ROS controller builds it: the environment assembles
the readings the robot's topics would carry (``/scan`` LaserScan, ``/odom`` Odometry, the goal
in the odom frame) and passes them through the shared ``lnn_control.runtime.observer.Observer``;
the action goes through the shared ``lnn_control.runtime.actuator.Actuator``, then the
differential-drive kinematics, to the wheel servos.

Timing follows the real robot. Physics runs at 200 Hz. Odometry arrives at 20 Hz, and one
``step`` is one control step: it ends when the next odometry message is received, so its
elapsed time ``info['dt']`` is the difference of odometry stamps, 0.05 s nominally, longer when
messages are lost (``drop``) and varying with ``dt_jitter``; it is always a whole number of 5 ms
physics steps, so it is the true elapsed time. The lidar runs on its own 5 Hz clock (random
phase per episode) and the latest scan is held between scans: a new scan arrives every 4th step
(``info['new_scan']``). Odometry is computed like the TurtleBot3 driver (turtlebot3_node
odometry.cpp with ``use_imu``): travel from the wheel encoders, heading change from the IMU,
integrated in the odom frame (the robot's pose at reset) at every odometry tick.

## Action Space
``Box([-0.22, -2.84], [0.22, 2.84], (2,), float32)`` (limits from ``actuator``):

| Num | Action                       | Min   | Max  | Unit  |
|-----|------------------------------|-------|------|-------|
| 0   | forward speed command v      | -0.22 | 0.22 | m/s   |
| 1   | yaw rate command w           | -2.84 | 2.84 | rad/s |

The Actuator clips it, rate-limits it (2.5 m/s^2, 3.2 rad/s^2 over the previous step's dt) and
turns a non-finite action into a stop. Each wheel is limited to 6.88 rad/s (0.227 m/s), so full
speed and full turn rate together saturate a wheel, as on the robot.

The units are physical on purpose: the action is the command the ROS controller sends, in the
units of ``/cmd_vel``. stable-baselines3's ``check_env`` warns that the space is not symmetric
and normalised; to train on [-1, 1] wrap the env in
``gymnasium.wrappers.RescaleAction(env, min_action=-1, max_action=1)``.

## Observation Space
``Box(low, high, (17,), float32)`` with the default ``observer`` (see ``Observer``):

| Num  | Observation                                      | Min  | Max | Unit  |
|------|--------------------------------------------------|------|-----|-------|
| 0-11 | nearest lidar return per 30 deg sector, sector k | 0    | 1   | 1     |
|      | centred at k * 30 deg (CCW from ahead);          |      |     |       |
|      | (r - 0.12) / (3.5 - 0.12), 1 = nothing in range  |      |     |       |
| 12   | forward speed v (odometry)                       | -0.3 | 0.3 | m/s   |
| 13   | yaw rate w (odometry)                            | -3   | 3   | rad/s |
| 14   | distance to the goal (odometry), clipped         | 0    | 5   | m     |
| 15   | sine of the goal bearing in the robot frame      | -1   | 1   | 1     |
| 16   | cosine of the goal bearing                       | -1   | 1   | 1     |

## Rewards
``reward = reward_progress + reward_goal + reward_collision + reward_time``, each in ``info``:

- ``reward_progress``: ``progress_weight`` x decrease of the true distance to the goal (m).
- ``reward_goal``: ``goal_reward`` on reaching the goal.
- ``reward_collision``: ``-collision_penalty`` on a collision.
- ``reward_time``: ``-time_penalty`` x dt (per second).

With the default weights a solved episode (goal reached) returns
``10 x (d0 - d_end) + 10 - 0.1 x T`` for a start-goal distance d0 of 1.5 to 4.7 m, a final
distance d_end < ``goal_tolerance`` and T s driven: from 17.5 (the nearest goal, reached at the
time limit) to about 55 (4.7 m at full speed). ``PiBotNavExpert`` solves seeds 0-99 with
returns 23.2 to 45.7 (mean 30.7). A collision ends the episode with -10 plus the progress made
so far.

## Starting State
Robot pose uniform in the arena (0.35 m from the walls), heading uniform; goal uniform (0.3 m
from the walls) at least ``min_goal_distance`` away; obstacles uniform, 0.4 m from the walls,
from each other and from the start, 0.3 m from the goal. All drawn from the env's seeded RNG.

## Episode End
- Terminated: the robot's centre (base_footprint, between the wheels) is within
  ``goal_tolerance`` of the goal (``info['is_success']``), or its body touches a wall or an
  obstacle (``info['collision']``; contacts are checked at every odometry and lidar tick).
- Truncated: ``time_limit`` seconds of simulated time have passed (checked by the env: the
  primary rule, as steps vary in length).

The id is registered with ``max_episode_steps=1200``, what 60 s allows at the nominal 20 Hz,
for ``gymnasium.spec`` and the ``TimeLimit`` wrapper ``gymnasium.make`` adds: with the default
arguments every step lasts 0.05 s and both truncate on the same step. Lost odometry (``drop``)
lengthens steps, so the env's time limit comes first (about 950 steps at ``drop=0.2``);
``dt_jitter`` shortens half of them, so a 60 s episode takes 1192 to 1208 steps at 0.3 (seeds
0-5) and TimeLimit may end it up to 0.4 s early. Pass ``max_episode_steps=-1`` to
``gymnasium.make`` to leave time as the only limit (``lnn_control.train.evaluate.make_env``
does), or the matching count when you change ``time_limit`` or ``odom_rate``.

## Info
``dt`` (s), ``time`` (s), the four reward terms, ``is_success``, ``collision``, ``distance``
(true distance to the goal, m), ``new_scan`` (a scan arrived during this step), ``dropped``
(odometry messages lost in this step), ``command`` ((v, w) sent to the wheels, after the
Actuator) and ``state``: a ``NavState`` with the true pose, twist, goal and obstacles, for
privileged experts (``lnn_control.envs.experts``) and DAgger.

## Arguments
``gymnasium.make('lnn_control/PiBotNav-v0', n_obstacles=8, drop=0.2)``

| Parameter           | Type            | Default | Description                                   |
|---------------------|-----------------|---------|-----------------------------------------------|
| `n_obstacles`       | int             | 8       | obstacles per episode (0-16)                  |
| `goal_tolerance`    | float           | 0.15    | success radius (m)                            |
| `min_goal_distance` | float           | 1.5     | least start-goal distance (m)                 |
| `time_limit`        | float           | 60      | truncation time (s of simulated time)         |
| `obs_noise`         | float           | 0       | std of Gaussian noise on each observation     |
|                     |                 |         | element, in units of its scale: 1 for lidar,  |
|                     |                 |         | sin, cos; max_v, max_w; 1 m for the distance; |
|                     |                 |         | then clipped to the observation bounds        |
| `drop`              | float           | 0       | probability that a sensor message is lost: a  |
|                     |                 |         | lost scan keeps the previous scan, a lost     |
|                     |                 |         | odometry message extends the step to the next |
|                     |                 |         | one (larger dt; at most 20 in a row)          |
| `dt_jitter`         | float           | 0       | odometry period = nominal x (1 + U(-j, j)),   |
|                     |                 |         | rounded to 5 ms physics steps (0 <= j < 1)    |
| `action_delay`      | float           | 0       | seconds from a step's action to the wheels    |
|                     |                 |         | (0.05 = one control step), rounded to 5 ms    |
| `mass_scale`        | float           | 1       | robot mass and inertia factor                 |
| `friction_scale`    | float           | 1       | factor on every geom's friction               |
| `motor_gain`        | float or (l, r) | 1       | wheel speed = gain x commanded speed, per     |
|                     |                 |         | wheel (unequal gains make the robot drift)    |
| `lidar_yaw`         | float           | 0       | the lidar is mounted rotated by this many     |
|                     |                 |         | degrees (CCW); its beams are reported at the  |
|                     |                 |         | angles of a straight mount (a sensing shift)  |
| `observer`          | ObserverConfig  | default | observation (dict accepted)                   |
| `actuator`          | ActuatorConfig  | default | command limits and action space (dict ok)     |
| `odom_rate`         | float           | 20      | odometry / control rate (Hz)                  |
| `scan_rate`         | float           | 5       | lidar rate (Hz)                               |
| `progress_weight`   | float           | 10      | reward per metre of progress                  |
| `goal_reward`       | float           | 10      | reward for reaching the goal                  |
| `collision_penalty` | float           | 10      | penalty for a collision                       |
| `time_penalty`      | float           | 0.1     | penalty per second                            |
| `timestep`          | float or None   | None    | physics step (s); None: the file's, 0.005.    |
|                     |                 |         | 0.01 runs ~2x faster with the same wheel      |
|                     |                 |         | tracking, dt_jitter then rounds to 10 ms      |
| `xml_file`          | str             | pibot   | MJCF path (default ``sim/pibot.xml``)         |
| `render_mode`       | str or None     | None    | 'rgb_array', ... (headless: MUJOCO_GL=egl)    |

``reset(seed=..., options=...)`` accepts ``options`` with any of ``'start'`` (x, y, yaw),
``'goal'`` (x, y) and ``'obstacles'`` (a list of (slot, x, y, yaw); slots 0-7 are cylinders of
radius 0.08, 0.10, 0.12, 0.15 twice over, 8-15 boxes of half sizes (0.08, 0.08), (0.10, 0.10),
(0.12, 0.08), (0.15, 0.10) twice over) in world coordinates; what is given replaces the random
draw. For a ROS bridge, ``scan``, ``odom``, ``goal``, ``imu()`` and ``joints()`` give the latest
readings and ``set_goal`` moves the goal; ``drive(v, w)``, ``run(ticks)``,
``update_odometry(ticks)`` and ``distance()`` let ``lnn_control.envs.sim_bridge`` drive the
robot from an external command instead of ``step``.

``step`` (and ``state``) before ``reset`` raise ``gymnasium.error.ResetNeeded``.
``copy.deepcopy(env)`` and ``pickle`` copy the running episode: the copy gives the same
observations for the same actions, bit for bit, and steps independently of the original
(``lnn_control.envs.pibot_base``).

## Version History
* v0: initial version.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from gymnasium import spaces
from gymnasium.envs.mujoco import MujocoEnv
from lnn_control.envs.nav_scene import ARENA_HALF
from lnn_control.envs.nav_scene import OBSTACLE_SLOTS as _OBSTACLE_SLOTS
from lnn_control.envs.nav_scene import ROBOT_RADIUS
from lnn_control.envs.nav_scene import sample_layout
from lnn_control.envs.perturb import check_knob
from lnn_control.envs.perturb import DelayLine
from lnn_control.envs.perturb import StepClock
from lnn_control.envs.pibot_base import PiBotBase
from lnn_control.envs.pibot_base import RobotState
from lnn_control.envs.pibot_base import sim_path
from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.actuator import ActuatorConfig
from lnn_control.runtime.actuator import WHEEL_RADIUS
from lnn_control.runtime.actuator import wheel_speeds
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import ImuReading
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
import mujoco
import numpy as np

__all__ = ['PiBotNavEnv', 'NavState', 'PiBotBase', 'RobotState', 'sim_path', 'ARENA_HALF',
           'ROBOT_RADIUS', 'SCAN_BEAMS', 'SCAN_RANGE_MIN', 'SCAN_RANGE_MAX']

SCAN_BEAMS = 360          # LDS-01: 1 deg resolution, angle_min 0, counter-clockwise
SCAN_RANGE_MIN = 0.12     # m, LDS-01
SCAN_RANGE_MAX = 3.5      # m, LDS-01
_OBSTACLE_GROUP = 1        # geom group of walls and obstacles: the one the lidar sees
_PARKED_GROUP = 4          # unused obstacle slots
_DEFAULT_CAMERA = {'distance': 6.0, 'elevation': -90.0, 'azimuth': 90.0,
                   'lookat': np.zeros(3)}


@dataclass(frozen=True)
class NavState(RobotState):
    """
    The true (privileged) state of a PiBotNav episode, world frame.

    Attributes:
        x, y, yaw: robot pose (base_footprint), m and rad.
        v, w: robot forward speed (m/s) and yaw rate (rad/s).
        goal_x, goal_y: goal position (m).
        obstacles: one (x, y, yaw, shape, a, b) tuple per obstacle: shape 0 is a cylinder of
            radius a (b = 0), shape 1 a box of half sizes a, b along its own x and y.
        arena_half: the walls' inner faces are at x, y = +-arena_half (m).
        odom_origin: the odom frame's (x, y, yaw) in the world (the pose at reset).
        time: simulated seconds since reset.

    """

    goal_x: float
    goal_y: float
    obstacles: Tuple[Tuple[float, float, float, int, float, float], ...]
    arena_half: float
    odom_origin: Tuple[float, float, float]
    time: float


class PiBotNavEnv(PiBotBase):
    """Goal reaching among obstacles for a TurtleBot3 Burger class robot; see the module doc."""

    # The perturbation knobs this env implements (lnn_control.envs.perturb): arguments
    # obs_noise, drop, dt_jitter, action_delay, mass_scale, friction_scale, motor_gain,
    # lidar_yaw. make_env wraps it for the rest (the image knobs need no lidar env).
    native_knobs = frozenset({'noise', 'drop', 'jitter', 'delay', 'mass', 'friction', 'gain',
                              'lidar'})

    metadata = {'render_modes': ['human', 'rgb_array', 'depth_array', 'rgbd_tuple'],
                'render_fps': 20}

    def __init__(
        self,
        n_obstacles: int = 8,
        goal_tolerance: float = 0.15,
        min_goal_distance: float = 1.5,
        time_limit: float = 60.0,
        obs_noise: float = 0.0,
        drop: float = 0.0,
        dt_jitter: float = 0.0,
        action_delay: float = 0.0,
        mass_scale: float = 1.0,
        friction_scale: float = 1.0,
        motor_gain: Union[float, Sequence[float]] = 1.0,
        lidar_yaw: float = 0.0,
        observer: Union[ObserverConfig, Mapping[str, Any], None] = None,
        actuator: Union[ActuatorConfig, Mapping[str, Any], None] = None,
        odom_rate: float = 20.0,
        scan_rate: float = 5.0,
        progress_weight: float = 10.0,
        goal_reward: float = 10.0,
        collision_penalty: float = 10.0,
        time_penalty: float = 0.1,
        timestep: Optional[float] = None,
        xml_file: Optional[str] = None,
        render_mode: Optional[str] = None,
        width: int = 480,
        height: int = 480,
        default_camera_config: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        if not 0 <= int(n_obstacles) <= _OBSTACLE_SLOTS:
            raise ValueError(f'n_obstacles must be in 0..{_OBSTACLE_SLOTS}, got {n_obstacles}')
        # The perturbation arguments are the knobs of lnn_control.envs.perturb: checked there.
        for name, value in (('obs_noise', obs_noise), ('drop', drop), ('dt_jitter', dt_jitter),
                            ('action_delay', action_delay), ('mass_scale', mass_scale),
                            ('friction_scale', friction_scale), ('motor_gain', motor_gain),
                            ('lidar_yaw', lidar_yaw)):
            check_knob(name, value)
        self.n_obstacles = int(n_obstacles)
        self.goal_tolerance = float(goal_tolerance)
        self.min_goal_distance = float(min_goal_distance)
        self.time_limit = float(time_limit)
        self.obs_noise = float(obs_noise)
        self.drop = float(drop)
        self.dt_jitter = float(dt_jitter)
        self.action_delay = float(action_delay)
        self.mass_scale = float(mass_scale)
        self.friction_scale = float(friction_scale)
        self.motor_gain = np.broadcast_to(np.asarray(motor_gain, dtype=np.float64), (2,)).copy()
        self.lidar_yaw = float(lidar_yaw)
        self.weights = {'progress': float(progress_weight), 'goal': float(goal_reward),
                        'collision': float(collision_penalty), 'time': float(time_penalty)}
        self.observer = Observer(observer)
        self.actuator = Actuator(actuator)

        path = xml_file or sim_path('pibot.xml')
        xml_timestep = mujoco.MjModel.from_xml_path(path).opt.timestep
        timestep = float(timestep or xml_timestep)
        self._odom_ticks = _ticks(1.0 / odom_rate, timestep, 'odom_rate')
        self._scan_ticks = _ticks(1.0 / scan_rate, timestep, 'scan_rate')
        # MujocoEnv checks render_fps against the file's timestep; it is fixed up below.
        self.metadata = dict(self.metadata,
                             render_fps=int(round(1.0 / (xml_timestep * self._odom_ticks))))
        space = self.observer.space()
        observation_space = spaces.Box(np.array(space['low'], dtype=np.float32),
                                       np.array(space['high'], dtype=np.float32),
                                       dtype=np.float32)
        MujocoEnv.__init__(self, path, self._odom_ticks, observation_space=observation_space,
                           render_mode=render_mode, width=width, height=height,
                           default_camera_config=default_camera_config or _DEFAULT_CAMERA,
                           **kwargs)
        self.model.opt.timestep = timestep
        self.metadata['render_fps'] = int(round(odom_rate))
        self._setup_model()
        self._clock = StepClock(self._odom_ticks, self.dt_jitter, self.drop)
        self._delay = DelayLine(int(round(self.action_delay / self.model.opt.timestep)))
        self._noise_scale = np.array(
            [1.0] * self.observer.config.lidar_sectors
            + [self.actuator.config.max_v, self.actuator.config.max_w, 1.0, 1.0, 1.0],
            dtype=np.float32)
        self._reset_options: Dict[str, Any] = {}
        self._scan: Optional[ScanReading] = None
        self._odom = OdomReading(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        self._goal = Goal(0.0, 0.0)

    # -- model -------------------------------------------------------------------------------
    def _setup_model(self) -> None:
        m = self.model
        self._robot_body = m.body('base_footprint').id
        self._scale_dynamics(self.mass_scale, self.friction_scale)
        self._lidar_site = m.site('lidar').id
        self._goal_mocap = m.body_mocapid[m.body('goal').id]
        self._wheel_joints = ['wheel_left', 'wheel_right']
        adr = self._find_robot()
        self._enc_adr = np.array([adr['wheel_left_pos'], adr['wheel_right_pos']])
        self._gyro_adr = adr['imu_gyro']
        self._accel_adr = adr['imu_accel']
        self._quat_adr = adr['imu_quat']
        self._bumper_adr = adr['bumper']
        slots = []
        for k in range(_OBSTACLE_SLOTS):
            body = m.body(f'obstacle_{k}').id
            geom = m.geom(f'obstacle_{k}').id
            size = m.geom_size[geom]
            if m.geom_type[geom] == mujoco.mjtGeom.mjGEOM_CYLINDER:
                slots.append((m.body_mocapid[body], geom, 0, float(size[0]), 0.0,
                              float(size[0])))
            else:
                slots.append((m.body_mocapid[body], geom, 1, float(size[0]), float(size[1]),
                              float(math.hypot(size[0], size[1]))))
        self._slots = slots   # (mocap id, geom id, shape, a, b, bounding radius)
        self._slot_height = float(m.geom_size[m.geom('obstacle_0').id][1])
        # Beam i is reported at angle i * increment; a rotated mount points it elsewhere.
        angles = (np.arange(SCAN_BEAMS) * (2.0 * math.pi / SCAN_BEAMS)
                  + math.radians(self.lidar_yaw))
        self._beams = np.stack([np.cos(angles), np.sin(angles), np.zeros(SCAN_BEAMS)], 1)
        self._geomgroup = np.zeros(6, dtype=np.uint8)
        self._geomgroup[_OBSTACLE_GROUP] = 1
        self._ray_geom = np.zeros(SCAN_BEAMS, dtype=np.int32)
        self._ray_dist = np.zeros(SCAN_BEAMS, dtype=np.float64)

    # -- readings ----------------------------------------------------------------------------
    @property
    def scan(self) -> ScanReading:
        """Return the latest lidar scan received (what ``/scan`` last carried)."""
        return self._scan

    @property
    def odom(self) -> OdomReading:
        """Return the latest odometry message received (what ``/odom`` last carried)."""
        return self._odom

    @property
    def goal(self) -> Goal:
        """Return the goal in the odom frame."""
        return self._goal

    def imu(self) -> ImuReading:
        """Read the IMU now (gyro, accelerometer, orientation in the world frame, ROS order)."""
        s = self.data.sensordata
        w, x, y, z = s[self._quat_adr:self._quat_adr + 4]
        return ImuReading(np.array([x, y, z, w]), s[self._gyro_adr:self._gyro_adr + 3].copy(),
                          s[self._accel_adr:self._accel_adr + 3].copy(), self.time)

    def joints(self) -> JointsReading:
        """Read the wheel encoders now (what ``/joint_states`` carries)."""
        s = self.data.sensordata
        return JointsReading(list(self._wheel_joints), s[self._enc_adr].copy(),
                             s[self._vel_adr].copy(), self.time)

    def state(self) -> NavState:
        """Return the true, privileged NavState (for experts, DAgger, evaluation; not policies)."""
        self._require_reset('state()')
        return NavState(*self._true_motion(), self._goal_world[0], self._goal_world[1],
                        self._obstacles, ARENA_HALF, self._odom_origin, self.time)

    def set_goal(self, x: float, y: float, frame: str = 'world') -> None:
        """Move the goal to (x, y) in the 'world' or 'odom' frame (e.g. from ``/goal_pose``)."""
        if frame == 'odom':
            ox, oy, oyaw = self._odom_origin
            c, s = math.cos(oyaw), math.sin(oyaw)
            x, y = ox + c * x - s * y, oy + s * x + c * y
        elif frame != 'world':
            raise ValueError(f"frame is 'world' or 'odom', got {frame!r}")
        self._goal_world = (float(x), float(y))
        ox, oy, oyaw = self._odom_origin
        c, s = math.cos(oyaw), math.sin(oyaw)
        dx, dy = x - ox, y - oy
        self._goal = Goal(c * dx + s * dy, -s * dx + c * dy, self.time)
        self.data.mocap_pos[self._goal_mocap] = (x, y, 0.002)
        self._prev_distance = self._distance()

    # -- external driving (the ROS bridge, lnn_control.envs.sim_bridge) ----------------------
    def drive(self, v: float, w: float) -> None:
        """Set the wheel servos for (v, w) now, bypassing the Actuator (the sender limits it)."""
        self._delay.clear()
        self.data.ctrl[:] = np.array(wheel_speeds(float(v), float(w))) * self.motor_gain

    def run(self, ticks: int) -> Tuple[bool, bool]:
        """Run ``ticks`` physics steps (scans come due on their own clock): (new_scan, hit)."""
        return self._advance(self._tick + int(ticks))

    def update_odometry(self, ticks: int) -> OdomReading:
        """Integrate odometry over the last ``ticks`` physics steps; return the new reading."""
        self._integrate_odometry(int(ticks))
        self._odom = OdomReading(*self._odom_pose, *self._odom_twist, self.time)
        return self._odom

    def distance(self) -> float:
        """Return the true robot-to-goal distance in metres (centre of base_footprint)."""
        return self._distance()

    # -- episode -----------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Start an episode; ``options`` may fix 'start', 'goal' and 'obstacles' (see doc)."""
        self._reset_options = dict(options or {})
        return super().reset(seed=seed, options=options)

    def reset_model(self) -> np.ndarray:
        start, goal, obstacles = sample_layout(
            self.np_random, self._reset_options, self.n_obstacles, self.min_goal_distance,
            [slot[5] for slot in self._slots])
        d = self.data
        parked = np.array([0.0, 0.0, -1.0])
        for mocap, geom, *_ in self._slots:
            d.mocap_pos[mocap] = parked
            self.model.geom_group[geom] = _PARKED_GROUP   # the lidar skips parked obstacles
        placed = []
        for slot, ox, oy, oyaw in obstacles:
            mocap, geom, shape, a, b, _ = self._slots[slot]
            self.model.geom_group[geom] = _OBSTACLE_GROUP
            d.mocap_pos[mocap] = (ox, oy, self._slot_height)
            d.mocap_quat[mocap] = (math.cos(oyaw / 2), 0.0, 0.0, math.sin(oyaw / 2))
            placed.append((float(ox), float(oy), float(oyaw), shape, a, b))
        self._obstacles = tuple(placed)
        x, y, yaw = start
        self._place_robot(x, y, yaw)   # runs mj_forward
        self._odom_origin = (float(x), float(y), float(yaw))
        self._tick = 0
        self.actuator.reset()
        self._delay.clear()
        d.ctrl[:] = 0.0
        self.set_goal(*goal)
        # Odometry starts at the origin of the odom frame, like the driver at start-up.
        self._odom_pose = [0.0, 0.0, 0.0]
        self._enc_prev = (float(d.sensordata[self._enc_adr[0]]),
                          float(d.sensordata[self._enc_adr[1]]))
        self._imu_yaw_prev = self._imu_yaw()
        self._odom = OdomReading(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        self._scan = self._cast_scan()
        self._next_scan_tick = int(self.np_random.integers(1, self._scan_ticks + 1))
        self._dt_prev = self._odom_ticks * self.model.opt.timestep
        self._prev_distance = self._distance()
        return self._observe()

    def _get_reset_info(self) -> Dict[str, Any]:
        return {'dt': self._dt_prev, 'time': 0.0, 'is_success': False, 'collision': False,
                'distance': self._prev_distance, 'new_scan': True, 'dropped': 0,
                'command': (0.0, 0.0), 'state': self.state()}

    def step(self, action: np.ndarray) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Send ``action`` = (v, w) and run until the next odometry message is received."""
        self._require_reset()
        v, w = self.actuator.command(action, self._dt_prev)
        left, right = wheel_speeds(v, w)
        self._delay.push(self._tick, np.array([left, right]) * self.motor_gain)
        start = self._tick
        dropped = 0
        new_scan = collision = reached = False
        while True:
            period = self._clock.period(self.np_random)
            scanned, hit = self._advance(self._tick + period)
            new_scan |= scanned
            collision |= hit
            self._integrate_odometry(period)
            reached = self._distance() < self.goal_tolerance
            if collision or reached or not self._clock.lost(self.np_random, dropped):
                break
            dropped += 1
        self._odom = OdomReading(*self._odom_pose, *self._odom_twist, self.time)
        dt = (self._tick - start) * self.model.opt.timestep
        self._dt_prev = dt
        obs = self._observe()

        distance = self._distance()
        terms = {
            'reward_progress': self.weights['progress'] * (self._prev_distance - distance),
            'reward_goal': self.weights['goal'] if reached else 0.0,
            'reward_collision': -self.weights['collision'] if collision else 0.0,
            'reward_time': -self.weights['time'] * dt,
        }
        self._prev_distance = distance
        terminated = bool(reached or collision)
        truncated = bool(not terminated and self.time >= self.time_limit - 1e-9)
        info = {'dt': dt, 'time': self.time, **terms, 'is_success': bool(reached),
                'collision': bool(collision), 'distance': distance, 'new_scan': new_scan,
                'dropped': dropped, 'command': (v, w), 'state': self.state()}
        if self.render_mode == 'human':
            self.render()
        return obs, float(sum(terms.values())), terminated, truncated, info

    # -- internals ---------------------------------------------------------------------------
    def _advance(self, target: int) -> Tuple[bool, bool]:
        """Run physics to tick ``target``; apply due commands, take due scans, watch contacts."""
        m, d = self.model, self.data
        scanned = collision = False
        while True:
            due = self._delay.pop_due(self._tick)
            if due is not None:
                d.ctrl[:] = due
            if self._tick >= self._next_scan_tick:
                self._next_scan_tick += self._scan_ticks
                if not self._clock.lost(self.np_random):
                    self._scan = self._cast_scan()
                    scanned = True
            if self._tick >= target:
                break
            nxt = min(target, self._next_scan_tick)
            if self._delay.next_due() is not None:
                nxt = min(nxt, self._delay.next_due())
            mujoco.mj_step(m, d, nstep=nxt - self._tick)
            self._tick = nxt
            collision |= self._in_collision()
        return scanned, collision

    def _in_collision(self) -> bool:
        # The "bumper" contact sensor counts chassis contacts (cheaper than reading d.contact).
        return bool(self.data.sensordata[self._bumper_adr] > 0.0)

    def _cast_scan(self) -> ScanReading:
        """Cast the 360 lidar beams from the lidar site (only walls and obstacles are seen)."""
        m, d = self.model, self.data
        rotation = d.site_xmat[self._lidar_site].reshape(3, 3)
        directions = self._beams @ rotation.T   # (360, 3), the lidar plane tilts with the robot
        mujoco.mj_multiRay(m, d, d.site_xpos[self._lidar_site], directions.reshape(-1),
                           self._geomgroup, 1, self._robot_body, self._ray_geom,
                           self._ray_dist, None, SCAN_BEAMS, SCAN_RANGE_MAX)
        dist = self._ray_dist
        ranges = dist.astype(np.float32)
        # REP 117: +inf for no return within range, -inf for a return too close to measure.
        ranges[(dist < 0.0) | (dist > SCAN_RANGE_MAX)] = np.inf
        ranges[(dist >= 0.0) & (dist < SCAN_RANGE_MIN)] = -np.inf
        return ScanReading(ranges, 0.0, 2.0 * math.pi / SCAN_BEAMS, SCAN_RANGE_MIN,
                           SCAN_RANGE_MAX, self.time)

    def _imu_yaw(self) -> float:
        w, x, y, z = self.data.sensordata[self._quat_adr:self._quat_adr + 4]
        return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))

    def _integrate_odometry(self, ticks: int) -> None:
        """TurtleBot3 driver odometry: encoder travel, IMU heading change, midpoint heading."""
        s = self.data.sensordata
        left, right = float(s[self._enc_adr[0]]), float(s[self._enc_adr[1]])
        delta_s = WHEEL_RADIUS * 0.5 * (left - self._enc_prev[0] + right - self._enc_prev[1])
        self._enc_prev = (left, right)
        yaw_imu = self._imu_yaw()
        delta_theta = _wrap(yaw_imu - self._imu_yaw_prev)
        self._imu_yaw_prev = yaw_imu
        x, y, yaw = self._odom_pose
        heading = yaw + 0.5 * delta_theta
        self._odom_pose = [x + delta_s * math.cos(heading), y + delta_s * math.sin(heading),
                           _wrap(yaw + delta_theta)]
        seconds = ticks * self.model.opt.timestep
        self._odom_twist = (delta_s / seconds, delta_theta / seconds)

    def _observe(self) -> np.ndarray:
        obs = self.observer.observe(self._scan, self._odom, self._goal)
        if self.obs_noise > 0.0:
            noise = self.np_random.normal(0.0, self.obs_noise, obs.shape).astype(np.float32)
            obs = np.clip(obs + noise * self._noise_scale, self.observation_space.low,
                          self.observation_space.high).astype(np.float32)
        return obs

    def _distance(self) -> float:
        x, y, _ = self._true_pose()
        return math.hypot(self._goal_world[0] - x, self._goal_world[1] - y)


def _ticks(period: float, timestep: float, name: str) -> int:
    ticks = int(round(period / timestep))
    if ticks < 1 or abs(ticks * timestep - period) > 1e-6:
        raise ValueError(f'{name}: period {period} s is not a whole number of '
                         f'{timestep} s physics steps')
    return ticks


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi
