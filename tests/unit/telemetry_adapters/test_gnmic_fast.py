"""The gnmic fast path (numba byte scanner) decodes exactly as the general orjson path.

Differential tests: the same batch through ``GnmicDecoder(fast=True)`` and
``GnmicDecoder(fast=False)`` gives identical samples (every column, row order)
and identical rejection counts, for generated events (valid, odd and broken)
and for byte mutations of the golden inputs.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinwatch.telemetry_adapters._gnmic_kernels import PAD, _quoted_u64, _quoted_u64_bytewise
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.gnmic import GnmicDecoder
from twinwatch.telemetry_adapters.normalize import normalize
from twinwatch.telemetry_adapters.schema import SAMPLE_SCHEMA, SCHEMA

from ._golden import cases

NOW = 1_700_000_000_000_000_000
CFG = DecoderConfig(network="t", now_ns=NOW, max_future_skew_s=60.0, max_age_s=86400.0)
SETTINGS = settings(
    max_examples=int(os.environ.get("TWINWATCH_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
P = "/interfaces/interface/state/counters/"
LEAVES = [P + x for x in ("in-octets", "out-octets", "in-pkts", "out-discards", "last-clear", "oper-status")] + [
    "ifInOctets", "in-errors", "/system/state/hostname", "delay_s", "name", "seconds-since-last-clear-counters",
    "/interfaces/interface/state/oper-status", "/interfaces/interface/state/admin-status",  # link state (issue 9)
    # interface speed: numeric ones the kernel reads (Mb/s, bit/s), named ones it leaves to the general path
    "/interfaces/interface/aggregation/state/lag-speed", "ifHighSpeed", "ifSpeed",
    "/interfaces/interface/ethernet/state/port-speed", "/interfaces/interface/ethernet/state/negotiated-port-speed",
    # IGP metric (a gauge: the general path reads it), keyless and with the keys of another topology
    "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/af/state/metric",
    "/network-instances/network-instance/protocols/protocol/ospfv2/areas/area/interfaces/interface/state/metric",
    "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level[level-number=1]/"
    "af/state/metric", "igp_metric",
    # other routers' spellings: Nokia SR OS / SR Linux counters, state and speed, Junos high-speed, a LAG member's
    "/state/port/statistics/in-octets", "/state/port/ethernet/statistics/out-octets", "/state/port/oper-state",
    "/state/port/ethernet/oper-speed", "oper-state", "high-speed", "/interface/transceiver/oper-state",
    "/interface/lag/member/oper-state", "operSpeed", "/junos/system/linecard/interface/ingress-stats/if-octets",
    "/junos/system/linecard/interface/if-name",
]  # fmt: skip


def same(messages: list[bytes]) -> None:
    fast = GnmicDecoder(CFG, fast=True).decode_batch(messages)
    slow = GnmicDecoder(CFG, fast=False).decode_batch(messages)
    for col in SAMPLE_SCHEMA:
        a, b = getattr(fast.samples, col.name), getattr(slow.samples, col.name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), col.name
    assert fast.stats.counts == slow.stats.counts
    assert fast.ignored == slow.ignored
    assert fast.messages == slow.messages == len(messages)


_values = st.one_of(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1).map(str),
    st.sampled_from(["UP", "", "-1", "1.5", "007", " 1", "1699990000000000000", "2023-11-14T18:00:00Z", "1e3"]),
    # link-state spellings: the fast path's own (UP, DOWN, lower-layer-down …) and those it leaves to the general path
    st.sampled_from(["DOWN", "LOWER_LAYER_DOWN", "lower-layer-down", "down", "NOT_PRESENT", "UNKNOWN", "Up",
                     "up(1)", "sideways", "2", "im-state-up"]),
    # speed values: Mb/s and bit/s integers (0, a saturated Gauge32, beyond 2**53), identities
    st.sampled_from([20000, "20000", 0, "0", 4294967295, "4294967295", 2**53, 2**53 + 1, "SPEED_10GB",
                     "openconfig-if-ethernet:SPEED_100GB", "SPEED_UNKNOWN", "SPEED_3GB", "40G"]),
    # IGP metrics: in range, at the bounds, beyond them
    st.sampled_from([10, "10", 16777215, 16777216, 65535]),
    st.integers(-10, -1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_event = st.fixed_dictionaries(
    {
        "timestamp": st.one_of(st.integers(NOW - 10**14, NOW + 10**12), st.just("x"), st.integers(-5, 5)),
        "tags": st.fixed_dictionaries(
            {"source": st.sampled_from(["r1:57400", "r2", "[fd00::1]:57400"])},
            optional={"interface_name": st.sampled_from(["Ethernet1", "Gi0/0/0/1", "é1", ""]),
                      # Nokia SR OS names its port by this key; with a preferred interface tag beside it
                      "port_port-id": st.sampled_from(["1/1/c1/1", "A/4", ""]),
                      "interface-name": st.just("Ethernet2"), "port_port_id": st.just("1/1/9"),
                      "subinterface_index": st.just("3"), "subscription-name": st.just("s"),
                      # an IGP metric event's keys as gnmic writes them (tags)
                      "level_level-number": st.sampled_from(["1", "2"]),
                      "af_afi-name": st.sampled_from(["IPV4", "IPV6"]),
                      "interface_interface-id": st.just("Ethernet9")},
        ),
        "values": st.dictionaries(st.sampled_from(LEAVES), _values, max_size=6),
    },
    optional={"name": st.just("sub")},
)


@SETTINGS
@given(events=st.lists(st.one_of(_event, st.lists(_event, max_size=2)), min_size=1, max_size=6))
def test_generated_events(events: list[object]) -> None:
    msgs = []
    for ev in events:
        try:
            msgs.append(orjson.dumps(ev))
        except TypeError:  # ints beyond 64 bits
            msgs.append(repr(ev).encode())
    same(msgs)


_GOLDEN = [m for c in cases() if c.format == "gnmic" for m in c.messages()]


@SETTINGS
@given(data=st.data())
def test_mutated_golden(data: st.DataObject) -> None:
    msgs = []
    for _ in range(data.draw(st.integers(1, 4))):
        msg = bytearray(data.draw(st.sampled_from(_GOLDEN)))
        for _ in range(data.draw(st.integers(0, 3))):
            pos = data.draw(st.integers(0, max(len(msg) - 1, 0)))
            ins = data.draw(st.sampled_from([b" ", b"\\", b'"', b"-", b"1", b",", b"}", b"{", b"\xc3\xa9", b"\x01"]))
            if data.draw(st.booleans()):
                msg[pos:pos] = ins
            else:
                del msg[pos : pos + len(ins)]
        msgs.append(bytes(msg))
    same(msgs)


def test_specific_shapes() -> None:
    ev = {"name": "s", "timestamp": NOW, "tags": {"interface_name": "e1", "source": "r1:1"},
          "values": {P + "in-octets": "5", P + "out-octets": 7, P + "last-clear": "1699990000000000000"}}  # fmt: skip
    base = orjson.dumps(ev)
    dup = base.replace(b'"out-octets":7', b'"out-octets":7,"' + P.encode() + b'in-octets":"9"')
    spaced = orjson.dumps(ev, option=orjson.OPT_INDENT_2)
    esc = base.replace(b'"e1"', b'"e\\u0031"')
    big = base.replace(b'"5"', b"18446744073709551616")
    same([base, dup, spaced, esc, big, b"", b"  ", b"[]", b"{}", base + b"x", base[:-1]])
    res = GnmicDecoder(CFG).decode_batch([base, spaced])
    assert res.samples.value_u64.tolist() == [5, 7, 5, 7]
    assert res.samples.epoch_ns.tolist() == [1699990000000000000] * 4
    assert np.all(res.samples.device == "r1")


def test_speed_shapes() -> None:
    """Speed leaves decode identically through both paths: the kernel reads a plain lag-speed / ifHighSpeed
    integer itself; named speeds, 0, a saturated 4294967295 and a second speed leaf go to the general path."""
    lag, eth = "/interfaces/interface/aggregation/state/lag-speed", "/interfaces/interface/ethernet/state/"
    ev = {"name": "s", "timestamp": NOW, "tags": {"interface_name": "Port-Channel1", "source": "r1:1"},
          "values": {P + "in-octets": "5", lag: 20000}}  # fmt: skip
    variants: list[dict[str, object]] = [
        {lag: 20000}, {lag: "20000"}, {lag: 0}, {lag: 4294967295}, {lag: 2**53}, {lag: 2**53 + 1}, {lag: -1},
        {lag: 1.5}, {lag: "x"}, {lag: None}, {"ifHighSpeed": 100000, "ifSpeed": 4294967295},
        {"ifSpeed": 1000000000, "ifHighSpeed": 1000}, {lag: 100, "ifHighSpeed": 200},
        {eth + "port-speed": "SPEED_100GB", eth + "negotiated-port-speed": "openconfig-if-ethernet:SPEED_25GB"},
        {eth + "port-speed": "SPEED_UNKNOWN"}, {eth + "negotiated-port-speed": "SPEED_3GB"},
    ]
    msgs = [orjson.dumps({**ev, "values": {**ev["values"], **v}}) for v in variants]  # type: ignore[dict-item]
    same(msgs)
    same([msgs[0]] * 3 + msgs[::-1])
    res = GnmicDecoder(CFG).decode_batch(msgs[:2])
    assert res.samples.field.tolist() == ["rx_octets", "speed_bps"] * 2
    assert res.samples.value_f64.tolist() == [5.0, 2e10] * 2 and res.samples.value_u64.tolist() == [5, 0] * 2


def test_large_batch_matches() -> None:
    msgs = [orjson.dumps({"timestamp": NOW + k, "tags": {"interface_name": f"e{k % 7}", "source": f"r{k % 3}"},
                          "values": {P + "in-octets": str(k * 1000), P + "in-pkts": k, "x": "UP"}})
            for k in range(2000)]  # fmt: skip
    msgs[17] = b"{broken"
    msgs[99] = msgs[99].replace(b'"UP"', b"1.5").replace(b"in-pkts", b"in-pkts")
    same(msgs)


def test_duplicate_value_keys_take_the_general_path() -> None:
    """orjson keeps the last of duplicate keys; the scanner must hand such messages over, not guess."""
    ev = (b'{"name":"s","timestamp":%d,"tags":{"source":"r1:57400","interface_name":"Ethernet1"},'
          b'"values":{"%sin-octets":"5","%sout-octets":"6","%sin-octets":"7"}}')  # fmt: skip
    p = P.encode()
    same([ev % (NOW, p, p, p), ev.replace(b'"7"', b"8") % (NOW + 1, p, p, p)])


@SETTINGS
@given(events=st.lists(_event, min_size=1, max_size=8), later=st.lists(_event, min_size=1, max_size=8))
def test_normalize_fast_and_general_batches_alike(events: list[dict[str, Any]], later: list[dict[str, Any]]) -> None:
    """The fast path's batch (integer-coded, lazily built string columns) normalises exactly as the
    general path's object columns: same measurements, stats and rejections, over two batches."""
    states = {True: CounterState(), False: CounterState()}
    for evs in (events, later):
        msgs = []
        for ev in evs:
            try:
                msgs.append(orjson.dumps(ev))
            except TypeError:
                msgs.append(repr(ev).encode())
        out = {fast: normalize(GnmicDecoder(CFG, fast=fast).decode_batch(msgs).samples, states[fast])
               for fast in (True, False)}  # fmt: skip
        a, b = out[True], out[False]
        for col in SCHEMA:
            x, y = getattr(a.measurements, col.name), getattr(b.measurements, col.name)
            assert x.dtype == y.dtype, col.name
            assert np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else x.tolist() == y.tolist(), col.name
        assert a.stats == b.stats
        assert [(r.reason, r.detail) for r in a.rejections] == [(r.reason, r.detail) for r in b.rejections]


