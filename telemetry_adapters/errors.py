"""Errors and rejections: the stable reason codes for bad input.

Decoders never raise to their caller: each bad message (or bad element inside a
message) becomes a :class:`Rejection` with one of the stable :class:`Reason`
codes, and the batch API counts them in a :class:`RejectionStats`.
:class:`DecodeError` exists for callers that want an exception (the CLI,
single-message helpers); :meth:`DecodeError.to_rejection` converts it.

Examples
--------
>>> r = Rejection(Reason.MALFORMED_JSON, "unexpected end of input", b"{", "gnmic")
>>> r.reason
'malformed_json'
>>> stats = RejectionStats()
>>> stats.add_all([r, r])
>>> stats.counts["malformed_json"], stats.total
(2, 2)
>>> err = DecodeError("bad", format="gnmic", offset=3, raw=b"x" * 600)
>>> isinstance(err, ValueError), len(err.raw)
(True, 512)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "BENIGN_REASONS",
    "MAX_RAW_BYTES",
    "NOTICE_REASONS",
    "PENDING_REASONS",
    "DecodeError",
    "Reason",
    "RecordError",
    "Rejection",
    "RejectionStats",
    "TelemetryError",
    "truncate_raw",
]

#: Rejections keep at most this many bytes of the offending input.
MAX_RAW_BYTES = 512


class Reason(StrEnum):
    """Stable rejection reason codes (the string values are the contract)."""

    MALFORMED_JSON = "malformed_json"  #: not parseable as JSON / line protocol
    WRONG_TYPE = "wrong_type"  #: a field has the wrong JSON type (object where a number belongs …)
    MISSING_FIELD = "missing_field"  #: a required field is absent
    NON_FINITE = "non_finite"  #: NaN or ±inf where a finite number is required
    NEGATIVE_COUNTER = "negative_counter"  #: a cumulative counter below zero
    OUT_OF_RANGE = "out_of_range"  #: a counter above 2**64-1, a Counter32 above 2**32-1, a ratio outside 0..1
    TS_FUTURE = "ts_future"  #: timestamp later than now + max skew
    TS_PAST = "ts_past"  #: timestamp earlier than now - max age
    OVERSIZED = "oversized"  #: message longer than the configured limit
    UNKNOWN_FORMAT = "unknown_format"  #: no decoder for the requested format / message shape
    UNKNOWN_PATH = "unknown_path"  #: a valid message whose paths carry nothing this project maps
    EMPTY = "empty"  #: an empty message, or one with no values at all
    # counter semantics (telemetry_adapters.counters / normalize)
    OUT_OF_ORDER = "out_of_order"  #: sample older than the last one seen for its counter
    DUPLICATE = "duplicate"  #: sample with the same timestamp as the last one seen
    # inventory
    UNMAPPED_ENTITY = "unmapped_entity"  #: device/interface or prefix not in the inventory (rows kept)
    # hardening (issue 14): every record is an output, a counted rejection or a counted pending state
    TS_NEGATIVE = "ts_negative"  #: a timestamp before 1970 (negative epoch)
    TS_UNIT = "ts_unit"  #: a nanosecond timestamp whose magnitude says seconds, ms or µs (before 1973)
    MISSING_DEVICE = "missing_device"  #: no device name (gNMI without prefix.target and no default device)
    UNMAPPED_LEAF = "unmapped_leaf"  #: a leaf this project does not map, inside a record that has mapped ones
    COUNTER_DECREASE = "counter_decrease"  #: a Counter64 (or a Counter32 too far for a wrap) went down
    COUNTER_RESET = "counter_reset"  #: a discontinuity marker changed and the restart time is unknown
    IMPLAUSIBLE_RATE = "implausible_rate"  #: a rate above capacity × headroom, or the absolute physical bound
    BAD_CAPACITY = "bad_capacity"  #: the inventory gives the row's link a capacity <= 0 or not finite
    PENDING_FIRST_SAMPLE = "pending_first_sample"  #: not a rejection: a counter's first sample has no rate yet
    # link state (issue 9)
    UNKNOWN_ENUM = "unknown_enum"  #: a link-state leaf (oper-status …) whose value names no interface state
    LINK_STATE_UNKNOWN = "link_state_unknown"  #: not a rejection: a port reports its state as *unknown* (ignored)
    # counter semantics, added later (the older codes unchanged)
    COUNTER32_AMBIGUOUS = "counter32_ambiguous"  #: a Counter32 whose port could wrap it more than once a sample
    CLOCK_STEP = "clock_step"  #: the counter's last sample was stamped ahead by a device clock since set back
    # interface speed (telemetry_adapters.speed)
    BAD_SPEED = "bad_speed"  #: an interface-speed leaf whose value is below 0
    SPEED_UNKNOWN = "speed_unknown"  #: not a rejection: a port reports its speed as unknown or 0 (ignored)
    SPEED_SUPERSEDED = "speed_superseded"  #: not a rejection: a speed leaf of a record beside a preferred one
    # IGP metric (telemetry_adapters.igp)
    BAD_METRIC = "bad_metric"  #: an IGP-metric leaf whose value is not an integer in 1 .. 16777215
    IGP_OTHER_TOPOLOGY = "igp_other_topology"  #: not a rejection: a metric of IS-IS level 1 or another AF (ignored)
    IGP_METRIC_SUPERSEDED = "igp_metric_superseded"  #: not a rejection: an IGP-metric leaf beside a preferred one
    # a port's leaves with no port (session 51)
    MISSING_INTERFACE = "missing_interface"  #: a port's counter, state, speed or metric in a record naming no port


#: Reasons that count an input record as *pending* (kept in the counter state, output later), not rejected.
PENDING_REASONS: frozenset[str] = frozenset({Reason.PENDING_FIRST_SAMPLE})
#: Reasons that are notices about kept data (the rows are output), not rejections of records.
NOTICE_REASONS: frozenset[str] = frozenset({Reason.UNMAPPED_ENTITY})
#: Rejections that do not make ``twinwatch adapt`` report partial success (exit 3): leaves a broad
#: subscription carries that the twin does not use (``mtu``, ``description`` ...), link-state and speed leaves
#: whose value is an explicit *unknown* (it says no more than silence: the snapshot counts the end as unreported;
#: ``SPEED_UNKNOWN``, a saturated ``ifSpeed``), and a speed leaf superseded by a preferred one of the same record
#: (``port-speed`` beside ``negotiated-port-speed``, ``ifSpeed`` beside ``ifHighSpeed``: one row, not two); an
#: IGP metric of a topology the twin does not route (IS-IS level 1, IPv6, multicast) and one superseded likewise.
BENIGN_REASONS: frozenset[str] = frozenset({
    Reason.UNMAPPED_LEAF, Reason.LINK_STATE_UNKNOWN, Reason.SPEED_UNKNOWN, Reason.SPEED_SUPERSEDED,
    Reason.IGP_OTHER_TOPOLOGY, Reason.IGP_METRIC_SUPERSEDED,
})  # fmt: skip


def truncate_raw(raw: bytes | bytearray | memoryview | str, limit: int = MAX_RAW_BYTES) -> bytes:
    """The first ``limit`` bytes of ``raw`` (str is UTF-8 encoded).

    >>> truncate_raw("abc", 2)
    b'ab'
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    return bytes(raw[:limit])


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected message or element.

    Parameters
    ----------
    reason
        A :class:`Reason` value (stored as its string).
    detail
        Human explanation naming the element and the fix.
    raw
        The offending input, truncated to :data:`MAX_RAW_BYTES` bytes.
    source
        The decoder (or stage) that rejected it.
    count
        How many input records this one rejection stands for (default 1): the unmapped leaves of
        one record are one object with ``count`` = the number of leaves, so the stats stay exact
        per leaf while the list stays short.
    """

    reason: str
    detail: str
    raw: bytes
    source: str
    count: int = 1

    def __post_init__(self) -> None:
        if len(self.raw) > MAX_RAW_BYTES:
            object.__setattr__(self, "raw", bytes(self.raw[:MAX_RAW_BYTES]))
        object.__setattr__(self, "reason", str(self.reason))

    def to_dict(self) -> dict[str, str | int]:
        """JSON-friendly form (raw decoded as UTF-8 with replacement; ``count`` only when not 1)."""
        d: dict[str, str | int] = {
            "reason": self.reason,
            "detail": self.detail,
            "raw": self.raw.decode("utf-8", "replace"),
            "source": self.source,
        }
        if self.count != 1:
            d["count"] = self.count
        return d


@dataclass(slots=True)
class RejectionStats:
    """Running count of rejections by reason (and by source)."""

    counts: Counter[str] = field(default_factory=Counter)
    by_source: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, rejection: Rejection) -> None:
        """Count one rejection (``rejection.count`` records)."""
        self.counts[rejection.reason] += rejection.count
        self.by_source[(rejection.source, rejection.reason)] += rejection.count

    def add_all(self, rejections: Iterable[Rejection]) -> None:
        """Count many rejections."""
        for r in rejections:
            self.add(r)

    def add_count(self, reason: str, source: str, n: int) -> None:
        """Count ``n`` rejections of ``reason`` that have no :class:`Rejection` object (a capped list)."""
        if n:
            self.counts[str(reason)] += n
            self.by_source[(source, str(reason))] += n

    @property
    def total(self) -> int:
        """Number of rejections counted."""
        return sum(self.counts.values())


class TelemetryError(Exception):
    """Base class of every exception raised by :mod:`telemetry_adapters`."""


class RecordError(TelemetryError):
    """One record of a message cannot be used: raised by a decoder's record parser and caught by
    the decoder itself, which turns it into a :class:`Rejection` (it never reaches the caller).

    Parameters
    ----------
    reason
        The :class:`Reason` code.
    detail
        What is wrong with the record, for the rejection's ``detail``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class DecodeError(TelemetryError, ValueError):
    """A message could not be decoded.

    Parameters
    ----------
    message
        What went wrong and how to fix it.
    format
        Decoder name (wire format).
    offset
        Byte offset (or message index) where the problem was found, or ``None``.
    raw
        The offending input, truncated to :data:`MAX_RAW_BYTES` bytes.
    reason
        The :class:`Reason` code this error maps to.
    """

    def __init__(
        self,
        message: str,
        *,
        format: str = "",
        offset: int | None = None,
        raw: bytes | str = b"",
        reason: str = Reason.MALFORMED_JSON,
    ) -> None:
        super().__init__(message)
        self.format = format
        self.offset = offset
        self.raw = truncate_raw(raw)
        self.reason = str(reason)

    def to_rejection(self) -> Rejection:
        """This error as a :class:`Rejection`."""
        return Rejection(self.reason, str(self), self.raw, self.format)
