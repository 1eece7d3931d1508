"""Black-box AIP: AIP's objective, minimised by CMA-ES, for classifiers that give no gradients.

AIP (`aip.py`) descends the classifier's gradient; an ONNX model run by onnxruntime has none. This search keeps
AIP's objective - the margin toward the target (or away from the class read now), each attribute's change on its
own scale (hue round the circle), a new digit's cost, the latent's distance from the factual - and minimises it
with CMA-ES (the `cma` package), which only ranks candidates: the classifier is only read. Written here from the
method's idea. Each query has its own strategy over one vector (`Genome`), starting at the factual (0): the
unlocked continuous attributes (positions in their ranges, reflected at the ends; hue wraps round), the digit
(ten logits, arg-max drawn) and a few latent directions (`directions`). Every generation draws all candidates
in one decoder call and reads them in one classifier call. Attributes a candidate does not change follow the SCM
(`render_candidates`, as in the random search) and values are rounded as the sliders show them, so what is
scored is what the re-made answer will be. A query stops once a clear flip (the target leads by the margin) has
not improved for PATIENCE generations; the cheapest flip is then re-made by the SCM, re-drawn and re-checked
(`answer`): `found` is that re-check, never the search's own belief.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib

import numpy as np
import torch

from explorer.counterfactual.search import vouching
from explorer.counterfactual.search.base import Query, SearchConfig, SearchResult, flipped, margin_loss, read, targets
from explorer.counterfactual.search.descent import UNFINISHED, answer, candidate_values, do_distance, render_candidates
from explorer.counterfactual.search.space import MorphoSpace
from explorer.interfaces import Classifier
from explorer.scm.morpho import SPECS
from explorer.types import VarSpec

with warnings.catch_warnings():  # cma warns at import that matplotlib (for its plots, unused here) is missing
    warnings.simplefilter("ignore")
    import cma

POPULATION = 16  # candidates per query per generation (cma's default for ~20 coordinates is 12: a few more, as the
# digit's arg-max makes the landscape piecewise flat; 32 did no better on 20 colour digits)
PATIENCE = 10  # generations without a cheaper clear flip after which a query stops
IMPROVES = 1e-3  # a key lower by less is no improvement (a tenth of a thickness slider step costs 2e-3)
DIRECTIONS = 6  # latent directions: on 100 test digits the top 6 of 16 hold 97% (>= 92%) of the decoder's response
FD_STEP = 0.05  # finite-difference step in the style vector (its values spread with sd ~0.65 over test digits)
# One unit of every coordinate is a sensible first move: a tenth of an attribute's range, half a logit of the digit,
# half a standard deviation of style. CMA-ES then adapts the step size and the shape of its search itself.
SCALE = {"attribute": 0.1, "digit": 0.5, "latent": 0.5}
# How far the latent may move along each direction. AIP's latent cost (mean square over all Z = 114 numbers) is
# nearly free here: unbounded, CMA-ES moved the style by norms of 5-14 with the digit locked, and the oracle then read
# another digit in 80% of answers (a new digit by the back door). Within +-1 (the style vector's values spread with
# sd ~0.65 over test digits) the offset is at most sqrt(6) ~ 2.4, about gradient AIP's (~3, measured in `any`).
LATENT_BOUND = 1.0
DIGIT_LEAD = 1.0  # the factual digit's starting logit lead: other digits are sampled from the first generation on
DECIMALS = 2  # attribute values as the sliders show them
MAX_WIDENING = 2  # a restart's step size doubles, up to 4x the first


def reflect(u: np.ndarray) -> np.ndarray:
    """Any real -> [0, 1], by folding back at both ends (a triangle wave of period 2); identity on [0, 1]."""
    r = np.mod(u, 2.0)
    return np.where(r <= 1.0, r, 2.0 - r)


class Genome:
    """Decodes CMA-ES coordinates (A, P, D) into candidate do() sets and latent offsets.

    The digit is ten logits whose arg-max the decoder draws, not one integer coordinate and not a mixture: digits
    have no order (3 is not "between" 2 and 4), so an integer axis would make neighbours of unrelated shapes; and a
    mixture of digits in the decoder's condition draws images no do(digit) can make, so a flip found there need not
    survive hardening (gradient AIP bridges this with a straight-through estimator, which needs gradients). Under
    CMA-ES's Gaussian, ten logits are a categorical distribution over digits that the strategy learns: its mean
    moves toward the digits that flip the classifier cheaply.
    """

    def __init__(self, query: Query, space: MorphoSpace, attributes: list[str], digit: bool,
                 directions: torch.Tensor | None):
        self.query, self.space, self.attributes, self.digit = query, space, attributes, digit
        self.directions = directions  # (B, K, Z) orthonormal rows, or None with the latent locked
        self.size = len(attributes) + (10 if digit else 0) + (0 if directions is None else directions.shape[1])

    def decode(self, x: np.ndarray, active: np.ndarray
               ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], torch.Tensor | None]:
        """(A, P, D) coordinates -> ({attribute: (A, P) value}, {attribute: (A, P) set?}, (A, P, Z) offset or None).

        A value less than half a slider step from the factual is no change (it would not show on the page's
        slider): it is not set, and follows its causes, exactly as the re-made answer will.
        """
        do, mask, col = {}, {}, 0
        for a in self.attributes:
            start = np.asarray(self.query.obs[a], np.float64)[active, None]  # (A, 1)
            low, high = self.space.bounds(a)
            if a == "hue":  # a circle: red sits at both ends of the wheel
                value = np.mod(np.mod(start + SCALE["attribute"] * x[..., col], 1.0).round(DECIMALS), 1.0)  # (A, P)
                d = np.abs(value - start)
                d = np.minimum(d, 1.0 - d)
            else:
                u = reflect((start - low) / (high - low) + SCALE["attribute"] * x[..., col])  # (A, P) in [0, 1]
                value = (low + (high - low) * u).round(DECIMALS)
                d = np.abs(value - start)
            do[a], mask[a], col = value, d >= SPECS[a].step / 2, col + 1
        if self.digit:
            factual = np.asarray(self.query.obs["digit"]).astype(int)[active]  # (A,)
            logits = SCALE["digit"] * x[..., col:col + 10]  # (A, P, 10)
            logits[np.arange(len(active)), :, factual] += DIGIT_LEAD
            do["digit"] = logits.argmax(-1)  # (A, P)
            mask["digit"], col = do["digit"] != factual[:, None], col + 10
        if self.directions is None:
            return do, mask, None
        # reflected into [-LATENT_BOUND, LATENT_BOUND] along each direction, as attributes are into their ranges
        coef = LATENT_BOUND * (2.0 * reflect(0.5 + SCALE["latent"] * x[..., col:] / (2.0 * LATENT_BOUND)) - 1.0)
        coef = torch.as_tensor(coef, dtype=torch.float32)  # (A, P, K)
        return do, mask, torch.einsum("apk,akz->apz", coef, self.directions[active])  # (A, P, Z)


class Kept:
    """Per query, the best candidate so far by the key (see `BlackBoxAIPSearch.score`), across restarts.

    Attributes:
        key: (B,) its key (inf: none yet); clear: (B,) it flips with the margin met; calm: (B,) generations since the
            key last improved; first: (B,) the generation of the first flip (-1: none).
        do: its do() sets; shift: (B, Z) its latent offset, on the CPU; images: (B, C, 28, 28) its picture.
    """

    def __init__(self, n: int, latents0: torch.Tensor, images: torch.Tensor):
        self.key, self.first = np.full(n, np.inf), np.full(n, -1)
        self.clear, self.calm = np.zeros(n, bool), np.zeros(n, int)
        self.do, self.shift, self.images = [{} for _ in range(n)], torch.zeros(latents0.shape), images

    def update(self, gen: int, active: np.ndarray, key: np.ndarray, flips: np.ndarray, hinge: np.ndarray,
               do: dict[str, np.ndarray], mask: dict[str, np.ndarray], shift: torch.Tensor | None,
               images: torch.Tensor) -> None:
        """Takes each active query's best candidate of this generation (each array (A, P)) where it is better."""
        per = key.shape[1]
        for row, (i, j) in enumerate(zip(active, key.argmin(1))):
            self.calm[i] += 1
            if self.first[i] < 0 and flips[row].any():
                self.first[i] = gen
            if key[row, j] >= self.key[i] - IMPROVES:
                continue
            self.key[i], self.calm[i], self.clear[i] = key[row, j], 0, flips[row, j] and hinge[row, j] == 0
            self.do[i] = {a: (int if a == "digit" else float)(do[a][row, j]) for a in do if mask[a][row, j]}
            self.shift[i] = 0 if shift is None else shift[row, j]
            self.images[i] = images[row * per + j]


