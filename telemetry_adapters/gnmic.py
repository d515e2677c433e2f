"""gnmic event JSON (``format: event`` of gnmic's Kafka / file outputs).

One message is a single event object or a JSON array of events::

    {"name": "sub1", "timestamp": 1607291271894072397,
     "tags": {"interface_name": "Ethernet1", "source": "172.23.23.2:57400", "subscription-name": "sub1"},
     "values": {"/interfaces/interface/state/counters/in-octets": "65382630", ...}}

``timestamp`` is epoch ns; ``values`` are keyed by (OpenConfig or native)
paths, counters as JSON strings or integers. The device is the ``source`` tag
without its gRPC port (or ``target``/``host``); the interface is the
``interface_name`` tag (or another :data:`~telemetry_adapters.paths.INTERFACE_KEYS`
tag: gnmic names a list key's tag ``<list>_<key>``, Nokia SR OS's port ``port_port-id``), with ``.<index>``
appended for sub-interface events. An IS-IS / OSPFv2
metric event names its interface by its path's key as a tag
(``interface_interface-id``, ``interface_id``) and its level and address
family by tags (``level_level-number``, ``af_afi-name``, ``af_safi-name``),
read by :func:`~telemetry_adapters.igp.igp_keys` only for such an event.

Speed: by default the batch first goes through a strict numba byte scanner
(:mod:`twinwatch.telemetry_adapters._gnmic_fast`) that decodes plain events straight into
columns; every message it cannot decode exactly as the general orjson path
would is handed to that path, so results are identical with ``fast=False``
(checked by differential property tests).

Examples
--------
>>> dec = GnmicDecoder(DecoderConfig(now_ns=1607291271894072397))
>>> ev = (b'{"name":"s","timestamp":1607291271894072397,"tags":{"interface_name":"mgmt0",'
...       b'"source":"172.23.23.2:57400"},"values":{"/interfaces/interface/state/counters/in-octets":"65382630",'
...       b'"/interfaces/interface/state/counters/last-clear":"1607290000000000000"}}')
>>> res = dec.decode_batch([ev])
>>> row = next(res.samples.rows())
>>> row["device"], row["interface"], row["field"], row["value_u64"], row["has_epoch"]
('172.23.23.2', 'mgmt0', 'rx_octets', 65382630, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters import _gnmic_fast as _fast
from twinwatch.telemetry_adapters._assemble import Records, assemble_rows, unmapped_leaf_detail
from twinwatch.telemetry_adapters._json import load_json_messages
from twinwatch.telemetry_adapters.base import Decoder, DecoderConfig, DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import Reason, Rejection
from twinwatch.telemetry_adapters.igp import igp_keys, is_igp_path, keyed_path
from twinwatch.telemetry_adapters.paths import INTERFACE_KEYS, PathMapper
from twinwatch.telemetry_adapters.schema import SampleBatch

__all__ = ["GnmicDecoder", "device_from_source"]

_DEVICE_TAGS = ("source", "target", "host", "device")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _renumber(detail: str, subset: list[int]) -> str:
    """Rewrite a leading "message <j>" (index into ``subset``) to the original message index."""
    head, sep, tail = detail.partition(" ")
    if head == "message" and sep:
        num, sep2, rest = tail.partition(":") if ":" in tail.split(" ", 1)[0] else tail.partition(" ")
        if num.isdigit() and int(num) < len(subset):
            return f"message {subset[int(num)]}{sep2}{rest}"
    return detail


def device_from_source(source: str) -> str:
    """Device name from a gnmic ``source`` tag: ``host:port`` → ``host`` (IPv6 ``[addr]:port`` too).

    >>> device_from_source("172.23.23.2:57400"), device_from_source("[fd00::1]:57400"), device_from_source("leaf1")
    ('172.23.23.2', 'fd00::1', 'leaf1')
    """
    if source.startswith("["):
        end = source.find("]")
        return source[1:end] if end > 0 else source
    host, sep, port = source.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return source


class GnmicDecoder(Decoder):
    """gnmic event JSON → :class:`~telemetry_adapters.schema.SampleBatch`."""

    name: ClassVar[str] = "gnmic"
    description: ClassVar[str] = "gnmic event JSON (single event or array), values keyed by gNMI paths, ns timestamps"

    def __init__(self, config: DecoderConfig | None = None, fast: bool = True) -> None:
        super().__init__(config)
        self.fast = fast
        self._mapper = PathMapper()
        self._devices: dict[str, str] = {}
        self._fast_state = _fast.FastState()

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        if self.fast and messages:
            fast = _fast.decode(self, messages)
            if fast is not None:
                batch, row_msg, rest, unmapped = fast
                fast_rej = [self._reject(Reason.UNMAPPED_LEAF, unmapped_leaf_detail(k), messages[m], k)
                            for m, k in unmapped]  # fmt: skip
                if not len(rest):
                    return self._result(batch, None, fast_rej, len(messages))
                gbatch, rejections, grow_msg = self._decode_general(messages, rest.tolist())
                order = np.argsort(np.concatenate([row_msg, grow_msg]), kind="stable")
                merged = SampleBatch.concat([batch, gbatch]).take(order)
                return self._result(merged, None, fast_rej + rejections, len(messages))
        batch, rejections, _ = self._decode_general(messages, None)
        return self._result(batch, None, rejections, len(messages))

    def _decode_general(
        self, messages: Sequence[RawMessage], subset: list[int] | None
    ) -> tuple[SampleBatch, list[Rejection], npt.NDArray[np.intp]]:
        """The orjson path over ``messages`` (or the ``subset`` of their indices)."""
        todo = messages if subset is None else [messages[j] for j in subset]
        p_idx, p_objs, rejections = load_json_messages(todo, self.name, self.config.max_message_bytes)
        if subset is not None:
            p_idx = [subset[j] for j in p_idx]
            for r in rejections:  # name the original message
                object.__setattr__(r, "detail", _renumber(r.detail, subset))
        recs = Records()
        devices = self._devices
        add_dev, add_if, add_ts = recs.device.append, recs.interface.append, recs.ts_ns.append
        add_msg, add_leaves = recs.msg.append, recs.leaves.append
        for i, obj in zip(p_idx, p_objs, strict=True):
            if type(obj) is dict:
                events: Sequence[Any] = (obj,)
            elif type(obj) is list:
                events = obj
                if not events:
                    rejections.append(self._reject(Reason.EMPTY, f"message {i} is an empty event array", messages[i]))
                    continue
            else:
                rejections.append(
                    self._reject(Reason.WRONG_TYPE, f"message {i} is a {type(obj).__name__}, expected an event "
                                 "object or an array of events", messages[i])
                )
                continue
            for ev in events:
                # quick path for the common event shape; anything unusual goes through _add_event
                if type(ev) is dict:
                    values, ts, tags = ev.get("values"), ev.get("timestamp"), ev.get("tags")
                    if type(values) is dict and type(ts) is int and type(tags) is dict and _I64_MIN <= ts <= _I64_MAX:
                        src, iface = tags.get("source"), tags.get("interface_name")
                        if type(src) is str and type(iface) is str and "subinterface_index" not in tags:
                            device = devices.get(src)
                            if device is not None:
                                add_dev(device)
                                add_if(iface)
                                add_ts(ts)
                                add_msg(i)
                                add_leaves(values)
                                continue
                err = self._add_event(ev, i, recs, devices)
                if err is not None:
                    rejections.append(self._reject(err[0], f"message {i}: {err[1]}", messages[i]))
        batch, more, row_msg = assemble_rows(recs, self._mapper, self.config, messages, self.name)
        rejections.extend(more)
        return batch, rejections, row_msg

    def _add_event(self, ev: Any, i: int, recs: Records, devices: dict[str, str]) -> tuple[str, str] | None:
        if type(ev) is not dict:
            return Reason.WRONG_TYPE, f"event is a {type(ev).__name__}, expected an object"
        values = ev.get("values")
        if type(values) is not dict:
            if values is None:
                if ev.get("deletes") is not None:
                    return Reason.EMPTY, "delete-only event carries no values"
                return Reason.MISSING_FIELD, "event has no 'values' object"
            return Reason.WRONG_TYPE, f"event 'values' is a {type(values).__name__}, expected an object"
        ts = ev.get("timestamp")
        if type(ts) is not int:
            if ts is None:
                return Reason.MISSING_FIELD, "event has no 'timestamp' (epoch ns)"
            if isinstance(ts, str) and ts.isdigit():
                ts = int(ts)
            elif isinstance(ts, float) and math.isfinite(ts):
                if abs(ts) >= 9.2e18:
                    return Reason.TS_FUTURE if ts > 0 else Reason.TS_PAST, f"event 'timestamp' {ts} is out of range"
                ts = int(ts)
            else:
                return Reason.WRONG_TYPE, f"event 'timestamp' {ts!r} is not an integer of epoch ns"
        if not -(2**63) <= ts < 2**63:
            return Reason.TS_FUTURE if ts > 0 else Reason.TS_PAST, f"event 'timestamp' {ts} is out of int64 range"
        tags = ev.get("tags")
        if type(tags) is not dict:
            if tags is not None:
                return Reason.WRONG_TYPE, f"event 'tags' is a {type(tags).__name__}, expected an object"
            tags = {}
        src = tags.get("source")
        if type(src) is not str:
            src = next((t for k in _DEVICE_TAGS if type(t := tags.get(k)) is str), "")
        device = devices.get(src)
        if device is None:
            device = device_from_source(src) or self.config.default_device
            if not device:
                return Reason.MISSING_DEVICE, ("event names no device (no 'source' tag) and no default device is "
                                               "set; pass --device NAME (DecoderConfig.default_device)")
            devices[src] = device
            if len(devices) > 100_000:
                devices.clear()
        iface = tags.get("interface_name")
        if type(iface) is not str:
            iface = ""
            if any(type(k) is str and is_igp_path(k) for k in values):  # IS-IS / OSPFv2: keys are tags
                iface, topo = igp_keys(tags)
                if topo:
                    values = {keyed_path(k, topo) if type(k) is str and is_igp_path(k) else k: v
                              for k, v in values.items()}  # fmt: skip
            if not iface:
                iface = next((t for k in INTERFACE_KEYS if type(t := tags.get(k)) is str), "")
        sub = tags.get("subinterface_index")
        if sub is not None:
            iface = f"{iface}.{sub}"
        recs.add(device, iface, ts, i, values)
        return None

