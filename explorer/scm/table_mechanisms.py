"""Mechanisms for the columns of a table, each with explicit exogenous noise, and how they are fitted.

    continuous column  x := f(parents) + u,                 u ~ the training residuals (or Normal(0, sd))
    categorical column x := argmax_k (logit_k(parents) + g_k), g_k ~ Gumbel(0, 1), independent over k

f is linear in the parents' features and logit_k a multinomial logistic regression on them (`ParentEncoding`:
a categorical parent one-hot, a continuous one as a piecewise-linear spline). A root is the same with no parents:
a continuous root's noise is its own value (its intercept is 0), a categorical root's logits are constants.

Abduction: a continuous column's noise is its residual, exactly. A categorical column's Gumbels are not
identified by the observed category (Oberst & Sontag 2019, "Counterfactual off-policy evaluation with
Gumbel-max structural causal models"), so `GumbelMax.abduct` draws them from their posterior given that the
observed category won: the top-down construction (Maddison, Tarlow & Minka 2014, "A* sampling") draws the
maximum of the perturbed logits, Gumbel(logsumexp(logits)), gives it to the observed category, and draws the
others' perturbed logits as Gumbels truncated below it.

Fitting uses numpy and scipy only (no scikit-learn in this project): ridge least squares for f, L-BFGS on the
L2-penalised cross-entropy for the logits (`fit_softmax`, reused by the fidelity classifier).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import log_softmax, logsumexp

from explorer.data.tables import ColumnSpec

Values = Mapping[str, np.ndarray]  # column -> (n,): codes (int64) or floats
ATOMS = 1001  # equal-mass points kept of a residual distribution: enough for its shape, small in a card
KNOTS = (0.2, 0.4, 0.6, 0.8)  # training quantiles where a continuous parent's spline bends


@dataclass(frozen=True)
class ParentEncoding:
    """How a mechanism reads one parent: one-hot over `levels`, or a spline of (x - mean) / scale.

    The spline's features are z and max(0, z - knot) for each knot (in z units): a line that may bend at the
    training quintiles, which lets age act on marital status or income the way it does (up, then down).
    """

    name: str
    levels: int = 0
    mean: float = 0.0
    scale: float = 1.0
    knots: tuple[float, ...] = ()

    @property
    def width(self) -> int:
        return self.levels if self.levels else 1 + len(self.knots)

    def features(self, x: np.ndarray) -> sparse.csr_matrix:
        """(n,) parent values -> (n, width) features."""
        if self.levels:
            codes = np.asarray(x, np.int64)
            rows = np.arange(len(codes))
            return sparse.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), self.levels))
        z = (np.asarray(x, np.float64) - self.mean) / self.scale  # (n,)
        return sparse.csr_matrix(np.stack([z] + [np.maximum(0.0, z - k) for k in self.knots], 1))  # (n, 1 + knots)


def encoding_for(spec: ColumnSpec, train: np.ndarray) -> ParentEncoding:
    """The encoding of parent `spec`, standardised and knotted on its training values."""
    if spec.discrete:
        return ParentEncoding(spec.name, levels=spec.levels)
    x = np.asarray(train, np.float64)
    mean, scale = float(x.mean()), float(x.std()) or 1.0
    knots = tuple(sorted({float((q - mean) / scale) for q in np.quantile(x, KNOTS)}))
    return ParentEncoding(spec.name, mean=mean, scale=scale, knots=knots)


def design(parents: Sequence[ParentEncoding], values: Values, n: int) -> sparse.csr_matrix:
    """(n, sum of widths) features of the parents' values (n, 0 for a root), as a sparse matrix.

    Sparse because one-hot columns are, and for a reason beyond memory: scipy's sparse products run on one
    thread, where numpy's dense ones go through OpenBLAS, whose threads spin against each other on a busy
    machine (a fit that takes 20 s on one thread took minutes with two threads competing for two loaded cores).
    """
    return sparse.hstack([sparse.csr_matrix((n, 0))] + [p.features(values[p.name]) for p in parents], format="csr")


@dataclass
class Additive:
    """x := intercept + features(parents) @ coef + u, u from `atoms` (equal-mass points) or Normal(0, noise_sd)."""

    parents: tuple[ParentEncoding, ...]
    coef: np.ndarray  # (D,)
    intercept: float
    noise_sd: float
    atoms: np.ndarray | None = None  # (ATOMS,) sorted residuals; None: Gaussian noise
    l2: float = 0.0
    kind: str = field(default="additive", init=False)

    def mean(self, parent_values: Values, n: int) -> np.ndarray:
        return self.intercept + design(self.parents, parent_values, n) @ self.coef  # (n,)

    def sample_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.atoms is None:
            return rng.normal(0.0, self.noise_sd, n)
        return self.atoms[rng.integers(0, len(self.atoms), n)]

    def decode(self, noise: np.ndarray, parent_values: Values) -> np.ndarray:
        return self.mean(parent_values, len(noise)) + noise

    def abduct(self, obs: np.ndarray, parent_values: Values, rng: np.random.Generator) -> np.ndarray:
        """The residual: exact, so `rng` is not used."""
        obs = np.asarray(obs, np.float64)
        return obs - self.mean(parent_values, len(obs))


@dataclass
class GumbelMax:
    """x := argmax_k (bias_k + features(parents) @ weight[k] + g_k), g_k ~ Gumbel(0, 1)."""

    parents: tuple[ParentEncoding, ...]
    weight: np.ndarray  # (K, D)
    bias: np.ndarray  # (K,)
    l2: float = 0.0
    kind: str = field(default="gumbel_max", init=False)

    def logits(self, parent_values: Values, n: int) -> np.ndarray:
        return self.bias + design(self.parents, parent_values, n) @ self.weight.T  # (n, K)

    def probs(self, parent_values: Values, n: int) -> np.ndarray:
        return np.exp(log_softmax(self.logits(parent_values, n), axis=1))  # (n, K)

    def sample_noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.gumbel(size=(n, len(self.bias)))  # (n, K)

    def decode(self, noise: np.ndarray, parent_values: Values) -> np.ndarray:
        return np.argmax(self.logits(parent_values, len(noise)) + noise, axis=1).astype(np.int64)  # (n,)

    def abduct(self, obs: np.ndarray, parent_values: Values, rng: np.random.Generator) -> np.ndarray:
        """One draw of the Gumbels from their posterior given that category `obs` won (top-down construction)."""
        obs = np.asarray(obs, np.int64)
        logits = self.logits(parent_values, len(obs))  # (n, K)
        top = logsumexp(logits, axis=1, keepdims=True) + rng.gumbel(size=(len(obs), 1))  # (n, 1): the max
        others = logits + rng.gumbel(size=logits.shape)  # (n, K): Gumbel(logit_k), then truncated below top
        perturbed = -np.logaddexp(-top, -others)  # (n, K): each < top
        perturbed[np.arange(len(obs)), obs] = top[:, 0]
        return perturbed - logits


Mechanism = Additive | GumbelMax


def fit_softmax(x: sparse.csr_matrix, y: np.ndarray, k: int, l2: float, init: np.ndarray | None = None,
                max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression: (weight (K, D), bias (K,)) minimising mean cross-entropy + l2/2 |w|^2.

    The bias is penalised too, with the same l2: a category absent from the training rows (workclass
    "Never-worked" once incomplete rows are dropped) then gets a large negative logit, not an infinite one.
    `init` (weight and bias flattened, as a previous fit's `np.concatenate([w.ravel(), b])`) starts L-BFGS
    near the answer: the fits of an L2 grid start from their neighbour's solution.
    """
    n, d = x.shape
    rows = np.arange(n)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:k * d].reshape(k, d), theta[k * d:]
        z = x @ w.T + b  # (n, K)
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        total = e.sum(1)  # (n,)
        value = float((np.log(total) - z[rows, y]).mean()) + 0.5 * l2 * (theta @ theta)
        err = e / total[:, None]  # (n, K): the probabilities, minus the one-hot target, over n below
        err[rows, y] -= 1.0
        err /= n
        return value, np.concatenate([(x.T @ err).T.ravel(), err.sum(0)]) + l2 * theta  # (K*D + K,)

    start = np.zeros(k * d + k) if init is None else init
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return result.x[:k * d].reshape(k, d), result.x[k * d:]


