"""The columnar view: numbering, arrays for the twin, round trip through the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.twin.netmodel import NetworkModelError, dump_network_model, load_network_model, model_from_dict
from twinwatch.twin.scenario import Flow, Policy, Scenario


@pytest.fixture()
def lab():
    return model_from_dict(lab_doc(), source="lab.yaml")


def test_numbering_follows_the_file(lab) -> None:
    assert lab.node_index == {"r1": 0, "r2": 1, "r3": 2}
    # a cable gives a->b then b->a; a directed entry gives one link
    assert lab.link_ids == ["r1->r2", "r2->r1", "r1->r3", "r3->r1", "r2->r3", "r3->r2"]
    assert lab.link_index["r3->r2"] == 5
    assert lab.link_src.tolist() == [0, 1, 0, 2, 1, 2] and lab.link_dst.tolist() == [1, 0, 2, 0, 2, 1]
    assert lab.link_entry.tolist() == [0, 0, 1, 1, 2, 3]
    assert lab.link_numbers(["r3->r2", "r1->r2"]).tolist() == [5, 0]
    assert lab.node_numbers(["r3", "r1"]).tolist() == [2, 0]
    with pytest.raises(NetworkModelError, match=r"unknown link id\(s\) \['r1->r9'\]"):
        lab.link_numbers(["r1->r2", "r1->r9"])
    with pytest.raises(NetworkModelError, match=r"unknown device\(s\) \['r9'\]"):
        lab.node_numbers(["r9"])


def test_link_arrays_units_and_rules(lab) -> None:
    # '100G', 1e10 and '10 Gbps' are all bits/s
    assert lab.link_capacity_bps.tolist() == [100e9, 100e9, 10e9, 10e9, 10e9, 10e9]
    # metric: a.metric 12 overrides the link's 10 for r1->r2 only; the rest take OSPF auto-cost 100G / 10G = 10
    assert lab.link_metric.tolist() == [12, 10, 10, 10, 10, 10]
    # r1-r2 has no delay or length: Paris-Brussels great circle (264.6 km) at 2e8 m/s; r1-r3: 100 km explicit
    assert lab.link_prop_delay_s[:2] == pytest.approx(264.6e3 / 2e8, rel=1e-3)
    assert lab.link_prop_delay_s[2:4].tolist() == pytest.approx([5e-4, 5e-4])
    assert lab.link_prop_delay_s[4:].tolist() == [1e-4, 1e-4]
    assert lab.link_src_interface[0] == "et-0/0/0" and lab.link_dst_interface[0] == "HundredGigE0/0/0/0"
    assert lab.link_src_interface[1] == "HundredGigE0/0/0/0" and lab.link_dst_interface[1] == "et-0/0/0"


def test_node_scheduling_arrays_match_scenario(lab) -> None:
    assert lab.node_policy.tolist() == [Policy.WFQ, Policy.WFQ, Policy.SP]
    assert lab.node_weights[0].tolist() == [60, 30, 10] and np.isnan(lab.node_weights[2]).all()
    assert lab.node_queue_pkts[:2].tolist() == [[1000.0] * 3] * 2 and np.isnan(lab.node_queue_pkts[2]).all()
    # r3's SP profile buffers 10 ms of line rate; its egress ports are 10 Gb/s: 1e8 bits
    assert np.isnan(lab.node_buffer_bits[:2]).all() and lab.node_buffer_bits[2] == pytest.approx(1e8)
    assert lab.link_queue_profile == ["wfq", "wfq", "wfq", "edge", "wfq", "edge"]
    assert lab.link_buffer_bits[3] == pytest.approx(1e8) and np.isnan(lab.link_buffer_bits[0])
    f = lab.scenario_fields()
    links = list(zip(f["link_src"].tolist(), f["link_dst"].tolist(), f["link_capacity_bps"].tolist(),
                     f["link_prop_delay_s"].tolist()))
    sc = Scenario.build(f["n_nodes"], links, {(0, 2): [0, 2]}, [Flow(0, 2, 1e9)],
                        policy=[Policy(int(p)) for p in f["node_policy"]], weights=f["node_weights"],
                        queue_pkts=f["node_queue_pkts"], buffer_bits=f["node_buffer_bits"])
    assert sc.link_load_bps()[lab.link_index["r1->r3"]] == 1e9


def test_tos_and_probes(lab) -> None:
    assert lab.dscp_class[[46, 34, 36, 0]].tolist() == [0, 1, 1, 2]
    assert lab.dscp_class[8] == 2  # unlisted code points go to the default class (best-effort)
    assert lab.probe_src.tolist() == [0] and lab.probe_dst.tolist() == [2]
    assert lab.probe_size_bits.tolist() == [1024.0] and lab.probe_rate_pps.tolist() == [10.0]
    assert lab.probe_class.tolist() == [0]  # DSCP 46 is voice


def test_topology_view(lab) -> None:
    topo = lab.to_topology()
    assert topo.node_names == ["r1", "r2", "r3"] and topo.n_links == 6
    assert topo.meta["link_ids"] == lab.link_ids
    assert np.array_equal(topo.link_prop_delay_s, lab.link_prop_delay_s)


def test_round_trip_through_the_file(lab, tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    text = dump_network_model(lab, path, header="a test")
    assert text.splitlines()[1] == "# a test"
    again = load_network_model(path)
    for name in ("link_src", "link_dst", "link_capacity_bps", "link_prop_delay_s", "link_metric", "node_policy",
                 "node_weights", "node_queue_pkts", "node_buffer_bits", "dscp_class", "probe_src", "probe_class"):
        assert np.array_equal(getattr(again, name), getattr(lab, name), equal_nan=True), name
    assert again.link_ids == lab.link_ids and again.devices == lab.devices and again.links == lab.links
    # the canonical form is a fixed point
    assert dump_network_model(again) == dump_network_model(lab)
    doc = yaml.safe_load(text)
    assert doc["links"][0]["capacity_bps"] == "100G" and doc["links"][2]["id"] == "r2->r3"


def test_the_documented_example_file_is_valid() -> None:
    import textwrap

    import twinwatch.twin.netmodel as nm

    block = textwrap.dedent(nm.__doc__.split("::\n\n", 1)[1].split("\nRules")[0])
    m = model_from_dict(yaml.safe_load(block), source="twin/netmodel/__init__.py")
    assert m.link_ids == ["r1->r2", "r2->r1", "r2->r3", "r3->r2"] and m.warnings == []
    assert m.link_metric.tolist() == [12, 10, 10, 10] and m.link_prop_delay_s[0] == pytest.approx(300e3 / 2e8)
