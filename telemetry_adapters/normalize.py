"""Decoder output → Measurement rows: counter semantics, field → KPI, inventory mapping.

:func:`normalize` is the one call between the decoders and the stream:
``normalize(batch, state, inventory)`` turns a :class:`SampleBatch` into a
columnar :class:`MeasurementBatch` (:data:`~telemetry_adapters.schema.SCHEMA`)
plus the rejections, updating the :class:`CounterState` on the way.

Field → KPI. A directed link ``A -> B`` leaves ``A`` by its *egress* port
and enters ``B`` by its *ingress* port (see :mod:`twinwatch.telemetry_adapters.inventory`);
each link KPI has exactly one reporting port, so rows of one link never need
to be combined across devices:

========================================  ===============  ============================
field                                     KPI              entity
========================================  ===============  ============================
``tx_octets`` / ``rx_octets``             ``tx_bps`` /     egress / ingress link
                                          ``rx_bps`` (× 8)
``tx_pkts`` / ``rx_pkts``                 ``tx_pps`` /     egress / ingress link
                                          ``rx_pps``
``*_unicast_pkts``, ``*_multicast_pkts``,  ``*_pps``        summed, only when the total
``*_broadcast_pkts``                                       ``*_pkts`` is absent for that
                                                           interface, direction and time
``tx_discards``                           ``drop_pps``     egress link (output-queue
                                                           drops: the loss the twin models)
``rx_errors``                             ``error_pps``    ingress link (CRC / framing
                                                           errors: a fault of the wire)
``rx_discards``, ``tx_errors``            ``drop_pps``,    the interface itself (the
                                          ``error_pps``    device's own input drops and
                                                           transmit faults, not the link's)
gauges (``delay_s``, ``utilization`` …)   unchanged        egress link, or path / node
``oper_status`` / ``admin_status``        unchanged;       egress link (the link's source
(1.0 up, 0.0 down)                        ``rx_oper_``     end), else the interface; and
                                          ``status`` …     the ingress link (its
                                                           destination end) as ``rx_*``
``speed_bps`` (bit/s, the port's          ``speed_bps``;   as link state: egress link
operational speed)                        ``rx_speed_``    (source end), else the
                                          ``bps``          interface; and the ingress
                                                           link as ``rx_speed_bps``
``igp_metric`` (IS-IS / OSPFv2 cost,      ``igp_metric``   egress link (the sending end),
dimensionless)                                             else the interface; no ``rx_``
                                                           twin (a metric belongs to the
                                                           sending interface only)
========================================  ===============  ============================

Decisions:

* ``utilization`` = ``tx_bps`` / capacity of the egress link, when known.
* Rows of one interface and timestamp that land on the same entity and an
  additive KPI (the packet components; ``rx_discards`` + ``tx_discards`` of an
  unmapped interface) are summed into one row with OR-ed flags; when a member
  has no rate (first sample, reset) the sum is not emitted.
* Unmapped interfaces (an inventory is given but does not know the
  ``(device, interface)``) keep their rows with ``entity_kind="interface"``
  and ``entity_id="<device>:<normalised interface>"``, and each such
  interface yields one ``unmapped_entity`` rejection per batch: reported,
  never dropped. Without an inventory every interface is such an entity and
  nothing is reported as unmapped. A port mapped in one direction only keeps
  the other direction on its interface entity.
* Device-level gauges (``interface == ""``): a ``device`` written
  ``"a->b"`` is a path, anything else a node. With an inventory each end is
  mapped to its node (node name, device alias, or address by longest-prefix
  match: a probe ``prober1->10.0.0.5`` becomes path ``r1->r7``); an end that
  does not map keeps the raw name and is reported as ``unmapped_entity``.
* Rejected rows (out of order, duplicate, negative delta, unknown kind or
  field, non-finite gauge; a counter that went down ``counter_decrease``, an
  increment above capacity × ``rate_headroom`` or the physical bound
  ``implausible_rate``, a discontinuity with an unknown restart
  ``counter_reset``; a Counter32 on a port fast enough to wrap it more than
  once between two samples ``counter32_ambiguous``; a link capacity <= 0 or
  infinite ``bad_capacity``; a ``speed_bps`` below 1 kb/s ``bad_speed``; an
  ``igp_metric`` that is not an integer 1 … 16777215 ``bad_metric``) are
  counted exactly in :attr:`NormalizeResult.stats`; at most
  ``max_rejections`` :class:`Rejection` objects are built per call. A
  counter's first sample is *pending* (``records_pending``). Accounting, in
  input rows: ``records_in == records_out + records_rejected + records_pending``
  (``records_out``: rows that reached a Measurement row, alone, summed or
  superseded; see :mod:`twinwatch.telemetry_adapters.accounting`).

Examples
--------
>>> from twinwatch.telemetry_adapters.schema import Kind, SampleBatchBuilder
>>> b = SampleBatchBuilder()
>>> for t, v in [(0, 0), (10, 12_500)]:
...     b.add("r1", "Gi0/1", "tx_octets", t * 10**9, v, float(v), Kind.COUNTER64, 0, False, "gnmic", "lab")
>>> inv = Inventory.from_dict({"links": [{"id": "r1->r2", "src": "r1", "dst": "r2",
...                                       "capacity_bps": 1e5, "src_interface": "GigabitEthernet0/1"}]})
>>> res = normalize(b.build(), CounterState(), inv)
>>> [(r["entity_id"], r["kpi"], r["value"]) for r in res.measurements.rows()]
[('r1->r2', 'tx_bps', 10000.0), ('r1->r2', 'utilization', 0.1)]
>>> res.stats["first"], res.stats["rate"]
(1, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters import _counter_kernels as _k
from twinwatch.telemetry_adapters.counters import (
    FIELD_MASK,
    FIELD_SHIFT,
    PAIR_SHIFT,
    STATUS_NAMES,
    CounterState,
    Status,
    dense_codes,
    object_pointers,
)
from twinwatch.telemetry_adapters.errors import NOTICE_REASONS, Reason, Rejection
from twinwatch.telemetry_adapters.igp import MAX_METRIC
from twinwatch.telemetry_adapters.interfaces import normalize_interface
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.schema import (
    IGP_FIELDS,
    KPIS,
    LINK_STATE_FIELDS,
    SCHEMA,
    SPEED_FIELDS,
    LazyColumn,
    ObjectColumn,
    SampleBatch,
)
from twinwatch.telemetry_adapters.speed import MIN_SPEED_BPS

__all__ = ["RX_TWIN", "MeasurementBatch", "NormalizeResult", "normalize", "rejected_sample"]

_KPI_NAMES: tuple[str, ...] = tuple(KPIS)
_KPI = {k: i for i, k in enumerate(_KPI_NAMES)}
_KPI_ARR = np.array(_KPI_NAMES, dtype=object)
_TX, _RX = 0, 1
_EGRESS, _INGRESS, _LOCAL = 0, 1, 2  # entity of a row: egress link, ingress link, the interface itself
#: field → (KPI, direction, entity side, is a component of the packet total)
FIELD_KPI: dict[str, tuple[str, int, int, bool]] = {
    "tx_octets": ("tx_bps", _TX, _EGRESS, False),
    "rx_octets": ("rx_bps", _RX, _INGRESS, False),
    "tx_pkts": ("tx_pps", _TX, _EGRESS, False),
    "rx_pkts": ("rx_pps", _RX, _INGRESS, False),
    "tx_discards": ("drop_pps", _TX, _EGRESS, False),
    "rx_discards": ("drop_pps", _RX, _LOCAL, False),
    "tx_errors": ("error_pps", _TX, _LOCAL, False),
    "rx_errors": ("error_pps", _RX, _INGRESS, False),
}
for _d, _dir, _side in (("tx", _TX, _EGRESS), ("rx", _RX, _INGRESS)):
    for _c in ("unicast", "multicast", "broadcast"):
        FIELD_KPI[f"{_d}_{_c}_pkts"] = (f"{_d}_pps", _dir, _side, True)
_ADDITIVE_MASK = np.isin(np.array(_KPI_NAMES), ["tx_pps", "rx_pps", "drop_pps", "error_pps"])
#: gauge field → the KPI of the same value at the ingress link (the link's destination end): a port's state and
#: speed are those of both links it is an end of; the field's own row goes to its egress link (the source end)
RX_TWIN: dict[str, str] = {
    **{f: f"rx_{f}" for f in LINK_STATE_FIELDS},  # oper_status → rx_oper_status …
    **{f: f"rx_{f}" for f in SPEED_FIELDS},  # speed_bps → rx_speed_bps
}
#: bits on the wire of the smallest Ethernet frame (64 B + 8 B preamble + 12 B gap): bounds packets/s by speed
_MIN_FRAME_BITS = 672.0


class MeasurementBatch:
    """Measurement rows, columnar: ``(n,)`` arrays with :data:`~telemetry_adapters.schema.SCHEMA` dtypes.

    The string columns may be given as :class:`~telemetry_adapters.schema.LazyColumn` (codes into the
    distinct values, or a constant): reading one builds its object array once.
    """

    __slots__ = ("_entity_id", "_entity_kind", "_kpi", "_network", "_source", "flags", "ts", "value")

    network = ObjectColumn()
    entity_kind = ObjectColumn()
    entity_id = ObjectColumn()
    kpi = ObjectColumn()
    source = ObjectColumn()

    def __init__(
        self,
        ts: npt.NDArray[np.float64],
        network: npt.NDArray[Any] | LazyColumn,
        entity_kind: npt.NDArray[Any] | LazyColumn,
        entity_id: npt.NDArray[Any] | LazyColumn,
        kpi: npt.NDArray[Any] | LazyColumn,
        value: npt.NDArray[np.float64],
        source: npt.NDArray[Any] | LazyColumn,
        flags: npt.NDArray[np.uint8],
    ) -> None:
        self.ts = ts
        self._network = network
        self._entity_kind = entity_kind
        self._entity_id = entity_id
        self._kpi = kpi
        self.value = value
        self._source = source
        self.flags = flags

    def __repr__(self) -> str:
        return f"MeasurementBatch(<{len(self)} rows>)"

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> MeasurementBatch:
        """A batch with zero rows."""
        return cls(**{c.name: np.empty(0, dtype=c.dtype) for c in SCHEMA})

    @classmethod
    def concat(cls, batches: Sequence[MeasurementBatch]) -> MeasurementBatch:
        """Concatenate row-wise."""
        if not batches:
            return cls.empty()
        return cls(**{c.name: np.concatenate([getattr(b, c.name) for b in batches]) for c in SCHEMA})

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Name → array (no copy)."""
        return {c.name: getattr(self, c.name) for c in SCHEMA}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts of Python scalars (slow; for the CLI and tests)."""
        cols = {c.name: getattr(self, c.name).tolist() for c in SCHEMA}
        for i in range(len(self)):
            yield {name: col[i] for name, col in cols.items()}


@dataclass(slots=True)
class NormalizeResult:
    """What :func:`normalize` returns: rows, rejections (capped) and exact counts in ``stats``."""

    measurements: MeasurementBatch
    rejections: list[Rejection]
    stats: dict[str, int] = field(default_factory=dict)


_Entity = tuple[str, str]  # (entity_kind, entity_id)


class _EntityMap:
    """(device, interface) pair → tx / rx entity and capacity, cached across batches for one inventory.

    Known pairs live in sorted arrays, so a batch is mapped with one
    ``searchsorted``; only pairs never seen before go through Python.
    Entities get stable indices into :attr:`kind` / :attr:`ident`.
    """

    MAX_PAIRS = 2_000_000

    def __init__(self, inventory: Inventory | None) -> None:
        self.inventory = inventory
        self.pairs = np.empty(0, dtype=np.int64)  # sorted pair keys
        self.side = np.empty((0, 3), dtype=np.int64)  # entity index per pair: egress, ingress, local
        self.capacity = np.empty(0, dtype=np.float64)  # egress capacity, bits/s (NaN unknown)
        self.unmapped = np.empty(0, dtype=bool)
        self.any_unmapped = False
        self.any_bad_capacity = False
        self._index: dict[_Entity, int] = {}
        self.kind = np.empty(0, dtype=object)
        self.ident = np.empty(0, dtype=object)
        self.is_link = np.empty(0, dtype=bool)

    @classmethod
    def of(cls, state: CounterState, inventory: Inventory | None) -> _EntityMap:
        """The map cached on ``state`` for ``inventory`` (pair keys are only stable within one state)."""
        m = state.cache.get("normalize.entities")
        if not isinstance(m, cls) or m.inventory is not inventory or m.pairs.shape[0] > cls.MAX_PAIRS:
            m = state.cache["normalize.entities"] = cls(inventory)
        return m

    def _ends(self, state: CounterState, pair: int) -> tuple[_Entity, _Entity, _Entity, float, bool]:
        """(egress, ingress, local) entities, egress capacity, unmapped?"""
        dev, ifc = state.pair_names(pair)
        inv = self.inventory
        if ifc == "":
            if inv is None:
                e = ("path" if "->" in dev else "node", dev)
                return e, e, e, np.nan, False
            if "->" in dev:
                src, _, dst = dev.partition("->")
                a, b = inv.node_of(src.strip()), inv.node_of(dst.strip())
                e = ("path", dev if a is None or b is None else f"{a}->{b}")
                return e, e, e, np.nan, a is None or b is None
            node = inv.node_of(dev)
            e = ("node", dev if node is None else node)
            return e, e, e, np.nan, node is None
        local = ("interface", f"{dev}:{normalize_interface(ifc)}")
        port = inv.resolve(dev, ifc) if inv is not None else None
        if port is None:
            return local, local, local, np.nan, inv is not None
        tx = ("link", port.link) if port.link is not None else local
        rx = ("link", port.rx_link) if port.rx_link is not None else local
        return tx, rx, local, port.capacity_bps, False

    def _add(self, state: CounterState, new_pairs: npt.NDArray[np.int64]) -> None:
        rows = [self._ends(state, p) for p in new_pairs.tolist()]
        n_ent = len(self._index)
        ix = self._index
        sides = np.array([[ix.setdefault(e, len(ix)) for e in (r[0], r[1], r[2])] for r in rows], dtype=np.int64)
        sides = sides.reshape(len(rows), 3)
        if len(self._index) > n_ent:
            added = list(self._index)[n_ent:]
            kinds = np.empty(len(added), dtype=object)
            idents = np.empty(len(added), dtype=object)
            kinds[:] = [k for k, _ in added]
            idents[:] = [i for _, i in added]
            self.kind = np.concatenate([self.kind, kinds])
            self.ident = np.concatenate([self.ident, idents])
            self.is_link = self.kind == "link"
        pairs = np.concatenate([self.pairs, new_pairs])
        order = np.argsort(pairs, kind="stable")
        self.pairs = pairs[order]
        self.side = np.concatenate([self.side, sides])[order]
        self.capacity = np.concatenate([self.capacity, np.array([r[3] for r in rows], dtype=np.float64)])[order]
        self.unmapped = np.concatenate([self.unmapped, np.array([r[4] for r in rows], dtype=bool)])[order]
        self.any_unmapped = bool(self.unmapped.any())
        cap = self.capacity
        self.any_bad_capacity = bool((~np.isnan(cap) & ~((cap > 0) & np.isfinite(cap))).any())

    def locate(self, state: CounterState, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Table positions of ``pairs`` (adding the unknown ones)."""
        for _ in range(2):
            pos = np.minimum(np.searchsorted(self.pairs, pairs), max(self.pairs.shape[0] - 1, 0))
            miss = (self.pairs[pos] != pairs) if self.pairs.shape[0] else np.ones(pairs.shape[0], dtype=bool)
            if not miss.any():
                return pos
            self._add(state, np.unique(pairs[miss]))
        raise AssertionError("unreachable: every pair was just added")


