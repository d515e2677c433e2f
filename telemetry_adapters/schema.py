"""The common schema, defined once: Measurement rows, FlowRecord rows, and the
intermediate :class:`SampleBatch` that decoders emit.

Three column sets live here:

``SCHEMA``
    Measurement rows (what :func:`twinwatch.telemetry_adapters.normalize.normalize`
    produces): ``ts`` (float64 epoch seconds UTC), ``network``, ``entity_kind``
    (``link`` | ``interface`` | ``path`` | ``node``), ``entity_id``, ``kpi``
    (one of :data:`KPIS`), ``value`` (float64, SI base units), ``source``,
    ``flags`` (uint8 bitmask of :class:`Flag`).

``FLOW_SCHEMA``
    FlowRecord rows (what the goflow2 decoder produces). ``bytes`` and
    ``packets`` are already multiplied by ``sampling_rate``; ``src_node`` and
    ``dst_node`` are null until the inventory fills them. ``dscp`` (0..63) is
    the record's ``dscp`` field, else its ToS / traffic-class byte ``>> 2``;
    a record that carries neither is best effort, DSCP 0 (see :data:`DSCP_RULE`).

:class:`SampleBatch`
    The raw samples decoded from the wire, before counter semantics: one row per
    (device, interface, field, timestamp). Counters keep their exact ``uint64``
    value; gauges carry a ``float64``. The counters engine turns a batch into
    rates.

Examples
--------
>>> SCHEMA["value"].dtype
dtype('float64')
>>> [c.name for c in SCHEMA.columns][:4]
['ts', 'network', 'entity_kind', 'entity_id']
>>> b = SampleBatchBuilder()
>>> b.add("r1", "Ethernet1", "rx_octets", 1_700_000_000_000_000_000, 42, 42.0, Kind.COUNTER64,
...       0, False, "gnmic", "lab")
>>> batch = b.build()
>>> len(batch), batch.value_u64.dtype.name, int(batch.kind[0])
(1, 'uint64', 64)
>>> SampleBatch.concat([batch, batch]).device.tolist()
['r1', 'r1']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from enum import IntEnum, IntFlag
from typing import Any, overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "COUNTER_FIELDS",
    "DSCP_RULE",
    "ENTITY_KINDS",
    "EPOCH_TOLERANCE_NS",
    "FLOW_SCHEMA",
    "GAUGE_FIELDS",
    "IGP_FIELDS",
    "KPIS",
    "LINK_STATE_FIELDS",
    "PATH_MARKER",
    "SAMPLE_SCHEMA",
    "SCHEMA",
    "SPEED_FIELDS",
    "Column",
    "Flag",
    "FlowBatch",
    "FlowBatchBuilder",
    "Kind",
    "LazyColumn",
    "NameCodes",
    "ObjectColumn",
    "SampleBatch",
    "SampleBatchBuilder",
    "Schema",
]


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a schema.

    Parameters
    ----------
    name
        Column name.
    dtype
        NumPy dtype of the column (``object`` for strings).
    unit
        SI unit or ``""`` when unitless / categorical.
    nullable
        Whether a value may be missing (``None`` in object columns, ``NaN`` in
        float columns). A missing value is null, never ``-1``.
    doc
        One-line description.
    """

    name: str
    dtype: np.dtype[Any]
    unit: str
    nullable: bool
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Schema:
    """An ordered set of :class:`Column`, addressable by name."""

    name: str
    columns: tuple[Column, ...]

    def __getitem__(self, key: str) -> Column:
        for c in self.columns:
            if c.name == key:
                return c
        raise KeyError(f"{self.name} has no column {key!r}; columns are {self.names}")

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [c.name for c in self.columns]


_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_U64 = np.dtype(np.uint64)
_U32 = np.dtype(np.uint32)
_U16 = np.dtype(np.uint16)
_U8 = np.dtype(np.uint8)
_BOOL = np.dtype(np.bool_)
_OBJ = np.dtype(object)


