# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Sparse wirings of liquid networks, as numpy data shared by the torch models and the runtime.

A wiring says which neuron feeds which and with what polarity (+1 excitatory, -1
inhibitory). It is two integer matrices:

========================  ======================  =========================================
attribute                 shape                   meaning
========================  ======================  =========================================
``adjacency``             (units, units)          ``adjacency[src, dest]`` in {-1, 0, +1}
``sensory_adjacency``     (input_dim, units)      ``sensory_adjacency[input, dest]``
========================  ======================  =========================================

Neuron ids follow the ncps convention: motor neurons first (``0 .. output_dim-1``, they are
the outputs), then command neurons, then inter neurons. ``layers`` lists the neuron ids of each
layer in processing order (inter, command, motor for an NCP; one layer for the others).

The construction is that of ncps 1.0.1 (Lechner et al., "Neural circuit policies enabling
auditable autonomy", Nature Machine Intelligence 2020), drawing from the same random streams,
so ``NCP``, ``AutoNCP`` and ``FullyConnected`` give the same matrices as ncps for the same seed.
Two ncps defects are not copied: ``Random`` draws each sensory synapse once (ncps draws it
twice, overwriting the first polarity), and ``to_dict`` keeps the seed (ncps ``NCP.get_config``
returns ``seed=None``).

Wirings serialise to small dicts of counts and seeds (``to_dict``/``from_dict``), not matrices,
except ``Custom`` which holds explicit matrices (used to import ncps models whose seed is lost).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Type, Union

import numpy as np

__all__ = ['Wiring', 'FullyConnected', 'Random', 'NCP', 'AutoNCP', 'Custom', 'WiringError',
           'LAYOUTS']

_REGISTRY: Dict[str, Type['Wiring']] = {}


class WiringError(ValueError):
    """A wiring was asked for with inconsistent sizes or a bad serialised form."""


class Wiring:
    """
    Base class: adjacency and polarity of a network of ``units`` neurons.

    Subclasses set ``kind`` (their registry name), fill ``adjacency`` in ``__init__`` and
    ``sensory_adjacency`` in ``_build_sensory`` once the input dimension is known.
    """

    kind: ClassVar[str] = ''

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class registers the kind it declares; subclasses that inherit a kind (the ncps
        # compatibility classes) leave from_dict building the class they derive from.
        if cls.__dict__.get('kind'):
            _REGISTRY[cls.kind] = cls

    def __init__(self, units: int, output_dim: Optional[int] = None) -> None:
        if int(units) < 1:
            raise WiringError(f'a wiring needs at least 1 neuron, got units={units}')
        self.units = int(units)
        self.output_dim = self.units if output_dim is None else int(output_dim)
        if not 1 <= self.output_dim <= self.units:
            raise WiringError(
                f'output_dim must be in [1, units={self.units}], got {self.output_dim}')
        self.adjacency = np.zeros((self.units, self.units), dtype=np.int8)
        self.sensory_adjacency: Optional[np.ndarray] = None
        self.input_dim: Optional[int] = None

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> List[List[int]]:
        """Neuron ids of each layer, in processing order."""
        return [list(range(self.units))]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def layer_sizes(self) -> List[int]:
        return [len(layer) for layer in self.layers]

    def neuron_type(self, neuron_id: int) -> str:
        """'motor' for output neurons, 'inter' for the others (NCP adds 'command')."""
        return 'motor' if neuron_id < self.output_dim else 'inter'

    def neuron_types(self) -> List[str]:
        return [self.neuron_type(i) for i in range(self.units)]

    def is_built(self) -> bool:
        return self.input_dim is not None

    def build(self, input_dim: int) -> 'Wiring':
        """Fix the number of inputs and draw the sensory synapses (idempotent)."""
        input_dim = int(input_dim)
        if self.input_dim is not None:
            if self.input_dim != input_dim:
                raise WiringError(
                    f'wiring was built for {self.input_dim} inputs, asked for {input_dim}')
            return self
        if input_dim < 1:
            raise WiringError(f'input_dim must be >= 1, got {input_dim}')
        self.input_dim = input_dim
        self.sensory_adjacency = np.zeros((input_dim, self.units), dtype=np.int8)
        self._build_sensory()
        return self

    def _build_sensory(self) -> None:
        raise NotImplementedError

    def _check_built(self) -> None:
        if not self.is_built():
            raise WiringError('wiring is not built: call build(input_dim) first')

    def add_synapse(self, src: int, dest: int, polarity: int) -> None:
        if not (0 <= src < self.units and 0 <= dest < self.units):
            raise WiringError(f'synapse {src}->{dest} outside 0..{self.units - 1}')
        if polarity not in (-1, 1):
            raise WiringError(f'polarity must be -1 or +1, got {polarity}')
        self.adjacency[src, dest] = polarity

    def add_sensory_synapse(self, src: int, dest: int, polarity: int) -> None:
        self._check_built()
        if not (0 <= src < self.input_dim and 0 <= dest < self.units):
            raise WiringError(f'sensory synapse {src}->{dest} outside the wiring')
        if polarity not in (-1, 1):
            raise WiringError(f'polarity must be -1 or +1, got {polarity}')
        self.sensory_adjacency[src, dest] = polarity

    @property
    def synapse_count(self) -> int:
        return int(np.count_nonzero(self.adjacency))

    @property
    def sensory_synapse_count(self) -> int:
        self._check_built()
        return int(np.count_nonzero(self.sensory_adjacency))

    # ------------------------------------------------------------------ drawing
    def node_groups(self) -> List[Tuple[str, List[str]]]:
        """
        Return node names by group, inputs first, then each layer in processing order.

        Nodes are named as ncps names them: ``sensory_<i>`` (input i) and ``neuron_<id>``.
        """
        self._check_built()
        out = [('sensory', [f'sensory_{i}' for i in range(self.input_dim)])]
        return out + [(self.neuron_type(layer[0]) if len(self.layers) > 1 else 'neurons',
                       [f'neuron_{i}' for i in layer]) for layer in self.layers]

    def draw_graph(self, ax: Any = None, layout: Any = 'layered',
                   neuron_colors: Optional[Dict[str, str]] = None,
                   synapse_colors: Union[None, str, Dict[str, str]] = None,
                   draw_labels: bool = False) -> List[Any]:
        """
        Draw the wiring with matplotlib (imported here, so the runtime never needs it).

        Args:
            ax: the axes to draw on (default: the current axes, ``plt.gca()``).
            layout: a name of :data:`LAYOUTS` ('layered': one column per group, inputs at
                the left, motor neurons at the right; 'shell': a ring per group, motor
                innermost; 'circular'; 'random', seeded), or a mapping of node name (see
                :meth:`node_groups`) to (x, y).
            neuron_colors: colour per neuron type ('sensory', 'inter', 'command', 'motor',
                or a ``Custom`` type), merged over the defaults.
            synapse_colors: one colour, or a dict for 'excitatory' and 'inhibitory'.
            draw_labels: write each node's name on it.

        Returns:
            One legend patch per neuron type shown (``plt.legend(handles=...)``), as ncps.
            Synapses are arrows from source to destination; self-synapses are not drawn.

        """
        import matplotlib.patches as mpatches
        import matplotlib.pyplot as plt
        self._check_built()
        ax = plt.gca() if ax is None else ax
        pos = LAYOUTS[layout](self) if isinstance(layout, str) and layout in LAYOUTS else layout
        if not isinstance(pos, dict):
            raise ValueError(f'layout must be one of {sorted(LAYOUTS)} or a dict of node '
                             f'positions, got {layout!r}')
        colors = {'sensory': 'tab:olive', 'inter': 'tab:blue', 'command': 'tab:cyan',
                  'motor': 'tab:orange', **(neuron_colors or {})}
        if synapse_colors is None or isinstance(synapse_colors, str):
            synapse_colors = {'excitatory': synapse_colors or 'tab:green',
                              'inhibitory': synapse_colors or 'tab:red'}
        for matrix, prefix in ((self.sensory_adjacency, 'sensory'), (self.adjacency, 'neuron')):
            for src, dest in zip(*np.nonzero(matrix)):
                if prefix == 'neuron' and src == dest:
                    continue
                polarity = 'excitatory' if matrix[src, dest] > 0 else 'inhibitory'
                ax.annotate('', xy=pos[f'neuron_{dest}'], xytext=pos[f'{prefix}_{src}'],
                            arrowprops={'arrowstyle': '-|>', 'lw': 0.7, 'shrinkA': 7,
                                        'shrinkB': 7, 'color': synapse_colors[polarity],
                                        'connectionstyle': 'arc3,rad=0.08'})
        types = ['sensory'] * self.input_dim + self.neuron_types()
        names = [f'sensory_{i}' for i in range(self.input_dim)] + [
            f'neuron_{i}' for i in range(self.units)]
        xy = np.array([pos[n] for n in names], dtype=float).reshape(-1, 2)
        ax.scatter(xy[:, 0], xy[:, 1], s=160, zorder=3, edgecolors='black', linewidths=0.5,
                   c=[colors.get(t, 'tab:gray') for t in types])
        if draw_labels:
            for name, (x, y) in zip(names, xy):
                ax.text(x, y, name.split('_')[-1], ha='center', va='center', fontsize=7,
                        zorder=4)
        ax.set_axis_off()
        shown = list(dict.fromkeys(types))
        return [mpatches.Patch(color=colors.get(t, 'tab:gray'), label=f'{t.capitalize()} neurons')
                for t in shown]

    # ------------------------------------------------------------------ serialisation
    def _params(self) -> Dict[str, Any]:
        raise NotImplementedError

    def to_dict(self) -> Dict[str, Any]:
        """JSON-able description: kind, constructor arguments and input_dim."""
        return {'kind': self.kind, **self._params(), 'input_dim': self.input_dim}

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> 'Wiring':
        """Rebuild a wiring from ``to_dict`` output (built if it carries ``input_dim``)."""
        if not isinstance(data, dict) or 'kind' not in data:
            raise WiringError(f'a wiring dict needs a "kind", got {data!r:.200}')
        params = dict(data)
        kind = params.pop('kind')
        input_dim = params.pop('input_dim', None)
        if kind not in _REGISTRY:
            raise WiringError(f'unknown wiring kind {kind!r}; known: {sorted(_REGISTRY)}')
        try:
            wiring = _REGISTRY[kind](**params)
        except TypeError as exc:
            raise WiringError(f'bad arguments for wiring {kind!r}: {exc}') from None
        if input_dim is not None:
            wiring.build(input_dim)
        return wiring

    @staticmethod
    def from_ncps(wiring: Any) -> 'Wiring':
        """Convert a built ncps wiring; seeded when the seed is known, else ``Custom``."""
        if wiring.input_dim is None:
            raise WiringError('the ncps wiring is not built (no input_dim)')
        adjacency = np.asarray(wiring.adjacency_matrix)
        sensory = np.asarray(wiring.sensory_adjacency_matrix)
        name = type(wiring).__name__
        candidate: Optional[Wiring] = None
        if name == 'AutoNCP':
            candidate = AutoNCP(wiring.units, wiring._output_size, wiring._sparsity_level,
                                wiring._seed)
        elif name == 'FullyConnected':
            candidate = FullyConnected(wiring.units, wiring.output_dim,
                                       wiring._erev_init_seed, wiring.self_connections)
        if candidate is not None:
            candidate.build(wiring.input_dim)
            if (np.array_equal(candidate.adjacency, adjacency)
                    and np.array_equal(candidate.sensory_adjacency, sensory)):
                return candidate
        layers = [list(map(int, wiring.get_neurons_of_layer(i)))
                  for i in range(wiring.num_layers)]
        types = [wiring.get_type_of_neuron(i) for i in range(wiring.units)]
        return Custom(adjacency.tolist(), sensory.tolist(), wiring.output_dim, layers, types)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self._params().items()
                         if k not in ('adjacency', 'sensory_adjacency'))
        return f'{type(self).__name__}({args})'


class FullyConnected(Wiring):
    """
    Every neuron feeds every neuron; every input feeds every neuron.

    Args:
        units: number of neurons.
        output_dim: number of motor (output) neurons, the first ``output_dim`` ids.
        erev_init_seed: seed of the polarity draw (2/3 excitatory), as ncps.
        self_connections: whether a neuron feeds itself.

    """

    kind = 'fully_connected'

    def __init__(self, units: int, output_dim: Optional[int] = None,
                 erev_init_seed: int = 1111, self_connections: bool = True) -> None:
        super().__init__(units, output_dim)
        self.erev_init_seed = int(erev_init_seed)
        self.self_connections = bool(self_connections)
        self._rng = np.random.default_rng(self.erev_init_seed)
        for src in range(self.units):
            for dest in range(self.units):
                if src == dest and not self.self_connections:
                    continue
                self.add_synapse(src, dest, int(self._rng.choice([-1, 1, 1])))

    def _build_sensory(self) -> None:
        for src in range(self.input_dim):
            for dest in range(self.units):
                self.add_sensory_synapse(src, dest, int(self._rng.choice([-1, 1, 1])))

    def _params(self) -> Dict[str, Any]:
        return {'units': self.units, 'output_dim': self.output_dim,
                'erev_init_seed': self.erev_init_seed,
                'self_connections': self.self_connections}


class Random(Wiring):
    """
    Random sparse wiring: a fraction ``1 - sparsity_level`` of all possible synapses.

    Args:
        units: number of neurons.
        output_dim: number of motor neurons.
        sparsity_level: fraction of synapses left out, in [0, 1).
        random_seed: seed of synapse and polarity draws.

    """

    kind = 'random'

    def __init__(self, units: int, output_dim: Optional[int] = None,
                 sparsity_level: float = 0.0, random_seed: int = 1111) -> None:
        super().__init__(units, output_dim)
        if not 0.0 <= float(sparsity_level) < 1.0:
            raise WiringError(f'sparsity_level must be in [0, 1), got {sparsity_level}')
        self.sparsity_level = float(sparsity_level)
        self.random_seed = int(random_seed)
        self._rng = np.random.default_rng(self.random_seed)
        n = int(np.round(self.units * self.units * (1 - self.sparsity_level)))
        pairs = [(s, d) for s in range(self.units) for d in range(self.units)]
        for src, dest in self._rng.choice(pairs, size=n, replace=False):
            self.add_synapse(int(src), int(dest), int(self._rng.choice([-1, 1, 1])))

    def _build_sensory(self) -> None:
        n = int(np.round(self.input_dim * self.units * (1 - self.sparsity_level)))
        pairs = [(s, d) for s in range(self.input_dim) for d in range(self.units)]
        for src, dest in self._rng.choice(pairs, size=n, replace=False):
            # One polarity draw a synapse (ncps 1.0.1 draws twice and keeps the second).
            self.add_sensory_synapse(int(src), int(dest), int(self._rng.choice([-1, 1, 1])))

    def _params(self) -> Dict[str, Any]:
        return {'units': self.units, 'output_dim': self.output_dim,
                'sparsity_level': self.sparsity_level, 'random_seed': self.random_seed}


class NCP(Wiring):
    """
    Neural Circuit Policy wiring: sensory -> inter -> command (recurrent) -> motor.

    Args:
        inter_neurons: number of inter neurons (first processing layer).
        command_neurons: number of command neurons (second layer, recurrent).
        motor_neurons: number of motor neurons (outputs).
        sensory_fanout: synapses from each input to distinct inter neurons.
        inter_fanout: synapses from each inter neuron to distinct command neurons.
        recurrent_command_synapses: number of random command->command synapses.
        motor_fanin: synapses into each motor neuron from distinct command neurons.
        seed: seed of the ``numpy.random.RandomState`` stream (same draws as ncps).

    Neurons that no synapse reaches after the fan-out draws are connected from a mean fan-in
    of random sources, as in ncps.

    """

    kind = 'ncp'

    def __init__(self, inter_neurons: int, command_neurons: int, motor_neurons: int,
                 sensory_fanout: int, inter_fanout: int, recurrent_command_synapses: int,
                 motor_fanin: int, seed: int = 22222) -> None:
        counts = {'inter_neurons': inter_neurons, 'command_neurons': command_neurons,
                  'motor_neurons': motor_neurons}
        for name, value in counts.items():
            if int(value) < 1:
                raise WiringError(f'{name} must be >= 1, got {value}')
        super().__init__(inter_neurons + command_neurons + motor_neurons, motor_neurons)
        self.num_inter = int(inter_neurons)
        self.num_command = int(command_neurons)
        self.num_motor = int(motor_neurons)
        self.sensory_fanout = int(sensory_fanout)
        self.inter_fanout = int(inter_fanout)
        self.recurrent_command_synapses = int(recurrent_command_synapses)
        self.motor_fanin = int(motor_fanin)
        self.seed = int(seed)
        if not 1 <= self.motor_fanin <= self.num_command:
            raise WiringError(f'motor_fanin={motor_fanin} must be in [1, command_neurons='
                              f'{self.num_command}]')
        if not 1 <= self.sensory_fanout <= self.num_inter:
            raise WiringError(f'sensory_fanout={sensory_fanout} must be in [1, inter_neurons='
                              f'{self.num_inter}]')
        if not 1 <= self.inter_fanout <= self.num_command:
            raise WiringError(f'inter_fanout={inter_fanout} must be in [1, command_neurons='
                              f'{self.num_command}]')
        if self.recurrent_command_synapses < 0:
            raise WiringError('recurrent_command_synapses must be >= 0')
        self.motor_ids = list(range(0, self.num_motor))
        self.command_ids = list(range(self.num_motor, self.num_motor + self.num_command))
        self.inter_ids = list(range(self.num_motor + self.num_command, self.units))
        self._rng = np.random.RandomState(self.seed)

    @property
    def layers(self) -> List[List[int]]:
        return [self.inter_ids, self.command_ids, self.motor_ids]

    def neuron_type(self, neuron_id: int) -> str:
        if neuron_id < self.num_motor:
            return 'motor'
        if neuron_id < self.num_motor + self.num_command:
            return 'command'
        return 'inter'

    def _build_sensory(self) -> None:
        # The ncps draw order: sensory->inter, inter->command, recurrent command,
        # command->motor, all from one stream once the input size is known.
        rng = self._rng
        sensory = list(range(self.input_dim))
        unreached = list(self.inter_ids)
        for src in sensory:
            for dest in rng.choice(self.inter_ids, size=self.sensory_fanout, replace=False):
                if dest in unreached:
                    unreached.remove(dest)
                self.add_sensory_synapse(src, int(dest), int(rng.choice([-1, 1])))
        fanin = int(np.clip(int(self.input_dim * self.sensory_fanout / self.num_inter),
                            1, self.input_dim))
        for dest in unreached:
            for src in rng.choice(sensory, size=fanin, replace=False):
                self.add_sensory_synapse(int(src), dest, int(rng.choice([-1, 1])))

        unreached = list(self.command_ids)
        for src in self.inter_ids:
            for dest in rng.choice(self.command_ids, size=self.inter_fanout, replace=False):
                if dest in unreached:
                    unreached.remove(dest)
                self.add_synapse(src, int(dest), int(rng.choice([-1, 1])))
        fanin = int(np.clip(int(self.num_inter * self.inter_fanout / self.num_command),
                            1, self.num_command))
        for dest in unreached:
            for src in rng.choice(self.inter_ids, size=fanin, replace=False):
                self.add_synapse(int(src), dest, int(rng.choice([-1, 1])))

        for _ in range(self.recurrent_command_synapses):
            src = int(rng.choice(self.command_ids))
            dest = int(rng.choice(self.command_ids))
            self.add_synapse(src, dest, int(rng.choice([-1, 1])))

        unreached = list(self.command_ids)
        for dest in self.motor_ids:
            for src in rng.choice(self.command_ids, size=self.motor_fanin, replace=False):
                if src in unreached:
                    unreached.remove(src)
                self.add_synapse(int(src), dest, int(rng.choice([-1, 1])))
        fanout = int(np.clip(int(self.num_motor * self.motor_fanin / self.num_command),
                             1, self.num_motor))
        for src in unreached:
            for dest in rng.choice(self.motor_ids, size=fanout, replace=False):
                self.add_synapse(src, int(dest), int(rng.choice([-1, 1])))

    def _params(self) -> Dict[str, Any]:
        return {'inter_neurons': self.num_inter, 'command_neurons': self.num_command,
                'motor_neurons': self.num_motor, 'sensory_fanout': self.sensory_fanout,
                'inter_fanout': self.inter_fanout,
                'recurrent_command_synapses': self.recurrent_command_synapses,
                'motor_fanin': self.motor_fanin, 'seed': self.seed}


class AutoNCP(NCP):
    """
    An NCP sized from the total neuron count and the number of outputs (ncps rules).

    Args:
        units: total neurons (inter + command + motor).
        output_size: motor neurons; must be < units - 2 (about 0.3 * units works well).
        sparsity_level: in [0, 1]; higher means fewer synapses.
        seed: wiring seed.

    Command neurons are ``max(int(0.4 * (units - output_size)), 1)``, the rest are inter
    neurons; fan-outs are ``max(int(n * (1 - sparsity_level)), 1)`` of the target layer.

    """

    kind = 'auto_ncp'

    def __init__(self, units: int, output_size: int, sparsity_level: float = 0.5,
                 seed: int = 22222) -> None:
        units, output_size = int(units), int(output_size)
        if not 1 <= output_size < units - 2:
            raise WiringError(f'output_size must be in [1, units - 2): got {output_size} '
                              f'outputs for {units} units')
        if not 0.0 <= float(sparsity_level) <= 1.0:
            raise WiringError(f'sparsity_level must be in [0, 1], got {sparsity_level}')
        self.output_size = output_size
        self.sparsity_level = float(sparsity_level)
        density = 1.0 - self.sparsity_level
        inter_and_command = units - output_size
        command = max(int(0.4 * inter_and_command), 1)
        inter = inter_and_command - command
        super().__init__(inter, command, output_size,
                         sensory_fanout=max(int(inter * density), 1),
                         inter_fanout=max(int(command * density), 1),
                         recurrent_command_synapses=max(int(command * density * 2), 1),
                         motor_fanin=max(int(command * density), 1),
                         seed=seed)

    def _params(self) -> Dict[str, Any]:
        return {'units': self.units, 'output_size': self.output_size,
                'sparsity_level': self.sparsity_level, 'seed': self.seed}


class Custom(Wiring):
    """
    A wiring given by explicit matrices (for imported models whose seed is unknown).

    Args:
        adjacency: (units, units) polarities in {-1, 0, 1}.
        sensory_adjacency: (input_dim, units) polarities in {-1, 0, 1}.
        output_dim: number of motor neurons (ids ``0 .. output_dim-1``).
        layers: neuron ids of each layer in processing order (default: one layer).
        neuron_types: a type name per neuron (default: motor/inter).

    """

    kind = 'custom'

    def __init__(self, adjacency: Any, sensory_adjacency: Any, output_dim: int,
                 layers: Optional[List[List[int]]] = None,
                 neuron_types: Optional[List[str]] = None) -> None:
        adj = np.asarray(adjacency)
        sens = np.asarray(sensory_adjacency)
        if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
            raise WiringError(f'adjacency must be square, got shape {adj.shape}')
        if sens.ndim != 2 or sens.shape[1] != adj.shape[0]:
            raise WiringError(f'sensory_adjacency must be (inputs, {adj.shape[0]}), '
                              f'got {sens.shape}')
        for name, mat in (('adjacency', adj), ('sensory_adjacency', sens)):
            if not np.isin(mat, (-1, 0, 1)).all():
                raise WiringError(f'{name} entries must be -1, 0 or 1')
        super().__init__(adj.shape[0], output_dim)
        self.adjacency = adj.astype(np.int8)
        self._layers = ([list(range(self.units))] if layers is None
                        else [[int(i) for i in layer] for layer in layers])
        if sorted(i for layer in self._layers for i in layer) != list(range(self.units)):
            raise WiringError('layers must list every neuron id exactly once')
        self._types = None if neuron_types is None else [str(t) for t in neuron_types]
        if self._types is not None and len(self._types) != self.units:
            raise WiringError(f'neuron_types needs {self.units} entries')
        self._sensory = sens.astype(np.int8)
        self.build(sens.shape[0])

    @property
    def layers(self) -> List[List[int]]:
        return self._layers

    def neuron_type(self, neuron_id: int) -> str:
        if self._types is not None:
            return self._types[neuron_id]
        return super().neuron_type(neuron_id)

    def _build_sensory(self) -> None:
        self.sensory_adjacency = self._sensory.copy()

    def _params(self) -> Dict[str, Any]:
        return {'adjacency': self.adjacency.tolist(),
                'sensory_adjacency': self._sensory.tolist(),
                'output_dim': self.output_dim, 'layers': self._layers,
                'neuron_types': self._types}

    def to_dict(self) -> Dict[str, Any]:
        # input_dim is implied by sensory_adjacency.
        return {'kind': self.kind, **self._params()}


# ---------------------------------------------------------------------- layouts of draw_graph
Position = Tuple[float, float]


def _layered(wiring: Wiring) -> Dict[str, Position]:
    return {n: (float(c), (len(nodes) - 1) / 2.0 - j)  # columns centred on y = 0
            for c, (_, nodes) in enumerate(wiring.node_groups()) for j, n in enumerate(nodes)}


def _rings(groups: List[List[str]]) -> Dict[str, Position]:
    pos = {}
    for r, nodes in enumerate(groups):
        angles = 2 * np.pi * np.arange(len(nodes)) / max(len(nodes), 1) + 0.3 * r
        for n, a in zip(nodes, angles):
            pos[n] = (float((r + 1) * np.cos(a)), float((r + 1) * np.sin(a)))
    return pos


def _random(wiring: Wiring) -> Dict[str, Position]:
    rng = np.random.default_rng(0)
    return {n: (float(rng.uniform()), float(rng.uniform()))
            for _, nodes in wiring.node_groups() for n in nodes}


LAYOUTS: Dict[str, Callable[[Wiring], Dict[str, Position]]] = {
    'layered': _layered,
    'shell': lambda w: _rings([nodes for _, nodes in reversed(w.node_groups())]),
    'circular': lambda w: _rings([[n for _, nodes in w.node_groups() for n in nodes]]),
    'random': _random,
}
