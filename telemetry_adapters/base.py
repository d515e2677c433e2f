"""The :class:`Decoder` contract and the batch result every decoder returns.

A decoder turns a sequence of raw messages (Kafka record values, lines of a
file) into one :class:`DecodeResult`: a :class:`~telemetry_adapters.schema.SampleBatch`
of counter/gauge samples, a :class:`~telemetry_adapters.schema.FlowBatch` of
flow records, and the list of :class:`~telemetry_adapters.errors.Rejection`.
``decode_batch`` never raises for bad input; every message yields at least one
sample, flow or rejection (nothing vanishes).

Examples
--------
>>> from telemetry_adapters import get_decoder
>>> dec = get_decoder("gnmic")
>>> res = dec.decode_batch([b"not json"])
>>> len(res.samples), res.stats.counts["malformed_json"]
(0, 1)
>>> samples, flows, rejections = res
>>> rejections[0].reason, len(flows)
('malformed_json', 0)
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from telemetry_adapters.errors import Reason, Rejection, RejectionStats, truncate_raw
from telemetry_adapters.schema import FlowBatch, SampleBatch

__all__ = ["DecodeResult", "Decoder", "DecoderConfig", "RawMessage"]

#: A raw message as it comes off Kafka or a file.
RawMessage = bytes | bytearray | memoryview | str


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """Validation limits shared by every decoder.

    Parameters
    ----------
    network
        Network name written into every row.
    max_message_bytes
        Messages longer than this are rejected as ``oversized`` (default 16 MiB).
    max_future_skew_s
        Samples timestamped later than now + this are rejected as ``ts_future``.
    max_age_s
        Samples timestamped earlier than now - this are rejected as ``ts_past``
        (default 30 days; ``None`` disables the check).
    now_ns
        Fixed "now" in epoch ns for reproducible tests; ``None`` = wall clock at
        each batch.
    default_device
        Device name for messages that do not carry one. A raw gNMI
        ``SubscribeResponse`` names its device only in ``prefix.target``,
        which most targets leave empty (the collector knows the device from
        the gRPC session); set this when a topic carries one device's stream.
        Rows without a device are reported as unmapped entities.
    """

    network: str = "default"
    max_message_bytes: int = 16 * 1024 * 1024
    max_future_skew_s: float | None = 300.0
    max_age_s: float | None = 30 * 86400.0
    now_ns: int | None = None
    default_device: str = ""

    def ts_bounds_ns(self) -> tuple[int, int]:
        """(lowest, highest) acceptable sample time in epoch ns for a batch decoded now."""
        now = self.now_ns if self.now_ns is not None else time.time_ns()
        lo = now - int(self.max_age_s * 1e9) if self.max_age_s is not None else -(2**63)
        hi = now + int(self.max_future_skew_s * 1e9) if self.max_future_skew_s is not None else 2**63 - 1
        return lo, hi


@dataclass(slots=True)
class DecodeResult:
    """What one ``decode_batch`` call produced.

    ``messages`` is the number of input messages; ``stats`` counts the
    rejections by reason. Iterating unpacks ``(samples, flows, rejections)``.
    """

    samples: SampleBatch
    flows: FlowBatch
    rejections: list[Rejection]
    messages: int = 0
    stats: RejectionStats = field(default_factory=RejectionStats)

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``samples, flows, rejections = result``."""
        return iter((self.samples, self.flows, self.rejections))


class Decoder(ABC):
    """One wire format → :class:`DecodeResult`.

    Subclasses set :attr:`name`, :attr:`description` and implement
    :meth:`decode_batch`; use :meth:`_result` to build the result and
    :meth:`_reject` to make rejections.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, config: DecoderConfig | None = None) -> None:
        self.config = config if config is not None else DecoderConfig()

    @abstractmethod
    def decode_batch(self, messages: Sequence[RawMessage]) -> DecodeResult:
        """Decode ``messages``; never raises for bad input."""

    def decode(self, message: RawMessage) -> DecodeResult:
        """Decode one message (convenience wrapper of :meth:`decode_batch`)."""
        return self.decode_batch([message])

    # ----------------------------------------------------------------- helpers
    def _reject(self, reason: Reason | str, detail: str, raw: RawMessage) -> Rejection:
        return Rejection(str(reason), detail, truncate_raw(raw), self.name)

    def _result(
        self,
        samples: SampleBatch,
        flows: FlowBatch | None,
        rejections: list[Rejection],
        messages: int,
    ) -> DecodeResult:
        stats = RejectionStats()
        stats.add_all(rejections)
        return DecodeResult(samples, flows if flows is not None else FlowBatch.empty(), rejections, messages, stats)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(network={self.config.network!r})"
