# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Cost of online readout adaptation (issue 7) in the numpy runtime, side by side.

Per shipped PiBot policy: a plain ``Policy.step``, the same step with the adapted readout
(``OnlineAdapter`` wrapping it) and one RLS correction (``OnlineAdapter.correct``), in
microseconds (median and min over repeats of 2000 calls each).

    python bench/adapt_latency.py [--repeats 7]
"""

import argparse
import statistics
import timeit

from lnn_control.runtime.adapt import OnlineAdapter
from lnn_control.runtime.policy import load_policy
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--calls', type=int, default=2000)
    args = parser.parse_args()
    obs = np.full(17, 0.5, np.float32)
    print(f'{"policy":16} {"d":>3} {"step us":>16} {"adapted step us":>16} '
          f'{"correct us":>16}   (median / min)')
    for name in ('pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_gru', 'pibot_nav_mlp'):
        plain, adapted = load_policy(name), load_policy(name)
        adapter = OnlineAdapter(adapted)
        rows = []
        for call in (lambda: plain.step(obs, 0.05), lambda: adapted.step(obs, 0.05),
                     lambda: adapter.correct([0.1, 0.2])):
            times = [timeit.timeit(call, number=args.calls) / args.calls * 1e6
                     for _ in range(args.repeats)]
            rows.append(f'{statistics.median(times):7.1f} / {min(times):6.1f}')
        print(f'{name:16} {adapter.cell.feature_size:3d} ' + ' '.join(f'{r:>16}' for r in rows))


if __name__ == '__main__':
    main()
