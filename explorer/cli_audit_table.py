"""The command line's `audit-table` and `train adult-models`, wired here to keep `__main__.py` short.

`audit-table` audits a model (an ONNX file or a shipped one) or a predictions column on a CSV, a Parquet file or a
shipped table. Every bad input is one `error:` line and exit status 2, before anything is written: values are checked
while parsing (explorer/cli_checks.py), columns, the model's inputs and `--map` before the first chunk is scored,
and the outputs are written whole after the audit (`save`). `--map column=name` maps a column to a model input or a
census world variable (or both) before matching by name; a label with more than two values audits a model one class
against the rest (docs/audit-table.md). `--types column=kind` corrects the inferred column types as the page does,
`--encoding` reads a CSV in another text encoding, and rows the model fails on are left out of every number and
listed (`data.failed_rows`; a `note:` on stderr), unless half of the rows or more fail (one `error:` line).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from explorer.cli_checks import count, input_file, output_file, real, save, seed

TABLES = ("adult", "compas", "german")


def add_audit_table(sub: argparse._SubParsersAction) -> None:
    """The `audit-table` subcommand's options (docs/audit-table.md)."""
    at = sub.add_parser("audit-table", help="group fairness of a model (ONNX) or a predictions column on a table")
    data = at.add_mutually_exclusive_group(required=True)
    data.add_argument("--csv", type=input_file, help="your table: a CSV with a header (UTF-8, or see --encoding)")
    data.add_argument("--parquet", type=input_file, help="your table as Parquet (flat columns; nested ones refused)")
    data.add_argument("--table", choices=TABLES, help="a shipped table (its test split, complete rows)")
    at.add_argument("--encoding", type=encoding, metavar="NAME",
                    help="with --csv: the file's text encoding, any Python codec (cp1252, latin-1, utf-16...); "
                         "default UTF-8, or UTF-16 when the file starts with its byte-order mark")
    model = at.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", type=input_file, help="your model: an .onnx file with one named input per column")
    model.add_argument("--shipped", choices=["adult-logreg", "adult-gbm"], help="a shipped Adult model")
    model.add_argument("--predictions", metavar="COLUMN", help="no model: a column of decisions or probabilities")
    at.add_argument("--label", help="the true outcome's column (default for a shipped table: its target)")
    at.add_argument("--positive", help="the label value that is the positive decision (default: 1/true/yes, or "
                                       "an ordered label's highest level)")
    at.add_argument("--protected", required=True, help="comma-separated columns to compare groups of, e.g. sex,race")
    at.add_argument("--threshold", type=real(0, 1), default=0.5, help="probability at or above it: positive decision")
    at.add_argument("--n-boot", type=count(100, 100_000), default=1000, help="bootstrap replicates per interval")
    at.add_argument("--seed", type=seed, default=0, help="the bootstrap's seed")
    at.add_argument("--chunk-rows", type=count(1), default=20_000, help="rows scored per chunk")
    at.add_argument("--cf", action="store_true", help="also counterfactual fairness of each protected column, "
                                                      "through the census world's causal model (docs/audit-table.md)")
    at.add_argument("--cf-draws", type=count(1, 1000), default=20, help="posterior noise draws per row for --cf")
    at.add_argument("--causal-model", choices=["world", "learned"], default="world",
                    help="--cf and --recourse through the census world's mechanisms (default) or the table "
                         "lab's learned model (pretrained/census-vae-adult)")
    at.add_argument("--recourse", type=count(0, 100_000), default=0, metavar="N",
                    help="also causal recourse (and the non-causal baseline) for the first N rejected rows, through "
                         "the census world or, with --causal-model learned, the learned model (0: off)")
    at.add_argument("--map", type=column_pairs, action="append", default=[], metavar="COLUMN=NAME",
                    help="your column COLUMN is what the model's input NAME, or the census world's variable NAME, "
                         "stands for (repeatable or comma-separated: --map gender=sex,Marital=marital_status); "
                         "before matching by name (docs/audit-table.md)")
    at.add_argument("--types", type=column_kinds, action="append", default=[], metavar="COLUMN=KIND",
                    help="read COLUMN as KIND: category (or categorical) or number (or continuous), as the page's "
                         "\"Read as categories\" does; the other columns as inferred (repeatable or comma-separated: "
                         "--types zip=category,score=number)")
    at.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="where the chunks run: this process (default) or Ray (docs/audit-table.md)")
    at.add_argument("--address", metavar="HOST:PORT", help="with --engine ray: a Ray cluster's head (default: a "
                                                              "local Ray on this machine's CPUs)")
    at.add_argument("--json", type=output_file, required=True, help="write the report here (JSON)")
    at.add_argument("--rows", type=output_file, help="also write every row's label and prediction here (CSV)")
    at.add_argument("--markdown", type=output_file, help="also write the report here (Markdown)")
    at.add_argument("--report", type=report_file, help="also write the report here: one self-contained HTML file "
                                                        "(.html) or a PDF (.pdf); docs/audit-table.md")
    at.set_defaults(fn=audit_table_command)


