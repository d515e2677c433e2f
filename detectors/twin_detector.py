"""The twin detector: observed KPIs of a window against the twin's prediction, for one network.

:class:`TwinDetector` wires the package's pieces for the KPIs a
:class:`~twinwatch.twin.snapshot.WindowSnapshot` has: residuals
(:mod:`twinwatch.detectors.residuals`) → conformal p-values
(:class:`~twinwatch.detectors.conformal.ConformalCalibrator`) → network-wide
multiple testing (:func:`~twinwatch.detectors.decision.reject`) → k-of-m
persistence (:class:`~twinwatch.detectors.decision.Persistence`) → tomography
suspects (:mod:`twinwatch.detectors.localize`) → the
:class:`~twinwatch.detectors.alerts.AlertBook`. The service
(:mod:`twinwatch.stream.pipeline`) calls :meth:`TwinDetector.detect` once per
closed window; times are epoch seconds, KPI values SI units.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from twinwatch.detectors.alerts import Alert, AlertBook, AlertChange
from twinwatch.detectors.conformal import ConformalCalibrator, Side
from twinwatch.detectors.counter_gaps import CounterGaps
from twinwatch.detectors.decision import CalibratedPersistence, EffectiveTests, Persistence, reject
from twinwatch.detectors.probe_loss import (
    ProbeLossScan,
    explain_away,
    per_link,
    pooled_p_values,
    probe_links,
    scan_log_p,
    stopped_p_values,
)
from twinwatch.detectors.residuals import residual, transform
from twinwatch.detectors.traffic import (
    NODE_POOL_PRIOR,
    NODE_PRIOR_COUNT,
    NODE_TAIL_FIT,
    CounterReference,
    RoutedReference,
    destination_bps,
    flow_rows,
    origin_bps,
    ranked_links,
    rerouted,
)
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.models.bounds import path_delay_floor
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.netmodel.units import rate_text
from twinwatch.twin.probes import own_packet_shift_s
from twinwatch.twin.snapshot import WindowSnapshot

__all__ = ["CAPACITY_ALERT_FRACTION", "DEGRADATION_FAMILIES", "EXPORT_ESTABLISHED", "FAMILY_SHARES", "Detection",
           "TwinDetector", "persistence_bound", "persistent_p_values"]


@dataclass
class Detection:
    """What a detector says about one window.

    ``link`` maps a link KPI (``utilization``, ``tx_bps``, ``drop_pps``, ``loss_ratio``, ``delay_s``) to ``(E,)`` arrays
    ``observed``, ``expected``, ``lower``, ``upper``, ``score`` (1 − p; NaN:
    not tested); ``paths_anomalous`` is the ``(E,)`` count of flagged paths
    through each link; ``changes`` the alert transitions of the window.
    """

    link: dict[str, dict[str, np.ndarray]]
    paths_anomalous: np.ndarray
    changes: list[AlertChange]
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per alerting entity ``"kind:id:kpi"``: observed, expected, lower, upper of this window (for reports)."""
    pairs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    """Path KPI → ``(N*N,)`` arrays ``observed``, ``expected``, ``lower``, ``upper`` per node pair
    ``src * N + dst`` (NaN: not observed)."""



_PATH_KPIS = ("delay_s", "loss_ratio")
_DEPENDENCE = ("calibrated", "any", "independent")
DEGRADATION_FAMILIES = ("path.delay_s", "path.loss_ratio", "link.loss_ratio", "link.tx_bps", "link.routed_bps",
                        "probe_loss", "link.probe_loss")
"""The families whose alerts are network faults (kind ``degradation``): their false alerts are what ``alpha``
is about (see :class:`TwinDetector`)."""
FAMILY_SHARES: dict[str, float] = {**dict.fromkeys(DEGRADATION_FAMILIES, 1.0),
                                   "link.utilization": 1.0, "node.ingress_bps": 1.0, "node.flow_export_bps": 1.0}
"""Default share of ``alpha`` per family: every family tests at ``alpha`` (the rule as measured in sessions 4–6;
``shares={f: 1/7 for f in DEGRADATION_FAMILIES}`` splits it across the network-fault families, Bonferroni)."""
_DELAY_PARTS = ("queueing", "total")
INGRESS_SOURCE_EDGES = (0.5,)
"""Mondrian classes of the destination-ingress test: 0 on windows whose matrix is fitted to the counters, 1 on windows
measured by flow records (:attr:`~twinwatch.twin.snapshot.WindowSnapshot.measured_traffic`). A node's total from a
few sampled records per minute (1 : 1,000 on 10 Mb/s links) moved by ±0.7 in log against ±0.1 for the counters' on
Cynet (session 33), and one scale for both hid a fourfold surge (+1.39) at 3–4 σ."""
EXPORT_ESTABLISHED = 3
"""Flow-measured windows in a row a router must have exported on before a flow-measured window without its records
makes it *silent* (:meth:`TwinDetector._silent_exporters`); a second such window in a row names it."""

CAPACITY_ALERT_FRACTION = 0.98
"""A link whose ports report a speed below this fraction of its model capacity opens a ``link_state`` alert on
``speed_bps``. One LAG member of up to 50 is more than 2 %; a SONET-rate port (9.953 Gb/s) read against a model's
10 Gb/s is not."""
_FLOW_GAPS_KEPT = 5  # gaps between flow-measured windows whose median is the export interval
_Z_BOUND = 3.0  # bounds shown on dashboards: location ± 3 scales of the calibrated residual
_SQRT12 = math.sqrt(12.0)  # a uniform quantisation error of step h has standard deviation h / √12


def _inverse(kpi: str, expected: np.ndarray, r: np.ndarray, capacity: np.ndarray | None) -> np.ndarray:
    """The KPI value whose residual against ``expected`` is ``r`` (inverse of ``detectors.residuals.residual``)."""
    if kpi in ("delay_s", "jitter_s2"):
        return np.exp(transform(kpi, expected) + r)
    if kpi == "loss_ratio":
        return 1.0 / (1.0 + np.exp(-(transform(kpi, expected) + r)))
    if kpi in ("utilization", "queue_occupancy"):
        return expected + r
    return expected + r * (capacity if capacity is not None else np.nan)


def _tm_scale(kpi: str, expected_hi: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``(n,)`` how far the expectation moves at the traffic's upper estimate, on ``kpi``'s residual scale (≥ 0;
    0 where either side is unknown, a capacity-scaled rate KPI is not supported here)."""
    return np.nan_to_num(np.abs(residual(kpi, expected_hi, expected)), nan=0.0, posinf=0.0)


def persistent_p_values(history: np.ndarray, k: int, dependence: str = "any") -> np.ndarray:
    """``(n,)`` p-value of "at least ``k`` of the last ``m`` windows were this extreme", per entity.

    ``history`` is ``(m, n)``: each entity's p-values of its last ``m`` windows (1.0 where not
    observed); ``t`` is the ``k``-th smallest of an entity's ``m`` values.

    * ``dependence="independent"``: ``P(Beta(k, m − k + 1) ≤ t) = P(Binomial(m, t) ≥ k)``, exact when
      the window p-values are independent uniforms under the null (their ``k``-th order statistic is
      Beta(k, m − k + 1)). Residuals of consecutive windows are correlated in practice (the twin's
      error on a path persists), and this is then anti-conservative.
    * ``dependence="any"`` (default): ``min(1, m·t/k)``, valid under *any* dependence between windows
      (the count of the ``m`` p-values at or below ``t`` has mean ``m·t`` under the null; Markov's
      inequality bounds ``P(count ≥ k)`` by ``m·t/k``).

    A network-wide multiple-testing rule applied to these p-values bounds the rate of *persistent*
    false alarms at its level.

    >>> h = np.array([[0.5, 1e-3, 1e-3], [0.5, 1e-3, 0.9], [0.5, 1e-3, 0.9]])
    >>> persistent_p_values(h, 2, "independent").round(6).tolist()   # 3·(1e-3)²; one window alone: no
    [0.5, 3e-06, 0.972]
    >>> persistent_p_values(h, 2).round(6).tolist()                  # 1.5·t
    [0.75, 0.0015, 1.0]
    """
    m = history.shape[0]
    return persistence_bound(np.partition(history, k - 1, axis=0)[k - 1], k, m, dependence)


def persistence_bound(t: np.ndarray, k: int, m: int, dependence: str = "any") -> np.ndarray:
    """``(n,)`` closed-form p-value of the k-of-m statistic ``t`` (see :func:`persistent_p_values`).

    >>> persistence_bound(np.array([1e-3]), 2, 3).tolist()
    [0.0015]
    """
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    if dependence == "independent":
        from scipy.special import betainc

        return betainc(float(k), float(m - k + 1), t)
    if dependence != "any":
        raise ValueError(f"persistent_p_values: dependence must be 'any' or 'independent', got {dependence!r}")
    return np.minimum(1.0, m * t / k)


@dataclass
class _KpiState:
    cal: ConformalCalibrator
    pers: Persistence
    history: CalibratedPersistence | None = None
    """The last ``m`` windows' p-values per entity and the learned null of the k-of-m statistic (``combine``)."""
    level: float = 0.01
    """The family's share of the detector's ``alpha`` (:attr:`TwinDetector.levels`)."""
    eff: EffectiveTests = field(default_factory=EffectiveTests)
    """The family's effective number of tests, learned from its windows (``calibrate_level``)."""


def _p_text(p: float) -> str:
    """``"p=…"`` for an alert's explanation, two significant digits; ``"p<1e-300"`` where the p-value underflowed to 0
    (a link that drops every packet), which ``"p=0"`` would overstate."""
    return "p<1e-300" if p < 1e-300 else f"p={p:.2g}"


def _pooled_suspects(link_ids: Sequence[str], i: int, alike: list[str], p_link: np.ndarray,
                     log_p_link: np.ndarray, n: int = 5) -> list[dict[str, Any]]:
    """Suspects of a pooled probe-loss alert on link ``i``: the link and the links the same probes cross
    (``alike``, score 1), then the other links by their pooled p-value (``(E,)``; its log ``log_p_link``, finite
    where a total loss underflows the p-value to 0.0; score ``log p / log p_i``)."""
    out = [{"link": x, "score": 1.0} for x in [link_ids[i], *alike][:n]]
    named = {d["link"] for d in out}
    ref = float(log_p_link[i])
    for j in np.argsort(np.where(np.isfinite(p_link), log_p_link, np.inf), kind="stable").tolist():
        if len(out) >= n or not np.isfinite(p_link[j]) or p_link[j] >= 1.0:
            break
        if link_ids[j] not in named:
            out.append({"link": link_ids[j], "score": round(min(1.0, float(log_p_link[j]) / ref), 4)})
    return out


