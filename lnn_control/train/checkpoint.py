# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Checkpoints of a training run: safetensors arrays + JSON state, never a pickle.

A checkpoint is a folder ``<run>/checkpoint/round_NNN/`` of named array groups
(``<group>.safetensors``: the model, the best model, the optimiser, the data) and a
``state.json``; ``LATEST`` points at the newest one. Writing goes to a temporary folder that is
renamed into place, so a crash mid-write leaves the previous checkpoint as the latest. Every
training method saves and resumes through these functions (``--resume``), so a resumed run
continues exactly where the interrupted one stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

__all__ = ['CHECKPOINT', 'run_folder', 'save_checkpoint', 'load_checkpoint', 'optimizer_arrays',
           'load_optimizer', 'write_json', 'config_differences', 'state_dict']

CHECKPOINT = 'checkpoint'   # folder of round_NNN/ checkpoints and the LATEST pointer


def optimizer_arrays(optimizer: Any) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Return a torch optimiser's tensors by name and the JSON-able rest of its state."""
    state = optimizer.state_dict()
    arrays = {f'{index}.{name}': value.detach().cpu().numpy().copy()
              for index, slots in state['state'].items() for name, value in slots.items()}
    return arrays, {'param_groups': state['param_groups']}


def load_optimizer(optimizer: Any, arrays: Mapping[str, np.ndarray],
                   meta: Mapping[str, Any]) -> None:
    """Restore what :func:`optimizer_arrays` returned."""
    import torch
    state: Dict[int, Dict[str, Any]] = {}
    for key, value in arrays.items():
        index, name = key.split('.', 1)
        state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(value))
    optimizer.load_state_dict({'state': state, 'param_groups': meta['param_groups']})


def state_dict(arrays: Mapping[str, np.ndarray]) -> Dict[str, Any]:
    """Turn named arrays into a torch ``state_dict`` (copies)."""
    import torch
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, rename)."""
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def save_checkpoint(folder: Path, index: int, groups: Mapping[str, Mapping[str, np.ndarray]],
                    state: Mapping[str, Any]) -> Path:
    """
    Write ``folder/round_NNN/`` (``<group>.safetensors`` + ``state.json``), then ``LATEST``.

    Older checkpoints are removed once the new one is in place.
    """
    from safetensors.numpy import save_file
    target = folder / f'round_{index:03d}'
    tmp = folder / f'.round_{index:03d}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, arrays in groups.items():
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                  str(tmp / f'{name}.safetensors'))
    write_json(tmp / 'state.json', dict(state))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    write_json(folder / 'LATEST', {'round': index, 'path': target.name})
    for old in folder.glob('round_*'):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(folder: Path) -> Tuple[Dict[str, Dict[str, np.ndarray]], Dict[str, Any]]:
    """Return the latest checkpoint's array groups and state (FileNotFoundError if none)."""
    from safetensors.numpy import load_file
    pointer = folder / 'LATEST'
    if not pointer.is_file():
        raise FileNotFoundError(f'no checkpoint to resume in {folder}')
    target = folder / json.loads(pointer.read_text())['path']
    groups = {path.stem: load_file(str(path)) for path in target.glob('*.safetensors')}
    return groups, json.loads((target / 'state.json').read_text())


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any],
                       prefix: str = '') -> List[str]:
    """Return the dotted keys whose values differ between two config dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        dotted = f'{prefix}{key}'
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and dotted not in ('env.kwargs',):
            keys += config_differences(a, b, dotted + '.')
        elif a != b:
            keys.append(dotted)
    return keys


def run_folder(cfg: Any, out: Optional[os.PathLike], resume: bool) -> Tuple[Any, Path, Path]:
    """
    Return (the config with its ``out_dir`` set, the output folder, its checkpoint folder).

    The folder is made; one holding an earlier run's checkpoint is refused unless ``resume``
    (a second run must not overwrite the first's).
    """
    import dataclasses
    from lnn_control.train.config import ConfigError
    folder = Path(out) if out is not None else cfg.resolved_out_dir()
    cfg = dataclasses.replace(cfg, out_dir=str(folder))
    ckpt_dir = folder / CHECKPOINT
    if not resume and (ckpt_dir / 'LATEST').exists():
        raise ConfigError(f'{folder} holds a checkpoint of an earlier run: pass --resume to '
                          f'continue it, or choose another --out')
    folder.mkdir(parents=True, exist_ok=True)
    return cfg, folder, ckpt_dir
