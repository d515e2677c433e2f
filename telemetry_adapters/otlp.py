"""OTLP/JSON metrics (``ExportMetricsServiceRequest`` as the OTLP/HTTP JSON encoding writes it).

``resourceMetrics[].scopeMetrics[].metrics[]``, each a ``gauge`` or a ``sum``
(``aggregationTemporality`` 1 = delta, 2 = cumulative; ``isMonotonic``), data
points with ``timeUnixNano`` / ``startTimeUnixNano`` (decimal strings) and
``asInt`` (int64 as a decimal string) or ``asDouble``.

Mapping: a metric maps when its name (or its name plus the ``direction``
attribute, :data:`~telemetry_adapters.paths.OTEL_METRICS`) is in the shared
table. Cumulative monotonic sums become ``Counter64`` rows whose ``epoch_ns`` is
``startTimeUnixNano`` (a new start time marks a reset); delta sums become
``DELTA`` rows over ``[startTimeUnixNano, timeUnixNano]``; gauges and
non-monotonic sums become gauges (a counter field is kept a counter). Histograms and summaries are rejected as
``unknown_path``. Device: resource attribute ``host.name`` (or ``device.name``,
``net.host.name``, ``service.instance.id``, ``service.name``); interface: data
point attribute ``interface``/``interface.name``/``network.interface.name``/``device``.

Link state: a gauge (or non-monotonic sum) ``hw.network.up`` (OpenTelemetry
hardware semantic conventions: 1 = link up, 0 = down) becomes an
``oper_status`` row; a metric named like a link-state leaf (``ifOperStatus``,
``ifAdminStatus``, ``oper_status``, ``admin_status``, as SNMP-receiver
configurations name them) carries IF-MIB codes (1 up, 2 down, …, 4 unknown).
Any other value is an ``unknown_enum`` rejection; state in *attributes* is
not read (no convention names one).

Speed: ``hw.network.bandwidth.limit`` (hardware semantic conventions: the
link speed, By/s) becomes a ``speed_bps`` gauge row in bit/s (× 8), whatever
its instrument (gauge or sum); negative, below 1 kb/s, non-finite or
non-numeric values are rejected, 0 and a saturated 4294967295 are ignored
(see :mod:`twinwatch.telemetry_adapters.speed`). There is no OpenTelemetry
convention for an IGP metric: only a metric named by the canonical field
``igp_metric`` is one, read as every decoder reads it
(:mod:`twinwatch.telemetry_adapters.igp`).

Examples
--------
>>> import orjson
>>> req = {"resourceMetrics": [{"resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "r1"}}]},
...   "scopeMetrics": [{"metrics": [{"name": "system.network.io", "unit": "By",
...     "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [
...       {"asInt": "1000", "startTimeUnixNano": "1544712000000000000", "timeUnixNano": "1544712660300000000",
...        "attributes": [{"key": "device", "value": {"stringValue": "eth0"}},
...                       {"key": "direction", "value": {"stringValue": "receive"}}]}]}}]}]}]}
>>> res = OtlpDecoder(DecoderConfig(now_ns=1544712660300000000)).decode(orjson.dumps(req))
>>> [(r["device"], r["interface"], r["field"], r["value_u64"], r["kind"], r["epoch_ns"]) for r in res.samples.rows()]
[('r1', 'eth0', 'rx_octets', 1000, 64, 1544712000000000000)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from twinwatch.telemetry_adapters._assemble import coerce_counter, coerce_gauge
from twinwatch.telemetry_adapters._json import load_json_messages
from twinwatch.telemetry_adapters.base import Decoder, DecoderConfig, DecodeResult, RawMessage, ts_rejection
from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.link_state import UNKNOWN, link_state, link_state_detail
from twinwatch.telemetry_adapters.paths import (
    FIELD_BITS,
    FIELD_NAMES,
    GAUGE_SCALE,
    OTEL_LINK_STATE,
    OTEL_METRICS,
    PORT_FIELDS,
    PORT_GAUGE,
    PORT_GAUGES,
    PathMapper,
    PortGauge,
)
from twinwatch.telemetry_adapters.schema import LINK_STATE_FIELDS, Kind, SampleBatchBuilder

__all__ = ["OtlpDecoder", "otlp_attributes"]

_DEVICE_ATTRS = ("host.name", "device.name", "net.host.name", "service.instance.id", "service.name")
_IF_ATTRS = ("interface", "interface.name", "network.interface.name", "if.name", "device")


def _any_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return None
    for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if k in v:
            return v[k]
    return None


def otlp_attributes(attrs: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list → dict (non-scalar values dropped).

    >>> otlp_attributes([{"key": "a", "value": {"stringValue": "x"}}, {"key": "b", "value": {"intValue": "3"}}])
    {'a': 'x', 'b': '3'}
    """
    out: dict[str, Any] = {}
    if isinstance(attrs, list):
        for kv in attrs:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = _any_value(kv.get("value"))
    return out


