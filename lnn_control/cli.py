# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ``lnn-control`` command.

Each subcommand is a registry entry whose module is imported only when that subcommand runs,
so ``lnn-control info`` on a robot never imports torch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
import sys
from typing import Callable, Dict, List, Optional, Sequence

__all__ = ['main', 'COMMANDS']

Handler = Callable[[argparse.Namespace], int]
SUITE_ENV = 'lnn_control/PiBotNav-v0'      # the robustness suite's env unless --env says
COMMANDS: Dict[str, 'tuple[str, Callable[[argparse.ArgumentParser], None], Handler]'] = {}


def command(name: str, help_text: str,
            arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    """Register a subcommand: its help text, an argument adder and the handler."""
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (help_text, arguments, handler)
        return handler
    return register


def _info_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('policy', help='policy file or built-in name')
    parser.add_argument('--json', action='store_true', help='print the metadata as JSON')


@command('info', 'summarise a policy file: model, observation and action spaces with '
         'bounds and units, Observer and Actuator settings, training env, held-out score '
         '(torch-free)', _info_args)
def _info(args: argparse.Namespace) -> int:
    from lnn_control.runtime.describe import describe_policy
    from lnn_control.runtime.policy import read_policy_file
    tensors, spec, path = read_policy_file(args.policy)
    if args.json:
        print(json.dumps(spec.to_json(), indent=2, sort_keys=True))
        return 0
    print('\n'.join(describe_policy(tensors, spec, path)))
    return 0


def _list_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--json', action='store_true',
                        help='print the lists as one JSON object instead')


@command('list', 'list the built-in policies (env, held-out score), the registered env ids '
         'and the experts', _list_args)
def _list(args: argparse.Namespace) -> int:
    from lnn_control.runtime.describe import score_text
    from lnn_control.runtime.policy import builtin_policies, read_policy_file
    policies = []
    for name in builtin_policies():
        _, spec, _ = read_policy_file(name)
        policies.append({'name': name, 'kind': spec.kind, 'env': spec.env_id,
                         'held_out': spec.held_out, 'score': score_text(spec)})
    envs, experts, missing = _registered()
    if args.json:
        print(json.dumps({'policies': policies, 'envs': envs, 'experts': experts},
                         indent=1, sort_keys=True))
        return 0
    print("built-in policies (load_policy(NAME); held-out score from the file's provenance)")
    for p in policies:
        print(f'  {p["name"]:<22} {p["kind"]:<5} {p["env"] or "-":<28} {p["score"]}')
    print('environments (gymnasium.make(ID) after import lnn_control.envs; lnn-control eval '
          'also takes any Gymnasium MuJoCo env)')
    for env_id, entry in envs.items():
        print(f'  {env_id:<28} {entry["entry_point"]} ({entry["max_episode_steps"]} steps)')
    print('experts (lnn-control eval expert --env ID)')
    for env_id, name in experts.items():
        print(f'  {env_id:<28} {name}')
    if missing:
        print(f'  ({missing})')
    return 0


def _registered() -> 'tuple[dict, dict, str]':
    """Return the env ids, the experts and why they are missing (no sim extra), if they are."""
    try:
        from lnn_control.envs import ENV_IDS, MAX_EPISODE_STEPS
        from lnn_control.envs.experts import EXPERTS
    except ImportError as exc:      # a robot: no simulator installed
        return {}, {}, str(exc)
    envs = {k: {'entry_point': v, 'max_episode_steps': MAX_EPISODE_STEPS[k]}
            for k, v in ENV_IDS.items()}
    return envs, {k: v.__name__ for k, v in sorted(EXPERTS.items())}, ''


def _export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('policy', help='policy file or built-in name')
    parser.add_argument('--onnx', required=True, metavar='OUT', help='write an ONNX step graph')
    parser.add_argument('--check-steps', type=int, default=200, metavar='N',
                        help='compare onnxruntime with the numpy runtime over N random steps '
                             '(0 to skip)')


@command('export', 'export a policy step to ONNX and check it against the numpy runtime',
         _export_args)
