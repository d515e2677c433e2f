"""Topology Zoo GraphML reader, shipped topologies, random topologies."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from tests.conftest import shared_data_path
from twinwatch.twin.topology import (
    FIBRE_SPEED_M_S,
    TopologyError,
    great_circle_m,
    list_shipped,
    load_topology,
    random_topology,
    read_graphml,
)


def _write(tmp_path: Path, g: nx.Graph, name: str = "t.graphml") -> Path:
    path = tmp_path / name
    nx.write_graphml(g, path)
    return path


def test_graphml_capacities_delays_and_directions(tmp_path: Path) -> None:
    g = nx.MultiGraph()
    g.add_node("0", label="A", Latitude=0.0, Longitude=0.0)
    g.add_node("1", label="B", Latitude=0.0, Longitude=1.0)
    g.add_node("2", label="C")  # no coordinates
    g.add_edge("0", "1", LinkSpeedRaw=1e9)
    g.add_edge("0", "1", LinkLabel="OC-48")  # parallel edge: capacities add
    g.add_edge("1", "2", LinkLabel="10 Gbps")
    g.add_edge("2", "2")  # self-loop: dropped
    topo = read_graphml(_write(tmp_path, g))
    assert topo.node_names == ["A", "B", "C"]
    assert topo.n_links == 4
    idx = {(int(s), int(d)): i for i, (s, d) in enumerate(zip(topo.link_src, topo.link_dst))}
    assert set(idx) == {(0, 1), (1, 0), (1, 2), (2, 1)}
    assert topo.link_capacity_bps[idx[(0, 1)]] == pytest.approx(1e9 + 48 * 51.84e6)
    assert topo.link_capacity_bps[idx[(2, 1)]] == 10e9
    expected = 111_195.0 / FIBRE_SPEED_M_S  # one degree of longitude at the equator
    assert topo.link_prop_delay_s[idx[(0, 1)]] == pytest.approx(expected, rel=1e-3)
    assert topo.link_prop_delay_s[idx[(1, 0)]] == topo.link_prop_delay_s[idx[(0, 1)]]
    assert topo.link_prop_delay_s[idx[(1, 2)]] == 0.0  # unknown coordinates
    assert topo.meta["capacity_defaulted"] == 0


def test_graphml_default_capacity_and_largest_component(tmp_path: Path) -> None:
    g = nx.Graph()
    g.add_edges_from([("0", "1"), ("1", "2"), ("5", "6")])
    topo = read_graphml(_write(tmp_path, g), default_capacity_bps=1e6)
    assert topo.n_nodes == 3 and set(topo.link_capacity_bps.tolist()) == {1e6}
    assert topo.meta["capacity_defaulted"] == 2
    assert topo.meta["dropped_nodes"] == ["5", "6"]
    with pytest.raises(TopologyError, match="connected components"):
        read_graphml(tmp_path / "t.graphml", largest_component=False)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><not closed")
    with pytest.raises(TopologyError, match=r"bad\.graphml"):
        read_graphml(bad)
    with pytest.raises(TopologyError, match="does not exist"):
        load_topology(tmp_path / "missing.graphml")
    with pytest.raises(TopologyError, match=r"unknown topology 'Nowhere'.*--zoo-dir"):
        load_topology("Nowhere")


def test_shipped_topologies_resolve_first() -> None:
    assert {"abilene", "nsfnet"} <= set(list_shipped())
    ab = load_topology("Abilene")
    # the shipped network model (twin/data/networks/abilene.yaml): Zhang's 12 routers, 15 cables
    assert (ab.n_nodes, ab.n_links) == (12, 30)
    assert ab.name == "abilene"
    # 10 Gb/s backbone; the Atlanta M5 hangs off the Atlanta T640 on 1 Gb/s (both directions)
    assert sorted(np.unique(ab.link_capacity_bps, return_counts=True)[1].tolist()) == [2, 28]
    assert set(ab.link_capacity_bps.tolist()) == {1e9, 10e9}
    assert ab.is_connected()
    # New York - Washington is about 330 km: 1.65 ms in fibre
    ny, dc = ab.node_names.index("NYCMng"), ab.node_names.index("WASHng")
    i = int(np.flatnonzero((ab.link_src == ny) & (ab.link_dst == dc))[0])
    assert ab.link_prop_delay_s[i] == pytest.approx(1.65e-3, rel=0.05)


def test_zoo_dir_lookup_reads_every_shared_file() -> None:
    zoo = shared_data_path("topologies", "zoo")
    geant = load_topology("Geant2012", zoo_dir=zoo)
    assert geant.n_nodes == 40 and geant.is_connected()
    assert geant.link_prop_delay_s.max() > 0
    failures = []
    for path in sorted(zoo.glob("*.graphml")):
        try:
            t = read_graphml(path)
        except TopologyError as exc:
            failures.append(f"{path.name}: {exc}")
            continue
        assert t.is_connected(), path.name
        assert (t.link_capacity_bps > 0).all() and (t.link_prop_delay_s >= 0).all(), path.name
    assert not failures


@pytest.mark.parametrize("n,degree", [(2, 1.0), (10, 2.0), (30, 4.0), (25, 3.3), (8, 20.0)])
def test_random_topology_connected_with_requested_degree(n: int, degree: float) -> None:
    topo = random_topology(n, degree=degree, rng=np.random.default_rng(n))
    assert topo.n_nodes == n and topo.is_connected()
    m = topo.n_links // 2
    assert m == min(max(round(n * degree / 2), n - 1), n * (n - 1) // 2)
    pairs = set(zip(topo.link_src.tolist(), topo.link_dst.tolist()))
    assert len(pairs) == topo.n_links and all((d, s) in pairs for s, d in pairs)
    assert (topo.link_prop_delay_s == 0).all()


def test_random_topology_is_deterministic_and_geographic() -> None:
    a = random_topology(20, degree=3.0, rng=np.random.default_rng(5), area_km=1000.0)
    b = random_topology(20, degree=3.0, rng=np.random.default_rng(5), area_km=1000.0)
    assert np.array_equal(a.link_src, b.link_src) and np.array_equal(a.link_capacity_bps, b.link_capacity_bps)
    assert 0 < a.link_prop_delay_s.max() < 1.5 * 1.414e6 / FIBRE_SPEED_M_S
    with pytest.raises(TopologyError, match="at least 2 nodes"):
        random_topology(1, rng=np.random.default_rng(0))


def test_great_circle_known_distance() -> None:
    # London - Paris is about 344 km
    d = great_circle_m(np.array(51.5074), np.array(-0.1278), np.array(48.8566), np.array(2.3522))
    assert float(d) == pytest.approx(344e3, rel=0.01)
