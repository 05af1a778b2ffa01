# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
rosbag2 recordings -> labelled observation sequences, as the controller node would see them.

``lnn-control dataset from-bag BAG... --config CONFIG --out DATA.npz`` runs :func:`read_bags`
and writes the result with :func:`lnn_control.train.dataset.save_dataset`. Bags are read with
the ``rosbags`` library (MCAP and sqlite3 storage; no ROS install needed to read them) and its
Jazzy typestore; the deserialised messages go through the node's own conversions
(:mod:`lnn_control.ros.readings`, which read messages by attribute, so ``rosbags`` message
objects work as they are) and the policy's own :class:`~lnn_control.runtime.observer.Observer`.

Topics (names configurable in :class:`BagOptions`; types checked):

==============  ==================================================  ========================
topic           type                                                role
==============  ==================================================  ========================
``/scan``       sensor_msgs/msg/LaserScan                           lidar, latest one held
``/odom``       nav_msgs/msg/Odometry                               trigger: one step each
``/goal_pose``  geometry_msgs/msg/PoseStamped                       goal, held until changed
``/cmd_vel``    geometry_msgs/msg/TwistStamped or .../Twist         the label (v, w)
(off)           geometry_msgs/msg/Twist or .../TwistStamped         operator corrections
                                                                    (``/cmd_vel_teleop``,
                                                                    ``corrections_from_bags``)
==============  ==================================================  ========================

How a recording becomes steps, mirroring ``ControllerCore`` (pibot mode, odometry trigger):
messages are replayed in the order they were recorded (the bag's receive times, as a node
would get them). Each odometry message is a step: its observation is ``Observer.observe`` of
the latest scan, this odometry and the current goal; its ``dt`` is the difference of the
odometry *header stamps* (the real elapsed time, whatever the topic rates); an episode's first
step takes the recording's nominal period (median odometry ``dt``). Its label is the first
command that arrives after it and before the next odometry message, within ``hold`` seconds
(the answer to what was seen; commands faster or slower than odometry both work); without, the
last earlier command if it arrived at most ``hold`` seconds before (the base still executes
it: keyboard teleop publishes only on key presses); otherwise the step has no label.