def _export(args: argparse.Namespace) -> int:
    from lnn_control.models.export import export_onnx
    out = export_onnx(args.policy, args.onnx)
    print(f'wrote {out}')
    if args.check_steps > 0:
        from lnn_control.models.export import compare_onnx
        err = compare_onnx(args.policy, out, steps=args.check_steps)
        print(f'onnxruntime vs numpy runtime over {args.check_steps} steps: '
              f'max abs difference {err:.2e}')
        if not err <= 1e-4:
            print('error: the exported graph disagrees with the numpy runtime', file=sys.stderr)
            return 1
    return 0


def _demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--toy', action='store_true',
                        help='the torch demo instead: pendulum velocity from irregular samples')
    parser.add_argument('--policy', default='pibot_nav_cfc', help='policy for the ROS demo')
    parser.add_argument('--seed', type=int, default=None,
                        help='scene seed (default 7), or the --toy data seed (default 0)')
    parser.add_argument('--obstacles', type=int, default=6, metavar='N',
                        help='obstacles in the ROS demo scene (default: %(default)s)')
    parser.add_argument('--out', default=None, help='output folder')
    parser.add_argument('--seconds', type=float, default=30.0,
                        help='--toy: training time budget per model')


@command('demo', 'closed loop over real DDS: lnn_sim + lnn_controller drive to a goal '
         '(--toy: train a small CfC on irregularly sampled pendulum data)', _demo_args)
def _demo(args: argparse.Namespace) -> int:
    if args.toy:
        from lnn_control.train.toy_demo import run_demo
        return run_demo(out=args.out or 'runs/demo', seconds=args.seconds,
                        seed=0 if args.seed is None else args.seed)
    from lnn_control.ros.demo import main as ros_demo
    return ros_demo(['--policy', args.policy, '--seed', str(7 if args.seed is None else args.seed),
                     '--obstacles', str(args.obstacles), '--out', args.out or 'runs/ros_demo'])


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='CONFIG', help='training config YAML '
                        '(e.g. config/train/pibot_nav_cfc.yaml)')
    parser.add_argument('--out', metavar='DIR', help='output folder (default: runs/<name>)')
    parser.add_argument('--resume', action='store_true',
                        help="continue from the output folder's last checkpoint")
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        dest='overrides', help='override a config value, e.g. bc.lr=1e-3 or '
                        'dagger.rounds=2 (YAML value; repeatable)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


@command('train', 'train a policy from a config: its method (imitation: behaviour cloning + '
         'DAgger) on its env, with evaluation and a policy file at the end', _train_args)
def _train(args: argparse.Namespace) -> int:
    import logging
    from lnn_control.train import method
    from lnn_control.train.config import ConfigError, load_config
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s',
                        datefmt='%H:%M:%S')
    try:
        cfg = load_config(args.config, args.overrides)
        path = method(cfg.method)(cfg, out=args.out, resume=args.resume,
                                  progress=False if args.no_progress else None,
                                  base_dir=str(Path(args.config).resolve().parent))
    except ConfigError as exc:
        print(f'lnn-control train: error: {exc}', file=sys.stderr)
        return 2
    print(f'wrote {path}')
    return 0


