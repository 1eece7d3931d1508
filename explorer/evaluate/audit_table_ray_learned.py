"""The causal model an audit's chunks go through, by name, loaded once per process: the census world ("world") or
the table lab's learned model of Adult ("learned", pretrained/census-vae-adult, weights read with safetensors).

The chunked engines (explorer/evaluate/audit_table_ray.py) send only this name to their tasks, never a model: each
Ray worker loads the causal model from its own copy of the repository the first time a chunk asks for it, and
keeps it for the next chunks (`causal_model`). The learned model runs on one torch thread in every chunk
(`causal_threads`), as the command line's in-process `--cf --causal-model learned` runs it: the same rows, the same
seeds (`cf_fairness.chunk_seed`, one per chunk) and the same thread count give the same posterior draws, so Ray's
numbers equal the in-process ones.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from explorer.metrics.cf_fairness import CAUSAL_MODEL
from explorer.metrics.cf_fairness_learned import LearnedCausalModel, causal_model_name, learned_model, one_torch_thread
from explorer.scm.table_scm import TableSCM

CAUSAL_MODELS = ("world", "learned")  # the command line's --causal-model choices
_LOADED: dict[str, TableSCM | LearnedCausalModel] = {}  # per process: name -> the causal model, loaded on first use


def causal_model(name: str = "world") -> TableSCM | LearnedCausalModel:
    """The causal model `name` names, loaded once per process (CheckpointError naming the rebuild when its files
    are missing; ValueError for a name that is not one of CAUSAL_MODELS)."""
    if name not in CAUSAL_MODELS:
        raise ValueError(f"causal model {name!r} is not one of {', '.join(CAUSAL_MODELS)}")
    if name not in _LOADED:
        if name == "learned":
            _LOADED[name] = learned_model()
        else:
            from explorer.scm.census import load_census_world

            _LOADED[name] = load_census_world()[0]
    return _LOADED[name]


def causal_threads(name: str) -> AbstractContextManager:
    """The learned model's small torch calls on one thread (`one_torch_thread`: faster on shared cores, and the
    in-process path's own setting); nothing for the world, which does not use torch."""
    return one_torch_thread() if name == "learned" else nullcontext()


def causal_label(scm: TableSCM | LearnedCausalModel) -> str:
    """The report's `cf_fairness.causal_model`, as the in-process command line writes it."""
    if isinstance(scm, LearnedCausalModel):
        return causal_model_name(scm.vae)
    return CAUSAL_MODEL.format(scm.name)
