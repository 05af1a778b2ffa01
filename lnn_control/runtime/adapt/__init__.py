# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Learning on the fly: online adaptation of a policy's readout from operator corrections.

While the robot drives, an operator (or a supervising controller) overrides some
commands. Each override is a training pair: the network's features at that moment and the
corrected action. This module turns those pairs into a bounded, reversible change of the
policy's readout, in numpy, inside the control loop's budget.

What is learned
---------------
A residual affine readout on top of the trained policy, in the policy's normalised action
space (``y`` = cell output, action = ``y * action_std + action_mean``)::

    y_adapted = y + W [phi; 1]          W (out, d + 1), zero before any correction

``phi`` (d,) is the network's pre-readout state after the step, the vector its trained readout
already reads (each runtime cell's ``readout_features``):

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

Layout: :mod:`~lnn_control.runtime.adapt.maths` (the learners), ``cell`` (the adapted cell),
``adapter`` (settings, monitor, :class:`OnlineAdapter` and its files), ``live`` (what a running
controller holds), ``corrections`` (recorded corrections and offline finetuning). Override
arbitration (which command drives) is not here but in :mod:`lnn_control.runtime.override`.
"""

from lnn_control.runtime.adapt.adapter import AdaptationConfig
from lnn_control.runtime.adapt.adapter import default_adapted_path
from lnn_control.runtime.adapt.adapter import GAIN_DEADBAND
from lnn_control.runtime.adapt.adapter import GAIN_FLOOR
from lnn_control.runtime.adapt.adapter import OnlineAdapter
from lnn_control.runtime.adapt.adapter import PerformanceMonitor
from lnn_control.runtime.adapt.cell import ACTION_MODES
from lnn_control.runtime.adapt.cell import AdaptedCell
from lnn_control.runtime.adapt.cell import FEATURE_MODES
from lnn_control.runtime.adapt.cell import feature_size
from lnn_control.runtime.adapt.corrections import Corrections
from lnn_control.runtime.adapt.corrections import finetune
from lnn_control.runtime.adapt.corrections import read_corrections
from lnn_control.runtime.adapt.corrections import write_corrections
from lnn_control.runtime.adapt.live import LiveAdaptation
from lnn_control.runtime.adapt.maths import AxisGains
from lnn_control.runtime.adapt.maths import RLS

__all__ = ['ACTION_MODES', 'AdaptationConfig', 'AdaptedCell', 'AxisGains', 'Corrections',
           'default_adapted_path', 'FEATURE_MODES', 'feature_size', 'finetune', 'GAIN_DEADBAND',
           'GAIN_FLOOR', 'LiveAdaptation', 'OnlineAdapter', 'PerformanceMonitor',
           'read_corrections', 'RLS', 'write_corrections']
