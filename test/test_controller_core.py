# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""ControllerCore without ROS: timing, resets, watchdog, limits, fuzzing with bad floats."""

import math

from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from lnn_control.runtime.actuator import Actuator
from lnn_control.runtime.controller import ControllerConfig
from lnn_control.runtime.controller import ControllerCore
from lnn_control.runtime.controller import SpecMismatch
from lnn_control.runtime.observer import Goal
from lnn_control.runtime.observer import JointsReading
from lnn_control.runtime.observer import Observer
from lnn_control.runtime.observer import OdomReading
from lnn_control.runtime.observer import ScanReading
from lnn_control.runtime.policy import load_policy
import numpy as np
import pytest

torch = pytest.importorskip('torch')
CfC = pytest.importorskip('lnn_control.models.cfc').CfC
save_policy = pytest.importorskip('lnn_control.models.policy').save_policy


def make_policy(path, obs_size=17, action_size=2, observer=True, action=None, scale=1.0):
    """Save a small random CfC policy for the PiBot (or a vector policy) to ``path``."""
    torch.manual_seed(0)
    model = CfC(obs_size, 8, proj_size=action_size, return_sequences=False)
    kwargs = {}
    if observer:
        kwargs['observer'] = Observer().config.to_dict()
        kwargs['actuator'] = Actuator().config.to_dict()
        kwargs['obs'] = Observer().space()
    if action is not None:
        kwargs['action'] = action
    return save_policy(model, path, action_std=[scale] * action_size, **kwargs)


@pytest.fixture(scope='module')
def pibot_path(tmp_path_factory):
    return make_policy(tmp_path_factory.mktemp('p') / 'pibot.safetensors', scale=5.0)


@pytest.fixture(scope='module')
def vector_path(tmp_path_factory):
    return make_policy(tmp_path_factory.mktemp('v') / 'pendulum.safetensors', obs_size=4,
                       action_size=1, observer=False, scale=10.0,
                       action={'size': 1, 'names': ['force'], 'low': [-3.0], 'high': [3.0]})


def scan(stamp=0.0, ranges=None):
    ranges = np.full(360, 2.0, np.float32) if ranges is None else ranges
    return ScanReading(ranges=ranges, angle_min=0.0, angle_increment=2 * math.pi / 360,
                       range_min=0.12, range_max=3.5, stamp=stamp)


def odom(stamp, v=0.0, w=0.0, x=0.0):
    return OdomReading(x=x, y=0.0, yaw=0.0, v=v, w=w, stamp=stamp)


def running(path, **kwargs):
    core = ControllerCore(load_policy(path), ControllerConfig(**kwargs))
    core.feed('scan', scan(), now=0.0)
    core.feed('goal', Goal(x=2.0, y=1.0), now=0.0)
    return core


def test_no_goal_stays_still(pibot_path):
    core = ControllerCore(load_policy(pibot_path), ControllerConfig())
    core.feed('scan', scan(), now=0.0)
    for k in range(5):
        cmd = core.feed('odom', odom(0.05 * k), now=0.05 * k)
        assert cmd.tolist() == [0.0, 0.0]
    assert core.steps == 0


def test_dt_is_the_stamp_difference(pibot_path, monkeypatch):
    core = running(pibot_path, nominal_dt=0.07)
    seen = []
    step = core.policy.step
    monkeypatch.setattr(core.policy, 'step', lambda obs, dt: (seen.append(dt), step(obs, dt))[1])
    for stamp, now in ((10.0, 0.0), (10.03, 0.01), (10.13, 0.02), (10.14, 0.03)):
        cmd = core.feed('odom', odom(stamp), now=now)
        assert np.isfinite(cmd).all()
    assert seen == pytest.approx([0.07, 0.03, 0.10, 0.01])


def test_resets_on_gap_backwards_and_request(pibot_path):
    core = running(pibot_path, gap_reset=0.5)
    core.feed('odom', odom(1.0), now=0.0)
    core.feed('odom', odom(1.05), now=0.05)
    assert np.abs(core.policy.state).sum() > 0
    core.feed('odom', odom(2.0), now=0.1)       # 0.95 s gap
    assert core.resets['gap'] == 1
    core.feed('odom', odom(1.5), now=0.15)      # backwards
    assert core.resets['stamp_backwards'] == 1
    core.reset()
    assert core.resets['request'] == 1
    assert not np.abs(core.policy.state).any()
    core.feed('odom', odom(1.6), now=0.2)
    cmd = core.feed('odom', odom(1.6), now=0.25)     # same stamp again
    assert core.rejected['duplicate_stamp'] == 1
    assert np.isfinite(cmd).all()


