"""Link state from telemetry in the snapshot (issue 9): the window's link-state rows decide which links route.

The network is a diamond ``a - {b, c} - d`` of 1 Gb/s cables with equal IGP
metrics: ``a -> d`` has two equal-cost paths (via ``b`` and via ``c``), and
``a -> b`` one direct path (metric 10; the detour ``a c d b`` costs 30). When
a link goes down the twin must route around it: ``a -> b`` then takes the
detour, and ``a -> d`` keeps only the path via ``c``.
"""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.netmodel import NetworkModel, model_from_dict
from twinwatch.twin.snapshot import LINK_STATE_KPIS, SnapshotBuilder
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

W = 10.0
T0 = 1_700_000_000.0


def _model() -> NetworkModel:
    cables = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    doc = {
        "version": 1,
        "name": "diamond",
        "devices": [{"name": x} for x in "abcd"],
        "links": [{"a": {"device": x, "interface": f"to-{y}"}, "b": {"device": y, "interface": f"to-{x}"},
                   "capacity_bps": "1G", "delay_s": 0.001, "metric": 10} for x, y in cables],
    }
    return model_from_dict(doc, source="diamond")


def _traffic(model: NetworkModel, k: int = 0) -> TrafficMatrix:
    tm = np.zeros((3, model.n_nodes, model.n_nodes))  # per ToS class; all traffic best effort (class 0 here)
    tm[0, model.node_index["a"], model.node_index["b"]] = 1e8
    tm[0, model.node_index["a"], model.node_index["d"]] = 2e8
    return TrafficMatrix.build(tm, source=Source.FLOWS, start=T0 + k * W, end=T0 + (k + 1) * W)


def _rows(rows: list[tuple[float, str, str, str, float]]) -> dict[str, list[object]]:
    """(seconds into the window series, entity kind, id, KPI, value) → Measurement columns."""
    if not rows:
        return {"ts": [], "entity_kind": [], "entity_id": [], "kpi": [], "value": []}
    t, kind, ident, kpi, value = zip(*rows, strict=True)
    return {"ts": [T0 + x for x in t], "entity_kind": list(kind), "entity_id": list(ident), "kpi": list(kpi),
            "value": list(value)}


def _build(b: SnapshotBuilder, k: int, rows: list[tuple[float, str, str, str, float]], **kw: object):  # type: ignore[no-untyped-def]
    return b.build(T0 + k * W, T0 + (k + 1) * W, _rows(rows), traffic=_traffic(b.model, k), **kw)


