"""Baselines an operator would otherwise run, on the same per-window series, emitting the same Alert lines.

The evaluation (``bench/detect_eval.py``) decodes a run's telemetry once into
a :class:`RunSeries` (one value per window and series: link
``utilization`` / ``tx_bps`` / ``drop_pps`` from the interface counters,
path ``delay_s`` / ``loss_ratio`` from the probes) and gives it to each
baseline; every baseline turns its per-window flags into
:class:`~detectors.alerts.Alert` JSON lines with the contract the twin's
alerts follow, so that :func:`twinwatch.detectors.scoring.score` scores them all the
same way.

Baselines
---------
Static thresholds (:func:`static_flags`, :class:`StaticThresholds`), the rules
an operator typically writes in Prometheus / a NMS:

===============  ==============================================================
series           flagged when
===============  ==============================================================
link utilization ``> 0.8`` (of the capacity in the inventory)
link drop_pps    ``> 0`` (any tx discard)
path loss_ratio  ``> 0.01`` (probe loss above 1 %)
path delay_s     ``> 1.5 ×`` the series' median over the first hour of the run
===============  ==============================================================

Twin-less series mode (:func:`series_flags`): the project's own streaming
seasonal forecaster with conformal p-values (:class:`twinwatch.detectors.series.SeriesDetector`)
per series, each series tested at ``alpha`` (or network-wide with
:func:`twinwatch.detectors.decision.reject`) — the twin detector's calibration and
decision stages without the twin.

Both go through the same k-of-m persistence with hysteresis as the twin
detector (:class:`twinwatch.detectors.decision.Persistence`, default 2 of 3 to fire, 2
clean windows to resolve), so the comparison isolates what decides a window
is anomalous. Alerts are ``degradation`` (a network fault); an alert on a
link names that link as its only suspect; a probe-pair alert names no
suspect (these baselines do not know the routing). An alert starts at the
start of the window that fires it and resolves at the end of the window that
resolves it.

Examples
--------
>>> import orjson
>>> ts = 1000.0 + 10.0 * np.arange(6)
>>> util = np.array([[0.5], [0.9], [0.95], [0.9], [0.5], [0.5]])
>>> rs = RunSeries("n", 10.0, ts, np.array(["link"]), np.array(["a->b"]), np.array(["utilization"]), util)
>>> flags, bounds = static_flags(rs)
>>> flags[:, 0].tolist()
[False, True, True, True, False, False]
>>> [(d["status"], d["start"], d["end"]) for d in map(orjson.loads, flags_to_alert_lines(rs, flags, bounds=bounds))]
[('firing', 1020.0, None), ('resolved', 1020.0, 1060.0)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.detectors.alerts import Alert
from twinwatch.detectors.decision import Persistence, reject
from twinwatch.detectors.series import DAY_S, SeriesDetector

__all__ = [
    "LINK_KPIS",
    "PATH_KPIS",
    "RunSeries",
    "StaticThresholds",
    "flags_to_alert_lines",
    "series_flags",
    "static_flags",
]

LINK_KPIS: tuple[str, ...] = ("utilization", "tx_bps", "drop_pps")
PATH_KPIS: tuple[str, ...] = ("delay_s", "loss_ratio")


@dataclass(frozen=True)
class RunSeries:
    """Per-window series of one run.

    ``ts`` ``(T,)``: window starts, epoch seconds, ``window_s`` apart; ``entity_kind``,
    ``entity_id``, ``kpi`` ``(S,)``: what each series is (Measurement names); ``values``
    ``(T, S)``: the window's mean value in SI units, NaN where the series has no sample.
    """

    network: str
    window_s: float
    ts: np.ndarray
    entity_kind: np.ndarray
    entity_id: np.ndarray
    kpi: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        t, s = self.ts.shape[0], self.entity_id.shape[0]
        if self.values.shape != (t, s) or self.entity_kind.shape != (s,) or self.kpi.shape != (s,):
            raise ValueError(f"RunSeries {self.network}: values {self.values.shape} != (T={t}, S={s}) or "
                             f"entity_kind/kpi not (S,)")

    @classmethod
    def from_measurements(cls, network: str, window_s: float, start: float, n_windows: int, ts: np.ndarray,
                          entity_kind: np.ndarray, entity_id: np.ndarray, kpi: np.ndarray, value: np.ndarray,
                          *, keep: dict[str, tuple[str, ...]] | None = None) -> RunSeries:
        """Pivot Measurement rows ``(n,)`` into per-window means (vectorised).

        Rows outside ``[start, start + n_windows × window_s)`` or with a non-finite value are dropped;
        ``keep`` maps an entity kind to the KPIs to keep (default: links :data:`LINK_KPIS`, paths
        :data:`PATH_KPIS`).

        >>> rs = RunSeries.from_measurements("n", 10.0, 0.0, 2, np.array([1.0, 4.0, 12.0, 3.0]),
        ...     np.array(["link"] * 4), np.array(["a->b", "a->b", "a->b", "b->a"]), np.array(["drop_pps"] * 4),
        ...     np.array([1.0, 3.0, 5.0, 7.0]))
        >>> rs.entity_id.tolist(), rs.values.tolist()
        (['a->b', 'b->a'], [[2.0, 7.0], [5.0, nan]])
        """
        keep = keep if keep is not None else {"link": LINK_KPIS, "path": PATH_KPIS}
        ts = np.asarray(ts, dtype=np.float64)
        value = np.asarray(value, dtype=np.float64)
        ek = np.asarray(entity_kind, dtype=object)
        kp = np.asarray(kpi, dtype=object)
        sel = np.zeros(ts.shape, dtype=bool)
        for kind, kpis in keep.items():
            sel |= (ek == kind) & np.isin(kp, np.asarray(kpis, dtype=object))
        w = np.floor((ts - start) / window_s)
        sel &= np.isfinite(value) & (w >= 0) & (w < n_windows)
        key = np.char.add(np.char.add(np.char.add(ek[sel].astype(str), "\x1f"),
                                      np.asarray(entity_id, dtype=object)[sel].astype(str)),
                          np.char.add("\x1f", kp[sel].astype(str)))
        uniq, col = np.unique(key, return_inverse=True)
        flat = w[sel].astype(np.int64) * uniq.size + col
        tot = np.bincount(flat, weights=value[sel], minlength=n_windows * uniq.size)
        cnt = np.bincount(flat, minlength=n_windows * uniq.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan).reshape(n_windows, uniq.size)
        parts = np.array([u.split("\x1f") for u in uniq.tolist()], dtype=object).reshape(-1, 3)
        return cls(network, float(window_s), start + window_s * np.arange(n_windows, dtype=np.float64),
                   parts[:, 0].astype(str), parts[:, 1].astype(str), parts[:, 2].astype(str), vals)

    def columns(self, entity_kind: str, kpi: str) -> np.ndarray:
        """Indices of the series of this entity kind and KPI."""
        return np.flatnonzero((self.entity_kind == entity_kind) & (self.kpi == kpi))


@dataclass(frozen=True)
class StaticThresholds:
    """Static rules (see the module docstring); ``baseline_s``: span of the delay reference, seconds."""

    utilization: float = 0.8
    drop_pps: float = 0.0
    loss_ratio: float = 0.01
    delay_factor: float = 1.5
    baseline_s: float = 3600.0


def static_flags(rs: RunSeries, th: StaticThresholds | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(flags (T, S) bool, bounds (S, 2))`` of the static thresholds; series without a rule are never flagged.

    ``bounds[:, 1]`` is each series' threshold (NaN: no rule), ``bounds[:, 0]`` is 0.
    """
    th = th or StaticThresholds()
    hi = np.full(rs.kpi.shape, np.nan)
    hi[rs.columns("link", "utilization")] = th.utilization
    hi[rs.columns("link", "drop_pps")] = th.drop_pps
    hi[rs.columns("path", "loss_ratio")] = th.loss_ratio
    d = rs.columns("path", "delay_s")
    if d.size:
        first = rs.ts < rs.ts[0] + th.baseline_s
        ref = rs.values[first][:, d]
        ok = np.isfinite(ref).any(axis=0)
        med = np.full(d.size, np.nan)
        med[ok] = np.nanmedian(ref[:, ok], axis=0)
        hi[d] = th.delay_factor * med
    with np.errstate(invalid="ignore"):
        flags = np.isfinite(hi)[None, :] & (rs.values > hi[None, :])
    return flags, np.stack([np.zeros_like(hi), hi], axis=1)


