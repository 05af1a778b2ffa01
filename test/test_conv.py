# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera policies: torch ConvPolicy vs the numpy runtime ConvCell, configs, training (issue 8)."""

from pathlib import Path

from lnn_control.models import load_model
from lnn_control.models import MODELS
from lnn_control.models import save_policy
from lnn_control.models.conv import build_conv_policy
from lnn_control.models.conv import ConvPolicy
from lnn_control.runtime import CELLS
from lnn_control.runtime import load_policy
from lnn_control.runtime import PolicyFormatError
from lnn_control.runtime.conv import conv2d
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.runtime.policy import write_policy_file
import numpy as np
import pytest
import torch

IMAGE = (24, 32, 3)


def _frames(rng, steps, extra=0):
    pixels = rng.integers(0, 256, (steps, IMAGE[0] * IMAGE[1] * IMAGE[2])).astype(np.float32)
    return np.concatenate([pixels, rng.uniform(-0.2, 0.2, (steps, extra)).astype(np.float32)],
                          axis=1)


def test_registered_on_both_sides():
    assert MODELS['conv'] is ConvPolicy
    assert 'conv' in CELLS


@pytest.mark.parametrize('kernel,stride,height,width', [(5, 2, 24, 32), (3, 1, 7, 9),
                                                        (3, 2, 5, 8), (1, 1, 4, 4)])
def test_conv2d_matches_torch(kernel, stride, height, width):
    rng = np.random.default_rng(kernel * 10 + stride)
    x = rng.normal(size=(3, height, width)).astype(np.float32)
    w = rng.normal(size=(4, 3, kernel, kernel)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w),
                                          torch.from_numpy(b), stride=stride,
                                          padding=kernel // 2)[0].numpy()
    got = conv2d(x, w, b, stride)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize('head', ['cfc', 'ltc', 'lstm', 'mlp'])
def test_runtime_matches_torch_step_by_step(head, tmp_path):
    torch.manual_seed(1)
    model = build_conv_policy(IMAGE, head, extra=1, features=8, units=12, hidden=8)
    path = save_policy(model, tmp_path / f'{head}.safetensors')
    policy = load_policy(path)
    rng = np.random.default_rng(2)
    x = _frames(rng, 8, extra=1)
    dts = rng.uniform(0.02, 0.1, 8).astype(np.float32)
    with torch.no_grad():
        expected, h = model(torch.from_numpy(x)[None], timespans=torch.from_numpy(dts)[None])
    got = np.stack([policy.step(xi, float(dt)) for xi, dt in zip(x, dts)])
    np.testing.assert_allclose(got, expected[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(policy.state, model.flat_state(h)[0].numpy(), atol=1e-5)
    assert len(policy.neuron_labels) == policy.state.size


def test_config_round_trip_and_load_model(tmp_path):
    torch.manual_seed(0)
    model = build_conv_policy(IMAGE, 'cfc', features=8, units=12, channels=(4, 8),
                              kernels=(3, 3), strides=(2, 2))
    path = save_policy(model, tmp_path / 'p.safetensors')
    again = load_model(path)
    assert again.get_config() == model.get_config()
    x = torch.from_numpy(_frames(np.random.default_rng(0), 3))[None]
    with torch.no_grad():
        torch.testing.assert_close(again(x)[0], model(x)[0])


def test_wrong_image_dependent_shapes_are_refused(tmp_path):
    model = build_conv_policy(IMAGE, 'cfc', features=8, units=12)
    path = save_policy(model, tmp_path / 'p.safetensors')
    tensors, spec, _ = read_policy_file(path)
    spec.config['image'] = [48, 64, 3]            # the projection no longer fits
    spec.obs = SpaceSpec(48 * 64 * 3)
    spec.obs_mean, spec.obs_std = [0.0] * spec.obs.size, [1.0] * spec.obs.size
    bad = write_policy_file(tmp_path / 'bad.safetensors', tensors, spec)
    with pytest.raises(PolicyFormatError, match='project.weight'):
        load_policy(bad)


def test_bad_constructor_arguments():
    head = {'kind': 'cfc', 'config': {'input_size': 9, 'units': 12}}
    with pytest.raises(ValueError, match='head takes 9'):
        ConvPolicy(IMAGE, head, features=8)
    with pytest.raises(ValueError, match='odd'):
        ConvPolicy(IMAGE, head, features=9, kernels=(4,), channels=(4,), strides=(2,))
    with pytest.raises(ValueError, match='head kind'):
        ConvPolicy(IMAGE, {'kind': 'transformer', 'config': {}}, features=8)
    model = build_conv_policy(IMAGE, 'mlp', features=8)
    with pytest.raises(ValueError, match='x must be'):
        model(torch.zeros(1, 2, 5))


def test_batched_sequences_match_one_at_a_time():
    torch.manual_seed(3)
    model = build_conv_policy(IMAGE, 'cfc', features=8, units=12)
    rng = np.random.default_rng(4)
    x = torch.from_numpy(np.stack([_frames(rng, 5), _frames(rng, 5)]))
    ts = torch.tensor([[0.03] * 5, [0.1] * 5])
    with torch.no_grad():
        both, _ = model(x, timespans=ts)
        for b in range(2):
            one, _ = model(x[b:b + 1], timespans=ts[b:b + 1])
            torch.testing.assert_close(both[b:b + 1], one)


@pytest.mark.slow
def test_lane_training_smoke(tmp_path: Path):
    """BC + one DAgger round on a few short episodes of the camera task: loss falls."""
    import csv

    from lnn_control.train.config import config_from_dict
    from lnn_control.train.imitation import train
    small = {'width': 32, 'height': 24}
    cfg = config_from_dict({
        'name': 'smoke',
        'env': {'id': 'lnn_control/PiBotLane-v0', 'kwargs': {**small, 'time_limit': 2.0}},
        'model': {'kind': 'conv', 'kwargs': {'head': 'cfc', 'features': 8, 'units': 12}},
        'bc': {'demo_episodes': 2, 'steps': 20, 'seq_len': 8, 'burn_in': 2, 'batch_size': 4,
               'action_normaliser': 'bounds', 'action_noise': [0.03, 0.6],
               'augment': {'brightness': 0.2, 'noise': 4.0}},
        'dagger': {'rounds': 1, 'episodes': 1, 'steps': 5},
        'eval': {'episodes': 0, 'select': 'last', 'test_episodes': 1,
                 'test_env_kwargs': {**small, 'time_limit': 1.0}}})
    path = train(cfg, tmp_path, progress=False)
    policy = load_policy(path)
    assert policy.spec.obs.size == 24 * 32 * 3
    assert policy.spec.provenance['config']['model']['kwargs']['head'] == 'cfc'
    with open(tmp_path / 'log.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and int(rows[-1]['steps']) > int(rows[0]['steps'])
    assert (tmp_path / 'summary.json').is_file()
    frame = np.full((24, 32, 3), 90, np.float32).reshape(-1)
    action = policy.step(frame, 1 / 30)
    assert np.isfinite(action).all()