class Flag(IntFlag):
    """Bits of the Measurement ``flags`` column."""

    NONE = 0
    RESET = 1  #: counter reset (reboot, clear, discontinuity) before this sample
    WRAPPED = 2  #: Counter32 wrapped modulo 2**32 before this sample
    GAP = 4  #: the interval since the previous sample is longer than expected


class Kind(IntEnum):
    """Value kind of a :class:`SampleBatch` row (the ``kind`` column, uint8)."""

    GAUGE = 0  #: instantaneous value in ``value_f64``
    DELTA = 1  #: already an increment over [epoch, ts] (OTLP delta temporality)
    COUNTER32 = 32  #: cumulative counter, wraps modulo 2**32
    COUNTER64 = 64  #: cumulative counter; a decrease is a reset, never a wrap


#: Measurement KPI names and their SI units.
KPIS: dict[str, str] = {
    "tx_bps": "bit/s",
    "rx_bps": "bit/s",
    "tx_pps": "packet/s",
    "rx_pps": "packet/s",
    "drop_pps": "packet/s",
    "error_pps": "packet/s",
    "utilization": "ratio",
    "delay_s": "s",
    "jitter_s2": "s^2",
    "loss_ratio": "ratio",
    "queue_occupancy": "ratio",
    # link state (telemetry_adapters.link_state): 1.0 = up, 0.0 = down; ``oper_status`` / ``admin_status``
    # from the port at the link's source end (an interface entity: its own), ``rx_*`` from its destination end
    "oper_status": "state",
    "admin_status": "state",
    "rx_oper_status": "state",
    "rx_admin_status": "state",
    # interface speed (telemetry_adapters.speed): the port's operational speed, its capacity as the device reports
    # it; ``speed_bps`` from the port at the link's source end (an interface entity: its own), ``rx_`` its destination
    "speed_bps": "bit/s",
    "rx_speed_bps": "bit/s",
    # IGP metric (telemetry_adapters.igp): the IS-IS / OSPFv2 cost the port's router routes with, dimensionless;
    # on the link the port sends on only (a metric is a property of the sending end: no ``rx_`` twin)
    "igp_metric": "1",
}

ENTITY_KINDS: tuple[str, ...] = ("link", "interface", "path", "node")

#: Discontinuity markers derived from a *relative* leaf (IOS XR
#: ``seconds-since-last-clear-counters``, device uptime) move by the sampling
#: jitter from one sample to the next; decoders round them to whole seconds, and
#: the counters engine treats an ``epoch_ns`` change of at most this much as
#: "same epoch". Absolute markers (OpenConfig ``last-clear``, IETF
#: ``discontinuity-time``, OTLP ``startTimeUnixNano``) are exact.
EPOCH_TOLERANCE_NS: int = 2_000_000_000

#: Joins source and destination node in the ``device`` of path samples (see :class:`SampleBatch`).
PATH_MARKER: str = "->"

#: Canonical cumulative-counter field names in :class:`SampleBatch` ``field``.
#: Octets are bytes on the wire; the counters engine turns them into bits/s.
COUNTER_FIELDS: tuple[str, ...] = (
    "rx_octets",
    "tx_octets",
    "rx_pkts",
    "tx_pkts",
    "rx_unicast_pkts",
    "rx_multicast_pkts",
    "rx_broadcast_pkts",
    "tx_unicast_pkts",
    "tx_multicast_pkts",
    "tx_broadcast_pkts",
    "rx_discards",
    "tx_discards",
    "rx_errors",
    "tx_errors",
)

#: Gauge field names in :class:`SampleBatch` ``field`` (SI units, == KPI names).
GAUGE_FIELDS: tuple[str, ...] = ("delay_s", "jitter_s2", "loss_ratio", "utilization", "queue_occupancy")

#: Link-state gauge fields in :class:`SampleBatch` ``field`` (kind GAUGE, ``value_f64`` 1.0 = up, 0.0 = down,
#: ``value_u64`` 0; :mod:`twinwatch.telemetry_adapters.link_state`); == their KPI names.
LINK_STATE_FIELDS: tuple[str, ...] = ("oper_status", "admin_status")

