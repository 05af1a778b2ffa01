# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The adapter: what learns from corrections, keeps the change bounded, rolls it back and saves it.

:class:`OnlineAdapter` wraps a loaded policy's cell in an
:class:`~lnn_control.runtime.adapt.cell.AdaptedCell` and updates its residual readout from
corrections with the learners of :mod:`lnn_control.runtime.adapt.maths`;
:class:`PerformanceMonitor` decides when to snapshot and when to roll back;
:class:`AdaptationConfig` holds every setting (the ROS parameters ``adaptation*`` are its
fields).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import datetime
import math
import os
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from lnn_control.runtime.adapt.cell import AdaptedCell
from lnn_control.runtime.adapt.cell import BASE_PREFIX
from lnn_control.runtime.adapt.cell import FEATURE_MODES
from lnn_control.runtime.adapt.cell import WEIGHT
from lnn_control.runtime.adapt.maths import AxisGains
from lnn_control.runtime.adapt.maths import RLS
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.policy import Policy
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import tensor_digest
from lnn_control.runtime.policy import write_policy_file
from lnn_control.runtime.settings import setting
import numpy as np

__all__ = ['AdaptationConfig', 'PerformanceMonitor', 'OnlineAdapter', 'GAIN_FLOOR',
           'GAIN_DEADBAND', 'default_adapted_path']


# A learned gain never drops below this: scaling a command down is allowed, reversing or
# cancelling it is not.
GAIN_FLOOR = 0.1
# |action| / action_std below which an axis carries no information about its gain.
GAIN_DEADBAND = 0.05


@dataclass
class AdaptationConfig:
    """
    How the readout adapts: every field is a ROS parameter of ``lnn_controller``.

    The parameter is ``adaptation_<field>`` (``enabled`` is ``adaptation``, off by default on
    the node; an ``AdaptationConfig`` built in Python is on). Fields marked "step" apply at
    the next control step of a running controller; ``features`` is read at configure.

    Attributes:
        enabled: learn from corrections and apply the adapted readout (off: the original
            readout, nothing learned; the adapted readout is kept for when it is back on).
        features: what the residual readout reads: 'hidden' (the pre-readout state),
            'output' (the policy's own action: an affine map of it, out x (out + 1)) or
            'gain' (one gain per action axis, :class:`AxisGains`; the trust radius then
            bounds ``||gains - 1||``).
        forgetting: RLS forgetting factor in (0, 1] (per correction; 0.999 remembers about
            the last 1000 corrections).
        prior_precision: ridge pull towards the trained readout (larger: slower, safer).
        trust_radius: bound on ``||W||_F`` (``||gains - 1||`` for gains), the change from the
            trained readout.
        window: control steps per monitor window (0 disables the rollback monitor).
        tolerance: a window whose score exceeds the reference by more than this is bad.
        patience: bad windows in a row that trigger a rollback.
        near_collision_weight: weight of near-collision steps in the window score.

    """

    enabled: bool = setting(True, 'learn the readout from corrections and apply it',
                            param='adaptation', param_default=False)
    features: str = setting('gain', 'what adapts: one gain per action axis (gain), an affine '
                            'map of the action (output) or a readout of the pre-readout state '
                            '(hidden)', choices=FEATURE_MODES, apply='configure')
    forgetting: float = setting(0.999, 'RLS forgetting factor per correction', low=0.5,
                                high=1.0)
    prior_precision: float = setting(1.0, 'ridge pull towards the trained readout', low=1e-6,
                                     high=1e6)
    trust_radius: float = setting(1.0, 'bound on the readout change (||gains - 1|| for '
                                  'features gain, ||W||_F otherwise)', low=1e-6, high=1e3)
    window: int = setting(400, 'control steps per rollback-monitor window, 0: no monitor',
                          low=0, high=1_000_000)
    tolerance: float = setting(0.15, 'a monitor window scoring this much above the '
                               'reference is bad', low=0.0, high=10.0)
    patience: int = setting(2, 'bad monitor windows in a row that roll the readout back',
                            low=1, high=1000)
    near_collision_weight: float = setting(1.0, 'weight of near-collision steps in a monitor '
                                           "window's score", low=0.0, high=100.0)

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

    def configure(self, **changes: Any) -> None:
        """
        Change settings while running (ROS parameters): each applies from the next step.

        ``forgetting`` and ``prior_precision`` go to the learner, ``trust_radius`` projects the
        current readout onto the new region at once, the monitor settings are read at its
        next step. ``features`` cannot change on a live adapter (its readout has another
        shape): a ValueError says so.
        """
        if 'features' in changes and changes['features'] != self.cell.features:
            raise ValueError('features cannot change on a running adapter: reset it or load '
                             'the policy again')
        changes.pop('features', None)
        checked = AdaptationConfig(**{**dataclasses.asdict(self.config), **changes})
        for name in changes:
            setattr(self.config, name, getattr(checked, name))
        if 'enabled' in changes:
            self.enabled = checked.enabled
        self.rls.forgetting = self.config.forgetting
        self.rls.set_prior_precision(self.config.prior_precision)
        if 'trust_radius' in changes:
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
            base = {k[len(BASE_PREFIX):]: v for k, v in tensors.items()
                    if k.startswith(BASE_PREFIX)}
            base_kind, base_config = spec.config['base_kind'], spec.config['base_config']
            lineage = list(spec.provenance.get('adapted_lineage', []))
            base_spec_json = spec.provenance['base_spec']
        else:
            base, base_kind, base_config, lineage = tensors, spec.kind, spec.config, []
            base_spec_json = spec.to_json()
        lineage.append({'file': str(source), 'sha256': tensor_digest(tensors)})
        out = {BASE_PREFIX + k: v for k, v in base.items()}
        out[WEIGHT] = self.cell.weight.astype(np.float32)
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


def default_adapted_path(policy: Policy, directory: Union[str, os.PathLike]) -> Path:
    """``DIR/<stem>_adapted_<UTC time>.safetensors`` for ``policy``'s source."""
    stem = Path(policy.source).stem if policy.source else policy.spec.kind
    when = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')
    return Path(directory).expanduser() / f'{stem}_adapted_{when}.safetensors'
