"""Numba kernels of the packet-level simulator (arrays and scalars only).

The event calendar is a binary min-heap over *entities*, each of which has at
most one pending event: flow ``f`` (next packet generation, entity ``f``), link
``e``'s transmitter (end of the current transmission, entity ``F + e``) and
link ``e``'s propagation pipeline (arrival of its oldest in-flight packet at
the next node, entity ``F + E + e``). The heap therefore never holds more than
``F + 2E`` entries and needs no decrease-key.

Packets live in a pool, one row of ``pkt`` (float64, ``(N, 8)``) per packet so
that a packet is one cache line: columns ``PK_FLOW``, ``PK_HOP`` (index into
``path_links``), ``PK_NEXT`` (linked-list successor or -1), ``PK_SIZE`` (bits),
``PK_T0`` (generation time), ``PK_TARR`` (arrival at the current port, or at
the next node while propagating), ``PK_TAG`` (WFQ finish tag). Rows are
threaded into singly linked lists: one per (link, queue) and one per
propagation pipeline. A free stack recycles rows. All state lives in arrays owned by
:class:`twinwatch.twin.sim.engine._State`; :func:`run` advances it to a time bound and
returns, so the caller can take batch-means snapshots between calls.

Scheduling codes follow :class:`twinwatch.twin.scenario.Policy` (FIFO 0, SP 1, WFQ 2,
DRR 3); time-distribution codes follow :class:`twinwatch.twin.scenario.TimeDist`; size
codes follow :class:`twinwatch.twin.scenario.SizeDist`, plus 4 = exponential with mean
``sizes[f, 0]`` (used for M/M/1 checks; not in the enum yet).

Check these kernels against plain Python by running the tests with
``NUMBA_DISABLE_JIT=1`` (slow, but the same code paths).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# pkt columns
PK_FLOW, PK_HOP, PK_NEXT, PK_SIZE, PK_T0, PK_TARR, PK_TAG = 0, 1, 2, 3, 4, 5, 6
# istate slots
I_HEAP_N = 0
I_FREE_TOP = 1
I_N_GEN = 2  # packets generated (all time)
I_N_HOPS = 3  # transmissions completed (all time)
I_N_EVENTS = 4
N_ISTATE = 5
# fstate slots
F_NOW = 0
N_FSTATE = 1

# return codes of run()
RC_TIME = 0  # reached t_end
RC_POOL = 1  # packet pool exhausted: grow it and call again
RC_MAXGEN = 2  # generated-packet bound reached
RC_EMPTY = 3  # nothing left to simulate

N_HIST = 256
"""Bins of the per-path log-spaced delay histogram."""
HIST_SPAN = 9.0
"""Natural-log span of the histogram above a path's minimum delay (e^9 ≈ 8100×)."""


@njit(cache=True)
def seed(s: int) -> None:
    """Seed numba's NumPy-compatible generator (per process/thread)."""
    np.random.seed(s)


# ------------------------------------------------------------------ heap
@njit(cache=True, inline="always")
def _heap_push(heap_t, heap_e, istate, t, ent):
    i = istate[I_HEAP_N]
    istate[I_HEAP_N] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if heap_t[parent] <= t:
            break
        heap_t[i] = heap_t[parent]
        heap_e[i] = heap_e[parent]
        i = parent
    heap_t[i] = t
    heap_e[i] = ent


