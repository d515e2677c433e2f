"""Decoder registry: ``get_decoder(name)`` and the one-call batch API.

>>> sorted(known_formats())[:3]
['cisco-mdt', 'gnmi', 'gnmic']
>>> get_decoder("nope")
Traceback (most recent call last):
...
twinwatch.telemetry_adapters.errors.DecodeError: unknown format 'nope'; known formats: cisco-mdt, gnmi, gnmic, ...
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from twinwatch.telemetry_adapters.base import Decoder, DecoderConfig, DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import DecodeError, Reason

__all__ = ["decode_messages", "get_decoder", "known_formats"]

# format name -> "module:Class"; imported on first use
_DECODERS: dict[str, str] = {
    "gnmic": "twinwatch.telemetry_adapters.gnmic:GnmicDecoder",
    "gnmi": "twinwatch.telemetry_adapters.gnmi:GnmiDecoder",
    "telegraf-json": "twinwatch.telemetry_adapters.telegraf:TelegrafJsonDecoder",
    "influx": "twinwatch.telemetry_adapters.telegraf:InfluxLineDecoder",
    "cisco-mdt": "twinwatch.telemetry_adapters.cisco_mdt:CiscoMdtDecoder",
    "otlp": "twinwatch.telemetry_adapters.otlp:OtlpDecoder",
    "goflow2": "twinwatch.telemetry_adapters.goflow2:Goflow2Decoder",
    "probe": "twinwatch.telemetry_adapters.probes:ProbeDecoder",
}

#: Alternative spellings accepted by :func:`get_decoder`.
_ALIASES: dict[str, str] = {
    "telegraf": "telegraf-json",
    "line": "influx",
    "influx-line": "influx",
    "line-protocol": "influx",
    "mdt": "cisco-mdt",
    "pmtelemetryd": "cisco-mdt",
    "otlp-json": "otlp",
    "goflow": "goflow2",
    "ping": "probe",
    "probes": "probe",
    "gnmi-json": "gnmi",
}


def known_formats() -> list[str]:
    """Names accepted by :func:`get_decoder` (without aliases)."""
    return sorted(_DECODERS)


def get_decoder(name: str, config: DecoderConfig | None = None) -> Decoder:
    """A new decoder for wire format ``name``.

    Raises :class:`DecodeError` (reason ``unknown_format``) listing the known
    formats when ``name`` is not one of them.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    target = _DECODERS.get(key)
    if target is None:
        raise DecodeError(
            f"unknown format {name!r}; known formats: {', '.join(known_formats())}",
            format=name,
            reason=Reason.UNKNOWN_FORMAT,
        )
    module, _, cls = target.partition(":")
    decoder_cls: type[Decoder] = getattr(importlib.import_module(module), cls)
    return decoder_cls(config)


def decode_messages(
    fmt: str, messages: Sequence[RawMessage], config: DecoderConfig | None = None
) -> DecodeResult:
    """Decode ``messages`` of format ``fmt`` in one call; an unknown format rejects every message.

    >>> res = decode_messages("nope", [b"{}"])
    >>> res.stats.counts["unknown_format"]
    1
    """
    try:
        decoder = get_decoder(fmt, config)
    except DecodeError as exc:
        from twinwatch.telemetry_adapters.errors import Rejection, truncate_raw
        from twinwatch.telemetry_adapters.schema import FlowBatch, SampleBatch

        rej = [Rejection(Reason.UNKNOWN_FORMAT, str(exc), truncate_raw(m), fmt) for m in messages]
        res = DecodeResult(SampleBatch.empty(), FlowBatch.empty(), rej, len(messages))
        res.stats.add_all(rej)
        return res
    return decoder.decode_batch(messages)
