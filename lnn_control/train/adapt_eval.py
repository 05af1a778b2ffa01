# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Experiment: does online readout adaptation (issue 7) help on a robot the policy never saw.

    python -m lnn_control.train.adapt_eval --shift gain=0.5 --seeds 3 --out runs/adapt_eval
    python -m lnn_control.train.adapt_eval --report runs/a/adapt_eval.json runs/b/adapt_eval.json

The experiment, per policy and seed:

1. **Shift.** The PiBot is changed in a way training never saw (default: motor gain x0.5,
   ``Perturbation`` knob ``gain``): the same commands move the robot more slowly.
2. **Simulated operator.** The privileged expert (``PiBotNavExpert``) watches every step and
   takes over when the robot strays: its centre comes within ``near`` m of a surface
   (``clearance_map``), or the expert's cost-to-go has not dropped by ``min_progress`` in the
   last ``stall`` s. It then drives for ``hold`` s; each of its commands is a correction.
   Like a person with a joystick, the operator watches how the robot really moves: it keeps
   a running estimate of the robot's response (measured / commanded speed and yaw rate, per
   axis) and commands the expert's desired twist divided by it, so that the robot moves as
   the expert wants. (An operator that sent the expert's nominal commands unchanged would
   teach the policy the expert's route, not how to drive the weaker robot.) One operator
   serves the whole experiment, so its estimate carries over from run to run, as a person
   who keeps driving the same robot.
3. **Adapting run.** ``episodes`` episodes in a row on the shifted robot with the operator;
   the policy's readout adapts online (:class:`~lnn_control.runtime.adapt.OnlineAdapter`,
   the same code as the ROS controller, rollback monitor included). The **frozen run** is the
   same episodes with the same operator and no adaptation: the baseline intervention rate.
4. **Autonomous evaluation** (no operator) on held-out scenes: the original and the adapted
   policy on the shifted robot, and both on the unshifted robot (forgetting check).

Intervention rate = fraction of control steps the operator drove. Reported: success rates,
the intervention rate of the first 30 s and the last 2 minutes of driving (adapting vs
frozen), rollbacks and readout drift, as a Markdown table (``adapt_eval.md``), JSON, and a
PNG of the intervention rate per minute of driving (mean over seeds).
"""

from __future__ import annotations

import argparse
from collections import deque
import json
import math
from pathlib import Path
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from lnn_control.envs.experts import clearance_map
from lnn_control.envs.experts import make_expert
from lnn_control.envs.make import make_env
from lnn_control.envs.pibot_nav import ROBOT_RADIUS
from lnn_control.envs.rollout import run_episode as rollout
from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.adapt import OnlineAdapter
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.policy import Policy
import numpy as np

__all__ = ['Operator', 'run_episode', 'run_experiment', 'write_report', 'main']

ENV_ID = 'lnn_control/PiBotNav-v0'
# The intervention rate is compared between the first FIRST_SECONDS of driving on the
# shifted robot (before much is learned) and the last LAST_SECONDS.
FIRST_SECONDS, LAST_SECONDS = 30.0, 120.0
PLOT_BIN_SECONDS = 60.0


class Operator:
    """
    A simulated operator: the expert, taking over when the robot strays.

    Args:
        env: the env (the expert reads its true state).
        near: take over when the robot's centre is closer than this to a surface (m).
        stall: take over when the cost-to-go fell by less than ``min_progress`` over this
            many seconds.
        min_progress: see ``stall`` (m of cost-to-go).
        hold: once in control, drive for this many seconds.

    """

    def __init__(self, env: Any, near: float = ROBOT_RADIUS + 0.05, stall: float = 4.0,
                 min_progress: float = 0.15, hold: float = 2.0, compensate: bool = True
                 ) -> None:
        self.expert = make_expert(env)
        self.near, self.stall, self.min_progress, self.hold = near, stall, min_progress, hold
        self.compensate = compensate
        self.response = np.ones(2)   # the operator's estimate of measured / commanded (v, w)
        self.reset()

    def watch(self, command: np.ndarray, state: Any) -> None:
        """See the robot's true twist after ``command`` (any driver's): update the response."""
        pairs = ((command[0], state.v, 0.05), (command[1], state.w, 0.5))
        for axis, (c, m, floor) in enumerate(pairs):
            if abs(c) > floor:
                ratio = min(max(m / c, 0.2), 2.0)
                self.response[axis] += 0.02 * (ratio - self.response[axis])

    def reset(self) -> None:
        """Start of an episode."""
        self._until = -math.inf
        self._history: deque = deque()

    def __call__(self, state: Any) -> Optional[np.ndarray]:
        """Return the operator's command at true ``state`` (a NavState), or None."""
        t = state.time
        plan = self.expert.plan(state)
        ctg = float(plan.cost_to_go[plan.cell(state.x, state.y)])
        self._history.append((t, ctg))
        while self._history and self._history[0][0] < t - self.stall:
            self._history.popleft()
        clearance = float(clearance_map(state, np.array([state.x]), np.array([state.y]))[0])
        stalled = (self._history[0][0] <= t - self.stall + 0.1
                   and self._history[0][1] - ctg < self.min_progress)
        if t < self._until or clearance < self.near or stalled:
            if t >= self._until:
                self._until = t + self.hold
                self._history.clear()
            desired = self.expert.act(None, state).astype(np.float64)
            return desired / self.response if self.compensate else desired
        return None

    @staticmethod
    def near_collision(state: Any) -> bool:
        """Tell whether the robot is within 3 cm of touching (a near-collision)."""
        clear = float(clearance_map(state, np.array([state.x]), np.array([state.y]))[0])
        return clear < ROBOT_RADIUS + 0.03


