# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export of a policy step, checked with onnxruntime against the numpy runtime."""

from lnn_control.cli import main
from lnn_control.models import CfC
from lnn_control.models import GRU
from lnn_control.models import LSTM
from lnn_control.models import LTC
from lnn_control.models import MLP
from lnn_control.models.export import compare_onnx
from lnn_control.models.export import export_onnx
from lnn_control.models.policy import save_policy
from lnn_control.wirings import AutoNCP
import numpy as np
import onnx
import pytest
import torch

MAKERS = {
    'cfc_ncp': lambda: CfC(6, AutoNCP(12, 2, seed=4)),
    'cfc_fc_mixed': lambda: CfC(6, 10, mixed_memory=True, backbone_units=16),
    'cfc_pure': lambda: CfC(6, AutoNCP(12, 2, seed=4), mode='pure'),
    'ltc_ncp': lambda: LTC(6, AutoNCP(12, 2, seed=5)),
    'ltc_fc': lambda: LTC(6, 7),
    'mlp_frames': lambda: MLP(6, 2, hidden_sizes=(16,), frames=3, dt_input=True),
    'gru': lambda: GRU(6, 2, hidden_size=8, dt_input=True),
    'lstm': lambda: LSTM(6, 2, hidden_size=8, num_layers=2),
}


@pytest.mark.parametrize('name', sorted(MAKERS))
def test_onnx_step_matches_numpy_runtime(tmp_path, name):
    torch.manual_seed(1)
    model = MAKERS[name]()
    path = save_policy(model, tmp_path / 'p.safetensors', obs_mean=np.linspace(-1, 1, 6),
                       obs_std=np.linspace(0.5, 2, 6),
                       action_mean=np.full(model.output_size, 0.1),
                       action_std=np.linspace(0.2, 3.0, model.output_size))
    out = export_onnx(path, tmp_path / 'p.onnx')
    graph = onnx.load(str(out)).graph
    assert [o.name for o in graph.output] == ['action', 'state_out']
    inputs = {i.name for i in graph.input}
    if name.startswith(('cfc', 'ltc')):
        assert inputs == {'obs', 'state', 'dt'}
    assert compare_onnx(path, out, steps=150) < 1e-4


def test_cli_export_and_info(tmp_path, capsys):
    path = save_policy(CfC(4, AutoNCP(10, 2, seed=1)), tmp_path / 'p.safetensors',
                       obs={'size': 4, 'names': ['a', 'b', 'c', 'd']})
    assert main(['export', str(path), '--onnx', str(tmp_path / 'p.onnx'),
                 '--check-steps', '50']) == 0
    assert 'max abs difference' in capsys.readouterr().out
    assert main(['info', str(path)]) == 0
    text = capsys.readouterr().out
    assert 'cfc' in text and 'a, b, c, d' in text and 'parameters' in text
    assert main(['info', str(tmp_path / 'missing.safetensors')]) == 2
    assert 'not found' in capsys.readouterr().err


@pytest.mark.parametrize('head', ['cfc', 'ltc', 'lstm', 'mlp'])
def test_camera_policy_onnx_matches_numpy_runtime(tmp_path, head):
    """A CNN + head exports whole (encoder and head); checked on 0-255 frames (issue 19)."""
    from lnn_control.models.conv import build_conv_policy
    torch.manual_seed(2)
    model = build_conv_policy((24, 32, 3), head, features=8, units=12, hidden=8)
    path = save_policy(model, tmp_path / 'cam.safetensors',
                       obs={'shape': [24, 32, 3], 'dtype': 'uint8', 'low': 0.0,
                            'high': 255.0},
                       action_mean=np.array([0.0, 0.0]), action_std=np.array([0.22, 2.84]))
    out = tmp_path / 'cam.onnx'
    assert main(['export', str(path), '--onnx', str(out), '--check-steps', '30']) == 0
    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert 'Conv' in ops
    assert compare_onnx(path, out, steps=40) < 1e-4