def _nano(v: Any) -> int | None:
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if type(v) is int and 0 <= v < 2**63:
        return v
    return None


class OtlpDecoder(Decoder):
    """OTLP/JSON metrics → :class:`~telemetry_adapters.schema.SampleBatch` (gauges, sums)."""

    name: ClassVar[str] = "otlp"
    description: ClassVar[str] = "OTLP/JSON metrics: gauges, sums (temporality 1 delta / 2 cumulative), asInt strings"

    def __init__(self, config: DecoderConfig | None = None) -> None:
        super().__init__(config)
        self._mapper = PathMapper()

    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        p_idx, p_objs, rejections = load_json_messages(messages, self.name, self.config.max_message_bytes)
        b = SampleBatchBuilder()
        lo, hi = self.config.ts_bounds_ns()
        for i, obj in zip(p_idx, p_objs, strict=True):
            n_rows, n_rej = len(b), len(rejections)

            def rej(reason: str, detail: str, i: int = i) -> None:
                rejections.append(self._reject(reason, f"message {i}: {detail}", messages[i]))

            if not isinstance(obj, dict):
                rej(Reason.WRONG_TYPE, f"a {type(obj).__name__}, expected an ExportMetricsServiceRequest object")
                continue
            rms = obj.get("resourceMetrics")
            if not isinstance(rms, list):
                rej(Reason.MISSING_FIELD if rms is None else Reason.WRONG_TYPE, "'resourceMetrics' list missing")
                continue
            for rm in rms:
                if not isinstance(rm, dict):
                    rej(Reason.WRONG_TYPE, "a resourceMetrics entry is not an object")
                    continue
                resource = rm.get("resource")
                if resource is not None and not isinstance(resource, dict):
                    rej(Reason.WRONG_TYPE, f"'resource' is a {type(resource).__name__}, expected an object")
                    continue
                res_attrs = otlp_attributes((resource or {}).get("attributes"))
                device = next((str(res_attrs[k]) for k in _DEVICE_ATTRS if res_attrs.get(k) is not None), "")
                sms = rm.get("scopeMetrics") or rm.get("instrumentationLibraryMetrics") or []
                if not isinstance(sms, list):
                    rej(Reason.WRONG_TYPE, f"'scopeMetrics' is a {type(sms).__name__}, expected a list")
                    continue
                for sm in sms:
                    if not isinstance(sm, dict):
                        rej(Reason.WRONG_TYPE, "a scopeMetrics entry is not an object")
                        continue
                    metrics = sm.get("metrics") or []
                    if not isinstance(metrics, list):
                        rej(Reason.WRONG_TYPE, f"'metrics' is a {type(metrics).__name__}, expected a list")
                        continue
                    for metric in metrics:
                        self._metric(metric, device, b, rej, lo, hi)
            if len(b) == n_rows and len(rejections) == n_rej:
                rej(Reason.EMPTY, "request carries no data points")
        return self._result(b.build(), None, rejections, len(messages))

    def _metric(self, metric: Any, device: str, b: SampleBatchBuilder, rej: Any, lo: int, hi: int) -> None:
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            rej(Reason.WRONG_TYPE, "a metric is not an object with a string 'name'")
            return
        name = metric["name"]
        if "sum" in metric:
            body, is_sum = metric["sum"], True
        elif "gauge" in metric:
            body, is_sum = metric["gauge"], False
        else:
            kinds = [k for k in ("histogram", "exponentialHistogram", "summary") if k in metric]
            rej(Reason.UNKNOWN_PATH, f"metric {name!r}: {kinds or 'no data'} is not a gauge or sum")
            return
        if not isinstance(body, dict) or not isinstance(body.get("dataPoints"), list):
            rej(Reason.WRONG_TYPE, f"metric {name!r}: 'dataPoints' is not a list")
            return
        temporality = body.get("aggregationTemporality", 0)
        for dp in body["dataPoints"]:
            if not isinstance(dp, dict):
                rej(Reason.WRONG_TYPE, f"metric {name!r}: a data point is not an object")
                continue
            attrs = otlp_attributes(dp.get("attributes"))
            direction = attrs.get("direction")
            field = OTEL_METRICS.get((name, direction)) if isinstance(direction, str) else None
            binary = False
            scale: float | None = None  # a port-gauge metric's scale (a speed's bit/s per unit)
            gauge: PortGauge | None = None
            if field is None and name in OTEL_LINK_STATE:
                field, bits, binary = OTEL_LINK_STATE[name], 0, True
            elif field is None:
                code = self._mapper[name]
                if code < 0:
                    rej(Reason.UNKNOWN_PATH, f"metric {name!r} is not an interface counter or KPI gauge; "
                        "see telemetry_adapters.paths")
                    continue
                field, bits = FIELD_NAMES[code], FIELD_BITS[code]
                if PORT_GAUGE[code] >= 0:
                    gauge, scale = PORT_GAUGES[PORT_GAUGE[code]], GAUGE_SCALE[code]
            else:
                bits = 64
            ts = _nano(dp.get("timeUnixNano"))
            neg = dp.get("timeUnixNano")
            if ts is None and isinstance(neg, int | str) and str(neg).startswith("-") and str(neg)[1:].isdigit():
                rej(*ts_rejection(int(neg), lo, hi, f"metric {name!r}: timeUnixNano"))
                continue
            if ts is None:
                rej(Reason.MISSING_FIELD if "timeUnixNano" not in dp else Reason.WRONG_TYPE,
                    f"metric {name!r}: data point needs 'timeUnixNano' (epoch ns)")
                continue
            if ts > hi or ts < lo:
                rej(*ts_rejection(ts, lo, hi, f"metric {name!r}: timeUnixNano"))
                continue
            start = _nano(dp.get("startTimeUnixNano"))
            raw = dp["asInt"] if "asInt" in dp else dp.get("asDouble")
            if raw is None:
                rej(Reason.MISSING_FIELD, f"metric {name!r}: data point has neither asInt nor asDouble")
                continue
            iface = next((str(attrs[k]) for k in _IF_ATTRS if attrs.get(k) is not None), "")
            if not iface and field in PORT_FIELDS:
                rej(Reason.MISSING_INTERFACE, f"metric {name!r} of device {device!r} is a port's and names no port "
                    f"(no data point attribute {' / '.join(_IF_ATTRS)})")
                continue
            # a counter field is a counter even when exported as a gauge / non-monotonic sum
            delta = bool(bits) and is_sum and temporality == 1
            if bits:
                iv, err = coerce_counter(raw, 64)
                if iv is None:
                    assert err is not None
                    rej(err[0], f"metric {name!r}: {err[1]}")
                    continue
                kind = Kind.DELTA if delta else Kind.COUNTER64
                b.add(device, iface, field, ts, iv, float(iv), kind, start or 0, start is not None,
                      self.name, self.config.network)
            elif gauge is not None and scale is not None:
                sp = gauge.read(raw, scale)
                if sp is None:
                    reason, why = gauge.rejection(name, raw, scale)
                    rej(reason, f"metric {name!r}: {why}")
                elif sp is UNKNOWN:
                    rej(gauge.unknown, f"metric {name!r}: the port reports no speed (0 or saturated; ignored)")
                else:
                    b.add(device, iface, field, ts, 0, float(sp), Kind.GAUGE, 0, False, self.name,
                          self.config.network)
            elif field in LINK_STATE_FIELDS:
                st = link_state(raw, binary=binary)
                if st is None:
                    rej(Reason.UNKNOWN_ENUM, f"metric {name!r}: {link_state_detail(name, raw, binary)}")
                elif st is UNKNOWN:
                    rej(Reason.LINK_STATE_UNKNOWN, f"metric {name!r}: the port's state is 'unknown' (ignored)")
                else:
                    b.add(device, iface, field, ts, 0, float(st), Kind.GAUGE, 0, False, self.name,
                          self.config.network)
            else:
                fv, err = coerce_gauge(raw, field)
                if fv is None:
                    assert err is not None
                    rej(err[0], f"metric {name!r}: {err[1]}")
                    continue
                b.add(device, iface, field, ts, 0, fv, Kind.GAUGE, 0, False, self.name, self.config.network)