def _take(batch: SampleBatch, name: str, idx: npt.NDArray[np.int64]) -> npt.NDArray[Any] | LazyColumn:
    """String column ``name`` of ``batch`` at rows ``idx``; a constant stays a constant (network, source)."""
    const = batch.constant(name)
    if const is not None:
        return LazyColumn(None, const, idx.shape[0])
    col = np.asarray(getattr(batch, name))
    if col.dtype == object and col.shape[0] and col.flags.c_contiguous:
        ptr = object_pointers(col)
        if (ptr == ptr[0]).all():
            return LazyColumn(None, col[0], idx.shape[0])
    return col[idx]


def _field_tables(names: Sequence[str]) -> dict[str, npt.NDArray[Any]]:
    """Per field id: ``kpi`` code (−1 unknown), ``direction``, entity ``side``, ``comp`` (a component of a
    packet total), ``octets``, ``total`` (a packet total), ``counter`` (a counter field), ``rx_twin`` (a field
    duplicated onto the ingress link, :data:`RX_TWIN`), ``speed``, ``igp`` (an IGP metric)."""
    rows = [FIELD_KPI.get(f, (f, _TX, _EGRESS, False)) for f in names]
    return {
        "kpi": np.array([_KPI.get(r[0], -1) for r in rows], dtype=np.int64),
        "direction": np.array([r[1] for r in rows], dtype=np.int64),
        "side": np.array([r[2] for r in rows], dtype=np.int64),
        "comp": np.array([r[3] for r in rows], dtype=bool),
        "octets": np.array([f.endswith("_octets") for f in names], dtype=bool),
        "total": np.array([f in ("tx_pkts", "rx_pkts") for f in names], dtype=bool),
        "counter": np.array([f in FIELD_KPI for f in names], dtype=bool),
        "rx_twin": np.array([f in RX_TWIN for f in names], dtype=bool),
        "speed": np.array([f in SPEED_FIELDS for f in names], dtype=bool),
        "igp": np.array([f in IGP_FIELDS for f in names], dtype=bool),
    }


