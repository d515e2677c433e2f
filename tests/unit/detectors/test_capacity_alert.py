"""A link whose ports report less than its model capacity (a LAG that lost a member): a ``link_state`` alert on
``speed_bps``, and the link tests read the link against the reported capacity the twin predicts with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.unit.detectors._testbed_replay import replay_testbed
from twinwatch.detectors.twin_detector import CAPACITY_ALERT_FRACTION, TwinDetector
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.netmodel import NetworkModel, model_from_dict
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

T0 = 1.7e9


def _model() -> NetworkModel:
    doc = {"version": 1, "name": "tri", "devices": [{"name": n} for n in "abc"],
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "10G", "delay_s": 0.005, "metric": 10} for x, y in ("ab", "bc", "ca")]}
    return model_from_dict(doc, source="tri")


def _window(b: SnapshotBuilder, w: int, rng: np.random.Generator, speed: dict[str, float]) -> WindowSnapshot:
    """Window ``w`` of the triangle: every link's counters (a->b carries 3 Gb/s), and the speed rows ``speed``
    (link id → bit/s, reported by both ends)."""
    m = b.model
    tm = np.zeros((3, 3, 3))
    for (s, d), r in {(0, 1): 3e9, (0, 2): 1e9, (1, 2): 1e9, (2, 0): 1.5e9, (1, 0): 5e8, (2, 1): 8e8}.items():
        tm[0, s, d] = r * rng.lognormal(0.0, 0.02)
    ids, kpis, vals = [], [], []
    for lid, s, d in zip(m.link_ids, m.link_src, m.link_dst, strict=True):
        bps = float(tm[0, s, d])
        for kpi, v in (("tx_bps", bps), ("rx_bps", bps), ("tx_pps", bps / 8000), ("rx_pps", bps / 8000),
                       ("utilization", bps / m.link_capacity_bps[m.link_index[lid]])):
            ids.append(lid), kpis.append(kpi), vals.append(v)
    for lid, v in speed.items():
        ids += [lid, lid]
        kpis += ["speed_bps", "rx_speed_bps"]
        vals += [v, v]
    t0 = T0 + 10.0 * w
    rows = {"ts": [t0 + 0.5] * len(ids), "entity_kind": ["link"] * len(ids), "entity_id": ids, "kpi": kpis,
            "value": vals}
    return b.build(t0, t0 + 10.0, rows, traffic=TrafficMatrix.build(tm, start=t0, end=t0 + 10.0,
                                                                        source=Source.COUNTERS))


def detect_windows(det: TwinDetector, windows: range,
                   snapshot_of: Callable[[int, np.random.Generator], WindowSnapshot],
                   seed: int = 3) -> list[tuple[int, str, object]]:
    """``(window, action, alert)`` of every alert change of ``det`` over the windows ``snapshot_of`` builds, with
    the queueing-theory twin; the last detection is kept in ``det.last``."""
    rng = np.random.default_rng(seed)
    qt = QueueingModel()
    out = []
    for w in windows:
        snap = snapshot_of(w, rng)
        res = det.detect(snap, qt.predict(snap.scenario))
        out += [(w, c.action, c.alert) for c in res.changes]
        det.last = res  # type: ignore[attr-defined]
    return out


def _run(det: TwinDetector, b: SnapshotBuilder, windows: range, speed_at: dict[int, dict[str, float]],
         seed: int = 3) -> list[tuple[int, str, object]]:
    return detect_windows(det, windows, lambda w, rng: _window(b, w, rng, speed_at.get(w, {})), seed)


def test_a_lag_that_lost_a_member_opens_one_link_state_alert_and_resolves_when_it_is_back() -> None:
    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    half = {w: {"a->b": 5e9} for w in range(20, 30)}
    full = {w: {"a->b": 10e9} for w in range(30, 40)}
    changes = _run(det, b, range(40), {**half, **full})
    cap = [(w, action, a) for w, action, a in changes if a.kpi == "speed_bps"]
    assert [(w, action, a.entity_id) for w, action, a in cap] == [(20, "firing", "a->b"), (30, "resolved", "a->b")]
    alert = cap[0][2]
    assert alert.kind == "link_state" and alert.severity != "critical"
    assert (alert.observed, alert.expected) == (5e9, 10e9)
    assert "a->b reports 5 Gb/s against 10 Gb/s" in alert.explanation and "50%" in alert.explanation
    # no network fault on the degraded link: the twin predicts with 5 Gb/s, so 3 Gb/s on it is 60 % as expected
    assert not [a for _, action, a in changes if action == "firing" and a.kind == "degradation"]


def test_the_link_tests_read_utilisation_against_the_reported_capacity() -> None:
    m = _model()
    ab = m.link_index["a->b"]
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    _run(det, b, range(3), {2: {"a->b": 5e9}})
    util = det.last.link["utilization"]  # type: ignore[attr-defined]
    assert util["observed"][ab] == pytest.approx(0.6, rel=0.06)  # 3 Gb/s of 5 Gb/s, not of the model's 10
    assert util["expected"][ab] == pytest.approx(util["observed"][ab], rel=0.06)
    other = m.link_index["b->c"]
    assert util["observed"][other] == pytest.approx(0.1, rel=0.06)


def test_without_speed_reports_or_at_the_model_capacity_nothing_fires() -> None:
    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    at_model = {w: {"a->b": 10e9, "b->c": 40e9} for w in range(10, 20)}
    just_below = {w: {"c->a": CAPACITY_ALERT_FRACTION * 10e9 * 1.001} for w in range(20, 25)}
    changes = _run(det, b, range(25), {**at_model, **just_below})
    assert not [a for _, _, a in changes if a.kpi == "speed_bps"]


def test_silence_keeps_the_alert_open_and_a_restart_does_not_open_it_again() -> None:
    from twinwatch.stream.state import _detector_parts, _detector_restore

    m = _model()
    b, det = SnapshotBuilder(m), TwinDetector(m, alpha=0.01)
    changes = _run(det, b, range(12), {10: {"b->c": 2.5e9}})
    assert [(w, action) for w, action, a in changes if a.kpi == "speed_bps"] == [(10, "firing")]
    parts, scalars = _detector_parts(det)
    fresh = TwinDetector(m, alpha=0.01)
    _detector_restore(fresh, parts, scalars, "test")
    assert fresh._slow == {"b->c": 2.5e9}
    # the builder remembers the speed (hold), the restored detector its open alert: nothing fires again
    again = _run(fresh, b, range(12, 16), {14: {"b->c": 2.5e9}})
    assert not [a for _, _, a in again if a.kpi == "speed_bps"]
    back = _run(fresh, b, range(16, 18), {16: {"b->c": 10e9}})
    assert [(w, action) for w, action, a in back if a.kpi == "speed_bps"] == [(16, "resolved")]


@pytest.mark.slow
@pytest.mark.parametrize("report_speed", [True, False])
def test_a_lag_member_lost_on_the_network_under_test_is_named_from_the_ports_speed(tmp_path: Path,
                                                                                   report_speed: bool) -> None:
    """The testbed's capacity degradation (a LAG member lost: half the capacity) on Abilene, through the adapters
    and the service's pipeline: with the ports' speed in the telemetry, a ``link_state`` alert on ``speed_bps``
    names the cable in the fault's first window and resolves after it; without, no such alert."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig

    plan = [Fault(kind="capacity_degradation", start_s=300.0, end_s=400.0, entities=("KSCYng->IPLSng",))]
    out, t0 = replay_testbed(tmp_path, plan, TestbedConfig(duration_s=500.0, window_s=10.0, seed=9,
                                                           malformed_fraction=0.0, report_speed=report_speed))
    speed = [(c.action, c.alert) for c in out.changes if c.alert.kpi == "speed_bps"]
    if not report_speed:
        assert speed == []
        return
    fired = [a for action, a in speed if action == "firing"]
    resolved = [a for action, a in speed if action == "resolved"]
    assert {a.entity_id for a in fired} == {"KSCYng->IPLSng", "IPLSng->KSCYng"}
    assert all(a.kind == "link_state" and abs(a.start - (t0 + 300.0)) <= 10.0 for a in fired)
    assert all(a.observed == pytest.approx(0.5 * a.expected) for a in fired)
    assert {a.entity_id for a in resolved} == {a.entity_id for a in fired}
    assert all(t0 + 400.0 <= a.end <= t0 + 420.0 for a in resolved)
    # the twinwatch.expected records say which capacity the twin predicted with
    model = load_network(str(tmp_path / "network.yaml"))
    lk = model.link_index["KSCYng->IPLSng"]
    during = [r for r in out.expected if t0 + 310.0 <= r["window_start"] < t0 + 390.0]
    assert during and all(r["capacity_bps"]["twin"][lk] == 0.5 * r["capacity_bps"]["model"][lk] for r in during)
