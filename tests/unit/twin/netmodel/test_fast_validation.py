"""The compiled schema validator (``jsonschema-rs``) changes the speed of the network-model check, never its answer.

The reference in every test is the path the reader took before it (``jsonschema``'s full ``iter_errors``
walk, sorted by path, turned into messages by ``_schema_problem``): the problems reported must be the same
list, in the same order, on every document, including those on which the two libraries differ.
"""

from __future__ import annotations

import datetime
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import numpy as np
import pytest

from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.twin.doc_limits import too_many_values
from twinwatch.twin.netmodel import NetworkModelError, load_network_model
from twinwatch.twin.netmodel import load as netload
from twinwatch.twin.netmodel.errors import Problem

_REFERENCE = jsonschema.validators.validator_for(netload.schema())(netload.schema())


def reference_problems(doc: object) -> list[Problem]:
    """The schema problems as the reader reported them before the fast path (a full ``jsonschema`` walk)."""
    errors = sorted(_REFERENCE.iter_errors(doc), key=lambda e: [str(x) for x in e.absolute_path])
    return [netload._schema_problem(e) for e in errors]


def problems(doc: object) -> list[Problem]:
    """The schema problems the reader reports now ([] when the schema stage accepts ``doc``)."""
    try:
        netload.validate_document(doc, source="t")
    except NetworkModelError as exc:
        return list(exc.problems)
    return []


def test_fuzz_inputs_get_the_same_verdicts_and_messages() -> None:
    """The fuzz harness's network-model inputs (seed 2, k < 120): the same problems as the full walk.

    bench/bench_netmodel.py --differential 2001 runs the same comparison on more inputs (BENCHMARKS.md).
    """
    import yaml

    from tests.fuzz.harness import build_input

    counts = {"valid": 0, "refused": 0, "fast": 0}
    for k in range(120):
        data = build_input("network_yaml", random.Random(f"2:network_yaml:{k}")).files["network.yaml"]
        try:
            doc = yaml.load(data.decode("utf-8"), Loader=netload._UniqueKeyLoader)
        except (UnicodeDecodeError, yaml.YAMLError):
            continue
        if doc is None or too_many_values(doc, netload.MAX_VALUES):
            continue
        want = reference_problems(doc)
        assert problems(doc) == want, f"k={k}"
        counts["refused" if want else "valid"] += 1
        counts["fast"] += netload._refused_items(doc)[1] is not None
    # both verdicts are exercised, and the compiled validator answered (rather than handing over) nearly always
    assert counts["valid"] > 30 and counts["refused"] > 30, counts
    assert counts["fast"] >= 0.95 * (counts["valid"] + counts["refused"]), counts


def _set(path: tuple[Any, ...], value: object) -> dict[str, Any]:
    doc = lab_doc()
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


# (what, document, whether it holds JSON types only: else the compiled validator is not asked)
DIFFERING: list[tuple[str, dict[str, Any], bool]] = [
    # ECMA-262 \s matches U+FEFF, Python's re does not: jsonschema refuses this capacity
    ("BOM in a bit rate", _set(("links", 0, "capacity_bps"), "\ufeff10G"), True),
    # Python's \s matches U+001C and U+0085, ECMA's does not: jsonschema accepts these
    ("file separator in a bit rate", _set(("links", 0, "capacity_bps"), "10G\x1c"), True),
    ("NEL in a bit rate", _set(("links", 1, "capacity_bps"), "\x8510 Gbps"), True),
    ("no-break space in a bit rate", _set(("links", 1, "capacity_bps"), "10\u00a0G"), True),
    # Python's $ matches before a final newline
    ("newline after a name", _set(("devices", 0, "name"), "r1\n"), True),
    ("newline after the network name", _set(("name",), "lab\n"), True),
    # jsonschema-rs reads a tuple as an array; jsonschema does not
    ("devices as a tuple", _set(("devices",), tuple(lab_doc()["devices"])), False),
    ("weights as a tuple", _set(("queue_profiles", "wfq", "weights"), (60, 30, 10)), False),
    # types YAML or a caller may produce that JSON has not
    ("a date as a name", _set(("name",), datetime.date(2026, 1, 1)), False),
    ("bytes as a vendor", _set(("devices", 0, "vendor"), b"juniper"), False),
    ("a NumPy float latitude", _set(("devices", 0, "lat"), np.float64(95.0)), False),
    ("a NumPy int metric", _set(("links", 0, "metric"), np.int64(0)), False),
    ("an int as a profile name", _set(("queue_profiles", 5), {"policy": "FIFO", "buffer": {"packets": 10}}), True),
    ("None as a top-level key", _set((None,), 1), True),
    # numbers at the edges of both libraries' number models
    ("NaN capacity", _set(("links", 0, "capacity_bps"), float("nan")), True),
    ("inf capacity", _set(("links", 0, "capacity_bps"), float("inf")), True),
    ("huge integer capacity", _set(("links", 0, "capacity_bps"), 2**70), True),
    ("huge negative capacity", _set(("links", 0, "capacity_bps"), -(2**70)), True),
    ("huge metric", _set(("links", 0, "metric"), 2**70), True),
    ("integral float metric", _set(("links", 0, "metric"), 5.0), True),
    ("fractional metric", _set(("links", 0, "metric"), 16777214.5), True),
    ("version 1.0", _set(("version",), 1.0), True),
    ("version true", _set(("version",), True), True),
    ("lone surrogate in a name", _set(("devices", 1, "name"), "r\ud8002"), True),
]


