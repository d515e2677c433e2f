"""The traffic matrix of one window: :class:`TrafficMatrix` and its demand rows.

A traffic matrix holds, per ToS class, the mean rate (bit/s) offered between
every ordered pair of nodes during one closed window, a standard deviation per
entry saying how well that rate is known, and where each entry came from
(:class:`Source`). The diagonal is zero by definition: traffic that enters and
leaves at the same node never crosses the network.

Shapes (``C`` = :data:`N_CLASSES` ToS classes, ``N`` nodes):

- ``rate_bps``, ``std_bps``: ``(C, N, N)`` float64, bit/s, ``[tos, src, dst]``;
- ``source``: ``(C, N, N)`` uint8 :class:`Source` codes.

Examples
--------
>>> import numpy as np
>>> rate = np.zeros((3, 2, 2)); rate[0, 0, 1] = 1e6; rate[2, 1, 0] = 5e5
>>> tm = TrafficMatrix.build(rate, std_bps=0.1 * rate, source=Source.FLOWS, start=0.0, end=300.0)
>>> tm.total_bps().tolist()
[[0.0, 1000000.0], [500000.0, 0.0]]
>>> d = tm.to_demands()
>>> d.src.tolist(), d.dst.tolist(), d.tos.tolist(), d.rate_bps.tolist()
([0, 1], [1, 0], [0, 2], [1000000.0, 500000.0])
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

__all__ = ["N_CLASSES", "Demands", "Source", "TrafficMatrix", "TrafficMatrixError"]

N_CLASSES = 3
"""ToS classes per matrix (one per queue, as in :data:`twinwatch.twin.scenario.MAX_QUEUES`)."""


class TrafficMatrixError(ValueError):
    """A traffic matrix or its inputs are inconsistent; the message names the element and the rule."""


class Source(IntEnum):
    """Where a traffic-matrix entry came from."""

    NONE = 0
    """Nothing is known (e.g. a pair with no route and no flows)."""
    FLOWS = 1
    """Measured from (sampled) flow records."""
    COUNTERS = 2
    """Estimated from link counters (tomogravity)."""
    PRIOR = 3
    """The gravity prior alone (no link counter constrains the entry)."""


@dataclass(frozen=True, slots=True)
class Demands:
    """Columnar demand rows, one per non-zero (src, dst, tos) entry, for building ``Scenario`` flows.

    All arrays have shape ``(D,)``: ``src``, ``dst`` (int64 node numbers), ``tos`` (int8 class),
    ``rate_bps`` and ``std_bps`` (float64, bit/s), ``source`` (uint8 :class:`Source`).
    """

    src: np.ndarray
    dst: np.ndarray
    tos: np.ndarray
    rate_bps: np.ndarray
    std_bps: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True, slots=True)
class TrafficMatrix:
    """Per-class mean rates, their uncertainty and their source for one window.

    Use :meth:`build` (broadcasts and zeroes the diagonal) rather than the raw constructor.

    Parameters
    ----------
    rate_bps
        ``(C, N, N)`` mean rate, bit/s, indexed ``[tos, src, dst]``; finite, ``>= 0``, zero diagonal.
    std_bps
        ``(C, N, N)`` standard deviation of each entry, bit/s; finite, ``>= 0``.
    source
        ``(C, N, N)`` uint8 :class:`Source` code per entry.
    start, end
        The window, epoch seconds (``end > start``).
    """

    rate_bps: np.ndarray
    std_bps: np.ndarray
    source: np.ndarray
    start: float
    end: float

    def __post_init__(self) -> None:
        shape = self.rate_bps.shape
        if self.rate_bps.ndim != 3 or shape[0] != N_CLASSES or shape[1] != shape[2]:
            raise TrafficMatrixError(f"rate_bps: shape {shape}, expected ({N_CLASSES}, N, N)")
        for name in ("std_bps", "source"):
            if getattr(self, name).shape != shape:
                raise TrafficMatrixError(f"{name}: shape {getattr(self, name).shape} differs from rate_bps {shape}")
        if not self.end > self.start:
            raise TrafficMatrixError(f"window: end {self.end} must be after start {self.start}")
        for name in ("rate_bps", "std_bps"):
            arr = getattr(self, name)
            bad = np.argwhere(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                c, i, j = bad[0]
                raise TrafficMatrixError(
                    f"{name}[tos={c}, src={i}, dst={j}] = {float(arr[c, i, j])!r}: must be finite and >= 0"
                )
        n = shape[1]
        diag = self.rate_bps[:, np.arange(n), np.arange(n)]
        if np.any(diag != 0):
            c, i = np.argwhere(diag != 0)[0]
            raise TrafficMatrixError(
                f"rate_bps[tos={c}, src={i}, dst={i}] = {float(diag[c, i])!r}: the diagonal must be 0"
            )
        if self.source.size and int(self.source.max()) > max(Source):
            raise TrafficMatrixError(f"source: code {int(self.source.max())} is not a Source")

    @classmethod
    def build(
        cls,
        rate_bps: np.ndarray,
        *,
        std_bps: np.ndarray | float = 0.0,
        source: np.ndarray | Source = Source.NONE,
        start: float,
        end: float,
    ) -> TrafficMatrix:
        """Make a matrix from ``(C, N, N)`` (or ``(N, N)``: class 0) rates; zeroes the diagonal.

        ``std_bps`` and ``source`` broadcast to the rate's shape. Arrays are copied and made read-only.
        """
        rate = np.asarray(rate_bps, dtype=np.float64)
        if rate.ndim == 2:
            rate = np.concatenate([rate[None], np.zeros((N_CLASSES - 1, *rate.shape))])
        if rate.ndim != 3 or rate.shape[1] != rate.shape[2]:
            raise TrafficMatrixError(f"rate_bps: shape {rate.shape}, expected ({N_CLASSES}, N, N) or (N, N)")
        rate = rate.copy()
        try:
            std = np.broadcast_to(np.asarray(std_bps, dtype=np.float64), rate.shape).copy()
            src = np.broadcast_to(np.asarray(source, dtype=np.uint8), rate.shape).copy()
        except ValueError as exc:
            raise TrafficMatrixError(f"std_bps / source: do not broadcast to rate_bps {rate.shape} ({exc})") from exc
        idx = np.arange(rate.shape[1])
        rate[:, idx, idx] = 0.0
        std[:, idx, idx] = 0.0
        src[:, idx, idx] = Source.NONE
        for arr in (rate, std, src):
            arr.flags.writeable = False
        return cls(rate, std, src, float(start), float(end))

    @classmethod
    def zeros(cls, n_nodes: int, *, start: float, end: float) -> TrafficMatrix:
        """An all-zero matrix of ``n_nodes`` nodes whose entries are all :attr:`Source.NONE`."""
        return cls.build(np.zeros((N_CLASSES, n_nodes, n_nodes)), start=start, end=end)

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``N``."""
        return int(self.rate_bps.shape[1])

    @property
    def window_s(self) -> float:
        """Window length, seconds."""
        return self.end - self.start

    def total_bps(self) -> np.ndarray:
        """``(N, N)`` rate summed over ToS classes, bit/s."""
        return self.rate_bps.sum(axis=0)

    def total_std_bps(self) -> np.ndarray:
        """``(N, N)`` std of the class sum, bit/s, treating the classes' errors as independent."""
        return np.sqrt(np.square(self.std_bps).sum(axis=0))

    def to_demands(self, *, min_rate_bps: float = 0.0) -> Demands:
        """Demand rows for entries with ``rate_bps > min_rate_bps``, ordered by (src, dst, tos)."""
        keep = self.rate_bps > min_rate_bps
        tos, src, dst = np.nonzero(keep)
        order = np.lexsort((tos, dst, src))
        tos, src, dst = tos[order], src[order], dst[order]
        return Demands(
            src=src.astype(np.int64),
            dst=dst.astype(np.int64),
            tos=tos.astype(np.int8),
            rate_bps=self.rate_bps[tos, src, dst],
            std_bps=self.std_bps[tos, src, dst],
            source=self.source[tos, src, dst],
        )
