# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Per-step inference latency, batch 1, stateful: our numpy runtime vs ncps carrying hx.

Both run the same weights: the ncps model is converted with ``from_ncps`` and saved as a
policy file that the torch-free runtime loads, and the outputs are checked equal first.
Also shown: our torch model stepped the same way, and the exported ONNX graph in
onnxruntime (the alternative runtime for other languages).

    python bench/inference_latency.py [--rounds 15] [--steps 2000]
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


def build(kind: str):
    """Return (ncps model, our torch model, our runtime policy, onnx session) for kind."""
    import onnxruntime as ort
    torch.manual_seed(0)
    wiring = ncps.wirings.AutoNCP(common.UNITS, common.OUTPUTS, seed=common.SEED)
    if kind == 'CfC':
        ref = ncps.torch.CfC(common.INPUTS, wiring)
        ours = CfC.from_ncps(ref)
    else:
        ref = ncps.torch.LTC(common.INPUTS, wiring)
        ours = LTC.from_ncps(ref)
    tmp = tempfile.mkdtemp()
    path = save_policy(ours, f'{tmp}/{kind}.safetensors')
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    onnx = ort.InferenceSession(str(export_onnx(path, f'{tmp}/{kind}.onnx')), options,
                                providers=['CPUExecutionProvider'])
    return ref.eval(), ours.eval(), load_policy(path), onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--steps', type=int, default=2000, help='steps per round (ours)')
    args = parser.parse_args()
    print(common.machine())
    print(f'{common.INPUTS} inputs, AutoNCP({common.UNITS}, {common.OUTPUTS}), batch 1, '
          f'dt = 0.05 s, median of {args.rounds} interleaved rounds\n')
    rng = np.random.default_rng(0)
    obs = rng.normal(size=common.INPUTS).astype(np.float32)
    rows = []
    for kind in ('CfC', 'LTC'):
        ref, ours, policy, onnx = build(kind)
        x = torch.from_numpy(obs).reshape(1, 1, -1)
        ts = torch.full((1, 1), 0.05)
        state = {'ncps': None, 'torch': None,
                 'onnx': np.zeros((1, policy.state.size), dtype=np.float32)}
        # Outputs agree before anything is timed.
        with torch.no_grad():
            y_ref, _ = ref(x, None, timespans=ts)
        y_run = policy.step(obs, 0.05)
        policy.reset()
        assert np.max(np.abs(y_ref.numpy().ravel() - y_run)) < 1e-5, kind

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

        cases = {'ncps (torch)': step_ncps, 'ours, torch model': step_torch,
                 'ours, onnxruntime': step_onnx, 'ours, numpy runtime': step_runtime}
        for fn in cases.values():
            for _ in range(200):
                fn()
        slow = common.interleaved_rounds({k: v for k, v in cases.items()
                                          if 'torch' in k}, args.rounds, args.steps // 10)
        fast = common.interleaved_rounds({k: v for k, v in cases.items()
                                          if 'torch' not in k}, args.rounds, args.steps)
        med = {k: common.median(v) * 1e6 for k, v in {**slow, **fast}.items()}
        for name in cases:
            rows.append((kind, name, med[name], med['ncps (torch)'] / med[name]))
    print(f'{"cell":5s} {"implementation":22s} {"median us/step":>15s} {"vs ncps":>9s}')
    for kind, name, us, ratio in rows:
        print(f'{kind:5s} {name:22s} {us:15.1f} {ratio:8.1f}x')


if __name__ == '__main__':
    main()
