# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training (torch side): one top-to-bottom file per method on one shared layer.

Importing this package imports nothing heavy. A method is one file with a ``train(cfg, out,
resume, progress, base_dir, report)`` function (``report``: a callback after every round or
update with the score so far and the checkpoint folder; sweeps use it), registered in
:data:`METHODS` under the name a config's ``method:`` key gives (``lnn-control train CONFIG``
runs it). Every method shares, and nothing else: the env layer (:mod:`lnn_control.envs`:
``make_env``, the perturbation knobs, the one episode loop), the sequence store
(:mod:`lnn_control.runtime.sequences`), evaluation (:mod:`lnn_control.train.evaluate`,
:mod:`lnn_control.train.robustness`) and policy I/O (:mod:`lnn_control.train.policy_io`,
:mod:`lnn_control.train.checkpoint`, :mod:`lnn_control.models.policy`).

- ``imitation``: behaviour cloning + DAgger (:mod:`lnn_control.train.imitation`).
- ``ppo``: reinforcement learning, recurrent PPO with the real dt (:mod:`lnn_control.train.ppo`).
- :mod:`lnn_control.train.sweep`: hyperparameter sweeps on Ray Tune (``lnn-control sweep``);
  :mod:`lnn_control.train.distributed`: Ray start-up and Ray tasks for evaluation.
- :mod:`lnn_control.train.config`: the one config schema; :mod:`lnn_control.train.adapt_eval`:
  the online-adaptation study; :mod:`lnn_control.train.toy_demo`: the pendulum velocity demo.
"""

import importlib
from typing import Any, Callable, Dict

__all__ = ['METHODS', 'method']

# method name -> 'module:function' (imported when the method runs).
METHODS: Dict[str, str] = {
    'imitation': 'lnn_control.train.imitation:train',
    'ppo': 'lnn_control.train.ppo:train',
}


def method(name: str) -> Callable[..., Any]:
    """Return the ``train`` function of method ``name``."""
    if name not in METHODS:
        raise KeyError(f'unknown training method {name!r}; known: {sorted(METHODS)}')
    module, _, function = METHODS[name].partition(':')
    return getattr(importlib.import_module(module), function)
