# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The learning maths of online adaptation: recursive least squares, full and per axis.

Both learners minimise an exponentially forgotten, ridge-regularised least-squares loss exactly
after every sample (see the package docstring, "Why recursive least squares"); their whole state
is two small arrays, so snapshots and rollbacks are copies.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

__all__ = ['RLS', 'AxisGains']


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

    def set_prior_precision(self, prior_precision: float) -> None:
        """Change ``delta`` (a live setting): the cap on ``P`` follows from the next update."""
        self.prior_precision = _rls_settings(self.forgetting, prior_precision)[1]
        self._max_trace = self.theta.shape[1] / self.prior_precision

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

    def set_prior_precision(self, prior_precision: float) -> None:
        """Change ``delta`` (a live setting): ``P`` is capped at ``1 / delta`` from now on."""
        self.prior_precision = _rls_settings(self.forgetting, prior_precision)[1]

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
