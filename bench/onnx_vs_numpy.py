# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
One policy step: the numpy runtime (what lnn_controller runs) against onnxruntime.

    python bench/onnx_vs_numpy.py [--policies pibot_nav_cfc pibot_nav_ltc ...] [--rounds 15]

Each shipped policy is exported with ``lnn_control.models.export.export_onnx`` (the whole
stateful step: normalisation, cell, de-normalisation) and run by onnxruntime with one intra-op
and one inter-op thread, against ``load_policy(name).step`` on the same observations and
irregular dt. Timings alternate between the two (``common.interleaved_rounds``) and report
the median microseconds per step; the outputs are compared over the same 200 steps. Also
printed: the import time of each runtime in a fresh process (what a robot pays at start) and
its RSS after loading the policy.
"""

import argparse
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402  (one thread, as on the robot)
import numpy as np  # noqa: E402,I100

START = """
import sys, time
sys.modules['torch'] = None
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{load}
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]
print(t1 - t0, int(rss) / 1024)
"""
RUNTIMES = {
    'numpy': ('from lnn_control.runtime import load_policy',
              'load_policy(sys.argv[1]).step([0.5] * 17, 0.05)'),
    'onnxruntime': ('import onnxruntime as ort, numpy as np',
                    'ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])'),
}


def start_cost(name: str, policy: str, onnx_path: str, repeats: int = 3):
    """Median (import seconds, RSS MB after loading) of a fresh process."""
    imports, load = RUNTIMES[name]
    rows = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, '-c', START.format(imports=imports, load=load),
                              policy, onnx_path], capture_output=True, text=True, check=True)
        rows.append([float(v) for v in out.stdout.split()])
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


def main() -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--policies', nargs='+',
                        default=['pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_gru',
                                 'pibot_nav_mlp'])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--per-round', type=int, default=500)
    args = parser.parse_args()
    from lnn_control.models.export import export_onnx
    from lnn_control.runtime import load_policy
    import onnxruntime as ort
    print(common.machine() + f', onnxruntime {ort.__version__}')
    print(f'{"policy":<15} {"numpy us":>9} {"onnx us":>8} {"onnx/numpy":>10} '
          f'{"max |diff|":>10} {"import np s":>11} {"import ort s":>12} {"RSS np MB":>9} '
          f'{"RSS ort MB":>10}')
    rng = np.random.default_rng(common.SEED)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.policies:
            path = str(Path(tmp) / f'{name}.onnx')
            with warnings.catch_warnings():     # the exporter's deprecation notes
                warnings.simplefilter('ignore')
                export_onnx(name, path)
            policy = load_policy(name)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
            inputs = {i.name: i.shape for i in session.get_inputs()}
            size = policy.spec.obs.size
            state_size = inputs['state'][1] if 'state' in inputs else 0
            obs = rng.uniform(0.0, 1.0, (200, size)).astype(np.float32)
            dts = rng.uniform(0.03, 0.08, 200).astype(np.float32)
            # Same trajectory through both; onnx carries its state explicitly.
            policy.reset()
            state = np.zeros((1, state_size), dtype=np.float32)
            diff = 0.0
            for t in range(200):
                feed = {'obs': obs[t:t + 1]}
                if 'state' in inputs:
                    feed['state'] = state
                if 'dt' in inputs:
                    feed['dt'] = dts[t].reshape(1, 1)
                outputs = session.run(None, feed)
                if len(outputs) > 1:
                    state = outputs[1]
                a = policy.step(obs[t], float(dts[t]))
                diff = max(diff, float(np.abs(outputs[0][0] - a).max()))
            k = [0]
            feed = {'obs': obs[:1]}
            if 'state' in inputs:
                feed['state'] = state
            if 'dt' in inputs:
                feed['dt'] = dts[:1].reshape(1, 1)

            def numpy_step():
                k[0] = (k[0] + 1) % 200
                policy.step(obs[k[0]], float(dts[k[0]]))

            def onnx_step():
                out = session.run(None, feed)
                if len(out) > 1:
                    feed['state'] = out[1]

            times = common.interleaved_rounds({'numpy': numpy_step, 'onnx': onnx_step},
                                              args.rounds, args.per_round)
            t_np = common.median(times['numpy']) * 1e6
            t_ort = common.median(times['onnx']) * 1e6
            imp_np, rss_np = start_cost('numpy', name, path)
            imp_ort, rss_ort = start_cost('onnxruntime', name, path)
            print(f'{name:<15} {t_np:9.1f} {t_ort:8.1f} {t_ort / t_np:10.2f} {diff:10.1e} '
                  f'{imp_np:11.3f} {imp_ort:12.3f} {rss_np:9.1f} {rss_ort:10.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
