"""Scenario → graph features: indices, physics quantities, scale-freeness, batching."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.twin._gnn_toy import ring
from twinwatch.twin.features import (
    FLOW_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    FeatureStats,
    collate,
    mm1k,
    scenario_graph,
)
from twinwatch.twin.scenario import MAX_QUEUES, Policy


def test_hops_follow_routing_and_queues_follow_policy() -> None:
    sc = ring(5, policy="SP")
    g = scenario_graph(sc)
    assert g.n_hops == int(sc.path_len[sc.flow_path].sum())
    # hops of flow f are the links of its path, in order
    for f in range(sc.n_flows):
        p = sc.flow_path[f]
        assert g.hop_link[g.hop_flow == f].tolist() == sc.path_links[sc.path_ptr[p] : sc.path_ptr[p + 1]].tolist()
    # SP: queue = ToS; FIFO: queue 0
    assert np.array_equal(g.hop_queue % MAX_QUEUES, sc.flow_tos[g.hop_flow])
    fifo = scenario_graph(ring(5, policy="FIFO"))
    assert (fifo.hop_queue % MAX_QUEUES == 0).all()
    assert np.array_equal(g.hop_queue // MAX_QUEUES, g.hop_link)


def test_link_load_matches_scenario() -> None:
    sc = ring(6)
    g = scenario_graph(sc)
    want = sc.link_load_bps() / sc.link_capacity_bps
    assert np.allclose(g.link_x[:, LINK_FEATURES.index("load")], want, rtol=1e-5)
    assert np.allclose(g.hop_capacity, sc.link_capacity_bps[g.hop_link])


def test_buffer_bits_become_packets() -> None:
    sc = ring(5, buffer_bits=16000.0)
    g = scenario_graph(sc)
    used = g.queue_x[:, QUEUE_FEATURES.index("used")] > 0
    buf = np.expm1(g.queue_x[used, QUEUE_FEATURES.index("log_buffer_pkts")])
    assert np.allclose(buf, 16000.0 / g.queue_size[used], rtol=1e-4)


def test_features_are_scale_free() -> None:
    """The same network in a time unit 1000× shorter (rates × 1000, times ÷ 1000) has identical features."""
    a, b = scenario_graph(ring(5, seed=3)), scenario_graph(ring(5, seed=3, scale=1000.0))
    for name in ("flow_x", "queue_x", "link_x", "hop_x", "hop_prior_occ"):
        assert np.allclose(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-5), name
    assert np.allclose(a.hop_capacity * 1000.0, b.hop_capacity, rtol=1e-6)


def test_no_nan_features() -> None:
    for pol in Policy:
        g = scenario_graph(ring(5, policy=pol.name, buffer_bits=8000.0))
        for name in ("flow_x", "queue_x", "link_x", "hop_x"):
            assert np.isfinite(getattr(g, name)).all(), (pol, name)
    assert g.flow_x.shape[1] == len(FLOW_FEATURES)


def test_collate_offsets_and_packing() -> None:
    g1, g2 = scenario_graph(ring(4)), scenario_graph(ring(6, seed=1))
    b = collate([g1, g2], FeatureStats.identity())
    assert b.n_flows == g1.n_flows + g2.n_flows
    assert b.n_paths == g1.n_paths + g2.n_paths
    assert b.n_queues == g1.n_queues + g2.n_queues
    assert sum(b.pack_sizes) == b.n_hops == g1.n_hops + g2.n_hops
    assert list(b.pack_sizes) == sorted(b.pack_sizes, reverse=True)
    start = 0
    for t, n in enumerate(b.pack_sizes):  # step t reads flows 0..n-1, all at hop t
        assert b.hop_flow[start : start + n].tolist() == list(range(n))
        assert (b.hop_index[start : start + n] == t).all()
        start += n
    # second sample's flows point at its own paths and queues
    orig = b.flow_order.numpy()
    second = orig >= g1.n_flows
    assert (b.flow_path.numpy()[second] >= g1.n_paths).all()
    hop_is_second = second[b.hop_flow.numpy()]
    assert (b.hop_queue.numpy()[hop_is_second] >= g1.n_queues).all()
    assert (b.queue_link.numpy() == np.arange(b.n_queues) // MAX_QUEUES).all()


def test_feature_stats_roundtrip_and_mismatch() -> None:
    gs = [scenario_graph(ring(5, seed=s)) for s in range(3)]
    st = FeatureStats.fit(gs)
    again = FeatureStats.from_dict(st.to_dict())
    x = gs[0].flow_x
    assert np.allclose(st.apply("flow", x), again.apply("flow", x))
    with pytest.raises(ValueError, match="retrain"):
        st.apply("flow", x[:, :-1])


def test_mm1k_limits() -> None:
    occ, pb = mm1k(np.array([0.01, 0.5, 50.0]), np.array([32.0, 1e6, 32.0]))
    assert occ[0] == pytest.approx(0.0101, rel=1e-2)
    assert occ[1] == pytest.approx(1.0, rel=1e-6)  # M/M/1: ρ/(1−ρ)
    assert occ[2] == pytest.approx(32.0, rel=0.05) and pb[2] > 0.95
