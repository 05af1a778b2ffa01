# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
SROS2 over real DDS, every participant its own process.

The nodes run with ``ROS_SECURITY_STRATEGY=Enforce`` and a keystore made by
``lnn-control security create``.

The PyPI wheels' Fast DDS has no security, so the secure processes run with the sros2-overlay
(Fast DDS built with security; lnn_control.security.overlay finds it above the repository or
at $LNN_SROS2_OVERLAY and sets the environment env.sh would). Without it these tests skip
with the reason. The participants other than the nodes are test/security_probe.py.
"""

from dataclasses import replace
import json
import os
from pathlib import Path
import subprocess
import sys

from lnn_control.ros import interfaces as ifc
import pytest

pytest.importorskip('cryptography', reason='the security extra (cryptography) is not installed')

from lnn_control.security.keystore import add_enclave  # noqa: E402, I100
from lnn_control.security.keystore import create_keystore  # noqa: E402
from lnn_control.security.overlay import overlay_env  # noqa: E402
from lnn_control.security.overlay import secure_env  # noqa: E402
from lnn_control.security.overlay import unavailable_reason  # noqa: E402
from ros_harness import Process  # noqa: E402
from ros_harness import ros_args  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROBE = str(ROOT / 'test' / 'security_probe.py')
OVERLAY, REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(OVERLAY is None, reason=f'secure DDS unavailable: {REASON}')
# The scene's own goal (PiBotNav's draw for the seed, 1.5 m or more away), sent by the operator:
# a goal from the distribution the policy was trained on. (A hand-placed goal straight ahead is
# not: the shipped CfC misses some of those in simulation too, e.g. 1.6 m ahead at seed 4.)
SEED = 7


def viewer_interfaces(operator):
    """Return the operator's declaration without the correction topic (a valid identity)."""
    return replace(operator, enclave='/viewer', publish=tuple(
        e for e in operator.publish if e.name != '/cmd_vel_teleop'))


