# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Reinforcement learning side by side: our recurrent PPO against the stable-baselines3 anchors.

Our PPO (``lnn_control.train.ppo``) trains CfC, LTC, GRU, LSTM and MLP actors; the anchors
are stable-baselines3 PPO and sb3-contrib RecurrentPPO.

Every run has the same env-step budget, the same number of envs (4, sync) and one torch
thread; runs go ``--jobs`` at a time, one process each. The tasks are HalfCheetah-v5 with full
observations, positions only (``obs=positions``: the velocity half dropped, so a policy has to
infer velocities from the sequence) and positions only with dt jitter 0.3 (``jitter=0.3``:
every control period lasts 0.7-1.3 times the nominal one; our actors get the real dt as the
timespan, the anchors only the observation, as they would on a robot). A run's score is the
mean return of 10 deterministic episodes on held-out seeds 10000-10009 after training (the
anchors with their VecNormalize statistics frozen). Results are cached per run in ``--out``
(rerunning the bench only runs what is missing; ``--fresh`` starts over); the table goes to
stdout and ``<out>/table.md``, learning curves (mean over seeds) to ``<out>/curves_<task>.png``.

    python bench/rl.py [--steps 200000] [--seeds 0 1 2] [--tasks full positions jitter]
                       [--agents sb3_ppo sb3_recurrent_ppo cfc_ncp ltc_ncp gru lstm mlp]
                       [--jobs 2] [--out runs/bench_rl] [--fresh]
    python bench/rl.py --smoke      # 4k steps, one seed, every agent on one task

