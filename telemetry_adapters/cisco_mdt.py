"""Cisco model-driven telemetry JSON: pmacct ``pmtelemetryd`` Kafka envelopes, IOS XR JSON, NX-OS GPB-KV JSON.

Three shapes are accepted per message:

1. pmacct's Kafka envelope::

       {"event_type": "dump", "timestamp": "1564583513.123456", "telemetry_node": "10.0.0.1",
        "serialization": "json", "telemetry_data": "<JSON string of shape 2>"}

2. Cisco JSON encoding (IOS XR)::

       {"node_id_str": "xr1", "encoding_path": "Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/
        interface/latest/generic-counters", "msg_timestamp": 1564583513000,
        "data_json": [{"timestamp": 1564583512990, "keys": {"interface-name": "Gi0/0/0/0"},
                       "content": {"bytes-received": "1234", "packets-received": "12", ...}}]}

   ``keys`` may be an object or a list of one-key objects; some paths carry
   the keys inside ``content``. 64-bit counters arrive as strings.

3. The GPB key-value telemetry message in protobuf JSON (NX-OS, as in
   Telegraf's ``cisco_telemetry_mdt`` test packets): ``nodeIdStr``,
   ``encodingPath``, ``msgTimestamp`` (ms) and ``dataGpbkv`` rows of
   ``{"fields": [{"name": "keys", "fields": [...]}, {"name": "content", ...}]}``.

Every row becomes one record per interface; content is flattened under the
encoding path and mapped by the shared table. Timestamps: row ``timestamp``
(ms), else ``msg_timestamp`` (ms), else the envelope ``timestamp`` (s).
The device is ``node_id_str`` (else ``telemetry_node``). NX-OS DME rows
without an interface key take it from a ``dn`` such as ``sys/intf/phys-[eth1/1]``.
An OpenConfig IS-IS / OSPFv2 encoding path (``openconfig-network-instance:network-instances/…/isis/interfaces/
interface/levels/level/af/state``, content ``metric``) takes its interface from the ``interface-id`` / ``id``
key and its level and address family from the ``level-number`` / ``afi-name`` / ``safi-name`` keys
(:mod:`twinwatch.telemetry_adapters.igp`), as the counters' OpenConfig paths take theirs from ``name``.

Examples
--------
>>> from twinwatch.telemetry_adapters.base import DecoderConfig
>>> import orjson
>>> inner = {"node_id_str": "xr1", "msg_timestamp": 1564583513000,
...          "encoding_path": "Cisco-IOS-XR-infra-statsd-oper:infra-statistics/interfaces/interface/latest/"
...                           "generic-counters",
...          "data_json": [{"timestamp": 1564583512990, "keys": {"interface-name": "Gi0/0/0/0"},
...                         "content": {"bytes-received": "1234", "seconds-since-last-clear-counters": 100}}]}
>>> env = {"event_type": "dump", "timestamp": "1564583513.1", "telemetry_node": "10.0.0.1",
...        "telemetry_data": orjson.dumps(inner).decode()}
>>> res = CiscoMdtDecoder(DecoderConfig(now_ns=1564583513 * 10**9)).decode(orjson.dumps(env))
>>> [(r["device"], r["interface"], r["field"], r["value_u64"], r["epoch_ns"]) for r in res.samples.rows()]
[('xr1', 'Gi0/0/0/0', 'rx_octets', 1234, 1564583413000000000)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import orjson

from twinwatch.telemetry_adapters._assemble import Records
from twinwatch.telemetry_adapters._record_decoder import RecordDecoder
from twinwatch.telemetry_adapters.base import DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.gnmi import flatten_json
from twinwatch.telemetry_adapters.igp import igp_keys, is_igp_path, keyed_path

__all__ = ["CiscoMdtDecoder", "gpbkv_to_json"]

_IF_KEYS = ("interface-name", "interface_name", "interfaceName", "if-name", "name", "interface")
_DN_IF = re.compile(r"(?:phys|aggr|lo|vlan|svi|tunnel)-\[([^\]]+)\]")
_GPB_VALUE_KEYS = (
    "stringValue", "uint64Value", "uint32Value", "sint64Value", "sint32Value", "boolValue",
    "doubleValue", "floatValue", "bytesValue",
)  # fmt: skip


def gpbkv_to_json(fields: Any) -> Any:
    """A GPB-KV ``fields`` list → nested JSON (repeated names become lists; anonymous entries merge).

    >>> gpbkv_to_json([{"name": "a", "uint64Value": "5"}, {"fields": [{"name": "b", "stringValue": "x"}]}])
    {'a': '5', 'b': 'x'}
    """
    out: dict[str, Any] = {}
    if not isinstance(fields, list):
        return out
    for f in fields:
        if not isinstance(f, dict):
            continue
        name = f.get("name")
        if "fields" in f:
            value: Any = gpbkv_to_json(f["fields"])
        else:
            value = next((f[k] for k in _GPB_VALUE_KEYS if k in f), None)
        if not isinstance(name, str):
            if isinstance(value, dict):
                for k, v in value.items():
                    _put(out, k, v)
            continue
        _put(out, name, value)
    return out


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if key in d:
        cur = d[key]
        if isinstance(cur, list) and getattr(cur, "_multi", False):
            cur.append(value)
        else:
            lst = _Multi([cur, value])
            d[key] = lst
    else:
        d[key] = value


class _Multi(list[Any]):
    _multi = True


def _keys_dict(keys: Any) -> dict[str, Any]:
    if isinstance(keys, dict):
        return keys
    if isinstance(keys, list):
        out: dict[str, Any] = {}
        for k in keys:
            if isinstance(k, dict):
                out.update(k)
        return out
    return {}


def _ms_to_ns(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        try:
            v = float(v) if "." in v else int(v)
        except ValueError:
            return None
    if isinstance(v, int) and 0 <= v < 2**63 // 1_000_000:
        return v * 1_000_000
    if isinstance(v, float) and v == v and 0 <= v < 9.2e12:
        return round(v * 1e6)
    return None


def _s_to_ns(v: Any) -> int | None:
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if isinstance(v, int | float) and not isinstance(v, bool) and v == v and 0 <= v < 9.2e9:
        return round(v * 1e9)
    return None


class CiscoMdtDecoder(RecordDecoder):
    """Cisco MDT JSON (pmacct envelope, IOS XR JSON, NX-OS GPB-KV JSON) → SampleBatch."""

    name: ClassVar[str] = "cisco-mdt"
    description: ClassVar[str] = "Cisco MDT JSON: pmacct pmtelemetryd envelope / XR data_json rows / NX-OS dataGpbkv"

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        return self._decode_json_items(messages, self._add_message)

    def _add_message(self, obj: Any, i: int, recs: Records) -> list[tuple[str, str]]:
        if not isinstance(obj, dict):
            return [(Reason.WRONG_TYPE, f"a {type(obj).__name__}, expected an MDT object")]
        env_ts: int | None = None
        node = ""
        if "telemetry_data" in obj:  # pmacct envelope
            env_ts = _s_to_ns(obj.get("timestamp"))
            node = str(obj.get("telemetry_node", ""))
            data = obj["telemetry_data"]
            if isinstance(data, str):
                try:
                    data = orjson.loads(data)
                except orjson.JSONDecodeError as exc:
                    return [(Reason.MALFORMED_JSON, f"telemetry_data is not valid JSON: {exc}")]
            if not isinstance(data, dict):
                return [(Reason.WRONG_TYPE, "telemetry_data is not a JSON object (or a string of one)")]
            obj = data
        device = obj.get("node_id_str", obj.get("nodeIdStr", node))
        device = device if isinstance(device, str) and device else node
        path = obj.get("encoding_path", obj.get("encodingPath", ""))
        if not isinstance(path, str):
            return [(Reason.WRONG_TYPE, "encoding_path is not a string")]
        msg_ts = _ms_to_ns(obj.get("msg_timestamp", obj.get("msgTimestamp")))
        if "data_json" in obj:
            rows = obj["data_json"]
            gpb = False
        elif "dataGpbkv" in obj:
            rows = obj["dataGpbkv"]
            gpb = True
        elif "data_gpbkv" in obj:
            rows = obj["data_gpbkv"]
            gpb = True
        else:
            return [(Reason.MISSING_FIELD, "no data_json / dataGpbkv rows (and no telemetry_data envelope)")]
        if not isinstance(rows, list):
            return [(Reason.WRONG_TYPE, "data rows are not a list")]
        if not rows:
            return [(Reason.EMPTY, "no data rows")]
        errors: list[tuple[str, str]] = []
        for row in rows:
            if not isinstance(row, dict):
                errors.append((Reason.WRONG_TYPE, "a data row is not an object"))
                continue
            if gpb:
                tree = gpbkv_to_json(row.get("fields"))
                keys, content = _keys_dict(tree.get("keys")), tree.get("content", {})
            else:
                keys, content = _keys_dict(row.get("keys")), row.get("content", {})
            ts = _ms_to_ns(row.get("timestamp")) if row.get("timestamp") is not None else None
            ts = ts if ts is not None else msg_ts if msg_ts is not None else env_ts
            if ts is None:
                errors.append((Reason.MISSING_FIELD, "row has no usable timestamp (row timestamp / msg_timestamp "
                               "in ms / envelope timestamp in s)"))
                continue
            igp = is_igp_path(path)
            topo: dict[str, str] = {}
            if igp:  # IS-IS / OSPFv2: the interface is the interface-id / id key (a "name" key is the instance's)
                iface, topo = igp_keys(keys)
                iface = iface or next((str(keys[k]) for k in _IF_KEYS if k in keys and k != "name"), "")
            else:
                iface = next((str(keys[k]) for k in _IF_KEYS if k in keys), "")
            if not iface and isinstance(content, dict):
                iface = next((str(content[k]) for k in _IF_KEYS if isinstance(content.get(k), str)), "")
            by_iface: dict[str, dict[str, Any]] = {}
            for itf, leaf, v in flatten_json(content, path.rstrip("/"), iface):
                by_iface.setdefault(itf, {})[keyed_path(leaf, topo) if topo else leaf] = v
            if not by_iface:
                errors.append((Reason.EMPTY, "row has no content"))
                continue
            for itf, leaves in by_iface.items():
                if not itf:
                    dn = next((v for k, v in leaves.items() if k.endswith("/dn") and isinstance(v, str)), "")
                    m = _DN_IF.search(dn) or _DN_IF.search(path)
                    itf = m.group(1) if m else ""
                recs.add(device, itf, ts, i, leaves)
        return errors
