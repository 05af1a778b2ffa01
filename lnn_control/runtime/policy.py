# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Policy files and the stateful ``Policy`` the robot runs (numpy and safetensors only).

A policy file is a safetensors file (or an ``.npz`` read with ``allow_pickle=False``) holding
the model's float32 tensors under their torch ``state_dict`` names, and one JSON metadata entry
``lnn_control`` (a :class:`PolicySpec`): format version, model kind and config (with the
wiring), observation and action spaces, normalisers, the Observer/Actuator configs and
provenance. Nothing is ever unpickled. The metadata carries a SHA-256 of the tensor bytes so a
damaged file is refused rather than run.

    policy = load_policy('pibot_nav_cfc')          # or a path
    policy.reset()
    action = policy.step(obs, dt)                   # obs (obs_size,), dt seconds > 0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.base import PolicyFormatError
import numpy as np

__all__ = ['FORMAT_VERSION', 'METADATA_KEY', 'SpaceSpec', 'PolicySpec', 'Policy',
           'load_policy', 'read_policy_file', 'write_policy_file', 'builtin_policies',
           'tensor_digest', 'NeuronReport']

FORMAT_VERSION = 1
METADATA_KEY = 'lnn_control'
SUFFIXES = ('.safetensors', '.npz')
_NPZ_METADATA = '__lnn_control_metadata__'
_BUILTIN_DIR = Path(__file__).resolve().parent.parent / 'policies'
_PICKLE_MAGIC = (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05')
_ZIP_MAGIC = b'PK\x03\x04'


@dataclass
class SpaceSpec:
    """A box space: per-element names, bounds and units (bounds may be +-inf)."""

    size: int
    names: List[str] = field(default_factory=list)
    low: List[float] = field(default_factory=list)
    high: List[float] = field(default_factory=list)
    units: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.size = int(self.size)
        if self.size < 1:
            raise PolicyFormatError(f'a space needs size >= 1, got {self.size}')
        if not self.names:
            self.names = [f'x{i}' for i in range(self.size)]
        if not self.low:
            self.low = [-math.inf] * self.size
        if not self.high:
            self.high = [math.inf] * self.size
        if not self.units:
            self.units = [''] * self.size
        self.low = [float(v) for v in self.low]
        self.high = [float(v) for v in self.high]
        for name in ('names', 'low', 'high', 'units'):
            if len(getattr(self, name)) != self.size:
                raise PolicyFormatError(f'space {name} has {len(getattr(self, name))} '
                                        f'entries for size {self.size}')

    def to_json(self) -> Dict[str, Any]:
        # JSON has no inf: keep bounds as strings where they are not finite.
        return {'size': self.size, 'names': list(self.names), 'units': list(self.units),
                'low': [v if math.isfinite(v) else repr(v) for v in self.low],
                'high': [v if math.isfinite(v) else repr(v) for v in self.high]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> 'SpaceSpec':
        return cls(size=data['size'], names=list(data.get('names', [])),
                   low=[float(v) for v in data.get('low', [])],
                   high=[float(v) for v in data.get('high', [])],
                   units=list(data.get('units', [])))


@dataclass
class PolicySpec:
    """
    Everything a policy file says about its policy, beside the weights.

    Attributes:
        kind: model registry name ('cfc', 'ltc', 'mlp', 'gru', 'lstm').
        config: the model's constructor arguments (``get_config()``), wiring included.
        obs: observation space (the model input, before normalisation).
        action: action space (the model output, after de-normalisation).
        obs_mean, obs_std: the normaliser, ``x = (obs - obs_mean) / obs_std``.
        action_mean, action_std: ``action = y * action_std + action_mean``.
        observer, actuator: configs of the shared Observer/Actuator (may be empty).
        provenance: who trained it on what, when, with which command and code version.
        format_version: the file format version the spec was written with.

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
        for name, size, default in (('obs_mean', self.obs.size, 0.0),
                                    ('obs_std', self.obs.size, 1.0),
                                    ('action_mean', self.action.size, 0.0),
                                    ('action_std', self.action.size, 1.0)):
            values = [float(v) for v in (getattr(self, name) or [default] * size)]
            if len(values) != size:
                raise PolicyFormatError(f'{name} has {len(values)} entries, expected {size}')
            if not all(math.isfinite(v) for v in values):
                raise PolicyFormatError(f'{name} holds non-finite values')
            setattr(self, name, values)
        for name in ('obs_std', 'action_std'):
            if min(getattr(self, name)) <= 0.0:
                raise PolicyFormatError(f'{name} must be > 0 everywhere')

    def to_json(self) -> Dict[str, Any]:
        data = dataclasses.asdict(self)
        data['obs'] = self.obs.to_json()
        data['action'] = self.action.to_json()
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


def tensor_digest(tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over tensor names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        digest.update(f'{name}|{arr.dtype.str}|{arr.shape}|'.encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def write_policy_file(path: Union[str, os.PathLike], tensors: Mapping[str, np.ndarray],
                      spec: PolicySpec) -> Path:
    """
    Write tensors + spec atomically (temporary file, fsync, rename).

    A crash mid-save leaves the previous file (if any) intact, never a truncated one.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f'policy file name must end in {SUFFIXES}, got {path.name!r}')
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    meta = spec.to_json()
    meta['sha256'] = tensor_digest(arrays)
    text = json.dumps(meta, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    try:
        if path.suffix == '.safetensors':
            from safetensors.numpy import save
            data = save(arrays, metadata={METADATA_KEY: text})
            with open(tmp, 'wb') as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            with open(tmp, 'wb') as handle:
                np.savez(handle, **arrays,
                         **{_NPZ_METADATA: np.frombuffer(text.encode(), dtype=np.uint8)})
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _header_data_end(path: Path, header: Any) -> int:
    """
    Check a safetensors header's structure; return where its tensor data ends.

    Args:
        path: the file (for messages).
        header: the parsed JSON header.

    Returns:
        The largest end offset of any tensor's data (0 without tensors).

    Raises:
        PolicyFormatError: the header is not a mapping of well-formed tensor entries.

    """
    if not isinstance(header, dict):
        raise PolicyFormatError(f'{path}: corrupt safetensors header (not a JSON object)')
    end = 0
    for key, entry in header.items():
        if key == '__metadata__':
            if not isinstance(entry, dict):
                raise PolicyFormatError(f'{path}: corrupt safetensors header (__metadata__ is '
                                        f'not a JSON object)')
            continue
        offsets = entry.get('data_offsets') if isinstance(entry, dict) else None
        shape = entry.get('shape') if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]
                or not isinstance(shape, list)
                or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(entry.get('dtype'), str)):
            raise PolicyFormatError(f'{path}: corrupt safetensors header (tensor {key!r} has '
                                    f'no valid dtype, shape and data_offsets)')
        end = max(end, offsets[1])
    return end


