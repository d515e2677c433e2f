"""Inventory: files, topology derivation, interface resolution, longest-prefix match."""

from __future__ import annotations

import ipaddress
import json
import math

import networkx as nx
import numpy as np
import pytest

from twinwatch.telemetry_adapters.inventory import Inventory, InventoryError, Port
from twinwatch.twin.scenario import Scenario

YAML = """
network: lab
devices: {r2: r2.lab.example.net}
links:
  - {id: r1->r2, src: r1, dst: r2, capacity_bps: 10e9, src_interface: Hu0/0/0/1, dst_interface: et-0/0/1}
  - {id: r2->r1, src: r2, dst: r1, capacity_bps: 10e9, src_interface: et-0/0/1, dst_interface: Hu0/0/0/1}
interfaces:
  - {device: r2.lab.example.net, interface: et-0/0/1.100, link: r2->r1}
prefixes:
  10.1.0.0/16: r1
  10.1.2.0/24: r2
  10.1.2.128/25: r3
  0.0.0.0/0: internet
  2001:db8::/32: r1
  2001:db8:1::/48: r2
"""


@pytest.fixture
def inv(tmp_path) -> Inventory:
    p = tmp_path / "inv.yaml"
    p.write_text(YAML)
    return Inventory.load(p)


def test_resolve_any_spelling_both_directions(inv: Inventory) -> None:
    p = inv.resolve("r1", "HundredGigE0/0/0/1")
    assert p == Port("r1->r2", "r2->r1", 10e9)
    assert inv.resolve("r1", "interface[name=Hu0/0/0/1]") == p
    q = inv.resolve("r2.lab.example.net", "et-0/0/1")
    assert q == Port("r2->r1", "r1->r2", 10e9)


def test_unit_zero_maps_to_port_explicit_unit_wins(inv: Inventory) -> None:
    assert inv.resolve("r2.lab.example.net", "et-0/0/1.0") == inv.resolve("r2.lab.example.net", "et-0/0/1")
    assert inv.resolve("r2.lab.example.net", "et-0/0/1.100") == Port("r2->r1", None, 10e9)
    assert inv.resolve("r2.lab.example.net", "et-0/0/1.200") is None


def test_unmapped_is_none(inv: Inventory) -> None:
    assert inv.resolve("r1", "Hu0/0/0/2") is None
    assert inv.resolve("r9", "Hu0/0/0/1") is None


def test_device_alias(inv: Inventory) -> None:
    assert inv.node_of_device("r2.lab.example.net") == "r2"
    assert inv.node_of_device("r1") == "r1"


def test_lpm_overlapping_v4_and_v6(inv: Inventory) -> None:
    addrs = ["10.1.0.1", "10.1.2.1", "10.1.2.200", "10.1.3.255", "192.0.2.1",
             "2001:db8::1", "2001:db8:1::5", "2001:db9::1", "not-an-ip", ""]  # fmt: skip
    got = inv.lookup_nodes(addrs).tolist()
    assert got == ["r1", "r2", "r3", "r1", "internet", "r1", "r2", None, None, None]


def test_lpm_boundaries() -> None:
    inv = Inventory(prefixes={"10.0.0.0/8": "a", "10.255.255.255/32": "b", "11.0.0.0/8": "c"})
    got = inv.lookup_nodes(["9.255.255.255", "10.0.0.0", "10.255.255.254", "10.255.255.255", "11.0.0.0",
                            "11.255.255.255", "12.0.0.0"]).tolist()  # fmt: skip
    assert got == [None, "a", "a", "b", "c", "c", None]