def encoding(text: str) -> str:
    """--encoding: a text encoding Python knows (checked while parsing, so a wrong name writes nothing)."""
    from explorer.services.audit_table_data import check_encoding

    try:
        return check_encoding(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def report_file(text: str) -> str:
    """--report: an .html or .pdf file to write (checked while parsing, so a wrong suffix writes nothing)."""
    suffix = Path(text).suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise argparse.ArgumentTypeError(f"{text!r} ends in {suffix or 'no suffix'!r}: the report is HTML or PDF; "
                                         "use .html or .pdf")
    return output_file(text)


def column_pairs(text: str, option: str = "--map", example: str = "gender=sex") -> list[tuple[str, str]]:
    """--map: "column=name[,column=name...]" as pairs (checked while parsing, so a malformed one writes nothing)."""
    pairs = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        column, eq, name = (x.strip() for x in part.partition("="))
        if not (eq and column and name):
            raise argparse.ArgumentTypeError(f"{part!r} is not COLUMN={'KIND' if option == '--types' else 'NAME'}; "
                                             f"write e.g. {option} {example}")
        pairs.append((column, name))
    if not pairs:
        raise argparse.ArgumentTypeError(f"{option} names nothing; write e.g. {option} {example}")
    return pairs


TYPE_KINDS = ("category", "categorical", "number", "continuous")  # services.audit_table_data.KINDS (checked equal)


def column_kinds(text: str) -> list[tuple[str, str]]:
    """--types: "column=kind[,...]" as (column, kind) pairs, the kind one of TYPE_KINDS (lower case allowed any
    way); the columns are checked once the table is read. An ordinal column is read as a category (its order is
    not used by the audit), and said so."""
    pairs = []
    for column, kind in column_pairs(text, "--types", "zip=category"):
        if kind.lower() == "ordinal":
            raise argparse.ArgumentTypeError(f"{column}={kind}: the audit reads a column as a category or a number "
                                             f"(an order of categories is not used); write {column}=category")
        if kind.lower() not in TYPE_KINDS:
            raise argparse.ArgumentTypeError(f"{column}={kind}: {kind!r} is not a kind of column; write "
                                             f"{column}=category or {column}=number")
        pairs.append((column, kind.lower()))
    return pairs


def split_map(pairs: list[tuple[str, str]], columns: list[str], inputs: list[str]) -> tuple[dict, dict]:
    """--map's pairs as ({column: model input}, {column: census variable}); a NAME that is both goes to both.
    ValueError (one line) for an unknown column or name, or a column mapped twice to the same kind of name."""
    from explorer.scm.census import CENSUS_COLUMNS

    to_input: dict[str, str] = {}
    to_var: dict[str, str] = {}
    for column, name in pairs:
        if column not in columns:
            raise ValueError(f"--map {column}={name}: the table has no column {column!r} (its columns: "
                             f"{', '.join(columns)})")
        if name not in inputs and name not in CENSUS_COLUMNS:
            raise ValueError(f"--map {column}={name}: {name!r} is neither an input of the model "
                             f"({', '.join(inputs) or 'no model'}) nor a variable of the census world "
                             f"({', '.join(CENSUS_COLUMNS)})")
        for kept, known in ((to_input, inputs), (to_var, CENSUS_COLUMNS)):
            if name in known:
                if kept.get(column, name) != name:
                    raise ValueError(f"--map maps the column {column!r} twice ({kept[column]} and {name}); map it once")
                kept[column] = name
    return to_input, to_var


def train_adult_models_command(args: argparse.Namespace) -> int:
    """`train adult-models`: the shipped Adult classifiers (explorer/training/adult_models.py)."""
    from explorer.training.adult_models import AdultModelsConfig, train_adult_models

    cfg = AdultModelsConfig(command="python -m explorer " + " ".join(sys.argv[1:]))
    if args.seed is not None:
        cfg.seed = args.seed
    if args.out:
        cfg.out = Path(args.out)  # checked while parsing (output_folder)
    train_adult_models(cfg)
    return 0


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def audit_table_command(args: argparse.Namespace) -> int:
    """`audit-table`: checks, the chunked audit with a progress bar, then the outputs written whole."""
    from tqdm.auto import tqdm

    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.audit_table import AuditTableConfig, audit_multiclass, audit_table, is_multiclass
    from explorer.evaluate.audit_table_report import to_markdown
    from explorer.metrics.group_fairness import BootstrapConfig

    protected = tuple(c.strip() for c in args.protected.split(",") if c.strip())
    if not protected:
        return _fail("--protected names no column; pass e.g. --protected sex,race")
    try:
        frame, source, label = _table(args)
    except ValueError as err:
        return _fail(f"{args.csv or args.parquet or args.table}: {err}")
    try:
        frame, types = _types(args, frame)
    except ValueError as err:
        return _fail(str(err))
    if label is None:
        return _fail("--label is required with --csv or --parquet; name the column of true outcomes")
    cfg = AuditTableConfig(label=label, protected=protected, positive=args.positive, threshold=args.threshold,
                           chunk_rows=args.chunk_rows, boot=BootstrapConfig(args.n_boot, args.seed))
    about = {"source": source, **types, **({"encoding": args.encoding or "utf-8"} if args.csv else {})}
    multiclass = not args.predictions and is_multiclass(frame, label)
    try:
        prepared, model, given, card, world_map = _decisions(args, frame, cfg, about, multiclass)
    except (ValueError, CheckpointError) as err:  # CheckpointError: a shipped model's files, and their rebuild
        return _fail(f"{args.model + ': ' if args.model else ''}{err}")
    predict = None if model is None else model.predict_proba
    if problem := _engine_problem(args):
        return _fail(problem)
    failure = None
    with tqdm(total=len(frame), unit="row", desc="auditing", file=sys.stderr) as bar:
        try:
            if args.engine == "ray":  # chunks (and --cf's per-row work) as Ray tasks; the numbers are the same
                from explorer.evaluate.audit_table_ray import audit_table_ray

                report, rows = audit_table_ray(frame, cfg, args.shipped or Path(args.model), address=args.address,
                                               cf=protected if args.cf else (), cf_draws=args.cf_draws,
                                               cf_seed=args.seed, column_map=world_map, about=about,
                                               causal_model_name=args.causal_model,
                                               input_map={c: i for i, c in about["model_inputs"]["by_map"].items()},
                                               progress=lambda done, total: bar.update(done - bar.n),
                                               prepared=prepared)
            elif multiclass:
                report, rows = audit_multiclass(frame, cfg, model.predict_labels, about,
                                                progress=lambda done, total: bar.update(done - bar.n))
            else:
                report, rows = audit_table(frame, cfg, predict, given, about,
                                           progress=lambda done, total: bar.update(done - bar.n), prepared=prepared)
        except (ValueError, CheckpointError) as err:
            failure = str(err)
    if failure:  # said after the bar is closed, so the message is a line of its own
        return _fail(failure)
    if report["data"].get("failed_rows", {}).get("count"):  # left out of every number: said, the rest written
        print(f"note: {report['data']['failed_rows']['note']}", file=sys.stderr)
    if multiclass and (args.cf or args.recourse):
        print(f"note: {report['multiclass']['note']}", file=sys.stderr)  # binary only: said, the rest written
    elif args.cf and args.engine == "local":  # on Ray, --cf ran with the chunks
        _cf(args, report, rows, frame, predict, protected, world_map)
    if args.recourse and not multiclass:
        _recourse(args, report, rows, frame, predict, world_map)
    text = to_markdown(report)
    # every output made before the first is written (a report that fails to build leaves no JSON behind), then
    # each written whole (save: a temporary file renamed over the target)
    outputs = {args.json: json.dumps(report, indent=2, ensure_ascii=False) + "\n",
               args.rows: rows.to_csv(index=False) if args.rows else None, args.markdown: text,
               args.report: _report(args.report, report, card) if args.report else None}
    for path, data in outputs.items():
        if path:
            save(path, data)
    print(text)
    return 0


def _engine_problem(args: argparse.Namespace) -> str | None:
    """What --engine/--address cannot do with the other options, in one line, or None."""
    if args.address and args.engine != "ray":
        return "--address names a Ray cluster: add --engine ray, or leave --address out"
    if args.engine != "ray":
        return None
    if args.predictions:
        return "--engine ray sends a model to the cluster; with --predictions there is none: leave --engine out"
    return None


def _table(args: argparse.Namespace):
    """(rows, how the report names them, the label column or None); ValueError when the file cannot be read."""
    from explorer.data.table_csv import read_table_parquet
    from explorer.data.tables import read_table
    from explorer.services.audit_table_data import read_csv

    if args.encoding and not args.csv:
        raise ValueError("--encoding is a CSV's text encoding; a Parquet file or a shipped table carries its own: "
                         "leave --encoding out")
    if args.csv:  # UTF-8, UTF-16 by its byte-order mark, or --encoding; another one is refused with what to try
        hint = ("save it as 'CSV UTF-8' and try again, or pass its encoding: try --encoding cp1252 (Windows' Western "
                "European) or the one it was saved in")
        return read_csv(args.csv, args.encoding, hint), args.csv, args.label
    if args.parquet:
        return read_table_parquet(args.parquet), args.parquet, args.label
    table = read_table(args.table)
    return (table.rows("test", complete=True).reset_index(drop=True),
            f"the {args.table} table's test split (complete rows)", args.label or table.target)


def _types(args: argparse.Namespace, frame):
    """(the rows with --types applied, the report's `column_types` and `types_corrected`); ValueError (one line)
    for a column not in the table or one that cannot be read as numbers."""
    from explorer.services.audit_table_data import KINDS, column_types, retype_columns

    asked = {c: KINDS[k] for group in args.types for c, k in group}  # a column given twice: the last kind
    try:
        frame = retype_columns(frame, asked) if asked else frame
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith("--types") else f"--types: {err}") from None
    return frame, {"column_types": column_types(frame), "types_corrected": asked}


