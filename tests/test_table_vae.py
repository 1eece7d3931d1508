"""The tabular causal-layer VAE: its shared causal layer, training, counterfactual rows, files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer import checkpoints
from explorer.__main__ import main
from explorer.models import causal_vae, table_vae_net
from explorer.models.table_vae import TableVAE, TableVAEConfig, TableVAEModel, fixed_matrix, load_table_vae, shd
from explorer.paths import PRETRAINED, ROOT
from explorer.scm.census import CENSUS_COLUMNS, CENSUS_GRAPH, load_census_world
from explorer.scm.graph import Dag
from explorer.training.census_vae import ROOTS, to_tensor

SHIPPED = PRETRAINED / "census-vae-world"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # (400, 11) tensors: on the shared 2-core machine two intra-op threads spin against other jobs (a 1 s test
    # took 40 s); training and `evaluate census` run on one thread for the same reason
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def world():
    return load_census_world()[0]


@pytest.fixture(scope="module")
def rows(world):
    return world.sample(300, 7)[1]


@pytest.fixture(scope="module")
def model():
    return load_table_vae(SHIPPED, "cpu")


def _tiny(world, rows, mode: str = "partial", concept_dim: int = 1, logit_heads: str = "") -> TableVAE:
    levels = tuple(world.columns[c].levels for c in CENSUS_COLUMNS)
    mean = tuple(0.0 if k else float(rows[c].mean()) for c, k in zip(CENSUS_COLUMNS, levels))
    sd = tuple(1.0 if k else float(rows[c].std()) for c, k in zip(CENSUS_COLUMNS, levels))
    fixed = fixed_matrix(CENSUS_COLUMNS, mode, ROOTS, CENSUS_GRAPH)
    return TableVAE(TableVAEConfig(CENSUS_COLUMNS, levels, mean, sd, fixed, hidden=16, mech_hidden=8,
                                   concept_dim=concept_dim, logit_heads=logit_heads))


def test_the_causal_layer_is_the_pendulum_models_class(world, rows):
    tiny = _tiny(world, rows)
    assert table_vae_net.CausalLayer is causal_vae.CausalLayer
    assert type(tiny.causal) is type(causal_vae.CausalVAE(causal_vae.CausalVAEConfig()).causal)


def test_fixed_matrix_keeps_roots_parentless_and_known_arrows(world):
    partial = np.array(fixed_matrix(CENSUS_COLUMNS, "partial", ROOTS, known=frozenset({("sex", "income")})))
    for j, c in enumerate(CENSUS_COLUMNS):
        assert (partial[:, j] == 0).all() == (c in ROOTS)
    assert partial[CENSUS_COLUMNS.index("sex"), CENSUS_COLUMNS.index("income")] == 1
    fixed = np.array(fixed_matrix(CENSUS_COLUMNS, "fixed", ROOTS, CENSUS_GRAPH))
    assert fixed.sum() == len(CENSUS_GRAPH.edges) and (fixed >= 0).all()


def test_a_tiny_model_learns(world, rows):
    torch.manual_seed(0)
    model = _tiny(world, rows)
    x = to_tensor(rows)  # (300, 11)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = model.loss(x, 0.1, 0.01, 0.5)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])


def test_shd_counts_a_reversed_arrow_once():
    truth = Dag(("a", "b", "c"), frozenset({("a", "b"), ("b", "c")}))
    assert shd(Dag(("a", "b", "c"), frozenset({("b", "a"), ("b", "c")})), truth) == 1
    assert shd(Dag(("a", "b", "c"), frozenset({("a", "c")})), truth) == 3


def test_counterfactual_keeps_the_asked_value_and_the_non_descendants(model, rows):
    cf = model.counterfactual_rows(rows, {"education": "Bachelors"})
    assert (cf["education"] == 12).all()
    moved = model.graph.descendants(["education"])
    for c in CENSUS_COLUMNS:
        if c not in moved and c != "education":
            np.testing.assert_array_equal(cf[c], rows[c], err_msg=c)
    empty = model.counterfactual_rows(rows, {})
    for c in CENSUS_COLUMNS:  # no intervention: the row itself (the abducted decoder error keeps each category)
        np.testing.assert_allclose(empty[c], rows[c], atol=1e-3, err_msg=c)
    cf_age = model.counterfactual_rows(rows, {"age": 30})
    assert (cf_age["age"] == 30).all()


def test_a_cut_arrow_feeds_the_factual_parent(model, rows):
    flip = {"sex": 1 - rows["sex"]}
    every_cut = Dag(model.graph.nodes, frozenset(e for e in model.graph.edges if e[0] != "sex"))
    cf = model.counterfactual_rows(rows, flip, every_cut)
    for c in CENSUS_COLUMNS:
        if c != "sex":  # sex's children read its factual value, so nothing else moves
            np.testing.assert_allclose(cf[c], rows[c], atol=1e-3, err_msg=c)
    free = model.counterfactual_rows(rows, flip)
    assert any(not np.allclose(free[c], rows[c], atol=1e-3) for c in CENSUS_COLUMNS if c != "sex")
    child = model.graph.children("sex")[0]
    one_kept = Dag(model.graph.nodes, every_cut.edges | {("sex", child)})
    cf_one = model.counterfactual_rows(rows, flip, one_kept)
    reach = model.graph.descendants([child]) | {child, "sex"}
    for c in CENSUS_COLUMNS:
        if c not in reach:
            np.testing.assert_allclose(cf_one[c], rows[c], atol=1e-3, err_msg=c)


def test_the_shipped_checkpoint_round_trips(model, rows, tmp_path):
    card = json.loads((SHIPPED / "card.json").read_text())
    assert sorted(f"{p}:{c}" for p, c in model.graph.edges) == card["learned_edges"]
    assert model.model.causal.hardened
    checkpoints.save(tmp_path / "copy", model.model.state_dict(), card)
    again = load_table_vae(tmp_path / "copy", "cpu")
    do = {"sex": "Female", "age": 45}
    a, b = model.counterfactual_rows(rows, do), again.counterfactual_rows(rows, do)
    for c in CENSUS_COLUMNS:
        np.testing.assert_array_equal(a[c], b[c])
    with pytest.raises(checkpoints.CheckpointError, match="train census"):
        load_table_vae(tmp_path / "missing")


@pytest.mark.parametrize("do, message", [
    ({"salary": 3}, "unknown column 'salary'"),
    ({"age": 200}, r"outside its range \[17, 90\]"),
    ({"sex": "Robot"}, "unknown category 'Robot' for column 'sex'"),
    ({"education": 99}, "unknown category 99"),
])
def test_bad_do_is_a_clear_value_error(model, rows, do, message):
    with pytest.raises(ValueError, match=message):
        model.counterfactual_rows(rows, do)


def test_bad_rows_and_graphs_are_clear_value_errors(model, rows):
    with pytest.raises(ValueError, match="lack the column"):
        model.counterfactual_rows({k: v for k, v in rows.items() if k != "age"}, {})
    with pytest.raises(ValueError, match="not the model's columns"):
        model.counterfactual_rows(rows, {}, Dag(("a", "b")))


def test_wrapper_refuses_specs_in_another_order(model):
    shuffled = dict(reversed(list(model.columns.items())))
    with pytest.raises(ValueError, match="in its order"):
        TableVAEModel(model.model, shuffled, "x")


def test_train_census_command_writes_a_loadable_model(tmp_path):
    assert main(["train", "census", "--data", "world", "--epochs", "1", "--known-arrow", "education:income",
                 "--out", str(tmp_path / "m")]) == 0
    card = json.loads((tmp_path / "m" / "card.json").read_text())
    assert card["graph_mode"] == "partial" and "graph_shd" in card["metrics"]
    assert "education:income" in card["learned_edges"]  # a known arrow is kept, whatever the learning does
    assert set(load_table_vae(tmp_path / "m", "cpu").columns) == set(CENSUS_COLUMNS)


def test_a_model_with_category_heads_trains_saves_and_loads(tmp_path, rows):
    from explorer.training.census_vae import CensusVAETrainConfig, train_census_vae

    cfg = CensusVAETrainConfig(graph="fixed", epochs=1, n_world=2000, n_world_val=300, logit_heads="categories",
                               out=tmp_path / "h")
    train_census_vae(cfg)
    card = json.loads((tmp_path / "h" / "card.json").read_text())
    assert card["config"]["logit_heads"] == "categories" and "val_heads" in card["metrics"]
    loaded = load_table_vae(tmp_path / "h", "cpu")
    assert loaded.model.heads is not None
    cf = loaded.counterfactual_rows(rows, {"education": "Bachelors"})
    for c in set(CENSUS_COLUMNS) - CENSUS_GRAPH.descendants(["education"]) - {"education"}:
        np.testing.assert_array_equal(cf[c], rows[c], err_msg=c)


def test_stored_evaluation_has_the_model_keys():
    result = json.loads((ROOT / "bench" / "results" / "evaluate_census.json").read_text())
    assert result["setup"]["model"]["name"] == "census-vae-world"
    assert isinstance(result["graph"]["shd"], float)
    for name in ("do_sex_flip", "do_age_30", "do_education_bachelors"):
        assert 0 <= result["effectiveness"][name] <= 1
        assert 0 <= result["gt_cf"][name]["all_correct"] <= 1
        for c in CENSUS_COLUMNS:
            assert set(result["gt_cf"][name][c]) in ({"accuracy"}, {"mae_sd"})
    assert set(result["recon"]) == set(CENSUS_COLUMNS)
    assert all("met" in f for f in result["floors"].values())


def test_one_mechanism_matches_every_mechanism(model):
    layer = model.model.causal
    n = len(layer.node)  # the concept units (a vector node has several)
    inputs = torch.randn(5, n)  # (B, n)
    every = layer.mechanisms(inputs[:, None, :].expand(-1, n, -1))  # (B, n)
    for j in range(n):
        torch.testing.assert_close(layer.mechanism(j, inputs), every[:, j], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arrow", ["sex:salary", "income:sex", "income:income"])
def test_a_bad_known_arrow_is_one_error_line(arrow, capsys):
    assert main(["train", "census", "--known-arrow", arrow]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --known-arrow") and err.count("\n") == 1


def test_scalar_nodes_keep_the_pendulum_layers_masks():
    layer = causal_vae.CausalLayer(causal_vae.CausalVAEConfig())
    mask = torch.rand(4, 4)
    assert torch.equal(layer.unit_mask(mask), mask) and layer.w1.shape[:2] == (4, 4)


def test_vector_nodes_share_their_parents(world, rows):
    torch.manual_seed(0)
    tiny = _tiny(world, rows, concept_dim=2)
    layer = tiny.causal
    assert len(layer.node) == 2 * len(tiny.disc) + len(tiny.cont)
    mask = (torch.rand(11, 11) > 0.5).float()
    units = layer.unit_mask(mask)  # (n, n): every unit of a node reads the same parents' units
    for j in range(11):
        for i in range(11):
            assert (units[layer.units[i]][:, layer.units[j]] == mask[i, j]).all()
    z = torch.randn(3, len(layer.node), requires_grad=True)
    child = layer.units[CENSUS_COLUMNS.index("occupation")][1]
    layer.mechanism(child, z * units[:, child]).sum().backward()
    parents = {u for i in range(11) if mask[i, CENSUS_COLUMNS.index("occupation")] for u in layer.units[i]}
    assert {u for u in range(len(layer.node)) if z.grad[:, u].abs().sum() > 0} <= parents


def _fit(tiny: TableVAE, x: torch.Tensor, key: str = "loss", steps: int = 60) -> tuple[float, float]:
    """Adam on the tiny model's loss; (the term `key` before, after)."""
    opt = torch.optim.Adam(tiny.parameters(), lr=1e-2)
    first = float(tiny.loss(x, 0.1, 0.01, 0.5)[key].detach())
    for _ in range(steps):
        out = tiny.loss(x, 0.1, 0.01, 0.5)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return first, float(out[key].detach())