@SETTINGS
@given(digits=st.text("0123456789", max_size=26), tail=st.binary(max_size=9), cut=st.integers(0, 40),
       lead=st.binary(max_size=3))  # fmt: skip
def test_swar_quoted_counter_matches_bytewise(digits: str, tail: bytes, cut: int, lead: bytes) -> None:
    """The 8-digits-at-a-time counter parse agrees with the digit-at-a-time reference, whatever follows."""
    for body in (digits.encode() + b'"' + tail, digits.encode() + tail, tail + digits.encode() + b'"'):
        data = lead + body
        buf = np.frombuffer(data + bytes(PAD), dtype=np.uint8)
        i = len(lead)
        end = min(len(data), i + cut)
        got = _quoted_u64(buf, i, end)
        ref = _quoted_u64_bytewise(buf, i, end)
        assert (bool(got[0]), int(got[1]), int(got[2])) == (bool(ref[0]), int(ref[1]), int(ref[2]))


def test_fast_batch_string_columns_are_lazy() -> None:
    """The fast path keeps device / interface / field as codes and source / network as constants
    until a consumer reads them; reading builds the same object arrays as the general path."""
    msgs = [orjson.dumps({"timestamp": NOW + k, "tags": {"interface_name": f"e{k % 3}", "source": f"r{k % 2}:1"},
                          "values": {P + "in-octets": str(k), P + "out-pkts": k}}) for k in range(6)]  # fmt: skip
    batch = GnmicDecoder(CFG).decode_batch(msgs).samples
    assert batch.codes is not None
    assert batch.constant("network") == "t" and batch.constant("source") == "gnmic"
    assert batch.device.tolist() == ["r0", "r0", "r1", "r1"] * 3
    assert batch.interface.dtype == object and batch.interface[:4].tolist() == ["e0", "e0", "e1", "e1"]
    assert batch.network.tolist() == ["t"] * 12
    assert batch.device is batch.device  # built once
    batch.field = np.array(["rx_octets"] * 12, dtype=object)  # replacing a coded column drops the codes
    assert batch.codes is None and batch.field.tolist() == ["rx_octets"] * 12
    assert batch.interface[4:6].tolist() == ["e2", "e2"]


