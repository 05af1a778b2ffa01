# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the LTC: torch model against ncps (the oracle), and its numpy runtime mirror."""

import itertools
import json

from lnn_control.models.ltc import _FusedSolve, _IndexSolve, LTC
from lnn_control.runtime.base import CELLS, PolicyFormatError
from lnn_control.runtime.ltc import LTCCell
from lnn_control.wirings import AutoNCP, Custom, FullyConnected, Wiring
import ncps.torch
import ncps.wirings
import numpy as np
import pytest
import torch

TOL = 1e-5


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny tensors: one thread is fastest and keeps the shared cores free."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# name -> (input size, factory of the ncps `units` argument). fc_dense crosses the size where
# LTC switches from synapse lists to dense matrices (recurrent and sensory); ncp and random
# come back from Wiring.from_ncps as Custom wirings.
WIRINGS = {
    'auto_ncp': (5, lambda: ncps.wirings.AutoNCP(10, 3, seed=3)),
    'fc': (4, lambda: 6),
    'fc_dense': (22, lambda: 22),
    'ncp': (3, lambda: ncps.wirings.NCP(4, 3, 2, 2, 2, 2, 2, seed=5)),
    'random': (4, lambda: ncps.wirings.Random(7, 2, sparsity_level=0.5, random_seed=9)),
}
MAPPINGS = [('affine', 'affine'), ('linear', 'none'), ('none', 'linear')]


def ncps_model(wiring='auto_ncp', mapping=('affine', 'affine'), implicit=True, mixed=False,
               unfolds=6, seed=0, return_sequences=True):
    """Build an ncps LTC with every trainable parameter perturbed (nothing left at init)."""
    torch.manual_seed(seed)
    size, units = WIRINGS[wiring]
    ref = ncps.torch.LTC(size, units(), return_sequences=return_sequences,
                         mixed_memory=mixed, input_mapping=mapping[0],
                         output_mapping=mapping[1], ode_unfolds=unfolds,
                         implicit_param_constraints=implicit)
    with torch.no_grad():
        for p in ref.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn_like(p))
    ref.rnn_cell.apply_weight_constraints()  # keeps identity-mode conductances >= 0
    return ref


def inputs(model, batch, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, model.input_size, generator=gen)
    ts = 0.05 + torch.rand(batch, steps, generator=gen)
    return x, ts


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def ncps_run(ref, x, ts=None):
    """Run ncps on a batch; with timespans one sample at a time (its batched form is wrong)."""
    if ts is None:
        return ref(x)
    outs = [ref(x[b:b + 1], timespans=ts[b:b + 1]) for b in range(x.shape[0])]
    y = torch.cat([o[0] for o in outs])
    if isinstance(outs[0][1], tuple):
        return y, tuple(torch.cat(parts) for parts in zip(*(o[1] for o in outs)))
    return y, torch.cat([o[1] for o in outs])


def ncps_name(name):
    return 'lstm.' + name[len('memory.'):] if name.startswith('memory.') else 'rnn_cell.' + name


# ---------------------------------------------------------------------------- ncps parity
@pytest.mark.parametrize('wiring,mapping,implicit,mixed,unfolds', [
    c for c in itertools.product(WIRINGS, MAPPINGS, (True, False), (False, True), (1, 6))
    # The dense case runs at full option coverage once, not 24 times.
    if c[0] != 'fc_dense' or (c[1] == MAPPINGS[0] and c[4] == 6)])