@njit(cache=True, inline="always")
def _heap_pop(heap_t, heap_e, istate):
    """Remove the root (caller has read it)."""
    n = istate[I_HEAP_N] - 1
    istate[I_HEAP_N] = n
    if n == 0:
        return
    t = heap_t[n]
    ent = heap_e[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and heap_t[c + 1] < heap_t[c]:
            c += 1
        if heap_t[c] >= t:
            break
        heap_t[i] = heap_t[c]
        heap_e[i] = heap_e[c]
        i = c
    heap_t[i] = t
    heap_e[i] = ent


@njit(cache=True)
def heap_init(heap_t, heap_e, istate, times):
    """Push entity ``i`` at ``times[i]`` for every finite time."""
    for i in range(times.shape[0]):
        if np.isfinite(times[i]):
            _heap_push(heap_t, heap_e, istate, times[i], i)


# ------------------------------------------------------------- traffic
@njit(cache=True)
def _draw_size(f, size_dist, sizes, cdf):
    if size_dist[f] == 4:  # EXPONENTIAL with mean sizes[f, 0] (M/M/1 checks)
        return np.random.exponential(sizes[f, 0])
    if size_dist[f] == 1:  # UNIFORM between the first two candidates
        lo = sizes[f, 0]
        hi = sizes[f, 1]
        if hi == hi:  # not NaN
            return lo + (hi - lo) * np.random.random()
        return lo
    u = np.random.random()
    k = 0
    last = cdf.shape[1] - 1
    while k < last and u > cdf[f, k]:
        k += 1
    return sizes[f, k]


@njit(cache=True)
def _next_gen(f, t, time_dist, pkt_rate, on_mean, off_mean, on_end, on_phase, onoff_mode):
    """Time of flow ``f``'s next packet after a packet at ``t`` (updates ON-OFF state)."""
    lam = pkt_rate[f]
    td = time_dist[f]
    if td == 1:  # CBR
        return t + 1.0 / lam
    if td == 2:  # ON-OFF: exponential ON/OFF periods, Poisson arrivals while ON
        on = on_mean[f]
        off = off_mean[f]
        lam_on = lam * (on + off) / on
        if onoff_mode == 3 and on_phase[f] == 1:  # first tick of the gated CBR grid after the opening packet
            on_phase[f] = 0
            nxt = t + np.random.random() / lam_on
        elif onoff_mode >= 2:  # CBR while ON
            nxt = t + 1.0 / lam_on
        else:  # Poisson while ON
            nxt = t + np.random.exponential(1.0 / lam_on)
        while nxt > on_end[f]:
            start = on_end[f] + np.random.exponential(off)
            on_end[f] = start + np.random.exponential(on)
            if onoff_mode != 0:  # every ON period opens with a packet
                on_phase[f] = 1
                return start
            nxt = start + np.random.exponential(1.0 / lam_on)
        return nxt
    if td == 3:  # UNIFORM inter-arrival on [0, 2/lambda]
        return t + 2.0 * np.random.random() / lam
    if td == 4:  # NORMAL inter-arrival, mean 1/lambda, sd 0.1/lambda, truncated > 0
        d = (1.0 + 0.1 * np.random.standard_normal()) / lam
        return t + max(d, 1e-3 / lam)
    return t + np.random.exponential(1.0 / lam)  # POISSON (and PPBP fallback)


@njit(cache=True)
def first_gen(time_dist, pkt_rate, on_mean, off_mean, on_end, on_phase, onoff_mode, out_t):
    """Fill ``out_t`` with each flow's first generation time (stationary start)."""
    for f in range(pkt_rate.shape[0]):
        lam = pkt_rate[f]
        if lam <= 0:
            out_t[f] = np.inf
            continue
        td = time_dist[f]
        if td == 1:
            out_t[f] = np.random.random() / lam
        elif td == 2:
            on = on_mean[f]
            off = off_mean[f]
            if np.random.random() < on / (on + off):
                on_end[f] = np.random.exponential(on)  # residual ON period
            else:
                on_end[f] = 0.0  # OFF at time 0: the next draw starts a fresh OFF+ON cycle
            out_t[f] = _next_gen(f, 0.0, time_dist, pkt_rate, on_mean, off_mean, on_end, on_phase, onoff_mode)
        elif td == 0 or td == 5:
            out_t[f] = np.random.exponential(1.0 / lam)
        else:
            out_t[f] = np.random.random() / lam


@njit(cache=True)
def sample_flow(f, n, t0, time_dist, pkt_rate, on_mean, off_mean, on_end, on_phase, onoff_mode, size_dist, sizes, cdf):
    """``n`` successive arrival times (from ``t0``) and sizes of flow ``f``."""
    times = np.empty(n)
    out = np.empty(n)
    t = t0
    for i in range(n):
        times[i] = t
        out[i] = _draw_size(f, size_dist, sizes, cdf)
        t = _next_gen(f, t, time_dist, pkt_rate, on_mean, off_mean, on_end, on_phase, onoff_mode)
    return times, out


# ------------------------------------------------------------ scheduling
@njit(cache=True, inline="always")
def _gps_advance(e, t, q_n, cap, wfq_v, wfq_t, wfq_last, wfq_inv_w):
    """Advance port ``e``'s GPS virtual time to ``t`` (PGPS / WFQ).

    ``dV/dt = capacity / sum of the weights of the queues still backlogged in
    the fluid GPS system`` (queue ``k`` is backlogged while its last finish tag
    exceeds ``V``); tags are in bits per unit weight.
    """
    v = wfq_v[e]
    tl = wfq_t[e]
    base = e * q_n
    while True:
        sw = 0.0
        fmin = np.inf
        for k in range(q_n):
            fk = wfq_last[base + k]
            if fk > v:
                sw += 1.0 / wfq_inv_w[base + k]
                if fk < fmin:
                    fmin = fk
        if sw == 0.0:
            break
        dt = (fmin - v) * sw / cap
        if tl + dt <= t:
            tl += dt
            v = fmin
        else:
            v += (t - tl) * cap / sw
            break
    wfq_v[e] = v
    wfq_t[e] = t



@njit(cache=True)
def _select(e, q_n, policy, qhead, qcount, qbits, pkt,
            drr_cur, drr_fresh, deficit, quantum):
    """Dequeue the next packet to transmit on port ``e`` (queues non-empty); return its id."""
    base = e * q_n
    pol = policy[e]
    q = 0
    if pol == 1:  # SP: lowest queue index first
        for k in range(q_n):
            if qcount[base + k] > 0:
                q = k
                break
    elif pol == 2:  # WFQ: smallest finish tag among the heads (tags per wfq_mode, set on arrival)
        best = np.inf
        for k in range(q_n):
            if qcount[base + k] > 0:
                tg = pkt[qhead[base + k], PK_TAG]
                if tg < best:
                    best = tg
                    q = k
    elif pol == 3:  # DRR
        while True:
            k = drr_cur[e]
            j = base + k
            if qcount[j] > 0:
                if drr_fresh[e] == 1:
                    deficit[j] += quantum[j]
                    drr_fresh[e] = 0
                sz = pkt[qhead[j], PK_SIZE]
                if sz <= deficit[j]:
                    deficit[j] -= sz
                    q = k
                    if qcount[j] == 1:  # queue empties: forfeit the rest, move on
                        deficit[j] = 0.0
                        drr_cur[e] = (k + 1) % q_n
                        drr_fresh[e] = 1
                    break
            else:
                deficit[j] = 0.0
            drr_cur[e] = (k + 1) % q_n
            drr_fresh[e] = 1
    j = base + q
    pk = qhead[j]
    qhead[j] = np.int64(pkt[pk, PK_NEXT])
    qcount[j] -= 1
    qbits[j] -= pkt[pk, PK_SIZE]
    return pk


# -------------------------------------------------------------- main loop
@njit(cache=True)
def run(
    t_end, max_gen,
    # topology / routing / traffic (read-only)
    n_flows, n_links, q_n,
    link_cap, link_prop, link_policy, link_qcap_pkts, link_qcap_bits, shared_buffer, count_in_service,
    path_ptr, path_links, path_log_base,
    flow_path, flow_q, flow_time_dist, flow_pkt_rate, flow_on, flow_off, flow_size_dist, flow_sizes, flow_cdf,
    quantum, wfq_inv_w, onoff_mode, wfq_mode,
    # dynamic state
    istate, fstate, heap_t, heap_e, flow_on_end, flow_on_phase,
    pkt, free_stack,
    qhead, qtail, qcount, qbits, port_pkts, port_bits, in_service,
    pipe_head, pipe_tail, wfq_v, wfq_t, wfq_last, drr_cur, drr_fresh, deficit,
    # statistics (accumulated; the caller zeroes them at the end of warm-up)
    path_n_gen, path_n_drop, path_n_rx, path_sum_d, path_sum_d2, path_hist,
    flow_n_rx, flow_sum_d, flow_sum_d2, flow_n_gen, flow_n_drop,
    link_n_arr, link_n_tx, link_bits_tx, link_sum_soj, link_drops,
    hop_n_tx, hop_sum_soj,
):
    """Advance the simulation until the next event is later than ``t_end``.

    Returns one of the ``RC_*`` codes. Event ``time``s are in the scenario's
    time unit; sizes in bits; capacities in bits per time unit.
    """
    inv_hist = N_HIST / HIST_SPAN
    ent_link = n_flows
    ent_pipe = n_flows + n_links
    while True:
        if istate[I_HEAP_N] == 0:
            return RC_EMPTY
        t = heap_t[0]
        if t > t_end:
            return RC_TIME
        ent = heap_e[0]
        if ent < ent_link:
            # ------------------------------------------------ generation
            if istate[I_FREE_TOP] == 0:
                return RC_POOL
            if istate[I_N_GEN] >= max_gen:
                return RC_MAXGEN
            f = ent
            _heap_pop(heap_t, heap_e, istate)
            fstate[F_NOW] = t
            nt = _next_gen(f, t, flow_time_dist, flow_pkt_rate, flow_on, flow_off, flow_on_end, flow_on_phase,
                           onoff_mode)
            _heap_push(heap_t, heap_e, istate, nt, f)
            istate[I_N_GEN] += 1
            top = istate[I_FREE_TOP] - 1
            istate[I_FREE_TOP] = top
            pk = free_stack[top]
            p = flow_path[f]
            pkt[pk, PK_FLOW] = f
            pkt[pk, PK_HOP] = path_ptr[p]
            pkt[pk, PK_SIZE] = _draw_size(f, flow_size_dist, flow_sizes, flow_cdf)
            pkt[pk, PK_T0] = t
            path_n_gen[p] += 1
            flow_n_gen[f] += 1
            arrive = True
        elif ent < ent_pipe:
            # ------------------------------------------ end of transmission
            e = ent - ent_link
            _heap_pop(heap_t, heap_e, istate)
            fstate[F_NOW] = t
            pk = in_service[e]
            sz = pkt[pk, PK_SIZE]
            istate[I_N_HOPS] += 1
            j = e * q_n + (flow_q[np.int64(pkt[pk, PK_FLOW])] if link_policy[e] != 0 else 0)
            link_n_tx[j] += 1
            link_bits_tx[j] += sz
            link_sum_soj[j] += t - pkt[pk, PK_TARR]
            hj = np.int64(pkt[pk, PK_HOP]) * q_n + (j - e * q_n)  # per (path hop, queue)
            hop_n_tx[hj] += 1
            hop_sum_soj[hj] += t - pkt[pk, PK_TARR]
            port_pkts[e] -= 1
            port_bits[e] -= sz
            # start the next transmission
            if port_pkts[e] > 0:
                nxt = _select(e, q_n, link_policy, qhead, qcount, qbits, pkt,
                              drr_cur, drr_fresh, deficit, quantum)
                in_service[e] = nxt
                if link_policy[e] == 2 and wfq_mode == 0:  # SCFQ: virtual time = tag in service
                    wfq_v[e] = pkt[nxt, PK_TAG]
                _heap_push(heap_t, heap_e, istate, t + pkt[nxt, PK_SIZE] / link_cap[e], ent_link + e)
            else:
                in_service[e] = -1
                if link_policy[e] == 2 and wfq_mode == 0:
                    wfq_v[e] = 0.0
                    for k in range(q_n):
                        wfq_last[e * q_n + k] = 0.0
            pkt[pk, PK_HOP] += 1
            if link_prop[e] > 0.0:
                pkt[pk, PK_TARR] = t + link_prop[e]
                pkt[pk, PK_NEXT] = -1
                if pipe_head[e] < 0:
                    pipe_head[e] = pk
                    _heap_push(heap_t, heap_e, istate, pkt[pk, PK_TARR], ent_pipe + e)
                else:
                    pkt[pipe_tail[e], PK_NEXT] = pk
                pipe_tail[e] = pk
                arrive = False
            else:
                arrive = True
        else:
            # ------------------------------------ arrival after propagation
            e = ent - ent_pipe
            _heap_pop(heap_t, heap_e, istate)
            fstate[F_NOW] = t
            pk = pipe_head[e]
            nx = np.int64(pkt[pk, PK_NEXT])
            pipe_head[e] = nx
            if nx >= 0:
                _heap_push(heap_t, heap_e, istate, pkt[nx, PK_TARR], ent_pipe + e)
            else:
                pipe_tail[e] = -1
            arrive = True
        if not arrive:
            continue
        # ---------------------------------------- packet pk arrives at a node
        f = np.int64(pkt[pk, PK_FLOW])
        p = flow_path[f]
        h = np.int64(pkt[pk, PK_HOP])
        if h == path_ptr[p + 1]:
            d = t - pkt[pk, PK_T0]
            path_n_rx[p] += 1
            path_sum_d[p] += d
            path_sum_d2[p] += d * d
            flow_n_rx[f] += 1
            flow_sum_d[f] += d
            flow_sum_d2[f] += d * d
            b = int((np.log(d) - path_log_base[p]) * inv_hist)
            if b < 0:
                b = 0
            elif b >= N_HIST:
                b = N_HIST - 1
            path_hist[p, b] += 1
            free_stack[istate[I_FREE_TOP]] = pk
            istate[I_FREE_TOP] += 1
            continue
        e = path_links[h]
        sz = pkt[pk, PK_SIZE]
        link_n_arr[e] += 1
        pkt[pk, PK_TARR] = t
        if in_service[e] < 0:
            in_service[e] = pk
            port_pkts[e] += 1
            port_bits[e] += sz
            if link_policy[e] == 2:
                j = e * q_n + flow_q[f]
                if wfq_mode == 0:
                    tag = wfq_v[e] + sz * wfq_inv_w[j]
                    wfq_v[e] = tag
                elif wfq_mode == 2:  # cumulative service per weight, never reset
                    tag = wfq_last[j] + sz * wfq_inv_w[j]
                else:
                    _gps_advance(e, t, q_n, link_cap[e], wfq_v, wfq_t, wfq_last, wfq_inv_w)
                    tag = (wfq_last[j] if wfq_last[j] > wfq_v[e] else wfq_v[e]) + sz * wfq_inv_w[j]
                wfq_last[j] = tag
                pkt[pk, PK_TAG] = tag
            _heap_push(heap_t, heap_e, istate, t + sz / link_cap[e], ent_link + e)
            continue
        q = flow_q[f] if link_policy[e] != 0 else 0
        j = e * q_n + q
        if shared_buffer:
            held_p = port_pkts[e] - (0 if count_in_service else 1)
            held_b = port_bits[e] - (0.0 if count_in_service else pkt[in_service[e], PK_SIZE])
        else:
            held_p = qcount[j]
            held_b = qbits[j]
            if count_in_service:
                sv = in_service[e]
                if link_policy[e] == 0 or flow_q[np.int64(pkt[sv, PK_FLOW])] == q:
                    held_p += 1
                    held_b += pkt[sv, PK_SIZE]
        if held_p + 1 > link_qcap_pkts[j] or held_b + sz > link_qcap_bits[j]:
            link_drops[e] += 1
            path_n_drop[p] += 1
            flow_n_drop[f] += 1
            free_stack[istate[I_FREE_TOP]] = pk
            istate[I_FREE_TOP] += 1
            continue
        if link_policy[e] == 2:
            if wfq_mode == 1:
                _gps_advance(e, t, q_n, link_cap[e], wfq_v, wfq_t, wfq_last, wfq_inv_w)
            start = wfq_last[j] if (wfq_mode == 2 or wfq_last[j] > wfq_v[e]) else wfq_v[e]
            tag = start + sz * wfq_inv_w[j]
            wfq_last[j] = tag
            pkt[pk, PK_TAG] = tag
        pkt[pk, PK_NEXT] = -1
        if qcount[j] == 0:
            qhead[j] = pk
        else:
            pkt[qtail[j], PK_NEXT] = pk
        qtail[j] = pk
        qcount[j] += 1
        qbits[j] += sz
        port_pkts[e] += 1
        port_bits[e] += sz
