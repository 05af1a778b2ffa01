# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Why did the policy act? Wiring diagram, neuron traces and input attribution.

    lnn-control inspect pibot_nav_cfc --out inspect_cfc --episodes 3 --seed 0

writes into ``--out``:

========================  ===================================================================
file                      what
========================  ===================================================================
``wiring.png/.svg``       the NCP: sensory inputs, inter, command and motor neurons; synapse
                          colour = learned polarity (excitatory / inhibitory), width = weight
``traces_ep<k>.png``      per episode, on one time axis: observations, neuron activations by
                          layer, time constants (LTC tau in s, CfC time gate), actions
``attribution_ep<k>.png`` per episode and action: integrated-gradients attribution per sensor
                          group over time, with the action and its memory-only part
``attribution.png``       which sensor groups drive which motor neuron / action (share of |IG|)
``episode_<k>.csv``       every trace as columns (time, obs, action, neurons, tau, IG)
``summary.json``          the numbers of the report
``index.html``            the report tying them together, viewable offline
========================  ===================================================================

Rollouts run the numpy runtime :class:`~lnn_control.runtime.policy.Policy` (what the robot
runs) in the policy's env through the one episode loop (``lnn_control.envs.run_episode``),
recording before every step the carried hidden state. What the report knows of a model and of
its observations it asks them: the synapse weights from the model
(``PolicyModel.synapse_weights``), the sensor groups and driving situations from the policy's
Observer (``Observer.sensor_groups``, ``Observer.situations``).

Layout: :mod:`~lnn_control.inspect.attribution` (rollouts, integrated gradients, grouping),
:mod:`~lnn_control.inspect.figures` (the wiring diagram, traces, attribution plots),
:mod:`~lnn_control.inspect.report` (``inspect_policy``: the files and the HTML page).

Attribution: integrated gradients (Sundararajan et al., "Axiomatic attribution for deep
networks", ICML 2017) through ONE recurrent step, with the carried hidden state fixed::

    a(t) = F(x_t; h_t) = F(x0; h_t) + sum_i IG_i(t),
    IG_i(t) = (x_ti - x0_i) * mean_k dF/dx_i(x0 + alpha_k (x_t - x0); h_t),  alpha_k midpoints

``F`` is the torch model rebuilt from the same policy file (``load_model``, float64), ``h_t``
the runtime's state before step ``t``, ``x`` the normalised observation, and the baseline
``x0 = 0`` is the normaliser's mean observation (an "average situation" rather than an
all-zero scan, which would read as "touching an obstacle"). Why one step and not a window:
it answers the engineer's question "which of the readings the robot has NOW turned it",
exactly (completeness holds per step, so the attributions add up to the action minus its
memory-only part ``F(x0; h_t)``, which is reported as its own term), and it costs one batched
forward/backward for a whole episode. Attributing over a window would instead spread credit
over past readings through the state; for a liquid net whose state integrates over ~1 s that
mixes "what it sees" with "what it remembers", which the memory term keeps apart here.
Attributions are in action units (the model output times the action std) and describe the
policy's raw action, before the Actuator's speed and acceleration limits.
"""

from lnn_control.inspect.attribution import Episode
from lnn_control.inspect.attribution import group_attribution
from lnn_control.inspect.attribution import integrated_gradients
from lnn_control.inspect.attribution import policy_env_id
from lnn_control.inspect.attribution import rollout
from lnn_control.inspect.attribution import sensor_groups
from lnn_control.inspect.attribution import situation_shares
from lnn_control.inspect.figures import wiring_diagram
from lnn_control.inspect.figures import wiring_synapses
from lnn_control.inspect.report import inspect_policy

__all__ = ['Episode', 'rollout', 'integrated_gradients', 'sensor_groups', 'group_attribution',
           'wiring_synapses', 'wiring_diagram', 'situation_shares', 'inspect_policy',
           'policy_env_id']
