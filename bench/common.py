# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared set-up of the benchmarks: one thread, the reference sizes, robust statistics."""

import os

# One thread everywhere, set before numpy/torch load their thread pools: the Pi-class target
# runs the controller on one core, and two-core timings of BLAS threads are noise here.
for _var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(_var, '1')

from pathlib import Path  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable, Dict, List  # noqa: E402

INPUTS = 17       # 16 lidar sectors + goal features class of input, as in the issue
UNITS = 19        # AutoNCP(19, 6): the NCP paper's size class of controller
OUTPUTS = 6
SEED = 22222


def machine() -> str:
    """One line describing where the numbers come from."""
    import numpy
    import torch
    return (f'{platform.machine()} {platform.processor() or ""} {os.cpu_count()} cores, '
            f'python {platform.python_version()}, numpy {numpy.__version__}, '
            f'torch {torch.__version__} ({torch.get_num_threads()} thread)')


def interleaved_rounds(cases: Dict[str, Callable[[], None]], rounds: int,
                       per_round: int) -> Dict[str, List[float]]:
    """
    Time each case ``per_round`` calls at a time, alternating cases, ``rounds`` times.

    Alternating keeps slow drifts of a noisy machine from favouring one side. Returns the
    seconds per call of every round, per case.
    """
    samples: Dict[str, List[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append((time.perf_counter() - start) / per_round)
    return samples


def median(values: List[float]) -> float:
    """Median (the machine is noisy: means are pulled by stalls)."""
    return statistics.median(values)


def status_mb(pid: int, key: str = 'VmHWM') -> float:
    """Return a memory line of ``/proc/PID/status`` (VmRSS, VmHWM, ...) in MB, NaN if absent."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0
    return float('nan')


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (``/proc/PID/stat``)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def robot_messages():
    """
    Return a goal, a 360-beam LaserScan and an Odometry as a TurtleBot3 sends them.

    Returns:
        (PoseStamped goal 2 m ahead in odom, LaserScan all beams at 2 m, Odometry at rest);
        the caller sets the header stamps.

    """
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import LaserScan
    goal = PoseStamped()
    goal.header.frame_id = 'odom'
    goal.pose.position.x = 2.0
    goal.pose.orientation.w = 1.0
    scan = LaserScan()
    scan.header.frame_id = 'base_scan'
    scan.angle_min, scan.angle_max = 0.0, 6.2657
    scan.angle_increment = 0.0174533
    scan.range_min, scan.range_max = 0.12, 3.5
    scan.ranges = [2.0] * 360
    odom = Odometry()
    odom.header.frame_id = 'odom'
    odom.child_frame_id = 'base_footprint'
    odom.pose.pose.orientation.w = 1.0
    return goal, scan, odom
