"""goflow2 JSON flow records → :class:`~telemetry_adapters.schema.FlowBatch`.

One message is one flow record (goflow2 ``-format=json``), a JSON array of
them, or newline-separated records::

    {"type": "SFLOW_5", "time_received_ns": 1681583295157626000, "sampling_rate": 100,
     "sampler_address": "192.168.0.1", "time_flow_start_ns": 1681583295157626000,
     "time_flow_end_ns": 1681583295157626000, "bytes": 1500, "packets": 1,
     "src_addr": "fd01::1", "dst_addr": "fd01::2", "etype": "IPv6", "proto": "TCP",
     "src_port": 443, "dst_port": 50001, "in_if": 3, "out_if": 7}

``bytes`` and ``packets`` are multiplied by ``sampling_rate`` (0 or missing
means unsampled, rate 1). ``ts`` is the flow end time (else the receive
time) in epoch seconds; ``duration_s`` = end - start. goflow (v1) CamelCase
records (``TimeReceived`` in s, ``Bytes``, ``SamplingRate``, ``SrcAddr`` …)
are accepted too.

``dscp`` (0..63) follows :data:`~twinwatch.telemetry_adapters.schema.DSCP_RULE`:
a ``dscp`` field wins; else the ToS byte — goflow2 v2 ``ip_tos``, goflow v1 /
goflow2 v1 ``IPTos`` (protobuf field 23), or ``tos`` (a ``-mapping`` rename,
NetFlow v5's name) — shifted right by two (the ECN bits dropped; for IPv6
goflow2 puts the traffic-class byte there). No ToS at all, or ``null``: best
effort, 0. A DSCP above 63, a ToS above 255, a negative or a fractional value
rejects the record (``out_of_range`` / ``wrong_type``), naming the field.

Examples
--------
>>> rec = (b'{"time_received_ns":1681583295157626000,"sampling_rate":100,"sampler_address":"192.168.0.1",'
...        b'"time_flow_start_ns":1681583294157626000,"time_flow_end_ns":1681583295157626000,"bytes":1500,'
...        b'"packets":1,"src_addr":"fd01::1","dst_addr":"fd01::2","proto":"TCP","src_port":443,"dst_port":50001}')
>>> from twinwatch.telemetry_adapters.base import DecoderConfig
>>> res = Goflow2Decoder(DecoderConfig(now_ns=1681583295157626000)).decode(rec)
>>> row = next(res.flows.rows())
>>> row["bytes"], row["packets"], row["proto"], row["duration_s"], row["in_if"], row["dscp"]
(150000.0, 100.0, 6, 1.0, None, 0)
>>> res = Goflow2Decoder(DecoderConfig(now_ns=1681583295157626000)).decode(rec[:-1] + b',"ip_tos":184}')
>>> int(res.flows.dscp[0])           # ToS 0xb8 = DSCP 46 (EF) << 2
46
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from twinwatch.telemetry_adapters._json import load_json_messages, to_bytes
from twinwatch.telemetry_adapters.base import Decoder, DecodeResult, RawMessage, ts_rejection
from twinwatch.telemetry_adapters.errors import Reason, RecordError
from twinwatch.telemetry_adapters.schema import FlowBatchBuilder, SampleBatch

__all__ = ["PROTOCOLS", "TOS_FIELDS", "Goflow2Decoder", "dscp_of"]

#: IP protocol names goflow2 writes → numbers.
PROTOCOLS: dict[str, int] = {
    "HOPOPT": 0, "ICMP": 1, "IGMP": 2, "IPIP": 4, "TCP": 6, "EGP": 8, "UDP": 17, "IPv6": 41, "IPV6": 41,
    "RSVP": 46, "GRE": 47, "ESP": 50, "AH": 51, "ICMPv6": 58, "ICMPV6": 58, "IPv6-ICMP": 58, "OSPF": 89,
    "PIM": 103, "VRRP": 112, "L2TP": 115, "SCTP": 132,
}  # fmt: skip

# (v2 snake_case name, v1 CamelCase name)
_ALIASES = {
    "time_received_ns": "TimeReceived",
    "time_flow_start_ns": "TimeFlowStart",
    "time_flow_end_ns": "TimeFlowEnd",
    "bytes": "Bytes",
    "packets": "Packets",
    "sampling_rate": "SamplingRate",
    "sampler_address": "SamplerAddress",
    "src_addr": "SrcAddr",
    "dst_addr": "DstAddr",
    "proto": "Proto",
    "src_port": "SrcPort",
    "dst_port": "DstPort",
    "in_if": "InIf",
    "out_if": "OutIf",
}


def _get(rec: dict[str, Any], key: str) -> Any:
    v = rec.get(key)
    return v if v is not None else rec.get(_ALIASES[key])


def _uint(v: Any, name: str, limit: int = 2**64 - 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise RecordError(Reason.WRONG_TYPE, f"{name} {v!r} is not a number")
    if isinstance(v, str):
        try:
            v = int(v)
        except ValueError:
            raise RecordError(Reason.WRONG_TYPE, f"{name} {v!r} is not an integer") from None
    if isinstance(v, float):
        if not math.isfinite(v):
            raise RecordError(Reason.NON_FINITE, f"{name} {v!r} is not finite")
        if v != int(v):
            raise RecordError(Reason.WRONG_TYPE, f"{name} {v!r} is not an integer")
        v = int(v)
    if v < 0:
        raise RecordError(Reason.NEGATIVE_COUNTER, f"{name} {v} is negative")
    if v > limit:
        raise RecordError(Reason.OUT_OF_RANGE, f"{name} {v} exceeds {limit}")
    return int(v)



#: ToS-byte fields, in the order they are looked up (goflow2 v2, goflow v1 / goflow2 v1, mapping rename).
TOS_FIELDS: tuple[str, ...] = ("ip_tos", "IPTos", "tos")


def _small_uint(v: Any, name: str, limit: int, what: str) -> int:
    """``v`` as an int in ``0..limit``; negative or too large → ``out_of_range`` naming ``what``."""
    if type(v) is int and 0 <= v <= limit:  # the common case, kept cheap
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v == int(v) and (
            v < 0 or v > limit):
        raise RecordError(Reason.OUT_OF_RANGE, f"{name} {v!r} is outside 0..{limit} ({what})")
    if isinstance(v, str) and v.strip().lstrip("-").isdigit() and not 0 <= int(v) <= limit:
        raise RecordError(Reason.OUT_OF_RANGE, f"{name} {v!r} is outside 0..{limit} ({what})")
    return _uint(v, name, limit)


def dscp_of(rec: dict[str, Any]) -> int:
    """DSCP (0..63) of one goflow2 record by :data:`~twinwatch.telemetry_adapters.schema.DSCP_RULE`.

    >>> dscp_of({"ip_tos": 0xB8}), dscp_of({"IPTos": 41}), dscp_of({"dscp": 34, "ip_tos": 0}), dscp_of({})
    (46, 10, 34, 0)
    """
    v = rec.get("dscp")
    if v is not None:
        return _small_uint(v, "dscp", 63, "a DSCP is 6 bits")
    for key in TOS_FIELDS:
        v = rec.get(key)
        if v is not None:
            return _small_uint(v, key, 255, "the ToS / traffic-class byte") >> 2
    return 0


def _time_ns(rec: dict[str, Any], key: str) -> int | None:
    v = rec.get(key)
    if v is not None:
        return _uint(v, key, 2**63 - 1)
    v1 = rec.get(_ALIASES[key])
    if v1 is None:
        return None
    return _uint(v1, _ALIASES[key], 2**33) * 1_000_000_000  # goflow v1: seconds


class Goflow2Decoder(Decoder):
    """goflow2 JSON flow records → FlowBatch (sampling-rate scaled)."""

    name: ClassVar[str] = "goflow2"
    description: ClassVar[str] = (
        "goflow2 JSON flows (time_*_ns, bytes, packets, sampling_rate, ip_tos -> dscp), scaled by sampling")

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        # newline-separated records inside one message are split first
        flat: list[RawMessage] = []
        origin: list[int] = []
        for i, m in enumerate(messages):
            raw = to_bytes(m)
            parts = [p for p in raw.split(b"\n") if p.strip()] if b"\n" in raw.strip() else [raw]
            flat.extend(parts or [raw])
            origin.extend([i] * len(parts or [raw]))
        p_idx, p_objs, rejections = load_json_messages(flat, self.name, self.config.max_message_bytes)
        fb = FlowBatchBuilder()
        lo, hi = self.config.ts_bounds_ns()
        for j, obj in zip(p_idx, p_objs, strict=True):
            recs = obj if isinstance(obj, list) else [obj]
            if not recs:
                rejections.append(self._reject(Reason.EMPTY, f"message {origin[j]} is an empty array", flat[j]))
            for rec in recs:
                try:
                    self._add(rec, fb, lo, hi)
                except RecordError as exc:
                    rejections.append(self._reject(exc.reason, f"message {origin[j]}: {exc.detail}", flat[j]))
        return self._result(SampleBatch.empty(), fb.build(), rejections, len(messages))

    def _add(self, rec: Any, fb: FlowBatchBuilder, lo: int, hi: int) -> None:
        if not isinstance(rec, dict):
            raise RecordError(Reason.WRONG_TYPE, f"flow record is a {type(rec).__name__}, expected an object")
        for key in ("src_addr", "dst_addr", "bytes", "packets"):
            if _get(rec, key) is None:
                raise RecordError(Reason.MISSING_FIELD, f"flow record has no {key!r}")
        src, dst = _get(rec, "src_addr"), _get(rec, "dst_addr")
        if not isinstance(src, str) or not isinstance(dst, str):
            raise RecordError(Reason.WRONG_TYPE, "src_addr / dst_addr must be address strings")
        end = _time_ns(rec, "time_flow_end_ns")
        start = _time_ns(rec, "time_flow_start_ns")
        received = _time_ns(rec, "time_received_ns")
        ts = end or received
        if ts is None:
            raise RecordError(Reason.MISSING_FIELD, "flow record has no time_flow_end_ns / time_received_ns")
        if ts > hi or ts < lo:
            raise RecordError(*ts_rejection(ts, lo, hi, "flow time"))
        rate_raw = _get(rec, "sampling_rate")
        rate = _uint(rate_raw, "sampling_rate", 2**32 - 1) if rate_raw is not None else 0
        rate = rate or 1
        nbytes = _uint(_get(rec, "bytes"), "bytes")
        npkts = _uint(_get(rec, "packets"), "packets")
        proto_raw = _get(rec, "proto")
        if isinstance(proto_raw, str) and not proto_raw.isdigit():
            proto = PROTOCOLS.get(proto_raw, PROTOCOLS.get(proto_raw.upper(), 255))
        else:
            proto = _uint(proto_raw, "proto", 255) if proto_raw is not None else 0
        in_if = _get(rec, "in_if")
        out_if = _get(rec, "out_if")
        exporter = _get(rec, "sampler_address")
        fb.add(
            ts=ts / 1e9,
            network=self.config.network,
            src_addr=src,
            dst_addr=dst,
            bytes=float(nbytes * rate),
            packets=float(npkts * rate),
            duration_s=(end - start) / 1e9 if end is not None and start is not None and end >= start else None,
            sampling_rate=rate,
            in_if=_uint(in_if, "in_if", 2**63 - 1) if in_if is not None else None,
            out_if=_uint(out_if, "out_if", 2**63 - 1) if out_if is not None else None,
            exporter=str(exporter) if exporter is not None else None,
            proto=proto,
            src_port=_uint(_get(rec, "src_port") or 0, "src_port", 65535),
            dst_port=_uint(_get(rec, "dst_port") or 0, "dst_port", 65535),
            dscp=dscp_of(rec),
            source=self.name,
        )
