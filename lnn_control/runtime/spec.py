# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The metadata of a policy file: :class:`PolicySpec` and its spaces (:class:`SpaceSpec`).

A policy file stores one ``PolicySpec`` as JSON (see :mod:`lnn_control.runtime.policy`). Its
``format_version`` is the lowest version that describes the file, so that an older reader
loads every file it can read correctly and refuses, with "newer ... upgrade lnn_control",
every file it would misread:

- version 1 (vector policies): per-element names, bounds and units of every space, and
  per-element normalisers;
- version 2 (camera policies): adds image spaces, described by ``shape``, ``dtype`` and one
  ``low``/``high``/``units`` for all pixels (no per-element names), and normalisers given as
  one number for every element.

A version-1 reader would take a version-2 image space's scalar bounds for malformed metadata or
its missing normaliser for the identity, so image files are version 2; vector files stay
version 1 (the ``shape`` and ``dtype`` keys they carry are ignored by version-1 readers). Camera
policies written as version 1 (9,216 pixel names, bounds and normaliser entries) still load:
their observation space is recognised from the model config's ``image`` and becomes the image
space it always was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.conv import image_shape
import numpy as np

__all__ = ['FORMAT_VERSION', 'SpaceSpec', 'PolicySpec', 'as_image']

FORMAT_VERSION = 2        # the newest version this lnn_control reads and writes
_VECTOR_VERSION = 1       # what files without image spaces are written as
_PIXEL = 'px'             # default element names of an image space: px0, px1, ... (C order)


def _bound(value: Any) -> Any:
    # JSON has no inf: keep bounds as strings where they are not finite.
    return value if math.isfinite(value) else repr(value)


def _uniform(values: Sequence[Any]) -> bool:
    return all(v == values[0] for v in values)


def _per_element(value: Any, size: int) -> List[Any]:
    """Return ``value`` as a list of ``size`` entries: lists as they are, a scalar repeated."""
    if isinstance(value, (str, int, float)):
        return [value] * size
    return list(value)


