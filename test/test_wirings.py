# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Wirings: ncps construction semantics, seeds, serialisation, and the ncps bugs not copied."""

import json

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.wirings import AutoNCP
from lnn_control.wirings import Custom
from lnn_control.wirings import FullyConnected
from lnn_control.wirings import NCP
from lnn_control.wirings import Random
from lnn_control.wirings import Wiring
from lnn_control.wirings import WiringError
import ncps.wirings as nw
import numpy as np
import pytest


@pytest.mark.parametrize('seed', [0, 1, 22222, 12345])
@pytest.mark.parametrize('units,outputs,sparsity,inputs', [(19, 6, 0.5, 17), (12, 1, 0.5, 1),
                                                           (32, 4, 0.8, 9), (8, 2, 0.1, 3)])
def test_auto_ncp_matches_ncps_for_same_seed(seed, units, outputs, sparsity, inputs):
    ref = nw.AutoNCP(units, outputs, sparsity_level=sparsity, seed=seed)
    ref.build(inputs)
    ours = AutoNCP(units, outputs, sparsity_level=sparsity, seed=seed).build(inputs)
    np.testing.assert_array_equal(ours.adjacency, ref.adjacency_matrix)
    np.testing.assert_array_equal(ours.sensory_adjacency, ref.sensory_adjacency_matrix)
    assert ours.layer_sizes == [len(ref.get_neurons_of_layer(i)) for i in range(3)]
    assert ours.neuron_types() == [ref.get_type_of_neuron(i) for i in range(units)]


def test_ncp_and_fully_connected_match_ncps():
    ref = nw.NCP(6, 5, 3, 4, 3, 5, 2, seed=9)
    ref.build(7)
    ours = NCP(6, 5, 3, 4, 3, 5, 2, seed=9).build(7)
    np.testing.assert_array_equal(ours.adjacency, ref.adjacency_matrix)
    np.testing.assert_array_equal(ours.sensory_adjacency, ref.sensory_adjacency_matrix)
    for self_connections in (True, False):
        ref = nw.FullyConnected(9, 3, erev_init_seed=5, self_connections=self_connections)
        ref.build(4)
        ours = FullyConnected(9, 3, erev_init_seed=5,
                              self_connections=self_connections).build(4)
        np.testing.assert_array_equal(ours.adjacency, ref.adjacency_matrix)
        np.testing.assert_array_equal(ours.sensory_adjacency, ref.sensory_adjacency_matrix)


def test_ncp_structure_is_layered():
    w = AutoNCP(19, 6, seed=3).build(17)
    inter, command, motor = (set(layer) for layer in w.layers)
    assert motor == set(range(6))
    # Sensory synapses only reach inter neurons; every inter neuron is reached.
    targets = set(np.nonzero(w.sensory_adjacency)[1])
    assert targets == inter
    src, dest = np.nonzero(w.adjacency)
    for s, d in zip(src, dest):
        assert (s in inter and d in command) or (s in command and d in command) or \
            (s in command and d in motor), (s, d)
    # Every motor neuron has inputs; every command neuron feeds some motor neuron.
    assert all(np.any(w.adjacency[:, m]) for m in motor)
    assert all(np.any(w.adjacency[c, sorted(motor)]) for c in command)
    assert set(np.unique(w.adjacency)) <= {-1, 0, 1}


def test_random_draws_each_sensory_synapse_once():
    # ncps 1.0.1 draws two polarities per sensory synapse; ours draws one, so the count of
    # sensory synapses is exactly round(inputs * units * density).
    w = Random(10, 3, sparsity_level=0.5, random_seed=4).build(6)
    assert w.sensory_synapse_count == round(6 * 10 * 0.5)
    assert w.synapse_count == round(10 * 10 * 0.5)


@pytest.mark.parametrize('wiring', [
    AutoNCP(19, 6, sparsity_level=0.6, seed=77),
    NCP(5, 4, 2, 3, 2, 3, 2, seed=3),
    FullyConnected(7, 2, erev_init_seed=8, self_connections=False),
    Random(9, 3, sparsity_level=0.3, random_seed=2),
])
def test_to_dict_round_trip_keeps_seed_and_matrices(wiring):
    wiring.build(5)
    data = json.loads(json.dumps(wiring.to_dict()))
    assert 'adjacency' not in data  # counts and seeds, not lists
    back = Wiring.from_dict(data)
    assert type(back) is type(wiring)
    np.testing.assert_array_equal(back.adjacency, wiring.adjacency)
    np.testing.assert_array_equal(back.sensory_adjacency, wiring.sensory_adjacency)
    assert back.to_dict() == data


