"""Counterfactual fairness (Kusner et al. 2017, "Counterfactual fairness") of a table classifier, through a TableSCM.

For each row: abduct its noise (continuous columns: the residual, exactly; categorical ones: `draws` posterior
Gumbel draws, seeded), do(protected = another value), run the SCM's mechanisms, and ask the model again. A row's
flip rate is the share of draws whose decision (probability >= threshold) differs from the factual one; its
|dp| is the mean absolute change of the probability over the draws. With more than two protected values, each
row is moved to every other value and its numbers are averaged over those targets.

Columns the model reads but the SCM does not model keep their factual values ("held"), except a column that is
a function of one modelled categorical column in the rows given (Adult's education_num of education): it follows
that column ("derived"). Path-specific versions cut arrows with the SCM's convention (explorer/scm/table_scm.py:
a child of a cut arrow reads its parent's factual value): "direct" cuts every arrow out of the protected column,
so only the model's own reading of it changes; "not_<child>" cuts one arrow.

Columns are matched to the SCM's variables by `column_key` (case, hyphens, underscores, dots and spaces ignored), or
by a mapping the user confirms ({column: variable}, `--map column=variable`), which takes precedence
(`match_variables`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from explorer.models.table_onnx import check_map, column_key
from explorer.scm.table_scm import TableSCM

Predict = Callable[[pd.DataFrame], np.ndarray]  # rows -> (n,) probability of the positive class
CAUSAL_MODEL = "the {} world (explorer/scm/census.py), its true mechanisms with abducted noise"  # .format(name)


@dataclass(frozen=True)
class CfConfig:
    """draws: posterior draws per row; paths: {name: arrows cut} (None: `default_paths`)."""

    protected: str = "sex"
    draws: int = 20
    seed: int = 0
    threshold: float = 0.5
    paths: Mapping[str, tuple[str, ...]] | None = None


@dataclass
class RowEffects:
    """(n,) per row: flip rate and mean |dp| over draws and targets; `paths` the same per path-specific graph."""

    flip: np.ndarray
    abs_dp: np.ndarray
    paths: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def match_variables(variables: Sequence[str], columns: Sequence[str],
                    column_map: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """{variable: (column, "map" or "name")} for every variable a column stands for: `column_map` ({column:
    variable}, confirmed by the user) first, then `column_key` among the columns the map leaves. ValueError (one line)
    for a column or variable that does not exist, or a variable mapped twice."""
    column_map, cols = dict(column_map or {}), [str(c) for c in columns]
    check_map(column_map, cols, variables, "variable", "the causal model")
    out = {v: (c, "map") for c, v in column_map.items()}
    by_key = {column_key(c): c for c in cols if c not in column_map}
    out |= {v: (by_key[column_key(v)], "name") for v in variables if v not in out and column_key(v) in by_key}
    return out


def scm_columns(scm: TableSCM, columns) -> dict[str, str]:
    """{SCM variable: table column}, matched by `column_key` (as the ONNX inputs are); ValueError naming the
    variables no column matches, since abduction needs every one."""
    by_key = {column_key(str(c)): str(c) for c in columns}
    missing = [v for v in scm.variables if column_key(v) not in by_key]
    if missing:
        raise ValueError(f"the table has no column for the {scm.name} world's variable(s) {', '.join(missing)}; "
                         "abduction needs every variable of the causal model")
    return {v: by_key[column_key(v)] for v in scm.variables}


def check_protected(scm: TableSCM, protected: str) -> None:
    if protected not in scm.columns or not scm.columns[protected].discrete:
        raise ValueError(f"protected column {protected!r} is not a categorical variable of the {scm.name} world, so "
                         f"it cannot be intervened on; choose one of "
                         f"{', '.join(c for c, s in scm.columns.items() if s.discrete)}")


def default_paths(scm: TableSCM, protected: str) -> dict[str, tuple[str, ...]]:
    """"direct": every arrow out of `protected` cut; "not_marital_status": that one arrow cut (when it exists)."""
    out = {"direct": tuple(f"{protected}:{c}" for c in scm.graph.children(protected))}
    if (protected, "marital_status") in scm.graph.edges:
        out["not_marital_status"] = (f"{protected}:marital_status",)
    return out


def derived_columns(frame: pd.DataFrame, mapping: dict[str, str], scm: TableSCM) -> dict[str, tuple[str, dict]]:
    """{held column: (SCM variable, {category: value})} for held columns that are a function of a categorical
    variable in these rows, every category of it seen (so a counterfactual category always has its value)."""
    out = {}
    used = set(mapping.values())
    for col in frame.columns:
        if col in used or frame[col].nunique() < 2:  # a constant is a function of anything: held, not derived
            continue
        for var, src in mapping.items():
            spec = scm.columns[var]
            if not spec.discrete:
                continue
            pairs = pd.DataFrame({"k": frame[src].astype(str), "v": frame[col]}).drop_duplicates()
            if pairs["k"].is_unique and len(pairs) == spec.levels and len(pairs) < len(frame):
                out[col] = (var, dict(zip(pairs["k"], pairs["v"])))
                break
    return out


def cf_frame(frame: pd.DataFrame, cf: Mapping[str, np.ndarray], mapping: dict[str, str], scm: TableSCM,
             derived: dict[str, tuple[str, dict]], pick: np.ndarray) -> pd.DataFrame:
    """The counterfactual rows for the model at flat positions `pick` (draw d's row i at d * n + i), one per
    position. Modelled columns from `cf` ((n,) when the same in every draw, else (draws, n): codes or floats),
    derived ones through their map, the rest factual."""
    n = len(frame)
    row = pick % n  # (m,)
    cols = {c: frame[c].to_numpy()[row] for c in frame.columns}
    for var, col in mapping.items():
        spec, v = scm.columns[var], cf[var]
        v = v.reshape(-1)[pick] if v.ndim == 2 else v[row]  # (m,)
        cols[col] = np.asarray(spec.categories, dtype=object)[v] if spec.discrete else v
    for col, (var, table) in derived.items():
        # the map applied to the categories once, then looked up by code (as mapping every row's name did)
        by_code = pd.Series(np.asarray(scm.columns[var].categories, dtype=object)).astype(str).map(table).to_numpy()
        v = cf[var]
        cols[col] = by_code[v.reshape(-1)[pick] if v.ndim == 2 else v[row]]
    return pd.DataFrame(cols)


def distinct_rows(cf: Mapping[str, np.ndarray], variables, draws: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(pick, inverse): flat positions d * n + i of the distinct counterfactual rows among the draws * n, and
    for every position the index of its distinct row in `pick`. Rows are the same when they are the same row i
    with the same values of `variables` (the held columns are row i's own); many draws give a row the same
    counterfactual, and a table model, a function of the row, need not be asked twice (in the "direct" graph
    every draw of a row is the same row)."""
    key = np.broadcast_to(np.arange(n, dtype=np.int64), (draws, n)).reshape(-1)  # (draws * n,): row i
    radix = n
    for var in variables:
        v = cf[var]
        if v.ndim != 2:  # the same in every draw: already told by the row
            continue
        if v.dtype.kind in "iu":  # category codes are dense already
            ids = v.reshape(-1)  # (draws * n,)
        else:  # floats: numbered by value
            ids = np.unique(v.reshape(-1), return_inverse=True)[1].reshape(-1)  # (draws * n,)
        size = int(ids.max()) + 1
        if radix * size >= 2 ** 62:  # the next product could overflow: renumber the key densely first
            key = np.unique(key, return_inverse=True)[1].astype(np.int64)
            radix = int(key.max()) + 1
        key = key * size + ids
        radix *= size
    _, pick, inverse = np.unique(key, return_index=True, return_inverse=True)
    return pick, inverse.reshape(-1)


def row_effects(frame: pd.DataFrame, predict: Predict, scm: TableSCM, config: CfConfig,
                p0: np.ndarray | None = None, derived: dict | None = None) -> tuple[RowEffects, dict]:
    """Every row's counterfactual flip rate and mean |dp| (and per path); plus what was held and derived
    (`derived`: as `derived_columns` returns, when known better than from these rows)."""
    check_protected(scm, config.protected)
    mapping = scm_columns(scm, frame.columns)
    frame = frame.reset_index(drop=True)
    obs = {v: scm.columns[v].encode(frame[c].astype(object).to_numpy() if scm.columns[v].discrete
                                     else frame[c].to_numpy(), check_range=False) for v, c in mapping.items()}
    derived = derived_columns(frame, mapping, scm) if derived is None else derived
    p0 = predict(frame) if p0 is None else p0  # (n,)
    paths = default_paths(scm, config.protected) if config.paths is None else dict(config.paths)
    graphs = {None: None, **{name: scm.cut(arrows) for name, arrows in paths.items()}}
    n, a, d = len(frame), obs[config.protected], config.draws
    sums = {g: (np.zeros(n), np.zeros(n)) for g in graphs}
    targets = np.zeros(n)
    for value in range(scm.columns[config.protected].levels):
        idx = np.flatnonzero(a != value)
        if not idx.size:
            continue
        targets[idx] += 1
        part = frame.iloc[idx].reset_index(drop=True)
        # abduction once for every graph (the posterior depends on the rows alone), vectorised over the draws
        # (explorer/scm/table_posterior.py); only the columns downstream of the protected one are drawn
        post = scm.posterior_draws({k: v[idx] for k, v in obs.items()}, d, config.seed, [config.protected])
        do = scm.encode_do({config.protected: value}, idx.size)
        for name, graph in graphs.items():
            cf = post.counterfactual(do, graph)  # action + prediction: (n_idx,) or (draws, n_idx) per column
            # the model once per distinct counterfactual row, then spread back over the draws
            pick, inverse = distinct_rows(cf, mapping, d, idx.size)
            p = predict(cf_frame(part, cf, mapping, scm, derived, pick))[inverse].reshape(d, idx.size)
            flips = (p >= config.threshold) != (p0[idx] >= config.threshold)  # (draws, n_idx)
            sums[name][0][idx] += flips.mean(0)
            sums[name][1][idx] += np.abs(p - p0[idx]).mean(0)
    t = np.maximum(targets, 1)
    eff = RowEffects(sums[None][0] / t, sums[None][1] / t,
                     {name: (sums[name][0] / t, sums[name][1] / t) for name in paths})
    used = set(mapping.values()) | set(derived)
    about = {"held_columns": [c for c in frame.columns if c not in used],
             "derived_columns": {c: var for c, (var, _) in derived.items()}}
    return eff, about


def chunk_seed(seed: int, start: int) -> int:
    """The posterior draws' seed of the chunk starting at row `start`. A call draws the noise of all its rows from
    one seeded stream, so a row's draws depend on which rows share its call: each chunk has its own seed, derived
    from (seed, its first row), so the numbers depend on the chunk size but not on where or in which order chunks
    run; the first chunk keeps `seed`, so a table in one chunk gets the unchunked numbers."""
    return seed if start == 0 else int(np.random.SeedSequence([seed, start]).generate_state(1)[0])


def cf_fairness(frame: pd.DataFrame, predict: Predict, scm: TableSCM, config: CfConfig,
                p0: np.ndarray | None = None, derived: dict | None = None, chunk_rows: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> tuple[dict, RowEffects]:
    """The report section {protected: {flip_rate, mean_abs_dp, <group>: {...}, path: {<name>: {...}}}, held_columns,
    derived_columns, draws, seed, causal_model} and the per-row effects.

    chunk_rows: None: every row in one call; else `row_effects` chunk by chunk (memory ~ chunk_rows x draws rows),
    each chunk with its `chunk_seed` and the columns derived on the whole table; progress(rows done, rows) after each.
    """
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if chunk_rows is None or n <= chunk_rows:
        eff, about = row_effects(frame, predict, scm, config, p0, derived)
    else:
        if derived is None:  # settled on the whole table, so every chunk derives the same columns
            derived = derived_columns(frame, scm_columns(scm, frame.columns), scm)
        parts = []
        for start in range(0, n, chunk_rows):
            part = slice(start, min(start + chunk_rows, n))
            seeded = CfConfig(config.protected, config.draws, chunk_seed(config.seed, start), config.threshold,
                              config.paths)
            parts.append(row_effects(frame.iloc[part], predict, scm, seeded, None if p0 is None else p0[part],
                                     derived))
            if progress:
                progress(part.stop, n)
        effs, about = [e for e, _ in parts], parts[0][1]
        eff = RowEffects(np.concatenate([e.flip for e in effs]), np.concatenate([e.abs_dp for e in effs]),
                         {p: (np.concatenate([e.paths[p][0] for e in effs]),
                              np.concatenate([e.paths[p][1] for e in effs])) for p in effs[0].paths})
    groups = frame[scm_columns(scm, frame.columns)[config.protected]].astype(str).to_numpy()
    section = effect_section(eff, groups, config.paths or default_paths(scm, config.protected))
    return {config.protected: section, **about, "draws": config.draws, "seed": config.seed,
            "causal_model": CAUSAL_MODEL.format(scm.name)}, eff


def effect_section(eff: RowEffects, groups: np.ndarray, paths: Mapping[str, Sequence]) -> dict:
    """One protected column's report part from every row's effects: flip rate and mean |dp| overall, per group
    (`groups`: each row's group, (n,)) and per path (`paths`: {name: the arrows it cuts})."""
    section: dict = {"flip_rate": float(eff.flip.mean()), "mean_abs_dp": float(eff.abs_dp.mean())}
    for g in sorted(set(groups)):
        m = groups == g
        section[g] = {"count": int(m.sum()), "flip_rate": float(eff.flip[m].mean()),
                      "mean_abs_dp": float(eff.abs_dp[m].mean())}
    section["path"] = {name: {"flip_rate": float(f.mean()), "mean_abs_dp": float(d.mean()), "cut": list(paths[name])}
                       for name, (f, d) in eff.paths.items()}
    return section


def world_check(scm: TableSCM, models: Mapping[str, Predict], n: int, config: CfConfig, fill: Mapping[str, object],
                derived: dict, sample_seed: int = 1) -> dict[str, float]:
    """The estimate scored against the TRUE counterfactual on `n` rows sampled from `scm` (binary protected only).

    truth: the mechanisms rerun on the rows' own sampled noise under do(protected = the other value); estimate:
    `row_effects` (noise abducted from the values only); column_only: the protected column alone changed, as a
    search that ignores the graph does. `fill`: constants for model inputs the world lacks (Adult's capital gain
    and loss: 0, their most common value); `derived`: as `derived_columns` (education_num from education).
    Flat keys world.<model>.<protected>.{flip_rate_true, flip_rate_estimate, flip_rate_column_only, abs_error,
    abs_error_column_only}.
    """
    check_protected(scm, config.protected)
    a = config.protected
    if scm.columns[a].levels != 2:
        raise ValueError(f"the world check compares one counterfactual per row; {a!r} has more than two values")
    noise, values = scm.sample(n, sample_seed)
    other = {a: 1 - values[a]}
    frames = {k: world_frame(scm, v, fill, derived) for k, v in
              (("factual", values), ("true", scm.counterfactual(noise, other)), ("column", {**values, **other}))}
    out = {}
    for name, predict in models.items():
        p = {k: predict(f) for k, f in frames.items()}
        flip = {k: float(((p[k] >= config.threshold) != (p["factual"] >= config.threshold)).mean())
                for k in ("true", "column")}
        eff, _ = row_effects(frames["factual"], predict, scm, replace_paths(config), p["factual"], derived)
        est = float(eff.flip.mean())
        key = f"world.{name}.{a}."
        out |= {key + "flip_rate_true": flip["true"], key + "flip_rate_estimate": est,
                key + "flip_rate_column_only": flip["column"], key + "abs_error": abs(est - flip["true"]),
                key + "abs_error_column_only": abs(flip["column"] - flip["true"])}
    return out


def replace_paths(config: CfConfig) -> CfConfig:
    """`config` without path-specific graphs (the world check scores the total effect only)."""
    return CfConfig(config.protected, config.draws, config.seed, config.threshold, paths={})


def world_frame(scm: TableSCM, values: Mapping[str, np.ndarray], fill: Mapping[str, object],
                derived: dict) -> pd.DataFrame:
    """World rows (codes or floats) as a table the model reads: category names, `fill` constants, derived columns."""
    cols = {v: (np.asarray(s.categories, dtype=object)[values[v]] if s.discrete else values[v])
            for v, s in scm.columns.items()}
    n = len(next(iter(cols.values())))
    cols |= {c: np.full(n, x) for c, x in fill.items()}
    cols |= {c: pd.Series(cols[var]).map(table).to_numpy() for c, (var, table) in derived.items()}
    return pd.DataFrame(cols)
