#!/bin/sh
# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
#
# The numpy runtime's parity check on arm64 (the Raspberry Pi's architecture), under qemu
# user-mode emulation of a Debian bookworm arm64 root. No binfmt_misc and no chroot are needed:
# qemu-aarch64-static runs the arm64 python3 with -L pointing at the root.
#
#   test/arm64/run_parity.sh REFERENCE.npz    # reference written by test/test_arm64_parity.py

#
# Steps (each cached under $LNN_ARM64_ROOT, default .venv/arm64-rootfs, gitignored):
#   1. debootstrap --arch=arm64 --variant=minbase --foreign --include=python3,python3-numpy:
#      downloads the arm64 .debs; the foreign first stage needs no emulation;
#   2. every downloaded .deb is unpacked with dpkg-deb -x (maintainer scripts are not run;
#      python3 and numpy need none but the libblas/liblapack alternatives links, made here);
#   3. the safetensors aarch64 wheel is fetched with pip download --platform and unpacked;
#   4. qemu-aarch64-static runs test/arm64/parity_check.py with the package on PYTHONPATH.
# Needs: debootstrap, qemu-user-static (apt-get install debootstrap qemu-user-static), network
# access to deb.debian.org and PyPI on the first run.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=${LNN_ARM64_ROOT:-$REPO/.venv/arm64-rootfs}
MIRROR=${LNN_ARM64_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
REFERENCE=${1:?usage: run_parity.sh REFERENCE.npz}

for tool in debootstrap qemu-aarch64-static dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool" >&2; exit 3; }
done

if [ ! -e "$ROOT/.unpacked" ]; then
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    debootstrap --arch=arm64 --variant=minbase --foreign \
        --include=python3,python3-numpy bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 \
        || { tail -20 "$ROOT.log" >&2; exit 4; }
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ROOT"
    done
    # What update-alternatives would do in the (skipped) postinst of libblas3/liblapack3.
    for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
        ln -sf "$lib" "$ROOT/usr/lib/aarch64-linux-gnu/$(basename "$lib")"
    done
    touch "$ROOT/.unpacked"
fi

SITE="$ROOT/opt/wheels"
if [ ! -e "$SITE/.unpacked" ]; then
    mkdir -p "$SITE"
    "$PYTHON" -m pip download --quiet --only-binary=:all: --no-deps \
        --platform manylinux2014_aarch64 --python-version 3.11 --implementation cp \
        -d "$SITE/dist" 'safetensors>=0.4' || { echo 'pip download failed' >&2; exit 4; }
    for wheel in "$SITE"/dist/*.whl; do
        "$PYTHON" -m zipfile -e "$wheel" "$SITE"
    done
    touch "$SITE/.unpacked"
fi

PY_ARM=$ROOT/usr/bin/python3
# -L: the emulated program's absolute paths (its loader, libraries) resolve under the root.
exec env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
    PYTHONPATH="$REPO:$SITE" PYTHONDONTWRITEBYTECODE=1 \
    qemu-aarch64-static -L "$ROOT" "$PY_ARM" "$HERE/parity_check.py" "$REFERENCE"
