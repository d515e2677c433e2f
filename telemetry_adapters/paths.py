"""One path-mapping table, shared by every decoder: model leaves → canonical fields.

Interface-counter models spell the same counter differently; this module maps
each spelling onto a canonical :data:`~telemetry_adapters.schema.COUNTER_FIELDS`
name. The mapping is *data* (:data:`LEAF_TABLE`, :data:`EPOCH_LEAVES`), not
code branches: a leaf is normalised (module prefixes and list keys dropped,
lower-cased, ``-`` and ``_`` removed) and looked up.

Models covered:

- OpenConfig ``openconfig-interfaces`` ``interfaces/interface/state/counters``
  (``in-octets``, ``out-octets``, ``in-pkts``, ``in-unicast-pkts`` …,
  ``last-clear``);
- IETF ``ietf-interfaces:interfaces-state/interface/statistics`` (same leaves,
  ``discontinuity-time``), Cisco IOS XE ``Cisco-IOS-XE-interfaces-oper``;
- Cisco IOS XR ``Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/
  interface/latest/generic-counters`` (``bytes-received``, ``bytes-sent`` …,
  ``last-discontinuity-time``, ``seconds-since-last-clear-counters``);
- Nokia SR Linux ``interface/statistics`` (``in-unicast-packets`` …);
- Nokia SR OS ``/state/port[port-id=…]/statistics`` and ``…/ethernet/statistics`` (``in-octets``, ``in-packets``
  …): the port is the ``port-id`` key (gnmic tag ``port_port-id``, Telegraf ``port_id``; :data:`INTERFACE_LISTS`);
- Junos native ``/junos/system/linecard/interface`` (``ingress-stats/if-octets`` …: the direction is the
  container's, :data:`DIRECTED_LEAVES`; the interface its ``if-name`` leaf);
- IF-MIB ``ifTable`` (Counter32) and ``ifXTable`` ``ifHC*`` (Counter64) as
  Telegraf's ``snmp`` input names them;
- Telegraf ``net`` input (``bytes_recv``, ``packets_sent``, ``drop_in`` …);
- link state (:data:`~telemetry_adapters.schema.LINK_STATE_FIELDS`): OpenConfig / IOS XE
  ``oper-status`` and ``admin-status``, IF-MIB ``ifOperStatus`` / ``ifAdminStatus``, NX-OS DME
  ``operSt`` / ``adminSt``, IOS XR ``state`` and ``line-state`` (those two generic names only
  inside an IOS XR ``interface-xr`` / ``interface-briefs`` path, never elsewhere), Nokia SR Linux and SR OS
  ``oper-state`` (in a path only directly under ``interface``, ``subinterface`` or ``port``: a transceiver's or a
  LAG member's is another object's). Their values are enums, read by
  :func:`twinwatch.telemetry_adapters.link_state.link_state`;
- interface speed (:data:`~telemetry_adapters.schema.SPEED_FIELDS`, :data:`SPEED_LEAVES`: one
  ``(spelling, scale)`` table, in order of preference): OpenConfig ``negotiated-port-speed`` /
  ``port-speed`` (identities) and ``lag-speed`` (Mb/s), IF-MIB ``ifHighSpeed`` (Mb/s) / ``ifSpeed``
  (bit/s), Junos ``high-speed`` (Mb/s), Nokia SR OS ``state/port/ethernet/oper-speed`` (Mb/s; tried before
  NX-OS DME's ``operSpeed``, which normalises the same), NX-OS DME ``operSpeed`` (``"10G"``), IOS XE
  ``interfaces-oper`` ``speed`` (bit/s) and IOS XR ``interface-xr`` ``speed`` / ``bandwidth`` (kbit/s) only inside
  their model's path (never a bare ``speed``), OTLP ``hw.network.bandwidth.limit`` (By/s). Values are read by
  :func:`twinwatch.telemetry_adapters.speed.speed_bps` with the spelling's scale (:data:`SPEED_SCALE`);
- IGP metric (:data:`~telemetry_adapters.schema.IGP_FIELDS`, :data:`IGP_METRIC_LEAVES`): OpenConfig IS-IS
  ``isis/interfaces/interface/levels/level/af/state/metric`` and OSPFv2
  ``ospfv2/areas/area/interfaces/interface/state/metric`` (only inside those paths: a bare ``metric`` maps to
  nothing), and the canonical ``igp_metric``; an IS-IS metric whose keys name level 1 or another address family
  maps to :data:`IGP_OTHER` (counted as ignored). Values are read by
  :func:`twinwatch.telemetry_adapters.igp.igp_metric`.

Speed and IGP metric are both *port gauges* (:data:`PORT_GAUGES`): a field read apart from the counters by its
own value reader, at most one per record (the spelling listed first wins, the others are counted as ignored).

Received → ``rx_*``, sent → ``tx_*``.

Examples
--------
>>> normalize_leaf("/oc-if:interfaces/oc-if:interface[name=Ethernet1]/oc-if:state/oc-if:counters/oc-if:in-octets")
'inoctets'
>>> m = PathMapper()
>>> FIELD_NAMES[m["/interfaces/interface/state/counters/in-octets"]]
'rx_octets'
>>> FIELD_BITS[m["ifInOctets"]], FIELD_BITS[m["ifHCInOctets"]]
(32, 64)
>>> m["/qos/interfaces/interface/output/queues/queue/state/transmit-octets"] == UNMAPPED
True
>>> m["last-clear"] == EPOCH_ABS
True
>>> FIELD_NAMES[m["/interfaces/interface/state/oper-status"]], FIELD_NAMES[m["ifAdminStatus"]]
('oper_status', 'admin_status')
>>> m["state"] == m["/interfaces/interface/state"] == UNMAPPED
True
>>> FIELD_NAMES[m["Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface/line-state"]]
'oper_status'
>>> c = m["/interfaces/interface/aggregation/state/lag-speed"]
>>> FIELD_NAMES[c], FIELD_BITS[c], IS_SPEED[c], SPEED_SCALE[c], SPEED_SCALE[m["ifSpeed"]]
('speed_bps', 0, True, 1000000.0, 1.0)
>>> SPEED_SCALE[m["Cisco-IOS-XR-pfi-im-cmd-oper:interfaces/interface-xr/interface[interface-name=Hu0/0/0/0]/speed"]]
1000.0
>>> m["speed"] == m["/interfaces/interface/state/speed"] == UNMAPPED
True
>>> isis = "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level"
>>> FIELD_NAMES[m[isis + "[level-number=2]/af[afi-name=IPV4]/state/metric"]], PORT_GAUGE[m["igp_metric"]]
('igp_metric', 1)
>>> m[isis + "[level-number=1]/af/state/metric"] == IGP_OTHER
True
>>> m["metric"] == m["/interfaces/interface/state/metric"] == UNMAPPED
True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.igp import igp_metric, metric_rejection, topology_other
from twinwatch.telemetry_adapters.schema import GAUGE_FIELDS, IGP_FIELDS, LINK_STATE_FIELDS, SPEED_FIELDS
from twinwatch.telemetry_adapters.speed import NAMED, speed_bps, speed_rejection

__all__ = [
    "DIRECTED_LEAVES",
    "EPOCH_ABS",
    "EPOCH_ABS_S",
    "EPOCH_LEAVES",
    "EPOCH_REL_CS",
    "EPOCH_REL_S",
    "FIELD_BITS",
    "FIELD_NAMES",
    "GAUGE_SCALE",
    "IF_NAME",
    "IGP_METRIC_LEAVES",
    "IGP_OTHER",
    "INTERFACE_KEYS",
    "INTERFACE_LISTS",
    "IS_LINK_STATE",
    "IS_SPEED",
    "LEAF_TABLE",
    "OTEL_LINK_STATE",
    "OTEL_METRICS",
    "PORT_FIELDS",
    "PORT_GAUGE",
    "PORT_GAUGES",
    "SPEED_LEAVES",
    "SPEED_SCALE",
    "UNMAPPED",
    "PathMapper",
    "PortGauge",
    "map_path",
    "normalize_leaf",
]

# (canonical field, counter width in bits: 32 = Counter32, 64 = Counter64)
_RX_TX: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    # canonical field: spellings (32 marks an IF-MIB ifTable Counter32; others are 64-bit)
    "rx_octets": (
        ("in-octets", 64), ("bytes-received", 64), ("ifHCInOctets", 64), ("ifInOctets", 32),
        ("bytes_recv", 64), ("in-bytes", 64), ("rx-bytes", 64), ("rx_bytes", 64),
    ),
    "tx_octets": (
        ("out-octets", 64), ("bytes-sent", 64), ("ifHCOutOctets", 64), ("ifOutOctets", 32),
        ("bytes_sent", 64), ("out-bytes", 64), ("tx-bytes", 64), ("tx_bytes", 64),
    ),
    "rx_pkts": (
        ("in-pkts", 64), ("packets-received", 64), ("in-packets", 64), ("packets_recv", 64),
        ("rx-packets", 64),
    ),
    "tx_pkts": (
        ("out-pkts", 64), ("packets-sent", 64), ("out-packets", 64), ("packets_sent", 64),
        ("tx-packets", 64),
    ),
    "rx_unicast_pkts": (
        ("in-unicast-pkts", 64), ("in-unicast-packets", 64), ("ifHCInUcastPkts", 64), ("ifInUcastPkts", 32),
        ("inUcastPkts", 64),
    ),
    "tx_unicast_pkts": (
        ("out-unicast-pkts", 64), ("out-unicast-packets", 64), ("ifHCOutUcastPkts", 64), ("ifOutUcastPkts", 32),
        ("outUcastPkts", 64),
    ),
    "rx_multicast_pkts": (
        ("in-multicast-pkts", 64), ("in-multicast-packets", 64), ("multicast-packets-received", 64),
        ("ifHCInMulticastPkts", 64), ("ifInMulticastPkts", 32), ("ifInNUcastPkts", 32),
    ),
    "tx_multicast_pkts": (
        ("out-multicast-pkts", 64), ("out-multicast-packets", 64), ("multicast-packets-sent", 64),
        ("ifHCOutMulticastPkts", 64), ("ifOutMulticastPkts", 32), ("ifOutNUcastPkts", 32),
    ),
    "rx_broadcast_pkts": (
        ("in-broadcast-pkts", 64), ("in-broadcast-packets", 64), ("broadcast-packets-received", 64),
        ("ifHCInBroadcastPkts", 64), ("ifInBroadcastPkts", 32),
    ),
    "tx_broadcast_pkts": (
        ("out-broadcast-pkts", 64), ("out-broadcast-packets", 64), ("broadcast-packets-sent", 64),
        ("ifHCOutBroadcastPkts", 64), ("ifOutBroadcastPkts", 32),
    ),
    "rx_discards": (
        ("in-discards", 64), ("input-drops", 64), ("in-discarded-packets", 64), ("ifInDiscards", 32),
        ("drop_in", 64),
    ),
    "tx_discards": (
        ("out-discards", 64), ("output-drops", 64), ("out-discarded-packets", 64), ("ifOutDiscards", 32),
        ("drop_out", 64),
    ),
    "rx_errors": (
        ("in-errors", 64), ("input-errors", 64), ("in-error-packets", 64), ("ifInErrors", 32), ("err_in", 64),
    ),
    "tx_errors": (
        ("out-errors", 64), ("output-errors", 64), ("out-error-packets", 64), ("ifOutErrors", 32),
        ("err_out", 64),
    ),
    # gauges (already in SI units when a source sends them under these names)
    "delay_s": (("delay_s", 0),),
    "jitter_s2": (("jitter_s2", 0),),
    "loss_ratio": (("loss_ratio", 0),),
    "utilization": (("utilization", 0),),
    "queue_occupancy": (("queue_occupancy", 0),),
    # link state (enum values, see telemetry_adapters.link_state); "state" and "line-state" only inside a path
    "oper_status": (("oper-status", 0), ("ifOperStatus", 0), ("operSt", 0), ("oper-state", 0), ("state", 0),
                    ("line-state", 0)),
    "admin_status": (("admin-status", 0), ("ifAdminStatus", 0), ("adminSt", 0)),
}

#: Interface speed (field ``speed_bps``, :mod:`twinwatch.telemetry_adapters.speed`): (spelling, bit/s per unit of
#: the value; ``NAMED``: the value names its speed), **in order of preference**: when one record (an event, metric
#: or row of one interface at one time) carries several, the one listed first gives the row and the others are
#: counted as ignored (``speed_superseded``). A spelling with ``/`` maps only a path that ends with those elements
#: (keys and module prefixes dropped, compared normalised), and contains the spelling's ``module:`` when it names
#: one: a model's generic leaf (``speed``, ``bandwidth``) never maps outside that model.
SPEED_LEAVES: Final[tuple[tuple[str, float], ...]] = (
    ("negotiated-port-speed", NAMED),  # OpenConfig ethernet/state: identity SPEED_10GB …; IOS XE ether-state too
    ("port-speed", NAMED),  # OpenConfig ethernet/state: the configured speed (SPEED_UNKNOWN: ignored)
    ("lag-speed", 1e6),  # OpenConfig aggregation/state, uint32 Mb/s (Telegraf gnmi: lag_speed)
    ("ifHighSpeed", 1e6),  # IF-MIB ifXTable, Gauge32 Mb/s
    ("high-speed", 1e6),  # Junos interfaces/interface/state/high-speed, Mb/s (ifHighSpeed's value)
    ("state/port/ethernet/oper-speed", 1e6),  # Nokia SR OS, uint32 Mb/s
    ("ifSpeed", 1.0),  # IF-MIB ifTable, Gauge32 bit/s (4294967295: saturated, ignored)
    ("operSpeed", NAMED),  # Cisco NX-OS DME ethpmPhysIf: "100M", "10G" … ("auto", "unknown": ignored)
    ("Cisco-IOS-XE-interfaces-oper:interfaces/interface/speed", 1.0),  # IOS XE, uint64 bit/s
    ("interfaces-ios-xe-oper:interfaces/interface/speed", 1.0),  # the same, under the module's YANG prefix
    ("interface-xr/interface/speed", 1e3),  # IOS XR pfi-im-cmd-oper, kbit/s
    ("interface-xr/interface/bandwidth", 1e3),  # IOS XR pfi-im-cmd-oper, kbit/s
    ("hw.network.bandwidth.limit", 8.0),  # OTLP metric (OpenTelemetry hardware semantic conventions), By/s
    ("speed_bps", 1.0),  # the canonical field, bit/s
)

#: IGP metric (field ``igp_metric``, :mod:`twinwatch.telemetry_adapters.igp`): (spelling, 1.0: the metric has no
#: unit), in order of preference, path-qualified spellings as in :data:`SPEED_LEAVES` (a bare ``metric`` maps to
#: nothing). The path's list keys say the topology (:func:`~telemetry_adapters.igp.topology_other`).
IGP_METRIC_LEAVES: Final[tuple[tuple[str, float], ...]] = (
    ("isis/interfaces/interface/levels/level/af/state/metric", 1.0),  # OpenConfig IS-IS, uint32 wide metric
    ("ospfv2/areas/area/interfaces/interface/state/metric", 1.0),  # OpenConfig OSPFv2, uint16
    ("igp_metric", 1.0),  # the canonical field
)


class PortGauge(NamedTuple):
    """A gauge of one port read apart from the counters: its field, spellings and value reader."""

    field: str  #: the canonical field
    leaves: tuple[tuple[str, float], ...]  #: (spelling, scale of the value) in order of preference
    read: Callable[[Any, float], Any]  #: (value, scale) → the row's value (> 0), ``UNKNOWN``, or None (refused)
    rejection: Callable[[str, Any, float], tuple[str, str]]  #: (leaf, value, scale) → (reason, detail) of a refusal
    unknown: str  #: the reason an explicit unknown is ignored under ("": the reader gives none)
    superseded: str  #: the reason a second spelling of one record is ignored under


#: The port gauges, each field's spellings taking consecutive field codes (in this order) after the counters.
PORT_GAUGES: Final[tuple[PortGauge, ...]] = (
    PortGauge(SPEED_FIELDS[0], SPEED_LEAVES, speed_bps, speed_rejection, Reason.SPEED_UNKNOWN,
              Reason.SPEED_SUPERSEDED),
    PortGauge(IGP_FIELDS[0], IGP_METRIC_LEAVES, igp_metric, metric_rejection, "", Reason.IGP_METRIC_SUPERSEDED),
)  # fmt: skip

#: Special codes returned by :class:`PathMapper` besides field indices.
UNMAPPED: Final = -1  #: a leaf this project does not use
EPOCH_ABS: Final = -2  #: absolute discontinuity time: epoch ns integer or RFC 3339 date-and-time string
EPOCH_ABS_S: Final = -3  #: absolute discontinuity time in epoch seconds (IOS XR last-discontinuity-time)
EPOCH_REL_S: Final = -4  #: seconds since the last clear / since boot (epoch = ts - value)
EPOCH_REL_CS: Final = -5  #: hundredths of a second since boot (SNMP sysUpTime; epoch = ts - value / 100)
IF_NAME: Final = -6  #: a leaf carrying the interface name (IF-MIB ifName / ifDescr, Ciena counters/name)
IGP_OTHER: Final = -7  #: an IGP metric of a topology the twin does not route (IS-IS level 1, IPv6 …): ignored

#: Discontinuity / reset markers by spelling.
EPOCH_LEAVES: Final[dict[str, int]] = {
    "last-clear": EPOCH_ABS,
    "discontinuity-time": EPOCH_ABS,
    "last-discontinuity-time": EPOCH_ABS_S,
    "seconds-since-last-clear-counters": EPOCH_REL_S,
    "sysUpTime": EPOCH_REL_CS,
    "sysUpTimeInstance": EPOCH_REL_CS,
    "hrSystemUptime": EPOCH_REL_CS,
    "uptime": EPOCH_REL_S,
    "uptime_s": EPOCH_REL_S,
}

#: Leaves whose value names the interface (used when the path has no key).
_NAME_LEAVES: Final[tuple[str, ...]] = ("name", "ifName", "ifDescr", "interface-name", "interface_name")

#: Keyed lists whose element is a port: the list's name → the keys that name the port, in priority order.
#: OpenConfig, IETF, IOS XR, SR Linux ``interface[name=…]`` (IOS XR native ``interface-name``); Nokia SR OS
#: ``/state/port[port-id=1/1/c1/1]``.
INTERFACE_LISTS: Final[dict[str, tuple[str, ...]]] = {
    "interface": ("name", "interface-name", "interface_name"),
    "port": ("port-id",),
}

#: Key / tag names that carry the interface name, in priority order: gnmic's event tags name a list key
#: ``<list>_<key>`` (``interface_name``, ``interface_interface-name``, SR OS ``port_port-id``); Telegraf's gnmi input
#: writes the key alone with ``_`` for ``-`` (``name``, ``port_id``), after every other spelling so that a record
#: with an interface's ``name`` and a neighbour's ``port_id`` keeps the interface.
INTERFACE_KEYS: Final[tuple[str, ...]] = (
    "interface_name",
    "interface-name",
    "interface_interface-name",
    "interface_interface_name",
    "port_port-id",
    "port_port_id",
    "interfaceName",
    "if_name",
    "ifName",
    "ifDescr",
    "interface",
    "name",
    "port_id",
    "port-id",
)

#: A path (containing ``/``) maps only when it contains one of these (``state/port/``: Nokia SR OS ports) …
PATH_REQUIRES: Final[tuple[str, ...]] = ("interface", "statistics", "counters", "intf", "dbgif", "state/port/")
#: … and none of these (queue and QoS counters reuse the interface leaf names; a LAG member's leaves under its
#: LAG's interface are the member's, not the LAG's: SR Linux ``interface[name=lag1]/lag/member[name=…]/oper-state``).
PATH_EXCLUDES: Final[tuple[str, ...]] = ("qos", "queue", "/bgp", "/mpls", "/lldp", "/member")


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_KEYS_RE = re.compile(r"\[[^\]]*\]")

#: normalised leaf → (field name, width bits) — the single lookup table.
LEAF_TABLE: Final[dict[str, tuple[str, int]]] = {
    **{_norm(field): (field, spellings[0][1] and 64) for field, spellings in _RX_TX.items()},  # canonical names
    **{_norm(spelling): (field, bits) for field, spellings in _RX_TX.items() for spelling, bits in spellings},
}

#: Counters whose direction is their parent container's, not their name's, spelled ``container/leaf`` (a path maps
#: when it ends with those elements, compared normalised; tried before :data:`LEAF_TABLE`, where ``ifInErrors`` is
#: IF-MIB's Counter32): the Junos native interface sensor ``/junos/system/linecard/interface`` (``port.proto``:
#: ``ingress_stats`` / ``egress_stats`` ``if_octets``, ``if_pkts``, ``if_uc_pkts`` …, ``ingress_errors``
#: ``if_in_errors`` …; uint64). Its interface is its ``if_name`` leaf.
DIRECTED_LEAVES: Final[dict[str, str]] = {
    "ingress-stats/if-octets": "rx_octets", "egress-stats/if-octets": "tx_octets",
    "ingress-stats/if-pkts": "rx_pkts", "egress-stats/if-pkts": "tx_pkts",
    "ingress-stats/if-uc-pkts": "rx_unicast_pkts", "egress-stats/if-uc-pkts": "tx_unicast_pkts",
    "ingress-stats/if-mc-pkts": "rx_multicast_pkts", "egress-stats/if-mc-pkts": "tx_multicast_pkts",
    "ingress-stats/if-bc-pkts": "rx_broadcast_pkts", "egress-stats/if-bc-pkts": "tx_broadcast_pkts",
    "ingress-errors/if-in-errors": "rx_errors", "ingress-errors/if-in-discards": "rx_discards",
}  # fmt: skip

#: OpenTelemetry metric (name, ``direction`` attribute) → canonical field
#: (collector ``hostmetrics`` network scraper and ``hw.network.*`` semantic conventions).
OTEL_METRICS: Final[dict[tuple[str, str], str]] = {
    ("system.network.io", "receive"): "rx_octets",
    ("system.network.io", "transmit"): "tx_octets",
    ("system.network.packets", "receive"): "rx_pkts",
    ("system.network.packets", "transmit"): "tx_pkts",
    ("system.network.errors", "receive"): "rx_errors",
    ("system.network.errors", "transmit"): "tx_errors",
    ("system.network.dropped", "receive"): "rx_discards",
    ("system.network.dropped", "transmit"): "tx_discards",
    ("hw.network.io", "receive"): "rx_octets",
    ("hw.network.io", "transmit"): "tx_octets",
    ("hw.network.packets", "receive"): "rx_pkts",
    ("hw.network.packets", "transmit"): "tx_pkts",
}

#: OpenTelemetry metrics that carry an interface's link state as 1 (up) / 0 (down) → link-state field
#: (``hw.network.up``: hardware semantic conventions, "link status"). Metrics named like a link-state leaf
#: (``ifOperStatus``, ``oper_status`` …: SNMP receiver configurations) map through :data:`LEAF_TABLE`, IF-MIB codes.
OTEL_LINK_STATE: Final[dict[str, str]] = {"hw.network.up": "oper_status"}

_GAUGE_NAMES: Final[frozenset[str]] = frozenset(GAUGE_FIELDS) | frozenset(LINK_STATE_FIELDS)
_BASE_FIELDS: Final[tuple[str, ...]] = tuple(_RX_TX)
_N: Final = len(_BASE_FIELDS)
_FIELD_INDEX: Final[dict[str, int]] = {f: i for i, f in enumerate(_BASE_FIELDS)}

#: (port gauge index, spelling, scale) of every port-gauge spelling, in field-code order
_GAUGE_SPELLINGS: Final = tuple((g, sp, scale) for g, pg in enumerate(PORT_GAUGES) for sp, scale in pg.leaves)
_K: Final = len(_GAUGE_SPELLINGS)

#: Field code → canonical field name. Codes ``0 .. N-1`` are the fields as 64-bit
#: counters (or gauges); codes ``N .. 2N-1`` the same fields as Counter32
#: (IF-MIB ``ifTable``), so one code carries both the field and its width; codes
#: ``2N .. 2N+K-1`` are the port gauges' spellings (:data:`PORT_GAUGES`: the :data:`SPEED_LEAVES`, then the
#: :data:`IGP_METRIC_LEAVES`), in order (so one code carries the unit, and a lower code is the preferred spelling).
FIELD_NAMES: Final[tuple[str, ...]] = (
    _BASE_FIELDS + _BASE_FIELDS + tuple(PORT_GAUGES[g].field for g, _, _ in _GAUGE_SPELLINGS)
)
#: Field code → counter width in bits (0 = gauge).
FIELD_BITS: Final[tuple[int, ...]] = (
    tuple(0 if f in _GAUGE_NAMES else 64 for f in _BASE_FIELDS)
    + tuple(0 if f in _GAUGE_NAMES else 32 for f in _BASE_FIELDS)
    + (0,) * _K
)

#: The fields that belong to a port (counters, link state, speed, IGP metric): meaningless without the port, so a
#: record that names none is refused (``missing_interface``); the others (:data:`GAUGE_FIELDS`: a probe's delay on
#: ``a->b`` …) may be a device's or a path's.
PORT_FIELDS: Final[frozenset[str]] = frozenset(FIELD_NAMES) - frozenset(GAUGE_FIELDS)
#: Field code → whether it is a link-state field (enum values, not numbers).
IS_LINK_STATE: Final[tuple[bool, ...]] = tuple(f in LINK_STATE_FIELDS for f in FIELD_NAMES)
#: Field code → the index of its port gauge in :data:`PORT_GAUGES` (0 speed, 1 IGP metric), -1 for the others.
PORT_GAUGE: Final[tuple[int, ...]] = (-1,) * (2 * _N) + tuple(g for g, _, _ in _GAUGE_SPELLINGS)
#: Field code → the port-gauge spelling's scale (speed: bit/s per unit, ``NAMED``: the value names its speed; IGP
#: metric: 1.0); 0 for the others.
GAUGE_SCALE: Final[tuple[float, ...]] = (0.0,) * (2 * _N) + tuple(scale for _, _, scale in _GAUGE_SPELLINGS)
#: Field code → whether it is an interface-speed spelling (read by :func:`~telemetry_adapters.speed.speed_bps`).
IS_SPEED: Final[tuple[bool, ...]] = tuple(g == 0 for g in PORT_GAUGE)
#: Field code → the speed spelling's scale, bit/s per unit (``NAMED``: the value names its speed; 0 for others).
SPEED_SCALE: Final[tuple[float, ...]] = tuple(s if sp else 0.0 for s, sp in zip(GAUGE_SCALE, IS_SPEED, strict=True))
#: Generic leaf names that map only inside an IOS XR interface path (``pfi-im-cmd-oper`` ``interface-xr`` /
#: ``interface-briefs``): elsewhere ``state`` is an OpenConfig container or another input's field, not a link.
_PATH_ONLY: Final[frozenset[str]] = frozenset({"state", "linestate"})
_PATH_ONLY_REQUIRES: Final[tuple[str, ...]] = ("interface-xr", "interface-brief")
#: Normalised leaves that, in a path, map only as a leaf of these elements: Nokia's ``oper-state`` is a port's
#: state directly under SR Linux ``interface`` / ``subinterface`` and SR OS ``port``; elsewhere (a transceiver's,
#: a network instance's) it is another object's.
_PARENT_ONLY: Final[dict[str, frozenset[str]]] = {"operstate": frozenset({"interface", "subinterface", "port"})}

_EPOCH_TABLE: Final[dict[str, int]] = {_norm(k): v for k, v in EPOCH_LEAVES.items()}


def _elements(path: str) -> list[str]:
    """``path``'s elements without keys or module prefixes, normalised."""
    return [_norm(e.rsplit(":", 1)[-1]) for e in _KEYS_RE.sub("", path).strip("/").split("/")]


