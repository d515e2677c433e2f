"""Shared JSON intake for the decoders: size and emptiness checks, orjson parsing, rejections.

>>> idx, objs, rej = load_json_messages([b'{"a": 1}', b"", b"{"], "demo", max_bytes=100)
>>> list(idx), objs, [r.reason for r in rej]
([0], [{'a': 1}], ['empty', 'malformed_json'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import orjson

from twinwatch.telemetry_adapters.base import RawMessage
from twinwatch.telemetry_adapters.errors import Reason, Rejection, truncate_raw

__all__ = ["load_json_messages", "to_bytes"]


def to_bytes(message: RawMessage) -> bytes:
    """A message as ``bytes`` (str is UTF-8 encoded)."""
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode("utf-8", "surrogatepass")
    return bytes(message)


def load_json_messages(
    messages: Sequence[RawMessage], source: str, max_bytes: int
) -> tuple[Sequence[int], list[Any], list[Rejection]]:
    """Parse each message with orjson; return (message indices, parsed objects, rejections).

    Indices and objects are aligned; the indices are ``range(len(messages))``
    when every message parsed.

    The common case (every message valid and within limits) is one C-level
    ``map(orjson.loads, ...)`` call; any failure falls back to per-message
    parsing so each bad message gets its own rejection.
    """
    if all(type(m) is bytes for m in messages):
        raws = cast("list[bytes]", list(messages))
    else:
        raws = list(map(to_bytes, messages))
    lengths = list(map(len, raws))
    if lengths and min(lengths) > 0 and max(lengths) <= max_bytes:
        try:
            return range(len(raws)), list(map(orjson.loads, raws)), []
        except orjson.JSONDecodeError:
            pass
    idx: list[int] = []
    out: list[Any] = []
    rejections: list[Rejection] = []
    for i, raw in enumerate(raws):
        if len(raw) > max_bytes:
            rejections.append(
                Rejection(
                    Reason.OVERSIZED,
                    f"message {i} is {len(raw)} bytes, over max_message_bytes={max_bytes}; raise the limit "
                    "in DecoderConfig if such messages are expected",
                    truncate_raw(raw),
                    source,
                )
            )
            continue
        if not raw.strip():
            rejections.append(Rejection(Reason.EMPTY, f"message {i} is empty", truncate_raw(raw), source))
            continue
        try:
            out.append(orjson.loads(raw))
            idx.append(i)
        except orjson.JSONDecodeError as exc:
            rejections.append(
                Rejection(Reason.MALFORMED_JSON, f"message {i}: {exc} (at byte {exc.pos})", truncate_raw(raw), source)
            )
    return idx, out, rejections