#: columns of the rows :func:`normalize` selects (:func:`~._counter_kernels.select_rows` outputs), in order
_SELECTED: tuple[tuple[str, npt.DTypeLike], ...] = (
    ("idx", np.int64), ("pos", np.int64), ("ent", np.int64), ("kpi", np.int64), ("ts", np.int64),
    ("value", np.float64), ("flags", np.uint8), ("fid", np.int64), ("width", np.int64), ("direction", np.int64),
    ("comp", np.bool_), ("total", np.bool_),
)  # fmt: skip
#: columns of :func:`~._counter_kernels.emit_measurements` outputs, in order
_EMITTED: tuple[tuple[str, npt.DTypeLike], ...] = (
    ("idx", np.int64), ("ent", np.int64), ("kpi", np.int64), ("ts", np.float64), ("value", np.float64),
    ("flags", np.uint8),
)  # fmt: skip


def _field_tables_of(state: CounterState) -> dict[str, npt.NDArray[Any]]:
    """:func:`_field_tables` of the state's field names, cached on the state until they change."""
    names = state.field_names()
    hit = state.cache.get("normalize.fields")
    if hit is None or hit[0] != names:
        hit = state.cache["normalize.fields"] = (names, _field_tables(names))
    tables: dict[str, npt.NDArray[Any]] = hit[1]
    return tables


