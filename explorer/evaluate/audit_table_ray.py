"""`audit-table` on more than one core or machine: the same chunks, run in this process or as Ray tasks.

Each chunk does, in one call (`audit_chunk_cf`), everything the audit needs per row: the model's probabilities,
the decisions and confusion counts per group (`audit_table.audit_chunk`, unchanged), and, per protected column,
every row's counterfactual flip rate and mean |dp| (`cf_fairness.row_effects`, unchanged). Chunks come back in
any order; counts add up exactly (`audit_table.merge`), per-row effects are put back in row order, and the report
is built from them as `audit_table` + `add_cf_fairness` build it, so the two engines give the same numbers.

Why one chunk's counterfactual numbers need care: `row_effects` draws the posterior noise of all the rows it is
given from seeded streams (one per column, explorer/scm/table_posterior.py), so a row's draws depend on which
rows share its call. Each chunk therefore gets its own seed from (seed, the chunk's first row)
(`cf_fairness.chunk_seed`): the result depends on `chunk_rows` but not on the engine, the order or the machine;
the first chunk keeps `seed` itself, so an audit in one chunk equals `add_cf_fairness` exactly (the tests check
both), and `add_cf_fairness` chunks the same way (its `chunk_rows`, 20,000 by default).

A multiclass audit (a label with more than two values) runs the same way: each chunk gives its predicted classes
and the rows the model fails on (`audit_table.multiclass_chunk`), assembled by `audit_table.assemble_multiclass`,
as `audit_multiclass` does in this process, so both engines give the same numbers.

Ray (imported inside functions only: the app's pages never import it): the ONNX file travels as bytes (data,
never a pickled model), each worker builds its onnxruntime session once (`model_for`, keyed by the bytes'
sha256) and loads the causal model once (`audit_table_ray_learned.causal_model`: the census world, or the learned
model of Adult with `causal_model_name="learned"`) from its own copy of the repository; only its name travels.
"""

from __future__ import annotations

import hashlib
import os
import resource
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from explorer.checkpoints import CheckpointError
from explorer.evaluate.audit_table import (AuditTableConfig, ChunkResult, LabelChunk, Prepared, Progress, add_graph,
                                           assemble, assemble_multiclass, audit_chunk, checked_label, merge,
                                           multiclass_chunk, prepare, protected_groups, world_view)
from explorer.evaluate.audit_table_ray_learned import causal_label, causal_model, causal_threads
from explorer.evaluate.audit_table_rows import Failed, budget, failures, is_multiclass, kept, refuse, spread
from explorer.metrics.cf_fairness import (CfConfig, RowEffects, check_protected, chunk_seed,
                                          default_paths, derived_columns, effect_section, row_effects, scm_columns)
from explorer.models.table_onnx import TableOnnxModel, load_table_model
from explorer.paths import ROOT
from explorer.scm.table_scm import TableSCM

ENGINES = ("local", "ray")
_MODELS: dict[str, TableOnnxModel] = {}  # per process: sha256 of the ONNX bytes -> the model built from them


@dataclass(frozen=True)
class CfPlan:
    """The counterfactual part, settled once on the whole table before any chunk runs.

    Attributes:
        protected: the table's columns intervened on (those the world can move; the others are in `notes`).
        variables: the world's variable of each of them.
        draws, seed: posterior draws per row and the audit's seed (each chunk derives its own: `chunk_seed`).
        derived: `derived_columns` of the WHOLE table, so a chunk that lacks a category derives the same columns.
        about: held and derived columns, as the report lists them (the table's names).
        names: {name in the world's view: table column} (`audit_table.world_view`: columns renamed to variables).
        matching: how columns were matched to variables (by name, by the map), as the report says it.
        notes: one sentence per protected column that cannot be moved, saying why.
        causal: the causal model's name ("world" or "learned"); each worker loads it once (`causal_model`).
    """

    protected: tuple[str, ...]
    variables: tuple[str, ...]
    draws: int
    seed: int
    derived: dict
    about: dict
    names: dict
    matching: dict
    notes: tuple[str, ...] = ()
    causal: str = "world"


