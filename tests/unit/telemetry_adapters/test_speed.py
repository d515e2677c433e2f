"""Interface speed (``speed_bps``): every spelling decodes to bit/s, bad values are counted, and normalize puts the
port's speed on its egress link (``speed_bps``) and its ingress link (``rx_speed_bps``)."""

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
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.normalize import normalize
from twinwatch.telemetry_adapters.paths import FIELD_BITS, FIELD_NAMES, IS_SPEED, SPEED_LEAVES, SPEED_SCALE, map_path
from twinwatch.telemetry_adapters.schema import KPIS, SPEED_FIELDS, Kind, SampleBatchBuilder
from twinwatch.telemetry_adapters.speed import NAMED, SPEED_KPIS, UNKNOWN, speed_bps, speed_rejection

from .test_schema_conformance import check_samples

NOW = 1_700_000_000_000_000_000
CFG = DecoderConfig(network="lab", now_ns=NOW)
OC = "/interfaces/interface/"
CTR = OC + "state/counters/"
G = 1e9


def decode(fmt: str, messages: list[bytes], fast: bool = True) -> DecodeResult:
    dec = GnmicDecoder(CFG, fast=fast) if fmt == "gnmic" else get_decoder(fmt, CFG)
    res = dec.decode_batch(messages)
    check_samples(res.samples)
    return res


def speeds(res: DecodeResult) -> dict[str, list[float]]:
    """interface → its speed rows' values (asserting each is a gauge row with value_u64 0)."""
    out: dict[str, list[float]] = {}
    for r in res.samples.rows():
        if r["field"] == "speed_bps":
            assert r["kind"] == Kind.GAUGE and r["value_u64"] == 0
            out.setdefault(r["interface"], []).append(r["value_f64"])
    return out


def counts(res: DecodeResult) -> tuple[dict[str, int], dict[str, int]]:
    return dict(res.stats.counts), dict(res.ignored)


def gnmic_event(values: dict[str, Any], iface: str = "Port-Channel1", ts: int = NOW, device: str = "r1") -> bytes:
    return orjson.dumps({"name": "twinwatch-testbed", "timestamp": ts,
                         "tags": {"source": f"{device}:57400", "interface_name": iface}, "values": values})


# ----------------------------------------------------------------------------- the value parser and the table


@pytest.mark.parametrize(
    ("value", "scale", "bps"),
    [
        ("SPEED_10MB", NAMED, 10e6), ("SPEED_100MB", NAMED, 100e6), ("SPEED_1GB", NAMED, 1 * G),
        ("SPEED_2500MB", NAMED, 2.5 * G), ("SPEED_5GB", NAMED, 5 * G), ("SPEED_10GB", NAMED, 10 * G),
        ("SPEED_25GB", NAMED, 25 * G), ("SPEED_40GB", NAMED, 40 * G), ("SPEED_50GB", NAMED, 50 * G),
        ("SPEED_100GB", NAMED, 100 * G), ("SPEED_200GB", NAMED, 200 * G), ("SPEED_400GB", NAMED, 400 * G),
        ("SPEED_600GB", NAMED, 600 * G), ("SPEED_800GB", NAMED, 800 * G),
        ("openconfig-if-ethernet:SPEED_10GB", NAMED, 10 * G), ("oc-eth:SPEED_100GB", NAMED, 100 * G),
        ("speed_25gb", NAMED, 25 * G), ("speed-10gb", NAMED, 10 * G),  # IOS XE ether-state enum spelling
        ("100M", NAMED, 100e6), ("1G", NAMED, 1 * G), ("10G", NAMED, 10 * G), ("25G", NAMED, 25 * G),
        ("40G", NAMED, 40 * G), ("100G", NAMED, 100 * G), ("400G", NAMED, 400 * G),  # NX-OS operSpeed
        (20000, 1e6, 20 * G), ("20000", 1e6, 20 * G), (1000000000, 1.0, 1 * G), (100000000, 1e3, 100 * G),
        (1.25e9, 8.0, 10 * G), ("1250000000", 8.0, 10 * G), (2.5, 1e6, 2.5e6),
    ],
)  # fmt: skip
def test_speed_values(value: Any, scale: float, bps: float) -> None:
    assert speed_bps(value, scale) == bps


