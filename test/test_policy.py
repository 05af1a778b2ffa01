# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Policy files: save/load round trips for every model kind, and every way a file is refused."""

import json
import os
from pathlib import Path
import pickle
import subprocess
import sys

from lnn_control.models import CfC
from lnn_control.models import GRU
from lnn_control.models import LSTM
from lnn_control.models import LTC
from lnn_control.models import MLP
from lnn_control.models.policy import load_model
from lnn_control.models.policy import model_tensors
from lnn_control.models.policy import save_policy
from lnn_control.runtime import load_policy
from lnn_control.runtime import PolicyFormatError
from lnn_control.runtime.policy import FORMAT_VERSION
from lnn_control.runtime.policy import METADATA_KEY
from lnn_control.runtime.policy import PolicySpec
from lnn_control.runtime.policy import read_policy_file
from lnn_control.runtime.policy import SpaceSpec
from lnn_control.runtime.policy import tensor_digest
from lnn_control.wirings import AutoNCP
import numpy as np
import pytest
from safetensors.numpy import save_file
import torch

MAKERS = {
    'cfc': lambda: CfC(5, AutoNCP(10, 2, seed=1)),
    'cfc_fc': lambda: CfC(5, 8, proj_size=2, backbone_units=16),
    'ltc': lambda: LTC(5, AutoNCP(10, 2, seed=2)),
    'mlp': lambda: MLP(5, 2, hidden_sizes=(8,), frames=3),
    'gru': lambda: GRU(5, 2, hidden_size=6, dt_input=True),
    'lstm': lambda: LSTM(5, 2, hidden_size=6),
}


def _saved(tmp_path, make='cfc', suffix='.safetensors', **kwargs):
    torch.manual_seed(0)
    model = MAKERS[make]()
    path = save_policy(model, tmp_path / f'p{suffix}', **kwargs)
    return model, path


@pytest.mark.parametrize('suffix', ['.safetensors', '.npz'])
@pytest.mark.parametrize('make', sorted(MAKERS))
def test_round_trip_runtime_matches_torch(tmp_path, make, suffix):
    mean, std = [0.5, -1.0, 0.0, 2.0, 0.1], [2.0, 0.5, 1.0, 3.0, 1.0]
    model, path = _saved(tmp_path, make, suffix, obs_mean=mean, obs_std=std,
                         action_mean=[0.1, -0.2], action_std=[0.22, 2.84])
    policy = load_policy(path)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(40, 5)).astype(np.float32)
    dts = rng.uniform(0.01, 0.3, size=40).astype(np.float32)
    actions = np.stack([policy.step(o, float(d)) for o, d in zip(obs, dts)])
    x = (torch.from_numpy(obs) - torch.tensor(mean)) / torch.tensor(std)
    with torch.no_grad():
        y, _ = model(x[None], timespans=torch.from_numpy(dts)[None])
    expected = y[0].numpy() * np.array([0.22, 2.84]) + np.array([0.1, -0.2])
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    assert actions.dtype == np.float32
    policy.reset()
    np.testing.assert_array_equal(policy.state, np.zeros_like(policy.state))
    assert len(policy.neuron_labels) == policy.state.size


def test_spec_and_provenance_survive(tmp_path):
    _, path = _saved(tmp_path, obs={'size': 5, 'names': list('abcde'), 'units': ['m'] * 5,
                                    'low': [0.0] * 5, 'high': [3.5] * 5},
                     action={'size': 2, 'names': ['v', 'w'], 'units': ['m/s', 'rad/s']},
                     provenance={'env': 'toy', 'seed': 3}, observer={'lidar_beams': 5})
    spec = load_policy(path).spec
    assert spec.format_version == 1     # vector files stay version 1: older readers load them
    assert spec.obs.shape == [5] and spec.obs.dtype == 'float32'
    assert spec.kind == 'cfc' and spec.config['units']['kind'] == 'auto_ncp'
    assert spec.obs.names == list('abcde') and spec.obs.high == [3.5] * 5
    assert spec.action.low == [-np.inf, -np.inf]  # unbounded survives JSON
    assert spec.observer == {'lidar_beams': 5}
    for key in ('created', 'command', 'lnn_control_version', 'torch_version', 'host'):
        assert key in spec.provenance
    assert spec.provenance['env'] == 'toy' and spec.provenance['seed'] == 3


def test_load_model_rebuilds_the_torch_model(tmp_path):
    model, path = _saved(tmp_path, 'ltc')
    back = load_model(path)
    assert type(back) is LTC and back.spec.kind == 'ltc'
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        torch.testing.assert_close(back(x)[0], model(x)[0])


