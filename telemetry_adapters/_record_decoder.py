"""The shared shape of the decoders whose leaves are mapped by path: gNMI, Cisco MDT, Telegraf.

Each such decoder turns a message into :class:`~telemetry_adapters._assemble.Records`
(device, interface, timestamp, leaf path → value) and lets one
:class:`~telemetry_adapters.paths.PathMapper` and :func:`assemble` build the
column batch; only the per-item parsing differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twinwatch.telemetry_adapters._assemble import Records, assemble
from twinwatch.telemetry_adapters._json import load_json_messages
from twinwatch.telemetry_adapters.base import Decoder, DecoderConfig, DecodeResult, RawMessage
from twinwatch.telemetry_adapters.errors import Reason, Rejection
from twinwatch.telemetry_adapters.paths import PathMapper

__all__ = ["AddItem", "RecordDecoder"]

AddItem = Callable[[Any, int, Records], Iterable[tuple[str, str]]]
"""``add(item, message_index, records) -> [(reason, detail), ...]``: parse one JSON item into ``records``."""


class RecordDecoder(Decoder):
    """Base of the path-mapped decoders: owns the mapper and the JSON-array loop."""

    def __init__(self, config: DecoderConfig | None = None) -> None:
        super().__init__(config)
        self._mapper = PathMapper()

    def _finish(self, recs: Records, messages: Sequence[RawMessage], rejections: list[Rejection]) -> DecodeResult:
        """Map the collected records to a :class:`SampleBatch` and build the result."""
        batch, more = assemble(recs, self._mapper, self.config, messages, self.name)
        rejections.extend(more)
        return self._result(batch, None, rejections, len(messages))

    def _decode_json_items(self, messages: Sequence[RawMessage], add: AddItem) -> DecodeResult:
        """Decode messages that hold one JSON item or an array of items, each parsed by ``add``."""
        p_idx, p_objs, rejections = load_json_messages(messages, self.name, self.config.max_message_bytes)
        recs = Records()
        for i, obj in zip(p_idx, p_objs, strict=True):
            items = obj if isinstance(obj, list) else [obj]
            if not items:
                rejections.append(self._reject(Reason.EMPTY, f"message {i} is an empty array", messages[i]))
            for item in items:
                for reason, detail in add(item, i, recs):
                    rejections.append(self._reject(reason, f"message {i}: {detail}", messages[i]))
        return self._finish(recs, messages, rejections)