@pytest.mark.parametrize(
    ("value", "scale", "reason"),
    [
        ("SPEED_UNKNOWN", NAMED, None), ("openconfig-if-ethernet:SPEED_UNKNOWN", NAMED, None), ("auto", NAMED, None),
        ("unknown", NAMED, None), (4294967295, 1.0, None), ("4294967295", 1.0, None),  # unknown: ignored
        (0, 1e6, None), ("0", 1.0, None), (-0.0, 1e3, None),  # no speed to report (a LAG with no member up)
        ("SPEED_3GB", NAMED, "unknown_enum"), ("fast", NAMED, "unknown_enum"), (10, NAMED, "unknown_enum"),
        (True, NAMED, "unknown_enum"), ([1], NAMED, "unknown_enum"),
        (-5, 1.0, "bad_speed"), ("-1", 1e6, "bad_speed"), (999, 1.0, "bad_speed"), (1e-301, 8.0, "bad_speed"),
        (math.nan, 1.0, "non_finite"), (math.inf, 1e6, "non_finite"), ("nan", 1.0, "non_finite"),
        (10**400, 1.0, "non_finite"), (1e308, 8.0, "non_finite"),
        ("fast", 1e6, "wrong_type"), ("", 1.0, "wrong_type"), (True, 1e6, "wrong_type"), (None, 1.0, "wrong_type"),
        ({"v": 1}, 1.0, "wrong_type"),
    ],
)  # fmt: skip
def test_values_that_give_no_speed(value: Any, scale: float, reason: str | None) -> None:
    got = speed_bps(value, scale)
    if reason is None:
        assert got is UNKNOWN
    else:
        assert got is None
        why, detail = speed_rejection("leaf", value, scale)
        assert why == reason and "'leaf'" in detail


@pytest.mark.parametrize(
    ("path", "scale"),
    [
        (OC + "aggregation/state/lag-speed", 1e6), ("lag_speed", 1e6),  # Telegraf gnmi field
        ("/interfaces/interface/aggregation/state/lag_speed", 1e6),
        ("/oc-if:interfaces/oc-if:interface[name=et-1]/oc-eth:ethernet/oc-eth:state/oc-eth:port-speed", NAMED),
        (OC + "ethernet/state/negotiated-port-speed", NAMED), ("negotiated_port_speed", NAMED),
        ("ifHighSpeed", 1e6), ("ifSpeed", 1.0), ("sys/intf/phys-[eth1/1]/phys/operSpeed", NAMED),
        ("Cisco-IOS-XE-interfaces-oper:interfaces/interface/speed", 1.0),
        ("/Cisco-IOS-XE-interfaces-oper:interfaces/interface[name=GigabitEthernet1]/speed", 1.0),
        ("/interfaces-ios-xe-oper:interfaces/interface[name=GigabitEthernet1]/speed", 1.0),
        ("Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface/speed", 1e3),
        ("Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface[interface-name=Hu0/0/0/0]/bandwidth", 1e3),
        ("hw.network.bandwidth.limit", 8.0), ("speed_bps", 1.0),
    ],
)  # fmt: skip
def test_every_spelling_maps_to_speed_with_its_unit(path: str, scale: float) -> None:
    code = map_path(path)
    assert code >= 0 and FIELD_NAMES[code] == "speed_bps" and FIELD_BITS[code] == 0  # a gauge, never a counter
    assert IS_SPEED[code] and SPEED_SCALE[code] == scale


@pytest.mark.parametrize(
    "path",
    [
        "speed", "bandwidth", "/interfaces/interface/state/speed", "/interfaces/interface/ethernet/state/speed",
        "Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface/ethernet-information/speed",  # nested
        "Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-briefs/interface-brief/bandwidth",
        "openconfig-interfaces:interfaces/interface/speed", "/interfaces/interface[name=Gi1]/speed",  # no IOS XE module
        "/qos/interfaces/interface/lag-speed",  # excluded paths stay excluded
    ],
)  # fmt: skip
def test_generic_speed_leaves_map_only_inside_their_model(path: str) -> None:
    assert map_path(path) < 0


def test_table_order_is_the_preference() -> None:
    """The codes follow SPEED_LEAVES, so a lower code is the preferred spelling of one record."""
    codes = [map_path(p) for p in ("negotiated-port-speed", "port-speed", "ifHighSpeed", "ifSpeed")]
    assert codes == sorted(codes)
    assert [sp for sp, _ in SPEED_LEAVES[:2]] == ["negotiated-port-speed", "port-speed"]
    assert SPEED_FIELDS == ("speed_bps",) and SPEED_KPIS == ("speed_bps", "rx_speed_bps")
    assert all(KPIS[k] == "bit/s" for k in SPEED_KPIS)
    assert {Reason.SPEED_UNKNOWN, Reason.SPEED_SUPERSEDED} <= BENIGN_REASONS and Reason.BAD_SPEED not in BENIGN_REASONS


