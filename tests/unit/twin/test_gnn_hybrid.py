"""The queueing-theory hybrid GNN: untrained it *is* queueing theory; propagation is exact; the old checkpoint loads.

No shared data needed: toy scenarios from ``_gnn_toy`` and hand-built ones.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.unit.twin._gnn_toy import examples, ring
from twinwatch.twin.features import LINK_FEATURES, FeatureStats, collate, scenario_graph
from twinwatch.twin.models.bounds import OutOfDomainWarning
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNConfig, GNNModel, RouteNetFermi, path_out_of_domain
from twinwatch.twin.models.qt import QT_VARIANTS, QueueingModel
from twinwatch.twin.models.warm_start import reset_readout
from twinwatch.twin.scenario import Flow, Scenario
from twinwatch.twin.train import TrainConfig, path_prop, train

ARCH = {"hidden": 8, "iterations": 2, "readout_hidden": 8, "hybrid": True}


def _operated(prop: float = 0.004, policy: str = "WFQ") -> Scenario:
    """4 nodes in a line and back, 1 and 10 Gb/s, ms of propagation, three ToS flows per pair, bimodal sizes."""
    links = [(0, 1, 1e9, prop), (1, 2, 1e10, 2 * prop), (2, 3, 1e9, prop),
             (1, 0, 1e9, prop), (2, 1, 1e10, 2 * prop), (3, 2, 1e9, prop)]
    routes = {(0, 3): [0, 1, 2, 3], (0, 2): [0, 1, 2], (3, 0): [3, 2, 1, 0], (1, 3): [1, 2, 3]}
    flows = []
    for (s, d), r in zip(routes, (2.0e8, 1.5e8, 3.0e8, 1.0e8), strict=True):
        for tos, share in enumerate((0.2, 0.3, 0.5)):
            flows.append(Flow(s, d, r * share, 4000.0, tos=tos, sizes_bits=(512.0, 12000.0), size_probs=(0.4, 0.6)))
    return Scenario.build(4, links, routes, flows, policy=policy, weights=[[60.0, 30.0, 10.0]] * 4, queue_pkts=1000.0)


def _forward(net: RouteNetFermi, sc: Scenario, stats: FeatureStats | None = None,
             prior: str = "classic") -> dict[str, np.ndarray]:
    g = scenario_graph(sc, qt_prior=True, prior=prior)
    with torch.inference_mode():
        out = net.eval()(collate([g], stats or FeatureStats.fit([g])))
    return {k: v.double().numpy() for k, v in out.items()}


@pytest.mark.parametrize("prior", ["classic", "packet-moments", "packet-inputs"])
@pytest.mark.parametrize("policy", ["FIFO", "SP", "WFQ"])
def test_untrained_hybrid_is_queueing_theory(policy: str, prior: str) -> None:
    """The readout's last layer starts at zero, so exp(r) = 1 and every hop is qt's: paths must match qt's model.

    Tolerances are float32 rounding: 10 ms of propagation beside µs of queueing leaves ~1e-9 s of absolute error.
    """
    torch.manual_seed(3)
    sc = _operated(policy=policy)
    out = _forward(RouteNetFermi(GNNConfig(**ARCH, prior=prior)), sc, prior=prior)
    q = QueueingModel(**{**QT_VARIANTS[prior], "own_size": "independent"}).predict(sc)
    assert (q.path_delay_s > 0).all() and (q.path_jitter_s2 > 0).all()
    np.testing.assert_allclose(out["path_delay"], q.path_delay_s, rtol=1e-6)
    np.testing.assert_allclose(out["path_jitter"], q.path_jitter_s2, rtol=1e-4)
    np.testing.assert_allclose(out["path_loss"], q.path_loss_ratio, atol=1e-9)


@pytest.mark.parametrize("prior", ["classic", "packet"])
def test_untrained_per_packet_hybrid_is_per_packet_queueing_theory(prior: str) -> None:
    """``own_size="per-packet"``: the own-size variance is composed exactly outside the learned part, so the
    untrained hybrid equals ``QueueingModel(own_size="per-packet")`` (with mixed sizes on 3-4-hop paths, larger than
    the independent composition); training inputs are unchanged, so the checkpoint format is too."""
    torch.manual_seed(4)
    sc = _operated(policy="FIFO")
    net = RouteNetFermi(GNNConfig(**ARCH, prior=prior, own_size="per-packet"))
    g = scenario_graph(sc, qt_prior=True, prior=prior)
    with torch.inference_mode():
        out = net.eval()(collate([g], FeatureStats.fit([g])))
    q = QueueingModel(**QT_VARIANTS[prior]).predict(sc)
    qi = QueueingModel(**QT_VARIANTS[prior], own_size="independent").predict(sc)
    np.testing.assert_allclose(out["path_jitter"].double().numpy(), q.path_jitter_s2, rtol=1e-4)
    np.testing.assert_allclose(out["path_delay"].double().numpy(), q.path_delay_s, rtol=1e-6)
    assert (q.path_jitter_s2 > qi.path_jitter_s2).all()
    assert GNNConfig.from_dict(net.config.to_dict()).own_size == "per-packet"
    assert GNNConfig.from_dict({k: v for k, v in ARCH.items()}).own_size == "independent"  # stored configs before it
    with pytest.raises(ValueError, match="own_size must be"):
        GNNConfig(**ARCH, own_size="shared")
    with pytest.raises(ValueError, match="hybrid readout option"):
        GNNConfig(hidden=8, own_size="per-packet")


def test_a_reset_readout_switches_the_own_size_composition() -> None:
    """A trained independent hybrid reset to ``per-packet`` predicts the per-packet prior; its hidden layer kept."""
    torch.manual_seed(5)
    sc = _operated(policy="SP")
    net = RouteNetFermi(GNNConfig(**ARCH))
    torch.nn.init.normal_(net.readout.mlp[-1].weight, std=0.5)  # "trained"
    hidden = net.readout.mlp[0].weight.detach().clone()
    reset_readout(net, own_size="per-packet")
    assert net.config.own_size == "per-packet" and torch.equal(net.readout.mlp[0].weight, hidden)
    out = _forward(net, sc)
    prior = QueueingModel(**QT_VARIANTS["classic"]).predict(sc)
    np.testing.assert_allclose(out["path_jitter"], prior.path_jitter_s2, rtol=1e-4)


def test_a_reset_readout_predicts_the_new_prior() -> None:
    """A trained hybrid switched to the packet-level prior and reset predicts qt-packet exactly (its message
    passing untouched); a first-generation model has no hybrid readout to reset."""
    torch.manual_seed(1)
    sc = _operated(policy="WFQ")
    net = RouteNetFermi(GNNConfig(**ARCH))
    torch.nn.init.normal_(net.readout.mlp[-1].weight, std=0.5)  # "trained"
    gru = net.path_gru.w_x.weight.detach().clone()
    net.config = replace(net.config, prior="packet")
    reset_readout(net)
    g = scenario_graph(sc, qt_prior=True, prior=net.config.prior)
    with torch.inference_mode():
        out = net.eval()(collate([g], FeatureStats.fit([g])))
    q = QueueingModel(**QT_VARIANTS["packet"], own_size="independent").predict(sc)
    np.testing.assert_allclose(out["path_delay"].double().numpy(), q.path_delay_s, rtol=1e-6)
    assert torch.equal(net.path_gru.w_x.weight, gru)
    with pytest.raises(ValueError, match="not a hybrid"):
        reset_readout(RouteNetFermi(GNNConfig(hidden=8, iterations=1)))


def test_a_readout_rebuilt_wider_still_predicts_the_prior() -> None:
    """``reset_readout(net, width)``: a readout of another width, fresh hidden layer, zero last layer, so the model
    predicts its prior exactly; the message passing is untouched and the width is recorded in the config."""
    torch.manual_seed(2)
    sc = _operated(policy="SP")
    net = RouteNetFermi(GNNConfig(**ARCH))
    torch.nn.init.normal_(net.readout.mlp[-1].weight, std=0.5)  # "trained"
    gru = net.path_gru.w_x.weight.detach().clone()
    reset_readout(net, width=3 * net.config.readout_hidden)
    assert net.config.readout_hidden == 3 * ARCH["readout_hidden"]
    assert net.readout.mlp[0].out_features == net.config.readout_hidden
    out = _forward(net, sc)
    q = QueueingModel(**QT_VARIANTS["classic"], own_size="independent").predict(sc)
    np.testing.assert_allclose(out["path_delay"], q.path_delay_s, rtol=1e-6)
    np.testing.assert_allclose(out["path_jitter"], q.path_jitter_s2, rtol=1e-4)
    assert torch.equal(net.path_gru.w_x.weight, gru)
    with pytest.raises(ValueError, match="width must be >= 1"):
        reset_readout(net, width=0)


def test_hybrid_does_not_see_propagation() -> None:
    """Propagation enters only the readout: changing it moves each path's delay by exactly its propagation sum."""
    torch.manual_seed(0)
    net = RouteNetFermi(GNNConfig(**ARCH))
    torch.nn.init.normal_(net.readout.mlp[-1].weight, std=0.5)  # a non-trivial correction
    a, b = _operated(prop=0.0), _operated(prop=0.01)
    stats = FeatureStats.fit([scenario_graph(a, qt_prior=True)])
    oa, ob = _forward(net, a, stats), _forward(net, b, stats)
    prop = path_prop(scenario_graph(b))
    assert prop.min() > 0.019  # two hops or more at >= 0.01 s
    # float32 holds 0.02 s to ~2e-9 s: compare the queueing parts (µs) to that absolute rounding
    np.testing.assert_allclose(ob["path_delay"] - prop, oa["path_delay"], rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(ob["path_jitter"], oa["path_jitter"], rtol=1e-5)
    assert LINK_FEATURES[-1] == "log_prop_rel" and len(net.link_cols) == len(LINK_FEATURES) - 1


def test_hybrid_needs_the_prior() -> None:
    net = RouteNetFermi(GNNConfig(**ARCH))
    g = scenario_graph(_operated())  # no qt_prior
    with pytest.raises(ValueError, match="queueing-theory prior"):
        net(collate([g], FeatureStats.identity()))


def test_old_config_and_shipped_checkpoint_stay_first_generation() -> None:
    assert GNNConfig.from_dict({"hidden": 32, "iterations": 8, "readout_hidden": 32}).hybrid is False
    model = GNNModel.load()
    cfg = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())
    assert model.net.config.hybrid is cfg["architecture"].get("hybrid", False)
    if not model.net.config.hybrid:
        assert model.net.link_embed[0].in_features == len(LINK_FEATURES)


