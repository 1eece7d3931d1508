"""The learned VAE's faster counterfactual draws give the SAME numbers, bit for bit; and its posterior Gumbels.

The speed-up (docs/audit-table.md, "Through the learned model") computes the abduction and the factual parents'
category probabilities once per row instead of once per draw, and each category probability once per distinct
mean. Checks:
- against outputs saved from the code before the change, when `VAE_BASELINE` names such an .npz (700 census-world
  rows x 4 interventions, both shipped VAEs, best-guess rows, draws, a cut graph, and a cf-fairness report on 1,500
  Adult rows; keys as this test reads them). When the speed-up landed, all 201 arrays matched the pre-change code
  with only the `posterior_gumbels` sign fixed, and the untouched pre-change code before the fix. Skipped without
  the variable: the saved file belongs to one machine (another's BLAS may round differently);
- always: the draws path equals one draw at a time through `TableVAE.counterfactual` on tiled rows;
- always: the de-duplicated category probabilities equal the quadrature over every row;
- always: the posterior Gumbels make the observed category win under the factual probabilities.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.data.tables import read_adult
from explorer.metrics.cf_fairness import CfConfig
from explorer.metrics.cf_fairness_learned import cf_fairness_learned, one_torch_thread
from explorer.models.table_vae import load_table_vae
from explorer.paths import PRETRAINED
from explorer.registry import load_table_classifier
from explorer.scm.census import load_census_world
from explorer.scm.graph import Dag

BASELINE = Path(os.environ.get("VAE_BASELINE", "/nonexistent"))  # off unless a saved file is named
DOS = {"sexF": {"sex": "Female"}, "sexM": {"sex": "Male"}, "edu": {"education": "Bachelors"},
       "hours": {"hours_per_week": 50.0}}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with one_torch_thread():  # as cf_fairness_learned runs, and as the baseline was saved
        yield


@pytest.fixture(scope="module")
def values():
    return load_census_world()[0].sample(700, seed=11)[1]


@pytest.mark.skipif(not BASELINE.exists(), reason="VAE_BASELINE names no saved pre-change outputs")
def test_the_same_numbers_as_before_the_change(values):
    old = np.load(BASELINE)
    checked = 0

    def same(key: str, new: np.ndarray) -> None:
        nonlocal checked
        assert np.array_equal(old[key], new), key
        checked += 1

    for folder in ("census-vae-world", "census-vae-adult"):
        vae = load_table_vae(PRETRAINED / folder, "cpu")
        for name, do in DOS.items():
            for c, v in vae.counterfactual_rows(values, do).items():
                same(f"{folder}/{name}/rows/{c}", v)
            for c, v in vae.counterfactual_draws(values, do, draws=20, seed=3).items():
                same(f"{folder}/{name}/draws/{c}", v)
        cut = Dag(vae.graph.nodes, frozenset(e for e in vae.graph.edges if e[0] != "sex"))
        for c, v in vae.counterfactual_draws(values, {"sex": 1 - values["sex"]}, cut, draws=7, seed=5).items():
            same(f"{folder}/cut/draws/{c}", v)
    vae = load_table_vae(PRETRAINED / "census-vae-adult", "cpu")
    adult = read_adult().rows("test", complete=True).iloc[:1500].reset_index(drop=True)
    logreg, _ = load_table_classifier("adult-logreg")
    report, eff = cf_fairness_learned(adult, logreg.predict_proba, vae, CfConfig(draws=20, seed=0), chunk_rows=600)
    same("report", np.array(json.dumps(report, sort_keys=True)))
    same("eff_flip", eff.flip)
    same("eff_dp", eff.abs_dp)
    assert checked == len(old.files)  # every saved array was compared


def test_the_draws_path_is_one_draw_at_a_time_on_tiled_rows(values):
    vae = load_table_vae(PRETRAINED / "census-vae-adult", "cpu")
    x = vae._rows(values)
    do = vae._do({"sex": 1 - values["sex"]}, len(x))
    with torch.inference_mode():
        fast = vae.model.counterfactual_draws(x, do, None, torch.Generator().manual_seed(4), 6)
        tiled = {j: v.repeat(6) for j, v in do.items()}
        slow = vae.model.counterfactual(x.repeat(6, 1), tiled, None, torch.Generator().manual_seed(4))[0]
    assert torch.equal(fast, slow)
    assert not torch.equal(fast[: len(x)], fast[len(x): 2 * len(x)])  # the draws do differ (Gumbels)


def test_distinct_means_give_the_quadrature_of_every_row():
    vae = load_table_vae(PRETRAINED / "census-vae-adult", "cpu")
    j = vae.model.disc[4]
    base = torch.randn(300, 1, generator=torch.Generator().manual_seed(0))
    mean = base[torch.randint(0, 300, (5000,), generator=torch.Generator().manual_seed(1))]  # repeats, as draws
    with torch.inference_mode():
        assert torch.equal(vae.model.category_logits(mean, j), vae.model._quadrature(mean, j))


def test_the_posterior_gumbels_give_the_observed_category_back():
    """Abduction's contract: under the factual probabilities, the abducted Gumbels reproduce the observed category
    in every draw (the world's `GumbelMax.abduct` does; the pre-change code put -max at the observed category)."""
    from explorer.models.table_vae_net import posterior_gumbels

    gen = torch.Generator().manual_seed(0)
    logits = torch.log_softmax(3 * torch.randn(4000, 16, generator=gen), -1)  # (B, K): some categories improbable
    observed = torch.randint(0, 16, (4000,), generator=gen)
    noise = posterior_gumbels(logits, observed, gen)
    assert torch.equal((logits + noise).argmax(-1), observed)
