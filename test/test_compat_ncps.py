# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""lnn_control.compat.ncps against ncps 1.0.1 itself: same calls, same numbers, bugs fixed."""

import itertools

from lnn_control import models
from lnn_control import wirings as lnn_wirings
from lnn_control.compat import ncps as compat
from lnn_control.compat.ncps import torch as ct
from lnn_control.compat.ncps import wirings as cw
from lnn_control.models import save_policy
from lnn_control.runtime import load_policy
import numpy as np
import pytest
import torch

nt = pytest.importorskip('ncps.torch')
nw = pytest.importorskip('ncps.wirings')

TOL = 1e-5


def _diff(a, b):
    if isinstance(a, tuple):
        return max(_diff(x, y) for x, y in zip(a, b))
    return (a - b).abs().max().item()


def _randomise(module, std=0.4):
    """Make every trainable ncps weight count (its init leaves some gates saturated)."""
    with torch.no_grad():
        for p in module.parameters():
            if p.requires_grad:
                p.normal_(0.0, std)
    return module


def _load_weights(ours, ref):
    """Give the compat model (built from the same arguments) the ncps module's weights."""
    lnn_class = models.CfC if isinstance(ours, models.CfC) else models.LTC
    ours.load_state_dict(lnn_class.from_ncps(ref).state_dict())
    return ours


def test_exports_are_those_of_ncps():
    assert sorted(ct.__all__) == sorted(nt.__all__)
    for name in ('Wiring', 'FullyConnected', 'Random', 'NCP', 'AutoNCP'):
        assert hasattr(cw, name) and hasattr(nw, name)
        assert issubclass(getattr(cw, name), cw.Wiring)
        assert issubclass(getattr(cw, name), lnn_wirings.Wiring)
    assert compat.wirings is cw
    # Compat classes are lnn_control models but never replace them in the registries.
    assert models.MODELS['cfc'] is models.CfC and models.MODELS['ltc'] is models.LTC
    assert type(lnn_wirings.Wiring.from_dict(cw.AutoNCP(10, 2).to_dict())) is lnn_wirings.AutoNCP


# ---------------------------------------------------------------------- sequence models
def _models(kind, batch_first, seq, mixed):
    """Build an ncps model and a compat one with the same (keyword) arguments."""
    if kind == 'cfc_fc':
        kw = {'proj_size': 3, 'return_sequences': seq, 'batch_first': batch_first,
              'mixed_memory': mixed, 'backbone_layers': 2, 'backbone_units': 8}
        return _randomise(nt.CfC(4, 6, **kw)), ct.CfC(4, 6, **kw)
    kw = {'return_sequences': seq, 'batch_first': batch_first, 'mixed_memory': mixed}
    if kind == 'cfc_wired':
        return (_randomise(nt.CfC(4, nw.AutoNCP(10, 2, seed=3), mode='no_gate', **kw)),
                ct.CfC(4, cw.AutoNCP(10, 2, seed=3), mode='no_gate', **kw))
    if kind == 'ltc_fc':
        return nt.LTC(4, 5, **kw), ct.LTC(4, 5, **kw)
    return nt.LTC(4, nw.NCP(3, 3, 2, 2, 2, 2, 2, seed=4), **kw), \
        ct.LTC(4, cw.NCP(3, 3, 2, 2, 2, 2, 2, seed=4), **kw)


SEQUENCE_CASES = list(itertools.product(['cfc_fc', 'cfc_wired', 'ltc_fc', 'ltc_ncp'],
                                        [True, False], [True, False], [False, True]))


