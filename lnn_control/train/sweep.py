# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Hyperparameter sweeps on Ray Tune: every trial an ordinary training run with its overrides.

``lnn-control sweep config/train/pendulum_cfc.yaml --grid bc.lr=1e-3,3e-3 --seeds 2`` runs
the training method of the config (``method:``, :data:`lnn_control.train.METHODS`) once per
combination of the grid's values and seeds, as Ray Tune trials (Liaw et al., "Tune: a research
platform for distributed model selection and training", 2018)::

    report = run_sweep(SweepSpec('config/train/pendulum_cfc.yaml',
                                 grid={'bc.lr': [1e-3, 3e-3]}, seeds=2))
    report['best']['policy']          # the best trial's policy file, copied out

How it maps onto Tune:

- **Trials.** A trial applies its values as ``--set`` overrides (``bc.lr=0.003``, ``seed=1``)
  to the config and calls the method's ``train`` with a ``report`` callback: after every
  DAgger round (imitation: the validation score so far) or PPO update (the mean return of the
  last training episodes) it calls ``tune.report`` with the score and the run folder as a
  checkpoint (``tune.Checkpoint``, persisted to the storage path), so a scheduler can stop bad
  trials early and a failed trial resumes from its last round (the methods' own exact
  ``--resume``). The last report adds ``test_score``, the held-out test of the final policy,
  and the policy file. One trial takes ``cpus`` CPUs (``tune.with_resources``; default: the
  config's ``threads``) and one more per PPO rollout actor (``ppo.rollout_workers``), all
  reserved together as the trial's placement group.
- **Search** (:data:`SEARCHES`): ``grid`` runs every combination (``tune.grid_search``);
  ``optuna`` lets Optuna's TPE sampler (Akiba et al., KDD 2019; inside Tune as
  ``OptunaSearch``) pick ``trials`` combinations of the grid's values and the seeds.
- **Schedulers** (:data:`SCHEDULERS`): ``fifo`` runs every trial to its end; ``asha``
  (Li et al., "A system for massively parallel hyperparameter tuning", MLSys 2020) stops
  trials whose score trails the others' at the same round.
