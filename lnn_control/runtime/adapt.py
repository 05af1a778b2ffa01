# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Learning on the fly: online adaptation of a policy's readout from operator corrections.

Issue 7. While the robot drives, an operator (or a supervising controller) overrides some
commands. Each override is a training pair: the network's features at that moment and the
corrected action. This module turns those pairs into a bounded, reversible change of the
policy's readout, in numpy, inside the control loop's budget.

What is learned
---------------
A residual affine readout on top of the trained policy, in the policy's normalised action
space (``y`` = cell output, action = ``y * action_std + action_mean``)::

    y_adapted = y + W [phi; 1]          W (out, d + 1), zero before any correction

``phi`` (d,) is the network's pre-readout state after the step, the vector its trained readout
already reads (``FEATURES``, per model kind):

=========  =====================================================================  ==========
kind       phi                                                                    d (shipped)
=========  =====================================================================  ==========
``cfc``    all N neuron states (for an NCP wiring the motor neurons *are* the      19
           output, so the trained readout is the identity on them; the residual
           readout may read every neuron, inter and command neurons included)
``ltc``    all N neuron potentials (the trained readout is the per-motor affine    19
           ``output_w v + output_b``; same reasoning)
``gru``    the last layer's hidden state (what ``readout.weight`` reads)           16
``lstm``   the last layer's h (what ``readout.weight`` reads)                      -
``mlp``    the last hidden layer's activations (what ``readout.weight`` reads)     32
=========  =====================================================================  ==========

Because ``W`` starts at zero, the adapted policy equals the trained one exactly until the first
correction (``y + 0``), and ``W`` is also the *change* from the original readout, so its norm is
the readout drift.

Three sizes of change (``AdaptationConfig.features``), smallest first:

- ``'gain'`` (the default): ``W`` is held to one gain per action axis, ``action_j x (1 +
  theta_j)`` in the action's own units (:class:`AxisGains`). It can only learn *how hard* to
  push, not *where* to go: a stop stays a stop, no command changes sign, the policy's choice
  of route is untouched. It learns only from corrections that agree in sign with the policy
  on that axis (a correction the other way is the operator's own plan, not a gain). This is
  the one that meets issue 7's two targets together in ``lnn_control.train.adapt_eval``:
  on twice-weaker motors the CfC alone goes from 0.12 to 0.73 success, and on the unshifted
  robot afterwards it keeps all of its success (README, "Learning on the fly").
- ``'output'``: ``phi`` = the policy's own normalised action ``y``, ``W`` a full affine map of
  it (out x (out + 1)): cross-talk and offsets too. It learns offsets from the operator's
  plans, recovers little and forgets on the unshifted robot.
- ``'hidden'``: ``phi`` = the pre-readout state (the table above): the most expressive, the
  readout the issue sketches. Bounded by the trust radius it keeps the unshifted behaviour
  and recovers little; unbounded, it forgets.

Why recursive least squares (RLS) with a forgetting factor
-----------------------------------------------------------
With the network frozen, fitting ``W`` to corrections is linear least squares, so it has a
closed-form, exact online solution: RLS keeps the inverse feature covariance ``P`` (d+1, d+1)
and updates ``W`` and ``P`` per correction with one rank-1 step, O(d^2) (~400 multiply-adds
for d = 19, a few microseconds of numpy: nothing next to a 20 Hz control period on a Pi).
There is no learning rate to tune: each update is the exact minimiser of::

    sum_i lambda^(n-i) ||r_i - W [phi_i; 1]||^2 + lambda^n delta ||W||_F^2

(``r_i`` = corrected minus the network's own normalised action; ``lambda`` the forgetting
factor, so old corrections fade when the robot keeps changing; ``delta`` the prior precision:
a ridge pull towards the trained readout). Gradient descent on the same loss needs a step size
and many passes; refitting the network needs torch. ``P`` is capped at its prior (trace) so
that forgetting without excitation cannot wind it up. The whole state is two small matrices, so
snapshots and rollbacks are copies.

Safety
------
- Trust region: ``||W||_F <= trust_radius`` (normalised action units per unit feature), for
  ``'gain'`` ``||gains - 1|| <= trust_radius`` and every gain >= ``GAIN_FLOOR``; an update
  that leaves the region is projected back onto it (scaled).
- Rollback: :class:`PerformanceMonitor` scores windows of control steps by the intervention
  rate (and near-collisions). A window no worse than the reference takes a snapshot of
  ``(W, P)``; ``patience`` bad windows in a row restore the last snapshot (a rollback). If the
  windows stay bad with the snapshot restored, the world changed, not the readout: the
  reference is re-based instead of rolling back forever.
- Switches: ``enabled`` off applies the original readout and learns nothing (``W`` is kept);
  ``reset()`` returns to the original readout; non-finite inputs are counted and dropped.
- Persistence: :meth:`OnlineAdapter.save` writes a NEW policy file of kind ``'adapted'``
  (the original tensors under ``base.``, ``W`` as ``adapter.weight``, provenance naming the
  original and its checksum); it refuses to overwrite the policy it came from. ``load_policy``
  loads it like any policy, and adapting a loaded adapted policy continues from its ``W``
  (the trust region stays relative to the original readout).

Example::

    policy = load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(trust_radius=1.0))
    action = policy.step(obs, dt)                   # adapted action (== original at first)
    adapter.correct(operator_action)                # a correction of this step's action
    adapter.observe(intervened=True)                # once per control step (rollback monitor)
    adapter.save('pibot_nav_cfc_adapted.safetensors')
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
import datetime
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from lnn_control.runtime.base import Cell
from lnn_control.runtime.base import CELLS
from lnn_control.runtime.base import check_tensors
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import tensor_digest
from lnn_control.runtime.policy import write_policy_file
import numpy as np

