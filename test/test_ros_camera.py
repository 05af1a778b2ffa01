# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Camera input (issue 8): Image conversion, the core's camera mode, the closed loop over DDS.

The loop: lnn_sim robot:=lane -> /camera/image_raw -> lnn_controller -> /cmd_vel -> lnn_sim.
"""

import json
import math
from pathlib import Path
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import TwistStamped
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.envs.lane_bridge import LaneBridge
from lnn_control.models import save_policy
from lnn_control.models.conv import build_conv_policy
from lnn_control.ros import readings
from lnn_control.runtime import load_policy
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.controller import SpecMismatch
from lnn_control.runtime.conv import ImageReading
from lnn_control.runtime.observer import OdomReading
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from ros_harness import Process
from ros_harness import ros_args
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image
from std_msgs.msg import String
import torch

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ("import sys; sys.modules['torch'] = None; "
            'from lnn_control.ros.controller_node import main; main()')
STARTUP = 30.0   # s, process start + discovery on a loaded 2-core machine


def _image(pixels, encoding='rgb8', pad=0):
    h, w = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.zeros((h, w * channels + pad), dtype=np.uint8)
    rows[:, :w * channels] = pixels.reshape(h, -1)
    msg = Image(height=h, width=w, encoding=encoding, step=w * channels + pad)
    msg.header.stamp.sec, msg.header.stamp.nanosec = 3, 250_000_000
    msg.data = rows.tobytes()
    return msg


# -- conversion (no DDS) ----------------------------------------------------------------------
def test_image_encodings_sizes_and_padding():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    reading, reason = readings.image_to_reading(_image(rgb, pad=8), 48, 64)
    assert reason == '' and np.array_equal(reading.pixels, rgb) and reading.stamp == 3.25
    reading, _ = readings.image_to_reading(_image(rgb[:, :, ::-1].copy(), 'bgr8'), 48, 64)
    assert np.array_equal(reading.pixels, rgb)
    grey = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    reading, _ = readings.image_to_reading(_image(grey, 'mono8'), 48, 64)
    assert reading.pixels.shape == (48, 64, 3) and np.array_equal(reading.pixels[:, :, 1], grey)
    assert readings.image_to_reading(_image(rgb, 'rgba8'), 48, 64) == (None, 'image_encoding')
    assert readings.image_to_reading(_image(rgb, '16UC1'), 48, 64) == (None, 'image_encoding')
    assert readings.image_to_reading(_image(rgb[:24, :32]), 48, 64) == (None, 'image_size')
    short = _image(rgb)
    short.data = bytes(short.data)[:-1]
    assert readings.image_to_reading(short, 48, 64) == (None, 'image_layout')
    bad_step = _image(rgb)
    bad_step.step = 10
    assert readings.image_to_reading(bad_step, 48, 64) == (None, 'image_layout')
    bad_stamp = _image(rgb)
    bad_stamp.header.stamp.nanosec = 1_000_000_000
    assert readings.image_to_reading(bad_stamp, 48, 64) == (None, 'image_stamp')


@settings(max_examples=200, deadline=None)
@given(height=st.integers(0, 6), width=st.integers(0, 6), step=st.integers(0, 30),
       encoding=st.sampled_from(['rgb8', 'bgr8', 'mono8', 'rgba8', 'bgr16', '', 'RGB8']),
       size=st.integers(0, 200), expect=st.sampled_from([None, (4, 5)]))
def test_image_conversion_never_raises(height, width, step, encoding, size, expect):
    msg = Image(height=height, width=width, step=step, encoding=encoding)
    msg.data = bytes(range(256))[:size] if size <= 256 else bytes(size)
    reading, reason = readings.image_to_reading(msg, *(expect or (None, None)))
    if reading is None:
        assert reason in ('image_encoding', 'image_size', 'image_layout')
    else:
        assert reason == '' and reading.pixels.shape == (height, width, 3)
        assert reading.pixels.dtype == np.uint8
        assert expect is None or (height, width) == expect


def test_image_and_camera_info_builders():
    pixels = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    msg = readings.image_msg(pixels, readings.seconds_to_stamp(2.5))
    assert (msg.encoding, msg.step, msg.width, msg.height) == ('rgb8', 192, 64, 48)
    assert np.array_equal(readings.image_to_reading(msg)[0].pixels, pixels)
    info = readings.camera_info_msg(48, 64, 48.8, msg.header.stamp)
    fy = info.k[4]
    assert fy == pytest.approx(24.0 / math.tan(math.radians(24.4)))
    assert (info.k[2], info.k[5]) == (32.0, 24.0) and info.header.stamp == msg.header.stamp


# -- the core in camera mode (no DDS) ---------------------------------------------------------
@pytest.fixture(scope='module')
def camera_policy(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('camera')
    image_only = save_policy(build_conv_policy((48, 64, 3), 'cfc'),
                             folder / 'cam.safetensors', action_std=[0.22, 2.84])
    with_speed = save_policy(build_conv_policy((48, 64, 3), 'cfc', extra=1),
                             folder / 'cam_speed.safetensors', action_std=[0.22, 2.84])
    return image_only, with_speed


def test_core_steps_on_frames_and_refuses_bad_ones(camera_policy):
    policy = load_policy(camera_policy[0])
    core = ControllerCore(policy, ControllerConfig(mode='camera', trigger='image',
                                                   nominal_dt=1 / 30))
    assert core.required == ('image',)
    frame = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    commands = [core.feed('image', ImageReading(frame, 10 + k / 30), now=k / 30)
                for k in range(5)]
    assert all(c is not None and np.isfinite(c).all() for c in commands)
    assert core.steps == 5 and not core.rejected
    # Same frames through the runtime policy directly: the core adds nothing but limits.
    policy.reset()
    direct = policy.step(frame.reshape(-1).astype(np.float32), 1 / 30)
    assert np.all(np.abs(direct) < 10)
    wrong = core.feed('image', ImageReading(frame[:24], 11.0), now=1.0)
    assert np.array_equal(wrong, np.zeros(2)) and core.rejected['image_size'] == 1


def test_core_adds_odometry_speed_for_policies_that_take_it(camera_policy):
    core = ControllerCore(load_policy(camera_policy[1]),
                          ControllerConfig(mode='camera', trigger='image'))
    assert core.required == ('image', 'odom')
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    assert not core.feed('image', ImageReading(frame, 1.0), now=0.0).any()   # odom stale
    core.feed('odom', OdomReading(0.0, 0.0, 0.0, 0.1, 0.0, 1.0), now=0.01)
    assert core.feed('image', ImageReading(frame, 1.05), now=0.02) is not None


def test_camera_mode_refuses_vector_policies():
    with pytest.raises(SpecMismatch, match='camera policy'):
        ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig(mode='camera',
                                                                      trigger='image'))


def test_lane_bridge_frames_and_timeout():
    bridge = LaneBridge(seed=3, cmd_timeout=0.2)
    bridge.command(0.15, 0.0)
    events = bridge.advance(0.5)
    kinds = [e.kind for e in events]
    assert kinds.count('image') == kinds.count('camera_info') == 15
    images = [e for e in events if e.kind == 'image']
    assert np.diff([e.stamp for e in images]) == pytest.approx([1 / 30] * 14)
    assert images[0].data.pixels.shape == (48, 64, 3)
    assert bridge.timed_out and bridge.status()['command'] == [0.0, 0.0]
    assert not bridge.command(math.nan, 0.0) and bridge.non_finite_commands == 1


# -- closed loop over DDS ---------------------------------------------------------------------
@pytest.mark.slow
def test_closed_loop_over_dds(ros_env, tmp_path):
    """The shipped camera CfC drives the simulated robot along the lane over real DDS."""
    sim = Process(ros_env, tmp_path / 'sim.log',
                  [sys.executable, '-m', 'lnn_control.ros.sim_node']
                  + ros_args('sim', robot='lane', seed=20001, real_time_factor=1.0), ROOT)
    controller = Process(ros_env, tmp_path / 'ctl.log',
                         [sys.executable, '-c', LAUNCHER]
                         + ros_args('ctl', policy='pibot_lane_cnn_cfc', mode='camera',
                                    trigger='image', nominal_dt=1 / 30,
                                    diagnostics_period=0.5), ROOT)
    node = rclpy.create_node('camera_probe')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    got = {'image': [], 'info': [], 'cmd': [], 'status': [], 'diag': []}
    node.create_subscription(Image, '/camera/image_raw', got['image'].append,
                             qos_profile_sensor_data)
    node.create_subscription(CameraInfo, '/camera/camera_info', got['info'].append,
                             qos_profile_sensor_data)
    node.create_subscription(TwistStamped, '/cmd_vel', got['cmd'].append, 10)
    node.create_subscription(String, '/sim/status', got['status'].append, 10)
    node.create_subscription(DiagnosticArray, '/diagnostics', got['diag'].append, 10)
    bad_pub = node.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data)

    def spin_until(condition, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not condition():
            executor.spin_once(timeout_sec=0.02)
        return condition()

    try:
        # The controller's watchdog publishes zeros before the sim is up: wait for both.
        assert spin_until(lambda: len(got['image']) > 10 and len(got['status']) > 0
                          and len(got['cmd']) > 5, 2 * STARTUP), (
            sim.text() + controller.text())
        start = json.loads(got['status'][-1].data)
        first_image = len(got['image'])
        spin_until(lambda: False, 6.0)
        status = json.loads(got['status'][-1].data)
        # Frames and their camera_info at the camera rate (loose: a loaded shared machine).
        frames = len(got['image']) - first_image
        assert 90 < frames < 220, frames
        assert got['info'][-1].width == 64 and got['info'][-1].k[0] > 0.0
        # The policy answers frames and its commands move the robot along the lane.
        assert len(got['cmd']) > 60
        v = [c.twist.linear.x for c in got['cmd'][-60:]]
        assert all(math.isfinite(x) and abs(x) <= 0.22 + 1e-6 for x in v)
        assert status['progress'] - start['progress'] > 0.3, status
        assert not status['off_lane'], status
        # Bad frames are refused and counted, never fed to the policy.
        rgb = np.zeros((24, 32, 3), dtype=np.uint8)
        for _ in range(3):
            bad_pub.publish(_image(rgb))
            bad_pub.publish(_image(np.zeros((48, 64, 3), np.uint8), 'rgba8'))
            spin_until(lambda: False, 0.1)

        def counted():
            if not got['diag']:
                return False
            keys = {kv.key: kv.value for kv in got['diag'][-1].status[0].values}
            return (int(keys.get('rejected_image_size', 0)) >= 1
                    and int(keys.get('rejected_image_encoding', 0)) >= 1)
        assert spin_until(counted, 5.0), list(got['diag'][-1].status[0].values)
    finally:
        executor.shutdown()
        node.destroy_node()
        controller.stop()
        sim.stop()
