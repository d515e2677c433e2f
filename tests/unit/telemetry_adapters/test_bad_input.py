"""Bad input: every kind of bad message becomes a counted Rejection with a stable reason code."""

from __future__ import annotations

import orjson
import pytest

from twinwatch.telemetry_adapters import DecodeError, decode_messages, get_decoder, known_formats
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.errors import MAX_RAW_BYTES, Reason, Rejection

NOW = 1_700_000_000_000_000_000
CFG = DecoderConfig(network="lab", now_ns=NOW, max_future_skew_s=60.0, max_age_s=3600.0, max_message_bytes=4096)
P = "/interfaces/interface/state/counters/"


def gnmic(values: object, ts: object = NOW, **extra: object) -> bytes:
    ev = {"name": "s", "timestamp": ts, "tags": {"interface_name": "e1", "source": "r1"}, "values": values, **extra}
    return orjson.dumps(ev)


def reasons(fmt: str, messages: list[bytes], cfg: DecoderConfig = CFG) -> list[str]:
    return sorted(r.reason for r in get_decoder(fmt, cfg).decode_batch(messages).rejections)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"{", "malformed_json"),
        (b"\xff\xfe", "malformed_json"),
        (b"", "empty"),
        (b"   ", "empty"),
        (b"[]", "empty"),
        (b"42", "wrong_type"),
        (gnmic({P + "in-octets": True}), "wrong_type"),
        (gnmic({P + "in-octets": {"a": 1}}), "wrong_type"),
        (gnmic({P + "in-octets": "12abc"}), "wrong_type"),
        (gnmic({P + "in-octets": 1.25}), "wrong_type"),
        (gnmic([1, 2]), "wrong_type"),
        (gnmic({P + "in-octets": "1"}, ts="soon"), "wrong_type"),
        (orjson.dumps({"timestamp": NOW, "tags": {}}), "missing_field"),
        (orjson.dumps({"values": {P + "in-octets": 1}}), "missing_field"),
        (gnmic({P + "in-octets": "NaN"}), "non_finite"),
        (gnmic({P + "in-octets": "inf"}), "non_finite"),
        (gnmic({P + "in-octets": -1}), "negative_counter"),
        (gnmic({P + "in-octets": "-7"}), "negative_counter"),
        (gnmic({P + "in-octets": "18446744073709551616"}), "out_of_range"),
        (gnmic({P + "in-octets": "X"}).replace(b'"X"', b"18446744073709551616"), "out_of_range"),
        (gnmic({P + "in-octets": "1"}, ts=NOW + 61 * 10**9), "ts_future"),
        (gnmic({P + "in-octets": "1"}, ts=NOW - 3601 * 10**9), "ts_past"),
        (gnmic({P + "in-octets": "1"}, ts=0).replace(b'"timestamp":0', b'"timestamp":1180591620717411303424'),
         "ts_future"),
        (gnmic({"/system/state/hostname": "r1"}), "unknown_path"),
        (gnmic({}), "empty"),
        (b"{" + b'"x":"' + b"a" * 5000 + b'"}', "oversized"),
    ],
)
def test_gnmic_rejections(message: bytes, reason: str) -> None:
    res = get_decoder("gnmic", CFG).decode_batch([message])
    assert [r.reason for r in res.rejections] == [reason], res.rejections
    assert len(res.samples) == 0
    assert res.stats.counts[reason] == 1
    assert all(len(r.raw) <= MAX_RAW_BYTES for r in res.rejections)


def test_bad_values_do_not_poison_good_ones() -> None:
    res = get_decoder("gnmic", CFG).decode_batch(
        [gnmic({P + "in-octets": -1, P + "out-octets": "5"}), b"{", gnmic({P + "in-pkts": 9})]
    )
    assert [(r["field"], r["value_u64"]) for r in res.samples.rows()] == [("tx_octets", 5), ("rx_pkts", 9)]
    assert res.stats.counts == {"negative_counter": 1, "malformed_json": 1}


