"""Measurements on hand-drawn strokes of known width and intensity."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.scm import morphology


def _bar(width: int, value: float = 200.0, length: int = 16) -> np.ndarray:
    """A horizontal bar exactly `width` pixels tall: a stroke whose width we know by construction."""
    img = np.zeros((28, 28), np.float32)
    top = 14 - width // 2
    img[top:top + width, 6:6 + length] = value
    return img


# The measurement works on a 4x grid: its resolution is one grid step, 0.25 px. Pixel-aligned bars have an
# even number of grid pixels across, which the distance transform reads a quarter pixel thin (measured:
# -0.25 for every width), so the tolerance is one grid step plus interpolation slack.
GRID_TOL = 0.3


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_thickness_of_bars(width):
    assert morphology.measure_thickness(_bar(width)) == pytest.approx(width, abs=GRID_TOL)


def test_thickness_of_a_hand_drawn_ring():
    yy, xx = np.mgrid[:28, :28]
    r = np.hypot(yy - 13.5, xx - 13.5)
    ring = ((r >= 6) & (r < 9)).astype(np.float32) * 255  # radial width 3 px
    # Rasterising a circle makes its width wobble by about half a pixel around the ring: 0.35 px slack.
    assert morphology.measure_thickness(ring) == pytest.approx(3.0, abs=0.35)


@pytest.mark.parametrize("value", [64.0, 128.0, 255.0])
def test_intensity_is_median_foreground(value):
    img = _bar(3, value)
    img[14, 6] = value / 4  # a faint pixel below half the peak is background and must not count
    assert morphology.measure_intensity(img) == pytest.approx(value)


def test_empty_image_measures_zero():
    blank = np.zeros((28, 28), np.float32)
    assert morphology.measure_thickness(blank) == 0.0
    assert morphology.measure_intensity(blank) == 0.0


@pytest.mark.parametrize("thickness", [1.5, 2.5, 3.5])
def test_draw_then_measure_round_trip(thickness):
    skel = morphology.skeleton(_bar(3))
    img = morphology.set_intensity(morphology.draw(skel, thickness), 180.0)
    assert morphology.measure_thickness(img) == pytest.approx(thickness, abs=GRID_TOL)
    assert morphology.measure_intensity(img) == pytest.approx(180.0, abs=1.0)


@pytest.mark.parametrize("thickness", [1.5, 2.5, 3.5])
def test_round_trip_on_real_digits(thickness):
    from explorer.data.mnist import load_mnist

    digits = load_mnist("val").images[:30]
    errors = [morphology.measure_thickness(morphology.set_intensity(
        morphology.draw(morphology.skeleton(d), thickness), 150.0)) - thickness for d in digits]
    assert abs(float(np.mean(errors))) < 0.1 and float(np.mean(np.abs(errors))) < 0.15


def test_thicker_strokes_cover_more_pixels():
    skel = morphology.skeleton(_bar(2))
    areas = [morphology.draw(skel, t).sum() for t in (1.0, 2.0, 3.0, 4.0)]
    assert areas == sorted(areas) and areas[-1] > 2.5 * areas[0]
