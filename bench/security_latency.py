# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What SROS2 costs: sensor-to-command round trip at 100 Hz and start-up, with and without security.

Three set-ups side by side in one run, interleaved ``--repeats`` times:

- ``plain``: the PyPI wheels' Fast DDS, no security (what the other benchmarks use);
- ``overlay``: the sros2-overlay's Fast DDS (built with security), security off;
- ``secure``: the overlay with ``ROS_SECURITY_STRATEGY=Enforce``, a keystore from
  ``lnn-control security create`` (authentication, encryption, the generated permissions).

Each run starts ``lnn_controller`` (``command_stamp:=input``) and a driver process together;
the driver publishes /odom at 100 Hz (/scan at 25 Hz, a goal) and times each odometry
message to the /cmd_vel that answers it (matched by stamp), after a 3 s warm-up. Start-up is
the time from starting both processes to the first command the driver receives (CLOCK_MONOTONIC
is shared by the processes): Python imports, policy load, discovery and, secure, the
authentication handshake.

    python bench/security_latency.py [--seconds 10] [--repeats 3]

Needs the sros2 overlay (see lnn_control/security/overlay.py) for the last two columns.
"""

import argparse
from dataclasses import replace
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
CONTROLLER = ("import sys; sys.modules['torch'] = None; "
              'from lnn_control.ros.controller_node import main; main()')
DRIVER_NODE = 'security_bench_driver'
DRIVER_ENCLAVE = '/bench_driver'


def _driver(args) -> int:
    """Run as the driver process: wait for the first command, then measure; print JSON."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import robot_messages
    from controller_latency import _drive
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import LaserScan
    from geometry_msgs.msg import PoseStamped

    rclpy.init(args=args.ros)
    node = rclpy.create_node(DRIVER_NODE)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    first = []
    sub = node.create_subscription(TwistStamped, '/cmd_vel',
                                   lambda msg: first.append(time.monotonic()), 10)
    pubs = {'odom': node.create_publisher(Odometry, '/odom', qos_profile_sensor_data),
            'scan': node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data),
            'goal': node.create_publisher(PoseStamped, '/goal_pose', 10)}
    goal, scan, odom = robot_messages()
    deadline = time.monotonic() + 120.0
    while not first and time.monotonic() < deadline:
        stamp = node.get_clock().now().to_msg()
        for key, msg in (('goal', goal), ('scan', scan), ('odom', odom)):
            msg.header.stamp = stamp
            pubs[key].publish(msg)
        executor.spin_once(timeout_sec=0.01)
    startup = first[0] - args.spawned if first else float('nan')
    node.destroy_subscription(sub)
    for pub in pubs.values():
        node.destroy_publisher(pub)
    run = (_drive(node, executor, '/cmd_vel', args.rate, args.seconds, args.controller_pid)
           if first else {})
    run['startup'] = startup
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps(run))
    return 0


def _keystore(folder: Path, domain: int) -> Path:
    """Make the keystore: the controller's enclave and the driver's (its mirror image)."""
    from lnn_control.ros import interfaces as ifc
    from lnn_control.security.keystore import add_enclave, create_keystore
    controller = ifc.controller_interfaces()
    infra = ifc.node_infrastructure(f'/{DRIVER_NODE}')
    driver = replace(controller, node=f'/{DRIVER_NODE}', enclave=DRIVER_ENCLAVE,
                     publish=controller.subscribe + infra['publish'],
                     subscribe=controller.by_role('publish', 'command'),
                     serve=infra['serve'], call=())
    ks = create_keystore(folder / 'keystore', domain)
    add_enclave(ks, controller, domain)
    add_enclave(ks, driver, domain)
    return ks.path


def _run(env, secure: bool, args) -> dict:
    spawned = time.monotonic()
    enclave = ['--enclave', '/lnn_controller'] if secure else []
    controller = subprocess.Popen(
        [sys.executable, '-c', CONTROLLER, '--ros-args', '-p', 'command_stamp:=input',
         *enclave], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver_enclave = ['--ros-args', '--enclave', DRIVER_ENCLAVE] if secure else []
    try:
        result = subprocess.run(
            [sys.executable, __file__, '--driver', '--spawned', repr(spawned), '--seconds',
             str(args.seconds), '--rate', str(args.rate), '--controller-pid',
             str(controller.pid), *driver_enclave],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        controller.terminate()
        try:
            controller.wait(timeout=10)
        except subprocess.TimeoutExpired:
            controller.kill()
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=100.0)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--driver', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--spawned', type=float, help=argparse.SUPPRESS)
    parser.add_argument('--controller-pid', type=int, help=argparse.SUPPRESS)
    args, ros = parser.parse_known_args()
    args.ros = ros
    if args.driver:
        return _driver(args)
    import domain_coordinator
    from lnn_control.security.overlay import overlay_env, secure_env, unavailable_reason
    overlay, reason = unavailable_reason()
    runs = {'plain': [], 'overlay': [], 'secure': []}
    with domain_coordinator.domain_id() as domain, tempfile.TemporaryDirectory() as tmp:
        plain = dict(os.environ, ROS_DOMAIN_ID=str(domain),
                     ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        envs = {'plain': (plain, False)}
        if overlay is not None:
            keystore = _keystore(Path(tmp), domain)
            envs['overlay'] = (overlay_env(plain, overlay), False)
            envs['secure'] = (secure_env(envs['overlay'][0], keystore), True)
        else:
            print(f'only plain: {reason}')
        for _ in range(args.repeats):
            for name, (env, secure) in envs.items():
                runs[name].append(_run(env, secure, args))
    print(f'{args.rate:.0f} Hz odometry, {args.seconds:g} s per run, {args.repeats} runs each')
    print(f'{"set-up":>8} {"answered":>9} {"p50 ms":>7} {"p99 ms":>7} {"start-up s":>10}')
    summary = {}
    for name, results in runs.items():
        if not results:
            continue
        for r in results:
            print(f'{name:>8} {r["answered"]:5d}/{r["sent"]:<4d} {r["p50"]:7.3f} '
                  f'{r["p99"]:7.3f} {r["startup"]:10.2f}')
        summary[name] = {key: statistics.median(r[key] for r in results)
                         for key in ('p50', 'p99', 'startup')}
    for name, values in summary.items():
        ratio = {k: values[k] / summary['plain'][k] for k in values}
        print(f'{name:>8} median p50 {values["p50"]:.3f} ms (x{ratio["p50"]:.2f}), p99 '
              f'{values["p99"]:.3f} ms (x{ratio["p99"]:.2f}), start-up '
              f'{values["startup"]:.2f} s (x{ratio["startup"]:.2f})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
