"""The pendulum scene (CausalVAE's generator) as a structural causal model with a fast renderer.

    pendulum        := u_pendulum,                     u_pendulum ~ Uniform(-36, 39)   (degrees)
    light           := u_light,                        u_light    ~ Uniform(54, 132)   (degrees)
    shadow_length   := max(3, |proj(pivot) - proj(far)|)      + u_length,   u_length   ~ Normal(0, 0.3)
    shadow_position := (proj(pivot) + proj(far)) / 2          + u_position, u_position ~ Normal(0, 0.3)

Scene units: x in [0, 20], y in [-1.5, 20.5] (20 x 22). The pivot is at (10, 10.5), the bob's centre at
(10 + 8 sin θ, 10.5 - 8 cos θ), its far edge at (10 + 9.5 sin θ, 10.5 - 9.5 cos θ); the sun sits at height
20.5 on the ray of slope tan φ through the pivot, and every point is projected to the ground (y = -0.5)
along that ray: proj(x, y) = x + (-0.5 - y) / tan φ. We write 1/tan φ as cos φ / sin φ, so φ = 90° (sun
straight overhead) is a regular case here, not a division by zero.

Cut edges (the convention used by `counterfactual`, the model in `explorer/models/causal_vae.py`, the
page and the export alike): when the edge parent -> child is left out of the graph, the child's mechanism
reads the parent's FACTUAL value (its value before any intervention) instead of its counterfactual one.
So a child whose incoming edges are all cut keeps its factual value whatever is done upstream. Edges the
physics does not have (e.g. shadow_length -> shadow_position) are ignored: no true mechanism reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.scm.graph import Dag
from explorer.types import VarSpec

VARIABLES = ("pendulum", "light", "shadow_length", "shadow_position")
ROOTS = ("pendulum", "light")
PARENTS = {"pendulum": (), "light": (), "shadow_length": ROOTS, "shadow_position": ROOTS}
TRUE_GRAPH = Dag(VARIABLES, frozenset((p, c) for c, ps in PARENTS.items() for p in ps))

PIVOT = (10.0, 10.5)
ROD, BOB_R, FAR = 8.0, 1.5, 9.5
SUN_Y, SUN_R, GROUND_Y = 20.5, 2.0, -0.5
X_RANGE, Y_RANGE = (0.0, 20.0), (-1.5, 20.5)
THETA, PHI = (-36.0, 39.0), (54.0, 132.0)
NOISE_SD = 0.3  # scene units; ~1 px at 64 x 64, about 3 % of the length's range
MIN_LENGTH = 3.0

SPECS = {
    "pendulum": VarSpec("pendulum", "continuous", THETA[0], THETA[1], 0.0, 1.0, "pendulum angle", "°"),
    "light": VarSpec("light", "continuous", PHI[0], PHI[1], 90.0, 1.0, "light angle", "°"),
    "shadow_length": VarSpec("shadow_length", "continuous", 2.5, 13.5, 6.0, 0.1, "shadow length", "units"),
    "shadow_position": VarSpec("shadow_position", "continuous", 1.5, 20.5, 10.0, 0.1, "shadow position",
                               "units"),
}

# Colours (RGB in [0, 1]); drawn in this order, later over earlier.
SKY = np.array([0.93, 0.95, 0.98], np.float32)
GROUND = np.array([0.80, 0.72, 0.58], np.float32)
SUN = np.array([1.00, 0.62, 0.10], np.float32)
SHADOW = np.array([0.25, 0.22, 0.20], np.float32)
ROD_C = np.array([0.20, 0.20, 0.25], np.float32)
BOB = np.array([0.70, 0.13, 0.13], np.float32)
ROD_HALF_WIDTH = 0.22
CHUNK = 512  # images per vectorised step: bounds memory at ~100 MB of float32 temporaries


def _cot(phi_deg: np.ndarray) -> np.ndarray:
    phi = np.radians(phi_deg)
    return np.cos(phi) / np.sin(phi)


def shadow_ends(theta_deg: np.ndarray, phi_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground projections of the pivot and of the bob's far edge (scene x), before any noise."""
    theta, cot = np.radians(np.asarray(theta_deg, np.float64)), _cot(np.asarray(phi_deg, np.float64))
    a = PIVOT[0] + (GROUND_Y - PIVOT[1]) * cot
    far_x, far_y = PIVOT[0] + FAR * np.sin(theta), PIVOT[1] - FAR * np.cos(theta)
    b = far_x + (GROUND_Y - far_y) * cot
    return a, b


