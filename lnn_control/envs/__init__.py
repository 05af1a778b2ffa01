# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
MuJoCo environments (Gymnasium) and experts; MJCF files live in the top-level ``sim/``.

Importing this package is cheap (no mujoco, no gymnasium); call ``register()`` once to make
the ids available to ``gymnasium.make``::

    import gymnasium
    from lnn_control.envs import register
    register()
    env = gymnasium.make('lnn_control/PiBotNav-v0', n_obstacles=8)

Ids: ``lnn_control/PiBotNav-v0`` (``lnn_control.envs.pibot_nav.PiBotNavEnv``). Experts for it
and for ``InvertedPendulum-v5``/``InvertedDoublePendulum-v5`` are in
``lnn_control.envs.experts`` (``make_expert(env)``).
"""

import os
from typing import Dict

if 'MUJOCO_GL' not in os.environ and not os.environ.get('DISPLAY'):
    # Headless: render offscreen with Mesa's EGL on the CPU (issue 8, bench/render.py). mujoco
    # picks its GL backend once, when first imported, and every env module imports it after
    # this package's __init__; set MUJOCO_GL yourself if mujoco is imported earlier.
    os.environ['MUJOCO_GL'] = 'egl'

__all__ = ['ENV_IDS', 'register']

# id -> entry point; kwargs go to gymnasium.make. No step limit: PiBotNav steps vary in length,
# so it truncates itself on simulated time (``time_limit``).
ENV_IDS: Dict[str, str] = {
    'lnn_control/PiBotNav-v0': 'lnn_control.envs.pibot_nav:PiBotNavEnv',
    'lnn_control/PiBotLane-v0': 'lnn_control.envs.pibot_lane:PiBotLaneEnv',
}


def register() -> None:
    """Register the lnn_control environment ids with Gymnasium (idempotent)."""
    import gymnasium

    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)
