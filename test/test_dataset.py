# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Recorded data sets: the .npz format, rosbag2 -> sequences (lnn_control.ros.bags), bc.dataset.

The bags here are written with rosbags' Writer message by message, so each test controls the
rates, stamps, gaps and faults exactly; test_ros_bag_roundtrip.py records real ones over DDS.
"""

import json
import math
from pathlib import Path
import subprocess
import sys

from lnn_control.ros import readings
from lnn_control.ros.bags import BagError
from lnn_control.ros.bags import BagOptions
from lnn_control.ros.bags import corrections_from_bags
from lnn_control.ros.bags import read_bags
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.sequences import DatasetError
from lnn_control.runtime.sequences import load_dataset
from lnn_control.runtime.sequences import save_dataset
from lnn_control.runtime.sequences import Sequences as SequenceDataset
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

ROOT = Path(__file__).resolve().parent.parent
TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


# -- messages (rosbags classes) ---------------------------------------------------------------
def _header(stamp, frame):
    ns = int(round(stamp * 1e9))
    return T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](
        sec=ns // 10**9, nanosec=ns % 10**9), frame_id=frame)


def _vec(x=0.0, y=0.0, z=0.0):
    return T['geometry_msgs/msg/Vector3'](x=x, y=y, z=z)


def _scan(stamp, rng):
    ranges = rng.uniform(0.2, 3.0, 360).astype(np.float32)
    ranges[::17] = np.inf
    return T['sensor_msgs/msg/LaserScan'](
        header=_header(stamp, 'base_scan'), angle_min=0.0, angle_max=2 * math.pi,
        angle_increment=2 * math.pi / 360, time_increment=0.0, scan_time=0.2, range_min=0.12,
        range_max=3.5, ranges=ranges, intensities=np.zeros(0, dtype=np.float32))


def _odom(stamp, x, yaw, v=0.1, w=0.2):
    pose = T['geometry_msgs/msg/Pose'](
        position=T['geometry_msgs/msg/Point'](x=x, y=0.5 * x, z=0.0),
        orientation=T['geometry_msgs/msg/Quaternion'](
            x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)))
    twist = T['geometry_msgs/msg/Twist'](linear=_vec(v), angular=_vec(z=w))
    return T['nav_msgs/msg/Odometry'](
        header=_header(stamp, 'odom'), child_frame_id='base_footprint',
        pose=T['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=np.zeros(36)),
        twist=T['geometry_msgs/msg/TwistWithCovariance'](twist=twist, covariance=np.zeros(36)))


def _goal(stamp, x, y, frame='odom'):
    pose = T['geometry_msgs/msg/Pose'](
        position=T['geometry_msgs/msg/Point'](x=x, y=y, z=0.0),
        orientation=T['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
    return T['geometry_msgs/msg/PoseStamped'](header=_header(stamp, frame), pose=pose)


def _cmd(stamp, v, w, stamped=True):
    twist = T['geometry_msgs/msg/Twist'](linear=_vec(v), angular=_vec(z=w))
    if not stamped:
        return twist
    return T['geometry_msgs/msg/TwistStamped'](header=_header(stamp, 'base_link'), twist=twist)


def write_bag(path, messages, storage='mcap'):
    """Write ``(receive time s, topic, message)`` items into a new bag."""
    conns = {}
    with Writer(path, version=9, storage_plugin=STORAGES[storage]) as writer:
        for time, topic, msg in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=TS)
            writer.write(conns[topic], int(round(time * 1e9)),
                         TS.serialize_cdr(msg, msg.__msgtype__))
    return path


def drive(seconds=4.0, start=100.0, odom_rate=20.0, scan_rate=5.0, cmd_every=1,
          stamped=True, goal=(2.0, 1.0), seed=0, jitter=0.0, skip=()):
    """Messages of a robot driving: commands answer odometry 5 ms later (every cmd_every)."""
    rng = np.random.default_rng(seed)
    items = [(start - 0.5, '/goal_pose', _goal(start - 0.5, *goal))]
    n = int(seconds * odom_rate)
    for k in range(n):
        t = start + k / odom_rate + (rng.uniform(-jitter, jitter) if k else 0.0)
        if k % int(odom_rate / scan_rate) == 0:
            items.append((t - 0.002, '/scan', _scan(t - 0.002, rng)))
        if k in skip:
            continue
        items.append((t, '/odom', _odom(t, 0.01 * k, 0.02 * k)))
        if k % cmd_every == 0:
            command = _cmd(t + 0.005, 0.001 * k, -0.01 * k, stamped)
            items.append((t + 0.005, '/cmd_vel', command))
    return sorted(items, key=lambda i: i[0])


# -- conversions: rosbags objects through the node's functions --------------------------------
def test_rosbags_messages_convert_like_rclpy_messages():
    from geometry_msgs.msg import PoseStamped
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import LaserScan
    rng = np.random.default_rng(1)
    for bag_msg, cls, convert in ((_scan(3.25, rng), LaserScan, readings.scan_to_reading),
                                  (_odom(3.25, 0.4, 0.3), Odometry, readings.odom_to_reading),
                                  (_goal(3.25, 1.0, -2.0), PoseStamped,
                                   readings.goal_to_reading)):
        raw = TS.serialize_cdr(bag_msg, bag_msg.__msgtype__)
        from rclpy.serialization import deserialize_message
        rclpy_msg = deserialize_message(bytes(raw), cls)
        a, reason_a = convert(TS.deserialize_cdr(raw, bag_msg.__msgtype__))
        b, reason_b = convert(rclpy_msg)
        assert reason_a == reason_b == ''
        for key, value in vars(a).items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(getattr(b, key)))


# -- bag -> sequences ----------------------------------------------------------------------
@pytest.mark.parametrize('storage', sorted(STORAGES))
def test_steps_follow_odometry_with_real_dt_and_the_observer(tmp_path, storage):
    items = drive(jitter=0.01, seed=3)
    bag = write_bag(tmp_path / 'bag', items, storage)
    data = read_bags([bag])
    odoms = [m for _, topic, m in items if topic == '/odom']
    stamps = np.array([readings.odom_to_reading(m)[0].stamp for m in odoms])
    # The last odometry step has no later command but the one 5 ms after it.
    assert data['lengths'].tolist() == [len(odoms)]
    np.testing.assert_allclose(data['stamp'], stamps)
    np.testing.assert_allclose(data['dt'][1:], np.diff(stamps), atol=1e-6)
    assert data['dt'][0] == pytest.approx(np.median(np.diff(stamps)), abs=1e-6)
    # Observations: the Observer on the latest scan, this odometry and the goal (as they
    # come out of CDR: LaserScan angles are float32 there).
    observer = Observer()
    scan, expected = None, []
    goal = readings.goal_to_reading(items[0][2])[0]
    for _, topic, msg in items:
        msg = TS.deserialize_cdr(TS.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
        if topic == '/scan':
            scan = readings.scan_to_reading(msg)[0]
        elif topic == '/odom':
            expected.append(observer.observe(scan, readings.odom_to_reading(msg)[0], goal))
    np.testing.assert_array_equal(data['obs'], np.stack(expected))
    k = np.arange(len(odoms))
    np.testing.assert_allclose(data['act'], np.stack([0.001 * k, -0.01 * k], 1), atol=1e-6)
    assert data['meta']['observer'] == observer.config.to_dict()
    assert data['meta']['dropped'] == {}


def test_slow_unstamped_commands_are_held_and_label_the_steps_between(tmp_path):
    # Twist at 5 Hz against 20 Hz odometry: each command labels the step it answers, the
    # next three steps take it as held (it is 50-155 ms old: the base still executes it).
    bag = write_bag(tmp_path / 'bag', drive(cmd_every=4, stamped=False))
    data = read_bags([bag])
    k = np.arange(data['lengths'][0])
    issued = (k // 4) * 4
    np.testing.assert_allclose(data['act'][:, 0], 0.001 * issued, atol=1e-6)


def test_hold_limit_gaps_goals_and_backwards_stamps_end_episodes(tmp_path):
    items = drive(seconds=3.0, cmd_every=20)          # a command each second
    bag = write_bag(tmp_path / 'slow', items)
    # hold 0.3 s: only the 6 steps within 0.3 s of each command keep a label.
    data = read_bags([bag], options=BagOptions(hold=0.3, min_length=1))
    assert data['lengths'].tolist() == [7, 7, 7]
    assert data['meta']['dropped'] == {'no_command': 39}
    # A command long after the last step (odometry stopped) is no answer to it: the step
    # keeps the command the base was still executing.
    items = drive(seconds=1.0)[:-1] + [(103.0, '/cmd_vel', _cmd(103.0, 0.2, 0.0))]
    data = read_bags([write_bag(tmp_path / 'late', items)])
    assert data['act'][-1, 0] == pytest.approx(0.018) and data['lengths'].tolist() == [20]
    # A 1.5 s hole in odometry (gap 1.0) splits; so does a new goal.
    items = drive(seconds=4.0, skip=range(20, 50))
    items.append((102.9, '/goal_pose', _goal(102.9, -1.0, 1.0)))
    data = read_bags([write_bag(tmp_path / 'gaps', sorted(items, key=lambda i: i[0]))],
                     options=BagOptions(min_length=1))
    assert data['lengths'].tolist() == [20, 8, 22]
    assert data['dt'][20] == pytest.approx(0.05) and data['dt'][28] == pytest.approx(0.05)
    # Two bags: each starts an episode; a repeated stamp is a duplicate, dropped.
    again = drive(seconds=1.0, start=50.0)
    again.append((50.3001, '/odom', _odom(50.3, 0.0, 0.0)))
    bag2 = write_bag(tmp_path / 'again', sorted(again, key=lambda i: i[0]))
    data = read_bags([bag, bag2], options=BagOptions(hold=0.3, min_length=1))
    assert data['lengths'].tolist()[-1] == 20
    assert data['meta']['dropped']['duplicate_stamp'] == 1
    assert len(data['meta']['sources']) == 2


def test_bad_messages_are_counted_and_dropped(tmp_path):
    items = drive(seconds=2.0)
    items.append((100.4001, '/odom', _odom(100.45001, math.nan, 0.0)))
    items.append((100.7001, '/cmd_vel', _cmd(100.7, math.inf, 0.0)))
    items.append((100.5, '/goal_pose', _goal(100.5, 5.0, 5.0, frame='map')))
    data = read_bags([write_bag(tmp_path / 'bag', sorted(items, key=lambda i: i[0]))])
    dropped = data['meta']['dropped']
    assert dropped['odom_non_finite'] == 1
    assert dropped['non_finite_command'] == 1
    assert dropped['goal_frame'] == 1
    assert np.isfinite(data['obs']).all() and np.isfinite(data['act']).all()
    assert data['lengths'].tolist() == [40]
    # 'map' declared equivalent: the goal is taken and starts a new episode.
    data = read_bags([tmp_path / 'bag'], options=BagOptions(goal_frames=('map',)))
    assert data['lengths'].tolist() == [10, 30]


def test_success_is_the_last_pose_within_the_goal_tolerance(tmp_path):
    # The robot ends at x = 0.79, y = 0.395 (the odometry of drive()).
    bag = write_bag(tmp_path / 'bag', drive(goal=(0.8, 0.4)))
    assert read_bags([bag])['success'].tolist() == [True]
    bag = write_bag(tmp_path / 'far', drive(goal=(2.0, 0.4)))
    assert read_bags([bag])['success'].tolist() == [False]


def test_clear_errors(tmp_path):
    with pytest.raises(BagError, match='no such bag'):
        read_bags([tmp_path / 'missing'])
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'junk.mcap').write_bytes(b'not an mcap file at all' * 10)
    with pytest.raises(BagError, match='not a readable rosbag2'):
        read_bags([junk])
    items = [i for i in drive(seconds=1.0) if i[1] != '/cmd_vel']
    with pytest.raises(BagError, match=r'no /cmd_vel topic \(cmd\); the bag has: /goal_pose'):
        read_bags([write_bag(tmp_path / 'nocmd', items)])
    items = drive(seconds=1.0) + [(99.0, '/cmd_vel_raw', _goal(99.0, 0.0, 0.0))]
    with pytest.raises(BagError, match='/cmd_vel_raw is geometry_msgs/msg/PoseStamped, '
                                       'expected geometry_msgs/msg/TwistStamped or'):
        read_bags([write_bag(tmp_path / 'typed', sorted(items, key=lambda i: i[0]))],
                  options=BagOptions(cmd_topic='/cmd_vel_raw'))
    items = [i for i in drive(seconds=1.0) if i[1] != '/goal_pose']
    items.append((99.0, '/goal_pose', _goal(99.0, 1.0, 1.0, frame='base_link')))
    with pytest.raises(BagError, match='no usable step .*goal_frame 1.*no_goal 20'):
        read_bags([write_bag(tmp_path / 'nogoal', sorted(items, key=lambda i: i[0]))])


# -- the file format ---------------------------------------------------------------------------
def _dataset(n=30, lengths=(10, 20)):
    rng = np.random.default_rng(0)
    return SequenceDataset(obs=rng.random((n, 17)), dt=np.full(n, 0.05), act=rng.random((n, 2)),
                           stamp=np.arange(n) * 0.05, lengths=list(lengths),
                           success=[True, False], meta={'observer': {'lidar_sectors': 12}})


def test_format_round_trip_and_refusals(tmp_path):
    path = save_dataset(_dataset(), tmp_path / 'd.npz')
    back = load_dataset(path)
    np.testing.assert_array_equal(back.obs, _dataset().obs.astype(np.float32))
    assert back.lengths.tolist() == [10, 20] and back.success.tolist() == [True, False]
    assert back.meta['observer'] == {'lidar_sectors': 12} and back.meta['version'] == 1
    assert [len(e[0]) for e in back.split()] == [10, 20]
    with pytest.raises(DatasetError, match='sum to the 30 steps'):
        _dataset(lengths=(10, 10))
    bad = _dataset()
    bad.obs[3, 2] = np.nan
    with pytest.raises(DatasetError, match='obs holds non-finite'):
        bad.check()
    with pytest.raises(DatasetError, match='no such data set'):
        load_dataset(tmp_path / 'none.npz')
    (tmp_path / 'junk.npz').write_bytes(b'PK\x03\x04 junk')
    with pytest.raises(DatasetError, match='not a readable'):
        load_dataset(tmp_path / 'junk.npz')
    np.savez(tmp_path / 'pickled.npz', obs=np.array([{'a': 1}], dtype=object))
    with pytest.raises(DatasetError):
        load_dataset(tmp_path / 'pickled.npz')
    with np.load(path) as npz:
        arrays = dict(npz)
    meta = json.loads(str(arrays['meta']))
    meta['version'] = 99
    arrays['meta'] = np.array(json.dumps(meta))
    np.savez(tmp_path / 'newer.npz', **arrays)
    with pytest.raises(DatasetError, match='version 99'):
        load_dataset(tmp_path / 'newer.npz')


# -- the CLI and lnn-control train --------------------------------------------------------------
@pytest.mark.slow
def test_corrections_from_a_bag_then_cli_finetune(tmp_path, capsys):
    # An operator on /cmd_vel_teleop (plain Twist, 10 Hz) from t = 101.0 to 101.9 s; 20 Hz
    # odometry from t = 100. A correction covers the steps up to 0.5 s after it: 101.0-102.4.
    items = drive(seconds=4.0)
    teleop = [(101.0 + 0.1 * i, '/cmd_vel_teleop', _cmd(0.0, 0.1, 0.5 + 0.01 * i, False))
              for i in range(10)]
    bag = write_bag(tmp_path / 'bag', sorted(items + teleop, key=lambda i: i[0]))
    from lnn_control.runtime.policy import load_policy
    observer = load_policy('pibot_nav_cfc').spec.observer
    data = corrections_from_bags([bag], observer)
    t = 100.0 + np.arange(80) / 20.0
    fresh = (t >= 101.0 - 1e-9) & (t <= 102.4 + 1e-9)
    np.testing.assert_array_equal(np.isfinite(data.action).all(axis=1), fresh)
    latest = np.minimum(np.floor((t[fresh] - 101.0) / 0.1 + 1e-6), 9)
    np.testing.assert_allclose(data.action[fresh], np.stack(
        [np.full(latest.size, 0.1), 0.5 + 0.01 * latest], 1), atol=1e-6)
    # The same observations and dt as a data set from the same bag (no labels needed).
    plain = read_bags([bag], observer)
    np.testing.assert_array_equal(data.obs, plain['obs'])
    np.testing.assert_array_equal(data.dt, plain['dt'])
    assert data.episode_start.tolist() == [True] + [False] * 79

    from lnn_control.cli import main
    out = tmp_path / 'tuned.safetensors'
    assert main(['finetune', 'pibot_nav_cfc', '--corrections', str(bag), '--features',
                 'hidden', '--out', str(out)]) == 0
    assert f'corrections {int(fresh.sum())} ' in capsys.readouterr().out
    tuned = load_policy(out)
    assert tuned.spec.kind == 'adapted'
    assert tuned.spec.provenance['corrections'] == int(fresh.sum())
    # No correction topic in the bag: refused, naming it.
    plain_bag = write_bag(tmp_path / 'plain', items)
    assert main(['finetune', 'pibot_nav_cfc', '--corrections', str(plain_bag)]) == 2
    assert 'no /cmd_vel_teleop topic' in capsys.readouterr().err
    # Goals in 'map': refused unless the command is told the frame is the odom frame, as
    # `dataset from-bag` (the same replay options).
    mapped = [(t, topic, _goal(t, 2.0, 1.0, frame='map') if topic == '/goal_pose' else msg)
              for t, topic, msg in sorted(items + teleop, key=lambda i: i[0])]
    map_bag = write_bag(tmp_path / 'map', mapped)
    assert main(['finetune', 'pibot_nav_cfc', '--corrections', str(map_bag)]) == 2
    assert 'goal_frame' in capsys.readouterr().err
    assert main(['finetune', 'pibot_nav_cfc', '--corrections', str(map_bag), '--goal-frame',
                 'map', '--gap', '0.5', '--out', str(tmp_path / 'map.safetensors')]) == 0
    assert f'corrections {int(fresh.sum())} ' in capsys.readouterr().out
    teleop_late = (105.0, '/cmd_vel_teleop', _cmd(0.0, 0.1, 0.5, False))
    late = write_bag(tmp_path / 'late', items + [teleop_late])
    with pytest.raises(BagError, match='no step was corrected'):
        corrections_from_bags([late], observer)


def test_cli_from_bag_then_train_on_it(tmp_path):
    bag = write_bag(tmp_path / 'bag', drive(seconds=6.0, goal=(1.19, 0.6)))
    out = tmp_path / 'data.npz'
    cli = [sys.executable, '-m', 'lnn_control.cli']
    result = subprocess.run(cli + ['dataset', 'from-bag', str(bag), '--config', 'pibot_nav_cfc',
                                   '--out', str(out)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'episodes   1 (1 ended at their goal)' in result.stdout
    assert load_dataset(out).steps == 120
    result = subprocess.run(cli + ['dataset', 'from-bag', str(bag), '--config', 'pibot_nav_cfc',
                                   '--out', str(out), '--odom-topic', '/wheel_odom'],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and 'no /wheel_odom topic (odom)' in result.stderr
    sets = ['bc.steps=20', 'bc.batch_size=4', 'bc.seq_len=16', 'bc.burn_in=4',
            'dagger.rounds=0', 'eval.episodes=0', 'eval.test_episodes=0',
            'model.kwargs.units.units=8', 'bc.action_noise=[]']
    args = cli + ['train', str(ROOT / 'config/train/pibot_nav_cfc.yaml'), '--no-progress',
                  '--out', str(tmp_path / 'run'), '--set', f'bc.dataset={out}']
    result = subprocess.run(args + [a for s in sets for a in ('--set', s)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
    assert summary['data']['steps'] == 120 and summary['data']['episodes'] == 1
    assert summary['config']['bc']['dataset'] == str(out)
    # A data set made with another Observer, or other sizes, is refused, naming both.
    from lnn_control.runtime.policy import SpaceSpec
    from lnn_control.train.config import ConfigError
    from lnn_control.train.imitation import recorded_sequences
    observer = Observer()
    obs, act = SpaceSpec(**observer.space()), SpaceSpec(2)
    assert recorded_sequences(str(out), obs, act, observer.config.to_dict()).episodes == 1
    data = load_dataset(out)
    data.meta['observer']['lidar_sectors'] = 24
    save_dataset(data, tmp_path / 'other.npz')
    with pytest.raises(ConfigError, match="made with Observer .*'lidar_sectors': 24"):
        recorded_sequences(str(tmp_path / 'other.npz'), obs, act, observer.config.to_dict())
    with pytest.raises(ConfigError, match='2 actions per step, the env 17 and 3'):
        recorded_sequences(str(out), obs, SpaceSpec(3), observer.config.to_dict())
