# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""Every source file names its copyright holder and licence (ament_copyright's rule)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEADER = ('# Copyright 2026 The lnn_control Authors', '# SPDX-License-Identifier: Apache-2.0')


def _sources():
    for folder in ('lnn_control', 'test', 'bench', 'launch'):
        yield from sorted((ROOT / folder).rglob('*.py'))
    yield ROOT / 'setup.py'


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    missing = []
    for path in _sources():
        lines = path.read_text().splitlines()[:3]
        if lines[:2] != list(HEADER) and (lines[1:3] != list(HEADER)):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f'files without the copyright/licence header: {missing}'
