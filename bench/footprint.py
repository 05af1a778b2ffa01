# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Footprint of lnn_controller, as a proxy for a Raspberry Pi: memory, start-up, CPU per step.

    python bench/footprint.py [--seconds 10] [--policy pibot_nav_cfc] [--rates 20 100]

For each input rate (odometry at R Hz, scans at R/4, a goal) and each CPU setting (all cores,
and pinned to core 0 with ``taskset -c 0``, as a Pi 4's one core left to the controller), a
fresh ``lnn_controller`` process is started with torch made unimportable (the robot has no
torch). Measured, per run:

- ``first cmd``: seconds from process start (``Popen``) to the first /cmd_vel received, and to
  the first non-zero one (the policy driving; before inputs arrive the watchdog sends zeros);
  the inputs are already being published when the process starts. ``CPU to it``: the CPU
  seconds the process had used by then (what an idle core would need, DDS discovery aside;
  wall times on a loaded machine are inflated).
- ``CPU/step``: the process's user+system CPU time (``/proc/PID/stat``) over the steady part of
  the run divided by the commands received in it, and the CPU share of one core.
- ``RSS``: VmRSS at the end and VmHWM (peak).

Import time and the RSS after importing the node module are measured in a separate process
(``import lnn_control.ros.controller_node`` plus ``load_policy``), median of 5.
Targets of issue 9: RSS <= 120 MB, first command <= 2 s after start.
"""

import argparse
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (one BLAS thread, as on the robot)
from common import cpu_seconds  # noqa: E402
from common import status_mb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NO_TORCH = "import sys; sys.modules['torch'] = None; "
NODE = NO_TORCH + 'from lnn_control.ros.controller_node import main; main()'
IMPORT = NO_TORCH + """
import time
t0 = time.perf_counter()
import lnn_control.ros.controller_node
t1 = time.perf_counter()
from lnn_control.runtime import load_policy
load_policy(sys.argv[1])
t2 = time.perf_counter()
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]
print(t1 - t0, t2 - t1, int(rss) / 1024)
"""


def run(node, executor, env, rate: float, seconds: float, policy: str, pin: bool) -> dict:
    """Start a controller, feed it at ``rate`` Hz, return its footprint figures."""
    from geometry_msgs.msg import PoseStamped
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import LaserScan
    odom_pub = node.create_publisher(Odometry, '/odom', qos_profile_sensor_data)
    scan_pub = node.create_publisher(LaserScan, '/scan', qos_profile_sensor_data)
    goal_pub = node.create_publisher(PoseStamped, '/goal_pose', 10)
    got = {'first': None, 'first_move': None, 'count': 0, 'first_cpu': float('nan'),
           'pid': None}

    def on_cmd(msg):
        now = time.perf_counter()
        got['count'] += 1
        if got['first'] is None:
            got['first'] = now
            got['first_cpu'] = cpu_seconds(got['pid'])
        if got['first_move'] is None and (msg.twist.linear.x or msg.twist.angular.z):
            got['first_move'] = now

    sub = node.create_subscription(TwistStamped, '/cmd_vel', on_cmd, 10)
    goal, scan, odom = common.robot_messages()
    cmd = [sys.executable, '-c', NODE, '--ros-args', '-p', f'policy:={policy}']
    if pin:
        cmd = ['taskset', '-c', '0'] + cmd
    period = 1.0 / rate
    sent = 0
    # Inputs flow before the controller starts, as on a robot whose drivers are up.
    start = time.perf_counter()
    proc = None
    measure_from = start + seconds / 3 + 3.0
    cpu0 = count0 = None
    try:
        while time.perf_counter() - start < seconds + 3.0:
            due = start + sent * period
            while time.perf_counter() < due:
                executor.spin_once(timeout_sec=max(0.0, due - time.perf_counter()))
            if proc is None and time.perf_counter() - start > 1.0:
                launched = time.perf_counter()
                proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                got['pid'] = proc.pid
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
            if cpu0 is None and time.perf_counter() >= measure_from:
                cpu0, count0, t0 = cpu_seconds(proc.pid), got['count'], time.perf_counter()
        cpu1, count1, t1 = cpu_seconds(proc.pid), got['count'], time.perf_counter()
        rss, hwm = status_mb(proc.pid, 'VmRSS'), status_mb(proc.pid, 'VmHWM')
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        node.destroy_subscription(sub)
        for pub in (odom_pub, scan_pub, goal_pub):
            node.destroy_publisher(pub)
    steps = max(count1 - count0, 1)
    return {'rate': rate, 'pin': pin, 'rss': rss, 'hwm': hwm,
            'first': (got['first'] - launched) if got['first'] else float('nan'),
            'first_move': (got['first_move'] - launched) if got['first_move'] else float('nan'),
            'first_cpu': got['first_cpu'],
            'cpu_ms_step': 1e3 * (cpu1 - cpu0) / steps, 'cpu_share': (cpu1 - cpu0) / (t1 - t0),
            'steps': steps, 'expected': int((t1 - t0) * rate)}


def import_figures(policy: str, env: dict, repeats: int = 5) -> dict:
    """Median import time of the node module, policy load time and RSS after them."""
    rows = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, '-c', IMPORT, policy], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        rows.append([float(v) for v in out])
    return {name: statistics.median(r[i] for r in rows)
            for i, name in enumerate(('import_s', 'load_s', 'rss_mb'))}


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--rates', type=float, nargs='+', default=[20.0, 100.0])
    args = parser.parse_args()
    import domain_coordinator
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    pins = [False, True] if shutil.which('taskset') else [False]
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        env = dict(os.environ)
        imports = import_figures(args.policy, env)
        rclpy.init()
        node = rclpy.create_node('footprint_driver')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        rows = []
        try:
            for pin in pins:
                for rate in args.rates:
                    rows.append(run(node, executor, env, rate, args.seconds, args.policy, pin))
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown()
    print(f'policy {args.policy}; {os.cpu_count()} cores; torch blocked in the controller')
    print(f'import lnn_control.ros.controller_node {imports["import_s"]:.3f} s, load_policy '
          f'{imports["load_s"]:.3f} s, RSS after both {imports["rss_mb"]:.1f} MB (median of 5)')
    print(f'{"rate Hz":>7} {"cores":>6} {"first cmd s":>11} {"CPU to it s":>11} '
          f'{"first move s":>12} '
          f'{"CPU ms/step":>11} {"CPU % core":>10} {"cmds":>9} {"RSS MB":>7} {"HWM MB":>7}')
    for r in rows:
        print(f'{r["rate"]:7.0f} {"1 (pin)" if r["pin"] else "all":>6} {r["first"]:11.2f} '
              f'{r["first_cpu"]:11.2f} '
              f'{r["first_move"]:12.2f} {r["cpu_ms_step"]:11.3f} {100 * r["cpu_share"]:10.1f} '
              f'{r["steps"]:>4}/{r["expected"]:<4} {r["rss"]:7.1f} {r["hwm"]:7.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
