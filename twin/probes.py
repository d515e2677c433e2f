"""Active probes in a window's scenario: the path a probe's packets take, and its probe flow.

A probe (TWAMP-like; the network model's ``probes``) sends ``rate_pps``
packets of ``size_bits`` per second from ``src`` to ``dst`` in one ToS class.
It is one 5-tuple, so with ECMP its packets follow *one* of the pair's
equal-cost paths: the one a router's flow hash picks. :func:`probe_paths`
picks it with the routing's own hash (:func:`twinwatch.twin.routing.hash_paths`), keyed
by the probe number (offset by :data:`PROBE_KEY_BASE`, so it never collides
with a demand row's key).

The snapshot then gives a probe a flow of its own (:func:`probe_flow_columns`:
constant bit rate, fixed packet size, the probe's class) whenever the path
its packets take carries no other traffic, so that the twin predicts a delay
for every probed path instead of nothing; a probe on a busy path adds no flow
(its packets are a negligible part of the load there). Its packets wait in the
same queues as the path's other packets but are transmitted at their own size:
:func:`own_packet_shift_s` is what turns the path's mean delay into the
probe's own (the testbed's probe results and the detectors' expectation use it
alike; ``bench/notes/detect_eval.md``, session 33).

Examples
--------
>>> import numpy as np
>>> from twinwatch.twin.routing import compute_routing
>>> src = np.array([0, 0, 1, 2]); dst = np.array([1, 2, 3, 3])
>>> r = compute_routing(4, src, dst, np.ones(4), split="even")
>>> p = probe_paths(r, np.array([0, 3]), np.array([3, 0]), np.array([0, 0]))
>>> r.path_nodes(int(p[0])) in ([0, 1, 3], [0, 2, 3]), int(p[1])  # 3 -> 0 has no route
(True, -1)
>>> cols = probe_flow_columns(np.array([10.0]), np.array([1024.0]), np.array([2]))
>>> cols["flow_rate_bps"].tolist(), cols["flow_pkt_rate"].tolist(), cols["flow_tos"].tolist()
([10240.0], [10.0], [2])
"""

from __future__ import annotations

import numpy as np

from twinwatch.twin.models.bounds import path_mean_pkt_size_bits
from twinwatch.twin.routing import Routing, flow_hash, hash_paths
from twinwatch.twin.scenario import MAX_SIZES, Scenario, SizeDist, TimeDist

__all__ = ["PROBE_KEY_BASE", "own_packet_shift_s", "pair_numbers", "probe_flow_columns", "probe_paths",
           "probed_links", "probes_per_link"]

PROBE_KEY_BASE = 1 << 48
"""Flow-hash key of probe ``k`` is ``PROBE_KEY_BASE + k`` (demand rows use their row number)."""


