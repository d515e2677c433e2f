"""A link whose router reports another IGP metric than the network model's (a cost-out, a typo): a ``link_state``
alert on ``igp_metric``, and the twin routes with the reported metric, so the traffic it moved is expected where it
went."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.detectors._testbed_replay import replay_testbed
from tests.unit.detectors.test_capacity_alert import T0, _model, detect_windows
from twinwatch.detectors.twin_detector import TwinDetector
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

DEMANDS = {(0, 1): 3e9, (0, 2): 1e9, (1, 2): 1e9, (2, 0): 1.5e9, (1, 0): 5e8, (2, 1): 8e8}
"""Traffic of the triangle a, b, c (node numbers; bit/s)."""


def _window(b: SnapshotBuilder, w: int, rng: np.random.Generator, moved: bool,
            metric: dict[str, float]) -> WindowSnapshot:
    """Window ``w`` of the triangle, every link's counters as the traffic is really routed (``moved``: a -> b at a
    high metric, so a's traffic to b goes through c), and the ``igp_metric`` rows ``metric`` (link id → metric)."""
    m = b.model
    tm = np.zeros((3, 3, 3))
    for (s, d), r in DEMANDS.items():
        tm[0, s, d] = r * rng.lognormal(0.0, 0.02)
    load = {lid: float(tm[0, s, d]) for lid, s, d in zip(m.link_ids, m.link_src, m.link_dst, strict=True)}
    if moved:
        detour = load.pop("a->b")
        load["a->b"] = 0.0
        load["a->c"] += detour
        load["c->b"] += detour
    ids, kpis, vals = [], [], []
    for lid, bps in load.items():
        for kpi, v in (("tx_bps", bps), ("rx_bps", bps), ("tx_pps", bps / 8000), ("rx_pps", bps / 8000),
                       ("utilization", bps / m.link_capacity_bps[m.link_index[lid]])):
            ids.append(lid), kpis.append(kpi), vals.append(v)
    for lid, v in metric.items():
        ids.append(lid), kpis.append("igp_metric"), vals.append(v)
    t0 = T0 + 10.0 * w
    rows = {"ts": [t0 + 0.5] * len(ids), "entity_kind": ["link"] * len(ids), "entity_id": ids, "kpi": kpis,
            "value": vals}
    return b.build(t0, t0 + 10.0, rows, traffic=TrafficMatrix.build(tm, start=t0, end=t0 + 10.0,
                                                                        source=Source.COUNTERS))


def _run(det: TwinDetector, b: SnapshotBuilder, windows: range, moved: set[int],
         metric_at: dict[int, dict[str, float]], seed: int = 3) -> list[tuple[int, str, object]]:
    return detect_windows(det, windows, lambda w, rng: _window(b, w, rng, w in moved, metric_at.get(w, {})), seed)


def test_a_cost_out_opens_one_link_state_alert_the_twin_expects_the_detour_and_it_resolves_when_back() -> None:
    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    moved = set(range(20, 30))
    metric = {20: {"a->b": 1000.0}, 30: {"a->b": 10.0}}  # on change only: held in between
    changes = _run(det, b, range(40), moved, metric)
    igp = [(w, action, a) for w, action, a in changes if a.kpi == "igp_metric"]
    assert [(w, action, a.entity_id) for w, action, a in igp] == [(20, "firing", "a->b"), (30, "resolved", "a->b")]
    alert = igp[0][2]
    assert alert.kind == "link_state" and alert.severity != "critical"
    assert (alert.observed, alert.expected) == (1000.0, 10.0)
    assert "IGP metric 1000 against 10" in alert.explanation and "traffic moved off it" in alert.explanation
    # the detour is what the twin routes: no network fault for it
    assert not [a for _, action, a in changes if action == "firing" and a.kind != "link_state"]
    util = det.last.link["utilization"]  # type: ignore[attr-defined]
    assert np.isfinite(util["expected"]).all()


def test_the_same_detour_without_the_report_is_only_seen_in_what_it_does() -> None:
    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    changes = _run(det, b, range(30), set(range(20, 30)), {})
    assert not [a for _, _, a in changes if a.kpi == "igp_metric"]
    ac = m.link_index["a->c"]
    util = det.last.link["utilization"]  # type: ignore[attr-defined]
    assert util["observed"][ac] == pytest.approx(0.4, rel=0.06)  # 1 + 3 Gb/s of 10 on a->c ...
    assert util["expected"][ac] < 0.6 * util["observed"][ac]  # ... where the model's routing expects 1 Gb/s


