"""De-biased export: same seed same bytes, the cut pair independent, clear refusals; the CLI."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from explorer.__main__ import main
from explorer.counterfactual.debias import ExportError, generate, parse_cuts, to_zip
from explorer.models.causal_vae import CausalVAE, CausalVAEConfig
from explorer.paths import PRETRAINED
from explorer.training.pendulum import fixed_matrix

SHIPPED = (PRETRAINED / "pendulum-causal-vae" / "card.json").exists()
needs_model = pytest.mark.skipif(not SHIPPED, reason="no shipped pendulum model: python -m explorer train pendulum")


@pytest.fixture(scope="module")
def tiny():
    """An untrained tiny model with the physics' graph: enough to test the export's plumbing."""
    torch.manual_seed(0)
    model = CausalVAE(CausalVAEConfig(fixed=fixed_matrix("fixed"), enc_width=4, dec_hidden=8, fourier=1)).eval()
    model.causal.harden()
    return model


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tiny):
    a = to_zip(generate(tiny, ["light:shadow_position"], 40, seed=3))
    b = to_zip(generate(tiny, ["light:shadow_position"], 40, seed=3))
    c = to_zip(generate(tiny, ["light:shadow_position"], 40, seed=4))
    assert a == b and a != c
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        names = zf.namelist()
        assert sum(n.endswith(".png") for n in names) == 40
        rows = zf.read("labels.csv").decode().splitlines()
        assert rows[0] == "file,pendulum,light,shadow_length,shadow_position" and len(rows) == 41
        assert zf.read("images/000007.png").startswith(b"\x89PNG")


def test_cutting_an_edge_makes_the_pair_independent_and_keeps_the_parent_distribution(tiny):
    seen = []
    result = generate(tiny, [("light", "shadow_position")], 3000, seed=0, progress=seen.append)
    assert seen[-1] == 1.0 and len(seen) == 6  # batches of 500
    assert result.corr_before[1, 3] > 0.8  # real scenes: the position follows the light
    assert abs(result.corr_after[1, 3]) < 0.06
    # the confounding measure (any dependence, not only linear) says the same: the cut pair is now independent
    assert result.confounding_before[1, 3] > 0.1 and result.confounding_after[1, 3] < 0.02
    # do(light = shuffled light): the light labels are exactly the real lights, reordered
    lights = np.sort(result.values["light"])
    assert lights[0] >= 54 - 1e-3 and lights[-1] <= 132 + 1e-3
    assert result.images.shape == (3000, 64, 64, 3)


@pytest.mark.parametrize("cut, words", [("light-shadow", "PARENT:CHILD"), ("sun:shadow_length", "unknown"),
                                        ("light:light", "itself")])
def test_bad_cuts_are_refused_with_a_reason(cut, words):
    with pytest.raises(ExportError, match=words):
        parse_cuts([cut])


def test_sizes_out_of_range_are_refused(tiny):
    with pytest.raises(ExportError, match="between 1 and"):
        generate(tiny, [], 0, seed=0)


def test_cli_refuses_a_bad_cut_before_loading_anything(tmp_path, capsys):
    assert main(["export", "pendulum", "--cut", "light", "--n", "5", "--out", str(tmp_path / "x.zip")]) == 2
    assert "PARENT:CHILD" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


@needs_model
def test_cli_writes_the_zip_with_the_shipped_model(tmp_path, capsys):
    out = tmp_path / "d.zip"
    assert main(["export", "pendulum", "--cut", "light:shadow_position", "--n", "30", "--seed", "1",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "exported 30 samples" in text and "cut light -> shadow_position" in text
    first = out.read_bytes()
    assert main(["export", "pendulum", "--cut", "light:shadow_position", "--n", "30", "--seed", "1",
                 "--out", str(out)]) == 0
    assert out.read_bytes() == first
