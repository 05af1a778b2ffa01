# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Online adaptation inside a running controller: learn from the corrections it executes.

:class:`LiveAdaptation` is what :class:`~lnn_control.runtime.controller.ControllerCore` holds
once adaptation is switched on: it wraps the policy for adaptation the first time it is
enabled (never before, so a controller that never adapts runs the trained cell untouched),
learns from each correction the override executes, reports every control step to the rollback
monitor, and saves what was learned as a new policy file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Union

from lnn_control.runtime.adapt.adapter import AdaptationConfig
from lnn_control.runtime.adapt.adapter import default_adapted_path
from lnn_control.runtime.adapt.adapter import OnlineAdapter
from lnn_control.runtime.policy import Policy
import numpy as np

__all__ = ['LiveAdaptation']


class LiveAdaptation:
    """
    The controller's online adaptation (on or off, learned state kept while off).

    Args:
        policy: the controller's policy (wrapped for adaptation when first enabled).
        config: the adaptation settings (``enabled`` says whether it starts on).

    """

    def __init__(self, policy: Policy, config: Optional[AdaptationConfig] = None) -> None:
        self.policy = policy
        self.config = config or AdaptationConfig(enabled=False)
        self.adapter: Optional[OnlineAdapter] = None
        if self.config.enabled:
            self.set_enabled(True)

    @property
    def enabled(self) -> bool:
        """Whether corrections are learned and the adapted readout applied."""
        return self.config.enabled

    def set_enabled(self, enabled: bool) -> None:
        """Switch learning + the adapted readout on or off (the readout is kept when off)."""
        if enabled and self.adapter is None:
            self.adapter = OnlineAdapter(self.policy, self.config)
        self.config.enabled = bool(enabled)
        if self.adapter is not None:
            self.adapter.enabled = bool(enabled)

    def configure(self, **changes: Any) -> None:
        """Apply changed settings (ROS parameters) from the next step; ValueError if invalid."""
        enabled = changes.pop('enabled', None)
        if self.adapter is not None:
            self.adapter.configure(**changes)
        else:
            checked = AdaptationConfig(**{**self.config.__dict__, **changes})
            for name in changes:
                setattr(self.config, name, getattr(checked, name))
        if enabled is not None:
            self.set_enabled(enabled)

    def step(self, intervened: bool, command: Optional[np.ndarray],
             near_collision: bool = False) -> None:
        """After a control step: learn from ``command`` if it overrode the policy; monitor."""
        adapter = self.adapter
        if adapter is None:
            return
        if intervened:
            adapter.correct(command)
        adapter.observe(intervened, near_collision)

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
        if self.adapter is not None:
            return self.adapter.diagnostics()
        return {'adaptation_enabled': 'False'}
