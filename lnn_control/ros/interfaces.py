# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What each node of the package publishes, subscribes, serves and calls: one declaration per node.

ROS-free (no rclpy import), so the security tools (:mod:`lnn_control.security`) can generate
least-privilege SROS2 permissions from it on any machine, and a ROS test can compare it with
the graph of the running nodes (``test/test_ros_interfaces.py``): permissions cannot drift
from the code without a test failing.

A declaration is a :class:`NodeInterfaces`: the node's fully qualified name, the SROS2 enclave
it runs in, and four tuples of :class:`Endpoint` (fully qualified name, interface type, the
parameter that names it, and its role). It is computed from the node's parameters (the
mapping a params file gives, defaults for what it leaves out) and namespace:

============================  ===========================================================
function                      node
============================  ===========================================================
:func:`controller_interfaces`  ``lnn_controller`` (lifecycle): inputs by ``mode``, command,
                               reports, operator inputs, services
:func:`sim_interfaces`         ``lnn_sim`` by ``robot`` (pibot, pendulum, lane)
:func:`operator_interfaces`    the operator's laptop tools (RViz, teleop, ``ros2 param``):
                               publishes what the robot nodes take from an operator, calls
                               their services, reads what they publish
:func:`drivers_interfaces`     the robot's base and sensor drivers (TurtleBot3 bringup):
                               publish what the controller senses, take its command
============================  ===========================================================

Roles say why an endpoint exists and let one declaration be derived from another (the
operator publishes the controller's ``operator`` inputs; the drivers publish its ``sensor``
inputs): ``sensor``, ``operator``, ``command``, ``report``, ``clock``, ``control`` (services
that act on the node), ``node`` (what every rclpy node has: ``/rosout``, ``/parameter_events``,
the parameter and type-description services) and ``lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
import re
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from lnn_control.ros.node_config import NodeConfig
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.inputs import MODES
from lnn_control.runtime.settings import defaults

__all__ = ['Endpoint', 'NodeInterfaces', 'controller_interfaces', 'sim_interfaces',
           'operator_interfaces', 'drivers_interfaces', 'node_infrastructure',
           'lifecycle_infrastructure', 'expand_name', 'read_params', 'robot_interfaces',
           'CONTROLLER_DEFAULTS', 'SIM_DEFAULTS', 'ROBOT_TOPICS', 'OPERATOR_TOOLS',
           'DRIVERS_EXTRA_PUBLISH', 'ENCLAVES']

# Enclave of each declared node: SROS2 enclave paths (``--ros-args --enclave /lnn_controller``).
ENCLAVES = {'controller': '/lnn_controller', 'sim': '/lnn_sim', 'operator': '/operator',
            'drivers': '/tb3_bringup'}

# The controller parameters that decide its interfaces, with the node's defaults (from the
# config fields that declare them: lnn_control.ros.node_config, runtime.controller).
CONTROLLER_DEFAULTS: Dict[str, Any] = {
    'mode': defaults(ControllerConfig)['mode'], 'use_sim_time': False,
    **{k: v for k, v in defaults(NodeConfig).items()
       if k.endswith('_topic') or k in ('command_type', 'correction_type')}}
SIM_DEFAULTS: Dict[str, Any] = {'robot': 'pibot', 'cmd_vel_stamped': True}

# Robot topics the launch files remap to relative names, so that a ``namespace`` moves them
# (test/test_launch.py checks that the launch files list the same ones).
ROBOT_TOPICS = ('/scan', '/odom', '/imu', '/joint_states', '/goal_pose', '/cmd_vel',
                '/effort_controller/commands')

# Node names of the operator's tools whose own node services the operator enclave may serve
# (fnmatch patterns): ``ros2`` CLI nodes, RViz, teleop_twist_keyboard/joy, our own.
OPERATOR_TOOLS = ('lnn_operator', '_ros2cli_*', 'rviz*', 'teleop*', 'joy*')

# What the TurtleBot3 Jazzy bringup publishes besides the controller's sensors (turtlebot3_node,
# robot_state_publisher): battery, magnetometer, raw sensor state, transforms, the URDF.
DRIVERS_EXTRA_PUBLISH = (
    ('/battery_state', 'sensor_msgs/msg/BatteryState'),
    ('/magnetic_field', 'sensor_msgs/msg/MagneticField'),
    ('/sensor_state', 'turtlebot3_msgs/msg/SensorState'),
    ('/tf', 'tf2_msgs/msg/TFMessage'),
    ('/tf_static', 'tf2_msgs/msg/TFMessage'),
    ('/robot_description', 'std_msgs/msg/String'),
)