def _read_safetensors(path: Path) -> Tuple[Dict[str, np.ndarray], str]:
    from safetensors import SafetensorError
    from safetensors.numpy import load
    raw = path.read_bytes()
    if len(raw) < 8:
        raise PolicyFormatError(f'{path}: truncated ({len(raw)} bytes, no safetensors header)')
    header_len = int.from_bytes(raw[:8], 'little')
    if header_len > len(raw) - 8:
        raise PolicyFormatError(f'{path}: truncated (header says {header_len} bytes, file has '
                                f'{len(raw) - 8} after the length field)')
    try:
        header = json.loads(raw[8:8 + header_len])
    except ValueError:
        raise PolicyFormatError(f'{path}: corrupt safetensors header (not JSON)') from None
    end = _header_data_end(path, header)
    if 8 + header_len + end > len(raw):
        raise PolicyFormatError(f'{path}: truncated (tensor data ends at byte '
                                f'{8 + header_len + end}, file has {len(raw)})')
    try:
        tensors = load(raw)
    except (SafetensorError, ValueError) as exc:
        raise PolicyFormatError(f'{path}: unreadable safetensors data: {exc}') from None
    meta = (header.get('__metadata__') or {}).get(METADATA_KEY)
    if meta is None:
        raise PolicyFormatError(f'{path}: no "{METADATA_KEY}" metadata: not an lnn_control '
                                f'policy file (write one with lnn_control.models.save_policy)')
    return tensors, meta


def _read_npz(path: Path) -> Tuple[Dict[str, np.ndarray], str]:
    import zipfile
    try:
        with np.load(path, allow_pickle=False) as data:
            tensors = {k: data[k] for k in data.files}
    except ValueError as exc:
        raise PolicyFormatError(f'{path}: refused, the npz holds object arrays that would '
                                f'need unpickling ({exc})') from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PolicyFormatError(f'{path}: truncated or corrupt npz: {exc}') from None
    meta = tensors.pop(_NPZ_METADATA, None)
    if meta is None:
        raise PolicyFormatError(f'{path}: no lnn_control metadata: not an lnn_control policy')
    return tensors, meta.tobytes().decode('utf-8', errors='replace')


