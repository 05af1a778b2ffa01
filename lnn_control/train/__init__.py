# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training and evaluation (torch side): one top-to-bottom file per method.

Importing this package imports nothing heavy; import the module you need:

- ``lnn_control.train.evaluate``: the shared env factory (``make_env``, ``Perturbation``,
  ``nominal_dt``), ``evaluate`` and the robustness suite (``run_suite``).
- ``lnn_control.train.toy_demo``: the pendulum velocity-estimation demo.
"""
