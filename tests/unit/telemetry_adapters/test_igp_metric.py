"""IGP metric (``igp_metric``): the IS-IS level-2 IPv4-unicast / OSPFv2 metric of every format decodes to one gauge
row of its interface, other topologies are ignored, bad values are counted rejections, and normalize puts the row
on the link the interface sends on (no ``rx_`` twin)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from twinwatch.telemetry_adapters import get_decoder
from twinwatch.telemetry_adapters._gnmic_fast import decode as fast_decode
from twinwatch.telemetry_adapters.accounting import Tally, run_batch
from twinwatch.telemetry_adapters.base import DecoderConfig, DecodeResult
from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.errors import BENIGN_REASONS, Reason
from twinwatch.telemetry_adapters.gnmic import GnmicDecoder
from twinwatch.telemetry_adapters.igp import MAX_METRIC, igp_metric, metric_rejection
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.normalize import normalize
from twinwatch.telemetry_adapters.paths import FIELD_BITS, FIELD_NAMES, IGP_OTHER, PORT_GAUGE, map_path
from twinwatch.telemetry_adapters.schema import IGP_FIELDS, KPIS, Kind, SampleBatchBuilder

from .test_schema_conformance import check_samples

NOW = 1_700_000_000_000_000_000
CFG = DecoderConfig(network="lab", now_ns=NOW)
PROTO = "/network-instances/network-instance/protocols/protocol/"
ISIS = PROTO + "isis/interfaces/interface/levels/level/af/state/metric"
OSPF = PROTO + "ospfv2/areas/area/interfaces/interface/state/metric"
ISIS_TAGS = {"source": "r1:57400", "subscription-name": "isis", "network-instance_name": "default",
             "protocol_identifier": "ISIS", "protocol_name": "default", "interface_interface-id": "Ethernet1",
             "level_level-number": "2", "af_afi-name": "IPV4", "af_safi-name": "UNICAST"}  # fmt: skip
#: the exact event the project's testbed emits (twin/testbed/emit.py gnmic_igp_metric_events)
TESTBED = (b'{"name":"isis","timestamp":1700000000000000000,"tags":{"source":"r1:57400","subscription-name":"isis",'
           b'"network-instance_name":"default","protocol_identifier":"ISIS","protocol_name":"default",'
           b'"interface_interface-id":"Ethernet1","level_level-number":"2","af_afi-name":"IPV4",'
           b'"af_safi-name":"UNICAST"},"values":{"/network-instances/network-instance/protocols/protocol/isis/'
           b'interfaces/interface/levels/level/af/state/metric":10}}')  # fmt: skip


def decode(fmt: str, messages: list[bytes], fast: bool = True) -> DecodeResult:
    dec = GnmicDecoder(CFG, fast=fast) if fmt == "gnmic" else get_decoder(fmt, CFG)
    res = dec.decode_batch(messages)
    check_samples(res.samples)
    assert res.records == len(res.samples) + res.stats.total + sum(res.ignored.values())
    return res


def metrics(res: DecodeResult) -> dict[tuple[str, str], list[float]]:
    """(device, interface) → its igp_metric rows' values (asserting each is a gauge row with value_u64 0)."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in res.samples.rows():
        if r["field"] == "igp_metric":
            assert r["kind"] == Kind.GAUGE and r["value_u64"] == 0
            out.setdefault((r["device"], r["interface"]), []).append(r["value_f64"])
    return out


def counts(res: DecodeResult) -> tuple[dict[str, int], dict[str, int]]:
    return dict(res.stats.counts), dict(res.ignored)


def gnmic_event(values: dict[str, Any], tags: dict[str, str] | None = None, **over: str) -> bytes:
    return orjson.dumps({"name": "isis", "timestamp": NOW, "tags": {**(tags or ISIS_TAGS), **over}, "values": values})


# ----------------------------------------------------------------------------- the value parser and the table


