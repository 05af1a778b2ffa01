# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
What a real camera does to a frame, as one function: exposure, gamma, blur, noise, JPEG.

:func:`perturb_frame` is the one implementation of the image knobs of
:mod:`lnn_control.envs.perturb` (``noise``, ``brightness``, ``occlusion``, ``gamma``,
``blur``, ``jpeg``) and of the per-episode camera look of domain randomisation
(:mod:`lnn_control.envs.randomise`). The steps, in the order a camera pipeline applies them:

1. exposure: ``x * gain + brightness`` (grey levels, 0-255 scale);
2. gamma: ``255 (x / 255) ** gamma`` (gamma < 1 brightens the mid-tones);
3. blur: a Gaussian of ``blur`` pixels std (defocus, motion), Pillow's ``GaussianBlur``;
4. occlusion: a black square of ``occlusion`` x the height at a random place;
5. sensor noise: N(0, ``noise``) grey levels per pixel and channel;
6. JPEG: encoded and decoded at quality ``jpeg`` (1-100, 0 = off) with Pillow, the
   compression artefacts of an MJPEG camera stream or ``image_transport`` compressed topic.

Every step is skipped at its clean value, so a clean call returns the frame unchanged and the
random draws (occlusion place, then noise) are the same as without the other steps.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ['perturb_frame', 'jpeg_round_trip', 'gaussian_blur']


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a float (H, W, C) image in 0-255 with a Gaussian of ``sigma`` px (Pillow)."""
    from PIL import Image
    from PIL import ImageFilter
    pil = Image.fromarray(np.clip(img, 0.0, 255.0).astype(np.uint8))
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(radius=float(sigma))),
                      dtype=np.float32)


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode a uint8 (H, W, 3) image as JPEG at ``quality`` and decode it (Pillow)."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format='JPEG', quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert('RGB'), dtype=np.uint8)


def perturb_frame(frame: np.ndarray, rng: np.random.Generator, noise: float = 0.0,
                  brightness: float = 0.0, occlusion: float = 0.0, gamma: float = 1.0,
                  blur: float = 0.0, jpeg: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """
    Perturb one camera frame (uint8 H x W x C), as in the NCP paper's robustness tests.

    Args:
        frame: the image.
        rng: randomness (seeded per episode).
        noise: std of Gaussian pixel noise (grey levels).
        brightness: grey levels added (negative darkens).
        occlusion: side of a black square as a fraction of the height, at a random place.
        gamma: exponent on the normalised intensity (1: none).
        blur: Gaussian blur std (px; 0: none).
        jpeg: JPEG quality 1-100 (0: no compression).
        gain: exposure factor on every pixel (or one per channel: colour balance).

    Returns:
        The perturbed frame (uint8, saturated at 0 and 255).

    """
    img = frame.astype(np.float32)
    gain = np.asarray(gain, dtype=np.float32)
    if np.any(gain != 1.0):
        img *= gain
    if brightness:
        img += np.float32(brightness)
    if gamma != 1.0:
        np.clip(img, 0.0, 255.0, out=img)
        img = np.float32(255.0) * (img * np.float32(1.0 / 255.0)) ** np.float32(gamma)
    if blur > 0.0 and img.ndim == 3 and img.shape[2] == 3:
        img = gaussian_blur(img, blur)
    if occlusion > 0.0:
        h, w = img.shape[:2]
        side = max(1, int(round(occlusion * h)))
        r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        img[r:r + side, c:c + side] = 0.0
    if noise > 0.0:
        img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    out = np.clip(img, 0.0, 255.0).astype(np.uint8)
    if jpeg > 0 and out.ndim == 3 and out.shape[2] == 3:
        out = jpeg_round_trip(out, int(round(jpeg)))
    return out