@pytest.mark.parametrize('kind,batch_first,seq,mixed', SEQUENCE_CASES)
def test_sequence_models_match_ncps(kind, batch_first, seq, mixed):
    torch.manual_seed(SEQUENCE_CASES.index((kind, batch_first, seq, mixed)))
    ref, ours = _models(kind, batch_first, seq, mixed)
    _load_weights(ours, ref)
    assert ours.batch_first == batch_first and ours.return_sequences == seq
    batch, steps, n = 3, 7, ours.units
    x = torch.randn(batch, steps, 4) if batch_first else torch.randn(steps, batch, 4)
    ts = torch.rand(x.shape[:2]) * 1.5 + 0.1  # (B, T) or (T, B)
    h0 = torch.randn(batch, n) * 0.5
    hxs = [None, (h0, torch.randn(batch, n) * 0.5) if mixed else h0]
    b_dim = 0 if batch_first else 1

    def sample(t, b):
        return None if t is None else t.narrow(b_dim, b, 1)

    def state(h, b):
        if h is None:
            return None
        return tuple(p[b:b + 1] for p in h) if isinstance(h, tuple) else h[b:b + 1]

    with torch.no_grad():
        for hx, timespans in itertools.product(hxs, [None, ts, ts.unsqueeze(-1)]):
            y, h = ours(x, hx, timespans)
            if timespans is None:  # ncps is right for any batch here
                y_ref, h_ref = ref(x, hx)
                assert y.shape == y_ref.shape
                assert _diff(y, y_ref) <= TOL and _diff(h, h_ref) <= TOL
            # Per-sample timespans: ncps is right only for B = 1 (issues #81-#83), so each
            # sample run alone is the oracle of the batched run.
            for b in range(batch):
                y_ref, h_ref = ref(sample(x, b), state(hx, b), sample(timespans, b))
                y_b = y.narrow(b_dim, b, 1) if seq else y[b:b + 1]
                assert _diff(y_b, y_ref) <= TOL and _diff(state(h, b), h_ref) <= TOL
        if not batch_first:  # (T,) timespans: one elapsed time per step for the batch
            per_step = torch.rand(steps) + 0.2
            y_ref, h_ref = ref(x, hxs[1], per_step)
            y, h = ours(x, hxs[1], per_step)
            assert _diff(y, y_ref) <= TOL and _diff(h, h_ref) <= TOL


def test_ncps_batched_timespans_are_wrong_and_ours_are_not():
    # The bug the compat layer does not copy: with B == units, ncps broadcasts the (B,)
    # timespans of a step over the neurons instead of the samples.
    torch.manual_seed(5)
    ref = _randomise(nt.CfC(3, 4, backbone_layers=0))
    ours = ct.CfC.from_ncps(ref)
    x, ts = torch.randn(4, 6, 3), torch.rand(4, 6) * 2.0 + 0.1
    with torch.no_grad():
        y_bug = ref(x, timespans=ts)[0]
        y = ours(x, timespans=ts)[0]
        y_alone = torch.cat([ref(x[b:b + 1], timespans=ts[b:b + 1])[0] for b in range(4)])
    assert _diff(y, y_alone) <= TOL
    assert _diff(y_bug, y_alone) > 1e-3


def test_positional_arguments_follow_ncps_order():
    torch.manual_seed(6)
    args = (5, 7, 3, False, False, True, 'pure', 'silu', 9, 2, 0.0)
    ref, ours = _randomise(nt.CfC(*args)), ct.CfC(*args)
    assert (ours.proj_size, ours.return_sequences, ours.batch_first, ours.mixed_memory,
            ours.mode, ours.activation, ours.backbone_units, ours.backbone_layers) == \
        (ref.proj_size, ref.return_sequences, ref.batch_first, ref.use_mixed,
         ref.rnn_cell.mode, 'silu', 9, 2)
    _load_weights(ours, ref)
    x = torch.randn(6, 2, 5)  # time-major: batch_first is the 5th positional argument
    h = (torch.randn(2, 7), torch.randn(2, 7))
    with torch.no_grad():
        assert _diff(ours(x, h)[0], ref(x, h)[0]) <= TOL
        assert ours(x, h)[0].shape == (2, 3)

    wiring_args = (3, 3, 2, 2, 2, 2, 2, 8)
    args = (4, None, False, False, True, 'linear', 'none', 3, 1e-6, False)
    ref = nt.LTC(args[0], nw.NCP(*wiring_args), *args[2:])
    ours = ct.LTC(args[0], cw.NCP(*wiring_args), *args[2:])
    cell = ref.rnn_cell
    assert (ours.return_sequences, ours.batch_first, ours.mixed_memory, ours.input_mapping,
            ours.output_mapping, ours.ode_unfolds, ours.epsilon,
            ours.implicit_param_constraints) == \
        (ref.return_sequences, ref.batch_first, ref.use_mixed, cell._input_mapping,
         cell._output_mapping, cell._ode_unfolds, cell._epsilon,
         cell._implicit_param_constraints)
    _load_weights(ours, ref)
    x = torch.randn(5, 2, 4)
    h = (torch.rand(2, 8), torch.rand(2, 8))
    with torch.no_grad():
        assert _diff(ours(x, h), ref(x, h)) <= TOL