def test_from_ncps_outputs_and_gradients_match(wiring, mapping, implicit, mixed, unfolds):
    ref = ncps_model(wiring, mapping, implicit, mixed, unfolds)
    ours = LTC.from_ncps(ref)
    assert ours.get_config()['units'] == Wiring.from_ncps(ref._wiring).to_dict()
    x, ts = inputs(ours, 3, 7)
    const = torch.full(ts.shape, 0.3)
    for ts_ref, ts_ours in ((None, None), (const, 0.3), (ts, ts)):
        y_ref, h_ref = ncps_run(ref, x, ts_ref)
        y, h = ours(x, timespans=ts_ours)
        assert (y - y_ref).abs().max() <= TOL
        for a, b in zip(h if mixed else (h,), h_ref if mixed else (h_ref,)):
            assert (a - b).abs().max() <= TOL
    weights = torch.randn_like(y)
    g_ref = grads(ref, (ncps_run(ref, x, const)[0] * weights).sum())
    g = grads(ours, (ours(x, timespans=0.3)[0] * weights).sum())
    for name, grad in g.items():
        expected = g_ref[ncps_name(name)]
        assert (grad - expected).abs().max() <= 1e-4 * max(1.0, expected.abs().max()), name


def test_paths_are_the_ones_meant():
    """The parity matrix covers both solver forms: synapse lists and dense matrices."""
    sparse = LTC.from_ncps(ncps_model('auto_ncp'))
    dense = LTC.from_ncps(ncps_model('fc_dense'))
    assert sparse._sparse and sparse._sensory_sparse
    assert not dense._sparse and not dense._sensory_sparse


@pytest.mark.parametrize('wiring,mixed', [('auto_ncp', False), ('fc', True), ('fc_dense', False)])
def test_batched_per_step_timespans_equal_ncps_per_sample(wiring, mixed):
    ref = ncps_model(wiring, mixed=mixed)
    ours = LTC.from_ncps(ref)
    x, ts = inputs(ours, 4, 9)
    y, h = ours(x, timespans=ts)
    y3, _ = ours(x, timespans=ts.unsqueeze(-1))
    assert torch.equal(y, y3)
    for b in range(4):
        y_ref, h_ref = ref(x[b:b + 1], timespans=ts[b:b + 1])
        assert (y[b:b + 1] - y_ref).abs().max() <= TOL
        hb = ours.flat_state(h)[b:b + 1]
        h_ref = torch.cat(h_ref, -1) if mixed else h_ref
        assert (hb - h_ref).abs().max() <= TOL
    # The batched ncps call is wrong here (it fails or mixes up samples, issues #81-#83).
    try:
        y_bad, _ = ref(x, timespans=ts)
    except RuntimeError:
        return
    assert (y_bad - y).abs().max() > 1e-3


def test_same_seed_same_init_as_ncps():
    for units, wiring in ((6, 6), (AutoNCP(10, 3, seed=3), ncps.wirings.AutoNCP(10, 3, seed=3))):
        torch.manual_seed(4)
        ref = ncps.torch.LTC(5, wiring, mixed_memory=True)
        torch.manual_seed(4)
        ours = LTC(5, units, mixed_memory=True)
        ref_params = dict(ref.named_parameters())
        for name, p in ours.named_parameters():
            assert torch.equal(p, ref_params[ncps_name(name)]), name


def test_weight_constraints_as_ncps():
    ref = ncps_model('fc', implicit=False)
    with torch.no_grad():
        for name in ('w', 'sensory_w', 'cm', 'gleak'):
            getattr(ref.rnn_cell, name).sub_(0.8)
    ours = LTC.from_ncps(ref)
    ref.rnn_cell.apply_weight_constraints()
    ours.apply_weight_constraints()
    assert (ours.w >= 0).all() and (ours.cm >= 0).all()
    for name, p in ours.named_parameters():
        assert torch.equal(p, dict(ref.named_parameters())[ncps_name(name)])
    implicit = LTC(4, 5)
    with torch.no_grad():
        implicit.w.fill_(-1.0)
    implicit.apply_weight_constraints()
    assert (implicit.w == -1.0).all()


def test_from_ncps_refuses_edited_mask():
    ref = ncps_model('auto_ncp')
    with torch.no_grad():
        ref.rnn_cell.sparsity_mask.fill_(1.0)
    with pytest.raises(ValueError, match='sparsity_mask'):
        LTC.from_ncps(ref)


