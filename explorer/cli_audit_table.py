"""The command line's `audit-table` and `train adult-models`, wired here to keep `__main__.py` short.

`audit-table` audits a model (an ONNX file or a shipped one) or a predictions column on a CSV, a Parquet file or a
shipped table. Every bad input is one `error:` line and exit status 2, before anything is written: values are checked
while parsing (explorer/cli_checks.py), columns and the model's inputs before the first chunk is scored, and
the outputs are written whole after the audit (`save`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.cli_checks import count, input_file, output_file, real, save, seed

TABLES = ("adult", "compas", "german")


def add_audit_table(sub: argparse._SubParsersAction) -> None:
    """The `audit-table` subcommand's options (docs/audit-table.md)."""
    at = sub.add_parser("audit-table", help="group fairness of a model (ONNX) or a predictions column on a table")
    data = at.add_mutually_exclusive_group(required=True)
    data.add_argument("--csv", type=input_file, help="your table: a UTF-8 CSV with a header")
    data.add_argument("--parquet", type=input_file, help="your table as Parquet (flat columns; nested ones refused)")
    data.add_argument("--table", choices=TABLES, help="a shipped table (its test split, complete rows)")
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
    at.add_argument("--recourse", type=count(0, 100_000), default=0, metavar="N",
                    help="also causal recourse (and the non-causal baseline) for the first N rejected rows, through "
                         "the census world (0: off; docs/audit-table.md)")
    at.add_argument("--json", type=output_file, required=True, help="write the report here (JSON)")
    at.add_argument("--rows", type=output_file, help="also write every row's label and prediction here (CSV)")
    at.add_argument("--markdown", type=output_file, help="also write the report here (Markdown)")
    at.add_argument("--report", type=report_file, help="also write the report here: one self-contained HTML file "
                                                        "(.html) or a PDF (.pdf); docs/audit-table.md")
    at.set_defaults(fn=audit_table_command)


def report_file(text: str) -> str:
    """--report: an .html or .pdf file to write (checked while parsing, so a wrong suffix writes nothing)."""
    suffix = Path(text).suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise argparse.ArgumentTypeError(f"{text!r} ends in {suffix or 'no suffix'!r}: the report is HTML or PDF; "
                                         "use .html or .pdf")
    return output_file(text)


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
    from explorer.data.table_csv import read_table_csv, read_table_parquet
    from explorer.data.tables import read_table
    from explorer.evaluate.audit_table import AuditTableConfig, audit_table, check_columns, predictions_column, prepare
    from explorer.evaluate.audit_table_report import to_markdown
    from explorer.metrics.group_fairness import BootstrapConfig

    protected = tuple(c.strip() for c in args.protected.split(",") if c.strip())
    if not protected:
        return _fail("--protected names no column; pass e.g. --protected sex,race")
    try:
        if args.csv or args.parquet:
            path = args.csv or args.parquet
            frame = read_table_csv(path) if args.csv else read_table_parquet(path)
            source, label = path, args.label
        else:
            table = read_table(args.table)
            frame = table.rows("test", complete=True).reset_index(drop=True)
            source, label = f"the {args.table} table's test split (complete rows)", args.label or table.target
    except ValueError as err:
        return _fail(f"{args.csv or args.parquet or args.table}: {err}")
    if label is None:
        return _fail("--label is required with --csv or --parquet; name the column of true outcomes")
    cfg = AuditTableConfig(label=label, protected=protected, positive=args.positive, threshold=args.threshold,
                           chunk_rows=args.chunk_rows, boot=BootstrapConfig(args.n_boot, args.seed))
    predict, given, about, card = None, None, {"source": source}, None
    try:
        prepared = prepare(frame, cfg)  # label and groups checked before a model is loaded
        if args.predictions:
            check_columns(frame, [args.predictions], "predictions")
            given = predictions_column(frame[args.predictions], frame[label], prepared.positive)
            about["predictions"] = f"the column {args.predictions} (group metrics only; no model)"
        else:
            model, about["predictions"], card = _model(args)
            model.columns(list(frame.columns))  # every input matched to a column before a row is scored
            predict = model.predict_proba
    except (ValueError, CheckpointError) as err:
        return _fail(f"{args.model + ': ' if args.model else ''}{err}")
    with tqdm(total=len(frame), unit="row", desc="auditing", file=sys.stderr) as bar:
        try:
            report, rows = audit_table(frame, cfg, predict, given, about,
                                       progress=lambda done, total: bar.update(done - bar.n), prepared=prepared)
        except ValueError as err:
            return _fail(str(err))
    if args.cf:
        _cf(args, report, rows, frame, predict, protected)
    if args.recourse:
        _recourse(args, report, rows, frame, predict)
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


def _cf(args: argparse.Namespace, report: dict, rows, frame, predict, protected: tuple[str, ...]) -> None:
    """--cf: counterfactual fairness through the census world; a one-line note in the report when it cannot run."""
    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.audit_table import add_cf_fairness
    from explorer.scm.census import load_census_world

    if predict is None:
        report["cf_fairness"] = {"note": "counterfactual fairness is missing: it asks a model again on "
                                         "counterfactual rows, and a predictions column cannot be asked"}
        return
    try:
        scm, _ = load_census_world()
    except CheckpointError as err:
        report["cf_fairness"] = {"note": f"counterfactual fairness is missing: {' '.join(str(err).split())}"}
        return
    add_cf_fairness(report, rows, frame, predict, scm, protected, draws=args.cf_draws, seed=args.seed)


def _report(path: str, report: dict, card: dict | None) -> str | bytes:
    """The report in the format its suffix names (checked while parsing: .html or .pdf)."""
    if path.lower().endswith(".pdf"):
        from explorer.evaluate.audit_table_pdf import to_pdf

        return to_pdf(report, card)
    from explorer.evaluate.audit_table_html import to_html

    return to_html(report, card)


def _recourse(args: argparse.Namespace, report: dict, rows, frame, predict) -> None:
    """--recourse N: both recourse searches on the first N rejected rows; a one-line note when they cannot run."""
    from explorer.checkpoints import CheckpointError
    from explorer.evaluate.audit_table_recourse import add_recourse
    from explorer.scm.census import load_census_world

    try:
        scm, _ = load_census_world()
    except CheckpointError as err:
        report["recourse"] = {"note": f"recourse is missing: {' '.join(str(err).split())}"}
    else:
        add_recourse(report, rows, frame, predict, scm, args.recourse)
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