#: Interface-speed gauge fields in :class:`SampleBatch` ``field`` (kind GAUGE, ``value_f64`` in bit/s > 0,
#: ``value_u64`` 0; :mod:`twinwatch.telemetry_adapters.speed`); == their KPI names.
SPEED_FIELDS: tuple[str, ...] = ("speed_bps",)

#: IGP-metric gauge fields in :class:`SampleBatch` ``field`` (kind GAUGE, ``value_f64`` an integer 1 .. 16777215,
#: dimensionless, ``value_u64`` 0; :mod:`twinwatch.telemetry_adapters.igp`); == their KPI names.
IGP_FIELDS: tuple[str, ...] = ("igp_metric",)

SCHEMA = Schema(
    "Measurement",
    (
        Column("ts", _F64, "s", False, "sample time, epoch seconds UTC"),
        Column("network", _OBJ, "", False, "network name"),
        Column("entity_kind", _OBJ, "", False, "link | interface | path | node"),
        Column("entity_id", _OBJ, "", False, "link id, 'device:interface', 'src->dst' path or node"),
        Column("kpi", _OBJ, "", False, "KPI name, one of KPIS"),
        Column("value", _F64, "SI", False, "value in the KPI's SI unit (see KPIS)"),
        Column("source", _OBJ, "", False, "adapter (decoder name) that produced the row"),
        Column("flags", _U8, "", False, "Flag bitmask: RESET=1, WRAPPED=2, GAP=4"),
    ),
)

FLOW_SCHEMA = Schema(
    "FlowRecord",
    (
        Column("ts", _F64, "s", False, "flow end (or receive) time, epoch seconds UTC"),
        Column("network", _OBJ, "", False, "network name"),
        Column("src_addr", _OBJ, "", False, "source IP address"),
        Column("dst_addr", _OBJ, "", False, "destination IP address"),
        Column("src_node", _OBJ, "", True, "source node (filled by the inventory)"),
        Column("dst_node", _OBJ, "", True, "destination node (filled by the inventory)"),
        Column("bytes", _F64, "byte", False, "bytes, scaled by sampling_rate"),
        Column("packets", _F64, "packet", False, "packets, scaled by sampling_rate"),
        Column("duration_s", _F64, "s", True, "flow end - flow start"),
        Column("sampling_rate", _U32, "", False, "1-in-N sampling (1 when unsampled or unknown)"),
        Column("in_if", _I64, "", True, "input ifIndex; null when unknown (mask in FlowBatch.in_if_valid)"),
        Column("out_if", _I64, "", True, "output ifIndex; null when unknown (mask out_if_valid)"),
        Column("exporter", _OBJ, "", True, "exporter (sampler) address"),
        Column("proto", _U8, "", False, "IP protocol number"),
        Column("src_port", _U16, "", False, "L4 source port (0 when none)"),
        Column("dst_port", _U16, "", False, "L4 destination port (0 when none)"),
        Column("dscp", _U8, "", False, "DSCP 0..63 (ToS byte >> 2); 0 (best effort) when the record has none"),
        Column("source", _OBJ, "", False, "adapter (decoder name)"),
    ),
)

#: How flow decoders fill ``FLOW_SCHEMA["dscp"]`` (documentation; ``Goflow2Decoder`` applies it).
DSCP_RULE = (
    "dscp = the record's 'dscp' field (0..63) if present, else its ToS / IPv6 traffic-class byte "
    "('ip_tos' goflow2 v2, 'IPTos' goflow v1 / goflow2 v1, 'tos') >> 2 (0..255 → 0..63, the two ECN bits dropped); "
    "a record with none of them (or null) is best effort, dscp 0; a value outside its range, negative or not an "
    "integer rejects the record (out_of_range / wrong_type)"
)