def length_mechanism(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    a, b = shadow_ends(theta, phi)
    return np.maximum(MIN_LENGTH, np.abs(a - b))


def position_mechanism(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    a, b = shadow_ends(theta, phi)
    return (a + b) / 2.0


MECHANISMS = {"shadow_length": length_mechanism, "shadow_position": position_mechanism}


@dataclass(frozen=True)
class PendulumSCM:
    """The scene's SCM. Values and noise are dicts of 1-D float64 arrays, one row per sample."""

    noise_sd: float = NOISE_SD
    size: int = 64

    @property
    def variables(self) -> list[str]:
        return list(VARIABLES)

    @property
    def specs(self) -> dict[str, VarSpec]:
        return dict(SPECS)

    @property
    def graph(self) -> Dag:
        return TRUE_GRAPH

    def parents(self, node: str) -> list[str]:
        return list(PARENTS[node])

    def sample_noise(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """Exogenous noise of `n` scenes; the roots' noise is their value."""
        rng = np.random.default_rng(seed)
        return {"pendulum": rng.uniform(*THETA, n), "light": rng.uniform(*PHI, n),
                "shadow_length": rng.normal(0.0, self.noise_sd, n),
                "shadow_position": rng.normal(0.0, self.noise_sd, n)}

    def sample(self, n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(noise, factual values) of `n` scenes drawn from the observational distribution."""
        noise = self.sample_noise(n, seed)
        return noise, self.counterfactual(noise)

    def abduct(self, obs: dict[str, np.ndarray], known: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Exact noise from observed values: roots are their noise, shadows minus their mechanism.

        Every noise term can be read off the values, so `known` (the SCM contract's extra noise) is not needed.
        """
        theta, phi = np.asarray(obs["pendulum"], np.float64), np.asarray(obs["light"], np.float64)
        noise = {"pendulum": theta.copy(), "light": phi.copy()}
        for child, mech in MECHANISMS.items():
            noise[child] = np.asarray(obs[child], np.float64) - mech(theta, phi)
        return noise

    def counterfactual(self, noise: dict[str, np.ndarray], do: dict[str, np.ndarray | float] | None = None,
                       graph: Dag | None = None) -> dict[str, np.ndarray]:
        """The TRUE counterfactual values of `do` in the world whose graph is `graph` (default: the physics).

        Mechanisms run in the physics' topological order. A parent whose edge into a child is missing
        from `graph` enters that child's mechanism at its factual value (see the module docstring).

        Args:
            noise: exogenous noise, as from `sample_noise` or `abduct`.
            do: hard interventions {variable: value or per-sample array}; {} or None is the factual world.
            graph: the edited graph; edges the physics lacks are ignored.

        Returns:
            Every variable's value, (n,) float64 each.
        """
        do, graph = do or {}, graph or TRUE_GRAPH
        unknown = set(do) - set(VARIABLES)
        if unknown:
            raise ValueError(f"unknown variable(s) {sorted(unknown)}; the scene has {', '.join(VARIABLES)}")
        n = len(noise["pendulum"])
        factual = {r: np.asarray(noise[r], np.float64) for r in ROOTS}
        out: dict[str, np.ndarray] = {}
        for r in ROOTS:
            out[r] = np.broadcast_to(np.asarray(do[r], np.float64), (n,)).copy() if r in do else factual[r].copy()
        for child, mech in MECHANISMS.items():
            if child in do:
                out[child] = np.broadcast_to(np.asarray(do[child], np.float64), (n,)).copy()
                continue
            theta, phi = (out[p] if (p, child) in graph.edges else factual[p] for p in ROOTS)
            out[child] = mech(theta, phi) + np.asarray(noise[child], np.float64)
        return out

    def render(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Anti-aliased scenes: (n, size, size, 3) uint8 from values of (n,) arrays (or scalars)."""
        v = {k: np.atleast_1d(np.asarray(values[k], np.float64)) for k in VARIABLES}
        n = len(v["pendulum"])
        out = np.empty((n, self.size, self.size, 3), np.uint8)
        for s in range(0, n, CHUNK):
            out[s:s + CHUNK] = _render_chunk({k: a[s:s + CHUNK] for k, a in v.items()}, self.size)
        return out


# --- the renderer: signed distances on the pixel grid, coverage from distance ---------------------------
def _grid(size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre scene coordinates (1, size, size) each, and the pixel size in scene units."""
    sx, sy = (X_RANGE[1] - X_RANGE[0]) / size, (Y_RANGE[1] - Y_RANGE[0]) / size
    xs = X_RANGE[0] + (np.arange(size, dtype=np.float32) + 0.5) * sx
    ys = Y_RANGE[1] - (np.arange(size, dtype=np.float32) + 0.5) * sy  # row 0 is the top
    return xs[None, None, :], ys[None, :, None], float((sx + sy) / 2)


def _coverage(dist: np.ndarray, pix: float) -> np.ndarray:
    """Signed distance (negative inside) -> fraction of the pixel covered: a one-pixel linear ramp."""
    return np.clip(0.5 - dist / pix, 0.0, 1.0)


def _paint(img: np.ndarray, cov: np.ndarray, colour: np.ndarray) -> None:
    img += cov[..., None] * (colour - img)  # (n, H, W, 3): "over" compositing of an opaque colour


def _rows(size: int, y_low: float, y_high: float) -> slice:
    """The pixel rows that can touch scene heights [y_low, y_high] (one pixel margin for the ramp)."""
    sy = (Y_RANGE[1] - Y_RANGE[0]) / size
    top = int(np.floor((Y_RANGE[1] - y_high) / sy)) - 1
    bottom = int(np.ceil((Y_RANGE[1] - y_low) / sy)) + 1
    return slice(max(0, top), min(size, bottom))


def _render_chunk(v: dict[str, np.ndarray], size: int) -> np.ndarray:
    X, Y, pix = _grid(size)  # (1, 1, W), (1, H, 1)
    col = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731  (n,) -> (n, 1, 1)
    theta, cot = np.radians(v["pendulum"]), _cot(v["light"])
    n = len(theta)
    # Each shape is painted only on the rows it can reach: the scene's layout is fixed, and this makes
    # the renderer ~3x faster than painting every shape over the whole image.
    background = np.broadcast_to(SKY, (size, size, 3)).copy()
    _paint(background[None], np.broadcast_to(_coverage(Y - GROUND_Y, pix), (1, size, size)), GROUND)
    img = np.broadcast_to(background, (n, size, size, 3)).copy()
    r = _rows(size, SUN_Y - SUN_R, SUN_Y + SUN_R)
    sun_x = col(PIVOT[0] + (SUN_Y - PIVOT[1]) * cot)
    _paint(img[:, r], _coverage(np.sqrt((X - sun_x) ** 2 + (Y[:, r] - SUN_Y) ** 2) - SUN_R, pix), SUN)
    # the shadow: a dark box filling the ground strip's height, centred at `position`, `length` wide;
    # an axis-aligned box's coverage is the product of its x and y coverages
    r = _rows(size, Y_RANGE[0], GROUND_Y)
    cov_x = _coverage(np.abs(X - col(v["shadow_position"])) - col(v["shadow_length"]) / 2, pix)  # (n, 1, W)
    cov_y = _coverage(Y[:, r] - GROUND_Y, pix)  # (1, h, 1)
    _paint(img[:, r], cov_x * cov_y, SHADOW)
    bx, by = col(PIVOT[0] + ROD * np.sin(theta)), col(PIVOT[1] - ROD * np.cos(theta))
    r = _rows(size, PIVOT[1] - FAR, PIVOT[1] + ROD_HALF_WIDTH)
    _paint(img[:, r], _coverage(_segment_distance(X, Y[:, r], bx, by) - ROD_HALF_WIDTH, pix), ROD_C)
    _paint(img[:, r], _coverage(np.sqrt((X - bx) ** 2 + (Y[:, r] - by) ** 2) - BOB_R, pix), BOB)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _segment_distance(X: np.ndarray, Y: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Distance from every pixel to the rod (pivot -> bob centre), (n, H, W)."""
    dx, dy = bx - PIVOT[0], by - PIVOT[1]  # (n, 1, 1)
    px, py = X - PIVOT[0], Y - PIVOT[1]  # (1, 1, W), (1, H, 1)
    t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)  # (n, H, W)
    return np.sqrt((px - t * dx) ** 2 + (py - t * dy) ** 2)


def normalise(name: str, value: np.ndarray) -> np.ndarray:
    """A variable's value -> [-1, 1] over its spec range (what the model's concept latents hold)."""
    s = SPECS[name]
    return 2.0 * (np.asarray(value, np.float64) - s.low) / (s.high - s.low) - 1.0


def denormalise(name: str, z: np.ndarray) -> np.ndarray:
    s = SPECS[name]
    return s.low + (np.asarray(z, np.float64) + 1.0) * (s.high - s.low) / 2.0


def independent_values(n: int, seed: int) -> dict[str, np.ndarray]:
    """Every variable drawn uniformly over its spec range, independently: scenes no physics would make,
    for training an unbiased judge (the concept regressor of `evaluate`)."""
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(SPECS[k].low, SPECS[k].high, n) for k in VARIABLES}