def _decisions(args: argparse.Namespace, frame, cfg, about: dict, multiclass: bool):
    """Every check before a row is scored: label and groups (before a model is loaded), the model and its inputs
    (`--map column=input` first), the predictions column, the map to the census world's variables. Returns
    (prepared or None, the model or None, a predictions column's values or None, card metrics, {column: variable});
    ValueError (one line) on the first problem."""
    from explorer.evaluate.audit_table import check_columns, predictions_column, prepare
    from explorer.metrics.cf_fairness import match_variables
    from explorer.scm.census import CENSUS_COLUMNS

    pairs, columns = [p for group in args.map for p in group], list(map(str, frame.columns))
    prepared = None if multiclass else prepare(frame, cfg)
    model, given, card = None, None, None
    if args.predictions:
        check_columns(frame, [args.predictions], "predictions")
        _, world_map = split_map(pairs, columns, [])
        given = predictions_column(frame[args.predictions], frame[cfg.label], prepared.positive)
        about["predictions"] = f"the column {args.predictions} (group metrics only; no model)"
    else:
        model, about["predictions"], card = _model(args)
        input_map, world_map = split_map(pairs, columns, list(model.inputs))
        model = model.with_inputs(input_map)
        used = model.columns(columns)  # every input matched to a column before a row is scored
        about["model_inputs"] = {"by_name": {i: c for i, c in used.items() if c not in input_map},
                                 "by_map": {i: c for i, c in used.items() if c in input_map}}
    match_variables(CENSUS_COLUMNS, columns, world_map)  # a bad --map refused before anything runs
    return prepared, model, given, card, world_map


