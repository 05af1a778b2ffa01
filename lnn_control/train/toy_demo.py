# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The first demo: estimate a pendulum's angular velocity from irregularly sampled angles.

A damped pendulum is observed as a noisy angle at irregular times (dt drawn from
[0.02, 0.25] s, as a sensor on a busy bus delivers it). The task is to output the angular
velocity, which is not in the observation: the model has to differentiate its input over
*real* time, so the elapsed time between samples matters. That is the setting liquid
networks are made for, and the demo measures it rather than assuming it:

=================  ==========================================================
model              what it sees
=================  ==========================================================
CfC (NCP) + dt     angle, and the real dt as the CfC's timespan
CfC (NCP), no dt   angle only, every step treated as dt = 1
GRU + dt input     angle and dt as a second input feature
MLP, 4 frames      the last 4 angles stacked (no dt)
=================  ==========================================================

Each model trains for the same wall-clock budget; the demo prints test RMSE for each, saves
the CfC as a policy file, reloads it with the torch-free runtime and checks that both agree.
Everything is generated here; nothing is downloaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
import time
from typing import Dict, Tuple

from lnn_control.models.base import PolicyModel
from lnn_control.models.cfc import CfC
from lnn_control.models.gru import GRU
from lnn_control.models.mlp import MLP
from lnn_control.models.policy import save_policy
from lnn_control.runtime.policy import load_policy
from lnn_control.wirings import AutoNCP
import numpy as np
import torch

__all__ = ['make_pendulum_data', 'run_demo']

G_OVER_L = 9.81 / 0.5   # 0.5 m pendulum
DAMPING = 0.3           # 1/s