def _rewrite(path, tensors=None, meta_update=None, digest=True):
    tensors_in, spec, _ = read_policy_file(path)
    tensors = tensors_in if tensors is None else tensors
    meta = spec.to_json()
    meta.update(meta_update or {})
    meta['sha256'] = tensor_digest(tensors) if digest else '0' * 64
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(meta)})


def test_refuses_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        load_policy(tmp_path / 'nope.safetensors')
    with pytest.raises(FileNotFoundError, match='no built-in policy'):
        load_policy('no_such_policy_name')


@pytest.mark.parametrize('cut', [0.0, 0.001, 0.3, 0.9, 0.999])
def test_refuses_truncated_files(tmp_path, cut):
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(PolicyFormatError, match='truncated|corrupt'):
        load_policy(path)


def test_refuses_bit_flips_in_tensor_data(tmp_path):
    _, path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    header_end = 8 + int.from_bytes(data[:8], 'little')
    rng = np.random.default_rng(1)
    for position in rng.choice(np.arange(header_end, len(data)), size=40, replace=False):
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(flipped))
        with pytest.raises(PolicyFormatError, match='checksum mismatch'):
            load_policy(path)


@pytest.mark.parametrize('bit', range(8))
def test_bit_flips_in_the_header_are_refused_or_harmless(tmp_path, bit):
    # Every byte of the length field and the JSON header (tensor table plus the spec with its
    # provenance), one bit at a time: the load either fails with PolicyFormatError (never any
    # other exception) or, if the flip left a valid file (e.g. a letter in provenance text),
    # it yields exactly the original weights.
    _, path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    original = tensor_digest(read_policy_file(path)[0])
    header_end = 8 + int.from_bytes(data[:8], 'little')
    refused = 0
    for position in range(header_end):
        flipped = bytearray(data)
        flipped[position] ^= 1 << bit
        path.write_bytes(bytes(flipped))
        try:
            load_policy(path)
        except PolicyFormatError:
            refused += 1
            continue
        assert tensor_digest(read_policy_file(path)[0]) == original, position
    assert refused > header_end // 10


def test_refuses_newer_format_version(tmp_path):
    _, path = _saved(tmp_path)
    _rewrite(path, meta_update={'format_version': FORMAT_VERSION + 1})
    with pytest.raises(PolicyFormatError, match='newer'):
        load_policy(path)


def test_refuses_shapes_that_do_not_match_the_metadata(tmp_path):
    _, path = _saved(tmp_path)
    tensors = read_policy_file(path)[0]
    name = sorted(tensors)[0]
    tensors[name] = np.zeros(tensors[name].shape[:-1] + (tensors[name].shape[-1] + 1,),
                             dtype=np.float32)
    _rewrite(path, tensors)
    with pytest.raises(PolicyFormatError, match='shape'):
        load_policy(path)
    tensors.pop(name)
    _rewrite(path, tensors)
    with pytest.raises(PolicyFormatError, match='missing'):
        load_policy(path)


def test_refuses_checksum_mismatch_nan_and_unknown_kind(tmp_path):
    _, path = _saved(tmp_path)
    _rewrite(path, digest=False)
    with pytest.raises(PolicyFormatError, match='checksum'):
        load_policy(path)
    tensors = read_policy_file(_saved(tmp_path)[1])[0]
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] = np.nan
    _rewrite(path, tensors)
    with pytest.raises(PolicyFormatError, match='NaN'):
        load_policy(path)
    _, path = _saved(tmp_path)
    _rewrite(path, meta_update={'kind': 'transformer'})
    with pytest.raises(PolicyFormatError, match='unknown model kind'):
        load_policy(path)


