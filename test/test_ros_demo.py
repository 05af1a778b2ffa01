# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The closed-loop demo over real DDS with the shipped policy: what `make demo` runs."""

import json

from lnn_control.cli import main
import pytest


@pytest.mark.slow
def test_demo_reaches_the_goal_and_reports_latency(tmp_path, capsys):
    out = tmp_path / 'demo'
    assert main(['demo', '--seed', '7', '--obstacles', '6', '--out', str(out)]) == 0
    text = capsys.readouterr().out
    assert 'REACHED the goal' in text and 'Sensor-to-command latency' in text
    result = json.loads((out / 'result.json').read_text())
    assert result['reached'] and not result['collision']
    assert 0.0 < result['sensor_to_command_ms_p50'] <= result['sensor_to_command_ms_p99']
    assert result['commands'] > 50
    assert float(result['controller_step_ms_p50']) > 0.0
    assert (out / 'path.png').stat().st_size > 10_000
    # The controller ran without torch: its log says so.
    assert 'torch loaded: False' in (out / 'controller.log').read_text()
