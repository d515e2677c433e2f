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
common for the thousands of small demands of a 200-node network) is *composed
from the hops* (``method`` = 1):

- delay: propagation plus, at every link of its path, the simulator's
  measured mean sojourn (queueing + transmission) of the packets of its queue
  (the queue its class is in at that port: queue 0 at a FIFO port, as in the
  simulator) that reached the link over the same input — the path's previous link, or
  none at the first hop (a port with no such packet: the queue's mean over all
  its packets; with no packet of that queue at all: one packet's transmission
  time). Pooling by input matters: a packet entering the network at a port is
  Poisson and finds the port's time-average work (PASTA), while one that
  arrives over a link seldom finds its own input's predecessor still there,
  so the queue's mean over all its packets, the pooling before 2026-12-04, put
  the queueing part of one-hop pairs of the 197-node Cogent network 2.3 % below
  their own packets' and of 13-hop pairs 0.3 % above; by input, within
  0.05 % at every path length (20 M packets, ``bench/notes/twin_hybrid.md``
  section 4p). Correlation beyond the previous link is not captured;
- jitter: the variance of a sum of per-hop sojourns, taken as the sum of the
  per-hop variances (**hops assumed independent**). A hop's variance is
  modelled from its measured mean sojourn ``s`` and utilisation ``u``: the wait
  ``w = s - x`` is 0 with probability ``1 - u``, else exponential with mean
  ``w / u`` (exact for M/M/1), so ``Var = w² (2 / u - 1)``. The sum is then
  multiplied by the window's *measured* scale: the median, over the flows with
  at least ``calibration_packets`` own packets, of their measured variance over
  their modelled one (what independence, WFQ and non-Poisson arrivals
  downstream miss);
- loss: from the links' measured loss.

Every row carries a 95 % CI: own-packet rows the batch-means CI of the mean
delay and, for jitter, ``1.96 σ² √(8 / n_eff)`` (exponential-tailed delays,
``n_eff`` the effective sample size implied by the delay CI); composed rows
the standard error of the summed per-hop means (each hop's modelled variance
over its packets in the window, inflated by ``1 + 2u / (1 - √u)²`` for the
correlation of successive sojourns) times the 95th percentile of the
composed-vs-own discrepancy in units of that CI, and for jitter the 95th
percentile of the composed-vs-own relative jitter error beyond the own
value's CI, both measured on the better-measured half of the triples
measured both ways in the same window. A window with fewer than 5 such
flows or triples (every window of the 197-node Cogent at 50,000 packets:
its largest triple gets about 20 packets) falls back to scale 1 (M/M/1),
an inflation of 3 and a jitter half-width of 2× the value, carried over
from Abilene, not measured there. Against an
independent simulation with 8× the packets (Abilene, busiest link at 0.8)
the composed rows' CIs cover 87 % (delay) and 93 % (jitter) of the triples,
the own-packet rows' 81 % and 86 %; the composed jitter is within a median
26 % (p95 71 %) of the reference, one window's own packets 17 % (72 %), and
its stated CI is wide (median half-width 2× the value): the hop model is
poor for a few triples (one or two WFQ hops), and the CI says so.

*Overload* (a queue offered more than its scheduler serves it, e.g. a link
whose capacity was degraded below its load) is where the window's short
packet simulation is wrong: its buffer needs longer than the simulated span
to fill, so it shows a growing queue and no drops. Every queue is therefore
also run through the fluid model of :mod:`twinwatch.twin.testbed.overload`
over the window's real length (``window_s``), upstream losses thinning the
load offered downstream; where it finds a queue overloaded, the fluid values
replace the simulator's: the port's drops, loss, utilisation (service / true
capacity) and queue occupancy (GNNet's equivalent queue, with the fluid mean
sojourn of its overloaded queues), and every flow through the queue is
composed from its hops (``method`` = 1) with the fluid sojourn (mean and
variance, standard error :data:`_FLUID_SOJOURN_RSE`) and per-class fluid loss
at that hop; probes through it likewise. Such flows are left out of the
jitter-scale and CI calibration. Links below overload keep their packet-level
truth: downstream of an overloaded port they already receive its delivered
rate, since the simulated port transmits at its capacity (the discrepancy is
checked in the tests). Windows with no overloaded queue are unchanged.
Precision against a long packet simulation: see the overload module and
``bench/notes/testbed.md``.