def test_refuses_pickles_and_foreign_files(tmp_path):
    model, _ = _saved(tmp_path)
    torch_file = tmp_path / 'model.safetensors'
    with open(torch_file, 'wb') as handle:
        pickle.dump({'weights': [1, 2, 3]}, handle, protocol=4)
    with pytest.raises(PolicyFormatError, match='pickle'):
        load_policy(torch_file)
    torch.save(model.state_dict(), tmp_path / 'model.npz')  # a zip holding a pickle
    with pytest.raises(PolicyFormatError, match='unpickl|not an lnn_control|corrupt'):
        load_policy(tmp_path / 'model.npz')
    obj = tmp_path / 'obj.npz'
    np.savez(obj, a=np.array([{'x': 1}], dtype=object))
    with pytest.raises(PolicyFormatError, match='unpickling'):
        load_policy(obj)
    plain = tmp_path / 'plain.safetensors'
    save_file({'w': np.zeros(3, dtype=np.float32)}, str(plain))
    with pytest.raises(PolicyFormatError, match='not an lnn_control policy'):
        load_policy(plain)


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    model, path = _saved(tmp_path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError('power cut')

    monkeypatch.setattr(os, 'replace', crash)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    with pytest.raises(OSError, match='power cut'):
        save_policy(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['p.safetensors']


@pytest.mark.slow
def test_save_survives_kill_9(tmp_path):
    """A process killed mid-save (SIGKILL) never leaves an unloadable file."""
    path = tmp_path / 'big.safetensors'
    script = (
        'import torch, itertools\n'
        'from lnn_control.models import CfC\n'
        'from lnn_control.models.policy import save_policy\n'
        'm = CfC(64, 256, backbone_units=512, backbone_layers=2)\n'
        'for i in itertools.count():\n'
        f'    save_policy(m, {str(path)!r}, provenance={{"i": i}})\n'
        '    print(i, flush=True)\n')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):
            proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    assert load_policy(path).spec.kind == 'cfc'
    leftovers = [p for p in Path(tmp_path).iterdir() if p.name != 'big.safetensors']
    assert all(p.name.startswith('.big.safetensors.tmp') for p in leftovers)


def test_policy_step_checks_dt_and_state(tmp_path):
    _, path = _saved(tmp_path)
    policy = load_policy(path)
    obs = np.zeros(5, dtype=np.float32)
    for bad in (0.0, -0.1, float('nan'), float('inf')):
        with pytest.raises(ValueError, match='dt'):
            policy.step(obs, bad)
    with pytest.raises(ValueError, match='shape'):
        policy.state = np.zeros(3)
    policy.step(obs, 0.1)
    saved = policy.state.copy()
    a = policy.step(obs, 0.1)
    policy.state = saved
    np.testing.assert_array_equal(policy.step(obs, 0.1), a)


def test_model_tensors_are_float32_state_dict(tmp_path):
    model = MAKERS['cfc']()
    tensors = model_tensors(model)
    assert set(tensors) == set(model.state_dict())
    assert all(t.dtype == np.float32 for t in tensors.values())


def test_step_takes_any_real_dtype_and_sequences(tmp_path):
    _, path = _saved(tmp_path, obs_mean=[0.5, -1.0, 0.0, 2.0, 0.1])
    runs = {}
    rng = np.random.default_rng(3)
    obs = rng.normal(size=(6, 5))                                     # float64, as gym gives
    for kind, convert in (('float32', lambda o: o.astype(np.float32)),
                          ('float64', lambda o: o), ('list', lambda o: o.tolist()),
                          ('float16', lambda o: o.astype(np.float16).astype(np.float64))):
        policy = load_policy(path)
        runs[kind] = np.stack([policy.step(convert(o), 0.1) for o in obs])
    np.testing.assert_allclose(runs['float64'], runs['float32'], atol=1e-6)
    np.testing.assert_array_equal(runs['list'], runs['float64'])
    assert runs['float64'].dtype == np.float32
    policy = load_policy(path)
    ints = policy.step(np.arange(5), 0.1)
    policy.reset()
    np.testing.assert_array_equal(ints, policy.step(np.arange(5, dtype=np.float32), 0.1))


@pytest.mark.parametrize('shape', [(4,), (6,), (1, 5), (5, 1), (1,), ()])
def test_wrong_observation_shape_names_the_expected_one(tmp_path, shape):
    _, path = _saved(tmp_path, obs={'names': list('abcde')})
    policy = load_policy(path)
    policy.step(np.ones(5), 0.1)
    state = policy.state.copy()
    with pytest.raises(ValueError, match=r'shape \(.*\), the policy takes \(5,\): a, b, c, d, e'):
        policy.step(np.ones(shape, np.float32), 0.1)
    np.testing.assert_array_equal(policy.state, state)
    with pytest.raises(ValueError, match='real numbers'):
        policy.step(np.array(['1'] * 5), 0.1)


def _clean_and_dirty(path, dirty_at=3):
    """Actions of a run that never saw NaN, and the observations with a NaN one inserted."""
    rng = np.random.default_rng(5)
    obs = rng.normal(size=(8, 5))
    clean = load_policy(path)
    expected = np.stack([clean.step(o, 0.1) for o in obs])
    bad = obs[dirty_at].copy()
    bad[[1, 4]] = [np.nan, np.inf]
    return obs, expected, bad


def test_nonfinite_observation_is_refused_and_the_state_untouched(tmp_path):
    _, path = _saved(tmp_path, obs={'names': ['lidar_0', 'lidar_1', 'v', 'w', 'goal_bearing']})
    obs, expected, bad = _clean_and_dirty(path)
    policy = load_policy(path)
    got = []
    for k, o in enumerate(obs):
        if k == 3:
            state, seen = policy.state.copy(), policy.last_observation
            with pytest.raises(ValueError, match=r'2 of 5 elements: lidar_1=nan, '
                                                 r'goal_bearing=inf; the state is unchanged'):
                policy.step(bad, 0.1)
            np.testing.assert_array_equal(policy.state, state)
            np.testing.assert_array_equal(policy.last_observation, seen)
        got.append(policy.step(o, 0.1))
    np.testing.assert_array_equal(np.stack(got), expected)   # nothing poisoned, ever
    with np.errstate(over='ignore'), pytest.raises(ValueError, match='beyond float32'):
        policy.step(np.full(5, 1e39), 0.1)                      # inf once cast to float32


@pytest.mark.parametrize('mode', ['stop', 'hold'])
def test_nonfinite_stop_and_hold_skip_the_step(tmp_path, mode):
    _, path = _saved(tmp_path, action_mean=[0.1, -0.2])
    obs, expected, bad = _clean_and_dirty(path)
    policy = load_policy(path, nonfinite=mode)
    assert policy.step(bad, 0.1).tolist() == [0.0, 0.0]           # before any step: zero
    got = []
    for k, o in enumerate(obs):
        if k == 3:
            skipped = policy.step(bad, 0.1)
            want = np.zeros(2) if mode == 'stop' else got[-1]
            np.testing.assert_array_equal(skipped, want)
            assert skipped.dtype == np.float32
        got.append(policy.step(o, 0.1))
    np.testing.assert_array_equal(np.stack(got), expected)
    assert policy.skipped == 2
    policy.reset()                               # a new episode holds nothing of the last
    assert policy.step(bad, 0.1).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match='nonfinite must be one of'):
        policy.nonfinite = 'ignore'
    with pytest.raises(ValueError, match='nonfinite must be one of'):
        load_policy(path, nonfinite='zero')


