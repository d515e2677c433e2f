"""Schema and semantic validation: every bad input names the element and the rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.twin.netmodel import NetworkModelError, NetworkModelWarning, load_network_model, model_from_dict

Mutation = Callable[[dict[str, Any]], object]

CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown device in a link end", lambda d: d["links"][1]["b"].update(device="r9"),
     "links[1].b.device", r"unknown device 'r9'; devices are \['r1', 'r2', 'r3'\]"),
    ("a link to nowhere (no b end)", lambda d: d["links"][0].pop("b"),
     "links[0].b", r"missing \(required\); a link needs both ends"),
    ("a link end without interface", lambda d: d["links"][0]["a"].pop("interface"),
     "links[0].a.interface", r"missing \(required\)"),
    ("duplicate interface", lambda d: d["links"][1]["a"].update(interface="et-0/0/0"),
     "links[1].a.interface", r"duplicate interface r1:et-0/0/0: already used by links\[0\]\.a \(towards 'r2'\)"),
    ("duplicate link", lambda d: d["links"].append({"a": {"device": "r1", "interface": "et-0/0/5"},
                                                    "b": {"device": "r2", "interface": "Hu0/0/0/5"},
                                                    "capacity_bps": "100G"}),
     "links[4]", r"duplicate link r1->r2: already given by links\[0\]"),
    ("negative capacity", lambda d: d["links"][0].update(capacity_bps=-1),
     "links[0].capacity_bps", r"-1 is not a bit rate > 0"),
    ("zero capacity", lambda d: d["links"][0].update(capacity_bps=0),
     "links[0].capacity_bps", r"0 is not a bit rate > 0"),
    ("negative capacity string", lambda d: d["links"][0].update(capacity_bps="-10G"),
     "links[0].capacity_bps", r"'-10G' is not a bit rate > 0"),
    ("NaN capacity", lambda d: d["links"][0].update(capacity_bps=float("nan")),
     "links[0].capacity_bps", r"capacity must be finite and > 0"),
    ("negative delay", lambda d: d["links"][2].update(delay_s=-0.001),
     "links[2].delay_s", r"must be >= 0 \(got -0\.001\)"),
    ("negative length", lambda d: d["links"][1].update(length_km=-3),
     "links[1].length_km", r"must be >= 0 \(got -3\)"),
    ("negative link metric", lambda d: d["links"][0].update(metric=-5),
     "links[0].metric", r"must be >= 1 \(got -5\)"),
    ("zero end metric", lambda d: d["links"][0]["a"].update(metric=0),
     "links[0].a.metric", r"must be >= 1 \(got 0\)"),
    ("self-loop", lambda d: d["links"][1]["b"].update(device="r1"),
     "links[1]", r"self-loop: both ends are on device 'r1'"),
    ("probe naming an unknown device", lambda d: d["probes"][0].update(dst="r7"),
     "probes[0].dst", r"unknown device 'r7'"),
    ("probe from a device to itself", lambda d: d["probes"][0].update(dst="r1"),
     "probes[0]", r"a probe needs two devices"),
    ("unknown queue profile", lambda d: d["devices"][0].update(queue_profile="gold"),
     "devices[0].queue_profile", r"unknown queue profile 'gold'"),
    ("duplicate device", lambda d: d["devices"][2].update(name="r1"),
     "devices[2].name", r"device 'r1' is already devices\[0\]"),
    ("prefix with host bits", lambda d: d["devices"][0].update(prefixes=["198.51.100.1/24"]),
     "devices[0].prefixes[0]", r"'198\.51\.100\.1/24' is not a CIDR prefix \(.*host bits"),
    ("prefix owned twice", lambda d: d["devices"][1].update(prefixes=["198.51.100.0/24"]),
     "devices[1].prefixes[0]", r"prefix 198\.51\.100\.0/24 is already owned by device 'r1'"),
    ("bad loopback", lambda d: d["devices"][0].update(loopback={"ipv4": "2001:db8::1"}),
     "devices[0].loopback.ipv4", r"is not an IPv4 address"),
    ("DSCP in two classes", lambda d: d["tos_classes"][1].update(dscp=[46]),
     "tos_classes[1]", r"DSCP 46 is already in tos_classes\[0\]"),
    ("DSCP out of range", lambda d: d["tos_classes"][1].update(dscp=[64]),
     "tos_classes[1].dscp[0]", r"must be <= 63 \(got 64\)"),
    ("unknown key", lambda d: d["links"][0].update(capacity=1),
     "links[0].capacity", r"unknown key; allowed keys: \['a', 'b', 'bidirectional'"),
    ("WFQ without weights", lambda d: d["queue_profiles"]["wfq"].pop("weights"),
     "queue_profiles.wfq.weights", r"WFQ needs weights"),
    ("link id that contradicts its ends", lambda d: d["links"][2].update(id="r3->r2"),
     "links[2].id", r"link id 'r3->r2' must read 'r2->r3'"),
    ("delay and length both", lambda d: d["links"][1].update(delay_s=0.001),
     "links[1]", r"give delay_s or length_km, not both"),
    ("unsupported version", lambda d: d.update(version=2),
     "version", r"unsupported value 2; this reader knows 1"),
    ("device name with a space", lambda d: d["devices"][0].update(name="New York"),
     "devices[0].name", r"'New York' is not allowed here: letters, digits"),
    ("boolean where a string is due", lambda d: d["devices"][0].update(vendor=True),
     "devices[0].vendor", r"expected string, got bool True"),
]


@pytest.mark.parametrize(("what", "mutate", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_the_element(what: str, mutate: Mutation, path: str, message: str) -> None:
    doc = lab_doc()
    mutate(doc)
    with pytest.raises(NetworkModelError) as info:
        model_from_dict(doc, source="lab.yaml")
    err = info.value
    assert isinstance(err, ValueError) and err.file == "lab.yaml"
    assert (err.path, bool(re.search(message, err.message))) == (path, True), (what, err.problems)
    assert str(err).startswith(f"lab.yaml: {path}: ")


def test_the_valid_document_is_valid() -> None:
    m = model_from_dict(lab_doc(), source="lab.yaml")
    assert (m.n_nodes, m.n_links, m.n_probes) == (3, 6, 1)
    assert m.warnings == []


def test_every_problem_is_reported_at_once() -> None:
    doc = lab_doc()
    doc["links"][1]["b"]["device"] = "r9"
    doc["probes"][0]["src"] = "r8"
    doc["devices"][0]["queue_profile"] = "gold"
    with pytest.raises(NetworkModelError) as info:
        model_from_dict(doc, source="lab.yaml")
    paths = [p for p, _ in info.value.problems]
    assert sorted(paths) == ["devices[0].queue_profile", "links[1].b.device", "probes[0].src"]
    assert "(and 2 more problems)" in str(info.value)
    assert len(info.value.lines()) == 3 and all(line.startswith("lab.yaml: ") for line in info.value.lines())


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(lab_doc(), sort_keys=False).replace("name: lab\n", "name: lab\nname: lab2\n", 1)
    path = _write(tmp_path, "dup.yaml", text.encode())
    with pytest.raises(NetworkModelError, match=r"dup\.yaml: line 3: .*duplicate key 'name' \(first on line 2"):
        load_network_model(path)


def test_duplicate_key_inside_a_link_is_refused(tmp_path: Path) -> None:
    text = ("version: 1\nname: x\ndevices: [{name: a}, {name: b}]\nlinks:\n"
            "  - {a: {device: a, interface: e1}, b: {device: b, interface: e1}, capacity_bps: 1G, capacity_bps: 2G}\n")
    with pytest.raises(NetworkModelError, match=r"line 5: .*duplicate key 'capacity_bps'"):
        load_network_model(_write(tmp_path, "dupl.yaml", text.encode()))


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(lab_doc(), sort_keys=False).encode().replace(b"name: lab", b"name: lab\n# caf\xe9", 1)
    with pytest.raises(NetworkModelError, match=r"latin\.yaml: line 3: not UTF-8 text: byte 0xe9"):
        load_network_model(_write(tmp_path, "latin.yaml", text))


def test_yaml_syntax_and_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(NetworkModelError, match=r"bad\.yaml: line 3: not valid YAML: did not find expected ',' or ']'"):
        load_network_model(_write(tmp_path, "bad.yaml", b"version: 1\ndevices: [a, b\n"))
    with pytest.raises(NetworkModelError, match=r"empty\.yaml: the file is empty"):
        load_network_model(_write(tmp_path, "empty.yaml", b""))
    with pytest.raises(NetworkModelError, match=r"missing\.yaml: cannot read the file"):
        load_network_model(tmp_path / "missing.yaml")


def test_disconnected_network_is_a_warning_not_an_error() -> None:
    doc = lab_doc()
    doc["devices"].append({"name": "r4"})
    with pytest.warns(NetworkModelWarning, match=r"not strongly connected \(2 components\).*\['r4'\]"):
        m = model_from_dict(doc, source="lab.yaml")
    assert m.n_nodes == 4 and len(m.warnings) == 1


def test_a_one_way_link_leaves_the_network_disconnected() -> None:
    doc = lab_doc()
    del doc["links"][3]  # r3->r2 and the r1-r3 cable gone: r3 is reached (from r2) but reaches nobody
    del doc["links"][1]
    with pytest.warns(NetworkModelWarning, match=r"not strongly connected .*\['r3'\]"):
        model_from_dict(doc, source="lab.yaml")


def test_integral_floats_where_integers_are_expected_are_read_as_integers() -> None:
    """JSON Schema's ``integer`` admits ``0.0``; a ToS class written ``dscp: [0.0]`` or ``tos: [184.0]`` (what some
    YAML writers emit) is read as DSCP 0 / 46 (found by the network-model fuzzer: it raised IndexError)."""
    doc = lab_doc()
    doc["tos_classes"] = [{"name": "voice", "class": 0, "tos": [184.0]},
                          {"name": "best-effort", "class": 2.0, "dscp": [0.0, 8.0], "default": True}]
    m = model_from_dict(doc)
    assert [c.dscp for c in m.tos_classes] == [(46,), (0, 8)]
    assert [c.class_id for c in m.tos_classes] == [0, 2]