# ----------------------------------------------------------------------------- decoders, format by format


def test_gnmic_simulator_lag_speed_beside_counters_takes_the_fast_path() -> None:
    """The project's simulator: lag-speed 20000 (Mb/s) beside the counters → 2e10 bit/s, decoded by the numba path."""
    lag = OC + "aggregation/state/lag-speed"
    msg = gnmic_event({CTR + "in-octets": "1000", CTR + "out-octets": "2000", lag: 20000})
    dec = GnmicDecoder(CFG)
    fast = fast_decode(dec, [msg])
    assert fast is not None and len(fast[2]) == 0  # nothing left for the general path
    for use_fast in (True, False):
        res = decode("gnmic", [msg], fast=use_fast)
        assert [(r["field"], r["value_f64"]) for r in res.samples.rows()] == [
            ("rx_octets", 1000.0), ("tx_octets", 2000.0), ("speed_bps", 2e10)]  # fmt: skip
        assert res.samples.device.tolist() == ["r1"] * 3 and counts(res) == ({}, {})


def test_gnmic_port_speed_identities() -> None:
    eth = OC + "ethernet/state/"
    msgs = [
        gnmic_event({eth + "port-speed": "openconfig-if-ethernet:SPEED_100GB"}, "et-1"),
        # both in one event: negotiated wins, port-speed is counted as superseded (ignored), one row
        gnmic_event({eth + "port-speed": "SPEED_100GB", eth + "negotiated-port-speed": "SPEED_25GB"}, "et-2"),
        gnmic_event({eth + "port-speed": "SPEED_UNKNOWN"}, "et-3"),  # ignored
        gnmic_event({eth + "negotiated-port-speed": "SPEED_3GB", CTR + "in-octets": "5"}, "et-4"),  # unknown_enum
        gnmic_event({eth + "negotiated-port-speed": "SPEED_UNKNOWN", eth + "port-speed": "SPEED_10GB"}, "et-5"),
        gnmic_event({OC + "aggregation/state/lag-speed": 0}, "Port-Channel2"),  # no member up: ignored
        gnmic_event({OC + "aggregation/state/lag-speed": -1}, "Port-Channel3"),  # bad_speed
    ]
    for use_fast in (True, False):
        res = decode("gnmic", msgs, fast=use_fast)
        assert speeds(res) == {"et-1": [100 * G], "et-2": [25 * G], "et-5": [10 * G]}
        assert counts(res) == ({"unknown_enum": 1, "bad_speed": 1}, {"speed_superseded": 1, "speed_unknown": 3})
        assert res.records == 10  # 10 leaves: 4 rows (3 speeds, 1 counter), 2 rejected, 4 ignored
        assert len(res.samples) == 4 and res.samples.field.tolist().count("rx_octets") == 1


def test_gnmic_unusual_speed_values_agree_on_both_paths() -> None:
    lag = OC + "aggregation/state/lag-speed"
    vals: list[Any] = [20000, "20000", 4294967295, 2**40, 2**60, "1e3", 1.5, -1, True, None, [1], {"a": 1}, "x"]
    msgs = [gnmic_event({CTR + "in-octets": str(k), lag: v}, f"e{k}") for k, v in enumerate(vals)]
    msgs.append(gnmic_event({lag: 100, "ifHighSpeed": 200, "ifSpeed": 5000}, "two"))  # one record, three speeds
    msgs.append(gnmic_event({CTR + "in-octets": "1", "ifSpeed": 5}, "slow"))  # below 1 kb/s: refused, both paths
    a, b = (decode("gnmic", msgs, fast=f) for f in (True, False))
    assert [tuple(r.values()) for r in a.samples.rows()] == [tuple(r.values()) for r in b.samples.rows()]
    assert counts(a) == counts(b)
    assert speeds(a)["two"] == [100e6] and a.ignored["speed_superseded"] == 2
    assert "slow" not in speeds(a) and any(r.reason == "bad_speed" and "below 1000" in r.detail for r in a.rejections)
    assert speeds(a)["e3"] == [2**40 * 1e6] and speeds(a)["e6"] == [1.5e6]