@pytest.mark.parametrize('model', ['cfc', 'ltc'])
@pytest.mark.parametrize('batch_first', [True, False])
def test_unbatched_input_matches_ncps(model, batch_first):
    torch.manual_seed(7)
    if model == 'cfc':
        ref = _randomise(nt.CfC(3, nw.AutoNCP(9, 2, seed=1), batch_first=batch_first))
        ours = ct.CfC(3, cw.AutoNCP(9, 2, seed=1), batch_first=batch_first)
    else:
        ref = nt.LTC(3, 6, batch_first=batch_first, mixed_memory=True)
        ours = ct.LTC(3, 6, batch_first=batch_first, mixed_memory=True)
    _load_weights(ours, ref)
    x, ts = torch.randn(8, 3), torch.rand(8) + 0.1
    mixed = model == 'ltc'
    hx = (torch.rand(6) * 0.3, torch.rand(6) * 0.3) if mixed else torch.rand(9) * 0.3
    with torch.no_grad():
        for h, timespans in itertools.product([None, hx], [None, ts]):
            y_ref, h_ref = ref(x, h, timespans)
            y, h_out = ours(x, hx=h, timespans=timespans)  # ncps's keyword names
            assert y.shape == y_ref.shape and y.dim() == 2
            assert _diff(y, y_ref) <= TOL and _diff(h_out, h_ref) <= TOL


# ---------------------------------------------------------------------- cells
@pytest.mark.parametrize('mode,layers,act', [('default', 1, 'lecun_tanh'), ('pure', 0, 'relu'),
                                             ('no_gate', 2, 'gelu'), ('default', 2, 'tanh')])
def test_cfc_cell_matches_ncps(mode, layers, act):
    torch.manual_seed(8)
    args = (4, 6, mode, act, 10, layers, 0.0)
    ref, ours = _randomise(nt.CfCCell(*args)), ct.CfCCell(*args)
    ours.load_state_dict(ct.CfCCell.from_ncps(ref).state_dict())
    assert ours.hidden_size == ref.hidden_size
    x, hx = torch.randn(3, 4), torch.randn(3, 6)
    ts = torch.rand(3, 1) + 0.1
    with torch.no_grad():
        for t in (1.0, 0.3, ts):
            out, h = ours(x, hx, t)
            out_ref, h_ref = ref(x, hx, t)
            assert out.shape == (3, 6)
            assert _diff(out, out_ref) <= TOL and _diff(h, h_ref) <= TOL
        assert _diff(ours(x, hx, ts[:, 0])[0], out_ref) <= TOL  # (B,) as (B, 1)
        assert _diff(ours(x, None, 1.0)[0], ref(x, torch.zeros(3, 6), 1.0)[0]) <= TOL


