"""The real telemetry captures in ../shared/data/telemetry, read in place (skipped when absent).

- every telegraf-gnmi capture decodes (gNMI ``responses.json`` and the line protocol Telegraf made of it);
- the line protocol round-trips into the same samples as the gNMI capture it came from;
- every Cisco MDT packet, the OTLP example and the gnmic / goflow2 documentation examples decode
  with every message accounted for; exact values are checked for a few fields per format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from twinwatch.telemetry_adapters import get_decoder
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.schema import SampleBatch

CFG = DecoderConfig(network="lab", max_age_s=None, max_future_skew_s=None)
#: most captured gNMI responses name no prefix.target: a gNMI decoder needs a default device (issue 14)
GNMI_CFG = DecoderConfig(network="lab", max_age_s=None, max_future_skew_s=None, default_device="dut")
#: the telegraf-gnmi captures that carry interface counters
COUNTER_CAPTURES = {
    "canonical_field_names": 2,
    "canonical_field_names_trim": 2,
    "issue_13512": 2,
    "issue_14063": 13,
    "issue_14530": 14,
    "issue_16476": 13,
}
#: the telegraf-gnmi captures that carry interface oper-status (issue 9): rows of link state
LINK_STATE_CAPTURES = {
    "tagging_name_based": 5,  # OpenConfig subinterface oper-status, stringVal UP / LOWER_LAYER_DOWN
    "tagging_subinterfaces": 3,
    "issue_17412": 1,  # Huawei huawei-ifm .../dynamic/oper-status, jsonVal "down"
}


def _key(b: SampleBatch) -> list[tuple[Any, ...]]:
    cols = (b.interface, b.field, b.ts_ns, b.value_u64, b.value_f64, b.kind, b.has_epoch, b.epoch_ns)
    return sorted(zip(*(c.tolist() for c in cols), strict=True))


def _gnmi_dirs(shared_data: Path) -> list[Path]:
    root = shared_data / "telemetry" / "telegraf-gnmi"
    if not root.exists():
        pytest.skip(f"needs {root}")
    return sorted(p for p in root.iterdir() if (p / "responses.json").exists())


def test_every_gnmi_capture_decodes_and_round_trips(shared_data: Path) -> None:
    gnmi, line = get_decoder("gnmi", GNMI_CFG), get_decoder("influx", CFG)
    seen = set()
    for d in _gnmi_dirs(shared_data):
        rg = gnmi.decode_batch([(d / "responses.json").read_bytes()])
        rl = line.decode_batch([(d / "expected.out").read_bytes()])
        for res in (rg, rl):
            assert len(res.samples) + len(res.rejections) >= 1, d.name
        if len(rg.samples):
            seen.add(d.name)
            assert len(rg.samples) == {**COUNTER_CAPTURES, **LINK_STATE_CAPTURES}[d.name], d.name
            # description leaves beside the oper-status ones are reported (unknown_path / empty), not dropped
            assert not rg.rejections or {r.reason for r in rg.rejections} <= {"empty", "unknown_path"}, d.name
        assert _key(rg.samples) == _key(rl.samples), f"{d.name}: line protocol != gNMI capture"
    assert seen == set(COUNTER_CAPTURES) | set(LINK_STATE_CAPTURES)


def test_gnmi_oper_status_matches_telegraf(shared_data: Path) -> None:
    """Real device oper-status, two independent decodings: our gNMI decoder on the captured responses vs the
    value Telegraf itself wrote in its line protocol (``oper_status="UP"`` / ``"LOWER_LAYER_DOWN"`` /
    ``"down"``), read here with a regex, not with our decoders. UP is 1.0; LOWER_LAYER_DOWN and down are 0.0."""
    root = shared_data / "telemetry" / "telegraf-gnmi"
    if not root.exists():
        pytest.skip(f"needs {root}")
    want: dict[tuple[str, str, int], float] = {}
    got: dict[tuple[str, str, int], float] = {}
    for name_ in LINK_STATE_CAPTURES:
        d = root / name_
        for line in (d / "expected.out").read_text().splitlines():
            st = re.search(r' oper_status="([^"]+)" (\d+)$', line)
            if st is None:
                continue
            name, index = re.search(r",name=([^, ]+)", line), re.search(r",index=(\d+)", line)
            assert name is not None, line
            iface = name.group(1) + (f".{index.group(1)}" if index else "")
            want[(name_, iface, int(st.group(2)))] = 1.0 if st.group(1).upper() == "UP" else 0.0
        res = get_decoder("gnmi", GNMI_CFG).decode_batch([(d / "responses.json").read_bytes()])
        got.update({(name_, r["interface"], r["ts_ns"]): r["value_f64"] for r in res.samples.rows()
                    if r["field"] == "oper_status"})
    assert sum(LINK_STATE_CAPTURES.values()) == len(want) == len(got)
    assert got == want
    assert sorted(set(want.values())) == [0.0, 1.0]  # the captures hold both states


def test_snmp_doc_if_oper_status(shared_data: Path) -> None:
    """Telegraf's SNMP documentation example (a real ``ifTable`` walk): ``ifOperStatus=1i``, ``ifAdminStatus=1i``
    on wlan0, eth0 and lo → one up row of each per interface."""
    p = shared_data / "telemetry" / "telegraf-docs" / "inputs_snmp_README.md"
    if not p.exists():
        pytest.skip(f"needs {p}")
    lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip().startswith("interface,agent_host=")]
    assert lines
    res = get_decoder("influx", CFG).decode_batch([ln.encode() for ln in lines])
    state = {(r["interface"], r["field"]): r["value_f64"] for r in res.samples.rows()
             if r["field"] in ("oper_status", "admin_status")}
    assert state == {(i, f): 1.0 for i in ("wlan0", "eth0", "lo") for f in ("oper_status", "admin_status")}


def test_gnmi_exact_values(shared_data: Path) -> None:
    root = shared_data / "telemetry" / "telegraf-gnmi"
    if not root.exists():
        pytest.skip(f"needs {root}")
    dec = get_decoder("gnmi", GNMI_CFG)
    rows = {(r["interface"], r["field"]): r for r in
            dec.decode_batch([(root / "issue_16476" / "responses.json").read_bytes()]).samples.rows()}
    assert rows[("1", "rx_octets")]["value_u64"] == 95890972327359
    assert rows[("1", "tx_octets")]["value_u64"] == 885293268981054
    assert rows[("1", "rx_discards")]["value_u64"] == 236
    assert rows[("1", "rx_octets")]["epoch_ns"] == 1679547185677412529  # last-clear
    assert rows[("1", "rx_octets")]["ts_ns"] == 1739206587847000000
    rows = {(r["interface"], r["field"]): r for r in
            dec.decode_batch([(root / "issue_14530" / "responses.json").read_bytes()]).samples.rows()}
    assert set(f for _, f in rows) >= {"rx_octets", "tx_octets", "rx_discards", "tx_errors", "rx_broadcast_pkts"}
    assert rows[("Ethernet35", "rx_octets")]["ts_ns"] == 1704442117721474264
    rows = {(r["interface"], r["field"]): r for r in
            dec.decode_batch([(root / "canonical_field_names" / "responses.json").read_bytes()]).samples.rows()}
    assert rows[("eth42", "rx_pkts")]["value_u64"] == 5678 and rows[("eth42", "tx_pkts")]["value_u64"] == 5125


def test_line_protocol_exact_values(shared_data: Path) -> None:
    p = shared_data / "telemetry" / "telegraf-gnmi" / "issue_14063" / "expected.out"
    if not p.exists():
        pytest.skip(f"needs {p}")
    res = get_decoder("influx", CFG).decode_batch([p.read_bytes()])
    rows = {r["field"]: r for r in res.samples.rows()}
    assert rows["rx_octets"]["device"] == "127.0.0.1" and rows["rx_octets"]["interface"] == "1"
    assert rows["rx_octets"]["epoch_ns"] == 1691859140059797458 and rows["rx_octets"]["kind"] == 64


def test_cisco_mdt_packets_decode(shared_data: Path) -> None:
    root = shared_data / "telemetry" / "telegraf-cisco-mdt"
    if not root.exists():
        pytest.skip(f"needs {root}")
    dec = get_decoder("cisco-mdt", CFG)
    packets = sorted(root.glob("*/packet.json"))
    assert packets
    for p in packets:
        res = dec.decode_batch([p.read_bytes()])
        assert len(res.samples) + len(res.rejections) >= 1, p
        # these NX-OS packets carry no interface counters: each is reported, not dropped
        assert {r.reason for r in res.rejections} <= {"unknown_path", "empty"}, p


def test_otlp_example(shared_data: Path) -> None:
    p = shared_data / "telemetry" / "otlp" / "metrics.json"
    if not p.exists():
        pytest.skip(f"needs {p}")
    res = get_decoder("otlp", CFG).decode_batch([p.read_bytes()])
    assert len(res.samples) == 0
    assert res.stats.counts == {"unknown_path": 4}  # my.counter, my.gauge, two histograms: no interface KPIs


def _doc_json_blocks(path: Path) -> list[Any]:
    out = []
    for block in re.findall(r"```json\s*\n(.*?)```", path.read_text(), flags=re.S):
        try:
            out.append(orjson.loads(block))
        except orjson.JSONDecodeError:
            continue
    return out


def test_gnmic_doc_events(shared_data: Path) -> None:
    root = shared_data / "telemetry" / "gnmic"
    if not root.exists():
        pytest.skip(f"needs {root}")
    events = [e for p in sorted(root.glob("*.md")) for e in _doc_json_blocks(p)
              if isinstance(e, dict) and "values" in e and "timestamp" in e]
    assert events
    res = get_decoder("gnmic", CFG).decode_batch([orjson.dumps(e) for e in events])
    assert len(res.samples) > 0
    rows = [r for r in res.samples.rows() if r["interface"] == "mgmt0" and r["field"] == "rx_octets"]
    assert rows and all(r["value_u64"] == 65382630 and r["device"] == "172.23.23.2" for r in rows)
    assert all(r["ts_ns"] == 1607291271894072397 for r in rows)


def test_goflow2_doc_record(shared_data: Path) -> None:
    p = shared_data / "telemetry" / "goflow2" / "README.md"
    if not p.exists():
        pytest.skip(f"needs {p}")
    recs = [e for e in _doc_json_blocks(p) if isinstance(e, dict) and "time_received_ns" in e]
    assert recs
    res = get_decoder("goflow2", CFG).decode_batch([orjson.dumps(r) for r in recs])
    row = next(res.flows.rows())
    assert row["bytes"] == 1500 * 100 and row["packets"] == 100 and row["sampling_rate"] == 100
    assert row["src_addr"] == "fd01::1" and row["proto"] == 6 and row["exporter"] == "192.168.0.1"


def test_gnmi_default_device_names_targetless_responses(shared_data: Path) -> None:
    """The device's gNMI responses carry no ``prefix.target``; Telegraf tagged them with the session's
    address (``source=127.0.0.1``). With that as ``default_device`` the rows match the line protocol
    device included; without it they are rejected as ``missing_device``."""
    d = shared_data / "telemetry" / "telegraf-gnmi" / "issue_14063"
    if not d.exists():
        pytest.skip(f"needs {d}")
    raw = (d / "responses.json").read_bytes()
    assert b'"target"' not in raw
    named = DecoderConfig(network="lab", max_age_s=None, max_future_skew_s=None, default_device="127.0.0.1")
    rg = get_decoder("gnmi", named).decode_batch([raw]).samples
    rl = get_decoder("influx", CFG).decode_batch([(d / "expected.out").read_bytes()]).samples
    assert len(rg) == COUNTER_CAPTURES["issue_14063"]
    def with_device(b: SampleBatch) -> list[tuple[Any, ...]]:
        return sorted(zip(b.device.tolist(), b.interface.tolist(), b.field.tolist(), b.value_u64.tolist(), strict=True))

    assert with_device(rg) == with_device(rl)
    # without it, the responses are rejected as missing_device, never rows of device "" (issue 14)
    bare = get_decoder("gnmi", CFG).decode_batch([raw])
    assert len(bare.samples) == 0 and bare.stats.counts["missing_device"] >= 1
