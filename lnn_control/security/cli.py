# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
``lnn-control security``: create a keystore, check an enclave, export enclaves.

    lnn-control security create KEYSTORE [--domain-id N] [--params config/pibot_controller.yaml]
    lnn-control security check KEYSTORE --enclave /lnn_controller [--params ...]
    lnn-control security export KEYSTORE OUT --enclave /operator

The declarations come from :mod:`lnn_control.ros.interfaces` with the parameters the params
files give (``--params`` for the controller, ``--sim-params`` for the simulator), so the
permissions are those of the nodes as they will run.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from datetime import timezone
import os
import sys
from typing import Dict

from lnn_control.ros import interfaces as ifc

__all__ = ['add_arguments', 'run', 'declarations']

_NAMES = {enclave: name for name, enclave in ifc.ENCLAVES.items()}


def _declaration_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--params', nargs='+', default=[], metavar='YAML',
                        help='lnn_controller params file(s) (topic names, mode, types)')
    parser.add_argument('--sim-params', nargs='+', default=[], metavar='YAML',
                        help='lnn_sim params file(s) (robot, cmd_vel_stamped)')
    parser.add_argument('--namespace', default='', metavar='NS',
                        help="the launch file's namespace argument (robot topics move under "
                             'it, as the launch files remap them)')
    parser.add_argument('--drivers-publish', nargs='+', default=[], metavar='TOPIC',
                        help='more topics the robot drivers (/tb3_bringup) publish, beyond '
                             'the TurtleBot3 ones (lnn_control.ros.interfaces)')
    parser.add_argument('--use-sim-time', action='store_true',
                        help='the controller runs on /clock (sim_demo.launch.py sets this)')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``create``, ``check`` and ``export`` actions to ``parser``."""
    sub = parser.add_subparsers(dest='action', required=True, metavar='ACTION')

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text)

    create = action('create', 'create or update an SROS2 keystore with the enclaves '
                    + ', '.join(ifc.ENCLAVES.values()))
    create.add_argument('keystore', metavar='KEYSTORE',
                        help='keystore folder (made if missing; existing keys are kept)')
    create.add_argument('--domain-id', type=int, default=None, metavar='N',
                        help='ROS_DOMAIN_ID the grants are for (default: $ROS_DOMAIN_ID or 0)')
    create.add_argument('--enclaves', default=','.join(ifc.ENCLAVES), metavar='NAMES',
                        help='which of ' + ','.join(ifc.ENCLAVES) + ' (default: all)')
    create.add_argument('--valid-days', type=int, default=3650, metavar='DAYS',
                        help='certificate validity (default: %(default)s)')
    create.add_argument('--valid-from', default='2024-01-01', metavar='DATE',
                        help='start of validity (default %(default)s: robots without a '
                             'real-time clock may boot with a clock behind)')
    _declaration_args(create)
    check = action('check', 'what a node uses that its enclave does not allow (exit 1 if '
                   'anything)')
    check.add_argument('keystore', metavar='KEYSTORE', help='keystore folder')
    check.add_argument('--enclave', required=True, choices=sorted(_NAMES),
                       help='the enclave (node) to check')
    check.add_argument('--domain-id', type=int, default=None, metavar='N',
                       help='domain the node runs on (default: the governance one)')
    _declaration_args(check)
    export = action('export', 'copy enclaves without the CA key, symlinks resolved, to put '
                    'on a robot or a laptop')
    export.add_argument('keystore', metavar='KEYSTORE', help='keystore folder')
    export.add_argument('out', metavar='OUT', help='folder to write (a new keystore)')
    export.add_argument('--enclave', action='append', required=True, dest='enclaves',
                        choices=sorted(_NAMES), help='an enclave to copy (repeatable)')


def declarations(args: argparse.Namespace) -> Dict[str, ifc.NodeInterfaces]:
    """Return the declarations for the params files and namespace ``args`` name."""
    controller = ifc.read_params(args.params, 'lnn_controller')
    if args.use_sim_time:
        controller['use_sim_time'] = True
    declared = ifc.robot_interfaces(controller, ifc.read_params(args.sim_params, 'lnn_sim'),
                                    namespace=args.namespace)
    if args.drivers_publish:
        extra = ifc.DRIVERS_EXTRA_PUBLISH + tuple(
            (ifc.expand_name(t, 'x'), 'any') for t in args.drivers_publish)
        declared['drivers'] = ifc.drivers_interfaces(declared['controller'],
                                                     extra_publish=extra)
        declared['operator'] = ifc.operator_interfaces(
            [declared[name] for name in ('controller', 'sim', 'drivers')])
    return declared


def _create(args: argparse.Namespace) -> int:
    from lnn_control.security.keystore import add_enclave, create_keystore
    domain = args.domain_id if args.domain_id is not None else int(
        os.environ.get('ROS_DOMAIN_ID') or 0)
    names = [n.strip() for n in args.enclaves.split(',') if n.strip()]
    unknown = sorted(set(names) - set(ifc.ENCLAVES))
    if unknown:
        raise ValueError(f'unknown enclaves {unknown}: choose from {list(ifc.ENCLAVES)}')
    valid_from = datetime.fromisoformat(args.valid_from).replace(tzinfo=timezone.utc)
    declared = declarations(args)
    ks = create_keystore(args.keystore, domain, valid_from=valid_from,
                         valid_days=args.valid_days)
    for name in names:
        node = declared[name]
        folder = add_enclave(ks, node, domain, valid_from=valid_from,
                             valid_days=args.valid_days)
        counts = ', '.join(f'{len(getattr(node, k))} {k}' for k in node.KINDS)
        print(f'{node.enclave:<16} {counts}  ({folder})')
    print(f'keystore {ks.path} for ROS_DOMAIN_ID={domain}; run the nodes with '
          f'ROS_SECURITY_KEYSTORE={ks.path.resolve()} ROS_SECURITY_ENABLE=true '
          'ROS_SECURITY_STRATEGY=Enforce and --ros-args --enclave ENCLAVE')
    return 0


def _check(args: argparse.Namespace) -> int:
    from lnn_control.security.keystore import check_enclave
    node = declarations(args)[_NAMES[args.enclave]]
    problems = check_enclave(args.keystore, node, args.domain_id)
    for problem in problems:
        print(f'{args.enclave}: {problem}')
    if not problems:
        print(f'{args.enclave}: everything {node.node} uses is allowed')
    return 1 if problems else 0


def _export(args: argparse.Namespace) -> int:
    from lnn_control.security.keystore import export_enclaves
    out = export_enclaves(args.keystore, args.enclaves, args.out)
    print(f'wrote {out} ({", ".join(args.enclaves)}; no CA key)')
    return 0


_ACTIONS = {'create': _create, 'check': _check, 'export': _export}


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; errors are printed and give exit status 2."""
    try:
        return _ACTIONS[args.action](args)
    except ModuleNotFoundError as exc:
        if exc.name != 'cryptography':
            raise
        print(f'lnn-control security {args.action}: needs the cryptography package: '
              "pip install 'lnn_control[security]' (or apt install python3-cryptography)",
              file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f'lnn-control security {args.action}: error: {exc}', file=sys.stderr)
        return 2