def test_telegraf_snmp_if_high_speed_and_if_speed() -> None:
    lines = [
        # the simulator's line: ifHighSpeed beside the ifTable counters
        b"interface,agent_host=r1,ifName=Gi0/1 ifInOctets=100i,ifOutOctets=200i,ifHighSpeed=20000i 1700000000000000000",
        b"interface,agent_host=r1,ifName=Gi0/2 ifHighSpeed=10000i,ifSpeed=4294967295i 1700000000000000000",
        b"interface,agent_host=r1,ifName=Gi0/3 ifSpeed=1000000000i,ifHighSpeed=1000i 1700000000000000000",
        b"interface,agent_host=r1,ifName=Gi0/4 ifSpeed=100000000i 1700000000000000000",
        b"interface,agent_host=r1,ifName=Gi0/5 ifSpeed=4294967295i 1700000000000000000",  # saturated, alone
        b"interface,agent_host=r1,ifName=Gi0/6 ifHighSpeed=0i,ifHCInOctets=5u 1700000000000000000",  # no speed
        b"interface,agent_host=r1,ifName=Gi0/7 ifHighSpeed=-1i,ifHCInOctets=5u 1700000000000000000",  # bad_speed
    ]
    res = decode("influx", [b"\n".join(lines)])
    assert speeds(res) == {"Gi0/1": [20 * G], "Gi0/2": [10 * G], "Gi0/3": [1 * G], "Gi0/4": [0.1 * G]}
    assert counts(res) == ({"bad_speed": 1}, {"speed_unknown": 3, "speed_superseded": 1})
    (bad,) = res.rejections
    assert "'ifHighSpeed'" in bad.detail and bad.raw.startswith(b"interface,")


def test_telegraf_gnmi_lag_speed_line_and_json() -> None:
    lines = [
        b"ifcounters,name=Port-Channel1,source=r1 in_octets=10u,out_octets=20u,lag_speed=20000i 1700000000000000000",
        b"lag,name=Port-Channel2,path=/interfaces/interface/aggregation/state,source=r1 lag_speed=40000i "
        b"1700000000000000000",
        b'ifstate,name=et-1,source=r1 negotiated_port_speed="SPEED_25GB",port_speed="SPEED_100GB" 1700000000000000000',
    ]
    res = decode("influx", [b"\n".join(lines)])
    assert speeds(res) == {"Port-Channel1": [20 * G], "Port-Channel2": [40 * G], "et-1": [25 * G]}
    assert counts(res) == ({}, {"speed_superseded": 1})
    js = orjson.dumps({"metrics": [{"name": "interface", "tags": {"agent_host": "r1", "ifName": "Gi0/1"},
                                    "fields": {"ifHCInOctets": 1, "ifHighSpeed": 100000}, "timestamp": 1700000000}]})
    res = decode("telegraf-json", [js])
    assert speeds(res) == {"Gi0/1": [100 * G]} and counts(res) == ({}, {})


def test_gnmi_port_speed_json_ietf() -> None:
    msg = orjson.dumps({"update": {"timestamp": str(NOW), "prefix": {"target": "leaf1", "elem": [
        {"name": "interfaces"}, {"name": "interface", "key": {"name": "Ethernet1"}}, {"name": "ethernet"},
        {"name": "state"}]}, "update": [
        {"path": {"elem": [{"name": "port-speed"}]}, "val": {"stringVal": "openconfig-if-ethernet:SPEED_40GB"}},
        {"path": {"elem": [{"name": "negotiated-port-speed"}]}, "val": {"stringVal": "SPEED_UNKNOWN"}}]}})  # fmt: skip
    res = decode("gnmi", [msg])
    assert speeds(res) == {"Ethernet1": [40 * G]} and counts(res) == ({}, {"speed_unknown": 1})