__all__ = ['FEATURES', 'feature_size', 'AdaptedCell', 'RLS', 'AxisGains', 'AdaptationConfig',
           'PerformanceMonitor', 'OnlineAdapter', 'Corrector', 'default_adapted_path',
           'Corrections', 'read_corrections', 'write_corrections', 'finetune']

_BASE = 'base.'
_WEIGHT = 'adapter.weight'


# -- features: the pre-readout vector of each model kind -------------------------------------
def _neurons(cell: Cell, h: np.ndarray) -> np.ndarray:
    return h[:cell.units]


def _last_rnn_layer(cell: Cell, h: np.ndarray) -> np.ndarray:
    hidden = cell.hidden_size
    return h[(cell.num_layers - 1) * hidden:cell.num_layers * hidden]


def _mlp_last_hidden(cell: Cell, h: np.ndarray) -> np.ndarray:
    # The last hidden layer's buffer holds this step's activations (and a trailing 1).
    if cell._layers:
        return cell._layers[-1][1]
    return cell._stack[:-1]


def _neurons_size(cell: Cell) -> int:
    return int(cell.units)


def _rnn_size(cell: Cell) -> int:
    return int(cell.hidden_size)


def _mlp_size(cell: Cell) -> int:
    return int(cell._layers[-1][1].size if cell._layers else cell._stack.size - 1)


# kind -> (feature vector after a step from (cell, new state), feature size of a cell)
FEATURES: Dict[str, Tuple[Callable[[Cell, np.ndarray], np.ndarray], Callable[[Cell], int]]] = {
    'cfc': (_neurons, _neurons_size),
    'ltc': (_neurons, _neurons_size),
    'gru': (_last_rnn_layer, _rnn_size),
    'lstm': (_last_rnn_layer, _rnn_size),
    'mlp': (_mlp_last_hidden, _mlp_size),
}


FEATURE_MODES = ('hidden', 'output', 'gain')
ACTION_MODES = ('output', 'gain')   # the modes whose features are the cell's own output y


def feature_size(cell: Cell, mode: str = 'hidden') -> int:
    """Size d of the features of ``cell`` in ``mode`` (see the module docstring)."""
    if mode not in FEATURE_MODES:
        raise PolicyFormatError(f'adapted policy: unknown features {mode!r}; valid: '
                                f'{list(FEATURE_MODES)}')
    if mode in ACTION_MODES:
        return int(cell.output_size)
    if cell.kind not in FEATURES:
        raise PolicyFormatError(f'no readout features defined for model kind {cell.kind!r} '
                                f'(adaptable: {sorted(FEATURES)})')
    return FEATURES[cell.kind][1](cell)


class AdaptedCell(Cell):
    """
    A trained cell plus a residual affine readout ``y + W [phi; 1]`` (kind ``'adapted'``).

    Built by ``load_policy`` from an adapted policy file (config ``base_kind``,
    ``base_config``, ``feature_size``; tensors ``base.<name>`` and ``adapter.weight``) or
    live by :meth:`wrap`. After each step ``last_features`` (d,) and ``last_output`` (the base
    cell's own normalised output) hold what a correction of that step is learned from.
    Attributes the cell does not have (``time_gate``, ``time_constant``, ...) are read from
    the base cell.

    Args:
        config: ``{'base_kind', 'base_config', 'feature_size', 'features'}`` (features
            'hidden', the default, 'output' or 'gain').
        features: for :meth:`wrap`, 'hidden' (the pre-readout state, ``FEATURES``),
            'output' (phi = the cell's own normalised output y: ``W`` is then an affine map
            of the action, out x (out + 1)) or 'gain' (stepped as 'output'; the learner
            keeps ``W`` to a per-axis gain of the command, see :class:`AxisGains`).
        tensors: the base tensors prefixed ``base.`` and ``adapter.weight`` (out, d + 1).

    """

    kind = 'adapted'

    @staticmethod
    def expected_shapes(config: Mapping[str, Any]) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every tensor an adapted policy of this config holds."""
        base_kind = config.get('base_kind')
        if base_kind not in CELLS or base_kind == 'adapted':
            raise PolicyFormatError(f'adapted policy: unknown base kind {base_kind!r}')
        shapes = {_BASE + k: v
                  for k, v in CELLS[base_kind].expected_shapes(config['base_config']).items()}
        return shapes

    def __init__(self, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]) -> None:
        shapes = self.expected_shapes(config)
        base_tensors = {k[len(_BASE):]: v for k, v in tensors.items() if k.startswith(_BASE)}
        base = CELLS[config['base_kind']](config['base_config'], base_tensors)
        mode = config.get('features', 'hidden')
        d = feature_size(base, mode)
        if int(config.get('feature_size', d)) != d:
            raise PolicyFormatError(f'adapted policy: feature_size {config.get("feature_size")} '
                                    f'but the base cell has {d} features')
        shapes[_WEIGHT] = (base.output_size, d + 1)
        check_tensors(self.kind, shapes, tensors)
        self._setup(base, tensors[_WEIGHT], mode)

    @classmethod
    def wrap(cls, base: Cell, weight: Optional[np.ndarray] = None,
             features: str = 'hidden') -> 'AdaptedCell':
        """Wrap a live cell; ``weight`` None gives ``W = 0`` (the identity)."""
        cell = cls.__new__(cls)
        d = feature_size(base, features)
        if weight is None:
            weight = np.zeros((base.output_size, d + 1))
        cell._setup(base, weight, features)
        return cell

    def _setup(self, base: Cell, weight: np.ndarray, features: str) -> None:
        if isinstance(base, AdaptedCell):
            raise PolicyFormatError('an adapted cell cannot wrap another adapted cell')
        self.base = base
        self.input_size, self.output_size = base.input_size, base.output_size
        self.state_size = base.state_size
        self.features = features
        self.features_of = None if features in ACTION_MODES else FEATURES[base.kind][0]
        self.feature_size = d = feature_size(base, features)
        self.weight = np.array(weight, dtype=np.float64).reshape(base.output_size, d + 1)
        self.enabled = True
        self._z = np.ones(d + 1)   # [phi, 1] of the last step, float64 for the RLS
        self.last_output = np.zeros(base.output_size)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this object lacks: inspection tools read the base
        # cell's (time_gate, time_constant, units, wiring).
        base = self.__dict__.get('base')
        if base is None or name.startswith('__'):
            raise AttributeError(name)
        return getattr(base, name)

    def step(self, x: np.ndarray, h: np.ndarray, dt: float) -> Tuple[np.ndarray, np.ndarray]:
        """Step the base cell, then add ``W [phi; 1]`` (when enabled); return (y, new h)."""
        y, h = self.base.step(x, h, dt)
        z = self._z
        z[:-1] = y if self.features_of is None else self.features_of(self.base, h)
        self.last_output = y     # a fresh array every step, never written to
        if not self.enabled:
            return y, h
        return np.add(y, np.dot(self.weight, z), dtype=np.float32), h

    @property
    def last_features(self) -> np.ndarray:
        """Return the features phi (d,) of the last step (a copy)."""
        return self._z[:-1].copy()

    def neuron_labels(self) -> List[str]:
        """Return the base cell's labels (the readout adds no state)."""
        return self.base.neuron_labels()

    # Inspection reads the base cell's time constants (defined on Cell, so __getattr__
    # would not reach them).
    @property
    def time_constant_kind(self) -> str:  # type: ignore[override]
        """Return the base cell's ``time_constant_kind``."""
        return getattr(self.base, 'time_constant_kind', '')

    def time_constants(self) -> Optional[np.ndarray]:
        """Return what the base cell's time-constant method returns."""
        method = getattr(self.base, 'time_constants', None)
        return None if method is None else method()