def _sweep_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='CONFIG', help='training config YAML every trial '
                        'starts from')
    parser.add_argument('--grid', nargs='+', default=[], metavar='KEY=V1,V2',
                        help='values to try per config key (YAML values), e.g. '
                             'bc.lr=1e-3,3e-3 model.kind=cfc,ltc')
    parser.add_argument('--seeds', type=int, default=1, metavar='N',
                        help='seeds 0..N-1 of every combination (default: %(default)s)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        dest='overrides', help='override a value of every trial (repeatable)')
    parser.add_argument('--search', default='grid', choices=['grid', 'optuna'],
                        help='grid: every combination; optuna: Optuna picks --trials of them '
                             '(default: %(default)s)')
    parser.add_argument('--trials', type=int, default=8, metavar='K',
                        help='trials of --search optuna (default: %(default)s)')
    parser.add_argument('--scheduler', default='fifo', choices=['fifo', 'asha'],
                        help='asha stops trials whose score trails early (default: '
                             '%(default)s)')
    parser.add_argument('--address', metavar='ADDR', default=None,
                        help='a Ray cluster (HOST:PORT of its head, or auto); default: Ray '
                             'starts in this process')
    parser.add_argument('--storage', default='runs/sweeps', metavar='DIR',
                        help='Tune storage: trial results and checkpoints; on a cluster a '
                             'folder every node mounts, or s3://... (default: %(default)s)')
    parser.add_argument('--name', default='', help='experiment name (default: '
                        '<config name>_sweep)')
    parser.add_argument('--out', default='', metavar='DIR', help='results folder (default: '
                        '<storage>/<name>)')
    parser.add_argument('--cpus', type=float, default=None,
                        help="CPUs per trial (default: the config's threads)")
    parser.add_argument('--num-cpus', type=int, default=None, metavar='N',
                        help='CPUs of the in-process Ray (no --address; default: all)')
    parser.add_argument('--max-failures', type=int, default=2, metavar='N',
                        help='restarts of a failed trial from its checkpoint (default: '
                             '%(default)s)')
    parser.add_argument('--resume', action='store_true',
                        help='continue the interrupted sweep <storage>/<name>')
    parser.add_argument('--quiet', action='store_true', help='no Tune status output')


@command('sweep', 'hyperparameter sweep on Ray Tune: a training run per combination of '
         '--grid values and --seeds, early stopping (asha), Optuna search, a results table, '
         'a plot and the best policy', _sweep_args)
def _sweep(args: argparse.Namespace) -> int:
    from lnn_control.train.config import ConfigError
    from lnn_control.train.distributed import RayMissing
    try:
        from lnn_control.train.sweep import parse_grid, run_sweep, sweep_markdown, SweepSpec
        spec = SweepSpec(
            config=args.config, grid=parse_grid(args.grid), seeds=args.seeds,
            overrides=args.overrides, search=args.search, trials=args.trials,
            scheduler=args.scheduler, address=args.address, storage=args.storage,
            name=args.name, out=args.out, cpus=args.cpus, num_cpus=args.num_cpus,
            max_failures=args.max_failures, resume=args.resume, verbose=0 if args.quiet else 1)
        report = run_sweep(spec)
    except (ConfigError, RayMissing) as exc:
        print(f'lnn-control sweep: error: {exc}', file=sys.stderr)
        return 2
    print(sweep_markdown(report), end='')
    out = args.out or report['experiment']
    print(f'wrote {out}/sweep.{{md,json,png}} ({report["wall_seconds"]:.0f} s)')
    return 0


def _eval_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('policy', nargs='?', metavar='POLICY',
                        help="policy file, built-in name or 'expert' (not with --suite)")
    parser.add_argument('--env', default=None, metavar='ID',
                        help="Gymnasium id (default: the env in the policy's provenance; "
                             f'{SUITE_ENV} for --suite)')
    parser.add_argument('--episodes', type=int, default=None, metavar='N',
                        help='episodes (per cell with --suite; default 10, suite 20)')
    parser.add_argument('--seed', type=int, default=10_000, metavar='S',
                        help='seed of the first episode, then S+1, ... (default %(default)s, '
                             'away from training seeds)')
    parser.add_argument('--perturb', default='', metavar='KNOB=V,...',
                        help='e.g. noise=0.05,drop=0.2,jitter=0.3,delay=0.1,mass=1.5,'
                             'friction=0.5,gain=0.7 (gain=0.9:1.1 per motor)')
    parser.add_argument('--json', metavar='OUT', help='write the full result as JSON')
    parser.add_argument('--suite', choices=['robustness'],
                        help='run a suite: every policy under each perturbation of a grid')
    parser.add_argument('--policies', nargs='+', metavar='NAME',
                        help='suite policies (default: built-in policies for the env + expert)')
    parser.add_argument('--grid', nargs='+', metavar='PERTURB',
                        help='suite perturbations (default: the robustness grid)')
    parser.add_argument('--out', default='runs/robustness', metavar='DIR',
                        help='suite output folder (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=2, metavar='N',
                        help='suite worker processes (default: %(default)s); with --ray and '
                             'no --address, the CPUs of the in-process Ray')
    parser.add_argument('--ray', action='store_true',
                        help='run the episodes (suite: the cells) as Ray tasks; Ray starts '
                             'in this process unless --address names a cluster (the '
                             'distributed extra)')
    parser.add_argument('--address', metavar='ADDR', default=None,
                        help='the Ray cluster to run on (HOST:PORT of its head, or auto); '
                             'implies --ray')


def _ray_missing() -> type:
    """Return the error raised when Ray (the distributed extra) is needed but missing."""
    from lnn_control.train.distributed import RayMissing
    return RayMissing


def _policy_env(policy: str) -> str:
    """Return the env a policy file records in its provenance, or raise ValueError."""
    if policy == 'expert':
        raise ValueError('the expert needs --env ID (lnn-control list shows the experts)')
    from lnn_control.runtime.policy import read_policy_file
    _, spec, path = read_policy_file(policy)
    if spec.env_id is None:
        raise ValueError(f'{path.name} records no env in its provenance; give --env ID')
    return spec.env_id


@command('eval', 'evaluate a policy closed loop in its env (success rate or return over '
         'seeded episodes, optionally perturbed), or run the robustness suite', _eval_args)
def _eval(args: argparse.Namespace) -> int:
    try:
        if not args.suite and args.policy:
            args.env = args.env or _policy_env(args.policy)
        # After the policy file is read: a wrong name fails before the simulator loads.
        from lnn_control.train import evaluate as ev
        from lnn_control.train import robustness as rb
        from lnn_control.train.executor import make_executor
        if args.suite and args.policy:
            raise ValueError('give policies with --policies when running a --suite')
        if not args.suite and not args.policy:
            raise ValueError('give a POLICY (file, built-in name or expert) or --suite')
        executor = (make_executor(workers=args.workers, ray=True, address=args.address)
                    if args.ray or args.address else None)
        with executor or contextlib.nullcontext():
            if args.suite:
                report = rb.run_suite(args.policies, args.env or SUITE_ENV,
                                      episodes=args.episodes or 20, seed=args.seed,
                                      grid=args.grid, out=args.out, workers=args.workers,
                                      executor=executor)
                print(rb.suite_markdown(report), end='')
                print(f'wrote {args.out}/robustness.{{md,json,png}} '
                      f'({report["wall_seconds"]:.0f} s)')
                return 0
            result = ev.evaluate(args.policy, args.env, episodes=args.episodes or 10,
                                 seed=args.seed, perturb=args.perturb, executor=executor)
    except (ValueError, _ray_missing()) as exc:
        print(f'lnn-control eval: error: {exc}', file=sys.stderr)
        return 2
    last = result['seed'] + result['episodes'] - 1
    rows = [('policy', result['policy']),
            ('env', f'{result["env_id"]} ({result["perturbation"]})'),
            ('episodes', f'{result["episodes"]} (seeds {result["seed"]}-{last})'),
            ('return', f'mean {result["mean_return"]:.2f}  std {result["std_return"]:.2f}  '
                       f'median {result["median_return"]:.2f}'),
            ('length', f'{result["mean_steps"]:.1f} steps, {result["mean_seconds"]:.2f} s')]
    for key in ('success_rate', 'collision_rate'):
        if result[key] is not None:
            rows.append((key.split('_')[0], f'{result[key]:.3f}'))
    rows.append(('wall', f'{result["wall_seconds"]:.1f} s'))
    for key, value in rows:
        print(f'{key:<10} {value}')
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + '\n')
        print(f'wrote {path}')
    return 0