#: Columns of :class:`SampleBatch` (the decoders' output).
SAMPLE_SCHEMA = Schema(
    "Sample",
    (
        Column("device", _OBJ, "", False, "device name as the source spells it"),
        Column("interface", _OBJ, "", False, "raw interface name; '' for device-level / path samples"),
        Column("field", _OBJ, "", False,
               "canonical field: COUNTER_FIELDS, GAUGE_FIELDS, LINK_STATE_FIELDS, SPEED_FIELDS or IGP_FIELDS"),
        Column("ts_ns", _I64, "ns", False, "sample time, epoch ns UTC"),
        Column("value_u64", _U64, "", False, "exact counter value (0 for gauges)"),
        Column("value_f64", _F64, "SI", False, "gauge value in SI units, or float(counter)"),
        Column("kind", _U8, "", False, "Kind: 0 gauge, 1 delta, 32 Counter32, 64 Counter64"),
        Column("epoch_ns", _I64, "ns", False, "discontinuity marker (valid when has_epoch); a change = reset"),
        Column("has_epoch", _BOOL, "", False, "whether epoch_ns is given by the source"),
        Column("source", _OBJ, "", False, "decoder name"),
        Column("network", _OBJ, "", False, "network name"),
    ),
)


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True, slots=True)
class NameCodes:
    """The string columns of a :class:`SampleBatch` as integer codes, when the decoder has them.

    ``device[i]`` indexes ``device_names`` (and so on): ``batch.device[i] ==
    device_names[device[i]]`` for every row. Consumers that intern names
    (:meth:`~telemetry_adapters.counters.CounterState.keys`) then look up each
    distinct name once instead of grouping the object columns. Shapes: ``(n,)``
    int64 codes; names in order of first appearance.
    """

    device: npt.NDArray[np.int64]
    device_names: list[str]
    interface: npt.NDArray[np.int64]
    interface_names: list[str]
    field: npt.NDArray[np.int64]
    field_names: list[str]


def _as(values: Sequence[Any] | npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    if dtype == _OBJ:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values) if not isinstance(values, np.ndarray) else values
        return out
    return np.asarray(values, dtype=dtype)


class LazyColumn:
    """An object column kept as integer codes into its distinct values (or as one constant) until read.

    Building a ``(n,)`` object array costs a reference count per row; the hot
    path (decode → normalise) never reads the string columns, so batches hold
    them in this form and :meth:`materialise` builds the array on first access
    (see :class:`SampleBatch`, :class:`~telemetry_adapters.normalize.MeasurementBatch`).

    Parameters
    ----------
    codes
        ``(n,)`` integer codes into ``names``, or ``None`` for a constant column.
    names
        The distinct values (a list or an object array), or the constant itself when ``codes`` is ``None``.
    n
        Number of rows.

    >>> LazyColumn(np.array([1, 0, 1]), ["a", "b"], 3).materialise().tolist()
    ['b', 'a', 'b']
    >>> c = LazyColumn(None, "lab", 2)
    >>> c.constant, c.materialise().tolist()
    ('lab', ['lab', 'lab'])
    """

    __slots__ = ("codes", "n", "names")

    def __init__(self, codes: npt.NDArray[np.integer[Any]] | None, names: Any, n: int) -> None:
        self.codes = codes
        self.names = names
        self.n = int(n)

    @property
    def constant(self) -> Any:
        """The value of every row when the column is a constant, else ``None``."""
        return self.names if self.codes is None else None

    def materialise(self) -> npt.NDArray[np.object_]:
        """The ``(n,)`` object array."""
        if self.codes is None:
            out = np.empty(self.n, dtype=object)
            out.fill(self.names)
            return out
        names = self.names
        if not isinstance(names, np.ndarray) or names.dtype != _OBJ:
            arr = np.empty(len(names), dtype=object)
            arr[:] = names
            names = arr
        res: npt.NDArray[np.object_] = names[self.codes]
        return res