class BlackBoxAIPSearch:
    """AIP's objective under CMA-ES over the image world's generator, for classifiers without gradients."""

    name = "aip-blackbox"

    def __init__(self, space: MorphoSpace):
        self.space = space

    def config_spec(self) -> dict[str, VarSpec]:
        d = SearchConfig()  # the defaults the search runs with when the caller sets nothing
        specs = [("steps", 1, 500, d.steps, 1, f"generations of {POPULATION} candidates"),
                 ("margin", 0.0, 5.0, d.margin, 0.1, "logit margin of the flip"),
                 ("attr_weight", 0.0, 5.0, d.attr_weight, 0.1, "cost of an attribute change"),
                 ("latent_weight", 0.0, 1.0, d.latent_weight, 0.01, "cost of a latent change"),
                 ("seed", 0, 10_000, d.seed, 1, "random seed")]
        return {name: VarSpec(name, "continuous", *rest) for name, *rest in specs}

    def search(self, query: Query, classifier: Classifier, target: int | np.ndarray | None,
               config: SearchConfig) -> SearchResult:
        """The cheapest do() set (+ latent offset) found that makes `classifier` read `target` (None: any other)."""
        n, locks = len(query), set(config.locks)
        noise, latents0 = self.space.abduct(query)  # SCM noise; (B, Z) image latents
        current = read(classifier, query.images())  # (B,) what the classifier reads now
        goal = targets(target, n)
        attributes = [a for a in self.space.attributes(query) if a not in locks]
        free = (["digit"] if "digit" not in locks else []) + attributes + (["latent"] if "latent" not in locks else [])
        if not free:
            return answer(self.name, self.space, query, classifier, noise, latents0, [{} for _ in range(n)], current,
                          goal, np.full(n, -1), [], config, None)
        # digit and latent locked: every answer is a pure do(), which the generator must vouch for (vouching.py):
        # the margin at least its bias on this classifier, a flip only where the world could draw it (as the style
        # scan rules: a thick, dim digit flips classifiers on the generator's drawing and not on the TRUE one), and
        # declined at the end where the generator may have made it
        check = vouching.measure(self.space, query, classifier, latents0, current) if free == attributes else None
        if check is not None:
            config = dataclasses.replace(config, margin=max(config.margin, check.bias))
        in_world = check is not None and config.plausibility_weight > 0
        genome = Genome(query, self.space, attributes, "digit" in free,
                        self.directions(query, latents0) if "latent" in free else None)
        # one strategy per query, its random stream seeded by the digit's own pixels: a query gets the same answer
        # alone (the page) as in a batch (`evaluate search`), wherever it sits in the batch
        ids = [zlib.crc32(query.grey[i].cpu().numpy().tobytes()) for i in range(n)]
        starts, over = np.zeros(n, int), np.zeros(n, bool)  # per query: restarts so far; finished
        strategies = [strategy(genome.size, config.seed, ids[i], 0) for i in range(n)]
        with torch.inference_mode():  # the factual redrawn: the strip's start, until a candidate does better
            factual = render_candidates(self.space, query, noise, latents0, np.arange(n), {}, {})  # (B, C, 28, 28)
        kept = Kept(n, latents0, factual.clone())  # cloned outside inference mode, so that rows can be replaced
        snapshots, stride = [], 1  # the best image along the search, thinned as it goes so memory stays bounded
        for gen in range(config.steps):
            if gen % stride == 0:
                snapshots.append(kept.images.clone())
                if len(snapshots) >= 4 * max(config.frames, 1):
                    snapshots, stride = snapshots[::2], stride * 2
            active = np.flatnonzero(~over)  # (A,) queries still searching
            if active.size == 0:
                break
            x = np.stack([np.asarray(strategies[i].ask()) for i in active])  # (A, P, D)
            do, mask, shift = genome.decode(x, active)
            key, flips, hinge, images = self.score(query, classifier, noise, latents0, active, do, mask, shift,
                                                   current, goal, config, in_world, check)
            for row, i in enumerate(active):
                strategies[i].tell(list(x[row]), key[row].tolist())
            kept.update(gen, active, key, flips, hinge, do, mask, shift, images)
            for i in active:
                settled = kept.clear[i] and kept.calm[i] >= PATIENCE
                if not (settled or strategies[i].stop()):
                    continue
                # Settled on a clear flip: done. Converged without one (a basin where the cost outweighs the margin
                # still missing): start again from the factual with wider steps, as IPOP-CMA-ES restarts (widening
                # the steps, not the population, keeps the batch's shape). A second run after a clear flip cut the
                # distance by ~0.01 on 20 colour digits (within the spread between seeds) for up to 2x the time.
                over[i] = kept.clear[i]
                starts[i] += 1
                strategies[i], kept.calm[i] = strategy(genome.size, config.seed, ids[i], starts[i]), 0
        flipped_any = kept.key < UNFINISHED  # (B,) some candidate flipped the classifier: keep it, else the factual
        if flipped_any.any():
            self.prune(query, classifier, noise, latents0, np.flatnonzero(flipped_any), kept, current, goal, config,
                       free, in_world, check)
        at = np.linspace(0, len(snapshots) - 1, max(config.frames - 1, 0) if snapshots else 0).round().astype(int)
        tried = f"in {config.steps} generations of CMA-ES ({POPULATION} candidates each) over {', '.join(free)}"
        result = answer(self.name, self.space, query, classifier, noise, latents0,
                        [d if ok else {} for d, ok in zip(kept.do, flipped_any)], current, goal, kept.first,
                        [snapshots[k] for k in at], config, tried, kept.shift * torch.as_tensor(flipped_any)[:, None])
        return result if check is None else vouching.decline(check, result, classifier, current, self.space.device)

    def score(self, query: Query, classifier: Classifier, noise: dict[str, np.ndarray], latents0: torch.Tensor,
              active: np.ndarray, do: dict[str, np.ndarray], mask: dict[str, np.ndarray], shift: torch.Tensor | None,
              current: np.ndarray, goal: np.ndarray, config: SearchConfig, in_world: bool = False,
              check: vouching.Vouching | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
        """AIP's objective of (A, P) candidates, drawn in one decoder call and read in one classifier call.

        Returns (key, flips, hinge), each (A, P), and the images (A*P, C, 28, 28). The key is the objective plus
        UNFINISHED where the classifier does not read the goal: CMA-ES ranks, so every flip ranks before every
        non-flip (a constraint), and among flips the cheapest, clearest one wins. With `in_world`, a candidate the
        world could not draw (implausibility above 0) is no flip either; with `check` (style only), the margin is
        raised to the generator's counterfactual bias at each candidate's thickness (`vouching.Vouching.floor`).
        """
        per = next(iter(mask.values())).shape[1] if mask else shift.shape[1]
        moved = latents0[active, None] + (0 if shift is None else shift.to(latents0.device))  # (A, P or 1, Z)
        values = candidate_values(self.space, query, noise, active, per, do, mask)  # {variable: (A*P,)}
        with torch.inference_mode():  # a black-box search only reads
            images = self.space.render(moved.expand(-1, per, -1).flatten(0, 1), values,
                                       query.coloured)  # (A*P, C, 28, 28)
            logits = classifier.logits(images).float().cpu()  # (A*P, K)
        cur, want = (torch.as_tensor(v[active]).repeat_interleave(per) for v in (current, goal))  # (A*P,) each
        need = config.margin if check is None else check.floor(values["thickness"].cpu(), config.margin)  # (A*P,)
        hinge = margin_loss(logits, cur, want, need).numpy().reshape(-1, per)  # (A, P)
        flips = flipped(logits.argmax(1).numpy().reshape(-1, per), current[active, None], goal[active, None])
        if in_world:
            odd = self.space.implausibility({k: values[k].cpu() for k in ("thickness", "intensity")})  # (A*P,)
            flips &= (odd == 0).numpy().reshape(-1, per)
        cost = self.cost(query, active, do, mask, shift, config, per)  # (A, P)
        return hinge + cost + UNFINISHED * ~flips, flips, hinge, images

    def prune(self, query: Query, classifier: Classifier, noise: dict[str, np.ndarray], latents0: torch.Tensor,
              rows: np.ndarray, kept: Kept, current: np.ndarray, goal: np.ndarray, config: SearchConfig,
              free: list[str], in_world: bool = False, check: vouching.Vouching | None = None) -> None:
        """Tries every subset of each kept answer's changes (the rest put back to the factual) in one batch, and
        keeps the best by the same key, in place. CMA-ES samples every coordinate at once, so its answers carry
        small incidental changes that its Gaussian rarely zeroes; the full set is among the subsets, so this
        never does worse. (A: the kept queries; P = 2^F subsets of the F free items.)"""
        bits = (np.arange(2 ** len(free))[:, None] >> np.arange(len(free))) & 1 == 1  # (P, F): item f kept?
        do, mask = {}, {}
        for f, a in enumerate(free):
            if a == "latent":
                continue
            factual = np.asarray(query.obs[a], np.float64)[rows]  # (A,)
            chosen = np.array([kept.do[i].get(a, np.nan) for i in rows])  # (A,) NaN: this answer did not set it
            mask[a] = ~np.isnan(chosen)[:, None] & bits[None, :, f]  # (A, P)
            do[a] = np.where(mask[a], np.nan_to_num(chosen)[:, None], factual[:, None])  # (A, P)
        shift = None
        if "latent" in free:
            on = torch.as_tensor(bits[:, free.index("latent")], dtype=torch.float32)  # (P,)
            shift = kept.shift[rows, None] * on[None, :, None]  # (A, P, Z)
        key, _, _, _ = self.score(query, classifier, noise, latents0, rows, do, mask, shift, current, goal, config,
                                  in_world, check)
        for row, (i, j) in enumerate(zip(rows, key.argmin(1))):
            kept.do[i] = {a: (int if a == "digit" else float)(do[a][row, j]) for a in do if mask[a][row, j]}
            kept.shift[i] = 0 if shift is None else shift[row, j]

    def cost(self, query: Query, active: np.ndarray, do: dict[str, np.ndarray], mask: dict[str, np.ndarray],
             shift: torch.Tensor | None, config: SearchConfig, per: int) -> np.ndarray:
        """(A, P) AIP's distance terms: attribute changes over their ranges, a new digit, the latent moved."""
        shape = (len(active), per)
        style = {a: v for a, v in do.items() if a != "digit"}
        total = config.attr_weight * do_distance(self.space, query, active, style, mask) if style else np.zeros(shape)
        if "digit" in do:
            total = total + config.digit_weight * mask["digit"]
        if shift is not None:
            total = total + config.latent_weight * (shift ** 2).mean(-1).numpy()  # as AIP: mean square over Z
        return total

    def directions(self, query: Query, latents0: torch.Tensor) -> torch.Tensor:
        """(B, K, Z) the K directions of the style vector along which each factual's picture changes most.

        The generator is ours and cheap to probe even when the classifier is not: the top right-singular vectors
        of the decoder's Jacobian with respect to the global style vector (z_top), by finite differences in one
        decoder call of B x (Zt + 1) images. Without the classifier's gradient, candidates are best spent where
        the picture moves. The 7x7 local map (z_loc) is left at the factual: its 98 numbers move the stroke locally,
        and probing them would cost 98 images a query (unsure whether it would pay; not measured).
        """
        n, z = latents0.shape
        zt = self.space.generator.cfg.z_top
        probe = latents0[:, None].repeat(1, zt + 1, 1)  # (B, Zt + 1, Z): the factual, then a step along each axis
        probe[:, 1:, :zt] += FD_STEP * torch.eye(zt, device=latents0.device)
        parents = self.space.parents({k: torch.as_tensor(np.asarray(query.obs[k]))
                                      for k in ("digit", "thickness", "intensity")})
        parents = {k: v.repeat_interleave(zt + 1, 0) for k, v in parents.items()}
        with torch.inference_mode():
            drawn = self.space.generator.decode(probe.flatten(0, 1), parents).reshape(n, zt + 1, -1)  # (B, Zt+1, HW)
        jac = (drawn[:, 1:] - drawn[:, :1]) / FD_STEP  # (B, Zt, HW): row k is d picture / d z_top[k]
        u, _, _ = torch.linalg.svd(jac, full_matrices=False)  # (B, Zt, Zt): columns by falling singular value
        out = torch.zeros(n, DIRECTIONS, z, device=latents0.device)
        out[:, :, :zt] = u[:, :, :DIRECTIONS].transpose(1, 2)  # (B, K, Zt) orthonormal rows
        return out.cpu()


def strategy(size: int, seed: int, query: int, start: int) -> cma.CMAEvolutionStrategy:
    """A fresh CMA-ES at the factual (0) with step size 2^start (capped), our population, a seeded random stream of
    its own (never numpy's global one) and no output (no files, no printing)."""
    rng = np.random.default_rng([seed, query, start])
    return cma.CMAEvolutionStrategy(np.zeros(size), 2.0 ** min(start, MAX_WIDENING), {
        "popsize": POPULATION, "randn": lambda *shape: rng.standard_normal(shape), "seed": np.nan, "verbose": -9,
        "verb_log": 0, "verb_disp": 0})
