"""Tomogravity (counters → matrix) and the mixed mode; the Abilene check reads ../shared (marked ``shared``)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls

from tests.conftest import shared_data_path
from twinwatch.twin.routing import compute_routing
from twinwatch.twin.traffic_matrix import (
    RoutingMatrix,
    Source,
    TrafficMatrix,
    gravity_prior,
    matrix_from_counters,
    matrix_mixed,
    tomogravity,
)

REPO = Path(__file__).resolve().parents[3]


def _shortest_path_routing(n: int, edges: np.ndarray, split: str = "even") -> RoutingMatrix:
    """Hop-count routing over directed ``edges (E, 2)`` by the project's routing function."""
    routing = compute_routing(n, edges[:, 0], edges[:, 1], np.ones(len(edges)), split=split)
    return RoutingMatrix.from_routing(routing)


def _ring_with_chords(n: int, seed: int) -> RoutingMatrix:
    g = nx.connected_watts_strogatz_graph(n, 6, 0.3, seed=seed)
    und = np.array(list(g.edges()))
    return _shortest_path_routing(n, np.concatenate([und, und[:, ::-1]]))


def _totals(rm: RoutingMatrix, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, d = rm.pairs()
    return np.bincount(s, weights=x, minlength=rm.n_nodes), np.bincount(d, weights=x, minlength=rm.n_nodes)


def test_exact_recovery_when_the_routing_matrix_has_full_column_rank() -> None:
    # full mesh of 4 nodes, every pair on its own direct link: A is a permutation of the identity
    edges = np.array([(i, j) for i in range(4) for j in range(4) if i != j])
    rm = _shortest_path_routing(4, edges)
    x = np.arange(1.0, 13.0) * 1e6
    ing, egr = _totals(rm, x)
    # counters declared noise-free (rel_noise 1e-9): the prior's pull vanishes and the solution is exact
    tm, res = matrix_from_counters(rm, rm.load_bps(x), start=0.0, end=60.0, ingress_bps=ing, egress_bps=egr,
                                   rel_noise=1e-9)  # fmt: skip
    np.testing.assert_allclose(res.rate_bps, x, rtol=1e-8)
    # with the default 1 % noise model the prior biases the fit by at most about the noise level
    _, res_default = matrix_from_counters(rm, rm.load_bps(x), start=0.0, end=60.0, ingress_bps=ing, egress_bps=egr)
    np.testing.assert_allclose(res_default.rate_bps, x, rtol=1e-2)
    s, d = rm.pairs()
    np.testing.assert_allclose(tm.rate_bps[0, s, d], x, rtol=1e-6)
    assert np.all(tm.source[0, s, d] == Source.COUNTERS)
    # a generic sparse 0/1 measurement matrix of full column rank, prior far from the truth
    rng = np.random.default_rng(3)
    a = (rng.random((40, 15)) < 0.3).astype(float)
    assert np.linalg.matrix_rank(a) == 15
    xt = rng.uniform(1e5, 1e7, 15)
    res2 = tomogravity(sp.csr_array(a), a @ xt, np.full(15, 5e6), rel_noise=1e-9)
    np.testing.assert_allclose(res2.rate_bps, xt, rtol=1e-8)


def test_estimate_is_non_negative_with_zero_diagonal_and_bounded_solver_matches_lsq_linear() -> None:
    rm = _ring_with_chords(12, seed=1)
    rng = np.random.default_rng(5)
    x = rng.lognormal(13, 1.5, rm.n_pairs) * (rng.random(rm.n_pairs) < 0.3)  # sparse truth: gravity overshoots
    y = rm.load_bps(x) * (1 + 0.02 * rng.standard_normal(rm.n_links))
    ing, egr = _totals(rm, x)
    tm, res = matrix_from_counters(rm, y, start=0.0, end=60.0, ingress_bps=ing, egress_bps=egr, rel_noise=0.02)
    assert res.solver == "active-set"  # the closed form went negative: the bounds were needed
    assert np.all(res.rate_bps >= 0) and np.all(tm.rate_bps >= 0)
    assert np.all(tm.rate_bps[:, np.arange(12), np.arange(12)] == 0)
    # the same problem solved exactly by scipy's NNLS on the dense stacked system (z = x / prior)
    a = sp.vstack([rm.matrix, rm.edge_matrix()], format="csr")
    meas = np.concatenate([y, ing, egr])
    mine = tomogravity(a, meas, res.prior_bps, rel_noise=0.02)
    ref = tomogravity(a, meas, res.prior_bps, rel_noise=0.02, solver="lsq_linear", max_iter=5000)
    free = res.prior_bps > 0
    w = 1.0 / (0.02 * np.abs(meas) + 1e-6 * np.abs(meas).max())
    lam = 3.0
    stacked = np.vstack([w[:, None] * a.toarray()[:, free] * res.prior_bps[free], lam * np.eye(free.sum())])
    z, _ = nnls(stacked, np.concatenate([w * meas, np.full(free.sum(), lam)]), maxiter=50_000)
    exact = np.zeros(rm.n_pairs)
    exact[free] = z * res.prior_bps[free]
    scale = x.max()
    np.testing.assert_allclose(mine.rate_bps, exact, rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(ref.rate_bps, exact, rtol=1e-4, atol=1e-6 * scale)


def test_poorly_constrained_entries_get_larger_uncertainty() -> None:
    # pair 0 alone on counter 0; pairs 1..3 only through their sum (counter 1); pair 4 seen by no counter
    a = sp.csr_array(np.array([[1.0, 0, 0, 0, 0], [0, 1.0, 1.0, 1.0, 0]]))
    x = np.array([2e6, 1e6, 3e6, 2e6, 4e6])
    prior = np.full(5, 2.5e6)
    res = tomogravity(a, a @ x, prior)
    rel_std = res.std_bps / res.rate_bps
    assert rel_std[0] < 0.05  # about the 1 % counter noise
    assert np.all(rel_std[1:4] > 5 * rel_std[0])
    assert res.std_bps[4] == pytest.approx(prior[4] / 3.0) and res.rate_bps[4] == pytest.approx(prior[4])
    assert res.constrained.tolist() == [True, True, True, True, False]
    assert res.rate_bps[1:4].sum() == pytest.approx(6e6, rel=1e-3)


def test_missing_counters_are_dropped_and_unseen_pairs_fall_back_to_the_prior() -> None:
    # line 0 - 1 - 2; links 0:0->1 1:1->2 2:1->0 3:2->1
    rm = RoutingMatrix.from_paths(n_nodes=3, n_links=4, path_src=[0, 0, 1, 1, 2, 2], path_dst=[1, 2, 0, 2, 0, 1],
                                  path_ptr=[0, 1, 3, 4, 5, 7, 8], path_links=[0, 0, 1, 2, 1, 3, 2, 3])  # fmt: skip
    x = np.array([1e6, 2e6, 3e6, 4e6, 5e6, 6e6])
    y = rm.load_bps(x)
    y[[2, 3]] = np.nan  # 1->0 and 2->1 not measured: pairs (1,0), (2,0), (2,1) are seen by no counter
    tm, res = matrix_from_counters(rm, y, start=0.0, end=60.0)
    assert res.rows_dropped == 2 + 6 and res.rows_used == 2  # plus the six unknown node totals
    assert tm.source[0, 1, 0] == tm.source[0, 2, 0] == tm.source[0, 2, 1] == Source.PRIOR
    assert tm.source[0, 0, 1] == tm.source[0, 0, 2] == tm.source[0, 1, 2] == Source.COUNTERS
    # the two measured links are fitted, and the prior-only pairs carry the widest relative uncertainty
    np.testing.assert_allclose(rm.load_bps(res.rate_bps)[:2], y[:2], rtol=1e-2)  # within the 1 % noise model
    # counters shrink the prior's uncertainty (std / prior = 1/λ) only for the pairs they see
    left = res.std_bps / res.prior_bps
    np.testing.assert_allclose(left[[2, 4, 5]], 1 / 3.0)
    assert left[[0, 1, 3]].max() < 0.9 / 3.0


def test_counter_noise_gives_an_error_of_the_noise_order_and_chi2_near_one() -> None:
    rm = _ring_with_chords(16, seed=2)
    rng = np.random.default_rng(11)
    src, dst = rm.pairs()
    x = rng.lognormal(0, 0.7, 16)[src] * rng.lognormal(0, 0.7, 16)[dst] * 1e6
    ing, egr = _totals(rm, x)
    exact, _ = matrix_from_counters(rm, rm.load_bps(x), start=0, end=60, ingress_bps=ing, egress_bps=egr)
    y = rm.load_bps(x) * (1 + 0.01 * rng.standard_normal(rm.n_links))
    noisy, res = matrix_from_counters(rm, y, start=0, end=60, ingress_bps=ing, egress_bps=egr)
    assert res.chi2_per_row < 3.0
    big = x > np.quantile(x, 0.5)
    err = np.abs(noisy.rate_bps[0, src, dst] - exact.rate_bps[0, src, dst])[big] / x[big]
    assert np.median(err) < 0.05


def test_mixed_mode_keeps_the_flow_known_entries_and_estimates_the_rest() -> None:
    rm = _ring_with_chords(10, seed=4)
    rng = np.random.default_rng(2)
    src, dst = rm.pairs()
    x = rng.lognormal(14, 1.0, rm.n_pairs)
    ing, egr = _totals(rm, x)
    exporters = np.zeros(10, dtype=bool)
    exporters[[0, 3, 7]] = True
    # flow matrix: exact for the exporting rows, split 30 / 70 over classes 0 and 2, with a sampling std
    fl = np.zeros((3, 10, 10))
    known = exporters[src]
    fl[0, src[known], dst[known]] = 0.3 * x[known]
    fl[2, src[known], dst[known]] = 0.7 * x[known]
    flows = TrafficMatrix.build(fl, std_bps=0.01 * fl, source=Source.FLOWS, start=600.0, end=900.0)
    tm, _ = matrix_mixed(flows, exporters, rm, rm.load_bps(x), ingress_bps=ing, egress_bps=egr)
    ks, kd = src[known], dst[known]
    np.testing.assert_array_equal(tm.rate_bps[:, ks, kd], fl[:, ks, kd])
    np.testing.assert_array_equal(tm.std_bps[:, ks, kd], 0.01 * fl[:, ks, kd])
    assert np.all(tm.source[:, ks, kd] == Source.FLOWS)
    us, ud = src[~known], dst[~known]
    assert np.all(tm.source[0, us, ud] == Source.COUNTERS)
    np.testing.assert_allclose(tm.rate_bps[0, us, ud], 0.3 * tm.total_bps()[us, ud], rtol=1e-12)  # flows' class mix
    # the link loads are explained: flows + estimate reproduce every counter
    np.testing.assert_allclose(rm.load_bps(tm.total_bps()[src, dst]), rm.load_bps(x), rtol=1e-2)
    assert (tm.start, tm.end) == (600.0, 900.0)
    # knowing part of the matrix helps: the unknown entries are closer than with counters alone
    alone, _ = matrix_from_counters(rm, rm.load_bps(x), start=600.0, end=900.0, ingress_bps=ing, egress_bps=egr)
    err_mixed = np.abs(tm.total_bps()[us, ud] - x[~known]).sum()
    err_alone = np.abs(alone.total_bps()[us, ud] - x[~known]).sum()
    assert err_mixed <= err_alone * 1.001


def test_without_node_totals_the_prior_is_scaled_to_the_link_loads() -> None:
    rm = _ring_with_chords(8, seed=6)
    x = np.full(rm.n_pairs, 2e6)
    _, res = matrix_from_counters(rm, rm.load_bps(x), start=0, end=60)
    np.testing.assert_allclose(res.prior_bps, 2e6, rtol=1e-9)  # uniform truth: the LS-scaled uniform prior is exact
    np.testing.assert_allclose(res.rate_bps, x, rtol=1e-6)


@pytest.mark.slow
def test_a_200_node_network_solves() -> None:
    rm = _ring_with_chords(200, seed=0)
    assert rm.n_pairs == 39_800 and rm.n_links == 1200
    rng = np.random.default_rng(0)
    src, dst = rm.pairs()
    x = rng.lognormal(0, 1, 200)[src] * rng.lognormal(0, 1, 200)[dst] * rng.lognormal(0, 0.5, rm.n_pairs) * 1e6
    ing, egr = _totals(rm, x)
    y = rm.load_bps(x)
    y[::50] = np.nan  # 24 links not measured
    t0 = time.perf_counter()
    _, res = matrix_from_counters(rm, y, start=0, end=300, ingress_bps=ing, egress_bps=egr)
    elapsed = time.perf_counter() - t0
    assert elapsed < 120  # generous: a loaded shared box; bench numbers are in BENCHMARKS.md
    assert res.rows_used == 1200 - 24 + 400 and np.all(res.rate_bps >= 0)
    ok = np.isfinite(y)
    np.testing.assert_allclose(rm.load_bps(res.rate_bps)[ok], y[ok], rtol=0.05, atol=1e-3 * np.nanmax(y))
    prior_err = np.abs(gravity_prior(ing, egr, method="fitted")[src, dst] - x).sum()
    assert np.abs(res.rate_bps - x).sum() < prior_err  # the counters improve on the prior


def _bench_module() -> ModuleType:
    """The benchmark script ``bench/tm_abilene.py``, loaded for its Abilene routing (one definition of it)."""
    spec = importlib.util.spec_from_file_location("tm_abilene_bench", REPO / "bench" / "tm_abilene.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.shared
@pytest.mark.parametrize(("name", "row"), [("abilene_5min_bps.txt", 0), ("abilene_hourly.txt", 0)])
def test_tomogravity_beats_gravity_on_a_real_abilene_matrix(name: str, row: int) -> None:
    dot = shared_data_path("traffic", "abilene", "abilene.dot")
    mats = np.loadtxt(shared_data_path("traffic", "abilene", name))
    rm, _ = _bench_module().abilene_routing(dot)
    src, dst = rm.pairs()
    x = mats[row].reshape(12, 12)[src, dst]
    ing, egr = _totals(rm, x)
    order = np.argsort(x)[::-1]
    big = order[: int(np.searchsorted(np.cumsum(x[order]), 0.75 * x.sum())) + 1]  # entries carrying 75 %

    def mre(est: np.ndarray) -> float:
        return float(np.mean(np.abs(est[big] - x[big]) / x[big]))

    gravity = gravity_prior(ing, egr)[src, dst]
    _, res = matrix_from_counters(rm, rm.load_bps(x), start=0, end=300, ingress_bps=ing, egress_bps=egr,
                                  prior="simple")  # fmt: skip
    assert mre(res.rate_bps) < mre(gravity)
    assert mre(res.rate_bps) < 0.2  # the paper's 10-20 % band or better
