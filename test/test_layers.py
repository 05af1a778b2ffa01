# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The import rules of DESIGN.md: the robot side never needs torch, only ros/ uses rclpy."""

import ast
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / 'lnn_control'

# Top-level modules each part of the package must not import (even lazily).
FORBIDDEN = {
    'wirings.py': {'torch', 'rclpy', 'mujoco', 'gymnasium', 'lnn_control.models',
                   'lnn_control.train', 'lnn_control.ros', 'lnn_control.envs'},
    'runtime': {'torch', 'rclpy', 'mujoco', 'gymnasium', 'ncps', 'lnn_control.models',
                'lnn_control.train', 'lnn_control.ros', 'lnn_control.envs'},
    'models': {'rclpy', 'mujoco', 'gymnasium', 'ncps', 'lnn_control.ros',
               'lnn_control.train', 'lnn_control.envs'},
    'envs': {'torch', 'rclpy', 'ncps', 'lnn_control.models', 'lnn_control.train',
             'lnn_control.ros'},
    'compat': {'rclpy', 'mujoco', 'gymnasium', 'ncps', 'lnn_control.ros', 'lnn_control.train',
               'lnn_control.envs'},
    'train': {'rclpy', 'ncps', 'lnn_control.ros'},
    'ros': {'torch', 'ncps', 'lnn_control.models', 'lnn_control.train'},
    # Keystores and permissions are made on any machine, ROS installed or not.
    'security': {'torch', 'rclpy', 'mujoco', 'gymnasium', 'ncps', 'lnn_control.models',
                 'lnn_control.train', 'lnn_control.envs', 'lnn_control.runtime'},
    # The node descriptions come from the runtime's configs (numpy only: see the test below).
    'ros/interfaces.py': {'rclpy', 'torch', 'mujoco', 'gymnasium', 'lnn_control.envs'},
}


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _violations():
    found = []
    for part, forbidden in FORBIDDEN.items():
        target = PKG / part
        files = [target] if target.is_file() else sorted(target.rglob('*.py'))
        for path in files:
            for name in _imports(path):
                for bad in forbidden:
                    if name == bad or name.startswith(bad + '.'):
                        found.append(f'{path.relative_to(ROOT)} imports {name}')
    return found


def test_import_rules_hold():
    assert _violations() == []


# Ray (the distributed extra) is imported by these modules only, and lazily (inside functions).
RAY_MODULES = {'train/sweep.py', 'train/distributed.py'}
# ... and these reach Ray through lnn_control.train.distributed (ray_session).


def test_ray_is_imported_lazily_by_the_distributed_modules_only():
    found = []
    for path in sorted(PKG.rglob('*.py')):
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if not any(n == 'ray' or n.startswith('ray.') for n in names):
                continue
            where = str(path.relative_to(PKG))
            if where not in RAY_MODULES:
                found.append(f'{where} imports ray')
            elif id(node) in top:
                found.append(f'{where} imports ray at module level')
    assert found == []


def test_rule_checker_sees_a_violation(tmp_path, monkeypatch):
    fake = tmp_path / 'lnn_control'
    (fake / 'runtime').mkdir(parents=True)
    (fake / 'runtime' / 'bad.py').write_text('def f():\n    import torch\n')
    monkeypatch.setattr(sys.modules[__name__], 'PKG', fake)
    monkeypatch.setattr(sys.modules[__name__], 'ROOT', tmp_path)
    assert any('imports torch' in v for v in _violations())


@pytest.mark.parametrize('modules', [
    'lnn_control.runtime, lnn_control.wirings, lnn_control.runtime.policy',
])
def test_robot_side_imports_with_torch_absent(modules):
    code = ('import sys\n'
            "sys.modules['torch'] = None\n"
            f'import {modules}\n'
            'from lnn_control.runtime import CELLS, load_policy\n'
            "assert {'cfc', 'ltc', 'mlp', 'gru', 'lstm'} <= set(CELLS), sorted(CELLS)\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_keystores_are_made_without_ros_torch_or_mujoco():
    # lnn-control security reads the node descriptions (ros/interfaces.py, which takes its
    # parameters from the runtime's configs) on any machine.
    code = ('import sys\n'
            "for name in ('torch', 'rclpy', 'mujoco', 'gymnasium'):\n"
            '    sys.modules[name] = None\n'
            'import lnn_control.ros.interfaces as ifc, lnn_control.security.cli\n'
            'assert ifc.controller_interfaces({})\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
