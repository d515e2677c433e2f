"""The network model every part of twinwatch shares: :class:`Scenario`.

A scenario is a network at one moment: nodes (with their output-port
scheduling), directed links, routed paths, and the flows offered on each
path. Every flow follows one path; several paths may join the same (src, dst)
pair (ECMP, or an explicit route for some flows), see :mod:`twinwatch.twin.routing`.
Everything is columnar (NumPy arrays indexed by node, link, path or flow
number) so that a 200-node scenario with 40,000 paths builds and validates in
milliseconds and feeds the GNN without per-object Python.

Units: capacities and rates in bits per second, packet sizes in bits, times in
seconds. The GNNet datasets use abstract "time units"; readers keep their
numbers unchanged and set ``time_unit`` so that predictions are reported in the
dataset's own units.

Shapes (``N`` nodes, ``E`` links, ``P`` paths, ``H`` path hops in total,
``F`` flows, ``Q`` = :data:`MAX_QUEUES` queues per port, ``S`` =
:data:`MAX_SIZES` packet-size candidates):

Examples
--------
>>> sc = Scenario.build(
...     n_nodes=3,
...     links=[(0, 1, 1e6), (1, 2, 1e6), (1, 0, 1e6), (2, 1, 1e6)],
...     routes={(0, 2): [0, 1, 2]},
...     flows=[Flow(src=0, dst=2, rate_bps=2e5, pkt_size_bits=8000.0)],
... )
>>> sc.n_links, sc.n_paths, sc.n_flows
(4, 1, 1)
>>> sc.path_nodes(0)
[0, 1, 2]
>>> sc.link_load_bps().tolist()
[200000.0, 200000.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import pairwise

import numpy as np

__all__ = [
    "MAX_QUEUES",
    "MAX_SIZES",
    "Flow",
    "Policy",
    "Scenario",
    "ScenarioError",
    "SizeDist",
    "TimeDist",
]

MAX_QUEUES = 3
"""Queues per output port (one per ToS class, as in the GNNet datasets)."""

MAX_SIZES = 5
"""Packet-size candidates per flow (GNNet 2022 allows up to five)."""


class ScenarioError(ValueError):
    """A scenario is inconsistent; the message names the offending element."""


class Policy(IntEnum):
    """Output-port scheduling policy of a node."""

    FIFO = 0
    SP = 1
    WFQ = 2
    DRR = 3


class TimeDist(IntEnum):
    """Inter-packet time distribution of a flow (GNNet naming)."""

    POISSON = 0
    CBR = 1
    ONOFF = 2
    UNIFORM = 3
    NORMAL = 4
    PPBP = 5


class SizeDist(IntEnum):
    """Packet-size distribution of a flow."""

    DETERMINISTIC = 0
    UNIFORM = 1
    BINOMIAL = 2
    GENERIC = 3
    EXPONENTIAL = 4


@dataclass(frozen=True, slots=True)
class Flow:
    """One traffic flow, the convenient row form used by :meth:`Scenario.build`.

    Parameters
    ----------
    src, dst
        Node numbers.
    rate_bps
        Mean offered rate (bits per second).
    pkt_size_bits
        Mean packet size (bits); used when ``sizes_bits`` is empty.
    time_dist
        Inter-packet time distribution.
    on_s, off_s
        Mean ON and OFF durations (seconds) for :attr:`TimeDist.ONOFF`.
    sizes_bits, size_probs
        Discrete packet-size distribution (up to :data:`MAX_SIZES` entries).
    tos
        Type-of-service class, mapped to queue ``tos`` at every port.
    route
        Node sequence of this flow's own path (``src`` first, ``dst`` last);
        empty: the flow follows the ``routes`` entry of its (src, dst) pair.
        Flows with equal sequences share one path.
    """

    src: int
    dst: int
    rate_bps: float
    pkt_size_bits: float = 8000.0
    time_dist: TimeDist = TimeDist.POISSON
    on_s: float = float("nan")
    off_s: float = float("nan")
    sizes_bits: tuple[float, ...] = ()
    size_probs: tuple[float, ...] = ()
    tos: int = 0
    route: tuple[int, ...] = ()


def _f64(x: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape[:1] != (n,):
        raise ScenarioError(f"{name}: expected {n} rows, got shape {arr.shape}")
    return arr


def _i64(x: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.int64)
    if arr.shape != (n,):
        raise ScenarioError(f"{name}: expected shape ({n},), got {arr.shape}")
    return arr


@dataclass(eq=False)
class Scenario:
    """Topology + routing + traffic, columnar.

    Attributes
    ----------
    n_nodes
        Number of nodes ``N``; nodes are numbered ``0..N-1``.
    node_policy
        ``(N,)`` int8, :class:`Policy` codes.
    node_weights
        ``(N, Q)`` float, WFQ/DRR weights per queue (NaN where unused).
    node_queue_pkts
        ``(N, Q)`` float, buffer size of each queue in packets (NaN when the
        buffer is given in bits).
    node_buffer_bits
        ``(N,)`` float, port buffer in bits (NaN when given in packets).
    link_src, link_dst
        ``(E,)`` int64 endpoints of each directed link.
    link_capacity_bps
        ``(E,)`` float, > 0.
    link_prop_delay_s
        ``(E,)`` float, >= 0 (zero when the source does not give one).
    path_src, path_dst
        ``(P,)`` int64 endpoints of each path; several paths may share a
        (src, dst) pair (ECMP).
    path_ptr, path_links
        CSR routing: the links of path ``p`` are
        ``path_links[path_ptr[p]:path_ptr[p + 1]]`` in order; ``(P+1,)`` and
        ``(H,)`` int64.
    flow_path
        ``(F,)`` int64, path number of each flow.
    flow_rate_bps, flow_pkt_rate
        ``(F,)`` float, offered bits/s and packets/s.
    flow_time_dist
        ``(F,)`` int8, :class:`TimeDist` codes.
    flow_on_s, flow_off_s
        ``(F,)`` float, ON/OFF means (NaN unless ON-OFF).
    flow_size_dist
        ``(F,)`` int8, :class:`SizeDist` codes.
    flow_sizes_bits, flow_size_probs
        ``(F, S)`` float, discrete packet-size distribution (padding: size
        NaN, probability 0).
    flow_tos
        ``(F,)`` int8 ToS class (``0..Q-1``).
    name, time_unit, meta
        Free-form identification; ``time_unit`` is ``"s"`` or, for GNNet
        samples, ``"tu"`` (the simulator's abstract time unit).
    """

    n_nodes: int
    node_policy: np.ndarray
    node_weights: np.ndarray
    node_queue_pkts: np.ndarray
    node_buffer_bits: np.ndarray
    link_src: np.ndarray
    link_dst: np.ndarray
    link_capacity_bps: np.ndarray
    link_prop_delay_s: np.ndarray
    path_src: np.ndarray
    path_dst: np.ndarray
    path_ptr: np.ndarray
    path_links: np.ndarray
    flow_path: np.ndarray
    flow_rate_bps: np.ndarray
    flow_pkt_rate: np.ndarray
    flow_time_dist: np.ndarray
    flow_on_s: np.ndarray
    flow_off_s: np.ndarray
    flow_size_dist: np.ndarray
    flow_sizes_bits: np.ndarray
    flow_size_probs: np.ndarray
    flow_tos: np.ndarray
    name: str = ""
    time_unit: str = "s"
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ sizes
    @property
    def n_links(self) -> int:
        return int(self.link_src.shape[0])

    @property
    def n_paths(self) -> int:
        return int(self.path_src.shape[0])

    @property
    def n_flows(self) -> int:
        return int(self.flow_path.shape[0])

    @property
    def path_len(self) -> np.ndarray:
        """``(P,)`` int64, hops of each path."""
        return np.diff(self.path_ptr)

    @property
    def hop_path(self) -> np.ndarray:
        """``(H,)`` int64, the path each entry of ``path_links`` belongs to."""
        return np.repeat(np.arange(self.n_paths), self.path_len)

    @property
    def hop_index(self) -> np.ndarray:
        """``(H,)`` int64, position (0-based) of each hop inside its path."""
        return np.arange(self.path_links.shape[0]) - np.repeat(self.path_ptr[:-1], self.path_len)

    @property
    def flow_pkt_size_bits(self) -> np.ndarray:
        """``(F,)`` mean packet size in bits."""
        return self.flow_rate_bps / np.where(self.flow_pkt_rate > 0, self.flow_pkt_rate, np.nan)

    # ------------------------------------------------------------- derived
    def path_rate_bps(self) -> np.ndarray:
        """``(P,)`` offered bits/s per path (sum over its flows)."""
        return np.bincount(self.flow_path, weights=self.flow_rate_bps, minlength=self.n_paths)

    def path_pkt_rate(self) -> np.ndarray:
        """``(P,)`` offered packets/s per path."""
        return np.bincount(self.flow_path, weights=self.flow_pkt_rate, minlength=self.n_paths)

    def link_load_bps(self, path_rate_bps: np.ndarray | None = None) -> np.ndarray:
        """``(E,)`` offered bits/s on each link (no losses), from routing."""
        rate = self.path_rate_bps() if path_rate_bps is None else path_rate_bps
        return np.bincount(self.path_links, weights=rate[self.hop_path], minlength=self.n_links)

    def path_nodes(self, p: int) -> list[int]:
        """Node sequence of path ``p``, source first."""
        links = self.path_links[self.path_ptr[p] : self.path_ptr[p + 1]]
        return [int(self.path_src[p])] + [int(n) for n in self.link_dst[links]]

    def link_index(self) -> dict[tuple[int, int], int]:
        """Map ``(src, dst)`` node pair → link number."""
        return {(int(s), int(d)): i for i, (s, d) in enumerate(zip(self.link_src, self.link_dst))}

    def path_index(self) -> dict[tuple[int, int], int]:
        """Map ``(src, dst)`` node pair → path number, for scenarios with one path per pair.

        Raises :class:`ScenarioError` naming a pair that has several paths
        (ECMP); use :meth:`pair_paths` there.
        """
        keys = self.path_src * self.n_nodes + self.path_dst
        u, c = np.unique(keys, return_counts=True)
        if (c > 1).any():
            k = int(u[c > 1][0])
            raise ScenarioError(
                f"scenario {self.name!r}: pair {k // self.n_nodes}->{k % self.n_nodes} has {int(c[c > 1][0])} paths "
                f"(ECMP); use pair_paths(src, dst)"
            )
        return {(int(s), int(d)): i for i, (s, d) in enumerate(zip(self.path_src, self.path_dst))}

    def pair_paths(self, src: int, dst: int) -> np.ndarray:
        """Path numbers joining ``src`` to ``dst`` (empty when none), ``(k,)`` int64 in path order."""
        return np.flatnonzero((self.path_src == src) & (self.path_dst == dst)).astype(np.int64)

    @property
    def path_rank(self) -> np.ndarray:
        """``(P,)`` int64, the ordinal of each path among the paths of its (src, dst) pair (0 when alone)."""
        keys = self.path_src * self.n_nodes + self.path_dst
        o = np.argsort(keys, kind="stable")
        ks = keys[o]
        start = np.searchsorted(ks, ks, side="left")
        rank = np.empty(self.n_paths, dtype=np.int64)
        rank[o] = np.arange(self.n_paths) - start
        return rank

    # ---------------------------------------------------------- validation
    def validate(self) -> None:
        """Check shapes and consistency; raise :class:`ScenarioError` naming the culprit."""
        n, e = self.n_nodes, self.n_links
        if n <= 0:
            raise ScenarioError(f"scenario {self.name!r}: needs at least one node, got {n}")
        for name in ("node_policy",):
            _i64(getattr(self, name), n, name)
        for name in ("node_weights", "node_queue_pkts"):
            arr = getattr(self, name)
            if arr.shape != (n, MAX_QUEUES):
                raise ScenarioError(f"{name}: expected shape ({n}, {MAX_QUEUES}), got {arr.shape}")
        _f64(self.node_buffer_bits, n, "node_buffer_bits")
        for name in ("link_dst", "link_src"):
            _i64(getattr(self, name), e, name)
        _f64(self.link_capacity_bps, e, "link_capacity_bps")
        _f64(self.link_prop_delay_s, e, "link_prop_delay_s")
        bad = np.flatnonzero((self.link_src < 0) | (self.link_src >= n) | (self.link_dst < 0) | (self.link_dst >= n))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(
                f"link {i} ({int(self.link_src[i])}->{int(self.link_dst[i])}) names a node outside 0..{n - 1}"
            )
        bad = np.flatnonzero(self.link_src == self.link_dst)
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(f"link {i} is a self-loop on node {int(self.link_src[i])}")
        bad = np.flatnonzero(~(self.link_capacity_bps > 0) | ~np.isfinite(self.link_capacity_bps))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(
                f"link {i} ({int(self.link_src[i])}->{int(self.link_dst[i])}) has capacity "
                f"{float(self.link_capacity_bps[i])!r} bps; capacities must be finite and > 0"
            )
        bad = np.flatnonzero(~(self.link_prop_delay_s >= 0))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(
                f"link {i} ({int(self.link_src[i])}->{int(self.link_dst[i])}) has propagation delay "
                f"{float(self.link_prop_delay_s[i])!r} s; it must be >= 0"
            )
        pairs = self.link_src * n + self.link_dst
        if np.unique(pairs).size != e:
            u, c = np.unique(pairs, return_counts=True)
            dup = int(u[c > 1][0])
            raise ScenarioError(f"link {dup // n}->{dup % n} is given more than once")
        self._validate_paths()
        self._validate_flows()

    def _validate_paths(self) -> None:
        n, e, p = self.n_nodes, self.n_links, self.n_paths
        _i64(self.path_dst, p, "path_dst")
        _i64(self.path_src, p, "path_src")
        _i64(self.path_ptr, p + 1, "path_ptr")
        if self.path_ptr[0] != 0 or self.path_ptr[-1] != self.path_links.shape[0]:
            raise ScenarioError("path_ptr must start at 0 and end at len(path_links)")
        plen = self.path_len
        bad = np.flatnonzero(plen <= 0)
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(f"path {int(self.path_src[i])}->{int(self.path_dst[i])} has no links")
        pl = self.path_links
        bad = np.flatnonzero((pl < 0) | (pl >= e))
        if bad.size:
            h = int(bad[0])
            q = int(np.searchsorted(self.path_ptr, h, side="right") - 1)
            raise ScenarioError(
                f"path {int(self.path_src[q])}->{int(self.path_dst[q])} uses link {int(pl[h])}, "
                f"which does not exist (links are 0..{e - 1})"
            )
        first = self.path_ptr[:-1]
        last = self.path_ptr[1:] - 1
        hop_path = self.hop_path
        # consecutive hops must chain: dst(link h) == src(link h+1) inside a path
        same = hop_path[1:] == hop_path[:-1]
        broken = np.flatnonzero(same & (self.link_dst[pl[:-1]] != self.link_src[pl[1:]]))
        if broken.size:
            h = int(broken[0])
            q = int(hop_path[h])
            raise ScenarioError(
                f"path {int(self.path_src[q])}->{int(self.path_dst[q])} is not contiguous: link "
                f"{int(self.link_src[pl[h]])}->{int(self.link_dst[pl[h]])} is followed by "
                f"{int(self.link_src[pl[h + 1]])}->{int(self.link_dst[pl[h + 1]])}"
            )
        bad = np.flatnonzero(
            (self.link_src[pl[first]] != self.path_src) | (self.link_dst[pl[last]] != self.path_dst)
        )
        if bad.size:
            q = int(bad[0])
            raise ScenarioError(
                f"path {int(self.path_src[q])}->{int(self.path_dst[q])} starts or ends at the wrong node: "
                f"{self.path_nodes(q)}"
            )
        # a routing loop visits a node twice: check (path, node) pairs for duplicates
        visit = np.concatenate([np.arange(p) * n + self.path_src, hop_path * n + self.link_dst[pl]])
        u, c = np.unique(visit, return_counts=True)
        if (c > 1).any():
            q, node = divmod(int(u[c > 1][0]), n)
            raise ScenarioError(
                f"path {int(self.path_src[q])}->{int(self.path_dst[q])} has a routing loop: it visits node "
                f"{node} twice ({self.path_nodes(q)})"
            )

    def _validate_flows(self) -> None:
        f, p = self.n_flows, self.n_paths
        _i64(self.flow_path, f, "flow_path")
        for name in ("flow_rate_bps", "flow_pkt_rate", "flow_on_s", "flow_off_s"):
            _f64(getattr(self, name), f, name)
        for name in ("flow_time_dist", "flow_size_dist", "flow_tos"):
            _i64(getattr(self, name), f, name)
        for name in ("flow_sizes_bits", "flow_size_probs"):
            arr = getattr(self, name)
            if arr.shape != (f, MAX_SIZES):
                raise ScenarioError(f"{name}: expected shape ({f}, {MAX_SIZES}), got {arr.shape}")
        bad = np.flatnonzero((self.flow_path < 0) | (self.flow_path >= p))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(f"flow {i} refers to path {int(self.flow_path[i])}, which does not exist")
        bad = np.flatnonzero(~(self.flow_rate_bps >= 0) | ~np.isfinite(self.flow_rate_bps))
        if bad.size:
            i = int(bad[0])
            q = int(self.flow_path[i])
            raise ScenarioError(
                f"flow {i} on {int(self.path_src[q])}->{int(self.path_dst[q])} has rate "
                f"{float(self.flow_rate_bps[i])!r} bps; rates must be finite and >= 0"
            )
        bad = np.flatnonzero((self.flow_tos < 0) | (self.flow_tos >= MAX_QUEUES))
        if bad.size:
            i = int(bad[0])
            raise ScenarioError(f"flow {i} has ToS {int(self.flow_tos[i])}; expected 0..{MAX_QUEUES - 1}")

    # -------------------------------------------------------------- builder
    @classmethod
    def build(
        cls,
        n_nodes: int,
        links: Iterable[Sequence[float]],
        routes: Mapping[tuple[int, int], Sequence[int]],
        flows: Iterable[Flow],
        *,
        policy: Sequence[Policy | str] | Policy | str = Policy.FIFO,
        weights: Sequence[Sequence[float]] | None = None,
        queue_pkts: float | Sequence[Sequence[float]] = 32.0,
        buffer_bits: float | Sequence[float] = float("nan"),
        name: str = "",
        time_unit: str = "s",
        meta: dict[str, object] | None = None,
    ) -> Scenario:
        """Build a scenario from row-wise pieces (convenient, not the hot path).

        ``links`` rows are ``(src, dst, capacity_bps[, prop_delay_s])``;
        ``routes`` maps ``(src, dst)`` to the node sequence of its path. Every
        flow either gives its own :attr:`Flow.route` or has a ``routes``
        entry; flows with different node sequences for one pair get one path
        each (ECMP). Paths come in ``routes`` order, then in order of first use.
        """
        link_rows = [tuple(r) for r in links]
        lsrc = np.array([int(r[0]) for r in link_rows], dtype=np.int64)
        ldst = np.array([int(r[1]) for r in link_rows], dtype=np.int64)
        cap = np.array([float(r[2]) for r in link_rows], dtype=np.float64)
        prop = np.array([float(r[3]) if len(r) > 3 else 0.0 for r in link_rows], dtype=np.float64)
        lid = {(int(s), int(d)): i for i, (s, d) in enumerate(zip(lsrc, ldst))}
        psrc: list[int] = []
        pdst: list[int] = []
        ptr: list[int] = [0]
        plinks: list[int] = []
        pid: dict[tuple[int, int], int] = {}
        seq_id: dict[tuple[int, ...], int] = {}

        def add_path(nodes: Sequence[int], s: int, d: int, what: str) -> int:
            seq = tuple(int(v) for v in nodes)
            if seq in seq_id:
                return seq_id[seq]
            if len(seq) < 2 or seq[0] != s or seq[-1] != d:
                raise ScenarioError(f"{what} {s}->{d} must run from {s} to {d}, got {list(seq)}")
            for a, b in pairwise(seq):
                if (a, b) not in lid:
                    raise ScenarioError(f"{what} {s}->{d} uses link {a}->{b}, which does not exist")
                plinks.append(lid[(a, b)])
            seq_id[seq] = len(psrc)
            psrc.append(s)
            pdst.append(d)
            ptr.append(len(plinks))
            return seq_id[seq]

        for (s, d), nodes in routes.items():
            pid[(int(s), int(d))] = add_path(nodes, int(s), int(d), "route")
        flow_rows = list(flows)
        f = len(flow_rows)
        fpath = np.empty(f, dtype=np.int64)
        sizes = np.full((f, MAX_SIZES), np.nan)
        probs = np.zeros((f, MAX_SIZES))
        for i, fl in enumerate(flow_rows):
            if fl.route:
                fpath[i] = add_path(fl.route, int(fl.src), int(fl.dst), f"flow {i} route")
            elif (fl.src, fl.dst) in pid:
                fpath[i] = pid[(fl.src, fl.dst)]
            else:
                raise ScenarioError(f"flow {i} ({fl.src}->{fl.dst}) has no route")
            if fl.sizes_bits:
                if len(fl.sizes_bits) > MAX_SIZES or len(fl.sizes_bits) != len(fl.size_probs):
                    raise ScenarioError(f"flow {i}: sizes_bits and size_probs must have equal length <= {MAX_SIZES}")
                sizes[i, : len(fl.sizes_bits)] = fl.sizes_bits
                probs[i, : len(fl.size_probs)] = fl.size_probs
            else:
                sizes[i, 0] = fl.pkt_size_bits
                probs[i, 0] = 1.0
        mean_size = np.nansum(np.nan_to_num(sizes) * probs, axis=1)
        rate = np.array([fl.rate_bps for fl in flow_rows], dtype=np.float64)
        n_sizes = (probs > 0).sum(axis=1)
        pol = [policy] * n_nodes if isinstance(policy, (str, Policy)) else list(policy)
        pol_codes = np.array([Policy[p] if isinstance(p, str) else Policy(p) for p in pol], dtype=np.int8)
        w = np.full((n_nodes, MAX_QUEUES), np.nan) if weights is None else np.asarray(weights, dtype=np.float64)
        qp = np.broadcast_to(np.asarray(queue_pkts, dtype=np.float64), (n_nodes, MAX_QUEUES)).copy()
        bb = np.broadcast_to(np.asarray(buffer_bits, dtype=np.float64), (n_nodes,)).copy()
        return cls(
            n_nodes=n_nodes,
            node_policy=pol_codes,
            node_weights=w,
            node_queue_pkts=qp,
            node_buffer_bits=bb,
            link_src=lsrc,
            link_dst=ldst,
            link_capacity_bps=cap,
            link_prop_delay_s=prop,
            path_src=np.array(psrc, dtype=np.int64),
            path_dst=np.array(pdst, dtype=np.int64),
            path_ptr=np.array(ptr, dtype=np.int64),
            path_links=np.array(plinks, dtype=np.int64),
            flow_path=fpath,
            flow_rate_bps=rate,
            flow_pkt_rate=np.where(mean_size > 0, rate / np.where(mean_size > 0, mean_size, 1.0), 0.0),
            flow_time_dist=np.array([int(fl.time_dist) for fl in flow_rows], dtype=np.int8),
            flow_on_s=np.array([fl.on_s for fl in flow_rows], dtype=np.float64),
            flow_off_s=np.array([fl.off_s for fl in flow_rows], dtype=np.float64),
            flow_size_dist=np.where(n_sizes > 1, int(SizeDist.GENERIC), int(SizeDist.DETERMINISTIC)).astype(np.int8),
            flow_sizes_bits=sizes,
            flow_size_probs=probs,
            flow_tos=np.array([fl.tos for fl in flow_rows], dtype=np.int8),
            name=name,
            time_unit=time_unit,
            meta=dict(meta or {}),
        )