def _reject_rows(batch: SampleBatch, rows: npt.NDArray[np.int64], reason: str, why: str, limit: int) -> list[Rejection]:
    out = []
    for i in rows[:limit].tolist():
        raw = (
            f"{batch.device[i]} {batch.interface[i]} {batch.field[i]} ts_ns={int(batch.ts_ns[i])} "
            f"value={int(batch.value_u64[i])} kind={int(batch.kind[i])}"
        ).encode()
        out.append(Rejection(reason, f"{batch.device[i]}:{batch.interface[i]} {batch.field[i]}: {why}", raw,
                             str(batch.source[i])))  # fmt: skip
    return out


def rejected_sample(raw: bytes) -> tuple[str, str, str, int] | None:
    """``(device, interface, field, ts_ns)`` of a sample :func:`normalize` rejected, from its ``Rejection.raw``.

    The counter stage's rejections hold no original message (the decoder consumed it), so their ``raw`` is the
    sample itself, ``b"DEVICE INTERFACE FIELD ts_ns=T value=V kind=K"`` (an interface name may hold spaces);
    ``None`` for anything else.

    >>> rejected_sample(b"r1 Ethernet 1/1 tx_octets ts_ns=1700000000000000000 value=5 kind=1")
    ('r1', 'Ethernet 1/1', 'tx_octets', 1700000000000000000)
    >>> rejected_sample(b'{"not": "a sample"}') is None
    True
    """
    head, *tail = raw.decode(errors="replace").rsplit(" ", 3)
    names = head.split(" ", 1)
    if len(tail) != 3 or not tail[0].startswith("ts_ns=") or len(names) != 2 or " " not in names[1]:
        return None
    try:
        ts = int(tail[0][6:])
    except ValueError:
        return None
    interface, field = names[1].rsplit(" ", 1)
    return names[0], interface, field, ts


