"""Exact values per format, spelled out (the golden files pin every row; these say what matters)."""

from __future__ import annotations

from typing import Any

from twinwatch.telemetry_adapters import get_decoder

from ._golden import FIXTURES, Case


def rows(fmt: str, case: str) -> list[dict[str, Any]]:
    c = Case(fmt, case, FIXTURES / fmt / case)
    return list(get_decoder(fmt, c.config()).decode_batch(c.messages()).samples.rows())


def by(rows_: list[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in key): r for r in rows_}


def test_cisco_mdt_xr_generic_counters() -> None:
    r = by(rows("cisco-mdt", "pmacct_xr_generic_counters"), "interface", "field")
    hu = r[("HundredGigE0/0/0/0", "rx_octets")]
    assert hu["device"] == "xr-pe1" and hu["value_u64"] == 98765432100 and hu["kind"] == 64
    assert hu["ts_ns"] == 1699999999990000000  # row timestamp, ms
    assert hu["epoch_ns"] == 1699000000 * 10**9  # last-discontinuity-time beats seconds-since-last-clear
    assert r[("HundredGigE0/0/0/0", "tx_discards")]["value_u64"] == 2  # output-drops
    be = r[("Bundle-Ether1", "rx_octets")]
    assert be["value_u64"] == 2**64 - 1 and be["epoch_ns"] == 1699999900 * 10**9  # round(ts_s - 100)
    assert r[("TenGigE0/0/0/1", "tx_octets")]["value_u64"] == 20  # interface-name inside content


def test_cisco_mdt_nxos_gpbkv() -> None:
    r = by(rows("cisco-mdt", "nxos_gpbkv_dbgifin"), "field")
    assert r[("rx_octets",)]["interface"] == "eth1/1" and r[("rx_octets",)]["value_u64"] == 123456
    assert r[("rx_unicast_pkts",)]["value_u64"] == 1000 and r[("rx_discards",)]["value_u64"] == 4


def test_otlp_temporalities() -> None:
    r = by(rows("otlp", "hostmetrics_network"), "field")
    assert r[("rx_octets",)]["kind"] == 64 and r[("rx_octets",)]["value_u64"] == 123456789012
    assert r[("rx_octets",)]["epoch_ns"] == 1700000000000000000 and r[("rx_octets",)]["has_epoch"]
    assert r[("rx_pkts",)]["kind"] == 1 and r[("rx_pkts",)]["value_u64"] == 1500  # delta over [start, ts]
    assert r[("utilization",)]["kind"] == 0 and r[("utilization",)]["value_f64"] == 0.25
    assert {x["device"] for x in r.values()} == {"edge1"} and r[("tx_octets",)]["interface"] == "eth0"


def test_telegraf_json_and_snmp() -> None:
    r = rows("telegraf-json", "snmp_batch")
    assert [(x["field"], x["value_u64"], x["kind"]) for x in r[:4]] == [
        ("rx_octets", 1000, 64), ("tx_octets", 2000, 64), ("rx_errors", 1, 32), ("tx_discards", 2, 32)
    ]  # fmt: skip
    assert r[4]["ts_ns"] - r[0]["ts_ns"] == 30 * 10**9  # json_timestamp_units 1s guessed
    g = by(rows("telegraf-json", "gnmi_single_ms"), "field")
    assert g[("rx_octets",)]["ts_ns"] == 1739206587847000000  # ms guessed
    assert g[("tx_octets",)]["epoch_ns"] == 1679547185677412529


def test_influx_snmp_counter32_and_uptime() -> None:
    r = by(rows("influx", "snmp_iftable_ifxtable"), "interface", "field", "kind")
    assert r[("Gi0/0/0", "rx_octets", 32)]["value_u64"] == 4294967000
    assert r[("Gi0/0/0", "rx_octets", 64)]["value_u64"] == 8589934592
    assert r[("Gi0/0/2", "rx_octets", 32)]["epoch_ns"] == (1700000000 - 3600) * 10**9  # sysUpTime 360000 cs
    assert r[("Gi0/0/1", "tx_octets", 64)]["value_u64"] == 77  # ifDescr field names the interface
    assert ("", "rx_octets", 32) not in r  # a port's counter naming no port: refused (missing_interface)


def test_probes() -> None:
    r = by(rows("probe", "telegraf_ping"), "device", "field")
    assert r[("prober1->10.0.0.5", "delay_s")]["value_f64"] == 0.00125
    assert abs(r[("prober1->10.0.0.5", "jitter_s2")]["value_f64"] - 0.0002**2) < 1e-18
    assert r[("prober1->10.0.0.6", "loss_ratio")]["value_f64"] == 1.0
    own = by(rows("probe", "twinwatch_json"), "device", "field")
    assert own[("r2->r3", "jitter_s2")]["value_f64"] == 0.0005**2 and own[("r2->r3", "loss_ratio")]["value_f64"] == 0


