"""Operators' baselines: the per-window pivot, static thresholds, the series mode, and their Alert lines."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from twinwatch.detectors.alerts import alert_id
from twinwatch.detectors.baselines import RunSeries, StaticThresholds, flags_to_alert_lines, series_flags, static_flags
from twinwatch.detectors.scoring import score


def _rs(values: np.ndarray, kinds: list[str], ids: list[str], kpis: list[str], window_s: float = 10.0,
        t0: float = 1000.0) -> RunSeries:
    v = np.asarray(values, dtype=np.float64)
    return RunSeries("net", window_s, t0 + window_s * np.arange(v.shape[0]), np.array(kinds), np.array(ids),
                     np.array(kpis), v)


def test_pivot_means_per_window_and_drops_rows_outside_the_run() -> None:
    ts = np.array([0.0, 5.0, 9.9, 10.0, 25.0, 30.0, -1.0, 3.0, 4.0])
    kind = np.array(["link"] * 6 + ["link", "path", "node"])
    ent = np.array(["a->b"] * 6 + ["a->b", "1->2", "r1"])
    kpi = np.array(["utilization"] * 6 + ["utilization", "delay_s", "utilization"])
    val = np.array([0.1, 0.2, 0.6, 0.5, np.nan, 0.9, 7.0, 0.02, 1.0])
    rs = RunSeries.from_measurements("net", 10.0, 0.0, 3, ts, kind, ent, kpi, val)
    # window 0: mean(0.1, 0.2, 0.6) = 0.3; window 1: 0.5; window 2: only a NaN -> NaN; t=30 and t=-1 are outside;
    # the node row is not a kept (kind, KPI)
    got = {(k, e, q): rs.values[:, i].tolist() for i, (k, e, q) in
           enumerate(zip(rs.entity_kind.tolist(), rs.entity_id.tolist(), rs.kpi.tolist()))}
    assert got[("link", "a->b", "utilization")][:2] == pytest.approx([0.3, 0.5])
    assert np.isnan(got[("link", "a->b", "utilization")][2])
    assert got[("path", "1->2", "delay_s")][0] == 0.02 and len(got) == 2
    assert rs.ts.tolist() == [0.0, 10.0, 20.0]


def test_static_thresholds_by_hand() -> None:
    # 6 windows of 600 s: the first hour is windows 0..5; delay reference = median(1, 1, 1, 2, 2, 2) = 1.5
    util = [0.5, 0.8, 0.81, 0.5, 0.5, 0.5, 0.5, 0.5]
    drops = [0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0]
    loss = [0.0, 0.01, 0.011, 0.0, 0.0, 0.0, 0.0, 0.0]
    delay = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.2, 2.3]
    tx = [1e9] * 8  # no rule on tx_bps
    rs = _rs(np.array([util, drops, loss, delay, tx]).T, ["link", "link", "path", "path", "link"],
             ["a->b", "a->b", "1->2", "1->2", "a->b"], ["utilization", "drop_pps", "loss_ratio", "delay_s", "tx_bps"],
             window_s=600.0)
    flags, bounds = static_flags(rs)
    assert np.flatnonzero(flags[:, 0]).tolist() == [2]          # 0.8 is not above 0.8
    assert np.flatnonzero(flags[:, 1]).tolist() == [2]          # any drop
    assert np.flatnonzero(flags[:, 2]).tolist() == [2]          # loss above 1 %
    assert bounds[3, 1] == pytest.approx(2.25)                  # 1.5 x 1.5
    assert np.flatnonzero(flags[:, 3]).tolist() == [7]          # 2.3 > 2.25, 2.2 is not
    assert not flags[:, 4].any() and np.isnan(bounds[4, 1])
    stricter = static_flags(rs, StaticThresholds(utilization=0.75))[0]
    assert np.flatnonzero(stricter[:, 0]).tolist() == [1, 2]


def test_persistence_turns_flags_into_firing_and_resolved_lines() -> None:
    rs = _rs(np.ones((7, 2)), ["link", "path"], ["a->b", "1->2"], ["drop_pps", "loss_ratio"])
    flags = np.zeros((7, 2), dtype=bool)
    flags[[0, 2, 3], 0] = True   # 2 of 3 at window 2 -> fires at ts[2]; clean at 4, 5 -> resolves at the end of 5
    flags[[4, 5], 1] = True      # fires at ts[5]; never clean twice: stays open
    lines = [orjson.loads(x) for x in flags_to_alert_lines(rs, flags, k=2, m=3, r=2)]
    # within a window, resolutions are written before new firings
    assert [(x["entity_id"], x["status"], x["start"], x["end"]) for x in lines] == [
        ("a->b", "firing", 1020.0, None), ("a->b", "resolved", 1020.0, 1060.0), ("1->2", "firing", 1050.0, None)]
    assert lines[0]["id"] == alert_id("net", "link", "a->b", "drop_pps", 1020.0) == lines[1]["id"]
    assert lines[0]["kind"] == "degradation" and lines[0]["severity"] == "critical"
    assert lines[0]["suspects"] == [{"link": "a->b", "score": 1.0}] and lines[2]["suspects"] == []


def test_missing_windows_neither_confirm_nor_clear() -> None:
    vals = np.ones((6, 1))
    vals[3:, 0] = np.nan  # the device went silent after window 2
    rs = _rs(vals, ["link"], ["a->b"], ["utilization"])
    flags = np.array([[True], [True], [False], [False], [False], [False]])
    lines = [orjson.loads(x) for x in flags_to_alert_lines(rs, flags, k=2, m=3, r=2)]
    assert [x["status"] for x in lines] == ["firing"]  # one clean window, then no data: not resolved


def test_series_mode_flags_a_step_and_rarely_flags_noise() -> None:
    rng = np.random.default_rng(3)
    n_t, n_s = 600, 20
    y = 0.3 + 0.01 * rng.standard_normal((n_t, n_s))
    y[500:510, 0] += 0.2  # a 20-sigma step on series 0 for 10 windows
    rs = _rs(y, ["link"] * n_s, [f"l{i}" for i in range(n_s)], ["utilization"] * n_s)
    flags, p = series_flags(rs, alpha=0.01)
    assert flags[500:503, 0].all()
    noise = flags[100:500]  # after warm-up, before the step
    assert noise.mean() < 0.02  # per-series level 0.01 (the conformal p is conservative)
    assert np.isnan(p[0]).all()  # no history: not tested
    bh = series_flags(rs, alpha=0.01, method="bh")[0]
    assert not bh[100:500].any()


def test_static_alerts_scored_end_to_end() -> None:
    # a drop burst on a->b from window 21 during a queue_change label on a->b starting at window 20:
    # 2-of-3 persistence fires at window 22, so the delay is 2 windows; localised to a->b
    vals = np.zeros((60, 1))
    vals[21:26, 0] = 50.0
    rs = _rs(vals, ["link"], ["a->b"], ["drop_pps"], t0=0.0)
    flags, bounds = static_flags(rs)
    lines = [orjson.loads(x) for x in flags_to_alert_lines(rs, flags, bounds=bounds, detector="static")]
    lab = [{"kind": "queue_change", "start": 200.0, "end": 260.0, "entity_kind": "link", "entities": ["a->b"]}]
    r = score(lab, lines, window_s=10.0, n_entities=1, run_start=0.0, run_end=600.0)
    k = r.per_kind["queue_change"]
    assert (k.detected, k.delay_median_windows, k.top1, r.false_alarms) == (1, 2.0, 1.0, 0)