def series_flags(rs: RunSeries, *, alpha: float = 0.01, method: str = "none",
                 kpis: tuple[str, ...] = ("utilization", "drop_pps", "delay_s", "loss_ratio"),
                 period_s: float | None = DAY_S, slot_s: float = 900.0,
                 **detector: float) -> tuple[np.ndarray, np.ndarray]:
    """``(flags (T, S) bool, p_values (T, S))`` of the twin-less series mode.

    One :class:`~detectors.series.SeriesDetector` over the series whose KPI is in ``kpis``
    (online: window ``t`` uses windows ``< t``), p = 1 − score (NaN until the series has
    ``min_history`` rows). ``method="none"`` (default) flags each series at ``p < alpha``;
    ``"bh"`` / ``"holm"`` / ``"bonferroni"`` apply :func:`~detectors.decision.reject` over all the
    series of a window. Per-series is the default because a conformal p-value cannot be smaller
    than about ``1 / (n + 1)`` after ``n`` rows (plus the prior's weight): over a few hours of
    10-second windows BH at 0.01 over ~100 series (needing p ≲ 1e-4) never rejects anything.
    ``detector`` passes options to :class:`~detectors.series.SeriesDetector`.
    """
    cols = np.flatnonzero(np.isin(rs.kpi, np.asarray(kpis)))
    p = np.full(rs.values.shape, np.nan)
    flags = np.zeros(rs.values.shape, dtype=bool)
    if cols.size == 0:
        return flags, p
    det = SeriesDetector(cols.size, period_s=period_s, slot_s=slot_s, **detector)  # type: ignore[arg-type]
    y = rs.values[:, cols]
    hist = np.zeros(cols.size, dtype=np.int64)
    for t in range(rs.ts.size):
        row = y[t]
        s = det.step(np.full(cols.size, rs.ts[t]), row)
        obs = np.isfinite(row)
        hist += obs
        pt = np.where(obs & (hist > det.calibrator.min_history), 1.0 - s, np.nan)
        p[t, cols] = pt
        if method == "none":
            with np.errstate(invalid="ignore"):
                flags[t, cols] = pt < alpha
        else:
            flags[t, cols] = reject(pt, alpha, method)  # type: ignore[arg-type]
    return flags, p


