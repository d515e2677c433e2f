"""The GNN model family: layers, batching, physics readout, scale-freeness, the KPIModel wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.unit.twin._gnn_toy import ring
from twinwatch.twin.features import FeatureStats, collate, scenario_graph
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.models.gnn import (
    DEFAULT_CHECKPOINT,
    GNNConfig,
    GNNModel,
    PathGRU,
    RouteNetFermi,
    interval,
    load_gnn,
)

TINY = GNNConfig(hidden=8, iterations=2, readout_hidden=8)


def _net(seed: int = 0) -> RouteNetFermi:
    torch.manual_seed(seed)
    return RouteNetFermi(TINY).eval()


def test_output_shapes_and_physics_floor() -> None:
    sc = ring(5, policy="WFQ")
    b = collate([scenario_graph(sc)], FeatureStats.identity())
    with torch.no_grad():
        out = _net()(b)
    assert out["path_delay"].shape == (sc.n_paths,)
    assert out["link_utilization"].shape == (sc.n_links,)
    assert out["hop_queueing"].shape == (b.n_hops,)
    # delay is at least the transmission times along the path (queueing >= 0)
    tx = sc.flow_pkt_size_bits[np.argsort(sc.flow_path)][sc.hop_path] / sc.link_capacity_bps[sc.path_links]
    floor = np.bincount(sc.hop_path, weights=tx, minlength=sc.n_paths)
    assert (out["path_delay"].numpy() >= floor * (1 - 1e-5)).all()
    assert (out["path_jitter"] > 0).all()
    assert ((out["path_loss"] >= 0) & (out["path_loss"] <= 1)).all()
    # no loss predicted → utilisation is the offered load
    util = out["link_utilization"].numpy()
    load = sc.link_load_bps() / sc.link_capacity_bps
    assert np.allclose(util, load * (1 - out["link_loss"].numpy()), rtol=0.05, atol=1e-4)


def test_batching_equals_one_by_one() -> None:
    """A batch of scenarios predicts exactly what each scenario predicts alone (PyG-style offsets)."""
    scs = [ring(4, seed=1), ring(6, seed=2, policy="SP"), ring(5, seed=3, buffer_bits=16000.0)]
    gs = [scenario_graph(s) for s in scs]
    net, st = _net(), FeatureStats.fit(gs)
    with torch.no_grad():
        together = net(collate(gs, st))["path_delay"].numpy()
        alone = np.concatenate([net(collate([g], st))["path_delay"].numpy() for g in gs])
    assert np.allclose(together, alone, rtol=1e-5)


def test_scale_free_predictions() -> None:
    """Rates and capacities × 1000 (a time unit 1000× shorter): delays ÷ 1000, jitter ÷ 10⁶, same loss."""
    net, st = _net(), FeatureStats.identity()
    with torch.no_grad():
        a = net(collate([scenario_graph(ring(5, seed=4))], st))
        b = net(collate([scenario_graph(ring(5, seed=4, scale=1000.0))], st))
    assert np.allclose(a["path_delay"].numpy(), b["path_delay"].numpy() * 1000.0, rtol=1e-3)
    assert np.allclose(a["path_jitter"].numpy(), b["path_jitter"].numpy() * 1e6, rtol=1e-3)
    assert np.allclose(a["path_loss"].numpy(), b["path_loss"].numpy(), atol=1e-6)


def test_path_gru_matches_torch_gru() -> None:
    """The packed, projection-split GRU is the standard GRU run along each flow's hops."""
    torch.manual_seed(0)
    d = 4
    sc = ring(6, seed=5)
    b = collate([scenario_graph(sc)], FeatureStats.identity())
    gru = PathGRU(d, b.hop_x.shape[1])
    q, lk = torch.randn(b.n_queues, d), torch.randn(b.n_links, d)
    h0 = torch.randn(b.n_flows, d)
    with torch.no_grad():
        hop_state, final = gru(h0, q, lk, gru.project_hops(b.hop_x), b)
        ref = torch.nn.GRU(2 * d + b.hop_x.shape[1], d)
        ref.weight_ih_l0.copy_(torch.cat([gru.w_q.weight, gru.w_l.weight, gru.w_x.weight], dim=1))
        ref.bias_ih_l0.copy_(gru.w_x.bias)
        ref.weight_hh_l0.copy_(gru.w_h.weight)
        ref.bias_hh_l0.copy_(gru.w_h.bias)
        x = torch.cat([q[b.hop_queue], lk[b.hop_link], b.hop_x], dim=1)
        for f in range(b.n_flows):
            hops = torch.nonzero(b.hop_flow == f).flatten()
            hops = hops[torch.argsort(b.hop_index[hops])]
            out, hn = ref(x[hops], h0[f : f + 1])
            assert torch.allclose(out, hop_state[hops], atol=1e-5)
            assert torch.allclose(hn[0], final[f], atol=1e-5)


def test_backward_reaches_every_parameter() -> None:
    net = RouteNetFermi(TINY)
    b = collate([scenario_graph(ring(5))], FeatureStats.identity())
    out = net(b)
    (out["path_delay"].sum() + out["path_jitter"].sum() + out["path_loss"].sum()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing


def test_model_wrapper_predicts_with_intervals() -> None:
    cal = {"delay_s": {"kind": "log", "lo": -0.1, "hi": 0.1}, "loss_ratio": {"kind": "abs", "lo": -0.01, "hi": 0.02}}
    model = GNNModel(_net(), FeatureStats.identity(), cal)
    scs = [ring(4), ring(5, seed=1)]
    preds = model.predict_many(scs)
    assert all(isinstance(p, Prediction) for p in preds)
    assert preds[1].path_delay_s.shape == (scs[1].n_paths,)
    lo, hi = preds[0].path_interval["delay_s"]
    assert (lo < preds[0].path_delay_s).all() and (hi > preds[0].path_delay_s).all()
    assert np.allclose(model.predict(scs[1]).path_delay_s, preds[1].path_delay_s, rtol=1e-5)
    assert model.predict_many([]) == []


def test_interval_abs_is_clipped() -> None:
    lo, hi = interval(np.array([0.0, 0.5]), {"kind": "abs", "lo": -0.1, "hi": 0.6})
    assert lo.tolist() == [0.0, 0.4] and hi.tolist() == [0.6, 1.0]


def test_shipped_checkpoint_loads_and_predicts() -> None:
    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.fail(f"the shipped checkpoint {DEFAULT_CHECKPOINT} is missing; train it (bench/notes/gnn.md)")
    model = load_gnn(None)
    assert model.name == "gnn" and model.net.config.iterations >= 1
    pr = model.predict(ring(5))
    assert np.isfinite(pr.path_delay_s).all() and (pr.path_delay_s > 0).all()
    assert set(pr.path_interval) >= {"delay_s", "jitter_s2", "loss_ratio"}


def test_registry_finds_gnn() -> None:
    from twinwatch.twin.models import get_model

    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.skip("shipped checkpoint not written yet")
    assert get_model("gnn").name == "gnn"
