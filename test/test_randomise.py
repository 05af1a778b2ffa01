# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Domain randomisation of PiBotLane-v0 and the camera image knobs (issue 19)."""

import colorsys

from lnn_control.envs.images import perturb_frame
from lnn_control.envs.lane_track import _palette
from lnn_control.envs.make import make_env
from lnn_control.envs.perturb import Perturbation
from lnn_control.envs.randomise import draw_look
from lnn_control.envs.randomise import hue_in
from lnn_control.envs.randomise import random_palette
from lnn_control.envs.randomise import UNSEEN_FLOOR_HUES
from lnn_control.envs.randomise import UNSEEN_LINE_HUES
from lnn_control.envs.randomise import UNSEEN_PATTERNS
import numpy as np
import pytest

LANE = 'lnn_control/PiBotLane-v0'


def _hsv(rgb):
    h, s, v = colorsys.rgb_to_hsv(*(np.clip(np.asarray(rgb, float), 0, 255) / 255.0))
    return 360.0 * h, s, v


def _unseen_floor(rgb):
    """Say whether a colour is in the unseen floors' region: green hue band, saturated, dark."""
    h, s, v = _hsv(rgb)
    return hue_in(h, UNSEEN_FLOOR_HUES) and s >= 0.15 and v <= 0.4


def _unseen_line(rgb):
    h, s, _ = _hsv(rgb)
    return hue_in(h, UNSEEN_LINE_HUES) and s >= 0.5


def test_unseen_textures_are_disjoint_from_everything_training_draws():
    rng = np.random.default_rng(0)
    unseen = [_palette(rng, 'unseen') for _ in range(300)]
    training = ([_palette(rng, 'train') for _ in range(300)]
                + [random_palette(rng) for _ in range(2000)])
    # The bands describe the unseen set ...
    assert all(_unseen_floor(p['floor']) and _unseen_line(p['line']) for p in unseen)
    assert {p['pattern'] for p in unseen} <= UNSEEN_PATTERNS
    # ... and no training texture has its floor, its line colour or its pattern family.
    assert not any(_unseen_floor(p['floor']) for p in training)
    assert not any(_unseen_line(p['line']) for p in training)
    assert not {p['pattern'] for p in training} & UNSEEN_PATTERNS
    randomised = [p for p in training if 'hsv' in p]
    assert not any(hue_in(p['hsv']['floor'][0], UNSEEN_FLOOR_HUES) for p in randomised)
    assert not any(hue_in(p['hsv']['line'][0], UNSEEN_LINE_HUES) for p in randomised)
    # The randomised floors are wide: dark and light, grey and saturated, both polarities.
    values = np.array([p['hsv']['floor'][2] for p in randomised])
    sats = np.array([p['hsv']['floor'][1] for p in randomised])
    assert values.min() < 0.2 and values.max() > 0.9 and sats.max() > 0.7
    lighter_road = np.mean([p['hsv']['road'][2] > p['hsv']['floor'][2] for p in randomised])
    assert 0.2 < lighter_road < 0.8


def test_hue_bands_wrap_around():
    assert hue_in(350.0, ((335.0, 25.0),)) and hue_in(10.0, ((335.0, 25.0),))
    assert not hue_in(30.0, ((335.0, 25.0),)) and hue_in(720.0 + 5.0, ((335.0, 25.0),))


def test_strength_zero_is_the_clean_env_and_one_is_seeded():
    clean = make_env(LANE, time_limit=1.0)
    off = make_env(LANE, time_limit=1.0, randomise=0.0)
    on = [make_env(LANE, time_limit=1.0, perturb='randomise=1') for _ in range(2)]
    for seed in (0, 1):
        ref, info = clean.reset(seed=seed)
        np.testing.assert_array_equal(off.reset(seed=seed)[0], ref)
        a, info_a = on[0].reset(seed=seed)
        b, _ = on[1].reset(seed=seed)
        np.testing.assert_array_equal(a, b)            # deterministic per seed
        assert info_a['state'].track == info['state'].track   # the track is drawn first
        assert np.abs(a.astype(int) - ref).mean() > 3.0        # but it looks different
        for _ in range(3):
            step = np.array([0.1, 0.0], np.float32)
            np.testing.assert_array_equal(on[0].step(step)[0], on[1].step(step)[0])
    looks = [on[0].unwrapped.look for _ in range(1)]
    assert looks[0].touches_frame
    for env in [clean, off, *on]:
        env.close()


