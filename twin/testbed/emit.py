"""Encode the network under test's telemetry in the formats real collectors emit.

Each encoder turns columnar rows (NumPy arrays, one row per port, flow record
or probe result) into the bytes of Kafka messages exactly as the collector
would put them on its topic, so the adapters read them through the same path
as a production feed:

- :func:`gnmic_events`: gnmic ``format: event`` JSON, OpenConfig interface
  counters (``/interfaces/interface/state/counters/...``) and oper-status;
- :func:`influx_lines`: Telegraf line protocol, either as the ``gnmi`` input
  writes it (64-bit ``in_octets`` …, tags ``source`` and ``name``) or as the
  ``snmp`` input writes IF-MIB ``ifTable`` (32-bit ``ifInOctets`` … that wrap
  at 2³², tags ``agent_host`` and ``ifName``), with the port's oper-status
  (``ifOperStatus`` / ``oper_status``) when the caller gives it;
- :func:`goflow2_records`: goflow2 JSON flow records with the sampling rate;
- :func:`probe_results`: active-probe results (TWAMP-like: delay, jitter as
  the variance of delay, loss) in twinwatch's probe JSON.

Counters are cumulative unsigned integers; the caller owns them (wraps,
clears and reboots are the caller's events). Timestamps are epoch
nanoseconds.

Examples
--------
>>> import numpy as np
>>> ev = gnmic_events(np.array([1_700_000_000_000_000_000]), np.array(["r1"]), np.array(["et-0/0/1"]),
...                   {"in-octets": np.array([1000], dtype=np.uint64)}, oper_up=np.array([True]))
>>> ev[0][:60]
b'{"name":"twinwatch-testbed","timestamp":1700000000000000000,'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import orjson

__all__ = [
    "GNMIC_COUNTERS",
    "IFMIB32_COUNTERS",
    "ISIS_METRIC_LEAF",
    "LAG_SPEED_LEAF",
    "TELEGRAF_GNMI_COUNTERS",
    "gnmic_events",
    "gnmic_igp_metric_events",
    "goflow2_records",
    "influx_lines",
    "probe_results",
]

_OC = "/interfaces/interface/state/counters/"
GNMIC_COUNTERS: tuple[str, ...] = (
    "in-octets", "out-octets", "in-unicast-pkts", "out-unicast-pkts",
    "in-discards", "out-discards", "in-errors", "out-errors",
)
"""OpenConfig counter leaves the testbed emits (names as in ``/interfaces/interface/state/counters``)."""

LAG_SPEED_LEAF = "/interfaces/interface/aggregation/state/lag-speed"
"""OpenConfig leaf of a LAG's speed (Mb/s, the sum of its members that are up) the testbed emits with
``report_speed``."""

ISIS_METRIC_LEAF = ("/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/af"
                    "/state/metric")
"""OpenConfig leaf of an interface's IS-IS metric (per level and address family) the testbed emits with
``report_igp_metric``."""

TELEGRAF_GNMI_COUNTERS: dict[str, str] = {c: c.replace("-", "_") for c in GNMIC_COUNTERS}
"""OpenConfig leaf → the field name Telegraf's gnmi input writes."""

IFMIB32_COUNTERS: dict[str, str] = {
    "in-octets": "ifInOctets", "out-octets": "ifOutOctets", "in-unicast-pkts": "ifInUcastPkts",
    "out-unicast-pkts": "ifOutUcastPkts", "in-discards": "ifInDiscards", "out-discards": "ifOutDiscards",
    "in-errors": "ifInErrors", "out-errors": "ifOutErrors",
}
"""OpenConfig leaf → the IF-MIB ``ifTable`` Counter32 object Telegraf's snmp input writes."""


def _check_rows(n: int, **cols: np.ndarray) -> None:
    for name, col in cols.items():
        if np.shape(col)[:1] != (n,):
            raise ValueError(f"{name}: expected {n} rows, got shape {np.shape(col)}")


