# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
``ncps.wirings`` 1.0.1 names over :mod:`lnn_control.wirings` (drop-in: change the import).

Each class is the lnn_control wiring of the same name (same construction, same random streams,
so the same matrices as ncps for the same seed) with ncps's names added:
``adjacency_matrix``, ``sensory_adjacency_matrix``, ``get_neurons_of_layer``,
``get_type_of_neuron``, ``erev_initializer``, ``sensory_erev_initializer``,
``set_input_dim``, ``set_output_dim``, ``get_config``/``from_config``, ``get_graph``
(networkx, imported when called) and ``draw_graph`` (matplotlib, ncps's argument order;
networkx only for its 'kamada', 'spring', 'spectral' and 'spiral' layouts).

:class:`Wiring` is also the ncps base for hand-made wirings: ``Wiring(units)``, synapses added
in ``__init__`` and sensory synapses in an overridden ``build`` after ``super().build``;
``num_layers``/``get_neurons_of_layer`` and ``get_type_of_neuron`` overrides are honoured.

Where ncps 1.0.1 is wrong, these are right (``test/test_compat_ncps.py`` shows each case):
``NCP.get_config`` keeps the neuron counts and the seed (ncps returns neuron id lists and
``seed=None``, which its ``from_config`` cannot rebuild); ``Random`` draws one polarity per
sensory synapse (ncps draws two and keeps the second); ``Wiring.get_config`` keeps layers and
neuron types, and ``from_config`` rebuilds the wiring, not a bare base class. Counts are ints.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from lnn_control import wirings as _lnn
import numpy as np

__all__ = ['Wiring', 'FullyConnected', 'NCP', 'AutoNCP', 'Random']

# ncps draw_graph layouts that only networkx computes (the others are lnn_control.wirings').
_NETWORKX_LAYOUTS = ('kamada_kawai', 'kamada', 'spring', 'spectral', 'spiral')


