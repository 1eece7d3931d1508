"""The published Morpho-MNIST thickness on strokes of known width, and its gap to our own ruler."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.scm import morphology
from explorer.scm.thickness_published import thickness_published, thickness_published_batch

# The measure works on a 4x grid, so it cannot resolve widths finer than one grid step (0.25 px).
GRID_STEP = 0.25
# Real-digit gap (published - ours) on test digits 0..199, measured when this test was written: 0.2266 px
# (sd 0.079 per digit, 98.5 % of digits read higher). The digits and the tie-break seed are fixed, so only
# library drift moves it; re-seeding the tie-break moves it by ~0.001 px. The slack is ~30x that, yet below
# the shift of the likeliest mistakes: bicubic without the Gaussian blur (gap 0.162), bilinear instead of
# bicubic (0.266), or our half-pixel correction carried over (-0.023).
GAP_MEASURED, GAP_SLACK = 0.227, 0.03
N_DIGITS = 200


def _vertical_bar(width: int, value: float = 255.0, rows: slice = slice(0, 28)) -> np.ndarray:
    """A bar exactly `width` pixels wide; edge to edge by default so it has no ends to round off."""
    img = np.zeros((28, 28), np.float32)
    left = 14 - width // 2
    img[rows, left:left + width] = value
    return img


def _ring(width: float, outer: float = 9.0, supersample: int = 8) -> np.ndarray:
    """An anti-aliased ring of radial width `width`: pixel values are the covered area, found on a fine grid."""
    fine = (np.arange(28 * supersample) + 0.5) / supersample - 0.5  # fine-grid centres in pixel coordinates
    r = np.hypot(fine[:, None] - 13.5, fine[None, :] - 13.5)
    inside = (r >= outer - width) & (r < outer)
    return 255.0 * inside.reshape(28, supersample, 28, supersample).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from explorer.data.mnist import load_mnist

    return load_mnist("test").images[:N_DIGITS]


@pytest.mark.parametrize("width", [2, 3, 4, 5, 6])
def test_bar_reads_its_width(width):
    # A bar of w pixels binarises to exactly 4w grid pixels; the medial distance of an even run is half of it.
    bar = _vertical_bar(width)
    assert thickness_published(bar) == pytest.approx(width, abs=GRID_STEP)
    assert thickness_published(bar.T) == pytest.approx(width, abs=GRID_STEP)  # orientation must not matter


@pytest.mark.parametrize("width", [2, 3, 4])
def test_bar_with_ends_reads_its_width(width):
    # The medial axis forks into the corners where the distance is small, pulling the mean down ~0.15 px.
    assert thickness_published(_vertical_bar(width, rows=slice(2, 26))) == pytest.approx(width, abs=GRID_STEP)


def test_medial_axis_keeps_its_corner_branches():
    # The published mean runs over the whole medial axis, whose branches into a blob's corners have small
    # distances: a solid 8x8 square reads well under 8 (measured 5.5). A pruned thinning such as our
    # `skeletonize` keeps only the centre and would read the full 8.
    square = np.zeros((28, 28), np.float32)
    square[10:18, 10:18] = 255.0
    assert thickness_published(square) < 0.75 * 8


def test_one_pixel_bar_reads_wide():
    # The published upscale blurs, so a 1-px line peaks below full value and its half-height band is wider:
    # it reads 1.5 px. This is the published definition, kept deliberately; the test pins it.
    assert thickness_published(_vertical_bar(1)) == pytest.approx(1.5, abs=GRID_STEP)


@pytest.mark.parametrize("width", [2.0, 3.0, 4.0])
def test_ring_reads_its_width(width):
    # Anti-aliasing keeps the rasterised width even around the ring (measured within 0.06 px of `width`).
    assert thickness_published(_ring(width)) == pytest.approx(width, abs=GRID_STEP)


@pytest.mark.parametrize("value", [60.0, 128.0, 255.0])
def test_threshold_is_relative_to_the_image(value):
    # Binarising at a fraction of the image's own range makes the reading independent of stroke intensity.
    assert thickness_published(_vertical_bar(3, value)) == pytest.approx(thickness_published(_vertical_bar(3)))


def test_uint8_and_float_agree_on_whole_grey_levels():
    bar = _vertical_bar(4, 200.0)
    assert thickness_published(bar.astype(np.uint8)) == pytest.approx(thickness_published(bar), abs=GRID_STEP)


@pytest.mark.parametrize("img", [np.zeros((28, 28), np.uint8), np.zeros((28, 28)), np.full((28, 28), 90.0)])
def test_image_without_foreground_is_nan(img):
    assert np.isnan(thickness_published(img))


def test_batch_matches_single_images_and_is_repeatable(digits):
    stack = np.concatenate([digits[:10], np.zeros((1, 28, 28), np.uint8)])
    first, second = thickness_published_batch(stack), thickness_published_batch(stack)
    # medial_axis breaks ties at random unless seeded; unseeded, single digits move by up to 0.18 px.
    np.testing.assert_array_equal(first, second)
    assert first.shape == (11,) and np.isnan(first[-1])
    assert first[3] == thickness_published(digits[3])
    with pytest.raises(ValueError):
        thickness_published_batch(digits[0])


def test_published_reads_higher_than_ours_on_real_digits(digits):
    published = thickness_published_batch(digits)
    ours = np.array([morphology.measure_thickness(d) for d in digits])
    gap = published - ours
    assert float(gap.mean()) == pytest.approx(GAP_MEASURED, abs=GAP_SLACK)
    assert float(np.mean(gap > 0)) > 0.95  # a systematic offset, not a few outliers (measured 98.5 %)


def test_gap_is_larger_on_thin_strokes(digits):
    # At 1.5 px the blur widens the stroke most: ours read 19 % below published on 300 digits (9 % on raw
    # digits). On these 40 the measured relative gap is 0.19; 0.14-0.24 excludes the raw-digit gap.
    drawn = [morphology.set_intensity(morphology.draw(morphology.skeleton(d), 1.5), 120.0) for d in digits[:40]]
    published = thickness_published_batch(np.stack(drawn))
    ours = np.array([morphology.measure_thickness(img) for img in drawn])
    assert 0.14 < float((published.mean() - ours.mean()) / published.mean()) < 0.24
