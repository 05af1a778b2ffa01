# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training throughput (timesteps/s): batch 32 x sequence 64, forward + backward + Adam, 1 thread.

ncps and our model hold the same weights (``from_ncps``) and their outputs are checked equal
before timing. timespans are left at their default (1.0) because ncps cannot take per-step
timespans with batch > 1 (its issues #81-#83); our model with per-step (B, T) timespans is
shown as an extra row. ``--profile`` prints where our time goes (torch.profiler).

    python bench/training_throughput.py [--rounds 7] [--iters 5] [--profile]
"""

import argparse

import common
from lnn_control.models import CfC
from lnn_control.models import LTC
import ncps.torch
import ncps.wirings
import torch

torch.set_num_threads(1)
BATCH, SEQ = 32, 64


def make(kind: str):
    """Return (ncps model, ours with the same weights)."""
    torch.manual_seed(0)
    wiring = ncps.wirings.AutoNCP(common.UNITS, common.OUTPUTS, seed=common.SEED)
    ref = (ncps.torch.CfC if kind == 'CfC' else ncps.torch.LTC)(common.INPUTS, wiring)
    ours = (CfC if kind == 'CfC' else LTC).from_ncps(ref)
    return ref, ours


def trainer(model, x, y, timespans=None):
    """Return a closure doing one forward + backward + Adam step."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        pred, _ = model(x, timespans=timespans) if timespans is not None else model(x)
        loss = torch.mean((pred - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--iters', type=int, default=5, help='training steps per round')
    parser.add_argument('--profile', action='store_true')
    args = parser.parse_args()
    print(common.machine())
    print(f'{common.INPUTS} inputs, AutoNCP({common.UNITS}, {common.OUTPUTS}), batch {BATCH} x '
          f'seq {SEQ}, MSE + Adam, median of {args.rounds} interleaved rounds\n')
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, SEQ, common.INPUTS, generator=gen)
    y = torch.randn(BATCH, SEQ, common.OUTPUTS, generator=gen)
    ts = torch.rand(BATCH, SEQ, generator=gen) * 0.2 + 0.01
    rows = []
    for kind in ('CfC', 'LTC'):
        ref, ours = make(kind)
        with torch.no_grad():
            diff = (ref(x)[0] - ours(x)[0]).abs().max().item()
        assert diff < 1e-5, (kind, diff)
        _, per_step = make(kind)
        cases = {'ncps': trainer(ref, x, y), 'ours': trainer(ours, x, y),
                 'ours, per-step dt': trainer(per_step, x, y, ts)}
        for fn in cases.values():
            fn()
        samples = common.interleaved_rounds(cases, args.rounds, args.iters)
        rate = {k: BATCH * SEQ / common.median(v) for k, v in samples.items()}
        for name in cases:
            rows.append((kind, name, rate[name], rate[name] / rate['ncps']))
        if args.profile:
            from torch.profiler import profile
            from torch.profiler import ProfilerActivity
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(2):
                    cases['ours']()
            print(f'--- {kind}: where our training step spends its time')
            print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))
    print(f'{"cell":5s} {"implementation":20s} {"timesteps/s":>12s} {"vs ncps":>8s}')
    for kind, name, rate, ratio in rows:
        print(f'{kind:5s} {name:20s} {rate:12.0f} {ratio:7.2f}x')


if __name__ == '__main__':
    main()