@pytest.mark.parametrize(
    ("value", "metric"),
    [(10, 10.0), (1, 1.0), ("65535", 65535.0), (16777215, 16777215.0), ("16777215", 16777215.0), (20.0, 20.0),
     (" 30 ", 30.0), (100.0, 100.0)],
)  # fmt: skip
def test_metric_values(value: Any, metric: float) -> None:
    assert igp_metric(value) == metric


@pytest.mark.parametrize(
    ("value", "reason"),
    [(1.5, "bad_metric"), ("2.5", "bad_metric"), (0, "bad_metric"), ("0", "bad_metric"), (-1, "bad_metric"),
     ("-10", "bad_metric"), (16777216, "bad_metric"), (2**32, "bad_metric"), (10**400, "bad_metric"),
     (math.nan, "non_finite"), (math.inf, "non_finite"), ("nan", "non_finite"), ("-inf", "non_finite"),
     (True, "wrong_type"), (False, "wrong_type"), ([10], "wrong_type"), ({"v": 10}, "wrong_type"),
     ("ten", "wrong_type"), ("", "wrong_type"), (None, "wrong_type")],
)  # fmt: skip
def test_values_that_give_no_metric(value: Any, reason: str) -> None:
    assert igp_metric(value) is None
    why, detail = metric_rejection("metric", value)
    assert why == reason and "'metric'" in detail


@pytest.mark.parametrize(
    "path",
    [
        ISIS, OSPF, "igp_metric",
        PROTO.replace("network-instances/", "openconfig-network-instance:network-instances/") + "openconfig-isis:isis/"
        "interfaces/interface[interface-id=Ethernet1/1]/levels/level[level-number=2]/af[afi-name=openconfig-isis-"
        "types:IPV4][safi-name=openconfig-isis-types:UNICAST]/state/openconfig-isis:metric",
        PROTO + "ospfv2/areas/area[identifier=0.0.0.0]/interfaces/interface[id=Ethernet1]/state/metric",
        "openconfig:/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/"
        "af/state/metric",  # Telegraf's path tag (origin first) joined to the field
    ],
)  # fmt: skip
def test_every_spelling_maps_to_igp_metric(path: str) -> None:
    code = map_path(path)
    assert code >= 0 and FIELD_NAMES[code] == "igp_metric" and FIELD_BITS[code] == 0 and PORT_GAUGE[code] == 1


@pytest.mark.parametrize(
    "path",
    ["metric", "/interfaces/interface/state/metric", "/interfaces/interface[id=7]/state/metric",
     PROTO + "bgp/neighbors/neighbor/state/metric", "/routing-policy/metric",
     PROTO + "isis/levels/level/state/metric"],  # not an interface's metric
)  # fmt: skip
def test_a_bare_metric_maps_only_inside_an_igp_path(path: str) -> None:
    assert map_path(path) < 0 and map_path(path) != IGP_OTHER


@pytest.mark.parametrize(
    "keys",
    ["[level-number=1]/af[afi-name=IPV4][safi-name=UNICAST]", "[level-number=2]/af[afi-name=IPV6][safi-name=UNICAST]",
     "[level-number=2]/af[afi-name=openconfig-isis-types:IPV6][safi-name=UNICAST]",
     "[level-number=2]/af[afi-name=IPV4][safi-name=MULTICAST]"],
)  # fmt: skip
def test_other_topologies_map_to_ignored(keys: str) -> None:
    assert map_path(PROTO + "isis/interfaces/interface/levels/level" + keys + "/state/metric") == IGP_OTHER


def test_schema_and_reasons() -> None:
    assert IGP_FIELDS == ("igp_metric",) and KPIS["igp_metric"] == "1" and "rx_igp_metric" not in KPIS
    assert {Reason.IGP_OTHER_TOPOLOGY, Reason.IGP_METRIC_SUPERSEDED} <= BENIGN_REASONS
    assert Reason.BAD_METRIC not in BENIGN_REASONS and MAX_METRIC == 2**24 - 1


