# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
DDS-Security where rclpy comes from the PyPI Jazzy wheels: the ``sros2-overlay``.

The wheels' Fast DDS is built without security (a node with ``ROS_SECURITY_ENABLE=true``
fails: ``This Fast DDS version doesn't have the security libraries``); ROS 2 from apt, as on
a robot, has it. The overlay is Fast DDS 2.14.5 built with security and rmw_fastrtps rebuilt
against it (x86-64), kept next to the project in ``shared/sros2-overlay``. A process runs
with it when started with :func:`overlay_env`: the overlay's ``lib`` first on
``LD_LIBRARY_PATH`` (then the venv's ``lib`` and the wheels' ``ros_*.libs``, in that order:
the wheels' bootstrap would otherwise re-exec Python with them in random order), Debian's
tinyxml2 9 preloaded (rclpy also loads the wheels' tinyxml2 6; the rebuilt Fast DDS needs 9).
Tests and benchmarks use it; nothing on a robot does.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys
import sysconfig
import tempfile
from typing import Dict, Mapping, Optional, Tuple

__all__ = ['find_overlay', 'library_dir', 'overlay_env', 'secure_env', 'unavailable_reason',
           'TINYXML2', 'OVERLAY_ENV']

OVERLAY_ENV = 'LNN_SROS2_OVERLAY'
TINYXML2 = Path('/usr/lib/x86_64-linux-gnu/libtinyxml2.so.9')
_HERE = Path(__file__).resolve()


def find_overlay(start: Optional[Path] = None) -> Optional[Path]:
    """
    Return ``$LNN_SROS2_OVERLAY`` or the first ``shared/sros2-overlay`` above ``start``.

    Without ``start``, above this file (a source checkout), then above the working folder
    (an installed package run from the checkout).
    """
    if os.environ.get(OVERLAY_ENV):
        path = Path(os.environ[OVERLAY_ENV])
        return path if (path / 'lib').is_dir() else None
    starts = [start] if start is not None else [_HERE, Path.cwd() / '_']
    for origin in starts:
        for parent in Path(origin).resolve().parents:
            candidate = parent / 'shared' / 'sros2-overlay'
            if (candidate / 'lib').is_dir():
                return candidate
    return None


def unavailable_reason() -> Tuple[Optional[Path], str]:
    """Return (overlay, '') when secure DDS can run here, else (None, why not)."""
    overlay = find_overlay()
    if overlay is None:
        return None, (f'no sros2-overlay (shared/sros2-overlay above the repository, or '
                      f'${OVERLAY_ENV}): the PyPI Fast DDS has no security')
    if not any((overlay / 'lib').glob('libfastrtps.so.2.14*')):
        return None, f'{overlay}/lib holds no libfastrtps.so.2.14'
    if not TINYXML2.exists():
        return None, f'{TINYXML2} is missing: apt-get install libtinyxml2-9'
    return overlay, ''


def library_dir(overlay: Path) -> Path:
    """
    Return a folder with the overlay's libraries under their sonames.

    A copy of the overlay may hold its symlinks as small text files naming their target
    (``libfastrtps.so.2.14`` containing ``libfastrtps.so.2.14.5``): the dynamic loader
    cannot follow those, so they are laid out as real symlinks in a folder of our own.
    """
    lib = overlay / 'lib'
    stubs = {p.name: p.read_text().strip() for p in lib.iterdir()
             if p.is_file() and not p.is_symlink() and p.stat().st_size < 256}
    if not stubs:
        return lib
    target = Path(tempfile.gettempdir()) / f'lnn_sros2_overlay-{os.getuid()}' / 'lib'
    target.mkdir(parents=True, exist_ok=True)
    for path in lib.iterdir():
        name = path.name
        while name in stubs:   # follow stub -> stub -> library
            name = stubs[name]
        link = target / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(lib / name)
    return target


def overlay_env(base: Mapping[str, str], overlay: Path) -> Dict[str, str]:
    """Return ``base`` with what ``overlay/env.sh`` sets, for this interpreter's venv."""
    purelib = Path(sysconfig.get_paths()['purelib'])
    libs = [str(library_dir(overlay)), str(Path(sys.prefix) / 'lib')]
    libs += sorted(str(p) for p in purelib.glob('ros_*.libs'))
    env = dict(base)
    env['LD_LIBRARY_PATH'] = ':'.join(libs)
    env['_ROS_WHEELS_BOOTSTRAP_COMPLETE'] = '1'
    env['LD_PRELOAD'] = str(TINYXML2)
    return env


def secure_env(base: Mapping[str, str], keystore: Path, strategy: str = 'Enforce'
               ) -> Dict[str, str]:
    """Return ``base`` with SROS2 on: ``ROS_SECURITY_ENABLE``, strategy and keystore."""
    env = dict(base)
    env.update({'ROS_SECURITY_ENABLE': 'true', 'ROS_SECURITY_STRATEGY': strategy,
                'ROS_SECURITY_KEYSTORE': str(keystore)})
    return env
