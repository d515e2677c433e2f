"""What-if edits and their comparison (``twin/whatif.py``), on small networks whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.models import get_model
from twinwatch.twin.netmodel import model_from_dict
from twinwatch.twin.whatif import (
    Change,
    WhatIfError,
    apply_changes,
    cable_failures,
    iter_what_if,
    link_numbers,
    matrix_from_array,
    parse_change,
    what_if,
)


def _square(**over: object) -> object:
    """a-b-c-d-a ring of 1 Gb/s cables, 1 ms each, plus a 2-hop spur e-a (a bridge)."""
    ring = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("e", "a")]
    doc = {"version": 1, "name": "sq", "devices": [{"name": n} for n in "abcde"],
           "queue_profiles": {"ms": {"policy": "FIFO", "buffer": {"ms": 10}}}, "defaults": {"queue_profile": "ms"},
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "1G", "delay_s": 0.001, "metric": 10} for x, y in ring]}
    doc.update(over)
    return model_from_dict(doc, source="sq")


QT = get_model("qt")


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("fail", " ", "name a link"),
    ("fail-node", "", "name a device"),
    ("scale", "-1", "a factor >= 0"),
    ("scale", "lots", "a factor >= 0"),
    ("capacity", "a<->b", "TARGET=VALUE"),
    ("capacity", "a<->b=0", "must be > 0"),
    ("capacity", "a<->b=fast", "not a bit rate"),
    ("metric", "a->b=0", "1..16777215"),
    ("metric", "a->b=1.5", "invalid literal"),
    ("demand", "a=1G", "SRC,DST=RATE"),
    ("grow", "x", "unknown change"),
])
def test_a_change_that_cannot_be_read_says_why(kind: str, text: str, message: str) -> None:
    with pytest.raises(WhatIfError, match=message):
        parse_change(kind, text)


def test_changes_read_as_written_and_print_as_an_operator_writes_them() -> None:
    got = [parse_change("fail", "a<->b"), parse_change("fail-node", "c"), parse_change("capacity", "a->b=2.5 Gbps"),
           parse_change("metric", "b->c=100"), parse_change("scale", "1.3"), parse_change("demand", "a,c=10M")]
    assert got[2] == Change("capacity", "a->b", 2.5e9) and got[5] == Change("demand", "a,c", 1e7)
    assert [str(c) for c in got] == ["fail a<->b", "fail-node c", "capacity a->b=2.5G", "metric b->c=100",
                                     "scale ×1.3", "demand a,c=10M"]


def test_unknown_links_and_devices_are_named_with_close_matches() -> None:
    m = _square()
    with pytest.raises(WhatIfError, match=r"no link 'a->x'; did you mean .*a->b"):
        link_numbers(m, "a->x")
    with pytest.raises(WhatIfError, match="no link between a and c"):
        link_numbers(m, "a<->c")
    with pytest.raises(WhatIfError, match="write A->B for one direction or A<->B for both"):
        link_numbers(m, "a-b")
    with pytest.raises(WhatIfError, match="no device 'f'"):
        link_numbers(m, "f<->a")


def test_apply_changes_leaves_the_model_as_it_was() -> None:
    m = _square()
    cap, metric, buf = m.link_capacity_bps.copy(), m.link_metric.copy(), m.link_buffer_bits.copy()
    tm = np.zeros((5, 5))
    tm[0, 2] = 1e8
    changed, matrix, down = apply_changes(m, matrix_from_array(tm), [
        parse_change("capacity", "a<->b=2G"), parse_change("metric", "b->c=30"), parse_change("fail", "c->d"),
        parse_change("demand", "b,d=5M"), parse_change("scale", "2")])
    assert np.array_equal(m.link_capacity_bps, cap) and np.array_equal(m.link_metric, metric)
    assert np.array_equal(m.link_buffer_bits, buf)
    ab = link_numbers(m, "a<->b")
    assert changed.link_capacity_bps[ab].tolist() == [2e9, 2e9]
    assert np.allclose(changed.link_buffer_bits[ab], 2 * buf[ab])  # a buffer in ms of line rate follows it
    assert changed.link_metric[m.link_index["b->c"]] == 30 and changed.link_metric[m.link_index["c->b"]] == 10
    assert down == ("c->d",)
    rate = np.asarray(matrix.rate_bps).sum(axis=0)
    assert rate[0, 2] == 2e8 and rate[1, 3] == 1e7  # scale applies after the demand added before it


def test_no_change_gives_the_same_answer_before_and_after() -> None:
    m = _square()
    tm = np.full((5, 5), 2e7)
    res = what_if(m, matrix_from_array(tm), [], QT)
    d = res.demands
    assert len(d) == 20 and d.routed_before.all()
    for name in ("delay", "jitter", "loss"):
        assert np.array_equal(getattr(d, f"{name}_before_s" if name != "loss" else "loss_before"),
                              getattr(d, f"{name}_after_s" if name != "loss" else "loss_after"), equal_nan=True)
    assert np.array_equal(res.links.utilization_before, res.links.utilization_after)


def test_a_cable_down_moves_its_traffic_round_the_ring_and_a_bridge_down_cuts_the_spur_off() -> None:
    m = _square()
    tm = np.zeros((5, 5))
    tm[0, 1] = 3e8  # a -> b
    tm[4, 2] = 1e8  # e -> c, through a
    res = what_if(m, matrix_from_array(tm), [parse_change("fail", "a<->b")], QT)
    d, lk = res.demands, res.links
    ab = (d.src == 0) & (d.dst == 1)
    assert d.hops_before[ab].tolist() == [1] and d.hops_after[ab].tolist() == [3]  # a -> d -> c -> b
    assert d.delay_after_s[ab][0] > d.delay_before_s[ab][0] + 0.002  # two more 1-ms hops at least
    assert d.prop_before_s[ab].tolist() == pytest.approx([0.001]) and d.prop_after_s[ab].tolist() == pytest.approx(
        [0.003])
    for lid in ("a->d", "d->c", "c->b"):
        assert lk.load_after_bps[m.link_index[lid]] >= 3e8
    assert lk.utilization_after[m.link_index["a->b"]] == 0.0 and lk.down_after[m.link_index["a->b"]]
    assert not lk.down_before.any() and res.unrouted_after_bps == 0.0

    cut = what_if(m, matrix_from_array(tm), [parse_change("fail", "e<->a")], QT)
    ec = (cut.demands.src == 4) & (cut.demands.dst == 2)
    assert not cut.demands.routed_after[ec].any() and cut.unrouted_after_bps == pytest.approx(1e8)
    assert np.isnan(cut.demands.delay_after_s[ec]).all() and cut.demands.hops_after[ec].tolist() == [0]


def test_a_router_down_takes_every_link_of_it() -> None:
    m = _square()
    tm = np.zeros((5, 5))
    tm[4, 2] = 1e8
    tm[1, 3] = 1e8  # b -> d: a or c, equal cost; c is left
    res = what_if(m, matrix_from_array(tm), [parse_change("fail-node", "a")], QT)
    assert res.links.down_after.sum() == 6  # a-b, d-a, e-a, both ways
    bd = (res.demands.src == 1) & (res.demands.dst == 3)
    assert res.demands.routed_after[bd].all() and res.demands.hops_after[bd].tolist() == [2]
    assert res.links.load_after_bps[m.link_index["b->c"]] == pytest.approx(1e8)


def test_a_higher_metric_moves_traffic_off_the_link_and_capacity_changes_utilisation_only() -> None:
    m = _square()
    tm = np.zeros((5, 5))
    tm[0, 1] = 4e8
    res = what_if(m, matrix_from_array(tm), [parse_change("metric", "a->b=40")], QT)
    assert res.links.load_after_bps[m.link_index["a->b"]] == 0.0  # 40 > 30 round the ring
    assert res.links.load_after_bps[m.link_index["a->d"]] == pytest.approx(4e8)

    half = what_if(m, matrix_from_array(tm), [parse_change("capacity", "a<->b=500M")], QT)
    ab = m.link_index["a->b"]
    assert half.links.utilization_before[ab] == pytest.approx(0.4)
    assert half.links.utilization_after[ab] == pytest.approx(0.8)
    assert half.demands.hops_after.tolist() == [1]  # its metric stayed: the route did not move
    assert half.demands.delay_after_s[0] > half.demands.delay_before_s[0]  # a busier queue


def test_more_traffic_means_more_delay_and_a_demand_added_is_routed() -> None:
    m = _square()
    tm = np.full((5, 5), 3e7)
    res = what_if(m, matrix_from_array(tm), [parse_change("demand", "e,c=200M"), parse_change("scale", "3")], QT)
    d = res.demands
    ec = (d.src == 4) & (d.dst == 2)
    assert d.rate_after_bps[ec][0] == pytest.approx(3 * (3e7 + 2e8))
    assert np.allclose(d.rate_after_bps, 3 * d.rate_before_bps + 6e8 * ec)
    assert (d.delay_after_s >= d.delay_before_s).all() and (d.delay_after_s > d.delay_before_s).any()
    assert res.links.utilization_after.max() > res.links.utilization_before.max()


def test_a_change_naming_a_device_not_in_the_model_fails_before_any_prediction() -> None:
    m = _square()
    with pytest.raises(WhatIfError, match="no device 'z'"):
        what_if(m, matrix_from_array(np.ones((5, 5))), [parse_change("demand", "z,a=1G")], QT)
    with pytest.raises(WhatIfError, match="source and destination are the same device"):
        what_if(m, matrix_from_array(np.ones((5, 5))), [parse_change("demand", "a,a=1G")], QT)


def test_a_demand_scaled_to_nothing_keeps_its_route_and_sends_nothing() -> None:
    m = _square()
    res = what_if(m, matrix_from_array(np.full((5, 5), 1e7)), [parse_change("scale", "0")], QT)
    d = res.demands
    assert d.routed_after.all() and (d.rate_after_bps == 0).all() and res.unrouted_after_bps == 0.0
    assert np.isnan(d.delay_after_s).all() and (res.links.load_after_bps == 0).all()


def test_many_what_ifs_in_batches_answer_as_one_at_a_time() -> None:
    m = _square()
    tm = matrix_from_array(np.full((5, 5), 4e7))
    variants = [[c] for c in cable_failures(m)]
    assert [str(v[0]) for v in variants] == ["fail a<->b", "fail b<->c", "fail c<->d", "fail d<->a", "fail e<->a"]
    many = list(iter_what_if(m, tm, variants, QT, batch=2))
    for v, got in zip(variants, many, strict=True):
        one = what_if(m, tm, v, QT)
        assert got.changes == v
        assert np.array_equal(got.demands.delay_after_s, one.demands.delay_after_s, equal_nan=True)
        assert np.array_equal(got.links.load_after_bps, one.links.load_after_bps)
        assert np.array_equal(got.demands.delay_before_s, one.demands.delay_before_s, equal_nan=True)


def _ring(metric: int | None) -> object:
    """a, b, c, d in a ring of 1 Gb/s links; IGP metrics configured (``metric``) or the auto-cost of 1 Gb/s."""
    return model_from_dict({"version": 1, "name": "sq", "devices": [{"name": n} for n in "abcd"],
                            "links": [{"a": {"device": x, "interface": f"{x}-{y}"},
                                       "b": {"device": y, "interface": f"{y}-{x}"}, "capacity_bps": "1G",
                                       **({"metric": metric} if metric is not None else {})}
                                      for x, y in ("ab", "bc", "cd", "da")]}, source="sq")


def test_a_capacity_change_moves_an_auto_cost_metric_and_keeps_a_configured_one() -> None:
    tm = np.zeros((4, 4))
    tm[0, 2] = 4e8  # a -> c: two equal 2-hop paths, split by ECMP
    auto, fixed = _ring(None), _ring(100)
    assert auto.link_metric_auto.all() and not fixed.link_metric_auto.any()
    up = [parse_change("capacity", "a<->b=10G"), parse_change("capacity", "b<->c=10G")]
    changed, _, _ = apply_changes(auto, matrix_from_array(tm), up)
    ab = auto.link_index["a->b"]
    assert changed.link_metric[ab] == auto.auto_metric(10e9) == 10 and auto.link_metric[ab] == 100
    res = what_if(auto, matrix_from_array(tm), up, get_model("qt"))
    i = int(np.flatnonzero((res.demands.src == 0) & (res.demands.dst == 2))[0])
    assert res.links.load_after_bps[auto.link_index["a->b"]] == pytest.approx(4e8)  # all of a -> c via b now
    assert res.links.load_before_bps[auto.link_index["a->b"]] == pytest.approx(2e8)
    assert res.demands.hops_after[i] == 2
    changed, _, _ = apply_changes(fixed, matrix_from_array(tm), up)
    assert changed.link_metric.tolist() == fixed.link_metric.tolist()  # configured: routing stays
    # a metric edit wins over a capacity edit, in either order
    for edits in ([parse_change("metric", "a->b=7"), up[0]], [up[0], parse_change("metric", "a->b=7")]):
        changed, _, _ = apply_changes(auto, matrix_from_array(tm), edits)
        assert changed.link_metric[ab] == 7 and changed.link_metric[auto.link_index["b->a"]] == 10