def _cf(args: argparse.Namespace, report: dict, rows, frame, predict, protected: tuple[str, ...],
        world_map: dict[str, str]) -> None:
    """--cf: counterfactual fairness through the census world or the learned model (--causal-model); a one-line
    note in the report when it cannot run."""
    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.audit_table import add_cf_fairness
    from explorer.metrics.cf_fairness_learned import causal_model_name, learned_model, one_torch_thread
    from explorer.scm.census import load_census_world

    if predict is None:
        report["cf_fairness"] = {"note": "counterfactual fairness is missing: it asks a model again on "
                                         "counterfactual rows, and a predictions column cannot be asked"}
        return
    try:
        scm = learned_model() if args.causal_model == "learned" else load_census_world()[0]
    except CheckpointError as err:
        report["cf_fairness"] = {"note": f"counterfactual fairness is missing: {' '.join(str(err).split())}"}
        return
    learned = args.causal_model == "learned"
    with one_torch_thread() if learned else nullcontext():  # the learned model's small calls: one thread is faster
        add_cf_fairness(report, rows, frame, predict, scm, protected, draws=args.cf_draws, seed=args.seed,
                        column_map=world_map, chunk_rows=args.chunk_rows)  # the same chunks as --engine ray
    if learned and "causal_model" in report["cf_fairness"]:
        report["cf_fairness"]["causal_model"] = causal_model_name(scm.vae)


