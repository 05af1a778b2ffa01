# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
One declaration per setting: a dataclass field carries its default, doc, range and when it applies.

Every setting of the controller (its core, its online adaptation and the ROS node around them)
is a field of a config dataclass declared with :func:`setting`. The ROS parameters
(:mod:`lnn_control.ros.parameters`: declarations, descriptors, set-time checks), the command
line options of ``lnn-control finetune`` and the YAML files in ``config/`` all come from these
fields, so a default, a range or a description is written once::

    @dataclass
    class ControllerConfig:
        max_v: float = setting(0.0, 'tighten the forward speed limit (m/s), 0 keeps it',
                               low=0.0, high=10.0, unit='m/s')

When a setting takes effect (``apply``) is part of its declaration, because a parameter set on
a running node must be applied or refused, never accepted and ignored:

=============  ===========================================================================
apply          a new value on a running controller
=============  ===========================================================================
``'step'``     applies at the next control step (limits, timeouts, rates, adaptation)
``'swap'``     loads, checks and swaps between two steps (the policy file)
``'configure'``  is refused while configured: the value is read at configure (topics, QoS,
               the mode); the reason says how to apply it
``'start'``    is refused after start-up: read once when the process starts (files and
               directories on the robot, which no remote participant may point elsewhere)
=============  ===========================================================================

This module imports nothing beyond the standard library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

__all__ = ['Setting', 'setting', 'settings_of', 'check_setting', 'APPLY', 'HOW_TO_APPLY']

APPLY = ('step', 'swap', 'configure', 'start')
# What an operator must do to change a setting of each kind on a running node.
HOW_TO_APPLY = {
    'configure': 'read at configure: deactivate, cleanup, set it, configure and activate',
    'start': 'read once at start-up: set it in the params file (or with -p) and restart',
}


@dataclass(frozen=True)
class Setting:
    """
    What a config field declares besides its default (``dataclasses.Field.metadata``).

    Attributes:
        doc: one line for the ROS parameter descriptor, ``--help`` and the docs.
        low, high: inclusive range of a number (None: unbounded on that side).
        choices: the allowed values of a string (empty: any string).
        apply: when a new value takes effect on a running node (module docstring).
        unit: unit of a number ('' for none), shown in descriptions.
        param: the ROS parameter name, when it differs from the field's name.
        param_default: the ROS parameter's default, when it differs from the field's (e.g.
            adaptation: an ``AdaptationConfig`` built in Python is on, the node's is off).

    """

    doc: str
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[str, ...] = ()
    apply: str = 'step'
    unit: str = ''
    param: str = ''
    param_default: Any = None

    def __post_init__(self) -> None:
        if self.apply not in APPLY:
            raise ValueError(f'apply must be one of {APPLY}, got {self.apply!r}')

    def describe(self, when: bool = True) -> str:
        """Return the doc with the range or choices and (``when``) when it applies."""
        parts = [self.doc]
        if self.choices:
            parts.append(f'one of {list(self.choices)}')
        elif self.low is not None or self.high is not None:
            parts.append(f'range [{_num(self.low, "-inf")}, {_num(self.high, "inf")}]')
        if not when:
            return '; '.join(parts)
        parts.append({'step': 'applies at the next step',
                      'swap': 'hot-swapped between two steps',
                      'configure': 'read at configure',
                      'start': 'read at start-up'}[self.apply])
        return '; '.join(parts)


def _num(value: Optional[float], default: str) -> str:
    return default if value is None else f'{value:g}'


def setting(default: Any = dataclasses.MISSING, doc: str = '', *, low: Optional[float] = None,
            high: Optional[float] = None, choices: Sequence[str] = (), apply: str = 'step',
            unit: str = '', param: str = '', param_default: Any = None,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """Declare a config field with its :class:`Setting` (use as a dataclass field default)."""
    meta = {'setting': Setting(doc=doc, low=low, high=high, choices=tuple(choices),
                               apply=apply, unit=unit, param=param,
                               param_default=param_default)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def settings_of(cls: Any) -> Iterator[Tuple[dataclasses.Field, Setting]]:
    """Yield (field, setting) for every field of dataclass ``cls`` declared with ``setting``."""
    for f in dataclasses.fields(cls):
        spec = f.metadata.get('setting')
        if spec is not None:
            yield f, spec


def default_of(f: dataclasses.Field) -> Any:
    """Return a field's default value (calling its factory)."""
    if f.default_factory is not dataclasses.MISSING:   # type: ignore[misc]
        return f.default_factory()                      # type: ignore[misc]
    return f.default


def check_setting(name: str, spec: Setting, value: Any) -> Optional[str]:
    """Return why ``value`` is not valid for ``spec`` (range, choices), or None if it is."""
    if spec.choices and isinstance(value, str) and value not in spec.choices:
        return f'{name} must be one of {list(spec.choices)}, got {value!r}'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return f'{name} must be a number, got nan'
        if spec.low is not None and value < spec.low:
            return f'{name} must be >= {spec.low:g}, got {value!r}'
        if spec.high is not None and value > spec.high:
            return f'{name} must be <= {spec.high:g}, got {value!r}'
    return None


def defaults(cls: Any) -> Dict[str, Any]:
    """Field name -> default of every declared setting of ``cls``."""
    return {f.name: default_of(f) for f, _ in settings_of(cls)}


def field_names(cls: Any) -> List[str]:
    """Names of the declared settings of ``cls``, in declaration order."""
    return [f.name for f, _ in settings_of(cls)]
