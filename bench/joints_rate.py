# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A ros2_control-rate ``/joint_states`` stream into lnn_controller in vector mode, over DDS.

    python bench/joints_rate.py [--seconds 10] [--rate 1000] [--repeats 3]
        [--policy pendulum_cfc] [--baseline OTHER_CHECKOUT]

A driver (this process) publishes stamped ``sensor_msgs/JointState`` (the pendulum's two
joints, positions and velocities, sensor QoS) at ``--rate`` Hz to a fresh ``lnn_controller``
(``config/pendulum_controller.yaml``'s mode: vector, trigger joints, Float64MultiArray
commands; torch unimportable) and, alternating, to an echo node (subscribe, publish a
JointState with the input's header). Per run: inputs sent, answers received and their share,
answers per second over the run (a falling count means the node falls behind), and the
latency from publish to answer. A Float64MultiArray carries no stamp, so the controller's
latency is sampled through ``~/neuron_state`` (stamped with the input that stepped it,
published right after the command, here at 50 Hz); the echo's is that of every answer.
Backlog: the median latency of the first and the last tenth of the samples. CPU: the node
process's user + system time per answer (``/proc/PID/stat``). ``--baseline``
adds the controller of another checkout to the same rounds (before/after in one run).
"""

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402, F401  (one BLAS thread, as on the robot)
from common import cpu_seconds  # noqa: E402
from common import status_mb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONTROLLER = ("import sys; sys.modules['torch'] = None; "
              'from lnn_control.ros.controller_node import main; main()')
ECHO = """
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
rclpy.init()
node = rclpy.create_node('joints_echo')
pub = node.create_publisher(JointState, '/echo_joints', 10)
def on_joints(msg):
    out = JointState()
    out.header = msg.header
    pub.publish(out)
node.create_subscription(JointState, '/joint_states', on_joints, qos_profile_sensor_data)
rclpy.spin(node)
"""


def drive(node, executor, kind: str, rate: float, seconds: float, pid: int) -> dict:
    """Publish joint states at ``rate`` for ``seconds``; count and time the answers."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    import numpy as np
    pub = node.create_publisher(JointState, '/joint_states', qos_profile_sensor_data)
    sent_at, latencies, arrivals = {}, [], []

    def stamped(msg):
        t = sent_at.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
        if t is not None:
            latencies.append(time.perf_counter() - t)

    def counted(msg):
        arrivals.append(time.perf_counter())

    if kind != 'echo':
        subs = [node.create_subscription(Float64MultiArray, '/effort_controller/commands',
                                         counted, 100),
                node.create_subscription(JointState, '/lnn_controller/neuron_state', stamped,
                                         100)]
    else:
        subs = [node.create_subscription(JointState, '/echo_joints',
                                         lambda m: (counted(m), stamped(m)), 100)]
    msg = JointState()
    msg.name = ['slider', 'hinge']
    msg.position = [0.0, 0.01]
    msg.velocity = [0.0, 0.0]
    period = 1.0 / rate
    # Warm-up, not measured: discovery (which can take the DDS announcement period, ~3 s)
    # and inputs until answers come, then 2 s more.
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        if arrivals and end - time.monotonic() > 2.0:
            end = time.monotonic() + 2.0
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        executor.spin_once(timeout_sec=0.01)
    latencies.clear()
    arrivals.clear()
    sent_at.clear()
    sent = 0
    cpu0 = cpu_seconds(pid)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        due = start + sent * period
        while time.perf_counter() < due:
            executor.spin_once(timeout_sec=max(0.0, due - time.perf_counter()))
        stamp = node.get_clock().now().to_msg()
        msg.header.stamp = stamp
        sent_at[(stamp.sec, stamp.nanosec)] = time.perf_counter()
        pub.publish(msg)
        sent += 1
        executor.spin_once(timeout_sec=0.0)
    stop = time.perf_counter()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.01)
    cpu = cpu_seconds(pid) - cpu0
    for sub in subs:
        node.destroy_subscription(sub)
    node.destroy_publisher(pub)
    answered = sum(1 for t in arrivals if t <= stop + 0.05)
    per_second = np.histogram(np.asarray(arrivals) - start, bins=int(seconds),
                              range=(0.0, float(int(seconds))))[0]
    lat = np.asarray(latencies) * 1e3
    tenth = max(1, lat.size // 10)
    nan = float('nan')
    return {'sent': sent, 'answered': answered, 'share': answered / max(sent, 1),
            'per_s_first': int(per_second[0]) if per_second.size else 0,
            'per_s_last': int(per_second[-1]) if per_second.size else 0,
            'samples': int(lat.size),
            'p50': float(np.median(lat)) if lat.size else nan,
            'p99': float(np.percentile(lat, 99)) if lat.size else nan,
            'first10': float(np.median(lat[:tenth])) if lat.size else nan,
            'last10': float(np.median(lat[-tenth:])) if lat.size else nan,
            'cpu_us': cpu / max(answered, 1) * 1e6}


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=1000.0)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--policy', default='pendulum_cfc')
    parser.add_argument('--baseline', default='', help='another checkout to run as well')
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
        node = rclpy.create_node('joints_driver')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        try:
            for _ in range(args.repeats):
                for kind in kinds:
                    run_env = env
                    if kind == 'baseline':
                        run_env = dict(env, PYTHONPATH=os.pathsep.join(
                            [str(Path(args.baseline).resolve()), env.get('PYTHONPATH', '')]))
                    if kind != 'echo':
                        cmd = [sys.executable, '-c', CONTROLLER, '--ros-args', '--params-file',
                               str(ROOT / 'config' / 'pendulum_controller.yaml'), '-p',
                               f'policy:={args.policy}', '-p', 'neuron_state_rate:=50.0',
                               '-p', 'watchdog_timeout:=0.5']
                    else:
                        cmd = [sys.executable, '-c', ECHO]
                    # python -c puts the working directory first on sys.path: the
                    # baseline runs in its own checkout, or it would import ours.
                    cwd = Path(args.baseline).resolve() if kind == 'baseline' else ROOT
                    proc = subprocess.Popen(cmd, env=run_env, cwd=cwd,
                                            stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    try:
                        run = drive(node, executor, kind, args.rate, args.seconds, proc.pid)
                        run['hwm'] = status_mb(proc.pid)
                        rows.append((kind, run))
                    finally:
                        proc.terminate()
                        try:
                            proc.wait(timeout=10)
                        except subprocess.TimeoutExpired:
                            proc.kill()
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown()
    print(f'/joint_states at {args.rate:g} Hz for {args.seconds:g} s, {args.policy} '
          f'(vector mode)')
    print(f'{"node":>10} {"sent":>6} {"answered":>8} {"share":>6} {"/s first":>8} '
          f'{"/s last":>7} {"samples":>7} {"p50 ms":>7} {"p99 ms":>7} {"first10%":>8} '
          f'{"last10%":>7} {"VmHWM MB":>8} {"CPU us/answer":>13}')
    for kind, r in rows:
        print(f'{kind:>10} {r["sent"]:6d} {r["answered"]:8d} {r["share"]:6.3f} '
              f'{r["per_s_first"]:8d} {r["per_s_last"]:7d} {r["samples"]:7d} {r["p50"]:7.3f} '
              f'{r["p99"]:7.3f} {r["first10"]:8.3f} {r["last10"]:7.3f} {r["hwm"]:8.1f} '
              f'{r["cpu_us"]:13.1f}')
    for name in kinds[:1] + kinds[2:]:
        shares = [r['share'] for kind, r in rows if kind == name]
        print(f'{name} answered share per repeat: {" ".join(f"{s:.3f}" for s in shares)} '
              f'(median {statistics.median(shares):.3f})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