class ObjectColumn:
    """Descriptor of an object column held as an array or a :class:`LazyColumn` (built on first read).

    Reading the attribute always gives an ``ndarray`` (the materialised one is
    kept, so in-place changes stick). With ``drops_codes``, assigning a new
    column drops the owner's ``codes`` (:class:`NameCodes`), after
    materialising the other lazy columns that may use them.
    """

    __slots__ = ("drops_codes", "slot")

    def __init__(self, drops_codes: bool = False) -> None:
        self.drops_codes = drops_codes
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> ObjectColumn: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> npt.NDArray[Any]: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> npt.NDArray[Any] | ObjectColumn:
        if obj is None:
            return self
        v = getattr(obj, self.slot)
        if isinstance(v, LazyColumn):
            v = v.materialise()
            setattr(obj, self.slot, v)
        return v  # type: ignore[no-any-return]

    def __set__(self, obj: object, value: npt.NDArray[Any] | LazyColumn) -> None:
        if self.drops_codes and getattr(obj, "codes", None) is not None:
            for name in ("device", "interface", "field"):
                getattr(obj, name)  # materialise before the codes go
            obj.codes = None  # type: ignore[attr-defined]
        setattr(obj, self.slot, value)

    @staticmethod
    def constant(obj: object, name: str) -> Any:
        """The value of every row of column ``name`` when it is held as a constant (no array built), else None."""
        v = getattr(obj, "_" + name)
        return v.constant if isinstance(v, LazyColumn) else None


class SampleBatch:
    """Decoded samples, one row per (device, interface, field, ts); equal-length arrays.

    Shapes: every column is ``(n,)``. Dtypes are those of :data:`SAMPLE_SCHEMA`.
    For ``kind`` ``DELTA`` the row is an increment over ``[epoch_ns, ts_ns]``
    (``epoch_ns`` = OTLP ``startTimeUnixNano``).

    Entity conventions:

    - interface samples: ``device`` and ``interface`` as the device spells them
      (the inventory maps them to a link);
    - device-level samples: ``interface == ""``;
    - path samples (active probes: ``delay_s``, ``jitter_s2``, ``loss_ratio``):
      ``device`` = the path id ``"src->dst"`` (:data:`PATH_MARKER` joins the
      nodes) and ``interface == ""``.

    The string columns may be given as :class:`LazyColumn` (see
    :meth:`from_codes`); reading one builds its object array once.
    """

    __slots__ = ("_device", "_field", "_interface", "_network", "_source", "codes", "epoch_ns", "has_epoch",
                 "kind", "ts_ns", "value_f64", "value_u64")  # fmt: skip

    device = ObjectColumn(drops_codes=True)
    interface = ObjectColumn(drops_codes=True)
    field = ObjectColumn(drops_codes=True)
    source = ObjectColumn()
    network = ObjectColumn()

    def __init__(
        self,
        device: npt.NDArray[Any] | LazyColumn,
        interface: npt.NDArray[Any] | LazyColumn,
        field: npt.NDArray[Any] | LazyColumn,
        ts_ns: npt.NDArray[np.int64],
        value_u64: npt.NDArray[np.uint64],
        value_f64: npt.NDArray[np.float64],
        kind: npt.NDArray[np.uint8],
        epoch_ns: npt.NDArray[np.int64],
        has_epoch: npt.NDArray[np.bool_],
        source: npt.NDArray[Any] | LazyColumn,
        network: npt.NDArray[Any] | LazyColumn,
        codes: NameCodes | None = None,
    ) -> None:
        #: optional integer codes of ``device`` / ``interface`` / ``field`` (not a column: dropped by
        #: :meth:`take` and :meth:`concat`, and when one of those columns is assigned)
        self.codes = codes
        self._device = device
        self._interface = interface
        self._field = field
        self.ts_ns = ts_ns
        self.value_u64 = value_u64
        self.value_f64 = value_f64
        self.kind = kind
        self.epoch_ns = epoch_ns
        self.has_epoch = has_epoch
        self._source = source
        self._network = network

    @classmethod
    def from_codes(
        cls,
        codes: NameCodes,
        *,
        ts_ns: npt.NDArray[np.int64],
        value_u64: npt.NDArray[np.uint64],
        value_f64: npt.NDArray[np.float64],
        kind: npt.NDArray[np.uint8],
        epoch_ns: npt.NDArray[np.int64],
        has_epoch: npt.NDArray[np.bool_],
        source: str,
        network: str,
    ) -> SampleBatch:
        """A batch whose string columns are built from ``codes`` (and the constants) only when read.

        >>> nc = NameCodes(np.array([0, 0]), ["r1"], np.array([0, 1]), ["et1", "et2"],
        ...                np.array([0, 0]), ["rx_octets"])
        >>> z = np.zeros(2, dtype=np.int64)
        >>> b = SampleBatch.from_codes(nc, ts_ns=z, value_u64=z.astype(np.uint64), value_f64=z * 1.0,
        ...     kind=np.full(2, 64, np.uint8), epoch_ns=z, has_epoch=z > 0, source="gnmic", network="lab")
        >>> b.interface.tolist(), b.constant("network")
        (['et1', 'et2'], 'lab')
        """
        n = int(ts_ns.shape[0])
        return cls(
            device=LazyColumn(codes.device, codes.device_names, n),
            interface=LazyColumn(codes.interface, codes.interface_names, n),
            field=LazyColumn(codes.field, codes.field_names, n),
            ts_ns=ts_ns,
            value_u64=value_u64,
            value_f64=value_f64,
            kind=kind,
            epoch_ns=epoch_ns,
            has_epoch=has_epoch,
            source=LazyColumn(None, source, n),
            network=LazyColumn(None, network, n),
            codes=codes,
        )

    def constant(self, name: str) -> Any:
        """The value of every row of string column ``name`` when held as a constant (no array built), else None."""
        return ObjectColumn.constant(self, name)

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    def __repr__(self) -> str:
        return f"SampleBatch(<{len(self)} rows>)"

    @classmethod
    def empty(cls) -> SampleBatch:
        """A batch with zero rows."""
        cols: dict[str, Any] = {c.name: np.empty(0, dtype=c.dtype) for c in SAMPLE_SCHEMA}
        return cls(**cols)

    @classmethod
    def concat(cls, batches: Sequence[SampleBatch]) -> SampleBatch:
        """Concatenate batches row-wise (one copy per column)."""
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        cols: dict[str, Any] = {c.name: np.concatenate([getattr(b, c.name) for b in batches]) for c in SAMPLE_SCHEMA}
        return cls(**cols)

    def take(self, index: npt.NDArray[Any]) -> SampleBatch:
        """Rows selected by an integer or boolean index."""
        return SampleBatch(**{c.name: getattr(self, c.name)[index] for c in SAMPLE_SCHEMA})

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as a name → array dict (no copy)."""
        return {c.name: getattr(self, c.name) for c in SAMPLE_SCHEMA}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as plain dicts with JSON-friendly Python scalars (slow; for CLI and tests)."""
        cols = {c.name: getattr(self, c.name).tolist() for c in SAMPLE_SCHEMA}
        for i in range(len(self)):
            yield {name: col[i] for name, col in cols.items()}


