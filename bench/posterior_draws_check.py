"""Do AIP's style-only flips hold across the generator's own uncertainty about the handwriting, and does that select
the flips that hold on TRUE?

For each classifier, AIP's style-only search (digit and image latent locked) runs on validation digits exactly as
`evaluate_search` runs it (`explorer/evaluate/search.py`: the same digits from `queries`, the same chunks of 100, the
same config seed), and `holds_on_true` is that module's own check. Then every answer (every flip the shipped rule
keeps, and, as a second pool, every answer `vouching.decline` declined whose drawing still flips) is decoded again
from K latents z_k ~ q(z | x) (the encoder's posterior of the factual digit under its factual parents, not only its
mean), under the answer's values, and the classifier's reading of each of the K drawings is recorded. Rules (a
drawing "flips" when it reads a class other than the one read on the photo, as the search's final check asks):
flip on all K; on >= 90 %; on >= 75 %; lead by the search's margin on all K; the mean over the K of the rival's lead
>= the search's margin. Per classifier and rule: flips kept, how many hold on TRUE, the share with a 95 % Wilson
interval. With `--grid N` (grey world), a third pool with more rows: on N validation digits, every plausible grid
point of `true_style_flips.py` where the generator's posterior-mean drawing flips by the search's margin (where a
search could stop), read on K posterior drawings and on TRUE in the same way.

Run: `cd /work/main && OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 19 .venv/bin/python bench/posterior_draws_check.py
[--n 1000] [--seed 0] [--k 16] [--classifiers morpho-cnn,digit-recognizer-py] [--grid N] [--out PATH]`; writes
bench/results/posterior_draws_val.json by default. Validation digits only: no test digit is read.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
from true_style_flips import grid  # bench/, on the path when this script runs

from explorer.counterfactual.search.aip import AIPSearch
from explorer.counterfactual.search.base import Query, SearchConfig, lead, read
from explorer.counterfactual.search.space import MorphoSpace
from explorer.counterfactual.search.vouching import PREFIX, measure
from explorer.data.mnist import load_mnist
from explorer.device import pick_device
from explorer.evaluate.search import _batched, holds_on_true, queries
from explorer.models.cvae import encode_parents
from explorer.registry import MORPHO, THIRD_PARTY, load_classifier, load_generator
from explorer.scm import morphology

SPLIT = "val"  # never the test digits
OUT = Path(__file__).resolve().parent / "results" / "posterior_draws_val.json"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share k / n ((nan, nan) when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    p, d = k / n, 1 + z * z / n
    c, h = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def posterior_latents(space: MorphoSpace, query: Query, k: int, gen: torch.Generator, scale: float = 1.0
                      ) -> torch.Tensor:
    """(B, K, Z) latents in the generator's `abduct` convention (z_top, then z_loc as a residual to its conditional
    prior) from K draws of q(z | x, factual parents); `scale` = 0 gives the posterior mean, i.e. `abduct`'s latents.

    `MorphoCVAE.abduct` returns only the mean, so the sampling is done here from its encoder and prior."""
    g, obs = space.generator, query.obs
    parents = space.parents({a: torch.as_tensor(np.asarray(obs[a])) for a in ("digit", "thickness", "intensity")})
    cond = encode_parents(parents, g.cfg)
    out = []
    with torch.inference_mode():
        (mu_t, lv_t), (mu_l, lv_l) = g.encoder(query.grey.to(space.device) / 255.0, cond)
        for _ in range(k):
            z_t = mu_t + scale * torch.randn(mu_t.shape, generator=gen).to(mu_t.device) * (0.5 * lv_t).exp()
            z_l = mu_l + scale * torch.randn(mu_l.shape, generator=gen).to(mu_l.device) * (0.5 * lv_l).exp()
            if g.cfg.abduct_residual:
                pm, plv = g.decoder.loc_prior(z_t, cond)
                z_l = (z_l - pm) / (0.5 * plv).exp()
            out.append(torch.cat([z_t, z_l.flatten(1)], 1))
    return torch.stack(out, 1)


def rival_lead(logits: torch.Tensor, current: np.ndarray) -> np.ndarray:
    """(N,) how far the best class other than `current` leads it (> 0: the drawing reads another class)."""
    return (-lead(logits.float().cpu(), torch.as_tensor(current))).numpy()


def check_classifier(name: str, space: MorphoSpace, n: int, seed: int, k: int, log: Callable[[str], None]) -> dict:
    """One classifier: the search on `n` validation digits, then K posterior drawings of every answer."""
    device, start = space.device, time.time()
    clf = load_classifier(name, device)
    query, index = queries(n, name == MORPHO["classifier_hue"], seed, SPLIT)
    sources = load_mnist(SPLIT).images
    skels = [morphology.skeleton(sources[i]) for i in index]
    # evaluate_search's style-only call: locks, default steps, its config seed (seed + 1), chunks of 100
    config = SearchConfig(locks=("digit", "latent"), seed=seed + 1)
    result, search_s = _batched(AIPSearch(space), query, clf, None, config)
    log(f"{name}: search {search_s:.0f} s, {int(result.found.sum())} flips")
    current = read(clf, query.images())
    holds = holds_on_true(clf, result, query, skels)  # (B,) the project's own check
    margin = max(config.margin, space.bias(clf, query.coloured))  # the margin AIP's style scan aims for
    declined = np.array([note.startswith(PREFIX) and bool(d) for note, d in zip(result.notes, result.do)])
    pool = np.flatnonzero(result.found | (declined & (result.pred != current)))
    sub = Query(query.grey[pool], {a: np.asarray(v)[pool] for a, v in query.obs.items()},
                {a: np.asarray(v)[pool] for a, v in query.noise.items()}, query.coloured)
    gen = torch.Generator().manual_seed(seed)
    _, mean_latents = space.abduct(sub)
    same = float((posterior_latents(space, sub, 1, gen, 0.0)[:, 0] - mean_latents).abs().max()) if len(pool) else 0.0
    draws = posterior_latents(space, sub, k, gen)  # (P, K, Z)
    values = {a: torch.as_tensor(np.asarray(result.values[a])[pool],
                                 dtype=torch.long if a == "digit" else torch.float32) for a in result.values}
    at_mean, drawn = torch.zeros(0, 10), torch.zeros(0, 10)
    with torch.inference_mode():
        if len(pool):
            at_mean = clf.logits(result.images[pool].to(device))  # the answer as the search drew it (posterior mean)
            reps = {a: v.repeat_interleave(k) for a, v in values.items()}
            images = torch.cat([space.render(draws.flatten(0, 1)[s:s + 256], {a: v[s:s + 256] for a, v in
                                                                              reps.items()}, query.coloured)
                                for s in range(0, len(pool) * k, 256)])
            drawn = torch.cat([clf.logits(images[s:s + 256]) for s in range(0, len(images), 256)]).float().cpu()
    cur_rep = np.repeat(current[pool], k)
    draw_lead = rival_lead(drawn, cur_rep).reshape(len(pool), k)
    draw_class = drawn.argmax(1).numpy().reshape(len(pool), k)
    rows = []
    for j, i in enumerate(pool):
        rows.append({"position": int(i), "digit_index": int(index[i]), "digit": int(query.obs["digit"][i]),
                     "classifier": name, "kind": "flip" if result.found[i] else "declined",
                     "read_on_photo": int(current[i]), "read_on_answer": int(result.pred[i]), "do": result.do[i],
                     "thickness": float(result.values["thickness"][i]),
                     "intensity": float(result.values["intensity"][i]),
                     **({"hue": float(result.values["hue"][i])} if "hue" in result.values else {}),
                     "margin_at_mean": float(rival_lead(at_mean[j:j + 1], current[i:i + 1])[0]),
                     "draw_classes": draw_class[j].tolist(), "draw_margins": [round(float(m), 3) for m in draw_lead[j]],
                     "holds_on_true": bool(holds[i]), "note": result.notes[i]})
    log(f"{name}: {len(rows)} answers drawn {k} times, {time.time() - start:.0f} s in all")
    return {"classifier": name, "n": len(query), "margin": margin, "flips": int(result.found.sum()),
            "flips_hold": int((result.found & holds).sum()), "declined_answers": int(len(pool) - result.found.sum()),
            "posterior_mean_matches_abduct_max_abs": same, "search_seconds": search_s,
            "seconds": time.time() - start, "rows": rows}


def grid_pool(name: str, space: MorphoSpace, n: int, seed: int, k: int, log: Callable[[str], None]) -> dict:
    """A larger pool than the search's few answers (grey world only): on `n` validation digits, every plausible
    point of `true_style_flips.grid()` (80 do(thickness, intensity) sets) where the generator's drawing from the
    posterior mean reads another class by the search's margin, i.e. every point a style-only search through the
    generator could stop at; each is drawn from K posterior latents and checked on TRUE with `holds_on_true`."""
    start, clf = time.time(), load_classifier(name, space.device)
    query, index = queries(n, False, seed, SPLIT)
    sources, points = load_mnist(SPLIT).images, grid()
    p = len(points["thickness"])
    margin = max(SearchConfig.margin, space.bias(clf, False))
    current = read(clf, query.images())
    gen, rows = torch.Generator().manual_seed(seed + 1), []
    _, latents = space.abduct(query)  # (B, Z) posterior means
    check = measure(space, query, clf, latents, current)  # the shipped rule's checks of the factual redrawing
    for i in range(len(query)):
        values = {"digit": torch.full((p,), int(query.obs["digit"][i])),
                  **{a: torch.as_tensor(v) for a, v in points.items()}}
        with torch.inference_mode():
            mean_lead = rival_lead(clf.logits(space.render(latents[i:i + 1].expand(p, -1), values, False)),
                                   np.repeat(current[i], p))
        hit = np.flatnonzero(mean_lead >= margin)
        if not len(hit):
            continue
        one = Query(query.grey[i:i + 1], {a: np.asarray(v)[i:i + 1] for a, v in query.obs.items()}, {}, False)
        draws = posterior_latents(space, one, k, gen)[0]  # (K, Z)
        sub = {a: v[hit].repeat_interleave(k) for a, v in values.items()}
        with torch.inference_mode():
            logits = clf.logits(space.render(draws.repeat(len(hit), 1), sub, False)).float().cpu()  # (H*K, C)
            at_mean = clf.logits(space.render(latents[i:i + 1].expand(len(hit), -1), {a: v[hit] for a, v in
                                                                                      values.items()}, False))
        answer = SimpleNamespace(values={a: points[a][hit] for a in points}, pred=at_mean.argmax(1).cpu().numpy())
        holds = holds_on_true(clf, answer, one, [morphology.skeleton(sources[index[i]])] * len(hit))
        dl = rival_lead(logits, np.repeat(current[i], len(hit) * k)).reshape(len(hit), k)
        dc = logits.argmax(1).numpy().reshape(len(hit), k)
        rows += [{"digit_index": int(index[i]), "digit": int(query.obs["digit"][i]), "classifier": name,
                  # "grid": the shipped vouching would let it through (redrawing anchored, flip beyond its drop)
                  "kind": "grid" if check.anchored[i] and mean_lead[j] >= check.drop[i] else "grid-declined",
                  "read_on_photo": int(current[i]), "read_on_answer": int(answer.pred[h]),
                  "thickness": float(points["thickness"][j]), "intensity": float(points["intensity"][j]),
                  "margin_at_mean": float(mean_lead[j]), "draw_classes": dc[h].tolist(),
                  "draw_margins": [round(float(m), 3) for m in dl[h]], "holds_on_true": bool(holds[h])}
                 for h, j in enumerate(hit)]
    log(f"{name}: grid pool {len(rows)} points on {len({r['digit_index'] for r in rows})} digits, "
        f"{time.time() - start:.0f} s")
    return {"n": n, "margin": margin, "grid_points": p, "seconds": time.time() - start, "rows": rows}


RULES: dict[str, Callable[[dict, float], bool]] = {
    "shipped (no draw rule)": lambda r, m: True,
    "flip on all K": lambda r, m: all(c != r["read_on_photo"] for c in r["draw_classes"]),
    "flip on >= 90 % of K": lambda r, m: np.mean([c != r["read_on_photo"] for c in r["draw_classes"]]) >= 0.9,
    "flip on >= 75 % of K": lambda r, m: np.mean([c != r["read_on_photo"] for c in r["draw_classes"]]) >= 0.75,
    "lead >= margin on all K": lambda r, m: min(r["draw_margins"]) >= m,
    "mean lead over K >= margin": lambda r, m: float(np.mean(r["draw_margins"])) >= m,
}


def table(per: dict, kinds: tuple[str, ...]) -> list[dict]:
    """Per rule: flips kept among the rows of `kinds`, how many hold on TRUE, the share and its Wilson interval (over
    rows; grid rows of one digit are not independent, so also the digits kept and those whose kept rows all hold)."""
    out = []
    for rule, keep in RULES.items():
        rows = [r for r in per["rows"] if r["kind"] in kinds and keep(r, per["margin"])]
        h = sum(r["holds_on_true"] for r in rows)
        lo, hi = wilson(h, len(rows))
        out.append({"rule": rule, "kept": len(rows), "hold": h, "digits": len({r["digit_index"] for r in rows}),
                    "digits_all_hold": len({r["digit_index"] for r in rows}
                                           - {r["digit_index"] for r in rows if not r["holds_on_true"]}),
                    "holds_on_true": h / len(rows) if rows else float("nan"), "wilson95": [lo, hi]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=16, help="posterior drawings per answer")
    parser.add_argument("--classifiers", default=f"{MORPHO['classifier']},{THIRD_PARTY}")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--grid", type=int, default=0, help="also the grid pool on this many digits (grey world)")
    args = parser.parse_args()
    start, device = time.time(), pick_device()
    space = MorphoSpace(load_generator(device)[0], device)  # the shipped generator, the shipped rule (no cf bias)
    log = lambda m: print(f"[{time.strftime('%H:%M:%S')}] {m}", flush=True)  # noqa: E731
    report: dict = {"command": " ".join(sys.argv), "split": SPLIT, "n": args.n, "seed": args.seed, "k": args.k,
                    "draw_seed": args.seed, "classifiers": {}}
    for name in args.classifiers.split(","):
        per = check_classifier(name, space, args.n, args.seed, args.k, log)
        per["tables"] = {"flips": table(per, ("flip",)), "flips and declined answers": table(per, ("flip", "declined"))}
        if args.grid and name != MORPHO["classifier_hue"]:
            per["grid_pool"] = grid_pool(name, space, args.grid, args.seed, args.k, log)
            per["tables"]["grid pool, vouched"] = table(per["grid_pool"], ("grid",))
            per["tables"]["grid pool, all"] = table(per["grid_pool"], ("grid", "grid-declined"))
        report["classifiers"][name] = per
        report["seconds"] = time.time() - start
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # after each classifier: a stopped run keeps some
        args.out.write_text(json.dumps(report, separators=(",", ":")) + "\n")
        for pool, rows in per["tables"].items():
            for t in rows:
                log(f"{name} [{pool}] {t['rule']}: kept {t['kept']} ({t['digits']} digits), hold {t['hold']}, "
                    f"{t['holds_on_true']:.2f} ({t['wilson95'][0]:.2f}-{t['wilson95'][1]:.2f})")
    log(f"wrote {args.out} ({report['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