*Grey loss* (a link that silently drops a fraction of the packets it
carries) is applied after the simulation: a flow through grey links loses
``1 - Π(1 - r_l)`` more, and the receiving ports count only what arrived.
Its second-order effect on downstream queues (slightly less load) is
neglected, which is conservative for detection.

Units: seconds, bits/s, packets/s, ratios 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from twinwatch.twin.kpis import queue_occupancy_ratio
from twinwatch.twin.scenario import MAX_QUEUES, Scenario
from twinwatch.twin.sim.engine import SimConfig, SimResult, simulate
from twinwatch.twin.testbed.overload import FluidOverload, fluid_overload, port_queue

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
    pair_jitter_ci_s2
        ``(D,)`` half-width of the 95 % CI of the jitter (s², see the module docstring).
    jitter_scale, jitter_scale_flows
        The window's measured jitter scale of the composed rows, and the own-packet flows it came from.
    link_fluid
        ``(E,)`` bool: the port has an overloaded queue, its KPIs come from the fluid model.
    link_backlog_bits
        ``(E, Q)`` fluid backlog of each queue at the window's end (bits), the next window's start.
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
    pair_jitter_ci_s2: np.ndarray = field(default_factory=lambda: np.empty(0))
    jitter_scale: float = 1.0
    jitter_scale_flows: int = 0
    link_fluid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    link_backlog_bits: np.ndarray = field(default_factory=lambda: np.zeros((0, MAX_QUEUES)))


def simulate_window(sc: Scenario, seed: int, packets: int) -> SimResult:
    """Simulate the zero-propagation twin of ``sc`` with about ``packets`` packets (see the module docstring)."""
    flat = replace(sc, link_prop_delay_s=np.zeros_like(sc.link_prop_delay_s))
    return simulate(flat, SimConfig(seed=seed, min_packets=packets, max_packets=packets, target_rse=1.0))


def _path_sum(sc: Scenario, per_link: np.ndarray) -> np.ndarray:
    return np.bincount(sc.hop_path, weights=per_link[sc.path_links], minlength=sc.n_paths)


_MIN_CAL_FLOWS = 5
"""Own-packet flows (triples) a window needs to measure its jitter scale and its composed rows' CIs."""

_CI_INFLATION = 3.0
"""Composed delay CI inflation when a window has too few own-packet triples to measure it (Abilene: 95th
percentile 1.5-4.5 of the composed-vs-own discrepancy in units of the uninflated CI)."""

_FLUID_SOJOURN_RSE = 0.01
"""Relative standard error given to a fluid-overloaded queue's sojourn (against a 4-million-packet simulation of
the issue-10 repro, the fluid mean sojourn of the four overloaded WFQ queues is within 0.06-1.2 %,
``bench/testbed_overload.py``)."""

_JITTER_CI_REL = 2.0
"""Composed jitter CI half-width / value when a window cannot measure it (Abilene at busiest-link load 0.8:
2.0, covering 93 % of an independent 8x-packet reference); carried over, not measured, on such windows."""


@dataclass(frozen=True, slots=True)
class _HopTerms:
    """Per (scenario path, queue) sums over the path's hops, ``(P, Q)`` each (seconds, seconds²)."""

    mean: np.ndarray  # Σ measured mean sojourn (hops whose queue carried packets; fluid sojourn where overloaded)
    gap: np.ndarray  # Σ 1 / capacity over hops whose queue carried none (× packet bits: one transmission)
    var: np.ndarray  # Σ modelled sojourn variance w² (2 / u - 1) (not overloaded hops)
    se2: np.ndarray  # Σ squared standard error of the measured (or fluid) mean sojourn
    fluid_var: np.ndarray  # Σ fluid sojourn variance of the overloaded hops (not scaled)
    n_fluid: np.ndarray  # number of overloaded hops (fluid model)


