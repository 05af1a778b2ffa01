# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Sensor-to-command latency of lnn_controller against a minimal echo node, over real DDS.

A driver (this process) publishes stamped Odometry, LaserScan (1/4 rate) and a goal at 100 Hz
and 1 kHz; per odometry message it measures the time from its publish to the reception of the
answer (/cmd_vel from the controller, /echo_cmd from the echo node, each a separate process).
It reports median/p99, the controller/echo ratio, a backlog check (first vs last 10 % of the
latencies), each node's peak RSS (VmHWM) and the CPU time it used per answered message (user +
system, ``/proc/PID/stat``: what a message costs the node whatever the machine's load, the
executor's wake-ups included).

    python bench/controller_latency.py [--seconds 10] [--policy pibot_nav_cfc]
        [--rates 100 1000] [--repeats 1] [--baseline OTHER_CHECKOUT]

Both nodes use rclpy's SingleThreadedExecutor. The controller runs with
``command_stamp:=input`` so its answers carry the input's stamp, like the echo's.
``--baseline`` adds a third node, the controller of another checkout (its ``lnn_control``
first on ``PYTHONPATH``), in the same rounds: before/after figures from one run.
"""

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

from common import cpu_seconds
from common import robot_messages
from common import status_mb

ROOT = Path(__file__).resolve().parent.parent
ECHO = """
import rclpy
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
rclpy.init()
node = rclpy.create_node('echo')
pub = node.create_publisher(TwistStamped, '/echo_cmd', 10)
def on_odom(msg):
    out = TwistStamped()
    out.header = msg.header
    out.twist = msg.twist.twist
    pub.publish(out)
