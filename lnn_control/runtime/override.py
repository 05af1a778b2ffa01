# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Override arbitration: an operator's command takes priority over the policy while it is fresh.

As twist_mux does for teleop, a correction (an operator's or a supervising controller's
command, in action-space units) replaces the policy's action for ``timeout`` seconds of steady
time after it arrives. :class:`~lnn_control.runtime.controller.ControllerCore` owns one
:class:`Override` and asks it after every policy step what to execute; when online adaptation
is on, the core also hands the executed correction to the learner
(:mod:`lnn_control.runtime.adapt`), so the step passes through the learning code only then.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = ['Override']


class Override:
    """
    The correction input of the controller.

    Args:
        size: the action size a correction must have.
        timeout: seconds (steady clock) a correction keeps priority; may be changed while
            running (``timeout`` attribute, checked here).

    Attributes:
        command: the last accepted correction (action units), None before one.
        received, rejected: corrections taken and refused (wrong size, non-finite).
        overrides: control steps that executed a correction instead of the policy.

    """

    def __init__(self, size: int, timeout: float = 0.5) -> None:
        self.size = int(size)
        self.timeout = timeout
        self.command: Optional[np.ndarray] = None
        self.received = self.rejected = self.overrides = 0
        self._time = -math.inf

    @property
    def timeout(self) -> float:
        """Seconds a correction keeps priority."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        value = float(value)
        if not 0.0 < value < math.inf:
            raise ValueError(f'correction timeout must be positive and finite, got {value}')
        self._timeout = value

    def feed(self, command: Any, now: float) -> bool:
        """Take a correction received at steady time ``now``; False (counted) if refused."""
        try:
            value = np.asarray(command, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            value = np.full(1, np.nan)
        if value.size != self.size or not np.isfinite(value).all():
            self.rejected += 1
            return False
        self.command, self._time = value, float(now)
        self.received += 1
        return True

    def active(self, now: float) -> bool:
        """Whether a correction is fresh at steady time ``now``."""
        return self.command is not None and now - self._time <= self._timeout

    def apply(self, action: np.ndarray, now: float) -> Tuple[np.ndarray, bool]:
        """Return (what to execute, whether it is the correction) after a policy step."""
        if self.command is not None and now - self._time <= self._timeout:
            self.overrides += 1
            return self.command.copy(), True
        return action, False

    def diagnostics(self) -> Dict[str, str]:
        """Key -> value strings for /diagnostics."""
        return {'corrections_received': str(self.received),
                'corrections_rejected': str(self.rejected),
                'corrections_overrides': str(self.overrides)}