def test_watchdog_stops_and_resumes(pibot_path):
    core = running(pibot_path, watchdog_timeout=0.5)
    moving = None
    for k in range(20):
        moving = core.feed('odom', odom(0.05 * k), now=0.05 * k)
        core.feed('scan', scan(0.05 * k), now=0.05 * k)
    assert np.abs(moving).max() > 0
    assert core.watchdog(now=0.96) is None
    # The scan stops: odometry keeps coming but the command is zero once the scan is stale.
    assert core.watchdog(now=1.5).tolist() == [0.0, 0.0]
    assert core.feed('odom', odom(1.5), now=1.5).tolist() == [0.0, 0.0]
    level, message, values = core.diagnostics(now=1.5)
    assert level == 1 and 'scan' in message
    core.feed('scan', scan(1.6), now=1.6)
    assert core.watchdog(now=1.6) is None
    resumed = core.feed('odom', odom(1.6), now=1.6)
    assert core.resets['resume'] >= 1
    # From rest, the acceleration limit holds: |v| <= 2.5 m/s^2 * nominal dt.
    assert abs(resumed[0]) <= 2.5 * 0.05 + 1e-9
    core.feed('odom', odom(1.65), now=1.65)
    assert core.watchdog(now=1.7) is None


def test_never_fresh_is_stale(pibot_path):
    core = ControllerCore(load_policy(pibot_path), ControllerConfig())
    assert core.watchdog(now=100.0).tolist() == [0.0, 0.0]
    assert core.feed('odom', odom(1.0), now=100.0).tolist() == [0.0, 0.0]


def test_limits_tighten_only(pibot_path):
    core = running(pibot_path, max_v=0.1, max_w=5.0)
    assert core.actuator.config.max_v == 0.1
    assert core.actuator.config.max_w == pytest.approx(2.84)    # policy's limit kept
    for k in range(40):
        cmd = core.feed('odom', odom(0.05 * k), now=0.05 * k)
        core.feed('scan', scan(0.05 * k), now=0.05 * k)
        assert abs(cmd[0]) <= 0.1 and abs(cmd[1]) <= 2.84


def test_divergence_resets(pibot_path):
    core = running(pibot_path)
    core.feed('odom', odom(0.0), now=0.0)
    core.policy.state = np.full_like(core.policy.state, np.nan)
    cmd = core.feed('odom', odom(0.05), now=0.05)
    assert cmd.tolist() == [0.0, 0.0]
    assert core.resets['divergence'] == 1
    assert np.isfinite(core.policy.state).all()


def test_mismatched_policies_are_refused(tmp_path, pibot_path):
    bad = make_policy(tmp_path / 'bad.safetensors', obs_size=10, observer=False)
    with pytest.raises(SpecMismatch, match='10 observations'):
        ControllerCore(load_policy(bad), ControllerConfig())
    three = make_policy(tmp_path / 'three.safetensors', obs_size=4, action_size=3,
                        observer=False, action={'size': 3, 'low': [-1] * 3, 'high': [1] * 3})
    with pytest.raises(SpecMismatch, match='needs 2'):
        ControllerCore(load_policy(three), ControllerConfig(mode='vector', trigger='joints',
                                                            action_size=2))
    with pytest.raises(SpecMismatch, match='unbounded'):
        unbounded = make_policy(tmp_path / 'u.safetensors', obs_size=4, action_size=1,
                                observer=False)
        ControllerCore(load_policy(unbounded), ControllerConfig(mode='vector',
                                                                trigger='joints'))