def gnmic_events(
    ts_ns: np.ndarray,
    device: np.ndarray,
    interface: np.ndarray,
    counters: Mapping[str, np.ndarray],
    *,
    oper_up: np.ndarray | None = None,
    speed_mbps: np.ndarray | None = None,
    subscription: str = "twinwatch-testbed",
    port: int = 57400,
) -> list[bytes]:
    """One gnmic event per row: ``(R,)`` timestamps, device names, interface names, counter columns.

    ``counters`` maps an OpenConfig leaf (:data:`GNMIC_COUNTERS`) to ``(R,)``
    unsigned values (emitted as JSON strings, as gnmic does for uint64).
    ``speed_mbps`` (``(R,)`` integers, Mb/s) adds the port's
    ``/interfaces/interface/aggregation/state/lag-speed`` (a uint32, a JSON number); rows at 0 leave it out.
    """
    n = len(ts_ns)
    _check_rows(n, device=device, interface=interface, **dict(counters))
    paths = [_OC + leaf for leaf in counters]
    cols = [np.asarray(col, dtype=np.uint64).astype(str).tolist() for col in counters.values()]
    status = None if oper_up is None else np.where(np.asarray(oper_up, dtype=bool), "UP", "DOWN").tolist()
    speed = None if speed_mbps is None else np.asarray(speed_mbps, dtype=np.int64).tolist()
    ts = np.asarray(ts_ns, dtype=np.int64).tolist()
    devs, ifs = np.asarray(device).tolist(), np.asarray(interface).tolist()
    out = []
    for i in range(n):
        values: dict[str, str] = {path: col[i] for path, col in zip(paths, cols)}
        if status is not None:
            values["/interfaces/interface/state/oper-status"] = status[i]
        if speed is not None and speed[i] > 0:
            values[LAG_SPEED_LEAF] = speed[i]
        out.append(orjson.dumps({
            "name": subscription,
            "timestamp": ts[i],
            "tags": {"interface_name": ifs[i], "source": f"{devs[i]}:{port}", "subscription-name": subscription},
            "values": values,
        }))
    return out


def gnmic_igp_metric_events(
    ts_ns: np.ndarray,
    device: np.ndarray,
    interface: np.ndarray,
    metric: np.ndarray,
    *,
    subscription: str = "isis",
    port: int = 57400,
) -> list[bytes]:
    """One gnmic event per row: the interface's IS-IS level-2 IPv4-unicast metric (:data:`ISIS_METRIC_LEAF`).

    ``(R,)`` timestamps (epoch ns), device names, interface names and metrics (integers, a uint32 in the model:
    a JSON number); the path's keys are tags, as gnmic's event format writes them.

    >>> msgs = gnmic_igp_metric_events(np.array([5]), np.array(["r1"]), np.array(["et1"]), np.array([10]))
    >>> ev = orjson.loads(msgs[0])
    >>> ev["tags"]["interface_interface-id"], ev["tags"]["level_level-number"], ev["values"][ISIS_METRIC_LEAF]
    ('et1', '2', 10)
    """
    n = len(ts_ns)
    _check_rows(n, device=device, interface=interface, metric=metric)
    ts = np.asarray(ts_ns, dtype=np.int64).tolist()
    devs, ifs = np.asarray(device).tolist(), np.asarray(interface).tolist()
    vals = np.asarray(metric, dtype=np.int64).tolist()
    return [orjson.dumps({
        "name": subscription,
        "timestamp": ts[i],
        "tags": {"source": f"{devs[i]}:{port}", "subscription-name": subscription, "network-instance_name": "default",
                 "protocol_identifier": "ISIS", "protocol_name": "default", "interface_interface-id": ifs[i],
                 "level_level-number": "2", "af_afi-name": "IPV4", "af_safi-name": "UNICAST"},
        "values": {ISIS_METRIC_LEAF: vals[i]},
    }) for i in range(n)]


