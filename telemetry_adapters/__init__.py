"""telemetry_adapters: collector wire formats → the common measurement schema.

Contract: decoders turn raw messages (gnmic, Telegraf, Cisco MDT, OTLP,
goflow2, probes) into columnar batches (:class:`SampleBatch` of raw counter and
gauge samples, :class:`FlowBatch` of flow records); the counters engine
(:mod:`twinwatch.telemetry_adapters.normalize`) applies counter semantics and produces
Measurement rows (:data:`SCHEMA`). Bad input becomes a counted
:class:`Rejection` with a stable reason code, never an exception. Nothing here
knows about Kafka, windows or the twin.

>>> from twinwatch.telemetry_adapters import CounterState, DecoderConfig, get_decoder, normalize
>>> dec = get_decoder("gnmic", DecoderConfig(max_age_s=None))  # replaying old samples: no age limit
>>> ev = b'{"timestamp":%d,"tags":{"source":"r1","interface_name":"e1"},"values":{"in-octets":"%d"}}'
>>> state = CounterState()
>>> _ = normalize(dec.decode_batch([ev % (1_700_000_000 * 10**9, 0)]).samples, state)  # first sample: no rate
>>> res = normalize(dec.decode_batch([ev % (1_700_000_010 * 10**9, 1250)]).samples, state)
>>> [(r["entity_id"], r["kpi"], r["value"]) for r in res.measurements.rows()]
[('r1:e1', 'rx_bps', 1000.0)]
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "FLOW_SCHEMA",
    "SCHEMA",
    "CounterState",
    "DecodeError",
    "DecodeResult",
    "Decoder",
    "DecoderConfig",
    "FlowBatch",
    "Inventory",
    "MeasurementBatch",
    "NormalizeResult",
    "Reason",
    "Rejection",
    "RejectionStats",
    "SampleBatch",
    "TelemetryError",
    "decode_messages",
    "get_decoder",
    "known_formats",
    "normalize",
]

# name -> module that defines it; imported on first access so importing the
# package stays cheap and the counters engineer's modules can land separately.
_LAZY: dict[str, str] = {
    "SCHEMA": "twinwatch.telemetry_adapters.schema",
    "FLOW_SCHEMA": "twinwatch.telemetry_adapters.schema",
    "SampleBatch": "twinwatch.telemetry_adapters.schema",
    "FlowBatch": "twinwatch.telemetry_adapters.schema",
    "DecodeError": "twinwatch.telemetry_adapters.errors",
    "TelemetryError": "twinwatch.telemetry_adapters.errors",
    "Reason": "twinwatch.telemetry_adapters.errors",
    "Rejection": "twinwatch.telemetry_adapters.errors",
    "RejectionStats": "twinwatch.telemetry_adapters.errors",
    "Decoder": "twinwatch.telemetry_adapters.base",
    "DecoderConfig": "twinwatch.telemetry_adapters.base",
    "DecodeResult": "twinwatch.telemetry_adapters.base",
    "get_decoder": "twinwatch.telemetry_adapters.registry",
    "known_formats": "twinwatch.telemetry_adapters.registry",
    "decode_messages": "twinwatch.telemetry_adapters.registry",
    # counters engine and inventory (owned by another module set)
    "CounterState": "twinwatch.telemetry_adapters.counters",
    "Inventory": "twinwatch.telemetry_adapters.inventory",
    "MeasurementBatch": "twinwatch.telemetry_adapters.normalize",
    "NormalizeResult": "twinwatch.telemetry_adapters.normalize",
}


# ``normalize`` is both a submodule and the function it defines: bind the function eagerly, or
# ``from telemetry_adapters import normalize`` would return the module whenever the submodule had
# been imported first (the package attribute a submodule import sets cannot be intercepted lazily).
from twinwatch.telemetry_adapters.normalize import normalize  # noqa: E402


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'telemetry_adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_LAZY))
