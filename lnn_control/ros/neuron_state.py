# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``~/neuron_state`` message: every neuron's activation and time constant, by name.

Message type: ``sensor_msgs/JointState``, used as a stamped table of named values:

=============  ==========================================================================
field          meaning
=============  ==========================================================================
``header``     ``stamp``: the stamp of the trigger message the step consumed (so a bag
               aligns neurons with the scan/odometry that drove them); ``frame_id``: the
               kind of time constant in ``velocity`` (``tau_s``, ``time_gate``, ``decay``
               or empty)
``name``       ``'<layer>:<id>'``: ``sensory:<obs name>`` (the inputs), then the cell's
               neurons, ``inter:12``, ``command:7``, ``motor:0`` (wired cells), or
               ``hidden:<i>``, ``memory:<i>``, ``gru0:<i>``... for other cells
``position``   activation: the observation for sensory entries, the state for neurons
``velocity``   effective time constant: LTC ``tau_i = cm_i / (gleak_i + sum of synaptic
               conductances)`` in seconds; CfC the time gate ``sigmoid(t_a dt + t_b)`` in
               0..1; NaN where there is none (inputs, memory cells, GRU/MLP)
``effort``     empty
=============  ==========================================================================

Why JointState and not ``Float32MultiArray``: plotting tools key a JointState's arrays by
``name``, so PlotJuggler lists ``/lnn_controller/neuron_state/command:7/position`` and the
layer is part of every series name, while a MultiArray is a bare ``data[i]`` list whose
``layout.dim`` labels no tool reads. It is a standard message every ROS install has (no custom
interface package to build on the robot), carries a header (bags and PlotJuggler align on it)
and holds two parallel float64 arrays, exactly activation + time constant. rqt_plot reads it
too (``/lnn_controller/neuron_state/position[24]``; the index is the order of ``name``, which
is fixed for a configured policy). The cost of the borrowed semantics: do not remap this topic
onto ``/joint_states``.
"""

from __future__ import annotations

from typing import Any, List, Optional

from lnn_control.runtime.policy import NeuronReport
from sensor_msgs.msg import JointState

__all__ = ['neuron_state_msg']


def neuron_state_msg(report: NeuronReport, stamp: Any,
                     names: Optional[List[str]] = None) -> JointState:
    """
    Build the ``~/neuron_state`` message of one report.

    Args:
        report: ``Policy.neuron_report()`` / ``ControllerCore.neuron_report()``.
        stamp: ``builtin_interfaces/Time`` for the header.
        names: ``report.labels`` (pass a cached copy to skip rebuilding the list).

    Returns:
        The JointState (see the module docstring for the field meanings).

    """
    msg = JointState()
    msg.header.stamp = stamp
    msg.header.frame_id = report.time_constant_kind
    msg.name = list(report.labels) if names is None else names
    msg.position = report.activation.astype(float).tolist()
    msg.velocity = report.time_constant.astype(float).tolist()
    return msg
