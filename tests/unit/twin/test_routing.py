"""twin.routing: IGP shortest paths with ECMP, link state, explicit routes; Scenario with several paths per pair."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinwatch.twin.routing import RoutingError, compute_routing, default_metric, flow_hash, hash_paths, route_demand
from twinwatch.twin.scenario import Flow, Scenario


def diamond() -> tuple[np.ndarray, np.ndarray]:
    """0→1→3 and 0→2→3, one direction."""
    return np.array([0, 0, 1, 2]), np.array([1, 2, 3, 3])


def bidir(edges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    src = [a for a, b in edges] + [b for a, b in edges]
    dst = [b for a, b in edges] + [a for a, b in edges]
    return np.array(src), np.array(dst)


def grid(k: int) -> tuple[np.ndarray, np.ndarray]:
    """k × k grid, node r*k + c, links right and down only."""
    e = [(r * k + c, r * k + c + 1) for r in range(k) for c in range(k - 1)]
    e += [(r * k + c, (r + 1) * k + c) for r in range(k - 1) for c in range(k)]
    return np.array([a for a, _ in e]), np.array([b for _, b in e])


def nodes_of(r, pair: int = 0) -> list[list[int]]:
    return [r.path_nodes(p) for p in range(int(r.pair_ptr[pair]), int(r.pair_ptr[pair + 1]))]


# ------------------------------------------------------------------- ECMP
def test_diamond_has_two_equal_cost_paths_with_even_shares() -> None:
    s, d = diamond()
    r = compute_routing(4, s, d, np.ones(4), pairs=([0], [3]), split="even")
    assert nodes_of(r) == [[0, 1, 3], [0, 2, 3]]
    assert r.path_share.tolist() == [0.5, 0.5] and r.path_cost.tolist() == [2.0, 2.0]
    # a cheaper branch wins alone
    r = compute_routing(4, s, d, np.array([1.0, 1.0, 1.0, 1.5]), pairs=([0], [3]))
    assert nodes_of(r) == [[0, 1, 3]] and r.path_share.tolist() == [1.0]


def test_even_split_is_per_hop() -> None:
    # 0 has next hops 1 and 2 toward 5; 1 has next hops 3 and 4: shares 1/2·1/2, 1/2·1/2, 1/2
    src = np.array([0, 0, 1, 1, 3, 4, 2])
    dst = np.array([1, 2, 3, 4, 5, 5, 5])
    metric = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    r = compute_routing(6, src, dst, metric, pairs=([0], [5]), split="even")
    assert nodes_of(r) == [[0, 1, 3, 5], [0, 1, 4, 5], [0, 2, 5]]  # lexicographic next-hop order
    assert r.path_share.tolist() == [0.25, 0.25, 0.5]


def test_ring_all_pairs_shares_sum_to_one_and_load_is_symmetric() -> None:
    # 6-ring: opposite nodes have two 3-hop paths, the others one shortest path
    src, dst = bidir([(i, (i + 1) % 6) for i in range(6)])
    r = compute_routing(6, src, dst, np.ones(12))
    assert r.n_pairs == 30 and r.unreachable_src.size == 0
    sums = np.bincount(r.path_pair, weights=r.path_share, minlength=r.n_pairs)
    assert np.allclose(sums, 1.0)
    n_paths = np.diff(r.pair_ptr)
    opposite = (r.pair_dst - r.pair_src) % 6 == 3
    assert (n_paths[opposite] == 2).all() and (n_paths[~opposite] == 1).all()
    # uniform all-to-all demand on a symmetric ring loads every link equally
    load = r.link_load(np.ones(r.n_pairs))
    assert np.allclose(load, load[0])
    # routing matrix agrees with link_load
    assert np.allclose(r.routing_matrix() @ np.ones(r.n_pairs), load)


def test_none_split_keeps_one_path_towards_the_lowest_next_node() -> None:
    s, d = diamond()
    r = compute_routing(4, s[::-1].copy(), d[::-1].copy(), np.ones(4), pairs=([0], [3]), split="none")
    assert nodes_of(r) == [[0, 1, 3]] and r.path_share.tolist() == [1.0]


def test_with_every_link_down_no_flow_gets_a_path() -> None:
    """A window whose every link is down (or a what-if taking every router down) leaves no path at all: the
    flows, probes included, are unreachable (-1), not an IndexError of the empty share table."""
    src, dst = np.array([0, 1]), np.array([1, 2])
    r = compute_routing(3, src, dst, np.ones(2), up=np.zeros(2, dtype=bool), pairs=([0, 1], [2, 2]), split="hash")
    assert r.n_paths == 0
    got = hash_paths(r, np.array([0, 1, 1]), flow_hash(np.arange(3)))
    assert got.tolist() == [-1, -1, -1]


def test_hash_split_is_deterministic_and_follows_the_shares() -> None:
    src = np.array([0, 0, 1, 1, 3, 4, 2])
    dst = np.array([1, 2, 3, 4, 5, 5, 5])
    metric = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    r = compute_routing(6, src, dst, metric, pairs=([0], [5]), split="hash")
    n = 20_000
    key = flow_hash(np.zeros(n, dtype=np.int64), np.full(n, 5), np.zeros(n, dtype=np.int64), np.arange(n))
    a = hash_paths(r, np.zeros(n, dtype=np.int64), key)
    b = hash_paths(r, np.zeros(n, dtype=np.int64), key.copy())
    assert (a == b).all()
    frac = np.bincount(a, minlength=r.n_paths) / n
    # binomial standard error at n = 20,000 is about 0.0035: allow 4 sigma
    assert np.allclose(frac, r.path_share, atol=0.015)
    # the same flows through route_demand: one flow per demand row, on the hashed path
    rf = route_demand(r, np.zeros(n, dtype=np.int64), np.full(n, 5), np.ones(n), flow_key=np.arange(n))
    assert rf.flow_path.size == n and (rf.path_routing[rf.flow_path] == a).all()


def test_max_paths_truncates_and_counts() -> None:
    # 4 × 4 grid, right/down links: C(6, 3) = 20 shortest corner-to-corner paths
    s, d = grid(4)
    full = compute_routing(16, s, d, np.ones(s.size), pairs=([0], [15]), max_paths=64)
    assert full.n_paths == math.comb(6, 3) and full.truncated == 0
    cut = compute_routing(16, s, d, np.ones(s.size), pairs=([0], [15]), max_paths=16)
    assert cut.n_paths == 16 and cut.truncated == 1
    assert cut.path_share.sum() == pytest.approx(1.0)
    assert len({tuple(cut.path_nodes(p)) for p in range(16)}) == 16


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_paths_equal_networkx_all_shortest_paths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = nx.gnm_random_graph(9, 18, seed=int(seed), directed=True)
    edges = list(g.edges())
    if not edges:
        return
    src = np.array([a for a, _ in edges])
    dst = np.array([b for _, b in edges])
    metric = rng.integers(1, 4, size=src.size).astype(float)  # small integers: many ties
    for (a, b), w in zip(edges, metric, strict=True):
        g[a][b]["w"] = w
    r = compute_routing(9, src, dst, metric, max_paths=10_000)
    for k in range(r.n_pairs):
        s, t = int(r.pair_src[k]), int(r.pair_dst[k])
        if nx.has_path(g, s, t):
            want = sorted(nx.all_shortest_paths(g, s, t, weight="w"))
            assert sorted(nodes_of(r, k)) == want
        else:
            assert (s, t) in set(zip(r.unreachable_src.tolist(), r.unreachable_dst.tolist(), strict=True))


# -------------------------------------------------------------- link state
def test_link_down_reroutes_and_reports_unreachable_pairs() -> None:
    # 4-ring 0-1-2-3-0: 0→1 is direct until 0→1 goes down, then 0-3-2-1
    src, dst = bidir([(0, 1), (1, 2), (2, 3), (3, 0)])
    up = np.ones(8, dtype=bool)
    r = compute_routing(4, src, dst, np.ones(8), up=up, pairs=([0], [1]))
    assert nodes_of(r) == [[0, 1]]
    up[0] = False  # link 0 is 0→1
    r2 = compute_routing(4, src, dst, np.ones(8), up=up, pairs=([0], [1]))
    assert nodes_of(r2) == [[0, 3, 2, 1]] and r2.version != r.version
    # cut both links out of 0 (0→1 and 0→3): every pair from 0 is unreachable, the others still route
    up[7] = False  # link 7 is 0→3
    r3 = compute_routing(4, src, dst, np.ones(8), up=up)
    cut = sorted(zip(r3.unreachable_src.tolist(), r3.unreachable_dst.tolist(), strict=True))
    assert cut == [(0, 1), (0, 2), (0, 3)]
    assert r3.n_pairs == 12 and np.diff(r3.pair_ptr)[r3.pair_src == 0].sum() == 0
    assert (np.diff(r3.pair_ptr)[r3.pair_src != 0] >= 1).all()


def test_version_is_stable_for_equal_inputs() -> None:
    s, d = diamond()
    a = compute_routing(4, s, d, np.ones(4), pairs=([0], [3]))
    b = compute_routing(4, s.copy(), d.copy(), np.ones(4), pairs=([0], [3]))
    c = compute_routing(4, s, d, np.ones(4), pairs=([0], [3]), split="hash")
    assert a.version == b.version and a.version != c.version


# --------------------------------------------------------- explicit routes
def test_explicit_route_overrides_and_falls_back_when_down() -> None:
    src, dst = bidir([(0, 1), (1, 2), (2, 3), (3, 0)])
    r = compute_routing(4, src, dst, np.ones(8), pairs=([0, 1], [1, 3]), explicit={(0, 1): [0, 3, 2, 1]})
    assert nodes_of(r, 0) == [[0, 3, 2, 1]] and r.path_explicit[r.pair_ptr[0]]
    assert len(nodes_of(r, 1)) == 2 and not r.path_explicit[r.pair_ptr[1]:r.pair_ptr[2]].any()  # 1→3: ECMP
    up = np.ones(8, dtype=bool)
    up[6] = False  # link 6 is 3→2, used by the explicit route
    r2 = compute_routing(4, src, dst, np.ones(8), up=up, pairs=([0], [1]), explicit={(0, 1): [0, 3, 2, 1]})
    assert nodes_of(r2) == [[0, 1]] and r2.explicit_down == ((0, 1),)


@pytest.mark.parametrize(
    ("route", "match"),
    [([0, 1, 0, 1], r"explicit route 0->1 has a routing loop"),
     ([0, 2, 1], r"explicit route 0->1 uses link 0->2, which does not exist"),
     ([1, 0], r"explicit route 0->1 must run from 0 to 1")],
)
def test_bad_explicit_route_is_named(route: list[int], match: str) -> None:
    src, dst = bidir([(0, 1), (1, 2), (2, 3), (3, 0)])
    with pytest.raises(RoutingError, match=match):
        compute_routing(4, src, dst, np.ones(8), explicit={(0, 1): route})


# ------------------------------------------------------------- bad metrics
@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan"), float("inf")])
def test_bad_metric_is_refused_naming_the_link(bad: float) -> None:
    s, d = diamond()
    metric = np.ones(4)
    metric[2] = bad
    with pytest.raises(RoutingError, match=rf"link 2 'B->D' \(1->3\) has routing metric {bad!r}; metrics must be"):
        compute_routing(4, s, d, metric, link_names=["A->B", "A->C", "B->D", "C->D"])


def test_default_metric_is_ospf_inverse_capacity_unless_igp_given() -> None:
    # 100 Gb/s reference: 10 Gb/s costs 10, 1 Gb/s 100, faster than the reference costs 1
    m = default_metric(np.array([10e9, 1e9, 400e9]), np.array([np.nan, 7.0, np.nan]))
    assert m.tolist() == [10.0, 7.0, 1.0]


# ---------------------------------------------------------- demand → flows
def test_route_demand_splits_even_and_reports_unrouted_rows() -> None:
    s, d = diamond()
    r = compute_routing(4, s, d, np.ones(4), pairs=([0, 1], [3, 3]))
    rf = route_demand(r, np.array([0, 1, 2]), np.array([3, 3, 0]), np.array([8e6, 2e6, 1e6]))
    assert rf.unrouted.tolist() == [2]  # 2→0 was not routed
    assert rf.flow_demand.tolist() == [0, 0, 1]
    assert rf.flow_rate_bps.tolist() == [4e6, 4e6, 2e6]
    assert np.bincount(rf.flow_demand, weights=rf.flow_rate_bps).tolist() == [8e6, 2e6]


# ---------------------------------------------- Scenario with ECMP, models
def ecmp_diamond(ecmp: bool, rate: float = 6e5) -> Scenario:
    """Diamond 0→{1,2}→3 at 1 Mb/s; 0→3 carries ``rate`` b/s split over both branches or on 0-1-3 alone."""
    links = [(0, 1, 1e6, 1e-3), (0, 2, 1e6, 1e-3), (1, 3, 1e6, 1e-3), (2, 3, 1e6, 1e-3)]
    s, d = np.array([lk[0] for lk in links]), np.array([lk[1] for lk in links])
    r = compute_routing(4, s, d, np.ones(4), pairs=([0], [3]), split="even" if ecmp else "none")
    rf = route_demand(r, np.array([0]), np.array([3]), np.array([rate]))
    flows = [Flow(0, 3, float(x), pkt_size_bits=8000.0, route=tuple(r.path_nodes(int(rf.path_routing[p]))))
             for x, p in zip(rf.flow_rate_bps, rf.flow_path, strict=True)]
    return Scenario.build(4, links, {}, flows, queue_pkts=64.0, name="ecmp" if ecmp else "single")


def test_ecmp_scenario_predicts_with_qt_gnn_and_sim() -> None:
    from twinwatch.twin.models import get_model
    from twinwatch.twin.sim import SimConfig, simulate

    sc = ecmp_diamond(True)
    assert sc.n_paths == 2 and sc.pair_paths(0, 3).tolist() == [0, 1]
    assert sc.link_load_bps().tolist() == [3e5, 3e5, 3e5, 3e5]
    qt = get_model("qt").predict(sc)
    # M/D/1 per hop (Poisson, fixed 8000-bit packets at 1 Mb/s, rho = 0.3; 64 packets of buffer lose ~nothing):
    # Pollaczek-Khinchine wait rho S / (2 (1 - rho)) + service 8 ms + propagation 1 ms, two hops
    md1 = 2 * (8e-3 + 0.3 * 8e-3 / (2 * 0.7) + 1e-3)
    assert qt.path_delay_s == pytest.approx([md1, md1], rel=1e-3)
    single = get_model("qt").predict(ecmp_diamond(False))
    assert single.path_delay_s[0] > qt.path_delay_s[0]  # the whole demand at rho = 0.6 waits longer
    # the two branches are mirror images: the learned models must predict them alike
    for name in ("gnn", "mlp"):
        pr = get_model(name).predict(sc)
        assert np.isfinite(pr.path_delay_s).all() and pr.path_delay_s[0] == pytest.approx(pr.path_delay_s[1], rel=1e-5)
    res = simulate(sc, SimConfig(seed=3, min_packets=40_000, target_rse=0.03))
    # in the simulator only the first hop queues: each branch carries one flow whose packets leave hop 1 spaced by
    # at least one service time, so the equal-rate hop 2 never holds two of them (qt assumes independent hops)
    tandem = 0.3 * 8e-3 / (2 * 0.7) + 2 * (8e-3 + 1e-3)
    assert res.labels.path_delay_s == pytest.approx([tandem, tandem], rel=0.03)


def test_drawn_ecmp_scenario_splits_each_pair_over_its_equal_cost_paths() -> None:
    from twinwatch.twin.sim.scenarios import ScenarioParams, draw_scenario
    from twinwatch.twin.topology import random_topology

    topo = random_topology(12, degree=3.0, rng=np.random.default_rng(1))
    single = draw_scenario(topo, ScenarioParams(routing="hops", load=(0.5, 0.5)), np.random.default_rng(3))
    ecmp = draw_scenario(topo, ScenarioParams(routing="hops", ecmp="even", load=(0.5, 0.5)), np.random.default_rng(3))
    assert single.n_paths == single.n_flows == 132  # 12 · 11 pairs, one path each
    # every pair keeps its demand, split over hop-count-equal paths; the busiest link is still at rho_max
    pair = ecmp.path_src * 12 + ecmp.path_dst
    assert np.unique(pair).size == 132 and ecmp.n_paths > 132
    hops = np.diff(ecmp.path_ptr)
    for k in np.unique(pair):
        assert np.unique(hops[pair == k]).size == 1
    assert (ecmp.link_load_bps() / ecmp.link_capacity_bps).max() == pytest.approx(0.5)
    # the pair's flows share its random draws (time distribution, sizes)
    fp = pair[ecmp.flow_path]
    for k in np.unique(fp)[:20]:
        assert np.unique(ecmp.flow_time_dist[fp == k]).size == 1


def test_yaml_dump_refuses_ecmp_instead_of_merging_paths() -> None:
    from twinwatch.twin.datasets.scenario_yaml import dump_scenario_yaml
    from twinwatch.twin.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=r"pair 0->3 has several paths \(ECMP\)"):
        dump_scenario_yaml(ecmp_diamond(True))
    assert "path: ['0', '1', '3']" in dump_scenario_yaml(ecmp_diamond(False))
