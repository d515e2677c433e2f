"""Fluid model of overloaded output queues over a whole testbed window.

The testbed's packet simulation of a window spans only tens of milliseconds
of traffic (:func:`~twinwatch.twin.testbed.truth.simulate_window`, 20,000 to
50,000 packets). That is plenty for a queue below overload, whose statistics
settle within a few thousand packets, but not for a queue whose offered rate
exceeds the rate its scheduler gives it (a link whose capacity was degraded
below its load): its buffer needs ``buffer / (offered - service)`` seconds to
fill (0.4 s for a 1000-packet WFQ queue 12 % over its share at 150 Mb/s), so
the short simulation sees a growing queue and no drops where the real network
drops all the excess for the rest of the 10 s window.

:func:`fluid_overload` computes, for every port and queue of a
:class:`~twinwatch.twin.scenario.Scenario`, over a window of ``window_s``
seconds, with mean (fluid) rates:

- the rate **arriving** at each queue: the flows' offered rates thinned by
  the losses of the overloaded queues upstream on their paths (a fixed point,
  iterated until no survival ratio moves by more than ``1e-12``);
- the **service** rate the port's scheduler gives each queue (weighted
  max-min fair share for WFQ and DRR, as GPS; strict priority for SP, ToS 0
  first; one queue for FIFO) — which class loses first under overload;
- for a queue whose arrival exceeds its service (**overloaded**): the time to
  fill the buffer ``(buffer - backlog₀) / (arrival - service)``, the drops
  ``(arrival - service) × (window - fill time)``, the backlog at the window's
  end, and the sojourn of the packets it delivers: the backlog grows linearly
  during the fill, then stays at the buffer, and a packet waits ``backlog /
  service`` (mean and variance over the delivered packets, plus one
  transmission time); while full, the wait also varies with the Poisson
  arrivals of the port's other, not overloaded queues served in between
  (variance ``wait × Σ λ_k (size_k / capacity)²``).

Precision: the fluid values are the long-run values of the mean rates; they
neglect the packet-level fluctuation of a full drop-tail queue (a few packets
below the bound: under 1 % of the sojourn for a 1000-packet buffer) and the
Poisson noise of the window's arrivals (about ``1 / √packets``, under 0.1 %
of the drops in a 10 s window). Near overload (offered within a few percent
of service) a stochastic queue drops more than the fluid one, which is
exact only once ``(arrival - service) × window`` is much larger than the
buffer. Against a 4-million-packet simulation of the issue-10 repro (two
1000-packet WFQ ports at 2.4 × capacity, ``bench/testbed_overload.py``): link
loss within 0.4 %, the overloaded queues' mean sojourn within 1.2 %, per-class
loss within 3 % (relative), occupancy 1 in both; the delay standard deviation
of a full queue is 13-38 % low (a 1.6 s measured span: few independent
samples of a 0.3 s drain time).

Simplification across windows: a backlog left at the end of an overloaded
window (``backlog_bits``) starts the next window's fill; a queue that is not
overloaded in the next window is taken to have drained at its start (its
drain time ``backlog / (capacity - load)`` is milliseconds for these buffers,
against 10 s windows, and its extra delay is neglected).

Units: bits, bits/s, packets/s, seconds. Shapes: ``E`` links, ``Q`` =
:data:`~twinwatch.twin.scenario.MAX_QUEUES` queues per port.

Examples
--------
One 1 Mb/s link carrying 0.6 + 1.0 Mb/s in two WFQ classes weighted 3:1:
class 0 gets its 0.6 Mb/s (under its 0.75 share), class 1 the remaining 0.4 Mb/s and loses 60 %
once its 10-packet buffer is full (10 × 1000 bits / 0.6 Mb/s = 17 ms).

>>> from twinwatch.twin.scenario import Flow, Policy, Scenario
>>> sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]},
...                     [Flow(0, 1, 6e5, pkt_size_bits=1000.0, tos=0), Flow(0, 1, 1e6, pkt_size_bits=1000.0, tos=1)],
...                     policy=Policy.WFQ, weights=[[3.0, 1.0, 1.0]] * 2, queue_pkts=10.0)
>>> ov = fluid_overload(sc, window_s=10.0)
>>> ov.service_bps[0, :2].tolist(), ov.overloaded[0, :2].tolist()
([600000.0, 400000.0], [False, True])
>>> # loss 0.6 × (10 s - 17 ms) / 10 s; sojourn 10 kbit / 0.4 Mb/s + 1 ms transmission (less during the fill)
>>> round(float(ov.loss_ratio[0, 1]), 4), round(float(ov.sojourn_s[0, 1]), 4)
(0.599, 0.0259)
>>> ov.backlog_bits[0, 1].item()
10000.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.twin.scenario import MAX_QUEUES, Policy, Scenario

__all__ = ["FluidOverload", "fluid_overload", "port_queue"]

_REL_TOL = 1e-9
"""A queue is overloaded when its arrival exceeds its service by more than this fraction."""


@dataclass(frozen=True, slots=True)
class FluidOverload:
    """What :func:`fluid_overload` computed for one window; every array is ``(E, Q)``.

    Attributes
    ----------
    arrival_bps, arrival_pps
        Rate arriving at each queue (after upstream fluid losses), bits/s and packets/s.
    service_bps
        Rate the scheduler gives each queue (bits/s; equals the arrival when not overloaded).
    overloaded
        ``arrival > service``: the queues where the fluid values replace the packet simulation's.
    buffer_bits, pkt_bits
        The queue's bound in bits (packets × mean packet size, or the port's bits bound) and mean packet size.
    loss_ratio, drop_pps
        Dropped / arrived over the window, and drops per second (0 where not overloaded).
    sojourn_s, sojourn_var_s2
        Mean and variance of the sojourn (wait + transmission) of delivered packets (NaN where not overloaded).
    backlog_bits
        Backlog at the window's end (0 where not overloaded, see the module docstring).
    iterations
        Fixed-point iterations of the upstream-loss propagation.
    """

    arrival_bps: np.ndarray
    arrival_pps: np.ndarray
    service_bps: np.ndarray
    overloaded: np.ndarray
    buffer_bits: np.ndarray
    pkt_bits: np.ndarray
    loss_ratio: np.ndarray
    drop_pps: np.ndarray
    sojourn_s: np.ndarray
    sojourn_var_s2: np.ndarray
    backlog_bits: np.ndarray
    iterations: int

    @property
    def link_overloaded(self) -> np.ndarray:
        """``(E,)`` bool: the port has at least one overloaded queue."""
        return self.overloaded.any(axis=1)


def port_queue(sc: Scenario) -> np.ndarray:
    """``(E, Q)`` int64: the queue of the port of link ``e`` that ToS class ``c`` uses (FIFO ports: queue 0)."""
    fifo = np.asarray(sc.node_policy)[sc.link_src] == int(Policy.FIFO)
    cls = np.broadcast_to(np.arange(MAX_QUEUES, dtype=np.int64), (sc.n_links, MAX_QUEUES))
    return np.where(fifo[:, None], 0, cls)


def _weights(sc: Scenario) -> np.ndarray:
    """``(E, Q)`` scheduling weights of each link's port, filled as the simulator fills them."""
    w = np.asarray(sc.node_weights, dtype=np.float64)[sc.link_src]
    w = np.where(np.isfinite(w) & (w > 0), w, np.nan)
    w = np.where(np.isnan(w).all(axis=1)[:, None], 1.0, w)
    with np.errstate(all="ignore"):
        return np.where(np.isnan(w), np.nanmin(w, axis=1)[:, None], w)


