"""gNMI ``SubscribeResponse`` messages in protobuf-JSON form (what ``gnmic --format json`` or a
gRPC-to-JSON bridge writes; the captures in ``telegraf-gnmi/*/responses.json``).

One message is a response object or a JSON array of them::

    {"update": {"timestamp": "1704442117721474264",
                "prefix": {"origin": "openconfig", "target": "leaf1",
                           "elem": [{"name": "interfaces"}, {"name": "interface", "key": {"name": "Ethernet35"}},
                                    {"name": "state"}, {"name": "counters"}]},
                "update": [{"path": {"elem": [{"name": "in-octets"}]}, "val": {"uintVal": "0"}}]}}

Values are ``TypedValue`` objects (``uintVal``/``intVal`` as strings or numbers,
``stringVal``, ``doubleVal``, ``jsonVal``/``jsonIetfVal`` as base64 JSON or inline
objects, which are flattened into leaves). The interface is the key of the
``interface`` element (``name`` or ``interface-name``), with ``.<index>`` for a
``subinterface``; when the path has no key, a ``name`` leaf under the counters
(seen on Ciena) names it. The device is ``prefix.target``, or
:attr:`~telemetry_adapters.base.DecoderConfig.default_device` when the target
leaves it empty (most do: the collector knows the device from its session);
an IS-IS / OSPFv2 metric's interface is its ``interface-id`` / ``id`` key (those
keys name an interface only inside such a path) and its level and address
family stay in the path as keys (:mod:`twinwatch.telemetry_adapters.igp`);
with neither, the response is rejected as ``missing_device`` (never rows of device ``""``).

Examples
--------
>>> from twinwatch.telemetry_adapters.base import DecoderConfig
>>> dec = GnmiDecoder(DecoderConfig(now_ns=1704442117721474264, default_device="leaf1"))  # no prefix.target
>>> msg = (b'{"update":{"timestamp":"1704442117721474264","prefix":{"elem":[{"name":"interfaces"},'
...        b'{"name":"interface","key":{"name":"Ethernet35"}},{"name":"state"},{"name":"counters"}]},'
...        b'"update":[{"path":{"elem":[{"name":"in-octets"}]},"val":{"uintVal":"7"}}]}}')
>>> [(r["device"], r["interface"], r["field"], r["value_u64"]) for r in dec.decode(msg).samples.rows()]
[('leaf1', 'Ethernet35', 'rx_octets', 7)]
>>> [r.reason for r in GnmiDecoder(DecoderConfig(now_ns=1704442117721474264)).decode(msg).rejections]
['missing_device']
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import orjson

from twinwatch.telemetry_adapters._assemble import Records
from twinwatch.telemetry_adapters._record_decoder import RecordDecoder
from twinwatch.telemetry_adapters.base import DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.igp import IGP_CONTAINERS, TOPOLOGY, is_igp_path
from twinwatch.telemetry_adapters.paths import INTERFACE_LISTS

__all__ = ["GnmiDecoder", "flatten_json"]

_SCALAR_KEYS = ("uintVal", "intVal", "stringVal", "doubleVal", "floatVal", "boolVal", "asciiVal", "decimalVal")
_JSON_KEYS = ("jsonIetfVal", "jsonVal")
_IGP_IF_KEY_NAMES = ("interface-id", "id", *INTERFACE_LISTS["interface"])  # IS-IS interface-id, OSPFv2 id: only there


def _topology_keys(keys: dict[str, Any]) -> str:
    """The IGP topology keys (``level-number``, ``afi-name``, ``safi-name``) of a list element, as ``[k=v]…``."""
    out = ""
    for k, v in keys.items():
        name = _strip(k) if isinstance(k, str) else ""
        if name in TOPOLOGY and not isinstance(v, dict | list):
            out += f"[{name}={v}]"
    return out


def _strip(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _keyed_interface(node: str, keys: dict[str, Any], iface: str, igp: bool = False) -> str:
    """The interface a list element or path element with ``keys`` names under ``node`` (else ``iface``): a list of
    :data:`~telemetry_adapters.paths.INTERFACE_LISTS`; ``igp``: inside an IS-IS / OSPFv2 path, where
    ``interface-id`` / ``id`` name an ``interface`` too (nowhere else).

    >>> _keyed_interface("interface", {"name": "et1"}, ""), _keyed_interface("subinterface", {"index": 0}, "et1")
    ('et1', 'et1.0')
    >>> _keyed_interface("interface", {"id": "7"}, ""), _keyed_interface("interface", {"id": "et2"}, "", igp=True)
    ('', 'et2')
    >>> _keyed_interface("port", {"port-id": "1/1/c1/1"}, "")  # Nokia SR OS
    '1/1/c1/1'
    """
    names = _IGP_IF_KEY_NAMES if igp and node == "interface" else INTERFACE_LISTS.get(node)
    if names is not None:
        name = next((keys[k] for k in names if k in keys), None)
        return iface if name is None else str(name)
    if node == "subinterface" and "index" in keys:
        return f"{iface}.{keys['index']}"
    return iface


def flatten_json(obj: Any, path: str, iface: str) -> Iterator[tuple[str, str, Any]]:
    """Flatten a JSON(-IETF) value into ``(interface, leaf path, scalar)`` triples.

    Lists under an ``interface`` (or ``subinterface``) node start a new interface
    from the element's ``name`` / ``interface-name`` (``index``) key; inside an
    IS-IS / OSPFv2 path also ``interface-id`` / ``id``, and a ``level`` / ``af``
    element's topology keys are written into the path (``level[level-number=2]``).

    >>> list(flatten_json({"interface": [{"name": "e1", "state": {"counters": {"in-octets": "5"}}}]},
    ...                   "/interfaces", ""))
    [('e1', '/interfaces/interface/name', 'e1'), ('e1', '/interfaces/interface/state/counters/in-octets', '5')]
    """
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten_json(v, f"{path}/{k}", iface)
    elif isinstance(obj, list):
        node = _strip(path.rsplit("/", 1)[-1])
        igp = is_igp_path(path)
        for el in obj:
            if isinstance(el, dict):
                yield from flatten_json(el, path + _topology_keys(el) if igp else path,
                                        _keyed_interface(node, el, iface, igp))
            else:
                yield from flatten_json(el, path, iface)
    else:
        yield iface, path, obj


def _elems_to_path(elems: Any, iface: str, base: str = "") -> tuple[str, str] | None:
    """``elem`` list (under the path ``base``) → ("/a/b/c", interface from keys) or None when malformed. Inside an
    IS-IS / OSPFv2 path the topology keys stay in the path (``level[level-number=2]``), the others are dropped."""
    if not isinstance(elems, list):
        return None
    parts = []
    igp = is_igp_path(base)
    for e in elems:
        if not isinstance(e, dict):
            return None
        name = e.get("name", "")
        if not isinstance(name, str):
            return None
        igp = igp or _strip(name).lower() in IGP_CONTAINERS
        key = e.get("key")
        if isinstance(key, dict) and key:
            iface = _keyed_interface(_strip(name), key, iface, igp)
            if igp:
                name += _topology_keys(key)
        parts.append(name)
    return "/" + "/".join(parts), iface


def _typed_value(val: Any) -> tuple[bool, Any]:
    """(is_json, value) of a TypedValue object; JSON values come back decoded."""
    if not isinstance(val, dict):
        return False, val
    for k in _SCALAR_KEYS:
        if k in val:
            return False, val[k]
    for k in _JSON_KEYS:
        if k in val:
            v = val[k]
            if isinstance(v, str):
                try:
                    return True, orjson.loads(base64.b64decode(v, validate=True))
                except (binascii.Error, ValueError):
                    try:
                        return True, orjson.loads(v)
                    except orjson.JSONDecodeError:
                        return False, v
            return True, v
    return False, None


class GnmiDecoder(RecordDecoder):
    """gNMI SubscribeResponse (protobuf JSON) → :class:`~telemetry_adapters.schema.SampleBatch`."""

    name: ClassVar[str] = "gnmi"
    description: ClassVar[str] = "gNMI SubscribeResponse in protobuf JSON (object or array), TypedValue values"

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        return self._decode_json_items(messages, self._add_response)

    def _add_response(self, resp: Any, i: int, recs: Records) -> list[tuple[str, str]]:
        err = self._parse_response(resp, i, recs)
        return [] if err is None else [err]

    def _parse_response(self, resp: Any, i: int, recs: Records) -> tuple[str, str] | None:
        if not isinstance(resp, dict):
            return Reason.WRONG_TYPE, f"response is a {type(resp).__name__}, expected a SubscribeResponse object"
        notif = resp.get("update")
        if notif is None:
            if resp.get("syncResponse") is not None or resp.get("sync_response") is not None:
                return Reason.EMPTY, "syncResponse carries no data"
            return Reason.MISSING_FIELD, "response has no 'update' notification"
        if not isinstance(notif, dict):
            return Reason.WRONG_TYPE, f"'update' is a {type(notif).__name__}, expected a Notification object"
        ts_raw = notif.get("timestamp")
        if isinstance(ts_raw, str) and ts_raw.isdigit():
            ts = int(ts_raw)
        elif type(ts_raw) is int:
            ts = ts_raw
        elif ts_raw is None:
            return Reason.MISSING_FIELD, "notification has no 'timestamp' (epoch ns)"
        else:
            return Reason.WRONG_TYPE, f"notification timestamp {ts_raw!r} is not an integer of epoch ns"
        if ts >= 2**63:
            return Reason.TS_FUTURE, f"notification timestamp {ts} is out of int64 range"
        prefix = notif.get("prefix") or {}
        if not isinstance(prefix, dict):
            return Reason.WRONG_TYPE, "'prefix' is not a Path object"
        target = prefix.get("target")
        device = target if isinstance(target, str) and target else self.config.default_device
        if not device:
            return Reason.MISSING_DEVICE, ("response names no device (prefix.target is empty) and no default device "
                                           "is set; pass --device NAME (DecoderConfig.default_device)")
        pp = _elems_to_path(prefix.get("elem", []), "")
        if pp is None:
            return Reason.WRONG_TYPE, "prefix 'elem' is not a list of {name, key} objects"
        base, base_iface = pp
        updates = notif.get("update")
        if updates is None:
            return Reason.EMPTY, "notification carries no updates (delete-only)"
        if not isinstance(updates, list):
            return Reason.WRONG_TYPE, f"notification 'update' is a {type(updates).__name__}, expected a list"
        by_iface: dict[str, dict[str, Any]] = {}
        for u in updates:
            if not isinstance(u, dict):
                return Reason.WRONG_TYPE, "an update is not an object"
            path = u.get("path") or {}
            if not isinstance(path, dict):
                return Reason.WRONG_TYPE, "an update 'path' is not an object"
            pu = _elems_to_path(path.get("elem", []), base_iface, base)
            if pu is None:
                return Reason.WRONG_TYPE, "update path 'elem' is not a list of {name, key} objects"
            sub, iface = pu
            full = base + sub if sub != "/" else base
            is_json, value = _typed_value(u.get("val"))
            if is_json:
                for itf, leaf, v in flatten_json(value, full, iface):
                    by_iface.setdefault(itf, {})[leaf] = v
            else:
                by_iface.setdefault(iface, {})[full] = value
        if not by_iface:
            return Reason.EMPTY, "notification has an empty update list"
        for iface, leaves in by_iface.items():
            recs.add(device, iface, ts, i, leaves)
        return None