def fit_ridge(x: sparse.csr_matrix, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """(coef (D,), intercept) minimising mean squared error + l2 |coef|^2 (the intercept is not penalised)."""
    n, my = len(y), float(y.mean())
    mx = np.asarray(x.mean(0)).ravel()  # (D,)
    gram = (x.T @ x).toarray() / n - np.outer(mx, mx)  # (D, D): the centred features' covariance
    cross = x.T @ y / n - mx * my  # (D,)
    coef = np.linalg.solve(gram + l2 * np.eye(x.shape[1]), cross)
    return coef, float(my - mx @ coef)


def fit_mechanism(spec: ColumnSpec, parents: Sequence[ParentEncoding], train: Values, val: Values,
                  l2_grid: Sequence[float], gaussian: bool = False) -> tuple[Mechanism, float]:
    """The mechanism of column `spec` given `parents`, its L2 chosen on `val`; returns (mechanism, val score).

    The score is the validation mean log-likelihood (categorical) or mean squared error (continuous).
    A continuous root with empirical noise keeps intercept 0, so that its noise is its value.
    """
    parents = tuple(parents)
    x, y = design(parents, train, len(train[spec.name])), np.asarray(train[spec.name])
    xv, yv = design(parents, val, len(val[spec.name])), np.asarray(val[spec.name])
    if spec.discrete and not parents:
        # A categorical root's logits are its training frequencies (half a row added to every category, so
        # one absent from training stays possible but rare); a penalty would only pull them towards uniform.
        counts = np.bincount(y, minlength=spec.levels) + 0.5
        bias = np.log(counts / counts.sum())
        return GumbelMax((), np.zeros((spec.levels, 0)), bias), float(bias[yv].mean())
    if spec.discrete:
        fits: list[tuple[float, np.ndarray, np.ndarray]] = []
        for l2 in sorted(l2_grid, reverse=True):  # strongest penalty first: the easiest fit, then warm starts
            init = np.concatenate([fits[-1][1].ravel(), fits[-1][2]]) if fits else None
            fits.append((l2, *fit_softmax(x, y, spec.levels, l2, init)))
        scores = [float(log_softmax(xv @ w.T + b, axis=1)[np.arange(len(yv)), yv].mean()) for _, w, b in fits]
        best = int(np.argmax(scores))
        l2, w, b = fits[best]
        return GumbelMax(parents, w, b, l2), scores[best]
    if not parents:  # noise = value (intercept 0), or Normal(mean, sd) as intercept + Gaussian noise
        mech = Additive((), np.zeros(0), float(y.mean()) if gaussian else 0.0, float(y.std()),
                        None if gaussian else _atoms(y))
        return mech, float(((yv - y.mean()) ** 2).mean())
    fits = [(l2, *fit_ridge(x, y, l2)) for l2 in l2_grid]
    scores = [float(((yv - xv @ c - i) ** 2).mean()) for _, c, i in fits]
    best = int(np.argmin(scores))
    l2, coef, intercept = fits[best]
    resid = y - x @ coef - intercept
    return Additive(parents, coef, intercept, float(resid.std()), None if gaussian else _atoms(resid), l2), scores[best]


def _atoms(x: np.ndarray) -> np.ndarray:
    """ATOMS equal-mass points of x's distribution: actual values (inverted CDF), so whole numbers stay whole."""
    return np.quantile(np.asarray(x, np.float64), (np.arange(ATOMS) + 0.5) / ATOMS, method="inverted_cdf")


# --- to and from a card (JSON) + arrays (safetensors) ---------------------------------------------------
def mechanism_to_card(node: str, mech: Mechanism) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-able description, arrays keyed "<node>.<array>") of a mechanism."""
    meta = {"kind": mech.kind, "parents": [asdict(p) for p in mech.parents], "l2": mech.l2}
    if isinstance(mech, Additive):
        meta.update(intercept=mech.intercept, noise_sd=mech.noise_sd, noise="gaussian" if mech.atoms is None
                    else f"empirical residuals ({len(mech.atoms)} equal-mass points)")
        arrays = {f"{node}.coef": mech.coef} | ({} if mech.atoms is None else {f"{node}.atoms": mech.atoms})
        return meta, arrays
    return meta, {f"{node}.weight": mech.weight, f"{node}.bias": mech.bias}


def mechanism_from_card(node: str, meta: dict, arrays: Mapping[str, np.ndarray]) -> Mechanism:
    """The inverse of `mechanism_to_card`; a missing key raises KeyError (the caller names the rebuild)."""
    parents = tuple(ParentEncoding(**{**p, "knots": tuple(p["knots"])}) for p in meta["parents"])
    if meta["kind"] == "additive":
        return Additive(parents, arrays[f"{node}.coef"], float(meta["intercept"]), float(meta["noise_sd"]),
                        arrays.get(f"{node}.atoms"), float(meta["l2"]))
    return GumbelMax(parents, arrays[f"{node}.weight"], arrays[f"{node}.bias"], float(meta["l2"]))