@pytest.mark.parametrize("version", [4, 6])
def test_lpm_matches_brute_force(version: int) -> None:
    rng = np.random.default_rng(3 + version)
    base = 0 if version == 4 else 0x20010DB8 << 96  # keep v6 prefixes nested inside 2001:db8::/32 often

    def rand_addr() -> int:
        if version == 4:
            return int(rng.integers(0, 2**32))
        return base | int(rng.integers(0, 2**62)) << 34 | int(rng.integers(0, 2**34))

    prefixes = {}
    for i in range(200):
        plen = int(rng.integers(8, 30)) if version == 4 else int(rng.integers(32, 90))
        addr = ipaddress.ip_address(rand_addr())
        prefixes[str(ipaddress.ip_network(f"{addr}/{plen}", strict=False))] = f"n{i % 17}"
    inv = Inventory(prefixes=prefixes)
    nets = [(ipaddress.ip_network(p), n) for p, n in inv.prefixes.items()]
    addrs = [str(ipaddress.ip_address(rand_addr())) for _ in range(1000)]
    addrs += [str(net.network_address) for net, _ in nets] + [str(net.broadcast_address) for net, _ in nets]
    addrs += [str(ipaddress.ip_address(int(net.network_address) - 1)) for net, _ in nets if int(net.network_address)]
    got = inv.lookup_nodes(addrs).tolist()
    for a, g in zip(addrs, got):
        ip = ipaddress.ip_address(a)
        best = max(((net.prefixlen, n) for net, n in nets if ip in net), default=(None, None))
        assert g == best[1], a


def test_json_round_trip(inv: Inventory, tmp_path) -> None:
    p = tmp_path / "inv.json"
    inv.save(p)
    back = Inventory.load(p)
    assert back.resolve("r1", "Hu0/0/0/1") == inv.resolve("r1", "Hu0/0/0/1")
    assert back.lookup_nodes(["10.1.2.200"]).tolist() == ["r3"]
    assert json.loads(p.read_text())["network"] == "lab"


def test_bad_files_name_the_problem(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("links: [{src: a}]")
    with pytest.raises(InventoryError, match=r"links\[0\]"):
        Inventory.load(p)
    p.write_text("prefixes: {10.0.0.0/33: a}")
    with pytest.raises(InventoryError, match=r"10\.0\.0\.0/33"):
        Inventory.load(p)
    p.write_text("interfaces: [{device: a, interface: x, link: nope}]")
    with pytest.raises(InventoryError, match="unknown link 'nope'"):
        Inventory.load(p)
    p.write_text("{unclosed")
    with pytest.raises(InventoryError, match="not valid YAML"):
        Inventory.load(p)
    with pytest.raises(InventoryError, match="cannot read"):
        Inventory.load(tmp_path / "missing.json")


def test_from_scenario_convention() -> None:
    sc = Scenario.build(3, [(0, 1, 1e9), (1, 0, 1e9), (1, 2, 4e9), (2, 1, 4e9), (0, 2, 1e8)], {}, [])
    inv = Inventory.from_scenario(sc)
    assert set(inv.links) == {"0->1", "1->0", "1->2", "2->1", "0->2"}
    # node 1's ports: Ethernet1/1 to node 0, Ethernet1/2 to node 2
    assert inv.resolve("1", "Ethernet1/1") == Port("1->0", "0->1", 1e9)
    assert inv.resolve("1", "Eth1/2") == Port("1->2", "2->1", 4e9)
    # a one-way link: the far end only receives on its port
    far = inv.resolve("2", "Ethernet1/2")
    assert far is not None and far.link is None and far.rx_link == "0->2" and math.isnan(far.capacity_bps)
    assert inv.lookup_nodes(["10.2.3.4", "fd00::2:0:0:0:1"]).tolist() == ["2", "2"]


def test_from_graph_undirected_is_two_links() -> None:
    g = nx.Graph()
    g.add_edge("a", "b", capacity_bps=1e9)
    g.add_edge("b", "c")
    inv = Inventory.from_graph(g)
    assert set(inv.links) == {"a->b", "b->a", "b->c", "c->b"}
    assert inv.links["a->b"].capacity_bps == 1e9 and math.isnan(inv.links["b->c"].capacity_bps)
    assert inv.resolve("b", "Ethernet1/2").link == "b->c"


def test_many_nodes_use_slash24() -> None:
    inv = Inventory.from_links([str(i) for i in range(300)], [(0, 299, 1e9)])
    assert inv.lookup_nodes(["10.1.43.7"]).tolist() == ["299"]
