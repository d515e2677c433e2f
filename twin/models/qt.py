"""Queueing-theory baseline: every output port is an M/G/1/K queue (or several).

The classical analytic model of a packet network, vectorised over all links,
queues and flows with NumPy. It is the honest baseline the GNN must beat: it
knows the topology, routing, traffic, packet-size moments, buffers and
scheduling, but it assumes Poisson arrivals and independent queues (Kleinrock's
independence assumption), so it misses burstiness (On-Off, CBR) and the
correlation of queues along a path.

Model
-----
*Queues.* A port (one directed link) of a FIFO node is one queue shared by all
ToS classes. A port of an SP, WFQ or DRR node has one queue per ToS class
(``Q = 3``); flow ``f`` joins queue ``tos[f]``.

*Offered load.* Each flow's packet rate is carried hop by hop and thinned by
the loss of every queue it already crossed; queue loads and losses are solved
as a fixed point (damped, a few iterations, converge check on the loss
probabilities).

*One queue, M/G/1/K (two-moment, work-scaled geometric approximation).*
With packet service time ``S`` (size / capacity), ``ρ = λ E[S]``,
``c² = Var S / E[S]²``, the occupancy of an M/G/1 queue is close to geometric
when counted in *units* of ``b = E[S²] / (2 E[S])`` seconds of work
(``b = E[S]`` for exponential sizes). A buffer of ``K`` packets holds
``M = (K + 1) · 2 / (1 + c²)`` such units (``+1``: the packet being sent),
so:

- loss ``P = π_M`` of the geometric distribution ``π_n ∝ ρⁿ`` on ``0..M``;
- an accepted packet finds ``n`` units (geometric truncated to ``0..M-1``)
  and waits ``W = Σ`` of ``n`` units, each of mean ``b`` and variance
  ``v = E[S³] / (3 E[S]) − b²`` (the residual-work variance), so
  ``E W = b E[n]`` and ``Var W = v E[n] + b² Var[n]``;
- sojourn ``T = W + S_f`` for a packet of flow ``f``: mean ``E W + E[S_f]``,
  variance ``Var W + Var S_f``.

This is exact for M/M/1/K (``c² = 1``) and reproduces Pollaczek–Khinchine's
mean and Takács' variance of the M/G/1 waiting time when the buffer is large.

*Scheduling (approximations).*

- **SP** (queue ``sp_order[0]`` first, by default ToS 0): class ``k`` is served
  by what the higher classes leave, ``C_k = C (1 − σ_{<k})`` with ``σ`` the
  carried load of the higher classes (preemptive "reduced capacity" model);
  the Cobham residual-service term of the *other* classes,
  ``Σ_{i≠k} λ_i E[S_i²] / 2 / ((1 − σ_{<k})(1 − σ_{≤k}))``, is added to the
  mean wait, so the mean wait is Cobham's non-preemptive M/G/1 result when
  buffers are large; a packet's own transmission then goes at the full rate.
  The wait's variance is the class's own queue's plus the rest of Kesten and
  Runnenburg's non-preemptive priority variance (``class_wait="moments"``;
  ``"mean"``, the model before 2026-12-04, left it out).
- **WFQ** and **DRR** (treated alike): the weights give a max-min fair
  (water-filled) share of the link to each class; class ``k``'s queue builds
  up as if served at the capacity the *other* classes do not use, ``C_k = C
  (1 − Σ_{j≠k} min(ρ_j, share_j))`` (one class alone gets the whole link).
  With ``wfq="fluid"`` (the default, the classical GPS view) a packet is sent
  at ``C_k``, which over-counts another class's cost at low load; with
  ``wfq="packet"`` it is sent at the line rate and also waits out the other
  classes' packet in service, ``Σ_{j≠k} λ_j E[S_j²] / 2`` (and, with
  ``class_wait="moments"``, that residual's variance).

*Input smoothing* (``input_smoothing="input"`` or ``"port"``; off by default).
Packets reaching a port over the same input link arrive no faster than that
link sends them, so (one packet size, input no faster than the port) a packet
never queues behind its own input's predecessor unless that one waited;
Kleinrock's independence assumption ignores this and over-counts the wait
where a port's traffic comes from few inputs (sparse networks). The wait
(mean and variance) is scaled by the share ``φ`` of the port's residual work
a packet can find ahead of it (:func:`_collision_share`: per input, faster
inputs, size variability and the port's load give some of it back). With
``"port"`` every packet of the port gets the port's mean share; with
``"input"`` (what ``--model qt-packet`` uses since 2026-12-04) a packet
entering the network at the port, Poisson, finds the time-average work, and
one arriving over a link less of its own input's — the same mean over the
port's packets (link KPIs unchanged), but a path's first hop waits more and
its later hops less: against 20 M simulated packets on the 197-node Cogent
network at light load, the port-average share put the queueing part of
one-hop paths 2.3 % low and of 13-hop paths 0.1 % high, the per-input share
0.16–0.32 % low at every path length (``bench/notes/twin_hybrid.md`` section
4p). Loss is not scaled.
``bench/notes/qt_packet_level.md`` has the derivation and the figures of the port-average share:
:func:`packet_queueing_model` (``--model qt-packet``, both switched on) is
2–5 times closer to the packet simulator where packets have one size and
closer on GNNet, but went 0.09 pp past its rule's tolerance in one load band
of the operated-network test set, so the default stays the classical model.

*Packet trains* (``trains=True``, with ``input_smoothing="input"``; off by
default and in ``--model qt-packet``). A packet keeps its size, so a small one
that queued right behind a larger one of the same onward stream waits for
the difference again at every later hop of equal rate: with mixed sizes the
wait grows along a path (an IMIX chain of 8 equal links: 3× the independent
model). :mod:`twinwatch.twin.models._trains` adds, per flow-hop, the growth
of the shot-noise maximum of the max-plus reaches of the streams attached to
it (within 0–10 % of the simulator on such chains, where ``qt-packet`` is up
to 86 % low), and the input smoothing's ψ is then 0. On operated-network
samples the queueing part improves (6.69 → 6.36 %), on GNNet 2022 it does not
(7.43 → 7.54 %), so ``qt-packet`` stays without it; it is the prior
``packet-trains`` (``bench/notes/twin_hybrid.md`` section 4q).

*Paths.* Mean delay ``Σ_hops (E W + E[S_f]) + Σ propagation``; jitter
(delay variance) ``Σ_hops Var W + Var(L_f) (Σ_hops 1/C_h)²``: the waits of
the hops independent (Kleinrock), but a packet keeps its size ``L_f`` over
every hop, so its transmission times are one random variable scaled per hop
and their variances add as a square of sums, not as a sum of squares (on
``H`` equal links ``H`` times the independent sum; ``own_size="independent"``,
Kleinrock's independent re-draw per hop, was the default until 2026-12-03 and
under-predicted the jitter of mixed-size flows by ``H``:
``bench/notes/twin_hybrid.md`` section 4m); loss
``1 − Π (1 − P_hop)``. A path with several flows mixes them by delivered
packet rate (mean of the mixture, variance of the mixture).

*Links.* utilisation = carried bits / capacity; queue occupancy = mean
number of packets in the port (all its queues, Little's law); loss = dropped
/ offered packets at the port.

Buffers: ``node_queue_pkts`` (packets, per queue) where given, else
``node_buffer_bits`` divided by the queue's mean packet size (the whole port
buffer for each queue); neither given means an unbounded queue.

Examples
--------
One link, exponential packet sizes (``service="mm1"``), a huge buffer: the
M/M/1 delay ``1 / (μ − λ)`` and delay variance ``1 / (μ − λ)²``.

>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]},
...                     [Flow(0, 1, rate_bps=6e5, pkt_size_bits=1000.0)], queue_pkts=1e6)
>>> pred = QueueingModel(service="mm1").predict(sc)
>>> mu, lam = 1e6 / 1000.0, 6e5 / 1000.0
>>> round(float(pred.path_delay_s[0]) * (mu - lam), 9), round(float(pred.path_jitter_s2[0]) * (mu - lam) ** 2, 9)
(1.0, 1.0)
>>> round(float(pred.link_utilization[0]), 6), round(float(pred.link_queue_pkts[0]), 6)  # ρ, 1/(1-ρ) packets
(0.6, 2.5)

Fixed 1000-bit packets make it M/D/1; the Pollaczek–Khinchine mean:

>>> d = float(QueueingModel().predict(sc).path_delay_s[0])
>>> s, rho = 1e-3, 0.6
>>> round(d / (s + rho * s / (2 * (1 - rho))), 9)
1.0
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from twinwatch.twin.kpis import Prediction, queue_occupancy_ratio
from twinwatch.twin.models._queueing import (
    SMALL,
    QueueResult,
    fair_fraction,
    mg1k,
    segment_exclusive_cumsum,
    truncated_geometric,
)
from twinwatch.twin.models._trains import RHO_MAX as TRAIN_RHO_MAX
from twinwatch.twin.models._trains import node_groups, prefix_trie, size_bins, train_wait
from twinwatch.twin.scenario import MAX_QUEUES, Policy, Scenario

__all__ = ["QT_VARIANTS", "HopQuantities", "QueueResult", "QueueingModel", "mg1k", "packet_queueing_model",
           "truncated_geometric"]

_UNBOUNDED_PKTS = 1e7
"""Buffer used when a scenario gives none (effectively infinite)."""

@dataclass
class _Topo:
    """Flow-hop expansion of a scenario (computed once per predict)."""

    fh_flow: np.ndarray  # (FH,) flow of each flow-hop
    fh_link: np.ndarray  # (FH,) link
    fh_queue: np.ndarray  # (FH,) queue id = link * Q + q
    fh_start: np.ndarray  # (F,) first flow-hop of each flow
    fh_len: np.ndarray  # (F,) hops of each flow
    q_buffer_pkts: np.ndarray  # (E*Q,) buffer in packets, NaN when given in bits
    q_buffer_bits: np.ndarray  # (E*Q,) buffer in bits, NaN when given in packets
    q_policy: np.ndarray  # (E,) policy of the port
    q_weights: np.ndarray  # (E, Q) WFQ/DRR weights


def _expand(sc: Scenario) -> _Topo:
    q = MAX_QUEUES
    plen = sc.path_len
    flen = plen[sc.flow_path]
    fstart = np.concatenate([[0], np.cumsum(flen)[:-1]]).astype(np.int64) if flen.size else np.zeros(0, np.int64)
    fh_flow = np.repeat(np.arange(sc.n_flows), flen)
    pos = np.arange(fh_flow.size) - np.repeat(fstart, flen)
    fh_link = sc.path_links[sc.path_ptr[sc.flow_path][fh_flow] + pos]
    port_node = sc.link_src
    policy = np.asarray(sc.node_policy, dtype=np.int64)[port_node]
    fifo = policy[fh_link] == int(Policy.FIFO)
    tos = np.asarray(sc.flow_tos, dtype=np.int64)[fh_flow]
    fh_queue = fh_link * q + np.where(fifo, 0, tos)
    pk = np.asarray(sc.node_queue_pkts, dtype=np.float64)[port_node]  # (E, Q)
    # a FIFO port has one queue: its size is the first given one
    pk = np.where((policy == int(Policy.FIFO))[:, None], pk[:, :1], pk)
    bb = np.repeat(np.asarray(sc.node_buffer_bits, dtype=np.float64)[port_node], q)
    w = np.asarray(sc.node_weights, dtype=np.float64)[port_node]
    return _Topo(fh_flow, fh_link, fh_queue, fstart, flen, pk.reshape(-1), bb, policy, w)


def _flow_size_moments(sc: Scenario, service: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F,)`` first three moments of each flow's packet size (bits, bits², bits³)."""
    sizes = np.nan_to_num(np.asarray(sc.flow_sizes_bits, dtype=np.float64))
    probs = np.asarray(sc.flow_size_probs, dtype=np.float64) * (sizes > 0)
    tot = probs.sum(axis=1)
    known = tot > 0
    p = probs / np.where(known, tot, 1.0)[:, None]
    m1 = (p * sizes).sum(axis=1)
    m2 = (p * sizes**2).sum(axis=1)
    m3 = (p * sizes**3).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rate = np.where(sc.flow_pkt_rate > 0, sc.flow_rate_bps / sc.flow_pkt_rate, np.nan)
    fallback = np.where(np.isfinite(mean_rate), mean_rate, 8000.0)
    m1 = np.where(known & (m1 > 0), m1, fallback)
    if service == "mm1":
        return m1, 2.0 * m1**2, 6.0 * m1**3
    # unknown size distribution: exponential (the classical assumption)
    m2 = np.where(known & (m1 > 0), m2, 2.0 * m1**2)
    m3 = np.where(known & (m1 > 0), m3, 6.0 * m1**3)
    return m1, m2, m3


