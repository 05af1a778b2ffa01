# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Write torch models as policy files, and read them back as torch models.

The file format is defined by :mod:`lnn_control.runtime.policy` (safetensors + JSON metadata,
never a pickle); this module adds the torch side: ``save_policy`` (atomic) and ``load_model``.
"""

from __future__ import annotations

import datetime
import getpass
import os
from pathlib import Path
import platform
import subprocess
import sys
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import lnn_control
from lnn_control.models.base import MODELS
from lnn_control.models.base import PolicyModel
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.runtime.policy import write_policy_file
import numpy as np
import torch

__all__ = ['save_policy', 'load_model', 'model_tensors', 'default_provenance']

SpaceLike = Union[SpaceSpec, Mapping[str, Any], int, None]


def _space(value: SpaceLike, size: int, what: str) -> SpaceSpec:
    if value is None:
        return SpaceSpec(size)
    if isinstance(value, int):
        value = SpaceSpec(value)
    elif isinstance(value, Mapping):
        value = SpaceSpec(**{'size': size, **value})
    if value.size != size:
        raise ValueError(f'{what} space has size {value.size}, the model has {size}')
    return value


def _floats(values: Optional[Sequence[float]]) -> list:
    return [] if values is None else [float(v) for v in np.ravel(values)]


def _git_revision() -> Optional[str]:
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True, timeout=5,
                             cwd=Path(lnn_control.__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def command_line(argv: Optional[Sequence[str]] = None) -> str:
    """
    Return the command that made a policy, as a user would type it on another machine.

    The program is ``lnn-control`` (however it was started: the console script or
    ``python -m lnn_control.cli``); file arguments inside the repository are relative to it,
    others under the home directory start with ``~``: no absolute path of this machine.
    """
    if argv is None:   # the command line lnn-control was given, when called in-process
        argv = getattr(lnn_control, 'invoked_as', None) or sys.argv
    argv = list(argv)
    if not argv:
        return ''
    root = Path(lnn_control.__file__).resolve().parent.parent
    program = Path(argv[0]).name
    if program in ('lnn-control', 'cli.py', '__main__.py') or argv[0].endswith(
            ('lnn_control/cli.py', 'lnn_control.cli')):
        program = 'lnn-control'
    home = Path.home()

    def shown(arg: str) -> str:
        if '/' not in arg and '=' not in arg:
            return arg
        key, sep, value = arg.rpartition('=') if '=' in arg else ('', '', arg)
        path = Path(value)
        if path.is_absolute():
            try:
                value = str(path.resolve().relative_to(root))
            except ValueError:
                try:
                    value = '~/' + str(path.resolve().relative_to(home.resolve()))
                except ValueError:
                    pass
        return f'{key}{sep}{value}'

    return ' '.join([program] + [shown(a) for a in argv[1:]])


def default_provenance(**extra: Any) -> Dict[str, Any]:
    """Who made a policy, when, with what: merged under ``extra``."""
    return {
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'user': getpass.getuser() if hasattr(os, 'getuid') else None,
        'host': platform.node(),
        'command': command_line(),
        'lnn_control_version': lnn_control.__version__,
        'git_revision': _git_revision(),
        'torch_version': torch.__version__,
        **extra,
    }


def model_tensors(model: PolicyModel) -> Dict[str, np.ndarray]:
    """Return the model's ``state_dict`` as float32 numpy arrays (what a file stores)."""
    return {name: t.detach().to('cpu', torch.float32).contiguous().numpy().copy()
            for name, t in model.state_dict().items()}


def save_policy(model: PolicyModel, path: Union[str, os.PathLike], *,
                obs: SpaceLike = None, action: SpaceLike = None,
                obs_mean: Optional[Sequence[float]] = None,
                obs_std: Optional[Sequence[float]] = None,
                action_mean: Optional[Sequence[float]] = None,
                action_std: Optional[Sequence[float]] = None,
                observer: Optional[Mapping[str, Any]] = None,
                actuator: Optional[Mapping[str, Any]] = None,
                provenance: Optional[Mapping[str, Any]] = None) -> Path:
    """
    Write ``model`` as a policy file the numpy runtime loads with ``load_policy``.

    Args:
        model: a CfC, LTC or baseline model (any registered :class:`PolicyModel`).
        path: destination, ``.safetensors`` (preferred) or ``.npz``. Written atomically.
        obs, action: the spaces (a SpaceSpec, a dict of its fields, or a size).
        obs_mean, obs_std: observation normaliser; ``action_mean``/``action_std`` the
            action de-normaliser (defaults: identity).
        observer, actuator: configs of the shared Observer/Actuator, stored verbatim.
        provenance: merged over :func:`default_provenance` (who, when, command, versions).

    Returns:
        The path written.

    """
    if not isinstance(model, PolicyModel) or model.kind not in MODELS:
        raise TypeError(f'save_policy needs an lnn_control model, got {type(model).__name__}')
    tensors = model_tensors(model)
    bad = [name for name, arr in tensors.items() if not np.isfinite(arr).all()]
    if bad:
        raise ValueError(f'refusing to save a model with non-finite weights in {bad}')
    spec = PolicySpec(
        kind=model.kind, config=model.get_config(),
        obs=_space(obs, model.input_size, 'observation'),
        action=_space(action, model.output_size, 'action'),
        obs_mean=_floats(obs_mean), obs_std=_floats(obs_std),
        action_mean=_floats(action_mean), action_std=_floats(action_std),
        observer=dict(observer or {}), actuator=dict(actuator or {}),
        provenance=default_provenance(**dict(provenance or {})))
    return write_policy_file(path, tensors, spec)


def load_model(path_or_name: Union[str, os.PathLike]) -> PolicyModel:
    """Rebuild the torch model of a policy file (for fine-tuning or export); spec in ``.spec``."""
    tensors, spec, path = read_policy_file(path_or_name)
    if spec.kind == 'adapted':
        raise PolicyFormatError(
            f'{path}: an adapted policy (online readout adaptation, lnn_control.runtime.adapt) '
            f'runs in the numpy runtime only; its original is '
            f'{spec.provenance.get("adapted_from", "not recorded")}')
    if spec.kind not in MODELS:
        raise PolicyFormatError(f'{path}: no torch model of kind {spec.kind!r}')
    model = MODELS[spec.kind].from_config(spec.config)
    state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise PolicyFormatError(f'{path}: tensors do not fit the model: {exc}') from None
    model.spec = spec
    return model
