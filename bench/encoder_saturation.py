# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
How saturated a camera policy's encoder is: its pre-tanh features over expert-driven frames.

For each policy (file or built-in name), the frames of ``--tracks`` clean PiBotLane-v0 tracks
(seeds 20000+) driven by the expert for ``--steps`` steps each; the encoder's projection
``a = W_f flatten(z_K) + b_f`` on every frame. A feature is live when tanh(a) varies over the
frames (std > 0.01); a dead encoder has none (every feature +-1 on every frame), which is what
``bc.feature_penalty`` prevents.

    python bench/encoder_saturation.py POLICY [POLICY ...] [--tracks 2] [--steps 120]
"""

import argparse
import sys

import common  # noqa: F401  (one BLAS thread before numpy loads)
import numpy as np


def frames(tracks: int, steps: int) -> np.ndarray:
    """Return (frames, H*W*C) float32 camera frames of expert-driven clean tracks."""
    import gymnasium
    import lnn_control.envs  # noqa: F401  (registers the ids)
    from lnn_control.envs.pibot_lane import PiBotLaneExpert
    env = gymnasium.make('lnn_control/PiBotLane-v0', time_limit=steps / 30 + 1.0)
    out = []
    for seed in range(20_000, 20_000 + tracks):
        obs, info = env.reset(seed=seed)
        expert = PiBotLaneExpert()
        for _ in range(steps):
            out.append(obs)
            obs, _, terminated, truncated, info = env.step(expert.act(obs, info))
            if terminated or truncated:
                break
    env.close()
    return np.stack(out).reshape(len(out), -1).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('policies', nargs='+')
    parser.add_argument('--tracks', type=int, default=2)
    parser.add_argument('--steps', type=int, default=120)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from lnn_control.models.policy import load_model
    x = torch.from_numpy(frames(args.tracks, args.steps))
    print(f'{len(x)} frames\n')
    print('| policy | live features | mean abs(a) | max abs(a) |')
    print('|---|---:|---:|---:|')
    for name in args.policies:
        model = load_model(name)
        with torch.no_grad():
            height, width, depth = model.image
            z = x.reshape(-1, height, width, depth).permute(0, 3, 1, 2) / 255.0 - 0.5
            for conv in model.encoder:
                z = torch.relu(conv(z))
            pre = model.project(z.flatten(1))  # (frames, features)
        live = int((torch.tanh(pre).std(0) > 0.01).sum())
        print(f'| {name} | {live} of {pre.shape[1]} | {float(pre.abs().mean()):.2f} | '
              f'{float(pre.abs().max()):.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
