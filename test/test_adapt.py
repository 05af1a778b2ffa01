# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Online readout adaptation (lnn_control.runtime.adapt, issue 7), without ROS.

The update math against batch least squares, the trust region, rollback, persistence and
identity before any correction, for every adaptable model kind, and the ControllerCore's
correction input.
"""

import math

from lnn_control.runtime.adapt import AdaptationConfig
from lnn_control.runtime.adapt import AdaptedCell
from lnn_control.runtime.adapt import AxisGains
from lnn_control.runtime.adapt import Corrections
from lnn_control.runtime.adapt import finetune
from lnn_control.runtime.adapt import GAIN_FLOOR
from lnn_control.runtime.adapt import OnlineAdapter
from lnn_control.runtime.adapt import PerformanceMonitor
from lnn_control.runtime.adapt import read_corrections
from lnn_control.runtime.adapt import RLS
from lnn_control.runtime.adapt import write_corrections
from lnn_control.runtime.base import PolicyFormatError
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import load_policy
from lnn_control.runtime.policy import write_policy_file
import numpy as np
import pytest

KINDS = ['pibot_nav_cfc', 'pibot_nav_ltc', 'pibot_nav_gru', 'pibot_nav_mlp']


def _obs(rng, policy):
    return rng.normal(0.5, 0.3, policy.spec.obs.size).astype(np.float32)


@pytest.mark.parametrize('forgetting', [1.0, 0.97])
def test_rls_equals_batch_regularised_least_squares(forgetting):
    rng = np.random.default_rng(0)
    n, d, out, delta = 150, 7, 2, 3.0
    z = np.concatenate([rng.normal(size=(n, d)), np.ones((n, 1))], axis=1)
    truth = rng.normal(size=(out, d + 1))
    r = z @ truth.T + 0.1 * rng.normal(size=(n, out))
    rls = RLS(d + 1, out, forgetting=forgetting, prior_precision=delta)
    for i in range(n):
        rls.update(z[i], r[i])
        if i in (0, 9, n - 1):
            # argmin sum_j lam^(i-j) ||r_j - theta z_j||^2 + lam^(i+1) delta ||theta||^2
            k = i + 1
            w = forgetting ** (k - 1 - np.arange(k))
            a = (z[:k] * w[:, None]).T @ z[:k] + forgetting ** k * delta * np.eye(d + 1)
            b = (z[:k] * w[:, None]).T @ r[:k]
            batch = np.linalg.solve(a, b).T
            np.testing.assert_allclose(rls.theta, batch, rtol=1e-8, atol=1e-10)
    assert np.abs(rls.theta - truth).max() < 0.1


def test_rls_covariance_does_not_wind_up_without_excitation():
    rls = RLS(4, 1, forgetting=0.9, prior_precision=1.0)
    for _ in range(500):
        rls.update(np.array([1.0, 0.0, 0.0, 0.0]), np.array([2.0]))
    assert np.trace(rls.P) <= 4.0 + 1e-9
    assert np.isfinite(rls.P).all()
    assert rls.theta[0, 0] == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize('forgetting', [1.0, 0.95])
def test_axis_gains_equal_per_axis_batch_least_squares(forgetting):
    rng = np.random.default_rng(7)
    n, delta, truth = 120, 2.0, np.array([0.8, -0.4, 0.0])
    u = rng.normal(size=(n, 3))
    r = u * truth + 0.05 * rng.normal(size=(n, 3))
    mask = rng.random((n, 3)) < [1.0, 0.6, 0.3]     # axes that agree only sometimes
    gains = AxisGains(3, forgetting=forgetting, prior_precision=delta)
    exact = np.ones(3, bool)     # the covariance cap has never bound on this axis
    for i in range(n):
        assert gains.update(u[i], r[i], mask[i])
        for j in range(3):
            # argmin over the axis's own samples only: a masked step is no sample at all
            uj, rj = u[:i + 1, j][mask[:i + 1, j]], r[:i + 1, j][mask[:i + 1, j]]
            w = forgetting ** (uj.size - 1 - np.arange(uj.size))
            denominator = w @ uj ** 2 + forgetting ** uj.size * delta
            exact[j] &= denominator >= delta
            if exact[j]:
                assert gains.theta[j] == pytest.approx(w @ (uj * rj) / denominator,
                                                       rel=1e-9, abs=1e-12)
    assert exact[0] or forgetting < 1.0
    np.testing.assert_allclose(gains.theta, truth, atol=0.05)
    assert (gains.P <= 1.0 / delta).all()


@pytest.mark.parametrize('name', KINDS)
def test_gain_readout_scales_the_command_exactly(name):
    # W = G(theta) must make the command (1 + theta) x the original, in action units, for
    # every kind (whose action normalisers differ): a stop stays a stop.
    original, policy = load_policy(name), load_policy(name)
    adapter = OnlineAdapter(policy, AdaptationConfig(features='gain', trust_radius=10.0))
    adapter.set_gain([1.7, 0.5])
    np.testing.assert_allclose(adapter.gain, [1.7, 0.5])
    assert adapter.drift == pytest.approx(math.hypot(0.7, 0.5))
    rng = np.random.default_rng(8)
    for _ in range(20):
        obs = _obs(rng, policy)
        np.testing.assert_allclose(policy.step(obs, 0.05), original.step(obs, 0.05)
                                   * np.array([1.7, 0.5]), rtol=1e-5, atol=1e-6)
    adapter.set_gain(-3.0)       # the floor and the trust region hold for hand-set gains too
    np.testing.assert_allclose(adapter.gain, GAIN_FLOOR)
    adapter.configure(trust_radius=0.5)
    adapter.set_gain([3.0, 1.0])
    np.testing.assert_allclose(adapter.gain, [1.5, 1.0])
    with pytest.raises(ValueError, match='finite'):
        adapter.set_gain([math.nan, 1.0])
    with pytest.raises(ValueError, match='features "gain"'):
        OnlineAdapter(load_policy(name), AdaptationConfig(features='hidden')).set_gain(2.0)


def test_gain_mode_learns_how_hard_to_push():
    original, policy = load_policy('pibot_nav_cfc'), load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(features='gain', trust_radius=5.0,
                                                     prior_precision=0.01))
    rng = np.random.default_rng(9)
    for _ in range(80):       # an operator who always pushes 0.6x as hard as the policy
        obs = _obs(rng, policy)
        wanted = 0.6 * original.step(obs, 0.05)
        policy.step(obs, 0.05)
        adapter.correct(wanted)
    np.testing.assert_allclose(adapter.gain, [0.6, 0.6], atol=0.01)
    gains = [float(g) for g in adapter.diagnostics()['adaptation_gains'].split()]
    np.testing.assert_allclose(gains, 0.6, atol=0.005)
    obs = _obs(rng, policy)
    np.testing.assert_allclose(policy.step(obs, 0.05), 0.6 * original.step(obs, 0.05),
                               rtol=0.02, atol=1e-3)


def test_gain_mode_ignores_plans_and_never_reverses_a_command():
    original, policy = load_policy('pibot_nav_cfc'), load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(features='gain', trust_radius=5.0,
                                                     prior_precision=0.01))
    rng = np.random.default_rng(10)
    for _ in range(40):       # the other way on every axis: a plan, not a gain
        obs = _obs(rng, policy)
        wanted = -original.step(obs, 0.05)
        policy.step(obs, 0.05)
        assert not adapter.correct(wanted)
    assert adapter.drift == 0.0 and adapter.skipped == 40 and adapter.corrections == 0
    for _ in range(40):       # almost nothing: the gain stops at the floor
        obs = _obs(rng, policy)
        wanted = 0.001 * original.step(obs, 0.05)
        policy.step(obs, 0.05)
        adapter.correct(wanted)
    assert adapter.corrections > 0
    np.testing.assert_allclose(adapter.gain, GAIN_FLOOR)
    obs = _obs(rng, policy)
    action, plain = policy.step(obs, 0.05), original.step(obs, 0.05)
    assert (np.sign(action) == np.sign(plain)).all()


def test_gain_trust_region_bounds_the_gain_change():
    original, policy = load_policy('pibot_nav_gru'), load_policy('pibot_nav_gru')
    adapter = OnlineAdapter(policy, AdaptationConfig(features='gain', trust_radius=0.5))
    rng = np.random.default_rng(11)
    for _ in range(50):
        obs = _obs(rng, policy)
        wanted = 4.0 * original.step(obs, 0.05)
        policy.step(obs, 0.05)
        adapter.correct(wanted)
        assert np.linalg.norm(adapter.gain - 1.0) <= 0.5 + 1e-9
    assert adapter.projections > 0 and adapter.drift == pytest.approx(0.5)


def test_gain_file_whose_readout_is_not_a_gain_is_refused(tmp_path):
    policy = load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(features='gain'))
    tensors, spec = adapter.adapted_tensors()
    tensors['adapter.weight'] = np.array([[0.1, 0.2, 0.0], [0.0, 0.0, 0.3]], np.float32)
    path = write_policy_file(tmp_path / 'odd.safetensors', tensors, spec)
    with pytest.raises(PolicyFormatError, match='per-axis gain'):
        OnlineAdapter(load_policy(path))


def test_corrections_beyond_the_limits_teach_the_limit():
    # The Actuator clips what it sends, so a correction is learned as what was executed.
    a, b = load_policy('pibot_nav_cfc'), load_policy('pibot_nav_cfc')
    adapters = [OnlineAdapter(p, AdaptationConfig(features='hidden')) for p in (a, b)]
    rng = np.random.default_rng(12)
    for _ in range(20):
        obs = _obs(rng, a)
        a.step(obs, 0.05)
        b.step(obs, 0.05)
        adapters[0].correct([5.0, -40.0])
        adapters[1].correct([0.22, -2.84])
    np.testing.assert_array_equal(adapters[0].weight, adapters[1].weight)
    assert adapters[0].drift > 0.0


@pytest.mark.parametrize('name', KINDS)
def test_identity_before_corrections_and_when_disabled(name):
    original, adaptive = load_policy(name), load_policy(name)
    adapter = OnlineAdapter(adaptive, AdaptationConfig())
    assert isinstance(adaptive.cell, AdaptedCell)
    rng = np.random.default_rng(1)
    for _ in range(30):
        obs = _obs(rng, original)
        np.testing.assert_array_equal(original.step(obs, 0.05), adaptive.step(obs, 0.05))
    np.testing.assert_array_equal(original.state, adaptive.state)
    assert adaptive.neuron_labels == original.neuron_labels
    for _ in range(20):
        obs = _obs(rng, original)
        original.step(obs, 0.05)
        adaptive.step(obs, 0.05)
        assert adapter.correct([0.02, 1.0])
    assert adapter.drift > 0.0
    obs = _obs(rng, original)
    assert not np.allclose(original.step(obs, 0.05), adaptive.step(obs, 0.05))
    adapter.enabled = False     # off: the trained readout, nothing learned
    obs = _obs(rng, original)
    np.testing.assert_array_equal(original.step(obs, 0.05), adaptive.step(obs, 0.05))
    assert not adapter.correct([0.0, 0.0])
    adapter.enabled = True
    adapter.reset()
    assert adapter.drift == 0.0 and adapter.corrections == 0
    obs = _obs(rng, original)
    np.testing.assert_array_equal(original.step(obs, 0.05), adaptive.step(obs, 0.05))


def test_corrections_move_the_action_towards_the_target():
    policy = load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(trust_radius=50.0, features='hidden'))
    obs = np.full(17, 0.5, np.float32)
    target = np.array([0.05, -1.5])
    first = policy.step(obs, 0.05)
    for _ in range(40):
        policy.step(obs, 0.05)
        adapter.correct(target)
    after = policy.step(obs, 0.05)
    assert np.abs(after - target).max() < 0.1 * np.abs(first - target).max()
    assert adapter.corrections == 40


def test_trust_region_bounds_the_readout_change():
    policy = load_policy('pibot_nav_gru')
    adapter = OnlineAdapter(policy, AdaptationConfig(trust_radius=0.5, prior_precision=0.01,
                                                     features='hidden'))
    rng = np.random.default_rng(2)
    for _ in range(50):
        policy.step(_obs(rng, policy), 0.05)
        adapter.correct([0.22, -2.84])       # far from anything the policy does
        assert adapter.drift <= 0.5 + 1e-9
    assert adapter.projections > 0
    assert adapter.drift == pytest.approx(0.5)
    adapter.configure(trust_radius=0.2)
    assert adapter.drift <= 0.2 + 1e-9


def test_bad_corrections_are_counted_and_dropped():
    policy = load_policy('pibot_nav_mlp')
    adapter = OnlineAdapter(policy)
    assert not adapter.correct([math.nan, 0.0]) or adapter.drift == 0.0
    policy.step(np.zeros(17, np.float32), 0.05)
    assert not adapter.correct([math.inf, 0.0])
    assert not adapter.correct([0.1, 0.2, 0.3])
    assert adapter.rejected >= 2 and adapter.drift == 0.0 and adapter.corrections == 0


def test_monitor_rolls_back_then_rebases():
    config = AdaptationConfig(window=10, tolerance=0.1, patience=2)
    monitor = PerformanceMonitor(config)
    decisions = [monitor.observe(False) for _ in range(10)]
    assert decisions[-1] == 'good' and decisions[:-1] == [None] * 9
    decisions = [monitor.observe(True) for _ in range(20)]
    assert decisions[9] is None and decisions[19] == 'rollback'
    decisions = [monitor.observe(True) for _ in range(10)]
    assert decisions[-1] == 'rebase'
    assert monitor.observe(True) is None


def test_rollback_restores_the_last_good_readout():
    policy = load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(window=5, tolerance=0.1, patience=1,
                                                     trust_radius=50.0, features='hidden'))
    obs = np.full(17, 0.4, np.float32)
    for _ in range(5):                 # a good window with a few corrections: snapshot
        policy.step(obs, 0.05)
        adapter.correct([0.1, 0.5])
    decisions = [adapter.observe(False) for _ in range(5)]
    assert decisions[-1] == 'good'
    good = adapter.weight.copy()
    for _ in range(5):                 # more corrections, and the robot does worse
        policy.step(obs, 0.05)
        adapter.correct([0.2, -2.0])
    assert not np.allclose(adapter.weight, good)
    decisions = [adapter.observe(True, near_collision=True) for _ in range(5)]
    assert decisions[-1] == 'rollback'
    np.testing.assert_array_equal(adapter.weight, good)
    assert adapter.rollbacks == 1
    # The restored readout is the one the policy steps with (shared, not a copy).
    reference = load_policy('pibot_nav_cfc')
    cell = AdaptedCell.wrap(reference.cell, good)
    reference.cell = cell
    policy.reset()
    reference.reset()
    np.testing.assert_allclose(policy.step(obs, 0.05), reference.step(obs, 0.05), rtol=1e-6)


@pytest.mark.parametrize('features', ['hidden', 'gain'])
@pytest.mark.parametrize('name', KINDS)
def test_saved_adapted_policy_loads_and_equals(name, features, tmp_path):
    policy = load_policy(name)
    adapter = OnlineAdapter(policy, AdaptationConfig(features=features))
    rng = np.random.default_rng(3)
    for _ in range(30):
        policy.step(_obs(rng, policy), 0.05)
        adapter.correct(rng.uniform([-0.2, -2.0], [0.2, 2.0]))
    with pytest.raises(ValueError, match='overwrite'):
        adapter.save(policy.source)
    assert adapter.unsaved
    path = adapter.save(tmp_path / 'adapted.safetensors', note='test')
    assert not adapter.unsaved
    loaded = load_policy(path)
    assert loaded.spec.kind == 'adapted'
    prov = loaded.spec.provenance
    assert prov['adapted_from'] == policy.source
    assert prov['corrections'] == adapter.corrections > 0
    assert loaded.spec.config['features'] == features
    assert prov['note'] == 'test' and prov['adapted_lineage'][0]['sha256']
    policy.reset()
    for _ in range(20):
        obs = _obs(rng, policy)
        np.testing.assert_allclose(loaded.step(obs, 0.05), policy.step(obs, 0.05),
                                   rtol=1e-5, atol=1e-6)
    # Adapting the saved file continues from its readout; the original stays protected.
    again = OnlineAdapter(loaded)
    np.testing.assert_allclose(again.weight, adapter.weight, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match='overwrite'):
        again.save(policy.source)
    second = again.save(tmp_path / 'adapted2.safetensors')
    assert len(load_policy(second).spec.provenance['adapted_lineage']) == 2
    policy.step(_obs(rng, policy), 0.05)
    adapter.correct(policy.step(_obs(rng, policy), 0.05) * 1.5)   # agrees in sign: learned
    assert adapter.unsaved
    adapter.reset()               # back to the trained readout: nothing left to save
    assert not adapter.unsaved


def test_camera_policy_adapts_its_gains_and_round_trips(tmp_path):
    # The gain mode reads only the action, so it adapts every kind, the CNN front end too;
    # the hidden mode names the kinds it knows.
    name = 'pibot_lane_cnn_cfc'
    original, policy = load_policy(name), load_policy(name)
    adapter = OnlineAdapter(policy)
    rng = np.random.default_rng(13)
    for _ in range(30):
        obs = rng.uniform(0.0, 1.0, policy.spec.obs.size).astype(np.float32)
        wanted = 0.7 * original.step(obs, 0.05)
        policy.step(obs, 0.05)
        adapter.correct(wanted)
    # On random frames the policy steers little (|w| of a few hundredths of rad/s is inside
    # the gain deadband), so only the speed gain must have learned; none grew.
    assert adapter.corrections > 0 and adapter.gain[0] < 1.0 and np.all(adapter.gain <= 1.0)
    loaded = load_policy(adapter.save(tmp_path / 'lane_adapted.safetensors'))
    assert loaded.spec.config['base_kind'] == 'conv'
    policy.reset()
    obs = rng.uniform(0.0, 1.0, policy.spec.obs.size).astype(np.float32)
    np.testing.assert_allclose(loaded.step(obs, 0.05), policy.step(obs, 0.05), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(PolicyFormatError, match="kind 'conv'"):
        OnlineAdapter(load_policy(name), AdaptationConfig(features='hidden'))


def test_adapted_policy_refused_by_torch_tools_naming_its_original(tmp_path, capsys):
    # Export and inspection rebuild the torch model; an adapted policy has none.
    from lnn_control.cli import main
    adapter = OnlineAdapter(load_policy('pibot_nav_cfc'))
    adapter.set_gain([1.5, 1.2])
    path = adapter.save(tmp_path / 'adapted.safetensors')
    for args in (['export', str(path), '--onnx', str(tmp_path / 'x.onnx')],
                 ['inspect', str(path), '--out', str(tmp_path / 'report')]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert 'numpy runtime only' in err and 'pibot_nav_cfc.safetensors' in err


@pytest.mark.parametrize('suffix', ['.npz', '.csv'])
def test_finetune_replays_recorded_corrections_like_online(suffix, tmp_path):
    rng = np.random.default_rng(4)
    t = 60
    obs = rng.normal(0.5, 0.3, (t, 17)).astype(np.float32)
    dt = np.full(t, 0.05)
    action = np.full((t, 2), np.nan)
    action[20:40] = [0.1, -1.0]
    start = np.zeros(t, bool)
    start[0] = start[30] = True
    path = write_corrections(tmp_path / f'c{suffix}', Corrections(obs, dt, action, start))
    data = read_corrections(path)
    np.testing.assert_array_equal(np.isnan(data.action), np.isnan(action))
    offline = finetune(load_policy('pibot_nav_cfc'), data)
    online_policy = load_policy('pibot_nav_cfc')
    online = OnlineAdapter(online_policy)
    for k in range(t):
        if start[k]:
            online_policy.reset()
        online_policy.step(obs[k], dt[k])
        if k >= 20 and k < 40:
            online.correct(action[k])
    assert offline.corrections == 20
    np.testing.assert_allclose(offline.weight, online.weight, rtol=1e-5, atol=1e-7)


def _scan():
    return ScanReading(np.full(360, 1.5), 0.0, 2 * math.pi / 360, 0.12, 3.5)


def test_controller_core_corrections_override_and_teach(tmp_path):
    config = ControllerConfig(correction_timeout=0.3,
                              adaptation=AdaptationConfig(trust_radius=50.0, window=0,
                                                          features='hidden'))
    core = ControllerCore(load_policy('pibot_nav_cfc'), config)
    reference = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig())
    goal = Goal(2.0, 1.0)

    def tick(c, k, correction=None):
        now = 0.05 * k
        c.feed('scan', _scan(), now)
        c.feed('goal', goal, now)
        if correction is not None:
            c.correct(correction, now)
        return c.feed('odom', OdomReading(0.0, 0.0, 0.0, 0.0, 0.0, stamp=100 + now), now)

    for k in range(40):       # identical until a correction arrives
        np.testing.assert_array_equal(tick(core, k), tick(reference, k))
    plain = tick(reference, 40)
    for k in range(40, 100):
        cmd = tick(core, k, [0.05, -1.0])
    np.testing.assert_allclose(cmd, [0.05, -1.0])   # the correction drives (rate-limited)
    for k in range(100, 120):                        # timeout passed: the policy drives again
        cmd = tick(core, k)
        tick(reference, k)
    assert np.abs(cmd - [0.05, -1.0]).max() < 0.5 * np.abs(plain - [0.05, -1.0]).max()
    assert not core.correct([math.nan, 0.0], 6.0)
    _, _, values = core.diagnostics(6.0)
    # 60 corrections, and 6 more steps while the last one was fresh (0.3 s timeout)
    assert int(values['adaptation_corrections']) == 66
    assert float(values['adaptation_drift']) > 0.0
    assert values['rejected_correction_invalid'] == '1'
    assert core.corrector.unsaved          # what the node's autosave checks
    path = core.corrector.save(tmp_path, trigger='test')
    assert path.parent == tmp_path and path.name.startswith('pibot_nav_cfc_adapted_')
    assert not core.corrector.unsaved
    assert load_policy(path).spec.provenance['trigger'] == 'test'


def test_controller_core_override_without_adaptation():
    core = ControllerCore(load_policy('pibot_nav_cfc'), ControllerConfig())
    now = 0.0
    core.feed('scan', _scan(), now)
    core.feed('goal', Goal(2.0, 1.0), now)
    for k in range(30):
        now = 0.05 * k
        core.feed('scan', _scan(), now)
        core.correct([0.0, 0.5], now)
        cmd = core.feed('odom', OdomReading(0, 0, 0, 0, 0, stamp=10 + now), now)
    np.testing.assert_allclose(cmd, [0.0, 0.5])
    assert core.corrector.adapter is None
    assert core.diagnostics(now)[2]['adaptation_enabled'] == 'False'
    assert not core.corrector.unsaved
    with pytest.raises(ValueError, match='never enabled'):
        core.corrector.save('.')


def test_output_features_identity_and_round_trip(tmp_path):
    original, policy = load_policy('pibot_nav_cfc'), load_policy('pibot_nav_cfc')
    adapter = OnlineAdapter(policy, AdaptationConfig(features='output'))
    assert adapter.weight.shape == (2, 3)
    rng = np.random.default_rng(5)
    for _ in range(10):
        obs = _obs(rng, policy)
        np.testing.assert_array_equal(original.step(obs, 0.05), policy.step(obs, 0.05))
    for _ in range(20):
        policy.step(_obs(rng, policy), 0.05)
        adapter.correct([0.2, 0.5])
    loaded = load_policy(adapter.save(tmp_path / 'out.safetensors'))
    assert loaded.spec.config['features'] == 'output'
    policy.reset()
    obs = _obs(rng, policy)
    np.testing.assert_allclose(loaded.step(obs, 0.05), policy.step(obs, 0.05), rtol=1e-5)


def test_cli_finetune_writes_a_new_policy(tmp_path, capsys):
    from lnn_control.cli import main
    rng = np.random.default_rng(6)
    action = np.full((40, 2), np.nan)
    action[10:30] = [0.1, 0.8]
    data = Corrections(rng.normal(0.5, 0.3, (40, 17)), np.full(40, 0.05), action,
                       np.arange(40) == 0)
    path = write_corrections(tmp_path / 'c.npz', data)
    out = tmp_path / 'tuned.safetensors'
    assert main(['finetune', 'pibot_nav_gru', '--corrections', str(path), '--out',
                 str(out)]) == 0
    assert 'corrections 20' in capsys.readouterr().out
    assert load_policy(out).spec.provenance['corrections_file'] == str(path)
    assert main(['finetune', 'pibot_nav_gru', '--corrections', str(tmp_path / 'no.npz')]) == 2