# ----------------------------------------------------------------------------- gnmic


def test_the_testbed_event_is_one_row_of_r1_ethernet1() -> None:
    assert fast_decode(GnmicDecoder(CFG), [TESTBED]) is not None
    for use_fast in (True, False):
        res = decode("gnmic", [TESTBED], fast=use_fast)
        assert [(r["device"], r["interface"], r["field"], r["value_f64"], r["value_u64"], r["kind"])
                for r in res.samples.rows()] == [("r1", "Ethernet1", "igp_metric", 10.0, 0, 0)]  # fmt: skip
        assert counts(res) == ({}, {})


def test_gnmic_topologies_ospf_and_missing_keys() -> None:
    no_topology = {k: v for k, v in ISIS_TAGS.items() if not k.startswith(("level_", "af_"))}
    ospf = {"source": "r2:57400", "network-instance_name": "default", "protocol_identifier": "OSPF",
            "protocol_name": "1", "area_identifier": "0.0.0.0", "interface_id": "Ethernet7"}  # fmt: skip
    msgs = [
        gnmic_event({ISIS: 10}),
        gnmic_event({ISIS: 20}, **{"level_level-number": "1", "interface_interface-id": "Ethernet2"}),  # level 1
        gnmic_event({ISIS: 30}, **{"af_afi-name": "IPV6", "interface_interface-id": "Ethernet3"}),  # IPv6
        gnmic_event({ISIS: 31}, **{"af_afi-name": "openconfig-isis-types:IPV6", "interface_interface-id": "Et3"}),
        gnmic_event({ISIS: 40}, **{"af_afi-name": "openconfig-isis-types:IPV4", "interface_interface-id": "Et4"}),
        gnmic_event({ISIS: "50"}, no_topology, **{"interface_interface-id": "Ethernet5"}),  # no keys: taken as is
        gnmic_event({OSPF: 65535}, ospf),
    ]
    for use_fast in (True, False):
        res = decode("gnmic", msgs, fast=use_fast)
        assert metrics(res) == {("r1", "Ethernet1"): [10.0], ("r1", "Et4"): [40.0], ("r1", "Ethernet5"): [50.0],
                                ("r2", "Ethernet7"): [65535.0]}  # fmt: skip
        assert counts(res) == ({}, {"igp_other_topology": 3})
        assert res.records == 7


def test_gnmic_rejections_are_counted_and_dead_lettered() -> None:
    bad: list[tuple[Any, str]] = [(0, "bad_metric"), (1.5, "bad_metric"), (-1, "bad_metric"),
                                  (16777216, "bad_metric"), ("nan", "non_finite"), (True, "wrong_type"),
                                  ([10], "wrong_type"), ("ten", "wrong_type")]  # fmt: skip
    msgs = [gnmic_event({ISIS: v}, **{"interface_interface-id": f"e{k}"}) for k, (v, _) in enumerate(bad)]
    for use_fast in (True, False):
        res = decode("gnmic", msgs, fast=use_fast)
        assert len(res.samples) == 0
        assert counts(res) == ({"bad_metric": 4, "non_finite": 1, "wrong_type": 3}, {})
        for (_, reason), rej, msg in zip(bad, res.rejections, msgs, strict=True):
            assert rej.reason == reason and "IGP metric leaf" in rej.detail and rej.raw == msg and rej.source == "gnmic"


def test_gnmic_superseded_and_unrelated_leaves() -> None:
    both = gnmic_event({ISIS: 10, "igp_metric": 12, "/network-instances/network-instance/protocols/protocol/isis/"
                        "interfaces/interface/levels/level/af/state/metric-style": "WIDE_METRIC"})
    for use_fast in (True, False):
        res = decode("gnmic", [both], fast=use_fast)
        assert metrics(res) == {("r1", "Ethernet1"): [10.0]}  # the IS-IS leaf is listed first: it wins
        assert counts(res) == ({}, {"igp_metric_superseded": 1, "unmapped_leaf": 1})