class TwinDetector:
    """Observed vs the twin, per link and per path pair, for one network.

    Tested (entity, KPI): link ``utilization`` (kind ``traffic_anomaly``: the
    traffic itself moved), link ``loss_ratio`` from drops (``degradation``),
    path ``delay_s`` and ``loss_ratio`` on probed pairs (``degradation``, with
    tomography suspects). Per KPI: residual (:func:`twinwatch.detectors.residuals.residual`)
    → conformal p-value (:class:`~detectors.conformal.ConformalCalibrator`,
    shared pool, learning only from windows not flagged) → network-wide
    :func:`~detectors.decision.reject` at ``alpha`` → k-of-m
    :class:`~detectors.decision.Persistence` → :class:`~detectors.alerts.AlertBook`.
    Nothing is flagged during the first ``warmup_windows`` windows.

    **What ``alpha`` means.** ``alpha`` is the rate of false network-fault alerts an operator should get:
    the expected number of ``degradation`` alerts that open per window on a healthy network, all entities
    and all checks together (per entity-hour: ``alpha × windows per hour / entities``; at 10 s windows and
    ``alpha = 0.01``, 3.6 false alerts per network-hour, whatever the network's size). The default rule
    stays far *below* it — no false alarm at all in 9.7 fault-free network-hours of the held-out testbed runs
    of session 9 (0.057 ``alpha`` in session 8; ``bench/notes/detect_eval.md``):

    * every family tests at ``alpha`` (``shares``; the seven network-fault families are
      :data:`DEGRADATION_FAMILIES`, ``shares={f: 1/7 ...}`` splits ``alpha`` among them, Bonferroni);
    * persistence is part of the test (``combine=True``, default): each entity's statistic ``t`` is the
      ``k``-th smallest of its last ``m`` window p-values and becomes a p-value by the any-dependence bound
      ``m·t/k`` (``dependence="any"``, default; ``"independent"``: the exact formula for independent
      windows, anti-conservative on real telemetry; ``"calibrated"``: its null distribution learned from
      the network's own entity-windows, :class:`~twinwatch.detectors.decision.CalibratedPersistence`);
    * ``method`` (BH) at the family's level over the family's entities of the window; with
      ``calibrate_level=True`` the window is first gated by an effective number of tests learned from
      the family's windows (:class:`~twinwatch.detectors.decision.EffectiveTests`);
    * a rejected entity fires an alert at once and resolves after ``r`` clean windows, so a false
      rejection that persists is one alert, not one per window.

    The two learned options spend ``alpha`` on simulated nulls (unit tests) but lost F1 on the
    development runs (faults in more than a tenth of the windows skew the effective-tests fit; the
    probe scan's discrete p-values defeat its extrapolation): they are off by default.

    With ``combine=False`` the per-window rejections feed a k-of-m :class:`Persistence` instead (the
    oldest behaviour: far fewer false alarms than ``alpha``, less sensitive).

    ``traffic_hold_windows`` (default 1; 0: off) holds the traffic tests (destination ingress, flows against
    counters, and, since session 30, link utilisation above the twin) while a network fault of this network fires in
    this window or is open, and for ``traffic_hold_windows − 1`` windows after: the counter-estimated matrix assumes
    the model's routing and intact links, so an unknown metric change or a lossy link moves its node totals and
    these tests fire on the fault's side effects (a metric change moved the estimated traffic towards three or four
    nodes at once on the development runs). A link the telemetry reports down moves them the same way, but near
    itself: while its ``link_state`` alert fires or is open, the two per-node tests (destination ingress, flows
    against counters) are held for the routers within one hop of it (:meth:`_near_links_down`), and stay live
    elsewhere. On 52 development runs, 30 of the 72 traffic anomalies that matched no fault were flows-against-counters
    alerts raised during a link down, all of them on the down link's end routers or their neighbours; holding every
    node's tests on a link down instead (session 35) lost an unmonitored-traffic fault elsewhere on held-out runs and
    was reverted by its rule. Held out (session 36, seeds 5801 / 5901, ``bench/notes/detect_eval.md``): F1 0.917
    against 0.917 on two new networks, 0.949 against 0.940 on the development ones. An alert open for more than
    ``traffic_hold_max_windows`` (default 30) windows since its onset no longer holds them, so a known, unfixed fault
    does not blind the traffic tests for
    good. Measured (``bench/notes/detect_eval.md``, session 9, development recordings): with 1 the unmatched
    ``traffic_anomaly`` alerts of metric changes went (traffic-surge precision 0.63 → 0.88, unmonitored traffic 0.60
    → 0.86 on seeds 1001/1101) at the cost of an unmonitored-traffic episode or two that began while an unrelated
    fault was open; longer holds (3, 6) lost more of those (session 7 measured 6 against the detector of the time:
    recall 0.81 → 0.78).

    Links whose telemetry reports them down (``snapshot.links_down``) raise a ``link_state`` alert
    (informational: it never pages as a network fault), resolved when the link is back up. So do links whose ports
    report a speed below :data:`CAPACITY_ALERT_FRACTION` of their model capacity (``speed_bps``: a LAG that lost a
    member); the twin predicts with the reported capacity meanwhile
    (:attr:`~twinwatch.twin.snapshot.WindowSnapshot.link_capacity_bps`), and the link tests read utilisation
    against it. And so do links whose router reports another IGP metric than the model's (``igp_metric``: a
    cost-out, a typo); the twin routes with the reported metric meanwhile
    (:attr:`~twinwatch.twin.snapshot.WindowSnapshot.link_igp_metric`), so the traffic it moved is expected where
    it went.

    **Which traffic each test compares with.** The twin's expectation (paths, link loss) comes from the window's
    matrix fitted to its link counters, with the latest flow records as the prior — on a window the records
    measure, those records (:attr:`~twinwatch.twin.snapshot.WindowSnapshot.traffic`): every window gives the twin
    the same make-up of traffic (before session 29 a flow-measured window gave it the records' own matrix,
    whose pairs that a 1:N sampling missed do not send: on 4-Mb/s links the twin then expected several times
    less queueing every sixth window, and the path scores' scale grew to cover that jump). The link-load tests
    on a flow-measured window compare the counters with the records' own routed loads
    (:attr:`~twinwatch.twin.snapshot.WindowSnapshot.measured_link_bps`; the fitted loads would only test the
    fit). A path across a link whose counters went missing this window although it reports (a silent
    device, a late batch: :class:`~twinwatch.detectors.counter_gaps.CounterGaps`) is neither tested nor
    learned from that window: the matrix there is the prior's.

    Further tests, each its own family at ``alpha``:

    * **probe loss across windows** (kpi ``probe_loss``, ``degradation``): lost probe packets (loss ratio ×
      ``rate_pps`` × window length) against the expected, :class:`~twinwatch.detectors.probe_loss.ProbeLossScan`;
      suspects from the flagged and clean probes' paths (boolean tomography).
    * **probe loss pooled per link** (kpi ``probe_loss`` on a link, ``degradation``, family ``link.probe_loss``):
      the same scan over the probes crossing each link together (:func:`~twinwatch.detectors.probe_loss.
      pooled_p_values`): silent loss on a link that ``n`` probes cross shows in ``n`` times the packets of one,
      so it is found ``n`` times smaller or sooner. Tested on links crossed by two or more probes, one link per
      distinct set of probes; a flagged link whose probes' loss a link or probe ranked before it already
      explains is not reported (:func:`~twinwatch.detectors.probe_loss.explain_away`), so one lossy link raises
      one alert, on that link. Overlapping pools need a memory: links already alerting explain first (an open
      alert stays on its link while the sums slide), a probe whose loss an alert named (a link alert on a link
      it crosses, or its own per-probe alert) counts as explained for the sums' depth (18 windows: aged loss
      raises no second alert; kept in the scan's saved state), and an alerting link that a flagged neighbour
      fully explains, while the neighbour keeps loss of its own, hands its alert over (a wrong first guess
      between two overlapping links does not hold for the whole fault). Probes crossing a flagged or alerting
      link do not teach their healthy rate. An open alert of either (a probe or a link) whose recent windows hold
      too few of its sums' lost packets for the loss to go on (:func:`~twinwatch.detectors.probe_loss.
      stopped_p_values`, at the family's level) counts as clean, so it resolves within a few windows of the
      loss's end rather than when the loss ages out of the 18-window sums; its sums are then spent (and name
      nothing), so a second fault on the same link soon after opens a new alert. Held-out scorings:
      ``bench/notes/detect_eval.md``, sessions 39–40.
    * **destination ingress** (kpi ``ingress_bps``, ``traffic_anomaly``) and **flow records against
      counters** (kpi ``flow_export_bps``, ``traffic_anomaly``): :mod:`twinwatch.detectors.traffic`. A router
      whose flow export stops altogether has no flow row to score; it is named by its silence instead
      (:meth:`_silent_exporters`, same kpi), and while it is silent the per-router tests of it and of its
      neighbours are held (the counter-fitted matrix moves its traffic onto them): held-out scoring in
      ``bench/notes/detect_eval.md``, "Session 50, second change".
    * **routing against flows** (kpi ``routed_bps``, ``degradation``): on windows whose matrix comes from
      flow records, a link carrying less than those flows routed on the model put on it (an IGP metric
      or policy the model does not know). The counter-fitted windows cannot show it (tomogravity
      bends the matrix to fit the counters); flow windows come once per export interval, so the
      ``routed_carry_windows`` windows (default 3) after each are tested against its routed loads
      (:class:`~twinwatch.detectors.traffic.RoutedReference`), with the k-of-m persistence of the other
      families; links whose counters had a gap, reset or wrap this window or the last are not tested.
      ``routed_carry_windows=0``: flow windows only, decided window by window. Chosen on development
      runs (session 7, ``bench/notes/detect_eval.md``: 3 over 6 windows, persistence against a benign
      counter restart); on the held-out seeds 801 / 901 metric-change F1 0.61 → 0.68, all visible faults
      0.78 → 0.79, false alarms 0.23 → 0.31 ``alpha``, benign events alerted 1 → 0 of 105.
      A window is tested only when the traffic its links lost against the routed loads reappears on other
      links (at least ``reroute_share``, default half, of it: :func:`~twinwatch.detectors.traffic.rerouted`):
      a routing change moves traffic, while a surge that ended after the flows were exported only removes
      it; such a window is held (nothing fires or is learned). Session 8, development runs (seeds 801/901,
      planned probes): false alarms 14 → 5, metric change F1 0.72 → 0.78, all visible faults 0.84 → 0.85.
      The test is also held while a destination-ingress alert (a surge) is open and for an export interval plus
      ``routed_carry_windows`` windows after: the routed loads then come from an export that counted the
      surge, the counters of the windows after it no longer do. Only rejected windows were held before, so the
      surges' aftermath below that level was learned into the pool (session 31, Belnet2005: 39 of the 41
      scores below −6σ neither held nor beside a metric change were beside surges). With the pool clean of
      it, p-values past the pool's tail come from a fitted exponential tail (:data:`NODE_TAIL_FIT`, as the
      per-node tests): the pool gains a score per link only on flow and carried windows, its empirical floor
      ``1/(N+1)`` sat at the network-wide level for hours, and metric changes scoring −8σ to −27σ on the very
      link got p 1.5e-5 to 5e-4 and were learned as healthy, which hid the next ones (session 27 tried the tail
      alone: false alarms after surges). Session 31, 20 development runs: F1 0.861 → 0.886, metric change 50 →
      60 of 69; held out (seeds 4001 / 4101) 0.830 → 0.847 on new networks, 0.935 → 0.945 on the others.
      A link's residual is judged on no scale finer than its routed load's sampling error (the records' matrix's
      errors in quadrature, :attr:`~twinwatch.twin.snapshot.WindowSnapshot.measured_link_sd_bps`, carried with the
      loads): on slow links sampled 1:1000 one sampled packet stands for more than the link carries. Session
      27, 24 development runs: unmatched ``routed_bps`` alerts 15 → 8 (7 → 0 in Cesnet2001's fault-free hour,
      2 Mb/s links), F1 0.879 → 0.881.

    **The traffic matrix's uncertainty** (``detect(..., upper=...)``): on a window whose matrix comes from sampled
    flow records, a pipeline with ``tm_range`` asks the twin a second time at the traffic's upper estimate (every
    link's routed load about one standard error higher, :func:`~twinwatch.detectors.traffic.load_upper_scenario`);
    how far each expected KPI moves, on its residual's scale, floors that residual's scale for the window's
    p-values (path delay and loss, link utilisation and loss), in quadrature with the quantisation floor. The
    pool learns the scores normalised without it, so a wide window never narrows the reference of the others (a
    first version that floored the learned scores as well gave 10 more utilisation alerts on one development
    run). Session 28, twelve development runs: one detection fewer (a metric change whose delay rise showed on a
    flow window), nothing else changed; at 1 : 10,000 sampling the same scores; on the held-out seeds 3001 / 3101
    the same scores. It improved no score anywhere it was measured, so the pipeline leaves it off by default
    (``bench/notes/detect_eval.md``).

    Path delay is scored on the part above propagation (``delay_part="queueing"``, default: observed
    and expected minus the path's propagation delay, :func:`twinwatch.twin.models.bounds.path_delay_floor`
    minus its transmission): propagation is known exactly and dominates total delay on a WAN, so a
    relative error on the total hides every queueing change; ``"total"`` keeps the older residual.

    A probe's expected delay is its own packets' (:func:`twinwatch.twin.probes.own_packet_shift_s`): the twin
    predicts the mean delay of the packets on the probe's path, the probe waits in the same queues but each hop sends
    it at its own size. Before session 33 a probe on a path with demand was expected to take the demand's
    transmission time, one on a path without its own, so its expectation jumped by the difference (3.5 ms per
    2 Mb/s hop for 128 B against 1,000 B) whenever the window's matrix gave its pair demand or left it without:
    on Marwan 21 of 28 path-delay alerts started in such a window. Held out twice (``bench/notes/detect_eval.md``,
    session 33): seeds 4601 / 4701 F1 0.904 against 0.908 on new networks (one alert), 0.934 against 0.887 on the
    development ones (benign events alerted 0 against 4); seeds 4801 / 4901 0.840 against 0.736 (false alarms 0.025
    against 1.4 ``alpha``, benign 1 against 8 of 126), 0.946 against 0.942.

    The path residuals' scale is floored at the measurement's quantisation noise as well (``min_scale`` of
    :meth:`~twinwatch.detectors.conformal.ConformalCalibrator.p_values`: one resolution step of the residual at
    the expected value, over √12): a probe on an idle path sits at the floor on both sides window after window,
    its residual is exactly 0 and its own scale collapses, so its next one-step wobble became ``z ≈ 1e12``
    (25 of GÉANT's 63 planned probes; session 9) and such scores filled the calibration pool's tail, where
    they kept a rerouted probe's p-value at ~5e-4 (GÉANT metric-change F1 0.29 → 0.67 with the floor).

    Both sides of a path residual are floored at what the measurement can resolve: the queueing part of
    delay at ``delay_resolution_s`` (default 1 µs, what a router's hardware-timestamped TWAMP or RPM probe
    resolves; 10 µs for software timestamps; below it the ratio of two queueing delays is the ratio of two clock
    errors) or at ``propagation_resolution`` (default 5e-4) of the path's propagation delay, whichever is coarser:
    the queueing part is the observation less the model's propagation delay, which no network model knows to a
    microsecond on a path of many milliseconds (1 µs alone, session 34, alerted on 2-µs excesses of 6–19-ms
    paths; 10 µs alone misses a halved link on a path a few µs long; held out, session 36, seeds 6001 / 6101: F1
    0.902 against 0.888 on two new networks, capacity losses 3 against 0 of 14), loss at one packet of the window's
    probe (``1 / (rate_pps · window)``: 0 lost of 100 says nothing about a predicted 2e-5). Without the
    floors a probe on an idle path (every probe placed to cover a network crosses some) alarms whenever
    the twin's microsecond or 1e-5 expectation moves while the observation stays at zero (session 8,
    ``bench/notes/detect_eval.md``). Small losses accumulate in the ``probe_loss`` scan instead.
    """

    def __init__(self, model: NetworkModel, *, alpha: float = 0.01, method: str = "bh", k: int = 2, m: int = 3,
                 r: int = 2, warmup_windows: int = 6, book: AlertBook | None = None, combine: bool = True,
                 dependence: str = "any", delay_part: str = "queueing",
                 shares: dict[str, float] | None = None, calibrate_level: bool = False,
                 traffic_hold_windows: int = 1, traffic_hold_max_windows: int = 30, routed_carry_windows: int = 3,
                 delay_resolution_s: float = 1e-6, propagation_resolution: float = 5e-4,
                 reroute_share: float = 0.5) -> None:
        if dependence not in _DEPENDENCE:
            raise ValueError(f"TwinDetector: dependence must be one of {_DEPENDENCE}, got {dependence!r}")
        if delay_part not in _DELAY_PARTS:
            raise ValueError(f"TwinDetector: delay_part must be one of {_DELAY_PARTS}, got {delay_part!r}")
        self.delay_part = delay_part
        if not (delay_resolution_s >= 0 and np.isfinite(delay_resolution_s)):
            raise ValueError(f"TwinDetector: delay_resolution_s must be a finite number >= 0, got {delay_resolution_s}")
        self.delay_resolution_s = float(delay_resolution_s)
        if not 0.0 <= propagation_resolution < 1.0:
            raise ValueError(f"TwinDetector: propagation_resolution must be in [0, 1), got {propagation_resolution}")
        self.propagation_resolution = float(propagation_resolution)
        if not 0.0 <= reroute_share <= 1.0:
            raise ValueError(f"TwinDetector: reroute_share must be in [0, 1], got {reroute_share}")
        self.reroute_share = float(reroute_share)
        self.model = model
        self._link_ids = np.asarray(model.link_ids, dtype=object)  # (E,) for np.isin against a window's ids
        self._node_names = np.asarray(model.node_names, dtype=object)  # (N,)
        self._node_set = frozenset(model.node_names)
        self._probe_pairs = [f"{model.node_names[int(a)]}->{model.node_names[int(b)]}"  # (K,) "src->dst" per probe
                             for a, b in zip(model.probe_src, model.probe_dst, strict=True)]
        self._probed_pairs = frozenset(self._probe_pairs)
        self.alpha, self.method, self.warmup = float(alpha), method, int(warmup_windows)
        self.combine, self.k = bool(combine), int(k)
        self.calibrate_level = bool(calibrate_level)
        if traffic_hold_windows < 0:
            raise ValueError(f"TwinDetector: traffic_hold_windows must be >= 0, got {traffic_hold_windows}")
        self.traffic_hold_windows = int(traffic_hold_windows)
        if traffic_hold_max_windows < 0:
            raise ValueError(f"TwinDetector: traffic_hold_max_windows must be >= 0, got {traffic_hold_max_windows}")
        self.traffic_hold_max_windows = int(traffic_hold_max_windows)
        self._last_fault_window = -(1 << 62)
        self._surge_window = -(1 << 62)  # the last window with a destination-ingress alert open
        self._flow_window = -(1 << 62)  # the last flow-measured window
        self._flow_gaps: deque[int] = deque(maxlen=_FLOW_GAPS_KEPT)  # windows between recent flow-measured ones
        self.dependence = dependence
        self._down: set[str] = set()
        self._slow: dict[str, float] = {}  # links reporting less than their model capacity: their speed (bit/s)
        self._rerouted: dict[str, float] = {}  # links reporting another IGP metric than the model's: that metric
        self._exports: dict[str, int] = {}  # per router: flow-measured windows in a row it exported on
        self._export_missing: dict[str, int] = {}  # per silent router: flow-measured windows in a row without it
        self.book = book or AlertBook()
        e, n = model.n_links, model.n_nodes
        self._n = n

        def state(size: int, side: Side = "upper", half_life: float = 256.0, **kw: Any) -> _KpiState:
            cal = ConformalCalibrator(size, side=side, half_life=half_life, **{"min_history": 4, **kw})
            if self.combine:
                return _KpiState(cal, Persistence(size, k=1, m=1, r=r), CalibratedPersistence(size, k=k, m=m))
            return _KpiState(cal, Persistence(size, k=k, m=m, r=r))

        self._link = {"utilization": state(e), "loss_ratio": state(e), "tx_bps": state(e, "lower")}
        self._path = {kpi: state(n * n) for kpi in _PATH_KPIS}
        # per-node families have few scores per window (N, not E or N²): their pools start from a heavy-tailed
        # reference so that p-values can reach the network-wide level before hours of history exist
        node_prior = {"pool_prior": NODE_POOL_PRIOR, "prior_count": NODE_PRIOR_COUNT, "min_history": 12}
        # (dicts of per-KPI states: the service's state record saves and restores them, stream/state.py)
        self._node = {
            # follows the diurnal cycle (≈ 5 min healthy); one score per node a window: with many nodes the
            # network-wide level lies past the pool's empirical tail, so p-values there come from a fitted tail
            # Mondrian by the matrix's source: on a window measured by sampled flow records a node's total is
            # noisier than on one fitted to the counters (class 1 and 0, INGRESS_SOURCE_EDGES)
            "ingress_bps": state(n, half_life=32.0, tail_fit=NODE_TAIL_FIT, regime_edges=INGRESS_SOURCE_EDGES,
                                 **node_prior),
            # flow-bearing windows are sparse (one per flow export interval): decided window by window, and the
            # pool, one score per node and export, resolves the network-wide level only with a fitted tail
            "flow_export_bps": _KpiState(ConformalCalibrator(n, side="lower", half_life=64.0, tail_fit=NODE_TAIL_FIT,
                                                             **node_prior),
                                         Persistence(n, k=1, m=1, r=1)),
        }
        self._counter_ref = CounterReference(n)
        # links on flow-measured windows: traffic below what the flow records, routed on the model, put there
        # carried between flow windows (RoutedReference), the test sees consecutive windows and takes the k-of-m
        # persistence of the other families (a one-window dip, e.g. a counter restarting mid-window, does not
        # fire); on flow windows alone (carry 0) it is decided window by window
        self._link["routed_bps"] = (state(e, "lower", half_life=64.0, tail_fit=NODE_TAIL_FIT, **node_prior)
                                    if routed_carry_windows > 0 else
                                    _KpiState(ConformalCalibrator(e, side="lower", half_life=64.0,
                                                                  tail_fit=NODE_TAIL_FIT, **node_prior),
                                              Persistence(e, k=1, m=1, r=1)))
        self._routed_ref = RoutedReference(e, carry=routed_carry_windows)
        # and the sampling error of those loads (the flow records' own, Σ over the flows on a link), carried alike
        self._routed_sd_ref = RoutedReference(e, carry=routed_carry_windows)
        self._counter_gaps = CounterGaps(e)
        self._probe_scan = ProbeLossScan(model.n_probes)
        self._probe_pers = Persistence(model.n_probes, k=1, m=1, r=r)
        self._probe_link_pers = Persistence(e, k=1, m=1, r=r)  # the same scan, the probes crossing each link pooled
        self._probe_link_eff = EffectiveTests()
        self._probe_eff = EffectiveTests()
        self._link_two_sided = ConformalCalibrator(e, side="two-sided", min_history=4)
        self.windows = 0
        self._open_start: dict[tuple[str, str, str], float] = {}
        sh = {**FAMILY_SHARES, **(shares or {})}
        unknown = sorted(set(sh) - set(FAMILY_SHARES))
        if unknown or any(not 0.0 < v <= 1.0 for v in sh.values()):
            raise ValueError(f"TwinDetector: shares must map families {sorted(FAMILY_SHARES)} to (0, 1], got "
                             f"{unknown or sh}")
        self.levels = {f: self.alpha * v for f, v in sh.items()}
        """Per family (``"path.delay_s"``, ``"probe_loss"``, ...): its test level, ``alpha`` × its share."""
        for group, states in (("link", self._link), ("path", self._path), ("node", self._node)):
            for kpi, st in states.items():
                st.level = self.levels[f"{group}.{kpi}"]

    STATE_SCALARS: ClassVar[tuple[str, ...]] = ("_last_fault_window", "_surge_window", "_flow_window", "_flow_gaps")
    """State the service's record restores although a fresh detector does not start it at zero (``stream/state.py``):
    the windows of the last network fault and surge and of the last flow export ("never" at start), the recent
    gaps between flow exports. Without them a restart would forget a traffic hold in force."""

    _ENTITY_AXIS: ClassVar[dict[str, str]] = {
        "_link": "link", "_path": "pair", "_node": "node", "_counter_ref": "node", "_routed_ref": "link",
        "_routed_sd_ref": "link", "_probe_scan": "probe", "_probe_pers": "probe", "_probe_link_pers": "link",
        "_link_two_sided": "link",
        "_counter_gaps": "link"}

    def entity_axis(self, part: str) -> str | None:
        """Which entities a saved state part (attribute path, ``"_link.utilization.cal"``) is per: ``"link"``,
        ``"node"``, ``"pair"`` (source-destination node pairs, ``i·N + j``), ``"probe"``, or None (shared)."""
        return self._ENTITY_AXIS.get(part.split(".", 1)[0])

    def entity_names(self) -> dict[str, list[str]]:
        """The names the state's per-entity parts are numbered by, per axis (pairs follow the nodes)."""
        m = self.model
        return {"link": list(m.link_ids), "node": list(m.node_names), "probe": list(m.probe_names)}

    def _known(self, alert: Alert) -> bool:
        """Whether an alert's entity is in the network model: a link by id, a node by name, a path
        (``"a->b"``) between two of its nodes, a probe's loss scan when the model still has a probe on
        that pair; other kinds are not this detector's."""
        kind, eid = alert.entity_kind, alert.entity_id
        if kind == "link":
            return eid in self.model.link_index
        if kind == "node":
            return eid in self._node_set
        if kind != "path":
            return True
        if alert.kpi == "probe_loss":
            return eid in self._probed_pairs
        parts = eid.split("->")  # device names may hold "->" themselves: any split into two known names
        return any("->".join(parts[:i]) in self._node_set and "->".join(parts[i:]) in self._node_set
                   for i in range(1, len(parts)))

    def _bounds(self, cal: ConformalCalibrator, kpi: str, expected: np.ndarray,
                capacity: np.ndarray | None, min_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        loc, sd = cal.location_scale(min_scale=min_scale)  # z = (s - loc) / max(sd, min_scale) per entity
        lo = _inverse(kpi, expected, loc - _Z_BOUND * sd, capacity)
        hi = _inverse(kpi, expected, loc + _Z_BOUND * sd, capacity)
        return lo, hi

    def _decide(self, eff: EffectiveTests, p: np.ndarray, level: float, warm: bool, was: np.ndarray) -> np.ndarray:
        """The family's rejections at ``level`` (p-values rescaled by its effective number of tests when
        ``calibrate_level``); then the window's p-values of the entities not already alerting teach ``eff``."""
        if not warm:
            return was.copy()  # cold or held: nothing new, open alerts stay open
        if not self.calibrate_level:
            return reject(p, level, self.method)
        decide = eff.reject(p, level, self.method, exclude=was)
        eff.update(np.where(was, np.nan, p))
        return decide

    def _cutoff(self, p: np.ndarray, rejected: np.ndarray, level: float) -> float:
        """The largest p-value the rule (``method`` at ``level``) would also have rejected this window, given the
        ``rejected`` of the ``(n,)`` p-values ``p`` (NaN: not tested)."""
        m, k = int(np.isfinite(p).sum()), int(np.asarray(rejected, bool).sum())
        if m == 0:
            return 0.0
        if self.method == "bh":
            return level * max(k, 1) / m
        if self.method == "holm":
            return level / max(m - k + 1, 1)
        return level / m

    def _step(self, st: _KpiState, res: np.ndarray, learn: np.ndarray | None = None,
              hold: bool = False, min_scale: np.ndarray | None = None,
              widen: np.ndarray | None = None, regime: int = 0) -> tuple[np.ndarray, np.ndarray, Any]:
        """p-values, per-window rejections and the alert transitions of one family; ``learn``: the entities
        whose telemetry is sound enough this window to calibrate on (default all); ``hold``: the family's
        measurements are not to be trusted this window (nothing new fires, open alerts stay, nothing learned);
        ``min_scale``: ``(n,)`` the residual's quantisation noise per entity (the calibrator's scale floor);
        ``widen``: ``(n,)`` how far the expectation moves under the traffic matrix's uncertainty this window,
        added in quadrature to ``min_scale`` for this window's p-values only (what the pool learns is
        normalised as without it, so a window's widening never narrows the other windows' reference);
        ``regime``: the window's Mondrian class in the family's calibrator (a calibrator restored from a state
        written with fewer classes takes its last one)."""
        test_scale = min_scale if widen is None else np.hypot(0.0 if min_scale is None else min_scale, widen)
        reg = None if st.cal.n_regimes == 1 else np.full(res.size, min(regime, st.cal.n_regimes - 1), dtype=np.intp)
        p = st.cal.p_values(res, regime=reg, min_scale=test_scale)
        warm = self.windows > self.warmup and not hold
        flagged = reject(p, st.level, self.method) if warm else np.zeros(res.size, bool)
        observed = np.isfinite(res)
        was = st.pers.active
        if hold:
            learn = np.zeros(res.size, dtype=bool)
        if st.history is not None:
            learned = self.dependence == "calibrated"
            pc = st.history.update(p, observed, calibrate=learned)
            if not learned:  # the closed-form null of the statistic instead of the learned one
                pc = np.where(observed, persistence_bound(st.history.statistic(), self.k, st.history.m,
                                                          self.dependence), np.nan)
            decide = self._decide(st.eff, pc, st.level, warm, was)
            change = st.pers.update(decide, observed=observed)
            # the null of the statistic: every entity-window neither inside an open alert nor rejected now (a
            # fault's first rejection would otherwise seed the pool's tail and blunt the next fault)
            if learned and not hold:
                st.history.learn(~was & ~decide)
            p = np.where(decide, np.minimum(p, pc), p)
        else:
            decide = self._decide(st.eff, p, st.level, warm, was) if self.calibrate_level or hold else flagged
            change = st.pers.update(decide, observed=observed)
        healthy = ~flagged & ~change.active
        st.cal.update(res, regime=reg, healthy=healthy if learn is None else healthy & learn, min_scale=min_scale)
        return p, flagged, change

    @property
    def _flow_span(self) -> int:
        """The flow export interval (windows): the median gap between recent flow-measured windows (0 before two)."""
        return int(np.median(self._flow_gaps)) if self._flow_gaps else 0

    def detect(self, snapshot: WindowSnapshot, prediction: Prediction | None,
               upper: Prediction | None = None) -> Detection:
        """Test the window; returns per-link arrays for the gauges and the alert changes.

        ``upper``: the twin's prediction at the upper estimate of the window's traffic
        (:func:`~twinwatch.detectors.traffic.load_upper_scenario`), or ``None`` (a matrix fitted to the
        counters, or no second inference): how far each expected KPI moves between the two, on the residual's
        scale, floors that residual's scale this window (the traffic-matrix uncertainty widens the range).
        """
        self.windows += 1
        m, sc = self.model, snapshot.scenario
        e = m.n_links
        # the capacity the twin predicts with: the model's, or a lower speed the ports report (a LAG that lost a
        # member); the adapters' utilisation rows are a fraction of the model's
        cap_model = m.link_capacity_bps
        cap = np.asarray(snapshot.link_capacity_bps, dtype=np.float64)
        moved = cap != cap_model
        nan = np.full(e, np.nan)
        obs = snapshot.link_observed
        tx_pps, drop = (obs.get(k, nan) for k in ("tx_pps", "drop_pps"))
        tx_bps = snapshot.link_load_bps()  # the sender's counter, else the far end's (e.g. a legacy Counter32)
        with np.errstate(invalid="ignore", divide="ignore"):
            util = obs.get("utilization", nan)
            util = np.where(moved, util * cap_model / cap, util)
            util_obs = np.where(np.isfinite(util), util, tx_bps / cap)
            loss_obs = np.where(np.isfinite(drop) & np.isfinite(tx_pps) & (tx_pps + drop > 0),
                                drop / (tx_pps + drop), np.nan)
        if prediction is not None:
            util_exp = np.asarray(prediction.link_utilization, dtype=np.float64)
            loss_exp = np.asarray(prediction.link_loss_ratio, dtype=np.float64)
        else:
            util_exp, loss_exp = nan, nan
        if prediction is None:
            upper = None
        # the expectation's range under the matrix's uncertainty, on each residual's scale (None: none known)
        link_tm: dict[str, np.ndarray | None] = dict.fromkeys(("utilization", "loss_ratio", "tx_bps"))
        measured = prediction is not None and snapshot.measured_link_bps is not None
        if measured:
            # the twin's matrix is fitted to these very counters on a flow-measured window: its loads would only
            # test the fit. The load tests take the flow records' own routed loads there, as on every window
            # before the fit (their sampling error is the range the traffic matrix leaves them).
            util_exp = np.asarray(snapshot.measured_link_bps, dtype=np.float64) / cap
            if upper is not None:
                link_tm["utilization"] = link_tm["tx_bps"] = np.nan_to_num(
                    np.asarray(snapshot.measured_link_sd_bps, dtype=np.float64) / cap, nan=0.0, posinf=0.0)
        if upper is not None and not measured:
            link_tm["utilization"] = link_tm["tx_bps"] = _tm_scale(
                "utilization", np.asarray(upper.link_utilization, dtype=np.float64), util_exp)
            link_tm["loss_ratio"] = _tm_scale("loss_ratio", np.asarray(upper.link_loss_ratio, dtype=np.float64),
                                              loss_exp)
        with np.errstate(invalid="ignore", divide="ignore"):
            drop_exp = loss_exp / (1.0 - loss_exp) * tx_pps
        start, end, net = snapshot.start, snapshot.end, m.name
        fired: list[Alert] = []
        resolved: list[tuple[str, str, str, str]] = []
        series: dict[str, dict[str, Any]] = {}

        link_out: dict[str, dict[str, np.ndarray]] = {}
        # utilisation above the twin (upper side): traffic the twin's matrix does not have -> traffic anomaly;
        # below it (tested on utilisation, reported in bits/s): traffic is not where the model routes it
        # (an IGP metric or policy the model does not know) -> an unexplained degradation of the model
        link_tests = {"utilization": (util_obs, util_exp, None), "loss_ratio": (loss_obs, loss_exp, None),
                      "tx_bps": (util_obs, util_exp, None)}
        # links whose telemetry is disturbed this window (down, an end device silent) do not calibrate
        silent = np.isin(self._node_names,
                         np.asarray(snapshot.completeness.silent_devices, dtype=object))
        sound = ~np.isin(self._link_ids, np.asarray(snapshot.links_down, dtype=object))
        sound &= ~silent[m.link_src] & ~silent[m.link_dst]
        # the utilisation family's bounds before this window's update: the bits/s test reports them
        util_lo, util_hi = self._bounds(self._link["utilization"].cal, "utilization", util_exp, None,
                                        link_tm["utilization"])

        def link_family(kpi: str, hold: bool = False) -> None:
            o, x, c = link_tests[kpi]
            st = self._link[kpi]
            res = residual("utilization" if kpi == "tx_bps" else kpi, o, x, capacity=c)
            p, _, change = self._step(st, res, learn=sound, hold=hold, widen=link_tm[kpi])
            if kpi == "tx_bps":
                o, x = o * cap, x * cap
                lo, hi = util_lo * cap, util_hi * cap
                link_out["tx_bps_low"] = {"score": 1.0 - p}
            else:
                lo, hi = self._bounds(st.cal, kpi, x, c, link_tm[kpi])
                link_out[kpi] = {"observed": o, "expected": x, "lower": lo, "upper": hi, "score": 1.0 - p}
            kind = "traffic_anomaly" if kpi == "utilization" else "degradation"
            for i in np.flatnonzero(change.fired).tolist():
                lid = m.link_ids[i]
                why = (f"traffic on link {lid} {o[i]:.4g} bit/s, the model routes {x[i]:.4g} bit/s there "
                       f"({_p_text(p[i])}): routing differs from the model (IGP metric or policy change?)"
                       if kpi == "tx_bps"
                       else f"{kpi} on link {lid} {o[i]:.4g} vs expected {x[i]:.4g} ({_p_text(p[i])})")
                fired.append(Alert.open(network=net, entity_kind="link", entity_id=lid, kpi=kpi,
                                        start=start, kind=kind, observed=float(o[i]), expected=float(x[i]),
                                        bounds=(float(lo[i]), float(hi[i])), p_value=float(p[i]),
                                        suspects=[{"link": lid, "score": 1.0}], explanation=why))
            resolved.extend((net, "link", m.link_ids[i], kpi) for i in np.flatnonzero(change.resolved).tolist())
            for i in np.flatnonzero(change.active).tolist():
                series[f"link:{m.link_ids[i]}:{kpi}"] = {"observed": float(o[i]), "expected": float(x[i]),
                                                         "lower": float(lo[i]), "upper": float(hi[i])}

        # the network-fault families first; utilisation, a traffic test, after them (it is held like the others)
        link_family("loss_ratio")
        link_family("tx_bps")
        link_out["drop_pps"] = {"observed": drop, "expected": drop_exp, "lower": nan, "upper": nan,
                                "score": link_out["loss_ratio"]["score"]}
        link_out["delay_s"] = {"observed": obs.get("delay_s", nan), "expected": nan, "lower": nan, "upper": nan,
                               "score": nan}

        # paths: probed pairs, entity = node pair. A path across a link whose counters went missing this window
        # (CounterGaps) is neither tested nor learned from: the matrix, so the expectation, is the prior's there
        n = self._n
        pkey = sc.path_src.astype(np.int64) * n + sc.path_dst.astype(np.int64)
        gap = self._counter_gaps.update(self.windows, np.isfinite(tx_bps) | np.isfinite(util_obs)
                                       | np.isfinite(obs.get("rx_bps", nan)))
        gap &= ~np.isin(self._link_ids, np.asarray(snapshot.links_down, dtype=object))  # down: not routed on
        path_gap = np.bincount(sc.hop_path, weights=gap[sc.path_links].astype(np.float64),
                               minlength=sc.n_paths) > 0
        prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
        # a probe's packets are transmitted at their own size, whatever the path's other packets are: its expected
        # delay (and floor) is the path's plus that difference, so it does not jump when the window's matrix gives
        # the pair demand or leaves it without (the probe then has a flow of its own)
        probe_of = np.asarray(snapshot.path_probe, dtype=np.int64)
        on_probe = probe_of >= 0
        own = own_packet_shift_s(sc, np.where(on_probe, np.arange(sc.n_paths), -1),
                                 m.probe_size_bits[np.maximum(probe_of, 0)] if m.n_probes else np.zeros(sc.n_paths))
        floor = path_delay_floor(sc) + own  # propagation + one transmission per hop (a probe's: its own size)
        path_flag_any = np.zeros(sc.n_paths, dtype=bool)
        tested_any = np.zeros(sc.n_paths, dtype=bool)
        excess = np.zeros(sc.n_paths)
        pairs: dict[str, dict[str, np.ndarray]] = {}
        pending_paths: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        # the resolution of a probe's loss ratio: one packet of the window (paths without a probe: none)
        loss_floor = np.zeros(sc.n_paths)
        sent = m.probe_rate_pps[probe_of[on_probe]] * (snapshot.end - snapshot.start)
        loss_floor[on_probe] = 1.0 / np.maximum(sent, 1.0)
        for kpi in _PATH_KPIS:
            o_p = snapshot.path_observed.get(kpi, np.full(sc.n_paths, np.nan))
            x_p = (np.asarray(prediction.path(kpi), dtype=np.float64) if prediction is not None
                   else np.full(sc.n_paths, np.nan))
            x_hi = np.asarray(upper.path(kpi), dtype=np.float64) if upper is not None else None
            if kpi == "delay_s":
                x_p = x_p + own
                x_hi = None if x_hi is None else x_hi + own
            x_base = x_p  # the expectation x_hi is compared with, on the measured part and floors
            res_pair = np.full(n * n, np.nan)
            o_pair = np.full(n * n, np.nan)
            x_pair = np.full(n * n, np.nan)
            scale_pair = np.zeros(n * n)  # the residual's quantisation noise: one resolution step / √12
            tm_pair = None if x_hi is None else np.zeros(n * n)  # the expectation's range under the matrix's error
            fin = np.isfinite(o_p) & np.isfinite(x_p) & ~path_gap
            # one observation per pair: the last path of the pair with a finite observation
            if kpi == "delay_s" and self.delay_part == "queueing":
                # queueing + transmission: observed and expected above the propagation delay, floored at
                # half the transmission time (a probe is never faster than propagation + transmission) or at
                # the measurement's resolution when that is coarser
                res_s = np.maximum(self.delay_resolution_s, self.propagation_resolution * prop)
                half_tx = np.maximum(0.5 * np.maximum(floor - prop, 1e-9), res_s)
                q_o = np.maximum(o_p - prop, half_tx)
                q_x = np.maximum(x_p - prop, half_tx)
                res_pair[pkey[fin]] = residual(kpi, q_o[fin], q_x[fin])
                scale_pair[pkey[fin]] = residual(kpi, q_x[fin] + res_s[fin], q_x[fin]) / _SQRT12
                if x_hi is not None:
                    x_hi, x_base = np.maximum(x_hi - prop, half_tx), q_x  # the range on the queueing part
            elif kpi == "loss_ratio":
                x_f = np.maximum(x_p, loss_floor)[fin]
                res_pair[pkey[fin]] = residual(kpi, np.maximum(o_p, loss_floor)[fin], x_f)
                step = np.minimum(loss_floor[fin], 0.5 * (1.0 - x_f))  # one probe packet, staying below 1
                scale_pair[pkey[fin]] = np.abs(residual(kpi, x_f + step, x_f)) / _SQRT12
                if x_hi is not None:
                    x_hi, x_base = np.maximum(x_hi, loss_floor), np.maximum(x_p, loss_floor)
            else:
                res_pair[pkey[fin]] = residual(kpi, o_p[fin], x_p[fin])
            if x_hi is not None and tm_pair is not None:
                tm_pair[pkey[fin]] = _tm_scale(kpi, x_hi[fin], x_base[fin])
            o_pair[pkey[fin]], x_pair[pkey[fin]] = o_p[fin], x_p[fin]
            st = self._path[kpi]
            p, flagged, change = self._step(st, res_pair, min_scale=scale_pair, widen=tm_pair)
            lo, hi = self._bounds(st.cal, kpi, x_pair, None)
            path_flag_any |= flagged[pkey] & fin
            tested_any |= fin
            if kpi == "delay_s":
                excess = np.where(fin, np.maximum(o_p - x_p, 0.0), 0.0)
            pending_paths.append((kpi, change.fired, change.resolved, change.active, o_pair, x_pair,
                                  np.stack([lo, hi, p])))
            pairs[kpi] = {"observed": o_pair, "expected": x_pair, "lower": lo, "upper": hi}
        suspects: list[dict[str, Any]] = []
        if path_flag_any.any():
            from twinwatch.detectors.localize import tomography_scores

            score = tomography_scores(sc, path_flag_any, tested_any, excess)["score"]
            top = np.argsort(-score)[:5]
            suspects = [{"link": m.link_ids[int(i)], "score": round(float(score[i]), 4)} for i in top if score[i] > 0]
        names = m.node_names
        for kpi, fire, reso, active, o_pair, x_pair, lhp in pending_paths:
            for key in np.flatnonzero(fire).tolist():
                pid = f"{names[key // n]}->{names[key % n]}"
                fired.append(Alert.open(network=net, entity_kind="path", entity_id=pid, kpi=kpi, start=start,
                                        kind="degradation", observed=float(o_pair[key]), expected=float(x_pair[key]),
                                        bounds=(float(lhp[0, key]), float(lhp[1, key])), p_value=float(lhp[2, key]),
                                        suspects=suspects,
                                        explanation=f"{kpi} on path {pid} {o_pair[key]:.4g} vs expected "
                                                    f"{x_pair[key]:.4g}" + (f"; suspect link {suspects[0]['link']}"
                                                                           if suspects else "")))
            resolved += [(net, "path", f"{names[k // n]}->{names[k % n]}", kpi) for k in np.flatnonzero(reso).tolist()]
            for key in np.flatnonzero(active).tolist():
                series[f"path:{names[key // n]}->{names[key % n]}:{kpi}"] = {
                    "observed": float(o_pair[key]), "expected": float(x_pair[key]),
                    "lower": float(lhp[0, key]), "upper": float(lhp[1, key])}
        for f_, r_ in (self._link_state(snapshot), self._capacity(snapshot), self._igp_metric(snapshot),
                       self._probe_loss(snapshot, prediction),
                       self._routing(snapshot, tx_bps, sound)):
            fired += f_
            resolved += r_
        # the matrix-derived tests last: a network fault of this window or the recent ones holds them
        # (an alert open for longer than traffic_hold_max_windows no longer holds them: a known, unfixed fault must
        # not blind the traffic tests for good)
        recent = start - self.traffic_hold_max_windows * max(end - start, 0.0)
        if self.traffic_hold_windows and self._recent_alerts(fired, "degradation", recent):
            self._last_fault_window = self.windows
        traffic_hold = self.windows - self._last_fault_window < self.traffic_hold_windows
        f_, r_ = self._traffic(snapshot, tx_bps, hold=traffic_hold,
                               held_nodes=self._near_links_down(fired, recent) if self.traffic_hold_windows else None)
        fired += f_
        resolved += r_
        link_family("utilization", hold=traffic_hold)
        # rates of links for the gauges (tested through utilization, both sides)
        low_score = link_out.pop("tx_bps_low")["score"]
        link_out["tx_bps"] = {"observed": tx_bps, "expected": util_exp * cap,
                              "lower": link_out["utilization"]["lower"] * cap,
                              "upper": link_out["utilization"]["upper"] * cap,
                              "score": np.fmax(link_out["utilization"]["score"], low_score)}
        paths_per_link = np.bincount(sc.path_links, weights=np.repeat(path_flag_any, np.diff(sc.path_ptr)),
                                     minlength=e)
        # an alert on an entity the network model no longer has (the model changed across a restart) can
        # never resolve by itself: it resolves here, once
        resolved += [AlertBook.key(a) for a in self.book.open_alerts if a.network == net and not self._known(a)]
        changes = self.book.fire(fired) + self.book.resolve(resolved, end=end)
        return Detection(link=link_out, paths_anomalous=paths_per_link, changes=changes, series=series,
                         pairs=pairs)

    def _link_state(self, snapshot: WindowSnapshot) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``link_state`` alerts: a link reported down opens one, its return resolves it."""
        net, now = self.model.name, set(map(str, snapshot.links_down))
        known = set(self.model.link_ids)
        fired = [Alert.open(network=net, entity_kind="link", entity_id=lid, kpi="oper_status", start=snapshot.start,
                            kind="link_state", observed=0.0, expected=1.0, suspects=[{"link": lid, "score": 1.0}],
                            explanation=f"link {lid} reported down by telemetry; traffic rerouted in the twin")
                 for lid in sorted(now - self._down) if lid in known]
        resolved = [(net, "link", lid, "oper_status") for lid in sorted(self._down - now)]
        self._down = now & known
        return fired, resolved

    def _capacity(self, snapshot: WindowSnapshot) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``link_state`` alerts on ``speed_bps``: a link whose ports report less than
        :data:`CAPACITY_ALERT_FRACTION` of its capacity in the network model opens one (a LAG that lost a member,
        a port that negotiated down, or a model that is out of date), a report back at that level resolves it.
        The twin predicts with the reported capacity meanwhile, so what follows from it (more queueing, loss) is
        expected, not an unexplained degradation."""
        speed, cap = snapshot.link_speed_bps, self.model.link_capacity_bps
        if speed is None:
            return [], []
        with np.errstate(invalid="ignore"):
            off = np.isfinite(speed) & (speed < CAPACITY_ALERT_FRACTION * cap)

        def explain(lid: str, i: int) -> str:
            return (f"link {lid} reports {rate_text(speed[i])} against {rate_text(cap[i])} in the network model "
                    f"({speed[i] / cap[i]:.0%}): a LAG member lost, a port negotiated down, or the model is out of "
                    f"date; the twin predicts with the reported capacity")

        return self._reported(snapshot, self._slow, "speed_bps", speed, cap, off, explain)

    def _igp_metric(self, snapshot: WindowSnapshot) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``link_state`` alerts on ``igp_metric``: a link whose router reports another IGP metric than the network
        model's opens one (an operator's cost-out, a typo, a model that is out of date: traffic moved), a report
        of the model's metric resolves it. The twin routes with the reported metric meanwhile, so the moved
        traffic is expected on its new paths, not an unexplained degradation. A link without a configured metric
        (auto-cost) may report the cost of its model capacity or of the capacity its ports report: a router
        re-costs a LAG that lost a member, or not, by its configuration."""
        igp, model = snapshot.link_igp_metric, snapshot.model_metric
        if igp is None or model is None:
            return [], []
        off = np.isfinite(igp) & (igp != model) & (igp != self.model.link_metric)

        def explain(lid: str, i: int) -> str:
            way = "off" if igp[i] > model[i] else "onto"
            return (f"link {lid} routes with IGP metric {igp[i]:.0f} against {model[i]:.0f} in the network model: "
                    f"traffic moved {way} it; the twin routes with the reported metric")

        return self._reported(snapshot, self._rerouted, "igp_metric", igp, model, off, explain)

    def _reported(self, snapshot: WindowSnapshot, open_: dict[str, float], kpi: str, reported: np.ndarray,
                  model: np.ndarray, off: np.ndarray,
                  explain: Callable[[str, int], str]) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``link_state`` alerts on a link's reported configuration (``kpi``): the ``(E,)`` values ``reported``
        (NaN: no report) against the network ``model``'s; a link ``off`` the model's value opens one, a report back
        at it resolves it. ``open_`` (link id → the value its alert opened with) is the detector's saved memory of
        them: a link with no report keeps its alert (silence is not a recovery), and a restart opens none again."""
        if not (np.isfinite(reported).any() or open_):
            return [], []
        m, net = self.model, self.model.name
        # a link the model no longer has (restored onto an edited model): its alert resolves with the others of
        # such entities, its entry goes
        for lid in [lid for lid in open_ if lid not in m.link_index]:
            del open_[lid]
        fired = []
        for i in np.flatnonzero(off).tolist():
            lid = m.link_ids[i]
            if lid in open_:
                continue
            open_[lid] = float(reported[i])
            fired.append(Alert.open(
                network=net, entity_kind="link", entity_id=lid, kpi=kpi, start=snapshot.start, kind="link_state",
                observed=float(reported[i]), expected=float(model[i]), suspects=[{"link": lid, "score": 1.0}],
                explanation=explain(lid, i)))
        resolved = []
        for i in np.flatnonzero(np.isfinite(reported) & ~off).tolist():
            lid = m.link_ids[i]
            if open_.pop(lid, None) is not None:
                resolved.append((net, "link", lid, kpi))
        return fired, resolved

    def _probe_loss(self, snapshot: WindowSnapshot,
                    prediction: Prediction | None) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``probe_loss`` degradations: lost probe packets accumulated across windows (:class:`ProbeLossScan`),
        per probe and per link (the probes crossing it pooled, :func:`pooled_p_values`); one family, one rule."""
        m, sc = self.model, snapshot.scenario
        k = m.n_probes
        if k == 0:
            return [], []
        probe = np.asarray(snapshot.path_probe, dtype=np.int64)
        ratio = snapshot.path_observed.get("loss_ratio", np.full(sc.n_paths, np.nan))
        on = np.flatnonzero((probe >= 0) & np.isfinite(ratio))
        sent = np.full(k, np.nan)
        lost = np.full(k, np.nan)
        q_twin = np.zeros(k)
        path_of = np.full(k, -1, dtype=np.int64)
        path_of[probe[on]] = on
        sent[probe[on]] = np.maximum(np.round(m.probe_rate_pps[probe[on]] * (snapshot.end - snapshot.start)), 1.0)
        lost[probe[on]] = np.round(ratio[on] * sent[probe[on]])
        if prediction is not None:
            x = np.asarray(prediction.path("loss_ratio"), dtype=np.float64)
            q_twin[probe[on]] = np.nan_to_num(x[on], nan=0.0)
        hop_probe = np.full(sc.hop_path.size, -1, dtype=np.int64)
        reported = np.isin(sc.hop_path, on)
        hop_probe[reported] = probe[sc.hop_path[reported]]
        q0 = self._probe_scan.expected_ratio(q_twin)
        p = self._probe_scan.update(lost, sent, q_twin)
        seen = np.isfinite(p)
        pl = probe_links(sc.path_links, hop_probe, seen, m.n_links)
        sums = self._probe_scan.window_sums()
        p_link = pooled_p_values(*sums, pl)
        warm = self.windows > self.warmup
        flagged = self._decide(self._probe_eff, np.where(seen, p, np.nan), self.levels["probe_loss"], warm,
                               self._probe_pers.active)
        tested_p = np.where(pl.tested, p_link, np.nan)
        flagged_link = self._decide(self._probe_link_eff, tested_p, self.levels["link.probe_loss"], warm,
                                    self._probe_link_pers.active) & pl.tested
        log_p_link = None  # the order of the links' pooled p-values, total losses (p underflows to 0.0) included
        if flagged_link.any():
            log_p_link = scan_log_p(per_link(sums[0], pl), per_link(sums[1], pl))
            flagged_link = explain_away(log_p_link, flagged_link, *sums, pl,
                                        cutoff=self._cutoff(tested_p, flagged_link, self.levels["link.probe_loss"]),
                                        alerting=self._probe_link_pers.active,
                                        explained=self._probe_scan.named(),
                                        p_probe=np.where(seen, scan_log_p(*sums), 0.0),
                                        probes_flagged=flagged | self._probe_pers.active)
        stopped, stopped_link = np.zeros(k, dtype=bool), np.zeros(m.n_links, dtype=bool)
        was, was_link = self._probe_pers.active, self._probe_link_pers.active
        if warm and (was.any() or was_link.any()):  # an open alert whose loss has stopped counts as clean
            sent_sums = self._probe_scan.sent_sums()
            stopped = was & (stopped_p_values(sums[0], sent_sums) <= self.levels["probe_loss"])
            stopped_link = was_link & (stopped_p_values(sums[0], sent_sums, pl) <= self.levels["link.probe_loss"])
        flagged &= ~stopped
        flagged_link &= ~stopped_link
        change = self._probe_pers.update(flagged, observed=seen)
        change_link = self._probe_link_pers.update(flagged_link, observed=np.isfinite(p_link))
        spent = change.resolved & stopped  # the loss of an alert resolved as stopped is spent: a new fault of the
        spent[pl.hop_probe[(change_link.resolved & stopped_link)[pl.hop_link]]] = True  # same probes must show anew
        if spent.any():
            self._probe_scan.spend(spent)
        lossy_link = flagged_link | change_link.active
        near_lossy = np.zeros(k, dtype=bool)
        near_lossy[pl.hop_probe[lossy_link[pl.hop_link]]] = True
        named = change.active.copy()  # a probe's own open alert names its loss, as a link alert names its probes'
        named[pl.hop_probe[change_link.active[pl.hop_link]]] = True
        self._probe_scan.name(named & self._probe_scan.holds_loss())  # (spent sums hold nothing to name)
        self._probe_scan.learn(lost, sent, ~flagged & ~change.active & ~near_lossy)
        net = m.name
        pid = self._probe_pairs
        fired: list[Alert] = []
        if change.fired.any():
            from twinwatch.detectors.localize import tomography_scores

            bad = np.zeros(sc.n_paths, dtype=bool)
            tested = np.zeros(sc.n_paths, dtype=bool)
            bad[path_of[change.active & (path_of >= 0)]] = True
            tested[path_of[seen & (path_of >= 0)]] = True
            excess = np.zeros(sc.n_paths)
            excess[on] = ratio[on]
            score = tomography_scores(sc, bad, tested, excess)["score"]
            top = np.argsort(-score)[:5]
            suspects = [{"link": m.link_ids[int(i)], "score": round(float(score[i]), 4)} for i in top if score[i] > 0]
            base = self._probe_scan.baseline()
            for i in np.flatnonzero(change.fired).tolist():
                why = (f"probe {pid[i]} lost {lost[i]:.0f} of {sent[i]:.0f} packets this window, more over the last "
                       f"windows than its expected {100 * max(base[i], q_twin[i]):.2g} % explains ({_p_text(p[i])})"
                       + (f"; suspect link {suspects[0]['link']}" if suspects else ""))
                fired.append(Alert.open(network=net, entity_kind="path", entity_id=pid[i], kpi="probe_loss",
                                        start=snapshot.start, kind="degradation",
                                        observed=float(lost[i] / sent[i]) if np.isfinite(sent[i]) else None,
                                        expected=float(max(base[i], q_twin[i])), p_value=float(p[i]),
                                        suspects=suspects, explanation=why))
        if change_link.fired.any():
            sent_l, lost_l, exp_l = per_link(np.stack([sent, lost, sent * q0]), pl)
            if log_p_link is None:
                log_p_link = scan_log_p(per_link(sums[0], pl), per_link(sums[1], pl))
            for i in np.flatnonzero(change_link.fired).tolist():
                lid = m.link_ids[i]
                alike = [m.link_ids[j] for j in np.flatnonzero(pl.same_set == pl.same_set[i]).tolist() if j != i]
                why = (f"the {pl.probes[i]} probes crossing link {lid} lost {lost_l[i]:.0f} of {sent_l[i]:.0f} "
                       f"packets this window, more over the last windows than their expected "
                       f"{100 * exp_l[i] / sent_l[i]:.2g} % explains ({_p_text(p_link[i])})"
                       + (f"; the same probes cross {', '.join(alike[:3])}" if alike else ""))
                fired.append(Alert.open(network=net, entity_kind="link", entity_id=lid, kpi="probe_loss",
                                        start=snapshot.start, kind="degradation",
                                        observed=float(lost_l[i] / sent_l[i]), expected=float(exp_l[i] / sent_l[i]),
                                        p_value=float(p_link[i]),
                                        suspects=_pooled_suspects(m.link_ids, i, alike, p_link, log_p_link),
                                        explanation=why))
        resolved = [(net, "path", pid[i], "probe_loss") for i in np.flatnonzero(change.resolved).tolist()]
        resolved += [(net, "link", m.link_ids[i], "probe_loss") for i in np.flatnonzero(change_link.resolved).tolist()]
        return fired, resolved

    def _recent_alerts(self, fired: list[Alert], kind: str, recent: float) -> list[Alert]:
        """This network's ``kind`` alerts that fired this window (``fired``) or are open and began at or after
        ``recent`` (epoch s)."""
        net = self.model.name
        return [a for a in fired if a.kind == kind] + [
            a for a in self.book.open_alerts if a.kind == kind and a.network == net and a.start >= recent]

    def _near_links_down(self, fired: list[Alert], recent: float) -> np.ndarray | None:
        """``(N,)`` bool: the routers within one hop of a link the telemetry reports down (its ``link_state``
        alert fired this window or is open and began after ``recent``), or None when there is none."""
        m = self.model
        lids = {a.entity_id for a in self._recent_alerts(fired, "link_state", recent) if a.kpi == "oper_status"}
        if not lids:
            return None
        down = np.isin(np.asarray(m.link_ids, dtype=object), np.asarray(sorted(lids), dtype=object))
        ends = np.zeros(len(m.node_names), dtype=bool)
        ends[m.link_src[down]] = True
        ends[m.link_dst[down]] = True
        return self._one_hop(ends)

    def _one_hop(self, nodes: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: the routers ``nodes`` marks and their neighbours (one link away, either direction)."""
        m = self.model
        near = np.asarray(nodes, dtype=bool).copy()
        near[m.link_dst[nodes[m.link_src]]] = True
        near[m.link_src[nodes[m.link_dst]]] = True
        return near

    def _silent_exporters(self, snapshot: WindowSnapshot, tm: Any, tx_bps: np.ndarray, silent: np.ndarray
                          ) -> tuple[list[Alert], list[tuple[str, str, str, str]], np.ndarray]:
        """Flow exporters gone silent: ``(fired, resolved, quiet)``, ``quiet`` ``(N,)`` bool the silent routers.

        On a flow-measured window, a router that exported on the last :data:`EXPORT_ESTABLISHED` of them and has
        no flow row on this one, while its device is heard and its links carry traffic, is silent: the matrix
        takes its traffic from the counters, and, with no flow prior left for its row, moves part of it onto its
        neighbours, so the per-router traffic tests of it and of its neighbours take no score while it is silent
        (the caller holds them). On the second such window in a row a ``traffic_anomaly`` on ``flow_export_bps``
        names it; its records back resolve it. Other windows change nothing."""
        m, net, names = self.model, self.model.name, self.model.node_names
        known = set(names)
        for memo in (self._exports, self._export_missing):  # restored onto an edited model: forget the others
            for name in [k for k in memo if k not in known]:
                del memo[name]
        fired: list[Alert] = []
        resolved: list[tuple[str, str, str, str]] = []
        rows = flow_rows(tm)
        if snapshot.measured_traffic is not None and rows.any():
            egress = np.bincount(m.link_src, weights=np.where(np.isfinite(tx_bps), tx_bps, 0.0), minlength=len(names))
            for i in np.flatnonzero(rows).tolist():
                self._exports[names[i]] = self._exports.get(names[i], 0) + 1
                if self._export_missing.pop(names[i], 0) >= 2:
                    resolved.append((net, "node", names[i], "flow_export_bps"))
            for i in np.flatnonzero(~rows).tolist():
                name = names[i]
                if self._exports.get(name, 0) < EXPORT_ESTABLISHED:
                    self._exports.pop(name, None)
                    continue
                if silent[i] or not egress[i] > 0:
                    continue  # a device not heard, or idle: nothing to say about its export
                k = self._export_missing[name] = self._export_missing.get(name, 0) + 1
                if k == 2:
                    sus = ranked_links(m.link_src, i, tx_bps, list(m.link_ids))
                    fired.append(Alert.open(
                        network=net, entity_kind="node", entity_id=name, kpi="flow_export_bps", start=snapshot.start,
                        kind="traffic_anomaly", observed=0.0, expected=float(egress[i]), suspects=sus,
                        explanation=f"{name} exported no flow records on the last {k} exports (it did on the "
                                    f"{self._exports[name]} before) while its links carry {egress[i] / 1e9:.3g} "
                                    f"Gb/s: its flow export stopped (exporter, collector or sampling settings?); "
                                    f"the twin takes its traffic from the link counters meanwhile"))
        quiet = np.isin(np.asarray(names, dtype=object), np.asarray(sorted(self._export_missing), dtype=object))
        return fired, resolved, quiet

    def _traffic(self, snapshot: WindowSnapshot, tx_bps: np.ndarray, hold: bool = False,
                 held_nodes: np.ndarray | None = None) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``traffic_anomaly`` alerts of the matrix itself (:mod:`twinwatch.detectors.traffic`); ``hold``: the
        matrix is not to be trusted this window (a network fault is open or recent), nothing new fires;
        ``held_nodes`` ``(N,)`` bool: routers whose per-router tests take no score this window (near a link down)."""
        m = self.model
        tm = snapshot.traffic if snapshot.measured_traffic is None else snapshot.measured_traffic
        net, names = m.name, m.node_names
        silent = np.isin(np.asarray(names, dtype=object), np.asarray(snapshot.completeness.silent_devices,
                                                                       dtype=object))
        held = np.zeros(len(names), dtype=bool) if held_nodes is None else held_nodes
        # 0. routers whose flow export went silent: named, and their neighbourhood's tests held meanwhile
        fired, resolved, quiet = self._silent_exporters(snapshot, tm, tx_bps, silent)
        quiet_near = self._one_hop(quiet) if quiet.any() else quiet
        held = held | quiet_near
        # 1. traffic towards each node against its own recent history
        dest = destination_bps(tm)
        res = np.where((dest > 0) & ~held, np.log(np.maximum(dest, 1.0)), np.nan)
        p, _, change = self._step(self._node["ingress_bps"], res, hold=hold,
                                  regime=int(snapshot.measured_traffic is not None))
        if change.active.any():
            self._surge_window = self.windows
        for i in np.flatnonzero(change.fired).tolist():
            sus = ranked_links(m.link_dst, i, tx_bps, list(m.link_ids))
            fired.append(Alert.open(
                network=net, entity_kind="node", entity_id=names[i], kpi="ingress_bps", start=snapshot.start,
                kind="traffic_anomaly", observed=float(dest[i]), p_value=float(p[i]), suspects=sus,
                explanation=f"traffic towards {names[i]} {dest[i] / 1e9:.3g} Gb/s, unusual against its recent "
                            f"windows ({_p_text(p[i])}): a surge (flash crowd, DDoS?)"
                            + (f"; busiest ingress link {sus[0]['link']}" if sus else "")))
        resolved += [(net, "node", names[i], "ingress_bps") for i in np.flatnonzero(change.resolved).tolist()]
        # 2. flow records against counters: a router's flow row vs its counter-estimated row
        origin = origin_bps(tm)
        rows = flow_rows(tm)
        ref = self._counter_ref.reference()
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.where(rows & ~silent & (ref > 0) & ~held,
                           np.log(np.maximum(origin, 1.0) / ref), np.nan)
        p, _, change = self._step(self._node["flow_export_bps"], res, hold=hold)
        # counter-estimated rows (no flow row this window) keep the reference current, but not near a silent
        # exporter (its traffic is misattributed there)
        self._counter_ref.update(origin, mask=~rows & ~silent & (origin > 0) & ~quiet_near)
        for i in np.flatnonzero(change.fired).tolist():
            sus = ranked_links(m.link_src, i, tx_bps, list(m.link_ids))
            fired.append(Alert.open(
                network=net, entity_kind="node", entity_id=names[i], kpi="flow_export_bps", start=snapshot.start,
                kind="traffic_anomaly", observed=float(origin[i]), expected=float(ref[i]), p_value=float(p[i]),
                suspects=sus,
                explanation=f"{names[i]}'s flow records account for {origin[i] / 1e9:.3g} Gb/s, its link counters "
                            f"for {ref[i] / 1e9:.3g} Gb/s ({_p_text(p[i])}): traffic the flow export does not see"))
        resolved += [(net, "node", names[i], "flow_export_bps") for i in np.flatnonzero(change.resolved).tolist()]
        return fired, resolved

    def _routing(self, snapshot: WindowSnapshot, tx_bps: np.ndarray,
                 sound: np.ndarray) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
        """``routed_bps`` degradations: links carrying less than the flows routed there (flow-measured windows, and
        the ``routed_carry_windows`` windows after each against its routed loads, :class:`RoutedReference`)."""
        m = self.model
        cap = m.link_capacity_bps
        net = m.name
        measured = snapshot.measured_link_bps is not None
        routed = self._routed_ref.update(self.windows, snapshot.measured_link_bps, snapshot.routing_version)
        routed_sd = self._routed_sd_ref.update(self.windows, snapshot.measured_link_sd_bps, snapshot.routing_version)
        # counters reset, wrapped or with a gap this window or the last: their rate spans the gap, not traffic
        ms = snapshot.measurements
        reset = np.asarray(ms.entity_id[(ms.flags != 0) & (ms.entity_kind == "link")], dtype=object)
        flagged = np.isin(self._link_ids, np.unique(reset))
        sound = sound & self._routed_ref.settled(np.isfinite(tx_bps) & ~flagged)
        age = self._routed_ref.age(self.windows)
        when = "this window's flow records" if measured else f"the flow records of {age} window(s) ago"
        with np.errstate(invalid="ignore", divide="ignore"):
            res = np.where(sound & np.isfinite(tx_bps), (tx_bps - routed) / cap, np.nan)
            # a load estimated from a few sampled packets is uncertain by about itself: no link's residual is
            # judged on a scale finer than its routed load's sampling error (traffic-matrix uncertainty, item 1)
            floor = np.nan_to_num(routed_sd / cap, nan=0.0, posinf=0.0)
        st = self._link["routed_bps"]
        if measured:
            if self._flow_window > -(1 << 61):
                # the median of the recent gaps, not the last: an exporter outage's one long gap must not hold
                # this test for as long after every later surge
                self._flow_gaps.append(self.windows - self._flow_window)
            self._flow_window = self.windows
        # a surge open within the span of the export the routed loads come from, or since: they hold its traffic
        surge = self.windows - self._surge_window <= self._flow_span + self._routed_ref.carry
        # links read below their routed loads, but the traffic they lost is on no other link: it fell (a surge
        # ended since the export), it did not move. Nothing fires or is learned this window.
        hold = self.windows > self.warmup and (surge or (
            bool(reject(st.cal.p_values(res, min_scale=floor), st.level, self.method).any())
            and not rerouted(tx_bps, routed, np.isfinite(res), share=self.reroute_share)))
        p, _, change = self._step(st, res, learn=sound, hold=hold, min_scale=floor)
        fired = [Alert.open(network=net, entity_kind="link", entity_id=m.link_ids[i], kpi="routed_bps",
                            start=snapshot.start, kind="degradation", observed=float(tx_bps[i]),
                            expected=float(routed[i]), p_value=float(p[i]),
                            suspects=[{"link": m.link_ids[i], "score": 1.0}],
                            explanation=f"link {m.link_ids[i]} carries {tx_bps[i] / 1e9:.3g} Gb/s, {when} routed on "
                                        f"the model put {routed[i] / 1e9:.3g} Gb/s there ({_p_text(p[i])}): "
                                        f"routing differs from the model (IGP metric or policy change?)")
                 for i in np.flatnonzero(change.fired).tolist()]
        return fired, [(net, "link", m.link_ids[i], "routed_bps") for i in np.flatnonzero(change.resolved).tolist()]
