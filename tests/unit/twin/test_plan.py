"""Capacity planning (:mod:`twinwatch.twin.plan`): worst cases, upgrades, auto-cost rounds, the twin's check."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from twinwatch.twin.models import get_model
from twinwatch.twin.netmodel import NetworkModel, load_network, model_from_dict
from twinwatch.twin.plan import (
    DEFAULT_TIERS_BPS,
    failure_set,
    matrix_from_array,
    plan_capacity,
    planned_model,
    upgrade_capacity,
    verify_plan,
    worst_loads,
)

NETWORKS = Path(__file__).resolve().parents[3] / "twin" / "data" / "networks"


def _model(links: list[tuple[str, str, str, int | None]], name: str = "t") -> NetworkModel:
    devices = sorted({x for a, b, _, _ in links for x in (a, b)})
    doc = {"version": 1, "name": name, "devices": [{"name": d} for d in devices],
           "links": [{"a": {"device": a, "interface": f"{a}-{b}"}, "b": {"device": b, "interface": f"{b}-{a}"},
                      "capacity_bps": cap, **({"metric": metric} if metric is not None else {})}
                     for a, b, cap, metric in links]}
    return model_from_dict(doc, source=name)


def _gravity(model: NetworkModel, total_bps: float, seed: int = 0) -> np.ndarray:
    w = np.random.default_rng(seed).uniform(0.5, 1.5, model.n_nodes)
    tm = np.outer(w, w)
    np.fill_diagonal(tm, 0.0)
    return tm * total_bps / tm.sum()


def _over(model: NetworkModel, tm: np.ndarray, survive: str, ceiling: float) -> np.ndarray:
    """Links whose worst load, routed afresh on ``model``, exceeds the ceiling (an independent check)."""
    wl = worst_loads(model, matrix_from_array(tm), failure_set(model, survive))
    return wl.load_bps > ceiling * model.link_capacity_bps * (1 + 1e-9)


@pytest.mark.parametrize(("name", "survive", "growth"), [("abilene", "cable", 3.0), ("geant", "cable", 2.0),
                                                          ("abilene", "router", 2.0), ("nsfnet", "none", 4.0)])
def test_the_planned_network_holds_the_ceiling_in_every_scenario_and_nothing_is_lowered(
        name: str, survive: str, growth: float) -> None:
    model = load_network(NETWORKS / f"{name}.yaml")
    tm = _gravity(model, 20e9)
    plan = plan_capacity(model, matrix_from_array(tm), growth=growth, max_utilization=0.7, survive=survive)
    assert plan.converged and plan.upgrades()
    assert not _over(plan.planned, tm * growth, survive, 0.7).any()
    assert (plan.cable_capacity_after_bps >= plan.cable_capacity_before_bps).all()
    assert plan.capacity_added_bps == pytest.approx(sum(u.capacity_after_bps - u.capacity_before_bps
                                                        for u in plan.upgrades()))
    # as it was, the same traffic broke the ceiling somewhere (else there would be nothing to upgrade)
    assert _over(model, tm * growth, survive, 0.7).any()


def test_each_upgrade_is_the_smallest_tier_that_holds_the_ceiling() -> None:
    model = load_network(NETWORKS / "geant.yaml")  # explicit metrics: routing does not follow capacity
    tm = _gravity(model, 30e9, seed=3)
    plan = plan_capacity(model, matrix_from_array(tm), growth=1.5, max_utilization=0.8)
    tiers = np.array(DEFAULT_TIERS_BPS)
    assert plan.rounds == 1 and plan.upgrades()
    for u in plan.upgrades():
        assert u.capacity_after_bps in tiers and u.load_bps <= 0.8 * u.capacity_after_bps * (1 + 1e-9)
        lower = tiers[tiers < u.capacity_after_bps]
        if lower.size and lower[-1] >= u.capacity_before_bps:  # the tier below was a candidate and is too small
            assert u.load_bps > 0.8 * lower[-1]
        links = np.flatnonzero(plan.planned.link_entry == u.entry)
        assert (plan.planned.link_capacity_bps[links] == u.capacity_after_bps).all()  # both directions alike


def test_members_grow_a_cable_by_whole_multiples_of_its_capacity() -> None:
    model = load_network(NETWORKS / "abilene.yaml")
    plan = plan_capacity(model, matrix_from_array(_gravity(model, 40e9)), growth=1.0, max_utilization=0.8,
                         step="members")
    assert plan.upgrades()
    for u in plan.upgrades():
        ratio = u.capacity_after_bps / u.capacity_before_bps
        assert ratio == round(ratio) >= 2
        assert u.load_bps <= 0.8 * u.capacity_after_bps and u.load_bps > 0.8 * (ratio - 1) * \
            u.capacity_before_bps


def test_auto_cost_metrics_move_traffic_onto_an_upgrade_and_the_plan_routes_again() -> None:
    # a square without configured metrics: a -> c has two 2-hop paths of equal cost (1 Gb/s links, cost 100
    # each at the 100 Gb/s reference); upgrading one side makes it cheaper, so ECMP stops splitting and all
    # of a -> c moves there, which a second round must then size
    model = _model([("a", "b", "1G", None), ("b", "c", "1G", None), ("c", "d", "1G", None), ("d", "a", "1G", None)])
    tm = np.zeros((4, 4))
    tm[0, 2] = 1.2e9  # 600 Mb/s on each side split by ECMP: 60 % of 1 Gb/s
    tm[0, 1] = 0.5e9  # a -> b alone: a -> b at 110 %, so a<->b is upgraded and becomes the cheaper side
    plan = plan_capacity(model, matrix_from_array(tm), max_utilization=0.8, survive="none")
    assert plan.rounds >= 2 and plan.converged
    ab, bc = model.link_index["a->b"], model.link_index["b->c"]
    assert plan.planned.link_metric[ab] < model.link_metric[ab]  # the reference-bandwidth cost followed
    assert plan.after.intact_load_bps[bc] == pytest.approx(1.2e9)  # every a -> c packet now goes via b
    assert plan.planned.link_capacity_bps[bc] >= 1.2e9 / 0.8
    assert not _over(plan.planned, tm, "none", 0.8).any()


def test_a_failure_that_cuts_traffic_off_is_counted_apart_and_a_dead_routers_own_traffic_is_not() -> None:
    # a chain a - b - c: losing either cable cuts off traffic no capacity brings back
    model = _model([("a", "b", "10G", 1), ("b", "c", "10G", 1)])
    tm = np.zeros((3, 3))
    tm[0, 2], tm[0, 1] = 1e9, 2e9
    wl = worst_loads(model, matrix_from_array(tm), failure_set(model, "cable"))
    assert wl.cut_off_bps.tolist() == [3e9, 1e9]  # a<->b: a -> b and a -> c; b<->c: a -> c
    wl = worst_loads(model, matrix_from_array(tm), failure_set(model, "router"))
    assert wl.cut_off_bps.tolist() == [0.0, 1e9, 0.0]  # only b's failure cuts a -> c; a's own traffic is gone


def test_the_intact_only_alternative_is_checked_against_the_same_failures() -> None:
    model = load_network(NETWORKS / "abilene.yaml")
    tm = _gravity(model, 30e9)
    plan = plan_capacity(model, matrix_from_array(tm), growth=2.0, max_utilization=0.8)
    io = plan.intact_only
    assert io is not None and io.cables <= len(plan.upgrades()) and io.capacity_added_bps <= plan.capacity_added_bps
    assert io.over_ceiling_links and io.peak_utilization > 0.8
    naive = plan_capacity(model, matrix_from_array(tm), growth=2.0, max_utilization=0.8, survive="none")
    over = _over(naive.planned, tm * 2.0, "cable", 0.8)
    assert sorted(io.over_ceiling_links) == sorted(model.link_ids[i] for i in np.flatnonzero(over))
    assert plan_capacity(model, matrix_from_array(tm), survive="none").intact_only is None


def test_no_growth_or_no_traffic_needs_no_upgrade() -> None:
    model = load_network(NETWORKS / "nsfnet.yaml")
    for growth in (0.0, 1e-6):
        plan = plan_capacity(model, matrix_from_array(_gravity(model, 1e9)), growth=growth)
        assert plan.upgrades() == [] and plan.capacity_added_bps == 0.0 and plan.converged
        assert plan.planned.link_capacity_bps.tolist() == model.link_capacity_bps.tolist()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_utilization": 0.0}, "max_utilization"), ({"max_utilization": 1.5}, "max_utilization"),
    ({"growth": -1.0}, "growth"), ({"growth": float("nan")}, "growth"), ({"step": "double"}, "step"),
    ({"tiers": ()}, "tiers"), ({"tiers": (0.0, 1e9)}, "tiers"), ({"survive": "everything"}, "survive")])
def test_bad_arguments_are_refused_by_name(kwargs: dict, message: str) -> None:
    model = _model([("a", "b", "1G", 1)])
    with pytest.raises(ValueError, match=message):
        plan_capacity(model, matrix_from_array(np.ones((2, 2))), **kwargs)


def test_upgrade_capacity_beyond_the_largest_tier_takes_parallel_cables() -> None:
    got = upgrade_capacity(np.array([1e9, 1.0001e9, 2e12, 0.0]), np.array([1e9, 1e9, 100e9, 10e9]))
    assert got.tolist() == [1e9, 2.5e9, 3 * 800e9, 10e9]


def test_the_planned_model_keeps_configured_metrics_and_device_order() -> None:
    model = load_network(NETWORKS / "geant.yaml")
    cap = np.array([ln.capacity_bps for ln in model.links]) * 4
    planned = planned_model(model, cap)
    assert planned.node_names == model.node_names and planned.link_ids == model.link_ids
    assert planned.link_metric.tolist() == model.link_metric.tolist()
    assert planned.link_capacity_bps.tolist() == (model.link_capacity_bps * 4).tolist()
    assert model.link_capacity_bps.tolist() != planned.link_capacity_bps.tolist()  # the original is untouched


def test_the_twin_checks_the_network_as_it_is_and_as_planned_on_the_binding_failures() -> None:
    model = load_network(NETWORKS / "abilene.yaml")
    tm = _gravity(model, 30e9)
    plan = plan_capacity(model, matrix_from_array(tm), growth=2.0, max_utilization=0.8)
    binding = plan.binding_failures()
    assert binding and {f.kind for f in binding} == {"fail"}
    assert {str(f) for f in binding} >= {u.set_by for u in plan.upgrades()} - {"intact"}
    as_is, planned = verify_plan(plan, get_model("qt"))
    assert len(as_is) == len(planned) == 1 + len(binding)
    assert as_is[0].changes == [] and [c for r in planned[1:] for c in r.changes] == binding
    for a, p in zip(as_is, planned, strict=True):
        assert p.links.utilization_after.max() <= 0.8 + 1e-9 < a.links.utilization_after.max()
        assert np.nanmax(p.links.loss_after) < np.nanmax(a.links.loss_after)
    # the traffic checked is the grown one
    assert as_is[0].demands.rate_after_bps.sum() == pytest.approx(2.0 * tm.sum())


def test_worst_loads_match_one_routing_per_failure() -> None:
    model = load_network(NETWORKS / "nsfnet.yaml")
    tm = _gravity(model, 10e9)
    failures = failure_set(model, "cable")
    wl = worst_loads(model, matrix_from_array(tm), failures)
    each = [worst_loads(model, matrix_from_array(tm), [f]).load_bps for f in itertools.islice(failures, 5)]
    assert (wl.load_bps >= np.max(each, axis=0) - 1e-6).all()
    assert (wl.load_bps >= wl.intact_load_bps).all()
    assert wl.failure_case.min() >= 0 and wl.failure_case.max() < len(failures)


def test_a_higher_ceiling_while_a_failure_lasts_needs_less_and_holds_both() -> None:
    model = load_network(NETWORKS / "geant.yaml")
    tm = _gravity(model, 30e9, seed=5)
    strict = plan_capacity(model, matrix_from_array(tm), growth=1.5, max_utilization=0.8)
    relaxed = plan_capacity(model, matrix_from_array(tm), growth=1.5, max_utilization=0.8,
                            max_utilization_failure=0.95)
    assert relaxed.max_utilization_failure == 0.95 and strict.max_utilization_failure == 0.8
    assert relaxed.capacity_added_bps < strict.capacity_added_bps
    assert (relaxed.cable_capacity_after_bps <= strict.cable_capacity_after_bps).all()
    wl = worst_loads(relaxed.planned, matrix_from_array(tm * 1.5), failure_set(model, "cable"))
    cap = relaxed.planned.link_capacity_bps
    assert (wl.intact_load_bps <= 0.8 * cap * (1 + 1e-9)).all()
    assert (wl.failure_load_bps <= 0.95 * cap * (1 + 1e-9)).all()
    assert not relaxed.over_ceiling().any() and relaxed.over_ceiling(planned=False).any()
    for u in relaxed.upgrades():
        assert u.ceiling == (0.8 if u.set_by == "intact" else 0.95)
        assert u.load_bps <= u.ceiling * u.capacity_after_bps * (1 + 1e-9)
    # the intact-only alternative is judged against the failure ceiling
    io = relaxed.intact_only
    assert io is not None and (io.peak_utilization > 0.95) == bool(io.over_ceiling_links)
    with pytest.raises(ValueError, match="max_utilization_failure"):
        plan_capacity(model, matrix_from_array(tm), max_utilization_failure=0.0)
