"""The audit at scale: 1,000,000 rows, group metrics + counterfactual fairness, in-process and on a local Ray.

Rows come from the census world (`world.sample(n, seed)`) as the Adult columns adult-logreg reads (capital gain
and loss 0, education_num following education as in Adult's test split). Each engine runs in its own child
process, so each peak memory (ru_maxrss) is that engine's alone: the in-process run's whole process; for Ray, the
driver process and, per worker, its ru_maxrss reported by the tasks (the largest is shown); Ray's own daemons
(raylet, GCS) and the shared-memory object store are not counted. Nothing is written to pretrained/.

Usage: `PYTHONPATH=. python bench/bench_audit_scale.py [--n 1000000] [--cf sex,race] [--cf-draws 20]
[--engines local,ray] [--no-cf] [--result NAME]`. Writes bench/results/audit_scale.json (with --no-cf, group metrics
only: audit_scale_groups.json; with --cf naming more than sex, e.g. sex,race: audit_scale_race.json; --result
names another) and prints a Markdown table. Counterfactual fairness of race costs more than of sex: each row moves
to every other of its five values (four targets against one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write  # noqa: E402  (bench/ is on the path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
FILL = {"capital_gain": 0.0, "capital_loss": 0.0}  # their most common value; the world does not model them


def table(n: int, seed: int):
    """n census-world rows as the table adult-logreg reads."""
    from explorer.data.tables import read_adult
    from explorer.metrics.cf_fairness import derived_columns, scm_columns, world_frame
    from explorer.scm.census import load_census_world

    world = load_census_world()[0]
    adult = read_adult().rows("test", complete=True).reset_index(drop=True)
    derived = derived_columns(adult, scm_columns(world, adult.columns), world)
    _, values = world.sample(n, seed)
    return world_frame(world, values, FILL, derived)


def child(args: argparse.Namespace) -> dict:
    """One engine's run in this process: build the rows, audit them, report times, memory and the key numbers."""
    from tqdm.auto import tqdm

    from explorer.evaluate.audit_table import AuditTableConfig
    from explorer.evaluate.audit_table_ray import audit_table_engine
    from explorer.metrics.group_fairness import BootstrapConfig

    load_start = os.getloadavg()  # the machine is shared: what else was running when this engine started
    start = time.perf_counter()
    frame = table(args.n, args.seed)
    built = time.perf_counter() - start
    config = AuditTableConfig(label="income", protected=("sex", "race"), positive=">50K", chunk_rows=args.chunk_rows,
                              boot=BootstrapConfig(1000, 0))
    cf = () if args.no_cf else tuple(args.cf.split(","))
    with tqdm(total=len(frame), unit="row", desc=f"audit ({args.engine})", file=sys.stderr, mininterval=5) as bar:
        start = time.perf_counter()
        report, _ = audit_table_engine(frame, config, "adult-logreg", engine=args.engine, cf=cf,
                                       cf_draws=args.cf_draws, cf_seed=0, num_cpus=args.ray_cpus,
                                       progress=lambda done, total: bar.update(done - bar.n))
        wall = time.perf_counter() - start
    sections = report.get("cf_fairness", {})
    return {"engine": args.engine, "rows": len(frame), "build_s": round(built, 1), "wall_s": round(wall, 1),
            "rows_per_s": round(len(frame) / wall), "peak_rss_mib": round(peak_mib(), 1),
            "worker_peak_rss_mib": report["engine"]["worker_peak_rss_mib"] if args.engine == "ray" else None,
            "workers": report["engine"]["workers"], "chunks": report["engine"]["chunks"],
            "model_builds": report["engine"]["model_builds"],
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "numbers": {"selection_rate.Female": report["groups"]["sex"]["Female"]["selection_rate"],
                        "selection_rate.Male": report["groups"]["sex"]["Male"]["selection_rate"],
                        "dp_difference.sex": report["fairness"]["sex"]["demographic_parity_difference"],
                        "dp_difference.race": report["fairness"]["race"]["demographic_parity_difference"],
                        **{key: value for col in ("sex", *cf) for key, value in cf_numbers(sections, col).items()}}}


