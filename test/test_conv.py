# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Camera policies: torch ConvPolicy vs the numpy runtime ConvCell, configs, training (issue 8)."""

import json
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
from lnn_control.runtime.policy import METADATA_KEY
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.runtime.policy import tensor_digest
from lnn_control.runtime.policy import write_policy_file
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
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


def _raw_metadata(path):
    with safe_open(str(path), 'np') as handle:
        return json.loads(handle.metadata()[METADATA_KEY])


def _camera_policy(tmp_path, name='cam'):
    torch.manual_seed(5)
    model = build_conv_policy(IMAGE, 'cfc', features=8, units=12)
    return save_policy(model, tmp_path / f'{name}.safetensors', action={
        'names': ['v', 'w'], 'units': ['m/s', 'rad/s'], 'low': [-0.22, -2.84],
        'high': [0.22, 2.84]})


def test_camera_policy_steps_on_the_frame_the_env_gives(tmp_path):
    path = _camera_policy(tmp_path)
    frames = np.random.default_rng(6).integers(0, 256, (6,) + IMAGE, dtype=np.uint8)
    as_frame, as_float_frame, flat = (load_policy(path) for _ in range(3))
    got = np.stack([as_frame.step(f, 1 / 30) for f in frames])       # (H, W, C) uint8
    np.testing.assert_array_equal(
        got, np.stack([flat.step(f.reshape(-1).astype(np.float32), 1 / 30) for f in frames]))
    np.testing.assert_array_equal(
        got, np.stack([as_float_frame.step(f.astype(np.float32), 1 / 30) for f in frames]))
    with pytest.raises(ValueError, match=r'shape \(32, 24, 3\), the policy takes a camera '
                                         r'frame \(24, 32, 3\) uint8 \(or \(2304,\) flat\)'):
        as_frame.step(np.zeros((32, 24, 3), np.uint8), 1 / 30)
    bad = frames[0].astype(np.float32)
    bad[2, 3, 1] = np.nan
    state = as_frame.state.copy()
    with pytest.raises(ValueError, match=r'1 of 2304 elements: px\d+=nan'):
        as_frame.step(bad, 1 / 30)
    np.testing.assert_array_equal(as_frame.state, state)


def test_camera_files_describe_the_image_compactly(tmp_path):
    path = _camera_policy(tmp_path)
    spec = load_policy(path).spec
    assert (spec.obs.shape, spec.obs.dtype, spec.format_version) == ([24, 32, 3], 'uint8', 2)
    assert spec.obs.names[:2] == ['px0', 'px1'] and len(spec.obs.names) == spec.obs.size
    meta = _raw_metadata(path)
    assert meta['format_version'] == 2       # an older reader refuses it: "newer ... upgrade"
    assert meta['obs'] == {'size': 2304, 'shape': [24, 32, 3], 'dtype': 'uint8',
                           'low': '-inf', 'high': 'inf', 'units': ''}
    assert meta['obs_mean'] == 0.0 and meta['obs_std'] == 1.0
    assert meta['action']['names'] == ['v', 'w']               # vectors keep every element
    assert len(json.dumps(meta)) < 4000


def test_version_1_camera_files_still_load(tmp_path):
    """A camera policy written before version 2 (per-pixel metadata) loads as an image one."""
    new = _camera_policy(tmp_path)
    tensors, spec, _ = read_policy_file(new)
    n = spec.obs.size
    meta = dict(spec.to_json(), format_version=1, obs_mean=[0.0] * n, obs_std=[1.0] * n,
                sha256=tensor_digest(tensors),
                obs={'size': n, 'names': [f'px{i}' for i in range(n)], 'units': [''] * n,
                     'low': [0.0] * n, 'high': [255.0] * n})
    old = tmp_path / 'old.safetensors'
    save_file(tensors, str(old), metadata={METADATA_KEY: json.dumps(meta)})
    policy = load_policy(old)
    assert policy.spec.format_version == 1
    assert policy.spec.obs.shape == [24, 32, 3] and policy.spec.obs.high == [255.0] * n
    frame = np.random.default_rng(7).integers(0, 256, IMAGE, dtype=np.uint8)
    np.testing.assert_array_equal(policy.step(frame, 0.03), load_policy(new).step(frame, 0.03))
    again = write_policy_file(tmp_path / 'again.safetensors', tensors, policy.spec)
    assert _raw_metadata(again)['obs']['high'] == 255.0
    header = {p: int.from_bytes(p.read_bytes()[:8], 'little') for p in (old, again)}
    assert header[again] < header[old] / 20


# SHA-256 of the shipped camera policies' tensors as trained (the domain-randomised ones of
# issue 19): a rewrite of their metadata must not change a weight.
SHIPPED_CAMERA = {
    'pibot_lane_cnn_cfc': '847234ac94c4910020c0a32a8e3763c7091960972459907eedf4ceb9dc9da0d3',
    'pibot_lane_cnn_ltc': 'e6b7d5555580d1d656987f510bab4cd2d9bc92c675c29e85a58dd2b734a21020',
    'pibot_lane_cnn_lstm': 'a4bf4b08f0c7c4b04f4ad9b07c343a0a875d4e30be9959243d5921de0b0b09fb',
    'pibot_lane_cnn_mlp': '5acdebf756551c9bd519aed4d026bbcc383388c9a0a3c0df4457bb583ed65b53',
}


@pytest.mark.parametrize('name', sorted(SHIPPED_CAMERA))
def test_shipped_camera_policies_are_compact_with_their_weights_unchanged(name):
    tensors, spec, path = read_policy_file(name)
    assert tensor_digest(tensors) == SHIPPED_CAMERA[name]
    assert (spec.obs.shape, spec.obs.dtype, spec.format_version) == ([48, 64, 3], 'uint8', 2)
    weights = sum(t.nbytes for t in tensors.values())
    assert path.stat().st_size < weights + 10_000    # was ~370 kB of per-pixel metadata
    assert 'names' not in _raw_metadata(path)['obs']
    assert spec.env_id == 'lnn_control/PiBotLane-v0' and spec.held_out['episodes'] >= 20
