"""Per-entity detector state renumbered onto a changed network model (detectors/entities.py)."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.detectors.conformal import ConformalCalibrator
from twinwatch.detectors.decision import CalibratedPersistence, Persistence
from twinwatch.detectors.entities import carry_entities, entity_index, pair_index, summary
from twinwatch.detectors.probe_loss import ProbeLossScan
from twinwatch.detectors.traffic import CounterReference, RoutedReference

OLD, NEW = ["a", "b", "c", "d"], ["c", "e", "a"]  # b and d removed, e added, c and a renumbered
INDEX = np.array([2, -1, 0])


def _trained(n: int, rng: np.random.Generator) -> list[object]:
    """One of each per-entity component, for ``n`` entities, after a few windows of random input."""
    cal = ConformalCalibrator(n, min_history=2)
    own = ConformalCalibrator(n, pool="entity", bins=64, min_history=2)
    pers, cpers = Persistence(n, k=1, m=2, r=2), CalibratedPersistence(n, k=2, m=3)
    ref, routed, scan = CounterReference(n, depth=3), RoutedReference(n), ProbeLossScan(n, scales=(1, 2))
    for w in range(12):
        s = rng.normal(size=n)
        cal.update(s)
        own.update(s)
        pers.update(rng.random(n) < 0.3)
        cpers.update(rng.random(n))
        ref.update(rng.random(n) * 1e9)
        routed.update(w, rng.random(n) * 1e9, "r")
        scan.update(rng.poisson(1.0, n).astype(float), np.full(n, 100.0), np.full(n, 0.01))
        scan.learn(rng.poisson(1.0, n).astype(float), np.full(n, 100.0), np.ones(n, dtype=bool))
    return [cal, own, pers, cpers, ref, routed, scan]


@pytest.mark.parametrize("i", range(7))
def test_kept_entities_keep_their_slices_and_new_ones_start_fresh(i: int) -> None:
    rng = np.random.default_rng(i)
    old = _trained(len(OLD), rng)[i]
    fresh = _trained(len(NEW), np.random.default_rng(99))[i]
    got = carry_entities(fresh, old, INDEX)
    size = type(old).ENTITY_SIZE  # type: ignore[attr-defined]
    assert getattr(got, size) == len(NEW) and getattr(old, size) == len(OLD)  # old unchanged
    axes = old.entity_axes()  # type: ignore[attr-defined]
    assert axes
    for name, axis in axes.items():
        g, o, f = getattr(got, name), getattr(old, name), getattr(fresh, name)
        assert g.shape[axis] == len(NEW) and g.dtype == o.dtype
        np.testing.assert_array_equal(np.take(g, [0, 2], axis=axis), np.take(o, [2, 0], axis=axis))
        np.testing.assert_array_equal(np.take(g, [1], axis=axis), np.take(f, [1], axis=axis))  # as fresh built it
    for name, value in vars(old).items():  # everything else (config, shared pools, ring positions) is old's
        if name not in axes and name != size:
            assert np.array_equal(np.asarray(getattr(got, name)), np.asarray(value)), name
    again = type(got).from_bytes(got.to_bytes())  # type: ignore[attr-defined]  # what the service saves next
    assert getattr(again, size) == len(NEW)
    for name in axes:
        np.testing.assert_array_equal(getattr(again, name), getattr(got, name))


def test_a_carried_calibrator_gives_kept_entities_their_old_p_values() -> None:
    rng = np.random.default_rng(3)
    old = ConformalCalibrator(4, min_history=2)
    for _ in range(30):
        old.update(rng.normal(size=4) * np.array([1.0, 2.0, 3.0, 4.0]))
    got = carry_entities(ConformalCalibrator(3, min_history=2), old, INDEX)
    s_old = np.array([0.5, 9.0, 7.0, 9.0])
    p_old, p_new = old.p_values(s_old), got.p_values(np.array([7.0, 3.0, 0.5]))
    assert p_new[0] == p_old[2] and p_new[2] == p_old[0]
    assert np.isnan(p_new[1])  # the new entity warms up as a fresh one does


def test_renumbering_refuses_what_does_not_fit() -> None:
    old = Persistence(4)
    with pytest.raises(ValueError, match=r"index shape \(2,\) != \(3,\)"):
        carry_entities(Persistence(3), old, np.array([0, 1]))
    with pytest.raises(ValueError, match="refers to entity 7 of 4"):
        carry_entities(Persistence(3), old, np.array([0, 7, -1]))


def test_indices_and_summary() -> None:
    assert entity_index(OLD, NEW).tolist() == INDEX.tolist()
    assert entity_index([], ["x"]).tolist() == [-1] and entity_index(["x"], []).size == 0
    pairs = pair_index(INDEX, len(OLD)).reshape(3, 3)
    assert pairs[0, 2] == 2 * 4 + 0 and pairs[2, 0] == 0 * 4 + 2
    assert (pairs[1] == -1).all() and (pairs[:, 1] == -1).all()
    assert summary(INDEX, len(OLD)) == {"kept": 2, "new": 1, "dropped": 2}


def test_which_open_alerts_the_detector_resolves_as_gone_from_the_model() -> None:
    """After a model change, an alert whose entity the model no longer has resolves; a path between two known
    devices that no planned probe measures stays (telemetry may still measure it), as does another kind."""
    from twinwatch.detectors.alerts import Alert
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.twin.netmodel import load_network

    m = load_network("abilene")
    det = TwinDetector(m)
    probed = m.probe_names[0].replace("-", "->", 1)

    def known(kind: str, eid: str, kpi: str = "delay_s") -> bool:
        return det._known(Alert.open(network="abilene", entity_kind=kind, entity_id=eid, kpi=kpi, start=0.0,
                                     kind="degradation"))

    assert known("link", m.link_ids[0]) and not known("link", "ATLAng->NOWHERE")
    assert known("node", m.node_names[0]) and not known("node", "retired-router")
    assert known("path", "ATLAM5->ATLAng") and not known("path", "ATLAM5->retired-router")
    assert known("path", probed, "probe_loss") and not known("path", "ATLAM5->ATLAng", "probe_loss")
    assert known("device", "anything")
