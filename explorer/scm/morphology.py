"""Stroke re-drawing and the measurements that read thickness and intensity back off an image.

The mechanism follows Morpho-MNIST: a digit's stroke is reduced to its skeleton at 4x resolution,
re-drawn as a disk of diameter `thickness` swept along it, and area-averaged back to 28x28. The same
4x grid is used to measure, so measurement and mechanism agree to sub-pixel accuracy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

SCALE = 4  # up-sampling factor of the drawing and measuring grid


def skeleton(digit: np.ndarray) -> np.ndarray:
    """The 1-pixel skeleton of a (28, 28) digit on the (112, 112) grid, as bool."""
    up = ndimage.zoom(digit.astype(np.float32) / max(float(digit.max()), 1e-6), SCALE, order=1)
    return skeletonize(up > 0.5)


def draw(skel: np.ndarray, thickness: float) -> np.ndarray:
    """Sweeps a disk of diameter `thickness` (28x28 pixels) along `skel`; returns coverage (28, 28) in [0, 1]."""
    if not skel.any():
        return np.zeros((skel.shape[0] // SCALE, skel.shape[1] // SCALE), np.float32)
    dist = ndimage.distance_transform_edt(~skel)  # (112, 112) distance to the skeleton
    radius = 0.5 * thickness * SCALE
    cover = np.clip(radius - dist + 0.5, 0.0, 1.0).astype(np.float32)  # anti-aliased edge
    h, w = cover.shape
    return cover.reshape(h // SCALE, SCALE, w // SCALE, SCALE).mean(axis=(1, 3))


def foreground(img: np.ndarray) -> np.ndarray:
    """Foreground mask: pixels at least half the image's maximum."""
    peak = float(img.max())
    return img >= 0.5 * peak if peak > 0 else np.zeros(img.shape, bool)


def set_intensity(cover: np.ndarray, intensity: float) -> np.ndarray:
    """Scales coverage so the median foreground pixel equals `intensity` (0-255); returns float32 0-255."""
    fg = foreground(cover)
    if not fg.any():
        return np.zeros_like(cover, dtype=np.float32)
    gain = intensity / float(np.median(cover[fg]))
    return np.clip(cover * gain, 0.0, 255.0).astype(np.float32)


def measure_intensity(img: np.ndarray) -> float:
    """Median foreground value of a (28, 28) image on the 0-255 scale."""
    fg = foreground(img)
    return float(np.median(img[fg])) if fg.any() else 0.0


def measure_thickness(img: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the distance transform, averaged along the skeleton."""
    up = ndimage.zoom(img.astype(np.float32), SCALE, order=1)  # (112, 112)
    mask = foreground(up)
    if not mask.any():
        return 0.0
    skel = skeletonize(mask)
    dist = ndimage.distance_transform_edt(mask)  # distance to the nearest background pixel
    # The distance transform counts pixel centres, so a run of w pixels peaks at ~w/2 + 0.5: remove the half.
    return float(2.0 * (dist[skel].mean() - 0.5) / SCALE)