#: normalised leaf → port-gauge code, for the spellings without ``/``
_SPEED_TABLE: Final[dict[str, int]] = {
    _norm(sp): 2 * _N + k for k, (_, sp, _) in enumerate(_GAUGE_SPELLINGS) if "/" not in sp
}
#: normalised leaf → [(path elements it must end with, module it must contain (lower case) or "", code)] of every
#: path-qualified spelling: the port gauges' with ``/`` (IOS XR ``interface-xr/interface/speed``, SR OS
#: ``state/port/ethernet/oper-speed``, the IGP metrics) and the counters of :data:`DIRECTED_LEAVES`
_IN_PATH: Final[dict[str, list[tuple[list[str], str, int]]]] = {}
for _code, _sp in [(2 * _N + k, sp) for k, (_, sp, _) in enumerate(_GAUGE_SPELLINGS) if "/" in sp] + [
    (_FIELD_INDEX[f], sp) for sp, f in DIRECTED_LEAVES.items()
]:
    _els = _elements(_sp)
    _IN_PATH.setdefault(_els[-1], []).append((_els, _sp.split("/", 1)[0].rpartition(":")[0].lower(), _code))
_IGP = PORT_GAUGES.index(next(pg for pg in PORT_GAUGES if pg.field == IGP_FIELDS[0]))


