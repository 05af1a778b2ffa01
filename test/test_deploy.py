# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The Raspberry Pi deployment path, read statically: systemd unit, launch arguments, README.

The unit must start what exists: ``ros2 launch lnn_control robot.launch.py`` with arguments
the launch file declares, a params file the package installs, a built-in policy name, and stop
with the signal on which lnn_controller publishes its zero command. The robot-side install
(``pip install .`` base requirements) has no torch, and the node imports without it.
"""

import ast
import configparser
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / 'config' / 'systemd' / 'lnn_controller.service'


def _unit():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    return parser


def _environment(unit):
    env = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith('Environment='):
            key, _, value = line[len('Environment='):].partition('=')
            env[key] = value
    return env


def _declared_launch_arguments(path):
    tree = ast.parse(path.read_text())
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, 'id', '') ==
            'DeclareLaunchArgument' and node.args and isinstance(node.args[0], ast.Constant)}


def test_unit_starts_the_robot_launch_file_with_declared_arguments():
    unit = _unit()
    assert {'Unit', 'Service', 'Install'} <= set(unit.sections())
    service = unit['Service']
    command = service['ExecStart']
    match = re.search(r'ros2 launch (\w+) (\S+\.launch\.py)((?: \S+:=\S+)*)', command)
    assert match, command
    package, launch_file, arguments = match.groups()
    assert package == 'lnn_control' and (ROOT / 'launch' / launch_file).is_file()
    assert 'source /opt/ros/jazzy/setup.bash' in command
    declared = _declared_launch_arguments(ROOT / 'launch' / launch_file)
    given = dict(a.strip('\'"').split(':=', 1) for a in arguments.split())
    assert set(given) <= declared and 'policy' in given, (given, declared)
    env = _environment(unit)
    values = {k: env[v[2:-1]] if v.startswith('${') else v for k, v in given.items()}
    # The params file is the one the package installs (setup.py installs config/ under share).
    params = values['params_file']
    assert params.endswith('share/lnn_control/config/pibot_controller.yaml')
    assert (ROOT / 'config' / 'pibot_controller.yaml').is_file()
    assert "data_tree('config')" in (ROOT / 'setup.py').read_text()
    # The example policy is a copy of a shipped one.
    assert (ROOT / 'lnn_control' / 'policies' / Path(values['policy']).name).is_file()
    # The launch file's only node is the console script lnn_controller.
    assert "executable='lnn_controller'" in (ROOT / 'launch' / launch_file).read_text()
    assert "'lnn_controller = lnn_control.ros.controller_node:main'" in (
        ROOT / 'setup.py').read_text()


def test_unit_stops_with_the_signal_that_zeroes_the_command():
    service = _unit()['Service']
    assert service['KillSignal'] == 'SIGINT'
    assert service['Restart'] == 'on-failure'
    assert float(service['TimeoutStopSec']) >= 5
    # The node's start-up turns SIGINT (and SIGTERM) into a stop flag and keeps the context
    # up, so its zero command still goes out (the over-DDS check is in test_ros_controller).
    node = (ROOT / 'lnn_control' / 'ros' / 'controller_node.py').read_text()
    assert re.search(r'stop = init_until_signal\(args\)', node)
    probe = ('import os, signal, rclpy\n'
             'from lnn_control.ros.process import init_until_signal\n'
             'stop = init_until_signal([])\n'
             'for signum in (signal.SIGINT, signal.SIGTERM):\n'
             '    os.kill(os.getpid(), signum)\n'
             'print(len(stop), rclpy.ok())\n'
             'rclpy.shutdown()\n')
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.split() == ['2', 'True'], result.stderr
    assert _unit()['Install']['WantedBy'] == 'multi-user.target'


@pytest.mark.skipif(shutil.which('systemd-analyze') is None, reason='no systemd-analyze')
def test_systemd_accepts_the_unit():
    result = subprocess.run(['systemd-analyze', 'verify', str(UNIT)], capture_output=True,
                            text=True, timeout=60)
    # It exits 0 on ignored settings too; those are reported on stderr with the file name.
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if UNIT.name in line]
    assert result.returncode == 0 and not complaints, result.stderr


def test_robot_install_has_no_torch_and_the_node_imports_without_it():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    requires = next(ast.literal_eval(k.value) for node in ast.walk(tree)
                    if isinstance(node, ast.Call) for k in node.keywords
                    if k.arg == 'install_requires')
    assert not [r for r in requires if r.startswith('torch')], requires
    code = ("import sys; sys.modules['torch'] = None\n"
            'import lnn_control.ros.controller_node\n'
            'from lnn_control.runtime import load_policy\n'
            "load_policy('pibot_nav_cfc')\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_readme_guide_names_what_exists():
    readme = (ROOT / 'README.md').read_text()
    start = readme.index('## Running on a Raspberry Pi')
    guide = readme[start:readme.index('\n## ', start + 1)]
    assert 'config/systemd/lnn_controller.service' in guide
    for needed in ('ros2 launch lnn_control robot.launch.py', '/diagnostics',
                   'lnn-control info', 'colcon build', 'systemctl'):
        assert needed in guide, needed
    assert 'torch' in guide                         # it says: no torch on the robot
