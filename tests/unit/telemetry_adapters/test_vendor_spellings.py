"""Other routers' spellings of a port: Nokia SR OS ``port[port-id]``, Nokia ``oper-state``, Junos ``high-speed``.

The golden cases (``tests/fixtures/gnmic/vendor_capture_shapes``, ``sros_paths``, ``srl_oper_state``,
``gnmi/sros_port_keyed``, ``influx/sros_port_id``) pin the decoded rows; these tests pin the rules behind them and
the counter maths end to end.
"""

from __future__ import annotations

import orjson
import pytest

from twinwatch.telemetry_adapters import CounterState, DecoderConfig, get_decoder, normalize
from twinwatch.telemetry_adapters.gnmic import GnmicDecoder
from twinwatch.telemetry_adapters.paths import FIELD_NAMES, GAUGE_SCALE, IGP_OTHER, UNMAPPED, map_path
from twinwatch.telemetry_adapters.speed import NAMED

T0 = 1_700_000_000 * 10**9


def field(path: str) -> str | None:
    code = map_path(path)
    return FIELD_NAMES[code] if code >= 0 else None


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/state/port/statistics/in-octets", "rx_octets"),
        ("/state/port/ethernet/statistics/out-octets", "tx_octets"),
        ("/state/port/statistics/in-packets", "rx_pkts"),
        ("/state/port/oper-state", "oper_status"),
        ("/srl_nokia-interfaces:interface/oper-state", "oper_status"),
        ("/srl_nokia-interfaces:interface/subinterface/oper-state", "oper_status"),
        ("oper-state", "oper_status"),  # a collector that trims paths to leaves
        ("/interface/oper_state", "oper_status"),  # Telegraf: path tag + field name
        ("/state/port/ethernet/oper-speed", "speed_bps"),
        ("high-speed", "speed_bps"),
        ("/interfaces/interface/state/high-speed", "speed_bps"),
        # Junos native /junos/system/linecard/interface: the direction is the container's
        ("/junos/system/linecard/interface/ingress-stats/if-octets", "rx_octets"),
        ("/junos/system/linecard/interface/egress_stats/if_octets", "tx_octets"),
        ("/junos/system/linecard/interface/ingress-errors/if-in-errors", "rx_errors"),
        ("/junos/system/linecard/interface/egress-queue-info/bytes", None),
        ("if-octets", None),
        # another object's state or counters, never the port's
        ("/srl_nokia-interfaces:interface/transceiver/oper-state", None),
        ("/srl_nokia-interfaces:interface/lag/member/oper-state", None),
        ("/interfaces/interface/aggregation/member/state/counters/in-octets", None),
        ("/state/port/statistics/egress-queue/queue/forward-unicast-octets", None),
        ("/network-instance/protocols/bgp/neighbor/oper-state", None),
        ("/state/service/vprn/oper-state", None),
    ],
)
def test_vendor_leaves_map_to_their_fields(path: str, want: str | None) -> None:
    assert field(path) == want


