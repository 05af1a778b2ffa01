# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Cost of online readout adaptation (issue 7) in the numpy runtime, side by side.

Per shipped PiBot policy and adaptation mode (``features`` gain, the default, and hidden): a
plain ``Policy.step``, the same step with the adapted readout (``OnlineAdapter`` wrapping it)
and one correction (``OnlineAdapter.correct``: the RLS update and the trust-region
projection), in microseconds (median and min over repeats of 2000 calls each). The correction
is 1.2x the policy's own command, so the gain mode learns from it (none is skipped).

    python bench/adapt_latency.py [--repeats 7]
"""

import argparse
import statistics
import timeit

from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.adapt import OnlineAdapter
from lnn_control.runtime.policy import load_policy
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--calls', type=int, default=2000)
    args = parser.parse_args()
    obs = np.full(17, 0.5, np.float32)
    print(f'{"policy":16} {"features":8} {"d":>3} {"step us":>16} {"adapted step us":>16} '
          f'{"correct us":>16}   (median / min)')
    for name in ('pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_gru', 'pibot_nav_mlp'):
        for features in ('gain', 'hidden'):
            plain, adapted = load_policy(name), load_policy(name)
            adapter = OnlineAdapter(adapted, AdaptationConfig(features=features,
                                                              trust_radius=1e3))
            target = 1.2 * plain.step(obs, 0.05)
            adapted.step(obs, 0.05)
            rows = []
            for call in (lambda: plain.step(obs, 0.05), lambda: adapted.step(obs, 0.05),
                         lambda: adapter.correct(target)):
                times = [timeit.timeit(call, number=args.calls) / args.calls * 1e6
                         for _ in range(args.repeats)]
                rows.append(f'{statistics.median(times):7.1f} / {min(times):6.1f}')
            assert adapter.skipped == 0 and adapter.corrections > 0
            print(f'{name:16} {features:8} {adapter.cell.feature_size:3d} '
                  + ' '.join(f'{r:>16}' for r in rows))


if __name__ == '__main__':
    main()
