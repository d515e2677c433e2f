"""Tests of the window's traffic itself: surges towards one destination, traffic the flow records miss.

The twin predicts KPIs *from* the window's traffic matrix, so an anomaly in the
traffic itself leaves no residual against the twin once the matrix has absorbed
it: a surge measured by the counters is in the counter-fitted matrix, and the twin
then predicts the higher utilisation correctly. These tests look at the matrix
instead, per node, against each node's own recent history:

* **destination ingress** (:func:`destination_bps`): the traffic towards each node
  (column sums of the matrix, bit/s). A flash crowd or DDoS multiplies it within a
  window or two; the diurnal cycle moves it by a few per cent per ten minutes.
  Scored as ``log`` of the rate, normalised by the node's own recent healthy windows
  (:class:`~twinwatch.detectors.conformal.ConformalCalibrator` tracks the location
  and scale), upper side.
* **flows against counters** (:func:`origin_bps` with :class:`CounterReference`):
  on a window whose matrix rows come from flow records (:attr:`Source.FLOWS`), the
  traffic a router originates according to its own flow export, against the same
  row estimated from the link counters on the recent windows without flows
  (tomogravity with the flows as prior). A router that stops exporting part or all
  of its traffic (an exporter misconfigured, a sampling change, a line card's
  export lost) keeps forwarding it: its counters still count it, its flow row
  falls. Scored as ``log(flows / counters reference)``, lower side.

Both raise ``traffic_anomaly`` alerts (informational: the traffic is unusual or
unmeasured; never a network fault), with the node's links as suspects.

Units: bit/s; shapes ``N`` nodes, ``E`` links, ``C`` ToS classes.

Examples
--------
>>> from twinwatch.twin.traffic_matrix import Source, TrafficMatrix
>>> tm = np.zeros((3, 3, 3)); tm[0, 0, 2] = 5e6; tm[2, 1, 2] = 1e6   # (class, src, dst) bit/s
>>> m = TrafficMatrix.build(tm, start=0.0, end=10.0, source=Source.FLOWS)
>>> destination_bps(m).tolist(), origin_bps(m).tolist()
([0.0, 0.0, 6000000.0], [5000000.0, 1000000.0, 0.0])
>>> flow_rows(m).tolist()
[True, True, True]
>>> ref = CounterReference(3, depth=4)
>>> for x in (4e6, 5e6, 6e6):
...     ref.update(np.array([x, 1e6, np.nan]))   # node 2: no counter estimate
>>> ref.reference().tolist()          # median of the counter windows held, per node
[5000000.0, 1000000.0, nan]
"""

from __future__ import annotations

import io

import numpy as np
from scipy import stats

from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

__all__ = ["NODE_POOL_PRIOR", "NODE_PRIOR_COUNT", "CounterReference", "destination_bps", "flow_rows", "origin_bps",
           "ranked_links"]

NODE_POOL_PRIOR = stats.t.ppf((np.arange(4096) + 0.5) / 4096, df=3) / np.sqrt(3.0)
"""Reference normalised scores seeding the pools of per-node tests: a unit-variance Student-t with 3 degrees
of freedom (heavier tails than the scores measured on development runs, hence conservative)."""

NODE_PRIOR_COUNT = 4096.0
"""Weight of :data:`NODE_POOL_PRIOR` in a pool, in scores (fades as real scores accumulate)."""


def destination_bps(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` traffic towards each node (sum over classes and sources), bit/s."""
    return np.asarray(traffic.total_bps().sum(axis=0), dtype=np.float64)


def origin_bps(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` traffic originated at each node (sum over classes and destinations), bit/s."""
    return np.asarray(traffic.total_bps().sum(axis=1), dtype=np.float64)


def flow_rows(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` bool: the node's row of the matrix was measured from its flow records (:attr:`Source.FLOWS`)."""
    src = np.asarray(traffic.source)
    return np.asarray((src == int(Source.FLOWS)).any(axis=(0, 2)), dtype=bool)


def ranked_links(link_node: np.ndarray, node: int, weight: np.ndarray, link_ids: list[str],
                 n: int = 3) -> list[dict[str, object]]:
    """The ``n`` links whose ``link_node`` (e.g. ``link_dst``) is ``node``, heaviest ``weight`` first.

    ``weight`` is ``(E,)`` (e.g. observed bit/s; NaN counts as 0); scores are normalised to the largest.
    """
    idx = np.flatnonzero(np.asarray(link_node) == node)
    if idx.size == 0:
        return []
    w = np.nan_to_num(np.asarray(weight, dtype=np.float64)[idx], nan=0.0)
    order = idx[np.argsort(-w, kind="stable")][:n]
    top = float(max(np.nan_to_num(weight[order[0]], nan=0.0), 0.0)) or 1.0
    return [{"link": link_ids[int(i)], "score": round(max(float(np.nan_to_num(weight[i], nan=0.0)), 0.0) / top, 4)}
            for i in order]


class CounterReference:
    """Per node, the median of its last ``depth`` counter-estimated values (a robust reference).

    A median of a few windows ignores one window spoiled by a counter reset or a late sample;
    ``depth`` windows of 10 s follow the diurnal cycle closely. State: ``depth`` float32 per node.
    """

    def __init__(self, n_entities: int, *, depth: int = 6) -> None:
        if depth < 1:
            raise ValueError(f"CounterReference: depth must be >= 1, got {depth}")
        self.n_entities, self.depth = int(n_entities), int(depth)
        self._ring = np.full((self.depth, self.n_entities), np.nan, dtype=np.float32)
        self._pos = 0

    def update(self, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Add one window's ``(n,)`` values (NaN, or ``mask`` False: this node keeps its older values)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.n_entities,):
            raise ValueError(f"CounterReference.update: values shape {v.shape} != ({self.n_entities},)")
        keep = np.isfinite(v) if mask is None else np.isfinite(v) & np.asarray(mask, dtype=bool)
        row = self._ring[self._pos % self.depth]
        # a node without a value this window keeps the slot's older value: shift nothing, overwrite where known
        row[keep] = v[keep]
        self._pos += 1

    def reference(self) -> np.ndarray:
        """``(n,)`` median of the values held (NaN where none)."""
        if not np.isfinite(self._ring).any():
            return np.full(self.n_entities, np.nan)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.asarray(np.nanmedian(self._ring.astype(np.float64), axis=0), dtype=np.float64)

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, ring=self._ring, pos=np.array([self._pos], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CounterReference:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            ring = z["ring"]
            obj = cls(int(ring.shape[1]), depth=int(ring.shape[0]))
            obj._ring = ring.copy()
            obj._pos = int(z["pos"][0])
        return obj