# -- the update -----------------------------------------------------------------------------
def _rls_settings(forgetting: float, prior_precision: float) -> Tuple[float, float]:
    if not 0.0 < forgetting <= 1.0:
        raise ValueError(f'forgetting must be in (0, 1], got {forgetting}')
    if not 0.0 < prior_precision < math.inf:
        raise ValueError(f'prior_precision must be positive, got {prior_precision}')
    return float(forgetting), float(prior_precision)


class RLS:
    """
    Multi-output recursive least squares with exponential forgetting.

    Minimises ``sum_i lam^(n-i) ||r_i - theta z_i||^2 + lam^n delta ||theta - theta_0||^2``
    exactly after every sample (z (n_in,), r (n_out,)), at O(n_in^2) per update::

        k = P z / (lam + z' P z);  theta += (r - theta z) k';  P = (P - k z' P) / lam

    With ``lam = 1`` it is ridge regression. ``P`` is the (scaled) inverse of the weighted
    feature covariance; its trace is capped at the prior's (``n_in / delta``) so a direction
    that is never excited cannot blow up under forgetting (the cap is inactive whenever the
    data excite every direction, which is when the batch solution is well defined anyway).

    Args:
        n_in: input size (features + 1 for the bias).
        n_out: output size.
        forgetting: ``lam`` in (0, 1].
        prior_precision: ``delta`` > 0, the ridge weight pulling theta to ``theta0``.
        theta0: (n_out, n_in) start (default zeros).

    """

    def __init__(self, n_in: int, n_out: int, forgetting: float = 1.0,
                 prior_precision: float = 1.0, theta0: Optional[np.ndarray] = None) -> None:
        self.forgetting, self.prior_precision = _rls_settings(forgetting, prior_precision)
        self.theta = (np.zeros((n_out, n_in)) if theta0 is None
                      else np.array(theta0, dtype=np.float64).reshape(n_out, n_in))
        self.P = np.eye(n_in) / self.prior_precision
        self._max_trace = n_in / self.prior_precision
        self.updates = 0

    def update(self, z: np.ndarray, r: np.ndarray) -> bool:
        """One sample: features ``z`` (n_in,), target ``r`` (n_out,); False if refused."""
        z = np.asarray(z, dtype=np.float64)
        pz = self.P @ z
        k = pz / (self.forgetting + z @ pz)
        step = np.outer(np.asarray(r, dtype=np.float64) - self.theta @ z, k)
        p = (self.P - np.outer(k, pz)) / self.forgetting
        p += p.T                  # keep it symmetric against rounding (halved below)
        p *= 0.5
        if not (np.isfinite(step).all() and np.isfinite(p).all()):
            return False          # nothing changed: the state stays as it was
        self.theta += step        # in place: theta may be shared with a live cell
        trace = np.trace(p)
        if trace > self._max_trace:
            p *= self._max_trace / trace
        self.P = p
        self.updates += 1
        return True

    def snapshot(self) -> Tuple[np.ndarray, np.ndarray, int]:
        """Return a copy of (theta, P, updates)."""
        return self.theta.copy(), self.P.copy(), self.updates

    def restore(self, snap: Tuple[np.ndarray, np.ndarray, int]) -> None:
        """Go back to a :meth:`snapshot`."""
        self.theta, self.P, self.updates = snap[0].copy(), snap[1].copy(), snap[2]


