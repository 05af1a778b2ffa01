# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""What every torch model shares: input casting, the single step, unbatched input, registry."""

from lnn_control import models
from lnn_control.models import CfC, GRU, LSTM, LTC, MLP
from lnn_control.models.base import MODELS
from lnn_control.wirings import AutoNCP
from lnn_control.wirings import Wiring
import numpy as np
import pytest
import torch

BUILDERS = {
    'cfc': lambda: CfC(3, 5, proj_size=2),
    'cfc_wired': lambda: CfC(3, AutoNCP(9, 2, seed=1), mixed_memory=True),
    'ltc': lambda: LTC(3, AutoNCP(8, 2, seed=2)),
    'mlp': lambda: MLP(3, 2, hidden_sizes=(8,), frames=2, dt_input=True),
    'gru': lambda: GRU(3, 2, hidden_size=6, dt_input=True),
    'lstm': lambda: LSTM(3, 2, hidden_size=6, dt_input=True),
}
KINDS = sorted(BUILDERS)


def _diff(a, b):
    if isinstance(a, tuple):
        return max(_diff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


@pytest.mark.parametrize('kind', KINDS)
def test_numpy_and_float64_inputs_are_cast(kind):
    torch.manual_seed(0)
    model = BUILDERS[kind]()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3))  # float64
    ts = rng.uniform(0.1, 1.0, size=(2, 5))
    with torch.no_grad():
        y_ref, h_ref = model(torch.tensor(x, dtype=torch.float32),
                             timespans=torch.tensor(ts, dtype=torch.float32))
        for xs, tss in ((x, ts), (torch.from_numpy(x), torch.from_numpy(ts)),
                        (x.tolist(), ts[..., None])):
            y, h = model(xs, timespans=tss)
            assert y.dtype == torch.float32
            assert _diff(y, y_ref) <= 1e-6 and _diff(h, h_ref) <= 1e-6
        scalar = model(x, timespans=np.float64(0.5))[0]
        assert _diff(scalar, model(x, timespans=0.5)[0]) == 0.0
        model.double()
        assert model(torch.tensor(x, dtype=torch.float32), timespans=ts)[0].dtype == \
            torch.float64


def test_matching_inputs_are_not_copied():
    model = LTC(3, 4)
    x = torch.randn(1, 2, 3, requires_grad=True)
    ts = torch.ones(1, 2)
    cast_x, cast_ts = model.cast_inputs(x, ts)
    assert cast_x is x and cast_ts is ts
    model(x, timespans=ts)[0].sum().backward()
    assert x.grad is not None
    with pytest.raises(ValueError, match='timespans'):
        model(x, timespans=np.ones((2, 2)))  # still checked after the cast


@pytest.mark.parametrize('kind', KINDS)
def test_step_unrolls_forward(kind):
    torch.manual_seed(2)
    model = BUILDERS[kind]()
    x, ts = torch.randn(2, 6, 3), torch.rand(2, 6) + 0.1
    with torch.no_grad():
        y_seq, h_seq = model(x, timespans=ts)
        h, ys = None, []
        for t in range(6):
            dt = [ts[:, t], ts[:, t:t + 1], ts[:, t].numpy()][t % 3]  # (B,), (B, 1), numpy
            y, h = model.step(x[:, t], h, dt)
            ys.append(y)
    y_seq = y_seq if y_seq.dim() == 3 else y_seq[:, None]
    assert _diff(torch.stack(ys, 1)[:, -y_seq.shape[1]:], y_seq) <= 1e-5
    assert _diff(h, h_seq) <= 1e-5
    with pytest.raises(ValueError, match='step'):
        model.step(x)


@pytest.mark.parametrize('mixed', [False, True])
def test_ltc_takes_unbatched_input(mixed):
    torch.manual_seed(3)
    model = LTC(3, AutoNCP(8, 2, seed=2), mixed_memory=mixed)
    x, ts = torch.randn(7, 3), torch.rand(7) + 0.1
    h0 = torch.rand(8)
    h0 = (h0, torch.rand(8)) if mixed else h0
    batched = (tuple(p[None] for p in h0) if mixed else h0[None])
    with torch.no_grad():
        for ts_form in (ts, ts[:, None]):
            y, h = model(x, h0, ts_form)
            y_ref, h_ref = model(x[None], batched, ts[None])
            assert y.shape == (7, 2)
            assert _diff(y, y_ref[0]) <= 1e-6
            assert _diff(h, tuple(p[0] for p in h_ref) if mixed else h_ref[0]) <= 1e-6


def test_registries_take_only_a_class_own_kind():
    class Tweaked(CfC):  # inherits kind 'cfc'
        pass

    class TweakedWiring(AutoNCP):
        pass

    assert MODELS['cfc'] is CfC
    assert type(Wiring.from_dict(TweakedWiring(9, 2).to_dict())) is AutoNCP

    class Declared(MLP):
        kind = 'declared_for_test'

    try:
        assert MODELS['declared_for_test'] is Declared
    finally:
        del MODELS['declared_for_test']
    assert set(MODELS) >= {'cfc', 'ltc', 'mlp', 'gru', 'lstm'}
    assert models.MODELS is MODELS


def test_from_ncps_takes_cells():
    nt = pytest.importorskip('ncps.torch')
    nw = pytest.importorskip('ncps.wirings')
    torch.manual_seed(4)
    x, h, dt = torch.randn(3, 4), torch.randn(3, 8), torch.rand(3, 1) + 0.1
    for ref in (nt.CfCCell(4, 8, backbone_layers=0), nt.WiredCfCCell(4, nw.AutoNCP(8, 2))):
        ours = CfC.from_ncps(ref)
        assert type(ours) is CfC and not ours.return_sequences
        with torch.no_grad():
            assert _diff(ours.step(x, h, dt), ref(x, h, dt)) <= 1e-5
    ref = nt.LTCCell(nw.FullyConnected(8, 3), 4)
    ours = LTC.from_ncps(ref)
    with torch.no_grad():
        assert _diff(ours.step(x, h.abs(), dt), ref(x, h.abs(), dt)) <= 1e-5
