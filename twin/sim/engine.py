"""Packet-level discrete-event simulation of a :class:`~twin.scenario.Scenario`.

Model (store-and-forward, one output port per directed link):

- A packet of ``s`` bits takes ``s / capacity`` to transmit on a link, then
  ``link_prop_delay_s`` to reach the next node, where it joins the next
  link's port at once (no switching delay). Delay is measured from generation
  at the source to the arrival of the last bit at the destination.
- Each port has :data:`~twin.scenario.MAX_QUEUES` queues. FIFO ports put every
  packet in queue 0; SP, WFQ and DRR ports put a flow with ToS ``k`` in queue
  ``k``. SP serves the lowest non-empty queue index first; WFQ serves the
  head packet with the smallest finish tag (tags ``size / weight``, see
  ``SimConfig.wfq_mode``); DRR gives queue ``k`` a quantum per round (see
  ``SimConfig.drr_quantum_bits``). Missing weights mean equal weights.
- Buffers are drop-tail. ``node_queue_pkts`` (GNNet 2020/2021 ``queueSizes``)
  bounds each queue in packets; ``node_buffer_bits`` (GNNet 2022
  ``bufferSizes``) bounds each queue in bits (``SimConfig.shared_buffer``
  makes it one bound for the whole port instead). The packet being
  transmitted counts against its queue's bound (``SimConfig.count_in_service``
  turns that off). NaN means unbounded.

Statistics are collected after a warm-up of ``warmup_fraction × T_min``
(``T_min`` = expected time to generate ``min_packets``, or ``max_time`` if
shorter; without ``max_time``, at least twice the longest path's propagation
delay), in time slices used as
batches for batch-means confidence intervals (the number of slices doubles,
then pairs are merged, so there are always ``n_batches .. 2 n_batches``). The
run stops when every path with traffic has a relative standard error of mean
delay below ``target_rse`` (after at least ``min_packets`` generated), or when
``max_packets`` packets have been generated, or at ``max_time``.

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]},
...                     [Flow(0, 1, 5e3, pkt_size_bits=1000.0)], queue_pkts=1e9)
>>> res = simulate(sc, SimConfig(seed=1, target_rse=0.02))
>>> res.converged, bool(abs(res.labels.path_delay_s[0] / 0.15 - 1) < 0.05)   # M/D/1 (P-K): 0.15
(True, True)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace

import numpy as np
from scipy import stats

from twinwatch.twin.kpis import Labels, queue_occupancy_ratio
from twinwatch.twin.scenario import MAX_QUEUES, Policy, Scenario, ScenarioError
from twinwatch.twin.sim import _kernels as k
from twinwatch.twin.sim.traffic import flow_arrays, flow_queue

__all__ = ["SimConfig", "SimResult", "simulate", "simulate_many"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Run-length and model options of :func:`simulate`.

    Parameters
    ----------
    seed
        Seed of the random streams; ``None`` draws one from the OS.
    target_rse
        Stop when the batch-means relative standard error of mean delay is
        below this for every path carrying traffic.
    min_packets
        Generate at least this many packets (sets the slice length).
    max_packets
        Bound on *generated* packets (warm-up included).
    max_time
        Bound on simulated time (scenario time units).
    warmup_fraction
        Warm-up discarded, as a fraction of the time to generate ``min_packets``.
    n_batches
        Minimum number of batches for the confidence intervals.
    shared_buffer
        Buffer bounds apply to the whole port (sum of its queues) instead of
        to each queue.
    count_in_service
        The packet being transmitted counts against the buffer bound (so a
        bound of ``K`` packets is an M/M/1/K system). ``True`` fits the GNNet
        labels better: on lossy paths the delay bias drops from +2.4 % to
        -1.4 % (2021) and from +3.5 % to 0 % (2022), and the loss gap narrows.
    onoff_mode
        How ON-OFF flows send while ON (ON and OFF periods are exponential in
        every mode): ``0`` Poisson; ``1`` a packet at the start of every ON
        period, then Poisson; ``2`` that opening packet, then constant spacing
        restarted at the ON start; ``3`` (default) the opening packet, then the
        ticks of a constant-rate grid that keeps running through OFF periods.
        The rate while ON is ``flow_pkt_rate × (on + off) / on``. Mode 3 is
        what fits the GNNet 2022 OMNeT++ samples: their measured ON-OFF rate
        is the nominal rate plus one packet per ON-OFF cycle, and their delays
        match (see ``bench/notes/sim.md``).
    drr_quantum_bits
        DRR quantum of queue ``k`` = ``weight_k × drr_quantum_bits``. ``None``
        (default) picks what fits the GNNet labels: ``1000 × weight percent``
        at ports whose buffer is given in bits (GNNet 2022), else
        ``weight_k / min(weight) × largest packet`` (GNNet 2020).
    wfq_mode
        ``0`` self-clocked fair queueing (virtual time = tag in service, reset
        when the port idles); ``1`` packet-by-packet GPS (tags against the
        fluid GPS virtual time); ``2`` (default) tags accumulate per queue and
        are never reset, i.e. the head with the least weighted cumulative
        service goes first. Mode 2 is what the GNNet labels show: a queue
        that used less than its share keeps precedence over a busier queue
        of equal weight (delay MAPE on a saturated 2020 sample: 17 % with
        modes 0/1, 9.9 % with mode 2).
    """

    seed: int | None = None
    target_rse: float = 0.02
    min_packets: int = 20_000
    max_packets: int = 5_000_000
    max_time: float = float("inf")
    warmup_fraction: float = 0.1
    n_batches: int = 20
    shared_buffer: bool = False
    count_in_service: bool = True
    onoff_mode: int = 3
    drr_quantum_bits: float | None = None
    wfq_mode: int = 2