def _inspect_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('policy', help='policy file or built-in name')
    parser.add_argument('--out', required=True, metavar='DIR', help='report folder')
    parser.add_argument('--episodes', type=int, default=3, metavar='N',
                        help='episodes to run (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='first episode seed')
    parser.add_argument('--env', default=None, metavar='ID',
                        help='env id (default: the one in the policy provenance)')
    parser.add_argument('--ig-steps', type=int, default=32, metavar='K',
                        help='integrated-gradients path steps (default: %(default)s)')
    parser.add_argument('--window', type=int, default=1, metavar='W',
                        help='observations attributed per action: 1 = the current one with '
                             'the carried state fixed (default), W = the last W')


@command('inspect', 'why did it act: wiring diagram, neuron and time-constant traces, input '
         'attribution (integrated gradients), an offline index.html report', _inspect_args)
def _inspect(args: argparse.Namespace) -> int:
    import torch
    torch.set_num_threads(1)   # small batched steps: threads cost more than they give
    from lnn_control.inspect import inspect_policy
    if args.episodes < 1:
        print('lnn-control inspect: error: --episodes must be >= 1', file=sys.stderr)
        return 2
    try:
        summary = inspect_policy(args.policy, args.out, episodes=args.episodes,
                                 seed=args.seed, env_id=args.env, ig_steps=args.ig_steps,
                                 window=args.window)
    except ValueError as exc:
        print(f'lnn-control inspect: error: {exc}', file=sys.stderr)
        return 2
    for action, shares in summary['share'].items():
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:3]
        print(f'{action:<6} driven by ' + ', '.join(f'{g} {100 * v:.0f}%' for g, v in top))
    print(f'IG completeness max error {summary["ig_completeness_max_error"]:.2e}')
    print(f'wrote {summary["index"]}')
    return 0