def _service(arrival: np.ndarray, cap: np.ndarray, policy: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``(E, Q)`` fluid service rate per queue: SP in priority order, WFQ/DRR weighted max-min fair, FIFO one queue.

    ``arrival`` ``(E, Q)`` bits/s, ``cap`` ``(E,)`` bits/s, ``policy`` ``(E,)`` :class:`Policy` codes,
    ``weight`` ``(E, Q)``. Vectorised over links; the loops run over the ``Q`` queues only.
    """
    q_n = arrival.shape[1]
    # strict priority (and FIFO, whose traffic is all in queue 0): queue k gets what queues < k left
    sp = np.zeros_like(arrival)
    rem = cap.astype(np.float64).copy()
    for k in range(q_n):
        sp[:, k] = np.minimum(arrival[:, k], rem)
        rem = rem - sp[:, k]
    # WFQ / DRR as GPS: water-filling of the capacity over the backlogged queues by weight
    fair = np.zeros_like(arrival)
    rem = cap.astype(np.float64).copy()
    active = arrival > 0
    for _ in range(q_n + 1):
        if not active.any():
            break
        wsum = np.where(active, weight, 0.0).sum(axis=1)
        share = np.where(active, rem[:, None] * weight / np.where(wsum > 0, wsum, 1.0)[:, None], 0.0)
        sat = active & (arrival <= share)
        final = active & ~sat.any(axis=1)[:, None]
        fair = np.where(sat, arrival, np.where(final, share, fair))
        rem = rem - np.where(sat, arrival, 0.0).sum(axis=1)
        active = active & ~sat & ~final
    multi = (policy == int(Policy.WFQ)) | (policy == int(Policy.DRR))
    return np.where(multi[:, None], fair, sp)


def fluid_overload(
    sc: Scenario,
    window_s: float = float("inf"),
    backlog_bits: np.ndarray | None = None,
    *,
    max_iter: int = 200,
) -> FluidOverload:
    """Fluid arrival, service, drops and sojourn of every queue of ``sc`` over ``window_s`` seconds.

    ``backlog_bits`` ``(E, Q)`` is the backlog each queue starts with (the
    previous window's :attr:`FluidOverload.backlog_bits`; zeros when None).
    ``window_s`` infinite gives the steady state (fill transient ignored).
    See the module docstring for the model and its precision.
    """
    if not window_s > 0:
        raise ValueError(f"fluid_overload: window_s must be > 0, got {window_s!r}")
    e, q_n = sc.n_links, MAX_QUEUES
    b0 = np.zeros((e, q_n)) if backlog_bits is None else np.asarray(backlog_bits, dtype=np.float64)
    if b0.shape != (e, q_n):
        raise ValueError(f"fluid_overload: backlog_bits must be ({e}, {q_n}), got {b0.shape}")
    cap = np.asarray(sc.link_capacity_bps, dtype=np.float64)
    policy = np.asarray(sc.node_policy)[sc.link_src].astype(np.int64)
    weight = _weights(sc)
    qmap = port_queue(sc)
    # offered bits/s and packets/s per (path, class)
    tos = np.minimum(sc.flow_tos.astype(np.int64), q_n - 1)
    pc = sc.flow_path * q_n + tos
    r_bits = np.bincount(pc, weights=sc.flow_rate_bps, minlength=sc.n_paths * q_n).reshape(sc.n_paths, q_n)
    r_pkts = np.bincount(pc, weights=sc.flow_pkt_rate, minlength=sc.n_paths * q_n).reshape(sc.n_paths, q_n)
    hop_path = sc.hop_path
    hop_link = sc.path_links
    first = sc.path_ptr[:-1]
    has_hops = sc.path_len > 0
    rows = np.arange(e)
    used = np.flatnonzero(r_bits.sum(axis=0) > 0)  # classes with traffic

    def arrivals(survive: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``(E, Q)`` bits/s and packets/s arriving at each queue; ``survive`` ``(E, Q)`` thins downstream hops."""
        up = None
        if survive is not None and hop_link.size:
            lq = hop_link[:, None] * q_n + qmap[hop_link]  # (H, C) flat (link, queue) of each hop and class
            ls = np.log(np.maximum(survive.ravel()[lq], 1e-300))
            cs = np.cumsum(ls, axis=0)
            excl = cs - ls  # Σ over the hops before this one, offset by the earlier paths' sums
            base = np.where(has_hops[:, None], excl[np.minimum(first, hop_link.size - 1)], 0.0)
            up = np.exp(excl - base[hop_path])
        a_bits, a_pkts = np.zeros((e, q_n)), np.zeros((e, q_n))
        for c in used:  # the loop runs over the Q classes only
            wb, wp = r_bits[:, c][hop_path], r_pkts[:, c][hop_path]
            if up is not None:
                wb, wp = wb * up[:, c], wp * up[:, c]
            a_bits[rows, qmap[:, c]] += np.bincount(hop_link, weights=wb, minlength=e)
            a_pkts[rows, qmap[:, c]] += np.bincount(hop_link, weights=wp, minlength=e)
        return a_bits, a_pkts

    # mean packet size per queue (offered traffic) and the queue's bound in bits
    off_bits, off_pkts = arrivals(None)
    with np.errstate(invalid="ignore", divide="ignore"):
        pkt_bits = np.where(off_pkts > 0, off_bits / np.where(off_pkts > 0, off_pkts, 1.0), np.nan)
    qp = np.asarray(sc.node_queue_pkts, dtype=np.float64)[sc.link_src]
    fifo = policy == int(Policy.FIFO)
    qp = np.where(fifo[:, None], qp[:, :1], qp)
    bound_pkts = np.where(np.isfinite(qp), qp * np.nan_to_num(pkt_bits, nan=0.0), np.inf)
    port_bits = np.asarray(sc.node_buffer_bits, dtype=np.float64)[sc.link_src]
    bound_bits = np.where(np.isfinite(port_bits), port_bits, np.inf)[:, None]
    buffer_bits = np.minimum(bound_pkts, bound_bits)

    t = float(window_s)
    survive = np.ones((e, q_n))
    # no port offered more than its capacity: no queue of a work-conserving scheduler is overloaded
    a_bits, a_pkts, it = off_bits, off_pkts, 0
    mu, over, excess = off_bits, np.zeros((e, q_n), dtype=bool), np.zeros((e, q_n))
    fill, loss = np.full((e, q_n), np.inf), np.zeros((e, q_n))
    busy = bool(np.any(off_bits.sum(axis=1) > cap * (1.0 + _REL_TOL)))
    for it in range(1, (max_iter if busy else 0) + 1):  # noqa: B007 - the count is reported
        a_bits, a_pkts = arrivals(survive)
        mu = _service(a_bits, cap, policy, weight)
        over = a_bits > mu * (1.0 + _REL_TOL)
        excess = np.where(over, a_bits - mu, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            fill = np.where(over, np.maximum(buffer_bits - b0, 0.0) / np.where(over, excess, 1.0), np.inf)
            if np.isinf(t):
                loss = np.where(over & np.isfinite(fill), excess / np.where(over, a_bits, 1.0), 0.0)
            else:
                loss = np.where(over & (fill < t), excess * (t - fill) / (a_bits * t), 0.0)
        new = 1.0 - loss
        if np.max(np.abs(new - survive), initial=0.0) <= 1e-12:
            survive = new
            break
        survive = new

    # sojourn of the delivered packets of overloaded queues: the backlog grows linearly from b0 during the fill
    # (all arrivals accepted), then stays at the buffer (service-rate acceptance); wait = backlog / service
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t1 = np.minimum(fill, t)
        b1 = np.where(over, np.minimum(b0 + excess * np.where(np.isfinite(t1), t1, 0.0), buffer_bits), 0.0)
        w_fill = np.where(over & np.isfinite(t1), a_bits * t1, 0.0)
        w_full = np.where(over & (fill < t), mu * (t - np.where(np.isfinite(fill), fill, 0.0)), 0.0)
        if np.isinf(t):
            phi = np.where(np.isfinite(fill), 0.0, 1.0)  # steady state: the fill is a vanishing share
        else:
            phi = w_fill / np.where(w_fill + w_full > 0, w_fill + w_full, 1.0)
        m1 = phi * (b0 + b1) / 2.0 + (1.0 - phi) * buffer_bits * (phi < 1)
        m2 = phi * (b0**2 + b0 * b1 + b1**2) / 3.0 + (1.0 - phi) * buffer_bits**2 * (phi < 1)
        wait = m1 / mu
        # a full queue's wait fluctuates with the Poisson arrivals of the port's queues that are not overloaded
        # (served in between): Var ≈ wait × Σ_k λ_k (size_k / capacity)²
        tx2 = np.where(over | ~np.isfinite(pkt_bits), 0.0, a_pkts * (np.nan_to_num(pkt_bits) / cap[:, None]) ** 2)
        full_var = np.where(over, buffer_bits / mu, 0.0) * tx2.sum(axis=1)[:, None]
        var = np.maximum(m2 / mu**2 - wait**2, 0.0) + (1.0 - phi) * full_var
        served = over & (mu > 0)
        sojourn = np.where(served, wait + pkt_bits / cap[:, None], np.nan)
        sojourn_var = np.where(served, var, np.nan)
        backlog = np.where(over, np.where(fill < t, buffer_bits, b1), 0.0)
        drop_pps = np.where(over, loss * a_pkts, 0.0)
    return FluidOverload(arrival_bps=a_bits, arrival_pps=a_pkts, service_bps=np.where(over, mu, a_bits),
                         overloaded=over, buffer_bits=buffer_bits, pkt_bits=pkt_bits, loss_ratio=loss,
                         drop_pps=drop_pps, sojourn_s=sojourn, sojourn_var_s2=sojourn_var,
                         backlog_bits=np.nan_to_num(backlog, posinf=0.0), iterations=it)