#: a status no kernel writes: rows withheld by normalize itself (bad capacity), skipped by select_rows
_ST_WITHHELD = 255
#: ``CounterResult.cause`` of a RESET row → (reason, why); the row's value becomes the counter's new base
_RESET_REASONS = {
    1: (Reason.COUNTER_DECREASE, "the counter went down (a reset or reboot; Counter64 never wraps); no rate, the "
        "value is the counter's new base"),
    2: (Reason.IMPLAUSIBLE_RATE, "the increment implies a rate above the link capacity x rate_headroom (or the "
        "physical bound when the capacity is unknown); no rate, the value is the counter's new base"),
    3: (Reason.COUNTER_RESET, "the discontinuity time changed and the restart is not inside the interval; no "
        "rate, the value is the counter's new base"),
    4: (Reason.COUNTER32_AMBIGUOUS, "a 32-bit counter on a port whose capacity x rate_headroom can carry 2**32 "
        "more in this interval: the number of wraps is unknown, so no rate; poll the ifHC* (64-bit) counters or "
        "poll faster; the value is the counter's new base"),
    5: (Reason.CLOCK_STEP, "the device's clock stepped (check its NTP): this sample is older than the counter's "
        "last one but taken after it (its value is higher, or the last one is more than clock_step_s ahead of "
        "the other devices), or it jumped more than clock_step_s ahead of them; no rate over the step, the "
        "value is the counter's new base"),
}
_REJECTED = {
    Status.OUT_OF_ORDER: (Reason.OUT_OF_ORDER, "older than the last sample of this counter; dropped"),
    Status.DUPLICATE: (Reason.DUPLICATE, "same timestamp as the last sample of this counter; dropped"),
    Status.NEGATIVE: (Reason.NEGATIVE_COUNTER, "delta increment is negative or not finite; dropped"),
    Status.BAD_KIND: (Reason.OUT_OF_RANGE, "kind is not 0, 1, 32 or 64; fix the decoder"),
}