@dataclass
class ChunkOutput:
    """One chunk's work: its audit share, {protected column: per-row effects}, and which worker did it (pid, whether
    it built the model in this call, its peak resident memory in KiB) so tests and the bench can check both."""

    audit: ChunkResult | LabelChunk  # LabelChunk: a multiclass audit's
    cf: dict[str, RowEffects]
    worker: int
    loaded: bool
    max_rss_kb: int


def model_for(data: bytes, name: str, input_map: dict[str, str] | None = None) -> tuple[TableOnnxModel, bool]:
    """The model of these ONNX bytes, built once per process: (model, True when built by this call), reading the
    columns `input_map` ({column: model input}, `--map`) gives for those inputs (the session itself is shared)."""
    key = hashlib.sha256(data).hexdigest()
    loaded = key not in _MODELS
    if loaded:
        _MODELS[key] = load_table_model(data, name)
    return (_MODELS[key].with_inputs(input_map) if input_map else _MODELS[key]), loaded


def audit_chunk_cf(rows: pd.DataFrame, start: int, y: np.ndarray | None, groups: pd.DataFrame | None,
                   model_bytes: bytes, name: str, threshold: float, plan: CfPlan | None,
                   input_map: dict[str, str] | None = None, limit: int | None = None) -> ChunkOutput:
    """One chunk: predictions and confusion counts, then each protected column's per-row counterfactual effects on
    the rows the model scored (those it fails on are left out, as `add_cf_fairness` leaves them out). `y` None: a
    multiclass audit's chunk, its predicted classes (`audit_table.multiclass_chunk`)."""
    model, loaded = model_for(model_bytes, name, input_map)
    if y is None:
        return ChunkOutput(multiclass_chunk(rows, start, model.predict_labels, limit), {}, os.getpid(), loaded,
                           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    result = audit_chunk(rows, start, y, groups, model.predict_proba, None, threshold, limit)
    effects = {}
    keep = np.isfinite(result.proba)
    if plan and plan.protected and keep.any():  # as add_cf_fairness: rows renamed for the world, the model on its own
        view = rows[keep].rename(columns={c: v for v, c in plan.names.items()})
        ask = lambda part: model.predict_proba(part.rename(columns=plan.names))  # noqa: E731
    for col, var in zip(plan.protected, plan.variables) if plan and keep.any() else ():
        config = CfConfig(var, plan.draws, chunk_seed(plan.seed, start), threshold)
        with causal_threads(plan.causal):  # the learned model on one torch thread, as in this process
            scm = causal_model(plan.causal)  # loaded once per worker
            effects[col], _ = row_effects(view, ask, scm, config, result.proba[keep], plan.derived)
    return ChunkOutput(result, effects, os.getpid(), loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def plan_cf(frame: pd.DataFrame, scm: TableSCM, protected: Sequence[str], draws: int, seed: int,
            column_map: dict[str, str] | None = None, causal: str = "world") -> CfPlan:
    """What `add_cf_fairness` would move, hold and derive on this table through `scm` (the causal model named
    `causal`), checked in its order; a column it would refuse becomes the same note. ValueError on a bad
    `column_map`, as there."""
    world = world_view(frame.reset_index(drop=True), None, scm, column_map)
    to_view = {old: new for new, old in world.names.items()}
    movable, variables, notes, mapping = [], [], [], {}
    for col in protected:
        var = to_view.get(col, col)
        try:
            check_protected(scm, var)  # row_effects checks these two, in this order
            mapping = scm_columns(scm, world.frame.columns)
        except ValueError as err:
            notes.append(f"counterfactual fairness of {col} is missing: {err}")
            continue
        movable.append(col)
        variables.append(var)
    derived = derived_columns(world.frame, mapping, scm) if movable else {}
    used = set(mapping.values()) | set(derived)
    about = {"held_columns": [world.names[c] for c in world.frame.columns if c not in used],
             "derived_columns": {world.names[c]: var for c, (var, _) in derived.items()}}
    return CfPlan(tuple(movable), tuple(variables), draws, seed, derived, about, world.names, world.matching,
                  tuple(notes), causal)


def chunk_slices(n: int, chunk_rows: int) -> list[slice]:
    return [slice(s, min(s + chunk_rows, n)) for s in range(0, n, chunk_rows)]


def part_args(frame: pd.DataFrame, prepared: Prepared | None, part: slice) -> tuple:
    """A chunk's rows, first row, labels and groups (None, None for a multiclass audit: `prepared` None)."""
    if prepared is None:
        return frame.iloc[part], part.start, None, None
    return frame.iloc[part], part.start, prepared.y[part], prepared.groups.iloc[part]


def failed_of(out: Sequence[ChunkOutput]) -> Failed:
    return failures([(c.audit.start, c.audit.errors, c.audit.message, c.audit.complete) for c in out])


def run_local(frame: pd.DataFrame, prepared: Prepared | None, config: AuditTableConfig, model_bytes: bytes,
              name: str, plan: CfPlan | None, progress: Progress | None = None,
              input_map: dict[str, str] | None = None) -> list[ChunkOutput]:
    """Every chunk in this process, in order (one chunk's rows in memory at a time, times `draws` for --cf)."""
    out, failed = [], 0
    for part in chunk_slices(len(frame), config.chunk_rows):
        out.append(audit_chunk_cf(*part_args(frame, prepared, part), model_bytes, name, config.threshold, plan,
                                  input_map, budget(len(frame)) - failed))
        failed += len(out[-1].audit.errors)
        if failed >= budget(len(frame)):  # half of the rows failed: refused now, not after the other chunks
            refuse(failed_of(out), len(frame))
        if progress:
            progress(part.stop, len(frame))
    return out


def run_ray(frame: pd.DataFrame, prepared: Prepared | None, config: AuditTableConfig, model_bytes: bytes, name: str,
            plan: CfPlan | None, progress: Progress | None = None,
            input_map: dict[str, str] | None = None) -> list[ChunkOutput]:
    """Every chunk as a Ray task on the connected cluster. At most two chunks per CPU are in flight, so the object
    store (and this process) hold a bounded number of chunks whatever the table's size."""
    import ray

    task = ray.remote(num_cpus=1)(audit_chunk_cf)
    model_ref, plan_ref = ray.put(model_bytes), ray.put(plan)  # stored once, read by every task
    limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending, out, done, failed = [], [], 0, 0
    parts = chunk_slices(len(frame), config.chunk_rows)
    sizes = {p.start: p.stop - p.start for p in parts}

    def collect(refs) -> None:
        nonlocal done, failed
        for chunk in ray.get(refs):
            out.append(chunk)
            done += sizes[chunk.audit.start]
            failed += len(chunk.audit.errors)
            if progress:
                progress(done, len(frame))
        if failed >= budget(len(frame)):  # half of the rows failed: refused now (the tasks in flight are dropped)
            refuse(failed_of(out), len(frame))

    try:
        for part in parts:
            if len(pending) >= limit:
                ready, pending = ray.wait(pending, num_returns=1)
                collect(ready)
            pending.append(task.remote(*part_args(frame, prepared, part), model_ref, name, config.threshold, plan_ref,
                                       input_map, budget(len(frame))))
        collect(pending)
    except ray.exceptions.RayTaskError as err:  # a chunk's ValueError (NaN from the model...) is the audit's error
        if isinstance(err.cause, ValueError):
            raise ValueError(str(err.cause)) from None
        raise
    return out


def build_report(frame: pd.DataFrame, config: AuditTableConfig, prepared: Prepared, chunks: Sequence[ChunkOutput],
                 about: dict | None) -> tuple[dict, pd.DataFrame]:
    """The report and per-row file from merged chunks: `audit_table`'s own assembly."""
    return assemble(frame, config, prepared, *merge([c.audit for c in chunks]), about)


def add_cf(report: dict, rows: pd.DataFrame, frame: pd.DataFrame, chunks: Sequence[ChunkOutput], plan: CfPlan,
           scm: TableSCM) -> None:
    """`report["cf_fairness"]` and the per-row cf columns from the chunks, as `add_cf_fairness` writes them."""
    ordered = sorted(chunks, key=lambda c: c.audit.start)
    section: dict = {}
    mapping = scm_columns(scm, plan.names) if plan.protected else {}  # {variable: its name in the world's view}
    keep = kept(rows)  # the rows the model scored: the chunks' effects are theirs, in row order
    for col, var in zip(plan.protected, plan.variables):
        eff = [c.cf[col] for c in ordered if col in c.cf]
        flip, abs_dp = np.concatenate([e.flip for e in eff]), np.concatenate([e.abs_dp for e in eff])  # (kept,)
        groups = frame[plan.names[mapping[var]]].astype(str).to_numpy()[keep]
        paths = {p: (np.concatenate([e.paths[p][0] for e in eff]), np.concatenate([e.paths[p][1] for e in eff]))
                 for p in eff[0].paths}  # each path's (flip, |dp|) per row, in row order
        part = effect_section(RowEffects(flip, abs_dp, paths), groups, default_paths(scm, var))
        section |= {col: part, **plan.about, "draws": plan.draws, "seed": plan.seed,
                    "causal_model": causal_label(scm)}
        spread(rows, f"cf_{col}_flip_rate", flip, keep)  # a failed row has none
        spread(rows, f"cf_{col}_mean_abs_dp", abs_dp, keep)
    if plan.notes:
        section["note"] = " ".join(plan.notes)
    if plan.protected:
        section["matching"] = plan.matching
        add_graph(report, scm)
    report["cf_fairness"] = section


def connect(address: str | None, num_cpus: int | None) -> bool:
    """Ray ready for tasks: an address connects to that cluster, None starts a local one (`num_cpus` CPUs) unless
    Ray already runs in this process. True when this call started it (the caller shuts it down). A cluster that
    cannot be reached is a one-line ValueError naming the address and what to do."""
    import ray

    if address is not None:
        reachable(address)
    if ray.is_initialized():
        return False
    env = {"env_vars": {"PYTHONPATH": str(ROOT)}}  # workers import explorer from this repository's path
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=env)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=env)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ValueError(f"cannot start or reach {where} ({' '.join(str(err).split())[:200]}); " + HINT) from None
    return True


