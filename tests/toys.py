"""Tiny hand-checkable classifiers shared by the search tests: their decision boundary is known in closed form."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from explorer.counterfactual.search.base import Query
from explorer.datasets.morpho import noise_for
from explorer.models.cnn import TorchClassifier
from explorer.scm.morpho import CONFOUNDED_HUE_STRENGTH, MorphoSCM


class Brightness(nn.Module):
    """Class 1 ("bright") when the mean pixel exceeds `c`: logits (0, w * (mean - c))."""

    def __init__(self, c: float, w: float = 1.0):
        super().__init__()
        self.c, self.w = c, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = self.w * (x.mean((1, 2, 3)) - self.c)  # (B,)
        return torch.stack([torch.zeros_like(score), score], 1)  # (B, 2)


def digit_query(test_data, k, coloured: bool = False) -> Query:
    """Test digits `k` as a search query: the grey split, or the colour world the hue CNN was trained in (its
    thickness and intensity as in the grey split)."""
    k = np.asarray(k)
    if coloured:
        scm = MorphoSCM(CONFOUNDED_HUE_STRENGTH)
        noise = noise_for("test", scm)
        values = scm.counterfactual(noise)
    else:
        noise, values = test_data.noise, test_data.values
    return Query(torch.from_numpy(test_data.images[k]).float()[:, None], {a: v[k] for a, v in values.items()},
                 {a: v[k] for a, v in noise.items()}, coloured)


def reads(clf, images: torch.Tensor) -> np.ndarray:
    """The classifier's reading of each image: (B,) class indices."""
    with torch.inference_mode():
        return clf.predict_proba(images).argmax(1).numpy()


def brightness_boundary(space, query: Query, offset: float = 40.0) -> tuple[float, float]:
    """(mean pixel per grey level of intensity, the intensity asked for) for a one-digit query.

    The decoder's last step scales the drawing so that its median foreground pixel is the intensity, so the mean
    pixel is `per_grey` x intensity: a `Brightness(per_grey * asked)` classifier flips exactly at intensity `asked`.
    """
    _, latents = space.abduct(query)
    values = {n: torch.as_tensor(np.asarray(v), dtype=torch.float32) for n, v in query.obs.items()}
    values["digit"] = torch.as_tensor(query.obs["digit"]).long()
    with torch.inference_mode():
        per_grey = float(space.render(latents, values, False).mean() / values["intensity"][0])
    return per_grey, float(query.obs["intensity"][0]) + offset


def redrawn_brighter(space, test_data, cpu) -> tuple[Query, nn.Module]:
    """Test digit 8, which the decoder redraws brighter than the photo (mean pixel 14.3 against 9.5), and a
    "darkness" classifier (classes light, dark) that reads the photo as dark and the redrawing with no do() as
    light: any style-only "flip" to light is the generator's doing."""
    query = digit_query(test_data, [8])
    _, latents = space.abduct(query)
    values = {n: torch.as_tensor(np.asarray(v), dtype=torch.long if n == "digit" else torch.float32)
              for n, v in query.obs.items()}
    with torch.inference_mode():
        photo, redrawn = float(query.grey.mean()), float(space.render(latents, values, False).mean())
    assert redrawn - photo > 2.0  # the premise
    clf = TorchClassifier("darkness", Brightness((photo + redrawn) / 2, -1.0), 1, cpu, classes=["light", "dark"])
    assert reads(clf, query.images())[0] == 1  # the photo reads "dark" (w < 0: class 1 when darker than c)
    return query, clf
