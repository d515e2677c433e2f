"""The one routing function of twinwatch: IGP shortest paths, ECMP, link state, explicit routes.

:func:`compute_routing` turns a directed link list with per-link metrics into
the routed paths of the requested (src, dst) pairs, as a columnar
:class:`Routing` (CSR over links, like :class:`~twin.scenario.Scenario`):

1. **Metrics** are validated first (finite, > 0; the error names the link), so
   that a bad metric can never make a search loop.
2. **Link state**: links whose ``up`` entry is False are removed before the
   search; pairs that become unreachable are reported in
   :attr:`Routing.unreachable_src` / :attr:`Routing.unreachable_dst`, never
   raised.
3. **Shortest distances** to every destination at once with
   :func:`scipy.sparse.csgraph.dijkstra` on the reversed graph.
4. **ECMP**: link ``u→v`` is on a shortest path to ``d`` iff
   ``dist[u, d] ≈ metric(u→v) + dist[v, d]`` (relative tolerance ``rtol``) and
   ``dist[v, d] < dist[u, d]``. Every equal-cost path is enumerated (at most
   ``max_paths`` per pair; pairs cut there are counted in
   :attr:`Routing.truncated`). Splits:

   - ``"even"``: per-hop even split, as routers do: a path's share is the
     product of ``1 / (number of equal-cost next hops)`` along it;
   - ``"hash"``: each flow takes one path, chosen by a deterministic hash of
     its key (see :func:`hash_paths`); the path shares are the probabilities
     of that choice, which equal the per-hop even split;
   - ``"none"``: one path per pair, the equal-cost next hop towards the
     lowest-numbered neighbour, then the lowest link number.
5. **Explicit routes** (policies, segment routing) override the IGP for their
   pair; one over a link that is down falls back to the IGP and is listed in
   :attr:`Routing.explicit_down`.

The default metric (:func:`default_metric`) is the IGP metric where the
network model gives one, else the OSPF rule ``max(1, floor(reference /
capacity))`` with a 100 Gb/s reference bandwidth, so that links of equal
capacity cost one hop each and equal-hop alternatives are ECMP. The GNNet
readers keep the routing their samples carry.

Shapes: ``N`` nodes, ``E`` links, ``K`` requested pairs, ``P`` paths, ``H``
path hops in total.

Examples
--------
A diamond 0→{1,2}→3 with equal metrics has two equal-cost paths from 0 to 3:

>>> src = np.array([0, 0, 1, 2]); dst = np.array([1, 2, 3, 3])
>>> r = compute_routing(4, src, dst, np.ones(4), pairs=([0], [3]), split="even")
>>> r.n_paths, [r.path_nodes(p) for p in range(r.n_paths)], r.path_share.tolist()
(2, [[0, 1, 3], [0, 2, 3]], [0.5, 0.5])
>>> r1 = compute_routing(4, src, dst, np.ones(4), pairs=([0], [3]), split="none")
>>> r1.n_paths, r1.path_nodes(0)
(1, [0, 1, 3])
>>> down = compute_routing(4, src, dst, np.ones(4), up=np.array([True, True, False, False]), pairs=([0], [3]))
>>> down.n_paths, down.unreachable_src.tolist(), down.unreachable_dst.tolist()
(0, [0], [3])
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

__all__ = [
    "DEFAULT_MAX_PATHS",
    "DEFAULT_REFERENCE_BPS",
    "SPLITS",
    "RoutedFlows",
    "Routing",
    "RoutingError",
    "compute_routing",
    "default_metric",
    "flow_hash",
    "hash_paths",
    "route_demand",
]

SPLITS: tuple[str, ...] = ("hash", "even", "none")
"""Traffic split across equal-cost paths (see the module docstring)."""

DEFAULT_MAX_PATHS = 16
"""Equal-cost paths kept per (src, dst) pair (a router's ``maximum-paths``)."""

DEFAULT_REFERENCE_BPS = 100e9
"""OSPF reference bandwidth (bits/s) of :func:`default_metric`."""

_RTOL = 1e-9


class RoutingError(ValueError):
    """Routing input is invalid; the message names the link, node or route."""


def default_metric(
    capacity_bps: np.ndarray,
    igp_metric: np.ndarray | None = None,
    *,
    reference_bps: float = DEFAULT_REFERENCE_BPS,
) -> np.ndarray:
    """``(E,)`` float routing metric: the IGP metric where given (finite), else OSPF's inverse capacity.

    ``igp_metric`` may hold NaN for links without one. The inverse-capacity
    rule is ``max(1, floor(reference_bps / capacity_bps))``.

    >>> default_metric(np.array([1e9, 10e9, 400e9])).tolist()
    [100.0, 10.0, 1.0]
    >>> default_metric(np.array([1e9, 1e9]), np.array([5.0, np.nan])).tolist()
    [5.0, 100.0]
    """
    cap = np.asarray(capacity_bps, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ospf = np.maximum(1.0, np.floor(reference_bps / cap))
    ospf = np.where(cap > 0, ospf, np.nan)  # refused later by compute_routing, naming the link
    if igp_metric is None:
        return ospf
    igp = np.asarray(igp_metric, dtype=np.float64)
    if igp.shape != cap.shape:
        raise RoutingError(f"igp_metric: expected shape {cap.shape}, got {igp.shape}")
    return np.where(np.isnan(igp), ospf, igp)


@dataclass(frozen=True, eq=False)
class Routing:
    """Routed paths of the requested pairs, columnar (read-only arrays).

    Attributes
    ----------
    n_nodes, n_links
        Sizes of the network routed on.
    pair_src, pair_dst
        ``(K,)`` int64, the requested pairs in request order (sources equal to
        destinations dropped).
    pair_ptr
        ``(K+1,)`` int64: the paths of pair ``k`` are ``pair_ptr[k]:pair_ptr[k+1]``
        (none when unreachable).
    path_src, path_dst
        ``(P,)`` int64; paths are grouped by pair, in pair order.
    path_ptr, path_links
        CSR: the links of path ``p`` are ``path_links[path_ptr[p]:path_ptr[p+1]]``.
    path_share
        ``(P,)`` float: fraction of the pair's traffic on the path (sums to 1
        per routed pair; 1 for ``split="none"`` and explicit routes).
    path_explicit
        ``(P,)`` bool, the path is an explicit route.
    path_cost
        ``(P,)`` float, sum of the metrics along the path.
    unreachable_src, unreachable_dst
        ``(U,)`` int64, requested pairs with no route in this link state.
    truncated
        Number of pairs that had more than ``max_paths`` equal-cost paths.
    explicit_down
        Explicit routes (src, dst) that used a link that is down and fell back
        to the IGP.
    split
        One of :data:`SPLITS`.
    version
        Hex digest of every input (links, metrics, link state, pairs, split,
        cap, tolerance, explicit routes): two routings with the same version
        route identically.
    """

    n_nodes: int
    n_links: int
    pair_src: np.ndarray
    pair_dst: np.ndarray
    pair_ptr: np.ndarray
    path_src: np.ndarray
    path_dst: np.ndarray
    path_ptr: np.ndarray
    path_links: np.ndarray
    path_share: np.ndarray
    path_explicit: np.ndarray
    path_cost: np.ndarray
    unreachable_src: np.ndarray
    unreachable_dst: np.ndarray
    truncated: int
    explicit_down: tuple[tuple[int, int], ...]
    split: str
    version: str
    link_dst: np.ndarray = field(repr=False)

    @property
    def n_paths(self) -> int:
        return int(self.path_src.shape[0])

    @property
    def n_pairs(self) -> int:
        return int(self.pair_src.shape[0])

    @property
    def path_pair(self) -> np.ndarray:
        """``(P,)`` int64, the pair number of each path."""
        return np.repeat(np.arange(self.n_pairs), np.diff(self.pair_ptr))

    @property
    def hop_path(self) -> np.ndarray:
        """``(H,)`` int64, the path of each entry of ``path_links``."""
        return np.repeat(np.arange(self.n_paths), np.diff(self.path_ptr))

    def path_nodes(self, p: int) -> list[int]:
        """Node sequence of path ``p``, source first."""
        links = self.path_links[self.path_ptr[p] : self.path_ptr[p + 1]]
        return [int(self.path_src[p])] + [int(v) for v in self.link_dst[links]]

    def link_load(self, pair_rate: np.ndarray) -> np.ndarray:
        """``(E,)`` load on each link for ``(K,)`` pair rates split by :attr:`path_share`."""
        rate = np.asarray(pair_rate, dtype=np.float64)[self.path_pair] * self.path_share
        return np.bincount(self.path_links, weights=rate[self.hop_path], minlength=self.n_links)

    def routing_matrix(self) -> np.ndarray:
        """``(E, K)`` fraction of each pair's traffic crossing each link (the ``A`` of ``y = A x``)."""
        a = np.zeros((self.n_links, self.n_pairs))
        hp = self.hop_path
        np.add.at(a, (self.path_links, self.path_pair[hp]), self.path_share[hp])
        return a


# ---------------------------------------------------------------------- hashing
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, element-wise on uint64 (wrap-around intended)."""
    with np.errstate(over="ignore"):
        z = x + _GOLD
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def flow_hash(*keys: np.ndarray | int) -> np.ndarray:
    """Deterministic 64-bit hash of integer key columns (same on every platform and run).

    >>> h = flow_hash(np.array([0, 0]), np.array([3, 3]), np.array([0, 1]))
    >>> h.dtype.name, bool(h[0] != h[1]), bool((flow_hash(0, 3, 0) == h[0]).all())
    ('uint64', True, True)
    """
    cols = np.broadcast_arrays(*[np.asarray(k, dtype=np.int64) for k in keys])
    h = np.zeros(cols[0].shape, dtype=np.uint64)
    for c in cols:
        h = _mix64(h ^ c.astype(np.uint64))
    return h


def hash_paths(routing: Routing, pair: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Path number chosen for each flow: ``(F,)`` pair numbers and ``(F,)`` uint64 flow hashes → ``(F,)`` int64.

    The hash is mapped to ``[0, 1)`` and looked up in the cumulative
    :attr:`Routing.path_share` of the flow's pair, so over many flows each
    path gets its share. Flows of unreachable pairs get ``-1``.
    """
    pair = np.asarray(pair, dtype=np.int64)
    if routing.path_share.size == 0:  # every link down: no pair has a path
        return np.full(pair.shape, -1, dtype=np.int64)
    u = (np.asarray(key, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    lo, hi = routing.pair_ptr[pair], routing.pair_ptr[pair + 1]
    # cumulative share inside each pair; the global cumsum minus the pair's start
    cum = np.cumsum(routing.path_share)
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    target = base + u * np.where(hi > lo, cum[np.maximum(hi - 1, 0)] - base, 0.0)
    p = np.searchsorted(cum, target, side="right")
    return np.where(hi > lo, np.clip(p, lo, hi - 1), -1).astype(np.int64)


# ---------------------------------------------------------------------- routing
def _gather(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lens[i] - 1`` of every segment, concatenated."""
    return np.repeat(starts, lens) + (np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens))


def _validate_links(
    n_nodes: int, link_src: np.ndarray, link_dst: np.ndarray, metric: np.ndarray, up: np.ndarray,
    names: Sequence[str] | None,
) -> None:
    e = link_src.shape[0]

    def name(i: int) -> str:
        label = f" {names[i]!r}" if names is not None else ""
        return f"link {i}{label} ({int(link_src[i])}->{int(link_dst[i])})"

    if link_dst.shape != (e,) or metric.shape != (e,) or up.shape != (e,):
        raise RoutingError(
            f"link_src, link_dst, metric and up need the same shape (E,), got {link_src.shape}, "
            f"{link_dst.shape}, {metric.shape}, {up.shape}"
        )
    if names is not None and len(names) != e:
        raise RoutingError(f"link_names: expected {e} names, got {len(names)}")
    bad = np.flatnonzero((link_src < 0) | (link_src >= n_nodes) | (link_dst < 0) | (link_dst >= n_nodes))
    if bad.size:
        raise RoutingError(f"{name(int(bad[0]))} names a node outside 0..{n_nodes - 1}")
    bad = np.flatnonzero(link_src == link_dst)
    if bad.size:
        raise RoutingError(f"{name(int(bad[0]))} is a self-loop")
    bad = np.flatnonzero(~np.isfinite(metric) | ~(metric > 0))
    if bad.size:
        i = int(bad[0])
        raise RoutingError(f"{name(i)} has routing metric {float(metric[i])!r}; metrics must be finite and > 0")


def _link_lookup(n: int, link_src: np.ndarray, link_dst: np.ndarray, metric: np.ndarray, up: np.ndarray) -> dict:
    """``(u, v)`` → the cheapest up link (lowest number on ties)."""
    order = np.lexsort((np.arange(link_src.size), metric, link_dst, link_src))
    order = order[up[order]]
    key = link_src[order] * n + link_dst[order]
    first = np.concatenate([[True], key[1:] != key[:-1]]) if key.size else np.zeros(0, dtype=bool)
    return {(int(k) // n, int(k) % n): int(i) for k, i in zip(key[first], order[first], strict=True)}


def _enumerate(
    n: int, link_src: np.ndarray, link_dst: np.ndarray, on_dag: np.ndarray, col_of: np.ndarray,
    src: np.ndarray, dst: np.ndarray, split: str, max_paths: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All equal-cost paths of the reachable pairs ``(src, dst)`` by breadth-first expansion on the DAG.

    Every step replaces each unfinished partial path by its extensions over
    the equal-cost next hops (in link-order), keeping the list grouped by pair
    and in lexicographic next-hop order; links are kept as parent pointers and
    read back at the end (``O(P · hops)``).

    Returns ``(path_pair, path_ptr, path_links, share, truncated_pairs)``; the
    pair numbers index ``src``/``dst``, paths come grouped by pair.
    """
    # equal-cost next hops of every (node, destination column) as CSR, in (next node, link number) order
    d_cols = on_dag.shape[1]
    hop_l, hop_c = np.nonzero(on_dag)
    key = link_src[hop_l] * d_cols + hop_c
    o = np.lexsort((hop_l, link_dst[hop_l], key))
    nh_link = hop_l[o]
    nh_ptr = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=n * d_cols))])
    k = src.size
    part_pair = np.arange(k)
    part_node = src.copy()
    share = np.ones(k)
    truncated = np.zeros(k, dtype=bool)
    steps: list[tuple[np.ndarray, np.ndarray]] = []  # per step: (parent row, link or -1) of every partial path
    for _ in range(n):
        active = part_node != dst[part_pair]
        if not active.any():
            break
        a = np.flatnonzero(active)
        at = part_node[a] * d_cols + col_of[dst[part_pair[a]]]
        first = nh_ptr[at]
        cnt = nh_ptr[at + 1] - first
        if split == "none":  # the first next hop only
            cnt = np.minimum(cnt, 1)
        cand = nh_link[_gather(first, cnt)]
        nh = np.zeros(part_pair.size, dtype=np.int64)
        nh[a] = cnt
        children = np.where(active, nh, 1)  # a finished path carries over as itself
        rows = np.repeat(np.arange(part_pair.size), children)  # sorted: grouped by pair, order kept
        moved = active[rows]
        link = np.full(rows.size, -1, dtype=np.int64)
        link[moved] = cand  # cand is in partial-path order, like rows
        node = part_node[rows]
        node[moved] = link_dst[cand]
        new_share = share[rows] / np.where(moved, nh[rows], 1)
        pp = part_pair[rows]
        # cap: at most max_paths partial paths per pair (their count only grows)
        per_pair = np.bincount(pp, minlength=k)
        if (per_pair > max_paths).any():
            rank = np.arange(pp.size) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
            over = rank >= max_paths
            truncated[np.unique(pp[over])] = True
            keep = ~over
            rows, link, node, new_share, pp = rows[keep], link[keep], node[keep], new_share[keep], pp[keep]
        steps.append((rows, link))
        part_pair, part_node, share = pp, node, new_share
    if (part_node != dst[part_pair]).any():  # cannot happen on a DAG of strictly decreasing distance
        raise RoutingError("internal: equal-cost path enumeration did not terminate")
    # read the links back through the parent pointers (last step first)
    p = part_pair.size
    cols = np.full((p, len(steps)), -1, dtype=np.int64)
    cur = np.arange(p)
    for t in range(len(steps) - 1, -1, -1):
        rows, link = steps[t]
        cols[:, t] = link[cur]
        cur = rows[cur]
    share = share / np.bincount(part_pair, weights=share, minlength=k)[part_pair]  # renormalise truncated pairs
    mask = cols >= 0
    ptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
    return part_pair, ptr, cols[mask], share, truncated


def compute_routing(
    n_nodes: int,
    link_src: np.ndarray,
    link_dst: np.ndarray,
    metric: np.ndarray,
    *,
    up: np.ndarray | None = None,
    pairs: tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray] | None = None,
    split: str = "even",
    max_paths: int = DEFAULT_MAX_PATHS,
    explicit: Mapping[tuple[int, int], Sequence[int]] | None = None,
    rtol: float = _RTOL,
    link_names: Sequence[str] | None = None,
) -> Routing:
    """Route ``pairs`` on the directed links (see the module docstring).

    Parameters
    ----------
    n_nodes
        Number of nodes ``N``.
    link_src, link_dst
        ``(E,)`` endpoints of each directed link (parallel links allowed).
    metric
        ``(E,)`` float routing metric, finite and > 0 (see :func:`default_metric`).
    up
        ``(E,)`` bool link state (default: all up). Down links carry no path.
    pairs
        ``(src, dst)`` arrays of the pairs to route; default every ordered pair
        of distinct nodes. Pairs with ``src == dst`` are dropped.
    split
        ``"even"``, ``"hash"`` or ``"none"`` (see :data:`SPLITS`).
    max_paths
        Equal-cost paths kept per pair (>= 1).
    explicit
        ``(src, dst)`` → node sequence that overrides the IGP for that pair
        (entries for pairs not requested are checked, then ignored). Per-flow
        explicit routes are :attr:`twinwatch.twin.scenario.Flow.route`.
    rtol
        Relative tolerance of the equal-cost test.
    link_names
        Optional ``(E,)`` names used in error messages (e.g. ``"a->b"``).

    Raises
    ------
    RoutingError
        A metric that is not finite and > 0, a link to a node outside the
        network, a self-loop, an explicit route that does not exist or loops.
    """
    if split not in SPLITS:
        raise RoutingError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
    if int(max_paths) < 1:
        raise RoutingError(f"max_paths must be >= 1, got {max_paths}")
    n = int(n_nodes)
    if n <= 0:
        raise RoutingError(f"n_nodes must be > 0, got {n_nodes}")
    ls = np.asarray(link_src, dtype=np.int64).ravel()
    ld = np.asarray(link_dst, dtype=np.int64).ravel()
    m = np.asarray(metric, dtype=np.float64).ravel()
    lup = np.ones(ls.size, dtype=bool) if up is None else np.asarray(up, dtype=bool).ravel()
    _validate_links(n, ls, ld, m, lup, link_names)
    if pairs is None:
        s_all, d_all = np.nonzero(~np.eye(n, dtype=bool))
        psrc, pdst = s_all.astype(np.int64), d_all.astype(np.int64)
    else:
        psrc = np.asarray(pairs[0], dtype=np.int64).ravel()
        pdst = np.asarray(pairs[1], dtype=np.int64).ravel()
        if psrc.shape != pdst.shape:
            raise RoutingError(f"pairs: src and dst lengths differ ({psrc.size} vs {pdst.size})")
        bad = np.flatnonzero((psrc < 0) | (psrc >= n) | (pdst < 0) | (pdst >= n))
        if bad.size:
            i = int(bad[0])
            raise RoutingError(f"pair {int(psrc[i])}->{int(pdst[i])} names a node outside 0..{n - 1}")
        keep = psrc != pdst
        psrc, pdst = psrc[keep], pdst[keep]
        _, first = np.unique(psrc * n + pdst, return_index=True)  # duplicates: keep the first, in order
        first.sort()
        psrc, pdst = psrc[first], pdst[first]
    k = psrc.size
    version = _version(n, ls, ld, m, lup, psrc, pdst, split, int(max_paths), rtol, explicit)

    # explicit routes first (they may fall back to the IGP when a link is down)
    expl_links: dict[int, list[int]] = {}
    down: list[tuple[int, int]] = []
    if explicit:
        lookup = _link_lookup(n, ls, ld, m, np.ones_like(lup))
        pair_no = {(int(s), int(d)): i for i, (s, d) in enumerate(zip(psrc.tolist(), pdst.tolist(), strict=True))}
        for (s, d), nodes in explicit.items():
            route = [int(v) for v in nodes]
            if len(route) < 2 or route[0] != s or route[-1] != d:
                raise RoutingError(f"explicit route {s}->{d} must run from {s} to {d}, got {route}")
            if len(set(route)) != len(route):
                raise RoutingError(f"explicit route {s}->{d} has a routing loop: {route}")
            links = []
            for a, b in pairwise(route):
                if (a, b) not in lookup:
                    raise RoutingError(f"explicit route {s}->{d} uses link {a}->{b}, which does not exist")
                links.append(lookup[(a, b)])
            if (s, d) not in pair_no:
                continue
            if not lup[links].all():  # prefer an up parallel link, else fall back to the IGP
                up_lookup = _link_lookup(n, ls, ld, m, lup)
                alt = [up_lookup.get((a, b), -1) for a, b in pairwise(route)]
                if min(alt) < 0:
                    down.append((s, d))
                    continue
                links = alt
            expl_links[pair_no[(s, d)]] = links

    is_expl = np.zeros(k, dtype=bool)
    is_expl[np.fromiter(expl_links, dtype=np.int64, count=len(expl_links))] = True
    igp = np.flatnonzero(~is_expl)
    # distances to every needed destination, on the reversed graph of up links
    dests = np.unique(pdst[igp])
    col_of = np.full(n, -1, dtype=np.int64)
    col_of[dests] = np.arange(dests.size)
    lu = np.flatnonzero(lup)
    if dests.size:
        # parallel links: csr_matrix would add them, so keep the cheapest per (u, v)
        key = ls[lu] * n + ld[lu]
        o = np.lexsort((m[lu], key))
        first = np.concatenate([[True], key[o][1:] != key[o][:-1]]) if o.size else np.zeros(0, dtype=bool)
        sel = lu[o[first]]
        g = csr_matrix((m[sel], (ld[sel], ls[sel])), shape=(n, n))
        dist = dijkstra(g, directed=True, indices=dests).T  # (N, D): dist[u, d] from u to dests[d]
        du, dv = dist[ls], dist[ld]  # (E, D)
        with np.errstate(invalid="ignore"):
            on_dag = (
                lup[:, None]
                & np.isfinite(dv)
                & (dv < du)
                & (np.abs(du - (m[:, None] + dv)) <= rtol * np.maximum(du, m[:, None]))
            )
        reach = np.isfinite(dist[psrc[igp], col_of[pdst[igp]]])
    else:
        on_dag = np.zeros((ls.size, 0), dtype=bool)
        reach = np.zeros(0, dtype=bool)
    routed = igp[reach]
    unreachable = igp[~reach]
    pp, ptr, plinks, share, trunc = _enumerate(
        n, ls, ld, on_dag, col_of, psrc[routed], pdst[routed], split, int(max_paths)
    )
    # assemble per pair, in request order: IGP paths and explicit ones
    pair_of_path = np.concatenate([routed[pp], np.fromiter(expl_links, dtype=np.int64, count=len(expl_links))])
    lens = np.concatenate([np.diff(ptr), [len(v) for v in expl_links.values()]]).astype(np.int64)
    all_links = np.concatenate([plinks, np.array([x for v in expl_links.values() for x in v], dtype=np.int64)])
    all_share = np.concatenate([share, np.ones(len(expl_links))])
    path_is_expl = np.concatenate([np.zeros(pp.size, dtype=bool), np.ones(len(expl_links), dtype=bool)])
    o = np.argsort(pair_of_path, kind="stable")
    starts = np.concatenate([[0], np.cumsum(lens)])[:-1]
    path_links = all_links[_gather(starts[o], lens[o])]
    path_ptr = np.concatenate([[0], np.cumsum(lens[o])]).astype(np.int64)
    pair_of_path = pair_of_path[o]
    hop_path = np.repeat(np.arange(o.size), lens[o])
    return Routing(
        n_nodes=n,
        n_links=int(ls.size),
        pair_src=psrc,
        pair_dst=pdst,
        pair_ptr=np.searchsorted(pair_of_path, np.arange(k + 1), side="left").astype(np.int64),
        path_src=psrc[pair_of_path],
        path_dst=pdst[pair_of_path],
        path_ptr=path_ptr,
        path_links=path_links,
        path_share=all_share[o],
        path_explicit=path_is_expl[o],
        path_cost=np.bincount(hop_path, weights=m[path_links], minlength=o.size),
        unreachable_src=psrc[unreachable],
        unreachable_dst=pdst[unreachable],
        truncated=int(trunc.sum()),
        explicit_down=tuple(down),
        split=split,
        version=version,
        link_dst=ld,
    )