def _paths(snap, model: NetworkModel, src: str, dst: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    sc = snap.scenario
    names = model.node_names
    return sorted([names[n] for n in sc.path_nodes(p)] for p in range(sc.n_paths)
                  if (sc.path_src[p], sc.path_dst[p]) == (model.node_index[src], model.node_index[dst]))


def test_kpi_names_match_the_adapters() -> None:
    from twinwatch.telemetry_adapters.link_state import LINK_STATE_KPIS as ADAPTER_KPIS
    from twinwatch.telemetry_adapters.schema import KPIS

    assert LINK_STATE_KPIS == ADAPTER_KPIS and set(LINK_STATE_KPIS) <= set(KPIS)


def test_down_link_is_removed_and_routes_move() -> None:
    m = _model()
    b = SnapshotBuilder(m)
    healthy = _build(b, 0, [(1.0, "link", "a->b", "oper_status", 1.0), (1.0, "link", "a->b", "rx_oper_status", 1.0)])
    assert healthy.links_down == () and healthy.completeness.link_state_source == "telemetry"
    assert _paths(healthy, m, "a", "b") == [["a", "b"]]
    assert _paths(healthy, m, "a", "d") == [["a", "b", "d"], ["a", "c", "d"]]  # ECMP
    # window 1: a's port towards b reports down: a->b and b->a (same cable end) are down
    down = _build(b, 1, [(12.0, "link", "a->b", "oper_status", 0.0), (12.0, "link", "b->a", "rx_oper_status", 0.0)])
    assert set(down.links_down) == {"a->b", "b->a"}
    assert down.routing_version != healthy.routing_version
    assert _paths(down, m, "a", "b") == [["a", "c", "d", "b"]]  # the detour (metric 30)
    assert _paths(down, m, "a", "d") == [["a", "c", "d"]]  # the path through a->b is gone
    sc = down.scenario
    used = np.unique(sc.path_links)
    assert m.link_index["a->b"] not in used and m.link_index["b->a"] not in used
    assert sc.flow_rate_bps[down.flow_probe < 0].sum() == pytest.approx(3e8)  # no demand lost: all rerouted


@pytest.mark.parametrize("kpi", ["oper_status", "rx_oper_status", "admin_status", "rx_admin_status"])
def test_either_end_down_takes_the_link_down(kpi: str) -> None:
    snap = _build(SnapshotBuilder(_model()), 0, [(1.0, "link", "c->d", kpi, 0.0)])
    assert snap.links_down == ("c->d",)
    assert snap.completeness.link_ends_reported == 1


def test_unreported_ends_are_unknown_and_up() -> None:
    m = _model()
    snap = _build(SnapshotBuilder(m), 0, [(1.0, "link", "a->b", "tx_bps", 1e8)])
    c = snap.completeness
    assert snap.links_down == () and (c.link_ends_reported, c.link_ends_held, c.link_ends_unknown) == (0, 0, 16)
    snap = _build(SnapshotBuilder(m), 0, [(1.0, "link", "a->b", "oper_status", 1.0)])
    assert (snap.completeness.link_ends_reported, snap.completeness.link_ends_unknown) == (1, 15)


def test_any_rule_catches_a_flap_the_last_rule_forgives() -> None:
    flap = [(2.0, "link", "a->c", "oper_status", 0.0), (7.0, "link", "a->c", "oper_status", 1.0)]  # 5 s down
    assert _build(SnapshotBuilder(_model()), 0, flap).links_down == ("a->c",)
    assert _build(SnapshotBuilder(_model(), link_state_rule="last"), 0, flap).links_down == ()
    # "last": a down at the latest time wins over an up of the other leaf at the same time
    tie = [(7.0, "link", "a->c", "oper_status", 1.0), (7.0, "link", "a->c", "admin_status", 0.0)]
    assert _build(SnapshotBuilder(_model(), link_state_rule="last"), 0, tie).links_down == ("a->c",)
    with pytest.raises(ValueError, match="link_state_rule"):
        SnapshotBuilder(_model(), link_state_rule="majority")


def test_silent_end_keeps_its_last_state_for_the_hold_time() -> None:
    """On-change subscriptions send a state only when it changes: a down end stays down while silent."""
    m = _model()
    b = SnapshotBuilder(m, link_state_hold_s=25.0)
    assert _build(b, 0, [(3.0, "link", "b->d", "oper_status", 0.0)]).links_down == ("b->d",)
    held = _build(b, 1, [(11.0, "link", "a->b", "tx_bps", 1e8)])  # b->d silent: held down
    assert held.links_down == ("b->d",) and held.completeness.link_ends_held == 1
    assert _build(b, 2, []).links_down == ("b->d",)  # 17 s after the report: still held
    expired = _build(b, 3, [])  # 27 s after it: past the hold time, unknown again (up)
    assert expired.links_down == () and expired.completeness.link_ends_held == 0
    # the held state lasts until the next report: up 3 s into window 1 = down for 3 s of it; up 0.5 s in: < 1 s
    b2 = SnapshotBuilder(m)
    _build(b2, 0, [(3.0, "link", "b->d", "oper_status", 0.0)])
    assert _build(b2, 1, [(13.0, "link", "b->d", "oper_status", 1.0)]).links_down == ("b->d",)
    assert _build(b2, 2, []).links_down == ()  # no hold limit: the last report (up) still holds
    b3 = SnapshotBuilder(m)
    _build(b3, 0, [(3.0, "link", "b->d", "oper_status", 0.0)])
    assert _build(b3, 1, [(10.5, "link", "b->d", "oper_status", 1.0)]).links_down == ()


def test_a_report_stamped_just_before_the_window_end_moves_no_boundary() -> None:
    """A device whose clock runs 0.2 s early stamps the next window's first sample (down) at 9.8 s: down for
    0.2 s of window 0, under the 1 s minimum; window 1 carries it in and is down. With a minimum of 0, any
    down report counts."""
    rows0 = [(1.0, "link", "a->c", "oper_status", 1.0), (9.8, "link", "a->c", "oper_status", 0.0)]
    b = SnapshotBuilder(_model())
    assert _build(b, 0, rows0).links_down == ()
    assert _build(b, 1, [(19.8, "link", "a->c", "oper_status", 0.0)]).links_down == ("a->c",)
    assert _build(SnapshotBuilder(_model(), link_state_min_down_s=0.0), 0, rows0).links_down == ("a->c",)
    with pytest.raises(ValueError, match="link_state_min_down_s"):
        SnapshotBuilder(_model(), link_state_min_down_s=-1.0)


def test_explicit_link_up_wins_but_telemetry_is_remembered() -> None:
    m = _model()
    b = SnapshotBuilder(m)
    up = np.ones(m.n_links, dtype=bool)
    up[m.link_index["c->d"]] = False
    snap = _build(b, 0, [(1.0, "link", "a->b", "oper_status", 0.0)], link_up=up)
    assert snap.links_down == ("c->d",) and snap.completeness.link_state_source == "given"
    assert _build(b, 1, []).links_down == ("a->b",)  # held from window 0's report
    off = SnapshotBuilder(m, infer_link_state=False)
    snap = _build(off, 0, [(1.0, "link", "a->b", "oper_status", 0.0)])
    assert snap.links_down == () and snap.completeness.link_state_source == "none"


def test_unknown_interfaces_and_links_are_counted_never_a_crash() -> None:
    rows = [(1.0, "interface", "a:et-99", "oper_status", 0.0),  # a port the model maps to no link
            (1.0, "link", "a->z", "oper_status", 0.0),  # a link the model does not have
            (1.0, "interface", "zz:et-1", "admin_status", 0.0),  # a device the model does not have
            (1.0, "link", "a->c", "oper_status", float("nan")),  # not a state: ignored
            (1.0, "link", "b->d", "oper_status", 1.0)]
    snap = _build(SnapshotBuilder(_model()), 0, rows)
    c = snap.completeness
    assert snap.links_down == () and c.link_state_unmapped_rows == 3 and c.link_ends_reported == 1
    assert {"link:a->z", "interface:zz"} <= set(c.unknown_entities)
