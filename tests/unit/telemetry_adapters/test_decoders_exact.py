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
    assert r[("", "rx_octets", 32)]["epoch_ns"] == (1700000000 - 3600) * 10**9  # sysUpTime 360000 cs
    assert r[("Gi0/0/1", "tx_octets", 64)]["value_u64"] == 77  # ifDescr field names the interface


def test_probes() -> None:
    r = by(rows("probe", "telegraf_ping"), "device", "field")
    assert r[("prober1->10.0.0.5", "delay_s")]["value_f64"] == 0.00125
    assert abs(r[("prober1->10.0.0.5", "jitter_s2")]["value_f64"] - 0.0002**2) < 1e-18
    assert r[("prober1->10.0.0.6", "loss_ratio")]["value_f64"] == 1.0
    own = by(rows("probe", "twinwatch_json"), "device", "field")
    assert own[("r2->r3", "jitter_s2")]["value_f64"] == 0.0005**2 and own[("r2->r3", "loss_ratio")]["value_f64"] == 0


def test_gnmic_subinterface_and_wrap_values() -> None:
    r = rows("gnmic", "openconfig_array_last_clear")
    assert r[0]["value_u64"] == 18446744073709551000 and r[8]["value_u64"] == 2**64 - 1
    assert r[-1]["interface"] == "Ethernet1.100"
    assert by(r, "interface", "field")[("Ethernet2", "rx_octets")]["epoch_ns"] == 1699984800 * 10**9