HINT = ("start the head with `ray start --head --port=6379` and pass --address HOST:6379, "
        "or leave out --address for a local Ray")


def reachable(address: str, timeout: float = 5.0) -> None:
    """ValueError unless HOST:PORT (or ray://HOST:PORT) answers a TCP connect within `timeout` s; "auto" is left to
    Ray. Checked before ray.init, so a wrong address is one line within seconds, not Ray's own retries."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379); {HINT}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ValueError(f"no Ray cluster answers at {address} ({err.strerror or err}); {HINT}") from None


def model_bytes_of(model: bytes | str | Path) -> tuple[bytes, str]:
    """(ONNX bytes, name) from bytes, a shipped model's name (adult-logreg, adult-gbm) or an .onnx path."""
    if isinstance(model, bytes):
        return model, "model"
    from explorer.registry import TABLE_MODELS, load_table_classifier

    if str(model) in TABLE_MODELS:
        load_table_classifier(str(model))  # CheckpointError naming the rebuild when the files are missing
        from explorer.paths import PRETRAINED

        return (PRETRAINED / str(model) / "model.onnx").read_bytes(), str(model)
    path = Path(model)
    return path.read_bytes(), path.stem


def audit_table_engine(frame: pd.DataFrame, config: AuditTableConfig, model: bytes | str | Path, *,
                       engine: str = "local", cf: Sequence[str] = (), cf_draws: int = 20, cf_seed: int = 0,
                       causal_model_name: str = "world",
                       column_map: dict[str, str] | None = None, input_map: dict[str, str] | None = None,
                       address: str | None = None, num_cpus: int | None = None, about: dict | None = None,
                       progress: Progress | None = None, prepared: Prepared | None = None) -> tuple[dict, pd.DataFrame]:
    """`audit_table` (+ `add_cf_fairness` for the columns in `cf`) in chunks, in this process or on Ray.

    Args:
        frame, config, about, progress, prepared: as `audit_table`.
        model: the ONNX file's bytes, a shipped model's name, or a path to an .onnx file.
        engine: "local" (this process) or "ray" (tasks on the cluster at `address`; None: a local Ray with
            `num_cpus` CPUs, shut down at the end; an already running Ray in this process is used as it is).
        cf: the protected columns whose counterfactual fairness is measured, through the census world or, with
            causal_model_name "learned", the learned model of Adult (`--causal-model`); cf_draws, cf_seed,
            column_map: as `add_cf_fairness`'s draws, seed and column_map (`--map`).
        input_map: {column: model input} for the inputs `--map` gave a column by hand (the others by name).
    Returns:
        (report, rows) as `audit_table` returns them, with `cf_fairness` and the cf_ row columns when `cf`. A label
        with more than two values: `audit_multiclass`'s (predicted classes per chunk; `cf` is binary only, unused).
    """
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    multiclass = is_multiclass(frame, config.label)
    if multiclass:  # audit_multiclass's checks, before a chunk is sent
        checked_label(frame, config)
        protected_groups(frame, config)
    prepared = None if multiclass else prepared or prepare(frame, config)
    data, name = model_bytes_of(model)
    model_for(data, name, input_map)[0].columns(list(frame.columns))  # every input matched before a chunk is sent
    scm, plan = None, None
    if cf and not multiclass:
        try:
            scm = causal_model(causal_model_name)
            plan = plan_cf(frame, scm, cf, cf_draws, cf_seed, column_map, causal_model_name)
        except CheckpointError as err:  # as the command line's --cf: a note, the group metrics still run
            note = "counterfactual fairness is missing: " + " ".join(str(err).split())
            plan = CfPlan((), (), cf_draws, cf_seed, {}, {}, {}, {}, (note,), causal_model_name)
    if engine == "local":
        chunks = run_local(frame, prepared, config, data, name, plan, progress, input_map)
    else:
        import ray

        started = connect(address, num_cpus)
        try:
            chunks = run_ray(frame, prepared, config, data, name, plan, progress, input_map)
        finally:
            if started:
                ray.shutdown()
    if multiclass:
        report, rows = assemble_multiclass(frame, config, [c.audit for c in chunks], about)
    else:
        report, rows = build_report(frame, config, prepared, chunks, about)
    if plan is not None:
        add_cf(report, rows, frame, chunks, plan, scm)
    report["engine"] = engine_summary(engine, chunks)
    return report, rows


def engine_summary(engine: str, chunks: Sequence[ChunkOutput]) -> dict:
    """Where the chunks ran: engine, chunks, worker processes, model builds, the workers' peak memory (MiB)."""
    peak: dict[int, int] = {}
    for c in chunks:
        peak[c.worker] = max(peak.get(c.worker, 0), c.max_rss_kb)
    return {"name": engine, "chunks": len(chunks), "workers": len(peak), "model_builds": sum(c.loaded for c in chunks),
            "worker_peak_rss_mib": round(max(peak.values(), default=0) / 1024, 1)}


def audit_table_ray(frame: pd.DataFrame, config: AuditTableConfig, model: bytes | str | Path,
                    address: str | None = None, num_cpus: int | None = None, **kwargs) -> tuple[dict, pd.DataFrame]:
    """`audit_table_engine(..., engine="ray")`: the audit as Ray tasks (see there)."""
    return audit_table_engine(frame, config, model, engine="ray", address=address, num_cpus=num_cpus, **kwargs)
