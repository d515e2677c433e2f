"""Routing from telemetry in the snapshot: the IGP metric each link's source router reports (``igp_metric``).

The network is the diamond ``a - {b, c} - d`` of 1 Gb/s cables at metric 10: ``a -> d`` takes both branches (ECMP).
A router that reports a higher metric on ``a -> b`` (a cost-out) moves that traffic onto the branch via ``c``; the
twin must route with what the routers report, and without any report the snapshot is the model's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.twin._diamond import T0, W, build, diamond, paths
from twinwatch.twin.snapshot import IGP_METRIC_KPI, MAX_IGP_METRIC, SnapshotBuilder


def test_a_reported_metric_is_what_the_twin_routes_with_and_the_model_metric_stays_beside_it() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    base = build(b, 0, [])
    assert paths(base, m) == [["a", "b", "d"], ["a", "c", "d"]]
    assert np.isnan(base.link_igp_metric).all() and np.array_equal(base.model_metric, m.link_metric)
    snap = build(b, 1, [(W + 0.5, "a->b", IGP_METRIC_KPI, 100.0)])
    ab = m.link_index["a->b"]
    assert paths(snap, m) == [["a", "c", "d"]]
    assert snap.link_igp_metric[ab] == 100.0 and np.isnan(np.delete(snap.link_igp_metric, ab)).all()
    assert snap.model_metric[ab] == 10.0
    assert (snap.completeness.igp_links_reported, snap.completeness.igp_links_held) == (1, 0)
    # the report holds; the metric back: both branches again (the routing cache keeps the two apart)
    held = build(b, 2, [])
    assert paths(held, m) == [["a", "c", "d"]] and held.completeness.igp_links_held == 1
    back = build(b, 3, [(3 * W + 0.5, "a->b", IGP_METRIC_KPI, 10.0)])
    assert paths(back, m) == [["a", "b", "d"], ["a", "c", "d"]] and back.routing_version == base.routing_version


def test_a_window_takes_its_latest_report_held_one_second_and_a_last_instant_one_counts_from_the_next() -> None:
    m = diamond()
    ab = m.link_index["a->b"]
    b = SnapshotBuilder(m)
    snap = build(b, 0, [(2.0, "a->b", IGP_METRIC_KPI, 50.0), (6.0, "a->b", IGP_METRIC_KPI, 70.0)])
    assert snap.link_igp_metric[ab] == 70.0
    # reported 0.4 s before the window's end: the window keeps 70, the next takes 90
    assert build(b, 1, [(2 * W - 0.4, "a->b", IGP_METRIC_KPI, 90.0)]).link_igp_metric[ab] == 70.0
    assert build(b, 2, []).link_igp_metric[ab] == 90.0
    # a hold limit: a report older than it is forgotten
    limited = SnapshotBuilder(m, link_state_hold_s=15.0)
    build(limited, 0, [(1.0, "a->b", IGP_METRIC_KPI, 50.0)])
    assert build(limited, 1, []).link_igp_metric[ab] == 50.0
    assert np.isnan(build(limited, 2, []).link_igp_metric[ab])


def test_a_reported_metric_outranks_the_auto_cost_of_a_reported_speed() -> None:
    m = diamond(metric=None)  # auto-cost: 100 per 1 Gb/s link
    b = SnapshotBuilder(m)
    ab = m.link_index["a->b"]
    snap = build(b, 0, [(1.0, "a->b", "speed_bps", 5e8), (1.0, "a->b", "rx_speed_bps", 5e8)])
    assert paths(snap, m) == [["a", "c", "d"]] and snap.model_metric[ab] == 200.0  # the auto-cost of 0.5 Gb/s
    both = build(b, 1, [(W + 1.0, "a->b", IGP_METRIC_KPI, 100.0)])  # the router routes with 100 all the same
    assert paths(both, m) == [["a", "b", "d"], ["a", "c", "d"]] and both.model_metric[ab] == 200.0


def test_bad_values_and_unknown_links_are_left_out_and_no_report_is_the_model() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    snap = build(b, 0, [(1.0, "x->y", IGP_METRIC_KPI, 5.0), (1.0, "a->b", IGP_METRIC_KPI, 0.0),
                        (1.0, "a->c", IGP_METRIC_KPI, float("nan")), (1.0, "b->d", IGP_METRIC_KPI, 2.5),
                        (1.0, "c->d", IGP_METRIC_KPI, MAX_IGP_METRIC + 1.0)])
    assert np.isnan(snap.link_igp_metric).all()
    quiet = build(SnapshotBuilder(m), 0, [])
    assert snap.routing_version == quiet.routing_version
    assert quiet.completeness.igp_links_reported == 0


def test_the_builders_memory_keeps_the_reported_metrics_and_an_older_memory_has_none() -> None:
    m = diamond()
    b = SnapshotBuilder(m)
    build(b, 0, [(1.0, "a->b", IGP_METRIC_KPI, 100.0)])
    mem = b.memory_arrays()
    fresh = SnapshotBuilder(m)
    assert fresh.load_memory_arrays(mem) == m.n_links
    assert paths(build(fresh, 3, []), m) == [["a", "c", "d"]]
    older = SnapshotBuilder(m)  # a checkpoint of the build before IGP metrics
    older.load_memory_arrays({k: v for k, v in mem.items() if not k.startswith("igp_")})
    assert np.isnan(build(older, 3, []).link_igp_metric).all()
    with pytest.raises(ValueError, match="igp_val"):
        fresh.load_memory_arrays({**mem, "igp_val": mem["igp_val"][:-1]})


def test_the_constants() -> None:
    assert (IGP_METRIC_KPI, MAX_IGP_METRIC, T0 > 0) == ("igp_metric", 2**24 - 1, True)
