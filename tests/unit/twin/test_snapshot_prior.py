"""``SnapshotBuilder.build(prior_bps=...)``: the counter estimate starts from a given pair matrix (flows)."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.netmodel import model_from_dict
from twinwatch.twin.snapshot import SnapshotBuilder


def _line() -> object:
    # a - b - c in a line, both directions: pairs (a, c) and (a, b) share link a->b
    doc = {"version": 1, "name": "line", "devices": [{"name": n} for n in "abc"],
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "10G", "delay_s": 0.001} for x, y in ("ab", "bc")]}
    return model_from_dict(doc, source="line")


def _rows(model: object, loads: dict[str, float]) -> dict[str, list]:
    ids = list(loads)
    return {"entity_kind": ["link"] * len(ids), "entity_id": ids, "kpi": ["tx_bps"] * len(ids),
            "value": [loads[i] for i in ids]}


def test_the_prior_decides_what_the_counters_cannot() -> None:
    m = _line()
    # a->b and b->c carry 1 Gb/s each, the reverse links nothing: (a, b) + (b, c) at 1 Gb/s, or (a, c) at
    # 1 Gb/s, explain the counters equally well (no edge counters); the prior decides between them
    rows = _rows(m, {"a->b": 1e9, "b->c": 1e9, "b->a": 0.0, "c->b": 0.0})
    b = SnapshotBuilder(m)
    n = m.n_nodes
    a_, b_, c_ = (m.node_index[x] for x in "abc")
    through = np.zeros((n, n))
    through[a_, c_] = 1e9  # flows saw a -> c
    through[a_, b_] = through[b_, c_] = 1e7
    hop = np.zeros((n, n))
    hop[a_, b_] = hop[b_, c_] = 1e9  # flows saw a -> b and b -> c
    hop[a_, c_] = 1e7
    t1 = b.build(0.0, 10.0, rows, prior_bps=through).traffic.total_bps()
    t2 = b.build(0.0, 10.0, rows, prior_bps=hop).traffic.total_bps()
    assert t1[a_, c_] > 0.9e9 and t1[a_, b_] < 0.1e9
    assert t2[a_, c_] < 0.1e9 and t2[a_, b_] > 0.9e9 and t2[b_, c_] > 0.9e9
    # both reproduce the counters
    for t in (t1, t2):
        assert t[a_, b_] + t[a_, c_] == pytest.approx(1e9, rel=0.02)
        assert t[b_, c_] + t[a_, c_] == pytest.approx(1e9, rel=0.02)


def test_a_prior_of_the_wrong_shape_is_refused_with_the_network_named() -> None:
    m = _line()
    for bad in (np.ones((2, 2)), np.ones((3, 2, 2)), np.ones((5, 3, 3)), np.ones((2, 3, 3, 3))):
        with pytest.raises(ValueError, match=rf"prior_bps: shape \({', '.join(map(str, bad.shape))}\), expected "
                                             r"\(3, 3\) or \(C, 3, 3\) with C = 3 for 'line'"):
            SnapshotBuilder(m).build(0.0, 10.0, _rows(m, {"a->b": 1e9}), prior_bps=bad)


def test_a_negative_or_absurd_prior_floor_is_refused() -> None:
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="prior_floor must be a finite fraction"):
            SnapshotBuilder(_line(), prior_floor=bad)


def test_a_per_class_prior_keeps_each_pairs_classes() -> None:
    m = _line()
    rows = _rows(m, {"a->b": 1e9, "b->c": 1e9, "b->a": 0.0, "c->b": 0.0})
    a_, c_ = m.node_index["a"], m.node_index["c"]
    prior = np.zeros((3, m.n_nodes, m.n_nodes))
    prior[0, a_, c_], prior[1, a_, c_] = 2e8, 6e8  # a -> c: a quarter voice, three quarters class 1
    t = SnapshotBuilder(m, matrix_classes="records").build(0.0, 10.0, rows, prior_bps=prior).traffic
    assert t.total_bps()[a_, c_] > 0.9e9
    assert t.rate_bps[0, a_, c_] / t.total_bps()[a_, c_] == pytest.approx(0.25)
    assert t.rate_bps[1, a_, c_] / t.total_bps()[a_, c_] == pytest.approx(0.75)
    # by default (best-effort) the same fit puts the pair in one class, DSCP 0's
    one = SnapshotBuilder(m).build(0.0, 10.0, rows, prior_bps=prior).traffic
    np.testing.assert_allclose(one.total_bps(), t.total_bps(), rtol=1e-9, atol=1e-3)
    assert one.rate_bps[[0, 1], a_, c_].sum() == 0.0