def test_fused_solver_gradcheck():
    torch.manual_seed(0)
    b, t, n, s = 2, 3, 4, 5
    v0 = torch.randn(b, n, dtype=torch.double, requires_grad=True)
    bias = torch.cat([0.3 * torch.randn(b, t, n), 2.0 + torch.rand(b, t, n)], -1).double()
    c = (1.0 + torch.rand(b, t, n, dtype=torch.double))
    gs = torch.randn(n, s, dtype=torch.double)
    nms = torch.randn(s, dtype=torch.double)
    m = torch.rand(s, 2 * n, dtype=torch.double)
    args = [v0, bias.requires_grad_(), c.requires_grad_(), gs.requires_grad_(),
            nms.requires_grad_(), m.requires_grad_()]
    assert torch.autograd.gradcheck(lambda *a: _FusedSolve.apply(*a, 3), args)


def test_index_solver_gradcheck():
    torch.manual_seed(0)
    b, t, n, s = 2, 3, 4, 7
    v0 = torch.randn(b, n, dtype=torch.double, requires_grad=True)
    bias = torch.cat([0.3 * torch.randn(b, t, n), 2.0 + torch.rand(b, t, n)], -1).double()
    c = (1.0 + torch.rand(b, t, n, dtype=torch.double))
    src = torch.tensor([0, 1, 1, 2, 3, 3, 0])
    dest = torch.tensor([1, 0, 2, 2, 1, 3, 3])
    sig = torch.randn(s, dtype=torch.double)
    nms = torch.randn(s, dtype=torch.double)
    w2 = torch.rand(2 * s, dtype=torch.double)
    args = [v0, bias.requires_grad_(), c.requires_grad_(), sig.requires_grad_(),
            nms.requires_grad_(), w2.requires_grad_()]
    assert torch.autograd.gradcheck(
        lambda *a: _IndexSolve.apply(*a, src, torch.cat([dest, dest + n]), 3), args)


def test_large_wiring_trains_through_index_gathers_like_ncps():
    """From about 64 units the solver gathers and scatters by index: same numbers."""
    torch.manual_seed(0)
    ref = ncps.torch.LTC(5, ncps.wirings.AutoNCP(100, 4, seed=3))
    ours = LTC.from_ncps(ref)
    small = LTC.from_ncps(ncps_model('auto_ncp'))
    assert ours._sparse and ours._index and not small._index
    x, ts = inputs(ours, 2, 3)
    y_ref, h_ref = ncps_run(ref, x, ts)
    y, h = ours(x, timespans=ts)
    assert (y - y_ref).abs().max() <= TOL and (h - h_ref).abs().max() <= TOL
    weights = torch.randn_like(y)
    g_ref = grads(ref, (ncps_run(ref, x, ts)[0] * weights).sum())
    g = grads(ours, (ours(x, timespans=ts)[0] * weights).sum())
    for name, grad in g.items():
        expected = g_ref[ncps_name(name)]
        assert (grad - expected).abs().max() <= 1e-4 * max(1.0, expected.abs().max()), name


# ---------------------------------------------------------------------------- API
def test_timespans_forms_and_bad_shape():
    model = LTC(3, AutoNCP(8, 2, seed=1))
    x = torch.randn(2, 5, 3)
    y_none, _ = model(x)
    for ts in (1.0, torch.tensor(1.0), torch.ones(2, 5), torch.ones(2, 5, 1)):
        assert torch.allclose(model(x, timespans=ts)[0], y_none, atol=1e-6)
    for bad in (torch.ones(5), torch.ones(2, 5, 2), torch.ones(3, 5), torch.ones(2, 4)):
        with pytest.raises(ValueError, match='timespans'):
            model(x, timespans=bad)
    with pytest.raises(ValueError, match='x must be'):
        model(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match='state'):
        model(x, torch.zeros(3, 8))


