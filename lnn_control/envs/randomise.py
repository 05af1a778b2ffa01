# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
Domain randomisation of PiBotLane-v0: the ``randomise`` perturbation knob.

With ``randomise=s`` (0 < s <= 1; ``PiBotLaneEnv(randomise=s)``) every episode draws, besides
its track, a *look* (Tobin et al. 2017, "Domain randomization for transferring deep neural
networks from simulation to the real world"; Sadeghi & Levine 2017, CAD2RL):

- **floor, road and lines** (:func:`random_palette`, with probability s, else the 'train'
  palette): colours drawn in HSV over wide ranges (hue 0-360 deg but the unseen bands,
  saturation 0-0.8, value 0.1-0.95), either contrast polarity (dark road on a light floor or
  the reverse), line width 1.5-5 cm, an optional dashed centre line, and a floor pattern from
  the training families ``flat``, ``blotch`` (4-24 cells a side), ``checker`` and ``grain``
  (blotches at 1/4 the scale), pattern scale 0.08-0.8 m and contrast 0.05-0.4;
- **light** (:class:`Look`): sun intensity 0.2-1.2 x s, its colour per channel x U(1 - 0.3 s,
  1 + 0.3 s), tilt up to 0.9 rad, any azimuth, ambient and headlight levels;
- **camera mount** within a Pi camera's bracket tolerance: pitch +-4 deg x s, roll
  +-1.5 deg x s, height +-1 cm x s, vertical field of view +-2 deg x s;
- **camera look** (:func:`lnn_control.envs.images.perturb_frame`): exposure gain
  exp(U(-0.35, 0.35) s), offset U(-40, 40) s grey levels, per-channel white balance x U(1 - 0.1
  s, 1 + 0.1 s), gamma exp(U(-0.4, 0.4) s), blur std U(0, 1) s px in half the episodes,
  sensor noise std U(0, 8) s, JPEG quality U(30, 95) in half the episodes;
- **latency**: up to 50 ms x s more from a command to the wheels.

**The 'unseen' set stays disjoint from all of it.** ``texture_set='unseen'`` (the robustness
row) paints green floors (hue 75-165 deg), red (hue 0) or blue (hue 223 deg) lines and floor
*stripes*. Randomised training floors never take a hue in :data:`UNSEEN_FLOOR_HUES` (70-170
deg), lines never one in :data:`UNSEEN_LINE_HUES` (335-25 and 200-250 deg), and no training
pattern family is ``stripes``; the fixed 'train' palette is grey roads, warm light floors,
white or yellow lines. So no training texture shares the unseen set's floor hue, line hue or
pattern family (``test/test_randomise.py`` checks it on draws of both sets). What training
may share with it: road colours (near-grey in both) and light-road-on-dark-floor polarity.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
import math
from typing import Any, Dict, Tuple

import numpy as np

__all__ = ['Look', 'draw_look', 'random_palette', 'UNSEEN_FLOOR_HUES', 'UNSEEN_LINE_HUES',
           'UNSEEN_PATTERNS', 'TRAIN_PATTERNS', 'hue_in']

# Hue bands (degrees, [low, high) with wrap-around) that belong to the 'unseen' set only.
UNSEEN_FLOOR_HUES: Tuple[Tuple[float, float], ...] = ((70.0, 170.0),)
UNSEEN_LINE_HUES: Tuple[Tuple[float, float], ...] = ((335.0, 25.0), (200.0, 250.0))
UNSEEN_PATTERNS = frozenset({'stripes'})
TRAIN_PATTERNS = ('flat', 'blotch', 'checker', 'grain')


def hue_in(hue: float, bands: Tuple[Tuple[float, float], ...]) -> bool:
    """Return whether ``hue`` (degrees) lies in one of ``bands`` (a band may wrap past 360)."""
    hue = hue % 360.0
    for low, high in bands:
        if (low <= hue < high) if low < high else (hue >= low or hue < high):
            return True
    return False


def _hue_outside(rng: np.random.Generator, bands: Tuple[Tuple[float, float], ...]) -> float:
    """Draw a hue (degrees) uniformly from the circle less ``bands`` (by rejection)."""
    while True:
        hue = float(rng.uniform(0.0, 360.0))
        if not hue_in(hue, bands):
            return hue


def _rgb(hue: float, sat: float, val: float) -> np.ndarray:
    return 255.0 * np.array(colorsys.hsv_to_rgb(hue / 360.0, sat, val))


def random_palette(rng: np.random.Generator) -> Dict[str, Any]:
    """
    Draw a randomised palette for :func:`lnn_control.envs.lane_track.paint_track`.

    Returns the palette dict (0-255 RGB floats) plus ``hsv``: the drawn (hue, saturation,
    value) of the floor, road and line, which the disjointness test reads.
    """
    floor_hsv = (_hue_outside(rng, UNSEEN_FLOOR_HUES), float(rng.uniform(0.0, 0.8)),
                 float(rng.uniform(0.1, 0.95)))
    # Either polarity, with a value gap the camera can see (>= 0.15) between road and floor.
    while True:
        road_val = float(rng.uniform(0.08, 0.9))
        if abs(road_val - floor_hsv[2]) >= 0.15:
            break
    road_hsv = (float(rng.uniform(0.0, 360.0)), float(rng.uniform(0.0, 0.35)), road_val)
    line_val = float(rng.uniform(0.75, 1.0) if road_val < 0.5 else rng.uniform(0.0, 0.3))
    line_hsv = (_hue_outside(rng, UNSEEN_LINE_HUES), float(rng.uniform(0.0, 0.9)), line_val)
    return {'road': _rgb(*road_hsv), 'floor': _rgb(*floor_hsv), 'line': _rgb(*line_hsv),
            'pattern': TRAIN_PATTERNS[int(rng.integers(0, len(TRAIN_PATTERNS)))],
            'centre': bool(rng.random() < 0.5), 'line_width': float(rng.uniform(0.015, 0.05)),
            'noise': float(rng.uniform(2, 16)), 'scale': float(rng.uniform(0.08, 0.8)),
            'contrast': float(rng.uniform(0.05, 0.4)), 'cells': int(rng.integers(4, 25)),
            'hsv': {'floor': floor_hsv, 'road': road_hsv, 'line': line_hsv}}


@dataclass(frozen=True)
class Look:
    """
    One episode's randomised light, camera mount and camera look (see the module doc).

    Attributes:
        light: sun diffuse RGB; ambient: sun ambient level; tilt, azimuth: sun direction
            (rad); headlight: the renderer's headlight level.
        pitch, roll: camera mount errors (deg, + pitches further down, + rolls clockwise);
        height: camera height error (m); fovy: field-of-view error (deg).
        gain: per-channel exposure x white balance; offset: grey levels added; gamma;
        blur: px std; noise: grey levels std; jpeg: quality (0: none).
        delay: seconds of extra command latency.

    """

    light: Tuple[float, float, float]
    ambient: float
    tilt: float
    azimuth: float
    headlight: float
    pitch: float = 0.0
    roll: float = 0.0
    height: float = 0.0
    fovy: float = 0.0
    gain: Tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: float = 0.0
    gamma: float = 1.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg: float = 0.0
    delay: float = 0.0

    def frame_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`~lnn_control.envs.images.perturb_frame` for this look."""
        return {'gain': np.asarray(self.gain, np.float32), 'brightness': self.offset,
                'gamma': self.gamma, 'blur': self.blur, 'noise': self.noise,
                'jpeg': self.jpeg}

    @property
    def touches_frame(self) -> bool:
        """Return whether the look changes rendered pixels (else frames pass as rendered)."""
        return (self.gain != (1.0, 1.0, 1.0) or self.offset != 0.0 or self.gamma != 1.0
                or self.blur > 0.0 or self.noise > 0.0 or self.jpeg > 0.0)


def draw_look(rng: np.random.Generator, strength: float) -> Look:
    """
    Draw one episode's look; ``strength`` 0 gives the clean env's light draws and nothing else.

    The clean draws (light level, ambient, tilt, azimuth, headlight) come first and in the
    clean env's order, so ``strength=0`` reproduces an unrandomised episode exactly.
    """
    s = float(strength)
    level = rng.uniform(0.35, 0.9)
    ambient = rng.uniform(0.05, 0.25)
    tilt, azimuth = rng.uniform(0.0, 0.6), rng.uniform(-math.pi, math.pi)
    headlight = rng.uniform(0.2, 0.5)
    if s <= 0.0:
        return Look((level,) * 3, ambient, tilt, azimuth, headlight)
    level = rng.uniform(0.35 - 0.15 * s, 0.9 + 0.3 * s)
    tint = rng.uniform(1.0 - 0.3 * s, 1.0 + 0.3 * s, 3)
    light = tuple(float(v) for v in level * tint)
    tilt = float(rng.uniform(0.0, 0.6 + 0.3 * s))
    balance = rng.uniform(1.0 - 0.1 * s, 1.0 + 0.1 * s, 3)
    exposure = math.exp(rng.uniform(-0.35, 0.35) * s)
    return Look(
        light=light, ambient=float(ambient), tilt=tilt, azimuth=float(azimuth),
        headlight=float(rng.uniform(0.2 - 0.1 * s, 0.5 + 0.1 * s)),
        pitch=float(rng.uniform(-4.0, 4.0) * s), roll=float(rng.uniform(-1.5, 1.5) * s),
        height=float(rng.uniform(-0.01, 0.01) * s), fovy=float(rng.uniform(-2.0, 2.0) * s),
        gain=tuple(float(v) for v in exposure * balance),
        offset=float(rng.uniform(-40.0, 40.0) * s),
        gamma=float(math.exp(rng.uniform(-0.4, 0.4) * s)),
        blur=float(rng.uniform(0.0, 1.0) * s) if rng.random() < 0.5 else 0.0,
        noise=float(rng.uniform(0.0, 8.0) * s),
        jpeg=float(rng.uniform(30.0, 95.0)) if rng.random() < 0.5 * s else 0.0,
        delay=float(rng.uniform(0.0, 0.05) * s))
