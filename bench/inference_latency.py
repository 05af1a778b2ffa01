# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Per-step inference latency, batch 1, stateful: our numpy runtime vs ncps carrying hx.

Both run the same weights: the ncps model is converted with ``from_ncps`` and saved as a
policy file that the torch-free runtime loads, and the outputs are checked equal first.
At the reference size (``AutoNCP(19, 6)``) the table also shows our torch model stepped the
same way and the exported ONNX graph in onnxruntime (the alternative runtime for other
languages); the size sweep (``--units``) times ncps against the numpy runtime only, and
``--plot`` draws cost against units.

    python bench/inference_latency.py [--rounds 15] [--steps 2000]
        [--units 19 64 128 256] [--plot inference_sweep.png]
"""

import argparse
import tempfile

import common
from lnn_control.models import CfC
from lnn_control.models import LTC
from lnn_control.models.export import export_onnx
from lnn_control.models.policy import save_policy
from lnn_control.runtime import load_policy
import ncps.torch
import ncps.wirings
import numpy as np
import torch

torch.set_num_threads(1)


def build(kind: str, units: int = common.UNITS, onnx: bool = True):
    """Return (ncps model, our torch model, our runtime policy, onnx session or None)."""
    torch.manual_seed(0)
    wiring = ncps.wirings.AutoNCP(units, common.OUTPUTS, seed=common.SEED)
    if kind == 'CfC':
        ref = ncps.torch.CfC(common.INPUTS, wiring)
        ours = CfC.from_ncps(ref)
    else:
        ref = ncps.torch.LTC(common.INPUTS, wiring)
        ours = LTC.from_ncps(ref)
    tmp = tempfile.mkdtemp()
    path = save_policy(ours, f'{tmp}/{kind}.safetensors')
    session = None
    if onnx:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(export_onnx(path, f'{tmp}/{kind}.onnx')), options,
                                       providers=['CPUExecutionProvider'])
    return ref.eval(), ours.eval(), load_policy(path), session


def cases_for(kind: str, units: int, obs: np.ndarray, full: bool):
    """Return name -> step closure (outputs checked equal to ncps first)."""
    ref, ours, policy, onnx = build(kind, units, onnx=full)
    x = torch.from_numpy(obs).reshape(1, 1, -1)
    ts = torch.full((1, 1), 0.05)
    state = {'ncps': None, 'torch': None,
             'onnx': np.zeros((1, policy.state.size), dtype=np.float32)}
    with torch.no_grad():
        y_ref, _ = ref(x, None, timespans=ts)
    y_run = policy.step(obs, 0.05)
    policy.reset()
    assert np.max(np.abs(y_ref.numpy().ravel() - y_run)) < 1e-5, (kind, units)

    def step_ncps():
        with torch.no_grad():
            _, state['ncps'] = ref(x, state['ncps'], timespans=ts)

    def step_torch():
        with torch.no_grad():
            _, state['torch'] = ours(x, state['torch'], timespans=ts)

    feeds = {'obs': obs[None], 'dt': np.full((1, 1), 0.05, dtype=np.float32)}

    def step_onnx():
        feeds['state'] = state['onnx']
        state['onnx'] = onnx.run(None, feeds)[1]

    def step_runtime():
        policy.step(obs, 0.05)

    cases = {'ncps (torch)': step_ncps}
    if full:
        cases.update({'ours, torch model': step_torch, 'ours, onnxruntime': step_onnx})
    cases['ours, numpy runtime'] = step_runtime
    return cases, policy


def measure(cases, rounds: int, steps: int):
    """Median seconds per step of each case, torch cases in rounds of steps // 10."""
    for fn in cases.values():
        for _ in range(200):
            fn()
    slow = common.interleaved_rounds({k: v for k, v in cases.items() if 'torch' in k},
                                     rounds, max(steps // 10, 20))
    fast = common.interleaved_rounds({k: v for k, v in cases.items() if 'torch' not in k},
                                     rounds, steps)
    return {k: common.median(v) * 1e6 for k, v in {**slow, **fast}.items()}


def plot(sweep, path: str) -> None:
    """Cost per step against units, log-log, one line per (cell, implementation)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in ('CfC', 'LTC'):
        rows = [r for r in sweep if r[0] == kind]
        units = [r[1] for r in rows]
        ax.plot(units, [r[2] for r in rows], 'o--', label=f'{kind} ncps 1.0.1')
        ax.plot(units, [r[3] for r in rows], 'o-', label=f'{kind} numpy runtime')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('units (AutoNCP(units, 6), 17 inputs)')
    ax.set_ylabel('us per step (batch 1, median)')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f'plot: {path}')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--steps', type=int, default=2000, help='steps per round (ours)')
    parser.add_argument('--units', type=int, nargs='*', default=[19, 64, 128, 256],
                        help='sizes of the sweep (empty: the reference table only)')
    parser.add_argument('--plot', default='', help='write cost against units to this PNG')
    args = parser.parse_args()
    print(common.machine())
    print(f'{common.INPUTS} inputs, AutoNCP({common.UNITS}, {common.OUTPUTS}), batch 1, '
          f'dt = 0.05 s, median of {args.rounds} interleaved rounds\n')
    rng = np.random.default_rng(0)
    obs = rng.normal(size=common.INPUTS).astype(np.float32)
    rows = []
    for kind in ('CfC', 'LTC'):
        cases, _ = cases_for(kind, common.UNITS, obs, full=True)
        med = measure(cases, args.rounds, args.steps)
        for name in cases:
            rows.append((kind, name, med[name], med['ncps (torch)'] / med[name]))
    print(f'{"cell":5s} {"implementation":22s} {"median us/step":>15s} {"vs ncps":>9s}')
    for kind, name, us, ratio in rows:
        print(f'{kind:5s} {name:22s} {us:15.1f} {ratio:8.1f}x')
    if not args.units:
        return
    sweep = []
    for kind in ('CfC', 'LTC'):
        for units in args.units:
            cases, policy = cases_for(kind, units, obs, full=False)
            # Fewer steps per round at large sizes keeps a round near a fixed time.
            med = measure(cases, args.rounds, max(200, args.steps * 19 // units))
            form = getattr(policy.cell, 'form', '')
            sweep.append((kind, units, med['ncps (torch)'], med['ours, numpy runtime'], form))
    print(f'\nsize sweep, AutoNCP(units, {common.OUTPUTS}), {common.INPUTS} inputs')
    print(f'{"cell":5s} {"units":>5s} {"ncps us":>9s} {"numpy us":>9s} {"vs ncps":>8s} form')
    for kind, units, ref_us, us, form in sweep:
        print(f'{kind:5s} {units:5d} {ref_us:9.1f} {us:9.1f} {ref_us / us:7.1f}x {form}')
    if args.plot:
        plot(sweep, args.plot)


if __name__ == '__main__':
    main()