@pytest.mark.parametrize("policy", ["WFQ", "DRR"])
def test_hybrid_prior_counts_a_class_slowdown_as_waiting(policy: str) -> None:
    """The classic prior serves a class at its share of the link: the prior's transmission is the line-rate s_f / C
    (the floor the truth never goes below), the rest of queueing theory's per-hop time is wait, and the two add up
    to qt's."""
    sc = _operated(policy=policy)
    g = scenario_graph(sc, qt_prior=True, prior="classic")
    hq = QueueingModel(**QT_VARIANTS["classic"]).hop_quantities(sc)
    mean_size = 0.4 * 512.0 + 0.6 * 12000.0
    np.testing.assert_allclose(g.hop_qt_tx, mean_size / sc.link_capacity_bps[g.hop_link], rtol=1e-6)
    np.testing.assert_allclose(hq.tx_line, g.hop_qt_tx, rtol=1e-6)
    assert (hq.tx_mean > hq.tx_line * (1 + 1e-3)).any()  # some class is slowed down behind the others
    np.testing.assert_allclose(g.hop_qt_wait + g.hop_qt_tx, hq.wait_mean + hq.tx_mean, rtol=1e-6)
    assert (g.hop_qt_wait >= hq.wait_mean * (1 - 1e-6)).all()


