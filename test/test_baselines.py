# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the baselines (MLP, GRU, LSTM): torch models and their numpy runtime mirrors."""

import json
from pathlib import Path
import subprocess
import sys

from lnn_control.models.base import MODELS
from lnn_control.models.gru import GRU
from lnn_control.models.lstm import LSTM
from lnn_control.models.mlp import ACTIVATIONS, MLP
from lnn_control.runtime.base import CELLS, PolicyFormatError
from lnn_control.runtime.gru import GRUCell
from lnn_control.runtime.lstm import LSTMCell
from lnn_control.runtime.mlp import ACTIVATIONS as NP_ACTIVATIONS, MLPCell
import numpy as np
import pytest
import torch

IN, OUT = 5, 3
ROOT = Path(__file__).resolve().parents[1]

# (class, kwargs): every structural option is covered at least once
CASES = [
    (MLP, {'hidden_sizes': (16, 8)}),
    (MLP, {'hidden_sizes': (16, 8), 'frames': 3, 'dt_input': True, 'activation': 'gelu'}),
    (MLP, {'hidden_sizes': (), 'frames': 2}),
    (GRU, {'hidden_size': 8}),
    (GRU, {'hidden_size': 8, 'num_layers': 2, 'dt_input': True}),
    (LSTM, {'hidden_size': 8}),
    (LSTM, {'hidden_size': 8, 'num_layers': 2, 'dt_input': True}),
]
IDS = [f'{cls.kind}-{i}' for i, (cls, _) in enumerate(CASES)]


def make(cls, kwargs, seed=0, gain=2.0, **extra):
    """Build a model with weights scaled by ``gain`` so the dynamics are far from trivial."""
    torch.manual_seed(seed)
    model = cls(IN, OUT, **kwargs, **extra)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)
    return model