def cf_numbers(sections: dict, col: str) -> dict[str, float]:
    """A protected column's flip rate, mean |dp| and direct-path flip rate (NaN when not run); sex's keys keep their
    first names (cf.flip_rate...), so results of earlier runs compare key for key."""
    cf = sections.get(col, {"path": {"direct": {}}})
    key = "cf." if col == "sex" else f"cf.{col}."
    return {key + "flip_rate": cf.get("flip_rate", math.nan), key + "mean_abs_dp": cf.get("mean_abs_dp", math.nan),
            key + "direct.flip_rate": cf["path"]["direct"].get("flip_rate", math.nan)}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_engine(args: argparse.Namespace, engine: str) -> dict:
    """The child process for one engine; its JSON comes back through a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, __file__, "--child", engine, "--out", str(out), "--n", str(args.n),
               "--seed", str(args.seed), "--cf-draws", str(args.cf_draws), "--chunk-rows", str(args.chunk_rows),
               "--ray-cpus", str(args.ray_cpus), "--cf", args.cf] + (["--no-cf"] if args.no_cf else [])
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        return json.loads(out.read_text())


def markdown(runs: list[dict], draws: int, cf: list[str]) -> str:
    others = [c for c in cf if c != "sex"]  # a flip-rate column each, after sex's
    lines = [f"| engine | rows | wall time | rows/s | peak memory (process) | peak memory (one Ray worker) | "
             f"flip rate (sex, {draws} draws) | " + "".join(f"flip rate ({c}) | " for c in others) +
             "DP difference (sex) |", "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(others) + 1)]
    for r in runs:
        worker = f"{r['worker_peak_rss_mib']:.0f} MiB × {r['workers']}" if r["worker_peak_rss_mib"] else "—"
        lines.append(f"| {r['engine']} | {r['rows']:,} | {r['wall_s']:.0f} s ({r['wall_s'] / 60:.1f} min) | "
                     f"{r['rows_per_s']:,} | {r['peak_rss_mib']:.0f} MiB | {worker} | "
                     f"{r['numbers']['cf.flip_rate']:.4f} | " +
                     "".join(f"{r['numbers'][f'cf.{c}.flip_rate']:.4f} | " for c in others) +
                     f"{r['numbers']['dp_difference.sex']:.4f} |")
    return "\n".join(lines)


def result_name(args: argparse.Namespace) -> str:
    """--result, else audit_scale_groups (--no-cf), audit_scale (sex alone) or audit_scale_<the others> (sex,race:
    audit_scale_race, so audit_scale.json keeps the sex-only run)."""
    others = [c for c in args.cf.split(",") if c != "sex"]
    return args.result or ("audit_scale_groups" if args.no_cf else "_".join(["audit_scale", *others]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cf-draws", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--ray-cpus", type=int, default=2)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--cf", default="sex", help="protected columns whose counterfactual fairness is measured")
    parser.add_argument("--no-cf", action="store_true", help="group metrics only")
    parser.add_argument("--result", help="bench/results/<RESULT>.json (default: from --cf and --no-cf)")
    parser.add_argument("--child", choices=["local", "ray"])
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        args.engine = args.child
        Path(args.out).write_text(json.dumps(child(args)))
        return
    runs = []
    for engine in args.engines.split(","):
        runs.append(run_engine(args, engine))
        # written after each engine, so a run cut short keeps what it measured
        write(result_name(args),
              {"n": args.n, "cf": [] if args.no_cf else args.cf.split(","), "cf_draws": args.cf_draws,
               "chunk_rows": args.chunk_rows, "ray_cpus": args.ray_cpus,
               "load_average": os.getloadavg(), "runs": runs,
               "memory": "ru_maxrss of each engine's own process; for Ray also the largest worker's "
                         "(reported by its tasks); Ray's daemons and object store not counted"})
    if len(runs) == 2:
        a, b = (r["numbers"] for r in runs)
        print("max |local - ray| over the key numbers:", max(abs(a[k] - b[k]) for k in a if math.isfinite(a[k])))
    print(markdown(runs, args.cf_draws, [] if args.no_cf else args.cf.split(",")))


if __name__ == "__main__":
    main()