def pair_numbers(routing: Routing, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``(K,)`` int64 index of each ``(src, dst)`` among the routing's pairs (-1 when not routed)."""
    s = np.asarray(src, dtype=np.int64)
    d = np.asarray(dst, dtype=np.int64)
    n = routing.n_nodes
    pk = routing.pair_src * n + routing.pair_dst
    if pk.size == 0 or s.size == 0:
        return np.full(s.shape, -1, dtype=np.int64)
    o = np.argsort(pk, kind="stable")
    q = s * n + d
    pos = np.clip(np.searchsorted(pk[o], q), 0, pk.size - 1)
    return np.where(pk[o][pos] == q, o[pos], -1).astype(np.int64)


def probe_paths(routing: Routing, src: np.ndarray, dst: np.ndarray, tos: np.ndarray) -> np.ndarray:
    """``(K,)`` int64 routing path number each probe's packets take (-1: no route in this link state).

    Shapes: ``src``, ``dst``, ``tos`` ``(K,)`` (node numbers, ToS class).
    """
    s = np.asarray(src, dtype=np.int64)
    pair = pair_numbers(routing, s, dst)
    out = np.full(s.shape, -1, dtype=np.int64)
    ok = np.flatnonzero(pair >= 0)
    if ok.size:
        key = flow_hash(s[ok], np.asarray(dst, dtype=np.int64)[ok], np.asarray(tos, dtype=np.int64)[ok],
                        PROBE_KEY_BASE + ok)
        out[ok] = hash_paths(routing, pair[ok], key)
    return out


def probe_flow_columns(rate_pps: np.ndarray, size_bits: np.ndarray, tos: np.ndarray) -> dict[str, np.ndarray]:
    """The :class:`~twin.scenario.Scenario` ``flow_*`` columns (all but ``flow_path``) of ``(K,)`` probe flows.

    Constant bit rate (:attr:`TimeDist.CBR`), one packet size
    (:attr:`SizeDist.DETERMINISTIC`), rate ``rate_pps · size_bits`` bit/s.
    """
    pps = np.asarray(rate_pps, dtype=np.float64)
    size = np.asarray(size_bits, dtype=np.float64)
    k = pps.shape[0]
    sizes = np.full((k, MAX_SIZES), np.nan)
    sizes[:, 0] = size
    probs = np.zeros((k, MAX_SIZES))
    probs[:, 0] = 1.0
    return {
        "flow_rate_bps": pps * size,
        "flow_pkt_rate": pps.copy(),
        "flow_time_dist": np.full(k, int(TimeDist.CBR), dtype=np.int8),
        "flow_on_s": np.full(k, np.nan),
        "flow_off_s": np.full(k, np.nan),
        "flow_size_dist": np.full(k, int(SizeDist.DETERMINISTIC), dtype=np.int8),
        "flow_sizes_bits": sizes,
        "flow_size_probs": probs,
        "flow_tos": np.asarray(tos, dtype=np.int8).copy(),
    }


def own_packet_shift_s(sc: Scenario, path: np.ndarray, size_bits: np.ndarray) -> np.ndarray:
    """``(n,)`` seconds to add to the mean packet delay of scenario path ``path[i]`` to get that of packets of
    ``size_bits[i]`` on it (0 where ``path[i]`` is -1).

    A probe's packets wait in the queues of the path they take like the path's other packets (a Poisson-like
    probe sees the time-average queue) but each hop transmits them at their own size: on a path whose
    packets average ``S̄`` bits, a probe of ``s`` bits is ``Σ_hops (s − S̄) / C`` faster (store and forward). On a
    2 Mb/s hop a 128-B probe behind 1,000-B packets is 3.5 ms faster; at 10 Gb/s 0.7 µs. Without it, a probed
    path's expectation jumps by that much whenever the window's estimated matrix leaves the pair without
    demand (the probe then gets a flow of its own, of its own size) or gives it some again. On a probe's own
    flow the shift is 0 (the path's mean size is the probe's).

    Shapes: ``path`` ``(n,)`` int scenario path numbers (:attr:`WindowSnapshot.probe_path` for the probes),
    ``size_bits`` ``(n,)``.

    >>> from twinwatch.twin.scenario import Flow
    >>> sc = Scenario.build(n_nodes=3, links=[(0, 1, 2e6), (1, 2, 1e9)], routes={(0, 2): [0, 1, 2]},
    ...                     flows=[Flow(src=0, dst=2, rate_bps=1e6, pkt_size_bits=8000.0)])
    >>> (own_packet_shift_s(sc, np.array([0, -1]), np.array([1024.0, 1024.0])) * 1e3).round(3).tolist()
    [-3.495, 0.0]

    (``(1024 − 8000) / 2e6 + (1024 − 8000) / 1e9`` s.)
    """
    p = np.asarray(path, dtype=np.int64)
    on = p >= 0
    out = np.zeros(p.shape)
    if on.any():
        inv_cap = np.bincount(sc.hop_path, weights=1.0 / sc.link_capacity_bps[sc.path_links], minlength=sc.n_paths)
        q = p[on]
        out[on] = (np.asarray(size_bits, dtype=np.float64)[on] - path_mean_pkt_size_bits(sc)[q]) * inv_cap[q]
    return out


def probed_links(routing: Routing, src: np.ndarray, dst: np.ndarray, tos: np.ndarray) -> np.ndarray:
    """``(E,)`` bool: the links some probe's packets cross (the path :func:`probe_paths` picks per probe).

    Silent drops (grey loss) and queueing on a link no probe crosses show in no telemetry (counters do
    not count silent drops; delay is measured only by probes): a detector cannot see them there.

    >>> from twinwatch.twin.routing import compute_routing
    >>> r = compute_routing(3, np.array([0, 1, 1, 2]), np.array([1, 2, 0, 1]), np.ones(4))
    >>> probed_links(r, np.array([0]), np.array([2]), np.array([0])).tolist()   # 0 -> 1 -> 2
    [True, True, False, False]
    """
    return probes_per_link(routing, src, dst, tos, np.ones(np.asarray(src).size))[0] > 0


def probes_per_link(routing: Routing, src: np.ndarray, dst: np.ndarray, tos: np.ndarray,
                    rate_pps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E,)`` int and float: how many probes cross each link (the path :func:`probe_paths` picks per probe), and
    their packets per second together (``rate_pps``, ``(K,)``) — what the detector's per-link pooled probe-loss
    test counts (:func:`twinwatch.detectors.probe_loss.pooled_p_values`).

    >>> from twinwatch.twin.routing import compute_routing
    >>> r = compute_routing(3, np.array([0, 1, 1, 2]), np.array([1, 2, 0, 1]), np.ones(4))
    >>> n, pps = probes_per_link(r, np.array([0, 1]), np.array([2, 2]), np.array([0, 0]), np.array([10.0, 5.0]))
    >>> n.tolist(), pps.tolist()                                                # 0 -> 1 -> 2 and 1 -> 2
    ([1, 2, 0, 0], [10.0, 15.0, 0.0, 0.0])
    """
    path = probe_paths(routing, src, dst, tos)
    routed = np.flatnonzero(path >= 0)
    starts, ends = routing.path_ptr[path[routed]], routing.path_ptr[path[routed] + 1]
    hops = ends - starts
    probe_of_hop = np.repeat(routed, hops)
    offsets = np.arange(int(hops.sum())) - np.repeat(np.cumsum(hops) - hops, hops)
    links = routing.path_links[np.repeat(starts, hops) + offsets]
    count = np.bincount(links, minlength=routing.n_links)
    pps = np.bincount(links, weights=np.asarray(rate_pps, dtype=np.float64)[probe_of_hop], minlength=routing.n_links)
    return count, pps