def flags_to_alert_lines(rs: RunSeries, flags: np.ndarray, *, k: int = 2, m: int = 3, r: int = 2,
                         kind: str = "degradation", p_values: np.ndarray | None = None,
                         bounds: np.ndarray | None = None, detector: str = "baseline") -> list[str]:
    """Alert JSON lines (firing, then resolved) from ``(T, S)`` per-window flags, through k-of-m persistence.

    A series with no value in a window neither confirms nor clears it (``observed=False``).
    Alerts still firing after the last window stay open (no resolved line), as a live service's would.
    ``bounds`` ``(S, 2)`` and ``p_values`` ``(T, S)`` are copied into the alerts when given.
    """
    t_n, s_n = flags.shape
    if (t_n, s_n) != rs.values.shape:
        raise ValueError(f"flags_to_alert_lines: flags {flags.shape} != values {rs.values.shape}")
    pers = Persistence(s_n, k=k, m=m, r=r)
    observed = np.isfinite(rs.values)
    open_: dict[int, Alert] = {}
    out: list[str] = []
    for t in range(t_n):
        ch = pers.update(flags[t], observed[t])
        start, end = float(rs.ts[t]), float(rs.ts[t] + rs.window_s)
        for i in np.flatnonzero(ch.resolved).tolist():
            a = open_.pop(i, None)
            if a is not None:
                out.append(a.resolved(end).to_json())
        for i in np.flatnonzero(ch.fired).tolist():
            ent, kpi = str(rs.entity_id[i]), str(rs.kpi[i])
            obs = float(rs.values[t, i])
            b = None if bounds is None or not np.all(np.isfinite(bounds[i])) else (float(bounds[i, 0]),
                                                                                   float(bounds[i, 1]))
            pv = None if p_values is None or not np.isfinite(p_values[t, i]) else float(p_values[t, i])
            a = Alert.open(network=rs.network, entity_kind=str(rs.entity_kind[i]), entity_id=ent, kpi=kpi,
                           start=start, kind=kind, observed=obs, bounds=b, p_value=pv,
                           suspects=[{"link": ent, "score": 1.0}] if rs.entity_kind[i] == "link" else [],
                           explanation=f"{detector}: {kpi} {obs:.4g} on {rs.entity_kind[i]} {ent}"
                                       + (f" outside {b[0]:.4g}..{b[1]:.4g}" if b else ""))
            open_[i] = a
            out.append(a.to_json())
    return out
