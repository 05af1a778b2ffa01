# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
The lanes of PiBotLane-v0: a closed track drawn per episode and painted into the floor.

- :func:`make_track`: the centreline is a star-shaped closed curve ``r(phi) = R0 (1 + sum_k a_k
  cos(k phi + p_k))``, k = 2..4, with a minimum radius of curvature of 0.35 m; the road's
  half-width varies along the track (0.13-0.24 m; the robot is 0.178 m wide).
- :func:`paint_track`: colours and patterns drawn per seed: road, edge lines (white or
  yellow), an optional dashed centre line, the floor (flat, blotchy or checkered).
  ``texture_set='unseen'`` draws from palettes and patterns never used in ``'train'`` (a light
  road on a dark floor, coloured lines, stripes) for robustness tests. Domain randomisation
  passes a palette of :func:`lnn_control.envs.randomise.random_palette` instead (wide colour
  ranges, four pattern families, still disjoint from 'unseen').
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Dict, Optional

import numpy as np

__all__ = ['Track', 'make_track', 'paint_track', 'FLOOR_HALF', 'TEXTURE_SETS']

FLOOR_HALF = 3.0            # m, the floor plane spans +-3 m
TEXTURE_SETS = ('train', 'unseen')
_TRACK_POINTS = 2048
_MIN_CURVATURE_RADIUS = 0.35   # m: the expert takes it at ~0.12 m/s without saturating w


@dataclass(frozen=True, eq=False)
class Track:
    """
    A closed lane in world coordinates, sampled in the direction of travel.

    Attributes:
        points: (N, 2) centreline points (m).
        tangents: (N, 2) unit tangents (direction of travel).
        half_width: (N,) road half-width at each point (m).
        arc: (N,) arc length from point 0 (m).
        length: the loop's length (m).

    """

    points: np.ndarray
    tangents: np.ndarray
    half_width: np.ndarray
    arc: np.ndarray
    length: float

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Track):
            return NotImplemented
        return all(np.array_equal(getattr(self, name), getattr(other, name))
                   for name in ('points', 'tangents', 'half_width', 'arc', 'length'))

    __hash__ = None   # holds arrays

    def nearest(self, x: float, y: float, hint: Optional[int] = None,
                window: int = 64) -> int:
        """Return the index of the centreline point closest to x, y (searched near ``hint``)."""
        if hint is None:
            idx = np.arange(len(self.points))
        else:
            idx = (hint + np.arange(-window, window + 1)) % len(self.points)
        d2 = (self.points[idx, 0] - x) ** 2 + (self.points[idx, 1] - y) ** 2
        return int(idx[int(np.argmin(d2))])

    def deviation(self, x: float, y: float, index: int) -> float:
        """Signed lateral offset of (x, y) from the centreline at ``index`` (m, + left)."""
        px, py = self.points[index]
        tx, ty = self.tangents[index]
        return float(-(x - px) * ty + (y - py) * tx)


def make_track(rng: np.random.Generator, reverse: bool = False) -> Track:
    """
    Draw a closed track (rejection-sampled for curvature and for fitting on the floor).

    Args:
        rng: the source of randomness (the env's ``np_random``).
        reverse: sample the centreline clockwise instead of counter-clockwise.

    Returns:
        The track.

    """
    phi = np.linspace(0.0, 2.0 * math.pi, _TRACK_POINTS, endpoint=False)
    for _ in range(1000):
        r0 = rng.uniform(1.5, 2.1)
        shape = np.ones_like(phi)
        for k in (2, 3, 4):
            shape += rng.uniform(0.0, 0.16 / k * 2) * np.cos(k * phi + rng.uniform(0, 6.3))
        r = r0 * shape
        half = rng.uniform(0.15, 0.21) * (1.0 + rng.uniform(0.0, 0.15)
                                          * np.cos(rng.integers(1, 4) * phi
                                                   + rng.uniform(0, 6.3)))
        if r.max() + half.max() + 0.1 > FLOOR_HALF or r.min() < 0.8:
            continue
        points = np.stack([r * np.cos(phi), r * np.sin(phi)], 1)
        d1 = (np.roll(points, -1, 0) - np.roll(points, 1, 0)) / 2.0
        d2 = np.roll(points, -1, 0) - 2.0 * points + np.roll(points, 1, 0)
        cross = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
        curvature = np.abs(cross) / np.maximum(np.linalg.norm(d1, axis=1) ** 3, 1e-12)
        if curvature.max() > 1.0 / _MIN_CURVATURE_RADIUS:
            continue
        if reverse:
            points, half = points[::-1].copy(), half[::-1].copy()
        step = np.roll(points, -1, 0) - points
        seg = np.linalg.norm(step, axis=1)
        tangents = (np.roll(points, -1, 0) - np.roll(points, 1, 0))
        tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
        arc = np.concatenate([[0.0], np.cumsum(seg)[:-1]])
        return Track(points, tangents, half, arc, float(seg.sum()))
    raise RuntimeError('could not draw a track')