@dataclass
class SpaceSpec:
    """
    A box space: size, shape and dtype, and per-element names, bounds and units.

    Attributes:
        size: number of elements (the model's input or output size).
        names, low, high, units: per element, in C order of ``shape`` (bounds may be +-inf).
            The constructor and ``from_json`` also take one low, high or unit for all.
        shape: the array shape an env or a sensor gives, ``[size]`` for a vector (the
            default), ``[height, width, channels]`` for a camera frame (an image space).
        dtype: that array's numpy dtype name ('float32' default, 'uint8' for frames).

    """

    size: int
    names: List[str] = field(default_factory=list)
    low: List[float] = field(default_factory=list)
    high: List[float] = field(default_factory=list)
    units: List[str] = field(default_factory=list)
    shape: List[int] = field(default_factory=list)
    dtype: str = 'float32'

    def __post_init__(self) -> None:
        self.size = int(self.size)
        if self.size < 1:
            raise PolicyFormatError(f'a space needs size >= 1, got {self.size}')
        self.shape = [int(d) for d in (self.shape or [self.size])]
        if int(np.prod(self.shape)) != self.size or min(self.shape) < 1:
            raise PolicyFormatError(f'space shape {self.shape} does not hold {self.size} '
                                    f'elements')
        try:
            self.dtype = np.dtype(self.dtype).name
        except TypeError:
            raise PolicyFormatError(f'space dtype {self.dtype!r} is not a numpy dtype') from None
        prefix = _PIXEL if self.is_image else 'x'
        defaults = {'names': lambda: [f'{prefix}{i}' for i in range(self.size)],
                    'low': lambda: [-math.inf] * self.size,
                    'high': lambda: [math.inf] * self.size,
                    'units': lambda: [''] * self.size}
        if isinstance(self.names, str):
            raise PolicyFormatError(f'space names must be a list, got {self.names!r}')
        for name, default in defaults.items():
            value = getattr(self, name)
            if isinstance(value, (str, int, float)) or len(value):
                setattr(self, name, _per_element(value, self.size))
            else:
                setattr(self, name, default())
        self.low = [float(v) for v in self.low]
        self.high = [float(v) for v in self.high]
        for name in defaults:
            if len(getattr(self, name)) != self.size:
                raise PolicyFormatError(f'space {name} has {len(getattr(self, name))} '
                                        f'entries for size {self.size}')

    @property
    def is_image(self) -> bool:
        """Say whether the space has more than one dimension (a camera frame, H x W x C)."""
        return len(self.shape) > 1

    def describe(self) -> str:
        """One line: ``(48, 64, 3) uint8 in [0, 255]`` or ``17 float32: lidar_0, ...``."""
        if self.is_image:
            low, high = min(self.low), max(self.high)
            return f'{tuple(self.shape)} {self.dtype} in [{low:g}, {high:g}]'
        return f'{self.size} {self.dtype}: {", ".join(self.names)}'

    def to_json(self) -> Dict[str, Any]:
        data: Dict[str, Any] = {'size': self.size, 'shape': list(self.shape),
                                'dtype': self.dtype}
        if not self.is_image:
            data.update(names=list(self.names), units=list(self.units),
                        low=[_bound(v) for v in self.low], high=[_bound(v) for v in self.high])
            return data
        # Version 2: one value where every element has the same, no generated names.
        if self.names != [f'{_PIXEL}{i}' for i in range(self.size)]:
            data['names'] = list(self.names)
        for name in ('low', 'high', 'units'):
            values = getattr(self, name)
            if _uniform(values):
                data[name] = values[0] if name == 'units' else _bound(values[0])
            else:
                data[name] = list(values) if name == 'units' else [_bound(v) for v in values]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> 'SpaceSpec':
        def floats(value: Any) -> Union[float, List[float]]:
            if isinstance(value, (str, int, float)):
                return float(value)
            return [float(v) for v in value]
        return cls(size=data['size'], names=data.get('names', []),
                   low=floats(data.get('low', [])), high=floats(data.get('high', [])),
                   units=data.get('units', []), shape=list(data.get('shape', [])),
                   dtype=data.get('dtype', 'float32'))


def as_image(space: SpaceSpec, config: Mapping[str, Any]) -> SpaceSpec:
    """Return a camera policy's flat (version 1) obs space as its image space; others as given."""
    shape = image_shape(config)
    if (shape is None or space.is_image or int(config.get('extra', 0)) != 0
            or space.size != int(np.prod(shape))):
        return space
    flat_names = [f'x{i}' for i in range(space.size)]
    return dataclasses.replace(space, shape=list(shape), dtype='uint8',
                               names=[] if space.names == flat_names else space.names)