def _topic_args(parser: argparse.ArgumentParser, roles: Sequence[str], note: str = '') -> None:
    """Add ``--<role>-topic`` options (``args.<role>_topic``), the robot's topics by default."""
    from lnn_control.ros.node_config import TOPICS
    for role in roles:
        default = TOPICS[role]
        parser.add_argument(f'--{role}-topic', default=default, metavar='TOPIC',
                            help=f'{note}(default: {default})')


def _replay_args(parser: argparse.ArgumentParser, note: str = '') -> None:
    """Add the frame and episode-splitting rules of a bag replay (ros.bags.BagOptions)."""
    parser.add_argument('--odom-frame', default='odom',
                        help=f'{note}frame goals must be in (default: odom)')
    parser.add_argument('--goal-frame', action='append', default=[], dest='goal_frames',
                        metavar='FRAME', help=f'{note}a frame taken as the odom frame (e.g. map)')
    for name, default, what in (
            ('stale', 0.5, 'a scan older than this ends the episode (s)'),
            ('gap', 1.0, 'an odometry stamp gap above this ends the episode (s)')):
        parser.add_argument(f'--{name}', type=float, default=default,
                            help=f'{note}{what} (default: {default})')


def _replay_options(args: argparse.Namespace) -> dict:
    """Return the BagOptions fields the options of :func:`_replay_args` set."""
    return {'odom_frame': args.odom_frame, 'goal_frames': tuple(args.goal_frames),
            'stale': args.stale, 'gap': args.gap}


def _dataset_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='action', required=True, metavar='ACTION')
    bag = sub.add_parser('from-bag', help='rosbag2 recordings (MCAP, sqlite3) -> a training '
                         'data set (.npz) for bc.dataset',
                         description="Replay rosbag2 recordings through the node's message "
                         "conversions and the policy's Observer; label each odometry step "
                         'with the recorded /cmd_vel (see lnn_control.ros.bags).')
    bag.add_argument('bags', nargs='+', metavar='BAG', help='bag folder(s) or .mcap/.db3 file')
    bag.add_argument('--config', required=True, metavar='CONFIG',
                     help='training config YAML, or a policy (file or built-in name), whose '
                          'Observer to use')
    bag.add_argument('--out', required=True, metavar='DATASET', help='output .npz')
    _topic_args(bag, ('scan', 'odom', 'goal', 'cmd'))
    _replay_args(bag)
    for name, default, what in (
            ('hold', 0.5, 'an earlier command labels a step up to this old (s)'),
            ('goal-tolerance', 0.15, "success radius of an episode's last pose (m)")):
        bag.add_argument(f'--{name}', type=float, default=default,
                         help=f'{what} (default: {default})')
    bag.add_argument('--min-length', type=int, default=10,
                     help='drop episodes with fewer steps (default: 10)')


