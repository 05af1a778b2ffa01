# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The CfC: ncps parity (the oracle), B > 1, timespans, config, strict wiring, runtime."""

import itertools
import json

from lnn_control.models.cfc import CfC
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.cfc import CfCCell
from lnn_control.wirings import AutoNCP
from lnn_control.wirings import NCP
import numpy as np
import pytest
import torch

ncps_torch = pytest.importorskip('ncps.torch')
ncps_wirings = pytest.importorskip('ncps.wirings')

MODES = ['default', 'pure', 'no_gate']
ACTIVATIONS = ['lecun_tanh', 'tanh', 'relu', 'silu', 'gelu']


def _ncps(wired, mode='default', mixed=False, proj=None, layers=1, act='lecun_tanh',
          dropout=None):
    if wired:
        return ncps_torch.CfC(5, ncps_wirings.AutoNCP(12, 3, seed=7), proj_size=proj,
                              mixed_memory=mixed, mode=mode)
    return ncps_torch.CfC(5, 7, proj_size=proj, mixed_memory=mixed, mode=mode,
                          activation=act, backbone_layers=layers, backbone_units=9,
                          backbone_dropout=dropout)


def _max_diff(a, b):
    if isinstance(a, tuple):
        return max(_max_diff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


def _randomise(model, std=0.5):
    """Make every weight count (ncps init leaves some gates nearly saturated)."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


# ---------------------------------------------------------------------- ncps parity
PARITY = [(wired, layers, mode, mixed, proj, ACTIVATIONS[i % len(ACTIVATIONS)])
          for i, ((wired, layers), mode, mixed, proj) in enumerate(itertools.product(
              [(True, None), (False, 0), (False, 1), (False, 2)], MODES, [False, True],
              [None, 2]))]


@pytest.mark.parametrize('wired,layers,mode,mixed,proj,act', PARITY)
def test_from_ncps_parity(wired, layers, mode, mixed, proj, act):
    torch.manual_seed(PARITY.index((wired, layers, mode, mixed, proj, act)))
    ref = _ncps(wired, mode, mixed, proj, layers or 0, act).eval()
    ours = CfC.from_ncps(ref).eval()
    assert ours.mode == mode and ours.mixed_memory == mixed and ours.proj_size == proj
    x = torch.randn(1, 12, 5)
    ts = torch.rand(1, 12) * 2.0 + 0.01
    with torch.no_grad():
        for timespans in (None, ts, ts.unsqueeze(-1)):
            y_ref, h_ref = ref(x, timespans=timespans)
            y, h = ours(x, timespans=timespans)
            assert y.shape == y_ref.shape
            assert _max_diff(y, y_ref) <= 1e-5
            assert _max_diff(h, h_ref) <= 1e-5
    y, h = ours(x, timespans=ts)  # with autograd on: the fused scan where it applies
    assert _max_diff(y.detach(), y_ref) <= 1e-5


@pytest.mark.parametrize('act,layers', list(itertools.product(ACTIVATIONS, [1, 2])))
def test_from_ncps_activations(act, layers):
    torch.manual_seed(1)
    ref = _ncps(False, layers=layers, act=act, dropout=0.3).eval()
    ours = CfC.from_ncps(ref).eval()
    assert ours.activation == act and ours.backbone_layers == layers
    assert ours.backbone_dropout == (0.3 if layers > 1 else 0.0)
    x, ts = torch.randn(1, 10, 5), torch.rand(1, 10) + 0.1
    with torch.no_grad():
        assert _max_diff(ours(x, timespans=ts)[0], ref(x, timespans=ts)[0]) <= 1e-5


def test_from_ncps_plain_ncp_wiring_and_return_last():
    torch.manual_seed(2)
    wiring = ncps_wirings.NCP(4, 3, 2, sensory_fanout=2, inter_fanout=2,
                              recurrent_command_synapses=3, motor_fanin=2, seed=5)
    ref = ncps_torch.CfC(3, wiring, return_sequences=False)
    ours = CfC.from_ncps(ref)
    assert ours.wiring.layer_sizes == [4, 3, 2]
    x = torch.randn(1, 9, 3)
    with torch.no_grad():
        y_ref, h_ref = ref(x)
        y, h = ours(x)
    assert y.shape == (1, 2)
    assert _max_diff(y, y_ref) <= 1e-5 and _max_diff(h, h_ref) <= 1e-5


def test_state_dict_has_no_masks_and_loads_from_config():
    model = CfC(5, AutoNCP(12, 3), mixed_memory=True, proj_size=2)
    names = set(model.state_dict())
    assert not any('mask' in name for name in names)
    assert {'memory.input_map.weight', 'fc.weight', 'layers.2.time_b.bias'} <= names
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == CfCCell.expected_shapes(model.get_config())


# ---------------------------------------------------------------------- batches, timespans
@pytest.mark.parametrize('wired,mode', [(True, 'default'), (True, 'pure'), (False, 'no_gate')])
def test_batch_equals_ncps_run_per_sample(wired, mode):
    # ncps squeezes per-step timespans to (B,) and broadcasts them wrongly for B > 1
    # (ncps issues #81-#83); each sample run alone (B = 1) is right.
    torch.manual_seed(3)
    ref = _ncps(wired, mode, mixed=True)
    ours = CfC.from_ncps(ref)
    x, ts = torch.randn(4, 8, 5), torch.rand(4, 8) * 3.0
    with torch.no_grad():
        y, (h, c) = ours(x, timespans=ts)
        for b in range(4):
            y_ref, (h_ref, c_ref) = ref(x[b:b + 1], timespans=ts[b:b + 1])
            assert _max_diff(y[b:b + 1], y_ref) <= 1e-5
            assert _max_diff((h[b:b + 1], c[b:b + 1]), (h_ref, c_ref)) <= 1e-5


def test_timespans_forms():
    torch.manual_seed(4)
    model = CfC(3, AutoNCP(10, 2), mode='no_gate')
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        ref = model(x, timespans=torch.full((2, 5), 0.3))[0]
        for ts in (0.3, torch.tensor(0.3), torch.full((2, 5, 1), 0.3)):
            assert _max_diff(model(x, timespans=ts)[0], ref) <= 1e-6
        assert _max_diff(model(x)[0], model(x, timespans=1.0)[0]) <= 1e-6
        assert _max_diff(model(x)[0], ref) > 1e-4
    for bad in (torch.ones(2, 4), torch.ones(5), torch.ones(2, 5, 2)):
        with pytest.raises(ValueError, match='timespans'):
            model(x, timespans=bad)


def test_unbatched_input_and_state_continuation():
    torch.manual_seed(5)
    model = CfC(3, AutoNCP(10, 2), mixed_memory=True)
    x, ts = torch.randn(1, 10, 3), torch.rand(1, 10) + 0.1
    with torch.no_grad():
        y, h = model(x, timespans=ts)
        y1, h1 = model(x[0], timespans=ts[0])  # (T, in), (T,)
        assert y1.shape == (10, 2) and h1[0].shape == (10,)
        assert _max_diff(y1, y[0]) <= 1e-6
        # Two halves with the state carried (tuple or flat) equal one run.
        ya, ha = model(x[:, :4], timespans=ts[:, :4])
        yb, hb = model(x[:, 4:], model.flat_state(ha), timespans=ts[:, 4:])
        assert _max_diff(torch.cat([ya, yb], 1), y) <= 1e-6
        assert _max_diff(hb, h) <= 1e-6
    with pytest.raises(ValueError, match='mixed_memory'):
        model(x, torch.zeros(1, 10))


# ---------------------------------------------------------------------- config round trip
@pytest.mark.parametrize('kwargs', [
    {'units': AutoNCP(12, 3, seed=9), 'mixed_memory': True, 'proj_size': 2,
     'strict_wiring': True},
    {'units': NCP(4, 3, 2, 2, 2, 2, 2, seed=3).to_dict(), 'mode': 'pure'},
    {'units': 6, 'backbone_layers': 2, 'backbone_units': 5, 'activation': 'silu',
     'mode': 'no_gate', 'return_sequences': False},
])
def test_config_round_trip(kwargs):
    torch.manual_seed(6)
    model = _randomise(CfC(4, **kwargs))
    config = json.loads(json.dumps(model.get_config()))
    clone = CfC.from_config(config)
    clone.load_state_dict(model.state_dict())
    x, ts = torch.randn(2, 7, 4), torch.rand(2, 7)
    with torch.no_grad():
        assert _max_diff(clone(x, timespans=ts), model(x, timespans=ts)) == 0.0
    assert clone.get_config() == config


def test_bad_arguments():
    with pytest.raises(ValueError, match='backbone'):
        CfC(3, AutoNCP(10, 2), backbone_units=16)
    with pytest.raises(ValueError, match='strict_wiring'):
        CfC(3, 8, strict_wiring=True)
    with pytest.raises(ValueError, match='mode'):
        CfC(3, 8, mode='fast')
    with pytest.raises(ValueError, match='activation'):
        CfC(3, 8, activation='sine')


# ---------------------------------------------------------------------- strict wiring
def _unwired_pair(model):
    """Find an (input, inter neuron) pair with no sensory synapse between them."""
    sensory = model.wiring.sensory_adjacency
    inter = model.wiring.layers[0]
    for k, j in itertools.product(range(sensory.shape[0]), range(len(inter))):
        if sensory[k, inter[j]] == 0:
            return k, j
    raise AssertionError('wiring has no missing sensory synapse')


@pytest.mark.parametrize('mode', MODES)
def test_strict_wiring_masks_time_heads_and_recurrence(mode):
    torch.manual_seed(7)
    wiring = AutoNCP(12, 3, seed=11)
    strict = _randomise(CfC(5, wiring, mode=mode, strict_wiring=True))
    loose = CfC(5, AutoNCP(12, 3, seed=11), mode=mode)
    loose.load_state_dict(strict.state_dict())
    k, j = _unwired_pair(strict)
    x = torch.randn(2, 6, 5)
    x2 = x.clone()
    x2[..., k] += 3.0
    ts = torch.rand(2, 6) + 0.5
    with torch.no_grad():
        # Inter neurons do not feed each other in an NCP: with the wiring as the whole truth,
        # inter neuron j never sees input k.
        assert torch.equal(strict(x, timespans=ts)[1][:, j], strict(x2, timespans=ts)[1][:, j])
        if mode != 'pure':  # ncps semantics: the unmasked time heads and recurrence leak it
            assert _max_diff(loose(x, timespans=ts)[1][:, j],
                             loose(x2, timespans=ts)[1][:, j]) > 1e-6
    # Gradients of weights of absent synapses are zero.
    strict(x, timespans=ts)[0].square().sum().backward()
    head = strict.layers[0].ff1 if mode == 'pure' else strict.layers[0].time_a
    assert head.weight.grad[j, k] == 0.0
    assert head.weight.grad.abs().sum() > 0.0
    # Within-layer masks: the wiring's own synapses (command->command for an NCP).
    command = wiring.layers[1]
    n_in = len(wiring.layers[0])
    mask = strict._mask1[:len(command), n_in:]
    expected = np.abs(wiring.adjacency[np.ix_(command, command)]).T
    assert np.array_equal(mask.numpy(), expected)
    assert torch.all(loose._mask1[:, n_in:] == 1.0)


# ---------------------------------------------------------------------- fused scan
@pytest.mark.parametrize('mode,units,ts_kind,seq,layers,act', [
    ('default', 'wired', 'tensor', True, None, 'lecun_tanh'),
    ('no_gate', 'wired', 'scalar', False, None, 'lecun_tanh'),
    ('pure', 'wired', 'tensor', True, None, 'lecun_tanh'),
    ('pure', 'fc', 'none', True, 0, 'lecun_tanh'),
    ('default', 'fc', 'scalar', False, 0, 'lecun_tanh'),
    ('default', 'fc', 'tensor', True, 1, 'lecun_tanh'),
    ('no_gate', 'fc', 'tensor', True, 2, 'gelu'),
    ('pure', 'fc', 'scalar', False, 3, 'silu'),
    ('default', 'fc', 'none', True, 2, 'relu')])
def test_fused_scan_matches_autograd_loop(mode, units, ts_kind, seq, layers, act):
    torch.manual_seed(8)
    units = AutoNCP(9, 2) if units == 'wired' else 5
    model = _randomise(CfC(3, units, mode=mode, backbone_layers=layers, activation=act,
                           backbone_units=None if layers is None else 4,
                           return_sequences=seq, proj_size=2)).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, model.units, dtype=torch.float64, requires_grad=True)
    ts = {'none': None, 'scalar': 0.4,
          'tensor': torch.rand(3, 6, dtype=torch.float64) + 0.1}[ts_kind]

    def grads(fused):
        model.fused_scan = fused
        y, h = model(x, h0, ts)
        loss = y.square().sum() + h.pow(3).sum()
        return [loss.detach()] + list(torch.autograd.grad(loss, [x, h0]
                                                          + list(model.parameters())))

    for a, b in zip(grads(True), grads(False)):
        assert _max_diff(a, b) <= 1e-10
    model.fused_scan = True
    if act == 'relu':  # gradcheck's finite differences straddle the kink
        return
    ts_small = ts[:1, :3] if torch.is_tensor(ts) else ts
    assert torch.autograd.gradcheck(lambda x, h0: model(x, h0, ts_small)[0],
                                    (x[:1, :3].detach().requires_grad_(), h0[:1]))


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning', 'ignore::DeprecationWarning')
def test_onnx_export_uses_its_inputs(tmp_path):
    # ONNX export (tracing) must record the plain loop: the scan's in-place buffer writes
    # lose the link to the state input in the exported graph.
    ort = pytest.importorskip('onnxruntime')
    pytest.importorskip('onnx')
    torch.manual_seed(13)
    model = CfC(3, AutoNCP(8, 2)).eval()
    example = (torch.zeros(1, 1, 3), torch.zeros(1, 8), torch.full((1, 1), 0.1))
    path = str(tmp_path / 'cfc.onnx')
    with torch.no_grad():
        torch.onnx.export(model, example, path, input_names=['x', 'h', 'dt'],
                          output_names=['y', 'h_out'], dynamo=False)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    args = (torch.randn(1, 1, 3), torch.randn(1, 8), torch.full((1, 1), 0.7))
    y, h = session.run(None, {k: v.numpy() for k, v in zip(['x', 'h', 'dt'], args)})
    with torch.no_grad():
        y_ref, h_ref = model(*args)
    np.testing.assert_allclose(y, y_ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(h, h_ref.numpy(), atol=1e-5)


def test_inference_weight_cache_follows_parameter_changes():
    torch.manual_seed(14)
    model = CfC(3, AutoNCP(8, 2)).eval()
    other = _randomise(CfC(3, AutoNCP(8, 2))).eval()
    x = torch.randn(1, 4, 3)
    with torch.no_grad():
        y0 = model(x)[0]
        assert torch.equal(model(x)[0], y0)  # served from the cache
        model.layers[1].ff1.weight.add_(0.5)  # in place, as an optimiser step
        y1 = model(x)[0]
        assert _max_diff(y1, y0) > 1e-4
        model.load_state_dict(other.state_dict())
        assert torch.equal(model(x)[0], other(x)[0])
        model.double()
        assert model(x.double())[0].dtype == torch.float64
    y_grad = model(x.double())[0]  # with autograd: fresh weights, through the scan
    assert y_grad.requires_grad
    assert _max_diff(y_grad.float(), other(x)[0]) <= 1e-5


def test_backbone_dropout_in_training():
    torch.manual_seed(12)
    model = CfC(3, 6, backbone_layers=2, backbone_dropout=0.5, backbone_units=8)
    x = torch.randn(2, 5, 3)
    y1, y2 = model(x)[0], model(x)[0]
    assert _max_diff(y1, y2) > 1e-6  # dropout active
    model.eval()
    with torch.no_grad():
        assert _max_diff(model(x)[0], model(x)[0]) == 0.0


# ---------------------------------------------------------------------- numpy runtime
def _cell(model):
    return CfCCell(model.get_config(), {k: v.numpy() for k, v in model.state_dict().items()})


RUNTIME = [
    {'units': AutoNCP(10, 3)},
    {'units': AutoNCP(10, 3), 'mode': 'pure', 'proj_size': 2},
    {'units': AutoNCP(10, 3), 'mode': 'no_gate', 'mixed_memory': True},
    {'units': AutoNCP(10, 3), 'strict_wiring': True, 'mixed_memory': True, 'proj_size': 2},
    {'units': 6},
    {'units': 6, 'mode': 'pure', 'mixed_memory': True, 'backbone_layers': 2,
     'activation': 'gelu', 'backbone_units': 9},
    {'units': 6, 'mode': 'no_gate', 'backbone_layers': 0, 'proj_size': 3},
    {'units': 6, 'backbone_layers': 2, 'activation': 'silu', 'backbone_units': 9,
     'mixed_memory': True},
    {'units': 6, 'backbone_layers': 1, 'activation': 'relu', 'mode': 'pure'},
    {'units': 6, 'backbone_layers': 1, 'activation': 'tanh', 'proj_size': 1},
]


@pytest.mark.parametrize('kwargs', RUNTIME)
def test_runtime_matches_torch_over_1000_steps(kwargs):
    torch.manual_seed(9)
    model = CfC(4, **kwargs).eval()
    cell = _cell(model)
    assert (cell.input_size, cell.output_size, cell.state_size) == (
        4, model.output_size, model.state_size)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 4)).astype(np.float32)
    dt = rng.uniform(0.005, 2.0, size=1000).astype(np.float32)
    with torch.no_grad():
        y_ref, h_ref = model(torch.from_numpy(x)[None], timespans=torch.from_numpy(dt)[None])
    h = cell.initial_state()
    ys = []
    for i in range(1000):
        y, h = cell.step(x[i], h, float(dt[i]))
        ys.append(y)
    assert h.dtype == np.float32 and h.shape == (model.state_size,)
    np.testing.assert_allclose(np.array(ys), y_ref[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(h, model.flat_state(h_ref)[0].numpy(), atol=1e-5, rtol=0)


def test_runtime_returns_fresh_arrays():
    cell = _cell(CfC(4, AutoNCP(10, 3)))
    h0 = cell.initial_state()
    y1, h1 = cell.step(np.ones(4, np.float32), h0, 0.1)
    y1_copy, h1_copy = y1.copy(), h1.copy()
    cell.step(np.zeros(4, np.float32), h1, 0.1)
    assert np.array_equal(y1, y1_copy) and np.array_equal(h1, h1_copy)
    assert not h0.any()


def test_runtime_time_gate_and_labels():
    torch.manual_seed(10)
    model = CfC(4, AutoNCP(10, 3), mixed_memory=True).eval()
    cell = _cell(model)
    labels = cell.neuron_labels()
    assert len(labels) == cell.state_size == 20
    wiring = model.wiring
    order = [i for layer in wiring.layers for i in layer]
    assert labels[:10] == [f'{wiring.neuron_type(i)}:{i}' for i in order]
    assert labels[0].startswith('inter:') and labels[9].startswith('motor:')
    assert labels[10:] == [f'memory:{i}' for i in range(10)]
    assert _cell(CfC(4, 3)).neuron_labels() == ['hidden:0', 'hidden:1', 'hidden:2']

    # The gate of the first layer (inter neurons), recomputed from the torch weights.
    x, dt = np.linspace(-1, 1, 4).astype(np.float32), 0.37
    h0 = np.random.default_rng(1).normal(size=20).astype(np.float32)
    cell.step(x, h0, dt)
    with torch.no_grad():
        hx, _ = model.memory(torch.from_numpy(x)[None], (torch.from_numpy(h0[None, :10]),
                                                         torch.from_numpy(h0[None, 10:])))
        n0 = len(wiring.layers[0])
        u = torch.cat([torch.from_numpy(x)[None], hx[:, :n0]], 1)
        layer = model.layers[0]
        gate = torch.sigmoid(layer.time_a(u) * dt + layer.time_b(u))[0].numpy()
    np.testing.assert_allclose(cell.time_gate[:n0], gate, atol=1e-6)
    assert cell.time_gate.shape == (10,)
    assert np.all((cell.time_gate >= 0) & (cell.time_gate <= 1))

    pure = CfC(4, 5, mode='pure', backbone_layers=0).eval()
    pcell = _cell(pure)
    pcell.step(x, np.zeros(5, np.float32), dt)
    with torch.no_grad():
        f = pure.layers[0].ff1(torch.cat([torch.from_numpy(x), torch.zeros(5)]))
        decay = torch.exp(-dt * (pure.layers[0].w_tau.abs() + f.abs())).numpy()
    np.testing.assert_allclose(pcell.time_gate, decay, atol=1e-6)


def test_runtime_refuses_mismatched_tensors():
    model = CfC(4, AutoNCP(10, 3), proj_size=2)
    config = model.get_config()
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    missing = dict(tensors)
    del missing['layers.1.ff2.weight']
    with pytest.raises(PolicyFormatError, match='missing.*layers.1.ff2.weight'):
        CfCCell(config, missing)
    with pytest.raises(PolicyFormatError, match='unexpected.*extra'):
        CfCCell(config, dict(tensors, extra=np.zeros(1, np.float32)))
    wrong = dict(tensors, **{'fc.weight': np.zeros((2, 4), np.float32)})
    with pytest.raises(PolicyFormatError, match='fc.weight'):
        CfCCell(config, wrong)
    with pytest.raises(PolicyFormatError):  # the file was saved for another mode
        CfCCell(dict(config, mode='pure'), tensors)
    with pytest.raises(PolicyFormatError, match='mode'):
        CfCCell(dict(config, mode='fast'), tensors)