def _keeps_rows(tiny: TableVAE, x: torch.Tensor, world, rows) -> TableVAEModel:
    """Freezes the tiny model; checks that no do() gives the rows back and do(education) sets it."""
    tiny.causal.harden()
    tiny.set_centres(x)
    wrapped = TableVAEModel(tiny, world.columns, "tiny", device="cpu", draws=4)
    empty = wrapped.counterfactual_rows(rows, {})
    for c in CENSUS_COLUMNS:
        np.testing.assert_allclose(empty[c], rows[c], atol=1e-3, err_msg=c)
    return wrapped


def test_a_tiny_vector_model_learns_and_keeps_rows(world, rows):
    torch.manual_seed(0)
    tiny = _tiny(world, rows, concept_dim=2)
    x = to_tensor(rows)
    first, last = _fit(tiny, x)
    assert last < 0.7 * first
    wrapped = _keeps_rows(tiny, x, world, rows)
    assert (wrapped.counterfactual_rows(rows, {"education": "Bachelors"})["education"] == 12).all()


def test_the_shipped_world_model_has_category_heads_and_the_adult_model_none(model):
    # census-vae-world is trained with `--logit-heads categories`; census-vae-adult keeps the scalar mechanisms
    assert model.model.heads is not None and model.model.cfg.logit_heads == "categories"
    assert any(k.startswith("heads.") for k in model.model.state_dict())
    adult = load_table_vae(SHIPPED.parent / "census-vae-adult", "cpu")
    assert adult.model.heads is None and not adult.model.cfg.logit_heads
    assert not any(k.startswith("heads.") for k in adult.model.state_dict())