def test_state_forms_and_return_sequences():
    torch.manual_seed(0)
    model = LTC(3, 6, mixed_memory=True)
    x = torch.randn(2, 6, 3)
    y, h = model(x)
    assert y.shape == (2, 6, 6) and isinstance(h, tuple)
    flat = model.flat_state(h)
    assert flat.shape == (2, model.state_size) == (2, 12)
    # Continuing from the tuple or from the flat form is the same.
    y_t, _ = model(x, h)
    y_f, _ = model(x, flat)
    assert torch.equal(y_t, y_f)
    # Two halves of a sequence chained through h equal the whole sequence.
    y1, h1 = model(x[:, :3])
    y2, _ = model(x[:, 3:], h1)
    assert torch.allclose(torch.cat([y1, y2], 1), y, atol=1e-6)
    last = LTC.from_config({**model.get_config(), 'return_sequences': False})
    last.load_state_dict(model.state_dict())
    y_last, _ = last(x)
    assert y_last.shape == (2, 6) and torch.allclose(y_last, y[:, -1])


def test_config_round_trip_and_state_dict():
    torch.manual_seed(0)
    model = LTC(5, AutoNCP(12, 3, seed=7), mixed_memory=True, input_mapping='linear',
                output_mapping='none', ode_unfolds=3, implicit_param_constraints=False)
    config = json.loads(json.dumps(model.get_config()))
    clone = LTC.from_config(config)
    clone.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 4, 5)
    assert torch.equal(model(x)[0], clone(x)[0])
    assert Wiring.from_dict(config['units']).to_dict() == AutoNCP(12, 3, seed=7).build(5).to_dict()
    # Only parameters are saved: masks and synapse lists come from the wiring in the config.
    assert set(model.state_dict()) == {k for k, _ in model.named_parameters()}
    assert 'input_b' not in model.state_dict() and 'output_w' not in model.state_dict()
    # units as an int, a Wiring or its dict give the same architecture.
    for units in (6, FullyConnected(6), FullyConnected(6).to_dict()):
        assert LTC(3, units).get_config() == LTC(3, 6).get_config()
    with pytest.raises(ValueError, match='input_mapping'):
        LTC(3, 6, input_mapping='relu')


@pytest.mark.parametrize('units', [AutoNCP(10, 3, seed=2), 22])
def test_masked_synapses_have_no_effect(units):
    torch.manual_seed(0)
    model = LTC(21, units)
    assert model._sparse == (not isinstance(units, int))
    wiring = model.wiring
    x, ts = inputs(model, 2, 6)
    y, _ = model(x, timespans=ts)
    g = grads(model, (y ** 2).sum())
    masks = {'': torch.as_tensor(wiring.adjacency == 0),
             'sensory_': torch.as_tensor(wiring.sensory_adjacency == 0)}
    for prefix, absent in masks.items():
        for name in ('w', 'sigma', 'mu', 'erev'):
            grad = g[prefix + name]
            assert (grad[absent] == 0).all() and (grad[~absent] != 0).any(), prefix + name
    if isinstance(units, int):  # a fully connected wiring has no absent synapse to test
        assert not masks[''].any()
        return
    with torch.no_grad():
        for prefix, absent in masks.items():
            for name in ('w', 'sigma', 'mu', 'erev'):
                p = getattr(model, prefix + name)
                p[absent] = 50.0 * torch.randn(int(absent.sum()))
    assert torch.equal(model(x, timespans=ts)[0], y)