def test_ncp_to_dict_keeps_the_seed_ncps_loses():
    ref = nw.NCP(5, 4, 2, 3, 2, 3, 2, seed=3)
    assert ref.get_config()['seed'] is None  # the ncps defect we do not copy
    assert NCP(5, 4, 2, 3, 2, 3, 2, seed=3).to_dict()['seed'] == 3


def test_from_ncps_uses_seeded_form_or_custom():
    auto = nw.AutoNCP(19, 6, seed=5)
    auto.build(17)
    converted = Wiring.from_ncps(auto)
    assert isinstance(converted, AutoNCP) and converted.seed == 5
    plain = nw.NCP(5, 4, 2, 3, 2, 3, 2, seed=3)
    plain.build(6)
    custom = Wiring.from_ncps(plain)
    assert isinstance(custom, Custom)
    np.testing.assert_array_equal(custom.adjacency, plain.adjacency_matrix)
    assert custom.layers == [plain.get_neurons_of_layer(i) for i in range(3)]
    back = Wiring.from_dict(json.loads(json.dumps(custom.to_dict())))
    np.testing.assert_array_equal(back.sensory_adjacency, plain.sensory_adjacency_matrix)
    assert back.neuron_types() == custom.neuron_types()
    unbuilt = nw.AutoNCP(10, 2)
    with pytest.raises(WiringError, match='not built'):
        Wiring.from_ncps(unbuilt)


@pytest.mark.parametrize('make,message', [
    (lambda: AutoNCP(5, 3), 'output_size'),
    (lambda: AutoNCP(19, 6, sparsity_level=1.5), 'sparsity'),
    (lambda: NCP(3, 2, 1, 4, 1, 1, 1), 'sensory_fanout'),
    (lambda: NCP(3, 2, 1, 1, 3, 1, 1), 'inter_fanout'),
    (lambda: NCP(3, 2, 1, 1, 1, 1, 3), 'motor_fanin'),
    (lambda: Random(4, sparsity_level=1.0), 'sparsity'),
    (lambda: FullyConnected(4, 9), 'output_dim'),
    (lambda: Wiring.from_dict({'kind': 'nope'}), 'unknown wiring'),
    (lambda: Wiring.from_dict({'kind': 'auto_ncp', 'units': 19}), 'bad arguments'),
    (lambda: Custom([[0, 2], [0, 0]], [[1, 0]], 1), 'entries'),
])
def test_bad_arguments_are_refused_with_a_reason(make, message):
    with pytest.raises(WiringError, match=message):
        make()


def test_build_is_idempotent_and_checks_input_dim():
    w = AutoNCP(12, 2, seed=1).build(4)
    before = w.sensory_adjacency.copy()
    w.build(4)
    np.testing.assert_array_equal(w.sensory_adjacency, before)
    with pytest.raises(WiringError, match='built for 4'):
        w.build(5)


@settings(max_examples=40, deadline=None)
@given(units=st.integers(5, 40), outputs=st.integers(1, 10), inputs=st.integers(1, 20),
       sparsity=st.floats(0.0, 0.95), seed=st.integers(0, 2**31 - 1))
def test_auto_ncp_is_reproducible_and_valid(units, outputs, inputs, sparsity, seed):
    if outputs >= units - 2:
        with pytest.raises(WiringError):
            AutoNCP(units, outputs, sparsity, seed)
        return
    a = AutoNCP(units, outputs, sparsity, seed).build(inputs)
    b = AutoNCP(units, outputs, sparsity, seed).build(inputs)
    np.testing.assert_array_equal(a.adjacency, b.adjacency)
    np.testing.assert_array_equal(a.sensory_adjacency, b.sensory_adjacency)
    assert sorted(i for layer in a.layers for i in layer) == list(range(units))
    assert a.sensory_synapse_count >= inputs
