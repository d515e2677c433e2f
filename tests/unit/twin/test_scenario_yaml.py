"""The scenario YAML format and the bundled NSFNet scenario."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets.scenario_yaml import (
    ScenarioFileError,
    dump_scenario_yaml,
    load_scenario_yaml,
    scenario_from_dict,
)
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.scenario import Policy, ScenarioError, TimeDist

TRIANGLE = """
name: tri
defaults: {policy: SP, buffer_pkts: 16}
nodes:
  - {name: A}
  - {name: B, policy: WFQ, weights: [50, 30, 20], buffer_bits: 64000}
  - {name: C}
links:
  - {src: A, dst: B, capacity_bps: 1.0e+6, prop_delay_s: 0.001, bidirectional: true}
  - {src: B, dst: C, capacity_bps: 1.0e+6, prop_delay_s: 0.001, bidirectional: true}
  - {src: A, dst: C, capacity_bps: 1.0e+6, prop_delay_s: 0.005, bidirectional: true}
routing: shortest_path
traffic:
  flows:
    - {src: A, dst: C, rate_bps: 2.0e+5, sizes_bits: [500, 1500], size_probs: [0.5, 0.5], tos: 1}
    - {src: A, dst: C, rate_bps: 1.0e+5, time_dist: CBR, pkt_size_bits: 1000}
    - {src: C, dst: B, rate_bps: 3.0e+5, time_dist: ONOFF, on_s: 1.0, off_s: 2.0, tos: 2}
