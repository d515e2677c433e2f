"""The routing matrix ``A`` (links × node pairs) that maps a traffic matrix to link loads.

``A[e, p]`` is the fraction of pair ``p``'s traffic that crosses link ``e``: 1
on a single shortest path, the ECMP share where traffic splits. Link loads are
``y = A @ x`` for the pair rates ``x``. Built from the CSR paths the routing
produces (``path_src, path_dst, path_ptr, path_links`` with a ``share`` per
path); several paths of one pair add up.

Pairs are the ``N (N - 1)`` ordered off-diagonal pairs in row-major order
(:func:`offdiagonal_pairs`), so pair ``p`` is ``(pair_src[p], pair_dst[p])``.

Examples
--------
>>> import numpy as np
>>> # line 0 - 1 - 2 with links 0:0->1, 1:1->2, 2:1->0, 3:2->1; pair (0, 2) has two equal-cost paths, half each
>>> rm = RoutingMatrix.from_paths(
...     n_nodes=3, n_links=4,
...     path_src=[0, 0, 1], path_dst=[2, 2, 0], path_ptr=[0, 2, 4, 5], path_links=[0, 1, 0, 1, 2],
...     share=[0.5, 0.5, 1.0])
>>> rm.matrix.shape, rm.n_pairs
((4, 6), 6)
>>> rm.load_bps(np.array([0, 8e6, 2e6, 0, 0, 0])).tolist()  # pairs (0,1) (0,2) (1,0) (1,2) (2,0) (2,1)
[8000000.0, 8000000.0, 2000000.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from twinwatch.twin.traffic_matrix.matrix import TrafficMatrixError

__all__ = ["RoutingMatrix", "offdiagonal_pairs"]


def offdiagonal_pairs(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pair_src, pair_dst)``, each ``(N (N - 1),)`` int64: every ordered pair ``src != dst``, row-major.

    >>> offdiagonal_pairs(3)[0].tolist(), offdiagonal_pairs(3)[1].tolist()
    ([0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1])
    """
    src, dst = np.divmod(np.arange(n_nodes * n_nodes, dtype=np.int64), n_nodes)
    off = src != dst
    return src[off], dst[off]


def _pair_number(src: np.ndarray, dst: np.ndarray, n_nodes: int) -> np.ndarray:
    """Index of ``(src, dst)`` in :func:`offdiagonal_pairs` order (``src != dst``)."""
    return src * (n_nodes - 1) + dst - (dst > src)