def test_masked_cfc_cell_matches_ncps():
    torch.manual_seed(9)
    rng = np.random.default_rng(0)
    mask = np.concatenate([rng.integers(0, 2, (4, 5)), np.ones((5, 5))]).astype(np.int32)
    ref = _randomise(nt.CfCCell(4, 5, backbone_layers=0, sparsity_mask=mask))
    ours = ct.CfCCell(4, 5, backbone_layers=0, sparsity_mask=mask)
    ours.load_state_dict(ct.CfCCell.from_ncps(ref).state_dict())
    x, hx = torch.randn(2, 4), torch.randn(2, 5)
    with torch.no_grad():
        assert _diff(ours(x, hx, 0.7), ref(x, hx, 0.7)) <= TOL
    with pytest.raises(ValueError, match='backbone_layers=0'):
        ct.CfCCell(4, 5, sparsity_mask=mask)
    with pytest.raises(ValueError, match='recurrent block'):
        ct.CfCCell(4, 5, backbone_layers=0, sparsity_mask=np.zeros((9, 5)))


@pytest.mark.parametrize('mode', ['default', 'pure'])
def test_wired_cfc_cell_matches_ncps(mode):
    torch.manual_seed(10)
    ref = _randomise(nt.WiredCfCCell(5, nw.AutoNCP(12, 3, seed=2), mode))
    ours = ct.WiredCfCCell(5, cw.AutoNCP(12, 3, seed=2), mode)
    ours.load_state_dict(ct.WiredCfCCell.from_ncps(ref).state_dict())
    assert (ours.layer_sizes, ours.num_layers, ours.motor_size, ours.sensory_size,
            ours.synapse_count) == (ref.layer_sizes, ref.num_layers, ref.motor_size,
                                    ref.sensory_size, ref.synapse_count)
    built = cw.AutoNCP(12, 3, seed=2)
    built.build(5)
    assert ct.WiredCfCCell(None, built).input_size == 5  # ncps: input_size None if built
    with pytest.raises(ValueError, match='input_size'):
        ct.WiredCfCCell(None, cw.AutoNCP(12, 3))
    x, hx = torch.randn(3, 5), torch.randn(3, 12)
    with torch.no_grad():
        for t in (1.0, torch.rand(3, 1) + 0.1):
            out, h = ours(x, hx, t)
            assert out.shape == (3, 3) and h.shape == (3, 12)
            assert _diff((out, h), ref(x, hx, t)) <= TOL


@pytest.mark.parametrize('implicit', [False, True])
def test_ltc_cell_matches_ncps(implicit):
    torch.manual_seed(11)
    ref = nt.LTCCell(nw.FullyConnected(6, 2), 3, 'affine', 'linear', 4, 1e-8, implicit)
    ours = ct.LTCCell(cw.FullyConnected(6, 2), 3, 'affine', 'linear', 4, 1e-8, implicit)
    ours.load_state_dict(models.LTC.from_ncps(ref).state_dict())
    assert ct.LTCCell(cw.FullyConnected(6, 2), 3).implicit_param_constraints is False  # ncps
    assert (ours.state_size, ours.motor_size, ours.sensory_size, ours.synapse_count) == \
        (ref.state_size, ref.motor_size, ref.sensory_size, ref.synapse_count)
    assert ours.sensory_synapse_count == 3 * 6  # ncps 1.0.1 returns synapse_count (36) here
    x, hx = torch.randn(4, 3), torch.rand(4, 6)
    with torch.no_grad():
        assert _diff(ours(x, hx), ref(x, hx)) <= TOL  # elapsed_time defaults to 1.0
        ts = torch.rand(4, 1) + 0.2
        assert _diff(ours(x, hx, ts), ref(x, hx, ts)) <= TOL
    ref.apply_weight_constraints()
    ours.apply_weight_constraints()
    with torch.no_grad():
        assert _diff(ours(x, hx, 0.5), ref(x, hx, 0.5)) <= TOL


def test_cells_loop_like_the_sequence_model():
    # The usual ncps cell loop, unrolled by hand, equals the sequence model.
    torch.manual_seed(12)
    seq = ct.LTC(3, cw.AutoNCP(8, 2, seed=1))
    cell = ct.LTCCell(cw.AutoNCP(8, 2, seed=1), 3, implicit_param_constraints=True)
    cell.load_state_dict(seq.state_dict())
    x, ts = torch.randn(2, 5, 3), torch.rand(2, 5) + 0.1
    h, outs = torch.zeros(2, 8), []
    with torch.no_grad():
        for t in range(5):
            out, h = cell(x[:, t], h, ts[:, t:t + 1])
            outs.append(out)
        y, h_seq = seq(x, timespans=ts)
    assert _diff(torch.stack(outs, 1), y) <= TOL and _diff(h, h_seq) <= TOL


