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

from typing import Dict

__all__ = ['ENV_IDS', 'register']

# id -> entry point; kwargs go to gymnasium.make. No step limit: PiBotNav steps vary in length,
# so it truncates itself on simulated time (``time_limit``).
ENV_IDS: Dict[str, str] = {
    'lnn_control/PiBotNav-v0': 'lnn_control.envs.pibot_nav:PiBotNavEnv',
}


def register() -> None:
    """Register the lnn_control environment ids with Gymnasium (idempotent)."""
    import gymnasium

    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)
