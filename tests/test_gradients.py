"""Gradients flow through the models' own methods: counterfactual search and gradient supervision need them.

The shipped models are used, so a decorator that turns autograd off anywhere on these paths fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.counterfactual.pendulum import ConceptSCM, VAEMechanism, latent_do
from explorer.counterfactual.procedure import counterfactual
from explorer.datasets.pendulum import SEEDS, scenes, to_input
from explorer.paths import PRETRAINED
from explorer.registry import MORPHO, load_classifier, load_vae

PENDULUM = (PRETRAINED / "pendulum-causal-vae" / "card.json").exists()


def _digits(test_data, n=4):
    x = torch.from_numpy(test_data.images[:n]).float()[:, None]  # (n, 1, 28, 28)
    parents = {"digit": torch.as_tensor(test_data.values["digit"][:n]),
               "thickness": torch.as_tensor(test_data.values["thickness"][:n], dtype=torch.float32),
               "intensity": torch.as_tensor(test_data.values["intensity"][:n], dtype=torch.float32)}
    return x, parents


def test_a_logit_backpropagates_through_the_decoder_to_latents_and_parents(generator, test_data, cpu):
    clf = load_classifier(MORPHO["classifier"], cpu)
    assert clf.differentiable
    x, parents = _digits(test_data)
    latents = generator.abduct(x, parents).detach().requires_grad_(True)  # (4, Z)
    thickness = parents["thickness"].clone().requires_grad_(True)
    intensity = parents["intensity"].clone().requires_grad_(True)
    img = generator.decode(latents, {**parents, "thickness": thickness, "intensity": intensity})  # (4, 1, 28, 28)
    target = (parents["digit"] + 1) % 10
    clf.logits(img).gather(1, target[:, None]).sum().backward()
    for name, grad in (("latents", latents.grad), ("thickness", thickness.grad), ("intensity", intensity.grad)):
        assert grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, f"zero or broken gradient for {name}"
    # each digit's logit depends on its own latents only: the batch does not leak into other rows
    assert (latents.grad.abs().sum(1) > 0).all()


def test_the_gradient_points_the_right_way(generator, test_data, cpu):
    """A small step along the thickness gradient raises the target logit (a finite-difference check)."""
    clf = load_classifier(MORPHO["classifier"], cpu)
    x, parents = _digits(test_data, 2)
    latents = generator.abduct(x, parents).detach()
    thickness = parents["thickness"].clone().requires_grad_(True)
    logit = lambda t: clf.logits(generator.decode(latents, {**parents, "thickness": t}))[:, 3].sum()  # noqa: E731
    before = logit(thickness)
    before.backward()
    step = 0.05 * thickness.grad.sign()
    with torch.no_grad():
        after = logit(thickness + step)
    assert float(after) > float(before.detach())


@pytest.mark.skipif(not PENDULUM, reason="pendulum checkpoint not built")
def test_the_causal_vae_counterfactual_is_differentiable_in_the_do_value(cpu):
    model, _ = load_vae(cpu)
    _, _, images = scenes(3, SEEDS["test"])
    x = to_input(images)  # (3, 3, 64, 64)
    light = latent_do({"light": np.full(3, 60.0)}, cpu)["light"].requires_grad_(True)
    out = counterfactual(ConceptSCM(model), VAEMechanism(model), x, {"light": light})
    # the shadow follows the light through the causal layer, and the picture through the decoder
    (out.cf["shadow_position"].sum() + out.x_cf.mean()).backward()
    assert light.grad is not None and torch.isfinite(light.grad).all() and (light.grad.abs() > 0).all()
    torch.testing.assert_close(out.cf["light"].detach(), light.detach())


@pytest.mark.skipif(not PENDULUM, reason="pendulum checkpoint not built")
def test_reading_only_changes_nothing(cpu):
    """Under inference_mode the same call gives the same numbers as with autograd on."""
    model, _ = load_vae(cpu)
    _, _, images = scenes(2, SEEDS["test"])
    x, do = to_input(images), latent_do({"pendulum": np.array([10.0, -20.0])}, cpu)
    with_grad = counterfactual(ConceptSCM(model), VAEMechanism(model), x, do).x_cf.detach()
    with torch.inference_mode():
        read_only = counterfactual(ConceptSCM(model), VAEMechanism(model), x, do).x_cf
    torch.testing.assert_close(read_only, with_grad)
