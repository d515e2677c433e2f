"""Vectorised assembly of leaf records into a :class:`SampleBatch` (shared by the JSON decoders).

A decoder reduces each message to *records*: one per (device, interface,
timestamp) with a dict of ``leaf path → value``. :func:`assemble` maps every leaf
through the shared :class:`~telemetry_adapters.paths.PathMapper` in one pass
over the whole batch, converts the counter values in bulk, validates
timestamps and values, picks up discontinuity markers and interface-name
leaves, and emits the columns once. Bad values become per-element rejections;
a record that yields nothing and was not rejected becomes an ``unknown_path``
(or ``empty``) rejection, and the unmapped leaves of a record that does yield
rows become one ``unmapped_leaf`` rejection with ``count`` = their number
(:meth:`~telemetry_adapters.base.Decoder._result` moves those to
``DecodeResult.ignored``), so nothing vanishes.

>>> from twinwatch.telemetry_adapters.base import DecoderConfig
>>> recs = Records()
>>> recs.add("r1", "Ethernet1", 1_700_000_000_000_000_000, 0,
...          {"/interfaces/interface/state/counters/in-octets": "42", "oper-status": "UP"})
>>> batch, rej = assemble(recs, PathMapper(), DecoderConfig(now_ns=1_700_000_000_000_000_000),
...                       [b"m"], "test")
>>> batch.field.tolist(), batch.value_f64.tolist(), rej
(['rx_octets', 'oper_status'], [42.0, 1.0], [])

Link-state and speed leaves are read apart (enums, and numbers in the spelling's unit): one
interface's ``port-speed`` beside its ``negotiated-port-speed`` is one ``speed_bps`` row, the
other leaf counted as ignored (``speed_superseded``):

>>> recs = Records()
>>> recs.add("r1", "Ethernet1", 1_700_000_000_000_000_000, 0,
...          {"/interfaces/interface/ethernet/state/port-speed": "SPEED_100GB",
...           "/interfaces/interface/ethernet/state/negotiated-port-speed": "openconfig-if-ethernet:SPEED_25GB"})
>>> batch, rej = assemble(recs, PathMapper(), DecoderConfig(now_ns=1_700_000_000_000_000_000), [b"m"], "test")
>>> batch.field.tolist(), batch.value_f64.tolist(), [(r.reason, r.count) for r in rej]
(['speed_bps'], [25000000000.0], [('speed_superseded', 1)])

The IGP metric is read the same way (a port gauge: :data:`~telemetry_adapters.paths.PORT_GAUGES`); a metric
whose path keys name another topology (IS-IS level 1, IPv6) is counted as ignored (``igp_other_topology``):

>>> isis = "/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/"
>>> recs = Records()
>>> recs.add("r1", "Ethernet1", 1_700_000_000_000_000_000, 0,
...          {isis + "level[level-number=2]/af/state/metric": 10, isis + "level[level-number=1]/af/state/metric": 20})
>>> batch, rej = assemble(recs, PathMapper(), DecoderConfig(now_ns=1_700_000_000_000_000_000), [b"m"], "test")
>>> batch.field.tolist(), batch.value_f64.tolist(), [(r.reason, r.count) for r in rej]
(['igp_metric'], [10.0], [('igp_other_topology', 1)])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter, not_
from typing import Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters.base import DecoderConfig, RawMessage, ts_rejection
from twinwatch.telemetry_adapters.errors import Reason, Rejection, truncate_raw
from twinwatch.telemetry_adapters.link_state import UNKNOWN, link_state, link_state_detail
from twinwatch.telemetry_adapters.paths import (
    EPOCH_ABS,
    EPOCH_ABS_S,
    EPOCH_REL_CS,
    EPOCH_REL_S,
    FIELD_BITS,
    FIELD_NAMES,
    GAUGE_SCALE,
    IF_NAME,
    IGP_OTHER,
    IS_LINK_STATE,
    PORT_FIELDS,
    PORT_GAUGE,
    PORT_GAUGES,
    UNMAPPED,
    PathMapper,
)
from twinwatch.telemetry_adapters.schema import SampleBatch
from twinwatch.telemetry_adapters.speed import as_number

__all__ = [
    "Records",
    "assemble",
    "assemble_rows",
    "coerce_counter",
    "coerce_gauge",
    "epoch_in_range",
    "epochs_vectorised",
    "fast_u64",
    "gauge_values",
    "link_state_codes",
    "parse_epoch_ns",
    "to_ns_by_magnitude",
]

_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1
_FIELD_NAMES_ARR = np.array(FIELD_NAMES, dtype=object)
_FIELD_BITS_ARR = np.array(FIELD_BITS, dtype=np.uint8)
_IS_GAUGE = _FIELD_BITS_ARR == 0
_IS_LINK_STATE = np.array(IS_LINK_STATE, dtype=bool)
_PORT_GAUGE = np.array(PORT_GAUGE, dtype=np.int64)
_IS_GAUGE_APART = _PORT_GAUGE >= 0  # port gauges (speed, IGP metric)
_READ_APART = _IS_LINK_STATE | _IS_GAUGE_APART  # leaves whose values are not counters: read by their own parser
_PORT_FIELD = np.array([f in PORT_FIELDS for f in FIELD_NAMES], dtype=bool)  # field code → a port's own field
_RATIO_FIELDS = frozenset({"loss_ratio", "utilization", "queue_occupancy"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT_TYPES = frozenset({int, str})
_EPOCH_PRIORITY = {EPOCH_ABS: 0, EPOCH_ABS_S: 1, EPOCH_REL_S: 2, EPOCH_REL_CS: 3}


class Records:
    """Per-record columns filled by a decoder: device, interface, ts_ns, message index, leaves."""

    __slots__ = ("device", "interface", "leaves", "msg", "ts_ns")

    def __init__(self) -> None:
        self.device: list[str] = []
        self.interface: list[str] = []
        self.ts_ns: list[int] = []
        self.msg: list[int] = []
        self.leaves: list[Mapping[str, Any]] = []

    def __len__(self) -> int:
        return len(self.ts_ns)

    def add(self, device: str, interface: str, ts_ns: int, msg: int, leaves: Mapping[str, Any]) -> None:
        """Append one record (``leaves`` maps a leaf path or field name to its raw value)."""
        self.device.append(device)
        self.interface.append(interface)
        self.ts_ns.append(ts_ns)
        self.msg.append(msg)
        self.leaves.append(leaves)


def parse_epoch_ns(code: int, value: Any, ts_ns: int) -> int | None:
    """Discontinuity marker in epoch ns from one epoch leaf, or ``None`` when unparseable or outside
    [1970, 2262).

    Relative markers are rounded to whole seconds (see ``EPOCH_TOLERANCE_NS``).

    >>> parse_epoch_ns(EPOCH_ABS, "2023-11-15T05:50:40+00:00", 0)
    1700027440000000000
    >>> parse_epoch_ns(EPOCH_ABS, "1691859140059797458", 0)
    1691859140059797458
    >>> parse_epoch_ns(EPOCH_REL_S, 100, 1_000_000_000_400_000_000)
    999999900000000000
    >>> parse_epoch_ns(EPOCH_REL_S, 10**10, 1_000_000_000_400_000_000) is None
    True
    """
    e = _parse_epoch_ns(code, value, ts_ns)
    if e is None or not 0 <= e < 2**63:
        return None
    return e


def _parse_epoch_ns(code: int, value: Any, ts_ns: int) -> int | None:
    """:func:`parse_epoch_ns` without the range check."""
    if isinstance(value, bool):
        return None
    if code == EPOCH_ABS:
        if isinstance(value, str):
            s = value.strip()
            if s.isdigit():
                value = int(s)
            else:
                try:
                    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
                except ValueError:
                    return None
                if dt.tzinfo is None:
                    return None
                d = dt - _EPOCH
                return (d.days * 86400 + d.seconds) * 1_000_000_000 + d.microseconds * 1000
        if isinstance(value, int):
            if value < 0 or value > 2**63 - 1:
                return None
            # OpenConfig timeticks64 is ns; tolerate seconds / ms / us by magnitude
            return to_ns_by_magnitude(value)
        return None
    num = as_number(value)
    if num is None or num < 0 or not math.isfinite(num):
        return None
    if code == EPOCH_ABS_S:
        return int(num) * 1_000_000_000
    if code == EPOCH_REL_S:
        secs = num
    elif code == EPOCH_REL_CS:
        secs = num / 100.0
    else:
        return None
    return round(ts_ns / 1e9 - secs) * 1_000_000_000


def to_ns_by_magnitude(t: int | float) -> int:
    """Epoch time in s, ms, us or ns → ns, guessed from its magnitude (valid for years 1973–2286).

    >>> to_ns_by_magnitude(1458229140), to_ns_by_magnitude(1543236572000), to_ns_by_magnitude(1700000000.25)
    (1458229140000000000, 1543236572000000000, 1700000000250000000)
    """
    a = abs(t)
    if isinstance(t, float):  # keep µs precision without float noise in the low digits
        if a < 1e11:
            return round(t * 1e6) * 1000
        if a < 1e14:
            return round(t * 1e3) * 1000
        return round(t) * (1000 if a < 1e17 else 1)
    if a < 1e11:
        return t * 1_000_000_000
    if a < 1e14:
        return t * 1_000_000
    if a < 1e17:
        return t * 1_000
    return t


def coerce_counter(value: Any, bits: int) -> tuple[int, None] | tuple[None, tuple[str, str]]:
    """(exact value, None) or (None, (reason, detail)) for one counter value."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, (Reason.WRONG_TYPE, f"counter value {value!r} is a {type(value).__name__}, expected an integer")
    if isinstance(value, str):
        s = value.strip()
        try:
            v = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None, (Reason.WRONG_TYPE, f"counter value {value!r} is not a number")
            value = f
        else:
            value = v
    if isinstance(value, float):
        if not math.isfinite(value):
            return None, (Reason.NON_FINITE, f"counter value {value!r} is not finite")
        if value < 0:
            return None, (Reason.NEGATIVE_COUNTER, f"counter value {value!r} is negative")
        if value != math.floor(value):
            return None, (Reason.WRONG_TYPE, f"counter value {value!r} is not an integer")
        value = int(value)
    if value < 0:
        return None, (Reason.NEGATIVE_COUNTER, f"counter value {value} is negative")
    limit = _U32_MAX if bits == 32 else _U64_MAX
    if value > limit:
        return None, (Reason.OUT_OF_RANGE, f"counter value {value} exceeds the Counter{bits} maximum {limit}")
    return value, None