@dataclass(eq=False)
class SimResult:
    """What :func:`simulate` measured (time units as in the scenario).

    Shapes: ``P`` paths, ``E`` links, ``F`` flows.
    """

    labels: Labels
    path_delay_ci: np.ndarray  # (P,) half-width of the 95 % batch-means CI of mean delay
    path_delay_percentiles: np.ndarray  # (P, 5) p10, p20, p50, p80, p90 (log-histogram estimate, ~2 % bins)
    link_drops: np.ndarray  # (E,) dropped packets in the measured window
    packets_generated: int  # all generated packets, warm-up included
    packet_hops: int  # all completed transmissions, warm-up included
    sim_time: float  # simulated time, warm-up included
    wall_time_s: float
    converged: bool
    path_delay_rse: np.ndarray = field(default_factory=lambda: np.empty(0))  # (P,) relative standard error
    path_packets: np.ndarray = field(default_factory=lambda: np.empty(0))  # (P,) delivered packets measured
    flow_delay_s: np.ndarray = field(default_factory=lambda: np.empty(0))  # (F,) mean delay per flow
    flow_packets: np.ndarray = field(default_factory=lambda: np.empty(0))  # (F,) delivered packets per flow
    flow_jitter_s2: np.ndarray = field(default_factory=lambda: np.empty(0))  # (F,) delay variance per flow
    flow_loss_ratio: np.ndarray = field(default_factory=lambda: np.empty(0))  # (F,) dropped / generated per flow
    measured_time: float = 0.0  # length of the measured window (after warm-up)
    link_little_l: np.ndarray = field(default_factory=lambda: np.empty(0))  # (E,) time-average packets at the port
    queue_sojourn: np.ndarray = field(default_factory=lambda: np.empty(0))  # (E, Q) mean sojourn per queue
    queue_utilization: np.ndarray = field(default_factory=lambda: np.empty(0))  # (E, Q) share of capacity per queue
    # (H, Q) per path hop: mean sojourn of the queue's packets that reached the hop's link over the same input
    # (the path's previous link, or entering the network there), and how many there were (NaN / 0: none)
    hop_input_sojourn: np.ndarray = field(default_factory=lambda: np.empty((0, MAX_QUEUES)))
    hop_input_packets: np.ndarray = field(default_factory=lambda: np.empty((0, MAX_QUEUES), dtype=np.int64))

    cpu_time_s: float = float("nan")  # process CPU time of the run (robust to other load on the machine)

    @property
    def hops_per_cpu_second(self) -> float:
        """Kernel throughput: packet-hops per CPU second of this process."""
        return self.packet_hops / self.cpu_time_s if self.cpu_time_s > 0 else float("nan")

    @property
    def hops_per_second(self) -> float:
        """Kernel throughput: packet-hops per wall-clock second."""
        return self.packet_hops / self.wall_time_s if self.wall_time_s > 0 else float("nan")


