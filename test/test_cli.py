# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``lnn-control`` command: --version, list, info, eval defaults and its help texts."""

import argparse
import json
import os
from pathlib import Path
import re
import subprocess
import sys

from lnn_control.cli import build_parser
from lnn_control.cli import main
from lnn_control.runtime.policy import builtin_policies
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*argv, timeout=120, **env):
    """Run ``python -m lnn_control.cli`` in a fresh process (no display, MUJOCO_GL unset)."""
    environ = {k: v for k, v in os.environ.items() if k not in ('MUJOCO_GL', 'DISPLAY')}
    environ.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1', **env)
    return subprocess.run([sys.executable, '-m', 'lnn_control.cli', *argv], env=environ,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['--version'])
    assert exit_.value.code == 0
    assert re.fullmatch(r'lnn-control \d+\.\d+\.\d+\S*\n', capsys.readouterr().out)


def test_list_shows_policies_with_env_and_score_envs_and_experts(capsys):
    assert main(['list']) == 0
    out = capsys.readouterr().out
    for name in builtin_policies():
        assert re.search(rf'^  {name} ', out, re.MULTILINE), name
    assert re.search(r'pibot_nav_cfc +cfc +lnn_control/PiBotNav-v0 +success 0\.98 '
                     r'\(100 episodes from seed 10000\)', out)
    assert re.search(r'pibot_lane_cnn_cfc +conv +lnn_control/PiBotLane-v0 +success 1 '
                     r'\(20 episodes from seed 20000\)', out)
    assert re.search(r'pendulum_cfc +cfc +InvertedPendulum-v5 +return 1000 ', out)
    assert 'lnn_control/PiBotLane-v0     lnn_control.envs.pibot_lane:PiBotLaneEnv' in out
    assert re.search(r'InvertedPendulum-v5 +InvertedPendulumLQR', out)
    assert main(['list', '--json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert {p['name'] for p in data['policies']} == set(builtin_policies())
    assert all(p['env'] and p['held_out']['episodes'] >= 20 for p in data['policies'])
    assert data['experts']['lnn_control/PiBotNav-v0'] == 'PiBotNavExpert'
    assert data['envs']['lnn_control/PiBotNav-v0']['max_episode_steps'] == 1200


def test_info_on_a_camera_policy_is_a_short_summary(capsys):
    assert main(['info', 'pibot_lane_cnn_cfc']) == 0
    out = capsys.readouterr().out
    assert len(out) < 2500 and 'px1' not in out          # was 74,599 characters of names
    assert re.search(r'^observation +\(48, 64, 3\) uint8 in \[0, 255\]$', out, re.MULTILINE)
    assert re.search(r'^ +v +-0\.22 \.\. 0\.22 +m/s$', out, re.MULTILINE)
    assert re.search(r'^ +w +-2\.84 \.\. 2\.84 +rad/s$', out, re.MULTILINE)
    assert re.search(r'^observer +camera frames 64 x 48 px rgb8', out, re.MULTILINE)
    assert re.search(r'^model +conv \(head cfc\), 10,372 parameters, state 19 values$', out,
                     re.MULTILINE)
    assert re.search(r'^env +lnn_control/PiBotLane-v0$', out, re.MULTILINE)
    assert main(['info', 'pibot_lane_cnn_cfc', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['obs']['shape'] == [48, 64, 3]


def test_info_on_a_vector_policy_shows_limits_units_and_observer(capsys):
    assert main(['info', 'pibot_nav_cfc']) == 0
    out = capsys.readouterr().out
    assert re.search(r'^ +lidar_0 \.\. lidar_11 \(12\) +0 \.\. 1 +1$', out, re.MULTILINE)
    assert re.search(r'^ +goal_distance +0 \.\. 5 +m$', out, re.MULTILINE)
    assert re.search(r'^observer +.*lidar_sectors=12 .*range_max=3\.5', out, re.MULTILINE)
    assert re.search(r'^actuator +max_accel_v=2\.5 max_accel_w=3\.2 max_v=0\.22 max_w=2\.84$',
                     out, re.MULTILINE)
    assert re.search(r'^held-out +success 0\.98 \(100 episodes', out, re.MULTILINE)


def _parsers(parser, path=('lnn-control',)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def test_every_command_and_option_has_help_that_describes_it():
    parsers = list(_parsers(build_parser()))
    assert len(parsers) >= 10
    for path, parser in parsers:
        assert parser.description and not re.search(r'issue \d', parser.description), path
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f'{" ".join(path)} {action.option_strings or action.dest}'
            assert not re.search(r'issue \d', action.help), (path, action.help)


def test_eval_defaults_to_the_env_in_the_provenance(tmp_path, capsys):
    from lnn_control.models import GRU
    from lnn_control.models import save_policy
    plain = save_policy(GRU(4, 1, hidden_size=4), tmp_path / 'plain.safetensors')
    assert main(['eval', str(plain), '--episodes', '1']) == 2
    assert 'records no env in its provenance; give --env' in capsys.readouterr().err
    assert main(['eval', 'expert']) == 2
    assert 'the expert needs --env' in capsys.readouterr().err
    out = tmp_path / 'r.json'
    assert main(['eval', 'pendulum_gru', '--episodes', '1', '--json', str(out)]) == 0
    assert json.loads(out.read_text())['env_id'] == 'InvertedPendulum-v5'


@pytest.mark.parametrize('name', ['pibot_lane_cnn_cfc'])
def test_eval_runs_a_camera_policy_headless(tmp_path, name):
    """A fresh process without a display: the render backend, the frame, the episode end."""
    out = tmp_path / 'lane.json'
    done = _run('eval', name, '--episodes', '1', '--json', str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['env_id'] == 'lnn_control/PiBotLane-v0'
    episode = result['per_episode'][0]
    assert episode['truncated'] and episode['steps'] == 600
    assert result['mean_return'] > 25.0         # drove the 20 s on the road (expert: ~33)
