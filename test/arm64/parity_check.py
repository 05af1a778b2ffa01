# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The numpy runtime on this machine against torch references made elsewhere (run on arm64).

    python3 test/arm64/parity_check.py REFERENCE.npz

REFERENCE.npz (written by test/test_arm64_parity.py on the x86-64 host) holds, per shipped
policy NAME: ``NAME/obs`` (T, O), ``NAME/dt`` (T,), ``NAME/torch`` (T, A): the torch model's
stateful steps (``lnn_control.models.export.PolicyStep``) and ``NAME/numpy``: the numpy runtime
on the host. This script needs only numpy and safetensors: it loads each policy by name with
``lnn_control.runtime.load_policy``, steps it over the same inputs and prints one JSON line:
the machine, numpy's version and per policy the largest difference to torch and to the host's
numpy runtime. Exit status 1 when a difference to torch exceeds ``TOLERANCE``.
"""

import json
import platform
import sys
import time

import numpy as np

TOLERANCE = 1e-4   # float32 over hundreds of recurrent steps, as the export check uses


def main() -> int:
    """Compare and print the JSON line; return the exit status."""
    sys.modules['torch'] = None    # the robot has no torch; prove the runtime needs none
    from lnn_control.runtime import load_policy
    started = time.perf_counter()
    with np.load(sys.argv[1], allow_pickle=False) as npz:
        ref = {key: npz[key] for key in npz.files}
    names = sorted({key.split('/')[0] for key in ref})
    result = {'machine': platform.machine(), 'numpy': np.__version__, 'policies': {}}
    ok = True
    for name in names:
        policy = load_policy(name)
        obs, dt = ref[f'{name}/obs'], ref[f'{name}/dt']
        out = np.stack([policy.step(obs[t], float(dt[t])) for t in range(len(dt))])
        to_torch = float(np.abs(out - ref[f'{name}/torch']).max())
        to_host = float(np.abs(out - ref[f'{name}/numpy']).max())
        result['policies'][name] = {'steps': int(len(dt)), 'max_diff_torch': to_torch,
                                    'max_diff_host_numpy': to_host}
        ok = ok and to_torch <= TOLERANCE
    result['seconds'] = round(time.perf_counter() - started, 1)
    result['ok'] = ok
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