PERCENTILES = (0.1, 0.2, 0.5, 0.8, 0.9)


class _State:
    """All arrays of one simulation run (set-up in Python, mutated by the kernel)."""

    def __init__(self, sc: Scenario, cfg: SimConfig) -> None:
        f, e, q = sc.n_flows, sc.n_links, MAX_QUEUES
        fa = flow_arrays(sc)
        self.fa = fa
        node = sc.link_src
        self.link_policy = sc.node_policy[node].astype(np.int64)
        # buffer bounds per (link, queue)
        bits = sc.node_buffer_bits[node]
        qp = sc.node_queue_pkts[node].astype(np.float64)
        fifo = self.link_policy == int(Policy.FIFO)
        qp = np.where(fifo[:, None], qp[:, :1], qp)  # FIFO ports use the first queue's size
        qcap_pkts = np.where(np.isfinite(qp), qp, np.inf)
        qcap_bits = np.broadcast_to(np.where(np.isfinite(bits), bits, np.inf)[:, None], (e, q)).copy()
        if cfg.shared_buffer:
            qcap_pkts = np.broadcast_to(qcap_pkts[:, :1], (e, q)).copy()
        self.qcap_pkts = qcap_pkts.ravel().copy()
        self.qcap_bits = qcap_bits.ravel().copy()
        # weights: WFQ tags and DRR quanta
        w = sc.node_weights[node].astype(np.float64)
        w = np.where(np.isfinite(w) & (w > 0), w, np.nan)
        w = np.where(np.isnan(w).all(axis=1)[:, None], 1.0, w)
        w = np.where(np.isnan(w), np.nanmin(w, axis=1)[:, None], w)
        max_size = float(np.nanmax(fa.max_size)) if np.isfinite(fa.max_size).any() else 1.0
        if cfg.drr_quantum_bits is None:
            # fitted to the GNNet labels: 2022 (buffers in bits) ~ 1000 bits per weight percent;
            # 2020 (buffers in packets) ~ one largest packet for the smallest weight
            pct = 100.0 * w / w.sum(axis=1)[:, None]
            in_bits = np.isfinite(bits)[:, None]
            self.quantum = np.where(in_bits, 1000.0 * pct, w / w.min(axis=1)[:, None] * max_size).ravel().copy()
        else:
            self.quantum = (w * cfg.drr_quantum_bits).ravel().copy()
        self.wfq_inv_w = (1.0 / w).ravel().copy()
        # paths: log of the smallest possible delay, the histogram's origin
        pmin = np.full(sc.n_paths, np.inf)
        np.minimum.at(pmin, sc.flow_path, np.where(np.isfinite(fa.min_size), fa.min_size, np.inf))
        pmin = np.where(np.isfinite(pmin), pmin, 1.0)
        hop_min = pmin[sc.hop_path] / sc.link_capacity_bps[sc.path_links] + sc.link_prop_delay_s[sc.path_links]
        dmin = np.bincount(sc.hop_path, weights=hop_min, minlength=sc.n_paths)
        self.path_log_base = np.log(np.maximum(dmin, 1e-300))
        self.flow_q = flow_queue(sc)
        # dynamic state
        self.istate = np.zeros(k.N_ISTATE, dtype=np.int64)
        self.fstate = np.zeros(k.N_FSTATE)
        self.heap_t = np.empty(f + 2 * e + 1)
        self.heap_e = np.empty(f + 2 * e + 1, dtype=np.int64)
        self.flow_on_end = np.zeros(f)
        self.flow_on_phase = np.zeros(f, dtype=np.int64)
        finite = np.where(np.isfinite(self.qcap_pkts), self.qcap_pkts, 0.0).sum()
        self.pool = 0
        self._alloc_pool(int(min(max(4096, finite + 2 * e + 1024), 1 << 22)))
        self.qhead = np.full(e * q, -1, dtype=np.int64)
        self.qtail = np.full(e * q, -1, dtype=np.int64)
        self.qcount = np.zeros(e * q, dtype=np.int64)
        self.qbits = np.zeros(e * q)
        self.port_pkts = np.zeros(e, dtype=np.int64)
        self.port_bits = np.zeros(e)
        self.in_service = np.full(e, -1, dtype=np.int64)
        self.pipe_head = np.full(e, -1, dtype=np.int64)
        self.pipe_tail = np.full(e, -1, dtype=np.int64)
        self.wfq_v = np.zeros(e)
        self.wfq_t = np.zeros(e)
        self.wfq_last = np.zeros(e * q)
        self.drr_cur = np.zeros(e, dtype=np.int64)
        self.drr_fresh = np.ones(e, dtype=np.int64)
        self.deficit = np.zeros(e * q)
        self.zero_stats(sc)
        # first generation events
        first = np.empty(f)
        k.first_gen(fa.time_dist, fa.pkt_rate, fa.on_mean, fa.off_mean, self.flow_on_end, self.flow_on_phase,
                    cfg.onoff_mode, first)
        k.heap_init(self.heap_t, self.heap_e, self.istate, first)

    def _alloc_pool(self, n: int) -> None:
        # one row per packet (flow, hop, next, size, t0, t_arrival, wfq tag, spare): a packet is one cache line
        old = self.pool
        pkt = np.zeros((n, 8))
        if old:
            pkt[:old] = self.pkt
        self.pkt = pkt
        stack = np.empty(n, dtype=np.int64)
        top = int(self.istate[k.I_FREE_TOP])
        if old:
            stack[:top] = self.free_stack[:top]
        new = np.arange(old, n, dtype=np.int64)[::-1]
        stack[top : top + new.size] = new
        self.free_stack = stack
        self.istate[k.I_FREE_TOP] = top + new.size
        self.pool = n

    def zero_stats(self, sc: Scenario) -> None:
        p, f, e = sc.n_paths, sc.n_flows, sc.n_links
        self.path_n_gen = np.zeros(p, dtype=np.int64)
        self.path_n_drop = np.zeros(p, dtype=np.int64)
        self.path_n_rx = np.zeros(p, dtype=np.int64)
        self.path_sum_d = np.zeros(p)
        self.path_sum_d2 = np.zeros(p)
        self.path_hist = np.zeros((p, k.N_HIST), dtype=np.int64)
        self.flow_n_rx = np.zeros(f, dtype=np.int64)
        self.flow_sum_d = np.zeros(f)
        self.flow_sum_d2 = np.zeros(f)
        self.flow_n_gen = np.zeros(f, dtype=np.int64)
        self.flow_n_drop = np.zeros(f, dtype=np.int64)
        self.link_n_arr = np.zeros(e, dtype=np.int64)
        # per (link, queue), flattened (E * Q,)
        self.link_n_tx = np.zeros(e * MAX_QUEUES, dtype=np.int64)
        self.link_bits_tx = np.zeros(e * MAX_QUEUES)
        self.link_sum_soj = np.zeros(e * MAX_QUEUES)
        self.link_drops = np.zeros(e, dtype=np.int64)
        # per (path hop, queue), flattened (H * Q,): the sojourn by the input a packet came over
        self.hop_n_tx = np.zeros(sc.path_links.size * MAX_QUEUES, dtype=np.int64)
        self.hop_sum_soj = np.zeros(sc.path_links.size * MAX_QUEUES)

    def run(self, sc: Scenario, cfg: SimConfig, t_end: float, max_gen: int) -> int:
        fa = self.fa
        while True:
            rc = k.run(
                t_end, max_gen, sc.n_flows, sc.n_links, MAX_QUEUES,
                sc.link_capacity_bps, sc.link_prop_delay_s, self.link_policy, self.qcap_pkts, self.qcap_bits,
                cfg.shared_buffer, cfg.count_in_service,
                sc.path_ptr, sc.path_links, self.path_log_base,
                sc.flow_path, self.flow_q, fa.time_dist, fa.pkt_rate, fa.on_mean, fa.off_mean, fa.size_dist,
                fa.sizes, fa.cdf, self.quantum, self.wfq_inv_w, cfg.onoff_mode, cfg.wfq_mode,
                self.istate, self.fstate, self.heap_t, self.heap_e, self.flow_on_end, self.flow_on_phase,
                self.pkt, self.free_stack,
                self.qhead, self.qtail, self.qcount, self.qbits, self.port_pkts, self.port_bits, self.in_service,
                self.pipe_head, self.pipe_tail, self.wfq_v, self.wfq_t, self.wfq_last,
                self.drr_cur, self.drr_fresh, self.deficit,
                self.path_n_gen, self.path_n_drop, self.path_n_rx, self.path_sum_d, self.path_sum_d2, self.path_hist,
                self.flow_n_rx, self.flow_sum_d, self.flow_sum_d2, self.flow_n_gen, self.flow_n_drop,
                self.link_n_arr, self.link_n_tx, self.link_bits_tx, self.link_sum_soj, self.link_drops,
                self.hop_n_tx, self.hop_sum_soj,
            )
            if rc != k.RC_POOL:
                return int(rc)
            self._alloc_pool(self.pool * 2)


