# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The launch files, read statically (launch/launch_ros are not installable here).

Every executable they start is a console_script of setup.py, every params file they name is in
config/, every LaunchConfiguration is declared. Where ``launch`` imports, they are also loaded.
"""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))
EXPECTED = {'sim_demo.launch.py': {'lnn_sim', 'lnn_controller'},
            'robot.launch.py': {'lnn_controller'}}


def _console_scripts():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    return {ast.literal_eval(item).split('=')[0].strip()
                            for item in value.elts}
    raise AssertionError('no console_scripts in setup.py')


def _calls(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, 'attr', None)
            if called == name:
                yield node


def _keyword(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _strings(tree):
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_the_expected_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} >= set(EXPECTED)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_executables_are_console_scripts(path):
    tree = ast.parse(path.read_text())
    scripts = _console_scripts()
    executables = set()
    for call in _calls(tree, 'Node'):
        package = _keyword(call, 'package')
        executable = _keyword(call, 'executable')
        assert isinstance(package, ast.Constant) and package.value == 'lnn_control'
        assert isinstance(executable, ast.Constant), 'executable must be a literal'
        executables.add(executable.value)
    assert executables <= scripts, f'{executables - scripts} not in setup.py console_scripts'
    assert executables == EXPECTED.get(path.name, executables)


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_params_files_exist(path):
    tree = ast.parse(path.read_text())
    named = {s for s in _strings(tree) if s.endswith(('.yaml', '.yml'))}
    assert named, 'a launch file should name its default parameters file'
    for name in named:
        file = ROOT / 'config' / name
        assert file.is_file(), f'{path.name} names config/{name}, which does not exist'
        data = yaml.safe_load(file.read_text())
        assert all('ros__parameters' in section for section in data.values())
    # A PathJoinSubstitution pointing at a package file must say 'config' before the name.
    for call in _calls(tree, 'PathJoinSubstitution'):
        first = call.args[0].elts[0]
        if isinstance(first, ast.Call) and first.func.id == 'EnvironmentVariable':
            continue   # a path in the user's home (the keystore), not a package file
        parts = [ast.literal_eval(e) for e in call.args[0].elts if isinstance(e, ast.Constant)]
        assert parts[0] == 'config' and (ROOT.joinpath(*parts)).is_file(), parts


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_configurations_are_declared(path):
    tree = ast.parse(path.read_text())
    declared = {ast.literal_eval(c.args[0]) for c in _calls(tree, 'DeclareLaunchArgument')}
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, 'LaunchConfiguration')}
    assert used, 'no LaunchConfiguration found'
    assert used <= declared, f'undeclared: {used - declared}'
    assert {'policy', 'params_file', 'namespace'} <= declared
    for call in _calls(tree, 'DeclareLaunchArgument'):
        assert _keyword(call, 'description') is not None, ast.literal_eval(call.args[0])


def test_sim_demo_runs_the_controller_on_sim_time():
    tree = ast.parse((ROOT / 'launch' / 'sim_demo.launch.py').read_text())
    controller = next(c for c in _calls(tree, 'Node')
                      if _keyword(c, 'executable').value == 'lnn_controller')
    params = ast.unparse(_keyword(controller, 'parameters'))
    assert "'use_sim_time': True" in params
    sim = next(c for c in _calls(tree, 'Node') if _keyword(c, 'executable').value == 'lnn_sim')
    assert 'use_sim_time' not in ast.unparse(sim)   # the clock source runs on wall time


def _literal_list(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f'no {name} in the launch file')


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_security_arguments_set_sros2_and_each_node_has_its_enclave(path):
    from lnn_control.ros.interfaces import ENCLAVES, ROBOT_TOPICS
    tree = ast.parse(path.read_text())
    declared = {ast.literal_eval(c.args[0]): c for c in _calls(tree, 'DeclareLaunchArgument')}
    assert {'security', 'keystore'} <= set(declared)
    default = ast.literal_eval(_keyword(declared['security'], 'default_value'))
    # Secure by default on the robot; the simulation demo opts in.
    assert default == {'robot.launch.py': 'true', 'sim_demo.launch.py': 'false'}[path.name]
    assert 'ROS_SECURITY_KEYSTORE' in ast.unparse(_keyword(declared['keystore'],
                                                           'default_value'))
    env = {}
    for call in _calls(tree, 'SetEnvironmentVariable'):
        condition = ast.unparse(_keyword(call, 'condition'))
        assert condition == 'secure', condition
        env[ast.literal_eval(call.args[0])] = ast.unparse(call.args[1])
    assert env == {'ROS_SECURITY_ENABLE': "'true'", 'ROS_SECURITY_STRATEGY': "'Enforce'",
                   'ROS_SECURITY_KEYSTORE': env.get('ROS_SECURITY_KEYSTORE')}
    assert 'keystore' in env['ROS_SECURITY_KEYSTORE']
    assert "secure = IfCondition(LaunchConfiguration('security'))" in path.read_text()
    module = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                module[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    names = {'lnn_controller': 'controller', 'lnn_sim': 'sim'}
    for call in _calls(tree, 'Node'):
        executable = _keyword(call, 'executable').value
        arguments = _keyword(call, 'ros_arguments')
        assert arguments is not None, f'{executable} has no --enclave'
        flag, enclave = arguments.elts
        assert ast.literal_eval(flag) == '--enclave'
        value = eval(compile(ast.Expression(enclave), path.name, 'eval'), {}, module)
        assert value == ENCLAVES[names[executable]], executable
    # The robot topics the launch files move under the namespace are those the security
    # tools move (lnn-control security create --namespace).
    assert set(_literal_list(tree, 'ROBOT_TOPICS')) <= set(ROBOT_TOPICS)
    assert {'/scan', '/odom', '/goal_pose', '/cmd_vel'} <= set(_literal_list(tree,
                                                                             'ROBOT_TOPICS'))


def test_systemd_unit_runs_the_robot_launch_file_secure():
    unit = (ROOT / 'config' / 'systemd' / 'lnn_controller.service').read_text()
    assert 'security:=${LNN_SECURITY} keystore:=${LNN_KEYSTORE}' in unit
    assert 'Environment=LNN_SECURITY=true' in unit
    assert 'ROS_SECURITY_ENCLAVE_OVERRIDE=/tb3_bringup' in unit   # the bringup's enclave


@pytest.mark.skipif(importlib.util.find_spec('launch') is None
                    or importlib.util.find_spec('launch_ros') is None,
                    reason='launch/launch_ros are not installed (not on PyPI for Jazzy)')
@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_load(path):
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    description = get_launch_description_from_python_launch_file(str(path))
    names = {a.name for a in description.get_launch_arguments()}
    assert {'policy', 'params_file', 'namespace'} <= names
