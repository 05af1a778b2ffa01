# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""PiBotLane-v0: rendering, track generation, expert, determinism, registration (issue 8)."""

import math

import gymnasium
from gymnasium.utils.env_checker import check_env
from lnn_control.envs import register
from lnn_control.envs.experts import make_expert
from lnn_control.envs.perturb import perturb_frame
from lnn_control.envs.pibot_lane import FLOOR_HALF
from lnn_control.envs.pibot_lane import make_track
from lnn_control.envs.pibot_lane import paint_track
from lnn_control.envs.pibot_lane import PiBotLaneEnv
from lnn_control.envs.pibot_lane import PiBotLaneExpert
import numpy as np
import pytest


@pytest.fixture(scope='module')
def env():
    environment = PiBotLaneEnv(time_limit=3.0)
    yield environment
    environment.close()


@pytest.mark.slow
@pytest.mark.filterwarnings('ignore:.*symmetric and normalized')   # physical units on purpose
def test_check_env(env):
    check_env(env, skip_render_check=True)


def test_observation_is_the_camera_frame(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == (48, 64, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert obs.std() > 5.0            # a scene, not a blank buffer
    assert info['dt'] == pytest.approx(1.0 / 30.0)
    assert abs(info['deviation']) < info['half_width']


def test_same_seed_same_frames_and_infos():
    runs = []
    for _ in range(2):
        environment = PiBotLaneEnv(time_limit=2.0, drop=0.2)
        obs, _ = environment.reset(seed=42)
        frames, infos = [obs], []
        for k in range(20):
            obs, reward, _, _, info = environment.step(np.array([0.15, 0.3 * math.sin(k)],
                                                                dtype=np.float32))
            frames.append(obs)
            infos.append((reward, info['dt'], info['deviation'], info['progress']))
        environment.close()
        runs.append((np.stack(frames), infos))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_seeds_draw_different_tracks_and_looks(env):
    first, _ = env.reset(seed=1)
    track_a = env.track
    second, _ = env.reset(seed=2)
    assert track_a.length != pytest.approx(env.track.length)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 5.0


@pytest.mark.parametrize('reverse', [False, True])
def test_track_fits_the_floor_and_is_smooth(reverse):
    track = make_track(np.random.default_rng(3), reverse=reverse)
    assert np.abs(track.points).max() + track.half_width.max() < FLOOR_HALF
    assert 0.12 < track.half_width.min() and track.half_width.max() < 0.25
    assert track.length == pytest.approx(track.arc[-1] + np.linalg.norm(
        track.points[0] - track.points[-1]))
    # Travel direction: counter-clockwise unless reversed (sign of the enclosed area).
    x, y = track.points[:, 0], track.points[:, 1]
    area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    assert (area < 0) == reverse


def test_texture_has_the_road_where_the_track_is():
    track = make_track(np.random.default_rng(5))
    size = 512
    tex = paint_track(track, np.random.default_rng(6), size).astype(float)
    res = 2 * FLOOR_HALF / size

    def pixel(x, y):
        return tex[int((FLOOR_HALF - y) / res), int((x + FLOOR_HALF) / res)]

    i = 100
    (px, py), (tx, ty) = track.points[i], track.tangents[i]
    half = track.half_width[i]
    on_road = pixel(px - ty * 0.5 * half, py + tx * 0.5 * half)
    off_road = pixel(px - ty * (half + 0.15), py + tx * (half + 0.15))
    assert on_road.mean() < 110 < off_road.mean()    # training palettes: dark road, light floor


def test_camera_sees_the_road_ahead(env):
    obs, _ = env.reset(seed=7)
    on_road = obs[24:].astype(float).mean()
    # Move the robot to a corner facing out, away from the track (same light and texture).
    qpos = env.data.qpos.copy()
    qpos[:3] = (FLOOR_HALF - 0.3, FLOOR_HALF - 0.3, 0.0)
    qpos[3:7] = (math.cos(math.pi / 8), 0.0, 0.0, math.sin(math.pi / 8))
    env.set_state(qpos, np.zeros_like(env.data.qvel))
    off_road = env.camera_image()[24:].astype(float).mean()
    assert on_road < off_road - 20.0


def test_expert_follows_the_lane():
    environment = PiBotLaneEnv(time_limit=8.0)
    expert = make_expert('lnn_control/PiBotLane-v0')
    assert isinstance(expert, PiBotLaneExpert)
    for seed in (0, 1):
        obs, info = environment.reset(seed=seed)
        deviations = []
        done = False
        while not done:
            obs, _, terminated, truncated, info = environment.step(
                expert.act(obs, expert.state_of(environment)))
            deviations.append(abs(info['deviation']))
            done = terminated or truncated
        assert not info['off_lane']
        assert np.mean(deviations) < 0.03
        assert info['progress'] > 1.0
        assert info['reward_progress'] > 0.0
    environment.close()


def test_leaving_the_road_terminates_with_penalty():
    environment = PiBotLaneEnv(time_limit=20.0)
    environment.reset(seed=4)
    terminated = False
    for _ in range(600):
        _, reward, terminated, truncated, info = environment.step(
            np.array([0.2, 2.0], dtype=np.float32))    # tight circles: leaves the lane
        if terminated or truncated:
            break
    assert terminated and info['off_lane']
    assert info['reward_off_lane'] == -10.0
    assert abs(info['deviation']) > info['half_width']
    environment.close()


def test_dropped_frames_lengthen_the_step():
    environment = PiBotLaneEnv(time_limit=5.0, drop=0.5)
    environment.reset(seed=0)
    dts = [environment.step(np.zeros(2, dtype=np.float32))[4] for _ in range(40)]
    frame = 1.0 / 30.0
    assert any(i['dropped'] > 0 for i in dts)
    for info in dts:
        assert info['dt'] == pytest.approx(frame * (1 + info['dropped']))
    environment.close()


def test_frame_jitter_latency_and_dynamics_are_the_envs_own():
    # Jitter: whole physics steps (1/240 s), varying, the simulation advancing by exactly dt.
    jittery = PiBotLaneEnv(time_limit=5.0, dt_jitter=0.4)
    jittery.reset(seed=1)
    dts = []
    for _ in range(30):
        t0 = jittery.data.time
        info = jittery.step(np.array([0.1, 0.0], dtype=np.float32))[4]
        assert jittery.data.time - t0 == pytest.approx(info['dt'], abs=1e-9)
        dts.append(info['dt'])
    ticks = np.array(dts) * 240.0
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)
    assert len(set(np.round(ticks))) >= 3 and abs(np.mean(ticks) - 8.0) < 1.0
    # Latency: the wheels answer a command two frames later.
    late, now = PiBotLaneEnv(time_limit=5.0, action_delay=2 / 30), PiBotLaneEnv(time_limit=5.0)
    late.reset(seed=2)
    now.reset(seed=2)
    speeds = []
    for env in (late, now):
        for _ in range(2):
            env.step(np.array([0.2, 0.0], dtype=np.float32))
        speeds.append(env.speed())
    assert abs(speeds[0]) < 0.02 < speeds[1]
    # Weak motors drive slower; a payload is heavier.
    weak = PiBotLaneEnv(time_limit=5.0, motor_gain=0.5, mass_scale=1.5)
    weak.reset(seed=2)
    for _ in range(15):
        weak.step(np.array([0.2, 0.0], dtype=np.float32))
        now.step(np.array([0.2, 0.0], dtype=np.float32))
    assert weak.speed() < 0.7 * now.speed()
    assert weak.model.body_mass[weak.model.body('base_footprint').id] == pytest.approx(
        1.5 * now.model.body_mass[now.model.body('base_footprint').id])
    for env in (jittery, late, now, weak):
        env.close()


def test_speed_observation_and_unseen_textures():
    environment = PiBotLaneEnv(speed_obs=True, texture_set='unseen', time_limit=1.0)
    obs, _ = environment.reset(seed=0)
    assert set(obs) == {'image', 'speed'}
    for _ in range(15):
        obs, *_ = environment.step(np.array([0.15, 0.0], dtype=np.float32))
    assert 0.05 < float(obs['speed'][0]) < 0.2
    assert environment.observation_space.contains(obs)
    environment.close()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='texture_set'):
        PiBotLaneEnv(texture_set='marble')
    with pytest.raises(ValueError, match='camera_rate'):
        PiBotLaneEnv(camera_rate=29.0)
    with pytest.raises(ValueError, match='drop'):
        PiBotLaneEnv(drop=1.0)


