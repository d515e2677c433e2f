"""Traffic matrix from link counters: tomogravity (Zhang, Roughan, Duffield, Greenberg, SIGMETRICS 2003).

Link loads ``y = A x`` constrain the pair rates ``x`` but do not determine them
(``E`` links ≪ ``N (N - 1)`` pairs). Tomogravity starts from a gravity prior
``x_g`` and moves it as little as possible, in relative terms, to fit the loads:

    minimise  ||W (y - A x)||² + λ² ||(x - x_g) / x_g||²   subject to  x >= 0

with ``W = diag(1 / σ)`` the inverse measurement noise of each counter. The
rows of ``A`` are the measured links plus, where known, each node's ingress and
egress totals (edge-link counters). Counters that are NaN are dropped.

Solution. With ``z = x / x_g`` and ``B = W A diag(x_g)`` the problem is a ridge
regression towards ``z = 1``. Its unconstrained minimiser is, by the Woodbury
identity, ``z = 1 + Bᵀ (B Bᵀ + λ² I)⁻¹ W (y - A x_g)``: one dense ``(M, M)``
Cholesky solve over the ``M`` used counters, whatever the number of pairs. When
that has negative entries, a batch active-set method repeats the solve over the
free pairs until the KKT conditions hold (a few rounds in practice);
``solver="lsq_linear"`` uses ``scipy.optimize.lsq_linear`` instead (exact
reference for small problems, minutes at 40,000 pairs). Pairs with a zero
prior stay zero (their relative penalty is infinite).

Uncertainty. Read as a Bayesian linear model (prior ``x ~ N(x_g, (x_g/λ)²)``,
counters ``y ~ N(A x, σ²)``), the posterior covariance of ``z`` is
``(BᵀB + λ² I)⁻¹ = λ⁻² (I - Bᵀ (B Bᵀ + λ² I)⁻¹ B)``; its diagonal needs only
the products of each column's non-zeros, so it costs ``Σ_p nnz(A[:, p])²``.
The reported std is ``x_g sqrt(diag)`` times ``max(1, sqrt(χ² / M))`` (the
counters' reduced χ², so that residuals larger than the assumed noise widen the
bounds). The bound ``x >= 0`` is ignored in the covariance. A pair that no used
counter sees keeps std ``x_g / λ``; one alone on a measured link gets about
that link's noise.

Defaults. ``σ = rel_noise · y + floor`` (1 % counters, floor 1e-6 of the largest
load); ``λ = 3``, a prior relative std of 1/3, about the gravity model's error
on real matrices; the fitted gravity prior. In the sweep of
``bench/tm_abilene.py`` (λ = 0.01 … 10 on the real Abilene matrices, noise 0,
1 and 5 %) λ = 3 was the smallest value at which tomogravity beat simple gravity
in every condition; those matrices are close to a gravity model, which favours
a large λ, so revisit it on the operator's own data.

Examples
--------
>>> import numpy as np
>>> from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix
>>> # 3 nodes in a line 0 - 1 - 2; links 0:0->1 1:1->2 2:1->0 3:2->1, shortest paths
>>> rm = RoutingMatrix.from_paths(n_nodes=3, n_links=4,
...     path_src=[0, 0, 1, 1, 2, 2], path_dst=[1, 2, 0, 2, 0, 1],
...     path_ptr=[0, 1, 3, 4, 5, 7, 8], path_links=[0, 0, 1, 2, 1, 3, 2, 3])
>>> x = np.array([1e6, 2e6, 3e6, 4e6, 5e6, 6e6])  # pairs (0,1) (0,2) (1,0) (1,2) (2,0) (2,1)
>>> tm, res = matrix_from_counters(rm, rm.load_bps(x), start=0.0, end=300.0,
...     ingress_bps=np.array([3e6, 7e6, 11e6]), egress_bps=np.array([8e6, 7e6, 6e6]))
>>> bool(np.allclose(rm.load_bps(res.rate_bps), rm.load_bps(x), rtol=1e-3))
True
>>> res.rows_used, res.solver
(10, 'closed-form')
"""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.optimize import lsq_linear

from twinwatch.twin.traffic_matrix.gravity import gravity_prior
from twinwatch.twin.traffic_matrix.matrix import N_CLASSES, Source, TrafficMatrix, TrafficMatrixError
from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix

__all__ = ["TomogravityResult", "matrix_from_counters", "tomogravity"]

DEFAULT_LAMBDA = 3.0
DEFAULT_REL_NOISE = 0.01


@dataclass(frozen=True, slots=True)
class TomogravityResult:
    """Pair-space outcome of :func:`tomogravity` (``P`` pairs, ``M`` counters given)."""

    rate_bps: np.ndarray
    """``(P,)`` estimate, bit/s, ``>= 0``."""
    std_bps: np.ndarray
    """``(P,)`` posterior standard deviation, bit/s."""
    prior_bps: np.ndarray
    """``(P,)`` the gravity prior, bit/s."""
    constrained: np.ndarray
    """``(P,)`` bool: at least one used counter sees the pair (and its prior is non-zero)."""
    residual_bps: np.ndarray
    """``(M,)`` ``y - A x̂`` per counter, bit/s; NaN where the counter was missing."""
    rows_used: int
    """Counters used (finite)."""
    rows_dropped: int
    """Counters dropped as missing (NaN)."""
    chi2_per_row: float
    """``||W (y - A x̂)||² / rows_used``: about 1 or less when the noise model holds."""
    solver: str
    """``"closed-form"`` (no bound active), ``"active-set"`` or ``"lsq_linear"``."""
    seconds: float
    """Wall time of the solve and the uncertainty, seconds."""


def _default_sigma(y: np.ndarray, rel_noise: float) -> np.ndarray:
    """``(M,)`` counter noise std: ``rel_noise · |y|`` plus a floor of 1e-6 of the largest load (NaN → floor)."""
    mag = np.abs(np.nan_to_num(y, nan=0.0))
    floor = 1e-6 * max(float(mag.max(initial=0.0)), 1e-300)
    return rel_noise * mag + floor


PLAN_CACHE_SIZE = 4
"""Patterns (used counters × non-zero priors) whose :class:`_Plan` one cache keeps (oldest dropped first)."""