def _escape_tag(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def influx_lines(
    ts_ns: np.ndarray,
    device: np.ndarray,
    interface: np.ndarray,
    counters: Mapping[str, np.ndarray],
    *,
    counter32: np.ndarray | None = None,
    oper_up: np.ndarray | None = None,
    speed_mbps: np.ndarray | None = None,
) -> list[bytes]:
    """One Telegraf line per row; rows with ``counter32`` true use IF-MIB ``ifTable`` names, wrapped at 2³².

    64-bit rows look like Telegraf's gnmi input (measurement ``interface``,
    tags ``source`` and ``name``, unsigned fields ``in_octets=…u``); 32-bit rows
    like its snmp input (measurement ``interface``, tags ``agent_host`` and
    ``ifName``, integer fields ``ifInOctets=…i``). ``oper_up`` (``(R,)`` bool)
    adds the port's state as those inputs write it: ``ifOperStatus=1i`` (up) /
    ``2i`` (down) for the snmp rows, ``oper_status="UP"`` / ``"DOWN"`` for the gnmi rows. ``speed_mbps``
    (``(R,)`` integers, Mb/s; 0 leaves it out) adds its speed: ``ifHighSpeed=…i`` (snmp), ``lag_speed=…i`` (gnmi).

    >>> influx_lines(np.array([1]), np.array(["r1"]), np.array(["et1"]), {"in-octets": np.array([7])},
    ...              counter32=np.array([True]), oper_up=np.array([False]))
    [b'interface,agent_host=r1,ifName=et1 ifInOctets=7i,ifOperStatus=2i 1']
    """
    n = len(ts_ns)
    _check_rows(n, device=device, interface=interface, **dict(counters))
    c32 = np.zeros(n, dtype=bool) if counter32 is None else np.asarray(counter32, dtype=bool)
    cols = {leaf: np.asarray(col, dtype=np.uint64) for leaf, col in counters.items()}
    up = None if oper_up is None else np.asarray(oper_up, dtype=bool)
    if up is not None:
        _check_rows(n, oper_up=up)
    speed = None if speed_mbps is None else np.asarray(speed_mbps, dtype=np.int64)
    out = []
    for i in range(n):
        dev, ifc = _escape_tag(str(device[i])), _escape_tag(str(interface[i]))
        if c32[i]:
            fields = ",".join(f"{IFMIB32_COUNTERS[leaf]}={int(col[i]) & 0xFFFFFFFF}i" for leaf, col in cols.items())
            if up is not None:
                fields += ",ifOperStatus=1i" if up[i] else ",ifOperStatus=2i"
            if speed is not None and speed[i] > 0:
                fields += f",ifHighSpeed={int(speed[i])}i"
            line = f"interface,agent_host={dev},ifName={ifc} {fields} {int(ts_ns[i])}"
        else:
            fields = ",".join(f"{TELEGRAF_GNMI_COUNTERS[leaf]}={int(col[i])}u" for leaf, col in cols.items())
            if up is not None:
                fields += ',oper_status="UP"' if up[i] else ',oper_status="DOWN"'
            if speed is not None and speed[i] > 0:
                fields += f",lag_speed={int(speed[i])}i"
            line = f"interface,name={ifc},source={dev} {fields} {int(ts_ns[i])}"
        out.append(line.encode())
    return out


def goflow2_records(
    time_received_ns: np.ndarray,
    sampler_address: np.ndarray,
    src_addr: np.ndarray,
    dst_addr: np.ndarray,
    bytes_: np.ndarray,
    packets: np.ndarray,
    *,
    sampling_rate: np.ndarray,
    flow_start_ns: np.ndarray,
    flow_end_ns: np.ndarray,
    dscp: np.ndarray,
    proto: np.ndarray,
    src_port: np.ndarray,
    dst_port: np.ndarray,
    flow_type: str = "SFLOW_5",
) -> list[bytes]:
    """One goflow2 JSON record per row (the *sampled* bytes and packets, with ``sampling_rate``)."""
    n = len(time_received_ns)
    _check_rows(n, sampler_address=sampler_address, src_addr=src_addr, dst_addr=dst_addr, bytes_=bytes_,
                packets=packets, sampling_rate=sampling_rate)
    cols = zip(np.asarray(time_received_ns, dtype=np.int64).tolist(), np.asarray(sampling_rate).tolist(),
               np.asarray(sampler_address).tolist(), np.asarray(flow_start_ns, dtype=np.int64).tolist(),
               np.asarray(flow_end_ns, dtype=np.int64).tolist(), np.asarray(bytes_, dtype=np.int64).tolist(),
               np.asarray(packets, dtype=np.int64).tolist(), np.asarray(src_addr).tolist(),
               np.asarray(dst_addr).tolist(), np.asarray(proto).tolist(), np.asarray(src_port).tolist(),
               np.asarray(dst_port).tolist(), (np.asarray(dscp, dtype=np.int64) << 2).tolist())
    return [
        orjson.dumps({
            "type": flow_type, "time_received_ns": tr, "sequence_num": i, "sampling_rate": sr,
            "sampler_address": sa, "time_flow_start_ns": fs, "time_flow_end_ns": fe, "bytes": by, "packets": pk,
            "src_addr": s, "dst_addr": d, "etype": "IPv6" if ":" in s else "IPv4", "proto": pr, "src_port": sp,
            "dst_port": dp, "ip_tos": tos,
        })
        for i, (tr, sr, sa, fs, fe, by, pk, s, d, pr, sp, dp, tos) in enumerate(cols)
    ]


def probe_results(
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    delay_s: np.ndarray,
    jitter_s2: np.ndarray,
    loss_ratio: np.ndarray,
    sent: np.ndarray,
) -> list[bytes]:
    """One probe result per row (twinwatch probe JSON); ``(R,)`` arrays, delay in s, jitter as variance in s²."""
    n = len(ts)
    _check_rows(n, src=src, dst=dst, delay_s=delay_s, jitter_s2=jitter_s2, loss_ratio=loss_ratio, sent=sent)
    out = []
    for i in range(n):
        sent_i = int(sent[i])
        received = round(sent_i * (1.0 - float(loss_ratio[i])))
        row: dict[str, object] = {"src": str(src[i]), "dst": str(dst[i]), "ts": float(ts[i]),
                                  "sent": sent_i, "received": received}
        if received > 0:
            row["delay_s"] = float(delay_s[i])
            row["jitter_s2"] = float(jitter_s2[i])
        row["loss_ratio"] = float(loss_ratio[i])
        out.append(orjson.dumps(row))
    return out
