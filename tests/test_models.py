"""The shipped generator and classifiers behave as the interfaces promise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.counterfactual.image import image_counterfactual
from explorer.data.mnist import load_mnist
from explorer.models.cvae import CVAEConfig, MorphoCVAE
from explorer.interfaces import Classifier, Mechanism
from explorer.scm import morphology
from explorer.scm.morpho import MorphoSCM
from explorer.registry import THIRD_PARTY, load_classifier


@pytest.fixture(autouse=True)
def _read_only():
    with torch.inference_mode():  # the models keep autograd on; these tests only read
        yield


def _batch(data, n=64):
    x = torch.from_numpy(data.images[:n]).float()[:, None]  # (n, 1, 28, 28)
    obs = {k: v[:n] for k, v in data.values.items()}
    noise = {k: v[:n] for k, v in data.noise.items()}
    return x, obs, noise


def test_shapes_of_an_untrained_model():
    model = MorphoCVAE(CVAEConfig(width=16, z_top=4, z_loc=1)).eval()
    assert isinstance(model, Mechanism)
    parents = {"digit": torch.tensor([1, 2]), "thickness": torch.tensor([2.0, 3.0]),
               "intensity": torch.tensor([100.0, 200.0])}
    z = model.abduct(torch.rand(2, 1, 28, 28) * 255, parents)
    assert z.shape == (2, 4 + 49)
    img = model.decode(z, parents)
    assert img.shape == (2, 1, 28, 28) and 0 <= img.min() and img.max() <= 255


def test_empty_intervention_reproduces_the_input(generator, test_data, cpu):
    x, obs, noise = _batch(test_data)
    cf, img = image_counterfactual(generator, MorphoSCM(), x, obs, noise, {}, cpu)
    np.testing.assert_allclose(cf["thickness"], obs["thickness"])
    assert float((img - x).abs().mean()) < 8.0  # 0-255 scale, the composition bar


def test_do_thickness_changes_measured_thickness(generator, test_data, cpu):
    x, obs, noise = _batch(test_data, 32)
    thin = image_counterfactual(generator, MorphoSCM(), x, obs, noise, {"thickness": 1.5}, cpu)[1]
    thick = image_counterfactual(generator, MorphoSCM(), x, obs, noise, {"thickness": 4.5}, cpu)[1]
    t_thin = np.mean([morphology.measure_thickness(i[0].numpy()) for i in thin])
    t_thick = np.mean([morphology.measure_thickness(i[0].numpy()) for i in thick])
    assert t_thin == pytest.approx(1.5, abs=0.4) and t_thick == pytest.approx(4.5, abs=0.5)


def test_do_digit_is_read_as_the_new_digit(generator, test_data, cpu):
    x, obs, noise = _batch(test_data, 50)
    target = (obs["digit"] + 3) % 10
    img = image_counterfactual(generator, MorphoSCM(), x, obs, noise, {"digit": target}, cpu)[1]
    oracle = load_classifier("morpho-oracle", cpu)
    assert (oracle.predict_proba(img).argmax(1).numpy() == target).mean() >= 0.85


def test_third_party_cnn_is_wrapped_and_accurate(cpu):
    clf = load_classifier(THIRD_PARTY, cpu)
    assert isinstance(clf, Classifier)
    test = load_mnist("test")
    x = torch.from_numpy(test.images[:1000]).float()[:, None]
    p = clf.predict_proba(x)
    assert p.shape == (1000, 10) and torch.allclose(p.sum(1), torch.ones(1000), atol=1e-5)
    assert (p.argmax(1).numpy() == test.labels[:1000]).mean() > 0.97


def test_grey_classifier_reads_a_coloured_image_as_its_grey(cpu, test_data):
    from explorer.scm.morpho import tint

    clf = load_classifier("morpho-cnn", cpu)
    grey = torch.from_numpy(test_data.images[:16]).float()[:, None]
    colour = torch.from_numpy(tint(test_data.images[:16].astype(np.float32), 0.6))  # (16, 3, 28, 28)
    torch.testing.assert_close(clf.predict_proba(colour), clf.predict_proba(grey))
