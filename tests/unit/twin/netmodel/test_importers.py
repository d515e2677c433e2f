"""Importers: Topology Zoo GraphML, the scenario YAML, a NetBox export (golden file)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO_ROOT, shared_data_path
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
from twinwatch.twin.netmodel import (
    NetworkModelError,
    document,
    dump_network_model,
    import_graphml,
    import_netbox,
    import_scenario_yaml,
    model_from_dict,
)
from twinwatch.twin.topology import read_graphml

NETBOX = REPO_ROOT / "tests" / "fixtures" / "netbox" / "backbone"

GRAPHML = """<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="lb" for="node" attr.name="label" attr.type="string"/>
  <key id="la" for="node" attr.name="Latitude" attr.type="double"/>
  <key id="lo" for="node" attr.name="Longitude" attr.type="double"/>
  <key id="sp" for="edge" attr.name="LinkLabel" attr.type="string"/>
  <graph edgedefault="undirected">
    <node id="0"><data key="lb">New York</data><data key="la">0.0</data><data key="lo">0.0</data></node>
    <node id="1"><data key="lb">New York</data><data key="la">0.0</data><data key="lo">2.0</data></node>
    <node id="2"><data key="lb">Zürich</data></node>
    <edge source="0" target="2"><data key="sp">100 Gbps</data></edge>
    <edge source="1" target="2"><data key="sp">OC-48</data></edge>
    <edge source="0" target="1"/>
  </graph>
