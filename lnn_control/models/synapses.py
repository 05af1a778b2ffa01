# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The learned strength and sign of every synapse of a wired liquid network.

``PolicyModel.synapse_weights()`` answers from here (a registry by model kind, so the report
that draws a wiring, :mod:`lnn_control.inspect`, knows no model's parameter names):

- LTC: strength = the maximum conductance (softplus of ``w``, unless the parameter constraints
  are explicit), sign = that of the reversal potential ``erev`` (above rest it excites, below
  it inhibits).
- CfC: the wiring only masks the heads (its declared polarity is not used by the model), so
  strength = the RMS of the synapse's weights in the four heads (ff1, ff2, time_a, time_b)
  and sign = that of ``ff1 + ff2`` (does the source raise the target's candidate states).

Each synapse is (src, dest, strength, sign, declared polarity); models without a wiring (a CfC
with dense heads, MLP, GRU, LSTM) have none.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = ['SYNAPSES', 'Synapse']

Synapse = Tuple[int, int, float, int, int]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _ltc(model: Any) -> Dict[str, Any]:
    wiring = model.wiring

    def value(name: str) -> np.ndarray:
        return getattr(model, name).detach().cpu().double().numpy()

    positive = _softplus if model.implicit_param_constraints else (lambda p: p)
    sw, w = positive(value('sensory_w')), positive(value('w'))
    sensory_erev, erev = value('sensory_erev'), value('erev')
    sensory: List[Synapse] = [
        (int(i), int(d), float(sw[i, d]), int(np.sign(sensory_erev[i, d]) or 1),
         int(wiring.sensory_adjacency[i, d]))
        for i, d in zip(*np.nonzero(wiring.sensory_adjacency))]
    recurrent: List[Synapse] = [
        (int(s), int(d), float(w[s, d]), int(np.sign(erev[s, d]) or 1),
         int(wiring.adjacency[s, d]))
        for s, d in zip(*np.nonzero(wiring.adjacency))]
    return {'wiring': wiring, 'sensory': sensory, 'recurrent': recurrent}


def _cfc(model: Any) -> Optional[Dict[str, Any]]:
    wiring = model.wiring
    if wiring is None:
        return None           # dense heads over a backbone: no neuron-level wiring
    layers = wiring.layers
    where = {n: (li, pos) for li, layer in enumerate(layers) for pos, n in enumerate(layer)}
    in_sizes = [model.input_size] + [len(layer) for layer in layers[:-1]]

    def heads(li: int) -> List[np.ndarray]:
        layer = model.layers[li]
        return [getattr(layer, h).weight.detach().cpu().double().numpy()
                for h in ('ff1', 'ff2', 'time_a', 'time_b') if hasattr(layer, h)]

    weights = [heads(li) for li in range(len(layers))]

    def weight(li: int, row: int, col: int) -> Tuple[float, int]:
        values = [w[row, col] for w in weights[li]]
        candidate = sum(values[:2])       # ff1 (+ ff2): the candidate states
        return float(np.sqrt(np.mean(np.square(values)))), int(np.sign(candidate) or 1)

    sensory: List[Synapse] = []
    for i, d in zip(*np.nonzero(wiring.sensory_adjacency)):
        li, row = where[int(d)]
        if li == 0:
            sensory.append((int(i), int(d), *weight(0, row, int(i)),
                            int(wiring.sensory_adjacency[i, d])))
    recurrent: List[Synapse] = []
    for s, d in zip(*np.nonzero(wiring.adjacency)):
        (ls, ps), (ld, row) = where[int(s)], where[int(d)]
        if ls == ld:
            col = in_sizes[ld] + ps
        elif ls == ld - 1:
            col = ps
        else:
            continue
        recurrent.append((int(s), int(d), *weight(ld, row, col), int(wiring.adjacency[s, d])))
    return {'wiring': wiring, 'sensory': sensory, 'recurrent': recurrent}


# model kind -> its synapse weights (``PolicyModel.synapse_weights``).
SYNAPSES: Dict[str, Callable[[Any], Optional[Dict[str, Any]]]] = {'ltc': _ltc, 'cfc': _cfc}
