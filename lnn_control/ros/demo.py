# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The closed-loop demo over real DDS: ``lnn_sim`` and ``lnn_controller`` as separate processes.

On an isolated ROS domain (``domain_coordinator``, localhost discovery only) it starts the
MuJoCo simulation node and the liquid controller node (on sim time, torch never imported),
sends the scene's goal on ``/goal_pose`` as RViz would, and watches ``/odom``, ``/cmd_vel`` and
the sim's ``~/status``. It prints whether the robot reached the goal, the time it took, and the
sensor-to-command latency seen by a subscriber (an ``/odom`` message in, the ``/cmd_vel``
answering it out, both received in this process: two DDS hops plus the controller's work), with
the controller's own step latency from ``/diagnostics``; it writes a PNG of the driven path.

    python -m lnn_control.ros.demo [--policy pibot_nav_cfc] [--seed 7] [--obstacles 6]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
SIM_NAME, CONTROLLER_NAME = 'demo_sim', 'demo_controller'


def _start(module: str, name: str, params: Dict[str, Any], log: Path,
           env: Dict[str, str], params_file: Optional[Path] = None) -> subprocess.Popen:
    args = [sys.executable, '-m', module, '--ros-args', '-r', f'__node:={name}']
    if params_file is not None:
        args += ['--params-file', str(params_file)]
    for key, value in params.items():
        args += ['-p', f'{key}:={str(value).lower() if isinstance(value, bool) else value}']
    return subprocess.Popen(args, env=env, stdout=open(log, 'w'), stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a node process: SIGTERM (it sends its zero command), SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _watch(policy: str, seed: int, obstacles: int, timeout: float, out: Path,
           env: Dict[str, str]) -> Dict[str, Any]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped, TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from std_msgs.msg import String

    rclpy.init()
    node = rclpy.create_node('lnn_demo')
    seen: Dict[str, Any] = {'status': None, 'odom_t': None, 'path': [], 'latency': [],
                            'diag': {}}

    def on_status(msg: String) -> None:
        seen['status'] = json.loads(msg.data)

    def on_odom(msg: Odometry) -> None:
        seen['odom_t'] = time.perf_counter()
        p = msg.pose.pose.position
        seen['path'].append((p.x, p.y))

    def on_cmd(msg: TwistStamped) -> None:
        if seen['odom_t'] is not None:
            seen['latency'].append(time.perf_counter() - seen['odom_t'])
            seen['odom_t'] = None   # one command answers one odometry message

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if CONTROLLER_NAME in status.name:
                seen['diag'] = {kv.key: kv.value for kv in status.values}

    node.create_subscription(String, f'/{SIM_NAME}/status', on_status, 10)
    node.create_subscription(Odometry, '/odom', on_odom, qos_profile_sensor_data)
    node.create_subscription(TwistStamped, '/cmd_vel', on_cmd, 10)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    goal_pub = node.create_publisher(PoseStamped, '/goal_pose', 10)
    try:
        deadline = time.monotonic() + 60.0
        while seen['status'] is None and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        if seen['status'] is None:
            raise RuntimeError('lnn_sim published no status within 60 s')
        start_pose = list(seen['status']['pose'])
        gx, gy = seen['status']['goal_odom']
        goal = PoseStamped()
        goal.header.frame_id = 'odom'
        goal.pose.position.x, goal.pose.position.y = float(gx), float(gy)
        goal.pose.orientation.w = 1.0
        # /goal_pose is volatile: repeat it until the controller has a goal and drives.
        sent_at = time.monotonic()
        while time.monotonic() - sent_at < 60.0:
            goal_pub.publish(goal)
            for _ in range(5):
                rclpy.spin_once(node, timeout_sec=0.1)
            if seen['diag'].get('goal_set') == 'True' and seen['latency']:
                break
        while time.monotonic() - sent_at < timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            status = seen['status']
            if status.get('reached') or status.get('collision'):
                break
        for _ in range(15):   # one more diagnostics period
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    status = seen['status']
    latency = np.asarray(seen['latency'][5:] or [math.nan]) * 1e3
    result = {
        'policy': policy, 'seed': seed, 'obstacles': obstacles,
        'reached': bool(status.get('reached')), 'collision': bool(status.get('collision')),
        'time_to_goal_s': status.get('time_to_goal'), 'final_distance_m': status['distance'],
        'sensor_to_command_ms_p50': float(np.percentile(latency, 50)),
        'sensor_to_command_ms_p99': float(np.percentile(latency, 99)),
        'commands': len(seen['latency']),
        'controller_step_ms_p50': seen['diag'].get('step_latency_p50_ms'),
        'controller_step_ms_p99': seen['diag'].get('step_latency_p99_ms'),
        'start_pose': start_pose, 'goal_odom': [gx, gy],
    }
    _plot(out / 'path.png', seen['path'], start_pose, (gx, gy), seed, obstacles, result)
    return result


def _plot(path: Path, odom_path: List[Tuple[float, float]], start: List[float],
          goal_odom: Tuple[float, float], seed: int, obstacles: int,
          result: Dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    from lnn_control.envs.sim_bridge import SimBridge
    # The same first scene the sim node drew (same seed and obstacle count): its obstacles.
    state = SimBridge(n_obstacles=obstacles, seed=seed).env.state()
    if math.hypot(state.x - start[0], state.y - start[1]) > 1e-3:
        raise RuntimeError("the re-created scene does not match the sim node's start pose")
    x0, y0, yaw0 = start
    c, s = math.cos(yaw0), math.sin(yaw0)

    def to_world(x: float, y: float) -> Tuple[float, float]:
        return x0 + c * x - s * y, y0 + s * x + c * y

    fig, ax = plt.subplots(figsize=(5, 5))
    half = state.arena_half
    ax.add_patch(Rectangle((-half, -half), 2 * half, 2 * half, fill=False, lw=2))
    for ox, oy, oyaw, shape, a, b in state.obstacles:
        if shape == 0:
            ax.add_patch(Circle((ox, oy), a, color='0.5'))
        else:   # a box of half sizes (a, b), rotated by oyaw about its centre
            corner = (ox - a * math.cos(oyaw) + b * math.sin(oyaw),
                      oy - a * math.sin(oyaw) - b * math.cos(oyaw))
            ax.add_patch(Rectangle(corner, 2 * a, 2 * b, angle=math.degrees(oyaw),
                                   color='0.5'))
    if odom_path:
        xs, ys = zip(*(to_world(x, y) for x, y in odom_path))
        ax.plot(xs, ys, '-', color='tab:blue', lw=2, label='driven path (odometry)')
    gx, gy = to_world(*goal_odom)
    ax.plot([x0], [y0], 'o', color='tab:green', label='start')
    ax.plot([gx], [gy], '*', color='tab:red', ms=15, label='goal')
    verdict = 'reached' if result['reached'] else (
        'collision' if result['collision'] else 'not reached')
    ax.set_title(f'{Path(result["policy"]).stem}: {verdict}, seed {seed}')
    ax.set_xlim(-half - 0.1, half + 0.1)
    ax.set_ylim(-half - 0.1, half + 0.1)
    ax.set_aspect('equal')
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(policy: str = 'pibot_nav_cfc', seed: int = 7, obstacles: int = 6,
        timeout: float = 90.0, out: str = 'runs/ros_demo') -> Dict[str, Any]:
    """Run the demo; return the result dict (also written to ``out/result.json``)."""
    import domain_coordinator
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = dict(os.environ)
    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        env = dict(os.environ)
        sim = _start('lnn_control.ros.sim_node', SIM_NAME,
                     {'seed': seed, 'n_obstacles': obstacles, 'real_time_factor': 1.0},
                     out_dir / 'sim.log', env)
        controller = _start('lnn_control.ros.controller_node', CONTROLLER_NAME,
                            {'policy': policy, 'use_sim_time': True}, out_dir / 'controller.log',
                            env, params_file=ROOT / 'config' / 'pibot_controller.yaml')
        try:
            result = _watch(policy, seed, obstacles, timeout, out_dir, env)
        finally:
            stop_process(controller)
            stop_process(sim)
            os.environ.clear()
            os.environ.update(saved)
    (out_dir / 'result.json').write_text(json.dumps(result, indent=2))
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """Command line entry: run the demo and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--obstacles', type=int, default=6)
    parser.add_argument('--timeout', type=float, default=90.0, help='seconds after the goal')
    parser.add_argument('--out', default='runs/ros_demo')
    args = parser.parse_args(argv)
    print(f'Starting lnn_sim and lnn_controller ({args.policy}) as separate processes on an '
          f'isolated ROS domain; scene seed {args.seed}, {args.obstacles} obstacles.')
    start = time.monotonic()
    result = run(args.policy, args.seed, args.obstacles, args.timeout, args.out)
    verdict = 'REACHED the goal' if result['reached'] else (
        'COLLIDED' if result['collision'] else 'did not reach the goal')
    print(f'The robot {verdict}' + (f' in {result["time_to_goal_s"]:.1f} s of sim time'
                                    if result['reached'] else
                                    f' (final distance {result["final_distance_m"]:.2f} m)'))
    print(f'Sensor-to-command latency (/odom in -> /cmd_vel out, seen over DDS): '
          f'p50 {result["sensor_to_command_ms_p50"]:.2f} ms, '
          f'p99 {result["sensor_to_command_ms_p99"]:.2f} ms over {result["commands"]} commands')
    print(f'Controller step inside the node: p50 {result["controller_step_ms_p50"]} ms, '
          f'p99 {result["controller_step_ms_p99"]} ms')
    print(f'Path: {Path(args.out) / "path.png"}; demo wall time {time.monotonic() - start:.0f} s')
    return 0 if result['reached'] else 1


if __name__ == '__main__':
    sys.exit(main())