def normalize(
    batch: SampleBatch,
    state: CounterState,
    inventory: Inventory | None = None,
    *,
    now_ns: int | None = None,
    rate_headroom: float = 1.5,
    max_rejections: int = 1000,
) -> NormalizeResult:
    """Turn decoded samples into Measurement rows (see the module docstring for the rules).

    Parameters
    ----------
    batch
        Decoder output; rows in any order.
    state
        Counter state, updated in place.
    inventory
        Maps interfaces to links and gives capacities; ``None``: interface entities.
    now_ns
        The source's clock (epoch ns), for eviction and for telling a device clock set back
        (:class:`~telemetry_adapters.counters.CounterConfig` ``clock_step_s``); the newest sample time when ``None``.
    rate_headroom
        A counter increment implying more than ``rate_headroom`` × the link
        capacity (bits/s, or packets/s of minimum-size frames) is a reset.
    max_rejections
        At most this many :class:`Rejection` objects per call (``stats`` counts all).
    """
    n = len(batch)
    key = state.keys(batch)
    pair = key >> PAIR_SHIFT
    fid = (key >> FIELD_SHIFT) & FIELD_MASK
    tabs = _field_tables_of(state)  # per field id
    # (device, interface) → entities: one table lookup per run of equal pairs
    emap = _EntityMap.of(state, inventory)
    starts = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1]))) if n else np.empty(0, np.int64)
    row_pos = np.repeat(emap.locate(state, pair[starts]), np.diff(np.append(starts, n)))
    bound = np.empty(n, dtype=np.float64)
    _k.rate_bounds(fid, row_pos, tabs["octets"], emap.capacity, _MIN_FRAME_BITS, float(rate_headroom), bound)
    res = state.update(batch, max_rate=bound, now_ns=now_ns, key=key)
    status = res.status
    counts = np.bincount(status, minlength=len(STATUS_NAMES))
    stats: dict[str, int] = {"rows": n}
    stats.update({name: int(counts[i]) for i, name in enumerate(STATUS_NAMES)})
    rejections: list[Rejection] = []
    reasons: Counter[str] = Counter()

    def withhold(rows: npt.NDArray[np.int64], reason: str, why: str) -> None:
        """Refuse ``rows`` with ``reason``: counted here, skipped by select_rows."""
        nonlocal status, counts, rejections
        reasons[reason] += int(rows.size)
        rejections += _reject_rows(batch, rows, reason, why, max_rejections - len(rejections))
        status = status.copy()
        status[rows] = _ST_WITHHELD
        counts = np.bincount(status, minlength=len(STATUS_NAMES))

    # counter rows of a link whose inventory capacity is <= 0 or infinite: no rate can be trusted
    if emap.any_bad_capacity:  # (rare: an inventory built in code; Inventory.load refuses such links)
        cap = emap.capacity[row_pos]
        rows = np.flatnonzero((status != Status.GAUGE) & ~np.isnan(cap) & ~((cap > 0) & np.isfinite(cap)))
        if rows.size:
            withhold(rows, Reason.BAD_CAPACITY, "the inventory gives this port's link a capacity <= 0 or infinite; "
                     "fix capacity_bps")
    if tabs["speed"].any():  # below 1 kb/s is no capacity (the decoders never emit one; a batch built in code)
        rate = res.rate
        rows = np.flatnonzero(tabs["speed"][fid] & (status == Status.GAUGE) & np.isfinite(rate)
                              & (rate < MIN_SPEED_BPS))
        if rows.size:
            withhold(rows, Reason.BAD_SPEED, "an interface speed below 1 kb/s is no speed; dropped")
    if tabs["igp"].any():  # an IGP metric is an integer 1 .. 2**24-1 (the decoders never emit another)
        rate = res.rate
        rows = np.flatnonzero(tabs["igp"][fid] & (status == Status.GAUGE) & np.isfinite(rate)
                              & ((rate < 1) | (rate > MAX_METRIC) | (rate != np.floor(rate))))
        if rows.size:
            withhold(rows, Reason.BAD_METRIC, f"an IGP metric is an integer 1 .. {MAX_METRIC}; dropped")
    for code, (reason, why) in _REJECTED.items():
        if counts[code]:
            reasons[reason] += int(counts[code])
            rows = np.flatnonzero(status == code)
            rejections += _reject_rows(batch, rows, reason, why, max_rejections - len(rejections))
    if counts[Status.RESET]:  # no rate: the row re-bases its counter; why, by cause
        rst = np.flatnonzero(status == Status.RESET)
        cause = res.cause[rst] if res.cause is not None else np.full(rst.size, 3, np.uint8)
        for c, (reason, why) in _RESET_REASONS.items():
            rows = rst[cause == c]
            if rows.size:
                reasons[reason] += int(rows.size)
                rejections += _reject_rows(batch, rows, reason, why, max_rejections - len(rejections))
    # the rows that become measurements: accepted ones, and packet components without a rate (first
    # sample, reset), which take part as NaN so that their sum is withheld
    ts_all = np.asarray(batch.ts_ns, dtype=np.int64)
    sel = tuple(np.empty(n, dtype=dt) for _, dt in _SELECTED)
    o_starts = np.empty(n, dtype=np.int64)
    n_ok, n_sel, n_runs = _k.select_rows(
        status, res.rate, res.flags, fid, row_pos, ts_all, key, tabs["kpi"], tabs["side"], tabs["comp"],
        tabs["counter"], tabs["direction"], tabs["total"], emap.side,
        sel[0], sel[1], sel[2], sel[3], sel[4], sel[5], sel[6], sel[7], sel[8], sel[9], sel[10], sel[11], o_starts,
    )  # fmt: skip
    if n_ok < n:
        kpi, is_counter = tabs["kpi"][fid], tabs["counter"][fid]
        is_rate = status == Status.RATE
        is_gauge = status == Status.GAUGE
        finite = np.isfinite(res.rate)
        for mask, reason, why in (
            ((is_rate | is_gauge) & (kpi < 0), Reason.UNKNOWN_PATH,
             "field is not a counter or gauge this project maps; see telemetry_adapters.normalize.FIELD_KPI"),
            ((is_rate & ~is_counter & (kpi >= 0)) | (is_gauge & is_counter), Reason.WRONG_TYPE,
             "counter fields need kind 1, 32 or 64 and gauge fields kind 0; fix the decoder"),
            (is_gauge & (kpi >= 0) & ~is_counter & ~finite, Reason.NON_FINITE, "gauge value is NaN or infinite"),
        ):  # fmt: skip
            bad = np.flatnonzero(mask)
            if bad.size:
                reasons[reason] += int(bad.size)
                rejections += _reject_rows(batch, bad, reason, why, max_rejections - len(rejections))
    stats["accepted"] = int(n_ok)
    cols = [c[:n_sel] for c in sel]
    keep, cols, extra = _combine(o_starts[:n_runs], *cols)
    stats.update(extra)
    idx, pos_i, ent_i, kpi_i, ts_ns, value, flags = cols[:7]
    # utilization from tx_bps on links with a capacity, after the rows
    o_idx, o_ent, o_kpi, o_ts, o_val, o_flags = (np.empty(2 * n_sel, dtype=dt) for _, dt in _EMITTED)
    n_out = _k.emit_measurements(keep, idx, pos_i, ent_i, kpi_i, ts_ns, value, flags, emap.capacity, emap.is_link,
                                 _KPI["tx_bps"], _KPI["utilization"], o_idx, o_ent, o_kpi, o_ts, o_val,
                                 o_flags)  # fmt: skip
    all_idx, ent_all, kpi_all = o_idx[:n_out], o_ent[:n_out], o_kpi[:n_out]
    o_ts, o_val, o_flags = o_ts[:n_out], o_val[:n_out], o_flags[:n_out]
    if tabs["rx_twin"].any():  # some field of this state is a link-state or speed field
        all_idx, ent_all, kpi_all, o_ts, o_val, o_flags = _rx_twins(emap, row_pos, all_idx, ent_all, kpi_all,
                                                                    o_ts, o_val, o_flags)
        n_out = all_idx.shape[0]
    meas = MeasurementBatch(
        ts=o_ts,
        network=_take(batch, "network", all_idx),
        entity_kind=LazyColumn(ent_all, emap.kind, n_out),
        entity_id=LazyColumn(ent_all, emap.ident, n_out),
        kpi=LazyColumn(kpi_all, _KPI_ARR, n_out),
        value=o_val,
        source=_take(batch, "source", all_idx),
        flags=o_flags,
    )
    unm = np.flatnonzero(emap.unmapped[row_pos]) if emap.any_unmapped else np.empty(0, np.int64)
    if unm.size:
        upos, nrows = np.unique(row_pos[unm], return_counts=True)
        for p_, c_ in zip(upos.tolist(), nrows.tolist()):
            reasons[Reason.UNMAPPED_ENTITY] += 1
            if len(rejections) < max_rejections:
                dev, ifc = state.pair_names(int(emap.pairs[p_]))
                rejections.append(Rejection(
                    Reason.UNMAPPED_ENTITY,
                    f"{dev}:{ifc} is not in the inventory ({c_} samples kept as "
                    f"{emap.kind[emap.side[p_, 2]]} '{emap.ident[emap.side[p_, 2]]}'); add it to the inventory "
                    "(a link's src/dst_interface, 'interfaces', 'devices' or 'prefixes')",
                    f"{dev} {ifc}".encode(), "normalize",
                ))  # fmt: skip
    stats.update({f"rejected_{k}": v for k, v in reasons.items()})
    stats["rejected"] = sum(reasons.values())
    # the accounting identity, in records (input sample rows): records_in == out + rejected + pending
    stats["records_in"] = n
    stats["records_out"] = int(n_ok)
    stats["records_pending"] = int(counts[Status.FIRST])
    stats["records_rejected"] = sum(v for k, v in reasons.items() if k not in NOTICE_REASONS)
    if stats["records_pending"]:
        stats[f"pending_{Reason.PENDING_FIRST_SAMPLE}"] = stats["records_pending"]
    stats["measurements"] = len(meas)
    stats["counters_tracked"] = len(state)
    stats["evictions_total"] = state.evictions
    return NormalizeResult(meas, rejections, stats)