def coerce_gauge(value: Any, field: str) -> tuple[float, None] | tuple[None, tuple[str, str]]:
    num = as_number(value)
    if num is None:
        return None, (Reason.WRONG_TYPE, f"{field} value {value!r} is not a number")
    if not math.isfinite(num):
        return None, (Reason.NON_FINITE, f"{field} value {value!r} is not finite")
    if num < 0 or (field in _RATIO_FIELDS and num > 1.0):
        bound = "0..1" if field in _RATIO_FIELDS else ">= 0"
        return None, (Reason.OUT_OF_RANGE, f"{field} value {num} is outside {bound}")
    return num, None


def fast_u64(values: Sequence[Any]) -> npt.NDArray[np.uint64] | None:
    """Parse decimal strings / non-negative ints into uint64 in one C call, or ``None`` when any
    value is not a plain non-negative decimal integer ≤ 2**64-1 (the caller then checks one by one).

    >>> fast_u64(["1", 2, "18446744073709551615"]).tolist(), fast_u64(["1", "-2"]), fast_u64(["1.5"])
    ([1, 2, 18446744073709551615], None, None)
    >>> fast_u64(["18446744073709551616"]), fast_u64([True]), fast_u64(["1 2"]), fast_u64([""])
    (None, None, None, None)
    """
    if not values:
        return np.empty(0, dtype=np.uint64)
    try:
        text = " ".join(values)  # the common case: every value a string
    except TypeError:
        if not set(map(type, values)) <= _INT_TYPES:  # bool, float, None, containers: one by one
            return None
        text = " ".join(map(str, values))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            arr = np.fromstring(text, dtype=np.uint64, sep=" ")
        except ValueError:
            return None
    if arr.shape[0] != len(values):
        return None  # unparsable tail, empty strings or embedded whitespace
    top = np.flatnonzero(arr == _U64_MAX)
    if len(top):  # strtoull saturates on overflow: confirm the maxima are real
        for i in top.tolist():
            v = values[i]
            if int(v) != _U64_MAX:
                return None
    return arr


