"""Issue 14, the adapters: no record vanishes uncounted, timestamps in the wrong unit and devices that
are missing are refused with stable reasons, the inventory is validated, and the accounting identity
``records_in == out + rejected + pending`` holds for every format on the golden fixtures."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from twinwatch.telemetry_adapters import CounterState, get_decoder
from twinwatch.telemetry_adapters.accounting import Tally, run_batch
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.inventory import Inventory, InventoryError, Link, Port
from twinwatch.telemetry_adapters.normalize import normalize
from twinwatch.telemetry_adapters.schema import Kind, SampleBatchBuilder

from ._golden import FIXTURES, cases

NOW = 1_700_000_000_000_000_000
S = 10**9
CFG = DecoderConfig(network="lab", now_ns=NOW + 3600 * S, max_future_skew_s=60.0, max_age_s=86400.0)
OC = "/interfaces/interface/state/counters/"
#: the eight wire formats of issue 14 (tests/fixtures may hold other folders, e.g. a network-model source)
FORMATS = ("gnmic", "gnmi", "telegraf-json", "influx", "cisco-mdt", "otlp", "goflow2", "probe")


def _ev(values: dict[str, object], ts: int, source: str | None = "r1", iface: str = "Ethernet1") -> bytes:
    tags: dict[str, object] = {"interface_name": iface}
    if source is not None:
        tags["source"] = source
    return orjson.dumps({"name": "s", "timestamp": ts, "tags": tags, "values": values})


def _samples(rows: list[tuple[str, int, int, int]], dev: str = "r1", ifc: str = "Ethernet1") -> object:
    """(field, ts in s after NOW, value, kind) rows → SampleBatch."""
    b = SampleBatchBuilder()
    for fld, t, v, kind in rows:
        b.add(dev, ifc, fld, NOW + t * S, v, float(v), kind, 0, False, "test", "lab")
    return b.build()


def _identity(stats: dict[str, int]) -> bool:
    return stats["records_in"] == stats["records_out"] + stats["records_rejected"] + stats["records_pending"]


# ------------------------------------------------------------------ counter semantics: nothing vanishes
def test_first_sample_is_counted_pending() -> None:
    res = normalize(_samples([("rx_octets", 0, 100, Kind.COUNTER64)]), CounterState())
    assert len(res.measurements) == 0
    assert res.stats["records_pending"] == 1 and res.stats["pending_pending_first_sample"] == 1
    assert _identity(res.stats)


def test_counter_going_down_is_a_counted_rejection() -> None:
    res = normalize(_samples([("rx_octets", 0, 500, Kind.COUNTER64), ("rx_octets", 10, 100, Kind.COUNTER64),
                              ("rx_octets", 20, 1350, Kind.COUNTER64)]), CounterState())  # fmt: skip
    assert res.stats["rejected_counter_decrease"] == 1
    # the decreased value is the new base: the next sample gives (1350 - 100) B * 8 / 10 s
    assert [r["value"] for r in res.measurements.rows()] == [1000.0]
    assert [r.reason for r in res.rejections] == ["counter_decrease"]
    assert _identity(res.stats)


def test_counter32_decrease_too_fast_for_a_wrap_is_a_decrease_not_a_rate() -> None:
    # 4 294 967 000 → 5 in 10 s would be a wrap of 301 B: plausible; with a 1 bit/s capacity it is not
    inv = Inventory([Link("r1->r2", "r1", "r2", 1.0)], {("r1", "Ethernet1"): Port("r1->r2", None, 1.0)})
    res = normalize(_samples([("tx_octets", 0, 4_294_967_000, Kind.COUNTER32), ("tx_octets", 10, 5, Kind.COUNTER32)]),
                    CounterState(), inv)  # fmt: skip
    assert res.stats["rejected_counter_decrease"] == 1 and len(res.measurements) == 0
    assert _identity(res.stats)


def test_counter32_on_a_10g_port_polled_every_10_s_is_a_counted_ambiguity() -> None:
    # a legacy SNMP poller reading ifInOctets on a 10 Gb/s port: 2**32 B every 3.4 s at line rate
    inv = Inventory([Link("r1->r2", "r1", "r2", 1e10)], {("r1", "Ethernet1"): Port("r1->r2", None, 1e10)})
    rows = [("tx_octets", t, v, Kind.COUNTER32) for t, v in [(0, 10**9), (10, 3 * 10**9), (20, 2 * 10**9)]]
    res = normalize(_samples(rows), CounterState(), inv)
    assert res.stats["rejected_counter32_ambiguous"] == 2 and len(res.measurements) == 0
    assert {r.reason for r in res.rejections} == {"counter32_ambiguous"}
    assert "ifHC" in res.rejections[0].detail
    assert _identity(res.stats)


def test_sample_backwards_in_time_is_counted() -> None:
    res = normalize(_samples([("rx_octets", 10, 500, Kind.COUNTER64)]), st := CounterState())
    res = normalize(_samples([("rx_octets", 5, 400, Kind.COUNTER64)]), st)  # a late sample: a lower value
    assert res.stats["rejected_out_of_order"] == 1 and _identity(res.stats)
    # an older timestamp with a higher value was taken after the last sample, by a clock set back: counted too
    res = normalize(_samples([("rx_octets", 5, 600, Kind.COUNTER64)]), st)
    assert res.stats["rejected_clock_step"] == 1 and _identity(res.stats)


def test_implausible_rate_against_capacity_and_absolute_bound() -> None:
    # 1 Gb/s link, 1.5x headroom: 10 GB in 10 s (8 Gb/s) is implausible
    inv = Inventory([Link("r1->r2", "r1", "r2", 1e9)], {("r1", "Ethernet1"): Port("r1->r2", None, 1e9)})
    rows = [("tx_octets", 0, 0, Kind.COUNTER64), ("tx_octets", 10, 10**10, Kind.COUNTER64)]
    res = normalize(_samples(rows), CounterState(), inv)
    assert res.stats["rejected_implausible_rate"] == 1 and len(res.measurements) == 0
    assert _identity(res.stats)
    # capacity unknown: the physical bound (CounterConfig.max_bps = 10 Tb/s) still applies: 10^15 B in 10 s
    res = normalize(_samples([("tx_octets", 0, 0, Kind.COUNTER64), ("tx_octets", 10, 10**15, Kind.COUNTER64)]),
                    CounterState())  # fmt: skip
    assert res.stats["rejected_implausible_rate"] == 1 and _identity(res.stats)


@pytest.mark.parametrize("capacity", [0.0, -1e9, math.inf])
def test_rate_row_with_capacity_not_positive_is_rejected(capacity: float) -> None:
    inv = Inventory([Link("r1->r2", "r1", "r2", capacity)], {("r1", "Ethernet1"): Port("r1->r2", None, capacity)})
    rows = [("tx_octets", 0, 0, Kind.COUNTER64), ("tx_octets", 10, 1000, Kind.COUNTER64)]
    res = normalize(_samples(rows), CounterState(), inv)
    assert res.stats["rejected_bad_capacity"] == 2 and len(res.measurements) == 0
    assert {r.reason for r in res.rejections} == {"bad_capacity"}
    assert _identity(res.stats)


# ------------------------------------------------------------------ decoders
@pytest.mark.parametrize("fast", [True, False])
def test_unmapped_leaf_inside_a_mapped_record_is_counted(fast: bool) -> None:
    from twinwatch.telemetry_adapters.gnmic import GnmicDecoder

    msg = _ev({OC + "in-octets": "5", OC + "out-octets": "7", "/interfaces/interface/state/mtu": 9000,
               "/interfaces/interface/state/description": "uplink"}, NOW)  # fmt: skip
    res = GnmicDecoder(CFG, fast=fast).decode_batch([msg])
    assert len(res.samples) == 2 and not res.rejections
    assert res.ignored == {"unmapped_leaf": 2}
    assert res.records == 4 and res.ignored_examples[0].count == 2


def _gnmi(leaves: dict[str, int], target: str | None = "r1", iface: str = "Ethernet35") -> bytes:
    """One gNMI SubscribeResponse with one uintVal update per counter leaf of ``iface``."""
    base = [{"name": "interfaces"}, {"name": "interface", "key": {"name": iface}}, {"name": "state"},
            {"name": "counters"}]  # fmt: skip
    notif: dict[str, object] = {"timestamp": NOW, "update": [
        {"path": {"elem": [*base, {"name": leaf}]}, "val": {"uintVal": str(v)}} for leaf, v in leaves.items()]}
    if target is not None:
        notif["prefix"] = {"target": target}
    return orjson.dumps({"update": notif})


def test_unmapped_leaf_counted_in_gnmi_too() -> None:
    res = get_decoder("gnmi", CFG).decode_batch([_gnmi({"in-octets": 5, "carrier-transitions": 3})])
    assert len(res.samples) == 1 and res.ignored["unmapped_leaf"] == 1 and res.records == 2


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(("ts", "reason"), [(NOW // S, "ts_unit"), (NOW // 10**6, "ts_unit"), (NOW // 1000, "ts_unit"),
                                            (-NOW, "ts_negative"), (-1, "ts_negative")])  # fmt: skip
def test_gnmic_timestamps_in_seconds_or_negative_are_refused(fast: bool, ts: int, reason: str) -> None:
    from twinwatch.telemetry_adapters.gnmic import GnmicDecoder

    open_cfg = DecoderConfig(network="lab", max_age_s=None, max_future_skew_s=None)  # replay: age checks off
    for cfg in (CFG, open_cfg):
        res = GnmicDecoder(cfg, fast=fast).decode_batch([_ev({OC + "in-octets": "5"}, ts)])
        assert len(res.samples) == 0
        assert [r.reason for r in res.rejections] == [reason]
    assert "seconds" in GnmicDecoder(CFG).decode_batch([_ev({OC + "in-octets": "5"}, NOW // S)]).rejections[0].detail


def test_other_decoders_refuse_nanosecond_fields_in_seconds() -> None:
    otlp = {"resourceMetrics": [{"resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "r1"}}]},
            "scopeMetrics": [{"metrics": [{"name": "system.network.io", "sum": {"isMonotonic": True,
            "aggregationTemporality": 2, "dataPoints": [{"asInt": "5", "timeUnixNano": str(NOW // S),
            "attributes": [{"key": "device", "value": {"stringValue": "eth0"}},
                           {"key": "direction", "value": {"stringValue": "receive"}}]}]}}]}]}]}  # fmt: skip
    res = get_decoder("otlp", CFG).decode_batch([orjson.dumps(otlp)])
    assert [r.reason for r in res.rejections] == ["ts_unit"]
    flow = {"type": "SFLOW_5", "time_received_ns": NOW // S, "sampling_rate": 1, "bytes": 100, "packets": 1,
            "src_addr": "10.0.0.1", "dst_addr": "10.0.0.2"}  # fmt: skip
    res = get_decoder("goflow2", CFG).decode_batch([orjson.dumps(flow)])
    assert [r.reason for r in res.rejections] == ["ts_unit"]


def test_gnmi_without_device_is_rejected_not_entity_colon_interface() -> None:
    msg = _gnmi({"in-octets": 5}, target=None)
    res = get_decoder("gnmi", CFG).decode_batch([msg])
    assert len(res.samples) == 0 and [r.reason for r in res.rejections] == ["missing_device"]
    assert "--device" in res.rejections[0].detail
    named_cfg = DecoderConfig(network="lab", now_ns=CFG.now_ns, default_device="leaf9")
    named = get_decoder("gnmi", named_cfg).decode_batch([msg])
    assert named.samples.device.tolist() == ["leaf9"]
    rows = normalize(named.samples, CounterState()).stats
    assert rows["records_pending"] == 1


@pytest.mark.parametrize("fast", [True, False])
def test_gnmic_event_without_source_is_rejected(fast: bool) -> None:
    from twinwatch.telemetry_adapters.gnmic import GnmicDecoder

    msg = _ev({OC + "in-octets": "5"}, NOW, source=None)
    res = GnmicDecoder(CFG, fast=fast).decode_batch([msg])
    assert [r.reason for r in res.rejections] == ["missing_device"] and len(res.samples) == 0
    cfg = DecoderConfig(network="lab", now_ns=CFG.now_ns, default_device="leaf9")
    assert GnmicDecoder(cfg, fast=fast).decode_batch([msg]).samples.device.tolist() == ["leaf9"]


# ------------------------------------------------------------------ inventory validation
@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"links": 5}, "'links' must be a list, got int"),
        ({"links": [{"src": "a", "dst": "b", "capacity_bps": 1e9, "speed": 1}]}, "unknown key(s) 'speed' in links[0]"),
        ({"linkz": []}, "unknown key(s) 'linkz' in the top level"),
        ({"links": [{"src": "a", "dst": "b", "capacity_bps": 0}]}, "links[0] (a->b).capacity_bps must be a number"),
        ({"links": [{"src": "a", "dst": "b", "capacity_bps": "fast"}]}, "capacity_bps must be a number of bits/s > 0"),
        ({"links": [{"src": "a", "capacity_bps": 1}]}, "links[0] needs 'dst'"),
        ({"links": ["a->b"]}, "links[0] must be a mapping"),
        ({"devices": ["r1"]}, "'devices' must be a mapping"),
        ({"interfaces": [{"device": "r1", "interface": "e1", "lnk": "x"}]}, "unknown key(s) 'lnk' in interfaces[0]"),
        ({"prefixes": "10.0.0.0/8"}, "'prefixes' must be a mapping"),
    ],
)
def test_inventory_errors_name_file_element_and_rule(tmp_path: Path, doc: dict[str, object], needle: str) -> None:
    p = tmp_path / "inv.yaml"
    import yaml

    p.write_text(yaml.safe_dump(doc))
    with pytest.raises(InventoryError) as exc:
        Inventory.load(p)
    assert str(p) in str(exc.value) and needle in str(exc.value)


def test_inventory_capacity_absent_or_null_is_unknown() -> None:
    inv = Inventory.from_dict({"links": [{"src": "a", "dst": "b", "src_interface": "e1"},
                                         {"src": "b", "dst": "a", "capacity_bps": None}]})  # fmt: skip
    assert math.isnan(inv.resolve("a", "e1").capacity_bps)  # type: ignore[union-attr]


# ------------------------------------------------------------------ the identity, every format, golden fixtures
@pytest.mark.parametrize("case", [c for c in cases() if c.format in FORMATS], ids=lambda c: c.id)
@pytest.mark.parametrize("samples_mode", [False, True])
def test_accounting_identity_on_golden_fixtures(case: object, samples_mode: bool) -> None:
    dec = get_decoder(case.format, case.config())  # type: ignore[attr-defined]
    msgs = case.messages()  # type: ignore[attr-defined]
    tally = Tally(case.format)  # type: ignore[attr-defined]
    state = None if samples_mode else CounterState()
    # twice: the second pass turns first samples (pending) into rates or duplicates
    for _ in range(2):
        tally.add(*run_batch(dec, msgs, state))
        assert tally.identity_holds(), tally.to_dict()
    assert tally.records_in > 0


def test_every_format_has_a_golden_fixture() -> None:
    have = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert {f for f in FORMATS} <= have | {"probe"}


# ------------------------------------------------------------ regressions found by the fuzzers (tests/fuzz, bench)
def test_probe_huge_jitter_is_a_rejection_not_an_overflow() -> None:
    msgs = [orjson.dumps({"src": "p1", "dst": "10.0.0.5", "ts": NOW // S, "delay_s": 0.01, "jitter_s": 1e300}),
            b"ping,host=p1,url=10.0.0.5 average_response_ms=1.0,standard_deviation_ms=1e300 1700000000000000000"]
    for fmt, m in zip(("probe", "probe"), msgs, strict=True):
        res = get_decoder(fmt, CFG).decode_batch([m])
        assert "out_of_range" in {r.reason for r in res.rejections}, res.rejections


@pytest.mark.parametrize("resource", ["str", [1], 5])
def test_otlp_wrongly_typed_sections_are_rejections(resource: object) -> None:
    for doc in ({"resourceMetrics": [{"resource": resource, "scopeMetrics": []}]},
                {"resourceMetrics": [{"scopeMetrics": resource}]},
                {"resourceMetrics": [{"scopeMetrics": [{"metrics": resource}]}]}):  # fmt: skip
        res = get_decoder("otlp", CFG).decode_batch([orjson.dumps(doc)])
        assert res.records >= 1 and len(res.samples) == 0


def test_giant_interface_name_is_linear_time() -> None:
    import time

    from twinwatch.telemetry_adapters.interfaces import lookup_candidates, split_unit

    name = "x" * 200_000
    t0 = time.perf_counter()
    assert split_unit(name) == (name, None) and lookup_candidates(name) == (name,)
    assert time.perf_counter() - t0 < 1.0  # the old regular expression took minutes
    assert split_unit("et-0/0/1.0") == ("et-0/0/1", 0) and split_unit("1.2") == ("1.2", None)
