# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The toy demo: data generation is physical and the demo runs end to end."""

import json

from lnn_control.train.toy_demo import make_pendulum_data
from lnn_control.train.toy_demo import run_demo
import numpy as np


def test_pendulum_data_is_consistent_with_its_dt():
    obs, dts, target = make_pendulum_data(16, 40, seed=3)
    assert obs.shape == (16, 40, 1) and dts.shape == (16, 40) and target.shape == (16, 40, 1)
    assert dts.min() >= 0.02 and dts.max() <= 0.25
    # The angle changes by about omega * dt between samples (noise 0.01 rad, curvature).
    dtheta = np.diff(obs[:, :, 0], axis=1)
    predicted = 0.5 * (target[:, 1:, 0] + target[:, :-1, 0]) * dts[:, 1:]
    assert np.median(np.abs(dtheta - predicted)) < 0.05
    again = make_pendulum_data(16, 40, seed=3)
    np.testing.assert_array_equal(again[0], obs)


def test_demo_runs_and_runtime_agrees(tmp_path):
    assert run_demo(out=str(tmp_path), seconds=0.5, seed=1) == 0
    results = json.loads((tmp_path / 'results.json').read_text())
    assert results['runtime']['max_abs_gap'] < 1e-3
    assert (tmp_path / 'pendulum_velocity_cfc.safetensors').is_file()
    assert {'CfC (NCP) + dt', 'GRU + dt input', 'MLP, 4 frames'} <= set(results)