node.create_subscription(Odometry, '/odom', on_odom, qos_profile_sensor_data)
rclpy.spin(node)
"""


def _drive(node, executor, answer_topic: str, rate: float, seconds: float, pid: int):
    from geometry_msgs.msg import PoseStamped
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    import numpy as np
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import LaserScan

    odom_pub = node.create_publisher(Odometry, '/odom', qos_profile_sensor_data)
    scan_pub = node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data)
    goal_pub = node.create_publisher(PoseStamped, '/goal_pose', 10)
    # Answers are matched to inputs by header stamp (the echo copies it, the controller runs
    # with command_stamp:=input), so at 1 kHz a late answer is not taken for a later input's.
    sent_at = {}
    latencies = []

    answers = [0]

    def on_answer(msg):
        answers[0] += 1
        t = sent_at.pop((msg.header.stamp.sec, msg.header.stamp.nanosec), None)
        if t is not None:
            latencies.append(time.perf_counter() - t)

    sub = node.create_subscription(TwistStamped, answer_topic, on_answer, 10)
    goal, scan, odom = robot_messages()
    period = 1.0 / rate
    # Warm-up, not measured: discovery (which can take the DDS announcement period, ~3 s),
    # the goal and inputs until answers come, then 2 s more.
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        if answers[0] and end - time.monotonic() > 2.0:
            end = time.monotonic() + 2.0
        goal.header.stamp = node.get_clock().now().to_msg()
        goal_pub.publish(goal)
        scan.header.stamp = goal.header.stamp
        scan_pub.publish(scan)
        odom.header.stamp = goal.header.stamp
        odom_pub.publish(odom)
        executor.spin_once(timeout_sec=0.02)
    latencies.clear()
    sent_at.clear()
    sent = 0
    cpu0 = cpu_seconds(pid)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        due = start + sent * period
        while time.perf_counter() < due:
            executor.spin_once(timeout_sec=max(0.0, due - time.perf_counter()))
        stamp = node.get_clock().now().to_msg()
        if sent % 4 == 0:
            scan.header.stamp = stamp
            scan_pub.publish(scan)
        odom.header.stamp = stamp
        sent_at[(stamp.sec, stamp.nanosec)] = time.perf_counter()
        odom_pub.publish(odom)
        sent += 1
        executor.spin_once(timeout_sec=0.0)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
    cpu = cpu_seconds(pid) - cpu0
    node.destroy_subscription(sub)
    for pub in (odom_pub, scan_pub, goal_pub):
        node.destroy_publisher(pub)
    lat = np.asarray(latencies) * 1e3
    if lat.size == 0:
        nan = float('nan')
        return {'sent': sent, 'answered': 0, 'p50': nan, 'p99': nan, 'max': nan,
                'first10_p50': nan, 'last10_p50': nan, 'cpu_us': nan}
    tenth = max(1, len(lat) // 10)
    return {'sent': sent, 'answered': len(lat), 'p50': float(np.median(lat)),
            'p99': float(np.percentile(lat, 99)), 'max': float(lat.max()),
            'first10_p50': float(np.median(lat[:tenth])),
            'last10_p50': float(np.median(lat[-tenth:])),
            'cpu_us': cpu / len(lat) * 1e6}


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--rates', type=float, nargs='+', default=[100.0, 1000.0])
    parser.add_argument('--repeats', type=int, default=1,
                        help='alternate controller and echo runs this many times per rate')
    parser.add_argument('--baseline', default='',
                        help='another checkout whose controller runs too (e.g. the code '
                             'before a change)')
    args = parser.parse_args()
    kinds = ('controller', 'echo') + (('baseline',) if args.baseline else ())
    import domain_coordinator
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    rows = []
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        env = dict(os.environ)
        rclpy.init()
        node = rclpy.create_node('latency_driver')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            for rate in args.rates:
                runs = {kind: [] for kind in kinds}
                for _ in range(args.repeats):
                    for kind in kinds:
                        run_env = env
                        if kind == 'baseline':
                            run_env = dict(env, PYTHONPATH=os.pathsep.join(
                                [str(Path(args.baseline).resolve()), env.get('PYTHONPATH', '')]))
                        if kind != 'echo':
                            cmd = [sys.executable, '-c', "import sys; sys.modules['torch'] = "
                                   'None; from lnn_control.ros.controller_node import main; '
                                   'main()', '--ros-args', '-p', f'policy:={args.policy}',
                                   '-p', 'command_stamp:=input']
                            topic = '/cmd_vel'
                        else:
                            cmd, topic = [sys.executable, '-c', ECHO], '/echo_cmd'
                        # python -c puts the working directory first on sys.path:
                        # the baseline runs in its own checkout, or it would import ours.
                        cwd = Path(args.baseline).resolve() if kind == 'baseline' else ROOT
                        proc = subprocess.Popen(cmd, env=run_env, cwd=cwd,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
                        try:
                            run = _drive(node, executor, topic, rate, args.seconds, proc.pid)
                            run['hwm'] = status_mb(proc.pid)
                            runs[kind].append(run)
                        finally:
                            proc.terminate()
                            try:
                                proc.wait(timeout=10)
                            except subprocess.TimeoutExpired:
                                proc.kill()
                rows.append((rate, runs))
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown()
    print(f'{"rate":>6} {"node":>10} {"sent":>6} {"answered":>8} {"p50 ms":>7} {"p99 ms":>7} '
          f'{"max ms":>7} {"first10% p50":>12} {"last10% p50":>11} {"VmHWM MB":>8} '
          f'{"CPU us/answer":>13}')
    for rate, runs in rows:
        for kind, results in runs.items():
            for r in results:
                print(f'{rate:6.0f} {kind:>10} {r["sent"]:6d} {r["answered"]:8d} '
                      f'{r["p50"]:7.3f} {r["p99"]:7.3f} {r["max"]:7.3f} '
                      f'{r["first10_p50"]:12.3f} {r["last10_p50"]:11.3f} {r["hwm"]:8.1f} '
                      f'{r["cpu_us"]:13.1f}')
        for kind in kinds[:1] + kinds[2:]:
            ratios = [c['p50'] / e['p50'] for c, e in zip(runs[kind], runs['echo'])]
            shares = [c['answered'] / max(c['sent'], 1) for c in runs[kind]]
            print(f'{rate:6.0f} {kind}/echo p50 ratio per repeat '
                  f'{" ".join(f"{x:.2f}" for x in ratios)} (median '
                  f'{statistics.median(ratios):.2f}); answered share median '
                  f'{statistics.median(shares):.3f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