def tensors_of(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def runtime_of(model):
    return CELLS[model.kind](json.loads(json.dumps(model.get_config())), tensors_of(model))


def rollout(cell, xs, dts):
    h = cell.initial_state()
    ys = []
    for x, dt in zip(xs, dts):
        y, h = cell.step(x, h, float(dt))
        assert y.dtype == np.float32 and h.dtype == np.float32
        ys.append(y)
    return np.stack(ys), h


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_runtime_matches_torch_over_1000_steps(cls, kwargs):
    model = make(cls, kwargs)
    rng = np.random.default_rng(1)
    steps = 1000
    xs = rng.standard_normal((steps, IN)).astype(np.float32)
    dts = rng.uniform(0.01, 0.3, steps).astype(np.float32)  # irregular sampling
    with torch.no_grad():
        y, h = model(torch.from_numpy(xs)[None], None, torch.from_numpy(dts)[None])
    cell = runtime_of(model)
    ys, h_np = rollout(cell, xs, dts)
    np.testing.assert_allclose(ys, y[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(h_np, model.flat_state(h)[0].numpy(), atol=1e-5, rtol=0)
    assert np.abs(ys).max() > 0.1  # not trivially matching zeros


@pytest.mark.parametrize('activation', sorted(ACTIVATIONS))
def test_every_activation_matches_runtime(activation):
    assert set(NP_ACTIVATIONS) == set(ACTIVATIONS)
    model = make(MLP, {'hidden_sizes': (16,), 'activation': activation, 'frames': 2}, gain=3.0)
    rng = np.random.default_rng(2)
    xs = (3 * rng.standard_normal((200, IN))).astype(np.float32)
    with torch.no_grad():
        y, _ = model(torch.from_numpy(xs)[None])
    ys, _ = rollout(runtime_of(model), xs, np.ones(200))
    np.testing.assert_allclose(ys, y[0].numpy(), atol=1e-5, rtol=0)


def test_mlp_frames_are_the_last_inputs_oldest_first():
    model = make(MLP, {'hidden_sizes': (8,), 'frames': 3, 'dt_input': True})
    torch.manual_seed(3)
    x = torch.randn(1, 6, IN)
    ts = torch.rand(1, 6) + 0.1
    with torch.no_grad():
        y, h = model(x, None, ts)
        u = torch.cat([x, ts[..., None]], -1)[0]  # (T, D)
        padded = torch.cat([torch.zeros(2, IN + 1), u])  # zeros before the first step
        for t in range(6):
            stacked = padded[t:t + 3].reshape(-1)  # u_{t-2}, u_{t-1}, u_t
            a = torch.tanh(model.hidden[0](stacked))
            torch.testing.assert_close(y[0, t], model.readout(a))
    torch.testing.assert_close(h[0], u[-2:].reshape(-1))


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_chunks_with_carried_state_equal_one_pass(cls, kwargs):
    model = make(cls, kwargs)
    torch.manual_seed(4)
    x = torch.randn(2, 9, IN)
    ts = torch.rand(2, 9) + 0.05
    with torch.no_grad():
        y, h = model(x, None, ts)
        y1, h1 = model(x[:, :4], None, ts[:, :4])
        y2, h2 = model(x[:, 4:], h1, ts[:, 4:])
    torch.testing.assert_close(torch.cat([y1, y2], 1), y)
    torch.testing.assert_close(model.flat_state(h2), model.flat_state(h))


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_batched_equals_per_sample(cls, kwargs):
    model = make(cls, kwargs)
    torch.manual_seed(5)
    x = torch.randn(3, 7, IN)
    ts = torch.rand(3, 7, 1) + 0.05  # a different dt sequence per sample
    h0 = model.flat_state(model.initial_state(3)) + 0.3 * torch.randn(3, model.state_size)
    with torch.no_grad():
        y, h = model(x, model.unflat_state(h0), ts)
        for b in range(3):
            yb, hb = model(x[b:b + 1], model.unflat_state(h0[b:b + 1]), ts[b:b + 1])
            torch.testing.assert_close(yb, y[b:b + 1])
            torch.testing.assert_close(model.flat_state(hb), model.flat_state(h)[b:b + 1])


@pytest.mark.parametrize('cls', [MLP, GRU, LSTM])
def test_dt_reaches_the_model_only_with_dt_input(cls):
    torch.manual_seed(6)
    x = torch.randn(2, 5, IN)
    for dt_input in (False, True):
        model = make(cls, {}, dt_input=dt_input)
        with torch.no_grad():
            y_a, _ = model(x, None, 0.05)
            y_b, _ = model(x, None, torch.full((2, 5), 0.5))
            y_none, _ = model(x)
            y_one, _ = model(x, None, torch.ones(2, 5, 1))
        torch.testing.assert_close(y_none, y_one)  # default dt is 1.0
        assert torch.equal(y_a, y_b) != dt_input


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_config_round_trip(cls, kwargs):
    model = make(cls, kwargs, return_sequences=False)
    config = json.loads(json.dumps(model.get_config()))
    clone = MODELS[model.kind].from_config(config)
    assert type(clone) is cls and clone.get_config() == model.get_config()
    clone.load_state_dict(model.state_dict())
    torch.manual_seed(7)
    x = torch.randn(2, 4, IN)
    full = cls.from_config({**config, 'return_sequences': True})
    full.load_state_dict(model.state_dict())
    with torch.no_grad():
        y, _ = model(x, None, 0.1)
        y_clone, _ = clone(x, None, 0.1)
        y_full, _ = full(x, None, 0.1)
    assert y.shape == (2, OUT) and y_full.shape == (2, 4, OUT)
    torch.testing.assert_close(y_clone, y)
    torch.testing.assert_close(y_full[:, -1], y)


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_neuron_labels_cover_the_state(cls, kwargs):
    model = make(cls, kwargs)
    cell = runtime_of(model)
    labels = cell.neuron_labels()
    assert len(labels) == cell.state_size == model.state_size
    assert len(set(labels)) == len(labels)
    assert cell.initial_state().shape == (cell.state_size,)


def test_neuron_label_layouts():
    mlp = runtime_of(make(MLP, {'frames': 3, 'dt_input': True}))
    assert mlp.neuron_labels()[0] == 'frame2:0' and mlp.neuron_labels()[-1] == f'frame1:{IN}'
    gru = runtime_of(make(GRU, {'hidden_size': 4, 'num_layers': 2}))
    assert gru.neuron_labels() == [f'gru{k}:{i}' for k in range(2) for i in range(4)]
    lstm = runtime_of(make(LSTM, {'hidden_size': 4, 'num_layers': 2}))
    assert lstm.neuron_labels()[:5] == [f'lstm0_h:{i}' for i in range(4)] + ['lstm1_h:0']
    assert lstm.neuron_labels()[8:10] == ['lstm0_c:0', 'lstm0_c:1']


def test_lstm_state_forms():
    model = make(LSTM, {'hidden_size': 6, 'num_layers': 2})
    x = torch.randn(2, 3, IN)
    with torch.no_grad():
        y, (h, c) = model(x)
        flat = model.flat_state((h, c))
        assert flat.shape == (2, 24)
        torch.testing.assert_close(flat[:, 12:], c)
        y_tuple, _ = model(x, (h, c))
        y_flat, _ = model(x, flat)
    torch.testing.assert_close(y_flat, y_tuple)
    h2, c2 = model.unflat_state(flat)
    assert torch.equal(h2, h) and torch.equal(c2, c)


@pytest.mark.parametrize('cls, kwargs', CASES, ids=IDS)
def test_runtime_refuses_mismatched_tensors(cls, kwargs):
    model = make(cls, kwargs)
    config = model.get_config()
    tensors = tensors_of(model)
    cell_cls = CELLS[model.kind]
    name = sorted(tensors)[0]
    with pytest.raises(PolicyFormatError, match='missing tensors'):
        cell_cls(config, {k: v for k, v in tensors.items() if k != name})
    with pytest.raises(PolicyFormatError, match='unexpected tensors'):
        cell_cls(config, {**tensors, 'extra.weight': np.zeros(3, np.float32)})
    with pytest.raises(PolicyFormatError, match='readout.weight'):
        cell_cls(config, {**tensors, 'readout.weight': np.zeros((OUT + 1, 2), np.float32)})
    # a file saved from a wider model does not load under this config
    wider = {**config, 'output_size': OUT + 1}
    with pytest.raises(PolicyFormatError, match='readout'):
        cell_cls(wider, tensors)


def test_runtime_refuses_bad_config():
    model = make(MLP, {})
    with pytest.raises(PolicyFormatError, match='activation'):
        MLPCell({**model.get_config(), 'activation': 'swish'}, tensors_of(model))
    gru = make(GRU, {'hidden_size': 8})
    with pytest.raises(PolicyFormatError, match='rnn.weight_hh_l0'):
        GRUCell({**gru.get_config(), 'hidden_size': 4}, tensors_of(gru))
    lstm = make(LSTM, {'hidden_size': 8})
    with pytest.raises(PolicyFormatError, match='rnn.weight_ih_l1'):
        LSTMCell({**lstm.get_config(), 'num_layers': 2}, tensors_of(lstm))
    with pytest.raises(PolicyFormatError, match='malformed'):
        LSTMCell({'hidden_size': 8}, tensors_of(lstm))


@pytest.mark.parametrize('cls', [MLP, GRU, LSTM])
@pytest.mark.parametrize('dt_input', [False, True])
def test_bad_shapes_raise(cls, dt_input):
    model = make(cls, {'dt_input': dt_input})
    x = torch.randn(2, 4, IN)
    for bad in (torch.ones(2, 5), torch.ones(2, 4, 2), torch.ones(4), torch.ones(1, 4)):
        with pytest.raises(ValueError, match='timespans'):
            model(x, None, bad)
    with pytest.raises(ValueError, match='batch-first'):
        model(x[0])
    with pytest.raises(ValueError):
        model(x, torch.zeros(2, model.state_size + 1))
    with pytest.raises(ValueError, match='activation|frames|must be'):
        cls(IN, OUT, **({'activation': 'swish'} if cls is MLP else {'hidden_size': 0}))


def test_runtime_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            'import lnn_control.runtime.mlp, lnn_control.runtime.gru, lnn_control.runtime.lstm\n')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)
