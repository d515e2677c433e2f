"""Counter semantics: cumulative counters → rates, with wraps, resets and gaps handled.

:class:`CounterState` keeps, per (device, interface, field, counter width)
counter, the last timestamp, value and discontinuity epoch, and turns each
:class:`SampleBatch` into one rate per row (or a reason why there is none).
Names are the raw spellings (``Gi0/1`` and ``GigabitEthernet0/1`` are two
counters; the normaliser maps both to one entity), and a Counter32 and a
Counter64 of one field (``ifInOctets`` / ``ifHCInOctets``) are two counters.
The rules:

* The first sample of a counter yields no rate (status ``FIRST``).
* ``Counter32``: a decrease is a wrap modulo 2**32 (flag ``WRAPPED``) unless
  the wrapped increment implies a rate above the row's bound (``max_bps`` for
  octets, ``max_pps`` for packets, or the caller's per-row ``max_rate``, e.g.
  1.5 × the interface speed), in which case it is a reset (flag ``RESET``, no
  rate): a rebooted device read as a wrap would otherwise report a spike.
* ``Counter32`` with a per-row ``max_rate`` (the interface's speed × headroom): an
  increment ``d`` for which ``d + 2**32`` would also stay within it is ambiguous
  (the counter may have wrapped once more), so the row gets no rate (status
  ``RESET``, cause ``ambiguous``): at 10-s polling any port above 2.3 Gb/s
  (1.5 × headroom) needs the 64-bit ``ifHC*`` counters (RFC 2863, 3.1.6). Without a
  ``max_rate`` the single-wrap reading is kept (the absurd-rate bound says nothing
  about the port).
* ``Counter64``: a decrease is always a reset (``RESET``, no rate), never a wrap.
  Any increment (either width, or a delta) implying a rate above the row's
  bound is treated the same way: implausible, a reset, no rate.
* A change of the discontinuity epoch (``last-clear``, ``discontinuity-time``,
  OTLP ``startTimeUnixNano``, boot time) by more than ``epoch_tolerance_s`` is a
  reset. When the new epoch lies strictly between the previous sample and this
  one, the counter restarted from zero at the epoch, so the rate is
  ``value / (ts - epoch)`` (exact, over the shorter interval) with ``RESET``
  set; otherwise no rate is given.
* ``DELTA`` rows (OTLP delta temporality) are increments: rate
  ``value / (ts - epoch)``; without a start time, ``value / (ts - last ts)``.
* A sample older than the last one of its counter is ``OUT_OF_ORDER``; one
  with the same timestamp is a ``DUPLICATE``; both are dropped. Inside one
  batch the samples of a counter are processed in timestamp order (stable), so
  a batch need not be sorted. Unless the clock stepped back: when the last
  sample is more than ``clock_step_s`` ahead of ``now`` and the new one more
  than that older, the device's clock ran ahead and was set back (NTP), and the
  sample re-bases the counter (``RESET``, cause ``clock_step``, no rate)
  instead of every sample being dropped until the clock catches up again.
  A cumulative counter also shows a step of any size (more than
  ``epoch_tolerance_s``, the timestamps' jitter): a sample older than the last
  one but with a higher value in the same epoch was taken after it, by a clock
  set back (a late sample holds a lower value). Inside one batch the same rules
  split a counter's rows, in arrival order, at the step: those stamped before
  it are applied first, so the samples still stamped ahead are not read after
  the corrected ones. A cumulative counter's sample more than ``clock_step_s``
  after its last one, and as far ahead of ``now``, is a clock that jumped
  ahead: it re-bases the counter as well (the interval would hold the jump).
* Δt above ``gap_factor`` × the counter's typical interval (an EWMA of Δt,
  weight ``ewma_alpha``) sets ``GAP``; the rate over the gap is still given.
* Octets become bits/s (× 8); packets become packets/s. Gauges pass through
  untouched (status ``GAUGE``; they hold no state, so they are not checked for
  order or duplicates).

State is bounded: counters idle for ``ttl_s`` of event time, or the least
recently seen beyond ``max_counters``, are evicted (counted in
:attr:`CounterState.evictions`). The device and interface name tables hold at
most ``max_names`` names each: past that, the ids of the least recently used
names are recycled and their counters evicted (so a feed of ever-new names
never makes the engine raise; see :class:`~telemetry_adapters._names.NameTable`). :meth:`CounterState.save` and
:meth:`CounterState.load` keep it across restarts in a NumPy ``.npz`` (no
pickle).

Examples
--------
>>> from twinwatch.telemetry_adapters.schema import Kind, SampleBatchBuilder
>>> b = SampleBatchBuilder()
>>> for t, v in [(0, 100), (10, 1350), (20, 600)]:
...     b.add("r1", "Ethernet1", "rx_octets", t * 10**9, v, float(v), Kind.COUNTER64, 0, False, "x", "lab")
>>> state = CounterState()
>>> res = state.update(b.build())
>>> res.rate.tolist()
[nan, 1000.0, nan]
>>> [STATUS_NAMES[s] for s in res.status], res.flags.tolist()
(['first', 'rate', 'reset'], [0, 0, 1])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters import _counter_io as _io
from twinwatch.telemetry_adapters import _counter_kernels as _k
from twinwatch.telemetry_adapters._names import NameTable, dense_codes, object_pointers
from twinwatch.telemetry_adapters.errors import TelemetryError
from twinwatch.telemetry_adapters.schema import SampleBatch

__all__ = [
    "FIELD_MASK",
    "FIELD_SHIFT",
    "PAIR_SHIFT",
    "RESET_CAUSES",
    "STATUS_NAMES",
    "CounterConfig",
    "CounterResult",
    "CounterState",
    "CounterStateError",
    "Status",
    "dense_codes",
    "object_pointers",
]

_DEV_BITS, _IFC_BITS, _FLD_BITS = 24, 24, 10
#: Key layout: ``device << 36 | interface << 12 | field << 2 | width`` (width 2 = Counter64,
#: 1 = Counter32, 0 = other kinds), so that ``ifInOctets`` and ``ifHCInOctets`` of one
#: interface are separate counters.
PAIR_SHIFT = 2 + _FLD_BITS
FIELD_SHIFT = 2
FIELD_MASK = (1 << _FLD_BITS) - 1


class Status:
    """Per-row outcome codes of :meth:`CounterState.update` (see :mod:`._counter_kernels`)."""

    RATE = _k.ST_RATE
    FIRST = _k.ST_FIRST
    RESET = _k.ST_RESET
    OUT_OF_ORDER = _k.ST_OUT_OF_ORDER
    DUPLICATE = _k.ST_DUPLICATE
    NEGATIVE = _k.ST_NEGATIVE
    GAUGE = _k.ST_GAUGE
    BAD_KIND = _k.ST_BAD_KIND


#: ``CounterResult.cause`` code → name, in code order.
RESET_CAUSES: tuple[str, ...] = ("", "decrease", "implausible", "epoch", "ambiguous", "clock_step")

#: Status code → name, in code order.
STATUS_NAMES: tuple[str, ...] = (
    "rate",
    "first",
    "reset",
    "out_of_order",
    "duplicate",
    "negative",
    "gauge",
    "bad_kind",
)


class CounterStateError(TelemetryError, ValueError):
    """Counter state cannot be built, saved or restored; the message names the fix."""


@dataclass(frozen=True, slots=True)
class CounterConfig:
    """Settings of the counters engine.

    Parameters
    ----------
    gap_factor
        Δt above this multiple of the counter's typical interval sets ``GAP``.
    ewma_alpha
        Weight of the newest Δt in the typical-interval EWMA.
    max_bps
        Absurd-rate bound for octet counters (bits/s); above it an increment is a reset.
    max_pps
        The same bound for packet counters (packets/s).
    epoch_tolerance_s
        Epoch changes up to this many seconds are jitter, not a reset (devices
        that derive ``last-clear`` from uptime report it with a second of jitter).
    clock_step_s
        A sample this much older than its counter's last one, itself this far ahead of ``now``, is a clock
        set back: it re-bases the counter (see the module docstring), as do, for a cumulative counter, an
        older sample with a higher value and a sample this far ahead of its last one and of ``now`` (a clock
        that jumped ahead); ``0`` or less: never (always out of order).
    ttl_s
        Counters not seen for this long (event time) are evicted.
    max_counters
        Evict the least recently seen counters beyond this many.
    max_names
        Live device names, and live interface names, kept at most (1 .. 2**24);
        beyond it the least recently used names are dropped with their counters.
    """

    gap_factor: float = 2.5
    ewma_alpha: float = 0.125
    max_bps: float = 1e13
    max_pps: float = 2e10
    epoch_tolerance_s: float = 2.0
    clock_step_s: float = 60.0
    ttl_s: float = 3600.0
    max_counters: int = 4_000_000
    max_names: int = 1 << _DEV_BITS

    def __post_init__(self) -> None:
        if not self.gap_factor > 1.0:
            raise CounterStateError(f"CounterConfig.gap_factor must be > 1, got {self.gap_factor!r}")
        if not 0.0 < self.ewma_alpha <= 1.0:
            raise CounterStateError(f"CounterConfig.ewma_alpha must be in (0, 1], got {self.ewma_alpha!r}")
        if not (self.max_bps > 0 and self.max_pps > 0 and self.ttl_s > 0 and self.max_counters > 0):
            raise CounterStateError("CounterConfig: max_bps, max_pps, ttl_s and max_counters must be > 0")
        if not 1 <= self.max_names <= 1 << _DEV_BITS:
            raise CounterStateError(f"CounterConfig.max_names must be in 1 .. 2**24, got {self.max_names!r}")


@dataclass(frozen=True, slots=True)
class CounterResult:
    """Outcome of :meth:`CounterState.update`, aligned with the input rows.

    Attributes
    ----------
    rate
        ``(n,)`` float64: bits/s for octet fields, packets/s for packet
        fields, the value itself for gauges; NaN when there is no rate.
    flags
        ``(n,)`` uint8 :class:`~telemetry_adapters.schema.Flag` bits.
    status
        ``(n,)`` uint8 :class:`Status` codes.
    key
        ``(n,)`` int64 interned key ``device_id << 36 | interface_id << 12 |
        field_id << 2 | width`` (see :meth:`CounterState.names`); ``key >>
        PAIR_SHIFT`` identifies the (device, interface) pair, ``(key >>
        FIELD_SHIFT) & FIELD_MASK`` the field, ``key & 3`` the counter width
        (2 = Counter64, 1 = Counter32, 0 = gauge or delta).
    cause
        ``(n,)`` uint8: why a ``RESET`` row has no rate (:data:`RESET_CAUSES` index: 0 not a reset,
        1 the counter went down, 2 the increment implies an implausible rate, 3 the discontinuity
        epoch changed with an unknown restart time, 4 a Counter32 increment that one more wrap would
        also explain within ``max_rate``).
    """

    rate: npt.NDArray[np.float64]
    flags: npt.NDArray[np.uint8]
    status: npt.NDArray[np.uint8]
    key: npt.NDArray[np.int64]
    cause: npt.NDArray[np.uint8] | None = None

    def counts(self) -> dict[str, int]:
        """Rows per status name."""
        c = np.bincount(self.status, minlength=len(STATUS_NAMES))
        return {name: int(c[i]) for i, name in enumerate(STATUS_NAMES)}


class CounterState:
    """Per-counter state and the batch update that turns samples into rates.

    Parameters
    ----------
    config
        :class:`CounterConfig`; defaults when ``None``.
    capacity
        Initial number of counter slots (grows by doubling).
    """

    def __init__(self, config: CounterConfig | None = None, *, capacity: int = 1024) -> None:
        self.config = config if config is not None else CounterConfig()
        mx = self.config.max_names
        self._devices = NameTable(
            "device", mx, 1 << _DEV_BITS, lambda ids: self._drop_names(ids, PAIR_SHIFT + _IFC_BITS, _DEV_BITS)
        )
        self._interfaces = NameTable(
            "interface", mx, 1 << _IFC_BITS, lambda ids: self._drop_names(ids, PAIR_SHIFT, _IFC_BITS)
        )
        self._fields = NameTable(
            "field", 1 << _FLD_BITS, 1 << _FLD_BITS, lambda ids: self._drop_names(ids, FIELD_SHIFT, _FLD_BITS)
        )
        self._field_scale = np.zeros(0, dtype=np.float64)
        self._field_max = np.zeros(0, dtype=np.float64)
        self.evictions = 0
        #: scratch space for consumers (e.g. :func:`~telemetry_adapters.normalize.normalize` caches
        #: inventory lookups per interned pair here); not saved
        self.cache: dict[str, Any] = {}
        self._last_sweep_ns: int | None = None
        self._alloc(max(16, int(capacity)))

    # ----------------------------------------------------------------- storage
    def _alloc(self, cap: int) -> None:
        self._slot_key = np.zeros(cap, dtype=np.int64)
        self._used = np.zeros(cap, dtype=np.bool_)
        self._seen = np.zeros(cap, dtype=np.bool_)
        self._ts = np.zeros(cap, dtype=np.int64)
        self._val = np.zeros(cap, dtype=np.uint64)
        self._epoch = np.zeros(cap, dtype=np.int64)
        self._has_epoch = np.zeros(cap, dtype=np.bool_)
        self._ival = np.zeros(cap, dtype=np.float64)
        self._last_seen = np.zeros(cap, dtype=np.int64)
        self._mark = np.zeros(cap, dtype=np.int32)  # scratch of in_key_order (not state)
        self._scratch_ts = np.zeros(cap, dtype=np.int64)
        self._gen = 0
        self._free = np.zeros(cap, dtype=np.int64)
        self._n_free = 0
        self._next = 0
        self._ht_key = np.zeros(2 * _pow2(cap), dtype=np.int64)
        self._ht_slot = np.full(2 * _pow2(cap), -1, dtype=np.int64)
        self._n_ht = 0

    _SLOT_ARRAYS = (
        "_slot_key", "_used", "_seen", "_ts", "_val", "_epoch", "_has_epoch", "_ival", "_last_seen",
        "_mark", "_scratch_ts",
    )  # fmt: skip

    def _grow_slots(self) -> None:
        cap = self._slot_key.shape[0] * 2
        for name in self._SLOT_ARRAYS:
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        free = np.zeros(cap, dtype=np.int64)
        free[: self._n_free] = self._free[: self._n_free]
        self._free = free

    def _drop_names(self, ids: npt.NDArray[np.int64], shift: int, bits: int) -> None:
        """Before name ids are recycled: evict their counters and drop the consumers' caches."""
        top = self._next
        live = np.flatnonzero(self._used[:top])
        part = (self._slot_key[live] >> shift) & ((1 << bits) - 1)
        victims = live[np.isin(part, ids)]
        if victims.shape[0]:
            self.evict_slots(victims)
        self.cache.clear()  # e.g. normalize's pair → entity map is keyed by ids
        self._field_scale = np.zeros(0, dtype=np.float64)  # re-derived from the names by _sync_fields

    def _grow_table(self) -> None:
        size = self._ht_key.shape[0] * 2
        self._ht_key = np.zeros(size, dtype=np.int64)
        self._ht_slot = np.full(size, -1, dtype=np.int64)
        self._n_ht = int(_k.rebuild_table(self._ht_key, self._ht_slot, self._slot_key, self._used))

    def _intern(self, key: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        slots = np.full(key.shape[0], -1, dtype=np.int64)
        start = 0
        while True:
            stop, self._n_free, self._next, self._n_ht = _k.intern_slots(
                key, rows, start, slots, self._ht_key, self._ht_slot, self._slot_key,
                self._used, self._seen, self._free, self._n_free, self._next, self._n_ht,
            )  # fmt: skip
            if stop >= rows.shape[0]:
                return slots
            start = int(stop)
            if self._n_ht >= (self._ht_key.shape[0] * 7) // 10:
                self._grow_table()
            else:
                self._grow_slots()

    # ------------------------------------------------------------------ public
    def __len__(self) -> int:
        """Number of counters tracked."""
        return int(self._next - self._n_free)

    def keys(self, batch: SampleBatch) -> npt.NDArray[np.int64]:
        """``(n,)`` int64 interned keys of ``batch`` rows (adds unseen names to the vocabularies)."""
        for table in (self._devices, self._interfaces, self._fields):
            table.tick()
        nc = batch.codes
        if nc is not None and nc.device.shape[0] == len(batch):  # the decoder's codes: one lookup per name
            dev_ids = self._devices.lookup(nc.device_names)
            ifc_ids = self._interfaces.lookup(nc.interface_names)
            fld_ids = self._fields.lookup(nc.field_names)
            self._sync_fields()
            out = np.empty(len(batch), dtype=np.int64)
            _k.make_keys(dev_ids, nc.device, ifc_ids, nc.interface, fld_ids, nc.field, np.asarray(batch.kind),
                         PAIR_SHIFT + _IFC_BITS, PAIR_SHIFT, FIELD_SHIFT, out)  # fmt: skip
            return out
        dev = self._devices.encode(batch.device)
        ifc = self._interfaces.encode(batch.interface)
        fld = self._fields.encode(batch.field)
        self._sync_fields()
        kind = np.asarray(batch.kind)
        width = (kind == 64).astype(np.int64) * 2 + (kind == 32)
        key: npt.NDArray[np.int64] = (dev << (PAIR_SHIFT + _IFC_BITS)) | (ifc << PAIR_SHIFT)
        key |= (fld << FIELD_SHIFT) | width
        return key

    def _sync_fields(self) -> None:
        n = len(self._fields.names)
        if self._field_scale.shape[0] == n:
            return
        names = self._fields.names
        octets = np.array([f is not None and f.endswith("_octets") for f in names], dtype=bool)
        self._field_scale = np.where(octets, 8.0, 1.0)
        c = self.config
        self._field_max = np.where(octets, c.max_bps, c.max_pps).astype(np.float64)

    def names(self, key: int) -> tuple[str, str, str]:
        """``(device, interface, field)`` of an interned key.

        >>> from twinwatch.telemetry_adapters.schema import SampleBatchBuilder
        >>> b = SampleBatchBuilder()
        >>> b.add("r1", "Ethernet1", "rx_octets", 1, 1, 1.0, 64, 0, False, "x", "lab")
        >>> s = CounterState()
        >>> s.names(int(s.keys(b.build())[0]))
        ('r1', 'Ethernet1', 'rx_octets')
        """
        return (
            _live(self._devices.names[key >> (PAIR_SHIFT + _IFC_BITS)], key),
            _live(self._interfaces.names[(key >> PAIR_SHIFT) & ((1 << _IFC_BITS) - 1)], key),
            _live(self._fields.names[(key >> FIELD_SHIFT) & FIELD_MASK], key),
        )

    def pair_names(self, pair: int) -> tuple[str, str]:
        """``(device, interface)`` of ``key >> PAIR_SHIFT``."""
        return (
            _live(self._devices.names[pair >> _IFC_BITS], pair),
            _live(self._interfaces.names[pair & ((1 << _IFC_BITS) - 1)], pair),
        )

    def field_names(self) -> tuple[str, ...]:
        """Field names by field id (``(key >> FIELD_SHIFT) & FIELD_MASK``; ``""`` for a recycled id)."""
        return tuple("" if f is None else f for f in self._fields.names)

    def update(
        self,
        batch: SampleBatch,
        *,
        max_rate: npt.NDArray[np.float64] | None = None,
        now_ns: int | None = None,
        key: npt.NDArray[np.int64] | None = None,
    ) -> CounterResult:
        """Apply counter semantics to ``batch``; return one outcome per row.

        Parameters
        ----------
        batch
            Decoded samples; rows of one counter may come in any order.
        max_rate
            Optional ``(n,)`` per-row rate bound in the row's SI unit (bits/s
            or packets/s), e.g. 1.5 × the interface speed; combined with
            ``max_bps`` / ``max_pps`` by ``min``. Used to tell a Counter32
            wrap from a reset and to reject implausible increments.
        now_ns
            Clock for idle eviction and for telling a device clock set back (``clock_step_s``), epoch ns; the
            batch's newest timestamp when ``None``.
        key
            The rows' keys when the caller already has them from :meth:`keys`.
        """
        n = len(batch)
        if key is None:
            key = self.keys(batch)
        kind = np.asarray(batch.kind, dtype=np.uint8)
        counter_rows = np.flatnonzero(kind != _k.K_GAUGE)
        slots = self._intern(key, counter_rows)
        ts = np.asarray(batch.ts_ns, dtype=np.int64)
        fld = (key >> FIELD_SHIFT) & FIELD_MASK
        scale = self._field_scale[fld]
        bound = self._field_max[fld]
        if max_rate is not None:
            wrap_bound = np.asarray(max_rate, dtype=np.float64)
            bound = np.minimum(bound, wrap_bound)
        else:
            wrap_bound = np.full(n, np.inf)
        if n and now_ns is None:
            now_ns = int(ts.max())
        now = int(now_ns or 0)
        c = self.config
        vu = np.asarray(batch.value_u64, dtype=np.uint64)
        epoch = np.asarray(batch.epoch_ns, dtype=np.int64)
        has_epoch = np.asarray(batch.has_epoch, dtype=np.bool_)
        step_ns, jitter_ns = int(c.clock_step_s * 1e9), int(c.epoch_tolerance_s * 1e9)
        order = self._order(slots, ts, (vu, kind, epoch, has_epoch), now, step_ns, jitter_ns)
        rate = np.empty(n, dtype=np.float64)
        flags = np.empty(n, dtype=np.uint8)
        status = np.empty(n, dtype=np.uint8)
        cause = np.empty(n, dtype=np.uint8)
        _k.update_counters(
            order, slots, ts, vu, np.asarray(batch.value_f64, np.float64), kind, epoch, has_epoch,
            scale, bound, wrap_bound, now,
            self._ts, self._val, self._epoch, self._has_epoch, self._seen, self._ival, self._last_seen,
            float(c.gap_factor), float(c.ewma_alpha), jitter_ns, step_ns,
            rate, flags, status, cause,
        )  # fmt: skip
        if n:
            self._maybe_evict(now)
        return CounterResult(rate=rate, flags=flags, status=status, key=key, cause=cause)

    def _next_gen(self) -> int:
        """A fresh generation for the per-slot scratch arrays (``_mark`` is cleared when it wraps)."""
        self._gen += 1
        if self._gen >= 2**31 - 1:
            self._mark[:] = 0
            self._gen = 1
        return self._gen

    def _order(self, slots: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], rows: tuple[npt.NDArray[Any], ...],
               now: int, step_ns: int, jitter_ns: int) -> npt.NDArray[np.int64]:
        """``(n,)`` row order in which to apply the batch: each counter's rows by time, and, where a device's
        clock was set back inside the batch (:func:`~._counter_kernels.clock_segments`; ``rows`` = value,
        kind, epoch, has-epoch columns), the rows stamped before the step first, so the first one after it
        re-bases the counter (``clock_step``) as it would across two batches."""
        n = slots.shape[0]
        if _k.in_key_order(slots, ts, self._mark, self._scratch_ts, self._next_gen()):
            return np.arange(n, dtype=np.int64)
        if step_ns > 0:
            seg = np.empty(n, dtype=np.int64)
            if _k.clock_segments(slots, ts, *rows, now, step_ns, jitter_ns, self._mark, self._scratch_ts,
                                 self._next_gen(), seg):
                return np.lexsort((ts, seg)).astype(np.int64)
        return np.argsort(ts, kind="stable").astype(np.int64)

    # ---------------------------------------------------------------- eviction
    def _maybe_evict(self, now_ns: int) -> None:
        ttl_ns = int(self.config.ttl_s * 1e9)
        over = len(self) > self.config.max_counters
        last = self._last_sweep_ns
        due = last is None or now_ns - last >= ttl_ns // 8 or now_ns < last  # (a clock set back sweeps too)
        if not (over or due):
            return
        self._last_sweep_ns = now_ns
        top = self._next
        used = self._used[:top]
        idle = used & (self._last_seen[:top] < now_ns - ttl_ns)
        victims = np.flatnonzero(idle)
        excess = int(used.sum()) - victims.shape[0] - self.config.max_counters
        if excess > 0:
            # evict down to 90 % of the cap so that the table is not rebuilt on every batch
            excess += self.config.max_counters // 10
            alive = np.flatnonzero(used & ~idle)
            excess = min(excess, alive.shape[0])
            oldest = alive[np.argpartition(self._last_seen[alive], excess - 1)[:excess]]
            victims = np.concatenate([victims, oldest])
        if victims.shape[0] == 0:
            return
        self.evict_slots(victims)

    def evict_slots(self, slots: npt.NDArray[np.int64]) -> None:
        """Forget the counters in ``slots`` (their next sample is a first sample); counted in :attr:`evictions`."""
        self.evictions += self._forget(slots)

    def forget_device(self, device: str) -> int:
        """Forget every counter of ``device`` (its next samples are first samples, with no rate), e.g. when the
        caller has re-stamped its samples by an offset it has changed since; returns how many. Not an eviction."""
        i = self._devices.ids.get(device)
        if i is None:
            return 0
        live = np.flatnonzero(self._used[: self._next])
        return self._forget(live[(self._slot_key[live] >> (PAIR_SHIFT + _IFC_BITS)) == i])

    def _forget(self, slots: npt.NDArray[np.int64]) -> int:
        slots = np.unique(np.asarray(slots, dtype=np.int64))
        slots = slots[self._used[slots]]
        if slots.shape[0] == 0:
            return 0
        self._used[slots] = False
        self._seen[slots] = False
        self._free[self._n_free : self._n_free + slots.shape[0]] = slots
        self._n_free += int(slots.shape[0])
        self._n_ht = int(_k.rebuild_table(self._ht_key, self._ht_slot, self._slot_key, self._used))
        return int(slots.shape[0])

    def memory_bytes(self) -> int:
        """Bytes held by the state arrays and the name vocabularies (an estimate for the dicts)."""
        arrays = sum(getattr(self, n).nbytes for n in self._SLOT_ARRAYS) + self._free.nbytes
        arrays += self._ht_key.nbytes + self._ht_slot.nbytes
        vocab = 0
        for v in (self._devices, self._interfaces, self._fields):
            vocab += sum(len(s) + 49 for s in v.names if s is not None) + 116 * len(v.names)
        return int(arrays + vocab)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state to ``path`` (NumPy ``.npz``, no pickle); atomic via a temp file."""
        _io.save_state(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CounterState:
        """Read a state written by :meth:`save` (its config included)."""
        return _io.load_state(cls, path)


def _pow2(n: int) -> int:
    p = 16
    while p < n:
        p *= 2
    return p


def _live(name: str | None, key: int) -> str:
    """``name``, or a KeyError when its id was recycled (the key no longer names a live counter)."""
    if name is None:
        raise KeyError(f"key {key} refers to a name that was evicted and recycled")
    return name
