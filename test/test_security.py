# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Keystores and permissions without DDS: these run everywhere.

The SROS2 layout, certificate chains, S/MIME signatures, schema-valid XML, permissions
equal to the declared interfaces, ``lnn-control security check`` finding what is not
allowed. The DDS side (Fast DDS enforcing them between processes) is test_ros_security.py.
"""

from datetime import datetime
from datetime import timedelta
from datetime import timezone
import os
from pathlib import Path
import shutil
import stat
import subprocess
import sys

import pytest

pytest.importorskip('cryptography', reason='the security extra (cryptography) is not installed')

from cryptography import x509  # noqa: E402, I100
from cryptography.hazmat.primitives import serialization  # noqa: E402
from lnn_control.cli import main as cli  # noqa: E402
from lnn_control.ros import interfaces as ifc  # noqa: E402
from lnn_control.security import keystore as ksm  # noqa: E402
from lnn_control.security import overlay  # noqa: E402
from lnn_control.security import permissions as perms  # noqa: E402
from lnn_control.security.schema import GOVERNANCE, PERMISSIONS  # noqa: E402
from lnn_control.security.schema import SchemaError, validate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = 57
ENCLAVES = sorted(ifc.ENCLAVES.values())
needs_openssl = pytest.mark.skipif(shutil.which('openssl') is None, reason='no openssl command')


@pytest.fixture(scope='module')
def keystore(tmp_path_factory):
    path = tmp_path_factory.mktemp('sec') / 'keystore'
    assert cli(['security', 'create', str(path), '--domain-id', str(DOMAIN)]) == 0
    return ksm.Keystore(path)


def _grant(ks, enclave):
    signed = ksm.signed_content((ks.enclave_dir(enclave) / 'permissions.p7s').read_bytes())
    (grant,) = perms.parse_permissions(signed)
    return grant


def test_layout_is_sros2s(keystore):
    ks = keystore
    for name in ('ca', 'identity_ca', 'permissions_ca'):
        assert (ks.public / f'{name}.cert.pem').is_file()
        assert (ks.private / f'{name}.key.pem').is_file()
    assert (ks.enclaves / 'governance.xml').is_file()
    assert (ks.enclaves / 'governance.p7s').is_file()
    assert ks.list_enclaves() == ENCLAVES
    for enclave in ENCLAVES:
        folder = ks.enclave_dir(enclave)
        assert sorted(p.name for p in folder.iterdir()) == sorted(ksm._ENCLAVE_FILES)
        for link in ('identity_ca.cert.pem', 'permissions_ca.cert.pem', 'governance.p7s'):
            # Relative symlinks, as sros2 makes them: the keystore can move as a whole.
            assert (folder / link).is_symlink() and not os.readlink(folder / link).startswith('/')
            assert (folder / link).resolve().is_file()
        assert stat.S_IMODE((folder / 'key.pem').stat().st_mode) == 0o600
    assert stat.S_IMODE(ks.private.stat().st_mode) == 0o700
    assert stat.S_IMODE((ks.private / 'ca.key.pem').stat().st_mode) == 0o600


def test_certificates_chain_to_the_ca(keystore):
    ca_cert, ca_key = keystore.ca('identity')
    ca_cert.verify_directly_issued_by(ca_cert)   # self-signed
    constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 1
    assert isinstance(ca_key.curve, type(ca_cert.public_key().curve))
    now = datetime.now(timezone.utc)
    for enclave in ENCLAVES:
        folder = keystore.enclave_dir(enclave)
        cert = x509.load_pem_x509_certificate((folder / 'cert.pem').read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        assert cert.subject.rfc4514_string() == f'CN={enclave}'
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert cert.public_key().curve.name == 'secp256r1'
        # Backdated for robots whose clock is behind, valid for years.
        assert cert.not_valid_before_utc == ksm.DEFAULT_VALID_FROM
        assert cert.not_valid_after_utc > now + timedelta(days=3600)
        key = serialization.load_pem_private_key((folder / 'key.pem').read_bytes(), None)
        assert key.public_key() == cert.public_key()
        # A certificate of another enclave does not pass as this one.
        assert ksm._issue_problem(cert, ca_cert, '/someone_else')


@needs_openssl
def test_signatures_verify_with_openssl_and_a_changed_document_does_not(keystore, tmp_path):
    ca = keystore.public / 'permissions_ca.cert.pem'
    signed = [keystore.enclaves / 'governance.p7s'] + [
        keystore.enclave_dir(e) / 'permissions.p7s' for e in ENCLAVES]
    for path in signed:
        assert ksm.verify_smime(path, ca) is None, path
    forged = tmp_path / 'forged.p7s'
    forged.write_bytes(signed[1].read_bytes().replace(b'rt/cmd_vel<', b'rt/cmd_vex<', 1))
    assert ksm.verify_smime(forged, ca) is not None
    other = ksm.create_keystore(tmp_path / 'other', DOMAIN)   # another CA
    assert ksm.verify_smime(signed[1], other.public / 'ca.cert.pem') is not None


def test_signed_documents_are_the_xml_files_and_schema_valid(keystore):
    governance = ksm.signed_content((keystore.enclaves / 'governance.p7s').read_bytes())
    assert governance == (keystore.enclaves / 'governance.xml').read_bytes()
    root = validate(governance, GOVERNANCE)
    rule = root.find('domain_access_rules/domain_rule')
    assert rule.findtext('domains/id') == str(DOMAIN)
    assert rule.findtext('allow_unauthenticated_participants') == 'false'
    assert rule.findtext('enable_join_access_control') == 'true'
    assert rule.findtext('topic_access_rules/topic_rule/data_protection_kind') == 'ENCRYPT'
    assert keystore.domain_id() == DOMAIN
    for enclave in ENCLAVES:
        folder = keystore.enclave_dir(enclave)
        document = ksm.signed_content((folder / 'permissions.p7s').read_bytes())
        assert document == (folder / 'permissions.xml').read_bytes()
        validate(document, PERMISSIONS)


@pytest.mark.parametrize('change, expected', [
    (lambda x: x.replace(b'<default>DENY</default>', b''), 'expected <default>'),
    (lambda x: x.replace(b'<default>DENY', b'<default>MAYBE'), 'default_action'),
    (lambda x: x.replace(b'<id>57</id>', b'<id>-1</id>'), 'domain_id'),
    (lambda x: x.replace(b'<validity>', b'<validity><oops/>'),
     'expected <not_before>, found <oops>'),
    (lambda x: x.replace(b'</validity>', b'<oops/></validity>'), 'unexpected element <oops>'),
    (lambda x: x.replace(b'<not_before>2024', b'<not_before>soon'), 'datetime'),
    (lambda x: x.replace(b'</grant>', b''), 'not well-formed'),
    (lambda x: x.replace(b' name="/lnn_sim"', b''), "attribute 'name'"),
])
def test_schema_check_refuses_broken_permissions(keystore, change, expected):
    document = (keystore.enclave_dir('/lnn_sim') / 'permissions.xml').read_bytes()
    validate(document, PERMISSIONS)
    with pytest.raises(SchemaError, match=expected):
        validate(change(document), PERMISSIONS)


def test_schema_check_refuses_governance_out_of_order():
    document = perms.governance_xml(3)
    swapped = document.replace(b'<rtps_protection_kind>SIGN</rtps_protection_kind>', b'')
    swapped = swapped.replace(b'<discovery_protection_kind>',
                              b'<rtps_protection_kind>SIGN</rtps_protection_kind>'
                              b'<discovery_protection_kind>')
    with pytest.raises(SchemaError, match='expected <discovery_protection_kind>'):
        validate(swapped, GOVERNANCE)


def test_permissions_allow_exactly_what_each_node_declares(keystore):
    declared = ifc.robot_interfaces()
    for name, node in declared.items():
        grant = _grant(keystore, node.enclave)
        assert grant.subject == f'CN={node.enclave}' and not grant.default_allow
        assert grant.domains() == {DOMAIN}
        topics = perms.dds_topics(node)
        for kind in ('publish', 'subscribe'):
            allowed = {t for rule in grant.rules if rule.allow for t in getattr(rule, kind)}
            assert allowed == set(topics[kind]) | {perms.DISCOVERY_TOPIC}, (name, kind)
        assert perms.missing(grant, node, DOMAIN) == []
        assert not perms.allows(grant, 'publish', 'rt/anything_else', DOMAIN)
        assert not perms.allows(grant, 'publish', 'rt/cmd_vel', DOMAIN + 1)   # other domain


def test_only_the_operator_may_drive_goals_corrections_and_parameters(keystore):
    # The issue's rule: the operator publishes goals and corrections and sets parameters;
    # the controller publishes its command; nobody else may.
    writers = {
        'rt/goal_pose': {'/operator'},
        'rt/cmd_vel_teleop': {'/operator'},
        'rq/lnn_controller/set_parametersRequest': {'/operator'},
        'rq/lnn_controller/change_stateRequest': {'/operator'},
        'rt/cmd_vel': {'/lnn_controller'},
        'rt/scan': {'/lnn_sim', '/tb3_bringup'},
        'rt/clock': {'/lnn_sim'},
    }
    for topic, expected in writers.items():
        allowed = {e for e in ENCLAVES if perms.allows(_grant(keystore, e), 'publish', topic,
                                                       DOMAIN)}
        assert allowed == expected, topic
    controller = _grant(keystore, '/lnn_controller')
    for topic in ('rt/scan', 'rt/odom', 'rt/goal_pose', 'rt/cmd_vel_teleop', 'rt/imu'):
        assert perms.allows(controller, 'subscribe', topic, DOMAIN)
    for topic in ('rt/diagnostics', 'rt/lnn_controller/neuron_state', 'rt/cmd_vel'):
        assert perms.allows(controller, 'publish', topic, DOMAIN)
    assert not perms.allows(controller, 'subscribe', 'rt/clock', DOMAIN)   # wall clock here


def test_rules_apply_in_order_and_deny_rules_win_when_first():
    rule = perms.Rule(allow=False, domains=((0, 232),), publish=('rt/cmd_*',), subscribe=())
    grant = perms.Grant('g', 'CN=/g', '', '', (rule, perms.Rule(
        allow=True, domains=((5, 5),), publish=('rt/*',), subscribe=())), False)
    assert not perms.allows(grant, 'publish', 'rt/cmd_vel', 5)
    assert perms.allows(grant, 'publish', 'rt/scan', 5)
    assert not perms.allows(grant, 'publish', 'rt/scan', 6)


def test_check_passes_for_the_declared_nodes_and_names_a_missing_topic(keystore, tmp_path,
                                                                       capsys):
    for enclave in ENCLAVES:
        assert cli(['security', 'check', str(keystore.path), '--enclave', enclave]) == 0
    params = tmp_path / 'moved.yaml'
    params.write_text('/**:\n  ros__parameters:\n    correction_topic: /joystick_cmd\n'
                      '    use_sim_time: true\n')
    capsys.readouterr()
    code = cli(['security', 'check', str(keystore.path), '--enclave', '/lnn_controller',
                '--params', str(params)])
    out = capsys.readouterr().out
    assert code == 1
    assert ('subscribe /joystick_cmd (geometry_msgs/msg/Twist): may not subscribe DDS topic '
            "'rt/joystick_cmd'") in out
    assert "'rt/clock'" in out
    # The operator would publish the moved topic: its enclave does not allow that either.
    assert cli(['security', 'check', str(keystore.path), '--enclave', '/operator',
                '--params', str(params)]) == 1
    assert 'rt/joystick_cmd' in capsys.readouterr().out


def test_check_finds_unsigned_edits_a_missing_enclave_and_a_foreign_identity(tmp_path):
    ks = ksm.create_keystore(tmp_path / 'ks', 4)
    node = ifc.controller_interfaces()
    folder = ksm.add_enclave(ks, node, 4)
    assert ksm.check_enclave(ks.path, node) == []
    xml = folder / 'permissions.xml'
    xml.write_bytes(xml.read_bytes().replace(b'<topic>rt/cmd_vel</topic>', b''))
    assert any('differs from what permissions.p7s signs' in p
               for p in ksm.check_enclave(ks.path, node))
    assert ksm.check_enclave(ks.path, node.with_enclave('/nobody')) == [
        f'enclave /nobody does not exist: no {ks.enclaves / "nobody"}']
    other = ksm.create_keystore(tmp_path / 'other', 4)
    shutil.copy(ksm.add_enclave(other, node, 4) / 'cert.pem', folder / 'cert.pem')
    assert any('not signed by the identity CA' in p for p in ksm.check_enclave(ks.path, node))
    assert any('domain(s) [4], the node runs on 9' in p
               for p in ksm.check_enclave(ks.path, node, domain_id=9))


def test_create_again_keeps_the_ca_and_keys_and_follows_the_domain(tmp_path):
    path = tmp_path / 'ks'
    assert cli(['security', 'create', str(path), '--domain-id', '3',
                '--enclaves', 'controller']) == 0
    before = {p: p.read_bytes() for p in (path / 'private' / 'ca.key.pem',
                                          path / 'enclaves' / 'lnn_controller' / 'key.pem')}
    assert cli(['security', 'create', str(path), '--domain-id', '8',
                '--enclaves', 'controller,operator']) == 0
    assert {p: p.read_bytes() for p in before} == before
    ks = ksm.Keystore(path)
    assert ks.domain_id() == 8 and ks.list_enclaves() == ['/lnn_controller', '/operator']
    assert _grant(ks, '/lnn_controller').domains() == {8}


def test_export_copies_enclaves_without_the_ca_key(keystore, tmp_path):
    out = tmp_path / 'laptop'
    assert cli(['security', 'export', str(keystore.path), str(out),
                '--enclave', '/operator']) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file())
    assert not any(p.startswith('private') for p in files)
    assert not any(p.is_symlink() for p in out.rglob('*'))
    assert ksm.Keystore(out).list_enclaves() == ['/operator']
    operator = ifc.robot_interfaces()['operator']
    assert ksm.check_enclave(out, operator) == []
    assert cli(['security', 'export', str(keystore.path), str(out),
                '--enclave', '/operator']) == 2   # refuses to write into a full folder


@pytest.mark.parametrize('argv, message', [
    (['create', 'KS', '--enclaves', 'controller,robot'], "unknown enclaves ['robot']"),
    (['create', 'KS', '--domain-id', '300'], 'domain id must be in 0-232'),
    (['create', 'KS', '--params', 'NOFILE'], 'NOFILE'),
])
def test_cli_errors_are_clear(tmp_path, capsys, argv, message):
    argv = [a.replace('KS', str(tmp_path / 'ks')) for a in argv]
    assert cli(['security'] + argv) == 2
    assert message in capsys.readouterr().err


def test_cli_runs_as_a_command_without_rclpy(tmp_path):
    # A laptop or a robot without ROS in the environment can make the keystore.
    code = ("import sys; sys.modules['rclpy'] = None; sys.modules['torch'] = None\n"
            'from lnn_control.cli import main\n'
            f"sys.exit(main(['security', 'create', {str(tmp_path / 'ks')!r}]))\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'ROS_SECURITY_ENABLE=true' in result.stdout


# -- the declarations ------------------------------------------------------------------------
def test_controller_declaration_follows_mode_types_and_sim_time():
    pibot = ifc.controller_interfaces()
    assert set(pibot.names('subscribe')) == {'/scan', '/odom', '/goal_pose', '/imu',
                                             '/cmd_vel_teleop'}
    assert pibot.names('publish')['/cmd_vel'] == 'geometry_msgs/msg/TwistStamped'
    vector = ifc.controller_interfaces({'mode': 'vector', 'command_type': 'float64_multi_array',
                                        'cmd_topic': '/effort_controller/commands',
                                        'use_sim_time': 'true'})
    assert set(vector.names('subscribe')) == {'/joint_states', '/cmd_vel_teleop', '/clock'}
    assert vector.names('publish')['/effort_controller/commands'] == \
        'std_msgs/msg/Float64MultiArray'
    camera = ifc.controller_interfaces({'mode': 'camera', 'correction_type': 'twist_stamped'})
    assert camera.names('subscribe') == {
        '/camera/image_raw': 'sensor_msgs/msg/Image', '/odom': 'nav_msgs/msg/Odometry',
        '/cmd_vel_teleop': 'geometry_msgs/msg/TwistStamped'}
    with pytest.raises(ValueError, match='mode must be one of'):
        ifc.controller_interfaces({'mode': 'legs'})
    with pytest.raises(ValueError, match="invalid name '/bad//name'"):
        ifc.controller_interfaces({'scan_topic': '/bad//name'})


def test_namespace_moves_robot_topics_as_the_launch_files_do():
    node = ifc.controller_interfaces(namespace='robot1')
    assert node.node == '/robot1/lnn_controller'
    assert {'/robot1/scan', '/robot1/goal_pose', '/cmd_vel_teleop'} <= set(
        node.names('subscribe'))
    assert {'/robot1/cmd_vel', '/diagnostics', '/robot1/lnn_controller/neuron_state'} <= set(
        node.names('publish'))
    assert '/robot1/lnn_controller/set_parameters' in node.names('serve')
    sim = ifc.sim_interfaces({'robot': 'pendulum'}, namespace='/robot1')
    assert set(sim.names('subscribe')) == {'/robot1/effort_controller/commands'}
    assert '/clock' in sim.names('publish')


def test_read_params_takes_the_wildcard_and_the_node_section(tmp_path):
    one, two = tmp_path / 'one.yaml', tmp_path / 'two.yaml'
    one.write_text('/**:\n  ros__parameters:\n    scan_topic: /a\n    mode: pibot\n'
                   'other:\n  ros__parameters:\n    scan_topic: /nope\n')
    two.write_text('lnn_controller:\n  ros__parameters:\n    scan_topic: /b\n')
    assert ifc.read_params([one], 'lnn_controller') == {'scan_topic': '/a', 'mode': 'pibot'}
    assert ifc.read_params([one, two], 'lnn_controller')['scan_topic'] == '/b'
    shipped = ifc.read_params([ROOT / 'config' / 'pendulum_controller.yaml'], 'lnn_controller')
    assert ifc.controller_interfaces(shipped).names('subscribe') == {
        '/joint_states': 'sensor_msgs/msg/JointState',
        '/cmd_vel_teleop': 'geometry_msgs/msg/Twist'}


# -- finding the overlay ---------------------------------------------------------------------
def test_overlay_is_found_above_the_repository_or_by_variable(tmp_path, monkeypatch):
    lib = tmp_path / 'shared' / 'sros2-overlay' / 'lib'
    lib.mkdir(parents=True)
    monkeypatch.delenv(overlay.OVERLAY_ENV, raising=False)
    assert overlay.find_overlay(tmp_path / 'clone' / 'lnn_control' / 'x.py') == lib.parent
    assert overlay.find_overlay(Path('/nonexistent/a/b')) is None
    monkeypatch.setenv(overlay.OVERLAY_ENV, str(lib.parent))
    assert overlay.find_overlay(Path('/nonexistent/a/b')) == lib.parent


def test_overlay_stub_symlinks_become_real_ones(tmp_path, monkeypatch):
    lib = tmp_path / 'ov' / 'lib'
    lib.mkdir(parents=True)
    (lib / 'libx.so.1.2.3').write_bytes(b'\x7fELF' + b'\0' * 300)
    (lib / 'libx.so.1.2').write_text('libx.so.1.2.3')
    (lib / 'libx.so').write_text('libx.so.1.2')
    monkeypatch.setattr(overlay.tempfile, 'gettempdir', lambda: str(tmp_path / 'tmp'))
    out = overlay.library_dir(lib.parent)
    assert out != lib
    for name in ('libx.so', 'libx.so.1.2', 'libx.so.1.2.3'):
        assert (out / name).resolve() == (lib / 'libx.so.1.2.3').resolve()
    env = overlay.overlay_env({'A': '1'}, lib.parent)
    assert env['LD_LIBRARY_PATH'].split(':')[0] == str(out)
    assert env['_ROS_WHEELS_BOOTSTRAP_COMPLETE'] == '1' and env['A'] == '1'


def test_drivers_may_publish_more_topics_when_told(tmp_path):
    path = tmp_path / 'ks'
    assert cli(['security', 'create', str(path), '--enclaves', 'drivers',
                '--drivers-publish', '/sonar', 'bumper']) == 0
    grant = _grant(ksm.Keystore(path), '/tb3_bringup')
    assert perms.allows(grant, 'publish', 'rt/sonar', 0)
    assert perms.allows(grant, 'publish', 'rt/bumper', 0)
    assert perms.allows(grant, 'publish', 'rt/battery_state', 0)
    assert not perms.allows(grant, 'publish', 'rt/cmd_vel', 0)
    assert perms.allows(grant, 'subscribe', 'rt/cmd_vel', 0)


def test_without_cryptography_the_command_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['cryptography'] = None\n"
            'from lnn_control.cli import main\n'
            f"sys.exit(main(['security', 'create', {str(tmp_path / 'ks')!r}]))\n")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "pip install 'lnn_control[security]'" in result.stderr
