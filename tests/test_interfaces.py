"""Every world's parts satisfy the shared contracts (explorer/interfaces.py), and the SCMs keep their promises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from explorer.counterfactual.image import MorphoMechanism
from explorer.counterfactual.pendulum import ConceptSCM, VAEMechanism
from explorer.interfaces import SCM, Classifier, Mechanism, PageService, ReadsParents, WhatIfResult
from explorer.models.causal_vae import CausalVAE, CausalVAEConfig
from explorer.models.cnn import CNNConfig, DigitCNN, TorchClassifier
from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.scm.morpho import MorphoSCM
from explorer.scm.pendulum import PendulumSCM
from explorer.services.image import ImageResult, ImageService
from explorer.services.lab import LabResult, LabService
from explorer.services.text import TextResult


def _tiny_vae() -> CausalVAE:
    torch.manual_seed(0)
    model = CausalVAE(CausalVAEConfig(enc_width=4, dec_hidden=8, fourier=1)).eval()
    model.causal.harden()
    return model


@pytest.mark.parametrize("scm", [MorphoSCM(), MorphoSCM(0.95), PendulumSCM(), ConceptSCM(_tiny_vae())],
                         ids=["morpho", "morpho-colour", "pendulum", "causal-layer"])
def test_every_scm_satisfies_the_contract_and_abduction_inverts_sampling(scm):
    assert isinstance(scm, SCM)
    with torch.inference_mode():
        noise, values = scm.sample(16, seed=3)
        assert set(scm.specs) <= set(values)
        again = scm.counterfactual(scm.abduct(values, noise), {})  # the empty intervention gives the sample back
    for name in scm.specs:
        np.testing.assert_allclose(np.asarray(again[name], np.float64), np.asarray(values[name], np.float64),
                                   atol=1e-5, err_msg=name)


def test_mechanisms_and_classifiers_satisfy_the_contracts():
    cvae = MorphoCVAE(CVAEConfig(width=16, z_top=4, z_loc=1))
    vae = _tiny_vae()
    for mech in (cvae, MorphoMechanism(cvae, torch.device("cpu")), VAEMechanism(vae)):
        assert isinstance(mech, Mechanism)
    assert isinstance(VAEMechanism(vae), ReadsParents) and not isinstance(cvae, ReadsParents)
    # a classifier of any input shape: a 3-channel 28x28 image model, and a table model on 5 features
    image = TorchClassifier("cnn", DigitCNN(CNNConfig(channels=3)), 3, torch.device("cpu"))
    table = TorchClassifier("table", torch.nn.Linear(5, 2), None, torch.device("cpu"), classes=["no", "yes"])
    for clf, x in ((image, torch.rand(2, 3, 28, 28) * 255), (table, torch.rand(4, 5))):
        assert isinstance(clf, Classifier) and clf.differentiable
        p = clf.predict_proba(x)
        assert p.shape == (len(x), len(clf.classes))
        torch.testing.assert_close(p.sum(1), torch.ones(len(x)))


def test_page_results_share_their_field_names():
    shared = {f.name for f in dataclasses.fields(WhatIfResult)}
    assert shared >= {"obs", "cf", "true_cf", "intervened", "downstream", "clamped", "probs"}
    for result in (ImageResult, LabResult, TextResult):
        assert issubclass(result, WhatIfResult)
        assert shared <= {f.name for f in dataclasses.fields(result)}
    for service in (ImageService, LabService):
        assert all(hasattr(service, m) for m in ("specs", "factual", "what_if"))
    assert PageService is not None
