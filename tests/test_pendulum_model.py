"""The causal-layer VAE on tiny, untrained or hand-set models: propagation, cuts, acyclicity, abduction."""

from __future__ import annotations

import torch

from explorer.counterfactual.pendulum import ConceptSCM, VAEMechanism
from explorer.counterfactual.procedure import counterfactual
from explorer.models.causal_vae import CausalLayer, CausalVAE, CausalVAEConfig
from explorer.scm.pendulum import TRUE_GRAPH, PendulumSCM
from explorer.datasets.pendulum import labels
from explorer.training.pendulum import fixed_matrix


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
    with torch.inference_mode():
        out = counterfactual(ConceptSCM(model), VAEMechanism(model), x, {}, reconstruct=True)
    for name in out.obs:
        torch.testing.assert_close(out.cf[name], out.obs[name])
    torch.testing.assert_close(out.x_cf, out.x_recon)
    assert out.x_cf.shape == (3, 3, 64, 64)


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


def _zero_mechanisms_layer() -> CausalLayer:
    """The physics' graph, every mechanism g_j = 0 and unit scale: node j's NLL is 0.5 * z_j ** 2."""
    layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("fixed"), mech_hidden=4))
    layer.harden()
    with torch.no_grad():
        layer.w3.zero_(), layer.b3.zero_(), layer.log_sd.zero_()
    return layer


def test_mechanism_loss_skips_the_nodes_a_scene_intervened_on():
    layer = _zero_mechanisms_layer()
    z = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    hit = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])  # scene 2 set shadow_length by do()
    # per node, the mean of 0.5 z^2 over the scenes that did not intervene on it:
    # (1 + 25) / 4 + (4 + 36) / 4 + 9 / 2 + (16 + 64) / 4 = 6.5 + 10 + 4.5 + 20
    assert float(layer.loss(z, 0.0, 0.0, intervened=hit)["nll"]) == 41.0
    assert float(layer.loss(z, 0.0, 0.0)["nll"]) == 6.5 + 10 + 0.5 * (9 + 49) / 2 + 20  # no mask: every scene


def test_an_intervened_value_moves_neither_the_loss_nor_its_mechanism():
    torch.manual_seed(0)
    layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("fixed"), mech_hidden=8))
    layer.harden()
    with torch.no_grad():
        layer.w3.normal_()
    z = torch.randn(6, 4)
    hit = torch.zeros(6, 4)
    hit[3:, 2] = 1.0  # the last three scenes set shadow_length (which has no children) by do()
    wild = z.clone()
    wild[3:, 2] = 50.0  # whatever do() set it to
    torch.testing.assert_close(layer.loss(z, 0.0, 0.0, intervened=hit)["nll"],
                               layer.loss(wild, 0.0, 0.0, intervened=hit)["nll"])
    layer.loss(wild, 0.0, 0.0, intervened=hit)["nll"].backward()
    grad_wild = layer.w1.grad[2].clone()  # node 2's first layer
    layer.zero_grad()
    layer.loss(z[:3], 0.0, 0.0)["nll"].backward()  # the observational scenes alone
    torch.testing.assert_close(grad_wild, layer.w1.grad[2])


def test_masked_fit_recovers_the_mechanism_that_unmasked_fit_gets_wrong():
    """z_2 = 0.8 z_0 + small noise; in half the scenes do(z_2 = uniform). Only the masked fit finds 0.8."""
    torch.manual_seed(0)
    z = torch.rand(1024, 4) * 2 - 1
    z[:, 2] = 0.8 * z[:, 0] + 0.02 * torch.randn(1024)
    hit = torch.zeros(1024, 4)
    hit[512:, 2] = 1.0
    z[512:, 2] = torch.rand(512) * 2 - 1

    def fit(mask):
        torch.manual_seed(1)
        layer = CausalLayer(CausalVAEConfig(fixed=fixed_matrix("fixed"), mech_hidden=16))
        layer.harden()
        opt = torch.optim.Adam(layer.parameters(), 1e-2)
        for _ in range(300):
            loss = layer.loss(z, 0.0, 0.0, intervened=mask)["nll"]
            opt.zero_grad()
            loss.backward()
            opt.step()
        probe = torch.zeros(2, 4)
        probe[:, 0] = torch.tensor([-0.5, 0.5])
        with torch.no_grad():
            g = layer.predict(probe, layer.adjacency())[:, 2]
        return float(g[1] - g[0])  # the slope over a unit step of z_0

    assert abs(fit(hit) - 0.8) < 0.08
    assert abs(fit(None) - 0.8) > 0.25  # the do() scenes pull the slope towards 0.4