def make_pendulum_data(episodes: int, steps: int, seed: int
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Simulate damped pendulums sampled at irregular times.

    Returns:
        obs (E, T, 1) noisy angle [rad], dt (E, T) seconds since the previous sample,
        target (E, T, 1) angular velocity [rad/s].

    """
    rng = np.random.default_rng(seed)
    obs = np.zeros((episodes, steps, 1), dtype=np.float32)
    target = np.zeros((episodes, steps, 1), dtype=np.float32)
    dts = rng.uniform(0.02, 0.25, size=(episodes, steps)).astype(np.float32)
    theta = rng.uniform(-2.0, 2.0, size=episodes)
    omega = rng.uniform(-3.0, 3.0, size=episodes)
    substep = 0.005
    for t in range(steps):
        # Semi-implicit Euler at 5 ms between samples: accurate enough for the target.
        remaining = dts[:, t].astype(np.float64)
        while np.any(remaining > 1e-9):
            h = np.minimum(remaining, substep)
            omega = omega + h * (-G_OVER_L * np.sin(theta) - DAMPING * omega)
            theta = theta + h * omega
            remaining = remaining - h
        obs[:, t, 0] = theta + rng.normal(0.0, 0.01, size=episodes)
        target[:, t, 0] = omega
    return obs, dts, target


def _train(model: PolicyModel, data: Dict[str, torch.Tensor], use_dt: bool, seconds: float,
           seed: int) -> Dict[str, float]:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched_every, batch = 200, 32
    x, dt, y = data['obs'], data['dt'], data['target']
    n = x.shape[0]
    start, iters = time.monotonic(), 0
    gen = torch.Generator().manual_seed(seed)
    while time.monotonic() - start < seconds:
        idx = torch.randint(0, n, (batch,), generator=gen)
        pred, _ = model(x[idx], timespans=dt[idx] if use_dt else None)
        loss = torch.mean((pred[:, 5:] - y[idx, 5:]) ** 2)  # skip the warm-up steps
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        iters += 1
        if iters % sched_every == 0:
            for group in opt.param_groups:
                group['lr'] = max(group['lr'] * 0.7, 1e-3)
    return {'iterations': iters, 'seconds': time.monotonic() - start}


def _rmse(model: PolicyModel, data: Dict[str, torch.Tensor], use_dt: bool) -> float:
    with torch.no_grad():
        pred, _ = model(data['obs'], timespans=data['dt'] if use_dt else None)
    return float(torch.sqrt(torch.mean((pred[:, 5:] - data['target'][:, 5:]) ** 2)))


def run_demo(out: str = 'runs/demo', seconds: float = 30.0, seed: int = 0) -> int:
    """Train the four models for ``seconds`` each, print the comparison; exit code 0 on success."""
    torch.set_num_threads(1)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays = {'train': make_pendulum_data(512, 64, seed), 'test': make_pendulum_data(128, 64,
                                                                                     seed + 1)}
    # Wired CfC outputs are motor-neuron states bounded in (-1, 1): scale the target so
    # that nearly all of it lies inside (3 standard deviations), the same for every model.
    omega_std = 3.0 * float(arrays['train'][2].std())
    sets = {}
    for split, (obs, dts, target) in arrays.items():
        sets[split] = {'obs': torch.from_numpy(obs), 'dt': torch.from_numpy(dts),
                       'target': torch.from_numpy(target / omega_std)}
    torch.manual_seed(seed)
    models = {
        'CfC (NCP) + dt': (CfC(1, AutoNCP(12, 1, seed=seed)), True),
        'CfC (NCP), no dt': (CfC(1, AutoNCP(12, 1, seed=seed)), False),
        'GRU + dt input': (GRU(1, 1, hidden_size=12, dt_input=True), True),
        'MLP, 4 frames': (MLP(1, 1, hidden_sizes=(32, 32), frames=4), False),
    }
    print(f'Task: angular velocity of a damped pendulum from noisy angles sampled at irregular '
          f'dt in [0.02, 0.25] s. {seconds:.0f} s of training per model, 1 thread.')
    results = {}
    for name, (model, use_dt) in models.items():
        stats = _train(model, sets['train'], use_dt, seconds, seed)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rmse = _rmse(model, sets['test'], use_dt) * omega_std
        results[name] = {'test_rmse_rad_s': rmse, 'parameters': params, **stats}
        print(f'  {name:18s} params {params:5d}  iterations {stats["iterations"]:5d}  '
              f'test RMSE {rmse:.3f} rad/s')
    baseline = float(arrays['test'][2][:, 5:].std())
    print(f'  (predicting the mean would give RMSE {baseline:.3f} rad/s)')

    cfc = models['CfC (NCP) + dt'][0]
    path = save_policy(cfc, out_dir / 'pendulum_velocity_cfc.safetensors',
                       obs={'size': 1, 'names': ['theta'], 'units': ['rad']},
                       action={'size': 1, 'names': ['omega'], 'units': ['rad/s']},
                       action_std=[omega_std],
                       provenance={'task': 'toy pendulum velocity estimation', 'seed': seed})
    policy = load_policy(path)
    obs, dts, target = arrays['test']
    runtime_pred = np.array([policy.step(obs[0, t], float(dts[0, t]))[0]
                             for t in range(obs.shape[1])])
    with torch.no_grad():
        torch_pred = cfc(sets['test']['obs'][:1], timespans=sets['test']['dt'][:1])[0]
    gap = float(np.max(np.abs(runtime_pred - torch_pred[0, :, 0].numpy() * omega_std)))
    policy.reset()
    step_obs, reps = obs[0, 0], 20000
    t0 = time.perf_counter()
    for _ in range(reps):
        policy.step(step_obs, 0.05)
    step_us = (time.perf_counter() - t0) / reps * 1e6
    print(f'Saved {path}; the torch-free runtime reproduces the torch CfC to {gap:.1e} rad/s '
          f'and steps in {step_us:.1f} us.')
    results['runtime'] = {'max_abs_gap': gap, 'step_us': step_us, 'policy': str(path)}
    (out_dir / 'results.json').write_text(json.dumps(results, indent=2))
    ok = gap < 1e-3 and math.isfinite(results['CfC (NCP) + dt']['test_rmse_rad_s'])
    return 0 if ok else 1
