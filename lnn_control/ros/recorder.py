# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
r"""
Record ROS 2 topics to a rosbag2 (MCAP or SQLite3) with the pure-Python ``rosbags`` library.

``ros2 bag record`` needs the C++ rosbag2 stack, which a pip-installed ROS (and a lean robot
image) lacks. This recorder writes the same bags from rclpy: it subscribes with ``raw=True``, so
each message arrives as its serialised CDR bytes and is written untouched (no deserialise /
serialise round trip), under the message type name and the message definition + RIHS01 hash of
the ``rosbags`` type store (ROS 2 Jazzy by default), which is what ``ros2 bag play``, Foxglove
and PlotJuggler read back.

    python -m lnn_control.ros.recorder --out run1 --topic /scan --topic /cmd_vel \\
        --topic /lnn_controller/neuron_state --duration 30

API (the node is spun by the caller; callbacks write from the executor thread)::

    recorder = BagRecorder(node, 'run1', {'/scan': 'sensor_msgs/msg/LaserScan',
                                          '/odom': None})   # None: type from the graph
    ...spin...
    recorder.close()          # or use it as a context manager
    recorder.counts           # topic -> messages written

QoS follows ``ros2 bag record``: a topic is subscribed once a publisher is seen, reliable
unless some publisher is best-effort (a reliable reader never matches a best-effort writer),
transient-local only when every publisher is, and the publishers' offered profiles are stored
in the bag's metadata so a player can offer them again. An explicit ``qos`` per topic skips
the wait. Timestamps are the receive times on the node's clock (sim time under
``use_sim_time``), as rosbag2 does.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
import sys
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from lnn_control.ros.process import init_until_signal
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rclpy.qos import HistoryPolicy
from rclpy.qos import QoSProfile
from rclpy.qos import ReliabilityPolicy
from rosbags.interfaces import Qos
from rosbags.interfaces import QosDurability
from rosbags.interfaces import QosHistory
from rosbags.interfaces import QosLiveliness
from rosbags.interfaces import QosReliability
from rosbags.interfaces import QosTime
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer
from rosbags.typesys import get_typestore
from rosbags.typesys import Stores

__all__ = ['BagRecorder', 'STORAGES', 'main', 'msgtype_name', 'message_class']

# storage name (the ``ros2 bag record -s`` names) -> rosbags plugin
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_DEPTH = 100  # subscription queue: a recorder should not drop bursts


def msgtype_name(msgtype: str) -> str:
    """
    Normalise a message type name to the rosbag2 form ``pkg/msg/Name``.

    Args:
        msgtype: ``pkg/msg/Name`` or the short ``pkg/Name``.

    Returns:
        ``pkg/msg/Name``.

    Raises:
        ValueError: the name has neither form.

    """
    parts = msgtype.strip().split('/')
    if len(parts) == 2 and all(parts):
        return f'{parts[0]}/msg/{parts[1]}'
    if len(parts) == 3 and parts[1] == 'msg' and parts[0] and parts[2]:
        return '/'.join(parts)
    raise ValueError(f'message type must be pkg/msg/Name or pkg/Name, got {msgtype!r}')


def message_class(msgtype: str) -> Any:
    """Import the rclpy message class of ``pkg/msg/Name`` (ValueError if not installed)."""
    pkg, _, name = msgtype_name(msgtype).split('/')
    try:
        return getattr(importlib.import_module(f'{pkg}.msg'), name)
    except (ImportError, AttributeError):
        raise ValueError(f'message type {msgtype!r} is not installed for Python') from None


def _time(duration: Any) -> QosTime:
    ns = int(duration.nanoseconds)  # rclpy's "infinite" is 2**63 - 1 ns, as rmw's
    return QosTime(sec=ns // 1_000_000_000, nsec=ns % 1_000_000_000)


def _bag_qos(profile: QoSProfile) -> Qos:
    """Convert an rclpy QoS profile to the rosbags ``Qos`` of the bag metadata."""
    return Qos(history=QosHistory(int(profile.history)), depth=int(profile.depth),
               reliability=QosReliability(int(profile.reliability)),
               durability=QosDurability(int(profile.durability)),
               deadline=_time(profile.deadline), lifespan=_time(profile.lifespan),
               liveliness=QosLiveliness(int(profile.liveliness)),
               liveliness_lease_duration=_time(profile.liveliness_lease_duration),
               avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions))


def _adapted_qos(offered: Sequence[QoSProfile]) -> QoSProfile:
    """Return the subscription QoS that matches every offered profile (rosbag2's rule)."""
    best_effort = any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in offered)
    latched = bool(offered) and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL
                                    for p in offered)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=_DEPTH,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