def test_the_id_tag_names_no_interface_outside_igp_paths() -> None:
    """``interface_id`` / ``id`` name an interface only in an IGP event; a counter event keeps its own keys."""
    ctr = "/interfaces/interface/state/counters/in-octets"
    msgs = [orjson.dumps({"timestamp": NOW, "tags": {"source": "r1", "interface_id": "7", "id": "8"},
                          "values": {ctr: "5"}}),
            orjson.dumps({"timestamp": NOW, "tags": {"source": "r1", "interface_id": "7", "name": "et1"},
                          "values": {ctr: "6"}})]  # fmt: skip
    for use_fast in (True, False):
        res = decode("gnmic", msgs, fast=use_fast)
        assert res.samples.interface.tolist() == ["et1"]  # the first names no port: refused, not the device's
        assert [r.reason for r in res.rejections] == ["missing_interface"]


# ----------------------------------------------------------------------------- gNMI JSON


def _gnmi(prefix: list[dict[str, Any]], updates: list[tuple[list[dict[str, Any]], dict[str, Any]]]) -> bytes:
    return orjson.dumps({"update": {"timestamp": str(NOW), "prefix": {"target": "r1", "elem": prefix},
                                    "update": [{"path": {"elem": p}, "val": v} for p, v in updates]}})


def _ni(proto: str) -> list[dict[str, Any]]:
    return [{"name": "network-instances"}, {"name": "network-instance", "key": {"name": "default"}},
            {"name": "protocols"}, {"name": "protocol", "key": {"identifier": proto, "name": "default"}}]


def test_gnmi_path_keys_module_prefixes_and_json_values() -> None:
    isis = [*_ni("ISIS"), {"name": "openconfig-isis:isis"}, {"name": "interfaces"}]

    def lvl(iface: str, level: int, afi: str = "IPV4", safi: str = "UNICAST") -> list[dict[str, Any]]:
        return [{"name": "interface", "key": {"interface-id": iface}}, {"name": "levels"},
                {"name": "level", "key": {"level-number": str(level)}},
                {"name": "af", "key": {"afi-name": afi, "safi-name": safi}}, {"name": "state"}, {"name": "metric"}]

    msg = _gnmi(isis, [
        (lvl("Ethernet1", 2), {"uintVal": "10"}),
        (lvl("Ethernet1", 1), {"uintVal": "99"}),  # level 1: ignored
        (lvl("Ethernet2", 2, "openconfig-isis-types:IPV4", "openconfig-isis-types:UNICAST"), {"uintVal": 20}),
        (lvl("Ethernet3", 2, "openconfig-isis-types:IPV6"), {"uintVal": "30"}),  # IPv6: ignored
        (lvl("Ethernet4", 2), {"uintVal": "0"}),  # bad_metric
        # a JSON subtree: the interface's levels as lists, keys inside the elements
        ([{"name": "interface", "key": {"interface-id": "Ethernet5"}}, {"name": "levels"}], {"jsonIetfVal": {
            "openconfig-isis:level": [
                {"level-number": 2, "af": [{"afi-name": "IPV4", "safi-name": "UNICAST", "state": {"metric": 50}},
                                           {"afi-name": "IPV6", "safi-name": "UNICAST", "state": {"metric": 51}}]},
                {"level-number": 1, "af": [{"afi-name": "IPV4", "safi-name": "UNICAST", "state": {"metric": 52}}]},
            ]}}),
    ])  # fmt: skip
    ospf = _gnmi([*_ni("OSPF"), {"name": "ospfv2"}, {"name": "areas"}, {"name": "area", "key": {"identifier": "0"}},
                  {"name": "interfaces"}, {"name": "interface", "key": {"id": "Ethernet6"}}, {"name": "state"}],
                 [([{"name": "metric"}], {"uintVal": "65535"})])  # fmt: skip
    res = decode("gnmi", [msg, ospf])
    assert metrics(res) == {("r1", "Ethernet1"): [10.0], ("r1", "Ethernet2"): [20.0], ("r1", "Ethernet5"): [50.0],
                            ("r1", "Ethernet6"): [65535.0]}  # fmt: skip
    # the JSON subtree's key leaves (level-number, afi-name, safi-name: 6) are leaves the twin does not use
    assert counts(res) == ({"bad_metric": 1}, {"igp_other_topology": 4, "unmapped_leaf": 8})