def run_episode(policy: Policy, env: Any, seed: int, operator: Optional[Operator] = None,
                adapter: Optional[OnlineAdapter] = None) -> Dict[str, Any]:
    """
    One episode; with an operator it may take over, with an adapter its commands are learned.

    Returns ``success``, ``collision``, ``steps``, ``interventions`` (steps the operator
    drove), ``intervention_rate``, ``seconds`` and ``flags`` (one character per control
    step: '1' the operator drove, '0' the policy).
    """
    def reset() -> None:
        policy.reset()
        if operator is not None:
            operator.reset()

    def act(obs: Any, dt: float, info: Dict[str, Any]) -> Any:
        state = info['state']
        if operator is not None:     # the robot's response to the last command, any driver's
            operator.watch(np.asarray(info['command']), state)
        action = policy.step(obs, dt)
        command = operator(state) if operator is not None else None
        if command is not None:
            action = command
            if adapter is not None:
                adapter.correct(command)
        if adapter is not None:
            adapter.observe(command is not None, Operator.near_collision(state))
        return action, {'operator': command is not None}

    traj = rollout(env, act, seed=seed, reset=reset, keep_obs=False)
    flags = traj.extras['operator']
    info = traj.final_info
    return {'seed': seed, 'success': bool(info.get('is_success', False)),
            'collision': bool(info.get('collision', False)), 'steps': traj.steps,
            'interventions': int(flags.sum()), 'intervention_rate': float(flags.mean()),
            'seconds': float(info['time']), 'flags': ''.join('1' if f else '0' for f in flags)}


def _success(policy: Policy, env: Any, seeds: Sequence[int]) -> float:
    return float(np.mean([run_episode(policy, env, s)['success'] for s in seeds]))


def fixed_gains(policies: Sequence[str], gains: Sequence[Tuple[float, float]],
                shift: str = 'gain=0.5', episodes: int = 20, log: Any = None
                ) -> List[Dict[str, Any]]:
    """
    Success of each policy with its commands scaled by hand, on the clean and shifted robot.

    How tolerant is a policy's closed loop to a command gain? Each ``(g_v, g_w)`` is applied
    as the adapted readout (:meth:`OnlineAdapter.set_gain`) and evaluated alone (no operator)
    on the same ``episodes`` held-out scenes (seeds 40000...) as the experiment's seed 0.
    """
    envs = {'clean': make_env(ENV_ID), 'shifted': make_env(ENV_ID, perturb=shift)}
    seeds = [40000 + i for i in range(episodes)]
    rows = []
    for name in policies:
        for pair in gains:
            policy = load_policy(name)
            adapter = OnlineAdapter(policy, AdaptationConfig(features='gain',
                                                             trust_radius=1e3))
            adapter.set_gain(pair)
            row = {'policy': name, 'gain': list(pair),
                   **{key: _success(policy, env, seeds) for key, env in envs.items()}}
            rows.append(row)
            if log:
                log(row)
    return rows