@dataclass(frozen=True, eq=False)
class _Plan:
    """What a solve needs from ``A`` alone, for one pattern of used rows and free (non-zero prior) columns.

    ``B = W A[rows][:, cols] diag(x_g[cols])`` has the sparsity of the block ``A[rows][:, cols]``; its values
    are the block's ``data`` times a per-row and a per-column factor, so a window only rescales ``data``
    (``(nnz,)``, CSR order). The products ``B Bᵀ`` (the ``(M, M)`` Gram matrix) and ``diag(Bᵀ Q B)`` both
    sum products of two non-zeros of one column: the pairs (``left``, ``right``, all ordered pairs of a
    column, each with itself too), their column and their flat ``(M, M)`` position are fixed here, so
    neither needs a sparse matrix product per window. Memory: 16 bytes per pair,
    ``Σ_p nnz(A[:, p])²`` pairs.
    """

    m: int
    p_free: int
    a_used: sp.csr_array
    """``(M, P)`` the used rows of ``A`` (all columns), for ``A x`` products."""
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    nz_row: np.ndarray
    """``(nnz,)`` row of each non-zero of the block (0..M-1)."""
    nz_col: np.ndarray
    """``(nnz,)`` column of each non-zero of the block (0..P_free-1)."""
    left: np.ndarray
    right: np.ndarray
    pair_col: np.ndarray
    pair_flat: np.ndarray
    """``(pairs,)`` ``row(left) * M + row(right)``."""
    seen: np.ndarray
    """``(P,)`` bool: some used row has a non-zero in the column."""

    @classmethod
    def build(cls, mat: sp.csr_array, used: np.ndarray, free: np.ndarray) -> _Plan:
        rows, cols = np.flatnonzero(used), np.flatnonzero(free)
        a_used = sp.csr_array(mat[rows])
        blk = sp.csr_array(a_used[:, cols]) if cols.size < mat.shape[1] else a_used.copy()
        blk.sum_duplicates()
        blk.sort_indices()
        m, pf = rows.size, cols.size
        nz_row = np.repeat(np.arange(m, dtype=np.int64), np.diff(blk.indptr))
        nz_col = blk.indices.astype(np.int64)
        order = np.argsort(nz_col, kind="stable")  # non-zeros grouped by column
        counts = np.bincount(nz_col, minlength=pf)
        col_sorted = nz_col[order]
        reps = counts[col_sorted]  # each non-zero meets every non-zero of its column
        left_s = np.repeat(np.arange(order.size), reps)
        offset = np.arange(left_s.size) - np.repeat(np.cumsum(reps) - reps, reps)
        right_s = (np.cumsum(counts) - counts)[col_sorted[left_s]] + offset
        left, right = order[left_s], order[right_s]
        idx = np.int32 if max(order.size, m * m, pf) < 2**31 else np.int64
        seen = np.zeros(mat.shape[1], dtype=bool)
        seen[np.unique(a_used.indices[a_used.data != 0])] = True
        return cls(m=m, p_free=pf, a_used=a_used, data=blk.data.copy(), indices=blk.indices, indptr=blk.indptr,
                   nz_row=nz_row, nz_col=nz_col, left=left.astype(idx), right=right.astype(idx),
                   pair_col=nz_col[left].astype(idx), pair_flat=(nz_row[left] * m + nz_row[right]).astype(idx),
                   seen=seen)

    def products(self, bdata: np.ndarray) -> np.ndarray:
        """``(pairs,)`` products of the two non-zeros of each same-column pair of ``B``."""
        return bdata[self.left] * bdata[self.right]

    def gram(self, prod: np.ndarray) -> np.ndarray:
        """``(M, M)`` dense ``B Bᵀ`` from :meth:`products`."""
        return np.bincount(self.pair_flat, weights=prod, minlength=self.m * self.m).reshape(self.m, self.m)

    def diag_quadratic(self, prod: np.ndarray, q: np.ndarray) -> np.ndarray:
        """``(P_free,)`` ``diag(Bᵀ Q B)`` for a dense ``(M, M)`` ``Q``, from :meth:`products`."""
        return np.bincount(self.pair_col, weights=prod * q.ravel()[self.pair_flat], minlength=self.p_free)

    def bt_dot(self, bdata: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``(P_free,)`` ``Bᵀ u`` for ``(M,)`` ``u``."""
        return np.bincount(self.nz_col, weights=bdata * u[self.nz_row], minlength=self.p_free)

    def b_dot(self, bdata: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``(M,)`` ``B z`` for ``(P_free,)`` ``z``."""
        return np.bincount(self.nz_row, weights=bdata * z[self.nz_col], minlength=self.m)

    def matrix(self, bdata: np.ndarray) -> sp.csr_array:
        """``B`` as a CSR array (the active-set and ``lsq_linear`` paths)."""
        return sp.csr_array((bdata, self.indices, self.indptr), shape=(self.m, self.p_free))


def _plan_for(mat: sp.csr_array, used: np.ndarray, free: np.ndarray,
              cache: MutableMapping[Any, Any] | None) -> _Plan:
    """The :class:`_Plan` of ``mat`` for this pattern, from ``cache`` when it holds it (LRU)."""
    if cache is None:
        return _Plan.build(mat, used, free)
    plans = cache.setdefault("tomogravity_plans", OrderedDict())
    key = (mat.shape, np.packbits(used).tobytes(), np.packbits(free).tobytes())
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _Plan.build(mat, used, free)
        while len(plans) > PLAN_CACHE_SIZE:
            plans.popitem(last=False)
    else:
        plans.move_to_end(key)
    return plan


def _inverse_from_cholesky(c: np.ndarray) -> np.ndarray:
    """``K⁻¹`` from the lower Cholesky factor of ``K`` (LAPACK ``potri``), symmetric ``(M, M)``."""
    inv, info = sla.lapack.dpotri(c, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potri failed (info={info})")
    return np.tril(inv) + np.tril(inv, -1).T


def _active_set(plan: _Plan, bdata: np.ndarray, prod: np.ndarray, wy: np.ndarray, lam: float, z0: np.ndarray, *,
                max_iter: int) -> np.ndarray:
    """Minimise ``||wy - B z||² + λ² ||z - 1||²`` over ``z >= 0`` by a batch active-set method.

    Each round solves the problem unconstrained over the free variables with one ``(M, M)`` Cholesky
    (Woodbury form), fixes every negative one at 0, and, once none is negative, frees the fixed ones
    whose gradient points into the feasible set (KKT). It stops at a KKT point (the optimum: the
    problem is strictly convex) or after ``max_iter`` rounds, returning the best feasible iterate.
    ``z0`` is the unconstrained solution (all variables free). ``B`` is given by its non-zeros
    ``bdata`` in ``plan``'s pattern and ``prod`` (:meth:`_Plan.products`): the free columns' Gram
    matrix and products are masked sums, no sparse matrix is built.
    """
    m = plan.m
    free = z0 >= 0
    best, best_obj = None, np.inf
    tol = 1e-9 * max(1.0, float(np.abs(plan.bt_dot(bdata, wy)).max(initial=0.0)), lam**2)
    reg = lam**2 * np.eye(m)
    for _ in range(max_iter):
        fp = free[plan.pair_col]
        kf = np.bincount(plan.pair_flat[fp], weights=prod[fp], minlength=m * m).reshape(m, m) + reg
        fz = free[plan.nz_col]
        b1 = np.bincount(plan.nz_row[fz], weights=bdata[fz], minlength=m)  # B_free @ 1
        zf = 1.0 + plan.bt_dot(bdata, sla.cho_solve(sla.cho_factor(kf, lower=True), wy - b1))[free]
        if zf.min(initial=0.0) < 0:
            idx = np.flatnonzero(free)
            free[idx[zf < 0]] = False
            continue
        z = np.zeros(z0.size)
        z[free] = zf
        resid = wy - plan.b_dot(bdata, z)
        obj = float(np.sum(np.square(resid)) + lam**2 * np.sum(np.square(z - 1.0)))
        if obj < best_obj:
            best, best_obj = z, obj
        grad = -plan.bt_dot(bdata, resid) - lam**2  # gradient at z_j = 0 for the fixed variables
        release = ~free & (grad < -tol)
        if not release.any():
            return z
        free |= release
    warnings.warn(f"tomogravity: active set did not converge in {max_iter} rounds; best feasible iterate kept",
                  RuntimeWarning, stacklevel=3)  # fmt: skip
    return best if best is not None else np.maximum(z0, 0.0)


def tomogravity(
    a: sp.sparray | sp.spmatrix | np.ndarray,
    y_bps: np.ndarray,
    prior_bps: np.ndarray,
    *,
    lam: float = DEFAULT_LAMBDA,
    rel_noise: float = DEFAULT_REL_NOISE,
    noise_std_bps: np.ndarray | None = None,
    solver: Literal["active-set", "lsq_linear"] = "active-set",
    max_iter: int = 100,
    cache: MutableMapping[Any, Any] | None = None,
) -> TomogravityResult:
    """Regularised non-negative least squares of ``y ≈ A x`` towards the prior (module docstring).

    Parameters
    ----------
    a
        ``(M, P)`` measurement matrix: routing rows (ECMP shares allowed) and optional edge rows.
    y_bps
        ``(M,)`` measured loads, bit/s; NaN = not measured (row dropped).
    prior_bps
        ``(P,)`` prior rates, bit/s, ``>= 0``.
    lam
        Regularisation weight ``λ > 0`` (1 / prior relative std).
    rel_noise
        Counter noise relative to the load when ``noise_std_bps`` is not given.
    noise_std_bps
        ``(M,)`` counter noise std, bit/s (``> 0`` where ``y`` is finite).
    solver
        Used only when the closed form has negative entries: ``"active-set"`` (batch active set on
        the Woodbury form, see :func:`_active_set`) or ``"lsq_linear"`` (scipy's bounded solver;
        exact but slow beyond a few thousand pairs).
    max_iter
        Iteration cap of either solver.
    cache
        A mapping owned by the caller and tied to this ``a`` (e.g. :attr:`RoutingMatrix.memo`): the
        parts of the solve that depend only on ``A`` and on which counters are present and which
        priors are non-zero (:class:`_Plan`) are kept there and reused by later windows with the
        same routing (at most :data:`PLAN_CACHE_SIZE` patterns). ``None``: nothing is kept.
    """
    if solver not in ("active-set", "lsq_linear"):
        raise TrafficMatrixError(f"tomogravity: solver {solver!r} is not 'active-set' or 'lsq_linear'")
    t_start = time.perf_counter()
    mat = a if isinstance(a, sp.csr_array) and a.dtype == np.float64 else sp.csr_array(a, dtype=np.float64)
    m, p = mat.shape
    y = np.asarray(y_bps, dtype=np.float64)
    xg = np.asarray(prior_bps, dtype=np.float64)
    if y.shape != (m,) or xg.shape != (p,):
        raise TrafficMatrixError(f"tomogravity: A is {mat.shape}, y {y.shape} (expected ({m},)), "
                                 f"prior {xg.shape} (expected ({p},))")  # fmt: skip
    bad = np.flatnonzero(~np.isfinite(xg) | (xg < 0))
    if bad.size:
        raise TrafficMatrixError(f"tomogravity: prior_bps[{bad[0]}] = {float(xg[bad[0]])!r}; must be finite and >= 0")
    if not lam > 0:
        raise TrafficMatrixError(f"tomogravity: lam = {lam!r}; must be > 0")
    used = np.isfinite(y)
    if noise_std_bps is None:
        sigma = _default_sigma(y, rel_noise)
    else:
        sigma = np.asarray(noise_std_bps, dtype=np.float64)
        if sigma.shape != (m,):
            raise TrafficMatrixError(f"tomogravity: noise_std_bps {sigma.shape}, expected ({m},)")
        bad = np.flatnonzero(used & ~(sigma > 0))
        if bad.size:
            raise TrafficMatrixError(f"tomogravity: noise_std_bps[{bad[0]}] = {float(sigma[bad[0]])!r}; must be > 0")
    rows = np.flatnonzero(used)
    free = xg > 0
    cols = np.flatnonzero(free)
    plan = _plan_for(mat, used, free, cache)
    w = 1.0 / sigma[rows]
    xf = xg[cols]
    bdata = plan.data * w[plan.nz_row] * xf[plan.nz_col]  # B = W A[rows][:, cols] diag(x_g[cols]), CSR order
    r = w * (y[rows] - plan.a_used @ xg)
    wy = w * y[rows]
    prod = plan.products(bdata)
    if rows.size:
        cho = sla.cho_factor(plan.gram(prod) + lam**2 * np.eye(rows.size), lower=True)
        z = 1.0 + plan.bt_dot(bdata, sla.cho_solve(cho, r))
    else:
        z = np.ones(cols.size)
    used_solver = "closed-form"
    if z.size and z.min() < 0:
        used_solver = solver
        if solver == "active-set":
            z = _active_set(plan, bdata, prod, wy, lam, z, max_iter=max_iter)
        else:
            b = plan.matrix(bdata)
            stacked = sp.vstack([b, lam * sp.eye_array(cols.size)], format="csr")
            rhs = np.concatenate([wy, np.full(cols.size, lam)])
            small = cols.size <= 2000  # dense exact sub-solves below, LSMR above
            sol = lsq_linear(stacked.toarray() if small else stacked, rhs, bounds=(0.0, np.inf), method="trf",
                             lsq_solver="exact" if small else "lsmr", tol=1e-12, max_iter=max_iter)  # fmt: skip
            if sol.status == 0:
                warnings.warn(f"tomogravity: lsq_linear stopped at max_iter={max_iter} ({sol.message})",
                              RuntimeWarning, stacklevel=2)  # fmt: skip
            z = np.maximum(sol.x, 0.0)
    x = np.zeros(p)
    x[cols] = xf * z
    resid = np.full(m, np.nan)
    resid[rows] = y[rows] - plan.a_used @ x
    chi2 = float(np.sum(np.square(w * resid[rows])) / max(rows.size, 1))
    var_z = np.ones(cols.size) / lam**2
    if rows.size:
        var_z = np.clip(1.0 - plan.diag_quadratic(prod, _inverse_from_cholesky(cho[0])), 0.0, None) / lam**2
    std = np.zeros(p)
    std[cols] = xf * np.sqrt(var_z) * max(1.0, np.sqrt(chi2))
    return TomogravityResult(
        rate_bps=x,
        std_bps=std,
        prior_bps=xg,
        constrained=plan.seen & free,
        residual_bps=resid,
        rows_used=int(rows.size),
        rows_dropped=int(m - rows.size),
        chi2_per_row=chi2,
        solver=used_solver,
        seconds=time.perf_counter() - t_start,
    )


def _fill_totals(ingress: np.ndarray | None, egress: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` ingress/egress, NaN where unknown (validated: finite values must be ``>= 0``)."""
    out = []
    for name, arr in (("ingress_bps", ingress), ("egress_bps", egress)):
        v = np.full(n, np.nan) if arr is None else np.asarray(arr, dtype=np.float64)
        if v.shape != (n,):
            raise TrafficMatrixError(f"{name}: shape {v.shape}, expected ({n},)")
        bad = np.flatnonzero(v < 0)
        if bad.size:
            raise TrafficMatrixError(f"{name}[{bad[0]}] = {float(v[bad[0]])!r}; must be >= 0 (NaN = unknown)")
        out.append(v)
    return out[0], out[1]


def _prior(
    routing: RoutingMatrix,
    y: np.ndarray,
    ing: np.ndarray,
    egr: np.ndarray,
    known: np.ndarray,
    known_bps: np.ndarray,
    method: Literal["simple", "fitted"],
) -> np.ndarray:
    """Gravity prior over the unknown pairs from the residual node totals (see :func:`matrix_from_counters`)."""
    n = routing.n_nodes
    src, dst = routing.pairs()
    allowed = np.zeros((n, n), dtype=bool)
    allowed[src[~known], dst[~known]] = True
    if np.isnan(ing).all() and np.isnan(egr).all():
        # no edge counters: a uniform prior scaled to the link loads by least squares
        ones = np.where(known, 0.0, 1.0)
        fit_y = y - routing.load_bps(known_bps)
        a1 = routing.load_bps(ones)
        ok = np.isfinite(fit_y)
        c = float(np.dot(a1[ok], fit_y[ok]) / max(np.dot(a1[ok], a1[ok]), 1e-300))
        return max(c, 0.0) * ones
    ing_res = ing - np.bincount(src, weights=known_bps, minlength=n)
    egr_res = egr - np.bincount(dst, weights=known_bps, minlength=n)
    for v, other in ((ing_res, egr_res), (egr_res, ing_res)):
        fill = np.nanmean(v) if np.isfinite(v).any() else np.nanmean(other)
        v[np.isnan(v)] = fill
    g = gravity_prior(np.clip(ing_res, 0, None), np.clip(egr_res, 0, None), allowed=allowed, method=method)
    return g[src, dst]


def _columns_of(routing: RoutingMatrix, a: sp.csr_array,
                known: np.ndarray) -> tuple[sp.csr_array, MutableMapping[Any, Any]]:
    """``a`` without the known pairs' columns, and the plan cache that goes with it (both kept per routing)."""
    if not known.any():
        return a, routing.memo
    subs = routing.memo.setdefault("unknown_columns", OrderedDict())
    key = np.packbits(known).tobytes()
    hit = subs.get(key)
    if hit is None:
        hit = subs[key] = (sp.csr_array(a[:, np.flatnonzero(~known)]), {})
        while len(subs) > PLAN_CACHE_SIZE:
            subs.popitem(last=False)
    else:
        subs.move_to_end(key)
    return hit


def matrix_from_counters(
    routing: RoutingMatrix,
    link_bps: np.ndarray,
    *,
    start: float,
    end: float,
    ingress_bps: np.ndarray | None = None,
    egress_bps: np.ndarray | None = None,
    prior: Literal["simple", "fitted"] | np.ndarray = "fitted",
    lam: float = DEFAULT_LAMBDA,
    rel_noise: float = DEFAULT_REL_NOISE,
    noise_std_bps: np.ndarray | None = None,
    tos_shares: np.ndarray | tuple[float, ...] = (1.0, 0.0, 0.0),
    known_bps: np.ndarray | None = None,
) -> tuple[TrafficMatrix, TomogravityResult]:
    """Estimate the window's traffic matrix from link loads (and node totals where known).

    Parameters
    ----------
    routing
        The ``(E, P)`` routing matrix of the window.
    link_bps
        ``(E,)`` measured link loads, bit/s; NaN = not measured.
    start, end
        The window, epoch seconds.
    ingress_bps, egress_bps
        ``(N,)`` traffic entering / leaving the network at each node (edge-link counters), bit/s;
        NaN or ``None`` = unknown. Known ones are also fitted as counters. Unknown ones are filled with
        the mean of the known ones for the prior; with none known the prior is uniform, scaled to the
        link loads by least squares.
    prior
        ``"simple"`` / ``"fitted"`` gravity (:func:`~twin.traffic_matrix.gravity_prior`), or a
        ``(P,)`` prior in bit/s.
    lam, rel_noise, noise_std_bps
        See :func:`tomogravity`; ``noise_std_bps`` is ``(E,)`` for the links (edge rows use ``rel_noise``).
    tos_shares
        ``(C,)`` split of every estimated rate (and its std) over the ToS classes; counters rarely see classes.
    known_bps
        ``(P,)`` pairs already known (e.g. from flow records), NaN elsewhere: their contribution is
        subtracted from the counters and only the other pairs are estimated. The result gives the known
        pairs their rate with std 0 and :attr:`Source.FLOWS`; :func:`~twin.traffic_matrix.matrix_mixed`
        restores their per-class values.
    """
    n = routing.n_nodes
    y = np.asarray(link_bps, dtype=np.float64)
    if y.shape != (routing.n_links,):
        raise TrafficMatrixError(f"link_bps: shape {y.shape}, expected ({routing.n_links},) (one per routed link)")
    shares = np.asarray(tos_shares, dtype=np.float64)
    if shares.shape != (N_CLASSES,) or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise TrafficMatrixError(f"tos_shares: {shares.tolist()} must be {N_CLASSES} non-negative values summing to 1")
    ing, egr = _fill_totals(ingress_bps, egress_bps, n)
    known = np.zeros(routing.n_pairs, dtype=bool) if known_bps is None else np.isfinite(known_bps)
    kb = np.zeros(routing.n_pairs) if known_bps is None else np.where(known, known_bps, 0.0)
    if kb.shape != (routing.n_pairs,) or np.any(kb < 0):
        raise TrafficMatrixError(f"known_bps: must be ({routing.n_pairs},), >= 0 where known")
    if isinstance(prior, str):
        xg = _prior(routing, y, ing.copy(), egr.copy(), known, kb, prior)
    else:
        xg = np.asarray(prior, dtype=np.float64)
        if xg.shape != (routing.n_pairs,):
            raise TrafficMatrixError(f"prior: shape {xg.shape}, expected ({routing.n_pairs},)")
        xg = np.where(known, 0.0, xg)
    src, dst = routing.pairs()
    a = routing.stacked()
    meas = np.concatenate([y, ing, egr]) - a @ kb
    sigma = None
    if noise_std_bps is not None:
        link_sigma = np.asarray(noise_std_bps, dtype=np.float64)
        if link_sigma.shape != (routing.n_links,):
            raise TrafficMatrixError(f"noise_std_bps: shape {link_sigma.shape}, expected ({routing.n_links},)")
        sigma = _default_sigma(meas, rel_noise)
        sigma[: routing.n_links] = link_sigma
    unknown = np.flatnonzero(~known)
    a_unknown, cache = _columns_of(routing, a, known)
    res = tomogravity(a_unknown, meas, xg[unknown], lam=lam, rel_noise=rel_noise, noise_std_bps=sigma, cache=cache)
    pair_rate = kb.copy()
    pair_std = np.zeros(routing.n_pairs)
    pair_src = np.where(known, Source.FLOWS, Source.COUNTERS).astype(np.uint8)
    pair_rate[unknown] = res.rate_bps
    pair_std[unknown] = res.std_bps
    pair_src[unknown[~res.constrained]] = Source.PRIOR
    prior_full = kb.copy()
    prior_full[unknown] = xg[unknown]
    constrained = known.copy()
    constrained[unknown] = res.constrained
    full = replace(res, rate_bps=pair_rate, std_bps=pair_std, prior_bps=prior_full, constrained=constrained)
    rate = np.zeros((N_CLASSES, n, n))
    std = np.zeros((N_CLASSES, n, n))
    source = np.zeros((N_CLASSES, n, n), dtype=np.uint8)
    rate[:, src, dst] = shares[:, None] * pair_rate[None, :]
    std[:, src, dst] = shares[:, None] * pair_std[None, :]
    source[:, src, dst] = pair_src[None, :]
    return TrafficMatrix.build(rate, std_bps=std, source=source, start=start, end=end), full
