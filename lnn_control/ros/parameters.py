# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
ROS parameters generated from the config dataclasses: declarations, descriptors, set checks.

Each field declared with :func:`lnn_control.runtime.settings.setting` in a group's dataclass
becomes one parameter: its name (the field's, behind the group's prefix, or the setting's own
``param``), default, description, range (``FloatingPointRange``/``IntegerRange``, so rclpy
refuses out-of-range values itself, with "out of range" in the reason), choices, and when a new
value applies (``apply``), which the descriptor's ``additional_constraints`` states.

:meth:`ParameterTable.refusal` is the set-time check: a value outside its choices, a topic
name that is not valid, or a setting that cannot change in the node's current lifecycle state
is refused with a reason saying how to apply it; :meth:`ParameterTable.build` turns the current
values (with pending ones on top) into a checked config object, so a set is refused when the
config it would make is invalid and is never accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Type

from lnn_control.runtime.settings import check_setting
from lnn_control.runtime.settings import default_of
from lnn_control.runtime.settings import HOW_TO_APPLY
from lnn_control.runtime.settings import Setting
from lnn_control.runtime.settings import settings_of
from rcl_interfaces.msg import FloatingPointRange
from rcl_interfaces.msg import IntegerRange
from rcl_interfaces.msg import ParameterDescriptor
from rcl_interfaces.msg import ParameterType
from rclpy.exceptions import InvalidTopicNameException
from rclpy.exceptions import ParameterUninitializedException
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.validate_full_topic_name import validate_full_topic_name

__all__ = ['Group', 'ParameterTable', 'Entry']


@dataclasses.dataclass(frozen=True)
class Group:
    """A config dataclass whose fields are parameters, their names behind ``prefix``."""

    cls: Type[Any]
    prefix: str = ''


@dataclasses.dataclass(frozen=True)
class Entry:
    """One parameter: its name, the group and field it comes from, its setting and type."""

    name: str
    group: Group
    field: str
    setting: Setting
    default: Any
    kind: Any      # float, int, bool, str or List[str]


def _kind(hint: Any) -> Any:
    if typing.get_origin(hint) in (list, List):
        return list
    return hint


class ParameterTable:
    """
    The parameters of ``groups`` on ``node``: declare them, check sets, build configs.

    Args:
        node: the node to declare on (the caller registers :meth:`refusal` in its
            on-set-parameters callback).
        groups: the config dataclasses, in declaration order.

    """

    def __init__(self, node: Node, groups: Sequence[Group]) -> None:
        self.node = node
        self.groups = list(groups)
        self.entries: Dict[str, Entry] = {}
        for group in self.groups:
            hints = typing.get_type_hints(group.cls)
            for f, spec in settings_of(group.cls):
                name = spec.param or f'{group.prefix}{f.name}'
                default = spec.param_default if spec.param_default is not None else default_of(f)
                self.entries[name] = Entry(name, group, f.name, spec, default,
                                           _kind(hints[f.name]))

    def declare(self) -> None:
        """Declare every parameter with its descriptor (overrides from the command line)."""
        for entry in self.entries.values():
            default = entry.default
            if entry.kind is list and not default:
                # An empty list default would be typed as a byte array: declare by type.
                default = Parameter.Type.STRING_ARRAY
            self.node.declare_parameter(entry.name, default, self.descriptor(entry))

    @staticmethod
    def descriptor(entry: Entry) -> ParameterDescriptor:
        """Return the ParameterDescriptor of ``entry``: description, range, constraints."""
        spec = entry.setting
        d = ParameterDescriptor(name=entry.name, description=spec.describe())
        if entry.kind is float and (spec.low is not None or spec.high is not None):
            d.floating_point_range = [FloatingPointRange(
                from_value=float(-1e300 if spec.low is None else spec.low),
                to_value=float(1e300 if spec.high is None else spec.high), step=0.0)]
        elif entry.kind is int and (spec.low is not None or spec.high is not None):
            d.integer_range = [IntegerRange(
                from_value=int(-2**62 if spec.low is None else spec.low),
                to_value=int(2**62 if spec.high is None else spec.high), step=0)]
        constraints = []
        if spec.choices:
            constraints.append(f'one of {list(spec.choices)}')
        if spec.apply in HOW_TO_APPLY:
            constraints.append(HOW_TO_APPLY[spec.apply])
        elif spec.apply == 'swap':
            constraints.append('a new value is loaded and checked, then swapped in between '
                               'two steps; a bad one is refused and the old one kept')
        else:
            constraints.append('applies at the next control step')
        d.additional_constraints = '; '.join(constraints)
        if entry.kind is list:
            d.type = ParameterType.PARAMETER_STRING_ARRAY
        return d

    def refusal(self, param: Any, state: str) -> Optional[str]:
        """
        Return why setting ``param`` now must be refused, or None.

        Args:
            param: an rclpy Parameter (name, value).
            state: the node's lifecycle state label ('unconfigured', 'inactive', 'active',
                'finalized') or 'starting' while the parameters are being declared.

        """
        entry = self.entries.get(param.name)
        if entry is None:
            return None
        spec, value = entry.setting, param.value
        reason = check_setting(param.name, spec, value)
        if reason is not None:
            return reason
        if param.name.endswith('_topic') and isinstance(value, str):
            # Refused here, with the reason: at configure an invalid name would raise inside
            # the transition, which rclpy turns into ERROR without a word.
            try:
                validate_full_topic_name(expand_topic_name(
                    value, self.node.get_name(), self.node.get_namespace()))
            except (ValueError, InvalidTopicNameException) as exc:
                return f'{param.name}: {exc}'.splitlines()[0]
        if state != 'starting':
            if spec.apply == 'start':
                return f'{param.name} is {HOW_TO_APPLY["start"]}'
            if spec.apply == 'configure' and state != 'unconfigured':
                return f'{param.name} is {HOW_TO_APPLY["configure"]}'
        return None

    def value(self, name: str) -> Any:
        """Return the current value of parameter ``name`` (a list for string arrays)."""
        try:
            param = self.node.get_parameter(name)
        except ParameterUninitializedException:
            return []        # a string array declared by type, never set
        if param.type_ == Parameter.Type.NOT_SET:
            return []
        value = param.value
        return list(value) if self.entries[name].kind is list else value

    def build(self, cls: Type[Any], pending: Optional[Mapping[str, Any]] = None,
              **extra: Any) -> Any:
        """
        Build ``cls`` (a group's dataclass) from the current values, ``pending`` on top.

        Raises whatever the dataclass's own checks raise (ValueError) for the combination.
        """
        pending = pending or {}
        kwargs = dict(extra)
        for entry in self.entries.values():
            if entry.group.cls is cls:
                value = pending[entry.name] if entry.name in pending else self.value(entry.name)
                kwargs[entry.field] = list(value) if entry.kind is list else value
        return cls(**kwargs)

    def names(self, cls: Type[Any]) -> List[str]:
        """Return the parameter names of group ``cls``."""
        return [e.name for e in self.entries.values() if e.group.cls is cls]

    def changed(self, params: Iterable[Any]) -> Dict[str, Any]:
        """Name -> new value of the declared parameters among ``params``."""
        return {p.name: (list(p.value or []) if self.entries[p.name].kind is list else p.value)
                for p in params if p.name in self.entries}

    def groups_of(self, names: Iterable[str]) -> Tuple[Type[Any], ...]:
        """Return the dataclasses the parameters ``names`` belong to."""
        return tuple({self.entries[n].group.cls: None for n in names if n in self.entries})