def run_experiment(policies: Sequence[str], shift: str = 'gain=0.5', seeds: int = 3,
                   episodes: int = 30, eval_episodes: int = 20,
                   config: Optional[AdaptationConfig] = None,
                   log: Any = None) -> Dict[str, Any]:
    """
    Run the experiment of the module docstring; returns a JSON-able dict.

    Args:
        policies: policy names or files.
        shift: the ``Perturbation`` text of the shift.
        seeds: experiment seeds (each: its own episode sequence and held-out scenes).
        episodes: episodes of the adapting (and frozen) run.
        eval_episodes: held-out autonomous episodes per evaluation.
        config: adaptation settings (default ``AdaptationConfig()``).
        log: a print-like callable for progress, or None.

    """
    config = config or AdaptationConfig()
    shifted = make_env(ENV_ID, perturb=shift)
    clean = make_env(ENV_ID)
    operator = Operator(shifted)
    results: Dict[str, Any] = {'shift': shift, 'seeds': seeds, 'episodes': episodes,
                               'eval_episodes': eval_episodes,
                               'config': config.__dict__.copy(), 'policies': {}}
    for name in policies:
        runs = []
        for seed in range(seeds):
            started = time.perf_counter()
            train_seeds = [30000 + 1000 * seed + i for i in range(episodes)]
            eval_seeds = [40000 + 1000 * seed + i for i in range(eval_episodes)]
            original = load_policy(name)
            frozen = [run_episode(original, shifted, s, operator) for s in train_seeds]
            adaptive = load_policy(name)
            adapter = OnlineAdapter(adaptive, AdaptationConfig(**config.__dict__))
            adapting = [run_episode(adaptive, shifted, s, operator, adapter)
                        for s in train_seeds]
            eval_original_shifted = _success(original, shifted, eval_seeds)
            eval_original_clean = _success(original, clean, eval_seeds)
            # Learning happens only in correct(): without an operator the readout is fixed.
            eval_adapted_shifted = _success(adaptive, shifted, eval_seeds)
            eval_adapted_clean = _success(adaptive, clean, eval_seeds)
            run = {'seed': seed, 'frozen': frozen, 'adapting': adapting,
                   'success': {'original_shifted': eval_original_shifted,
                               'adapted_shifted': eval_adapted_shifted,
                               'original_clean': eval_original_clean,
                               'adapted_clean': eval_adapted_clean},
                   'corrections': adapter.corrections, 'drift': adapter.drift,
                   'rollbacks': adapter.rollbacks, 'rebases': adapter.rebases,
                   'projections': adapter.projections,
                   'gain': None if adapter.gain is None else adapter.gain.tolist(),
                   'wall_seconds': time.perf_counter() - started}
            runs.append(run)
            if log:
                log(f'{name} seed {seed}: {run["success"]}, corrections {adapter.corrections},'
                    f' drift {adapter.drift:.2f}, gain {run["gain"]}, rollbacks '
                    f'{adapter.rollbacks}, {run["wall_seconds"]:.0f} s')
        results['policies'][name] = {'runs': runs, 'summary': _summary(runs)}
    return results


def driving_time(episodes: Sequence[Dict[str, Any]]) -> Tuple[np.ndarray, np.ndarray]:
    """Return (time of each control step in s of driving, whether the operator drove it)."""
    times, flags = [], []
    start = 0.0
    for e in episodes:
        step = e['seconds'] / max(1, e['steps'])
        times.append(start + step * np.arange(len(e['flags'])))
        flags.append(np.frombuffer(e['flags'].encode(), dtype=np.uint8) == ord('1'))
        start += e['seconds']
    return np.concatenate(times), np.concatenate(flags)