_COMMAND_TYPES = {'twist_stamped': 'geometry_msgs/msg/TwistStamped',
                  'twist': 'geometry_msgs/msg/Twist',
                  'float64_multi_array': 'std_msgs/msg/Float64MultiArray'}
_CORRECTION_TYPES = {'twist': 'geometry_msgs/msg/Twist',
                     'twist_stamped': 'geometry_msgs/msg/TwistStamped'}
# Controller inputs: parameter -> (message type, role); which ones each mode subscribes.
_CONTROLLER_INPUTS = {
    'scan_topic': ('sensor_msgs/msg/LaserScan', 'sensor'),
    'odom_topic': ('nav_msgs/msg/Odometry', 'sensor'),
    'goal_topic': ('geometry_msgs/msg/PoseStamped', 'operator'),
    'imu_topic': ('sensor_msgs/msg/Imu', 'sensor'),
    'joints_topic': ('sensor_msgs/msg/JointState', 'sensor'),
    'image_topic': ('sensor_msgs/msg/Image', 'sensor'),
}
# The camera mode subscribes odometry only when the policy takes the speed: declared always.
# mode -> its inputs' topic parameters, from the input modes themselves (runtime.inputs).
_MODE_INPUTS = {name: tuple(f'{i}_topic' for i in mode.inputs) for name, mode in MODES.items()}
_TRIGGER = 'std_srvs/srv/Trigger'
_CLOCK = ('/clock', 'rosgraph_msgs/msg/Clock')
_PARAMETER_SERVICES = (
    ('describe_parameters', 'rcl_interfaces/srv/DescribeParameters'),
    ('get_parameter_types', 'rcl_interfaces/srv/GetParameterTypes'),
    ('get_parameters', 'rcl_interfaces/srv/GetParameters'),
    ('list_parameters', 'rcl_interfaces/srv/ListParameters'),
    ('set_parameters', 'rcl_interfaces/srv/SetParameters'),
    ('set_parameters_atomically', 'rcl_interfaces/srv/SetParametersAtomically'),
    # Jazzy nodes serve their message definitions (REP 2011, start_type_description_service).
    ('get_type_description', 'type_description_interfaces/srv/GetTypeDescription'),
)
_LIFECYCLE_SERVICES = (
    ('change_state', 'lifecycle_msgs/srv/ChangeState'),
    ('get_state', 'lifecycle_msgs/srv/GetState'),
    ('get_available_states', 'lifecycle_msgs/srv/GetAvailableStates'),
    ('get_available_transitions', 'lifecycle_msgs/srv/GetAvailableTransitions'),
    ('get_transition_graph', 'lifecycle_msgs/srv/GetAvailableTransitions'),
)
_NAME_TOKEN = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_PATTERN_TOKEN = re.compile(r'^[A-Za-z0-9_*?\[\]]+$')


@dataclass(frozen=True)
class Endpoint:
    """
    One topic or service of a node.

    ``name`` is fully qualified (``/scan``, ``/lnn_controller/reset``; node-name parts of the
    operator's and drivers' tools may be fnmatch patterns), ``interface`` its type
    (``sensor_msgs/msg/LaserScan``, ``std_srvs/srv/Trigger``), ``parameter`` the node parameter
    that names it ('' when fixed) and ``role`` why the node has it (see the module docstring).
    """

    name: str
    interface: str
    parameter: str = ''
    role: str = ''


@dataclass(frozen=True)
class NodeInterfaces:
    """
    Everything one node (or one enclave's set of tool nodes) uses on the ROS graph.

    ``node`` is the fully qualified node name, ``enclave`` the SROS2 enclave path it runs in;
    ``publish``/``subscribe`` are topics, ``serve``/``call`` services.
    """

    node: str
    enclave: str
    publish: Tuple[Endpoint, ...] = ()
    subscribe: Tuple[Endpoint, ...] = ()
    serve: Tuple[Endpoint, ...] = ()
    call: Tuple[Endpoint, ...] = ()
    notes: Tuple[str, ...] = field(default=(), compare=False)

    KINDS = ('publish', 'subscribe', 'serve', 'call')

    def names(self, kind: str) -> Dict[str, str]:
        """Return ``{name: type}`` of the endpoints of ``kind`` (publish, subscribe, ...)."""
        return {e.name: e.interface for e in getattr(self, kind)}

    def by_role(self, kind: str, *roles: str) -> Tuple[Endpoint, ...]:
        """Return the endpoints of ``kind`` whose role is one of ``roles``."""
        return tuple(e for e in getattr(self, kind) if e.role in roles)

    def with_enclave(self, enclave: str) -> 'NodeInterfaces':
        """Return a copy running in another enclave."""
        return replace(self, enclave=enclave)


