"""Traffic-matrix tests of the twin detector: per-node sums, the counter reference, ranked links."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.detectors.traffic import (
    NODE_POOL_PRIOR,
    CounterReference,
    destination_bps,
    flow_rows,
    origin_bps,
    ranked_links,
)
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix


def _matrix(source: np.ndarray | Source) -> TrafficMatrix:
    tm = np.zeros((3, 4, 4))
    tm[0, 0, 3] = 2e9  # class 0: 0 -> 3
    tm[1, 1, 3] = 1e9  # class 1: 1 -> 3
    tm[2, 3, 0] = 5e8  # class 2: 3 -> 0
    return TrafficMatrix.build(tm, start=0.0, end=10.0, source=source)


def test_row_and_column_sums_add_every_class() -> None:
    m = _matrix(Source.COUNTERS)
    assert destination_bps(m).tolist() == [5e8, 0.0, 0.0, 3e9]
    assert origin_bps(m).tolist() == [2e9, 1e9, 0.0, 5e8]


def test_flow_rows_follow_the_entry_sources() -> None:
    src = np.full((3, 4, 4), int(Source.COUNTERS), dtype=np.uint8)
    src[:, 1, :] = int(Source.FLOWS)  # router 1 exported its row this window
    assert flow_rows(_matrix(src)).tolist() == [False, True, False, False]
    assert not flow_rows(_matrix(Source.COUNTERS)).any()


def test_counter_reference_is_a_robust_median_and_round_trips() -> None:
    ref = CounterReference(2, depth=5)
    for v in (1.0, 1.1, 0.9, 50.0, 1.0):  # one window spoiled by a counter reset
        ref.update(np.array([v, np.nan]))
    assert ref.reference()[0] == pytest.approx(1.0)
    assert np.isnan(ref.reference()[1])
    ref.update(np.array([7.0, 7.0]), mask=np.array([False, True]))  # node 0 masked: keeps its values
    assert ref.reference()[1] == 7.0
    back = CounterReference.from_bytes(ref.to_bytes())
    assert np.array_equal(back.reference(), ref.reference(), equal_nan=True)
    with pytest.raises(ValueError, match="depth"):
        CounterReference(2, depth=0)
    with pytest.raises(ValueError, match="values shape"):
        ref.update(np.zeros(3))


def test_ranked_links_orders_a_nodes_links_by_weight() -> None:
    link_dst = np.array([1, 2, 2, 0, 2])
    ids = ["a->b", "a->c", "b->c", "c->a", "d->c"]
    w = np.array([9.0, 1.0, 4.0, 7.0, np.nan])
    assert ranked_links(link_dst, 2, w, ids) == [{"link": "b->c", "score": 1.0}, {"link": "a->c", "score": 0.25},
                                                 {"link": "d->c", "score": 0.0}]
    assert ranked_links(link_dst, 5, w, ids) == []


def test_node_pool_prior_is_a_unit_variance_heavy_tailed_reference() -> None:
    assert abs(float(np.mean(NODE_POOL_PRIOR))) < 1e-9
    assert 0.8 < float(np.var(NODE_POOL_PRIOR)) <= 1.05  # t(3) rescaled; the grid truncates the far tails
    # heavier than a normal: beyond 4 sigma is far more common than the normal's 6e-5
    assert np.mean(np.abs(NODE_POOL_PRIOR) > 4.0) > 1e-3


def test_routed_reference_carries_the_last_flow_loads_and_survives_a_restore() -> None:
    from twinwatch.detectors.traffic import RoutedReference

    ref = RoutedReference(3, carry=3)
    assert np.isnan(ref.update(0, None)).all()  # no flow window yet: nothing to test against
    loads = np.array([1e9, 2e9, 0.0])
    assert ref.update(5, loads, "v1").tolist() == loads.tolist()
    back = RoutedReference.from_bytes(ref.to_bytes())
    for w in (6, 7, 8):
        assert back.update(w, None, "v1").tolist() == loads.tolist() == ref.update(w, None, "v1").tolist()
    assert np.isnan(back.update(9, None, "v1")).all() and back.age(9) == 4
    _ = back.update(10, loads, "v1")
    assert np.isnan(back.update(11, None, "v2")).all()  # a link went down or came back: re-routed, not carried
    with pytest.raises(ValueError, match="carry"):
        RoutedReference(3, carry=-1)
    with pytest.raises(ValueError, match="shape"):
        ref.update(10, np.ones(2))


def _ring_scenario(seed: int) -> object:
    """A 6-node bidirectional ring, shortest paths, 20 random flows (some of rate 0)."""
    import networkx as nx

    from twinwatch.twin.scenario import Flow, Scenario

    rng = np.random.default_rng(seed)
    g = nx.cycle_graph(6).to_directed()
    links = [(u, v, 1e9) for u, v in g.edges]
    flows, paths = [], {}
    for _ in range(20):
        s, d = (int(x) for x in rng.choice(6, size=2, replace=False))
        paths[(s, d)] = nx.shortest_path(g, s, d)
        flows.append(Flow(s, d, float(rng.choice([0.0, rng.uniform(1e6, 1e8)], p=[0.1, 0.9])), 8000.0))
    return Scenario.build(6, links, paths, flows)


@pytest.mark.parametrize("seed", range(5))
def test_upper_estimate_raises_each_link_by_at_most_its_standard_error(seed: int) -> None:
    from twinwatch.detectors.traffic import load_upper_scenario, routed_load_sd_bps

    sc = _ring_scenario(seed)
    rng = np.random.default_rng(100 + seed)
    sd = rng.uniform(0.0, 0.3, sc.n_flows) * sc.flow_rate_bps + rng.uniform(0, 1e6, sc.n_flows)
    up = load_upper_scenario(sc, sd)
    sigma = routed_load_sd_bps(sc, sd)
    rise = up.link_load_bps() - sc.link_load_bps()
    assert (rise >= 0).all() and (rise <= sigma * (1 + 1e-12)).all()
    # the network's most uncertain link is the most uncertain of every path through it: each of its flows rises by
    # s_f² / σ_top, so it rises by its whole standard error, less the part of the flows of rate 0 (never raised)
    top = int(np.argmax(sigma))
    through = np.isin(sc.flow_path, sc.hop_path[sc.path_links == top]) & (sc.flow_rate_bps > 0)
    assert rise[top] == pytest.approx(np.square(sd[through]).sum() / sigma[top], rel=1e-9)
    # packet sizes kept, flows of rate 0 stay at 0, the topology and paths are the same
    moving = sc.flow_rate_bps > 0
    assert np.allclose(up.flow_pkt_size_bits[moving], sc.flow_pkt_size_bits[moving])
    assert (up.flow_rate_bps[~moving] == 0).all()
    assert np.array_equal(up.path_links, sc.path_links) and np.array_equal(up.flow_path, sc.flow_path)


def test_no_upper_estimate_without_sampling_error() -> None:
    from twinwatch.detectors.traffic import load_upper_scenario

    sc = _ring_scenario(0)
    assert load_upper_scenario(sc, np.zeros(sc.n_flows)) is None  # a matrix fitted to the counters
    assert load_upper_scenario(sc, np.full(sc.n_flows, np.nan)) is None
    assert load_upper_scenario(sc, np.ones(sc.n_flows + 1)) is None  # not this scenario's flows


def test_an_absurd_sampling_error_raises_no_flow_to_an_infinite_rate() -> None:
    from twinwatch.detectors.traffic import load_upper_scenario

    sc = _ring_scenario(1)
    sd = np.full(sc.n_flows, 1e5)
    sd[:3] = (np.inf, -5.0, 1e200)  # unknown, negative, and one whose square overflows
    up = load_upper_scenario(sc, sd)
    assert np.isfinite(up.flow_rate_bps).all() and (up.flow_rate_bps >= sc.flow_rate_bps).all()
    assert (up.flow_rate_bps[:2] == sc.flow_rate_bps[:2]).all()
