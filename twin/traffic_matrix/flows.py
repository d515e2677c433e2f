"""Traffic matrix of one window from (sampled) flow records: :func:`matrix_from_flows`.

Input is columnar, one ``(R,)`` array per field, as goflow2 exports them once
the inventory's longest-prefix match has turned the source and destination
addresses into node numbers (``-1`` = no node matched; such records are counted,
not used).

Estimator. A record from a 1-in-``n`` packet sampler carries the ``k`` sampled
packets' ``b`` bytes; the flow's bytes are estimated as ``n b``. A flow that
spans beyond the window contributes pro rata to its overlap with the window
(uniform rate over ``[flow_start, flow_end]``); a record with
``flow_end == flow_start`` (sFlow samples) counts wholly when ``start <=
flow_start < end``. Rates are bits over the window length.

Sampling error. For independent 1-in-``n`` packet sampling, the estimator
``n Σ s_i`` over the sampled packets has variance ``≈ n (n - 1) Σ s_i²``.
A record holds only ``b`` and ``k``, so ``s_i`` is approximated by the record's
mean packet size ``b / k``, giving ``n (n - 1) b² / k`` per record (times the
pro-rata fraction squared). By Cauchy–Schwarz this *under*-states the variance
when packet sizes within a record vary (``Σ s_i² >= (Σ s_i)² / k``); it is
exact for constant-size packets. Records are independent, so variances add per
entry. Unsampled records (``n = 1``) contribute no error. Flow-level sampling
of whole flows and exporter cache effects are not modelled.

Examples
--------
>>> import numpy as np
>>> tm, stats = matrix_from_flows(
...     n_nodes=2, start=0.0, end=10.0,
...     src_node=np.array([0, 0, -1]), dst_node=np.array([1, 1, 0]),
...     bytes_count=np.array([1000.0, 500.0, 9.0]), packets_count=np.array([1.0, 1.0, 1.0]),
...     flow_start_s=np.array([1.0, 5.0, 1.0]), flow_end_s=np.array([1.0, 15.0, 1.0]),
...     sampling_rate=np.array([100, 0, 1]))
>>> float(tm.rate_bps[0, 0, 1])  # (100 * 1000 + 500 * 5 / 10) * 8 / 10 s
80200.0
>>> stats.used, stats.unmapped
(2, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.twin.traffic_matrix.matrix import N_CLASSES, Source, TrafficMatrix, TrafficMatrixError

__all__ = ["DEFAULT_DSCP_CLASS", "FlowAggregation", "matrix_from_flows"]


def _default_dscp_class() -> np.ndarray:
    cls = np.full(64, 2, dtype=np.int8)  # best effort and everything unlisted: class 2 (lowest priority)
    cls[[40, 46, 48, 56]] = 0  # CS5, EF, CS6, CS7: class 0 (highest priority, as in the simulator)
    cls[[24, 26, 28, 30, 32, 34, 36, 38]] = 1  # CS3, AF3x, CS4, AF4x
    cls.flags.writeable = False
    return cls


DEFAULT_DSCP_CLASS: np.ndarray = _default_dscp_class()
"""``(64,)`` int8 DSCP → ToS class: EF/CS5–CS7 → 0, CS3/CS4/AF3x/AF4x → 1, the rest → 2."""


@dataclass(frozen=True, slots=True)
class FlowAggregation:
    """What happened to the window's flow records.

    Counts are records; the categories are disjoint and add up to ``records``
    (``invalid``, ``outside_window``, ``unmapped``, ``intra_node``, ``not_ingress``, ``used``).
    Bytes are estimated bytes (sampling-scaled, pro rata to the window).
    """

    records: int
    """Records given."""
    used: int
    """Records that contributed to the matrix."""
    unmapped: int
    """Records inside the window whose source or destination node is ``-1`` (no prefix matched)."""
    unmapped_bytes: float
    """Estimated bytes of the unmapped records inside the window."""
    intra_node: int
    """Records with ``src == dst`` (dropped: the diagonal is zero by definition)."""
    outside_window: int
    """Records that do not overlap the window."""
    invalid: int
    """Records with non-finite or negative bytes/packets/times, ``flow_end < flow_start`` or a negative rate."""
    not_ingress: int
    """Records exported by a node other than their source node (dropped to avoid double counting)."""


def _f64(x: np.ndarray, r: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (r,):
        raise TrafficMatrixError(f"{name}: shape {arr.shape}, expected ({r},) like src_node")
    return arr


def _i64(x: np.ndarray, r: int, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (r,) or not np.issubdtype(arr.dtype, np.integer):
        raise TrafficMatrixError(f"{name}: shape {arr.shape} dtype {arr.dtype}, expected ({r},) integers")
    return arr.astype(np.int64, copy=False)


def matrix_from_flows(
    *,
    n_nodes: int,
    start: float,
    end: float,
    src_node: np.ndarray,
    dst_node: np.ndarray,
    bytes_count: np.ndarray,
    packets_count: np.ndarray,
    flow_start_s: np.ndarray,
    flow_end_s: np.ndarray,
    sampling_rate: np.ndarray | None = None,
    dscp: np.ndarray | None = None,
    dscp_to_class: np.ndarray = DEFAULT_DSCP_CLASS,
    exporter_node: np.ndarray | None = None,
    bytes_scaled: bool = False,
) -> tuple[TrafficMatrix, FlowAggregation]:
    """Aggregate the flow records of the window ``[start, end)`` into a :class:`TrafficMatrix`.

    Parameters
    ----------
    n_nodes
        ``N``; node numbers are ``0..N-1``.
    start, end
        The window, epoch seconds.
    src_node, dst_node
        ``(R,)`` int node numbers, ``-1`` when the address matched no node.
    bytes_count, packets_count
        ``(R,)`` bytes and packets as the exporter reports them (the sampled packets' totals).
    flow_start_s, flow_end_s
        ``(R,)`` flow start and end, epoch seconds (goflow2's ``time_flow_*_ns`` / 1e9).
    sampling_rate
        ``(R,)`` int 1-in-N packet sampling rate; ``0`` means unsampled (goflow2's convention), as does ``None``.
    dscp
        ``(R,)`` int DSCP (``0..63``, i.e. the ToS byte ``>> 2``); ``None`` puts every record in class 0.
    dscp_to_class
        ``(64,)`` int ToS class (``0..2``) per DSCP value.
    exporter_node
        ``(R,)`` int node number of the exporting router; when given, only records exported by their
        source (ingress) node are used, so a flow seen by several routers is counted once.
    bytes_scaled
        ``True`` when bytes and packets are already multiplied by the sampling rate (as the adapters'
        ``FlowBatch`` is); the error estimate then recovers the sampled counts by dividing.

    Returns
    -------
    The matrix (every off-diagonal entry :attr:`Source.FLOWS`, ``std_bps`` = sampling error) and
    the record counts.
    """
    if not end > start:
        raise TrafficMatrixError(f"window: end {end} must be after start {start}")
    src = np.asarray(src_node)
    r = src.shape[0] if src.ndim == 1 else -1
    src = _i64(src, r, "src_node")
    dst = _i64(dst_node, r, "dst_node")
    b = _f64(bytes_count, r, "bytes_count")
    k = _f64(packets_count, r, "packets_count")
    t0 = _f64(flow_start_s, r, "flow_start_s")
    t1 = _f64(flow_end_s, r, "flow_end_s")
    rate = np.ones(r) if sampling_rate is None else _i64(sampling_rate, r, "sampling_rate").astype(np.float64)
    table = np.asarray(dscp_to_class, dtype=np.int64)
    if table.shape != (64,) or table.min() < 0 or table.max() >= N_CLASSES:
        raise TrafficMatrixError(f"dscp_to_class: must be (64,) classes in 0..{N_CLASSES - 1}")
    if dscp is None:
        cls = np.zeros(r, dtype=np.int64)
    else:
        code = _i64(dscp, r, "dscp")
        bad = np.flatnonzero((code < 0) | (code > 63))
        if bad.size:
            raise TrafficMatrixError(f"dscp[{bad[0]}] = {code[bad[0]]}: must be 0..63")
        cls = table[code]
    for name, arr in (("src_node", src), ("dst_node", dst)):
        bad = np.flatnonzero((arr < -1) | (arr >= n_nodes))
        if bad.size:
            raise TrafficMatrixError(f"{name}[{bad[0]}] = {arr[bad[0]]}: must be -1 (unmapped) or 0..{n_nodes - 1}")

    invalid = ~(np.isfinite(b) & np.isfinite(k) & np.isfinite(t0) & np.isfinite(t1))
    invalid |= (b < 0) | (k < 0) | (t1 < t0) | (rate < 0)
    n = np.maximum(rate, 1.0)
    # pro-rata fraction of each record inside the window
    span = t1 - t0
    overlap = np.maximum(np.minimum(t1, end) - np.maximum(t0, start), 0.0)
    instant = span <= 0
    frac = np.where(instant, ((t0 >= start) & (t0 < end)).astype(np.float64), overlap / np.where(instant, 1.0, span))
    frac[invalid] = 0.0
    inside = frac > 0
    raw_b = b / n if bytes_scaled else b
    raw_k = k / n if bytes_scaled else k
    est_bytes = n * raw_b * frac
    var_bytes = n * (n - 1.0) * raw_b**2 / np.maximum(raw_k, 1.0) * frac**2

    unmapped = (src < 0) | (dst < 0)
    ok = inside & ~unmapped
    intra = ok & (src == dst)
    ok &= ~intra
    not_ingress = np.zeros(r, dtype=bool)
    if exporter_node is not None:
        exp = _i64(exporter_node, r, "exporter_node")
        not_ingress = ok & (exp != src)
        ok &= ~not_ingress

    size = N_CLASSES * n_nodes * n_nodes
    idx = (cls * n_nodes + src) * n_nodes + dst
    window = end - start
    rate_bps = np.bincount(idx[ok], weights=est_bytes[ok], minlength=size) * (8.0 / window)
    var = np.bincount(idx[ok], weights=var_bytes[ok], minlength=size) * (8.0 / window) ** 2
    shape = (N_CLASSES, n_nodes, n_nodes)
    tm = TrafficMatrix.build(rate_bps.reshape(shape), std_bps=np.sqrt(var).reshape(shape), source=Source.FLOWS,
                             start=start, end=end)  # fmt: skip
    stats = FlowAggregation(
        records=int(r),
        used=int(ok.sum()),
        unmapped=int((unmapped & inside).sum()),
        unmapped_bytes=float(est_bytes[unmapped & inside].sum()),
        intra_node=int(intra.sum()),
        outside_window=int((~inside & ~invalid).sum()),
        invalid=int(invalid.sum()),
        not_ingress=int(not_ingress.sum()),
    )
    return tm, stats