def expand_name(name: str, node: str, namespace: str = '/') -> str:
    """
    Expand a topic or service name the way rcl does.

    ``~`` is the node, relative names go under ``namespace``; raise ValueError for a name ROS
    would refuse.

    >>> expand_name('~/reset', 'lnn_controller', '/robot1')
    '/robot1/lnn_controller/reset'

    """
    namespace = '/' + namespace.strip('/') if namespace.strip('/') else ''
    if not isinstance(name, str) or not name:
        raise ValueError(f'invalid name {name!r}: empty or not a string')
    if name == '~' or name.startswith('~/'):
        full = f'{namespace}/{node}{name[1:]}'
    elif name.startswith('/'):
        full = name
    else:
        full = f'{namespace}/{name}'
    _check_name(full, _NAME_TOKEN)
    return full


def _check_name(full: str, token: re.Pattern) -> None:
    parts = full[1:].split('/')
    if full.endswith('/') or not all(token.match(p) for p in parts):
        raise ValueError(f'invalid name {full!r}: tokens are letters, digits and _, not '
                         'starting with a digit, separated by single /')


def _resolve(name: str, node: str, namespace: str, remap: Mapping[str, str]) -> str:
    full = expand_name(name, node, namespace)
    for src, dst in remap.items():
        if expand_name(src, node, namespace) == full:
            return expand_name(dst, node, namespace)
    return full


def _fqn(node: str, namespace: str) -> str:
    if not _NAME_TOKEN.match(node) and not _PATTERN_TOKEN.match(node):
        raise ValueError(f'invalid node name {node!r}')
    ns = namespace.strip('/')
    return f'/{ns}/{node}' if ns else f'/{node}'


def node_infrastructure(fqn: str) -> Dict[str, Tuple[Endpoint, ...]]:
    """Return what every rclpy node has: ``/rosout``, ``/parameter_events``, its services."""
    return {
        'publish': (Endpoint('/rosout', 'rcl_interfaces/msg/Log', role='node'),
                    Endpoint('/parameter_events', 'rcl_interfaces/msg/ParameterEvent',
                             role='node')),
        'serve': tuple(Endpoint(f'{fqn}/{name}', type_, role='node')
                       for name, type_ in _PARAMETER_SERVICES),
    }


def lifecycle_infrastructure(fqn: str) -> Dict[str, Tuple[Endpoint, ...]]:
    """Return what an rclpy lifecycle node adds: ``~/transition_event`` and five services."""
    return {
        'publish': (Endpoint(f'{fqn}/transition_event', 'lifecycle_msgs/msg/TransitionEvent',
                             role='lifecycle'),),
        'serve': tuple(Endpoint(f'{fqn}/{name}', type_, role='lifecycle')
                       for name, type_ in _LIFECYCLE_SERVICES),
    }


def _choice(params: Mapping[str, Any], key: str, choices: Mapping[str, Any]) -> Any:
    value = params[key]
    if value not in choices:
        raise ValueError(f'{key} must be one of {sorted(choices)}, got {value!r}')
    return choices[value]


