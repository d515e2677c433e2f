"""Telegraf output: the JSON serializer and influx line protocol, for the ``snmp``, ``gnmi``,
``jti_openconfig_telemetry`` and ``net`` inputs.

Both decoders reduce a Telegraf *metric* (name, tags, fields, timestamp) to a
record and map its field names through the shared path table:

- ``gnmi`` input: fields ``in_octets`` … (or full paths with
  ``canonical_field_names``), tags ``source`` (device), ``name`` (interface),
  ``path``; sub-interface metrics (``path`` with ``subinterface``) get
  ``.<index>`` appended. An IS-IS / OSPFv2 metric (field ``metric`` under a ``path``
  tag ending ``…/isis/interfaces/interface/levels/level/af/state``, or its full path with
  ``canonical_field_names``): the path's keys as tags, ``-`` written ``_``: the interface
  ``interface_id`` (IS-IS) / ``id`` (OSPFv2), ``level_number``, ``afi_name``, ``safi_name``
  (``interface_interface_id`` … with ``prefix_tag_key_with_path``; :mod:`twinwatch.telemetry_adapters.igp`).
- ``snmp`` input (IF-MIB ``ifTable`` Counter32 / ``ifXTable`` ``ifHC*`` Counter64):
  tags ``agent_host``, ``ifName`` / ``ifDescr`` (or those as fields), fields
  ``ifHCInOctets`` …, ``sysUpTime`` (a reboot marker when in the same metric),
  ``ifOperStatus``, and the speed ``ifHighSpeed`` (Mb/s) / ``ifSpeed`` (bit/s;
  :mod:`twinwatch.telemetry_adapters.speed`; the gnmi input writes a LAG's as ``lag_speed``).
- ``jti_openconfig_telemetry`` input (Junos Telemetry Interface): fields are full OpenConfig paths, the router
  is the ``device`` tag (``host`` is the collector's own name there, as with ``source`` / ``agent_host``) and the
  path's list keys are XPath tags (``/interfaces/interface/@name``, ``…/subinterface/@index``:
  :func:`xpath_interface`).
- ``net`` input: tags ``host``, ``interface``; fields ``bytes_recv`` …
- Nokia SR OS through the ``gnmi`` input: the port is the ``port_id`` tag (its key ``port-id``).

JSON messages are one metric or ``{"metrics": [...]}``; the timestamp unit
(``json_timestamp_units``) is given to the decoder or guessed from magnitude
(s, ms, µs or ns). A line-protocol message may hold many lines.

Examples
--------
>>> dec = InfluxLineDecoder(DecoderConfig(now_ns=1704442117721474264))
>>> res = dec.decode(b"interface,agent_host=r1,ifName=Gi0/1 ifHCInOctets=10u,ifInOctets=7i 1704442117721474264")
>>> [(r["device"], r["interface"], r["field"], r["kind"]) for r in res.samples.rows()]
[('r1', 'Gi0/1', 'rx_octets', 64), ('r1', 'Gi0/1', 'rx_octets', 32)]
>>> dec = TelegrafJsonDecoder(DecoderConfig(now_ns=1458229140 * 10**9))
>>> res = dec.decode(b'{"metrics":[{"name":"net","tags":{"host":"h","interface":"eth0"},'
...                  b'"fields":{"bytes_recv":5,"bytes_sent":6},"timestamp":1458229140}]}')
>>> [(r["field"], r["value_u64"], r["ts_ns"]) for r in res.samples.rows()]
[('rx_octets', 5, 1458229140000000000), ('tx_octets', 6, 1458229140000000000)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from twinwatch.telemetry_adapters._assemble import Records, to_ns_by_magnitude
from twinwatch.telemetry_adapters._json import load_json_messages, to_bytes
from twinwatch.telemetry_adapters._record_decoder import RecordDecoder
from twinwatch.telemetry_adapters.base import DecoderConfig, DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import Reason, Rejection
from twinwatch.telemetry_adapters.igp import igp_keys, is_igp_path, keyed_path
from twinwatch.telemetry_adapters.influx import LineProtocolError, parse_line
from twinwatch.telemetry_adapters.paths import INTERFACE_KEYS, INTERFACE_LISTS

__all__ = ["InfluxLineDecoder", "TelegrafJsonDecoder", "metric_to_record"]

#: Tags naming the device, in priority order: the router's (gnmi ``source``, snmp ``agent_host``,
#: jti_openconfig_telemetry ``device``) before ``host``, which those inputs set to the collector's own name.
_DEVICE_TAGS = ("source", "agent_host", "device", "host", "hostname")
_IF_TAGS = (*INTERFACE_KEYS, "ifName", "ifDescr", "ifAlias", "interface", "ifIndex")
_UNITS_NS = {"1ns": 1, "1us": 1_000, "1µs": 1_000, "1ms": 1_000_000, "1s": 1_000_000_000}


def xpath_interface(tags: Mapping[str, Any]) -> str:
    """The interface that XPath-style key tags name, ``""`` when none: Telegraf's ``jti_openconfig_telemetry``
    input (Junos Telemetry Interface) writes a path's list keys as ``<list path>/@<key>`` tags.

    >>> xpath_interface({"/interfaces/interface/@name": "ge-0/0/0", "device": "r1"})
    'ge-0/0/0'
    >>> xpath_interface({"/interfaces/interface/@name": "fxp0",
    ...                  "/interfaces/interface/subinterfaces/subinterface/@index": "0"})
    'fxp0.0'
    >>> xpath_interface({"/lldp/interfaces/interface/neighbors/neighbor/@id": "7", "host": "c1"})
    ''
    """
    iface = sub = ""
    for k, v in tags.items():
        if type(k) is not str or "/@" not in k or v is None:
            continue
        path, _, key = k.rpartition("/@")
        elem = path.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if key in INTERFACE_LISTS.get(elem, ()):
            iface = str(v)
        elif elem == "subinterface" and key == "index":
            sub = str(v)
    return f"{iface}.{sub}" if iface and sub else iface


def metric_to_record(
    name: str, tags: Mapping[str, Any], fields: Mapping[str, Any], ts_ns: int, msg: int, recs: Records
) -> None:
    """Append one Telegraf metric to ``recs`` (device and interface from tags; fields as leaves)."""
    device = next((str(tags[k]) for k in _DEVICE_TAGS if k in tags), "")
    iface = next((str(tags[k]) for k in _IF_TAGS if k in tags), "") or xpath_interface(tags)
    path = str(tags.get("path", ""))
    if iface and "subinterface" in path and "index" in tags:
        iface = f"{iface}.{tags['index']}"
    if path and "/" in path:
        # give bare field names the subscription path as context (excludes QoS/queue paths)
        base = path.rstrip("/")
        leaves: Mapping[str, Any] = {(k if "/" in k else f"{base}/{k}"): v for k, v in fields.items()}
    else:
        leaves = fields
    if any(is_igp_path(k) for k in leaves):  # IS-IS / OSPFv2: the path's keys are tags
        igp_iface, topo = igp_keys(tags)
        # the keys name the interface (a bare ``name`` tag is the network instance's or the protocol's)
        iface = igp_iface or next((str(tags[k]) for k in _IF_TAGS if k in tags and k != "name"), "")
        if topo:
            leaves = {keyed_path(k, topo) if is_igp_path(k) else k: v for k, v in leaves.items()}
    recs.add(device, iface, ts_ns, msg, leaves)


class TelegrafJsonDecoder(RecordDecoder):
    """Telegraf JSON serializer output → :class:`~telemetry_adapters.schema.SampleBatch`.

    Parameters
    ----------
    config
        Shared decoder limits.
    timestamp_units
        Telegraf's ``json_timestamp_units`` (``1s``, ``1ms``, ``1us``, ``1ns``);
        ``None`` guesses from magnitude.
    """

    name: ClassVar[str] = "telegraf-json"
    description: ClassVar[str] = "Telegraf JSON serializer: one metric or {'metrics': [...]}; json_timestamp_units"

    def __init__(self, config: DecoderConfig | None = None, timestamp_units: str | None = None) -> None:
        super().__init__(config)
        if timestamp_units is not None and timestamp_units not in _UNITS_NS:
            raise ValueError(f"timestamp_units {timestamp_units!r} is not one of {sorted(_UNITS_NS)}")
        self.timestamp_units = timestamp_units

    def _ts_ns(self, ts: Any) -> int | None:
        if isinstance(ts, bool) or not isinstance(ts, int | float) or ts != ts or abs(ts) > 9.2e18:
            return None
        if self.timestamp_units is None:
            return to_ns_by_magnitude(ts)
        return round(ts * _UNITS_NS[self.timestamp_units])

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        p_idx, p_objs, rejections = load_json_messages(messages, self.name, self.config.max_message_bytes)
        recs = Records()
        for i, obj in zip(p_idx, p_objs, strict=True):
            if isinstance(obj, dict) and "metrics" in obj:
                metrics = obj["metrics"]
                if not isinstance(metrics, list):
                    rejections.append(self._reject(Reason.WRONG_TYPE, f"message {i}: 'metrics' is not a list",
                                                   messages[i]))
                    continue
                if not metrics:
                    rejections.append(self._reject(Reason.EMPTY, f"message {i}: 'metrics' is empty", messages[i]))
            elif isinstance(obj, list):
                metrics = obj
                if not metrics:
                    rejections.append(self._reject(Reason.EMPTY, f"message {i} is an empty array", messages[i]))
            else:
                metrics = [obj]
            for m in metrics:
                err = self._add_metric(m, i, recs)
                if err is not None:
                    rejections.append(self._reject(err[0], f"message {i}: {err[1]}", messages[i]))
        return self._finish(recs, messages, rejections)

    def _add_metric(self, m: Any, i: int, recs: Records) -> tuple[str, str] | None:
        if not isinstance(m, dict):
            return Reason.WRONG_TYPE, f"metric is a {type(m).__name__}, expected an object"
        for key in ("fields", "timestamp"):
            if key not in m:
                return Reason.MISSING_FIELD, f"metric has no {key!r}"
        fields, tags = m["fields"], m.get("tags") or {}
        if not isinstance(fields, dict):
            return Reason.WRONG_TYPE, "metric 'fields' is not an object"
        if not isinstance(tags, dict):
            return Reason.WRONG_TYPE, "metric 'tags' is not an object"
        ts = self._ts_ns(m["timestamp"])
        if ts is None:
            return Reason.WRONG_TYPE, f"metric timestamp {m['timestamp']!r} is not an epoch number"
        name = m.get("name", "")
        metric_to_record(str(name), tags, fields, ts, i, recs)
        return None


class InfluxLineDecoder(RecordDecoder):
    """Influx line protocol (one or more lines per message) → :class:`~telemetry_adapters.schema.SampleBatch`.

    Timestamps are taken as ns unless their magnitude says s, ms or µs.
    """

    name: ClassVar[str] = "influx"
    description: ClassVar[str] = "Influx line protocol (Telegraf influx serializer), i/u suffixes, ns timestamps"

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        rejections: list[Rejection] = []
        recs = Records()
        limit = self.config.max_message_bytes
        for i, message in enumerate(messages):
            raw = to_bytes(message)
            if len(raw) > limit:
                rejections.append(self._reject(Reason.OVERSIZED, f"message {i} is {len(raw)} bytes, over "
                                               f"max_message_bytes={limit}", raw))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejections.append(self._reject(Reason.MALFORMED_JSON, f"message {i} is not UTF-8: {exc}", raw))
                continue
            n_before = len(recs)
            n_rej = len(rejections)
            for ln, line in enumerate(text.splitlines()):
                s = line.strip()
                if not s or s.startswith("#"):
                    continue
                try:
                    meas, tags, fields, ts = parse_line(s)
                except LineProtocolError as exc:
                    rejections.append(self._reject(Reason.MALFORMED_JSON, f"message {i} line {ln + 1}: {exc}",
                                                   line))
                    continue
                if ts is None:
                    rejections.append(self._reject(Reason.MISSING_FIELD, f"message {i} line {ln + 1}: no timestamp; "
                                                   "configure Telegraf to write timestamps", line))
                    continue
                if abs(ts) >= 2**63:
                    rejections.append(self._reject(Reason.TS_FUTURE if ts > 0 else Reason.TS_PAST,
                                                   f"message {i} line {ln + 1}: timestamp {ts} out of range", line))
                    continue
                metric_to_record(meas, tags, fields, to_ns_by_magnitude(ts), i, recs)
            if len(recs) == n_before and len(rejections) == n_rej:
                rejections.append(self._reject(Reason.EMPTY, f"message {i} has no lines", raw))
        return self._finish(recs, messages, rejections)