@pytest.mark.parametrize("policy", ["WFQ", "DRR", "SP", "FIFO"])
def test_packet_prior_sends_every_packet_at_the_line_rate(policy: str) -> None:
    """The packet-level prior has no class slowdown: transmission is s_f / C, qt-packet's own per-hop time."""
    sc = _operated(policy=policy)
    g = scenario_graph(sc, qt_prior=True, prior="packet")
    hq = QueueingModel(**QT_VARIANTS["packet"]).hop_quantities(sc)
    np.testing.assert_allclose(hq.tx_mean, hq.tx_line, rtol=1e-12)
    np.testing.assert_allclose(g.hop_qt_wait, hq.wait_mean, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown queueing-theory prior 'fluid'"):
        scenario_graph(sc, qt_prior=True, prior="fluid")


def test_a_stored_config_without_a_prior_is_the_classic_one() -> None:
    """Hybrids trained before the packet-level prior keep the prior they were trained on."""
    assert GNNConfig.from_dict({"hybrid": True}).prior == "classic"
    assert GNNConfig.from_dict(GNNConfig(hybrid=True, prior="packet").to_dict()).prior == "packet"
    shipped = json.loads((DEFAULT_CHECKPOINT / "config.json").read_text())["architecture"]
    model = GNNModel.load(DEFAULT_CHECKPOINT)
    assert model.net.config.prior == shipped.get("prior", "classic")


def test_qt_hop_quantities_follow_the_graph_hop_order() -> None:
    """Hop h of the graph is flow hop_flow[h] on link hop_link[h]: its qt transmission time is that flow's size / C."""
    sc = _operated(policy="FIFO")
    g = scenario_graph(sc, qt_prior=True)
    assert g.hop_qt_tx is not None and g.hop_qt_x is not None and g.hop_qt_x.shape == (g.n_hops, 2)
    mean_size = 0.4 * 512.0 + 0.6 * 12000.0
    np.testing.assert_allclose(g.hop_qt_tx, mean_size / sc.link_capacity_bps[g.hop_link], rtol=1e-6)
    # inputs are in units of the flow's own transmission time: the same network 10x faster has the same inputs
    fast = replace(sc, link_capacity_bps=sc.link_capacity_bps * 10, flow_rate_bps=sc.flow_rate_bps * 10,
                   flow_pkt_rate=sc.flow_pkt_rate * 10)
    np.testing.assert_allclose(scenario_graph(fast, qt_prior=True).hop_qt_x, g.hop_qt_x, rtol=1e-5, atol=1e-6)


def test_out_of_domain_guard_marks_paths_and_warns() -> None:
    """Statistics fitted on light-load rings; a ring at 30x the rates is far outside them."""
    torch.manual_seed(0)
    net = RouteNetFermi(GNNConfig(**ARCH))
    light = [scenario_graph(ring(5, seed=s), qt_prior=True) for s in range(3)]
    stats = FeatureStats.fit(light)
    assert stats.zmax is not None and set(stats.zmax) == {"flow", "queue", "link", "hop", "hop_qt"}
    b_in = collate(light[:1], stats)
    mask, _, _ = path_out_of_domain(net, b_in, stats)
    assert not mask.any()  # a training sample is inside its own training range
    hot = ring(5, seed=0, scale=1.0)
    hot = replace(hot, flow_rate_bps=hot.flow_rate_bps * 30, flow_pkt_rate=hot.flow_pkt_rate * 30)
    model = GNNModel(net, stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(hot)
    assert pred.path_out_of_domain is not None and pred.path_out_of_domain.any()
    ood = [w for w in caught if issubclass(w.category, OutOfDomainWarning)]
    assert len(ood) == 1 and "outside the model's training domain" in str(ood[0].message)
    assert FeatureStats.from_dict(stats.to_dict()).zmax == stats.zmax  # stored in the checkpoint


def test_hybrid_trains_and_fine_tuning_never_ends_worse(tmp_path: Path) -> None:
    tr, va = examples(4, 0, qt_prior=True), examples(2, 10, qt_prior=True)
    cfg = TrainConfig(epochs=3, lr=5e-3, seed=0, batch_paths=40, batch_size=2, time_budget_min=5.0, patience=5,
                      threads=1, architecture=ARCH)
    res = train(tr, va, tmp_path / "base", cfg)
    base = GNNModel.load(tmp_path / "base")
    assert base.net.config.hybrid and "hop_qt" in base.stats.mean
    assert np.isfinite(res["best_val_queue_mape"])
    # fine-tuning scores its starting point first ("epoch -1") and keeps it unless an epoch beats it on --val
    ft = train(tr, va, tmp_path / "ft", replace(cfg, epochs=2), init_checkpoint=tmp_path / "base")
    hist = json.loads((tmp_path / "ft" / "config.json").read_text())["training"]["history"]
    assert hist[0]["epoch"] == -1
    assert ft["best_val_queue_mape"] <= hist[0]["queue_mape"] + 1e-12


def test_unmeasured_paths_are_not_labels(tmp_path: Path) -> None:
    """A native sample's ``sim.path_scored`` (>= 100 packets) decides which paths carry labels; others are inputs."""
    from twinwatch.twin.train import _scored_paths

    f = tmp_path / "sample_000000.npz"
    np.savez(f, **{"sim.path_scored": np.array([True, False, True])})
    assert _scored_paths(f, 3).tolist() == [True, False, True]
    assert _scored_paths(f, 4).all()  # a mask of the wrong length is ignored, not misapplied
    assert _scored_paths(tmp_path / "results.tar.gz", 2).all()  # GNNet: every path is labelled