def builtin_policies() -> List[str]:
    """Names of the policies shipped as package data."""
    if not _BUILTIN_DIR.is_dir():
        return []
    return sorted(p.stem for p in _BUILTIN_DIR.glob('*.safetensors'))


def _resolve(path_or_name: Union[str, os.PathLike]) -> Path:
    path = Path(path_or_name)
    if path.is_file():
        return path
    name = str(path_or_name)
    if os.sep not in name and path.suffix not in SUFFIXES:
        candidate = _BUILTIN_DIR / f'{name}.safetensors'
        if candidate.is_file():
            return candidate
        raise FileNotFoundError(f'no policy file {name!r} and no built-in policy of that name '
                                f'(built-in: {builtin_policies() or "none"})')
    if path.exists():
        raise PolicyFormatError(f'{path}: is not a regular file')
    raise FileNotFoundError(f'policy file not found: {path}')


def read_policy_file(path_or_name: Union[str, os.PathLike]
                     ) -> Tuple[Dict[str, np.ndarray], PolicySpec, Path]:
    """
    Read and validate a policy file: (tensors, spec, resolved path).

    Refuses, with a message naming the problem: a missing file, a pickle, a truncated or
    corrupt file, a newer format version, damaged tensor data (checksum), non-finite weights,
    an unknown model kind, and tensors whose shapes do not match the metadata.
    """
    path = _resolve(path_or_name)
    with open(path, 'rb') as handle:
        head = handle.read(4)
    if head[:2] in _PICKLE_MAGIC:
        raise PolicyFormatError(f'{path}: refused, this is a Python pickle (e.g. torch.save); '
                                f'policy files are never unpickled. Save the model with '
                                f'lnn_control.models.save_policy instead')
    if path.suffix == '.npz' or head == _ZIP_MAGIC:
        tensors, meta_text = _read_npz(path)
    elif path.suffix == '.safetensors':
        tensors, meta_text = _read_safetensors(path)
    else:
        raise PolicyFormatError(f'{path}: unknown policy file type (expected {SUFFIXES})')
    try:
        meta = json.loads(meta_text)
    except ValueError:
        raise PolicyFormatError(f'{path}: metadata is not valid JSON') from None
    spec = PolicySpec.from_json(meta)
    expected_digest = meta.get('sha256')
    if expected_digest is None:
        raise PolicyFormatError(f'{path}: metadata has no tensor checksum (sha256)')
    if tensor_digest(tensors) != expected_digest:
        raise PolicyFormatError(f'{path}: tensor data is corrupt (checksum mismatch): the file '
                                f'was damaged after it was written')
    for name, arr in tensors.items():
        if arr.dtype != np.float32:
            raise PolicyFormatError(f'{path}: tensor {name!r} is {arr.dtype}, expected float32')
        if not np.isfinite(arr).all():
            raise PolicyFormatError(f'{path}: tensor {name!r} holds NaN or inf')
    if spec.kind not in CELLS:
        _import_cells()
    if spec.kind not in CELLS:
        raise PolicyFormatError(f'{path}: unknown model kind {spec.kind!r}; this lnn_control '
                                f'knows {sorted(CELLS)}')
    return tensors, spec, path


def _import_cells() -> None:
    # The cells register themselves on import; importing the package pulls them all in.
    import lnn_control.runtime  # noqa: F401


class NeuronReport(NamedTuple):
    """
    One labelled snapshot of a policy's neurons (``Policy.neuron_report``).

    Attributes:
        labels: ``'<layer>:<id or obs name>'`` per entry, layer one of sensory, inter,
            command, motor (wired cells), hidden, memory, or a baseline's layer names.
        activation: (E,) float32, observations then neuron states.
        time_constant: (E,) float32, NaN where an entry has none.
        time_constant_kind: 'tau_s' (LTC, seconds), 'time_gate' (CfC, 0..1), 'decay' (CfC
            pure mode) or '' (none: every entry NaN).

    """

    labels: List[str]
    activation: np.ndarray
    time_constant: np.ndarray
    time_constant_kind: str


