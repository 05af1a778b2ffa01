# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training throughput (timesteps/s): batch 32 x sequence 64, forward + backward + Adam, 1 thread.

ncps and our model hold the same weights (``from_ncps``) and their outputs are checked equal
before timing. timespans are left at their default (1.0) because ncps cannot take per-step
timespans with batch > 1 (its issues #81-#83); our model with per-step (B, T) timespans is
shown as an extra row. ``--profile`` prints where our time goes (torch.profiler). The
size sweep (``--units``) times ncps against ours at each ``AutoNCP(units, 6)``; ``--plot``
draws throughput against units.

    python bench/training_throughput.py [--rounds 7] [--iters 5] [--profile]
        [--units 19 64 128] [--sweep-rounds 3] [--plot training_sweep.png]
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


def make(kind: str, units: int = common.UNITS):
    """Return (ncps model, ours with the same weights)."""
    torch.manual_seed(0)
    wiring = ncps.wirings.AutoNCP(units, common.OUTPUTS, seed=common.SEED)
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


def plot(sweep, path: str) -> None:
    """Training throughput against units, log-log, one line per (cell, implementation)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in ('CfC', 'LTC'):
        rows = [r for r in sweep if r[0] == kind]
        units = [r[1] for r in rows]
        ax.plot(units, [r[2] for r in rows], 'o--', label=f'{kind} ncps 1.0.1')
        ax.plot(units, [r[3] for r in rows], 'o-', label=f'{kind} ours')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('units (AutoNCP(units, 6), 17 inputs)')
    ax.set_ylabel(f'timesteps/s (batch {BATCH} x {SEQ}, train step)')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f'plot: {path}')


def sweep_sizes(args, x, y):
    """(kind, units, ncps timesteps/s, ours timesteps/s) at every size of ``--units``."""
    out = []
    for kind in ('CfC', 'LTC'):
        for units in args.units:
            ref, ours = make(kind, units)
            with torch.no_grad():
                diff = (ref(x)[0] - ours(x)[0]).abs().max().item()
            assert diff < 1e-4, (kind, units, diff)
            cases = {'ncps': trainer(ref, x, y), 'ours': trainer(ours, x, y)}
            for fn in cases.values():
                fn()
            samples = common.interleaved_rounds(cases, args.sweep_rounds, args.sweep_iters)
            rate = {k: BATCH * SEQ / common.median(v) for k, v in samples.items()}
            out.append((kind, units, rate['ncps'], rate['ours']))
            print(f'  {kind} {units}: ncps {rate["ncps"]:.0f}, ours {rate["ours"]:.0f} '
                  f'timesteps/s', flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--iters', type=int, default=5, help='training steps per round')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--units', type=int, nargs='*', default=[19, 64, 128],
                        help='sizes of the sweep (empty: the reference table only)')
    parser.add_argument('--sweep-rounds', type=int, default=3)
    parser.add_argument('--sweep-iters', type=int, default=2)
    parser.add_argument('--plot', default='', help='write throughput against units to a PNG')
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
    if not args.units:
        return
    print(f'\nsize sweep, AutoNCP(units, {common.OUTPUTS}), median of {args.sweep_rounds} '
          f'rounds of {args.sweep_iters} steps')
    sweep = sweep_sizes(args, x, y)
    print(f'{"cell":5s} {"units":>5s} {"ncps":>10s} {"ours":>10s} {"vs ncps":>8s}')
    for kind, units, ref_rate, rate in sweep:
        print(f'{kind:5s} {units:5d} {ref_rate:10.0f} {rate:10.0f} {rate / ref_rate:7.2f}x')
    if args.plot:
        plot(sweep, args.plot)


if __name__ == '__main__':
    main()
