# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Every ```python block of README.md runs as written, each in a fresh interpreter.

A block runs in a temporary folder (what it writes stays there) with one torch thread. A block
whose first line is ``# not run: <reason>`` is skipped with that reason: keep these for what
needs ROS processes, a display or minutes of work. A block that fails only because an optional
package outside lnn_control is missing (e.g. stable-baselines3, in the dev extra) is skipped.
"""

import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / 'README.md'
NOT_RUN = '# not run:'
_FENCE = re.compile(r'^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$',
                    re.DOTALL | re.MULTILINE)
_MISSING = re.compile(r"ModuleNotFoundError: No module named '(?P<module>[^'.]+)")


def python_blocks(text: str):
    """Return (line number, code) of every ```python block, dedented to its fence."""
    blocks = []
    for match in _FENCE.finditer(text):
        indent = len(match.group('indent'))
        code = '\n'.join(line[indent:] for line in match.group('code').splitlines())
        blocks.append((text.count('\n', 0, match.start()) + 1, code + '\n'))
    return blocks


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_python_blocks_and_few_are_not_run():
    assert len(BLOCKS) >= 5
    skipped = [code for _, code in BLOCKS if code.startswith(NOT_RUN)]
    assert len(skipped) <= 2, 'keep "# not run" exceptions rare'
    for code in skipped:
        assert code.splitlines()[0][len(NOT_RUN):].strip(), 'say why a block is not run'


def test_python_blocks_are_found_with_their_line_numbers():
    text = 'intro\n```python\nx = 1\n```\n\n  ```python\n  y = 2\n  ```\n```sh\nls\n```\n'
    assert python_blocks(text) == [(2, 'x = 1\n'), (6, 'y = 2\n')]


@pytest.mark.parametrize('line,code', BLOCKS, ids=[f'README.md:{line}' for line, _ in BLOCKS])
def test_readme_block_runs(line, code, tmp_path):
    if code.startswith(NOT_RUN):
        pytest.skip(code.splitlines()[0][len(NOT_RUN):].strip())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]),
        OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', MPLBACKEND='Agg')
    if not env.get('DISPLAY'):
        env.setdefault('MUJOCO_GL', 'egl')
    script = tmp_path / f'readme_{line}.py'
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        missing = _MISSING.search(done.stderr)
        if missing and missing.group('module') != 'lnn_control':
            pytest.skip(f'needs {missing.group("module")}, not installed')
    assert done.returncode == 0, (f'README.md line {line} failed:\n{code}\n'
                                  f'--- stderr ---\n{done.stderr[-4000:]}')