class Policy:
    """
    A loaded policy, stepped one observation at a time with the real elapsed time.

    ``step(obs, dt)`` normalises the observation, advances the cell by ``dt`` seconds and
    returns the de-normalised action (float32, shape (action_size,)). ``state`` is the flat
    neuron state (a view: copy it to keep it), ``reset()`` zeroes it, ``spec`` is the metadata.
    """

    def __init__(self, cell: Cell, spec: PolicySpec, source: str = '') -> None:
        if cell.input_size != spec.obs.size:
            raise PolicyFormatError(f'model takes {cell.input_size} inputs but the observation '
                                    f'space has {spec.obs.size}')
        if cell.output_size != spec.action.size:
            raise PolicyFormatError(f'model gives {cell.output_size} outputs but the action '
                                    f'space has {spec.action.size}')
        self.cell = cell
        self.spec = spec
        self.source = source
        self._obs_mean = np.asarray(spec.obs_mean, dtype=np.float32)
        self._obs_scale = (1.0 / np.asarray(spec.obs_std, dtype=np.float64)).astype(np.float32)
        self._act_mean = np.asarray(spec.action_mean, dtype=np.float32)
        self._act_std = np.asarray(spec.action_std, dtype=np.float32)
        self._x = np.zeros(cell.input_size, dtype=np.float32)
        self._h = cell.initial_state()

    @property
    def state(self) -> np.ndarray:
        return self._h

    @state.setter
    def state(self, value: np.ndarray) -> None:
        value = np.asarray(value, dtype=np.float32)
        if value.shape != self._h.shape:
            raise ValueError(f'state must have shape {self._h.shape}, got {value.shape}')
        self._h = value.copy()

    @property
    def neuron_labels(self) -> List[str]:
        return self.cell.neuron_labels()

    def reset(self) -> None:
        """Zero the hidden state (start of an episode, or after a long sensor gap)."""
        self._h = self.cell.initial_state()

    def step(self, obs: np.ndarray, dt: float) -> np.ndarray:
        """Advance by ``dt`` seconds (finite, > 0) on observation ``obs``; return the action."""
        if not dt > 0.0 or not math.isfinite(dt):
            raise ValueError(f'dt must be finite and > 0, got {dt!r}')
        np.subtract(obs, self._obs_mean, out=self._x)
        self._x *= self._obs_scale
        y, self._h = self.cell.step(self._x, self._h, float(dt))
        return y * self._act_std + self._act_mean

    # -- transparency (issue 6) ----------------------------------------------------------
    @property
    def time_constant_kind(self) -> str:
        """Say what ``time_constants()`` holds: 'tau_s', 'time_gate', 'decay' or '' (none)."""
        return self.cell.time_constant_kind

    def time_constants(self) -> Optional[np.ndarray]:
        """Per-neuron time constants of the last step in ``neuron_labels`` order (or None)."""
        return self.cell.time_constants()

    @property
    def last_observation(self) -> np.ndarray:
        """Return the last step's observation (a new array; the normaliser mean before one)."""
        return (self._x / self._obs_scale + self._obs_mean).astype(np.float32)

    def neuron_report(self) -> NeuronReport:
        """
        Every neuron of the last step, labelled by layer, for plotting and logging.

        The sensory layer comes first, one entry per observation (``'sensory:<obs name>'``,
        activation = the observation, no time constant), then the cell's neurons in
        ``neuron_labels`` order ('inter:12', 'command:7', 'motor:0', ...) with their state
        and time constant (NaN where there is none).
        """
        sensory = [f'sensory:{name}' for name in self.spec.obs.names]
        state = np.asarray(self._h, dtype=np.float32).reshape(-1)
        tau = self.time_constants()
        if tau is None:
            tau = np.full(state.size, np.nan, np.float32)
        return NeuronReport(
            labels=sensory + list(self.neuron_labels),
            activation=np.concatenate([self.last_observation, state]),
            time_constant=np.concatenate([np.full(len(sensory), np.nan, np.float32),
                                          np.asarray(tau, np.float32)]),
            time_constant_kind=self.time_constant_kind)

    def __repr__(self) -> str:
        return (f'Policy({self.spec.kind}, obs={self.spec.obs.size}, '
                f'action={self.spec.action.size}, source={self.source!r})')


def load_policy(path_or_name: Union[str, os.PathLike]) -> Policy:
    """Load a policy file (path) or a shipped policy (name) for the numpy runtime."""
    tensors, spec, path = read_policy_file(path_or_name)
    try:
        cell = CELLS[spec.kind](spec.config, tensors)
    except PolicyFormatError as exc:
        raise PolicyFormatError(f'{path}: {exc}') from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyFormatError(f'{path}: the {spec.kind} config in the metadata is invalid: '
                                f'{exc!r}') from None
    return Policy(cell, spec, source=str(path))
