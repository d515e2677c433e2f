"""Link capacity from telemetry in the snapshot: the ports' reported speed (``speed_bps`` / ``rx_speed_bps``).

The network is the diamond ``a - {b, c} - d`` of 1 Gb/s cables. A LAG that loses a member reports a lower speed;
the twin must then predict with it: the scenario's capacity is the lower of the model's and the reported one, a
link without a configured IGP metric takes the auto-cost of its new capacity (as routers do), and a reported speed
above the model's (a sub-rate service on a faster port) changes nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.twin._diamond import W, build, diamond, paths
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.netmodel import model_from_dict
from twinwatch.twin.snapshot import SPEED_KPIS, SnapshotBuilder


def test_a_lower_reported_speed_is_the_capacity_the_twin_predicts_with() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    base = build(b, 0, [])
    snap = build(b, 1, [(W + 0.0, "a->b", "speed_bps", 5e8), (W + 0.0, "a->b", "rx_speed_bps", 5e8)])
    ab = m.link_index["a->b"]
    assert snap.link_capacity_bps[ab] == 5e8 and snap.scenario.link_capacity_bps[ab] == 5e8
    assert np.isnan(np.delete(snap.link_speed_bps, ab)).all()
    assert np.array_equal(np.delete(snap.link_capacity_bps, ab), np.delete(m.link_capacity_bps, ab))
    assert np.array_equal(snap.model_capacity_bps, m.link_capacity_bps)
    # configured metrics: the routing stays (a -> d over both branches)
    assert snap.routing_version == base.routing_version
    # the twin sees the half-capacity link: twice the utilisation on it
    qt = QueueingModel()
    u0 = qt.predict(base.scenario).link_utilization[ab]
    u1 = qt.predict(snap.scenario).link_utilization[ab]
    assert u1 == pytest.approx(2 * u0)
    assert (snap.completeness.speed_ends_reported, snap.completeness.speed_ends_held) == (2, 0)


def test_a_higher_reported_speed_changes_nothing() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    snap = build(b, 0, [(1.0, "a->b", "speed_bps", 10e9), (1.0, "a->b", "rx_speed_bps", 10e9)])
    assert np.array_equal(snap.link_capacity_bps, m.link_capacity_bps)
    assert snap.link_speed_bps[m.link_index["a->b"]] == 10e9


def test_the_lower_end_wins_and_without_any_report_the_snapshot_is_as_before() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    snap = build(b, 0, [(1.0, "a->b", "speed_bps", 1e9), (1.0, "a->b", "rx_speed_bps", 7.5e8)])
    assert snap.link_capacity_bps[m.link_index["a->b"]] == 7.5e8
    quiet = build(SnapshotBuilder(m), 0, [])
    assert np.isnan(quiet.link_speed_bps).all() and np.array_equal(quiet.link_capacity_bps, m.link_capacity_bps)
    assert quiet.completeness.speed_ends_reported == 0


def test_a_report_holds_into_later_windows_and_a_window_takes_its_lowest_step() -> None:
    m = diamond()
    ab = m.link_index["a->b"]
    b = SnapshotBuilder(m)
    build(b, 0, [(5.0, "a->b", "speed_bps", 1e9)])
    held = build(b, 1, [])
    assert held.link_speed_bps[ab] == 1e9 and held.completeness.speed_ends_held == 1
    # the member goes at the middle of window 2: the window is degraded (as a link down for part of a window is
    # down for it)
    mid = build(b, 2, [(2 * W + W / 2, "a->b", "speed_bps", 5e8)])
    assert mid.link_speed_bps[ab] == 5e8
    assert build(b, 3, []).link_speed_bps[ab] == 5e8
    # back 0.4 s into window 4 (less than link_state_min_down_s of the old speed): the window is whole; a report
    # in the last 0.4 s of window 5 counts from window 6 on
    assert build(b, 4, [(4 * W + 0.4, "a->b", "speed_bps", 1e9)]).link_speed_bps[ab] == 1e9
    assert build(b, 5, [(6 * W - 0.4, "a->b", "speed_bps", 2e8)]).link_speed_bps[ab] == 1e9
    assert build(b, 6, []).link_speed_bps[ab] == 2e8
    # a hold limit: a report older than it is forgotten
    limited = SnapshotBuilder(m, link_state_hold_s=15.0)
    build(limited, 0, [(1.0, "a->b", "speed_bps", 5e8)])
    assert build(limited, 1, []).link_speed_bps[ab] == 5e8
    assert np.isnan(build(limited, 2, []).link_speed_bps[ab])


def test_an_auto_cost_link_moves_traffic_when_its_capacity_drops() -> None:
    # no metric configured: each 1 Gb/s link costs 100 (reference 100 Gb/s); a -> d has two equal-cost paths until
    # a -> b reports 0.5 Gb/s (cost 200): then only the path via c
    m = diamond(metric=None)
    assert m.link_metric_auto.all()
    b = SnapshotBuilder(m)
    assert paths(build(b, 0, []), m) == [["a", "b", "d"], ["a", "c", "d"]]
    snap = build(b, 1, [(W + 1.0, "a->b", "speed_bps", 5e8), (W + 1.0, "a->b", "rx_speed_bps", 5e8)])
    assert paths(snap, m) == [["a", "c", "d"]]
    # the member back: both paths again (the routing cache keeps both states apart)
    back = build(b, 2, [(2 * W + 0.5, "a->b", "speed_bps", 1e9), (2 * W + 0.5, "a->b", "rx_speed_bps", 1e9)])
    assert paths(back, m) == [["a", "b", "d"], ["a", "c", "d"]]


def test_rows_about_unknown_links_and_bad_values_are_left_out() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    snap = build(b, 0, [(1.0, "x->y", "speed_bps", 1e8), (1.0, "a->b", "speed_bps", 0.0),
                         (1.0, "a->c", "speed_bps", float("nan")), (1.0, "b->d", "rx_speed_bps", -5.0),
                         (1.0, "c->d", "speed_bps", 1e-300)])
    assert np.isnan(snap.link_speed_bps).all()
    assert np.array_equal(snap.link_capacity_bps, m.link_capacity_bps)
    assert SPEED_KPIS == ("speed_bps", "rx_speed_bps")


def test_the_builders_memory_of_each_link_end_survives_a_restart_and_a_model_edit() -> None:
    """A port's on-change reports (down, a LAG at half speed) are sent once: the service's checkpoint keeps what the
    builder remembers, by link id, so a restarted worker goes on with them; on an edited model a link it still has
    keeps them, a new one starts unreported."""
    m = diamond()
    b = SnapshotBuilder(m)
    build(b, 0, [(1.0, "a->b", "speed_bps", 5e8), (1.0, "a->b", "rx_speed_bps", 5e8),
                  (2.0, "c->d", "oper_status", 0.0)])
    mem = b.memory_arrays()
    fresh = SnapshotBuilder(m)
    assert fresh.load_memory_arrays(mem) == m.n_links
    later = build(fresh, 3, [])
    assert later.link_speed_bps[m.link_index["a->b"]] == 5e8 and "c->d" in later.links_down
    assert build(SnapshotBuilder(m), 3, []).links_down == ()  # without the memory: forgotten
    # the model edited: cable a-c retired, a new cable a-d
    doc_links = [("a", "b"), ("b", "d"), ("c", "d"), ("a", "d")]
    edited = model_from_dict({"version": 1, "name": "diamond", "devices": [{"name": x} for x in "abcd"],
                              "links": [{"a": {"device": x, "interface": f"to-{y}"},
                                         "b": {"device": y, "interface": f"to-{x}"}, "capacity_bps": "1G",
                                         "delay_s": 0.001, "metric": 10} for x, y in doc_links]}, source="diamond")
    moved = SnapshotBuilder(edited)
    assert moved.load_memory_arrays(mem) == 6  # a-b, b-d, c-d both ways; a-d is new
    snap = build(moved, 3, [])
    assert snap.link_speed_bps[edited.link_index["a->b"]] == 5e8 and "c->d" in snap.links_down
    assert np.isnan(snap.link_speed_bps[edited.link_index["a->d"]])
    with pytest.raises(ValueError, match="speed_ts"):
        fresh.load_memory_arrays({**mem, "speed_ts": mem["speed_ts"][:-1]})
    with pytest.raises(ValueError, match="no 'state_val'"):
        fresh.load_memory_arrays({k: v for k, v in mem.items() if k != "state_val"})
