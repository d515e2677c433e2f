"""The shared path-mapping table: each model's spelling lands on the canonical field."""

from __future__ import annotations

import pytest

from twinwatch.telemetry_adapters.paths import (
    EPOCH_ABS,
    EPOCH_ABS_S,
    EPOCH_REL_CS,
    EPOCH_REL_S,
    FIELD_BITS,
    FIELD_NAMES,
    IF_NAME,
    UNMAPPED,
    PathMapper,
    map_path,
)
from twinwatch.telemetry_adapters.schema import COUNTER_FIELDS, GAUGE_FIELDS

XR = "Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/interface/latest/generic-counters/"
XR2 = "Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/interface/generic-counters/"
IETF = "ietf-interfaces:interfaces-state/interface/statistics/"
OC = "/openconfig-interfaces:interfaces/interface[name=Ethernet1]/state/counters/"


@pytest.mark.parametrize(
    ("path", "field", "bits"),
    [
        (OC + "in-octets", "rx_octets", 64),
        (OC + "out-octets", "tx_octets", 64),
        (OC + "in-pkts", "rx_pkts", 64),
        (OC + "in-unicast-pkts", "rx_unicast_pkts", 64),
        (OC + "out-multicast-pkts", "tx_multicast_pkts", 64),
        (OC + "in-broadcast-pkts", "rx_broadcast_pkts", 64),
        (OC + "in-discards", "rx_discards", 64),
        (OC + "out-discards", "tx_discards", 64),
        (OC + "in-errors", "rx_errors", 64),
        (OC + "out-errors", "tx_errors", 64),
        ("/oc-if:interfaces/oc-if:interface/oc-if:state/oc-if:counters/oc-if:out-pkts", "tx_pkts", 64),
        (IETF + "in-octets", "rx_octets", 64),
        (IETF + "out-unicast-pkts", "tx_unicast_pkts", 64),
        (XR + "bytes-received", "rx_octets", 64),
        (XR + "bytes-sent", "tx_octets", 64),
        (XR + "packets-received", "rx_pkts", 64),
        (XR + "packets-sent", "tx_pkts", 64),
        (XR + "input-drops", "rx_discards", 64),
        (XR + "output-drops", "tx_discards", 64),
        (XR + "input-errors", "rx_errors", 64),
        (XR2 + "output-errors", "tx_errors", 64),
        (XR + "multicast-packets-received", "rx_multicast_pkts", 64),
        ("/srl_nokia-interfaces:interface/statistics/in-unicast-packets", "rx_unicast_pkts", 64),
        ("/srl_nokia-interfaces:interface/statistics/out-error-packets", "tx_errors", 64),
        ("ifHCInOctets", "rx_octets", 64),
        ("ifHCOutUcastPkts", "tx_unicast_pkts", 64),
        ("ifInOctets", "rx_octets", 32),
        ("ifOutOctets", "tx_octets", 32),
        ("ifInDiscards", "rx_discards", 32),
        ("ifOutErrors", "tx_errors", 32),
        ("ifInUcastPkts", "rx_unicast_pkts", 32),
        ("in_octets", "rx_octets", 64),
        ("interfaces/interface/state/in_pkts", "rx_pkts", 64),
        ("bytes_recv", "rx_octets", 64),
        ("drop_out", "tx_discards", 64),
        ("sys/intf/phys-[eth1/1]/dbgIfIn/inOctets", "rx_octets", 64),
        ("rx_octets", "rx_octets", 64),
        ("delay_s", "delay_s", 0),
        ("loss_ratio", "loss_ratio", 0),
    ],
)
def test_counter_spellings(path: str, field: str, bits: int) -> None:
    code = map_path(path)
    assert code >= 0, path
    assert (FIELD_NAMES[code], FIELD_BITS[code]) == (field, bits)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (OC + "last-clear", EPOCH_ABS),
        (IETF + "discontinuity-time", EPOCH_ABS),
        (XR + "last-discontinuity-time", EPOCH_ABS_S),
        (XR + "seconds-since-last-clear-counters", EPOCH_REL_S),
        ("sysUpTime", EPOCH_REL_CS),
        ("ifName", IF_NAME),
        ("/qos/interfaces/interface/output/queues/queue/state/transmit-octets", UNMAPPED),
        ("/qos/interfaces/interface/output/queues/queue/state/in-octets", UNMAPPED),
        ("/network-instances/network-instance/protocols/protocol/bgp/neighbors/neighbor/state/in-pkts", UNMAPPED),
        ("/interfaces/interface/state/mtu", UNMAPPED),
        ("/interfaces/interface/state", UNMAPPED),  # a container (issue_14044 capture), not IOS XR's state leaf
        ("state", UNMAPPED),  # a bare field of some other Telegraf input
        (OC + "in-fcs-errors", UNMAPPED),
        ("/system/state/hostname", UNMAPPED),
    ],
)
def test_markers_and_unmapped(path: str, code: int) -> None:
    assert map_path(path) == code


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/interfaces/interface/state/oper-status", "oper_status"),  # OpenConfig (gnmic, gNMI)
        ("/openconfig-interfaces:interfaces/interface[name=et1]/state/admin-status", "admin_status"),
        ("/interfaces/interface/subinterfaces/subinterface/state/oper-status", "oper_status"),
        ("huawei-ifm:ifm/interfaces/interface/dynamic/oper-status", "oper_status"),
        ("oper_status", "oper_status"),  # Telegraf gnmi input field
        ("ifOperStatus", "oper_status"),  # Telegraf snmp input, IF-MIB
        ("ifAdminStatus", "admin_status"),
        ("Cisco-IOS-XE-interfaces-oper:interfaces/interface/oper-status", "oper_status"),
        ("Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface/state", "oper_status"),
        ("Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-briefs/interface-brief/line-state", "oper_status"),
        ("sys/intf/phys/operSt", "oper_status"),  # NX-OS DME
        ("sys/intf/phys/adminSt", "admin_status"),
    ],
)
def test_link_state_leaves(path: str, field: str) -> None:
    code = map_path(path)
    assert code >= 0 and FIELD_NAMES[code] == field and FIELD_BITS[code] == 0  # a gauge, never a counter


def test_every_canonical_field_is_reachable() -> None:
    reachable = {FIELD_NAMES[map_path(f)] for f in (*COUNTER_FIELDS, *GAUGE_FIELDS)}
    assert reachable == set(COUNTER_FIELDS) | set(GAUGE_FIELDS)


def test_mapper_memoises_and_is_bounded() -> None:
    m = PathMapper(max_size=3)
    assert FIELD_NAMES[m["in-octets"]] == "rx_octets"
    assert "in-octets" in m
    for p in ("a", "b", "c", "d"):
        m[p]
    assert len(m) <= 3