# ---------------------------------------------------------------------- wirings
def _pairs():
    yield nw.FullyConnected(6, 2, 5, False), cw.FullyConnected(6, 2, 5, False)
    yield nw.NCP(4, 3, 2, 2, 2, 3, 2, 9), cw.NCP(4, 3, 2, 2, 2, 3, 2, 9)
    yield nw.AutoNCP(14, 3, 0.6, 4), cw.AutoNCP(14, 3, 0.6, 4)
    yield nw.Random(7, 3, 0.4, 2), cw.Random(7, 3, 0.4, 2)


@pytest.mark.parametrize('ref,ours', list(_pairs()), ids=lambda w: type(w).__name__)
def test_wiring_helpers_match_ncps(ref, ours):
    ref.build(5)
    ours.build(5)
    np.testing.assert_array_equal(ours.adjacency_matrix, ref.adjacency_matrix)
    np.testing.assert_array_equal(ours.erev_initializer(), ref.erev_initializer())
    assert ours.num_layers == ref.num_layers and ours.units == ref.units
    assert ours.input_dim == ref.input_dim and ours.output_dim == ref.output_dim
    for layer in range(ref.num_layers):
        assert ours.get_neurons_of_layer(layer) == list(ref.get_neurons_of_layer(layer))
    assert [ours.get_type_of_neuron(i) for i in range(ours.units)] == \
        [ref.get_type_of_neuron(i) for i in range(ref.units)]
    assert ours.synapse_count == ref.synapse_count
    assert isinstance(ours.synapse_count, int)
    assert ours.sensory_synapse_count == ref.sensory_synapse_count
    if isinstance(ours, cw.Random):
        # ncps draws a sensory synapse's polarity twice (keeping the second): same synapses,
        # other polarities. Ours draws once.
        np.testing.assert_array_equal(np.abs(ours.sensory_adjacency_matrix),
                                      np.abs(ref.sensory_adjacency_matrix))
        assert not np.array_equal(ours.sensory_adjacency_matrix, ref.sensory_adjacency_matrix)
    else:
        np.testing.assert_array_equal(ours.sensory_adjacency_matrix,
                                      ref.sensory_adjacency_matrix)
        np.testing.assert_array_equal(ours.sensory_erev_initializer(),
                                      ref.sensory_erev_initializer())
    graph, ref_graph = ours.get_graph(), ref.get_graph()
    assert dict(graph.nodes(data=True)) == dict(ref_graph.nodes(data=True))
    assert set(graph.edges) == set(ref_graph.edges)
    if not isinstance(ours, cw.Random):
        assert set(graph.edges(data='polarity')) == set(ref_graph.edges(data='polarity'))
    assert ours.get_graph(include_sensory_neurons=False).number_of_nodes() == ours.units


@pytest.mark.parametrize('ref,ours', list(_pairs()), ids=lambda w: type(w).__name__)
def test_get_config_round_trips(ref, ours):
    config = ours.get_config()
    rebuilt = type(ours).from_config(config)
    rebuilt.build(5)
    ours.build(5)
    np.testing.assert_array_equal(rebuilt.adjacency_matrix, ours.adjacency_matrix)
    np.testing.assert_array_equal(rebuilt.sensory_adjacency_matrix,
                                  ours.sensory_adjacency_matrix)
    # ncps's from_config reads our configs (same keys) and builds the same network.
    theirs = type(ref).from_config(config)
    theirs.build(5)
    np.testing.assert_array_equal(theirs.adjacency_matrix, ours.adjacency_matrix)
    if isinstance(ours, cw.NCP) and not isinstance(ours, cw.AutoNCP):
        # ncps 1.0.1 NCP.get_config gives neuron id lists and seed=None: it cannot rebuild.
        assert config['seed'] == 9 and config['inter_neurons'] == 4
        assert ref.get_config()['seed'] is None
        with pytest.raises(TypeError):
            type(ref).from_config(ref.get_config()).build(5)