"""


def load_text(text: str) -> object:
    return scenario_from_dict(yaml.safe_load(text), source="test.yaml")


def test_triangle_parses() -> None:
    sc = load_text(TRIANGLE)
    assert (sc.n_nodes, sc.n_links, sc.n_paths, sc.n_flows) == (3, 6, 2, 3)
    assert sc.name == "tri"
    # default metric is OSPF's inverse capacity: all links are 1 Mb/s, so the direct A-C (one hop) wins
    pidx = sc.path_index()
    assert sc.path_nodes(pidx[(0, 2)]) == [0, 2]
    assert sc.path_nodes(pidx[(2, 1)]) == [2, 1]
    assert sc.node_policy.tolist() == [Policy.SP, Policy.WFQ, Policy.SP]
    assert sc.node_weights[1].tolist() == [50, 30, 20]
    assert np.isnan(sc.node_queue_pkts[1]).all() and sc.node_buffer_bits[1] == 64000
    assert sc.node_queue_pkts[0].tolist() == [16, 16, 16] and np.isnan(sc.node_buffer_bits[0])
    assert sc.flow_time_dist.tolist() == [TimeDist.POISSON, TimeDist.CBR, TimeDist.ONOFF]
    assert sc.flow_tos.tolist() == [1, 0, 2]
    assert sc.flow_pkt_size_bits[0] == pytest.approx(1000.0)
    assert sc.flow_on_s[2] == 1.0 and sc.flow_off_s[2] == 2.0


def test_hops_metric_and_explicit_routes() -> None:
    doc = yaml.safe_load(TRIANGLE)
    doc["routing"] = {"shortest_path": "hops"}
    sc = scenario_from_dict(doc)
    assert sc.path_nodes(sc.path_index()[(0, 2)]) == [0, 2]
    # by propagation delay A-B-C (2 ms) beats A-C (5 ms)
    doc["routing"] = {"shortest_path": "prop_delay_s"}
    assert scenario_from_dict(doc).path_nodes(0) == [0, 1, 2]
    doc["links"][0]["prop_delay_s"] = 0.0
    with pytest.raises(ScenarioFileError, match=r"link 0 \(0->1\) has routing metric 0\.0; metrics must be finite"):
        scenario_from_dict(doc, source="tri.yaml")
    doc["links"][0]["prop_delay_s"] = 0.001
    doc["routing"] = {"routes": [{"src": "A", "dst": "C", "path": ["A", "B", "C"]},
                                 {"src": "C", "dst": "B", "path": ["C", "A", "B"]}]}
    sc = scenario_from_dict(doc)
    assert sc.path_nodes(sc.path_index()[(2, 1)]) == [2, 0, 1]


def test_matrix_with_classes() -> None:
    doc = {
        "nodes": 3,
        "links": [{"src": 0, "dst": 1, "capacity_bps": 1e6, "bidirectional": True},
                  {"src": 1, "dst": 2, "capacity_bps": 1e6, "bidirectional": True}],
        "traffic": {"matrix_bps": [[0, 100, 200], [0, 0, 0], [50, 0, 0]],
                    "classes": [{"share": 0.25, "tos": 0}, {"share": 0.75, "tos": 2, "pkt_size_bits": 4000}]},
    }
    sc = scenario_from_dict(doc)
    assert sc.n_paths == 3 and sc.n_flows == 6
    assert sorted(sc.path_rate_bps().tolist()) == [50.0, 100.0, 200.0]
    assert sorted(set(sc.flow_tos.tolist())) == [0, 2]


def test_round_trip(tmp_path: Path) -> None:
    sc = load_text(TRIANGLE)
    path = tmp_path / "tri.yaml"
    dump_scenario_yaml(sc, path)
    back = load_scenario_yaml(path)
    for name in ("node_policy", "link_src", "link_dst", "link_capacity_bps", "link_prop_delay_s", "path_src",
                 "path_dst", "path_ptr", "path_links", "flow_path", "flow_rate_bps", "flow_pkt_rate",
                 "flow_time_dist", "flow_tos", "flow_size_probs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sc, name), err_msg=name)
    for name in ("node_weights", "node_queue_pkts", "node_buffer_bits", "flow_sizes_bits", "flow_on_s", "flow_off_s"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sc, name), err_msg=name)
    assert back.meta["node_names"] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (lambda d: d["links"].append({"src": "A", "dst": "Z", "capacity_bps": 1}),
         r"links\[3\]\.dst: unknown node 'Z'"),
        (lambda d: d["links"][0].update(capacity=1), r"links\[0\]: unknown key\(s\) \['capacity'\]"),
        (lambda d: d["links"][1].update(capacity_bps=-1.0),
         r"links\[1\]\.capacity_bps: -1\.0 is outside the accepted range"),
        (lambda d: d["links"][0].pop("capacity_bps"), r"links\[0\]: missing 'capacity_bps'"),
        (lambda d: d["nodes"][0].update(policy="RED"), r"nodes\[0\]\.policy: 'RED' is not one of"),
        (lambda d: d.update(routing="ospf"), r"routing: expected 'shortest_path'"),
        (lambda d: d["traffic"]["flows"][0].update(tos=7), r"traffic\.flows\[0\]\.tos: expected 0\.\.2"),
        (lambda d: d["traffic"]["flows"][0].update(size_probs=[0.5, 0.2]), r"size_probs: must sum to 1"),
        (lambda d: d["traffic"].update(matrix_bps=[[0, 1], [1, 0]]), r"traffic\.matrix_bps: expected a 3 x 3"),
        (lambda d: d.update(routing={"routes": [{"path": ["A", "C"]}]}), r"no route for traffic 2->1"),
        (lambda d: d.update(routing={"routes": [{"path": ["A", "B", "A", "C"]}, {"path": ["C", "B"]}]}),
         r"routing loop"),
        (lambda d: d.update(version=2), r"unsupported version 2"),
        (lambda d: d["nodes"].append({"name": "A"}), r"node name 'A' is used twice"),
    ],
)
def test_errors_name_file_and_element(patch: object, message: str) -> None:
    doc = yaml.safe_load(TRIANGLE)
    patch(doc)  # type: ignore[operator]
    with pytest.raises(ScenarioFileError, match=message) as info:
        scenario_from_dict(doc, source="net.yaml")
    assert str(info.value).startswith("net.yaml: ")
    assert isinstance(info.value, ScenarioError)


def test_unreachable_destination() -> None:
    doc = yaml.safe_load(TRIANGLE)
    doc["links"] = [{"src": "A", "dst": "B", "capacity_bps": 1e6}, {"src": "C", "dst": "B", "capacity_bps": 1e6}]
    doc["traffic"] = {"flows": [{"src": "A", "dst": "C", "rate_bps": 1.0}]}
    with pytest.raises(ScenarioFileError, match=r"node 2 cannot be reached from node 0"):
        scenario_from_dict(doc, source="net.yaml")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="cannot read scenario file"):
        load_scenario_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [1, 2\n")
    with pytest.raises(ScenarioFileError, match=r"bad\.yaml: not valid YAML"):
        load_scenario_yaml(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ScenarioFileError, match=r"empty\.yaml: the file is empty"):
        load_scenario_yaml(empty)


def test_bundled_nsfnet() -> None:
    sc = load_scenario_yaml(bundled_scenario_path())
    assert sc.name == "nsfnet"
    assert (sc.n_nodes, sc.n_links) == (14, 42)
    assert sc.n_paths == 14 * 13
    assert sc.n_flows == 3 * sc.n_paths
    assert (sc.link_capacity_bps == 10e9).all()
    # real geography (great circle at 2e8 m/s): 1.2 ms (Princeton-College Park, 247 km) to
    # 14 ms (Seattle-Champaign, 2,830 km)
    assert 0.001 < sc.link_prop_delay_s.min() < 0.003 and 0.012 < sc.link_prop_delay_s.max() < 0.016
    util = sc.link_load_bps() / sc.link_capacity_bps
    assert util.max() == pytest.approx(0.6, abs=0.01)  # moderate load
    assert sc.meta["node_names"][0] == "Seattle"
    pred = QueueingModel().predict(sc)
    assert np.isfinite(pred.path_delay_s).all()
    assert (pred.path_delay_s > sc.link_prop_delay_s.min()).all()


def test_generator_reproduces_bundled_file() -> None:
    from twinwatch.twin.data import make_nsfnet

    doc = make_nsfnet.build_doc()
    shipped = yaml.safe_load(bundled_scenario_path().read_text())
    assert doc == shipped


def test_strict_loader_reads_every_scalar_and_key_as_pyyaml_does() -> None:
    """The memoised plain-scalar tags and the duplicate-key fast path change nothing PyYAML decides.

    YAML 1.1 as PyYAML reads it: ``1e3`` is a string, ``1.0e3`` a float, ``yes`` a bool, ``0x1F`` an
    int; quoted scalars stay strings; repeated (even after a first read that filled the memo).
    """
    from twinwatch.twin.datasets.scenario_yaml import _LOADER

    text = ("a: 1e3\nb: 1.0e3\nc: yes\nd: 0x1F\ne: '12'\nf: ~\ng: .inf\nh: 2001-12-14\ni: !!str 7\n"
            "j: [1e3, '1.0e3', 1_000]\nk: {x: 1, y: null}\n")
    for _ in range(2):
        assert yaml.load(text, Loader=_LOADER) == yaml.load(text, Loader=yaml.SafeLoader)
    for dup, key in (("1: x\n0x1: y\n", "1"), ("1: x\n1.0: y\n", "1.0"), ("a: 1\n'a': 2\n", "'a'")):
        with pytest.raises(yaml.constructor.ConstructorError, match=f"found duplicate key {key}"):
            yaml.load(dup, Loader=_LOADER)
    assert yaml.load("<<: {a: 1}\na: 2\n", Loader=_LOADER) == {"a": 2}  # a merge key is not a duplicate