def _observer_config(spec: str) -> dict:
    """Return the Observer config of a training config (its env's) or of a policy file."""
    if spec.endswith(('.yaml', '.yml')):
        from lnn_control.envs.make import make_env
        from lnn_control.train.config import load_config
        cfg = load_config(spec)
        env = make_env(cfg.env.id, **cfg.env.kwargs)
        observer = getattr(env.unwrapped, 'observer', None)
        env.close()
        if observer is None:
            raise ValueError(f'{spec}: env {cfg.env.id} has no Observer (not a PiBot env)')
        return observer.config.to_dict()
    from lnn_control.runtime.policy import read_policy_file
    _, policy_spec, _ = read_policy_file(spec)
    if not policy_spec.observer:
        raise ValueError(f'{spec}: the policy has no Observer config (not a PiBot policy)')
    return policy_spec.observer


@command('dataset', 'training data from robot recordings: dataset from-bag BAG... --config '
         'CONFIG --out DATASET', _dataset_args)
def _dataset(args: argparse.Namespace) -> int:
    from lnn_control.ros.bags import BagError
    from lnn_control.ros.bags import BagOptions
    from lnn_control.ros.bags import read_bags
    from lnn_control.runtime.sequences import DatasetError
    from lnn_control.runtime.sequences import save_dataset
    from lnn_control.runtime.sequences import Sequences
    from lnn_control.train.config import ConfigError
    import numpy as np
    try:
        options = BagOptions(
            scan_topic=args.scan_topic, odom_topic=args.odom_topic, goal_topic=args.goal_topic,
            cmd_topic=args.cmd_topic, hold=args.hold, min_length=args.min_length,
            goal_tolerance=args.goal_tolerance, **_replay_options(args))
        arrays = read_bags(args.bags, _observer_config(args.config), options)
        data = Sequences(**arrays)
        path = save_dataset(data, args.out)
    except (BagError, DatasetError, ConfigError, ValueError) as exc:
        print(f'lnn-control dataset: error: {exc}', file=sys.stderr)
        return 2
    dropped = ', '.join(f'{k} {v}' for k, v in data.meta['dropped'].items()) or 'none'
    print(f'episodes   {data.episodes} ({int(data.success.sum())} ended at their goal)')
    print(f'steps      {data.steps} (dt median {float(np.median(data.dt)):.4f} s, '
          f'max {float(data.dt.max()):.4f} s)')
    print(f'dropped    {dropped}')
    print(f'wrote {path}')
    return 0


def _finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('policy', help='policy file or built-in name (never overwritten)')
    p.add_argument('--corrections', required=True, nargs='+', metavar='FILE_OR_BAG',
                   help='recorded corrections: .npz (obs, dt, action with NaN rows where the '
                        'policy drove, episode_start) or .csv (see lnn_control.runtime.adapt), '
                        'or rosbag2 recordings (folders, .mcap, .db3) of the robot with its '
                        'operator: /scan, /odom, /goal_pose and the correction topic')
    _topic_args(p, ('scan', 'odom', 'goal', 'correction'), 'in bags ')
    p.add_argument('--correction-timeout', type=float, default=_default('correction_timeout'),
                   help='in bags: a correction covers the steps this long after it (s, the '
                        "controller's correction_timeout; default: %(default)s)")
    _replay_args(p, 'in bags: ')
    p.add_argument('--out', help='the new policy file (default: '
                                 '<policy>_adapted_<UTC time>.safetensors here)')
    _setting_args(p, 'lnn_control.runtime.adapt:AdaptationConfig', skip=('enabled',))


def _default(name: str) -> object:
    """Return the default of a ControllerConfig field (one declaration per setting)."""
    from lnn_control.runtime.controller import ControllerConfig
    from lnn_control.runtime.settings import defaults
    return defaults(ControllerConfig)[name]


def _setting_args(parser: argparse.ArgumentParser, target: str, skip: Sequence[str] = ()
                  ) -> None:
    """Add one option per declared setting of a config dataclass (``module:Class``)."""
    import importlib
    import typing

    from lnn_control.runtime.settings import default_of, settings_of
    module, _, name = target.partition(':')
    cls = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(cls)
    for f, spec in settings_of(cls):
        if f.name in skip:
            continue
        kind = hints[f.name]
        parser.add_argument(f'--{f.name.replace("_", "-")}', type=kind,
                            default=default_of(f), choices=spec.choices or None,
                            help=f'{spec.describe(when=False)} (default: %(default)s)')