class AxisGains(RLS):
    """
    Per-axis command gains learned by scalar recursive least squares (``features='gain'``).

    The most constrained readout change there is: each action axis j is scaled,
    ``corrected_j ~ (1 + theta_j) action_j`` in the action space's own units, one parameter
    per axis, no offset and no cross-talk between axes. What it cannot do is as important as
    what it can: it maps a zero command to zero (a stop stays a stop), never flips a
    command's sign (gains stay >= ``GAIN_FLOOR``), and leaves the policy's choice of *where*
    to go alone; it only learns *how hard* to push. That is the fix for actuation shifts
    (weaker motors, bigger wheels, a heavier robot), and it keeps an operator's plan in a
    tight spot (turn in place, go round the other way), which no gain can express, out of
    the readout. Per axis it minimises exactly::

        sum_i lam^(n-i) (r_i - theta u_i)^2 + lam^n delta (theta - theta_0)^2

    with ``u = action / action_std`` and ``r = (corrected - action) / action_std``:
    ``k = P u / (lam + P u^2); theta += k (r - theta u); P = (P - k u P) / lam``, ``P``
    capped at its prior ``1 / delta`` (no wind-up when an axis is not excited). It is
    :class:`RLS` with a diagonal model (one scalar problem per axis); snapshots are the same.

    Args:
        n: number of action axes.
        forgetting: ``lam`` in (0, 1].
        prior_precision: ``delta`` > 0.
        theta0: (n,) start (default zeros: gain 1).

    """

    def __init__(self, n: int, forgetting: float = 1.0, prior_precision: float = 1.0,
                 theta0: Optional[np.ndarray] = None) -> None:
        self.forgetting, self.prior_precision = _rls_settings(forgetting, prior_precision)
        self.theta = (np.zeros(n) if theta0 is None
                      else np.array(theta0, dtype=np.float64).reshape(n))
        self.P = np.full(n, 1.0 / self.prior_precision)
        self.updates = 0

    def update(self, u: np.ndarray, r: np.ndarray, mask: Optional[np.ndarray] = None) -> bool:
        """
        One sample: scaled actions ``u`` (n,), residual targets ``r`` (n,).

        ``mask`` (n,) bool: update only these axes (the others see no sample at all, not
        even forgetting).
        """
        u = np.asarray(u, dtype=np.float64)
        if mask is not None:
            u = np.where(mask, u, 0.0)
        pu = self.P * u
        k = pu / (self.forgetting + pu * u)
        step = k * (np.asarray(r, dtype=np.float64) - self.theta * u)
        p = (self.P - k * pu) / self.forgetting
        if mask is not None:
            p = np.where(mask, p, self.P)
        if not (np.isfinite(step).all() and np.isfinite(p).all()):
            return False
        self.theta += step
        self.P = np.minimum(p, 1.0 / self.prior_precision)
        self.updates += 1
        return True


# A learned gain never drops below this: scaling a command down is allowed, reversing or
# cancelling it is not.
GAIN_FLOOR = 0.1
# |action| / action_std below which an axis carries no information about its gain.
GAIN_DEADBAND = 0.05


@dataclass
class AdaptationConfig:
    """
    How the readout adapts (ROS parameters ``adaptation.*`` map onto these).

    Attributes:
        features: what the residual readout reads: 'hidden' (the pre-readout state),
            'output' (the policy's own action: an affine map of it, out x (out + 1)) or
            'gain' (one gain per action axis, :class:`AxisGains`; the trust radius then
            bounds ``||gains - 1||``).
        enabled: learn from corrections and apply the adapted readout (off: the original
            readout, nothing learned; the adapted readout is kept for when it is back on).
        forgetting: RLS forgetting factor in (0, 1] (per correction; 0.999 remembers about
            the last 1000 corrections).
        prior_precision: ridge pull towards the trained readout (larger: slower, safer).
        trust_radius: bound on ``||W||_F``, the change from the trained readout.
        window: control steps per monitor window (0 disables the rollback monitor).
        tolerance: a window whose score exceeds the reference by more than this is bad.
        patience: bad windows in a row that trigger a rollback.
        near_collision_weight: weight of near-collision steps in the window score.

    """

    enabled: bool = True
    features: str = 'gain'
    forgetting: float = 0.999
    prior_precision: float = 1.0
    trust_radius: float = 1.0
    window: int = 400
    tolerance: float = 0.15
    patience: int = 2
    near_collision_weight: float = 1.0

    def __post_init__(self) -> None:
        self.enabled = bool(self.enabled)
        if not 0.0 < float(self.forgetting) <= 1.0:
            raise ValueError(f'forgetting must be in (0, 1], got {self.forgetting}')
        for name in ('prior_precision', 'trust_radius'):
            if not 0.0 < float(getattr(self, name)) < math.inf:
                raise ValueError(f'{name} must be positive and finite, got '
                                 f'{getattr(self, name)}')
        for name in ('tolerance', 'near_collision_weight'):
            if not 0.0 <= float(getattr(self, name)) < math.inf:
                raise ValueError(f'{name} must be >= 0 and finite, got {getattr(self, name)}')
        if int(self.window) < 0 or int(self.patience) < 1:
            raise ValueError('window must be >= 0 and patience >= 1')
        for f in dataclasses.fields(self):
            if f.type in ('float', float):
                setattr(self, f.name, float(getattr(self, f.name)))
        self.window, self.patience = int(self.window), int(self.patience)
        if self.features not in FEATURE_MODES:
            raise ValueError(f'features must be one of {list(FEATURE_MODES)}, got '
                             f'{self.features!r}')