@dataclass(frozen=True, slots=True)
class RoutingMatrix:
    """Sparse ``(E, P)`` routing matrix over the off-diagonal node pairs.

    Parameters
    ----------
    matrix
        ``(E, P)`` CSR float64; ``matrix[e, p]`` = share of pair ``p``'s traffic on link ``e``.
    n_nodes
        Number of nodes ``N``; ``P = N (N - 1)``.
    """

    matrix: sp.csr_array
    n_nodes: int
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What depends only on this routing (pairs, edge rows, the stacked matrix, tomogravity's solve plans),
    computed once: a window's traffic-matrix estimate reuses them for as long as the routing holds."""

    def __post_init__(self) -> None:
        p = self.n_nodes * (self.n_nodes - 1)
        if self.matrix.shape[1] != p:
            raise TrafficMatrixError(f"routing matrix: {self.matrix.shape[1]} columns, expected N(N-1) = {p}")

    @property
    def n_links(self) -> int:
        """Number of links ``E`` (rows)."""
        return int(self.matrix.shape[0])

    @property
    def n_pairs(self) -> int:
        """Number of pairs ``P = N (N - 1)`` (columns)."""
        return int(self.matrix.shape[1])

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pair_src, pair_dst)`` of the columns; see :func:`offdiagonal_pairs` (computed once, read-only)."""
        hit = self.memo.get("pairs")
        if hit is None:
            hit = offdiagonal_pairs(self.n_nodes)
            for arr in hit:
                arr.flags.writeable = False
            self.memo["pairs"] = hit
        return hit

    def load_bps(self, pair_bps: np.ndarray) -> np.ndarray:
        """Link loads ``(E,)`` bit/s for pair rates ``(P,)`` bit/s (``A @ x``)."""
        return np.asarray(self.matrix @ np.asarray(pair_bps, dtype=np.float64))

    def edge_matrix(self) -> sp.csr_array:
        """``(2 N, P)`` 0/1 matrix whose rows give node ingress (rows ``0..N-1``) and egress (``N..2N-1``) totals."""
        hit = self.memo.get("edge")
        if hit is None:
            hit = self.memo["edge"] = self._edge_matrix()
        return hit

    def stacked(self) -> sp.csr_array:
        """``(E + 2 N, P)`` CSR: the link rows of :attr:`matrix` over the rows of :meth:`edge_matrix` (computed once).

        >>> rm = RoutingMatrix.from_paths(n_nodes=2, n_links=2, path_src=[0, 1], path_dst=[1, 0],
        ...                               path_ptr=[0, 1, 2], path_links=[0, 1])
        >>> rm.stacked().toarray().tolist()   # links 0, 1; ingress of nodes 0, 1; egress of nodes 0, 1
        [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]
        """
        hit = self.memo.get("stacked")
        if hit is None:
            hit = sp.csr_array(sp.vstack([self.matrix, self.edge_matrix()], format="csr"))
            hit.sort_indices()
            self.memo["stacked"] = hit
        return hit

    def _edge_matrix(self) -> sp.csr_array:
        src, dst = self.pairs()
        p = np.arange(self.n_pairs)
        rows = np.concatenate([src, self.n_nodes + dst])
        cols = np.concatenate([p, p])
        return sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(2 * self.n_nodes, self.n_pairs))

    @classmethod
    def from_routing(cls, routing: Any) -> RoutingMatrix:
        """Build ``A`` from a :class:`twinwatch.twin.routing.Routing` (or any object with its CSR path attributes:
        ``n_nodes``, ``n_links``, ``path_src``, ``path_dst``, ``path_ptr``, ``path_links``, ``path_share``).
        """
        return cls.from_paths(
            n_nodes=routing.n_nodes, n_links=routing.n_links, path_src=routing.path_src, path_dst=routing.path_dst,
            path_ptr=routing.path_ptr, path_links=routing.path_links, share=routing.path_share,
        )  # fmt: skip

    @classmethod
    def from_paths(
        cls,
        *,
        n_nodes: int,
        n_links: int,
        path_src: Sequence[int] | np.ndarray,
        path_dst: Sequence[int] | np.ndarray,
        path_ptr: Sequence[int] | np.ndarray,
        path_links: Sequence[int] | np.ndarray,
        share: Sequence[float] | np.ndarray | None = None,
    ) -> RoutingMatrix:
        """Build ``A`` from CSR paths: path ``k`` runs ``path_src[k] → path_dst[k]`` over links
        ``path_links[path_ptr[k]:path_ptr[k+1]]`` and carries ``share[k]`` of its pair's traffic
        (default 1). Paths of the same pair add up (ECMP); a pair with no path is an all-zero column.
        """
        src = np.asarray(path_src, dtype=np.int64)
        dst = np.asarray(path_dst, dtype=np.int64)
        ptr = np.asarray(path_ptr, dtype=np.int64)
        links = np.asarray(path_links, dtype=np.int64)
        n_paths = src.shape[0]
        w = np.ones(n_paths) if share is None else np.asarray(share, dtype=np.float64)
        if dst.shape != (n_paths,) or w.shape != (n_paths,) or ptr.shape != (n_paths + 1,):
            raise TrafficMatrixError(
                f"paths: path_src {src.shape}, path_dst {dst.shape}, share {w.shape} must be (P,) "
                f"and path_ptr {ptr.shape} must be (P + 1,)"
            )
        if ptr[0] != 0 or ptr[-1] != links.shape[0] or np.any(np.diff(ptr) < 0):
            raise TrafficMatrixError("path_ptr: must start at 0, be non-decreasing and end at len(path_links)")
        for name, arr, hi in (("path_src", src, n_nodes), ("path_dst", dst, n_nodes), ("path_links", links, n_links)):
            bad = np.flatnonzero((arr < 0) | (arr >= hi))
            if bad.size:
                raise TrafficMatrixError(f"{name}[{bad[0]}] = {arr[bad[0]]}: out of range 0..{hi - 1}")
        loop = np.flatnonzero(src == dst)
        if loop.size:
            raise TrafficMatrixError(f"path {loop[0]}: src == dst == {src[loop[0]]}; pairs must be distinct nodes")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0) | (w > 1 + 1e-9))
        if bad.size:
            raise TrafficMatrixError(f"share[{bad[0]}] = {float(w[bad[0]])!r}: must be in [0, 1]")
        pair = _pair_number(src, dst, n_nodes)
        p_total = n_nodes * (n_nodes - 1)
        tot = np.bincount(pair, weights=w, minlength=p_total)
        bad = np.flatnonzero((tot > 0) & (np.abs(tot - 1.0) > 1e-6))
        if bad.size:
            s, d = divmod(int(bad[0]), n_nodes - 1)
            d += d >= s
            raise TrafficMatrixError(f"pair ({s}, {d}): path shares sum to {tot[bad[0]]:.6g}, must sum to 1")
        hops = np.diff(ptr)
        cols = np.repeat(pair, hops)
        vals = np.repeat(w, hops)
        a = sp.coo_array((vals, (links, cols)), shape=(n_links, p_total)).tocsr()
        a.sum_duplicates()
        return cls(a, n_nodes)