def _xr(path: str, rows: list[tuple[str, dict[str, Any]]]) -> bytes:
    return orjson.dumps({"node_id_str": "xr1", "encoding_path": path, "msg_timestamp": NOW // 10**6,
                         "data_json": [{"timestamp": NOW // 10**6, "keys": {"interface-name": i}, "content": c}
                                       for i, c in rows]})  # fmt: skip


def test_cisco_ios_xr_and_xe_speed_only_in_their_models() -> None:
    xr = _xr("Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface", [
        ("HundredGigE0/0/0/0", {"speed": 100000000, "bandwidth": 100000000, "state": "im-state-up"}),  # kbit/s
        ("Bundle-Ether1", {"bandwidth": "200000000", "ethernet-information": {"speed": "ethernet-speed-100gbps"}}),
    ])  # fmt: skip
    xe = _xr("Cisco-IOS-XE-interfaces-oper:interfaces/interface", [("GigabitEthernet1", {"speed": "1000000000"})])
    other = _xr("openconfig-interfaces:interfaces/interface/state", [("Ethernet9", {"speed": 10, "in-octets": "1"})])
    res = decode("cisco-mdt", [xr, xe, other])
    assert speeds(res) == {"HundredGigE0/0/0/0": [100 * G], "Bundle-Ether1": [200 * G], "GigabitEthernet1": [1 * G]}
    # XR: bandwidth beside speed is superseded; the nested ethernet-information/speed and the bare speed map to nothing
    assert counts(res) == ({}, {"speed_superseded": 1, "unmapped_leaf": 2})


def test_cisco_nxos_dme_oper_speed() -> None:
    def phys(port: str, speed: str) -> dict[str, Any]:
        attrs = [{"name": "dn", "stringValue": f"sys/intf/phys-[{port}]/phys"},
                 {"name": "operSt", "stringValue": "up"}, {"name": "operSpeed", "stringValue": speed}]  # fmt: skip
        return {"fields": [{"name": "keys", "fields": [{"name": "dn", "stringValue": f"sys/intf/phys-[{port}]"}]},
                           {"name": "content", "fields": [{"fields": [{"name": "ethpmPhysIf", "fields": [
                               {"fields": [{"name": "attributes", "fields": [{"fields": attrs}]}]}]}]}]}]}  # fmt: skip

    msg = orjson.dumps({"nodeIdStr": "n9k", "encodingPath": "sys/intf", "msgTimestamp": str(NOW // 10**6),
                        "dataGpbkv": [phys("eth1/1", "100G"), phys("eth1/2", "auto"), phys("eth1/3", "7G")]})
    res = decode("cisco-mdt", [msg])
    assert speeds(res) == {"eth1/1": [100 * G]}
    assert counts(res)[0] == {"unknown_enum": 1} and counts(res)[1]["speed_unknown"] == 1


def _otlp(points: list[tuple[str, Any]], instrument: str = "gauge") -> bytes:
    dps = [{"timeUnixNano": str(NOW), "attributes": [{"key": "network.interface.name", "value": {"stringValue": i}}],
            **({"asDouble": v} if isinstance(v, float) else {"asInt": v})} for i, v in points]  # fmt: skip
    body: dict[str, Any] = {"dataPoints": dps}
    if instrument == "sum":
        body.update(aggregationTemporality=2, isMonotonic=False)
    return orjson.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "srv1"}}]},
        "scopeMetrics": [{"metrics": [{"name": "hw.network.bandwidth.limit", "unit": "By/s", instrument: body}]}]}]})


def test_otlp_hw_network_bandwidth_limit() -> None:
    res = decode("otlp", [_otlp([("eth0", "1250000000"), ("eth1", 3.125e9), ("eth2", "-8"), ("eth3", "x"),
                                 ("eth4", "4294967295")]), _otlp([("eth5", "125000000")], "sum")])  # fmt: skip
    assert speeds(res) == {"eth0": [10 * G], "eth1": [25 * G], "eth5": [1 * G]}
    assert counts(res) == ({"bad_speed": 1, "wrong_type": 1}, {"speed_unknown": 1})
    assert {r.reason for r in res.rejections} == {"bad_speed", "wrong_type"}
    assert all("hw.network.bandwidth.limit" in r.detail for r in res.rejections)


# ----------------------------------------------------------------------------- normalize: links, accounting

INV = Inventory.from_dict({"links": [
    {"id": "a->b", "src": "a", "dst": "b", "capacity_bps": 1e10, "src_interface": "Ethernet1/1",
     "dst_interface": "xe-0/0/0"},
    {"id": "b->a", "src": "b", "dst": "a", "capacity_bps": 1e10, "src_interface": "xe-0/0/0",
     "dst_interface": "Ethernet1/1"},
    {"id": "a->c", "src": "a", "dst": "c", "capacity_bps": 1e10, "src_interface": "Ethernet1/2"},  # one-way
]})  # fmt: skip


def _rows(res: Any) -> list[tuple[str, str, str, float]]:
    return sorted((r["entity_kind"], r["entity_id"], r["kpi"], r["value"]) for r in res.measurements.rows())