class PerformanceMonitor:
    """
    Windowed intervention-rate monitor that decides when to snapshot and when to roll back.

    Each control step reports whether the operator was in control and whether the robot was
    near a collision. Every ``window`` steps the window's score (intervention rate +
    ``near_collision_weight`` x near-collision rate) is compared with the reference (an
    average of past good windows): no worse than ``reference + tolerance`` -> ``'good'``
    (snapshot); ``patience`` bad windows in a row -> ``'rollback'``; still bad in the window
    right after a rollback -> ``'rebase'`` (the world changed: accept the new level).
    """

    def __init__(self, config: AdaptationConfig) -> None:
        self.config = config
        self.reference: Optional[float] = None
        self.last_score: Optional[float] = None
        self._steps = self._interventions = self._near = 0
        self._bad = 0
        self._after_rollback = False

    def observe(self, intervened: bool, near_collision: bool = False) -> Optional[str]:
        """Count one control step; at a window's end return 'good', 'rollback' or 'rebase'."""
        c = self.config
        if c.window <= 0:
            return None
        self._steps += 1
        self._interventions += bool(intervened)
        self._near += bool(near_collision)
        if self._steps < c.window:
            return None
        score = (self._interventions + c.near_collision_weight * self._near) / self._steps
        self._steps = self._interventions = self._near = 0
        self.last_score = score
        if self.reference is None or score <= self.reference + c.tolerance:
            previous = score if self.reference is None else self.reference
            self.reference = 0.5 * (previous + score)
            self._bad, self._after_rollback = 0, False
            return 'good'
        if self._after_rollback:
            self.reference, self._bad, self._after_rollback = score, 0, False
            return 'rebase'
        self._bad += 1
        if self._bad >= c.patience:
            self._bad, self._after_rollback = 0, True
            return 'rollback'
        return None

    def reset(self) -> None:
        """Forget the reference and the current window."""
        self.__init__(self.config)


