"""The operated-network recipe: training scenarios that look like the networks operators run.

:func:`draw_operated` turns a real topology (Topology Zoo GraphML or a shipped
network model) and a random generator into a :class:`~twin.scenario.Scenario`
and a packet budget; :func:`simulate_operated` labels it with the packet-level
simulator. Every distribution, and why it was chosen, is in
``bench/notes/twin_recipe.md``; in short, per sample:

1. **Capacities** (``"draw"``): each physical link gets 1, 10 or 100 Gb/s;
   a tier set is drawn per sample (1/10, 10/100 or 1/10/100 Gb/s) and the
   links whose endpoints have the largest degree product (plus noise) get the
   fastest tier. Shipped network models keep their own capacities (``"keep"``).
2. **Propagation** from geography (the topology's great-circle delays); a link
   with an endpoint without coordinates gets the median delay of the others.
3. **Routing** with :func:`twinwatch.twin.routing.compute_routing`: IGP metric
   OSPF inverse capacity (reference 100 Gb/s) or latency (100 µs units), ECMP
   split ``even`` / ``hash`` / ``none``.
4. **Traffic**: gravity ``T_ij ∝ m_i f_i · m_j f_j · ε_ij`` with log-normal
   node masses ``m`` (σ drawn per sample), a diurnal factor ``f`` of each
   node's local time (the Abilene-fitted shape of :mod:`twinwatch.twin.testbed.shape`,
   local time from longitude, one UTC instant per sample) and log-normal pair
   noise ``ε``. Large networks keep at most ``max_pairs`` pairs, sampled
   without replacement with probability ∝ ``T_ij`` (the heavy pairs carry
   most of the bytes of a real matrix, and they are the ones that can be
   labelled precisely).
5. **Classes**: 1, 2 or 3 ToS classes; a pair's demand is split over them.
   One class: every port FIFO. Several: SP, WFQ or DRR network-wide (10 % of
   nodes another policy), WFQ/DRR weights from the GNNet weight sets.
6. **Load**: the matrix is scaled so the busiest link's offered utilisation is
   ``rho_max``: ``U(0.1, 0.9)`` with probability 0.8, else ``U(0.9, 1.1)``.
7. **Flows**: one per (pair, class, ECMP path), each on its own path row
   (so every path label is one flow's, one class's). Time distribution
   Poisson / ON-OFF / CBR; packet sizes deterministic, bimodal 64/1500 B or
   IMIX 64/594/1518 B (size cv² 0 … 1.46).
8. **Buffers** as vendors set them: in bits, 1–100 ms of the node's fastest
   line rate, or in packets, 8–10⁴, log-uniform; a port whose offered load
   exceeds its capacity gets a buffer it fills within 5 % of the simulated
   window, so that every label is a steady state.

The simulator runs the zero-propagation twin of the scenario and the path's
propagation is added exactly to delays (``twinwatch.twin.testbed.truth`` does the
same: stationary independent sources, so a constant per-link shift of
arrival times changes no queue); the delay CI then measures the queueing part.

Examples
--------
>>> from twinwatch.twin.topology import load_topology
>>> topo = load_topology("nsfnet")
>>> sc, budget = draw_operated(topo, np.random.default_rng(3), OperatedRecipe(), keep_capacity=True)
>>> sc.n_nodes, sc.n_flows == sc.n_paths, 0.1 <= sc.meta["rho_max"] <= 1.1
(14, True, True)
>>> round(float((sc.link_load_bps() / sc.link_capacity_bps).max()), 6) == round(sc.meta["rho_max"], 6)
True
>>> OperatedRecipe().min_packets <= budget <= OperatedRecipe().max_packets
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from twinwatch.twin.routing import compute_routing, default_metric, route_demand
from twinwatch.twin.scenario import MAX_QUEUES, MAX_SIZES, Policy, Scenario, SizeDist, TimeDist
from twinwatch.twin.sim.engine import SimConfig, SimResult, simulate
from twinwatch.twin.testbed.shape import ABILENE
from twinwatch.twin.topology import Topology

__all__ = [
    "IMIX_BYTES",
    "IMIX_PROBS",
    "OperatedRecipe",
    "draw_operated",
    "simulate_operated",
    "size_cv2",
]

IMIX_BYTES = (64.0, 594.0, 1518.0)
"""Simple IMIX in Ethernet frame sizes (7:4:1), size cv² 1.38."""
IMIX_PROBS = (7 / 12, 4 / 12, 1 / 12)
_BIMODAL_BYTES = (64.0, 1500.0)
_WEIGHT_SETS = np.array([[33.3, 33.3, 33.4], [60.0, 30.0, 10.0], [70.0, 20.0, 10.0], [50.0, 25.0, 25.0],
                         [80.0, 10.0, 10.0], [90.0, 5.0, 5.0]])
_TIERS = ((1e9, 10e9), (10e9, 100e9), (1e9, 10e9, 100e9))
_SPLITS = ("even", "hash", "none")
_SIZE_KINDS = ("deterministic", "bimodal", "imix")
_TIME_CODES = np.array([int(TimeDist.POISSON), int(TimeDist.ONOFF), int(TimeDist.CBR)], dtype=np.int8)


@dataclass(frozen=True, slots=True)
class OperatedRecipe:
    """The distributions of the operated-network recipe (JSON-serialisable; stored in the manifest).

    Parameters
    ----------
    load_low, load_high, p_load_high
        Busiest-link offered utilisation ``rho_max``: ``U(load_low)`` with
        probability ``1 - p_load_high``, else ``U(load_high)``.
    mass_sigma
        Range of the log-normal σ of gravity node masses (drawn per sample).
    pair_noise_sigma
        Log-normal σ of the per-pair noise of the gravity matrix.
    max_pairs
        Most (src, dst) pairs that carry traffic (sampled ∝ gravity beyond it).
    classes_probs
        Probabilities of 1, 2 and 3 ToS classes per sample.
    policy_probs
        Probabilities of SP, WFQ and DRR as the network-wide policy (several classes).
    time_probs
        Per-flow probabilities of Poisson, ON-OFF and CBR.
    size_probs
        Per-flow probabilities of deterministic, bimodal 64/1500 B and IMIX sizes.
    p_uniform_mix
        Probability that a sample uses one time distribution and one size
        kind for all its flows (regime extremes).
    onoff_packets
        Range of the mean ON and OFF durations, in the flow's mean packet spacing.
    buffer_ms, buffer_pkts, p_buffer_bits
        Buffers in bits (``buffer_ms`` of the node's fastest line rate,
        log-uniform, probability ``p_buffer_bits``) or in packets (log-uniform).
    packets_per_flow, min_packets, max_packets
        Packet budget of a sample: ``packets_per_flow × flows × (1 + mean
        size cv²)``, clipped to ``[min_packets, max_packets]``.
    min_scored_packets
        A path label is *scored* (``sim.path_scored``) with at least this
        many measured packets.
    """

    load_low: tuple[float, float] = (0.1, 0.9)
    load_high: tuple[float, float] = (0.9, 1.1)
    p_load_high: float = 0.2
    mass_sigma: tuple[float, float] = (0.5, 1.5)
    pair_noise_sigma: float = 0.3
    max_pairs: int = 800
    classes_probs: tuple[float, float, float] = (0.4, 0.2, 0.4)
    policy_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    time_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)
    size_probs: tuple[float, float, float] = (0.3, 0.35, 0.35)
    p_uniform_mix: float = 0.3
    onoff_packets: tuple[float, float] = (5.0, 50.0)
    buffer_ms: tuple[float, float] = (1.0, 100.0)
    buffer_pkts: tuple[float, float] = (8.0, 1e4)
    p_buffer_bits: float = 0.5
    packets_per_flow: int = 600
    min_packets: int = 200_000
    max_packets: int = 2_000_000
    min_scored_packets: int = 100

    def __post_init__(self) -> None:
        for name in ("load_low", "load_high", "mass_sigma", "onoff_packets", "buffer_ms", "buffer_pkts"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
                raise ValueError(f"OperatedRecipe.{name} {(lo, hi)}: expected finite 0 < lo <= hi")
        for name in ("classes_probs", "policy_probs", "time_probs", "size_probs"):
            p = np.asarray(getattr(self, name), dtype=np.float64)
            if p.shape != (3,) or (p < 0).any() or abs(p.sum() - 1.0) > 1e-6:
                raise ValueError(f"OperatedRecipe.{name} {tuple(p)}: expected 3 probabilities summing to 1")
        for name in ("p_load_high", "p_uniform_mix", "p_buffer_bits"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"OperatedRecipe.{name} {getattr(self, name)}: expected a probability in 0..1")
        if self.max_pairs < 1 or self.packets_per_flow < 1 or self.min_scored_packets < 1:
            raise ValueError("OperatedRecipe: max_pairs, packets_per_flow and min_scored_packets must be >= 1")
        if not 1 <= self.min_packets <= self.max_packets:
            raise ValueError(f"OperatedRecipe: need 1 <= min_packets ({self.min_packets}) <= max_packets "
                             f"({self.max_packets})")

    def to_json(self) -> dict[str, object]:
        """Plain dict (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> OperatedRecipe:
        """Inverse of :meth:`to_json`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # type: ignore[arg-type]


def size_cv2(sizes_bits: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """``(F,)`` squared coefficient of variation of each flow's packet size.

    Shapes: ``sizes_bits`` ``(F, S)`` (NaN padding), ``probs`` ``(F, S)``.

    >>> s = np.array([[64.0, 594.0, 1518.0], [512.0, np.nan, np.nan]]) * 8
    >>> p = np.array([[7 / 12, 4 / 12, 1 / 12], [1.0, 0.0, 0.0]])
    >>> np.round(size_cv2(s, p), 2).tolist()
    [1.38, 0.0]
    """
    s = np.nan_to_num(np.asarray(sizes_bits, dtype=np.float64))
    p = np.asarray(probs, dtype=np.float64)
    m1 = (s * p).sum(axis=1)
    m2 = (s * s * p).sum(axis=1)
    return np.maximum(m2 / (m1 * m1) - 1.0, 0.0)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float, size: int | None = None) -> np.ndarray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size=size))


def _physical(topo: Topology) -> np.ndarray:
    """``(E,)`` number of the undirected link each directed link belongs to."""
    n = topo.n_nodes
    key = np.minimum(topo.link_src, topo.link_dst) * n + np.maximum(topo.link_src, topo.link_dst)
    return np.unique(key, return_inverse=True)[1].ravel()


def _capacities(topo: Topology, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, ...]]:
    """``(E,)`` 1/10/100 Gb/s by endpoint degree product (plus noise); equal in both directions."""
    phys = _physical(topo)
    n_phys = int(phys.max()) + 1
    deg = np.bincount(topo.link_src, minlength=topo.n_nodes).astype(np.float64)
    first = np.unique(phys, return_index=True)[1]
    score = np.log(deg[topo.link_src[first]] * deg[topo.link_dst[first]]) + rng.normal(0.0, 0.5, n_phys)
    tiers = _TIERS[int(rng.integers(0, len(_TIERS)))]
    if len(tiers) == 2:
        top = np.array([rng.uniform(0.2, 0.6)])
    else:
        hi = rng.uniform(0.1, 0.3)
        top = np.array([hi, hi + rng.uniform(0.3, 0.5)])
    rank = np.argsort(np.argsort(-score, kind="stable"), kind="stable") / n_phys  # 0 = most central
    tier = len(tiers) - 1 - np.searchsorted(top, rank, side="right")
    return np.asarray(tiers, dtype=np.float64)[tier][phys], tiers


def _propagation(topo: Topology) -> np.ndarray:
    """``(E,)`` propagation delays; links with an endpoint without coordinates get the others' median."""
    prop = topo.link_prop_delay_s.astype(np.float64, copy=True)
    unknown = ~(np.isfinite(topo.node_lat) & np.isfinite(topo.node_lon))
    miss = unknown[topo.link_src] | unknown[topo.link_dst]
    if miss.any():
        known = prop[~miss]
        prop[miss] = float(np.median(known)) if known.size else 1e-3
    return prop


def _gravity(topo: Topology, rng: np.random.Generator, recipe: OperatedRecipe) -> tuple[np.ndarray, dict]:
    """``(N, N)`` relative gravity matrix with node-local diurnal factors (zero diagonal)."""
    n = topo.n_nodes
    sigma = float(rng.uniform(*recipe.mass_sigma))
    mass = rng.lognormal(0.0, sigma, size=n)
    utc_s = float(rng.uniform(0.0, 86_400.0))
    lon = np.where(np.isfinite(topo.node_lon), topo.node_lon, np.nanmean(topo.node_lon)
                   if np.isfinite(topo.node_lon).any() else 0.0)
    local = np.mod(utc_s + lon / 15.0 * 3600.0, 86_400.0)
    f = ABILENE.daily_factor(local)
    w = mass * f
    t = np.outer(w, w) * rng.lognormal(0.0, recipe.pair_noise_sigma, size=(n, n))
    np.fill_diagonal(t, 0.0)
    return t, {"mass_sigma": sigma, "utc_hour": utc_s / 3600.0, "diurnal_min": float(f.min()),
               "diurnal_max": float(f.max())}


def _pick_pairs(t: np.ndarray, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Up to ``k`` pairs sampled without replacement ∝ ``t`` (Efraimidis–Spirakis keys); kept mass fraction."""
    src, dst = np.nonzero(t)
    w = t[src, dst]
    if src.size <= k:
        return src, dst, 1.0
    keys = np.log(rng.random(src.size)) / w
    keep = np.sort(np.argpartition(-keys, k - 1)[:k])
    return src[keep], dst[keep], float(w[keep].sum() / w.sum())


def _class_shares(k: int, rng: np.random.Generator) -> np.ndarray:
    """``(k,)`` network-wide share of each ToS class (ToS 0 = the small priority class)."""
    if k == 1:
        return np.ones(1)
    if k == 2:
        p0 = rng.uniform(0.1, 0.5)
        return np.array([p0, 1.0 - p0])
    p0 = rng.uniform(0.05, 0.3)
    p1 = (1.0 - p0) * rng.uniform(0.2, 0.6)
    return np.array([p0, p1, 1.0 - p0 - p1])


def _sizes(kind: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(F, S)`` sizes (bits, NaN padding) and probabilities for size kinds 0 det, 1 bimodal, 2 IMIX."""
    f = kind.size
    sizes = np.full((f, MAX_SIZES), np.nan)
    probs = np.zeros((f, MAX_SIZES))
    det = kind == 0
    full = rng.random(f) < 0.5
    sizes[det, 0] = np.where(full, 1500.0, np.round(rng.uniform(64.0, 1500.0, f)))[det] * 8.0
    probs[det, 0] = 1.0
    bi = kind == 1
    p64 = rng.uniform(0.2, 0.65, f)[bi]
    sizes[bi, :2] = np.asarray(_BIMODAL_BYTES) * 8.0
    probs[bi, 0], probs[bi, 1] = p64, 1.0 - p64
    im = kind == 2
    sizes[im, :3] = np.asarray(IMIX_BYTES) * 8.0
    probs[im, :3] = IMIX_PROBS
    return sizes, probs


def _gather(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    off = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
    return np.repeat(starts, lens) + off


def draw_operated(
    topo: Topology, rng: np.random.Generator, recipe: OperatedRecipe, *, keep_capacity: bool = False,
    name: str = "",
) -> tuple[Scenario, int]:
    """One operated-network scenario on ``topo`` and its packet budget (see the module docstring).

    ``keep_capacity`` keeps the topology's own link capacities (shipped
    network models) instead of drawing the 1/10/100 Gb/s mix. Rates are in
    bits/s, times in seconds; every random choice comes from ``rng``.
    """
    n, e = topo.n_nodes, topo.n_links
    if n < 2 or e < 2:
        raise ValueError(f"topology {topo.name!r}: needs at least 2 nodes and 2 links, got {n} and {e}")
    meta: dict[str, object] = {"topology": topo.name, "recipe": "operated"}
    # 1-2. capacities and propagation
    if keep_capacity:
        cap = topo.link_capacity_bps.astype(np.float64, copy=True)
        meta["capacity_tiers_gbps"] = sorted({round(float(c) / 1e9, 3) for c in np.unique(cap)})
    else:
        cap, tiers = _capacities(topo, rng)
        meta["capacity_tiers_gbps"] = [t / 1e9 for t in tiers]
    prop = _propagation(topo)
    # 3. routing
    metric_kind = "capacity" if rng.random() < 0.5 else "latency"
    metric = default_metric(cap) if metric_kind == "capacity" else np.maximum(1.0, np.round(prop / 1e-4))
    split = _SPLITS[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
    # 4. traffic
    t, tm_meta = _gravity(topo, rng, recipe)
    src, dst, kept = _pick_pairs(t, rng, recipe.max_pairs)
    # 5. classes: one demand row per (pair, class)
    k = int(rng.choice(3, p=recipe.classes_probs)) + 1
    shares = _class_shares(k, rng)
    per_pair = shares[None, :] * rng.lognormal(0.0, 0.3, size=(src.size, k))
    per_pair /= per_pair.sum(axis=1, keepdims=True)
    d_src, d_dst = np.repeat(src, k), np.repeat(dst, k)
    d_tos = np.tile(np.arange(k, dtype=np.int64), src.size)
    d_rate = (t[src, dst][:, None] * per_pair).ravel()
    routing = compute_routing(n, topo.link_src, topo.link_dst, metric, pairs=(src, dst), split=split)
    if routing.unreachable_src.size:
        raise ValueError(f"topology {topo.name!r}: node {int(routing.unreachable_dst[0])} is unreachable from "
                         f"node {int(routing.unreachable_src[0])}")
    rf = route_demand(routing, d_src, d_dst, d_rate, tos=d_tos)
    # one path row per flow
    lens = np.diff(rf.path_ptr)[rf.flow_path]
    path_links = rf.path_links[_gather(rf.path_ptr[rf.flow_path], lens)]
    path_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    nf = rf.flow_path.size
    hop_flow = np.repeat(np.arange(nf), lens)
    # 6. load
    util = np.bincount(path_links, weights=rf.flow_rate_bps[hop_flow], minlength=e) / cap
    high = rng.random() < recipe.p_load_high
    rho_max = float(rng.uniform(*(recipe.load_high if high else recipe.load_low)))
    rate = rf.flow_rate_bps * (rho_max / util.max())
    # 7. flow attributes, drawn per demand row and shared by its ECMP flows
    nd = d_src.size
    if rng.random() < recipe.p_uniform_mix:
        time_kind = np.full(nd, int(rng.choice(3, p=recipe.time_probs)))
        size_kind = np.full(nd, int(rng.choice(3, p=recipe.size_probs)))
        meta["mix"] = "uniform"
    else:
        time_kind = rng.choice(3, size=nd, p=recipe.time_probs)
        size_kind = rng.choice(3, size=nd, p=recipe.size_probs)
        meta["mix"] = "per-flow"
    sizes, probs = _sizes(size_kind, rng)
    on_draw = rng.uniform(*recipe.onoff_packets, size=(2, nd))
    fd = rf.flow_demand
    sizes, probs, tdist = sizes[fd], probs[fd], _TIME_CODES[time_kind][fd]
    mean_size = (np.nan_to_num(sizes) * probs).sum(axis=1)
    pkt_rate = rate / mean_size
    onoff = tdist == int(TimeDist.ONOFF)
    on_s = np.where(onoff, on_draw[0][fd] / pkt_rate, np.nan)
    off_s = np.where(onoff, on_draw[1][fd] / pkt_rate, np.nan)
    n_sizes = (probs > 0).sum(axis=1)
    cv2 = size_cv2(sizes, probs)
    budget = int(np.clip(recipe.packets_per_flow * nf * (1.0 + float(cv2.mean())), recipe.min_packets,
                         recipe.max_packets))
    # 8. nodes: scheduling and buffers
    if k == 1:
        policy = np.full(n, int(Policy.FIFO), dtype=np.int8)
        pol_name = "FIFO"
    else:
        main = int(rng.choice(3, p=recipe.policy_probs)) + 1  # SP, WFQ, DRR
        other = rng.random(n) < 0.1
        policy = np.where(other, rng.integers(0, 4, size=n), main).astype(np.int8)
        pol_name = Policy(main).name
    weights = np.full((n, MAX_QUEUES), np.nan)
    weighted = (policy == Policy.WFQ) | (policy == Policy.DRR)
    weights[weighted] = _WEIGHT_SETS[int(rng.integers(0, len(_WEIGHT_SETS)))]
    node_cap = np.zeros(n)
    np.maximum.at(node_cap, topo.link_src, cap)
    node_mult = rng.choice(np.array([0.5, 1.0, 2.0]), size=n)
    in_bits = bool(rng.random() < recipe.p_buffer_bits)
    if in_bits:
        ms = float(_log_uniform(rng, *recipe.buffer_ms))
        buf_bits = np.clip(ms * node_mult, *recipe.buffer_ms) * 1e-3 * node_cap
        queue_pkts = np.full((n, MAX_QUEUES), np.nan)
        meta["buffer"] = {"unit": "ms", "value": ms}
    else:
        kp = float(_log_uniform(rng, *recipe.buffer_pkts))
        pk = np.round(np.clip(kp * node_mult, *recipe.buffer_pkts))
        buf_bits = np.full(n, np.nan)
        queue_pkts = np.repeat(pk[:, None], MAX_QUEUES, axis=1)
        meta["buffer"] = {"unit": "packets", "value": kp}
    # a port offered more than its capacity must fill its buffer early in the window (steady-state labels)
    offered = np.bincount(path_links, weights=rate[hop_flow], minlength=e) / cap
    window_s = budget / float(pkt_rate.sum())
    over = np.flatnonzero(offered >= 1.0)
    capped = 0
    if over.size:
        allow_bits = 0.05 * window_s * np.maximum(offered[over] - 1.0, 0.02) * cap[over]
        node_allow = np.full(n, np.inf)
        np.minimum.at(node_allow, topo.link_src[over], allow_bits)
        mean_bits = float((rate.sum()) / pkt_rate.sum())
        if in_bits:
            tight = node_allow < buf_bits
            buf_bits = np.where(tight, np.maximum(node_allow, 8 * mean_bits), buf_bits)
        else:
            allow_pk = np.maximum(np.floor(node_allow / mean_bits), recipe.buffer_pkts[0])
            tight = allow_pk < queue_pkts[:, 0]
            queue_pkts = np.where(tight[:, None], allow_pk[:, None], queue_pkts)
        capped = int(tight.sum())
    tos = d_tos[fd].astype(np.int8)
    sc = Scenario(
        n_nodes=n, node_policy=policy, node_weights=weights, node_queue_pkts=queue_pkts, node_buffer_bits=buf_bits,
        link_src=topo.link_src.copy(), link_dst=topo.link_dst.copy(), link_capacity_bps=cap,
        link_prop_delay_s=prop,
        path_src=d_src[fd].astype(np.int64), path_dst=d_dst[fd].astype(np.int64), path_ptr=path_ptr,
        path_links=path_links.astype(np.int64), flow_path=np.arange(nf, dtype=np.int64),
        flow_rate_bps=rate, flow_pkt_rate=pkt_rate, flow_time_dist=tdist.astype(np.int8),
        flow_on_s=on_s, flow_off_s=off_s,
        flow_size_dist=np.where(n_sizes > 1, int(SizeDist.GENERIC), int(SizeDist.DETERMINISTIC)).astype(np.int8),
        flow_sizes_bits=sizes, flow_size_probs=probs, flow_tos=tos, name=name or topo.name, time_unit="s",
        meta={**meta, **tm_meta, "rho_max": rho_max, "load_band": "high" if high else "low",
              "pairs": int(src.size), "pairs_mass_kept": kept, "tos_classes": k, "policy": pol_name,
              "metric": metric_kind, "ecmp": split, "routing_version": routing.version,
              "buffer_capped_nodes": capped, "size_cv2_mean": float(cv2.mean()), "packet_budget": budget},
    )
    sc.validate()
    return sc, budget


def simulate_operated(sc: Scenario, seed: int, packets: int) -> tuple[SimResult, np.ndarray]:
    """Simulate ``sc`` with ``packets`` packets; propagation added exactly (see the module docstring).

    Returns the result with propagation in ``labels.path_delay_s``,
    ``flow_delay_s`` and the percentiles, and ``(P,)`` the path propagation
    sums (seconds). ``path_delay_ci`` and ``path_delay_rse`` stay those of the
    queueing part (queueing + transmission).
    """
    flat = replace(sc, link_prop_delay_s=np.zeros_like(sc.link_prop_delay_s))
    res = simulate(flat, SimConfig(seed=seed, min_packets=packets, max_packets=packets, target_rse=1e-9))
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    lb = res.labels
    res.labels = replace(lb, path_delay_s=lb.path_delay_s + prop)
    res.path_delay_percentiles = res.path_delay_percentiles + prop[:, None]
    res.flow_delay_s = res.flow_delay_s + prop[sc.flow_path]
    return res, prop