def test_at_the_model_metric_or_without_reports_nothing_fires_and_a_restart_keeps_the_alert() -> None:
    from twinwatch.stream.state import _detector_parts, _detector_restore

    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    assert not [a for _, _, a in _run(det, b, range(10), set(), {5: {"a->b": 10.0, "b->c": 10.0}})
                if a.kpi == "igp_metric"]
    changes = _run(det, b, range(10, 14), set(range(12, 14)), {12: {"a->b": 1000.0}})
    assert [(w, action) for w, action, a in changes if a.kpi == "igp_metric"] == [(12, "firing")]
    parts, scalars = _detector_parts(det)
    fresh = TwinDetector(m, alpha=0.01)
    _detector_restore(fresh, parts, scalars, "test")
    assert fresh._rerouted == {"a->b": 1000.0}
    again = _run(fresh, b, range(14, 16), set(range(14, 16)), {14: {"a->b": 1000.0}})
    assert not [a for _, _, a in again if a.kpi == "igp_metric"]
    back = _run(fresh, b, range(16, 18), set(), {16: {"a->b": 10.0}})
    assert [(w, action) for w, action, a in back if a.kpi == "igp_metric"] == [(16, "resolved")]


def test_an_auto_cost_link_may_report_the_cost_of_either_capacity() -> None:
    from tests.unit.twin._diamond import W, build, diamond

    m = diamond(metric=None)  # auto-cost: 100 per 1 Gb/s link; 200 at the 0.5 Gb/s a LAG member lost leaves
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    qt = QueueingModel()
    half = [(1.0, "a->b", "speed_bps", 5e8), (1.0, "a->b", "rx_speed_bps", 5e8)]
    fired = []
    for k, igp in enumerate((100.0, 200.0, 300.0)):
        snap = build(b, k, [*((k * W + t, lid, kpi, v) for t, lid, kpi, v in half),
                            (k * W + 1.0, "a->b", "igp_metric", igp)])
        fired += [(k, c.alert.kpi) for c in det.detect(snap, qt.predict(snap.scenario)).changes
                  if c.action == "firing" and c.alert.kpi == "igp_metric"]
    assert fired == [(2, "igp_metric")]  # not re-costed (100), re-costed (200): as configured; 300: changed


@pytest.mark.slow
@pytest.mark.parametrize("report", [True, False])
def test_a_metric_change_on_the_network_under_test_is_named_from_the_routers_report(tmp_path: Path,
                                                                                    report: bool) -> None:
    """The testbed's metric change (one link's IS-IS metric × 10) on Abilene, through the adapters and the service's
    pipeline: with the routers' metric in the telemetry, a ``link_state`` alert on ``igp_metric`` names the link in
    the fault's first window and resolves after it, and the ``twinwatch.expected`` records say what the twin routed
    with; without, no such alert."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig

    link = "KSCYng->IPLSng"
    plan = [Fault(kind="metric_change", start_s=300.0, end_s=400.0, entities=(link,), magnitude=10.0)]
    out, t0 = replay_testbed(tmp_path, plan, TestbedConfig(duration_s=500.0, window_s=10.0, seed=9,
                                                           malformed_fraction=0.0, report_igp_metric=report))
    assert not out.dead_letters
    igp = [(c.action, c.alert) for c in out.changes if c.alert.kpi == "igp_metric"]
    if not report:
        assert igp == []
        return
    model = load_network(str(tmp_path / "network.yaml"))
    lk = model.link_index[link]
    m = float(model.link_metric[lk])
    assert [(action, a.entity_id) for action, a in igp] == [("firing", link), ("resolved", link)]
    fired, resolved = igp[0][1], igp[1][1]
    assert fired.kind == "link_state" and abs(fired.start - (t0 + 300.0)) <= 10.0
    assert (fired.observed, fired.expected) == (10 * m, m)
    assert t0 + 400.0 <= resolved.end <= t0 + 420.0
    during = [r for r in out.expected if t0 + 310.0 <= r["window_start"] < t0 + 390.0]
    assert during and all(r["igp_metric"]["twin"][lk] == 10 * m and r["igp_metric"]["model"][lk] == m
                          for r in during)