def test_vector_mode_pendulum(vector_path):
    core = ControllerCore(load_policy(vector_path),
                          ControllerConfig(mode='vector', trigger='joints', max_output=2.0))
    assert core.high.tolist() == [2.0]
    for k in range(20):
        joints = JointsReading(names=['slider', 'hinge'], positions=np.array([0.1, 0.3 * k]),
                               velocities=np.array([0.0, 5.0]), stamp=0.02 * k)
        cmd = core.feed('joints', joints, now=0.02 * k)
        assert cmd.shape == (1,) and abs(cmd[0]) <= 2.0
    short = JointsReading(names=['a'], positions=np.zeros(1), velocities=np.zeros(1),
                          stamp=1.0)
    assert core.feed('joints', short, now=0.5).tolist() == [0.0]
    assert core.rejected['joints_size'] == 1


def test_an_observation_beyond_the_normaliser_is_dropped_not_raised(tmp_path):
    # 3.4e38 is a finite float32, so the joints conversion passes it, but normalised (std 0.5)
    # it overflows: the policy cannot take it. The core counts and drops it (zero command,
    # state untouched) and goes on, instead of raising out of the callback (test_ros_fuzz).
    torch.manual_seed(0)
    path = save_policy(CfC(4, 8, proj_size=1, return_sequences=False), tmp_path / 'v.safetensors',
                       obs_std=[0.5] * 4, action_std=[10.0],
                       action={'size': 1, 'names': ['force'], 'low': [-3.0], 'high': [3.0]})
    core = ControllerCore(load_policy(path),
                          ControllerConfig(mode='vector', trigger='joints', max_output=2.0))

    def joints(k, hinge=0.3):
        return JointsReading(names=['slider', 'hinge'], positions=np.array([0.1, hinge]),
                             velocities=np.array([0.0, 5.0]), stamp=0.02 * k)

    core.feed('joints', joints(0), now=0.0)
    state = core.policy.state.copy()
    cmd = core.feed('joints', joints(1, hinge=3.4e38), now=0.02)
    assert cmd.tolist() == [0.0]
    assert core.rejected['nonfinite_observation'] == 1 and not core.resets['divergence']
    np.testing.assert_array_equal(core.policy.state, state)
    assert core.policy.skipped == 1 and core.steps == 1
    cmd = core.feed('joints', joints(2), now=0.04)
    assert np.isfinite(cmd).all() and core.steps == 2


def test_diagnostics_report(pibot_path):
    core = running(pibot_path)
    core.reject('goal_frame')
    for k in range(10):
        core.feed('odom', odom(0.05 * k), now=0.05 * k)
    level, message, values = core.diagnostics(now=0.45)
    assert level == 0
    assert values['rejected_goal_frame'] == '1'
    assert float(values['odom_rate_hz']) == pytest.approx(20.0)
    assert float(values['step_latency_p99_ms']) >= float(values['step_latency_p50_ms']) > 0
    assert core.neuron_state_due(0.0) and not core.neuron_state_due(0.05)
    assert core.neuron_state_due(0.11)
    assert len(core.neuron_labels) == core.policy.state.size


BAD = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, -1.0])
FLOAT = st.one_of(st.floats(-1e6, 1e6), BAD)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.tuples(st.sampled_from(['odom', 'scan', 'goal', 'watchdog']),
                                 FLOAT, FLOAT, FLOAT, st.floats(0.0, 0.3)),
                       min_size=1, max_size=40))
def test_fuzz_never_unsafe(pibot_path, events):
    core = ControllerCore(load_policy(pibot_path), ControllerConfig(gap_reset=0.5))
    now = 0.0
    for name, a, b, stamp, wait in events:
        now += wait
        if name == 'odom':
            cmd = core.feed('odom', OdomReading(x=a, y=b, yaw=a, v=b, w=a, stamp=stamp), now)
        elif name == 'scan':
            ranges = np.array([a, b, stamp] * 120, dtype=np.float64)
            cmd = core.feed('scan', ScanReading(ranges, a, b, 0.12, 3.5, stamp), now)
        elif name == 'goal':
            cmd = core.feed('goal', Goal(x=a, y=b, stamp=stamp), now)
        else:
            cmd = core.watchdog(now)
        if cmd is not None:
            assert cmd.shape == (2,) and np.isfinite(cmd).all()
            assert abs(cmd[0]) <= 0.22 and abs(cmd[1]) <= 2.84
        assert np.isfinite(core.policy.state).all()
