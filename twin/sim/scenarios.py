"""Drawing random scenarios for training data: topology, routing, traffic, load, queues.

:func:`draw_scenario` turns a :class:`~twin.topology.Topology` and a random
generator into a :class:`~twin.scenario.Scenario`:

1. **Routing** (:func:`twinwatch.twin.routing.compute_routing`): weighted shortest
   paths. Link weights are random integers (``"random"``), all ones
   (``"hops"``) or ``max_capacity / capacity`` (``"capacity"``, the OSPF
   rule). With ``ecmp="none"`` a tiny random jitter makes every shortest path
   unique (one path per pair); with ``"even"`` or ``"hash"`` the weights are
   exact and equal-cost paths share the pair's traffic (ECMP).
2. **Traffic matrix** (relative): ``"gravity"`` (``T[i, j] ∝ m_i m_j`` with
   log-normal node masses and ±50 % noise), ``"uniform"`` (``U(0.1, 1)`` per
   pair, as in the GNNet datasets) or a given ``N × N`` matrix.
3. **Load**: the matrix is scaled so that the most utilised link carries
   ``rho_max`` of its capacity, ``rho_max`` drawn uniformly from
   ``params.load`` (light ≈ 0.1–0.4, saturated ≥ 1).
4. **Flows**: one flow per routed pair and path (a pair's ECMP flows share
   its draws), with a time distribution (Poisson, CBR, ON-OFF), a packet-size
   distribution and, under mixed scheduling, a ToS class.
5. **Nodes**: scheduling policy (FIFO, or a mix of FIFO/SP/WFQ/DRR with
   weights) and per-queue buffer sizes in packets.

Every random choice comes from the one generator passed in, so a sample is a
pure function of (topology, params, seed).

Examples
--------
>>> from twinwatch.twin.topology import random_topology
>>> rng = np.random.default_rng(7)
>>> topo = random_topology(10, degree=3.0, rng=rng)
>>> sc = draw_scenario(topo, ScenarioParams(load=(0.5, 0.5)), rng)
>>> sc.n_nodes, sc.n_paths, sc.n_flows
(10, 90, 90)
>>> round(float((sc.link_load_bps() / sc.link_capacity_bps).max()), 6)
0.5
>>> sc.meta["rho_max"]
0.5
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from twinwatch.twin.routing import SPLITS, compute_routing, route_demand
from twinwatch.twin.scenario import MAX_QUEUES, MAX_SIZES, Policy, Scenario, SizeDist, TimeDist
from twinwatch.twin.topology import Topology

__all__ = [
    "LOAD_PRESETS",
    "ScenarioParams",
    "draw_scenario",
    "load_matrix",
    "parse_load",
    "route_all_pairs",
    "traffic_matrix",
]

LOAD_PRESETS: dict[str, tuple[float, float]] = {
    "light": (0.1, 0.4),
    "moderate": (0.4, 0.7),
    "heavy": (0.7, 0.95),
    "saturated": (0.95, 1.2),
    "full": (0.1, 1.0),
}
"""Named ranges of the maximum link utilisation ``rho_max``."""

_WEIGHT_SETS = np.array(
    [
        [33.3, 33.3, 33.4],
        [60.0, 30.0, 10.0],
        [70.0, 20.0, 10.0],
        [50.0, 25.0, 25.0],
        [80.0, 10.0, 10.0],
        [90.0, 5.0, 5.0],
    ]
)
"""WFQ/DRR weight triples (percent), the kind used in the GNNet 2020/2022 samples."""

_IMIX_BITS = (40 * 8.0, 576 * 8.0, 1500 * 8.0)
_IMIX_PROBS = (7 / 12, 4 / 12, 1 / 12)
_MIN_PKT_BITS, _MAX_PKT_BITS = 64 * 8.0, 1500 * 8.0


def parse_load(text: str) -> tuple[float, float]:
    """A load range from a preset name, ``"LO-HI"`` or a single value.

    >>> parse_load("light"), parse_load("0.2-0.9"), parse_load("0.5")
    ((0.1, 0.4), (0.2, 0.9), (0.5, 0.5))
    """
    key = text.strip().lower()
    if key in LOAD_PRESETS:
        return LOAD_PRESETS[key]
    try:
        lo, _, hi = key.partition("-")
        out = (float(lo), float(hi or lo))
    except ValueError:
        out = (float("nan"), float("nan"))
    if not (0 < out[0] <= out[1] <= 5):
        raise ValueError(
            f"load {text!r}: expected one of {', '.join(LOAD_PRESETS)} or a range LO-HI with 0 < LO <= HI "
            "(maximum link utilisation, e.g. 0.1-0.9)"
        )
    return out


@dataclass(frozen=True, slots=True)
class ScenarioParams:
    """How scenarios are drawn (JSON-serialisable; stored in a dataset's manifest).

    Parameters
    ----------
    load
        Range of the maximum link utilisation ``rho_max`` (uniform).
    traffic
        ``"gravity"``, ``"uniform"`` or ``"matrix"`` (then ``matrix_file``).
    matrix_file
        Text (whitespace/comma separated) or ``.npy`` ``N × N`` matrix in
        bits/s; only its shape-pattern matters, it is rescaled to the load.
    pairs_fraction
        Fraction of (src, dst) pairs that carry traffic (1.0 = all).
    routing
        Link weights: ``"random"`` (integers 1..10), ``"hops"`` or ``"capacity"``.
    scheduling
        ``"fifo"`` (every port FIFO, ToS 0) or ``"mixed"`` (FIFO/SP/WFQ/DRR per
        node, random ToS per flow).
    buffer_pkts
        Per-queue buffer sizes (packets) to choose from, one per node.
    time_dists
        Time distributions to choose from per flow: ``poisson``, ``cbr``, ``onoff``.
    pkt_sizes
        ``"fixed"`` (1000 bytes), ``"imix"`` or ``"mixed"`` (per flow: a fixed
        size in 64..1500 bytes, IMIX, or 2–5 random sizes).
    onoff_packets
        Mean ON and mean OFF durations, in mean packet inter-arrival times.
    ecmp
        Split over equal-cost paths: ``"none"`` (one path per pair, ties
        broken by a random jitter), ``"even"`` or ``"hash"`` (see
        :mod:`twinwatch.twin.routing`).
    """

    load: tuple[float, float] = LOAD_PRESETS["full"]
    traffic: str = "gravity"
    matrix_file: str | None = None
    pairs_fraction: float = 1.0
    routing: str = "random"
    scheduling: str = "fifo"
    buffer_pkts: tuple[float, ...] = (16.0, 32.0, 64.0, 128.0)
    time_dists: tuple[str, ...] = ("poisson", "cbr", "onoff")
    pkt_sizes: str = "mixed"
    onoff_packets: tuple[float, float] = (5.0, 20.0)
    ecmp: str = "none"

    def __post_init__(self) -> None:
        if self.ecmp not in SPLITS:
            raise ValueError(f"ecmp {self.ecmp!r}: expected one of {', '.join(SPLITS)}")
        if self.traffic not in ("gravity", "uniform", "matrix"):
            raise ValueError(f"traffic {self.traffic!r}: expected gravity, uniform or matrix")
        if (self.traffic == "matrix") != (self.matrix_file is not None):
            raise ValueError("traffic='matrix' needs matrix_file (and matrix_file needs traffic='matrix')")
        if self.routing not in ("random", "hops", "capacity"):
            raise ValueError(f"routing {self.routing!r}: expected random, hops or capacity")
        if self.scheduling not in ("fifo", "mixed"):
            raise ValueError(f"scheduling {self.scheduling!r}: expected fifo or mixed")
        if self.pkt_sizes not in ("fixed", "imix", "mixed"):
            raise ValueError(f"pkt_sizes {self.pkt_sizes!r}: expected fixed, imix or mixed")
        bad = [t for t in self.time_dists if t not in _TIME_DISTS]
        if bad or not self.time_dists:
            raise ValueError(f"time_dists {self.time_dists!r}: choose from {', '.join(_TIME_DISTS)}")
        if not 0 < self.pairs_fraction <= 1:
            raise ValueError(f"pairs_fraction must be in (0, 1], got {self.pairs_fraction}")
        if not self.buffer_pkts or min(self.buffer_pkts) < 1:
            raise ValueError(f"buffer_pkts must be >= 1 packet, got {self.buffer_pkts}")
        if not 0 < self.load[0] <= self.load[1]:
            raise ValueError(f"load range {self.load}: expected 0 < lo <= hi")

    def to_json(self) -> dict[str, object]:
        """Plain dict (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> ScenarioParams:
        """Inverse of :meth:`to_json`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


_TIME_DISTS = {"poisson": TimeDist.POISSON, "cbr": TimeDist.CBR, "onoff": TimeDist.ONOFF}


def load_matrix(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an ``N × N`` traffic matrix (bits/s) from ``.npy`` or text (whitespace or commas)."""
    p = Path(path)
    try:
        if p.suffix == ".npy":
            m = np.load(p, allow_pickle=False)
        else:
            m = np.loadtxt(p, delimiter="," if "," in p.read_text()[:4096] else None, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p}: cannot read a traffic matrix ({exc}); expected N x N numbers in bits/s") from exc
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{p}: a traffic matrix must be square N x N, got shape {m.shape}")
    if not (np.isfinite(m).all() and (m >= 0).all()):
        raise ValueError(f"{p}: traffic matrix entries must be finite and >= 0")
    return m


def route_all_pairs(
    topo: Topology, weights: np.ndarray, src: np.ndarray, dst: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One shortest path for each (src, dst) pair as CSR ``(path_ptr, path_links)``.

    ``weights`` is ``(E,)`` positive per directed link. Shapes: ``src``/``dst``
    ``(P,)`` distinct pairs → ``path_ptr`` ``(P+1,)``, ``path_links`` ``(H,)``.
    A thin wrapper of :func:`twinwatch.twin.routing.compute_routing` with
    ``split="none"`` (equal-cost ties go to the lowest-numbered next node).
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    r = compute_routing(topo.n_nodes, topo.link_src, topo.link_dst, weights, pairs=(src, dst), split="none")
    if r.unreachable_src.size:
        raise ValueError(
            f"topology {topo.name!r}: node {int(r.unreachable_dst[0])} is unreachable from node "
            f"{int(r.unreachable_src[0])}"
        )
    if r.n_pairs != src.size:
        raise ValueError(f"topology {topo.name!r}: route_all_pairs needs distinct pairs with src != dst")
    return r.path_ptr, r.path_links


def traffic_matrix(
    kind: str, n: int, rng: np.random.Generator, matrix: np.ndarray | None = None
) -> np.ndarray:
    """Relative ``N × N`` traffic matrix (zero diagonal) of the given kind."""
    if kind == "gravity":
        mass = rng.lognormal(0.0, 0.6, size=n)
        t = np.outer(mass, mass) * rng.uniform(0.5, 1.5, size=(n, n))
    elif kind == "uniform":
        t = rng.uniform(0.1, 1.0, size=(n, n))
    elif kind == "matrix":
        if matrix is None or matrix.shape != (n, n):
            shape = None if matrix is None else matrix.shape
            raise ValueError(f"traffic matrix has shape {shape}, but the topology has {n} nodes")
        t = matrix.astype(np.float64, copy=True)
    else:
        raise ValueError(f"unknown traffic model {kind!r}")
    np.fill_diagonal(t, 0.0)
    return t


def draw_scenario(
    topo: Topology,
    params: ScenarioParams,
    rng: np.random.Generator,
    *,
    matrix: np.ndarray | None = None,
    name: str = "",
) -> Scenario:
    """One random scenario on ``topo`` (see the module docstring for the steps).

    ``matrix`` is the loaded ``params.matrix_file`` (see :func:`load_matrix`).
    Rates are in bits/s and times in seconds.
    """
    n, e = topo.n_nodes, topo.n_links
    # 1. routing weights (symmetric per physical link for "random")
    if params.routing == "random":
        key = np.minimum(topo.link_src, topo.link_dst) * n + np.maximum(topo.link_src, topo.link_dst)
        _, inv = np.unique(key, return_inverse=True)
        w = rng.integers(1, 11, size=inv.max() + 1)[inv].astype(np.float64)
    elif params.routing == "hops":
        w = np.ones(e)
    else:
        w = topo.link_capacity_bps.max() / topo.link_capacity_bps
    jitter = 1.0 + 1e-6 * rng.random(e)  # drawn in every mode, so that the random stream does not depend on ecmp
    if params.ecmp == "none":
        w = w * jitter
    # 2. traffic and pairs
    t = traffic_matrix(params.traffic, n, rng, matrix)
    if params.pairs_fraction < 1.0:
        t = t * (rng.random((n, n)) < params.pairs_fraction)
    src, dst = np.nonzero(t)
    if src.size == 0:
        raise ValueError(f"topology {topo.name!r}: the traffic matrix carries no traffic")
    routing = compute_routing(n, topo.link_src, topo.link_dst, w, pairs=(src, dst), split=params.ecmp)
    if routing.unreachable_src.size:
        raise ValueError(
            f"topology {topo.name!r}: node {int(routing.unreachable_dst[0])} is unreachable from node "
            f"{int(routing.unreachable_src[0])}"
        )
    rf = route_demand(routing, src, dst, t[src, dst])
    # 3. scale to the drawn maximum utilisation
    hop_path = np.repeat(np.arange(rf.path_src.size), np.diff(rf.path_ptr))
    path_rate = np.bincount(rf.flow_path, weights=rf.flow_rate_bps, minlength=rf.path_src.size)
    util = np.bincount(rf.path_links, weights=path_rate[hop_path], minlength=e) / topo.link_capacity_bps
    rho_max = float(rng.uniform(*params.load))
    scale = rho_max / util.max()
    # 4. flows: one per pair and path; attributes are drawn per pair and shared by its ECMP flows
    f = src.size
    fd = rf.flow_demand  # (F',) pair of each flow
    rate = rf.flow_rate_bps * scale
    sizes, probs = _draw_sizes(params.pkt_sizes, f, rng)
    sizes, probs = sizes[fd], probs[fd]
    mean_size = (np.nan_to_num(sizes) * probs).sum(axis=1)
    pkt_rate = rate / mean_size
    codes = np.array([int(_TIME_DISTS[k]) for k in params.time_dists], dtype=np.int8)
    tdist = codes[rng.integers(0, codes.size, size=f)][fd]
    onoff = tdist == TimeDist.ONOFF
    on_s = np.where(onoff, rng.uniform(*params.onoff_packets, size=f)[fd] / pkt_rate, np.nan)
    off_s = np.where(onoff, rng.uniform(*params.onoff_packets, size=f)[fd] / pkt_rate, np.nan)
    n_sizes = (probs > 0).sum(axis=1)
    # 5. nodes
    if params.scheduling == "fifo":
        policy = np.full(n, int(Policy.FIFO), dtype=np.int8)
        tos = np.zeros(fd.size, dtype=np.int8)
    else:
        policy = rng.integers(0, 4, size=n).astype(np.int8)
        tos = rng.choice(MAX_QUEUES, size=f, p=[0.5, 0.3, 0.2]).astype(np.int8)[fd]
    weights = np.full((n, MAX_QUEUES), np.nan)
    weighted = (policy == Policy.WFQ) | (policy == Policy.DRR)
    weights[weighted] = _WEIGHT_SETS[rng.integers(0, len(_WEIGHT_SETS), size=int(weighted.sum()))]
    qpk = rng.choice(np.asarray(params.buffer_pkts, dtype=np.float64), size=n)
    return Scenario(
        n_nodes=n,
        node_policy=policy,
        node_weights=weights,
        node_queue_pkts=np.repeat(qpk[:, None], MAX_QUEUES, axis=1),
        node_buffer_bits=np.full(n, np.nan),
        link_src=topo.link_src.copy(),
        link_dst=topo.link_dst.copy(),
        link_capacity_bps=topo.link_capacity_bps.copy(),
        link_prop_delay_s=topo.link_prop_delay_s.copy(),
        path_src=rf.path_src,
        path_dst=rf.path_dst,
        path_ptr=rf.path_ptr,
        path_links=rf.path_links,
        flow_path=rf.flow_path,
        flow_rate_bps=rate,
        flow_pkt_rate=pkt_rate,
        flow_time_dist=tdist,
        flow_on_s=on_s,
        flow_off_s=off_s,
        flow_size_dist=np.where(n_sizes > 1, int(SizeDist.GENERIC), int(SizeDist.DETERMINISTIC)).astype(np.int8),
        flow_sizes_bits=sizes,
        flow_size_probs=probs,
        flow_tos=tos,
        name=name or topo.name,
        time_unit="s",
        meta={
            "topology": topo.name,
            "rho_max": rho_max,
            "traffic": params.traffic,
            "scheduling": params.scheduling,
            "routing": params.routing,
            "ecmp": params.ecmp,
            "routing_version": routing.version,
        },
    )


def _draw_sizes(kind: str, f: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(F, S)`` sizes (bits, NaN padding) and probabilities (0 padding)."""
    sizes = np.full((f, MAX_SIZES), np.nan)
    probs = np.zeros((f, MAX_SIZES))
    if kind == "fixed":
        choice = np.zeros(f, dtype=np.int64)
    elif kind == "imix":
        choice = np.ones(f, dtype=np.int64)
    else:
        choice = rng.integers(0, 3, size=f)  # 0 fixed random size, 1 IMIX, 2 random generic
    fixed = choice == 0
    if kind == "fixed":
        sizes[fixed, 0] = 8000.0
    else:
        sizes[fixed, 0] = np.round(rng.uniform(_MIN_PKT_BITS, _MAX_PKT_BITS, int(fixed.sum())) / 8) * 8
    probs[fixed, 0] = 1.0
    imix = choice == 1
    sizes[imix, :3] = _IMIX_BITS
    probs[imix, :3] = _IMIX_PROBS
    gen = np.flatnonzero(choice == 2)
    if gen.size:
        k = rng.integers(2, MAX_SIZES + 1, size=gen.size)
        cand = np.round(rng.uniform(_MIN_PKT_BITS, _MAX_PKT_BITS, (gen.size, MAX_SIZES)) / 8) * 8
        w = rng.dirichlet(np.ones(MAX_SIZES), size=gen.size)
        used = np.arange(MAX_SIZES)[None, :] < k[:, None]
        w = np.where(used, w, 0.0)
        sizes[gen] = np.where(used, cand, np.nan)
        probs[gen] = w / w.sum(axis=1, keepdims=True)
    return sizes, probs