def _hop_terms(sc: Scenario, res: SimResult, demand: np.ndarray, ov: FluidOverload | None = None) -> _HopTerms:
    """Per-hop mean, variance and estimation error of the queue sojourn, summed along every path.

    A hop's mean sojourn is that of its queue's packets that came over the
    same input (:attr:`~twinwatch.twin.sim.engine.SimResult.hop_input_sojourn`),
    the queue's over all its packets where none did. The variance of a hop's
    sojourn is modelled from what the simulator measures (that mean sojourn
    ``s``, the port's utilisation ``u``): the waiting
    part ``w = s - x`` (``x`` the demand packet's transmission time) is 0 with
    probability ``1 - u`` and else exponential with mean ``w / u`` (exact for
    M/M/1), so ``Var = w² (2 / u - 1)``. The standard error of the measured
    mean is that variance over the queue's packets in the window, inflated by
    ``1 + 2 u / (1 - √u)²`` (twice the M/M/1 waiting-time relaxation time, in
    packets: successive sojourns are correlated).

    Where ``ov`` marks a queue overloaded, its fluid sojourn replaces the
    measured one (standard error :data:`_FLUID_SOJOURN_RSE` of it) and its
    fluid variance is summed apart (``fluid_var``: measured, not modelled, so
    not scaled).
    """
    e, q_n = sc.n_links, MAX_QUEUES
    soj = np.asarray(res.queue_sojourn, dtype=np.float64)
    if soj.ndim != 2 or soj.shape[0] != e:
        soj = np.full((e, q_n), np.nan)
    qn = soj.shape[1]
    # column c of every per-port array below is ToS class c: the queue the class uses at that port (a FIFO port
    # puts every class in queue 0, as the simulator does; the queue index is the class elsewhere)
    qmap = np.minimum(port_queue(sc)[:, :qn], qn - 1)  # (E, C)
    soj = np.take_along_axis(soj, qmap, axis=1)
    cap = sc.link_capacity_bps
    rate = sc.flow_pkt_rate[demand]
    size = sc.flow_pkt_size_bits[demand]
    pkt_bits = float(np.sum(rate * size) / np.sum(rate)) if rate.size and np.sum(rate) > 0 else 8000.0
    util = np.clip(np.nan_to_num(np.asarray(res.labels.link_utilization, dtype=np.float64)), 0.0, 0.99)
    q_util = np.asarray(res.queue_utilization, dtype=np.float64)
    if q_util.shape != soj.shape:
        q_util = np.broadcast_to(util[:, None] / qn, soj.shape)
    else:
        q_util = np.take_along_axis(q_util, qmap, axis=1)
    ok = np.isfinite(soj)
    wait = np.maximum(np.where(ok, soj, 0.0) - (pkt_bits / cap)[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = _mm1_wait_var(wait, util[:, None])
        n_pk = np.maximum(q_util * cap[:, None] * res.measured_time / pkt_bits, 1.0)
        kappa = 1.0 + 2.0 * util / (1.0 - np.sqrt(util)) ** 2
        se2 = np.where(ok, kappa[:, None] * var / n_pk, 0.0)
    per_link = {"mean": np.where(ok, soj, 0.0), "gap": np.where(ok, 0.0, 1.0 / cap[:, None]), "var": var,
                "se2": se2}
    out = {"fluid_var": np.zeros((sc.n_paths, qn)), "n_fluid": np.zeros((sc.n_paths, qn))}
    if ov is not None:
        ov_soj = np.take_along_axis(ov.sojourn_s[:, :qn], qmap, axis=1)
        over = np.take_along_axis(ov.overloaded[:, :qn], qmap, axis=1) & np.isfinite(ov_soj)
        fs = np.where(over, ov_soj, 0.0)
        per_link = {"mean": np.where(over, fs, per_link["mean"]), "gap": np.where(over, 0.0, per_link["gap"]),
                    "var": np.where(over, 0.0, var), "se2": np.where(over, (_FLUID_SOJOURN_RSE * fs) ** 2, se2),
                    "fluid_var": np.where(over, np.take_along_axis(ov.sojourn_var_s2[:, :qn], qmap, axis=1), 0.0),
                    "n_fluid": over.astype(np.float64)}
    per_hop = {name: arr[sc.path_links] for name, arr in per_link.items()}  # (H, Q) each
    in_soj = np.asarray(res.hop_input_sojourn, dtype=np.float64)
    if in_soj.shape == (sc.path_links.size, qn):
        in_soj = np.take_along_axis(in_soj, qmap[sc.path_links], axis=1)
        # a hop's packets that came over the same input as the path's: a packet entering the network there finds
        # the port's time-average work, one arriving over a link less of its own input's (the port mean is neither)
        use = np.isfinite(in_soj) & ok[sc.path_links]
        if ov is not None:
            use &= ~over[sc.path_links]
        x = (pkt_bits / cap)[sc.path_links][:, None]
        u = util[sc.path_links][:, None]
        w_in = np.maximum(np.where(use, in_soj, 0.0) - x, 0.0)
        var_in = _mm1_wait_var(w_in, u)
        per_hop["mean"] = np.where(use, in_soj, per_hop["mean"])
        per_hop["var"] = np.where(use, var_in, per_hop["var"])
    for name, hop in per_hop.items():
        out[name] = np.stack([np.bincount(sc.hop_path, weights=hop[:, k], minlength=sc.n_paths) for k in range(qn)],
                             axis=1)
    return _HopTerms(**out)


def _mm1_wait_var(wait: np.ndarray, util: np.ndarray) -> np.ndarray:
    """Variance (s²) of a hop's wait, 0 w.p. ``1 − u`` else exponential with mean ``w / u``: ``w² (2 / u − 1)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(util > 0, wait**2 * (2.0 / util - 1.0), 0.0)


def _jitter_scale(f_jit: np.ndarray, f_pk: np.ndarray, f_base: np.ndarray, demand: np.ndarray,
                  min_packets: int) -> tuple[float, int]:
    """The window's measured jitter scale (median of own / modelled) and the number of flows it used.

    Over the demand flows with at least ``min_packets`` own packets: the ratio
    of each flow's measured delay variance to the sum of its hops' modelled
    sojourn variances. It carries what the per-hop model misses (non-Poisson
    arrivals downstream, WFQ, correlation between hops) into the composed
    rows. Fewer than :data:`_MIN_CAL_FLOWS` flows: 1 (the M/M/1 value).
    """
    use = demand & (f_pk >= max(min_packets, 2)) & np.isfinite(f_jit) & (f_base > 0)
    if int(use.sum()) < _MIN_CAL_FLOWS:
        return 1.0, int(use.sum())
    return float(np.median(f_jit[use] / f_base[use])), int(use.sum())


def window_truth(
    sc: Scenario,
    res: SimResult,
    *,
    flow_probe: np.ndarray,
    n_probes: int,
    grey_loss: np.ndarray | None = None,
    min_packets: int = 20,
    calibration_packets: int = 20,
    window_s: float = float("inf"),
    backlog_bits: np.ndarray | None = None,
) -> WindowTruth:
    """Reduce a :func:`simulate_window` result on ``sc`` to a :class:`WindowTruth`.

    ``flow_probe`` is ``(F,)``: the probe a flow belongs to (-1: demand);
    ``grey_loss`` is ``(E,)`` the silent loss ratio of each link (0 when none);
    triples with fewer than ``min_packets`` measured packets are composed from the hops; flows and
    triples with at least ``calibration_packets`` calibrate the composed jitter and CIs.
    ``window_s`` is the window's real length (seconds) over which overloaded queues are taken from the fluid
    model (infinite: its steady state); ``backlog_bits`` ``(E, Q)`` the backlog the previous window left
    (:attr:`WindowTruth.link_backlog_bits`; None: empty buffers).
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

    # overloaded queues: the fluid model over the window's real length (see the module docstring)
    ov = fluid_overload(sc, window_s, backlog_bits)
    fluid = bool(ov.overloaded.any())
    hop = _hop_terms(sc, res, demand, ov if fluid else None)
    q = np.minimum(sc.flow_tos.astype(np.int64), hop.mean.shape[1] - 1)
    f_hops = prop[fp] + hop.mean[fp, q] + hop.gap[fp, q] * sc.flow_pkt_size_bits
    f_base = hop.var[fp, q]  # Σ_hops modelled sojourn variance (before the window's scale)
    f_thru = hop.n_fluid[fp, q] > 0  # flows through an overloaded queue: composed, with the fluid hop
    scale, n_cal = _jitter_scale(f_jit, f_pk, f_base, demand & ~f_thru, calibration_packets)
    link_loss = np.nan_to_num(np.asarray(res.labels.link_loss_ratio, dtype=np.float64))
    if fluid:
        # per (link, queue) loss: the fluid one at ports with an overloaded queue, else the simulator's per link
        qn = hop.mean.shape[1]
        lo = ov.link_overloaded
        loss_lq = np.where(lo[:, None], ov.loss_ratio[:, :qn], link_loss[:, None])
        logs = np.log1p(-np.clip(loss_lq, 0.0, 1.0 - 1e-12))[sc.path_links]  # (H, Q)
        surv = np.exp(np.stack([np.bincount(sc.hop_path, weights=logs[:, k], minlength=sc.n_paths)
                                for k in range(qn)], axis=1))
        f_hops_loss = 1.0 - surv[fp, q] * survive_path[fp]
        f_comp_var = scale * f_base + hop.fluid_var[fp, q]
        f_delay = np.where(f_thru, f_hops, f_delay)
        f_jit = np.where(f_thru, f_comp_var, f_jit)
        f_loss = np.where(f_thru, f_hops_loss, f_loss)
    else:
        survive_links = np.exp(_path_sum(sc, np.log1p(-np.clip(link_loss, 0.0, 1.0 - 1e-12))))
        f_hops_loss = 1.0 - survive_links[fp] * survive_path[fp]
        f_comp_var = scale * f_base

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

    # too few packets of its own (or through an overloaded queue): compose the triple from the hops
    thru = np.bincount(inv, weights=f_thru[demand].astype(np.float64), minlength=keys.size) > 0
    hops_delay = wmean(f_hops[demand], offered)
    # ECMP: the triple is a mixture of its flows (mean variance + variance of the means)
    hops_jitter = np.maximum(wmean(f_comp_var[demand] + f_hops[demand] ** 2, offered) - hops_delay**2, 0.0)
    hops_ci = 1.96 * np.sqrt(wmean(hop.se2[fp, q][demand], offered))  # Σ (w/W)² se² <= Σ (w/W) se²: conservative
    hops_loss = wmean(f_hops_loss[demand], offered)
    # own packets: the sample variance of n_eff effectively independent delays (exponential-tailed:
    # Var(s²) ≈ 8 σ⁴ / n_eff), n_eff from the batch-means CI of the mean
    with np.errstate(invalid="ignore", divide="ignore"):
        se_mean = ci / 1.96
        n_eff = np.where(se_mean > 0, d_jitter / se_mean**2, d_packets)
        n_eff = np.clip(np.nan_to_num(n_eff, nan=1.0), 1.0, np.maximum(d_packets, 1.0))
        own_jci = 1.96 * d_jitter * np.sqrt(8.0 / n_eff)
    # the composed rows' CIs, measured on the triples measured both ways in this window: the delay CI's
    # inflation and the jitter's relative error (beyond the own value's CI), 95th percentiles
    cal = (d_packets >= max(calibration_packets, 2)) & np.isfinite(d_delay) & np.isfinite(d_jitter) & (hops_jitter > 0)
    cal &= ~thru
    if int(cal.sum()) >= _MIN_CAL_FLOWS:
        cal &= d_packets >= np.median(d_packets[cal])  # the better-measured half
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(hops_delay[cal] - d_delay[cal]) / np.hypot(hops_ci[cal], np.nan_to_num(ci[cal]))
            inflation = max(1.0, float(np.nanquantile(z, 0.95))) if np.isfinite(z).any() else _CI_INFLATION
            # the smallest relative half-width m_i with |own - composed| <= hypot(m_i composed, own CI)
            gap = np.sqrt(np.maximum((d_jitter[cal] - hops_jitter[cal]) ** 2 - own_jci[cal] ** 2, 0.0))
            jit_rel = float(np.quantile(gap / hops_jitter[cal], 0.95))
    else:
        inflation, jit_rel = _CI_INFLATION, _JITTER_CI_REL
    composed = ~(d_packets >= min_packets) | thru
    d_delay = np.where(composed, hops_delay, d_delay)
    d_loss = np.where(composed, hops_loss, d_loss)
    ci = np.where(composed, inflation * hops_ci, ci)
    d_jitter = np.where(composed, hops_jitter, d_jitter)
    jci = np.where(composed, jit_rel * hops_jitter, own_jci)

    # links: carried = utilisation × true capacity; packets from the mean packet size of the flows on the link
    util = np.nan_to_num(res.labels.link_utilization)
    tx_bps = util * sc.link_capacity_bps
    link_bits = sc.link_load_bps()
    link_pkts = np.bincount(sc.path_links, weights=sc.path_pkt_rate()[sc.hop_path], minlength=e)
    with np.errstate(invalid="ignore", divide="ignore"):
        pkt_bits = np.where(link_pkts > 0, link_bits / np.where(link_pkts > 0, link_pkts, 1.0), 8000.0)
    tx_pps = tx_bps / pkt_bits
    drop_pps = res.link_drops / res.measured_time if res.measured_time > 0 else np.zeros(e)
    queue_occ = np.asarray(res.labels.link_queue_occupancy, dtype=np.float64)
    link_loss_ratio = np.asarray(res.labels.link_loss_ratio, dtype=np.float64)
    if fluid:
        # ports with an overloaded queue: carried = Σ service, drops and loss from the fluid model; occupancy as
        # GNNet's equivalent queue (mean sojourn / transmission time, summed over the port's queues)
        lo = ov.link_overloaded
        qn = hop.mean.shape[1]
        cap = sc.link_capacity_bps
        util = np.where(lo, np.minimum(ov.service_bps.sum(axis=1) / cap, 1.0), util)
        tx_bps = util * cap
        tx_pps = tx_bps / pkt_bits
        drop_pps = np.where(lo, ov.drop_pps.sum(axis=1), drop_pps)
        with np.errstate(invalid="ignore", divide="ignore"):
            arr_pps = ov.arrival_pps.sum(axis=1)
            link_loss_ratio = np.where(lo, np.where(arr_pps > 0, drop_pps / np.where(arr_pps > 0, arr_pps, 1.0), 0.0),
                                       link_loss_ratio)
            soj = np.asarray(res.queue_sojourn, dtype=np.float64)
            soj = soj if soj.shape == (e, qn) else np.zeros((e, qn))
            soj = np.where(ov.overloaded[:, :qn], ov.sojourn_s[:, :qn], np.nan_to_num(soj))
            size = ov.pkt_bits[:, :qn]
            occ = np.where(np.isfinite(size) & (size > 0), soj * cap[:, None] / np.where(size > 0, size, 1.0), 0.0)
        queue_occ = np.where(lo, queue_occupancy_ratio(sc, np.nan_to_num(occ).sum(axis=1)), queue_occ)
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
        link_utilization=util, link_queue_occupancy=queue_occ, link_loss_ratio=link_loss_ratio,
        probe_delay_s=probe_delay, probe_jitter_s2=probe_jit, probe_loss_ratio=probe_loss,
        pair_jitter_ci_s2=jci, jitter_scale=scale, jitter_scale_flows=n_cal,
        link_fluid=ov.link_overloaded, link_backlog_bits=ov.backlog_bits,
    )
