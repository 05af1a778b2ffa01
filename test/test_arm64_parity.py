# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The numpy runtime on arm64 (the Raspberry Pi's architecture) matches torch on x86-64.

Torch references of every shipped policy are computed here; ``test/arm64/run_parity.sh`` runs
``test/arm64/parity_check.py`` with a Debian bookworm arm64 python3 + numpy under qemu
user-mode emulation (rootfs from debootstrap, cached under .venv/arm64-rootfs; the first run
downloads about 40 MB from deb.debian.org and the safetensors aarch64 wheel from PyPI). Skips,
saying why, without qemu-user-static/debootstrap or when the download fails.
"""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

from lnn_control.models.export import PolicyStep
from lnn_control.models.export import state_size
from lnn_control.models.policy import load_model
from lnn_control.runtime import load_policy
from lnn_control.runtime.policy import builtin_policies
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'test' / 'arm64' / 'run_parity.sh'
STEPS = 300
# The vector-observation policies (a camera policy's frames would only slow the emulation).
FAMILIES = ('pibot_nav_', 'pendulum_')
TOOLS = ('qemu-aarch64-static', 'debootstrap', 'dpkg-deb')


def _policies():
    return [name for name in builtin_policies() if name.startswith(FAMILIES)]


def write_reference(path: Path, steps: int = STEPS) -> None:
    """Torch and host-numpy outputs of every shipped policy on seeded irregular inputs."""
    arrays = {}
    for k, name in enumerate(_policies()):
        model = load_model(name).eval()
        spec = model.spec
        rng = np.random.default_rng(k)
        obs = rng.normal(spec.obs_mean, spec.obs_std, (steps, spec.obs.size)).astype(np.float32)
        dt = rng.uniform(0.01, 0.2, steps).astype(np.float32)
        step = PolicyStep(model, spec).eval()
        state = torch.zeros(1, state_size(model))
        out = []
        with torch.no_grad():
            for t in range(steps):
                action, state = step(torch.from_numpy(obs[t:t + 1]), state,
                                     torch.tensor([[float(dt[t])]]))
                out.append(action[0].numpy())
        policy = load_policy(name)
        host = np.stack([policy.step(obs[t], float(dt[t])) for t in range(steps)])
        arrays.update({f'{name}/obs': obs, f'{name}/dt': dt, f'{name}/torch': np.stack(out),
                       f'{name}/numpy': host})
    np.savez(path, **arrays)


@pytest.mark.slow
def test_numpy_runtime_on_arm64_matches_torch(tmp_path):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f'arm64 emulation needs {missing} (apt-get install qemu-user-static '
                    'debootstrap)')
    if os.geteuid() != 0 and not (ROOT / '.venv' / 'arm64-rootfs' / '.unpacked').exists():
        pytest.skip('building the arm64 root with debootstrap needs root')
    reference = tmp_path / 'reference.npz'
    write_reference(reference)
    # PYTHON: the interpreter whose pip fetches the aarch64 safetensors wheel (first run).
    result = subprocess.run(['sh', str(SCRIPT), str(reference)], capture_output=True,
                            text=True, timeout=900, env={**os.environ, 'PYTHON': sys.executable})
    if result.returncode in (3, 4):    # missing tool / debootstrap (download) failed
        pytest.skip(f'arm64 root not available: {result.stderr[-500:]}')
    lines = [line for line in result.stdout.splitlines() if line.startswith('{')]
    assert lines, result.stdout + result.stderr
    report = json.loads(lines[-1])
    print(json.dumps(report, indent=1))
    assert report['machine'] == 'aarch64'
    assert set(report['policies']) == set(_policies()) and len(report['policies']) >= 7
    assert report['ok'] and result.returncode == 0, report