def test_custom_wiring_without_recurrent_synapses():
    adjacency = np.zeros((4, 4), dtype=int)
    sensory = np.ones((3, 4), dtype=int)
    model = LTC(3, Custom(adjacency.tolist(), sensory.tolist(), 2))
    x = torch.randn(2, 5, 3)
    y, _ = model(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and (model.w.grad == 0).all()


# ---------------------------------------------------------------------------- runtime
def tensors_of(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def runtime_of(model):
    cell = CELLS['ltc'](json.loads(json.dumps(model.get_config())), tensors_of(model))
    assert isinstance(cell, LTCCell)
    return cell


@pytest.mark.parametrize('wiring,mapping,implicit,mixed', [
    ('auto_ncp', MAPPINGS[0], True, False),
    ('auto_ncp', MAPPINGS[1], False, True),
    ('fc', MAPPINGS[2], True, True),
    ('fc_dense', MAPPINGS[0], False, False),
    ('ncp', MAPPINGS[0], True, False),
])
def test_runtime_rollout_matches_torch(wiring, mapping, implicit, mixed):
    model = LTC.from_ncps(ncps_model(wiring, mapping, implicit, mixed))
    cell = runtime_of(model)
    steps = 1000
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, model.input_size)).astype(np.float32)
    dts = rng.uniform(0.005, 0.5, steps).astype(np.float32)
    with torch.no_grad():
        y_ref, h_ref = model(torch.from_numpy(xs)[None], timespans=torch.from_numpy(dts)[None])
    h = cell.initial_state()
    assert h.shape == (cell.state_size,) == (model.state_size,)
    ys = []
    for x, dt in zip(xs, dts):
        y, h = cell.step(x, h, float(dt))
        ys.append(y)
    assert y.dtype == np.float32 and h.dtype == np.float32
    assert np.abs(np.stack(ys) - y_ref[0].numpy()).max() <= TOL
    assert np.abs(h - model.flat_state(h_ref)[0].numpy()).max() <= TOL


@pytest.mark.parametrize('wiring,mapping,implicit,mixed', [
    ('auto_ncp', MAPPINGS[0], True, False),
    ('auto_ncp', MAPPINGS[1], False, True),
    ('random', MAPPINGS[2], True, False),
    ('fc', MAPPINGS[0], True, True),
])
def test_runtime_sparse_form_matches_torch_and_the_dense_form(wiring, mapping, implicit,
                                                              mixed):
    """The synapse-list form (chosen for large networks) gives the torch model's numbers."""
    model = LTC.from_ncps(ncps_model(wiring, mapping, implicit, mixed))
    config, tensors = json.loads(json.dumps(model.get_config())), tensors_of(model)
    cells = {form: LTCCell(config, tensors, form=form) for form in ('sparse', 'dense')}
    assert {c.form for c in cells.values()} == {'sparse', 'dense'}
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((300, model.input_size)).astype(np.float32)
    dts = rng.uniform(0.005, 0.5, 300).astype(np.float32)
    with torch.no_grad():
        y_ref, h_ref = model(torch.from_numpy(xs)[None], timespans=torch.from_numpy(dts)[None])
    states = {form: cell.initial_state() for form, cell in cells.items()}
    for t, (x, dt) in enumerate(zip(xs, dts)):
        outs = {}
        for form, cell in cells.items():
            outs[form], states[form] = cell.step(x, states[form], float(dt))
        assert np.abs(outs['sparse'] - y_ref[0, t].numpy()).max() <= TOL
        assert np.abs(outs['sparse'] - outs['dense']).max() <= TOL
    assert np.abs(states['sparse'] - model.flat_state(h_ref)[0].numpy()).max() <= TOL
    tau = cells['sparse'].time_constant
    assert np.allclose(tau, cells['dense'].time_constant, rtol=1e-4)


def test_runtime_form_is_chosen_by_size():
    """Fused dense matrices for small networks, synapse lists where they would be O(S N)."""
    small, large = LTC(17, AutoNCP(19, 6, seed=1)), LTC(17, AutoNCP(128, 6, seed=1))
    assert runtime_of(small).form == 'dense'
    cell = runtime_of(large)
    assert cell.form == 'sparse'
    # Nothing of size (S, N) is kept: the arrays grow with the synapses, not their product.
    synapses = int((large.wiring.adjacency != 0).sum())
    arrays = [a for v in vars(cell).values() for a in (v if isinstance(v, tuple) else (v,))
              if isinstance(a, np.ndarray)]
    biggest = max(a.size for a in arrays)
    assert biggest < 4 * (synapses + large.units)
    with pytest.raises(ValueError, match='form'):
        LTCCell(large.get_config(), tensors_of(large), form='csr')


