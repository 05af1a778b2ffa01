# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The one imitation pipeline on tasks the project wrote no expert for, and its plumbing.

Reacher-v5 trains from a config alone, its PD expert a file next to the config; it trains
from recorded demonstrations with no expert at all; a run that needs an expert it cannot find
says so and names both ways out; every shipped config builds its env and model; the progress
bar's estimate covers every phase; provenance holds no absolute path of the machine.
"""

import logging
from pathlib import Path
import shutil

from lnn_control.cli import main
from lnn_control.envs.make import make_env
from lnn_control.models.policy import command_line
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.sequences import save_dataset
from lnn_control.runtime.sequences import Sequences
from lnn_control.train.config import ConfigError
from lnn_control.train.config import load_config
from lnn_control.train.imitation import AUGMENTATIONS
from lnn_control.train.imitation import demonstration
from lnn_control.train.imitation import train
from lnn_control.train.policy_io import build_model
from lnn_control.train.progress import Progress
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / 'config' / 'train' / 'examples'
TINY = {'bc': {'demo_episodes': 3, 'steps': 30, 'batch_size': 8, 'seq_len': 10, 'burn_in': 2},
        'dagger': {'rounds': 1, 'episodes': 2, 'steps': 10},
        'eval': {'episodes': 2, 'test_episodes': 2}}


def _reacher_config(folder, **changes):
    """Copy the Reacher example (config + its expert file) into ``folder``, shrunk."""
    shutil.copy(EXAMPLES / 'reacher_expert.py', folder / 'reacher_expert.py')
    data = yaml.safe_load((EXAMPLES / 'reacher_cfc.yaml').read_text())
    for section, values in {**TINY, **changes}.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    path = folder / 'reacher.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_new_task_trains_with_the_expert_its_config_names(tmp_path):
    config = _reacher_config(tmp_path)
    out = tmp_path / 'run'
    assert main(['train', str(config), '--out', str(out), '--no-progress']) == 0
    policy = load_policy(str(out / 'reacher_cfc.safetensors'))
    spec = policy.spec
    assert (spec.obs.size, spec.action.size) == (10, 2) and spec.kind == 'cfc'
    provenance = spec.provenance
    assert provenance['config']['expert']['kind'] == 'reacher_expert.py:ReacherPD'
    assert set(provenance['test']) == {'policy', 'expert'}
    assert provenance['data']['episodes'] == 3 + 2
    assert provenance['command'].startswith('lnn-control train ')
    # module:Class names an expert too (here one the package ships).
    cfg = load_config(ROOT / 'config' / 'train' / 'pendulum_cfc.yaml', [
        'expert.kind=lnn_control.envs.experts:InvertedPendulumLQR', 'bc.demo_episodes=1',
        'bc.steps=5', 'dagger.rounds=0', 'eval.episodes=1', 'eval.test_episodes=1'])
    path = train(cfg, out=tmp_path / 'pendulum', progress=False)
    assert load_policy(str(path)).spec.provenance['test']['expert']['score'] > 900


def test_demonstrations_alone_need_no_expert(tmp_path):
    import sys
    sys.path.insert(0, str(EXAMPLES))
    try:
        from reacher_expert import ReacherPD
    finally:
        sys.path.remove(str(EXAMPLES))
    env = make_env('Reacher-v5')
    store = Sequences.empty((10,), 2, meta={'source': 'a scripted demonstrator'})
    for seed in range(4):
        traj = demonstration(env, ReacherPD(), seed, np.random.default_rng(seed))
        store.add(traj.obs, traj.dt, traj.extras['label'], bool(traj.success or True))
    dataset = save_dataset(store, tmp_path / 'reacher_demos.npz')
    data = yaml.safe_load((EXAMPLES / 'reacher_cfc.yaml').read_text())
    del data['expert']
    config = tmp_path / 'reacher.yaml'
    config.write_text(yaml.safe_dump(data))
    # Without an expert and with DAgger rounds, the error says what is missing and the ways out.
    with pytest.raises(ConfigError) as error:
        train(load_config(config), out=tmp_path / 'no', progress=False)
    message = str(error.value)
    assert "no expert for 'Reacher-v5'" in message
    assert 'expert: {kind: module:Class or file.py:Class}' in message
    assert 'bc.dataset' in message and 'dagger.rounds: 0' in message
    # Demonstrations alone: the data set and no DAgger rounds, from the command line.
    out = tmp_path / 'run'
    assert main(['train', str(config), '--out', str(out), '--no-progress',
                 '--set', f'bc.dataset={dataset}', '--set', 'dagger.rounds=0',
                 '--set', 'bc.steps=40', '--set', 'eval.episodes=2',
                 '--set', 'eval.test_episodes=2']) == 0
    spec = load_policy(str(out / 'reacher_cfc.safetensors')).spec
    assert set(spec.provenance['test']) == {'policy'}      # no expert to compare with
    assert spec.provenance['data']['episodes'] == 4


def test_an_expert_that_cannot_be_found_is_named(tmp_path):
    config = _reacher_config(tmp_path, expert={'kind': 'missing_file.py:Expert'})
    with pytest.raises(ConfigError, match="expert 'missing_file.py:Expert' cannot be loaded"):
        train(load_config(config), out=tmp_path / 'run', progress=False,
              base_dir=str(tmp_path))
    with pytest.raises(ConfigError, match='unknown expert .*registry name'):
        train(load_config(config, ['expert.kind=planner']), out=tmp_path / 'run2',
              progress=False)


def test_loud_action_noise_warns(tmp_path, caplog):
    bc = {**TINY['bc'], 'action_noise': [1.5, 0.1], 'steps': 2}
    config = _reacher_config(tmp_path, bc=bc, dagger={'rounds': 0},
                             eval={'episodes': 1, 'test_episodes': 0})
    with caplog.at_level(logging.WARNING):
        train(load_config(config), out=tmp_path / 'run', progress=False,
              base_dir=str(tmp_path))
    assert any('bc.action_noise [1.5, 0.1] is more than 50%' in r.message for r in caplog.records)


@pytest.mark.parametrize('path', sorted((ROOT / 'config' / 'train').rglob('*.yaml')),
                         ids=lambda p: p.stem)
def test_every_shipped_config_builds_its_env_and_model(path):
    cfg = load_config(path)
    env = make_env(cfg.env.id, **cfg.env.kwargs)
    try:
        model = build_model(cfg.model.kind, dict(cfg.model.kwargs), env.observation_space.shape,
                            int(np.prod(env.action_space.shape)))
    finally:
        env.close()
    assert model.output_size == int(np.prod(env.action_space.shape))


def test_progress_estimates_every_phase():
    progress = Progress({'episode': 10, 'grad_step': 1000}, enabled=False)
    # Measured: an episode takes as long as 100 gradient steps.
    progress.seconds.update(episode=1.0, grad_step=1.0)
    progress.measured.update(episode=1.0, grad_step=100.0)
    progress.count.update(episode=10, grad_step=0)
    assert progress.fraction() == pytest.approx(0.5)       # the episodes were half the run
    progress.count.update(grad_step=500)
    assert progress.fraction() == pytest.approx(0.75)


def test_provenance_command_has_no_machine_paths():
    root = str(ROOT)
    line = command_line([f'{root}/lnn_control/cli.py', 'train',
                         f'{root}/config/train/pibot_nav_cfc.yaml', '--out', '/data/runs/x',
                         '--set', f'bc.dataset={Path.home()}/bags/demo.npz'])
    assert line == ('lnn-control train config/train/pibot_nav_cfc.yaml --out /data/runs/x '
                    '--set bc.dataset=~/bags/demo.npz')


def _camera_batch(augment, seed=0):
    """One augmented batch of a camera data path: (frames before, frames after)."""
    import gymnasium
    from lnn_control.train.config import config_from_dict
    from lnn_control.train.imitation import DataPath
    cfg = config_from_dict({'name': 'cam', 'env': {'id': 'lnn_control/PiBotLane-v0'},
                            'model': {'kind': 'conv', 'kwargs': {'head': 'mlp'}},
                            'bc': {'augment': augment}})
    space = gymnasium.spaces.Box(0, 255, (12, 16, 3), np.uint8)
    path = DataPath(space, cfg)
    data = path.store(2)
    rng = np.random.default_rng(seed)
    frames = np.tile(np.linspace(40, 200, 16).astype(np.uint8)[None, None, :, None],
                     (20, 12, 1, 3))
    data.add(frames, np.full(20, 1 / 30), rng.normal(size=(20, 2)))
    idx = np.arange(20).reshape(4, 5)
    norm = {'obs_mean': [0.0], 'obs_std': [1.0], 'action_mean': [0.0, 0.0],
            'action_std': [1.0, 1.0]}
    x, target = path.batch(data, idx, norm, np.random.default_rng(seed))
    np.testing.assert_allclose(target, data.act[idx])        # labels are never augmented
    return frames[idx].astype(np.float32), x.reshape(4, 5, 12, 16, 3)


def test_camera_augmentations_colour_shift_cutout():
    before, after = _camera_batch({})
    np.testing.assert_array_equal(after, before)
    _, colour = _camera_batch({'colour': 0.3})
    ratio = colour[:, 0, 5, 8] / before[:, 0, 5, 8]          # (chunks, channels)
    assert np.ptp(ratio, axis=0).max() > 0.02                # differs between chunks ...
    np.testing.assert_allclose(colour[:, 0], colour[:, -1])  # ... the same along a chunk
    _, shifted = _camera_batch({'shift': 3})
    np.testing.assert_array_equal(shifted, before)          # columns differ, rows do not
    rows = np.repeat(np.linspace(40, 200, 12)[:, None], 16, axis=1)
    x = np.tile(rows[None, None, :, :, None], (4, 5, 1, 1, 3)).astype(np.float32)
    AUGMENTATIONS['shift'](x, 3, np.random.default_rng(1))
    moved = [int(np.argmin(np.abs(x[b, 0, :, 0, 0] - rows[6, 0]))) - 6 for b in range(4)]
    assert any(m != 0 for m in moved) and all(abs(m) <= 3 for m in moved)
    np.testing.assert_array_equal(x[:, 0], x[:, -1])        # the same along a chunk
    _, cut = _camera_batch({'cutout': 0.5})
    columns = (np.diff(cut[..., 0], axis=-1) == 0).sum(-1).sum(-1)   # flat runs: squares
    assert (columns > 0).mean() > 0.5 and not np.array_equal(cut[:, 0], cut[:, 1])
    from lnn_control.train.config import ConfigError
    from lnn_control.train.config import config_from_dict
    with pytest.raises(ConfigError, match='bc.augment'):
        config_from_dict({'name': 'cam', 'env': {'id': 'lnn_control/PiBotLane-v0'},
                          'bc': {'augment': {'hue': 0.1}}})


@pytest.fixture
def one_torch_thread():
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)      # tiny models: more threads only contend
    yield
    torch.set_num_threads(threads)


def test_feature_penalty_brings_a_saturated_camera_encoder_back(one_torch_thread):
    """bc.feature_penalty pulls tanh features out of saturation, where the encoder is dead."""
    import copy
    import gymnasium
    from lnn_control.models.conv import build_conv_policy
    from lnn_control.train.config import config_from_dict
    from lnn_control.train.imitation import DataPath
    from lnn_control.train.imitation import fit
    import torch
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    space = gymnasium.spaces.Box(0, 255, (12, 16, 3), np.uint8)
    frames = rng.integers(0, 256, (40, 12, 16, 3)).astype(np.uint8)
    norm = {'obs_mean': [0.0], 'obs_std': [1.0], 'action_mean': [0.0, 0.0],
            'action_std': [1.0, 1.0]}
    saturated = build_conv_policy((12, 16, 3), 'cfc', features=8, units=12)
    with torch.no_grad():
        saturated.project.weight.mul_(300.0)     # |a| in the tens: every feature +-1
    flat = torch.from_numpy(frames.reshape(40, -1).astype(np.float32))

    def dead_fraction(model):
        with torch.no_grad():
            return float((model.project(_encoded(model, flat)).abs() > 2.0).float().mean())

    def trained(penalty):
        cfg = config_from_dict({
            'name': 'cam', 'env': {'id': 'lnn_control/PiBotLane-v0'},
            'model': {'kind': 'conv', 'kwargs': {'head': 'cfc'}},
            'bc': {'feature_penalty': penalty, 'batch_size': 4, 'seq_len': 5, 'burn_in': 0,
                   'lr': 3e-3, 'lr_final': 3e-3, 'steps': 60}})
        path = DataPath(space, cfg)
        data = path.store(2)
        data.add(frames, np.full(40, 1 / 30), rng.normal(size=(40, 2)) * 0.3)
        model = copy.deepcopy(saturated)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        fit(model, optimizer, data, path, norm, 60, cfg, np.random.default_rng(1),
            Progress({'grad_step': 60}, enabled=False), 0)
        return model

    start = dead_fraction(saturated)
    alone, penalised = dead_fraction(trained(0.0)), dead_fraction(trained(1e-2))
    assert start > 0.8 and alone > 0.7 * start, (start, alone)   # imitation alone: still dead
    assert penalised < 0.5 * alone, (alone, penalised)            # the penalty: back in range
    with torch.no_grad():
        saturated(flat[None, :3])
    with pytest.raises(RuntimeError, match='autograd'):
        saturated.saturation()                             # nothing measured without autograd


def _encoded(model, flat):
    """Return the encoder's last conv output, flattened (what the projection reads)."""
    import torch
    height, width, depth = model.image
    z = flat.reshape(-1, height, width, depth).permute(0, 3, 1, 2) / 255.0 - 0.5
    for conv in model.encoder:
        z = torch.relu(conv(z))
    return z.flatten(1)