def test_gnmi_id_key_names_no_interface_outside_igp_paths() -> None:
    """An unrelated leaf under ``…/interface[id=7]/…`` must not become an interface named ``7``."""
    msg = _gnmi([{"name": "components"}, {"name": "component", "key": {"name": "linecard0"}}, {"name": "interfaces"},
                 {"name": "interface", "key": {"id": "7"}}, {"name": "state"}, {"name": "counters"}],
                [([{"name": "in-octets"}], {"uintVal": "5"})])  # fmt: skip
    res = decode("gnmi", [msg])
    assert not len(res.samples) and [r.reason for r in res.rejections] == ["missing_interface"]
    js = orjson.dumps({"update": {"timestamp": str(NOW), "prefix": {"target": "r1"}, "update": [
        {"path": {"elem": [{"name": "system"}]}, "val": {"jsonIetfVal": {"interfaces": {"interface": [
            {"id": 7, "state": {"counters": {"in-octets": "9"}, "metric": 3}}]}}}}]}})  # fmt: skip
    res = decode("gnmi", [js])
    assert "7" not in res.samples.interface.tolist() and not metrics(res)


# ----------------------------------------------------------------------------- Telegraf gnmi


def test_telegraf_gnmi_line_protocol_and_json() -> None:
    state = "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/af/state"
    lines = [
        # default tags: the keys, '-' written '_'; the protocol's name collides with the instance's (long form)
        f"isis,afi_name=IPV4,identifier=ISIS,interface_id=Ethernet1,level_number=2,name=default,path=openconfig:{state},"
        f"safi_name=UNICAST,source=r1 metric=10i 1700000000000000000",
        f"isis,afi_name=IPV4,identifier=ISIS,interface_id=Ethernet2,level_number=1,name=default,path={state},"
        f"safi_name=UNICAST,source=r1 metric=20i 1700000000000000000",  # level 1: ignored
        # prefix_tag_key_with_path = true
        f"isis,af_afi_name=IPV6,af_safi_name=UNICAST,interface_interface_id=Ethernet3,level_level_number=2,"
        f"network_instance_name=default,path={state},source=r1 metric=30i 1700000000000000000",  # IPv6: ignored
        f"isis,af_afi_name=IPV4,af_safi_name=UNICAST,interface_interface_id=Ethernet4,level_level_number=2,"
        f"path={state},source=r1 metric=1.5 1700000000000000000",  # bad_metric
        # OSPFv2: the interface key 'id'
        "ospf,id=Ethernet5,identifier=OSPF,name=default,path=/network-instances/network-instance/protocols/protocol/"
        "ospfv2/areas/area/interfaces/interface/state,source=r2 metric=100i 1700000000000000000",
        # canonical_field_names: the full path as the field
        f"isis,interface_id=Ethernet6,level_number=2,afi_name=IPV4,safi_name=UNICAST,name=default,source=r1 "
        f"{state}/metric=60i 1700000000000000000",
    ]
    res = decode("influx", [("\n".join(lines)).encode()])
    assert metrics(res) == {("r1", "Ethernet1"): [10.0], ("r2", "Ethernet5"): [100.0], ("r1", "Ethernet6"): [60.0]}
    assert counts(res) == ({"bad_metric": 1}, {"igp_other_topology": 2})
    (bad,) = res.rejections
    assert bad.raw.startswith(b"isis,") or bad.raw.startswith(b"isis")
    js = orjson.dumps({"metrics": [{"name": "isis", "timestamp": 1700000000, "fields": {"metric": 10}, "tags": {
        "source": "r1", "path": state, "interface_id": "Ethernet1", "level_number": "2", "afi_name": "IPV4",
        "safi_name": "UNICAST", "name": "default"}}]})  # fmt: skip
    res = decode("telegraf-json", [js])
    assert metrics(res) == {("r1", "Ethernet1"): [10.0]} and counts(res) == ({}, {})


