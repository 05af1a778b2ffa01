# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""The ament pep257 docstring linter."""

from ament_pep257.main import main
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    # Docstrings use Google-style sections ('Args:'), which end in a colon and have no
    # dashed underline, so the numpy-only checks D406 and D407 are off; the rest is ament's.
    rc = main(argv=['lnn_control', 'test', 'bench', '--add-ignore', 'D406,D407'])
    assert rc == 0, 'Found code style errors / warnings'