def test_sr_linux_oper_states_other_than_up_are_down() -> None:
    """``srl_nokia-common:oper-state``: a port that is empty, failed, booting, in low power … passes no traffic;
    ``degraded`` names no clear state and is refused (``unknown_enum``)."""
    from twinwatch.telemetry_adapters.link_state import link_state

    assert [link_state(v) for v in ("up", "down", "empty", "failed", "booting", "low-power", "warm-reboot")] == [
        1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert link_state("degraded") is None


def test_junos_native_errors_are_64_bit_not_if_mibs_counter32() -> None:
    """``if_in_errors`` normalises like IF-MIB ``ifInErrors`` (a Counter32): under ``ingress-errors`` it is Junos'
    uint64."""
    from twinwatch.telemetry_adapters.paths import FIELD_BITS

    assert FIELD_BITS[map_path("/junos/system/linecard/interface/ingress-errors/if-in-errors")] == 64
    assert FIELD_BITS[map_path("ifInErrors")] == 32


def test_sros_oper_speed_is_megabits_and_nxos_operspeed_stays_named() -> None:
    """Both normalise to ``operspeed``: SR OS's path-qualified spelling (Mb/s) is tried first."""
    assert GAUGE_SCALE[map_path("/state/port/ethernet/oper-speed")] == 1e6
    assert GAUGE_SCALE[map_path("operSpeed")] == NAMED
    assert GAUGE_SCALE[map_path("sys/intf/phys/operSpeed")] == NAMED
    assert map_path("/state/port/ethernet/oper-speed") not in (UNMAPPED, IGP_OTHER)


def _event(tags: dict[str, str], values: dict[str, object], t: int) -> bytes:
    return orjson.dumps({"name": "nokia-interface", "timestamp": t, "tags": tags, "values": values})


def test_sros_ports_are_ports_not_the_device() -> None:
    """Two SR OS ports sampled together: each gets its own rate (at 910bdb1 both were booked to the device, whose
    counters then interleaved)."""
    dec = get_decoder("gnmic", DecoderConfig(max_age_s=None))
    state = CounterState()
    rows = []
    for k, t in enumerate((T0, T0 + 10 * 10**9)):
        msgs = [_event({"port_port-id": port, "source": "10.0.0.1:57400"},
                       {"/state/port/statistics/in-octets": str(k * octets), "/state/port/oper-state": "up"}, t)
                for port, octets in (("1/1/c1/1", 12_500), ("1/1/c2/1", 1_250_000))]
        res = normalize(dec.decode_batch(msgs).samples, state)
        assert not res.rejections
        rows += [(r["entity_id"], r["kpi"], r["value"]) for r in res.measurements.rows()]
    rates = {(e, k): v for e, k, v in rows if k == "rx_bps"}
    assert rates == {("10.0.0.1:1/1/c1/1", "rx_bps"): 10_000.0, ("10.0.0.1:1/1/c2/1", "rx_bps"): 1_000_000.0}
    assert {e for e, k, _ in rows if k == "oper_status"} == {"10.0.0.1:1/1/c1/1", "10.0.0.1:1/1/c2/1"}


def test_telegraf_keeps_the_interface_name_over_a_port_id_tag() -> None:
    """Telegraf writes list keys as bare tags: an interface's ``name`` wins over any ``port_id`` (an LLDP
    neighbour's, say); an SR OS record with only ``port_id`` names the port by it."""
    dec = get_decoder("influx", DecoderConfig(max_age_s=None))
    lines = [b"interface,source=r1,name=et1,port_id=Gi0/9,path=/interfaces/interface/state/counters "
             b"in_octets=5u 1700000000000000000",
             b"port,source=sr1,port_id=1/1/c1/1,path=/state/port/statistics in_octets=7u 1700000000000000000"]
    got = {(s["device"], s["interface"]) for s in dec.decode_batch(lines).samples.rows()}
    assert got == {("r1", "et1"), ("sr1", "1/1/c1/1")}


def test_juniper_jti_through_telegraf_names_the_router_and_its_ports() -> None:
    """Telegraf's jti_openconfig_telemetry input: the router is the ``device`` tag (``host`` is the collector's own
    name) and the port the XPath key tag ``/interfaces/interface/@name`` (at 910bdb1 every router's counters were
    booked, port-less, to the collector)."""
    dec = get_decoder("telegraf-json", DecoderConfig(max_age_s=None, max_future_skew_s=None))
    rows = []
    for k, t in enumerate((1_700_000_000, 1_700_000_010)):
        msgs = [orjson.dumps({"name": "/interfaces/", "timestamp": t,
                              "fields": {"/interfaces/interface/state/counters/in-octets": k * octets},
                              "tags": {"/interfaces/interface/@name": port, "device": router, "host": "collector1",
                                       "path": "sensor_1000_6_1:/interfaces/:/interfaces/:xmlproxyd"}})
                for router, port, octets in (("mx1", "et-0/0/0", 12_500), ("mx2", "et-0/0/0", 25_000))]
        rows += list(dec.decode_batch(msgs).samples.rows())
    assert {(s["device"], s["interface"]) for s in rows} == {("mx1", "et-0/0/0"), ("mx2", "et-0/0/0")}


def test_a_ports_leaves_naming_no_port_are_refused_in_every_format() -> None:
    """A list key the adapters do not know (here ``card_slot``, ``component``) leaves a port's counter, state or
    speed without a port: refused as ``missing_interface`` with the device named, never booked to the device where
    every port's counters would interleave. A device-level gauge (a probe's delay on ``a->b``) is kept."""
    ctr = "/interfaces/interface/state/counters/in-octets"
    cases = {
        "gnmic": [orjson.dumps({"timestamp": T0, "tags": {"source": "r1", "card_slot": "1"}, "values": {ctr: "5"}}),
                  orjson.dumps({"timestamp": T0, "tags": {"source": "r1", "interface_name": ""},
                                "values": {"/interfaces/interface/state/oper-status": "UP"}})],
        "influx": [b"ifc,source=r1,component=lc0 in_octets=5u,lag_speed=1000i 1700000000000000000"],
        "otlp": [orjson.dumps({"resourceMetrics": [{"resource": {"attributes": [
            {"key": "host.name", "value": {"stringValue": "r1"}}]}, "scopeMetrics": [{"metrics": [
                {"name": "hw.network.io", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
                    {"timeUnixNano": str(T0), "asInt": "5", "attributes": [
                        {"key": "direction", "value": {"stringValue": "receive"}}]}]}}]}]}]})],
    }  # fmt: skip
    for fmt, msgs in cases.items():
        for fast in (True, False) if fmt == "gnmic" else (False,):
            cfg = DecoderConfig(max_age_s=None, max_future_skew_s=None)
            res = (GnmicDecoder(cfg, fast=fast) if fmt == "gnmic" else get_decoder(fmt, cfg)).decode_batch(msgs)
            assert res.records == res.stats.total + len(res.samples)  # each record counted once
            assert not len(res.samples), (fmt, list(res.samples.rows()))
            assert {r.reason for r in res.rejections} == {"missing_interface"}, fmt
            assert all("'r1'" in r.detail for r in res.rejections), fmt
    probe = orjson.dumps({"timestamp": T0, "tags": {"source": "r1->r2"}, "values": {"delay_s": 0.001}})
    res = get_decoder("gnmic", DecoderConfig(max_age_s=None, max_future_skew_s=None)).decode_batch([probe])
    assert [(s["device"], s["interface"], s["field"]) for s in res.samples.rows()] == [("r1->r2", "", "delay_s")]