def test_telegraf_bare_metric_and_id_tag_elsewhere() -> None:
    res = decode("influx", [b"ifc,id=7,source=r1 in_octets=5u,metric=3i 1700000000000000000"])
    assert not len(res.samples) and not metrics(res)
    assert [r.reason for r in res.rejections] == ["missing_interface"]


def test_canonical_name_round_trips() -> None:
    js = orjson.dumps({"name": "x", "timestamp": 1700000000, "tags": {"host": "r1", "interface": "Ethernet1"},
                       "fields": {"igp_metric": 10}})  # fmt: skip
    res = decode("telegraf-json", [js])
    assert metrics(res) == {("r1", "Ethernet1"): [10.0]}
    row = next(res.samples.rows())
    again = decode("gnmic", [orjson.dumps({"timestamp": row["ts_ns"], "tags": {"source": row["device"],
                                           "interface_name": row["interface"]}, "values": {row["field"]: 10}})])
    assert metrics(again) == metrics(res)


# ----------------------------------------------------------------------------- Cisco MDT


def test_cisco_mdt_openconfig_igp_paths() -> None:
    def mdt(path: str, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> bytes:
        return orjson.dumps({"node_id_str": "xr1", "encoding_path": path, "msg_timestamp": NOW // 10**6,
                             "data_json": [{"timestamp": NOW // 10**6, "keys": k, "content": c} for k, c in rows]})

    af = "openconfig-network-instance:network-instances/network-instance/protocols/protocol/isis/interfaces/" \
         "interface/levels/level/af/state"
    key = {"name": "default", "identifier": "openconfig-policy-types:ISIS", "interface-id": "Gi0/0/0/0",
           "level-number": 2, "afi-name": "openconfig-isis-types:IPV4", "safi-name": "openconfig-isis-types:UNICAST"}
    msg = mdt(af, [
        (key, {"metric": 10}),
        ({**key, "interface-id": "Gi0/0/0/1", "level-number": 1}, {"metric": 20}),  # level 1: ignored
        ({**key, "interface-id": "Gi0/0/0/2"}, {"metric": "0"}),  # bad_metric
    ])  # fmt: skip
    # keys as a list of one-key objects (the instance's and the protocol's "name" among them)
    ospf = mdt("openconfig-network-instance:network-instances/network-instance/protocols/protocol/ospfv2/areas/area/"
               "interfaces/interface/state",
               [([{"name": "default"}, {"identifier": "0.0.0.0"}, {"id": "Gi0/0/0/3"}], {"metric": 1})])  # type: ignore[list-item]
    res = decode("cisco-mdt", [msg, ospf])
    assert metrics(res) == {("xr1", "Gi0/0/0/0"): [10.0], ("xr1", "Gi0/0/0/3"): [1.0]}
    assert counts(res) == ({"bad_metric": 1}, {"igp_other_topology": 1})


# ----------------------------------------------------------------------------- normalize: links, accounting

INV = Inventory.from_dict({"links": [
    {"id": "r1->r2", "src": "r1", "dst": "r2", "capacity_bps": 1e10, "src_interface": "Ethernet1",
     "dst_interface": "Ethernet1"},
    {"id": "r2->r1", "src": "r2", "dst": "r1", "capacity_bps": 1e10, "src_interface": "Ethernet1",
     "dst_interface": "Ethernet1"},
]})  # fmt: skip


def _rows(res: Any) -> list[tuple[str, str, str, float]]:
    return sorted((r["entity_kind"], r["entity_id"], r["kpi"], r["value"]) for r in res.measurements.rows())


def test_normalize_puts_the_metric_on_the_sending_link_only() -> None:
    res = normalize(decode("gnmic", [TESTBED]).samples, CounterState(), INV)
    assert _rows(res) == [("link", "r1->r2", "igp_metric", 10.0)]  # r1:Ethernet1 also receives r2->r1: no rx_ row
    assert res.stats["records_in"] == res.stats["records_out"] == 1
    res = normalize(decode("gnmic", [TESTBED]).samples, CounterState())
    assert _rows(res) == [("interface", "r1:Ethernet1", "igp_metric", 10.0)]


def test_normalize_refuses_a_bad_metric_from_a_built_batch() -> None:
    b = SampleBatchBuilder()
    for t, v in enumerate([10.0, 0.0, 1.5, 2.0**24, -3.0, math.nan, 16777215.0]):
        b.add("r1", "Ethernet1", "igp_metric", NOW + t * 10**9, 0, v, Kind.GAUGE, 0, False, "test", "lab")
    res = normalize(b.build(), CounterState(), INV)
    assert _rows(res) == [("link", "r1->r2", "igp_metric", 10.0), ("link", "r1->r2", "igp_metric", 16777215.0)]
    s = res.stats
    assert s["rejected_bad_metric"] == 4 and s["rejected_non_finite"] == 1
    assert s["records_in"] == s["records_out"] + s["records_rejected"] + s["records_pending"] == 7
    assert all(r.reason in ("bad_metric", "non_finite") and r.raw.startswith(b"r1 Ethernet1 igp_metric")
               for r in res.rejections)  # fmt: skip


@pytest.mark.parametrize("use_fast", [True, False])
def test_decode_to_measurements_accounting(use_fast: bool) -> None:
    """IGP events beside counter events through decode → normalize: in = out + rejected (ignored included) + pending."""
    dec = GnmicDecoder(CFG, fast=use_fast)
    tally, state = Tally("gnmic"), CounterState()
    ctr = "/interfaces/interface/state/counters/out-octets"
    for t, octets in ((0, 0), (10, 12_500_000)):
        ts = NOW - 60 * 10**9 + t * 10**9
        msgs = [orjson.dumps({"timestamp": ts, "tags": {"source": "r1:57400", "interface_name": "Ethernet1"},
                              "values": {ctr: str(octets)}}),
                orjson.dumps({"timestamp": ts, "tags": ISIS_TAGS, "values": {ISIS: 10, "igp_metric": 10}}),
                orjson.dumps({"timestamp": ts, "tags": {**ISIS_TAGS, "level_level-number": "1"}, "values": {ISIS: 5}}),
                orjson.dumps({"timestamp": ts, "tags": {**ISIS_TAGS, "interface_interface-id": "Ethernet2"},
                              "values": {ISIS: 0, "/system/state/hostname": "r1"}})]  # fmt: skip
        decoded, nres, *_ = run_batch(dec, msgs, state, INV)
        tally.add(decoded, nres, *_)
        assert nres is not None
        assert [r for r in _rows(nres) if r[2] == "igp_metric"] == [("link", "r1->r2", "igp_metric", 10.0)]
    assert tally.identity_holds()
    assert dict(tally.rejected_by_reason) == {"igp_metric_superseded": 2, "igp_other_topology": 2, "bad_metric": 2}
    # per round: 1 counter, 2 + 1 + 1 IGP leaves (a rejected record's unmapped leaf is not counted apart, as before)
    assert tally.records_in == 2 * 5 and tally.pending == 1