class _HandMade:
    """An ncps-style hand-made wiring, written once for either base class."""

    @staticmethod
    def make(base):
        class Chain(base):
            def __init__(self):
                super().__init__(4)
                self.set_output_dim(1)
                for src, dest, polarity in ((3, 2, 1), (2, 1, -1), (1, 0, 1), (1, 1, 1)):
                    self.add_synapse(src, dest, polarity)

            @property
            def num_layers(self):
                return 2

            def get_neurons_of_layer(self, layer_id):
                return [3, 2, 1] if layer_id == 0 else [0]

            def get_type_of_neuron(self, neuron_id):
                return 'motor' if neuron_id == 0 else 'relay'

            def build(self, input_shape):
                super().build(input_shape)
                self.add_sensory_synapse(0, 3, 1)
                self.add_sensory_synapse(1, 3, -1)

        return Chain()


def test_hand_made_wiring_subclass_works_as_in_ncps(tmp_path):
    torch.manual_seed(13)
    ref, ours = _HandMade.make(nw.Wiring), _HandMade.make(cw.Wiring)
    ref_model, model = nt.LTC(2, ref), ct.LTC(2, ours)
    np.testing.assert_array_equal(ours.sensory_adjacency_matrix, ref.sensory_adjacency_matrix)
    np.testing.assert_array_equal(ours.adjacency_matrix, ref.adjacency_matrix)
    assert ours.layers == [[3, 2, 1], [0]] and ours.neuron_types()[1] == 'relay'
    _load_weights(model, ref_model)
    x = torch.randn(2, 6, 2)
    with torch.no_grad():
        assert _diff(model(x), ref_model(x)) <= TOL
    rebuilt = cw.Wiring.from_config(ours.get_config())  # matrices, layers and types kept
    assert rebuilt.layers == ours.layers and rebuilt.neuron_types() == ours.neuron_types()
    np.testing.assert_array_equal(rebuilt.sensory_adjacency_matrix,
                                  ours.sensory_adjacency_matrix)
    cfc = ct.CfC(2, _HandMade.make(cw.Wiring))
    assert cfc.layer_sizes == [3, 1]
    # A hand-made wiring serialises as its matrices, so the model deploys.
    path = save_policy(model, tmp_path / 'chain.safetensors')
    policy = load_policy(path)
    obs = np.array([0.3, -0.2], np.float32)
    with torch.no_grad():
        expected = model.step(torch.from_numpy(obs)[None], None, 0.1)[0][0].numpy()
    np.testing.assert_allclose(policy.step(obs, 0.1), expected, atol=TOL)


def test_draw_graph(tmp_path):
    matplotlib = pytest.importorskip('matplotlib')
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    wiring = cw.AutoNCP(10, 2, seed=1)
    wiring.build(3)
    for layout in ('shell', 'layered', 'circular', 'random', 'kamada', 'spiral',
                   {f'{k}_{i}': (i, len(k)) for k, n in (('neuron', 10), ('sensory', 3))
                    for i in range(n)}):
        fig = plt.figure()
        handles = wiring.draw_graph(layout=layout, neuron_colors={'command': 'tab:cyan'},
                                    draw_labels=True)
        ax = fig.gca()
        assert [h.get_label() for h in handles] == ['Sensory neurons', 'Motor neurons',
                                                    'Command neurons', 'Inter neurons']
        assert len(ax.collections[0].get_offsets()) == 10 + 3
        arrows = [c for c in ax.get_children() if type(c).__name__ == 'Annotation']
        assert len(arrows) == wiring.synapse_count + wiring.sensory_synapse_count - int(
            np.trace(np.abs(wiring.adjacency_matrix)))
        plt.legend(handles=handles)  # the ncps tutorial's next line
        fig.savefig(tmp_path / 'wiring.png')
        plt.close(fig)
    with pytest.raises(ValueError, match='layout'):
        wiring.draw_graph(layout='nonsense')
    fig, ax = plt.subplots()
    lnn_wirings.FullyConnected(4).build(2).draw_graph(ax=ax, synapse_colors='black')
    assert len(ax.collections[0].get_offsets()) == 6
    plt.close(fig)