def _batch(rows: list[tuple[str, str, float, int]]) -> Any:
    b = SampleBatchBuilder()
    for dev, ifc, v, t in rows:
        b.add(dev, ifc, "speed_bps", NOW + t * 10**9, 0, v, Kind.GAUGE, 0, False, "test", "lab")
    return b.build()


def test_speed_reaches_both_links_of_the_port() -> None:
    """a:Eth1/1 is the source of a->b (``speed_bps``) and the destination of b->a (``rx_speed_bps``);
    a:Eth1/2 sends only (no ingress link: no rx row); c:et-9 is not in the inventory (its interface entity)."""
    state = CounterState()
    for t in (0, 10):  # a gauge: the same value again is a row again (no rate, no duplicate, no wrap)
        res = normalize(_batch([("a", "Eth1/1", 25e9, t), ("b", "xe-0/0/0", 1e10, t), ("a", "Eth1/2", 4e10, t),
                                ("c", "et-9", 1e11, t)]), state, INV)  # fmt: skip
        assert _rows(res) == sorted([
            ("link", "a->b", "speed_bps", 25e9), ("link", "b->a", "rx_speed_bps", 25e9),
            ("link", "b->a", "speed_bps", 1e10), ("link", "a->b", "rx_speed_bps", 1e10),
            ("link", "a->c", "speed_bps", 4e10),
            ("interface", "c:et-9", "speed_bps", 1e11),
        ])  # fmt: skip
        assert res.stats["records_in"] == res.stats["records_out"] == 4 and res.stats["measurements"] == 6
        assert res.stats["rejected_unmapped_entity"] == 1 and res.stats["records_rejected"] == 0
        assert "utilization" not in {r[2] for r in _rows(res)}


def test_speed_without_an_inventory_stays_on_the_interface() -> None:
    res = normalize(_batch([("a", "Eth1/1", 1e9, 0)]), CounterState())
    assert _rows(res) == [("interface", "a:Ethernet1/1", "speed_bps", 1e9)]  # the normalised interface name


def test_normalize_refuses_a_speed_below_1_kbps_from_a_built_batch() -> None:
    res = normalize(_batch([("a", "Eth1/1", 0.0, 0), ("a", "Eth1/1", -1.0, 1), ("a", "Eth1/1", 1e9, 2),
                            ("a", "Eth1/1", math.nan, 3), ("a", "Eth1/1", 500.0, 4)]), CounterState(), INV)  # fmt: skip
    assert _rows(res) == [("link", "a->b", "speed_bps", 1e9), ("link", "b->a", "rx_speed_bps", 1e9)]
    assert res.stats["rejected_bad_speed"] == 3 and res.stats["rejected_non_finite"] == 1
    s = res.stats
    assert s["records_in"] == s["records_out"] + s["records_rejected"] + s["records_pending"] == 5


@pytest.mark.parametrize("use_fast", [True, False])
def test_decode_to_measurements_accounting(use_fast: bool) -> None:
    """Simulator gnmic events through decode → normalize with the inventory: every record is out, rejected
    (ignored included) or pending, and the speed rows land on both links of the port."""
    eth = OC + "ethernet/state/"
    dec = GnmicDecoder(CFG, fast=use_fast)
    tally, state = Tally("gnmic"), CounterState()
    for t, octets in ((0, 0), (10, 12_500_000)):
        ts = NOW - 60 * 10**9 + t * 10**9
        msgs = [gnmic_event({CTR + "out-octets": str(octets), OC + "aggregation/state/lag-speed": 20000},
                            "Ethernet1/1", ts, "a"),
                gnmic_event({eth + "port-speed": "SPEED_10GB", eth + "negotiated-port-speed": "SPEED_10GB",
                             CTR + "in-octets": str(octets)}, "xe-0/0/0", ts, "b"),
                gnmic_event({eth + "port-speed": "SPEED_UNKNOWN", eth + "negotiated-port-speed": 0}, "et-9", ts, "c")]
        decoded, nres, *_ = run_batch(dec, msgs, state, INV)
        tally.add(decoded, nres, *_)
        assert nres is not None
        got = {(r[1], r[2]): r[3] for r in _rows(nres) if "speed" in r[2]}
        assert got == {("a->b", "speed_bps"): 2e10, ("b->a", "rx_speed_bps"): 2e10,
                       ("b->a", "speed_bps"): 1e10, ("a->b", "rx_speed_bps"): 1e10}  # fmt: skip
    assert tally.identity_holds()
    assert tally.rejected_by_reason == {"speed_superseded": 2, "speed_unknown": 2, "unknown_enum": 2}