def _pick(values: list[Any], idx: npt.NDArray[np.intp]) -> list[Any]:
    if len(idx) == 0:
        return []
    if len(idx) == 1:
        return [values[int(idx[0])]]
    return list(itemgetter(*idx.tolist())(values))


def assemble(
    recs: Records,
    mapper: PathMapper,
    config: DecoderConfig,
    messages: Sequence[RawMessage],
    source: str,
) -> tuple[SampleBatch, list[Rejection]]:
    """Map, validate and convert ``recs`` into one :class:`SampleBatch` plus rejections."""
    batch, rejections, _ = assemble_rows(recs, mapper, config, messages, source)
    return batch, rejections


def assemble_rows(
    recs: Records,
    mapper: PathMapper,
    config: DecoderConfig,
    messages: Sequence[RawMessage],
    source: str,
) -> tuple[SampleBatch, list[Rejection], npt.NDArray[np.intp]]:
    """:func:`assemble`, also returning each row's message index (``recs.msg`` of its record)."""
    rejections: list[Rejection] = []
    R = len(recs)
    if R == 0:
        return SampleBatch.empty(), rejections, np.empty(0, dtype=np.intp)

    def reject(rec: int, reason: str, detail: str, count: int = 1) -> None:
        rejections.append(Rejection(str(reason), detail, truncate_raw(messages[recs.msg[rec]]), source, count))

    leaves = recs.leaves
    counts = np.fromiter(map(len, leaves), dtype=np.int64, count=R)
    n = int(counts.sum())
    keys = list(chain.from_iterable(leaves))
    vals: list[Any] = list(chain.from_iterable(map(dict.values, leaves)))  # type: ignore[arg-type]
    codes = np.fromiter(map(mapper.__getitem__, keys), dtype=np.int16, count=n)
    rec_of = np.repeat(np.arange(R, dtype=np.intp), counts)

    lo, hi = config.ts_bounds_ns()
    try:
        ts = np.array(recs.ts_ns, dtype=np.int64)
        bad_ts = (ts < lo) | (ts > hi)
    except OverflowError:  # a timestamp beyond int64 ns (e.g. seconds scaled into the 24th century)
        big = [not -(2**63) <= t < 2**63 for t in recs.ts_ns]
        ts = np.array([0 if b else t for t, b in zip(recs.ts_ns, big, strict=True)], dtype=np.int64)
        ts[np.array(big)] = np.iinfo(np.int64).max
        bad_ts = (ts < lo) | (ts > hi) | np.array(big)
    rejected = np.zeros(R, dtype=bool)
    if bad_ts.any():
        for r in np.flatnonzero(bad_ts).tolist():
            reject(r, *ts_rejection(int(recs.ts_ns[r]), lo, hi))
        rejected |= bad_ts
        live = ~bad_ts[rec_of]
    else:
        live = np.ones(n, dtype=bool)

    # interface-name leaves (IF-MIB ifName, Ciena counters/name) when the record has no key
    interface = recs.interface
    for i in np.flatnonzero((codes == IF_NAME) & live).tolist():
        r = int(rec_of[i])
        v = vals[i]
        if not interface[r] and isinstance(v, str):
            interface[r] = v.strip('"\\ ')

    # one bulk parse of every value (counters arrive as decimal strings or integers); when some leaf is
    # not numeric (oper-status, dates), parse just the counter values, and the markers one by one
    fidx = np.flatnonzero((codes >= 0) & live)
    lidx = sidx = np.empty(0, dtype=np.intp)
    if fidx.size and _READ_APART[codes[fidx]].any():  # link-state and port-gauge leaves: read apart (see below)
        is_ls, is_sp = _IS_LINK_STATE[codes[fidx]], _IS_GAUGE_APART[codes[fidx]]
        lidx, sidx, fidx = fidx[is_ls], fidx[is_sp], fidx[~(is_ls | is_sp)]
    fcodes = codes[fidx]
    eidx = np.flatnonzero((codes <= EPOCH_ABS) & (codes >= EPOCH_REL_CS) & live)
    all_u64 = fast_u64(vals)

    # discontinuity markers
    epoch = np.zeros(R, dtype=np.int64)
    has_epoch = np.zeros(R, dtype=bool)
    if len(eidx):
        ev = all_u64[eidx] if all_u64 is not None else fast_u64(_pick(vals, eidx))
        if ev is not None and epoch_in_range(codes[eidx], ev, ts[rec_of[eidx]]).all():
            epochs_vectorised(eidx, codes, ev, rec_of, ts, epoch, has_epoch)
        else:
            _epochs_slow(eidx, codes, keys, vals, rec_of, ts, epoch, has_epoch, reject)

    # counter values
    u64: npt.NDArray[np.uint64] | None = None
    if len(fidx) and not _IS_GAUGE[fcodes].any():
        u64 = all_u64[fidx] if all_u64 is not None else fast_u64(_pick(vals, fidx))
        if u64 is not None and ((_FIELD_BITS_ARR[fcodes] == 32) & (u64 > _U32_MAX)).any():
            u64 = None  # let the slow path name the offending values
    if u64 is not None:
        f64 = u64.astype(np.float64)
    else:
        sel = _pick(vals, fidx)
        u64 = np.zeros(len(fidx), dtype=np.uint64)
        f64 = np.zeros(len(fidx), dtype=np.float64)
        keep = np.zeros(len(fidx), dtype=bool)
        for j, (v, c) in enumerate(zip(sel, fcodes.tolist(), strict=True)):
            bits = FIELD_BITS[c]
            if bits:
                iv, err = coerce_counter(v, bits)
                if iv is not None:
                    u64[j] = iv
                    f64[j] = float(iv)
                    keep[j] = True
                    continue
            else:
                fv, err = coerce_gauge(v, FIELD_NAMES[c])
                if fv is not None:
                    f64[j] = fv
                    keep[j] = True
                    continue
            assert err is not None
            r = int(rec_of[fidx[j]])
            rejected[r] = True
            reject(r, err[0], f"{keys[int(fidx[j])]!r}: {err[1]}")
        if not keep.all():
            fidx, fcodes, u64, f64 = fidx[keep], fcodes[keep], u64[keep], f64[keep]

    # link-state leaves (oper-status …): up 1.0 / down 0.0 gauges; an explicit unknown is ignored (counted), a
    # value that names no state is an unknown_enum rejection
    handled = np.zeros(R, dtype=bool)
    apart_idx: list[npt.NDArray[np.intp]] = []
    apart_val: list[npt.NDArray[np.float64]] = []
    if lidx.size:
        state = link_state_codes(_pick(vals, lidx))
        for i in np.flatnonzero(state == _LS_BAD).tolist():
            r = int(rec_of[lidx[i]])
            rejected[r] = True
            reject(r, Reason.UNKNOWN_ENUM, link_state_detail(keys[int(lidx[i])], vals[int(lidx[i])]))
        unknown = state == _LS_UNKNOWN
        if unknown.any():
            n_unk = np.bincount(rec_of[lidx[unknown]], minlength=R)
            for r in np.flatnonzero(n_unk).tolist():
                handled[r] = True
                reject(r, Reason.LINK_STATE_UNKNOWN, f"{int(n_unk[r])} link-state leaf value(s) say 'unknown' "
                       "(ignored, counted: the end counts as unreported)", int(n_unk[r]))
        ok = state >= 0.0
        apart_idx.append(lidx[ok])
        apart_val.append(state[ok])
    # port-gauge leaves (speed: port-speed, lag-speed, ifHighSpeed …, bit/s; IGP metric): gauges, at most one per
    # record and port gauge (the preferred spelling: the lowest code); an unknown speed is ignored (counted), a value
    # that gives none a rejection
    if sidx.size:
        scodes = codes[sidx]
        fam = _PORT_GAUGE[scodes]
        bps = gauge_values(_pick(vals, sidx), scodes)
        for i in np.flatnonzero(bps == _SP_BAD).tolist():
            j = int(sidx[i])
            r = int(rec_of[j])
            rejected[r] = True
            reject(r, *PORT_GAUGES[int(fam[i])].rejection(keys[j], vals[j], GAUGE_SCALE[int(codes[j])]))
        unknown = bps == _SP_UNKNOWN  # (only a speed has an explicit unknown)
        ignored = [(unknown & (fam == g), pg.unknown, f"{pg.field} leaf value(s) say the value is unknown "
                    "(SPEED_UNKNOWN, a saturated ifSpeed …; ignored, counted: the end counts as unreported)")
                   for g, pg in enumerate(PORT_GAUGES) if pg.unknown]
        ok = bps > 0.0
        if ok.sum() > 1:  # a record with several values of one gauge: the preferred spelling (lowest code) wins
            k_ok = np.flatnonzero(ok)
            r_ok = rec_of[sidx[k_ok]]
            f_ok = fam[k_ok]
            order = np.lexsort((scodes[k_ok], r_ok))
            dup = np.zeros(bps.shape[0], dtype=bool)
            dup[k_ok[order[1:]]] = (r_ok[order[1:]] == r_ok[order[:-1]]) & (f_ok[order[1:]] == f_ok[order[:-1]])
            ok &= ~dup
            for g, pg in enumerate(PORT_GAUGES):
                ignored.append((dup & (fam == g), pg.superseded, f"{pg.field} leaf value(s) are superseded by the "
                                "record's preferred one (one row; see telemetry_adapters.paths.PORT_GAUGES)"))
        for mask, reason, why in ignored:
            if mask.any():
                n_sp = np.bincount(rec_of[sidx[mask]], minlength=R)
                for r in np.flatnonzero(n_sp).tolist():
                    handled[r] = True
                    reject(r, reason, f"{int(n_sp[r])} {why}", int(n_sp[r]))
        apart_idx.append(sidx[ok])
        apart_val.append(bps[ok])
    n_apart = sum(a.shape[0] for a in apart_idx)
    if n_apart:  # merged back in leaf order, so rows come out as the fast path emits them
        fidx = np.concatenate([fidx, *apart_idx])
        order = np.argsort(fidx, kind="stable")
        fidx = fidx[order]
        fcodes = codes[fidx]
        u64 = np.concatenate([u64, np.zeros(n_apart, dtype=np.uint64)])[order]
        f64 = np.concatenate([f64, *apart_val])[order]

    # IGP metrics of a topology the twin does not route (IS-IS level 1, IPv6 …): ignored, counted per record
    other = (codes == IGP_OTHER) & live
    if other.any():
        n_oth = np.bincount(rec_of[other], minlength=R)
        for r in np.flatnonzero(n_oth).tolist():
            handled[r] = True
            reject(r, Reason.IGP_OTHER_TOPOLOGY, f"{int(n_oth[r])} IGP metric leaf value(s) of IS-IS level 1 or an "
                   "address family other than IPv4 unicast (ignored, counted: the twin routes level 2 IPv4 unicast; "
                   "see telemetry_adapters.igp)", int(n_oth[r]))
    # a port's leaves in a record that names no port (a list key or tag the adapters do not know): refused, never
    # booked to the device, where every port's counters would interleave under one key
    no_port = np.fromiter(map(not_, interface), dtype=bool, count=R)
    if no_port.any() and fidx.size:
        orphan = no_port[rec_of[fidx]] & _PORT_FIELD[fcodes]
        if orphan.any():
            n_orph = np.bincount(rec_of[fidx[orphan]], minlength=R)
            for r in np.flatnonzero(n_orph).tolist():
                rejected[r] = True
                reject(r, Reason.MISSING_INTERFACE, f"{int(n_orph[r])} leaf value(s) of a port (counters, state, "
                       f"speed, IGP metric) in a record of device {recs.device[r]!r} that names no port: no interface "
                       "tag or list key the adapters know (telemetry_adapters.paths.INTERFACE_KEYS, INTERFACE_LISTS)")
            keep = ~orphan
            fidx, fcodes, u64, f64 = fidx[keep], fcodes[keep], u64[keep], f64[keep]
    rows = rec_of[fidx]
    # records that produced nothing and were not rejected: say why
    produced = np.zeros(R, dtype=bool)
    produced[rows] = True
    for r in np.flatnonzero(~produced & ~rejected & ~handled).tolist():
        if counts[r] == 0:
            reject(r, Reason.EMPTY, "record carries no values")
        else:
            some = list(leaves[r])[:3]
            reject(r, Reason.UNKNOWN_PATH, f"no interface counter or gauge leaf among {int(counts[r])} leaves "
                   f"(e.g. {some}); see telemetry_adapters.paths.LEAF_TABLE")
    # unmapped leaves of records that did produce rows (or ignored ones): counted per leaf, one rejection per record
    unm = codes == UNMAPPED
    if unm.any():
        n_unm = np.bincount(rec_of[unm], minlength=R)
        for r in np.flatnonzero((produced | handled) & (n_unm > 0)).tolist():
            reject(r, Reason.UNMAPPED_LEAF, unmapped_leaf_detail(int(n_unm[r])), int(n_unm[r]))

    dev = np.array(recs.device, dtype=object) if R else np.empty(0, dtype=object)
    ifs = np.array(interface, dtype=object)
    m = len(rows)
    src_col = np.empty(m, dtype=object)
    src_col.fill(source)
    net_col = np.empty(m, dtype=object)
    net_col.fill(config.network)
    batch = SampleBatch(
        device=dev[rows],
        interface=ifs[rows],
        field=_FIELD_NAMES_ARR[fcodes],
        ts_ns=ts[rows],
        value_u64=u64,
        value_f64=f64,
        kind=_FIELD_BITS_ARR[fcodes],
        epoch_ns=epoch[rows],
        has_epoch=has_epoch[rows],
        source=src_col,
        network=net_col,
    )
    return batch, rejections, np.asarray(recs.msg, dtype=np.intp)[rows]