@pytest.mark.parametrize(("what", "doc", "answers"), DIFFERING, ids=[c[0] for c in DIFFERING])
def test_documents_where_the_libraries_differ_get_the_same_problems(what: str, doc: dict[str, Any],
                                                                     answers: bool) -> None:
    assert problems(doc) == reference_problems(doc), what
    if not answers:  # types outside JSON never reach the compiled validator (it would read a tuple as an array)
        assert netload._refused_items(doc) == (False, None), what


@pytest.mark.parametrize("packets", [[1, None], [1, -5], [64, 128, 0], [[1]]])
def test_an_error_on_a_whole_array_judges_all_its_items(packets: list[Any]) -> None:
    """A buffer of ``packets: [1, None]`` (the network-model fuzz run of session 10, seed 2, k = 319,281): the
    compiled validator reports the ``oneOf`` at the array itself, not at an item, and the exact walk pruned every
    item of an array no error path went *through*, so the array branch held, the document was accepted and
    ``float(None)`` raised ``TypeError`` (a negative item was silently accepted). Lists at or under an error's
    location are walked whole now."""
    doc = _set(("queue_profiles", "wfq", "buffer"), {"packets": packets})
    want = reference_problems(doc)
    assert [w[0] for w in want] == ["queue_profiles.wfq.buffer.packets"]
    assert problems(doc) == want


def test_the_bom_in_a_bit_rate_is_refused_as_before() -> None:
    """The one case found where the compiled validator, left as it is, would accept what jsonschema refuses."""
    doc = _set(("links", 0, "capacity_bps"), "\ufeff10G")
    raw = jsonschema_rs.validator_for(netload.schema())
    assert raw.is_valid(doc)  # ECMA-262 white space: why the fast copy of the schema spells \s out
    assert problems(doc) == [("links[0].capacity_bps", "'\\ufeff10G' is not a bit rate > 0; write bits/s as a "
                                                       "number or a string such as '10G' or '2.5 Gbps'")]


def test_many_errors_across_items_and_shared_lists_match_the_full_walk() -> None:
    doc = lab_doc()
    doc["devices"][0]["lat"] = 91
    doc["devices"][2]["name"] = "r 3"
    doc["links"][1]["a"]["metric"] = 0
    doc["links"][3]["capacity_bps"] = "fast"
    doc["links"][3]["colour"] = "red"
    doc["probes"][0].pop("rate_pps")
    doc["tos_classes"][1]["dscp"] = [34, 64, -1]
    doc["extra"] = 1
    shared = doc["links"][1]  # one object at two places, as a YAML alias makes it
    doc["links"].extend([shared] * 9)  # links[10] sorts before links[2] as text: the order must hold
    want = reference_problems(doc)
    assert len(want) >= 15
    assert problems(doc) == want


def test_the_fast_schema_accepts_no_bit_rate_that_python_refuses() -> None:
    """Every BMP code point (every 97th above it) at each white-space position of the bit-rate pattern: the copy
    the compiled validator gets accepts a string only when Python's ``re`` (jsonschema's) does: its "valid" is final."""
    pattern = netload.schema()["properties"]["links"]["items"]["properties"]["capacity_bps"]["oneOf"][1]["pattern"]
    fast = jsonschema_rs.validator_for(netload._fast_schema({"type": "string", "pattern": pattern}))
    slow = re.compile(pattern)
    wider = []
    for cp in [*range(0xD800), *range(0xE000, 0x10000), *range(0x10000, 0x110000, 97)]:
        c = chr(cp)
        for text in (f"{c}10G", f"10{c}G", f"10G{c}bps", f"10G{c}"):
            ok = fast.is_valid(text)
            if ok and not slow.search(text):
                wider.append((hex(cp), text))
    assert wider == []