def test_runtime_step_returns_fresh_arrays_and_refuses_bad_dt():
    cell = runtime_of(LTC(3, AutoNCP(8, 2, seed=1)))
    x = np.ones(3, dtype=np.float32)
    h0 = cell.initial_state()
    y1, h1 = cell.step(x, h0, 0.1)
    y2, h2 = cell.step(x, h1, 0.1)
    assert not np.shares_memory(h1, h2) and not np.shares_memory(y1, y2)
    assert not np.array_equal(h1, h2) and (h0 == 0).all()
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match='dt'):
            cell.step(x, h2, bad)


def test_runtime_refuses_mismatched_tensors():
    model = LTC(4, AutoNCP(10, 3, seed=3), mixed_memory=True)
    config, tensors = model.get_config(), tensors_of(model)
    missing = dict(tensors)
    del missing['memory.recurrent_map.weight']
    extra = {**tensors, 'sparsity_mask': np.ones((10, 10), np.float32)}
    wrong = {**tensors, 'sigma': np.ones((10, 9), np.float32)}
    for bad, what in ((missing, 'missing'), (extra, 'unexpected'), (wrong, "'sigma'")):
        with pytest.raises(PolicyFormatError, match=what):
            LTCCell(config, bad)
    # A config that implies other tensors than the file holds.
    with pytest.raises(PolicyFormatError):
        LTCCell({**config, 'mixed_memory': False}, tensors)
    with pytest.raises(PolicyFormatError, match='input_b'):
        LTCCell({**config, 'input_mapping': 'linear'}, tensors)
    with pytest.raises(PolicyFormatError, match='output_mapping'):
        LTCCell({**config, 'output_mapping': 'tanh'}, tensors)


def direct_time_constant(model, x, v):
    """tau_i = cm_i / (gleak_i + sum of synaptic and sensory conductances), from the params."""
    p = {k: t.detach().double() for k, t in model.named_parameters()}
    sp = torch.nn.functional.softplus
    u = x * p['input_w'] + p['input_b']
    adj = torch.as_tensor(model.wiring.adjacency != 0)
    sadj = torch.as_tensor(model.wiring.sensory_adjacency != 0)
    syn = sp(p['w']) * torch.sigmoid(p['sigma'] * (v[:, None] - p['mu'])) * adj
    sens_z = p['sensory_sigma'] * (u[:, None] - p['sensory_mu'])
    sens = sp(p['sensory_w']) * torch.sigmoid(sens_z) * sadj
    return (sp(p['cm']) / (sp(p['gleak']) + syn.sum(0) + sens.sum(0))).numpy()


def test_time_constant_is_the_liquid_time_constant():
    torch.manual_seed(0)
    model = LTC(4, AutoNCP(10, 3, seed=3), ode_unfolds=1)
    cell = runtime_of(model)
    assert cell.time_constant is None
    rng = np.random.default_rng(0)
    h = cell.initial_state()
    for dt in rng.uniform(0.001, 1.0, 20):
        x = rng.standard_normal(4).astype(np.float32)
        h_before = h
        y, h = cell.step(x, h, float(dt))
        tau = cell.time_constant
        assert tau.shape == (10,) and np.isfinite(tau).all() and (tau > 0).all()
        # With one unfold the conductances are those of the state the step started from.
        expected = direct_time_constant(model, torch.from_numpy(x).double(),
                                        torch.from_numpy(h_before).double())
        assert np.allclose(tau, expected, rtol=1e-4)
    # Six unfolds, mixed memory: still positive and finite.
    cell = runtime_of(LTC(4, 7, mixed_memory=True))
    h = cell.initial_state()
    for _ in range(5):
        _, h = cell.step(rng.standard_normal(4), h, 0.05)
    assert np.isfinite(cell.time_constant).all() and (cell.time_constant > 0).all()