#: :func:`link_state_codes` values besides up (1.0) and down (0.0)
_LS_UNKNOWN, _LS_BAD = -1.0, -2.0
_LS_CACHE: dict[Any, float] = {}


def link_state_codes(values: list[Any]) -> npt.NDArray[np.float64]:
    """Link-state leaf values → ``(n,)`` float64: 1.0 up, 0.0 down, -1.0 explicit unknown, -2.0 names no state.

    One C-speed dict lookup per value (a bounded cache of the distinct values seen); only a
    value never seen before goes through :func:`~telemetry_adapters.link_state.link_state`.

    >>> link_state_codes(["UP", "DOWN", 1, "UNKNOWN", "sideways", True]).tolist()
    [1.0, 0.0, 1.0, -1.0, -2.0, -2.0]
    >>> link_state_codes(["UP", ["UP"], {"v": 1}]).tolist()
    [1.0, -2.0, -2.0]
    """
    if bool in set(map(type, values)):  # True == 1 as a dict key: booleans name no state, never IF-MIB up
        return np.array([_LS_BAD if type(v) is bool else link_state_codes([v])[0] for v in values], dtype=np.float64)
    cache = _LS_CACHE
    try:
        out = list(map(cache.get, values))
    except TypeError:  # an unhashable value (a list or object where a state belongs): look each one up on its own
        out = [cache.get(v) if isinstance(v, Hashable) else None for v in values]
    if None in out:
        if len(cache) > 10_000:
            cache.clear()
        for j, v in enumerate(out):
            if v is None:
                try:
                    hash(values[j])
                except TypeError:  # a list or object where a state belongs
                    out[j] = _LS_BAD
                    continue
                st = link_state(values[j])
                out[j] = cache[values[j]] = _LS_BAD if st is None else _LS_UNKNOWN if st is UNKNOWN else float(st)
    return np.array(out, dtype=np.float64)


