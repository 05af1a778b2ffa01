# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Where the controller's time per message goes, in process (no DDS round trip, less noise).

Calls ``lnn_controller``'s own callbacks (a configured, active node in this process) and, side
by side, an echo callback (copy the header and twist into a TwistStamped and publish); both
get the same freshly stamped messages (stamps made before timing). Each repeat times the
controller and the echo back to back and gives their ratio; the table has the medians. It
also times the parts of the controller's path alone: message -> reading, the core step (goal
monitor, Observer, policy, Actuator, guards), the policy step and the cell step inside it,
the command build and the publish. ``--profile`` prints where the callbacks' time goes
(cProfile). The DDS latency benchmark (``controller_latency.py``) adds the same transport to
both.

    python bench/controller_overhead.py [--policy pibot_nav_cfc] [--n 3000] [--repeats 5]
        [--profile]
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
    parser.add_argument('--profile', action='store_true')
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

        def echo_callback(msg):
            out = TwistStamped()
            out.header = msg.header
            out.twist = msg.twist.twist
            echo_pub.publish(out)

        goal, scan, odom = robot_messages()
        callbacks['/goal_pose'](goal)
        total = (args.repeats + 2) * 3 * args.n + 2000
        stamps = [readings.seconds_to_stamp(100.0 + 0.01 * k) for k in range(total)]
        counter = iter(range(total))

        def controller(i):
            stamp = stamps[next(counter)]
            if i % 4 == 0:   # scans at a quarter of the odometry rate, as in the DDS bench
                scan.header.stamp = stamp
                callbacks['/scan'](scan)
            odom.header.stamp = stamp
            callbacks['/odom'](odom)

        def controller_odom(i):
            odom.header.stamp = stamps[next(counter)]
            callbacks['/odom'](odom)

        def echo(i):
            odom.header.stamp = stamps[next(counter)]
            echo_callback(odom)

        for i in range(8):
            controller(i)
        core = node.core
        reading, _ = readings.odom_to_reading(odom)
        obs = core.mode.observe(core.readings, core.reject)
        policy = core.policy
        build, pub = node._build_command, node._io_pubs['cmd']
        command = np.zeros(2)
        clock = {'t': 1000.0}

        def core_feed(i):
            clock['t'] += 0.01
            reading.stamp = clock['t']
            now = time.monotonic()
            core.inputs['scan'].last = now       # the scan stays fresh, as in the node
            core.feed('odom', reading, now)

        parts = {
            '  odometry -> reading': lambda i: readings.odom_to_reading(odom),
            '  core step (core.feed)': core_feed,
            '    observer': lambda i: core.mode.observe(core.readings, core.reject),
            '    policy step (Policy.step)': lambda i: policy.step(obs, 0.01),
            '      cell step inside it': lambda i: policy.cell.step(obs, policy.state, 0.01),
            '    actuator': lambda i: core.actuator.command((0.0, 0.0), 0.01),
            '  command message build': lambda i: build(command, odom.header.stamp, 'base_link',
                                                       out=node._cmd_msg),
            '  publish (lifecycle publisher)': lambda i: pub.publish(node._cmd_msg),
        }
        sides = {'controller callbacks (odom + 1/4 scan)': controller,
                 'controller odometry callback only': controller_odom,
                 'echo callback': echo}
        for fn in (*sides.values(), *parts.values()):     # warm-up
            for i in range(200):
                fn(i)
        results = {name: [] for name in (*sides, *parts)}
        ratios = []
        for _ in range(args.repeats):
            for name, fn in sides.items():
                results[name].append(_median_us(fn, args.n))
            ratios.append(results['controller callbacks (odom + 1/4 scan)'][-1]
                          / results['echo callback'][-1])
            for name, fn in parts.items():
                results[name].append(_median_us(fn, args.n))
        if args.profile:
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.enable()
            for i in range(args.n):
                controller(i)
            profile.disable()
            print(f'--- where the controller callbacks spend their time ({args.n} odometry '
                  f'messages, cProfile: its own overhead inflates every figure)')
            pstats.Stats(profile).sort_stats('tottime').print_stats(25)
        node.destroy_node()
        rclpy.shutdown()
    print(f'{"part (median of per-repeat medians)":<42} {"us":>8}')
    for name, values in results.items():
        print(f'{name:<42} {statistics.median(values):8.1f}')
    print(f'controller / echo per repeat: {" ".join(f"{r:.2f}" for r in ratios)} '
          f'(median {statistics.median(ratios):.2f}; {args.policy})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