#: KPI code → the KPI code of its ingress-link twin (:data:`RX_TWIN`), -1 for the others
_RX_OF = np.full(len(_KPI_NAMES), -1, dtype=np.int64)
_RX_OF[[_KPI[f] for f in RX_TWIN]] = [_KPI[k] for k in RX_TWIN.values()]


def _rx_twins(
    emap: _EntityMap, row_pos: npt.NDArray[np.int64], idx: npt.NDArray[np.int64], ent: npt.NDArray[np.int64],
    kpi: npt.NDArray[np.int64], ts: npt.NDArray[np.float64], value: npt.NDArray[np.float64],
    flags: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[Any], ...]:
    """Append, for each link-state or speed row of a port that receives from a link, the same value on that link
    as ``rx_oper_status`` / ``rx_admin_status`` / ``rx_speed_bps`` (the link's destination end, :data:`RX_TWIN`);
    the row itself stays on the port's egress link (``oper_status``, ``speed_bps``: the source end) or, without
    one, on its interface entity."""
    rx_of = _RX_OF[kpi]
    rows = np.flatnonzero(rx_of >= 0)
    if not rows.size:
        return idx, ent, kpi, ts, value, flags
    pos = row_pos[idx[rows]]
    rx_ent = emap.side[pos, 1]
    has_rx = rx_ent != emap.side[pos, 2]  # the ingress entity is a link, not the interface itself
    rows, rx_ent = rows[has_rx], rx_ent[has_rx]
    if not rows.size:
        return idx, ent, kpi, ts, value, flags
    return (np.concatenate([idx, idx[rows]]), np.concatenate([ent, rx_ent]), np.concatenate([kpi, rx_of[rows]]),
            np.concatenate([ts, ts[rows]]), np.concatenate([value, value[rows]]),
            np.concatenate([flags, flags[rows]]))


