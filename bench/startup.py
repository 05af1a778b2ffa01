# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Time from process start to the first command of lnn_controller, and where it goes.

    python bench/startup.py [--runs 5] [--policy pibot_nav_cfc] [--rate 20]
        [--dds-profile bench/fastdds_discovery.xml]

A driver (this process) publishes odometry at ``--rate`` Hz, scans at a quarter of it and a
goal, before and while a fresh ``lnn_controller`` process starts (torch unimportable, as on
the robot). The child runs the node's own ``main`` with timestamps printed at each stage
(wrappers around the start-up calls; the node's code is unchanged), and the driver notes when
its command subscription matched the node's publisher and when the first command arrived.
Stages, seconds after ``Popen``:

- ``python``: the interpreter and ``site`` are up (the first statement of ``-c``);
- ``imports``: ``lnn_control.ros.controller_node`` imported (rclpy, message packages, numpy);
- ``init``: ``rclpy.init`` and the signal handlers;
- ``node``: the lifecycle node constructed, its parameters declared;
- ``configured``: the policy loaded, the core, publishers and services made;
- ``active``: subscriptions and timers made;
- ``published``: the node's first command publish (a watchdog zero or a step);
- ``matched``: the driver's subscription saw the node's publisher (DDS discovery);
- ``first cmd``: the first command the driver received.

``--dds-profile`` sets ``FASTRTPS_DEFAULT_PROFILES_FILE`` to that Fast DDS profile for the
driver and the node, as a robot's bringup environment would for all its processes
(``--dds-profile-node-only``: for the node alone).
"""

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (one BLAS thread, as on the robot)

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys, time
def mark(stage):
    print(stage, repr(time.time()), flush=True)
mark('python')
sys.modules['torch'] = None
import lnn_control.ros.controller_node as cn
mark('imports')
init = cn.init_until_signal
def timed_init(*args):
    result = init(*args)
    mark('init')
    return result
cn.init_until_signal = timed_init
cls = cn.LnnController
for name in ('__init__', 'on_configure', 'on_activate'):
    def wrap(method, stage):
        def timed(self, *args, **kwargs):
            result = method(self, *args, **kwargs)
            mark(stage)
            return result
        return timed
    setattr(cls, name, wrap(getattr(cls, name), {'__init__': 'node', 'on_configure':
            'configured', 'on_activate': 'active'}[name]))
publish = cls.publish_command
def timed_publish(self, *args, **kwargs):
    sent = publish(self, *args, **kwargs)
    if sent and not getattr(self, '_bench_published', False):
        self._bench_published = True
        mark('published')
    return sent
cls.publish_command = timed_publish
cn.main()
"""
STAGES = ('python', 'imports', 'init', 'node', 'configured', 'active', 'published',
          'matched', 'first cmd')


def run(node, executor, env, policy: str, rate: float, timeout: float = 20.0) -> dict:
    """Start one controller while inputs flow; return stage -> seconds after Popen."""
    from geometry_msgs.msg import PoseStamped
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import LaserScan
    odom_pub = node.create_publisher(Odometry, '/odom', qos_profile_sensor_data)
    scan_pub = node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data)
    goal_pub = node.create_publisher(PoseStamped, '/goal_pose', 10)
    marks = {}
    sub = node.create_subscription(
        TwistStamped, '/cmd_vel',
        lambda msg: marks.setdefault('first cmd', time.time()), 10)
    goal, scan, odom = common.robot_messages()
    period, sent = 1.0 / rate, 0
    start = time.perf_counter()
    proc = launched = None
    try:
        while 'first cmd' not in marks and time.perf_counter() - start < timeout:
            due = start + sent * period
            while time.perf_counter() < due and 'first cmd' not in marks:
                executor.spin_once(timeout_sec=min(0.002, max(0.0, due - time.perf_counter())))
                if proc is not None and 'matched' not in marks and sub.get_publisher_count():
                    marks['matched'] = time.time()
            if proc is None and time.perf_counter() - start > 1.0:
                launched = time.time()
                proc = subprocess.Popen(
                    [sys.executable, '-c', CHILD, '--ros-args', '-p', f'policy:={policy}'],
                    env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True)
            stamp = node.get_clock().now().to_msg()
            if sent % 20 == 0:
                goal.header.stamp = stamp
                goal_pub.publish(goal)
            if sent % 4 == 0:
                scan.header.stamp = stamp
                scan_pub.publish(scan)
            odom.header.stamp = stamp
            odom_pub.publish(odom)
            sent += 1
    finally:
        node.destroy_subscription(sub)
        for pub in (odom_pub, scan_pub, goal_pub):
            node.destroy_publisher(pub)
        if proc is not None:
            proc.terminate()
            out, _ = proc.communicate(timeout=20)
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] in STAGES:
                    marks.setdefault(parts[0], float(parts[1]))
    return {k: v - launched for k, v in marks.items()} if launched else {}


def main() -> int:
    """Run the measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--rate', type=float, default=20.0)
    parser.add_argument('--dds-profile', default='',
                        help='Fast DDS XML profile for both processes')
    parser.add_argument('--dds-profile-node-only', action='store_true')
    args = parser.parse_args()
    import domain_coordinator
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    results = []
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        env = dict(os.environ)
        if args.dds_profile:
            env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(Path(args.dds_profile).resolve())
            if not args.dds_profile_node_only:
                os.environ['FASTRTPS_DEFAULT_PROFILES_FILE'] = env[
                    'FASTRTPS_DEFAULT_PROFILES_FILE']
        rclpy.init()
        node = rclpy.create_node('startup_driver')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            for _ in range(args.runs):
                results.append(run(node, executor, env, args.policy, args.rate))
                time.sleep(1.0)
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown()
    print(f'{args.policy}, inputs at {args.rate:g} Hz, seconds after Popen, {args.runs} runs, '
          f'Fast DDS profile: {args.dds_profile or "none (defaults)"}'
          f'{" (node only)" if args.dds_profile and args.dds_profile_node_only else ""}')
    print(f'{"stage":<12} ' + ' '.join(f'{f"run {i + 1}":>7}' for i in range(len(results)))
          + f' {"median":>7}')
    for stage in STAGES:
        values = [r.get(stage, float('nan')) for r in results]
        finite = [v for v in values if v == v]
        med = statistics.median(finite) if finite else float('nan')
        print(f'{stage:<12} ' + ' '.join(f'{v:7.3f}' for v in values) + f' {med:7.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
