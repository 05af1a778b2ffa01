# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 package: manifest, setup metadata, and a real ``colcon build`` of it."""

import ast
import json
from pathlib import Path
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _setup_call():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'setup':
            return {kw.arg: kw.value for kw in node.keywords if kw.arg}
    raise AssertionError('setup() call not found')


def _console_scripts():
    entry = ast.literal_eval(_setup_call()['entry_points'])
    return [line.split('=')[0].strip() for line in entry['console_scripts']]


def test_package_xml_is_format_3_ament_python_and_matches_setup():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    assert root.findtext('name') == 'lnn_control'
    assert root.findtext('export/build_type') == 'ament_python'
    setup_src = (ROOT / 'setup.py').read_text()
    assert f"version='{root.findtext('version')}'" in setup_src
    exec_deps = {e.text for e in root.findall('exec_depend')}
    assert {'rclpy', 'sensor_msgs', 'geometry_msgs', 'nav_msgs', 'diagnostic_msgs'} <= exec_deps
    test_deps = {e.text for e in root.findall('test_depend')}
    assert {'ament_flake8', 'ament_pep257', 'ament_copyright', 'python3-pytest'} <= test_deps
    assert (ROOT / 'resource' / 'lnn_control').is_file()


def test_setup_cfg_puts_executables_where_ros2_run_looks():
    text = (ROOT / 'setup.cfg').read_text()
    assert 'script_dir=$base/lib/lnn_control' in text
    assert 'install_scripts=$base/lib/lnn_control' in text


def test_ros_wheels_are_an_optional_extra_not_a_requirement():
    call = _setup_call()
    requires = ast.literal_eval(call['install_requires'])
    assert not any(r.startswith(('ros-', 'torch', 'rclpy')) for r in requires)
    code = ('import json, runpy, setuptools\n'
            'setuptools.setup = lambda **kw: print(json.dumps(kw["extras_require"]))\n'
            'runpy.run_path("setup.py")\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    extras = json.loads(out)
    assert 'ros-jazzy-rclpy' in extras['ros'] and 'ros-jazzy-rmw-fastrtps-cpp' in extras['ros']
    assert 'torch==2.13.0' in extras['train']
    assert {'train', 'sim', 'ros', 'dev'} <= set(extras)


@pytest.mark.slow
def test_colcon_build_lays_out_a_ros_package(tmp_path):
    colcon = shutil.which('colcon') or str(Path(sys.executable).parent / 'colcon')
    src = tmp_path / 'src' / 'lnn_control'
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    result = subprocess.run([colcon, 'build', '--base-paths', 'src',
                             '--event-handlers', 'console_direct-'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / 'install' / 'lnn_control'
    for script in _console_scripts():
        assert (install / 'lib' / 'lnn_control' / script).is_file(), script
    share = install / 'share' / 'lnn_control'
    assert (share / 'package.xml').is_file()
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages'
            / 'lnn_control').is_file()
    for folder in ('launch', 'config', 'sim'):
        for path in (src / folder).rglob('*'):
            if path.is_file():
                assert (share / path.relative_to(src)).is_file(), path
    site = list(install.glob('lib/python3*/site-packages/lnn_control/wirings.py'))
    assert site, 'python package not installed'