def test_igp_metric_shapes() -> None:
    """IGP-metric events (the testbed's, other topologies, bad values, beside counters, with an ``interface_name``
    tag) decode identically through both paths: the fast path hands each whole to the general path."""
    isis = "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/af/state/"
    isis += "metric"
    tags = {"source": "r1:57400", "subscription-name": "isis", "network-instance_name": "default",
            "protocol_identifier": "ISIS", "protocol_name": "default", "interface_interface-id": "Ethernet1",
            "level_level-number": "2", "af_afi-name": "IPV4", "af_safi-name": "UNICAST"}  # fmt: skip
    ev = {"name": "isis", "timestamp": NOW, "tags": tags, "values": {isis: 10}}
    variants: list[dict[str, object]] = [
        {}, {"tags": {**tags, "level_level-number": "1"}}, {"tags": {**tags, "af_afi-name": "IPV6"}},
        {"values": {isis: "20"}}, {"values": {isis: 0}}, {"values": {isis: 1.5}}, {"values": {isis: 16777216}},
        {"values": {isis: 10, "igp_metric": 11}}, {"values": {isis.replace("/level/", "/level[level-number=1]/"): 5}},
        {"tags": {**tags, "interface_name": "Ethernet1"}, "values": {isis: 10, P + "in-octets": "5"}},
        {"tags": {"source": "r1", "interface_name": "e1"},
         "values": {P + "in-octets": "5", isis.replace("/level/", "/level[level-number=1]/"): 5}},
    ]  # fmt: skip
    msgs = [orjson.dumps({**ev, **v}) for v in variants]
    same(msgs)
    same([msgs[0]] * 3 + msgs[::-1])
    res = GnmicDecoder(CFG).decode_batch(msgs[:1])
    assert [(r["device"], r["interface"], r["field"], r["value_f64"]) for r in res.samples.rows()] == [
        ("r1", "Ethernet1", "igp_metric", 10.0)]  # fmt: skip
