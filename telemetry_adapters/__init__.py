"""telemetry_adapters: collector wire formats → the common measurement schema.

Contract: decoders turn raw messages (gnmic, Telegraf, Cisco MDT, OTLP,
goflow2, probes) into columnar batches of Measurement and FlowRecord rows with
counter semantics applied; bad input becomes a counted ``Rejected`` outcome,
never an exception. Nothing here knows about Kafka, windows or the twin.
"""

from __future__ import annotations

__all__: list[str] = []
