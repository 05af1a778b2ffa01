# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
A progress bar whose ETA covers every phase of a run, not only the gradient steps.

A training run mixes kinds of work that cost very different times: episodes (demonstrations,
rollouts, validation, the held-out test) and gradient steps. :class:`Progress` counts the work
left of each kind, measures how long one unit of each kind takes as the run goes, and shows the
estimated fraction done and time left of the whole run (tqdm)::

    progress = Progress({'episode': 130 + 8 * 30, 'grad_step': 3000 + 8 * 1000})
    progress.phase('demonstrations')
    progress.done('episode')                  # after each unit of work
"""

from __future__ import annotations

import time
from typing import Dict, Mapping, Optional

__all__ = ['Progress']

# Seconds per unit assumed before a kind has been measured (replaced by the measured mean).
_PRIOR = {'episode': 1.0, 'grad_step': 0.02, 'env_step': 0.001, 'update': 1.0}


class Progress:
    """
    Work units left by kind, a measured cost per unit, and a tqdm bar in percent of the run.

    Args:
        work: kind -> units the whole run does (e.g. episodes, gradient steps).
        enabled: show the bar (None: only on a terminal; False: never, the counts still run).
        done: kind -> units already done (a resumed run).

    """

    def __init__(self, work: Mapping[str, float], enabled: Optional[bool] = None,
                 done: Optional[Mapping[str, float]] = None) -> None:
        self.total = {k: float(v) for k, v in work.items()}
        self.count = {k: float((done or {}).get(k, 0.0)) for k in self.total}
        self.seconds = dict.fromkeys(self.total, 0.0)
        self.measured = dict.fromkeys(self.total, 0.0)
        self._last = time.perf_counter()
        self._bar = None
        if enabled is not False:
            from tqdm import tqdm
            self._bar = tqdm(total=100.0, unit='%', dynamic_ncols=True,
                             disable=None if enabled is None else not enabled,
                             bar_format='{desc}: {percentage:3.0f}%|{bar}| '
                                        '[{elapsed}<{remaining}{postfix}]')
            self._refresh()

    def cost(self, kind: str) -> float:
        """Return the seconds one unit of ``kind`` takes (measured mean, or a prior)."""
        if self.measured.get(kind):
            return self.seconds[kind] / self.measured[kind]
        return _PRIOR.get(kind, 1.0)

    def fraction(self) -> float:
        """Return the estimated fraction of the run's time done (0..1)."""
        total = sum(self.total[k] * self.cost(k) for k in self.total)
        done = sum(min(self.count[k], self.total[k]) * self.cost(k) for k in self.total)
        return done / total if total > 0 else 1.0

    def phase(self, name: str) -> None:
        """Name the phase now running (the bar's description)."""
        self._last = time.perf_counter()
        if self._bar is not None:
            self._bar.set_description(name, refresh=False)
            self._refresh()

    def done(self, kind: str, units: float = 1.0, **postfix: str) -> None:
        """Count ``units`` of ``kind`` finished since the last call (their time is measured)."""
        now = time.perf_counter()
        self.seconds[kind] = self.seconds.get(kind, 0.0) + (now - self._last)
        self.measured[kind] = self.measured.get(kind, 0.0) + units
        self.count[kind] = self.count.get(kind, 0.0) + units
        self.total.setdefault(kind, self.count[kind])
        self._last = now
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._refresh()

    def _refresh(self) -> None:
        self._bar.n = round(100.0 * self.fraction(), 2)
        self._bar.refresh()

    def close(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()

    def state(self) -> Dict[str, Dict[str, float]]:
        """Return what a resumed run needs (counts and measured costs)."""
        return {'count': dict(self.count), 'seconds': dict(self.seconds),
                'measured': dict(self.measured)}
