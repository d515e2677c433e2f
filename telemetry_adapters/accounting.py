"""Record accounting: every input record is an output, a counted rejection or a counted pending state.

A *record* is the unit a decoder either turns into output or rejects: one leaf
value (a counter or gauge sample), one flow record, or one rejected unit (a
whole message when it cannot be parsed, else the record or element the
rejection names); :attr:`~telemetry_adapters.base.DecodeResult.records` counts
them for one decode call. Through decode → :func:`~telemetry_adapters.normalize.normalize`
→ inventory, each ends in exactly one of

* **out**: it reached an output row — a Measurement row (alone, summed with its
  sibling packet counters, or superseded by the 64-bit twin of a 32-bit counter),
  a flow record, or (samples mode) a sample row;
* **rejected**: counted under a stable :class:`~telemetry_adapters.errors.Reason`
  (``unmapped_leaf`` included: leaves of a valid record the twin does not use);
* **pending**: a counter's first sample, kept as the base of the next rate
  (``pending_first_sample``),

and ``records_in == out + rejected + pending``. The terms come from different
places (decoder counts, the counter kernel's accepted rows, the rejection
reasons), so the identity is a check, not a definition. ``unmapped_entity``
notices (rows kept on an ``interface`` entity) are not rejections.

>>> from twinwatch.telemetry_adapters import CounterState, DecoderConfig, get_decoder
>>> dec = get_decoder("gnmic", DecoderConfig(max_age_s=None))
>>> ev = b'{"timestamp":%d,"tags":{"source":"r1","interface_name":"e1"},"values":{"in-octets":"%d","mtu":9000}}'
>>> tally, state = Tally("gnmic"), CounterState()
>>> for t, v in [(1_700_000_000, 0), (1_700_000_010, 1250)]:
...     tally.add(*run_batch(dec, [ev % (t * 10**9, v)], state))
>>> tally.records_in, tally.records_out, dict(tally.rejected_by_reason), dict(tally.pending_by_reason)
(4, 1, {'unmapped_leaf': 2}, {'pending_first_sample': 1})
>>> tally.identity_holds()
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twinwatch.telemetry_adapters.base import Decoder, DecodeResult, RawMessage
from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.errors import BENIGN_REASONS, NOTICE_REASONS, Reason, Rejection
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.normalize import NormalizeResult, normalize
from twinwatch.telemetry_adapters.schema import FlowBatch

__all__ = ["Tally", "run_batch"]


def run_batch(
    decoder: Decoder,
    messages: Sequence[RawMessage],
    state: CounterState | None,
    inventory: Inventory | None = None,
) -> tuple[DecodeResult, NormalizeResult | None, FlowBatch, list[Rejection]]:
    """Decode ``messages``, normalise the samples (unless ``state`` is ``None``: samples mode) and map
    the flows; returns ``(decoded, normalized or None, flows, flow notices)`` for :meth:`Tally.add`."""
    res = decoder.decode_batch(messages)
    nres = normalize(res.samples, state, inventory) if state is not None else None
    flows, notices = res.flows, []
    if inventory is not None and len(flows):
        flows, notices = inventory.map_flows(flows)
    return res, nres, flows, notices


@dataclass
class Tally:
    """Running record accounting of one stream of batches (see the module docstring)."""

    format: str
    messages: int = 0
    records_in: int = 0
    records_out: int = 0
    samples: int = 0
    measurements: int = 0
    flows: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    pending_by_reason: Counter[str] = field(default_factory=Counter)
    notices_by_reason: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        res: DecodeResult,
        nres: NormalizeResult | None,
        flows: FlowBatch | None = None,
        flow_notices: Sequence[Rejection] = (),
    ) -> None:
        """Count one batch: its decode result, its normalize result (``None`` in samples mode, where every
        sample is an output row) and its flows after inventory mapping (default: ``res.flows``)."""
        flows = res.flows if flows is None else flows
        self.messages += res.messages
        self.records_in += res.records
        self.samples += len(res.samples)
        self.rejected_by_reason.update(res.stats.counts)
        self.rejected_by_reason.update(res.ignored)
        if nres is None:
            self.records_out += len(res.samples)
        else:
            st = nres.stats
            for key, n in st.items():
                if key.startswith("rejected_") and n:
                    reason = key[len("rejected_"):]
                    (self.notices_by_reason if reason in NOTICE_REASONS else self.rejected_by_reason)[reason] += n
            if st.get("records_pending"):
                self.pending_by_reason[str(Reason.PENDING_FIRST_SAMPLE)] += int(st["records_pending"])
            self.records_out += int(st.get("records_out", 0))
            self.measurements += len(nres.measurements)
        self.flows += len(flows)
        self.records_out += len(flows)
        self.notices_by_reason.update(r.reason for r in flow_notices)

    @property
    def rejected(self) -> int:
        """Records rejected (every reason, ``unmapped_leaf`` included)."""
        return sum(self.rejected_by_reason.values())

    @property
    def pending(self) -> int:
        """Records kept in the counter state without an output yet."""
        return sum(self.pending_by_reason.values())

    def identity_holds(self) -> bool:
        """``records_in == records_out + rejected + pending``."""
        return self.records_in == self.records_out + self.rejected + self.pending

    def all_rejected(self) -> bool:
        """A non-empty input of which nothing reached an output or the counter state."""
        return bool(self.records_in) and not self.records_out and not self.pending

    def partly_rejected(self) -> bool:
        """Some records were rejected for a reason other than :data:`~telemetry_adapters.errors.BENIGN_REASONS`."""
        return any(n for r, n in self.rejected_by_reason.items() if r not in BENIGN_REASONS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "format": self.format,
            "messages": self.messages,
            "records": {"in": self.records_in, "out": self.records_out, "rejected": self.rejected,
                        "pending": self.pending},
            "identity": "records.in == records.out + records.rejected + records.pending",
            "identity_holds": self.identity_holds(),
            "rows_out": {"samples": self.samples, "measurements": self.measurements, "flows": self.flows},
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "pending_by_reason": dict(sorted(self.pending_by_reason.items())),
            "notices_by_reason": dict(sorted(self.notices_by_reason.items())),
        }