def test_counter32_over_range() -> None:
    line = b"interface,agent_host=r1,ifName=e1 ifInOctets=4294967296i,ifHCInOctets=4294967296u 1700000000000000000"
    res = get_decoder("influx", CFG).decode_batch([line])
    assert [r.reason for r in res.rejections] == ["out_of_range"]
    assert [(r["field"], r["kind"]) for r in res.samples.rows()] == [("rx_octets", 64)]


@pytest.mark.parametrize(
    ("fmt", "message", "reason"),
    [
        ("influx", b"net,host=h bytes_recv=1u", "missing_field"),
        ("influx", b"net,host=h bytes_recv=1x 1700000000000000000", "malformed_json"),
        ("influx", b'net,host=h s="unterminated 1700000000000000000', "malformed_json"),
        ("influx", b"net,host=h bytes_recv=nan 1700000000000000000", "non_finite"),
        ("influx", b"net,host=h bytes_recv=-3i 1700000000000000000", "negative_counter"),
        ("influx", b"\n# only a comment\n", "empty"),
        ("telegraf-json", b'{"name":"net","fields":{"bytes_recv":1}}', "missing_field"),
        ("telegraf-json", b'{"name":"net","fields":[],"timestamp":1700000000}', "wrong_type"),
        ("telegraf-json", b'{"metrics":[]}', "empty"),
        ("gnmi", b'{"syncResponse":true}', "empty"),
        ("gnmi", b'{"update":{"update":[]}}', "missing_field"),
        ("gnmi", b'{"update":{"timestamp":"x","update":[]}}', "wrong_type"),
        ("cisco-mdt", b'{"node_id_str":"r","encoding_path":"p","msg_timestamp":1}', "missing_field"),
        ("cisco-mdt", b'{"telemetry_data":"{oops","timestamp":"1"}', "malformed_json"),
        ("cisco-mdt", b'{"node_id_str":"r","encoding_path":"p","data_json":[]}', "empty"),
        ("otlp", b'{"resourceMetrics":{}}', "wrong_type"),
        ("otlp", b'{"foo":1}', "missing_field"),
        ("goflow2", b'{"bytes":1,"packets":1,"src_addr":"a","dst_addr":"b"}', "missing_field"),
        ("goflow2", b'{"bytes":1e400,"packets":1,"src_addr":"a","dst_addr":"b"}', "malformed_json"),
        ("goflow2", b'{"bytes":-1,"packets":1,"src_addr":"a","dst_addr":"b","time_received_ns":1700000000000000000}',
         "negative_counter"),
        ("probe", b'{"src":"a","dst":"b","ts":1700000000,"loss_ratio":2}', "out_of_range"),
        ("probe", b'{"src":"a","dst":"b","ts":1700000000,"delay_s":-1}', "out_of_range"),
        ("probe", b'{"src":"a","dst":"b","ts":1700000000}', "missing_field"),
        ("probe", b'{"src":"a","dst":"b","ts":1800000000,"delay_s":1}', "ts_future"),
        ("probe", b"ping,host=a average_response_ms=1 1700000000000000000", "missing_field"),
    ],
)
def test_other_decoders_rejections(fmt: str, message: bytes, reason: str) -> None:
    assert reasons(fmt, [message]) == [reason]


def test_oversized_every_format() -> None:
    cfg = DecoderConfig(max_message_bytes=10)
    for fmt in known_formats():
        res = get_decoder(fmt, cfg).decode_batch([b'{"abcdefghijkl": 1}'])
        assert [r.reason for r in res.rejections] == ["oversized"], fmt