Anchor settings: stable-baselines3 defaults (PPO: MlpPolicy 64x64, n_steps 2048, batch 64;
RecurrentPPO: MlpLstmPolicy with lstm_hidden_size 64 and net_arch [64], n_steps 128, batch
128), VecNormalize on observations and rewards; ``sb3_ppo_matched`` is SB3's PPO on our
schedule (n_steps 512 x 4 envs, batch 256, 10 epochs, lr 1e-3 annealed, log-std -1). Ours:
the ``ppo:`` defaults of ``lnn_control.train.config.PPOConfig`` (or ``--ppo key=value``
overrides).
"""

import argparse
import concurrent.futures
import json
import multiprocessing
from pathlib import Path
import shutil
import statistics
import sys
import time
from typing import Any, Dict, List

import common  # noqa: F401  (one BLAS thread before numpy loads)
import numpy as np

TASKS = {
    'full': ('HalfCheetah-v5', ''),
    'positions': ('HalfCheetah-v5', 'obs=positions'),
    'jitter': ('HalfCheetah-v5', 'obs=positions,jitter=0.3'),
}
ACTIONS = 6        # HalfCheetah
NCP = {'kind': 'auto_ncp', 'units': 32, 'output_size': ACTIONS, 'sparsity_level': 0.5,
       'seed': 22222}
OURS = {
    'cfc_ncp': ('cfc', {'units': NCP}, None),
    'ltc_ncp': ('ltc', {'units': {**NCP, 'units': 24}}, None),
    # the same LTC with HalfCheetah's 0.05 s control period as its unit of time (time_unit):
    # ncps's dynamics per step, real dt still given
    'ltc_ncp_unit': ('ltc', {'units': {**NCP, 'units': 24}, 'time_unit': 0.05}, None),
    'cfc_fc': ('cfc', {'units': 32, 'proj_size': ACTIONS}, None),
    'gru': ('gru', {'hidden_size': 32}, None),
    'lstm': ('lstm', {'hidden_size': 32}, None),
    'mlp': ('mlp', {'hidden_sizes': [64, 64]}, None),
    'cfc_ncp_gru_critic': ('cfc', {'units': NCP},
                           {'kind': 'gru', 'kwargs': {'hidden_size': 64}}),
}
ANCHORS = ('sb3_ppo', 'sb3_ppo_matched', 'sb3_recurrent_ppo')
LABELS = {
    'sb3_ppo': 'stable-baselines3 PPO, MLP 64x64',
    'sb3_ppo_matched': 'stable-baselines3 PPO, MLP 64x64, our schedule',
    'sb3_recurrent_ppo': 'sb3-contrib RecurrentPPO, LSTM 64',
    'cfc_ncp': 'ours: CfC, AutoNCP(32, 6)',
    'ltc_ncp': 'ours: LTC, AutoNCP(24, 6)',
    'ltc_ncp_unit': 'ours: LTC, AutoNCP(24, 6), time_unit 0.05 s',
    'cfc_fc': 'ours: CfC, fully connected 32',
    'gru': 'ours: GRU 32',
    'lstm': 'ours: LSTM 32',
    'mlp': 'ours: MLP 64x64',
    'cfc_ncp_gru_critic': 'ours: CfC, AutoNCP(32, 6), GRU critic',
}
EVAL_SEED, EVAL_EPISODES, ENVS = 10_000, 10, 4


# -- one run (in a worker process) ------------------------------------------------------------
def _ours(agent: str, task: str, seed: int, steps: int, out: Path,
          overrides: Dict[str, Any]) -> Dict[str, Any]:
    import csv
    from lnn_control.train import ppo
    from lnn_control.train.config import config_from_dict
    kind, kwargs, critic = OURS[agent]
    env_id, perturb = TASKS[task]
    section: Dict[str, Any] = {'total_steps': steps, 'envs': ENVS, **overrides}
    if critic is not None:
        section['critic'] = critic
    cfg = config_from_dict({
        'name': f'{agent}_s{seed}', 'method': 'ppo',
        'env': {'id': env_id, 'perturb': perturb},
        'model': {'kind': kind, 'kwargs': kwargs}, 'ppo': section,
        'eval': {'test_episodes': EVAL_EPISODES, 'test_seed': EVAL_SEED},
        'seed': seed, 'threads': 1})
    folder = out / task / f'{agent}_s{seed}'
    ppo.train(cfg, out=folder, progress=False)
    summary = json.loads((folder / 'summary.json').read_text())
    with open(folder / 'log.csv') as handle:
        curve = [(int(r['env_steps']), float(r['episode_return']))
                 for r in csv.DictReader(handle) if r['episode_return']]
    test = summary['test']['policy']
    return {'return': test['mean_return'], 'return_std': test['std_return'],
            'wall': summary['train_seconds'], 'parameters': summary['parameters'],
            'critic_parameters': summary['critic_parameters'], 'curve': curve}


def _anchor(agent: str, task: str, seed: int, steps: int) -> Dict[str, Any]:
    import torch
    torch.set_num_threads(1)
    from lnn_control.envs.make import make_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv
    from stable_baselines3.common.vec_env import VecNormalize
    env_id, perturb = TASKS[task]
    venv = VecNormalize(DummyVecEnv([lambda: Monitor(make_env(env_id, perturb=perturb))
                                     for _ in range(ENVS)]))
    venv.seed(seed)
    if agent == 'sb3_ppo':
        model = PPO('MlpPolicy', venv, seed=seed, device='cpu')
    elif agent == 'sb3_ppo_matched':
        # SB3's PPO on our PPOConfig defaults (2048 steps per update in 8 minibatches, lr 1e-3
        # annealed to 0, initial log-std -1): separates the implementation from the schedule.
        model = PPO('MlpPolicy', venv, seed=seed, device='cpu', n_steps=512, batch_size=256,
                    learning_rate=lambda remaining: 1e-3 * remaining,
                    policy_kwargs={'log_std_init': -1.0})
    else:
        from sb3_contrib import RecurrentPPO
        model = RecurrentPPO('MlpLstmPolicy', venv, seed=seed, device='cpu',
                             policy_kwargs={'lstm_hidden_size': 64, 'net_arch': [64]})
    curve: List[Any] = []

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            recent = [e['r'] for e in list(self.model.ep_info_buffer)[-20:]]
            if recent:
                curve.append((self.num_timesteps, float(np.mean(recent))))

    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=Curve())
    wall = time.perf_counter() - start
    venv.training, venv.norm_reward = False, False
    returns = []
    for episode in range(EVAL_EPISODES):
        env = make_env(env_id, perturb=perturb)
        obs, _ = env.reset(seed=EVAL_SEED + episode)
        state, first, total, done = None, np.ones(1, bool), 0.0, False
        while not done:
            action, state = model.predict(venv.normalize_obs(obs[None]), state=state,
                                          episode_start=first, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action[0])
            total, first, done = total + reward, np.zeros(1, bool), terminated or truncated
        returns.append(total)
        env.close()
    total = sum(p.numel() for p in model.policy.parameters())
    actor = sum(p.numel() for n, p in model.policy.named_parameters()
                if not n.startswith(('mlp_extractor.value_net', 'value_net', 'lstm_critic')))
    return {'return': float(np.mean(returns)), 'return_std': float(np.std(returns)),
            'wall': wall, 'parameters': actor, 'critic_parameters': total - actor,
            'curve': curve}


def run(agent: str, task: str, seed: int, steps: int, out: str,
        overrides: Dict[str, Any]) -> Dict[str, Any]:
    """Train and score one (agent, task, seed); cache the result as JSON in ``out``."""
    import logging
    logging.basicConfig(level=logging.WARNING)
    result = (_anchor(agent, task, seed, steps) if agent in ANCHORS
              else _ours(agent, task, seed, steps, Path(out), overrides))
    result.update(agent=agent, task=task, seed=seed, steps=steps,
                  steps_per_second=steps / result['wall'])
    path = Path(out) / task / f'{agent}_s{seed}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


# -- the table and the curves ---------------------------------------------------------------
def _table(results: List[Dict[str, Any]], tasks: List[str], agents: List[str]) -> str:
    lines = ['| agent | obs | return (mean +- std over seeds) | seeds | wall (median) | '
             'steps/s (median) | actor parameters | actor + critic |',
             '|---|---|---:|---:|---:|---:|---:|---:|']
    for task in tasks:
        for agent in agents:
            rows = [r for r in results if r['task'] == task and r['agent'] == agent]
            if not rows:
                continue
            scores = [r['return'] for r in rows]
            spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
            lines.append(
                f'| {LABELS[agent]} | {task} | {statistics.mean(scores):.0f} +- {spread:.0f} | '
                f'{len(rows)} | {statistics.median(r["wall"] for r in rows):.0f} s | '
                f'{statistics.median(r["steps_per_second"] for r in rows):.0f} | '
                f'{rows[0]["parameters"]:,} | '
                f'{rows[0]["parameters"] + rows[0]["critic_parameters"]:,} |')
    return '\n'.join(lines)


def _curves(results: List[Dict[str, Any]], task: str, out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    grid = np.linspace(0, max(r['steps'] for r in results), 50)
    drawn = 0
    for agent in dict.fromkeys(r['agent'] for r in results if r['task'] == task):
        curves = [np.interp(grid, *np.array(r['curve']).T) for r in results
                  if r['task'] == task and r['agent'] == agent and len(r['curve']) > 1]
        if curves:
            ax.plot(grid, np.mean(curves, 0), label=LABELS[agent])
            drawn += 1
    if not drawn:
        plt.close(fig)
        return
    ax.set_xlabel('environment steps')
    ax.set_ylabel('training episode return (last 20)')
    ax.set_title(f'HalfCheetah-v5, {task}')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f'curves_{task}.png', dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=200_000)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--tasks', nargs='+', default=list(TASKS), choices=list(TASKS))
    parser.add_argument('--agents', nargs='+', default=[*ANCHORS, 'cfc_ncp', 'ltc_ncp', 'gru',
                                                        'lstm', 'mlp'],
                        choices=[*ANCHORS, *OURS])
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--out', default='runs/bench_rl')
    parser.add_argument('--ppo', nargs='*', default=[], metavar='KEY=VALUE',
                        help='overrides of our ppo: section (YAML values)')
    parser.add_argument('--fresh', action='store_true', help='ignore cached results')
    parser.add_argument('--curves', default='', metavar='DIR',
                        help='also copy the curves to DIR as rl_<task>.png')
    parser.add_argument('--report', action='store_true',
                        help='run nothing: the table and curves of the cached results only')
    parser.add_argument('--smoke', action='store_true',
                        help='4k steps, seed 0, the positions task: checks the bench runs')
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.seeds, args.tasks = 4096, [0], ['positions']
        args.out = args.out if args.out != 'runs/bench_rl' else 'runs/bench_rl_smoke'
    import yaml
    overrides = {k: yaml.safe_load(v) for k, v in (o.split('=', 1) for o in args.ppo)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, todo = [], []
    # Seed-major order: every agent's runs spread over the whole bench, so a change in the
    # machine's load does not fall on one agent.
    for seed in args.seeds:
        for task in args.tasks:
            for agent in args.agents:
                cached = out / task / f'{agent}_s{seed}.json'
                if cached.is_file() and not args.fresh:
                    result = json.loads(cached.read_text())
                    if result['steps'] == args.steps:
                        results.append(result)
                        continue
                if not args.report:
                    todo.append((agent, task, seed))
    print(f'{len(results)} cached, {len(todo)} to run ({args.jobs} at a time)', flush=True)
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {pool.submit(run, a, t, s, args.steps, str(out), overrides): (a, t, s)
                   for a, t, s in todo}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            print(f'{result["task"]:10s} {result["agent"]:22s} seed {result["seed"]}: '
                  f'return {result["return"]:8.1f}  {result["wall"]:6.0f} s  '
                  f'{result["steps_per_second"]:6.0f} steps/s', flush=True)
    table = _table(results, args.tasks, args.agents)
    print(f'\n{common.machine()}; {args.steps} env steps, {ENVS} envs, seeds {args.seeds}\n')
    print(table)
    (out / 'table.md').write_text(table + '\n')
    for task in args.tasks:
        _curves(results, task, out)
    if args.curves:
        for task in args.tasks:
            if (out / f'curves_{task}.png').is_file():
                Path(args.curves).mkdir(parents=True, exist_ok=True)
                shutil.copy(out / f'curves_{task}.png', Path(args.curves) / f'rl_{task}.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
