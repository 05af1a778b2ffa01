# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Experts: the privileged PiBotNav planner and the LQR pendulum experts."""

import math

import gymnasium
from gymnasium.vector import SyncVectorEnv
from lnn_control.envs import register
from lnn_control.envs.experts import clearance_map
from lnn_control.envs.experts import EXPERTS
from lnn_control.envs.experts import InvertedDoublePendulumLQR
from lnn_control.envs.experts import InvertedPendulumLQR
from lnn_control.envs.experts import linearise
from lnn_control.envs.experts import make_expert
from lnn_control.envs.experts import PiBotNavExpert
from lnn_control.envs.pibot_nav import PiBotNavEnv
import mujoco
import numpy as np
import pytest


def episode(env, expert, seed, options=None, use='info'):
    obs, info = env.reset(seed=seed, options=options)
    while True:
        state = {'info': info, 'env': env, 'state': info['state']}[use]
        obs, reward, terminated, truncated, info = env.step(expert.act(obs, state))
        if terminated or truncated:
            return info


@pytest.mark.parametrize('seed', range(5))
def test_nav_expert_reaches_the_goal(seed):
    env = PiBotNavEnv()
    info = episode(env, PiBotNavExpert(), seed)
    assert info['is_success'] and not info['collision']


def test_nav_expert_is_robust_to_perturbations():
    env = PiBotNavEnv(n_obstacles=12, drop=0.2, dt_jitter=0.3, action_delay=0.1,
                      motor_gain=(0.9, 1.1), mass_scale=1.5, friction_scale=0.5)
    assert episode(env, PiBotNavExpert(), seed=11)['is_success']


def test_nav_expert_gets_round_an_obstacle_in_the_way():
    options = {'start': (-1.0, 0.0, 0.0), 'goal': (1.0, 0.0),
               'obstacles': [(11, 0.0, 0.0, 0.0), (3, 0.0, 0.9, 0.0), (7, 0.0, -0.9, 0.0)]}
    env = PiBotNavEnv()
    info = episode(env, PiBotNavExpert(), seed=0, options=options, use='env')
    assert info['is_success']


def test_state_sources_agree_and_dagger_states_are_labelled():
    env = PiBotNavEnv()
    expert = make_expert(env)
    assert isinstance(expert, PiBotNavExpert)
    obs, info = env.reset(seed=4)
    for _ in range(15):   # a "learner" that drives badly, then the expert is asked
        obs, _, _, _, info = env.step([0.1, 1.5])
    labels = [expert.act(obs, info), expert.act(obs, env), expert.act(obs, info['state']),
              expert.act(obs, expert.state_of(env))]
    for label in labels[1:]:
        np.testing.assert_array_equal(label, labels[0])
    assert labels[0].dtype == np.float32 and env.action_space.contains(labels[0])
    with pytest.raises(TypeError, match='true state'):
        expert.act(obs, None)


def test_expert_through_a_vector_env():
    register()
    envs = SyncVectorEnv([lambda: gymnasium.make('lnn_control/PiBotNav-v0')] * 2)
    expert = make_expert('lnn_control/PiBotNav-v0')
    obs, infos = envs.reset(seed=[1, 2])
    for _ in range(5):
        actions = np.stack([expert.act(obs[i], infos['state'][i]) for i in range(2)])
        obs, _, _, _, infos = envs.step(actions)
    assert len(expert._plans) == 2   # one plan per episode, cached


def test_clearance_map():
    env = PiBotNavEnv()
    env.reset(seed=0, options={'start': (-1.0, -1.0, 0.0), 'goal': (1.0, 1.0),
                               'obstacles': [(3, 0.0, 0.0, 0.0), (11, 1.0, -1.0, 0.5)]})
    state = env.state()
    xs = np.array([0.5, 0.0, 1.0, 1.9, 1.0 + 0.2 * math.cos(0.5)])
    ys = np.array([0.0, 0.0, -1.0, 1.9, -1.0 + 0.2 * math.sin(0.5)])
    np.testing.assert_allclose(clearance_map(state, xs, ys), [0.35, -0.15, -0.10, 0.1, 0.05],
                               atol=1e-9)


def test_expert_registry():
    assert set(EXPERTS) >= {'lnn_control/PiBotNav-v0', 'InvertedPendulum-v5',
                            'InvertedDoublePendulum-v5'}
    with pytest.raises(KeyError, match='no expert'):
        make_expert('CartPole-v1')


def test_inverted_pendulum_lqr_scores_1000():
    env = gymnasium.make('InvertedPendulum-v5')
    expert = make_expert(env)
    assert isinstance(expert, InvertedPendulumLQR) and expert.closed_loop_radius < 1.0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for _ in range(1000):
            obs, reward, terminated, truncated, _ = env.step(expert.act(obs))
            total += reward
            if terminated or truncated:
                break
        assert total == 1000.0


def test_inverted_double_pendulum_lqr_balances():
    env = gymnasium.make('InvertedDoublePendulum-v5')
    expert = InvertedDoublePendulumLQR(env)
    obs, _ = env.reset(seed=0)
    for step in range(1000):
        from_env = expert.act(obs, env)
        action = expert.act(obs)
        np.testing.assert_allclose(action, from_env, atol=1e-4)   # obs suffices
        obs, reward, terminated, truncated, _ = env.step(action)
        assert not terminated
        if truncated:
            break
    assert step == 999


def test_linearise_paths_agree():
    # The same model with a semi-implicit integrator: mjd_transitionFD composed over
    # frame_skip must match the rollout differences used for RK4 models.
    env = gymnasium.make('InvertedPendulum-v5')
    model = env.unwrapped.model
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    a_fd, b_fd = linearise(model, frame_skip=2)
    from lnn_control.envs.experts import _rollout_fd
    a_roll, b_roll = _rollout_fd(model, 2, 1e-6)
    np.testing.assert_allclose(a_fd, a_roll, atol=1e-5)
    np.testing.assert_allclose(b_fd, b_roll, atol=1e-5)
    assert np.max(np.abs(np.linalg.eigvals(a_fd))) > 1.0   # upright is unstable open loop