# -- painting ------------------------------------------------------------------------------
def _palette(rng: np.random.Generator, texture_set: str) -> Dict[str, Any]:
    """Colours and patterns of one track (0-255 RGB floats)."""
    if texture_set == 'train':
        grey = rng.uniform(40, 90)
        road = np.array([grey, grey, grey]) + rng.uniform(-8, 8, 3)
        floor = rng.uniform(120, 210, 3) * np.array([1.0, 1.0, 0.9])
        line = (np.array([235.0, 235.0, 230.0]) if rng.random() < 0.6
                else np.array([230.0, 200.0, 40.0]))
        pattern = ['flat', 'blotch', 'checker'][int(rng.integers(0, 3))]
        centre = bool(rng.random() < 0.5)
    elif texture_set == 'unseen':
        road = rng.uniform(150, 190, 3)                       # light road ...
        floor = np.array([30.0, 70.0, 30.0]) + rng.uniform(-15, 15, 3)   # ... on dark green
        line = [np.array([200.0, 40.0, 40.0]), np.array([40.0, 90.0, 220.0])][
            int(rng.integers(0, 2))]
        pattern = 'stripes'
        centre = True
    else:
        raise ValueError(f'texture_set is one of {TEXTURE_SETS}, got {texture_set!r}')
    return {'road': road, 'floor': floor, 'line': line, 'pattern': pattern, 'centre': centre,
            'line_width': rng.uniform(0.02, 0.035), 'noise': rng.uniform(3, 12),
            'scale': rng.uniform(0.15, 0.5)}


def paint_track(track: Track, rng: np.random.Generator, size: int,
                texture_set: str = 'train',
                palette: Optional[Dict[str, Any]] = None) -> np.ndarray:
    """
    Paint ``track`` into a (size, size, 3) uint8 floor texture.

    Texture row 0 is the floor's +y edge and column 0 its -x edge (MuJoCo's plane mapping),
    each pixel ``2 * FLOOR_HALF / size`` metres.

    Args:
        track: the lane.
        rng: source of the colours and patterns.
        size: texture width and height (px).
        texture_set: 'train' or 'unseen' palettes.
        palette: a drawn palette to paint instead (``random_palette``); it may add
            ``contrast`` (pattern depth) and ``cells`` (blotches per side).

    Returns:
        The texture.

    """
    pal = _palette(rng, texture_set) if palette is None else palette
    res = 2.0 * FLOOR_HALF / size
    coords = -FLOOR_HALF + (np.arange(size) + 0.5) * res
    xs = coords[None, :]                 # (1, S) columns: x
    ys = coords[::-1, None]              # (S, 1) rows: +y at row 0
    # Lateral offset of every pixel from the centreline, by the polar form of the track:
    # the radial offset times cos(angle between the radius and the normal).
    rho = np.hypot(xs, ys)                                            # (S, S)
    ang = np.arctan2(ys, xs) % (2.0 * math.pi)
    pts = track.points
    phi_pts = np.arctan2(pts[:, 1], pts[:, 0]) % (2.0 * math.pi)
    order = np.argsort(phi_pts)
    phi_sorted = np.concatenate([phi_pts[order][-1:] - 2 * math.pi, phi_pts[order],
                                 phi_pts[order][:1] + 2 * math.pi])
    r_pts = np.hypot(pts[:, 0], pts[:, 1])[order]
    r_sorted = np.concatenate([r_pts[-1:], r_pts, r_pts[:1]])
    hw_sorted = np.concatenate([track.half_width[order][-1:], track.half_width[order],
                                track.half_width[order][:1]])
    r_at = np.interp(ang, phi_sorted, r_sorted)
    hw_at = np.interp(ang, phi_sorted, hw_sorted)
    dr = np.gradient(r_sorted, phi_sorted)
    dr_at = np.interp(ang, phi_sorted, dr)
    offset = np.abs(rho - r_at) * r_at / np.sqrt(r_at ** 2 + dr_at ** 2)  # (S, S) m

    img = np.empty((size, size, 3), dtype=np.float32)
    scale = pal['scale']
    contrast = pal.get('contrast')
    if pal['pattern'] == 'checker':
        mask = ((np.floor(xs / scale) + np.floor(ys / scale)) % 2 == 0)
        img[:] = pal['floor']
        img[mask] *= 0.85 if contrast is None else 1.0 - contrast
    elif pal['pattern'] in ('blotch', 'grain'):
        cells = int(pal.get('cells', 12)) * (4 if pal['pattern'] == 'grain' else 1)
        low, high = (0.75, 1.15) if contrast is None else (1.0 - contrast, 1.0 + contrast)
        coarse = rng.uniform(low, high, (cells, cells))
        idx = np.clip(((coords + FLOOR_HALF) / (2 * FLOOR_HALF) * cells).astype(int), 0,
                      cells - 1)
        img[:] = pal['floor'] * coarse[idx[::-1, None], idx[None, :]][..., None]
    elif pal['pattern'] == 'stripes':
        mask = (np.floor((xs + 0.5 * ys) / scale) % 2 == 0)
        img[:] = pal['floor']
        img[np.broadcast_to(mask, (size, size))] *= 1.4
    else:
        img[:] = pal['floor']
    on_road = offset < hw_at
    img[on_road] = pal['road']
    lw = pal['line_width']
    edge = on_road & (offset > hw_at - lw)
    img[edge] = pal['line']
    if pal['centre']:
        dash = np.sin(ang * track.length / 0.3 * 2.0 * math.pi / (2 * math.pi)) > 0.0
        img[(offset < lw / 2) & dash] = pal['line']
    img += rng.normal(0.0, pal['noise'], img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)
