# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Where the controller's time per message goes, in process (no DDS round trip, less noise).

Calls ``lnn_controller``'s own odometry callback (a configured, active node in this process)
and, side by side, an echo callback (copy the header and twist into a TwistStamped and
publish), and times the parts of the controller's path: message -> reading, the core step
(Observer, policy, Actuator, guards) with the policy step alone, and the command build.
The DDS latency benchmark (``controller_latency.py``) adds the same transport to both.

    python bench/controller_overhead.py [--policy pibot_nav_cfc] [--n 3000] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import time

from common import robot_messages


def _median_us(fn, n):
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def main() -> int:
    """Run the measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--policy', default='pibot_nav_cfc')
    parser.add_argument('--n', type=int, default=3000)
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    import domain_coordinator
    from geometry_msgs.msg import TwistStamped
    import numpy as np
    import rclpy

    from lnn_control.ros import readings
    from lnn_control.ros.controller_node import LnnController

    with domain_coordinator.domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
        rclpy.init(args=['--ros-args', '-p', f'policy:={args.policy}', '-p',
                         'neuron_state_rate:=0.0'])
        node = LnnController()
        node.trigger_configure()
        node.trigger_activate()
        callbacks = {sub.topic_name: sub.callback for sub in node._io_subs}
        echo_pub = node.create_publisher(TwistStamped, '/echo_cmd', 10)

        def echo(msg):
            out = TwistStamped()
            out.header = msg.header
            out.twist = msg.twist.twist
            echo_pub.publish(out)

        goal, scan, odom = robot_messages()
        callbacks['/goal_pose'](goal)
        clock = {'t': 100.0}

        def controller(i):
            clock['t'] += 0.01
            stamp = readings.seconds_to_stamp(clock['t'])
            if i % 4 == 0:   # scans at a quarter of the odometry rate, as in the DDS bench
                scan.header.stamp = stamp
                callbacks['/scan'](scan)
            odom.header.stamp = stamp
            callbacks['/odom'](odom)

        for i in range(8):
            controller(i)
        core = node.core
        reading, _ = readings.odom_to_reading(odom)
        obs = core.mode.observer.observe(core.readings['scan'], reading, core.readings['goal'])
        build = node._build_command
        command = np.zeros(2)
        parts = {
            'controller callbacks (all)': controller,
            'echo callback (all)': lambda i: echo(odom),
            '  odometry -> reading': lambda i: readings.odom_to_reading(odom),
            '  observer': lambda i: core.mode.observer.observe(core.readings['scan'], reading,
                                                          core.readings['goal']),
            '  policy step': lambda i: core.policy.step(obs, 0.01),
            '  actuator': lambda i: core.actuator.command(command, 0.01),
            '  command message build': lambda i: build(command, odom.header.stamp, 'base_link',
                                                       out=node._cmd_msg),
        }
        for fn in parts.values():     # warm-up
            for i in range(200):
                fn(i)
        results = {name: [] for name in parts}
        for _ in range(args.repeats):
            for name, fn in parts.items():
                results[name].append(_median_us(fn, args.n))
        node.destroy_node()
        rclpy.shutdown()
    print(f'{"part (median of per-call medians)":<36} {"us":>8}')
    for name, values in results.items():
        print(f'{name:<36} {statistics.median(values):8.1f}')
    extra = (statistics.median(results['controller callbacks (all)'])
             - statistics.median(results['echo callback (all)']))
    print(f'controller - echo: {extra:.1f} us per odometry message ({args.policy}; '
          f'the controller figure includes a quarter of a scan callback)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
