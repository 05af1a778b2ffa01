# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""PPO (lnn_control.train.ppo): its maths on crafted numbers, exact replay, resume, learning."""

import math
from pathlib import Path

from lnn_control.cli import main
from lnn_control.envs.make import make_env
from lnn_control.runtime.policy import load_policy
from lnn_control.train import ppo
from lnn_control.train.config import config_from_dict
from lnn_control.train.config import ConfigError
from lnn_control.train.config import load_config
from lnn_control.train.evaluate import evaluate
import numpy as np
import pytest
from safetensors.numpy import load_file
import torch

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    'name': 'tiny_ppo',
    'method': 'ppo',
    'env': {'id': 'InvertedPendulum-v5', 'perturb': 'jitter=0.3'},
    'model': {'kind': 'cfc', 'kwargs': {'units': {'kind': 'auto_ncp', 'units': 8,
                                                  'output_size': 1, 'seed': 1}}},
    'ppo': {'total_steps': 256, 'envs': 2, 'rollout_steps': 32, 'chunk_len': 8,
            'epochs': 2, 'minibatches': 2, 'checkpoint_every': 1},
    'eval': {'test_episodes': 1},
}


def tiny(**changes):
    """Return the tiny config with ``section.key`` changes."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}
    for key, value in changes.items():
        section, _, field = key.partition('.')
        if field:
            data[section] = {**data.get(section, {}), field: value}
        else:
            data[section] = value
    return config_from_dict(data)


# -- the maths on crafted numbers -------------------------------------------------------------
def test_gae_matches_a_hand_computation():
    rewards = np.array([[1.0], [2.0], [3.0]])
    values = np.array([[0.5], [1.0], [1.5]])
    dones = np.array([[False], [True], [False]])        # the episode ends after step 1
    adv, ret = ppo.gae(rewards, values, dones, np.array([2.0]), gamma=0.9, lam=0.8)
    # t=2: 3 + 0.9*2.0 - 1.5 = 3.3 (bootstrapped from the last value)
    # t=1: 2 - 1.0 = 1.0 (terminal: no value and no advantage flows back across it)
    # t=0: (1 + 0.9*1.0 - 0.5) + 0.9*0.8*1.0 = 2.12
    np.testing.assert_allclose(adv[:, 0], [2.12, 1.0, 3.3])
    np.testing.assert_allclose(ret[:, 0], [2.62, 2.0, 4.8])
    # lambda = 1 is the discounted return minus the value; lambda = 0 the one-step TD error.
    adv1, _ = ppo.gae(rewards, values, np.zeros_like(dones), np.array([2.0]), 0.9, 1.0)
    assert adv1[0, 0] == pytest.approx(1 + 0.9 * 2 + 0.81 * 3 + 0.729 * 2.0 - 0.5)
    adv0, _ = ppo.gae(rewards, values, np.zeros_like(dones), np.array([2.0]), 0.9, 0.0)
    np.testing.assert_allclose(adv0[:, 0], [1 + 0.9 - 0.5, 2 + 1.35 - 1.0, 3 + 1.8 - 1.5])


def test_clipped_surrogate_on_crafted_numbers():
    logp_old = torch.zeros(3)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1])).requires_grad_()
    adv = torch.tensor([1.0, 1.0, -1.0])
    loss, clipped, kl = ppo.policy_loss(logp, logp_old, adv, clip=0.2)
    # ratio 1.5, A>0: clipped at 1.2; ratio 0.5, A>0: the pessimistic unclipped 0.5;
    # ratio 1.1, A<0: inside the range.
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.1) / 3)
    assert clipped.item() == pytest.approx(2 / 3)
    assert kl.item() == pytest.approx(np.mean([0.5 - math.log(1.5), -0.5 - math.log(0.5),
                                               0.1 - math.log(1.1)]), rel=1e-5)
    loss.backward()
    # The clipped sample gets no gradient; the others d(-A r)/d(log r) = -A r / 3.
    np.testing.assert_allclose(logp.grad.numpy(), [0.0, -0.5 / 3, 1.1 / 3], rtol=1e-5)


def test_value_loss_clipping_on_crafted_numbers():
    values = torch.tensor([1.0, 3.0])
    old = torch.tensor([2.0, 2.0])
    returns = torch.zeros(2)
    assert ppo.value_loss(values, old, returns, 0.0).item() == pytest.approx(0.5 * (1 + 9) / 2)
    # Clipped to old +- 0.5: 1.5 and 2.5; the larger error of each pair counts: 2.25 and 9.
    assert ppo.value_loss(values, old, returns, 0.5).item() == pytest.approx(0.5 * 11.25 / 2)


def test_running_mean_std_equals_the_batch_statistics():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    rms = ppo.RunningMeanStd((3,))
    for part in np.array_split(data, 7):
        rms.update(part)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-3)


def test_chunks_cut_at_episode_starts_and_burn_in_stays_inside_the_episode():
    starts = np.zeros((10, 2), bool)
    starts[0] = True
    starts[6, 0] = True
    assert ppo.chunks(starts, 4, burn_in=2) == [
        (0, 0, 4, 0), (0, 4, 2, 2), (0, 6, 4, 0),      # env 0: an episode starts at step 6
        (1, 0, 4, 0), (1, 4, 4, 2), (1, 8, 2, 2)]
    assert ppo.chunks(starts, 4) == [(0, 0, 4, 0), (0, 4, 2, 0), (0, 6, 4, 0),
                                     (1, 0, 4, 0), (1, 4, 4, 0), (1, 8, 2, 0)]


# -- replay and resume ----------------------------------------------------------------------
ACTORS = {
    'cfc_ncp': ('cfc', {'units': {'kind': 'auto_ncp', 'units': 8, 'output_size': 1, 'seed': 1}}),
    'cfc_full': ('cfc', {'units': 6, 'proj_size': 1}),
    'ltc_ncp': ('ltc', {'units': {'kind': 'auto_ncp', 'units': 8, 'output_size': 1, 'seed': 1}}),
    'gru': ('gru', {'hidden_size': 8}),
    'lstm': ('lstm', {'hidden_size': 8}),
    'mlp': ('mlp', {'hidden_sizes': [16]}),
}


@pytest.mark.parametrize('critic', ['mlp', 'gru'])
@pytest.mark.parametrize('actor', sorted(ACTORS))
def test_chunked_replay_reproduces_the_rollout(actor, critic):
    kind, kwargs = ACTORS[actor]
    critic_cfg = ({'kind': 'mlp', 'kwargs': {'hidden_sizes': [16]}} if critic == 'mlp'
                  else {'kind': 'gru', 'kwargs': {'hidden_size': 6}})
    cfg = tiny(**{'model': {'kind': kind, 'kwargs': kwargs}, 'ppo.critic': critic_cfg})
    torch.manual_seed(0)
    env = make_env(cfg.env.id, perturb=cfg.env.perturb)
    agent = ppo.make_agent(cfg, env)
    env.close()
    runner = ppo.Runner(cfg, agent)
    runner.start()
    ppo.collect(runner, 20)                       # mid-episode states at the next rollout
    roll = ppo.collect(runner, 48)
    runner.venv.close()
    # The rollout is a real test case: irregular dt, episodes starting inside it, and chunks
    # that start mid-episode from a state that is not the zero state.
    assert roll.dt.std() > 0.002 and roll.starts[1:].any()
    mid = [(t, e) for e, t, _, _ in ppo.chunks(roll.starts, 8) if not roll.starts[t, e]]
    assert mid and (kind == 'mlp' or max(np.abs(roll.h_actor[t, e]).max() for t, e in mid) > 0)
    adv = np.zeros_like(roll.values, dtype=np.float64)
    for burn_in in (0, 5):
        items = ppo.chunks(roll.starts, 8, burn_in)
        mb = ppo.batch(roll, items, adv, adv)
        with torch.no_grad():
            logp, values = ppo.replay(agent, mb)
        m = mb['mask']
        assert int(m.sum()) == roll.values.size          # every step in exactly one chunk
        np.testing.assert_allclose(logp[m].numpy(), mb['logp'][m].numpy(), atol=2e-5)
        np.testing.assert_allclose(values[m].numpy(), mb['values'][m].numpy(), atol=2e-5)
    # Replaying from a wrong state (zeros at every chunk start) does not reproduce it: the
    # check above could fail.
    if kind != 'mlp':
        mb = ppo.batch(roll, ppo.chunks(roll.starts, 8), adv, adv)
        mb['h_actor'] = torch.zeros_like(mb['h_actor'])
        with torch.no_grad():
            logp, _ = ppo.replay(agent, mb)
        assert np.abs(logp[mb['mask']].numpy() - mb['logp'][mb['mask']].numpy()).max() > 1e-3


def _rows(out):
    import csv
    with open(out / 'log.csv') as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ('wall_seconds', 'steps_per_second', 'collect_seconds', 'update_seconds'):
            row.pop(key)
    return rows


def test_resume_after_an_interruption_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    cfg = tiny()
    whole = ppo.train(cfg, out=tmp_path / 'whole', progress=False)

    real_update, calls = ppo.update, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:                           # during update 3, after checkpoint 2
            raise KeyboardInterrupt
        return real_update(*args, **kwargs)

    monkeypatch.setattr(ppo, 'update', interrupted)
    with pytest.raises(KeyboardInterrupt):
        ppo.train(cfg, out=tmp_path / 'split', progress=False)
    monkeypatch.setattr(ppo, 'update', real_update)
    with pytest.raises(ConfigError, match='--resume'):
        ppo.train(cfg, out=tmp_path / 'split', progress=False)
    split = ppo.train(cfg, out=tmp_path / 'split', resume=True, progress=False)

    assert _rows(tmp_path / 'whole') == _rows(tmp_path / 'split')
    a, b = load_file(str(whole)), load_file(str(split))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert int(_rows(tmp_path / 'whole')[-1]['episodes']) > 10   # restarts were replayed
    # A changed config is refused on resume.
    with pytest.raises(ConfigError, match='ppo.lr'):
        ppo.train(tiny(**{'ppo.lr': 0.01}), out=tmp_path / 'split', resume=True,
                  progress=False)


def test_seeded_runs_repeat_and_async_envs_give_the_sync_run(tmp_path):
    cfg = tiny(**{'ppo.total_steps': 128})
    first = load_file(str(ppo.train(cfg, out=tmp_path / 'a', progress=False)))
    again = load_file(str(ppo.train(tiny(**{'ppo.total_steps': 128, 'ppo.vector': 'async'}),
                                    out=tmp_path / 'b', progress=False)))
    other = load_file(str(ppo.train(tiny(**{'ppo.total_steps': 128, 'seed': 1}),
                                    out=tmp_path / 'c', progress=False)))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)
    assert any(not np.array_equal(first[k], other[k]) for k in first)


# -- the policy file and the CLI ------------------------------------------------------------
def test_cli_trains_an_ordinary_policy_file(tmp_path):
    import yaml
    config = tmp_path / 'tiny.yaml'
    config.write_text(yaml.safe_dump({**TINY, 'env': {'id': 'InvertedPendulum-v5'}}))
    assert main(['train', str(config), '--out', str(tmp_path / 'run'), '--no-progress']) == 0
    out = tmp_path / 'run'
    for name in ('tiny_ppo.safetensors', 'log.csv', 'learning_curve.png', 'config.yaml',
                 'summary.json'):
        assert (out / name).is_file(), name
    assert list((out / 'tensorboard').glob('events.out.tfevents.*'))
    policy = load_policy(str(out / 'tiny_ppo.safetensors'))
    spec = policy.spec
    assert spec.provenance['method'].startswith('ppo') and 'policy' in spec.provenance['test']
    assert spec.obs_mean is not None and len(spec.obs_mean) == 4   # the frozen normaliser
    # The numpy runtime is the trained actor: same actions as the torch model's mean.
    env = make_env('InvertedPendulum-v5')
    obs, info = env.reset(seed=3)
    action = policy.step(np.asarray(obs, np.float32), info.get('dt', 0.04))
    assert action.shape == (1,) and np.isfinite(action).all()
    assert -3.0 <= action[0] <= 3.0
    env.close()
    result = evaluate(str(out / 'tiny_ppo.safetensors'), 'InvertedPendulum-v5', episodes=1,
                      seed=10_000)
    assert result['episodes'] == 1
    # The other commands take it like any policy: eval (env from its provenance), inspect,
    # ONNX export checked against the numpy runtime.
    policy_file = str(out / 'tiny_ppo.safetensors')
    assert main(['eval', policy_file, '--episodes', '1']) == 0
    assert main(['inspect', policy_file, '--out', str(tmp_path / 'why'), '--episodes', '1']) == 0
    assert (tmp_path / 'why' / 'index.html').is_file()
    assert main(['export', policy_file, '--onnx', str(tmp_path / 'p.onnx')]) == 0


def test_refuses_tasks_it_cannot_train(tmp_path):
    with pytest.raises(ConfigError, match='vector observations'):
        ppo.train(tiny(**{'env': {'id': 'lnn_control/PiBotLane-v0'}}), out=tmp_path / 'x',
                  progress=False)
    with pytest.raises(ConfigError, match='ppo.chunk_len'):
        tiny(**{'ppo.chunk_len': 64})


PPO_CONFIGS = sorted(p for p in (ROOT / 'config' / 'train').glob('*.yaml')
                     if load_config(p).method == 'ppo')


@pytest.mark.parametrize('path', PPO_CONFIGS, ids=[p.stem for p in PPO_CONFIGS])
def test_every_shipped_ppo_config_trains(path, tmp_path):
    # Each shipped config's env, perturbation, actor and critic as written, on a tiny budget:
    # one update, a policy file whose spaces are its env's.
    data = load_config(path).to_dict()
    data['ppo'].update(total_steps=64, envs=2, rollout_steps=32, chunk_len=8, burn_in=0,
                       minibatches=2, epochs=1)
    data['eval'].update(test_episodes=1)
    cfg = config_from_dict(data)
    policy = load_policy(str(ppo.train(cfg, out=tmp_path / 'run', progress=False)))
    env = make_env(cfg.env.id, perturb=cfg.env.perturb)
    assert policy.spec.obs.size == env.observation_space.shape[0]
    assert policy.spec.action.size == env.action_space.shape[0]
    env.close()


# -- learning -------------------------------------------------------------------------------
@pytest.mark.slow
def test_shipped_pendulum_config_learns_to_balance(tmp_path):
    # config/train/ppo_pendulum_cfc.yaml: from scratch to the maximum return of 1000 on
    # held-out seeds within its 60k-step budget (about two minutes here).
    cfg = load_config(ROOT / 'config' / 'train' / 'ppo_pendulum_cfc.yaml')
    path = ppo.train(cfg, out=tmp_path / 'run', progress=False)
    result = evaluate(str(path), 'InvertedPendulum-v5', episodes=10, seed=20_000)
    assert result['mean_return'] == pytest.approx(1000.0)


def test_log_prob_and_entropy_are_the_gaussian_ones():
    cfg = tiny()
    env = make_env(cfg.env.id)
    agent = ppo.make_agent(cfg, env)
    env.close()
    with torch.no_grad():
        agent.log_std.fill_(-0.7)
    mean, u = torch.randn(5, 1), torch.randn(5, 1)
    normal = torch.distributions.Normal(mean, torch.full_like(mean, math.exp(-0.7)))
    np.testing.assert_allclose(agent.log_prob(mean, u).detach().numpy(),
                               normal.log_prob(u).sum(-1).numpy(), rtol=1e-5)
    assert agent.entropy().item() == pytest.approx(normal.entropy()[0, 0].item(), rel=1e-5)