def test_looks_stay_within_the_mount_tolerance():
    rng = np.random.default_rng(3)
    looks = [draw_look(rng, 1.0) for _ in range(500)]
    assert max(abs(k.pitch) for k in looks) <= 4.0 and max(abs(k.roll) for k in looks) <= 1.5
    assert max(abs(k.height) for k in looks) <= 0.01 and max(abs(k.fovy) for k in looks) <= 2.0
    assert max(k.delay for k in looks) <= 0.05
    assert 0.3 < np.mean([k.jpeg > 0 for k in looks]) < 0.7
    half = [draw_look(rng, 0.5) for _ in range(500)]
    assert max(abs(k.pitch) for k in half) <= 2.0
    clean = draw_look(np.random.default_rng(0), 0.0)
    assert not clean.touches_frame and clean.pitch == 0.0 and clean.delay == 0.0


def test_camera_pitch_moves_the_view_of_the_same_scene():
    clean = make_env(LANE, time_limit=1.0)
    down = make_env(LANE, time_limit=1.0, perturb='pitch=5')
    up = make_env(LANE, time_limit=1.0, perturb='pitch=-5')
    ref, info = clean.reset(seed=2)
    for env in (down, up):
        obs, other = env.reset(seed=2)
        assert other['state'].track == info['state'].track
        assert np.abs(obs.astype(int) - ref).mean() > 1.0
    again, _ = down.reset(seed=2)
    assert np.abs(again.astype(int) - ref).mean() > 1.0   # the pitch stays across resets
    for env in (clean, down, up):
        env.close()


def test_image_knobs():
    rng = np.random.default_rng(0)
    frame = np.random.default_rng(1).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    np.testing.assert_array_equal(perturb_frame(frame, rng), frame)
    grey = np.full((48, 64, 3), 64, np.uint8)
    assert perturb_frame(grey, rng, gamma=0.5).min() == 127          # 255 (64/255)^0.5 = 127.7
    blurred = perturb_frame(frame, rng, blur=1.5).astype(float)
    assert blurred.std() < 0.5 * frame.std()
    squeezed = perturb_frame(frame, rng, jpeg=20).astype(float)
    assert 0.0 < np.abs(squeezed - frame).mean() < 60.0
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    assert np.abs(perturb_frame(smooth, rng, jpeg=95).astype(int) - smooth).max() < 12
    assert perturb_frame(grey, rng, gain=np.array([2.0, 1.0, 0.5])).tolist()[0][0] == [
        128, 64, 32]
    env = make_env(LANE, time_limit=1.0, perturb='gamma=0.6,blur=1,jpeg=40')
    ref = make_env(LANE, time_limit=1.0)
    obs, _ = env.reset(seed=0)
    clean, _ = ref.reset(seed=0)
    assert obs.mean() > clean.mean()
    env.close()
    ref.close()


@pytest.mark.parametrize('text, message', [
    ('jpeg=101', r'jpeg=101: must be a JPEG quality'), ('gamma=0', 'gamma=0: must be'),
    ('randomise=1.5', 'randomise=1.5: must be a strength'), ('pitch=45', 'pitch=45')])
def test_bad_new_knobs_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        Perturbation.parse(text)


def test_new_knobs_need_the_camera_env():
    with pytest.raises(ValueError, match='need an image observation'):
        make_env('InvertedPendulum-v5', perturb='gamma=0.7').reset(seed=0)
    with pytest.raises(ValueError, match='pitch needs an env with that sensor'):
        make_env('InvertedPendulum-v5', perturb='pitch=5')
    with pytest.raises(ValueError, match='not implemented by'):
        make_env('lnn_control/PiBotNav-v0', perturb='randomise=1')