def test_image_spaces_round_trip_through_their_compact_json():
    space = SpaceSpec(12, shape=[2, 2, 3], dtype='uint8', low=0.0, high=255.0)
    data = space.to_json()
    assert data == {'size': 12, 'shape': [2, 2, 3], 'dtype': 'uint8', 'low': 0.0,
                    'high': 255.0, 'units': ''}
    assert SpaceSpec.from_json(json.loads(json.dumps(data))) == space
    odd = SpaceSpec(12, shape=[2, 2, 3], names=[f'p{i}' for i in range(12)],
                    high=list(range(1, 13)), units='lux')
    back = SpaceSpec.from_json(json.loads(json.dumps(odd.to_json())))
    assert back == odd and back.low == [-np.inf] * 12 and back.units == ['lux'] * 12
    vector = SpaceSpec(3, names=['a', 'b', 'c'], low=[0.0] * 3, high=[np.inf] * 3)
    assert vector.to_json()['names'] == ['a', 'b', 'c'] and not vector.is_image
    assert SpaceSpec.from_json(json.loads(json.dumps(vector.to_json()))) == vector
    for bad in ({'shape': [5, 3]}, {'shape': [-2, -6]}, {'dtype': 'pixel'}):
        with pytest.raises(PolicyFormatError, match='shape|dtype'):
            SpaceSpec(12, **bad)


def test_files_get_the_lowest_version_that_describes_them():
    def spec(obs):
        return PolicySpec(kind='mlp', config={}, obs=obs, action=SpaceSpec(2))
    assert spec(SpaceSpec(12)).to_json()['format_version'] == 1
    image = spec(SpaceSpec(12, shape=[2, 2, 3], dtype='uint8')).to_json()
    assert image['format_version'] == FORMAT_VERSION == 2
    assert image['obs_mean'] == 0.0 and image['obs_std'] == 1.0
    assert PolicySpec.from_json(image).obs_std == [1.0] * 12
    with pytest.raises(PolicyFormatError, match='newer than this lnn_control supports'):
        PolicySpec.from_json(dict(image, format_version=FORMAT_VERSION + 1))