</graphml>
"""


def test_graphml_conventions(tmp_path: Path) -> None:
    path = tmp_path / "Tiny.graphml"
    path.write_text(GRAPHML, encoding="utf-8")
    m = import_graphml(path)
    # repeated labels get a suffix, accents go; the original label is kept as the description
    assert m.node_names == ["New-York", "New-York-2", "Zurich"]
    assert m.devices[2].description == "Zürich" and m.name == "tiny"
    # Zurich has no coordinates: placed at the mean of its neighbours (0, 1); its links' lengths are unknown
    # and take the median measured length: the one measured link, New York - New York-2, 2 degrees = 222.4 km
    assert (m.devices[2].lat, m.devices[2].lon) == (0.0, 1.0) and m.meta["imputed_coordinates"] == ["Zurich"]
    assert m.meta["estimated_length_links"] == ["New-York-Zurich", "New-York-2-Zurich"]
    k = m.link_index["New-York->Zurich"]
    assert m.link_prop_delay_s[k] == pytest.approx(222.39e3 / 2e8, rel=1e-4)
    assert m.link_metric[k] == 222  # 1 per km
    # capacities from the labels (OC-48 is SONET: a so- port), 10G where none; Juniper names per speed
    caps = dict(zip(m.link_ids, m.link_capacity_bps.tolist()))
    assert caps["New-York->Zurich"] == 100e9 and caps["New-York-2->Zurich"] == 2488.32e6
    assert caps["New-York->New-York-2"] == 10e9
    assert m.link_src_interface[k] == "et-0/0/1" and m.link_src_interface[m.link_index["New-York-2->Zurich"]] \
        == "so-0/0/1"
    assert m.devices[0].prefixes == ("10.0.0.0/16", "fd00::/64") and m.devices[1].loopback_ipv4 == "172.16.0.2"
    again = model_from_dict(yaml.safe_load(dump_network_model(m)), source="again")
    assert np.array_equal(again.link_prop_delay_s, m.link_prop_delay_s)


@pytest.mark.shared
def test_graphml_from_the_zoo() -> None:
    path = shared_data_path("topologies", "zoo", "Geant2012.graphml")
    topo = read_graphml(path)
    m = import_graphml(path, name="geant", vendor="juniper")
    assert (m.n_nodes, m.n_links) == (topo.n_nodes, topo.n_links) == (40, 122)
    # the reader lists all a->b then all b->a; the model interleaves each cable's two directions
    order = [m.link_index[f"{m.node_names[s]}->{m.node_names[d]}"]
             for s, d in zip(topo.link_src.tolist(), topo.link_dst.tolist())]
    assert np.array_equal(m.link_capacity_bps[order], topo.link_capacity_bps)
    # where both ends have coordinates the delay is the reader's great-circle delay
    known = np.isfinite(topo.node_lat[topo.link_src]) & np.isfinite(topo.node_lat[topo.link_dst])
    assert m.link_prop_delay_s[order][known] == pytest.approx(topo.link_prop_delay_s[known], rel=1e-4, abs=1e-8)
    # three GEANT nodes lack coordinates in the file; their links get a typical length, none is zero
    assert len(m.meta["imputed_coordinates"]) == int((~np.isfinite(topo.node_lat)).sum()) == 3
    assert (m.link_prop_delay_s > 0).all()
    big = import_graphml(shared_data_path("topologies", "zoo", "Cogentco.graphml"), vendor="cisco")
    assert big.n_nodes == 197 and all(re.match(r"^(TenGigE0/0/0/\d+|Bundle-Ether\d+)$", i)
                                      for i in big.link_src_interface)


def test_scenario_import_keeps_the_twin_view() -> None:
    src = bundled_scenario_path()
    sc = load_scenario_yaml(src)
    m = import_scenario_yaml(src)
    assert m.node_names == sc.meta["node_names"] and m.name == "nsfnet"
    order = [m.link_index[f"{m.node_names[s]}->{m.node_names[d]}"]
             for s, d in zip(sc.link_src.tolist(), sc.link_dst.tolist())]
    assert np.array_equal(m.link_capacity_bps[order], sc.link_capacity_bps)
    assert np.array_equal(m.link_prop_delay_s[order], sc.link_prop_delay_s)
    assert len(m.links) == sc.n_links // 2  # every link has an equal reverse: one cable each
    for name in ("node_policy", "node_weights", "node_queue_pkts"):
        assert np.array_equal(getattr(m, name), getattr(sc, name), equal_nan=True), name
    # the inventory equals the one the adapters derive from the scenario (ports, links, prefixes)
    ours = Inventory.from_dict(m.inventory_dict())
    theirs = Inventory.from_scenario(sc, node_names=sc.meta["node_names"])
    assert ours.ports == theirs.ports
    assert {k: v.capacity_bps for k, v in ours.links.items()} == {k: v.capacity_bps for k, v in theirs.links.items()}
    assert set(theirs.prefixes.items()) <= set(ours.prefixes.items())


def test_netbox_golden_file() -> None:
    m = import_netbox([NETBOX / "cables.json", NETBOX / "devices.json", NETBOX / "interfaces.json"])
    expected = yaml.safe_load((NETBOX / "expected.yaml").read_text(encoding="utf-8"))
    if os.environ.get("TWINWATCH_REGEN_GOLDEN"):
        dump_network_model(m, NETBOX / "expected.yaml", header="golden output of tests/unit/twin/netmodel")
        pytest.skip("regenerated expected.yaml; review the diff")
    got = document(m)
    got["meta"]["source"] = expected["meta"]["source"]
    assert got == expected
    # the console server (only a console cable) is not a node; the console and planned cables are skipped
    assert m.node_names == ["par-cr1", "ams-cr1", "fra-cr1", "par-dc1-leaf1"]
    assert m.meta["devices_without_links"] == ["par-oob1"] and len(m.meta["skipped_cables"]) == 2
    cap = dict(zip(m.link_ids, m.link_capacity_bps.tolist()))
    # interface speed 100000000 kbit/s = 100 Gb/s; par-cr1 - leaf is a LAG of two 10G cables (xe-0/1/0 has no
    # speed but its type is 10gbase-x-sfpp): one link of 20 Gb/s between the LAG interfaces
    assert cap["par-cr1->ams-cr1"] == 100e9 and cap["par-cr1->par-dc1-leaf1"] == 20e9
    k = m.link_index["par-cr1->par-dc1-leaf1"]
    assert (m.link_src_interface[k], m.link_dst_interface[k]) == ("ae1", "Port-Channel1")
    assert m.meta["merged_parallel_cables"] == ["par-cr1-par-dc1-leaf1: cables 4, 7 -> ae1 / Port-Channel1"]
    metric = dict(zip(m.link_ids, m.link_metric.tolist()))
    # custom field igp_metric per interface (asymmetric on AMS-FRA); none on FRA-PAR: auto-cost 100G/100G = 1
    assert (metric["ams-cr1->fra-cr1"], metric["fra-cr1->ams-cr1"], metric["fra-cr1->par-cr1"]) == (455, 450, 1)
    delay = dict(zip(m.link_ids, m.link_prop_delay_s.tolist()))
    assert delay["par-cr1->ams-cr1"] == pytest.approx(430e3 / 2e8)  # cable length 430 km
    assert delay["par-cr1->par-dc1-leaf1"] == pytest.approx(80 / 2e8)  # 80 m
    assert delay["fra-cr1->par-cr1"] == pytest.approx(479e3 / 2e8, rel=0.01)  # no length: Paris-Frankfurt coordinates
    assert m.devices[0].loopback_ipv4 == "10.255.0.1" and m.devices[0].loopback_ipv6 == "2001:db8:ff::1"
    assert m.devices[2].vendor == "cisco" and m.devices[2].os == "iosxr" and m.devices[3].role == "leaf"


def test_netbox_folder_and_incomplete_export(tmp_path: Path) -> None:
    assert import_netbox([NETBOX]).link_ids == import_netbox(sorted(NETBOX.glob("*.json"))).link_ids
    pages = json.loads((NETBOX / "interfaces.json").read_text())
    shutil.copy(NETBOX / "devices.json", tmp_path / "devices.json")
    shutil.copy(NETBOX / "cables.json", tmp_path / "cables.json")
    (tmp_path / "interfaces.json").write_text(json.dumps(pages[0]))  # the second page is missing
    with pytest.raises(NetworkModelError, match=r"holds 8 of 16 interfaces \(count\); fetch every page"):
        import_netbox([tmp_path])
    (tmp_path / "interfaces.json").write_text("{not json")
    with pytest.raises(NetworkModelError, match=r"interfaces\.json: not valid JSON"):
        import_netbox([tmp_path])


def test_scenario_in_abstract_time_units_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gnnet_like.yaml"
    path.write_text("version: 1\ntime_unit: tu\nnodes: [{name: A}, {name: B}]\n"
                    "links: [{src: A, dst: B, capacity_bps: 10000, bidirectional: true}]\n"
                    "traffic: {flows: [{src: A, dst: B, rate_bps: 100}]}\n", encoding="utf-8")
    with pytest.raises(NetworkModelError, match=r"gnnet_like\.yaml: time_unit: the scenario counts time in 'tu'"):
        import_scenario_yaml(path)