# ---------------------------------------------------------------------- ncps user code
SNIPPET = """
import numpy as np
import torch
{imports}

N = 48
data_x = np.stack([np.sin(np.linspace(0, 3 * np.pi, N)),
                   np.cos(np.linspace(0, 3 * np.pi, N))], axis=1)
data_x = torch.Tensor(np.expand_dims(data_x, axis=0).astype(np.float32))
data_y = torch.Tensor(np.sin(np.linspace(0, 6 * np.pi, N)).reshape([1, N, 1]).astype(np.float32))

torch.manual_seed(0)
wiring = AutoNCP(16, 1)
model = {model}(2, wiring, batch_first=True)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
losses = []
for epoch in range(25):
    y_hat, _ = model.forward(data_x)
    loss = torch.nn.MSELoss()(y_hat.view_as(data_y), data_y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
with torch.no_grad():
    prediction = model(data_x)[0].numpy()
"""
NCPS_IMPORTS = 'from ncps.torch import CfC, LTC\nfrom ncps.wirings import AutoNCP'
OUR_IMPORTS = ('from lnn_control.compat.ncps.torch import CfC, LTC\n'
               'from lnn_control.compat.ncps.wirings import AutoNCP')


@pytest.mark.parametrize('model', ['CfC', 'LTC'])
def test_ncps_quickstart_runs_with_only_the_imports_changed(model):
    results = []
    for imports in (NCPS_IMPORTS, OUR_IMPORTS):
        scope = {}
        exec(SNIPPET.format(imports=imports, model=model), scope)  # noqa: S102 (our text)
        results.append(scope)
    ref, ours = results
    assert isinstance(ours['model'], models.PolicyModel)
    # Same seed, same initialisation, same training: the same losses step by step.
    np.testing.assert_allclose(ours['losses'], ref['losses'], rtol=1e-5, atol=1e-6)
    assert ours['losses'][-1] < ours['losses'][0]
    np.testing.assert_allclose(ours['prediction'], ref['prediction'], atol=TOL)


def test_ncps_trained_model_imports_and_deploys(tmp_path):
    torch.manual_seed(14)
    ref = _randomise(nt.CfC(3, nw.AutoNCP(8, 2, seed=5), batch_first=False))
    ours = ct.CfC.from_ncps(ref)
    assert ours.batch_first is False
    x = torch.randn(6, 1, 3)
    with torch.no_grad():
        assert _diff(ours(x), ref(x)) <= TOL
    policy = load_policy(save_policy(ours, tmp_path / 'cfc.safetensors'))
    with torch.no_grad():
        y_ref = ref(x)[0][:, 0].numpy()
    np.testing.assert_allclose(np.stack([policy.step(x[t, 0].numpy(), 1.0)
                                         for t in range(6)]), y_ref, atol=TOL)
    rebuilt = ct.CfC.from_config(ours.get_config())
    assert type(rebuilt) is ct.CfC and rebuilt.batch_first is True
    rebuilt.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert _diff(rebuilt(x.transpose(0, 1))[0].transpose(0, 1), ref(x)[0]) <= TOL


def test_inputs_are_cast_as_ncps_users_expect():
    torch.manual_seed(15)
    ref = nt.LTC(3, 5, batch_first=False)
    ours = _load_weights(ct.LTC(3, 5, batch_first=False), ref)
    x = np.random.default_rng(1).normal(size=(4, 2, 3))  # float64 numpy, time-major
    with torch.no_grad():
        y, _ = ours(x, timespans=np.ones((4, 2)))
        y_ref, _ = ref(torch.tensor(x, dtype=torch.float32))
    assert y.dtype == torch.float32 and _diff(y, y_ref) <= TOL
