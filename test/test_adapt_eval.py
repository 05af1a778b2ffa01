# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The adaptation experiment (lnn_control.train.adapt_eval, issue 7) on real MuJoCo physics.

A short run of the whole experiment (weak motors, the simulated operator, the adapting and the
frozen policy, the autonomous evaluations) and the report built from it; the intervention
timeline on hand-made episodes.
"""

import json

from lnn_control.train.adapt_eval import driving_time
from lnn_control.train.adapt_eval import fixed_gains
from lnn_control.train.adapt_eval import markdown
from lnn_control.train.adapt_eval import merge
from lnn_control.train.adapt_eval import run_experiment
from lnn_control.train.adapt_eval import timeline
from lnn_control.train.adapt_eval import write_report
import numpy as np
import pytest


def _episode(seconds, flags):
    return {'seconds': seconds, 'steps': len(flags), 'flags': flags}


def test_timeline_counts_driving_time_across_episodes():
    # 90 s of driving: 60 steps of 1 s, then 30 steps of 1 s; the operator drove the first
    # 30 s and the last 10 s.
    episodes = [_episode(60.0, '1' * 30 + '0' * 30), _episode(30.0, '0' * 20 + '1' * 10)]
    t, f = driving_time(episodes)
    np.testing.assert_allclose(t, np.arange(90.0))
    assert f.sum() == 40
    np.testing.assert_allclose(timeline(episodes, 30.0), [1.0, 0.0, 1 / 3])
    np.testing.assert_allclose(timeline(episodes, 60.0), [0.5])   # the partial bin is left out


@pytest.mark.slow
def test_short_experiment_on_weak_motors(tmp_path):
    results = run_experiment(['pibot_nav_cfc'], shift='gain=0.5', seeds=1, episodes=3,
                             eval_episodes=2)
    run = results['policies']['pibot_nav_cfc']['runs'][0]
    for key in ('frozen', 'adapting'):
        assert len(run[key]) == 3
        for episode in run[key]:
            assert len(episode['flags']) == episode['steps']
            assert episode['flags'].count('1') == episode['interventions']
    # The weak robot strays, so the operator steps in, and the adapting policy learns gains
    # within the trust region (default features: gain).
    assert sum(e['interventions'] for e in run['frozen']) > 0
    assert run['corrections'] > 0 and run['gain'] is not None
    assert 0.0 < run['drift'] <= results['config']['trust_radius'] + 1e-9
    assert np.linalg.norm(np.array(run['gain']) - 1.0) == pytest.approx(run['drift'])
    summary = results['policies']['pibot_nav_cfc']['summary']
    for key in ('original_shifted', 'adapted_shifted', 'original_clean', 'adapted_clean'):
        assert 0.0 <= summary[key][0] <= 1.0
    # The report: table, JSON that merges back to the same summary, a plot.
    paths = write_report(results, tmp_path)
    assert '| pibot_nav_cfc |' in paths['md'].read_text()
    again = merge([json.loads(paths['json'].read_text())])
    assert markdown(again) == markdown(results)
    assert paths['png'].stat().st_size > 10_000
    with pytest.raises(ValueError, match='different shift'):
        merge([results, dict(results, shift='gain=0.6')])


@pytest.mark.slow
def test_fixed_gains_compensate_weak_motors():
    # Motors at x0.5 and every command doubled: the robot moves as the unshifted one does
    # (up to the Actuator's limits), so the CfC succeeds there as it does on the clean robot.
    rows = fixed_gains(['pibot_nav_cfc'], [(1.0, 1.0), (2.0, 2.0)], 'gain=0.5', episodes=3)
    plain, doubled = rows
    assert plain['gain'] == [1.0, 1.0] and doubled['gain'] == [2.0, 2.0]
    assert plain['clean'] >= 2 / 3 and plain['shifted'] <= 1 / 3
    assert doubled['shifted'] >= 2 / 3