@pytest.fixture(scope='module')
def secure(tmp_path_factory):
    """Give the module a domain, a keystore for it and its environments (plain, secure)."""
    import domain_coordinator

    folder = tmp_path_factory.mktemp('secure')
    with domain_coordinator.domain_id() as domain:
        plain = dict(os.environ, ROS_DOMAIN_ID=str(domain),
                     ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        for key in ('ROS_SECURITY_ENABLE', 'ROS_SECURITY_STRATEGY', 'ROS_SECURITY_KEYSTORE'):
            plain.pop(key, None)
        keystore = create_keystore(folder / 'keystore', domain)
        declared = ifc.robot_interfaces({'use_sim_time': True})
        for name in ('controller', 'sim', 'operator'):
            add_enclave(keystore, declared[name], domain)
        add_enclave(keystore, viewer_interfaces(declared['operator']), domain)
        yield {'plain': plain, 'secure': secure_env(overlay_env(plain, OVERLAY), keystore.path),
               'folder': folder, 'keystore': keystore}


def probe(env, action, *args, enclave=None, node='lnn_operator', timeout=120):
    """Run test/security_probe.py in its own process; return its JSON report."""
    argv = [sys.executable, PROBE, action, '--node', node, *args]
    if enclave:
        argv += ['--', '--ros-args', '--enclave', enclave]
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def robot(secure):
    """Start lnn_sim and lnn_controller (sim time), each in its enclave, Enforce."""
    folder, env = secure['folder'], secure['secure']
    sim = Process(env, folder / 'sim.log', [
        sys.executable, '-m', 'lnn_control.ros.sim_node',
        *ros_args('lnn_sim', seed=SEED, n_obstacles=0, real_time_factor=1.0),
        '--enclave', '/lnn_sim'], cwd=ROOT)
    controller = Process(env, folder / 'controller.log', [
        sys.executable, '-m', 'lnn_control.ros.controller_node',
        *ros_args('lnn_controller', use_sim_time=True), '--enclave', '/lnn_controller'],
        cwd=ROOT)
    nodes = {'sim': sim, 'controller': controller}
    yield nodes
    for process in nodes.values():
        process.stop()


def _alive(robot):
    for name, process in robot.items():
        assert process.proc.poll() is None, f'{name} exited:\n{process.text()}'


@pytest.mark.slow
def test_secure_nodes_drive_the_robot_to_the_goal(secure, robot):
    report = probe(secure['secure'], 'drive', '--seconds', '90', enclave='/operator')
    status = report['status']
    assert status.get('reached'), (report, robot['controller'].text())
    assert report['diag']['goals_received'] != '0'
    assert report['diag']['goal_set'] == 'True'
    assert 'Found security directory' in robot['controller'].text()
    _alive(robot)


@pytest.mark.slow
def test_participant_without_credentials_reaches_nothing(secure, robot):
    before = probe(secure['secure'], 'observe', enclave='/operator')
    assert before['params'] is not None and before['diag'], before
    attack = probe(secure['plain'], 'attack', '--seconds', '4', '--goal', '-1.5', '2.0',
                   node='intruder')
    after = probe(secure['secure'], 'observe', enclave='/operator')
    print('participant without credentials:', attack)
    # Nothing it sent was received: no subscriber matched, no service was found.
    assert attack['matched'] == {'goal_pose': 0, 'cmd_vel_teleop': 0}, attack
    assert attack['sets'] == {'max_v': None, 'policy': None}, attack
    assert after['params'] == before['params']
    for key in ('goal_received', 'corrections_received'):
        assert after['diag'][key] == before['diag'][key], (key, before['diag'], after['diag'])
    assert after['status']['goal_odom'] == before['status']['goal_odom']
    # Still in control: its commands keep reaching the robot (zero ones, once at a goal).
    assert after['status']['commands_received'] > before['status']['commands_received']
    _alive(robot)


@pytest.mark.slow
def test_identity_without_the_correction_topic_cannot_override_the_policy(secure, robot):
    env = secure['secure']
    before = probe(env, 'observe', enclave='/operator')
    viewer = probe(env, 'attack', '--seconds', '3', '--no-goals', '--no-params',
                   enclave='/viewer')
    after = probe(env, 'observe', enclave='/operator')
    print('identity without the correction topic:', viewer)
    # Fast DDS refuses the writer its permissions lack (or, at most, nothing matches it).
    assert viewer['errors'] or viewer['matched'].get('cmd_vel_teleop') == 0, viewer
    assert after['diag']['corrections_received'] == before['diag']['corrections_received']
    # The same probe with the operator's identity does reach the controller: the check above
    # would have seen corrections.
    operator = probe(env, 'attack', '--seconds', '3', '--no-goals', '--no-params',
                     enclave='/operator')
    last = probe(env, 'observe', enclave='/operator')
    assert operator['errors'] == [] and operator['matched']['cmd_vel_teleop'] >= 1, operator
    assert int(last['diag']['corrections_received']) > int(after['diag']['corrections_received'])
    # And the operator may set parameters.
    changed = probe(env, 'set', '--value', '0.1', enclave='/operator')
    assert changed['set'] == {'successful': True, 'reason': ''}, changed
    assert changed['params'] == {'max_v': 0.1}
    assert probe(env, 'set', '--value', '0.0', enclave='/operator')['set']['successful']
    _alive(robot)


def test_enforce_with_a_missing_enclave_refuses_to_start_and_names_it(secure):
    result = subprocess.run(
        [sys.executable, '-m', 'lnn_control.ros.controller_node',
         *ros_args('lnn_controller'), '--enclave', '/not_in_the_keystore'],
        env=secure['secure'], cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'not_in_the_keystore' in output, output


@pytest.mark.slow
def test_latency_benchmark_runs_all_three_set_ups():
    # Figures belong in BENCHMARKS.md; this only checks that the comparison runs and every
    # set-up's controller answers (no timing is asserted).
    result = subprocess.run(
        [sys.executable, str(ROOT / 'bench' / 'security_latency.py'), '--seconds', '1',
         '--repeats', '1'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for name in ('plain', 'overlay', 'secure'):
        row = next(line.split() for line in result.stdout.splitlines()
                   if line.split()[:1] == [name])
        answered, sent = map(int, row[1].split('/'))
        assert sent >= 90 and answered >= 0.9 * sent, result.stdout