class OnlineAdapter:
    """
    Adapts a loaded :class:`Policy`'s readout in place from corrections (module docstring).

    Wrapping replaces ``policy.cell`` by an :class:`AdaptedCell` (whose ``W`` starts at zero:
    ``policy.step`` is unchanged until a correction). An already adapted policy continues from
    its stored ``W``.

    Args:
        policy: the policy the controller steps.
        config: the adaptation settings.

    Attributes:
        corrections: corrections learned from; ``rejected``: corrections dropped (non-finite,
            no step yet); ``rollbacks``, ``rebases``, ``snapshots``: monitor outcomes;
        projections: updates projected back onto the trust region.

    """

    def __init__(self, policy: Policy, config: Optional[AdaptationConfig] = None) -> None:
        self.policy = policy
        self.config = config or AdaptationConfig()
        cell = policy.cell
        if not isinstance(cell, AdaptedCell):
            cell = AdaptedCell.wrap(cell, features=self.config.features)
            policy.cell = cell
        self.cell = cell
        spec = policy.spec
        self._act_mean = np.asarray(spec.action_mean, dtype=np.float64)
        self._act_std = np.asarray(spec.action_std, dtype=np.float64)
        # 'gain': the readout change is W = G(theta) (below); the scaled action a / std is
        # y + mean / std in the cell's normalised units.
        self.gains = cell.features == 'gain'
        self._offset = self._act_mean / self._act_std
        self._target_low = self.normalise(spec.action.low)
        self._target_high = self.normalise(spec.action.high)
        self.rls: RLS = self._learner(self._theta_of(cell.weight))
        self.monitor = PerformanceMonitor(self.config)
        self.corrections = self.rejected = self.skipped = 0
        self.saved_corrections = 0     # ``corrections`` at the last save (see ``unsaved``)
        self.rollbacks = self.rebases = self.snapshots = self.projections = 0
        self._snapshot = self.rls.snapshot()
        self.enabled = self.config.enabled

    @property
    def enabled(self) -> bool:
        """Whether corrections are learned and the adapted readout is applied."""
        return self.cell.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.cell.enabled = bool(value)
        self.config.enabled = bool(value)

    def configure(self, forgetting: Optional[float] = None,
                  trust_radius: Optional[float] = None) -> None:
        """Change the forgetting factor or trust radius while running (a ROS parameter)."""
        if forgetting is not None:
            self.config.forgetting = self.rls.forgetting = float(
                AdaptationConfig(forgetting=forgetting).forgetting)
        if trust_radius is not None:
            self.config.trust_radius = AdaptationConfig(trust_radius=trust_radius).trust_radius
            self._project()

    def _theta_of(self, weight: np.ndarray) -> np.ndarray:
        if not self.gains:
            return weight
        theta = np.diag(weight).copy()
        if not np.allclose(weight, self._gain_weight(theta), atol=1e-6):
            raise PolicyFormatError('adapted policy: features "gain" but its readout change '
                                    'is not a per-axis gain')
        return theta

    def _gain_weight(self, theta: np.ndarray) -> np.ndarray:
        # (1 + theta) * action in action units is y + theta * (y + mean / std) normalised.
        return np.concatenate([np.diag(theta), (theta * self._offset)[:, None]], axis=1)

    def _learner(self, theta0: np.ndarray) -> RLS:
        c, cell = self.config, self.cell
        if self.gains:
            return AxisGains(cell.output_size, c.forgetting, c.prior_precision, theta0)
        rls = RLS(cell.feature_size + 1, cell.output_size, c.forgetting, c.prior_precision,
                  theta0=theta0)
        rls.theta = cell.weight   # shared: an update is live at the next step
        return rls

    def _sync(self) -> None:
        # Make the cell's W what the learner holds (full readouts share the array).
        if self.gains:
            self.cell.weight[...] = self._gain_weight(self.rls.theta)
        elif self.rls.theta is not self.cell.weight:
            self.cell.weight[...] = self.rls.theta
            self.rls.theta = self.cell.weight

    def set_gain(self, gain: Any) -> None:
        """Set the per-axis gains by hand (features 'gain'; trust region and floor apply)."""
        if not self.gains:
            raise ValueError(f'set_gain needs features "gain", this adapter has '
                             f'{self.cell.features!r}')
        value = np.broadcast_to(np.asarray(gain, dtype=np.float64), self.rls.theta.shape)
        if not np.isfinite(value).all():
            raise ValueError(f'gains must be finite, got {gain}')
        self.rls.theta[...] = value - 1.0
        self._project()

    @property
    def gain(self) -> Optional[np.ndarray]:
        """Per-axis command gains (features 'gain'), else None."""
        return 1.0 + self.rls.theta if self.gains else None

    @property
    def weight(self) -> np.ndarray:
        """Return the residual readout W (out, d + 1), normalised action units (a view)."""
        return self.cell.weight

    @property
    def drift(self) -> float:
        """Size of the change from the trained readout: ``||W||_F`` or ``||gains - 1||``."""
        return float(np.linalg.norm(self.rls.theta))

    def normalise(self, action: np.ndarray) -> np.ndarray:
        """Map an action in the action space's units to the policy's normalised output."""
        return (np.asarray(action, dtype=np.float64) - self._act_mean) / self._act_std

    def correct(self, action: np.ndarray) -> bool:
        """
        Learn that the last step's action should have been ``action`` (action-space units).

        Returns True when the pair was learned; False when adaptation is off, no step ran
        yet, or the action or features are not finite (counted in ``rejected``).
        """
        if not self.enabled:
            return False
        cell = self.cell
        try:
            target = self.normalise(np.asarray(action, dtype=np.float64).reshape(-1))
        except (TypeError, ValueError):
            target = np.full(1, np.nan)
        phi = cell._z
        if (target.shape != (cell.output_size,) or not np.isfinite(target).all()
                or not np.isfinite(phi).all() or not np.isfinite(cell.last_output).all()):
            self.rejected += 1
            return False
        # Learn what the robot can execute: the Actuator clips commands to the action space.
        target = np.clip(target, self._target_low, self._target_high)
        residual = target - cell.last_output
        if self.gains:
            # A gain can only say "push harder / softer": an axis where the correction has
            # the other sign than the policy's action (or either is ~0) is a different plan,
            # which no gain can express, so that axis learns nothing from this pair.
            u = cell.last_output + self._offset        # action / std
            agree = (u * (target + self._offset) > 0) & (np.abs(u) > GAIN_DEADBAND)
            if not agree.any():
                self.skipped += 1
                return False
            learned = self.rls.update(u, residual, agree)
        else:
            learned = self.rls.update(cell._z, residual)
        if not learned:
            self.rejected += 1
            return False
        self._project()
        self.corrections += 1
        return True

    def observe(self, intervened: bool, near_collision: bool = False) -> Optional[str]:
        """Report one control step to the rollback monitor; returns its decision, if any."""
        if not self.enabled:
            return None
        decision = self.monitor.observe(intervened, near_collision)
        if decision in ('good', 'rebase'):
            self._snapshot = self.rls.snapshot()
            self.snapshots += 1
            self.rebases += decision == 'rebase'
        elif decision == 'rollback':
            self._restore(self._snapshot)
            self.rollbacks += 1
        return decision

    @property
    def unsaved(self) -> bool:
        """Whether corrections were learned since the last :meth:`save` (or ever)."""
        return self.corrections != self.saved_corrections

    def reset(self) -> None:
        """Back to the trained readout (``W = 0``), fresh RLS state and monitor."""
        self.cell.weight[...] = 0.0
        self.rls = self._learner(np.zeros_like(self.rls.theta))
        self.monitor.reset()
        self._snapshot = self.rls.snapshot()
        self.corrections = self.saved_corrections = 0

    def _restore(self, snap: Tuple[np.ndarray, np.ndarray, int]) -> None:
        self.rls.restore(snap)
        self._sync()

    def _project(self) -> None:
        theta = self.rls.theta
        norm = np.linalg.norm(theta)
        if norm > self.config.trust_radius:
            theta *= self.config.trust_radius / norm
            self.projections += 1
        if self.gains:
            np.maximum(theta, GAIN_FLOOR - 1.0, out=theta)
        self._sync()

    def diagnostics(self) -> Dict[str, str]:
        """Key -> value strings for /diagnostics."""
        score = self.monitor.last_score
        return {'adaptation_enabled': str(self.enabled),
                'adaptation_corrections': str(self.corrections),
                'adaptation_rejected': str(self.rejected),
                'adaptation_skipped': str(self.skipped),
                'adaptation_drift': f'{self.drift:.4f}',
                'adaptation_features': self.cell.features,
                'adaptation_trust_radius': f'{self.config.trust_radius:g}',
                'adaptation_forgetting': f'{self.config.forgetting:g}',
                'adaptation_rollbacks': str(self.rollbacks),
                'adaptation_rebases': str(self.rebases),
                'adaptation_projections': str(self.projections),
                'adaptation_window_score': 'none' if score is None else f'{score:.3f}',
                **({'adaptation_gains': ' '.join(f'{g:.3f}' for g in self.gain)}
                   if self.gains else {})}

    # -- persistence ------------------------------------------------------------------------
    def adapted_tensors(self) -> Tuple[Dict[str, np.ndarray], PolicySpec]:
        """Return the tensors and spec of the adapted policy as a file stores them."""
        source = self.policy.source
        if not source:
            raise ValueError('the policy has no source file to take the base tensors from')
        tensors, spec, _ = read_policy_file(source)
        if spec.kind == 'adapted':
            base = {k[len(_BASE):]: v for k, v in tensors.items() if k.startswith(_BASE)}
            base_kind, base_config = spec.config['base_kind'], spec.config['base_config']
            lineage = list(spec.provenance.get('adapted_lineage', []))
            base_spec_json = spec.provenance['base_spec']
        else:
            base, base_kind, base_config, lineage = tensors, spec.kind, spec.config, []
            base_spec_json = spec.to_json()
        lineage.append({'file': str(source), 'sha256': tensor_digest(tensors)})
        out = {_BASE + k: v for k, v in base.items()}
        out[_WEIGHT] = self.cell.weight.astype(np.float32)
        provenance = {
            'method': 'online readout adaptation (RLS, lnn_control.runtime.adapt)',
            'created': datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds'),
            'adapted_from': str(source),
            'adapted_lineage': lineage,
            'corrections': self.corrections,
            'drift': self.drift,
            'rollbacks': self.rollbacks,
            'adaptation': dataclasses.asdict(self.config),
            'base_spec': base_spec_json,
            'base_provenance': base_spec_json.get('provenance', {}),
        }
        new_spec = dataclasses.replace(
            spec, kind='adapted', provenance=provenance,
            config={'base_kind': base_kind, 'base_config': base_config,
                    'feature_size': self.cell.feature_size, 'features': self.cell.features})
        return out, new_spec

    def save(self, path: Union[str, os.PathLike], **provenance: Any) -> Path:
        """
        Write the adapted policy to a NEW file (``load_policy`` loads it).

        Raises ValueError if ``path`` is the policy's own source file or any file of its
        adaptation lineage: an original is never overwritten.
        """
        path = Path(path)
        tensors, spec = self.adapted_tensors()
        protected = {str(Path(item['file']).resolve())
                     for item in spec.provenance['adapted_lineage']}
        if str(path.resolve()) in protected:
            raise ValueError(f'refusing to overwrite {path}: it is the policy this one was '
                             f'adapted from; save under a new name')
        spec.provenance.update(provenance)
        written = write_policy_file(path, tensors, spec)
        self.saved_corrections = self.corrections
        return written


