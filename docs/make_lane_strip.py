# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Draw the README's picture strip of PiBotLane-v0 camera frames (issue 19).

Rows: the clean 'train' look, domain-randomised episodes (``randomise=1``: what the shipped
camera policies were trained on) and the held-out ``unseen`` textures; one episode (seed) per
column, the frame after 10 steps at 0.1 m/s, 64 x 48 px shown at 2x.

    .venv/bin/python docs/make_lane_strip.py --out docs/img/lane_randomised_strip.png
"""

import argparse

from lnn_control.envs.make import make_env
import numpy as np

ROWS = (('train (clean)', {}), ('randomised (training)', {'perturb': 'randomise=1'}),
        ('unseen (test only)', {'perturb': 'textures=unseen'}))


def frames(kwargs: dict, seeds: range) -> list:
    """Return one frame per seed of a PiBotLane env made with ``kwargs``."""
    env = make_env('lnn_control/PiBotLane-v0', time_limit=2.0, **kwargs)
    out = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        for _ in range(10):
            obs, *_ = env.step(np.array([0.1, 0.0], np.float32))
        out.append(obs)
    env.close()
    return out


def main() -> None:
    """Write the strip."""
    from PIL import Image
    from PIL import ImageDraw
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--out', default='docs/img/lane_randomised_strip.png')
    parser.add_argument('--columns', type=int, default=8)
    parser.add_argument('--seed', type=int, default=500)
    args = parser.parse_args()
    seeds = range(args.seed, args.seed + args.columns)
    label_w, scale = 150, 2
    rows = []
    for label, kwargs in ROWS:
        strip = np.concatenate(frames(kwargs, seeds), axis=1)
        image = Image.fromarray(strip).resize((strip.shape[1] * scale, strip.shape[0] * scale),
                                              Image.NEAREST)
        canvas = Image.new('RGB', (label_w + image.width, image.height), 'white')
        canvas.paste(image, (label_w, 0))
        ImageDraw.Draw(canvas).text((6, image.height // 2 - 6), label, fill='black')
        rows.append(canvas)
    out = Image.new('RGB', (rows[0].width, sum(r.height for r in rows)), 'white')
    y = 0
    for row in rows:
        out.paste(row, (0, y))
        y += row.height
    out.quantize(colors=128).save(args.out, optimize=True)   # a small file for the README
    print(f'wrote {args.out} ({out.width} x {out.height})')


if __name__ == '__main__':
    main()
