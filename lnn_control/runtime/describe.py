# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
r"""
Short, human-readable summaries of policy files (``lnn-control info`` and ``list``), torch-free.

    tensors, spec, path = read_policy_file('pibot_nav_cfc')
    print('\n'.join(describe_policy(tensors, spec, path)))

Per-element detail (a camera policy's 9,216 pixels) is summarised; ``lnn-control info --json``
prints the whole metadata.
"""

from __future__ import annotations

import math
from pathlib import Path
import re
from typing import Any, Dict, List, Mapping, Tuple

from lnn_control.runtime.base import CELLS
from lnn_control.runtime.conv import image_shape
from lnn_control.runtime.spec import PolicySpec
from lnn_control.runtime.spec import SpaceSpec
import numpy as np

__all__ = ['describe_policy', 'describe_space', 'score_text', 'brief']


def _number(value: float) -> str:
    return f'{value:g}' if math.isfinite(value) else ('-inf' if value < 0 else 'inf')


def brief(value: Any, width: int = 200) -> str:
    """Return ``value`` (a config) as ``key=value`` pairs, None entries left out, cut at width."""
    def text(v: Any) -> str:
        if isinstance(v, Mapping):
            return '(' + ' '.join(f'{k}={text(x)}' for k, x in sorted(v.items())
                                  if x is not None) + ')'
        if isinstance(v, (list, tuple)):
            return '[' + ','.join(text(x) for x in v) + ']'
        return f'{v:g}' if isinstance(v, float) else str(v)
    out = text(value)[1:-1] if isinstance(value, Mapping) else text(value)
    return out if len(out) <= width else out[:width - 3] + '...'


def _runs(space: SpaceSpec) -> List[Tuple[int, int]]:
    """Split a vector space into runs of consecutive elements with equal bounds and units."""
    runs, start = [], 0
    for i in range(1, space.size + 1):
        if i == space.size or (space.low[i], space.high[i], space.units[i]) != (
                space.low[start], space.high[start], space.units[start]):
            runs.append((start, i))
            start = i
    return runs


def _numbered(names: List[str]) -> bool:
    """Say whether ``names`` are one prefix with consecutive numbers (lidar_0, lidar_1, ...)."""
    first = re.fullmatch(r'(.*?)(\d+)', names[0])
    return first is not None and names == [f'{first.group(1)}{int(first.group(2)) + i}'
                                           for i in range(len(names))]


def describe_space(space: SpaceSpec, indent: int = 13) -> List[str]:
    """Return lines naming each element (runs of alike ones joined) with bounds and units."""
    if space.is_image:
        return [space.describe()]
    rows = []
    for start, end in _runs(space):
        names = ', '.join(space.names[start:end])
        if end - start > 2 and (len(names) > 40 or _numbered(space.names[start:end])):
            names = f'{space.names[start]} .. {space.names[end - 1]} ({end - start})'
        bounds = f'{_number(space.low[start])} .. {_number(space.high[start])}'
        rows.append((names, bounds, space.units[start]))
    width = max(len(r[0]) for r in rows)
    bounds_width = max(len(r[1]) for r in rows)
    pad = ' ' * indent
    return [f'{space.size} {space.dtype}'] + [
        f'{pad}{names:<{width}}  {bounds:<{bounds_width}}  {units}'.rstrip()
        for names, bounds, units in rows]


def _normaliser(mean: List[float], std: List[float]) -> str:
    if all(m == 0.0 for m in mean) and all(s == 1.0 for s in std):
        return 'identity'
    if len(set(mean)) == 1 and len(set(std)) == 1:
        return f'(x - {mean[0]:g}) / {std[0]:g}'
    return 'per element (lnn-control info --json shows them)'


def _observer(spec: PolicySpec) -> str:
    if spec.observer:
        return brief(spec.observer)
    shape = image_shape(spec.config)
    if shape is not None:
        # Camera policies: the frame is the observation (runtime.conv.camera_observation).
        encoding = spec.trained.get('encoding', 'rgb8')
        extra = int(spec.config.get('extra', 0))
        return (f'camera frames {shape[1]} x {shape[0]} px {encoding}'
                f'{f" + {extra} odometry speed" if extra else ""}; pixels 0-255, scaled '
                f'in the model (runtime.conv.camera_observation)')
    return 'none recorded'


def score_text(spec: PolicySpec) -> str:
    """Return the held-out score of the provenance as text ('-' when none is recorded)."""
    result = spec.held_out
    if result is None:
        return '-'
    metric = str(result['metric']).replace('_rate', '').replace('mean_', '')
    where = f' ({result["episodes"]} episodes' if 'episodes' in result else ''
    if where and 'seed' in result:
        where += f' from seed {result["seed"]}'
    return f'{metric} {float(result["score"]):.4g}{where + ")" if where else ""}'


def describe_policy(tensors: Dict[str, np.ndarray], spec: PolicySpec, path: Path) -> List[str]:
    """Return the lines of ``lnn-control info``: a policy's model, spaces, settings, origin."""
    size = path.stat().st_size if path.is_file() else 0
    cell = CELLS[spec.kind](spec.config, tensors)
    head = spec.config.get('head') if isinstance(spec.config, Mapping) else None
    kind = spec.kind + (f' (head {head["kind"]})' if isinstance(head, Mapping) else '')
    rows = [('policy', f'{path} ({size / 1000:.1f} kB, format {spec.format_version})'),
            ('model', f'{kind}, {sum(int(t.size) for t in tensors.values()):,} parameters, '
                      f'state {cell.state_size} values'),
            ('config', brief(spec.config)),
            ('observation', '\n'.join(describe_space(spec.obs))),
            ('normaliser', _normaliser(spec.obs_mean, spec.obs_std)),
            ('action', '\n'.join(describe_space(spec.action))),
            ('observer', _observer(spec)),
            ('actuator', brief(spec.actuator) if spec.actuator
             else 'none recorded (the action bounds above are the limits)'),
            ('env', spec.env_id or '-'),
            ('held-out', score_text(spec))]
    p = spec.trained
    made = ' '.join(f'{word} {p[key]}' for word, key in (
        ('by', 'method'), ('on', 'host'), ('as', 'user')) if p.get(key))
    versions = ', '.join(f'{word} {p[key]}' for word, key in (
        ('lnn_control', 'lnn_control_version'), ('torch', 'torch_version'),
        ('git', 'git_revision')) if p.get(key))
    adapted = spec.provenance.get('adapted_from')
    rows += [(key, value) for key, value in (
        ('trained', f'{p.get("created", "")} {made}'.strip()), ('versions', versions),
        ('command', str(p.get('command') or '')), ('adapted', str(adapted or ''))) if value]
    return [f'{key:<12} {value}' for key, value in rows]
