"""Issue 14, "Scenario YAML": every malformed input is refused before any work, naming file, element and rule."""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets.scenario_yaml import RANGES, ScenarioFileError, load_scenario_yaml
from twinwatch.twin.scenario import ScenarioError

BASE: dict[str, Any] = {
    "version": 1,
    "nodes": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
    "links": [
        {"src": "A", "dst": "B", "capacity_bps": 1.0e6, "prop_delay_s": 0.001, "bidirectional": True},
        {"src": "B", "dst": "C", "capacity_bps": 1.0e6, "prop_delay_s": 0.002, "bidirectional": True},
    ],
    "traffic": {"flows": [{"src": "A", "dst": "C", "rate_bps": 2.0e5}]},
}

Patch = Callable[[dict[str, Any]], None]


def _write(tmp_path: Path, patch: Patch | None = None, name: str = "net.yaml") -> Path:
    doc = copy.deepcopy(BASE)
    if patch is not None:
        patch(doc)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _refused(path: Path, element: str, rule: str) -> str:
    """Load ``path`` expecting a ScenarioFileError that names the file, ``element`` and ``rule``; no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # raw NumPy RuntimeWarnings would fail here
        with pytest.raises(ScenarioFileError) as info:
            load_scenario_yaml(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert re.search(element, msg), (element, msg)
    assert re.search(rule, msg), (rule, msg)
    assert "Traceback" not in msg and isinstance(info.value, ScenarioError)
    return msg


def test_the_base_document_is_valid(tmp_path: Path) -> None:
    sc = load_scenario_yaml(_write(tmp_path))
    assert sc.path_nodes(0) == [0, 1, 2] and sc.n_links == 4


@pytest.mark.timeout(20)
def test_negative_propagation_is_refused_before_routing(tmp_path: Path) -> None:
    """It used to make Dijkstra loop forever with growing memory (routing ran before validation)."""
    path = _write(tmp_path, lambda d: d["links"][0].update(prop_delay_s=-1.0))
    _refused(path, r"links\[0\]\.prop_delay_s", r"outside the accepted range \[0, 100\]")


CASES: list[tuple[str, Patch, str, str]] = [
    ("version abc", lambda d: d.update(version="abc"), r"version", r"unsupported version 'abc'"),
    ("version true", lambda d: d.update(version=True), r"version", r"unsupported version True"),
    ("empty route path", lambda d: d.update(routing={"routes": [{"src": "A", "dst": "C", "path": []}]}),
     r"routing\.routes\[0\]\.path", r"at least 2 nodes"),
    ("routes not a list", lambda d: d.update(routing={"routes": 5}), r"routing\.routes", r"expected a list"),
    ("path not a list", lambda d: d.update(routing={"routes": [{"src": "A", "dst": "C", "path": "A"}]}),
     r"routing\.routes\[0\]\.path", r"expected a list"),
    ("path from elsewhere", lambda d: d.update(routing={"routes": [{"src": "A", "dst": "C", "path": ["B", "C"]}]}),
     r"routing\.routes\[0\]\.path", r"must start at src 0"),
    ("buffer_pkts 0", lambda d: d["nodes"][0].update(buffer_pkts=0), r"nodes\[0\]\.buffer_pkts",
     r"outside the accepted range \[1, "),
    ("buffer_pkts negative in a list", lambda d: d["nodes"][1].update(buffer_pkts=[8, -4]),
     r"nodes\[1\]\.buffer_pkts\[1\]", r"outside the accepted range"),
    ("buffer_pkts fractional", lambda d: d["nodes"][1].update(buffer_pkts=2.5), r"nodes\[1\]\.buffer_pkts",
     r"whole numbers"),
    ("pkt_size_bits 0", lambda d: d["traffic"]["flows"][0].update(pkt_size_bits=0),
     r"traffic\.flows\[0\]\.pkt_size_bits", r"outside the accepted range \[8, "),
    ("pkt_size_bits negative", lambda d: d["traffic"]["flows"][0].update(pkt_size_bits=-8000),
     r"traffic\.flows\[0\]\.pkt_size_bits", r"outside the accepted range"),
    ("negative WFQ weight", lambda d: d["nodes"][0].update(policy="WFQ", weights=[-1, 2, 3]),
     r"nodes\[0\]\.weights\[0\]", r"outside the accepted range \(0, "),
    ("negative weight in defaults", lambda d: d.update(defaults={"policy": "DRR", "weights": -5}),
     r"nodes\[0\]\.weights", r"outside the accepted range"),
    ("negative size_probs", lambda d: d["traffic"]["flows"][0].update(sizes_bits=[800, 8000], size_probs=[-0.5, 1.5]),
     r"traffic\.flows\[0\]\.size_probs\[0\]", r"outside the accepted range \[0, 1\]"),
    ("size_probs not summing to 1", lambda d: d["traffic"]["flows"][0].update(sizes_bits=[800, 8000],
                                                                              size_probs=[0.5, 0.4]),
     r"traffic\.flows\[0\]\.size_probs", r"must sum to 1 \(within 0\.0001\), got 0\.9"),
    ("negative on_s", lambda d: d["traffic"]["flows"][0].update(time_dist="ONOFF", on_s=-1, off_s=1),
     r"traffic\.flows\[0\]\.on_s", r"outside the accepted range \(0, "),
    ("zero off_s", lambda d: d["traffic"]["flows"][0].update(time_dist="ONOFF", on_s=1, off_s=0),
     r"traffic\.flows\[0\]\.off_s", r"outside the accepted range \(0, "),
    ("unknown time_unit", lambda d: d.update(time_unit="fortnight"), r"time_unit",
     r"'fortnight' is not one of \['s', 'tu'\]"),
    ("tos true", lambda d: d["traffic"]["flows"][0].update(tos=True), r"traffic\.flows\[0\]\.tos",
     r"expected 0\.\.2 \(an integer\), got True"),
    ("policy true", lambda d: d["nodes"][0].update(policy=True), r"nodes\[0\]\.policy", r"is not one of"),
    ("capacity true", lambda d: d["links"][0].update(capacity_bps=True), r"links\[0\]\.capacity_bps",
     r"expected a number"),
    ("bidirectional 'yes please'", lambda d: d["links"][0].update(bidirectional="yes please"),
     r"links\[0\]\.bidirectional", r"expected true or false"),
    ("latitude 999", lambda d: d["nodes"][0].update(lat=999, lon=0), r"nodes\[0\]\.lat",
     r"outside the accepted range \[-90, 90\]"),
    ("longitude -181", lambda d: d["nodes"][2].update(lat=0, lon=-181), r"nodes\[2\]\.lon",
     r"outside the accepted range \[-180, 180\]"),
    ("negative matrix entry", lambda d: d.update(traffic={"matrix_bps": [[0, -1, 5e4], [0, 0, 0], [1e5, 0, 0]]}),
     r"traffic\.matrix_bps\[0\]\[1\]", r"-1\.0 is outside the accepted range \[0, "),
    ("diagonal matrix entry", lambda d: d.update(traffic={"matrix_bps": [[5, 0, 1e5], [0, 0, 0], [0, 0, 0]]}),
     r"traffic\.matrix_bps\[0\]\[0\]", r"traffic from a node to itself must be 0"),
    ("ragged matrix", lambda d: d.update(traffic={"matrix_bps": [[0, 1], [0, 0, 0], [0, 0, 0]]}),
     r"traffic\.matrix_bps", r"expected a 3 x 3 matrix"),
    ("capacity 1e-300", lambda d: d["links"][0].update(capacity_bps=1e-300), r"links\[0\]\.capacity_bps",
     r"1e-300 is outside the accepted range \[1, 1e\+15\] \(bits per time unit\)"),
    ("rate 1e300", lambda d: d["traffic"]["flows"][0].update(rate_bps=1e300), r"traffic\.flows\[0\]\.rate_bps",
     r"1e\+300 is outside the accepted range \[0, 1e\+15\]"),
    ("rate NaN", lambda d: d["traffic"]["flows"][0].update(rate_bps=float("nan")), r"traffic\.flows\[0\]\.rate_bps",
     r"nan is outside the accepted range"),
    ("capacity inf", lambda d: d["links"][1].update(capacity_bps=float("inf")), r"links\[1\]\.capacity_bps",
     r"inf is outside the accepted range"),
    ("links not a list", lambda d: d.update(links={"a": 1}), r"links", r"expected a list"),
    ("flows not a list", lambda d: d["traffic"].update(flows=7), r"traffic\.flows", r"expected a list"),
    ("meta not a mapping", lambda d: d.update(meta=[1, 2]), r"meta", r"expected a mapping"),
    ("node count too large", lambda d: d.update(nodes=10**9), r"nodes", r"expected 1\.\.10000"),
    ("self-loop link", lambda d: d["links"].append({"src": "A", "dst": "A", "capacity_bps": 1e6}),
     r"links\[2\]", r"src and dst are both node 'A'"),
]


@pytest.mark.parametrize(("patch", "element", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.timeout(20)
def test_malformed_values_are_refused(tmp_path: Path, patch: Patch, element: str, rule: str) -> None:
    _refused(_write(tmp_path, patch), element, rule)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: Zürich\n".encode("latin-1") + yaml.safe_dump(BASE).encode())
    _refused(path, r"not a UTF-8 text file", r"byte 7: b.\\xfc")  # "name: Z" is bytes 0..6


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    body = yaml.safe_dump(BASE, sort_keys=False)
    path.write_text(body.replace("version: 1\n", "version: 1\nname: a\nname: b\n", 1))
    _refused(path, r"not valid YAML", r"duplicate key 'name' \(first at line 2\)")
    nested = tmp_path / "dup2.yaml"
    nested.write_text("nodes: [{name: A}, {name: B}]\nlinks: [{src: A, dst: B, capacity_bps: 1.0e+6}]\n"
                      "traffic: {flows: [{src: A, dst: B, rate_bps: 1.0e+5, rate_bps: 1.0}]}\n")
    _refused(nested, r"not valid YAML", r"duplicate key 'rate_bps'")


def test_alias_bombs_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(7))
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    _refused(path, r"more than 4,000,000 values", r"after expanding YAML aliases")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(ScenarioFileError, match="not valid YAML"):
        load_scenario_yaml(deep)


def test_matrix_entries_are_never_dropped(tmp_path: Path) -> None:
    """A valid matrix becomes one flow per positive off-diagonal entry and class; none is dropped."""
    classes = [{"share": 0.25, "tos": 0}, {"share": 0.75, "tos": 2}]
    path = _write(tmp_path, lambda d: d.update(traffic={"matrix_bps": [[0, 1e5, 2e5], [0, 0, 0], [3e5, 0, 0]],
                                                        "classes": classes}))
    sc = load_scenario_yaml(path)
    assert sc.n_flows == 3 * 2  # three positive entries, two classes
    assert sorted(sc.flow_rate_bps.tolist()) == sorted([2.5e4, 7.5e4, 5e4, 1.5e5, 7.5e4, 2.25e5])


def test_size_probs_within_tolerance_are_renormalised(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda d: d["traffic"]["flows"][0].update(sizes_bits=[800, 8000, 12000],
                                                                      size_probs=[0.33333, 0.33333, 0.33333]))
    sc = load_scenario_yaml(path)
    assert abs(float(sc.flow_size_probs[0].sum()) - 1.0) < 1e-12


def test_ranges_are_documented_and_the_bundled_scenario_is_inside_them() -> None:
    assert RANGES["capacity_bps"][:2] == (1.0, 1e15) and RANGES["lat"][:2] == (-90.0, 90.0)
    sc = load_scenario_yaml(bundled_scenario_path())
    assert sc.n_nodes == 14 and (sc.link_capacity_bps <= RANGES["capacity_bps"][1]).all()