An episode ends (the hidden state would reset) at a new goal position, a stamp gap above
``gap`` (the node's ``gap_reset``), stamps going backwards, an unlabelled step, a scan older
than ``stale`` seconds (the node's watchdog), and at the end of each bag. Steps are dropped,
and counted by reason in ``meta['dropped']``: ``no_goal``, ``no_scan``, ``stale_scan``,
``no_command``, ``duplicate_stamp``, the conversions' refusals (``scan_geometry``,
``odom_non_finite``, ``goal_frame``, ...), ``non_finite_command`` and ``short_episode``
(episodes under ``min_length`` steps). An episode is a success when its last odometry pose is
within ``goal_tolerance`` of its goal.

Errors (:class:`BagError`, naming the file and the problem): a path that is not a rosbag2
folder or file, unreadable storage, a required topic missing (the message lists the topics
present), a topic of an unexpected type, or a recording with no usable step.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from lnn_control.ros import readings
from lnn_control.ros.node_config import TOPICS
from lnn_control.runtime.adapt import Corrections
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import ObserverConfig
import numpy as np

__all__ = ['BagError', 'BagOptions', 'read_bags', 'corrections_from_bags', 'bag_topics',
           'TOPIC_TYPES']

# role -> message types accepted for it (rosbags names).
TOPIC_TYPES: Dict[str, Tuple[str, ...]] = {
    'scan': ('sensor_msgs/msg/LaserScan',),
    'odom': ('nav_msgs/msg/Odometry',),
    'goal': ('geometry_msgs/msg/PoseStamped',),
    'cmd': ('geometry_msgs/msg/TwistStamped', 'geometry_msgs/msg/Twist'),
    'correction': ('geometry_msgs/msg/Twist', 'geometry_msgs/msg/TwistStamped'),
}
_ORDER = ('goal', 'scan', 'correction', 'cmd', 'odom')   # tie-break of equal receive times
_NO_ACTION = np.full(2, np.nan, dtype=np.float32)   # no command / no correction at a step


class BagError(ValueError):
    """A recording cannot be turned into a data set; the message says which file and why."""


@dataclass
class BagOptions:
    """
    Topic names and the pairing rules (times in seconds; see the module docstring).

    Attributes:
        scan_topic, odom_topic, goal_topic, cmd_topic: topic names in the bag;
            ``cmd_topic`` '' reads no labels (``act`` is NaN: for corrections only).
        correction_topic: operator corrections (issue 7: ``/cmd_vel_teleop``), '' for none.
            A step is corrected when a correction arrived at most ``correction_timeout``
            before it, the controller's rule (``runtime.override.Override``).
        odom_frame: frame goals must be in (as the node's ``odom_frame``).
        goal_frames: further frames accepted as equal to the odom frame (e.g. 'map').
        hold: an earlier command labels a step if it arrived at most this long before.
        stale: a scan that arrived longer ago than this ends the episode (node watchdog).
        gap: an odometry stamp gap above this ends the episode (node ``gap_reset``).
        min_length: episodes with fewer steps are dropped.
        goal_tolerance: success radius (m) of an episode's last pose.

    """

    scan_topic: str = TOPICS['scan']
    odom_topic: str = TOPICS['odom']
    goal_topic: str = TOPICS['goal']
    cmd_topic: str = TOPICS['cmd']
    correction_topic: str = ''
    correction_timeout: float = 0.5
    odom_frame: str = 'odom'
    goal_frames: Tuple[str, ...] = ()
    hold: float = 0.5
    stale: float = 0.5
    gap: float = 1.0
    min_length: int = 10
    goal_tolerance: float = 0.15

    def __post_init__(self) -> None:
        for name in ('hold', 'stale', 'gap', 'goal_tolerance', 'correction_timeout'):
            value = float(getattr(self, name))
            if not 0.0 <= value < math.inf:
                raise ValueError(f'{name} must be >= 0 and finite, got {value}')
            setattr(self, name, value)
        self.min_length = int(self.min_length)
        if self.min_length < 1:
            raise ValueError(f'min_length must be >= 1, got {self.min_length}')
        self.goal_frames = tuple(self.goal_frames)

    def topics(self) -> Dict[str, str]:
        """Return role -> topic name."""
        topics = {'scan': self.scan_topic, 'odom': self.odom_topic, 'goal': self.goal_topic,
                  'cmd': self.cmd_topic, 'correction': self.correction_topic}
        return {role: topic for role, topic in topics.items() if topic}


def _open(path: Path) -> Any:
    """Open a rosbag2 folder (or a lone .mcap/.db3 file) with rosbags; BagError if not one."""
    try:
        from rosbags.rosbag2 import Reader
        from rosbags.rosbag2 import ReaderError
    except ImportError:   # pragma: no cover - the 'bags' extra
        raise BagError('reading bags needs the rosbags library: pip install '
                       "'lnn_control[bags]'") from None
    if not path.exists():
        raise BagError(f'{path}: no such bag')
    try:
        reader = Reader(path)
        reader.open()
    except ReaderError as exc:
        raise BagError(f'{path}: not a readable rosbag2 recording ({exc})') from None
    except (OSError, ValueError, KeyError) as exc:   # storage libraries' own errors
        raise BagError(f'{path}: not a readable rosbag2 recording '
                       f'({type(exc).__name__}: {exc})') from None
    return reader


def bag_topics(path: Union[str, os.PathLike]) -> Dict[str, Tuple[str, int]]:
    """Return topic -> (message type, message count) of a bag."""
    reader = _open(Path(path))
    try:
        return {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
    finally:
        reader.close()


def _connections(reader: Any, path: Path, options: BagOptions) -> Dict[str, List[Any]]:
    """Role -> the bag's connections of that role's topic; BagError if missing or mistyped."""
    present = {}
    for c in reader.connections:
        present.setdefault(c.topic, []).append(c)
    found = {}
    for role, topic in options.topics().items():
        conns = present.get(topic)
        if not conns:
            listing = ', '.join(f'{t} ({cs[0].msgtype})' for t, cs in sorted(present.items()))
            raise BagError(f'{path}: no {topic} topic ({role}); the bag has: '
                           f'{listing or "no topics"}')
        for c in conns:
            if c.msgtype not in TOPIC_TYPES[role]:
                raise BagError(f'{path}: {topic} is {c.msgtype}, expected '
                               f'{" or ".join(TOPIC_TYPES[role])}')
        found[role] = conns
    return found


def _messages(path: Path, options: BagOptions, dropped: Dict[str, int]
              ) -> List[Tuple[float, int, str, Any]]:
    """Return the bag's readings, ``(receive time s, order, role, reading)``, sorted."""
    from rosbags.typesys import get_typestore
    from rosbags.typesys import Stores

    typestore = get_typestore(Stores.ROS2_JAZZY)
    reader = _open(path)
    events = []
    try:
        roles = _connections(reader, path, options)
        by_id = {c.id: role for role, conns in roles.items() for c in conns}
        conns = [c for cs in roles.values() for c in cs]
        try:
            for conn, log_time, raw in reader.messages(connections=conns):
                role = by_id[conn.id]
                try:
                    msg = typestore.deserialize_cdr(raw, conn.msgtype)
                except Exception as exc:   # noqa: B902  (any decoder failure is a bad message)
                    raise BagError(f'{path}: a {conn.topic} message does not decode as '
                                   f'{conn.msgtype} ({type(exc).__name__}: {exc})') from None
                reading, reason = _convert(role, msg, options)
                if reading is None:
                    dropped[reason] = dropped.get(reason, 0) + 1
                    continue
                events.append((log_time * 1e-9, _ORDER.index(role), role, reading))
        except BagError:
            raise
        except Exception as exc:   # noqa: B902  (storage errors surface here, mid-read)
            raise BagError(f'{path}: reading failed ({type(exc).__name__}: {exc})') from None
    finally:
        reader.close()
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _convert(role: str, msg: Any, options: BagOptions) -> Tuple[Any, str]:
    """One message -> (reading, '') or (None, reason), by the node's conversions."""
    if role == 'scan':
        reading, reason = readings.scan_to_reading(msg)
        if reading is not None:
            # rosbags decodes arrays as views of the storage's read buffer, which the
            # reader may reuse for later messages: the reading must own its ranges.
            reading.ranges = np.array(reading.ranges, dtype=np.float32)
        return reading, reason
    if role == 'odom':
        return readings.odom_to_reading(msg)
    if role == 'goal':
        return readings.goal_to_reading(msg, options.odom_frame, options.goal_frames)
    twist = msg.twist if hasattr(msg, 'twist') else msg     # TwistStamped or Twist
    command = np.array([twist.linear.x, twist.angular.z], dtype=np.float32)
    if not np.isfinite(command).all():
        return None, f'non_finite_{"command" if role == "cmd" else role}'
    return command, ''


class _Builder:
    """Accumulates steps into episodes (one per bag at least) and counts what it drops."""

    def __init__(self, observer: Observer, options: BagOptions, dropped: Dict[str, int]):
        self.observer, self.options, self.dropped = observer, options, dropped
        self.episodes: List[Dict[str, Any]] = []
        self.current: Optional[Dict[str, Any]] = None

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    def end(self) -> None:
        episode, self.current = self.current, None
        if episode is None or not episode['obs']:
            return
        if len(episode['obs']) < self.options.min_length:
            self.dropped['short_episode'] = (self.dropped.get('short_episode', 0)
                                             + len(episode['obs']))
            return
        self.episodes.append(episode)

    def add(self, obs: np.ndarray, stamp: float, act: np.ndarray, odom: Any, goal: Any,
            source: str, correction: Optional[np.ndarray]) -> None:
        if self.current is None:
            self.current = {'obs': [], 'stamp': [], 'act': [], 'correction': [],
                            'source': source}
        c = self.current
        c['obs'].append(obs)
        c['stamp'].append(stamp)
        c['act'].append(act)
        c['correction'].append(_NO_ACTION if correction is None else correction)
        c['last'] = (odom, goal)


def _steps(path: Path, events: List[Tuple[float, int, str, Any]], builder: _Builder) -> None:
    """Replay one bag's readings through the Observer into the builder."""
    o = builder.options
    scan = goal = None
    scan_time = -math.inf
    last_cmd: Optional[np.ndarray] = None
    last_cmd_time = -math.inf
    last_correction: Optional[np.ndarray] = None
    last_correction_time = -math.inf
    # (obs, stamp, odom, receive time, correction): a step awaiting its command
    pending: Optional[Tuple[np.ndarray, float, Any, float, Optional[np.ndarray]]] = None
    last_stamp = math.nan
    source = str(path)

    def settle(command: Optional[np.ndarray]) -> None:
        """Label the pending step with ``command``, or the held one (None: no answer)."""
        nonlocal pending
        if pending is None:
            return
        obs, stamp, odom, received, correction = pending
        pending = None
        if not o.cmd_topic:
            command = _NO_ACTION
        if command is None:
            command = _held(last_cmd, last_cmd_time, received, o.hold)
        if command is None:
            builder.drop('no_command')
            builder.end()
            return
        builder.add(obs, stamp, command, odom, goal, source, correction)

    for time, _, role, reading in events:
        if role == 'cmd':
            if pending is not None:
                # An answer later than ``hold`` (odometry stopped meanwhile) is not one.
                settle(reading if time - pending[3] <= o.hold else None)
            last_cmd, last_cmd_time = reading, time
        elif role == 'correction':
            last_correction, last_correction_time = reading, time
        elif role == 'scan':
            scan, scan_time = reading, time
        elif role == 'goal':
            if goal is None or (goal.x, goal.y) != (reading.x, reading.y):
                settle(None)
                builder.end()
            goal = reading
        else:   # odometry: a step
            settle(None)
            stamp = reading.stamp
            if stamp == last_stamp:
                builder.drop('duplicate_stamp')
                continue
            if not stamp > last_stamp or stamp - last_stamp > o.gap:
                builder.end()      # stamps went back, or a gap: the state starts afresh
            last_stamp = stamp
            if goal is None:
                builder.drop('no_goal')
                continue
            if scan is None:
                builder.drop('no_scan')
                continue
            if time - scan_time > o.stale:
                builder.drop('stale_scan')
                builder.end()
                continue
            correction = _held(last_correction, last_correction_time, time,
                               o.correction_timeout)
            pending = (builder.observer.observe(scan, reading, goal), stamp, reading, time,
                       correction)
    settle(None)
    builder.end()


def _held(command: Optional[np.ndarray], since: float, now: float, hold: float
          ) -> Optional[np.ndarray]:
    """Return the last command if the base still executes it at ``now``, else None."""
    if command is None or not now - since <= hold:
        return None
    return command


def read_bags(paths: Sequence[Union[str, os.PathLike]],
              observer: Union[ObserverConfig, Mapping[str, Any], None] = None,
              options: Optional[BagOptions] = None) -> Dict[str, Any]:
    """
    Read rosbag2 recordings into labelled sequences.

    Args:
        paths: bag folders (or lone ``.mcap``/``.db3`` files), read in order; every bag
            starts a new episode.
        observer: the policy's Observer config (``spec.observer`` or the env's), None for
            the default.
        options: topics and pairing rules.

    Returns:
        The keyword arguments of :class:`lnn_control.train.dataset.SequenceDataset`: ``obs``
        (N, O), ``dt`` (N,), ``act`` (N, 2), ``stamp`` (N,), ``lengths`` (E,), ``success``
        (E,) and ``meta`` (observer config and names, options, sources, dropped counts);
        with a ``correction_topic`` also ``correction`` (N, 2), NaN rows where none was
        fresh.

    Raises:
        BagError: unreadable bag, missing or mistyped topic, or no usable step at all.

    """
    options = options or BagOptions()
    obs_model = Observer(observer)
    dropped: Dict[str, int] = {}
    builder = _Builder(obs_model, options, dropped)
    if not paths:
        raise BagError('no bag given')
    sources = []
    for path in paths:
        path = Path(path)
        events = _messages(path, options, dropped)
        _steps(path, events, builder)
        sources.append({'path': str(path), 'messages': len(events)})
    if not builder.episodes:
        detail = ', '.join(f'{k} {v}' for k, v in sorted(dropped.items())) or 'no odometry'
        raise BagError(f'{", ".join(str(p) for p in paths)}: no usable step (dropped: '
                       f'{detail})')
    dts = [np.diff(np.asarray(e['stamp'], dtype=np.float64)) for e in builder.episodes]
    flat = np.concatenate(dts) if dts else np.zeros(0)
    nominal = float(np.median(flat)) if flat.size else 0.05
    obs, dt, act, stamp, lengths, success, correction = [], [], [], [], [], [], []
    for episode, diffs in zip(builder.episodes, dts):
        obs.append(np.stack(episode['obs']))
        correction.append(np.stack(episode['correction']))
        dt.append(np.concatenate([[nominal], diffs]))
        act.append(np.stack(episode['act']))
        stamp.append(np.asarray(episode['stamp'], dtype=np.float64))
        lengths.append(len(episode['obs']))
        odom, goal = episode['last']
        success.append(math.hypot(goal.x - odom.x, goal.y - odom.y) <= options.goal_tolerance)
    meta = {
        'observer': obs_model.config.to_dict(),
        'obs_names': obs_model.names,
        'action_names': ['v', 'w'],
        'nominal_dt': nominal,
        'options': {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in asdict(options).items()},
        'sources': sources,
        'dropped': dict(sorted(dropped.items())),
    }
    arrays = {'obs': np.concatenate(obs), 'dt': np.concatenate(dt).astype(np.float32),
              'act': np.concatenate(act), 'stamp': np.concatenate(stamp),
              'lengths': np.asarray(lengths, dtype=np.int64),
              'success': np.asarray(success, dtype=bool), 'meta': meta}
    if options.correction_topic:
        arrays['correction'] = np.concatenate(correction)
    return arrays


def corrections_from_bags(paths: Sequence[Union[str, os.PathLike]],
                          observer: Union[ObserverConfig, Mapping[str, Any], None] = None,
                          options: Optional[BagOptions] = None) -> Corrections:
    """
    Read a recorded drive with operator corrections for ``lnn-control finetune`` (issue 7).

    Every odometry step of the bags becomes a step of the replay (observation and header-stamp
    ``dt`` as in :func:`read_bags`); its action is the correction that was fresh at that step
    (the last message on ``correction_topic`` at most ``correction_timeout`` old), NaN where
    the policy drove. ``cmd_topic`` is not needed (default options read none).

    Raises:
        BagError: as :func:`read_bags`, or when no step was corrected.

    """
    options = options or BagOptions(cmd_topic='', correction_topic=TOPICS['correction'])
    if not options.correction_topic:
        raise BagError('reading corrections needs a correction topic')
    arrays = read_bags(paths, observer, options)
    corrected = int(np.isfinite(arrays['correction']).all(axis=1).sum())
    if not corrected:
        raise BagError(f'{", ".join(str(p) for p in paths)}: no step was corrected (no '
                       f'{options.correction_topic} message within '
                       f'{options.correction_timeout:g} s of an odometry step)')
    starts = np.zeros(arrays['dt'].size, dtype=bool)
    starts[np.concatenate([[0], np.cumsum(arrays['lengths'])[:-1]])] = True
    return Corrections(arrays['obs'], arrays['dt'], arrays['correction'], starts)