class SampleBatchBuilder:
    """Appender for :class:`SampleBatch`: fills Python lists, converts once in :meth:`build`.

    Every list is public so a decoder's inner loop can bind ``append`` methods
    locally; all lists must end up the same length.
    """

    __slots__ = (
        "device",
        "epoch_ns",
        "field",
        "has_epoch",
        "interface",
        "kind",
        "network",
        "source",
        "ts_ns",
        "value_f64",
        "value_u64",
    )

    def __init__(self) -> None:
        self.device: list[str] = []
        self.interface: list[str] = []
        self.field: list[str] = []
        self.ts_ns: list[int] = []
        self.value_u64: list[int] = []
        self.value_f64: list[float] = []
        self.kind: list[int] = []
        self.epoch_ns: list[int] = []
        self.has_epoch: list[bool] = []
        self.source: list[str] = []
        self.network: list[str] = []

    def __len__(self) -> int:
        return len(self.ts_ns)

    def add(
        self,
        device: str,
        interface: str,
        field: str,
        ts_ns: int,
        value_u64: int,
        value_f64: float,
        kind: int,
        epoch_ns: int,
        has_epoch: bool,
        source: str,
        network: str,
    ) -> None:
        """Append one row."""
        self.device.append(device)
        self.interface.append(interface)
        self.field.append(field)
        self.ts_ns.append(ts_ns)
        self.value_u64.append(value_u64)
        self.value_f64.append(value_f64)
        self.kind.append(kind)
        self.epoch_ns.append(epoch_ns)
        self.has_epoch.append(has_epoch)
        self.source.append(source)
        self.network.append(network)

    def truncate(self, n: int) -> None:
        """Drop rows after the first ``n`` (undo a partially decoded message)."""
        for name in self.__slots__:
            del getattr(self, name)[n:]

    def build(self) -> SampleBatch:
        """Convert the lists into a :class:`SampleBatch` (one conversion per column)."""
        cols: dict[str, Any] = {c.name: _as(getattr(self, c.name), c.dtype) for c in SAMPLE_SCHEMA}
        return SampleBatch(**cols)