class BagRecorder:
    """
    Write the serialised messages of some topics into a new rosbag2.

    Args:
        node: the rclpy node to subscribe with (the caller spins it).
        path: bag directory to create (it must not exist, as with ``ros2 bag record -o``).
        topics: topic name -> message type (``pkg/msg/Name``), or None to take the type the
            publishers on the graph announce. Relative names resolve against the node.
        storage: ``'mcap'`` (default) or ``'sqlite3'``.
        qos: optional topic -> QoSProfile; such a topic is subscribed at once with it
            instead of waiting for a publisher to adapt to.
        typestore: the ``rosbags`` type store giving message definitions (default ROS 2
            Jazzy's); register custom types in it.
        discovery_period: seconds between graph checks for topics not subscribed yet.

    Attributes:
        path: the bag directory.
        counts: topic -> messages written.
        msgtypes: topic -> message type, for the topics subscribed so far.

    Raises:
        ValueError: unknown storage, a bad or uninstalled message type, or a type the type
            store has no definition for.
        rosbags.rosbag2.WriterError: ``path`` exists.

    """

    def __init__(self, node: Node, path: Union[str, Path], topics: Mapping[str, Optional[str]],
                 storage: str = 'mcap', qos: Optional[Mapping[str, QoSProfile]] = None,
                 typestore: Any = None, discovery_period: float = 0.1) -> None:
        if storage not in STORAGES:
            raise ValueError(f'storage must be one of {sorted(STORAGES)}, got {storage!r}')
        if not topics:
            raise ValueError('no topics to record')
        self.node = node
        self.path = Path(path)
        self.typestore = typestore or get_typestore(Stores.ROS2_JAZZY)
        self._wanted: Dict[str, Optional[str]] = {}
        for topic, msgtype in topics.items():
            name = node.resolve_topic_name(topic)
            if msgtype is not None:
                msgtype = self._check_type(msgtype)
            self._wanted[name] = msgtype
        self._qos = {node.resolve_topic_name(k): v for k, v in (qos or {}).items()}
        self.counts: Dict[str, int] = dict.fromkeys(self._wanted, 0)
        self.msgtypes: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._subs: List[Any] = []
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST,
                              storage_plugin=STORAGES[storage])
        self._writer.open()
        self._closed = False
        for topic, profile in self._qos.items():
            if topic in self._wanted and self._wanted[topic] is not None:
                self._subscribe(topic, self._wanted[topic], profile, [profile])
        self._timer = None
        if not self.ready:
            self._timer = node.create_timer(discovery_period, self._discover)
            self._discover()

    def _check_type(self, msgtype: str) -> str:
        msgtype = msgtype_name(msgtype)
        if msgtype not in self.typestore.fielddefs:
            raise ValueError(f'the type store has no definition of {msgtype}; register it '
                             f'(rosbags.typesys.get_types_from_msg) and pass typestore=')
        message_class(msgtype)
        return msgtype

    @property
    def ready(self) -> bool:
        """Whether every topic is subscribed (publishers seen or QoS given)."""
        return len(self.msgtypes) == len(self._wanted)

    def _discover(self) -> None:
        """Subscribe the topics whose publishers have appeared, adapting to their QoS."""
        if self._closed:
            return
        for topic, msgtype in self._wanted.items():
            if topic in self.msgtypes:
                continue
            infos = self.node.get_publishers_info_by_topic(topic)
            if msgtype is None:
                # The graph knows the type only once a publisher exists.
                types = sorted({info.topic_type for info in infos})
                if not types:
                    continue
                if len(types) > 1:
                    self.node.get_logger().warning(
                        f'{topic} is published with several types {types}; recording '
                        f'{types[0]}')
                try:
                    msgtype = self._check_type(types[0])
                except ValueError as exc:
                    self.node.get_logger().error(f'not recording {topic}: {exc}')
                    self.msgtypes[topic] = ''  # given up: counts as settled
                    continue
            offered = [info.qos_profile for info in infos if info.topic_type == msgtype]
            if topic in self._qos:
                self._subscribe(topic, msgtype, self._qos[topic], offered or [self._qos[topic]])
            elif offered:
                self._subscribe(topic, msgtype, _adapted_qos(offered), offered)
        if self.ready and self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None

    def _subscribe(self, topic: str, msgtype: str, profile: QoSProfile,
                   offered: Sequence[QoSProfile]) -> None:
        with self._lock:
            connection = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore,
                offered_qos_profiles=[_bag_qos(p) for p in offered])
        clock = self.node.get_clock()

        def write(data: bytes) -> None:
            stamp = clock.now().nanoseconds
            with self._lock:
                if self._closed:
                    return
                self._writer.write(connection, stamp, data)
                self.counts[topic] += 1

        self._subs.append(self.node.create_subscription(
            message_class(msgtype), topic, write, profile, raw=True))
        self.msgtypes[topic] = msgtype

    def close(self) -> None:
        """Unsubscribe and finish the bag (metadata.yaml written); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        for sub in self._subs:
            self.node.destroy_subscription(sub)
        self._subs = []
        with self._lock:
            self._writer.close()

    def __enter__(self) -> 'BagRecorder':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _parse_topic(text: str) -> tuple:
    """``/topic`` or ``/topic:pkg/msg/Type`` -> (topic, type or None)."""
    topic, sep, msgtype = text.partition(':')
    return topic, (msgtype if sep else None)


def main(argv: Optional[List[str]] = None) -> int:
    """Command line: record topics until --duration elapses or Ctrl-C."""
    args_in = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='python -m lnn_control.ros.recorder',
        description='Record ROS 2 topics into a rosbag2 (MCAP by default) without the C++ '
                    'rosbag2 stack.')
    parser.add_argument('--out', required=True, help='bag directory to create')
    parser.add_argument('--topic', action='append', required=True,
                        help='topic to record, optionally /name:pkg/msg/Type (repeatable)')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='seconds to record (0: until Ctrl-C)')
    parser.add_argument('--storage', choices=sorted(STORAGES), default='mcap')
    ros_args = []
    if '--ros-args' in args_in:
        at = args_in.index('--ros-args')
        args_in, ros_args = args_in[:at], args_in[at:]
    args = parser.parse_args(args_in)
    # Own signal handling: a SIGINT no longer lands inside a take (the bag is closed either way).
    stop = init_until_signal(['recorder'] + ros_args)
    node = Node('lnn_bag_recorder')
    try:
        recorder = BagRecorder(node, args.out, dict(_parse_topic(t) for t in args.topic),
                               storage=args.storage)
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        node.destroy_node()
        rclpy.shutdown()
        return 2
    end = time.monotonic() + args.duration if args.duration > 0 else float('inf')
    try:
        while not stop and rclpy.ok() and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
    except ExternalShutdownException:
        pass  # the context was shut down from elsewhere; the bag is closed below
    finally:
        recorder.close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    missing = [t for t, m in recorder.msgtypes.items() if not m]
    missing += [t for t in recorder.counts if t not in recorder.msgtypes]
    for topic, count in recorder.counts.items():
        print(f'{topic}: {count} messages ({recorder.msgtypes.get(topic) or "not recorded"})')
    print(f'wrote {recorder.path}')
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
