# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
MuJoCo environments (Gymnasium) and experts; MJCF files live in the top-level ``sim/``.

Importing this package registers its ids with Gymnasium (like ``gymnasium_robotics`` and
``ale_py``), so ``gymnasium.make`` works right after the import; it imports gymnasium but not
mujoco, which loads when an env is first made::

    import gymnasium
    import lnn_control.envs

    gymnasium.register_envs(lnn_control.envs)   # optional: keeps linters from flagging the import
    env = gymnasium.make('lnn_control/PiBotNav-v0', n_obstacles=8)

Ids (``ENV_IDS``), each registered with its episode limit (``MAX_EPISODE_STEPS``):

- ``lnn_control/PiBotNav-v0`` (``lnn_control.envs.pibot_nav.PiBotNavEnv``): 1200 steps;
- ``lnn_control/PiBotLane-v0`` (``lnn_control.envs.pibot_lane.PiBotLaneEnv``): 600 steps.

Both envs truncate themselves on simulated time (``time_limit``); the registered step limit is
what that time allows at the nominal control rate, so with the default arguments both end an
episode on the same step. Give ``gymnasium.make`` a ``max_episode_steps`` that matches when you
change ``time_limit`` or the rate, or ``max_episode_steps=-1`` to leave time as the only limit
(see the env docstrings for ``drop`` and ``dt_jitter``, which change the steps' length).
``register()`` does the registration again for callers that used it before (idempotent).

The env layer every training method, evaluation and tool shares (imported lazily, so this
package stays cheap): ``make_env`` and ``nominal_dt`` (:mod:`lnn_control.envs.make`), the
perturbation knobs (:mod:`lnn_control.envs.perturb`: ``Perturbation``), the one episode loop
(:mod:`lnn_control.envs.rollout`: ``run_episode``, ``Trajectory``) and the experts
(:mod:`lnn_control.envs.experts`: ``make_expert``).
"""

import os
from typing import Dict

if 'MUJOCO_GL' not in os.environ and not os.environ.get('DISPLAY'):
    # Headless: render offscreen with Mesa's EGL on the CPU (issue 8, bench/render.py). mujoco
    # picks its GL backend once, when first imported, and every env module imports it after
    # this package's __init__; set MUJOCO_GL yourself if mujoco is imported earlier.
    os.environ['MUJOCO_GL'] = 'egl'

try:
    import gymnasium
except ImportError as exc:   # the base install is the robot's: no simulator
    raise ImportError('lnn_control.envs needs gymnasium and mujoco: install the sim extra '
                      '(pip install lnn_control[sim])') from exc

__all__ = ['ENV_IDS', 'MAX_EPISODE_STEPS', 'register', 'make_env', 'nominal_dt',
           'Perturbation', 'run_episode', 'Trajectory', 'make_expert']

# name -> module of the lazily imported env layer (they import mujoco).
_LAZY = {'make_env': 'make', 'nominal_dt': 'make', 'Perturbation': 'perturb',
         'run_episode': 'rollout', 'Trajectory': 'rollout', 'make_expert': 'experts'}

# id -> entry point. Strings only: gymnasium imports the module (and mujoco) on first make.
ENV_IDS: Dict[str, str] = {
    'lnn_control/PiBotNav-v0': 'lnn_control.envs.pibot_nav:PiBotNavEnv',
    'lnn_control/PiBotLane-v0': 'lnn_control.envs.pibot_lane:PiBotLaneEnv',
}

# id -> step limit: the default time_limit at the nominal rate (60 s x 20 Hz odometry,
# 20 s x 30 Hz camera). test_gym_conventions checks these against the envs' defaults.
MAX_EPISODE_STEPS: Dict[str, int] = {
    'lnn_control/PiBotNav-v0': 1200,
    'lnn_control/PiBotLane-v0': 600,
}


def register() -> None:
    """Register the lnn_control environment ids with Gymnasium (idempotent; done on import)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point,
                               max_episode_steps=MAX_EPISODE_STEPS[env_id])


register()


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f'lnn_control.envs.{_LAZY[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