def _version(
    n: int, ls: np.ndarray, ld: np.ndarray, m: np.ndarray, up: np.ndarray, psrc: np.ndarray, pdst: np.ndarray,
    split: str, max_paths: int, rtol: float, explicit: Mapping[tuple[int, int], Sequence[int]] | None,
) -> str:
    h = hashlib.blake2b(digest_size=8)
    h.update(f"twinwatch-routing-1|{n}|{split}|{max_paths}|{rtol!r}|".encode())
    for a in (ls, ld, m, up.astype(np.uint8), psrc, pdst):
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(b"|")
    for (s, d), nodes in sorted((explicit or {}).items()):
        h.update(f"{s}>{d}:{','.join(str(int(v)) for v in nodes)};".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- demand → flows
@dataclass(frozen=True, eq=False)
class RoutedFlows:
    """Demand rows placed on paths: the path and flow columns of a :class:`~twin.scenario.Scenario`.

    Only paths that carry a flow are kept, renumbered ``0..P'-1`` in routing order.

    Attributes
    ----------
    path_src, path_dst, path_ptr, path_links
        The kept paths (CSR, as in :class:`Routing`).
    path_routing
        ``(P',)`` int64, the path's number in the :class:`Routing`.
    flow_demand
        ``(F,)`` int64, the demand row each flow comes from.
    flow_path
        ``(F,)`` int64, the flow's path (``0..P'-1``).
    flow_rate_bps
        ``(F,)`` float, the demand rate times the path's share (``"even"``,
        ``"none"``) or the whole demand rate (``"hash"``).
    unrouted
        ``(U,)`` int64, demand rows whose pair has no route (or is not in the routing).
    """

    path_src: np.ndarray
    path_dst: np.ndarray
    path_ptr: np.ndarray
    path_links: np.ndarray
    path_routing: np.ndarray
    flow_demand: np.ndarray
    flow_path: np.ndarray
    flow_rate_bps: np.ndarray
    unrouted: np.ndarray


def route_demand(
    routing: Routing,
    src: np.ndarray,
    dst: np.ndarray,
    rate_bps: np.ndarray,
    *,
    tos: np.ndarray | None = None,
    flow_key: np.ndarray | None = None,
) -> RoutedFlows:
    """Place ``(D,)`` demand rows ``(src, dst[, tos])`` on the routing's paths.

    ``"even"``/``"none"``: one flow per (row, path of its pair) with the
    path's share of the rate. ``"hash"``: each row is one flow on the path
    picked by :func:`hash_paths` from ``flow_hash(src, dst, tos, flow_key)``
    (``flow_key`` defaults to the row number), as a router hashes a flow's
    5-tuple; give aggregates to ``"even"`` instead.

    >>> src = np.array([0, 0, 1, 2]); dst = np.array([1, 2, 3, 3])
    >>> r = compute_routing(4, src, dst, np.ones(4), pairs=([0], [3]))
    >>> rf = route_demand(r, np.array([0]), np.array([3]), np.array([1e6]))
    >>> rf.flow_path.tolist(), rf.flow_rate_bps.tolist(), rf.unrouted.tolist()
    ([0, 1], [500000.0, 500000.0], [])
    """
    s = np.asarray(src, dtype=np.int64).ravel()
    d = np.asarray(dst, dtype=np.int64).ravel()
    rate = np.asarray(rate_bps, dtype=np.float64).ravel()
    if not (s.shape == d.shape == rate.shape):
        raise RoutingError(f"demand: src, dst and rate_bps lengths differ ({s.size}, {d.size}, {rate.size})")
    t = np.zeros_like(s) if tos is None else np.asarray(tos, dtype=np.int64).ravel()
    key = np.arange(s.size, dtype=np.int64) if flow_key is None else np.asarray(flow_key, dtype=np.int64).ravel()
    n = routing.n_nodes
    pk = routing.pair_src * n + routing.pair_dst
    o = np.argsort(pk, kind="stable")
    q = s * n + d
    pair = np.full(q.size, -1, dtype=np.int64)
    if pk.size:
        pos = np.clip(np.searchsorted(pk[o], q), 0, pk.size - 1)
        pair = np.where(pk[o][pos] == q, o[pos], -1)
    safe = np.maximum(pair, 0)
    cnt = np.where(pair >= 0, routing.pair_ptr[safe + 1] - routing.pair_ptr[safe], 0)
    if routing.split == "hash":
        rows = np.flatnonzero(cnt > 0)
        gpath = hash_paths(routing, pair[rows], flow_hash(s[rows], d[rows], t[rows], key[rows]))
        frate = rate[rows]
    else:
        rows = np.repeat(np.arange(s.size), cnt)
        off = np.arange(rows.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        gpath = routing.pair_ptr[pair[rows]] + off
        frate = rate[rows] * routing.path_share[gpath]
    used, flow_path = np.unique(gpath, return_inverse=True)
    lens = np.diff(routing.path_ptr)[used]
    starts = routing.path_ptr[used]
    idx = _gather(starts, lens)
    return RoutedFlows(
        path_src=routing.path_src[used],
        path_dst=routing.path_dst[used],
        path_ptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        path_links=routing.path_links[idx].astype(np.int64),
        path_routing=used.astype(np.int64),
        flow_demand=rows.astype(np.int64),
        flow_path=flow_path.astype(np.int64).ravel(),
        flow_rate_bps=frate,
        unrouted=np.flatnonzero(cnt == 0).astype(np.int64),
    )
