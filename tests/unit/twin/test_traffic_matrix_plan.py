"""Tomogravity's per-routing plan cache: same numbers as the textbook dense formulas, reused across windows."""

from __future__ import annotations

import networkx as nx
import numpy as np

from twinwatch.twin.routing import compute_routing
from twinwatch.twin.traffic_matrix import RoutingMatrix, matrix_from_counters, tomogravity
from twinwatch.twin.traffic_matrix.tomogravity import PLAN_CACHE_SIZE, _Plan


def _routing(n: int = 10, seed: int = 3) -> RoutingMatrix:
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed)
    und = np.array(list(g.edges()))
    edges = np.concatenate([und, und[:, ::-1]])
    return RoutingMatrix.from_routing(compute_routing(n, edges[:, 0], edges[:, 1], np.ones(len(edges))))


def _dense_reference(a: np.ndarray, y: np.ndarray, xg: np.ndarray, lam: float, rel: float) -> tuple[np.ndarray, ...]:
    """The module docstring's formulas written out densely: z = 1 + Bᵀ(BBᵀ + λ²I)⁻¹ W(y − A x_g) and
    var z = diag((BᵀB + λ²I)⁻¹), the posterior of the ridge problem (before the χ² widening)."""
    floor = 1e-6 * np.abs(y).max()
    w = 1.0 / (rel * np.abs(y) + floor)
    b = w[:, None] * a * xg[None, :]
    z = 1.0 + b.T @ np.linalg.solve(b @ b.T + lam**2 * np.eye(len(y)), w * (y - a @ xg))
    var = np.diag(np.linalg.inv(b.T @ b + lam**2 * np.eye(a.shape[1])))
    return z, var, w


def test_closed_form_and_posterior_match_the_dense_formulas() -> None:
    rm = _routing()
    rng = np.random.default_rng(0)
    a = rm.matrix.toarray()
    xg = rng.uniform(1e6, 5e6, rm.n_pairs)
    # loads close to the prior's: the unconstrained minimiser stays positive, so no bound is active
    y = a @ (xg * rng.uniform(0.9, 1.1, rm.n_pairs))
    res = tomogravity(rm.matrix, y, xg, cache={})
    z, var, w = _dense_reference(a, y, xg, 3.0, 0.01)
    assert res.solver == "closed-form"
    np.testing.assert_allclose(res.rate_bps, xg * z, rtol=1e-9)
    chi2 = np.sum((w * (y - a @ res.rate_bps)) ** 2) / len(y)
    np.testing.assert_allclose(res.std_bps, xg * np.sqrt(var) * max(1.0, np.sqrt(chi2)), rtol=1e-7)


def test_plans_are_kept_per_pattern_and_reused_with_identical_results() -> None:
    rm = _routing()
    rng = np.random.default_rng(1)
    y = rm.load_bps(rng.uniform(1e6, 9e6, rm.n_pairs))
    first = matrix_from_counters(rm, y, start=0.0, end=10.0)[1]
    plans = rm.memo["tomogravity_plans"]
    assert len(plans) == 1
    again = matrix_from_counters(rm, y, start=10.0, end=20.0)[1]
    assert len(plans) == 1  # same counters present, same priors non-zero: the plan is reused
    np.testing.assert_array_equal(first.rate_bps, again.rate_bps)
    np.testing.assert_array_equal(first.std_bps, again.std_bps)
    # without any cache the numbers are the same too
    a = rm.stacked()
    meas = np.concatenate([y, np.full(2 * rm.n_nodes, np.nan)])
    fresh = tomogravity(a, meas, first.prior_bps)
    np.testing.assert_allclose(fresh.rate_bps, first.rate_bps, rtol=1e-12)
    # a missing counter is another pattern; the cache stays bounded
    for k in range(PLAN_CACHE_SIZE + 2):
        y_missing = y.copy()
        y_missing[k] = np.nan
        res = matrix_from_counters(rm, y_missing, start=0.0, end=10.0)[1]
        assert res.rows_used == rm.n_links - 1
    assert len(plans) == PLAN_CACHE_SIZE


def test_active_set_solution_satisfies_the_kkt_conditions() -> None:
    # loads far from the prior force negative unconstrained entries: the active set must end at the optimum
    # of min ||W(y - A x)||² + λ²||(x - x_g)/x_g||² over x >= 0, i.e. the KKT conditions hold
    rm = _routing(12, seed=5)
    rng = np.random.default_rng(2)
    x_true = rng.uniform(0, 1e7, rm.n_pairs) * (rng.random(rm.n_pairs) < 0.3)
    y = rm.load_bps(x_true)
    xg = np.full(rm.n_pairs, float(x_true.mean()))
    res = tomogravity(rm.matrix, y, xg, cache={})
    assert res.solver == "active-set"
    a = rm.matrix.toarray()
    floor = 1e-6 * np.abs(y).max()
    w = 1.0 / (0.01 * np.abs(y) + floor)
    z = res.rate_bps / xg
    b = w[:, None] * a * xg[None, :]
    grad = -b.T @ (w * y - b @ z) + 9.0 * (z - 1.0)  # gradient of the objective in z (λ = 3)
    scale = np.abs(grad).max()
    assert np.all(z >= 0)
    assert np.all(np.abs(grad[z > 1e-9]) <= 1e-6 * scale)  # free variables: zero gradient
    assert np.all(grad[z <= 1e-9] >= -1e-6 * scale)  # bound variables: gradient points outwards


def test_routing_matrix_memoises_only_routing_derived_arrays() -> None:
    rm = _routing()
    assert rm.stacked() is rm.stacked()
    assert rm.edge_matrix() is rm.edge_matrix()
    src, dst = rm.pairs()
    assert not src.flags.writeable and not dst.flags.writeable
    s = rm.stacked().toarray()
    np.testing.assert_array_equal(s[: rm.n_links], rm.matrix.toarray())
    # ingress row of node i sums the pairs leaving i, egress row the pairs entering it
    np.testing.assert_array_equal(s[rm.n_links + 2], (src == 2).astype(float))
    np.testing.assert_array_equal(s[rm.n_links + rm.n_nodes + 2], (dst == 2).astype(float))


def test_plan_products_equal_dense_products() -> None:
    rm = _routing(9, seed=7)
    rng = np.random.default_rng(4)
    used = rng.random(rm.n_links) < 0.8
    free = rng.random(rm.n_pairs) < 0.9
    plan = _Plan.build(rm.matrix, used, free)
    blk = rm.matrix.toarray()[used][:, free]
    w, xg = rng.uniform(0.5, 2.0, used.sum()), rng.uniform(1.0, 3.0, free.sum())
    b = w[:, None] * blk * xg[None, :]
    bdata = plan.data * w[plan.nz_row] * xg[plan.nz_col]
    prod = plan.products(bdata)
    q = rng.random((used.sum(), used.sum()))
    u, z = rng.random(used.sum()), rng.random(free.sum())
    np.testing.assert_allclose(plan.gram(prod), b @ b.T, rtol=1e-12)
    np.testing.assert_allclose(plan.diag_quadratic(prod, q), np.diag(b.T @ q @ b), rtol=1e-12)
    np.testing.assert_allclose(plan.bt_dot(bdata, u), b.T @ u, rtol=1e-12)
    np.testing.assert_allclose(plan.b_dot(bdata, z), b @ z, rtol=1e-12)
    np.testing.assert_allclose(plan.matrix(bdata).toarray(), b, rtol=1e-12)
