"""The :class:`Decoder` contract and the batch result every decoder returns.

A decoder turns a sequence of raw messages (Kafka record values, lines of a
file) into one :class:`DecodeResult`: a :class:`~telemetry_adapters.schema.SampleBatch`
of counter/gauge samples, a :class:`~telemetry_adapters.schema.FlowBatch` of
flow records, and the list of :class:`~telemetry_adapters.errors.Rejection`.
``decode_batch`` never raises for bad input; every message yields at least one
sample, flow or rejection (nothing vanishes).

Examples
--------
>>> from twinwatch.telemetry_adapters import get_decoder
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
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from twinwatch.telemetry_adapters.errors import BENIGN_REASONS, Reason, Rejection, RejectionStats, truncate_raw
from twinwatch.telemetry_adapters.schema import FlowBatch, SampleBatch

__all__ = [
    "MAX_IGNORED_EXAMPLES",
    "MIN_TS_NS",
    "DecodeResult",
    "Decoder",
    "DecoderConfig",
    "RawMessage",
    "ts_rejection",
]

#: Ignored-record examples kept per result (the counts in :attr:`DecodeResult.ignored` are exact).
MAX_IGNORED_EXAMPLES = 20

#: The earliest sample time accepted, epoch ns (1973-03-03). A nanosecond field below it holds a time
#: in seconds, milliseconds or microseconds (1.7e9, 1.7e12, 1.7e15 today): refused as ``ts_unit``
#: rather than converted, because the unit cannot be told apart from a clock that is simply wrong.
MIN_TS_NS = 10**17


def ts_rejection(ts_ns: int | float, lo: int, hi: int, what: str = "timestamp") -> tuple[Reason, str]:
    """Reason and detail for a timestamp outside ``[lo, hi]`` (:meth:`DecoderConfig.ts_bounds_ns`).

    >>> str(ts_rejection(-5, MIN_TS_NS, 2**62)[0]), str(ts_rejection(1_700_000_000, MIN_TS_NS, 2**62)[0])
    ('ts_negative', 'ts_unit')
    """
    if ts_ns < 0:
        return Reason.TS_NEGATIVE, f"{what} {ts_ns} ns is negative (before 1970)"
    if ts_ns < MIN_TS_NS:
        unit = "seconds" if ts_ns < 1e11 else "milliseconds" if ts_ns < 1e14 else "microseconds"
        return Reason.TS_UNIT, (f"{what} {ts_ns} is before 1973 as epoch ns: it looks like {unit}; "
                                "send epoch nanoseconds")  # fmt: skip
    if ts_ns > hi:
        return Reason.TS_FUTURE, f"{what} {ts_ns} ns is more than max_future_skew_s ahead of now"
    return Reason.TS_PAST, f"{what} {ts_ns} ns is older than max_age_s"

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
        (default 30 days; ``None`` disables the check). Whatever the setting, times
        before :data:`MIN_TS_NS` (1973) are refused: ``ts_negative`` or ``ts_unit``.
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
        lo = now - int(self.max_age_s * 1e9) if self.max_age_s is not None else MIN_TS_NS
        hi = now + int(self.max_future_skew_s * 1e9) if self.max_future_skew_s is not None else 2**63 - 1
        return max(lo, MIN_TS_NS), hi


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
    #: input records counted but deliberately not used, by reason (``unmapped_leaf``: leaves of a valid
    #: record that map to no counter or gauge, e.g. ``mtu``, ``description``); not in ``rejections`` / ``stats``
    ignored: Counter[str] = field(default_factory=Counter)
    #: up to :data:`MAX_IGNORED_EXAMPLES` :class:`Rejection` objects describing ``ignored`` records
    ignored_examples: list[Rejection] = field(default_factory=list)

    @property
    def records(self) -> int:
        """Input records this result accounts for: samples + flow records + rejected + ignored.

        A *record* is one leaf value (one counter or gauge sample), one flow record, or one rejected
        unit (a whole message when it cannot be parsed, else the record or element named by the
        rejection). The accounting identity of the pipeline starts from this number.
        """
        return len(self.samples) + len(self.flows) + self.stats.total + sum(self.ignored.values())

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
    def _reject(self, reason: Reason | str, detail: str, raw: RawMessage, count: int = 1) -> Rejection:
        return Rejection(str(reason), detail, truncate_raw(raw), self.name, count)

    def _result(
        self,
        samples: SampleBatch,
        flows: FlowBatch | None,
        rejections: list[Rejection],
        messages: int,
        extra_counts: dict[str, int] | None = None,
    ) -> DecodeResult:
        """Build the result; rejections with a :data:`~telemetry_adapters.errors.BENIGN_REASONS` reason
        (unmapped leaves, ``count`` leaves each) go to ``ignored``, not to ``rejections``;
        ``extra_counts``: rejections counted without a :class:`Rejection` object (capped lists)."""
        ignored: Counter[str] = Counter()
        examples: list[Rejection] = []
        if any(r.reason in BENIGN_REASONS for r in rejections):
            kept = []
            for r in rejections:
                if r.reason in BENIGN_REASONS:
                    ignored[r.reason] += r.count
                    if len(examples) < MAX_IGNORED_EXAMPLES:
                        examples.append(r)
                else:
                    kept.append(r)
            rejections = kept
        stats = RejectionStats()
        stats.add_all(rejections)
        for reason, n in (extra_counts or {}).items():
            stats.add_count(reason, self.name, n)
        flows = flows if flows is not None else FlowBatch.empty()
        return DecodeResult(samples, flows, rejections, messages, stats, ignored, examples)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(network={self.config.network!r})"