class Corrector:
    """
    The controller's correction input: override the policy while corrections arrive, learn.

    As twist_mux does for teleop, a correction (an operator's command, action-space units)
    takes priority over the policy for ``timeout`` seconds (steady clock) after it arrives.
    Each control step that runs while one is fresh outputs it and, when adaptation is on,
    teaches the readout that this step's action should have been it. Every step is reported
    to the rollback monitor (intervened or not, and near-collision: the closest lidar return
    under ``near_distance``). Used by :class:`~lnn_control.runtime.controller.ControllerCore`.

    Args:
        policy: the controller's policy (wrapped for adaptation when it is first enabled).
        timeout: seconds a correction keeps priority.
        adaptation: the adaptation settings; None or ``enabled=False``: override only.
        near_distance: lidar range (m) below which a step counts as a near-collision.

    """

    def __init__(self, policy: Policy, timeout: float = 0.5,
                 adaptation: Optional[AdaptationConfig] = None,
                 near_distance: float = 0.2) -> None:
        if not 0.0 < timeout < math.inf:
            raise ValueError(f'correction timeout must be positive, got {timeout}')
        self.policy = policy
        self.timeout = float(timeout)
        self.near_distance = float(near_distance)
        self.config = adaptation or AdaptationConfig(enabled=False)
        self.adapter: Optional[OnlineAdapter] = None
        self.command: Optional[np.ndarray] = None
        self.received = self.rejected = self.overrides = 0
        self._time = -math.inf
        if self.config.enabled:
            self.set_enabled(True)

    def set_enabled(self, enabled: bool) -> None:
        """Switch learning + the adapted readout on or off (the readout is kept when off)."""
        if enabled and self.adapter is None:
            self.adapter = OnlineAdapter(self.policy, self.config)
        self.config.enabled = bool(enabled)
        if self.adapter is not None:
            self.adapter.enabled = bool(enabled)

    def feed(self, command: Any, now: float) -> bool:
        """Take a correction (v, w) received at steady time ``now``; False if refused."""
        try:
            value = np.asarray(command, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            value = np.full(1, np.nan)
        if value.size != self.policy.spec.action.size or not np.isfinite(value).all():
            self.rejected += 1
            return False
        self.command, self._time = value, float(now)
        self.received += 1
        return True

    def active(self, now: float) -> bool:
        """Whether a correction is fresh at steady time ``now``."""
        return self.command is not None and now - self._time <= self.timeout

    def after_step(self, action: np.ndarray, now: float, scan: Any = None) -> np.ndarray:
        """After a policy step: the correction (learned from) if fresh, else ``action``."""
        intervened = self.active(now)
        if intervened:
            self.overrides += 1
            if self.adapter is not None:
                self.adapter.correct(self.command)
            action = self.command.copy()
        if self.adapter is not None:
            self.adapter.observe(intervened, self._near(scan))
        return action

    def _near(self, scan: Any) -> bool:
        ranges = getattr(scan, 'ranges', None)
        if ranges is None:
            return False
        r = np.asarray(ranges, dtype=np.float64)
        r = r[np.isfinite(r) & (r >= getattr(scan, 'range_min', 0.0))]
        return bool(r.size and r.min() < self.near_distance)

    @property
    def unsaved(self) -> bool:
        """Whether the adapter learned corrections since its last save."""
        return self.adapter is not None and self.adapter.unsaved

    def save(self, directory: Union[str, os.PathLike], **provenance: Any) -> Path:
        """Write the adapted policy as a new file in ``directory`` (a timestamped name)."""
        if self.adapter is None:
            raise ValueError('adaptation was never enabled')
        return self.adapter.save(default_adapted_path(self.policy, directory), **provenance)

    def reset(self) -> bool:
        """Back to the trained readout; False when adaptation was never enabled."""
        if self.adapter is None:
            return False
        self.adapter.reset()
        return True

    def diagnostics(self) -> Dict[str, str]:
        """Key -> value strings for /diagnostics."""
        values = {'corrections_received': str(self.received),
                  'corrections_rejected': str(self.rejected),
                  'corrections_overrides': str(self.overrides)}
        if self.adapter is not None:
            values.update(self.adapter.diagnostics())
        else:
            values['adaptation_enabled'] = 'False'
        return values


def default_adapted_path(policy: Policy, directory: Union[str, os.PathLike]) -> Path:
    """``DIR/<stem>_adapted_<UTC time>.safetensors`` for ``policy``'s source."""
    stem = Path(policy.source).stem if policy.source else policy.spec.kind
    when = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')
    return Path(directory).expanduser() / f'{stem}_adapted_{when}.safetensors'


# -- recorded corrections (offline finetuning) ----------------------------------------------
@dataclass
class Corrections:
    """
    A recorded drive with corrections, replayed by :func:`finetune`.

    Attributes:
        obs: (T, obs_size) observations, in the policy's observation units.
        dt: (T,) seconds each step took (> 0).
        action: (T, action_size) the corrected command in action-space units; a row of NaN
            means no correction at that step (the policy drove).
        episode_start: (T,) bool: reset the hidden state before this step.

    """

    obs: np.ndarray
    dt: np.ndarray
    action: np.ndarray
    episode_start: np.ndarray

    def __post_init__(self) -> None:
        self.obs = np.asarray(self.obs, dtype=np.float32)
        self.dt = np.asarray(self.dt, dtype=np.float64).reshape(-1)
        self.action = np.asarray(self.action, dtype=np.float64)
        self.episode_start = np.asarray(self.episode_start, dtype=bool).reshape(-1)
        t = self.dt.size
        if self.obs.ndim != 2 or self.obs.shape[0] != t or self.action.ndim != 2 or (
                self.action.shape[0] != t or self.episode_start.size != t):
            raise ValueError(f'corrections: obs (T, n), dt (T,), action (T, m) and '
                             f'episode_start (T,) must agree; got {self.obs.shape}, '
                             f'{self.dt.shape}, {self.action.shape}, '
                             f'{self.episode_start.shape}')


def write_corrections(path: Union[str, os.PathLike], data: Corrections) -> Path:
    """Save as ``.npz`` (arrays obs, dt, action, episode_start) or ``.csv`` (see read)."""
    path = Path(path)
    if path.suffix == '.npz':
        np.savez(path, obs=data.obs, dt=data.dt, action=data.action,
                 episode_start=data.episode_start)
        return path
    with open(path, 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(['dt', 'episode_start']
                        + [f'obs{i}' for i in range(data.obs.shape[1])]
                        + [f'action{i}' for i in range(data.action.shape[1])])
        for k in range(data.dt.size):
            writer.writerow([repr(float(data.dt[k])), int(data.episode_start[k])]
                            + [repr(float(v)) for v in data.obs[k]]
                            + ['' if math.isnan(v) else repr(float(v))
                               for v in data.action[k]])
    return path


def read_corrections(path: Union[str, os.PathLike]) -> Corrections:
    """
    Read a corrections file.

    ``.npz`` (read with ``allow_pickle=False``): arrays ``obs`` (T, n), ``dt`` (T,),
    ``action`` (T, m; NaN rows: no correction) and optionally ``episode_start`` (T,; default
    only the first step). ``.csv``: a header row, then one row per control step with columns
    ``dt``, ``episode_start`` (0/1), ``obs0..obs{n-1}``, ``action0..action{m-1}`` (empty
    action cells: no correction).
    """
    path = Path(path)
    if path.suffix == '.npz':
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ('obs', 'dt', 'action') if k not in data.files]
            if missing:
                raise ValueError(f'{path}: corrections npz lacks arrays {missing}')
            start = (data['episode_start'] if 'episode_start' in data.files
                     else np.arange(data['dt'].size) == 0)
            return Corrections(data['obs'], data['dt'], data['action'], start)
    if path.suffix != '.csv':
        raise ValueError(f'{path}: corrections must be .npz or .csv')
    with open(path, newline='') as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ValueError(f'{path}: no data rows')
    header = rows[0]
    obs_cols = [i for i, name in enumerate(header) if name.startswith('obs')]
    act_cols = [i for i, name in enumerate(header) if name.startswith('action')]
    if header[:2] != ['dt', 'episode_start'] or not obs_cols or not act_cols:
        raise ValueError(f'{path}: header must be dt, episode_start, obs0.., action0..')

    def num(text: str) -> float:
        return float(text) if text.strip() else math.nan

    body = rows[1:]
    return Corrections(obs=[[num(r[i]) for i in obs_cols] for r in body],
                       dt=[num(r[0]) for r in body],
                       action=[[num(r[i]) for i in act_cols] for r in body],
                       episode_start=[bool(int(r[1] or 0)) for r in body])


def finetune(policy: Policy, data: Corrections,
             config: Optional[AdaptationConfig] = None) -> OnlineAdapter:
    """
    Replay a recorded drive and apply the online update to its corrections, offline.

    The policy is stepped on every recorded observation with its recorded ``dt`` (so its
    features are what they were online) and learns from every corrected step, exactly as
    the controller does; the rollback monitor sees the correction steps as interventions.
    Returns the adapter (``adapter.save(path)`` writes the finetuned policy).
    """
    config = config or AdaptationConfig()
    config.enabled = True
    adapter = OnlineAdapter(policy, config)
    if data.obs.shape[1] != policy.spec.obs.size:
        raise ValueError(f'corrections hold {data.obs.shape[1]} observations per step, the '
                         f'policy takes {policy.spec.obs.size}')
    if data.action.shape[1] != policy.spec.action.size:
        raise ValueError(f'corrections hold {data.action.shape[1]} actions per step, the '
                         f'policy gives {policy.spec.action.size}')
    policy.reset()
    for k in range(data.dt.size):
        if data.episode_start[k]:
            policy.reset()
        dt = data.dt[k]
        if not (math.isfinite(dt) and dt > 0.0) or not np.isfinite(data.obs[k]).all():
            adapter.rejected += 1
            continue
        policy.step(data.obs[k], dt)
        corrected = bool(np.isfinite(data.action[k]).all())
        if corrected:
            adapter.correct(data.action[k])
        adapter.observe(corrected)
    return adapter
