# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The mixed-memory LSTM cell: ncps parity (torch) and the numpy mirror."""

from lnn_control.models.memory import MemoryCell
from lnn_control.runtime.memory import MemoryStep
import numpy as np
import pytest
import torch

ncps_lstm = pytest.importorskip('ncps.torch.lstm')


def _pair(input_size, hidden, seed=0):
    torch.manual_seed(seed)
    ref = ncps_lstm.LSTMCell(input_size, hidden)
    ours = MemoryCell(input_size, hidden)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def test_state_dict_names_match_ncps():
    ref, ours = _pair(3, 4)
    assert set(ours.state_dict()) == set(ref.state_dict()) == {
        'input_map.weight', 'input_map.bias', 'recurrent_map.weight'}
    assert set(MemoryStep.expected_shapes(3, 4, prefix='')) == set(ours.state_dict())
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == MemoryStep.expected_shapes(3, 4, prefix='')


def test_torch_matches_ncps_over_steps():
    ref, ours = _pair(5, 7, seed=1)
    torch.manual_seed(2)
    h = torch.randn(3, 7)
    c = torch.randn(3, 7)
    hr, cr = h, c
    for _ in range(20):
        x = torch.randn(3, 5)
        h, c = ours(x, (h, c))
        hr, cr = ref(x, (hr, cr))
    assert torch.allclose(h, hr, atol=1e-6) and torch.allclose(c, cr, atol=1e-6)
    assert not torch.allclose(c, torch.zeros_like(c))


def test_init_follows_ncps():
    cell = MemoryCell(6, 8)
    w = cell.recurrent_map.weight.detach()
    # The recurrent map is orthogonal (4H x H: orthonormal columns).
    assert torch.allclose(w.t() @ w, torch.eye(8), atol=1e-5)
    assert cell.input_map.bias.abs().max() <= 0.1
    assert cell.recurrent_map.bias is None


def test_numpy_mirror_matches_torch():
    ref, ours = _pair(4, 6, seed=3)
    tensors = {'memory.' + k: v.detach().numpy() for k, v in ours.state_dict().items()}
    step = MemoryStep(tensors)
    assert (step.input_size, step.hidden_size) == (4, 6)
    rng = np.random.default_rng(0)
    h = np.zeros(6, np.float32)
    c = np.zeros(6, np.float32)
    ht, ct = torch.zeros(1, 6), torch.zeros(1, 6)
    for _ in range(200):
        x = rng.normal(size=4).astype(np.float32)
        c_out = np.empty(6, np.float32)
        h, c = step.step(x, h, c, c_out=c_out)
        assert c is c_out
        with torch.no_grad():
            ht, ct = ours(torch.from_numpy(x)[None], (ht, ct))
        assert h.dtype == np.float32 and c.dtype == np.float32
    np.testing.assert_allclose(h, ht[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(c, ct[0].numpy(), atol=1e-5)
