# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Load on lnn_controller over real DDS: a steady 1 kHz sensor stream, and 100 Hz with bursts.

A driver (this process) publishes stamped Odometry (the trigger), LaserScan (every 4th
odometry message) and a goal (1 Hz) at the controller (its own process, torch blocked,
``command_stamp:=input`` so every command names the odometry message it answers). Scenarios:

- ``steady``: odometry at 1 kHz for ``--seconds``;
- ``bursts``: odometry at 100 Hz, and twice a second a 100 ms burst at 10x (1 kHz).

Reported per scenario: messages sent, taken by the node (its ``odom_received`` diagnostics),
answered; dropped inputs (sent - answered); sensor-to-command latency p50/p99/max; the p50 of
each tenth of the run (a growing backlog shows as rising tenths); the node's RSS sampled every
``--rss-every`` seconds (first, last, max) and its peak (VmHWM).

    python bench/load.py [--seconds 60] [--scenarios steady bursts] [--policy pibot_nav_cfc]
        [--json OUT]
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
import time

import common  # (one BLAS thread, set before numpy loads)

ROOT = Path(__file__).resolve().parent.parent
CONTROLLER = ("import sys; sys.modules['torch'] = None; "
              'from lnn_control.ros.controller_node import main; main()')


def _period(scenario: str, t: float) -> float:
    """Seconds to the next odometry message at time ``t`` into the run."""
    if scenario == 'steady':
        return 1e-3
    # bursts: 100 Hz, and 10x (1 kHz) during the first 100 ms of every half second.
    return 1e-3 if (t % 0.5) < 0.1 else 1e-2


def _run(node, receiver, scenario: str, seconds: float, pid: int, rss_every: float):
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    import numpy as np
    import psutil
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import LaserScan

    odom_pub = node.create_publisher(Odometry, '/odom', qos_profile_sensor_data)
    scan_pub = node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data)
    goal_pub = node.create_publisher(PoseStamped, '/goal_pose', 10)
    sent_at, latencies, diagnostics = {}, [], []

    def on_answer(msg):
        t = sent_at.pop((msg.header.stamp.sec, msg.header.stamp.nanosec), None)
        if t is not None:
            latencies.append(time.perf_counter() - t)

    # Answers are taken by another node spun in its own thread, so a publishing loop that is
    # busy does not add its own delay to the measured latency.
    subs = [receiver.create_subscription(TwistStamped, '/cmd_vel', on_answer, 1000),
            receiver.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append,
                                         10)]
    goal, scan, odom = common.robot_messages()

    def publish_all(stamp, with_scan):
        if with_scan:
            scan.header.stamp = stamp
            scan_pub.publish(scan)
        odom.header.stamp = stamp
        odom_pub.publish(odom)

    # Warm-up (discovery, goal, first steps): not measured.
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        goal.header.stamp = node.get_clock().now().to_msg()
        goal_pub.publish(goal)
        publish_all(goal.header.stamp, True)
        time.sleep(0.02)
    latencies.clear()
    sent_at.clear()
    diagnostics.clear()
    process = psutil.Process(pid)
    rss = [(0.0, process.memory_info().rss / 2**20)]
    sent = 0
    start = time.perf_counter()
    due = start
    next_goal = next_rss = 0.0
    while True:
        now = time.perf_counter()
        if now - start >= seconds:
            break
        # sleep, not a busy wait: on two cores a spinning driver starves the controller.
        time.sleep(max(0.0, due - time.perf_counter()))
        elapsed = time.perf_counter() - start
        stamp = node.get_clock().now().to_msg()
        if elapsed >= next_goal:
            goal.header.stamp = stamp
            goal_pub.publish(goal)
            next_goal += 1.0
        if elapsed >= next_rss:
            rss.append((elapsed, process.memory_info().rss / 2**20))
            next_rss += rss_every
        sent_at[(stamp.sec, stamp.nanosec)] = time.perf_counter()
        publish_all(stamp, sent % 4 == 0)
        sent += 1
        due += _period(scenario, elapsed)
    rss.append((time.perf_counter() - start, process.memory_info().rss / 2**20))
    # Let the last answers and a diagnostics report arrive.
    time.sleep(2.5)
    for sub in subs:
        receiver.destroy_subscription(sub)
    for pub in (odom_pub, scan_pub, goal_pub):
        node.destroy_publisher(pub)
    taken = -1
    if diagnostics:
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        taken = int(values.get('odom_received', -1))
    lat = np.asarray(latencies) * 1e3
    tenths = [float(np.median(part)) for part in np.array_split(lat, 10)] if lat.size else []
    return {'scenario': scenario, 'seconds': seconds, 'sent': sent, 'taken': taken,
            'answered': int(lat.size), 'dropped': sent - int(lat.size),
            'p50_ms': float(np.median(lat)), 'p99_ms': float(np.percentile(lat, 99)),
            'max_ms': float(lat.max()), 'tenths_p50_ms': tenths,
            'rss_mb': [(round(t, 1), round(r, 2)) for t, r in rss],
            'vmhwm_mb': common.status_mb(pid)}


def main() -> int:
    """Run the scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--scenarios', nargs='+', default=['steady', 'bursts'],
                        choices=['steady', 'bursts'])
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--rss-every', type=float, default=5.0)
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args()
    import threading

    import domain_coordinator
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    results = []
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        rclpy.init()
        node = rclpy.create_node('load_driver')
        receiver = rclpy.create_node('load_receiver')
        executor = SingleThreadedExecutor()
        executor.add_node(receiver)
        spinning = threading.Thread(target=executor.spin, daemon=True)
        spinning.start()
        try:
            for scenario in args.scenarios:
                # A fresh controller per scenario, so RSS and counters start from the same place.
                proc = subprocess.Popen(
                    [sys.executable, '-c', CONTROLLER, '--ros-args', '-p',
                     f'policy:={args.policy}', '-p', 'command_stamp:=input', '-p',
                     'diagnostics_period:=1.0'],
                    env=dict(os.environ), cwd=ROOT, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                try:
                    results.append(_run(node, receiver, scenario, args.seconds, proc.pid,
                                        args.rss_every))
                finally:
                    proc.terminate()
                    proc.wait(timeout=10)
        finally:
            executor.shutdown()
            spinning.join(timeout=5)
            receiver.destroy_node()
            node.destroy_node()
            rclpy.shutdown()
    print(f'policy {args.policy}, {args.seconds:.0f} s per scenario')
    print(f'{"scenario":>8} {"sent":>7} {"taken":>7} {"answered":>8} {"dropped":>7} '
          f'{"p50 ms":>7} {"p99 ms":>7} {"max ms":>8} {"RSS first":>9} {"RSS last":>8} '
          f'{"RSS max":>7} {"VmHWM":>6}')
    for r in results:
        rss = [m for _, m in r['rss_mb']]
        print(f'{r["scenario"]:>8} {r["sent"]:7d} {r["taken"]:7d} {r["answered"]:8d} '
              f'{r["dropped"]:7d} {r["p50_ms"]:7.3f} {r["p99_ms"]:7.3f} {r["max_ms"]:8.2f} '
              f'{rss[0]:9.1f} {rss[-1]:8.1f} {max(rss):7.1f} {r["vmhwm_mb"]:6.1f}')
    for r in results:
        print(f'{r["scenario"]:>8} latency p50 by tenth of the run (ms): '
              + ' '.join(f'{v:.2f}' for v in r['tenths_p50_ms']))
        print(f'{r["scenario"]:>8} RSS (s, MB): '
              + ' '.join(f'{t:.0f}:{m:.1f}' for t, m in r['rss_mb']))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