@dataclass(slots=True)
class FlowBatch:
    """Decoded flow records; equal-length ``(n,)`` arrays with :data:`FLOW_SCHEMA` dtypes.

    Nullable integer columns ``in_if`` / ``out_if`` use the companion masks
    ``in_if_valid`` / ``out_if_valid``; nullable float ``duration_s`` uses NaN;
    nullable object columns use ``None``. ``dscp`` is never null: a record
    without a ToS byte is best effort, 0 (:data:`DSCP_RULE`).
    """

    ts: npt.NDArray[np.float64]
    network: npt.NDArray[np.object_]
    src_addr: npt.NDArray[np.object_]
    dst_addr: npt.NDArray[np.object_]
    src_node: npt.NDArray[np.object_]
    dst_node: npt.NDArray[np.object_]
    bytes: npt.NDArray[np.float64]
    packets: npt.NDArray[np.float64]
    duration_s: npt.NDArray[np.float64]
    sampling_rate: npt.NDArray[np.uint32]
    in_if: npt.NDArray[np.int64]
    out_if: npt.NDArray[np.int64]
    exporter: npt.NDArray[np.object_]
    proto: npt.NDArray[np.uint8]
    src_port: npt.NDArray[np.uint16]
    dst_port: npt.NDArray[np.uint16]
    dscp: npt.NDArray[np.uint8]
    source: npt.NDArray[np.object_]
    in_if_valid: npt.NDArray[np.bool_]
    out_if_valid: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> FlowBatch:
        """A batch with zero rows."""
        return FlowBatchBuilder().build()

    @classmethod
    def concat(cls, batches: Sequence[FlowBatch]) -> FlowBatch:
        """Concatenate batches row-wise."""
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        return cls(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)})

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as plain dicts; null integer interfaces come out as ``None``."""
        cols = {c.name: getattr(self, c.name).tolist() for c in FLOW_SCHEMA}
        in_ok = self.in_if_valid.tolist()
        out_ok = self.out_if_valid.tolist()
        for i in range(len(self)):
            row = {name: col[i] for name, col in cols.items()}
            if not in_ok[i]:
                row["in_if"] = None
            if not out_ok[i]:
                row["out_if"] = None
            if row["duration_s"] != row["duration_s"]:  # NaN → null
                row["duration_s"] = None
            yield row


class FlowBatchBuilder:
    """Appender for :class:`FlowBatch`; ``None`` marks a null value."""

    def __init__(self) -> None:
        self._rows: dict[str, list[Any]] = {c.name: [] for c in FLOW_SCHEMA}

    def __len__(self) -> int:
        return len(self._rows["ts"])

    def add(self, **row: Any) -> None:
        """Append one row; missing nullable columns default to null."""
        for c in FLOW_SCHEMA:
            self._rows[c.name].append(row.get(c.name))

    def build(self) -> FlowBatch:
        """Convert to a :class:`FlowBatch`."""
        cols: dict[str, npt.NDArray[Any]] = {}
        for c in FLOW_SCHEMA:
            vals = self._rows[c.name]
            if c.dtype == _OBJ:
                cols[c.name] = _as(vals, c.dtype)
            elif c.name in ("in_if", "out_if"):
                cols[c.name + "_valid"] = np.array([v is not None for v in vals], dtype=bool)
                cols[c.name] = np.array([0 if v is None else v for v in vals], dtype=c.dtype)
            elif c.dtype == _F64:
                cols[c.name] = np.array([np.nan if v is None else v for v in vals], dtype=c.dtype)
            else:
                cols[c.name] = np.array([0 if v is None else v for v in vals], dtype=c.dtype)
        return FlowBatch(**cols)
