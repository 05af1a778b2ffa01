# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn_expert_driver`` node: the PiBotNav expert drives ``lnn_sim`` over ROS, for recordings.

``python -m lnn_control.ros.expert_driver --episodes 5 --ros-args -p use_sim_time:=true``

It plays the part of a skilled teleoperator who sees the arena: it reads the scene from the
sim's ``/lnn_sim/status`` (episode seed, goal), rebuilds the same scene locally (a
``PiBotNavEnv`` reset with that seed gives the same obstacles and odom origin, which is the
privileged map the expert plans on), sends the goal on ``/goal_pose`` as RViz would, and
answers every ``/odom`` message with the expert's command on ``/cmd_vel`` (TwistStamped,
stamped with the odometry's stamp, or Twist). The robot pose the expert uses is the odometry's,
not the simulator's truth. When the sim reports the goal reached (or ``episode_timeout``
seconds of sim time pass, or a collision), the driver calls ``/lnn_sim/reset`` for the next
scene, and exits after ``--episodes`` episodes. A recorder next to it
(``python -m lnn_control.ros.recorder``) then holds what a real robot's bag would: /scan,
/odom, /goal_pose, /cmd_vel.

Parameters: ``n_obstacles`` (must match lnn_sim's, default 8), ``cmd_vel_stamped`` (true),
``episode_timeout`` (60.0 s), ``sim_name`` ('lnn_sim'), ``wait_for_subscribers`` (1: an
episode starts once /goal_pose and /cmd_vel have this many subscribers; 2 with a recorder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
import signal
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Union

from geometry_msgs.msg import PoseStamped
from geometry_msgs.msg import Twist
from geometry_msgs.msg import TwistStamped
from lnn_control.envs.experts import PiBotNavExpert
from lnn_control.envs.pibot_nav import NavState
from lnn_control.envs.pibot_nav import PiBotNavEnv
from lnn_control.ros import readings
from lnn_control.ros import sim_messages as sm
from lnn_control.ros.node_config import TOPICS
from lnn_control.ros.process import init_until_signal
from nav_msgs.msg import Odometry
import rclpy
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

__all__ = ['ExpertDriver', 'main', 'record']

# What a robot bag for training holds.
RECORDED = tuple(TOPICS[r] for r in ('scan', 'odom', 'goal', 'cmd'))
_PARAMETERS = {'n_obstacles': 8, 'cmd_vel_stamped': True, 'episode_timeout': 60.0,
               'sim_name': 'lnn_sim', 'wait_for_subscribers': 1}


class ExpertDriver(Node):
    """Drive lnn_sim with the privileged PiBotNav expert; see the module docstring."""

    def __init__(self, episodes: int = 0, **kwargs: Any) -> None:
        super().__init__('lnn_expert_driver', **kwargs)
        p = {name: self.declare_parameter(name, value).value
             for name, value in _PARAMETERS.items()}
        self.p = p
        self.episodes_wanted = int(episodes)
        self.episodes_done = 0
        self.results: List[Dict[str, Any]] = []
        self._env = PiBotNavEnv(n_obstacles=int(p['n_obstacles']))
        self._expert = PiBotNavExpert()
        self._scene: Optional[NavState] = None
        self._status: Dict[str, Any] = {}
        self._episode = None
        self._resetting = False
        self._stamped = bool(p['cmd_vel_stamped'])
        cmd_type = TwistStamped if self._stamped else Twist
        self._cmd_pub = self.create_publisher(cmd_type, TOPICS['cmd'], sm.QOS['cmd_vel'])
        self._goal_pub = self.create_publisher(PoseStamped, TOPICS['goal'], sm.QOS['goal_pose'])
        sim = str(p['sim_name'])
        self.create_subscription(String, f'/{sim}/status', self._on_status, sm.QOS['status'])
        self.create_subscription(Odometry, TOPICS['odom'], self._on_odom, sm.QOS['odom'])
        self._reset_client = self.create_client(Trigger, f'/{sim}/reset')

    @property
    def finished(self) -> bool:
        """Return True once the wanted number of episodes is done (never when 0)."""
        return 0 < self.episodes_wanted <= self.episodes_done

    def _on_status(self, msg: String) -> None:
        status = json.loads(msg.data)
        self._status = status
        if self._resetting or self.finished:
            return
        if status['episode'] != self._episode:
            wanted = int(self.p['wait_for_subscribers'])
            if min(self._goal_pub.get_subscription_count(),
                   self._cmd_pub.get_subscription_count()) < wanted:
                return     # a recorder not subscribed yet would miss the goal: wait
            self._episode = status['episode']
            self._env.reset(seed=status['seed'])
            scene = self._env.state()
            expected = (scene.goal_x, scene.goal_y)
            if max(abs(a - b) for a, b in zip(status['goal'], expected)) > 1e-6:
                self.get_logger().error(
                    f'scene of seed {status["seed"]}: the goal of lnn_sim {status["goal"]} is '
                    f'not the local one {list(expected)} (is n_obstacles the same?)')
                self._scene = None
                return
            # Sent once per scene: a goal still in flight when the sim resets would land in
            # the next scene's odom frame.
            self._publish_goal(status['goal_odom'])
            self._scene = scene
        if self._scene is None:
            return
        over = status['episode_time'] > float(self.p['episode_timeout'])
        if status['reached'] or status['collision'] or over:
            self.results.append({k: status[k] for k in ('episode', 'seed', 'reached',
                                                        'collision', 'time_to_goal')})
            self.episodes_done += 1
            self._scene = None
            self._stop()
            if not self.finished:
                self._resetting = True
                self._reset_client.call_async(Trigger.Request()).add_done_callback(
                    self._on_reset)

    def _on_reset(self, future: Any) -> None:
        self._resetting = False

    def _publish_goal(self, goal_odom: List[float]) -> None:
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = 'odom'
        msg.pose.position.x, msg.pose.position.y = float(goal_odom[0]), float(goal_odom[1])
        msg.pose.orientation.w = 1.0
        self._goal_pub.publish(msg)

    def _on_odom(self, msg: Odometry) -> None:
        scene = self._scene
        if scene is None or self._resetting:
            return
        odom, reason = readings.odom_to_reading(msg)
        if odom is None:
            self.get_logger().warn(f'ignored /odom: {reason}', throttle_duration_sec=5.0)
            return
        ox, oy, oyaw = scene.odom_origin
        c, s = math.cos(oyaw), math.sin(oyaw)
        state = NavState(x=ox + c * odom.x - s * odom.y, y=oy + s * odom.x + c * odom.y,
                         yaw=oyaw + odom.yaw, v=odom.v, w=odom.w, goal_x=scene.goal_x,
                         goal_y=scene.goal_y, obstacles=scene.obstacles,
                         arena_half=scene.arena_half, odom_origin=scene.odom_origin,
                         time=odom.stamp)
        command = self._expert.act(None, state)
        self._publish_command(command, msg.header.stamp)

    def _publish_command(self, command: Any, stamp: Any) -> None:
        if self._stamped:
            out = readings.command_to_twist_stamped(command, stamp, 'base_link')
        else:
            out = readings.command_to_twist(command)
        self._cmd_pub.publish(out)

    def _stop(self) -> None:
        self._publish_command([0.0, 0.0], self.get_clock().now().to_msg())


def record(out: Union[str, Path], episodes: int, seed: int = 0, n_obstacles: int = 8,
           real_time_factor: float = 1.0, storage: str = 'mcap',
           topics: Sequence[str] = RECORDED, env: Optional[Dict[str, str]] = None,
           timeout: float = 600.0) -> Dict[str, Any]:
    """
    Record a rosbag2 of the expert driving ``lnn_sim``: three processes over real DDS.

    Starts ``lnn_sim`` (scene seeds ``seed``, ``seed + 1``, ...), the recorder
    (``python -m lnn_control.ros.recorder``, on sim time, so the bag's receive times and the
    header stamps share a clock) and this driver; stops the recorder and the sim once the
    driver has finished ``episodes`` episodes.

    Args:
        out: bag folder to create.
        episodes: episodes to drive.
        seed: first scene seed.
        n_obstacles: obstacles per scene.
        real_time_factor: sim seconds per wall second (the driver must keep up: on a busy
            machine keep it low).
        storage: 'mcap' or 'sqlite3'.
        topics: topics to record.
        env: environment of the processes (ROS_DOMAIN_ID, ...); default this process's.
        timeout: seconds of wall time before the driver is stopped.

    Returns:
        ``{'bag': path, 'episodes': [per-episode result of the sim], 'recorder': its output,
        'recorder_returncode': ..., 'recorder_stderr': ...}``.

    """
    out = Path(out)
    env = dict(os.environ if env is None else env)
    py = sys.executable
    sim_time = ['-p', 'use_sim_time:=true']
    sim = subprocess.Popen(
        [py, '-m', 'lnn_control.ros.sim_node', '--ros-args', '-p', f'seed:={int(seed)}',
         '-p', f'n_obstacles:={int(n_obstacles)}',
         '-p', f'real_time_factor:={float(real_time_factor)}'],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    recorder = subprocess.Popen(
        [py, '-m', 'lnn_control.ros.recorder', '--out', str(out), '--storage', storage]
        + [a for t in topics for a in ('--topic', t)] + ['--ros-args'] + sim_time,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        driver = subprocess.run(
            [py, '-m', 'lnn_control.ros.expert_driver', '--episodes', str(int(episodes)),
             '--ros-args', '-p', f'n_obstacles:={int(n_obstacles)}',
             '-p', 'wait_for_subscribers:=2'] + sim_time,
            env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        for proc in (recorder, sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        rec_out, rec_err = recorder.communicate(timeout=30)
        sim.communicate(timeout=30)
    lines = [line for line in driver.stdout.splitlines() if line.startswith('{')]
    if driver.returncode != 0 or not lines:
        raise RuntimeError(f'expert driver failed ({driver.returncode}): {driver.stderr[-2000:]}')
    if not (out / 'metadata.yaml').is_file():
        raise RuntimeError(f'recorder failed ({recorder.returncode}), no bag: {rec_err[-2000:]}')
    # The recorder closes the bag in a finally block; an error while it was being stopped
    # (seen: rclpy's take_message failing as SIGINT shuts the context down) is reported here
    # with its exit status, for the caller to judge the bag (complete or not) itself.
    return {'bag': out, 'episodes': json.loads(lines[-1])['episodes'], 'recorder': rec_out,
            'recorder_returncode': recorder.returncode, 'recorder_stderr': rec_err[-2000:]}


def main(argv: Optional[List[str]] = None) -> int:
    """Run the driver until ``--episodes`` are done (0: until Ctrl-C); print the results."""
    args_in = sys.argv[1:] if argv is None else list(argv)
    ros_args: List[str] = []
    if '--ros-args' in args_in:
        at = args_in.index('--ros-args')
        args_in, ros_args = args_in[:at], args_in[at:]
    parser = argparse.ArgumentParser(prog='python -m lnn_control.ros.expert_driver',
                                     description='drive lnn_sim with the PiBotNav expert')
    parser.add_argument('--episodes', type=int, default=0,
                        help='episodes to drive, then exit (0: until Ctrl-C)')
    args = parser.parse_args(args_in)
    stop = init_until_signal(['expert_driver'] + ros_args)
    node = ExpertDriver(episodes=args.episodes)
    try:
        while not stop and rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        print(json.dumps({'episodes': node.results}), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