def test_gnmic_subinterface_and_wrap_values() -> None:
    r = rows("gnmic", "openconfig_array_last_clear")
    c = [x for x in r if x["field"] != "oper_status"]  # counters; the events' oper-status "UP" rows are 1.0
    assert c[0]["value_u64"] == 18446744073709551000 and c[8]["value_u64"] == 2**64 - 1
    assert [x["value_f64"] for x in r if x["field"] == "oper_status"] == [1.0, 1.0, 1.0]
    assert r[-1]["interface"] == "Ethernet1.100"
    assert by(r, "interface", "field")[("Ethernet2", "rx_octets")]["epoch_ns"] == 1699984800 * 10**9


def _state(fmt: str, case: str) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows(fmt, case):
        if r["field"] in ("oper_status", "admin_status"):
            assert r["kind"] == 0 and r["value_u64"] == 0  # a gauge row: the state is in value_f64
            out.setdefault((r["interface"], r["field"]), []).append(r["value_f64"])
    return out


def _counts(fmt: str, case: str) -> tuple[dict[str, int], dict[str, int]]:
    c = Case(fmt, case, FIXTURES / fmt / case)
    res = get_decoder(fmt, c.config()).decode_batch(c.messages())
    return dict(res.stats.counts), dict(res.ignored)


def test_link_state_every_format() -> None:
    """Link state (issue 9), per format: up is 1.0, every state that passes no traffic is 0.0 (RFC 2863), an
    explicit 'unknown' is ignored (counted), a value that names no state is an unknown_enum rejection."""
    # gnmic: OpenConfig enums; DOWN, LOWER_LAYER_DOWN and dormant pass no traffic
    s = _state("gnmic", "link_state")
    assert s[("Ethernet1", "oper_status")] == [1.0] and s[("Ethernet1", "admin_status")] == [1.0]
    assert s[("Ethernet2", "oper_status")] == [0.0] and s[("Ethernet2", "admin_status")] == [1.0]  # LOWER_LAYER_DOWN
    assert s[("Ethernet3", "oper_status")] == [0.0]  # an on-change event with the state alone
    assert s[("Ethernet7", "oper_status")] == [0.0]  # "dormant", lower case
    assert ("Ethernet5", "oper_status") not in s and ("Ethernet6", "oper_status") not in s  # UNKNOWN, FLAPPING
    assert _counts("gnmic", "link_state") == ({"unknown_enum": 1}, {"link_state_unknown": 1})
    # gNMI SubscribeResponse: stringVal (Juniper, after the telegraf capture) and jsonVal "down" (Huawei)
    s = _state("gnmi", "oper_status_link_state")
    assert s == {("xe-0/1/1", "oper_status"): [1.0], ("xe-0/1/1", "admin_status"): [1.0],
                 ("xe-0/1/5", "oper_status"): [0.0], ("Eth-Trunk5", "oper_status"): [0.0]}
    # Telegraf line protocol: IF-MIB codes 1 up, 2 down, 7 lowerLayerDown, 4 unknown, 9 none; gnmi-input strings
    s = _state("influx", "link_state")
    assert s[("Gi0/0/0", "oper_status")] == [1.0] and s[("Gi0/0/1", "oper_status")] == [0.0]
    assert s[("Gi0/0/2", "oper_status")] == [0.0] and s[("Gi0/0/2", "admin_status")] == [0.0]
    assert ("Gi0/0/3", "oper_status") not in s and ("Gi0/0/4", "oper_status") not in s
    assert s[("et-0/0/1", "oper_status")] == [0.0] and s[("et-0/0/1", "admin_status")] == [1.0]
    assert _counts("influx", "link_state") == ({"unknown_enum": 1}, {"link_state_unknown": 1})
    # Cisco IOS XR interface-briefs: state and line-state, both read as oper-status (either down = down)
    s = _state("cisco-mdt", "xr_interface_briefs_state")
    assert s[("HundredGigE0/0/0/0", "oper_status")] == [1.0, 1.0]
    assert s[("HundredGigE0/0/0/1", "oper_status")] == [0.0, 0.0]  # im-state-admin-down
    assert s[("HundredGigE0/0/0/2", "oper_status")] == [1.0, 0.0]  # state up, line-state down
    # OTLP: hw.network.up 1 / 0 (and asDouble 1.0); ifOperStatus carries IF-MIB codes (2 down, 4 unknown)
    s = _state("otlp", "link_state")
    assert s == {("eth0", "oper_status"): [1.0, 0.0], ("eth1", "oper_status"): [0.0], ("eth2", "oper_status"): [1.0]}
    assert _counts("otlp", "link_state") == ({"unknown_enum": 1}, {"link_state_unknown": 1})