@pytest.mark.parametrize('form_units', [10, 80])   # the dense and the sparse runtime form
def test_time_unit_rescales_time_in_torch_runtime_and_time_constants(form_units):
    """time_unit u: a step of dt seconds is a step of dt / u of the u = 1 cell, everywhere."""
    torch.manual_seed(0)
    wiring = AutoNCP(form_units, 3, seed=3)
    base = LTC(4, wiring)
    scaled = LTC(4, wiring, time_unit=0.05)
    scaled.load_state_dict(base.state_dict())
    assert scaled.get_config()['time_unit'] == 0.05
    assert LTC(**json.loads(json.dumps(scaled.get_config()))).time_unit == 0.05
    rng = np.random.default_rng(1)
    xs = torch.from_numpy(rng.standard_normal((1, 60, 4)).astype(np.float32))
    dts = rng.uniform(0.02, 0.08, (1, 60)).astype(np.float32)     # irregular seconds
    with torch.no_grad():
        y_scaled, _ = scaled(xs, timespans=torch.from_numpy(dts))
        y_base, _ = base(xs, timespans=torch.from_numpy(dts / 0.05))
        y_slow, _ = base(xs, timespans=torch.from_numpy(dts))
    assert torch.allclose(y_scaled, y_base, atol=1e-5)
    assert not torch.allclose(y_scaled, y_slow, atol=1e-2)     # the unit matters
    cell, ref = runtime_of(scaled), runtime_of(base)
    assert cell.time_unit == 0.05 and ref.time_unit == 1.0
    h, h_ref = cell.initial_state(), ref.initial_state()
    ys = []
    for t in range(60):
        y, h = cell.step(xs[0, t].numpy(), h, float(dts[0, t]))
        _, h_ref = ref.step(xs[0, t].numpy(), h_ref, float(dts[0, t] / 0.05))
        ys.append(y)
    assert np.abs(np.stack(ys) - y_scaled[0].numpy()).max() <= TOL
    # The same state in seconds: tau of the scaled cell is 0.05 x the unit cell's tau.
    assert np.allclose(cell.time_constant, 0.05 * ref.time_constant, rtol=1e-4)
    # An LTC saved before time_unit existed loads as time_unit 1.
    config = {k: v for k, v in base.get_config().items() if k != 'time_unit'}
    assert CELLS['ltc'](json.loads(json.dumps(config)), tensors_of(base)).time_unit == 1.0


@pytest.mark.parametrize('bad', [0.0, -0.05, float('nan'), float('inf')])
def test_time_unit_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match='time_unit'):
        LTC(4, 6, time_unit=bad)
    model = LTC(4, 6)
    config = {**json.loads(json.dumps(model.get_config())), 'time_unit': bad}
    with pytest.raises(ValueError, match='time_unit'):
        CELLS['ltc'](config, tensors_of(model))


def test_neuron_labels():
    wiring = AutoNCP(10, 3, seed=3)
    cell = runtime_of(LTC(4, wiring))
    labels = cell.neuron_labels()
    assert len(labels) == cell.state_size == 10
    assert labels[:3] == ['motor:0', 'motor:1', 'motor:2']
    assert labels == [f'{wiring.neuron_type(i)}:{i}' for i in range(10)]
    assert {lab.split(':')[0] for lab in labels} == {'motor', 'command', 'inter'}
    mixed = runtime_of(LTC(4, 5, mixed_memory=True)).neuron_labels()
    assert mixed == [f'motor:{i}' for i in range(5)] + [f'memory:{i}' for i in range(5)]


def test_policy_file_round_trip(tmp_path):
    from lnn_control.models.policy import load_model, save_policy
    from lnn_control.runtime.policy import load_policy
    torch.manual_seed(0)
    model = LTC(5, AutoNCP(12, 3, seed=1), mixed_memory=True)
    path = save_policy(model, tmp_path / 'ltc.safetensors')
    policy, clone = load_policy(path), load_model(path)
    xs = np.random.default_rng(0).standard_normal((20, 5)).astype(np.float32)
    ys = np.stack([policy.step(x, 0.1) for x in xs])
    with torch.no_grad():
        y_ref, _ = clone(torch.from_numpy(xs)[None], timespans=0.1)
    assert np.abs(ys - y_ref[0].numpy()).max() <= TOL
