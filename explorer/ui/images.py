"""Images for the page: PNG bytes at display size, and a diverging map of what changed.

No Streamlit here on purpose: these are plain functions the tests and the benchmarks can call.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

DISPLAY = 140  # 28 px x 5: four fit side by side next to the controls on a laptop screen
THUMB = 56

# Diverging colours (ColorBrewer RdBu ends): blue = ink removed, white = no change, red = ink added.
_BLUE = np.array([33, 102, 172], np.float32)
_WHITE = np.array([247, 247, 247], np.float32)
_RED = np.array([178, 24, 43], np.float32)


def to_rgb_u8(img: np.ndarray) -> np.ndarray:
    """(28, 28) grey or (3, 28, 28) colour, float 0-255 -> (28, 28) or (28, 28, 3) uint8."""
    arr = np.clip(np.rint(np.asarray(img, np.float32)), 0, 255).astype(np.uint8)
    return arr if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(1, 2, 0))  # (H, W, 3)


def png(img: np.ndarray, size: int = DISPLAY) -> bytes:
    """PNG bytes of `img` upscaled to `size` px with nearest-neighbour, so each pixel stays a crisp square.

    We upscale on the server because browsers smooth small images when they stretch them, which would
    blur exactly the stroke-thickness changes the page is about.
    """
    pil = Image.fromarray(to_rgb_u8(img)).resize((size, size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)  # level 1: ~4x faster than the default, files stay tiny
    return buf.getvalue()


def uri(png_bytes: bytes) -> str:
    """PNG bytes as a data: URI, for a picture redrawn on every move.

    `st.image` takes a data: URI as it is, inside the element's message. Given bytes, it stores them in its media
    store and the browser fetches each picture back over HTTP: one request per picture per move, on the server's
    event loop that every visitor shares, and, for a picture wider than its `width`, a bilinear shrink and a
    re-encode on the server first (`streamlit.elements.lib.image_utils`), which blurred the lab's 4x scenes.
    """
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode()


def png_uri(img: np.ndarray, size: int = DISPLAY) -> str:
    """`png(img, size)` as a data: URI (`uri`)."""
    return uri(png(img, size))


def difference_rgb(diff: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """(28, 28) signed difference (counterfactual - original) -> (28, 28, 3) uint8 diverging colours.

    The scale is fixed (not the image's own maximum) so that a faint change looks faint: a per-image
    scale would make every change look dramatic and mislead a reader comparing two slider positions.
    """
    t = np.clip(np.asarray(diff, np.float32) / scale, -1.0, 1.0)[..., None]  # (28, 28, 1) in [-1, 1]
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = _WHITE + pos * (_RED - _WHITE) + neg * (_BLUE - _WHITE)  # (28, 28, 3)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def difference_png(diff: np.ndarray, size: int = DISPLAY) -> bytes:
    """PNG of the diverging difference map at display size."""
    return png(difference_rgb(diff).transpose(2, 0, 1).astype(np.float32), size)


def difference_uri(diff: np.ndarray, size: int = DISPLAY) -> str:
    """`difference_png` as a data: URI (`uri`)."""
    return uri(difference_png(diff, size))


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 4, size: int = DISPLAY) -> bytes:
    """One PNG with two 28 px images next to each other (a white gap between), each `size` px tall."""
    a, b = to_rgb_u8(left), to_rgb_u8(right)
    if a.ndim != b.ndim:  # one grey, one colour: show both as colour
        a, b = (np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x for x in (a, b))
    spacer = np.full((28, gap) + a.shape[2:], 255, np.uint8)  # (28, gap[, 3])
    row = np.concatenate([a, spacer, b], axis=1)  # (28, 56 + gap[, 3])
    scale = size // 28
    pil = Image.fromarray(row).resize((row.shape[1] * scale, 28 * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
