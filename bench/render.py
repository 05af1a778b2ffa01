# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Offscreen camera rendering cost on the CPU: MUJOCO_GL backend, resolution, visual options.

Renders the PiBotLane-v0 front camera (``sim/pibot_lane.xml``, robot on a painted track) and
times ``update_scene`` + ``render`` per frame. Each backend runs in its own process, since
mujoco picks the GL backend once, at import. Variants:

- ``cheap``: the file's settings (no shadows, no reflections, no skybox, no multisampling);
- ``shadows+refl``: shadow map 4096, the sun casting shadows, floor reflectance 0.3 (what a
  scene copied from MuJoCo's examples typically has);
- ``new renderer``: a fresh ``mujoco.Renderer`` (GL context) per frame instead of one reused.

    python bench/render.py [--frames 200] [--backends egl,osmesa]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = ((64, 48), (96, 72), (160, 120))


def worker(frames: int) -> None:
    """Time every variant with this process's MUJOCO_GL; print one JSON line per result."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
    from lnn_control.envs.pibot_lane import PiBotLaneEnv
    import mujoco

    env = PiBotLaneEnv()
    env.reset(seed=0)
    model, data = env.model, env.data
    tex = model.texture('track').id

    def timed(renderer_for, n):
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            renderer = renderer_for()
            renderer.update_scene(data, camera='front')
            renderer.render()
            samples.append(time.perf_counter() - start)
        return 1e3 * statistics.median(samples)

    def make(width, height):
        renderer = mujoco.Renderer(model, height, width)
        renderer._gl_context.make_current()
        mujoco.mjr_uploadTexture(model, renderer._mjr_context, tex)
        return renderer

    for width, height in SIZES:
        for variant in ('cheap', 'shadows+refl'):
            saved = (model.vis.quality.shadowsize, model.light_castshadow.copy(),
                     model.mat_reflectance.copy())
            if variant == 'shadows+refl':
                model.vis.quality.shadowsize = 4096
                model.light_castshadow[:] = 1
                model.mat_reflectance[:] = 0.3
            renderer = make(width, height)
            timed(lambda: renderer, 3)   # warm-up
            # Shadows cost ~100x more per frame: fewer frames give the same resolution.
            ms = timed(lambda: renderer, frames if variant == 'cheap' else max(10, frames // 10))
            renderer.close()
            model.vis.quality.shadowsize, model.light_castshadow[:], model.mat_reflectance[:] = (
                saved)
            print(json.dumps({'size': f'{width}x{height}', 'variant': variant, 'ms': ms}),
                  flush=True)
    created = []

    def fresh():
        if created:
            created.pop().close()
        created.append(make(64, 48))
        return created[-1]

    print(json.dumps({'size': '64x48', 'variant': 'new renderer',
                      'ms': timed(fresh, max(5, frames // 20))}), flush=True)
    for renderer in created:
        renderer.close()
    env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--backends', default='egl,osmesa')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.frames)
        return
    results = {}
    for backend in args.backends.split(','):
        env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
        proc = subprocess.run([sys.executable, __file__, '--worker', '--frames',
                               str(args.frames)], env=env, capture_output=True, text=True)
        rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
        if not rows:
            print(f'{backend}: failed ({proc.stderr.strip().splitlines()[-1:]})')
        for row in rows:
            results[(row['size'], row['variant'], backend)] = row['ms']
    backends = args.backends.split(',')
    keys = []
    for size, variant, _ in results:
        if (size, variant) not in keys:
            keys.append((size, variant))
    print(f'median ms per frame (update_scene + render), {args.frames} frames, one process '
          f'per backend')
    print(f'{"size":>8} {"variant":>14} ' + ' '.join(f'{b:>8}' for b in backends))
    for size, variant in keys:
        cells = ' '.join(f'{results.get((size, variant, b), float("nan")):8.2f}'
                         for b in backends)
        print(f'{size:>8} {variant:>14} {cells}')


if __name__ == '__main__':
    main()