def test_unknown_format() -> None:
    with pytest.raises(DecodeError, match="known formats: cisco-mdt, gnmi, gnmic") as exc:
        get_decoder("netflow-v5")
    assert exc.value.reason == "unknown_format" and exc.value.format == "netflow-v5"
    assert isinstance(exc.value, ValueError)
    res = decode_messages("netflow-v5", [b"a", b"b"])
    assert res.stats.counts == {"unknown_format": 2}
    assert exc.value.to_rejection().reason == "unknown_format"


def test_reason_codes_are_stable() -> None:
    assert {r.value for r in Reason} == {
        "malformed_json", "wrong_type", "missing_field", "non_finite", "negative_counter", "out_of_range",
        "ts_future", "ts_past", "oversized", "unknown_format", "unknown_path", "empty", "out_of_order",
        "duplicate", "unmapped_entity",
        # issue 14 (hardening): added, the older codes unchanged
        "ts_negative", "ts_unit", "missing_device", "unmapped_leaf", "counter_decrease", "counter_reset",
        "implausible_rate", "bad_capacity", "pending_first_sample",
        # issue 9 (link state): added, the older codes unchanged
        "unknown_enum", "link_state_unknown",
        # a Counter32 on a port too fast for its polling interval
        "counter32_ambiguous",
        # a device clock that ran ahead and was set back
        "clock_step",
        # interface speed: a speed of 0 or below; an unknown speed and a superseded speed leaf (ignored)
        "bad_speed", "speed_unknown", "speed_superseded",
        # IGP metric: not an integer 1 .. 2**24-1; a metric of another topology and a superseded one (ignored)
        "bad_metric", "igp_other_topology", "igp_metric_superseded",
        # a port's leaves in a record that names no port (an unknown list key): never booked to the device
        "missing_interface",
    }  # fmt: skip


def test_rejection_truncates_raw() -> None:
    r = Rejection("empty", "x", b"a" * 2000, "t")
    assert len(r.raw) == MAX_RAW_BYTES and r.to_dict()["raw"] == "a" * MAX_RAW_BYTES


def test_skew_is_configurable() -> None:
    msg = gnmic({P + "in-octets": "1"}, ts=NOW + 120 * 10**9)
    assert reasons("gnmic", [msg]) == ["ts_future"]
    loose = DecoderConfig(now_ns=NOW, max_future_skew_s=300.0)
    assert reasons("gnmic", [msg], loose) == []
    off = DecoderConfig(now_ns=NOW, max_future_skew_s=None, max_age_s=None)
    assert reasons("gnmic", [gnmic({P + "in-octets": "1"}, ts=NOW - 10**18)], off) == []
    # even with the checks off, 1 ns after 1970 is a time in the wrong unit (issue 14)
    assert reasons("gnmic", [gnmic({P + "in-octets": "1"}, ts=1)], off) == ["ts_unit"]


def test_timestamp_beyond_int64_ns() -> None:
    """Seconds just below the ms threshold scale past int64 ns: rejected, never an overflow (found by fuzzing)."""
    off = DecoderConfig(max_future_skew_s=None, max_age_s=None)
    for cfg in (CFG, off):
        assert reasons("influx", [b"net,host=h bytes_recv=1u 99999999999"], cfg) == ["ts_future"]
        assert reasons("telegraf-json", [b'{"fields":{"bytes_recv":1},"timestamp":99999999999}'], cfg) == ["ts_future"]


def test_discontinuity_marker_out_of_range() -> None:
    """A relative marker older than the epoch is rejected, the counters still pass (found by fuzzing)."""
    msg = gnmic({P + "in-octets": "5", "seconds-since-last-clear-counters": 10923285637})
    res = get_decoder("gnmic", CFG).decode_batch([msg])
    assert [r.reason for r in res.rejections] == ["out_of_range"]
    assert [(r["field"], r["has_epoch"]) for r in res.samples.rows()] == [("rx_octets", False)]
    msg = gnmic({P + "in-octets": "5", P + "last-clear": "UP"})
    assert reasons("gnmic", [msg]) == ["wrong_type"]