def timeline(episodes: Sequence[Dict[str, Any]], seconds: float = 60.0) -> np.ndarray:
    """Return the intervention rate per ``seconds`` of driving (full bins only)."""
    t, f = driving_time(episodes)
    full = int(sum(e['seconds'] for e in episodes) // seconds)
    bins = (t // seconds).astype(int)
    keep = bins < full
    return np.bincount(bins[keep], weights=f[keep], minlength=full) / np.maximum(
        1, np.bincount(bins[keep], minlength=full))


def _first_last(episodes: Sequence[Dict[str, Any]]) -> Tuple[float, float]:
    t, f = driving_time(episodes)
    return float(f[t < FIRST_SECONDS].mean()), float(f[t > t[-1] - LAST_SECONDS].mean())


def _summary(runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key in ('original_shifted', 'adapted_shifted', 'original_clean', 'adapted_clean'):
        values = [r['success'][key] for r in runs]
        out[key] = (float(np.mean(values)), float(np.std(values)))
    for key in ('frozen', 'adapting'):
        first_last = np.array([_first_last(r[key]) for r in runs])
        out[f'{key}_first_seconds'], out[f'{key}_last_seconds'] = first_last.mean(axis=0)
        out[f'{key}_operator_success'] = float(np.mean([np.mean([e['success'] for e in r[key]])
                                                        for r in runs]))
    out['drift'] = float(np.mean([r['drift'] for r in runs]))
    out['rollbacks'] = float(np.mean([r['rollbacks'] for r in runs]))
    out['corrections'] = float(np.mean([r['corrections'] for r in runs]))
    lost = out['original_clean'][0] - out['original_shifted'][0]
    gained = out['adapted_shifted'][0] - out['original_shifted'][0]
    out['recovered_fraction'] = gained / lost if lost > 0 else None
    out['kept_clean_fraction'] = (out['adapted_clean'][0] / out['original_clean'][0]
                                  if out['original_clean'][0] > 0 else None)
    return out


def markdown(results: Dict[str, Any]) -> str:
    """Return the results table as Markdown."""
    span = f'interventions first {FIRST_SECONDS:g} s -> last {LAST_SECONDS:g} s'
    lines = [f'Shift `{results["shift"]}`, {results["seeds"]} seeds x {results["episodes"]} '
             f'episodes with the operator, {results["eval_episodes"]} held-out autonomous '
             f'episodes per evaluation (mean +- std over seeds).', '',
             '| policy | clean, original | shifted, original | shifted, adapted | '
             f'recovered | clean, adapted | kept | {span}, frozen | {span}, adapting | drift | '
             f'rollbacks |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for name, entry in results['policies'].items():
        s = entry['summary']

        def pm(key: str) -> str:
            return f'{s[key][0]:.2f} +- {s[key][1]:.2f}'

        rec, kept = s['recovered_fraction'], s['kept_clean_fraction']
        lines.append(
            f'| {name} | {pm("original_clean")} | {pm("original_shifted")} | '
            f'{pm("adapted_shifted")} | {"n/a" if rec is None else f"{rec:.0%}"} | '
            f'{pm("adapted_clean")} | {"n/a" if kept is None else f"{kept:.0%}"} | '
            f'{s["frozen_first_seconds"]:.3f} -> {s["frozen_last_seconds"]:.3f} | '
            f'{s["adapting_first_seconds"]:.3f} -> {s["adapting_last_seconds"]:.3f} | '
            f'{s["drift"]:.2f} | {s["rollbacks"]:.1f} |')
    return '\n'.join(lines) + '\n'


def plot(results: Dict[str, Any], path: Path) -> None:
    """PNG: intervention rate per minute of driving (mean over seeds), a panel per policy."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(results['policies'])
    cols = min(2, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), dpi=90,
                             sharex=True, sharey=True, squeeze=False)
    for ax, name in zip(axes.flat, names):
        runs = results['policies'][name]['runs']
        for key, style in (('frozen', '--'), ('adapting', '-')):
            lines = [timeline(r[key], PLOT_BIN_SECONDS) for r in runs]
            n = min(line.size for line in lines)
            rates = np.mean([line[:n] for line in lines], axis=0)
            ax.plot((np.arange(n) + 0.5) * PLOT_BIN_SECONDS / 60.0, rates, style, marker='.',
                    color='C0' if key == 'adapting' else 'C3', label=key)
        ax.set_title(Path(name).stem, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel('minutes of driving, shifted robot')
    for ax in axes[:, 0]:
        ax.set_ylabel('intervention rate')
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f'operator interventions per minute, shift {results["shift"]} '
                 f'(mean of {results["seeds"]} seeds)', fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def merge(parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """
    Merge results of runs with the same settings (e.g. policies run in parallel processes).

    Summaries are recomputed from the stored episodes, so reports made by older versions of
    this module are summarised as the current one does.
    """
    merged = dict(parts[0], policies={})
    for part in parts:
        for key in ('shift', 'seeds', 'episodes', 'eval_episodes', 'config'):
            if part[key] != merged[key]:
                raise ValueError(f'cannot merge results with different {key}: '
                                 f'{part[key]!r} and {merged[key]!r}')
        for name, entry in part['policies'].items():
            merged['policies'][name] = {'runs': entry['runs'],
                                        'summary': _summary(entry['runs'])}
    return merged


def write_report(results: Dict[str, Any], out: Path) -> Dict[str, Path]:
    """Write adapt_eval.md, .json and .png under ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {'md': out / 'adapt_eval.md', 'json': out / 'adapt_eval.json',
             'png': out / 'adapt_eval.png'}
    paths['md'].write_text(markdown(results))
    paths['json'].write_text(json.dumps(results, indent=1))
    plot(results, paths['png'])
    return paths


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--policies', nargs='+',
                        default=['pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_gru',
                                 'pibot_nav_mlp'])
    parser.add_argument('--shift', default='gain=0.5')
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--episodes', type=int, default=20)
    parser.add_argument('--eval-episodes', type=int, default=20)
    parser.add_argument('--forgetting', type=float, default=AdaptationConfig.forgetting)
    parser.add_argument('--prior-precision', type=float,
                        default=AdaptationConfig.prior_precision)
    parser.add_argument('--trust-radius', type=float, default=AdaptationConfig.trust_radius)
    parser.add_argument('--window', type=int, default=AdaptationConfig.window)
    parser.add_argument('--features', default=AdaptationConfig.features,
                        choices=['gain', 'output', 'hidden'])
    parser.add_argument('--out', default='runs/adapt_eval')
    parser.add_argument('--report', nargs='+', metavar='JSON',
                        help='run nothing: merge these adapt_eval.json files into one report')
    parser.add_argument('--fixed-gains', nargs='+', metavar='GV:GW',
                        help='instead: success with the commands scaled by these gains by '
                             'hand (unshifted and shifted robot, --eval-episodes scenes)')
    args = parser.parse_args(argv)
    if args.fixed_gains:
        pairs = [tuple(float(g) for g in text.split(':')) for text in args.fixed_gains]
        rows = fixed_gains(args.policies, pairs, args.shift, args.eval_episodes)
        print(f'| policy | gains (v, w) | clean | {args.shift} |\n|---|---|---|---|')
        for row in rows:
            print(f'| {row["policy"]} | {row["gain"][0]:g}, {row["gain"][1]:g} | '
                  f'{row["clean"]:.2f} | {row["shifted"]:.2f} |')
        return
    if args.report:
        results = merge([json.loads(Path(f).read_text()) for f in args.report])
        paths = write_report(results, Path(args.out))
        print(markdown(results))
        print('wrote', ', '.join(str(p) for p in paths.values()))
        return
    config = AdaptationConfig(forgetting=args.forgetting, prior_precision=args.prior_precision,
                              trust_radius=args.trust_radius, window=args.window,
                              features=args.features)
    results = run_experiment(args.policies, args.shift, args.seeds, args.episodes,
                             args.eval_episodes, config, log=lambda m: print(m, flush=True))
    paths = write_report(results, Path(args.out))
    print(markdown(results))
    print('wrote', ', '.join(str(p) for p in paths.values()))


if __name__ == '__main__':
    main()