class Wiring(_lnn.Wiring):
    """
    ncps ``Wiring``: the base of every wiring here, and of hand-made ones.

    The concrete classes derive from their lnn_control class first and from this one second,
    so their construction and serialisation are lnn_control's; the methods here add ncps's
    names and, for a hand-made subclass (no ``kind``), ncps's base behaviour.
    """

    def __init__(self, units: int, output_dim: Optional[int] = None) -> None:
        super().__init__(units, output_dim)

    # ------------------------------------------------------------------ ncps-style subclasses
    def _build_sensory(self) -> None:
        """Add no sensory synapses: a hand-made subclass adds them in its ``build``."""

    def _params(self) -> Dict[str, Any]:
        return {'units': self.units, 'output_dim': self.output_dim}

    @property
    def layers(self) -> List[List[int]]:
        """Neuron ids per layer; an ncps-style subclass declares them by ncps's methods."""
        if type(self).get_neurons_of_layer is not Wiring.get_neurons_of_layer:
            return [[int(i) for i in self.get_neurons_of_layer(k)]
                    for k in range(self.num_layers)]
        return [list(range(self.units))]

    @property
    def num_layers(self) -> int:
        # ncps's base has one layer; below a class that defines its layers, count them.
        return 1 if type(self).layers is Wiring.layers else len(self.layers)

    def neuron_type(self, neuron_id: int) -> str:
        """Return 'motor', 'command' or 'inter' (or an ncps-style subclass's own type)."""
        if type(self).get_type_of_neuron is not Wiring.get_type_of_neuron:
            return self.get_type_of_neuron(neuron_id)
        return super().neuron_type(neuron_id)

    def to_dict(self) -> Dict[str, Any]:
        """Return lnn_control's form; a hand-made wiring is stored as its matrices."""
        if self.kind:
            return super().to_dict()
        self._check_built()
        return _lnn.Custom(self.adjacency, self.sensory_adjacency, self.output_dim,
                           self.layers, self.neuron_types()).to_dict()

    # ------------------------------------------------------------------ ncps names
    @property
    def adjacency_matrix(self) -> np.ndarray:
        """``adjacency``: (units, units), [src, dest] in {-1, 0, 1}."""
        return self.adjacency

    @adjacency_matrix.setter
    def adjacency_matrix(self, value: Any) -> None:
        self.adjacency = np.asarray(value).astype(np.int8)

    @property
    def sensory_adjacency_matrix(self) -> Optional[np.ndarray]:
        """``sensory_adjacency``: (input_dim, units), or None before ``build``."""
        return self.sensory_adjacency

    @sensory_adjacency_matrix.setter
    def sensory_adjacency_matrix(self, value: Any) -> None:
        self.sensory_adjacency = None if value is None else np.asarray(value).astype(np.int8)

    def get_neurons_of_layer(self, layer_id: int) -> List[int]:
        """Return the neuron ids of layer ``layer_id`` (0 is the first processed)."""
        layers = self.layers
        if not 0 <= int(layer_id) < len(layers):
            raise ValueError(f'Unknown layer {layer_id}')
        return list(layers[int(layer_id)])

    def get_type_of_neuron(self, neuron_id: int) -> str:
        """Return the type of a neuron: 'motor', 'command' or 'inter'."""
        return _lnn_neuron_type(self, neuron_id)

    def erev_initializer(self, shape: Any = None, dtype: Any = None) -> np.ndarray:
        """Return a copy of the adjacency: the reversal potential signs an LTC starts from."""
        return np.copy(self.adjacency)

    def sensory_erev_initializer(self, shape: Any = None, dtype: Any = None) -> np.ndarray:
        """Return a copy of the sensory adjacency."""
        self._check_built()
        return np.copy(self.sensory_adjacency)

    def set_input_dim(self, input_dim: int) -> None:
        """Set the input size and clear the sensory synapses (ncps; ``build`` draws them)."""
        if int(input_dim) < 1:
            raise _lnn.WiringError(f'input_dim must be >= 1, got {input_dim}')
        self.input_dim = int(input_dim)
        self.sensory_adjacency = np.zeros((self.input_dim, self.units), dtype=np.int8)

    def set_output_dim(self, output_dim: int) -> None:
        """Set the number of motor neurons (the first ``output_dim`` ids)."""
        if not 1 <= int(output_dim) <= self.units:
            raise _lnn.WiringError(
                f'output_dim must be in [1, units={self.units}], got {output_dim}')
        self.output_dim = int(output_dim)

    def get_config(self) -> Dict[str, Any]:
        """
        Return the constructor arguments, under ncps's keys (``from_config`` takes them).

        Seeded wirings give their counts and seed (ncps's own ``from_config`` accepts these
        too); a hand-made wiring gives its matrices, plus its layers and neuron types.
        """
        if self.kind:
            return self._params()
        sensory = self.sensory_adjacency
        return {'units': self.units, 'adjacency_matrix': self.adjacency.tolist(),
                'sensory_adjacency_matrix': None if sensory is None else sensory.tolist(),
                'input_dim': self.input_dim, 'output_dim': self.output_dim,
                'layers': self.layers, 'neuron_types': self.neuron_types()}

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> 'Wiring':
        """Rebuild a wiring from :meth:`get_config` output (or ncps's, where it is sound)."""
        if cls.kind:
            return cls(**config)
        if config.get('sensory_adjacency_matrix') is not None:
            return _Matrices(config['adjacency_matrix'], config['sensory_adjacency_matrix'],
                             config['output_dim'], config.get('layers'),
                             config.get('neuron_types'))
        wiring = Wiring(config['units'], config.get('output_dim'))
        wiring.adjacency_matrix = config['adjacency_matrix']
        return wiring

    def get_graph(self, include_sensory_neurons: bool = True) -> Any:
        """Return the wiring as a ``networkx.DiGraph`` (nodes and edges named as ncps)."""
        import networkx as nx
        self._check_built()
        graph = nx.DiGraph()
        for i in range(self.units):
            graph.add_node(f'neuron_{i}', neuron_type=self.neuron_type(i))
        sources = [('neuron', self.adjacency)]
        if include_sensory_neurons:
            for i in range(self.input_dim):
                graph.add_node(f'sensory_{i}', neuron_type='sensory')
            sources.insert(0, ('sensory', self.sensory_adjacency))
        for prefix, matrix in sources:
            for src, dest in zip(*np.nonzero(matrix)):
                graph.add_edge(f'{prefix}_{src}', f'neuron_{dest}',
                               polarity='excitatory' if matrix[src, dest] > 0 else 'inhibitory')
        return graph

    def draw_graph(self, layout: str = 'shell', neuron_colors: Optional[Dict[str, str]] = None,
                   synapse_colors: Any = None, draw_labels: bool = False,
                   ax: Any = None) -> List[Any]:
        """
        Draw the wiring on the current matplotlib axes; return the legend patches (ncps).

        ``layout``: 'shell' (default, a ring per layer), 'layered', 'circular', 'random', or
        one of ncps's networkx layouts ('kamada', 'spring', 'spectral', 'spiral').
        See :meth:`lnn_control.wirings.Wiring.draw_graph`.
        """
        pos: Any = layout
        if layout in _NETWORKX_LAYOUTS:
            import networkx as nx
            name = 'kamada_kawai' if layout == 'kamada' else layout
            pos = {n: tuple(map(float, p))
                   for n, p in getattr(nx, f'{name}_layout')(self.get_graph()).items()}
        return super().draw_graph(ax=ax, layout=pos, neuron_colors=neuron_colors,
                                  synapse_colors=synapse_colors, draw_labels=draw_labels)


def _lnn_neuron_type(wiring: _lnn.Wiring, neuron_id: int) -> str:
    """Return the type by the lnn_control class's rule (not the ncps-style dispatch)."""
    for klass in type(wiring).__mro__:
        if 'neuron_type' in klass.__dict__ and klass is not Wiring:
            return klass.__dict__['neuron_type'](wiring, neuron_id)
    raise AssertionError('unreachable: lnn_control.wirings.Wiring defines neuron_type')


class FullyConnected(_lnn.FullyConnected, Wiring):
    """ncps ``FullyConnected(units, output_dim=None, erev_init_seed=1111, self_connections)``."""


class Random(_lnn.Random, Wiring):
    """ncps ``Random(units, output_dim=None, sparsity_level=0.0, random_seed=1111)``."""


class NCP(_lnn.NCP, Wiring):
    """ncps ``NCP(inter, command, motor, sensory_fanout, inter_fanout, recurrent, fanin)``."""


class AutoNCP(_lnn.AutoNCP, Wiring):
    """ncps ``AutoNCP(units, output_size, sparsity_level=0.5, seed=22222)``."""


class _Matrices(_lnn.Custom, Wiring):
    """A wiring given by its matrices (what ``Wiring.from_config`` rebuilds)."""