def test_registered_id():
    register()
    environment = gymnasium.make('lnn_control/PiBotLane-v0', time_limit=1.0)
    obs, _ = environment.reset(seed=0)
    assert obs.shape == (48, 64, 3)
    environment.close()


def test_frame_perturbations():
    rng = np.random.default_rng(0)
    frame = np.full((48, 64, 3), 100, dtype=np.uint8)
    assert perturb_frame(frame, rng, brightness=60.0).min() == 160
    assert perturb_frame(frame, rng, brightness=200.0).max() == 255   # saturates
    noisy = perturb_frame(frame, rng, noise=20.0).astype(float)
    assert 15.0 < noisy.std() < 25.0
    occluded = perturb_frame(frame, rng, occlusion=0.5)
    assert (occluded == 0).all(axis=2).sum() == 24 * 24
    # As knobs of the shared perturbation layer: applied to the env's frames by make_env.
    from lnn_control.envs import make_env
    env = make_env('lnn_control/PiBotLane-v0', perturb='brightness=60,occlusion=0.3',
                   time_limit=1.0)
    obs, _ = env.reset(seed=0)
    clean = make_env('lnn_control/PiBotLane-v0', time_limit=1.0)
    ref, _ = clean.reset(seed=0)
    assert (obs == 0).all(axis=2).sum() >= 14 * 14 and obs.max() > ref.max() - 1
    assert obs.mean() > ref.mean()
    with pytest.raises(ValueError, match='unknown perturbation knob'):
        make_env('lnn_control/PiBotLane-v0', perturb='rain=1')
    with pytest.raises(ValueError, match='lidar is not implemented by'):
        make_env('lnn_control/PiBotLane-v0', perturb='lidar=5')


def test_shipped_camera_policy_follows_the_lane():
    """The shipped CNN + CfC (numpy runtime) drives a held-out track from pixels alone."""
    from lnn_control.runtime import load_policy
    from lnn_control.train.evaluate import evaluate
    policy = load_policy('pibot_lane_cnn_cfc')
    assert policy.spec.kind == 'conv' and policy.spec.config['head']['kind'] == 'cfc'
    result = evaluate(policy, 'lnn_control/PiBotLane-v0', episodes=1, seed=40_000,
                      time_limit=5.0)
    assert result['success_rate'] == 1.0 and result['metrics']['off_lane'] == 0.0
    assert result['metrics']['distance_m'] > 0.5 and result['metrics']['deviation_cm'] < 5.0