@command('finetune', "adapt a policy's readout to an operator's recorded corrections "
         '(the online adaptation of lnn_control.runtime.adapt, offline) and save a new policy '
         'file (torch-free)', _finetune_args)
def _finetune(args: argparse.Namespace) -> int:
    from lnn_control.runtime.adapt import (AdaptationConfig, default_adapted_path, finetune,
                                           read_corrections)
    from lnn_control.runtime.base import PolicyFormatError
    from lnn_control.runtime.policy import load_policy
    sources = [Path(f) for f in args.corrections]
    try:
        policy = load_policy(args.policy)
        from lnn_control.runtime.settings import field_names
        config = AdaptationConfig(**{k: getattr(args, k) for k in field_names(AdaptationConfig)
                                     if k != 'enabled'})
        if any(f.is_dir() or f.suffix in ('.mcap', '.db3') for f in sources):
            from lnn_control.ros.bags import BagOptions, corrections_from_bags
            options = BagOptions(
                scan_topic=args.scan_topic, odom_topic=args.odom_topic,
                goal_topic=args.goal_topic, cmd_topic='', correction_topic=args.correction_topic,
                correction_timeout=args.correction_timeout, min_length=1,
                **_replay_options(args))
            data = corrections_from_bags(sources, policy.spec.observer, options)
        elif len(sources) == 1:
            data = read_corrections(sources[0])
        else:
            raise ValueError('give one .npz/.csv corrections file, or rosbag2 recordings')
        adapter = finetune(policy, data, config)
        out = args.out or default_adapted_path(policy, '.')
        path = adapter.save(out, corrections_file=', '.join(str(f) for f in sources))
    except (PolicyFormatError, FileNotFoundError, OSError, ValueError) as exc:
        print(f'lnn-control finetune: error: {exc}', file=sys.stderr)
        return 2
    gains = ('' if adapter.gain is None
             else ', gains ' + ' '.join(f'{g:.3f}' for g in adapter.gain))
    print(f'corrections {adapter.corrections} (rejected {adapter.rejected}, skipped '
          f'{adapter.skipped}), drift {adapter.drift:.4f}{gains}, rollbacks '
          f'{adapter.rollbacks}')
    print(f'wrote {path}')
    return 0


def _security_args(parser: argparse.ArgumentParser) -> None:
    from lnn_control.security.cli import add_arguments
    add_arguments(parser)


@command('security', 'SROS2 keystore with least-privilege permissions: security create '
         'KEYSTORE, check KEYSTORE --enclave E, export KEYSTORE OUT --enclave E', _security_args)
def _security(args: argparse.Namespace) -> int:
    from lnn_control.security.cli import run
    return run(args)


def version() -> str:
    """Return the installed package's version; without package metadata, lnn_control's own."""
    from importlib import metadata
    try:
        return metadata.version('lnn_control')
    except metadata.PackageNotFoundError:     # run from a source tree, not installed
        import lnn_control
        return lnn_control.__version__


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog='lnn-control', description='Train, evaluate, inspect, export and deploy liquid '
        'neural network controllers (CfC, LTC) for ROS 2 robots.',
        epilog='lnn-control COMMAND --help describes each command.')
    parser.add_argument('--version', action='version', version=f'lnn-control {version()}',
                        help='print the lnn_control version and exit')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, (help_text, arguments, handler) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        arguments(sp)
        sp.set_defaults(handler=handler)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``lnn-control``; returns the process exit code."""
    import lnn_control
    args = build_parser().parse_args(argv)
    # Called in-process: policy provenance records this command, not the caller's argv.
    lnn_control.invoked_as = None if argv is None else ['lnn-control', *argv]
    from lnn_control.runtime.base import PolicyFormatError
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, PolicyFormatError) as exc:
        print(f'lnn-control {args.command}: error: {exc}', file=sys.stderr)
        return 2
    finally:
        lnn_control.invoked_as = None


if __name__ == '__main__':
    sys.exit(main())