def _merged(defaults: Mapping[str, Any], params: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    merged = dict(defaults)
    merged.update({k: v for k, v in (params or {}).items() if k in defaults})
    return merged


def _robot_remap(namespace: str, remap: Optional[Mapping[str, str]]) -> Dict[str, str]:
    # As the launch files do: with a namespace the robot topics move under it.
    if remap is not None:
        return dict(remap)
    return {t: t[1:] for t in ROBOT_TOPICS} if namespace.strip('/') else {}


def controller_interfaces(params: Optional[Mapping[str, Any]] = None, *,
                          node: str = 'lnn_controller', namespace: str = '',
                          remap: Optional[Mapping[str, str]] = None,
                          enclave: str = ENCLAVES['controller']) -> NodeInterfaces:
    """
    Declare ``lnn_controller``'s interfaces for ``params`` (a params file's values).

    Inputs by ``mode`` (pibot: scan, odom, goal, imu; camera: image, odom; vector: joints),
    the correction input (``correction_type``), ``/clock`` with ``use_sim_time``; the command
    (``command_type`` on ``cmd_topic``), ``/diagnostics``, ``~/neuron_state``, in goal modes
    ``~/goal_status``; the services
    ``~/reset``, ``~/reset_adaptation``, ``~/save_adapted``, the lifecycle and node ones.
    ``remap`` is applied like ``--ros-args -r`` (default: with a namespace, the launch files'
    :data:`ROBOT_TOPICS` remaps).
    """
    p = _merged(CONTROLLER_DEFAULTS, params)
    fqn = _fqn(node, namespace)
    remap = _robot_remap(namespace, remap)

    def topic(param: str, type_: str, role: str) -> Endpoint:
        return Endpoint(_resolve(p[param], node, namespace, remap), type_, param, role)

    inputs = _choice(p, 'mode', _MODE_INPUTS)
    subscribe = [topic(k, *_CONTROLLER_INPUTS[k]) for k in inputs]
    subscribe.append(topic('correction_topic', _choice(p, 'correction_type', _CORRECTION_TYPES),
                           'operator'))
    if _flag(p['use_sim_time']):
        subscribe.append(Endpoint(*_CLOCK, 'use_sim_time', 'clock'))
    base, life = node_infrastructure(fqn), lifecycle_infrastructure(fqn)
    publish = [topic('cmd_topic', _choice(p, 'command_type', _COMMAND_TYPES), 'command'),
               Endpoint('/diagnostics', 'diagnostic_msgs/msg/DiagnosticArray', role='report'),
               Endpoint(f'{fqn}/neuron_state', 'sensor_msgs/msg/JointState', role='report')]
    if 'goal_topic' in inputs:      # goal modes report what they do with the goal
        publish.append(Endpoint(f'{fqn}/goal_status', 'std_msgs/msg/String', role='report'))
    serve = [Endpoint(f'{fqn}/{name}', _TRIGGER, role='control')
             for name in ('reset', 'reset_adaptation', 'save_adapted')]
    return NodeInterfaces(
        node=fqn, enclave=enclave,
        publish=_unique(publish + list(base['publish']) + list(life['publish'])),
        subscribe=_unique(subscribe),
        serve=_unique(serve + list(base['serve']) + list(life['serve'])))


# lnn_sim by robot: (publish [(relative name, type)], subscribe [...]).
def _sim_pibot(p: Mapping[str, Any]) -> Tuple[list, list]:
    cmd = 'geometry_msgs/msg/TwistStamped' if _flag(p['cmd_vel_stamped']) \
        else 'geometry_msgs/msg/Twist'
    return ([('scan', 'sensor_msgs/msg/LaserScan', 'sensor'),
             ('odom', 'nav_msgs/msg/Odometry', 'sensor'),
             ('imu', 'sensor_msgs/msg/Imu', 'sensor'),
             ('joint_states', 'sensor_msgs/msg/JointState', 'sensor')],
            [('cmd_vel', cmd, 'command'),
             ('goal_pose', 'geometry_msgs/msg/PoseStamped', 'operator')])


def _sim_pendulum(p: Mapping[str, Any]) -> Tuple[list, list]:
    return ([('joint_states', 'sensor_msgs/msg/JointState', 'sensor')],
            [('effort_controller/commands', 'std_msgs/msg/Float64MultiArray', 'command')])


def _sim_lane(p: Mapping[str, Any]) -> Tuple[list, list]:
    cmd = _sim_pibot(p)[1][0]
    return ([('camera/image_raw', 'sensor_msgs/msg/Image', 'sensor'),
             ('camera/camera_info', 'sensor_msgs/msg/CameraInfo', 'sensor')], [cmd])


_SIM_ROBOTS = {'pibot': _sim_pibot, 'pendulum': _sim_pendulum, 'lane': _sim_lane}


def sim_interfaces(params: Optional[Mapping[str, Any]] = None, *, node: str = 'lnn_sim',
                   namespace: str = '', remap: Optional[Mapping[str, str]] = None,
                   enclave: str = ENCLAVES['sim']) -> NodeInterfaces:
    """
    Declare ``lnn_sim``'s interfaces for ``params``.

    ``/clock``, ``~/status``, the robot's sensor topics and command input by ``robot`` (names
    relative: a namespace moves them), ``~/reset`` and the node services.
    """
    p = _merged(SIM_DEFAULTS, params)
    fqn = _fqn(node, namespace)
    remap = dict(remap or {})
    publish_spec, subscribe_spec = _choice(p, 'robot', _SIM_ROBOTS)(p)

    def endpoints(spec: Iterable[Tuple[str, str, str]]) -> list:
        return [Endpoint(_resolve(n, node, namespace, remap), t, role=r) for n, t, r in spec]

    base = node_infrastructure(fqn)
    publish = [Endpoint(*_CLOCK, role='clock'),
               Endpoint(f'{fqn}/status', 'std_msgs/msg/String', role='report')]
    return NodeInterfaces(
        node=fqn, enclave=enclave,
        publish=_unique(publish + endpoints(publish_spec) + list(base['publish'])),
        subscribe=_unique(endpoints(subscribe_spec)),
        serve=_unique([Endpoint(f'{fqn}/reset', _TRIGGER, role='control')]
                      + list(base['serve'])))


def operator_interfaces(robot: Sequence[NodeInterfaces], *, node: str = 'lnn_operator',
                        tools: Sequence[str] = OPERATOR_TOOLS,
                        enclave: str = ENCLAVES['operator'],
                        subscribe: Sequence[Tuple[str, str]] = ()) -> NodeInterfaces:
    """
    Declare what the operator's tools may do, derived from the robot nodes' declarations.

    They publish what a robot node takes from an operator (role ``operator``: goals,
    corrections), call every service the robot nodes serve (parameters, lifecycle, resets),
    and read what they publish (plus ``subscribe``, e.g. RViz displays of other topics).
    Their own nodes (``tools``: node-name patterns) may have the standard node services.
    """
    publish, call, read = [], [], [Endpoint(n, t, role='view') for n, t in subscribe]
    for declared in robot:
        publish += [replace(e, parameter='') for e in declared.by_role('subscribe', 'operator')]
        call += list(declared.serve)
        read += list(declared.publish)
    own_publish, own_serve = [], []
    for tool in tools:
        infra = node_infrastructure(_fqn(tool, ''))
        own_publish += infra['publish']
        own_serve += infra['serve']
    return NodeInterfaces(node=_fqn(node, ''), enclave=enclave,
                          publish=_unique(publish + own_publish), subscribe=_unique(read),
                          serve=_unique(own_serve), call=_unique(call))


def drivers_interfaces(controller: NodeInterfaces, *, node: str = '*',
                       enclave: str = ENCLAVES['drivers'],
                       extra_publish: Sequence[Tuple[str, str]] = DRIVERS_EXTRA_PUBLISH
                       ) -> NodeInterfaces:
    """
    Declare the robot's drivers: one enclave for the whole TurtleBot3 bringup.

    They publish the controller's ``sensor`` inputs and ``extra_publish``, take its command
    and ``/joint_states`` (robot_state_publisher), and have the node services under any name.
    """
    publish = [replace(e, parameter='') for e in controller.by_role('subscribe', 'sensor')]
    publish += [Endpoint(n, t, role='sensor') for n, t in extra_publish]
    subscribe = [replace(e, parameter='') for e in controller.by_role('publish', 'command')]
    subscribe.append(Endpoint('/joint_states', 'sensor_msgs/msg/JointState', role='sensor'))
    infra = node_infrastructure(f'/{node}')
    return NodeInterfaces(node=f'/{node}', enclave=enclave,
                          publish=_unique(publish + list(infra['publish'])),
                          subscribe=_unique(subscribe), serve=_unique(infra['serve']))


def robot_interfaces(controller_params: Optional[Mapping[str, Any]] = None,
                     sim_params: Optional[Mapping[str, Any]] = None, *,
                     namespace: str = '') -> Dict[str, NodeInterfaces]:
    """Return the declarations of a whole set-up by name (controller, sim, drivers, operator)."""
    controller = controller_interfaces(controller_params, namespace=namespace)
    sim = sim_interfaces(sim_params, namespace=namespace)
    drivers = drivers_interfaces(controller)
    # The operator watches (RViz) and configures every robot node, drivers included.
    return {'controller': controller, 'sim': sim, 'drivers': drivers,
            'operator': operator_interfaces([controller, sim, drivers])}


def read_params(paths: Iterable[Any], node: str) -> Dict[str, Any]:
    """
    Read the ``ros__parameters`` for ``node`` from params files (later files win).

    The ``/**`` section, then sections naming the node (``lnn_controller``,
    ``/lnn_controller``).
    """
    import yaml
    merged: Dict[str, Any] = {}
    for path in paths:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f'{path}: not a ROS params file (a mapping of node sections)')
        for section in ('/**', node, f'/{node}'):
            values = (data.get(section) or {}).get('ros__parameters')
            if isinstance(values, dict):
                merged.update(values)
    return merged


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == 'true'


def _unique(endpoints: Iterable[Endpoint]) -> Tuple[Endpoint, ...]:
    seen: Dict[str, Endpoint] = {}
    for e in endpoints:
        seen.setdefault(e.name, e)
    return tuple(sorted(seen.values(), key=lambda e: e.name))
