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

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.spec import as_image
from lnn_control.runtime.spec import FORMAT_VERSION
from lnn_control.runtime.spec import PolicySpec
from lnn_control.runtime.spec import SpaceSpec
import numpy as np

__all__ = ['FORMAT_VERSION', 'METADATA_KEY', 'SpaceSpec', 'PolicySpec', 'Policy',
           'load_policy', 'read_policy_file', 'write_policy_file', 'builtin_policies',
           'tensor_digest', 'NeuronReport']

METADATA_KEY = 'lnn_control'
SUFFIXES = ('.safetensors', '.npz')
_NPZ_METADATA = '__lnn_control_metadata__'
_BUILTIN_DIR = Path(__file__).resolve().parent.parent / 'policies'
_PICKLE_MAGIC = (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05')
_ZIP_MAGIC = b'PK\x03\x04'


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

    ``obs`` is what the env or the Observer gives: a vector of ``spec.obs.size`` numbers of
    any real dtype (float32 is used as it is, others are cast while normalising, without a
    copy), or for a camera policy the frame itself, ``spec.obs.shape`` (height, width, 3)
    uint8 (or the same numbers flattened). Any other shape is a ValueError naming the expected
    and the given shape.

    ``nonfinite`` says what a NaN or inf in ``obs`` does (a lidar's no-return, a failed
    driver); the hidden state is never touched by such an observation:

    - ``'raise'`` (default): ValueError naming the offending elements.
    - ``'stop'``: what the ROS controller does with a non-finite observation: the step is
      skipped (state and last observation kept) and the action is zero, the stop command.
    - ``'hold'``: the step is skipped and the last action is returned again (zero before the
      first step), as when a sensor message is lost.

    ``skipped`` counts the observations ``'stop'`` and ``'hold'`` skipped.
    """

    NONFINITE = ('raise', 'stop', 'hold')

    def __init__(self, cell: Cell, spec: PolicySpec, source: str = '', *,
                 nonfinite: str = 'raise') -> None:
        if cell.input_size != spec.obs.size:
            raise PolicyFormatError(f'model takes {cell.input_size} inputs but the observation '
                                    f'space has {spec.obs.size}')
        if cell.output_size != spec.action.size:
            raise PolicyFormatError(f'model gives {cell.output_size} outputs but the action '
                                    f'space has {spec.action.size}')
        self.cell = cell
        self.spec = spec
        self.source = source
        self.nonfinite = nonfinite
        self.skipped = 0
        self._obs_mean = np.asarray(spec.obs_mean, dtype=np.float32)
        self._obs_scale = (1.0 / np.asarray(spec.obs_std, dtype=np.float64)).astype(np.float32)
        self._act_mean = np.asarray(spec.action_mean, dtype=np.float32)
        self._act_std = np.asarray(spec.action_std, dtype=np.float32)
        # Two input buffers: a step normalises into the spare one and swaps only once the
        # observation is accepted, so a refused one leaves last_observation as it was.
        self._x = np.zeros(cell.input_size, dtype=np.float32)
        self._spare = np.zeros(cell.input_size, dtype=np.float32)
        self._flat = (cell.input_size,)
        # A spec built by hand with a camera policy's flat space still takes the frame.
        self._space = spec.obs if spec.obs.is_image else as_image(spec.obs, spec.config)
        self._shape = tuple(self._space.shape)
        self._h = cell.initial_state()
        self._last = np.zeros(cell.output_size, dtype=np.float32)

    @property
    def nonfinite(self) -> str:
        """Say what a NaN or inf observation does: 'raise', 'stop' or 'hold' (see the class)."""
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: str) -> None:
        if value not in self.NONFINITE:
            raise ValueError(f'nonfinite must be one of {self.NONFINITE}, got {value!r}')
        self._nonfinite = value

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
        """Zero the hidden state and the held action (start of an episode, a long gap)."""
        self._h = self.cell.initial_state()
        self._last = np.zeros_like(self._last)

    def step(self, obs: np.ndarray, dt: float) -> np.ndarray:
        """
        Advance by ``dt`` seconds on observation ``obs``; return the action.

        Args:
            obs: (obs_size,) of any real dtype, or a camera policy's (height, width, 3) frame.
            dt: elapsed time since the previous observation (s), finite and > 0.

        Returns:
            (action_size,) float32.

        Raises:
            ValueError: a bad ``dt``, an ``obs`` of another shape, or (``nonfinite='raise'``)
                NaN or inf in ``obs``; the state is unchanged.

        """
        if not 0.0 < dt < math.inf:                     # NaN fails it too
            raise ValueError(f'dt must be finite and > 0, got {dt!r}')
        if getattr(obs, 'shape', None) != self._flat:
            obs = self._flatten(obs)
        x = self._spare
        try:
            np.subtract(obs, self._obs_mean, out=x)      # casts any real dtype, no copy
        except TypeError:                                # strings, objects, complex
            raise ValueError(f'observation must be real numbers, got dtype '
                             f'{np.asarray(obs).dtype}') from None
        x *= self._obs_scale
        # One dot product (the cheapest reduction) is non-finite iff an element is, or the
        # values are beyond ~1e19: then the element-wise check decides.
        if not math.isfinite(x.dot(x)) and not np.isfinite(x).all():
            return self._refuse(obs)
        self._x, self._spare = x, self._x
        y, self._h = self.cell.step(x, self._h, float(dt))
        action = y * self._act_std
        action += self._act_mean
        self._last = action
        return action

    def _flatten(self, obs: Any) -> np.ndarray:
        """Return ``obs`` as a flat (obs_size,) array (a view where possible), or raise."""
        arr = np.asarray(obs)
        if arr.dtype.kind not in 'biuf':
            raise ValueError(f'observation must be real numbers, got dtype {arr.dtype}')
        if arr.shape == self._shape or arr.shape == self._flat:
            return arr.reshape(self._flat)
        space = self._space
        what = (f'a camera frame {self._shape} {space.dtype} (or {self._flat} flat)'
                if space.is_image else f'{self._flat}: {", ".join(space.names)}')
        raise ValueError(f'observation has shape {arr.shape}, the policy takes {what}')

    def _refuse(self, obs: np.ndarray) -> np.ndarray:
        """Handle a non-finite observation as ``nonfinite`` says; the state stays as it was."""
        if self._nonfinite == 'raise':
            bad = np.flatnonzero(~np.isfinite(self._spare))
            values = np.asarray(obs, dtype=np.float64).reshape(-1)
            shown = ', '.join(f'{self._space.names[i]}={float(values[i])}' for i in bad[:8])
            more = f' and {bad.size - 8} more' if bad.size > 8 else ''
            raise ValueError(f'observation holds NaN or inf (or values beyond float32) in '
                             f'{bad.size} of {self._flat[0]} elements: {shown}{more}; the '
                             f"state is unchanged (Policy.nonfinite='stop' or 'hold' skips "
                             f'such steps instead)')
        self.skipped += 1
        if self._nonfinite == 'stop':
            self._last = np.zeros_like(self._last)
        return self._last.copy()

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


def load_policy(path_or_name: Union[str, os.PathLike], *, nonfinite: str = 'raise') -> Policy:
    """
    Load a policy file (path) or a shipped policy (name) for the numpy runtime.

    ``nonfinite`` ('raise', 'stop' or 'hold') is what a NaN or inf observation does, see
    :class:`Policy`.
    """
    tensors, spec, path = read_policy_file(path_or_name)
    try:
        cell = CELLS[spec.kind](spec.config, tensors)
    except PolicyFormatError as exc:
        raise PolicyFormatError(f'{path}: {exc}') from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyFormatError(f'{path}: the {spec.kind} config in the metadata is invalid: '
                                f'{exc!r}') from None
    return Policy(cell, spec, source=str(path), nonfinite=nonfinite)
