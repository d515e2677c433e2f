"""Packet-level ground truth of one window of the network under test.

:func:`window_truth` runs the project's packet simulator on the window's true
:class:`~twin.scenario.Scenario` and reduces the per-flow statistics to the
KPIs a scorer compares with: per (source, destination, ToS class) path delay,
jitter (variance of delay) and loss; per link carried bits, packets, drops,
utilisation and queue occupancy.

Propagation is taken out of the packet simulation and added back exactly:
the simulator runs the zero-propagation twin of the scenario, and each path's
delay gets the sum of its links' propagation delays. With stationary,
mutually independent sources (the testbed's), a constant per-link shift of
arrival times does not change any queue's statistics, so this is exact in
distribution; it lets a window be simulated with tens of thousands of
packets instead of the millions needed to span a continent's propagation.

A triple whose own packets are too few in a window (below ``min_packets``,
common for the thousands of small demands of a 200-node network) gets its
delay *composed from the hops*: propagation plus the simulator's measured
mean sojourn (queueing + transmission) of its queue at every link of its
path (a port with no packet of that queue: one packet's transmission time),
and its loss from the links' measured loss; its jitter is then unknown (NaN)
and its ``method`` says ``hops``. For Poisson demand the time-average a flow
sees at a queue is the queue's (PASTA), so the composed mean is exact in
expectation; only the flow's own sampling noise is missing.

*Grey loss* (a link that silently drops a fraction of the packets it
carries) is applied after the simulation: a flow through grey links loses
``1 - Π(1 - r_l)`` more, and the receiving ports count only what arrived.
Its second-order effect on downstream queues (slightly less load) is
neglected, which is conservative for detection.

Units: seconds, bits/s, packets/s, ratios 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from twinwatch.twin.scenario import MAX_QUEUES, Scenario
from twinwatch.twin.sim.engine import SimConfig, SimResult, simulate

__all__ = ["WindowTruth", "simulate_window", "window_truth"]


@dataclass(frozen=True, slots=True)
class WindowTruth:
    """Ground truth of one window. ``D`` demand triples (src, dst, ToS) with traffic, ``E`` links, ``K`` probes.

    Attributes
    ----------
    pair_src, pair_dst, pair_tos
        ``(D,)`` int64.
    pair_delay_s, pair_jitter_s2, pair_loss_ratio, pair_delay_ci_s
        ``(D,)`` float: mean delay (propagation included), delay variance,
        loss ratio, half-width of the 95 % CI of the mean delay (NaN where
        too few packets were measured).
    pair_packets
        ``(D,)`` packets measured.
    pair_offered_bps
        ``(D,)`` offered bit/s of the triple.
    pair_method
        ``(D,)`` int8: 0 = measured on the triple's own packets, 1 = composed from the hops.
    link_tx_bps, link_tx_pps, link_drop_pps, link_rx_bps, link_rx_pps
        ``(E,)`` what the sending port transmits and drops and the receiving
        port receives.
    link_utilization, link_queue_occupancy, link_loss_ratio
        ``(E,)`` carried / true capacity, buffer-occupancy ratio, drop ratio.
    probe_delay_s, probe_jitter_s2, probe_loss_ratio
        ``(K,)`` what each probe's own packets saw (NaN when its flow was not measured).
    """

    pair_src: np.ndarray
    pair_dst: np.ndarray
    pair_tos: np.ndarray
    pair_delay_s: np.ndarray
    pair_jitter_s2: np.ndarray
    pair_loss_ratio: np.ndarray
    pair_delay_ci_s: np.ndarray
    pair_packets: np.ndarray
    pair_offered_bps: np.ndarray
    pair_method: np.ndarray
    link_tx_bps: np.ndarray
    link_tx_pps: np.ndarray
    link_drop_pps: np.ndarray
    link_rx_bps: np.ndarray
    link_rx_pps: np.ndarray
    link_utilization: np.ndarray
    link_queue_occupancy: np.ndarray
    link_loss_ratio: np.ndarray
    probe_delay_s: np.ndarray
    probe_jitter_s2: np.ndarray
    probe_loss_ratio: np.ndarray


def simulate_window(sc: Scenario, seed: int, packets: int) -> SimResult:
    """Simulate the zero-propagation twin of ``sc`` with about ``packets`` packets (see the module docstring)."""
    flat = replace(sc, link_prop_delay_s=np.zeros_like(sc.link_prop_delay_s))
    return simulate(flat, SimConfig(seed=seed, min_packets=packets, max_packets=packets, target_rse=1.0))


def _path_sum(sc: Scenario, per_link: np.ndarray) -> np.ndarray:
    return np.bincount(sc.hop_path, weights=per_link[sc.path_links], minlength=sc.n_paths)


def window_truth(
    sc: Scenario,
    res: SimResult,
    *,
    flow_probe: np.ndarray,
    n_probes: int,
    grey_loss: np.ndarray | None = None,
    min_packets: int = 20,
) -> WindowTruth:
    """Reduce a :func:`simulate_window` result on ``sc`` to a :class:`WindowTruth`.

    ``flow_probe`` is ``(F,)``: the probe a flow belongs to (-1: demand);
    ``grey_loss`` is ``(E,)`` the silent loss ratio of each link (0 when none);
    triples with fewer than ``min_packets`` measured packets are composed from the hops.
    """
    n, e = sc.n_nodes, sc.n_links
    grey = np.zeros(e) if grey_loss is None else np.asarray(grey_loss, dtype=np.float64)
    prop = _path_sum(sc, sc.link_prop_delay_s)
    survive_path = np.exp(_path_sum(sc, np.log1p(-np.clip(grey, 0.0, 1.0 - 1e-12))))
    fp = sc.flow_path
    f_delay = res.flow_delay_s + prop[fp]
    f_loss = 1.0 - (1.0 - np.nan_to_num(res.flow_loss_ratio)) * survive_path[fp]
    f_pk = np.nan_to_num(res.flow_packets)
    f_jit = res.flow_jitter_s2

    demand = flow_probe < 0
    key = (sc.path_src[fp] * n + sc.path_dst[fp]) * MAX_QUEUES + sc.flow_tos
    keys, inv = np.unique(key[demand], return_inverse=True)
    w = f_pk[demand]
    offered = sc.flow_pkt_rate[demand]

    def wmean(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        ok = np.isfinite(x) & (weight > 0)
        num = np.bincount(inv, weights=np.where(ok, x * weight, 0.0), minlength=keys.size)
        den = np.bincount(inv, weights=np.where(ok, weight, 0.0), minlength=keys.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    d_delay = wmean(f_delay[demand], w)
    # ECMP splits a triple over flows: the mixture's variance = mean variance + variance of the means
    second = wmean(f_jit[demand] + f_delay[demand] ** 2, w)
    d_jitter = np.maximum(second - d_delay**2, 0.0)
    d_loss = wmean(f_loss[demand], offered)
    d_packets = np.bincount(inv, weights=w, minlength=keys.size)
    d_offered = np.bincount(inv, weights=sc.flow_rate_bps[demand], minlength=keys.size)
    rse = res.path_delay_rse if res.path_delay_rse.size == sc.n_paths else np.full(sc.n_paths, np.nan)
    queue_part = np.maximum(res.flow_delay_s, 0.0)
    ci = wmean(1.96 * rse[fp][demand] * queue_part[demand], w)

    # too few packets of its own: compose the triple from the hops' measured queue sojourn and loss
    soj = np.asarray(res.queue_sojourn, dtype=np.float64)
    q = np.minimum(sc.flow_tos.astype(np.int64), soj.shape[1] - 1) if soj.ndim == 2 and soj.size else None
    if q is not None:
        hop_soj = np.stack([soj[sc.path_links, k] for k in range(soj.shape[1])], axis=1)  # (H, Q)
        hop_soj_ok = np.isfinite(hop_soj)
        path_soj = np.stack([np.bincount(sc.hop_path, weights=np.where(hop_soj_ok[:, k], hop_soj[:, k], 0.0),
                                         minlength=sc.n_paths) for k in range(soj.shape[1])], axis=1)
        # a queue no packet used: one packet's transmission time at that hop
        gap = np.stack([np.bincount(sc.hop_path, weights=~hop_soj_ok[:, k] / sc.link_capacity_bps[sc.path_links],
                                    minlength=sc.n_paths) for k in range(soj.shape[1])], axis=1)
        f_hops = prop[fp] + path_soj[fp, q] + gap[fp, q] * sc.flow_pkt_size_bits
    else:
        f_hops = prop[fp] + _path_sum(sc, np.zeros(e))[fp]
    link_loss = np.nan_to_num(np.asarray(res.labels.link_loss_ratio, dtype=np.float64))
    survive_links = np.exp(_path_sum(sc, np.log1p(-np.clip(link_loss, 0.0, 1.0 - 1e-12))))
    f_hops_loss = 1.0 - survive_links[fp] * survive_path[fp]
    hops_delay = wmean(f_hops[demand], offered)
    hops_loss = wmean(f_hops_loss[demand], offered)
    composed = ~(d_packets >= min_packets)
    d_delay = np.where(composed, hops_delay, d_delay)
    d_jitter = np.where(composed, np.nan, d_jitter)
    d_loss = np.where(composed, hops_loss, d_loss)
    ci = np.where(composed, np.nan, ci)

    # links: carried = utilisation × true capacity; packets from the mean packet size of the flows on the link
    util = np.nan_to_num(res.labels.link_utilization)
    tx_bps = util * sc.link_capacity_bps
    link_bits = sc.link_load_bps()
    link_pkts = np.bincount(sc.path_links, weights=sc.path_pkt_rate()[sc.hop_path], minlength=e)
    with np.errstate(invalid="ignore", divide="ignore"):
        pkt_bits = np.where(link_pkts > 0, link_bits / np.where(link_pkts > 0, link_pkts, 1.0), 8000.0)
    tx_pps = tx_bps / pkt_bits
    drop_pps = res.link_drops / res.measured_time if res.measured_time > 0 else np.zeros(e)
    rx_bps = tx_bps * (1.0 - grey)
    rx_pps = tx_pps * (1.0 - grey)

    k = np.full(n_probes, np.nan)
    probe_delay, probe_jit, probe_loss = k.copy(), k.copy(), k.copy()
    pf = np.flatnonzero(flow_probe >= 0)
    probe_delay[flow_probe[pf]] = f_delay[pf]
    probe_jit[flow_probe[pf]] = f_jit[pf]
    probe_loss[flow_probe[pf]] = f_loss[pf]

    tos = keys % MAX_QUEUES
    pair = keys // MAX_QUEUES
    return WindowTruth(
        pair_src=pair // n, pair_dst=pair % n, pair_tos=tos,
        pair_delay_s=d_delay, pair_jitter_s2=d_jitter, pair_loss_ratio=d_loss, pair_delay_ci_s=ci,
        pair_packets=d_packets, pair_offered_bps=d_offered, pair_method=composed.astype(np.int8),
        link_tx_bps=tx_bps, link_tx_pps=tx_pps, link_drop_pps=drop_pps, link_rx_bps=rx_bps, link_rx_pps=rx_pps,
        link_utilization=util, link_queue_occupancy=np.asarray(res.labels.link_queue_occupancy, dtype=np.float64),
        link_loss_ratio=np.asarray(res.labels.link_loss_ratio, dtype=np.float64),
        probe_delay_s=probe_delay, probe_jitter_s2=probe_jit, probe_loss_ratio=probe_loss,
    )
