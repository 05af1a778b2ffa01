# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The ament flake8 linter (99 columns, google import order, single quotes)."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

CONFIG = str(Path(__file__).resolve().parent / 'flake8.ini')


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=['--config', CONFIG, 'lnn_control', 'test', 'bench',
                                        'launch', 'setup.py'])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
