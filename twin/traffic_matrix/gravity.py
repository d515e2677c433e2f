"""Gravity prior: a traffic matrix from the nodes' ingress and egress totals alone.

*Simple gravity* (Zhang et al., SIGMETRICS 2003, eq. 1): the traffic from
``i`` to ``j`` is proportional to what enters at ``i`` and what leaves at ``j``,
``x_ij = in_i · out_j / Σ_k out_k``, with the diagonal dropped (it is zero by
definition in a :class:`~twin.traffic_matrix.TrafficMatrix`).

*Fitted gravity* (``method="fitted"``): the same form restricted to the
``allowed`` entries (off-diagonal, and e.g. no peer-to-peer traffic, which is
the paper's *generalized* gravity) and scaled by iterative proportional fitting
so that its row and column sums equal the ingress and egress totals. Dropping
the diagonal from the simple formula leaves rows short of their totals; the
fitted form does not.

Examples
--------
>>> import numpy as np
>>> g = gravity_prior(np.array([2.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0]))
>>> g.round(3).tolist()
[[0.0, 0.5, 1.0], [0.25, 0.0, 0.5], [0.25, 0.25, 0.0]]
>>> f = gravity_prior(np.array([2.0, 1.0, 1.0]), np.array([1.0, 1.0, 2.0]), method="fitted")
>>> f.sum(axis=1).round(6).tolist(), f.sum(axis=0).round(6).tolist()
([2.0, 1.0, 1.0], [1.0, 1.0, 2.0])
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from twinwatch.twin.traffic_matrix.matrix import TrafficMatrixError

__all__ = ["gravity_prior"]


def gravity_prior(
    ingress_bps: np.ndarray,
    egress_bps: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
    method: Literal["simple", "fitted"] = "simple",
    max_iter: int = 500,
    rtol: float = 1e-10,
) -> np.ndarray:
    """Gravity-model ``(N, N)`` matrix, bit/s, zero diagonal.

    Parameters
    ----------
    ingress_bps, egress_bps
        ``(N,)`` traffic entering the network at each node and leaving it, bit/s (``>= 0``, finite).
    allowed
        ``(N, N)`` bool, entries that may carry traffic (default: every off-diagonal entry);
        the diagonal is always excluded.
    method
        ``"simple"`` (the formula, entries outside ``allowed`` set to 0) or ``"fitted"``
        (iterative proportional fitting to the totals over ``allowed``; egress is rescaled to the
        ingress sum first when the two sums differ).
    max_iter, rtol
        IPF iteration cap and relative tolerance on the row/column sums (``"fitted"`` only).
    """
    ing = np.asarray(ingress_bps, dtype=np.float64)
    egr = np.asarray(egress_bps, dtype=np.float64)
    n = ing.shape[0]
    if ing.shape != (n,) or egr.shape != (n,):
        raise TrafficMatrixError(f"gravity: ingress {ing.shape} and egress {egr.shape} must both be (N,)")
    for name, arr in (("ingress_bps", ing), ("egress_bps", egr)):
        bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
        if bad.size:
            raise TrafficMatrixError(f"gravity: {name}[{bad[0]}] = {float(arr[bad[0]])!r}; must be finite and >= 0")
    mask = np.ones((n, n), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool).copy()
    if mask.shape != (n, n):
        raise TrafficMatrixError(f"gravity: allowed has shape {mask.shape}, expected ({n}, {n})")
    np.fill_diagonal(mask, False)
    total_out = egr.sum()
    if total_out <= 0 or ing.sum() <= 0:
        return np.zeros((n, n))
    g = np.outer(ing, egr) / total_out * mask
    if method == "simple":
        return g
    if method != "fitted":
        raise TrafficMatrixError(f"gravity: method {method!r} is not 'simple' or 'fitted'")
    out = egr * (ing.sum() / total_out)
    for _ in range(max_iter):
        rs = g.sum(axis=1)
        g *= np.divide(ing, rs, out=np.zeros(n), where=rs > 0)[:, None]
        cs = g.sum(axis=0)
        g *= np.divide(out, cs, out=np.zeros(n), where=cs > 0)[None, :]
        err = np.abs(g.sum(axis=1) - ing).max()
        if err <= rtol * ing.sum():
            break
    return g