@dataclass
class QueueingModel:
    """The queueing-theory baseline (``--model qt``); see the module docstring.

    Parameters
    ----------
    service
        ``"mg1"`` (default) uses the real packet-size moments; ``"mm1"``
        assumes exponential packet sizes with the flows' mean size.
    sp_order
        ToS classes of an SP port from highest to lowest priority.
    wfq
        ``"fluid"`` (default): a WFQ/DRR packet is sent at its class's fair
        share (the classical GPS view); ``"packet"``: at the line rate, after
        the other classes' packet in service.
    input_smoothing
        Scale the wait at each port by the share of its residual work a
        packet can find ahead of it (see the module docstring): ``"input"``
        — per input the port's packets come over (a packet entering the
        network there, Poisson, finds all of it; one arriving over a link
        finds less of its own input's); ``"port"`` (``True``) — the port's
        packet-weighted mean share for every packet (the same mean over the
        port's packets, none of the spread between inputs; the prior stored
        hybrids were trained on); ``"none"`` (``False``, the default):
        independent Poisson inputs (Kleinrock).
    own_size
        How a path's delay variance composes a packet's own transmission
        times: ``"per-packet"`` — one size for the packet at every hop,
        ``Var(L_f) (Σ_h 1/C_h)²``; ``"independent"`` — a size drawn afresh at
        each hop, ``Σ_h Var(L_f)/C_h²`` (Kleinrock's independence, the
        composition of the GNN hybrid's readout and of this model before
        2026-12-03). Default (``None``): ``"per-packet"`` with the real sizes
        (``service="mg1"``), ``"independent"`` with ``service="mm1"`` (the
        textbook Jackson network, independent exponential hops).
    class_wait
        How the wait behind *other* ToS classes' packets at an SP, WFQ or DRR
        port counts: ``"moments"`` (default) — in the mean and the variance
        (at SP ports Kesten and Runnenburg's second moment of the
        non-preemptive priority M/G/1 wait; at WFQ/DRR ports with
        ``wfq="packet"`` the variance of the other class's residual
        transmission); ``"mean"`` — in the mean only, the variance being the
        class's own queue's at its reduced capacity (this model before
        2026-12-04, and the prior the hybrids shipped until then were trained
        on: 2–10 times too small a wait variance at lightly loaded multi-class
        ports, ``bench/notes/twin_hybrid.md`` section 4o).
    trains
        Add the wait behind larger packets of the same onward stream (see
        *Packet trains* in the module docstring; needs
        ``input_smoothing="input"``). Off by default; on in the prior of the
        shipped hybrid GNN (``packet-trains``).
    max_iter, tol
        Loss fixed point: at most ``max_iter`` iterations, stop when no queue's
        loss probability moves by more than ``tol``.
    damping
        Weight of the new iterate in the fixed point (1 = undamped).
    """

    service: str = "mg1"
    sp_order: tuple[int, ...] = (0, 1, 2)
    wfq: str = "fluid"
    input_smoothing: bool | str = False
    own_size: str | None = None
    class_wait: str = "moments"
    trains: bool = False
    max_iter: int = 60
    tol: float = 1e-5
    damping: float = 0.7
    name: str = field(default="qt", init=False)
    last_iterations: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.service not in ("mg1", "mm1"):
            raise ValueError(f"service must be 'mg1' or 'mm1', got {self.service!r}")
        if self.wfq not in ("fluid", "packet"):
            raise ValueError(f"wfq must be 'fluid' or 'packet', got {self.wfq!r}")
        if isinstance(self.input_smoothing, bool):
            self.input_smoothing = "port" if self.input_smoothing else "none"
        if self.input_smoothing not in INPUT_SMOOTHING:
            raise ValueError(f"input_smoothing must be one of {INPUT_SMOOTHING}, got {self.input_smoothing!r}")
        if self.own_size is None:
            self.own_size = "independent" if self.service == "mm1" else "per-packet"
        if self.own_size not in OWN_SIZE:
            raise ValueError(f"own_size must be one of {OWN_SIZE}, got {self.own_size!r}")
        if self.class_wait not in CLASS_WAIT:
            raise ValueError(f"class_wait must be one of {CLASS_WAIT}, got {self.class_wait!r}")
        if self.trains and self.input_smoothing != "input":
            raise ValueError(f"trains=True needs input_smoothing='input', got {self.input_smoothing!r}")
        if sorted(self.sp_order) != list(range(MAX_QUEUES)):
            raise ValueError(f"sp_order must be a permutation of 0..{MAX_QUEUES - 1}, got {self.sp_order!r}")
        if self.max_iter < 1 or not self.tol > 0 or not 0 < self.damping <= 1:
            raise ValueError(
                f"need max_iter >= 1, tol > 0 and 0 < damping <= 1; got {self.max_iter}, {self.tol}, {self.damping}"
            )

    def predict_many(self, scenarios: list[Scenario]) -> list[Prediction]:
        """:meth:`predict` for each scenario."""
        return [self.predict(sc) for sc in scenarios]

    def predict(self, sc: Scenario) -> Prediction:
        """Per-path delay/jitter/loss and per-link utilisation/occupancy/loss of ``sc``.

        Times come out in the scenario's own unit (seconds or the dataset's
        time unit), as do rates.

        Shapes: path KPIs ``(P,)``, link KPIs ``(E,)``.
        """
        topo = _expand(sc)
        m1, m2, m3 = _flow_size_moments(sc, self.service)
        lam_f = np.asarray(sc.flow_pkt_rate, dtype=np.float64)
        lam_f = np.where(lam_f > 0, lam_f, np.where(sc.flow_rate_bps > 0, sc.flow_rate_bps / m1, 0.0))
        st = self._solve(sc, topo, lam_f, (m1, m2, m3))
        path_delay, path_var, path_loss = _compose_paths(sc, topo, st, lam_f, m1, m2,
                                                         per_packet=self.own_size == "per-packet")
        util, occ, link_loss = _link_kpis(sc, st)
        return Prediction(
            path_delay_s=path_delay,
            path_jitter_s2=path_var,
            path_loss_ratio=path_loss,
            link_utilization=util,
            link_queue_occupancy=queue_occupancy_ratio(sc, occ),
            link_loss_ratio=link_loss,
            link_queue_pkts=occ,
        )

    def hop_quantities(self, sc: Scenario) -> HopQuantities:
        """Per flow-hop waiting, transmission and loss of ``sc`` (the GNN hybrid's prior).

        Flow-hops are ordered flow by flow, in path order (flow ``f``'s hops
        are ``fh_start[f] : fh_start[f] + fh_len[f]``), the order of
        :func:`twinwatch.twin.features.scenario_graph`. Times are in the
        scenario's unit (seconds, or the dataset's time unit).

        >>> from twinwatch.twin.scenario import Flow, Scenario
        >>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]},
        ...                     [Flow(0, 1, rate_bps=6e5, pkt_size_bits=1000.0)], queue_pkts=1e6)
        >>> h = QueueingModel(service="mm1").hop_quantities(sc)
        >>> round(float(h.wait_mean[0] + h.tx_mean[0]) * (1e3 - 6e2), 9)   # M/M/1: 1 / (mu - lambda)
        1.0
        """
        topo = _expand(sc)
        m1, m2, m3 = _flow_size_moments(sc, self.service)
        lam_f = np.asarray(sc.flow_pkt_rate, dtype=np.float64)
        lam_f = np.where(lam_f > 0, lam_f, np.where(sc.flow_rate_bps > 0, sc.flow_rate_bps / m1, 0.0))
        st = self._solve(sc, topo, lam_f, (m1, m2, m3))
        fq = topo.fh_queue
        c_fh = st.c_tx[fq]
        fm1, fm2 = m1[topo.fh_flow], m2[topo.fh_flow]
        c_line = np.asarray(sc.link_capacity_bps, dtype=np.float64)[topo.fh_link]
        return HopQuantities(wait_mean=st.fh_wait_mean, wait_var=st.fh_wait_var, tx_mean=fm1 / c_fh,
                             tx_var=np.maximum(fm2 - fm1**2, 0.0) / c_fh**2, tx_line=fm1 / c_line, loss=st.loss[fq])

    def _solve(
        self, sc: Scenario, topo: _Topo, lam_f: np.ndarray, moments: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> _QueueState:
        """Loss fixed point over all ``E·Q`` queues; returns their converged state."""
        q, e = MAX_QUEUES, sc.n_links
        nq = e * q
        fh_flow, fh_queue = topo.fh_flow, topo.fh_queue
        fh_m = [m[fh_flow] for m in moments]
        q_cap = np.repeat(np.asarray(sc.link_capacity_bps, dtype=np.float64), q)
        policy = topo.q_policy
        is_sp = (policy == int(Policy.SP))[:, None]
        is_fq = ((policy == int(Policy.WFQ)) | (policy == int(Policy.DRR)))[:, None]
        rank = np.empty(q, dtype=np.int64)
        rank[list(self.sp_order)] = np.arange(q)  # rank[c] = priority position of class c
        higher = (rank[None, :] < rank[:, None]).astype(np.float64)  # higher[k, j] = 1: j outranks k
        weights = np.where(np.isfinite(topo.q_weights) & (topo.q_weights > 0), topo.q_weights, 1.0)

        loss = np.zeros(nq)
        offered = lam_f[fh_flow]  # (FH,) each flow's rate before any loss
        it, delta = 0, np.inf
        while it < self.max_iter and delta >= self.tol:
            it += 1
            # log of what each queue lets through, taken per queue (the same values as per flow-hop, at a fraction
            # of the work) and summed along each flow up to the hop
            keep_log = np.log1p(-np.minimum(loss, 1.0 - 1e-15))[fh_queue]
            fh_lam = offered * np.exp(segment_exclusive_cumsum(keep_log, topo.fh_start, topo.fh_len))
            q_lam = np.bincount(fh_queue, weights=fh_lam, minlength=nq)
            empty = ~(q_lam > 0)
            safe = np.where(empty, 1.0, q_lam)
            q_b = [np.where(empty, 1.0, np.bincount(fh_queue, weights=fh_lam * m, minlength=nq) / safe) for m in fh_m]
            # carried load of each class relative to the full link, (E, Q)
            carried = (q_lam * (1.0 - loss) * q_b[0] / q_cap).reshape(e, q)
            sigma_hi = carried @ higher.T  # carried load of the classes above, (E, Q)
            frac = np.where(is_sp, 1.0 - sigma_hi, np.where(is_fq, fair_fraction(carried, weights), 1.0))
            c_eff = q_cap * np.clip(frac, 1e-3, 1.0).reshape(-1)
            k_pkts = np.where(
                np.isfinite(topo.q_buffer_pkts),
                topo.q_buffer_pkts,
                np.where(np.isfinite(topo.q_buffer_bits), np.floor(topo.q_buffer_bits / q_b[0]), _UNBOUNDED_PKTS),
            )
            res = mg1k(q_lam, q_b[0] / c_eff, q_b[1] / c_eff**2, q_b[2] / c_eff**3, np.maximum(k_pkts, 0.0))
            new_loss = np.where(empty, 0.0, res.loss)
            delta = float(np.max(np.abs(new_loss - loss))) if nq else 0.0
            loss = new_loss if it == 1 or delta < self.tol else self.damping * new_loss + (1 - self.damping) * loss
        if delta >= self.tol:
            warnings.warn(
                f"QueueingModel: loss fixed point did not converge in {self.max_iter} iterations "
                f"(largest change {delta:.2g}; scenario {sc.name!r})",
                RuntimeWarning,
                stacklevel=3,
            )
        self.last_iterations = it
        # Cobham residual term of the other classes at SP ports (mean wait only)
        resid = (q_lam * (1.0 - loss) * q_b[1] / q_cap**2).reshape(e, q) / 2.0  # λ E[S²] / 2 per class
        other = resid.sum(axis=1, keepdims=True) - resid
        cobham = other / (np.maximum(1.0 - sigma_hi, 0.05) * np.maximum(1.0 - sigma_hi - carried, 0.05))
        if self.wfq == "packet":
            # WFQ/DRR: own class's queue at its fair share, the packet in service of another class (as Cobham's
            # term), own packet at the line rate
            extra = np.where(is_sp, cobham, np.where(is_fq, other, 0.0)).reshape(-1)
            c_tx = np.where(np.repeat(is_sp[:, 0] | is_fq[:, 0], q), q_cap, c_eff)
        else:
            extra = np.where(is_sp, cobham, 0.0).reshape(-1)
            # transmission: an SP packet, once started, goes at the full line rate (non-preemptive);
            # a WFQ/DRR class is served at its fair share (fluid GPS view)
            c_tx = np.where(np.repeat(is_sp[:, 0], q), q_cap, c_eff)
        wait_mean = np.where(empty, 0.0, res.wait_mean + extra)
        wait_var = res.wait_var
        if self.class_wait == "moments":
            resid3 = (q_lam * (1.0 - loss) * q_b[2] / q_cap**3).reshape(e, q) / 3.0  # λ E[S³] / 3 per class
            at_most = higher + np.eye(q)  # at_most[k, j] = 1: j is k or outranks it
            sp_var = _priority_extra_var(resid, resid3, resid @ higher.T, resid @ at_most.T, sigma_hi, carried)
            fq_var = np.maximum(resid3.sum(axis=1, keepdims=True) - resid3 - other**2, 0.0)  # another's residual
            fq_var = np.where(is_fq & (self.wfq == "packet"), fq_var, 0.0)
            wait_var = wait_var + np.where(is_sp, sp_var, fq_var).reshape(-1)
        wait_var = np.where(empty, 0.0, wait_var)
        fh_wait_mean = fh_wait_var = None
        if self.input_smoothing != "none":
            port_phi, fh_phi = _collision_share(sc, topo, fh_lam, fh_m[0], fh_m[1], own_pairs=not self.trains)
            # fewer packets wait, by the same share: at light load E[W²] and Var W scale alike; the variance (not the
            # second moment) is scaled so that a full buffer's nearly constant wait stays nearly constant
            if self.input_smoothing == "input":
                fh_wait_mean, fh_wait_var = fh_phi * wait_mean[fh_queue], fh_phi * wait_var[fh_queue]
            phi = np.repeat(port_phi, q)
            wait_mean = phi * wait_mean
            wait_var = phi * wait_var
            if self.trains:
                t_mean, t_var = _train_waits(sc, topo, fh_lam)
                fh_wait_mean, fh_wait_var = fh_wait_mean + t_mean, fh_wait_var + t_var
                # the queue's mean over its packets (occupancy, link KPIs) counts the train waits too
                wait_mean = wait_mean + np.bincount(fh_queue, weights=fh_lam * t_mean, minlength=nq) / safe
        return _QueueState(
            lam=q_lam,
            loss=loss,
            mean_size=q_b[0],
            c_tx=c_tx,
            wait_mean=wait_mean,
            wait_var=wait_var,
            fh_wait_mean=wait_mean[fh_queue] if fh_wait_mean is None else fh_wait_mean,
            fh_wait_var=wait_var[fh_queue] if fh_wait_var is None else fh_wait_var,
        )


OWN_SIZE: tuple[str, ...] = ("per-packet", "independent")
"""The compositions of a packet's own transmission times over a path (:class:`QueueingModel` ``own_size``)."""

CLASS_WAIT: tuple[str, ...] = ("moments", "mean")
"""How the wait behind other ToS classes counts (:class:`QueueingModel` ``class_wait``)."""

INPUT_SMOOTHING: tuple[str, ...] = ("input", "port", "none")
"""How a port's wait is shared out between its inputs (:class:`QueueingModel` ``input_smoothing``)."""

QT_VARIANTS: dict[str, dict[str, Any]] = {
    "packet": {"wfq": "packet", "input_smoothing": True, "class_wait": "mean"},
    "classic": {"wfq": "fluid", "input_smoothing": False, "class_wait": "mean"},
    "packet-moments": {"wfq": "packet", "input_smoothing": True, "class_wait": "moments"},
    "packet-inputs": {"wfq": "packet", "input_smoothing": "input", "class_wait": "moments"},
    "packet-trains": {"wfq": "packet", "input_smoothing": "input", "class_wait": "moments", "trains": True},
}
"""Named :class:`QueueingModel` options (a hybrid GNN's ``GNNConfig.prior``): ``classic`` (the default),
``packet``, ``packet-moments``, ``packet-inputs`` and ``packet-trains``. Each stays as the hybrids trained on it
saw it: ``packet`` and ``classic`` count the other classes' wait in the mean only (``class_wait="mean"``);
``packet-moments`` adds it to the variance; ``packet-inputs`` also shares a port's wait out by input
(``input_smoothing="input"``); ``packet-trains`` adds the wait behind larger packets of the same onward stream
(``trains=True``, :mod:`twinwatch.twin.models._trains`)."""


def packet_queueing_model(**options: Any) -> QueueingModel:
    """The packet-level model (``--model qt-packet``): line-rate WFQ, input smoothing per input.

    >>> m = packet_queueing_model()
    >>> m.name, m.wfq, m.input_smoothing
    ('qt-packet', 'packet', 'input')
    """
    model = QueueingModel(**{**QT_VARIANTS["packet-inputs"], **options})
    model.name = "qt-packet"
    return model


@dataclass(frozen=True, slots=True)
class HopQuantities:
    """Queueing-theory quantities of every flow-hop, ``(FH,)`` each (:meth:`QueueingModel.hop_quantities`).

    Attributes
    ----------
    wait_mean, wait_var
        Mean (time unit) and variance (time unit²) of the wait before the packet's own transmission. With
        ``trains=True`` the variance holds twice the train wait's covariance with the packet's own
        transmission time, which is negative, so a hop's value can be below 0 (a path's sum plus its own
        transmission variance is not).
    tx_mean, tx_var
        Mean and variance of the flow's own transmission time at the rate its queue is served at.
    tx_line
        The flow's own mean transmission time at the link's full rate (``≤ tx_mean``; equal except at WFQ/DRR
        ports, where a class is served at its share of the link).
    loss
        Drop probability of the queue the hop crosses.
    """

    wait_mean: np.ndarray
    wait_var: np.ndarray
    tx_mean: np.ndarray
    tx_var: np.ndarray
    tx_line: np.ndarray
    loss: np.ndarray


def _train_waits(sc: Scenario, topo: _Topo, fh_lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(FH,)`` mean (time unit) and variance (time unit²) of each flow-hop's train wait (:mod:`._trains`)."""
    lam_f = np.asarray(sc.flow_pkt_rate, dtype=np.float64)
    atoms, flow_hist = size_bins(sc.flow_sizes_bits, sc.flow_size_probs, np.where(lam_f > 0, lam_f, 0.0))
    fh_n = topo.fh_flow.size
    if fh_n == 0 or atoms.size == 0:
        return np.zeros(fh_n), np.zeros(fh_n)
    trie = prefix_trie(topo.fh_start, topo.fh_len, topo.fh_queue)  # flow-hops with the same path so far
    fh_hist = flow_hist[topo.fh_flow]
    ptr, seg_len, rates = node_groups(trie, fh_lam, fh_hist, int(topo.fh_len.max()))
    cap = np.asarray(sc.link_capacity_bps, dtype=np.float64)[topo.fh_link]
    n_nodes = trie.rep.size
    per_group = np.repeat(np.arange(n_nodes), np.diff(ptr))
    node_rho_a = np.bincount(per_group, weights=rates @ atoms, minlength=n_nodes) / cap[trie.rep]
    rates = rates / (1.0 - np.clip(node_rho_a, 0.0, TRAIN_RHO_MAX))[per_group, None]
    t_mean, t_var = train_wait(trie, topo.fh_start, topo.fh_len, topo.fh_flow, cap, flow_hist, atoms, ptr, seg_len,
                               rates, 8 * numba.get_num_threads())
    # the port's work from the streams that merge at this hop overlaps the train wait (queueing theory counts it)
    port_load = np.bincount(topo.fh_link, weights=fh_lam * (fh_hist @ atoms), minlength=sc.n_links)
    keep = 1.0 - np.clip(port_load[topo.fh_link] / cap - node_rho_a[trie.node_of], 0.0, 1.0)
    return keep * t_mean, keep * t_var


def _collision_share(sc: Scenario, topo: _Topo, fh_lam: np.ndarray, fh_m1: np.ndarray,
                     fh_m2: np.ndarray, *, own_pairs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Share of a port's residual work a packet can find ahead of it (1 = independent Poisson inputs).

    Returns ``(port, flow_hop)``: ``(E,)`` the mean over the port's packets, ``(FH,)`` the share a packet
    of each flow-hop finds, which depends on the input it arrives over.

    Packets that reach a port over the same input link arrive no faster than
    that link sends them: with one packet size and an input no faster than
    the port, a packet never finds its own input's predecessor still in
    service unless that one had to wait. Per input ``i`` of the port (an
    upstream link, or the node itself for traffic entering there, which is
    Poisson and collides with itself), the share of its residual work
    ``R_i = λ_i E[S_i²] / 2`` its own packets still find is

    - ``κ_i = clip(1 − C_out / C_in, 0, 1)`` (1 for local traffic): a faster
      input delivers bursts the port cannot keep up with;
    - ``ψ_i = E[(S1 − S2)⁺] / (E[S²] / (2 E[S]))`` of the rest: a smaller
      packet right behind a larger one still waits for the difference
      (``E|S1 − S2| ≈ 2σ/√π``; 0 for one size, ≈ 0.56 for exponential sizes);
    - ``ρ_{−i}`` (the port's utilisation by the *other* inputs) of what
      remains: the predecessor may have had to wait behind their packets, and
      still be there.

    Over the port's packets ``φ = 1 − Σ_i (λ_i / λ) x_i`` with ``x_i = (1 − κ_i)
    (1 − ψ_i)(1 − ρ_{−i}) R_i / R`` (a tandem of equal-rate links with one
    packet size and no cross traffic: ``φ = 0`` after the first hop, no wait,
    as in a real one). Per input, a packet entering the network at the port
    is Poisson and finds the time-average work (PASTA), which by work
    conservation (``V = ρ W̄ + R``, FIFO) is ``R (1 − ρ + ρ φ) / (1 − ρ)``:
    more than the port's mean wait, less than Kleinrock's ``R / (1 − ρ)``; a
    packet over input ``i`` finds that less ``x_i R`` of its own input's, so
    ``φ_i = 1 − ρ (1 − φ) − (1 − ρ) x_i``, whose packet-weighted mean is ``φ``.
    """
    e = sc.n_links
    prev = np.full(topo.fh_link.size, -1, dtype=np.int64)
    inner = np.ones(topo.fh_link.size, dtype=bool)
    inner[topo.fh_start[topo.fh_len > 0]] = False
    prev[1:][inner[1:]] = topo.fh_link[:-1][inner[1:]]
    cap = np.asarray(sc.link_capacity_bps, dtype=np.float64)
    out_link = topo.fh_link
    kappa = np.where(prev >= 0, np.clip(1.0 - cap[out_link] / cap[np.maximum(prev, 0)], 0.0, 1.0), 1.0)
    uk, inv = np.unique(out_link * (e + 1) + (prev + 1), return_inverse=True)  # (port, input) streams
    port = uk // (e + 1)
    lam_i = np.bincount(inv, weights=fh_lam, minlength=uk.size)
    bits_i = np.bincount(inv, weights=fh_lam * fh_m1, minlength=uk.size)
    r_i = np.bincount(inv, weights=fh_lam * fh_m2, minlength=uk.size)
    kap_i = np.bincount(inv, weights=fh_lam * kappa, minlength=uk.size) / np.maximum(lam_i, SMALL)
    lam = np.bincount(port, weights=lam_i, minlength=e)
    r = np.bincount(port, weights=r_i, minlength=e)
    rho_other = np.clip((np.bincount(port, weights=bits_i, minlength=e)[port] - bits_i) / cap[port], 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean, second = bits_i / lam_i, r_i / lam_i
        sigma = np.sqrt(np.maximum(second - mean**2, 0.0))
        psi = np.where(second > 0, np.clip(2.0 * sigma * mean / (np.sqrt(np.pi) * second), 0.0, 1.0), 0.0)
        if not own_pairs:  # the train term (``trains=True``) counts a smaller packet's wait behind a larger one
            psi = np.zeros_like(psi)
        # the port share keeps its own product order (not lam_i / lam * own_removed): the stored hybrids' priors
        # ("packet", "packet-moments") must stay bit-identical
        removed = (lam_i / lam[port]) * (1.0 - kap_i) * (1.0 - psi) * (1.0 - rho_other) * (r_i / r[port])
        own_removed = (1.0 - kap_i) * (1.0 - psi) * (1.0 - rho_other) * (r_i / r[port])  # share of R, per input
    port_phi = np.where(lam > 0, np.clip(1.0 - np.bincount(port, weights=removed, minlength=e), 0.0, 1.0), 1.0)
    rho = np.clip(np.bincount(port, weights=bits_i, minlength=e) / cap, 0.0, 1.0)[port]
    phi_i = 1.0 - rho * (1.0 - port_phi[port]) - (1.0 - rho) * np.nan_to_num(own_removed)
    return port_phi, np.clip(phi_i, 0.0, 1.0)[inv]


@dataclass(frozen=True, slots=True)
class _QueueState:
    """Converged per-queue quantities, all ``(E·Q,)`` (queue ``e·Q + q``)."""

    lam: np.ndarray  # offered packets/s
    loss: np.ndarray  # drop probability
    mean_size: np.ndarray  # mean packet size, bits
    c_tx: np.ndarray  # rate a packet of this queue is transmitted at, bits/s
    wait_mean: np.ndarray  # mean wait before transmission over the queue's packets, s
    wait_var: np.ndarray  # its variance, s²
    fh_wait_mean: np.ndarray  # (FH,) mean wait of each flow-hop's packets (differs by input, s)
    fh_wait_var: np.ndarray  # (FH,) its variance, s²


def _priority_extra_var(
    resid: np.ndarray, resid3: np.ndarray, resid_hi: np.ndarray, resid_le: np.ndarray, sigma_hi: np.ndarray,
    carried: np.ndarray,
) -> np.ndarray:
    """Wait variance at an SP port beyond the class's own queue at its reduced capacity, ``(E, Q)`` s².

    Kesten and Runnenburg's second moment of the non-preemptive priority M/G/1 wait of class ``k``, with
    ``R_n = Σ_i λ_i E[S_i^n]`` over all classes, ``R⁽ᵏ⁾``/``R⁽<ᵏ⁾`` over the classes at or above / above ``k``,
    ``a = 1 − σ_<k``, ``b = 1 − σ_≤k``:
    ``E W_k² = R_3 / (3 a² b) + R_2 R_2⁽ᵏ⁾ / (2 a² b²) + R_2 R_2⁽<ᵏ⁾ / (2 a³ b)``, ``E W_k = R_2 / (2 a b)``
    (Cobham). Less the variance of the class's own M/G/1 queue served at ``C a`` (Takács;
    :func:`twinwatch.twin.models._queueing.mg1k` without a buffer), which ``mg1k`` already counts with the
    buffer; never negative. ``a`` and ``b`` are floored at 0.05 as the mean's Cobham term is.

    Inputs ``(E, Q)``: ``resid`` ``λ E[S²] / 2``, ``resid3`` ``λ E[S³] / 3`` (line-rate service times),
    ``resid_hi`` / ``resid_le`` ``resid`` summed over the classes above / at or above each class, ``sigma_hi``
    the carried load above, ``carried`` the class's own.

    One class (nothing above, nothing else): the own queue's variance is all of it.

    >>> r, r3 = np.array([[0.3, 0.0]]), np.array([[0.2, 0.0]])
    >>> float(_priority_extra_var(r, r3, np.zeros((1, 2)), r, np.zeros((1, 2)), np.array([[0.6, 0.0]]))[0, 0])
    0.0
    """
    a = np.maximum(1.0 - sigma_hi, 0.05)
    b = np.maximum(1.0 - sigma_hi - carried, 0.05)
    r2 = 2.0 * resid.sum(axis=1, keepdims=True)
    r3 = 3.0 * resid3.sum(axis=1, keepdims=True)
    second = r3 / (3 * a**2 * b) + r2 * (2 * resid_le) / (2 * a**2 * b**2) + r2 * (2 * resid_hi) / (2 * a**3 * b)
    total = second - (r2 / (2 * a * b)) ** 2
    own_mean = resid / (a * b)
    own = own_mean**2 + resid3 / (a**2 * b)
    return np.maximum(total - own, 0.0)


def _compose_paths(
    sc: Scenario, topo: _Topo, st: _QueueState, lam_f: np.ndarray, m1: np.ndarray, m2: np.ndarray,
    *, per_packet: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-path mean delay, delay variance and loss ratio, ``(P,)`` each.

    Waits add up per flow (independent hops); a packet's own transmission
    times are ``L / C_h`` for one size ``L`` (``per_packet``: variance
    ``Var(L) (Σ_h 1/C_h)²``) or independent per hop (``Σ_h Var(L)/C_h²``); the
    flows of a path are mixed by delivered packet rate.
    """
    fh_flow, fh_queue = topo.fh_flow, topo.fh_queue
    c_fh = st.c_tx[fh_queue]
    fm1 = m1[fh_flow]
    nf, npth = sc.n_flows, sc.n_paths
    hop_mean = st.fh_wait_mean + fm1 / c_fh + sc.link_prop_delay_s[topo.fh_link]
    size_var = np.maximum(m2 - m1**2, 0.0)  # (F,) bits²
    if per_packet:
        hop_var = st.fh_wait_var
        own = size_var * np.bincount(fh_flow, weights=1.0 / c_fh, minlength=nf) ** 2
    else:
        hop_var = st.fh_wait_var + size_var[fh_flow] / c_fh**2
        own = 0.0
    f_delay = np.bincount(fh_flow, weights=hop_mean, minlength=nf)
    f_var = np.bincount(fh_flow, weights=hop_var, minlength=nf) + own
    keep_log = np.log1p(-np.minimum(st.loss[fh_queue], 1.0 - 1e-15))
    delivered = lam_f * np.exp(np.bincount(fh_flow, weights=keep_log, minlength=nf))
    fp = sc.flow_path
    w = np.where(delivered > 0, delivered, SMALL * np.maximum(lam_f, SMALL))
    wsum = np.bincount(fp, weights=w, minlength=npth)
    with np.errstate(divide="ignore", invalid="ignore"):
        delay = np.bincount(fp, weights=w * f_delay, minlength=npth) / wsum
        second = np.bincount(fp, weights=w * (f_var + f_delay**2), minlength=npth) / wsum
        gen = np.bincount(fp, weights=lam_f, minlength=npth)
        loss = np.where(gen > 0, 1.0 - np.bincount(fp, weights=delivered, minlength=npth) / gen, 0.0)
    return delay, np.maximum(second - delay**2, 0.0), np.clip(loss, 0.0, 1.0)


def _link_kpis(sc: Scenario, st: _QueueState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-link utilisation (0..1), equivalent-queue occupancy (packets) and drop ratio, ``(E,)`` each.

    Occupancy follows GNNet's ``avgPortOccupancy`` (:mod:`twinwatch.twin.kpis`): per
    queue, the mean sojourn (wait + transmission) over the mean transmission
    time at the link's rate, summed over the port's queues that carry traffic.
    """
    e = sc.n_links
    port = np.repeat(np.arange(e), MAX_QUEUES)
    acc = st.lam * (1.0 - st.loss)
    util = np.bincount(port, weights=acc * st.mean_size, minlength=e) / sc.link_capacity_bps
    c_link = np.repeat(np.asarray(sc.link_capacity_bps, dtype=np.float64), MAX_QUEUES)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_equiv = (st.wait_mean + st.mean_size / st.c_tx) * c_link / st.mean_size
    occ = np.bincount(port, weights=np.where(acc > 0, q_equiv, 0.0), minlength=e)
    offered = np.bincount(port, weights=st.lam, minlength=e)
    dropped = np.bincount(port, weights=st.lam * st.loss, minlength=e)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = np.where(offered > 0, dropped / offered, 0.0)
    return util, occ, loss