def test_unhashable_and_mistyped_mapping_keys_are_messages_not_tracebacks(tmp_path: Path) -> None:
    bad = r"not valid YAML: "
    cases = {
        "list-key.yaml": ("version: 1\n? [1, 2]\n: x\n", r"line 2: " + bad + "found unhashable key"),
        "map-key.yaml": ("version: 1\nname: {? {x: 1} : 2}\n", r"line 2: " + bad + "found unhashable key"),
        "map-tag-scalar.yaml": ("version: 1\nmeta: !!map foo\n", r"line 2: " + bad + "expected a mapping node, but "
                                                                    "found scalar"),
        "map-tag-list.yaml": ("version: 1\nmeta: !!map [a]\n", r"line 2: " + bad + "expected a mapping node, but "
                                                                 "found sequence"),
        "flow-dup.yaml": ("{version: 1, version: 1}\n", r"line 1: " + bad + r"duplicate key 'version' \(first on "
                                                          r"line 1, again on line 1\)"),
        "int-dup.yaml": ("meta: {1: a, 0x1: b}\n", r"line 1: " + bad + r"duplicate key 1 \(first on line 1, again "
                                                    r"on line 1\)"),
        "quoted-dup.yaml": ("name: a\n'name': b\n", r"line 2: " + bad + r"duplicate key 'name' \(first on line 1, "
                                                      r"again on line 2\)"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(NetworkModelError, match=re.escape(str(path)) + ": " + message):
            load_network_model(path)


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    """A key given beside ``<<: *defaults`` overrides the merged one (YAML's merge rule): not a duplicate."""
    path = tmp_path / "merge.yaml"
    path.write_text(
        "version: 1\nname: m\n"
        "devices: [{name: a}, {name: b}, {name: c}]\n"
        "links:\n"
        "- &l {a: {device: a, interface: e0}, b: {device: b, interface: e0}, capacity_bps: 10G}\n"
        "- {<<: *l, capacity_bps: 1G, a: {device: b, interface: e1}, b: {device: c, interface: e0}}\n",
        encoding="utf-8",
    )
    m = load_network_model(path)
    assert m.link_ids == ["a->b", "b->a", "b->c", "c->b"]
    assert m.link_capacity_bps.tolist() == [1e10, 1e10, 1e9, 1e9]


def test_the_value_count_reads_other_mappings_and_lists_as_before() -> None:
    """The size bound's exact-type shortcut: a mapping that is not a dict and a list subclass still count."""
    from types import MappingProxyType

    class Items(list):  # type: ignore[type-arg]
        pass

    doc = {"a": MappingProxyType({"x": Items([1, 2, 3])}), "b": (1, 2)}  # the tuple is one value, as before
    assert too_many_values(doc, 7) is False and too_many_values(doc, 6) is True


def test_pruned_arrays_cannot_change_a_combinator_away_from_an_error() -> None:
    """Why the pruned walk stays exact: an array on no error's way has none of its items walked, so under a
    ``oneOf`` / ``anyOf`` / ``not`` / ``if`` a branch that its items would fail could pass instead, and add an
    error the full walk does not have. That cannot happen while every combinator with ``items`` below it tells
    its branches apart by ``type`` alone (an array fails a non-array branch whatever its items). A schema change
    that breaks this must make the pruning aware of combinators first."""

    def has_items(node: Any) -> bool:
        if isinstance(node, dict):
            return "items" in node or any(has_items(v) for v in node.values())
        return isinstance(node, list) and any(has_items(v) for v in node)

    seen = 0

    def walk(node: Any) -> None:
        nonlocal seen
        if isinstance(node, dict):
            for key in ("oneOf", "anyOf", "not", "if", "then", "else"):
                if key in node and has_items(node[key]):
                    branches = node[key] if isinstance(node[key], list) else [node[key]]
                    types = [b.get("type") for b in branches]
                    assert key in ("oneOf", "anyOf") and None not in types and len(set(types)) == len(types), node
                    seen += 1
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(netload.schema())
    assert seen == 1  # buffer.packets: a number or an array of numbers
