"""Probe planning (:mod:`twinwatch.twin.probe_plan`): coverage and separation checked on the probes'
actual paths (the routers' ECMP hash, :func:`twinwatch.twin.probes.probe_paths`), not on the plan's own
bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.netmodel import load_network
from twinwatch.twin.probe_plan import certain_links, plan_network_probes, plan_probe_pairs
from twinwatch.twin.probes import probe_paths
from twinwatch.twin.routing import compute_routing
from twinwatch.twin.snapshot import SnapshotBuilder


def _incidence(model) -> np.ndarray:
    """``(K, E)`` bool: probe ``k``'s packets cross link ``e`` (the path the ECMP hash gives it)."""
    r = SnapshotBuilder(model).routing(np.ones(model.n_links, dtype=bool))
    paths = probe_paths(r, model.probe_src, model.probe_dst, model.probe_class)
    inc = np.zeros((model.n_probes, model.n_links), dtype=bool)
    for k, p in enumerate(paths.tolist()):
        assert p >= 0, f"probe {model.probes[k].name} has no route"
        inc[k, r.path_links[r.path_ptr[p]:r.path_ptr[p + 1]]] = True
    return inc


@pytest.mark.parametrize("name", ["abilene", "nsfnet", "geant", "cogentco"])
def test_shipped_networks_probes_cross_every_link_and_tell_links_apart(name: str) -> None:
    m = load_network(name)
    inc = _incidence(m)
    assert inc.any(axis=0).all(), "a link no probe crosses"
    # every link's column (the probes crossing it) is distinct: the probes alone name a faulty link
    assert len({col.tobytes() for col in inc.T}) == m.n_links


def _diamond() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # 0 -> 1 -> 3 and 0 -> 2 -> 3 at equal cost, and back; plus a direct 0 -> 3 link at metric 5 (a backup)
    src = np.array([0, 1, 0, 2, 1, 3, 2, 3, 0, 3])
    dst = np.array([1, 3, 2, 3, 0, 1, 0, 2, 3, 0])
    metric = np.array([1, 1, 1, 1, 1, 1, 1, 1, 5, 5], dtype=np.float64)
    return src, dst, metric


def test_certain_links_keeps_only_links_every_equal_cost_path_crosses() -> None:
    src, dst, metric = _diamond()
    r = compute_routing(4, src, dst, metric, split="even")
    a = certain_links(r).toarray() > 0
    pair = {(int(s), int(d)): k for k, (s, d) in enumerate(zip(r.pair_src, r.pair_dst))}
    assert not a[pair[0, 3]].any()  # two equal-cost paths share no link
    assert a[pair[0, 1]].tolist() == (np.arange(10) == 0).tolist()
    plan = plan_probe_pairs(r)
    # the metric-5 backups carry no shortest path: no probe can be sure to cross them
    assert plan.uncoverable.tolist() == [False] * 8 + [True, True]
    assert (plan.covered[:8] >= 1).all() and (plan.covered[8:] == 0).all()
    assert plan.n_signatures == 8


def test_cover_two_budget_endpoints_and_existing_probes() -> None:
    m = load_network("geant")
    r = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
    two = plan_probe_pairs(r, cover=2, separate=False)
    # each link as often as asked, or as often as distinct pairs certainly cross it
    pairs_crossing = np.asarray(certain_links(r).sum(axis=0)).ravel()
    assert (two.covered >= np.minimum(2, pairs_crossing)).all() and (pairs_crossing[two.covered < 2] <= 1).all()
    one = plan_probe_pairs(r, separate=False)
    assert len(two.src) > len(one.src)
    capped = plan_probe_pairs(r, max_probes=10)
    assert len(capped.src) == 10 and capped.budget_exhausted
    ok = np.zeros(m.n_nodes, dtype=bool)
    ok[::2] = True
    part = plan_probe_pairs(r, endpoints=ok)
    assert ok[part.src].all() and ok[part.dst].all()
    kept = plan_probe_pairs(r, existing_src=m.probe_src, existing_dst=m.probe_dst)
    assert kept.n_existing == m.n_probes
    planned = set(zip(kept.src.tolist(), kept.dst.tolist()))
    assert not planned & set(zip(m.probe_src.tolist(), m.probe_dst.tolist()))  # existing pairs not re-added
    assert len(planned) == len(kept.src)
    with pytest.raises(ValueError, match="cover must be >= 1"):
        plan_probe_pairs(r, cover=0)
    with pytest.raises(ValueError, match="endpoints shape"):
        plan_probe_pairs(r, endpoints=np.ones(3, dtype=bool))


def test_plan_network_probes_names_classes_and_roles() -> None:
    m = load_network("abilene")
    new, plan = plan_network_probes(m, replace=True, rate_pps=5.0, size_bytes=64)
    assert new.n_probes == len(plan.src) and plan.n_existing == 0
    assert len({p.name for p in new.probes}) == new.n_probes
    assert {p.rate_pps for p in new.probes} == {5.0} and {p.size_bytes for p in new.probes} == {64}
    assert [p.dscp for p in new.probes[:5]] == [46, 0, 0, 0, 46]  # one in four EF: both classes measured
    inc = _incidence(new)
    assert inc.any(axis=0).all()
    with pytest.raises(ValueError, match=r"no device has role 'pe' \(roles in abilene: core, edge\)"):
        plan_network_probes(m, roles=["pe"])
