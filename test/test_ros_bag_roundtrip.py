# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Robot recording -> data set -> policy -> driving, with true rosbag2 files recorded over DDS.

``lnn_sim``, the expert driver and the rosbags recorder run as three processes (real DDS,
sim time); the bag goes through ``lnn-control dataset from-bag``, a small CfC is fitted on it
(behaviour cloning only, no simulator data), and the numpy-runtime policy then drives the
PiBotNav env on the recorded scenes (same seeds) and on new ones.
"""

import json
from pathlib import Path
import subprocess
import sys

from lnn_control.ros.bags import bag_topics
from lnn_control.ros.expert_driver import record
from lnn_control.runtime.sequences import load_dataset
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED, EPISODES, OBSTACLES = 100, 4, 4


@pytest.fixture(scope='module')
def recording(ros_env, tmp_path_factory):
    out = tmp_path_factory.mktemp('bags') / 'expert'
    return record(out, EPISODES, seed=SEED, n_obstacles=OBSTACLES, real_time_factor=2.0,
                  env=ros_env, timeout=240)


@pytest.mark.slow
def test_bag_to_policy_that_reaches_goals(recording, tmp_path):
    assert all(e['reached'] for e in recording['episodes']), recording['episodes']
    if recording['recorder_returncode'] != 0:    # the bag must still be whole (checked below)
        print('recorder exit status', recording['recorder_returncode'],
              recording['recorder_stderr'][-300:])
    topics = bag_topics(recording['bag'])
    assert topics['/cmd_vel'][0] == 'geometry_msgs/msg/TwistStamped'
    assert topics['/goal_pose'][1] == EPISODES          # one goal per scene
    assert list(Path(recording['bag']).glob('*.mcap'))

    data_path = tmp_path / 'expert.npz'
    cli = [sys.executable, '-m', 'lnn_control.cli']
    result = subprocess.run(cli + ['dataset', 'from-bag', str(recording['bag']),
                                   '--config', 'pibot_nav_cfc', '--out', str(data_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = load_dataset(data_path)
    # An episode per scene (a new goal starts one), each scene's last ending at its goal; a
    # driver lagging on this shared machine may leave a step unanswered (counted), which
    # splits a scene. Steps every odometry period of sim time, whatever the wall-clock pace.
    print(data.meta['dropped'], data.lengths.tolist())
    assert data.episodes >= EPISODES and int(data.success.sum()) == EPISODES
    assert abs(float(np.median(data.dt)) - 0.05) < 1e-6
    assert data.steps > 15 * 20 * EPISODES * 0.5

    from lnn_control.train.config import config_from_dict
    from lnn_control.train.imitation import train
    from lnn_control.train.evaluate import evaluate
    cfg = config_from_dict({
        'name': 'from_bag', 'env': {'kwargs': {'n_obstacles': OBSTACLES}},
        'model': {'kind': 'cfc', 'kwargs': {'units': {'kind': 'auto_ncp', 'units': 19,
                                                      'output_size': 2, 'seed': 22222}}},
        'bc': {'dataset': str(data_path), 'steps': 400, 'batch_size': 16, 'seq_len': 32,
               'burn_in': 8},
        'dagger': {'rounds': 0}, 'eval': {'episodes': 0, 'test_episodes': 0}})
    policy = train(cfg, out=tmp_path / 'run', progress=False)
    seen = evaluate(str(policy), 'lnn_control/PiBotNav-v0', episodes=EPISODES, seed=SEED,
                    n_obstacles=OBSTACLES)
    new = evaluate(str(policy), 'lnn_control/PiBotNav-v0', episodes=10, seed=20_000,
                   n_obstacles=OBSTACLES)
    print(json.dumps({'recorded_scenes_success': seen['success_rate'],
                      'new_scenes_success': new['success_rate'], 'steps': data.steps}))
    assert seen['success_rate'] >= 0.5, seen['per_episode']