def _contiguous(sc: Scenario) -> None:
    for fl in fields(sc):
        v = getattr(sc, fl.name)
        if isinstance(v, np.ndarray) and not v.flags.c_contiguous:
            setattr(sc, fl.name, np.ascontiguousarray(v))


def _batch_rse(s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of a ratio estimator from ``(k, P)`` batch sums ``s`` and counts ``c``."""
    kb = s.shape[0]
    tot_s, tot_c = s.sum(axis=0), c.sum(axis=0)
    with np.errstate(all="ignore"):
        mean = tot_s / tot_c
        resid = s - mean[None, :] * c
        var = kb / (kb - 1) * (resid**2).sum(axis=0) / tot_c**2
    return mean, np.sqrt(var)


def _percentiles(hist: np.ndarray, log_base: np.ndarray) -> np.ndarray:
    """``(P, 5)`` percentiles from ``(P, B)`` log-spaced histograms (log-linear interpolation in a bin)."""
    width = k.HIST_SPAN / k.N_HIST
    n = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    out = np.full((hist.shape[0], len(PERCENTILES)), np.nan)
    rows = np.flatnonzero(n > 0)
    if rows.size == 0:
        return out
    h, c, nn = hist[rows], cum[rows], n[rows].astype(np.float64)
    for j, q in enumerate(PERCENTILES):
        target = q * nn
        b = np.argmax(c >= target[:, None], axis=1)
        before = np.where(b > 0, c[np.arange(rows.size), np.maximum(b - 1, 0)], 0)
        inbin = h[np.arange(rows.size), b]
        frac = np.clip((target - before) / np.maximum(inbin, 1), 0.0, 1.0)
        out[rows, j] = np.exp(log_base[rows] + (b + frac) * width)
    return out


def simulate(scenario: Scenario, config: SimConfig | None = None) -> SimResult:
    """Simulate ``scenario`` packet by packet and measure its KPIs.

    See the module docstring for the model and the stopping rule. Raises
    :class:`~twin.scenario.ScenarioError` when the scenario cannot be simulated
    (no traffic, or a flow without usable parameters).
    """
    cfg = config or SimConfig()
    if cfg.n_batches < 2:
        raise ValueError(f"SimConfig.n_batches must be >= 2, got {cfg.n_batches}")
    sc = scenario
    _contiguous(sc)
    t_wall = time.perf_counter()
    t_cpu = time.process_time()
    lam = float(np.sum(np.where(sc.flow_pkt_rate > 0, sc.flow_pkt_rate, 0.0)))
    if not lam > 0:
        raise ScenarioError(f"scenario {sc.name!r} carries no traffic; nothing to simulate")
    seed = cfg.seed if cfg.seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
    k.seed(int(seed) % (2**32))
    st = _State(sc, cfg)
    t_min = min(cfg.min_packets / lam, cfg.max_time)
    t_warm = cfg.warmup_fraction * t_min
    if not np.isfinite(cfg.max_time):  # let the longest path fill up (propagation) before measuring
        path_prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
        t_warm = max(t_warm, 2.0 * float(path_prop.max(initial=0.0)))
    rc = st.run(sc, cfg, t_warm, cfg.max_packets)
    st.zero_stats(sc)
    dt = max((1.0 - cfg.warmup_fraction) * t_min, 1e-300) / cfg.n_batches
    sums: list[np.ndarray] = []
    cnts: list[np.ndarray] = []
    prev_s = np.zeros(sc.n_paths)
    prev_c = np.zeros(sc.n_paths)
    t_cur = t_warm
    active = sc.path_pkt_rate() > 0
    converged = False
    while rc == k.RC_TIME and t_cur < cfg.max_time:
        t_next = min(t_cur + dt, cfg.max_time)
        rc = st.run(sc, cfg, t_next, cfg.max_packets)
        t_cur = t_next if rc == k.RC_TIME else float(st.fstate[k.F_NOW])
        sums.append(st.path_sum_d - prev_s)
        cnts.append(st.path_n_rx - prev_c)
        prev_s, prev_c = st.path_sum_d.copy(), st.path_n_rx.astype(np.float64)
        if len(sums) >= cfg.n_batches and st.istate[k.I_N_GEN] >= cfg.min_packets:
            mean, se = _batch_rse(np.array(sums), np.array(cnts))
            rse = se[active] / mean[active]
            if np.all(rse < cfg.target_rse):
                converged = True
                break
        if len(sums) == 2 * cfg.n_batches:
            sums = [sums[i] + sums[i + 1] for i in range(0, len(sums), 2)]
            cnts = [cnts[i] + cnts[i + 1] for i in range(0, len(cnts), 2)]
            dt *= 2.0
    window = max(t_cur - t_warm, 1e-300)
    res = _result(sc, st, np.array(sums), np.array(cnts), window, converged, time.perf_counter() - t_wall)
    res.cpu_time_s = time.process_time() - t_cpu
    return res


def _result(sc: Scenario, st: _State, sums: np.ndarray, cnts: np.ndarray, window: float, converged: bool,
            wall: float) -> SimResult:
    p = sc.n_paths
    if sums.shape[0] >= 2:
        mean, se = _batch_rse(sums, cnts)
    else:
        mean, se = np.full(p, np.nan), np.full(p, np.nan)
    tcrit = float(stats.t.ppf(0.975, max(sums.shape[0] - 1, 1)))
    shape = (sc.n_links, MAX_QUEUES)
    q_tx, q_bits, q_soj = st.link_n_tx.reshape(shape), st.link_bits_tx.reshape(shape), st.link_sum_soj.reshape(shape)
    in_soj, in_n = input_sojourn(sc, st.hop_n_tx.reshape(-1, MAX_QUEUES), st.hop_sum_soj.reshape(-1, MAX_QUEUES))
    n_tx, bits_tx, sum_soj = q_tx.sum(axis=1), q_bits.sum(axis=1), q_soj.sum(axis=1)
    with np.errstate(all="ignore"):
        n_rx = st.path_n_rx.astype(np.float64)
        delay = st.path_sum_d / n_rx
        jitter = st.path_sum_d2 / n_rx - delay**2
        jitter = np.maximum(jitter, 0.0)
        loss = st.path_n_drop / st.path_n_gen.astype(np.float64)
        util = bits_tx / (sc.link_capacity_bps * window)
        # GNNet avgPortOccupancy, per queue: "occupancy of an equivalent queue that would produce the same
        # average delay" = mean sojourn (queueing + transmission) / mean transmission time, in packets;
        # the link value is the sum over the port's queues (as twin.datasets.gnnet reads the labels)
        q_wait = q_soj / q_tx
        q_occ = np.where(q_tx > 0, q_wait * sc.link_capacity_bps[:, None] * q_tx / q_bits, 0.0)
        occ = q_occ.sum(axis=1)
        lloss = st.link_drops / st.link_n_arr.astype(np.float64)
        rse = se / mean
        fdelay = st.flow_sum_d / st.flow_n_rx
        fjitter = np.maximum(st.flow_sum_d2 / st.flow_n_rx - fdelay**2, 0.0)
        floss = st.flow_n_drop / st.flow_n_gen.astype(np.float64)
    labels = Labels(
        path_delay_s=delay,
        path_jitter_s2=np.where(n_rx > 1, jitter, np.nan),
        path_loss_ratio=loss,
        link_utilization=util,
        link_queue_occupancy=queue_occupancy_ratio(sc, np.where(n_tx > 0, occ, np.nan)),
        link_loss_ratio=np.where(st.link_n_arr > 0, lloss, 0.0),
        link_queue_pkts=np.where(n_tx > 0, occ, np.nan),
    )
    return SimResult(
        labels=labels,
        path_delay_ci=tcrit * se,
        path_delay_percentiles=_percentiles(st.path_hist, st.path_log_base),
        link_drops=st.link_drops.copy(),
        packets_generated=int(st.istate[k.I_N_GEN]),
        packet_hops=int(st.istate[k.I_N_HOPS]),
        sim_time=float(st.fstate[k.F_NOW]),
        wall_time_s=wall,
        converged=converged,
        path_delay_rse=rse,
        path_packets=st.path_n_rx.copy(),
        flow_delay_s=fdelay,
        flow_packets=st.flow_n_rx.copy(),
        flow_jitter_s2=np.where(st.flow_n_rx > 1, fjitter, np.nan),
        flow_loss_ratio=floss,
        measured_time=window,
        link_little_l=sum_soj / window,
        queue_sojourn=q_wait,
        queue_utilization=q_bits / (sc.link_capacity_bps[:, None] * window),
        hop_input_sojourn=in_soj,
        hop_input_packets=in_n,
    )


def input_sojourn(sc: Scenario, hop_n: np.ndarray, hop_soj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per path hop, the mean sojourn of its queue's packets that came over the same input, ``(H, Q)`` each.

    ``hop_n`` / ``hop_soj`` are ``(H, Q)`` packet counts and sojourn sums of
    each path hop; hops of every path that share a link and an input (the
    previous link of the path, or none: the packet entered the network at
    that node) are pooled. Returns ``(mean, count)``: NaN / 0 where none.

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 1e6), (1, 2, 1e6)], {(0, 2): [0, 1, 2], (1, 2): [1, 2]},
    ...                     [Flow(0, 2, 1e5, 1000.0), Flow(1, 2, 1e5, 1000.0)], queue_pkts=100)
    >>> n = np.array([[2, 0, 0], [2, 0, 0], [1, 0, 0]]); soj = np.array([[2.0, 0, 0], [4.0, 0, 0], [3.0, 0, 0]])
    >>> mean, count = input_sojourn(sc, n, soj)  # hops: 0->1 entering, 1->2 over link 0, 1->2 entering
    >>> mean[:, 0].tolist(), count[:, 0].tolist()
    ([1.0, 2.0, 3.0], [2, 2, 1])
    """
    e = sc.n_links
    first = np.zeros(sc.path_links.size, dtype=bool)
    first[sc.path_ptr[:-1][np.diff(sc.path_ptr) > 0]] = True
    prev = np.where(first, -1, np.r_[-1, sc.path_links[:-1]])
    _, group = np.unique(sc.path_links * (e + 1) + (prev + 1), return_inverse=True)
    n = np.stack([np.bincount(group, weights=hop_n[:, q]) for q in range(hop_n.shape[1])], axis=1)[group]
    tot = np.stack([np.bincount(group, weights=hop_soj[:, q]) for q in range(hop_n.shape[1])], axis=1)[group]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, tot / n, np.nan), n.astype(np.int64)


def _simulate_star(args: tuple[Scenario, SimConfig]) -> SimResult:
    return simulate(*args)


def simulate_many(
    scenarios: Iterable[Scenario], config: SimConfig | None = None, *, workers: int = 1
) -> list[SimResult]:
    """:func:`simulate` every scenario, in ``workers`` processes when ``workers > 1``.

    With a fixed ``config.seed`` scenario ``i`` uses seed ``seed + i``, so the
    results do not depend on ``workers``. Independent replications of one
    scenario: pass it several times.
    """
    cfg = config or SimConfig()
    jobs = [(sc, cfg if cfg.seed is None else replace(cfg, seed=cfg.seed + i)) for i, sc in enumerate(scenarios)]
    if workers <= 1 or len(jobs) <= 1:
        return [simulate(sc, c) for sc, c in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_simulate_star, jobs))