def test_an_unknown_head_kind_is_a_clear_value_error():
    with pytest.raises(ValueError, match="'concepts' or 'categories'"):
        TableVAEConfig(CENSUS_COLUMNS, logit_heads="logits")


def test_logit_heads_read_only_the_parents_and_are_detached(world, rows):
    torch.manual_seed(0)
    tiny = _tiny(world, rows, mode="fixed", logit_heads="concepts")
    x = to_tensor(rows)
    tiny.causal.harden()
    torch.nn.init.normal_(tiny.heads.w3)  # (zero at the start: every head uniform, no gradient to read)
    j = CENSUS_COLUMNS.index("occupation")
    z = tiny.encode(x)[0].detach().requires_grad_(True)
    tiny._factual_logits(x, z, z, j).sum().backward()  # (the second argument is read by the quadrature only)
    parents = {CENSUS_COLUMNS.index(p) for p in CENSUS_GRAPH.parents("occupation")}
    assert {i for i in range(11) if z.grad[:, i].abs().sum() > 0} == parents
    out = tiny.loss(x, 0.1, 0.0, 0.0)
    out["heads"].backward()
    assert all(p.grad is None or not p.grad.any() for p in tiny.encoder.parameters())  # the heads fit, not shape


@pytest.mark.parametrize("heads", ["concepts", "categories"])
def test_a_tiny_model_with_logit_heads_learns_and_keeps_rows(world, rows, heads):
    torch.manual_seed(0)
    tiny = _tiny(world, rows, logit_heads=heads)
    x = to_tensor(rows)
    first, last = _fit(tiny, x, "heads")
    assert last < 0.8 * first
    assert tiny.causal.logits.grad is not None  # the heads' likelihood reaches the learned arrows
    wrapped = _keeps_rows(tiny, x, world, rows)
    cf = wrapped.counterfactual_rows(rows, {"education": "Bachelors"})
    assert (cf["education"] == 12).all()
    for c in set(CENSUS_COLUMNS) - wrapped.graph.descendants(["education"]) - {"education"}:
        np.testing.assert_allclose(cf[c], rows[c], atol=1e-3, err_msg=c)


def test_category_heads_read_the_parents_categories_only(world, rows):
    torch.manual_seed(0)
    tiny = _tiny(world, rows, mode="fixed", logit_heads="categories")
    tiny.causal.harden()
    torch.nn.init.normal_(tiny.heads.w3)
    x = to_tensor(rows)
    j, child, parent = (CENSUS_COLUMNS.index(c) for c in ("occupation", "income", "sex"))

    def logits(x: torch.Tensor) -> torch.Tensor:
        return tiny._factual_logits(x, tiny.encode(x)[0], torch.zeros(1), j)

    flipped = x.clone()
    flipped[:, child] = 1 - flipped[:, child]  # a child of occupation: not read
    assert torch.equal(logits(flipped), logits(x))
    flipped[:, parent] = 1 - flipped[:, parent]
    assert not torch.allclose(logits(flipped), logits(x))