def _combine(starts: npt.NDArray[np.int64], *cols: npt.NDArray[Any]) -> tuple[Any, ...]:
    """Prefer 64-bit counters, supersede packet components by totals and sum additive rows,
    per (interface, timestamp) segment.

    ``cols`` are the selected rows' columns in :data:`_SELECTED` order; ``starts`` the first row
    of each run of equal (interface, ts). Rows of one interface and time usually arrive together
    (one message); when they do not, they are brought together by a stable sort first. Returns
    ``(keep, cols, stats)``: the (possibly reordered) columns and which of their rows to keep.
    """
    extra: dict[str, int] = {}
    idx, pos, ent, kpi, ts_ns, value, flags, fid, width, direction, comp, total = cols
    if idx.shape[0] == 0:
        return np.empty(0, dtype=np.bool_), cols, extra
    s_code, _ = dense_codes(ts_ns[starts])
    if dense_codes(pos[starts] * (int(s_code.max()) + 1) + s_code)[1].shape[0] < starts.shape[0]:
        ts_code, _ = dense_codes(ts_ns)  # a segment is split: bring its rows together
        seg_key = pos * (int(ts_code.max()) + 1) + ts_code
        order = np.argsort(seg_key, kind="stable")
        cols = tuple(c[order] for c in cols)
        idx, pos, ent, kpi, ts_ns, value, flags, fid, width, direction, comp, total = cols
        seg_key = seg_key[order]
        starts = np.flatnonzero(np.concatenate(([True], seg_key[1:] != seg_key[:-1])))
        extra["reordered"] = 1
    keep = np.empty(idx.shape[0], dtype=np.bool_)
    narrower, superseded, merged = _k.combine_segments(
        starts, fid, width, ent, kpi, direction, comp, total, _ADDITIVE_MASK, value, flags, keep
    )
    extra["superseded_32bit"] = int(narrower)
    extra["superseded_components"] = int(superseded)
    extra["merged_rows"] = int(merged)
    return keep, cols, extra
