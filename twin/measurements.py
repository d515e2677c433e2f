"""The observed measurements of one window, columnar, and their mapping onto the network model.

:class:`Measurements` holds the rows of the Measurement contract
(ARCHITECTURE.md) that the twin needs — ``ts``, ``entity_kind``,
``entity_id``, ``kpi``, ``value``, ``flags`` — as ``(M,)`` NumPy arrays. It is
built from plain columns (a mapping of arrays or a ``pyarrow.Table``), so the
twin never imports ``telemetry_adapters``.

:func:`map_measurements` turns the rows into arrays aligned with the network
model's link numbers (and, for path rows, node pairs), and says which devices
were heard and which rows named something the model does not know. Work is
per row in NumPy; Python touches only the *distinct* entity ids (a few per
link), never every row.

Entity ids (the adapters' conventions): ``link`` ``"a->b"`` (the model's link
id), ``path`` ``"src->dst"`` (device names), ``interface``
``"device:interface"``, ``node`` ``"device"``. A link row's KPI is reported by
the link's egress device (``tx_*``, ``drop_pps``, ``utilization``,
``queue_occupancy``, ``loss_ratio``) or by its ingress device (``rx_*``,
``error_pps``); that device is *heard* in the window.

Examples
--------
>>> m = Measurements.from_columns({
...     "entity_kind": ["link", "link", "path", "link"],
...     "entity_id": ["a->b", "a->b", "a->b", "x->y"],
...     "kpi": ["tx_bps", "tx_bps", "delay_s", "tx_bps"],
...     "value": [1e6, 3e6, 0.01, 5.0]})
>>> len(m), m.flags.tolist()
(4, [0, 0, 0, 0])
>>> mm = map_measurements(m, {"a": 0, "b": 1}, {"a->b": 0, "b->a": 1}, link_src=[0, 1], link_dst=[1, 0])
>>> mm.link_mean["tx_bps"].tolist(), mm.heard.tolist(), mm.unknown_rows, mm.unknown_ids
([2000000.0, nan], [True, False], 1, ('link:x->y',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ENTITY_KINDS",
    "FLAG_GAP",
    "FLAG_RESET",
    "FLAG_WRAPPED",
    "LINK_OBSERVED_KPIS",
    "PATH_OBSERVED_KPIS",
    "MappedMeasurements",
    "Measurements",
    "MeasurementsError",
    "map_measurements",
]

ENTITY_KINDS = ("link", "interface", "path", "node")
"""Entity kinds of the Measurement contract."""

LINK_OBSERVED_KPIS = (
    "tx_bps", "rx_bps", "tx_pps", "rx_pps", "drop_pps", "error_pps", "utilization", "loss_ratio", "queue_occupancy",
)
"""Link KPIs kept per link (window mean of the rows)."""

PATH_OBSERVED_KPIS = ("delay_s", "jitter_s2", "loss_ratio")
"""Path KPIs kept per probed pair (window mean of the rows)."""

_INGRESS_KPIS = frozenset({"rx_bps", "rx_pps", "error_pps", "rx_oper_status", "rx_admin_status", "rx_speed_bps"})

FLAG_RESET, FLAG_WRAPPED, FLAG_GAP = 1, 2, 4
"""Bits of the ``flags`` column (the Measurement contract's RESET, WRAPPED, GAP)."""

_PATH_MARKER = "->"


class MeasurementsError(ValueError):
    """Measurement columns are missing or inconsistent; the message names the column."""


@dataclass(frozen=True, eq=False)
class Measurements:
    """Columnar Measurement rows of one window.

    Attributes
    ----------
    ts
        ``(M,)`` float64 epoch seconds (NaN when not given).
    entity_kind, entity_id, kpi
        ``(M,)`` str arrays (NumPy unicode).
    value
        ``(M,)`` float64 in SI units (bits/s, packets/s, seconds, ratios 0..1).
    flags
        ``(M,)`` uint8 bitmask: :data:`FLAG_RESET`, :data:`FLAG_WRAPPED`, :data:`FLAG_GAP`.
    """

    ts: np.ndarray
    entity_kind: np.ndarray
    entity_id: np.ndarray
    kpi: np.ndarray
    value: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return int(self.value.shape[0])

    @classmethod
    def empty(cls) -> Measurements:
        """No rows."""
        return cls.from_columns({"entity_kind": [], "entity_id": [], "kpi": [], "value": []})

    @classmethod
    def from_columns(cls, data: Mapping[str, Any] | Any) -> Measurements:
        """Rows from a mapping of column name → array-like, or a ``pyarrow.Table``.

        Required: ``entity_kind``, ``entity_id``, ``kpi``, ``value``; optional
        ``ts`` (NaN) and ``flags`` (0). Other columns (``network``,
        ``source``, ...) are ignored.

        Raises
        ------
        MeasurementsError
            A required column is missing or the columns differ in length.
        """
        names = list(data.column_names) if hasattr(data, "column_names") else list(data.keys())

        def col(name: str) -> np.ndarray | None:
            if name not in names:
                return None
            c = data.column(name) if hasattr(data, "column_names") else data[name]
            if hasattr(c, "to_numpy"):
                c = c.to_numpy(zero_copy_only=False) if hasattr(c, "chunks") else c.to_numpy()
            return np.asarray(c)

        out: dict[str, np.ndarray] = {}
        for name in ("entity_kind", "entity_id", "kpi", "value"):
            c = col(name)
            if c is None:
                raise MeasurementsError(f"measurements: column {name!r} is missing (have {sorted(names)})")
            out[name] = c
        m = out["value"].shape[0]
        ts, flags = col("ts"), col("flags")
        out["ts"] = np.full(m, np.nan) if ts is None else ts
        out["flags"] = np.zeros(m, dtype=np.uint8) if flags is None else flags
        for name, c in out.items():
            if c.shape != (m,):
                raise MeasurementsError(
                    f"measurements: column {name!r} has shape {c.shape}, expected ({m},) like 'value'"
                )
        return cls(
            ts=out["ts"].astype(np.float64, copy=False),
            entity_kind=out["entity_kind"].astype(str),
            entity_id=out["entity_id"].astype(str),
            kpi=out["kpi"].astype(str),
            value=out["value"].astype(np.float64, copy=False),
            flags=out["flags"].astype(np.uint8, copy=False),
        )


@dataclass(frozen=True, eq=False)
class MappedMeasurements:
    """Rows mapped onto the model (see :func:`map_measurements`).

    Attributes
    ----------
    link_mean
        KPI → ``(E,)`` float64 window mean per link (NaN: no row), for :data:`LINK_OBSERVED_KPIS`.
    pair_src, pair_dst
        ``(K,)`` int64 node pairs with path rows.
    pair_mean
        KPI → ``(K,)`` float64 window mean per pair, for :data:`PATH_OBSERVED_KPIS`.
    heard
        ``(N,)`` bool, the device reported something in the window.
    rows, unknown_rows, nonfinite_rows, flagged_rows
        Row counts: all, naming an entity not in the model (or an unknown
        entity kind), with a non-finite value (not used), with any flag set.
    unknown_ids
        Distinct ``"kind:id"`` not in the model, sorted.
    """

    link_mean: dict[str, np.ndarray]
    pair_src: np.ndarray
    pair_dst: np.ndarray
    pair_mean: dict[str, np.ndarray]
    heard: np.ndarray
    rows: int
    unknown_rows: int
    nonfinite_rows: int
    flagged_rows: int
    unknown_ids: tuple[str, ...]


def _lookup(ids: np.ndarray, table: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(M,)`` numbers of ``ids`` in ``table`` (-1 unknown), plus the distinct unknown ids."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), ids
    uniq, inv = np.unique(ids, return_inverse=True)
    num = np.fromiter((table.get(u, -1) for u in uniq.tolist()), dtype=np.int64, count=uniq.size)
    return num[inv.ravel()], uniq[num < 0]


def _split_pairs(ids: np.ndarray, node_index: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(M,)`` src and dst node numbers of ``"src->dst"`` ids (-1 unknown), plus the distinct unknown ids."""
    if ids.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, ids
    uniq, inv = np.unique(ids, return_inverse=True)
    parts = [u.split(_PATH_MARKER, 1) for u in uniq.tolist()]
    s = np.fromiter((node_index.get(p[0], -1) if len(p) == 2 else -1 for p in parts), dtype=np.int64, count=uniq.size)
    d = np.fromiter((node_index.get(p[1], -1) if len(p) == 2 else -1 for p in parts), dtype=np.int64, count=uniq.size)
    bad = (s < 0) | (d < 0) | (s == d)
    s, d = np.where(bad, -1, s), np.where(bad, -1, d)
    return s[inv.ravel()], d[inv.ravel()], uniq[bad]


def _group_mean(key: np.ndarray, value: np.ndarray, size: int) -> np.ndarray:
    cnt = np.bincount(key, minlength=size)
    tot = np.bincount(key, weights=value, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def map_measurements(
    m: Measurements,
    node_index: Mapping[str, int],
    link_index: Mapping[str, int],
    *,
    link_src: np.ndarray | list[int],
    link_dst: np.ndarray | list[int],
) -> MappedMeasurements:
    """Map ``m`` onto a model's nodes (``node_index``: name → number) and links (``link_index``: id → number).

    ``link_src``/``link_dst`` are the ``(E,)`` link endpoints. Rows naming an
    unknown device, link or pair are counted (never an error); rows with a
    non-finite value are counted and left out of the means.
    """
    lsrc = np.asarray(link_src, dtype=np.int64)
    ldst = np.asarray(link_dst, dtype=np.int64)
    n, e = len(node_index), lsrc.shape[0]
    finite = np.isfinite(m.value)
    heard = np.zeros(n, dtype=bool)
    unknown: list[np.ndarray] = []
    unknown_rows = 0
    kind = m.entity_kind

    # links
    sel = np.flatnonzero(kind == "link")
    lno, bad = _lookup(m.entity_id[sel], link_index)
    unknown.append(np.char.add("link:", bad))
    unknown_rows += int((lno < 0).sum())
    ok = lno >= 0
    kpis = m.kpi[sel]
    ingress = np.isin(kpis, list(_INGRESS_KPIS))
    heard[np.where(ingress[ok], ldst[lno[ok]], lsrc[lno[ok]])] = True
    link_mean: dict[str, np.ndarray] = {}
    use = ok & finite[sel]
    for kpi in LINK_OBSERVED_KPIS:
        rows = use & (kpis == kpi)
        if rows.any():
            link_mean[kpi] = _group_mean(lno[rows], m.value[sel][rows], e)

    # paths
    sel = np.flatnonzero(kind == "path")
    ps, pd, bad = _split_pairs(m.entity_id[sel], node_index)
    unknown.append(np.char.add("path:", bad))
    unknown_rows += int((ps < 0).sum())
    use = (ps >= 0) & finite[sel]
    keys = ps[use] * max(n, 1) + pd[use]
    ukeys, pinv = np.unique(keys, return_inverse=True)
    pair_mean: dict[str, np.ndarray] = {}
    kp, vp = m.kpi[sel][use], m.value[sel][use]
    for kpi in PATH_OBSERVED_KPIS:
        rows = kp == kpi
        if rows.any():
            pair_mean[kpi] = _group_mean(pinv.ravel()[rows], vp[rows], ukeys.size)

    # interfaces ("device:ifname") and nodes ("device")
    for what in ("interface", "node"):
        sel = np.flatnonzero(kind == what)
        ids = m.entity_id[sel]
        if what == "interface" and ids.size:
            ids = np.char.partition(ids, ":")[:, 0]
        dno, bad = _lookup(ids, node_index)
        unknown.append(np.char.add(f"{what}:", bad))
        unknown_rows += int((dno < 0).sum())
        heard[dno[dno >= 0]] = True

    other = ~np.isin(kind, ENTITY_KINDS)
    if other.any():
        unknown_rows += int(other.sum())
        unknown.append(np.char.add("kind:", np.unique(kind[other])))
    ids = np.unique(np.concatenate([u.astype(str) for u in unknown])) if unknown else np.zeros(0, dtype=str)
    return MappedMeasurements(
        link_mean=link_mean,
        pair_src=(ukeys // max(n, 1)).astype(np.int64),
        pair_dst=(ukeys % max(n, 1)).astype(np.int64),
        pair_mean=pair_mean,
        heard=heard,
        rows=len(m),
        unknown_rows=unknown_rows,
        nonfinite_rows=int((~finite).sum()),
        flagged_rows=int((m.flags != 0).sum()),
        unknown_ids=tuple(ids.tolist()),
    )
