"""`python -m explorer train adult-models`: the two Adult classifiers shipped to audit, as ONNX with a card.

A logistic regression and a gradient-boosted model (scikit-learn's GradientBoostingClassifier), each a scikit-learn Pipeline (one-hot for the
categorical columns, standard scaling for the numeric ones), fitted on Adult's complete training rows
(`explorer.data.tables.read_adult`: adult.data less the seeded validation rows) and exported by skl2onnx with
one named input per column (strings for categoricals, floats for numbers) and an (n, 2) probability output.
Nothing is pickled: the Pipeline lives only in this process, the ONNX file is what ships.

The card's test accuracy and AUC are computed on the complete test rows (adult.test) by the ONNX file itself,
through `explorer.models.table_onnx`, so they are the numbers an audit of the shipped file reproduces.
`fnlwgt` (a sampling weight, not a trait of the person) and `education` (the same order as `education_num`)
are left out; sex and race are inputs, as in most published Adult models, so the audit has something to find.
About 10-20 s for both on one core (the booster's 200 trees take most of it).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from explorer.checkpoints import write_card
from explorer.data.tables import Table, read_adult
from explorer.models.table_onnx import load_table_model
from explorer.paths import PRETRAINED, ROOT

NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
CATEGORICAL = ("workclass", "marital_status", "occupation", "relationship", "race", "sex", "native_country")
POSITIVE = ">50K"  # label 1: income above 50K, the "approved" outcome of the audit's plain words
MODELS = ("adult-logreg", "adult-gbm")
OPSET = {"": 18, "ai.onnx.ml": 3}  # what onnxruntime 1.31 and onnx2torch-era tools all read


@dataclass
class AdultModelsConfig:
    """What `train adult-models` fits and where it writes."""

    models: tuple[str, ...] = MODELS
    seed: int = 0
    logreg_c: float = 1.0  # inverse L2 strength; default scikit-learn regularisation
    gbm_trees: int = 200
    gbm_learning_rate: float = 0.1
    gbm_depth: int = 4
    out: Path = field(default_factory=lambda: PRETRAINED)
    command: str = "python -m explorer train adult-models"


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns: categoricals as str, numbers as float32 (what the ONNX inputs take)."""
    return pd.concat([frame[list(CATEGORICAL)].astype(str), frame[list(NUMERIC)].astype(np.float32)], axis=1)


def labels(frame: pd.DataFrame) -> np.ndarray:
    """(n,) 1 where income is >50K."""
    return (frame["income"].astype(str) == POSITIVE).to_numpy(np.int64)


def pipeline(name: str, config: AdultModelsConfig) -> Pipeline:
    """One-hot + scaling, then the classifier `name` stands for."""
    prep = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
                              ("num", StandardScaler(), list(NUMERIC))])
    if name == "adult-logreg":
        clf = LogisticRegression(C=config.logreg_c, max_iter=2000, random_state=config.seed)
    else:
        # Not HistGradientBoosting: skl2onnx 1.20 cannot convert scikit-learn 1.9's (its missing-value flags are
        # booleans where ONNX wants ints); the classic booster converts and is accurate enough on 29k rows.
        clf = GradientBoostingClassifier(n_estimators=config.gbm_trees, learning_rate=config.gbm_learning_rate,
                                         max_depth=config.gbm_depth, random_state=config.seed)
    return Pipeline([("prep", prep), ("clf", clf)])


def export(model: Pipeline) -> bytes:
    """The fitted Pipeline as ONNX bytes: one input per column, probabilities as an (n, 2) tensor (no ZipMap)."""
    types = [(c, StringTensorType([None, 1])) for c in CATEGORICAL] + [(c, FloatTensorType([None, 1])) for c in NUMERIC]
    onx = to_onnx(model, initial_types=types, target_opset=OPSET, options={id(model): {"zipmap": False}})
    return onx.SerializeToString()


def train_adult_models(config: AdultModelsConfig, progress: Callable[[str], None] = print) -> dict[str, dict]:
    """Fits, exports, measures and writes every model in `config.models`; returns {name: card}."""
    table = read_adult()
    train, test = table.rows("train", complete=True), table.rows("test", complete=True)
    cards = {}
    for name in config.models:
        start = time.perf_counter()
        with threadpool_limits(1):  # one core: the machine is shared, and the result must not depend on cores
            fitted = pipeline(name, config).fit(features(train), labels(train))
        seconds = time.perf_counter() - start
        data = export(fitted)
        metrics = measure(data, name, test)
        folder = config.out / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.onnx").write_bytes(data)  # the model first, the card last: a card means a whole model
        cards[name] = card(name, config, table, len(train), len(test), metrics, seconds)
        write_card(folder, cards[name])
        progress(f"{name}: test accuracy {metrics['test_accuracy']:.4f}, AUC {metrics['test_auc']:.4f}, "
                 f"fitted in {seconds:.1f} s -> {folder}")
    return cards


def measure(data: bytes, name: str, test: pd.DataFrame) -> dict[str, float]:
    """Accuracy (threshold 0.5) and AUC of the ONNX model on `test`, as an audit would compute them."""
    p = load_table_model(data, name).predict_proba(test)
    y = labels(test)
    return {"test_accuracy": float(((p >= 0.5) == y).mean()), "test_auc": float(roc_auc_score(y, p))}


def card(name: str, config: AdultModelsConfig, table: Table, n_train: int, n_test: int, metrics: dict,
         seconds: float) -> dict:
    kind = "logistic regression" if name == "adult-logreg" else "gradient-boosted trees model"
    settings = asdict(config) | {"out": _shown(config.out), "models": list(config.models)}
    return {
        "kind": "table-classifier",
        "description": f"A {kind} on the Adult table (scikit-learn Pipeline: one-hot categoricals, scaled numbers), "
                       "exported to ONNX by skl2onnx with one input per column; predicts income >50K. Shipped so "
                       "that `python -m explorer audit-table` has models to audit out of the box.",
        "data": f"{table.source}; complete rows only; train {n_train}, test {n_test} (metrics on test)",
        "date": dt.date.today().isoformat(),
        "seed": config.seed,
        "command": config.command,
        "inputs": {"categorical": list(CATEGORICAL), "numeric": list(NUMERIC)},
        "positive_class": POSITIVE,
        "threshold": 0.5,
        "label": "income",
        "fit_seconds": round(seconds, 1),
        "metrics": metrics,
        "config": settings,
    }


def _shown(folder: Path) -> str:
    """A folder as the card shows it: relative to the repository when inside it, so cards match across clones."""
    folder = Path(folder).resolve()
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)
