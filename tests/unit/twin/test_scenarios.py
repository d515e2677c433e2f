"""Scenario drawing: routing, traffic models, load scaling, flows, scheduling."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from twinwatch.twin.scenario import Policy, TimeDist
from twinwatch.twin.sim.scenarios import (
    ScenarioParams,
    draw_scenario,
    load_matrix,
    parse_load,
    route_all_pairs,
    traffic_matrix,
)
from twinwatch.twin.topology import load_topology, random_topology


@pytest.fixture
def topo():
    return random_topology(15, degree=3.0, rng=np.random.default_rng(11))


def test_paths_are_weighted_shortest_paths(topo) -> None:
    rng = np.random.default_rng(0)
    w = rng.integers(1, 10, size=topo.n_links).astype(float) * (1 + 1e-6 * rng.random(topo.n_links))
    n = topo.n_nodes
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    ptr, links = route_all_pairs(topo, w, src, dst)
    g = topo.to_networkx()
    for (s, d), wt in zip(zip(topo.link_src.tolist(), topo.link_dst.tolist()), w):
        g[s][d]["w"] = wt
    for p in range(0, src.size, 7):
        hops = links[ptr[p] : ptr[p + 1]]
        nodes = [int(src[p]), *topo.link_dst[hops].tolist()]
        assert nodes == nx.dijkstra_path(g, int(src[p]), int(dst[p]), weight="w")


def test_draw_scenario_scales_to_the_drawn_load(topo) -> None:
    for load in [(0.2, 0.2), (0.9, 0.9), (1.1, 1.1)]:
        sc = draw_scenario(topo, ScenarioParams(load=load), np.random.default_rng(1))
        util = sc.link_load_bps() / sc.link_capacity_bps
        assert util.max() == pytest.approx(load[0])
        assert sc.meta["rho_max"] == pytest.approx(load[0])
    sc.validate()
    assert sc.n_paths == 15 * 14 and sc.n_flows == sc.n_paths
    assert np.allclose(sc.flow_pkt_rate * sc.flow_pkt_size_bits, sc.flow_rate_bps)


def test_draws_are_reproducible_and_vary_with_the_seed(topo) -> None:
    p = ScenarioParams(scheduling="mixed")
    a = draw_scenario(topo, p, np.random.default_rng(3))
    b = draw_scenario(topo, p, np.random.default_rng(3))
    c = draw_scenario(topo, p, np.random.default_rng(4))
    for name in ("path_links", "flow_rate_bps", "flow_sizes_bits", "node_policy", "flow_tos", "flow_on_s"):
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name
    assert not np.array_equal(a.flow_rate_bps, c.flow_rate_bps)


def test_flow_distributions_and_scheduling(topo) -> None:
    sc = draw_scenario(topo, ScenarioParams(scheduling="mixed"), np.random.default_rng(2))
    assert set(np.unique(sc.flow_time_dist)) == {TimeDist.POISSON, TimeDist.CBR, TimeDist.ONOFF}
    onoff = sc.flow_time_dist == TimeDist.ONOFF
    assert (sc.flow_on_s[onoff] > 0).all() and np.isnan(sc.flow_on_s[~onoff]).all()
    assert np.allclose(sc.flow_size_probs.sum(axis=1), 1.0)
    valid = sc.flow_size_probs > 0
    assert ((sc.flow_sizes_bits[valid] >= 320) & (sc.flow_sizes_bits[valid] <= 12000)).all()
    assert set(np.unique(sc.node_policy)) <= {int(p) for p in Policy}
    weighted = np.isin(sc.node_policy, [Policy.WFQ, Policy.DRR])
    assert np.isfinite(sc.node_weights[weighted]).all() and np.isnan(sc.node_weights[~weighted]).all()
    assert set(np.unique(sc.flow_tos)) == {0, 1, 2}
    fifo = draw_scenario(topo, ScenarioParams(pkt_sizes="fixed", time_dists=("poisson",)), np.random.default_rng(2))
    assert (fifo.node_policy == Policy.FIFO).all() and (fifo.flow_tos == 0).all()
    assert (fifo.flow_sizes_bits[:, 0] == 8000).all() and (fifo.flow_time_dist == TimeDist.POISSON).all()


def test_gravity_uniform_and_given_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = traffic_matrix("gravity", 6, rng)
    u = traffic_matrix("uniform", 6, rng)
    assert np.all(np.diag(g) == 0) and np.all(np.diag(u) == 0)
    assert ((u[~np.eye(6, dtype=bool)] >= 0.1) & (u[~np.eye(6, dtype=bool)] <= 1.0)).all()
    ab = load_topology("abilene")  # 12 routers, the order of the Abilene traffic matrices
    m = np.zeros((12, 12))
    m[0, 10] = 5e9
    m[3, 8] = 1e9
    f = tmp_path / "tm.txt"
    np.savetxt(f, m, delimiter=",")
    mat = load_matrix(f)
    sc = draw_scenario(ab, ScenarioParams(traffic="matrix", matrix_file=str(f), load=(0.5, 0.5)),
                       np.random.default_rng(0), matrix=mat)
    assert sc.n_paths == 2
    assert sc.path_index().keys() == {(0, 10), (3, 8)}
    assert sc.flow_rate_bps[sc.path_index()[(0, 10)]] == pytest.approx(5 * sc.flow_rate_bps[sc.path_index()[(3, 8)]])
    with pytest.raises(ValueError, match="12 nodes"):
        draw_scenario(ab, ScenarioParams(traffic="matrix", matrix_file=str(f)), rng, matrix=np.ones((3, 3)))
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(ValueError, match="square"):
        load_matrix(bad)


def test_pairs_fraction_and_zoo_routing_by_capacity() -> None:
    ab = load_topology("nsfnet")
    sc = draw_scenario(ab, ScenarioParams(pairs_fraction=0.3, routing="capacity"), np.random.default_rng(1))
    assert 0.15 * 182 < sc.n_paths < 0.45 * 182
    assert (sc.link_prop_delay_s > 0).all()


def test_parse_load_and_params_validation() -> None:
    assert parse_load("heavy") == (0.7, 0.95)
    assert parse_load("0.3-0.6") == (0.3, 0.6)
    for bad in ("0.9-0.1", "fast", "-1"):
        with pytest.raises(ValueError, match="load"):
            parse_load(bad)
    with pytest.raises(ValueError, match="matrix_file"):
        ScenarioParams(traffic="matrix")
    with pytest.raises(ValueError, match="time_dists"):
        ScenarioParams(time_dists=("pareto",))
    p = ScenarioParams(scheduling="mixed", load=(0.2, 0.4))
    assert ScenarioParams.from_json(p.to_json()) == p
