"""Active-probe results: twinwatch's probe JSON and Telegraf's ``ping`` input.

**twinwatch probe JSON** (one object, an array, or ``{"probes": [...]}`` per message)::

    {"src": "r1", "dst": "r5", "ts": 1700000000.25,
     "delay_s": 0.0123, "jitter_s2": 1.5e-6, "loss_ratio": 0.01}

=============  ==========================================================
field          meaning
=============  ==========================================================
``src``        source node (required)
``dst``        destination node (required)
``ts``         epoch seconds UTC (float); or ``ts_ns`` (int, epoch ns)
``delay_s``    mean one-way (or RTT/2, the prober's choice) delay, seconds
``jitter_s2``  variance of the delay, s² (or ``jitter_s``: its standard deviation)
``loss_ratio`` lost / sent, 0..1 (or ``sent`` + ``received`` counts)
=============  ==========================================================

At least one KPI must be present. Output rows are path gauges: ``device`` =
``"src->dst"``, ``interface`` = ``""`` (see :class:`~telemetry_adapters.schema.SampleBatch`).

**Telegraf ping** (JSON serializer or line protocol; detected per message):
measurement ``ping``, tags ``url`` (destination) and ``source``/``host``
(the prober, i.e. source node); fields ``average_response_ms`` → ``delay_s``
(/1000), ``standard_deviation_ms`` → ``jitter_s2`` ((σ/1000)²),
``percent_packet_loss`` → ``loss_ratio`` (/100).

Examples
--------
>>> from twinwatch.telemetry_adapters.base import DecoderConfig
>>> dec = ProbeDecoder(DecoderConfig(now_ns=1_700_000_000 * 10**9))
>>> res = dec.decode(b'{"src":"r1","dst":"r5","ts":1700000000.25,"delay_s":0.0123,"jitter_s":0.002,"sent":100,'
...                  b'"received":99}')
>>> [(r["device"], r["interface"], r["field"], round(r["value_f64"], 9)) for r in res.samples.rows()]
[('r1->r5', '', 'delay_s', 0.0123), ('r1->r5', '', 'jitter_s2', 4e-06), ('r1->r5', '', 'loss_ratio', 0.01)]
>>> res = dec.decode(b"ping,host=r1,url=10.0.0.5 average_response_ms=20.5,standard_deviation_ms=1,"
...                  b"percent_packet_loss=50 1700000000000000000")
>>> [(r["field"], r["value_f64"]) for r in res.samples.rows()]
[('delay_s', 0.0205), ('jitter_s2', 1e-06), ('loss_ratio', 0.5)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from twinwatch.telemetry_adapters._assemble import coerce_gauge, to_ns_by_magnitude
from twinwatch.telemetry_adapters._json import load_json_messages, to_bytes
from twinwatch.telemetry_adapters.base import Decoder, DecodeResult, RawMessage, ts_rejection
from twinwatch.telemetry_adapters.errors import Reason, RecordError, Rejection
from twinwatch.telemetry_adapters.influx import LineProtocolError, parse_line
from twinwatch.telemetry_adapters.schema import PATH_MARKER, Kind, SampleBatchBuilder

__all__ = ["ProbeDecoder"]

_SRC_TAGS = ("source", "host", "agent_host", "src")
_DST_TAGS = ("url", "dest", "destination", "dst")



def _num(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise RecordError(Reason.WRONG_TYPE, f"{name} {v!r} is not a number")
    try:
        f = float(v)
    except ValueError:
        raise RecordError(Reason.WRONG_TYPE, f"{name} {v!r} is not a number") from None
    if not math.isfinite(f):
        raise RecordError(Reason.NON_FINITE, f"{name} {v!r} is not finite")
    return f


def _own_kpis(p: dict[str, Any]) -> dict[str, float]:
    k: dict[str, float] = {}
    if p.get("delay_s") is not None:
        k["delay_s"] = _num(p["delay_s"], "delay_s")
    if p.get("jitter_s2") is not None:
        k["jitter_s2"] = _num(p["jitter_s2"], "jitter_s2")
    elif p.get("jitter_s") is not None:
        j = _num(p["jitter_s"], "jitter_s")
        if not 0.0 <= j <= 1e150:  # squared (``**`` raises OverflowError past 1e154; found by fuzzing)
            raise RecordError(Reason.OUT_OF_RANGE, f"jitter_s {j!r} is not a standard deviation in seconds")
        k["jitter_s2"] = j * j
    if p.get("loss_ratio") is not None:
        k["loss_ratio"] = _num(p["loss_ratio"], "loss_ratio")
    elif p.get("sent") is not None and p.get("received") is not None:
        sent, recv = _num(p["sent"], "sent"), _num(p["received"], "received")
        if sent <= 0 or recv < 0 or recv > sent:
            raise RecordError(Reason.OUT_OF_RANGE, f"sent={sent} received={recv} do not give a loss ratio")
        k["loss_ratio"] = 1.0 - recv / sent
    return k


def _ping_kpis(fields: dict[str, Any]) -> dict[str, float]:
    k: dict[str, float] = {}
    if fields.get("average_response_ms") is not None:
        k["delay_s"] = _num(fields["average_response_ms"], "average_response_ms") / 1000.0
    if fields.get("standard_deviation_ms") is not None:
        sd = _num(fields["standard_deviation_ms"], "standard_deviation_ms") / 1000.0
        if not 0.0 <= sd <= 1e150:  # squared: ``**`` raises OverflowError past 1e154 (found by fuzzing)
            raise RecordError(Reason.OUT_OF_RANGE, f"standard_deviation_ms {sd * 1000.0!r} is not a deviation")
        k["jitter_s2"] = sd * sd
    if fields.get("percent_packet_loss") is not None:
        k["loss_ratio"] = _num(fields["percent_packet_loss"], "percent_packet_loss") / 100.0
    return k


class ProbeDecoder(Decoder):
    """Probe results (twinwatch probe JSON, Telegraf ping JSON or line protocol) → path gauges."""

    name: ClassVar[str] = "probe"
    description: ClassVar[str] = "active-probe results: twinwatch probe JSON or Telegraf ping (JSON / line protocol)"

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        b = SampleBatchBuilder()
        rejections: list[Rejection] = []
        json_idx: list[int] = []
        lo, hi = self.config.ts_bounds_ns()
        for i, m in enumerate(messages):
            raw = to_bytes(m).lstrip()
            if raw[:1] in (b"{", b"[") or not raw:
                json_idx.append(i)
                continue
            n_rows, n_rej = len(b), len(rejections)
            if len(raw) > self.config.max_message_bytes:
                rejections.append(self._reject(Reason.OVERSIZED, f"message {i} is {len(raw)} bytes, over "
                                               f"max_message_bytes={self.config.max_message_bytes}", raw))
                continue
            for line in raw.decode("utf-8", "replace").splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                try:
                    _meas, tags, fields, ts = parse_line(line.strip())
                    if ts is None:
                        raise RecordError(Reason.MISSING_FIELD, "ping line has no timestamp")
                    self._add_ping(tags, fields, to_ns_by_magnitude(ts) if abs(ts) < 2**63 else ts, b, lo, hi)
                except LineProtocolError as exc:
                    rejections.append(self._reject(Reason.MALFORMED_JSON, f"message {i}: {exc}", line))
                except RecordError as exc:
                    rejections.append(self._reject(exc.reason, f"message {i}: {exc.detail}", line))
            if len(b) == n_rows and len(rejections) == n_rej:
                rejections.append(self._reject(Reason.EMPTY, f"message {i} has no lines", raw))
        json_msgs = [messages[i] for i in json_idx]
        p_idx, p_objs, more = load_json_messages(json_msgs, self.name, self.config.max_message_bytes)
        rejections.extend(more)
        for j, obj in zip(p_idx, p_objs, strict=True):
            i = json_idx[j]
            if isinstance(obj, dict) and isinstance(obj.get("probes"), list):
                items: list[Any] = obj["probes"]
            elif isinstance(obj, dict) and isinstance(obj.get("metrics"), list):
                items = obj["metrics"]
            else:
                items = obj if isinstance(obj, list) else [obj]
            if not items:
                rejections.append(self._reject(Reason.EMPTY, f"message {i} holds no probe results", messages[i]))
            for item in items:
                try:
                    self._add_json(item, b, lo, hi)
                except RecordError as exc:
                    rejections.append(self._reject(exc.reason, f"message {i}: {exc.detail}", messages[i]))
        return self._result(b.build(), None, rejections, len(messages))

    def _add_json(self, item: Any, b: SampleBatchBuilder, lo: int, hi: int) -> None:
        if not isinstance(item, dict):
            raise RecordError(Reason.WRONG_TYPE, f"probe result is a {type(item).__name__}, expected an object")
        if "fields" in item and item.get("name") == "ping":  # Telegraf JSON serializer
            tags, fields = item.get("tags") or {}, item["fields"]
            if not isinstance(tags, dict) or not isinstance(fields, dict):
                raise RecordError(Reason.WRONG_TYPE, "ping metric 'tags'/'fields' are not objects")
            ts = item.get("timestamp")
            if ts is None:
                raise RecordError(Reason.MISSING_FIELD, "ping metric has no 'timestamp'")
            self._add_ping(tags, fields, self._ts(ts), b, lo, hi)
            return
        for key in ("src", "dst"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise RecordError(Reason.MISSING_FIELD if key not in item else Reason.WRONG_TYPE,
                                  f"probe result needs a non-empty string {key!r}")
        if item.get("ts_ns") is not None:
            ts_raw = item["ts_ns"]
            if type(ts_raw) is not int:
                raise RecordError(Reason.WRONG_TYPE, f"ts_ns {ts_raw!r} is not an integer")
            ts = ts_raw
        elif item.get("ts") is not None:
            ts = self._ts(item["ts"], seconds=True)
        else:
            raise RecordError(Reason.MISSING_FIELD, "probe result needs 'ts' (epoch s) or 'ts_ns'")
        self._emit(item["src"], item["dst"], ts, _own_kpis(item), b, lo, hi)

    def _ts(self, v: Any, seconds: bool = False) -> int:
        f = _num(v, "timestamp")
        if abs(f) > 9.2e18:
            raise RecordError(Reason.TS_FUTURE if f > 0 else Reason.TS_PAST, f"timestamp {v!r} out of range")
        if seconds:
            return round(f * 1e6) * 1000 if isinstance(v, float | str) else int(v) * 1_000_000_000
        return to_ns_by_magnitude(v if isinstance(v, int | float) else f)

    def _add_ping(self, tags: dict[str, Any], fields: dict[str, Any], ts: int, b: SampleBatchBuilder, lo: int,
                  hi: int) -> None:
        src = next((str(tags[k]) for k in _SRC_TAGS if tags.get(k)), "")
        dst = next((str(tags[k]) for k in _DST_TAGS if tags.get(k)), "")
        if not dst:
            raise RecordError(Reason.MISSING_FIELD, "ping metric has no 'url' tag (destination)")
        self._emit(src, dst, ts, _ping_kpis(fields), b, lo, hi)

    def _emit(self, src: str, dst: str, ts: int, kpis: dict[str, float], b: SampleBatchBuilder, lo: int,
              hi: int) -> None:
        if not kpis:
            raise RecordError(Reason.MISSING_FIELD, "probe result carries none of delay_s, jitter_s2/jitter_s, "
                              "loss_ratio/sent+received (or the ping fields)")
        if ts > hi or ts < lo:
            raise RecordError(*ts_rejection(ts, lo, hi))
        checked = []
        for field, value in kpis.items():
            v, err = coerce_gauge(value, field)
            if v is None:
                assert err is not None
                raise RecordError(err[0], err[1])
            checked.append((field, v))
        path = f"{src}{PATH_MARKER}{dst}"
        for field, v in checked:
            b.add(path, "", field, ts, 0, v, Kind.GAUGE, 0, False, self.name, self.config.network)