def _report(path: str, report: dict, card: dict | None) -> str | bytes:
    """The report in the format its suffix names (checked while parsing: .html or .pdf)."""
    if path.lower().endswith(".pdf"):
        from explorer.evaluate.audit_table_pdf import to_pdf

        return to_pdf(report, card)
    from explorer.evaluate.audit_table_html import to_html

    return to_html(report, card)


def _recourse(args: argparse.Namespace, report: dict, rows, frame, predict, world_map: dict[str, str]) -> None:
    """--recourse N: both recourse searches on the first N rejected rows; a one-line note when they cannot run."""
    import numpy as np

    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.audit_table import world_view
    from explorer.evaluate.audit_table_recourse import add_recourse, causal_models

    try:
        scm, learned = causal_models(args.causal_model)  # the world, and the learned VAE if asked for
    except CheckpointError as err:
        report["recourse"] = {"note": f"recourse is missing: {' '.join(str(err).split())}"}
    else:
        world = world_view(frame, predict, scm, world_map)  # the world's names; the model still reads the table's
        # a row the model failed on has no decision (-1 here): never searched as a rejected row
        decided = rows.assign(prediction=rows["prediction"].fillna(-1).astype(np.int64))
        try:
            add_recourse(report, decided, world.frame, world.predict, scm, args.recourse, learned=learned)
        except ValueError as err:  # the model fails on a changed row (a category it never saw): said, not a crash
            report["recourse"] = {"note": f"recourse is missing: {' '.join(str(err).split())[:300]}"}
        if "causal" in report["recourse"]:
            report["recourse"]["matching"] = world.matching
    if "note" in report["recourse"] and "causal" not in report["recourse"]:
        print(f"note: {report['recourse']['note']}", file=sys.stderr)  # the one line saying why


def _model(args: argparse.Namespace):
    """(the model, how the report names it, its card's metrics or None): a shipped one from the registry, or the
    user's file."""
    if args.shipped:
        from explorer.registry import load_table_classifier

        model, card = load_table_classifier(args.shipped)
        return (model, f"the shipped model {args.shipped} (test accuracy {card['metrics']['test_accuracy']:.4f})",
                card["metrics"])
    from explorer.models.table_onnx import load_table_model

    path = Path(args.model)
    return load_table_model(path.read_bytes(), path.stem), f"the ONNX model {path.name}", None