@dataclass
class PolicySpec:
    """
    Everything a policy file says about its policy, beside the weights.

    Attributes:
        kind: model registry name ('cfc', 'ltc', 'mlp', 'gru', 'lstm', 'conv', 'adapted').
        config: the model's constructor arguments (``get_config()``), wiring included.
        obs: observation space (the model input, before normalisation). A camera policy's
            (no extra inputs) is its image space, even when the spec is built with a flat one.
        action: action space (the model output, after de-normalisation).
        obs_mean, obs_std: the normaliser, ``x = (obs - obs_mean) / obs_std``, one entry per
            element (the constructor also takes one number for all).
        action_mean, action_std: ``action = y * action_std + action_mean``.
        observer, actuator: configs of the shared Observer/Actuator (may be empty).
        provenance: who trained it on what, when, with which command and code version.
        format_version: the version of the file the spec was read from (FORMAT_VERSION for a
            new spec); ``to_json`` writes :attr:`file_version`, the lowest that describes it.

    """

    kind: str
    config: Dict[str, Any]
    obs: SpaceSpec
    action: SpaceSpec
    obs_mean: List[float] = field(default_factory=list)
    obs_std: List[float] = field(default_factory=list)
    action_mean: List[float] = field(default_factory=list)
    action_std: List[float] = field(default_factory=list)
    observer: Dict[str, Any] = field(default_factory=dict)
    actuator: Dict[str, Any] = field(default_factory=dict)
    provenance: Dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        self.obs = as_image(self.obs, self.config)
        for name, size, default in (('obs_mean', self.obs.size, 0.0),
                                    ('obs_std', self.obs.size, 1.0),
                                    ('action_mean', self.action.size, 0.0),
                                    ('action_std', self.action.size, 1.0)):
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                value = [value] * size
            values = [float(v) for v in (value or [default] * size)]
            if len(values) != size:
                raise PolicyFormatError(f'{name} has {len(values)} entries, expected {size}')
            if not all(math.isfinite(v) for v in values):
                raise PolicyFormatError(f'{name} holds non-finite values')
            setattr(self, name, values)
        for name in ('obs_std', 'action_std'):
            if min(getattr(self, name)) <= 0.0:
                raise PolicyFormatError(f'{name} must be > 0 everywhere')

    @property
    def trained(self) -> Dict[str, Any]:
        """Return the provenance of the training run (an adapted policy's original's)."""
        base = self.provenance.get('base_provenance')
        return base if isinstance(base, Mapping) and base else self.provenance

    @property
    def env_id(self) -> Optional[str]:
        """Return the env the policy was trained on, from its provenance (None if unknown)."""
        provenance = self.trained
        config = provenance.get('config')
        env = config.get('env') if isinstance(config, Mapping) else None
        env = env.get('id') if isinstance(env, Mapping) else provenance.get('env')
        return str(env) if isinstance(env, str) and env else None

    @property
    def held_out(self) -> Optional[Dict[str, Any]]:
        """
        Return the held-out evaluation in the provenance (None if it has none).

        A dict as ``lnn_control.train.evaluate.evaluate`` returns it, at least ``metric``,
        ``score``, ``episodes`` and ``seed`` (``provenance['test']['policy']``).
        """
        test = self.trained.get('test')
        result = test.get('policy') if isinstance(test, Mapping) else None
        if isinstance(result, Mapping) and {'metric', 'score'} <= set(result):
            return dict(result)
        return None

    @property
    def file_version(self) -> int:
        """Return the format version ``to_json`` writes: 2 with an image space, else 1."""
        if self.obs.is_image or self.action.is_image:
            return FORMAT_VERSION
        return _VECTOR_VERSION

    def to_json(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data['obs'] = self.obs.to_json()
        data['action'] = self.action.to_json()
        data['format_version'] = self.file_version
        for name, space in (('obs_mean', self.obs), ('obs_std', self.obs),
                            ('action_mean', self.action), ('action_std', self.action)):
            if space.is_image and _uniform(data[name]):
                data[name] = data[name][0]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> 'PolicySpec':
        if not isinstance(data, Mapping):
            raise PolicyFormatError('policy metadata is not a JSON object')
        version = data.get('format_version')
        if not isinstance(version, int):
            raise PolicyFormatError(f'policy metadata has no integer format_version '
                                    f'(got {version!r})')
        if version > FORMAT_VERSION:
            raise PolicyFormatError(
                f'policy file format version {version} is newer than this lnn_control '
                f'supports ({FORMAT_VERSION}); upgrade lnn_control to load it')
        if version < 1:
            raise PolicyFormatError(f'invalid policy format version {version}')
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ('kind', 'config', 'obs', 'action') if k not in data]
        if missing:
            raise PolicyFormatError(f'policy metadata lacks {missing}')
        try:
            kwargs = {k: v for k, v in data.items() if k in known}
            kwargs['obs'] = SpaceSpec.from_json(data['obs'])
            kwargs['action'] = SpaceSpec.from_json(data['action'])
            return cls(**kwargs)
        except (TypeError, KeyError, ValueError) as exc:
            if isinstance(exc, PolicyFormatError):
                raise
            raise PolicyFormatError(f'policy metadata is malformed: {exc}') from None
