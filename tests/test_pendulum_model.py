"""The causal-layer VAE on tiny, untrained or hand-set models: propagation, cuts, acyclicity, abduction."""

from __future__ import annotations

import torch

from explorer.models.causal_vae import CausalLayer, CausalVAE, CausalVAEConfig
from explorer.scm.pendulum import TRUE_GRAPH, PendulumSCM
from explorer.training.pendulum import fixed_matrix, labels


def _chain_layer() -> CausalLayer:
    """0 -> 1 -> 2, node 3 alone; random mechanisms, graph frozen."""
    fixed = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    layer = CausalLayer(CausalVAEConfig(fixed=fixed, mech_hidden=8))
    with torch.no_grad():
        layer.w3.normal_()  # the last layer starts at zero; make every mechanism depend on its inputs
    layer.harden()
    return layer


def _g(layer: CausalLayer, j: int, z: torch.Tensor) -> torch.Tensor:
    """Node j's mechanism on its parents as the adjacency masks them, computed by hand."""
    masked = z * layer.adjacency()[:, j]  # (B, d)
    return layer.mechanisms(masked[:, None, :].expand(-1, 4, -1))[:, j]


def test_propagation_runs_in_topological_order():
    layer = _chain_layer()
    z = torch.randn(5, 4)
    eps = layer.abduct(z)
    v = torch.full((5,), 0.7)
    cf = layer.propagate(eps, z, {0: v})
    expect = z.clone()
    expect[:, 0] = v
    expect[:, 1] = _g(layer, 1, expect) + eps[:, 1]
    expect[:, 2] = _g(layer, 2, expect) + eps[:, 2]  # uses the NEW value of node 1
    torch.testing.assert_close(cf, expect)
    torch.testing.assert_close(cf[:, 3], z[:, 3])  # not a descendant: untouched
    assert not torch.allclose(cf[:, 2], z[:, 2])


def test_intervening_downstream_leaves_ancestors_alone():
    layer = _chain_layer()
    z = torch.randn(5, 4)
    cf = layer.propagate(layer.abduct(z), z, {1: torch.tensor(-0.3)})
    torch.testing.assert_close(cf[:, 0], z[:, 0])
    assert torch.all(cf[:, 1] == -0.3)


def test_a_cut_edge_keeps_the_child_at_its_factual_value():
    layer = _chain_layer()
    z = torch.randn(5, 4)
    keep = layer.adjacency().clone()
    keep[1, 2] = 0  # cut 1 -> 2
    cf = layer.propagate(layer.abduct(z), z, {0: torch.tensor(0.9)}, keep)
    assert not torch.allclose(cf[:, 1], z[:, 1])  # 0 -> 1 is live
    torch.testing.assert_close(cf[:, 2], z[:, 2])  # 1 -> 2 is cut: node 2 keeps its value


def test_empty_intervention_reproduces_the_latents_and_the_reconstruction():
    torch.manual_seed(0)
    model = CausalVAE(CausalVAEConfig(fixed=fixed_matrix("fixed"), enc_width=4, dec_hidden=8, fourier=1)).eval()
    model.causal.harden()
    x = torch.rand(3, 3, 64, 64)
    out = model.counterfactual(x, {})
    torch.testing.assert_close(out["z_cf"], out["z"])
    torch.testing.assert_close(out["image"], out["recon"])
    assert out["image"].shape == (3, 3, 64, 64)


def test_acyclicity_penalty_and_hardening_refuse_cycles():
    layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("learned")))
    with torch.no_grad():
        layer.logits.fill_(-6.0)
        layer.logits[2, 3], layer.logits[3, 2] = 4.0, 3.0  # a 2-cycle, 2 -> 3 the more probable
        layer.logits[0, 2] = 5.0
    h = layer.loss(torch.randn(16, 4), sparsity=0.0, acyclic=1.0)["acyclic"]
    assert h > 0.5  # NOTEARS' h is far from 0 on a cycle
    dag = layer.harden()  # drops the weakest edge of the cycle
    assert set(dag.edges) == {("pendulum", "shadow_length"), ("shadow_length", "shadow_position")}
    assert layer.hardened and "acyclic" not in layer.loss(torch.randn(4, 4), 0.0, 1.0)
    dag_layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("fixed")))
    assert float(dag_layer.loss(torch.randn(4, 4), 0.0, 1.0)["acyclic"]) < 1e-5  # zero on a DAG


def test_partly_learned_layer_recovers_the_true_graph_from_labels():
    """A few seconds of graph learning on the scene's labels: the physics' four arrows, nothing else."""
    torch.manual_seed(0)
    y = torch.from_numpy(labels(PendulumSCM().sample(8192, 7)[1]))
    layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("partial"), mech_hidden=32))
    opt = torch.optim.Adam(layer.parameters(), 5e-3)
    for _ in range(400):
        out = layer.loss(y[torch.randint(len(y), (512,))], sparsity=0.05, acyclic=1.0)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert set(layer.harden().edges) == set(TRUE_GRAPH.edges)
