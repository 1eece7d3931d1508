"""Command line: `python -m explorer {train,evaluate,export,data,audit-text,audit-classifier,audit-table} ...`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from explorer.cli_audit_table import add_audit_table, train_adult_models_command
from explorer.cli_census_evaluate import add_census_evaluate
from explorer.cli_census_export import add_census_export
from explorer.cli_census_train import add_census_train
from explorer.cli_cf_generator import add_cf_generator_train, add_cf_training
from explorer.cli_checks import (OneLineParser, count, input_file, input_folder, output_file, output_folder, real,
                                 save, seed, strategy)
from explorer.training.run_configs import MORPHO_COMPONENTS, PENDULUM_COMPONENTS


def _train(args: argparse.Namespace) -> int:
    other = {"pendulum": _train_pendulum, "causalm": _train_causalm, "census-world": _train_census_world,
             "adult-models": train_adult_models_command}.get(args.world)
    if other is not None:
        return other(args)
    if (comps := _only(args, MORPHO_COMPONENTS, "component")) is None:
        return 2
    from explorer.training.morpho import TrainConfig, train_morpho  # Lightning (~10 s): once the settings are right

    train_morpho(TrainConfig(components=comps, gen_epochs=args.gen_epochs, gen_cover=args.gen_cover,
                             gen_cf_epochs=args.gen_cf_epochs, clf_epochs=args.clf_epochs, limit=args.limit,
                             devices=args.devices, strategy=args.strategy, out=Path(args.out or TrainConfig.out),
                             command="python -m explorer " + " ".join(sys.argv[1:])))
    return 0


def _only(args: argparse.Namespace, allowed: tuple[str, ...], what: str) -> tuple[str, ...] | None:
    """`--only a,b` checked against `allowed` (all when absent); None after printing an error."""
    chosen = tuple(args.only.split(",")) if args.only else allowed
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        print(f"error: unknown {what}(s) {unknown}; choose from {', '.join(allowed)}", file=sys.stderr)
        return None
    return chosen


def _train_pendulum(args: argparse.Namespace) -> int:
    if (comps := _only(args, PENDULUM_COMPONENTS, "component")) is None:
        return 2
    from explorer.training.pendulum import PendulumTrainConfig, train_pendulum

    cfg = PendulumTrainConfig(components=comps, graph=args.graph, devices=args.devices, strategy=args.strategy,
                              command="python -m explorer " + " ".join(sys.argv[1:]))
    for name in ("epochs", "n_train", "regressor_epochs", "n_regressor", "n_val", "interventional_fraction"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    if args.out:
        cfg.out = Path(args.out)
    train_pendulum(cfg)
    return 0


def _train_census_world(args: argparse.Namespace) -> int:
    from explorer.scm.census import CensusWorldConfig
    from explorer.training.census_world import train_census_world

    cfg = CensusWorldConfig(command="python -m explorer " + " ".join(sys.argv[1:]))
    if args.seed is not None:
        cfg.seed = args.seed
    if args.out:
        cfg.out = Path(args.out)
    train_census_world(cfg)
    return 0


def _train_causalm(args: argparse.Namespace) -> int:
    from explorer.datasets.text_tasks import CONCEPTS
    from explorer.training.causalm import CausalmTrainConfig, train_causalm

    concepts = _only(args, CONCEPTS, "concept")
    if concepts is None:
        return 2
    cfg = CausalmTrainConfig(concepts=concepts, limit=args.limit, devices=args.devices, strategy=args.strategy,
                             command="python -m explorer " + " ".join(sys.argv[1:]))
    if args.epochs is not None:
        cfg.epochs = {c: args.epochs for c in concepts}
    if args.adv_weight is not None:
        cfg.w_adv = {c: args.adv_weight for c in concepts}
    if args.clean_pass is not None:
        cfg.clean_pass = {c: args.clean_pass for c in concepts}
    cfg.erase = args.erase
    if args.base is not None:
        cfg.encoder.base = str(Path(args.base).resolve())  # the cards record it; pages and evaluate load it
    if args.trainable_layers is not None:
        cfg.encoder.trainable_layers = args.trainable_layers
    if args.seed is not None:
        cfg.seed, cfg.seeds = args.seed, {}  # every concept trained here
    if args.out:
        cfg.out = Path(args.out)
    from explorer.models.text_encoder import BaseModelMissing, check_base

    try:
        check_base(cfg.encoder)  # a wrong folder or layer count fails here, not after the data is prepared
    except (BaseModelMissing, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    train_causalm(cfg)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.world.startswith("causalm"):
        from explorer.datasets.text_tasks import CONCEPTS
        from explorer.evaluate.ablation_causalm import erasure_ablation
        from explorer.evaluate.causalm import evaluate_causalm
        from explorer.evaluate.name_rank_sweep import name_rank_sweep
        from explorer.paths import PRETRAINED

        run, default = {"causalm-erasure": (erasure_ablation, CONCEPTS), "causalm-names": (name_rank_sweep, ("race",))
                        }.get(args.world, (evaluate_causalm, CONCEPTS))
        extra = {"keep_between": args.keep_bank_control} if args.world == "causalm-names" else {}
        if (concepts := _only(args, CONCEPTS, "concept") if args.only else default) is None:
            return 2
        result = run(concepts, limit=args.limit, folder=Path(args.folder) if args.folder else PRETRAINED,
                     split=args.split, **extra)
    elif args.world == "search":
        from explorer.evaluate.search import evaluate_search

        result = evaluate_search(n=args.n, seed=args.seed, resume=True,  # chunks kept in .cache: rerun to go on
                                 progress=lambda what: print(f"[search] {what}", file=sys.stderr))
    elif args.world == "pendulum":
        from explorer.evaluate.pendulum import evaluate_pendulum

        result = evaluate_pendulum(n=args.n, seed=args.seed)
    else:
        from explorer.evaluate.morpho import evaluate_morpho

        result = evaluate_morpho(n=args.n, seed=args.seed)
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json:
        save(args.json, text + "\n")
    print(text)
    return 0


def _data(args: argparse.Namespace) -> int:
    from explorer.datasets.morpho import load_morpho
    from explorer.training.datasets import colour_values

    for split in ("train", "val", "test"):
        data = load_morpho(split)
        line = f"{split}: {len(data)} images cached"
        if args.strength is not None:
            hue = colour_values(data, args.strength, data_seed_for_colour(split))["hue"]
            corr = float(np.corrcoef(hue, data.values["digit"])[0, 1])
            line += f"; colour strength {args.strength}: realised corr(hue, digit) = {corr:.3f}"
        print(line)
    return 0


def _export(args: argparse.Namespace) -> int:
    from explorer.counterfactual.debias import ExportError, export_pendulum

    try:
        result = export_pendulum(args.cut or [], n=args.n, seed=args.seed, out=Path(args.out))
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def _audit_text(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from explorer.services.audit import AuditError, audit, load_audit_model, parse_model_name, read_audit_csv
    from explorer.checkpoints import CheckpointError
    from explorer.models.text_encoder import BaseModelMissing

    try:
        parse_model_name(args.model)  # a typo in the name fails before the file is read or a model loads
    except AuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    clash = [o for o in (args.json, args.markdown, args.rows) if o and Path(o).resolve() == Path(args.csv).resolve()]
    if clash:  # the report would overwrite the texts it was computed from
        print(f"error: {clash[0]}: an output may not be the input CSV; write the report elsewhere", file=sys.stderr)
        return 2
    try:
        frame = read_audit_csv(Path(args.csv))
    except AuditError as err:
        print(f"error: {args.csv}: {err}", file=sys.stderr)
        return 2
    try:
        model = load_audit_model(args.model)
    except (CheckpointError, BaseModelMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with tqdm(total=len(frame), unit="text", desc=f"auditing with {model.name}", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            report = audit(frame, model, batch_size=args.batch_size, progress=progress)
        except AuditError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for path, write in ((args.json, report.to_json), (args.markdown, report.to_markdown),
                        (args.rows, report.to_rows_csv)):
        if path:
            save(path, write())
    print(report.to_markdown())
    return 0


def _audit_classifier(args: argparse.Namespace) -> int:
    """`audit-classifier`: what flips a shipped or an ONNX classifier; one-line errors, exit status 2."""
    from tqdm.auto import tqdm

    from explorer.data.upload_onnx import OnnxUploadError
    from explorer.device import pick_device
    from explorer.evaluate.audit_classifier import audit_classifier, check_request, to_markdown
    from explorer.models.onnx_classifier import load_onnx_classifier
    from explorer.registry import DIGIT_CLASSIFIERS, load_classifier

    device = pick_device()
    if args.classifier is not None:
        if args.classifier not in DIGIT_CLASSIFIERS:
            print(f"error: unknown classifier {args.classifier!r}; shipped: {', '.join(DIGIT_CLASSIFIERS)} "
                  "(or pass --onnx FILE)", file=sys.stderr)
            return 2
        clf = load_classifier(args.classifier, device)
    else:
        path = Path(args.onnx)  # a file that can be read: checked while parsing
        try:
            clf = load_onnx_classifier(path.read_bytes(), name=path.stem, scale=args.input_scale,
                                       mean=args.mean, std=args.std,
                                       prefer_gradients=not args.onnxruntime_only, device=device)
        except OnnxUploadError as err:
            print(f"error: {path}: {' '.join(str(err).split())}", file=sys.stderr)
            return 2
    try:  # the options are checked before a single digit is searched
        check_request(clf, args.n, args.world, args.steps, args.method)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with tqdm(unit="digit", desc=f"what flips {clf.name}", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = audit_classifier(clf, args.n, args.world, seed=args.seed, steps=args.steps, method=args.method,
                                  progress=progress)
    text = to_markdown(report)
    if args.json:  # written whole, after the audit: nothing half-written
        save(args.json, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if args.markdown:
        save(args.markdown, text)
    print(text)
    return 0


def data_seed_for_colour(split: str) -> int:
    """The hue-noise seeds used by training (train, val) and evaluation (test)."""
    from explorer.datasets.morpho import DEFAULT_SEED

    return DEFAULT_SEED + {"train": 1, "val": 2, "test": 3}[split]


def main(argv: list[str] | None = None) -> int:
    # every value is checked here (explorer/cli_checks.py): a bad one is one `error:` line, exit 2, nothing run
    parser = OneLineParser(prog="python -m explorer", description="Counterfactual Explorer")
    sub = parser.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train the models a page needs")
    tr.add_argument("world", choices=["morpho", "pendulum", "causalm", "census-world", "adult-models", "census",
                                      "cf-generator", "cf-training"],
                    help="census-world: the SCM fitted to Adult (data, graph and fidelity in docs/census.md); "
                         "adult-models: the Adult classifiers audit-table ships (docs/audit-table.md)")
    tr.add_argument("--only", help="comma-separated: classifier,classifier_hue,oracle,generator "
                                   "(pendulum: regressor,vae; causalm: adjectives,gender,race)")
    tr.add_argument("--gen-epochs", type=count(1, 10_000), default=6)
    tr.add_argument("--gen-cover", action="store_true", help="morpho: also TRUE redrawings at 1-5.5 px (docs/morpho.md)")
    tr.add_argument("--gen-cf-epochs", type=count(0, 100), default=0, help="morpho: then N epochs on TRUE cf pairs")
    tr.add_argument("--clf-epochs", type=count(1, 10_000), default=2)
    tr.add_argument("--limit", type=count(1), help="train on the first N samples only")
    tr.add_argument("--devices", type=count(1, 64), default=1, help="processes / GPUs for DDP")
    tr.add_argument("--strategy", type=strategy, default="auto", help="Lightning strategy, e.g. ddp")
    tr.add_argument("--out", type=output_folder, help="folder for checkpoints (default: pretrained/)")
    tr.add_argument("--graph", choices=["partial", "learned", "fixed", "tiers"], default="partial",
                    help="pendulum, census: which edges the causal layer learns (partial: edges into the roots known "
                         "absent, the rest learned; census only, tiers: also none against the published order)")
    tr.add_argument("--epochs", type=count(1, 10_000), help="pendulum, census: VAE epochs; causalm: stage-1 epochs")
    # scenes are held in memory: 100,000 of them take ~1.2 GB
    tr.add_argument("--n-train", type=count(1, 100_000), help="pendulum: training scenes")
    tr.add_argument("--interventional-fraction", type=real(0, 1),
                    help="pendulum: share of training scenes where do() set the shadows (default 0.4)")
    tr.add_argument("--adv-weight", type=real(0),
                    help="causalm: weight of the adversarial losses (default: 3 for adjectives, 1 for the templates)")
    tr.add_argument("--clean-pass", action=argparse.BooleanOptionalAction, default=None,
                    help="causalm: sentence and control heads read a second, unmasked pass (~1.5x slower; "
                         "default: on for adjectives, off for the templates)")
    tr.add_argument("--erase", action=argparse.BooleanOptionalAction, default=True,
                    help="causalm: fit a LEACE linear eraser on CF's pooled output after stage 1 (default: on)")
    tr.add_argument("--base", type=input_folder, help="causalm: a local Hugging Face BERT folder to build on "
                                                      "instead of the packaged all-MiniLM-L6-v2 (nothing is downloaded)")
    tr.add_argument("--trainable-layers", type=count(1),
                    help="causalm: top encoder layers CausaLM re-trains (default 2; the rest stay frozen)")
    tr.add_argument("--seed", type=seed, help="causalm: seed of stage 1's batches and masks and of the heads "
                                            "(default: 2028 for adjectives, 2026 for the templates; O and CF always share it); "
                                            "census-world: seed of the world samples its fidelity is measured on (default 0)")
    tr.add_argument("--regressor-epochs", type=count(1, 10_000), help="pendulum: regressor epochs")
    tr.add_argument("--n-regressor", type=count(1, 100_000), help="pendulum: regressor training renders")
    tr.add_argument("--n-val", type=count(1, 100_000), help="pendulum: validation scenes of the cards (default 1000)")
    tr.set_defaults(fn=_train)
    add_census_train(tr, _train)  # train census: explorer/cli_census_train.py
    add_cf_generator_train(tr)  # train cf-generator: explorer/cli_cf_generator.py
    ev = sub.add_parser("evaluate", help="score the shipped models")
    ev.add_argument("world", choices=["morpho", "pendulum", "search", "causalm", "causalm-erasure", "causalm-names",
                                      "census", "cf-training"],
                    help="causalm-erasure: what CF's adversary and its LEACE eraser each contribute; "
                         "causalm-names: the eraser's name-identity rank (both: use --split val, where settings "
                         "are chosen)")
    ev.add_argument("--only", help="causalm: comma-separated concepts (default: all)")
    ev.add_argument("--limit", type=count(1), help="causalm: first N texts of every split (smoke runs)")
    ev.add_argument("--split", choices=["test", "val"], default="test",
                    help="causalm: val to compare training settings (never choose them on test)")
    ev.add_argument("--folder", type=input_folder, help="causalm: checkpoint folder (default: pretrained/)")
    ev.add_argument("--keep-bank-control", action="store_true",
                    help="causalm-names: also keep the name bank's gender gap out of the erased directions")
    ev.add_argument("--n", type=count(1, 10_000), default=1000, help="test examples (the digits' test set has 10,000)")
    ev.add_argument("--seed", type=seed, default=0)
    ev.add_argument("--json", type=output_file, help="write the metrics here")
    add_census_evaluate(ev, _evaluate)  # evaluate census: explorer/cli_census_evaluate.py
    add_cf_training(tr, ev)  # train / evaluate cf-training: explorer/cli_cf_generator.py
    ex = sub.add_parser("export", help="a de-biased dataset: pendulum (zip of PNGs + CSV) or census (CSV + card)")
    ex.add_argument("world", choices=["pendulum", "census"], help="census: the census world's TRUE mechanisms")
    ex.add_argument("--cut", action="append", metavar="PARENT:CHILD", help="an edge to cut (repeatable)")
    ex.add_argument("--n", type=count(1), default=1000, help="samples (pendulum: at most 100,000; census: 1,000,000)")
    ex.add_argument("--seed", type=seed, default=0)
    ex.add_argument("--out", type=output_file, required=True, help="the file to write (pendulum .zip, census .csv)")
    add_census_export(ex, _export)  # export census: explorer/cli_census_export.py
    da = sub.add_parser("data", help="build the derived-data cache")
    da.add_argument("world", choices=["morpho"])
    da.add_argument("--strength", type=real(0, 1), help="also report the colour world's realised hue-digit correlation")
    da.set_defaults(fn=_data)
    au = sub.add_parser("audit-text", help="concept effects of a CausaLM model on your own CSV of texts")
    au.add_argument("--csv", type=input_file, required=True,
                    help="UTF-8 CSV with a `text` column (optional: label, concept, text_cf, group)")
    au.add_argument("--model", default="emotion-gender",
                    help="emotion-gender, emotion-race or sentiment-adjectives, optionally with "
                         ":balanced, :gentle or :aggressive")
    au.add_argument("--json", type=output_file, help="write the report here (JSON)")
    au.add_argument("--markdown", type=output_file, help="also write the report here (Markdown)")
    au.add_argument("--rows", type=output_file, help="also write every row's predictions from both models here (CSV)")
    au.add_argument("--batch-size", type=count(1, 65_536), default=256, help="texts per model call")
    au.set_defaults(fn=_audit_text)
    ac = sub.add_parser("audit-classifier", help="what flips a digit classifier: the search per attribute set")
    which = ac.add_mutually_exclusive_group(required=True)
    which.add_argument("--classifier", help="a shipped classifier, e.g. morpho-cnn-hue (a wrong name lists them all)")
    which.add_argument("--onnx", type=input_file,
                       help="your own model: an .onnx file taking (B, 1 or 3, 28, 28), 10 outputs")
    ac.add_argument("--input-scale", type=float, choices=[1.0, 255.0], default=255.0,
                    help="--onnx: the pixel range the model expects, 0-1 (1) or 0-255 (255)")
    ac.add_argument("--mean", type=real(), nargs="+", help="--onnx: normalisation mean, one per channel or one")
    ac.add_argument("--std", type=real(0, above=True), nargs="+",
                    help="--onnx: normalisation std, one per channel or one")
    ac.add_argument("--onnxruntime-only", action="store_true",
                    help="--onnx: run the model by onnxruntime even when it converts to PyTorch (no gradients)")
    ac.add_argument("--world", choices=["grey", "colour"], required=True, help="the world the test digits come from")
    ac.add_argument("--n", type=count(1, 10_000), default=100, help="test digits (the test set has 10,000)")
    ac.add_argument("--steps", type=count(1, 100_000), default=200,
                    help="search steps (or generations) per digit at most")
    ac.add_argument("--method", choices=["auto", "aip", "aip-blackbox", "random", "both"], default="auto",
                    help="auto: AIP when the model has gradients, else black-box AIP; both: AIP or random search")
    ac.add_argument("--seed", type=seed, default=0)
    ac.add_argument("--json", type=output_file, help="write the report here (JSON)")
    ac.add_argument("--markdown", type=output_file, help="also write the report here (Markdown)")
    ac.set_defaults(fn=_audit_classifier)
    add_audit_table(sub)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except Exception as err:
        # a model missing or damaged (not a bad value): the message names the rebuild. Its class is not imported
        # up front: torch's import (~3 s) would hold up every bad value's one-line answer.
        checkpoints = sys.modules.get("explorer.checkpoints")  # loaded by whatever raised a CheckpointError
        if checkpoints is None or not isinstance(err, checkpoints.CheckpointError):
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