#: :func:`gauge_values` values besides a gauge's value (> 0)
_SP_UNKNOWN, _SP_BAD = -1.0, -2.0
_SP_CACHE: dict[int, dict[Any, float]] = {}


def gauge_values(values: list[Any], codes: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
    """Port-gauge leaf values (``codes``: their field codes, :data:`~telemetry_adapters.paths.PORT_GAUGE`) →
    ``(n,)`` float64: the value (> 0: a speed in bit/s, an IGP metric), -1.0 unknown, -2.0 gives none (see
    :func:`~telemetry_adapters.speed.speed_bps`, :func:`~telemetry_adapters.igp.igp_metric`).

    One C-speed dict lookup per value (a bounded cache per code of the distinct values seen); only a value never
    seen before goes through the port gauge's reader.

    >>> from twinwatch.telemetry_adapters.paths import map_path
    >>> c = np.array([map_path(x) for x in ("port-speed", "ifHighSpeed", "ifHighSpeed", "ifSpeed", "ifHighSpeed",
    ...                                     "igp_metric", "igp_metric")], dtype=np.int16)
    >>> gauge_values(["SPEED_10GB", 20000, True, 4294967295, [1], "10", 1.5], c).tolist()
    [10000000000.0, 20000000000.0, -2.0, -1.0, -2.0, 10.0, -2.0]
    """
    out = np.empty(len(values), dtype=np.float64)
    for code in np.unique(codes).tolist():
        pos = np.flatnonzero(codes == code)
        sel = _pick(values, pos)
        cache = _SP_CACHE.setdefault(code, {})
        got: list[float | None] | None
        try:  # True == 1 as a dict key: a boolean is no speed, never 1 Mb/s (one by one, as is an unhashable value)
            got = None if bool in set(map(type, sel)) else list(map(cache.get, sel))
        except TypeError:  # an unhashable value (a list or object where a speed belongs)
            got = None
        if got is None:
            got = [_speed_cached(cache, v) for v in sel]
        if None in got:
            if len(cache) > 10_000:
                cache.clear()
            scale = GAUGE_SCALE[code]
            read = PORT_GAUGES[PORT_GAUGE[code]].read
            for j, v in enumerate(got):
                if v is None:
                    sp = read(sel[j], scale)
                    got[j] = cache[sel[j]] = _SP_BAD if sp is None else _SP_UNKNOWN if sp is UNKNOWN else float(sp)
        out[pos] = got
    return out


def _speed_cached(cache: dict[Any, float], value: Any) -> float | None:
    """``cache[value]`` (None: not seen yet), or :data:`_SP_BAD` for a boolean or an unhashable value."""
    if type(value) is bool:
        return _SP_BAD
    try:
        return cache.get(value)
    except TypeError:
        return _SP_BAD


def unmapped_leaf_detail(n: int) -> str:
    """Detail of the ``unmapped_leaf`` rejection of a record with ``n`` leaves this project does not map."""
    return (f"{n} leaf value(s) of this record map to no counter or gauge (ignored, counted); "
            "see telemetry_adapters.paths.LEAF_TABLE")  # fmt: skip


def epoch_in_range(
    codes: npt.NDArray[np.int16], values: npt.NDArray[np.uint64], ts: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Which integer epoch leaves give a marker in [1970, 2262) (codes, values and record ts aligned);
    the others are left to :func:`parse_epoch_ns`, which rejects them."""
    v = values.astype(np.float64)
    t = ts.astype(np.float64)
    ns = np.where(v < 1e11, v * 1e9, np.where(v < 1e14, v * 1e6, np.where(v < 1e17, v * 1e3, v)))
    ok = np.where(codes == EPOCH_ABS, ns < 9.2e18, True)
    ok &= np.where(codes == EPOCH_ABS_S, v * 1e9 < 9.2e18, True)
    ok &= np.where(codes == EPOCH_REL_S, v * 1e9 <= t, True)
    ok &= np.where(codes == EPOCH_REL_CS, v * 1e7 <= t, True)
    return ok & (values <= np.uint64(2**62))


def epochs_vectorised(
    eidx: npt.NDArray[np.intp],
    codes: npt.NDArray[np.int16],
    values: npt.NDArray[np.uint64],
    rec_of: npt.NDArray[np.intp],
    ts: npt.NDArray[np.int64],
    epoch: npt.NDArray[np.int64],
    has_epoch: npt.NDArray[np.bool_],
) -> None:
    """Integer epoch leaves (``values`` aligned with ``eidx``) → epoch ns per record, best priority wins."""
    c = codes[eidx]
    v = values.astype(np.int64)
    r = rec_of[eidx]
    t = ts[r]
    e = np.empty(len(eidx), dtype=np.int64)
    absm = c == EPOCH_ABS
    if absm.any():  # ns, or s/ms/us by magnitude (see to_ns_by_magnitude)
        va = v[absm]
        e[absm] = np.where(
            va < 10**11, va * 10**9, np.where(va < 10**14, va * 10**6, np.where(va < 10**17, va * 1000, va))
        )
    m = c == EPOCH_ABS_S
    e[m] = v[m] * 10**9
    m = c == EPOCH_REL_S
    e[m] = np.round(t[m] / 1e9 - v[m]).astype(np.int64) * 10**9
    m = c == EPOCH_REL_CS
    e[m] = np.round(t[m] / 1e9 - v[m] / 100.0).astype(np.int64) * 10**9
    # assign worst priority first so the best one (EPOCH_ABS) is written last and wins
    order = np.argsort(c, kind="stable")  # EPOCH_REL_CS (-5) < ... < EPOCH_ABS (-2)
    epoch[r[order]] = e[order]
    has_epoch[r] = True


def _epochs_slow(
    eidx: npt.NDArray[np.intp],
    codes: npt.NDArray[np.int16],
    keys: list[str],
    vals: list[Any],
    rec_of: npt.NDArray[np.intp],
    ts: npt.NDArray[np.int64],
    epoch: npt.NDArray[np.int64],
    has_epoch: npt.NDArray[np.bool_],
    reject: Any,
) -> None:
    """Per-leaf epoch parsing (strings with dates, floats, bad values) with rejections."""
    best: dict[int, int] = {}
    for i in eidx.tolist():
        r = int(rec_of[i])
        c = int(codes[i])
        if r in best and _EPOCH_PRIORITY[best[r]] <= _EPOCH_PRIORITY[c]:
            continue
        e = parse_epoch_ns(c, vals[i], int(ts[r]))
        if e is None:
            numeric = as_number(vals[i]) is not None
            why = "out of range (before 1970 or after 2262)" if numeric else "unparseable"
            reject(r, Reason.OUT_OF_RANGE if numeric else Reason.WRONG_TYPE,
                   f"discontinuity leaf {keys[i]!r} value {vals[i]!r} is {why}")
            continue
        best[r] = c
        epoch[r] = e
        has_epoch[r] = True