def _in_path(leaf: str, path: str) -> int:
    """The code of the path-qualified spelling ``path`` matches (its leaf normalised is ``leaf``), or
    :data:`UNMAPPED`; an IGP metric whose keys name another topology: :data:`IGP_OTHER`."""
    els = _elements(path)
    for want, module, code in _IN_PATH[leaf]:
        if els[-len(want) :] == want and module in path.lower():
            if PORT_GAUGE[code] == _IGP and topology_other(path):
                return IGP_OTHER
            return code
    return UNMAPPED
_NAME_TABLE: Final[frozenset[str]] = frozenset(_norm(k) for k in _NAME_LEAVES)


def normalize_leaf(path: str) -> str:
    """The last element of ``path`` without keys or module prefix, lower-cased, ``-``/``_`` removed.

    >>> normalize_leaf("Cisco-IOS-XR-infra-statsd-oper:bytes-received")
    'bytesreceived'
    >>> normalize_leaf("interfaces/interface/state/in_pkts")
    'inpkts'
    """
    if "[" in path:
        path = _KEYS_RE.sub("", path)
    leaf = path.rstrip("/").rsplit("/", 1)[-1]
    if ":" in leaf:
        leaf = leaf.rsplit(":", 1)[-1]
    return _norm(leaf)


def map_path(path: str) -> int:
    """Field code of a leaf path (see module constants); pure function behind :class:`PathMapper`.

    >>> FIELD_NAMES[map_path("Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/interface/latest/"
    ...                      "generic-counters/bytes-sent")]
    'tx_octets'
    >>> map_path("/network-instances/network-instance/protocols/protocol/bgp/neighbors/neighbor/state/in-pkts")
    -1
    """
    in_path = "/" in path.strip("/")
    if in_path:
        low = path.lower()
        if not any(r in low for r in PATH_REQUIRES) or any(x in low for x in PATH_EXCLUDES):
            return UNMAPPED
    leaf = normalize_leaf(path)
    if leaf in _PATH_ONLY and not (in_path and any(r in path.lower() for r in _PATH_ONLY_REQUIRES)):
        return UNMAPPED
    parents = _PARENT_ONLY.get(leaf)
    if parents is not None and in_path and _elements(path)[-2] not in parents:
        return UNMAPPED
    # a model's own path-qualified spelling first (SR OS oper-speed in Mb/s, not NX-OS's named operSpeed; Junos
    # ingress-errors/if-in-errors, a uint64, not IF-MIB's Counter32 ifInErrors); a leaf with no bare spelling
    # maps nowhere else
    if in_path and leaf in _IN_PATH:
        code = _in_path(leaf, path)
        if code != UNMAPPED or (leaf not in _SPEED_TABLE and leaf not in LEAF_TABLE):
            return code
    speed = _SPEED_TABLE.get(leaf)
    if speed is not None:
        return speed
    hit = LEAF_TABLE.get(leaf)
    if hit is not None:
        field, bits = hit
        return _FIELD_INDEX[field] + (_N if bits == 32 else 0)
    epoch = _EPOCH_TABLE.get(leaf)
    if epoch is not None:
        return epoch
    if leaf in _NAME_TABLE:
        return IF_NAME
    return UNMAPPED


class PathMapper(dict[str, int]):
    """A memoising ``path → field code`` dict: ``mapper[path]`` computes a miss once.

    Use ``map(mapper.__getitem__, paths)`` to map many paths at C speed.
    The cache is bounded (cleared when it exceeds ``max_size`` entries).
    """

    def __init__(self, max_size: int = 100_000) -> None:
        super().__init__()
        self.max_size = max_size

    def __missing__(self, path: str) -> int:
        if len(self) >= self.max_size:
            self.clear()
        code = map_path(path) if isinstance(path, str) else UNMAPPED
        self[path] = code
        return code