- **Where.** ``address``: a running Ray cluster (``ray start --head`` prints it; ``auto``);
  None: Ray starts in this process (:func:`lnn_control.train.distributed.ray_session`).
  ``storage``: where Tune keeps the experiment (trial results, checkpoints): on a cluster a
  folder every node mounts (NFS) or a bucket URI (``s3://...``). A node that dies takes its
  trials with it; they restart elsewhere from their last checkpoint (``max_failures``).
- **Resume.** An interrupted sweep (Ctrl-C, a lost head node) continues with ``resume``
  (``Tuner.restore``): finished trials are kept, the others go on from their checkpoints.

Results (``out``, default the experiment folder ``<storage>/<name>``): ``sweep.md`` and
``sweep.json`` (a row per trial: overrides, seed, score, test score, status, rounds, wall time,
the Ray node(s) it ran on), ``sweep.png`` (the scores round by round, and the final scores per
combination) and the best trial's policy file.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from dataclasses import field
import itertools
import json
import math
import os
from pathlib import Path
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from lnn_control.train.checkpoint import write_json
from lnn_control.train.config import _yaml_load
from lnn_control.train.config import apply_overrides
from lnn_control.train.config import config_from_dict
from lnn_control.train.config import ConfigError
from lnn_control.train.distributed import node_of
from lnn_control.train.distributed import ray_session

__all__ = ['SweepSpec', 'parse_grid', 'run_sweep', 'sweep_markdown', 'sweep_plot',
           'SEARCHES', 'SCHEDULERS']

METRIC = 'score'


@dataclass
class SweepSpec:
    """
    A sweep (``lnn-control sweep``).

    Attributes:
        config: the training config YAML every trial starts from.
        grid: dotted config key -> the values to try (``--grid bc.lr=1e-3,3e-3``).
        seeds: seeds 0 .. seeds - 1 of every combination (the config's ``seed`` key).
        overrides: ``key=value`` overrides of every trial (``--set``).
        search: a key of :data:`SEARCHES` ('grid' or 'optuna').
        trials: trials Optuna picks (search 'optuna').
        scheduler: a key of :data:`SCHEDULERS` ('fifo' or 'asha').
        address: the Ray cluster (None: Ray in this process).
        storage: Tune's storage path (a folder all nodes share, or a bucket URI).
        name: the experiment's name (default ``<config name>_sweep``).
        out: the results folder (default ``<storage>/<name>``).
        cpus: CPUs per trial (None: the config's ``threads``).
        num_cpus: CPUs of Ray started in this process (None: all).
        max_failures: restarts of a failed trial (from its last checkpoint).
        resume: continue the interrupted sweep in ``<storage>/<name>``.
        verbose: Tune's console output (0 silent, 1 status, 2 every result).

    """

    config: str
    grid: Dict[str, List[Any]] = field(default_factory=dict)
    seeds: int = 1
    overrides: List[str] = field(default_factory=list)
    search: str = 'grid'
    trials: int = 8
    scheduler: str = 'fifo'
    address: Optional[str] = None
    storage: str = 'runs/sweeps'
    name: str = ''
    out: str = ''
    cpus: Optional[float] = None
    num_cpus: Optional[int] = None
    max_failures: int = 2
    resume: bool = False
    verbose: int = 1


def parse_grid(items: Sequence[str]) -> Dict[str, List[Any]]:
    """
    Parse ``KEY=V1,V2,...`` items into ``{KEY: [V1, V2, ...]}`` (values as YAML, like ``--set``).

    The values are read as one YAML flow list, so a value may itself be a list or a mapping
    (``bc.action_noise=[0.5],[1.0]``).
    """
    grid: Dict[str, List[Any]] = {}
    for item in items:
        key, sep, text = item.partition('=')
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(f'a grid item is KEY=V1,V2,... (e.g. bc.lr=1e-3,3e-3), got {item!r}')
        try:
            values = _yaml_load(f'[{text}]')
        except Exception as exc:    # yaml's errors: the message is what the user needs
            raise ConfigError(f'grid {item!r}: the values are not YAML: {exc}') from None
        if key in grid:
            raise ConfigError(f'grid key {key!r} is given twice')
        grid[key] = list(values)
    return grid


def _as_override(key: str, value: Any) -> str:
    """``key=value`` with the value as JSON (valid YAML: parsed back to the same value)."""
    return f'{key}={json.dumps(value)}'


def _trial_config(base: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    data = apply_overrides(copy.deepcopy(dict(base)),
                           [_as_override(k, v) for k, v in sorted(params.items())])
    return config_from_dict(data)


# -- the trial --------------------------------------------------------------------------------
def _trial(params: Dict[str, Any], base: Dict[str, Any], base_dir: Optional[str]) -> None:
    """One Tune trial: a training run with ``params`` as overrides, reporting every round."""
    from ray import tune

    from lnn_control.train import method
    cfg = _trial_config(base, params)
    folder = Path(tempfile.mkdtemp(prefix='lnn_control_trial_'))
    run = folder / 'run'
    restored = tune.get_checkpoint()
    if restored is not None:        # a restarted trial: continue the run where it stopped
        with restored.as_directory() as saved:
            shutil.copytree(saved, run)
    where = node_of()
    # The last report and every score so far, kept in the run folder, so a restored trial
    # has them as they were at its checkpoint (Tune's own result log may miss the rows a
    # dying node reported last).
    last: Dict[str, Any] = {METRIC: math.nan, 'metric': '', 'history': []}
    reported = run / 'sweep_last.json'
    if reported.is_file():
        last.update(json.loads(reported.read_text()))

    def report(metrics: Dict[str, Any], checkpoint: Optional[Path]) -> None:
        last.update({METRIC: metrics[METRIC], 'metric': metrics['metric'],
                     'history': [*last['history'], metrics[METRIC]]})
        write_json(reported, last)
        metrics = {**metrics, **where, 'resumed': restored is not None, 'finished': False}
        tune.report(metrics, checkpoint=(tune.Checkpoint.from_directory(str(run))
                                         if checkpoint is not None else None))

    try:
        policy = method(cfg.method)(cfg, out=run, resume=restored is not None, progress=False,
                                    base_dir=base_dir, report=report)
        summary = json.loads((run / 'summary.json').read_text())
        test = summary.get('test', {}).get('policy', {})
        tune.report({METRIC: last[METRIC], 'metric': last['metric'],
                     'history': json.dumps(last['history']),
                     'test_score': test.get('score', math.nan), 'policy': policy.name,
                     **where, 'resumed': restored is not None, 'finished': True},
                    checkpoint=tune.Checkpoint.from_directory(str(run)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _resources(base: Mapping[str, Any], cpus: float) -> Callable[[Dict[str, Any]], Any]:
    """
    Return a trial's resources: ``cpus`` for the run, one CPU per PPO rollout actor.

    The actors (``ppo.rollout_workers``) are bundles of the trial's placement group, so Tune
    reserves them with the trial and the actors start inside it (never waiting for CPUs that
    other trials hold).
    """
    def resources(params: Dict[str, Any]) -> Any:
        from ray import tune
        workers = int(params.get('ppo.rollout_workers',
                                 base.get('ppo', {}).get('rollout_workers', 0)))
        if base.get('method') != 'ppo' and 'method' not in params:
            workers = 0
        return tune.PlacementGroupFactory([{'CPU': cpus}] + [{'CPU': 1.0}] * workers)
    return resources


# -- search algorithms and schedulers ---------------------------------------------------------
def _grid_space(grid: Mapping[str, List[Any]], seeds: int) -> Dict[str, Any]:
    from ray import tune
    space = {key: tune.grid_search(list(values)) for key, values in grid.items()}
    space['seed'] = tune.grid_search(list(range(seeds)))
    return space


def _grid(spec: SweepSpec) -> Dict[str, Any]:
    return {'param_space': _grid_space(spec.grid, spec.seeds), 'search_alg': None,
            'num_samples': 1}


def _optuna(spec: SweepSpec) -> Dict[str, Any]:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch
    space = {key: tune.choice(list(values)) for key, values in spec.grid.items()}
    space['seed'] = tune.choice(list(range(spec.seeds)))
    return {'param_space': space, 'search_alg': OptunaSearch(seed=0),
            'num_samples': spec.trials}


def _fifo(spec: SweepSpec) -> Any:
    return None


def _asha(spec: SweepSpec) -> Any:
    from ray.tune.schedulers import ASHAScheduler
    # Rounds (DAgger) or updates (PPO) are the time axis; a trial's last report is its end.
    return ASHAScheduler(time_attr='training_iteration', max_t=100_000, grace_period=1,
                         reduction_factor=2)


# name -> spec -> Tuner arguments (param_space, search_alg, num_samples)
SEARCHES: Dict[str, Callable[[SweepSpec], Dict[str, Any]]] = {'grid': _grid, 'optuna': _optuna}
# name -> spec -> a Tune trial scheduler (None: FIFO)
SCHEDULERS: Dict[str, Callable[[SweepSpec], Any]] = {'fifo': _fifo, 'asha': _asha}


# -- the sweep --------------------------------------------------------------------------------
def _base(spec: SweepSpec) -> Dict[str, Any]:
    """Return the config as a dict with the sweep's fixed overrides; check every combination."""
    from lnn_control.train.config import load_config
    cfg = load_config(spec.config, spec.overrides)
    base = cfg.to_dict()
    base.pop('out_dir', None)
    for values in itertools.product(*spec.grid.values()):
        _trial_config(base, dict(zip(spec.grid, values)))     # a wrong key fails here
    return base


def run_sweep(spec: SweepSpec) -> Dict[str, Any]:
    """
    Run (or resume) the sweep; write the results table, plot and best policy; return the report.

    The report (``sweep.json``): ``name``, ``config``, ``grid``, ``seeds``, ``search``,
    ``scheduler``, ``metric`` (the trials' score: 'success_rate' or 'mean_return'),
    ``rows`` (per trial: ``trial``, ``overrides``, ``seed``, ``status`` ('finished';
    'stopped': by the scheduler, or the sweep was interrupted and ``resume`` continues it;
    'error'), ``score``, ``test_score``,
    ``rounds``, ``wall_seconds``, ``node_id``, ``node_ip``, ``nodes`` (every node it ran on,
    in order), ``resumed``, ``history`` (the score of every report), ``policy``), ``best``
    (its row and ``policy``, the copied file), ``experiment`` (Tune's folder) and
    ``wall_seconds``.
    """
    for what, registry, key in (('search', SEARCHES, spec.search),
                                ('scheduler', SCHEDULERS, spec.scheduler)):
        if key not in registry:
            raise ConfigError(f'unknown {what} {key!r}; known: {sorted(registry)}')
    if spec.seeds < 1:
        raise ConfigError(f'seeds must be >= 1, got {spec.seeds}')
    base = _base(spec)
    name = spec.name or f'{base["name"]}_sweep'
    storage = spec.storage if '://' in spec.storage else str(Path(spec.storage).resolve())
    experiment = f'{storage.rstrip("/")}/{name}'
    out = Path(spec.out) if spec.out else Path(experiment)
    cpus = spec.cpus if spec.cpus is not None else float(base.get('threads', 1))
    started = time.perf_counter()
    # Checkpoints every round are the point (resume, ASHA): Tune's warning about them is noise.
    os.environ.setdefault('TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S', '0')
    with ray_session(spec.address, spec.num_cpus, 'lnn-control sweep'):
        from ray import tune
        trainable = tune.with_resources(
            tune.with_parameters(_trial, base=base,
                                 base_dir=str(Path(spec.config).resolve().parent)),
            _resources(base, cpus))
        if tune.Tuner.can_restore(experiment):
            if not spec.resume:
                raise ConfigError(f'{experiment} holds an earlier sweep: pass --resume to '
                                  f'continue it, or choose another --name or --storage')
            tuner = tune.Tuner.restore(experiment, trainable=trainable,
                                       resume_unfinished=True, resume_errored=True)
        else:
            search = SEARCHES[spec.search](spec)
            tuner = tune.Tuner(
                trainable, param_space=search['param_space'],
                tune_config=tune.TuneConfig(
                    metric=METRIC, mode='max', search_alg=search['search_alg'],
                    scheduler=SCHEDULERS[spec.scheduler](spec),
                    num_samples=search['num_samples'], reuse_actors=True,
                    trial_dirname_creator=lambda trial: f'trial_{trial.trial_id}'),
                run_config=tune.RunConfig(
                    name=name, storage_path=storage, verbose=spec.verbose,
                    failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))
        grid = tuner.fit()
        rows = [_row(result, list(spec.grid)) for result in grid]
    rows.sort(key=lambda r: (json.dumps(r['overrides'], sort_keys=True), r['seed']))
    report = {'name': name, 'config': str(spec.config), 'grid': spec.grid, 'seeds': spec.seeds,
              'search': spec.search, 'scheduler': spec.scheduler,
              'metric': next((r['metric'] for r in rows if r['metric']), ''), 'rows': rows,
              'experiment': experiment, 'wall_seconds': time.perf_counter() - started}
    report['best'] = _copy_best(rows, out, base['name'])
    write_sweep(report, out)
    return report


def _number(value: Any) -> Optional[float]:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _row(result: Any, keys: List[str]) -> Dict[str, Any]:
    """One table row from a Tune ``Result``."""
    metrics = dict(result.metrics or {})
    config = dict(result.config or {})
    history = result.metrics_dataframe
    nodes: List[str] = []
    scores: List[Optional[float]] = []
    if history is not None and len(history):
        for node in history.get('node_id', []):
            if isinstance(node, str) and node and (not nodes or nodes[-1] != node):
                nodes.append(node)
        finished = history.get('finished')
        for i, score in enumerate(history.get(METRIC, [])):
            if finished is None or not bool(finished.iloc[i]):
                scores.append(_number(score))
    status = ('error' if result.error is not None else
              'finished' if metrics.get('finished') else 'stopped')
    if status == 'finished' and isinstance(metrics.get('history'), str):
        scores = [_number(v) for v in json.loads(metrics['history'])]
    checkpoint = result.checkpoint
    policy = ''
    if status == 'finished' and checkpoint is not None and metrics.get('policy'):
        policy = f'{checkpoint.path}/{metrics["policy"]}'
    return {'trial': metrics.get('trial_id', Path(result.path).name),
            'overrides': {k: config.get(k) for k in keys}, 'seed': config.get('seed'),
            'status': status, 'metric': metrics.get('metric', ''),
            'score': _number(metrics.get(METRIC)),
            'test_score': _number(metrics.get('test_score')),
            'rounds': len(scores), 'wall_seconds': _number(metrics.get('time_total_s')),
            'node_id': metrics.get('node_id', ''), 'node_ip': metrics.get('node_ip', ''),
            'nodes': nodes, 'resumed': bool(history is not None and len(history) and
                                            history.get('resumed', [False]).any()),
            'history': scores, 'policy': policy,
            'error': '' if result.error is None else str(result.error).splitlines()[0][:200]}


def _copy_best(rows: List[Dict[str, Any]], out: Path, name: str) -> Dict[str, Any]:
    """Copy the best finished trial's policy (test score, else score) to ``out``."""
    finished = [r for r in rows if r['status'] == 'finished' and r['policy']]
    if not finished:
        return {}

    def rank(row: Dict[str, Any]) -> float:
        value = row['test_score'] if row['test_score'] is not None else row['score']
        return -math.inf if value is None else value
    best = max(finished, key=rank)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f'{name}_best.safetensors'
    shutil.copyfile(best['policy'], target)
    return {**best, 'policy': str(target), 'from': best['policy']}


# -- results ----------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    return '-' if value is None else f'{value:.3g}' if isinstance(value, float) else str(value)


def sweep_markdown(report: Mapping[str, Any]) -> str:
    """Return the results table: a row per trial, best first."""
    keys = list(report['grid'])
    metric = report.get('metric') or 'score'
    lines = [f'# Sweep {report["name"]}', '',
             f'{report["config"]}: {len(report["rows"])} trials ({report["search"]} search, '
             f'{report["scheduler"]} scheduler). score: the last validation {metric} (PPO: the '
             'training return); test: the held-out test of the final policy.', '',
             '| ' + ' | '.join(keys + ['seed', 'status', 'score', 'test', 'rounds',
                                       'wall s', 'node(s)']) + ' |',
             '|' + '---|' * (len(keys) + 7)]
    for row in report['rows']:
        nodes = ' → '.join(n[:8] for n in row['nodes']) or row['node_id'][:8]
        cells = [_fmt(row['overrides'].get(k)) for k in keys] + [
            str(row['seed']), row['status'], _fmt(row['score']), _fmt(row['test_score']),
            str(row['rounds']), _fmt(row['wall_seconds']), f'{nodes} ({row["node_ip"]})']
        lines.append('| ' + ' | '.join(cells) + ' |')
    best = report.get('best') or {}
    if best:
        lines += ['', f'best: {best["overrides"]} seed {best["seed"]} (test '
                  f'{_fmt(best["test_score"])}, score {_fmt(best["score"])}), policy '
                  f'`{best["policy"]}`']
    lines += ['', f'Tune experiment: `{report["experiment"]}`']
    return '\n'.join(lines) + '\n'


def sweep_plot(report: Mapping[str, Any], path: str) -> None:
    """Write the figure: every trial's score by round, and the final scores per combination."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    rows = report['rows']
    combos = sorted({json.dumps(r['overrides'], sort_keys=True) for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for row in rows:
        colour = colours[combos.index(json.dumps(row['overrides'], sort_keys=True))
                         % len(colours)]
        history = [np.nan if s is None else s for s in row['history']]
        left.plot(range(len(history)), history, '-o', color=colour, markersize=3, alpha=0.8)
    left.set_xlabel('report (DAgger round / PPO update)')
    left.set_ylabel(f'score ({report.get("metric") or "score"})')
    for i, combo in enumerate(combos):
        final = [r['test_score'] if r['test_score'] is not None else r['score'] for r in rows
                 if json.dumps(r['overrides'], sort_keys=True) == combo]
        final = [np.nan if v is None else v for v in final]
        right.bar(i, np.nanmean(final) if np.isfinite(final).any() else 0.0,
                  color=colours[i % len(colours)], alpha=0.5)
        right.plot([i] * len(final), final, 'k.', markersize=8)
    right.set_xticks(range(len(combos)))
    right.set_xticklabels([', '.join(f'{k}={v}' for k, v in json.loads(c).items()) or 'config'
                           for c in combos], rotation=25, ha='right', fontsize=8)
    right.set_ylabel('held-out test score (dots: seeds; stopped: last score)')
    fig.suptitle(f'{report["name"]}: {len(rows)} trials')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_sweep(report: Mapping[str, Any], out: Path) -> Dict[str, str]:
    """Write ``sweep.md``, ``sweep.json`` and ``sweep.png`` into ``out``."""
    from lnn_control.train.evaluate import jsonable
    out.mkdir(parents=True, exist_ok=True)
    paths = {'md': out / 'sweep.md', 'json': out / 'sweep.json', 'png': out / 'sweep.png'}
    paths['md'].write_text(sweep_markdown(report))
    paths['json'].write_text(json.dumps(jsonable(dict(report)), indent=1) + '\n')
    sweep_plot(report, str(paths['png']))
    return {k: str(v) for k, v in paths.items()}
