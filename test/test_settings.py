# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""One declaration per setting: the config fields, the YAML files, the CLI and the policy rule."""

import dataclasses
import math
from pathlib import Path
import shutil
import typing

from lnn_control.ros.node_config import NodeConfig
from lnn_control.ros.node_config import policy_refusal
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.policy import builtin_policies
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.settings import APPLY
from lnn_control.runtime.settings import check_setting
from lnn_control.runtime.settings import default_of
from lnn_control.runtime.settings import settings_of
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GROUPS = ((NodeConfig, ''), (ControllerConfig, ''), (AdaptationConfig, 'adaptation_'))


def _parameters():
    """Parameter name -> (field, setting, type) as lnn_control.ros.parameters declares them."""
    table = {}
    for cls, prefix in GROUPS:
        hints = typing.get_type_hints(cls)
        for f, spec in settings_of(cls):
            table[spec.param or prefix + f.name] = (f, spec, hints[f.name])
    return table


def test_every_setting_is_documented_ranged_and_typed():
    table = _parameters()
    assert len(table) == len(set(table))
    for name, (f, spec, kind) in table.items():
        assert spec.doc and spec.apply in APPLY, name
        if kind in (int, float):
            # Every number has a range in its descriptor (out-of-range sets are refused).
            assert spec.low is not None and spec.high is not None, name
            default = spec.param_default if spec.param_default is not None else default_of(f)
            assert spec.low <= default <= spec.high, name
        if spec.choices:
            assert default_of(f) in spec.choices, name
    # The safety settings the node must apply while running are live.
    for name in ('max_v', 'max_w', 'max_accel_v', 'max_accel_w', 'max_output',
                 'watchdog_timeout', 'neuron_state_rate', 'adaptation',
                 'adaptation_trust_radius', 'correction_timeout', 'goal_tolerance'):
        assert table[name][1].apply == 'step', name
    assert table['policy'][1].apply == 'swap'
    for name in ('mode', 'trigger', 'command_type', 'cmd_topic', 'scan_topic',
                 'adaptation_features'):
        assert table[name][1].apply == 'configure', name
    for name in ('policy_dirs', 'adapted_dir', 'autostart'):
        assert table[name][1].apply == 'start', name
    # The node's adaptation is off by default, an AdaptationConfig made in Python is on.
    assert table['adaptation'][1].param_default is False and AdaptationConfig().enabled


@pytest.mark.parametrize('name', ['pibot_controller', 'pendulum_controller',
                                  'pibot_lane_controller'])
def test_params_files_use_declared_parameters_with_valid_values(name):
    data = yaml.safe_load((ROOT / 'config' / f'{name}.yaml').read_text())
    params = data['/**']['ros__parameters']
    table = _parameters()
    for key, value in params.items():
        if key == 'use_sim_time':
            continue
        assert key in table, f'{name}.yaml: {key} is not a parameter of lnn_controller'
        f, spec, kind = table[key]
        assert check_setting(key, spec, value) is None, (key, value)
        if kind is float:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), key
        elif typing.get_origin(kind) is list:
            assert isinstance(value, list), key
        else:
            assert isinstance(value, kind), key


def test_command_type_names_match_the_message_builders():
    readings = pytest.importorskip('lnn_control.ros.readings')
    from lnn_control.ros.node_config import COMMAND_TYPE_NAMES
    assert tuple(readings.COMMAND_TYPES) == COMMAND_TYPE_NAMES


def test_check_setting_reasons():
    spec = {f.name: s for f, s in settings_of(ControllerConfig)}
    assert check_setting('max_v', spec['max_v'], 0.1) is None
    assert 'must be >= 0' in check_setting('max_v', spec['max_v'], -0.1)
    assert 'must be <= 10' in check_setting('max_v', spec['max_v'], 11.0)
    assert 'number' in check_setting('max_v', spec['max_v'], math.nan)
    assert 'one of' in check_setting('mode', spec['mode'], 'legs')


def test_finetune_options_come_from_the_adaptation_fields():
    from lnn_control.cli import build_parser
    parser = build_parser()
    args = parser.parse_args(['finetune', 'pibot_nav_cfc', '--corrections', 'x.npz',
                              '--patience', '3', '--features', 'output'])
    for f in dataclasses.fields(AdaptationConfig):
        if f.name != 'enabled':
            assert hasattr(args, f.name), f.name
    assert args.patience == 3 and args.features == 'output'
    assert args.forgetting == AdaptationConfig().forgetting
    assert args.correction_timeout == ControllerConfig().correction_timeout


def test_policy_directories(tmp_path):
    builtins = builtin_policies()
    allowed, outside = tmp_path / 'policies', tmp_path / 'elsewhere'
    allowed.mkdir()
    outside.mkdir()
    source = load_policy('pibot_nav_cfc').source
    shutil.copy(source, allowed / 'mine.safetensors')
    shutil.copy(source, outside / 'theirs.safetensors')
    (allowed / 'link.safetensors').symlink_to(outside / 'theirs.safetensors')
    dirs = [str(allowed)]
    assert policy_refusal('pibot_nav_gru', dirs, builtins) is None
    assert policy_refusal(str(allowed / 'mine.safetensors'), dirs, builtins) is None
    for value in (str(outside / 'theirs.safetensors'),
                  str(allowed / '..' / 'elsewhere' / 'theirs.safetensors'),
                  str(allowed / 'link.safetensors'), '/etc/passwd'):
        reason = policy_refusal(value, dirs, builtins)
        assert reason and 'outside the policy directories' in reason, value
        assert 'policy_dirs' in reason
    assert 'neither a built-in policy' in policy_refusal('pibot_nav_xyz', dirs, builtins)
    assert policy_refusal(str(allowed / 'mine.safetensors'), [], builtins)
